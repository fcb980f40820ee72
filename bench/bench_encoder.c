/* bench_encoder.c: encoder throughput of bertd.
 *
 *   bench_encoder [--model DIR | --bert-base] [--batches 1,8,32] [--lengths 16,64,128]
 *                 [--mix L1,L2,...] [--seconds S] [--json] [--precision fp32|bf16|int8]
 *                 [--streams S]
 *   bench_encoder --sgemm N [--seconds S] [--json]
 *   bench_encoder --peak [--seconds S] [--json]
 *
 * For each batch size B and sequence length T it runs the encoder on B random sequences of
 * exactly T tokens for at least S seconds (after one warm-up pass) and prints sentences/s and
 * GFLOP/s; --mix adds one batch of sequences of the given lengths (a real length mix), packed
 * as bertd packs any batch (no padding). --bert-base runs a BERT-Base-shaped
 * (12/768/12/3072) model with random weights, written once as a checkpoint directory
 * (bertd_model_random_save) into $BERTD_MODEL_CACHE, else beside this program, and loaded from
 * there like any checkpoint, so its memory is what a real BERT-base load holds. Threads: OPENBLAS_NUM_THREADS (else the cores),
 * used as a session uses them: a batch of several sequences is split across that many threads,
 * a single sequence splits each layer across them (bertd_session_forward_ids). Each row names
 * the fp32 kernel bertd picked for this CPU (bertd_model_kernel). --precision bf16 | int8 runs
 * the encoder's linear layers in that precision on the kernel cpuid picks (named in each row; a
 * checkpoint is loaded straight into it, bertd_model_load_precision); a CPU without the
 * instructions gets one line and exit 2. JSON rows carry the resident memory after the runs
 * (rss_mib: what the loaded model holds) and the process's own peak so far (own_peak_mib,
 * VmHWM), which a parent's wait4 overstates when the parent is the larger (peak_mib below).
 * --streams S runs S sessions on the one loaded model, each on its own thread with threads / S
 * threads, each running the same batch (a server with S batches in flight, as OpenVINO's
 * THROUGHPUT hint runs its requests): one pass over the weights then serves S batches while
 * they sit in the shared cache. Rows report the sum over the streams.
 * --sgemm N times OpenBLAS's sgemm on N x N x N on the same threads: the machine's reference
 * rate that the encoder's GFLOP/s are compared with.
 * --peak measures on these threads what no engine passes (peak_rates.h): the fp32 multiply-add
 * rate, AVX512-BF16's pair-product rate where the CPU has it, and the memory read rate.
 * bench/results_table.py turns the first two into the most bertd / best peer could be on each
 * fp32 and (without AMX) bf16 shape.
 * bench/run.sh runs ONNX Runtime, OpenVINO and PyTorch on the same shapes and prints ratios. */
#include <cblas.h>
#include <errno.h>
#include <pthread.h>
#undef I /* cblas.h brings complex.h's I; here I is the intermediate size */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bertd.h"
#include "peak_rates.h"

/* The process's resident memory now (not its peak), MiB: after load, what a model holds. */
static double rss_mib(void) {
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return 0.0;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  fclose(f);
  return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

/* The process's own peak resident memory since exec, MiB (VmHWM). A parent's wait4 ru_maxrss
 * is not that: exec keeps the larger of the pre-exec memory's peak (the forking parent's, e.g.
 * bench/peers.py with transformers loaded, 270 MiB) and the new program's. */
static double peak_mib(void) {
  char line[256];
  double kib = 0.0;
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 0.0;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "VmHWM:", 6)) kib = atof(line + 6);
  fclose(f);
  return kib / 1024.0;
}

/* Removes a checkpoint directory bertd_model_random_save wrote (its three files). */
static void remove_checkpoint(const char *dir) {
  static const char *const files[] = {"config.json", "vocab.txt", "model.safetensors",
                                      "model.safetensors.tmp"};
  char path[4400];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    remove(path);
  }
  rmdir(dir);
}

/* The random BERT-Base checkpoint's directory, written on first use: under $BERTD_MODEL_CACHE,
 * else beside this program. Written under a temporary name and renamed, so a concurrent run
 * never reads half a checkpoint. */
