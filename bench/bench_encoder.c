/* bench_encoder.c: encoder throughput of bertd.
 *
 *   bench_encoder [--model DIR | --bert-base] [--batches 1,8,32] [--lengths 16,64,128]
 *                 [--seconds S] [--json] [--precision fp32|bf16|int8]
 *
 * For each batch size B and sequence length T it runs the encoder on B random sequences of
 * exactly T tokens for at least S seconds (after one warm-up pass) and prints sentences/s and
 * GFLOP/s. --precision runs the encoder's linear layers in bf16 or int8 on the kernel cpuid picks
 * (named in every row); a CPU without the instructions gets one line and exit 2. --bert-base builds a BERT-Base-shaped (12/768/12/3072) model with random weights.
 * Threads: OPENBLAS_NUM_THREADS (else the cores), used as a session uses them: a batch of
 * several sequences is split across that many threads (bertd_session_forward_ids), a
 * single sequence runs on OpenBLAS's threads.
 * bench/run_peers.py runs ONNX Runtime and PyTorch on the same shapes and prints ratios. */
#include <cblas.h>
#undef I /* cblas.h brings complex.h's I; here I is the intermediate size */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bertd.h"

/* The process's resident memory now (not its peak), MiB: after load, what a model holds. */
static double rss_mib(void) {
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return 0.0;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  fclose(f);
  return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* FLOPs of one forward of B sequences of T tokens (multiply-add = 2). */
static double encoder_flops(const bertd_checkpoint_config *c, int B, int T) {
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
  bertd_precision precision = BERTD_PRECISION_FP32;
  double seconds = 2.0;
  int batches[8] = {1, 8, 32}, nb = 3, lengths[8] = {16, 64, 128}, nl = 3;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--model") && i + 1 < argc) model_dir = argv[++i];
    else if (!strcmp(argv[i], "--bert-base")) bert_base = 1;
    else if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--precision") && i + 1 < argc &&
             !bertd_precision_parse(argv[i + 1], &precision)) i++;
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
    else if (!strcmp(argv[i], "--batches") && i + 1 < argc) nb = parse_list(argv[++i], batches, 8);
    else if (!strcmp(argv[i], "--lengths") && i + 1 < argc) nl = parse_list(argv[++i], lengths, 8);
    else {
      fprintf(stderr, "usage: bench_encoder [--model DIR | --bert-base] [--batches 1,8,32] "
                      "[--lengths 16,64,128] [--seconds S] [--json] [--precision fp32|bf16|int8]\n");
      return 2;
    }
  }
  char err[512];
  bertd_model *m = NULL;
  if (bert_base) {
    if (bertd_model_random(12, 768, 12, 3072, 42, &m, err, sizeof err)) {
      fprintf(stderr, "bench_encoder: %s\n", err);
      return 1;
    }
  } else {
    if (!model_dir) model_dir = getenv("BERTD_MODEL_DIR");
    if (!model_dir) {
      fprintf(stderr, "bench_encoder: --model DIR or --bert-base\n");
      return 2;
    }
    if (bertd_precision_check(precision, err, sizeof err)) {
      fprintf(stderr, "bench_encoder: %s\n", err);
      return 2;
    }
    /* a checkpoint in bf16 / int8 holds its encoder once, in that precision */
    if (bertd_model_load_precision(model_dir, precision, &m, err, sizeof err)) {
      fprintf(stderr, "bench_encoder: %s\n", err);
      return 1;
    }
  }
  if (bertd_model_set_precision(m, precision, err, sizeof err)) {
    fprintf(stderr, "bench_encoder: %s\n", err);
    bertd_model_free(m);
    return 2;
  }
  const char *kernel = bertd_model_kernel(m);
  const char *prec = bertd_precision_name(precision);
  const bertd_checkpoint_config *cfg = bertd_model_config(m);
  const char *name = bert_base ? "bert-base-random" : bertd_model_name(m);
  bertd_session *sess = NULL;
  if (bertd_session_create(m, &sess, err, sizeof err)) {
    fprintf(stderr, "bench_encoder: %s\n", err);
    return 1;
  }
  if (!json)
    printf("%-18s %-5s %5s %5s %12s %9s  kernel\n", "model", "prec", "batch", "len",
           "sentences/s", "GFLOP/s");
  for (int bi = 0; bi < nb; bi++) {
    for (int li = 0; li < nl; li++) {
      const int B = batches[bi], T = lengths[li];
      int *lens = malloc(sizeof(int) * (size_t)B);
      int32_t *ids = malloc(sizeof(int32_t) * (size_t)B * T);
      int32_t *types = calloc((size_t)B * T, sizeof(int32_t));
      for (int b = 0; b < B; b++) lens[b] = T;
      for (int i = 0; i < B * T; i++) ids[i] = 1000 + (int32_t)((unsigned)(i * 7919) % 20000u);
      if (bertd_session_forward_ids(sess, B, lens, ids, types, err, sizeof err)) {
        fprintf(stderr, "bench_encoder: %s\n", err);
        return 1;
      }
      int iters = 0;
      double t0 = now(), t;
      do {
        bertd_session_forward_ids(sess, B, lens, ids, types, err, sizeof err);
        iters++;
        t = now() - t0;
      } while (t < seconds);
      double sps = (double)iters * B / t, gflops = encoder_flops(cfg, B, T) * iters / t / 1e9;
      if (json)
        printf("{\"engine\":\"bertd\",\"model\":\"%s\",\"precision\":\"%s\","
               "\"kernel\":\"%s\",\"batch\":%d,\"length\":%d,"
               "\"sentences_per_s\":%.3f,\"gflops\":%.3f,\"rss_mib\":%.1f}\n", name, prec,
               kernel, B, T, sps, gflops, rss_mib());
      else
        printf("%-18s %-5s %5d %5d %12.1f %9.2f  %s\n", name, prec, B, T, sps, gflops, kernel);
      fflush(stdout);
      free(lens);
      free(ids);
      free(types);
    }
  }
  bertd_session_free(sess);
  bertd_model_free(m);
  return 0;
}
