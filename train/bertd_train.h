/* bertd_train.h: fine-tuning a pre-trained encoder on a labelled dataset: epochs of bucketed
 * batches, the dev split evaluated after each epoch, the best checkpoint (by the task's main
 * metric, evaluate.h) kept in the output directory, and the best checkpoint evaluated on the
 * test split at the end. The result is a JSON summary (metrics, hyperparameters, wall time,
 * training tokens/s). */
#ifndef BERTD_TRAIN_H
#define BERTD_TRAIN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bertd.h"
#include "bertd_dataset.h"
#include "bertd_rng.h"
#include "bertd_tokenizer.h"
#include "bertd_trainer.h"

/* progress.c: training progress on stderr. On a terminal one line is rewritten in place
 * ("\r": step/total, loss, lr, tokens/s, ETA); otherwise (a log file, CI) a plain line every
 * few steps, so logs stay readable and greppable. */

/* train_data.c: a dataset tokenized once for training and evaluation, and the order its
 * sequences are batched in.
 *
 * Every example becomes one packed sequence ([CLS] text [SEP] (pair [SEP])) whose ids, type ids,
 * word ids and token labels sit in flat arrays, so a batch is a handful of memcpy's. An epoch's
 * batches are bucketed by length: the shuffled sequences are cut into pools, each pool sorted by
 * length and cut into batches, and the batches shuffled. Sequences of one batch then have
 * similar lengths, which keeps batches of one epoch similar in cost (the trainer packs tokens, so
 * there is no padding to save, but a batch of long outliers is a slow, noisy step). */

typedef struct bertd_train_seq {
  size_t off;      /* into the token arrays */
  int len;         /* tokens, specials included */
  int32_t label;   /* class / intent id; -100 when the task has none */
  size_t example;  /* index of the source example in the dataset */
} bertd_train_seq;

typedef struct bertd_train_set {
  const bertd_dataset *ds;  /* borrowed: gold words and tags for evaluation */
  bertd_ft_task task;
  bertd_train_seq *seqs;
  size_t n;
  int32_t *ids, *type_ids;
  int32_t *word_ids;      /* word of the text (first sequence) per token, -1 elsewhere */
  int32_t *token_labels;  /* NULL unless the task tags */
  size_t n_tokens;
  size_t truncated;       /* examples cut at max_length */
} bertd_train_set;

/* Tokenizes every example of ds (which must outlive the set) with at most max_length tokens.
 * An example without the label its task needs is an error naming its line. */
int bertd_train_set_build(bertd_train_set *set, const bertd_dataset *ds, bertd_ft_task task,
                    const bertd_tokenizer *tok, int max_length, char *errstr,
                    size_t errstr_size);
void bertd_train_set_free(bertd_train_set *set);

/* Sequences of one epoch grouped into batches: batch i is order[start[i]..start[i+1]). */
typedef struct bertd_train_plan {
  size_t *order;
  size_t *start;
  size_t n_batches;
} bertd_train_plan;

/* A new epoch from rng: bucketed by length (see above) when bucket is 1, else the shuffled
 * order cut into batches. With rng NULL: the set's order, unshuffled (evaluation). */
int bertd_train_plan_epoch(bertd_train_plan *p, const bertd_train_set *set, int batch_size, int bucket,
                     bertd_rng *rng, char *errstr, size_t errstr_size);
void bertd_train_plan_free(bertd_train_plan *p);

/* Buffers of one batch, grown on demand. */
typedef struct bertd_batch_buf {
  int *lens;
  int32_t *ids, *type_ids, *token_labels, *labels;
  size_t cap_seqs, cap_tokens;
} bertd_batch_buf;

/* Fills b with batch i of p (pointers into buf); *tokens receives its token count. */
int bertd_batch_fill(const bertd_train_set *set, const bertd_train_plan *p, size_t i, bertd_batch_buf *buf,
                     bertd_train_batch *b, size_t *tokens, char *errstr, size_t errstr_size);
void bertd_batch_buf_free(bertd_batch_buf *buf);

typedef struct bertd_progress {
  FILE *f;
  int tty;
  long total, every;   /* every: steps between plain lines */
  double t0, last_draw;
  double loss_avg;     /* exponential moving average of the step loss */
  int have_loss;
  size_t tokens;
  int open_line;       /* a \r line is on screen and needs a newline before other output */
} bertd_progress;

double bertd_progress_now(void); /* monotonic seconds */

void bertd_progress_start(bertd_progress *p, FILE *f, long total_steps);
/* After micro-batch `step` (1-based) of `total`, with its loss, the next lr and its tokens. */
void bertd_progress_step(bertd_progress *p, long step, int epoch, float loss, float lr,
                         size_t tokens);
