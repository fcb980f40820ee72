/* gemm_bf16_avx512.c: the bf16 linear-layer kernel on AVX512-BF16 (vdpbf16ps), fp32
 * accumulation. Built with -mavx512f -mavx512bw -mavx512vl -mavx512bf16 and called only when
 * cpuid says the CPU has them (lowp_linear.c).
 *
 * Tile: MR rows x NP panels of 16 output channels = 24 zmm accumulators; each step over k
 * loads NP panel vectors (16 channels x 2 k) and broadcasts one pair of bf16 per row, 24
 * vdpbf16ps for 10 loads. The panel block (NP*16 channels x Kp) stays in L2 while every row
 * tile runs over it. */
#include <immintrin.h>

#include "gelu_avx512.h"
#include "lowp.h"

enum { MR = 6, NP = 4, PANEL = 16 };

/* Prefetch of the next panel block. With few rows (a 16-token sequence is three 6-row tiles) a
 * block's panels come from memory once, in its first row tile, as fast as the hardware prefetcher
 * follows four streams, and memory then idles while the other tiles run on them from L2. So each
 * tile of a block also prefetches its share of the block this thread runs next: tile t of T takes
 * the t-th T-th of each next panel, in order, one 64-byte line per panel every T steps over k,
 * which spreads the weight stream over all of a block's compute. With many rows it costs one
 * prefetch per panel every T steps. Measured on Zen 4 (BERT-Base's 72 products, weights streamed
 * from memory, best of 40 passes, alternated with the kernel without it): 16 rows 17.4-20.6 ->
 * 15.3-15.6 ms on one core, 9.1-9.6 -> 7.8-8.1 ms on two; 64 rows 5-7 % faster, 128 and 512 rows
 * 1-3 %, never slower. Prefetching the panels being read a fixed distance ahead instead (4 to 64
 * lines, as gemm_avx512.c does) won nothing or lost: the hardware prefetcher keeps up with those
 * streams; what was lost was the idle memory. */

static inline __m512bh bcast_pair(const uint16_t *p) {
  int32_t v;
  memcpy(&v, p, sizeof v);
  return (__m512bh)_mm512_set1_epi32(v);
}

/* c (rows r0.., panels) -> out, with bias and the residual; mask for a partial last panel */
static inline void store(const bertd_lowp_gemm_args *g, int n, int oc, __m512 c) {
  const int left = g->OC - oc;
  const __mmask16 m = left >= PANEL ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
  float *o = g->out + (size_t)n * g->ldo + oc;
  if (g->bias) c = _mm512_add_ps(c, _mm512_maskz_loadu_ps(m, g->bias + oc));
  if (g->accumulate) c = _mm512_add_ps(c, _mm512_maskz_loadu_ps(m, o));
  if (g->gelu) c = bertd_gelu16(c);
  _mm512_mask_storeu_ps(o, m, c);
}

/* Exact row tails: a tile runs mr rows (MR, or the rows left at the end of a chunk), mr a
 * compile-time constant after inlining (rows at or past mr are dead code, as in gemm_avx512.c),
 * so 16 rows run as 6 + 6 + 4 and not as three full tiles of 6 (18 rows, 11 % padding). The
 * prepared activations stay padded to a multiple of MR rows (lowp.h's Np), so a kernel that
 * reads them all still may; these read only rows below N. Measured on Zen 4 (bench_encoder, one
 * core, 5 pairs alternated with the kernel padding to 18): one 16-token sequence 1.03-1.11x the
 * sentences/s on BERT-Base (median 1.09), 1.07-1.14x on MiniLM (1.12); 64 rows 1.01-1.05x, 128
 * and 512 rows 0.97-1.03x (neutral). 16, 64 and 128 rows end in a 4- or 2-row tile, so these
 * figures would be the same with only the heights 6, 4 and 2; every height is compiled since
 * a batch's rows are any count. */
#define INLINE static inline __attribute__((always_inline))

/* mr rows x NP panels at rows n0, panels p0; next: the start of the block this thread runs
 * next (NULL: none); tile of tiles: this tile's place among the row tiles run over this block
 * (the prefetch note above) */
