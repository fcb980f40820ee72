/* significance.c: the exact McNemar test of a paired comparison (bertd_metrics.h). The paired
 * bootstrap lives with the replay's scoring (replay_compare.c): it re-scores resamples through
 * the metrics above. */
#include <math.h>

#include "bertd_metrics.h"

double bertd_mcnemar_exact(size_t a_only, size_t b_only) {
  size_t n = a_only + b_only, k = a_only < b_only ? a_only : b_only;
  if (n == 0) return 1.0;
  /* 2 * P(X <= k), X ~ Binomial(n, 1/2), summed in log space so large n does not underflow
   * the terms that matter */
  double p = 0, lognf = lgamma((double)n + 1), half = (double)n * log(0.5);
  for (size_t i = 0; i <= k; i++)
    p += exp(lognf - lgamma((double)i + 1) - lgamma((double)(n - i) + 1) + half);
  p *= 2;
  return p > 1 ? 1 : p;
}
