/* session.c: one thread's activations and head outputs for a batch of encodings. */
#include "model.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heads.h"

int bertd_session_create(const bertd_model *m, bertd_session **out, char *errstr,
                         size_t errstr_size) {
  bertd_session *s = calloc(1, sizeof(*s));
  if (!s) {
    snprintf(errstr, errstr_size, "session: out of memory");
    return -1;
  }
  s->m = m;
  /* OpenBLAS's thread count (OPENBLAS_NUM_THREADS, else the cores) until the host says */
  s->threads = openblas_get_num_threads();
  *out = s;
  return 0;
}

void bertd_session_set_threads(bertd_session *s, int threads) {
  s->threads = threads < 1 ? 1 : threads;
}

void bertd_session_free(bertd_session *s) {
  if (!s) return;
  bertd_acts_free(&s->a);
  free(s->ids); free(s->type_ids); free(s->lens);
  free(s->cls_logits); free(s->tok_logits); free(s->qa_start); free(s->qa_end);
  free(s->nsp_logits); free(s->intent_logits); free(s->slot_logits);
  free(s->mask_rows); free(s->mlm_logits); free(s->mlm_scratch);
  free(s);
}

/* the model's packed encoder weights, or NULL for OpenBLAS on its own */
static const bertd_packed_encoder *packed(const bertd_model *m) {
  return m->pe.layers ? &m->pe : NULL;
}

static int fgrow(float **p, size_t n) {
  float *q = realloc(*p, (n ? n : 1) * sizeof(float));
  if (!q) return -1;
  *p = q;
  return 0;
}

/* Sizes every per-batch buffer for B sequences of N tokens in all (M of them [MASK]). */
static int reserve(bertd_session *s, int B, int N, int M) {
  const bertd_checkpoint_config *c = &s->m->cfg;
  const bertd_weights *w = &s->m->w;
  if (N > s->cap_tokens) {
    int32_t *a = realloc(s->ids, sizeof(int32_t) * (size_t)N);
    if (a) s->ids = a;
    int32_t *t = a ? realloc(s->type_ids, sizeof(int32_t) * (size_t)N) : NULL;
    if (t) s->type_ids = t;
    if (!a || !t) return -1;
    if (w->cls_w && fgrow(&s->tok_logits, (size_t)N * c->num_labels)) return -1;
    if (w->qa_w && (fgrow(&s->qa_start, (size_t)N) || fgrow(&s->qa_end, (size_t)N))) return -1;
    if (w->slot_w && fgrow(&s->slot_logits, (size_t)N * c->num_slots)) return -1;
    s->cap_tokens = N;
  }
  if (B > s->cap_batch) {
    int *l = realloc(s->lens, sizeof(int) * (size_t)B);
    if (!l) return -1;
    s->lens = l;
    if (w->cls_w && fgrow(&s->cls_logits, (size_t)B * c->num_labels)) return -1;
    if (w->nsp_w && fgrow(&s->nsp_logits, (size_t)B * 2)) return -1;
    if (w->intent_w && fgrow(&s->intent_logits, (size_t)B * c->num_intents)) return -1;
    s->cap_batch = B;
  }
  if (M > s->cap_mask) {
    int *r = realloc(s->mask_rows, sizeof(int) * (size_t)M);
    if (!r) return -1;
    s->mask_rows = r;
    if (fgrow(&s->mlm_logits, (size_t)M * c->vocab_size) ||
        fgrow(&s->mlm_scratch, (size_t)2 * M * c->hidden_size))
      return -1;
    s->cap_mask = M;
  }
  return 0;
}

int bertd_session_forward_ids(bertd_session *s, int B, const int *lens, const int32_t *ids,
                              const int32_t *type_ids, char *errstr, size_t errstr_size) {
  s->encs = NULL;
  s->B = s->hidden_B = 0;
  if (bertd_encoder_forward_threads(&s->m->cfg, &s->m->w, packed(s->m), s->m->lowp, &s->a, B, lens, ids, type_ids,
                                    s->threads, errstr, errstr_size))
    return -1;
  s->hidden_B = B; /* no heads ran: their results stay unreadable (s->B 0) */
  return 0;
}

