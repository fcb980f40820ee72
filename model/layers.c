/* layers.c: forward and backward passes of BERT's layers on packed tokens (see layers.h). */
#include "layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "gelu.h"
#include "bertd_rng.h"

void bertd_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int N, int C, int OC) {
  /* out (N,OC) = bias broadcast over rows, then += inp (N,C) @ weight^T (C,OC) in one sgemm
   * with beta 1: OpenBLAS then skips its own pass over out (beta 0 clears it first), and the
   * bias costs one write pass instead of a read-modify-write after the product. */
  if (bias) {
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OC, bias, sizeof(float) * (size_t)OC);
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, weight, C,
              bias ? 1.0f : 0.0f, out, OC);
}

void bertd_linear_forward_residual(float *x, const float *inp, const float *weight, const float *bias,
                             int N, int C, int OC) {
  /* x (N,OC) += bias, then += inp (N,C) @ weight^T in the sgemm itself (beta 1): the residual
   * add needs no buffer and no pass of its own */
  if (bias) {
    for (int n = 0; n < N; n++) {
      float *r = x + (size_t)n * OC;
      for (int j = 0; j < OC; j++) r[j] += bias[j];
    }
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, weight, C, 1.0f,
              x, OC);
}

void bertd_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int N, int C, int OC) {
  /* dinp (N,C) += dout (N,OC) @ weight (OC,C) */
  if (dinp)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, weight, C,
                1.0f, dinp, C);
  /* dweight (OC,C) += dout^T (OC,N) @ inp (N,C) */
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f,
              dweight, C);
  if (dbias) {
    for (int n = 0; n < N; n++) {
      const float *d = dout + (size_t)n * OC;
      for (int j = 0; j < OC; j++) dbias[j] += d[j];
    }
  }
}

void bertd_activation_forward(float *x, size_t n, bertd_activation act) {
  switch (act) {
  case BERTD_ACT_GELU:
    /* gelu(x) = x/2 (1 + erf(x/sqrt(2))), transformers' "gelu" (gelu.c) */
    gelu_forward(x, n);
    break;
  case BERTD_ACT_GELU_NEW: {
    /* tanh approximation, transformers' "gelu_new" / "gelu_pytorch_tanh" */
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    for (size_t i = 0; i < n; i++) {
      float v = x[i];
      x[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
    }
    break;
  }
  case BERTD_ACT_RELU:
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
    break;
  }
}

void bertd_activation_backward(float *dinp, const float *dout, const float *inp, size_t n,
                         bertd_activation act) {
  switch (act) {
  case BERTD_ACT_GELU:
    /* d/dx x Phi(x) = Phi(x) + x phi(x) (gelu.c) */
    gelu_backward(dinp, dout, inp, n);
    break;
  case BERTD_ACT_GELU_NEW: {
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    for (size_t i = 0; i < n; i++) {
      float x = inp[i];
      float t = tanhf(c * (x + 0.044715f * x * x * x));
      float du = c * (1.0f + 3.0f * 0.044715f * x * x);
      dinp[i] = dout[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
    }
    break;
  }
  case BERTD_ACT_RELU:
    /* torch: the gradient at exactly 0 is 0 */
    for (size_t i = 0; i < n; i++) dinp[i] = inp[i] > 0.0f ? dout[i] : 0.0f;
    break;
  }
}

void bertd_embeddings_forward(float *out, const int32_t *ids, const int32_t *type_ids,
                        const int *lens, int B, const float *word_emb, const float *pos_emb,
                        const float *type_emb, const float *ln_g, const float *ln_b, int H,
                        float eps) {
  size_t n = 0;
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < lens[b]; t++, n++) {
      const float *we = word_emb + (size_t)ids[n] * H;
      const float *pe = pos_emb + (size_t)t * H;
      const float *te = type_emb + (size_t)type_ids[n] * H;
      float *o = out + n * H;
      /* same summation order as transformers: (word + type) + position */
      for (int i = 0; i < H; i++) o[i] = (we[i] + te[i]) + pe[i];
    }
  }
  bertd_layernorm_forward(out, ln_g, ln_b, (int)n, H, eps);
}

void bertd_embeddings_sum(float *sum, const int32_t *ids, const int32_t *type_ids, const int *lens,
                    int B, const float *word_emb, const float *pos_emb, const float *type_emb,
                    int H) {
  size_t n = 0;
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < lens[b]; t++, n++) {
      const float *we = word_emb + (size_t)ids[n] * H;
      const float *pe = pos_emb + (size_t)t * H;
      const float *te = type_emb + (size_t)type_ids[n] * H;
      float *o = sum + n * H;
      for (int i = 0; i < H; i++) o[i] = (we[i] + te[i]) + pe[i];
    }
  }
}

