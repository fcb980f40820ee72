/* record.h: one submitted record on its way through the plugin, and the FIFO of finished
 * records waiting for poll(). */
#ifndef BERTD_PLUGIN_RECORD_H
#define BERTD_PLUGIN_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bertd.h"
#include "window.h"

typedef struct record {
  struct record *next;     /* in the ready queue */
  void *ref;               /* the host's */
  char *text, *pair;       /* copies, NUL-terminated; pair NULL when none */
  size_t len, pair_len;
  bertd_encoding enc;      /* compact copy: every array points into enc_block */
  int32_t *enc_block;
  int64_t submitted_us;    /* submit() */
  int64_t started_us;      /* its batch's forward pass began (= done_us if it never ran) */
  int64_t done_us;         /* its result (or error) was ready */
  int reason;              /* bertd_plugin_reason */
  int tokens;
  json_t *value;           /* the result object as the worker made it; turned into text (or text
                            * and a vector) by the host's poll, on the host's thread */
  char *result;            /* JSON text, from json_dumps (free()); made at poll */
  size_t result_len;
  float *vector;           /* poll_vectors: the "embedding" taken out of value (free()) */
  int dim;
  char error[256];
  /* on_too_long: window. A long text is one parent record (never queued; it owns text, pair
   * and the gatherer) and one child record per window (queued like any record; no text of
   * its own). The worker completes the parent when its last child has run. */
  struct record *parent;   /* a child's parent; NULL otherwise */
  int window;              /* a child's window index */
  int pending;             /* a parent's windows not yet run */
  window_acc *acc;         /* a parent's gatherer */
} record;

/* Copies text and pair; NULL when out of memory. */
record *bertd_queued_record_new(const char *text, size_t len, const char *pair, size_t pair_len, void *ref,
                   int64_t now_us);
/* A window of parent (window k): it reads the parent's text and pair. NULL when out of memory. */
record *bertd_queued_record_new_window(record *parent, int k, int64_t now_us);
/* Copies the arrays of enc (a tokenizer's reusable encoding) into r, sized to fit: queued
 * records then hold n tokens' worth of memory instead of the tokenizer's scratch buffers. */
int bertd_queued_record_set_encoding(record *r, const bertd_encoding *enc);
/* Drops the input copies once a result exists: a finished record keeps only what poll()
 * hands out. */
void bertd_queued_record_drop_input(record *r);
void bertd_queued_record_free(record *r);

typedef struct record_queue {
  record *head, *tail;
  int count;
} record_queue;

void bertd_queued_record_queue_push(record_queue *q, record *r);
record *bertd_queued_record_queue_pop(record_queue *q); /* NULL when empty */
void bertd_queued_record_queue_free_all(record_queue *q);

/* Microseconds on the monotonic clock. */
int64_t bertd_queued_record_now_us(void);

#endif