static int bert_base_dir(char *dir, size_t size, char *err, size_t errsize) {
  char base[4096] = ".";
  const char *cache = getenv("BERTD_MODEL_CACHE");
  if (cache && *cache) {
    snprintf(base, sizeof base, "%s", cache);
  } else {
    ssize_t n = readlink("/proc/self/exe", base, sizeof base - 1);
    base[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(base, '/');
    if (slash) *slash = '\0';
    else snprintf(base, sizeof base, ".");
  }
  /* the seed and the generator's layout name the directory: another seed is another model */
  char probe[4300], tmp[4300];
  struct stat sb;
  if (snprintf(dir, size, "%s/bert-base-random-s42", base) >= (int)size ||
      snprintf(probe, sizeof probe, "%s/model.safetensors", dir) >= (int)sizeof probe ||
      snprintf(tmp, sizeof tmp, "%s.tmp%ld", dir, (long)getpid()) >= (int)sizeof tmp) {
    snprintf(err, errsize, "model cache path too long");
    return -1;
  }
  if (stat(probe, &sb) == 0) return 0;
  if (mkdir(base, 0755) && errno != EEXIST) {
    snprintf(err, errsize, "model cache: %s", strerror(errno));
    return -1;
  }
  if (bertd_model_random_save(tmp, 12, 768, 12, 3072, 42, err, errsize)) {
    remove_checkpoint(tmp);
    return -1;
  }
  if (rename(tmp, dir)) {
    const int e = errno;
    remove_checkpoint(tmp); /* another run got there first: use its copy */
    if (stat(probe, &sb)) {
      snprintf(err, errsize, "model cache: rename: %s", strerror(e));
      return -1;
    }
  }
  return 0;
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

/* FLOPs of one forward of B sequences of lengths lens. */
static double encoder_flops_lens(const bertd_checkpoint_config *c, int B, const int *lens) {
  double f = 0.0;
  for (int b = 0; b < B; b++) f += encoder_flops(c, 1, lens[b]);
  return f;
}

/* One stream: its own session on the shared model, running the same batch until the clock
 * passes the deadline (THROUGHPUT-style: several batches in flight, one pass over the weights
 * serving them while they sit in the shared cache). */
typedef struct {
  bertd_session *s;
  int B;
  const int *lens;
  const int32_t *ids, *types;
  double deadline;
  long iters;
  int failed;
} stream_arg;

static void *stream_main(void *p) {
  stream_arg *a = p;
  char err[256];
  do {
    if (bertd_session_forward_ids(a->s, a->B, a->lens, a->ids, a->types, err, sizeof err)) {
      a->failed = 1;
      break;
    }
    a->iters++;
  } while (now() < a->deadline);
  return NULL;
}

static int sgemm_rate(int n, double seconds, int json) {
  float *a = malloc(sizeof(float) * (size_t)n * n), *b = malloc(sizeof(float) * (size_t)n * n),
        *c = malloc(sizeof(float) * (size_t)n * n);
  if (!a || !b || !c) {
    fprintf(stderr, "bench_encoder: out of memory for sgemm %d\n", n);
    return 1;
  }
  for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
  int iters = 0;
  double t0 = now(), t;
  do {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    iters++;
    t = now() - t0;
  } while (t < seconds);
  const double gflops = 2.0 * n * n * (double)n * iters / t / 1e9;
  if (json) printf("{\"sgemm_n\":%d,\"sgemm_gflops\":%.3f,\"threads\":%d}\n", n, gflops,
                   openblas_get_num_threads());
  else printf("OpenBLAS sgemm %d^3 on %d threads: %.2f GFLOP/s\n", n, openblas_get_num_threads(), gflops);
  free(a);
  free(b);
  free(c);
  return 0;
}

static int peak_rates(double seconds, int json) {
  bench_peak_rates r;
  char err[256];
  if (bench_peak_measure(openblas_get_num_threads(), seconds, &r, err, sizeof err)) {
    fprintf(stderr, "bench_encoder: %s\n", err);
    return 1;
  }
  if (json)
    printf("{\"fma_gflops\":%.3f,\"fma_isa\":\"%s\",\"bf16_gflops\":%.3f,\"read_gbs\":%.3f,"
           "\"read_mib\":%d,\"threads\":%d}\n", r.fma_gflops, r.fma_isa, r.bf16_gflops,
           r.read_gbs, r.read_mib, r.threads);
  else if (r.bf16_gflops > 0.0)
    printf("fp32 multiply-add peak (%s) on %d threads: %.2f GFLOP/s; bf16 pair products "
           "(avx512-bf16): %.2f GFLOP/s; memory read (%d MiB): %.2f GB/s\n", r.fma_isa,
           r.threads, r.fma_gflops, r.bf16_gflops, r.read_mib, r.read_gbs);
  else
    printf("fp32 multiply-add peak (%s) on %d threads: %.2f GFLOP/s; no avx512-bf16; memory "
           "read (%d MiB): %.2f GB/s\n", r.fma_isa, r.threads, r.fma_gflops, r.read_mib,
           r.read_gbs);
  return 0;
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
  int batches[8] = {1, 8, 32}, nb = 3, lengths[8] = {16, 64, 128}, nl = 3, sgemm = 0, streams = 1;
  enum { MIX_CAP = 1024 };
  static int mix[MIX_CAP];
  int nmix = 0, peak = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--model") && i + 1 < argc) model_dir = argv[++i];
    else if (!strcmp(argv[i], "--bert-base")) bert_base = 1;
    else if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--precision") && i + 1 < argc &&
             !bertd_precision_parse(argv[i + 1], &precision)) i++;
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
    else if (!strcmp(argv[i], "--batches") && i + 1 < argc) nb = parse_list(argv[++i], batches, 8);
    else if (!strcmp(argv[i], "--lengths") && i + 1 < argc) nl = parse_list(argv[++i], lengths, 8);
    else if (!strcmp(argv[i], "--mix") && i + 1 < argc) nmix = parse_list(argv[++i], mix, MIX_CAP);
    else if (!strcmp(argv[i], "--sgemm") && i + 1 < argc) sgemm = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--streams") && i + 1 < argc) streams = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--peak")) peak = 1;
    else {
      fprintf(stderr, "usage: bench_encoder [--model DIR | --bert-base] [--batches 1,8,32] "
                      "[--lengths 16,64,128] [--mix L1,L2,...] [--seconds S] [--json]\n"
                      "       [--precision fp32|bf16|int8] [--streams S]\n"
                      "       bench_encoder --sgemm N [--seconds S] [--json]\n"
                      "       bench_encoder --peak [--seconds S] [--json]\n");
      return 2;
    }
  }
  if (sgemm > 0) return sgemm_rate(sgemm, seconds, json);
  if (peak) return peak_rates(seconds, json);
  for (int i = 0; i < nmix; i++)
    if (mix[i] < 1) {
      fprintf(stderr, "bench_encoder: --mix length %d at %d is below 1\n", mix[i], i);
      return 2;
    }
  char err[512];
  bertd_model *m = NULL;
  if (bertd_precision_check(precision, err, sizeof err)) {
    fprintf(stderr, "bench_encoder: %s\n", err);
    return 2;
  }
  char base_dir[4200];
  if (bert_base) {
    if (bert_base_dir(base_dir, sizeof base_dir, err, sizeof err)) {
      fprintf(stderr, "bench_encoder: %s\n", err);
      return 1;
    }
    model_dir = base_dir;
  }
  if (!model_dir) model_dir = getenv("BERTD_MODEL_DIR");
  if (!model_dir) {
    fprintf(stderr, "bench_encoder: --model DIR or --bert-base\n");
    return 2;
  }
  if (bertd_model_load_precision(model_dir, precision, &m, err, sizeof err)) {
    fprintf(stderr, "bench_encoder: %s\n", err);
    return 1;
  }
  const char *prec = bertd_precision_name(precision);
  const bertd_checkpoint_config *cfg = bertd_model_config(m);
  const char *name = bert_base ? "bert-base-random" : bertd_model_name(m);
  enum { STREAMS_CAP = 16 };
  const int threads = openblas_get_num_threads();
  if (streams < 1 || streams > STREAMS_CAP || streams > threads) {
    fprintf(stderr, "bench_encoder: --streams %d: between 1 and the thread count (%d)\n", streams,
            threads);
    return 2;
  }
  bertd_session *sess = NULL, *ss[STREAMS_CAP] = {0};
  for (int i = 0; i < streams; i++) {
    if (bertd_session_create(m, &ss[i], err, sizeof err)) {
      fprintf(stderr, "bench_encoder: %s\n", err);
      return 1;
    }
    /* the threads shared out: streams x (threads / streams) */
    if (streams > 1) bertd_session_set_threads(ss[i], threads / streams);
  }
  sess = ss[0];
  /* the linear layers' kernel and attention's heads, as bench/peers.py prints them */
  char kernel[160];
  snprintf(kernel, sizeof kernel, "%s (attention %s)", bertd_model_kernel(m),
           bertd_model_attention(m));
  if (!json) printf("%-18s %5s %5s %12s %9s  kernel %s, %d threads\n", "model", "batch", "len",
                    "sentences/s", "GFLOP/s", kernel, threads);
  const int shapes = nb * nl + (nmix > 0);
  for (int si = 0; si < shapes; si++) {
    {
      const int is_mix = si == nb * nl;
      const int B = is_mix ? nmix : batches[si / nl];
      int *lens = malloc(sizeof(int) * (size_t)B);
      int N = 0, T = 0;
      for (int b = 0; b < B; b++) {
        lens[b] = is_mix ? mix[b] : lengths[si % nl];
        N += lens[b];
        T = lens[b] > T ? lens[b] : T;
      }
      int32_t *ids = malloc(sizeof(int32_t) * (size_t)N);
      int32_t *types = calloc((size_t)N, sizeof(int32_t));
      for (int i = 0; i < N; i++) ids[i] = 1000 + (int32_t)((unsigned)(i * 7919) % 20000u);
      for (int k = 0; k < streams; k++)
        if (bertd_session_forward_ids(ss[k], B, lens, ids, types, err, sizeof err)) {
          fprintf(stderr, "bench_encoder: %s\n", err);
          return 1;
        }
      long iters = 0;
      double t0 = now(), t;
      if (streams == 1) {
        do {
          bertd_session_forward_ids(sess, B, lens, ids, types, err, sizeof err);
          iters++;
          t = now() - t0;
        } while (t < seconds);
      } else {
        stream_arg sa[STREAMS_CAP];
        pthread_t th[STREAMS_CAP];
        for (int k = 0; k < streams; k++) {
          sa[k] = (stream_arg){ss[k], B, lens, ids, types, t0 + seconds, 0, 0};
          if (pthread_create(&th[k], NULL, stream_main, &sa[k])) {
            fprintf(stderr, "bench_encoder: cannot start stream %d\n", k);
            return 1;
          }
        }
        for (int k = 0; k < streams; k++) pthread_join(th[k], NULL);
        t = now() - t0;
        for (int k = 0; k < streams; k++) {
          if (sa[k].failed) {
            fprintf(stderr, "bench_encoder: stream %d failed\n", k);
            return 1;
          }
          iters += sa[k].iters;
        }
      }
      double sps = (double)iters * B / t,
             gflops = encoder_flops_lens(cfg, B, lens) * iters / t / 1e9;
      char len_field[32];
      if (is_mix) snprintf(len_field, sizeof len_field, "\"mix\"");
      else snprintf(len_field, sizeof len_field, "%d", T);
      if (json)
        printf("{\"engine\":\"bertd\",\"model\":\"%s\",\"batch\":%d,\"length\":%s,"
               "\"precision\":\"%s\",\"kernel\":\"%s\",\"threads\":%d,"
               "\"sentences_per_s\":%.3f,\"gflops\":%.3f,\"rss_mib\":%.1f,\"own_peak_mib\":%.1f}\n",
               name, B, len_field, prec, kernel, threads, sps, gflops, rss_mib(), peak_mib());
      else
        printf("%-18s %5d %5s %12.1f %9.2f\n", name, B, is_mix ? "mix" : len_field, sps, gflops);
      fflush(stdout);
      free(lens);
      free(ids);
      free(types);
    }
  }
  for (int i = 0; i < streams; i++) bertd_session_free(ss[i]);
  bertd_model_free(m);
  return 0;
}
