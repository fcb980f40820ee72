/* layers.h: the encoder's building blocks as plain functions, forward and backward side by
 * side (llm.c style). Tokens are packed: N = sum of the sequence lengths in a batch, so no work is
 * spent on padding; attention alone needs to know where each sequence starts. Weights use
 * PyTorch's Linear layout (out, in). */
#ifndef BERTD_LAYERS_H
#define BERTD_LAYERS_H

#include <stddef.h>
#include <stdint.h>
#include "bertd_checkpoint.h"

/* Training: the *_forward_train variants keep what the backward needs. Backward functions
 * ACCUMULATE (+=) into parameter gradients and, unless said otherwise, into input gradients,
 * as llm.c does: the caller zeroes a buffer once and several paths add to it. Every matmul is
 * one OpenBLAS sgemm. */

/* out (N,OC) = inp (N,C) @ weight(OC,C)^T + bias(OC); bias may be NULL. */
void bertd_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int N, int C, int OC);

/* x (N,OC) += inp (N,C) @ weight(OC,C)^T + bias(OC): a dense layer and its residual add in one
 * sgemm. bias may be NULL; inp must not overlap x. */
void bertd_linear_forward_residual(float *x, const float *inp, const float *weight, const float *bias,
                             int N, int C, int OC);

/* dinp (N,C) += dout (N,OC) @ weight (OC,C); dweight (OC,C) += dout^T @ inp (N,C);
 * dbias (OC) += column sums of dout. dinp or dbias may be NULL. */
void bertd_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int N, int C, int OC);

/* In place over x (N,C): LayerNorm with biased variance, as torch.nn.LayerNorm. */
void bertd_layernorm_forward(float *x, const float *gamma, const float *beta, int N, int C, float eps);

/* out (N,C) = LayerNorm(inp (N,C)) with gamma, beta (C); keeps mean, rstd (N) for the backward
 * (NULL: not kept).
 * Same arithmetic as bertd_layernorm_forward. out may equal inp. */
void layernorm_forward_train(float *out, float *mean, float *rstd, const float *inp,
                             const float *gamma, const float *beta, int N, int C, float eps);
/* dinp (N,C) +=, dgamma, dbeta (C) += from dout (N,C); inp, mean, rstd as in the forward. */
void layernorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *gamma, const float *mean,
                        const float *rstd, int N, int C);

/* In place over x (n): GELU (erf), GELU (tanh) or ReLU, per config's hidden_act. */
void bertd_activation_forward(float *x, size_t n, bertd_activation act);

/* dinp (n) = dout (n) * act'(inp (n)), inp being the activation's input. Writes (=);
 * dinp may equal dout. */
void bertd_activation_backward(float *dinp, const float *dout, const float *inp, size_t n,
                         bertd_activation act);

/* out (N,H) = LayerNorm(word_emb[ids] + pos_emb[position] + type_emb[type_ids]); positions
 * restart at 0 for each of the B sequences of lengths lens. */
void bertd_embeddings_forward(float *out, const int32_t *ids, const int32_t *type_ids,
                        const int *lens, int B, const float *word_emb, const float *pos_emb,
                        const float *type_emb, const float *ln_g, const float *ln_b, int H,
                        float eps);

/* sum (N,H) = word_emb[ids] + type_emb[type_ids] + pos_emb[position]: the LayerNorm input. */
void bertd_embeddings_sum(float *sum, const int32_t *ids, const int32_t *type_ids, const int *lens,
                    int B, const float *word_emb, const float *pos_emb, const float *type_emb,
                    int H);
/* Scatter-add of dsum (N,H) into dword (V,H), dpos (P,H), dtype (TV,H). Rows of token id
 * padding_idx get nothing (nn.Embedding(padding_idx=pad_token_id) never updates that row);
 * padding_idx < 0: none skipped. */
void bertd_embeddings_backward(float *dword, float *dpos, float *dtype, const float *dsum,
                         const int32_t *ids, const int32_t *type_ids, const int *lens, int B,
                         int H, int padding_idx);

/* In place softmax over rows of x (N,C) (softmax.c). */
void softmax_rows(float *x, int N, int C);

/* Multi-head self-attention core for B packed sequences:
 * qkv holds q, k, v each (N,H) (heads interleaved along H as PyTorch's view(N,NH,D)),
 * ctx (N,H) = softmax(q k^T / sqrt(D)) v per sequence and head; each token attends only to
 * tokens of its own sequence, which equals transformers' additive padding mask.
 * scores is scratch of at least NH*Tmax*Tmax floats. */
void bertd_attention_forward(float *ctx, const float *q, const float *k, const float *v,
                       float *scores, const int *lens, int B, int H, int NH);

/* One (sequence, head) of inference attention: c (T,D) row stride ldc; q, k, v (T,D) row
 * stride ld; kt: D * Tp floats, s: the rest of bertd_attention_rows_scratch (Tp: T rounded up
 * to 16). */
typedef void bertd_attention_head_fn(float *restrict c, int ldc, const float *restrict q,
                                     const float *restrict k, const float *restrict v, int ld,
                                     int T, int D, float scale, float *restrict kt,
                                     float *restrict s);

/* Which products attention runs in bf16: none (fp32 models, or a CPU without AVX512-BF16),
 * every sequence's (bf16 models), or those of sequences over 16 tokens (int8 models). */
typedef enum {
  BERTD_ATTN_FP32 = 0,
  BERTD_ATTN_BF16,
  BERTD_ATTN_BF16_LONG,
} bertd_attention_precision;

