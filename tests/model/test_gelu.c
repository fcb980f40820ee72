/* test_gelu.c: gelu.c's erf, GELU and GELU derivative against libm in double. The bounds are
 * the approximation's own (tools/codegen/fit_erf.py prints 4.2e-7 for erf): a wrong coefficient
 * or a broken clamp moves the error by orders of magnitude. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "gelu.h"

/* every float step of 1e-4 over [-10, 10], plus the clamp edges and large magnitudes */
static size_t grid(float **out) {
  size_t n = 200001 + 6;
  float *x = malloc(n * sizeof(float));
  cr_assert_not_null(x);
  for (size_t i = 0; i < 200001; i++) x[i] = (float)(-10.0 + 1e-4 * (double)i);
  const float extra[6] = {4.0f * 1.41421356f, -4.0f * 1.41421356f, 1e4f, -1e4f, 1e-30f, -0.0f};
  for (int i = 0; i < 6; i++) x[200001 + i] = extra[i];
  *out = x;
  return n;
}

Test(gelu, erf_within_its_fitted_bound) {
  double worst = 0.0;
  for (double v = -12.0; v <= 12.0; v += 3e-5) {
    const float x = (float)v;
    const double e = fabs((double)bertd_gelu_erf(x) - erf((double)x));
    worst = e > worst ? e : worst;
  }
  cr_expect_lt(worst, 4.5e-7, "max |erf error| %.3g", worst);
  cr_expect_eq(bertd_gelu_erf(0.0f), 0.0f);
  cr_expect_eq(bertd_gelu_erf(4.0f), 1.0f, "erf(4) rounds to 1 in float");
  cr_expect_eq(bertd_gelu_erf(-100.0f), -1.0f, "clamped below");
  cr_expect(isnan(bertd_gelu_erf(NAN)), "NaN passes through");
}

Test(gelu, forward_matches_exact_gelu) {
  float *x;
  const size_t n = grid(&x);
  float *y = malloc(n * sizeof(float));
  cr_assert_not_null(y);
  for (size_t i = 0; i < n; i++) y[i] = x[i];
  gelu_forward(y, n);
  double worst = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double v = x[i], ref = 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    /* absolute for small outputs, relative for large ones (x itself, up to 1e4) */
    const double e = fabs(y[i] - ref) / fmax(1.0, fabs(ref));
    worst = e > worst ? e : worst;
  }
  cr_expect_lt(worst, 2.5e-6, "max error %.3g", worst);
  cr_expect_eq(y[n - 4], 1e4f, "gelu(1e4) = 1e4 exactly, not %.9g", y[n - 4]);
  cr_expect_eq(y[n - 3], 0.0f, "gelu(-1e4) = 0, not %.9g", y[n - 3]);
  free(x);
  free(y);
}

Test(gelu, backward_matches_exact_derivative) {
  float *x;
  const size_t n = grid(&x);
  float *d = malloc(n * sizeof(float));
  cr_assert_not_null(d);
  for (size_t i = 0; i < n; i++) d[i] = 2.0f;
  gelu_backward(d, d, x, n); /* in place over dout, as the trainer may call it */
  double worst = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double v = x[i];
    const double ref =
        2.0 * (0.5 * (1.0 + erf(v / sqrt(2.0))) + v * exp(-0.5 * v * v) / sqrt(2.0 * M_PI));
    const double e = fabs(d[i] - ref);
    worst = e > worst ? e : worst;
  }
  cr_expect_lt(worst, 2e-6, "max |derivative error| %.3g", worst);
  free(x);
  free(d);
}

Test(gelu, nan_stays_nan) {
  float x[3] = {NAN, 1.0f, -1.0f}, d[3] = {1.0f, 1.0f, 1.0f};
  float in[3] = {NAN, 1.0f, -1.0f};
  gelu_forward(x, 3);
  cr_expect(isnan(x[0]));
  cr_expect_float_eq(x[1], 0.841344746f, 1e-6);
  gelu_backward(d, d, in, 3);
  cr_expect(isnan(d[0]));
}
