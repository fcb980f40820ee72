/* parity_checkpoint_save.c: trained checkpoints written by bertd_checkpoint_save load back in
 * bertd and in transformers with the same logits.
 * For each head (sequence classification, multi-label, token classification, JointBERT, MLM,
 * pre-training): a tiny random model on the tests/fixtures/models/seq_cls vocabulary trains a
 * few steps, is saved under the build directory, reloaded with bertd_model_load, and its
 * session logits must equal the trainer's eval logits within 1e-5. The trainer's logits go to
 * <dir>.expected.json; when BERTD_REF_PYTHON names the reference Python,
 * tools/reference/check_saved_checkpoint.py must find transformers' logits within 1e-4
 * (without it that half is skipped, with a message). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bertd.h"
#include "bertd_trainer.h"

#define NSEQ 3
static const int lens[NSEQ] = {6, 9, 4};
#define NTOK 19

typedef struct data {
  int32_t ids[NTOK], types[NTOK], labels[NSEQ], tags[NTOK], slots[NTOK], mlm[NTOK], nsp[NSEQ];
  float multi[NSEQ * 4];
} data;

static void make_data(data *d, int mask_id) {
  for (int n = 0, b = 0; b < NSEQ; b++) {
    for (int t = 0; t < lens[b]; t++, n++) {
      d->ids[n] = t == 0 ? 2 : t == lens[b] - 1 ? 3 : 5 + (n * 7 + b) % 60;
      d->types[n] = b == 1 && t >= 5;
      d->tags[n] = (t == 0 || t == lens[b] - 1) ? -100 : n % 3;
      d->slots[n] = (t == 0 || t == lens[b] - 1) ? 0 : 2 + n % 3;
      d->mlm[n] = -100;
      if (t == 2) { /* one [MASK] per sequence, as the session decodes exactly the [MASK] rows */
        d->mlm[n] = d->ids[n];
        d->ids[n] = mask_id;
      }
    }
    d->labels[b] = b % 2;
    d->nsp[b] = b % 2;
  }
  for (int i = 0; i < NSEQ * 4; i++) d->multi[i] = (float)((i * 5) % 3 == 0);
}

static json_t *floats(const float *p, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(a, json_real(p[i]));
  return a;
}

static json_t *ints(const int32_t *p, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer(p[i]));
  return a;
}

/* max |session - trainer| over one output of every sequence */
static double compare(const bertd_session *s, const char *session_name, const float *ours,
                      int per_token, int k) {
  double worst = 0.0;
  for (int b = 0, start = 0; b < NSEQ; start += lens[b], b++) {
    int n;
    const float *got = bertd_session_logits(s, b, session_name, &n);
    cr_assert(got, "session has no %s logits", session_name);
    const float *want = ours + (size_t)(per_token ? start : b) * k;
    cr_assert_eq(n, per_token ? lens[b] * k : k);
    for (int i = 0; i < n; i++) worst = fmax(worst, fabs(got[i] - want[i]));
  }
  return worst;
}

