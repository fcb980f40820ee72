/* plugin.c: the bertd_plugin ABI (bertd_plugin.h) on the host's side: create and destroy,
 * submit (tokenize now, queue by length), poll, flush. The worker thread is in worker.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agreement.h"
#include "plugin_internal.h"
#include "window.h"

BERTD_PLUGIN_EXPORT int bertd_plugin_abi_version(void) { return BERTD_PLUGIN_ABI_VERSION; }

BERTD_PLUGIN_EXPORT int bertd_plugin_abi_check(int host_abi_version, char *errstr,
                                               size_t errstr_size) {
  /* the major number: an incompatible change bumps it; additions (a minor version) keep every
   * older host of the same major working */
  if (host_abi_version == BERTD_PLUGIN_ABI_VERSION) return 0;
  snprintf(errstr, errstr_size, "plugin ABI mismatch: the plugin implements version %d, the host "
           "was built for version %d", BERTD_PLUGIN_ABI_VERSION, host_abi_version);
  return -1;
}

BERTD_PLUGIN_EXPORT const char *bertd_plugin_reason_name(int reason) {
  switch (reason) {
  case BERTD_PLUGIN_OK: return "ok";
  case BERTD_PLUGIN_INVALID_INPUT: return "invalid_input";
  case BERTD_PLUGIN_TOO_LONG: return "too_long";
  case BERTD_PLUGIN_INFERENCE: return "inference";
  }
  return "unknown";
}

/* Frees whatever create() got to; the worker must not be running. */
static void plugin_free(bertd_plugin *p, int sync_ready) {
  if (p->batcher) {
    void *items[64];
    for (int k = 0; k < bertd_batcher_bucket_count(p->batcher); k++) {
      int n;
      while ((n = bertd_batcher_take(p->batcher, k, items, 64)) > 0)
        for (int i = 0; i < n; i++) {
          record *r = items[i], *parent = r->parent;
          bertd_queued_record_free(r);
          /* a text with windows still queued: freed with the last of them */
          if (parent && --parent->pending == 0) bertd_queued_record_free(parent);
        }
    }
    bertd_batcher_free(p->batcher);
  }
  bertd_queued_record_queue_free_all(&p->ready);
  for (int i = 0; i < p->n_handed; i++) bertd_queued_record_free(p->handed[i]);
  free(p->handed);
  if (sync_ready) {
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
  }
  bertd_encoding_free(&p->scratch);
  bertd_windows_free(&p->wins);
  bertd_enricher_free(p->enricher);
  bertd_model_free(p->model);
  bertd_plugin_config_free(&p->cfg);
  free(p);
}

/* The mutex and two condition variables; the conditions time out on the monotonic clock, the
 * one record timestamps use, so a wall-clock jump cannot stall or rush a batch. */
static int sync_init(bertd_plugin *p, char *errstr, size_t errstr_size) {
  pthread_condattr_t ca;
  if (pthread_mutex_init(&p->mu, NULL)) goto fail;
  if (pthread_condattr_init(&ca)) goto fail_mu;
  if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) || pthread_cond_init(&p->work, &ca))
    goto fail_ca;
  if (pthread_cond_init(&p->done, &ca)) goto fail_work;
  pthread_condattr_destroy(&ca);
  return 0;
fail_work:
  pthread_cond_destroy(&p->work);
fail_ca:
  pthread_condattr_destroy(&ca);
fail_mu:
  pthread_mutex_destroy(&p->mu);
fail:
  snprintf(errstr, errstr_size, "plugin: cannot create the mutex or condition variables");
  return -1;
}

