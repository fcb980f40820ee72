/* test_enrich_threshold.c: model.threshold / --threshold for each task that takes one.
 *
 * A threshold t reports the labels (classify) or intents (joint) scoring at least t, best
 * first, up to top_k; t = 0 reports them all, and "no threshold" is not 0: it reports top_k
 * labels whatever their score, except multi-label classify, which keeps the labels scoring at
 * least 0.5 (sigmoid >= 0.5, the usual decision). The expected labels are derived here from the
 * fixture's golden logits (written by transformers, tools/reference/make_model_fixtures.py, for
 * its first text), never from bertd's own scores. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bertd.h"
#include "bertd_enrich.h"

/* make_model_fixtures.py's TEXTS[0], the golden file's inputs[0] */
static const char TEXT[] = "show me the cheapest flights from boston to denver";

typedef struct expected {
  char labels[8][64];
  double scores[8];
  int n;
} expected;

static json_t *golden(const char *model) {
  char path[512];
  snprintf(path, sizeof path, "%s/models/%s/golden.json", BERTD_FIXTURES, model);
  json_error_t je;
  json_t *g = json_load_file(path, 0, &je);
  cr_assert(g, "%s: %s", path, je.text);
  return g;
}

/* Label names and transformers' probabilities for inputs[0], best first. */
static int reference(const char *model, const char *logits_key, int multi, char names[8][64],
                     double probs[8]) {
  json_t *g = golden(model);
  json_t *logits = json_object_get(json_array_get(json_object_get(g, "inputs"), 0), logits_key);
  int n = (int)json_array_size(logits);
  cr_assert(n > 0 && n <= 8);
  if (n > 8) n = 8; /* what the assert said, in a form the optimiser sees (-Warray-bounds at -O3) */
  double mx = -1e30, sum = 0, z[8];
  for (int i = 0; i < n; i++) {
    z[i] = json_number_value(json_array_get(logits, (size_t)i));
    if (z[i] > mx) mx = z[i];
  }
  for (int i = 0; i < n; i++) sum += exp(z[i] - mx);
  for (int i = 0; i < n; i++)
    probs[i] = multi ? 1.0 / (1.0 + exp(-z[i])) : exp(z[i] - mx) / sum;
  if (!strcmp(model, "joint")) { /* JointBERT names intents in intent_label.txt */
    char path[512], line[64];
    snprintf(path, sizeof path, "%s/models/joint/intent_label.txt", BERTD_FIXTURES);
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s", path);
    for (int i = 0; i < n && fgets(line, sizeof line, f); i++) {
      line[strcspn(line, "\r\n")] = 0;
      snprintf(names[i], 64, "%s", line);
    }
    fclose(f);
  } else {
    json_t *id2label = json_object_get(g, "id2label");
    for (int i = 0; i < n; i++) {
      char id[16];
      snprintf(id, sizeof id, "%d", i);
      snprintf(names[i], 64, "%s", json_string_value(json_object_get(id2label, id)));
    }
  }
  json_decref(g);
  /* best first (selection sort keeps it obvious) */
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      if (probs[j] > probs[i]) {
        double t = probs[i];
        probs[i] = probs[j];
        probs[j] = t;
        char s[64];
        memcpy(s, names[i], 64);
        memcpy(names[i], names[j], 64);
        memcpy(names[j], s, 64);
      }
  return n;
}

/* What a threshold (has: 0 for none) must report of the reference. */
static expected expect(const char *model, const char *logits_key, int multi, int has, float t) {
  char names[8][64];
  double probs[8];
  int n = reference(model, logits_key, multi, names, probs);
  expected e = {.n = 0};
  float cut = has ? t : multi ? 0.5f : -1.0f;
  for (int i = 0; i < n; i++)
    if (probs[i] >= cut) {
      memcpy(e.labels[e.n], names[i], 64);
      e.scores[e.n++] = probs[i];
    }
  return e;
}

/* Runs TEXT through the enricher and returns its result. */
static json_t *enrich(const char *model, bertd_enrich_task task, int has, float t) {
  char dir[512], err[512];
  snprintf(dir, sizeof dir, "%s/models/%s", BERTD_FIXTURES, model);
  bertd_model *m = NULL;
  cr_assert_eq(bertd_model_load(dir, &m, err, sizeof err), 0, "%s", err);
  /* top_k 8: every label, so what is left out was left out by the threshold */
  bertd_enrich_opts o = {.task = task, .top_k = 8, .has_threshold = has, .threshold = t};
  bertd_enricher *e = NULL;
  cr_assert_eq(bertd_enricher_create(m, &o, &e, err, sizeof err), 0, "%s", err);
  /* the text is the golden input: same token ids */
  bertd_encoding enc = {0};
  cr_assert_eq(bertd_tokenizer_encode(bertd_model_tokenizer(m), TEXT, strlen(TEXT), NULL, 0,
                                      bertd_model_max_length(m),
                                      BERTD_TRUNC_LONGEST_FIRST, &enc, err, sizeof err), 0);
  json_t *g = golden(model);
  json_t *ids = json_object_get(json_array_get(json_object_get(g, "inputs"), 0), "ids");
  cr_assert_eq((int)json_array_size(ids), enc.n, "%s: the text is not the golden input", model);
  for (int i = 0; i < enc.n; i++)
    cr_assert_eq(enc.ids[i], json_integer_value(json_array_get(ids, (size_t)i)));
  json_decref(g);
  bertd_encoding_free(&enc);
  const char *texts[1] = {TEXT};
  size_t lens[1] = {strlen(TEXT)};
  json_t *res[1] = {NULL};
  char errors[1][256];
  cr_assert_eq(bertd_enricher_run(e, 1, texts, lens, NULL, NULL, res, errors, err, sizeof err),
               0, "%s", err);
  cr_assert(res[0], "%s", errors[0]);
  bertd_enricher_free(e);
  bertd_model_free(m);
  return res[0];
}

