/* cli_consume.c: `bertd consume`: prints a topic's records as JSONL, each the Avro record in
 * Avro's JSON encoding plus _key, _partition, _offset and _headers. It assigns every partition
 * itself instead of joining a group, so it is a pure reader: no group, no commits, no rebalances
 * that would disturb the daemon's group. */
#include "cli_consume.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_kafka.h"
#include "cli_options.h"

typedef struct consume_opts {
  cli_kafka_opts k;
  int from_beginning;
  long long offset; /* -1: not given */
  long count;       /* 0: no limit */
  int until_eof;
  long timeout_ms;  /* 0: wait for ever; else give up after this long without a record */
} consume_opts;

static void usage(FILE *f) {
  fprintf(f,
          "usage: bertd consume --brokers HOST:PORT --topic T --schema FILE.avsc\n"
          "       [--from-beginning | --offset N] [--count N | --until-eof] [--timeout-ms N]\n"
          "       [-X prop=val ...] [--confluent (--registry URL | --schema-id N)]\n"
          "Prints the topic's records as JSONL (Avro JSON encoding) with _key, _partition,\n"
          "_offset and _headers added. Reads every partition from the end (default), the\n"
          "beginning, or offset N, without joining a consumer group. Stops after --count\n"
          "records, at the end of every partition with --until-eof, or after --timeout-ms\n"
          "without a record (exit status 1 when that leaves --count or --until-eof unmet).\n"
          "A record that does not decode is reported on stderr (exit status 1 at the end).\n"
          "--raw (no --schema): values are not decoded but printed as _value_hex.\n");
}

static int number(const char *arg, long long lo, long long *out, const char *opt) {
  char *end = NULL;
  *out = strtoll(arg, &end, 10);
  if (!*arg || *end || *out < lo) {
    fprintf(stderr, "bertd consume: %s: '%s' is not a number >= %lld\n", opt, arg, lo);
    return -1;
  }
  return 0;
}

