/* encoder.c: embeddings -> L x (self-attention, add & norm, feed-forward, add & norm) -> pooler. */
#include "encoder.h"

#include <cblas.h>
#undef I /* cblas.h brings complex.h's I; here I is the intermediate size */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoder_pool.h"
#include "layers.h"
#include "threads.h"

static int grow(float **p, size_t n, char *errstr, size_t errstr_size) {
  float *q = realloc(*p, n * sizeof(float));
  if (!q) {
    snprintf(errstr, errstr_size, "encoder: out of memory for %zu activations", n);
    return -1;
  }
  *p = q;
  return 0;
}

int bertd_acts_reserve(bertd_acts *a, const bertd_checkpoint_config *cfg, int tokens, int max_len, int batch,
                       int slices, char *errstr, size_t errstr_size) {
  const size_t H = (size_t)cfg->hidden_size, I = (size_t)cfg->intermediate_size;
  const size_t NH = (size_t)cfg->num_attention_heads;
  if (tokens < 1) tokens = 1;
  if (max_len < 1) max_len = 1;
  if (batch < 1) batch = 1;
  if (slices < 1) slices = 1;
  if (tokens > a->cap_tokens) {
    size_t n = (size_t)tokens;
    if (grow(&a->x, n * H, errstr, errstr_size) || grow(&a->q, n * H, errstr, errstr_size) ||
        grow(&a->k, n * H, errstr, errstr_size) || grow(&a->v, n * H, errstr, errstr_size) ||
        grow(&a->ctx, n * H, errstr, errstr_size) ||
        grow(&a->inter, n * I, errstr, errstr_size))
      return -1;
    a->cap_tokens = tokens;
  }
  if (max_len > a->cap_len || slices > a->cap_slices) {
    /* one (NH,T,T) block per slice of the batch (see bertd_encoder_forward_threads) */
    const int len = max_len > a->cap_len ? max_len : a->cap_len;
    const int sl = slices > a->cap_slices ? slices : a->cap_slices;
    if (grow(&a->scores, (size_t)sl * NH * (size_t)len * (size_t)len, errstr, errstr_size))
      return -1;
    a->cap_len = len;
    a->cap_slices = sl;
  }
  if (batch > a->cap_batch) {
    int *l = realloc(a->lens, sizeof(int) * (size_t)batch);
    if (l) a->lens = l;
    int *s = l ? realloc(a->starts, sizeof(int) * (size_t)batch) : NULL;
    if (s) a->starts = s;
    if (!l || !s || grow(&a->pooled, (size_t)batch * H, errstr, errstr_size) ||
        grow(&a->cls, (size_t)batch * H, errstr, errstr_size)) {
      if (!l || !s) snprintf(errstr, errstr_size, "encoder: out of memory for batch %d", batch);
      return -1;
    }
    a->cap_batch = batch;
  }
  return 0;
}

void bertd_acts_free(bertd_acts *a) {
  free(a->x); free(a->q); free(a->k); free(a->v); free(a->ctx); free(a->inter);
  free(a->scores); free(a->pooled); free(a->cls); free(a->lens); free(a->starts);
  bertd_encoder_pool_free(a->pool);
  memset(a, 0, sizeof(*a));
}

/* One transformer layer, in place on x (N,H). */
static void layer_forward(const bertd_checkpoint_config *cfg, const bertd_layer_weights *lw, bertd_acts *a,
                          int B, const int *lens, int N) {
  const int H = cfg->hidden_size, I = cfg->intermediate_size, NH = cfg->num_attention_heads;
  const float eps = cfg->layer_norm_eps;
  /* q, k, v (N,H) = x (N,H) @ W^T + b */
  bertd_linear_forward(a->q, a->x, lw->q_w, lw->q_b, N, H, H);
  bertd_linear_forward(a->k, a->x, lw->k_w, lw->k_b, N, H, H);
  bertd_linear_forward(a->v, a->x, lw->v_w, lw->v_b, N, H, H);
  bertd_attention_forward(a->ctx, a->q, a->k, a->v, a->scores, lens, B, H, NH);
  /* x = LayerNorm(ctx @ Wo^T + bo + x) */
  bertd_linear_forward_residual(a->x, a->ctx, lw->attn_out_w, lw->attn_out_b, N, H, H);
  bertd_layernorm_forward(a->x, lw->ln1_g, lw->ln1_b, N, H, eps);
  /* feed-forward: inter (N,I) = act(x @ Wi^T + bi); x = LayerNorm(inter @ Wout^T + bout + x) */
  bertd_linear_forward(a->inter, a->x, lw->inter_w, lw->inter_b, N, H, I);
  bertd_activation_forward(a->inter, (size_t)N * I, cfg->hidden_act);
  bertd_linear_forward_residual(a->x, a->inter, lw->out_w, lw->out_b, N, I, H);
  bertd_layernorm_forward(a->x, lw->ln2_g, lw->ln2_b, N, H, eps);
}

