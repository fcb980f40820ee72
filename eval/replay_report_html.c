/* replay_report_html.c: the replay's report as one self-contained HTML file: inline CSS and
 * SVG, no script, no external resource. Every plot is an <svg class="plot" data-plot=NAME>,
 * so a test (or a reader) can find each one. */
#include <stdio.h>
#include <string.h>

#include "bertd_replay.h"

#define MAX_MATRIX 20 /* above this many classes, the most confused pairs instead */

static void esc(FILE *f, const char *s) {
  for (; s && *s; s++) switch (*s) {
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '&': fputs("&amp;", f); break;
    case '"': fputs("&quot;", f); break;
    default: fputc(*s, f);
    }
}

static double num(const json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }

static void row_num(FILE *f, const char *name, const json_t *a, const json_t *b, const char *k,
                    const char *fmt) {
  const json_t *va = json_object_get(a, k), *vb = b ? json_object_get(b, k) : NULL;
  if (!va && !vb) return;
  fprintf(f, "<tr><th>%s</th><td>", name);
  if (va) fprintf(f, fmt, json_number_value(va));
  fputs("</td>", f);
  if (b) {
    fputs("<td>", f);
    if (vb) fprintf(f, fmt, json_number_value(vb));
    fputs("</td>", f);
  }
  fputs("</tr>\n", f);
}

static void summary(FILE *f, const json_t *r, const json_t *b) {
  fputs("<h2>Summary</h2>\n<table class=\"summary\"><tr><th></th><th>model A", f);
  if (b) fputs("</th><th>model B", f);
  fputs("</th></tr>\n<tr><th>model</th><td>", f);
  esc(f, json_string_value(json_object_get(r, "model")));
  if (b) fputs("</td><td>", f), esc(f, json_string_value(json_object_get(b, "model")));
  fputs("</td></tr>\n", f);
  row_num(f, "labelled records", r, b, "labelled", "%.0f");
  row_num(f, "accuracy", r, b, "accuracy", "%.4f");
  row_num(f, "macro F1", r, b, "macro_f1", "%.4f");
  row_num(f, "micro F1", r, b, "micro_f1", "%.4f");
  row_num(f, "weighted F1", r, b, "weighted_f1", "%.4f");
  row_num(f, "slot F1", r, b, "slot_f1", "%.4f");
  row_num(f, "sentence accuracy", r, b, "sentence_accuracy", "%.4f");
  row_num(f, "ECE (15 bins)", r, b, "ece", "%.4f");
  const json_t *la = json_object_get(r, "latency_ms"), *lb = b ? json_object_get(b, "latency_ms") : NULL;
  row_num(f, "latency p50 (ms)", la, lb, "p50", "%.2f");
  row_num(f, "latency p90 (ms)", la, lb, "p90", "%.2f");
  row_num(f, "latency p99 (ms)", la, lb, "p99", "%.2f");
  row_num(f, "failed", r, b, "failed", "%.0f");
  fputs("</table>\n<table class=\"summary\">\n", f);
  fprintf(f, "<tr><th>topic</th><td>");
  esc(f, json_string_value(json_object_get(r, "topic")));
  fprintf(f, "</td></tr>\n<tr><th>records</th><td>%lld</td></tr>\n"
             "<tr><th>unlabelled</th><td>%lld</td></tr>\n"
             "<tr><th>undecodable</th><td>%lld</td></tr>\n"
             "<tr><th>gold labels the model does not know</th><td>%lld</td></tr>\n"
             "<tr><th>records/s</th><td>%.1f</td></tr>\n</table>\n",
          (long long)num(r, "records"), (long long)num(r, "unlabelled"),
          (long long)num(r, "undecodable"),
          (long long)num(json_object_get(r, "unknown_gold"), "count"), num(r, "records_per_s"));
}

/* white -> dark blue by share of the row's gold records */
static void heat(FILE *f, double t) {
  int c = (int)(255 - t * 200);
  fprintf(f, "rgb(%d,%d,255)", c, c);
}

