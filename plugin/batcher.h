/* batcher.h: records queued in length buckets, and the rule that says which bucket runs next.
 *
 * A forward pass over B sequences costs about B x (longest of them) tokens, because the batch
 * is as wide as its longest member. Grouping records of similar token length keeps that padding
 * small. The batcher is a pure data structure: no threads, no model, no clock of its own
 * (callers pass `now`), so every flush rule can be unit-tested with made-up times.
 *
 * Buckets are given by ascending edges, e.g. {16, 32, 64}: bucket 0 holds lengths 1..16,
 * bucket 1 17..32, bucket 2 33..64, and one more bucket (3) holds everything longer than the
 * last edge. Within a bucket records stay in insertion order. */
#ifndef BERTD_BATCHER_H
#define BERTD_BATCHER_H

#include <stddef.h>
#include <stdint.h>

#define BATCHER_MAX_EDGES 64

typedef struct batcher batcher;

typedef struct batcher_opts {
  const int *edges;       /* ascending, positive; copied */
  int n_edges;            /* 0..BATCHER_MAX_EDGES (0: one bucket for everything) */
  int max_batch_tokens;   /* padded tokens (records x longest) one batch may cost */
  int max_batch_records;  /* records one batch may hold */
  int64_t max_wait_us;    /* a bucket's oldest record waits at most this long */
} batcher_opts;

/* Why a bucket should run now. */
typedef enum {
  BATCHER_NOT_DUE = 0,
  BATCHER_DUE_TOKENS,   /* one more record would push the padded cost over max_batch_tokens */
  BATCHER_DUE_RECORDS,  /* it holds max_batch_records */
  BATCHER_DUE_WAIT,     /* its oldest record has waited max_wait_us */
  BATCHER_DUE_FLUSH     /* the caller asked for every non-empty bucket to run */
} batcher_reason;

int bertd_batcher_create(const batcher_opts *o, batcher **out, char *errstr, size_t errstr_size);
/* Frees the queues; the items themselves belong to the caller (take them out first). */
void bertd_batcher_free(batcher *b);

int bertd_batcher_bucket_count(const batcher *b); /* n_edges + 1 */
/* The bucket a record of token_len tokens goes to. */
int bertd_batcher_bucket_for(const batcher *b, int token_len);

/* Queues item at the back of its bucket; returns the bucket, or -1 when out of memory. */
int bertd_batcher_insert(batcher *b, int token_len, int64_t now_us, void *item);

/* Which bucket should run now (*bucket), and why. With flush_all, any non-empty bucket is due.
 * When several are due, the one whose oldest record has waited longest goes first, so a busy
 * bucket cannot starve a quiet one. */
batcher_reason bertd_batcher_due(const batcher *b, int64_t now_us, int flush_all, int *bucket);

/* The earliest time a bucket becomes due by waiting; INT64_MAX when nothing is queued. */
int64_t bertd_batcher_next_deadline(const batcher *b);

/* Removes one batch from the front of the bucket into items (at most cap): the longest prefix
 * within max_batch_records and max_batch_tokens, but always at least one record. Returns the
 * number taken. */
int bertd_batcher_take(batcher *b, int bucket, void **items, int cap);

int bertd_batcher_queued(const batcher *b, int bucket); /* records in one bucket */
int bertd_batcher_total(const batcher *b);              /* records in all buckets */
/* Padded cost of everything queued in the bucket: records x longest. */
int64_t bertd_batcher_padded_tokens(const batcher *b, int bucket);

const char *bertd_batcher_reason_name(batcher_reason r);

#endif
