/* cli_produce.c: `bertd produce`: each JSONL line is a record of --schema (Avro JSON encoding;
 * plain values for unambiguous unions), encoded and produced with its key taken from
 * --key-field. Every line is converted before anything is sent: a bad line is reported
 * (FILE:LINE: why) and skipped, the good ones are sent and the exit status is 1; with --strict
 * a bad line stops the run before anything is sent. The idempotent producer sends them and
 * every delivery report is waited for. */
#include "cli_produce.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_jsonl.h"
#include "cli_kafka.h"
#include "cli_options.h"

typedef struct produce_opts {
  cli_kafka_opts k;
  const char *key_field, *input;
  int strict; /* a bad line stops the run (nothing is sent) instead of being skipped */
} produce_opts;

typedef struct pending {
  void *value;
  size_t len;
  char *key; /* NULL: no key */
  size_t key_len;
} pending;

typedef struct delivery {
  long delivered, failed;
  char first_error[512];
} delivery;

static void usage(FILE *f) {
  fprintf(f,
          "usage: bertd produce --brokers HOST:PORT --topic T --schema FILE.avsc\n"
          "       [--key-field NAME] [--input FILE.jsonl] [--strict] [-X prop=val ...]\n"
          "       [--confluent (--registry URL | --schema-id N)]\n"
          "Reads JSONL records of the schema (Avro JSON encoding; a union may also be given as a\n"
          "plain value when one branch fits), produces them as Avro with the field --key-field as\n"
          "the key, waits for every delivery, and prints how many were delivered. --confluent\n"
          "frames them as Confluent's wire format with the schema registered under T-value at\n"
          "--registry, or with the fixed --schema-id. A bad line is reported as FILE:LINE and\n"
          "skipped (the exit status is then 1); --strict stops at it before anything is sent.\n"
          "--raw (no --schema): each line is {\"key\": ..., \"value_hex\": ...} and the value's\n"
          "bytes are produced as they are (for replaying dead letters and testing bad input).\n");
}

static int parse(int argc, char **argv, produce_opts *o) {
  static const struct option longopts[] = {CLI_KAFKA_LONGOPTS,
                                           {"key-field", required_argument, 0, 'k'},
                                           {"input", required_argument, 0, 'i'},
                                           {"raw", no_argument, 0, 'r'},
                                           {"strict", no_argument, 0, 'S'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  optind = 1;
  opterr = 0; /* getopt's own messages do not name the command; ours below do */
  int c;
  while ((c = getopt_long(argc, argv, ":" CLI_KAFKA_SHORTOPTS "k:i:rSh", longopts, NULL)) != -1) {
    int r = bertd_cli_kafka_option(&o->k, c, optarg, "produce");
    if (r < 0) return -1;
    if (r > 0) continue;
    switch (c) {
    case 'k': o->key_field = optarg; break;
    case 'i': o->input = optarg; break;
    case 'r': o->k.raw = 1; break;
    case 'S': o->strict = 1; break;
    case 'h': usage(stdout); return 1;
    default: /* ':' or '?' */
      bertd_cli_option_error("produce", c, argv, optind);
      return -1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "bertd produce: unexpected argument '%s'\n", argv[optind]);
    return -1;
  }
  return bertd_cli_kafka_check(&o->k, "produce");
}

/* The key: the field's value as text (a string as is, a number as JSON; a tagged union's
 * value). A missing or null field is no key. */
static int key_of(const json_t *obj, const char *field, char **key, size_t *len, char *errstr,
                  size_t errstr_size) {
  *key = NULL;
  *len = 0;
  const json_t *v = json_object_get(obj, field);
  if (json_is_object(v) && json_object_size(v) == 1)
    v = json_object_iter_value(json_object_iter((json_t *)v));
  if (!v || json_is_null(v)) return 0;
  if (json_is_string(v)) {
    *len = json_string_length(v);
    *key = malloc(*len + 1);
    if (*key) memcpy(*key, json_string_value(v), *len + 1);
  } else if (json_is_number(v) || json_is_boolean(v)) {
    *key = json_dumps(v, JSON_ENCODE_ANY);
    if (*key) *len = strlen(*key);
  } else {
    snprintf(errstr, errstr_size, "key field '%s' is not a string, number or boolean", field);
    return -1;
  }
  if (!*key) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  return 0;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  delivery *d = opaque;
  if (m->err) {
    if (!d->failed++)
      snprintf(d->first_error, sizeof d->first_error, "%s", rd_kafka_err2str(m->err));
  } else {
    d->delivered++;
  }
}

/* --raw: {"key": string|null, "value_hex": "..."} -> the bytes themselves. */
static int raw_record(const json_t *obj, pending *r, char *errstr, size_t errstr_size) {
  const json_t *hex = json_object_get(obj, "value_hex");
  if (!json_is_string(hex) || json_string_length(hex) % 2) {
    snprintf(errstr, errstr_size, "value_hex: expected a string of hex digit pairs");
    return -1;
  }
  size_t n = json_string_length(hex) / 2;
  const char *h = json_string_value(hex);
  unsigned char *v = malloc(n ? n : 1);
  if (!v) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned x;
    if (sscanf(h + 2 * i, "%2x", &x) != 1) {
      free(v);
      snprintf(errstr, errstr_size, "value_hex: bad hex digits at %zu", 2 * i);
      return -1;
    }
    v[i] = (unsigned char)x;
  }
  r->value = v;
  r->len = n;
  return key_of(obj, "key", &r->key, &r->key_len, errstr, errstr_size);
}

/* Reads and converts every line; a bad one is reported as FILE:LINE: message and counted in
 * *bad (with --strict, reading stops there). Returns 0, or 1 when reading itself failed. */
static int read_records(bertd_codec *codec, const produce_opts *o, FILE *in, const char *src,
                        pending **out, long *n_out, long *bad) {
  pending *p = NULL;
  long n = 0, cap = 0, line_no = 0;
  char *line = NULL, err[512];
  size_t lcap = 0;
  ssize_t len;
  int rc = 0;
  while ((len = getline(&line, &lcap, in)) >= 0) {
    line_no++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
    if (len == 0) continue;
    json_t *obj = bertd_cli_jsonl_parse(line, (size_t)len, err, sizeof err);
    if (!obj) {
      fprintf(stderr, "bertd produce: %s:%ld: %s\n", src, line_no, err);
      ++*bad;
      if (o->strict) break;
      continue;
    }
    if (n == cap) {
      cap = cap ? cap * 2 : 256;
      pending *np = realloc(p, sizeof(*p) * (size_t)cap);
      if (!np) {
        fprintf(stderr, "bertd produce: %s:%ld: out of memory\n", src, line_no);
        json_decref(obj);
        rc = 1;
        break;
      }
      p = np;
    }
    pending *r = &p[n];
    memset(r, 0, sizeof(*r));
    if (o->k.raw ? raw_record(obj, r, err, sizeof err)
                 : ((o->key_field && key_of(obj, o->key_field, &r->key, &r->key_len, err,
                                            sizeof err)) ||
                    bertd_codec_encode_input(codec, obj, &r->value, &r->len, err, sizeof err))) {
      fprintf(stderr, "bertd produce: %s:%ld: %s\n", src, line_no, err);
      free(r->key);
      json_decref(obj);
      ++*bad;
      if (o->strict) break;
      continue;
    }
    n++;
    json_decref(obj);
  }
  free(line);
  if (rc == 0 && ferror(in)) {
    fprintf(stderr, "bertd produce: %s: read error after line %ld\n", src, line_no);
    rc = 1;
  }
  *out = p;
  *n_out = n;
  return rc;
}

static int send_all(rd_kafka_t *rk, const char *topic, pending *p, long n) {
  for (long i = 0; i < n; i++) {
    for (;;) {
      /* RD_KAFKA_MSG_F_FREE: librdkafka frees the value once delivered (or failed) */
      rd_kafka_resp_err_t e = rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(p[i].value, p[i].len),
          RD_KAFKA_V_KEY(p[i].key, p[i].key_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
          RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk, 100); /* serve delivery reports to make room */
        continue;
      }
      if (e) {
        fprintf(stderr, "bertd produce: record %ld: %s\n", i + 1, rd_kafka_err2str(e));
        return -1;
      }
      p[i].value = NULL;
      break;
    }
    rd_kafka_poll(rk, 0);
  }
  return 0;
}

