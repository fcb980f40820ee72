/* replay_score.c: one model's metrics over the replayed records, all through bertd_metrics.h
 * (the arithmetic training and `bertd eval` use): accuracy, P/R/F1 (per class, macro, micro,
 * weighted), the confusion matrix, span F1 and sentence accuracy, calibration, out-of-scope
 * precision / recall with a threshold sweep, and latency percentiles. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay_internal.h"

#define OOS_STEPS 20 /* thresholds 0, 0.05, ..., 0.95 */

int bertd_rp_counts(const rp_ctx *c, const rp_rec *r, int m) {
  if (r->gold_state != RP_GOLD_OK) return 0;
  /* with two models both must have answered, so A and B are scored on the same records */
  for (int k = 0; k < c->n_models; k++)
    if (!r->p[k].ok) return 0;
  return m < c->n_models;
}

static int has_classes(const rp_ctx *c) {
  return c->task == RP_TASK_CLASSIFY || c->task == RP_TASK_JOINT;
}

/* whether record r counts for the class metrics (a gold label) / the span metrics */
static int class_rec(const rp_ctx *c, const rp_rec *r, int m) {
  return has_classes(c) && bertd_rp_counts(c, r, m) && r->gold >= 0;
}
static int span_rec(const rp_ctx *c, const rp_rec *r, int m) {
  return (c->task == RP_TASK_JOINT || c->task == RP_TASK_TAG) && bertd_rp_counts(c, r, m) &&
         r->has_gold_tags;
}

/* "no label above the threshold" is one more class, after the model's */
static int32_t pred_class(const rp_ctx *c, const rp_pred *p) {
  return p->label >= 0 ? p->label : c->labels.n;
}
static const char *class_name(const rp_ctx *c, int k) {
  return k < c->labels.n ? c->labels.v[k] : "(none)";
}

/* Predicted word tags padded with O to the gold's words (words truncated away get no tag). */
static int32_t *pred_tags(const rp_ctx *c, const rp_rec *r, int m) {
  int32_t *t = malloc(sizeof(int32_t) * ((size_t)r->n_gold_tags + 1));
  int o = bertd_rp_names_find(&c->tags, "O");
  if (!t) return NULL;
  for (int i = 0; i < r->n_gold_tags; i++)
    t[i] = i < r->p[m].n_tags ? r->p[m].tags[i] : (o >= 0 ? o : 0);
  return t;
}

static int confusion_of(const rp_ctx *c, int m, const size_t *idx, size_t n, bertd_confusion *cm,
                        char *errstr, size_t errstr_size) {
  if (bertd_confusion_init(cm, c->labels.n + 1, errstr, errstr_size)) return -1;
  for (size_t i = 0; i < n; i++) {
    const rp_rec *r = &c->recs[idx ? idx[i] : i];
    if (!idx && !class_rec(c, r, m)) continue;
    if (bertd_confusion_add(cm, r->gold, pred_class(c, &r->p[m]), errstr, errstr_size)) {
      bertd_confusion_free(cm);
      return -1;
    }
  }
  return 0;
}

static int spans_of(const rp_ctx *c, int m, const size_t *idx, size_t n, bertd_span_counts *sc,
                    char *errstr, size_t errstr_size) {
  if (bertd_span_counts_init(sc, (const char *const *)c->tags.v, c->tags.n, errstr,
                             errstr_size))
    return -1;
  for (size_t i = 0; i < n; i++) {
    const rp_rec *r = &c->recs[idx ? idx[i] : i];
    if (!idx && !span_rec(c, r, m)) continue;
    int32_t *p = pred_tags(c, r, m);
    if (!p || bertd_span_counts_add(sc, r->gold_tags, p, r->n_gold_tags, errstr, errstr_size)) {
      if (!p) snprintf(errstr, errstr_size, "out of memory");
      free(p);
      bertd_span_counts_free(sc);
      return -1;
    }
    free(p);
  }
  return 0;
}

int bertd_rp_macro_f1(const rp_ctx *c, int m, const size_t *idx, size_t n, double *out, char *errstr,
                size_t errstr_size) {
  bertd_confusion cm;
  bertd_class_report rep;
  if (confusion_of(c, m, idx, n, &cm, errstr, errstr_size)) return -1;
  int rc = bertd_class_report_compute(&cm, &rep, errstr, errstr_size);
  if (!rc) *out = rep.macro.f1, bertd_class_report_free(&rep);
  bertd_confusion_free(&cm);
  return rc;
}

