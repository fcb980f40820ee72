/* encoder.c: embeddings -> L x (self-attention, add & norm, feed-forward, add & norm) -> pooler. */
#include "encoder.h"

#include <cblas.h>
#undef I /* cblas.h brings complex.h's I; here I is the intermediate size */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoder_pool.h"
#include "gemm.h"
#include "layers.h"
#include "lowp.h"
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

int bertd_acts_reserve(bertd_acts *a, const bertd_checkpoint_config *cfg, int tokens, int rows,
                       int max_len, int batch, int slices, char *errstr, size_t errstr_size) {
  const size_t H = (size_t)cfg->hidden_size, I = (size_t)cfg->intermediate_size;
  const size_t NH = (size_t)cfg->num_attention_heads;
  if (tokens < 1) tokens = 1;
  if (rows < 1) rows = 1;
  if (batch < 1) batch = 1;
  if (tokens > a->cap_tokens) {
    if (grow(&a->x, (size_t)tokens * H, errstr, errstr_size)) return -1;
    a->cap_tokens = tokens;
  }
  if (rows > a->cap_rows) {
    const size_t n = (size_t)rows;
    if (grow(&a->q, 3 * n * H, errstr, errstr_size) || grow(&a->ctx, n * H, errstr, errstr_size) ||
        grow(&a->inter, n * I, errstr, errstr_size))
      return -1;
    a->k = a->q + n * H;
    a->v = a->k + n * H;
    a->cap_rows = rows;
  }
  if (max_len > 0 && slices > 0 && (max_len > a->cap_len || slices > a->cap_slices)) {
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
  free(a->x); free(a->q); free(a->ctx); free(a->inter);
  free(a->scores); free(a->attn_scratch); free(a->pooled); free(a->cls); free(a->lens); free(a->starts);
  free(a->lowp_scratch);
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
  const bertd_packed_encoder *pe; /* or NULL: OpenBLAS on w */
  const bertd_lowp_model *lp;     /* bf16 / int8 linear layers in place of pe's, or NULL */
  const int32_t *ids, *type_ids; /* the slice's tokens */
  bertd_acts view;               /* x, lens, pooled, cls: the batch's own, offset to the slice's
                                    first row; q, ctx, inter, lowp_scratch, scores: the slice's
                                    own block */
  int threads;                   /* > 1: this slice splits its work across the pool */
  int chunk;                     /* packed path: tokens per row chunk (see slice_run) */
  bertd_encoder_pool **pool;
  float *attn_scratch;           /* threads blocks of bertd_attention_rows_scratch floats */
  bertd_attention_head_fn *attn_head; /* the model's (bertd_attention_head_select) */
} encoder_slice;

/* One thread's share of a packed product: panels [p0, p1). */
typedef struct {
  const bertd_gemm_args *g;
  int p0, p1;
} gemm_part;

static void gemm_part_task(void *arg) {
  const gemm_part *gp = arg;
  gp->g->w->kern->run(gp->g, gp->p0, gp->p1);
}

/* out (M, w->N) row stride ldo (epi) inp (M, w->K) row stride ldi @ W^T + bias: on this thread,
 * or with the output panels cut into sl->threads contiguous runs across the pool */
static void packed_linear(encoder_slice *sl, float *out, int ldo, const float *inp, int ldi,
                          const bertd_packed *w, int M, bertd_gemm_epilogue epi) {
  const bertd_gemm_args g = {.out = out, .inp = inp, .w = w, .M = M, .ldo = ldo, .ldi = ldi,
                             .epi = epi};
  enum { MAX_PARTS = 64 };
  /* a few runs of panels per thread, claimed by whichever thread is free (encoder_pool.c) */
  int P = 4 * sl->threads < w->panels ? 4 * sl->threads : w->panels;
  if (P > MAX_PARTS) P = MAX_PARTS;
  if (sl->threads <= 1 || P <= 1) {
    bertd_gemm_run(&g);
    return;
  }
  gemm_part parts[MAX_PARTS];
  for (int i = 0; i < P; i++)
    parts[i] = (gemm_part){&g, w->panels * i / P, w->panels * (i + 1) / P};
  bertd_encoder_pool_run_on(sl->pool, sl->threads, P, gemm_part_task, parts, sizeof parts[0]);
}

typedef struct {
  encoder_slice *sl;
  const float *qkv;
  int part, parts;
} attn_part;

/* attention's (sequence, head) pairs are cut into this many runs per thread, each with its own
 * scratch block (encoder_slice.attn_scratch) */
enum { ATTN_PARTS_PER_THREAD = 3 };

static void attn_part_task(void *arg) {
  const attn_part *ap = arg;
  const encoder_slice *sl = ap->sl;
  const bertd_checkpoint_config *cfg = sl->cfg;
  const int D = cfg->hidden_size / cfg->num_attention_heads;
  int Tmax = 0;
  for (int b = 0; b < sl->view.B; b++) Tmax = sl->view.lens[b] > Tmax ? sl->view.lens[b] : Tmax;
  bertd_attention_rows(sl->view.ctx, ap->qkv, sl->view.lens, sl->view.B, cfg->hidden_size,
                       cfg->num_attention_heads, sl->attn_head,
                       sl->attn_scratch + (size_t)ap->part * bertd_attention_rows_scratch(D, Tmax), ap->part,
                       ap->parts);
}

/* The dense layers of a transformer layer, as encoder_packed.h and lowp.h lay them out. */
typedef enum { DENSE_QKV, DENSE_ATTN_OUT, DENSE_INTER, DENSE_OUT } dense_layer;

/* One thread's share of a bf16 / int8 product: its panels [p0, p1). */
typedef struct {
  const bertd_lowp_gemm_args *g;
  const bertd_lowp_kernel *k;
  int p0, p1;
} lowp_part;

static void lowp_part_task(void *arg) {
  const lowp_part *lp = arg;
  lp->k->gemm(lp->g, lp->p0, lp->p1);
}

/* out (M, OC) row stride ldo (epi) inp (M, C) @ W^T + bias in the model's bf16 / int8: the
 * activations rounded or quantised once on this thread, then the panels cut into sl->threads
 * runs of whole 4-panel blocks across the pool */
static void lowp_linear(encoder_slice *sl, float *out, int ldo, const float *inp,
                        const bertd_lowp_linear *l, int M, bertd_gemm_epilogue epi) {
  bertd_lowp_gemm_args g;
  bertd_lowp_prepare(l, &g, out, ldo, inp, M, epi == BERTD_EPI_RESIDUAL, sl->view.lowp_scratch);
  /* GELU on the tile in registers where the kernel does it (a pass over (M, OC) saved) */
  g.gelu = epi == BERTD_EPI_BIAS_GELU && l->k->gelu;
  const int panels = bertd_lowp_panels(l), blocks = (panels + 3) / 4;
  enum { MAX_PARTS = 64 };
  int P = sl->threads < blocks ? sl->threads : blocks;
  if (P > MAX_PARTS) P = MAX_PARTS;
  /* a part below ~2M multiply-adds (about 20 us on these units) costs more in the pool's
   * hand-over than it saves: a 16-token MiniLM sequence's q, k, v run on this thread */
  const double macs = (double)M * l->C * l->OC;
  while (P > 1 && macs / P < 2e6) P--;
  if (P <= 1) {
    l->k->gemm(&g, 0, panels);
  } else {
    lowp_part parts[MAX_PARTS];
    for (int i = 0; i < P; i++) {
      const int b0 = blocks * i / P * 4, b1 = blocks * (i + 1) / P * 4;
      parts[i] = (lowp_part){&g, l->k, b0, b1 < panels ? b1 : panels};
    }
    bertd_encoder_pool_run(sl->pool, P, lowp_part_task, parts, sizeof parts[0]);
  }
  /* else gelu.c's GELU over the finished rows: the same arithmetic as the kernels' epilogue */
  if (epi == BERTD_EPI_BIAS_GELU && !g.gelu)
    for (int r = 0; r < M; r++)
      bertd_activation_forward(out + (size_t)r * ldo, (size_t)l->OC, BERTD_ACT_GELU);
}

/* Layer l's dense layer `which`: the bf16 / int8 copy when the model has one, else the fp32
 * panels. ldo, ldi: row strides (ldi is C for every layer). */
static void dense(encoder_slice *sl, int l, dense_layer which, float *out, int ldo,
                  const float *inp, int ldi, int M, bertd_gemm_epilogue epi) {
  if (sl->lp) {
    const bertd_lowp_layer *ll = &sl->lp->layers[l];
    if (which == DENSE_QKV) { /* q, k, v side by side in each row of out (M,3H) */
      const int H = ll->q.OC;
      lowp_linear(sl, out, ldo, inp, &ll->q, M, epi);
      lowp_linear(sl, out + H, ldo, inp, &ll->k, M, epi);
      lowp_linear(sl, out + 2 * H, ldo, inp, &ll->v, M, epi);
      return;
    }
    const bertd_lowp_linear *const ws[4] = {NULL, &ll->attn_out, &ll->inter, &ll->out};
    lowp_linear(sl, out, ldo, inp, ws[which], M, epi);
    return;
  }
  const bertd_packed_layer *pl = &sl->pe->layers[l];
  const bertd_packed *const ws[4] = {&pl->qkv, &pl->attn_out, &pl->inter, &pl->out};
  packed_linear(sl, out, ldo, inp, ldi, ws[which], M, epi);
}

/* One transformer layer on packed weights, in place on x (N,H), N the rows of sl's view (a row
 * chunk of whole sequences, see slice_run):
 * qkv (N,3H) = x @ Wqkv^T + b; ctx = attention; x += ctx @ Wo^T + bo; x = LN(x);
 * inter (N,I) = gelu(x @ Wi^T + bi); x += inter @ Wout^T + bout; x = LN(x). Bias, GELU and
 * the residual add happen in the kernel's epilogue, on the tile still in registers. */
static void layer_forward_packed(encoder_slice *sl, int l) {
  const bertd_checkpoint_config *cfg = sl->cfg;
  const bertd_layer_weights *lw = &sl->w->layers[l];
  bertd_acts *a = &sl->view;
  const int H = cfg->hidden_size, I = cfg->intermediate_size, N = a->N;
  const float eps = cfg->layer_norm_eps;
  float *qkv = a->q;
  dense(sl, l, DENSE_QKV, qkv, 3 * H, a->x, H, N, BERTD_EPI_BIAS);
  enum { MAX_PARTS = 64 };
  attn_part parts[MAX_PARTS];
  const int pairs = a->B * cfg->num_attention_heads;
  int P = ATTN_PARTS_PER_THREAD * sl->threads < pairs ? ATTN_PARTS_PER_THREAD * sl->threads : pairs;
  if (P > MAX_PARTS) P = MAX_PARTS;
  if (P < 1 || sl->threads <= 1) P = 1;
  for (int i = 0; i < P; i++) parts[i] = (attn_part){sl, qkv, i, P};
  if (P == 1) attn_part_task(&parts[0]);
  else bertd_encoder_pool_run_on(sl->pool, sl->threads, P, attn_part_task, parts, sizeof parts[0]);
  dense(sl, l, DENSE_ATTN_OUT, a->x, H, a->ctx, H, N, BERTD_EPI_RESIDUAL);
  bertd_layernorm_forward(a->x, lw->ln1_g, lw->ln1_b, N, H, eps);
  if (cfg->hidden_act == BERTD_ACT_GELU) {
    dense(sl, l, DENSE_INTER, a->inter, I, a->x, H, N, BERTD_EPI_BIAS_GELU);
  } else {
    dense(sl, l, DENSE_INTER, a->inter, I, a->x, H, N, BERTD_EPI_BIAS);
    bertd_activation_forward(a->inter, (size_t)N * I, cfg->hidden_act);
  }
  dense(sl, l, DENSE_OUT, a->x, H, a->inter, I, N, BERTD_EPI_RESIDUAL);
  bertd_layernorm_forward(a->x, lw->ln2_g, lw->ln2_b, N, H, eps);
}

/* The end of the row chunk that starts at sequence b of lens (B): whole sequences while their
 * tokens stay within limit, at least one (a sequence longer than limit is a chunk alone);
 * *tokens gets the chunk's token count. */
static int chunk_end(const int *lens, int B, int b, int limit, int *tokens) {
  int n = lens[b], e = b + 1;
  while (e < B && n + lens[e] <= limit) n += lens[e++];
  *tokens = n;
  return e;
}

/* The most tokens a row chunk of sequences lens (B) holds. */
static int chunk_rows(const int *lens, int B, int limit) {
  int most = 0;
  for (int b = 0, n; b < B;) {
    b = chunk_end(lens, B, b, limit, &n);
    most = n > most ? n : most;
  }
  return most;
}

static void slice_run(encoder_slice *sl) {
  const bertd_checkpoint_config *cfg = sl->cfg;
  const bertd_weights *w = sl->w;
  bertd_acts *a = &sl->view;
  const int H = cfg->hidden_size;
  bertd_embeddings_forward(a->x, sl->ids, sl->type_ids, a->lens, a->B, w->word_emb, w->pos_emb,
                     w->type_emb, w->emb_ln_g, w->emb_ln_b, H, cfg->layer_norm_eps);
  if (sl->pe || sl->lp) {
    /* Inference: the layers run over row chunks of whole sequences (sequences never interact),
     * each chunk through every layer before the next (chunk-major): q/k/v, ctx, inter and the
     * bf16 / int8 scratch hold one chunk's rows (at most sl->chunk, or one longer sequence),
     * while x (N,H) stays whole, as the heads read it afterwards. Chunk-major measured as fast
     * as or faster than layer-major (every layer over all chunks: BERT-base fp32 32 x 128,
     * 4.5 against 4.2 sentences per CPU-second) and as whole batches (model/README.md). */
    for (int b = 0, n0 = 0, n; b < a->B; n0 += n) {
      const int e = chunk_end(a->lens, a->B, b, sl->chunk, &n);
      encoder_slice c = *sl;
      c.view.B = e - b;
      c.view.N = n;
      c.view.lens = a->lens + b;
      c.view.x = a->x + (size_t)n0 * H;
      for (int l = 0; l < cfg->num_hidden_layers; l++) layer_forward_packed(&c, l);
      b = e;
    }
  } else {
    /* OpenBLAS on the unpacked weights: every activation for all N rows at once */
    for (int l = 0; l < cfg->num_hidden_layers; l++)
      layer_forward(cfg, &w->layers[l], a, a->B, a->lens, a->N);
  }
  if (w->pooler_w && sl->pe && sl->pe->pooler.data) {
    /* pooled (B,H) = tanh(x[first token of each sequence] (B,H) @ Wp^T + bp) */
    for (int b = 0, start = 0; b < a->B; start += a->lens[b], b++)
      memcpy(a->cls + (size_t)b * H, a->x + (size_t)start * H, sizeof(float) * (size_t)H);
    packed_linear(sl, a->pooled, H, a->cls, H, &sl->pe->pooler, a->B, BERTD_EPI_BIAS);
    for (size_t i = 0; i < (size_t)a->B * H; i++) a->pooled[i] = tanhf(a->pooled[i]);
  } else if (w->pooler_w) {
    bertd_pooler_forward(a->pooled, a->x, a->lens, a->B, w->pooler_w, w->pooler_b, H, a->cls);
  }
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

int bertd_encoder_forward_threads(const bertd_checkpoint_config *cfg, const bertd_weights *w,
                                  const bertd_packed_encoder *pe, const bertd_lowp_model *lp,
                                  bertd_acts *a, int B, const int *lens, const int32_t *ids,
                                  const int32_t *type_ids, int threads, char *errstr,
                                  size_t errstr_size) {
  /* a bf16 / int8 model runs the packed layer flow (fused q/k/v, row attention) */
  const int packed = pe || lp;
  int N, T;
  if (bertd_batch_check(cfg, B, lens, ids, type_ids, &N, &T, "encoder", errstr, errstr_size))
    return -1;
  /* an inference load reads its word-embedding rows as ids first appear */
  if (bertd_weights_rows_fetch(w, ids, N, errstr, errstr_size)) return -1;
  enum { MAX_SLICES = 64 };
  int P = threads < B ? threads : B;
  if (P > MAX_SLICES) P = MAX_SLICES;
  if (P < 1) P = 1;
  int cut[MAX_SLICES + 1];
  bertd_plan_slices(cfg, lens, B, P, cut);
  /* q/k/v, ctx, inter rows: the packed path holds one row chunk per slice (slice_run), the
   * OpenBLAS path all N rows */
  const int chunk = BERTD_ENCODER_CHUNK_TOKENS;
  int block = 0;
  if (packed)
    for (int p = 0; p < P; p++) {
      const int r = chunk_rows(lens + cut[p], cut[p + 1] - cut[p], chunk);
      block = r > block ? r : block;
    }
  /* the (NH,T,T) score blocks only for bertd_attention_forward (OpenBLAS); attention_rows.c
   * needs none */
  if (bertd_acts_reserve(a, cfg, N, packed ? P * block : N, packed ? 0 : T, B, packed ? 0 : P,
                         errstr, errstr_size))
    return -1;
  /* a single group on several threads splits its layers across them (packed path only) */
  const int inner = P == 1 && packed && threads > 1 ? (threads < MAX_SLICES ? threads : MAX_SLICES) : 1;
  if (lp) {
    /* each slice's chunk rows, inputs at most max(H, I): one 64-byte aligned block each */
    const int C = cfg->hidden_size > cfg->intermediate_size ? cfg->hidden_size
                                                            : cfg->intermediate_size;
    const size_t bytes = (bertd_lowp_scratch_bytes(block, C) + 63) / 64 * 64;
    if (bytes * (size_t)P > a->lowp_cap) {
      free(a->lowp_scratch);
      a->lowp_scratch = aligned_alloc(64, bytes * (size_t)P);
      a->lowp_cap = a->lowp_scratch ? bytes * (size_t)P : 0;
      if (!a->lowp_scratch)
        return bertd_set_error(errstr, errstr_size, "encoder: out of memory for %zu bytes",
                               bytes * (size_t)P);
    }
    a->lowp_block = bytes;
  }
  if (packed) {
    const size_t D = (size_t)(cfg->hidden_size / cfg->num_attention_heads);
    const size_t need = (size_t)(inner > 1 ? ATTN_PARTS_PER_THREAD * inner : P) * bertd_attention_rows_scratch(D, T);
    if (need > a->cap_attn_scratch) {
      if (grow(&a->attn_scratch, need, errstr, errstr_size)) return -1;
      a->cap_attn_scratch = need;
    }
  }
  a->B = B;
  a->N = N;
  for (int b = 0, s = 0; b < B; b++) {
    a->lens[b] = lens[b];
    a->starts[b] = s;
    s += lens[b];
  }
  /* the low-precision model chose its heads at load; fp32 panels: their kernel's tiles */
  bertd_attention_head_fn *attn_head =
      lp ? lp->attn_head
         : pe ? bertd_attention_head_select(pe->kern, BERTD_ATTN_FP32,
                                            cfg->hidden_size / cfg->num_attention_heads)
              : NULL;
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
    s->pe = pe;
    s->lp = lp;
    s->threads = inner;
    s->chunk = chunk;
    s->attn_head = attn_head;
    s->pool = &a->pool;
    s->attn_scratch = a->attn_scratch ? a->attn_scratch + (size_t)used * (a->cap_attn_scratch / (size_t)P) : NULL;
    s->ids = ids + n0;
    s->type_ids = type_ids + n0;
    s->view = *a;
    s->view.B = b1 - b0;
    s->view.N = n;
    s->view.lens = a->lens + b0;
    s->view.starts = NULL; /* not read by the layers */
    s->view.x = a->x + n0 * H;
    if (packed) {
      /* qkv (block,3H) at q, ctx (block,H), inter (block,I): this slice's chunk rows */
      const size_t r0 = (size_t)used * (size_t)block;
      s->view.q = a->q + 3 * r0 * H;
      s->view.k = s->view.v = NULL;
      s->view.ctx = a->ctx + r0 * H;
      s->view.inter = a->inter + r0 * I;
      s->view.scores = NULL;
    } else {
      /* q, k, v (N,H) each, ctx, inter: the slice's own rows of the batch's */
      s->view.q = a->q + n0 * H;
      s->view.k = a->k + n0 * H;
      s->view.v = a->v + n0 * H;
      s->view.ctx = a->ctx + n0 * H;
      s->view.inter = a->inter + n0 * I;
      s->view.scores = a->scores + (size_t)used * score_block;
    }
    s->view.pooled = a->pooled + (size_t)b0 * H;
    s->view.cls = a->cls + (size_t)b0 * H;
    s->view.lowp_scratch = lp ? a->lowp_scratch + (size_t)used * a->lowp_block : NULL;
    used++;
  }
  if (used == 1) {
    slice_run(&sl[0]);
    return 0;
  }
  /* Each slice calls OpenBLAS from its own thread: OpenBLAS runs single-threaded meanwhile
   * (concurrent callers of a multi-threaded OpenBLAS queue on its one thread pool, measured
   * 6x slower), and gets its thread count back afterwards for batches of one sequence. */
  if (pe) { /* no OpenBLAS call on the packed path */
    bertd_encoder_pool_run(&a->pool, used, slice_task, sl, sizeof(sl[0]));
    return 0;
  }
  const int blas_threads = bertd_threads_serial_begin();
  bertd_encoder_pool_run(&a->pool, used, slice_task, sl, sizeof(sl[0]));
  bertd_threads_serial_end(blas_threads);
  return 0;
}

int bertd_encoder_forward(const bertd_checkpoint_config *cfg, const bertd_weights *w, bertd_acts *a, int B,
                          const int *lens, const int32_t *ids, const int32_t *type_ids,
                          char *errstr, size_t errstr_size) {
  return bertd_encoder_forward_threads(cfg, w, NULL, NULL, a, B, lens, ids, type_ids, 1, errstr,
                                       errstr_size);
}
