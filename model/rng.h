/* rng.h: a small seeded random number generator for data preparation (MLM masks, NSP pairs,
 * shuffles). xoshiro256** seeded through splitmix64, as its authors recommend: fast, good
 * statistics, and the same seed gives the same stream on every platform. The state lives in a
 * struct the caller owns, so two pipelines never share a stream by accident. Not for secrets. */
#ifndef BERTD_RNG_H
#define BERTD_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct bertd_rng {
  uint64_t s[4];
} bertd_rng;

void bertd_rng_seed(bertd_rng *rng, uint64_t seed);
uint64_t bertd_rng_next(bertd_rng *rng);
/* Uniform in [0, 1) with 53 random bits. */
double bertd_rng_uniform(bertd_rng *rng);
/* Uniform integer in [0, n), without modulo bias; n must be > 0. */
uint64_t bertd_rng_below(bertd_rng *rng, uint64_t n);
/* Fisher-Yates shuffle of n indices in place. */
void bertd_rng_shuffle(bertd_rng *rng, size_t *v, size_t n);

#endif
