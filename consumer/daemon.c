/* daemon.c: the consumer loop (see bertd_daemon.h).
 *
 * One input message becomes an `entry` in its partition's FIFO (partq) with one `job` per
 * pipeline that reads its topic. A job is decoded by the pipeline's codec and submitted to its
 * plugin (or is ready at once with a dead-letter reason). When the head entry of a partition has
 * every job ready, its jobs are produced, in offset order, to the output or dead-letter topic.
 * Each delivery report acknowledges one job; when an entry's last job is acknowledged, the
 * offset tracker may move the partition's watermark, and the new watermark is stored for
 * librdkafka's auto-commit. */
#include "bertd_daemon.h"

#include <errno.h>
#include <stdarg.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bertd_avro.h"
#include "bertd_log.h"
#include "daemon_metrics.h"
#include "http_endpoints.h"
#include "offsets.h"
#include "pipeline_settings.h"
#include "plugin_host.h"
#include "registry_wait.h"
#include "reload.h"
#include "transactions.h"

/* ---- state ---- */

typedef enum { JOB_QUEUED = 0, JOB_READY, JOB_PRODUCED, JOB_DONE } job_state;

typedef struct pipeline pipeline;
typedef struct entry entry;

typedef struct job {
  entry *e;
  pipeline *pl;
  job_state state;
  bertd_record *rec;      /* decoded input, NULL when it did not decode */
  char *result;           /* result JSON text when the plugin succeeded */
  float *vector;          /* its embedding as floats (poll_vectors), not in result; or NULL */
  int dim;
  const char *reason;     /* dead-letter reason name, NULL when result is set */
  char *error;            /* dead-letter message */
  double queue_ms, model_ms; /* the plugin's (bertd_plugin_timing) */
  int to_dead_letter;     /* the produce in flight goes to the dead-letter topic */
} job;

typedef struct partq {
  char *topic;
  int32_t partition;
  entry *head, *tail;
  int revoked;            /* abandoned: finish what is in flight, produce and store nothing */
  int live;               /* entries alive: queued, or produced and awaiting delivery */
  struct partq *next;
} partq;

struct entry {
  partq *q;
  int64_t offset;
  void *key, *value;
  size_t key_len, value_len;
  rd_kafka_headers_t *headers;
  int njobs, ready, unacked;
  int failed;             /* a job could not be delivered anywhere: never mark it done */
  int64_t kafka_ts_ms;    /* the input record's Kafka timestamp (wall clock), -1: none */
  entry *next;
  job jobs[];
};

struct pipeline {
  const struct bertd_pipeline_config *cfg;
  bertd_plugin *plugin;
  bertd_codec *codec;
  bertd_registry *registry;
  char task[16];
  char model[256], checksum[64];
  int mirror_partitions;  /* output partition = input partition */
  unsigned long long out, dead;
};

typedef struct dead_count {
  char reason[32];
  unsigned long long n;
} dead_count;

typedef struct daemon {
  const struct bertd_daemon_config *cfg;
  bertd_daemon_opts o;
  bertd_plugin_host host;
  pipeline *pl;
  size_t npl;
  rd_kafka_t *consumer, *producer;
  bertd_offsets *offsets;
  partq *queues;
  int paused;
  int cooperative;
  unsigned long long in, out, dead, stored;
  int64_t first_ms, last_done_ms; /* first record in, last record delivered: the busy span */
  dead_count dead_by[16];
  int ndead_by;
  char fatal[512];        /* set when the daemon must stop (reported by bertd_daemon_run) */
  /* delivery: exactly_once (transactions.h); NULL for at-least-once */
  bertd_txn *txn;
  int txn_failed;         /* a record of the open transaction was not delivered: abort it */
  int64_t next_commit_ms;
  unsigned long long txn_commits, txn_aborts;
  /* operating it: metrics and health endpoints (NULL without a metrics section), reload */
  bertd_dm *dm;
  bertd_http *http;
  bertd_reload *reload;
  struct bertd_daemon_config *owned_cfg; /* the config a reload swapped in (cfg points at it) */
  int assigned;           /* input partitions assigned */
  int blas_threads;       /* OpenBLAS's thread count at start, shared among the pipelines */
  int64_t last_report_ms; /* the producer's last delivery report, or when its queue last went
                           * from empty to not: how long it has been stuck, for /readyz */
  /* Until a broker first answers, librdkafka's logs and errors (one "Connection refused" per
   * retry) are kept, the last one in startup_err, rather than written: if no broker answers
   * within broker_wait_ms, start-up fails with one line that quotes it. librdkafka calls back
   * from its own threads, hence the atomic and the lock. */
  atomic_int starting;
  atomic_int refused;     /* while starting: a broker refused us (credentials, certificate) */
  pthread_mutex_t startup_mu;
  char startup_err[512];
  bertd_registry_wait *waiting; /* records waiting for the Schema Registry (registry_wait.h) */
} daemon;

/* Whether the loaded plugin has ABI member m (1.3's are optional: metrics go without them). */
#define HAS_API(d, m) (BERTD_PLUGIN_API_HAS((d)->host.api, m) && (d)->host.api->m)

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count_dead(daemon *d, const char *reason) {
  for (int i = 0; i < d->ndead_by; i++)
    if (!strcmp(d->dead_by[i].reason, reason)) {
      d->dead_by[i].n++;
      return;
    }
  if (d->ndead_by < (int)(sizeof d->dead_by / sizeof *d->dead_by)) {
    snprintf(d->dead_by[d->ndead_by].reason, sizeof d->dead_by[0].reason, "%s", reason);
    d->dead_by[d->ndead_by++].n = 1;
  }
}

/* ---- partition queues ---- */

static partq *queue_find(daemon *d, const char *topic, int32_t partition, int create) {
  for (partq *q = d->queues; q; q = q->next)
    if (q->partition == partition && !strcmp(q->topic, topic) && !q->revoked) return q;
  if (!create) return NULL;
  partq *q = calloc(1, sizeof(*q));
  if (!q || !(q->topic = strdup(topic))) {
    free(q);
    return NULL;
  }
  q->partition = partition;
  q->next = d->queues;
  d->queues = q;
  return q;
}

static void entry_free(entry *e) {
  if (e->q) e->q->live--;
  for (int i = 0; i < e->njobs; i++) {
    bertd_record_free(e->jobs[i].rec);
    free(e->jobs[i].result);
    free(e->jobs[i].vector);
    free(e->jobs[i].error);
  }
  if (e->headers) rd_kafka_headers_destroy(e->headers);
  free(e->key);
  free(e->value);
  free(e);
}

/* A revoked queue is freed once nothing of it is in flight any more. */
static void queue_reap(daemon *d) {
  for (partq **pp = &d->queues; *pp;) {
    partq *q = *pp;
    if (q->revoked && q->live == 0) {
      *pp = q->next;
      free(q->topic);
      free(q);
    } else {
      pp = &q->next;
    }
  }
}

/* ---- producing ---- */

static void job_dead(job *j, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void job_dead(job *j, const char *reason, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  free(j->error);
  j->error = strdup(msg);
  j->reason = reason;
}

/* Produces with retry on a full local queue (serving delivery reports meanwhile). */
static rd_kafka_resp_err_t produce(daemon *d, const char *topic, int32_t partition, entry *e,
                                   void *value, size_t value_len, int free_value,
                                   rd_kafka_headers_t *hdrs, job *j) {
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        d->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_MSGFLAGS(free_value ? RD_KAFKA_MSG_F_FREE : RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(e->key, e->key_len), RD_KAFKA_V_VALUE(value, value_len),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(j), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      if (err) {
        if (hdrs) rd_kafka_headers_destroy(hdrs);
        if (free_value) free(value);
      }
      return err;
    }
    rd_kafka_poll(d->producer, 100);
  }
}

