/* test_lowp_kernels.c: the bf16 and int8 linear-layer kernels (model/gemm_*.c through
 * lowp_linear.c) against references computed in double: exact where the arithmetic is exact
 * (inputs that bf16 holds exactly; int8 inputs whose scales are powers of two), within the
 * rounding bound otherwise; shapes with partial panels, partial row tiles and padded k. Each
 * kernel the CPU cannot run is skipped by name; the AVX2 int8 kernel runs on any AVX2 CPU. Also
 * the quantiser's and the bf16 rounding's exact values, and the one-line refusals. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bertd.h"
#include "cpu_features.h"
#include "lowp.h"

/* N rows (not a multiple of any tile), C inputs (k padded 38 -> 40), OC outputs (partial
 * last panel for 16- and 8-channel panels, and a block of fewer than 4 panels) */
enum { N = 13, C = 38, OC = 70 };

static int runnable(const bertd_lowp_kernel *k) {
  bertd_cpu_features f;
  bertd_cpu_features_detect(&f);
  if (k == &bertd_kernel_bf16_avx512) return f.avx512_bf16 && f.avx512bw && f.avx512vl;
  if (k == &bertd_kernel_int8_avx512vnni) return f.avx512_vnni && f.avx512bw && f.avx512vl;
  return f.avx2;
}

static const bertd_lowp_kernel *const kernels[] = {
    &bertd_kernel_bf16_avx512, &bertd_kernel_int8_avx512vnni, &bertd_kernel_int8_avx2};

/* out = A W^T + b (accumulate 0), then out += A W^T + b (accumulate 1), through the kernel */
static void run(const bertd_lowp_kernel *k, const float *A, const float *W, const float *b,
                float *out, int accumulate) {
  char err[256];
  bertd_lowp_linear l;
  cr_assert_eq(bertd_lowp_linear_init(&l, k, W, b, C, OC, NULL, NULL, err, sizeof err), 0, "%s", err);
  void *scratch = aligned_alloc(64, (bertd_lowp_scratch_bytes(N, C) + 63) / 64 * 64);
  bertd_lowp_linear_forward(&l, out, A, N, accumulate, scratch);
  free(scratch);
  bertd_lowp_linear_free(&l);
}

static double ref(const float *A, const float *W, const float *b, int n, int o) {
  double s = b ? b[o] : 0.0;
  for (int c = 0; c < C; c++) s += (double)A[n * C + c] * W[o * C + c];
  return s;
}

Test(lowp_kernels, bf16_exact_on_bf16_values) {
  const bertd_lowp_kernel *k = &bertd_kernel_bf16_avx512;
  if (!runnable(k)) cr_skip_test("%s: this CPU lacks AVX512-BF16", k->name);
  static float A[N * C], W[OC * C], b[OC], out[N * OC];
  /* small integers times powers of two: exact in bf16, products and sums exact in fp32 */
  for (int i = 0; i < N * C; i++) A[i] = (float)((i * 37) % 17 - 8) * 0.5f;
  for (int i = 0; i < OC * C; i++) W[i] = (float)((i * 11) % 13 - 6) * 0.25f;
  for (int o = 0; o < OC; o++) b[o] = (float)(o % 5) - 2.0f;
  run(k, A, W, b, out, 0);
  for (int n = 0; n < N; n++)
    for (int o = 0; o < OC; o++)
      cr_assert_eq(out[n * OC + o], (float)ref(A, W, b, n, o), "out[%d][%d]", n, o);
  /* residual form: out += A W^T + b */
  run(k, A, W, b, out, 1);
  for (int n = 0; n < N; n++)
    for (int o = 0; o < OC; o++)
      cr_assert_eq(out[n * OC + o], (float)(2.0 * ref(A, W, b, n, o)), "out[%d][%d]", n, o);
}

