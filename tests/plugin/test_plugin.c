/* test_plugin.c: the plugin ABI end to end, with the tiny fixture checkpoints and the real
 * MiniLM (BERTD_MODEL_DIR) for embeddings.
 *
 * The central check: records of mixed lengths go through submit/poll (bucketed, batched, on the
 * worker thread) and every one comes back exactly once with the JSON that bertd_enricher_run
 * gives for that text run alone.
 *
 * "The same JSON" has two strengths. With BERTD_PLUGIN_TEST_STRICT=1 the texts must be
 * string-equal; plugin/CMakeLists.txt registers that run with OPENBLAS_CORETYPE=Sandybridge,
 * whose sgemm kernels (no FMA) give every row the same bits whatever the batch around it.
 * Otherwise OpenBLAS picks FMA kernels whose rounding depends on the batch's row count, so a
 * score can move in its 8th significant digit between "alone" and "in a batch of 32": then
 * the JSON must be equal in structure, strings, integers and labels, with reals within 1e-5. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bertd.h"
#include "bertd_plugin.h"
#include "bertd_enrich.h"

#define RESULT_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(8))
#define REF(i) ((void *)(intptr_t)((i) + 1)) /* never NULL */
#define IDX(ref) ((int)(intptr_t)(ref) - 1)

static const char *const WORDS[] = {
    "the",     "from",    "flight",   "flights",  "fare",      "cheapest", "morning",
    "boston",  "denver",  "dallas",   "atlanta",  "san",       "francisco", "new",
    "york",    "leaving", "arriving", "nonstop",  "tomorrow",  "monday",   "show",
    "list",    "find",    "play",     "music",    "weather",   "rain",     "error",
    "server",  "request", "price",    "stock",    "team",      "game",     "to",
    "a",       "xyz",     "2024",     "?",        "café",      "naïve",    "Denver,"};

static uint64_t rng_state;
static uint32_t rnd(void) {
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t)(rng_state >> 33);
}

/* n words; lengths mostly short, some medium, a few over a 128-token model's limit */
static char *sentence(int min_words) {
  uint32_t r = rnd() % 100;
  int n = r < 60 ? 1 + (int)(rnd() % 10) : r < 90 ? 10 + (int)(rnd() % 30) : 40 + (int)(rnd() % 120);
  if (n < min_words) n = min_words;
  size_t cap = (size_t)n * 12 + 1, len = 0;
  char *s = malloc(cap);
  cr_assert_not_null(s);
  for (int i = 0; i < n; i++)
    len += (size_t)snprintf(s + len, cap - len, "%s%s", i ? " " : "",
                            WORDS[rnd() % (sizeof WORDS / sizeof *WORDS)]);
  return s;
}

typedef struct corpus {
  int n;
  char **text, **pair;   /* pair[i] NULL: no pair */
  char **expect;         /* reference JSON text, or NULL when the record is an error */
  char (*expect_err)[256];
  int *tokens;           /* reference token count */
} corpus;

static void corpus_make(corpus *c, int n, int with_pairs, uint64_t seed) {
  rng_state = seed;
  c->n = n;
  c->text = calloc((size_t)n, sizeof(char *));
  c->pair = calloc((size_t)n, sizeof(char *));
  c->expect = calloc((size_t)n, sizeof(char *));
  c->expect_err = calloc((size_t)n, sizeof(*c->expect_err));
  c->tokens = calloc((size_t)n, sizeof(int));
  for (int i = 0; i < n; i++) {
    c->text[i] = sentence(1);
    if (with_pairs) c->pair[i] = sentence(3);
  }
}

static void corpus_free(corpus *c) {
  for (int i = 0; i < c->n; i++) {
    free(c->text[i]);
    free(c->pair[i]);
    free(c->expect[i]);
  }
  free(c->text);
  free(c->pair);
  free(c->expect);
  free(c->expect_err);
  free(c->tokens);
}

