/* test_encoder_packed.c: the encoder on packed weights (each fp32 kernel this CPU runs,
 * attention_rows.c's attention, one or several threads) against the encoder on OpenBLAS and the
 * unpacked weights, on a random BERT: same last hidden state and pooled output to float
 * rounding. The OpenBLAS path is the one tests/model/parity_* check against transformers. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_weights.h"
#include "encoder.h"
#include "gemm.h"
#include "cpu_features.h"
#include "layers.h"

static bertd_checkpoint_config config(void) {
  return (bertd_checkpoint_config){.vocab_size = 50, .hidden_size = 48, .num_hidden_layers = 2,
                                   .num_attention_heads = 4, .intermediate_size = 100,
                                   .hidden_act = BERTD_ACT_GELU, .max_position_embeddings = 64,
                                   .type_vocab_size = 2, .layer_norm_eps = 1e-12f,
                                   .arch = BERTD_ARCH_BASE};
}

static void randomise(bertd_weights *w) {
  uint64_t x = 99;
  for (size_t i = 0; i < w->num_floats; i++) {
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    w->memory[i] = (float)((x * 0x2545F4914F6CDD1DULL) >> 40) / 16777216.0f * 0.4f - 0.2f;
  }
}

/* worst |packed - reference| over x and pooled, for kernel name on `threads` threads */
static double compare(const char *name, int B, const int *lens, int threads) {
  const bertd_gemm_kernel *kern = bertd_gemm_by_name(name);
  if (!kern) return -1.0;
  bertd_checkpoint_config cfg = config();
  bertd_weights w;
  char err[256];
  cr_assert_eq(bertd_weights_alloc(&cfg, &w, err, sizeof err), 0, "%s", err);
  randomise(&w);
  int N = 0;
  for (int b = 0; b < B; b++) N += lens[b];
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)N), *types = calloc((size_t)N, sizeof(int32_t));
  cr_assert(ids && types);
  for (int n = 0; n < N; n++) {
    ids[n] = (n * 7 + 3) % cfg.vocab_size;
    types[n] = n % 3 == 0;
  }
  bertd_packed_encoder pe;
  cr_assert_eq(bertd_packed_encoder_build(&pe, kern, &cfg, &w, err, sizeof err), 0, "%s", err);
  bertd_acts ref = {0}, got = {0};
  cr_assert_eq(bertd_encoder_forward(&cfg, &w, &ref, B, lens, ids, types, err, sizeof err), 0);
  /* twice: the second run reuses the pool and buffers the first grew */
  for (int rep = 0; rep < 2; rep++)
    cr_assert_eq(bertd_encoder_forward_threads(&cfg, &w, &pe, NULL, &got, B, lens, ids, types, threads,
                                               err, sizeof err), 0, "%s", err);
  double worst = 0.0;
  for (size_t i = 0; i < (size_t)N * cfg.hidden_size; i++) {
    const double e = fabs((double)got.x[i] - ref.x[i]);
    worst = e > worst ? e : worst;
  }
  for (size_t i = 0; i < (size_t)B * cfg.hidden_size; i++) {
    const double e = fabs((double)got.pooled[i] - ref.pooled[i]);
    worst = e > worst ? e : worst;
  }
  bertd_acts_free(&ref);
  bertd_acts_free(&got);
  bertd_packed_encoder_free(&pe);
  bertd_weights_free(&w);
  free(ids);
  free(types);
  return worst;
}

static void check(const char *name) {
  const int one[1] = {13}, mix[5] = {1, 9, 33, 2, 17};
  const struct { int B; const int *lens; int threads; } cases[] = {
    {1, one, 1}, {1, one, 2}, {1, one, 3}, {5, mix, 1}, {5, mix, 2}, {5, mix, 8}};
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    const double e = compare(name, cases[c].B, cases[c].lens, cases[c].threads);
    if (e < 0) cr_skip_test("this CPU has no %s", name);
    /* LayerNorm'd activations of size ~1: float rounding, summed in another order */
    cr_expect_lt(e, 2e-5, "%s case %zu: packed encoder differs by %g", name, c, e);
  }
}

Test(encoder_packed, generic_matches_openblas) { check("generic"); }
Test(encoder_packed, avx2_matches_openblas) { check("avx2"); }
Test(encoder_packed, avx512_matches_openblas) { check("avx512"); }

