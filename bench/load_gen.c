/* load_gen.c: a steady load for bertd's latency bench (bench/latency_load.py).
 *
 *   load_gen topic   --brokers B --topic T --partitions N [--log-append-time]
 *   load_gen produce --brokers B --topic T --schema S.avsc --texts F.jsonl --rate R
 *                    --seconds D [--id-prefix P] [-X prop=val ...]
 *   load_gen drain   --brokers B --topic T --schema ENRICHED.avsc --count N [--timeout-ms MS]
 *
 * topic: creates T (or accepts it as it is), with message.timestamp.type=LogAppendTime when
 * asked, so that an output record's Kafka timestamp is the broker's append time (its delivery).
 *
 * produce: R records/s for D seconds on an absolute schedule (record i is due at start + i/R on
 * CLOCK_MONOTONIC, slept to with clock_nanosleep(TIMER_ABSTIME), so a late wake-up does not push
 * every later record back), texts from F's "text" fields cycled. Each record is encoded when it
 * is due: id "P-i" (also the Kafka key), its text, and `ts` = the wall-clock time of its send
 * in ms, which is also its Kafka timestamp (CreateTime), so the enriched record, which keeps
 * every input field, carries its own send time. linger.ms is 0 unless -X sets it, so the
 * generator holds no record back. Prints one JSON line: sent, delivered, achieved rate (records
 * over the time from the first send to the last), and how late the sends were behind schedule.
 *
 * drain: reads T from the beginning until N records (or MS without a record: default 30000) and
 * prints one JSON line per record: id, ts (the input's send time), the record's Kafka timestamp
 * and its type (1 CreateTime, 2 LogAppendTime), and bertd's queue_ms, model_ms, end_to_end_ms.
 *
 * Exit status: 0, 1 when something failed (one line on stderr), 2 for bad arguments. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bertd_avro.h"

typedef struct opts {
  const char *brokers, *topic, *schema, *texts, *id_prefix;
  double rate, seconds;
  long count, timeout_ms;
  int partitions, log_append_time;
  const char *props[32][2]; /* -X name=value */
  int nprops;
} opts;

static void usage(FILE *f) {
  fprintf(f, "usage: load_gen topic --brokers B --topic T --partitions N [--log-append-time]\n"
             "       load_gen produce --brokers B --topic T --schema S.avsc --texts F.jsonl\n"
             "                --rate R --seconds D [--id-prefix P] [-X prop=val ...]\n"
             "       load_gen drain --brokers B --topic T --schema ENRICHED.avsc --count N\n"
             "                [--timeout-ms MS]\n");
}

static int parse(int argc, char **argv, opts *o) {
  static const struct option lo[] = {{"brokers", required_argument, 0, 'b'},
                                     {"topic", required_argument, 0, 't'},
                                     {"schema", required_argument, 0, 's'},
                                     {"texts", required_argument, 0, 'f'},
                                     {"rate", required_argument, 0, 'r'},
                                     {"seconds", required_argument, 0, 'd'},
                                     {"id-prefix", required_argument, 0, 'p'},
                                     {"count", required_argument, 0, 'n'},
                                     {"timeout-ms", required_argument, 0, 'T'},
                                     {"partitions", required_argument, 0, 'P'},
                                     {"log-append-time", no_argument, 0, 'L'},
                                     {0, 0, 0, 0}};
  int c;
  optind = 2;
  while ((c = getopt_long(argc, argv, "X:", lo, NULL)) != -1) {
    switch (c) {
    case 'b': o->brokers = optarg; break;
    case 't': o->topic = optarg; break;
    case 's': o->schema = optarg; break;
    case 'f': o->texts = optarg; break;
    case 'r': o->rate = atof(optarg); break;
    case 'd': o->seconds = atof(optarg); break;
    case 'p': o->id_prefix = optarg; break;
    case 'n': o->count = atol(optarg); break;
    case 'T': o->timeout_ms = atol(optarg); break;
    case 'P': o->partitions = atoi(optarg); break;
    case 'L': o->log_append_time = 1; break;
    case 'X': {
      char *eq = strchr(optarg, '=');
      if (!eq || o->nprops == 32) {
        fprintf(stderr, "load_gen: -X %s: expected name=value (at most 32)\n", optarg);
        return -1;
      }
      *eq = 0;
      o->props[o->nprops][0] = optarg;
      o->props[o->nprops++][1] = eq + 1;
      break;
    }
    default: usage(stderr); return -1;
    }
  }
  if (!o->brokers || !o->topic) {
    usage(stderr);
    return -1;
  }
  return 0;
}

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long long wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static rd_kafka_conf_t *kafka_conf(const opts *o, char *err, size_t errsz) {
  rd_kafka_conf_t *c = rd_kafka_conf_new();
  if (rd_kafka_conf_set(c, "bootstrap.servers", o->brokers, err, errsz) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(c);
    return NULL;
  }
  return c;
}

