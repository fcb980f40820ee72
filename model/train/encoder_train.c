/* encoder_train.c: the encoder's training forward (keeping activations) and its backward.
 *
 * Forward of layer l, x = hs[l] (N,H):
 *   q, k, v = x @ W{q,k,v}^T + b              (N,H) each
 *   ctx     = attention(q, k, v)               (N,H), dropout on the probabilities
 *   res1    = dropout(ctx @ Wo^T + bo) + x     (N,H)
 *   ln1     = LayerNorm1(res1)
 *   fch     = ln1 @ Wi^T + bi                  (N,I); fch_act = act(fch)
 *   res2    = dropout(fch_act @ Wout^T + bout) + ln1
 *   hs[l+1] = LayerNorm2(res2)
 * The backward walks the same steps in reverse; see layer_backward. */
#include "encoder_train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "layers.h"
#include "bertd_rng.h"

static size_t block_floats(const bertd_checkpoint_config *cfg, int N, int B, int T, size_t att) {
  const size_t H = (size_t)cfg->hidden_size, I = (size_t)cfg->intermediate_size;
  const size_t L = (size_t)cfg->num_hidden_layers, n = (size_t)N, b = (size_t)B;
  size_t per_layer = 7 * n * H + att + 4 * n + 2 * n * I;
  return n * H + 2 * n + (L + 1) * n * H + L * per_layer + 2 * b * H + 6 * n * H + n * I +
         2 * (size_t)T * (size_t)T + 2 * b * H;
}

/* Points every buffer into a->mem for the current capacities. */
static void carve(bertd_train_acts *a, const bertd_checkpoint_config *cfg) {
  const size_t H = (size_t)cfg->hidden_size, I = (size_t)cfg->intermediate_size;
  const size_t n = (size_t)a->cap_tokens, b = (size_t)a->cap_batch, T = (size_t)a->cap_len;
  float *p = a->mem;
#define TAKE(field, count) (a->field = p, p += (count))
  TAKE(emb_sum, n * H);
  TAKE(emb_mean, n);
  TAKE(emb_rstd, n);
  TAKE(hs, ((size_t)a->num_layers + 1) * n * H);
  for (int l = 0; l < a->num_layers; l++) {
    bertd_layer_acts *la = &a->layers[l];
#define LTAKE(field, count) (la->field = p, p += (count))
    LTAKE(q, n * H); LTAKE(k, n * H); LTAKE(v, n * H);
    LTAKE(att, a->cap_att);
    LTAKE(ctx, n * H); LTAKE(res1, n * H); LTAKE(mean1, n); LTAKE(rstd1, n); LTAKE(ln1, n * H);
    LTAKE(fch, n * I); LTAKE(fch_act, n * I);
    LTAKE(res2, n * H); LTAKE(mean2, n); LTAKE(rstd2, n);
#undef LTAKE
  }
  TAKE(cls, b * H);
  TAKE(pooled, b * H);
  TAKE(dh, n * H);
  TAKE(g_res, n * H); TAKE(g_ctx, n * H); TAKE(g_q, n * H); TAKE(g_k, n * H); TAKE(g_v, n * H);
  TAKE(g_fch, n * I);
  TAKE(g_att, 2 * T * T);
  TAKE(dpooled, b * H);
  TAKE(g_cls, b * H);
#undef TAKE
}

int bertd_train_acts_reserve(bertd_train_acts *a, const bertd_checkpoint_config *cfg, int tokens,
                             int max_len, int batch, size_t att, char *errstr,
                             size_t errstr_size) {
  if (tokens < 1) tokens = 1;
  if (max_len < 1) max_len = 1;
  if (batch < 1) batch = 1;
  if (att < 1) att = 1;
  if (!a->layers) {
    a->layers = calloc((size_t)cfg->num_hidden_layers, sizeof *a->layers);
    if (!a->layers) {
      snprintf(errstr, errstr_size, "train: out of memory for layer activations");
      return -1;
    }
    a->num_layers = cfg->num_hidden_layers;
    a->H = cfg->hidden_size;
  }
  if (tokens <= a->cap_tokens && max_len <= a->cap_len && batch <= a->cap_batch &&
      att <= a->cap_att && a->mem)
    return 0;
  int N = tokens > a->cap_tokens ? tokens : a->cap_tokens;
  int T = max_len > a->cap_len ? max_len : a->cap_len;
  int B = batch > a->cap_batch ? batch : a->cap_batch;
  size_t A = att > a->cap_att ? att : a->cap_att;
  int *lens = realloc(a->lens, sizeof(int) * (size_t)B);
  if (lens) a->lens = lens;
  size_t n = block_floats(cfg, N, B, T, A);
  float *mem = lens ? malloc(n * sizeof(float)) : NULL;
  if (!mem) {
    snprintf(errstr, errstr_size, "train: out of memory for %zu MB of activations",
             n * sizeof(float) >> 20);
    return -1;
  }
  free(a->mem);
  a->mem = mem;
  a->mem_floats = n;
  a->cap_tokens = N;
  a->cap_len = T;
  a->cap_batch = B;
  a->cap_att = A;
  carve(a, cfg);
  return 0;
}

