/* layernorm.c: LayerNorm forward and backward over rows (N,C), as torch.nn.LayerNorm.
 *
 * Row sums are taken in double (the mean is subtracted before squaring, as torch does, so rows
 * with a large mean keep their precision), in 8 independent lanes: a single running double sum
 * is a chain the compiler may not reorder, while 8 lanes are vectorised (and summed pairwise
 * at the end). The per-element passes are plain float and vectorise too; the file is built
 * like gelu.c (model/CMakeLists.txt). */
#include <math.h>
#include <stddef.h>

#include "layers.h"
#include "vecmath.h"

enum { LANES = 8 };

/* sum of x[i] (k = 0) or of (x[i] - m)^2 (k = 1), in double; inlined into each of the target
 * clones below so its 8 lanes become one vector (a separate function stayed baseline x86-64:
 * 5 % of int8 time at MiniLM 8 x 64) */
static inline __attribute__((always_inline)) double row_sum(const float *x, int C, double m,
                                                          int k) {
  double acc[LANES] = {0};
  int i = 0;
  for (; i + LANES <= C; i += LANES)
    for (int j = 0; j < LANES; j++) {
      const double d = (double)x[i + j] - m;
      acc[j] += k ? d * d : d;
    }
  for (int j = 0; i < C; i++, j++) {
    const double d = (double)x[i] - m;
    acc[j] += k ? d * d : d;
  }
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

void bertd_layernorm_forward(float *x, const float *gamma, const float *beta, int N, int C, float eps) {
  /* in place, without the statistics the backward pass needs */
  layernorm_forward_train(x, NULL, NULL, x, gamma, beta, N, C, eps);
}

BERTD_VEC_CLONES void layernorm_forward_train(float *out, float *mean, float *rstd, const float *inp,
                             const float *gamma, const float *beta, int N, int C, float eps) {
  for (int n = 0; n < N; n++) {
    const float *x = inp + (size_t)n * C;
    float *o = out + (size_t)n * C;
    /* out may be inp: every element is read by the sums before the last pass writes it */
    const double m = row_sum(x, C, 0.0, 0) / C;
    const double var = row_sum(x, C, m, 1) / C;
    const float rs = (float)(1.0 / sqrt(var + eps));
    const float mf = (float)m;
    for (int i = 0; i < C; i++) o[i] = (x[i] - mf) * rs * gamma[i] + beta[i];
    if (mean) mean[n] = mf;
    if (rstd) rstd[n] = rs;
  }
}

BERTD_VEC_CLONES void layernorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *gamma, const float *mean,
                        const float *rstd, int N, int C) {
  for (int n = 0; n < N; n++) {
    const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
    float *dx = dinp + (size_t)n * C;
    const float m = mean[n], rs = rstd[n];
    /* xhat = (x - mean) * rstd; dxhat = dy * gamma;
     * dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) */
    double sd[LANES] = {0}, sdx[LANES] = {0};
    int i = 0;
    for (; i + LANES <= C; i += LANES)
      for (int j = 0; j < LANES; j++) {
        const float xhat = (x[i + j] - m) * rs, dxhat = dy[i + j] * gamma[i + j];
        sd[j] += dxhat;
        sdx[j] += (double)dxhat * xhat;
      }
    for (int j = 0; i < C; i++, j++) {
      const float xhat = (x[i] - m) * rs, dxhat = dy[i] * gamma[i];
      sd[j] += dxhat;
      sdx[j] += (double)dxhat * xhat;
    }
    double sum_d = 0.0, sum_dx = 0.0;
    for (int j = 0; j < LANES; j++) sum_d += sd[j], sum_dx += sdx[j];
    const float mean_d = (float)(sum_d / C), mean_dx = (float)(sum_dx / C);
    for (i = 0; i < C; i++) {
      const float xhat = (x[i] - m) * rs, dxhat = dy[i] * gamma[i];
      dgamma[i] += dy[i] * xhat;
      dbeta[i] += dy[i];
      dx[i] += (dxhat - mean_d - xhat * mean_dx) * rs;
    }
  }
}
