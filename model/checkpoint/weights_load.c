/* weights_load.c: a checkpoint's tensors into the parameter table.
 *
 * 1. open the safetensors file(s) (checkpoint.c);
 * 2. see which optional tensors the file has (the pooler; an untied MLM decoder) and lay out the
 *    table for cfg->arch with room for exactly those (weights.c);
 * 3. for every parameter find its tensor -- under the canonical name, without the "bert." prefix
 *    (BertModel.save_pretrained drops it), or under the legacy LayerNorm gamma/beta names --
 *    check the shape against the config and convert it to F32 into place.
 * Tensors the table does not name (embeddings.position_ids, a head the arch does not use) are
 * ignored, as transformers ignores them. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd.h"
#include "checkpoint.h"
#include "bertd_weights.h"
#include "weights_internal.h"

/* Looks canonical up under the names checkpoints use for it. 1 found, 0 absent, -1 error. */
static int find_tensor(const bertd_checkpoint *ck, const char *canonical, bertd_checkpoint_tensor *out,
                       char *errstr, size_t errstr_size) {
  char alt[5][128];
  int n = 0;
  const char *bases[2] = {canonical, strncmp(canonical, "bert.", 5) == 0 ? canonical + 5 : NULL};
  for (int b = 0; b < 2 && bases[b]; b++) {
    /* a private copy: gcc's -Wrestrict cannot prove s and alt never overlap */
    char s[sizeof alt[0]];
    snprintf(s, sizeof s, "%s", bases[b]);
    size_t m = strlen(s);
    snprintf(alt[n++], sizeof alt[0], "%s", s);
    /* BERT's original TF checkpoints, converted, named LayerNorm weight/bias gamma/beta */
    if (!strstr(s, "LayerNorm.")) continue;
    if (m > 7 && strcmp(s + m - 7, ".weight") == 0)
      snprintf(alt[n++], sizeof alt[0], "%.*s.gamma", (int)(m - 7), s);
    else if (m > 5 && strcmp(s + m - 5, ".bias") == 0)
      snprintf(alt[n++], sizeof alt[0], "%.*s.beta", (int)(m - 5), s);
  }
  /* transformers keeps the MLM bias twice (cls.predictions.bias is decoder.bias); either name */
  if (strcmp(canonical, "cls.predictions.bias") == 0) snprintf(alt[n++], sizeof alt[0], "cls.predictions.decoder.bias");
  for (int i = 0; i < n; i++) {
    int rc = bertd_checkpoint_find(ck, alt[i], out, errstr, errstr_size);
    if (rc != 0) return rc;
  }
  return 0;
}

static int has_tensor(const bertd_checkpoint *ck, const char *canonical, char *errstr, size_t errstr_size) {
  bertd_checkpoint_tensor t;
  return find_tensor(ck, canonical, &t, errstr, errstr_size);
}

/* Where the config's side of a shape comes from, for the error message. */
static const char *shape_source(const char *name) {
  if (strncmp(name, "intent_classifier.", 18) == 0) return "intent_label.txt";
  if (strncmp(name, "slot_classifier.", 16) == 0) return "slot_label.txt";
  return "config.json";
}

static void format_dims(char *buf, size_t size, const int64_t *d, int n) {
  size_t k = (size_t)snprintf(buf, size, "[");
  for (int i = 0; i < n && k < size; i++) k += (size_t)snprintf(buf + k, size - k, "%s%lld", i ? ", " : "", (long long)d[i]);
  if (k < size) snprintf(buf + k, size - k, "]");
}

/* FNV-1a 64 over n bytes, continuing from h. */
static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

/* The loaded tensor's F32 bytes into *h; a tensor read in place from the mapping is hashed a
 * few MiB at a time, each run's pages dropped after it (so hashing never makes it resident). */
static void hash_param(uint64_t *h, const bertd_safetensors *st, const bertd_st_tensor *t,
                       const float *src, size_t numel) {
  const unsigned char *p = (const unsigned char *)src;
  const size_t n = numel * sizeof(float);
  if (!(st->map && p >= st->data && p < st->data + st->data_size)) {
    *h = fnv1a(*h, p, n);
    return;
  }
  enum { RUN = 4 << 20 };
  for (size_t at = 0; at < n; at += RUN) {
    const size_t len = n - at < RUN ? n - at : RUN;
    *h = fnv1a(*h, p + at, len);
    bertd_st_tensor run = *t;
    run.begin = t->begin + at;
    run.end = run.begin + len;
    bertd_st_drop_pages(st, &run);
  }
}

/* Loads p into w; with lazy set (the word embeddings of a lazy load), an F32 tensor is not
 * copied but hashed from the file and returned in *lazy for weights_rows.c to read row by row
 * (lazy->tensor NULL when it was copied after all). */
static int load_param(const bertd_checkpoint *ck, bertd_weights *w, const bertd_param *p,
                      bertd_checkpoint_tensor *lazy, uint64_t *checksum, char *errstr,
                      size_t errstr_size) {
  bertd_checkpoint_tensor ct;
  int found = find_tensor(ck, p->name, &ct, errstr, errstr_size);
  if (found < 0) return -1;
  if (found == 0) return bertd_set_error(errstr, errstr_size, "%s: missing tensor '%s'", ck->label, p->name);
  const bertd_st_tensor *t = ct.tensor;
  int same = t->ndim == p->ndim;
  for (int i = 0; same && i < p->ndim; i++) same = t->shape[i] == p->shape[i];
  if (!same) {
    char have[128], want[128];
    int64_t pd[2] = {p->shape[0], p->shape[1]};
    format_dims(have, sizeof have, t->shape, t->ndim);
    format_dims(want, sizeof want, pd, p->ndim);
    return bertd_set_error(errstr, errstr_size, "%s: tensor '%s': shape %s but %s says %s", ct.file->label, t->name,
                     have, shape_source(p->name), want);
  }
  const float *src = w->memory + p->offset;
  if (lazy && ct.file->map && t->dtype == BERTD_ST_F32) {
    *lazy = ct;
    /* F32 bytes as stored; hash_param reads them through the mapping a run at a time */
    src = (const float *)(const void *)(ct.file->data + t->begin);
  } else {
    if (lazy) lazy->tensor = NULL;
    if (bertd_st_read_f32(ct.file, t, w->memory + p->offset, errstr, errstr_size)) return -1;
    bertd_st_drop_pages(ct.file, t);
  }
  if (checksum) hash_param(checksum, ct.file, t, src, p->numel);
  return 0;
}

