/* heads_train.c: task heads' training forward, losses and backward (see heads_train.h).
 *
 *   SEQ_CLS / MULTI_LABEL  logits (B,NL) = dropout(pooled) @ Wc^T + bc
 *   TOKEN_CLS              logits (N,NL) = dropout(hs[L]) @ Wc^T + bc
 *   JOINT                  intent (B,NI) = dropout(pooled) @ Wi^T + bi
 *                          slots  (N,NS) = dropout(hs[L]) @ Ws^T + bs
 *   MLM                    at the M labelled rows: x (M,H) = hs[L][rows];
 *                          logits (M,V) = LN(act(x @ Wd^T + bd)) @ word_emb^T + bias
 *   NSP                    logits (B,2) = pooled @ Wn^T + bn
 * Losses are transformers': a mean over the counted rows (losses.h). Computing the MLM logits
 * only at labelled rows gives the same loss and gradients as transformers' full (N,V) logits,
 * since unlabelled rows contribute nothing. */
#include "heads_train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"
#include "losses.h"
#include "bertd_rng.h"

#define IGNORE_INDEX (-100) /* torch.nn.CrossEntropyLoss's default, transformers' label padding */

enum { SITE_POOLED = 0, SITE_SEQUENCE = 1 }; /* + BERTD_SITE_HEADS */

void bertd_head_acts_free(bertd_head_acts *h) {
  if (!h) return;
  free(h->mem);
  free(h->mlm_rows);
  free(h->mlm_targets);
  free(h->mlm_in);
  memset(h, 0, sizeof *h);
}

int bertd_train_task_of(const bertd_checkpoint_config *cfg, bertd_train_task *task, char *errstr,
                        size_t errstr_size) {
  switch (cfg->arch) {
  case BERTD_ARCH_SEQ_CLS:
    if (cfg->problem_type == BERTD_PROBLEM_REGRESSION) break;
    *task = cfg->problem_type == BERTD_PROBLEM_MULTI_LABEL ? BERTD_TRAIN_MULTI_LABEL
                                                          : BERTD_TRAIN_SEQ_CLS;
    return 0;
  case BERTD_ARCH_TOKEN_CLS: *task = BERTD_TRAIN_TOKEN_CLS; return 0;
  case BERTD_ARCH_JOINT: *task = BERTD_TRAIN_JOINT; return 0;
  case BERTD_ARCH_MLM: *task = BERTD_TRAIN_MLM; return 0;
  case BERTD_ARCH_NSP: *task = BERTD_TRAIN_NSP; return 0;
  case BERTD_ARCH_PRETRAINING: *task = BERTD_TRAIN_PRETRAINING; return 0;
  default: break;
  }
  snprintf(errstr, errstr_size, "train: no training loss for %s%s", bertd_arch_name(cfg->arch),
           cfg->problem_type == BERTD_PROBLEM_REGRESSION ? " (regression)" : "");
  return -1;
}

static int reserve(bertd_head_acts *h, const bertd_checkpoint_config *cfg, int N, int B, char *errstr,
                   size_t errstr_size) {
  if (h->mem && N <= h->cap_tokens && B <= h->cap_batch) return 0;
  if (N < h->cap_tokens) N = h->cap_tokens;
  if (B < h->cap_batch) B = h->cap_batch;
  const size_t H = (size_t)cfg->hidden_size;
  size_t nb = (size_t)cfg->num_labels, nt = (size_t)cfg->num_labels;
  if ((size_t)cfg->num_intents > nb) nb = (size_t)cfg->num_intents;
  if ((size_t)cfg->num_slots > nt) nt = (size_t)cfg->num_slots;
  const size_t n = (size_t)N, b = (size_t)B;
  size_t total = b * H + n * H + b * nb + n * nt + b * 2 + n * H;
  float *mem = malloc(total * sizeof(float));
  if (!mem) {
    snprintf(errstr, errstr_size, "train: out of memory for head activations");
    return -1;
  }
  free(h->mem);
  h->mem = mem;
  h->pooled_drop = mem; mem += b * H;
  h->seq_drop = mem; mem += n * H;
  h->logits = mem; mem += b * nb;
  h->tok_logits = mem; mem += n * nt;
  h->nsp_logits = mem; mem += b * 2;
  h->g_seq = mem;
  h->cap_tokens = N;
  h->cap_batch = B;
  return 0;
}