Test(lowp_kernels, bf16_within_rounding_bound) {
  const bertd_lowp_kernel *k = &bertd_kernel_bf16_avx512;
  if (!runnable(k)) cr_skip_test("%s: this CPU lacks AVX512-BF16", k->name);
  static float A[N * C], W[OC * C], out[N * OC];
  uint64_t x = 12345;
  for (int i = 0; i < N * C; i++) { x = x * 6364136223846793005ULL + 1; A[i] = (float)((x >> 40) % 2001) / 1000.0f - 1.0f; }
  for (int i = 0; i < OC * C; i++) { x = x * 6364136223846793005ULL + 1; W[i] = (float)((x >> 40) % 2001) / 1000.0f - 1.0f; }
  run(k, A, W, NULL, out, 0);
  for (int n = 0; n < N; n++)
    for (int o = 0; o < OC; o++) {
      /* each bf16 rounding is within 2^-9 relative, a product of two within ~2^-8 */
      double bound = 0.0;
      for (int c = 0; c < C; c++) bound += fabs((double)A[n * C + c] * W[o * C + c]);
      bound = bound * (1.0 / 256 + 1e-6) + 1e-6;
      cr_assert(fabs(out[n * OC + o] - ref(A, W, NULL, n, o)) <= bound, "out[%d][%d] %g vs %g",
                n, o, out[n * OC + o], ref(A, W, NULL, n, o));
    }
}

/* int8 inputs whose scales are exact: every row of A holds +-127 * 2^-3 (scale 2^-3), every row
 * of W +-127 * 2^-4 (scale 2^-4), other values integer multiples: quantisation is exact and the
 * output sum * 2^-7 + b is exact in fp32. */
static void int8_exact(const bertd_lowp_kernel *k) {
  if (!runnable(k)) cr_skip_test("%s: this CPU lacks the instructions", k->name);
  static float A[N * C], W[OC * C], b[OC], out[N * OC];
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++)
      A[n * C + c] = (float)(c == n % C ? (n % 2 ? 127 : -127) : (n * 31 + c * 7) % 255 - 127) * 0.125f;
  for (int o = 0; o < OC; o++)
    for (int c = 0; c < C; c++)
      W[o * C + c] = (float)(c == (o * 3) % C ? 127 : (o * 13 + c * 29) % 253 - 126) * 0.0625f;
  for (int o = 0; o < OC; o++) b[o] = (float)(o % 7 - 3) * 0.25f;
  run(k, A, W, b, out, 0);
  for (int n = 0; n < N; n++)
    for (int o = 0; o < OC; o++)
      cr_assert_eq(out[n * OC + o], (float)ref(A, W, b, n, o), "%s out[%d][%d]", k->name, n, o);
  run(k, A, W, b, out, 1);
  for (int n = 0; n < N; n++)
    for (int o = 0; o < OC; o++)
      cr_assert_eq(out[n * OC + o], (float)(2.0 * ref(A, W, b, n, o)), "%s out[%d][%d]", k->name, n, o);
}

Test(lowp_kernels, int8_vnni_exact) { int8_exact(&bertd_kernel_int8_avx512vnni); }
Test(lowp_kernels, int8_avx2_exact) { int8_exact(&bertd_kernel_int8_avx2); }

/* Random values: within the quantisation bound, and both int8 kernels give the same floats
 * (the same exact int32 sums, the same dequantisation). */
Test(lowp_kernels, int8_within_quantisation_bound_and_kernels_agree) {
  static float A[N * C], W[OC * C], out[N * OC], out2[N * OC];
  uint64_t x = 777;
  for (int i = 0; i < N * C; i++) { x = x * 6364136223846793005ULL + 1; A[i] = (float)((x >> 40) % 2001) / 1000.0f - 1.0f; }
  for (int i = 0; i < OC * C; i++) { x = x * 6364136223846793005ULL + 1; W[i] = (float)((x >> 40) % 2001) / 1000.0f - 1.0f; }
  int ran = 0;
  for (size_t ki = 1; ki < 3; ki++) {
    const bertd_lowp_kernel *k = kernels[ki];
    if (!runnable(k)) continue;
    float *o = ran ? out2 : out;
    run(k, A, W, NULL, o, 0);
    for (int n = 0; n < N; n++) {
      float amax = 0.0f;
      for (int c = 0; c < C; c++) amax = fmaxf(amax, fabsf(A[n * C + c]));
      const double sa = amax / 127.0;
      for (int oc = 0; oc < OC; oc++) {
        float wmax = 0.0f;
        for (int c = 0; c < C; c++) wmax = fmaxf(wmax, fabsf(W[oc * C + c]));
        const double sw = wmax / 127.0;
        /* |a - qa sa| <= sa/2, |w - qw sw| <= sw/2 per element */
        double bound = 1e-5;
        for (int c = 0; c < C; c++)
          bound += fabs(A[n * C + c]) * sw / 2 + fabs(W[oc * C + c]) * sa / 2 + sa * sw / 4;
        cr_assert(fabs(o[n * OC + oc] - ref(A, W, NULL, n, oc)) <= bound, "%s out[%d][%d]",
                  k->name, n, oc);
      }
    }
    ran++;
  }
  if (!ran) cr_skip_test("no int8 kernel runs on this CPU");
  if (ran == 2)
    for (int i = 0; i < N * OC; i++) cr_assert_eq(out[i], out2[i], "kernels differ at %d", i);
}

