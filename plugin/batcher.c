/* batcher.c: length buckets as ring buffers, and the flush rules (see batcher.h). */
#include "batcher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
  void *item;
  int len;        /* tokens */
  int64_t t;      /* when it was queued */
} entry;

/* One bucket: a FIFO ring of entries. longest is the maximum len queued, kept so the padded
 * cost is O(1) to read; it is recomputed after a take (queues are short). */
typedef struct bucket {
  entry *ring;
  int head, count, cap;
  int longest;
} bucket;

struct batcher {
  batcher_opts o;
  int edges[BATCHER_MAX_EDGES];
  int nb;         /* n_edges + 1 */
  bucket *b;
  int total;
};

static entry *at(const bucket *q, int i) { return &q->ring[(q->head + i) % q->cap]; }

int bertd_batcher_create(const batcher_opts *o, batcher **out, char *errstr, size_t errstr_size) {
  *out = NULL;
  if (o->n_edges < 0 || o->n_edges > BATCHER_MAX_EDGES || (o->n_edges && !o->edges)) {
    snprintf(errstr, errstr_size, "buckets: between 0 and %d edges", BATCHER_MAX_EDGES);
    return -1;
  }
  for (int i = 0; i < o->n_edges; i++)
    if (o->edges[i] < 1 || (i > 0 && o->edges[i] <= o->edges[i - 1])) {
      snprintf(errstr, errstr_size, "buckets: edges must be positive and strictly ascending "
                                    "(edge %d is %d)", i, o->edges[i]);
      return -1;
    }
  if (o->max_batch_tokens < 1 || o->max_batch_records < 1 || o->max_wait_us < 0) {
    snprintf(errstr, errstr_size, "max_batch_tokens and max_batch_records must be at least 1, "
                                  "max_wait_ms at least 0");
    return -1;
  }
  batcher *b = calloc(1, sizeof(*b));
  if (!b || !(b->b = calloc((size_t)o->n_edges + 1, sizeof(bucket)))) {
    free(b);
    snprintf(errstr, errstr_size, "batcher: out of memory");
    return -1;
  }
  b->o = *o;
  if (o->n_edges) memcpy(b->edges, o->edges, sizeof(int) * (size_t)o->n_edges);
  b->o.edges = b->edges;
  b->nb = o->n_edges + 1;
  *out = b;
  return 0;
}

void bertd_batcher_free(batcher *b) {
  if (!b) return;
  for (int i = 0; i < b->nb; i++) free(b->b[i].ring);
  free(b->b);
  free(b);
}

int bertd_batcher_bucket_count(const batcher *b) { return b->nb; }

int bertd_batcher_bucket_for(const batcher *b, int token_len) {
  /* few edges: a linear scan reads plainer than a binary search and is as fast */
  for (int i = 0; i < b->o.n_edges; i++)
    if (token_len <= b->edges[i]) return i;
  return b->o.n_edges;
}

static int grow(bucket *q) {
  int cap = q->cap ? q->cap * 2 : 16;
  entry *r = malloc(sizeof(*r) * (size_t)cap);
  if (!r) return -1;
  for (int i = 0; i < q->count; i++) r[i] = *at(q, i);
  free(q->ring);
  q->ring = r;
  q->head = 0;
  q->cap = cap;
  return 0;
}

int bertd_batcher_insert(batcher *b, int token_len, int64_t now_us, void *item) {
  int k = bertd_batcher_bucket_for(b, token_len);
  bucket *q = &b->b[k];
  if (q->count == q->cap && grow(q)) return -1;
  *at(q, q->count) = (entry){item, token_len, now_us};
  q->count++;
  if (token_len > q->longest) q->longest = token_len;
  b->total++;
  return k;
}

static batcher_reason bucket_reason(const batcher *b, const bucket *q, int64_t now_us,
                                    int flush_all) {
  if (q->count == 0) return BATCHER_NOT_DUE;
  /* any further record, however short, widens the batch by one row of at least `longest` */
  if ((int64_t)(q->count + 1) * q->longest > b->o.max_batch_tokens) return BATCHER_DUE_TOKENS;
  if (q->count >= b->o.max_batch_records) return BATCHER_DUE_RECORDS;
  if (now_us - at(q, 0)->t >= b->o.max_wait_us) return BATCHER_DUE_WAIT;
  return flush_all ? BATCHER_DUE_FLUSH : BATCHER_NOT_DUE;
}

batcher_reason bertd_batcher_due(const batcher *b, int64_t now_us, int flush_all, int *bucket_out) {
  batcher_reason best = BATCHER_NOT_DUE;
  int64_t best_t = INT64_MAX;
  *bucket_out = -1;
  for (int i = 0; i < b->nb; i++) {
    const bucket *q = &b->b[i];
    batcher_reason r = bucket_reason(b, q, now_us, flush_all);
    if (r != BATCHER_NOT_DUE && at(q, 0)->t < best_t) {
      best = r;
      best_t = at(q, 0)->t;
      *bucket_out = i;
    }
  }
  return best;
}

int64_t bertd_batcher_next_deadline(const batcher *b) {
  int64_t d = INT64_MAX;
  for (int i = 0; i < b->nb; i++) {
    const bucket *q = &b->b[i];
    if (q->count && at(q, 0)->t + b->o.max_wait_us < d) d = at(q, 0)->t + b->o.max_wait_us;
  }
  return d;
}

int bertd_batcher_take(batcher *b, int k, void **items, int cap) {
  if (k < 0 || k >= b->nb || cap < 1) return 0;
  bucket *q = &b->b[k];
  int limit = cap < b->o.max_batch_records ? cap : b->o.max_batch_records;
  int n = 0, longest = 0;
  while (n < q->count && n < limit) {
    int len = at(q, n)->len, w = len > longest ? len : longest;
    if (n > 0 && (int64_t)(n + 1) * w > b->o.max_batch_tokens) break;
    longest = w;
    items[n] = at(q, n)->item;
    n++;
  }
  q->head = q->cap ? (q->head + n) % q->cap : 0;
  q->count -= n;
  b->total -= n;
  q->longest = 0;
  for (int i = 0; i < q->count; i++)
    if (at(q, i)->len > q->longest) q->longest = at(q, i)->len;
  return n;
}

int bertd_batcher_queued(const batcher *b, int k) { return k >= 0 && k < b->nb ? b->b[k].count : 0; }

int bertd_batcher_total(const batcher *b) { return b->total; }

int64_t bertd_batcher_padded_tokens(const batcher *b, int k) {
  return k >= 0 && k < b->nb ? (int64_t)b->b[k].count * b->b[k].longest : 0;
}

const char *bertd_batcher_reason_name(batcher_reason r) {
  switch (r) {
  case BATCHER_NOT_DUE: return "not due";
  case BATCHER_DUE_TOKENS: return "max_batch_tokens";
  case BATCHER_DUE_RECORDS: return "max_batch_records";
  case BATCHER_DUE_WAIT: return "max_wait_ms";
  case BATCHER_DUE_FLUSH: return "flush";
  }
  return "?";
}
