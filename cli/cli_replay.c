/* cli_replay.c: `bertd replay`: parse flags (or a pipeline of the daemon's config), build the
 * plugin's JSON config, run eval/'s replay, write the reports. */
#include "cli_replay.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bertd.h"
#include "bertd_config.h"
#include "bertd_log.h"
#include "bertd_replay.h"
#include "cli_options.h"

#define MAX_PROPS 64

typedef struct replay_cli {
  bertd_replay_opts r;
  const char *model, *model_b, *config, *pipeline, *report_json, *report_html;
  const char *tag_decoding;
  long max_length, threads;
  const char *props[MAX_PROPS + 8];
  int n_props;
  char file_props[MAX_PROPS][512]; /* -c: the file's kafka properties as name=value */
} replay_cli;

static void usage(FILE *f) {
  fprintf(f,
          "usage: bertd replay --brokers HOST:PORT --topic T --schema FILE.avsc --text-field F\n"
          "         [--pair-field F] --model DIR --task classify|joint|tag|embed\n"
          "         [--partition P] [--from OFFSET | --from-time ISO8601]\n"
          "         [--to OFFSET | --to-time ISO8601]\n"
          "         [--gold-label F] [--gold-intent F] [--gold-slots F]\n"
          "         [--gold-file FILE.jsonl [--gold-key F]] [--oos-label L] [--unknown-gold-as L]\n"
          "         [--model-b DIR] [--seed N] [--bootstrap-rounds N] [--stored]\n"
          "         [--output-topic T] [--report-json FILE] [--report-html FILE]\n"
          "         [--predictions FILE.jsonl]\n"
          "         [--confluent [--registry URL]] [--max-length N] [--tag-decoding bio|argmax]\n"
          "         [--threads N] [-X librdkafka.prop=value ...]\n"
          "       bertd replay -c CONFIG.yaml --pipeline NAME [range, gold and report flags]\n"
          "Replays [from, to) of a topic (default: low to high watermark at start) with assign()\n"
          "only (no consumer group, nothing committed) through the model, scores its predictions\n"
          "against the gold labels and writes a JSON report (stdout without --report-json) and\n"
          "an HTML one. --stored scores the predictions an enriched topic already holds.\n");
}

static int fail(const char *fmt, const char *a, const char *b) {
  fputs("bertd replay: ", stderr);
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
  return -1;
}

static int number(const char *opt, const char *arg, long long lo, long long *out) {
  char *end = NULL;
  errno = 0;
  *out = strtoll(arg, &end, 10);
  if (!*arg || *end || errno || *out < lo) {
    char l[32];
    snprintf(l, sizeof l, "%lld", lo);
    fprintf(stderr, "bertd replay: %s: '%s' is not a whole number >= %s\n", opt, arg, l);
    return -1;
  }
  return 0;
}

static int is_dir(const char *opt, const char *path) {
  struct stat st;
  if (stat(path, &st) || !S_ISDIR(st.st_mode))
    return fail("%s %s: not a directory", opt, path) , -1;
  return 0;
}

