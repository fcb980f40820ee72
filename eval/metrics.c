/* metrics.c: confusion matrices, conlleval spans and the reports built from them (bertd_metrics.h). */
#include "bertd_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR(...) (snprintf(errstr, errstr_size, __VA_ARGS__), -1)

static double ratio(size_t num, size_t den) { return den ? (double)num / (double)den : 0.0; }

/* ---- classification ---- */

int bertd_confusion_init(bertd_confusion *cm, int n_classes, char *errstr, size_t errstr_size) {
  memset(cm, 0, sizeof *cm);
  if (n_classes <= 0) return ERR("metrics: %d classes", n_classes);
  cm->counts = calloc((size_t)n_classes * (size_t)n_classes, sizeof(size_t));
  if (!cm->counts) return ERR("metrics: out of memory for %d classes", n_classes);
  cm->n_classes = n_classes;
  return 0;
}

int bertd_confusion_add(bertd_confusion *cm, int32_t gold, int32_t pred, char *errstr,
                        size_t errstr_size) {
  if (gold < 0 || gold >= cm->n_classes || pred < 0 || pred >= cm->n_classes)
    return ERR("metrics: class pair (gold %d, predicted %d) outside [0, %d)", (int)gold,
               (int)pred, cm->n_classes);
  cm->counts[(size_t)gold * (size_t)cm->n_classes + (size_t)pred]++;
  cm->total++;
  cm->correct += gold == pred;
  return 0;
}

double bertd_confusion_accuracy(const bertd_confusion *cm) { return ratio(cm->correct, cm->total); }

void bertd_confusion_free(bertd_confusion *cm) {
  free(cm->counts);
  memset(cm, 0, sizeof *cm);
}

/* Averages over the present entries of per (macro: plain mean; weighted: by support). */
static void averages(const bertd_prf *per, const uint8_t *present, int n, bertd_prf *macro,
                     bertd_prf *weighted) {
  double mp = 0, mr = 0, mf = 0, wp = 0, wr = 0, wf = 0;
  size_t k = 0, support = 0;
  for (int i = 0; i < n; i++) {
    if (!present[i]) continue;
    k++;
    mp += per[i].precision, mr += per[i].recall, mf += per[i].f1;
    double w = (double)per[i].support;
    wp += w * per[i].precision, wr += w * per[i].recall, wf += w * per[i].f1;
    support += per[i].support;
  }
  *macro = (bertd_prf){k ? mp / (double)k : 0, k ? mr / (double)k : 0, k ? mf / (double)k : 0,
                       support};
  double ws = (double)support;
  *weighted = (bertd_prf){support ? wp / ws : 0, support ? wr / ws : 0, support ? wf / ws : 0,
                          support};
}

int bertd_class_report_compute(const bertd_confusion *cm, bertd_class_report *out,
                               char *errstr, size_t errstr_size) {
  int n = cm->n_classes;
  memset(out, 0, sizeof *out);
  out->per_class = calloc((size_t)n, sizeof *out->per_class);
  out->present = calloc((size_t)n, 1);
  if (!out->per_class || !out->present) {
    bertd_class_report_free(out);
    return ERR("metrics: out of memory for a report of %d classes", n);
  }
  out->n_classes = n;
  size_t tp_all = 0, pred_all = 0, gold_all = 0;
  for (int c = 0; c < n; c++) {
    size_t tp = cm->counts[(size_t)c * (size_t)n + (size_t)c], gold = 0, pred = 0;
    for (int k = 0; k < n; k++) {
      gold += cm->counts[(size_t)c * (size_t)n + (size_t)k];
      pred += cm->counts[(size_t)k * (size_t)n + (size_t)c];
    }
    /* sklearn's f-score: 2 tp / (gold + pred), 0 when both are 0 */
    out->per_class[c] = (bertd_prf){ratio(tp, pred), ratio(tp, gold), ratio(2 * tp, gold + pred),
                                    gold};
    out->present[c] = gold + pred > 0;
    out->n_present += out->present[c];
    tp_all += tp, pred_all += pred, gold_all += gold;
  }
  out->micro = (bertd_prf){ratio(tp_all, pred_all), ratio(tp_all, gold_all),
                           ratio(2 * tp_all, gold_all + pred_all), gold_all};
  averages(out->per_class, out->present, n, &out->macro, &out->weighted);
  out->accuracy = bertd_confusion_accuracy(cm);
  return 0;
}

