/* gemm_int8_avx2.c: the int8 linear-layer kernel for CPUs with AVX2 and no VNNI. Built with
 * -mavx2 -mfma and called only when cpuid says the CPU has AVX2 (lowp_linear.c).
 *
 * vpmaddubsw multiplies unsigned by signed bytes and adds pairs into int16 WITH saturation,
 * which silently ruins int8 models on CPUs without VNNI when both sides use the full range.
 * Here it is fed |w| (unsigned) and sign(w) * a (vpsignb), both within [-127, 127], so a pair
 * is at most 2 * 127 * 127 = 32,258 < 32,767: nothing saturates and the int32 sums (vpmaddwd
 * with ones) are exact, the same integers as the VNNI kernel's.
 * Tile: MR rows x NP panels of 8 channels. */
#include <immintrin.h>

#include "lowp.h"

enum { MR = 4, NP = 2, PANEL = 8 };

/* Prefetch of the next pair of panels, as gemm_int8_avx512vnni.c does for its blocks: tile t of
 * the T row tiles over a pair takes the t-th T-th of each next panel, in order, one 64-byte line
 * (two steps over k) per panel every 2T steps. Measured on Zen 4 with the VNNI kernel hidden
 * (BERTD_CPU_DISABLE=avx512_vnni; BERT-Base's 72 products, best of 40 passes, alternated): 16 rows
 * 24.3-24.7 -> 20.2-20.3 ms on one core, 12.4-12.7 -> 10.2-10.4 ms on two; 64 rows 6 %, 128 rows 3
 * % faster. */

static inline __m256i bcast4(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, sizeof v);
  return _mm256_set1_epi32(v);
}

static inline void store(const bertd_lowp_gemm_args *g, int n, int oc, __m256i c) {
  float *o = g->out + (size_t)n * g->ldo + oc;
  float v[PANEL];
  int32_t s[PANEL];
  _mm256_storeu_si256((__m256i *)s, c);
  const int cols = g->OC - oc < PANEL ? g->OC - oc : PANEL;
  if (cols == PANEL) {
    __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(c),
                             _mm256_mul_ps(_mm256_set1_ps(g->a_scale[n]), _mm256_loadu_ps(g->w_scale + oc)));
    if (g->bias) f = _mm256_add_ps(f, _mm256_loadu_ps(g->bias + oc));
    if (g->accumulate) f = _mm256_add_ps(f, _mm256_loadu_ps(o));
    _mm256_storeu_ps(o, f);
    return;
  }
  for (int j = 0; j < cols; j++) {
    v[j] = (float)s[j] * (g->a_scale[n] * g->w_scale[oc + j]);
    if (g->bias) v[j] += g->bias[oc + j];
    o[j] = g->accumulate ? o[j] + v[j] : v[j];
  }
}

static inline __m256i dot4(__m256i acc, __m256i a, __m256i w_abs, __m256i w, __m256i ones) {
  const __m256i p = _mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(a, w));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(p, ones));
}

/* Exact row tails, as gemm_bf16_avx512.c: a tile runs mr rows (MR, or the rows left), mr a
 * compile-time constant after inlining (rows at or past mr are dead code); the activations stay
 * padded to a multiple of MR rows (lowp.h's Np), only rows below N are read. 16, 64 and 128
 * rows are whole tiles here, so it only matters for other counts; on Zen 4 with VNNI hidden,
 * BERT-Base one core, 4 alternated pairs: 16 rows 1.02-1.04x, 64 rows 1.00x (neutral). */
#define INLINE static inline __attribute__((always_inline))

/* mr rows at n0 x np panels at p0; next: the start of the panel pair this thread runs next
 * (NULL: none); tile of tiles: this tile's place among the row tiles run over this pair */