static void confusion(FILE *f, const json_t *r, const char *title) {
  const json_t *cm = json_object_get(r, "confusion"), *labels = json_object_get(cm, "labels"),
               *m = json_object_get(cm, "matrix");
  size_t n = json_array_size(labels);
  if (!n) return;
  fprintf(f, "<h2>Confusion matrix%s</h2>\n", title);
  if (n <= MAX_MATRIX) {
    int cell = 34, left = 150, top = 110;
    int w = left + cell * (int)n + 10, h = top + cell * (int)n + 10;
    fprintf(f, "<svg class=\"plot\" data-plot=\"confusion\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">\n", w, h, w, h);
    fprintf(f, "<text x=\"%d\" y=\"14\" class=\"axis\">predicted</text>"
               "<text x=\"4\" y=\"%d\" class=\"axis\">gold</text>\n", left, top - 6);
    for (size_t i = 0; i < n; i++) {
      fprintf(f, "<text x=\"%d\" y=\"%zu\" text-anchor=\"end\">", left - 6,
              top + cell * i + cell / 2 + 4);
      esc(f, json_string_value(json_array_get(labels, i)));
      fprintf(f, "</text><text transform=\"translate(%zu,%d) rotate(-60)\">",
              left + cell * i + cell / 2, top - 6);
      esc(f, json_string_value(json_array_get(labels, i)));
      fputs("</text>\n", f);
    }
    for (size_t i = 0; i < n; i++) {
      const json_t *row = json_array_get(m, i);
      double tot = 0;
      for (size_t j = 0; j < n; j++) tot += json_number_value(json_array_get(row, j));
      for (size_t j = 0; j < n; j++) {
        double v = json_number_value(json_array_get(row, j));
        fprintf(f, "<rect x=\"%zu\" y=\"%zu\" width=\"%d\" height=\"%d\" fill=\"", left + cell * j,
                top + cell * i, cell - 1, cell - 1);
        heat(f, tot > 0 ? v / tot : 0);
        fprintf(f, "\"><title>gold %zu, predicted %zu: %.0f</title></rect>"
                   "<text x=\"%zu\" y=\"%zu\" text-anchor=\"middle\" class=\"cell\">%.0f</text>\n",
                i, j, v, left + cell * j + cell / 2, top + cell * i + cell / 2 + 4, v);
      }
    }
    fputs("</svg>\n", f);
    return;
  }
  /* many classes: the most confused (gold, predicted) pairs as bars */
  enum { TOP = 20 };
  size_t gi[TOP], pj[TOP];
  double cnt[TOP];
  int k = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++) {
      double v = json_number_value(json_array_get(json_array_get(m, i), j));
      if (i == j || v <= 0) continue;
      int at = k < TOP ? k++ : TOP;
      if (at == TOP) {
        if (v <= cnt[TOP - 1]) continue;
        at = TOP - 1;
      }
      while (at > 0 && cnt[at - 1] < v) gi[at] = gi[at - 1], pj[at] = pj[at - 1],
                                        cnt[at] = cnt[at - 1], at--;
      gi[at] = i, pj[at] = j, cnt[at] = v;
    }
  int h = 30 + 22 * (k ? k : 1), w = 720;
  fprintf(f, "<p>%zu classes: the %d most confused pairs (gold &rarr; predicted).</p>\n", n, k);
  fprintf(f, "<svg class=\"plot\" data-plot=\"confusion\" width=\"%d\" height=\"%d\" "
             "viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">\n", w, h, w, h);
  for (int i = 0; i < k; i++) {
    fprintf(f, "<text x=\"346\" y=\"%d\" text-anchor=\"end\">", 24 + 22 * i);
    esc(f, json_string_value(json_array_get(labels, gi[i])));
    fputs(" &rarr; ", f);
    esc(f, json_string_value(json_array_get(labels, pj[i])));
    fprintf(f, "</text><rect x=\"350\" y=\"%d\" width=\"%.1f\" height=\"16\" fill=\"#c0392b\"/>"
               "<text x=\"%.1f\" y=\"%d\">%.0f</text>\n",
            11 + 22 * i, 300 * cnt[i] / cnt[0], 354 + 300 * cnt[i] / cnt[0], 24 + 22 * i, cnt[i]);
  }
  if (!k) fputs("<text x=\"10\" y=\"24\">no confusions</text>\n", f);
  fputs("</svg>\n", f);
}

static void f1_bars(FILE *f, const json_t *r, const json_t *b) {
  const json_t *pa = json_object_get(r, "per_class");
  if (!pa) pa = json_object_get(r, "slot_per_type");
  const json_t *pb = b ? json_object_get(b, json_object_get(r, "per_class") ? "per_class"
                                                                            : "slot_per_type")
                       : NULL;
  size_t n = json_object_size(pa);
  if (!n) return;
  int bar = b ? 9 : 16, row = b ? 22 : 20, w = 720, h = 20 + row * (int)n;
  fputs("<h2>Per-class F1</h2>\n", f);
  if (b) fputs("<p><span class=\"ka\">&#9632;</span> model A <span class=\"kb\">&#9632;</span> model B</p>\n", f);
  fprintf(f, "<svg class=\"plot\" data-plot=\"f1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
             "xmlns=\"http://www.w3.org/2000/svg\">\n", w, h, w, h);
  const char *k;
  const json_t *v;
  int i = 0;
  json_object_foreach((json_t *)pa, k, v) {
    double fa = num(v, "f1"), fb = pb ? num(json_object_get(pb, k), "f1") : 0;
    int y = 10 + row * i++;
    fprintf(f, "<text x=\"236\" y=\"%d\" text-anchor=\"end\">", y + 12);
    esc(f, k);
    fprintf(f, " (%lld)</text><rect x=\"240\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#2e86c1\">"
               "<title>%.4f</title></rect><text x=\"%.1f\" y=\"%d\" class=\"cell\">%.3f</text>\n",
            (long long)num(v, "support"), y, 400 * fa, bar, fa, 244 + 400 * fa, y + bar - 1, fa);
    if (pb)
      fprintf(f, "<rect x=\"240\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#e67e22\">"
                 "<title>%.4f</title></rect><text x=\"%.1f\" y=\"%d\" class=\"cell\">%.3f</text>\n",
              y + bar + 1, 400 * fb, bar, fb, 244 + 400 * fb, y + 2 * bar, fb);
  }
  fputs("</svg>\n", f);
}

static void reliability(FILE *f, const json_t *r) {
  const json_t *bins = json_object_get(r, "reliability");
  size_t n = json_array_size(bins);
  if (!n) return;
  int S = 300, L = 50, T = 10;
  fprintf(f, "<h2>Reliability diagram</h2>\n<p>ECE %.4f over 15 bins: accuracy of each "
             "confidence bin against the diagonal of perfect calibration.</p>\n", num(r, "ece"));
  fprintf(f, "<svg class=\"plot\" data-plot=\"reliability\" width=\"%d\" height=\"%d\" "
             "viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">\n", S + L + 20, S + 50,
          S + L + 20, S + 50);
  fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n",
          L, T, S, S);
  for (size_t i = 0; i < n; i++) {
    const json_t *b = json_array_get(bins, i);
    double lo = num(b, "lower"), up = num(b, "upper"), acc = num(b, "accuracy");
    if (num(b, "count") <= 0) continue;
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#2e86c1\" "
               "stroke=\"#fff\"><title>confidence %.2f-%.2f: %lld records, accuracy %.3f, mean "
               "confidence %.3f</title></rect>\n",
            L + S * lo, T + S * (1 - acc), S * (up - lo), S * acc, lo, up,
            (long long)num(b, "count"), acc, num(b, "confidence"));
  }
  fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#c0392b\" "
             "stroke-dasharray=\"4\"/>\n", L, T + S, L + S, T);
  fprintf(f, "<text x=\"%d\" y=\"%d\">confidence</text><text x=\"4\" y=\"%d\">accuracy</text>"
             "<text x=\"%d\" y=\"%d\">0</text><text x=\"%d\" y=\"%d\">1</text>\n</svg>\n",
          L + S / 2 - 30, T + S + 36, T + 12, L - 4, T + S + 16, L + S - 4, T + S + 16);
}