int bertd_batch_check(const bertd_checkpoint_config *cfg, int B, const int *lens, const int32_t *ids,
                      const int32_t *type_ids, int *N_out, int *T_out, const char *who,
                      char *errstr, size_t errstr_size) {
  if (B < 1) {
    snprintf(errstr, errstr_size, "%s: empty batch", who);
    return -1;
  }
  int N = 0, T = 0;
  for (int b = 0; b < B; b++) {
    if (lens[b] < 1 || lens[b] > cfg->max_position_embeddings) {
      snprintf(errstr, errstr_size,
               "%s: sequence %d has %d tokens (must be 1..max_position_embeddings %d)", who, b,
               lens[b], cfg->max_position_embeddings);
      return -1;
    }
    N += lens[b];
    if (lens[b] > T) T = lens[b];
  }
  for (int n = 0; n < N; n++) {
    if (ids[n] < 0 || ids[n] >= cfg->vocab_size) {
      snprintf(errstr, errstr_size, "%s: token id %d at position %d outside vocab_size %d", who,
               ids[n], n, cfg->vocab_size);
      return -1;
    }
    if (type_ids[n] < 0 || type_ids[n] >= cfg->type_vocab_size) {
      snprintf(errstr, errstr_size, "%s: token type %d at position %d outside type_vocab_size %d",
               who, type_ids[n], n, cfg->type_vocab_size);
      return -1;
    }
  }
  *N_out = N;
  *T_out = T;
  return 0;
}

/* The encoder on sequences [b0, b1) of the packed batch: every per-token buffer is the batch's
 * own, offset to the slice's first row, so slices write disjoint rows and nothing is copied. */
typedef struct {
  const bertd_checkpoint_config *cfg;
  const bertd_weights *w;
  const int32_t *ids, *type_ids; /* the slice's tokens */
  bertd_acts view;               /* pointers into the batch's acts; its own scores block */
} encoder_slice;

static void slice_run(encoder_slice *sl) {
  const bertd_checkpoint_config *cfg = sl->cfg;
  const bertd_weights *w = sl->w;
  bertd_acts *a = &sl->view;
  bertd_embeddings_forward(a->x, sl->ids, sl->type_ids, a->lens, a->B, w->word_emb, w->pos_emb,
                     w->type_emb, w->emb_ln_g, w->emb_ln_b, cfg->hidden_size,
                     cfg->layer_norm_eps);
  for (int l = 0; l < cfg->num_hidden_layers; l++)
    layer_forward(cfg, &w->layers[l], a, a->B, a->lens, a->N);
  if (w->pooler_w)
    bertd_pooler_forward(a->pooled, a->x, a->lens, a->B, w->pooler_w, w->pooler_b, cfg->hidden_size,
                   a->cls);
}

static void slice_task(void *arg) { slice_run(arg); }

/* A sequence's share of the encoder's work, in multiply-adds per layer: the projections and
 * feed-forward (8H^2 + 4HI per token) and attention's scores and context (4TH per token). */
static double sequence_cost(const bertd_checkpoint_config *cfg, int len) {
  const double H = cfg->hidden_size, I = cfg->intermediate_size;
  return len * (8.0 * H * H + 4.0 * H * I + 4.0 * len * H);
}

