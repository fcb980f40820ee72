/* test_amx_kernels.c: the AMX kernels' code (gemm_amx.inc) on the C emulation of the tile
 * instructions (gemm_amx_emulated.c), which runs on any CPU, against the AVX512-BF16, VNNI and
 * AVX2 kernels and against exact references; the self-check that guards the real kernel; and
 * the choice refusing AMX when the tile permission, cpuid or BERTD_CPU_DISABLE says no. The
 * real instructions are tested by test_amx_hw.c, on AMX CPUs only.
 *
 * Bounds: int8 is exact (the same int32 sums and the same fp32 epilogue as VNNI: bit for bit).
 * bf16: both kernels multiply the same bf16 values exactly in fp32 and differ only in the
 * order of the fp32 additions (tdpbf16ps keeps even and odd products apart within a 32-k tile
 * step, vdpbf16ps adds each pair straight in); the error of an order of K + 2 additions
 * (products, bias, residual) is at most (K + 2) u S with u = 2^-24 and S the sum of the
 * magnitudes added, so two orders differ by at most 2 (K + 2) u S (first order, which the
 * 1.01 factor covers).
 * GELU in the epilogue (args.gelu, the feed-forward's first layer): the emulated kernels'
 * result equals gelu.c's GELU over the rows of their own product bit for bit, so a GELU
 * missing or applied twice fails; int8 also equals the VNNI kernel's epilogue GELU (and the
 * AVX2 kernel's product with gelu.c over its rows) bit for bit, bf16 the AVX512-BF16 kernel's
 * within the bound above carried through GELU.
 * The emulation built for AVX-512 (gemm_amx_emulated_avx512.c) runs gemm_amx.c's vector epilogue
 * on the same emulated tiles: it equals the scalar one bit for bit, in both precisions. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bertd.h"
#include "bertd_weights.h"
#include "cpu_features.h"
#include "encoder.h"
#include "layers.h"
#include "lowp.h"

static int runnable(const bertd_lowp_kernel *k) {
  bertd_cpu_features f;
  bertd_cpu_features_detect(&f);
  if (k == &bertd_kernel_bf16_avx512) return f.avx512_bf16 && f.avx512bw && f.avx512vl;
  if (k == &bertd_kernel_int8_avx512vnni) return f.avx512_vnni && f.avx512bw && f.avx512vl;
  if (k == &bertd_kernel_int8_avx2) return f.avx2;
  if (k == &bertd_kernel_bf16_amx_emulated_avx512 || k == &bertd_kernel_int8_amx_emulated_avx512)
    return f.avx512f && f.avx512bw && f.avx512vl;
  return 1; /* the emulated kernels: plain C */
}

static uint64_t rng = 1;
static float uniform(float lo, float hi) {
  rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
  return lo + (hi - lo) * (float)((rng >> 40) & 0xffffff) / 16777216.0f;
}

/* out (M,OC) through kernel k: epi 0 = bias, 1 = bias + residual (out += ...), 2 = bias, then
 * gelu.c's GELU over the finished rows (what the encoder runs for a kernel without `gelu`),
 * 3 = bias + GELU in the kernel's epilogue (args.gelu, as the encoder's feed-forward asks for
 * it; a kernel without `gelu`, the AVX2 one, gets epi 2's pass, as in the encoder).
 * out_init: the residual's input. */
enum { EPI_BIAS, EPI_RESIDUAL, EPI_GELU_AFTER, EPI_GELU_KERNEL, EPIS };
static void run(const bertd_lowp_kernel *k, const float *A, const float *W, const float *b,
                int M, int C, int OC, int epi, const float *out_init, float *out,
                const float *ln_g, const float *ln_b) {
  char err[256];
  bertd_lowp_linear l;
  cr_assert_eq(bertd_lowp_linear_init(&l, k, W, b, C, OC, ln_g, ln_b, err, sizeof err), 0, "%s",
               err);
  void *scratch = aligned_alloc(64, (bertd_lowp_scratch_bytes(M, C) + 63) / 64 * 64);
  cr_assert(scratch);
  memcpy(out, out_init, sizeof(float) * (size_t)M * OC);
  if (epi == EPI_GELU_KERNEL) {
    bertd_lowp_gemm_args g;
    bertd_lowp_prepare(&l, &g, out, OC, A, M, 0, scratch);
    g.gelu = k->gelu;
    k->gemm(&g, 0, bertd_lowp_panels(&l));
  } else {
    bertd_lowp_linear_forward(&l, out, A, M, epi == EPI_RESIDUAL, scratch);
  }
  if (epi == EPI_GELU_AFTER || (epi == EPI_GELU_KERNEL && !k->gelu))
    for (int r = 0; r < M; r++) bertd_activation_forward(out + (size_t)r * OC, (size_t)OC, BERTD_ACT_GELU);
  free(scratch);
  bertd_lowp_linear_free(&l);
}

