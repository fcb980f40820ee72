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
