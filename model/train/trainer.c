/* trainer.c: forward, loss, backward, clipping, AdamW and the lr schedule behind one handle
 * (see bertd_trainer.h).
 *
 * Threads: at fine-tuning sizes (MiniLM, batch 8, ~15 tokens a sequence) OpenBLAS splitting
 * each small matmul between threads gains little, so with opts.threads > 1 a batch is cut into
 * contiguous groups of sequences of about equal work (bertd_plan_slices) and each group runs
 * the whole forward, loss and backward on its own thread, into its own activations and its
 * own gradient buffer, as the threaded encoder does for inference. What keeps the result the
 * unsliced one: dropout masks are indexed by position in the whole batch (bertd_dropout's
 * *_first), each loss mean is split by the slices' shares of its counted rows
 * (bertd_loss_share), and the slices' gradients are summed into the trainer's after every
 * micro-batch. A slice's word-embedding gradient is non-zero only at its own tokens' rows
 * (except with the tied masked-LM decoder), so only those rows are summed. */
#include "bertd_trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adamw.h"
#include "encoder.h"
#include "encoder_pool.h"
#include "encoder_train.h"
#include "heads_train.h"
#include "lr_schedule.h"
#include "threads.h"

enum { MAX_SLICES = 64 };

/* One group of a batch's sequences, run on one thread. Slice 0 uses the trainer's own
 * activations and gradients; the others have theirs in bertd_trainer.extra. */
typedef struct train_slice {
  const bertd_checkpoint_config *cfg;
  const bertd_weights *w;
  bertd_train_task task;
  bertd_train_acts *acts;
  bertd_head_acts *heads;
  bertd_weights *grads;
  int B, n0, n;             /* sequences; first token in the batch, tokens */
  const int *lens;
  const int32_t *ids, *types;
  bertd_train_labels y;
  bertd_dropout drop;
  bertd_loss_share share;
  int slot_ignore_index;
  float slot_loss_coef, grad_scale;
  double loss;
  int rc;
  char err[256];
} train_slice;

/* What a slice other than the first owns. */
typedef struct slice_state {
  bertd_train_acts acts;
  bertd_head_acts heads;
  float *grad_mem;          /* w->num_floats, zero between micro-batches */
  bertd_weights grads;      /* view of grad_mem */
} slice_state;

struct bertd_trainer {
  const bertd_checkpoint_config *cfg;
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
  slice_state *extra;       /* (threads - 1) slices' buffers, made on first use */
  int n_extra;
  bertd_encoder_pool *pool;
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

int bertd_trainer_create(const bertd_checkpoint_config *cfg, bertd_weights *w, const bertd_trainer_opts *o,
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
  bertd_encoder_pool_free(t->pool);
  for (int i = 0; i < t->n_extra; i++) {
    bertd_train_acts_free(&t->extra[i].acts);
    bertd_head_acts_free(&t->extra[i].heads);
    bertd_weights_view_free(&t->extra[i].grads);
    free(t->extra[i].grad_mem);
  }
  free(t->extra);
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
                                   t->o.slot_ignore_index, t->o.slot_loss_coef, NULL, grad_scale,
                                   loss, errstr, errstr_size);
}

static void slice_run(void *arg) {
  train_slice *s = arg;
  s->rc = bertd_encoder_train_forward(s->cfg, s->w, s->acts, s->B, s->lens, s->ids, s->types,
                                      &s->drop, s->err, sizeof s->err) ||
          bertd_heads_train_forward(s->cfg, s->w, s->task, s->acts, s->heads, &s->y,
                                    s->slot_ignore_index, s->slot_loss_coef, &s->share,
                                    s->grad_scale, &s->loss, s->err, sizeof s->err);
  if (s->rc) return;
  bertd_heads_train_backward(s->cfg, s->w, s->grads, s->task, s->acts, s->heads);
  bertd_encoder_train_backward(s->cfg, s->w, s->grads, s->acts);
}

static int ensure_extra(bertd_trainer *t, int n, char *errstr, size_t errstr_size) {
  if (n <= t->n_extra) return 0;
  slice_state *e = realloc(t->extra, sizeof *e * (size_t)n);
  if (!e) goto oom;
  t->extra = e;
  for (; t->n_extra < n; t->n_extra++) {
    slice_state *s = &t->extra[t->n_extra];
    memset(s, 0, sizeof *s);
    s->grad_mem = calloc(t->w->num_floats ? t->w->num_floats : 1, sizeof(float));
    if (!s->grad_mem) goto oom;
    if (bertd_weights_view(t->w, s->grad_mem, &s->grads, errstr, errstr_size)) {
      free(s->grad_mem);
      return -1;
    }
  }
  return 0;
oom:
  snprintf(errstr, errstr_size, "trainer: out of memory for %d threads' gradients",
           t->o.threads);
  return -1;
}

/* Cuts [a, e) into up to P contiguous chunks of equal size (the last shorter): chunk p is
 * [lo[p], hi[p]). Returns how many are non-empty. */
