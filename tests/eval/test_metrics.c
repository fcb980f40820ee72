/* test_metrics.c: classification and span metrics against scikit-learn and seqeval, whose
 * numbers tools/reference/make_metrics_fixtures.py stored in tests/fixtures/metrics/ for seeded
 * and hand-written inputs. (The real ATIS test gold: data_metrics.c.) */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_testutil.h"

static int tag_id(json_t *tags, const char *t) {
  for (size_t i = 0; i < json_array_size(tags); i++)
    if (!strcmp(json_string_value(json_array_get(tags, i)), t)) return (int)i;
  cr_assert_fail("tag %s not in the list", t);
  return -1;
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
