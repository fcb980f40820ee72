/* parity_grad.c: the training loss and EVERY parameter's gradient against PyTorch autograd
 * (tests/fixtures/grad/<name>/, made by tools/reference/make_grad_fixtures.py) for each loss:
 * sequence classification, multi-label, token classification with -100 ignores, JointBERT,
 * MLM, NSP and pre-training, on a batch of 4 sequences of different lengths (PyTorch padded
 * with an attention mask, bertd packed). The loss must agree within 1e-5 relative and each
 * tensor's gradient within 1e-4 relative: max|ours - torch| / max|torch| per tensor. The worst
 * tensor of each case is printed.
 *
 * One kind of tensor needs a different yardstick: the attention key bias. Adding b_k to every
 * key adds q.b_k to a whole row of scores, which softmax ignores, so its true gradient is 0 and
 * both sides hold only round-off (~1e-10); a ratio of two round-offs means nothing. Tensors
 * whose torch gradient is below 1e-6 x the model's largest gradient entry are therefore
 * checked absolutely: max|ours - torch| <= 1e-6 x that largest entry. */
#include <math.h>

#include "grad_fixture.h"

static void check_case(const char *name) {
  grad_fixture f;
  fixture_load(&f, name);
  bertd_trainer *t = fixture_trainer(&f);
  char err[512];
  float loss;
  cr_assert_eq(bertd_trainer_forward_backward(t, &f.batch, 1.0f, &loss, err, sizeof err), 0,
               "%s", err);
  const double ref_loss = json_real_value(json_object_get(f.golden, "loss"));
  const double loss_rel = fabs(loss - ref_loss) / fabs(ref_loss);
  cr_expect(loss_rel < 1e-5, "%s: loss %.8f, torch %.8f (rel %.2e)", name, loss, ref_loss,
            loss_rel);

  /* golden gradients */
  char path[1200];
  snprintf(path, sizeof path, "%s/grads.f32", f.dir);
  FILE *fp = fopen(path, "rb");
  cr_assert(fp, "%s", path);
  fseek(fp, 0, SEEK_END);
  long bytes = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  float *ref = malloc((size_t)bytes);
  cr_assert_eq(fread(ref, 1, (size_t)bytes, fp), (size_t)bytes);
  fclose(fp);

  const float *g = bertd_trainer_grads(t);
  json_t *index = json_object_get(f.golden, "grads");
  cr_assert_eq((int)json_object_size(index), f.w.num_params,
               "%s: torch has %zu parameters, bertd %d", name, json_object_size(index),
               f.w.num_params);
  const char *pname;
  json_t *entry;
  double global = 0.0;
  for (long i = 0; i < bytes / (long)sizeof(float); i++)
    if (fabs(ref[i]) > global) global = fabs(ref[i]);
  double worst = 0.0, worst_zero = 0.0;
  char worst_name[128] = "", zero_names[512] = "";
  json_object_foreach(index, pname, entry) {
    bertd_param *p = bertd_weights_find(&f.w, pname);
    cr_assert(p, "%s: bertd has no parameter %s", name, pname);
    size_t off = (size_t)json_integer_value(json_object_get(entry, "offset"));
    json_t *shape = json_object_get(entry, "shape");
    size_t numel = 1;
    for (size_t i = 0; i < json_array_size(shape); i++)
      numel *= (size_t)json_integer_value(json_array_get(shape, i));
    cr_assert_eq(numel, p->numel, "%s: %s has %zu values, torch %zu", name, pname, p->numel, numel);
    double maxref = 0.0, maxdiff = 0.0;
    for (size_t i = 0; i < numel; i++) {
      double a = g[p->offset + i], b = ref[off + i];
      if (fabs(b) > maxref) maxref = fabs(b);
      double d = fabs(a - b);
      if (d > maxdiff || isnan(d)) maxdiff = isnan(d) ? INFINITY : d;
    }
    if (maxref < 1e-6 * global) {
      /* a zero-gradient tensor: absolute check against the model's gradient scale */
      cr_expect(maxdiff <= 1e-6 * global, "%s: %s: torch gradient ~0 (max %.3e) but ours %.3e off",
                name, pname, maxref, maxdiff);
      if (maxdiff / global > worst_zero) worst_zero = maxdiff / global;
      size_t used = strlen(zero_names);
      snprintf(zero_names + used, sizeof zero_names - used, "%s%s", used ? "," : "",
               strstr(pname, "layer.") ? strstr(pname, "layer.") : pname);
      continue;
    }
    double rel = maxdiff / maxref;
    cr_expect(rel < 1e-4, "%s: %s: max|diff| %.3e, max|torch| %.3e (rel %.2e)", name, pname,
              maxdiff, maxref, rel);
    if (rel > worst) {
      worst = rel;
      snprintf(worst_name, sizeof worst_name, "%s", pname);
    }
  }
  fprintf(stderr,
          "parity_grad %-12s loss %.7f (torch %.7f, rel %.1e); worst gradient rel %.2e at %s; "
          "zero-gradient tensors [%s] within %.1e of max|grad| %.3g\n",
          name, loss, ref_loss, loss_rel, worst, worst_name, zero_names, worst_zero, global);
  free(ref);
  bertd_trainer_free(t);
  fixture_free(&f);
}

Test(parity_grad, seq_cls) { check_case("seq_cls"); }
Test(parity_grad, multi_label) { check_case("multi_label"); }
Test(parity_grad, token_cls) { check_case("token_cls"); }
Test(parity_grad, joint) { check_case("joint"); }
Test(parity_grad, mlm) { check_case("mlm"); }
Test(parity_grad, nsp) { check_case("nsp"); }
Test(parity_grad, pretraining) { check_case("pretraining"); }