void bertd_plan_slices(const bertd_checkpoint_config *cfg, const int *lens, int B, int P, int *cut) {
  double total = 0.0;
  for (int b = 0; b < B; b++) total += sequence_cost(cfg, lens[b]);
  double acc = 0.0;
  int p = 1;
  cut[0] = 0;
  for (int b = 0; b < B && p < P; b++) {
    acc += sequence_cost(cfg, lens[b]);
    /* close group p-1 after b once it holds its share and a sequence is left for each later
     * group, or when exactly one sequence per later group is left (so P <= B fills all P) */
    const int left = B - (b + 1);
    if ((acc >= total * p / P && left >= P - p) || left == P - p) cut[p++] = b + 1;
  }
  cut[P] = B;
}

int bertd_encoder_forward_threads(const bertd_checkpoint_config *cfg, const bertd_weights *w, bertd_acts *a,
                                  int B, const int *lens, const int32_t *ids,
                                  const int32_t *type_ids, int threads, char *errstr,
                                  size_t errstr_size) {
  int N, T;
  if (bertd_batch_check(cfg, B, lens, ids, type_ids, &N, &T, "encoder", errstr, errstr_size))
    return -1;
  enum { MAX_SLICES = 64 };
  int P = threads < B ? threads : B;
  if (P > MAX_SLICES) P = MAX_SLICES;
  if (P < 1) P = 1;
  if (bertd_acts_reserve(a, cfg, N, T, B, P, errstr, errstr_size)) return -1;
  a->B = B;
  a->N = N;
  for (int b = 0, s = 0; b < B; b++) {
    a->lens[b] = lens[b];
    a->starts[b] = s;
    s += lens[b];
  }
  int cut[MAX_SLICES + 1];
  bertd_plan_slices(cfg, lens, B, P, cut);
  const size_t H = (size_t)cfg->hidden_size, I = (size_t)cfg->intermediate_size;
  const size_t score_block = (size_t)cfg->num_attention_heads * (size_t)a->cap_len * a->cap_len;
  encoder_slice sl[MAX_SLICES];
  int used = 0;
  for (int p = 0; p < P; p++) {
    const int b0 = cut[p], b1 = cut[p + 1];
    if (b1 <= b0) continue;
    const size_t n0 = (size_t)a->starts[b0];
    const int n = (b1 < B ? a->starts[b1] : N) - (int)n0;
    encoder_slice *s = &sl[used];
    s->cfg = cfg;
    s->w = w;
    s->ids = ids + n0;
    s->type_ids = type_ids + n0;
    s->view = *a;
    s->view.B = b1 - b0;
    s->view.N = n;
    s->view.lens = a->lens + b0;
    s->view.starts = NULL; /* not read by the layers */
    s->view.x = a->x + n0 * H;
    s->view.q = a->q + n0 * H;
    s->view.k = a->k + n0 * H;
    s->view.v = a->v + n0 * H;
    s->view.ctx = a->ctx + n0 * H;
    s->view.inter = a->inter + n0 * I;
    s->view.scores = a->scores + (size_t)used * score_block;
    s->view.pooled = a->pooled + (size_t)b0 * H;
    s->view.cls = a->cls + (size_t)b0 * H;
    used++;
  }
  if (used == 1) {
    slice_run(&sl[0]);
    return 0;
  }
  /* Each slice calls OpenBLAS from its own thread: OpenBLAS runs single-threaded meanwhile
   * (concurrent callers of a multi-threaded OpenBLAS queue on its one thread pool, measured
   * 6x slower), and gets its thread count back afterwards for batches of one sequence. */
  const int blas_threads = bertd_threads_serial_begin();
  bertd_encoder_pool_run(&a->pool, used, slice_task, sl, sizeof(sl[0]));
  bertd_threads_serial_end(blas_threads);
  return 0;
}

int bertd_encoder_forward(const bertd_checkpoint_config *cfg, const bertd_weights *w, bertd_acts *a, int B,
                          const int *lens, const int32_t *ids, const int32_t *type_ids,
                          char *errstr, size_t errstr_size) {
  return bertd_encoder_forward_threads(cfg, w, a, B, lens, ids, type_ids, 1, errstr,
                                       errstr_size);
}