static int parse(int argc, char **argv, replay_cli *o) {
  enum {
    O_BROKERS = 256, O_TOPIC, O_SCHEMA, O_TEXT, O_PAIR, O_MODEL, O_TASK, O_PART, O_FROM,
    O_FROM_T, O_TO, O_TO_T, O_GL, O_GI, O_GS, O_GF, O_GK, O_MB, O_STORED, O_OUT, O_RJ, O_RH,
    O_PIPE, O_OOS, O_UNK, O_PRED, O_SEED, O_ROUNDS, O_CONFL, O_REG, O_MAXLEN, O_DEC, O_THREADS, O_HELP
  };
  static const struct option lo[] = {
      {"brokers", required_argument, 0, O_BROKERS}, {"topic", required_argument, 0, O_TOPIC},
      {"schema", required_argument, 0, O_SCHEMA}, {"text-field", required_argument, 0, O_TEXT},
      {"pair-field", required_argument, 0, O_PAIR}, {"model", required_argument, 0, O_MODEL},
      {"task", required_argument, 0, O_TASK}, {"partition", required_argument, 0, O_PART},
      {"from", required_argument, 0, O_FROM}, {"from-time", required_argument, 0, O_FROM_T},
      {"to", required_argument, 0, O_TO}, {"to-time", required_argument, 0, O_TO_T},
      {"gold-label", required_argument, 0, O_GL}, {"gold-intent", required_argument, 0, O_GI},
      {"gold-slots", required_argument, 0, O_GS}, {"gold-file", required_argument, 0, O_GF},
      {"gold-key", required_argument, 0, O_GK}, {"model-b", required_argument, 0, O_MB},
      {"stored", no_argument, 0, O_STORED}, {"output-topic", required_argument, 0, O_OUT},
      {"report-json", required_argument, 0, O_RJ}, {"report-html", required_argument, 0, O_RH},
      {"pipeline", required_argument, 0, O_PIPE}, {"oos-label", required_argument, 0, O_OOS},
      {"unknown-gold-as", required_argument, 0, O_UNK},
      {"predictions", required_argument, 0, O_PRED},
      {"seed", required_argument, 0, O_SEED},
      {"bootstrap-rounds", required_argument, 0, O_ROUNDS},
      {"confluent", no_argument, 0, O_CONFL}, {"registry", required_argument, 0, O_REG},
      {"max-length", required_argument, 0, O_MAXLEN},
      {"tag-decoding", required_argument, 0, O_DEC}, {"threads", required_argument, 0, O_THREADS},
      {"help", no_argument, 0, O_HELP}, {0, 0, 0, 0}};
  bertd_replay_opts *r = &o->r;
  optind = 1;
  opterr = 0;
  int c;
  long long v;
  while ((c = getopt_long(argc, argv, ":c:X:h", lo, NULL)) != -1) {
    switch (c) {
    case O_BROKERS: r->brokers = optarg; break;
    case O_TOPIC: r->topic = optarg; break;
    case O_SCHEMA: r->schema_path = optarg; break;
    case O_TEXT: r->text_field = optarg; break;
    case O_PAIR: r->pair_field = optarg; break;
    case O_MODEL: o->model = optarg; break;
    case O_TASK: r->task = optarg; break;
    case O_PART:
      if (number("--partition", optarg, 0, &v)) return -1;
      r->partition = (int)v;
      break;
    case O_FROM:
      if (number("--from", optarg, 0, &v)) return -1;
      r->from_offset = v;
      break;
    case O_TO:
      if (number("--to", optarg, 0, &v)) return -1;
      r->to_offset = v;
      break;
    case O_FROM_T:
    case O_TO_T: {
      int64_t ms;
      if (bertd_replay_parse_time(optarg, &ms))
        return fail("%s %s: not an ISO 8601 time (2026-12-06T10:00:00Z)",
                    c == O_FROM_T ? "--from-time" : "--to-time", optarg);
      *(c == O_FROM_T ? &r->from_time_ms : &r->to_time_ms) = ms;
      break;
    }
    case O_GL: r->gold_label = optarg; break;
    case O_GI: r->gold_intent = optarg; break;
    case O_GS: r->gold_slots = optarg; break;
    case O_GF: r->gold_file = optarg; break;
    case O_GK: r->gold_key = optarg; break;
    case O_MB: o->model_b = optarg; break;
    case O_STORED: r->stored = 1; break;
    case O_OUT: r->output_topic = optarg; break;
    case O_RJ: o->report_json = optarg; break;
    case O_RH: o->report_html = optarg; break;
    case O_PIPE: o->pipeline = optarg; break;
    case O_OOS: r->oos_label = optarg; break;
    case O_UNK: r->unknown_gold_as = optarg; break;
    case O_PRED: r->predictions_path = optarg; break;
    case O_SEED:
      if (number("--seed", optarg, 0, &v)) return -1;
      r->seed = (uint64_t)v;
      break;
    case O_ROUNDS:
      if (number("--bootstrap-rounds", optarg, 1, &v) || v > 1000000)
        return v > 1000000 ? fail("--bootstrap-rounds %s: at most 1000000", optarg, "") : -1;
      r->bootstrap_rounds = (int)v;
      break;
    case O_CONFL: r->confluent = 1; break;
    case O_REG: r->registry_url = optarg; break;
    case O_MAXLEN:
      if (number("--max-length", optarg, 1, &v)) return -1;
      o->max_length = (long)v;
      break;
    case O_DEC:
      if (strcmp(optarg, "bio") && strcmp(optarg, "argmax"))
        return fail("--tag-decoding %s: expected bio or argmax", optarg, "");
      o->tag_decoding = optarg;
      break;
    case O_THREADS:
      if (number("--threads", optarg, 1, &v)) return -1;
      o->threads = (long)v;
      break;
    case 'c': o->config = optarg; break;
    case 'X':
      if (!strchr(optarg, '=')) return fail("-X %s: expected name=value", optarg, "");
      if (o->n_props == MAX_PROPS) return fail("more than 64 -X options%s%s", "", "");
      o->props[o->n_props++] = optarg;
      break;
    case 'h':
    case O_HELP: usage(stdout); return 1;
    default: bertd_cli_option_error("replay", c, argv, optind); return -1;
    }
  }
  if (optind < argc) return fail("unexpected argument '%s'", argv[optind], "");
  return 0;
}

