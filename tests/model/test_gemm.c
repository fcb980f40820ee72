/* test_gemm.c: each fp32 kernel this CPU runs (gemm.h: avx512, avx2, generic) against the
 * OpenBLAS reference, on shapes that hit every tail (rows not a multiple of the tile's, output
 * columns not a multiple of the panel's, odd inner sizes) with every epilogue.
 * With operands that are multiples of 1/4 in [-1, 1], every product and partial sum is exact in
 * float whatever the summation order, so kernel and reference must agree bit for bit; random
 * operands then check the rounding stays within float's. A kernel the CPU lacks is skipped by
 * name (bertd_gemm_by_name returns NULL), never run. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"

static unsigned next(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return *s >> 8;
}

/* quarters in [-1, 1] (exact), or uniform in [-1, 1) */
static void fill(float *x, size_t n, unsigned *seed, int exact) {
  for (size_t i = 0; i < n; i++)
    x[i] = exact ? (float)((int)(next(seed) % 9u) - 4) / 4.0f
                 : (float)next(seed) / (float)(1u << 23) - 1.0f;
}

/* Worst |kernel - reference| / (1 + |reference|) over the shapes, for kernel `name`; -1 when
 * the CPU lacks it. ldo and ldi are wider than the rows, so strides are exercised. */
static double worst_error(const char *name, int exact, bertd_gemm_epilogue epi) {
  const bertd_gemm_kernel *kern = bertd_gemm_by_name(name);
  if (!kern) return -1.0;
  static const int Ms[] = {1, 2, 5, 6, 7, 12, 13, 16, 31, 64, 130};
  static const int Ns[] = {1, 15, 16, 17, 32, 33, 100, 384};
  /* 4500: past the kernels' one-pass K (4096), so two K chunks: small shapes, exact operands
   * only (bit for bit shows the chunks add up; 4500 random terms exceed the rounding bound) */
  static const int Ks[] = {1, 3, 19, 64, 384, 700, 4500};
  double worst = 0.0;
  unsigned seed = 2024;
  for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
    for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
      for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++) {
        const int M = Ms[mi], N = Ns[ni], K = Ks[ki], ldi = K + 3, ldo = N + 5;
        if (K > 4096 && (!exact || M > 13 || N > 33)) continue;
        float *inp = malloc(sizeof(float) * (size_t)M * ldi);
        float *inp_dense = malloc(sizeof(float) * (size_t)M * K);
        float *W = malloc(sizeof(float) * (size_t)N * K);
        float *bias = malloc(sizeof(float) * (size_t)N);
        float *out = malloc(sizeof(float) * (size_t)M * ldo);
        float *ref = malloc(sizeof(float) * (size_t)M * N);
        cr_assert(inp && inp_dense && W && bias && out && ref);
        fill(inp, (size_t)M * ldi, &seed, exact);
        fill(W, (size_t)N * K, &seed, exact);
        fill(bias, (size_t)N, &seed, exact);
        fill(out, (size_t)M * ldo, &seed, exact); /* the residual's starting values */
        float pad0 = out[N]; /* a column between rows 0 and 1 (ldo > N) */
        for (int m = 0; m < M; m++) {
          memcpy(inp_dense + (size_t)m * K, inp + (size_t)m * ldi, sizeof(float) * (size_t)K);
          memcpy(ref + (size_t)m * N, out + (size_t)m * ldo, sizeof(float) * (size_t)N);
        }
        cr_assert_eq(bertd_gemm_reference(ref, inp_dense, W, bias, M, N, K, epi), 0);
        bertd_packed p;
        char err[128];
        cr_assert_eq(bertd_gemm_pack(&p, kern, W, bias, N, K, err, sizeof err), 0, "%s", err);
        const bertd_gemm_args g = {.out = out, .inp = inp, .w = &p, .M = M, .ldo = ldo,
                                   .ldi = ldi, .epi = epi};
        /* in two calls over disjoint panel runs, as the encoder's threads split it */
        const int half = p.panels / 2;
        kern->run(&g, 0, half);
        kern->run(&g, half, p.panels);
        for (int m = 0; m < M; m++)
          for (int n = 0; n < N; n++) {
            const double r = ref[(size_t)m * N + n], o = out[(size_t)m * ldo + n];
            const double e = fabs(o - r) / (1.0 + fabs(r));
            worst = e > worst ? e : worst;
          }
        /* the columns between rows are left alone */
        cr_assert_eq(out[N], pad0, "%s wrote past column %d", name, N);
        bertd_gemm_packed_free(&p);
        free(inp); free(inp_dense); free(W); free(bias); free(out); free(ref);
      }
  return worst;
}

static void check(const char *name) {
  static const bertd_gemm_epilogue epis[] = {BERTD_EPI_BIAS, BERTD_EPI_RESIDUAL,
                                             BERTD_EPI_BIAS_GELU};
  for (int e = 0; e < 3; e++) {
    const double exact = worst_error(name, 1, epis[e]);
    if (exact < 0) cr_skip_test("this CPU has no %s", name);
    cr_expect_eq(exact, 0.0, "%s epilogue %d: exact operands differ by %g", name, e, exact);
    const double rounded = worst_error(name, 0, epis[e]);
    /* K <= 700 terms of size <= 1: a few float ulps of the largest partial sums */
    cr_expect_lt(rounded, 2e-5, "%s epilogue %d: random operands differ by %g", name, e, rounded);
  }
}

Test(gemm, generic_matches_reference) { check("generic"); }
Test(gemm, avx2_matches_reference) { check("avx2"); }
Test(gemm, avx512_matches_reference) { check("avx512"); }

Test(gemm, best_is_one_the_cpu_runs) {
  const bertd_gemm_kernel *k = bertd_gemm_best();
  cr_assert(k && k->run);
  cr_assert_eq(bertd_gemm_by_name(k->name), k);
  cr_assert_null(bertd_gemm_by_name("sse9"));
}

/* q, k, v concatenated into one product equal the three products side by side */
Test(gemm, concat_packs_rows_in_order) {
  const bertd_gemm_kernel *kern = bertd_gemm_best();
  enum { M = 3, K = 8, H = 20 };
  float W[3][H * K], b[3][H], inp[M * K], out[M * 3 * H], ref[M * H];
  unsigned seed = 7;
  for (int i = 0; i < 3; i++) {
    fill(W[i], H * K, &seed, 1);
    fill(b[i], H, &seed, 1);
  }
  fill(inp, M * K, &seed, 1);
  const float *ws[3] = {W[0], W[1], W[2]}, *bs[3] = {b[0], NULL, b[2]};
  const int ns[3] = {H, H, H};
  bertd_packed p;
  char err[128];
  cr_assert_eq(bertd_gemm_pack_concat(&p, kern, 3, ws, bs, ns, K, err, sizeof err), 0);
  const bertd_gemm_args g = {out, inp, &p, M, 3 * H, K, BERTD_EPI_BIAS};
  bertd_gemm_run(&g);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(bertd_gemm_reference(ref, inp, W[i], bs[i], M, H, K, BERTD_EPI_BIAS), 0);
    for (int m = 0; m < M; m++)
      for (int n = 0; n < H; n++)
        cr_assert_eq(out[m * 3 * H + i * H + n], ref[m * H + n], "part %d row %d col %d", i, m, n);
  }
  bertd_gemm_packed_free(&p);
}
