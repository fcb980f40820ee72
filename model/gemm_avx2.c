/* gemm_avx2.c: the AVX2 + FMA kernel: 6 rows x 16 columns per tile, 12 ymm accumulators, one
 * broadcast of A and two panel loads per k. Built for AVX2+FMA by target attribute only (the
 * rest of bertd stays baseline x86-64); gemm.c calls it only when the CPU has both. */
#include "gemm.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <string.h>

#include "gelu_erf_coeffs.h"

/* PF: rows of a panel prefetched ahead (32 x 64 bytes = 2 KiB), as gemm_avx512.c does. */
enum { MR = 6, NR = 16, PF = 32, KC_MAX = 4096 };
#define TARGET __attribute__((target("avx2,fma")))

/* mask of the first n of 8 lanes (n may be <= 0 or >= 8) */
static inline TARGET __m256i lanes(int n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

/* gelu.c's x Phi(x) on 8 lanes in registers, the same operations in the same order (see
 * gemm_avx512.c's gelu16), so bit for bit gelu.c's result. */
static inline __attribute__((always_inline)) TARGET __m256 gelu8(__m256 x) {
  const __m256 xmax = _mm256_set1_ps(GELU_ERF_XMAX), xmin = _mm256_set1_ps(-GELU_ERF_XMAX);
  const __m256 t = _mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)); /* x / sqrt 2 */
  /* NaN-preserving clamp: max/min return their second operand when either is NaN */
  const __m256 z = _mm256_min_ps(xmax, _mm256_max_ps(xmin, t));
  const __m256 u = _mm256_mul_ps(_mm256_mul_ps(z, z),
                                 _mm256_set1_ps(1.0f / (GELU_ERF_XMAX * GELU_ERF_XMAX)));
  __m256 p = _mm256_set1_ps(GELU_ERF_P[6]), q = _mm256_set1_ps(GELU_ERF_Q[5]);
  for (int i = 5; i >= 0; i--) p = _mm256_add_ps(_mm256_mul_ps(p, u), _mm256_set1_ps(GELU_ERF_P[i]));
  for (int i = 4; i >= 0; i--) q = _mm256_add_ps(_mm256_mul_ps(q, u), _mm256_set1_ps(GELU_ERF_Q[i]));
  __m256 r = _mm256_div_ps(_mm256_mul_ps(z, p), q);
  r = _mm256_blendv_ps(r, _mm256_set1_ps(1.0f), _mm256_cmp_ps(t, xmax, _CMP_GE_OQ));
  r = _mm256_blendv_ps(r, _mm256_set1_ps(-1.0f), _mm256_cmp_ps(t, xmin, _CMP_LE_OQ));
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x),
                       _mm256_add_ps(_mm256_set1_ps(1.0f), r));
}

typedef struct {
  int first, last; /* the tile's k chunk starts at 0 / ends at K */
} chunk_pos;

static inline __attribute__((always_inline)) TARGET void put_row(const bertd_gemm_args *a, float *o,
                                                                 __m256 v0, __m256 v1,
                                                                 __m256i m0, __m256i m1,
                                                                 chunk_pos pos) {
  if (!pos.first || a->epi == BERTD_EPI_RESIDUAL) {
    v0 = _mm256_add_ps(_mm256_maskload_ps(o, m0), v0);
    v1 = _mm256_add_ps(_mm256_maskload_ps(o + 8, m1), v1);
  }
  if (pos.last && a->epi == BERTD_EPI_BIAS_GELU) {
    v0 = gelu8(v0);
    v1 = gelu8(v1);
  }
  _mm256_maskstore_ps(o, m0, v0);
  _mm256_maskstore_ps(o + 8, m1, v1);
}

/* named accumulators, not an array (see gemm_avx512.c): rows at or past mr are dead code */
#define DECL(r) __m256 c##r##0 = _mm256_setzero_ps(), c##r##1 = _mm256_setzero_ps();
#define FMA(r)                                                                                  \
  if (mr > r) {                                                                                 \
    const __m256 x = _mm256_broadcast_ss(A + (size_t)r * ldi + k);                              \
    c##r##0 = _mm256_fmadd_ps(x, b0, c##r##0);                                                  \
    c##r##1 = _mm256_fmadd_ps(x, b1, c##r##1);                                                  \
  }
