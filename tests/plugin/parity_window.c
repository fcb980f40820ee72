/* parity_window.c: on_too_long: window against transformers. tests/fixtures/window/windows.json
 * (tools/reference/make_window_fixtures.py) holds long texts, each text's windows as
 * transformers' tokenizer cuts them (return_overflowing_tokens with stride), and the combined
 * result of transformers' model over those windows. Here every text goes through the plugin
 * (windows queued in the length buckets like any record) and must give the same windows, the
 * same labels, tags, spans and answers with the same offsets, and scores within 1e-4. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd.h"
#include "bertd_plugin.h"

#define TOL 1e-4

static json_t *fixture(void) {
  json_error_t je;
  json_t *f = json_load_file(BERTD_FIXTURES "/window/windows.json", 0, &je);
  cr_assert(f, "windows.json:%d: %s", je.line, je.text);
  return f;
}

static const char *model_dir(const char *name, char *buf, size_t n) {
  if (!strcmp(name, "MiniLM")) {
    const char *d = getenv("BERTD_MODEL_DIR");
    cr_assert(d && *d, "BERTD_MODEL_DIR is not set: scripts/fetch-model.sh minilm prints it");
    return d;
  }
  snprintf(buf, n, "%s/models/%s", BERTD_FIXTURES, name);
  return buf;
}

/* Our windows equal transformers' token ids, window by window. */
static void check_windows(const bertd_tokenizer *tok, const char *text, const char *pair,
                          int max_length, int stride, json_t *want, int i) {
  char err[512];
  bertd_windows w = {0};
  cr_assert_eq(bertd_tokenizer_encode_windows(tok, text, strlen(text), pair,
                                              pair ? strlen(pair) : 0, max_length, stride, &w,
                                              err, sizeof err), 0, "%s", err);
  cr_assert_eq(w.n, (int)json_array_size(want), "text %d: %d windows, transformers %zu", i, w.n,
               json_array_size(want));
  for (int k = 0; k < w.n; k++) {
    json_t *ids = json_array_get(want, (size_t)k);
    cr_assert_eq(w.w[k].n, (int)json_array_size(ids), "text %d window %d: length", i, k);
    for (int t = 0; t < w.w[k].n; t++)
      cr_assert_eq(w.w[k].ids[t], json_integer_value(json_array_get(ids, (size_t)t)),
                   "text %d window %d token %d", i, k, t);
  }
  bertd_windows_free(&w);
}

/* Runs every text of the fixture through a plugin for the task; results[i] gets text i's. */
static void run_task(json_t *f, const char *task, json_t **results) {
  json_t *spec = json_object_get(f, task), *texts = json_object_get(f, "texts");
  json_t *res = json_object_get(spec, "results");
  char buf[1024], err[512];
  const char *dir = model_dir(json_string_value(json_object_get(spec, "model")), buf, sizeof buf);
  int max_length = (int)json_integer_value(json_object_get(spec, "max_length"));
  int stride = (int)json_integer_value(json_object_get(spec, "window_stride"));
  int is_qa = !strcmp(task, "qa");

  bertd_model *m;
  cr_assert_eq(bertd_model_load(dir, &m, err, sizeof err), 0, "%s", err);
  for (size_t i = 0; i < json_array_size(texts); i++) {
    const char *text = json_string_value(json_array_get(texts, i));
    json_t *r = json_array_get(res, i);
    const char *q = is_qa ? json_string_value(json_object_get(r, "question")) : NULL;
    check_windows(bertd_model_tokenizer(m), is_qa ? q : text, is_qa ? text : NULL, max_length,
                  stride, json_object_get(r, "window_ids"), (int)i);
  }
  bertd_model_free(m);

  /* small buckets and batches, so the windows of one text spread over several batches (the
   * plugin closes the buckets with max_length) */
  char cfg[2048];
  snprintf(cfg, sizeof cfg,
           "{\"model\":{\"dir\":\"%s\",\"task\":\"%s\",\"max_length\":%d,\"on_too_long\":\"window\","
           "\"window_stride\":%d,\"tag_decoding\":\"argmax\"},"
           "\"batching\":{\"max_batch_records\":5,\"max_wait_ms\":1000,\"buckets\":[16,32]}}",
           dir, task, max_length, stride);
  bertd_plugin *p;
  cr_assert_eq(bertd_plugin_create(cfg, &p, err, sizeof err), 0, "%s", err);
  size_t n = json_array_size(texts);
  for (size_t i = 0; i < n; i++) {
    const char *text = json_string_value(json_array_get(texts, i));
    const char *q = is_qa ? json_string_value(json_object_get(json_array_get(res, i), "question"))
                          : NULL;
    cr_assert_eq(bertd_plugin_submit(p, is_qa ? q : text, strlen(is_qa ? q : text),
                                     is_qa ? text : NULL, is_qa ? strlen(text) : 0,
                                     (void *)(i + 1), err, sizeof err), 0, "%s", err);
  }
  cr_assert_eq(bertd_plugin_flush(p, -1), 0);
  bertd_plugin_completion c[16];
  size_t got = 0;
  int k;
  while ((k = bertd_plugin_poll(p, c, 16, 0)) > 0)
    for (int j = 0; j < k; j++, got++) {
      size_t i = (size_t)c[j].ref - 1;
      cr_assert_eq(c[j].reason, BERTD_PLUGIN_OK, "%s text %zu: %s", task, i, c[j].error);
      json_error_t je;
      results[i] = json_loads(c[j].result, 0, &je);
      cr_assert(results[i]);
    }
  cr_assert_eq(got, n);
  bertd_plugin_destroy(p);
}

