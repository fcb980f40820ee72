/* test_metrics.c: classification and span metrics against scikit-learn and seqeval, whose
 * numbers tools/reference/make_metrics_fixtures.py stored in tests/fixtures/metrics/, plus the
 * real ATIS test gold against a deterministic corruption of it (the same rule as the script). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define TOL 1e-9

static char err[256];

static json_t *load(const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/metrics/%s", BERTD_FIXTURES, name);
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  cr_assert(j, "%s: %s", path, je.text);
  return j;
}

static void expect_prf(const bertd_prf *got, json_t *want, const char *what) {
  double p = json_number_value(json_array_get(want, 0)), r = json_number_value(json_array_get(want, 1)),
         f = json_number_value(json_array_get(want, 2));
  size_t s = (size_t)json_integer_value(json_array_get(want, 3));
  cr_expect(fabs(got->precision - p) < TOL, "%s precision %.17g, want %.17g", what, got->precision, p);
  cr_expect(fabs(got->recall - r) < TOL, "%s recall %.17g, want %.17g", what, got->recall, r);
  cr_expect(fabs(got->f1 - f) < TOL, "%s f1 %.17g, want %.17g", what, got->f1, f);
  cr_expect_eq(got->support, s, "%s support %zu, want %zu", what, got->support, s);
}

static int tag_id(json_t *tags, const char *t) {
  for (size_t i = 0; i < json_array_size(tags); i++)
    if (!strcmp(json_string_value(json_array_get(tags, i)), t)) return (int)i;
  cr_assert_fail("tag %s not in the list", t);
  return -1;
}

/* Compares a span report with seqeval's classification_report (per type and averages). */
static void expect_span_report(const bertd_span_report *r, json_t *exp, const char *name) {
  json_t *per = json_object_get(exp, "per_type");
  cr_expect_eq((size_t)r->n_present, json_object_size(per), "%s: %d types present, seqeval %zu",
               name, r->n_present, json_object_size(per));
  for (int t = 0; t < r->n_types; t++) {
    json_t *want = json_object_get(per, r->types[t]);
    cr_expect(!want == !r->present[t], "%s: type %s present %d", name, r->types[t], r->present[t]);
    if (want) {
      char what[256];
      snprintf(what, sizeof what, "%s %s", name, r->types[t]);
      expect_prf(&r->per_type[t], want, what);
    }
  }
  json_t *avg = json_object_get(exp, "averages");
  expect_prf(&r->micro, json_object_get(avg, "micro"), "micro");
  expect_prf(&r->macro, json_object_get(avg, "macro"), "macro");
  expect_prf(&r->weighted, json_object_get(avg, "weighted"), "weighted");
  cr_expect(fabs(r->micro.f1 - json_number_value(json_object_get(exp, "f1_score"))) < TOL);
}

Test(metrics, spans_match_seqeval) {
  json_t *root = load("spans.json"), *cases = json_object_get(root, "cases");
  cr_assert_geq(json_array_size(cases), 4);
  for (size_t c = 0; c < json_array_size(cases); c++) {
    json_t *cs = json_array_get(cases, c), *tags = json_object_get(cs, "tags");
    const char *name = json_string_value(json_object_get(cs, "name"));
    int n_tags = (int)json_array_size(tags);
    const char **names = malloc(sizeof(char *) * (size_t)n_tags);
    for (int i = 0; i < n_tags; i++) names[i] = json_string_value(json_array_get(tags, i));
    bertd_span_counts sc;
    cr_assert_eq(bertd_span_counts_init(&sc, names, n_tags, err, sizeof err), 0, "%s", err);
    json_t *gold = json_object_get(cs, "gold"), *pred = json_object_get(cs, "pred");
    for (size_t s = 0; s < json_array_size(gold); s++) {
      json_t *gs = json_array_get(gold, s), *ps = json_array_get(pred, s);
      int n = (int)json_array_size(gs);
      int32_t g[64], p[64];
      cr_assert_leq(n, 64);
      for (int i = 0; i < n; i++) {
        g[i] = tag_id(tags, json_string_value(json_array_get(gs, (size_t)i)));
        p[i] = tag_id(tags, json_string_value(json_array_get(ps, (size_t)i)));
      }
      cr_assert_eq(bertd_span_counts_add(&sc, g, p, n, err, sizeof err), 0, "%s", err);
    }
    bertd_span_report r;
    cr_assert_eq(bertd_span_report_compute(&sc, &r, err, sizeof err), 0, "%s", err);
    expect_span_report(&r, json_object_get(cs, "expected"), name);
    printf("spans %-20s micro P %.6f R %.6f F1 %.6f over %zu gold spans (seqeval %.6f)\n", name,
           r.micro.precision, r.micro.recall, r.micro.f1, r.micro.support,
           json_number_value(json_object_get(json_object_get(cs, "expected"), "f1_score")));
    bertd_span_report_free(&r);
    bertd_span_counts_free(&sc);
    free(names);
  }
  json_decref(root);
}

