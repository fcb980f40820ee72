/* lowp_amx_check.c: whether an AMX kernel may run here (see lowp.h): Linux's tile permission,
 * then a small product through the kernel compared with its exact result, before a model is
 * packed for it. cpuid and XCR0 said yes before this is called; a kernel that disagrees is not
 * used (never wrong results), and the caller says so in one line. */
#include <stdlib.h>

#include "lowp.h"

int bertd_lowp_amx_usable(const bertd_lowp_kernel *k, char *errstr, size_t errstr_size) {
  if (bertd_cpu_amx_request(errstr, errstr_size)) return -1;
  return bertd_lowp_kernel_selfcheck(k, errstr, errstr_size);
}

/* See lowp.h for why every value below is exact. N = 40 rows: a 2 x 16-row block and a
 * 16-row one (Np 48), C = 96: k padded to 128 for int8, 3 bf16 tile steps; OC = 72: two
 * panel pairs and a single panel of 8 channels. */
enum { N = 40, C = 96, OC = 72 };

int bertd_lowp_kernel_selfcheck(const bertd_lowp_kernel *k, char *errstr, size_t errstr_size) {
  float *A = malloc(sizeof(float) * N * C), *W = malloc(sizeof(float) * OC * C);
  float *b = malloc(sizeof(float) * OC), *out = malloc(sizeof(float) * N * OC);
  double *ref = malloc(sizeof(double) * N * OC);
  const size_t sbytes = (bertd_lowp_scratch_bytes(N, C) + 63) / 64 * 64;
  void *scratch = aligned_alloc(64, sbytes);
  bertd_lowp_linear l;
  memset(&l, 0, sizeof l);
  int rc = -1;
  if (!A || !W || !b || !out || !ref || !scratch) {
    bertd_set_error(errstr, errstr_size, "%s self-check: out of memory", k->name);
    goto done;
  }
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++)
      A[n * C + c] = c == n % C ? (n % 2 ? 127.0f : -127.0f)
                                : (float)((n * 31 + c * 7) % 255 - 127);
  for (int o = 0; o < OC; o++)
    for (int c = 0; c < C; c++)
      W[o * C + c] = c == (o * 3) % C ? (o % 3 ? 127.0f : -127.0f)
                                      : (float)((o * 13 + c * 29) % 253 - 126);
  for (int o = 0; o < OC; o++) b[o] = (float)(o % 7 - 3);
  for (int n = 0; n < N; n++)
    for (int o = 0; o < OC; o++) {
      int64_t s = 0;
      for (int c = 0; c < C; c++) s += (int64_t)A[n * C + c] * (int64_t)W[o * C + c];
      ref[n * OC + o] = (double)s + b[o];
    }
  if (bertd_lowp_linear_init(&l, k, W, b, C, OC, NULL, NULL, errstr, errstr_size)) goto done;
  for (int pass = 0; pass < 2; pass++) {
    /* pass 0: out = A W^T + b; pass 1: out += A W^T + b (the residual form) */
    bertd_lowp_linear_forward(&l, out, A, N, pass, scratch);
    for (int i = 0; i < N * OC; i++)
      if (out[i] != (float)((pass + 1) * ref[i])) {
        bertd_set_error(errstr, errstr_size,
                        "%s self-check%s: row %d channel %d is %.9g, exactly %.9g expected",
                        k->name, pass ? " (accumulating)" : "", i / OC, i % OC, (double)out[i],
                        (pass + 1) * ref[i]);
        goto done;
      }
  }
  rc = 0;
done:
  if (l.k) bertd_lowp_linear_free(&l);
  free(A);
  free(W);
  free(b);
  free(out);
  free(ref);
  free(scratch);
  return rc;
}
