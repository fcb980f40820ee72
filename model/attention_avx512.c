/* attention_avx512.c: one (sequence, head) of inference attention in AVX-512F register tiles.
 *
 * The portable path (attention_rows.c) forms one query row's scores at a time, so every
 * multiply-add also loads and stores the row it adds to: it ran at about a quarter of the
 * dense layers' rate, 15 % of MiniLM's time at 8 x 64 tokens for 3 % of its arithmetic. Here
 * six query rows at a time stay in registers:
 *   scores (6, Tp) = q (6, D) @ kt (D, Tp)   24 zmm accumulators: 6 rows x 64 keys
 *   p = softmax(scores * scale) per row      (softmax_rows, the same arithmetic as before)
 *   ctx (6, D) = p (6, T) @ v (T, D)         6 rows x up to 64 of D per pass
 * k is transposed once per head into kt (D, Tp), Tp = T rounded up to 16 and zero-padded, so
 * the key columns load as whole vectors; padded scores are never soft-maxed or used. Query
 * rows past T in the last block repeat row T - 1 and are not stored. Sums run in the same
 * order as attention_rows.c (d, then j, ascending), with fused multiply-adds. Built for
 * AVX-512F by target attribute only; attention_rows.c calls it only when the fp32 kernel the
 * CPU runs is avx512 (gemm.h) and D is a multiple of 16. */
#include "layers.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f")))
enum { RB = 6 };

/* rows r of the block: row i0 + r, or the last row for the block's tail */
#define ROWPTR(base, r) ((base) + (size_t)(i0 + (r) < T ? i0 + (r) : T - 1) * ld)