/* ---- topic ---- */

static int cmd_topic(const opts *o) {
  char err[512];
  if (o->partitions <= 0) {
    fprintf(stderr, "load_gen topic: --partitions N (N > 0) is required\n");
    return 2;
  }
  rd_kafka_conf_t *c = kafka_conf(o, err, sizeof err);
  rd_kafka_t *rk = c ? rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err) : NULL;
  if (!rk) {
    if (c) rd_kafka_conf_destroy(c);
    fprintf(stderr, "load_gen topic: %s\n", err);
    return 1;
  }
  rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(o->topic, o->partitions, 1, err, sizeof err);
  if (nt && o->log_append_time &&
      rd_kafka_NewTopic_set_config(nt, "message.timestamp.type", "LogAppendTime")) {
    snprintf(err, sizeof err, "cannot set message.timestamp.type");
    rd_kafka_NewTopic_destroy(nt);
    nt = NULL;
  }
  int rc = 1;
  if (nt) {
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (!ev) {
      snprintf(err, sizeof err, "no answer within 30 s");
    } else {
      const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
      size_t n = 0;
      const rd_kafka_topic_result_t **tr = res ? rd_kafka_CreateTopics_result_topics(res, &n)
                                               : NULL;
      rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
      if (!e && n == 1) e = rd_kafka_topic_result_error(tr[0]);
      if (!e || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) rc = 0;
      else snprintf(err, sizeof err, "%s", rd_kafka_err2str(e));
      rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
  }
  rd_kafka_destroy(rk);
  if (rc) fprintf(stderr, "load_gen topic %s: %s\n", o->topic, err);
  return rc;
}

/* ---- produce ---- */

typedef struct counts {
  long delivered, failed;
} counts;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  counts *c = opaque;
  if (m->err) c->failed++;
  else c->delivered++;
}

/* The "text" of every line of path, in order. */
static json_t *load_texts(const char *path, char *err, size_t errsz) {
  json_error_t je;
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errsz, "%s: %s", path, strerror(errno));
    return NULL;
  }
  json_t *texts = json_array();
  char *line = NULL;
  size_t cap = 0;
  long no = 0;
  while (getline(&line, &cap, f) >= 0) {
    no++;
    json_t *j = json_loads(line, 0, &je);
    json_t *t = j ? json_object_get(j, "text") : NULL;
    if (!json_is_string(t)) {
      snprintf(err, errsz, "%s:%ld: no \"text\" string", path, no);
      json_decref(j);
      json_decref(texts);
      texts = NULL;
      break;
    }
    json_array_append(texts, t);
    json_decref(j);
  }
  free(line);
  fclose(f);
  if (texts && !json_array_size(texts)) {
    snprintf(err, errsz, "%s: no lines", path);
    json_decref(texts);
    texts = NULL;
  }
  return texts;
}