static const int Ms[] = {1, 5, 16, 33};
static const int OCs[] = {16, 40, 70};  /* one panel; a pair and a half panel; 4 pairs + 6 */
static const int Cs[] = {32, 38, 100};  /* one bf16 tile step; padded to 64; 4 steps / 2 int8 */

Test(amx_emulated, selfcheck_passes) {
  char err[256];
  cr_assert_eq(bertd_lowp_kernel_selfcheck(&bertd_kernel_bf16_amx_emulated, err, sizeof err), 0,
               "%s", err);
  cr_assert_eq(bertd_lowp_kernel_selfcheck(&bertd_kernel_int8_amx_emulated, err, sizeof err), 0,
               "%s", err);
  /* the AVX kernels pass it too: it checks results, not a kernel's internals */
  const bertd_lowp_kernel *others[] = {&bertd_kernel_bf16_avx512, &bertd_kernel_int8_avx512vnni,
                                       &bertd_kernel_int8_avx2};
  for (int i = 0; i < 3; i++)
    if (runnable(others[i]))
      cr_assert_eq(bertd_lowp_kernel_selfcheck(others[i], err, sizeof err), 0, "%s", err);
}

/* Every AMX kernel applies GELU in its epilogue, as the AVX-512 ones: the encoder then asks it
 * for args.gelu (encoder.c lowp_linear) and runs no pass of gelu.c over its rows. */
Test(amx_emulated, amx_kernels_apply_gelu_in_the_epilogue) {
  const bertd_lowp_kernel *ks[] = {&bertd_kernel_bf16_amx, &bertd_kernel_int8_amx,
                                   &bertd_kernel_bf16_amx_emulated,
                                   &bertd_kernel_int8_amx_emulated, &bertd_kernel_bf16_avx512,
                                   &bertd_kernel_int8_avx512vnni};
  for (int i = 0; i < 6; i++) cr_assert_eq(ks[i]->gelu, 1, "%s", ks[i]->name);
}

/* the emulated bf16 kernel, with one output off by one unit in the last place */
static void off_by_one_ulp(const bertd_lowp_gemm_args *g, int p0, int p1) {
  bertd_kernel_bf16_amx_emulated.gemm(g, p0, p1);
  if (p0 == 0 && g->N > 35 && g->OC > 17) g->out[35 * g->ldo + 17] = nextafterf(g->out[35 * g->ldo + 17], INFINITY);
}

Test(amx_emulated, selfcheck_refuses_a_kernel_one_ulp_off) {
  bertd_lowp_kernel bad = bertd_kernel_bf16_amx_emulated;
  bad.name = "bf16 broken";
  bad.gemm = off_by_one_ulp;
  char err[256] = "";
  cr_assert_eq(bertd_lowp_kernel_selfcheck(&bad, err, sizeof err), -1);
  cr_assert(strstr(err, "bf16 broken self-check: row 35 channel 17 is ") == err, "%s", err);
  cr_assert(strstr(err, ", exactly ") && strstr(err, " expected"), "%s", err);
  cr_assert(!strchr(err, '\n'));
}

/* bf16: emulated AMX against the AVX512-BF16 kernel, and both against the exact product of the
 * bf16-rounded inputs (bounds: see the top of the file) */
