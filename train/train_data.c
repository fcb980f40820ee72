/* train_data.c: tokenizing a dataset once, and bucketing an epoch's batches by length. */
#include "bertd_train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_masking.h"

/* Sequences per pool when bucketing: large enough that a pool's sorted lengths form tight
 * batches, small enough that an epoch still mixes short and long batches in time. */
#define POOL_BATCHES 50

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 64;
  while (c < need) c *= 2;
  void *q = realloc(*p, c * elem);
  if (!q) return -1;
  *p = q;
  *cap = c;
  return 0;
}

int bertd_train_set_build(bertd_train_set *set, const bertd_dataset *ds, bertd_ft_task task,
                          const bertd_tokenizer *tok, int max_length, char *errstr,
                          size_t errstr_size) {
  memset(set, 0, sizeof *set);
  set->ds = ds;
  set->task = task;
  int tags = task != BERTD_FT_CLASSIFY;
  /* JointBERT labels what it ignores with the "PAD" slot (id 0); transformers with -100 */
  int32_t ignore = task == BERTD_FT_JOINT ? 0 : BERTD_IGNORE_INDEX;
  bertd_encoding enc = {0};
  size_t cap_ids = 0, cap_types = 0, cap_words = 0, cap_labels = 0;
  set->seqs = calloc(ds->n ? ds->n : 1, sizeof *set->seqs);
  if (!set->seqs) goto oom;
  for (size_t i = 0; i < ds->n; i++) {
    const bertd_example *ex = &ds->examples[i];
    bertd_train_seq *s = &set->seqs[set->n];
    s->label = BERTD_IGNORE_INDEX;
    s->example = i;
    if (task != BERTD_FT_TAG) {
      if (ex->n_labels < 1) {
        snprintf(errstr, errstr_size, "example at line %zu has no label", ex->line);
        goto fail;
      }
      s->label = ex->labels[0];
    }
    if (tags && !ex->tags) {
      snprintf(errstr, errstr_size, "example at line %zu has no tags", ex->line);
      goto fail;
    }
    const char *pair = ex->text_pair;
    if (bertd_tokenizer_encode(tok, ex->text, strlen(ex->text), pair, pair ? strlen(pair) : 0,
                               max_length, BERTD_TRUNC_LONGEST_FIRST, &enc, errstr,
                               errstr_size))
      goto fail;
    if (enc.num_truncated) set->truncated++;
    size_t need = set->n_tokens + (size_t)enc.n;
    if (grow((void **)&set->ids, &cap_ids, need, sizeof(int32_t)) ||
        grow((void **)&set->type_ids, &cap_types, need, sizeof(int32_t)) ||
        grow((void **)&set->word_ids, &cap_words, need, sizeof(int32_t)) ||
        (tags && grow((void **)&set->token_labels, &cap_labels, need, sizeof(int32_t))))
      goto oom;
    s->off = set->n_tokens;
    s->len = enc.n;
    memcpy(set->ids + s->off, enc.ids, (size_t)enc.n * sizeof(int32_t));
    memcpy(set->type_ids + s->off, enc.type_ids, (size_t)enc.n * sizeof(int32_t));
    for (int t = 0; t < enc.n; t++)
      set->word_ids[s->off + (size_t)t] = enc.seq_ids[t] == 0 ? enc.word_ids[t] : -1;
    if (tags && bertd_align_word_labels(&enc, ex->tags, ex->n_words, ignore,
                                        set->token_labels + s->off, errstr, errstr_size))
      goto fail;
    set->n_tokens = need;
    set->n++;
  }
  bertd_encoding_free(&enc);
  return 0;
oom:
  snprintf(errstr, errstr_size, "out of memory tokenizing the dataset");
fail:
  bertd_encoding_free(&enc);
  bertd_train_set_free(set);
  return -1;
}

void bertd_train_set_free(bertd_train_set *set) {
  free(set->seqs);
  free(set->ids);
  free(set->type_ids);
  free(set->word_ids);
  free(set->token_labels);
  memset(set, 0, sizeof *set);
}

/* qsort has no context argument in C11: sort (len, index) pairs instead. */
typedef struct len_index {
  int len;
  size_t index;
} len_index;

static int by_len(const void *a, const void *b) {
  const len_index *x = a, *y = b;
  if (x->len != y->len) return x->len < y->len ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index; /* stable: keeps the shuffle */
}