void bertd_train_acts_free(bertd_train_acts *a) {
  if (!a) return;
  free(a->mem);
  free(a->layers);
  free(a->lens);
  memset(a, 0, sizeof *a);
}

float *bertd_train_acts_hidden(const bertd_train_acts *a, int l) {
  return a->hs + (size_t)l * (size_t)a->cap_tokens * (size_t)a->H;
}

static uint64_t site_key(const bertd_dropout *d, uint64_t site) {
  return bertd_dropout_key(d->seed, d->pass, site);
}

static void layer_forward_train(const bertd_checkpoint_config *cfg, const bertd_layer_weights *lw,
                                bertd_train_acts *a, int l) {
  const int H = cfg->hidden_size, I = cfg->intermediate_size, NH = cfg->num_attention_heads;
  const int N = a->N;
  const size_t NHs = (size_t)N * H;
  const float eps = cfg->layer_norm_eps;
  const bertd_dropout *d = &a->drop;
  const uint64_t site = BERTD_SITE_LAYER0 + 3 * (uint64_t)l;
  bertd_layer_acts *la = &a->layers[l];
  const float *x = bertd_train_acts_hidden(a, l);
  float *out = bertd_train_acts_hidden(a, l + 1);

  bertd_linear_forward(la->q, x, lw->q_w, lw->q_b, N, H, H);
  bertd_linear_forward(la->k, x, lw->k_w, lw->k_b, N, H, H);
  bertd_linear_forward(la->v, x, lw->v_w, lw->v_b, N, H, H);
  bertd_attention_forward_train(la->ctx, la->att, la->q, la->k, la->v, a->g_att, a->lens, a->B, H, NH,
                          d->attention, site_key(d, site), d->att_first);
  /* res1 = dropout(ctx @ Wo^T + bo) + x; the dense output goes through res1 itself */
  bertd_linear_forward(la->res1, la->ctx, lw->attn_out_w, lw->attn_out_b, N, H, H);
  bertd_dropout_forward(la->res1, la->res1, NHs, d->hidden, site_key(d, site + 1), d->tok_first * H);
  for (size_t i = 0; i < NHs; i++) la->res1[i] += x[i];
  layernorm_forward_train(la->ln1, la->mean1, la->rstd1, la->res1, lw->ln1_g, lw->ln1_b, N, H, eps);
  bertd_linear_forward(la->fch, la->ln1, lw->inter_w, lw->inter_b, N, H, I);
  memcpy(la->fch_act, la->fch, sizeof(float) * (size_t)N * I);
  bertd_activation_forward(la->fch_act, (size_t)N * I, cfg->hidden_act);
  bertd_linear_forward(la->res2, la->fch_act, lw->out_w, lw->out_b, N, I, H);
  bertd_dropout_forward(la->res2, la->res2, NHs, d->hidden, site_key(d, site + 2), d->tok_first * H);
  for (size_t i = 0; i < NHs; i++) la->res2[i] += la->ln1[i];
  layernorm_forward_train(out, la->mean2, la->rstd2, la->res2, lw->ln2_g, lw->ln2_b, N, H, eps);
}

int bertd_encoder_train_forward(const bertd_checkpoint_config *cfg, const bertd_weights *w,
                                bertd_train_acts *a, int B, const int *lens, const int32_t *ids,
                                const int32_t *type_ids, const bertd_dropout *drop,
                                char *errstr, size_t errstr_size) {
  int N, T;
  if (bertd_batch_check(cfg, B, lens, ids, type_ids, &N, &T, "train", errstr, errstr_size))
    return -1;
  const int NH = cfg->num_attention_heads, H = cfg->hidden_size;
  if (bertd_train_acts_reserve(a, cfg, N, T, B, bertd_attention_probs_size(lens, B, NH), errstr,
                               errstr_size))
    return -1;
  a->B = B;
  a->N = N;
  a->T = T;
  memcpy(a->lens, lens, sizeof(int) * (size_t)B);
  a->ids = ids;
  a->type_ids = type_ids;
  a->drop = *drop;

  float *h0 = bertd_train_acts_hidden(a, 0);
  bertd_embeddings_sum(a->emb_sum, ids, type_ids, lens, B, w->word_emb, w->pos_emb, w->type_emb, H);
  layernorm_forward_train(h0, a->emb_mean, a->emb_rstd, a->emb_sum, w->emb_ln_g, w->emb_ln_b, N,
                          H, cfg->layer_norm_eps);
  bertd_dropout_forward(h0, h0, (size_t)N * H, drop->hidden, site_key(drop, BERTD_SITE_EMBEDDINGS),
                  drop->tok_first * H);
  for (int l = 0; l < cfg->num_hidden_layers; l++) layer_forward_train(cfg, &w->layers[l], a, l);
  if (w->pooler_w)
    bertd_pooler_forward_train(a->pooled, a->cls, bertd_train_acts_hidden(a, cfg->num_hidden_layers),
                         lens, B, w->pooler_w, w->pooler_b, H);
  memset(a->dh, 0, sizeof(float) * (size_t)N * H);
  memset(a->dpooled, 0, sizeof(float) * (size_t)B * H);
  return 0;
}