static void bf16_case(int M, int OC, int C, int epi) {
  const int have_avx = runnable(&bertd_kernel_bf16_avx512);
  float *A = malloc(sizeof(float) * M * C), *W = malloc(sizeof(float) * OC * C);
  float *b = malloc(sizeof(float) * OC), *init = malloc(sizeof(float) * M * OC);
  float *amx = malloc(sizeof(float) * M * OC), *avx = malloc(sizeof(float) * M * OC);
  cr_assert(A && W && b && init && amx && avx);
  for (int i = 0; i < M * C; i++) A[i] = uniform(-2.0f, 2.0f);
  for (int i = 0; i < OC * C; i++) W[i] = uniform(-0.2f, 0.2f);
  for (int i = 0; i < OC; i++) b[i] = uniform(-1.0f, 1.0f);
  for (int i = 0; i < M * OC; i++) init[i] = uniform(-3.0f, 3.0f);
  run(&bertd_kernel_bf16_amx_emulated, A, W, b, M, C, OC, epi, init, amx, NULL, NULL);
  if (runnable(&bertd_kernel_bf16_amx_emulated_avx512)) {
    /* gemm_amx.c's vector epilogue, on the same emulated tiles: the same bits */
    run(&bertd_kernel_bf16_amx_emulated_avx512, A, W, b, M, C, OC, epi, init, avx, NULL, NULL);
    for (int i = 0; i < M * OC; i++)
      cr_assert(!memcmp(&amx[i], &avx[i], sizeof(float)),
                "M %d OC %d C %d epi %d [%d][%d]: scalar epilogue %.9g, vector epilogue %.9g", M,
                OC, C, epi, i / OC, i % OC, amx[i], avx[i]);
  }
  if (have_avx) run(&bertd_kernel_bf16_avx512, A, W, b, M, C, OC, epi, init, avx, NULL, NULL);
  if (epi == EPI_GELU_KERNEL) {
    /* GELU in the epilogue is gelu.c's over the finished rows, bit for bit: the same product */
    float *after = malloc(sizeof(float) * M * OC);
    cr_assert(after);
    run(&bertd_kernel_bf16_amx_emulated, A, W, b, M, C, OC, EPI_GELU_AFTER, init, after, NULL, NULL);
    for (int i = 0; i < M * OC; i++)
      cr_assert(!memcmp(&amx[i], &after[i], sizeof(float)),
                "M %d OC %d C %d [%d][%d]: GELU in the epilogue %.9g, over the rows %.9g", M, OC,
                C, i / OC, i % OC, amx[i], after[i]);
    free(after);
  }
  const double u = 0x1p-24;
  for (int n = 0; n < M; n++)
    for (int o = 0; o < OC; o++) {
      double exact = b[o], S = fabs(b[o]);
      for (int c = 0; c < C; c++) {
        const double p = (double)bertd_bf16_to_float(bertd_bf16_from_float(A[n * C + c])) *
                         bertd_bf16_to_float(bertd_bf16_from_float(W[o * C + c]));
        exact += p;
        S += fabs(p);
      }
      if (epi == EPI_RESIDUAL) {
        exact += init[n * OC + o];
        S += fabs(init[n * OC + o]);
      }
      double one = 1.01 * (C + 2) * u * S, two = 2 * one;
      if (epi == EPI_GELU_AFTER || epi == EPI_GELU_KERNEL) {
        /* GELU after: |GELU'| <= 1.13, and gelu.c's own error below 1e-6 * (1 + |x|) */
        const double x = exact;
        exact = 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
        one = 1.13 * one + 1e-6 * (1.0 + fabs(x));
        two = 1.13 * two + 2e-6 * (1.0 + fabs(x));
      }
      const float got = amx[n * OC + o];
      cr_assert(fabs(got - exact) <= one, "M %d OC %d C %d epi %d [%d][%d]: amx %.9g exact %.9g bound %g",
                M, OC, C, epi, n, o, got, exact, one);
      if (have_avx)
        cr_assert(fabs(got - avx[n * OC + o]) <= two,
                  "M %d OC %d C %d epi %d [%d][%d]: amx %.9g avx512-bf16 %.9g bound %g", M, OC, C,
                  epi, n, o, got, avx[n * OC + o], two);
    }
  free(A), free(W), free(b), free(init), free(amx), free(avx);
}

/* int8: emulated AMX equals every int8 kernel this CPU runs, bit for bit; returns how many it
 * compared with */
