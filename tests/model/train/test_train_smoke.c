/* test_train_smoke.c: a tiny randomly initialised BERT (H=32, L=2) learns two toy tasks to
 * 100 % training accuracy with dropout on, and the same seed reproduces the run bit for bit.
 *   classify: does the sequence contain token 7?            (BertForSequenceClassification)
 *   tag:      is this token 7, or does it follow a 7?        (BertForTokenClassification;
 *             needs attention to the previous token)                                    */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "bertd_checkpoint.h"
#include "bertd_rng.h"
#include "bertd_trainer.h"
#include "bertd_weights.h"

#define NSEQ 32
#define X 7

typedef struct toy {
  int lens[NSEQ];
  int32_t ids[NSEQ * 12];
  int32_t labels[NSEQ];
  int32_t tags[NSEQ * 12];
  int N;
} toy;

static void make_toy(toy *d) {
  bertd_rng r;
  bertd_rng_seed(&r, 99);
  d->N = 0;
  for (int b = 0; b < NSEQ; b++) {
    int n = 4 + (int)(bertd_rng_next(&r) % 8); /* 4..11 tokens with [CLS], [SEP] */
    d->lens[b] = n;
    int32_t *s = d->ids + d->N;
    s[0] = 2;
    s[n - 1] = 3;
    for (int t = 1; t < n - 1; t++) {
      s[t] = 5 + (int32_t)(bertd_rng_next(&r) % 20);
      if (s[t] == X) s[t] = X + 1;
    }
    if (b % 2 == 0) s[1 + (int)(bertd_rng_next(&r) % (unsigned)(n - 2))] = X; /* half positive */
    d->labels[b] = 0;
    for (int t = 0; t < n; t++) {
      int is_x = s[t] == X, after_x = t > 0 && s[t - 1] == X;
      d->labels[b] |= is_x;
      d->tags[d->N + t] = (t == 0 || t == n - 1) ? -100 : (is_x || after_x);
    }
    d->N += n;
  }
}

static void tiny_config(bertd_checkpoint_config *c, bertd_arch arch) {
  char err[256];
  cr_assert_eq(bertd_config_defaults(c, err, sizeof err), 0, "%s", err);
  c->vocab_size = 32;
  c->hidden_size = 32;
  c->num_hidden_layers = 2;
  c->num_attention_heads = 4;
  c->intermediate_size = 64;
  c->max_position_embeddings = 16;
  cr_assert_eq(bertd_config_set_task(c, arch, BERTD_PROBLEM_SINGLE_LABEL, 2, NULL, err, sizeof err),
               0, "%s", err);
}

