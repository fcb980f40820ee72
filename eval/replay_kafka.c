/* replay_kafka.c: the range of a topic, read with assign() only (no group joined, no offset
 * committed), ends resolved from the watermarks and offsets_for_times at start. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay_internal.h"

#define META_TIMEOUT_MS 10000

rd_kafka_conf_t *bertd_rp_kafka_conf(const bertd_replay_opts *o, char *errstr, size_t errstr_size) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  char rk_err[512];
  if (o->kafka_log) rd_kafka_conf_set_log_cb(conf, o->kafka_log);
  if (rd_kafka_conf_set(conf, "bootstrap.servers", o->brokers, rk_err, sizeof rk_err) !=
      RD_KAFKA_CONF_OK) {
    snprintf(errstr, errstr_size, "bootstrap.servers: %s", rk_err);
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  for (int i = 0; i < o->n_kafka_props; i++) {
    const char *p = o->kafka_props[i], *eq = strchr(p, '=');
    char name[256];
    if (!eq) {
      snprintf(errstr, errstr_size, "-X %s: expected name=value", p);
      rd_kafka_conf_destroy(conf);
      return NULL;
    }
    snprintf(name, sizeof name, "%.*s", (int)(eq - p), p);
    if (rd_kafka_conf_set(conf, name, eq + 1, rk_err, sizeof rk_err) != RD_KAFKA_CONF_OK) {
      snprintf(errstr, errstr_size, "-X %s: %s", p, rk_err);
      rd_kafka_conf_destroy(conf);
      return NULL;
    }
  }
  return conf;
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *errstr,
                    size_t errstr_size) {
  char rk_err[256];
  if (rd_kafka_conf_set(conf, k, v, rk_err, sizeof rk_err) == RD_KAFKA_CONF_OK) return 0;
  snprintf(errstr, errstr_size, "%s: %s", k, rk_err);
  return -1;
}

/* The offset of the first record at or after ts_ms in partition p; hi when there is none. */
static int offset_for_time(rd_kafka_t *rk, const char *topic, int32_t p, int64_t ts_ms,
                           int64_t hi, int64_t *out, char *errstr, size_t errstr_size) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic, p)->offset = ts_ms;
  rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, l, META_TIMEOUT_MS);
  if (!err) err = l->elems[0].err;
  int64_t off = l->elems[0].offset;
  rd_kafka_topic_partition_list_destroy(l);
  if (err) {
    snprintf(errstr, errstr_size, "%s [%d]: offsets for time %lld: %s", topic, (int)p,
             (long long)ts_ms, rd_kafka_err2str(err));
    return -1;
  }
  *out = off < 0 ? hi : off; /* -1: no record at or after the time */
  return 0;
}

int bertd_rp_reader_open(const bertd_replay_opts *o, rp_reader *r, char *errstr, size_t errstr_size) {
  memset(r, 0, sizeof *r);
  char rk_err[512];
  rd_kafka_conf_t *conf = bertd_rp_kafka_conf(o, errstr, errstr_size);
  if (!conf) return BERTD_REPLAY_BAD_RANGE;
  /* librdkafka's assign() wants a group.id; with assign() (never subscribe) and no commits the
   * group is never joined and nothing is stored under it. Set after the -X options, so no
   * -X can point the replay at a production group's offsets. */
  if (conf_set(conf, "group.id", "bertd-replay", errstr, errstr_size) ||
      conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
      conf_set(conf, "enable.auto.offset.store", "false", errstr, errstr_size) ||
      conf_set(conf, "enable.partition.eof", "true", errstr, errstr_size) ||
      conf_set(conf, "allow.auto.create.topics", "false", errstr, errstr_size)) {
    rd_kafka_conf_destroy(conf);
    return BERTD_REPLAY_BAD_RANGE;
  }
  if (!(r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rk_err, sizeof rk_err))) {
    snprintf(errstr, errstr_size, "kafka consumer: %s", rk_err);
    return BERTD_REPLAY_FAILED;
  }
  rd_kafka_topic_t *t = rd_kafka_topic_new(r->rk, o->topic, NULL);
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t err = rd_kafka_metadata(r->rk, 0, t, &md, META_TIMEOUT_MS);
  rd_kafka_topic_destroy(t);
  if (err) {
    snprintf(errstr, errstr_size, "%s: metadata from %s: %s", o->topic, o->brokers,
             rd_kafka_err2str(err));
    return BERTD_REPLAY_FAILED;
  }
  int rc = BERTD_REPLAY_BAD_RANGE;
  if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
    snprintf(errstr, errstr_size, "topic %s does not exist on %s", o->topic, o->brokers);
    goto out;
  }
  const struct rd_kafka_metadata_topic *mt = &md->topics[0];
  if (o->partition >= 0) {
    int found = 0;
    for (int i = 0; i < mt->partition_cnt; i++) found |= mt->partitions[i].id == o->partition;
    if (!found) {
      snprintf(errstr, errstr_size, "topic %s has no partition %d (it has %d)", o->topic,
               o->partition, mt->partition_cnt);
      goto out;
    }
  }
  r->parts = calloc((size_t)mt->partition_cnt, sizeof *r->parts);
  if (!r->parts) {
    snprintf(errstr, errstr_size, "out of memory");
    rc = BERTD_REPLAY_FAILED;
    goto out;
  }
  for (int i = 0; i < mt->partition_cnt; i++) {
    int32_t p = mt->partitions[i].id;
    if (o->partition >= 0 && p != o->partition) continue;
    int64_t lo, hi;
    err = rd_kafka_query_watermark_offsets(r->rk, o->topic, p, &lo, &hi, META_TIMEOUT_MS);
    if (err) {
      snprintf(errstr, errstr_size, "%s [%d]: watermarks: %s", o->topic, (int)p,
               rd_kafka_err2str(err));
      rc = BERTD_REPLAY_FAILED;
      goto out;
    }
    int64_t start = lo, end = hi;
    if (o->from_offset != BERTD_REPLAY_UNSET) {
      if (o->from_offset > hi) {
        snprintf(errstr, errstr_size, "--from %lld is past the end of %s [%d] (high watermark %lld)",
                 (long long)o->from_offset, o->topic, (int)p, (long long)hi);
        goto out;
      }
      start = o->from_offset < lo ? lo : o->from_offset;
    }
    if (o->from_time_ms != BERTD_REPLAY_UNSET &&
        offset_for_time(r->rk, o->topic, p, o->from_time_ms, hi, &start, errstr, errstr_size)) {
      rc = BERTD_REPLAY_FAILED;
      goto out;
    }
    if (o->to_offset != BERTD_REPLAY_UNSET && o->to_offset < end) end = o->to_offset;
    if (o->to_time_ms != BERTD_REPLAY_UNSET) {
      int64_t t_end;
      if (offset_for_time(r->rk, o->topic, p, o->to_time_ms, hi, &t_end, errstr, errstr_size)) {
        rc = BERTD_REPLAY_FAILED;
        goto out;
      }
      if (t_end < end) end = t_end;
    }
    if (end < start) end = start;
    r->parts[r->n++] = (rp_range){p, start, end, start, end == start};
    r->total += (size_t)(end - start);
  }
  if (r->total == 0) {
    snprintf(errstr, errstr_size, "the range of %s is empty: no record to replay", o->topic);
    goto out;
  }
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(r->n);
  for (int i = 0; i < r->n; i++)
    if (!r->parts[i].done)
      rd_kafka_topic_partition_list_add(l, o->topic, r->parts[i].partition)->offset =
          r->parts[i].start;
  err = rd_kafka_assign(r->rk, l);
  rd_kafka_topic_partition_list_destroy(l);
  if (err) {
    snprintf(errstr, errstr_size, "%s: assign: %s", o->topic, rd_kafka_err2str(err));
    rc = BERTD_REPLAY_FAILED;
    goto out;
  }
  rc = BERTD_REPLAY_OK;
