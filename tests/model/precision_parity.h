/* precision_parity.h: the parity texts (tests/fixtures/minilm/: the texts and
 * sentence-transformers' fp32 embeddings of all-MiniLM-L6-v2, made by
 * tools/reference/make_minilm_fixtures.py) embedded by bertd in a lower precision, and the
 * cosine of each against the fp32 reference. Shared by parity_precision_bf16.c and
 * parity_precision_int8.c, whose main() exits 77 with the reason on a CPU without the
 * instructions. */
#ifndef BERTD_TEST_PRECISION_PARITY_H
#define BERTD_TEST_PRECISION_PARITY_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd.h"
#include "cpu_features.h"
#include "lowp.h"
#include "minilm_golden.h"

/* 0 when precision p has a kernel on this CPU; else the reason in why */
static int precision_runnable(bertd_precision p, char *why, size_t size) {
  bertd_cpu_features f;
  bertd_cpu_features_detect(&f);
  const bertd_lowp_kernel *k;
  return bertd_lowp_kernel_select(p, &f, &k, why, size);
}

typedef struct precision_cosines {
  int count;
  double min, mean;
  int worst;
  char kernel[64];
} precision_cosines;

/* Every parity text through MiniLM (BERTD_MODEL_DIR) in precision p; cosines against the
 * reference embeddings. */
static precision_cosines precision_parity(bertd_precision p) {
  const char *dir = getenv("BERTD_MODEL_DIR");
  cr_assert(dir && *dir, "BERTD_MODEL_DIR is not set: scripts/test.sh sets it to the directory "
                        "scripts/fetch-model.sh minilm prints");
  char err[512], path[1024];
  bertd_model *m;
  /* as the daemon loads it: packed from fp32 once, the fp32 encoder matrices then released */
  cr_assert_eq(bertd_model_load_precision(dir, p, &m, err, sizeof err), 0, "%s", err);
  precision_cosines r = {.min = 1.0, .worst = -1};
  snprintf(r.kernel, sizeof r.kernel, "%s", bertd_model_kernel(m));
  /* attention in bf16 exactly where the CPU (as BERTD_CPU_DISABLE leaves it) has AVX512-BF16:
   * every sequence in bf16, over 16 tokens in int8 (MiniLM's D = 32 fits the bf16 heads) */
  {
    bertd_cpu_features f;
    bertd_cpu_features_detect(&f);
    const char *att = bertd_model_attention(m);
    if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512_bf16)
      cr_assert_str_eq(att, p == BERTD_PRECISION_BF16 ? "avx512-bf16" : "avx512-bf16 over 16 tokens");
    else
      cr_assert(!strstr(att, "bf16"), "attention %s on a CPU without AVX512-BF16", att);
  }
  const int H = bertd_model_config(m)->hidden_size;
  json_error_t je;
  snprintf(path, sizeof path, "%s/minilm/meta.json", BERTD_FIXTURES);
  json_t *meta = json_load_file(path, 0, &je);
  cr_assert(meta, "%s:%d: %s", path, je.line, je.text);
  const int count = (int)json_integer_value(json_object_get(meta, "count"));
  minilm_golden gold = minilm_golden_load(meta, BERTD_FIXTURES "/minilm", H);
  char **texts = gold.texts;
  const size_t *lens = gold.lens;
  const float *golden = gold.embeddings;

  bertd_session *s;
  cr_assert_eq(bertd_session_create(m, &s, err, sizeof err), 0, "%s", err);
  enum { BATCH = 32 };
  bertd_encoding enc[BATCH];
  memset(enc, 0, sizeof enc);
  const bertd_encoding *batch[BATCH];
  float *emb = malloc(sizeof(float) * H);
  double sum = 0.0;
  for (int start = 0; start < count; start += BATCH) {
    int B = count - start < BATCH ? count - start : BATCH;
    for (int b = 0; b < B; b++) {
      cr_assert_eq(bertd_tokenizer_encode(bertd_model_tokenizer(m), texts[start + b],
                                          lens[start + b], NULL, 0, bertd_model_max_length(m),
                                          BERTD_TRUNC_LONGEST_FIRST, &enc[b], err, sizeof err),
                   0, "%s", err);
      batch[b] = &enc[b];
    }
    cr_assert_eq(bertd_session_forward(s, batch, B, err, sizeof err), 0, "%s", err);
    for (int b = 0; b < B; b++) {
      cr_assert_eq(bertd_result_embedding(s, b, emb, err, sizeof err), 0, "%s", err);
      const float *g = golden + (size_t)(start + b) * H;
      double dot = 0, na = 0, nb = 0;
      for (int i = 0; i < H; i++) {
        dot += (double)emb[i] * g[i];
        na += (double)emb[i] * emb[i];
        nb += (double)g[i] * g[i];
      }
      double cos = dot / sqrt(na * nb);
      if (isnan(cos)) cos = -1.0;
      sum += cos;
      if (cos < r.min) {
        r.min = cos;
        r.worst = start + b;
      }
    }
  }
  r.count = count;
  r.mean = sum / count;
  printf("parity all-MiniLM-L6-v2 %s (%s, attention %s): %d texts, cosine vs "
         "sentence-transformers fp32 min %.6f (text %d), mean %.6f\n", bertd_precision_name(p),
         r.kernel, bertd_model_attention(m), count, r.min, r.worst, r.mean);
  for (int b = 0; b < BATCH; b++) bertd_encoding_free(&enc[b]);
  minilm_golden_free(&gold);
  free(emb);
  bertd_session_free(s);
  bertd_model_free(m);
  json_decref(meta);
  return r;
}

/* Criterion's main, after a CPU check: exit 77 (ctest's skip) with the reason when precision p
 * has no kernel here. */
static int precision_parity_main(bertd_precision p, int argc, char **argv) {
  char why[512];
  if (precision_runnable(p, why, sizeof why)) {
    printf("skipped: %s\n", why);
    return 77;
  }
  struct criterion_test_set *tests = criterion_initialize();
  int result = 0;
  if (criterion_handle_args(argc, argv, true)) result = !criterion_run_all_tests(tests);
  criterion_finalize(tests);
  return result;
}

#endif