/* The original bytes and headers plus headers naming the reason and the source. */
static void produce_dead_letter(daemon *d, job *j) {
  entry *e = j->e;
  rd_kafka_headers_t *h = e->headers ? rd_kafka_headers_copy(e->headers) : rd_kafka_headers_new(6);
  char part[16], off[24];
  snprintf(part, sizeof part, "%d", (int)e->q->partition);
  snprintf(off, sizeof off, "%lld", (long long)e->offset);
  rd_kafka_header_add(h, "bertd.reason", -1, j->reason, -1);
  rd_kafka_header_add(h, "bertd.error", -1, j->error ? j->error : "", -1);
  rd_kafka_header_add(h, "bertd.source.topic", -1, e->q->topic, -1);
  rd_kafka_header_add(h, "bertd.source.partition", -1, part, -1);
  rd_kafka_header_add(h, "bertd.source.offset", -1, off, -1);
  rd_kafka_header_add(h, "bertd.pipeline", -1, j->pl->cfg->name, -1);
  j->to_dead_letter = 1;
  rd_kafka_resp_err_t err = produce(d, j->pl->cfg->dead_letter.topic, RD_KAFKA_PARTITION_UA, e,
                                    e->value, e->value_len, 0, h, j);
  if (err) {
    /* nowhere to put it: keep its offset from ever being committed, so a restart retries it */
    bertd_log(BERTD_LOG_ERROR, "%s[%d]@%lld: dead-letter produce to %s failed: %s", e->q->topic,
              (int)e->q->partition, (long long)e->offset, j->pl->cfg->dead_letter.topic,
              rd_kafka_err2str(err));
    e->failed = 1;
    if (d->txn) d->txn_failed = 1; /* the transaction holds a gap: abort and redo it */
    j->state = JOB_DONE;
    return;
  }
  e->unacked++;
  j->state = JOB_PRODUCED;
}

static void produce_output(daemon *d, job *j) {
  entry *e = j->e;
  pipeline *pl = j->pl;
  char err[512];
  json_error_t je;
  json_t *result = json_loads(j->result, 0, &je);
  void *buf = NULL;
  size_t len = 0;
  if (!result) {
    job_dead(j, "ENCODE_FAILED", "result JSON: %s", je.text);
  } else {
    bertd_enrichment en = {.model = pl->model, .model_checksum = pl->checksum,
                           .task = pl->task, .queue_ms = j->queue_ms,
                           .model_ms = j->model_ms, .result = result,
                           .embedding = j->vector, .embedding_dim = j->dim};
    if (e->kafka_ts_ms >= 0) { /* CreateTime or LogAppendTime: another clock, maybe skewed */
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      en.end_to_end_ms = (double)ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6 - (double)e->kafka_ts_ms;
      en.has_end_to_end = 1;
    }
    if (bertd_codec_encode(pl->codec, j->rec, &en, &buf, &len, err, sizeof err))
      job_dead(j, "ENCODE_FAILED", "%s", err);
    json_decref(result);
  }
  if (j->reason) {
    produce_dead_letter(d, j);
    return;
  }
  rd_kafka_headers_t *h = e->headers ? rd_kafka_headers_copy(e->headers) : rd_kafka_headers_new(0);
  int32_t part = pl->mirror_partitions ? e->q->partition : RD_KAFKA_PARTITION_UA;
  j->to_dead_letter = 0;
  rd_kafka_resp_err_t perr = produce(d, pl->cfg->output.topic, part, e, buf, len, 1, h, j);
  if (perr) {
    job_dead(j, "PRODUCE_FAILED", "output topic %s: %s", pl->cfg->output.topic,
             rd_kafka_err2str(perr));
    produce_dead_letter(d, j);
    return;
  }
  e->unacked++;
  j->state = JOB_PRODUCED;
}

static void entry_finished(daemon *d, entry *e);

/* Produces the heads of a partition queue that have every job ready: offset order kept. */
static void queue_drain(daemon *d, partq *q) {
  while (q->head && q->head->ready == q->head->njobs) {
    entry *e = q->head;
    q->head = e->next;
    if (!q->head) q->tail = NULL;
    e->next = NULL;
    if (q->revoked) { /* abandoned: the partition's new owner processes it again */
      entry_free(e);
      continue;
    }
    for (int i = 0; i < e->njobs; i++) {
      job *j = &e->jobs[i];
      if (j->reason) produce_dead_letter(d, j);
      else produce_output(d, j);
    }
    if (e->unacked == 0) entry_finished(d, e);
  }
}

/* Every job of e is acknowledged (or failed for good): move the watermark. */
static void entry_finished(daemon *d, entry *e) {
  partq *q = e->q;
  char err[256];
  int64_t commit = 0;
  if (!e->failed && !q->revoked) {
    int moved = bertd_offsets_done(d->offsets, q->topic, q->partition, e->offset, &commit, err,
                                   sizeof err);
    if (moved < 0) {
      bertd_log(BERTD_LOG_ERROR, "%s", err);
    } else if (moved && !d->txn) { /* exactly-once commits watermarks in its transactions */
      rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
      rd_kafka_topic_partition_list_add(l, q->topic, q->partition)->offset = commit;
      rd_kafka_resp_err_t serr = rd_kafka_offsets_store(d->consumer, l);
      if (serr && serr != RD_KAFKA_RESP_ERR__STATE)
        bertd_log(BERTD_LOG_WARN, "%s[%d]: storing offset %lld: %s", q->topic, (int)q->partition,
                  (long long)commit, rd_kafka_err2str(serr));
      else if (!serr)
        d->stored++;
      rd_kafka_topic_partition_list_destroy(l);
    }
  }
  entry_free(e);
}

/* An enriched record acknowledged by the broker: its times for the metrics (end to end: from the
 * input's Kafka timestamp, another clock, to now). */
static void dm_delivered(daemon *d, const job *j) {
  if (!d->dm) return;
  double e2e = 0;
  if (j->e->kafka_ts_ms >= 0) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    e2e = (double)ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6 - (double)j->e->kafka_ts_ms;
  }
  bertd_dm_record_out(d->dm, j->pl->cfg->name, j->queue_ms, j->model_ms, j->e->kafka_ts_ms >= 0,
                      e2e);
}

/* Delivery report: runs inside rd_kafka_poll/flush on the daemon's thread. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  daemon *d = opaque;
  job *j = m->_private;
  entry *e = j->e;
  d->last_report_ms = now_ms();
  if (m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
      m->err == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED ||
      m->err == RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED) {
    /* a missing ACL: no record will get through, so stop rather than dead-letter them all */
    if (!d->fatal[0])
      snprintf(d->fatal, sizeof d->fatal, "not authorized to write to topic %s (%s): the "
               "principal needs WRITE and DESCRIBE ACLs on the output and dead-letter topics",
               rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
  }
  if (m->err && !d->fatal[0]) /* after a fatal error every record fails: its line says why */
    bertd_log(BERTD_LOG_WARN, "%s[%d]@%lld: delivery to %s failed: %s", e->q->topic,
              (int)e->q->partition, (long long)e->offset, rd_kafka_topic_name(m->rkt),
              rd_kafka_err2str(m->err));
  if (m->err) {
    if (d->txn) {
      /* a failed record fails its transaction (librdkafka makes it abortable): abort, rewind,
       * redo; no re-routing, which would commit a dead letter for a record that may succeed */
      if (!e->q->revoked) d->txn_failed = 1;
    } else if (!j->to_dead_letter && !e->q->revoked && !d->fatal[0]) {
      /* the output topic refused it for good: the dead-letter topic gets it instead (not after
       * a fatal error: the record stays uncommitted for the restart) */
      job_dead(j, "PRODUCE_FAILED", "output topic %s: %s", rd_kafka_topic_name(m->rkt),
               rd_kafka_err2str(m->err));
      e->unacked--;
      produce_dead_letter(d, j);
      if (e->unacked == 0) entry_finished(d, e);
      return;
    }
    e->failed = 1;
  } else if (j->to_dead_letter) {
    d->last_done_ms = now_ms();
    d->dead++;
    j->pl->dead++;
    count_dead(d, j->reason);
    bertd_dm_record_dead(d->dm, j->pl->cfg->name, j->reason);
  } else {
    d->last_done_ms = now_ms();
    d->out++;
    j->pl->out++;
    dm_delivered(d, j);
  }
  j->state = JOB_DONE;
  if (--e->unacked == 0) {
    for (int i = 0; i < e->njobs; i++)
      if (e->jobs[i].state == JOB_PRODUCED) return; /* a re-routed job is still in flight */
    entry_finished(d, e);
  }
}

