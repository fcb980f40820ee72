/* weights_internal.h: the layout step shared by bertd_weights_alloc and bertd_weights_load.
 * Internal to model/. */
#ifndef BERTD_WEIGHTS_INTERNAL_H
#define BERTD_WEIGHTS_INTERNAL_H

#include "bertd_weights.h"

/* Which optional tensors the layout has room for. */
typedef struct bertd_weights_layout_opts {
  int pooler;          /* bert.pooler.dense.* */
  int untied_decoder;  /* cls.predictions.decoder.weight as its own tensor, not word_emb */
  int table_only;      /* the parameter table alone: no buffer, every pointer NULL (writing a
                          generated checkpoint, bertd_weights_save_generated) */
} bertd_weights_layout_opts;

/* What transformers builds for an arch: a pooler except in BertFor{Token,QuestionAnswering,
 * MaskedLM} (add_pooling_layer=False); the MLM decoder tied to the word embeddings. */
bertd_weights_layout_opts bertd_weights_default_opts(bertd_arch arch);

/* Whether the arch reads the pooler (so a checkpoint without one cannot serve it). */
int bertd_weights_needs_pooler(bertd_arch arch);

/* Builds the parameter table for cfg->arch, allocates the zeroed buffer, sets the pointers. */
int bertd_weights_layout(const bertd_checkpoint_config *cfg, bertd_weights_layout_opts opts, bertd_weights *w,
                         char *errstr, size_t errstr_size);

/* A lazy load's word embeddings (weights_rows.c): the tensor of V rows of H F32 floats at byte
 * offset of the file at path (label: its base name, for errors). */
typedef struct bertd_weights_rows bertd_weights_rows;
int bertd_weights_rows_open(const char *path, const char *label, uint64_t offset, int V, int H,
                            bertd_weights_rows **out, char *errstr, size_t errstr_size);
/* The (V,H) table word_emb points at; rows not fetched yet read as zeros. */
float *bertd_weights_rows_table(const bertd_weights_rows *r);
void bertd_weights_rows_free(bertd_weights_rows *r);

/* Writes an F32 model.safetensors for w's table (w->memory not read) whose values come from
 * fill, called in table order for consecutive runs of at most a few MiB, so a checkpoint of any
 * size is written without holding it: the data is laid out in table order. Atomic as
 * bertd_weights_save. */
int bertd_weights_save_generated(const bertd_weights *w, const char *path,
                                 void (*fill)(void *arg, float *out, size_t n), void *arg,
                                 char *errstr, size_t errstr_size);

/* config.json (and for JointBERT the label files) of cfg into dir (created if need be), and the
 * tokenizer files of tokenizer_dir (NULL: none) copied beside it: bertd_checkpoint_save without
 * the weights (checkpoint_save.c). */
int bertd_checkpoint_save_config(const char *dir, const bertd_checkpoint_config *cfg,
                                 const char *tokenizer_dir, char *errstr, size_t errstr_size);

#endif