/* scores for RB rows x nc vectors of keys from key column j0 */
static inline __attribute__((always_inline)) TARGET void scores_tile(
    float *restrict s, int Tp, const float *restrict q, int ld, int i0, int T, int D,
    const float *restrict kt, int j0, const int nc, float scale) {
  const float *q0 = ROWPTR(q, 0), *q1 = ROWPTR(q, 1), *q2 = ROWPTR(q, 2), *q3 = ROWPTR(q, 3),
              *q4 = ROWPTR(q, 4), *q5 = ROWPTR(q, 5);
#define DECL(r) __m512 a##r##0 = _mm512_setzero_ps(), a##r##1 = a##r##0, a##r##2 = a##r##0, a##r##3 = a##r##0;
  DECL(0) DECL(1) DECL(2) DECL(3) DECL(4) DECL(5)
#undef DECL
  for (int d = 0; d < D; d++) {
    const float *kr = kt + (size_t)d * Tp + j0;
    const __m512 k0 = _mm512_loadu_ps(kr);
    const __m512 k1 = nc > 1 ? _mm512_loadu_ps(kr + 16) : k0;
    const __m512 k2 = nc > 2 ? _mm512_loadu_ps(kr + 32) : k0;
    const __m512 k3 = nc > 3 ? _mm512_loadu_ps(kr + 48) : k0;
#define FMA(r)                                                                                  \
  {                                                                                             \
    const __m512 x = _mm512_set1_ps(q##r[d]);                                                   \
    a##r##0 = _mm512_fmadd_ps(x, k0, a##r##0);                                                  \
    if (nc > 1) a##r##1 = _mm512_fmadd_ps(x, k1, a##r##1);                                      \
    if (nc > 2) a##r##2 = _mm512_fmadd_ps(x, k2, a##r##2);                                      \
    if (nc > 3) a##r##3 = _mm512_fmadd_ps(x, k3, a##r##3);                                      \
  }
    FMA(0) FMA(1) FMA(2) FMA(3) FMA(4) FMA(5)
#undef FMA
  }
  const __m512 sc = _mm512_set1_ps(scale);
#define PUT(r)                                                                                  \
  {                                                                                             \
    float *o = s + (size_t)(r) * Tp + j0;                                                       \
    _mm512_storeu_ps(o, _mm512_mul_ps(a##r##0, sc));                                            \
    if (nc > 1) _mm512_storeu_ps(o + 16, _mm512_mul_ps(a##r##1, sc));                           \
    if (nc > 2) _mm512_storeu_ps(o + 32, _mm512_mul_ps(a##r##2, sc));                           \
    if (nc > 3) _mm512_storeu_ps(o + 48, _mm512_mul_ps(a##r##3, sc));                           \
  }
  PUT(0) PUT(1) PUT(2) PUT(3) PUT(4) PUT(5)
#undef PUT
}

/* ctx rows i0.. (only rows < T stored) over nd vectors of D from column d0 */
static inline __attribute__((always_inline)) TARGET void context_tile(
    float *restrict c, int ldc, const float *restrict s, int Tp, const float *restrict v, int ld,
    int i0, int T, int d0, const int nd) {
#define DECL(r) __m512 a##r##0 = _mm512_setzero_ps(), a##r##1 = a##r##0, a##r##2 = a##r##0, a##r##3 = a##r##0;
  DECL(0) DECL(1) DECL(2) DECL(3) DECL(4) DECL(5)
#undef DECL
  for (int j = 0; j < T; j++) {
    const float *vr = v + (size_t)j * ld + d0;
    const __m512 v0 = _mm512_loadu_ps(vr);
    const __m512 v1 = nd > 1 ? _mm512_loadu_ps(vr + 16) : v0;
    const __m512 v2 = nd > 2 ? _mm512_loadu_ps(vr + 32) : v0;
    const __m512 v3 = nd > 3 ? _mm512_loadu_ps(vr + 48) : v0;
#define FMA(r)                                                                                  \
  {                                                                                             \
    const __m512 p = _mm512_set1_ps(s[(size_t)(r) * Tp + j]);                                   \
    a##r##0 = _mm512_fmadd_ps(p, v0, a##r##0);                                                  \
    if (nd > 1) a##r##1 = _mm512_fmadd_ps(p, v1, a##r##1);                                      \
    if (nd > 2) a##r##2 = _mm512_fmadd_ps(p, v2, a##r##2);                                      \
    if (nd > 3) a##r##3 = _mm512_fmadd_ps(p, v3, a##r##3);                                      \
  }
    FMA(0) FMA(1) FMA(2) FMA(3) FMA(4) FMA(5)
#undef FMA
  }
#define PUT(r)                                                                                  \
  if (i0 + (r) < T) {                                                                           \
    float *o = c + (size_t)(i0 + (r)) * ldc + d0;                                               \
    _mm512_storeu_ps(o, a##r##0);                                                               \
    if (nd > 1) _mm512_storeu_ps(o + 16, a##r##1);                                              \
    if (nd > 2) _mm512_storeu_ps(o + 32, a##r##2);                                              \
    if (nd > 3) _mm512_storeu_ps(o + 48, a##r##3);                                              \
  }
  PUT(0) PUT(1) PUT(2) PUT(3) PUT(4) PUT(5)
#undef PUT
}

static TARGET void scores_block(float *s, int Tp, const float *q, int ld, int i0, int T, int D,
                                const float *kt, float scale) {
  int j0 = 0;
  for (; j0 + 64 <= Tp; j0 += 64) scores_tile(s, Tp, q, ld, i0, T, D, kt, j0, 4, scale);
  switch ((Tp - j0) / 16) {
  case 3: scores_tile(s, Tp, q, ld, i0, T, D, kt, j0, 3, scale); break;
  case 2: scores_tile(s, Tp, q, ld, i0, T, D, kt, j0, 2, scale); break;
  case 1: scores_tile(s, Tp, q, ld, i0, T, D, kt, j0, 1, scale); break;
  default: break;
  }
}

static TARGET void context_block(float *c, int ldc, const float *s, int Tp, const float *v,
                                 int ld, int i0, int T, int D) {
  int d0 = 0;
  for (; d0 + 64 <= D; d0 += 64) context_tile(c, ldc, s, Tp, v, ld, i0, T, d0, 4);
  switch ((D - d0) / 16) {
  case 3: context_tile(c, ldc, s, Tp, v, ld, i0, T, d0, 3); break;
  case 2: context_tile(c, ldc, s, Tp, v, ld, i0, T, d0, 2); break;
  case 1: context_tile(c, ldc, s, Tp, v, ld, i0, T, d0, 1); break;
  default: break;
  }
}

TARGET void bertd_attention_head_avx512(float *restrict c, int ldc, const float *restrict q,
                                        const float *restrict k, const float *restrict v, int ld,
                                        int T, int D, float scale, float *restrict kt,
                                        float *restrict s) {
  const int Tp = (T + 15) / 16 * 16;
  for (int d = 0; d < D; d++) {
    float *row = kt + (size_t)d * Tp;
    for (int j = 0; j < T; j++) row[j] = k[(size_t)j * ld + d];
    for (int j = T; j < Tp; j++) row[j] = 0.0f;
  }
  for (int i0 = 0; i0 < T; i0 += RB) {
    scores_block(s, Tp, q, ld, i0, T, D, kt, scale);
    const int rows = T - i0 < RB ? T - i0 : RB;
    for (int r = 0; r < rows; r++) softmax_rows(s + (size_t)r * Tp, 1, T);
    context_block(c, ldc, s, Tp, v, ld, i0, T, D);
  }
}
#else
void bertd_attention_head_avx512(float *restrict c, int ldc, const float *restrict q,
                                 const float *restrict k, const float *restrict v, int ld, int T,
                                 int D, float scale, float *restrict kt, float *restrict s) {
  (void)c, (void)ldc, (void)q, (void)k, (void)v, (void)ld, (void)T, (void)D, (void)scale;
  (void)kt, (void)s;
}
#endif
