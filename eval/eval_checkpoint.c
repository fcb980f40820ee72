/* eval_checkpoint.c: tokenize, run the session in batches, feed the evaluator. */
#include "bertd_eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd.h"

/* The model's label names for the task: sequence labels and token tags. */
static void model_lists(const bertd_checkpoint_config *c, bertd_ft_task task, char ***labels, int *nl,
                        char ***tags, int *nt) {
  *labels = NULL, *tags = NULL, *nl = 0, *nt = 0;
  if (task == BERTD_FT_JOINT) {
    *labels = c->intent_labels, *nl = c->num_intents;
    *tags = c->slot_labels, *nt = c->num_slots;
  } else if (task == BERTD_FT_CLASSIFY) {
    *labels = c->id2label, *nl = c->num_labels;
  } else {
    *tags = c->id2label, *nt = c->num_labels;
  }
}

static int same_list(const bertd_label_list *l, char **names, int n, const char *what,
                     char *errstr, size_t errstr_size) {
  if (l->n != n) {
    snprintf(errstr, errstr_size, "the data has %d %s, the model %d", l->n, what, n);
    return -1;
  }
  for (int i = 0; i < n; i++)
    if (strcmp(l->names[i], names[i])) {
      snprintf(errstr, errstr_size, "%s %d is '%s' in the data, '%s' in the model", what, i,
               l->names[i], names[i]);
      return -1;
    }
  return 0;
}

static int fill_list(bertd_label_list *l, char **names, int n, char *errstr,
                     size_t errstr_size) {
  for (int i = 0; i < n; i++)
    if (bertd_label_list_add(l, names[i]) != i) {
      snprintf(errstr, errstr_size, "label list: duplicate or out of memory at '%s'", names[i]);
      return -1;
    }
  l->frozen = 1;
  return 0;
}

int bertd_eval_preload_labels(const char *model_dir, bertd_ft_task task, bertd_dataset *ds,
                              char *errstr, size_t errstr_size) {
  bertd_checkpoint_config cfg;
  if (bertd_config_load(model_dir, &cfg, errstr, errstr_size)) return -1;
  char **labels, **tags;
  int nl, nt;
  model_lists(&cfg, task, &labels, &nl, &tags, &nt);
  int rc = fill_list(&ds->labels, labels, nl, errstr, errstr_size) ||
           fill_list(&ds->tags, tags, nt, errstr, errstr_size);
  bertd_config_free(&cfg);
  return rc ? -1 : 0;
}

int bertd_eval_checkpoint(const char *model_dir, bertd_ft_task task, const bertd_dataset *ds,
                          int max_length, int batch_size, bertd_tag_decoding decoding,
                          bertd_precision precision, bertd_eval_metrics *out, char *errstr,
                          size_t errstr_size) {
  bertd_model *m = NULL;
  bertd_session *s = NULL;
  bertd_evaluator ev;
  int ev_ok = 0, rc = -1;
  bertd_encoding *encs = calloc((size_t)batch_size, sizeof *encs);
  const bertd_encoding **ptrs = calloc((size_t)batch_size, sizeof *ptrs);
  int32_t *words = NULL;
  size_t cap_words = 0;
  if (!encs || !ptrs) {
    snprintf(errstr, errstr_size, "out of memory");
    goto done;
  }
  if (bertd_precision_check(precision, errstr, errstr_size) ||
      bertd_model_load_precision(model_dir, precision, &m, errstr, errstr_size))
    goto done;
  const bertd_checkpoint_config *cfg = bertd_model_config(m);
  char **labels, **tags;
  int nl, nt;
  model_lists(cfg, task, &labels, &nl, &tags, &nt);
  if ((nl && same_list(&ds->labels, labels, nl, "labels", errstr, errstr_size)) ||
      (nt && same_list(&ds->tags, tags, nt, "tags", errstr, errstr_size)))
    goto done;
  if (bertd_evaluator_init(&ev, task, &ds->labels, &ds->tags, decoding, errstr, errstr_size))
    goto done;
  ev_ok = 1;
  if (bertd_session_create(m, &s, errstr, errstr_size)) goto done;
  const bertd_tokenizer *tok = bertd_model_tokenizer(m);
  const char *seq_name = task == BERTD_FT_JOINT ? "intent" : "classify"; /* session names */
  const char *tok_name = task == BERTD_FT_JOINT ? "slots" : "tag";
  for (size_t a = 0; a < ds->n; a += (size_t)batch_size) {
    int B = ds->n - a < (size_t)batch_size ? (int)(ds->n - a) : batch_size;
    for (int b = 0; b < B; b++) {
      const bertd_example *ex = &ds->examples[a + (size_t)b];
      const char *pair = ex->text_pair;
      if (bertd_tokenizer_encode(tok, ex->text, strlen(ex->text), pair, pair ? strlen(pair) : 0,
                                 max_length, BERTD_TRUNC_LONGEST_FIRST, &encs[b], errstr,
                                 errstr_size))
        goto done;
      ptrs[b] = &encs[b];
    }
    if (bertd_session_forward(s, ptrs, B, errstr, errstr_size)) goto done;
    for (int b = 0; b < B; b++) {
      const bertd_encoding *e = &encs[b];
      int n = 0;
      const float *seq = NULL, *toks = NULL;
      if (task != BERTD_FT_TAG && !(seq = bertd_session_logits(s, b, seq_name, &n))) {
        snprintf(errstr, errstr_size, "%s: the model gives no %s logits", model_dir, seq_name);
        goto done;
      }
      if (task != BERTD_FT_CLASSIFY && !(toks = bertd_session_logits(s, b, tok_name, &n))) {
        snprintf(errstr, errstr_size, "%s: the model gives no %s logits", model_dir, tok_name);
        goto done;
      }
      if ((size_t)e->n > cap_words) {
        int32_t *w = realloc(words, (size_t)e->n * sizeof *w);
        if (!w) {
          snprintf(errstr, errstr_size, "out of memory");
          goto done;
        }
        words = w, cap_words = (size_t)e->n;
      }
      for (int t = 0; t < e->n; t++) words[t] = e->seq_ids[t] == 0 ? e->word_ids[t] : -1;
      if (bertd_evaluator_add(&ev, &ds->examples[a + (size_t)b], words, e->n, seq, toks, errstr,
                              errstr_size))
        goto done;
    }
  }
  rc = bertd_evaluator_finish(&ev, out, errstr, errstr_size);
done:
  if (ev_ok) bertd_evaluator_free(&ev);
  if (encs)
    for (int b = 0; b < batch_size; b++) bertd_encoding_free(&encs[b]);
  free(encs);
  free(ptrs);
  free(words);
  bertd_session_free(s);
  bertd_model_free(m);
  return rc;
}
