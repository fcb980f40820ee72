/* test_softmax.c: softmax_rows against a double softmax, on rows of several lengths. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "layers.h"

Test(softmax, matches_double_softmax) {
  enum { N = 7 };
  const int lens[N] = {1, 2, 3, 8, 17, 64, 513};
  double worst = 0.0;
  unsigned seed = 12345;
  for (int r = 0; r < N; r++) {
    const int C = lens[r];
    float *x = malloc(sizeof(float) * (size_t)C);
    double *ref = malloc(sizeof(double) * (size_t)C);
    cr_assert(x && ref);
    for (int i = 0; i < C; i++) {
      seed = seed * 1103515245u + 12345u;
      x[i] = ((float)(seed >> 8) / (float)(1u << 24) - 0.5f) * 40.0f; /* [-20, 20) */
    }
    double m = x[0], s = 0.0;
    for (int i = 1; i < C; i++) m = x[i] > m ? x[i] : m;
    for (int i = 0; i < C; i++) s += ref[i] = exp((double)x[i] - m);
    softmax_rows(x, 1, C);
    double sum = 0.0;
    for (int i = 0; i < C; i++) {
      const double e = fabs(x[i] - ref[i] / s);
      worst = e > worst ? e : worst;
      sum += x[i];
    }
    cr_expect(fabs(sum - 1.0) < 1e-5, "row of %d sums to %.9g", C, sum);
    free(x);
    free(ref);
  }
  cr_expect_lt(worst, 2e-7, "max |p error| %.3g", worst);
}

Test(softmax, several_rows_independent) {
  float x[6] = {0, 0, 0, 1000, 0, -1000}; /* huge logits: no overflow, exact one-hot */
  softmax_rows(x, 2, 3);
  for (int i = 0; i < 3; i++) cr_expect_float_eq(x[i], 1.0f / 3.0f, 1e-7);
  cr_expect_eq(x[3], 1.0f);
  cr_expect_lt(x[4], 1e-37f);
}