static int int8_case(int M, int OC, int C, int epi, int smooth) {
  int compared = 0;
  float *A = malloc(sizeof(float) * M * C), *W = malloc(sizeof(float) * OC * C);
  float *b = malloc(sizeof(float) * OC), *init = malloc(sizeof(float) * M * OC);
  float *g = malloc(sizeof(float) * C), *gb = malloc(sizeof(float) * C);
  float *amx = malloc(sizeof(float) * M * OC), *other = malloc(sizeof(float) * M * OC);
  cr_assert(A && W && b && init && g && gb && amx && other);
  for (int i = 0; i < M * C; i++) A[i] = uniform(-2.0f, 2.0f);
  for (int i = 0; i < OC * C; i++) W[i] = uniform(-0.2f, 0.2f);
  for (int i = 0; i < OC; i++) b[i] = uniform(-1.0f, 1.0f);
  for (int i = 0; i < M * OC; i++) init[i] = uniform(-3.0f, 3.0f);
  for (int i = 0; i < C; i++) g[i] = uniform(0.5f, 3.0f), gb[i] = uniform(-1.0f, 1.0f);
  A[0] = 40.0f; /* an outlier column, as LayerNorm outputs have */
  run(&bertd_kernel_int8_amx_emulated, A, W, b, M, C, OC, epi, init, amx, smooth ? g : NULL,
      smooth ? gb : NULL);
  if (epi == EPI_GELU_KERNEL) {
    /* GELU in the epilogue is gelu.c's over the finished rows, bit for bit, whatever this CPU
     * runs besides */
    run(&bertd_kernel_int8_amx_emulated, A, W, b, M, C, OC, EPI_GELU_AFTER, init, other,
        smooth ? g : NULL, smooth ? gb : NULL);
    for (int i = 0; i < M * OC; i++)
      cr_assert(!memcmp(&amx[i], &other[i], sizeof(float)),
                "M %d OC %d C %d smooth %d [%d][%d]: GELU in the epilogue %.9g, over the rows %.9g",
                M, OC, C, smooth, i / OC, i % OC, amx[i], other[i]);
  }
  /* the VNNI and AVX2 kernels, and gemm_amx.c's vector epilogue and quantiser on the same
   * emulated tiles */
  const bertd_lowp_kernel *ks[3] = {&bertd_kernel_int8_avx512vnni, &bertd_kernel_int8_avx2,
                                    &bertd_kernel_int8_amx_emulated_avx512};
  for (int ki = 0; ki < 3; ki++) {
    if (!runnable(ks[ki])) continue;
    run(ks[ki], A, W, b, M, C, OC, epi, init, other, smooth ? g : NULL, smooth ? gb : NULL);
    for (int i = 0; i < M * OC; i++)
      cr_assert(!memcmp(&amx[i], &other[i], sizeof(float)),
                "M %d OC %d C %d epi %d smooth %d [%d][%d]: amx %.9g %s %.9g", M, OC, C, epi,
                smooth, i / OC, i % OC, amx[i], ks[ki]->name, other[i]);
    compared++;
  }
  free(A), free(W), free(b), free(init), free(g), free(gb), free(amx), free(other);
  return compared;
}

Test(amx_emulated, bf16_matches_avx512_bf16_within_the_summation_bound) {
  for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
    for (size_t oi = 0; oi < sizeof OCs / sizeof *OCs; oi++)
      for (size_t ci = 0; ci < sizeof Cs / sizeof *Cs; ci++)
        for (int epi = 0; epi < EPIS; epi++) bf16_case(Ms[mi], OCs[oi], Cs[ci], epi);
}

Test(amx_emulated, int8_equals_vnni_and_avx2_bit_for_bit) {
  int compared = 0;
  for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
    for (size_t oi = 0; oi < sizeof OCs / sizeof *OCs; oi++)
      for (size_t ci = 0; ci < sizeof Cs / sizeof *Cs; ci++)
        for (int epi = 0; epi < EPIS; epi++)
          for (int smooth = 0; smooth < 2; smooth++)
            compared += int8_case(Ms[mi], OCs[oi], Cs[ci], epi, smooth);
  if (!compared) cr_skip_test("no AVX int8 kernel runs on this CPU to compare with");
}

/* Rows past one chunk of A (gemm_amx.inc: CHUNK_BYTES / (Kp * esize) rows, rounded down to 32:
 * 160 rows for bf16 and 320 for int8 at K = 3072, BERT's largest), the last chunk ending in a
 * 16-row tile and a partial one; with the residual, and with GELU in the epilogue */
Test(amx_emulated, rows_past_one_chunk) {
  bf16_case(183, 24, 3072, EPI_RESIDUAL);
  bf16_case(183, 24, 3072, EPI_GELU_KERNEL);
  const int compared = int8_case(343, 20, 3072, EPI_RESIDUAL, 0) +
                       int8_case(343, 20, 3072, EPI_GELU_KERNEL, 0);
  if (!compared) cr_skip_test("no AVX int8 kernel runs on this CPU to compare with");
}