#define PUT(r)                                                                                  \
  if (mr > r)                                                                                   \
    put_row(a, a->out + (size_t)(row0 + r) * a->ldo + col0, _mm256_add_ps(c##r##0, bias0),     \
            _mm256_add_ps(c##r##1, bias1), m0, m1, pos);

/* Rows row0..row0+mr of panel p over k in [k0, k1): the first chunk (k0 == 0) adds the bias
 * and, for the residual epilogue, the old out; later chunks add to out; the last applies GELU. */
static inline __attribute__((always_inline)) TARGET void tile_mr(const bertd_gemm_args *a,
                                                                 int row0, const int mr, int p,
                                                                 int k0, int k1) {
  const bertd_packed *w = a->w;
  const int col0 = p * NR, ldi = a->ldi;
  const float *B = w->data + ((size_t)p * w->K + k0) * NR;
  const float *A = a->inp + (size_t)row0 * ldi + k0;
  const int K = k1 - k0;
  const chunk_pos pos = {k0 == 0, k1 == w->K};
  DECL(0) DECL(1) DECL(2) DECL(3) DECL(4) DECL(5)
  for (int k = 0; k < K; k++) {
    _mm_prefetch((const char *)(B + (size_t)(k + PF) * NR), _MM_HINT_T0);
    const __m256 b0 = _mm256_load_ps(B + (size_t)k * NR), b1 = _mm256_load_ps(B + (size_t)k * NR + 8);
    FMA(0) FMA(1) FMA(2) FMA(3) FMA(4) FMA(5)
  }
  const int cols = w->N - col0 < NR ? w->N - col0 : NR;
  const __m256i m0 = lanes(cols), m1 = lanes(cols - 8);
  __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
  if (w->bias && pos.first) {
    bias0 = _mm256_maskload_ps(w->bias + col0, m0);
    bias1 = _mm256_maskload_ps(w->bias + col0 + 8, m1);
  }
  PUT(0) PUT(1) PUT(2) PUT(3) PUT(4) PUT(5)
}

static TARGET void tile(const bertd_gemm_args *a, int row0, int mr, int p, int k0, int k1) {
  switch (mr) {
  case 6: tile_mr(a, row0, 6, p, k0, k1); break;
  case 5: tile_mr(a, row0, 5, p, k0, k1); break;
  case 4: tile_mr(a, row0, 4, p, k0, k1); break;
  case 3: tile_mr(a, row0, 3, p, k0, k1); break;
  case 2: tile_mr(a, row0, 2, p, k0, k1); break;
  default: tile_mr(a, row0, 1, p, k0, k1); break;
  }
}

/* K in one pass up to KC_MAX (every BERT product's K, up to BERT-Large's 4096), rows in blocks
 * of A sized for L2 (gemm.h), then panels, then mr-row tiles. K used to be cut in chunks of 256
 * so a panel's chunk stayed in L1: on a whole MiniLM or BERT-Base layer sequence (Zen 4, one
 * core, alternated runs) one pass was faster (avx2: about 45 %), the panel streaming from L2 and
 * the prefetch keeping up, and each output tile is then finished and stored once. */
static TARGET void run(const bertd_gemm_args *a, int p0, int p1) {
  const int K = a->w->K, chunks = (K + KC_MAX - 1) / KC_MAX, kc = (K + chunks - 1) / chunks;
  const int mb = bertd_gemm_row_block(a->M, kc, MR);
  for (int k0 = 0; k0 < K; k0 += kc) {
    const int k1 = k0 + kc < K ? k0 + kc : K;
    for (int m0 = 0; m0 < a->M; m0 += mb) {
      const int m1 = m0 + mb < a->M ? m0 + mb : a->M;
      for (int p = p0; p < p1; p++)
        for (int r = m0; r < m1; r += MR) tile(a, r, m1 - r < MR ? m1 - r : MR, p, k0, k1);
    }
  }
}

const bertd_gemm_kernel bertd_gemm_avx2 = {"avx2", NR, run};
#else
/* not x86-64: never chosen (bertd_gemm_by_name returns NULL for it) */
const bertd_gemm_kernel bertd_gemm_avx2 = {"avx2", 16, NULL};
#endif