void bertd_class_report_free(bertd_class_report *r) {
  free(r->per_class);
  free(r->present);
  memset(r, 0, sizeof *r);
}

/* ---- spans ---- */

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* seqeval (default, prefix mode): tag = chunk[0], type = chunk[1:].split('-', 1)[-1] or '_' */
static const char *type_of(const char *tag) {
  if (!tag[0]) return "";
  const char *rest = tag + 1, *dash = strchr(rest, '-');
  return dash ? dash + 1 : rest;
}

static int find_type(const bertd_span_counts *sc, const char *t) {
  const char *key = *t ? t : "_";
  const char **hit = bsearch(&key, sc->types, (size_t)sc->n_types, sizeof(char *), cmp_str);
  return hit ? (int)((char **)hit - sc->types) : -1;
}

int bertd_span_counts_init(bertd_span_counts *sc, const char *const *tag_names, int n_tags,
                           char *errstr, size_t errstr_size) {
  memset(sc, 0, sizeof *sc);
  if (n_tags <= 0) return ERR("metrics: %d tags", n_tags);
  sc->n_tags = n_tags;
  sc->tag_prefix = malloc((size_t)n_tags);
  sc->tag_type = malloc(sizeof(int) * (size_t)n_tags);
  sc->types = calloc((size_t)n_tags + 1, sizeof(char *));
  if (!sc->tag_prefix || !sc->tag_type || !sc->types) goto oom;
  /* the types, with "_" always there: it is the type of the O that closes a sentence */
  int nt = 0;
  for (int i = 0; i <= n_tags; i++) {
    const char *t = i < n_tags ? type_of(tag_names[i]) : "_";
    if (!*t) t = "_";
    int seen = 0;
    for (int k = 0; k < nt && !seen; k++) seen = strcmp(sc->types[k], t) == 0;
    if (seen) continue;
    if (!(sc->types[nt] = strdup(t))) goto oom;
    nt++;
  }
  sc->n_types = nt;
  qsort(sc->types, (size_t)nt, sizeof(char *), cmp_str);
  for (int i = 0; i < n_tags; i++) {
    sc->tag_prefix[i] = tag_names[i][0];
    sc->tag_type[i] = find_type(sc, type_of(tag_names[i]));
  }
  sc->tp = calloc((size_t)nt, sizeof(size_t));
  sc->n_pred = calloc((size_t)nt, sizeof(size_t));
  sc->n_gold = calloc((size_t)nt, sizeof(size_t));
  if (!sc->tp || !sc->n_pred || !sc->n_gold) goto oom;
  return 0;
oom:
  bertd_span_counts_free(sc);
  return ERR("metrics: out of memory for %d tags", n_tags);
}

/* conlleval's end_of_chunk / start_of_chunk on (tag character, type index). */
static int chunk_ends(char pt, char t, int ptype, int type) {
  if (pt == 'E' || pt == 'S') return 1;
  if ((pt == 'B' || pt == 'I') && (t == 'B' || t == 'S' || t == 'O')) return 1;
  return pt != 'O' && pt != '.' && ptype != type;
}

static int chunk_starts(char pt, char t, int ptype, int type) {
  if (t == 'B' || t == 'S') return 1;
  if ((pt == 'E' || pt == 'S' || pt == 'O') && (t == 'E' || t == 'I')) return 1;
  return t != 'O' && t != '.' && ptype != type;
}

