/* bertd_enrich.h: one batch of texts -> task results as JSON objects. The CLI and the daemon both
 * enrich through here, so a record enriched by `bertd run` equals what the CLI prints. */
#ifndef BERTD_ENRICH_H
#define BERTD_ENRICH_H

#include <jansson.h>
#include <stddef.h>

#include "bertd.h"

typedef enum {
  BERTD_ENRICH_TOKENIZE = 0,
  BERTD_ENRICH_CLASSIFY,
  BERTD_ENRICH_TAG,
  BERTD_ENRICH_JOINT,
  BERTD_ENRICH_QA,
  BERTD_ENRICH_EMBED,
  BERTD_ENRICH_FILL_MASK,
  BERTD_ENRICH_NSP
} bertd_enrich_task;

/* on_too_long: window (window.h gathers a text's windows) */
typedef struct window_acc window_acc;

typedef enum { WINDOW_COMBINE_MEAN = 0, WINDOW_COMBINE_MAX = 1 } window_combine;

typedef struct bertd_enrich_opts {
  bertd_enrich_task task;
  int max_length;          /* 0: the model's (sentence-transformers' max_seq_length if any) */
  bertd_truncation truncation;
  int top_k;               /* labels / intents / fills to report; 0: task default */
  /* Labels (classify) and intents (joint) scoring below threshold are not reported, when
   * has_threshold is set (any threshold in [0, 1], 0 included: 0 reports every label). Unset
   * (has_threshold 0, what a zeroed struct says): multi-label classify keeps labels scoring at
   * least 0.5, the usual sigmoid decision; single-label classify and joint keep top_k labels
   * whatever their score. Other tasks refuse a threshold. */
  int has_threshold;
  float threshold;
  int max_answer_tokens;   /* qa; 0: 15 */
  int too_long_is_error;   /* 1: a text over max_length is an error instead of truncated */
  bertd_tag_decoding tag_decoding; /* tag / joint slots: bio (default) or argmax */
  int threads;             /* threads a batch is split across; 0: the session's default */
  /* on_too_long: window. A text over max_length is cut into overlapping windows of max_length
   * tokens (the context, for qa; bertd_tokenizer_encode_windows), each run as a sequence of
   * its own, and their outputs combined (window.h). classify, tag, joint, qa and embed. */
  int window;
  int window_stride;       /* tokens neighbouring windows share; < 0: max_length / 4 */
  window_combine window_combine; /* classify / joint intent: mean (default) or max of logits */
} bertd_enrich_opts;

/* "classify" -> BERTD_ENRICH_CLASSIFY ...; -1 for an unknown name. */
int bertd_enrich_task_parse(const char *name, bertd_enrich_task *out);
const char *bertd_enrich_task_name(bertd_enrich_task t);

typedef struct bertd_enricher bertd_enricher;

/* Checks that the model supports the task (e.g. joint needs JointBERT heads). */
int bertd_enricher_create(const bertd_model *m, const bertd_enrich_opts *opts,
                          bertd_enricher **out, char *errstr, size_t errstr_size);
void bertd_enricher_free(bertd_enricher *e);

/* Runs the model once at the largest batch the caller will hand over (max_records records,
 * max_tokens padded tokens in all, each at most the task's max_length), so that memory is
 * allocated at start-up and stays flat while serving (see bertd_session_warm_up). */
int bertd_enricher_warm_up(bertd_enricher *e, int max_records, int max_tokens, char *errstr,
                           size_t errstr_size);

/* Enriches B records. pairs may be NULL (or hold NULLs). For each record i, results[i] is a new
 * JSON object, or NULL with errors[i] holding why (invalid UTF-8, too long, ...); a record's
 * error does not affect the others. Returns -1 only when the whole batch failed (errstr). */
int bertd_enricher_run(bertd_enricher *e, int B, const char *const *texts, const size_t *lens,
                       const char *const *pairs, const size_t *pair_lens, json_t **results,
                       char (*errors)[256], char *errstr, size_t errstr_size);

/* The two halves of bertd_enricher_run, for callers that bucket by length in between:
 * tokenize one record with the enricher's options, then run a batch of encodings. texts and
 * pairs are needed again to cut slot / answer text out of the originals. */
int bertd_enricher_encode(const bertd_enricher *e, const char *text, size_t len,
                          const char *pair, size_t pair_len, bertd_encoding *enc,
                          char *errstr, size_t errstr_size);
int bertd_enricher_run_encoded(bertd_enricher *e, int B, const bertd_encoding *const *encs,
                               const char *const *texts, const char *const *pairs,
                               json_t **results, char *errstr, size_t errstr_size);

/* ---- on_too_long: window ----
 * The plugin and bertd_enricher_run use these; a text that fits is one window and takes the
 * plain path (bertd_enricher_run_encoded). */

/* Cuts one record into windows with the enricher's max_length and window_stride. Tag and joint
 * take no text_pair here (their tags are the text's). */
int bertd_enricher_encode_windows(const bertd_enricher *e, const char *text, size_t len,
                                  const char *pair, size_t pair_len, bertd_windows *w,
                                  char *errstr, size_t errstr_size);
/* A new gatherer for w's windows (bertd_window_acc_free when done). */
window_acc *bertd_enricher_window_acc(const bertd_enricher *e, const bertd_windows *w,
                                      char *errstr, size_t errstr_size);
/* As bertd_enricher_run_encoded, but sequence i with accs[i] != NULL is window win[i] of a long
 * record: its outputs go to accs[i] and results[i] stays NULL. accs may be NULL. */
int bertd_enricher_run_windows(bertd_enricher *e, int B, const bertd_encoding *const *encs,
                               const char *const *texts, const char *const *pairs,
                               window_acc *const *accs, const int *win, json_t **results,
                               char *errstr, size_t errstr_size);
/* The combined result of a record whose windows are all in: the task's usual fields, plus
 * "windows": the window count. */
json_t *bertd_enricher_window_result(const bertd_enricher *e, const window_acc *a,
                                     const char *text, const char *pair, char *errstr,
                                     size_t errstr_size);

#endif
