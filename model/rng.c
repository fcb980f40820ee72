/* rng.c: xoshiro256** (Blackman and Vigna, 2018), seeded with splitmix64. */
#include "rng.h"

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* splitmix64 spreads a small seed (0, 1, 42...) over the 256-bit state, so nearby seeds give
 * unrelated streams and the state is never all zero. */
static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void bertd_rng_seed(bertd_rng *rng, uint64_t seed) {
  for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&seed);
}

uint64_t bertd_rng_next(bertd_rng *rng) {
  uint64_t *s = rng->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double bertd_rng_uniform(bertd_rng *rng) {
  return (double)(bertd_rng_next(rng) >> 11) * 0x1.0p-53;
}

uint64_t bertd_rng_below(bertd_rng *rng, uint64_t n) {
  /* Reject the top partial block of 2^64 so every residue is equally likely. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = bertd_rng_next(rng);
  while (x >= limit);
  return x % n;
}

void bertd_rng_shuffle(bertd_rng *rng, size_t *v, size_t n) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)bertd_rng_below(rng, i);
    size_t t = v[i - 1];
    v[i - 1] = v[j];
    v[j] = t;
  }
}
