/* test_metrics.c: the registry's Prometheus text, exactly (consumer/metrics.c). The format's
 * rules checked here: HELP and TYPE before the samples, label values escaped, histogram buckets
 * cumulative with le="+Inf" equal to _count, values in their shortest exact form. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

Test(metrics, renders_counters_gauges_histograms_exactly) {
  bertd_metrics *m = bertd_metrics_new();
  cr_assert_not_null(m);
  const double bounds[] = {0.5, 1, 2.5};
  int c = bertd_metrics_family(m, "bertd_x_total", BERTD_METRIC_COUNTER, "Xs seen.", NULL, 0);
  int g = bertd_metrics_family(m, "bertd_depth", BERTD_METRIC_GAUGE, "Depth.", NULL, 0);
  int h = bertd_metrics_family(m, "bertd_wait_seconds", BERTD_METRIC_HISTOGRAM, "Waits.",
                               bounds, 3);
  int e = bertd_metrics_family(m, "bertd_empty", BERTD_METRIC_GAUGE, "No series.", NULL, 0);
  cr_assert(c == 0 && g == 1 && h == 2 && e == 3);
  char l[128];
  bertd_metrics_add(m, c, bertd_metrics_labels(l, sizeof l, "reason", "a\"b\\c\nd", NULL), 2);
  bertd_metrics_add(m, c, l, 1);
  bertd_metrics_add(m, c, "", 0.5);
  bertd_metrics_set(m, g, "", 7);
  bertd_metrics_set(m, g, "", 1e-3);
  bertd_metrics_labels(l, sizeof l, "pipeline", "p", NULL);
  const double obs[] = {0.25, 0.5, 0.75, 3, 1};
  for (int i = 0; i < 5; i++) bertd_metrics_observe(m, h, l, obs[i]);
  size_t len = 0;
  char *text = bertd_metrics_render(m, &len);
  cr_assert_not_null(text);
  const char *want =
      "# HELP bertd_x_total Xs seen.\n"
      "# TYPE bertd_x_total counter\n"
      "bertd_x_total{reason=\"a\\\"b\\\\c\\nd\"} 3\n"
      "bertd_x_total 0.5\n"
      "# HELP bertd_depth Depth.\n"
      "# TYPE bertd_depth gauge\n"
      "bertd_depth 0.001\n"
      "# HELP bertd_wait_seconds Waits.\n"
      "# TYPE bertd_wait_seconds histogram\n"
      "bertd_wait_seconds_bucket{pipeline=\"p\",le=\"0.5\"} 2\n"
      "bertd_wait_seconds_bucket{pipeline=\"p\",le=\"1\"} 4\n"
      "bertd_wait_seconds_bucket{pipeline=\"p\",le=\"2.5\"} 4\n"
      "bertd_wait_seconds_bucket{pipeline=\"p\",le=\"+Inf\"} 5\n"
      "bertd_wait_seconds_sum{pipeline=\"p\"} 5.5\n"
      "bertd_wait_seconds_count{pipeline=\"p\"} 5\n"
      "# HELP bertd_empty No series.\n"
      "# TYPE bertd_empty gauge\n";
  cr_assert_str_eq(text, want);
  cr_assert_eq(len, strlen(want));
  free(text);

  /* clear drops a family's series, the others stay */
  bertd_metrics_clear(m, c);
  text = bertd_metrics_render(m, &len);
  cr_assert_null(strstr(text, "bertd_x_total{"));
  cr_assert_not_null(strstr(text, "bertd_depth 0.001\n"));
  free(text);
  bertd_metrics_free(m);
}

Test(metrics, labels_that_do_not_fit_are_empty) {
  char l[16];
  cr_assert_str_eq(bertd_metrics_labels(l, sizeof l, "a", "1", "b", "2", NULL), "a=\"1\",b=\"2\"");
  cr_assert_str_eq(bertd_metrics_labels(l, sizeof l, "pipeline", "much-too-long", NULL), "");
}