static void latency(FILE *f, const json_t *r) {
  const json_t *h = json_object_get(r, "latency_histogram");
  size_t n = json_array_size(h);
  double top = 0;
  for (size_t i = 0; i < n; i++) {
    double c = num(json_array_get(h, i), "count");
    if (c > top) top = c;
  }
  if (!n) return;
  const json_t *l = json_object_get(r, "latency_ms");
  int W = 600, H = 200, L = 50, T = 10;
  fprintf(f, "<h2>Latency</h2>\n<p>From submission to result (queue and model), ms: p50 %.2f, "
             "p90 %.2f, p99 %.2f.</p>\n", num(l, "p50"), num(l, "p90"), num(l, "p99"));
  fprintf(f, "<svg class=\"plot\" data-plot=\"latency\" width=\"%d\" height=\"%d\" "
             "viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">\n", W + L + 20, H + 50,
          W + L + 20, H + 50);
  for (size_t i = 0; i < n; i++) {
    const json_t *b = json_array_get(h, i);
    double c = num(b, "count"), bh = top > 0 ? H * c / top : 0;
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#27ae60\" "
               "stroke=\"#fff\"><title>%.2f-%.2f ms: %.0f</title></rect>\n",
            L + (double)W * (double)i / (double)n, T + H - bh, (double)W / (double)n, bh,
            num(b, "lower"), num(b, "upper"), c);
  }
  fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>"
             "<text x=\"%d\" y=\"%d\">0</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.1f ms"
             "</text><text x=\"4\" y=\"%d\">%.0f</text>\n</svg>\n",
          L, T + H, L + W, T + H, L, T + H + 16, L + W, T + H + 16,
          num(json_array_get(h, n - 1), "upper"), T + 12, top);
}

