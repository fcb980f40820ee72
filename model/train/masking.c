/* masking.c: MLM masks and NSP pairs for BERT pre-training (see bertd_masking.h for how this follows
 * and where it leaves Google's create_pretraining_data.py). */
#include "bertd_masking.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#define ERR(...) (snprintf(errstr, errstr_size, __VA_ARGS__), -1)

/* ---- MLM ---- */

int bertd_mlm_opts_init(bertd_mlm_opts *opts, const bertd_tokenizer *tok, int32_t specials[5],
                        char *errstr, size_t errstr_size) {
  const char which[5] = {'c', 's', 'p', 'm', 'u'};
  int n = 0;
  for (int i = 0; i < 5; i++) {
    int32_t id = bertd_tokenizer_special_id(tok, which[i]);
    if (id >= 0) specials[n++] = id;
  }
  int32_t mask = bertd_tokenizer_special_id(tok, 'm');
  if (mask < 0) return ERR("masking: the vocabulary has no [MASK] token");
  *opts = (bertd_mlm_opts){.mask_prob = 0.15, .mask_token_prob = 0.8, .random_token_prob = 0.1,
                           .max_predictions = 0, .mask_id = mask,
                           .vocab_size = bertd_tokenizer_vocab_size(tok), .special_ids = specials,
                           .n_special = n, .ignore_index = BERTD_IGNORE_INDEX};
  return 0;
}

static int is_special(const bertd_mlm_opts *o, int32_t id) {
  for (int i = 0; i < o->n_special; i++)
    if (o->special_ids[i] == id) return 1;
  return 0;
}

int bertd_mlm_mask(bertd_rng *rng, const bertd_mlm_opts *o, int32_t *ids, int32_t *labels,
                   int n, char *errstr, size_t errstr_size) {
  if (o->n_special >= o->vocab_size || o->vocab_size <= 0)
    return ERR("masking: no non-special token among vocab_size %d", (int)o->vocab_size);
  if (o->mask_prob < 0 || o->mask_prob > 1 || o->mask_token_prob < 0 ||
      o->random_token_prob < 0 || o->mask_token_prob + o->random_token_prob > 1)
    return ERR("masking: probabilities out of range (mask %g, [MASK] %g, random %g)",
               o->mask_prob, o->mask_token_prob, o->random_token_prob);
  /* The maskable positions, shuffled; the first num_to_predict are chosen. Shuffling keeps the
   * count exact per sequence where an independent coin per token would only be right on
   * average (that is what Google does; transformers' collator flips a coin per token). */
  int *cand = malloc(sizeof *cand * (size_t)(n > 0 ? n : 1));
  if (!cand) return ERR("masking: out of memory for %d tokens", n);
  int m = 0;
  for (int i = 0; i < n; i++) {
    labels[i] = o->ignore_index;
    if (!is_special(o, ids[i])) cand[m++] = i;
  }
  for (int i = m; i > 1; i--) {
    int j = (int)bertd_rng_below(rng, (uint64_t)i);
    int t = cand[i - 1];
    cand[i - 1] = cand[j];
    cand[j] = t;
  }
  int k = m ? (int)lround(o->mask_prob * m) : 0;
  if (m && k < 1 && o->mask_prob > 0) k = 1;
  if (o->max_predictions > 0 && k > o->max_predictions) k = o->max_predictions;
  for (int c = 0; c < k; c++) {
    int i = cand[c];
    labels[i] = ids[i];
    double r = bertd_rng_uniform(rng);
    if (r < o->mask_token_prob) {
      ids[i] = o->mask_id;
    } else if (r < o->mask_token_prob + o->random_token_prob) {
      int32_t t;
      do t = (int32_t)bertd_rng_below(rng, (uint64_t)o->vocab_size);
      while (is_special(o, t));
      ids[i] = t;
    } /* else: kept, the model must still predict it */
  }
  free(cand);
  return 0;
}

/* ---- the tokenized corpus ---- */

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

/* The offset arrays always hold their closing entry, so start them on first use. */
static int corpus_init(bertd_pretrain_corpus *c) {
  if (c->sentence_start) return 0;
  if (grow((void **)&c->sentence_start, &c->sentences_cap, 1, sizeof(size_t)) ||
      grow((void **)&c->document_start, &c->documents_cap, 1, sizeof(size_t)))
    return -1;
  c->sentence_start[0] = 0;
  c->document_start[0] = 0;
  return 0;
}

