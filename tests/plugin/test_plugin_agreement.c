/* test_plugin_agreement.c: model.min_agreement, the accuracy gate of a bf16 / int8 pipeline.
 * The plugin loads the joint fixture in int8, runs the calibration texts through it and through
 * the same checkpoint in fp32, and starts only when the fraction of records with the same top
 * intent reaches min_agreement. The test computes that fraction itself through the model API
 * and holds the plugin's decision to it, at min_agreement 1 (refused exactly when one record
 * disagrees) and at a bar the measured fraction passes; and the one-line errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd.h"
#include "bertd_plugin.h"

#define JOINT BERTD_FIXTURES "/models/joint"

static const char *const TEXTS[] = {
    "show me flights from boston to denver", "list the cheapest fare to dallas tomorrow",
    "what is the weather in san francisco",  "play music from new york",
    "find a nonstop flight leaving monday",  "flights arriving in atlanta",
    "xyz 2024 ?",                            "the price of a game",
    "café naïve server request",             "cheapest morning flights from dallas to boston"};
enum { N_TEXTS = sizeof TEXTS / sizeof TEXTS[0] };

static char *calibration_file(void) {
  static char path[] = "/tmp/bertd-calib-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  FILE *f = fdopen(fd, "w");
  for (int i = 0; i < N_TEXTS; i++) fprintf(f, "{\"text\": \"%s\"}\n\n", TEXTS[i]);
  fclose(f);
  return path;
}

/* the fraction of TEXTS whose top intent in int8 equals fp32's, through the model API */
static double expected_agreement(void) {
  char err[512];
  bertd_model *m[2];
  bertd_session *s[2];
  cr_assert_eq(bertd_model_load(JOINT, &m[0], err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_model_load_precision(JOINT, BERTD_PRECISION_INT8, &m[1], err, sizeof err),
               0, "%s", err);
  int agree = 0;
  for (int k = 0; k < 2; k++) cr_assert_eq(bertd_session_create(m[k], &s[k], err, sizeof err), 0);
  for (int i = 0; i < N_TEXTS; i++) {
    int top[2];
    for (int k = 0; k < 2; k++) {
      bertd_encoding e = {0};
      cr_assert_eq(bertd_tokenizer_encode(bertd_model_tokenizer(m[k]), TEXTS[i], strlen(TEXTS[i]),
                                          NULL, 0, 128, BERTD_TRUNC_LONGEST_FIRST, &e, err,
                                          sizeof err), 0, "%s", err);
      const bertd_encoding *b[1] = {&e};
      cr_assert_eq(bertd_session_forward(s[k], b, 1, err, sizeof err), 0, "%s", err);
      bertd_label_score ls;
      cr_assert_eq(bertd_result_intents(s[k], 0, 1, &ls, 1, err, sizeof err), 1, "%s", err);
      top[k] = ls.id;
      bertd_encoding_free(&e);
    }
    agree += top[0] == top[1];
  }
  for (int k = 0; k < 2; k++) {
    bertd_session_free(s[k]);
    bertd_model_free(m[k]);
  }
  return (double)agree / N_TEXTS;
}

static int create(const char *extra, char *err, size_t size) {
  char json[1024];
  snprintf(json, sizeof json,
           "{\"model\": {\"dir\": \"%s\", \"task\": \"joint\", \"precision\": \"int8\"%s}}",
           JOINT, extra);
  bertd_plugin *p = NULL;
  int rc = bertd_plugin_create(json, &p, err, size);
  if (!rc) bertd_plugin_destroy(p);
  return rc;
}

Test(plugin_agreement, gate_follows_the_measured_agreement) {
  const char *calib = calibration_file();
  const double want = expected_agreement();
  char err[512], extra[512];
  /* min_agreement 1: starts exactly when every record agrees */
  snprintf(extra, sizeof extra, ", \"min_agreement\": 1.0, \"calibration\": \"%s\"", calib);
  const int rc = create(extra, err, sizeof err);
  if (want < 1.0) {
    cr_assert_eq(rc, -1);
    char line[512];
    snprintf(line, sizeof line,
             "model.min_agreement: int8 agrees with fp32 on %.4f of %d records of %s, below 1",
             want, N_TEXTS, calib);
    cr_assert_str_eq(err, line);
  } else {
    cr_assert_eq(rc, 0, "%s", err);
  }
  /* a bar at the measured fraction passes */
  snprintf(extra, sizeof extra, ", \"min_agreement\": %.6f, \"calibration\": \"%s\"",
           want - 1e-9 > 0 ? want - 1e-9 : 0.0, calib);
  cr_assert_eq(create(extra, err, sizeof err), 0, "%s", err);
  printf("joint fixture int8 vs fp32: top intent agrees on %.4f of %d calibration texts\n", want,
         N_TEXTS);
  remove(calib);
}

Test(plugin_agreement, errors_are_one_line_naming_the_key) {
  char err[512];
  cr_assert_eq(create(", \"min_agreement\": 0.9", err, sizeof err), -1);
  cr_assert_str_eq(err, "model.min_agreement: needs model.calibration, a JSONL file of texts");
  cr_assert_eq(create(", \"min_agreement\": 0.9, \"calibration\": \"/nonexistent.jsonl\"", err,
                      sizeof err), -1);
  cr_assert_str_eq(err, "model.calibration: cannot open /nonexistent.jsonl");
  cr_assert_eq(create(", \"min_agreement\": 1.5, \"calibration\": \"/x\"", err, sizeof err), -1);
  cr_assert(!strncmp(err, "model.min_agreement: must be between 0 and 1", 44), "%s", err);
  char path[] = "/tmp/bertd-calib-bad-XXXXXX";
  int fd = mkstemp(path);
  FILE *f = fdopen(fd, "w");
  fprintf(f, "{\"text\": \"fine\"}\n[1, 2]\n");
  fclose(f);
  char extra[256], want[512];
  snprintf(extra, sizeof extra, ", \"min_agreement\": 0.5, \"calibration\": \"%s\"", path);
  cr_assert_eq(create(extra, err, sizeof err), -1);
  snprintf(want, sizeof want, "model.calibration %s:2: expected a JSON object with a string "
           "field 'text'", path);
  cr_assert_str_eq(err, want);
  remove(path);
}
