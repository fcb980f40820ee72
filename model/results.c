/* results.c: head logits -> what users read: labels with scores, word tags, BIO spans with
 * character offsets, answer spans, embeddings, mask fills. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heads.h"
#include "layers.h"

static int check_b(const bertd_session *s, int b, char *errstr, size_t errstr_size) {
  if (b >= 0 && b < s->B) return 0;
  snprintf(errstr, errstr_size, "result: sequence %d not in the last batch (%d)", b, s->B);
  return -1;
}

/* Sorts (id, score) best first and keeps k; probabilities from softmax or sigmoid. */
static int top_labels(const float *logits, int n, int sigmoid, char **names, int k,
                      bertd_label_score *out, int out_cap) {
  float *p = malloc(sizeof(float) * (size_t)n);
  if (!p) return -1;
  memcpy(p, logits, sizeof(float) * (size_t)n);
  if (sigmoid) {
    for (int i = 0; i < n; i++) p[i] = 1.0f / (1.0f + expf(-p[i]));
  } else {
    softmax_rows(p, 1, n);
  }
  if (k <= 0 || k > n) k = n;
  if (k > out_cap) k = out_cap;
  for (int j = 0; j < k; j++) { /* selection: k is small */
    int best = -1;
    for (int i = 0; i < n; i++) {
      int taken = 0;
      for (int q = 0; q < j; q++) taken |= out[q].id == i;
      if (!taken && (best < 0 || p[i] > p[best])) best = i;
    }
    out[j].id = best;
    out[j].label = names ? names[best] : NULL;
    out[j].score = p[best];
  }
  free(p);
  return k;
}

int bertd_result_labels(const bertd_session *s, int b, int k, bertd_label_score *out,
                        int out_cap, char *errstr, size_t errstr_size) {
  if (check_b(s, b, errstr, errstr_size)) return -1;
  int n;
  const float *l = bertd_session_logits(s, b, "classify", &n);
  if (!l) {
    snprintf(errstr, errstr_size, "%s is not a sequence classifier", s->m->name);
    return -1;
  }
  int r = top_labels(l, n, s->m->cfg.problem_type == BERTD_PROBLEM_MULTI_LABEL,
                     s->m->cfg.id2label, k, out, out_cap);
  if (r < 0) snprintf(errstr, errstr_size, "result: out of memory");
  return r;
}

int bertd_labels_from_logits(const bertd_model *m, int intents, const float *logits, int k,
                             bertd_label_score *out, int out_cap, char *errstr,
                             size_t errstr_size) {
  const bertd_checkpoint_config *c = &m->cfg;
  int r = intents ? top_labels(logits, c->num_intents, 0, c->intent_labels, k, out, out_cap)
                  : top_labels(logits, c->num_labels, c->problem_type == BERTD_PROBLEM_MULTI_LABEL,
                               c->id2label, k, out, out_cap);
  if (r < 0) snprintf(errstr, errstr_size, "result: out of memory");
  return r;
}

int bertd_result_intents(const bertd_session *s, int b, int k, bertd_label_score *out,
                         int out_cap, char *errstr, size_t errstr_size) {
  if (check_b(s, b, errstr, errstr_size)) return -1;
  int n;
  const float *l = bertd_session_logits(s, b, "intent", &n);
  if (!l) {
    snprintf(errstr, errstr_size, "%s is not a joint intent+slot model", s->m->name);
    return -1;
  }
  int r = top_labels(l, n, 0, s->m->cfg.intent_labels, k, out, out_cap);
  if (r < 0) snprintf(errstr, errstr_size, "result: out of memory");
  return r;
}

int bertd_result_word_tags(const bertd_session *s, int b, int joint, bertd_tag_decoding mode,
                           bertd_word_tag *out, int out_cap, char *errstr, size_t errstr_size) {
  if (check_b(s, b, errstr, errstr_size)) return -1;
  int n;
  const float *l = bertd_session_logits(s, b, joint ? "slots" : "tag", &n);
  if (!l) {
    snprintf(errstr, errstr_size, "%s has no %s head", s->m->name,
             joint ? "slot" : "token classification");
    return -1;
  }
  return bertd_word_tags_from_logits(s->m, joint, s->encs[b], l, mode, out, out_cap, errstr,
                                     errstr_size);
}

