/* adamw.c: AdamW and gradient clipping (see adamw.h).
 *
 * At fine-tuning batch sizes the optimizer, not the model, was most of a training step: a
 * profile of a MiniLM SNIPS run (batch 8, one thread) had the AdamW loop at 40 % of the time
 * and the gradient norm at 16 %, against 37 % in sgemm, since every step walks all 22.7M
 * parameters (half of them the word-embedding table) while the batch has ~100 tokens. So:
 * one pass does clipping's scale, AdamW and the zeroing of the gradients (four arrays read,
 * four written, the least memory traffic the update allows), and both loops vectorise: the
 * file is built with -O3 -fno-trapping-math -fno-math-errno (model/CMakeLists.txt; sqrtf
 * without errno is the vector square root, correctly rounded like the scalar one), the norm
 * sums in 8 double lanes. Each element's arithmetic is unchanged, so updates are the same
 * floats as a clip pass followed by an AdamW pass. */
#include "adamw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vecmath.h"

enum { LANES = 8 };

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

/* One tensor: g is scaled by gscale (the clipping coefficient; 1 = none, and x * 1 == x),
 * used, and zeroed. */
BERTD_VEC_CLONES static void adamw_tensor(float *restrict p, float *restrict g, float *restrict m,
                                          float *restrict v, size_t n, float gscale, float decay,
                                          float step_size, float bc2_sqrt, float beta1,
                                          float beta2, float a1, float a2, float eps) {
  for (size_t i = 0; i < n; i++) {
    const float gi = g[i] * gscale;
    p[i] *= decay;
    m[i] = beta1 * m[i] + a1 * gi;
    v[i] = beta2 * v[i] + a2 * gi * gi;
    const float denom = sqrtf(v[i]) / bc2_sqrt + eps;
    p[i] -= step_size * m[i] / denom;
    g[i] = 0.0f;
  }
}

/* The step's scalars in double, then rounded once, as torch's Python-side arithmetic does. */
typedef struct adamw_scalars {
  float bc2_sqrt, step_size, a1, a2;
} adamw_scalars;

static adamw_scalars scalars_at(float lr, float beta1, float beta2, int t) {
  adamw_scalars s;
  s.bc2_sqrt = (float)sqrt(1.0 - pow(beta2, t));
  s.step_size = (float)((double)lr / (1.0 - pow(beta1, t)));
  s.a1 = (float)(1.0 - (double)beta1);
  s.a2 = (float)(1.0 - (double)beta2);
  return s;
}

void bertd_adamw_step_range(const bertd_adamw *o, bertd_weights *w, float *grads,
                            float grad_scale, float lr, size_t a, size_t e) {
  const adamw_scalars s = scalars_at(lr, o->beta1, o->beta2, o->t);
  for (int i = 0; i < w->num_params; i++) {
    const bertd_param *p = &w->params[i];
    /* the part of tensor i inside [a, e) */
    const size_t lo = p->offset > a ? p->offset : a;
    const size_t hi = p->offset + p->numel < e ? p->offset + p->numel : e;
    if (lo >= hi) continue;
    const float wd = p->no_decay ? 0.0f : o->weight_decay;
    adamw_tensor(w->memory + lo, grads + lo, o->m + lo, o->v + lo, hi - lo, grad_scale,
                 (float)(1.0 - (double)lr * wd), s.step_size, s.bc2_sqrt, o->beta1, o->beta2,
                 s.a1, s.a2, o->eps);
  }
}

void bertd_adamw_step(bertd_adamw *o, bertd_weights *w, float *grads, float grad_scale,
                      float lr) {
  o->t++;
  bertd_adamw_step_range(o, w, grads, grad_scale, lr, 0, w->num_floats);
}

BERTD_VEC_CLONES double bertd_grad_sumsq(const float *grads, size_t n) {
  double acc[LANES] = {0};
  size_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++) acc[j] += (double)grads[i + j] * grads[i + j];
  for (int j = 0; i < n; i++, j++) acc[j] += (double)grads[i] * grads[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

double bertd_grad_norm(const float *grads, size_t n) { return sqrt(bertd_grad_sumsq(grads, n)); }

float bertd_clip_coef(double norm, float max_norm) {
  if (!(max_norm > 0.0f)) return 1.0f;
  const double coef = max_norm / (norm + 1e-6);
  return coef < 1.0 ? (float)coef : 1.0f;
}

double bertd_clip_grad_norm(float *grads, size_t n, float max_norm) {
  const double norm = bertd_grad_norm(grads, n);
  const float c = bertd_clip_coef(norm, max_norm);
  if (c != 1.0f)
    for (size_t i = 0; i < n; i++) grads[i] *= c;
  return norm;
}