/* The head a model runs, chosen once at load (attention_rows.c): the register tiles of its
 * fp32 kernel kern (gemm.h: avx512 with D a multiple of 16, avx2 with D a multiple of 8), or,
 * for bf16 attention on avx512 with D a multiple of 32, the bf16 tiles; NULL: one query row at
 * a time, portable C. */
struct bertd_gemm_kernel;
bertd_attention_head_fn *bertd_attention_head_select(const struct bertd_gemm_kernel *kern,
                                                     bertd_attention_precision p, int D);
/* "avx512", "avx512-bf16", "avx512-bf16 over 16 tokens", "avx2" or "rows": what
 * bertd_attention_head_select chose. */
const char *bertd_attention_head_name(bertd_attention_head_fn *head);

/* Inference attention without BLAS (attention_rows.c): qkv (N,3H) holds each token's q, k, v
 * side by side (the fused projection's output), ctx (N,H) as in bertd_attention_forward. The
 * B x NH (sequence, head) pairs are cut into `parts` contiguous runs and this call does run
 * `part`, so threads can share one batch. head: bertd_attention_head_select's choice (NULL:
 * one query row at a time). scratch: bertd_attention_rows_scratch(D, Tmax) floats, D = H / NH. */
void bertd_attention_rows(float *ctx, const float *qkv, const int *lens, int B, int H, int NH,
                          bertd_attention_head_fn *head, float *scratch, int part, int parts);
/* Floats of scratch one part of bertd_attention_rows needs, for any head: k transposed (D, Tp)
 * and a block of scores (6, Tp), and the bf16 heads' words (D/2 + D/2 + D/2 + 3 rows of Tp,
 * and 6 x D/2), Tp = Tmax rounded up to 16. */
size_t bertd_attention_rows_scratch(int D, int Tmax);
/* The heads: AVX-512F (attention_avx512.c, D a multiple of 16) or AVX2+FMA (attention_avx2.c,
 * D a multiple of 8) fp32 register tiles; AVX512-BF16 (attention_avx512.c, D a multiple of 32)
 * bf16 tiles with fp32 sums, softmax in fp32. */
void bertd_attention_head_avx512_bf16(float *restrict c, int ldc, const float *restrict q,
                                      const float *restrict k, const float *restrict v, int ld,
                                      int T, int D, float scale, float *restrict kt,
                                      float *restrict s);
/* The same for sequences over 16 tokens, the fp32 AVX-512 tiles for shorter ones. */
void bertd_attention_head_avx512_bf16_long(float *restrict c, int ldc, const float *restrict q,
                                           const float *restrict k, const float *restrict v,
                                           int ld, int T, int D, float scale,
                                           float *restrict kt, float *restrict s);
void bertd_attention_head_avx512(float *restrict c, int ldc, const float *restrict q,
                                 const float *restrict k, const float *restrict v, int ld, int T,
                                 int D, float scale, float *restrict kt, float *restrict s);
void bertd_attention_head_avx2(float *restrict c, int ldc, const float *restrict q,
                               const float *restrict k, const float *restrict v, int ld, int T,
                               int D, float scale, float *restrict kt, float *restrict s);

/* Floats of the attention-probability buffer for this batch: NH * sum_b lens[b]^2. */
size_t bertd_attention_probs_size(const int *lens, int B, int NH);
/* As bertd_attention_forward, keeping the softmax probabilities before dropout in att (packed:
 * sequence b, head h is a (T,T) block at NH*sum_{b'<b} T_b'^2 + h*T*T) and applying dropout p
 * to them with key (mask index = att_first + position in att; att_first > 0 when the batch is
 * a slice of a larger one). scratch: at least Tmax*Tmax floats. */
void bertd_attention_forward_train(float *ctx, float *att, const float *q, const float *k,
                             const float *v, float *scratch, const int *lens, int B, int H,
                             int NH, float p, uint64_t key, size_t att_first);
/* dq, dk, dv (N,H) = (written, not accumulated) gradients of q, k, v from dctx (N,H).
 * scratch: at least 2*Tmax*Tmax floats. */
void bertd_attention_backward(float *dq, float *dk, float *dv, const float *dctx, const float *att,
                        const float *q, const float *k, const float *v, float *scratch,
                        const int *lens, int B, int H, int NH, float p, uint64_t key,
                        size_t att_first);

/* out (n) = inp (n) * keep_i / (1 - p), keep_i = bertd_dropout_bits(key, first + i) >= p * 2^24
 * (inverted dropout, as torch). first: the index of inp[0] in the whole tensor's mask, so that
 * a slice of a batch gets the mask the whole batch would. out may equal inp; p == 0 copies. */
void bertd_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t key, size_t first);
/* dinp (n) = dout (n) * keep_i / (1 - p), the same mask. Writes (=); dinp may equal dout. */
void bertd_dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t key,
                      size_t first);

/* out (B,C) = tanh(x[first token of each sequence] (B,C) @ w^T + b): BERT's pooler. */
void bertd_pooler_forward(float *out, const float *x, const int *lens, int B, const float *w,
                    const float *b, int C, float *scratch);

/* The pooler keeping its input: cls (B,C) = x[first token of each sequence], pooled (B,C) =
 * tanh(cls @ w^T + b). */
void bertd_pooler_forward_train(float *pooled, float *cls, const float *x, const int *lens, int B,
                          const float *w, const float *b, int C);
/* dx (N,C) += at each sequence's first row; dw, db +=. scratch: B*C floats. */
void bertd_pooler_backward(float *dx, float *dw, float *db, const float *dpooled, const float *pooled,
                     const float *cls, const float *w, const int *lens, int B, int C,
                     float *scratch);

#endif