BERTD_PLUGIN_EXPORT int bertd_plugin_create(const char *config_json, bertd_plugin **out,
                                            char *errstr, size_t errstr_size) {
  if (!out) {
    snprintf(errstr, errstr_size, "bertd_plugin_create: out is NULL");
    return -1;
  }
  *out = NULL;
  bertd_plugin *p = calloc(1, sizeof(*p));
  if (!p) {
    snprintf(errstr, errstr_size, "plugin: out of memory");
    return -1;
  }
  if (bertd_plugin_config_parse(config_json, &p->cfg, errstr, errstr_size)) {
    free(p);
    return -1;
  }
  char why[512];
  if (bertd_precision_check(p->cfg.precision, why, sizeof why)) {
    /* a CPU without the instructions: one line, and the pipeline does not start.
     * "model.precision: bf16: this CPU has neither ...": the key first, for the host's
     * pointer at its line (why starts "precision bf16: ") */
    snprintf(errstr, errstr_size, "model.precision: %s",
             strncmp(why, "precision ", 10) ? why : why + 10);
    plugin_free(p, 0);
    return -1;
  }
  if (bertd_model_load_precision(p->cfg.model_dir, p->cfg.precision, &p->model, why,
                                 sizeof why)) {
    /* the loader names the file inside the directory; the host's log needs the directory */
    snprintf(errstr, errstr_size, "model.dir %s: %s", p->cfg.model_dir, why);
    plugin_free(p, 0);
    return -1;
  }
  if (p->cfg.min_agreement > 0 && p->cfg.precision != BERTD_PRECISION_FP32) {
    /* the accuracy gate: top labels against fp32 on the calibration file, before serving */
    double agree;
    int n;
    if (bertd_plugin_agreement(p->model, &p->cfg, &agree, &n, errstr, errstr_size)) {
      plugin_free(p, 0);
      return -1;
    }
    if (agree < p->cfg.min_agreement) {
      snprintf(errstr, errstr_size,
               "model.min_agreement: %s agrees with fp32 on %.4f of %d records of %s, below %g",
               bertd_precision_name(p->cfg.precision), agree, n, p->cfg.calibration,
               p->cfg.min_agreement);
      plugin_free(p, 0);
      return -1;
    }
  }
  if (bertd_enricher_create(p->model, &p->cfg.enrich, &p->enricher, errstr, errstr_size)) {
    plugin_free(p, 0);
    return -1;
  }
  int model_max = bertd_model_max_length(p->model);
  p->max_length = p->cfg.enrich.max_length <= 0 || p->cfg.enrich.max_length > model_max
                      ? model_max
                      : p->cfg.enrich.max_length;
  batcher_opts bo = {p->cfg.buckets, p->cfg.n_buckets, p->cfg.max_batch_tokens,
                     p->cfg.max_batch_records, (int64_t)p->cfg.max_wait_ms * 1000};
  if (bertd_batcher_create(&bo, &p->batcher, errstr, errstr_size) ||
      bertd_enricher_warm_up(p->enricher, p->cfg.max_batch_records, p->cfg.max_batch_tokens,
                             errstr, errstr_size)) {
    plugin_free(p, 0);
    return -1;
  }
  if (sync_init(p, errstr, errstr_size)) {
    plugin_free(p, 0);
    return -1;
  }
  if (bertd_worker_start(p, errstr, errstr_size)) {
    plugin_free(p, 1);
    return -1;
  }
  *out = p;
  return 0;
}

BERTD_PLUGIN_EXPORT void bertd_plugin_destroy(bertd_plugin *p) {
  if (!p) return;
  bertd_worker_stop(p);
  plugin_free(p, 1);
}

/* A record that will not reach the model: it goes straight to the ready queue. */
static void complete_now(bertd_plugin *p, record *r, int reason, int tokens, const char *why) {
  r->reason = reason;
  r->tokens = tokens;
  snprintf(r->error, sizeof r->error, "%s", why);
  r->done_us = r->started_us = bertd_queued_record_now_us();
  bertd_queued_record_drop_input(r);
  pthread_mutex_lock(&p->mu);
  bertd_queued_record_queue_push(&p->ready, r);
  pthread_cond_broadcast(&p->done);
  pthread_mutex_unlock(&p->mu);
}

/* Queues r in its length bucket; wakes the worker when there is something new for it to
 * decide: a bucket that just became due, or a first record whose deadline may be sooner than
 * the one it sleeps to. Called with p->mu held. -1 when out of memory. */
static int enqueue_locked(bertd_plugin *p, record *r) {
  int k = bertd_batcher_insert(p->batcher, r->enc.n, r->submitted_us, r);
  int dummy;
  if (k >= 0 && (bertd_batcher_queued(p->batcher, k) == 1 ||
                 bertd_batcher_due(p->batcher, r->submitted_us, 0, &dummy) != BATCHER_NOT_DUE))
    pthread_cond_signal(&p->work);
  return k < 0 ? -1 : 0;
}

/* A record whose text is over max_length under on_too_long: window: one child record per
 * window, each queued like any record; r waits, unqueued, for the last of them (worker.c). */
