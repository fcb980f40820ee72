/* weights_init.c: initial weights for training: all fresh (pre-training from scratch), or a
 * pre-trained checkpoint's tensors plus freshly initialised new ones (a new head). */
#include <stdio.h>
#include <string.h>

#include "bertd_rng.h"
#include "bertd_weights.h"

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* transformers' _init_weights for one tensor: Linear/Embedding weight N(0, range), bias 0,
 * LayerNorm weight 1 / bias 0, the padding embedding row 0. */
static void init_param(bertd_weights *w, const bertd_param *p, const bertd_checkpoint_config *cfg,
                       bertd_rng *r) {
  float *x = w->memory + p->offset;
  if (ends_with(p->name, ".bias")) {
    memset(x, 0, p->numel * sizeof(float));
  } else if (strstr(p->name, "LayerNorm")) {
    for (size_t i = 0; i < p->numel; i++) x[i] = 1.0f;
  } else {
    for (size_t i = 0; i < p->numel; i++)
      x[i] = (float)(bertd_rng_normal(r) * cfg->initializer_range);
    if (strcmp(p->name, "bert.embeddings.word_embeddings.weight") == 0 && cfg->pad_token_id >= 0 &&
        cfg->pad_token_id < p->shape[0])
      memset(x + (size_t)cfg->pad_token_id * p->shape[1], 0, sizeof(float) * (size_t)p->shape[1]);
  }
}

int bertd_weights_init_random(const bertd_checkpoint_config *cfg, uint64_t seed, bertd_weights *w,
                              char *errstr, size_t errstr_size) {
  if (bertd_weights_alloc(cfg, w, errstr, errstr_size)) return -1;
  bertd_rng r;
  bertd_rng_seed(&r, seed);
  for (int i = 0; i < w->num_params; i++) init_param(w, &w->params[i], cfg, &r);
  return 0;
}

int bertd_weights_init_from(const char *dir, const bertd_checkpoint_config *cfg, uint64_t seed,
                            bertd_weights *w, int *num_new, char *errstr, size_t errstr_size) {
  memset(w, 0, sizeof *w);
  bertd_checkpoint_config src;
  bertd_weights sw;
  if (bertd_config_load(dir, &src, errstr, errstr_size)) return -1;
  if (bertd_weights_load(dir, &src, &sw, errstr, errstr_size)) {
    bertd_config_free(&src);
    return -1;
  }
  bertd_config_free(&src);
  if (bertd_weights_alloc(cfg, w, errstr, errstr_size)) {
    bertd_weights_free(&sw);
    return -1;
  }
  bertd_rng r;
  bertd_rng_seed(&r, seed);
  int fresh = 0;
  for (int i = 0; i < w->num_params; i++) {
    const bertd_param *p = &w->params[i];
    const bertd_param *s = bertd_weights_find(&sw, p->name);
    if (!s) {
      init_param(w, p, cfg, &r);
      fresh++;
      continue;
    }
    if (s->ndim != p->ndim || s->shape[0] != p->shape[0] || s->shape[1] != p->shape[1]) {
      snprintf(errstr, errstr_size, "%s: tensor '%s' has shape [%d, %d], the new model [%d, %d]",
               dir, p->name, s->shape[0], s->shape[1], p->shape[0], p->shape[1]);
      bertd_weights_free(&sw);
      bertd_weights_free(w);
      return -1;
    }
    memcpy(w->memory + p->offset, sw.memory + s->offset, p->numel * sizeof(float));
  }
  /* an untied MLM decoder in the source is not carried over: the new layout ties it */
  bertd_weights_free(&sw);
  if (num_new) *num_new = fresh;
  return 0;
}
