/* test_inference_load.c: what an inference load holds (model.c, weights_load.c,
 * weights_rows.c, model_random.c):
 *  - bertd_model_load packs each encoder layer as it is read and releases its fp32 matrices
 *    (NULL pointers; no precision change, no save, no view afterwards), yet gives the same
 *    hidden states, bit for bit, as a model packed from weights held whole;
 *  - the word embeddings of an F32 checkpoint are read row by row as ids first appear: a row
 *    never asked for is never read, a fetched row equals the plain load's; an F16 file and a
 *    tied MLM decoder get a plain copy;
 *  - the checksum computed while loading equals FNV-1a 64 over the plain load's buffer;
 *  - bertd_model_random_save writes the weights bertd_model_random draws. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd.h"
#include "bertd_weights.h"
#include "loader_fixtures.h"

static char err[512];

static uint64_t fnv1a(const void *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= ((const unsigned char *)p)[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

static void fixture(char *dir, size_t size, const char *name) {
  snprintf(dir, size, "%s/models/%s", BERTD_FIXTURES, name);
}

/* Layers seen by the load callback, in order. */
typedef struct {
  int seen[64], n;
} layer_log;

static int log_layer(void *arg, int l, char *errstr, size_t errstr_size) {
  (void)errstr, (void)errstr_size;
  layer_log *g = arg;
  g->seen[g->n++] = l;
  return 0;
}

static int fail_layer(void *arg, int l, char *errstr, size_t errstr_size) {
  (void)arg;
  snprintf(errstr, errstr_size, "stop at layer %d", l);
  return l == 1 ? -1 : 0;
}

Test(inference_load, lazy_rows_are_read_on_demand) {
  char dir[1024];
  fixture(dir, sizeof dir, "joint");
  bertd_checkpoint_config cfg;
  cr_assert_eq(bertd_config_load(dir, &cfg, err, sizeof err), 0, "%s", err);
  bertd_weights plain, lazy;
  cr_assert_eq(bertd_weights_load(dir, &cfg, &plain, err, sizeof err), 0, "%s", err);
  uint64_t h = 0;
  layer_log g = {.n = 0};
  bertd_weights_load_opts o = {.lazy_word_embeddings = 1, .layer_loaded = log_layer, .arg = &g,
                               .checksum = &h};
  cr_assert_eq(bertd_weights_load_ex(dir, &cfg, &o, &lazy, err, sizeof err), 0, "%s", err);
  cr_assert_eq(h, fnv1a(plain.memory, plain.num_floats * sizeof(float)));
  cr_assert_eq(g.n, cfg.num_hidden_layers);
  for (int l = 0; l < g.n; l++) cr_assert_eq(g.seen[l], l);
  cr_assert_not_null(lazy.rows, "an F32 file's word embeddings are read on demand");
  const int H = cfg.hidden_size;
  const size_t row = sizeof(float) * (size_t)H;
  float *zero = calloc((size_t)H, sizeof(float));
  for (int v = 0; v < 8; v++)
    cr_assert_eq(memcmp(lazy.word_emb + (size_t)v * H, zero, row), 0, "row %d read early", v);
  const int32_t ids[4] = {5, 7, 5, cfg.vocab_size}; /* the last is out of range: skipped */
  cr_assert_eq(bertd_weights_rows_fetch(&lazy, ids, 4, err, sizeof err), 0, "%s", err);
  cr_assert_eq(memcmp(lazy.word_emb + 5 * (size_t)H, plain.word_emb + 5 * (size_t)H, row), 0);
  cr_assert_eq(memcmp(lazy.word_emb + 7 * (size_t)H, plain.word_emb + 7 * (size_t)H, row), 0);
  cr_assert_eq(memcmp(lazy.word_emb + 6 * (size_t)H, zero, row), 0, "row 6 was not asked for");
  cr_assert_neq(memcmp(plain.word_emb + 6 * (size_t)H, zero, row), 0);
  /* every other tensor is a plain copy */
  for (int i = 0; i < plain.num_params; i++) {
    const bertd_param *p = &plain.params[i];
    if (!strcmp(p->name, "bert.embeddings.word_embeddings.weight")) continue;
    cr_assert_eq(memcmp(lazy.memory + p->offset, plain.memory + p->offset,
                        p->numel * sizeof(float)), 0, "%s", p->name);
  }
  /* weights read on demand are not training's: no view, no save */
  bertd_weights v;
  float *buf = calloc(plain.num_floats, sizeof(float));
  cr_assert_eq(bertd_weights_view(&lazy, buf, &v, err, sizeof err), -1);
  cr_assert(strstr(err, "load them with bertd_weights_load to train"), "%s", err);
  char path[1200];
  snprintf(path, sizeof path, "%s/never.safetensors", BERTD_BINARY_DIR);
  cr_assert_eq(bertd_weights_save(&lazy, path, err, sizeof err), -1);
  cr_assert(strstr(err, "save from a training load"), "%s", err);
  free(buf);
  free(zero);
  bertd_weights_free(&lazy);
  bertd_weights_free(&plain);
  bertd_config_free(&cfg);
}

Test(inference_load, f16_and_tied_decoder_get_a_copy) {
  static const char *const names[2] = {"base_f16", "mlm"};
  for (int k = 0; k < 2; k++) {
    char dir[1024];
    fixture(dir, sizeof dir, names[k]);
    bertd_checkpoint_config cfg;
    cr_assert_eq(bertd_config_load(dir, &cfg, err, sizeof err), 0, "%s", err);
    bertd_weights plain, w;
    cr_assert_eq(bertd_weights_load(dir, &cfg, &plain, err, sizeof err), 0, "%s", err);
    bertd_weights_load_opts o = {.lazy_word_embeddings = 1};
    cr_assert_eq(bertd_weights_load_ex(dir, &cfg, &o, &w, err, sizeof err), 0, "%s", err);
    cr_assert_null(w.rows, "%s", names[k]);
    cr_assert_eq(memcmp(w.memory, plain.memory, plain.num_floats * sizeof(float)), 0, "%s",
                 names[k]);
    if (k == 1) cr_assert_eq(w.mlm_decoder_w, w.word_emb, "the decoder stays tied");
    bertd_weights_free(&w);
    bertd_weights_free(&plain);
    bertd_config_free(&cfg);
  }
}

