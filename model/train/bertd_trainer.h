/* bertd_trainer.h: fine-tuning and pre-training BERT in C -- the public training API.
 *
 * A trainer borrows a config and a weights buffer (bertd_weights.h: every parameter in one
 * contiguous float array), owns a gradient buffer of the same layout, the AdamW moments, and
 * the activations of one batch (allocated once for the largest batch seen, grown on demand).
 * The loss follows the architecture (train_batch.h: bertd_train_task):
 *
 *   bertd_checkpoint_config cfg; bertd_weights w; bertd_trainer *t; char err[512];
 *   bertd_config_load("all-MiniLM-L6-v2", &cfg, err, sizeof err);
 *   // make it a 3-label sequence classifier: new head, initialised as transformers does
 *   bertd_config_set_task(&cfg, BERTD_ARCH_SEQ_CLS, BERTD_PROBLEM_SINGLE_LABEL, 3, names,
 *                         err, sizeof err);
 *   bertd_weights_init_from("all-MiniLM-L6-v2", &cfg, seed, &w, NULL, err, sizeof err);
 *   bertd_trainer_opts o;
 *   bertd_trainer_opts_default(&o);
 *   o.lr = 5e-5f; o.warmup_steps = 100; o.total_steps = 3000; o.seed = 42;
 *   bertd_trainer_create(&cfg, &w, &o, &t, err, sizeof err);
 *   for (...) {
 *     bertd_train_batch b = {.B = B, .lens = lens, .ids = ids, .type_ids = types,
 *                            .y = {.labels = classes}};
 *     float loss;
 *     if (bertd_trainer_step(t, &b, &loss, err, sizeof err)) { ... }
 *   }
 *   bertd_trainer_eval(t, &dev_batch, &loss, err, sizeof err);   // logits for metrics
 *   bertd_checkpoint_save("out", &cfg, &w, "all-MiniLM-L6-v2", err, sizeof err);
 *   bertd_trainer_free(t);
 *
 * Step semantics are transformers' Trainer: each micro-batch's loss is divided by grad_accum
 * and its gradients added; after grad_accum micro-batches the gradients are clipped to
 * max_grad_norm (global L2), AdamW updates the weights with the scheduled lr (linear warm-up
 * then linear decay; the first update of a warm-up has lr 0), and the gradients are zeroed.
 * Same seed and same batches => bit-identical weights (dropout masks are a function of the
 * seed, the forward-pass count and the site). A trainer is not thread-safe; BLAS may use
 * threads inside it, and with opts.threads > 1 the trainer runs slices of each batch on its
 * own threads: every slice draws the masks the whole batch would and weighs its losses by its
 * share of the batch's counted rows, so the gradients equal the unsliced ones up to the order
 * of float sums. */
#ifndef BERTD_TRAINER_H
#define BERTD_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "bertd_checkpoint.h"
#include "bertd_weights.h"

/* what one training step reads: a batch of packed sequences and the labels of
 * the model's task. Part of the trainer's public API. */

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

typedef struct bertd_trainer bertd_trainer;

typedef struct bertd_trainer_opts {
  float lr;               /* peak learning rate (5e-5) */
  float weight_decay;     /* AdamW decoupled decay for weights, none for biases/LayerNorm (0.0) */
  float adam_beta1, adam_beta2, adam_eps; /* 0.9, 0.999, 1e-8 */
  int warmup_steps;       /* optimizer steps of linear warm-up (0) */
  int total_steps;        /* optimizer steps of the whole run, for the linear decay;
                             <= 0: constant lr after warm-up (0) */
  float max_grad_norm;    /* global-norm clipping; <= 0: none (1.0) */
  int grad_accum;         /* micro-batches per optimizer step (1) */
  uint64_t seed;          /* dropout masks (42) */
  int dropout;            /* 1: dropout as the config says; 0: none (1) */
  int slot_ignore_index;  /* JointBERT: slot label ignored by the slot loss (0 = "PAD") */
  float slot_loss_coef;   /* JointBERT: total = intent + coef * slot (1.0) */
  int threads;            /* > 1: a batch's sequences are cut into up to this many groups of
                             about equal work, each run forward and backward on its own thread
                             with OpenBLAS single-threaded meanwhile (1: one thread, OpenBLAS
                             threads as set) */
} bertd_trainer_opts;

