/* encoder_train.h: the encoder for training. Unlike encoder.h, which reuses one set of buffers
 * across layers, the training forward keeps every layer's activations (llm.c's
 * ActivationTensors) so that the backward pass can run layer by layer in reverse, writing
 * gradients into a buffer laid out exactly like bertd_weights.memory.
 *
 * Dropout sits where transformers' BertModel applies it: on the embeddings' output
 * (hidden_dropout_prob), on the attention probabilities (attention_probs_dropout_prob), and
 * after the attention-output and FFN-output dense layers, before their residual add
 * (hidden_dropout_prob). Masks come from a counter-based generator (bertd_rng.h) keyed by
 * (seed, pass, site), so the backward regenerates them instead of storing them. */
#ifndef BERTD_ENCODER_TRAIN_H
#define BERTD_ENCODER_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include "bertd_checkpoint.h"
#include "bertd_weights.h"

/* Dropout probabilities and the key material of one forward pass. All 0: no dropout (eval). */
typedef struct bertd_dropout {
  float hidden;      /* hidden_dropout_prob */
  float attention;   /* attention_probs_dropout_prob */
  float classifier;  /* before classifier / intent / slot heads */
  uint64_t seed;     /* the run's seed */
  uint64_t pass;     /* forward-pass counter: a fresh mask every step */
  /* Where this batch starts in the batch whose masks it uses: 0 for a whole batch; for a
   * slice run on its own thread, the index of its first token, first sequence and first
   * attention probability (per layer) in the whole batch, so every slice draws exactly the
   * masks the whole batch would have. */
  uint64_t tok_first, seq_first, att_first;
} bertd_dropout;

/* Dropout sites (the third part of a mask's key). */
enum {
  BERTD_SITE_EMBEDDINGS = 0,
  BERTD_SITE_LAYER0 = 1,          /* + 3*l + {0 attention probs, 1 attention out, 2 FFN out} */
  BERTD_SITE_HEADS = 1u << 20     /* + head-specific number, see heads_train.c */
};

/* One layer's kept activations, all for the N tokens of the batch. The layer's input is
 * hs[l], its output hs[l+1] (bertd_train_acts). */
typedef struct bertd_layer_acts {
  float *q, *k, *v;        /* (N,H) */
  float *att;              /* attention probabilities before dropout, packed (bertd_attention_probs_size) */
  float *ctx;              /* (N,H) attention output, before its dense layer */
  float *res1;             /* (N,H) dropout(ctx @ Wo^T + bo) + hs[l]: LayerNorm 1 input */
  float *mean1, *rstd1;    /* (N) */
  float *ln1;              /* (N,H) LayerNorm 1 output */
  float *fch;              /* (N,I) ln1 @ Wi^T + bi, before the activation */
  float *fch_act;          /* (N,I) act(fch) */
  float *res2;             /* (N,H) dropout(fch_act @ Wout^T + bout) + ln1: LayerNorm 2 input */
  float *mean2, *rstd2;    /* (N) */
} bertd_layer_acts;

typedef struct bertd_train_acts {
  /* capacity: tokens N, attention floats per layer, batch B, longest sequence T */
  int cap_tokens, cap_batch, cap_len;
  size_t cap_att;
  float *mem;              /* one block for everything below */
  size_t mem_floats;
  int num_layers, H;
  /* forward */
  float *emb_sum;          /* (N,H) word + type + position: embeddings LayerNorm input */
  float *emb_mean, *emb_rstd; /* (N) */
  float *hs;               /* (L+1, cap_tokens, H): hs[0] = dropout(LN(emb_sum)), hs[l+1] = layer l output */
  bertd_layer_acts *layers;/* (L) */
  float *cls;              /* (B,H) hs[L] at each sequence's first token */
  float *pooled;           /* (B,H) tanh(cls @ Wp^T + bp); unused without a pooler */
  /* backward scratch */
  float *dh;               /* (N,H) gradient of the residual stream, in: d hs[L], out: d hs[0] */
  float *dpooled;          /* (B,H) gradient of pooled (heads add to it) */
  float *g_res, *g_ctx, *g_q, *g_k, *g_v; /* (N,H) each */
  float *g_fch;            /* (N,I) */
  float *g_att;            /* (2*T*T) attention backward scratch, also forward dropout scratch */
  float *g_cls;            /* (B,H) */
  /* the batch of the last forward (borrowed pointers, valid until the backward) */
  int B, N, T;
  int *lens;               /* (B) copy */
  const int32_t *ids, *type_ids;
  bertd_dropout drop;
} bertd_train_acts;

/* Grows the buffers for a batch of `tokens` tokens, `batch` sequences, the longest `max_len`,
 * attention probabilities of `att` floats per layer (bertd_attention_probs_size). Never shrinks. */
int bertd_train_acts_reserve(bertd_train_acts *a, const bertd_checkpoint_config *cfg, int tokens,
                             int max_len, int batch, size_t att, char *errstr,
                             size_t errstr_size);
void bertd_train_acts_free(bertd_train_acts *a);

/* hs[l] (N,H) of layer l's input (l = L: the last hidden state). */
float *bertd_train_acts_hidden(const bertd_train_acts *a, int l);

/* Embeddings, L layers and the pooler (when the weights have one), keeping activations.
 * ids, type_ids: (N) packed; lens: (B). Checks ids, type ids and lengths against the config.
 * ids and type_ids must stay alive until bertd_encoder_train_backward. Zeroes dh and dpooled
 * for the heads to accumulate into. */
int bertd_encoder_train_forward(const bertd_checkpoint_config *cfg, const bertd_weights *w,
                                bertd_train_acts *a, int B, const int *lens, const int32_t *ids,
                                const int32_t *type_ids, const bertd_dropout *drop,
                                char *errstr, size_t errstr_size);

/* From a->dh (d loss / d hs[L], (N,H)) and a->dpooled (B,H), accumulates every encoder
 * parameter's gradient into grads (a bertd_weights_view of the gradient buffer).
 * padding_idx: the word-embedding row that receives no gradient (cfg->pad_token_id). */
void bertd_encoder_train_backward(const bertd_checkpoint_config *cfg, const bertd_weights *w,
                                  bertd_weights *grads, bertd_train_acts *a);

#endif