/* Trains; returns the final training loss and the eval accuracy in *acc. */
static float train(bertd_arch arch, int steps, double *acc) {
  toy d;
  make_toy(&d);
  bertd_checkpoint_config c;
  bertd_weights w;
  char err[512];
  tiny_config(&c, arch);
  cr_assert_eq(bertd_weights_init_random(&c, 1234, &w, err, sizeof err), 0, "%s", err);
  bertd_trainer_opts o;
  bertd_trainer_opts_default(&o);
  o.lr = 2e-3f;
  o.warmup_steps = 10;
  o.total_steps = steps;
  o.weight_decay = 0.01f;
  o.seed = 5;
  bertd_trainer *t;
  cr_assert_eq(bertd_trainer_create(&c, &w, &o, &t, err, sizeof err), 0, "%s", err);
  bertd_train_batch b = {.B = NSEQ, .lens = d.lens, .ids = d.ids};
  if (arch == BERTD_ARCH_SEQ_CLS) b.y.labels = d.labels;
  else b.y.token_labels = d.tags;
  float loss = 0.0f;
  for (int s = 0; s < steps; s++)
    cr_assert_eq(bertd_trainer_step(t, &b, &loss, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_trainer_global_step(t), steps);

  float eval_loss;
  cr_assert_eq(bertd_trainer_eval(t, &b, &eval_loss, err, sizeof err), 0, "%s", err);
  int rows, cols, right = 0, total = 0;
  const float *lg = bertd_trainer_logits(t, arch == BERTD_ARCH_SEQ_CLS ? "labels" : "tags", &rows, &cols);
  cr_assert(lg && cols == 2);
  for (int r = 0; r < rows; r++) {
    int want = arch == BERTD_ARCH_SEQ_CLS ? d.labels[r] : d.tags[r];
    if (want == -100) continue;
    int got = lg[(size_t)r * 2 + 1] > lg[(size_t)r * 2];
    right += got == want;
    total++;
  }
  *acc = (double)right / total;
  fprintf(stderr, "smoke %s: %d steps, final train loss %.6f (eval %.6f), accuracy %d/%d\n",
          arch == BERTD_ARCH_SEQ_CLS ? "classify" : "tag", steps, loss, eval_loss, right, total);
  bertd_trainer_free(t);
  bertd_weights_free(&w);
  bertd_config_free(&c);
  return loss;
}

Test(train_smoke, classify_contains_token) {
  double acc;
  float l1 = train(BERTD_ARCH_SEQ_CLS, 60, &acc);
  cr_expect_eq(acc, 1.0, "training accuracy %.3f", acc);
  double acc2;
  float l2 = train(BERTD_ARCH_SEQ_CLS, 60, &acc2);
  cr_expect(memcmp(&l1, &l2, sizeof l1) == 0, "same seed, different final loss: %.9g vs %.9g", l1, l2);
}

Test(train_smoke, tag_token_and_follower) {
  double acc;
  float l1 = train(BERTD_ARCH_TOKEN_CLS, 150, &acc);
  cr_expect_eq(acc, 1.0, "training accuracy %.3f", acc);
  double acc2;
  float l2 = train(BERTD_ARCH_TOKEN_CLS, 150, &acc2);
  cr_expect(memcmp(&l1, &l2, sizeof l1) == 0, "same seed, different final loss: %.9g vs %.9g", l1, l2);
}

/* Gradient accumulation: grad_accum micro-batches of scale 1/grad_accum add up to the mean
 * gradient, and only every grad_accum-th step updates the weights. */
Test(train_smoke, gradient_accumulation) {
  toy d;
  make_toy(&d);
  bertd_checkpoint_config c;
  bertd_weights w;
  char err[512];
  tiny_config(&c, BERTD_ARCH_SEQ_CLS);
  cr_assert_eq(bertd_weights_init_random(&c, 3, &w, err, sizeof err), 0, "%s", err);
  bertd_trainer_opts o;
  bertd_trainer_opts_default(&o);
  o.grad_accum = 2;
  o.dropout = 0;
  bertd_trainer *t;
  cr_assert_eq(bertd_trainer_create(&c, &w, &o, &t, err, sizeof err), 0, "%s", err);
  bertd_train_batch b = {.B = NSEQ, .lens = d.lens, .ids = d.ids, .y = {.labels = d.labels}};
  cr_assert_eq(bertd_trainer_forward_backward(t, &b, 1.0f, NULL, err, sizeof err), 0, "%s", err);
  float *full = malloc(w.num_floats * sizeof(float));
  memcpy(full, bertd_trainer_grads(t), w.num_floats * sizeof(float));
  bertd_trainer_zero_grad(t);
  float *before = malloc(w.num_floats * sizeof(float));
  memcpy(before, w.memory, w.num_floats * sizeof(float));
  cr_assert_eq(bertd_trainer_step(t, &b, NULL, err, sizeof err), 0, "%s", err);
  cr_expect_eq(bertd_trainer_global_step(t), 0);
  cr_expect(memcmp(before, w.memory, w.num_floats * sizeof(float)) == 0, "updated after 1 of 2");
  const float *g = bertd_trainer_grads(t);
  for (size_t i = 0; i < w.num_floats; i++)
    cr_assert(fabsf(g[i] - 0.5f * full[i]) <= 1e-7f + 1e-6f * fabsf(full[i]), "grad %zu", i);
  cr_assert_eq(bertd_trainer_step(t, &b, NULL, err, sizeof err), 0, "%s", err);
  cr_expect_eq(bertd_trainer_global_step(t), 1);
  cr_expect(memcmp(before, w.memory, w.num_floats * sizeof(float)) != 0, "no update after 2 of 2");
  for (size_t i = 0; i < w.num_floats; i++) cr_assert_eq(bertd_trainer_grads(t)[i], 0.0f);
  free(full);
  free(before);
  bertd_trainer_free(t);
  bertd_weights_free(&w);
  bertd_config_free(&c);
}