int bertd_word_tags_from_logits(const bertd_model *m, int joint, const bertd_encoding *e,
                                const float *l, bertd_tag_decoding mode, bertd_word_tag *out,
                                int out_cap, char *errstr, size_t errstr_size) {
  const bertd_checkpoint_config *c = &m->cfg;
  const int NL = joint ? c->num_slots : c->num_labels;
  char **names = joint ? c->slot_labels : c->id2label;
  /* rows (words,NL): the logits of each word's first sub-token, which carries the word's label
   * as JointBERT trains it; later sub-tokens only widen the word's span */
  float *rows = calloc((size_t)(e->n > 0 ? e->n : 1) * (size_t)(NL > 0 ? NL : 1), sizeof(float));
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)(e->n > 0 ? e->n : 1));
  float *probs = malloc(sizeof(float) * (size_t)(e->n > 0 ? e->n : 1));
  if (!rows || !ids || !probs) {
    free(rows);
    free(ids);
    free(probs);
    snprintf(errstr, errstr_size, "result: out of memory");
    return -1;
  }
  int words = 0;
  for (int t = 0; t < e->n; t++) {
    if (e->seq_ids[t] != 0 || e->word_ids[t] < 0) continue;
    if (t > 0 && e->seq_ids[t - 1] == 0 && e->word_ids[t - 1] == e->word_ids[t]) {
      if (words > 0 && words <= out_cap) {
        out[words - 1].char_end = e->char_end[t];
        out[words - 1].byte_end = e->byte_end[t];
      }
      continue;
    }
    memcpy(rows + (size_t)words * NL, l + (size_t)t * NL, sizeof(float) * (size_t)NL);
    if (words < out_cap)
      out[words] = (bertd_word_tag){"O", e->char_start[t], e->char_end[t], e->byte_start[t],
                                    e->byte_end[t], 0.0f};
    words++;
  }
  int rc = bertd_tag_decode(rows, words, NL, (const char *const *)names, mode, ids, probs,
                            errstr, errstr_size);
  for (int w = 0; rc == 0 && w < words && w < out_cap; w++) {
    out[w].tag = names ? names[ids[w]] : "O";
    out[w].score = probs[w];
  }
  free(rows);
  free(ids);
  free(probs);
  if (rc) return -1;
  return words < out_cap ? words : out_cap;
}

/* "B-x" -> 'B', "I-x" -> 'I', "O"/"PAD"/"UNK" -> 'O'; *type points past the prefix. */
static char bio_kind(const char *tag, const char **type) {
  *type = tag;
  if (!tag || !strcmp(tag, "O") || !strcmp(tag, "PAD") || !strcmp(tag, "UNK")) return 'O';
  if ((tag[0] == 'B' || tag[0] == 'I') && tag[1] == '-') {
    *type = tag + 2;
    return tag[0];
  }
  return 'I'; /* a bare type continues a span of that type */
}

int bertd_spans_from_tags(const bertd_word_tag *tags, int n, bertd_span *out, int out_cap) {
  int spans = 0, open = 0, count = 0;
  float sum = 0.0f;
  for (int i = 0; i <= n; i++) {
    const char *type = NULL;
    char kind = i < n ? bio_kind(tags[i].tag, &type) : 'O';
    /* conlleval: I-X continues an open X span; B-X, O or another type closes it */
    int continues = open && kind == 'I' && !strcmp(type, out[spans - 1].label);
    if (open && !continues) {
      out[spans - 1].score = sum / (float)count;
      open = 0;
    }
    if (i == n) break;
    if (continues) {
      out[spans - 1].char_end = tags[i].char_end;
      out[spans - 1].byte_end = tags[i].byte_end;
      sum += tags[i].score;
      count++;
    } else if (kind != 'O' && spans < out_cap) {
      out[spans++] = (bertd_span){type, tags[i].char_start, tags[i].char_end,
                                  tags[i].byte_start, tags[i].byte_end, 0.0f};
      open = 1;
      sum = tags[i].score;
      count = 1;
    }
  }
  return spans;
}

