/* gemm_int8_avx512vnni.c: the int8 linear-layer kernel on AVX512-VNNI (vpdpbusd). Built with
 * -mavx512f -mavx512bw -mavx512vl -mavx512vnni and called only when cpuid says the CPU has
 * them (lowp_linear.c).
 *
 * vpdpbusd multiplies unsigned bytes by signed bytes, so activations arrive as uint8 = int8 +
 * 128 and each channel's sum starts at -128 * sum_k w[k] (-w_corr) to cancel it: the int32
 * sums are exact (|sum| <= Kp * 255 * 127 < 2^31 for Kp < 66,000), the same integers the AVX2
 * kernel gets. Tile: MR rows x NP panels of 16 channels = 24 zmm accumulators; each step over k
 * loads NP panel vectors (16 channels x 4 k) and broadcasts 4 bytes per row. */
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
 * from memory, best of 40 passes, alternated with the kernel without it): 16 rows 9.5-10.1 -> 7.7
 * ms on one core, 4.8-5.0 -> 4.1-4.3 ms on two; 64 rows 4-8 % faster, 128 and 512 rows 1-4 %,
 * never slower. */

static inline __m512i bcast4(const uint8_t *p) {
  int32_t v;
  memcpy(&v, p, sizeof v);
  return _mm512_set1_epi32(v);
}

/* c + a . w (vpdpbusd: a unsigned, w signed bytes). As inline assembly because GCC 12's pattern
 * for the intrinsic also offers the VEX form (AVX-VNNI, registers 0-15 only) and its register
 * allocator then kept accumulators in zmm16-31 and copied them into zmm0-15 and back around
 * each vpdpbusd (some also to the stack) in all but one of the tile heights; "v" allows all 32. */
static inline __m512i dpbusd(__m512i c, __m512i a, __m512i w) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(c) : "v"(a), "v"(w));
  return c;
}

/* The epilogue, exact int32 sums -> fp32: out = sum * (a_scale * w_scale) + bias (+ out), GELU
 * on request. The sums start at -w_corr (tile_mr below), so they arrive with the correction
 * already subtracted, in the same integers. A panel's scales, bias and mask are loaded once
 * per tile and a row's scale is broadcast once per row: the epilogue runs once per 16 outputs
 * against K / 4 vpdpbusd, which at MiniLM's K = 384 is 96, and every vector operation it issues
 * takes issue slots from them (measured on Zen 4: a vmulps beside vpdpbusd costs a whole
 * cycle of them, a vaddps about half). Against the loads, the subtraction and the broadcast
 * in every store, measured on Zen 4 (one core, best of 60 calls, two alternated pairs): 256
 * rows x 384 -> 1,536 709-710 -> 688-690 us (GELU: 895 -> 873), 256 x 768 -> 3,072
 * 2,710-2,729 -> 2,676-2,680, 256 x 1,536 -> 384 661-663 -> 655-656, 16 x 384 -> 1,536 44.7 ->
 * 43.5. The same arithmetic in the same order, so the same bits. */
typedef struct {
  __m512 ws, b;  /* the panel's 16 channel scales and biases (0 past OC) */
  __mmask16 m;   /* its channels below OC */
} panel_epi;

/* the lanes of the panel at oc that are channels below OC (every panel has at least one) */
static inline __mmask16 panel_mask(const bertd_lowp_gemm_args *g, int oc) {
  const int left = g->OC - oc;
  return left >= PANEL ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
}

static inline panel_epi panel_load(const bertd_lowp_gemm_args *g, int oc) {
  panel_epi e;
  e.m = panel_mask(g, oc);
  e.ws = _mm512_maskz_loadu_ps(e.m, g->w_scale + oc);
  e.b = g->bias ? _mm512_maskz_loadu_ps(e.m, g->bias + oc) : _mm512_setzero_ps();
  return e;
}

/* the panel's -w_corr, the sums' starting value */
static inline __m512i panel_corr(const bertd_lowp_gemm_args *g, int oc) {
  return _mm512_sub_epi32(_mm512_setzero_si512(),
                          _mm512_maskz_loadu_epi32(panel_mask(g, oc), g->w_corr + oc));
}

/* c: row n's corrected sums over the panel at oc; as: a_scale[n] in every lane */
static inline void store(const bertd_lowp_gemm_args *g, int n, int oc, __m512 as,
                         const panel_epi *e, __m512i c) {
  float *o = g->out + (size_t)n * g->ldo + oc;
  __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(c), _mm512_mul_ps(as, e->ws));
  if (g->bias) v = _mm512_add_ps(v, e->b);
  if (g->accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(e->m, o));
  if (g->gelu) v = bertd_gelu16(v);
  _mm512_mask_storeu_ps(o, e->m, v);
}

/* Exact row tails, as gemm_bf16_avx512.c: a tile runs mr rows (MR, or the rows left at the end
 * of a chunk), mr a compile-time constant after inlining, so 16 rows run as 6 + 6 + 4 and not as
 * 18. The activations stay padded to a multiple of MR rows (lowp.h's Np); only rows below N are
 * read. Measured on Zen 4 (bench_encoder, one core, 5 pairs alternated with the kernel padding
 * to 18): one 16-token sequence 1.08-1.11x the sentences/s on BERT-Base (median 1.09), 0.96-1.14x
 * on MiniLM (1.10); 64, 128 and 512 rows 0.97-1.03x (neutral). */
#define INLINE static inline __attribute__((always_inline))

/* mr rows x NP panels at rows n0, panels p0; next: the start of the block this thread runs
 * next (NULL: none); tile of tiles: this tile's place among the row tiles run over this block
 * (the prefetch note above) */
