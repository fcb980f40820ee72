/* parity_precision_int8.c: all-MiniLM-L6-v2 in int8 (dynamic quantisation) on every parity
 * text: the embedding cosine against sentence-transformers' fp32 is at least 0.99 for each, on
 * the kernel cpuid picks (AVX512-VNNI here when present, attention in bf16 over 16 tokens where
 * the CPU has AVX512-BF16) and on the AVX2 kernel with fp32 attention, forced with
 * BERTD_CPU_DISABLE (an AVX2-only CPU's path), so CI runs it on every x86-64 CPU with AVX2.
 * Exits 77 (skipped) with the reason on a CPU without AVX2. */
#include "precision_parity.h"

Test(parity_precision, int8_cosine_at_least_0_99) {
  precision_cosines r = precision_parity(BERTD_PRECISION_INT8);
  cr_expect_eq(r.count, 1047);
  cr_expect(r.min >= 0.99, "int8 (%s) min cosine %.6f at text %d", r.kernel, r.min, r.worst);
}

Test(parity_precision, int8_avx2_cosine_at_least_0_99) {
  setenv("BERTD_CPU_DISABLE", "avx512_vnni,avx_vnni,amx_int8,avx512_bf16,amx_bf16", 1);
  precision_cosines r = precision_parity(BERTD_PRECISION_INT8);
  cr_expect_str_eq(r.kernel, "int8 avx2");
  cr_expect(r.min >= 0.99, "int8 avx2 min cosine %.6f at text %d", r.min, r.worst);
}

int main(int argc, char **argv) { return precision_parity_main(BERTD_PRECISION_INT8, argc, argv); }
