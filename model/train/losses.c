/* losses.c: cross-entropy and BCE-with-logits with their gradients (see losses.h). */
#include "losses.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int bertd_cross_entropy_loss(const float *logits, const int32_t *labels, int R, int C,
                       int ignore_index, float scale, float *dlogits, double *loss, int *count,
                       char *errstr, size_t errstr_size) {
  int n = 0;
  for (int r = 0; r < R; r++) {
    if (labels[r] == ignore_index) continue;
    if (labels[r] < 0 || labels[r] >= C) {
      snprintf(errstr, errstr_size, "loss: label %d at row %d outside 0..%d", labels[r], r, C - 1);
      return -1;
    }
    n++;
  }
  *count = n;
  double total = 0.0;
  const float g = n ? scale / (float)n : 0.0f;
  for (int r = 0; r < R; r++) {
    const float *x = logits + (size_t)r * C;
    float *d = dlogits ? dlogits + (size_t)r * C : NULL;
    if (labels[r] == ignore_index) {
      if (d) memset(d, 0, sizeof(float) * (size_t)C);
      continue;
    }
    /* log-sum-exp with the max subtracted; softmax - onehot is the gradient */
    float mx = x[0];
    for (int c = 1; c < C; c++) mx = x[c] > mx ? x[c] : mx;
    double sum = 0.0;
    for (int c = 0; c < C; c++) sum += exp((double)x[c] - mx);
    const double lse = mx + log(sum);
    total += lse - x[labels[r]];
    const int y = labels[r];
    for (int c = 0; d && c < C; c++) {
      float prob = (float)exp((double)x[c] - lse);
      d[c] = g * (prob - (c == y ? 1.0f : 0.0f));
    }
  }
  *loss = n ? total / n : 0.0;
  return 0;
}

void bertd_bce_with_logits_loss(const float *logits, const float *targets, int R, int C, float scale,
                          float *dlogits, double *loss) {
  const size_t n = (size_t)R * C;
  double total = 0.0;
  const float g = n ? scale / (float)n : 0.0f;
  for (size_t i = 0; i < n; i++) {
    const double x = logits[i], y = targets[i];
    total += (x > 0 ? x : 0) - x * y + log1p(exp(-fabs(x)));
    const double sig = x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
    if (dlogits) dlogits[i] = g * (float)(sig - y);
  }
  *loss = n ? total / (double)n : 0.0;
}
