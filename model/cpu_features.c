/* cpu_features.c: cpuid, XCR0 and the AMX permission request (see cpu_features.h). */
#include "cpu_features.h"

#include <cpuid.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "bertd.h"

/* XCR0 bits: the state components the OS saves on a context switch */
#define XCR0_SSE (1u << 1)
#define XCR0_AVX (1u << 2)
#define XCR0_OPMASK (1u << 5)
#define XCR0_ZMM_HI256 (1u << 6)
#define XCR0_HI16_ZMM (1u << 7)
#define XCR0_TILECFG (1u << 17)
#define XCR0_TILEDATA (1u << 18)

static uint64_t read_xcr0(void) {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((uint64_t)edx << 32) | eax;
}

/* name -> field, in the order describe prints */
static int *field(bertd_cpu_features *f, size_t i, const char **name) {
  static const char *const names[] = {"avx2", "fma", "avx_vnni", "avx512f", "avx512bw",
                                      "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile",
                                      "amx_bf16", "amx_int8"};
  int *const fields[] = {&f->avx2, &f->fma, &f->avx_vnni, &f->avx512f, &f->avx512bw,
                         &f->avx512vl, &f->avx512_vnni, &f->avx512_bf16, &f->amx_tile,
                         &f->amx_bf16, &f->amx_int8};
  if (i >= sizeof(names) / sizeof(names[0])) return NULL;
  *name = names[i];
  return fields[i];
}

void bertd_cpu_features_disable(bertd_cpu_features *f, const char *list) {
  const char *name;
  int *p;
  for (size_t i = 0; (p = field(f, i, &name)); i++) {
    size_t n = strlen(name);
    for (const char *s = list; (s = strstr(s, name)); s += n) {
      /* whole names only: "avx512f" must not match inside "avx512f_x" */
      int start = s == list || s[-1] == ',' || s[-1] == ' ';
      int end = s[n] == '\0' || s[n] == ',' || s[n] == ' ';
      if (start && end) *p = 0;
    }
  }
  /* what the features build on goes with them, so that one name narrows the CPU as a real
   * one would be narrower: every AVX-512 CPU has AVX2, every AVX-512 extension needs F; the
   * AMX compute extensions use the tile registers, so without AMX-TILE there are none */
  if (!f->avx2) f->avx_vnni = f->avx512f = 0;
  if (!f->avx512f) f->avx512bw = f->avx512vl = f->avx512_vnni = f->avx512_bf16 = 0;
  if (!f->amx_tile) f->amx_bf16 = f->amx_int8 = 0;
}

void bertd_cpu_features_detect(bertd_cpu_features *f) {
  memset(f, 0, sizeof(*f));
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return;
  const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
  if (!osxsave || !avx) return;
  const uint64_t xcr0 = read_xcr0();
  const int os_ymm = (xcr0 & (XCR0_SSE | XCR0_AVX)) == (XCR0_SSE | XCR0_AVX);
  const int os_zmm = os_ymm && (xcr0 & (XCR0_OPMASK | XCR0_ZMM_HI256 | XCR0_HI16_ZMM)) ==
                                   (XCR0_OPMASK | XCR0_ZMM_HI256 | XCR0_HI16_ZMM);
  const int os_tile = (xcr0 & (XCR0_TILECFG | XCR0_TILEDATA)) == (XCR0_TILECFG | XCR0_TILEDATA);
  if (!os_ymm) return;
  unsigned max_leaf = __get_cpuid_max(0, NULL);
  if (max_leaf < 7) return;
  unsigned b7, c7, d7, a71 = 0, b71, c71, d71;
  __cpuid_count(7, 0, a, b7, c7, d7);
  const unsigned max_sub = a;
  if (max_sub >= 1) __cpuid_count(7, 1, a71, b71, c71, d71);
  f->fma = fma;
  f->avx2 = (b7 >> 5) & 1;
  f->avx_vnni = (a71 >> 4) & 1;
  if (os_zmm) {
    f->avx512f = (b7 >> 16) & 1;
    f->avx512bw = (b7 >> 30) & 1;
    f->avx512vl = (b7 >> 31) & 1;
    f->avx512_vnni = f->avx512f && ((c7 >> 11) & 1);
    f->avx512_bf16 = f->avx512f && ((a71 >> 5) & 1);
  }
  if (os_tile) {
    f->amx_bf16 = (d7 >> 22) & 1;
    f->amx_tile = (d7 >> 24) & 1;
    f->amx_int8 = (d7 >> 25) & 1;
    if (!f->amx_tile) f->amx_bf16 = f->amx_int8 = 0;
  }
  const char *off = getenv("BERTD_CPU_DISABLE");
  if (off && *off) bertd_cpu_features_disable(f, off);
}

void bertd_cpu_features_describe(const bertd_cpu_features *f, char *buf, size_t size) {
  bertd_cpu_features copy = *f;
  const char *name;
  int *p;
  size_t used = 0;
  if (size) buf[0] = '\0';
  for (size_t i = 0; (p = field(&copy, i, &name)); i++) {
    if (!*p || used >= size) continue;
    int n = snprintf(buf + used, size - used, "%s%s", used ? " " : "", name);
    if (n > 0) used += (size_t)n;
  }
}

int bertd_cpu_amx_request(char *errstr, size_t errstr_size) {
#if defined(__linux__) && defined(SYS_arch_prctl)
  enum { ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
  if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0)
    return bertd_set_error(errstr, errstr_size,
                           "AMX: the kernel refused the tile data permission "
                           "(arch_prctl ARCH_REQ_XCOMP_PERM; Linux 5.16 or later needed)");
  unsigned long bits = 0;
  if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bits) != 0 ||
      !(bits & (1ul << XFEATURE_XTILEDATA)))
    return bertd_set_error(errstr, errstr_size, "AMX: tile data permission not granted");
  return 0;
#else
  return bertd_set_error(errstr, errstr_size, "AMX: tile permission is only requested on Linux");
#endif
}