void bertd_embeddings_backward(float *dword, float *dpos, float *dtype, const float *dsum,
                         const int32_t *ids, const int32_t *type_ids, const int *lens, int B,
                         int H, int padding_idx) {
  size_t n = 0;
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < lens[b]; t++, n++) {
      const float *d = dsum + n * H;
      float *dp = dpos + (size_t)t * H;
      float *dt = dtype + (size_t)type_ids[n] * H;
      for (int i = 0; i < H; i++) {
        dp[i] += d[i];
        dt[i] += d[i];
      }
      if (ids[n] == padding_idx) continue;
      float *dw = dword + (size_t)ids[n] * H;
      for (int i = 0; i < H; i++) dw[i] += d[i];
    }
  }
}

void bertd_attention_forward(float *ctx, const float *q, const float *k, const float *v,
                       float *scores, const int *lens, int B, int H, int NH) {
  const int D = H / NH;
  const float scale = 1.0f / sqrtf((float)D);
  size_t start = 0;
  for (int b = 0; b < B; b++) {
    const int T = lens[b];
    for (int h = 0; h < NH; h++) {
      /* head h of sequence b: rows start..start+T, columns h*D..h*D+D, row stride H */
      const float *qh = q + start * H + (size_t)h * D;
      const float *kh = k + start * H + (size_t)h * D;
      const float *vh = v + start * H + (size_t)h * D;
      float *ch = ctx + start * H + (size_t)h * D;
      float *s = scores + (size_t)h * T * T;
      /* s (T,T) = qh (T,D) @ kh^T (D,T) * scale */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, scale, qh, H, kh, H, 0.0f, s,
                  T);
      softmax_rows(s, T, T);
      /* ch (T,D) = s (T,T) @ vh (T,D) */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, 1.0f, s, T, vh, H, 0.0f, ch,
                  H);
    }
    start += (size_t)T;
  }
}

size_t bertd_attention_probs_size(const int *lens, int B, int NH) {
  size_t s = 0;
  for (int b = 0; b < B; b++) s += (size_t)lens[b] * (size_t)lens[b];
  return s * (size_t)NH;
}

void bertd_attention_forward_train(float *ctx, float *att, const float *q, const float *k,
                             const float *v, float *scratch, const int *lens, int B, int H,
                             int NH, float p, uint64_t key, size_t att_first) {
  const int D = H / NH;
  const float scale = 1.0f / sqrtf((float)D);
  size_t start = 0, a_off = 0;
  for (int b = 0; b < B; b++) {
    const int T = lens[b];
    for (int h = 0; h < NH; h++) {
      const float *qh = q + start * H + (size_t)h * D;
      const float *kh = k + start * H + (size_t)h * D;
      const float *vh = v + start * H + (size_t)h * D;
      float *ch = ctx + start * H + (size_t)h * D;
      float *s = att + a_off;
      /* s (T,T) = softmax(qh (T,D) @ kh^T (D,T) * scale) */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, scale, qh, H, kh, H, 0.0f, s,
                  T);
      softmax_rows(s, T, T);
      /* dropped probabilities (T,T): index = position in att, so the backward finds the mask */
      const float *pd = s;
      if (p > 0.0f) {
        const uint32_t threshold = (uint32_t)((double)p * (1u << 24));
        const float inv = 1.0f / (1.0f - p);
        for (size_t i = 0; i < (size_t)T * T; i++)
          scratch[i] = bertd_dropout_bits(key, att_first + a_off + i) >= threshold ? s[i] * inv : 0.0f;
        pd = scratch;
      }
      /* ch (T,D) = pd (T,T) @ vh (T,D) */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, 1.0f, pd, T, vh, H, 0.0f,
                  ch, H);
      a_off += (size_t)T * T;
    }
    start += (size_t)T;
  }
}

