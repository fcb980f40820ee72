/* test_encoder_chunks.c: the packed (inference) encoder runs each slice's layers over row chunks
 * of whole sequences of at most BERTD_ENCODER_CHUNK_TOKENS tokens (encoder.c, slice_run). A
 * batch of more tokens than one chunk (several chunks per slice, unequal lengths, one sequence
 * longer than a chunk, which is a chunk alone) must give exactly (memcmp) the hidden states and
 * pooled outputs of the same sequences forwarded one at a time: every dense layer, LayerNorm and
 * int8 quantisation is per row, attention per sequence, so how rows are grouped into chunks and
 * slices must not change a bit. fp32 on each packed kernel this CPU runs, bf16 and int8 on
 * their best kernels; one to three threads. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_weights.h"
#include "cpu_features.h"
#include "encoder.h"
#include "gemm.h"
#include "lowp.h"

enum { CH = BERTD_ENCODER_CHUNK_TOKENS, B = 9 };
/* 1,396 tokens: sequence 2 (CH + 29) is longer than a chunk; the others pack several to a
 * chunk, one (CH - 6) nearly fills one; 1 and 2 tokens at the edges */
static const int lens[B] = {37, 200, CH + 29, 5, CH - 6, 1, 150, 64, 2};

static bertd_checkpoint_config config(void) {
  return (bertd_checkpoint_config){.vocab_size = 50, .hidden_size = 48, .num_hidden_layers = 2,
                                   .num_attention_heads = 4, .intermediate_size = 100,
                                   .hidden_act = BERTD_ACT_GELU,
                                   .max_position_embeddings = CH + 64, .type_vocab_size = 2,
                                   .layer_norm_eps = 1e-12f, .arch = BERTD_ARCH_BASE};
}

static void randomise(bertd_weights *w) {
  uint64_t x = 7;
  for (size_t i = 0; i < w->num_floats; i++) {
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    w->memory[i] = (float)((x * 0x2545F4914F6CDD1DULL) >> 40) / 16777216.0f * 0.4f - 0.2f;
  }
}

/* Forwards the whole batch on 1..3 threads (the second time reusing the grown buffers) and each
 * sequence alone on one thread (and the longest also split across two threads, the `inner`
 * path), and asserts every row of x and pooled is the same bytes. pe or lp: as
 * bertd_encoder_forward_threads takes them. */
