/* worker.c: the plugin's one inference thread. It sleeps on a condition variable until a
 * bucket is due (full, old enough, or flushed), takes one batch out of it under the lock, runs
 * the forward pass without the lock so the host can keep submitting and polling, and puts the
 * finished records on the ready queue in batch order. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin_internal.h"
#include "window.h"

/* Takes result (NULL: out of memory). Kept as an object: the host's poll turns it into text
 * (plugin.c), on the host's thread rather than here, where a batch's serial printing would hold
 * the next forward pass; a host that takes embeddings as floats never prints them at all. */
static void set_result(record *r, json_t *result) {
  r->value = result;
  if (!result) {
    r->reason = BERTD_PLUGIN_INFERENCE;
    snprintf(r->error, sizeof r->error, "result: out of memory");
  }
}

static void fail(record *r, const char *why) {
  if (r->parent) { /* a window: its text fails as a whole */
    bertd_window_acc_fail(r->parent->acc, why);
    return;
  }
  r->reason = BERTD_PLUGIN_INFERENCE;
  snprintf(r->error, sizeof r->error, "%s", why);
}

/* Runs n records as one batch and fills each one's result or error (a window's outputs go to
 * its parent's gatherer). When the batch as a whole fails, each record is retried alone so
 * that one bad record cannot take its neighbours down. */
static void run_batch(bertd_plugin *p, record **rs, int n, const bertd_encoding **encs,
                      const char **texts, const char **pairs, window_acc **accs, int *win,
                      json_t **results) {
  char err[256];
  for (int i = 0; i < n; i++) {
    record *owner = rs[i]->parent ? rs[i]->parent : rs[i];
    encs[i] = &rs[i]->enc;
    texts[i] = owner->text;
    pairs[i] = owner->pair;
    accs[i] = rs[i]->parent ? rs[i]->parent->acc : NULL;
    win[i] = rs[i]->window;
  }
  if (bertd_enricher_run_windows(p->enricher, n, encs, texts, pairs,
                                 (window_acc *const *)accs, win, results, err, sizeof err)) {
    if (n == 1) {
      fail(rs[0], err);
      return;
    }
    for (int i = 0; i < n; i++)
      run_batch(p, rs + i, 1, encs + i, texts + i, pairs + i, accs + i, win + i, results + i);
    return;
  }
  for (int i = 0; i < n; i++) {
    if (rs[i]->parent) continue;
    set_result(rs[i], results[i]);
  }
}

static struct timespec abs_time(int64_t us) {
  struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
  return ts;
}