/* Row tails: every row count from 1 to 13, and 16 (one 16-token sequence) and 17, through each
 * kernel, exact against the double reference (the exact inputs above: bf16 values for bf16,
 * power-of-two scales for int8), plain and accumulating. The kernels run the last row tile at
 * its exact height (gemm_*.c); the rows below N must never be written. OC2 = 150: two blocks
 * of four 16-channel panels with the next block prefetched, two single panels and a partial
 * one (for 8-channel panels: nine pairs and a partial single). */
enum { NT = 17, OC2 = 150 };
static const float SENTINEL = 12345.0f;

static float tails_ref(const float *A, const float *W, const float *b, int n, int o) {
  double s = b[o];
  for (int c = 0; c < C; c++) s += (double)A[n * C + c] * W[o * C + c];
  return (float)s;
}

static void tails_exact(const bertd_lowp_kernel *k) {
  static float A[NT * C], W[OC2 * C], b[OC2], out[(NT + 8) * OC2];
  if (k->prec == BERTD_PRECISION_BF16) {
    for (int i = 0; i < NT * C; i++) A[i] = (float)((i * 37) % 17 - 8) * 0.5f;
    for (int i = 0; i < OC2 * C; i++) W[i] = (float)((i * 11) % 13 - 6) * 0.25f;
  } else {
    for (int n = 0; n < NT; n++)
      for (int c = 0; c < C; c++)
        A[n * C + c] = (float)(c == n % C ? (n % 2 ? 127 : -127) : (n * 31 + c * 7) % 255 - 127) * 0.125f;
    for (int o = 0; o < OC2; o++)
      for (int c = 0; c < C; c++)
        W[o * C + c] = (float)(c == (o * 3) % C ? 127 : (o * 13 + c * 29) % 253 - 126) * 0.0625f;
  }
  for (int o = 0; o < OC2; o++) b[o] = (float)(o % 7 - 3) * 0.25f;
  char err[256];
  bertd_lowp_linear l;
  cr_assert_eq(bertd_lowp_linear_init(&l, k, W, b, C, OC2, NULL, NULL, err, sizeof err), 0, "%s", err);
  void *scratch = aligned_alloc(64, (bertd_lowp_scratch_bytes(NT, C) + 63) / 64 * 64);
  const int counts[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17};
  for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
    const int rows = counts[ci];
    for (int i = 0; i < (NT + 8) * OC2; i++) out[i] = SENTINEL;
    bertd_lowp_linear_forward(&l, out, A, rows, 0, scratch);
    for (int n = 0; n < rows; n++)
      for (int o = 0; o < OC2; o++)
        cr_assert_eq(out[n * OC2 + o], tails_ref(A, W, b, n, o), "%s N %d out[%d][%d]", k->name,
                     rows, n, o);
    bertd_lowp_linear_forward(&l, out, A, rows, 1, scratch);
    for (int n = 0; n < rows; n++)
      for (int o = 0; o < OC2; o++)
        cr_assert_eq(out[n * OC2 + o], 2.0f * tails_ref(A, W, b, n, o), "%s N %d accumulated out[%d][%d]",
                     k->name, rows, n, o);
    for (int i = rows * OC2; i < (NT + 8) * OC2; i++)
      cr_assert_eq(out[i], SENTINEL, "%s N %d wrote past row N at %d", k->name, rows, i);
  }
  free(scratch);
  bertd_lowp_linear_free(&l);
}

