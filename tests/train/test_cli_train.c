/* test_cli_train.c: `bertd train` end to end on a toy task small enough for CI. The test writes
 * a JointBERT-layout dataset (three intents, city and time-of-day slots, made from templates)
 * and a CSV sentiment set into a temporary directory, fine-tunes the tiny fixture models on
 * them, expects 100 % on dev and test, then reloads the saved checkpoint through the inference
 * path (bertd_model_load + a session) and checks its predictions word by word. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bertd.h"
#include "bertd_rng.h"
#include "bertd_train.h"

static char err[1024];
static char tmp[64];

static void make_tmp(void) {
  snprintf(tmp, sizeof tmp, "/tmp/bertd_train_XXXXXX");
  cr_assert(mkdtemp(tmp));
}

static void remove_tmp(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  cr_assert_eq(system(cmd), 0);
}

static FILE *open_in(const char *sub, const char *name, const char *mode) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s%s%s", tmp, sub, *sub ? "/" : "", name);
  FILE *f = fopen(path, mode);
  cr_assert(f, "cannot open %s", path);
  return f;
}

static const char *const cities[][2] = {{"boston", NULL},  {"denver", NULL},
                                        {"dallas", NULL},  {"atlanta", NULL},
                                        {"seattle", NULL}, {"san", "francisco"},
                                        {"new", "york"},   {"washington", NULL}};
static const char *const periods[] = {"morning", "evening", "afternoon", "night"};
enum { N_CITIES = 8 };

/* Appends a city's words and B-/I- tags. */
static void city(char *in, char *out, int c, const char *slot) {
  strcat(in, " "), strcat(in, cities[c][0]);
  strcat(out, " B-"), strcat(out, slot);
  if (cities[c][1]) {
    strcat(in, " "), strcat(in, cities[c][1]);
    strcat(out, " I-"), strcat(out, slot);
  }
}

/* One utterance from a template; the words are all in the fixture's vocabulary. */
static void utterance(bertd_rng *r, char *in, char *out, const char **intent) {
  int a = (int)bertd_rng_below(r, N_CITIES), b = (int)bertd_rng_below(r, N_CITIES - 1);
  if (b >= a) b++;
  in[0] = out[0] = 0;
  switch (bertd_rng_below(r, 3)) {
  case 0:
    strcat(in, "show flights from"), strcat(out, "O O O");
    city(in, out, a, "fromloc.city_name");
    strcat(in, " to"), strcat(out, " O");
    city(in, out, b, "toloc.city_name");
    if (bertd_rng_below(r, 2)) {
      strcat(in, " in the "), strcat(in, periods[bertd_rng_below(r, 4)]);
      strcat(out, " O O B-depart_time.period_of_day");
    }
    *intent = "atis_flight";
    break;
  case 1:
    strcat(in, "what is the cheapest fare from"), strcat(out, "O O O O O O");
    city(in, out, a, "fromloc.city_name");
    strcat(in, " to"), strcat(out, " O");
    city(in, out, b, "toloc.city_name");
    *intent = "atis_airfare";
    break;
  default:
    strcat(in, "list ground transportation in"), strcat(out, "O O O O");
    city(in, out, a, "toloc.city_name");
    *intent = "atis_ground_service";
  }
}

static void write_joint_split(bertd_rng *r, const char *split, int n) {
  char dir[128];
  snprintf(dir, sizeof dir, "%s/%s", tmp, split);
  cr_assert_eq(mkdir(dir, 0700), 0);
  FILE *fi = open_in(split, "seq.in", "w"), *fo = open_in(split, "seq.out", "w"),
       *fl = open_in(split, "label", "w");
  for (int i = 0; i < n; i++) {
    char in[256], out[512];
    const char *intent;
    utterance(r, in, out, &intent);
    fprintf(fi, "%s\n", in), fprintf(fo, "%s\n", out), fprintf(fl, "%s\n", intent);
  }
  fclose(fi), fclose(fo), fclose(fl);
}

/* The fixture's own label files, so its heads keep their shapes. */
static void copy_labels(const char *name) {
  char src[512];
  snprintf(src, sizeof src, "%s/models/joint/%s", BERTD_FIXTURES, name);
  FILE *f = fopen(src, "r");
  cr_assert(f);
  FILE *g = open_in("", name, "w");
  int c;
  while ((c = fgetc(f)) != EOF) fputc(c, g);
  fclose(f), fclose(g);
}

static double num(json_t *s, const char *key) {
  json_t *v = json_object_get(s, key);
  cr_assert(v, "summary has no %s", key);
  return json_number_value(v);
}

