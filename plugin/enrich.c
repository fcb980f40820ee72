/* enrich.c: tokenize, run the model, and turn head outputs into JSON results (see bertd_enrich.h). */
#include "bertd_enrich.h"
#include "window.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bertd_enricher {
  const bertd_model *m;
  bertd_session *s;
  bertd_enrich_opts o;
  bertd_encoding *encs;   /* scratch for bertd_enricher_run */
  int cap;
  bertd_windows *wins;    /* the same with on_too_long: window */
  int wcap;
};

static const char *const TASK_NAMES[] = {"tokenize", "classify", "tag", "joint",
                                         "qa", "embed", "fill-mask", "nsp"};

int bertd_enrich_task_parse(const char *name, bertd_enrich_task *out) {
  for (int i = 0; i < (int)(sizeof TASK_NAMES / sizeof *TASK_NAMES); i++)
    if (!strcmp(name, TASK_NAMES[i])) {
      *out = (bertd_enrich_task)i;
      return 0;
    }
  return -1;
}

const char *bertd_enrich_task_name(bertd_enrich_task t) {
  return (unsigned)t < sizeof TASK_NAMES / sizeof *TASK_NAMES ? TASK_NAMES[t] : "?";
}

int bertd_enricher_create(const bertd_model *m, const bertd_enrich_opts *opts,
                          bertd_enricher **out, char *errstr, size_t errstr_size) {
  static const unsigned need[] = {0, BERTD_TASK_CLASSIFY, BERTD_TASK_TAG, BERTD_TASK_JOINT,
                                  BERTD_TASK_QA, BERTD_TASK_EMBED, BERTD_TASK_FILL_MASK,
                                  BERTD_TASK_NSP};
  *out = NULL;
  if ((unsigned)opts->task >= sizeof need / sizeof *need) {
    snprintf(errstr, errstr_size, "unknown task %d", (int)opts->task);
    return -1;
  }
  if (need[opts->task] && !(bertd_model_tasks(m) & need[opts->task])) {
    snprintf(errstr, errstr_size, "model %s cannot do task '%s' (its heads do not include it)",
             bertd_model_name(m), bertd_enrich_task_name(opts->task));
    return -1;
  }
  if (opts->window && opts->task != BERTD_ENRICH_CLASSIFY && opts->task != BERTD_ENRICH_TAG &&
      opts->task != BERTD_ENRICH_JOINT && opts->task != BERTD_ENRICH_QA &&
      opts->task != BERTD_ENRICH_EMBED) {
    snprintf(errstr, errstr_size, "on_too_long: window works for classify, tag, joint, qa and "
             "embed, not '%s'", bertd_enrich_task_name(opts->task));
    return -1;
  }
  if (opts->has_threshold &&
      (opts->task != BERTD_ENRICH_CLASSIFY && opts->task != BERTD_ENRICH_JOINT)) {
    snprintf(errstr, errstr_size, "threshold applies to the classify and joint tasks, not '%s'",
             bertd_enrich_task_name(opts->task));
    return -1;
  }
  if (opts->has_threshold && !(opts->threshold >= 0.0f && opts->threshold <= 1.0f)) {
    snprintf(errstr, errstr_size, "threshold %g is not in [0, 1]", (double)opts->threshold);
    return -1;
  }
  bertd_enricher *e = calloc(1, sizeof(*e));
  if (!e) {
    snprintf(errstr, errstr_size, "enricher: out of memory");
    return -1;
  }
  e->m = m;
  e->o = *opts;
  int model_max = bertd_model_max_length(m);
  if (e->o.max_length <= 0 || e->o.max_length > model_max) e->o.max_length = model_max;
  if (e->o.max_answer_tokens <= 0) e->o.max_answer_tokens = 15;
  if (bertd_session_create(m, &e->s, errstr, errstr_size)) {
    free(e);
    return -1;
  }
  if (e->o.threads > 0) bertd_session_set_threads(e->s, e->o.threads);
  *out = e;
  return 0;
}

void bertd_enricher_free(bertd_enricher *e) {
  if (!e) return;
  for (int i = 0; i < e->cap; i++) bertd_encoding_free(&e->encs[i]);
  free(e->encs);
  for (int i = 0; i < e->wcap; i++) bertd_windows_free(&e->wins[i]);
  free(e->wins);
  bertd_session_free(e->s);
  free(e);
}