/* attention_rows.c split into parts equals bertd_attention_forward on separate q, k, v */
Test(encoder_packed, row_attention_matches_blas_attention) {
  enum { H = 24, NH = 3, B = 3 };
  const int lens[B] = {5, 1, 20};
  const int N = 26, D = H / NH;
  float *qkv = malloc(sizeof(float) * N * 3 * H), *q = malloc(sizeof(float) * N * H),
        *k = malloc(sizeof(float) * N * H), *v = malloc(sizeof(float) * N * H),
        *ref = malloc(sizeof(float) * N * H), *got = malloc(sizeof(float) * N * H),
        *scores = malloc(sizeof(float) * NH * 20 * 20),
        *scratch = malloc(sizeof(float) * bertd_attention_rows_scratch(D, 20));
  cr_assert(qkv && q && k && v && ref && got && scores && scratch);
  unsigned s = 5;
  for (int i = 0; i < N * 3 * H; i++) {
    s = s * 1103515245u + 12345u;
    qkv[i] = (float)(s >> 8) / (float)(1u << 23) - 1.0f;
  }
  for (int n = 0; n < N; n++) {
    memcpy(q + n * H, qkv + n * 3 * H, sizeof(float) * H);
    memcpy(k + n * H, qkv + n * 3 * H + H, sizeof(float) * H);
    memcpy(v + n * H, qkv + n * 3 * H + 2 * H, sizeof(float) * H);
  }
  bertd_attention_forward(ref, q, k, v, scores, lens, B, H, NH);
  for (int parts = 1; parts <= 4; parts++) {
    memset(got, 0xff, sizeof(float) * N * H); /* NaN: every element must be written */
    for (int p = 0; p < parts; p++) bertd_attention_rows(got, qkv, lens, B, H, NH, NULL, scratch, p, parts);
    for (int i = 0; i < N * H; i++)
      cr_assert(fabsf(got[i] - ref[i]) < 1e-6f, "parts %d element %d: %g vs %g", parts, i,
                got[i], ref[i]);
  }
  free(qkv); free(q); free(k); free(v); free(ref); free(got); free(scores); free(scratch);
}

/* attention_tiles.inc's register-tiled heads (AVX-512 and AVX2) against bertd_attention_forward
 * (OpenBLAS, separate q, k, v) for head widths of 1 to 10 vectors (D 8 for AVX2 only, 16, 32,
 * 64, 80: AVX-512's 64 + 16 split, AVX2's 16 + 16 + ...) and lengths on both sides of every
 * tile edge: 1 token, a 6-row block and one past it, one and two key vectors and one past, 64
 * keys, and 70 (12 blocks minus 2 rows, padded columns). */
typedef void head_fn(float *restrict, int, const float *restrict, const float *restrict,
                     const float *restrict, int, int, int, float, float *restrict,
                     float *restrict);

/* x rounded to bf16, to nearest even (what vcvtneps2bf16 does to finite values) */
static float bf16_round(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  memcpy(&x, &u, sizeof u);
  return x;
}

/* bf16 > 0: the head rounds q, k, v and the probabilities to bf16 for sequences of at least
 * bf16 tokens (shorter ones run the fp32 tiles); the reference for those gets q, k, v rounded
 * the same way, so the two differ by the probabilities' rounding (each p relative 2^-9: at
 * most 2^-9 max|v| = 0.004 on each output, |v| < 2), the bf16 heads' exp (relative 3e-6) and
 * fp32 summation order */