static int split_range(size_t a, size_t e, int P, size_t *lo, size_t *hi) {
  const size_t per = (e - a + (size_t)P - 1) / (size_t)P;
  int used = 0;
  for (int p = 0; p < P; p++) {
    const size_t l = a + (size_t)p * per, h = l + per < e ? l + per : e;
    if (l >= h) break;
    lo[used] = l, hi[used] = h, used++;
  }
  return used;
}

/* Sums slices 1..P-1's gradients into the trainer's and zeroes them: [a, e) of the buffer. */
typedef struct reduce_task {
  float *dst;
  float *const *src;
  int nsrc;
  size_t a, e;
} reduce_task;

static void reduce_run(void *arg) {
  const reduce_task *r = arg;
  for (int k = 0; k < r->nsrc; k++) {
    float *restrict d = r->dst, *restrict s = r->src[k];
    for (size_t i = r->a; i < r->e; i++) d[i] += s[i], s[i] = 0.0f;
  }
}

static void reduce_range(bertd_trainer *t, float *const *src, int nsrc, size_t a, size_t e,
                         int P) {
  reduce_task rt[MAX_SLICES];
  size_t lo[MAX_SLICES], hi[MAX_SLICES];
  const int used = split_range(a, e, P, lo, hi);
  for (int p = 0; p < used; p++) rt[p] = (reduce_task){t->grad_mem, src, nsrc, lo[p], hi[p]};
  if (used) bertd_encoder_pool_run(&t->pool, used, reduce_run, rt, sizeof rt[0]);
}

/* The batch in up to opts.threads slices, each on its own thread. */
static int forward_backward_sliced(bertd_trainer *t, const bertd_train_batch *b,
                                   const bertd_dropout *drop, float grad_scale, int P,
                                   double *loss, char *errstr, size_t errstr_size) {
  const bertd_checkpoint_config *cfg = t->cfg;
  const int H = cfg->hidden_size, NH = cfg->num_attention_heads;
  const int32_t *types = type_ids_of(t, b, errstr, errstr_size);
  int N, T;
  /* the whole batch is checked before it is cut (the cuts trust the lengths) */
  if (!types || bertd_batch_check(cfg, b->B, b->lens, b->ids, types, &N, &T, "train", errstr,
                                  errstr_size) ||
      ensure_extra(t, P - 1, errstr, errstr_size))
    return -1;
  int cut[MAX_SLICES + 1];
  bertd_plan_slices(cfg, b->lens, b->B, P, cut);
  long main_all, aux_all;
  bertd_heads_loss_rows(t->task, &b->y, t->o.slot_ignore_index, 0, b->B, 0, N, &main_all,
                        &aux_all);
  train_slice sl[MAX_SLICES];
  int n0 = 0;
  size_t att0 = 0;
  for (int p = 0; p < P; p++) {
    const int b0 = cut[p], b1 = cut[p + 1];
    int n1 = n0;
    size_t att1 = att0;
    for (int i = b0; i < b1; i++) {
      n1 += b->lens[i];
      att1 += (size_t)NH * (size_t)b->lens[i] * (size_t)b->lens[i];
    }
    train_slice *s = &sl[p];
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    s->w = t->w;
    s->task = t->task;
    s->acts = p ? &t->extra[p - 1].acts : &t->acts;
    s->heads = p ? &t->extra[p - 1].heads : &t->heads;
    s->grads = p ? &t->extra[p - 1].grads : &t->grads;
    s->B = b1 - b0;
    s->n0 = n0;
    s->n = n1 - n0;
    s->lens = b->lens + b0;
    s->ids = b->ids + n0;
    s->types = types + n0;
    const bertd_train_labels *y = &b->y;
    s->y.labels = y->labels ? y->labels + b0 : NULL;
    s->y.multi_labels = y->multi_labels ? y->multi_labels + (size_t)b0 * cfg->num_labels : NULL;
    s->y.token_labels = y->token_labels ? y->token_labels + n0 : NULL;
    s->y.mlm_labels = y->mlm_labels ? y->mlm_labels + n0 : NULL;
    s->y.nsp_labels = y->nsp_labels ? y->nsp_labels + b0 : NULL;
    s->drop = *drop;
    s->drop.tok_first = (uint64_t)n0;
    s->drop.seq_first = (uint64_t)b0;
    s->drop.att_first = att0;
    long main_rows, aux_rows;
    bertd_heads_loss_rows(t->task, &b->y, t->o.slot_ignore_index, b0, b1, n0, n1, &main_rows,
                          &aux_rows);
    s->share.main = main_all ? (double)main_rows / (double)main_all : 0.0;
    s->share.aux = aux_all ? (double)aux_rows / (double)aux_all : 0.0;
    s->slot_ignore_index = t->o.slot_ignore_index;
    s->slot_loss_coef = t->o.slot_loss_coef;
    s->grad_scale = grad_scale;
    n0 = n1;
    att0 = att1;
  }
  /* OpenBLAS single-threaded while the slices call it from their threads (concurrent callers
   * of a multi-threaded OpenBLAS queue on its one pool), restored afterwards */
  const int blas_threads = bertd_threads_serial_begin();
  bertd_encoder_pool_run(&t->pool, P, slice_run, sl, sizeof sl[0]);
  *loss = 0.0;
  int rc = 0;
  for (int p = 0; p < P && !rc; p++) {
    if (sl[p].rc) {
      snprintf(errstr, errstr_size, "%s", sl[p].err);
      rc = -1;
    }
    *loss += sl[p].loss;
  }
  /* sum the slices' gradients into the trainer's, zeroing theirs (also after an error, so the
   * buffers stay zero for the next batch) */
  float *src[MAX_SLICES];
  for (int p = 1; p < P; p++) src[p - 1] = t->extra[p - 1].grad_mem;
  const size_t total = t->w->num_floats;
  const int tied = t->task == BERTD_TRAIN_MLM || t->task == BERTD_TRAIN_PRETRAINING;
  if (tied || !t->grads.word_emb) {
    reduce_range(t, src, P - 1, 0, total, P);
  } else {
    const size_t we0 = (size_t)(t->grads.word_emb - t->grad_mem);
    const size_t we1 = we0 + (size_t)cfg->vocab_size * (size_t)H;
    reduce_range(t, src, P - 1, 0, we0, P);
    reduce_range(t, src, P - 1, we1, total, P);
    /* a slice's word-embedding gradient lives in its own tokens' rows (a row seen twice adds
     * zeros the second time) */
    for (int p = 1; p < P; p++)
      for (int i = 0; i < sl[p].n; i++) {
        const size_t row = we0 + (size_t)b->ids[sl[p].n0 + i] * (size_t)H;
        float *restrict d = t->grad_mem + row, *restrict s = src[p - 1] + row;
        for (int j = 0; j < H; j++) d[j] += s[j], s[j] = 0.0f;
      }
  }
  bertd_threads_serial_end(blas_threads);
  return rc;
}

