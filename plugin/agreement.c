/* agreement.c: top-label agreement of a bf16 / int8 model with fp32 on a calibration file
 * (see agreement.h). */
#include "agreement.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BATCH = 16 };

/* the top label (classify) or intent (joint) of each of the B sequences s ran */
static int top_ids(const bertd_session *s, int joint, int B, int *out, char *errstr,
                   size_t errstr_size) {
  for (int b = 0; b < B; b++) {
    bertd_label_score top;
    int n = joint ? bertd_result_intents(s, b, 1, &top, 1, errstr, errstr_size)
                  : bertd_result_labels(s, b, 1, &top, 1, errstr, errstr_size);
    if (n < 1) return -1;
    out[b] = top.id;
  }
  return 0;
}

/* one batch through both sessions; adds the agreeing records to *agree */
static int run_batch(bertd_session *low, bertd_session *ref, int joint,
                     const bertd_encoding *const *batch, int B, int *agree, char *errstr,
                     size_t errstr_size) {
  int a[BATCH], b[BATCH];
  if (bertd_session_forward(low, batch, B, errstr, errstr_size) ||
      bertd_session_forward(ref, batch, B, errstr, errstr_size) ||
      top_ids(low, joint, B, a, errstr, errstr_size) ||
      top_ids(ref, joint, B, b, errstr, errstr_size))
    return -1;
  for (int i = 0; i < B; i++) *agree += a[i] == b[i];
  return 0;
}

int bertd_plugin_agreement(const bertd_model *m, const plugin_config *c, double *agreement,
                           int *records, char *errstr, size_t errstr_size) {
  const int joint = c->enrich.task == BERTD_ENRICH_JOINT;
  FILE *f = fopen(c->calibration, "r");
  if (!f) return bertd_set_error(errstr, errstr_size, "model.calibration: cannot open %s",
                                 c->calibration);
  bertd_model *ref = NULL;
  bertd_session *low = NULL, *rs = NULL;
  bertd_encoding enc[BATCH];
  memset(enc, 0, sizeof enc);
  const bertd_encoding *batch[BATCH];
  char *line = NULL, why[512];
  size_t cap = 0;
  int rc = -1, B = 0, n = 0, agree = 0, lineno = 0;
  const int max_len = c->enrich.max_length > 0 && c->enrich.max_length < bertd_model_max_length(m)
                          ? c->enrich.max_length
                          : bertd_model_max_length(m);
  if (bertd_model_load(c->model_dir, &ref, why, sizeof why)) {
    bertd_set_error(errstr, errstr_size, "model.min_agreement: the fp32 reference: %s", why);
    goto done;
  }
  if (bertd_session_create(m, &low, errstr, errstr_size) ||
      bertd_session_create(ref, &rs, errstr, errstr_size))
    goto done;
  while (getline(&line, &cap, f) > 0) {
    lineno++;
    if (strspn(line, " \t\r\n") == strlen(line)) continue;
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    const json_t *t = o ? json_object_get(o, "text") : NULL, *p = o ? json_object_get(o, "text_pair") : NULL;
    if (!json_is_string(t)) {
      json_decref(o);
      bertd_set_error(errstr, errstr_size, "model.calibration %s:%d: expected a JSON object "
                      "with a string field 'text'", c->calibration, lineno);
      goto done;
    }
    const char *pair = json_is_string(p) ? json_string_value(p) : NULL;
    int bad = bertd_tokenizer_encode(bertd_model_tokenizer(m), json_string_value(t),
                                     json_string_length(t), pair, pair ? json_string_length(p) : 0,
                                     max_len, c->enrich.truncation, &enc[B], why, sizeof why);
    json_decref(o);
    if (bad) {
      bertd_set_error(errstr, errstr_size, "model.calibration %s:%d: %s", c->calibration, lineno,
                      why);
      goto done;
    }
    batch[B] = &enc[B];
    if (++B == BATCH) {
      if (run_batch(low, rs, joint, batch, B, &agree, errstr, errstr_size)) goto done;
      n += B;
      B = 0;
    }
  }
  if (B && run_batch(low, rs, joint, batch, B, &agree, errstr, errstr_size)) goto done;
  n += B;
  if (n == 0) {
    bertd_set_error(errstr, errstr_size, "model.calibration %s: no records", c->calibration);
    goto done;
  }
  *agreement = (double)agree / n;
  *records = n;
  rc = 0;
done:
  for (int i = 0; i < BATCH; i++) bertd_encoding_free(&enc[i]);
  free(line);
  fclose(f);
  bertd_session_free(low);
  bertd_session_free(rs);
  bertd_model_free(ref);
  return rc;
}