static int submit_windows(bertd_plugin *p, record *r, char *errstr, size_t errstr_size) {
  const int n = p->wins.n;
  record **kids = calloc((size_t)n, sizeof(*kids));
  if (!kids || !(r->acc = bertd_enricher_window_acc(p->enricher, &p->wins, errstr, errstr_size)))
    goto oom;
  r->pending = n;
  r->tokens = 0;
  for (int k = 0; k < n; k++) {
    if (!(kids[k] = bertd_queued_record_new_window(r, k, r->submitted_us)) ||
        bertd_queued_record_set_encoding(kids[k], &p->wins.w[k]))
      goto oom;
    kids[k]->tokens = kids[k]->enc.n;
    r->tokens += kids[k]->enc.n;
  }
  pthread_mutex_lock(&p->mu);
  int k = 0;
  while (k < n && enqueue_locked(p, kids[k]) == 0) k++;
  if (k < n) {
    /* out of memory with some windows queued: they still run and complete r, with this
     * failure as its error */
    if (k == 0) {
      pthread_mutex_unlock(&p->mu);
      goto oom;
    }
    bertd_window_acc_fail(r->acc, "plugin: out of memory queueing windows");
    r->pending = k;
    for (int j = k; j < n; j++) bertd_queued_record_free(kids[j]);
  }
  pthread_mutex_unlock(&p->mu);
  free(kids);
  return 0;
oom:
  for (int j = 0; kids && j < n; j++) bertd_queued_record_free(kids[j]);
  free(kids);
  snprintf(errstr, errstr_size, "plugin: out of memory");
  return -1;
}

BERTD_PLUGIN_EXPORT int bertd_plugin_submit(bertd_plugin *p, const char *text, size_t len,
                                            const char *text_pair, size_t pair_len, void *ref,
                                            char *errstr, size_t errstr_size) {
  if (!p || (!text && len) || (!text_pair && pair_len)) {
    snprintf(errstr, errstr_size, "bertd_plugin_submit: invalid argument");
    return -1;
  }
  record *r = bertd_queued_record_new(text ? text : "", len, text_pair, pair_len, ref, bertd_queued_record_now_us());
  if (!r) {
    snprintf(errstr, errstr_size, "plugin: out of memory");
    return -1;
  }
  char why[256];
  const bertd_encoding *enc = &p->scratch;
  int windowed = 0;
  if (p->cfg.enrich.window) {
    if (bertd_enricher_encode_windows(p->enricher, r->text, r->len, r->pair, r->pair_len,
                                      &p->wins, why, sizeof why)) {
      complete_now(p, r, BERTD_PLUGIN_INVALID_INPUT, 0, why);
      p->in_flight++;
      return 0;
    }
    enc = &p->wins.w[0];
    windowed = p->wins.n > 1;
  } else if (bertd_enricher_encode(p->enricher, r->text, r->len, r->pair, r->pair_len,
                                   &p->scratch, why, sizeof why)) {
    complete_now(p, r, BERTD_PLUGIN_INVALID_INPUT, 0, why);
    p->in_flight++;
    return 0;
  }
  /* on_too_long is checked here rather than by the enricher so the two failures keep their
   * own reason codes */
  if (p->cfg.too_long_dead_letter && enc->num_truncated > 0) {
    int n = enc->n + enc->num_truncated;
    snprintf(why, sizeof why, "text has %d tokens, over max_length %d", n, p->max_length);
    complete_now(p, r, BERTD_PLUGIN_TOO_LONG, n, why);
  } else if (p->cfg.enrich.task == BERTD_ENRICH_QA && !r->pair) {
    complete_now(p, r, BERTD_PLUGIN_INVALID_INPUT, enc->n,
                 "qa needs a question (text) and a context (text_pair)");
  } else if (windowed) {
    if (submit_windows(p, r, errstr, errstr_size)) {
      bertd_queued_record_free(r);
      return -1;
    }
  } else {
    if (bertd_queued_record_set_encoding(r, enc)) {
      bertd_queued_record_free(r);
      snprintf(errstr, errstr_size, "plugin: out of memory");
      return -1;
    }
    r->tokens = r->enc.n;
    pthread_mutex_lock(&p->mu);
    int rc = enqueue_locked(p, r);
    pthread_mutex_unlock(&p->mu);
    if (rc) {
      bertd_queued_record_free(r);
      snprintf(errstr, errstr_size, "plugin: out of memory");
      return -1;
    }
  }
  p->in_flight++;
  return 0;
}

static int64_t deadline_after_ms(int timeout_ms) {
  return bertd_queued_record_now_us() + (int64_t)timeout_ms * 1000;
}

/* Waits on p->done until the deadline; returns ETIMEDOUT once it has passed. */
static int wait_done(bertd_plugin *p, int timeout_ms, int64_t deadline_us) {
  if (timeout_ms < 0) return pthread_cond_wait(&p->done, &p->mu);
  struct timespec ts = {(time_t)(deadline_us / 1000000), (long)(deadline_us % 1000000) * 1000};
  return pthread_cond_timedwait(&p->done, &p->mu, &ts);
}

/* The same JSON text `bertd <task>` prints for a record. */
#define RESULT_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(8))

