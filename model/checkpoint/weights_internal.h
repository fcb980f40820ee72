/* weights_internal.h: the layout step shared by bertd_weights_alloc and bertd_weights_load.
 * Internal to model/. */
#ifndef BERTD_WEIGHTS_INTERNAL_H
#define BERTD_WEIGHTS_INTERNAL_H

#include "bertd_weights.h"

/* Which optional tensors the layout has room for. */
typedef struct bertd_weights_layout_opts {
  int pooler;          /* bert.pooler.dense.* */
  int untied_decoder;  /* cls.predictions.decoder.weight as its own tensor, not word_emb */
} bertd_weights_layout_opts;

/* What transformers builds for an arch: a pooler except in BertFor{Token,QuestionAnswering,
 * MaskedLM} (add_pooling_layer=False); the MLM decoder tied to the word embeddings. */
bertd_weights_layout_opts bertd_weights_default_opts(bertd_arch arch);

/* Whether the arch reads the pooler (so a checkpoint without one cannot serve it). */
int bertd_weights_needs_pooler(bertd_arch arch);

/* Builds the parameter table for cfg->arch, allocates the zeroed buffer, sets the pointers. */
int bertd_weights_layout(const bertd_checkpoint_config *cfg, bertd_weights_layout_opts opts, bertd_weights *w,
                         char *errstr, size_t errstr_size);

#endif