/* The tile layer's emulation itself, on hand-worked values: the even/odd split and the order of
 * tdpbf16ps's roundings, denormals treated as zero, tdpbusd's unsigned x signed bytes, and a
 * shape mismatch poisoning the destination as the CPU's #UD would stop it. */
#define BERTD_AMX_EMULATED
#include "amx_tile.h"

static uint16_t bf(float x) { return bertd_bf16_from_float(x); }

Test(amx_emulated, tile_layer_semantics) {
  static const bertd_amx_config cfg __attribute__((aligned(64))) = {
      .palette = 1, .colsb = {4, 4, 4, 8, 4}, .rows = {1, 1, 1, 1, 2}};
  AMX_STATE(st);
  amx_config(st, &cfg);
  /* DAZ: a = (1, the smallest subnormal bf16 0x0001 = 2^-133), b = (3, 2^127): the odd
   * product would be 2^-6 (c = 3.015625); treated as zero it is 0 and c = 3 */
  uint16_t a[2] = {bf(1.0f), 0x0001}, b[2] = {bf(3.0f), bf(0x1p127f)};
  amx_load(st, 1, a, 4);
  amx_load(st, 2, b, 4);
  amx_zero(st, 0);
  amx_dpbf16ps(st, 0, 1, 2);
  float c;
  amx_store(st, 0, &c, 4);
  cr_assert_eq(c, 3.0f, "%.9g", c);
  /* order: c = 1, a = (2^24, 1), b = (1, 1). tdpbf16ps: even temp 2^24, odd temp 1, pair sum
   * 2^24 + 1 -> 2^24 (tie to even), c = 1 + 2^24 -> 2^24. vdpbf16ps's order (the odd product
   * into c first: 2, then the even: 2^24 + 2, exact) gives 2^24 + 2. */
  uint16_t a2[2] = {bf(16777216.0f), bf(1.0f)}, b2[2] = {bf(1.0f), bf(1.0f)};
  const float one = 1.0f;
  amx_load(st, 0, &one, 4);
  amx_load(st, 1, a2, 4);
  amx_load(st, 2, b2, 4);
  amx_dpbf16ps(st, 0, 1, 2);
  amx_store(st, 0, &c, 4);
  cr_assert_eq(c, 16777216.0f, "%.1f", c);
  /* tdpbusd: c (1x2 int32) += a (1 quad, unsigned) . b (1 quad x 2 columns, signed) */
  const uint8_t qa[4] = {255, 1, 2, 128};
  const int8_t qb[8] = {-128, 1, 2, 3, 127, -1, -2, -3};
  amx_load(st, 1, qa, 4);
  amx_load(st, 3, qb, 8);
  const int32_t c0[2] = {10, 20};
  int32_t cq[2];
  /* tile 3 is 1 x 8 bytes (2 columns), tile 0 is 1 x 4: a shape mismatch first */
  amx_load(st, 0, c0, 4);
  amx_dpbusd(st, 0, 1, 3);
  amx_store(st, 0, cq, 4);
  cr_assert_eq(cq[0], -1, "mismatched shapes poison the destination");
  /* tile 3 as the destination needs a 1 x 8 c and a 2-row b: reconfigure */
  static const bertd_amx_config cfg2 __attribute__((aligned(64))) = {
      .palette = 1, .colsb = {8, 4, 8}, .rows = {1, 1, 1}};
  amx_config(st, &cfg2);
  amx_load(st, 0, c0, 8);
  amx_load(st, 1, qa, 4);
  amx_load(st, 2, qb, 8);
  amx_dpbusd(st, 0, 1, 2);
  amx_store(st, 0, cq, 8);
  cr_assert_eq(cq[0], 10 + 255 * -128 + 1 * 1 + 2 * 2 + 128 * 3);
  cr_assert_eq(cq[1], 20 + 255 * 127 + 1 * -1 + 2 * -2 + 128 * -3);
  /* a bad config (17 rows) poisons every tile */
  static const bertd_amx_config bad __attribute__((aligned(64))) = {
      .palette = 1, .colsb = {4}, .rows = {17}};
  amx_config(st, &bad);
  amx_store(st, 0, &c, 0); /* stride 0: the 0xff rows all land on c */
  cr_assert(isnan(c));
  amx_release(st);
}