static int cmd_produce(const opts *o) {
  char err[512];
  if (!o->schema || !o->texts || o->rate <= 0 || o->seconds <= 0) {
    fprintf(stderr, "load_gen produce: --schema, --texts, --rate R > 0, --seconds D > 0 are "
                    "required\n");
    return 2;
  }
  json_t *texts = load_texts(o->texts, err, sizeof err);
  bertd_avro_schema *s = NULL;
  bertd_codec *codec = NULL;
  bertd_codec_conf cc = {.framing = BERTD_FRAMING_PLAIN, .output_schema_id = -1,
                         .input_schema_id = -1, .decode_only = 1};
  if (!texts || bertd_avro_schema_load(o->schema, &s, err, sizeof err) ||
      bertd_codec_create(&cc, s, &codec, err, sizeof err)) {
    fprintf(stderr, "load_gen produce: %s\n", err);
    json_decref(texts);
    bertd_avro_schema_free(s);
    return 1;
  }
  bertd_avro_schema_free(s);
  counts cnt = {0, 0};
  rd_kafka_conf_t *c = kafka_conf(o, err, sizeof err);
  int ok = c && rd_kafka_conf_set(c, "linger.ms", "0", err, sizeof err) == RD_KAFKA_CONF_OK;
  for (int i = 0; ok && i < o->nprops; i++)
    ok = rd_kafka_conf_set(c, o->props[i][0], o->props[i][1], err, sizeof err) ==
         RD_KAFKA_CONF_OK;
  rd_kafka_t *rk = NULL;
  if (ok) {
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    rd_kafka_conf_set_opaque(c, &cnt);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
  }
  if (!rk) {
    if (c) rd_kafka_conf_destroy(c);
    fprintf(stderr, "load_gen produce: %s\n", err);
    bertd_codec_free(codec);
    json_decref(texts);
    return 1;
  }
  /* connected before the clock starts: the first records would otherwise carry the producer's
   * start-up (metadata, connection) in their latency, which is the generator's, not bertd's */
  rd_kafka_topic_t *th = rd_kafka_topic_new(rk, o->topic, NULL);
  const struct rd_kafka_metadata *md = NULL;
  if (!th || rd_kafka_metadata(rk, 0, th, &md, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    fprintf(stderr, "load_gen produce: no metadata for %s within 30 s\n", o->topic);
    if (th) rd_kafka_topic_destroy(th);
    rd_kafka_destroy(rk);
    bertd_codec_free(codec);
    json_decref(texts);
    return 1;
  }
  rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(th);
  const long n = (long)(o->rate * o->seconds + 0.5);
  const size_t nt = json_array_size(texts);
  const char *prefix = o->id_prefix ? o->id_prefix : "r";
  double late_max = 0, late_sum = 0, first = 0, last = 0;
  int rc = 0;
  const double t0 = mono_s() + 0.01;
  for (long i = 0; i < n && !rc; i++) {
    double due = t0 + (double)i / o->rate;
    struct timespec ts = {(time_t)due, (long)((due - (double)(time_t)due) * 1e9)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
    double now = mono_s();
    if (now - due > late_max) late_max = now - due;
    late_sum += now - due;
    if (i == 0) first = now;
    last = now;
    char id[64];
    snprintf(id, sizeof id, "%s-%ld", prefix, i);
    long long ms = wall_ms();
    json_t *rec = json_pack("{s:s, s:O, s:{s:I}}", "id", id, "text",
                            json_array_get(texts, (size_t)i % nt), "ts", "long", (json_int_t)ms);
    void *val = NULL;
    size_t len = 0;
    if (!rec || bertd_codec_encode_input(codec, rec, &val, &len, err, sizeof err)) {
      fprintf(stderr, "load_gen produce: record %ld: %s\n", i, rec ? err : "out of memory");
      json_decref(rec);
      rc = 1;
      break;
    }
    json_decref(rec);
    for (;;) {
      rd_kafka_resp_err_t e = rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_VALUE(val, len),
          RD_KAFKA_V_KEY(id, strlen(id)), RD_KAFKA_V_TIMESTAMP(ms),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk, 10);
        continue;
      }
      if (e) {
        fprintf(stderr, "load_gen produce: record %ld: %s\n", i, rd_kafka_err2str(e));
        free(val);
        rc = 1;
      }
      break;
    }
    rd_kafka_poll(rk, 0);
  }
  while (rd_kafka_outq_len(rk) > 0) rd_kafka_flush(rk, 10000);
  rd_kafka_destroy(rk);
  bertd_codec_free(codec);
  json_decref(texts);
  double span = last - first;
  printf("{\"sent\": %ld, \"delivered\": %ld, \"failed\": %ld, \"target_rate\": %.1f, "
         "\"achieved_rate\": %.2f, \"late_mean_ms\": %.3f, \"late_max_ms\": %.3f}\n",
         n, cnt.delivered, cnt.failed, o->rate, n > 1 && span > 0 ? (n - 1) / span : 0.0,
         n ? 1000 * late_sum / n : 0.0, 1000 * late_max);
  if (cnt.failed) {
    fprintf(stderr, "load_gen produce: %ld records not delivered\n", cnt.failed);
    rc = 1;
  }
  return rc;
}

