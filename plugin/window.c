/* window.c: gathering and combining the outputs of a long text's windows (see window.h). */
#include "window.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_enrich.h"

struct window_acc {
  const bertd_model *m;
  int task;
  window_combine combine;
  int n_windows, taken;
  int tokens, width, stride;  /* geometry of the windowed sequence (bertd_windows) */
  float *logits;              /* classify / intent: sum or max so far */
  int n_logits;
  float *rows;                /* tag / slots: tokens x NL */
  int NL;
  bertd_encoding meta;        /* the windowed tokens' word ids and offsets, as sequence 0 */
  int32_t *meta_block;
  double *pooled;             /* embed: weighted sum of poolings */
  double weight;
  bertd_answer best;
  int have_answer, best_k;
  char error[256];
};

window_acc *bertd_window_acc_new(const bertd_model *m, int task, window_combine combine,
                           const bertd_windows *w, char *errstr, size_t errstr_size) {
  const bertd_checkpoint_config *c = bertd_model_config(m);
  window_acc *a = calloc(1, sizeof *a);
  if (!a) goto oom;
  a->m = m;
  a->task = task;
  a->combine = combine;
  a->n_windows = w->n;
  a->tokens = w->tokens;
  a->width = w->width;
  a->stride = w->stride;
  if (task == BERTD_ENRICH_CLASSIFY || task == BERTD_ENRICH_JOINT) {
    a->n_logits = task == BERTD_ENRICH_JOINT ? c->num_intents : c->num_labels;
    if (!(a->logits = calloc((size_t)a->n_logits, sizeof(float)))) goto oom;
  }
  if (task == BERTD_ENRICH_TAG || task == BERTD_ENRICH_JOINT) {
    a->NL = task == BERTD_ENRICH_JOINT ? c->num_slots : c->num_labels;
    size_t n = (size_t)(a->tokens ? a->tokens : 1);
    a->rows = calloc(n * (size_t)a->NL, sizeof(float));
    a->meta_block = malloc(sizeof(int32_t) * 6 * n);
    if (!a->rows || !a->meta_block) goto oom;
    bertd_encoding *e = &a->meta;
    int32_t **arr[6] = {&e->seq_ids, &e->word_ids, &e->char_start, &e->char_end,
                        &e->byte_start, &e->byte_end};
    for (int i = 0; i < 6; i++) *arr[i] = a->meta_block + (size_t)i * n;
    e->n = a->tokens;
    /* the windowed sequence is the text here (tag and joint take no pair): token pos sits at
     * 1 + pos - start in the window holding it; any holding window has the same offsets */
    for (int pos = 0; pos < a->tokens; pos++) {
      int k = bertd_window_most_central(a->tokens, a->width, a->stride, pos), s, end;
      bertd_window_range(a->tokens, a->width, a->stride, k, &s, &end);
      const bertd_encoding *src = &w->w[k];
      int t = 1 + pos - s;
      e->seq_ids[pos] = 0;
      e->word_ids[pos] = src->word_ids[t];
      e->char_start[pos] = src->char_start[t];
      e->char_end[pos] = src->char_end[t];
      e->byte_start[pos] = src->byte_start[t];
      e->byte_end[pos] = src->byte_end[t];
    }
  }
  if (task == BERTD_ENRICH_EMBED &&
      !(a->pooled = calloc((size_t)c->hidden_size, sizeof(double))))
    goto oom;
  return a;
oom:
  bertd_window_acc_free(a);
  snprintf(errstr, errstr_size, "windows: out of memory");
  return NULL;
}

void bertd_window_acc_free(window_acc *a) {
  if (!a) return;
  free(a->logits);
  free(a->rows);
  free(a->meta_block);
  free(a->pooled);
  free(a);
}

int bertd_window_acc_windows(const window_acc *a) { return a->n_windows; }

void bertd_window_acc_fail(window_acc *a, const char *why) {
  if (!a->error[0]) snprintf(a->error, sizeof a->error, "%s", why);
}

const char *bertd_window_acc_error(const window_acc *a) { return a->error[0] ? a->error : NULL; }

static void take_logits(window_acc *a, const float *l) {
  for (int i = 0; i < a->n_logits; i++) {
    if (a->combine == WINDOW_COMBINE_MAX)
      a->logits[i] = a->taken == 0 || l[i] > a->logits[i] ? l[i] : a->logits[i];
    else
      a->logits[i] += l[i];
  }
}