static void round_trip(const char *name, bertd_arch arch, bertd_problem_type pt) {
  char err[512], vocab_dir[1024], out[1024];
  snprintf(vocab_dir, sizeof vocab_dir, "%s/models/seq_cls", BERTD_FIXTURES);
  bertd_checkpoint_config c;
  cr_assert_eq(bertd_config_load(vocab_dir, &c, err, sizeof err), 0, "%s", err);
  if (arch == BERTD_ARCH_JOINT) {
    const char *intents[] = {"UNK", "atis_flight", "atis_airfare"};
    const char *slots[] = {"PAD", "UNK", "O", "B-toloc.city_name", "I-toloc.city_name"};
    cr_assert_eq(bertd_config_set_joint(&c, 3, intents, 5, slots, err, sizeof err), 0, "%s", err);
  } else {
    cr_assert_eq(bertd_config_set_task(&c, arch, pt, pt == BERTD_PROBLEM_MULTI_LABEL ? 4 : 3, NULL,
                                       err, sizeof err), 0, "%s", err);
  }
  c.hidden_act = arch == BERTD_ARCH_MLM ? BERTD_ACT_RELU : BERTD_ACT_GELU;
  bertd_weights w;
  cr_assert_eq(bertd_weights_init_random(&c, 77, &w, err, sizeof err), 0, "%s", err);
  data d;
  make_data(&d, 4 /* [MASK] in the fixture vocabulary */);
  bertd_train_batch batch = {.B = NSEQ, .lens = lens, .ids = d.ids, .type_ids = d.types};
  switch (arch) {
  case BERTD_ARCH_SEQ_CLS:
    if (pt == BERTD_PROBLEM_MULTI_LABEL) batch.y.multi_labels = d.multi;
    else batch.y.labels = d.labels;
    break;
  case BERTD_ARCH_TOKEN_CLS: batch.y.token_labels = d.tags; break;
  case BERTD_ARCH_JOINT: batch.y.labels = d.labels; batch.y.token_labels = d.slots; break;
  case BERTD_ARCH_MLM: batch.y.mlm_labels = d.mlm; break;
  default: batch.y.mlm_labels = d.mlm; batch.y.nsp_labels = d.nsp; break;
  }
  bertd_trainer_opts o;
  bertd_trainer_opts_default(&o);
  o.lr = 1e-2f; /* a few large steps, so the saved weights are far from their init */
  bertd_trainer *t;
  cr_assert_eq(bertd_trainer_create(&c, &w, &o, &t, err, sizeof err), 0, "%s", err);
  for (int s = 0; s < 3; s++) cr_assert_eq(bertd_trainer_step(t, &batch, NULL, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_trainer_eval(t, &batch, NULL, err, sizeof err), 0, "%s", err);

  snprintf(out, sizeof out, "%s/trained_checkpoints", BERTD_BINARY_DIR);
  mkdir(out, 0755);
  snprintf(out, sizeof out, "%s/trained_checkpoints/%s", BERTD_BINARY_DIR, name);
  cr_assert_eq(bertd_checkpoint_save(out, &c, &w, vocab_dir, err, sizeof err), 0, "%s", err);

  /* bertd reads it back */
  bertd_model *m;
  bertd_session *s;
  cr_assert_eq(bertd_model_load(out, &m, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_model_config(m)->arch, arch);
  cr_assert_eq(bertd_session_create(m, &s, err, sizeof err), 0, "%s", err);
  bertd_encoding enc[NSEQ];
  const bertd_encoding *encs[NSEQ];
  for (int b = 0, n = 0; b < NSEQ; n += lens[b], b++) {
    memset(&enc[b], 0, sizeof enc[b]);
    enc[b].n = lens[b];
    enc[b].ids = d.ids + n;
    enc[b].type_ids = d.types + n;
    enc[b].seq_ids = d.types + n;
    encs[b] = &enc[b];
  }
  cr_assert_eq(bertd_session_forward(s, encs, NSEQ, err, sizeof err), 0, "%s", err);

  json_t *exp = json_object(), *outs = json_object();
  json_object_set_new(exp, "lens", json_pack("[i,i,i]", lens[0], lens[1], lens[2]));
  json_object_set_new(exp, "ids", ints(d.ids, NTOK));
  json_object_set_new(exp, "type_ids", ints(d.types, NTOK));
  static const struct { const char *trainer, *session; int per_token; } names[] = {
      {"labels", "classify", 0}, {"tags", "tag", 1}, {"intent", "intent", 0},
      {"slots", "slots", 1}, {"nsp", "nsp", 0}, {"mlm", "mlm", 0}};
  double worst = 0.0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    int rows, cols;
    const float *lg = bertd_trainer_logits(t, names[i].trainer, &rows, &cols);
    if (!lg) continue;
    json_object_set_new(outs, names[i].trainer, floats(lg, (size_t)rows * cols));
    if (strcmp(names[i].trainer, "mlm") == 0) {
      int M;
      const int *r = bertd_trainer_mlm_rows(t, &M);
      json_t *a = json_array();
      for (int j = 0; j < M; j++) json_array_append_new(a, json_integer(r[j]));
      json_object_set_new(exp, "mlm_rows", a);
      cr_assert_eq(M, NSEQ); /* one [MASK] per sequence: session row b = trainer row b */
      worst = fmax(worst, compare(s, "mlm", lg, 0, cols));
    } else {
      worst = fmax(worst, compare(s, names[i].session, lg, names[i].per_token, cols));
    }
  }
  json_object_set_new(exp, "outputs", outs);
  cr_expect(worst <= 1e-5, "%s: reloaded bertd logits differ from the trainer's by %.2e", name, worst);
  char exp_path[1100];
  snprintf(exp_path, sizeof exp_path, "%s.expected.json", out);
  cr_assert_eq(json_dump_file(exp, exp_path, JSON_COMPACT), 0);
  json_decref(exp);
  fprintf(stderr, "checkpoint %s: reloaded in bertd, max |diff| %.2e\n", name, worst);

  const char *py = getenv("BERTD_REF_PYTHON");
  if (py && *py) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' '%s/tools/reference/check_saved_checkpoint.py' '%s' '%s' 1>&2",
             py, BERTD_SOURCE_DIR, out, exp_path);
    cr_expect_eq(system(cmd), 0, "%s: transformers disagrees (see above): %s", name, cmd);
  } else {
    fprintf(stderr, "checkpoint %s: BERTD_REF_PYTHON unset, transformers check skipped\n", name);
  }
  bertd_session_free(s);
  bertd_model_free(m);
  bertd_trainer_free(t);
  bertd_weights_free(&w);
  bertd_config_free(&c);
}

Test(checkpoint_save, seq_cls) { round_trip("seq_cls", BERTD_ARCH_SEQ_CLS, BERTD_PROBLEM_SINGLE_LABEL); }
Test(checkpoint_save, multi_label) { round_trip("multi_label", BERTD_ARCH_SEQ_CLS, BERTD_PROBLEM_MULTI_LABEL); }
Test(checkpoint_save, token_cls) { round_trip("token_cls", BERTD_ARCH_TOKEN_CLS, BERTD_PROBLEM_SINGLE_LABEL); }
Test(checkpoint_save, joint) { round_trip("joint", BERTD_ARCH_JOINT, BERTD_PROBLEM_SINGLE_LABEL); }
Test(checkpoint_save, mlm) { round_trip("mlm", BERTD_ARCH_MLM, BERTD_PROBLEM_SINGLE_LABEL); }
Test(checkpoint_save, pretraining) { round_trip("pretraining", BERTD_ARCH_PRETRAINING, BERTD_PROBLEM_SINGLE_LABEL); }