/* ---- input ---- */

static void job_ready(daemon *d, job *j) {
  j->state = JOB_READY;
  j->e->ready++;
  if (j->e == j->e->q->head) queue_drain(d, j->e->q);
}

static void job_submit(daemon *d, job *j) {
  char err[512];
  size_t tl = 0, pl = 0;
  const char *text = bertd_record_text(j->rec, &tl);
  const char *pair = bertd_record_pair(j->rec, &pl);
  if (d->host.api->submit(j->pl->plugin, text, tl, pair, pl, j, err, sizeof err)) {
    job_dead(j, "MODEL_FAILED", "%s", err);
    job_ready(d, j);
  }
}

/* A record waiting for the Schema Registry (registry_wait.h), decoded again. */
static int retry_decode(void *ctx, void *item, char *errstr, size_t errstr_size) {
  daemon *d = ctx;
  job *j = item;
  entry *e = j->e;
  bertd_codec_reason why;
  if (e->q->revoked) { /* the partition's new owner reads it again; ready only to be freed */
    job_dead(j, "UNAVAILABLE", "partition revoked while waiting for the schema registry");
    job_ready(d, j);
    return BERTD_WAIT_LEFT;
  }
  if (bertd_codec_decode(j->pl->codec, e->value, e->value_len, &j->rec, &why, errstr,
                         errstr_size)) {
    if (why == BERTD_CODEC_UNAVAILABLE) return BERTD_WAIT_STILL_UNAVAILABLE;
    job_dead(j, bertd_codec_reason_name(why), "%s", errstr);
    job_ready(d, j);
    return BERTD_WAIT_LEFT;
  }
  job_submit(d, j);
  return BERTD_WAIT_LEFT;
}

static void on_message(daemon *d, rd_kafka_message_t *m) {
  const char *topic = rd_kafka_topic_name(m->rkt);
  char err[512];
  int n = 0;
  pipeline *pls[32];
  for (size_t i = 0; i < d->npl && n < 32; i++)
    for (size_t t = 0; t < d->pl[i].cfg->input.topic_count; t++)
      if (!strcmp(d->pl[i].cfg->input.topics[t], topic)) {
        pls[n++] = &d->pl[i];
        break;
      }
  partq *q = queue_find(d, topic, m->partition, 1);
  entry *e = calloc(1, sizeof(*e) + sizeof(job) * (size_t)(n ? n : 1));
  if (!q || !e || (m->len && !(e->value = malloc(m->len))) ||
      (m->key_len && !(e->key = malloc(m->key_len)))) {
    /* not tracked, so never committed: a restart reads it again */
    bertd_log(BERTD_LOG_ERROR, "%s[%d]@%lld: out of memory; record left for a restart", topic,
              (int)m->partition, (long long)m->offset);
    if (e) entry_free(e);
    return;
  }
  if (bertd_offsets_track(d->offsets, topic, m->partition, m->offset, err, sizeof err)) {
    bertd_log(BERTD_LOG_ERROR, "%s", err);
    entry_free(e);
    return;
  }
  if (d->txn && bertd_txn_seen(d->txn, topic, m->partition, m->offset))
    bertd_log(BERTD_LOG_ERROR, "exactly-once: out of memory noting %s[%d]'s first offset", topic,
              (int)m->partition);
  if (!d->in) d->first_ms = now_ms();
  d->in++;
  bertd_dm_record_in(d->dm, topic);
  e->q = q;
  q->live++;
  e->offset = m->offset;
  rd_kafka_timestamp_type_t tstype;
  e->kafka_ts_ms = rd_kafka_message_timestamp(m, &tstype);
  if (m->len) memcpy(e->value, m->payload, m->len);
  e->value_len = m->len;
  if (m->key_len) memcpy(e->key, m->key, m->key_len);
  e->key_len = m->key_len;
  rd_kafka_headers_t *h = NULL;
  if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h)
    e->headers = rd_kafka_headers_copy(h);
  e->njobs = n;
  if (q->tail) q->tail->next = e;
  else q->head = e;
  q->tail = e;
  for (int i = 0; i < n; i++) {
    job *j = &e->jobs[i];
    j->e = e;
    j->pl = pls[i];
    bertd_codec_reason why;
    if (!m->payload || bertd_codec_decode(pls[i]->codec, m->payload, m->len, &j->rec, &why, err,
                                          sizeof err)) {
      if (!m->payload) {
        why = BERTD_CODEC_NOT_AVRO;
        snprintf(err, sizeof err, "empty value (tombstone)");
      }
      /* the registry is down: not the record's fault; it waits and is decoded again later */
      if (why == BERTD_CODEC_UNAVAILABLE &&
          !bertd_registry_wait_add(d->waiting, j, now_ms(), err, err, sizeof err))
        continue;
      job_dead(j, bertd_codec_reason_name(why), "%s", err);
      job_ready(d, j);
      continue;
    }
    job_submit(d, j);
  }
  if (n == 0) queue_drain(d, q); /* a topic no pipeline reads (cannot happen with subscribe) */
}

/* Moves finished records out of every plugin. Returns how many. */
static int collect(daemon *d, int timeout_ms) {
  bertd_plugin_completion c[256];
  bertd_plugin_timing t[256];
  bertd_plugin_vector v[256];
  /* embeddings as floats where the plugin has it (ABI 1.4): the Avro encoder writes them as
   * they are instead of parsing back the text the plugin printed */
  const int vectors = HAS_API(d, poll_vectors);
  int total = 0;
  for (size_t i = 0; i < d->npl; i++) {
    int n;
    while ((n = vectors ? d->host.api->poll_vectors(d->pl[i].plugin, c, t, v, 256,
                                                    total ? 0 : timeout_ms)
                        : d->host.api->poll_timed(d->pl[i].plugin, c, t, 256,
                                                  total ? 0 : timeout_ms)) > 0) {
      for (int k = 0; k < n; k++) {
        job *j = c[k].ref;
        j->queue_ms = t[k].queue_ms;
        j->model_ms = t[k].model_ms;
        if (c[k].reason == BERTD_PLUGIN_OK) {
          j->result = strdup(c[k].result);
          if (vectors && v[k].values && v[k].dim > 0 &&
              (j->vector = malloc(sizeof(float) * (size_t)v[k].dim)) != NULL) {
            memcpy(j->vector, v[k].values, sizeof(float) * (size_t)v[k].dim);
            j->dim = v[k].dim;
          }
          if (!j->result || (vectors && v[k].values && !j->vector))
            job_dead(j, "MODEL_FAILED", "out of memory");
        } else {
          const char *r = c[k].reason == BERTD_PLUGIN_TOO_LONG ? "TOO_LONG"
                          : c[k].reason == BERTD_PLUGIN_INVALID_INPUT ? "INVALID_INPUT"
                                                                      : "MODEL_FAILED";
          job_dead(j, r, "%s", c[k].error);
        }
        job_ready(d, j);
      }
      total += n;
      timeout_ms = 0;
    }
    if (d->dm && d->pl[i].plugin && HAS_API(d, poll_batches)) {
      bertd_plugin_batch b[64];
      unsigned long long lost = 0;
      while ((n = d->host.api->poll_batches(d->pl[i].plugin, b, 64, &lost)) > 0 || lost) {
        bertd_dm_batches(d->dm, d->pl[i].cfg->name, b, n, lost);
        lost = 0;
      }
    }
  }
  return total;
}

/* ---- flow control and rebalancing ---- */

/* log: 0 for the pause at shutdown, which "stopping: draining" already reports; the figure is
 * backpressure's, the records in flight that made it pause (or let it resume). */