INLINE void tile_mr(const bertd_lowp_gemm_args *g, int n0, int p0, int np, const int8_t *next,
                    int tile, int tiles, const int mr) {
  const int Kp = g->Kp, K4 = Kp / 4;
  const size_t ps = (size_t)Kp * PANEL;
  const int8_t *A = (const int8_t *)g->a + (size_t)n0 * Kp;
  const int8_t *W = (const int8_t *)g->w + (size_t)p0 * ps;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i c[MR][NP];
  for (int r = 0; r < MR; r++)
    for (int j = 0; j < NP; j++) c[r][j] = _mm256_setzero_si256();
  if (np == NP) {
    /* a panel holds K4 / 2 lines of 64 bytes, one per two steps over k */
    const char *pf = next ? (const char *)next + (size_t)tile * (K4 / 2) / tiles * 64 : NULL;
    int wait = 1;
    for (int k = 0; k < K4; k++) {
      if (pf && --wait == 0) {
        wait = 2 * tiles;
        _mm_prefetch(pf, _MM_HINT_T0);
        _mm_prefetch(pf + ps, _MM_HINT_T0);
        pf += 64;
      }
      __m256i w[NP], wa[NP];
      for (int j = 0; j < NP; j++) {
        w[j] = _mm256_loadu_si256((const __m256i *)(W + j * ps + (size_t)k * 4 * PANEL));
        wa[j] = _mm256_abs_epi8(w[j]);
      }
      for (int r = 0; r < MR; r++)
        if (r < mr) {
          const __m256i a = bcast4(A + (size_t)r * Kp + 4 * k);
          for (int j = 0; j < NP; j++) c[r][j] = dot4(c[r][j], a, wa[j], w[j], ones);
        }
    }
  } else {
    for (int k = 0; k < K4; k++) {
      const __m256i w = _mm256_loadu_si256((const __m256i *)(W + (size_t)k * 4 * PANEL));
      const __m256i wa = _mm256_abs_epi8(w);
      for (int r = 0; r < MR; r++)
        if (r < mr) c[r][0] = dot4(c[r][0], bcast4(A + (size_t)r * Kp + 4 * k), wa, w, ones);
    }
  }
  /* constant indices only, so c stays in registers (see gemm_int8_avx512vnni.c) */
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
    for (int j = 0; j < NP; j++)
      if (r < mr && j < np) store(g, n0 + r, (p0 + j) * PANEL, c[r][j]);
}

static void tile(const bertd_lowp_gemm_args *g, int n0, int mr, int p0, int np,
                 const int8_t *next, int tile, int tiles) {
  switch (mr) {
  case 4: tile_mr(g, n0, p0, np, next, tile, tiles, 4); break;
  case 3: tile_mr(g, n0, p0, np, next, tile, tiles, 3); break;
  case 2: tile_mr(g, n0, p0, np, next, tile, tiles, 2); break;
  default: tile_mr(g, n0, p0, np, next, tile, tiles, 1); break;
  }
}

/* panels [p0, p1), NP at a time */
static void gemm(const bertd_lowp_gemm_args *g, int p0, int p1) {
  const int8_t *W = (const int8_t *)g->w;
  const int tiles = (g->N + MR - 1) / MR;
  for (int p = p0; p < p1; p += NP) {
    const int np = p1 - p < NP ? p1 - p : NP;
    const int8_t *next = p + 2 * NP <= p1 ? W + (size_t)(p + NP) * g->Kp * PANEL : NULL;
    for (int n0 = 0, t = 0; n0 < g->N; n0 += MR, t++)
      tile(g, n0, g->N - n0 < MR ? g->N - n0 : MR, p, np, next, t, tiles);
  }
}

const bertd_lowp_kernel bertd_kernel_int8_avx2 = {
    .name = "int8 avx2", .prec = BERTD_PRECISION_INT8, .panel = PANEL, .group = 4, .mr = MR,
    .kalign = 4, .act_offset = 0, .gemm = gemm, .to_bf16 = NULL,
    .quantize = bertd_quantize_row_avx2};
