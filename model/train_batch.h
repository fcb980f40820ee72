/* train_batch.h: what one training step reads: a batch of packed sequences and the labels of
 * the model's task. Part of the trainer's public API (trainer.h includes it). */
#ifndef BERTD_TRAIN_BATCH_H
#define BERTD_TRAIN_BATCH_H

#include <stdint.h>

/* The loss a model trains with, from its architecture (and problem_type): */
typedef enum {
  BERTD_TRAIN_SEQ_CLS = 0,   /* BertForSequenceClassification, single-label: CrossEntropyLoss
                                on classifier(dropout(pooled)) */
  BERTD_TRAIN_MULTI_LABEL,   /* the same model with problem_type "multi_label_classification":
                                BCEWithLogitsLoss, mean over B*NL */
  BERTD_TRAIN_TOKEN_CLS,     /* BertForTokenClassification: CrossEntropyLoss over tokens,
                                label -100 ignored, mean over the others */
  BERTD_TRAIN_JOINT,         /* JointBERT (monologg): intent CE (pooled) + slot_loss_coef *
                                slot CE over all tokens with ignore_index = slot_ignore_index
                                (JointBERT's pad_token_label_id 0, the "PAD" slot label) */
  BERTD_TRAIN_MLM,           /* BertForMaskedLM: CE over positions whose label != -100; the
                                decoder is tied to the word embeddings */
  BERTD_TRAIN_NSP,           /* BertForNextSentencePrediction: CE over B (0 = B follows A) */
  BERTD_TRAIN_PRETRAINING    /* BertForPreTraining: MLM + NSP */
} bertd_train_task;

/* Labels; fill the fields the task reads, leave the others NULL.
 *   SEQ_CLS      labels (B): class id (-100: sequence ignored)
 *   MULTI_LABEL  multi_labels (B,NL): targets in [0,1]
 *   TOKEN_CLS    token_labels (N): tag id per packed token, -100 ignored (e.g. [CLS], [SEP],
 *                non-first word pieces)
 *   JOINT        labels (B): intent id; token_labels (N): slot id per token, the trainer's
 *                slot_ignore_index (default 0 = "PAD") ignored, as JointBERT's data loader
 *                labels [CLS], [SEP] and non-first word pieces
 *   MLM          mlm_labels (N): the original token id at masked positions, -100 elsewhere
 *   NSP          nsp_labels (B): 0 = text_pair follows text, 1 = random
 *   PRETRAINING  mlm_labels and nsp_labels */
typedef struct bertd_train_labels {
  const int32_t *labels;
  const float *multi_labels;
  const int32_t *token_labels;
  const int32_t *mlm_labels;
  const int32_t *nsp_labels;
} bertd_train_labels;

/* B sequences packed back to back (no padding): N = sum(lens) tokens. */
typedef struct bertd_train_batch {
  int B;
  const int *lens;          /* (B) tokens of each sequence, [CLS] and [SEP] included */
  const int32_t *ids;       /* (N) token ids */
  const int32_t *type_ids;  /* (N) token type (segment) ids; NULL = all 0 */
  bertd_train_labels y;
} bertd_train_batch;

#endif