static void set_paused(daemon *d, int pause, int log) {
  rd_kafka_topic_partition_list_t *a = NULL;
  if (rd_kafka_assignment(d->consumer, &a) || !a) return;
  if (a->cnt > 0) {
    if (pause) rd_kafka_pause_partitions(d->consumer, a);
    else rd_kafka_resume_partitions(d->consumer, a);
  }
  rd_kafka_topic_partition_list_destroy(a);
  if (d->paused != pause && log)
    bertd_log(BERTD_LOG_INFO, "%s fetching: %zu records in flight", pause ? "pausing" : "resuming",
              bertd_offsets_in_flight(d->offsets));
  d->paused = pause;
}

static size_t in_flight_of(daemon *d, const rd_kafka_topic_partition_list_t *parts) {
  size_t n = 0;
  for (int i = 0; parts && i < parts->cnt; i++)
    n += bertd_offsets_partition_in_flight(d->offsets, parts->elems[i].topic,
                                           parts->elems[i].partition);
  return n;
}

/* Finishes what it can of the given partitions (all when parts is NULL) within the drain
 * timeout: run every bucket, produce, wait for delivery reports. */
static void drain(daemon *d, const rd_kafka_topic_partition_list_t *parts) {
  int64_t deadline = now_ms() + d->o.drain_timeout_ms;
  while (now_ms() < deadline) {
    size_t left = parts ? in_flight_of(d, parts) : bertd_offsets_in_flight(d->offsets);
    if (left == 0) break;
    bertd_registry_wait_run(d->waiting, now_ms(), retry_decode, d);
    for (size_t i = 0; i < d->npl; i++) d->host.api->flush(d->pl[i].plugin, 1000);
    collect(d, 0);
    rd_kafka_flush(d->producer, 200);
  }
  rd_kafka_flush(d->producer, (int)(deadline > now_ms() ? deadline - now_ms() : 0));
}

/* ---- exactly-once ---- */

static void add_watermark(void *arg, const char *topic, int32_t partition, int64_t watermark) {
  rd_kafka_topic_partition_list_add(arg, topic, partition)->offset = watermark;
}

static void set_fatal(daemon *d, const char *msg) {
  snprintf(d->fatal, sizeof d->fatal, "%s", msg);
  bertd_log(BERTD_LOG_ERROR, "%s", d->fatal);
}

/* Abandons everything in flight (each queue as at a revoke), aborts the transaction and seeks
 * every partition but skip's back to its last committed offset, where its records are read
 * and processed again. */
static void txn_abort(daemon *d, const rd_kafka_topic_partition_list_t *skip) {
  char err[512];
  for (partq *q = d->queues; q; q = q->next)
    if (!q->revoked) {
      q->revoked = 1;
      bertd_offsets_forget(d->offsets, q->topic, q->partition);
    }
  d->txn_failed = 0;
  d->txn_aborts++;
  if (bertd_txn_abort(d->txn, err, sizeof err) != BERTD_TXN_COMMITTED) {
    set_fatal(d, err);
    return;
  }
  int n = bertd_txn_rewind(d->txn, skip, err, sizeof err);
  if (n < 0) {
    set_fatal(d, err);
    return;
  }
  bertd_log(BERTD_LOG_WARN, "exactly-once: transaction aborted; %d partition(s) rewound to "
            "their last committed offsets", n);
}

/* Waits until every record produced is acknowledged (so the watermarks cover exactly what the
 * transaction holds), then commits the transaction with those watermarks. A broker that does
 * not answer leaves the transaction open for the next try. */
static void txn_commit(daemon *d) {
  char err[512];
  if (d->fatal[0]) return;
  while (!d->txn_failed && rd_kafka_outq_len(d->producer) > 0)
    if (rd_kafka_flush(d->producer, 10000) == RD_KAFKA_RESP_ERR__TIMED_OUT) return;
  if (d->txn_failed) {
    txn_abort(d, NULL);
    return;
  }
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
  bertd_offsets_each_watermark(d->offsets, add_watermark, l);
  int n = 0;
  bertd_txn_outcome r = bertd_txn_commit(d->txn, l, &n, err, sizeof err);
  rd_kafka_topic_partition_list_destroy(l);
  if (r == BERTD_TXN_ABORTED) txn_abort(d, NULL);
  else if (r == BERTD_TXN_FATAL) set_fatal(d, err);
  else if (n) d->txn_commits++;
}

/* How long a watermark that could not be committed is trusted for a re-assignment (see
 * bertd_offsets_remember): a broker restart or a session timeout rejoins well within it. */
#define RESUME_MAX_AGE_MS 60000

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  daemon *d = opaque;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    bertd_log(BERTD_LOG_INFO, "assigned %d partition(s)", parts->cnt);
    const int64_t now = now_ms();
    for (int i = 0; i < parts->cnt; i++) {
      rd_kafka_topic_partition_t *p = &parts->elems[i];
      int64_t at;
      if (bertd_offsets_take_resume(d->offsets, p->topic, p->partition, now, RESUME_MAX_AGE_MS,
                                    &at)) {
        /* delivered by this process before the group dropped it, never committed */
        p->offset = at;
        bertd_log(BERTD_LOG_INFO, "resuming %s[%d] at offset %lld: records before it were "
                  "delivered before the assignment was lost", p->topic, (int)p->partition,
                  (long long)at);
      }
    }
    if (d->cooperative) rd_kafka_incremental_assign(rk, parts);
    else rd_kafka_assign(rk, parts);
    d->assigned = d->cooperative ? d->assigned + parts->cnt : parts->cnt;
    if (d->paused) rd_kafka_pause_partitions(rk, parts);
    return;
  }
  /* revoked (or lost): finish the partitions' in-flight records, commit, let go */
  size_t before = in_flight_of(d, parts);
  int committed = 0;
  if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && d->txn) {
    /* exactly-once: commit what is finished, unless the partitions are lost already (then the
     * group has moved on and the commit would be fenced): abort, the next owner redoes it */
    if (d->fatal[0]) {
    } else if (rd_kafka_assignment_lost(rk)) {
      txn_abort(d, parts);
    } else {
      drain(d, parts);
      txn_commit(d);
    }
  } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !d->fatal[0]) {
    /* (after a fatal error nothing in flight can be delivered: no drain, no commit) */
    drain(d, parts);
    rd_kafka_resp_err_t cerr = rd_kafka_commit(rk, NULL, 0);
    committed = !cerr || cerr == RD_KAFKA_RESP_ERR__NO_OFFSET;
    if (!committed) bertd_log(BERTD_LOG_WARN, "commit on revoke: %s", rd_kafka_err2str(cerr));
  }
  size_t abandoned = in_flight_of(d, parts);
  const int64_t now = now_ms();
  for (int i = 0; i < parts->cnt; i++) {
    const char *topic = parts->elems[i].topic;
    const int32_t part = parts->elems[i].partition;
    partq *q = queue_find(d, topic, part, 0);
    if (q) q->revoked = 1;
    /* the group lost this member (a broker restart): what was delivered since the last commit
     * would be read again; if the partition comes back here, start after it */
    const int64_t wm =
        committed || d->txn ? -1 : bertd_offsets_watermark(d->offsets, topic, part);
    if (d->txn) bertd_txn_forget(d->txn, topic, part);
    if (wm >= 0 && bertd_offsets_remember(d->offsets, topic, part, wm, now))
      bertd_log(BERTD_LOG_WARN, "out of memory remembering %s[%d]'s offset %lld", topic,
                (int)part, (long long)wm);
    bertd_offsets_forget(d->offsets, topic, part);
  }
  bertd_log(BERTD_LOG_INFO, "revoked %d partition(s): %zu in flight, %zu finished, %zu left to "
            "the next owner", parts->cnt, before, before - abandoned, abandoned);
  if (d->cooperative) rd_kafka_incremental_unassign(rk, parts);
  else rd_kafka_assign(rk, NULL);
  d->assigned = d->cooperative && d->assigned > parts->cnt ? d->assigned - parts->cnt : 0;
  queue_reap(d);
}

/* While starting, keeps msg as the reason to quote if no broker answers; returns 1 when kept. */
static int keep_while_starting(daemon *d, const char *what, const char *msg) {
  if (!d || !atomic_load(&d->starting)) return 0;
  pthread_mutex_lock(&d->startup_mu);
  snprintf(d->startup_err, sizeof d->startup_err, "%s: %s", what, msg);
  pthread_mutex_unlock(&d->startup_mu);
  return 1;
}