void bertd_attention_backward(float *dq, float *dk, float *dv, const float *dctx, const float *att,
                        const float *q, const float *k, const float *v, float *scratch,
                        const int *lens, int B, int H, int NH, float p, uint64_t key,
                        size_t att_first) {
  const int D = H / NH;
  const float scale = 1.0f / sqrtf((float)D);
  const uint32_t threshold = (uint32_t)((double)p * (1u << 24));
  const float inv = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
  size_t start = 0, a_off = 0;
  for (int b = 0; b < B; b++) {
    const int T = lens[b];
    const size_t TT = (size_t)T * T;
    for (int h = 0; h < NH; h++) {
      const size_t col = start * H + (size_t)h * D;
      const float *P = att + a_off;
      float *pd = scratch, *dp = scratch + TT;
      /* pd (T,T): the dropped probabilities the forward multiplied v by */
      const float *pv = P;
      if (p > 0.0f) {
        for (size_t i = 0; i < TT; i++)
          pd[i] = bertd_dropout_bits(key, att_first + a_off + i) >= threshold ? P[i] * inv : 0.0f;
        pv = pd;
      }
      /* dv_h (T,D) = pd^T (T,T) @ dctx_h (T,D) */
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, 1.0f, pv, T, dctx + col, H,
                  0.0f, dv + col, H);
      /* dpd (T,T) = dctx_h (T,D) @ v_h^T (D,T); through dropout: dP = dpd * mask / (1-p) */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, 1.0f, dctx + col, H, v + col,
                  H, 0.0f, dp, T);
      if (p > 0.0f) {
        for (size_t i = 0; i < TT; i++)
          dp[i] = bertd_dropout_bits(key, att_first + a_off + i) >= threshold ? dp[i] * inv : 0.0f;
      }
      /* softmax backward per row: dS_ij = P_ij (dP_ij - sum_k P_ik dP_ik), then the scale */
      for (int i = 0; i < T; i++) {
        const float *pr = P + (size_t)i * T;
        float *dr = dp + (size_t)i * T;
        double dot = 0.0;
        for (int j = 0; j < T; j++) dot += (double)pr[j] * dr[j];
        const float dotf = (float)dot;
        for (int j = 0; j < T; j++) dr[j] = pr[j] * (dr[j] - dotf) * scale;
      }
      /* dq_h (T,D) = dS (T,T) @ k_h (T,D); dk_h (T,D) = dS^T (T,T) @ q_h (T,D) */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, 1.0f, dp, T, k + col, H,
                  0.0f, dq + col, H);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, 1.0f, dp, T, q + col, H, 0.0f,
                  dk + col, H);
      a_off += TT;
    }
    start += (size_t)T;
  }
}

void bertd_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t key, size_t first) {
  if (p <= 0.0f) {
    if (out != inp) memcpy(out, inp, n * sizeof(float));
    return;
  }
  const uint32_t threshold = (uint32_t)((double)p * (1u << 24));
  const float scale = 1.0f / (1.0f - p);
  for (size_t i = 0; i < n; i++)
    out[i] = bertd_dropout_bits(key, first + i) >= threshold ? inp[i] * scale : 0.0f;
}

void bertd_dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t key,
                      size_t first) {
  /* the same mask and scale: dropout is linear in its input */
  bertd_dropout_forward(dinp, dout, n, p, key, first);
}

void bertd_pooler_forward(float *out, const float *x, const int *lens, int B, const float *w,
                    const float *b, int C, float *scratch) {
  /* gather the first token ([CLS]) of each sequence into scratch (B,C) */
  size_t start = 0;
  for (int i = 0; i < B; i++) {
    memcpy(scratch + (size_t)i * C, x + start * C, sizeof(float) * (size_t)C);
    start += (size_t)lens[i];
  }
  bertd_linear_forward(out, scratch, w, b, B, C, C);
  for (size_t i = 0; i < (size_t)B * C; i++) out[i] = tanhf(out[i]);
}

void bertd_pooler_forward_train(float *pooled, float *cls, const float *x, const int *lens, int B,
                          const float *w, const float *b, int C) {
  size_t start = 0;
  for (int i = 0; i < B; i++) {
    memcpy(cls + (size_t)i * C, x + start * C, sizeof(float) * (size_t)C);
    start += (size_t)lens[i];
  }
  bertd_linear_forward(pooled, cls, w, b, B, C, C);
  for (size_t i = 0; i < (size_t)B * C; i++) pooled[i] = tanhf(pooled[i]);
}

void bertd_pooler_backward(float *dx, float *dw, float *db, const float *dpooled, const float *pooled,
                     const float *cls, const float *w, const int *lens, int B, int C,
                     float *scratch) {
  /* through tanh: dpre = dpooled * (1 - pooled^2); scratch (B,C) */
  float *dpre = scratch;
  for (size_t i = 0; i < (size_t)B * C; i++) dpre[i] = dpooled[i] * (1.0f - pooled[i] * pooled[i]);
  /* dcls_i (C) = dpre_i @ w goes straight into the first row of sequence i in dx */
  bertd_linear_backward(NULL, dw, db, dpre, cls, w, B, C, C);
  size_t start = 0;
  for (int i = 0; i < B; i++) {
    cblas_sgemv(CblasRowMajor, CblasTrans, C, C, 1.0f, w, C, dpre + (size_t)i * C, 1, 1.0f,
                dx + start * C, 1);
    start += (size_t)lens[i];
  }
}
