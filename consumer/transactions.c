/* transactions.c: exactly-once delivery's transactional producer (see transactions.h). */
#include "transactions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bertd_log.h"

/* Each transactional call may wait this long; retriable failures are retried this many times
 * (a broker restart or a coordinator moving takes seconds, not minutes). */
#define CALL_TIMEOUT_MS 30000
#define RETRIES 6

typedef struct base {
  char *topic;
  int32_t partition;
  int64_t offset; /* last committed: where a rewind seeks to */
} base;

struct bertd_txn {
  rd_kafka_t *producer, *consumer;
  base *bases;
  size_t nbases, cap;
};

static int set(rd_kafka_conf_t *c, const char *name, const char *value, char *errstr,
               size_t errstr_size) {
  char kerr[512];
  if (rd_kafka_conf_set(c, name, value, kerr, sizeof kerr) == RD_KAFKA_CONF_OK) return 0;
  snprintf(errstr, errstr_size, "delivery: exactly_once: %s: %s", name, kerr);
  return -1;
}

int bertd_txn_configure(const struct bertd_daemon_config *cfg, rd_kafka_conf_t *pc,
                        rd_kafka_conf_t *cc, char *id, size_t id_size, char *errstr,
                        size_t errstr_size) {
  const char *instance = bertd_dconf_kafka(cfg, "group.instance.id");
  char host[256] = "";
  if (cfg->delivery.transactional_id) {
    snprintf(id, id_size, "%s", cfg->delivery.transactional_id);
  } else {
    /* one id per daemon instance, stable across its restarts: a restarted instance's
     * init_transactions then fences its predecessor at once instead of waiting for the
     * predecessor's transaction to time out; two daemons of one group need different ones */
    if (!instance) {
      if (gethostname(host, sizeof host - 1)) snprintf(host, sizeof host, "localhost");
      instance = host;
    }
    snprintf(id, id_size, "bertd-%s-%s", bertd_dconf_kafka(cfg, "group.id"), instance);
  }
  char timeout[64];
  size_t n = sizeof timeout;
  /* librdkafka refuses a message timeout longer than the transaction timeout (0 is infinite) */
  if (rd_kafka_conf_get(pc, "transaction.timeout.ms", timeout, &n) != RD_KAFKA_CONF_OK)
    snprintf(timeout, sizeof timeout, "60000");
  if (set(pc, "transactional.id", id, errstr, errstr_size) ||
      (!bertd_dconf_kafka(cfg, "message.timeout.ms") &&
       set(pc, "message.timeout.ms", timeout, errstr, errstr_size)) ||
      set(cc, "isolation.level", "read_committed", errstr, errstr_size) ||
      set(cc, "enable.auto.commit", "false", errstr, errstr_size))
    return -1;
  return 0;
}

bertd_txn *bertd_txn_new(rd_kafka_t *producer, rd_kafka_t *consumer) {
  bertd_txn *t = calloc(1, sizeof *t);
  if (t) {
    t->producer = producer;
    t->consumer = consumer;
  }
  return t;
}

void bertd_txn_free(bertd_txn *t) {
  if (!t) return;
  for (size_t i = 0; i < t->nbases; i++) free(t->bases[i].topic);
  free(t->bases);
  free(t);
}

static base *find(bertd_txn *t, const char *topic, int32_t partition) {
  for (size_t i = 0; i < t->nbases; i++)
    if (t->bases[i].partition == partition && !strcmp(t->bases[i].topic, topic))
      return &t->bases[i];
  return NULL;
}

int bertd_txn_seen(bertd_txn *t, const char *topic, int32_t partition, int64_t offset) {
  if (find(t, topic, partition)) return 0;
  if (t->nbases == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 8;
    base *b = realloc(t->bases, cap * sizeof *b);
    if (!b) return -1;
    t->bases = b;
    t->cap = cap;
  }
  base *b = &t->bases[t->nbases];
  if (!(b->topic = strdup(topic))) return -1;
  b->partition = partition;
  b->offset = offset;
  t->nbases++;
  return 0;
}

void bertd_txn_forget(bertd_txn *t, const char *topic, int32_t partition) {
  base *b = find(t, topic, partition);
  if (!b) return;
  free(b->topic);
  *b = t->bases[--t->nbases];
}

/* One line for a failed transactional call; the error is destroyed. */
static void describe(rd_kafka_error_t *e, const char *what, char *errstr, size_t errstr_size) {
  snprintf(errstr, errstr_size, "exactly-once: %s failed%s: %s: %s", what,
           rd_kafka_error_is_fatal(e) ? " (fatal)" : "", rd_kafka_error_name(e),
           rd_kafka_error_string(e));
  rd_kafka_error_destroy(e);
}

