/* bench_encoder.c: encoder throughput of bertd.
 *
 *   bench_encoder [--model DIR | --bert-base] [--batches 1,8,32] [--lengths 16,64,128]
 *                 [--seconds S] [--json]
 *
 * For each batch size B and sequence length T it runs the encoder on B random sequences of
 * exactly T tokens for at least S seconds (after one warm-up pass) and prints sentences/s and
 * GFLOP/s. --bert-base builds a BERT-Base-shaped (12/768/12/3072) model with random weights.
 * Threads: OPENBLAS_NUM_THREADS (else the cores), used as a session uses them: a batch of
 * several sequences is split across that many threads (bertd_encoder_forward_threads), a
 * single sequence runs on OpenBLAS's threads.
 * bench/run_peers.py runs ONNX Runtime and PyTorch on the same shapes and prints ratios. */
#include <cblas.h>
#undef I /* cblas.h brings complex.h's I; here I is the intermediate size */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bertd.h"
#include "encoder.h"
#include "weights.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static unsigned long long rng = 0x9E3779B97F4A7C15ULL;
static float frand(void) { /* xorshift; uniform in [-0.05, 0.05) */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return ((float)(rng >> 40) / (float)(1ULL << 24) - 0.5f) * 0.1f;
}

/* FLOPs of one forward of B sequences of T tokens (multiply-add = 2). */
static double encoder_flops(const bertd_config *c, int B, int T) {
  double N = (double)B * T, H = c->hidden_size, I = c->intermediate_size;
  double per_layer = 2 * N * H * H * 4     /* q, k, v, attention output */
                     + 2 * N * H * I * 2   /* feed-forward in and out */
                     + 2.0 * B * T * T * H * 2; /* q k^T and p v over all heads */
  return per_layer * c->num_hidden_layers;
}

static int parse_list(const char *s, int *out, int cap) {
  int n = 0;
  while (*s && n < cap) {
    out[n++] = (int)strtol(s, (char **)&s, 10);
    if (*s == ',') s++;
  }
  return n;
}

int main(int argc, char **argv) {
  const char *model_dir = NULL;
  int bert_base = 0, json = 0;
  double seconds = 2.0;
  int batches[8] = {1, 8, 32}, nb = 3, lengths[8] = {16, 64, 128}, nl = 3;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--model") && i + 1 < argc) model_dir = argv[++i];
    else if (!strcmp(argv[i], "--bert-base")) bert_base = 1;
    else if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
    else if (!strcmp(argv[i], "--batches") && i + 1 < argc) nb = parse_list(argv[++i], batches, 8);
    else if (!strcmp(argv[i], "--lengths") && i + 1 < argc) nl = parse_list(argv[++i], lengths, 8);
    else {
      fprintf(stderr, "usage: bench_encoder [--model DIR | --bert-base] [--batches 1,8,32] "
                      "[--lengths 16,64,128] [--seconds S] [--json]\n");
      return 2;
    }
  }
  char err[512];
  bertd_model *m = NULL;
  bertd_config base_cfg = {0};
  bertd_weights base_w = {0};
  const bertd_config *cfg;
  const bertd_weights *w;
  const char *name;
  if (bert_base) {
    base_cfg = (bertd_config){.vocab_size = 30522, .hidden_size = 768, .num_hidden_layers = 12,
                              .num_attention_heads = 12, .intermediate_size = 3072,
                              .hidden_act = BERTD_ACT_GELU, .max_position_embeddings = 512,
                              .type_vocab_size = 2, .layer_norm_eps = 1e-12f,
                              .arch = BERTD_ARCH_BASE};
    if (bertd_weights_alloc(&base_cfg, &base_w, err, sizeof err)) {
      fprintf(stderr, "bench_encoder: %s\n", err);
      return 1;
    }
    for (size_t i = 0; i < base_w.num_floats; i++) base_w.memory[i] = frand();
    cfg = &base_cfg;
    w = &base_w;
    name = "bert-base-random";
  } else {
    if (!model_dir) model_dir = getenv("BERTD_MODEL_DIR");
    if (!model_dir) {
      fprintf(stderr, "bench_encoder: --model DIR or --bert-base\n");
      return 2;
    }
    if (bertd_model_load(model_dir, &m, err, sizeof err)) {
      fprintf(stderr, "bench_encoder: %s\n", err);
      return 1;
    }
    cfg = bertd_model_config(m);
    w = bertd_model_weights(m);
    name = bertd_model_name(m);
  }
  bertd_acts a = {0};
  const int threads = openblas_get_num_threads();
  if (!json) printf("%-18s %5s %5s %12s %9s\n", "model", "batch", "len", "sentences/s", "GFLOP/s");
  for (int bi = 0; bi < nb; bi++) {
    for (int li = 0; li < nl; li++) {
      const int B = batches[bi], T = lengths[li];
      int *lens = malloc(sizeof(int) * (size_t)B);
      int32_t *ids = malloc(sizeof(int32_t) * (size_t)B * T);
      int32_t *types = calloc((size_t)B * T, sizeof(int32_t));
      for (int b = 0; b < B; b++) lens[b] = T;
      for (int i = 0; i < B * T; i++) ids[i] = 1000 + (int32_t)((unsigned)(i * 7919) % 20000u);
      if (bertd_encoder_forward_threads(cfg, w, &a, B, lens, ids, types, threads, err,
                                        sizeof err)) {
        fprintf(stderr, "bench_encoder: %s\n", err);
        return 1;
      }
      int iters = 0;
      double t0 = now(), t;
      do {
        bertd_encoder_forward_threads(cfg, w, &a, B, lens, ids, types, threads, err, sizeof err);
        iters++;
        t = now() - t0;
      } while (t < seconds);
      double sps = (double)iters * B / t, gflops = encoder_flops(cfg, B, T) * iters / t / 1e9;
      if (json)
        printf("{\"engine\":\"bertd\",\"model\":\"%s\",\"batch\":%d,\"length\":%d,"
               "\"sentences_per_s\":%.3f,\"gflops\":%.3f}\n", name, B, T, sps, gflops);
      else
        printf("%-18s %5d %5d %12.1f %9.2f\n", name, B, T, sps, gflops);
      fflush(stdout);
      free(lens);
      free(ids);
      free(types);
    }
  }
  bertd_acts_free(&a);
  bertd_model_free(m);
  if (bert_base) bertd_weights_free(&base_w);
  return 0;
}