void bertd_trainer_opts_default(bertd_trainer_opts *o);

/* cfg and w stay owned by the caller and must outlive the trainer; w is updated in place.
 * The task comes from cfg->arch and cfg->problem_type (bertd_train_task_of). */
int bertd_trainer_create(const bertd_checkpoint_config *cfg, bertd_weights *w, const bertd_trainer_opts *o,
                         bertd_trainer **out, char *errstr, size_t errstr_size);
void bertd_trainer_free(bertd_trainer *t);

bertd_train_task bertd_trainer_task(const bertd_trainer *t);

/* One micro-batch: forward (with dropout), loss, backward into the gradients; every
 * grad_accum-th call also runs bertd_trainer_update. *loss: this micro-batch's loss (not
 * divided by grad_accum), may be NULL. */
int bertd_trainer_step(bertd_trainer *t, const bertd_train_batch *b, float *loss, char *errstr,
                       size_t errstr_size);

/* The two halves of a step, for callers that schedule updates themselves:
 * forward_backward adds grad_scale * d loss / d params to the gradients (grad_scale 1/grad_accum
 * in bertd_trainer_step); update clips, steps AdamW with the scheduled lr, zeroes the
 * gradients and counts the step. */
int bertd_trainer_forward_backward(bertd_trainer *t, const bertd_train_batch *b,
                                   float grad_scale, float *loss, char *errstr,
                                   size_t errstr_size);
void bertd_trainer_update(bertd_trainer *t);
void bertd_trainer_zero_grad(bertd_trainer *t);

/* Forward without dropout and without gradients. Labels are optional: with them *loss
 * receives the loss (else 0). Afterwards bertd_trainer_logits gives the logits. */
int bertd_trainer_eval(bertd_trainer *t, const bertd_train_batch *b, float *loss, char *errstr,
                       size_t errstr_size);

/* Logits of the last bertd_trainer_eval, row-major (rows, cols):
 *   "labels" (B,NL) sequence classes;  "tags" (N,NL) token classes;
 *   "intent" (B,NI) and "slots" (N,NS) for JointBERT;  "nsp" (B,2);
 *   "mlm" (M,V) at the M positions whose mlm_label != -100, in packed order
 *   (bertd_trainer_mlm_rows gives those positions).
 * NULL when the task has no such output. */
const float *bertd_trainer_logits(const bertd_trainer *t, const char *which, int *rows,
                                  int *cols);
const int *bertd_trainer_mlm_rows(const bertd_trainer *t, int *M);

/* Gradients accumulated since the last update/zero_grad: w->num_floats floats, laid out as
 * w->memory (grads[p.offset ...] pairs with the parameter p of w->params). */
const float *bertd_trainer_grads(const bertd_trainer *t);

int bertd_trainer_global_step(const bertd_trainer *t); /* optimizer steps taken */
float bertd_trainer_lr(const bertd_trainer *t);        /* lr of the next update */
double bertd_trainer_grad_norm(const bertd_trainer *t);/* norm before clipping, last update */

/* ---- saving (checkpoint_save.c) ----
 * Writes a checkpoint directory that transformers (AutoModelFor{SequenceClassification,
 * TokenClassification,MaskedLM}, BertForPreTraining, BertForNextSentencePrediction) and bertd
 * load: dir/config.json (architectures, model_type "bert", the sizes, hidden_act, dropout
 * probabilities, initializer_range, id2label/label2id, problem_type), dir/model.safetensors
 * (F32, bertd_weights_save), the tokenizer files copied from tokenizer_dir (vocab.txt,
 * tokenizer_config.json, special_tokens_map.json, tokenizer.json; those present; NULL: none),
 * and for JointBERT intent_label.txt and slot_label.txt (architectures ["JointBERT"]).
 * Creates dir when missing; files are replaced. */
int bertd_checkpoint_save(const char *dir, const bertd_checkpoint_config *cfg, const bertd_weights *w,
                          const char *tokenizer_dir, char *errstr, size_t errstr_size);

#endif