int bertd_enricher_warm_up(bertd_enricher *e, int max_records, int max_tokens, char *errstr,
                           size_t errstr_size) {
  if (e->o.task == BERTD_ENRICH_TOKENIZE) return 0; /* no model run, nothing to allocate */
  char why[400];
  if (bertd_session_warm_up(e->s, max_records, max_tokens, e->o.max_length, why, sizeof why)) {
    snprintf(errstr, errstr_size, "model %s: %s", bertd_model_name(e->m), why);
    return -1;
  }
  return 0;
}

int bertd_enricher_encode(const bertd_enricher *e, const char *text, size_t len,
                          const char *pair, size_t pair_len, bertd_encoding *enc,
                          char *errstr, size_t errstr_size) {
  if (bertd_tokenizer_encode(bertd_model_tokenizer(e->m), text, len, pair, pair_len,
                             e->o.max_length, e->o.truncation, enc, errstr, errstr_size))
    return -1;
  if (e->o.too_long_is_error && enc->num_truncated > 0) {
    snprintf(errstr, errstr_size, "text has %d tokens, over max_length %d",
             enc->n + enc->num_truncated, e->o.max_length);
    return -1;
  }
  return 0;
}

static json_t *score_list(const bertd_label_score *ls, int n, const char *key) {
  json_t *a = json_array();
  for (int i = 0; i < n; i++)
    json_array_append_new(a, json_pack("{s:s?, s:f}", key, ls[i].label, "score", (double)ls[i].score));
  return a;
}

/* Spans as {key, text, start, end, score}: start/end are code point offsets into text. */
static json_t *span_list(const bertd_span *sp, int n, const char *text, const char *key) {
  json_t *a = json_array();
  for (int i = 0; i < n; i++)
    json_array_append_new(a, json_pack("{s:s, s:s%, s:i, s:i, s:f}", key, sp[i].label, "text",
                                       text + sp[i].byte_start,
                                       (size_t)(sp[i].byte_end - sp[i].byte_start), "start",
                                       sp[i].char_start, "end", sp[i].char_end, "score",
                                       (double)sp[i].score));
  return a;
}

static json_t *tokens_json(const bertd_enricher *e, const bertd_encoding *enc) {
  const bertd_tokenizer *tok = bertd_model_tokenizer(e->m);
  json_t *ids = json_array(), *toks = json_array(), *types = json_array(), *offs = json_array();
  for (int t = 0; t < enc->n; t++) {
    json_array_append_new(ids, json_integer(enc->ids[t]));
    const char *s = bertd_tokenizer_id_to_token(tok, enc->ids[t]);
    json_array_append_new(toks, json_string(s ? s : ""));
    json_array_append_new(types, json_integer(enc->type_ids[t]));
    json_array_append_new(offs, json_pack("[i,i]", enc->char_start[t], enc->char_end[t]));
  }
  return json_pack("{s:o, s:o, s:o, s:o}", "ids", ids, "tokens", toks, "type_ids", types,
                   "offsets", offs);
}

static int classify_k(const bertd_enricher *e) {
  int multi = bertd_model_config(e->m)->problem_type == BERTD_PROBLEM_MULTI_LABEL;
  return e->o.top_k > 0 ? e->o.top_k : (multi ? 0 : 1);
}

/* How many of ls (best first) score at least t. */
static int above_threshold(const bertd_label_score *ls, int n, float t) {
  int kept = 0;
  while (kept < n && ls[kept].score >= t) kept++;
  return kept;
}

/* {"labels": [...]}: with a threshold, the labels scoring at least it, best first; without one,
 * multi-label keeps the usual sigmoid decision (score >= 0.5) and single-label top_k labels. */
static json_t *labels_json(const bertd_enricher *e, const bertd_label_score *ls, int n) {
  int multi = bertd_model_config(e->m)->problem_type == BERTD_PROBLEM_MULTI_LABEL;
  if (e->o.has_threshold || multi)
    n = above_threshold(ls, n, e->o.has_threshold ? e->o.threshold : 0.5f);
  return json_pack("{s:o}", "labels", score_list(ls, n, "label"));
}

/* Tags and spans from per-token logits l (enc->n rows); with intents (joint), the joint
 * result. */