int bertd_session_forward(bertd_session *s, const bertd_encoding *const *encs, int B,
                          char *errstr, size_t errstr_size) {
  const bertd_model *m = s->m;
  const bertd_checkpoint_config *c = &m->cfg;
  const bertd_weights *w = &m->w;
  s->encs = NULL;
  s->B = s->hidden_B = 0;
  if (B < 1) {
    snprintf(errstr, errstr_size, "forward: empty batch");
    return -1;
  }
  int N = 0, M = 0;
  const int32_t mask_id = w->mlm_dense_w ? bertd_tokenizer_special_id(m->tok, 'm') : -1;
  for (int b = 0; b < B; b++) {
    if (encs[b]->n < 1 || encs[b]->n > c->max_position_embeddings) {
      snprintf(errstr, errstr_size, "forward: sequence %d has %d tokens (max %d)", b, encs[b]->n,
               c->max_position_embeddings);
      return -1;
    }
    N += encs[b]->n;
    if (mask_id >= 0)
      for (int t = 0; t < encs[b]->n; t++) M += encs[b]->ids[t] == mask_id;
  }
  if (reserve(s, B, N, M)) {
    snprintf(errstr, errstr_size, "forward: out of memory for %d sequences, %d tokens", B, N);
    return -1;
  }
  /* pack (B, len_b) -> (N) */
  for (int b = 0, n = 0; b < B; b++) {
    const bertd_encoding *e = encs[b];
    memcpy(s->ids + n, e->ids, sizeof(int32_t) * (size_t)e->n);
    memcpy(s->type_ids + n, e->type_ids, sizeof(int32_t) * (size_t)e->n);
    s->lens[b] = e->n;
    n += e->n;
  }
  if (mask_id >= 0) { /* the packed rows of every [MASK]: the only rows MLM decodes */
    int j = 0;
    for (int r = 0; r < N; r++)
      if (s->ids[r] == mask_id) s->mask_rows[j++] = r;
  }
  if (bertd_encoder_forward_threads(c, w, packed(m), m->lowp, &s->a, B, s->lens, s->ids, s->type_ids, s->threads,
                                    errstr, errstr_size))
    return -1;
  if (w->cls_w) {
    if (c->arch == BERTD_ARCH_TOKEN_CLS) {
      if (bertd_head_token_cls(c, w, &s->a, s->tok_logits, errstr, errstr_size)) return -1;
    } else if (w->pooler_w) {
      if (bertd_head_seq_cls(c, w, &s->a, s->cls_logits, errstr, errstr_size)) return -1;
    }
  }
  if (w->qa_w && bertd_head_qa(c, w, &s->a, s->qa_start, s->qa_end, errstr, errstr_size))
    return -1;
  if (w->nsp_w && w->pooler_w &&
      bertd_head_nsp(c, w, &s->a, s->nsp_logits, errstr, errstr_size))
    return -1;
  if (w->intent_w && w->slot_w &&
      bertd_head_joint(c, w, &s->a, s->intent_logits, s->slot_logits, errstr, errstr_size))
    return -1;
  s->M = M;
  if (M > 0 && bertd_head_mlm(c, w, &s->a, s->mask_rows, M, s->mlm_logits, s->mlm_scratch,
                              errstr, errstr_size))
    return -1;
  s->encs = encs;
  s->B = s->hidden_B = B;
  s->N = N;
  return 0;
}

const float *bertd_session_hidden(const bertd_session *s, int b, int *len) {
  if (b < 0 || b >= s->hidden_B) return NULL;
  if (len) *len = s->a.lens[b];
  return s->a.x + (size_t)s->a.starts[b] * s->m->cfg.hidden_size;
}

const float *bertd_session_pooled(const bertd_session *s, int b) {
  if (b < 0 || b >= s->hidden_B || !s->m->w.pooler_w) return NULL;
  return s->a.pooled + (size_t)b * s->m->cfg.hidden_size;
}

