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
