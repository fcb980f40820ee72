/* fault_plugin.c: a plugin for daemon tests (`bertd run --plugin libbertd_fault_plugin.so`):
 * the real enrichment stage, loaded by path from the build (libbertd_plugin.so), with two model
 * failures injected by the record's text, so that the daemon's MODEL_FAILED dead-letter path can
 * be driven through Kafka. The real plugin cannot be made to fail on a chosen record, and a
 * switch inside it would put test-only state in the shipped object; a wrapper behind the same
 * ABI keeps both out.
 *
 *   text starting with "bertd-fault:submit"     submit() refuses the record (returns -1)
 *   text starting with "bertd-fault:inference"  the record completes with BERTD_PLUGIN_INFERENCE
 *
 * Every other record goes to the real plugin unchanged. All state lives in the instance. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_plugin.h"

#define FAULT_SUBMIT "bertd-fault:submit"
#define FAULT_INFERENCE "bertd-fault:inference"

/* The real plugin's instance is only ever handed back to the real plugin's functions, never
 * dereferenced here, so it is kept under the ABI's opaque type like any host keeps it. */
struct bertd_plugin {
  void *so;                     /* the real libbertd_plugin.so (dlopen counts references) */
  const bertd_plugin_api *real;
  bertd_plugin *inner;
  void **failed;                /* refs of injected inference failures, oldest first */
  size_t nfailed, capfailed;
};

static int starts_with(const char *s, size_t len, const char *prefix) {
  size_t n = strlen(prefix);
  return len >= n && !memcmp(s, prefix, n);
}

static int fault_abi_check(int host_abi_version, char *errstr, size_t errstr_size) {
  if (host_abi_version == BERTD_PLUGIN_ABI_VERSION) return 0;
  snprintf(errstr, errstr_size, "fault plugin: host ABI %d, plugin ABI %d", host_abi_version,
           BERTD_PLUGIN_ABI_VERSION);
  return -1;
}

static void fault_destroy(bertd_plugin *p) {
  if (!p) return;
  if (p->inner) p->real->destroy(p->inner);
  if (p->so) dlclose(p->so);
  free(p->failed);
  free(p);
}

static int fault_create(const char *config_json, bertd_plugin **out, char *errstr,
                        size_t errstr_size) {
  *out = NULL;
  bertd_plugin *p = calloc(1, sizeof(*p));
  if (!p) {
    snprintf(errstr, errstr_size, "fault plugin: out of memory");
    return -1;
  }
  if (!(p->so = dlopen(BERTD_PLUGIN_SO, RTLD_NOW | RTLD_LOCAL))) {
    snprintf(errstr, errstr_size, "fault plugin: %s", dlerror());
    fault_destroy(p);
    return -1;
  }
  bertd_plugin_get_api_fn get =
      (bertd_plugin_get_api_fn)(uintptr_t)dlsym(p->so, "bertd_plugin_get_api");
  if (!get) {
    snprintf(errstr, errstr_size, "fault plugin: %s has no bertd_plugin_get_api", BERTD_PLUGIN_SO);
    fault_destroy(p);
    return -1;
  }
  p->real = get();
  if (p->real->abi_check(BERTD_PLUGIN_ABI_VERSION, errstr, errstr_size) ||
      p->real->create(config_json, &p->inner, errstr, errstr_size)) {
    p->inner = NULL;
    fault_destroy(p);
    return -1;
  }
  *out = p;
  return 0;
}

static int fault_submit(bertd_plugin *p, const char *text, size_t len, const char *text_pair,
                        size_t pair_len, void *ref, char *errstr, size_t errstr_size) {
  if (text && starts_with(text, len, FAULT_SUBMIT)) {
    snprintf(errstr, errstr_size, "fault plugin: submit refused (injected)");
    return -1;
  }
  if (text && starts_with(text, len, FAULT_INFERENCE)) {
    if (p->nfailed == p->capfailed) {
      size_t cap = p->capfailed ? p->capfailed * 2 : 16;
      void **grown = realloc(p->failed, cap * sizeof *grown);
      if (!grown) {
        snprintf(errstr, errstr_size, "fault plugin: out of memory");
        return -1;
      }
      p->failed = grown;
      p->capfailed = cap;
    }
    p->failed[p->nfailed++] = ref;
    return 0;
  }
  return p->real->submit(p->inner, text, len, text_pair, pair_len, ref, errstr, errstr_size);
}

