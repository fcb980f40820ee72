/* trainer.c: forward, loss, backward, clipping, AdamW and the lr schedule behind one handle
 * (see trainer.h). */
#include "trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adamw.h"
#include "encoder_train.h"
#include "heads_train.h"
#include "lr_schedule.h"

struct bertd_trainer {
  const bertd_config *cfg;
  bertd_weights *w;
  bertd_trainer_opts o;
  bertd_train_task task;
  float *grad_mem;          /* w->num_floats */
  bertd_weights grads;      /* view of grad_mem with w's layout */
  bertd_adamw opt;
  bertd_lr_schedule sched;
  bertd_train_acts acts;
  bertd_head_acts heads;
  int32_t *zero_types;      /* type ids for batches that give none */
  int cap_zero;
  int micro;                /* micro-batches accumulated since the last update */
  int step;                 /* optimizer steps taken */
  uint64_t pass;            /* training forward passes: the dropout key's counter */
  double grad_norm;
  int eval_valid;           /* the head logits are an eval forward's */
};

void bertd_trainer_opts_default(bertd_trainer_opts *o) {
  memset(o, 0, sizeof *o);
  o->lr = 5e-5f;
  o->weight_decay = 0.0f;
  o->adam_beta1 = 0.9f;
  o->adam_beta2 = 0.999f;
  o->adam_eps = 1e-8f;
  o->max_grad_norm = 1.0f;
  o->grad_accum = 1;
  o->seed = 42;
  o->dropout = 1;
  o->slot_ignore_index = 0;
  o->slot_loss_coef = 1.0f;
}

int bertd_trainer_create(const bertd_config *cfg, bertd_weights *w, const bertd_trainer_opts *o,
                         bertd_trainer **out, char *errstr, size_t errstr_size) {
  *out = NULL;
  bertd_train_task task;
  if (bertd_train_task_of(cfg, &task, errstr, errstr_size)) return -1;
  if (o->grad_accum < 1 || !(o->lr >= 0.0f) || !(o->weight_decay >= 0.0f) ||
      !(o->adam_beta1 >= 0.0f && o->adam_beta1 < 1.0f) ||
      !(o->adam_beta2 >= 0.0f && o->adam_beta2 < 1.0f) || !(o->adam_eps > 0.0f)) {
    snprintf(errstr, errstr_size,
             "trainer: options out of range (grad_accum >= 1, lr >= 0, weight_decay >= 0, "
             "betas in [0,1), eps > 0)");
    return -1;
  }
  bertd_trainer *t = calloc(1, sizeof *t);
  if (!t) {
    snprintf(errstr, errstr_size, "trainer: out of memory");
    return -1;
  }
  t->cfg = cfg;
  t->w = w;
  t->o = *o;
  t->task = task;
  t->sched = (bertd_lr_schedule){o->lr, o->warmup_steps, o->total_steps};
  t->grad_mem = calloc(w->num_floats ? w->num_floats : 1, sizeof(float));
  if (!t->grad_mem) {
    snprintf(errstr, errstr_size, "trainer: out of memory for %zu MB of gradients",
             w->num_floats * sizeof(float) >> 20);
    free(t);
    return -1;
  }
  if (bertd_weights_view(w, t->grad_mem, &t->grads, errstr, errstr_size) ||
      bertd_adamw_init(&t->opt, w->num_floats, o->adam_beta1, o->adam_beta2, o->adam_eps,
                       o->weight_decay, errstr, errstr_size)) {
    bertd_trainer_free(t);
    return -1;
  }
  *out = t;
  return 0;
}

void bertd_trainer_free(bertd_trainer *t) {
  if (!t) return;
  bertd_weights_view_free(&t->grads);
  free(t->grad_mem);
  bertd_adamw_free(&t->opt);
  bertd_train_acts_free(&t->acts);
  bertd_head_acts_free(&t->heads);
  free(t->zero_types);
  free(t);
}

bertd_train_task bertd_trainer_task(const bertd_trainer *t) { return t->task; }

static const int32_t *type_ids_of(bertd_trainer *t, const bertd_train_batch *b, char *errstr,
                                  size_t errstr_size) {
  if (b->type_ids) return b->type_ids;
  int N = 1; /* never 0, so the buffer always exists */
  for (int i = 0; i < b->B; i++) N += b->lens[i] > 0 ? b->lens[i] : 0;
  if (N > t->cap_zero) {
    int32_t *z = realloc(t->zero_types, sizeof(int32_t) * (size_t)N);
    if (!z) {
      snprintf(errstr, errstr_size, "trainer: out of memory");
      return NULL;
    }
    t->zero_types = z;
    t->cap_zero = N;
  }
  memset(t->zero_types, 0, sizeof(int32_t) * (size_t)N);
  return t->zero_types;
}

/* Encoder + heads forward with the given dropout; grad_scale 0 = no gradient. */
static int forward(bertd_trainer *t, const bertd_train_batch *b, const bertd_dropout *drop,
                   const bertd_train_labels *y, float grad_scale, double *loss, char *errstr,
                   size_t errstr_size) {
  if (!b || b->B < 1 || !b->lens || !b->ids) {
    snprintf(errstr, errstr_size, "trainer: empty batch");
    return -1;
  }
  const int32_t *types = type_ids_of(t, b, errstr, errstr_size);
  if (!types) return -1;
  if (bertd_encoder_train_forward(t->cfg, t->w, &t->acts, b->B, b->lens, b->ids, types, drop,
                                  errstr, errstr_size))
    return -1;
  return bertd_heads_train_forward(t->cfg, t->w, t->task, &t->acts, &t->heads, y,
                                   t->o.slot_ignore_index, t->o.slot_loss_coef, grad_scale, loss,
                                   errstr, errstr_size);
}

