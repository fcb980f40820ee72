/* weights.c: the parameter table of a BERT checkpoint and its one contiguous buffer.
 *
 * The table lists tensors in the order transformers' named_parameters() gives them, each under
 * its canonical Hugging Face name ("bert." prefix on the encoder, none on the heads). Offsets are
 * in floats into w->memory; a gradient or AdamW moment buffer of w->num_floats floats has the
 * same layout, so optimizer code never needs the names. */
#include "bertd.h"
#include "bertd_weights.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "weights_internal.h"

int bertd_weights_needs_pooler(bertd_arch arch) {
  return arch == BERTD_ARCH_SEQ_CLS || arch == BERTD_ARCH_NSP || arch == BERTD_ARCH_PRETRAINING ||
         arch == BERTD_ARCH_JOINT;
}

bertd_weights_layout_opts bertd_weights_default_opts(bertd_arch arch) {
  bertd_weights_layout_opts o = {0};
  o.pooler = arch != BERTD_ARCH_TOKEN_CLS && arch != BERTD_ARCH_QA && arch != BERTD_ARCH_MLM;
  return o;
}

/* The table under construction; cap grows by doubling. */
typedef struct {
  bertd_weights *w;
  int cap;
  size_t next_offset;
  int failed;
} table;

static void add(table *t, int ndim, int d0, int d1, const char *fmt, ...) {
  if (t->failed) return;
  bertd_weights *w = t->w;
  if (w->num_params == t->cap) {
    int ncap = t->cap ? 2 * t->cap : 256;
    bertd_param *grown = realloc(w->params, (size_t)ncap * sizeof *grown);
    if (!grown) {
      t->failed = 1;
      return;
    }
    w->params = grown;
    t->cap = ncap;
  }
  bertd_param *p = &w->params[w->num_params++];
  memset(p, 0, sizeof *p);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->name, sizeof p->name, fmt, ap);
  va_end(ap);
  p->ndim = ndim;
  p->shape[0] = d0;
  p->shape[1] = ndim == 2 ? d1 : 0;
  p->numel = (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1);
  p->offset = t->next_offset;
  t->next_offset += p->numel;
  /* transformers' run_glue/run_mlm: no weight decay for biases and LayerNorm weights */
  size_t n = strlen(p->name);
  p->no_decay = (n >= 5 && strcmp(p->name + n - 5, ".bias") == 0) || strstr(p->name, "LayerNorm") != NULL;
}

/* Linear layer "prefix.weight" (out,in) + "prefix.bias" (out). */
static void add_linear(table *t, const char *prefix, int out, int in) {
  add(t, 2, out, in, "%s.weight", prefix);
  add(t, 1, out, 0, "%s.bias", prefix);
}

static void add_layernorm(table *t, const char *prefix, int h) {
  add(t, 1, h, 0, "%s.weight", prefix);
  add(t, 1, h, 0, "%s.bias", prefix);
}

static float *ptr(bertd_weights *w, const char *name) {
  bertd_param *p = bertd_weights_find(w, name);
  return p ? w->memory + p->offset : NULL;
}