/* Injected failures first (they are ready at once), then whatever the real plugin has. */
static int fault_poll(bertd_plugin *p, bertd_plugin_completion *out, int max, int timeout_ms) {
  int n = 0;
  while (n < max && (size_t)n < p->nfailed) {
    out[n] = (bertd_plugin_completion){.ref = p->failed[n],
                                       .reason = BERTD_PLUGIN_INFERENCE,
                                       .error = "fault plugin: forward pass failed (injected)"};
    n++;
  }
  if (n) { /* p->failed is NULL until the first injected failure */
    memmove(p->failed, p->failed + n, (p->nfailed - (size_t)n) * sizeof *p->failed);
    p->nfailed -= (size_t)n;
  }
  if (n == max) return n;
  int m = p->real->poll(p->inner, out + n, max - n, n ? 0 : timeout_ms);
  if (m < 0) return n ? n : m;
  return n + m;
}

/* As fault_poll; injected failures never reached the model: no time in it. */
static int fault_poll_timed(bertd_plugin *p, bertd_plugin_completion *out,
                            bertd_plugin_timing *timing, int max, int timeout_ms) {
  int injected = (int)(p->nfailed < (size_t)max ? p->nfailed : (size_t)max);
  int n = fault_poll(p, out, injected, 0);
  for (int i = 0; timing && i < n; i++) timing[i] = (bertd_plugin_timing){0, 0};
  if (n == max) return n;
  int m = p->real->poll_timed(p->inner, out + n, timing ? timing + n : NULL, max - n,
                              n ? 0 : timeout_ms);
  if (m < 0) return n ? n : m;
  return n + m;
}

static int fault_flush(bertd_plugin *p, int timeout_ms) {
  return p->real->flush(p->inner, timeout_ms);
}

static int fault_in_flight(const bertd_plugin *p) {
  return p->real->in_flight(p->inner) + (int)p->nfailed;
}

static const char *fault_reason_name(int reason) {
  switch (reason) {
  case BERTD_PLUGIN_OK: return "ok";
  case BERTD_PLUGIN_INVALID_INPUT: return "invalid_input";
  case BERTD_PLUGIN_TOO_LONG: return "too_long";
  case BERTD_PLUGIN_INFERENCE: return "inference";
  }
  return "unknown";
}

static int fault_model_info(const bertd_plugin *p, char *name, size_t name_size, char *checksum,
                            size_t checksum_size) {
  return p->real->model_info(p->inner, name, name_size, checksum, checksum_size);
}

/* The ABI 1.2 calls need no instance: each opens the real plugin, asks it, and closes it again
 * (dlopen counts references, so the library stays loaded while an instance holds it). */
static const bertd_plugin_api *real_api(void **so) {
  *so = dlopen(BERTD_PLUGIN_SO, RTLD_NOW | RTLD_LOCAL);
  bertd_plugin_get_api_fn get =
      *so ? (bertd_plugin_get_api_fn)(uintptr_t)dlsym(*so, "bertd_plugin_get_api") : NULL;
  return get ? get() : NULL;
}

static int fault_config_check(const char *config_json, char *effective, size_t effective_size,
                              char *errstr, size_t errstr_size) {
  void *so;
  const bertd_plugin_api *real = real_api(&so);
  int rc = real ? real->config_check(config_json, effective, effective_size, errstr, errstr_size)
                : -1;
  if (!real) snprintf(errstr, errstr_size, "fault plugin: cannot load %s", BERTD_PLUGIN_SO);
  if (so) dlclose(so);
  return rc;
}

static int fault_threads(int n) {
  void *so;
  const bertd_plugin_api *real = real_api(&so);
  int rc = real ? real->threads(n) : 1;
  if (so) dlclose(so);
  return rc;
}

static const bertd_plugin_api fault_api = {
    .abi_version = BERTD_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(bertd_plugin_api),
    .abi_check = fault_abi_check,
    .create = fault_create,
    .destroy = fault_destroy,
    .submit = fault_submit,
    .poll = fault_poll,
    .flush = fault_flush,
    .in_flight = fault_in_flight,
    .reason_name = fault_reason_name,
    .model_info = fault_model_info,
    .abi_minor = BERTD_PLUGIN_ABI_MINOR,
    .poll_timed = fault_poll_timed,
    .config_check = fault_config_check,
    .threads = fault_threads,
};

const bertd_plugin_api *bertd_plugin_get_api(void) { return &fault_api; }
