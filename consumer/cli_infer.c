/* cli_infer.c: `bertd <task> --model DIR [--input FILE] ...`: JSONL in, JSONL out.
 * Each input line is an object with "text" (and "text_pair"); each output line is that object
 * with the task's result fields added, in input order. */
#include "cli_infer.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd.h"
#include "enrich.h"

typedef struct cli_opts {
  const char *model, *input, *text_field, *pair_field;
  int batch_size;
  bertd_enrich_opts e;
} cli_opts;

static void usage(FILE *f, const char *task) {
  fprintf(f,
          "usage: bertd %s --model DIR [--input FILE] [--batch-size N] [--max-length N]\n"
          "       [--top-k K] [--threshold P] [--truncation longest_first|only_first|only_second]\n"
          "       [--text-field NAME] [--pair-field NAME] [--tag-decoding bio|argmax]\n"
          "       [--on-too-long truncate|error|window] [--window-stride N] [--window-combine mean|max]\n"
          "Reads JSONL objects {\"text\": ..., \"text_pair\": ...} from --input or stdin and writes\n"
          "each object back with the %s result added.\n",
          task, task);
}

/* 0: run; 1: help was printed; -1: bad arguments (message printed). */
static int parse(int argc, char **argv, cli_opts *o) {
  static const struct option longopts[] = {
      {"model", required_argument, 0, 'm'},      {"input", required_argument, 0, 'i'},
      {"batch-size", required_argument, 0, 'b'}, {"max-length", required_argument, 0, 'l'},
      {"top-k", required_argument, 0, 'k'},      {"threshold", required_argument, 0, 't'},
      {"truncation", required_argument, 0, 'T'}, {"text-field", required_argument, 0, 'f'},
      {"pair-field", required_argument, 0, 'p'}, {"max-answer-tokens", required_argument, 0, 'a'},
      {"tag-decoding", required_argument, 0, 'D'}, {"help", no_argument, 0, 'h'},
      {"on-too-long", required_argument, 0, 'O'}, {"window-stride", required_argument, 0, 'S'},
      {"window-combine", required_argument, 0, 'C'},
      {0, 0, 0, 0}};
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "m:i:b:l:k:t:T:f:p:a:D:O:S:C:h", longopts, NULL)) != -1) {
    char *end = NULL;
    switch (c) {
    case 'm': o->model = optarg; break;
    case 'i': o->input = optarg; break;
    case 'f': o->text_field = optarg; break;
    case 'p': o->pair_field = optarg; break;
    case 'b': o->batch_size = (int)strtol(optarg, &end, 10); break;
    case 'l': o->e.max_length = (int)strtol(optarg, &end, 10); break;
    case 'k': o->e.top_k = (int)strtol(optarg, &end, 10); break;
    case 'a': o->e.max_answer_tokens = (int)strtol(optarg, &end, 10); break;
    case 't':
      o->e.threshold = strtof(optarg, &end);
      o->e.has_threshold = 1; /* 0 is a threshold too (report every label), not "unset" */
      break;
    case 'T':
      if (!strcmp(optarg, "longest_first")) o->e.truncation = BERTD_TRUNC_LONGEST_FIRST;
      else if (!strcmp(optarg, "only_first")) o->e.truncation = BERTD_TRUNC_ONLY_FIRST;
      else if (!strcmp(optarg, "only_second")) o->e.truncation = BERTD_TRUNC_ONLY_SECOND;
      else {
        fprintf(stderr, "bertd %s: --truncation: unknown strategy '%s'\n", argv[0], optarg);
        return -1;
      }
      break;
    case 'D':
      if (bertd_tag_decoding_parse(optarg, &o->e.tag_decoding)) {
        fprintf(stderr, "bertd %s: --tag-decoding: expected bio or argmax, got '%s'\n", argv[0],
                optarg);
        return -1;
      }
      break;
    case 'O': /* texts over --max-length: cut (the default), an error, or windows */
      o->e.too_long_is_error = !strcmp(optarg, "error");
      o->e.window = !strcmp(optarg, "window");
      if (strcmp(optarg, "truncate") && !o->e.too_long_is_error && !o->e.window) {
        fprintf(stderr, "bertd %s: --on-too-long: expected truncate, error or window, got '%s'\n",
                argv[0], optarg);
        return -1;
      }
      break;
    case 'S': o->e.window_stride = (int)strtol(optarg, &end, 10); break;
    case 'C':
      if (strcmp(optarg, "mean") && strcmp(optarg, "max")) {
        fprintf(stderr, "bertd %s: --window-combine: expected mean or max, got '%s'\n", argv[0],
                optarg);
        return -1;
      }
      o->e.window_combine = !strcmp(optarg, "max") ? WINDOW_COMBINE_MAX : WINDOW_COMBINE_MEAN;
      break;
    case 'h': usage(stdout, argv[0]); return 1;
    default: usage(stderr, argv[0]); return -1;
    }
    if (end && *end) {
      fprintf(stderr, "bertd %s: '%s' is not a number\n", argv[0], optarg);
      return -1;
    }
  }
  if (!o->model) {
    fprintf(stderr, "bertd %s: --model DIR is required\n", argv[0]);
    return -1;
  }
  if (o->batch_size < 1 || o->batch_size > 4096) {
    fprintf(stderr, "bertd %s: --batch-size must be 1..4096\n", argv[0]);
    return -1;
  }
  return 0;
}