INLINE void tile_mr(const bertd_lowp_gemm_args *g, int n0, int p0, const int8_t *next,
                    int tile, int tiles, const int mr) {
  const int Kp = g->Kp, K4 = Kp / 4;
  const size_t ps = (size_t)Kp * PANEL; /* bytes per panel */
  const uint8_t *A = (const uint8_t *)g->a + (size_t)n0 * Kp;
  const int8_t *W = (const int8_t *)g->w + (size_t)p0 * ps;
  /* 24 accumulators as named variables: GCC 12 keeps an array of them in memory and spills
   * every step (measured 1.5x slower); MR = 6, NP = 4 are spelled out below */
#define ACC4(r) __m512i c##r##0 = z0, c##r##1 = z1, c##r##2 = z2, c##r##3 = z3
  const __m512i z0 = panel_corr(g, (p0 + 0) * PANEL), z1 = panel_corr(g, (p0 + 1) * PANEL),
                z2 = panel_corr(g, (p0 + 2) * PANEL), z3 = panel_corr(g, (p0 + 3) * PANEL);
  ACC4(0); ACC4(1); ACC4(2); ACC4(3); ACC4(4); ACC4(5);
#undef ACC4
  /* a panel holds K4 lines of 64 bytes, one per step over k */
  const char *pf = next ? (const char *)next + (size_t)tile * K4 / tiles * 64 : NULL;
  const size_t pstride = ps * sizeof(*W);
  int wait = 1;
  for (int k = 0; k < K4; k++) {
    const int8_t *wk = W + (size_t)k * 4 * PANEL;
    if (pf && --wait == 0) {
      wait = tiles;
      _mm_prefetch(pf, _MM_HINT_T0);
      _mm_prefetch(pf + pstride, _MM_HINT_T0);
      _mm_prefetch(pf + 2 * pstride, _MM_HINT_T0);
      _mm_prefetch(pf + 3 * pstride, _MM_HINT_T0);
      pf += 64;
    }
    const __m512i w0 = _mm512_loadu_si512((const void *)(wk + 0 * ps));
    const __m512i w1 = _mm512_loadu_si512((const void *)(wk + 1 * ps));
    const __m512i w2 = _mm512_loadu_si512((const void *)(wk + 2 * ps));
    const __m512i w3 = _mm512_loadu_si512((const void *)(wk + 3 * ps));
#define ROW(r)                                                                                     \
  if (mr > r) {                                                                                    \
    const __m512i a = bcast4(A + (size_t)(r) * Kp + 4 * k);                                        \
    c##r##0 = dpbusd(c##r##0, a, w0);                                                              \
    c##r##1 = dpbusd(c##r##1, a, w1);                                                              \
    c##r##2 = dpbusd(c##r##2, a, w2);                                                              \
    c##r##3 = dpbusd(c##r##3, a, w3);                                                              \
  }
    ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
  }
  const panel_epi e0 = panel_load(g, (p0 + 0) * PANEL), e1 = panel_load(g, (p0 + 1) * PANEL),
                  e2 = panel_load(g, (p0 + 2) * PANEL), e3 = panel_load(g, (p0 + 3) * PANEL);
#define STORE4(r)                                                                                  \
  if (mr > r) {                                                                                    \
    const __m512 as = _mm512_set1_ps(g->a_scale[n0 + r]);                                          \
    store(g, n0 + r, (p0 + 0) * PANEL, as, &e0, c##r##0);                                          \
    store(g, n0 + r, (p0 + 1) * PANEL, as, &e1, c##r##1);                                          \
    store(g, n0 + r, (p0 + 2) * PANEL, as, &e2, c##r##2);                                          \
    store(g, n0 + r, (p0 + 3) * PANEL, as, &e3, c##r##3);                                          \
  }
  STORE4(0) STORE4(1) STORE4(2) STORE4(3) STORE4(4) STORE4(5)
#undef STORE4
}

/* mr rows, one panel: the panels left over after the NP blocks */
INLINE void one_mr(const bertd_lowp_gemm_args *g, int n0, int p, const int mr) {
  const int Kp = g->Kp, K4 = Kp / 4;
  const uint8_t *A = (const uint8_t *)g->a + (size_t)n0 * Kp;
  const int8_t *W = (const int8_t *)g->w + (size_t)p * Kp * PANEL;
  __m512i c0 = panel_corr(g, p * PANEL), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
  for (int k = 0; k < K4; k++) {
    const __m512i w = _mm512_loadu_si512((const void *)(W + (size_t)k * 4 * PANEL));
#define ROW(r)                                                                                     \
  if (mr > r) c##r = dpbusd(c##r, bcast4(A + (size_t)(r) * Kp + 4 * k), w);
    ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
  }
  const panel_epi e = panel_load(g, p * PANEL);
#define STORE(r)                                                                                   \
  if (mr > r) store(g, n0 + r, p * PANEL, _mm512_set1_ps(g->a_scale[n0 + r]), &e, c##r);
  STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5)
#undef STORE
}

/* the per-height functions, their dispatch and the loop over chunks, blocks and row tiles */
#define LOWP_ELEM int8_t
#include "lowp_tiles.inc"

const bertd_lowp_kernel bertd_kernel_int8_avx512vnni = {
    .name = "int8 avx512-vnni", .prec = BERTD_PRECISION_INT8, .panel = PANEL, .group = 4,
    .mr = MR, .kalign = 4, .act_offset = 1, .gelu = 1, .gemm = gemm, .to_bf16 = NULL,
    .quantize = bertd_quantize_row_avx512};
