/* cli_train.c: `bertd train` and `bertd eval`: options in, a JSON summary line out (stdout);
 * progress and per-epoch lines go to stderr. */
#include "cli_train.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bertd.h"
#include "bertd_eval.h"
#include "bertd_train.h"
#include "cli_options.h"

static void usage(FILE *f, int train) {
  if (train)
    fprintf(f,
            "usage: bertd train --task joint|classify|tag|mlm-nsp --model DIR --data PATH --out DIR\n"
            "       [--format jointbert|jsonl|csv|corpus] [--text-column NAME]... [--pair-column NAME]\n"
            "       [--label-column NAME] [--tags-column NAME] [--dev FILE] [--test FILE]\n"
            "       [--heldout N] [--dev-heldout N] [--eval-split dev]\n"
            "       [--epochs N] [--lr F] [--batch-size N] [--max-length N]\n"
            "       [--warmup-ratio F | --warmup-steps N] [--weight-decay F] [--seed N]\n"
            "       [--slot-loss-coef F] (joint: loss = intent + F x slots, default 1)\n"
            "       [--grad-accum N] [--max-grad-norm F] [--no-bucket] [--threads N]\n"
            "       [--tag-decoding bio|argmax]\n"
            "Fine-tunes the checkpoint in --model (a new head for the task) on the train split,\n"
            "evaluates the dev split after each epoch and keeps the best checkpoint in --out,\n"
            "then evaluates it on the test split when there is one. Prints a JSON summary.\n"
            "mlm-nsp: --data is a plain-text corpus (a sentence a line, a blank line between\n"
            "documents); --heldout N sentence pairs (default 5 %%) score MLM and NSP accuracy.\n"
            "--threads N (default OPENBLAS_NUM_THREADS, else every core): each batch's sequences\n"
            "are split into N groups trained on N threads, with the one-thread gradients.\n");
  else
    fprintf(f,
            "usage: bertd eval --task joint|classify|tag --model DIR --data PATH\n"
            "       [--split train|dev|test] [--format ...] [--heldout N] [--dev-heldout N]\n"
            "       [--text-column NAME]... [--label-column NAME] [--max-length N]\n"
            "       [--batch-size N] [--seed N] [--threads N] [--tag-decoding bio|argmax]\n"
            "       [--precision fp32|bf16|int8]\n"
            "Evaluates a fine-tuned checkpoint on one split (default test) with the metrics\n"
            "of `bertd train`; prints them as one JSON line. --precision bf16 or int8 also\n"
            "evaluates fp32 on the same checkpoint and prints its metrics as fp32_*.\n");
}

enum {
  OPT_TEXT_COL = 1000, OPT_PAIR_COL, OPT_LABEL_COL, OPT_TAGS_COL, OPT_DEV, OPT_TEST,
  OPT_HELDOUT, OPT_DEV_HELDOUT, OPT_EVAL_SPLIT, OPT_WARMUP_RATIO, OPT_WARMUP_STEPS,
  OPT_WEIGHT_DECAY, OPT_SLOT_LOSS_COEF, OPT_GRAD_ACCUM, OPT_MAX_GRAD_NORM, OPT_NO_BUCKET, OPT_THREADS, OPT_SPLIT,
  OPT_TAG_DECODING, OPT_PRECISION
};

typedef struct cli_args {
  const char *task, *split;
  bertd_precision precision; /* eval only */
  bertd_train_opts t;
  bertd_data_args d;
} cli_args;

/* A path option that must exist (a directory when dir): 0, or -1 after one line naming the
 * option and the path, so that a mistyped path is a bad argument (exit 2), not a failed run. */
static int existing(const char *cmd, const char *opt, const char *path, int dir) {
  struct stat sb;
  if (!path) return 0;
  if (stat(path, &sb)) {
    fprintf(stderr, "bertd %s: --%s %s: %s\n", cmd, opt, path, strerror(errno));
    return -1;
  }
  if (dir && !S_ISDIR(sb.st_mode)) {
    fprintf(stderr, "bertd %s: --%s %s: not a directory\n", cmd, opt, path);
    return -1;
  }
  return 0;
}

static int number(const char *cmd, const char *opt, const char *s, double lo, double hi,
                  double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || v < lo || v > hi) {
    fprintf(stderr, "bertd %s: --%s: expected a number in [%g, %g], got '%s'\n", cmd, opt, lo,
            hi, s);
    return -1;
  }
  *out = v;
  return 0;
}

