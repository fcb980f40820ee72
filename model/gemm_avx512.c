/* gemm_avx512.c: the AVX-512F kernel: 12 rows x 32 columns per tile, 24 zmm accumulators, one
 * broadcast of A and two panel loads per k; column tails by lane masks. Built for AVX-512F by
 * target attribute only; gemm.c calls it only when the CPU has it. */
#include "gemm.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "gelu.h"

enum { MR = 12, NR = 32 };
#define TARGET __attribute__((target("avx512f")))

static inline __mmask16 lanes(int n) {
  return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

static inline __attribute__((always_inline)) TARGET void tile_mr(const bertd_gemm_args *a,
                                                                 int row0, const int mr, int p) {
  const bertd_packed *w = a->w;
  const int K = w->K, col0 = p * NR, ldi = a->ldi;
  const float *B = w->data + (size_t)p * K * NR;
  const float *A = a->inp + (size_t)row0 * ldi;
  __m512 acc[MR][2];
  for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int k = 0; k < K; k++) {
    const __m512 b0 = _mm512_load_ps(B + (size_t)k * NR), b1 = _mm512_load_ps(B + (size_t)k * NR + 16);
    for (int r = 0; r < mr; r++) {
      const __m512 x = _mm512_set1_ps(A[(size_t)r * ldi + k]);
      acc[r][0] = _mm512_fmadd_ps(x, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(x, b1, acc[r][1]);
    }
  }
  const int cols = w->N - col0 < NR ? w->N - col0 : NR;
  const __mmask16 m0 = lanes(cols), m1 = lanes(cols - 16);
  __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
  if (w->bias) {
    bias0 = _mm512_maskz_loadu_ps(m0, w->bias + col0);
    bias1 = _mm512_maskz_loadu_ps(m1, w->bias + col0 + 16);
  }
  for (int r = 0; r < mr; r++) {
    float *o = a->out + (size_t)(row0 + r) * a->ldo + col0;
    __m512 v0 = _mm512_add_ps(acc[r][0], bias0), v1 = _mm512_add_ps(acc[r][1], bias1);
    if (a->epi == BERTD_EPI_RESIDUAL) {
      v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, o), v0);
      v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, o + 16), v1);
    }
    _mm512_mask_storeu_ps(o, m0, v0);
    _mm512_mask_storeu_ps(o + 16, m1, v1);
    if (a->epi == BERTD_EPI_BIAS_GELU) gelu_forward(o, (size_t)cols);
  }
}

static TARGET void tile(const bertd_gemm_args *a, int row0, int mr, int p) {
  switch (mr) {
  case 12: tile_mr(a, row0, 12, p); break;
  case 11: tile_mr(a, row0, 11, p); break;
  case 10: tile_mr(a, row0, 10, p); break;
  case 9: tile_mr(a, row0, 9, p); break;
  case 8: tile_mr(a, row0, 8, p); break;
  case 7: tile_mr(a, row0, 7, p); break;
  case 6: tile_mr(a, row0, 6, p); break;
  case 5: tile_mr(a, row0, 5, p); break;
  case 4: tile_mr(a, row0, 4, p); break;
  case 3: tile_mr(a, row0, 3, p); break;
  case 2: tile_mr(a, row0, 2, p); break;
  default: tile_mr(a, row0, 1, p); break;
  }
}

static TARGET void run(const bertd_gemm_args *a, int p0, int p1) {
  const int mb = bertd_gemm_row_block(a->w->K, MR);
  for (int m0 = 0; m0 < a->M; m0 += mb) {
    const int m1 = m0 + mb < a->M ? m0 + mb : a->M;
    for (int p = p0; p < p1; p++)
      for (int r = m0; r < m1; r += MR) tile(a, r, m1 - r < MR ? m1 - r : MR, p);
  }
}

const bertd_gemm_kernel bertd_gemm_avx512 = {"avx512", NR, run};
#else
const bertd_gemm_kernel bertd_gemm_avx512 = {"avx512", 32, NULL};
#endif