/* The worker's result object -> the text (and, with vectors, the embedding's floats) that poll
 * hands out. Here, on the host's thread, not on the worker's (worker.c, set_result). */
static void finish_result(record *r, int vectors) {
  if (r->reason != BERTD_PLUGIN_OK || !r->value) return;
  json_t *emb = vectors ? json_object_get(r->value, "embedding") : NULL;
  if (json_is_array(emb) && json_array_size(emb) > 0) {
    const size_t n = json_array_size(emb);
    r->vector = malloc(sizeof(float) * n);
    if (r->vector) {
      /* the values were floats (the model's) before they were JSON reals: exact */
      for (size_t i = 0; i < n; i++) r->vector[i] = (float)json_number_value(json_array_get(emb, i));
      r->dim = (int)n;
      json_object_del(r->value, "embedding");
    }
  }
  r->result = json_dumps(r->value, RESULT_JSON_FLAGS);
  json_decref(r->value);
  r->value = NULL;
  if (!r->result) {
    r->reason = BERTD_PLUGIN_INFERENCE;
    snprintf(r->error, sizeof r->error, "result: out of memory");
    return;
  }
  r->result_len = strlen(r->result);
}

static int poll_records(bertd_plugin *p, bertd_plugin_completion *out,
                        bertd_plugin_timing *timing, bertd_plugin_vector *vectors, int max,
                        int timeout_ms) {
  if (!p || !out || max < 1) return 0;
  /* what the previous poll handed out is the host's no longer */
  for (int i = 0; i < p->n_handed; i++) bertd_queued_record_free(p->handed[i]);
  p->n_handed = 0;
  if (p->in_flight == 0) return 0;
  if (max > p->cap_handed) {
    record **h = realloc(p->handed, sizeof(*h) * (size_t)max);
    if (!h) return 0; /* out of memory: nothing moves, the records wait for the next poll */
    p->handed = h;
    p->cap_handed = max;
  }
  int64_t deadline = deadline_after_ms(timeout_ms);
  pthread_mutex_lock(&p->mu);
  while (timeout_ms != 0 && p->ready.count == 0)
    if (wait_done(p, timeout_ms, deadline) == ETIMEDOUT) break;
  int n = 0;
  record *r;
  while (n < max && (r = bertd_queued_record_queue_pop(&p->ready))) p->handed[n++] = r;
  pthread_mutex_unlock(&p->mu);
  p->n_handed = n;
  p->in_flight -= n;
  for (int i = 0; i < n; i++) {
    r = p->handed[i];
    finish_result(r, vectors != NULL);
    out[i] = (bertd_plugin_completion){
        .ref = r->ref,
        .reason = r->reason,
        .error = r->error,
        .result = r->reason == BERTD_PLUGIN_OK ? r->result : NULL,
        .result_len = r->reason == BERTD_PLUGIN_OK ? r->result_len : 0,
        .tokens = r->tokens,
        .latency_ms = (double)(r->done_us - r->submitted_us) / 1000.0,
    };
    if (timing)
      timing[i] = (bertd_plugin_timing){
          .queue_ms = (double)(r->started_us - r->submitted_us) / 1000.0,
          .model_ms = (double)(r->done_us - r->started_us) / 1000.0,
      };
    if (vectors)
      vectors[i] = r->reason == BERTD_PLUGIN_OK && r->vector
                       ? (bertd_plugin_vector){.values = r->vector, .dim = r->dim}
                       : (bertd_plugin_vector){.values = NULL, .dim = 0};
  }
  return n;
}

BERTD_PLUGIN_EXPORT int bertd_plugin_poll(bertd_plugin *p, bertd_plugin_completion *out,
                                          int max, int timeout_ms) {
  return poll_records(p, out, NULL, NULL, max, timeout_ms);
}

BERTD_PLUGIN_EXPORT int bertd_plugin_poll_timed(bertd_plugin *p, bertd_plugin_completion *out,
                                                bertd_plugin_timing *timing, int max,
                                                int timeout_ms) {
  return poll_records(p, out, timing, NULL, max, timeout_ms);
}

BERTD_PLUGIN_EXPORT int bertd_plugin_poll_vectors(bertd_plugin *p, bertd_plugin_completion *out,
                                                  bertd_plugin_timing *timing,
                                                  bertd_plugin_vector *vectors, int max,
                                                  int timeout_ms) {
  if (!vectors) return 0;
  return poll_records(p, out, timing, vectors, max, timeout_ms);
}

