/* bertd_metrics.h: evaluation arithmetic for classification and tagging, shared by training and the
 * replay evaluation. Accumulators take one example at a time (a replay streams its records);
 * reports turn the counts into precision / recall / F1.
 *   - Classes follow scikit-learn: per-class precision/recall/F1 from a confusion matrix, macro
 *     and weighted averages over the classes that occur in gold or predictions (sklearn's
 *     labels=None), micro from the summed counts, 0 where a ratio has no denominator
 *     (zero_division's default).
 *   - Spans follow conlleval / seqeval's default mode: chunks are read from BIO(ES) tags, an I-
 *     after O or after another type starts a new chunk, and a span counts only when its type and
 *     both boundaries match.
 *   - Sentence accuracy (JointBERT's sementic frame accuracy): intent right and every slot tag
 *     right. */
#ifndef BERTD_METRICS_H
#define BERTD_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct bertd_prf {
  double precision, recall, f1;
  size_t support;  /* gold examples (classes) or gold spans (types) */
} bertd_prf;

/* ---- classification ---- */

typedef struct bertd_confusion {
  int n_classes;
  size_t *counts;  /* (n_classes, n_classes): row = gold, column = predicted */
  size_t total, correct;
} bertd_confusion;

int bertd_confusion_init(bertd_confusion *cm, int n_classes, char *errstr, size_t errstr_size);
/* A class id outside [0, n_classes) is an error. */
int bertd_confusion_add(bertd_confusion *cm, int32_t gold, int32_t pred, char *errstr,
                        size_t errstr_size);
double bertd_confusion_accuracy(const bertd_confusion *cm);  /* 0 when empty */
void bertd_confusion_free(bertd_confusion *cm);

typedef struct bertd_class_report {
  int n_classes;
  bertd_prf *per_class;  /* n_classes; all zero for classes absent from gold and predictions */
  uint8_t *present;      /* 1 for classes in gold or predictions: the ones averaged */
  int n_present;
  bertd_prf micro, macro, weighted;  /* support: all gold examples */
  double accuracy;
} bertd_class_report;

int bertd_class_report_compute(const bertd_confusion *cm, bertd_class_report *out,
                               char *errstr, size_t errstr_size);
void bertd_class_report_free(bertd_class_report *r);

/* ---- spans (slot filling, NER) ---- */

typedef struct bertd_span_counts {
  int n_tags;
  char *tag_prefix;     /* per tag id: its first character (B, I, E, S, O, ...) */
  int *tag_type;        /* per tag id: index into types */
  char **types;         /* every type the tags name, sorted by name (seqeval's order) */
  int n_types;
  size_t *tp, *n_pred, *n_gold;  /* per type: matched, predicted and gold spans */
  size_t sentences, sentences_exact;  /* sentences, and those with every tag right */
  size_t *scratch;      /* chunk buffers of the longest sentence so far */
  size_t scratch_cap;
} bertd_span_counts;

/* tag_names: the tag list (index = id), e.g. slot_label.txt. A tag's type is what seqeval reads:
 * the text after the first '-' following its first character ("B-fromloc.city_name" ->
 * "fromloc.city_name"), or the rest when there is no '-' ("UNK" -> "NK"), "_" when empty. */
int bertd_span_counts_init(bertd_span_counts *sc, const char *const *tag_names, int n_tags,
                           char *errstr, size_t errstr_size);
/* One sentence of n word-level tag ids, gold and predicted. Sentences are independent, as in
 * seqeval, which reads a list of sentences as one sequence with an O between them. */
int bertd_span_counts_add(bertd_span_counts *sc, const int32_t *gold, const int32_t *pred, int n,
                          char *errstr, size_t errstr_size);
void bertd_span_counts_free(bertd_span_counts *sc);

typedef struct bertd_span_report {
  int n_types;
  const char *const *types;   /* borrowed from the counts */
  bertd_prf *per_type;        /* n_types; all zero for types with no gold or predicted span */
  uint8_t *present;           /* 1 for types with a gold or predicted span: the ones averaged */
  int n_present;
  bertd_prf micro, macro, weighted;  /* micro is seqeval's f1_score / precision / recall */
} bertd_span_report;

int bertd_span_report_compute(const bertd_span_counts *sc, bertd_span_report *out,
                              char *errstr, size_t errstr_size);
void bertd_span_report_free(bertd_span_report *r);

/* ---- joint intent + slots ---- */

typedef struct bertd_joint_eval {
  bertd_confusion intents;
  bertd_span_counts slots;
  size_t sentences, sentences_right;  /* intent and every slot tag right */
} bertd_joint_eval;

typedef struct bertd_joint_summary {
  double intent_accuracy;
  double slot_precision, slot_recall, slot_f1;  /* span-level, micro */
  double sentence_accuracy;
  size_t sentences;
} bertd_joint_summary;

int bertd_joint_eval_init(bertd_joint_eval *je, int n_intents, const char *const *slot_names,
                          int n_slots, char *errstr, size_t errstr_size);
int bertd_joint_eval_add(bertd_joint_eval *je, int32_t gold_intent, int32_t pred_intent,
                         const int32_t *gold_slots, const int32_t *pred_slots, int n_words,
                         char *errstr, size_t errstr_size);
int bertd_joint_eval_summary(const bertd_joint_eval *je, bertd_joint_summary *out,
                             char *errstr, size_t errstr_size);
void bertd_joint_eval_free(bertd_joint_eval *je);

/* ---- calibration (calibration.c) ---- */

#define BERTD_ECE_BINS 15

/* Expected calibration error over n predictions: confidence conf[i] (the top score) and
 * whether it was right. Bins of equal width over [0, 1], bin k holding (k/15, (k+1)/15]
 * (confidence 0 in bin 0); ECE = sum over bins of |bin| / n * |accuracy - mean confidence|.
 * bins (BERTD_ECE_BINS, may be NULL) gets each bin's count, accuracy and mean confidence. */
typedef struct bertd_calib_bin {
  size_t count;
  double accuracy, confidence;
} bertd_calib_bin;
double bertd_ece(const float *conf, const uint8_t *right, size_t n, bertd_calib_bin *bins);

/* The q-th percentile (0..100) of v (n > 0, sorted ascending), linear between the two nearest
 * ranks (numpy's default). */
double bertd_percentile_sorted(const double *v, size_t n, double q);

/* ---- paired significance (significance.c) ---- */

/* Exact McNemar test: two-sided binomial p-value of the discordant pairs, a_only (A right, B
 * wrong) against b_only (B right, A wrong), under p = 1/2; 1 when there are none. */
double bertd_mcnemar_exact(size_t a_only, size_t b_only);

#endif
