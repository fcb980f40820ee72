/* plugin_host.c: loading the enrichment stage as a shared object (see plugin_host.h). */
#include "plugin_host.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int try_open(bertd_plugin_host *h, const char *path, char *errstr, size_t errstr_size) {
  void *d = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!d) {
    snprintf(errstr, errstr_size, "plugin: %s", dlerror());
    return -1;
  }
  bertd_plugin_get_api_fn get = (bertd_plugin_get_api_fn)(uintptr_t)dlsym(d, "bertd_plugin_get_api");
  if (!get) {
    snprintf(errstr, errstr_size, "plugin: %s has no bertd_plugin_get_api", path);
    dlclose(d);
    return -1;
  }
  const bertd_plugin_api *api = get();
  if (api->abi_check(BERTD_PLUGIN_ABI_VERSION, errstr, errstr_size)) {
    dlclose(d);
    return -1;
  }
  /* the daemon writes each record's queue and model time (poll_timed, ABI 1.1), and checks
   * and reads back its pipelines' settings and shares the threads (ABI 1.2) */
  if (!BERTD_PLUGIN_API_HAS(api, threads) || !api->poll_timed || !api->config_check ||
      !api->threads) {
    snprintf(errstr, errstr_size, "plugin: %s implements ABI %d.%d; bertd needs %d.%d "
             "(config_check, threads)", path, BERTD_PLUGIN_ABI_VERSION,
             BERTD_PLUGIN_API_HAS(api, abi_minor) ? api->abi_minor : 0, BERTD_PLUGIN_ABI_VERSION,
             BERTD_PLUGIN_ABI_MINOR);
    dlclose(d);
    return -1;
  }
  h->handle = d;
  h->api = api;
  snprintf(h->path, sizeof h->path, "%s", path);
  return 0;
}

int bertd_plugin_host_open(bertd_plugin_host *h, const char *path, char *errstr,
                           size_t errstr_size) {
  memset(h, 0, sizeof(*h));
  if (!path) path = getenv("BERTD_PLUGIN");
  if (path && *path) return try_open(h, path, errstr, errstr_size);
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    snprintf(errstr, errstr_size, "plugin: cannot find the executable's directory; set BERTD_PLUGIN");
    return -1;
  }
  exe[n] = 0;
  char *slash = strrchr(exe, '/');
  if (slash) *slash = 0;
  static const char *const rel[] = {"../plugin/libbertd_plugin.so", "../lib/bertd/libbertd_plugin.so",
                                    "libbertd_plugin.so"};
  char tried[PATH_MAX + 64];
  for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
    snprintf(tried, sizeof tried, "%s/%s", exe, rel[i]);
    if (access(tried, R_OK) == 0) return try_open(h, tried, errstr, errstr_size);
  }
  snprintf(errstr, errstr_size,
           "plugin: libbertd_plugin.so not found next to %s (set BERTD_PLUGIN to its path)", exe);
  return -1;
}

void bertd_plugin_host_close(bertd_plugin_host *h) {
  if (h->handle) dlclose(h->handle);
  memset(h, 0, sizeof(*h));
}