Test(lowp_kernels, bf16_row_tails_exact) {
  if (!runnable(&bertd_kernel_bf16_avx512)) cr_skip_test("this CPU lacks AVX512-BF16");
  tails_exact(&bertd_kernel_bf16_avx512);
}
Test(lowp_kernels, int8_vnni_row_tails_exact) {
  if (!runnable(&bertd_kernel_int8_avx512vnni)) cr_skip_test("this CPU lacks AVX512-VNNI");
  tails_exact(&bertd_kernel_int8_avx512vnni);
}
Test(lowp_kernels, int8_avx2_row_tails_exact) {
  if (!runnable(&bertd_kernel_int8_avx2)) cr_skip_test("this CPU lacks AVX2");
  tails_exact(&bertd_kernel_int8_avx2);
}

Test(lowp_kernels, quantize_row_exact) {
  const float x[5] = {1.0f, -2.0f, 0.5f, 4.0f, 0.0f};
  int8_t q[5];
  /* 127/4 = 31.75: 31.75 -> 32, -63.5 -> -64 (half to even), 15.875 -> 16, 127, 0 */
  cr_assert_eq(bertd_quantize_row(x, 5, q), 4.0f / 127.0f);
  const int8_t want[5] = {32, -64, 16, 127, 0};
  for (int i = 0; i < 5; i++) cr_assert_eq(q[i], want[i], "q[%d] = %d", i, q[i]);
  const float z[3] = {0.0f, 0.0f, -0.0f};
  cr_assert_eq(bertd_quantize_row(z, 3, q), 0.0f);
  cr_assert(q[0] == 0 && q[1] == 0 && q[2] == 0);
  /* with a per-column multiplier: x * mul = (2, -1, 0.5, 8, 0) -> amax 8, 127/8 = 15.875 */
  const float mul[5] = {2.0f, 0.5f, 1.0f, 2.0f, 1.0f};
  cr_assert_eq(bertd_quantize_row_mul(x, mul, 5, q), 8.0f / 127.0f);
  const int8_t want2[5] = {32, -16, 8, 127, 0}; /* 31.75, -15.875, 7.9375 */
  for (int i = 0; i < 5; i++) cr_assert_eq(q[i], want2[i], "q[%d] = %d", i, q[i]);
}

Test(lowp_kernels, bf16_rounds_to_nearest_even) {
  cr_assert_eq(bertd_bf16_from_float(1.0f), 0x3f80);
  cr_assert_eq(bertd_bf16_from_float(1.0f + 0x1p-8f), 0x3f80);          /* tie -> even */
  cr_assert_eq(bertd_bf16_from_float(1.0f + 0x1p-7f + 0x1p-8f), 0x3f82); /* tie -> even */
  cr_assert_eq(bertd_bf16_from_float(1.0f + 0x1p-8f + 0x1p-12f), 0x3f81); /* above the tie */
  cr_assert_eq(bertd_bf16_from_float(-2.0f), 0xc000);
  cr_assert_eq(bertd_bf16_to_float(0x3f82), 1.015625f);
}

Test(lowp_kernels, bf16_refused_without_the_instructions) {
  setenv("BERTD_CPU_DISABLE", "avx512_bf16,amx_bf16", 1);
  bertd_cpu_features f;
  bertd_cpu_features_detect(&f);
  cr_assert_eq(f.avx512_bf16, 0);
  cr_assert_eq(f.amx_bf16, 0);
  char err[512];
  const bertd_lowp_kernel *k = (const bertd_lowp_kernel *)&err;
  cr_assert_eq(bertd_lowp_kernel_select(BERTD_PRECISION_BF16, &f, &k, err, sizeof err), -1);
  cr_assert_null(k);
  cr_assert(!strncmp(err, "precision bf16: this CPU has neither AMX-BF16 nor AVX512-BF16 (it has: ",
                     strlen("precision bf16: this CPU has neither AMX-BF16 nor AVX512-BF16 (it has: ")),
            "%s", err);
  cr_assert(strchr(err, '\n') == NULL);
  /* the model stays fp32 */
  bertd_model *m;
  cr_assert_eq(bertd_model_random(1, 32, 2, 64, 1, &m, err, sizeof err), 0, "%s", err);
  char before[64];
  snprintf(before, sizeof before, "%s", bertd_model_kernel(m));
  cr_assert_eq(bertd_model_set_precision(m, BERTD_PRECISION_BF16, err, sizeof err), -1);
  cr_assert_eq(bertd_model_precision(m), BERTD_PRECISION_FP32);
  cr_assert_str_eq(bertd_model_kernel(m), before);
  bertd_model_free(m);
}