static json_t *tags_json(const bertd_enricher *e, const bertd_encoding *enc, const float *l,
                         const bertd_label_score *ls, int ni, const char *text, char *errstr,
                         size_t errstr_size) {
  int joint = e->o.task == BERTD_ENRICH_JOINT;
  int cap = enc->n + 1;
  bertd_word_tag *tags = malloc(sizeof(*tags) * (size_t)cap);
  bertd_span *spans = malloc(sizeof(*spans) * (size_t)cap);
  if (!tags || !spans) {
    free(tags);
    free(spans);
    snprintf(errstr, errstr_size, "enrich: out of memory");
    return NULL;
  }
  int nt = bertd_word_tags_from_logits(e->m, joint, enc, l, e->o.tag_decoding, tags, cap, errstr,
                                       errstr_size);
  json_t *r = NULL;
  if (nt >= 0) {
    int ns = bertd_spans_from_tags(tags, nt, spans, cap);
    json_t *tl = json_array();
    for (int i = 0; i < nt; i++) json_array_append_new(tl, json_string(tags[i].tag));
    if (joint) {
      /* with a threshold, an utterance whose best intent scores below it has none */
      if (e->o.has_threshold) ni = above_threshold(ls, ni, e->o.threshold);
      json_t *intent = ni ? json_pack("{s:s,s:f}", "label", ls[0].label, "score",
                                      (double)ls[0].score)
                          : json_null();
      r = json_pack("{s:o, s:o, s:o, s:o}", "intent", intent, "intents",
                    score_list(ls, ni, "label"), "slots", span_list(spans, ns, text, "slot"),
                    "tags", tl);
    } else
      r = json_pack("{s:o, s:o}", "spans", span_list(spans, ns, text, "label"), "tags", tl);
  }
  free(tags);
  free(spans);
  return r;
}

static json_t *answer_json(const bertd_answer *a, const char *pair) {
  return json_pack("{s:{s:s%, s:i, s:i, s:f}}", "answer", "text", pair + a->byte_start,
                   (size_t)(a->byte_end - a->byte_start), "start", a->char_start, "end",
                   a->char_end, "score", (double)a->score);
}

/* Takes v (malloc'd, H floats). */
static json_t *embedding_json(float *v, int H) {
  json_t *a = json_array();
  for (int i = 0; i < H; i++) json_array_append_new(a, json_real(v[i]));
  free(v);
  return json_pack("{s:o}", "embedding", a);
}

/* One record's result after a forward pass (sequence b of the batch). */
static json_t *result_json(bertd_enricher *e, int b, const bertd_encoding *enc, const char *text,
                           const char *pair, char *errstr, size_t errstr_size) {
  const bertd_checkpoint_config *c = bertd_model_config(e->m);
  bertd_session *s = e->s;
  switch (e->o.task) {
  case BERTD_ENRICH_TOKENIZE:
    return tokens_json(e, enc);
  case BERTD_ENRICH_CLASSIFY: {
    bertd_label_score ls[256];
    int n = bertd_result_labels(s, b, classify_k(e), ls, 256, errstr, errstr_size);
    return n < 0 ? NULL : labels_json(e, ls, n);
  }
  case BERTD_ENRICH_TAG:
  case BERTD_ENRICH_JOINT: {
    int joint = e->o.task == BERTD_ENRICH_JOINT;
    bertd_label_score ls[64];
    int ni = 0;
    if (joint) {
      int k = e->o.top_k > 0 ? e->o.top_k : 1;
      ni = bertd_result_intents(s, b, k, ls, 64, errstr, errstr_size);
      if (ni < 1) return NULL;
    }
    int n;
    const float *l = bertd_session_logits(s, b, joint ? "slots" : "tag", &n);
    if (!l) {
      snprintf(errstr, errstr_size, "%s has no %s head", bertd_model_name(e->m),
               joint ? "slot" : "token classification");
      return NULL;
    }
    return tags_json(e, enc, l, ls, ni, text, errstr, errstr_size);
  }
  case BERTD_ENRICH_QA: {
    bertd_answer a;
    if (!pair) {
      snprintf(errstr, errstr_size, "qa needs a question (text) and a context (text_pair)");
      return NULL;
    }
    if (bertd_result_answer(s, b, e->o.max_answer_tokens, &a, errstr, errstr_size)) return NULL;
    return answer_json(&a, pair);
  }
  case BERTD_ENRICH_EMBED: {
    const int H = c->hidden_size;
    float *v = malloc(sizeof(float) * (size_t)H);
    if (!v || bertd_result_embedding(s, b, v, errstr, errstr_size)) {
      if (!v) snprintf(errstr, errstr_size, "enrich: out of memory");
      free(v);
      return NULL;
    }
    return embedding_json(v, H);
  }
  case BERTD_ENRICH_FILL_MASK: {
    int k = e->o.top_k > 0 ? e->o.top_k : 5;
    int cap = k * enc->n;
    bertd_fill *f = malloc(sizeof(*f) * (size_t)(cap ? cap : 1));
    if (!f) {
      snprintf(errstr, errstr_size, "enrich: out of memory");
      return NULL;
    }
    int n = bertd_result_fill_mask(s, b, k, f, cap, errstr, errstr_size);
    if (n < 0) {
      free(f);
      return NULL;
    }
    json_t *masks = json_array();
    for (int i = 0; i < n; i += k) {
      json_t *fills = json_array();
      for (int j = i; j < i + k && j < n; j++)
        json_array_append_new(fills, json_pack("{s:s?, s:i, s:f}", "token", f[j].token, "id",
                                               f[j].token_id, "score", (double)f[j].score));
      json_array_append_new(masks, json_pack("{s:i, s:o}", "position", f[i].position, "fills",
                                             fills));
    }
    free(f);
    return json_pack("{s:o}", "masks", masks);
  }
  case BERTD_ENRICH_NSP: {
    float p;
    if (bertd_result_is_next(s, b, &p, errstr, errstr_size)) return NULL;
    return json_pack("{s:f}", "is_next", (double)p);
  }
  }
  snprintf(errstr, errstr_size, "unknown task");
  return NULL;
}

