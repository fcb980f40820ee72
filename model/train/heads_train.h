/* heads_train.h: the task heads for training: forward from the encoder's kept activations,
 * the task's loss with its gradient, and the backward into the head's parameters and the
 * encoder's output gradients (bertd_train_acts.dh, .dpooled).
 *
 * Dropout (p = bertd_dropout.classifier) sits where transformers / JointBERT put it: on the
 * pooled output before BertForSequenceClassification's classifier and JointBERT's intent
 * classifier, on the sequence output before BertForTokenClassification's classifier and
 * JointBERT's slot classifier. The MLM and NSP heads have none. */
#ifndef BERTD_HEADS_TRAIN_H
#define BERTD_HEADS_TRAIN_H

#include <stddef.h>
#include "bertd_checkpoint.h"
#include "encoder_train.h"
#include "bertd_trainer.h"
#include "bertd_weights.h"

typedef struct bertd_head_acts {
  int cap_tokens, cap_batch, cap_rows;
  float *mem;
  float *pooled_drop;    /* (B,H) classifier / intent input: dropout(pooled) */
  float *seq_drop;       /* (N,H) token classifier / slot input: dropout(hs[L]) */
  float *logits;         /* (B,NL) sequence classes, or JointBERT intents (B,NI) */
  float *tok_logits;     /* (N,NL) token tags, or JointBERT slots (N,NS) */
  float *nsp_logits;     /* (B,2) */
  float *g_seq;          /* (N,H) scratch */
  /* MLM at the M positions whose label is not -100 */
  int M;
  int *mlm_rows;         /* (M) packed row of each masked position */
  int32_t *mlm_targets;  /* (M) */
  float *mlm_in;         /* (M,H) hs[L] rows */
  float *mlm_pre;        /* (M,H) transform.dense output */
  float *mlm_act;        /* (M,H) act(mlm_pre): LayerNorm input */
  float *mlm_mean, *mlm_rstd; /* (M) */
  float *mlm_ln;         /* (M,H) decoder input */
  float *mlm_logits;     /* (M,V) */
  float *g_mlm_a, *g_mlm_b;   /* (M,H) scratch */
  /* the losses of the last forward, each a mean as transformers computes it */
  double loss, loss_main, loss_aux; /* total; intent|mlm|cls; slot|nsp */
  int grad_ready;        /* logits hold scaled gradients (after a forward with labels + grad) */
} bertd_head_acts;

void bertd_head_acts_free(bertd_head_acts *h);

/* The task of a model: SEQ_CLS (or MULTI_LABEL by problem_type), TOKEN_CLS, JOINT, MLM, NSP,
 * PRETRAINING; -1 for architectures that have no training loss here (BertModel, QA,
 * regression). */
int bertd_train_task_of(const bertd_checkpoint_config *cfg, bertd_train_task *task, char *errstr,
                        size_t errstr_size);

/* A slice's part in each of the task's losses, for a batch cut into slices that run on their
 * own threads: each loss is a mean over the whole batch's counted rows, so a slice's mean
 * enters it weighted by (the slice's counted rows) / (the batch's). main: the classifier's,
 * tags', intents' or masked-LM loss; aux: the slots' or next-sentence loss. */
typedef struct bertd_loss_share {
  double main, aux;
} bertd_loss_share;

/* The rows the task's losses count in sequences [b0, b1) and packed tokens [n0, n1) of a
 * batch with labels y: *main and *aux as in bertd_loss_share (labels not -100; slots not
 * slot_ignore_index; multi-label: every sequence). */
void bertd_heads_loss_rows(bertd_train_task task, const bertd_train_labels *y,
                           int slot_ignore_index, int b0, int b1, int n0, int n1, long *main,
                           long *aux);

/* Head forward after bertd_encoder_train_forward. With labels (y non-NULL) computes the loss
 * into *loss; with grad_scale != 0 also turns the logits into grad_scale * d loss / d logits
 * in place, ready for bertd_heads_train_backward (so read logits before, or run without
 * gradient for evaluation). slot_ignore_index and slot_loss_coef: JointBERT's. share: this
 * batch's part in a larger batch's losses (losses and gradients scaled by it); NULL: the
 * whole batch. For MLM without labels, logits are computed at no row (M = 0). */
int bertd_heads_train_forward(const bertd_checkpoint_config *cfg, const bertd_weights *w,
                              bertd_train_task task, const bertd_train_acts *a,
                              bertd_head_acts *h, const bertd_train_labels *y,
                              int slot_ignore_index, float slot_loss_coef,
                              const bertd_loss_share *share, float grad_scale, double *loss,
                              char *errstr, size_t errstr_size);

/* Accumulates the head parameters' gradients into grads and the encoder output gradients
 * into a->dh (N,H) and a->dpooled (B,H). */
void bertd_heads_train_backward(const bertd_checkpoint_config *cfg, const bertd_weights *w,
                                bertd_weights *grads, bertd_train_task task,
                                bertd_train_acts *a, bertd_head_acts *h);

#endif
