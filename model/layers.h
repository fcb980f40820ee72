/* layers.h: the encoder's building blocks as plain functions, forward (and later backward)
 * side by side. Tokens are packed: N = sum of the sequence lengths in a batch, so no work is
 * spent on padding; attention alone needs to know where each sequence starts. Weights use
 * PyTorch's Linear layout (out, in). */
#ifndef BERTD_LAYERS_H
#define BERTD_LAYERS_H

#include <stdint.h>
#include "config.h"

/* out (N,OC) = inp (N,C) @ weight(OC,C)^T + bias(OC); bias may be NULL. */
void linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int N, int C, int OC);

/* In place over x (N,C): LayerNorm with biased variance, as torch.nn.LayerNorm. */
void layernorm_forward(float *x, const float *gamma, const float *beta, int N, int C, float eps);

/* In place over x (n): GELU (erf), GELU (tanh) or ReLU, per config's hidden_act. */
void activation_forward(float *x, size_t n, bertd_activation act);

/* out (N,H) = LayerNorm(word_emb[ids] + pos_emb[position] + type_emb[type_ids]); positions
 * restart at 0 for each of the B sequences of lengths lens. */
void embeddings_forward(float *out, const int32_t *ids, const int32_t *type_ids,
                        const int *lens, int B, const float *word_emb, const float *pos_emb,
                        const float *type_emb, const float *ln_g, const float *ln_b, int H,
                        float eps);

/* Multi-head self-attention core for B packed sequences:
 * qkv holds q, k, v each (N,H) (heads interleaved along H as PyTorch's view(N,NH,D)),
 * ctx (N,H) = softmax(q k^T / sqrt(D)) v per sequence and head; each token attends only to
 * tokens of its own sequence, which equals transformers' additive padding mask.
 * scores is scratch of at least NH*Tmax*Tmax floats. */
void attention_forward(float *ctx, const float *q, const float *k, const float *v,
                       float *scores, const int *lens, int B, int H, int NH);

/* out (B,C) = tanh(x[first token of each sequence] (B,C) @ w^T + b): BERT's pooler. */
void pooler_forward(float *out, const float *x, const int *lens, int B, const float *w,
                    const float *b, int C, float *scratch);

/* In place softmax over rows of x (N,C). */
void softmax_rows(float *x, int N, int C);

#endif