/* A text of one window says nothing about windows; a longer one says how many. */
static void check_window_count(json_t *got, json_t *want, size_t i) {
  size_t w = json_array_size(json_object_get(want, "window_ids"));
  json_t *g = json_object_get(got, "windows");
  if (w == 1) cr_assert_null(g, "text %zu: one window, yet \"windows\" is set", i);
  else cr_assert_eq(json_integer_value(g), (json_int_t)w, "text %zu: windows", i);
  cr_assert_null(json_object_get(got, "truncated_tokens"), "text %zu: windows drop nothing", i);
}

static void check_score(json_t *got, json_t *want, const char *what, size_t i) {
  double g = json_number_value(json_object_get(got, "score"));
  double w = json_number_value(json_object_get(want, "score"));
  cr_assert(fabs(g - w) <= TOL, "text %zu %s: score %.8f, transformers %.8f", i, what, g, w);
}

Test(window, classify_equals_transformers) {
  json_t *f = fixture(), *results[16] = {0};
  run_task(f, "classify", results);
  json_t *res = json_object_get(json_object_get(f, "classify"), "results");
  for (size_t i = 0; i < json_array_size(res); i++) {
    json_t *want = json_array_get(res, i);
    check_window_count(results[i], want, i);
    json_t *gl = json_object_get(results[i], "labels"), *wl = json_object_get(want, "labels");
    cr_assert_eq(json_array_size(gl), 1); /* top_k default: the best label */
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(gl, 0), "label")),
                     json_string_value(json_object_get(json_array_get(wl, 0), "label")),
                     "text %zu", i);
    check_score(json_array_get(gl, 0), json_array_get(wl, 0), "label", i);
    json_decref(results[i]);
  }
  json_decref(f);
}

Test(window, tag_equals_transformers) {
  json_t *f = fixture(), *results[16] = {0};
  run_task(f, "tag", results);
  json_t *res = json_object_get(json_object_get(f, "tag"), "results");
  for (size_t i = 0; i < json_array_size(res); i++) {
    json_t *want = json_array_get(res, i), *got = results[i];
    check_window_count(got, want, i);
    json_t *gt = json_object_get(got, "tags"), *wt = json_object_get(want, "tags");
    cr_assert_eq(json_array_size(gt), json_array_size(wt), "text %zu: word count", i);
    for (size_t t = 0; t < json_array_size(wt); t++)
      cr_assert_str_eq(json_string_value(json_array_get(gt, t)),
                       json_string_value(json_array_get(wt, t)), "text %zu word %zu", i, t);
    json_t *gs = json_object_get(got, "spans"), *ws = json_object_get(want, "spans");
    cr_assert_eq(json_array_size(gs), json_array_size(ws), "text %zu: span count", i);
    for (size_t s = 0; s < json_array_size(ws); s++) {
      json_t *g = json_array_get(gs, s), *w = json_array_get(ws, s);
      const char *keys[] = {"label", "text"};
      for (int k = 0; k < 2; k++)
        cr_assert_str_eq(json_string_value(json_object_get(g, keys[k])),
                         json_string_value(json_object_get(w, keys[k])), "text %zu span %zu %s",
                         i, s, keys[k]);
      cr_assert_eq(json_integer_value(json_object_get(g, "start")),
                   json_integer_value(json_object_get(w, "start")), "text %zu span %zu", i, s);
      cr_assert_eq(json_integer_value(json_object_get(g, "end")),
                   json_integer_value(json_object_get(w, "end")), "text %zu span %zu", i, s);
      check_score(g, w, "span", i);
    }
    json_decref(got);
  }
  json_decref(f);
}

Test(window, qa_equals_transformers) {
  json_t *f = fixture(), *results[16] = {0};
  run_task(f, "qa", results);
  json_t *res = json_object_get(json_object_get(f, "qa"), "results");
  for (size_t i = 0; i < json_array_size(res); i++) {
    json_t *want = json_array_get(res, i);
    check_window_count(results[i], want, i);
    json_t *g = json_object_get(results[i], "answer"), *w = json_object_get(want, "answer");
    cr_assert_str_eq(json_string_value(json_object_get(g, "text")),
                     json_string_value(json_object_get(w, "text")), "text %zu", i);
    cr_assert_eq(json_integer_value(json_object_get(g, "start")),
                 json_integer_value(json_object_get(w, "start")), "text %zu", i);
    cr_assert_eq(json_integer_value(json_object_get(g, "end")),
                 json_integer_value(json_object_get(w, "end")), "text %zu", i);
    check_score(g, w, "answer", i);
    json_decref(results[i]);
  }
  json_decref(f);
}

Test(window, embed_equals_sentence_transformers_pooling) {
  json_t *f = fixture(), *results[16] = {0};
  run_task(f, "embed", results);
  json_t *res = json_object_get(json_object_get(f, "embed"), "results");
  for (size_t i = 0; i < json_array_size(res); i++) {
    json_t *want = json_array_get(res, i);
    check_window_count(results[i], want, i);
    json_t *g = json_object_get(results[i], "embedding"), *w = json_object_get(want, "embedding");
    cr_assert_eq(json_array_size(g), json_array_size(w));
    for (size_t d = 0; d < json_array_size(w); d++) {
      double a = json_number_value(json_array_get(g, d)), b = json_number_value(json_array_get(w, d));
      cr_assert(fabs(a - b) <= TOL, "text %zu dim %zu: %.8f, transformers %.8f", i, d, a, b);
    }
    json_decref(results[i]);
  }
  json_decref(f);
}
