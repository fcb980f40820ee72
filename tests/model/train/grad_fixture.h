/* grad_fixture.h: loads a tests/fixtures/grad/<name>/ case (made by
 * tools/reference/make_grad_fixtures.py) into a config, weights and a packed training batch.
 * Shared by the gradient tests; header-only so each test stays one executable. */
#ifndef BERTD_TEST_GRAD_FIXTURE_H
#define BERTD_TEST_GRAD_FIXTURE_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_checkpoint.h"
#include "bertd_trainer.h"
#include "bertd_weights.h"

typedef struct grad_fixture {
  char dir[1024];
  json_t *golden;
  bertd_checkpoint_config cfg;
  bertd_weights w;
  int B, N;
  int lens[16];
  int32_t *ids, *type_ids, *labels, *token_labels, *mlm_labels, *nsp_labels;
  float *multi_labels;
  bertd_train_batch batch;
} grad_fixture;

static inline int32_t *fixture_ints(json_t *root, const char *key) {
  json_t *a = json_object_get(root, key);
  if (!a) return NULL;
  int32_t *v = calloc(json_array_size(a) + 1, sizeof *v);
  for (size_t i = 0; i < json_array_size(a); i++)
    v[i] = (int32_t)json_integer_value(json_array_get(a, i));
  return v;
}

static inline void fixture_load(grad_fixture *f, const char *name) {
  char err[512], path[1200];
  memset(f, 0, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "%s/grad/%s", BERTD_FIXTURES, name);
  cr_assert_eq(bertd_config_load(f->dir, &f->cfg, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_weights_load(f->dir, &f->cfg, &f->w, err, sizeof err), 0, "%s", err);
  snprintf(path, sizeof path, "%s/golden.json", f->dir);
  json_error_t je;
  f->golden = json_load_file(path, 0, &je);
  cr_assert(f->golden, "%s:%d: %s", path, je.line, je.text);
  json_t *lens = json_object_get(f->golden, "lens");
  f->B = (int)json_array_size(lens);
  cr_assert(f->B > 0 && f->B <= 16);
  for (int b = 0; b < f->B; b++) {
    f->lens[b] = (int)json_integer_value(json_array_get(lens, b));
    f->N += f->lens[b];
  }
  f->ids = fixture_ints(f->golden, "ids");
  f->type_ids = fixture_ints(f->golden, "type_ids");
  f->labels = fixture_ints(f->golden, "labels");
  f->token_labels = fixture_ints(f->golden, "token_labels");
  f->mlm_labels = fixture_ints(f->golden, "mlm_labels");
  f->nsp_labels = fixture_ints(f->golden, "nsp_labels");
  json_t *ml = json_object_get(f->golden, "multi_labels");
  if (ml) {
    size_t k = json_array_size(json_array_get(ml, 0));
    f->multi_labels = calloc((size_t)f->B * k, sizeof(float));
    for (int b = 0; b < f->B; b++)
      for (size_t j = 0; j < k; j++)
        f->multi_labels[(size_t)b * k + j] =
            (float)json_number_value(json_array_get(json_array_get(ml, (size_t)b), j));
  }
  f->batch = (bertd_train_batch){
      .B = f->B, .lens = f->lens, .ids = f->ids, .type_ids = f->type_ids,
      .y = {.labels = f->labels, .multi_labels = f->multi_labels,
            .token_labels = f->token_labels, .mlm_labels = f->mlm_labels,
            .nsp_labels = f->nsp_labels}};
}

static inline void fixture_free(grad_fixture *f) {
  free(f->ids); free(f->type_ids); free(f->labels); free(f->token_labels);
  free(f->mlm_labels); free(f->nsp_labels); free(f->multi_labels);
  json_decref(f->golden);
  bertd_weights_free(&f->w);
  bertd_config_free(&f->cfg);
}

/* A trainer with dropout off, for exact gradients. */
static inline bertd_trainer *fixture_trainer(grad_fixture *f) {
  bertd_trainer_opts o;
  bertd_trainer_opts_default(&o);
  o.dropout = 0;
  bertd_trainer *t;
  char err[512];
  cr_assert_eq(bertd_trainer_create(&f->cfg, &f->w, &o, &t, err, sizeof err), 0, "%s", err);
  return t;
}

#endif