static int reserve_mlm(bertd_head_acts *h, const bertd_checkpoint_config *cfg, int M, char *errstr,
                       size_t errstr_size) {
  if (M < 1) M = 1;
  if (h->mlm_in && M <= h->cap_rows) return 0;
  const size_t H = (size_t)cfg->hidden_size, V = (size_t)cfg->vocab_size, m = (size_t)M;
  int *rows = realloc(h->mlm_rows, m * sizeof *rows);
  if (rows) h->mlm_rows = rows;
  int32_t *tg = rows ? realloc(h->mlm_targets, m * sizeof *tg) : NULL;
  if (tg) h->mlm_targets = tg;
  float *mem = tg ? malloc((6 * m * H + 2 * m + m * V) * sizeof(float)) : NULL;
  if (!mem) {
    snprintf(errstr, errstr_size, "train: out of memory for %d masked-LM rows", M);
    return -1;
  }
  free(h->mlm_in);
  h->mlm_in = mem; mem += m * H;
  h->mlm_pre = mem; mem += m * H;
  h->mlm_act = mem; mem += m * H;
  h->mlm_ln = mem; mem += m * H;
  h->g_mlm_a = mem; mem += m * H;
  h->g_mlm_b = mem; mem += m * H;
  h->mlm_mean = mem; mem += m;
  h->mlm_rstd = mem; mem += m;
  h->mlm_logits = mem;
  h->cap_rows = M;
  return 0;
}

static int need(const void *p, const char *what, char *errstr, size_t errstr_size) {
  if (p) return 0;
  snprintf(errstr, errstr_size, "train: the model has no %s", what);
  return -1;
}

static int need_labels(const void *p, const char *what, char *errstr, size_t errstr_size) {
  if (p) return 0;
  snprintf(errstr, errstr_size, "train: the batch has no %s", what);
  return -1;
}

static uint64_t head_key(const bertd_dropout *d, int site) {
  return bertd_dropout_key(d->seed, d->pass, BERTD_SITE_HEADS + (uint64_t)site);
}

/* MLM head forward at the rows whose label is not -100 (all rows' logits are not needed). */
static int mlm_forward(const bertd_checkpoint_config *cfg, const bertd_weights *w, const bertd_train_acts *a,
                       bertd_head_acts *h, const int32_t *mlm_labels, float grad_scale,
                       double *loss, char *errstr, size_t errstr_size) {
  const int H = cfg->hidden_size, V = cfg->vocab_size, N = a->N;
  int M = 0;
  if (mlm_labels)
    for (int n = 0; n < N; n++) M += mlm_labels[n] != IGNORE_INDEX;
  if (reserve_mlm(h, cfg, M, errstr, errstr_size)) return -1;
  h->M = M;
  const float *hs = bertd_train_acts_hidden(a, cfg->num_hidden_layers);
  for (int n = 0, m = 0; mlm_labels && n < N; n++) {
    if (mlm_labels[n] == IGNORE_INDEX) continue;
    h->mlm_rows[m] = n;
    h->mlm_targets[m] = mlm_labels[n];
    memcpy(h->mlm_in + (size_t)m * H, hs + (size_t)n * H, sizeof(float) * (size_t)H);
    m++;
  }
  *loss = 0.0;
  if (M == 0) return 0;
  bertd_linear_forward(h->mlm_pre, h->mlm_in, w->mlm_dense_w, w->mlm_dense_b, M, H, H);
  memcpy(h->mlm_act, h->mlm_pre, sizeof(float) * (size_t)M * H);
  bertd_activation_forward(h->mlm_act, (size_t)M * H, cfg->hidden_act);
  layernorm_forward_train(h->mlm_ln, h->mlm_mean, h->mlm_rstd, h->mlm_act, w->mlm_ln_g,
                          w->mlm_ln_b, M, H, cfg->layer_norm_eps);
  bertd_linear_forward(h->mlm_logits, h->mlm_ln, w->mlm_decoder_w, w->mlm_bias, M, H, V);
  int count;
  return bertd_cross_entropy_loss(h->mlm_logits, h->mlm_targets, M, V, IGNORE_INDEX, grad_scale,
                            grad_scale != 0.0f ? h->mlm_logits : NULL, loss, &count, errstr,
                            errstr_size);
}

