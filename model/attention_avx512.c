/* attention_avx512.c: attention_tiles.inc for AVX-512F, 6 query rows x 4 vectors (64 keys):
 * 24 zmm accumulators.
 *
 * The portable path (attention_rows.c) forms one query row's scores at a time, so every
 * multiply-add also loads and stores the row it adds to: it ran at about a quarter of the
 * dense layers' rate, 15 % of MiniLM's time at 8 x 64 tokens for 3 % of its arithmetic (3 %
 * with the tiles). Built for AVX-512F by target attribute only; attention_rows.c calls it only
 * when the fp32 kernel the CPU runs is avx512 (gemm.h) and D is a multiple of 16. */
#include "layers.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "vecmath.h"

#define TARGET __attribute__((target("avx512f")))
#define VEC __m512
#define VW 16
#define NCMAX 4
#define vzero _mm512_setzero_ps
#define vload _mm512_loadu_ps
#define vstore _mm512_storeu_ps
#define vset1 _mm512_set1_ps
#define vfma _mm512_fmadd_ps
#define vmul _mm512_mul_ps
#define vadd _mm512_add_ps
#define vmax _mm512_max_ps
#define vhsum _mm512_reduce_add_ps
#define vhmax _mm512_reduce_max_ps
/* dst (16 rows, stride ldd) = the 16 x 16 block src (rows of 16 floats, stride ld)
 * transposed; rows past `rows` read as zeros. Pairs of rows interleave by 32 bits, then
 * quads by 64 bits, leaving lane L of u[4g + c] = column 4L + c of rows 4g..4g+3; 128-bit
 * lane shuffles then gather each column's four quads. */
static inline TARGET void transpose_tile(const float *src, int ld, int rows, float *dst,
                                         int ldd) {
  __m512 r[16], t[16], u[16];
  for (int i = 0; i < 16; i++)
    r[i] = i < rows ? _mm512_loadu_ps(src + (size_t)i * ld) : _mm512_setzero_ps();
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
#define PD _mm512_castps_pd
#define PS _mm512_castpd_ps
  for (int g = 0; g < 4; g++) {
    u[4 * g + 0] = PS(_mm512_unpacklo_pd(PD(t[4 * g + 0]), PD(t[4 * g + 2])));
    u[4 * g + 1] = PS(_mm512_unpackhi_pd(PD(t[4 * g + 0]), PD(t[4 * g + 2])));
    u[4 * g + 2] = PS(_mm512_unpacklo_pd(PD(t[4 * g + 1]), PD(t[4 * g + 3])));
    u[4 * g + 3] = PS(_mm512_unpackhi_pd(PD(t[4 * g + 1]), PD(t[4 * g + 3])));
  }
#undef PD
#undef PS
  for (int c = 0; c < 4; c++) {
    const __m512 vlo = _mm512_shuffle_f32x4(u[c], u[4 + c], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 vhi = _mm512_shuffle_f32x4(u[c], u[4 + c], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512 wlo = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 whi = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], _MM_SHUFFLE(3, 2, 3, 2));
    _mm512_storeu_ps(dst + (size_t)(c)*ldd, _mm512_shuffle_f32x4(vlo, wlo, _MM_SHUFFLE(2, 0, 2, 0)));
    _mm512_storeu_ps(dst + (size_t)(4 + c) * ldd, _mm512_shuffle_f32x4(vlo, wlo, _MM_SHUFFLE(3, 1, 3, 1)));
    _mm512_storeu_ps(dst + (size_t)(8 + c) * ldd, _mm512_shuffle_f32x4(vhi, whi, _MM_SHUFFLE(2, 0, 2, 0)));
    _mm512_storeu_ps(dst + (size_t)(12 + c) * ldd, _mm512_shuffle_f32x4(vhi, whi, _MM_SHUFFLE(3, 1, 3, 1)));
  }
}
#define HEAD_FN bertd_attention_head_avx512
#include "attention_tiles.inc"
#else
void bertd_attention_head_avx512(float *restrict c, int ldc, const float *restrict q,
                                 const float *restrict k, const float *restrict v, int ld, int T,
                                 int D, float scale, float *restrict kt, float *restrict s) {
  (void)c, (void)ldc, (void)q, (void)k, (void)v, (void)ld, (void)T, (void)D, (void)scale;
  (void)kt, (void)s;
}
#endif