static void oos(FILE *f, const json_t *r) {
  const json_t *o = json_object_get(r, "oos"), *sw = json_object_get(o, "sweep"), *x;
  size_t i;
  if (!o) return;
  fputs("<h2>Out of scope</h2>\n<p>Label <b>", f);
  esc(f, json_string_value(json_object_get(o, "label")));
  fputs("</b>; a record is predicted out of scope when its label is this one or its score is "
        "below the threshold.</p>\n<table class=\"summary\"><tr><th>threshold</th><th>precision"
        "</th><th>recall</th><th>in-scope accuracy</th></tr>\n", f);
  json_array_foreach(sw, i, x)
    fprintf(f, "<tr><td>%.2f</td><td>%.4f</td><td>%.4f</td><td>%.4f</td></tr>\n",
            num(x, "threshold"), num(x, "precision"), num(x, "recall"),
            num(x, "in_scope_accuracy"));
  fputs("</table>\n", f);
}

static void ab(FILE *f, const json_t *cmp) {
  if (!cmp) return;
  fputs("<h2>A/B comparison</h2>\n<table class=\"summary\">\n", f);
  const json_t *mc = json_object_get(cmp, "mcnemar");
  if (mc)
    fprintf(f, "<tr><th>exact McNemar (accuracy)</th><td>A right, B wrong: %lld; A wrong, B "
               "right: %lld; p = %.4g</td></tr>\n",
            (long long)num(mc, "a_right_b_wrong"), (long long)num(mc, "a_wrong_b_right"),
            num(mc, "p_value"));
  const char *names[] = {"macro_f1", "slot_f1"}, *titles[] = {"macro F1", "slot F1"};
  for (int i = 0; i < 2; i++) {
    const json_t *b = json_object_get(cmp, names[i]);
    if (!b) continue;
    fprintf(f, "<tr><th>%s B &minus; A (paired bootstrap 95%% CI)</th><td>%.4f &minus; %.4f = "
               "%+.4f [%+.4f, %+.4f]</td></tr>\n",
            titles[i], num(b, "b"), num(b, "a"), num(b, "diff"), num(b, "ci95_low"),
            num(b, "ci95_high"));
  }
  fprintf(f, "<tr><th>bootstrap</th><td>%lld rounds, seed %lld</td></tr>\n"
             "<tr><th>records whose prediction changed</th><td>%lld</td></tr>\n</table>\n",
          (long long)num(cmp, "bootstrap_rounds"), (long long)num(cmp, "seed"),
          (long long)num(cmp, "records_changed"));
  const json_t *ch = json_object_get(cmp, "changed"), *c;
  size_t i;
  if (!json_array_size(ch)) return;
  fputs("<table class=\"list\"><tr><th>partition</th><th>offset</th><th>text</th><th>gold</th>"
        "<th>A</th><th>B</th></tr>\n", f);
  json_array_foreach(ch, i, c) {
    fprintf(f, "<tr><td>%lld</td><td>%lld</td><td>", (long long)num(c, "partition"),
            (long long)num(c, "offset"));
    esc(f, json_string_value(json_object_get(c, "text")));
    fputs("</td><td>", f);
    esc(f, json_string_value(json_object_get(c, "gold")));
    fputs("</td><td>", f);
    esc(f, json_string_value(json_object_get(c, "a")));
    fputs("</td><td>", f);
    esc(f, json_string_value(json_object_get(c, "b")));
    fputs("</td></tr>\n", f);
  }
  fputs("</table>\n", f);
}

