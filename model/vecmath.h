/* vecmath.h: elementary functions written to vectorise: straight-line float arithmetic, no
 * calls, clamps as selects. Loops calling them vectorise when their file is built with -O3
 * -fno-trapping-math (model/CMakeLists.txt); libm's expf is an out-of-line call per element. */
#ifndef BERTD_VECMATH_H
#define BERTD_VECMATH_H

#include <stdint.h>
#include <string.h>

/* x86-64's baseline has 4-float SSE2 vectors; where the CPU has AVX-512F or AVX2 the loader
 * picks a clone of the marked function built for it (16 or 8 floats a step). GCC only: clang's fuzzing build keeps
 * the baseline. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BERTD_VEC_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define BERTD_VEC_CLONES
#endif

/* exp(a) for a <= 0 (a softmax's x - max, a Gaussian density's exponent): a = n ln2 + r with |r| <= ln2/2, then
 * exp(r) by its degree-7 Taylor polynomial (relative error < 3e-9) times 2^n built in the
 * exponent bits. a is clamped at -87 so 2^n stays a normal float; exp(-87) = 1.6e-38 is zero
 * for every use here. */
static inline float bertd_exp_nonpositive(float a) {
  a = a < -87.0f ? -87.0f : a;
  /* round a / ln2 to the nearest integer n: adding 1.5 * 2^23 pushes the fraction out of the
   * mantissa (round-to-nearest), so t's low mantissa bits hold n itself (|a / ln2| < 2^22) */
  const float shifter = 12582912.0f; /* bits 0x4B400000 */
  const float t = a * 1.44269504088896341f + shifter;
  const float n = t - shifter;
  /* ln 2 split in two so n * LN2_HI is exact */
  const float r = (a - n * 0.693145751953125f) - n * 1.428606765330187e-06f;
  float e = 1.0f / 5040.0f;
  e = e * r + 1.0f / 720.0f;
  e = e * r + 1.0f / 120.0f;
  e = e * r + 1.0f / 24.0f;
  e = e * r + 1.0f / 6.0f;
  e = e * r + 0.5f;
  e = e * r + 1.0f;
  e = e * r + 1.0f;
  /* 2^n from t's bits, in unsigned arithmetic: no float-to-int conversion, so a NaN input
   * (which the clamp lets through) gives a NaN result rather than undefined behaviour */
  uint32_t tb;
  memcpy(&tb, &t, sizeof tb);
  const uint32_t bits = (tb - 0x4B400000u + 127u) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return e * scale;
}

#endif
