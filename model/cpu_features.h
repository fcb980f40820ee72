/* cpu_features.h: what the CPU and the kernel let bertd run, read at run time (cpuid, XCR0, and
 * on Linux the AMX tile-state permission), never assumed at build time. Private to model/. */
#ifndef BERTD_CPU_FEATURES_H
#define BERTD_CPU_FEATURES_H

#include <stddef.h>

/* Each flag is 1 only when the CPU has the instructions AND the operating system saves the
 * registers they use (XCR0): AVX-512 needs opmask and ZMM state, AMX the tile state. */
typedef struct bertd_cpu_features {
  int avx2, fma;          /* with the OS saving YMM */
  int avx_vnni;           /* VEX vpdpbusd (Alder Lake, Sapphire Rapids, Zen 5) */
  int avx512f, avx512bw, avx512vl;
  int avx512_vnni;        /* EVEX vpdpbusd */
  int avx512_bf16;        /* vdpbf16ps, vcvtne2ps2bf16 */
  int amx_tile, amx_bf16, amx_int8; /* the CPU and XCR0; the process must still ask (below) */
} bertd_cpu_features;

/* Reads cpuid and XCR0 into f. The environment variable BERTD_CPU_DISABLE (a comma-separated
 * list of the names bertd_cpu_features_describe prints, e.g. "avx512_bf16,amx_bf16") turns
 * features off, so a test or a user can force a narrower CPU's path or refusal. */
void bertd_cpu_features_detect(bertd_cpu_features *f);

/* Turns off the features named in list (as BERTD_CPU_DISABLE, which detect applies with this)
 * and those that build on them: avx2 off turns avx_vnni and AVX-512 off, avx512f off every
 * AVX-512 extension, amx_tile off amx_bf16 and amx_int8. BERTD_CPU_DISABLE=amx_tile keeps bertd
 * off AMX; BERTD_CPU_DISABLE=avx512f runs every precision's kernels (fp32, its attention and the
 * int8 ones) as on an AVX2-only CPU. */
void bertd_cpu_features_disable(bertd_cpu_features *f, const char *list);

/* "avx2 fma avx512f ..." : the features set, space-separated, into buf. */
void bertd_cpu_features_describe(const bertd_cpu_features *f, char *buf, size_t size);

/* Asks Linux for the AMX tile data state (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)),
 * which a process must do before its first tile instruction. Idempotent. -1 with one line when
 * the kernel refuses (older than 5.16, or not Linux). */
int bertd_cpu_amx_request(char *errstr, size_t errstr_size);

#endif
