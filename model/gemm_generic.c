/* gemm_generic.c: the portable kernel (any CPU): 4 rows x 16 columns per tile in plain C that
 * the compiler vectorises for the baseline ISA. See gemm.h. */
#include <string.h>

#include "gelu.h"
#include "gemm.h"

enum { MR = 4, NR = 16 };

static void tile(const bertd_gemm_args *a, int row0, int mr, int p) {
  const bertd_packed *w = a->w;
  const int K = w->K, col0 = p * NR;
  const int cols = w->N - col0 < NR ? w->N - col0 : NR;
  const float *B = w->data + (size_t)p * K * NR;
  float acc[MR][NR];
  memset(acc, 0, sizeof acc);
  for (int k = 0; k < K; k++) {
    const float *b = B + (size_t)k * NR;
    for (int r = 0; r < mr; r++) {
      const float x = a->inp[(size_t)(row0 + r) * a->ldi + k];
      for (int j = 0; j < NR; j++) acc[r][j] += x * b[j];
    }
  }
  for (int r = 0; r < mr; r++) {
    float *o = a->out + (size_t)(row0 + r) * a->ldo + col0;
    for (int j = 0; j < cols; j++) {
      const float v = acc[r][j] + (w->bias ? w->bias[col0 + j] : 0.0f);
      o[j] = a->epi == BERTD_EPI_RESIDUAL ? o[j] + v : v;
    }
    if (a->epi == BERTD_EPI_BIAS_GELU) gelu_forward(o, (size_t)cols);
  }
}

static void run(const bertd_gemm_args *a, int p0, int p1) {
  const int mb = bertd_gemm_row_block(a->M, a->w->K, MR);
  for (int m0 = 0; m0 < a->M; m0 += mb) {
    const int m1 = m0 + mb < a->M ? m0 + mb : a->M;
    for (int p = p0; p < p1; p++)
      for (int r = m0; r < m1; r += MR) tile(a, r, m1 - r < MR ? m1 - r : MR, p);
  }
}

const bertd_gemm_kernel bertd_gemm_generic = {"generic", NR, run};
