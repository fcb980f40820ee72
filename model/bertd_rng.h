/* bertd_rng.h: the random numbers of training, all from a seed and held by their owner (no global
 * state): a splitmix64 stream for weight initialisation and a counter-based hash for dropout,
 * so that a dropout mask is a pure function of (key, element index) and the backward pass
 * regenerates it instead of storing it. Same seed => same run, bit for bit. */
#ifndef BERTD_RNG_H
#define BERTD_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct bertd_rng {
  uint64_t state;
} bertd_rng;

void bertd_rng_seed(bertd_rng *r, uint64_t seed);
uint64_t bertd_rng_next(bertd_rng *r);        /* 64 random bits (splitmix64) */
double bertd_rng_uniform(bertd_rng *r);       /* [0, 1), 53 bits */
double bertd_rng_normal(bertd_rng *r);        /* N(0, 1), Box-Muller */
uint64_t bertd_rng_below(bertd_rng *r, uint64_t n); /* uniform in [0, n), n > 0, unbiased */
void bertd_rng_shuffle(bertd_rng *r, size_t *v, size_t n); /* Fisher-Yates */

/* splitmix64's finaliser: a bijective 64-bit mix. */
static inline uint64_t bertd_mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* A key for one dropout site of one forward pass: mixes the run's seed, the pass counter and
 * a site number (layer and place), so every site and every step draws a fresh mask. */
static inline uint64_t bertd_dropout_key(uint64_t seed, uint64_t pass, uint64_t site) {
  return bertd_mix64(bertd_mix64(seed ^ 0x9e3779b97f4a7c15ULL) + pass * 0x632be59bd9b4e019ULL +
                     site * 0xd1b54a32d192ed03ULL);
}

/* 24 uniform bits for element i under key. */
static inline uint32_t bertd_dropout_bits(uint64_t key, size_t i) {
  return (uint32_t)(bertd_mix64(key + (uint64_t)i * 0x9e3779b97f4a7c15ULL) >> 40);
}

#endif