int bertd_rp_slot_f1(const rp_ctx *c, int m, const size_t *idx, size_t n, double *out, char *errstr,
               size_t errstr_size) {
  bertd_span_counts sc;
  bertd_span_report rep;
  if (spans_of(c, m, idx, n, &sc, errstr, errstr_size)) return -1;
  int rc = bertd_span_report_compute(&sc, &rep, errstr, errstr_size);
  if (!rc) *out = rep.micro.f1, bertd_span_report_free(&rep);
  bertd_span_counts_free(&sc);
  return rc;
}

static json_t *prf_json(const bertd_prf *p) {
  return json_pack("{s:f, s:f, s:f, s:I}", "precision", p->precision, "recall", p->recall, "f1",
                   p->f1, "support", (json_int_t)p->support);
}

static int cmp_name(const void *a, const void *b, void *names) {
  (void)names;
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* the classes in gold or predictions, by name (scikit-learn's order for labels=None) */
static int present_classes(const rp_ctx *c, const bertd_class_report *rep, int *out) {
  int n = 0;
  for (int k = 0; k < rep->n_classes; k++)
    if (rep->present[k]) out[n++] = k;
  for (int i = 1; i < n; i++) /* insertion sort by name: n is small */
    for (int j = i; j > 0; j--) {
      const char *a = class_name(c, out[j - 1]), *b = class_name(c, out[j]);
      if (cmp_name(&a, &b, NULL) <= 0) break;
      int t = out[j];
      out[j] = out[j - 1], out[j - 1] = t;
    }
  return n;
}

static int add_classes(rp_ctx *c, int m, json_t *obj, char *errstr, size_t errstr_size) {
  bertd_confusion cm;
  bertd_class_report rep;
  if (confusion_of(c, m, NULL, c->n_recs, &cm, errstr, errstr_size)) return -1;
  if (bertd_class_report_compute(&cm, &rep, errstr, errstr_size)) {
    bertd_confusion_free(&cm);
    return -1;
  }
  int *pc = malloc(sizeof(int) * (size_t)cm.n_classes + 1);
  int np = pc ? present_classes(c, &rep, pc) : 0;
  json_t *per = json_object(), *labels = json_array(), *matrix = json_array();
  for (int i = 0; i < np; i++) {
    json_object_set_new(per, class_name(c, pc[i]), prf_json(&rep.per_class[pc[i]]));
    json_array_append_new(labels, json_string(class_name(c, pc[i])));
    json_t *row = json_array();
    for (int j = 0; j < np; j++)
      json_array_append_new(
          row, json_integer((json_int_t)cm.counts[(size_t)pc[i] * (size_t)cm.n_classes +
                                                  (size_t)pc[j]]));
    json_array_append_new(matrix, row);
  }
  json_object_set_new(obj, "labelled", json_integer((json_int_t)cm.total));
  json_object_set_new(obj, "accuracy", json_real(rep.accuracy));
  json_object_set_new(obj, "macro_f1", json_real(rep.macro.f1));
  json_object_set_new(obj, "micro_f1", json_real(rep.micro.f1));
  json_object_set_new(obj, "weighted_f1", json_real(rep.weighted.f1));
  json_object_set_new(obj, "macro", prf_json(&rep.macro));
  json_object_set_new(obj, "micro", prf_json(&rep.micro));
  json_object_set_new(obj, "weighted", prf_json(&rep.weighted));
  json_object_set_new(obj, "per_class", per);
  json_object_set_new(obj, "confusion", json_pack("{s:o, s:o}", "labels", labels, "matrix",
                                                  matrix));
  free(pc);
  bertd_class_report_free(&rep);
  bertd_confusion_free(&cm);
  return 0;
}

static int add_spans(rp_ctx *c, int m, json_t *obj, char *errstr, size_t errstr_size) {
  bertd_span_counts sc;
  bertd_span_report rep;
  if (spans_of(c, m, NULL, c->n_recs, &sc, errstr, errstr_size)) return -1;
  if (bertd_span_report_compute(&sc, &rep, errstr, errstr_size)) {
    bertd_span_counts_free(&sc);
    return -1;
  }
  json_t *per = json_object();
  for (int t = 0; t < rep.n_types; t++)
    if (rep.present[t]) json_object_set_new(per, rep.types[t], prf_json(&rep.per_type[t]));
  json_object_set_new(obj, "slot_f1", json_real(rep.micro.f1));
  json_object_set_new(obj, "slot_precision", json_real(rep.micro.precision));
  json_object_set_new(obj, "slot_recall", json_real(rep.micro.recall));
  json_object_set_new(obj, "slot_sentences", json_integer((json_int_t)sc.sentences));
  json_object_set_new(obj, "slot_per_type", per);
  if (c->task == RP_TASK_TAG) json_object_set_new(obj, "labelled",
                                                  json_integer((json_int_t)sc.sentences));
  bertd_span_report_free(&rep);
  bertd_span_counts_free(&sc);
  if (c->task != RP_TASK_JOINT) return 0;
  /* sentence accuracy: records with a gold intent and gold slots, intent and every tag right */
  bertd_joint_eval je;
  if (bertd_joint_eval_init(&je, c->labels.n + 1, (const char *const *)c->tags.v, c->tags.n,
                            errstr, errstr_size))
    return -1;
  for (size_t i = 0; i < c->n_recs; i++) {
    const rp_rec *r = &c->recs[i];
    if (!span_rec(c, r, m) || r->gold < 0) continue;
    int32_t *p = pred_tags(c, r, m);
    int rc = !p || bertd_joint_eval_add(&je, r->gold, pred_class(c, &r->p[m]), r->gold_tags, p,
                                        r->n_gold_tags, errstr, errstr_size);
    free(p);
    if (rc) {
      bertd_joint_eval_free(&je);
      return -1;
    }
  }
  bertd_joint_summary s;
  int rc = bertd_joint_eval_summary(&je, &s, errstr, errstr_size);
  if (!rc) {
    json_object_set_new(obj, "sentence_accuracy", json_real(s.sentence_accuracy));
    json_object_set_new(obj, "sentences", json_integer((json_int_t)s.sentences));
  }
  bertd_joint_eval_free(&je);
  return rc;
}

/* ECE and the reliability diagram; the out-of-scope sweep when a label is out of scope. */
static int add_calibration(rp_ctx *c, int m, json_t *obj) {
  float *conf = malloc(sizeof(float) * (c->n_recs + 1));
  uint8_t *right = malloc(c->n_recs + 1);
  if (!conf || !right) {
    free(conf), free(right);
    return -1;
  }
  size_t n = 0;
  for (size_t i = 0; i < c->n_recs; i++) {
    const rp_rec *r = &c->recs[i];
    if (!class_rec(c, r, m)) continue;
    conf[n] = r->p[m].conf, right[n++] = r->p[m].label == r->gold;
  }
  bertd_calib_bin bins[BERTD_ECE_BINS];
  json_object_set_new(obj, "ece", json_real(bertd_ece(conf, right, n, bins)));
  json_t *rel = json_array();
  for (int k = 0; k < BERTD_ECE_BINS; k++)
    json_array_append_new(rel, json_pack("{s:f, s:f, s:I, s:f, s:f}", "lower",
                                         (double)k / BERTD_ECE_BINS, "upper",
                                         (double)(k + 1) / BERTD_ECE_BINS, "count",
                                         (json_int_t)bins[k].count, "accuracy",
                                         bins[k].accuracy, "confidence", bins[k].confidence));
  json_object_set_new(obj, "reliability", rel);
  free(conf), free(right);
  int oos = c->o->oos_label ? bertd_rp_names_find(&c->labels, c->o->oos_label) : -1;
  if (oos < 0) return 0;
  /* a record is predicted out of scope when its label is the out-of-scope one or its score is
   * below the threshold; in-scope accuracy counts a gold in-scope record right only when it is
   * predicted in scope with the right label */
  json_t *sweep = json_array();
  for (int s = 0; s < OOS_STEPS; s++) {
    double t = s * 0.05;
    size_t tp = 0, pred = 0, gold = 0, in = 0, in_right = 0;
    for (size_t i = 0; i < c->n_recs; i++) {
      const rp_rec *r = &c->recs[i];
      if (!class_rec(c, r, m)) continue;
      int p_oos = r->p[m].label == oos || r->p[m].label < 0 || r->p[m].conf < t;
      int g_oos = r->gold == oos;
      pred += p_oos, gold += g_oos, tp += p_oos && g_oos;
      if (!g_oos) in++, in_right += !p_oos && r->p[m].label == r->gold;
    }
    json_t *row = json_pack("{s:f, s:f, s:f, s:f}", "threshold", t, "precision",
                            pred ? (double)tp / (double)pred : 0.0, "recall",
                            gold ? (double)tp / (double)gold : 0.0, "in_scope_accuracy",
                            in ? (double)in_right / (double)in : 0.0);
    if (s == 0)
      json_object_set_new(obj, "oos", json_pack("{s:s, s:O, s:O, s:o}", "label",
                                                c->o->oos_label, "precision",
                                                json_object_get(row, "precision"), "recall",
                                                json_object_get(row, "recall"), "sweep", sweep));
    json_array_append_new(sweep, row);
  }
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static json_t *percentiles(double *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_double);
  return json_pack("{s:f, s:f, s:f, s:I}", "p50", bertd_percentile_sorted(v, n, 50), "p90",
                   bertd_percentile_sorted(v, n, 90), "p99", bertd_percentile_sorted(v, n, 99),
                   "count", (json_int_t)n);
}

static int add_latency(rp_ctx *c, int m, json_t *obj) {
  double *lat = malloc(sizeof(double) * (c->n_recs + 1)),
         *mod = malloc(sizeof(double) * (c->n_recs + 1));
  if (!lat || !mod) {
    free(lat), free(mod);
    return -1;
  }
  size_t n = 0, failed = 0;
  json_t *fails = json_array();
  for (size_t i = 0; i < c->n_recs; i++) {
    const rp_pred *p = &c->recs[i].p[m];
    if (!p->ok) {
      failed++;
      if (json_array_size(fails) < 1000)
        json_array_append_new(fails, json_pack("{s:i, s:I, s:s}", "partition",
                                               (int)c->recs[i].partition, "offset",
                                               (json_int_t)c->recs[i].offset, "error",
                                               p->error ? p->error : ""));
      continue;
    }
    lat[n] = p->latency_ms, mod[n++] = p->model_ms;
  }
  json_object_set_new(obj, "latency_ms", percentiles(lat, n));
  json_object_set_new(obj, "model_ms", percentiles(mod, n));
  /* a histogram of latency for the report: 20 bins from 0 to the largest */
  json_t *h = json_array();
  double top = n ? lat[n - 1] : 0, w = top > 0 ? top / 20 : 1;
  size_t bins[20] = {0};
  for (size_t i = 0; i < n; i++) {
    int k = (int)(lat[i] / w);
    bins[k > 19 ? 19 : k]++;
  }
  for (int k = 0; k < 20; k++)
    json_array_append_new(h, json_pack("{s:f, s:f, s:I}", "lower", k * w, "upper", (k + 1) * w,
                                       "count", (json_int_t)bins[k]));
  json_object_set_new(obj, "latency_histogram", h);
  json_object_set_new(obj, "failed", json_integer((json_int_t)failed));
  json_object_set_new(obj, "failures", fails);
  free(lat), free(mod);
  return 0;
}

json_t *bertd_rp_score_model(rp_ctx *c, int m, char *errstr, size_t errstr_size) {
  json_t *obj = json_object();
  if (!obj) return NULL;
  if (!c->o->stored || c->model_name[m][0]) {
    json_object_set_new(obj, "model", json_string(c->model_name[m]));
    json_object_set_new(obj, "checksum", json_string(c->checksum[m]));
  }
  if (has_classes(c) && (add_classes(c, m, obj, errstr, errstr_size) ||
                         add_calibration(c, m, obj))) {
    json_decref(obj);
    return NULL;
  }
  if ((c->task == RP_TASK_JOINT || c->task == RP_TASK_TAG) && c->tags.n > 0 &&
      add_spans(c, m, obj, errstr, errstr_size)) {
    json_decref(obj);
    return NULL;
  }
  if (add_latency(c, m, obj)) {
    snprintf(errstr, errstr_size, "out of memory");
    json_decref(obj);
    return NULL;
  }
  return obj;
}
