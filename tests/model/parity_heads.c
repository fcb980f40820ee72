/* parity_heads.c: every head of tiny random checkpoints against transformers' outputs
 * (tests/fixtures/models/<name>/golden.json, made by tools/reference/make_model_fixtures.py).
 * Each input is run alone (batch 1) and inside one batch of all 8 inputs; logits must be within
 * 1e-4 and hidden states within 1e-3 (max abs) of transformers, and a sentence alone must equal
 * the same sentence inside the batch within 1e-5. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd.h"

#define NMAX 16

typedef struct golden {
  json_t *root;
  bertd_model *m;
  int B;
  bertd_encoding enc[NMAX];
} golden;

static void golden_load(golden *g, const char *name) {
  char path[1024], err[512];
  snprintf(path, sizeof path, "%s/models/%s", BERTD_FIXTURES, name);
  cr_assert_eq(bertd_model_load(path, &g->m, err, sizeof err), 0, "%s", err);
  snprintf(path, sizeof path, "%s/models/%s/golden.json", BERTD_FIXTURES, name);
  json_error_t je;
  g->root = json_load_file(path, 0, &je);
  cr_assert(g->root, "%s:%d: %s", path, je.line, je.text);
  json_t *inputs = json_object_get(g->root, "inputs");
  g->B = (int)json_array_size(inputs);
  cr_assert(g->B > 0 && g->B <= NMAX);
  for (int b = 0; b < g->B; b++) {
    json_t *ids = json_object_get(json_array_get(inputs, b), "ids");
    json_t *tt = json_object_get(json_array_get(inputs, b), "type_ids");
    bertd_encoding *e = &g->enc[b];
    memset(e, 0, sizeof *e);
    e->n = (int)json_array_size(ids);
    e->ids = calloc((size_t)e->n, sizeof(int32_t));
    e->type_ids = calloc((size_t)e->n, sizeof(int32_t));
    e->seq_ids = calloc((size_t)e->n, sizeof(int32_t));
    for (int t = 0; t < e->n; t++) {
      e->ids[t] = (int32_t)json_integer_value(json_array_get(ids, t));
      e->type_ids[t] = (int32_t)json_integer_value(json_array_get(tt, t));
      e->seq_ids[t] = e->type_ids[t];
    }
  }
}

static void golden_free(golden *g) {
  for (int b = 0; b < g->B; b++) {
    free(g->enc[b].ids);
    free(g->enc[b].type_ids);
    free(g->enc[b].seq_ids);
  }
  json_decref(g->root);
  bertd_model_free(g->m);
}

/* max |ours - reference| over n values; the count must match exactly */
static double max_diff(const float *ours, int n, json_t *ref, const char *what, int b) {
  cr_assert_eq((int)json_array_size(ref), n, "%s[%d]: %d values, reference has %zu", what, b, n,
               json_array_size(ref));
  double d = 0.0;
  for (int i = 0; i < n; i++) {
    double v = fabs((double)ours[i] - json_real_value(json_array_get(ref, i)));
    if (v > d || isnan(v)) d = isnan(v) ? INFINITY : v;
  }
  return d;
}

typedef struct out_copy {
  float *v[NMAX];
  int n[NMAX];
} out_copy;

/* Runs the inputs alone then as one batch, compares `which` outputs to the golden key. */
static void check(const char *model, const char *which, const char *key, double tol) {
  golden g;
  golden_load(&g, model);
  bertd_session *s;
  char err[512];
  cr_assert_eq(bertd_session_create(g.m, &s, err, sizeof err), 0, "%s", err);
  const int H = bertd_model_config(g.m)->hidden_size;
  json_t *inputs = json_object_get(g.root, "inputs");
  out_copy alone = {0};
  double worst = 0.0, worst_batch = 0.0, worst_self = 0.0;
  for (int pass = 0; pass < 2; pass++) {
    const bertd_encoding *batch[NMAX];
    for (int b = 0; b < g.B; b++) batch[b] = &g.enc[b];
    int runs = pass == 0 ? g.B : 1;
    for (int r = 0; r < runs; r++) {
      int B = pass == 0 ? 1 : g.B;
      cr_assert_eq(bertd_session_forward(s, batch + (pass == 0 ? r : 0), B, err, sizeof err), 0,
                   "%s", err);
      for (int i = 0; i < B; i++) {
        int b = pass == 0 ? r : i, n = 0;
        const float *o;
        if (!strcmp(which, "hidden")) {
          int len;
          o = bertd_session_hidden(s, i, &len);
          n = len * H;
        } else if (!strcmp(which, "pooled")) {
          o = bertd_session_pooled(s, i);
          n = o ? H : 0;
        } else {
          o = bertd_session_logits(s, i, which, &n);
        }
        cr_assert(o, "%s: no %s output", model, which);
        char k[64];
        snprintf(k, sizeof k, "%s%s", pass == 0 ? "" : "batch_", key);
        double d = max_diff(o, n, json_object_get(json_array_get(inputs, b), k), key, b);
        if (pass == 0) {
          worst = d > worst ? d : worst;
          alone.v[b] = malloc(sizeof(float) * (size_t)n);
          memcpy(alone.v[b], o, sizeof(float) * (size_t)n);
          alone.n[b] = n;
        } else {
          worst_batch = d > worst_batch ? d : worst_batch;
          cr_assert_eq(alone.n[b], n);
          for (int j = 0; j < n; j++) {
            double e = fabs((double)alone.v[b][j] - o[j]);
            worst_self = e > worst_self ? e : worst_self;
          }
        }
      }
    }
  }
  printf("parity %-12s %-7s vs transformers: batch 1 max|d| %.3g, padded batch %d max|d| %.3g; "
         "alone vs in batch %.3g\n", model, key, worst, g.B, worst_batch, worst_self);
  cr_expect(worst <= tol, "%s %s: batch-1 max abs diff %g > %g", model, key, worst, tol);
  cr_expect(worst_batch <= tol, "%s %s: batched max abs diff %g > %g", model, key, worst_batch,
            tol);
  cr_expect(worst_self <= 1e-5, "%s %s: alone vs batched differ by %g", model, key, worst_self);
  for (int b = 0; b < g.B; b++) free(alone.v[b]);
  bertd_session_free(s);
  golden_free(&g);
}