Test(lowp_kernels, int8_refused_without_avx2_and_vnni) {
  setenv("BERTD_CPU_DISABLE", "avx2,avx512_vnni,avx_vnni,amx_int8", 1);
  bertd_cpu_features f;
  bertd_cpu_features_detect(&f);
  char err[512];
  const bertd_lowp_kernel *k;
  cr_assert_eq(bertd_lowp_kernel_select(BERTD_PRECISION_INT8, &f, &k, err, sizeof err), -1);
  cr_assert(!strncmp(err, "precision int8: this CPU has neither AVX512-VNNI nor AVX2",
                     strlen("precision int8: this CPU has neither AVX512-VNNI nor AVX2")), "%s", err);
}

Test(lowp_kernels, disable_list_matches_whole_names) {
  bertd_cpu_features all, f;
  unsetenv("BERTD_CPU_DISABLE");
  bertd_cpu_features_detect(&all);
  setenv("BERTD_CPU_DISABLE", "avx512", 1); /* not a feature name: nothing turned off */
  bertd_cpu_features_detect(&f);
  cr_assert_eq(memcmp(&all, &f, sizeof f), 0);
  /* "avx512_vnni" must not turn off "avx512_v..." others, nor what it builds on */
  setenv("BERTD_CPU_DISABLE", "fma,avx512_vnni", 1);
  bertd_cpu_features_detect(&f);
  cr_assert_eq(f.fma, 0);
  cr_assert_eq(f.avx512_vnni, 0);
  cr_assert_eq(f.avx2, all.avx2);
  cr_assert_eq(f.avx512f, all.avx512f);
  cr_assert_eq(f.avx512bw, all.avx512bw);
  cr_assert_eq(f.avx512_bf16, all.avx512_bf16);
  unsetenv("BERTD_CPU_DISABLE");
}

Test(lowp_kernels, precision_names) {
  bertd_precision p;
  cr_assert_eq(bertd_precision_parse("bf16", &p), 0);
  cr_assert_eq(p, BERTD_PRECISION_BF16);
  cr_assert_eq(bertd_precision_parse("int8", &p), 0);
  cr_assert_eq(p, BERTD_PRECISION_INT8);
  cr_assert_eq(bertd_precision_parse("fp32", &p), 0);
  cr_assert_eq(p, BERTD_PRECISION_FP32);
  cr_assert_eq(bertd_precision_parse("fp16", &p), -1);
  cr_assert_str_eq(bertd_precision_name(BERTD_PRECISION_INT8), "int8");
}

/* A checkpoint loaded in int8 (bertd_model_load_precision): same checksum as in fp32 (of the
 * weights as loaded), its fp32 encoder matrices released (it refuses fp32 after), and hidden
 * states close to fp32's. The tiny joint fixture (tools/reference/make_model_fixtures.py). */
