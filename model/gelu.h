/* gelu.h: transformers' exact GELU ("gelu": x Phi(x) = x/2 (1 + erf(x / sqrt 2))) and its
 * derivative over whole buffers, without libm calls so that the loops vectorise. */
#ifndef BERTD_GELU_H
#define BERTD_GELU_H

#include <stddef.h>

/* erf(x) for one float, max |error| 4.2e-7 against double erf (tests/model/test_gelu.c). */
float bertd_gelu_erf(float x);

/* In place over x (n): x = x Phi(x). */
void gelu_forward(float *x, size_t n);

/* dinp (n) = dout (n) * (Phi(x) + x phi(x)) with x = inp (n). dinp may equal dout. */
void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);

#endif