static long count_not(const int32_t *x, int a, int e, int32_t ignore) {
  long c = 0;
  for (int i = a; x && i < e; i++) c += x[i] != ignore;
  return c;
}

void bertd_heads_loss_rows(bertd_train_task task, const bertd_train_labels *y,
                           int slot_ignore_index, int b0, int b1, int n0, int n1, long *main,
                           long *aux) {
  *main = *aux = 0;
  switch (task) {
  case BERTD_TRAIN_SEQ_CLS: *main = count_not(y->labels, b0, b1, IGNORE_INDEX); break;
  case BERTD_TRAIN_MULTI_LABEL: *main = b1 - b0; break;
  case BERTD_TRAIN_TOKEN_CLS: *main = count_not(y->token_labels, n0, n1, IGNORE_INDEX); break;
  case BERTD_TRAIN_JOINT:
    *main = count_not(y->labels, b0, b1, IGNORE_INDEX);
    *aux = count_not(y->token_labels, n0, n1, slot_ignore_index);
    break;
  case BERTD_TRAIN_MLM:
  case BERTD_TRAIN_NSP:
  case BERTD_TRAIN_PRETRAINING:
    if (task != BERTD_TRAIN_NSP) *main = count_not(y->mlm_labels, n0, n1, IGNORE_INDEX);
    if (task != BERTD_TRAIN_MLM) *aux = count_not(y->nsp_labels, b0, b1, IGNORE_INDEX);
    break;
  }
}

