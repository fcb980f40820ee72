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

/* The "text" field of the next n lines of f into texts, lens. */
static void read_texts(const char *path, int n, char **texts, size_t *lens) {
  FILE *f = fopen(path, "rb");
  cr_assert(f, "cannot open %s", path);
  char *buf = NULL;
  size_t cap = 0;
  for (int i = 0; i < n; i++) {
    ssize_t len = getline(&buf, &cap, f);
    cr_assert(len > 0, "%s: fewer than %d lines", path, n);
    json_error_t je;
    json_t *o = json_loadb(buf, (size_t)len, JSON_ALLOW_NUL, &je);
    cr_assert(o, "%s:%d: %s", path, i + 1, je.text);
    json_t *t = json_object_get(o, "text");
    cr_assert(json_is_string(t), "%s:%d: no string field 'text'", path, i + 1);
    lens[i] = json_string_length(t);
    texts[i] = malloc(lens[i] + 1);
    memcpy(texts[i], json_string_value(t), lens[i] + 1);
    json_decref(o);
  }
  free(buf);
  fclose(f);
}

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
  const int H = bertd_model_config(m)->hidden_size;
  json_error_t je;
  snprintf(path, sizeof path, "%s/minilm/meta.json", BERTD_FIXTURES);
  json_t *meta = json_load_file(path, 0, &je);
  cr_assert(meta, "%s:%d: %s", path, je.line, je.text);
  const int count = (int)json_integer_value(json_object_get(meta, "count"));
  char **texts = calloc((size_t)count, sizeof(char *));
  size_t *lens = calloc((size_t)count, sizeof(size_t));
  int k = 0;
  json_t *src;
  size_t si;
  json_array_foreach(json_object_get(meta, "sources"), si, src) {
    int n = (int)json_integer_value(json_object_get(src, "lines"));
    snprintf(path, sizeof path, "%s/%s", BERTD_FIXTURES,
             json_string_value(json_object_get(src, "path")));
    cr_assert(k + n <= count);
    read_texts(path, n, texts + k, lens + k);
    k += n;
  }
  cr_assert_eq(k, count);
  float *golden = malloc(sizeof(float) * (size_t)count * H);
  snprintf(path, sizeof path, "%s/minilm/embeddings.f32", BERTD_FIXTURES);
  FILE *f = fopen(path, "rb");
  cr_assert(f, "cannot open %s", path);
  cr_assert_eq(fread(golden, sizeof(float), (size_t)count * H, f), (size_t)count * H);
  fclose(f);

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
  printf("parity all-MiniLM-L6-v2 %s (%s): %d texts, cosine vs sentence-transformers fp32 "
         "min %.6f (text %d), mean %.6f\n", bertd_precision_name(p), r.kernel, count, r.min,
         r.worst, r.mean);
  for (int b = 0; b < BATCH; b++) bertd_encoding_free(&enc[b]);
  for (int i = 0; i < count; i++) free(texts[i]);
  free(texts);
  free(lens);
  free(golden);
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