/* Classes a transactional call's error: 1 retry it, 0 must abort, -1 fatal (errstr). */
static int classify(rd_kafka_error_t *e, int attempt, const char *what, char *errstr,
                    size_t errstr_size) {
  if (rd_kafka_error_is_fatal(e)) {
    describe(e, what, errstr, errstr_size);
    return -1;
  }
  if (rd_kafka_error_txn_requires_abort(e)) {
    bertd_log(BERTD_LOG_WARN, "exactly-once: %s: %s: aborting the transaction and rewinding",
              what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return 0;
  }
  if (rd_kafka_error_is_retriable(e) && attempt < RETRIES) {
    bertd_log(BERTD_LOG_WARN, "exactly-once: %s: %s: retrying", what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return 1;
  }
  describe(e, what, errstr, errstr_size);
  return -1;
}

static int begin(bertd_txn *t, char *errstr, size_t errstr_size) {
  rd_kafka_error_t *e = rd_kafka_begin_transaction(t->producer);
  if (!e) return 0;
  describe(e, "beginning a transaction", errstr, errstr_size);
  return -1;
}

int bertd_txn_start(bertd_txn *t, int timeout_ms, char *errstr, size_t errstr_size) {
  for (int waited = 0;; waited += CALL_TIMEOUT_MS / 3) {
    rd_kafka_error_t *e = rd_kafka_init_transactions(t->producer, CALL_TIMEOUT_MS / 3);
    if (!e) break;
    if (rd_kafka_error_is_retriable(e) && !rd_kafka_error_is_fatal(e) && waited < timeout_ms) {
      rd_kafka_error_destroy(e);
      continue;
    }
    describe(e, "initialising transactions", errstr, errstr_size);
    return -1;
  }
  return begin(t, errstr, errstr_size);
}

bertd_txn_outcome bertd_txn_commit(bertd_txn *t, const rd_kafka_topic_partition_list_t *offsets,
                                   int *committed, char *errstr, size_t errstr_size) {
  *committed = 0;
  rd_kafka_topic_partition_list_t *moved = rd_kafka_topic_partition_list_new(offsets->cnt + 1);
  for (int i = 0; i < offsets->cnt; i++) {
    const rd_kafka_topic_partition_t *p = &offsets->elems[i];
    base *b = find(t, p->topic, p->partition);
    if (p->offset >= 0 && (!b || p->offset > b->offset))
      rd_kafka_topic_partition_list_add(moved, p->topic, p->partition)->offset = p->offset;
  }
  if (moved->cnt == 0) { /* nothing new: the open transaction stays open (and empty) */
    rd_kafka_topic_partition_list_destroy(moved);
    return BERTD_TXN_COMMITTED;
  }
  int rc = 1;
  rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(t->consumer);
  for (int attempt = 1; rc == 1; attempt++) {
    rd_kafka_error_t *e = rd_kafka_send_offsets_to_transaction(t->producer, moved, cgmd,
                                                               CALL_TIMEOUT_MS);
    rc = e ? classify(e, attempt, "sending offsets to the transaction", errstr, errstr_size)
           : 2;
  }
  rd_kafka_consumer_group_metadata_destroy(cgmd);
  for (int attempt = 1; rc == 2 || rc == 1; attempt++) {
    rd_kafka_error_t *e = rd_kafka_commit_transaction(t->producer, CALL_TIMEOUT_MS);
    rc = e ? classify(e, attempt, "committing the transaction", errstr, errstr_size) : 3;
  }
  if (rc == 3) {
    for (int i = 0; i < moved->cnt; i++) {
      const rd_kafka_topic_partition_t *p = &moved->elems[i];
      base *b = find(t, p->topic, p->partition);
      if (b) b->offset = p->offset;
      else if (bertd_txn_seen(t, p->topic, p->partition, p->offset)) rc = -2;
    }
    *committed = moved->cnt;
  }
  rd_kafka_topic_partition_list_destroy(moved);
  if (rc == -2) {
    snprintf(errstr, errstr_size, "exactly-once: out of memory");
    return BERTD_TXN_FATAL;
  }
  if (rc < 0) return BERTD_TXN_FATAL;
  if (rc == 0) return BERTD_TXN_ABORTED;
  return begin(t, errstr, errstr_size) ? BERTD_TXN_FATAL : BERTD_TXN_COMMITTED;
}

bertd_txn_outcome bertd_txn_abort(bertd_txn *t, char *errstr, size_t errstr_size) {
  for (int attempt = 1;; attempt++) {
    rd_kafka_error_t *e = rd_kafka_abort_transaction(t->producer, CALL_TIMEOUT_MS);
    if (!e) break;
    if (rd_kafka_error_is_retriable(e) && !rd_kafka_error_is_fatal(e) && attempt < RETRIES) {
      bertd_log(BERTD_LOG_WARN, "exactly-once: aborting the transaction: %s: retrying",
                rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
      continue;
    }
    describe(e, "aborting the transaction", errstr, errstr_size);
    return BERTD_TXN_FATAL;
  }
  return begin(t, errstr, errstr_size) ? BERTD_TXN_FATAL : BERTD_TXN_COMMITTED;
}

int bertd_txn_rewind(bertd_txn *t, const rd_kafka_topic_partition_list_t *skip, char *errstr,
                     size_t errstr_size) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)t->nbases + 1);
  for (size_t i = 0; i < t->nbases; i++) {
    const base *b = &t->bases[i];
    if (skip && rd_kafka_topic_partition_list_find(skip, b->topic, b->partition)) continue;
    rd_kafka_topic_partition_list_add(l, b->topic, b->partition)->offset = b->offset;
  }
  int n = l->cnt;
  if (n > 0) {
    rd_kafka_error_t *e = rd_kafka_seek_partitions(t->consumer, l, CALL_TIMEOUT_MS);
    if (e) {
      describe(e, "rewinding the consumer", errstr, errstr_size);
      n = -1;
    }
    for (int i = 0; n >= 0 && i < l->cnt; i++)
      if (l->elems[i].err) {
        snprintf(errstr, errstr_size, "exactly-once: rewinding %s[%d] to %lld: %s",
                 l->elems[i].topic, (int)l->elems[i].partition, (long long)l->elems[i].offset,
                 rd_kafka_err2str(l->elems[i].err));
        n = -1;
      }
  }
  rd_kafka_topic_partition_list_destroy(l);
  return n;
}
