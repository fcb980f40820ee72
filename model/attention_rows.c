/* attention_rows.c: inference self-attention, one query row at a time, without BLAS: per
 * sequence and head, k is transposed once into scratch (D,T), then each query row's T scores
 * are formed, soft-maxed and folded into its D outputs while they sit in L1. No (T,T) matrix is
 * written and no sgemm is called (for MiniLM's 16-token sequences, 12 small sgemm calls per
 * head and layer cost more in call overhead than in arithmetic). See layers.h. */
#include <math.h>

#include "gemm.h"
#include "layers.h"
#include "vecmath.h"

/* one head of one sequence: c (T,D) row stride ldc; q, k, v (T,D) row stride ld */
BERTD_VEC_CLONES static void head_rows(float *restrict c, int ldc, const float *restrict q,
                                       const float *restrict k, const float *restrict v, int ld,
                                       int T, int D, float scale, float *restrict kt,
                                       float *restrict s) {
  for (int j = 0; j < T; j++)
    for (int d = 0; d < D; d++) kt[(size_t)d * T + j] = k[(size_t)j * ld + d];
  for (int i = 0; i < T; i++) {
    const float *qi = q + (size_t)i * ld;
    for (int j = 0; j < T; j++) s[j] = 0.0f;
    for (int d = 0; d < D; d++) {
      const float x = qi[d];
      const float *kr = kt + (size_t)d * T;
      for (int j = 0; j < T; j++) s[j] += x * kr[j];
    }
    for (int j = 0; j < T; j++) s[j] *= scale;
    softmax_rows(s, 1, T);
    float *ci = c + (size_t)i * ldc;
    for (int d = 0; d < D; d++) ci[d] = 0.0f;
    for (int j = 0; j < T; j++) {
      const float p = s[j];
      const float *vr = v + (size_t)j * ld;
      for (int d = 0; d < D; d++) ci[d] += p * vr[d];
    }
  }
}

size_t bertd_attention_rows_scratch(int D, int Tmax) {
  const size_t Tp = ((size_t)Tmax + 15) / 16 * 16;
  /* fp32 tiles: kt (D, Tp) and scores (6, Tp); bf16 tiles beside them: k's and v's words
   * (D/2, Tp) and (Tp/2, D), q's (Tp + 6, D/2) and the probabilities' (6, Tp/2). Covers the
   * row path's (D+1) * Tmax. */
  return ((5 * (size_t)D + 1) / 2 + 9) * Tp + 3 * (size_t)D;
}

bertd_attention_head_fn *bertd_attention_head_select(const bertd_gemm_kernel *kern,
                                                     bertd_attention_precision p, int D) {
  if (kern == &bertd_gemm_avx512 && p == BERTD_ATTN_BF16 && D % 32 == 0)
    return bertd_attention_head_avx512_bf16;
  if (kern == &bertd_gemm_avx512 && p == BERTD_ATTN_BF16_LONG && D % 32 == 0)
    return bertd_attention_head_avx512_bf16_long;
  if (kern == &bertd_gemm_avx512 && D % 16 == 0) return bertd_attention_head_avx512;
  if (kern == &bertd_gemm_avx2 && D % 8 == 0) return bertd_attention_head_avx2;
  return NULL;
}

const char *bertd_attention_head_name(bertd_attention_head_fn *head) {
  return head == bertd_attention_head_avx512_bf16        ? "avx512-bf16"
         : head == bertd_attention_head_avx512_bf16_long ? "avx512-bf16 over 16 tokens"
         : head == bertd_attention_head_avx512    ? "avx512"
         : head == bertd_attention_head_avx2      ? "avx2"
                                                  : "rows";
}

void bertd_attention_rows(float *ctx, const float *qkv, const int *lens, int B, int H, int NH,
                          bertd_attention_head_fn *tiled, float *scratch, int part, int parts) {
  const int D = H / NH, ld = 3 * H;
  const float scale = 1.0f / sqrtf((float)D);
  int Tmax = 0;
  for (int b = 0; b < B; b++) Tmax = lens[b] > Tmax ? lens[b] : Tmax;
  const size_t Tp = ((size_t)Tmax + 15) / 16 * 16;
  float *kt = scratch, *s = scratch + (size_t)D * (tiled ? Tp : (size_t)Tmax);
  /* work items (b, h) in order; this part takes items [lo, hi) */
  const long items = (long)B * NH, lo = items * part / parts, hi = items * (part + 1) / parts;
  size_t start = 0;
  long item = 0;
  for (int b = 0; b < B && item < hi; b++) {
    const int T = lens[b];
    for (int h = 0; h < NH; h++, item++) {
      if (item < lo || item >= hi) continue;
      const float *q = qkv + start * ld + (size_t)h * D;
      float *c = ctx + start * H + (size_t)h * D;
      if (tiled) tiled(c, H, q, q + H, q + 2 * H, ld, T, D, scale, kt, s);
      else head_rows(c, H, q, q + H, q + 2 * H, ld, T, D, scale, kt, s);
    }
    start += (size_t)T;
  }
}
