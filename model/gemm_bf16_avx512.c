/* gemm_bf16_avx512.c: the bf16 linear-layer kernel on AVX512-BF16 (vdpbf16ps), fp32
 * accumulation. Built with -mavx512f -mavx512bw -mavx512vl -mavx512bf16 and called only when
 * cpuid says the CPU has them (lowp_linear.c).
 *
 * Tile: MR rows x NP panels of 16 output channels = 24 zmm accumulators; each step over k
 * loads NP panel vectors (16 channels x 2 k) and broadcasts one pair of bf16 per row, 24
 * vdpbf16ps for 10 loads. The panel block (NP*16 channels x Kp) stays in L2 while every row
 * tile runs over it. */
#include <immintrin.h>

#include "lowp.h"

enum { MR = 6, NP = 4, PANEL = 16 };

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
  _mm512_mask_storeu_ps(o, m, c);
}

/* the full MR x NP tile at rows n0, panels p0 */
static void tile_full(const bertd_lowp_gemm_args *g, int n0, int p0) {
  const int Kp = g->Kp, K2 = Kp / 2;
  const size_t ps = (size_t)Kp * PANEL; /* bf16 elements per panel */
  const uint16_t *A = (const uint16_t *)g->a + (size_t)n0 * Kp;
  const uint16_t *W = (const uint16_t *)g->w + (size_t)p0 * ps;
  __m512 c[MR][NP];
  for (int r = 0; r < MR; r++)
    for (int j = 0; j < NP; j++) c[r][j] = _mm512_setzero_ps();
  for (int k = 0; k < K2; k++) {
    __m512bh w[NP];
    for (int j = 0; j < NP; j++)
      w[j] = (__m512bh)_mm512_loadu_si512((const void *)(W + j * ps + (size_t)k * 2 * PANEL));
    for (int r = 0; r < MR; r++) {
      const __m512bh a = bcast_pair(A + (size_t)r * Kp + 2 * k);
      for (int j = 0; j < NP; j++) c[r][j] = _mm512_dpbf16_ps(c[r][j], a, w[j]);
    }
  }
  const int rows = g->N - n0 < MR ? g->N - n0 : MR;
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < NP; j++) store(g, n0 + r, (p0 + j) * PANEL, c[r][j]);
}

/* MR rows, one panel: the panels left over after the NP blocks */
static void tile_one(const bertd_lowp_gemm_args *g, int n0, int p) {
  const int Kp = g->Kp, K2 = Kp / 2;
  const uint16_t *A = (const uint16_t *)g->a + (size_t)n0 * Kp;
  const uint16_t *W = (const uint16_t *)g->w + (size_t)p * Kp * PANEL;
  __m512 c[MR];
  for (int r = 0; r < MR; r++) c[r] = _mm512_setzero_ps();
  for (int k = 0; k < K2; k++) {
    const __m512bh w = (__m512bh)_mm512_loadu_si512((const void *)(W + (size_t)k * 2 * PANEL));
    for (int r = 0; r < MR; r++) c[r] = _mm512_dpbf16_ps(c[r], bcast_pair(A + (size_t)r * Kp + 2 * k), w);
  }
  const int rows = g->N - n0 < MR ? g->N - n0 : MR;
  for (int r = 0; r < rows; r++) store(g, n0 + r, p * PANEL, c[r]);
}

/* panels [p0, p1): blocks of NP panels while they last, then one at a time. For each block
 * every row tile runs over it, so the block's weights stay in L2. */
static void gemm(const bertd_lowp_gemm_args *g, int p0, int p1) {
  int p = p0;
  for (; p + NP <= p1; p += NP)
    for (int n0 = 0; n0 < g->N; n0 += MR) tile_full(g, n0, p);
  for (; p < p1; p++)
    for (int n0 = 0; n0 < g->N; n0 += MR) tile_one(g, n0, p);
}

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
    .mr = MR, .act_offset = 0, .gemm = gemm, .to_bf16 = to_bf16};