/* Layer l backward: in a->dh = d hs[l+1]; out a->dh = d hs[l]. Buffers: g_res (N,H) the
 * LayerNorm input gradients, g_fch (N,I), g_ctx, g_q, g_k, g_v (N,H). */
static void layer_backward(const bertd_checkpoint_config *cfg, const bertd_layer_weights *lw,
                           bertd_layer_weights *gw, bertd_train_acts *a, int l) {
  const int H = cfg->hidden_size, I = cfg->intermediate_size, NH = cfg->num_attention_heads;
  const int N = a->N;
  const size_t NHs = (size_t)N * H;
  const bertd_dropout *d = &a->drop;
  const uint64_t site = BERTD_SITE_LAYER0 + 3 * (uint64_t)l;
  const bertd_layer_acts *la = &a->layers[l];
  const float *x = bertd_train_acts_hidden(a, l);
  float *dh = a->dh, *gres = a->g_res;

  /* hs[l+1] = LN2(res2): gres = d res2 */
  memset(gres, 0, sizeof(float) * NHs);
  layernorm_backward(gres, gw->ln2_g, gw->ln2_b, dh, la->res2, lw->ln2_g, la->mean2, la->rstd2, N, H);
  /* res2 = dropout(ffn_out) + ln1: dh becomes d ln1 (residual part), gres d ffn_out */
  memcpy(dh, gres, sizeof(float) * NHs);
  bertd_dropout_backward(gres, gres, NHs, d->hidden, site_key(d, site + 2), d->tok_first * H);
  /* ffn_out = fch_act @ Wout^T + bout */
  memset(a->g_fch, 0, sizeof(float) * (size_t)N * I);
  bertd_linear_backward(a->g_fch, gw->out_w, gw->out_b, gres, la->fch_act, lw->out_w, N, I, H);
  bertd_activation_backward(a->g_fch, a->g_fch, la->fch, (size_t)N * I, cfg->hidden_act);
  /* fch = ln1 @ Wi^T + bi: adds to d ln1 */
  bertd_linear_backward(dh, gw->inter_w, gw->inter_b, a->g_fch, la->ln1, lw->inter_w, N, H, I);
  /* ln1 = LN1(res1): gres = d res1 */
  memset(gres, 0, sizeof(float) * NHs);
  layernorm_backward(gres, gw->ln1_g, gw->ln1_b, dh, la->res1, lw->ln1_g, la->mean1, la->rstd1, N, H);
  /* res1 = dropout(attn_out) + x: dh becomes d x (residual part), gres d attn_out */
  memcpy(dh, gres, sizeof(float) * NHs);
  bertd_dropout_backward(gres, gres, NHs, d->hidden, site_key(d, site + 1), d->tok_first * H);
  memset(a->g_ctx, 0, sizeof(float) * NHs);
  bertd_linear_backward(a->g_ctx, gw->attn_out_w, gw->attn_out_b, gres, la->ctx, lw->attn_out_w, N, H, H);
  bertd_attention_backward(a->g_q, a->g_k, a->g_v, a->g_ctx, la->att, la->q, la->k, la->v, a->g_att,
                     a->lens, a->B, H, NH, d->attention, site_key(d, site), d->att_first);
  bertd_linear_backward(dh, gw->q_w, gw->q_b, a->g_q, x, lw->q_w, N, H, H);
  bertd_linear_backward(dh, gw->k_w, gw->k_b, a->g_k, x, lw->k_w, N, H, H);
  bertd_linear_backward(dh, gw->v_w, gw->v_b, a->g_v, x, lw->v_w, N, H, H);
}

void bertd_encoder_train_backward(const bertd_checkpoint_config *cfg, const bertd_weights *w,
                                  bertd_weights *grads, bertd_train_acts *a) {
  const int H = cfg->hidden_size, L = cfg->num_hidden_layers, N = a->N;
  if (w->pooler_w)
    bertd_pooler_backward(a->dh, grads->pooler_w, grads->pooler_b, a->dpooled, a->pooled, a->cls,
                    w->pooler_w, a->lens, a->B, H, a->g_cls);
  for (int l = L - 1; l >= 0; l--) layer_backward(cfg, &w->layers[l], &grads->layers[l], a, l);
  /* hs[0] = dropout(LN(emb_sum)) */
  bertd_dropout_backward(a->dh, a->dh, (size_t)N * H, a->drop.hidden,
                   site_key(&a->drop, BERTD_SITE_EMBEDDINGS), a->drop.tok_first * H);
  memset(a->g_res, 0, sizeof(float) * (size_t)N * H);
  layernorm_backward(a->g_res, grads->emb_ln_g, grads->emb_ln_b, a->dh, a->emb_sum, w->emb_ln_g,
                     a->emb_mean, a->emb_rstd, N, H);
  bertd_embeddings_backward(grads->word_emb, grads->pos_emb, grads->type_emb, a->g_res, a->ids,
                      a->type_ids, a->lens, a->B, H, cfg->pad_token_id);
}
