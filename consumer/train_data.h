/* train_data.h: a dataset tokenized once for training and evaluation, and the order its
 * sequences are batched in.
 *
 * Every example becomes one packed sequence ([CLS] text [SEP] (pair [SEP])) whose ids, type ids,
 * word ids and token labels sit in flat arrays, so a batch is a handful of memcpy's. An epoch's
 * batches are bucketed by length: the shuffled sequences are cut into pools, each pool sorted by
 * length and cut into batches, and the batches shuffled. Sequences of one batch then have
 * similar lengths, which keeps batches of one epoch similar in cost (the trainer packs tokens, so
 * there is no padding to save, but a batch of long outliers is a slow, noisy step). */
#ifndef BERTD_TRAIN_DATA_H
#define BERTD_TRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "rng.h"
#include "tokenizer.h"
#include "train_batch.h"

/* What is trained; decides which labels a sequence carries. */
typedef enum {
  BERTD_FT_JOINT = 0, /* intent (labels[0]) + slot tag per word (JointBERT, ignore 0 = PAD) */
  BERTD_FT_CLASSIFY,  /* sequence class (labels[0]) */
  BERTD_FT_TAG        /* a tag per word (token classification, ignore -100) */
} bertd_ft_task;

const char *bertd_ft_task_name(bertd_ft_task t); /* "joint", "classify", "tag" */
int bertd_ft_task_parse(const char *s, bertd_ft_task *t);  /* 0, or -1 for an unknown name */

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

#endif