/* Points the typed fields at the buffer; absent tensors leave NULL. */
static void bind(bertd_weights *w, int num_layers) {
  w->word_emb = ptr(w, "bert.embeddings.word_embeddings.weight");
  w->pos_emb = ptr(w, "bert.embeddings.position_embeddings.weight");
  w->type_emb = ptr(w, "bert.embeddings.token_type_embeddings.weight");
  w->emb_ln_g = ptr(w, "bert.embeddings.LayerNorm.weight");
  w->emb_ln_b = ptr(w, "bert.embeddings.LayerNorm.bias");
  for (int l = 0; l < num_layers; l++) {
    bertd_layer_weights *lw = &w->layers[l];
    char name[96];
#define LAYER(field, suffix) \
  (snprintf(name, sizeof name, "bert.encoder.layer.%d.%s", l, suffix), lw->field = ptr(w, name))
    LAYER(q_w, "attention.self.query.weight");
    LAYER(q_b, "attention.self.query.bias");
    LAYER(k_w, "attention.self.key.weight");
    LAYER(k_b, "attention.self.key.bias");
    LAYER(v_w, "attention.self.value.weight");
    LAYER(v_b, "attention.self.value.bias");
    LAYER(attn_out_w, "attention.output.dense.weight");
    LAYER(attn_out_b, "attention.output.dense.bias");
    LAYER(ln1_g, "attention.output.LayerNorm.weight");
    LAYER(ln1_b, "attention.output.LayerNorm.bias");
    LAYER(inter_w, "intermediate.dense.weight");
    LAYER(inter_b, "intermediate.dense.bias");
    LAYER(out_w, "output.dense.weight");
    LAYER(out_b, "output.dense.bias");
    LAYER(ln2_g, "output.LayerNorm.weight");
    LAYER(ln2_b, "output.LayerNorm.bias");
#undef LAYER
  }
  w->pooler_w = ptr(w, "bert.pooler.dense.weight");
  w->pooler_b = ptr(w, "bert.pooler.dense.bias");
  w->cls_w = ptr(w, "classifier.weight");
  w->cls_b = ptr(w, "classifier.bias");
  w->qa_w = ptr(w, "qa_outputs.weight");
  w->qa_b = ptr(w, "qa_outputs.bias");
  w->mlm_dense_w = ptr(w, "cls.predictions.transform.dense.weight");
  w->mlm_dense_b = ptr(w, "cls.predictions.transform.dense.bias");
  w->mlm_ln_g = ptr(w, "cls.predictions.transform.LayerNorm.weight");
  w->mlm_ln_b = ptr(w, "cls.predictions.transform.LayerNorm.bias");
  w->mlm_bias = ptr(w, "cls.predictions.bias");
  w->mlm_decoder_w = ptr(w, "cls.predictions.decoder.weight");
  if (!w->mlm_decoder_w && w->mlm_bias) w->mlm_decoder_w = w->word_emb; /* tied */
  w->nsp_w = ptr(w, "cls.seq_relationship.weight");
  w->nsp_b = ptr(w, "cls.seq_relationship.bias");
  w->intent_w = ptr(w, "intent_classifier.linear.weight");
  w->intent_b = ptr(w, "intent_classifier.linear.bias");
  w->slot_w = ptr(w, "slot_classifier.linear.weight");
  w->slot_b = ptr(w, "slot_classifier.linear.bias");
}

int bertd_weights_layout(const bertd_checkpoint_config *cfg, bertd_weights_layout_opts opts, bertd_weights *w,
                         char *errstr, size_t errstr_size) {
  memset(w, 0, sizeof *w);
  if (bertd_config_validate(cfg, errstr, errstr_size) != 0) return -1;
  const int V = cfg->vocab_size, H = cfg->hidden_size, I = cfg->intermediate_size;
  table t = {.w = w};

  add(&t, 2, V, H, "bert.embeddings.word_embeddings.weight");
  add(&t, 2, cfg->max_position_embeddings, H, "bert.embeddings.position_embeddings.weight");
  add(&t, 2, cfg->type_vocab_size, H, "bert.embeddings.token_type_embeddings.weight");
  add_layernorm(&t, "bert.embeddings.LayerNorm", H);
  for (int l = 0; l < cfg->num_hidden_layers; l++) {
    char p[96];
#define P(suffix) (snprintf(p, sizeof p, "bert.encoder.layer.%d.%s", l, suffix), p)
    add_linear(&t, P("attention.self.query"), H, H);
    add_linear(&t, P("attention.self.key"), H, H);
    add_linear(&t, P("attention.self.value"), H, H);
    add_linear(&t, P("attention.output.dense"), H, H);
    add_layernorm(&t, P("attention.output.LayerNorm"), H);
    add_linear(&t, P("intermediate.dense"), I, H);
    add_linear(&t, P("output.dense"), H, I);
    add_layernorm(&t, P("output.LayerNorm"), H);
#undef P
  }
  if (opts.pooler) add_linear(&t, "bert.pooler.dense", H, H);

  switch (cfg->arch) {
  case BERTD_ARCH_BASE:
    break;
  case BERTD_ARCH_SEQ_CLS:
  case BERTD_ARCH_TOKEN_CLS:
    add_linear(&t, "classifier", cfg->num_labels, H);
    break;
  case BERTD_ARCH_QA:
    add_linear(&t, "qa_outputs", 2, H);
    break;
  case BERTD_ARCH_MLM:
  case BERTD_ARCH_NSP:
  case BERTD_ARCH_PRETRAINING:
    if (cfg->arch != BERTD_ARCH_NSP) {
      add(&t, 1, V, 0, "cls.predictions.bias");
      add_linear(&t, "cls.predictions.transform.dense", H, H);
      add_layernorm(&t, "cls.predictions.transform.LayerNorm", H);
      if (opts.untied_decoder) add(&t, 2, V, H, "cls.predictions.decoder.weight");
    }
    if (cfg->arch != BERTD_ARCH_MLM) add_linear(&t, "cls.seq_relationship", 2, H);
    break;
  case BERTD_ARCH_JOINT:
    add_linear(&t, "intent_classifier.linear", cfg->num_intents, H);
    add_linear(&t, "slot_classifier.linear", cfg->num_slots, H);
    break;
  }
  if (t.failed) {
    bertd_weights_free(w);
    return bertd_set_error(errstr, errstr_size, "weights: out of memory for the parameter table");
  }

  w->num_floats = t.next_offset;
  w->memory = opts.table_only ? NULL : calloc(w->num_floats, sizeof(float));
  w->layers = calloc((size_t)cfg->num_hidden_layers, sizeof *w->layers);
  if ((!opts.table_only && !w->memory) || !w->layers) {
    size_t mb = w->num_floats * sizeof(float) >> 20;
    bertd_weights_free(w);
    return bertd_set_error(errstr, errstr_size, "weights: out of memory for %zu MB of parameters", mb);
  }
  if (!opts.table_only) bind(w, cfg->num_hidden_layers);
  return 0;
}