#define HID 1e-3
#define LOG 1e-4

Test(parity_heads, seq_cls) {
  check("seq_cls", "hidden", "hidden", HID);
  check("seq_cls", "classify", "logits", LOG);
}
Test(parity_heads, multi_label_gelu_new) {
  check("multi_label", "hidden", "hidden", HID);
  check("multi_label", "classify", "logits", LOG);
}
Test(parity_heads, token_cls_cased) {
  check("token_cls", "hidden", "hidden", HID);
  check("token_cls", "tag", "logits", LOG);
}
Test(parity_heads, qa) {
  check("qa", "hidden", "hidden", HID);
  check("qa", "start", "start_logits", LOG);
  check("qa", "end", "end_logits", LOG);
}
Test(parity_heads, pretraining_nsp) {
  check("pretraining", "hidden", "hidden", HID);
  check("pretraining", "nsp", "nsp_logits", LOG);
}
Test(parity_heads, nsp) { check("nsp", "nsp", "logits", LOG); }
Test(parity_heads, joint) {
  check("joint", "hidden", "hidden", HID);
  check("joint", "pooled", "pooled", LOG);
  check("joint", "intent", "intent_logits", LOG);
  check("joint", "slots", "slot_logits", LOG);
}
Test(parity_heads, base_f16) {
  check("base_f16", "hidden", "hidden", HID);
  check("base_f16", "pooled", "pooled", LOG);
}
Test(parity_heads, base_bf16) {
  check("base_bf16", "hidden", "hidden", HID);
  check("base_bf16", "pooled", "pooled", LOG);
}

/* Masked LM: our head decodes only the [MASK] rows; compare them with transformers' logits at
 * the same positions. */
static void check_mlm(const char *model) {
  golden g;
  golden_load(&g, model);
  bertd_session *s;
  char err[512];
  cr_assert_eq(bertd_session_create(g.m, &s, err, sizeof err), 0, "%s", err);
  const int V = bertd_model_config(g.m)->vocab_size;
  const int32_t mask = bertd_tokenizer_special_id(bertd_model_tokenizer(g.m), 'm');
  json_t *inputs = json_object_get(g.root, "inputs");
  const bertd_encoding *batch[NMAX];
  for (int b = 0; b < g.B; b++) batch[b] = &g.enc[b];
  cr_assert_eq(bertd_session_forward(s, batch, g.B, err, sizeof err), 0, "%s", err);
  double worst = 0.0;
  int masks = 0;
  for (int b = 0; b < g.B; b++) {
    int n;
    const float *o = bertd_session_logits(s, b, "mlm", &n);
    json_t *ref = json_object_get(json_array_get(inputs, b), "batch_mlm_logits");
    cr_assert_eq(json_array_size(ref), (size_t)g.enc[b].n * V, "%s: golden mlm_logits of input %d",
                 model, b);
    int row = 0;
    for (int t = 0; t < g.enc[b].n; t++) {
      if (g.enc[b].ids[t] != mask) continue;
      cr_assert(o && (row + 1) * V <= n, "%s: missing mlm row for position %d", model, t);
      for (int v = 0; v < V; v++) {
        double d = fabs((double)o[(size_t)row * V + v] -
                        json_real_value(json_array_get(ref, (size_t)t * V + v)));
        worst = d > worst ? d : worst;
      }
      row++;
      masks++;
    }
  }
  printf("parity %-12s mlm_logits vs transformers: %d masks in a padded batch of %d, max|d| %.3g\n",
         model, masks, g.B, worst);
  cr_expect(masks > 10, "too few masks to be a test");
  cr_expect(worst <= 1e-4, "%s mlm logits differ by %g", model, worst);
  bertd_session_free(s);
  golden_free(&g);
}

Test(parity_heads, mlm_relu) {
  check("mlm", "hidden", "hidden", HID);
  check_mlm("mlm");
}
Test(parity_heads, pretraining_mlm) { check_mlm("pretraining"); }
