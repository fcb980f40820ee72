/* layers.c: forward passes of BERT's layers on packed tokens (see layers.h). */
#include "layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int N, int C, int OC) {
  /* inp (N,C) @ weight^T (C,OC): one sgemm; then the bias broadcast over rows. */
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, weight, C, 0.0f,
              out, OC);
  if (bias) {
    for (int n = 0; n < N; n++) {
      float *o = out + (size_t)n * OC;
      for (int j = 0; j < OC; j++) o[j] += bias[j];
    }
  }
}

void layernorm_forward(float *x, const float *gamma, const float *beta, int N, int C, float eps) {
  for (int n = 0; n < N; n++) {
    float *r = x + (size_t)n * C;
    /* Two passes in double: the mean is subtracted before squaring, as torch does, so rows
     * with a large mean keep their precision. */
    double mean = 0.0;
    for (int i = 0; i < C; i++) mean += r[i];
    mean /= C;
    double var = 0.0;
    for (int i = 0; i < C; i++) {
      double d = r[i] - mean;
      var += d * d;
    }
    var /= C;
    float rstd = (float)(1.0 / sqrt(var + eps));
    float m = (float)mean;
    for (int i = 0; i < C; i++) r[i] = (r[i] - m) * rstd * gamma[i] + beta[i];
  }
}

void activation_forward(float *x, size_t n, bertd_activation act) {
  switch (act) {
  case BERTD_ACT_GELU:
    /* gelu(x) = x/2 (1 + erf(x/sqrt(2))), transformers' "gelu" */
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
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

void embeddings_forward(float *out, const int32_t *ids, const int32_t *type_ids,
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
  layernorm_forward(out, ln_g, ln_b, (int)n, H, eps);
}

void softmax_rows(float *x, int N, int C) {
  for (int n = 0; n < N; n++) {
    float *r = x + (size_t)n * C;
    float mx = r[0];
    for (int i = 1; i < C; i++) mx = r[i] > mx ? r[i] : mx;
    float sum = 0.0f;
    for (int i = 0; i < C; i++) {
      r[i] = expf(r[i] - mx);
      sum += r[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < C; i++) r[i] *= inv;
  }
}

void attention_forward(float *ctx, const float *q, const float *k, const float *v,
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

void pooler_forward(float *out, const float *x, const int *lens, int B, const float *w,
                    const float *b, int C, float *scratch) {
  /* gather the first token ([CLS]) of each sequence into scratch (B,C) */
  size_t start = 0;
  for (int i = 0; i < B; i++) {
    memcpy(scratch + (size_t)i * C, x + start * C, sizeof(float) * (size_t)C);
    start += (size_t)lens[i];
  }
  linear_forward(out, scratch, w, b, B, C, C);
  for (size_t i = 0; i < (size_t)B * C; i++) out[i] = tanhf(out[i]);
}