int bertd_heads_train_forward(const bertd_checkpoint_config *cfg, const bertd_weights *w,
                              bertd_train_task task, const bertd_train_acts *a,
                              bertd_head_acts *h, const bertd_train_labels *y,
                              int slot_ignore_index, float slot_loss_coef,
                              const bertd_loss_share *share, float grad_scale, double *loss,
                              char *errstr, size_t errstr_size) {
  const int H = cfg->hidden_size, B = a->B, N = a->N;
  const float *hs = bertd_train_acts_hidden(a, cfg->num_hidden_layers);
  const bertd_dropout *d = &a->drop;
  if (reserve(h, cfg, N, B, errstr, errstr_size)) return -1;
  h->grad_ready = 0;
  h->M = 0;
  h->loss = h->loss_main = h->loss_aux = 0.0;
  const int grad = y && grad_scale != 0.0f;
  /* each loss's gradient scale: a slice's mean counts for its share of the batch's */
  const double sm = share ? share->main : 1.0, sa = share ? share->aux : 1.0;
  const float gm = (float)(grad_scale * sm), ga = (float)(grad_scale * sa);
  int count;
  switch (task) {
  case BERTD_TRAIN_SEQ_CLS:
  case BERTD_TRAIN_MULTI_LABEL: {
    const int NL = cfg->num_labels;
    if (need(w->cls_w, "classifier", errstr, errstr_size) ||
        need(w->pooler_w, "pooler", errstr, errstr_size))
      return -1;
    bertd_dropout_forward(h->pooled_drop, a->pooled, (size_t)B * H, d->classifier, head_key(d, SITE_POOLED),
                    d->seq_first * H);
    bertd_linear_forward(h->logits, h->pooled_drop, w->cls_w, w->cls_b, B, H, NL);
    if (!y) break;
    if (task == BERTD_TRAIN_SEQ_CLS) {
      if (need_labels(y->labels, "labels", errstr, errstr_size) ||
          bertd_cross_entropy_loss(h->logits, y->labels, B, NL, IGNORE_INDEX, gm,
                             grad ? h->logits : NULL, &h->loss_main, &count, errstr, errstr_size))
        return -1;
    } else {
      if (need_labels(y->multi_labels, "multi_labels", errstr, errstr_size)) return -1;
      bertd_bce_with_logits_loss(h->logits, y->multi_labels, B, NL, gm, grad ? h->logits : NULL,
                           &h->loss_main);
    }
    break;
  }
  case BERTD_TRAIN_TOKEN_CLS: {
    const int NL = cfg->num_labels;
    if (need(w->cls_w, "classifier", errstr, errstr_size)) return -1;
    bertd_dropout_forward(h->seq_drop, hs, (size_t)N * H, d->classifier, head_key(d, SITE_SEQUENCE),
                    d->tok_first * H);
    bertd_linear_forward(h->tok_logits, h->seq_drop, w->cls_w, w->cls_b, N, H, NL);
    if (!y) break;
    if (need_labels(y->token_labels, "token_labels", errstr, errstr_size) ||
        bertd_cross_entropy_loss(h->tok_logits, y->token_labels, N, NL, IGNORE_INDEX, gm,
                           grad ? h->tok_logits : NULL, &h->loss_main, &count, errstr, errstr_size))
      return -1;
    break;
  }
  case BERTD_TRAIN_JOINT: {
    const int NI = cfg->num_intents, NS = cfg->num_slots;
    if (need(w->intent_w, "intent classifier", errstr, errstr_size) ||
        need(w->slot_w, "slot classifier", errstr, errstr_size) ||
        need(w->pooler_w, "pooler", errstr, errstr_size))
      return -1;
    bertd_dropout_forward(h->pooled_drop, a->pooled, (size_t)B * H, d->classifier, head_key(d, SITE_POOLED),
                    d->seq_first * H);
    bertd_linear_forward(h->logits, h->pooled_drop, w->intent_w, w->intent_b, B, H, NI);
    bertd_dropout_forward(h->seq_drop, hs, (size_t)N * H, d->classifier, head_key(d, SITE_SEQUENCE),
                    d->tok_first * H);
    bertd_linear_forward(h->tok_logits, h->seq_drop, w->slot_w, w->slot_b, N, H, NS);
    if (!y) break;
    if (need_labels(y->labels, "labels (intents)", errstr, errstr_size) ||
        need_labels(y->token_labels, "token_labels (slots)", errstr, errstr_size) ||
        bertd_cross_entropy_loss(h->logits, y->labels, B, NI, IGNORE_INDEX, gm,
                           grad ? h->logits : NULL, &h->loss_main, &count, errstr, errstr_size) ||
        bertd_cross_entropy_loss(h->tok_logits, y->token_labels, N, NS, slot_ignore_index,
                           ga * slot_loss_coef, grad ? h->tok_logits : NULL, &h->loss_aux,
                           &count, errstr, errstr_size))
      return -1;
    break;
  }
  case BERTD_TRAIN_MLM:
  case BERTD_TRAIN_PRETRAINING:
  case BERTD_TRAIN_NSP:
    if (task != BERTD_TRAIN_NSP) {
      if (need(w->mlm_dense_w, "masked-LM head", errstr, errstr_size) ||
          (y && need_labels(y->mlm_labels, "mlm_labels", errstr, errstr_size)) ||
          mlm_forward(cfg, w, a, h, y ? y->mlm_labels : NULL, grad ? gm : 0.0f,
                      &h->loss_main, errstr, errstr_size))
        return -1;
    }
    if (task != BERTD_TRAIN_MLM) {
      if (need(w->nsp_w, "next-sentence head", errstr, errstr_size) ||
          need(w->pooler_w, "pooler", errstr, errstr_size))
        return -1;
      bertd_linear_forward(h->nsp_logits, a->pooled, w->nsp_w, w->nsp_b, B, H, 2);
      if (y && (need_labels(y->nsp_labels, "nsp_labels", errstr, errstr_size) ||
                bertd_cross_entropy_loss(h->nsp_logits, y->nsp_labels, B, 2, IGNORE_INDEX, ga,
                                   grad ? h->nsp_logits : NULL, &h->loss_aux, &count, errstr,
                                   errstr_size)))
        return -1;
    }
    break;
  }
  h->loss_main *= sm;
  h->loss_aux *= sa;
  h->loss = h->loss_main + (task == BERTD_TRAIN_JOINT ? slot_loss_coef : 1.0f) * h->loss_aux;
  h->grad_ready = grad;
  if (loss) *loss = h->loss;
  return 0;
}