static void *worker_main(void *arg) {
  bertd_plugin *p = arg;
  record **rs = p->batch;
  pthread_mutex_lock(&p->mu);
  while (!p->stopping) {
    int k;
    int64_t now = bertd_queued_record_now_us();
    if (bertd_batcher_due(p->batcher, now, p->flushing, &k) == BATCHER_NOT_DUE) {
      int64_t deadline = bertd_batcher_next_deadline(p->batcher);
      if (deadline == INT64_MAX) {
        pthread_cond_wait(&p->work, &p->mu);
      } else {
        struct timespec ts = abs_time(deadline);
        pthread_cond_timedwait(&p->work, &p->mu, &ts);
      }
      continue; /* woken or timed out: look again, whatever the reason */
    }
    int n = bertd_batcher_take(p->batcher, k, (void **)rs, p->cfg.max_batch_records);
    p->running = n;
    pthread_mutex_unlock(&p->mu);

    const int64_t started = bertd_queued_record_now_us();
    run_batch(p, rs, n, p->batch_encs, p->batch_texts, p->batch_pairs, p->batch_accs,
              p->batch_win, p->batch_results);
    int64_t done = bertd_queued_record_now_us();
    /* the batch's shape: (n, longest) is what the encoder computed, tokens what was real
     * (read before drop_input clears the encodings) */
    bertd_plugin_batch shape = {.sequences = n, .model_ms = (double)(done - started) / 1000.0};
    int longest = 0;
    for (int i = 0; i < n; i++) {
      shape.tokens += rs[i]->enc.n;
      if (rs[i]->enc.n > longest) longest = rs[i]->enc.n;
    }
    shape.padded_tokens = n * longest;

    int n_finished = 0;
    for (int i = 0; i < n; i++) {
      rs[i]->started_us = started;
      rs[i]->done_us = done;
      bertd_queued_record_drop_input(rs[i]);
    }

    pthread_mutex_lock(&p->mu);
    if (p->batch_count == BERTD_PLUGIN_BATCH_LOG) { /* the host is not reading: drop the oldest */
      p->batch_head = (p->batch_head + 1) % BERTD_PLUGIN_BATCH_LOG;
      p->batch_count--;
      p->batch_dropped++;
    }
    p->batch_log[(p->batch_head + p->batch_count++) % BERTD_PLUGIN_BATCH_LOG] = shape;
    for (int i = 0; i < n; i++) {
      record *parent = rs[i]->parent;
      if (!parent) {
        bertd_queued_record_queue_push(&p->ready, rs[i]);
        continue;
      }
      /* a windowed text's queue time ends when its first window's batch begins */
      if (!parent->started_us) parent->started_us = rs[i]->started_us;
      /* under the lock: submit() may lower pending when it could not queue every window */
      if (--parent->pending == 0) p->finished[n_finished++] = parent;
      bertd_queued_record_free(rs[i]);
    }
    pthread_mutex_unlock(&p->mu);
    /* texts whose last window just ran: combine outside the lock (running still holds flush) */
    for (int i = 0; i < n_finished; i++) {
      record *r = p->finished[i];
      char err[256];
      json_t *res = bertd_enricher_window_result(p->enricher, r->acc, r->text, r->pair, err,
                                                 sizeof err);
      if (!res) {
        r->reason = BERTD_PLUGIN_INFERENCE;
        snprintf(r->error, sizeof r->error, "%s", err);
      } else {
        set_result(r, res);
      }
      r->done_us = bertd_queued_record_now_us();
      bertd_queued_record_drop_input(r);
      bertd_window_acc_free(r->acc);
      r->acc = NULL;
    }
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < n_finished; i++) bertd_queued_record_queue_push(&p->ready, p->finished[i]);
    p->running = 0;
    pthread_cond_broadcast(&p->done);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

static void free_buffers(bertd_plugin *p) {
  free(p->batch);
  free(p->batch_encs);
  free(p->batch_texts);
  free(p->batch_pairs);
  free(p->batch_results);
  free(p->batch_accs);
  free(p->batch_win);
  free(p->finished);
  p->batch_accs = NULL;
  p->batch_win = NULL;
  p->finished = NULL;
  p->batch = NULL;
  p->batch_encs = NULL;
  p->batch_texts = p->batch_pairs = NULL;
  p->batch_results = NULL;
}

int bertd_worker_start(bertd_plugin *p, char *errstr, size_t errstr_size) {
  /* allocated here, before the thread exists, so running out of memory fails create() */
  size_t cap = (size_t)p->cfg.max_batch_records;
  p->batch = malloc(sizeof(*p->batch) * cap);
  p->batch_encs = malloc(sizeof(*p->batch_encs) * cap);
  p->batch_texts = malloc(sizeof(*p->batch_texts) * cap);
  p->batch_pairs = malloc(sizeof(*p->batch_pairs) * cap);
  p->batch_results = malloc(sizeof(*p->batch_results) * cap);
  p->batch_accs = malloc(sizeof(*p->batch_accs) * cap);
  p->batch_win = malloc(sizeof(*p->batch_win) * cap);
  p->finished = malloc(sizeof(*p->finished) * cap);
  if (!p->batch || !p->batch_encs || !p->batch_texts || !p->batch_pairs || !p->batch_results ||
      !p->batch_accs || !p->batch_win || !p->finished) {
    free_buffers(p);
    snprintf(errstr, errstr_size, "worker: out of memory");
    return -1;
  }
  int rc = pthread_create(&p->thread, NULL, worker_main, p);
  if (rc) {
    free_buffers(p);
    snprintf(errstr, errstr_size, "worker thread: %s", strerror(rc));
    return -1;
  }
  p->thread_started = 1;
  return 0;
}

void bertd_worker_stop(bertd_plugin *p) {
  if (p->thread_started) {
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    p->thread_started = 0;
  }
  free_buffers(p);
}