static void check(const bertd_checkpoint_config *cfg, const bertd_weights *w,
                  const bertd_packed_encoder *pe, const bertd_lowp_model *lp, const char *what) {
  const int H = cfg->hidden_size;
  int N = 0;
  for (int b = 0; b < B; b++) N += lens[b];
  cr_assert_gt(N, 2 * CH, "the batch must span several chunks");
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)N), *types = malloc(sizeof(int32_t) * (size_t)N);
  float *want_x = malloc(sizeof(float) * (size_t)N * H), *want_p = malloc(sizeof(float) * B * H);
  cr_assert(ids && types && want_x && want_p);
  for (int n = 0; n < N; n++) {
    ids[n] = (n * 7 + 3) % cfg->vocab_size;
    types[n] = n % 3 == 0;
  }
  char err[256];
  /* one sequence at a time, one thread: one chunk each */
  for (int b = 0, n0 = 0; b < B; n0 += lens[b], b++) {
    bertd_acts one = {0};
    cr_assert_eq(bertd_encoder_forward_threads(cfg, w, pe, lp, &one, 1, &lens[b], ids + n0,
                                               types + n0, 1, err, sizeof err), 0, "%s", err);
    memcpy(want_x + (size_t)n0 * H, one.x, sizeof(float) * (size_t)lens[b] * H);
    memcpy(want_p + (size_t)b * H, one.pooled, sizeof(float) * (size_t)H);
    bertd_acts_free(&one);
  }
  /* the sequence longer than a chunk alone on two threads: its layers split across them */
  {
    bertd_acts one = {0};
    const int n0 = lens[0] + lens[1];
    cr_assert_eq(bertd_encoder_forward_threads(cfg, w, pe, lp, &one, 1, &lens[2], ids + n0,
                                               types + n0, 2, err, sizeof err), 0, "%s", err);
    cr_assert(!memcmp(one.x, want_x + (size_t)n0 * H, sizeof(float) * (size_t)lens[2] * H),
              "%s: the long sequence on two threads differs from one thread", what);
    bertd_acts_free(&one);
  }
  for (int threads = 1; threads <= 3; threads++) {
    bertd_acts a = {0};
    for (int rep = 0; rep < 2; rep++) {
      cr_assert_eq(bertd_encoder_forward_threads(cfg, w, pe, lp, &a, B, lens, ids, types, threads,
                                                 err, sizeof err), 0, "%s", err);
      /* every row a chunk's worth or less: the packed path never holds the batch's rows */
      cr_assert_leq(a.cap_rows, threads * (CH + 29), "%s: %d rows of q/ctx/inter held", what,
                    a.cap_rows);
      cr_assert_null(a.scores, "%s: score blocks reserved on the packed path", what);
      for (int b = 0, n0 = 0; b < B; n0 += lens[b], b++) {
        cr_assert(!memcmp(a.x + (size_t)n0 * H, want_x + (size_t)n0 * H,
                          sizeof(float) * (size_t)lens[b] * H),
                  "%s, %d threads, pass %d: sequence %d (%d tokens) differs from its own forward",
                  what, threads, rep, b, lens[b]);
        cr_assert(!memcmp(a.pooled + (size_t)b * H, want_p + (size_t)b * H, sizeof(float) * H),
                  "%s, %d threads: pooled %d differs", what, threads, b);
      }
    }
    bertd_acts_free(&a);
  }
  free(ids);
  free(types);
  free(want_x);
  free(want_p);
}

static void weights(bertd_checkpoint_config *cfg, bertd_weights *w) {
  *cfg = config();
  char err[256];
  cr_assert_eq(bertd_weights_alloc(cfg, w, err, sizeof err), 0, "%s", err);
  randomise(w);
}

Test(encoder_chunks, fp32_chunks_equal_one_sequence_at_a_time) {
  static const char *const kernels[] = {"generic", "avx2", "avx512"};
  bertd_checkpoint_config cfg;
  bertd_weights w;
  weights(&cfg, &w);
  int ran = 0;
  for (size_t i = 0; i < sizeof kernels / sizeof *kernels; i++) {
    const bertd_gemm_kernel *kern = bertd_gemm_by_name(kernels[i]);
    if (!kern) continue; /* this CPU does not run it */
    char err[256];
    bertd_packed_encoder pe;
    cr_assert_eq(bertd_packed_encoder_build(&pe, kern, &cfg, &w, err, sizeof err), 0, "%s", err);
    check(&cfg, &w, &pe, NULL, kernels[i]);
    bertd_packed_encoder_free(&pe);
    ran++;
  }
  cr_assert_gt(ran, 0, "no fp32 kernel ran");
  bertd_weights_free(&w);
}

static void lowp(bertd_precision p) {
  bertd_cpu_features f;
  bertd_cpu_features_detect(&f);
  const bertd_lowp_kernel *k;
  char err[256];
  if (bertd_lowp_kernel_select(p, &f, &k, err, sizeof err)) cr_skip_test("%s", err);
  bertd_checkpoint_config cfg;
  bertd_weights w;
  weights(&cfg, &w);
  bertd_lowp_model *lp;
  cr_assert_eq(bertd_lowp_model_create(&cfg, &w, k, &lp, err, sizeof err), 0, "%s", err);
  check(&cfg, &w, NULL, lp, k->name);
  bertd_lowp_model_free(lp);
  bertd_weights_free(&w);
}

Test(encoder_chunks, int8_chunks_equal_one_sequence_at_a_time) { lowp(BERTD_PRECISION_INT8); }
Test(encoder_chunks, bf16_chunks_equal_one_sequence_at_a_time) { lowp(BERTD_PRECISION_BF16); }
