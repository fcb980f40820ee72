/* gelu_avx512.h: GELU on 16 fp32 lanes, for the AVX-512 kernels' epilogues (private to model/).
 * Include only from files built for AVX-512F (by flag or target attribute). */
#ifndef BERTD_GELU_AVX512_H
#define BERTD_GELU_AVX512_H

#include <immintrin.h>

#include "gelu_erf_coeffs.h"

/* gelu.c's x Phi(x) on 16 lanes while the tile is in registers: the same rational erf on the
 * same clamped range (gelu_erf_coeffs.h), the same operations in the same order (no fused
 * multiply-adds: gelu.c is built as ISO C, without contraction), so the result is gelu.c's bit
 * for bit (tests/model/test_gemm.c holds it exactly). Calling
 * gelu_forward on each stored 32-column row cost about a tenth of the feed-forward product.
 * Shared by the fp32 kernel (gemm_avx512.c) and the bf16 / int8 AVX-512 kernels. */
static inline __attribute__((always_inline, target("avx512f"))) __m512 bertd_gelu16(__m512 x) {
  const __m512 xmax = _mm512_set1_ps(GELU_ERF_XMAX);
  const __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)); /* x / sqrt 2 */
  /* NaN-preserving clamp: max/min return their second operand when either is NaN */
  const __m512 z = _mm512_min_ps(xmax, _mm512_max_ps(_mm512_set1_ps(-GELU_ERF_XMAX), t));
  const __m512 u = _mm512_mul_ps(_mm512_mul_ps(z, z),
                                 _mm512_set1_ps(1.0f / (GELU_ERF_XMAX * GELU_ERF_XMAX)));
  __m512 p = _mm512_set1_ps(GELU_ERF_P[6]), q = _mm512_set1_ps(GELU_ERF_Q[5]);
  for (int i = 5; i >= 0; i--) p = _mm512_add_ps(_mm512_mul_ps(p, u), _mm512_set1_ps(GELU_ERF_P[i]));
  for (int i = 4; i >= 0; i--) q = _mm512_add_ps(_mm512_mul_ps(q, u), _mm512_set1_ps(GELU_ERF_Q[i]));
  __m512 r = _mm512_div_ps(_mm512_mul_ps(z, p), q);
  /* exactly +-1 at and beyond the clamp, as gelu.c */
  r = _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(t, xmax, _CMP_GE_OQ), _mm512_set1_ps(1.0f));
  r = _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(t, _mm512_set1_ps(-GELU_ERF_XMAX), _CMP_LE_OQ),
                         _mm512_set1_ps(-1.0f));
  return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x),
                       _mm512_add_ps(_mm512_set1_ps(1.0f), r));
}

#endif
