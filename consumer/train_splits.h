/* train_splits.h: the train / dev / test splits of `bertd train` and `bertd eval`, read from
 * what the user points --data at:
 *   jointbert  a directory with train/, dev/, test/ (dev and test used when present)
 *   jsonl      --data is train; --dev FILE and --test FILE the others
 *   csv        one file; --heldout N rows become test and --dev-heldout M more become dev,
 *              both chosen by a seeded shuffle (the same seed gives the same rows)
 * Label ids mean the same in every split: JointBERT's label files, or train's lists (sorted by
 * name for classification, as run_glue does) copied and frozen before dev and test are read.
 * For evaluating a checkpoint the model's own lists are loaded first instead. */
#ifndef BERTD_TRAIN_SPLITS_H
#define BERTD_TRAIN_SPLITS_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "train_data.h"

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

#endif
