/* plugin_internal.h: the bertd_plugin handle, shared by plugin.c (the ABI, host thread) and
 * worker.c (the inference thread). Which thread may touch which field is part of the type. */
#ifndef BERTD_PLUGIN_INTERNAL_H
#define BERTD_PLUGIN_INTERNAL_H

#include <jansson.h>
#include <pthread.h>

#include "batcher.h"
#include "bertd.h"
#include "bertd_plugin.h"
#include "enrich.h"
#include "plugin_config.h"
#include "record.h"

struct bertd_plugin {
  /* set up by create, read-only afterwards (both threads) */
  plugin_config cfg;
  bertd_model *model;
  int max_length;            /* effective: cfg's, capped to the model's */

  /* worker thread only (the enricher owns the session: activations are one thread's); the
   * batch buffers hold max_batch_records each, allocated by worker_start */
  bertd_enricher *enricher;
  record **batch;
  const bertd_encoding **batch_encs;
  const char **batch_texts, **batch_pairs;
  json_t **batch_results;

  /* host thread only */
  bertd_encoding scratch;    /* the tokenizer's reusable buffers for submit() */
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

  pthread_t thread;
  int thread_started;
};

/* worker.c */
int worker_start(bertd_plugin *p, char *errstr, size_t errstr_size);
/* Asks the worker to stop and joins it (after its current batch); queued records stay in the
 * batcher. Frees the batch buffers; safe to call when worker_start failed or never ran. */
void worker_stop(bertd_plugin *p);

#endif
