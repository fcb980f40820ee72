/* test_adamw.c: AdamW, the linear warm-up schedule and global-norm clipping against
 * torch.optim.AdamW, transformers' get_linear_schedule_with_warmup and
 * torch.nn.utils.clip_grad_norm_ (tests/fixtures/grad/optim.json, from
 * tools/reference/make_grad_fixtures.py). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adamw.h"
#include "lr_schedule.h"

static json_t *optim_json(void) {
  char path[1024];
  snprintf(path, sizeof path, "%s/grad/optim.json", BERTD_FIXTURES);
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  cr_assert(j, "%s:%d: %s", path, je.line, je.text);
  return j;
}

static void floats(json_t *a, float *out, size_t n) {
  cr_assert_eq(json_array_size(a), n);
  for (size_t i = 0; i < n; i++) out[i] = (float)json_number_value(json_array_get(a, i));
}

static void expect_close(const float *a, const float *b, size_t n, double tol, const char *what,
                         int step) {
  for (size_t i = 0; i < n; i++)
    cr_expect(fabs(a[i] - b[i]) <= tol * (1.0 + fabs(b[i])), "%s step %d [%zu]: %.9g vs torch %.9g",
              what, step, i, a[i], b[i]);
}

/* AdamW through bertd_adamw_step on a two-tensor table: "x.weight" decays, "x.bias" does not. */
Test(adamw, matches_torch_with_schedule_and_decay) {
  json_t *root = optim_json(), *A = json_object_get(root, "adamw");
  const float lr = (float)json_number_value(json_object_get(A, "lr"));
  const float wd = (float)json_number_value(json_object_get(A, "weight_decay"));
  bertd_lr_schedule s = {lr, (int)json_integer_value(json_object_get(A, "warmup")),
                         (int)json_integer_value(json_object_get(A, "total"))};
  float mem[15], grads[15], want[15];
  bertd_param params[2] = {{.name = "x.weight", .ndim = 2, .shape = {4, 3}, .offset = 0, .numel = 12},
                           {.name = "x.bias", .ndim = 1, .shape = {3, 0}, .offset = 12, .numel = 3,
                            .no_decay = 1}};
  bertd_weights w = {.memory = mem, .num_floats = 15, .params = params, .num_params = 2};
  floats(json_object_get(json_object_get(A, "init"), "w"), mem, 12);
  floats(json_object_get(json_object_get(A, "init"), "b"), mem + 12, 3);
  bertd_adamw o;
  char err[256];
  cr_assert_eq(bertd_adamw_init(&o, 15, 0.9f, 0.999f, 1e-8f, wd, err, sizeof err), 0, "%s", err);
  json_t *steps = json_object_get(A, "steps");
  for (size_t k = 0; k < json_array_size(steps); k++) {
    json_t *st = json_array_get(steps, k);
    float lr_k = bertd_lr_at(&s, (int)k);
    double torch_lr = json_number_value(json_object_get(st, "lr"));
    cr_expect(fabs(lr_k - torch_lr) <= 1e-7 * (1 + torch_lr), "step %zu: lr %.9g vs torch %.9g", k,
              lr_k, torch_lr);
    floats(json_object_get(st, "grad_w"), grads, 12);
    floats(json_object_get(st, "grad_b"), grads + 12, 3);
    bertd_adamw_step(&o, &w, grads, 1.0f, lr_k);
    for (int i = 0; i < 15; i++) cr_expect_eq(grads[i], 0.0f, "step %zu: gradient %d not zeroed", k, i);
    floats(json_object_get(st, "w"), want, 12);
    floats(json_object_get(st, "b"), want + 12, 3);
    expect_close(mem, want, 15, 2e-6, "adamw", (int)k);
  }
  bertd_adamw_free(&o);
  json_decref(root);
}

Test(adamw, linear_schedule_with_warmup) {
  json_t *root = optim_json(), *S = json_object_get(root, "schedule");
  bertd_lr_schedule s = {(float)json_number_value(json_object_get(S, "peak")),
                         (int)json_integer_value(json_object_get(S, "warmup")),
                         (int)json_integer_value(json_object_get(S, "total"))};
  json_t *lrs = json_object_get(S, "lrs");
  for (size_t k = 0; k < json_array_size(lrs); k++) {
    double want = json_number_value(json_array_get(lrs, k));
    cr_expect(fabs(bertd_lr_at(&s, (int)k) - want) <= 1e-9 + 1e-6 * want,
              "step %zu: %.9g vs transformers %.9g", k, bertd_lr_at(&s, (int)k), want);
  }
  json_decref(root);
}

Test(adamw, clip_grad_norm_matches_torch) {
  json_t *root = optim_json(), *C = json_object_get(root, "clip");
  for (size_t c = 0; c < json_array_size(C); c++) {
    json_t *cs = json_array_get(C, c);
    float g[17], want[17];
    floats(json_object_get(cs, "grads"), g, 17);
    floats(json_object_get(cs, "clipped"), want, 17);
    double norm = bertd_clip_grad_norm(g, 17, (float)json_number_value(json_object_get(cs, "max_norm")));
    double torch_norm = json_number_value(json_object_get(cs, "norm"));
    cr_expect(fabs(norm - torch_norm) <= 1e-6 * torch_norm, "norm %.9g vs torch %.9g", norm, torch_norm);
    expect_close(g, want, 17, 1e-6, "clip", (int)c);
  }
  json_decref(root);
}