static void expect_class_report(const bertd_confusion *cm, json_t *exp, const char *name) {
  bertd_class_report r;
  cr_assert_eq(bertd_class_report_compute(cm, &r, err, sizeof err), 0, "%s", err);
  cr_expect(fabs(r.accuracy - json_number_value(json_object_get(exp, "accuracy"))) < TOL,
            "%s accuracy %.17g", name, r.accuracy);
  json_t *per = json_object_get(exp, "per_class");
  cr_expect_eq((size_t)r.n_present, json_object_size(per));
  for (int c = 0; c < r.n_classes; c++) {
    char key[16], what[64];
    snprintf(key, sizeof key, "%d", c);
    snprintf(what, sizeof what, "%s class %d", name, c);
    json_t *want = json_object_get(per, key);
    cr_expect(!want == !r.present[c], "%s present %d", what, r.present[c]);
    if (want) expect_prf(&r.per_class[c], want, what);
  }
  json_t *avg = json_object_get(exp, "averages");
  expect_prf(&r.micro, json_object_get(avg, "micro"), "micro");
  expect_prf(&r.macro, json_object_get(avg, "macro"), "macro");
  expect_prf(&r.weighted, json_object_get(avg, "weighted"), "weighted");
  json_t *conf = json_object_get(exp, "confusion");
  cr_assert_eq(json_array_size(conf), (size_t)cm->n_classes);
  for (int g = 0; g < cm->n_classes; g++)
    for (int p = 0; p < cm->n_classes; p++)
      cr_expect_eq(cm->counts[g * cm->n_classes + p],
                   (size_t)json_integer_value(json_array_get(json_array_get(conf, (size_t)g), (size_t)p)),
                   "%s confusion[%d][%d]", name, g, p);
  printf("classes %-18s accuracy %.6f macro F1 %.6f micro F1 %.6f weighted F1 %.6f\n", name,
         r.accuracy, r.macro.f1, r.micro.f1, r.weighted.f1);
  bertd_class_report_free(&r);
}

Test(metrics, classes_match_sklearn) {
  json_t *root = load("classes.json"), *cases = json_object_get(root, "cases");
  for (size_t c = 0; c < json_array_size(cases); c++) {
    json_t *cs = json_array_get(cases, c);
    bertd_confusion cm;
    int n = (int)json_integer_value(json_object_get(cs, "n_classes"));
    cr_assert_eq(bertd_confusion_init(&cm, n, err, sizeof err), 0);
    json_t *gold = json_object_get(cs, "gold"), *pred = json_object_get(cs, "pred");
    for (size_t i = 0; i < json_array_size(gold); i++)
      cr_assert_eq(bertd_confusion_add(&cm, (int32_t)json_integer_value(json_array_get(gold, i)),
                                       (int32_t)json_integer_value(json_array_get(pred, i)), err,
                                       sizeof err), 0, "%s", err);
    expect_class_report(&cm, json_object_get(cs, "expected"),
                        json_string_value(json_object_get(cs, "name")));
    bertd_confusion_free(&cm);
  }
  json_decref(root);
}

/* ---- ATIS test gold vs its corruption (mirrors corrupt_* in make_metrics_fixtures.py) ---- */

typedef struct lines {
  char **v;
  int n;
} lines;

static lines read_lines(const char *rel) {
  char path[1024];
  snprintf(path, sizeof path, "%s/atis/%s", BERTD_SHARED_DATA, rel);
  FILE *f = fopen(path, "r");
  cr_assert(f, "cannot open %s", path);
  lines l = {0};
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, f)) >= 0) {
    if (len && line[len - 1] == '\n') line[len - 1] = 0;
    l.v = realloc(l.v, sizeof(char *) * (size_t)(l.n + 1));
    l.v[l.n++] = strdup(line);
  }
  free(line);
  fclose(f);
  return l;
}

