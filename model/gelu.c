/* gelu.c: the exact (erf) GELU of BERT's feed-forward layers, forward and backward.
 *
 * Why not erff: glibc's erff is an out-of-line scalar call, ~10 ns an element on this project's
 * machine, and GELU runs on every element of the (N, I) feed-forward activations: with erff it
 * was about a quarter of MiniLM's encoder time. Here erf is a rational function of x^2 on a
 * clamped range (coefficients fitted by tools/codegen/fit_erf.py, max |error| 4.2e-7, about 7
 * float ulps near 1; torch's own vectorised erf is of the same order) and exp, in the backward,
 * is vecmath.h's range reduction plus a polynomial. Neither has a branch or a call, so the compiler
 * turns each loop into SIMD code (the file is built with -O3 -fno-trapping-math, which lets
 * it if-convert the clamps: see model/CMakeLists.txt). NaN inputs stay NaN, as in torch. */
#include "gelu.h"

#include "gelu_erf_coeffs.h"
#include "vecmath.h"

/* c[0] + c[1] u + ... + c[n-1] u^(n-1); n is a constant at every call, so the loop unrolls */
static inline float horner(const float *c, int n, float u) {
  float r = c[n - 1];
  for (int i = n - 2; i >= 0; i--) r = r * u + c[i];
  return r;
}

static inline float erf_rational(float x) {
  /* clamp with comparisons (not fminf) so a NaN passes through and the loop vectorises */
  float z = x < -GELU_ERF_XMAX ? -GELU_ERF_XMAX : x;
  z = z > GELU_ERF_XMAX ? GELU_ERF_XMAX : z;
  const float u = z * z * (1.0f / (GELU_ERF_XMAX * GELU_ERF_XMAX));
  const float p = horner(GELU_ERF_P, 7, u), q = horner(GELU_ERF_Q, 6, u);
  /* erf(4) = 1 - 1.5e-8 rounds to 1 in float: return exactly +-1 at and beyond the clamp (the
   * rational function gives 1 - 6e-8 there, which gelu(-1e4) would turn into -3e-4, not 0) */
  float r = z * p / q;
  r = x >= GELU_ERF_XMAX ? 1.0f : r;
  r = x <= -GELU_ERF_XMAX ? -1.0f : r;
  return r;
}

float bertd_gelu_erf(float x) { return erf_rational(x); }

BERTD_VEC_CLONES void gelu_forward(float *x, size_t n) {
  const float s = 0.70710678118654752f; /* 1 / sqrt 2 */
  for (size_t i = 0; i < n; i++) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.0f + erf_rational(v * s));
  }
}

BERTD_VEC_CLONES void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
  const float s = 0.70710678118654752f;
  const float inv_sqrt_2pi = 0.39894228040143268f;
  for (size_t i = 0; i < n; i++) {
    const float x = inp[i];
    const float cdf = 0.5f * (1.0f + erf_rational(x * s));
    const float pdf = inv_sqrt_2pi * bertd_exp_nonpositive(-0.5f * x * x);
    dinp[i] = dout[i] * (cdf + x * pdf);
  }
}