int bertd_weights_alloc(const bertd_checkpoint_config *cfg, bertd_weights *w, char *errstr, size_t errstr_size) {
  return bertd_weights_layout(cfg, bertd_weights_default_opts(cfg->arch), w, errstr, errstr_size);
}

bertd_param *bertd_weights_find(bertd_weights *w, const char *name) {
  for (int i = 0; i < w->num_params; i++)
    if (strcmp(w->params[i].name, name) == 0) return &w->params[i];
  return NULL;
}

/* Gives the whole pages inside [p, p + n floats) back to the OS: anonymous memory, so only the
 * edges shared with neighbouring tensors (biases) stay resident. */
static void release_floats(float *p, size_t n) {
  if (!p) return;
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t a = ((uintptr_t)p + page - 1) / page * page;
  uintptr_t b = ((uintptr_t)(p + n)) / page * page;
  if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

void bertd_weights_release_dense(bertd_weights *w, int l) {
  bertd_layer_weights *lw = &w->layers[l];
  float **const m[6] = {&lw->q_w, &lw->k_w, &lw->v_w, &lw->attn_out_w, &lw->inter_w, &lw->out_w};
  if (!lw->q_w) return; /* released already */
  for (int i = 0; i < 6; i++) {
    const bertd_param *p = NULL;
    for (int j = 0; j < w->num_params && !p; j++)
      if (w->memory + w->params[j].offset == *m[i]) p = &w->params[j];
    if (p) release_floats(*m[i], p->numel);
    *m[i] = NULL;
  }
  w->released++;
}

void bertd_weights_free(bertd_weights *w) {
  if (!w) return;
  bertd_weights_rows_free(w->rows);
  free(w->memory);
  free(w->params);
  free(w->layers);
  memset(w, 0, sizeof *w);
}

static float *rebase(const bertd_weights *w, float *memory, const float *p) {
  return p ? memory + (p - w->memory) : NULL;
}

int bertd_weights_view(const bertd_weights *w, float *memory, bertd_weights *v, char *errstr,
                       size_t errstr_size) {
  if (w->rows || w->released)
    return bertd_set_error(errstr, errstr_size,
                           "weights: loaded for inference (word embeddings read on demand, "
                           "encoder released after packing); load them with bertd_weights_load "
                           "to train");
  int L = 0;
  /* the layer count is not stored; count the layers by their first tensor's name */
  for (int i = 0; i < w->num_params; i++)
    if (strstr(w->params[i].name, "attention.self.query.weight")) L++;
  *v = *w;
  v->memory = memory;
  v->layers = calloc(L ? (size_t)L : 1, sizeof *v->layers);
  if (!v->layers) return bertd_set_error(errstr, errstr_size, "weights: out of memory for a view");
#define R(f) v->f = rebase(w, memory, w->f)
  R(word_emb); R(pos_emb); R(type_emb); R(emb_ln_g); R(emb_ln_b);
  R(pooler_w); R(pooler_b); R(cls_w); R(cls_b); R(qa_w); R(qa_b);
  R(mlm_dense_w); R(mlm_dense_b); R(mlm_ln_g); R(mlm_ln_b); R(mlm_decoder_w); R(mlm_bias);
  R(nsp_w); R(nsp_b); R(intent_w); R(intent_b); R(slot_w); R(slot_b);
#undef R
  for (int l = 0; l < L; l++) {
    const bertd_layer_weights *a = &w->layers[l];
    bertd_layer_weights *b = &v->layers[l];
#define R(f) b->f = rebase(w, memory, a->f)
    R(q_w); R(q_b); R(k_w); R(k_b); R(v_w); R(v_b); R(attn_out_w); R(attn_out_b);
    R(ln1_g); R(ln1_b); R(inter_w); R(inter_b); R(out_w); R(out_b); R(ln2_g); R(ln2_b);
#undef R
  }
  return 0;
}

void bertd_weights_view_free(bertd_weights *v) {
  if (!v) return;
  free(v->layers);
  memset(v, 0, sizeof *v);
}
