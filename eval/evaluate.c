/* evaluate.c: logits -> predictions -> the task's metrics (bertd_metrics.h does the counting). */
#include "bertd_eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int32_t argmax(const float *x, int n) {
  int32_t best = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[best]) best = i;
  return best;
}

int bertd_evaluator_init(bertd_evaluator *ev, bertd_ft_task task, const bertd_label_list *labels,
                         const bertd_label_list *tags, bertd_tag_decoding decoding, char *errstr,
                         size_t errstr_size) {
  memset(ev, 0, sizeof *ev);
  ev->task = task;
  ev->decoding = decoding;
  ev->n_labels = labels ? labels->n : 0;
  ev->n_tags = tags ? tags->n : 0;
  if (task != BERTD_FT_TAG && ev->n_labels < 1) {
    snprintf(errstr, errstr_size, "evaluate: no label list");
    return -1;
  }
  if (task != BERTD_FT_CLASSIFY) {
    if (ev->n_tags < 1) {
      snprintf(errstr, errstr_size, "evaluate: no tag list");
      return -1;
    }
    int o = bertd_label_list_find(tags, "O");
    ev->o_tag = o >= 0 ? o : 0;
  }
  const char *const *tag_names = tags ? (const char *const *)tags->names : NULL;
  ev->tag_names = tag_names;
  switch (task) {
  case BERTD_FT_JOINT:
    return bertd_joint_eval_init(&ev->je, ev->n_labels, tag_names, ev->n_tags, errstr,
                                 errstr_size);
  case BERTD_FT_CLASSIFY: return bertd_confusion_init(&ev->cm, ev->n_labels, errstr, errstr_size);
  case BERTD_FT_TAG:
    return bertd_span_counts_init(&ev->sc, tag_names, ev->n_tags, errstr, errstr_size);
  }
  return -1;
}

/* Word-level predictions: each word's tag comes from the logits of its first token, decoded
 * over the sentence's words as the served model decodes them. */
static int predict_words(bertd_evaluator *ev, const bertd_example *ex, const int32_t *word_ids,
                         int len, const float *tok_logits, char *errstr, size_t errstr_size) {
  size_t n = (size_t)ex->n_words, K = (size_t)ev->n_tags;
  if (n > ev->cap_words) {
    int32_t *p = realloc(ev->pred_words, n * sizeof *p);
    if (!p) {
      snprintf(errstr, errstr_size, "evaluate: out of memory");
      return -1;
    }
    ev->pred_words = p;
    ev->cap_words = n;
  }
  if (n * K > ev->cap_rows) {
    float *r = realloc(ev->word_rows, n * K * sizeof *r);
    if (!r) {
      snprintf(errstr, errstr_size, "evaluate: out of memory");
      return -1;
    }
    ev->word_rows = r;
    ev->cap_rows = n * K;
  }
  /* pred_words first holds, for each word with a token, its row in word_rows (-1: no token,
   * e.g. truncated away); the decoded tags then replace the row numbers */
  for (size_t w = 0; w < n; w++) ev->pred_words[w] = -1;
  int rows = 0;
  for (int t = 0; t < len; t++) {
    int32_t w = word_ids[t];
    if (w < 0 || (size_t)w >= n || ev->pred_words[w] >= 0) continue;
    memcpy(ev->word_rows + (size_t)rows * K, tok_logits + (size_t)t * K, K * sizeof(float));
    ev->pred_words[w] = rows++;
  }
  int32_t *tags = malloc(sizeof(int32_t) * (size_t)(rows > 0 ? rows : 1));
  if (!tags) {
    snprintf(errstr, errstr_size, "evaluate: out of memory");
    return -1;
  }
  int rc = bertd_tag_decode(ev->word_rows, rows, (int)K, ev->tag_names, ev->decoding, tags,
                            NULL, errstr, errstr_size);
  for (size_t w = 0; rc == 0 && w < n; w++)
    ev->pred_words[w] = ev->pred_words[w] >= 0 ? tags[ev->pred_words[w]] : ev->o_tag;
  free(tags);
  return rc;
}

int bertd_evaluator_add(bertd_evaluator *ev, const bertd_example *ex, const int32_t *word_ids,
                        int len, const float *seq_logits, const float *tok_logits, char *errstr,
                        size_t errstr_size) {
  if (ev->task != BERTD_FT_CLASSIFY &&
      predict_words(ev, ex, word_ids, len, tok_logits, errstr, errstr_size))
    return -1;
  switch (ev->task) {
  case BERTD_FT_JOINT:
    return bertd_joint_eval_add(&ev->je, ex->labels[0], argmax(seq_logits, ev->n_labels),
                                ex->tags, ev->pred_words, ex->n_words, errstr, errstr_size);
  case BERTD_FT_CLASSIFY:
    return bertd_confusion_add(&ev->cm, ex->labels[0], argmax(seq_logits, ev->n_labels), errstr,
                               errstr_size);
  case BERTD_FT_TAG:
    return bertd_span_counts_add(&ev->sc, ex->tags, ev->pred_words, ex->n_words, errstr,
                                 errstr_size);
  }
  return -1;
}