void bertd_heads_train_backward(const bertd_checkpoint_config *cfg, const bertd_weights *w,
                                bertd_weights *grads, bertd_train_task task,
                                bertd_train_acts *a, bertd_head_acts *h) {
  const int H = cfg->hidden_size, B = a->B, N = a->N;
  const bertd_dropout *d = &a->drop;
  if (!h->grad_ready) return;
  switch (task) {
  case BERTD_TRAIN_SEQ_CLS:
  case BERTD_TRAIN_MULTI_LABEL:
    /* logits = dropout(pooled) @ Wc^T + bc; g_seq (B,H) = d dropout(pooled) */
    memset(h->g_seq, 0, sizeof(float) * (size_t)B * H);
    bertd_linear_backward(h->g_seq, grads->cls_w, grads->cls_b, h->logits, h->pooled_drop, w->cls_w, B,
                    H, cfg->num_labels);
    bertd_dropout_backward(h->g_seq, h->g_seq, (size_t)B * H, d->classifier, head_key(d, SITE_POOLED),
                    d->seq_first * H);
    for (size_t i = 0; i < (size_t)B * H; i++) a->dpooled[i] += h->g_seq[i];
    break;
  case BERTD_TRAIN_TOKEN_CLS:
    memset(h->g_seq, 0, sizeof(float) * (size_t)N * H);
    bertd_linear_backward(h->g_seq, grads->cls_w, grads->cls_b, h->tok_logits, h->seq_drop, w->cls_w, N,
                    H, cfg->num_labels);
    bertd_dropout_backward(h->g_seq, h->g_seq, (size_t)N * H, d->classifier, head_key(d, SITE_SEQUENCE),
                    d->tok_first * H);
    for (size_t i = 0; i < (size_t)N * H; i++) a->dh[i] += h->g_seq[i];
    break;
  case BERTD_TRAIN_JOINT:
    memset(h->g_seq, 0, sizeof(float) * (size_t)B * H);
    bertd_linear_backward(h->g_seq, grads->intent_w, grads->intent_b, h->logits, h->pooled_drop,
                    w->intent_w, B, H, cfg->num_intents);
    bertd_dropout_backward(h->g_seq, h->g_seq, (size_t)B * H, d->classifier, head_key(d, SITE_POOLED),
                    d->seq_first * H);
    for (size_t i = 0; i < (size_t)B * H; i++) a->dpooled[i] += h->g_seq[i];
    memset(h->g_seq, 0, sizeof(float) * (size_t)N * H);
    bertd_linear_backward(h->g_seq, grads->slot_w, grads->slot_b, h->tok_logits, h->seq_drop, w->slot_w,
                    N, H, cfg->num_slots);
    bertd_dropout_backward(h->g_seq, h->g_seq, (size_t)N * H, d->classifier, head_key(d, SITE_SEQUENCE),
                    d->tok_first * H);
    for (size_t i = 0; i < (size_t)N * H; i++) a->dh[i] += h->g_seq[i];
    break;
  case BERTD_TRAIN_MLM:
  case BERTD_TRAIN_PRETRAINING:
  case BERTD_TRAIN_NSP:
    if (task != BERTD_TRAIN_NSP && h->M > 0) {
      const int M = h->M;
      /* decoder (tied: grads->mlm_decoder_w is the word-embedding gradient) */
      float *ga = h->g_mlm_a, *gb = h->g_mlm_b;
      memset(ga, 0, sizeof(float) * (size_t)M * H);
      bertd_linear_backward(ga, grads->mlm_decoder_w, grads->mlm_bias, h->mlm_logits, h->mlm_ln,
                      w->mlm_decoder_w, M, H, cfg->vocab_size);
      memset(gb, 0, sizeof(float) * (size_t)M * H);
      layernorm_backward(gb, grads->mlm_ln_g, grads->mlm_ln_b, ga, h->mlm_act, w->mlm_ln_g,
                         h->mlm_mean, h->mlm_rstd, M, H);
      bertd_activation_backward(gb, gb, h->mlm_pre, (size_t)M * H, cfg->hidden_act);
      memset(ga, 0, sizeof(float) * (size_t)M * H);
      bertd_linear_backward(ga, grads->mlm_dense_w, grads->mlm_dense_b, gb, h->mlm_in, w->mlm_dense_w, M,
                      H, H);
      for (int m = 0; m < M; m++) {
        float *dst = a->dh + (size_t)h->mlm_rows[m] * H;
        const float *src = ga + (size_t)m * H;
        for (int i = 0; i < H; i++) dst[i] += src[i];
      }
    }
    if (task != BERTD_TRAIN_MLM)
      bertd_linear_backward(a->dpooled, grads->nsp_w, grads->nsp_b, h->nsp_logits, a->pooled, w->nsp_w,
                      B, H, 2);
    break;
  }
}
