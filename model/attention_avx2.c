/* attention_avx2.c: attention_tiles.inc for AVX2+FMA, 6 query rows x 2 vectors (16 keys):
 * 12 of the 16 ymm registers accumulate.
 *
 * The portable path (attention_rows.c) forms one query row's scores at a time, so every
 * multiply-add also loads and stores the row it adds to: it ran at about a quarter of the
 * dense layers' rate, 15 % of MiniLM's time at 8 x 64 tokens for 3 % of its arithmetic (3 %
 * with the tiles). Built for AVX2+FMA by target attribute only; attention_rows.c calls it only
 * when the fp32 kernel the CPU runs is avx2 (gemm.h) and D is a multiple of 8. */
#include "layers.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "vecmath.h"

#define TARGET __attribute__((target("avx2,fma")))
#define VEC __m256
#define VW 8
#define NCMAX 2
#define vzero _mm256_setzero_ps
#define vload _mm256_loadu_ps
#define vstore _mm256_storeu_ps
#define vset1 _mm256_set1_ps
#define vfma _mm256_fmadd_ps
#define vmul _mm256_mul_ps
/* a vector's 8 lanes summed / maximised: halves, then pairs */
static inline TARGET float hsum8(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
  return _mm_cvtss_f32(h);
}
static inline TARGET float hmax8(__m256 v) {
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
  return _mm_cvtss_f32(h);
}
#define vadd _mm256_add_ps
#define vmax _mm256_max_ps
#define vhsum hsum8
#define vhmax hmax8
/* dst (8 rows, stride ldd) = the 8 x 8 block src (rows of 8 floats, stride ld) transposed;
 * rows past `rows` read as zeros. Pairs of rows interleave by 32 bits, then quads by 64 bits
 * (lane L of u[4g + c] = column 4L + c of rows 4g..4g+3), then the 128-bit halves pair up. */
static inline TARGET void transpose_tile(const float *src, int ld, int rows, float *dst,
                                         int ldd) {
  __m256 r[8], t[8], u[8];
  for (int i = 0; i < 8; i++)
    r[i] = i < rows ? _mm256_loadu_ps(src + (size_t)i * ld) : _mm256_setzero_ps();
  for (int i = 0; i < 4; i++) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 2; g++) {
    u[4 * g + 0] = _mm256_shuffle_ps(t[4 * g + 0], t[4 * g + 2], 0x44);
    u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g + 0], t[4 * g + 2], 0xee);
    u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xee);
  }
  for (int c = 0; c < 4; c++) {
    _mm256_storeu_ps(dst + (size_t)c * ldd, _mm256_permute2f128_ps(u[c], u[4 + c], 0x20));
    _mm256_storeu_ps(dst + (size_t)(4 + c) * ldd, _mm256_permute2f128_ps(u[c], u[4 + c], 0x31));
  }
}
#define HEAD_FN bertd_attention_head_avx2
#include "attention_tiles.inc"
#else
void bertd_attention_head_avx2(float *restrict c, int ldc, const float *restrict q,
                                 const float *restrict k, const float *restrict v, int ld, int T,
                                 int D, float scale, float *restrict kt, float *restrict s) {
  (void)c, (void)ldc, (void)q, (void)k, (void)v, (void)ld, (void)T, (void)D, (void)scale;
  (void)kt, (void)s;
}
#endif