int bertd_trainer_forward_backward(bertd_trainer *t, const bertd_train_batch *b,
                                   float grad_scale, float *loss, char *errstr,
                                   size_t errstr_size) {
  const bertd_checkpoint_config *cfg = t->cfg;
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
  int P = t->o.threads < MAX_SLICES ? t->o.threads : MAX_SLICES;
  if (b && P > b->B) P = b->B;
  if (P > 1 && b->lens && b->ids) {
    if (forward_backward_sliced(t, b, &drop, grad_scale, P, &l, errstr, errstr_size)) return -1;
    if (loss) *loss = (float)l;
    return 0;
  }
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

/* The update walks every parameter and is bound by memory bandwidth, which one core does not
 * saturate: with threads, each thread takes a contiguous range for the norm, then for AdamW. */
typedef struct update_task {
  bertd_trainer *t;
  size_t a, e;
  double sumsq;
  float scale, lr;
} update_task;

static void norm_run(void *arg) {
  update_task *u = arg;
  u->sumsq = bertd_grad_sumsq(u->t->grad_mem + u->a, u->e - u->a);
}

static void adamw_run(void *arg) {
  update_task *u = arg;
  bertd_adamw_step_range(&u->t->opt, u->t->w, u->t->grad_mem, u->scale, u->lr, u->a, u->e);
}

static void update_threaded(bertd_trainer *t, float lr) {
  update_task u[MAX_SLICES];
  size_t lo[MAX_SLICES], hi[MAX_SLICES];
  const int P = t->o.threads < MAX_SLICES ? t->o.threads : MAX_SLICES;
  const int used = split_range(0, t->w->num_floats, P, lo, hi);
  for (int p = 0; p < used; p++) u[p] = (update_task){t, lo[p], hi[p], 0.0, 1.0f, lr};
  bertd_encoder_pool_run(&t->pool, used, norm_run, u, sizeof u[0]);
  double ss = 0.0;
  for (int p = 0; p < used; p++) ss += u[p].sumsq;
  t->grad_norm = sqrt(ss);
  const float scale = bertd_clip_coef(t->grad_norm, t->o.max_grad_norm);
  t->opt.t++;
  for (int p = 0; p < used; p++) u[p].scale = scale;
  bertd_encoder_pool_run(&t->pool, used, adamw_run, u, sizeof u[0]);
}

void bertd_trainer_update(bertd_trainer *t) {
  /* clipping's scale and the zeroing of the gradients happen inside AdamW's one pass */
  const float lr = bertd_lr_at(&t->sched, t->step);
  if (t->o.threads > 1) {
    update_threaded(t, lr);
  } else {
    t->grad_norm = bertd_grad_norm(t->grad_mem, t->w->num_floats);
    bertd_adamw_step(&t->opt, t->w, t->grad_mem,
                     bertd_clip_coef(t->grad_norm, t->o.max_grad_norm), lr);
  }
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
  const bertd_checkpoint_config *c = t->cfg;
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
