/* bertd_replay.h: replay a range of a Kafka topic through a model (or score the predictions an
 * enriched topic already holds) and measure it against gold labels; optionally a second model
 * over the same records with a paired significance test; a JSON and an HTML report.
 *
 * The range is read with assign() only: no consumer group is joined and no offset committed,
 * so production groups are untouched. Records are decoded by avro/ exactly as the daemon does
 * (plain or Confluent framing) and enriched by plugin/'s bertd_plugin.h stage (the same
 * tokenizer, length-bucketed batcher, workers and result JSON as `bertd run`), linked in
 * process. Metrics come from bertd_metrics.h, as training's and `bertd eval`'s do. */
#ifndef BERTD_REPLAY_H
#define BERTD_REPLAY_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* What went wrong, for the caller's exit status. */
enum {
  BERTD_REPLAY_OK = 0,
  BERTD_REPLAY_FAILED = 1, /* while running: broker, model, output */
  BERTD_REPLAY_BAD_RANGE = 2 /* bad arguments or range: missing topic or partition, an offset
                              * past the end, an empty range, a model or schema that cannot
                              * be used */
};

#define BERTD_REPLAY_UNSET INT64_MIN

typedef struct bertd_replay_opts {
  /* the topic */
  const char *brokers, *topic;
  const char *const *kafka_props; /* "name=value", passed to librdkafka unchanged */
  int n_kafka_props;
  void (*kafka_log)(const rd_kafka_t *rk, int level, const char *fac, const char *buf);
  int partition;                  /* -1: every partition */
  int64_t from_offset, to_offset; /* [from, to); BERTD_REPLAY_UNSET: the low / high watermark */
  int64_t from_time_ms, to_time_ms; /* resolved by offsets_for_times; UNSET: not given */
  /* the records */
  const char *schema_path, *text_field, *pair_field;
  int confluent;                  /* Confluent wire format */
  const char *registry_url;       /* Confluent: the Schema Registry (NULL: fixed ids) */
  /* the models: each a plugin JSON config (bertd_plugin.h); plugin_json_b NULL: no A/B */
  const char *plugin_json, *plugin_json_b;
  const char *task;               /* classify | joint | tag | embed */
  int stored;                     /* score the `bertd` field of an enriched topic, no model */
  const char *label_model_dir;    /* --stored: a checkpoint whose labels to use (may be NULL) */
  const char *output_topic;       /* produce model A's enriched records there (NULL: nothing) */
  const char *predictions_path;   /* each decoded record's gold and predictions as JSONL, in
                                   * (partition, offset) order, labelled or not (NULL: none) */
  /* gold */
  const char *gold_label, *gold_intent, *gold_slots; /* record fields */
  const char *gold_file, *gold_key; /* JSONL keyed by gold_key; gold_key NULL: the record key */
  const char *oos_label;          /* out-of-scope label (CLINC150 style), or NULL */
  /* a gold label (or slot tag) the model does not know is scored as this one, JointBERT's
   * evaluation convention ("UNK"), instead of being left out; still counted in unknown_gold */
  const char *unknown_gold_as;
  /* A/B */
  uint64_t seed;                  /* paired bootstrap */
  int bootstrap_rounds;           /* 0: 1000 */
  int max_changed;                /* records listed whose prediction changed; 0: 200 */
  /* progress on stderr (the caller decides: a TTY) */
  int progress;
  int max_in_flight;              /* records submitted and not yet done; 0: 4096 */
} bertd_replay_opts;

/* Default-initialised options (every offset and time UNSET, partition -1). */
void bertd_replay_opts_init(bertd_replay_opts *o);

/* Runs the replay; *report is the JSON report (eval/README.md documents its fields).
 * Returns a BERTD_REPLAY_* code; errstr holds one line when it is not OK. */
int bertd_replay_run(const bertd_replay_opts *o, json_t **report, char *errstr,
                     size_t errstr_size);

/* The report as one self-contained HTML file (inline SVG, no external resources). */
int bertd_replay_write_html(const json_t *report, const char *path, char *errstr,
                            size_t errstr_size);

/* "2026-12-06T10:00:00Z", "...T10:00:00.250+02:00", "2026-12-06" -> milliseconds since the
 * epoch; -1 when it is not such a time. */
int bertd_replay_parse_time(const char *s, int64_t *ms);

#endif
