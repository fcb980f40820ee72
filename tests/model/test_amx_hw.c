/* test_amx_hw.c: the AMX kernels on the real tile instructions (gemm_amx.c), on CPUs with
 * AMX-TILE, AMX-BF16 and AMX-INT8 whose kernel grants the tile permission; main() exits 77
 * (skipped) with the reason anywhere else. Against the same code on the emulation
 * (gemm_amx_emulated.c, which test_amx_kernels.c checks against the AVX-512 kernels
 * everywhere): int8 bit for bit (exact int32 sums, the same epilogue); bf16 bit for bit too if
 * the CPU follows the SDM's order of roundings, which the emulation implements, and asserted
 * within the summation bound of test_amx_kernels.c (2 (K + 2) u S) with the count of differing
 * outputs logged. Each with bias, with the residual, and with GELU in the epilogue (args.gelu):
 * the latter also equal, bit for bit, to gelu.c's GELU over the rows of the same kernel's
 * product (the instructions' build has its own, AVX-512, epilogue: a GELU missing or applied
 * twice fails here). And the choice: with nothing disabled, bf16 and int8 run on AMX and the
 * model says so in its kernel name. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bertd.h"
#include "cpu_features.h"
#include "layers.h"
#include "lowp.h"

static uint64_t rng = 7;
static float uniform(float lo, float hi) {
  rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
  return lo + (hi - lo) * (float)((rng >> 40) & 0xffffff) / 16777216.0f;
}

/* epi: 0 bias, 1 bias + residual (out += ...), 2 bias + GELU in the kernel's epilogue
 * (args.gelu, as the encoder's feed-forward calls it) */
enum { EPI_BIAS, EPI_RESIDUAL, EPI_GELU, EPIS };
static void run(const bertd_lowp_kernel *k, const float *A, const float *W, const float *b,
                int M, int C, int OC, int epi, float *out) {
  char err[256];
  bertd_lowp_linear l;
  cr_assert_eq(bertd_lowp_linear_init(&l, k, W, b, C, OC, NULL, NULL, err, sizeof err), 0, "%s", err);
  void *scratch = aligned_alloc(64, (bertd_lowp_scratch_bytes(M, C) + 63) / 64 * 64);
  cr_assert(scratch);
  for (int i = 0; i < M * OC; i++) out[i] = (float)(i % 5) - 2.0f;
  bertd_lowp_gemm_args g;
  bertd_lowp_prepare(&l, &g, out, OC, A, M, epi == EPI_RESIDUAL, scratch);
  cr_assert(epi != EPI_GELU || k->gelu, "%s has no GELU epilogue", k->name);
  g.gelu = epi == EPI_GELU;
  k->gemm(&g, 0, bertd_lowp_panels(&l));
  free(scratch);
  bertd_lowp_linear_free(&l);
}

/* Criterion runs each test in a process of its own that does not pass through main(), and
 * Linux's tile data permission is per process: without this, each test's first tile
 * instruction is a SIGILL (the permission is otherwise only asked for by the model's kernel
 * choice, which chosen_and_named goes through) */
static void tile_permission(void) {
  char why[256];
  cr_assert_eq(bertd_cpu_amx_request(why, sizeof why), 0, "%s", why);
}
TestSuite(amx_hw, .init = tile_permission);

