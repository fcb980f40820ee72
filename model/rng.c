/* rng.c: splitmix64 stream and Box-Muller normals (see bertd_rng.h). */
#include "bertd_rng.h"

#include <math.h>

void bertd_rng_seed(bertd_rng *r, uint64_t seed) { r->state = seed; }

uint64_t bertd_rng_next(bertd_rng *r) {
  r->state += 0x9e3779b97f4a7c15ULL;
  return bertd_mix64(r->state);
}

double bertd_rng_uniform(bertd_rng *r) { return (double)(bertd_rng_next(r) >> 11) * 0x1.0p-53; }

double bertd_rng_normal(bertd_rng *r) {
  /* one of the pair is dropped: simpler state, and init speed does not matter */
  double u1 = bertd_rng_uniform(r), u2 = bertd_rng_uniform(r);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t bertd_rng_below(bertd_rng *r, uint64_t n) {
  /* Reject the top partial block of 2^64 so every residue is equally likely. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = bertd_rng_next(r);
  while (x >= limit);
  return x % n;
}

void bertd_rng_shuffle(bertd_rng *r, size_t *v, size_t n) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)bertd_rng_below(r, i);
    size_t t = v[i - 1];
    v[i - 1] = v[j];
    v[j] = t;
  }
}
