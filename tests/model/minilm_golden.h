/* minilm_golden.h: the MiniLM parity set (tests/fixtures/minilm, or another folder of the same
 * layout): meta.json's texts, read from its sources in order, and the reference embeddings
 * (count, H) sentence-transformers wrote for them (tools/reference). Shared by the fp32 parity
 * test and the bf16/int8 ones. */
#ifndef BERTD_TESTS_MINILM_GOLDEN_H
#define BERTD_TESTS_MINILM_GOLDEN_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct minilm_golden {
  int count;
  char **texts;   /* count texts, NUL kept (JSON_ALLOW_NUL) */
  size_t *lens;
  float *embeddings; /* (count, H) */
} minilm_golden;

/* The "text" of the first n lines of a JSONL file, with lengths. */
static void minilm_golden_read_jsonl(const char *path, int n, char **texts, size_t *lens) {
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

/* The texts meta's "sources" name (paths relative to BERTD_FIXTURES, or absolute) and
 * dir/embeddings.f32, H floats a text. */
static minilm_golden minilm_golden_load(const json_t *meta, const char *dir, int H) {
  char path[1024];
  minilm_golden g = {.count = (int)json_integer_value(json_object_get(meta, "count"))};
  g.texts = calloc((size_t)g.count, sizeof(char *));
  g.lens = calloc((size_t)g.count, sizeof(size_t));
  int k = 0;
  const json_t *src;
  size_t si;
  json_array_foreach(json_object_get(meta, "sources"), si, src) {
    int n = (int)json_integer_value(json_object_get(src, "lines"));
    const char *rel = json_string_value(json_object_get(src, "path"));
    if (rel[0] == '/') snprintf(path, sizeof path, "%s", rel);
    else snprintf(path, sizeof path, "%s/%s", BERTD_FIXTURES, rel);
    cr_assert(k + n <= g.count, "meta.json: sources hold more than %d texts", g.count);
    minilm_golden_read_jsonl(path, n, g.texts + k, g.lens + k);
    k += n;
  }
  cr_assert_eq(k, g.count);
  g.embeddings = malloc(sizeof(float) * (size_t)g.count * (size_t)H);
  snprintf(path, sizeof path, "%s/embeddings.f32", dir);
  FILE *f = fopen(path, "rb");
  cr_assert(f, "cannot open %s", path);
  cr_assert_eq(fread(g.embeddings, sizeof(float), (size_t)g.count * (size_t)H, f),
               (size_t)g.count * (size_t)H);
  fclose(f);
  return g;
}

static void minilm_golden_free(minilm_golden *g) {
  for (int i = 0; i < g->count; i++) free(g->texts[i]);
  free(g->texts);
  free(g->lens);
  free(g->embeddings);
}

#endif
