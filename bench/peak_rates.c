/* peak_rates.c: see peak_rates.h. The multiply-add loop keeps 12 independent accumulators per
 * thread, more than latency x issue width on current x86 cores (Zen 4: 4 cycles x 2 pipes;
 * Sapphire Rapids: 4 x 2), so it runs at the issue rate; the kernel is the widest the CPU has,
 * chosen at run time as bertd chooses its own. The read loop streams a 1 GiB buffer split into
 * one contiguous part per thread, with 256-bit loads where the CPU has AVX2. The bf16 rate
 * is vdpbf16ps's, on 12 chains likewise, where the CPU has AVX512-BF16 (not AMX's tiles). */
#include "peak_rates.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define X86 1
#else
#define X86 0
#endif

enum { READ_MIB = 1024, FMA_INNER = 4096 };

/* The loops are pure functions of constants: GCC computed one call and reused its result for
 * every later one (it did so for the bf16 loop). Each loop therefore reads its count through a
 * volatile access (a side effect: no compiler may merge or hoist the calls) and is not inlined. */
#define NOIPA __attribute__((noinline))
#define OPAQUE(reps) reps = *(volatile long *)&reps

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
  uint64_t (*loop)(long reps); /* a multiply-add loop below */
  double per_rep;              /* FLOP one of its reps does */
  int avx2;                    /* the read loop's vectors */
  double seconds;
  const unsigned char *buf;
  size_t bytes;
  double work, elapsed; /* FLOP or bytes done by this thread, and its seconds */
  uint64_t sink;        /* keeps the loops' results alive */
} worker;

/* Twelve accumulators c0..c11 as named variables (an array of vectors is kept in memory),
 * started apart (equal chains would be computed once), each stepped by STEP(c) FMA_INNER x reps
 * times, then summed by ADD into one vector */
#define CHAINS(VT, SET)                                                                         \
  VT c0 = SET(0.50f), c1 = SET(0.51f), c2 = SET(0.52f), c3 = SET(0.53f), c4 = SET(0.54f),        \
     c5 = SET(0.55f), c6 = SET(0.56f), c7 = SET(0.57f), c8 = SET(0.58f), c9 = SET(0.59f),        \
     c10 = SET(0.60f), c11 = SET(0.61f)
#define RUN_CHAINS(STEP)                                                                        \
  for (long r = 0; r < reps; r++)                                                               \
    for (int i = 0; i < FMA_INNER; i++) {                                                       \
      STEP(c0) STEP(c1) STEP(c2) STEP(c3) STEP(c4) STEP(c5) STEP(c6) STEP(c7) STEP(c8)          \
      STEP(c9) STEP(c10) STEP(c11)                                                              \
    }
#define SUM_CHAINS(ADD)                                                                         \
  ADD(ADD(ADD(c0, c1), ADD(c2, c3)),                                                            \
      ADD(ADD(ADD(c4, c5), ADD(c6, c7)), ADD(ADD(c8, c9), ADD(c10, c11))))

#if X86
/* fp32: c = c * m + a, m slightly below 1 keeping every value bounded; one function per vector
 * width (STEP: one chain's multiply-add), the same code */
#define FMA_LOOP(NAME, TARGET, VT, SET, STEP, ADD, FIRST)                                       \
  NOIPA __attribute__((target(TARGET))) static uint64_t NAME(long reps) {                       \
    OPAQUE(reps);                                                                               \
    const VT m = SET(0.999999f), a = SET(1e-7f);                                                \
    CHAINS(VT, SET);                                                                            \
    RUN_CHAINS(STEP)                                                                            \
    return (uint64_t)FIRST(SUM_CHAINS(ADD));                                                    \
  }
#define STEP512(c) c = _mm512_fmadd_ps(c, m, a);
#define STEP256(c) c = _mm256_fmadd_ps(c, m, a);
FMA_LOOP(fma_avx512, "avx512f", __m512, _mm512_set1_ps, STEP512, _mm512_add_ps, _mm512_cvtss_f32)
FMA_LOOP(fma_avx2, "avx2,fma", __m256, _mm256_set1_ps, STEP256, _mm256_add_ps, _mm256_cvtss_f32)