/* The encoder of a random BERT (H 48, I 100: k padded, channels not a multiple of 16, q/k/v
 * written side by side with a row stride of 3H) on two threads, int8 on emulated AMX against
 * the VNNI (or AVX2) kernel: the same hidden states bit for bit; bf16 against AVX512-BF16: max
 * |difference| below 1e-4 (hidden states of unit scale after LayerNorm; each product's
 * difference is below 2 (K + 2) u S ~ 1e-6, and two layers amplify it far less than 100x). */
static void encoder_run(const bertd_lowp_kernel *k, float *x_out, int threads) {
  bertd_checkpoint_config cfg = {.vocab_size = 50, .hidden_size = 48, .num_hidden_layers = 2,
                                 .num_attention_heads = 4, .intermediate_size = 100,
                                 .hidden_act = BERTD_ACT_GELU, .max_position_embeddings = 64,
                                 .type_vocab_size = 2, .layer_norm_eps = 1e-12f,
                                 .arch = BERTD_ARCH_BASE};
  bertd_weights w;
  char err[256];
  cr_assert_eq(bertd_weights_alloc(&cfg, &w, err, sizeof err), 0, "%s", err);
  uint64_t s = 99;
  for (size_t i = 0; i < w.num_floats; i++) {
    s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
    w.memory[i] = (float)((s * 0x2545F4914F6CDD1DULL) >> 40) / 16777216.0f * 0.4f - 0.2f;
  }
  enum { B = 3 };
  const int lens[B] = {7, 19, 12};
  int32_t ids[38], types[38];
  for (int n = 0; n < 38; n++) ids[n] = (n * 7 + 3) % cfg.vocab_size, types[n] = n % 3 == 0;
  bertd_lowp_model *lp;
  cr_assert_eq(bertd_lowp_model_create(&cfg, &w, k, &lp, err, sizeof err), 0, "%s", err);
  bertd_acts a = {0};
  cr_assert_eq(bertd_encoder_forward_threads(&cfg, &w, NULL, lp, &a, B, lens, ids, types, threads,
                                             err, sizeof err), 0, "%s", err);
  memcpy(x_out, a.x, sizeof(float) * 38 * 48);
  bertd_acts_free(&a);
  bertd_lowp_model_free(lp);
  bertd_weights_free(&w);
}

Test(amx_emulated, encoder_int8_equals_avx_int8_and_bf16_is_close) {
  static float amx[38 * 48], other[38 * 48];
  const bertd_lowp_kernel *i8 = runnable(&bertd_kernel_int8_avx512vnni) ? &bertd_kernel_int8_avx512vnni
                                : runnable(&bertd_kernel_int8_avx2)     ? &bertd_kernel_int8_avx2
                                                                        : NULL;
  if (i8) {
    for (int threads = 1; threads <= 2; threads++) {
      encoder_run(&bertd_kernel_int8_amx_emulated, amx, threads);
      encoder_run(i8, other, threads);
      for (int i = 0; i < 38 * 48; i++)
        cr_assert(!memcmp(&amx[i], &other[i], sizeof(float)), "threads %d x[%d]: %.9g vs %s %.9g",
                  threads, i, amx[i], i8->name, other[i]);
    }
  }
  if (!runnable(&bertd_kernel_bf16_avx512)) {
    if (!i8) cr_skip_test("no AVX int8 or bf16 kernel runs on this CPU to compare with");
    return;
  }
  encoder_run(&bertd_kernel_bf16_amx_emulated, amx, 2);
  encoder_run(&bertd_kernel_bf16_avx512, other, 2);
  double worst = 0.0;
  for (int i = 0; i < 38 * 48; i++) worst = fmax(worst, fabs((double)amx[i] - other[i]));
  cr_assert(worst < 1e-4, "bf16 encoder: max |amx - avx512-bf16| %g", worst);
}

/* What a CPU offers, with AMX forced on as if cpuid and XCR0 said yes. */
static bertd_cpu_features with_amx(void) {
  unsetenv("BERTD_CPU_DISABLE");
  bertd_cpu_features f;
  bertd_cpu_features_detect(&f);
  f.amx_tile = f.amx_bf16 = f.amx_int8 = 1;
  return f;
}

/* cpuid (forced) says AMX, but this CPU has none, so Linux refuses the tile permission: the
 * choice must fall back to the AVX-512 kernels and say why in one stderr line. */
