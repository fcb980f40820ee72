/* cli_infer.c: `bertd <task> --model DIR [--input FILE] ...`: JSONL in, JSONL out.
 * Each input line is an object with "text" (and "text_pair"); each output line is that object
 * with the task's result fields added, in input order; a bad line gets an error line in its place
 * so that output line N answers input line N. */
#include "cli_infer.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bertd.h"
#include "cli_jsonl.h"
#include "bertd_enrich.h"
#include "cli_options.h"

typedef struct cli_opts {
  const char *model, *input, *text_field, *pair_field;
  int batch_size;
  int strict; /* stop at the first bad line instead of writing its error line and going on */
  int max_length_given;
  bertd_precision precision;
  bertd_enrich_opts e;
} cli_opts;

static void usage(FILE *f, const char *task) {
  fprintf(f,
          "usage: bertd %s --model DIR [--input FILE] [--batch-size N] [--max-length N]\n"
          "       [--top-k K] [--threshold P] [--truncation longest_first|only_first|only_second]\n"
          "       [--text-field NAME] [--pair-field NAME] [--tag-decoding bio|argmax] [--strict]\n"
          "       [--on-too-long truncate|error|window] [--window-stride N] [--window-combine mean|max]\n"
          "       [--precision fp32|bf16|int8]\n"
          "Reads JSONL objects {\"text\": ..., \"text_pair\": ...} from --input or stdin and writes\n"
          "each object back with the %s result added. A bad line is answered by\n"
          "{\"line\": N, \"error\": \"...\"} on its own output line and the run goes on (exit 1 at\n"
          "the end); --strict stops at the first.\n",
          task, task);
}

/* An integer option in [lo, hi], or -1 with a message naming the option. */
static int int_opt(const char *cmd, const char *opt, const char *arg, long lo, long hi, int *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(arg, &end, 10);
  if (errno || end == arg || *end || v < lo || v > hi) {
    fprintf(stderr, "bertd %s: --%s: expected an integer in %ld..%ld, got '%s'\n", cmd, opt, lo,
            hi, arg);
    return -1;
  }
  *out = (int)v;
  return 0;
}