/* the bf16 pair products of bf16 linear layers on AVX-512 (vdpbf16ps: per fp32 lane two bf16
 * products added, 64 FLOP an instruction): c += x . x */
NOIPA __attribute__((target("avx512f,avx512bf16"))) static uint64_t dp_bf16(long reps) {
  OPAQUE(reps);
  const __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(2e-3f));
  CHAINS(__m512, _mm512_set1_ps);
#define STEP(c) c = _mm512_dpbf16_ps(c, x, x);
  RUN_CHAINS(STEP)
#undef STEP
  return (uint64_t)_mm512_reduce_add_ps(SUM_CHAINS(_mm512_add_ps));
}

/* the XOR of every 64-bit word: nothing to wait on but the loads */
__attribute__((target("avx2"))) static uint64_t read_avx2(const unsigned char *p, size_t n) {
  __m256i x0 = _mm256_setzero_si256(), x1 = x0, x2 = x0, x3 = x0;
  for (size_t i = 0; i + 128 <= n; i += 128) {
    x0 = _mm256_xor_si256(x0, _mm256_load_si256((const __m256i *)(const void *)(p + i)));
    x1 = _mm256_xor_si256(x1, _mm256_load_si256((const __m256i *)(const void *)(p + i + 32)));
    x2 = _mm256_xor_si256(x2, _mm256_load_si256((const __m256i *)(const void *)(p + i + 64)));
    x3 = _mm256_xor_si256(x3, _mm256_load_si256((const __m256i *)(const void *)(p + i + 96)));
  }
  const __m256i x = _mm256_xor_si256(_mm256_xor_si256(x0, x1), _mm256_xor_si256(x2, x3));
  uint64_t w[4];
  _mm256_storeu_si256((__m256i *)(void *)w, x);
  return w[0] ^ w[1] ^ w[2] ^ w[3];
}
#endif

NOIPA static uint64_t fma_scalar(long reps) {
  OPAQUE(reps);
  float c[12];
  for (int j = 0; j < 12; j++) c[j] = 0.5f + 0.01f * (float)j;
  for (long r = 0; r < reps; r++)
    for (int i = 0; i < FMA_INNER; i++)
      for (int j = 0; j < 12; j++) c[j] = c[j] * 0.999999f + 1e-7f;
  float s = 0.0f;
  for (int j = 0; j < 12; j++) s += c[j];
  return (uint64_t)s;
}

static uint64_t read_scalar(const unsigned char *p, size_t n) {
  uint64_t x = 0, w;
  for (size_t i = 0; i + 8 <= n; i += 8) {
    memcpy(&w, p + i, 8);
    x ^= w;
  }
  return x;
}

static void *compute_main(void *p) {
  worker *w = p;
  const double t0 = now();
  long reps = 0;
  do {
    w->sink ^= w->loop(16);
    reps += 16;
  } while (now() - t0 < w->seconds);
  w->elapsed = now() - t0;
  w->work = w->per_rep * (double)reps;
  return NULL;
}

static void *read_main(void *p) {
  worker *w = p;
  const double t0 = now();
  long passes = 0;
  do {
#if X86
    w->sink ^= w->avx2 ? read_avx2(w->buf, w->bytes) : read_scalar(w->buf, w->bytes);
#else
    w->sink ^= read_scalar(w->buf, w->bytes);
#endif
    passes++;
  } while (now() - t0 < w->seconds);
  w->elapsed = now() - t0;
  w->work = (double)w->bytes * (double)passes;
  return NULL;
}

