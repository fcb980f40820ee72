/* test_replay_stats.c: the replay's statistics against numpy and scipy, whose answers
 * tools/reference/make_replay_fixtures.py stored in tests/fixtures/replay/stats.json for seeded
 * inputs: exact McNemar p-values (scipy.stats.binomtest), expected calibration error with its 15
 * bins (edges included) and percentiles (numpy's linear method); and the ISO 8601 times that
 * --from-time / --to-time take. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bertd_metrics.h"
#include "bertd_replay.h"

static json_t *load(void) {
  char path[1024];
  snprintf(path, sizeof path, "%s/replay/stats.json", BERTD_FIXTURES);
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  cr_assert(j, "%s: %s", path, je.text);
  return j;
}

Test(replay_stats, mcnemar_matches_scipy) {
  json_t *root = load(), *cases = json_object_get(root, "mcnemar");
  cr_assert_geq(json_array_size(cases), 8);
  for (size_t i = 0; i < json_array_size(cases); i++) {
    json_t *c = json_array_get(cases, i);
    size_t a = (size_t)json_integer_value(json_array_get(c, 0)),
           b = (size_t)json_integer_value(json_array_get(c, 1));
    double want = json_number_value(json_array_get(c, 2)), got = bertd_mcnemar_exact(a, b);
    cr_assert(fabs(got - want) <= 1e-12 + 1e-9 * want, "McNemar(%zu, %zu): %.17g, scipy %.17g",
              a, b, got, want);
  }
  json_decref(root);
}

Test(replay_stats, ece_matches_numpy) {
  json_t *root = load(), *e = json_object_get(root, "ece");
  json_t *conf = json_object_get(e, "conf"), *right = json_object_get(e, "right");
  size_t n = json_array_size(conf);
  cr_assert_eq(n, json_array_size(right));
  float *c = malloc(sizeof(float) * n);
  uint8_t *r = malloc(n);
  for (size_t i = 0; i < n; i++) {
    c[i] = (float)json_number_value(json_array_get(conf, i));
    r[i] = (uint8_t)json_integer_value(json_array_get(right, i));
  }
  bertd_calib_bin bins[BERTD_ECE_BINS];
  double got = bertd_ece(c, r, n, bins), want = json_number_value(json_object_get(e, "ece"));
  /* confidences reach bertd as floats (the enrichment's scores), numpy's as doubles */
  cr_assert(fabs(got - want) < 1e-7, "ECE %.17g, numpy %.17g", got, want);
  json_t *wb = json_object_get(e, "bins");
  for (int k = 0; k < BERTD_ECE_BINS; k++) {
    json_t *b = json_array_get(wb, (size_t)k);
    cr_assert_eq(bins[k].count, (size_t)json_integer_value(json_object_get(b, "count")),
                 "bin %d count", k);
    cr_assert(fabs(bins[k].accuracy - json_number_value(json_object_get(b, "accuracy"))) < 1e-12,
              "bin %d accuracy", k);
    cr_assert(fabs(bins[k].confidence - json_number_value(json_object_get(b, "confidence"))) <
                  1e-7, "bin %d confidence", k);
  }
  cr_assert_eq(bertd_ece(c, r, 0, NULL), 0.0);
  free(c);
  free(r);
  json_decref(root);
}

Test(replay_stats, percentiles_match_numpy) {
  json_t *root = load(), *p = json_object_get(root, "percentile");
  json_t *vals = json_object_get(p, "values"), *cases = json_object_get(p, "cases");
  size_t n = json_array_size(vals);
  double *v = malloc(sizeof(double) * n);
  for (size_t i = 0; i < n; i++) v[i] = json_number_value(json_array_get(vals, i));
  for (size_t i = 0; i < json_array_size(cases); i++) {
    double q = json_number_value(json_array_get(json_array_get(cases, i), 0)),
           want = json_number_value(json_array_get(json_array_get(cases, i), 1));
    double got = bertd_percentile_sorted(v, n, q);
    cr_assert(fabs(got - want) < 1e-12, "percentile %g: %.17g, numpy %.17g", q, got, want);
  }
  free(v);
  json_decref(root);
}

Test(replay_stats, iso8601_times) {
  int64_t ms;
  /* 2026-12-06T10:00:00Z is 1796551200 s after the epoch (date -u -d ... +%s) */
  cr_assert_eq(bertd_replay_parse_time("2026-12-06T10:00:00Z", &ms), 0);
  cr_assert_eq(ms, 1796551200000LL);
  cr_assert_eq(bertd_replay_parse_time("2026-12-06T12:00:00.250+02:00", &ms), 0);
  cr_assert_eq(ms, 1796551200250LL);
  cr_assert_eq(bertd_replay_parse_time("2026-12-06", &ms), 0);
  cr_assert_eq(ms, 1796515200000LL);
  cr_assert_eq(bertd_replay_parse_time("1970-01-01T00:00:00Z", &ms), 0);
  cr_assert_eq(ms, 0);
  const char *bad[] = {"yesterday", "2026-13-01", "2026-12-06T25:00:00Z", "2026-12-06T10:00Z",
                       "2026-12-06T10:00:00+0200", "2026-12-06T10:00:00Zjunk", ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    cr_assert_eq(bertd_replay_parse_time(bad[i], &ms), -1, "'%s' accepted", bad[i]);
}