/* The chunks of one sentence as (type, begin, end) triples, in order of their end. The sentence
 * is read as seqeval reads it inside its flattened list: followed by an O (type "_"), and after
 * an O (type "" before the very first sentence). A chunk is closed at the sentence's end even
 * where seqeval would let it run on (possible only with tags outside BIOES, such as "X"). */
static size_t chunks(const bertd_span_counts *sc, const int32_t *tags, int n, int first_ptype,
                     size_t *out) {
  int o_type = find_type(sc, "_");
  char pt = 'O';
  int ptype = first_ptype, begin = 0, open = 0;
  size_t k = 0;
  for (int i = 0; i <= n; i++) {
    char t = i < n ? sc->tag_prefix[tags[i]] : 'O';
    int type = i < n ? sc->tag_type[tags[i]] : o_type;
    if (i < n ? chunk_ends(pt, t, ptype, type) && open : open) {
      out[k++] = (size_t)ptype, out[k++] = (size_t)begin, out[k++] = (size_t)(i - 1);
      open = 0;
    }
    if (i < n && chunk_starts(pt, t, ptype, type)) begin = i, open = 1;
    pt = t, ptype = type;
  }
  return k / 3;
}

int bertd_span_counts_add(bertd_span_counts *sc, const int32_t *gold, const int32_t *pred, int n,
                          char *errstr, size_t errstr_size) {
  for (int i = 0; i < n; i++)
    if (gold[i] < 0 || gold[i] >= sc->n_tags || pred[i] < 0 || pred[i] >= sc->n_tags)
      return ERR("metrics: tag pair (gold %d, predicted %d) at word %d outside [0, %d)",
                 (int)gold[i], (int)pred[i], i, sc->n_tags);
  /* at most one chunk per word, 3 numbers each, for gold and predicted */
  size_t need = 6 * (size_t)(n + 1);
  if (need > sc->scratch_cap) {
    size_t *p = realloc(sc->scratch, need * sizeof(size_t));
    if (!p) return ERR("metrics: out of memory for a sentence of %d words", n);
    sc->scratch = p, sc->scratch_cap = need;
  }
  int first = sc->sentences == 0 ? -1 : find_type(sc, "_");
  size_t *g = sc->scratch, *p = sc->scratch + 3 * (size_t)(n + 1);
  size_t ng = chunks(sc, gold, n, first, g), np = chunks(sc, pred, n, first, p);
  for (size_t i = 0; i < ng; i++) sc->n_gold[g[3 * i]]++;
  for (size_t i = 0; i < np; i++) sc->n_pred[p[3 * i]]++;
  /* both lists run in order of their end and no two chunks of a list share an end: merge */
  for (size_t i = 0, j = 0; i < ng && j < np;) {
    if (g[3 * i + 2] < p[3 * j + 2]) i++;
    else if (g[3 * i + 2] > p[3 * j + 2]) j++;
    else {
      if (g[3 * i] == p[3 * j] && g[3 * i + 1] == p[3 * j + 1]) sc->tp[g[3 * i]]++;
      i++, j++;
    }
  }
  sc->sentences++;
  sc->sentences_exact += memcmp(gold, pred, (size_t)n * sizeof(int32_t)) == 0;
  return 0;
}

void bertd_span_counts_free(bertd_span_counts *sc) {
  if (sc->types)
    for (int i = 0; i < sc->n_types; i++) free(sc->types[i]);
  free(sc->types);
  free(sc->tag_prefix);
  free(sc->tag_type);
  free(sc->tp);
  free(sc->n_pred);
  free(sc->n_gold);
  free(sc->scratch);
  memset(sc, 0, sizeof *sc);
}