/* runs fn on n workers at once; the rate is the work summed over the slowest one's time */
static int run_workers(worker *ws, int n, void *(*fn)(void *), double *work_per_s, char *err,
                       size_t errsize) {
  pthread_t tid[64];
  int started = 0;
  for (; started < n; started++)
    if (pthread_create(&tid[started], NULL, fn, &ws[started])) break;
  for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
  if (started < n) {
    snprintf(err, errsize, "peak rates: could not start thread %d of %d", started + 1, n);
    return -1;
  }
  double work = 0.0, slowest = 0.0;
  for (int i = 0; i < n; i++) {
    work += ws[i].work;
    slowest = ws[i].elapsed > slowest ? ws[i].elapsed : slowest;
  }
  *work_per_s = slowest > 0.0 ? work / slowest : 0.0;
  return 0;
}

#if X86
/* name is a whole entry of the comma-separated list BERTD_CPU_DISABLE, which narrows bertd's
 * kernels (bench/run.sh --as-cpu): the peaks are narrowed the same way */
static int disabled(const char *name) {
  const char *list = getenv("BERTD_CPU_DISABLE");
  const size_t n = strlen(name);
  for (const char *s = list; s && (s = strstr(s, name)); s += n)
    if ((s == list || s[-1] == ',') && (s[n] == ',' || s[n] == '\0')) return 1;
  return 0;
}
#endif

int bench_peak_measure(int threads, double seconds, bench_peak_rates *out, char *err,
                       size_t errsize) {
  if (threads < 1 || threads > 64) {
    snprintf(err, errsize, "peak rates: %d threads (1-64)", threads);
    return -1;
  }
  int isa = 0;
#if X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && !disabled("avx512f")) isa = 2;
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && !disabled("avx2") &&
           !disabled("fma"))
    isa = 1;
#endif
  const size_t bytes = (size_t)READ_MIB << 20, part = bytes / (size_t)threads / 128 * 128;
  unsigned char *buf = aligned_alloc(64, bytes);
  if (!buf) {
    snprintf(err, errsize, "peak rates: out of memory for a %d MiB buffer", READ_MIB);
    return -1;
  }
  /* every page written once, so the reads below touch memory, not the shared zero page */
  memset(buf, 1, bytes);
  /* the fp32 loop for isa, and the FLOP of one rep: 12 chains x lanes x 2 per multiply-add */
  uint64_t (*fp32_loop)(long) = fma_scalar;
  int lanes = 1;
#if X86
  if (isa == 2) {
    fp32_loop = fma_avx512;
    lanes = 16;
  } else if (isa == 1) {
    fp32_loop = fma_avx2;
    lanes = 8;
  }
#endif
  worker ws[64];
  memset(ws, 0, sizeof ws);
  for (int i = 0; i < threads; i++)
    ws[i] = (worker){.loop = fp32_loop, .per_rep = 2.0 * 12 * lanes * FMA_INNER, .avx2 = isa >= 1,
                     .seconds = seconds, .buf = buf + (size_t)i * part, .bytes = part};
  double fma = 0.0, rd = 0.0, bf16 = 0.0;
  int rc = run_workers(ws, threads, compute_main, &fma, err, errsize);
#if X86
  if (!rc && isa == 2 && __builtin_cpu_supports("avx512bf16") && !disabled("avx512_bf16")) {
    for (int i = 0; i < threads; i++) ws[i].loop = dp_bf16, ws[i].per_rep = 64.0 * 12 * FMA_INNER;
    rc = run_workers(ws, threads, compute_main, &bf16, err, errsize);
  }
#endif
  if (!rc) rc = run_workers(ws, threads, read_main, &rd, err, errsize);
  /* the loops' results, stored where the compiler cannot drop them */
  volatile uint64_t sink = 0;
  for (int i = 0; i < threads; i++) sink ^= ws[i].sink;
  (void)sink;
  free(buf);
  if (rc) return rc;
  *out = (bench_peak_rates){.fma_gflops = fma / 1e9,
                            .fma_isa = isa == 2 ? "avx512f" : isa == 1 ? "avx2-fma" : "scalar",
                            .bf16_gflops = bf16 / 1e9,
                            .read_gbs = rd / 1e9,
                            .read_mib = READ_MIB,
                            .threads = threads};
  return 0;
}