typedef struct pending {
  json_t **objs;
  const char **texts, **pairs;
  size_t *lens, *pair_lens;
  json_t **results;
  char (*errors)[256];
  long *line_no;
  int n;
} pending;

static int flush(bertd_enricher *en, pending *p, const char *src, FILE *out) {
  char err[512];
  if (p->n == 0) return 0;
  int any_pair = 0;
  for (int i = 0; i < p->n; i++) any_pair |= p->pairs[i] != NULL;
  int rc = bertd_enricher_run(en, p->n, p->texts, p->lens, any_pair ? p->pairs : NULL,
                              p->pair_lens, p->results, p->errors, err, sizeof err);
  if (rc) {
    fprintf(stderr, "bertd: %s:%ld: %s\n", src, p->line_no[0], err);
  } else {
    for (int i = 0; i < p->n; i++) {
      if (!p->results[i]) {
        fprintf(stderr, "bertd: %s:%ld: %s\n", src, p->line_no[i], p->errors[i]);
        rc = -1;
        break;
      }
      json_object_update(p->objs[i], p->results[i]);
      char *line = json_dumps(p->objs[i], JSON_COMPACT | JSON_REAL_PRECISION(8));
      fputs(line, out);
      fputc('\n', out);
      free(line);
    }
  }
  for (int i = 0; i < p->n; i++) {
    json_decref(p->objs[i]);
    json_decref(p->results[i]);
  }
  p->n = 0;
  return rc;
}

int cli_infer_main(int argc, char **argv) {
  cli_opts o = {.batch_size = 32, .text_field = "text", .pair_field = "text_pair",
                .e.window_stride = -1};
  if (bertd_enrich_task_parse(argv[0], &o.e.task)) {
    fprintf(stderr, "bertd: unknown command '%s'\n", argv[0]);
    return 2;
  }
  int pr = parse(argc, argv, &o);
  if (pr) return pr > 0 ? 0 : 2;
  char err[512];
  bertd_model *m = NULL;
  if (bertd_model_load(o.model, &m, err, sizeof err)) {
    fprintf(stderr, "bertd: %s\n", err);
    return 1;
  }
  bertd_enricher *en = NULL;
  if (bertd_enricher_create(m, &o.e, &en, err, sizeof err)) {
    fprintf(stderr, "bertd: %s\n", err);
    bertd_model_free(m);
    return 1;
  }
  FILE *in = stdin;
  const char *src = o.input ? o.input : "<stdin>";
  if (o.input && !(in = fopen(o.input, "r"))) {
    fprintf(stderr, "bertd: %s: cannot open\n", o.input);
    bertd_enricher_free(en);
    bertd_model_free(m);
    return 1;
  }
  const int cap = o.batch_size;
  pending p = {calloc((size_t)cap, sizeof(json_t *)), calloc((size_t)cap, sizeof(char *)),
               calloc((size_t)cap, sizeof(char *)), calloc((size_t)cap, sizeof(size_t)),
               calloc((size_t)cap, sizeof(size_t)), calloc((size_t)cap, sizeof(json_t *)),
               calloc((size_t)cap, 256), calloc((size_t)cap, sizeof(long)), 0};
  int rc = 0;
  char *line = NULL;
  size_t lcap = 0;
  long line_no = 0;
  ssize_t len;
  while (rc == 0 && (len = getline(&line, &lcap, in)) >= 0) {
    line_no++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
    if (len == 0) continue;
    json_error_t je;
    json_t *obj = json_loadb(line, (size_t)len, 0, &je);
    if (!obj || !json_is_object(obj)) {
      fprintf(stderr, "bertd: %s:%ld:%d: %s\n", src, line_no, obj ? 1 : je.column,
              obj ? "expected a JSON object" : je.text);
      json_decref(obj);
      rc = 1;
      break;
    }
    json_t *t = json_object_get(obj, o.text_field), *tp = json_object_get(obj, o.pair_field);
    if (!json_is_string(t) || (tp && !json_is_string(tp) && !json_is_null(tp))) {
      fprintf(stderr, "bertd: %s:%ld: field '%s' must be a string\n", src, line_no,
              !json_is_string(t) ? o.text_field : o.pair_field);
      json_decref(obj);
      rc = 1;
      break;
    }
    int i = p.n++;
    p.objs[i] = obj;
    p.texts[i] = json_string_value(t);
    p.lens[i] = json_string_length(t);
    p.pairs[i] = json_is_string(tp) ? json_string_value(tp) : NULL;
    p.pair_lens[i] = p.pairs[i] ? json_string_length(tp) : 0;
    p.line_no[i] = line_no;
    if (p.n == cap && flush(en, &p, src, stdout)) rc = 1;
  }
  if (rc == 0 && flush(en, &p, src, stdout)) rc = 1;
  for (int i = 0; i < p.n; i++) json_decref(p.objs[i]);
  free(line);
  free(p.objs); free(p.texts); free(p.pairs); free(p.lens); free(p.pair_lens);
  free(p.results); free(p.errors); free(p.line_no);
  if (in != stdin) fclose(in);
  bertd_enricher_free(en);
  bertd_model_free(m);
  return rc;
}