/* 0: run; 1: help printed; -1: bad arguments (message printed). */
static int parse(int argc, char **argv, int train, cli_args *a) {
  static const struct option longopts[] = {
      {"task", required_argument, 0, 'T'},       {"model", required_argument, 0, 'm'},
      {"data", required_argument, 0, 'd'},       {"out", required_argument, 0, 'o'},
      {"format", required_argument, 0, 'f'},     {"epochs", required_argument, 0, 'e'},
      {"lr", required_argument, 0, 'r'},         {"batch-size", required_argument, 0, 'b'},
      {"max-length", required_argument, 0, 'l'}, {"seed", required_argument, 0, 's'},
      {"text-column", required_argument, 0, OPT_TEXT_COL},
      {"pair-column", required_argument, 0, OPT_PAIR_COL},
      {"label-column", required_argument, 0, OPT_LABEL_COL},
      {"tags-column", required_argument, 0, OPT_TAGS_COL},
      {"dev", required_argument, 0, OPT_DEV},    {"test", required_argument, 0, OPT_TEST},
      {"heldout", required_argument, 0, OPT_HELDOUT},
      {"dev-heldout", required_argument, 0, OPT_DEV_HELDOUT},
      {"eval-split", required_argument, 0, OPT_EVAL_SPLIT},
      {"split", required_argument, 0, OPT_SPLIT},
      {"warmup-ratio", required_argument, 0, OPT_WARMUP_RATIO},
      {"warmup-steps", required_argument, 0, OPT_WARMUP_STEPS},
      {"weight-decay", required_argument, 0, OPT_WEIGHT_DECAY},
      {"slot-loss-coef", required_argument, 0, OPT_SLOT_LOSS_COEF},
      {"grad-accum", required_argument, 0, OPT_GRAD_ACCUM},
      {"max-grad-norm", required_argument, 0, OPT_MAX_GRAD_NORM},
      {"no-bucket", no_argument, 0, OPT_NO_BUCKET},
      {"threads", required_argument, 0, OPT_THREADS},
      {"tag-decoding", required_argument, 0, OPT_TAG_DECODING},
      {"precision", required_argument, 0, OPT_PRECISION},
      {"help", no_argument, 0, 'h'},             {0, 0, 0, 0}};
  const char *cmd = argv[0];
  optind = 1;
  opterr = 0; /* getopt's own messages do not name the command; ours below do */
  int c;
  double v;
  while ((c = getopt_long(argc, argv, ":T:m:d:o:f:e:r:b:l:s:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'T': a->task = optarg; break;
    case 'm': a->t.model_dir = optarg; break;
    case 'd': a->d.data = optarg; break;
    case 'o': a->t.out_dir = optarg; break;
    case 'f': a->d.format = optarg; break;
    case OPT_TEXT_COL:
      if (a->d.n_text_columns == BERTD_MAX_TEXT_COLUMNS) {
        fprintf(stderr, "bertd %s: at most %d --text-column\n", cmd, BERTD_MAX_TEXT_COLUMNS);
        return -1;
      }
      a->d.text_columns[a->d.n_text_columns++] = optarg;
      break;
    case OPT_PAIR_COL: a->d.pair_column = optarg; break;
    case OPT_LABEL_COL: a->d.label_column = optarg; break;
    case OPT_TAGS_COL: a->d.tags_column = optarg; break;
    case OPT_DEV: a->d.dev_path = optarg; break;
    case OPT_TEST: a->d.test_path = optarg; break;
    case OPT_EVAL_SPLIT: a->d.eval_split = optarg; break;
    case OPT_SPLIT: a->split = optarg; break;
    case OPT_NO_BUCKET: a->t.bucket = 0; break;
    case OPT_PRECISION:
      if (train) {
        fprintf(stderr, "bertd %s: --precision is an option of bertd eval\n", cmd);
        return -1;
      }
      if (bertd_precision_parse(optarg, &a->precision)) {
        fprintf(stderr, "bertd %s: --precision: expected fp32, bf16 or int8, got '%s'\n", cmd,
                optarg);
        return -1;
      }
      break;
    case OPT_TAG_DECODING:
      if (bertd_tag_decoding_parse(optarg, &a->t.tag_decoding)) {
        fprintf(stderr, "bertd %s: --tag-decoding: expected bio or argmax, got '%s'\n", cmd,
                optarg);
        return -1;
      }
      break;
    case 'h': usage(stdout, train); return 1;
    case ':':
    case '?':
      bertd_cli_option_error(cmd, c, argv, optind);
      return -1;
    default: {
      const char *name = "?";
      for (const struct option *o = longopts; o->name; o++)
        if (o->val == c) name = o->name;
      int lo_int = c == 'r' || c == OPT_WARMUP_RATIO || c == OPT_WEIGHT_DECAY ||
                   c == OPT_MAX_GRAD_NORM || c == OPT_SLOT_LOSS_COEF;
      if (number(cmd, name, optarg, 0, lo_int ? 1e6 : 1e12, &v)) return -1;
      if (!lo_int && v != (double)(long long)v) {
        fprintf(stderr, "bertd %s: --%s: expected an integer, got '%s'\n", cmd, name, optarg);
        return -1;
      }
      switch (c) {
      case 'e': a->t.epochs = (int)v; break;
      case 'r': a->t.lr = (float)v; break;
      case 'b': a->t.batch_size = (int)v; break;
      case 'l': a->t.max_length = (int)v; break;
      case 's': a->t.seed = a->d.seed = (uint64_t)v; break;
      case OPT_HELDOUT: a->d.heldout = (long)v; break;
      case OPT_DEV_HELDOUT: a->d.dev_heldout = (long)v; break;
      case OPT_WARMUP_RATIO: a->t.warmup_ratio = (float)v; break;
      case OPT_WARMUP_STEPS: a->t.warmup_steps = (int)v; break;
      case OPT_WEIGHT_DECAY: a->t.weight_decay = (float)v; break;
      case OPT_SLOT_LOSS_COEF: a->t.slot_loss_coef = (float)v; break;
      case OPT_GRAD_ACCUM: a->t.grad_accum = (int)v; break;
      case OPT_MAX_GRAD_NORM: a->t.max_grad_norm = (float)v; break;
      case OPT_THREADS: a->t.threads = (int)v; break;
      }
    }
    }
  }
  if (optind < argc) {
    fprintf(stderr, "bertd %s: unexpected argument '%s'\n", cmd, argv[optind]);
    return -1;
  }
  if (!a->task || ((!train || strcmp(a->task, "mlm-nsp")) &&
                   bertd_ft_task_parse(a->task, &a->t.task))) {
    fprintf(stderr, "bertd %s: --task joint|classify|tag%s is required%s%s%s\n", cmd,
            train ? "|mlm-nsp" : "",
            a->task ? " (got '" : "", a->task ? a->task : "", a->task ? "')" : "");
    return -1;
  }
  if (!a->t.model_dir || !a->d.data || (train && !a->t.out_dir)) {
    fprintf(stderr, "bertd %s: --model DIR, --data PATH%s are required\n", cmd,
            train ? " and --out DIR" : "");
    return -1;
  }
  if (a->t.epochs < 1 || a->t.batch_size < 1 || a->t.grad_accum < 1 || a->t.max_length < 3 ||
      a->t.lr <= 0) {
    fprintf(stderr, "bertd %s: --epochs, --batch-size, --grad-accum must be >= 1, "
            "--max-length >= 3, --lr > 0\n", cmd);
    return -1;
  }
  if (existing(cmd, "model", a->t.model_dir, 1) || existing(cmd, "data", a->d.data, 0) ||
      existing(cmd, "dev", a->d.dev_path, 0) || existing(cmd, "test", a->d.test_path, 0))
    return -1;
  return 0;
}

static int print_json(json_t *j) {
  char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
  if (!s) return -1;
  puts(s);
  fflush(stdout);
  free(s);
  return 0;
}

int bertd_cli_train_main(int argc, char **argv) {
  cli_args a;
  memset(&a, 0, sizeof a);
  bertd_train_opts_default(&a.t);
  a.d.seed = a.t.seed;
  int p = parse(argc, argv, 1, &a);
  if (p) return p > 0 ? 0 : 2;
  if (a.t.threads > 0) bertd_threads_set(a.t.threads);
  a.t.threads = bertd_threads();
  char err[1024];
  json_t *summary = NULL;
  if (!strcmp(a.task, "mlm-nsp")) {
    int rc = bertd_pretrain_run(&a.t, a.d.data, a.d.heldout, &summary, err, sizeof err);
    if (rc) fprintf(stderr, "bertd train: %s\n", err);
    else print_json(summary);
    json_decref(summary);
    return rc ? 1 : 0;
  }
  bertd_splits sp;
  if (bertd_splits_load(&a.d, a.t.task, NULL, &sp, err, sizeof err)) {
    fprintf(stderr, "bertd train: %s\n", err);
    return 1;
  }
  bertd_train_splits ts = {.train = &sp.train,
                           .dev = sp.has_dev ? &sp.dev : NULL,
                           .test = sp.has_test ? &sp.test : NULL,
                           .dev_name = "dev",
                           .test_name = "test"};
  int rc = bertd_train_run(&a.t, &ts, &summary, err, sizeof err);
  if (rc) fprintf(stderr, "bertd train: %s\n", err);
  else {
    json_object_set_new(summary, "data", json_string(a.d.data));
    char path[1200];
    snprintf(path, sizeof path, "%s/train_summary.json", a.t.out_dir);
    if (json_dump_file(summary, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER))
      fprintf(stderr, "bertd train: could not write %s\n", path);
    print_json(summary);
  }
  json_decref(summary);
  bertd_splits_free(&sp);
  return rc ? 1 : 0;
}

int bertd_cli_eval_main(int argc, char **argv) {
  cli_args a;
  memset(&a, 0, sizeof a);
  bertd_train_opts_default(&a.t);
  a.d.seed = a.t.seed;
  int p = parse(argc, argv, 0, &a);
  if (p) return p > 0 ? 0 : 2;
  if (a.t.threads > 0) bertd_threads_set(a.t.threads);
  const char *split = a.split ? a.split : "test";
  if (strcmp(split, "train") && strcmp(split, "dev") && strcmp(split, "test")) {
    fprintf(stderr, "bertd eval: --split train|dev|test, got '%s'\n", split);
    return 2;
  }
  if (!strcmp(split, "dev") && !a.d.eval_split) a.d.eval_split = "dev";
  char err[1024];
  bertd_splits sp;
  if (bertd_splits_load(&a.d, a.t.task, a.t.model_dir, &sp, err, sizeof err)) {
    fprintf(stderr, "bertd eval: %s\n", err);
    return 1;
  }
  const bertd_dataset *ds = !strcmp(split, "train") ? &sp.train
                            : !strcmp(split, "dev") ? (sp.has_dev ? &sp.dev : NULL)
                                                    : (sp.has_test ? &sp.test : NULL);
  int rc = 1;
  bertd_eval_metrics m, m32;
  double t0 = bertd_progress_now();
  const int beside = a.precision != BERTD_PRECISION_FP32;
  if (!ds) fprintf(stderr, "bertd eval: the data has no %s split\n", split);
  else if (bertd_eval_checkpoint(a.t.model_dir, a.t.task, ds, a.t.max_length,
                                 a.t.batch_size, a.t.tag_decoding, a.precision, &m, err,
                                 sizeof err) ||
           (beside && bertd_eval_checkpoint(a.t.model_dir, a.t.task, ds, a.t.max_length,
                                            a.t.batch_size, a.t.tag_decoding,
                                            BERTD_PRECISION_FP32, &m32, err, sizeof err))) {
    fprintf(stderr, "bertd eval: %s\n", err);
    /* a CPU without the precision's instructions is a usage error, as a bad option is */
    if (!strncmp(err, "precision ", 10)) rc = 2;
  } else {
    json_t *j = json_object();
    json_object_set_new(j, "model", json_string(a.t.model_dir));
    json_object_set_new(j, "data", json_string(a.d.data));
    json_object_set_new(j, "split", json_string(split));
    json_object_set_new(j, "task", json_string(bertd_ft_task_name(a.t.task)));
    if (a.t.task != BERTD_FT_CLASSIFY)
      json_object_set_new(j, "tag_decoding",
                          json_string(bertd_tag_decoding_name(a.t.tag_decoding)));
    json_object_set_new(j, "precision", json_string(bertd_precision_name(a.precision)));
    bertd_eval_metrics_json(&m, "", j);
    if (beside) bertd_eval_metrics_json(&m32, "fp32_", j);
    json_object_set_new(j, "seconds", json_real((double)(long)((bertd_progress_now() - t0) * 10) / 10));
    print_json(j);
    json_decref(j);
    rc = 0;
  }
  bertd_splits_free(&sp);
  return rc;
}
