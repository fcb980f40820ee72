/* data_metrics.c: the real ATIS test gold (intents and slot tags, labels missing from the label
 * lists mapped to UNK as JointBERT does) against a deterministic corruption of it (the same rule
 * as corrupt_* in tools/reference/make_metrics_fixtures.py), compared with the numbers seqeval
 * and scikit-learn gave (tests/fixtures/metrics/atis_test.json). ATIS is read where
 * tests/data_gate.sh resolves it.
 * data sets: atis */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_testutil.h"

typedef struct lines {
  char **v;
  int n;
} lines;

static lines read_lines(const char *rel) {
  char path[1024];
  const char *dir = getenv("BERTD_DATA_ATIS");
  cr_assert(dir && *dir, "BERTD_DATA_ATIS is not set: run through tests/data_gate.sh");
  snprintf(path, sizeof path, "%s/%s", dir, rel);
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

Test(data_metrics, atis_test_gold_vs_corruption) {
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