Test(cli_train, joint_toy_task_reaches_100_and_reloads) {
  make_tmp();
  copy_labels("intent_label.txt");
  copy_labels("slot_label.txt");
  bertd_rng r;
  bertd_rng_seed(&r, 7);
  write_joint_split(&r, "train", 128);
  write_joint_split(&r, "dev", 32);
  write_joint_split(&r, "test", 32);

  bertd_data_args d = {.data = tmp, .seed = 42};
  bertd_splits sp;
  cr_assert_eq(bertd_splits_load(&d, BERTD_FT_JOINT, NULL, &sp, err, sizeof err), 0, "%s", err);
  char out[128];
  snprintf(out, sizeof out, "%s/out", tmp);
  bertd_train_opts o;
  bertd_train_opts_default(&o);
  o.model_dir = BERTD_FIXTURES "/models/joint";
  o.out_dir = out;
  o.epochs = 12;
  o.batch_size = 8;
  o.lr = 5e-3f;
  o.warmup_ratio = 0.1f;
  FILE *log = tmpfile();
  o.log = log;
  bertd_train_splits ts = {&sp.train, &sp.dev, &sp.test, "dev", "test"};
  json_t *s = NULL;
  cr_assert_eq(bertd_train_run(&o, &ts, &s, err, sizeof err), 0, "%s", err);
  cr_expect_eq(num(s, "dev_intent_acc"), 100.0);
  cr_expect_eq(num(s, "dev_slot_f1"), 100.0);
  cr_expect_eq(num(s, "test_intent_acc"), 100.0);
  cr_expect_eq(num(s, "test_slot_f1"), 100.0);
  cr_expect_eq(num(s, "test_sentence_acc"), 100.0);
  cr_expect_gt(num(s, "train_tokens_per_s"), 0);
  cr_expect_eq(num(s, "slot_loss_coef"), 1.0, "JointBERT's default weighting, recorded");
  json_decref(s);
  fclose(log);

  /* the checkpoint as `bertd run` would load it */
  bertd_model *m;
  bertd_session *ses;
  cr_assert_eq(bertd_model_load(out, &m, err, sizeof err), 0, "%s", err);
  cr_assert(bertd_model_tasks(m) & BERTD_TASK_JOINT);
  cr_assert_eq(bertd_session_create(m, &ses, err, sizeof err), 0, "%s", err);
  const char *text = "show flights from san francisco to denver in the evening";
  bertd_encoding enc = {0};
  cr_assert_eq(bertd_tokenizer_encode(bertd_model_tokenizer(m), text, strlen(text), NULL, 0, 0,
                                      BERTD_TRUNC_LONGEST_FIRST, &enc, err, sizeof err),
               0, "%s", err);
  const bertd_encoding *batch[1] = {&enc};
  cr_assert_eq(bertd_session_forward(ses, batch, 1, err, sizeof err), 0, "%s", err);
  bertd_label_score top;
  cr_assert_eq(bertd_result_intents(ses, 0, 1, &top, 1, err, sizeof err), 1, "%s", err);
  cr_expect_str_eq(top.label, "atis_flight");
  bertd_word_tag tags[16];
  int n = bertd_result_word_tags(ses, 0, 1, BERTD_TAG_DECODE_BIO, tags, 16, err, sizeof err);
  cr_assert_eq(n, 10, "%d word tags: %s", n, err);
  static const char *const want[] = {"O", "O", "O", "B-fromloc.city_name", "I-fromloc.city_name",
                                     "O", "B-toloc.city_name", "O", "O",
                                     "B-depart_time.period_of_day"};
  for (int i = 0; i < 10; i++) cr_expect_str_eq(tags[i].tag, want[i], "word %d", i);
  bertd_encoding_free(&enc);
  bertd_session_free(ses);
  bertd_model_free(m);
  bertd_splits_free(&sp);
  remove_tmp();
}

/* Classification from CSV: the seq_cls fixture (negative / neutral / positive) on words that
 * say which; --heldout and --dev-heldout carve test and dev out of the one file. */
Test(cli_train, classify_csv_toy_task_reaches_100) {
  make_tmp();
  static const char *const words[3][4] = {{"failed", "error", "warning", "rain"},
                                          {"schedule", "info", "time", "table"},
                                          {"music", "game", "sports", "movie"}};
  static const char *const names[3] = {"negative", "neutral", "positive"};
  FILE *f = open_in("", "toy.csv", "w");
  fprintf(f, "label,title,body\n");
  bertd_rng r;
  bertd_rng_seed(&r, 11);
  for (int i = 0; i < 160; i++) {
    int c = (int)bertd_rng_below(&r, 3);
    fprintf(f, "%s,the %s,\"%s, %s\"\n", names[c], words[c][bertd_rng_below(&r, 4)],
            words[c][bertd_rng_below(&r, 4)], i % 2 ? "today" : "for me");
  }
  fclose(f);
  char path[128], out[128];
  snprintf(path, sizeof path, "%s/toy.csv", tmp);
  snprintf(out, sizeof out, "%s/out", tmp);
  bertd_data_args d = {.data = path, .text_columns = {"title", "body"}, .n_text_columns = 2,
                       .label_column = "label", .heldout = 32, .dev_heldout = 32, .seed = 42};
  bertd_splits sp;
  cr_assert_eq(bertd_splits_load(&d, BERTD_FT_CLASSIFY, NULL, &sp, err, sizeof err), 0, "%s",
               err);
  cr_assert_eq(sp.train.n, 96);
  cr_assert_str_eq(sp.train.labels.names[0], "negative"); /* sorted, as the fixture has them */
  bertd_train_opts o;
  bertd_train_opts_default(&o);
  o.task = BERTD_FT_CLASSIFY;
  o.model_dir = BERTD_FIXTURES "/models/seq_cls";
  o.out_dir = out;
  o.epochs = 10;
  o.batch_size = 8;
  o.lr = 5e-3f;
  FILE *log = tmpfile();
  o.log = log;
  bertd_train_splits ts = {&sp.train, &sp.dev, &sp.test, "dev", "test"};
  json_t *s = NULL;
  cr_assert_eq(bertd_train_run(&o, &ts, &s, err, sizeof err), 0, "%s", err);
  cr_expect_eq(num(s, "dev_accuracy"), 100.0);
  cr_expect_eq(num(s, "test_accuracy"), 100.0);
  json_decref(s);
  fclose(log);
  bertd_splits_free(&sp);
  remove_tmp();
}