/* A broker's refusal that retrying does not heal: a wrong password, an untrusted certificate. */
static int is_refusal(int err, const char *msg) {
  return err == RD_KAFKA_RESP_ERR__AUTHENTICATION || err == RD_KAFKA_RESP_ERR__SSL ||
         strstr(msg, "SASL authentication error") || strstr(msg, "SSL handshake failed") ||
         strstr(msg, "SSL routines") || strstr(msg, "certificate");
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
  daemon *d = rk ? rd_kafka_opaque(rk) : NULL;
  /* librdkafka logs from its own threads; errors reach on_error only through a poll, which
   * start-up does not do, so a refusal is spotted here */
  if (level <= 4 && d && atomic_load(&d->starting) && is_refusal(0, buf))
    atomic_store(&d->refused, 1);
  if (level <= 4 && keep_while_starting(d, fac, buf)) return;
  if (d && atomic_load(&d->starting)) return; /* nothing to say until a broker answers */
  bertd_log_kafka(rk, level, fac, buf);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
  daemon *d = opaque;
  /* librdkafka retries broker failures itself; only fatal errors (e.g. the idempotent
   * producer's fenced state) stop the daemon */
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char fatal[256];
    rd_kafka_fatal_error(rk, fatal, sizeof fatal);
    snprintf(d->fatal, sizeof d->fatal, "kafka fatal error: %s", fatal);
    bertd_dm_set_fatal(d->dm, 1);
    bertd_log(BERTD_LOG_ERROR, "%s", d->fatal);
  } else if (atomic_load(&d->starting) && is_refusal(err, reason)) {
    /* a wrong password or an untrusted certificate does not heal by retrying: start-up fails
     * at once with librdkafka's reason (which names neither password nor key) */
    keep_while_starting(d, rd_kafka_err2name(err), reason);
    atomic_store(&d->refused, 1);
  } else if (!keep_while_starting(d, rd_kafka_err2name(err), reason)) {
    bertd_log(BERTD_LOG_WARN, "kafka: %s: %s", rd_kafka_err2name(err), reason);
  }
}

/* librdkafka's statistics (statistics.interval.ms), served by the polls on the daemon's thread:
 * consumer lag per partition, brokers up */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
  daemon *d = opaque;
  bertd_dm_kafka_stats(d->dm, json, len, rd_kafka_type(rk) == RD_KAFKA_CONSUMER);
  return 0; /* librdkafka frees json */
}

/* Start-up: waits until a broker answers a metadata request, at most broker_wait_ms (0: for
 * ever), so that an unreachable cluster is one error line and an exit, not endless retries. */
static int wait_for_broker(daemon *d, char *errstr, size_t errstr_size) {
  const int wait_ms = d->cfg->broker_wait_ms;
  const int64_t start = now_ms();
  for (;;) {
    const int64_t left = wait_ms > 0 ? start + wait_ms - now_ms() : 1000;
    if (left <= 0) break;
    const struct rd_kafka_metadata *md = NULL;
    const int64_t t0 = now_ms();
    rd_kafka_resp_err_t err =
        rd_kafka_metadata(d->producer, 0, NULL, &md, (int)(left < 1000 ? left : 1000));
    if (!err) {
      rd_kafka_metadata_destroy(md);
      atomic_store(&d->starting, 0);
      return 0;
    }
    if (*d->o.stop) {
      snprintf(errstr, errstr_size, "stopped while waiting for a Kafka broker");
      return -1;
    }
    if (atomic_load(&d->refused)) {
      pthread_mutex_lock(&d->startup_mu);
      snprintf(errstr, errstr_size, "Kafka refused the connection to %s (%s); check the "
               "security settings under kafka: in %s", bertd_dconf_kafka(d->cfg,
               "bootstrap.servers"), d->startup_err, d->cfg->path);
      pthread_mutex_unlock(&d->startup_mu);
      return -1;
    }
    if (now_ms() - t0 < 100) { /* failed at once (no broker up yet): do not spin */
      struct timespec ts = {0, 100 * 1000000L};
      nanosleep(&ts, NULL);
    }
  }
  pthread_mutex_lock(&d->startup_mu);
  snprintf(errstr, errstr_size, "no Kafka broker of %s answered within %d ms (%s); the wait is "
           "broker_wait_ms in %s or --broker-wait-ms", bertd_dconf_kafka(d->cfg,
           "bootstrap.servers"), wait_ms, d->startup_err[0] ? d->startup_err : "no reply",
           d->cfg->path);
  pthread_mutex_unlock(&d->startup_mu);
  return -1;
}

/* ---- set-up ---- */

static int is_consumer_property(const char *name) {
  static const char *const consumer_only[] = {
      "group.id", "group.instance.id", "partition.assignment.strategy", "session.timeout.ms",
      "heartbeat.interval.ms", "group.protocol", "group.protocol.type", "group.remote.assignor",
      "coordinator.query.interval.ms", "max.poll.interval.ms", "enable.auto.commit",
      "auto.commit.interval.ms", "enable.auto.offset.store", "queued.min.messages",
      "queued.max.messages.kbytes", "fetch.wait.max.ms", "fetch.queue.backoff.ms",
      "fetch.message.max.bytes", "max.partition.fetch.bytes", "fetch.max.bytes",
      "fetch.min.bytes", "fetch.error.backoff.ms", "offset.store.method", "isolation.level",
      "enable.partition.eof", "check.crcs", "auto.offset.reset", "consume.callback.max.messages",
      "allow.auto.create.topics"};
  for (size_t i = 0; i < sizeof consumer_only / sizeof *consumer_only; i++)
    if (!strcmp(name, consumer_only[i])) return 1;
  return 0;
}

static int conf_set(const struct bertd_daemon_config *cfg, rd_kafka_conf_t *c, const char *name,
                    const char *value, char *errstr, size_t errstr_size) {
  char kerr[512];
  if (rd_kafka_conf_set(c, name, value, kerr, sizeof kerr) == RD_KAFKA_CONF_OK) return 0;
  char path[300];
  snprintf(path, sizeof path, "kafka.%s", name);
  const struct bertd_dconf_key *k = bertd_dconf_where(cfg, path);
  snprintf(errstr, errstr_size, "%s:%d:%d: %s: %s", cfg->path, k ? k->key.line : 0,
           k ? k->key.column : 0, path, kerr);
  return -1;
}