BERTD_PLUGIN_EXPORT int bertd_plugin_flush(bertd_plugin *p, int timeout_ms) {
  if (!p) return -1;
  int64_t deadline = deadline_after_ms(timeout_ms);
  int rc = 0;
  pthread_mutex_lock(&p->mu);
  p->flushing = 1;
  pthread_cond_signal(&p->work);
  while (bertd_batcher_total(p->batcher) > 0 || p->running > 0)
    if (wait_done(p, timeout_ms, deadline) == ETIMEDOUT) {
      rc = -1;
      break;
    }
  p->flushing = 0;
  pthread_mutex_unlock(&p->mu);
  return rc;
}

BERTD_PLUGIN_EXPORT int bertd_plugin_in_flight(const bertd_plugin *p) {
  return p ? p->in_flight : 0;
}

BERTD_PLUGIN_EXPORT int bertd_plugin_model_info(const bertd_plugin *p, char *name,
                                                size_t name_size, char *checksum,
                                                size_t checksum_size) {
  snprintf(name, name_size, "%s", bertd_model_name(p->model));
  snprintf(checksum, checksum_size, "%s", bertd_model_checksum(p->model));
  return 0;
}

BERTD_PLUGIN_EXPORT int bertd_plugin_config_check(const char *config_json, char *effective,
                                                  size_t effective_size, char *errstr,
                                                  size_t errstr_size) {
  json_t *eff;
  if (bertd_plugin_config_effective(config_json, &eff, errstr, errstr_size)) return -1;
  int rc = 0;
  if (effective && effective_size) {
    char *text = json_dumps(eff, JSON_COMPACT | JSON_REAL_PRECISION(8));
    size_t need = text ? strlen(text) + 1 : 0;
    if (!text) {
      rc = -1;
      snprintf(errstr, errstr_size, "config: out of memory");
    } else if (need > effective_size) {
      rc = -1;
      snprintf(errstr, errstr_size, "config: the effective config needs %zu bytes, %zu given",
               need, effective_size);
    } else {
      memcpy(effective, text, need);
    }
    free(text);
  }
  json_decref(eff);
  return rc;
}

BERTD_PLUGIN_EXPORT int bertd_plugin_threads(int n) {
  if (n > 0) bertd_threads_set(n);
  return bertd_threads();
}

BERTD_PLUGIN_EXPORT int bertd_plugin_poll_batches(bertd_plugin *p, bertd_plugin_batch *out,
                                                  int max, unsigned long long *dropped) {
  if (!p || !out || max < 1) return 0;
  int n = 0;
  pthread_mutex_lock(&p->mu);
  while (n < max && p->batch_count > 0) {
    out[n++] = p->batch_log[p->batch_head];
    p->batch_head = (p->batch_head + 1) % BERTD_PLUGIN_BATCH_LOG;
    p->batch_count--;
  }
  if (dropped) *dropped = p->batch_dropped;
  p->batch_dropped = 0;
  pthread_mutex_unlock(&p->mu);
  return n;
}

BERTD_PLUGIN_EXPORT int bertd_plugin_model_json(const bertd_plugin *p, char *buf, size_t size) {
  if (!p || !buf) return -1;
  /* every weight is widened to F32 at load (bertd_weights.h) and the encoder computes in F32 */
  json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i}", "name", bertd_model_name(p->model),
                        "checksum", bertd_model_checksum(p->model), "task",
                        bertd_enrich_task_name(p->cfg.enrich.task), "precision", "float32",
                        "max_length", p->max_length);
  size_t need = o ? json_dumpb(o, buf, size, JSON_COMPACT) : 0;
  json_decref(o);
  if (!need || need >= size) return -1;
  buf[need] = 0;
  return (int)need;
}

static const bertd_plugin_api API = {
    .abi_version = BERTD_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(bertd_plugin_api),
    .abi_check = bertd_plugin_abi_check,
    .create = bertd_plugin_create,
    .destroy = bertd_plugin_destroy,
    .submit = bertd_plugin_submit,
    .poll = bertd_plugin_poll,
    .flush = bertd_plugin_flush,
    .in_flight = bertd_plugin_in_flight,
    .reason_name = bertd_plugin_reason_name,
    .model_info = bertd_plugin_model_info,
    .abi_minor = BERTD_PLUGIN_ABI_MINOR,
    .poll_timed = bertd_plugin_poll_timed,
    .config_check = bertd_plugin_config_check,
    .threads = bertd_plugin_threads,
    .poll_batches = bertd_plugin_poll_batches,
    .model_json = bertd_plugin_model_json,
    .poll_vectors = bertd_plugin_poll_vectors,
};

BERTD_PLUGIN_EXPORT const bertd_plugin_api *bertd_plugin_get_api(void) { return &API; }
