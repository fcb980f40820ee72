/* parity_train_minilm.c: fine-tuning starts from the real MiniLM (BERTD_MODEL_DIR), a BertModel
 * without a classifier: bertd_weights_init_from must copy every encoder and pooler tensor
 * unchanged and initialise only the new head as transformers does (weight ~ N(0, 0.02), bias 0),
 * the same way for the same seed; then a few AdamW steps must lower the loss of a fixed batch,
 * and the time of one step (forward + backward + update) is printed. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bertd_checkpoint.h"
#include "bertd_trainer.h"
#include "bertd_weights.h"

static const char *model_dir(void) {
  const char *dir = getenv("BERTD_MODEL_DIR");
  cr_assert(dir && *dir, "BERTD_MODEL_DIR is not set (the all-MiniLM-L6-v2 checkpoint directory)");
  return dir;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

Test(train_minilm, new_head_and_steps) {
  const char *dir = model_dir();
  char err[512];
  bertd_checkpoint_config base, c;
  bertd_weights pre, w, w2;
  cr_assert_eq(bertd_config_load(dir, &base, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_weights_load(dir, &base, &pre, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_config_load(dir, &c, err, sizeof err), 0, "%s", err);
  const char *names[] = {"negative", "neutral", "positive"};
  cr_assert_eq(bertd_config_set_task(&c, BERTD_ARCH_SEQ_CLS, BERTD_PROBLEM_SINGLE_LABEL, 3, names,
                                     err, sizeof err), 0, "%s", err);
  int fresh = -1;
  cr_assert_eq(bertd_weights_init_from(dir, &c, 42, &w, &fresh, err, sizeof err), 0, "%s", err);
  cr_expect_eq(fresh, 2, "new tensors: %d (classifier weight and bias expected)", fresh);
  for (int i = 0; i < pre.num_params; i++) {
    const bertd_param *p = &pre.params[i];
    bertd_param *q = bertd_weights_find(&w, p->name);
    cr_assert(q, "%s missing from the new model", p->name);
    cr_expect(memcmp(pre.memory + p->offset, w.memory + q->offset, p->numel * sizeof(float)) == 0,
              "%s changed", p->name);
  }
  bertd_param *cw = bertd_weights_find(&w, "classifier.weight"), *cb = bertd_weights_find(&w, "classifier.bias");
  cr_assert(cw && cb);
  double s1 = 0, s2 = 0;
  for (size_t i = 0; i < cw->numel; i++) {
    s1 += w.memory[cw->offset + i];
    s2 += (double)w.memory[cw->offset + i] * w.memory[cw->offset + i];
  }
  double mean = s1 / cw->numel, sd = sqrt(s2 / cw->numel - mean * mean);
  cr_expect(fabs(mean) < 0.003 && fabs(sd - 0.02) < 0.002, "classifier init mean %.4f sd %.4f", mean, sd);
  for (size_t i = 0; i < cb->numel; i++) cr_expect_eq(w.memory[cb->offset + i], 0.0f);
  cr_assert_eq(bertd_weights_init_from(dir, &c, 42, &w2, NULL, err, sizeof err), 0, "%s", err);
  cr_expect(memcmp(w.memory, w2.memory, w.num_floats * sizeof(float)) == 0, "same seed, other init");
  bertd_weights_free(&w2);

  /* a batch of 32 sequences, 10..33 tokens, ~700 tokens: an ATIS-sized fine-tuning batch */
  enum { B = 32 };
  int lens[B], N = 0;
  for (int b = 0; b < B; b++) N += lens[b] = 10 + (b * 7) % 24;
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)N), labels[B];
  for (int n = 0, b = 0; b < B; b++) {
    labels[b] = b % 3;
    for (int t = 0; t < lens[b]; t++, n++)
      ids[n] = t == 0 ? 101 : t == lens[b] - 1 ? 102 : 1000 + (n * 37 + labels[b] * 11) % 20000;
  }
  bertd_train_batch batch = {.B = B, .lens = lens, .ids = ids, .y = {.labels = labels}};
  bertd_trainer_opts o;
  bertd_trainer_opts_default(&o);
  o.lr = 5e-5f;
  bertd_trainer *t;
  cr_assert_eq(bertd_trainer_create(&c, &w, &o, &t, err, sizeof err), 0, "%s", err);
  float first = 0, last = 0;
  cr_assert_eq(bertd_trainer_eval(t, &batch, &first, err, sizeof err), 0, "%s", err);
  const int steps = 5;
  double t0 = now();
  for (int s = 0; s < steps; s++) cr_assert_eq(bertd_trainer_step(t, &batch, NULL, err, sizeof err), 0, "%s", err);
  double per_step = (now() - t0) / steps;
  cr_assert_eq(bertd_trainer_eval(t, &batch, &last, err, sizeof err), 0, "%s", err);
  cr_expect(last < first, "loss did not fall: %.4f -> %.4f", first, last);
  fprintf(stderr, "MiniLM fine-tuning: %d tokens x %d sequences, loss %.4f -> %.4f after %d steps, %.3f s/step\n",
          N, B, first, last, steps, per_step);
  bertd_trainer_free(t);
  free(ids);
  bertd_weights_free(&w);
  bertd_weights_free(&pre);
  bertd_config_free(&c);
  bertd_config_free(&base);
}
