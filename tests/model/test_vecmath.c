/* test_vecmath.c: vecmath.h's exp against libm's double exp over its whole domain. */
#include <criterion/criterion.h>
#include <math.h>

#include "vecmath.h"

Test(vecmath, exp_nonpositive_relative_error) {
  double worst = 0.0, at = 0.0;
  for (double a = -87.0; a <= 0.0; a += 1e-4) {
    const float x = (float)a;
    const double ref = exp((double)x);
    const double e = fabs(bertd_exp_nonpositive(x) - ref) / ref;
    if (e > worst) worst = e, at = x;
  }
  /* float rounding of the reduced argument and the product: a few ulps (1 ulp = 6e-8) */
  cr_expect_lt(worst, 3e-7, "max relative error %.3g at %g", worst, at);
  cr_expect_eq(bertd_exp_nonpositive(0.0f), 1.0f);
  cr_expect_eq(bertd_exp_nonpositive(-0.0f), 1.0f);
}

Test(vecmath, exp_clamps_and_propagates_nan) {
  cr_expect_float_eq(bertd_exp_nonpositive(-1000.0f), (float)exp(-87.0), 1e-44);
  cr_expect(isnan(bertd_exp_nonpositive(NAN)));
}