/* A message on its own line (ends an in-place line first). */
void bertd_progress_log(bertd_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
double bertd_progress_tokens_per_s(const bertd_progress *p);

typedef struct bertd_train_opts {
  bertd_ft_task task;
  const char *model_dir;   /* pre-trained checkpoint (encoder; a head is added) */
  const char *out_dir;     /* the best checkpoint */
  int epochs;              /* 3 */
  int batch_size;          /* 32: sequences per micro-batch */
  int eval_batch_size;     /* 64 */
  int max_length;          /* 128: tokens, specials included */
  float lr;                /* 5e-5 */
  float warmup_ratio;      /* 0: share of the optimizer steps warming up... */
  int warmup_steps;        /* ...or this many (>= 0 wins over the ratio; -1: use the ratio) */
  float weight_decay;      /* 0 */
  float slot_loss_coef;    /* 1: joint loss = intent + coef x slot cross-entropy (JointBERT's) */
  float max_grad_norm;     /* 1 */
  int grad_accum;          /* 1 */
  uint64_t seed;           /* 42: weights of the new head, shuffling, dropout */
  int bucket;              /* 1: length-bucketed batches */
  int threads;             /* BLAS threads, reported in the summary (0: BLAS default) */
  bertd_tag_decoding tag_decoding; /* joint / tag evaluation: bio (as served by default) */
  FILE *log;               /* progress and per-epoch lines (stderr) */
} bertd_train_opts;

void bertd_train_opts_default(bertd_train_opts *o);

/* The splits; dev and test may be NULL (no dev: the last epoch is kept). Their label lists
 * must be train's. *summary receives a new JSON object (caller json_decref's it). */
typedef struct bertd_train_splits {
  const bertd_dataset *train, *dev, *test;
  const char *dev_name, *test_name;  /* for messages and the summary ("dev", "test") */
} bertd_train_splits;

int bertd_train_run(const bertd_train_opts *o, const bertd_train_splits *sp, json_t **summary,
                    char *errstr, size_t errstr_size);

/* train_splits.c: the train / dev / test splits of `bertd train` and `bertd eval`, read from
 * what the user points --data at:
 *   jointbert  a directory with train/, dev/, test/ (dev and test used when present)
 *   jsonl      --data is train; --dev FILE and --test FILE the others
 *   csv        one file; --heldout N rows become test and --dev-heldout M more become dev,
 *              both chosen by a seeded shuffle (the same seed gives the same rows)
 * Label ids mean the same in every split: JointBERT's label files, or train's lists (sorted by
 * name for classification, as run_glue does) copied and frozen before dev and test are read.
 * For evaluating a checkpoint the model's own lists are loaded first instead. */

#define BERTD_MAX_TEXT_COLUMNS 8

typedef struct bertd_data_args {
  const char *data;        /* --data */
  const char *format;      /* jointbert | jsonl | csv; NULL: from --data (directory, .csv) */
  const char *dev_path, *test_path;   /* jsonl */
  const char *eval_split;  /* jointbert: the split selected on ("dev") */
  const char *text_columns[BERTD_MAX_TEXT_COLUMNS];
  int n_text_columns;
  const char *pair_column, *label_column, *tags_column;
  long heldout, dev_heldout;  /* csv */
  uint64_t seed;
} bertd_data_args;

typedef struct bertd_splits {
  bertd_dataset train, dev, test;
  int has_dev, has_test;
} bertd_splits;

/* label_model: NULL for training; a checkpoint directory whose label lists the data is read
 * with (evaluation). */
int bertd_splits_load(const bertd_data_args *a, bertd_ft_task task, const char *label_model,
                      bertd_splits *sp, char *errstr, size_t errstr_size);
void bertd_splits_free(bertd_splits *sp);

/* train_pretrain.c: `bertd train --task mlm-nsp`: continued pre-training (masked language
 * modelling + next-sentence prediction, BertForPreTraining) on a plain-text corpus (one
 * sentence a line, blank lines between documents). NSP pairs are built once from the corpus
 * (bertd_masking.h, after create_pretraining_data); the last --heldout pairs are kept for
 * evaluation with fixed masks, the rest are masked afresh every epoch (dynamic masking, as
 * RoBERTa and transformers' DataCollatorForLanguageModeling do). The checkpoint with the best
 * held-out MLM accuracy is kept. */

/* heldout: pairs held out (0: 5 %, at least 1). */
int bertd_pretrain_run(const bertd_train_opts *o, const char *corpus_path, long heldout,
                       json_t **summary, char *errstr, size_t errstr_size);

#endif