int bertd_enricher_run_windows(bertd_enricher *e, int B, const bertd_encoding *const *encs,
                               const char *const *texts, const char *const *pairs,
                               window_acc *const *accs, const int *win, json_t **results,
                               char *errstr, size_t errstr_size) {
  for (int i = 0; i < B; i++) results[i] = NULL;
  if (e->o.task != BERTD_ENRICH_TOKENIZE &&
      bertd_session_forward(e->s, encs, B, errstr, errstr_size))
    return -1;
  /* plain records first: a failure here fails the batch (and the caller may retry records
   * alone) before any window's outputs were gathered, so none is counted twice */
  for (int i = 0; i < B; i++) {
    if (accs && accs[i]) continue;
    results[i] = result_json(e, i, encs[i], texts[i], pairs ? pairs[i] : NULL, errstr,
                             errstr_size);
    /* the sign a text was cut: how many of its tokens the model never saw */
    if (results[i] && encs[i]->num_truncated > 0 &&
        json_object_set_new(results[i], "truncated_tokens", json_integer(encs[i]->num_truncated)))
      json_decref(results[i]), results[i] = NULL;
    if (!results[i]) {
      for (int j = 0; j < i; j++) json_decref(results[j]), results[j] = NULL;
      return -1;
    }
  }
  for (int i = 0; accs && i < B; i++)
    if (accs[i]) bertd_window_acc_take(accs[i], e->s, i, encs[i], win[i], e->o.max_answer_tokens);
  return 0;
}

int bertd_enricher_run_encoded(bertd_enricher *e, int B, const bertd_encoding *const *encs,
                               const char *const *texts, const char *const *pairs,
                               json_t **results, char *errstr, size_t errstr_size) {
  return bertd_enricher_run_windows(e, B, encs, texts, pairs, NULL, NULL, results, errstr,
                                    errstr_size);
}

int bertd_enricher_encode_windows(const bertd_enricher *e, const char *text, size_t len,
                                  const char *pair, size_t pair_len, bertd_windows *w,
                                  char *errstr, size_t errstr_size) {
  if (pair && (e->o.task == BERTD_ENRICH_TAG || e->o.task == BERTD_ENRICH_JOINT)) {
    snprintf(errstr, errstr_size, "on_too_long: window: task %s takes no text_pair",
             bertd_enrich_task_name(e->o.task));
    return -1;
  }
  if (e->o.task == BERTD_ENRICH_QA && !pair) {
    snprintf(errstr, errstr_size, "qa needs a question (text) and a context (text_pair)");
    return -1;
  }
  return bertd_tokenizer_encode_windows(bertd_model_tokenizer(e->m), text, len, pair, pair_len,
                                        e->o.max_length, e->o.window_stride, w, errstr,
                                        errstr_size);
}