Test(lowp_kernels, load_in_int8_holds_one_copy) {
  const char *dir = BERTD_FIXTURES "/models/joint";
  char err[512];
  bertd_model *m32, *m8;
  cr_assert_eq(bertd_model_load(dir, &m32, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_model_load_precision(dir, BERTD_PRECISION_INT8, &m8, err, sizeof err), 0,
               "%s", err);
  cr_assert_str_eq(bertd_model_checksum(m8), bertd_model_checksum(m32));
  cr_assert_eq(bertd_model_precision(m8), BERTD_PRECISION_INT8);
  cr_assert(bertd_model_lowp_bytes(m8) > 0);
  cr_assert_eq(bertd_model_set_precision(m8, BERTD_PRECISION_FP32, err, sizeof err), -1);
  cr_assert(strstr(err, "holds no fp32 copy") != NULL, "%s", err);
  const int H = bertd_model_config(m32)->hidden_size;
  enum { B = 2 };
  const char *texts[B] = {"show me flights from boston to denver", "list fares"};
  bertd_encoding enc[B];
  memset(enc, 0, sizeof enc);
  const bertd_encoding *batch[B];
  for (int b = 0; b < B; b++) {
    cr_assert_eq(bertd_tokenizer_encode(bertd_model_tokenizer(m32), texts[b], strlen(texts[b]),
                                        NULL, 0, 64, BERTD_TRUNC_LONGEST_FIRST, &enc[b], err,
                                        sizeof err), 0, "%s", err);
    batch[b] = &enc[b];
  }
  bertd_session *s32, *s8;
  cr_assert_eq(bertd_session_create(m32, &s32, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_session_create(m8, &s8, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_session_forward(s32, batch, B, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_session_forward(s8, batch, B, err, sizeof err), 0, "%s", err);
  for (int b = 0; b < B; b++) {
    int n32, n8;
    const float *h32 = bertd_session_hidden(s32, b, &n32), *h8 = bertd_session_hidden(s8, b, &n8);
    cr_assert_eq(n32, n8);
    double dot = 0, a2 = 0, b2 = 0;
    for (int i = 0; i < n32 * H; i++) {
      dot += (double)h32[i] * h8[i];
      a2 += (double)h32[i] * h32[i];
      b2 += (double)h8[i] * h8[i];
    }
    cr_assert(dot / sqrt(a2 * b2) > 0.99, "sequence %d: cosine %f", b, dot / sqrt(a2 * b2));
  }
  for (int b = 0; b < B; b++) bertd_encoding_free(&enc[b]);
  bertd_session_free(s32);
  bertd_session_free(s8);
  bertd_model_free(m32);
  bertd_model_free(m8);
}

/* The AMX permission request: granted where the CPU and kernel have AMX tile state, refused in
 * one line elsewhere (this project's CI machines have no AMX: the refusal is what runs). */
Test(lowp_kernels, amx_permission_follows_the_cpu) {
  unsetenv("BERTD_CPU_DISABLE");
  bertd_cpu_features f;
  bertd_cpu_features_detect(&f);
  char err[256] = "";
  const int rc = bertd_cpu_amx_request(err, sizeof err);
  if (f.amx_tile) {
    cr_assert_eq(rc, 0, "AMX CPU, permission refused: %s", err);
  } else {
    cr_assert_eq(rc, -1);
    cr_assert(!strncmp(err, "AMX: ", 5) && !strchr(err, '\n'), "%s", err);
  }
}

/* quantize_rows.c's AVX-512 and AVX2 quantisers give bertd_quantize_row_mul's scale and bytes
 * exactly (then xor 0x80 with the offset), on every row length from 1 to 70 and 384 (vector
 * tails), with and without a multiplier, on ties (amax 127: scale 1, so k + 0.5 rounds to
 * even), an all-zero row, and rows holding an infinity (all zero) or a NaN (skipped by the max). */
typedef float quantizer(const float *, const float *, int, unsigned char *, int);

static void quantizer_matches(quantizer *vq) {
  enum { NMAX = 384 };
  float x[NMAX], mul[NMAX];
  int8_t want[NMAX];
  unsigned char got[NMAX];
  unsigned s = 99;
  for (int n = 1; n <= NMAX; n = n < 70 ? n + 1 : NMAX + (n == NMAX)) {
    for (int kind = 0; kind < 5; kind++)
      for (int use_mul = 0; use_mul < 2; use_mul++)
        for (int offset = 0; offset < 2; offset++) {
          for (int i = 0; i < n; i++) {
            s = s * 1103515245u + 12345u;
            const float u = (float)(s >> 8) / (float)(1u << 23) - 1.0f;
            x[i] = kind == 1 ? (float)((int)(s >> 9) % 255 - 127) + ((s >> 8) & 1 ? 0.5f : 0.0f)
                 : kind == 2 ? 0.0f
                             : 3.0f * u;
            mul[i] = 0.5f + (float)((s >> 12) % 7) * 0.25f;
          }
          if (kind == 1) x[0] = 127.0f; /* amax 127 (times mul when used) */
          if (kind == 3) x[n / 2] = INFINITY;
          if (kind == 4) x[n - 1] = NAN;
          const float *m = use_mul ? mul : NULL;
          const float sw = bertd_quantize_row_mul(x, m, n, want);
          const float sg = vq(x, m, n, got, offset);
          cr_assert(sw == sg || (isnan(sw) && isnan(sg)), "n %d kind %d: scale %g vs %g", n,
                    kind, sg, sw);
          for (int i = 0; i < n; i++) {
            if (kind == 4 && i == n - 1) continue; /* a NaN's byte is unspecified */
            const unsigned char w = (unsigned char)want[i] ^ (offset ? 0x80 : 0);
            cr_assert_eq(got[i], w, "n %d kind %d mul %d offset %d: q[%d] = %d, want %d", n, kind,
                         use_mul, offset, i, got[i], w);
          }
        }
  }
}

Test(lowp_kernels, quantize_rows_avx512_bit_for_bit) {
  bertd_cpu_features f;
  bertd_cpu_features_detect(&f);
  if (!(f.avx512f && f.avx512bw)) cr_skip_test("this CPU has no AVX-512 F and BW");
  quantizer_matches(bertd_quantize_row_avx512);
}

Test(lowp_kernels, quantize_rows_avx2_bit_for_bit) {
  bertd_cpu_features f;
  bertd_cpu_features_detect(&f);
  if (!f.avx2 || !f.fma) cr_skip_test("this CPU has no AVX2 and FMA");
  quantizer_matches(bertd_quantize_row_avx2);
}

/* A kernel that applies GELU in its epilogue (lowp.h: `gelu`) gives exactly gelu.c over the
 * rows it would have stored without it, on values across GELU's range (|x| up to ~6: both
 * clamps of its erf) */
Test(lowp_kernels, fused_gelu_is_gelu_c_bit_for_bit) {
  static float A[N * C], W[OC * C], b[OC], plain[N * OC], fused[N * OC];
  uint64_t x = 4242;
  for (int i = 0; i < N * C; i++) { x = x * 6364136223846793005ULL + 1; A[i] = (float)((x >> 40) % 2001) / 1000.0f - 1.0f; }
  for (int i = 0; i < OC * C; i++) { x = x * 6364136223846793005ULL + 1; W[i] = (float)((x >> 40) % 2001) / 2000.0f - 0.5f; }
  for (int o = 0; o < OC; o++) b[o] = (float)(o % 9 - 4);
  int ran = 0;
  for (size_t ki = 0; ki < sizeof kernels / sizeof kernels[0]; ki++) {
    const bertd_lowp_kernel *k = kernels[ki];
    if (!k->gelu || !runnable(k)) continue;
    char err[256];
    bertd_lowp_linear l;
    cr_assert_eq(bertd_lowp_linear_init(&l, k, W, b, C, OC, NULL, NULL, err, sizeof err), 0, "%s", err);
    void *scratch = aligned_alloc(64, (bertd_lowp_scratch_bytes(N, C) + 63) / 64 * 64);
    bertd_lowp_gemm_args g;
    bertd_lowp_prepare(&l, &g, plain, OC, A, N, 0, scratch);
    k->gemm(&g, 0, bertd_lowp_panels(&l));
    bertd_activation_forward(plain, (size_t)N * OC, BERTD_ACT_GELU);
    bertd_lowp_prepare(&l, &g, fused, OC, A, N, 0, scratch);
    g.gelu = 1;
    k->gemm(&g, 0, bertd_lowp_panels(&l));
    int big = 0;
    for (int i = 0; i < N * OC; i++) {
      cr_assert_eq(memcmp(&plain[i], &fused[i], sizeof(float)), 0, "%s at %d: %.9g vs %.9g",
                   k->name, i, plain[i], fused[i]);
      big += fabsf(plain[i]) > 4.0f;
    }
    cr_assert_gt(big, 0, "%s: no value past GELU's clamp was tested", k->name);
    free(scratch);
    bertd_lowp_linear_free(&l);
    ran++;
  }
  if (!ran) cr_skip_test("no kernel with a GELU epilogue runs on this CPU");
}
