/* softmax.c: row softmax for attention probabilities (NH x T x T per sequence and layer, as
 * many exponentials per token as the feed-forward has GELUs) and for heads' scores.
 * exp is vecmath.h's, so the exponential pass vectorises; the max and the sum stay sequential
 * scans (vectorising them would need -ffast-math's reassociation). */
#include "layers.h"
#include "vecmath.h"

BERTD_VEC_CLONES void softmax_rows(float *x, int N, int C) {
  for (int n = 0; n < N; n++) {
    float *r = x + (size_t)n * C;
    float mx = r[0];
    for (int i = 1; i < C; i++) mx = r[i] > mx ? r[i] : mx;
    for (int i = 0; i < C; i++) r[i] = bertd_exp_nonpositive(r[i] - mx);
    float sum = 0.0f;
    for (int i = 0; i < C; i++) sum += r[i];
    const float inv = 1.0f / sum;
    for (int i = 0; i < C; i++) r[i] *= inv;
  }
}
