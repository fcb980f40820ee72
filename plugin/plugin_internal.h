/* plugin_internal.h: the bertd_plugin handle, shared by plugin.c (the ABI, host thread) and
 * worker.c (the inference thread). Which thread may touch which field is part of the type. */
#ifndef BERTD_PLUGIN_INTERNAL_H
#define BERTD_PLUGIN_INTERNAL_H

#include <jansson.h>
#include <pthread.h>

#include "batcher.h"
#include "bertd.h"
#include "bertd_plugin.h"
#include "bertd_enrich.h"
#include "plugin_config.h"
#include "record.h"

struct bertd_plugin {
  /* set up by create, read-only afterwards (both threads) */
  plugin_config cfg;
  bertd_model *model;
  int max_length;            /* effective: cfg's, capped to the model's */

  /* The enricher is shared in one narrow way: submit() (host) calls bertd_enricher_encode,
   * which only reads the model's tokenizer and the options; bertd_enricher_run_encoded, which
   * writes the session's activations, runs on the worker alone. */
  bertd_enricher *enricher;

  /* worker thread only: batch buffers of max_batch_records each, allocated by bertd_worker_start */
  record **batch;
  const bertd_encoding **batch_encs;
  const char **batch_texts, **batch_pairs;
  json_t **batch_results;
  window_acc **batch_accs;   /* a window's parent's gatherer, NULL for a plain record */
  int *batch_win;            /* a window's index */
  record **finished;         /* parents whose last window ran in this batch */

  /* host thread only */
  bertd_encoding scratch;    /* the tokenizer's reusable buffers for submit() */
  bertd_windows wins;        /* the same, for on_too_long: window */
  int in_flight;             /* submitted, not yet returned by poll() */
  record **handed;           /* returned by the last poll(); freed by the next */
  int n_handed, cap_handed;

  /* shared: guarded by mu */
  pthread_mutex_t mu;
  pthread_cond_t work;       /* the worker waits here: records queued, flush, stop */
  pthread_cond_t done;       /* the host waits here: records ready, batch finished */
  batcher *batcher;          /* queued records, by length */
  record_queue ready;        /* finished, not yet polled, in completion order */
  int running;               /* records in the batch the worker is running now */
  int flushing;              /* host asked every bucket to run regardless of size and age */
  int stopping;              /* destroy(): worker exits after its current batch */
  /* batches run, for poll_batches(): a ring of BERTD_PLUGIN_BATCH_LOG, oldest at batch_head */
  bertd_plugin_batch batch_log[BERTD_PLUGIN_BATCH_LOG];
  int batch_head, batch_count;
  unsigned long long batch_dropped;

  pthread_t thread;
  int thread_started;
};

/* worker.c */
int bertd_worker_start(bertd_plugin *p, char *errstr, size_t errstr_size);
/* Asks the worker to stop and joins it (after its current batch); queued records stay in the
 * batcher. Frees the batch buffers; safe to call when bertd_worker_start failed or never ran. */
void bertd_worker_stop(bertd_plugin *p);

#endif