/* 0: run; 1: help was printed; -1: bad arguments (message printed). */
static int parse(int argc, char **argv, cli_opts *o) {
  static const struct option longopts[] = {
      {"model", required_argument, 0, 'm'},      {"input", required_argument, 0, 'i'},
      {"batch-size", required_argument, 0, 'b'}, {"max-length", required_argument, 0, 'l'},
      {"top-k", required_argument, 0, 'k'},      {"threshold", required_argument, 0, 't'},
      {"truncation", required_argument, 0, 'T'}, {"text-field", required_argument, 0, 'f'},
      {"pair-field", required_argument, 0, 'p'}, {"max-answer-tokens", required_argument, 0, 'a'},
      {"tag-decoding", required_argument, 0, 'D'}, {"strict", no_argument, 0, 'S'},
      {"on-too-long", required_argument, 0, 'O'}, {"window-stride", required_argument, 0, 'W'},
      {"window-combine", required_argument, 0, 'C'}, {"precision", required_argument, 0, 'P'},
      {"help", no_argument, 0, 'h'},             {0, 0, 0, 0}};
  const char *cmd = argv[0];
  optind = 1;
  opterr = 0; /* getopt's own messages do not name the command; ours below do */
  int c;
  while ((c = getopt_long(argc, argv, ":m:i:b:l:k:t:T:f:p:a:D:SO:W:C:P:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'm': o->model = optarg; break;
    case 'i': o->input = optarg; break;
    case 'f': o->text_field = optarg; break;
    case 'p': o->pair_field = optarg; break;
    case 'S': o->strict = 1; break;
    case 'b':
      if (int_opt(cmd, "batch-size", optarg, 1, 4096, &o->batch_size)) return -1;
      break;
    case 'l':
      /* [CLS] + one token + [SEP] is the least that means anything; above the model's maximum
       * is capped after loading (and said), since only the model knows its maximum */
      if (int_opt(cmd, "max-length", optarg, 3, INT_MAX, &o->e.max_length)) return -1;
      o->max_length_given = 1;
      break;
    case 'k':
      if (int_opt(cmd, "top-k", optarg, 1, 256, &o->e.top_k)) return -1;
      break;
    case 'a':
      if (int_opt(cmd, "max-answer-tokens", optarg, 1, 4096, &o->e.max_answer_tokens)) return -1;
      break;
    case 't': {
      char *end = NULL;
      float v = strtof(optarg, &end);
      if (end == optarg || *end || !(v >= 0.0f && v <= 1.0f)) {
        fprintf(stderr, "bertd %s: --threshold: expected a probability in [0, 1], got '%s'\n",
                cmd, optarg);
        return -1;
      }
      o->e.threshold = v;
      o->e.has_threshold = 1; /* 0 is a threshold too (report every label), not "unset" */
      break;
    }
    case 'T':
      if (!strcmp(optarg, "longest_first")) o->e.truncation = BERTD_TRUNC_LONGEST_FIRST;
      else if (!strcmp(optarg, "only_first")) o->e.truncation = BERTD_TRUNC_ONLY_FIRST;
      else if (!strcmp(optarg, "only_second")) o->e.truncation = BERTD_TRUNC_ONLY_SECOND;
      else {
        fprintf(stderr, "bertd %s: --truncation: unknown strategy '%s'\n", cmd, optarg);
        return -1;
      }
      break;
    case 'D':
      if (bertd_tag_decoding_parse(optarg, &o->e.tag_decoding)) {
        fprintf(stderr, "bertd %s: --tag-decoding: expected bio or argmax, got '%s'\n", cmd,
                optarg);
        return -1;
      }
      break;
    case 'O': /* texts over --max-length: cut (the default), an error, or windows */
      o->e.too_long_is_error = !strcmp(optarg, "error");
      o->e.window = !strcmp(optarg, "window");
      if (strcmp(optarg, "truncate") && !o->e.too_long_is_error && !o->e.window) {
        fprintf(stderr, "bertd %s: --on-too-long: expected truncate, error or window, got '%s'\n",
                cmd, optarg);
        return -1;
      }
      break;
    case 'W':
      if (int_opt(cmd, "window-stride", optarg, 0, INT_MAX, &o->e.window_stride)) return -1;
      break;
    case 'C':
      if (strcmp(optarg, "mean") && strcmp(optarg, "max")) {
        fprintf(stderr, "bertd %s: --window-combine: expected mean or max, got '%s'\n", cmd,
                optarg);
        return -1;
      }
      o->e.window_combine = !strcmp(optarg, "max") ? WINDOW_COMBINE_MAX : WINDOW_COMBINE_MEAN;
      break;
    case 'P':
      if (bertd_precision_parse(optarg, &o->precision)) {
        fprintf(stderr, "bertd %s: --precision: expected fp32, bf16 or int8, got '%s'\n", cmd,
                optarg);
        return -1;
      }
      break;
    case 'h': usage(stdout, cmd); return 1;
    default: /* ':' or '?' */
      bertd_cli_option_error(cmd, c, argv, optind);
      return -1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "bertd %s: unexpected argument '%s'\n", cmd, argv[optind]);
    return -1;
  }
  if (!o->model) {
    fprintf(stderr, "bertd %s: --model DIR is required\n", cmd);
    return -1;
  }
  return 0;
}

/* The lines read since the last flush, in input order. A bad line stays in the queue as its
 * error so that outputs keep the input order; only the good ones go to the model. */
typedef struct pending {
  int cap, n;
  json_t **objs;        /* NULL for a bad line */
  char (*errors)[512];  /* a bad line's error, then a record's error from the enricher */
  long *line_no;
  /* the good lines only, packed for bertd_enricher_run */
  const char **texts, **pairs;
  size_t *lens, *pair_lens;
  json_t **results;
  int *slot; /* slot[k]: the queue position of good line k */
} pending;

static void pending_free(pending *p) {
  for (int i = 0; i < p->n; i++) json_decref(p->objs[i]);
  free(p->objs); free(p->errors); free(p->line_no); free(p->texts); free(p->pairs);
  free(p->lens); free(p->pair_lens); free(p->results); free(p->slot);
}

static int pending_init(pending *p, int cap) {
  *p = (pending){.cap = cap};
  const size_t n = (size_t)cap;
  p->objs = calloc(n, sizeof *p->objs);
  p->errors = calloc(n, sizeof *p->errors);
  p->line_no = calloc(n, sizeof *p->line_no);
  p->texts = calloc(n, sizeof *p->texts);
  p->pairs = calloc(n, sizeof *p->pairs);
  p->lens = calloc(n, sizeof *p->lens);
  p->pair_lens = calloc(n, sizeof *p->pair_lens);
  p->results = calloc(n, sizeof *p->results);
  p->slot = calloc(n, sizeof *p->slot);
  if (p->objs && p->errors && p->line_no && p->texts && p->pairs && p->lens && p->pair_lens &&
      p->results && p->slot)
    return 0;
  pending_free(p);
  return -1;
}

typedef struct run_state {
  const char *cmd, *src;
  long bad;   /* lines answered with an error line */
  int failed; /* output could not be written: stop */
} run_state;

static void write_error(run_state *st, FILE *out, long line_no, const char *msg) {
  st->bad++;
  fprintf(stderr, "bertd %s: %s:%ld: %s\n", st->cmd, st->src, line_no, msg);
  if (bertd_cli_jsonl_write_error(out, line_no, msg)) st->failed = 1;
}

/* Runs the queue's good lines through the model and writes every queued line, in order. */
static void flush(bertd_enricher *en, pending *p, run_state *st, FILE *out) {
  if (p->n == 0) return;
  int B = 0, any_pair = 0;
  for (int i = 0; i < p->n; i++) {
    if (!p->objs[i]) continue;
    p->slot[B] = i;
    any_pair |= p->pairs[B] != NULL;
    B++;
  }
  char err[512];
  char(*rec_err)[256] = calloc((size_t)(B ? B : 1), sizeof *rec_err);
  int rc = 0;
  if (!rec_err) {
    snprintf(err, sizeof err, "out of memory");
    rc = -1;
  } else if (B > 0) {
    rc = bertd_enricher_run(en, B, p->texts, p->lens, any_pair ? p->pairs : NULL, p->pair_lens,
                            p->results, rec_err, err, sizeof err);
  }
  for (int k = 0; k < B; k++) {
    const int i = p->slot[k];
    if (rc) {
      snprintf(p->errors[i], sizeof p->errors[i], "%s", err);
    } else if (!p->results[k]) {
      snprintf(p->errors[i], sizeof p->errors[i], "%s", rec_err[k]);
    } else if (json_object_update(p->objs[i], p->results[k])) {
      snprintf(p->errors[i], sizeof p->errors[i], "out of memory");
    } else {
      continue;
    }
    json_decref(p->objs[i]); /* the record failed: it is answered by its error line */
    p->objs[i] = NULL;
  }
  free(rec_err);
  for (int i = 0; i < p->n && !st->failed; i++) {
    if (!p->objs[i]) {
      write_error(st, out, p->line_no[i], p->errors[i]);
      continue;
    }
    char *line = json_dumps(p->objs[i], JSON_COMPACT | JSON_REAL_PRECISION(8));
    if (!line) {
      write_error(st, out, p->line_no[i], "out of memory");
      continue;
    }
    if (fputs(line, out) < 0 || fputc('\n', out) == EOF) st->failed = 1;
    free(line);
  }
  for (int k = 0; k < B; k++) {
    json_decref(p->results[k]);
    p->results[k] = NULL;
  }
  for (int i = 0; i < p->n; i++) {
    json_decref(p->objs[i]);
    p->objs[i] = NULL;
  }
  p->n = 0;
}

/* Queues one input line: a good record, or its error. Returns 1 when the line was bad. */
static int queue_line(pending *p, const cli_opts *o, const char *line, size_t len, long line_no) {
  const int i = p->n++;
  p->line_no[i] = line_no;
  p->objs[i] = NULL;
  char *err = p->errors[i];
  const size_t errsz = sizeof p->errors[i];
  json_t *obj = bertd_cli_jsonl_parse(line, len, err, errsz);
  if (!obj) return 1;
  const json_t *t = NULL, *tp = json_object_get(obj, o->pair_field);
  if (bertd_cli_jsonl_string(obj, o->text_field, &t, err, errsz)) {
    json_decref(obj);
    return 1;
  }
  if (tp && !json_is_string(tp) && !json_is_null(tp)) {
    snprintf(err, errsz, "field '%s' must be a string or null", o->pair_field);
    json_decref(obj);
    return 1;
  }
  if (o->e.task == BERTD_ENRICH_QA && !json_is_string(tp)) {
    snprintf(err, errsz, "field '%s' is missing: qa reads the question from '%s' and the context "
             "from '%s'", o->pair_field, o->text_field, o->pair_field);
    json_decref(obj);
    return 1;
  }
  /* the good lines are packed at the front of texts/pairs, in queue order */
  int k = 0;
  for (int j = 0; j < i; j++) k += p->objs[j] != NULL;
  p->objs[i] = obj;
  p->texts[k] = json_string_value(t);
  p->lens[k] = json_string_length(t); /* the full length: a text may hold NULs */
  p->pairs[k] = json_is_string(tp) ? json_string_value(tp) : NULL;
  p->pair_lens[k] = p->pairs[k] ? json_string_length(tp) : 0;
  return 0;
}

int bertd_cli_infer_main(int argc, char **argv) {
  cli_opts o = {.batch_size = 32, .text_field = "text", .pair_field = "text_pair",
                .e.window_stride = -1};
  const char *cmd = argv[0];
  if (bertd_enrich_task_parse(cmd, &o.e.task)) {
    fprintf(stderr, "bertd: unknown command '%s' (bertd --help lists them)\n", cmd);
    return 2;
  }
  int pr = parse(argc, argv, &o);
  if (pr) return pr > 0 ? 0 : 2;
  char err[512];
  struct stat sb;
  if (stat(o.model, &sb)) {
    fprintf(stderr, "bertd %s: --model %s: %s\n", cmd, o.model, strerror(errno));
    return 2;
  }
  if (!S_ISDIR(sb.st_mode)) {
    fprintf(stderr, "bertd %s: --model %s: not a directory\n", cmd, o.model);
    return 2;
  }
  FILE *in = stdin;
  const char *src = o.input ? o.input : "<stdin>";
  if (o.input && !(in = fopen(o.input, "r"))) {
    fprintf(stderr, "bertd %s: --input %s: %s\n", cmd, o.input, strerror(errno));
    return 2;
  }
  bertd_model *m = NULL;
  bertd_enricher *en = NULL;
  int rc = 2; /* a model that cannot be loaded, or cannot do the task, is a bad --model */
  if (bertd_precision_check(o.precision, err, sizeof err)) {
    /* the CPU lacks the instructions: one line, exit 2, never a slow emulation ("bertd
     * embed: --precision bf16: this CPU has neither ...") */
    fprintf(stderr, "bertd %s: --%s\n", cmd, err);
    goto done;
  }
  if (bertd_model_load_precision(o.model, o.precision, &m, err, sizeof err)) {
    fprintf(stderr, "bertd %s: --model %s: %s\n", cmd, o.model, err);
    goto done;
  }
  const int model_max = bertd_model_max_length(m);
  if (o.max_length_given && o.e.max_length > model_max) {
    fprintf(stderr, "bertd %s: --max-length %d is over the model's maximum: using %d\n", cmd,
            o.e.max_length, model_max);
    o.e.max_length = model_max;
  }
  if (bertd_enricher_create(m, &o.e, &en, err, sizeof err)) {
    fprintf(stderr, "bertd %s: --model %s: %s\n", cmd, o.model, err);
    goto done;
  }
  pending p;
  if (pending_init(&p, o.batch_size)) {
    fprintf(stderr, "bertd %s: out of memory\n", cmd);
    rc = 1;
    goto done;
  }
  run_state st = {.cmd = cmd, .src = src};
  char *line = NULL;
  size_t lcap = 0;
  long line_no = 0;
  ssize_t len;
  while (!st.failed && (len = getline(&line, &lcap, in)) >= 0) {
    line_no++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
    if (len == 0) continue;
    int bad = queue_line(&p, &o, line, (size_t)len, line_no);
    /* --strict: the good lines before the bad one are still answered, then the run stops. A
     * record the model refuses (too long, ...) is only known once its batch has run: --strict
     * stops after that batch. */
    if (p.n == p.cap || (bad && o.strict)) flush(en, &p, &st, stdout);
    if (o.strict && st.bad) break;
  }
  flush(en, &p, &st, stdout);
  int read_failed = ferror(in);
  free(line);
  pending_free(&p);
  rc = 0;
  if (read_failed) {
    fprintf(stderr, "bertd %s: %s: read error after line %ld\n", cmd, src, line_no);
    rc = 1;
  }
  if (fflush(stdout) || st.failed) {
    fprintf(stderr, "bertd %s: could not write the output\n", cmd);
    rc = 1;
  }
  if (st.bad) {
    fprintf(stderr, "bertd %s: %ld of %ld lines had errors%s\n", cmd, st.bad, line_no,
            o.strict ? " (--strict: stopped at the first)" : "");
    rc = 1;
  }
done:
  if (in != stdin) fclose(in);
  bertd_enricher_free(en);
  bertd_model_free(m);
  return rc;
}
