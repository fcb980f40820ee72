/* quantize_rows.c: one activation row (C) to int8 with its own scale, in AVX-512 or AVX2
 * vectors: the int8 path quantises every row of every product's input (lowp_linear.c).
 *
 * Written out because GCC leaves bertd_quantize_row_mul's max scan scalar (a float max
 * reduction needs -ffast-math) and the loop called fmaxf: at MiniLM 8 x 64 the quantiser took
 * 27 % of int8's time beside 46 % in the products. The result is bertd_quantize_row_mul's bit
 * for bit: the max is exact in any order and a NaN is skipped as there (max returns its second
 * operand when either is NaN), each element is multiplied and scaled in the same order, and
 * rounding to nearest even equals its 1.5 * 2^23 trick on |v| <= 127. Built by target
 * attribute only; lowp_linear.c calls a function only when the CPU runs it. */
#include "lowp.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw"))) /* bw: the byte packs */
#define T256 __attribute__((target("avx2,fma")))

/* the scalar formula, for the tails of the AVX2 loop (bertd_quantize_row_mul's) */
static inline float scaled(const float *x, const float *mul, int i, float inv) {
  return (mul ? x[i] * mul[i] : x[i]) * inv;
}

T512 float bertd_quantize_row_avx512(const float *x, const float *mul, int n, unsigned char *q,
                                     int offset) {
  /* two running maxima, so that consecutive maxima do not wait on each other */
  __m512 amax = _mm512_setzero_ps(), amax2 = amax;
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512 v = _mm512_loadu_ps(x + i), w = _mm512_loadu_ps(x + i + 16);
    if (mul) {
      v = _mm512_mul_ps(v, _mm512_loadu_ps(mul + i));
      w = _mm512_mul_ps(w, _mm512_loadu_ps(mul + i + 16));
    }
    amax = _mm512_max_ps(_mm512_abs_ps(v), amax);
    amax2 = _mm512_max_ps(_mm512_abs_ps(w), amax2);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
    __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    if (mul) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, mul + i));
    amax = _mm512_max_ps(_mm512_abs_ps(v), amax);
  }
  const float mx = _mm512_reduce_max_ps(_mm512_max_ps(amax, amax2));
  if (!(mx > 0.0f) || !isfinite(mx)) {
    memset(q, offset ? 0x80 : 0, (size_t)n);
    return 0.0f;
  }
  const __m512 inv = _mm512_set1_ps(127.0f / mx), hi = _mm512_set1_ps(127.0f),
               lo = _mm512_set1_ps(-127.0f);
  const __m128i flip = _mm_set1_epi8(offset ? (char)0x80 : 0);
  /* 64 at a time: rounded to nearest even in the conversion itself, then packed by saturating
   * packs (exact: |v| <= 127) and one dword permute into order, one 64-byte store, in place
   * of a vpmovdb and a 16-byte store per 16 (with the two maxima: 0.8 -> 0.63 cycles an
   * element on Zen 4, rows of 384-1,536 with a multiplier, one core) */
  const __m512i flip64 = _mm512_set1_epi8(offset ? (char)0x80 : 0);
  /* packs work within 128-bit lanes: dword 4L + j of the packed bytes holds elements
   * 4L..4L+3 of input vector j; dword d of the output wants vector d / 4's lane d % 4 */
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  i = 0;
  for (; i + 64 <= n; i += 64) {
    __m512i a[4];
    for (int j = 0; j < 4; j++) {
      __m512 v = _mm512_loadu_ps(x + i + 16 * j);
      if (mul) v = _mm512_mul_ps(v, _mm512_loadu_ps(mul + i + 16 * j));
      v = _mm512_max_ps(_mm512_min_ps(_mm512_mul_ps(v, inv), hi), lo);
      a[j] = _mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    __m512i b = _mm512_packs_epi16(_mm512_packs_epi32(a[0], a[1]), _mm512_packs_epi32(a[2], a[3]));
    b = _mm512_xor_si512(_mm512_permutexvar_epi32(order, b), flip64);
    _mm512_storeu_si512((void *)(q + i), b);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
    __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    if (mul) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, mul + i));
    v = _mm512_roundscale_ps(_mm512_mul_ps(v, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm512_max_ps(_mm512_min_ps(v, hi), lo);
    const __m128i b = _mm_xor_si128(_mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v)), flip);
    if (m == 0xFFFF) _mm_storeu_si128((__m128i *)(q + i), b);
    else {
      unsigned char tmp[16];
      _mm_storeu_si128((__m128i *)tmp, b);
      memcpy(q + i, tmp, (size_t)(n - i));
    }
  }
  return mx / 127.0f;
}

T256 static inline float hmax8(__m256 v) {
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
  return _mm_cvtss_f32(h);
}

T256 float bertd_quantize_row_avx2(const float *x, const float *mul, int n, unsigned char *q,
                                   int offset) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 amax = _mm256_setzero_ps();
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    if (mul) v = _mm256_mul_ps(v, _mm256_loadu_ps(mul + i));
    amax = _mm256_max_ps(_mm256_andnot_ps(sign, v), amax);
  }
  float mx = hmax8(amax);
  for (; i < n; i++) {
    const float a = fabsf(mul ? x[i] * mul[i] : x[i]);
    mx = a > mx ? a : mx;
  }
  if (!(mx > 0.0f) || !isfinite(mx)) {
    memset(q, offset ? 0x80 : 0, (size_t)n);
    return 0.0f;
  }
  const float inv_s = 127.0f / mx;
  const __m256 inv = _mm256_set1_ps(inv_s), hi = _mm256_set1_ps(127.0f),
               lo = _mm256_set1_ps(-127.0f);
  const __m128i flip = _mm_set1_epi8(offset ? (char)0x80 : 0);
  for (i = 0; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    if (mul) v = _mm256_mul_ps(v, _mm256_loadu_ps(mul + i));
    v = _mm256_round_ps(_mm256_mul_ps(v, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm256_max_ps(_mm256_min_ps(v, hi), lo);
    const __m256i d = _mm256_cvtps_epi32(v);
    /* 8 int32 -> 8 int16 -> 8 bytes, in order (all within +-127: no saturation) */
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(d), _mm256_extracti128_si256(d, 1));
    _mm_storel_epi64((__m128i *)(q + i), _mm_xor_si128(_mm_packs_epi16(w, w), flip));
  }
  for (; i < n; i++) {
    const float r = nearbyintf(scaled(x, mul, i, inv_s)); /* to nearest even: the default mode */
    const float c = r > 127.0f ? 127.0f : r < -127.0f ? -127.0f : r;
    q[i] = (unsigned char)((int8_t)(int)c ^ (offset ? 0x80 : 0));
  }
  return mx / 127.0f;
}
#endif
