/* metrics_testutil.h: comparisons of bertd's metrics with the numbers scikit-learn and seqeval
 * gave (tests/fixtures/metrics/, made by tools/reference/make_metrics_fixtures.py), shared by
 * test_metrics.c and data_metrics.c (header-only: one executable per test file). */
#ifndef BERTD_METRICS_TESTUTIL_H
#define BERTD_METRICS_TESTUTIL_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bertd_metrics.h"

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

#endif