static int parse(int argc, char **argv, consume_opts *o) {
  static const struct option longopts[] = {CLI_KAFKA_LONGOPTS,
                                           {"from-beginning", no_argument, 0, 'b'},
                                           {"offset", required_argument, 0, 'o'},
                                           {"count", required_argument, 0, 'c'},
                                           {"until-eof", no_argument, 0, 'e'},
                                           {"timeout-ms", required_argument, 0, 'T'},
                                           {"raw", no_argument, 0, 'r'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  optind = 1;
  int c;
  long long v;
  opterr = 0; /* getopt's own messages do not name the command; ours below do */
  while ((c = getopt_long(argc, argv, ":" CLI_KAFKA_SHORTOPTS "h", longopts, NULL)) != -1) {
    int r = bertd_cli_kafka_option(&o->k, c, optarg, "consume");
    if (r < 0) return -1;
    if (r > 0) continue;
    switch (c) {
    case 'b': o->from_beginning = 1; break;
    case 'o':
      if (number(optarg, 0, &o->offset, "--offset")) return -1;
      break;
    case 'c':
      if (number(optarg, 1, &v, "--count")) return -1;
      o->count = (long)v;
      break;
    case 'e': o->until_eof = 1; break;
    case 'r': o->k.raw = 1; break;
    case 'T':
      if (number(optarg, 1, &v, "--timeout-ms")) return -1;
      o->timeout_ms = (long)v;
      break;
    case 'h': usage(stdout); return 1;
    default: /* ':' or '?' */
      bertd_cli_option_error("consume", c, argv, optind);
      return -1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "bertd consume: unexpected argument '%s'\n", argv[optind]);
    return -1;
  }
  if (o->from_beginning && o->offset >= 0) {
    fprintf(stderr, "bertd consume: give --from-beginning or --offset, not both\n");
    return -1;
  }
  if (o->count && o->until_eof) {
    fprintf(stderr, "bertd consume: give --count or --until-eof, not both\n");
    return -1;
  }
  return bertd_cli_kafka_check(&o->k, "consume");
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Bytes that may not be UTF-8 (keys, header values) as a JSON string; jansson refuses invalid
 * UTF-8, so those become an array of byte values instead. */
static json_t *bytes_json(const void *p, size_t n) {
  if (!p) return json_null();
  json_t *s = json_stringn(p, n);
  if (s) return s;
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer(((const unsigned char *)p)[i]));
  return a;
}

static json_t *headers_json(const rd_kafka_message_t *m) {
  json_t *out = json_array();
  rd_kafka_headers_t *hdrs = NULL;
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return out;
  const char *name;
  const void *val;
  size_t size;
  /* an array of [name, value] pairs: Kafka allows a header name more than once */
  for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++)
    json_array_append_new(out, json_pack("[s,o]", name, bytes_json(val, size)));
  return out;
}

/* Every partition of the topic at the start position. */
static int assign_all(rd_kafka_t *rk, const consume_opts *o, int *n_parts, char *errstr,
                      size_t errstr_size) {
  rd_kafka_topic_t *t = rd_kafka_topic_new(rk, o->k.topic, NULL);
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, 10000);
  rd_kafka_topic_destroy(t);
  if (e) {
    snprintf(errstr, errstr_size, "topic %s: metadata: %s", o->k.topic, rd_kafka_err2str(e));
    return -1;
  }
  int rc = -1;
  if (md->topic_cnt != 1 || md->topics[0].err) {
    snprintf(errstr, errstr_size, "topic %s: %s", o->k.topic,
             md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not found");
  } else if (md->topics[0].partition_cnt == 0) {
    snprintf(errstr, errstr_size, "topic %s has no partitions", o->k.topic);
  } else {
    const struct rd_kafka_metadata_topic *mt = &md->topics[0];
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(mt->partition_cnt);
    int64_t start = o->from_beginning ? RD_KAFKA_OFFSET_BEGINNING
                    : o->offset >= 0  ? (int64_t)o->offset
                                      : RD_KAFKA_OFFSET_END;
    for (int i = 0; i < mt->partition_cnt; i++)
      rd_kafka_topic_partition_list_add(parts, o->k.topic, mt->partitions[i].id)->offset = start;
    e = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (e) snprintf(errstr, errstr_size, "assign: %s", rd_kafka_err2str(e));
    else {
      *n_parts = mt->partition_cnt;
      rc = 0;
    }
  }
  rd_kafka_metadata_destroy(md);
  return rc;
}

static rd_kafka_t *make_consumer(const consume_opts *o, char *errstr, size_t errstr_size) {
  rd_kafka_conf_t *conf = bertd_cli_kafka_conf(&o->k, errstr, errstr_size);
  if (!conf) return NULL;
  /* a reader that never commits; a -X of the same name wins. librdkafka's assign() wants a
   * group.id, but with explicit start offsets and no commits the group is never joined and
   * nothing is stored under it. */
  static const char *const fixed[][2] = {{"enable.partition.eof", "true"},
                                         {"enable.auto.commit", "false"},
                                         {"enable.auto.offset.store", "false"},
                                         {"group.id", "bertd-consume-cli"}};
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
    char tmp[512];
    int user_set = 0;
    for (int p = 0; p < o->k.n_props; p++)
      if (!strncmp(o->k.props[p], fixed[i][0], strlen(fixed[i][0])) &&
          o->k.props[p][strlen(fixed[i][0])] == '=')
        user_set = 1;
    if (!user_set && rd_kafka_conf_set(conf, fixed[i][0], fixed[i][1], tmp, sizeof tmp) !=
                         RD_KAFKA_CONF_OK) {
      snprintf(errstr, errstr_size, "%s: %.400s", fixed[i][0], tmp);
      rd_kafka_conf_destroy(conf);
      return NULL;
    }
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
  if (!rk) rd_kafka_conf_destroy(conf);
  return rk;
}

int bertd_cli_consume_main(int argc, char **argv) {
  consume_opts o = {.k = {.schema_id = -1}, .offset = -1};
  int pr = parse(argc, argv, &o);
  if (pr) return pr > 0 ? 0 : 2;
  char err[512];
  bertd_registry *reg = NULL;
  bertd_codec *codec = NULL;
  if (!o.k.raw && bertd_cli_kafka_codec(&o.k, NULL, &reg, &codec, err, sizeof err)) {
    fprintf(stderr, "bertd consume: %s\n", err);
    return 1;
  }
  rd_kafka_t *rk = make_consumer(&o, err, sizeof err);
  int n_parts = 0, rc = 0;
  if (!rk || assign_all(rk, &o, &n_parts, err, sizeof err)) {
    fprintf(stderr, "bertd consume: %s\n", err);
    if (rk) rd_kafka_destroy(rk);
    bertd_codec_free(codec);
    bertd_registry_free(reg);
    return 1;
  }
  char *at_eof = calloc((size_t)n_parts, 1); /* indexed by partition id: ids are 0..n-1 */
  int n_eof = 0;
  long printed = 0, bad = 0;
  long long last = now_ms();
  for (;;) {
    if (o.count && printed >= o.count) break;
    if (o.until_eof && n_eof == n_parts) break;
    if (o.timeout_ms && now_ms() - last >= o.timeout_ms) {
      if (o.count || o.until_eof) {
        fprintf(stderr, "bertd consume: no record for %ld ms (%ld printed)\n", o.timeout_ms,
                printed);
        rc = 1;
      }
      break;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (m->partition >= 0 && m->partition < n_parts && !at_eof[m->partition]) {
        at_eof[m->partition] = 1;
        n_eof++;
      }
    } else if (m->err) {
      fprintf(stderr, "bertd consume: %s\n", rd_kafka_message_errstr(m));
      if (m->err != RD_KAFKA_RESP_ERR__TRANSPORT) rc = 1;
      if (rd_kafka_fatal_error(rk, NULL, 0)) {
        rd_kafka_message_destroy(m);
        break;
      }
    } else {
      last = now_ms();
      if (m->partition >= 0 && m->partition < n_parts && at_eof[m->partition]) {
        at_eof[m->partition] = 0; /* more arrived after the end was seen */
        n_eof--;
      }
      bertd_record *r = NULL;
      bertd_codec_reason reason;
      json_t *j = NULL;
      if (o.k.raw) {
        static const char hexd[] = "0123456789abcdef";
        char *hex = malloc(2 * m->len + 1);
        for (size_t i = 0; hex && i < m->len; i++) {
          hex[2 * i] = hexd[((const unsigned char *)m->payload)[i] >> 4];
          hex[2 * i + 1] = hexd[((const unsigned char *)m->payload)[i] & 15];
        }
        if (hex) hex[2 * m->len] = 0;
        j = json_pack("{s:s?}", "_value_hex", hex);
        free(hex);
      }
      if (!j && (bertd_codec_decode_any(codec, m->payload, m->len, &r, &reason, err, sizeof err) ||
                 bertd_record_to_json(r, &j, err, sizeof err))) {
        fprintf(stderr, "bertd consume: %s [%d] offset %lld: %s: %s\n", o.k.topic,
                (int)m->partition, (long long)m->offset,
                r ? "JSON" : bertd_codec_reason_name(reason), err);
        bad++;
      } else {
        json_object_set_new(j, "_key", bytes_json(m->key, m->key_len));
        json_object_set_new(j, "_partition", json_integer(m->partition));
        json_object_set_new(j, "_offset", json_integer(m->offset));
        json_object_set_new(j, "_headers", headers_json(m));
        char *line = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9));
        if (line) {
          puts(line);
          free(line);
        }
        printed++;
      }
      json_decref(j);
      bertd_record_free(r);
    }
    rd_kafka_message_destroy(m);
  }
  fflush(stdout);
  if (bad) {
    fprintf(stderr, "bertd consume: %ld records did not decode\n", bad);
    rc = 1;
  }
  free(at_eof);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  bertd_codec_free(codec);
  bertd_registry_free(reg);
  return rc;
}