out:
  if (md) rd_kafka_metadata_destroy(md);
  return rc;
}

static rp_range *range_of(rp_reader *r, int32_t p) {
  for (int i = 0; i < r->n; i++)
    if (r->parts[i].partition == p) return &r->parts[i];
  return NULL;
}

/* Stops fetching a finished partition, so the replay does not read past its end. */
static void finish(rp_reader *r, rp_range *g, const char *topic) {
  g->done = 1;
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic, g->partition);
  rd_kafka_pause_partitions(r->rk, l);
  rd_kafka_topic_partition_list_destroy(l);
}

int bertd_rp_reader_next(rp_reader *r, int timeout_ms, rd_kafka_message_t **out, char *errstr,
                   size_t errstr_size) {
  *out = NULL;
  for (;;) {
    int all = 1;
    for (int i = 0; i < r->n; i++) all &= r->parts[i].done;
    if (all) return -1;
    rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, timeout_ms);
    if (!m) return 0;
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
    rp_range *g = m->rkt ? range_of(r, m->partition) : NULL;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      /* the high watermark at start was reached even if offsets in between were compacted */
      if (g && !g->done && m->offset >= g->end) finish(r, g, topic);
      rd_kafka_message_destroy(m);
      continue;
    }
    if (m->err) {
      snprintf(errstr, errstr_size, "%s [%d]: %s", topic, (int)m->partition,
               rd_kafka_message_errstr(m));
      int fatal = m->err != RD_KAFKA_RESP_ERR__TRANSPORT && m->err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
      rd_kafka_message_destroy(m);
      if (fatal) return -2;
      continue;
    }
    if (!g || g->done || m->offset >= g->end) {
      if (g && !g->done) finish(r, g, topic);
      rd_kafka_message_destroy(m);
      continue;
    }
    g->next = m->offset + 1;
    if (g->next >= g->end) finish(r, g, topic);
    *out = m;
    return 1;
  }
}

void bertd_rp_reader_close(rp_reader *r) {
  if (r->rk) {
    rd_kafka_assign(r->rk, NULL);
    rd_kafka_destroy(r->rk);
  }
  free(r->parts);
  memset(r, 0, sizeof *r);
}

int bertd_rp_producer_open(const bertd_replay_opts *o, rd_kafka_t **out, char *errstr,
                     size_t errstr_size) {
  char rk_err[512];
  rd_kafka_conf_t *conf = bertd_rp_kafka_conf(o, errstr, errstr_size);
  if (!conf) return -1;
  if (conf_set(conf, "enable.idempotence", "true", errstr, errstr_size)) {
    rd_kafka_conf_destroy(conf);
    return -1;
  }
  if (!(*out = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rk_err, sizeof rk_err))) {
    snprintf(errstr, errstr_size, "kafka producer: %s", rk_err);
    return -1;
  }
  return 0;
}
