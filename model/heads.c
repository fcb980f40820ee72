/* heads.c: task heads (see heads.h). */
#include "heads.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "layers.h"

static int need(const void *p, const char *what, char *errstr, size_t errstr_size) {
  if (p) return 0;
  snprintf(errstr, errstr_size, "model has no %s head (tensor missing from the checkpoint)", what);
  return -1;
}

int bertd_head_seq_cls(const bertd_checkpoint_config *cfg, const bertd_weights *w, const bertd_acts *a,
                       float *logits, char *errstr, size_t errstr_size) {
  if (need(w->cls_w, "classifier", errstr, errstr_size) ||
      need(w->pooler_w, "pooler (bert.pooler.dense)", errstr, errstr_size))
    return -1;
  bertd_linear_forward(logits, a->pooled, w->cls_w, w->cls_b, a->B, cfg->hidden_size, cfg->num_labels);
  return 0;
}

int bertd_head_token_cls(const bertd_checkpoint_config *cfg, const bertd_weights *w, const bertd_acts *a,
                         float *logits, char *errstr, size_t errstr_size) {
  if (need(w->cls_w, "classifier", errstr, errstr_size)) return -1;
  bertd_linear_forward(logits, a->x, w->cls_w, w->cls_b, a->N, cfg->hidden_size, cfg->num_labels);
  return 0;
}

int bertd_head_qa(const bertd_checkpoint_config *cfg, const bertd_weights *w, const bertd_acts *a,
                  float *start, float *end, char *errstr, size_t errstr_size) {
  if (need(w->qa_w, "question-answering (qa_outputs)", errstr, errstr_size)) return -1;
  const int H = cfg->hidden_size;
  /* qa_outputs row 0 gives start logits, row 1 end logits: two dot products per token */
  for (int n = 0; n < a->N; n++) {
    const float *h = a->x + (size_t)n * H;
    float s = w->qa_b[0], e = w->qa_b[1];
    for (int i = 0; i < H; i++) {
      s += h[i] * w->qa_w[i];
      e += h[i] * w->qa_w[H + i];
    }
    start[n] = s;
    end[n] = e;
  }
  return 0;
}

int bertd_head_mlm(const bertd_checkpoint_config *cfg, const bertd_weights *w, const bertd_acts *a,
                   const int *rows, int M, float *logits, float *scratch,
                   char *errstr, size_t errstr_size) {
  if (need(w->mlm_dense_w, "masked-LM (cls.predictions)", errstr, errstr_size)) return -1;
  const int H = cfg->hidden_size;
  for (int m = 0; m < M; m++) {
    if (rows[m] < 0 || rows[m] >= a->N) {
      snprintf(errstr, errstr_size, "mlm: row %d outside the batch's %d tokens", rows[m], a->N);
      return -1;
    }
  }
  /* gather (M,H), transform in place: dense -> activation -> LayerNorm, then decode (M,V) */
  float *g = scratch + (size_t)M * H;
  for (int m = 0; m < M; m++)
    memcpy(g + (size_t)m * H, a->x + (size_t)rows[m] * H, sizeof(float) * (size_t)H);
  bertd_linear_forward(scratch, g, w->mlm_dense_w, w->mlm_dense_b, M, H, H);
  bertd_activation_forward(scratch, (size_t)M * H, cfg->hidden_act);
  bertd_layernorm_forward(scratch, w->mlm_ln_g, w->mlm_ln_b, M, H, cfg->layer_norm_eps);
  bertd_linear_forward(logits, scratch, w->mlm_decoder_w, w->mlm_bias, M, H, cfg->vocab_size);
  return 0;
}

int bertd_head_nsp(const bertd_checkpoint_config *cfg, const bertd_weights *w, const bertd_acts *a,
                   float *logits, char *errstr, size_t errstr_size) {
  if (need(w->nsp_w, "next-sentence (cls.seq_relationship)", errstr, errstr_size) ||
      need(w->pooler_w, "pooler (bert.pooler.dense)", errstr, errstr_size))
    return -1;
  bertd_linear_forward(logits, a->pooled, w->nsp_w, w->nsp_b, a->B, cfg->hidden_size, 2);
  return 0;
}

int bertd_head_joint(const bertd_checkpoint_config *cfg, const bertd_weights *w, const bertd_acts *a,
                     float *intent_logits, float *slot_logits, char *errstr, size_t errstr_size) {
  if (need(w->intent_w, "intent (intent_classifier.linear)", errstr, errstr_size) ||
      need(w->slot_w, "slot (slot_classifier.linear)", errstr, errstr_size) ||
      need(w->pooler_w, "pooler (bert.pooler.dense)", errstr, errstr_size))
    return -1;
  bertd_linear_forward(intent_logits, a->pooled, w->intent_w, w->intent_b, a->B, cfg->hidden_size,
                 cfg->num_intents);
  bertd_linear_forward(slot_logits, a->x, w->slot_w, w->slot_b, a->N, cfg->hidden_size, cfg->num_slots);
  return 0;
}

void bertd_pool_sequence(const float *x, int T, int H, bertd_pooling_mode mode, int normalize,
                         float *o) {
  switch (mode) {
  case BERTD_POOL_CLS:
    memcpy(o, x, sizeof(float) * (size_t)H);
    break;
  case BERTD_POOL_MAX:
    memcpy(o, x, sizeof(float) * (size_t)H);
    for (int t = 1; t < T; t++)
      for (int i = 0; i < H; i++) o[i] = x[(size_t)t * H + i] > o[i] ? x[(size_t)t * H + i] : o[i];
    break;
  case BERTD_POOL_MEAN:
  case BERTD_POOL_NONE: /* a plain BertModel: mean pooling, the common choice */
    for (int i = 0; i < H; i++) {
      float s = 0.0f;
      for (int t = 0; t < T; t++) s += x[(size_t)t * H + i];
      o[i] = s / (float)T;
    }
    break;
  }
  if (normalize) {
    /* torch.nn.functional.normalize: x / max(||x||, 1e-12) */
    double ss = 0.0;
    for (int i = 0; i < H; i++) ss += (double)o[i] * o[i];
    float n = (float)sqrt(ss);
    if (n < 1e-12f) n = 1e-12f;
    for (int i = 0; i < H; i++) o[i] /= n;
  }
}