Test(inference_load, a_failing_layer_callback_fails_the_load) {
  char dir[1024];
  fixture(dir, sizeof dir, "joint");
  bertd_checkpoint_config cfg;
  cr_assert_eq(bertd_config_load(dir, &cfg, err, sizeof err), 0, "%s", err);
  cr_assert(cfg.num_hidden_layers >= 2);
  bertd_weights w;
  bertd_weights_load_opts o = {.lazy_word_embeddings = 1, .layer_loaded = fail_layer};
  cr_assert_eq(bertd_weights_load_ex(dir, &cfg, &o, &w, err, sizeof err), -1);
  cr_assert_str_eq(err, "stop at layer 1");
  cr_assert_null(w.memory);
  cr_assert_null(w.rows);
  bertd_config_free(&cfg);
}

/* Hidden states of a fixed batch, copied out (B=2: 5 and 3 tokens). */
static float *hidden_of(const bertd_model *m, int *count) {
  bertd_session *s;
  cr_assert_eq(bertd_session_create(m, &s, err, sizeof err), 0, "%s", err);
  int32_t ids[2][5] = {{101, 2000, 7, 30000, 102}, {101, 999, 102}}, types[2][5] = {{0}};
  const int lens[2] = {5, 3};
  bertd_encoding enc[2];
  memset(enc, 0, sizeof enc);
  const bertd_encoding *batch[2] = {&enc[0], &enc[1]};
  for (int b = 0; b < 2; b++) {
    enc[b].n = lens[b];
    enc[b].ids = ids[b];
    enc[b].type_ids = types[b];
  }
  cr_assert_eq(bertd_session_forward(s, batch, 2, err, sizeof err), 0, "%s", err);
  const int H = bertd_model_config(m)->hidden_size;
  float *out = malloc(sizeof(float) * 8 * (size_t)H);
  for (int b = 0, at = 0; b < 2; b++) {
    int len = 0;
    const float *h = bertd_session_hidden(s, b, &len);
    cr_assert_not_null(h);
    cr_assert_eq(len, lens[b]);
    memcpy(out + (size_t)at * H, h, sizeof(float) * (size_t)len * H);
    at += len;
  }
  *count = 8 * H;
  bertd_session_free(s);
  return out;
}

Test(inference_load, random_checkpoint_is_the_random_model) {
  char dir[1024];
  scratch_new(dir, sizeof dir);
  char ck[1200];
  snprintf(ck, sizeof ck, "%s/random", dir);
  cr_assert_eq(bertd_model_random_save(ck, 2, 32, 2, 64, 7, err, sizeof err), 0, "%s", err);
  bertd_model *held, *loaded;
  cr_assert_eq(bertd_model_random(2, 32, 2, 64, 7, &held, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_model_load(ck, &loaded, err, sizeof err), 0, "%s", err);
  cr_assert_str_eq(bertd_model_checksum(loaded), bertd_model_checksum(held));
  cr_assert_eq(bertd_model_config(loaded)->vocab_size, 30522);
  cr_assert_eq(bertd_tokenizer_vocab_size(bertd_model_tokenizer(loaded)), 30522);
  cr_assert_str_eq(bertd_model_kernel(loaded), bertd_model_kernel(held));
  /* the loaded model holds its encoder once: panels, no fp32 matrices */
  const bertd_weights *w = bertd_model_weights(loaded);
  cr_assert_eq(w->released, 2);
  for (int l = 0; l < 2; l++)
    cr_assert(!w->layers[l].q_w && !w->layers[l].k_w && !w->layers[l].v_w &&
              !w->layers[l].attn_out_w && !w->layers[l].inter_w && !w->layers[l].out_w);
  cr_assert_not_null(w->layers[1].ln2_b);
  cr_assert_not_null(w->rows);
  int n1, n2;
  float *a = hidden_of(held, &n1), *b = hidden_of(loaded, &n2);
  cr_assert_eq(n1, n2);
  cr_assert_eq(memcmp(a, b, sizeof(float) * (size_t)n1), 0, "same weights, same kernel, same bits");
  /* it cannot change precision: its fp32 encoder is gone */
  cr_assert_eq(bertd_model_set_precision(loaded, BERTD_PRECISION_INT8, err, sizeof err), -1);
  cr_assert(strstr(err, "holds no fp32 copy of its encoder"), "%s", err);
  free(a);
  free(b);
  bertd_model_free(held);
  bertd_model_free(loaded);
  scratch_free(dir);
}

Test(inference_load, blas_keeps_the_fp32_matrices) {
  char dir[1024];
  fixture(dir, sizeof dir, "joint");
  setenv("BERTD_GEMM", "blas", 1);
  bertd_model *m;
  cr_assert_eq(bertd_model_load(dir, &m, err, sizeof err), 0, "%s", err);
  unsetenv("BERTD_GEMM");
  cr_assert_str_eq(bertd_model_kernel(m), "openblas");
  const bertd_weights *w = bertd_model_weights(m);
  cr_assert_eq(w->released, 0);
  for (int l = 0; l < bertd_model_config(m)->num_hidden_layers; l++)
    cr_assert(w->layers[l].q_w && w->layers[l].inter_w && w->layers[l].out_w);
  bertd_model_free(m);
}