int bertd_pretrain_corpus_add_ids(bertd_pretrain_corpus *c, const int32_t *ids, size_t n,
                                  char *errstr, size_t errstr_size) {
  if (n == 0) return 0;
  if (corpus_init(c) ||
      grow((void **)&c->tokens, &c->tokens_cap, c->n_tokens + n, sizeof(int32_t)) ||
      grow((void **)&c->sentence_start, &c->sentences_cap, c->n_sentences + 2, sizeof(size_t)))
    return ERR("masking: out of memory for a corpus of %zu tokens", c->n_tokens + n);
  memcpy(c->tokens + c->n_tokens, ids, n * sizeof(int32_t));
  c->n_tokens += n;
  c->sentence_start[++c->n_sentences] = c->n_tokens;
  return 0;
}

int bertd_pretrain_corpus_add_sentence(bertd_pretrain_corpus *c, const bertd_tokenizer *tok,
                                       const char *text, size_t len, bertd_encoding *scratch,
                                       char *errstr, size_t errstr_size) {
  if (bertd_tokenizer_encode(tok, text, len, NULL, 0, 0, BERTD_TRUNC_LONGEST_FIRST, scratch,
                             errstr, errstr_size))
    return -1;
  /* [CLS] pieces [SEP]: keep the pieces */
  return scratch->n > 2 ? bertd_pretrain_corpus_add_ids(c, scratch->ids + 1, (size_t)scratch->n - 2,
                                                       errstr, errstr_size)
                        : 0;
}

void bertd_pretrain_corpus_end_document(bertd_pretrain_corpus *c) {
  if (corpus_init(c)) return; /* out of memory: the next add reports it */
  if (c->document_start[c->n_documents] == c->n_sentences) return;
  if (grow((void **)&c->document_start, &c->documents_cap, c->n_documents + 2, sizeof(size_t)))
    return;
  c->document_start[++c->n_documents] = c->n_sentences;
}

void bertd_pretrain_corpus_free(bertd_pretrain_corpus *c) {
  free(c->tokens);
  free(c->sentence_start);
  free(c->document_start);
  memset(c, 0, sizeof *c);
}

/* ---- NSP ---- */

typedef struct segment {
  int32_t *v;
  size_t n, cap;
  size_t off; /* first kept token: truncation at the front moves it */
} segment;

static int segment_append(segment *s, const int32_t *ids, size_t n) {
  if (grow((void **)&s->v, &s->cap, s->n + n, sizeof(int32_t))) return -1;
  memcpy(s->v + s->n, ids, n * sizeof(int32_t));
  s->n += n;
  return 0;
}

static size_t seg_len(const segment *s) { return s->n - s->off; }

static int append_sentences(segment *s, const bertd_pretrain_corpus *c, size_t from, size_t to) {
  for (size_t k = from; k < to; k++)
    if (segment_append(s, c->tokens + c->sentence_start[k],
                       c->sentence_start[k + 1] - c->sentence_start[k]))
      return -1;
  return 0;
}

/* Google's truncate_seq_pair: shorten the longer segment, at a random end, until they fit. */
static void truncate_pair(bertd_rng *rng, segment *a, segment *b, size_t max_tokens) {
  while (seg_len(a) + seg_len(b) > max_tokens) {
    segment *t = seg_len(a) > seg_len(b) ? a : b;
    if (bertd_rng_uniform(rng) < 0.5) t->off++;
    else t->n--;
  }
}

/* Grows the set for one more instance of n tokens; ids/type_ids share ids_cap and
 * start/is_random_next share cap, so each pair is reallocated together. */
static int set_reserve(bertd_nsp_set *out, size_t n) {
  if (out->n_ids + n > out->ids_cap) {
    size_t c = out->ids_cap ? out->ids_cap : 1024;
    while (c < out->n_ids + n) c *= 2;
    int32_t *ids = realloc(out->ids, c * sizeof(int32_t));
    if (!ids) return -1;
    out->ids = ids;
    int32_t *tt = realloc(out->type_ids, c * sizeof(int32_t));
    if (!tt) return -1;
    out->type_ids = tt;
    out->ids_cap = c;
  }
  if (out->n + 2 > out->cap) {
    size_t c = out->cap ? out->cap * 2 : 64;
    size_t *st = realloc(out->start, c * sizeof(size_t));
    if (!st) return -1;
    out->start = st;
    uint8_t *r = realloc(out->is_random_next, c);
    if (!r) return -1;
    out->is_random_next = r;
    out->cap = c;
  }
  return 0;
}

