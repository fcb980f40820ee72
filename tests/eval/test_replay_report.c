/* test_replay_report.c: the HTML report's confusion plot: a full heatmap up to 20 classes, the
 * most confused (gold, predicted) pairs beyond, in order of count; and text is escaped. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bertd_replay.h"

static char *render(json_t *rep) {
  char path[] = "/tmp/bertd-report-XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  close(fd);
  char err[256];
  cr_assert_eq(bertd_replay_write_html(rep, path, err, sizeof err), 0, "%s", err);
  FILE *f = fopen(path, "r");
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = 0;
  fclose(f);
  unlink(path);
  return buf;
}

/* n classes c0..c(n-1); gold i predicted j counted (i * 7 + j * 3) % 11 times off the
 * diagonal, 50 on it */
static json_t *report(int n) {
  json_t *labels = json_array(), *m = json_array();
  for (int i = 0; i < n; i++) {
    char name[16];
    snprintf(name, sizeof name, "c%d", i);
    json_array_append_new(labels, json_string(name));
    json_t *row = json_array();
    for (int j = 0; j < n; j++) json_array_append_new(row, json_integer(i == j ? 50 : (i * 7 + j * 3) % 11));
    json_array_append_new(m, row);
  }
  json_t *r = json_pack("{s:s, s:s, s:{s:o, s:o}}", "topic", "t<&>", "task", "classify",
                        "confusion", "labels", labels, "matrix", m);
  cr_assert_not_null(r);
  return r;
}

static size_t count(const char *s, const char *what) {
  size_t k = 0;
  for (const char *p = s; (p = strstr(p, what)); p++) k++;
  return k;
}

Test(replay_report, small_confusion_is_a_heatmap) {
  json_t *r = report(3);
  const char *html = render(r);
  cr_assert(strstr(html, "data-plot=\"confusion\""));
  /* one cell per (gold, predicted) pair, each titled with its count */
  cr_assert_eq(count(html, "<title>gold "), 9);
  cr_assert(strstr(html, "<title>gold 1, predicted 2: 2</title>"), "cell (1,2) = (7+6)%%11 = 2");
  cr_assert(strstr(html, "t&lt;&amp;&gt;"), "the topic name is escaped");
  cr_assert_null(strstr(html, "t<&>"));
  json_decref(r);
}

Test(replay_report, many_classes_show_the_most_confused_pairs) {
  int n = 25;
  json_t *r = report(n);
  const char *html = render(r);
  cr_assert(strstr(html, "25 classes: the 20 most confused pairs"));
  cr_assert_eq(count(html, "<title>gold "), 0, "no full matrix");
  /* the largest off-diagonal count is 10; the first such pair in row order is gold c0,
   * predicted j with 3j % 11 == 10: j = 7 */
  const char *first = strstr(html, "&rarr; c");
  cr_assert(first);
  cr_assert(!strncmp(first - 3, "c0 &rarr; c7<", 13), "first bar: %.20s", first - 3);
  cr_assert_eq(count(html, "fill=\"#c0392b\""), 20);
  json_decref(r);
}
