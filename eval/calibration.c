/* calibration.c: expected calibration error and percentiles (bertd_metrics.h). */
#include <math.h>
#include <string.h>

#include "bertd_metrics.h"

double bertd_ece(const float *conf, const uint8_t *right, size_t n, bertd_calib_bin *bins) {
  size_t count[BERTD_ECE_BINS] = {0}, hits[BERTD_ECE_BINS] = {0};
  double sum_conf[BERTD_ECE_BINS] = {0};
  for (size_t i = 0; i < n; i++) {
    double c = conf[i];
    /* (k/15, (k+1)/15]: ceil(c * 15) - 1, clamped so 0 and 1 land in the end bins */
    int k = (int)ceil(c * BERTD_ECE_BINS) - 1;
    if (k < 0) k = 0;
    if (k >= BERTD_ECE_BINS) k = BERTD_ECE_BINS - 1;
    count[k]++;
    hits[k] += right[i] != 0;
    sum_conf[k] += c;
  }
  double ece = 0;
  for (int k = 0; k < BERTD_ECE_BINS; k++) {
    double acc = count[k] ? (double)hits[k] / (double)count[k] : 0;
    double mc = count[k] ? sum_conf[k] / (double)count[k] : 0;
    if (count[k]) ece += (double)count[k] / (double)n * fabs(acc - mc);
    if (bins) bins[k] = (bertd_calib_bin){count[k], acc, mc};
  }
  return n ? ece : 0;
}

double bertd_percentile_sorted(const double *v, size_t n, double q) {
  if (!n) return 0;
  double pos = q / 100.0 * (double)(n - 1);
  size_t lo = (size_t)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
  return v[lo] + (v[hi] - v[lo]) * (pos - (double)lo);
}
