/* gemm_avx2.c: the AVX2 + FMA kernel: 6 rows x 16 columns per tile, 12 ymm accumulators, one
 * broadcast of A and two panel loads per k. Built for AVX2+FMA by target attribute only (the
 * rest of bertd stays baseline x86-64); gemm.c calls it only when the CPU has both. */
#include "gemm.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <string.h>

#include "gelu.h"

enum { MR = 6, NR = 16 };
#define TARGET __attribute__((target("avx2,fma")))

/* mask of the first n of 8 lanes (n may be <= 0 or >= 8) */
static inline TARGET __m256i lanes(int n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

static inline __attribute__((always_inline)) TARGET void tile_mr(const bertd_gemm_args *a,
                                                                 int row0, const int mr, int p) {
  const bertd_packed *w = a->w;
  const int K = w->K, col0 = p * NR, ldi = a->ldi;
  const float *B = w->data + (size_t)p * K * NR;
  const float *A = a->inp + (size_t)row0 * ldi;
  __m256 acc[MR][2];
  for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int k = 0; k < K; k++) {
    const __m256 b0 = _mm256_load_ps(B + (size_t)k * NR), b1 = _mm256_load_ps(B + (size_t)k * NR + 8);
    for (int r = 0; r < mr; r++) {
      const __m256 x = _mm256_broadcast_ss(A + (size_t)r * ldi + k);
      acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
    }
  }
  const int cols = w->N - col0 < NR ? w->N - col0 : NR;
  const __m256i m0 = lanes(cols), m1 = lanes(cols - 8);
  __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
  if (w->bias) {
    bias0 = _mm256_maskload_ps(w->bias + col0, m0);
    bias1 = _mm256_maskload_ps(w->bias + col0 + 8, m1);
  }
  for (int r = 0; r < mr; r++) {
    float *o = a->out + (size_t)(row0 + r) * a->ldo + col0;
    __m256 v0 = _mm256_add_ps(acc[r][0], bias0), v1 = _mm256_add_ps(acc[r][1], bias1);
    if (a->epi == BERTD_EPI_RESIDUAL) {
      v0 = _mm256_add_ps(_mm256_maskload_ps(o, m0), v0);
      v1 = _mm256_add_ps(_mm256_maskload_ps(o + 8, m1), v1);
    }
    _mm256_maskstore_ps(o, m0, v0);
    _mm256_maskstore_ps(o + 8, m1, v1);
    if (a->epi == BERTD_EPI_BIAS_GELU) gelu_forward(o, (size_t)cols);
  }
}

static TARGET void tile(const bertd_gemm_args *a, int row0, int mr, int p) {
  switch (mr) {
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

const bertd_gemm_kernel bertd_gemm_avx2 = {"avx2", NR, run};
#else
/* not x86-64: never chosen (bertd_gemm_by_name returns NULL for it) */
const bertd_gemm_kernel bertd_gemm_avx2 = {"avx2", 16, NULL};
#endif