static void free_lines(lines *l) {
  for (int i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
}

static int index_of(const lines *l, const char *s) {
  for (int i = 0; i < l->n; i++)
    if (!strcmp(l->v[i], s)) return i;
  return -1;
}

static int32_t corrupt_intent(int i, int32_t gold, int n_intents) {
  if (i % 17 == 0) return (gold + 1) % n_intents;
  if (i % 23 == 3) return 0;
  return gold;
}

static int32_t corrupt_slot(int i, int j, int32_t gold, const lines *slots) {
  int h = (i * 7 + j * 13) % 29;
  if (h == 0) return index_of(slots, "O");
  if (h == 1) return (gold + 1) % slots->n;
  if (h == 2 && !strncmp(slots->v[gold], "B-", 2)) {
    char tag[256];
    snprintf(tag, sizeof tag, "I-%s", slots->v[gold] + 2);
    int k = index_of(slots, tag);
    return k >= 0 ? k : gold;
  }
  return gold;
}

Test(metrics, atis_test_gold_vs_corruption) {
  json_t *exp = load("atis_test.json");
  lines intents = read_lines("intent_label.txt"), slots = read_lines("slot_label.txt");
  lines label = read_lines("test/label"), seq_out = read_lines("test/seq.out");
  cr_assert_eq(label.n, (int)json_integer_value(json_object_get(exp, "sentences")));
  cr_assert_eq(seq_out.n, label.n);
  bertd_joint_eval je;
  cr_assert_eq(bertd_joint_eval_init(&je, intents.n, (const char *const *)slots.v, slots.n, err,
                                     sizeof err), 0, "%s", err);
  int unk_i = index_of(&intents, "UNK"), unk_s = index_of(&slots, "UNK");
  size_t changed_tags = 0, changed_intents = 0;
  for (int i = 0; i < label.n; i++) {
    int gi = index_of(&intents, label.v[i]);
    if (gi < 0) gi = unk_i;
    int pi = corrupt_intent(i, gi, intents.n);
    int32_t g[128], p[128];
    int n = 0;
    for (char *save = NULL, *t = strtok_r(seq_out.v[i], " ", &save); t; t = strtok_r(NULL, " ", &save)) {
      cr_assert_lt(n, 128);
      g[n] = index_of(&slots, t);
      if (g[n] < 0) g[n] = unk_s;
      p[n] = corrupt_slot(i, n, g[n], &slots);
      changed_tags += g[n] != p[n];
      n++;
    }
    changed_intents += gi != pi;
    cr_assert_eq(bertd_joint_eval_add(&je, gi, pi, g, p, n, err, sizeof err), 0, "%s", err);
  }
  cr_expect_eq(changed_intents, (size_t)json_integer_value(json_object_get(exp, "changed_intents")));
  cr_expect_eq(changed_tags, (size_t)json_integer_value(json_object_get(exp, "changed_tags")));
  bertd_joint_summary sum;
  cr_assert_eq(bertd_joint_eval_summary(&je, &sum, err, sizeof err), 0, "%s", err);
  json_t *slot_exp = json_object_get(exp, "slots");
  double want_sent = json_number_value(json_object_get(exp, "sentence_accuracy"));
  cr_expect(fabs(sum.sentence_accuracy - want_sent) < TOL, "sentence accuracy %.17g want %.17g",
            sum.sentence_accuracy, want_sent);
  cr_expect(fabs(sum.slot_f1 - json_number_value(json_object_get(slot_exp, "f1_score"))) < TOL);
  cr_expect(fabs(sum.slot_precision - json_number_value(json_object_get(slot_exp, "precision_score"))) < TOL);
  cr_expect(fabs(sum.slot_recall - json_number_value(json_object_get(slot_exp, "recall_score"))) < TOL);
  bertd_span_report r;
  cr_assert_eq(bertd_span_report_compute(&je.slots, &r, err, sizeof err), 0);
  expect_span_report(&r, slot_exp, "atis");
  bertd_span_report_free(&r);
  expect_class_report(&je.intents, json_object_get(exp, "intents"), "atis_intents");
  printf("atis test (corrupted %zu intents, %zu tags): intent acc %.6f, slot P %.6f R %.6f F1 %.6f, "
         "sentence acc %.6f\n", changed_intents, changed_tags, sum.intent_accuracy,
         sum.slot_precision, sum.slot_recall, sum.slot_f1, sum.sentence_accuracy);
  bertd_joint_eval_free(&je);
  free_lines(&intents), free_lines(&slots), free_lines(&label), free_lines(&seq_out);
  json_decref(exp);
}

Test(metrics, errors_and_empty) {
  bertd_confusion cm;
  cr_assert_eq(bertd_confusion_init(&cm, 3, err, sizeof err), 0);
  cr_expect_eq(bertd_confusion_add(&cm, 0, 3, err, sizeof err), -1);
  cr_expect_str_eq(err, "metrics: class pair (gold 0, predicted 3) outside [0, 3)");
  cr_expect_eq(bertd_confusion_accuracy(&cm), 0.0);
  bertd_confusion_free(&cm);
  const char *tags[] = {"O", "B-X", "I-X"};
  bertd_span_counts sc;
  cr_assert_eq(bertd_span_counts_init(&sc, tags, 3, err, sizeof err), 0);
  int32_t g[2] = {1, 2}, p[2] = {1, -100};
  cr_expect_eq(bertd_span_counts_add(&sc, g, p, 2, err, sizeof err), -1);
  cr_expect_str_eq(err, "metrics: tag pair (gold 2, predicted -100) at word 1 outside [0, 3)");
  bertd_span_report r;
  cr_assert_eq(bertd_span_report_compute(&sc, &r, err, sizeof err), 0);
  cr_expect_eq(r.micro.f1, 0.0);
  cr_expect_eq(r.n_present, 0);
  bertd_span_report_free(&r);
  bertd_span_counts_free(&sc);
  bertd_joint_eval je;
  cr_assert_eq(bertd_joint_eval_init(&je, 2, tags, 3, err, sizeof err), 0);
  cr_expect_eq(bertd_joint_eval_add(&je, 2, 0, g, g, 2, err, sizeof err), -1);
  cr_expect_str_eq(err, "metrics: intent pair (gold 2, predicted 0) outside [0, 2)");
  cr_expect_eq(je.sentences, 0);
  cr_expect_eq(je.intents.total, 0);
  bertd_joint_eval_free(&je);
}