int bertd_train_plan_epoch(bertd_train_plan *p, const bertd_train_set *set, int batch_size,
                           int bucket, bertd_rng *rng, char *errstr, size_t errstr_size) {
  bertd_train_plan_free(p);
  size_t n = set->n, bs = (size_t)batch_size;
  size_t nb = (n + bs - 1) / bs;
  p->order = malloc((n ? n : 1) * sizeof *p->order);
  p->start = malloc((nb + 1) * sizeof *p->start);
  size_t *perm = malloc((nb ? nb : 1) * sizeof *perm);
  len_index *li = malloc((n ? n : 1) * sizeof *li);
  size_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
  if (!p->order || !p->start || !perm || !li || !tmp) {
    free(perm), free(li), free(tmp);
    bertd_train_plan_free(p);
    snprintf(errstr, errstr_size, "out of memory planning an epoch");
    return -1;
  }
  for (size_t i = 0; i < n; i++) p->order[i] = i;
  if (rng) bertd_rng_shuffle(rng, p->order, n);
  if (rng && bucket) {
    size_t pool = bs * POOL_BATCHES;
    for (size_t a = 0; a < n; a += pool) {
      size_t m = n - a < pool ? n - a : pool;
      for (size_t i = 0; i < m; i++) {
        li[i].index = i; /* position in the shuffle: ties keep it */
        li[i].len = set->seqs[p->order[a + i]].len;
      }
      qsort(li, m, sizeof *li, by_len);
      for (size_t i = 0; i < m; i++) tmp[i] = p->order[a + li[i].index];
      memcpy(p->order + a, tmp, m * sizeof *tmp);
    }
    /* batches are cut on the sorted order, then their order shuffled; the last (short) batch
     * moves with the others */
    for (size_t i = 0; i < nb; i++) perm[i] = i;
    bertd_rng_shuffle(rng, perm, nb);
    size_t k = 0;
    for (size_t i = 0; i < nb; i++) {
      size_t a = perm[i] * bs, m = n - a < bs ? n - a : bs;
      memcpy(tmp + k, p->order + a, m * sizeof *tmp);
      p->start[i] = k;
      k += m;
    }
    memcpy(p->order, tmp, n * sizeof *tmp);
    p->start[nb] = n;
  } else {
    for (size_t i = 0; i <= nb; i++) p->start[i] = i * bs < n ? i * bs : n;
  }
  p->n_batches = nb;
  free(perm);
  free(li);
  free(tmp);
  return 0;
}

void bertd_train_plan_free(bertd_train_plan *p) {
  free(p->order);
  free(p->start);
  memset(p, 0, sizeof *p);
}

int bertd_batch_fill(const bertd_train_set *set, const bertd_train_plan *p, size_t i,
                     bertd_batch_buf *buf, bertd_train_batch *b, size_t *tokens, char *errstr,
                     size_t errstr_size) {
  size_t a = p->start[i], e = p->start[i + 1], N = 0;
  for (size_t k = a; k < e; k++) N += (size_t)set->seqs[p->order[k]].len;
  size_t B = e - a;
  if (B > buf->cap_seqs) {
    int *l = realloc(buf->lens, B * sizeof *l);
    if (l) buf->lens = l;
    int32_t *y = l ? realloc(buf->labels, B * sizeof *y) : NULL;
    if (y) buf->labels = y;
    if (!l || !y) goto oom;
    buf->cap_seqs = B;
  }
  if (N > buf->cap_tokens) {
    int32_t *x = realloc(buf->ids, N * sizeof *x);
    if (x) buf->ids = x;
    int32_t *t = x ? realloc(buf->type_ids, N * sizeof *t) : NULL;
    if (t) buf->type_ids = t;
    int32_t *z = t ? realloc(buf->token_labels, N * sizeof *z) : NULL;
    if (z) buf->token_labels = z;
    if (!x || !t || !z) goto oom;
    buf->cap_tokens = N;
  }
  size_t off = 0;
  for (size_t k = a; k < e; k++) {
    const bertd_train_seq *s = &set->seqs[p->order[k]];
    size_t len = (size_t)s->len;
    buf->lens[k - a] = s->len;
    buf->labels[k - a] = s->label;
    memcpy(buf->ids + off, set->ids + s->off, len * sizeof(int32_t));
    memcpy(buf->type_ids + off, set->type_ids + s->off, len * sizeof(int32_t));
    if (set->token_labels)
      memcpy(buf->token_labels + off, set->token_labels + s->off, len * sizeof(int32_t));
    off += len;
  }
  memset(b, 0, sizeof *b);
  b->B = (int)B;
  b->lens = buf->lens;
  b->ids = buf->ids;
  b->type_ids = buf->type_ids;
  if (set->task != BERTD_FT_TAG) b->y.labels = buf->labels;
  if (set->token_labels) b->y.token_labels = buf->token_labels;
  if (tokens) *tokens = N;
  return 0;
oom:
  snprintf(errstr, errstr_size, "out of memory filling a batch");
  return -1;
}

void bertd_batch_buf_free(bertd_batch_buf *buf) {
  free(buf->lens);
  free(buf->labels);
  free(buf->ids);
  free(buf->type_ids);
  free(buf->token_labels);
  memset(buf, 0, sizeof *buf);
}
