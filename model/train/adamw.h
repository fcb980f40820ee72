/* adamw.h: torch.optim.AdamW (decoupled weight decay) over the one contiguous parameter buffer,
 * and global-norm gradient clipping as torch.nn.utils.clip_grad_norm_. */
#ifndef BERTD_ADAMW_H
#define BERTD_ADAMW_H

#include <stddef.h>
#include "bertd_weights.h"

typedef struct bertd_adamw {
  float beta1, beta2, eps, weight_decay;
  float *m, *v;   /* first and second moments, laid out as the parameters */
  size_t n;
  int t;          /* steps taken (bias correction uses t after increment) */
} bertd_adamw;

/* Moments for n floats, zeroed. torch defaults: beta1 0.9, beta2 0.999, eps 1e-8. */
int bertd_adamw_init(bertd_adamw *o, size_t n, float beta1, float beta2, float eps,
                     float weight_decay, char *errstr, size_t errstr_size);
void bertd_adamw_free(bertd_adamw *o);

/* One AdamW step (step number t, 1-based, counted in o; decay wd for the tensor):
 *   p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)          (torch 1.13's arithmetic)
 * over every tensor of w with gradients grads (same layout) multiplied by grad_scale
 * (bertd_clip_coef's result; 1 for none): weight decay for the tensors whose no_decay is 0
 * (not biases, not LayerNorm), none for the others. The gradients are consumed: zeroed in the
 * same pass, ready for the next accumulation. */
void bertd_adamw_step(bertd_adamw *o, bertd_weights *w, float *grads, float grad_scale,
                      float lr);

/* The same step on the floats [a, e) of the buffer only, without counting the step: callers
 * that split one step between threads increment o->t once, then give each thread a range. */
void bertd_adamw_step_range(const bertd_adamw *o, bertd_weights *w, float *grads,
                            float grad_scale, float lr, size_t a, size_t e);

/* Global L2 norm of grads (n), summed in double; bertd_grad_sumsq: its square, for norms
 * summed from parts. */
double bertd_grad_norm(const float *grads, size_t n);
double bertd_grad_sumsq(const float *grads, size_t n);

/* clip_grad_norm_'s factor for a gradient of that norm: max_norm / (norm + 1e-6) when that is
 * below 1 and max_norm > 0, else 1. */
float bertd_clip_coef(double norm, float max_norm);

/* Global L2 norm of grads (n); when it exceeds max_norm > 0, scales grads by
 * max_norm / (norm + 1e-6) as clip_grad_norm_. Returns the norm before clipping. */
double bertd_clip_grad_norm(float *grads, size_t n, float max_norm);

#endif