/* The model's own token limit, as `bertd classify` and the other inference commands default to
 * (bertd_model_max_length's rule, read from the config files without loading the weights). */
static int own_max_length(const char *dir) {
  bertd_checkpoint_config c;
  char err[512];
  if (bertd_config_load(dir, &c, err, sizeof err)) return 0;
  int n = c.model_max_length;
  if (c.st_max_seq_length > 0 && c.st_max_seq_length < n) n = c.st_max_seq_length;
  if (n <= 0 || n > c.max_position_embeddings) n = c.max_position_embeddings;
  bertd_config_free(&c);
  return n;
}

/* The plugin's JSON config (bertd_plugin.h) for a model given by flags. Without --max-length
 * the model's own limit, so the flag form predicts what `bertd classify` (and the other
 * inference commands) print for the same texts; -c takes the pipeline's settings instead. */
static char *plugin_json(const replay_cli *o, const char *dir) {
  json_t *m = json_pack("{s:s, s:s}", "dir", dir, "task", o->r.task);
  if (!m) return NULL;
  long max_length = o->max_length ? o->max_length : own_max_length(dir);
  if (max_length > 0) json_object_set_new(m, "max_length", json_integer(max_length));
  if (o->threads) json_object_set_new(m, "threads", json_integer(o->threads));
  if (o->tag_decoding) json_object_set_new(m, "tag_decoding", json_string(o->tag_decoding));
  json_t *root = json_pack("{s:o, s:{}}", "model", m, "batching");
  char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
  json_decref(root);
  return s;
}

static int check_flags(replay_cli *o) {
  bertd_replay_opts *r = &o->r;
  const char *missing = !r->brokers ? "--brokers HOST:PORT"
                        : !r->topic ? "--topic T"
                        : !r->schema_path ? "--schema FILE.avsc"
                        : !r->task ? "--task classify|joint|tag|embed"
                        : !o->model && !r->stored && !o->config ? "--model DIR"
                        : NULL;
  if (missing) return fail("%s is required%s", missing, "");
  if (strcmp(r->task, "classify") && strcmp(r->task, "joint") && strcmp(r->task, "tag") &&
      strcmp(r->task, "embed"))
    return fail("--task %s: expected classify, joint, tag or embed", r->task, "");
  if (r->from_offset != BERTD_REPLAY_UNSET && r->from_time_ms != BERTD_REPLAY_UNSET)
    return fail("give --from or --from-time, not both%s%s", "", "");
  if (r->to_offset != BERTD_REPLAY_UNSET && r->to_time_ms != BERTD_REPLAY_UNSET)
    return fail("give --to or --to-time, not both%s%s", "", "");
  if (r->stored && (o->model_b || r->output_topic))
    return fail("--stored scores stored predictions: no --model-b or --output-topic%s%s", "", "");
  if (r->gold_key && !r->gold_file) return fail("--gold-key goes with --gold-file%s%s", "", "");
  if (r->registry_url && !r->confluent) return fail("--registry goes with --confluent%s%s", "", "");
  if ((o->model && is_dir("--model", o->model)) || (o->model_b && is_dir("--model-b", o->model_b)))
    return -1;
  FILE *f = fopen(r->schema_path, "r");
  if (!f) return fail("--schema %s: %s", r->schema_path, strerror(errno));
  fclose(f);
  if (r->gold_file && !(f = fopen(r->gold_file, "r")))
    return fail("--gold-file %s: %s", r->gold_file, strerror(errno));
  if (r->gold_file) fclose(f);
  return 0;
}

