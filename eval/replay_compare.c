/* replay_compare.c: model A against model B on the same records: exact McNemar on accuracy,
 * paired bootstrap 95 % intervals for the macro-F1 and slot-F1 differences (B - A), and the
 * records whose prediction changed.
 *
 * The bootstrap is reproducible from the seed alone: for each metric a splitmix64 stream
 * (bertd_rng.h) seeded with the seed draws, per round, as many record indices as the metric
 * has records (bertd_rng_below), in record order (partition, then offset); each resample is
 * re-scored through bertd_metrics.h; the interval is the 2.5th and 97.5th percentiles of the
 * differences, linear between ranks (numpy's default). tools/reference/make_replay_fixtures.py
 * redoes it with scikit-learn and seqeval. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_rng.h"
#include "replay_internal.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef int (*metric_fn)(const rp_ctx *, int, const size_t *, size_t, double *, char *, size_t);

static json_t *bootstrap(rp_ctx *c, metric_fn f, const size_t *pool, size_t n, int rounds,
                         char *errstr, size_t errstr_size) {
  double a, b;
  if (f(c, 0, pool, n, &a, errstr, errstr_size) || f(c, 1, pool, n, &b, errstr, errstr_size))
    return NULL;
  json_t *out = json_pack("{s:f, s:f, s:f, s:I}", "a", a, "b", b, "diff", b - a, "records",
                          (json_int_t)n);
  if (n == 0) return out;
  size_t *idx = malloc(sizeof(size_t) * n);
  double *d = malloc(sizeof(double) * (size_t)rounds);
  if (!idx || !d) {
    free(idx), free(d), json_decref(out);
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  bertd_rng rng;
  bertd_rng_seed(&rng, c->o->seed);
  for (int r = 0; r < rounds; r++) {
    for (size_t i = 0; i < n; i++) idx[i] = pool[bertd_rng_below(&rng, n)];
    if (f(c, 0, idx, n, &a, errstr, errstr_size) || f(c, 1, idx, n, &b, errstr, errstr_size)) {
      free(idx), free(d), json_decref(out);
      return NULL;
    }
    d[r] = b - a;
  }
  qsort(d, (size_t)rounds, sizeof *d, cmp_double);
  json_object_set_new(out, "ci95_low", json_real(bertd_percentile_sorted(d, (size_t)rounds, 2.5)));
  json_object_set_new(out, "ci95_high",
                      json_real(bertd_percentile_sorted(d, (size_t)rounds, 97.5)));
  free(idx), free(d);
  return out;
}

static int same_tags(const rp_pred *a, const rp_pred *b) {
  return a->n_tags == b->n_tags &&
         (!a->n_tags || !memcmp(a->tags, b->tags, sizeof(int32_t) * (size_t)a->n_tags));
}

static json_t *tags_text(const rp_ctx *c, const rp_pred *p) {
  json_t *a = json_array();
  for (int i = 0; i < p->n_tags; i++) json_array_append_new(a, json_string(c->tags.v[p->tags[i]]));
  return a;
}

static json_t *label_json(const rp_ctx *c, int32_t id) {
  return id >= 0 ? json_string(c->labels.v[id]) : json_null();
}

json_t *bertd_rp_compare(rp_ctx *c, char *errstr, size_t errstr_size) {
  const int rounds = c->o->bootstrap_rounds > 0 ? c->o->bootstrap_rounds : 1000;
  const size_t max_changed = c->o->max_changed > 0 ? (size_t)c->o->max_changed : 200;
  int classes = c->task == RP_TASK_CLASSIFY || c->task == RP_TASK_JOINT;
  int spans = (c->task == RP_TASK_JOINT || c->task == RP_TASK_TAG) && c->tags.n > 0;
  size_t *cls = malloc(sizeof(size_t) * (c->n_recs + 1));
  size_t *spn = malloc(sizeof(size_t) * (c->n_recs + 1));
  json_t *out = json_object(), *changed = json_array();
  size_t ncls = 0, nspn = 0, a_only = 0, b_only = 0, both = 0, neither = 0, nchanged = 0;
  if (!cls || !spn || !out) goto oom;
  for (size_t i = 0; i < c->n_recs; i++) {
    const rp_rec *r = &c->recs[i];
    if (!r->p[0].ok || !r->p[1].ok) continue;
    if (r->p[0].label != r->p[1].label || !same_tags(&r->p[0], &r->p[1])) {
      nchanged++;
      if (json_array_size(changed) < max_changed) {
        json_t *row = json_pack("{s:i, s:I, s:s?, s:s}", "partition", (int)r->partition,
                                "offset", (json_int_t)r->offset, "key", r->key, "text", r->text);
        if (classes) {
          json_object_set_new(row, "gold", r->gold_state == RP_GOLD_OK && r->gold >= 0
                                               ? label_json(c, r->gold) : json_null());
          json_object_set_new(row, "a", label_json(c, r->p[0].label));
          json_object_set_new(row, "b", label_json(c, r->p[1].label));
        }
        if (spans) {
          json_object_set_new(row, "a_tags", tags_text(c, &r->p[0]));
          json_object_set_new(row, "b_tags", tags_text(c, &r->p[1]));
        }
        json_array_append_new(changed, row);
      }
    }
    if (!bertd_rp_counts(c, r, 0)) continue;
    if (classes && r->gold >= 0) {
      cls[ncls++] = i;
      int ra = r->p[0].label == r->gold, rb = r->p[1].label == r->gold;
      a_only += ra && !rb, b_only += rb && !ra, both += ra && rb, neither += !ra && !rb;
    }
    if (spans && r->has_gold_tags) spn[nspn++] = i;
  }
  json_object_set_new(out, "records_changed", json_integer((json_int_t)nchanged));
  json_object_set_new(out, "changed", changed);
  changed = NULL;
  json_object_set_new(out, "seed", json_integer((json_int_t)c->o->seed));
  json_object_set_new(out, "bootstrap_rounds", json_integer(rounds));
  if (classes) {
    json_object_set_new(out, "mcnemar",
                        json_pack("{s:I, s:I, s:I, s:I, s:f}", "a_right_b_wrong",
                                  (json_int_t)a_only, "a_wrong_b_right", (json_int_t)b_only,
                                  "both_right", (json_int_t)both, "both_wrong",
                                  (json_int_t)neither, "p_value",
                                  bertd_mcnemar_exact(a_only, b_only)));
    json_t *bm = bootstrap(c, bertd_rp_macro_f1, cls, ncls, rounds, errstr, errstr_size);
    if (!bm) goto fail;
    json_object_set_new(out, "macro_f1", bm);
  }
  if (spans) {
    json_t *bs = bootstrap(c, bertd_rp_slot_f1, spn, nspn, rounds, errstr, errstr_size);
    if (!bs) goto fail;
    json_object_set_new(out, "slot_f1", bs);
  }
  free(cls), free(spn);
  return out;
oom:
  snprintf(errstr, errstr_size, "out of memory");
fail:
  free(cls), free(spn);
  json_decref(out), json_decref(changed);
  return NULL;
}