Test(amx_hw, selfcheck_passes_on_the_instructions) {
  char err[256];
  cr_assert_eq(bertd_lowp_kernel_selfcheck(&bertd_kernel_bf16_amx, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_lowp_kernel_selfcheck(&bertd_kernel_int8_amx, err, sizeof err), 0, "%s", err);
}

Test(amx_hw, instructions_match_the_emulation) {
  static const int Ms[] = {1, 5, 16, 33, 100}, OCs[] = {16, 40, 70, 768}, Cs[] = {32, 38, 100, 768};
  for (size_t mi = 0; mi < 5; mi++)
    for (size_t oi = 0; oi < 4; oi++)
      for (size_t ci = 0; ci < 4; ci++) {
        const int M = Ms[mi], OC = OCs[oi], C = Cs[ci];
        if ((double)M * OC * C > 3e6) continue; /* the emulation is slow */
        float *A = malloc(sizeof(float) * M * C), *W = malloc(sizeof(float) * OC * C);
        float *b = malloc(sizeof(float) * OC), *hw = malloc(sizeof(float) * M * OC);
        float *emu = malloc(sizeof(float) * M * OC);
        /* pre: the bias-only product (epi 0), the input of epi 2's GELU */
        float *hw_pre = malloc(sizeof(float) * M * OC), *emu_pre = malloc(sizeof(float) * M * OC);
        cr_assert(A && W && b && hw && emu && hw_pre && emu_pre);
        for (int i = 0; i < M * C; i++) A[i] = uniform(-2.0f, 2.0f);
        for (int i = 0; i < OC * C; i++) W[i] = uniform(-0.2f, 0.2f);
        for (int i = 0; i < OC; i++) b[i] = uniform(-1.0f, 1.0f);
        for (int pass = 0; pass < 2; pass++) {
          const int int8 = pass == 0;
          const bertd_lowp_kernel *k = int8 ? &bertd_kernel_int8_amx : &bertd_kernel_bf16_amx;
          const bertd_lowp_kernel *ke =
              int8 ? &bertd_kernel_int8_amx_emulated : &bertd_kernel_bf16_amx_emulated;
          for (int epi = 0; epi < EPIS; epi++) {
            run(k, A, W, b, M, C, OC, epi, hw);
            run(ke, A, W, b, M, C, OC, epi, emu);
            if (epi == EPI_BIAS) {
              memcpy(hw_pre, hw, sizeof(float) * M * OC);
              memcpy(emu_pre, emu, sizeof(float) * M * OC);
            }
            if (epi == EPI_GELU) {
              /* the epilogue's GELU is gelu.c's over the rows of the same product */
              for (int n = 0; n < M; n++)
                bertd_activation_forward(hw_pre + (size_t)n * OC, (size_t)OC, BERTD_ACT_GELU);
              for (int i = 0; i < M * OC; i++)
                cr_assert(!memcmp(&hw[i], &hw_pre[i], sizeof(float)),
                          "%s M %d OC %d C %d [%d]: GELU in the epilogue %.9g, gelu.c over the rows %.9g",
                          k->name, M, OC, C, i, hw[i], hw_pre[i]);
            }
            if (int8) {
              for (int i = 0; i < M * OC; i++)
                cr_assert(!memcmp(&hw[i], &emu[i], sizeof(float)),
                          "int8 epi %d M %d OC %d C %d [%d]: %.9g vs %.9g", epi, M, OC, C, i,
                          hw[i], emu[i]);
              continue;
            }
            int differ = 0;
            for (int n = 0; n < M; n++)
              for (int o = 0; o < OC; o++) {
                double S = fabs(b[o]) + (epi == EPI_RESIDUAL ? 2.0 : 0.0);
                for (int c = 0; c < C; c++) S += fabs((double)A[n * C + c] * W[o * C + c]) * 1.01;
                double bound = 2.02 * (C + 2) * 0x1p-24 * S;
                /* through GELU: |GELU'| <= 1.13, and gelu.c's own error below 1e-6 (1 + |x|)
                 * at each of the two inputs (test_amx_kernels.c) */
                if (epi == EPI_GELU)
                  bound = 1.13 * bound + 2e-6 * (1.0 + fabs(emu_pre[n * OC + o]) + bound);
                const float h = hw[n * OC + o], e = emu[n * OC + o];
                differ += h != e;
                cr_assert(fabs(h - e) <= bound,
                          "bf16 epi %d M %d OC %d C %d [%d][%d]: %.9g vs emulated %.9g", epi, M,
                          OC, C, n, o, h, e);
              }
            if (differ)
              cr_log_info("bf16 epi %d M %d OC %d C %d: %d of %d outputs differ from the emulation "
                          "(within the bound)", epi, M, OC, C, differ, M * OC);
          }
        }
        free(hw_pre), free(emu_pre);
        free(A), free(W), free(b), free(hw), free(emu);
      }
}

Test(amx_hw, chosen_and_named) {
  unsetenv("BERTD_CPU_DISABLE");
  char err[512];
  bertd_model *m;
  cr_assert_eq(bertd_model_random(1, 64, 2, 128, 1, &m, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_model_set_precision(m, BERTD_PRECISION_BF16, err, sizeof err), 0, "%s", err);
  cr_assert_str_eq(bertd_model_kernel(m), "bf16 amx");
  bertd_model_free(m);
  cr_assert_eq(bertd_model_random(1, 64, 2, 128, 1, &m, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_model_set_precision(m, BERTD_PRECISION_INT8, err, sizeof err), 0, "%s", err);
  cr_assert_str_eq(bertd_model_kernel(m), "int8 amx");
  bertd_model_free(m);
  /* and BERTD_CPU_DISABLE=amx_tile takes it off AMX */
  setenv("BERTD_CPU_DISABLE", "amx_tile", 1);
  cr_assert_eq(bertd_model_random(1, 64, 2, 128, 1, &m, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_model_set_precision(m, BERTD_PRECISION_BF16, err, sizeof err), 0, "%s", err);
  cr_assert_str_eq(bertd_model_kernel(m), "bf16 avx512-bf16");
  bertd_model_free(m);
  unsetenv("BERTD_CPU_DISABLE");
}

int main(int argc, char **argv) {
  unsetenv("BERTD_CPU_DISABLE");
  bertd_cpu_features f;
  bertd_cpu_features_detect(&f);
  if (!(f.amx_tile && f.amx_bf16 && f.amx_int8 && f.avx512f && f.avx512bw && f.avx512vl)) {
    printf("skipped: this CPU (or its operating system) has no AMX-TILE, AMX-BF16, AMX-INT8 "
           "with AVX-512: the AMX kernels are tested on their emulation only "
           "(test_amx_kernels)\n");
    return 77;
  }
  char why[256];
  if (bertd_cpu_amx_request(why, sizeof why)) {
    printf("skipped: %s\n", why);
    return 77;
  }
  struct criterion_test_set *tests = criterion_initialize();
  int result = 0;
  if (criterion_handle_args(argc, argv, true)) result = !criterion_run_all_tests(tests);
  criterion_finalize(tests);
  return result;
}