static void check_list(json_t *list, const expected *want, const char *what) {
  cr_assert_eq((int)json_array_size(list), want->n, "%s: %d labels reported, want %d", what,
               (int)json_array_size(list), want->n);
  for (int i = 0; i < want->n; i++) {
    json_t *ls = json_array_get(list, (size_t)i);
    cr_assert_str_eq(json_string_value(json_object_get(ls, "label")), want->labels[i], "%s", what);
    cr_assert_float_eq(json_real_value(json_object_get(ls, "score")), want->scores[i], 1e-5,
                       "%s", what);
  }
}

static void classify_case(const char *model, int multi, int has, float t) {
  char what[128];
  snprintf(what, sizeof what, "%s, threshold %s%.1f", model, has ? "" : "unset ", (double)t);
  expected want = expect(model, "logits", multi, has, t);
  json_t *r = enrich(model, BERTD_ENRICH_CLASSIFY, has, t);
  check_list(json_object_get(r, "labels"), &want, what);
  json_decref(r);
}

static void joint_case(int has, float t) {
  char what[128];
  snprintf(what, sizeof what, "joint, threshold %s%.1f", has ? "" : "unset ", (double)t);
  expected want = expect("joint", "intent_logits", 0, has, t);
  json_t *r = enrich("joint", BERTD_ENRICH_JOINT, has, t);
  check_list(json_object_get(r, "intents"), &want, what);
  json_t *intent = json_object_get(r, "intent");
  if (want.n == 0) {
    cr_assert(json_is_null(intent), "%s: no intent scores at least the threshold", what);
  } else {
    cr_assert_str_eq(json_string_value(json_object_get(intent, "label")), want.labels[0], "%s",
                     what);
  }
  json_decref(r);
}

/* The fixtures' scores sit near 1/n (tiny random heads), so 0.3 splits the joint intents
 * (all below it) from threshold 0 (all reported), and 0.5 splits the multi-label ones. */
Test(enrich_threshold, classify_single_label) {
  classify_case("seq_cls", 0, 0, 0);
  classify_case("seq_cls", 0, 1, 0.0f);
  classify_case("seq_cls", 0, 1, 0.3f);
  classify_case("seq_cls", 0, 1, 1.0f);
  cr_assert_eq(expect("seq_cls", "logits", 0, 1, 0.0f).n, 3);
  cr_assert_eq(expect("seq_cls", "logits", 0, 1, 1.0f).n, 0);
}

Test(enrich_threshold, classify_multi_label) {
  classify_case("multi_label", 1, 0, 0);
  classify_case("multi_label", 1, 1, 0.0f);
  classify_case("multi_label", 1, 1, 0.3f);
  classify_case("multi_label", 1, 1, 1.0f);
  /* the fixture tells "unset" (0.5) from 0: some labels score under 0.5 */
  int unset = expect("multi_label", "logits", 1, 0, 0).n;
  cr_assert(unset > 0 && unset < expect("multi_label", "logits", 1, 1, 0.0f).n);
}

Test(enrich_threshold, joint_intents) {
  joint_case(0, 0);
  joint_case(1, 0.0f);
  joint_case(1, 0.3f);
  joint_case(1, 1.0f);
  cr_assert_eq(expect("joint", "intent_logits", 0, 1, 0.0f).n, 4);
  cr_assert_eq(expect("joint", "intent_logits", 0, 1, 0.3f).n, 0);
}

Test(enrich_threshold, other_tasks_refuse_a_threshold) {
  char dir[512], err[512];
  snprintf(dir, sizeof dir, "%s/models/token_cls", BERTD_FIXTURES);
  bertd_model *m = NULL;
  cr_assert_eq(bertd_model_load(dir, &m, err, sizeof err), 0, "%s", err);
  bertd_enrich_opts o = {.task = BERTD_ENRICH_TAG, .has_threshold = 1, .threshold = 0.3f};
  bertd_enricher *e = NULL;
  cr_assert_eq(bertd_enricher_create(m, &o, &e, err, sizeof err), -1);
  cr_assert_str_eq(err, "threshold applies to the classify and joint tasks, not 'tag'");
  o = (bertd_enrich_opts){.task = BERTD_ENRICH_CLASSIFY, .has_threshold = 1, .threshold = 1.5f};
  bertd_model_free(m);
  snprintf(dir, sizeof dir, "%s/models/seq_cls", BERTD_FIXTURES);
  cr_assert_eq(bertd_model_load(dir, &m, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_enricher_create(m, &o, &e, err, sizeof err), -1);
  cr_assert_str_eq(err, "threshold 1.5 is not in [0, 1]");
  bertd_model_free(m);
}