/* A copy of a plugin JSON config with model.dir set to dir (dir NULL: unchanged); *task gets
 * its model.task. */
static char *with_model_dir(const char *json, const char *dir, char *task, size_t task_size) {
  json_error_t je;
  json_t *root = json_loads(json, 0, &je), *m = json_object_get(root, "model");
  if (!json_is_object(m)) {
    json_decref(root);
    return NULL;
  }
  if (dir) json_object_set_new(m, "dir", json_string(dir));
  if (task) snprintf(task, task_size, "%s", json_string_value(json_object_get(m, "task")) ?: "");
  char *s = json_dumps(root, JSON_COMPACT);
  json_decref(root);
  return s;
}

/* -c CONFIG --pipeline NAME: the topic, schema, framing, librdkafka properties and the plugin's
 * config of a pipeline of the daemon's file; flags given as well win (--topic, --brokers,
 * --model). --stored reads the pipeline's output topic. The daemon's group.id is not used:
 * replay reads without a group of its own. */
static int from_config(replay_cli *o, struct bertd_daemon_config **cfgp, char **ja, char **jb,
                       char *task, size_t task_size) {
  char err[1024];
  if (bertd_dconf_load(o->config, cfgp, err, sizeof err)) return fail("%s", err, "");
  const struct bertd_daemon_config *cfg = *cfgp;
  const struct bertd_pipeline_config *p = NULL;
  for (size_t i = 0; i < cfg->pipeline_count && !p; i++)
    if (!strcmp(cfg->pipelines[i].name, o->pipeline)) p = &cfg->pipelines[i];
  if (!p) return fail("--pipeline %s: %s has no pipeline of that name", o->pipeline, o->config);
  bertd_replay_opts *r = &o->r;
  if (!r->brokers) r->brokers = bertd_dconf_kafka(cfg, "bootstrap.servers");
  if (!r->topic) r->topic = r->stored ? p->output.topic : p->input.topics[0];
  if (!r->schema_path) r->schema_path = p->input.schema_path;
  if (!r->text_field) r->text_field = p->input.text_field;
  if (!r->pair_field) r->pair_field = p->input.text_pair_field;
  if (p->input.framing == BERTD_CONFIG_FRAMING_CONFLUENT) {
    r->confluent = 1;
    if (!r->registry_url) r->registry_url = cfg->schema_registry.url;
    if (!r->registry_url) r->registry_url = getenv("BERTD_SCHEMA_REGISTRY_URL");
  }
  /* the file's librdkafka properties before the -X ones (a later one wins), less the group */
  int n = 0;
  char (*props)[512] = o->file_props;
  for (size_t i = 0; i < cfg->kafka_count && n < MAX_PROPS; i++) {
    const char *k = cfg->kafka[i].name;
    if (!strcmp(k, "bootstrap.servers") || !strcmp(k, "group.id")) continue;
    snprintf(props[n++], sizeof props[0], "%s=%s", k, cfg->kafka[i].value);
  }
  if (n + o->n_props > MAX_PROPS) return fail("more than 64 kafka properties%s%s", "", "");
  memmove(o->props + n, o->props, sizeof(char *) * (size_t)o->n_props);
  for (int i = 0; i < n; i++) o->props[i] = props[i];
  o->n_props += n;
  if (!(*ja = with_model_dir(p->plugin_json, o->model, task, task_size)))
    return fail("pipeline %s: no model section%s", o->pipeline, "");
  if (o->model_b && !(*jb = with_model_dir(p->plugin_json, o->model_b, NULL, 0)))
    return fail("out of memory%s%s", "", "");
  if (r->task && strcmp(r->task, task))
    return fail("--task %s: the pipeline's model.task is %s", r->task, task);
  r->task = task;
  if (r->stored) o->model = p->model.dir_path; /* its labels */
  return 0;
}