const float *bertd_session_logits(const bertd_session *s, int b, const char *which, int *n) {
  if (b < 0 || b >= s->B) return NULL;
  const bertd_checkpoint_config *c = &s->m->cfg;
  const bertd_weights *w = &s->m->w;
  const int len = s->a.lens[b], start = s->a.starts[b];
  *n = 0;
  if (!strcmp(which, "classify") && w->cls_w && c->arch != BERTD_ARCH_TOKEN_CLS && w->pooler_w) {
    *n = c->num_labels;
    return s->cls_logits + (size_t)b * c->num_labels;
  }
  if (!strcmp(which, "tag") && w->cls_w && c->arch == BERTD_ARCH_TOKEN_CLS) {
    *n = len * c->num_labels;
    return s->tok_logits + (size_t)start * c->num_labels;
  }
  if (!strcmp(which, "start") && w->qa_w) {
    *n = len;
    return s->qa_start + start;
  }
  if (!strcmp(which, "end") && w->qa_w) {
    *n = len;
    return s->qa_end + start;
  }
  if (!strcmp(which, "nsp") && w->nsp_w && w->pooler_w) {
    *n = 2;
    return s->nsp_logits + (size_t)b * 2;
  }
  if (!strcmp(which, "intent") && w->intent_w) {
    *n = c->num_intents;
    return s->intent_logits + (size_t)b * c->num_intents;
  }
  if (!strcmp(which, "mlm") && w->mlm_dense_w) {
    /* (M_b,V): the rows of this sequence's [MASK] tokens, in position order */
    int first = -1, count = 0;
    for (int j = 0; j < s->M; j++)
      if (s->mask_rows[j] >= start && s->mask_rows[j] < start + len) {
        if (first < 0) first = j;
        count++;
      }
    *n = count * c->vocab_size;
    return count ? s->mlm_logits + (size_t)first * c->vocab_size : NULL;
  }
  if (!strcmp(which, "slots") && w->slot_w) {
    *n = len * c->num_slots;
    return s->slot_logits + (size_t)start * c->num_slots;
  }
  return NULL;
}

/* One forward on B synthetic sequences of T tokens: [CLS] [UNK]... [SEP]. */
static int warm_pass(bertd_session *s, int B, int T, char *errstr, size_t errstr_size) {
  const bertd_tokenizer *tok = s->m->tok;
  bertd_encoding *encs = calloc((size_t)B, sizeof(*encs));
  const bertd_encoding **ptrs = calloc((size_t)B, sizeof(*ptrs));
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)T), *types = calloc((size_t)T, sizeof(int32_t));
  int rc = -1;
  if (!encs || !ptrs || !ids || !types) {
    snprintf(errstr, errstr_size, "warm-up: out of memory for %d sequences of %d tokens", B, T);
    goto out;
  }
  for (int t = 0; t < T; t++) ids[t] = bertd_tokenizer_special_id(tok, 'u');
  ids[0] = bertd_tokenizer_special_id(tok, 'c');
  if (T > 1) ids[T - 1] = bertd_tokenizer_special_id(tok, 's');
  for (int b = 0; b < B; b++) { /* the buffers are shared: forward only reads ids and type ids */
    encs[b].n = T;
    encs[b].ids = ids;
    encs[b].type_ids = types;
    ptrs[b] = &encs[b];
  }
  rc = bertd_session_forward(s, ptrs, B, errstr, errstr_size);
out:
  free(encs); free(ptrs); free(ids); free(types);
  s->encs = NULL; /* the synthetic encodings are gone: no results may be read from them */
  s->B = s->hidden_B = 0;
  return rc;
}

int bertd_session_warm_up(bertd_session *s, int max_batch, int max_tokens, int max_len,
                          char *errstr, size_t errstr_size) {
  const int P = s->m->cfg.max_position_embeddings;
  if (max_batch < 1 || max_tokens < 1 || max_len < 1) {
    snprintf(errstr, errstr_size, "warm-up: batch %d, tokens %d, length %d must be positive",
             max_batch, max_tokens, max_len);
    return -1;
  }
  if (max_len > P) max_len = P;
  if (max_tokens < max_len) max_tokens = max_len; /* one sequence may always be max_len long */
  /* the longest sequences (attention scores at their largest), then the most sequences */
  int b1 = max_tokens / max_len;
  if (b1 > max_batch) b1 = max_batch;
  int t2 = max_tokens / max_batch;
  if (t2 > max_len) t2 = max_len;
  if (t2 < 2) t2 = 2 > max_len ? max_len : 2;
  if (warm_pass(s, b1 < 1 ? 1 : b1, max_len, errstr, errstr_size)) return -1;
  return warm_pass(s, max_batch, t2, errstr, errstr_size);
}