Test(amx_select, refused_when_the_tile_permission_is_refused, .init = cr_redirect_stderr) {
  bertd_cpu_features real;
  unsetenv("BERTD_CPU_DISABLE");
  bertd_cpu_features_detect(&real);
  char err[256];
  if (!bertd_cpu_amx_request(err, sizeof err))
    cr_skip_test("this CPU has AMX and Linux grants it: test_amx_hw covers it");
  bertd_cpu_features f = with_amx();
  if (!(f.avx512f && f.avx512bw && f.avx512vl))
    cr_skip_test("AMX is only offered beside AVX-512 F/BW/VL, which this CPU lacks");
  const bertd_lowp_kernel *k = NULL;
  int rc = bertd_lowp_kernel_select(BERTD_PRECISION_BF16, &f, &k, err, sizeof err);
  if (f.avx512_bf16) {
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(k, &bertd_kernel_bf16_avx512, "%s", k ? k->name : "none");
  } else {
    cr_assert_eq(rc, -1);
  }
  /* without AVX512-BF16 as well: the one-line refusal names both */
  bertd_cpu_features g = f;
  g.avx512_bf16 = 0;
  cr_assert_eq(bertd_lowp_kernel_select(BERTD_PRECISION_BF16, &g, &k, err, sizeof err), -1);
  cr_assert_null(k);
  cr_assert(strstr(err, "precision bf16: AMX-BF16 cannot be used (AMX: ") == err, "%s", err);
  cr_assert(strstr(err, ") and this CPU has no AVX512-BF16; use fp32 or int8") && !strchr(err, '\n'),
            "%s", err);
  rc = bertd_lowp_kernel_select(BERTD_PRECISION_INT8, &f, &k, err, sizeof err);
  cr_assert_eq(rc, 0, "%s", err);
  cr_assert_eq(k, f.avx512_vnni ? &bertd_kernel_int8_avx512vnni : &bertd_kernel_int8_avx2,
               "%s", k->name);
  fflush(stderr);
  FILE *e = cr_get_redirected_stderr();
  char line[512] = "";
  cr_assert(fgets(line, sizeof line, e), "no stderr line");
  cr_assert(strstr(line, "bertd: AMX: the kernel refused the tile data permission") == line, "%s", line);
  cr_assert(strstr(line, "; precision ") != NULL, "%s", line);
}

/* BERTD_CPU_DISABLE=amx_tile (here applied to the forced features) keeps every precision off
 * AMX without even asking Linux; amx_bf16 alone leaves int8 offered. */
Test(amx_select, disable_switch_turns_amx_off) {
  bertd_cpu_features f = with_amx();
  bertd_cpu_features_disable(&f, "amx_tile");
  cr_assert(!f.amx_tile && !f.amx_bf16 && !f.amx_int8);
  char err[256];
  const bertd_lowp_kernel *k = NULL;
  if (!bertd_lowp_kernel_select(BERTD_PRECISION_BF16, &f, &k, err, sizeof err))
    cr_assert(!strstr(k->name, "amx"), "%s", k->name);
  if (!bertd_lowp_kernel_select(BERTD_PRECISION_INT8, &f, &k, err, sizeof err))
    cr_assert(!strstr(k->name, "amx"), "%s", k->name);
  f = with_amx();
  bertd_cpu_features_disable(&f, "avx2,amx_bf16");
  cr_assert(f.amx_tile && !f.amx_bf16 && f.amx_int8 && !f.avx2);
  /* what builds on a feature goes with it: no AVX-512 without AVX2, no extension without F */
  cr_assert(!f.avx512f && !f.avx512bw && !f.avx512vl && !f.avx512_vnni && !f.avx512_bf16);
  f = (bertd_cpu_features){.avx2 = 1, .fma = 1, .avx_vnni = 1, .avx512f = 1, .avx512bw = 1,
                           .avx512vl = 1, .avx512_vnni = 1, .avx512_bf16 = 1};
  bertd_cpu_features_disable(&f, "avx512f");
  cr_assert(f.avx2 && f.fma && !f.avx512f && !f.avx512bw && !f.avx512vl && !f.avx512_vnni &&
            !f.avx512_bf16);
  /* and through the environment, as users set it */
  setenv("BERTD_CPU_DISABLE", "amx_tile", 1);
  bertd_cpu_features_detect(&f);
  cr_assert(!f.amx_tile && !f.amx_bf16 && !f.amx_int8);
  unsetenv("BERTD_CPU_DISABLE");
}
