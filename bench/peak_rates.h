/* peak_rates.h: this machine's two ceilings for the encoder, measured on the bench's threads:
 * the fp32 multiply-add rate with no memory traffic at all (and AVX512-BF16's pair products,
 * where the CPU has them), and the rate at which the cores
 * read memory far larger than the last-level cache. No product can run faster than the first;
 * a pass over weights that do not fit in the cache cannot run faster than the second allows. */
#ifndef BERTD_BENCH_PEAK_RATES_H
#define BERTD_BENCH_PEAK_RATES_H

#include <stddef.h>

typedef struct {
  double fma_gflops;    /* fp32 GFLOP/s (multiply-add = 2) summed over the threads */
  const char *fma_isa;  /* "avx512f", "avx2-fma" or "scalar": the widest the CPU runs */
  double bf16_gflops;   /* vdpbf16ps's rate (AVX512-BF16: 2 bf16 products per fp32 lane), 0
                         * where the CPU lacks it */
  double read_gbs;      /* GB/s (1e9 bytes) read from a buffer of read_mib by all threads */
  int read_mib;
  int threads;
} bench_peak_rates;

/* Measures both for about `seconds` each on `threads` threads. Returns 0, or -1 with err filled. */
int bench_peak_measure(int threads, double seconds, bench_peak_rates *out, char *err,
                       size_t errsize);

#endif