/* JointBERT with use_crf keeps crf.* transitions bertd does not apply: refuse, do not guess. */
static void see_crf(const char *name, void *arg) {
  if (strncmp(name, "crf.", 4) == 0) *(int *)arg = 1;
}

/* The index of each layer's last parameter in the table (-1 if none): after it the layer is
 * complete. */
static void layer_ends(const bertd_weights *w, int L, int *last) {
  for (int l = 0; l < L; l++) last[l] = -1;
  for (int i = 0; i < w->num_params; i++) {
    int l;
    if (sscanf(w->params[i].name, "bert.encoder.layer.%d.", &l) == 1 && l >= 0 && l < L) last[l] = i;
  }
}

int bertd_weights_load(const char *dir, const bertd_checkpoint_config *cfg, bertd_weights *w, char *errstr,
                       size_t errstr_size) {
  return bertd_weights_load_ex(dir, cfg, NULL, w, errstr, errstr_size);
}

int bertd_weights_load_ex(const char *dir, const bertd_checkpoint_config *cfg,
                          const bertd_weights_load_opts *o, bertd_weights *w, char *errstr,
                          size_t errstr_size) {
  static const bertd_weights_load_opts plain = {0};
  if (!o) o = &plain;
  memset(w, 0, sizeof *w);
  bertd_checkpoint ck;
  if (bertd_checkpoint_open(dir, &ck, errstr, errstr_size) != 0) return -1;
  int rc = -1;
  int *last = NULL;
  uint64_t h = 0xcbf29ce484222325ULL;

  bertd_weights_layout_opts opts = {0};
  int found;
  if ((found = has_tensor(&ck, "bert.pooler.dense.weight", errstr, errstr_size)) < 0) goto done;
  opts.pooler = found;
  if (!opts.pooler && bertd_weights_needs_pooler(cfg->arch)) {
    bertd_set_error(errstr, errstr_size, "%s: missing tensor 'bert.pooler.dense.weight' (%s uses the pooler)",
              ck.label, bertd_arch_name(cfg->arch));
    goto done;
  }
  if (cfg->arch == BERTD_ARCH_MLM || cfg->arch == BERTD_ARCH_PRETRAINING) {
    if ((found = has_tensor(&ck, "cls.predictions.decoder.weight", errstr, errstr_size)) < 0) goto done;
    opts.untied_decoder = found;
  }
  if (cfg->arch == BERTD_ARCH_JOINT) {
    int crf = 0;
    bertd_checkpoint_names(&ck, see_crf, &crf);
    if (crf) {
      bertd_set_error(errstr, errstr_size, "%s: JointBERT with a CRF (crf.* tensors) is not supported", ck.label);
      goto done;
    }
  }

  if (bertd_weights_layout(cfg, opts, w, errstr, errstr_size) != 0) goto done;
  const int L = cfg->num_hidden_layers;
  if (!(last = malloc(sizeof(int) * (size_t)(L > 0 ? L : 1)))) {
    bertd_set_error(errstr, errstr_size, "%s: out of memory", ck.label);
    goto done;
  }
  layer_ends(w, L, last);
  const bertd_param *word = bertd_weights_find(w, "bert.embeddings.word_embeddings.weight");
  /* a tied MLM decoder reads every row of the word embeddings: those stay a plain copy */
  const int lazy_ok = o->lazy_word_embeddings && !(w->mlm_bias && w->mlm_decoder_w == w->word_emb);
  int next_layer = 0;
  for (int i = 0; i < w->num_params; i++) {
    const bertd_param *p = &w->params[i];
    bertd_checkpoint_tensor lazy = {0};
    const int want_lazy = lazy_ok && p == word;
    if (load_param(&ck, w, p, want_lazy ? &lazy : NULL, o->checksum ? &h : NULL, errstr,
                   errstr_size) != 0)
      goto done;
    if (lazy.tensor) {
      char path[4096];
      const uint64_t at = (uint64_t)(lazy.file->data - (const uint8_t *)lazy.file->map) + lazy.tensor->begin;
      if (snprintf(path, sizeof path, "%s/%s", dir, lazy.file->label) >= (int)sizeof path) {
        bertd_set_error(errstr, errstr_size, "%s: path too long", dir);
        goto done;
      }
      if (bertd_weights_rows_open(path, lazy.file->label, at, p->shape[0], p->shape[1], &w->rows,
                                  errstr, errstr_size))
        goto done;
      /* the table's slot for it stays untouched (never resident) */
      w->word_emb = bertd_weights_rows_table(w->rows);
    }
    while (next_layer < L && last[next_layer] == i) {
      if (o->layer_loaded && o->layer_loaded(o->arg, next_layer, errstr, errstr_size)) goto done;
      next_layer++;
    }
  }
  if (o->checksum) *o->checksum = h;
  rc = 0;
done:
  free(last);
  if (rc != 0) bertd_weights_free(w);
  bertd_checkpoint_close(&ck);
  return rc;
}