static void tiled_heads_case(head_fn *head, int H, int NH, int bf16) {
  enum { B = 9 };
  const int lens[B] = {1, 6, 7, 8, 9, 16, 17, 64, 70};
  int N = 0, Tmax = 0;
  for (int b = 0; b < B; b++) N += lens[b], Tmax = lens[b] > Tmax ? lens[b] : Tmax;
  const int D = H / NH;
  float *qkv = malloc(sizeof(float) * N * 3 * H), *q = malloc(sizeof(float) * N * H),
        *k = malloc(sizeof(float) * N * H), *v = malloc(sizeof(float) * N * H),
        *ref = malloc(sizeof(float) * N * H), *got = malloc(sizeof(float) * N * H),
        *ref16 = malloc(sizeof(float) * N * H),
        *scores = malloc(sizeof(float) * NH * Tmax * Tmax),
        *kt = malloc(sizeof(float) * bertd_attention_rows_scratch(D, Tmax));
  cr_assert(qkv && q && k && v && ref && ref16 && got && scores && kt);
  unsigned s = 11;
  for (int i = 0; i < N * 3 * H; i++) {
    s = s * 1103515245u + 12345u;
    qkv[i] = 2.0f * ((float)(s >> 8) / (float)(1u << 23) - 1.0f); /* scores up to ~|D| */
  }
  for (int n = 0; n < N; n++) {
    memcpy(q + n * H, qkv + n * 3 * H, sizeof(float) * H);
    memcpy(k + n * H, qkv + n * 3 * H + H, sizeof(float) * H);
    memcpy(v + n * H, qkv + n * 3 * H + 2 * H, sizeof(float) * H);
  }
  bertd_attention_forward(ref, q, k, v, scores, lens, B, H, NH);
  if (bf16)
    for (int i = 0; i < N * H; i++) q[i] = bf16_round(q[i]), k[i] = bf16_round(k[i]), v[i] = bf16_round(v[i]);
  bertd_attention_forward(ref16, q, k, v, scores, lens, B, H, NH);
  memset(got, 0xff, sizeof(float) * N * H); /* NaN: every element must be written */
  const float scale = 1.0f / sqrtf((float)D);
  const size_t Tp = ((size_t)Tmax + 15) / 16 * 16;
  for (int b = 0, start = 0; b < B; start += lens[b], b++)
    for (int h = 0; h < NH; h++) {
      const float *qp = qkv + (size_t)start * 3 * H + (size_t)h * D;
      head(got + (size_t)start * H + (size_t)h * D, H, qp, qp + H,
                                  qp + 2 * H, 3 * H, lens[b], D, scale, kt, kt + (size_t)D * Tp);
    }
  for (int b = 0, start = 0; b < B; start += lens[b], b++) {
    const int rounded = bf16 && lens[b] >= bf16;
    const float tol = rounded ? 5e-3f : 2e-6f, *want = rounded ? ref16 : ref;
    for (int i = start * H; i < (start + lens[b]) * H; i++)
      cr_assert(fabsf(got[i] - want[i]) < tol, "D %d T %d element %d: %g vs %g", D, lens[b], i,
                got[i], want[i]);
  }
  free(qkv); free(q); free(k); free(v); free(ref); free(ref16); free(got); free(scores); free(kt);
}

static void tiled_heads(head_fn *head, int min_d) {
  if (min_d == 8) tiled_heads_case(head, 16, 2, 0); /* D 8 */
  tiled_heads_case(head, 32, 2, 0);                 /* D 16 */
  tiled_heads_case(head, 64, 2, 0);                 /* D 32: MiniLM's */
  tiled_heads_case(head, 128, 2, 0);                /* D 64: BERT-Base's */
  tiled_heads_case(head, 160, 2, 0);                /* D 80 */
}

Test(encoder_packed, avx512_tiled_attention_matches_blas_attention) {
  if (!bertd_gemm_by_name("avx512")) cr_skip_test("this CPU has no avx512f");
  tiled_heads(bertd_attention_head_avx512, 16);
}

/* the bf16 heads: D 32 (MiniLM's, one 32-wide step of q's words), 64 (BERT-Base's), 96 (64 +
 * 32 of the context's columns), 160 (two steps of 64 and 32) */
Test(encoder_packed, avx512_bf16_tiled_attention_matches_rounded_attention) {
  bertd_cpu_features f;
  bertd_cpu_features_detect(&f);
  if (!(f.avx512f && f.avx512bw && f.avx512vl && f.avx512_bf16))
    cr_skip_test("this CPU has no AVX512-BF16");
  cr_assert_eq(bertd_attention_head_select(&bertd_gemm_avx512, BERTD_ATTN_BF16, 64),
               bertd_attention_head_avx512_bf16);
  cr_assert_eq(bertd_attention_head_select(&bertd_gemm_avx512, BERTD_ATTN_BF16_LONG, 64),
               bertd_attention_head_avx512_bf16_long);
  cr_assert_eq(bertd_attention_head_select(&bertd_gemm_avx512, BERTD_ATTN_BF16, 48),
               bertd_attention_head_avx512);
  cr_assert_eq(bertd_attention_head_select(&bertd_gemm_avx512, BERTD_ATTN_FP32, 64),
               bertd_attention_head_avx512);
  cr_assert_eq(bertd_attention_head_select(&bertd_gemm_avx2, BERTD_ATTN_BF16, 64),
               bertd_attention_head_avx2);
  for (int pass = 0; pass < 2; pass++) {
    head_fn *h = pass ? bertd_attention_head_avx512_bf16_long : bertd_attention_head_avx512_bf16;
    const int rounded_from = pass ? 17 : 1;
    tiled_heads_case(h, 64, 2, rounded_from);
    tiled_heads_case(h, 128, 2, rounded_from);
    tiled_heads_case(h, 192, 2, rounded_from);
    tiled_heads_case(h, 320, 2, rounded_from);
  }
}

Test(encoder_packed, avx2_tiled_attention_matches_blas_attention) {
  if (!bertd_gemm_by_name("avx2")) cr_skip_test("this CPU has no avx2 and fma");
  tiled_heads(bertd_attention_head_avx2, 8);
}