static void problems(FILE *f, const json_t *r) {
  const json_t *u = json_object_get(r, "undecodable_records"), *x;
  size_t i;
  const json_t *unk = json_object_get(json_object_get(r, "unknown_gold"), "labels");
  if (json_object_size(unk)) {
    fputs("<h2>Gold labels the model does not know</h2>\n<table class=\"list\">"
          "<tr><th>label</th><th>records</th></tr>\n", f);
    const char *k;
    json_object_foreach((json_t *)unk, k, x) {
      fputs("<tr><td>", f);
      esc(f, k);
      fprintf(f, "</td><td>%lld</td></tr>\n", (long long)json_integer_value(x));
    }
    fputs("</table>\n", f);
  }
  if (!json_array_size(u)) return;
  fputs("<h2>Undecodable records</h2>\n<table class=\"list\"><tr><th>partition</th>"
        "<th>offset</th><th>reason</th><th>error</th></tr>\n", f);
  json_array_foreach(u, i, x) {
    fprintf(f, "<tr><td>%lld</td><td>%lld</td><td>", (long long)num(x, "partition"),
            (long long)num(x, "offset"));
    esc(f, json_string_value(json_object_get(x, "reason")));
    fputs("</td><td>", f);
    esc(f, json_string_value(json_object_get(x, "error")));
    fputs("</td></tr>\n", f);
  }
  fputs("</table>\n", f);
}

int bertd_replay_write_html(const json_t *r, const char *path, char *errstr,
                            size_t errstr_size) {
  FILE *f = fopen(path, "w");
  if (!f) {
    snprintf(errstr, errstr_size, "cannot open for writing");
    return -1;
  }
  const json_t *b = json_object_get(r, "b");
  fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>bertd replay: ",
        f);
  esc(f, json_string_value(json_object_get(r, "topic")));
  fputs("</title>\n<style>\nbody{font-family:sans-serif;margin:2em;color:#222;max-width:1100px}\n"
        "table{border-collapse:collapse;margin:0 0 1em 0}\n"
        "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:14px}\n"
        "svg text{font-size:12px;font-family:sans-serif}\nsvg text.cell{font-size:10px}\n"
        "svg text.axis{font-weight:bold}\n.ka{color:#2e86c1}.kb{color:#e67e22}\n"
        "table.summary td{text-align:right}\n</style></head><body>\n<h1>bertd replay: ", f);
  esc(f, json_string_value(json_object_get(r, "topic")));
  fputs(" (", f);
  esc(f, json_string_value(json_object_get(r, "task")));
  fputs(")</h1>\n", f);
  summary(f, r, b);
  confusion(f, r, b ? " (model A)" : "");
  if (b) confusion(f, b, " (model B)");
  f1_bars(f, r, b);
  reliability(f, r);
  latency(f, r);
  oos(f, r);
  ab(f, json_object_get(r, "comparison"));
  problems(f, r);
  fputs("</body></html>\n", f);
  if (fclose(f)) {
    snprintf(errstr, errstr_size, "write failed");
    return -1;
  }
  return 0;
}