int bertd_cli_produce_main(int argc, char **argv) {
  produce_opts o = {.k = {.schema_id = -1}};
  int pr = parse(argc, argv, &o);
  if (pr) return pr > 0 ? 0 : 2;
  char err[512], subject[512];
  snprintf(subject, sizeof subject, "%s-value", o.k.topic); /* TopicNameStrategy */
  bertd_registry *reg = NULL;
  bertd_codec *codec = NULL;
  if (!o.k.raw && bertd_cli_kafka_codec(&o.k, subject, &reg, &codec, err, sizeof err)) {
    fprintf(stderr, "bertd produce: %s\n", err);
    return 1;
  }
  FILE *in = stdin;
  const char *src = o.input ? o.input : "<stdin>";
  if (o.input && !(in = fopen(o.input, "r"))) {
    fprintf(stderr, "bertd produce: --input %s: %s\n", o.input, strerror(errno));
    bertd_codec_free(codec);
    bertd_registry_free(reg);
    return 2;
  }
  pending *p = NULL;
  long n = 0, bad = 0;
  int rc = read_records(codec, &o, in, src, &p, &n, &bad);
  if (bad && o.strict) rc = 1; /* --strict: nothing is sent */
  if (in != stdin) fclose(in);
  bertd_codec_free(codec);
  bertd_registry_free(reg);

  delivery d = {0};
  rd_kafka_t *rk = NULL;
  if (rc == 0) {
    rd_kafka_conf_t *conf = bertd_cli_kafka_conf(&o.k, err, sizeof err);
    if (conf && rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err) !=
                    RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      conf = NULL;
    }
    if (conf) {
      rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
      rd_kafka_conf_set_opaque(conf, &d);
      if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err)))
        rd_kafka_conf_destroy(conf);
    }
    if (!rk) {
      fprintf(stderr, "bertd produce: %s\n", err);
      rc = 1;
    }
  }
  if (rc == 0 && send_all(rk, o.k.topic, p, n)) rc = 1;
  if (rk) {
    /* every report: flush until the queue is empty (each call waits up to 10 s) */
    while (rd_kafka_outq_len(rk) > 0) rd_kafka_flush(rk, 10000);
    rd_kafka_destroy(rk);
  }
  if (d.failed) {
    fprintf(stderr, "bertd produce: %ld of %ld records not delivered: %s\n", d.failed, n,
            d.first_error);
    rc = 1;
  }
  if (rk) printf("%ld\n", d.delivered);
  if (bad) {
    fprintf(stderr, "bertd produce: %ld bad line%s %s\n", bad, bad == 1 ? "" : "s",
            o.strict ? "(--strict: nothing sent)" : "skipped");
    rc = 1;
  }
  for (long i = 0; i < n; i++) {
    free(p[i].value);
    free(p[i].key);
  }
  free(p);
  return rc;
}