INLINE void tile_mr(const bertd_lowp_gemm_args *g, int n0, int p0, const uint16_t *next,
                    int tile, int tiles, const int mr) {
  const int Kp = g->Kp, K2 = Kp / 2;
  const size_t ps = (size_t)Kp * PANEL; /* bf16 elements per panel */
  const uint16_t *A = (const uint16_t *)g->a + (size_t)n0 * Kp;
  const uint16_t *W = (const uint16_t *)g->w + (size_t)p0 * ps;
  /* 24 accumulators as named variables: GCC 12 keeps an array of them in memory and spills
   * every step (measured 1.5x slower); MR = 6, NP = 4 are spelled out below */
#define ACC4(r) __m512 c##r##0 = z, c##r##1 = z, c##r##2 = z, c##r##3 = z
  const __m512 z = _mm512_setzero_ps();
  ACC4(0); ACC4(1); ACC4(2); ACC4(3); ACC4(4); ACC4(5);
#undef ACC4
  /* a panel holds K2 lines of 64 bytes, one per step over k */
  const char *pf = next ? (const char *)next + (size_t)tile * K2 / tiles * 64 : NULL;
  const size_t pstride = ps * sizeof(*W);
  int wait = 1;
  for (int k = 0; k < K2; k++) {
    const uint16_t *wk = W + (size_t)k * 2 * PANEL;
    if (pf && --wait == 0) {
      wait = tiles;
      _mm_prefetch(pf, _MM_HINT_T0);
      _mm_prefetch(pf + pstride, _MM_HINT_T0);
      _mm_prefetch(pf + 2 * pstride, _MM_HINT_T0);
      _mm_prefetch(pf + 3 * pstride, _MM_HINT_T0);
      pf += 64;
    }
    const __m512bh w0 = (__m512bh)_mm512_loadu_si512((const void *)(wk + 0 * ps));
    const __m512bh w1 = (__m512bh)_mm512_loadu_si512((const void *)(wk + 1 * ps));
    const __m512bh w2 = (__m512bh)_mm512_loadu_si512((const void *)(wk + 2 * ps));
    const __m512bh w3 = (__m512bh)_mm512_loadu_si512((const void *)(wk + 3 * ps));
#define ROW(r)                                                                                     \
  if (mr > r) {                                                                                    \
    const __m512bh a = bcast_pair(A + (size_t)(r) * Kp + 2 * k);                                   \
    c##r##0 = _mm512_dpbf16_ps(c##r##0, a, w0);                                                    \
    c##r##1 = _mm512_dpbf16_ps(c##r##1, a, w1);                                                    \
    c##r##2 = _mm512_dpbf16_ps(c##r##2, a, w2);                                                    \
    c##r##3 = _mm512_dpbf16_ps(c##r##3, a, w3);                                                    \
  }
    ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
  }
#define STORE4(r)                                                                                  \
  if (mr > r) {                                                                                    \
    store(g, n0 + r, (p0 + 0) * PANEL, c##r##0);                                                   \
    store(g, n0 + r, (p0 + 1) * PANEL, c##r##1);                                                   \
    store(g, n0 + r, (p0 + 2) * PANEL, c##r##2);                                                   \
    store(g, n0 + r, (p0 + 3) * PANEL, c##r##3);                                                   \
  }
  STORE4(0) STORE4(1) STORE4(2) STORE4(3) STORE4(4) STORE4(5)
#undef STORE4
}

/* mr rows, one panel: the panels left over after the NP blocks */
INLINE void one_mr(const bertd_lowp_gemm_args *g, int n0, int p, const int mr) {
  const int Kp = g->Kp, K2 = Kp / 2;
  const uint16_t *A = (const uint16_t *)g->a + (size_t)n0 * Kp;
  const uint16_t *W = (const uint16_t *)g->w + (size_t)p * Kp * PANEL;
  __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
  for (int k = 0; k < K2; k++) {
    const __m512bh w = (__m512bh)_mm512_loadu_si512((const void *)(W + (size_t)k * 2 * PANEL));
#define ROW(r)                                                                                     \
  if (mr > r) c##r = _mm512_dpbf16_ps(c##r, bcast_pair(A + (size_t)(r) * Kp + 2 * k), w);
    ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
  }
#define STORE(r)                                                                                   \
  if (mr > r) store(g, n0 + r, p * PANEL, c##r);
  STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5)
#undef STORE
}

/* the per-height functions, their dispatch and the loop over chunks, blocks and row tiles */
#define LOWP_ELEM uint16_t
#include "lowp_tiles.inc"

static void to_bf16(const float *x, int N, int C, uint16_t *a, int Kp) {
  for (int n = 0; n < N; n++) {
    const float *xr = x + (size_t)n * C;
    uint16_t *ar = a + (size_t)n * Kp;
    int c = 0;
    for (; c + 32 <= C; c += 32) {
      /* vcvtne2ps2bf16: round to nearest even; the second source fills the low half */
      __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(xr + c + 16), _mm512_loadu_ps(xr + c));
      _mm512_storeu_si512((void *)(ar + c), (__m512i)v);
    }
    for (; c < C; c++) ar[c] = bertd_bf16_from_float(xr[c]);
    for (; c < Kp; c++) ar[c] = 0;
  }
}

const bertd_lowp_kernel bertd_kernel_bf16_avx512 = {
    .name = "bf16 avx512-bf16", .prec = BERTD_PRECISION_BF16, .panel = PANEL, .group = 2,
    .mr = MR, .kalign = 4, .act_offset = 0, .gelu = 1, .gemm = gemm, .to_bf16 = to_bf16};