int bertd_evaluator_finish(const bertd_evaluator *ev, bertd_eval_metrics *out, char *errstr,
                           size_t errstr_size) {
  memset(out, 0, sizeof *out);
  out->task = ev->task;
  if (ev->task == BERTD_FT_JOINT) {
    bertd_joint_summary s;
    if (bertd_joint_eval_summary(&ev->je, &s, errstr, errstr_size)) return -1;
    out->examples = s.sentences;
    out->intent_accuracy = s.intent_accuracy;
    out->sentence_accuracy = s.sentence_accuracy;
    out->span_precision = s.slot_precision;
    out->span_recall = s.slot_recall;
    out->span_f1 = s.slot_f1;
    /* the two figures JointBERT reports, equally weighted: picking by sentence accuracy alone
     * would favour intent errors on slot-free utterances over slot errors */
    out->main = (s.intent_accuracy + s.slot_f1) / 2;
    out->main_name = "mean(intent_acc, slot_f1)";
  } else if (ev->task == BERTD_FT_CLASSIFY) {
    bertd_class_report r;
    if (bertd_class_report_compute(&ev->cm, &r, errstr, errstr_size)) return -1;
    out->examples = ev->cm.total;
    out->accuracy = r.accuracy;
    out->macro_f1 = r.macro.f1;
    out->micro_f1 = r.micro.f1;
    out->weighted_f1 = r.weighted.f1;
    out->main = r.accuracy;
    out->main_name = "accuracy";
    bertd_class_report_free(&r);
  } else {
    bertd_span_report r;
    if (bertd_span_report_compute(&ev->sc, &r, errstr, errstr_size)) return -1;
    out->examples = ev->sc.sentences;
    out->span_precision = r.micro.precision;
    out->span_recall = r.micro.recall;
    out->span_f1 = r.micro.f1;
    out->sentence_accuracy =
        ev->sc.sentences ? (double)ev->sc.sentences_exact / (double)ev->sc.sentences : 0;
    out->main = r.micro.f1;
    out->main_name = "span_f1";
    bertd_span_report_free(&r);
  }
  return 0;
}

void bertd_evaluator_free(bertd_evaluator *ev) {
  if (ev->task == BERTD_FT_JOINT) bertd_joint_eval_free(&ev->je);
  else if (ev->task == BERTD_FT_CLASSIFY) bertd_confusion_free(&ev->cm);
  else bertd_span_counts_free(&ev->sc);
  free(ev->pred_words);
  free(ev->word_rows);
  memset(ev, 0, sizeof *ev);
}

static int put(json_t *obj, const char *prefix, const char *name, json_t *v) {
  char key[96];
  snprintf(key, sizeof key, "%s%s", prefix, name);
  return json_object_set_new(obj, key, v);
}

/* percentages with two decimals, as the papers print them */
static json_t *pct(double x) { return json_real((double)(long long)(x * 10000 + 0.5) / 100); }

int bertd_eval_metrics_json(const bertd_eval_metrics *m, const char *prefix, json_t *obj) {
  int rc = put(obj, prefix, "examples", json_integer((json_int_t)m->examples));
  if (m->task == BERTD_FT_JOINT) {
    rc |= put(obj, prefix, "intent_acc", pct(m->intent_accuracy));
    rc |= put(obj, prefix, "slot_precision", pct(m->span_precision));
    rc |= put(obj, prefix, "slot_recall", pct(m->span_recall));
    rc |= put(obj, prefix, "slot_f1", pct(m->span_f1));
    rc |= put(obj, prefix, "sentence_acc", pct(m->sentence_accuracy));
  } else if (m->task == BERTD_FT_CLASSIFY) {
    rc |= put(obj, prefix, "accuracy", pct(m->accuracy));
    rc |= put(obj, prefix, "macro_f1", pct(m->macro_f1));
    rc |= put(obj, prefix, "micro_f1", pct(m->micro_f1));
    rc |= put(obj, prefix, "weighted_f1", pct(m->weighted_f1));
  } else {
    rc |= put(obj, prefix, "span_precision", pct(m->span_precision));
    rc |= put(obj, prefix, "span_recall", pct(m->span_recall));
    rc |= put(obj, prefix, "span_f1", pct(m->span_f1));
    rc |= put(obj, prefix, "sentence_acc", pct(m->sentence_accuracy));
  }
  return rc ? -1 : 0;
}

void bertd_eval_metrics_format(const bertd_eval_metrics *m, char *buf, size_t size) {
  if (m->task == BERTD_FT_JOINT)
    snprintf(buf, size, "intent_acc %.2f slot_f1 %.2f sentence_acc %.2f (%zu)",
             100 * m->intent_accuracy, 100 * m->span_f1, 100 * m->sentence_accuracy,
             m->examples);
  else if (m->task == BERTD_FT_CLASSIFY)
    snprintf(buf, size, "accuracy %.2f macro_f1 %.2f (%zu)", 100 * m->accuracy,
             100 * m->macro_f1, m->examples);
  else
    snprintf(buf, size, "span_f1 %.2f precision %.2f recall %.2f (%zu)", 100 * m->span_f1,
             100 * m->span_precision, 100 * m->span_recall, m->examples);
}