int bertd_span_report_compute(const bertd_span_counts *sc, bertd_span_report *out,
                              char *errstr, size_t errstr_size) {
  int n = sc->n_types;
  memset(out, 0, sizeof *out);
  out->per_type = calloc((size_t)n, sizeof *out->per_type);
  out->present = calloc((size_t)n, 1);
  if (!out->per_type || !out->present) {
    bertd_span_report_free(out);
    return ERR("metrics: out of memory for a report of %d types", n);
  }
  out->n_types = n;
  out->types = (const char *const *)sc->types;
  size_t tp = 0, pred = 0, gold = 0;
  /* seqeval's F: 2PR / (P + R) from the ratios, 0 when both are 0 */
  for (int t = 0; t < n; t++) {
    double p = ratio(sc->tp[t], sc->n_pred[t]), r = ratio(sc->tp[t], sc->n_gold[t]);
    out->per_type[t] = (bertd_prf){p, r, p + r > 0 ? 2 * p * r / (p + r) : 0, sc->n_gold[t]};
    out->present[t] = sc->n_pred[t] + sc->n_gold[t] > 0;
    out->n_present += out->present[t];
    tp += sc->tp[t], pred += sc->n_pred[t], gold += sc->n_gold[t];
  }
  double p = ratio(tp, pred), r = ratio(tp, gold);
  out->micro = (bertd_prf){p, r, p + r > 0 ? 2 * p * r / (p + r) : 0, gold};
  averages(out->per_type, out->present, n, &out->macro, &out->weighted);
  return 0;
}

void bertd_span_report_free(bertd_span_report *r) {
  free(r->per_type);
  free(r->present);
  memset(r, 0, sizeof *r);
}

/* ---- joint ---- */

int bertd_joint_eval_init(bertd_joint_eval *je, int n_intents, const char *const *slot_names,
                          int n_slots, char *errstr, size_t errstr_size) {
  memset(je, 0, sizeof *je);
  if (bertd_confusion_init(&je->intents, n_intents, errstr, errstr_size)) return -1;
  if (bertd_span_counts_init(&je->slots, slot_names, n_slots, errstr, errstr_size)) {
    bertd_confusion_free(&je->intents);
    return -1;
  }
  return 0;
}

int bertd_joint_eval_add(bertd_joint_eval *je, int32_t gold_intent, int32_t pred_intent,
                         const int32_t *gold_slots, const int32_t *pred_slots, int n_words,
                         char *errstr, size_t errstr_size) {
  /* check both before counting either, so a bad example leaves the counts as they were */
  if (gold_intent < 0 || gold_intent >= je->intents.n_classes || pred_intent < 0 ||
      pred_intent >= je->intents.n_classes)
    return ERR("metrics: intent pair (gold %d, predicted %d) outside [0, %d)", (int)gold_intent,
               (int)pred_intent, je->intents.n_classes);
  if (bertd_span_counts_add(&je->slots, gold_slots, pred_slots, n_words, errstr, errstr_size))
    return -1;
  bertd_confusion_add(&je->intents, gold_intent, pred_intent, errstr, errstr_size);
  je->sentences++;
  je->sentences_right += gold_intent == pred_intent &&
                         !memcmp(gold_slots, pred_slots, (size_t)n_words * sizeof(int32_t));
  return 0;
}

int bertd_joint_eval_summary(const bertd_joint_eval *je, bertd_joint_summary *out,
                             char *errstr, size_t errstr_size) {
  bertd_span_report r;
  if (bertd_span_report_compute(&je->slots, &r, errstr, errstr_size)) return -1;
  *out = (bertd_joint_summary){.intent_accuracy = bertd_confusion_accuracy(&je->intents),
                               .slot_precision = r.micro.precision,
                               .slot_recall = r.micro.recall,
                               .slot_f1 = r.micro.f1,
                               .sentence_accuracy = ratio(je->sentences_right, je->sentences),
                               .sentences = je->sentences};
  bertd_span_report_free(&r);
  return 0;
}

void bertd_joint_eval_free(bertd_joint_eval *je) {
  bertd_confusion_free(&je->intents);
  bertd_span_counts_free(&je->slots);
  memset(je, 0, sizeof *je);
}