/* ---- drain ---- */

/* A union's value in Avro's JSON encoding ({"double": 1.5}) or a plain value. */
static json_t *unwrap(json_t *v) {
  if (json_is_object(v) && json_object_size(v) == 1)
    return json_object_iter_value(json_object_iter(v));
  return v;
}

static int cmd_drain(const opts *o) {
  char err[512];
  if (!o->schema || o->count <= 0) {
    fprintf(stderr, "load_gen drain: --schema and --count N > 0 are required\n");
    return 2;
  }
  bertd_avro_schema *s = NULL;
  bertd_codec *codec = NULL;
  bertd_codec_conf cc = {.framing = BERTD_FRAMING_PLAIN, .output_schema_id = -1,
                         .input_schema_id = -1, .decode_only = 1};
  if (bertd_avro_schema_load(o->schema, &s, err, sizeof err) ||
      bertd_codec_create(&cc, s, &codec, err, sizeof err)) {
    fprintf(stderr, "load_gen drain: %s\n", err);
    bertd_avro_schema_free(s);
    return 1;
  }
  bertd_avro_schema_free(s);
  rd_kafka_conf_t *c = kafka_conf(o, err, sizeof err);
  char group[128];
  snprintf(group, sizeof group, "load-gen-drain-%lld", wall_ms());
  rd_kafka_t *rk = NULL;
  if (c && rd_kafka_conf_set(c, "group.id", group, err, sizeof err) == RD_KAFKA_CONF_OK &&
      rd_kafka_conf_set(c, "auto.offset.reset", "earliest", err, sizeof err) == RD_KAFKA_CONF_OK &&
      rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err) == RD_KAFKA_CONF_OK)
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
  else if (c)
    rd_kafka_conf_destroy(c);
  if (!rk) {
    fprintf(stderr, "load_gen drain: %s\n", err);
    bertd_codec_free(codec);
    return 1;
  }
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(sub, o->topic, RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(rk, sub);
  rd_kafka_topic_partition_list_destroy(sub);
  long got = 0, bad = 0;
  long timeout = o->timeout_ms > 0 ? o->timeout_ms : 30000;
  double last = mono_s();
  while (got < o->count && (mono_s() - last) * 1000 < timeout) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        fprintf(stderr, "load_gen drain: %s\n", rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      continue;
    }
    last = mono_s();
    bertd_record *r = NULL;
    bertd_codec_reason reason;
    json_t *j = NULL;
    if (bertd_codec_decode_any(codec, m->payload, m->len, &r, &reason, err, sizeof err) ||
        bertd_record_to_json(r, &j, err, sizeof err)) {
      fprintf(stderr, "load_gen drain: offset %lld: %s\n", (long long)m->offset, err);
      bad++;
    } else {
      rd_kafka_timestamp_type_t tt;
      int64_t kts = rd_kafka_message_timestamp(m, &tt);
      json_t *b = json_object_get(j, "bertd");
      json_t *out = json_pack(
          "{s:O, s:O, s:I, s:i, s:O, s:O, s:O}", "id", json_object_get(j, "id"), "ts",
          unwrap(json_object_get(j, "ts")), "kafka_ts", (json_int_t)kts, "kafka_ts_type",
          (int)tt, "queue_ms", unwrap(json_object_get(b, "queue_ms")), "model_ms",
          unwrap(json_object_get(b, "model_ms")), "end_to_end_ms",
          unwrap(json_object_get(b, "end_to_end_ms")));
      char *line = out ? json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
      if (line) puts(line);
      free(line);
      json_decref(out);
      got++;
    }
    json_decref(j);
    bertd_record_free(r);
    rd_kafka_message_destroy(m);
  }
  fflush(stdout);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  bertd_codec_free(codec);
  if (got < o->count) {
    fprintf(stderr, "load_gen drain: %ld of %ld records within %ld ms of the last\n", got,
            o->count, timeout);
    return 1;
  }
  return bad ? 1 : 0;
}

int main(int argc, char **argv) {
  opts o = {0};
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (parse(argc, argv, &o)) return 2;
  if (!strcmp(argv[1], "topic")) return cmd_topic(&o);
  if (!strcmp(argv[1], "produce")) return cmd_produce(&o);
  if (!strcmp(argv[1], "drain")) return cmd_drain(&o);
  usage(stderr);
  return 2;
}
