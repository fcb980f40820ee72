/* gemm.c: kernel choice, weight packing, the row blocking every kernel shares, and the
 * OpenBLAS reference the tests compare the kernels with (gemm.h). */
#include "gemm.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "bertd.h"
#include "cpu_features.h"
#include "gelu.h"

/* From cpu_features.c, like the bf16 / int8 kernels: the CPU and the OS (XCR0) must both allow
 * the registers, and BERTD_CPU_DISABLE narrows the CPU for every precision at once (avx512f off
 * runs the whole encoder, attention included, as on an AVX2-only CPU). */
const bertd_gemm_kernel *bertd_gemm_by_name(const char *name) {
#if defined(__x86_64__) && defined(__GNUC__)
  bertd_cpu_features f;
  bertd_cpu_features_detect(&f);
  if (!strcmp(name, "avx512")) return f.avx512f ? &bertd_gemm_avx512 : NULL;
  if (!strcmp(name, "avx2")) return f.avx2 && f.fma ? &bertd_gemm_avx2 : NULL;
#endif
  if (!strcmp(name, "generic")) return &bertd_gemm_generic;
  return NULL;
}

const bertd_gemm_kernel *bertd_gemm_best(void) {
  /* BERTD_GEMM caps the choice (a CPU without it falls to the next one down) */
  static const char *const order[] = {"avx512", "avx2", "generic"};
  const char *cap = getenv("BERTD_GEMM");
  int start = 0;
  if (cap)
    for (int i = 0; i < 3; i++)
      if (!strcmp(cap, order[i])) start = i;
  for (int i = start; i < 3; i++) {
    const bertd_gemm_kernel *k = bertd_gemm_by_name(order[i]);
    if (k) return k;
  }
  return &bertd_gemm_generic;
}

/* panels (P,K,nr): W row n = p*nr + j goes to column j of panel p; rows past N are zero */
static void pack_rows(float *dst, const bertd_gemm_kernel *kern, const float *W, int row0, int rows,
                      int K) {
  const int nr = kern->nr;
  for (int r = 0; r < rows; r++) {
    const int n = row0 + r, p = n / nr, j = n % nr;
    float *panel = dst + (size_t)p * K * nr;
    const float *src = W + (size_t)r * K;
    for (int k = 0; k < K; k++) panel[(size_t)k * nr + j] = src[k];
  }
}

int bertd_gemm_pack_concat(bertd_packed *p, const bertd_gemm_kernel *kern, int n,
                           const float *const *W, const float *const *bias, const int *N, int K,
                           char *errstr, size_t errstr_size) {
  memset(p, 0, sizeof(*p));
  int total = 0, with_bias = 0;
  for (int i = 0; i < n; i++) {
    total += N[i];
    with_bias |= bias[i] != NULL;
  }
  const int nr = kern->nr, panels = (total + nr - 1) / nr;
  const size_t floats = (size_t)panels * K * nr, extra = with_bias ? (size_t)total : 0;
  /* 64-byte alignment: one zmm load per row of a panel never splits a cache line */
  size_t bytes = (floats + extra) * sizeof(float);
  bytes = (bytes + 63) / 64 * 64;
  float *data = aligned_alloc(64, bytes ? bytes : 64);
  if (!data) {
    return bertd_set_error(errstr, errstr_size, "gemm: out of memory packing a %d x %d weight",
                           total, K);
  }
  memset(data, 0, floats * sizeof(float));
  float *b = with_bias ? data + floats : NULL;
  for (int i = 0, row = 0; i < n; row += N[i], i++) {
    pack_rows(data, kern, W[i], row, N[i], K);
    if (b) {
      if (bias[i]) memcpy(b + row, bias[i], sizeof(float) * (size_t)N[i]);
      else memset(b + row, 0, sizeof(float) * (size_t)N[i]);
    }
  }
  p->kern = kern;
  p->N = total;
  p->K = K;
  p->panels = panels;
  p->data = data;
  p->bias = b;
  return 0;
}

int bertd_gemm_pack(bertd_packed *p, const bertd_gemm_kernel *kern, const float *W,
                    const float *bias, int N, int K, char *errstr, size_t errstr_size) {
  return bertd_gemm_pack_concat(p, kern, 1, &W, &bias, &N, K, errstr, errstr_size);
}

void bertd_gemm_packed_free(bertd_packed *p) {
  free(p->data);
  memset(p, 0, sizeof(*p));
}

void bertd_gemm_run(const bertd_gemm_args *a) { a->w->kern->run(a, 0, a->w->panels); }

int bertd_gemm_reference(float *out, const float *inp, const float *W, const float *bias, int M,
                         int N, int K, bertd_gemm_epilogue epi) {
  float *prod = malloc(sizeof(float) * (size_t)M * N);
  if (!prod) return -1;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, inp, K, W, K, 0.0f, prod, N);
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      const float v = prod[(size_t)m * N + n] + (bias ? bias[n] : 0.0f);
      float *o = out + (size_t)m * N + n;
      *o = epi == BERTD_EPI_RESIDUAL ? *o + v : v;
    }
  if (epi == BERTD_EPI_BIAS_GELU) gelu_forward(out, (size_t)M * N);
  free(prod);
  return 0;
}
