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

static int load_param(const bertd_checkpoint *ck, bertd_weights *w, const bertd_param *p, char *errstr,
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
  return bertd_st_read_f32(ct.file, t, w->memory + p->offset, errstr, errstr_size);
}

/* JointBERT with use_crf keeps crf.* transitions bertd does not apply: refuse, do not guess. */
static void see_crf(const char *name, void *arg) {
  if (strncmp(name, "crf.", 4) == 0) *(int *)arg = 1;
}

int bertd_weights_load(const char *dir, const bertd_checkpoint_config *cfg, bertd_weights *w, char *errstr,
                       size_t errstr_size) {
  memset(w, 0, sizeof *w);
  bertd_checkpoint ck;
  if (bertd_checkpoint_open(dir, &ck, errstr, errstr_size) != 0) return -1;
  int rc = -1;

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
  for (int i = 0; i < w->num_params; i++)
    if (load_param(&ck, w, &w->params[i], errstr, errstr_size) != 0) goto done;
  rc = 0;
done:
  if (rc != 0) bertd_weights_free(w);
  bertd_checkpoint_close(&ck);
  return rc;
}
