/* test_gradcheck.c: finite differences against the analytic backward, for every loss, on the
 * tiny models of tests/fixtures/grad (H=32, L=2). For every parameter tensor: its entry of
 * largest analytic gradient plus two random entries; central differences
 * (L(p+e) - L(p-e)) / 2e with e = 1e-2 * max(1, |p|).
 *
 * Dropout ON here (p = 0.1 everywhere) with a fixed key, so both the perturbed forwards and the
 * backward see the same masks: this checks the dropout backward, which the PyTorch parity
 * (dropout 0) cannot. The forward is float32 (the loss is summed in double), so the check is
 * |fd - analytic| <= 2e-4 + 2e-2 * max(|fd|, |analytic|).
 * ReLU models run with GELU here: a step of e crosses ReLU's kink often enough to make a
 * central difference meaningless; ReLU's backward is checked exactly by parity_grad (mlm). */
#include <math.h>

#include "encoder_train.h"
#include "grad_fixture.h"
#include "heads_train.h"
#include "bertd_rng.h"

typedef struct run {
  grad_fixture f;
  bertd_train_task task;
  bertd_train_acts a;
  bertd_head_acts h;
  bertd_dropout drop;
} run;

static double loss_of(run *r, float grad_scale) {
  char err[512];
  double loss;
  cr_assert_eq(bertd_encoder_train_forward(&r->f.cfg, &r->f.w, &r->a, r->f.B, r->f.lens,
                                           r->f.ids, r->f.type_ids, &r->drop, err, sizeof err),
               0, "%s", err);
  cr_assert_eq(bertd_heads_train_forward(&r->f.cfg, &r->f.w, r->task, &r->a, &r->h, &r->f.batch.y,
                                         0, 1.0f, NULL, grad_scale, &loss, err, sizeof err),
               0, "%s", err);
  return loss;
}

static void gradcheck(const char *name) {
  run r;
  memset(&r, 0, sizeof r);
  fixture_load(&r.f, name);
  char err[512];
  cr_assert_eq(bertd_train_task_of(&r.f.cfg, &r.task, err, sizeof err), 0, "%s", err);
  if (r.f.cfg.hidden_act == BERTD_ACT_RELU) r.f.cfg.hidden_act = BERTD_ACT_GELU;
  r.drop = (bertd_dropout){.hidden = 0.1f, .attention = 0.1f, .classifier = 0.1f, .seed = 7, .pass = 3};

  float *gmem = calloc(r.f.w.num_floats, sizeof(float));
  bertd_weights g;
  cr_assert_eq(bertd_weights_view(&r.f.w, gmem, &g, err, sizeof err), 0, "%s", err);
  loss_of(&r, 1.0f);
  bertd_heads_train_backward(&r.f.cfg, &r.f.w, &g, r.task, &r.a, &r.h);
  bertd_encoder_train_backward(&r.f.cfg, &r.f.w, &g, &r.a);

  bertd_rng rng;
  bertd_rng_seed(&rng, 12345);
  int checked = 0;
  double worst = 0.0;
  char worst_name[128] = "";
  for (int i = 0; i < r.f.w.num_params; i++) {
    const bertd_param *p = &r.f.w.params[i];
    size_t pick[3];
    pick[0] = 0;
    for (size_t k = 1; k < p->numel; k++)
      if (fabsf(gmem[p->offset + k]) > fabsf(gmem[p->offset + pick[0]])) pick[0] = k;
    pick[1] = (size_t)(bertd_rng_next(&rng) % p->numel);
    pick[2] = (size_t)(bertd_rng_next(&rng) % p->numel);
    for (int j = 0; j < 3; j++) {
      float *x = r.f.w.memory + p->offset + pick[j];
      const float x0 = *x;
      const float e = 1e-2f * (fabsf(x0) > 1.0f ? fabsf(x0) : 1.0f);
      *x = x0 + e;
      const double lp = loss_of(&r, 0.0f);
      *x = x0 - e;
      const double lm = loss_of(&r, 0.0f);
      *x = x0;
      const double fd = (lp - lm) / (double)(2.0f * e);
      const double an = gmem[p->offset + pick[j]];
      const double scale = fabs(fd) > fabs(an) ? fabs(fd) : fabs(an);
      const double err_abs = fabs(fd - an);
      cr_expect(err_abs <= 2e-4 + 2e-2 * scale, "%s: %s[%zu]: analytic %.6g, finite difference %.6g",
                name, p->name, pick[j], an, fd);
      const double rel = err_abs / (scale > 1e-3 ? scale : 1e-3);
      if (rel > worst) {
        worst = rel;
        snprintf(worst_name, sizeof worst_name, "%s[%zu]", p->name, pick[j]);
      }
      checked++;
    }
  }
  fprintf(stderr, "gradcheck %-12s %d entries of %d tensors, dropout 0.1: worst |fd-an|/max(|fd|,|an|,1e-3) %.2e at %s\n",
          name, checked, r.f.w.num_params, worst, worst_name);
  bertd_weights_view_free(&g);
  free(gmem);
  bertd_train_acts_free(&r.a);
  bertd_head_acts_free(&r.h);
  fixture_free(&r.f);
}

Test(gradcheck, seq_cls) { gradcheck("seq_cls"); }
Test(gradcheck, multi_label) { gradcheck("multi_label"); }
Test(gradcheck, token_cls) { gradcheck("token_cls"); }
Test(gradcheck, joint) { gradcheck("joint"); }
Test(gradcheck, mlm) { gradcheck("mlm"); }
Test(gradcheck, nsp) { gradcheck("nsp"); }
Test(gradcheck, pretraining) { gradcheck("pretraining"); }