/* Each record alone through bertd_enricher_run: what the plugin must reproduce. */
static void corpus_reference(corpus *c, const char *model_dir, const bertd_enrich_opts *o) {
  bertd_model *m;
  bertd_enricher *e;
  char err[512];
  cr_assert_eq(bertd_model_load(model_dir, &m, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_enricher_create(m, o, &e, err, sizeof err), 0, "%s", err);
  bertd_encoding enc = {0};
  int max_length = bertd_model_max_length(m); /* what the enricher uses for 0 or beyond it */
  if (o->max_length > 0 && o->max_length < max_length) max_length = o->max_length;
  for (int i = 0; i < c->n; i++) {
    const char *t = c->text[i], *p = c->pair[i];
    size_t len = strlen(t), plen = p ? strlen(p) : 0;
    json_t *res = NULL;
    cr_assert_eq(bertd_enricher_run(e, 1, &t, &len, &p, &plen, &res, &c->expect_err[i], err,
                                    sizeof err),
                 0, "%s", err);
    if (res) {
      c->expect[i] = json_dumps(res, RESULT_JSON_FLAGS);
      json_decref(res);
    }
    /* the plugin reports tokens after truncation, or before it for a too-long error */
    if (bertd_tokenizer_encode(bertd_model_tokenizer(m), t, len, p, plen, max_length,
                               o->truncation, &enc, err, sizeof err) == 0)
      c->tokens[i] = enc.n + (o->too_long_is_error ? enc.num_truncated : 0);
  }
  bertd_encoding_free(&enc);
  bertd_enricher_free(e);
  bertd_model_free(m);
}

/* Equal JSON, allowing reals to differ by tol (see the header comment). */
static int json_close(json_t *a, json_t *b, double tol) {
  if (json_is_number(a) && json_is_number(b) && (json_is_real(a) || json_is_real(b))) {
    double x = json_number_value(a), y = json_number_value(b);
    return x - y <= tol && y - x <= tol;
  }
  if (json_typeof(a) != json_typeof(b)) return 0;
  if (json_is_array(a)) {
    if (json_array_size(a) != json_array_size(b)) return 0;
    for (size_t i = 0; i < json_array_size(a); i++)
      if (!json_close(json_array_get(a, i), json_array_get(b, i), tol)) return 0;
    return 1;
  }
  if (json_is_object(a)) {
    if (json_object_size(a) != json_object_size(b)) return 0;
    const char *key;
    json_t *v;
    json_object_foreach(a, key, v) {
      json_t *w = json_object_get(b, key);
      if (!w || !json_close(v, w, tol)) return 0;
    }
    return 1;
  }
  return json_equal(a, b);
}

static int strict_mode(void) {
  const char *s = getenv("BERTD_PLUGIN_TEST_STRICT");
  return s && *s && strcmp(s, "0") != 0;
}

/* The plugin's result text against the reference text. */
static void expect_same_result(const char *got, const char *want, int i, int tokens) {
  if (strict_mode() || !strcmp(got, want)) {
    cr_assert_str_eq(got, want, "record %d (%d tokens)\n got  %s\n want %s", i, tokens, got,
                     want);
    return;
  }
  json_t *a = json_loads(got, 0, NULL), *b = json_loads(want, 0, NULL);
  cr_assert(a && b, "record %d: result is not JSON: %s", i, got);
  cr_assert(json_close(a, b, 1e-5), "record %d (%d tokens)\n got  %s\n want %s", i, tokens,
            got, want);
  json_decref(a);
  json_decref(b);
}

/* The plugin under test. A failed assertion ends a test early; the suite's fini then destroys
 * the plugin so its worker thread does not outlive the test. */
static bertd_plugin *live;

static void destroy_live(void) {
  bertd_plugin_destroy(live);
  live = NULL;
}

TestSuite(plugin, .fini = destroy_live);

static bertd_plugin *create(const char *json) {
  char err[512];
  destroy_live();
  cr_assert_eq(bertd_plugin_create(json, &live, err, sizeof err), 0, "%s\nconfig: %s", err,
               json);
  return live;
}

static int bucket_of(int tokens, const int *edges, int n_edges) {
  for (int i = 0; i < n_edges; i++)
    if (tokens <= edges[i]) return i;
  return n_edges;
}

/* Submits the corpus (polling now and then, as a host between Kafka polls), polls until every
 * record is back, and checks each against the reference. edges: the config's buckets, to check
 * that records of one bucket complete in submit order. */
static void run_and_check(bertd_plugin *p, corpus *c, const int *edges, int n_edges) {
  char err[512];
  int *seen = calloc((size_t)c->n, sizeof(int));
  int last_in_bucket[80];
  for (int i = 0; i < 80; i++) last_in_bucket[i] = -1;
  int got = 0, idle = 0;
  bertd_plugin_completion out[64];

#define CHECK_COMPLETIONS(k)                                                                    \
  for (int j = 0; j < (k); j++) {                                                              \
    int i = IDX(out[j].ref);                                                                   \
    cr_assert(i >= 0 && i < c->n, "unknown ref %p", out[j].ref);                              \
    cr_assert_eq(seen[i], 0, "record %d came back twice", i);                                  \
    seen[i] = 1;                                                                               \
    got++;                                                                                     \
    cr_assert_eq(out[j].tokens, c->tokens[i], "record %d: tokens", i);                        \
    cr_assert(out[j].latency_ms >= 0);                                                         \
    if (c->expect[i]) {                                                                        \
      cr_assert_eq(out[j].reason, BERTD_PLUGIN_OK, "record %d: %s", i, out[j].error);          \
      expect_same_result(out[j].result, c->expect[i], i, out[j].tokens);                       \
      cr_assert_eq(out[j].result_len, strlen(out[j].result));                                      \
      int b = bucket_of(out[j].tokens, edges, n_edges);                                        \
      cr_assert_gt(i, last_in_bucket[b], "bucket %d: record %d after %d", b, i,                \
                   last_in_bucket[b]);                                                         \
      last_in_bucket[b] = i;                                                                   \
    } else {                                                                                   \
      cr_assert_neq(out[j].reason, BERTD_PLUGIN_OK, "record %d should fail", i);               \
      cr_assert_null(out[j].result);                                                           \
    }                                                                                          \
  }

  for (int i = 0; i < c->n; i++) {
    const char *pr = c->pair[i];
    cr_assert_eq(bertd_plugin_submit(p, c->text[i], strlen(c->text[i]), pr, pr ? strlen(pr) : 0,
                                     REF(i), err, sizeof err),
                 0, "%s", err);
    if (i % 50 == 49) {
      int k = bertd_plugin_poll(p, out, 64, 0);
      CHECK_COMPLETIONS(k);
    }
  }
  cr_assert_eq(bertd_plugin_in_flight(p), c->n - got);
  while (got < c->n) {
    int k = bertd_plugin_poll(p, out, 64, 1000);
    idle = k ? 0 : idle + 1;
    cr_assert_lt(idle, 30, "no completion for 30 s with %d of %d back", got, c->n);
    CHECK_COMPLETIONS(k);
  }
#undef CHECK_COMPLETIONS
  cr_assert_eq(bertd_plugin_in_flight(p), 0);
  cr_assert_eq(bertd_plugin_poll(p, out, 64, 0), 0);
  free(seen);
}

static const int EDGES[] = {16, 32, 64, 128, 256, 512};
#define N_EDGES 6

static void parity(const char *model_dir, bertd_enrich_task task, const char *task_name, int n,
                   int with_pairs, uint64_t seed) {
  corpus c;
  corpus_make(&c, n, with_pairs, seed);
  bertd_enrich_opts o = {.task = task};
  corpus_reference(&c, model_dir, &o);
  char json[2048];
  snprintf(json, sizeof json,
           "{\"model\":{\"dir\":\"%s\",\"task\":\"%s\",\"max_length\":512},"
           "\"batching\":{\"max_batch_tokens\":2048,\"max_batch_records\":32,\"max_wait_ms\":2,"
           "\"buckets\":[16,32,64,128,256,512]}}",
           model_dir, task_name);
  bertd_plugin *p = create(json);
  run_and_check(p, &c, EDGES, N_EDGES);
  destroy_live();
  corpus_free(&c);
}

static const char *fixture(const char *name) {
  static char path[512]; /* one test at a time (--jobs 1), one fixture path at a time */
  snprintf(path, sizeof path, "%s/models/%s", BERTD_FIXTURES, name);
  return path;
}

Test(plugin, joint_1000_mixed_lengths_match_enricher_alone) {
  parity(fixture("joint"), BERTD_ENRICH_JOINT, "joint", 1000, 0, 1);
}

Test(plugin, seq_cls_1000_mixed_lengths_match_enricher_alone) {
  parity(fixture("seq_cls"), BERTD_ENRICH_CLASSIFY, "classify", 1000, 0, 2);
}

Test(plugin, token_cls_match_enricher_alone) {
  parity(fixture("token_cls"), BERTD_ENRICH_TAG, "tag", 300, 0, 3);
}

Test(plugin, qa_pairs_match_enricher_alone) {
  parity(fixture("qa"), BERTD_ENRICH_QA, "qa", 300, 1, 4);
}

Test(plugin, minilm_embed_matches_enricher_alone) {
  const char *dir = getenv("BERTD_MODEL_DIR");
  cr_assert(dir && *dir, "BERTD_MODEL_DIR must name the all-MiniLM-L6-v2 checkpoint");
  parity(dir, BERTD_ENRICH_EMBED, "embed", 200, 0, 5);
}

/* Runs c's texts through a plugin of config json (batches fixed by count: max_wait_ms is long
 * and flush runs the rest) and polls them all, with poll_vectors when vec is not NULL. text[i]
 * gets record i's result text, vec[i] a copy of its vector (dim[i] floats; NULL when none). */
static void run_all(const char *json, corpus *c, char **text, float **vec, int *dim) {
  bertd_plugin *p = create(json);
  char err[512];
  for (int i = 0; i < c->n; i++)
    cr_assert_eq(bertd_plugin_submit(p, c->text[i], strlen(c->text[i]), NULL, 0, REF(i), err,
                                     sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_plugin_flush(p, 60000), 0);
  bertd_plugin_completion out[256];
  bertd_plugin_timing t[256];
  bertd_plugin_vector v[256];
  int n = vec ? bertd_plugin_poll_vectors(p, out, t, v, 256, 0) : bertd_plugin_poll(p, out, 256, 0);
  cr_assert_eq(n, c->n);
  for (int k = 0; k < n; k++) {
    int i = IDX(out[k].ref);
    cr_assert_eq(out[k].reason, BERTD_PLUGIN_OK, "record %d: %s", i, out[k].error);
    text[i] = strdup(out[k].result);
    if (!vec) continue;
    dim[i] = v[k].dim;
    vec[i] = NULL;
    if (v[k].values) {
      vec[i] = malloc(sizeof(float) * (size_t)v[k].dim);
      memcpy(vec[i], v[k].values, sizeof(float) * (size_t)v[k].dim);
    }
  }
  destroy_live();
}

/* poll_vectors (ABI 1.4) hands the embedding over as floats and leaves it out of the text; put
 * back as JSON reals they print exactly as poll() printed them, for plain records and for long
 * ones embedded window by window. Other tasks get no vector and the same text as poll(). */
Test(plugin, poll_vectors_gives_the_embedding_poll_prints) {
  const char *dir = getenv("BERTD_MODEL_DIR");
  cr_assert(dir && *dir, "BERTD_MODEL_DIR must name the all-MiniLM-L6-v2 checkpoint");
  corpus c;
  corpus_make(&c, 120, 0, 8);
  char json[2048];
  snprintf(json, sizeof json,
           "{\"model\":{\"dir\":\"%s\",\"task\":\"embed\",\"max_length\":32,"
           "\"on_too_long\":\"window\"},\"batching\":{\"max_batch_records\":16,"
           "\"max_wait_ms\":60000,\"buckets\":[16,32]}}",
           dir);
  char **text = calloc((size_t)c.n, sizeof(char *)), **vtext = calloc((size_t)c.n, sizeof(char *));
  float **vec = calloc((size_t)c.n, sizeof(float *));
  int *dim = calloc((size_t)c.n, sizeof(int)), windowed = 0;
  run_all(json, &c, text, NULL, NULL);
  run_all(json, &c, vtext, vec, dim);
  for (int i = 0; i < c.n; i++) {
    json_t *want = json_loads(text[i], 0, NULL), *got = json_loads(vtext[i], 0, NULL);
    cr_assert(want && got);
    cr_assert_null(json_object_get(got, "embedding"), "record %d: %s", i, vtext[i]);
    json_t *w = json_object_get(want, "embedding");
    cr_assert_eq(dim[i], 384, "record %d", i);
    cr_assert_eq(json_array_size(w), 384);
    json_t *a = json_array();
    for (int k = 0; k < dim[i]; k++) json_array_append_new(a, json_real(vec[i][k]));
    json_object_set_new(got, "embedding", a);
    char *back = json_dumps(got, RESULT_JSON_FLAGS | JSON_SORT_KEYS);
    char *orig = json_dumps(want, RESULT_JSON_FLAGS | JSON_SORT_KEYS);
    cr_assert_str_eq(back, orig, "record %d", i);
    windowed += json_object_get(want, "windows") != NULL;
    free(back);
    free(orig);
    json_decref(want);
    json_decref(got);
    free(text[i]);
    free(vtext[i]);
    free(vec[i]);
  }
  cr_assert_gt(windowed, 5, "the corpus should hold records over 32 tokens");

  snprintf(json, sizeof json,
           "{\"model\":{\"dir\":\"%s\",\"task\":\"joint\",\"max_length\":512},"
           "\"batching\":{\"max_batch_records\":16,\"max_wait_ms\":60000}}",
           fixture("joint"));
  run_all(json, &c, text, NULL, NULL);
  run_all(json, &c, vtext, vec, dim);
  for (int i = 0; i < c.n; i++) {
    cr_assert_null(vec[i], "record %d: a joint result has no embedding", i);
    cr_assert_eq(dim[i], 0);
    cr_assert_str_eq(vtext[i], text[i], "record %d", i);
    free(text[i]);
    free(vtext[i]);
  }
  free(text);
  free(vtext);
  free(vec);
  free(dim);
  corpus_free(&c);
}

/* Invalid UTF-8 and too-long records come back as errors with their reason; the records around
 * them are enriched as if they were alone. */
Test(plugin, bad_records_are_errors_others_unaffected) {
  const char *dir = fixture("joint");
  corpus c;
  corpus_make(&c, 200, 0, 6);
  for (int i = 0; i < c.n; i += 10) { /* every 10th: invalid UTF-8 inside the text */
    size_t len = strlen(c.text[i]);
    c.text[i] = realloc(c.text[i], len + 4);
    memcpy(c.text[i] + len, " \xff\xfe", 4);
  }
  bertd_enrich_opts o = {.task = BERTD_ENRICH_JOINT, .max_length = 24, .too_long_is_error = 1};
  corpus_reference(&c, dir, &o);
  int n_invalid = 0, n_long = 0;
  for (int i = 0; i < c.n; i++) {
    if (i % 10 == 0) {
      cr_assert_null(c.expect[i]);
      n_invalid++;
    } else if (!c.expect[i]) {
      n_long++;
    }
  }
  cr_assert_gt(n_long, 10, "the corpus should hold records over 24 tokens");

  char json[2048];
  snprintf(json, sizeof json,
           "{\"model\":{\"dir\":\"%s\",\"task\":\"joint\",\"max_length\":24,"
           "\"on_too_long\":\"dead_letter\"},\"batching\":{\"max_wait_ms\":1,"
           "\"buckets\":[8,16]}}",
           dir);
  bertd_plugin *p = create(json);
  char err[512];
  for (int i = 0; i < c.n; i++)
    cr_assert_eq(bertd_plugin_submit(p, c.text[i], strlen(c.text[i]), NULL, 0, REF(i), err,
                                     sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_plugin_flush(p, 30000), 0);
  bertd_plugin_completion out[256];
  int n = bertd_plugin_poll(p, out, 256, 0);
  cr_assert_eq(n, c.n);
  int seen_invalid = 0, seen_long = 0;
  for (int j = 0; j < n; j++) {
    int i = IDX(out[j].ref);
    if (i % 10 == 0) {
      cr_assert_eq(out[j].reason, BERTD_PLUGIN_INVALID_INPUT, "record %d", i);
      cr_assert(strstr(out[j].error, "UTF-8"), "record %d: %s", i, out[j].error);
      cr_assert_str_eq(bertd_plugin_reason_name(out[j].reason), "invalid_input");
      cr_assert_eq(out[j].tokens, 0);
      seen_invalid++;
    } else if (!c.expect[i]) {
      cr_assert_eq(out[j].reason, BERTD_PLUGIN_TOO_LONG, "record %d: %s", i, out[j].error);
      cr_assert(strstr(out[j].error, "over max_length 24"), "%s", out[j].error);
      cr_assert_str_eq(bertd_plugin_reason_name(out[j].reason), "too_long");
      cr_assert_eq(out[j].tokens, c.tokens[i]);
      cr_assert_gt(out[j].tokens, 24);
      seen_long++;
    } else {
      cr_assert_eq(out[j].reason, BERTD_PLUGIN_OK, "record %d: %s", i, out[j].error);
      cr_assert_str_eq(out[j].error, "");
      expect_same_result(out[j].result, c.expect[i], i, out[j].tokens);
    }
  }
  cr_assert_eq(seen_invalid, n_invalid);
  cr_assert_eq(seen_long, n_long);
  destroy_live();
  corpus_free(&c);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A lone record waits for company up to max_wait_ms, then runs: it completes no sooner than
 * max_wait_ms and no later than max_wait_ms plus its inference time (plus scheduling slack). */
Test(plugin, lone_record_completes_after_max_wait) {
  const char *dir = fixture("seq_cls");
  const char *text = "show me the cheapest flights from boston to denver tomorrow morning";
  /* the inference time of this record alone, measured the slow way: load, run */
  bertd_model *m;
  bertd_enricher *e;
  char err[512];
  cr_assert_eq(bertd_model_load(dir, &m, err, sizeof err), 0, "%s", err);
  bertd_enrich_opts o = {.task = BERTD_ENRICH_CLASSIFY};
  cr_assert_eq(bertd_enricher_create(m, &o, &e, err, sizeof err), 0, "%s", err);
  size_t len = strlen(text);
  json_t *res;
  char errors[1][256];
  double t0 = now_ms();
  cr_assert_eq(bertd_enricher_run(e, 1, &text, &len, NULL, NULL, &res, errors, err, sizeof err), 0);
  double inference_ms = now_ms() - t0;
  json_decref(res);
  bertd_enricher_free(e);
  bertd_model_free(m);

  const int wait_ms = 100;
  char json[2048];
  snprintf(json, sizeof json,
           "{\"model\":{\"dir\":\"%s\",\"task\":\"classify\"},\"batching\":{\"max_wait_ms\":%d,"
           "\"max_batch_records\":1000,\"max_batch_tokens\":100000}}",
           dir, wait_ms);
  bertd_plugin *p = create(json);
  for (int round = 0; round < 3; round++) {
    t0 = now_ms();
    cr_assert_eq(bertd_plugin_submit(p, text, len, NULL, 0, REF(round), err, sizeof err), 0);
    bertd_plugin_completion out[4];
    bertd_plugin_timing tm[4];
    int n = bertd_plugin_poll_timed(p, out, tm, 4, 5000);
    double elapsed = now_ms() - t0;
    cr_assert_eq(n, 1);
    /* the wait is queue time, the run is model time, and they make up the latency */
    cr_assert_geq(tm[0].queue_ms, wait_ms - 1.0, "queue_ms %.1f", tm[0].queue_ms);
    cr_assert_leq(tm[0].queue_ms, wait_ms + 50.0, "queue_ms %.1f", tm[0].queue_ms);
    cr_assert(tm[0].model_ms > 0 && tm[0].model_ms <= inference_ms + 50.0,
              "model_ms %.3f, inference alone %.3f", tm[0].model_ms, inference_ms);
    cr_assert_float_eq(tm[0].queue_ms + tm[0].model_ms, out[0].latency_ms, 1e-6);
    cr_assert_eq(out[0].reason, BERTD_PLUGIN_OK, "%s", out[0].error);
    cr_assert_geq(out[0].latency_ms, wait_ms - 1.0, "ran before max_wait_ms: %.1f ms",
                  out[0].latency_ms);
    /* 50 ms of slack for a loaded machine and sanitizers */
    cr_assert_leq(out[0].latency_ms, wait_ms + inference_ms + 50.0,
                  "latency %.1f ms > max_wait %d + inference %.1f", out[0].latency_ms, wait_ms,
                  inference_ms);
    cr_assert_leq(out[0].latency_ms, elapsed + 1.0);
  }
  destroy_live();
}

/* flush() runs buckets that are neither full nor old */
Test(plugin, flush_runs_every_bucket_now) {
  char json[2048];
  snprintf(json, sizeof json,
           "{\"model\":{\"dir\":\"%s\",\"task\":\"classify\"},\"batching\":{\"max_wait_ms\":"
           "600000,\"max_batch_records\":1000,\"max_batch_tokens\":1000000}}",
           fixture("seq_cls"));
  bertd_plugin *p = create(json);
  char err[512];
  rng_state = 7;
  for (int i = 0; i < 40; i++) {
    char *s = sentence(1);
    cr_assert_eq(bertd_plugin_submit(p, s, strlen(s), NULL, 0, REF(i), err, sizeof err), 0);
    free(s);
  }
  bertd_plugin_completion out[64];
  cr_assert_eq(bertd_plugin_poll(p, out, 64, 50), 0, "nothing is due before a flush");
  cr_assert_eq(bertd_plugin_in_flight(p), 40);
  double t0 = now_ms();
  cr_assert_eq(bertd_plugin_flush(p, 30000), 0);
  cr_assert_lt(now_ms() - t0, 30000);
  cr_assert_eq(bertd_plugin_in_flight(p), 40, "ready, but not yet polled");
  cr_assert_eq(bertd_plugin_poll(p, out, 64, 0), 40);
  cr_assert_eq(bertd_plugin_in_flight(p), 0);
  cr_assert_eq(bertd_plugin_flush(p, 0), 0, "nothing left: flush returns at once");
  destroy_live();
}

/* destroy() with records queued, running and ready: no crash, no leak (ASan), no completion */
Test(plugin, destroy_with_records_in_flight) {
  char json[2048];
  snprintf(json, sizeof json,
           "{\"model\":{\"dir\":\"%s\",\"task\":\"joint\"},\"batching\":{\"max_wait_ms\":0,"
           "\"max_batch_records\":4}}",
           fixture("joint"));
  char err[512];
  for (int round = 0; round < 5; round++) {
    bertd_plugin *p = create(json);
    rng_state = 8 + (uint64_t)round;
    for (int i = 0; i < 300; i++) {
      char *s = sentence(1);
      cr_assert_eq(bertd_plugin_submit(p, s, strlen(s), NULL, 0, REF(i), err, sizeof err), 0);
      free(s);
      if (round == 1 && i == 100) {  /* some handed out, then destroyed before a next poll */
        bertd_plugin_completion out[8];
        bertd_plugin_poll(p, out, 8, 100);
      }
    }
    cr_assert_gt(bertd_plugin_in_flight(p), 0);
    destroy_live();
  }
  bertd_plugin_destroy(NULL);
}

Test(plugin, config_errors_name_the_key) {
  struct { const char *json, *want; } cases[] = {
      {"", "config:"},
      {"[]", "config: expected an object with model and batching"},
      {"{}", "model: required, a mapping"},
      {"{\"model\":{\"task\":\"joint\"}}", "model: missing required key 'dir'"},
      {"{\"model\":{\"dir\":\"x\"}}", "model: missing required key 'task'"},
      {"{\"model\":{\"dir\":\"x\",\"task\":\"summarize\"}}",
       "model.task: unknown task 'summarize' (expected joint, classify, tag, embed, qa, tokenize, "
       "fill-mask or nsp)"},
      {"{\"model\":{\"dir\":\"x\",\"task\":\"joint\",\"top_k\":\"3\"}}",
       "model.top_k: expected an integer, got the string '3'"},
      {"{\"model\":{\"dir\":\"x\",\"task\":\"joint\",\"max_lenght\":3}}",
       "model: unknown key 'max_lenght'"},
      {"{\"model\":{\"dir\":\"x\",\"task\":\"joint\",\"on_too_long\":\"drop\"}}",
       "model.on_too_long: unknown on_too_long action 'drop' (expected truncate, dead_letter or "
       "window)"},
      {"{\"model\":{\"dir\":\"x\",\"task\":\"joint\",\"tag_decoding\":\"crf\"}}",
       "model.tag_decoding: unknown tag decoding 'crf' (expected bio or argmax)"},
      {"{\"model\":{\"dir\":\"x\",\"task\":\"joint\",\"threshold\":2}}",
       "model.threshold: must be between 0 and 1, got 2"},
      {"{\"model\":{\"dir\":\"x\",\"task\":\"tag\",\"threshold\":0.5}}",
       "model.threshold: threshold applies to tasks joint and classify only"},
      {"{\"model\":{\"dir\":\"x\",\"task\":\"joint\",\"threads\":0}}",
       "model.threads: must be positive, got 0"},
      {"{\"model\":{\"dir\":\"x\",\"task\":\"joint\"},\"batching\":{\"buckets\":[32,16]}}",
       "batching.buckets[1]: buckets must increase: 16 follows 32"},
      {"{\"model\":{\"dir\":\"x\",\"task\":\"joint\"},\"batching\":{\"buckets\":[16,256]}}",
       "batching.buckets[1]: bucket 256 is longer than model.max_length 128"},
      {"{\"model\":{\"dir\":\"x\",\"task\":\"joint\"},\"batching\":{\"max_batch_tokens\":100}}",
       "batching.max_batch_tokens: batching.max_batch_tokens 100 is smaller than one record of "
       "model.max_length 128"},
      {"{\"model\":{\"dir\":\"x\",\"task\":\"joint\"},\"batching\":{\"max_batch_records\":0}}",
       "batching.max_batch_records: must be positive, got 0"},
      {"{\"model\":{\"dir\":\"x\",\"task\":\"joint\"},\"batching\":{\"max_wait\":5}}",
       "batching: unknown key 'max_wait'"},
      {"{\"model\":{\"dir\":\"x\",\"task\":\"joint\"},\"pipeline\":1}",
       "config: unknown key 'pipeline'"},
      {"{\"model\":{\"dir\":\"/nonexistent/model\",\"task\":\"joint\"}}", "/nonexistent/model"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    bertd_plugin *p = (bertd_plugin *)&p; /* must be reset to NULL */
    char err[512] = "";
    cr_assert_eq(bertd_plugin_create(cases[i].json, &p, err, sizeof err), -1, "%s",
                 cases[i].json);
    cr_assert_null(p);
    cr_assert(strstr(err, cases[i].want), "config %s\n  error: %s\n  wanted: %s", cases[i].json,
              err, cases[i].want);
  }
  /* a model without the task's head */
  char json[2048], err[512];
  snprintf(json, sizeof json, "{\"model\":{\"dir\":\"%s\",\"task\":\"joint\"}}",
           fixture("seq_cls"));
  bertd_plugin *p;
  cr_assert_eq(bertd_plugin_create(json, &p, err, sizeof err), -1);
  cr_assert(strstr(err, "cannot do task 'joint'"), "%s", err);
}

Test(plugin, abi_version_and_table) {
  cr_assert_eq(bertd_plugin_abi_version(), BERTD_PLUGIN_ABI_VERSION);
  char err[256];
  cr_assert_eq(bertd_plugin_abi_check(BERTD_PLUGIN_ABI_VERSION, err, sizeof err), 0);
  cr_assert_eq(bertd_plugin_abi_check(BERTD_PLUGIN_ABI_VERSION + 1, err, sizeof err), -1);
  cr_assert(strstr(err, "ABI"), "%s", err);
  const bertd_plugin_api *api = bertd_plugin_get_api();
  cr_assert_eq(api->abi_version, BERTD_PLUGIN_ABI_VERSION);
  cr_assert_eq(api->struct_size, sizeof(bertd_plugin_api));
  cr_assert_eq(api->submit, bertd_plugin_submit);
  cr_assert_eq(api->poll, bertd_plugin_poll);
  /* 1.1's additions, behind the members a 1.0 host knows */
  cr_assert_eq(api->abi_minor, BERTD_PLUGIN_ABI_MINOR);
  cr_assert(BERTD_PLUGIN_API_HAS(api, poll_timed));
  cr_assert_eq(api->poll_timed, bertd_plugin_poll_timed);
  cr_assert(offsetof(bertd_plugin_api, abi_minor) > offsetof(bertd_plugin_api, model_info));
  cr_assert_str_eq(api->reason_name(BERTD_PLUGIN_INFERENCE), "inference");
  cr_assert_str_eq(api->reason_name(99), "unknown");
}

/* ABI 1.3: each batch's shape for the host's metrics. Two records per batch at most: three
 * copies of one text run as batches of 2 and 1 with no padding; a short and a long text share a
 * batch padded to the long one. */
Test(plugin, poll_batches_reports_each_batch_shape) {
  char json[1024];
  snprintf(json, sizeof json,
           "{\"model\":{\"dir\":\"%s\",\"task\":\"joint\"},\"batching\":{\"max_wait_ms\":10000,"
           "\"max_batch_records\":2,\"buckets\":[64]}}", fixture("joint"));
  bertd_plugin *p = create(json);
  char err[256];
  const char *same = "show me flights from boston to denver";
  const char *texts[5] = {same, same, same, "hi", "list the cheapest fares from dallas to boston"};
  bertd_plugin_completion out[8];
  int tokens[5];
  bertd_plugin_batch b[8];
  unsigned long long dropped = 99;
  for (int i = 0; i < 3; i++)
    cr_assert_eq(bertd_plugin_submit(p, texts[i], strlen(texts[i]), NULL, 0, REF(i), err,
                                     sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_plugin_flush(p, 10000), 0);
  cr_assert_eq(bertd_plugin_poll(p, out, 8, 0), 3);
  for (int i = 0; i < 3; i++) tokens[IDX(out[i].ref)] = out[i].tokens;
  cr_assert_eq(bertd_plugin_poll_batches(p, b, 8, &dropped), 2);
  cr_assert_eq(dropped, 0);
  cr_assert_eq(b[0].sequences, 2);
  cr_assert_eq(b[0].tokens, 2 * tokens[0]);
  cr_assert_eq(b[0].padded_tokens, 2 * tokens[0]);
  cr_assert_eq(b[1].sequences, 1);
  cr_assert_eq(b[1].tokens, tokens[0]);
  cr_assert_eq(b[1].padded_tokens, tokens[0]);
  cr_assert(b[0].model_ms > 0);
  for (int i = 3; i < 5; i++)
    cr_assert_eq(bertd_plugin_submit(p, texts[i], strlen(texts[i]), NULL, 0, REF(i), err,
                                     sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_plugin_flush(p, 10000), 0);
  cr_assert_eq(bertd_plugin_poll(p, out, 8, 0), 2);
  for (int i = 0; i < 2; i++) tokens[IDX(out[i].ref)] = out[i].tokens;
  cr_assert_lt(tokens[3], tokens[4]);
  cr_assert_eq(bertd_plugin_poll_batches(p, b, 8, NULL), 1);
  cr_assert_eq(b[0].sequences, 2);
  cr_assert_eq(b[0].tokens, tokens[3] + tokens[4]);
  cr_assert_eq(b[0].padded_tokens, 2 * tokens[4]);
  cr_assert_eq(bertd_plugin_poll_batches(p, b, 8, NULL), 0); /* each batch is reported once */
}

Test(plugin, model_json_names_the_model) {
  char json[1024];
  snprintf(json, sizeof json, "{\"model\":{\"dir\":\"%s\",\"task\":\"joint\",\"max_length\":32}}",
           fixture("joint"));
  bertd_plugin *p = create(json);
  char name[64], sum[64], got[512], want[512];
  bertd_plugin_model_info(p, name, sizeof name, sum, sizeof sum);
  snprintf(want, sizeof want, "{\"name\":\"joint\",\"checksum\":\"%s\",\"task\":\"joint\","
           "\"precision\":\"float32\",\"max_length\":32}", sum);
  cr_assert_eq(bertd_plugin_model_json(p, got, sizeof got), (int)strlen(want));
  cr_assert_str_eq(got, want);
  cr_assert_eq(bertd_plugin_model_json(p, got, 10), -1);
  const bertd_plugin_api *api = bertd_plugin_get_api();
  cr_assert(BERTD_PLUGIN_API_HAS(api, model_json) && BERTD_PLUGIN_API_HAS(api, poll_batches));
  cr_assert_eq(api->model_json, bertd_plugin_model_json);
  cr_assert_eq(api->poll_batches, bertd_plugin_poll_batches);
}