static int kafka_create(daemon *d, char *errstr, size_t errstr_size) {
  const struct bertd_daemon_config *cfg = d->cfg;
  rd_kafka_conf_t *cc = rd_kafka_conf_new(), *pc = rd_kafka_conf_new();
  char kerr[512];
  /* defaults a user may override */
  rd_kafka_conf_set(cc, "auto.offset.reset", "earliest", kerr, sizeof kerr);
  /* at-least-once: stored watermarks reach the broker within delivery.commit_interval_ms, which
   * bounds the records a crash repeats (kafka.auto.commit.interval.ms, if set, wins) */
  char interval[32];
  snprintf(interval, sizeof interval, "%d", cfg->delivery.commit_interval_ms);
  rd_kafka_conf_set(cc, "auto.commit.interval.ms", interval, kerr, sizeof kerr);
  rd_kafka_conf_set(pc, "message.timeout.ms", "0", kerr, sizeof kerr); /* retry for ever */
  rd_kafka_conf_set(pc, "linger.ms", "5", kerr, sizeof kerr);
  for (size_t i = 0; i < cfg->kafka_count; i++) {
    const char *n = cfg->kafka[i].name, *v = cfg->kafka[i].value;
    if (conf_set(cfg, cc, n, v, errstr, errstr_size)) goto fail;
    if (!is_consumer_property(n) && conf_set(cfg, pc, n, v, errstr, errstr_size)) goto fail;
  }
  /* what at-least-once needs, whatever the file says */
  if (conf_set(cfg, cc, "enable.auto.offset.store", "false", errstr, errstr_size) ||
      conf_set(cfg, pc, "enable.idempotence", "true", errstr, errstr_size))
    goto fail;
  char txn_id[300];
  if (cfg->delivery.mode == BERTD_CONFIG_EXACTLY_ONCE &&
      bertd_txn_configure(cfg, pc, cc, txn_id, sizeof txn_id, errstr, errstr_size))
    goto fail;
  rd_kafka_conf_set_opaque(cc, d);
  rd_kafka_conf_set_opaque(pc, d);
  rd_kafka_conf_set_rebalance_cb(cc, on_rebalance);
  rd_kafka_conf_set_error_cb(cc, on_error);
  rd_kafka_conf_set_error_cb(pc, on_error);
  rd_kafka_conf_set_log_cb(cc, on_log);
  rd_kafka_conf_set_log_cb(pc, on_log);
  rd_kafka_conf_set_dr_msg_cb(pc, on_delivery);
  if (d->dm) {
    /* the lag and broker gauges come from librdkafka's statistics: every 5 s unless the file
     * sets statistics.interval.ms */
    if (!bertd_dconf_kafka(cfg, "statistics.interval.ms")) {
      rd_kafka_conf_set(cc, "statistics.interval.ms", "5000", kerr, sizeof kerr);
      rd_kafka_conf_set(pc, "statistics.interval.ms", "5000", kerr, sizeof kerr);
    }
    rd_kafka_conf_set_stats_cb(cc, on_stats);
    rd_kafka_conf_set_stats_cb(pc, on_stats);
  }
  if (!(d->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, kerr, sizeof kerr))) {
    snprintf(errstr, errstr_size, "%s: kafka producer: %s", cfg->path, kerr);
    pc = NULL;
    goto fail;
  }
  pc = NULL;
  if (!(d->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, kerr, sizeof kerr))) {
    snprintf(errstr, errstr_size, "%s: kafka consumer: %s", cfg->path, kerr);
    cc = NULL;
    goto fail;
  }
  cc = NULL;
  rd_kafka_poll_set_consumer(d->consumer);
  if (cfg->delivery.mode == BERTD_CONFIG_EXACTLY_ONCE) {
    if (!(d->txn = bertd_txn_new(d->producer, d->consumer))) {
      snprintf(errstr, errstr_size, "out of memory");
      return -1;
    }
    bertd_log(BERTD_LOG_INFO, "delivery exactly_once: transactional.id %s, a transaction every "
              "%d ms", txn_id, cfg->delivery.commit_interval_ms);
  }
  d->cooperative = !strcmp(rd_kafka_rebalance_protocol(d->consumer), "COOPERATIVE");
  return 0;
fail:
  if (cc) rd_kafka_conf_destroy(cc);
  if (pc) rd_kafka_conf_destroy(pc);
  return -1;
}

/* Partition count of a topic from the cluster's metadata, -1 if unknown, -2 when the principal
 * may not even describe it (no ACL). */
static int partition_count(daemon *d, const char *topic) {
  rd_kafka_topic_t *t = rd_kafka_topic_new(d->producer, topic, NULL);
  const struct rd_kafka_metadata *md = NULL;
  int n = -1;
  if (t && rd_kafka_metadata(d->producer, 0, t, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (md->topic_cnt == 1 && !md->topics[0].err) n = md->topics[0].partition_cnt;
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
      n = -2;
    rd_kafka_metadata_destroy(md);
  }
  if (t) rd_kafka_topic_destroy(t);
  return n;
}

/* A pipeline's first half, which needs no broker: the input schema, the Schema Registry (which
 * registers the enriched schema) and the codec. */
static int pipeline_codec_create(daemon *d, const struct bertd_daemon_config *cfg, pipeline *pl,
                                 const struct bertd_pipeline_config *pc, char *errstr,
                                 size_t errstr_size) {
  pl->cfg = pc;
  char err[512];
  if (bertd_pipeline_settings_check(d->host.api, cfg, (size_t)(pc - cfg->pipelines),
                                    pl->task, sizeof pl->task, errstr, errstr_size))
    return -1;
  bertd_avro_schema *schema = NULL;
  if (bertd_avro_schema_load(pc->input.schema_path, &schema, err, sizeof err)) {
    snprintf(errstr, errstr_size, "pipeline %s: %s", pc->name, err);
    return -1;
  }
  bertd_codec_conf cc = {.framing = BERTD_FRAMING_PLAIN, .text_field = pc->input.text_field,
                         .pair_field = pc->input.text_pair_field};
  /* the enriched schema's subject: in this scope, not the branch's, because cc points at it
   * until bertd_codec_create (which copies what it keeps) has run */
  char subject[300];
  if (pc->input.framing == BERTD_CONFIG_FRAMING_CONFLUENT) {
    /* the file's schema_registry.url; the environment variable is the fallback that
     * deployments made before the key existed still rely on */
    const char *url = cfg->schema_registry.url;
    if (!url) url = getenv("BERTD_SCHEMA_REGISTRY_URL");
    if (!url || !*url) {
      snprintf(errstr, errstr_size, "pipeline %s: confluent framing needs a schema registry: set "
               "schema_registry.url in %s (or BERTD_SCHEMA_REGISTRY_URL)", pc->name,
               cfg->path);
      bertd_avro_schema_free(schema);
      return -1;
    }
    if (bertd_registry_create(url, 0, &pl->registry, err, sizeof err)) {
      snprintf(errstr, errstr_size, "pipeline %s: %s", pc->name, err);
      bertd_avro_schema_free(schema);
      return -1;
    }
    snprintf(subject, sizeof subject, "%s-value", pc->output.topic);
    cc.framing = BERTD_FRAMING_CONFLUENT;
    cc.registry = pl->registry;
    cc.output_subject = subject;
  }
  int rc = bertd_codec_create(&cc, schema, &pl->codec, err, sizeof err);
  bertd_avro_schema_free(schema);
  if (rc) {
    snprintf(errstr, errstr_size, "pipeline %s: %s", pc->name, err);
    return -1;
  }
  return 0;
}

/* The pipeline's model info series (name, checksum, task, precision). */
static void dm_model(daemon *d, const pipeline *pl) {
  char json[1024];
  const int have = HAS_API(d, model_json) &&
                   d->host.api->model_json(pl->plugin, json, sizeof json) > 0;
  bertd_dm_model(d->dm, pl->cfg->name, have ? json : NULL, pl->model, pl->checksum);
}

/* Its second half, once a broker answers: the model (through the plugin) and the partition
 * layout of its topics. */
static int pipeline_start(daemon *d, pipeline *pl, int threads, char *errstr,
                          size_t errstr_size) {
  const struct bertd_pipeline_config *pc = pl->cfg;
  char err[512];
  char *json = bertd_pipeline_plugin_json(pc, threads);
  if (!json) {
    snprintf(errstr, errstr_size, "pipeline %s: out of memory", pc->name);
    return -1;
  }
  int rc = d->host.api->create(json, &pl->plugin, err, sizeof err);
  free(json);
  if (rc) {
    snprintf(errstr, errstr_size, "pipeline %s: %s", pc->name, err);
    return -1;
  }
  d->host.api->model_info(pl->plugin, pl->model, sizeof pl->model, pl->checksum,
                          sizeof pl->checksum);
  /* mirror partitions when the output has at least as many as every input */
  int out_parts = partition_count(d, pc->output.topic);
  const char *denied = out_parts == -2 ? pc->output.topic
                       : partition_count(d, pc->dead_letter.topic) == -2 ? pc->dead_letter.topic
                                                                        : NULL;
  pl->mirror_partitions = out_parts > 0;
  for (size_t t = 0; t < pc->input.topic_count; t++) {
    int in_parts = partition_count(d, pc->input.topics[t]);
    if (in_parts == -2 && !denied) denied = pc->input.topics[t];
    if (in_parts < 0 || in_parts > out_parts) pl->mirror_partitions = 0;
  }
  if (denied) {
    snprintf(errstr, errstr_size, "pipeline %s: not authorized to describe topic %s (no ACL for "
             "this principal): it needs READ on its input topics and group, WRITE on its output "
             "and dead-letter topics, DESCRIBE on all", pc->name, denied);
    return -1;
  }
  bertd_log(BERTD_LOG_INFO, "pipeline %s: %s with %s (%s), output %s (%s)", pc->name, pl->task,
            pl->model, pl->checksum, pc->output.topic,
            pl->mirror_partitions ? "input partition kept" : "partitioned by key");
  return 0;
}

/* records/s over the busy span (first record in .. last delivered), so start-up, the group
 * join and idle time after the topic is drained do not dilute it */
static void log_stats(daemon *d) {
  double seconds = d->last_done_ms > d->first_ms ? (d->last_done_ms - d->first_ms) / 1000.0 : 0;
  char dead[512] = "";
  size_t n = 0;
  for (int i = 0; i < d->ndead_by && n < sizeof dead; i++)
    n += (size_t)snprintf(dead + n, sizeof dead - n, "%s%s %llu", i ? ", " : " (",
                          d->dead_by[i].reason, d->dead_by[i].n);
  if (d->ndead_by && n < sizeof dead - 1) strcat(dead, ")");
  size_t heap = 0;
#ifdef __GLIBC__
  heap = mallinfo2().uordblks; /* bytes in use in the malloc heap, for spotting growth */
#endif
  bertd_log(BERTD_LOG_INFO, "records in %llu, out %llu, dead-lettered %llu%s, in flight %zu, "
            "heap %zu KiB, %.1f records/s while busy", d->in, d->out, d->dead, dead, bertd_offsets_in_flight(d->offsets),
            heap / 1024, seconds > 0 ? (double)(d->out + d->dead) / seconds : 0.0);
}

static void pipelines_free(daemon *d, pipeline *pl, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (pl[i].plugin) d->host.api->destroy(pl[i].plugin);
    bertd_codec_free(pl[i].codec);
    bertd_registry_free(pl[i].registry);
  }
  free(pl);
}

