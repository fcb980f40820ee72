/* replay_internal.h: what the replay's files share (private to eval/). */
#ifndef BERTD_REPLAY_INTERNAL_H
#define BERTD_REPLAY_INTERNAL_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "bertd_avro.h"
#include "bertd_metrics.h"
#include "bertd_replay.h"

/* ---- names: label and tag tables (replay_gold.c) ---- */

typedef struct rp_names {
  char **v;
  int n, cap;
  int frozen; /* the model's list: names outside it are unknown, not added */
} rp_names;

int bertd_rp_names_find(const rp_names *t, const char *name);
/* The id of name, added when new and the table is not frozen; -1 when frozen and unknown,
 * -2 out of memory. */
int bertd_rp_names_intern(rp_names *t, const char *name);
void bertd_rp_names_free(rp_names *t);

/* ---- records ---- */

typedef enum { RP_TASK_CLASSIFY, RP_TASK_JOINT, RP_TASK_TAG, RP_TASK_EMBED } rp_task;

typedef struct rp_pred {
  int done, ok;
  char *error;       /* why the model gave no result (ok == 0) */
  int32_t label;     /* classify label / joint intent (labels table); -1: none above threshold */
  float conf;        /* its score */
  int32_t *tags;     /* word tags (tags table) */
  int n_tags;
  double latency_ms, model_ms;
} rp_pred;

enum { RP_GOLD_NONE = 0, RP_GOLD_OK, RP_GOLD_UNKNOWN, RP_GOLD_BAD };

typedef struct rp_rec {
  int32_t partition;
  int64_t offset;
  char *key;         /* NUL-terminated copy of the Kafka key, or NULL */
  char *text;
  int gold_state;    /* RP_GOLD_*; UNKNOWN: a label the model does not know (gold_name) */
  char *gold_name;
  int32_t gold;      /* labels table */
  int has_gold_tags;
  int32_t *gold_tags;
  int n_gold_tags;
  rp_pred p[2];
  bertd_record *avro; /* kept until model A answers when enriched records are produced */
  int64_t ts_ms;     /* Kafka timestamp, -1 when none */
} rp_rec;

typedef struct rp_ctx {
  const bertd_replay_opts *o;
  rp_task task;
  int n_models;
  rp_rec *recs;
  size_t n_recs, cap_recs;
  rp_names labels, tags;
  json_t *undecodable;   /* [{partition, offset, reason, error}] */
  size_t n_undecodable;
  json_t *unknown_gold;  /* {label: count} */
  size_t n_unknown_gold;
  json_t *bad_gold;      /* [{partition, offset, error}] */
  char model_name[2][256], checksum[2][80];
  double wall_s;         /* first record read .. last result */
  json_t *ranges;
} rp_ctx;

/* ---- the topic (replay_kafka.c) ---- */

typedef struct rp_range {
  int32_t partition;
  int64_t start, end; /* [start, end) */
  int64_t next;       /* next offset expected */
  int done;
} rp_range;

typedef struct rp_reader {
  rd_kafka_t *rk;
  rp_range *parts;
  int n;
  size_t total;       /* records in the range (offsets; compaction and transactions may leave
                       * fewer) */
} rp_reader;

/* Resolves the range and assigns it. BERTD_REPLAY_* code. */
int bertd_rp_reader_open(const bertd_replay_opts *o, rp_reader *r, char *errstr, size_t errstr_size);
/* 1: *out is a message of the range (destroy it); 0: nothing within timeout_ms; -1: the whole
 * range is read; -2: a consumer error (errstr). */
int bertd_rp_reader_next(rp_reader *r, int timeout_ms, rd_kafka_message_t **out, char *errstr,
                   size_t errstr_size);
void bertd_rp_reader_close(rp_reader *r);
/* A producer for --output-topic. */
int bertd_rp_producer_open(const bertd_replay_opts *o, rd_kafka_t **out, char *errstr,
                     size_t errstr_size);
/* A librdkafka configuration with the options' brokers, -X properties and logger. */
rd_kafka_conf_t *bertd_rp_kafka_conf(const bertd_replay_opts *o, char *errstr, size_t errstr_size);

/* ---- gold (replay_gold.c) ---- */

typedef struct rp_gold_file rp_gold_file;
int bertd_rp_gold_file_load(const char *path, const char *key_field, rp_gold_file **out,
                      char *errstr, size_t errstr_size);
/* The line whose key is key, or NULL. */
const json_t *bertd_rp_gold_file_find(const rp_gold_file *g, const char *key);
void bertd_rp_gold_file_free(rp_gold_file *g);

/* Avro JSON's {"type": value} of a union branch -> value. */
const json_t *bertd_rp_unwrap(const json_t *v);
/* Fills rec's gold from src (the decoded record's JSON or the gold file's line). */
int bertd_rp_gold_from(rp_ctx *c, rp_rec *rec, const json_t *src);
/* A model result object (plugin JSON or a stored `bertd` field) -> prediction. */
int bertd_rp_pred_from_result(rp_ctx *c, rp_pred *p, const json_t *result, char *errstr,
                        size_t errstr_size);

/* ---- scoring (replay_score.c, replay_compare.c) ---- */

/* Model m's metrics over the records (the JSON block of the report). */
json_t *bertd_rp_score_model(rp_ctx *c, int m, char *errstr, size_t errstr_size);
/* Whether record i counts for model m's classification / span metrics. */
int bertd_rp_counts(const rp_ctx *c, const rp_rec *r, int m);
/* Macro F1 of model m over the records idx[0..n) (repeats allowed), through bertd_metrics. */
int bertd_rp_macro_f1(const rp_ctx *c, int m, const size_t *idx, size_t n, double *out,
                char *errstr, size_t errstr_size);
/* Span micro F1 (seqeval's f1_score) of model m over idx, through bertd_metrics. */
int bertd_rp_slot_f1(const rp_ctx *c, int m, const size_t *idx, size_t n, double *out,
               char *errstr, size_t errstr_size);
/* The A/B block: McNemar, paired bootstrap, the changed records. */
json_t *bertd_rp_compare(rp_ctx *c, char *errstr, size_t errstr_size);

#endif
