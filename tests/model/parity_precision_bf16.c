/* parity_precision_bf16.c: all-MiniLM-L6-v2 in bf16 (AVX512-BF16) on every parity text: the
 * embedding cosine against sentence-transformers' fp32 is at least 0.999 for each. Exits 77
 * (skipped) with the reason on a CPU without AVX512-BF16. */
#include "precision_parity.h"

Test(parity_precision, bf16_cosine_at_least_0_999) {
  precision_cosines r = precision_parity(BERTD_PRECISION_BF16);
  cr_expect_eq(r.count, 1047);
  cr_expect(r.min >= 0.999, "bf16 min cosine %.6f at text %d", r.min, r.worst);
}

int main(int argc, char **argv) { return precision_parity_main(BERTD_PRECISION_BF16, argc, argv); }