int bertd_result_answer(const bertd_session *s, int b, int max_answer_tokens, bertd_answer *out,
                        char *errstr, size_t errstr_size) {
  if (check_b(s, b, errstr, errstr_size)) return -1;
  int n;
  const float *st = bertd_session_logits(s, b, "start", &n);
  const float *en = bertd_session_logits(s, b, "end", &n);
  if (!st || !en) {
    snprintf(errstr, errstr_size, "%s is not a question-answering model", s->m->name);
    return -1;
  }
  const bertd_encoding *e = s->encs[b];
  if (max_answer_tokens < 1) max_answer_tokens = 15;
  /* softmax of start and end logits over the context's tokens (sequence 1) only */
  double smax = -INFINITY, emax = -INFINITY, ssum = 0, esum = 0;
  for (int t = 0; t < e->n; t++)
    if (e->seq_ids[t] == 1) {
      smax = st[t] > smax ? st[t] : smax;
      emax = en[t] > emax ? en[t] : emax;
    }
  if (smax == -INFINITY) {
    snprintf(errstr, errstr_size, "qa: no context (text_pair) tokens in sequence %d", b);
    return -1;
  }
  for (int t = 0; t < e->n; t++)
    if (e->seq_ids[t] == 1) {
      ssum += exp(st[t] - smax);
      esum += exp(en[t] - emax);
    }
  double best = -1.0;
  for (int i = 0; i < e->n; i++) {
    if (e->seq_ids[i] != 1) continue;
    double ps = exp(st[i] - smax) / ssum;
    for (int j = i; j < e->n && j < i + max_answer_tokens; j++) {
      if (e->seq_ids[j] != 1) break;
      double p = ps * exp(en[j] - emax) / esum;
      if (p > best) {
        best = p;
        *out = (bertd_answer){e->char_start[i], e->char_end[j], e->byte_start[i], e->byte_end[j],
                              i, j, (float)p};
      }
    }
  }
  return 0;
}

int bertd_result_embedding(const bertd_session *s, int b, float *out, char *errstr,
                           size_t errstr_size) {
  if (check_b(s, b, errstr, errstr_size)) return -1;
  int T;
  const float *x = bertd_session_hidden(s, b, &T);
  bertd_pool_sequence(x, T, s->m->cfg.hidden_size, s->m->cfg.pooling, s->m->cfg.normalize, out);
  return 0;
}

int bertd_result_fill_mask(const bertd_session *s, int b, int k, bertd_fill *out, int out_cap,
                           char *errstr, size_t errstr_size) {
  if (check_b(s, b, errstr, errstr_size)) return -1;
  if (!s->m->w.mlm_dense_w) {
    snprintf(errstr, errstr_size, "%s has no masked-LM head", s->m->name);
    return -1;
  }
  const int V = s->m->cfg.vocab_size, start = s->a.starts[b], len = s->a.lens[b];
  if (k < 1) k = 5;
  bertd_label_score *top = malloc(sizeof(*top) * (size_t)k);
  if (!top) {
    snprintf(errstr, errstr_size, "result: out of memory");
    return -1;
  }
  int n = 0;
  for (int m = 0; m < s->M; m++) {
    int r = s->mask_rows[m];
    if (r < start || r >= start + len) continue;
    int got = top_labels(s->mlm_logits + (size_t)m * V, V, 0, NULL, k, top, k);
    for (int j = 0; j < got && n < out_cap; j++, n++)
      out[n] = (bertd_fill){r - start, top[j].id, bertd_tokenizer_id_to_token(s->m->tok, top[j].id),
                            top[j].score};
  }
  free(top);
  return n;
}

int bertd_result_is_next(const bertd_session *s, int b, float *prob, char *errstr,
                         size_t errstr_size) {
  if (check_b(s, b, errstr, errstr_size)) return -1;
  int n;
  const float *l = bertd_session_logits(s, b, "nsp", &n);
  if (!l) {
    snprintf(errstr, errstr_size, "%s has no next-sentence head", s->m->name);
    return -1;
  }
  float p[2] = {l[0], l[1]};
  softmax_rows(p, 1, 2);
  *prob = p[0];
  return 0;
}

int bertd_utf8_char_index(const char *text, size_t byte_offset) {
  int n = 0;
  for (size_t i = 0; i < byte_offset && text[i]; i++) n += ((unsigned char)text[i] & 0xC0) != 0x80;
  return n;
}