window_acc *bertd_enricher_window_acc(const bertd_enricher *e, const bertd_windows *w,
                                      char *errstr, size_t errstr_size) {
  return bertd_window_acc_new(e->m, (int)e->o.task, e->o.window_combine, w, errstr, errstr_size);
}

json_t *bertd_enricher_window_result(const bertd_enricher *e, const window_acc *a,
                                     const char *text, const char *pair, char *errstr,
                                     size_t errstr_size) {
  const char *why = bertd_window_acc_error(a);
  if (why) {
    snprintf(errstr, errstr_size, "%s", why);
    return NULL;
  }
  json_t *r = NULL;
  int n;
  const float *l = bertd_window_acc_logits(a, &n);
  switch (e->o.task) {
  case BERTD_ENRICH_CLASSIFY: {
    bertd_label_score ls[256];
    int got = bertd_labels_from_logits(e->m, 0, l, classify_k(e), ls, 256, errstr, errstr_size);
    if (got >= 0) r = labels_json(e, ls, got);
    break;
  }
  case BERTD_ENRICH_TAG:
  case BERTD_ENRICH_JOINT: {
    bertd_label_score ls[64];
    int ni = 0;
    if (e->o.task == BERTD_ENRICH_JOINT) {
      int k = e->o.top_k > 0 ? e->o.top_k : 1;
      ni = bertd_labels_from_logits(e->m, 1, l, k, ls, 64, errstr, errstr_size);
      if (ni < 1) return NULL;
    }
    const bertd_encoding *meta;
    const float *rows = bertd_window_acc_rows(a, &meta);
    r = tags_json(e, meta, rows, ls, ni, text, errstr, errstr_size);
    break;
  }
  case BERTD_ENRICH_QA: {
    const bertd_answer *ans = bertd_window_acc_answer(a);
    if (!ans) snprintf(errstr, errstr_size, "qa: no window gave an answer");
    else r = answer_json(ans, pair);
    break;
  }
  case BERTD_ENRICH_EMBED: {
    const int H = bertd_model_config(e->m)->hidden_size;
    float *v = malloc(sizeof(float) * (size_t)H);
    if (!v || bertd_window_acc_embedding(a, v, H)) {
      snprintf(errstr, errstr_size, "embed: %s", v ? "no window tokens" : "out of memory");
      free(v);
    } else {
      r = embedding_json(v, H);
    }
    break;
  }
  default:
    snprintf(errstr, errstr_size, "on_too_long: window: task %s cannot be windowed",
             bertd_enrich_task_name(e->o.task));
  }
  if (r && json_object_set_new(r, "windows", json_integer(bertd_window_acc_windows(a)))) {
    json_decref(r);
    r = NULL;
    snprintf(errstr, errstr_size, "enrich: out of memory");
  }
  return r;
}

