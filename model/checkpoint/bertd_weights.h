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

  /* Inference loads only (bertd_weights_load_ex), both 0 / NULL otherwise: */
  struct bertd_weights_rows *rows; /* word_emb filled in from the file row by row as token ids
                                      first appear (bertd_weights_rows_fetch) */
  int released;                     /* layers whose six dense matrices were given back
                                       (bertd_weights_release_dense): their pointers are NULL
                                       and memory holds no copy of them */
} bertd_weights;

/* Loads DIR/model.safetensors or the shards named by DIR/model.safetensors.index.json,
 * converting F16/BF16 to F32. Tensor names are accepted with or without the "bert." prefix.
 * Which heads are loaded follows cfg->arch; a missing required tensor or a shape that disagrees
 * with the config is an error naming the file and the tensor. */
int bertd_weights_load(const char *dir, const bertd_checkpoint_config *cfg, bertd_weights *w,
                       char *errstr, size_t errstr_size);

/* An inference load: what bertd_weights_load does, plus (each optional) */
typedef struct bertd_weights_load_opts {
  /* word_emb not read at load but row by row, the first time a batch holds a token id
   * (bertd_weights_rows_fetch, which the encoder calls), into memory that stays untouched
   * until then: the rows a stream never uses never become resident. Only for an F32 tensor and
   * a model whose MLM decoder is not tied to it (the decoder reads every row); else a plain
   * copy. The weights must then never be written, viewed or saved (training loads with
   * bertd_weights_load). */
  int lazy_word_embeddings;
  /* Called once layer l's tensors are all in place, layers in order, before any later tensor is
   * read: it may pack the layer and release its dense matrices (bertd_weights_release_dense),
   * so the fp32 copy of the whole encoder is never held. Non-zero fails the load (message in
   * errstr). */
  int (*layer_loaded)(void *arg, int layer, char *errstr, size_t errstr_size);
  void *arg;
  /* If set: FNV-1a 64 over every parameter's F32 bytes in table order, i.e. over w->memory as
   * bertd_weights_load fills it, computed while loading (before any release). */
  uint64_t *checksum;
} bertd_weights_load_opts;

/* bertd_weights_load with opts (NULL: bertd_weights_load). Every tensor's file pages are dropped
 * from the resident set once converted, so the peak is the weights, not the file plus them. */
int bertd_weights_load_ex(const char *dir, const bertd_checkpoint_config *cfg,
                          const bertd_weights_load_opts *opts, bertd_weights *w, char *errstr,
                          size_t errstr_size);

/* Makes sure the word-embedding rows of ids[0..n) are in w->word_emb (a lazy load; a no-op
 * otherwise): each row is read from the checkpoint file once, the first time it is asked for,
 * under a lock, so sessions on several threads may call this at once. Ids outside the
 * vocabulary are skipped (the caller's batch check names them). -1 with a message when the
 * file cannot be read. */
int bertd_weights_rows_fetch(const bertd_weights *w, const int32_t *ids, int n, char *errstr,
                             size_t errstr_size);

/* Gives layer l's q, k, v, attention-output, intermediate and output matrices back to the OS
 * (after they were packed for inference) and sets their pointers NULL; biases and LayerNorms
 * stay. bertd_weights_save and bertd_weights_view then refuse w. */
void bertd_weights_release_dense(bertd_weights *w, int l);

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
