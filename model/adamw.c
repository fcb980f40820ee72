/* adamw.c: AdamW and gradient clipping (see adamw.h). */
#include "adamw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bertd_adamw_init(bertd_adamw *o, size_t n, float beta1, float beta2, float eps,
                     float weight_decay, char *errstr, size_t errstr_size) {
  memset(o, 0, sizeof *o);
  o->m = calloc(n ? n : 1, sizeof(float));
  o->v = calloc(n ? n : 1, sizeof(float));
  if (!o->m || !o->v) {
    bertd_adamw_free(o);
    snprintf(errstr, errstr_size, "adamw: out of memory for %zu MB of moments",
             2 * n * sizeof(float) >> 20);
    return -1;
  }
  o->n = n;
  o->beta1 = beta1;
  o->beta2 = beta2;
  o->eps = eps;
  o->weight_decay = weight_decay;
  return 0;
}

void bertd_adamw_free(bertd_adamw *o) {
  if (!o) return;
  free(o->m);
  free(o->v);
  memset(o, 0, sizeof *o);
}

void bertd_adamw_update(float *p, const float *g, float *m, float *v, size_t n, float lr,
                        float beta1, float beta2, float eps, float wd, int t) {
  /* scalars in double, then rounded once, as torch's Python-side arithmetic does */
  const float bc2_sqrt = (float)sqrt(1.0 - pow(beta2, t));
  const float step_size = (float)((double)lr / (1.0 - pow(beta1, t)));
  const float decay = (float)(1.0 - (double)lr * wd);
  const float a1 = (float)(1.0 - (double)beta1), a2 = (float)(1.0 - (double)beta2);
  for (size_t i = 0; i < n; i++) {
    p[i] *= decay;
    m[i] = beta1 * m[i] + a1 * g[i];
    v[i] = beta2 * v[i] + a2 * g[i] * g[i];
    const float denom = sqrtf(v[i]) / bc2_sqrt + eps;
    p[i] -= step_size * m[i] / denom;
  }
}

void bertd_adamw_step(bertd_adamw *o, bertd_weights *w, const float *grads, float lr) {
  o->t++;
  for (int i = 0; i < w->num_params; i++) {
    const bertd_param *p = &w->params[i];
    bertd_adamw_update(w->memory + p->offset, grads + p->offset, o->m + p->offset,
                       o->v + p->offset, p->numel, lr, o->beta1, o->beta2, o->eps,
                       p->no_decay ? 0.0f : o->weight_decay, o->t);
  }
}

double bertd_clip_grad_norm(float *grads, size_t n, float max_norm) {
  double ss = 0.0;
  for (size_t i = 0; i < n; i++) ss += (double)grads[i] * grads[i];
  const double norm = sqrt(ss);
  if (max_norm > 0.0f) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
      const float c = (float)coef;
      for (size_t i = 0; i < n; i++) grads[i] *= c;
    }
  }
  return norm;
}
