/* bertd_eval.h: a fine-tuned model's metrics on a labelled split, from its logits.
 *
 * The evaluator takes one sequence at a time (its logits and which word each token starts), so
 * it serves the trainer's packed eval batches, a checkpoint run through a session (`bertd eval`)
 * and a replay that streams records alike. Word-level tags come from each word's first word
 * piece, as JointBERT and seqeval score them, decoded as served (bertd_tag_decode: bio by
 * default, argmax as transformers); a word with no token (truncated away) is predicted "O".
 *   joint     intent accuracy, slot span P/R/F1 (conlleval), sentence accuracy
 *   classify  accuracy, macro / micro / weighted F1
 *   tag       span P/R/F1 (conlleval), token-word accuracy */
#ifndef BERTD_EVAL_H
#define BERTD_EVAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "bertd.h"
#include "bertd_dataset.h"
#include "bertd_metrics.h"

typedef struct bertd_eval_metrics {
  bertd_ft_task task;
  size_t examples;
  double intent_accuracy, sentence_accuracy;  /* joint */
  double accuracy, macro_f1, micro_f1, weighted_f1;  /* classify */
  double span_precision, span_recall, span_f1;  /* joint slots, tag */
  double main;             /* the figure the best checkpoint is chosen by (main_name) */
  const char *main_name;
} bertd_eval_metrics;

typedef struct bertd_evaluator {
  bertd_ft_task task;
  int n_labels, n_tags;
  int32_t o_tag;           /* id of "O" (the prediction for a word without a token) */
  bertd_tag_decoding decoding;
  const char *const *tag_names;
  float *word_rows;        /* (words, n_tags): logits of each word's first token */
  size_t cap_rows;
  bertd_joint_eval je;
  bertd_confusion cm;
  bertd_span_counts sc;
  int32_t *pred_words;
  size_t cap_words;
} bertd_evaluator;

/* labels / tags: the lists the model's outputs index (the dataset's, which training gave the
 * model). */
int bertd_evaluator_init(bertd_evaluator *ev, bertd_ft_task task, const bertd_label_list *labels,
                         const bertd_label_list *tags, bertd_tag_decoding decoding, char *errstr,
                         size_t errstr_size);
/* One sequence of len tokens of example ex: word_ids (len) the word of the text each token
 * belongs to (-1: special or second sequence); seq_logits (n_labels) for joint / classify;
 * tok_logits (len, n_tags) for joint / tag. */
int bertd_evaluator_add(bertd_evaluator *ev, const bertd_example *ex, const int32_t *word_ids,
                        int len, const float *seq_logits, const float *tok_logits, char *errstr,
                        size_t errstr_size);
int bertd_evaluator_finish(const bertd_evaluator *ev, bertd_eval_metrics *out, char *errstr,
                           size_t errstr_size);
void bertd_evaluator_free(bertd_evaluator *ev);

/* The task's metrics as JSON fields of obj, each name prefixed (e.g. "dev_"). */
int bertd_eval_metrics_json(const bertd_eval_metrics *m, const char *prefix, json_t *obj);
/* One line for a log: "intent_acc 97.65 slot_f1 95.80 sentence_acc 87.91 (893)". */
void bertd_eval_metrics_format(const bertd_eval_metrics *m, char *buf, size_t size);

/* eval_checkpoint.c: a saved checkpoint's metrics on a labelled split, through the inference
 * path (bertd_model_load + a session), so what is measured is what `bertd run` would serve.
 * `bertd eval` and the end of `bertd train` (the best checkpoint on the test split) use it. */

/* ds's label (and tag) lists must be the model's, name for name (read the data with the
 * model's lists preloaded, or from the JointBERT label files the model was trained with). */
/* precision: the encoder's (bertd_model_set_precision); a CPU without the instructions is an
 * error whose message starts "precision ". */
int bertd_eval_checkpoint(const char *model_dir, bertd_ft_task task, const bertd_dataset *ds,
                          int max_length, int batch_size, bertd_tag_decoding decoding,
                          bertd_precision precision, bertd_eval_metrics *out,
                          char *errstr, size_t errstr_size);

/* Fills ds's label lists (frozen) from a checkpoint's config, for reading evaluation data. */
int bertd_eval_preload_labels(const char *model_dir, bertd_ft_task task, bertd_dataset *ds,
                              char *errstr, size_t errstr_size);

#endif