int bertd_trainer_forward_backward(bertd_trainer *t, const bertd_train_batch *b,
                                   float grad_scale, float *loss, char *errstr,
                                   size_t errstr_size) {
  const bertd_config *cfg = t->cfg;
  bertd_dropout drop = {0};
  if (t->o.dropout) {
    drop.hidden = cfg->hidden_dropout_prob;
    drop.attention = cfg->attention_probs_dropout_prob;
    drop.classifier = cfg->classifier_dropout >= 0.0f ? cfg->classifier_dropout
                                                      : cfg->hidden_dropout_prob;
  }
  drop.seed = t->o.seed;
  drop.pass = t->pass++;
  t->eval_valid = 0;
  double l = 0.0;
  if (forward(t, b, &drop, &b->y, grad_scale, &l, errstr, errstr_size)) return -1;
  bertd_heads_train_backward(cfg, t->w, &t->grads, t->task, &t->acts, &t->heads);
  bertd_encoder_train_backward(cfg, t->w, &t->grads, &t->acts);
  if (loss) *loss = (float)l;
  return 0;
}

void bertd_trainer_zero_grad(bertd_trainer *t) {
  memset(t->grad_mem, 0, sizeof(float) * t->w->num_floats);
  t->micro = 0;
}

void bertd_trainer_update(bertd_trainer *t) {
  /* clipping's scale and the zeroing of the gradients happen inside AdamW's one pass */
  t->grad_norm = bertd_grad_norm(t->grad_mem, t->w->num_floats);
  bertd_adamw_step(&t->opt, t->w, t->grad_mem, bertd_clip_coef(t->grad_norm, t->o.max_grad_norm),
                   bertd_lr_at(&t->sched, t->step));
  t->step++;
  t->micro = 0;
}

int bertd_trainer_step(bertd_trainer *t, const bertd_train_batch *b, float *loss, char *errstr,
                       size_t errstr_size) {
  if (bertd_trainer_forward_backward(t, b, 1.0f / (float)t->o.grad_accum, loss, errstr,
                                     errstr_size))
    return -1;
  if (++t->micro >= t->o.grad_accum) bertd_trainer_update(t);
  return 0;
}

int bertd_trainer_eval(bertd_trainer *t, const bertd_train_batch *b, float *loss, char *errstr,
                       size_t errstr_size) {
  bertd_dropout drop = {0};
  const bertd_train_labels *y = &b->y;
  int has = y->labels || y->multi_labels || y->token_labels || y->mlm_labels || y->nsp_labels;
  double l = 0.0;
  t->eval_valid = 0;
  if (forward(t, b, &drop, has ? y : NULL, 0.0f, &l, errstr, errstr_size)) return -1;
  t->eval_valid = 1;
  if (loss) *loss = (float)l;
  return 0;
}

const float *bertd_trainer_logits(const bertd_trainer *t, const char *which, int *rows,
                                  int *cols) {
  const bertd_config *c = t->cfg;
  const bertd_head_acts *h = &t->heads;
  const int B = t->acts.B, N = t->acts.N;
  int r = 0, k = 0;
  const float *p = NULL;
  if (!t->eval_valid) return NULL;
  int seq = t->task == BERTD_TRAIN_SEQ_CLS || t->task == BERTD_TRAIN_MULTI_LABEL;
  int joint = t->task == BERTD_TRAIN_JOINT;
  int nsp = t->task == BERTD_TRAIN_NSP || t->task == BERTD_TRAIN_PRETRAINING;
  int mlm = t->task == BERTD_TRAIN_MLM || t->task == BERTD_TRAIN_PRETRAINING;
  if (strcmp(which, "labels") == 0 && seq) p = h->logits, r = B, k = c->num_labels;
  else if (strcmp(which, "tags") == 0 && t->task == BERTD_TRAIN_TOKEN_CLS)
    p = h->tok_logits, r = N, k = c->num_labels;
  else if (strcmp(which, "intent") == 0 && joint) p = h->logits, r = B, k = c->num_intents;
  else if (strcmp(which, "slots") == 0 && joint) p = h->tok_logits, r = N, k = c->num_slots;
  else if (strcmp(which, "nsp") == 0 && nsp) p = h->nsp_logits, r = B, k = 2;
  else if (strcmp(which, "mlm") == 0 && mlm) p = h->mlm_logits, r = h->M, k = c->vocab_size;
  if (rows) *rows = p ? r : 0;
  if (cols) *cols = p ? k : 0;
  return p;
}

const int *bertd_trainer_mlm_rows(const bertd_trainer *t, int *M) {
  int mlm = t->task == BERTD_TRAIN_MLM || t->task == BERTD_TRAIN_PRETRAINING;
  if (M) *M = mlm && t->eval_valid ? t->heads.M : 0;
  return mlm && t->eval_valid ? t->heads.mlm_rows : NULL;
}

const float *bertd_trainer_grads(const bertd_trainer *t) { return t->grad_mem; }
int bertd_trainer_global_step(const bertd_trainer *t) { return t->step; }
float bertd_trainer_lr(const bertd_trainer *t) { return bertd_lr_at(&t->sched, t->step); }
double bertd_trainer_grad_norm(const bertd_trainer *t) { return t->grad_norm; }
