/* train_loop.h: fine-tuning a pre-trained encoder on a labelled dataset: epochs of bucketed
 * batches, the dev split evaluated after each epoch, the best checkpoint (by the task's main
 * metric, evaluate.h) kept in the output directory, and the best checkpoint evaluated on the
 * test split at the end. The result is a JSON summary (metrics, hyperparameters, wall time,
 * training tokens/s). */
#ifndef BERTD_TRAIN_LOOP_H
#define BERTD_TRAIN_LOOP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bertd.h"
#include "dataset.h"
#include "train_data.h"

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

#endif