/* Rows of the tokens for which window k is the most central one. */
static void take_rows(window_acc *a, const float *l, int k) {
  int s, e;
  bertd_window_range(a->tokens, a->width, a->stride, k, &s, &e);
  for (int pos = s; pos < e; pos++)
    if (bertd_window_most_central(a->tokens, a->width, a->stride, pos) == k)
      memcpy(a->rows + (size_t)pos * a->NL, l + (size_t)(1 + pos - s) * a->NL,
             sizeof(float) * (size_t)a->NL);
}

int bertd_window_acc_take(window_acc *a, const bertd_session *s, int b, const bertd_encoding *enc,
                    int k, int max_answer_tokens) {
  char why[256];
  int n;
  switch (a->task) {
  case BERTD_ENRICH_CLASSIFY:
  case BERTD_ENRICH_JOINT: {
    const float *l = bertd_session_logits(s, b, a->task == BERTD_ENRICH_JOINT ? "intent"
                                                                               : "classify", &n);
    const float *r = a->task == BERTD_ENRICH_JOINT ? bertd_session_logits(s, b, "slots", &n)
                                                   : NULL;
    if (!l || (a->task == BERTD_ENRICH_JOINT && !r)) {
      bertd_window_acc_fail(a, "windows: the model gave no logits for a window");
      break;
    }
    take_logits(a, l);
    if (r) take_rows(a, r, k);
    break;
  }
  case BERTD_ENRICH_TAG: {
    const float *r = bertd_session_logits(s, b, "tag", &n);
    if (!r) bertd_window_acc_fail(a, "windows: the model gave no tag logits for a window");
    else take_rows(a, r, k);
    break;
  }
  case BERTD_ENRICH_QA: {
    bertd_answer ans;
    if (bertd_result_answer(s, b, max_answer_tokens, &ans, why, sizeof why)) {
      bertd_window_acc_fail(a, why);
    } else if (!a->have_answer || ans.score > a->best.score ||
               (ans.score == a->best.score && k < a->best_k)) {
      /* windows are taken in any order (they run in different batches): on an equal score
       * the earlier window wins, whichever came back first */
      a->best = ans;
      a->best_k = k;
      a->have_answer = 1;
    }
    break;
  }
  case BERTD_ENRICH_EMBED: {
    const bertd_checkpoint_config *c = bertd_model_config(a->m);
    int T;
    const float *x = bertd_session_hidden(s, b, &T);
    float *v = malloc(sizeof(float) * (size_t)c->hidden_size);
    if (!x || !v) {
      free(v);
      bertd_window_acc_fail(a, "windows: out of memory");
      break;
    }
    bertd_pool_sequence(x, T, c->hidden_size, c->pooling, 0, v);
    int wk = 0; /* this window's non-special tokens */
    for (int t = 0; t < enc->n; t++) wk += enc->seq_ids[t] >= 0;
    for (int i = 0; i < c->hidden_size; i++) a->pooled[i] += (double)wk * v[i];
    a->weight += wk;
    free(v);
    break;
  }
  default:
    bertd_window_acc_fail(a, "windows: task cannot be windowed");
  }
  a->taken++;
  if (a->taken < a->n_windows) return 0;
  if (a->combine == WINDOW_COMBINE_MEAN) /* the sum becomes the mean once every window is in */
    for (int i = 0; i < a->n_logits; i++) a->logits[i] /= (float)a->n_windows;
  return 1;
}

const float *bertd_window_acc_logits(const window_acc *a, int *n) {
  *n = a->n_logits;
  return a->logits;
}

const float *bertd_window_acc_rows(const window_acc *a, const bertd_encoding **meta) {
  *meta = &a->meta;
  return a->rows;
}

const bertd_answer *bertd_window_acc_answer(const window_acc *a) {
  return a->have_answer ? &a->best : NULL;
}

int bertd_window_acc_embedding(const window_acc *a, float *out, int H) {
  if (a->weight <= 0) return -1;
  double norm = 0;
  for (int i = 0; i < H; i++) {
    out[i] = (float)(a->pooled[i] / a->weight);
    norm += (double)out[i] * out[i];
  }
  if (bertd_model_config(a->m)->normalize) {
    /* sentence-transformers' Normalize: F.normalize, eps 1e-12 */
    double d = sqrt(norm) > 1e-12 ? sqrt(norm) : 1e-12;
    for (int i = 0; i < H; i++) out[i] = (float)(out[i] / d);
  }
  return 0;
}
