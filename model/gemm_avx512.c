/* gemm_avx512.c: the AVX-512F kernel: 12 rows x 32 columns per tile, 24 zmm accumulators, one
 * broadcast of A and two panel loads per k; column tails by lane masks. Built for AVX-512F by
 * target attribute only; gemm.c calls it only when the CPU has it. */
#include "gemm.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "gelu_avx512.h"

/* PF: rows of a panel prefetched ahead (32 x 128 bytes = 4 KiB). At one 16-token sequence the
 * panels stream from memory and the hardware prefetcher alone left the kernel at about 62
 * GFLOP/s a core; 4 KiB ahead gave about 68-80 (same run, alternated), and nothing is lost
 * where the panels sit in cache. */
enum { MR = 12, NR = 32, PF = 32, KC_MAX = 4096 };
#define TARGET __attribute__((target("avx512f")))

static inline __mmask16 lanes(int n) {
  return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* one finished row of a tile: v = acc + bias (+ out), stored under the column masks */
typedef struct {
  int first, last; /* the tile's k chunk starts at 0 / ends at K */
} chunk_pos;

static inline __attribute__((always_inline)) TARGET void put_row(const bertd_gemm_args *a, float *o,
                                                                 __m512 v0, __m512 v1,
                                                                 __mmask16 m0, __mmask16 m1,
                                                                 chunk_pos pos) {
  if (!pos.first || a->epi == BERTD_EPI_RESIDUAL) {
    v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, o), v0);
    v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, o + 16), v1);
  }
  if (pos.last && a->epi == BERTD_EPI_BIAS_GELU) {
    v0 = bertd_gelu16(v0);
    v1 = bertd_gelu16(v1);
  }
  _mm512_mask_storeu_ps(o, m0, v0);
  _mm512_mask_storeu_ps(o + 16, m1, v1);
}

/* The accumulators are named variables, not an array: GCC keeps a small array of vectors in
 * memory and stores it every iteration; named variables stay in registers. Rows at or past mr
 * (a compile-time constant after inlining) are dead code. */
#define DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
#define FMA(r)                                                                                  \
  if (mr > r) {                                                                                 \
    const __m512 x = _mm512_set1_ps(A[(size_t)r * ldi + k]);                                    \
    c##r##0 = _mm512_fmadd_ps(x, b0, c##r##0);                                                  \
    c##r##1 = _mm512_fmadd_ps(x, b1, c##r##1);                                                  \
  }
#define PUT(r)                                                                                  \
  if (mr > r)                                                                                   \
    put_row(a, a->out + (size_t)(row0 + r) * a->ldo + col0, _mm512_add_ps(c##r##0, bias0),     \
            _mm512_add_ps(c##r##1, bias1), m0, m1, pos);

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
  DECL(0) DECL(1) DECL(2) DECL(3) DECL(4) DECL(5) DECL(6) DECL(7) DECL(8) DECL(9) DECL(10)
  DECL(11)
  for (int k = 0; k < K; k++) {
    _mm_prefetch((const char *)(B + (size_t)(k + PF) * NR), _MM_HINT_T0);
    _mm_prefetch((const char *)(B + (size_t)(k + PF) * NR + 16), _MM_HINT_T0);
    const __m512 b0 = _mm512_load_ps(B + (size_t)k * NR), b1 = _mm512_load_ps(B + (size_t)k * NR + 16);
    FMA(0) FMA(1) FMA(2) FMA(3) FMA(4) FMA(5) FMA(6) FMA(7) FMA(8) FMA(9) FMA(10) FMA(11)
  }
  const int cols = w->N - col0 < NR ? w->N - col0 : NR;
  const __mmask16 m0 = lanes(cols), m1 = lanes(cols - 16);
  __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
  if (w->bias && pos.first) {
    bias0 = _mm512_maskz_loadu_ps(m0, w->bias + col0);
    bias1 = _mm512_maskz_loadu_ps(m1, w->bias + col0 + 16);
  }
  PUT(0) PUT(1) PUT(2) PUT(3) PUT(4) PUT(5) PUT(6) PUT(7) PUT(8) PUT(9) PUT(10) PUT(11)
}

static TARGET void tile(const bertd_gemm_args *a, int row0, int mr, int p, int k0, int k1) {
  switch (mr) {
  case 12: tile_mr(a, row0, 12, p, k0, k1); break;
  case 11: tile_mr(a, row0, 11, p, k0, k1); break;
  case 10: tile_mr(a, row0, 10, p, k0, k1); break;
  case 9: tile_mr(a, row0, 9, p, k0, k1); break;
  case 8: tile_mr(a, row0, 8, p, k0, k1); break;
  case 7: tile_mr(a, row0, 7, p, k0, k1); break;
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
 * core, alternated runs) one pass was faster (avx512: 13-18 %), the panel streaming from L2 and
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

const bertd_gemm_kernel bertd_gemm_avx512 = {"avx512", NR, run};
#else
const bertd_gemm_kernel bertd_gemm_avx512 = {"avx512", 32, NULL};
#endif