/* bertd_enricher_run with on_too_long: window: every window of every record in one forward. */
static int run_windowed(bertd_enricher *e, int B, const char *const *texts, const size_t *lens,
                        const char *const *pairs, const size_t *pair_lens, json_t **results,
                        char (*errors)[256], char *errstr, size_t errstr_size) {
  if (B > e->wcap) {
    bertd_windows *n = realloc(e->wins, sizeof(*n) * (size_t)B);
    if (!n) {
      snprintf(errstr, errstr_size, "enricher: out of memory");
      return -1;
    }
    memset(n + e->wcap, 0, sizeof(*n) * (size_t)(B - e->wcap));
    e->wins = n;
    e->wcap = B;
  }
  int total = 0, rc = 0;
  window_acc **rec_acc = calloc((size_t)B, sizeof(*rec_acc));
  if (!rec_acc) {
    snprintf(errstr, errstr_size, "enricher: out of memory");
    return -1;
  }
  for (int i = 0; i < B; i++) {
    results[i] = NULL;
    errors[i][0] = 0;
    e->wins[i].n = 0;
    const char *p = pairs ? pairs[i] : NULL;
    if (bertd_enricher_encode_windows(e, texts[i], lens[i], p, p ? pair_lens[i] : 0, &e->wins[i],
                                      errors[i], sizeof errors[i])) {
      e->wins[i].n = 0;
      continue;
    }
    if (e->wins[i].n > 1 &&
        !(rec_acc[i] = bertd_enricher_window_acc(e, &e->wins[i], errors[i], sizeof errors[i]))) {
      e->wins[i].n = 0;
      continue;
    }
    total += e->wins[i].n;
  }
  const bertd_encoding **encs = malloc(sizeof(*encs) * (size_t)(total ? total : 1));
  const char **ts = malloc(sizeof(*ts) * (size_t)(total ? total : 1));
  const char **ps = malloc(sizeof(*ps) * (size_t)(total ? total : 1));
  window_acc **accs = malloc(sizeof(*accs) * (size_t)(total ? total : 1));
  int *win = malloc(sizeof(int) * (size_t)(total ? total : 1)), *owner = malloc(sizeof(int) * (size_t)(total ? total : 1));
  json_t **res = malloc(sizeof(*res) * (size_t)(total ? total : 1));
  if (!encs || !ts || !ps || !accs || !win || !owner || !res) {
    snprintf(errstr, errstr_size, "enricher: out of memory");
    rc = -1;
    goto done;
  }
  int n = 0;
  for (int i = 0; i < B; i++)
    for (int k = 0; k < e->wins[i].n; k++, n++) {
      encs[n] = &e->wins[i].w[k];
      ts[n] = texts[i];
      ps[n] = pairs ? pairs[i] : NULL;
      accs[n] = rec_acc[i];
      win[n] = k;
      owner[n] = i;
    }
  if (n > 0) {
    if (bertd_enricher_run_windows(e, n, encs, ts, ps, accs, win, res, errstr, errstr_size)) {
      rc = -1;
      goto done;
    }
    for (int j = 0; j < n; j++)
      if (!accs[j]) results[owner[j]] = res[j];
    for (int i = 0; i < B; i++)
      if (rec_acc[i])
        results[i] = bertd_enricher_window_result(e, rec_acc[i], texts[i],
                                                  pairs ? pairs[i] : NULL, errors[i],
                                                  sizeof errors[i]);
  }
done:
  for (int i = 0; i < B; i++) bertd_window_acc_free(rec_acc[i]);
  free(rec_acc);
  free(encs);
  free(ts);
  free(ps);
  free(accs);
  free(win);
  free(owner);
  free(res);
  return rc;
}

int bertd_enricher_run(bertd_enricher *e, int B, const char *const *texts, const size_t *lens,
                       const char *const *pairs, const size_t *pair_lens, json_t **results,
                       char (*errors)[256], char *errstr, size_t errstr_size) {
  if (e->o.window)
    return run_windowed(e, B, texts, lens, pairs, pair_lens, results, errors, errstr,
                        errstr_size);
  if (B > e->cap) {
    bertd_encoding *n = realloc(e->encs, sizeof(*n) * (size_t)B);
    if (!n) {
      snprintf(errstr, errstr_size, "enricher: out of memory");
      return -1;
    }
    memset(n + e->cap, 0, sizeof(*n) * (size_t)(B - e->cap));
    e->encs = n;
    e->cap = B;
  }
  /* records that fail to tokenize are reported and left out of the forward pass */
  const bertd_encoding **ok = malloc(sizeof(*ok) * (size_t)B);
  const char **ok_t = malloc(sizeof(*ok_t) * (size_t)B), **ok_p = malloc(sizeof(*ok_p) * (size_t)B);
  int *idx = malloc(sizeof(int) * (size_t)B);
  json_t **res = malloc(sizeof(*res) * (size_t)B);
  int rc = 0, n = 0;
  if (!ok || !ok_t || !ok_p || !idx || !res) {
    snprintf(errstr, errstr_size, "enricher: out of memory");
    rc = -1;
    goto done;
  }
  for (int i = 0; i < B; i++) {
    results[i] = NULL;
    errors[i][0] = 0;
    const char *p = pairs ? pairs[i] : NULL;
    if (bertd_enricher_encode(e, texts[i], lens[i], p, p ? pair_lens[i] : 0, &e->encs[i],
                              errors[i], sizeof errors[i]))
      continue;
    ok[n] = &e->encs[i];
    ok_t[n] = texts[i];
    ok_p[n] = p;
    idx[n++] = i;
  }
  if (n > 0) {
    if (bertd_enricher_run_encoded(e, n, ok, ok_t, ok_p, res, errstr, errstr_size)) {
      rc = -1;
      goto done;
    }
    for (int j = 0; j < n; j++) results[idx[j]] = res[j];
  }
done:
  free(ok);
  free(ok_t);
  free(ok_p);
  free(idx);
  free(res);
  return rc;
}