static int emit(bertd_nsp_set *out, const bertd_nsp_opts *o, const segment *a, const segment *b,
                int is_random) {
  size_t n = seg_len(a) + seg_len(b) + 3;
  if (set_reserve(out, n)) return -1;
  if (out->n == 0) out->start[0] = 0;
  int32_t *ids = out->ids + out->n_ids, *tt = out->type_ids + out->n_ids;
  size_t p = 0, na = seg_len(a), nb = seg_len(b);
  ids[p] = o->cls_id, tt[p++] = 0;
  memcpy(ids + p, a->v + a->off, na * sizeof(int32_t));
  for (size_t i = 0; i < na; i++) tt[p++] = 0;
  ids[p] = o->sep_id, tt[p++] = 0;
  memcpy(ids + p, b->v + b->off, nb * sizeof(int32_t));
  for (size_t i = 0; i < nb; i++) tt[p++] = 1;
  ids[p] = o->sep_id, tt[p++] = 1;
  out->n_ids += n;
  out->is_random_next[out->n] = (uint8_t)is_random;
  out->start[++out->n] = out->n_ids;
  return 0;
}

int bertd_nsp_create(bertd_rng *rng, const bertd_pretrain_corpus *c, const bertd_nsp_opts *o,
                     bertd_nsp_set *out, char *errstr, size_t errstr_size) {
  if (c->n_documents < 2)
    return ERR("masking: NSP needs at least 2 documents, the corpus has %zu", c->n_documents);
  if (o->max_length < 5)
    return ERR("masking: NSP max_length %d leaves no room for two segments", o->max_length);
  size_t max_tokens = (size_t)o->max_length - 3; /* [CLS] [SEP] [SEP] */
  segment a = {0}, b = {0};
  int rc = 0;
  for (size_t d = 0; d < c->n_documents && rc == 0; d++) {
    size_t first = c->document_start[d], end = c->document_start[d + 1];
    size_t target = max_tokens;
    if (bertd_rng_uniform(rng) < o->short_seq_prob)
      target = 2 + (size_t)bertd_rng_below(rng, max_tokens - 1); /* [2, max_tokens] */
    size_t chunk_start = first, chunk_len = 0;
    for (size_t i = first; i < end && rc == 0; i++) {
      chunk_len += c->sentence_start[i + 1] - c->sentence_start[i];
      if (i + 1 < end && chunk_len < target) continue;
      /* a lone last sentence joins this chunk rather than form one of its own */
      if (i + 2 == end) i++;
      size_t chunk_end = i + 1, n_sent = chunk_end - chunk_start;
      if (n_sent == 1 && chunk_start + 1 == end && end - first > 1) {
        /* only the last sentence, put back after a random pair: not used again (see .h) */
        break;
      }
      int is_random = bertd_rng_uniform(rng) < 0.5;
      if (!is_random && n_sent == 1) {
        if (chunk_end < end) chunk_end++, i++, n_sent++;
        else is_random = 1; /* a one-sentence document has no next sentence */
      }
      size_t a_end = 1;
      if (n_sent >= 2) a_end = 1 + (size_t)bertd_rng_below(rng, n_sent - 1);
      a.n = a.off = b.n = b.off = 0;
      if (append_sentences(&a, c, chunk_start, chunk_start + a_end)) rc = -1;
      if (!is_random) {
        if (append_sentences(&b, c, chunk_start + a_end, chunk_end)) rc = -1;
      } else {
        size_t other = (size_t)bertd_rng_below(rng, c->n_documents - 1);
        if (other >= d) other++;
        size_t of = c->document_start[other], oe = c->document_start[other + 1];
        size_t target_b = target > seg_len(&a) ? target - seg_len(&a) : 0;
        for (size_t j = of + (size_t)bertd_rng_below(rng, oe - of); j < oe && rc == 0; j++) {
          if (append_sentences(&b, c, j, j + 1)) rc = -1;
          if (seg_len(&b) >= target_b) break;
        }
        /* the chunk's sentences after A were not used: read them again */
        i = chunk_start + a_end - 1;
      }
      if (rc) break;
      truncate_pair(rng, &a, &b, max_tokens);
      if (emit(out, o, &a, &b, is_random)) rc = -1;
      chunk_start = i + 1;
      chunk_len = 0;
    }
  }
  free(a.v);
  free(b.v);
  if (rc) return ERR("masking: out of memory after %zu NSP pairs", out->n);
  return 0;
}

void bertd_nsp_set_free(bertd_nsp_set *s) {
  free(s->ids);
  free(s->type_ids);
  free(s->start);
  free(s->is_random_next);
  memset(s, 0, sizeof *s);
}