/* ---- reload (reload.c decides when and loads the file; this makes, swaps and frees) ---- */

typedef struct pipeline_set {
  pipeline *pl;
  size_t n;
} pipeline_set;

/* OpenBLAS threads each pipeline's model gets (0: the plugin's default, with one pipeline) */
static int thread_share(const daemon *d, size_t pipelines) {
  if (pipelines <= 1) return 0;
  int share = d->blas_threads / (int)pipelines;
  return share < 1 ? 1 : share;
}

static void reload_discard(void *ctx, void *built) {
  pipeline_set *ps = built;
  pipelines_free(ctx, ps->pl, ps->n);
  free(ps);
}

/* On the reload thread, while the old pipelines serve: the new ones, models loaded. */
static int reload_build(void *ctx, const struct bertd_daemon_config *cfg, void **built,
                        char *errstr, size_t errstr_size) {
  daemon *d = ctx;
  pipeline_set *ps = calloc(1, sizeof(*ps));
  if (!ps || !(ps->pl = calloc(cfg->pipeline_count ? cfg->pipeline_count : 1, sizeof(pipeline)))) {
    free(ps);
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  for (; ps->n < cfg->pipeline_count; ps->n++)
    if (pipeline_codec_create(d, cfg, &ps->pl[ps->n], &cfg->pipelines[ps->n], errstr,
                              errstr_size)) {
      ps->n++;
      reload_discard(d, ps);
      return -1;
    }
  for (size_t i = 0; i < ps->n; i++)
    if (pipeline_start(d, &ps->pl[i], thread_share(d, ps->n), errstr, errstr_size)) {
      reload_discard(d, ps);
      return -1;
    }
  *built = ps;
  return 0;
}

/* Records of entries still held anywhere (in flight, or of revoked partitions not yet reaped):
 * each points at its pipeline, so none may be left when pipelines are swapped. */
static size_t live_entries(const daemon *d) {
  size_t n = 0;
  for (const partq *q = d->queues; q; q = q->next) n += (size_t)q->live;
  return n;
}

/* Drain, swap, resume: fetching pauses, every record read so far finishes on the old models
 * (produced and acknowledged), then the new pipelines replace the old and fetching resumes, so
 * each record is enriched by exactly one of them. When the drain cannot finish, nothing is
 * swapped. */
static void reload_swap(daemon *d, struct bertd_daemon_config *cfg, pipeline_set *ps) {
  const int was_paused = d->paused;
  set_paused(d, 1, 0);
  drain(d, NULL);
  queue_reap(d);
  size_t left = live_entries(d);
  if (left) {
    bertd_log(BERTD_LOG_ERROR, "reload rejected: %zu record(s) still in flight after %d ms of "
              "draining; the old config keeps serving", left, d->o.drain_timeout_ms);
    bertd_dm_reload(d->dm, 0);
    reload_discard(d, ps);
    bertd_dconf_destroy(cfg);
    if (!was_paused) set_paused(d, 0, 0);
    return;
  }
  pipelines_free(d, d->pl, d->npl);
  d->pl = ps->pl;
  d->npl = ps->n;
  free(ps);
  bertd_dconf_destroy(d->owned_cfg);
  d->owned_cfg = cfg;
  d->cfg = cfg;
  /* several pipelines share the cores through model.threads, one has OpenBLAS's threads */
  d->host.api->threads(d->npl > 1 ? 1 : d->blas_threads);
  bertd_reload_swapped(d->reload, cfg);
  bertd_dm_models_clear(d->dm);
  for (size_t i = 0; i < d->npl; i++) dm_model(d, &d->pl[i]);
  bertd_dm_reload(d->dm, 1);
  char models[512] = "";
  for (size_t i = 0, n = 0; i < d->npl && n < sizeof models; i++)
    n += (size_t)snprintf(models + n, sizeof models - n, "%s%s: %s (%s)", i ? ", " : "",
                          d->pl[i].cfg->name, d->pl[i].model, d->pl[i].checksum);
  bertd_log(BERTD_LOG_INFO, "reloaded %s: %zu pipeline(s): %s", cfg->path, d->npl, models);
  set_paused(d, 0, 0); /* the loop pauses again at once if backpressure says so */
}

/* How long the producer has had messages waiting and no delivery report (0: none wait). */
static long long producer_stalled_ms(daemon *d) {
  if (!d->dm) return 0;
  const int64_t now = now_ms();
  if (rd_kafka_outq_len(d->producer) == 0) {
    d->last_report_ms = now; /* an empty queue is not stuck: the clock starts when it fills */
    return 0;
  }
  return now - d->last_report_ms;
}

/* One turn of the loop's reload duty: SIGHUP or a watched model directory starts a load; a load
 * that finished is swapped in, or rejected with one line. */
static void reload_turn(daemon *d) {
  if (!d->reload) return;
  int hup = 0;
  if (d->o.reload && *d->o.reload) {
    *d->o.reload = 0;
    hup = 1;
    bertd_log(BERTD_LOG_INFO, "SIGHUP: reloading %s", d->cfg->path);
  }
  struct bertd_daemon_config *cfg = NULL;
  void *built = NULL;
  char err[1024];
  int rc = bertd_reload_poll(d->reload, hup, d->cfg, now_ms(), &cfg, &built, err, sizeof err);
  if (rc < 0) {
    bertd_log(BERTD_LOG_ERROR, "reload rejected: %s; the old config keeps serving", err);
    bertd_dm_reload(d->dm, 0);
  } else if (rc > 0) {
    reload_swap(d, cfg, built);
  }
}

static void teardown(daemon *d) {
  bertd_reload_free(d->reload); /* waits for a load in progress */
  bertd_http_stop(d->http);
  pipelines_free(d, d->pl, d->npl);
  d->pl = NULL;
  if (d->consumer) rd_kafka_destroy(d->consumer);
  if (d->producer) rd_kafka_destroy(d->producer);
  /* anything left was abandoned (drain timed out): its offsets were never stored */
  while (d->queues) {
    partq *q = d->queues;
    d->queues = q->next;
    while (q->head) {
      entry *e = q->head;
      q->head = e->next;
      entry_free(e);
    }
    free(q->topic);
    free(q);
  }
  bertd_offsets_free(d->offsets);
  bertd_txn_free(d->txn);
  bertd_registry_wait_free(d->waiting);
  bertd_plugin_host_close(&d->host);
  bertd_dm_free(d->dm);
  bertd_dconf_destroy(d->owned_cfg);
}

/* Backoff of records waiting for a Schema Registry that is down: 200 ms, doubling to 30 s. */
#define REGISTRY_RETRY_FIRST_MS 200
#define REGISTRY_RETRY_MAX_MS 30000

int bertd_daemon_run(const struct bertd_daemon_config *cfg, const bertd_daemon_opts *opts,
                     char *errstr, size_t errstr_size) {
  daemon *d = calloc(1, sizeof(*d));
  if (!d) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  d->cfg = cfg;
  d->o = *opts;
  atomic_init(&d->starting, 1);
  atomic_init(&d->refused, 0);
  pthread_mutex_init(&d->startup_mu, NULL);

  if (!d->o.max_in_flight) d->o.max_in_flight = 20000;
  if (!d->o.stats_interval_ms) d->o.stats_interval_ms = 10000;
  if (!d->o.drain_timeout_ms) d->o.drain_timeout_ms = 30000;
  int rc = -1;
  if (!(d->offsets = bertd_offsets_new()) ||
      !(d->waiting = bertd_registry_wait_new(REGISTRY_RETRY_FIRST_MS, REGISTRY_RETRY_MAX_MS)) ||
      !(d->pl = calloc(cfg->pipeline_count ? cfg->pipeline_count : 1, sizeof(pipeline)))) {
    snprintf(errstr, errstr_size, "out of memory");
    goto out;
  }
  if (bertd_plugin_host_open(&d->host, d->o.plugin_path, errstr, errstr_size)) goto out;
  /* /healthz answers from here on, /readyz once the models are loaded and partitions assigned */
  if (cfg->metrics.listen) {
    if (!(d->dm = bertd_dm_new())) {
      snprintf(errstr, errstr_size, "out of memory");
      goto out;
    }
    if (bertd_http_start(cfg->metrics.listen, d->dm, &d->http, errstr, errstr_size)) goto out;
    bertd_log(BERTD_LOG_INFO, "metrics on http://%s/metrics (/healthz, /readyz)",
              cfg->metrics.listen);
  }
  const bertd_reload_ops rops = {.ctx = d, .plugin_path = d->host.path, .build = reload_build,
                                 .discard = reload_discard};
  if (bertd_reload_new(cfg, &rops, &d->reload, errstr, errstr_size)) goto out;
  if (kafka_create(d, errstr, errstr_size)) goto out;
  for (size_t i = 0; i < cfg->pipeline_count; i++, d->npl++)
    if (pipeline_codec_create(d, cfg, &d->pl[i], &cfg->pipelines[i], errstr, errstr_size)) {
      d->npl++; /* tear down the half-made one too */
      goto out;
    }
  /* Schema and registry errors answer above without a broker; the wait comes before the models
   * load, so that a wrong broker address fails within broker_wait_ms. */
  if (wait_for_broker(d, errstr, errstr_size)) goto out;
  /* fences an earlier instance with the same transactional.id and aborts what it left open */
  if (d->txn && bertd_txn_start(d->txn, cfg->broker_wait_ms, errstr, errstr_size)) goto out;
  /* Several pipelines run their models at the same time, each on its plugin's thread: they
   * share the cores (model.threads, else an equal share), and OpenBLAS runs single-threaded,
   * because concurrent callers of a multi-threaded OpenBLAS queue on its one thread pool. */
  d->blas_threads = d->host.api->threads(0);
  const int share = thread_share(d, cfg->pipeline_count);
  if (cfg->pipeline_count > 1) d->host.api->threads(1);
  for (size_t i = 0; i < d->npl; i++)
    if (pipeline_start(d, &d->pl[i], share, errstr, errstr_size)) goto out;
  for (size_t i = 0; i < d->npl; i++) dm_model(d, &d->pl[i]);
  bertd_dm_set_models_loaded(d->dm, 1);
  /* subscribe to every input topic once */
  rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(8);
  for (size_t i = 0; i < cfg->pipeline_count; i++)
    for (size_t t = 0; t < cfg->pipelines[i].input.topic_count; t++)
      if (!rd_kafka_topic_partition_list_find(sub, cfg->pipelines[i].input.topics[t],
                                              RD_KAFKA_PARTITION_UA))
        rd_kafka_topic_partition_list_add(sub, cfg->pipelines[i].input.topics[t],
                                          RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t serr = rd_kafka_subscribe(d->consumer, sub);
  rd_kafka_topic_partition_list_destroy(sub);
  if (serr) {
    snprintf(errstr, errstr_size, "subscribe: %s", rd_kafka_err2str(serr));
    goto out;
  }
  bertd_log(BERTD_LOG_INFO, "running %zu pipeline(s) with %s", d->npl, d->host.path);

  const int64_t start = now_ms();
  int64_t next_stats = start + (d->o.stats_interval_ms > 0 ? d->o.stats_interval_ms : 0);
  while (!*d->o.stop && !d->fatal[0]) {
    size_t in_flight = bertd_offsets_in_flight(d->offsets);
    if (!d->paused && in_flight >= d->o.max_in_flight) set_paused(d, 1, 1);
    else if (d->paused && in_flight <= d->o.max_in_flight / 2) set_paused(d, 0, 1);
    /* short waits while records are in flight, so completions are produced promptly */
    rd_kafka_message_t *m = rd_kafka_consumer_poll(d->consumer, in_flight ? 1 : 100);
    if (m) {
      if (!m->err) {
        on_message(d, m);
      } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        bertd_log(BERTD_LOG_WARN, "consume: %s", rd_kafka_message_errstr(m));
      }
      rd_kafka_message_destroy(m);
    }
    bertd_registry_wait_run(d->waiting, now_ms(), retry_decode, d);
    collect(d, 0);
    rd_kafka_poll(d->producer, 0);
    if (d->txn && (d->txn_failed || now_ms() >= d->next_commit_ms)) {
      txn_commit(d);
      d->next_commit_ms = now_ms() + d->cfg->delivery.commit_interval_ms;
    }
    queue_reap(d);
    reload_turn(d);
    bertd_dm_flow(d->dm, bertd_offsets_in_flight(d->offsets), d->assigned, d->paused,
                  producer_stalled_ms(d));
    if (d->o.stats_interval_ms > 0 && now_ms() >= next_stats) {
#ifdef __GLIBC__
      /* hand freed pages back: the worker thread allocates in its own arena, and without this
       * glibc keeps its high-water mark, so a long-running daemon's RSS creeps */
      malloc_trim(0);
#endif
      log_stats(d);
      next_stats = now_ms() + d->o.stats_interval_ms;
    }
  }
  /* shutdown: stop fetching, finish what is in flight, commit, leave the group */
  bertd_log(BERTD_LOG_INFO, "stopping: draining %zu record(s)", bertd_offsets_in_flight(d->offsets));
  bertd_dm_set_stopping(d->dm, 1);
  set_paused(d, 1, 0);
  if (!d->fatal[0]) { /* after a fatal error nothing can be produced or committed */
    drain(d, NULL);
    if (d->txn) {
      txn_commit(d);
    } else {
      rd_kafka_resp_err_t cerr = rd_kafka_commit(d->consumer, NULL, 0);
      if (cerr && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
        bertd_log(BERTD_LOG_WARN, "final commit: %s", rd_kafka_err2str(cerr));
    }
  }
  size_t left = bertd_offsets_in_flight(d->offsets);
  rd_kafka_consumer_close(d->consumer);
  log_stats(d);
  if (d->txn)
    bertd_log(BERTD_LOG_INFO, "exactly-once: %llu transaction(s) committed, %llu aborted",
              d->txn_commits, d->txn_aborts);
  if (d->fatal[0]) {
    snprintf(errstr, errstr_size, "%s", d->fatal);
  } else if (left) {
    snprintf(errstr, errstr_size, "stopped with %zu record(s) undelivered (drain timed out); "
             "their offsets were not committed", left);
  } else {
    rc = 0;
  }
out:
  teardown(d);
  pthread_mutex_destroy(&d->startup_mu);
  free(d);
  return rc;
}
