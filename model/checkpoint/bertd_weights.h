/* bertd_weights.h: every parameter of a BERT checkpoint in one contiguous float buffer (llm.c style),
 * with a table naming each tensor as Hugging Face names it, and typed pointers into the buffer.
 * One buffer makes AdamW and gradient buffers trivial: grads share the same layout. */
#ifndef BERTD_WEIGHTS_H
#define BERTD_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "bertd_checkpoint.h"

/* One tensor. name is the canonical Hugging Face name as BertFor* models save it
 * ("bert.embeddings.word_embeddings.weight", "classifier.weight", "cls.predictions.bias",
 * "intent_classifier.linear.weight", ...). PyTorch Linear layout: weight (out,in). */
typedef struct bertd_param {
  char name[96];
  int ndim;          /* 1 or 2 */
  int shape[2];
  size_t offset;     /* in floats, into bertd_weights.memory */
  size_t numel;
  int no_decay;      /* biases and LayerNorm: no weight decay in AdamW */
} bertd_param;

typedef struct bertd_layer_weights {
  /* self-attention: q,k,v each (H,H) + (H) */
  float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b;
  float *attn_out_w, *attn_out_b;   /* (H,H), (H) */
  float *ln1_g, *ln1_b;             /* attention.output.LayerNorm (H) */
  float *inter_w, *inter_b;         /* intermediate.dense (I,H), (I) */
  float *out_w, *out_b;             /* output.dense (H,I), (H) */
  float *ln2_g, *ln2_b;             /* output.LayerNorm (H) */
} bertd_layer_weights;

typedef struct bertd_weights {
  float *memory;                    /* all parameters, contiguous */
  size_t num_floats;
  bertd_param *params;
  int num_params;

  float *word_emb;                  /* (V,H) */
  float *pos_emb;                   /* (P,H) */
  float *type_emb;                  /* (TV,H) */
  float *emb_ln_g, *emb_ln_b;       /* (H) */
  bertd_layer_weights *layers;      /* L entries */
  float *pooler_w, *pooler_b;       /* (H,H), (H); NULL if the checkpoint has no pooler */

  /* heads; each NULL when absent */
  float *cls_w, *cls_b;             /* classifier (NL,H), (NL): sequence or token classification */
  float *qa_w, *qa_b;               /* qa_outputs (2,H), (2) */
  float *mlm_dense_w, *mlm_dense_b; /* cls.predictions.transform.dense (H,H), (H) */
  float *mlm_ln_g, *mlm_ln_b;       /* cls.predictions.transform.LayerNorm (H) */
  float *mlm_decoder_w;             /* (V,H): tied, points at word_emb unless the file unties it */
  float *mlm_bias;                  /* cls.predictions.bias (V) */
  float *nsp_w, *nsp_b;             /* cls.seq_relationship (2,H), (2) */
  float *intent_w, *intent_b;       /* intent_classifier.linear (NI,H), (NI) */
  float *slot_w, *slot_b;           /* slot_classifier.linear (NS,H), (NS) */
} bertd_weights;

/* Loads DIR/model.safetensors or the shards named by DIR/model.safetensors.index.json,
 * converting F16/BF16 to F32. Tensor names are accepted with or without the "bert." prefix.
 * Which heads are loaded follows cfg->arch; a missing required tensor or a shape that disagrees
 * with the config is an error naming the file and the tensor. */
int bertd_weights_load(const char *dir, const bertd_checkpoint_config *cfg, bertd_weights *w,
                       char *errstr, size_t errstr_size);

/* Allocates the layout for cfg->arch with no file (for tests and for new heads in training);
 * values are zero. */
int bertd_weights_alloc(const bertd_checkpoint_config *cfg, bertd_weights *w, char *errstr, size_t errstr_size);

/* Finds a parameter by canonical name, NULL if absent. */
bertd_param *bertd_weights_find(bertd_weights *w, const char *name);

/* Writes all parameters as an F32 model.safetensors that transformers loads. */
int bertd_weights_save(const bertd_weights *w, const char *path, char *errstr, size_t errstr_size);

void bertd_weights_free(bertd_weights *w);

/* Fresh weights for cfg->arch, initialised as transformers' BertPreTrainedModel._init_weights:
 * Linear and Embedding weights ~ N(0, cfg->initializer_range), biases 0, the word-embedding row
 * of pad_token_id 0, LayerNorm weight 1 and bias 0. Seeded: same seed, same weights. */
int bertd_weights_init_random(const bertd_checkpoint_config *cfg, uint64_t seed, bertd_weights *w,
                              char *errstr, size_t errstr_size);

/* Weights for cfg->arch whose tensors come from the checkpoint in dir where it has them (by
 * canonical name; a pre-trained BertModel gives the encoder and pooler) and are initialised as
 * bertd_weights_init_random for the rest (a new classifier head; a pooler the checkpoint
 * lacks), the way from_pretrained builds a head. A tensor present with another shape is an
 * error. *num_new (may be NULL) receives the number of tensors initialised. */
int bertd_weights_init_from(const char *dir, const bertd_checkpoint_config *cfg, uint64_t seed,
                            bertd_weights *w, int *num_new, char *errstr, size_t errstr_size);

/* A view of w's layout over another buffer of w->num_floats floats (gradients, optimizer
 * moments): every typed pointer moves to the same offset in memory, so grads->q_w pairs with
 * w->q_w (a tied MLM decoder stays tied: its view is the word-embedding gradient). The view
 * borrows w's parameter table and does not own memory; release it with
 * bertd_weights_view_free, never bertd_weights_free. */
int bertd_weights_view(const bertd_weights *w, float *memory, bertd_weights *view,
                       char *errstr, size_t errstr_size);
void bertd_weights_view_free(bertd_weights *view);

#endif