static int write_json(const json_t *rep, const char *path) {
  FILE *f = path ? fopen(path, "w") : stdout;
  if (!f) return fail("--report-json %s: %s", path, strerror(errno));
  int rc = json_dumpf(rep, f, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
  fputc('\n', f);
  if (path && fclose(f)) rc = -1;
  return rc ? fail("--report-json %s: cannot write", path ? path : "-", "") : 0;
}

int bertd_cli_replay_main(int argc, char **argv) {
  replay_cli o;
  memset(&o, 0, sizeof o);
  bertd_replay_opts_init(&o.r);
  int p = parse(argc, argv, &o);
  if (p) return p > 0 ? 0 : 2;
  if (!o.config != !o.pipeline) {
    fprintf(stderr, "bertd replay: -c CONFIG.yaml and --pipeline NAME go together\n");
    return 2;
  }
  struct bertd_daemon_config *cfg = NULL;
  char *ja = NULL, *jb = NULL, task[64] = "";
  if (o.config && from_config(&o, &cfg, &ja, &jb, task, sizeof task)) {
    free(ja), free(jb);
    bertd_dconf_destroy(cfg);
    return 2;
  }
  if (check_flags(&o)) {
    free(ja), free(jb);
    bertd_dconf_destroy(cfg);
    return 2;
  }
  if (!o.r.text_field) o.r.text_field = "text";
  o.r.kafka_props = o.props;
  o.r.n_kafka_props = o.n_props;
  o.r.kafka_log = bertd_log_kafka;
  o.r.progress = isatty(2);
  o.r.label_model_dir = o.r.stored ? o.model : NULL;
  if (!o.r.stored && !o.config) {
    ja = plugin_json(&o, o.model);
    jb = o.model_b ? plugin_json(&o, o.model_b) : NULL;
    if (!ja || (o.model_b && !jb)) {
      fprintf(stderr, "bertd replay: out of memory\n");
      free(ja), free(jb);
      bertd_dconf_destroy(cfg);
      return 1;
    }
  }
  if (o.r.stored) free(ja), free(jb), ja = jb = NULL;
  o.r.plugin_json = ja, o.r.plugin_json_b = jb;
  char err[1024];
  json_t *rep = NULL;
  int rc = bertd_replay_run(&o.r, &rep, err, sizeof err);
  free(ja), free(jb);
  bertd_dconf_destroy(cfg); /* after the run: the options point into it */
  if (rc) {
    fprintf(stderr, "bertd replay: %s\n", err);
    return rc == BERTD_REPLAY_BAD_RANGE ? 2 : 1;
  }
  int bad = write_json(rep, o.report_json);
  if (!bad && o.report_html && bertd_replay_write_html(rep, o.report_html, err, sizeof err)) {
    fprintf(stderr, "bertd replay: --report-html %s: %s\n", o.report_html, err);
    bad = 1;
  }
  if (!bad && o.report_json) {
    const json_t *acc = json_object_get(rep, "accuracy"), *f1 = json_object_get(rep, "macro_f1"),
                 *sf = json_object_get(rep, "slot_f1");
    printf("records %lld labelled %lld undecodable %lld", 
           (long long)json_integer_value(json_object_get(rep, "records")),
           (long long)json_integer_value(json_object_get(rep, "labelled")),
           (long long)json_integer_value(json_object_get(rep, "undecodable")));
    if (acc) printf(" accuracy %.4f macro_f1 %.4f", json_real_value(acc), json_real_value(f1));
    if (sf) printf(" slot_f1 %.4f", json_real_value(sf));
    printf(" records/s %.1f\n", json_real_value(json_object_get(rep, "records_per_s")));
  }
  json_decref(rep);
  return bad ? 1 : 0;
}
