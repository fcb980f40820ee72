/* test_trainer_threads.c: a batch cut into slices that run forward and backward on their own
 * threads (bertd_trainer_opts.threads) gives the loss and every gradient of the one-thread
 * pass, with dropout on, for every task's loss; and the optimizer steps that follow stay
 * together. Inputs: the tiny random models of tests/fixtures/grad/ (4 sequences of 7, 3, 12
 * and 5 tokens), with dropout raised to 0.1 so that the slices' masks are exercised. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grad_fixture.h"

typedef struct run {
  float loss;
  float *grads;   /* after one micro-batch */
  float *accum;   /* after a second one (new dropout masks) added to them */
} run;

static run run_with(grad_fixture *f, int threads) {
  bertd_trainer_opts o;
  bertd_trainer_opts_default(&o);
  o.threads = threads;
  o.seed = 7;
  bertd_weights w;
  char err[512];
  cr_assert_eq(bertd_weights_alloc(&f->cfg, &w, err, sizeof err), 0, "%s", err);
  cr_assert_eq(w.num_floats, f->w.num_floats);
  memcpy(w.memory, f->w.memory, sizeof(float) * w.num_floats);
  bertd_trainer *t;
  cr_assert_eq(bertd_trainer_create(&f->cfg, &w, &o, &t, err, sizeof err), 0, "%s", err);
  run r = {0};
  cr_assert_eq(bertd_trainer_forward_backward(t, &f->batch, 1.0f, &r.loss, err, sizeof err), 0,
               "%s", err);
  r.grads = malloc(sizeof(float) * w.num_floats);
  memcpy(r.grads, bertd_trainer_grads(t), sizeof(float) * w.num_floats);
  cr_assert_eq(bertd_trainer_forward_backward(t, &f->batch, 0.5f, NULL, err, sizeof err), 0,
               "%s", err);
  r.accum = malloc(sizeof(float) * w.num_floats);
  memcpy(r.accum, bertd_trainer_grads(t), sizeof(float) * w.num_floats);
  bertd_trainer_free(t);
  bertd_weights_free(&w);
  return r;
}

/* max |a - b| / (1 + max |b|) over n floats */
static double rel_diff(const float *a, const float *b, size_t n) {
  double d = 0.0, m = 0.0;
  for (size_t i = 0; i < n; i++) {
    d = fmax(d, fabs((double)a[i] - b[i]));
    m = fmax(m, fabs((double)b[i]));
  }
  return d / (1.0 + m);
}

static void check_case(const char *name) {
  grad_fixture f;
  fixture_load(&f, name);
  f.cfg.hidden_dropout_prob = 0.1f;
  f.cfg.attention_probs_dropout_prob = 0.1f;
  run one = run_with(&f, 1);
  double nonzero = 0.0;
  for (size_t i = 0; i < f.w.num_floats; i++) nonzero += one.grads[i] != 0.0f;
  cr_assert(nonzero > 0, "%s: no gradient at all", name);
  for (int threads = 2; threads <= 5; threads++) { /* 5 > B: one sequence a slice */
    run r = run_with(&f, threads);
    cr_expect(fabsf(r.loss - one.loss) <= 1e-6f * (1.0f + fabsf(one.loss)),
              "%s, %d threads: loss %.9g vs %.9g on one", name, threads, r.loss, one.loss);
    double g = rel_diff(r.grads, one.grads, f.w.num_floats);
    cr_expect(g <= 1e-5, "%s, %d threads: gradients differ by %.3g (relative to the largest)",
              name, threads, g);
    double a = rel_diff(r.accum, one.accum, f.w.num_floats);
    cr_expect(a <= 1e-5, "%s, %d threads: accumulated gradients differ by %.3g", name, threads,
              a);
    free(r.grads);
    free(r.accum);
  }
  free(one.grads);
  free(one.accum);
  fixture_free(&f);
}

Test(trainer_threads, seq_cls) { check_case("seq_cls"); }
Test(trainer_threads, multi_label) { check_case("multi_label"); }
Test(trainer_threads, token_cls) { check_case("token_cls"); }
Test(trainer_threads, joint) { check_case("joint"); }
Test(trainer_threads, mlm) { check_case("mlm"); }
Test(trainer_threads, nsp) { check_case("nsp"); }
Test(trainer_threads, pretraining) { check_case("pretraining"); }

/* With dropout the masks must follow the whole batch's positions: a slice drawing its own
 * (from index 0) gives different gradients, which is what this test would catch. Here: the
 * gradients with dropout differ from those without, so dropout is really in play above. */
Test(trainer_threads, dropout_is_in_play) {
  grad_fixture f;
  fixture_load(&f, "joint");
  run plain = run_with(&f, 2);
  f.cfg.hidden_dropout_prob = 0.1f;
  f.cfg.attention_probs_dropout_prob = 0.1f;
  run drop = run_with(&f, 2);
  cr_expect(rel_diff(drop.grads, plain.grads, f.w.num_floats) > 1e-3,
            "dropout 0.1 left the gradients unchanged");
  free(plain.grads), free(plain.accum), free(drop.grads), free(drop.accum);
  fixture_free(&f);
}

/* The update split between threads (norm and AdamW over ranges of the parameters): with one
 * sequence the batch is not sliced, so both trainers get the same gradients, and their norms
 * and updated weights agree up to the order of the norm's sum. */
Test(trainer_threads, threaded_update) {
  grad_fixture f;
  fixture_load(&f, "joint");
  f.batch.B = 1;
  float *after[2];
  double norm[2];
  for (int k = 0; k < 2; k++) {
    bertd_trainer_opts o;
    bertd_trainer_opts_default(&o);
    o.threads = k ? 3 : 1;
    o.lr = 1e-3f;
    o.weight_decay = 0.01f;
    o.max_grad_norm = 0.01f; /* so that clipping's scale is in play */
    bertd_weights w;
    char err[512];
    cr_assert_eq(bertd_weights_alloc(&f.cfg, &w, err, sizeof err), 0, "%s", err);
    memcpy(w.memory, f.w.memory, sizeof(float) * w.num_floats);
    bertd_trainer *t;
    cr_assert_eq(bertd_trainer_create(&f.cfg, &w, &o, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(bertd_trainer_step(t, &f.batch, NULL, err, sizeof err), 0, "%s", err);
    norm[k] = bertd_trainer_grad_norm(t);
    const float *g = bertd_trainer_grads(t);
    for (size_t i = 0; i < w.num_floats; i++)
      cr_assert_eq(g[i], 0.0f, "%d threads: gradient %zu not zeroed by the update", o.threads, i);
    after[k] = malloc(sizeof(float) * w.num_floats);
    memcpy(after[k], w.memory, sizeof(float) * w.num_floats);
    bertd_trainer_free(t);
    bertd_weights_free(&w);
  }
  cr_expect(norm[0] > 0.01, "clipping not in play: norm %g", norm[0]);
  cr_expect(fabs(norm[1] - norm[0]) <= 1e-9 * norm[0], "norm %.12g vs %.12g on one thread",
            norm[1], norm[0]);
  double moved = rel_diff(after[0], f.w.memory, f.w.num_floats);
  cr_expect(moved > 1e-4, "the update did not move the weights (%g)", moved);
  double d = rel_diff(after[1], after[0], f.w.num_floats);
  cr_expect(d <= 1e-6, "weights after a threaded update differ by %.3g", d);
  free(after[0]), free(after[1]);
  fixture_free(&f);
}
