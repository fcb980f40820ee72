// bertd_config: the daemon's YAML configuration, loaded into plain structs and validated.
//
// One public header for the library (bertd_config). config/README.md documents every key.
//
//   struct bertd_daemon_config *cfg;
//   char errstr[512];
//   if (bertd_dconf_load("bertd.yaml", &cfg, errstr, sizeof errstr) != 0) {
//       fprintf(stderr, "%s\n", errstr);   // "bertd.yaml:12:7: pipelines[0].model.task: ..."
//       return 1;
//   }
//   ... cfg->pipelines[i] ...
//   bertd_dconf_destroy(cfg);
//
// Every error is one line: FILE:LINE:COLUMN: KEY PATH: message (line and column 1-based). Only
// the first error is reported. The loaded config keeps the position of every key, so later
// stages (schema checks, model loading) can point at the line that caused a problem.
#ifndef BERTD_CONFIG_H
#define BERTD_CONFIG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// What the model head computes; see config/README.md for what each one produces.
enum bertd_dconf_task {
    BERTD_CONFIG_TASK_JOINT,    // intent label + slot tags (joint intent/slot model)
    BERTD_CONFIG_TASK_CLASSIFY, // sequence labels
    BERTD_CONFIG_TASK_TAG,      // token tags (NER-style)
    BERTD_CONFIG_TASK_EMBED,    // sentence embedding
    BERTD_CONFIG_TASK_QA,       // extractive answer span (question = text, context = text_pair)
};

// What happens to a text longer than model.max_length tokens.
enum bertd_dconf_too_long {
    BERTD_CONFIG_TOO_LONG_TRUNCATE,
    BERTD_CONFIG_TOO_LONG_DEAD_LETTER,
    BERTD_CONFIG_TOO_LONG_WINDOW,   // overlapping windows, outputs combined
};

// How tag / joint slot logits become word tags (the model's bertd_tag_decoding).
enum bertd_dconf_tag_decoding {
    BERTD_CONFIG_TAG_DECODE_BIO,    // best sequence with well-formed BIO spans (Viterbi)
    BERTD_CONFIG_TAG_DECODE_ARGMAX, // each word's best tag alone, as transformers outputs
};

// How input record values are framed on the topic.
enum bertd_dconf_framing {
    BERTD_CONFIG_FRAMING_PLAIN,     // plain Avro binary written with input.schema
    BERTD_CONFIG_FRAMING_CONFLUENT, // magic byte 0 + 4-byte schema id + Avro binary
};

// What `bertd run` promises about each input record (config/README.md, `delivery`).
enum bertd_dconf_delivery {
    BERTD_CONFIG_AT_LEAST_ONCE, // offsets committed after delivery; repeats after a crash
    BERTD_CONFIG_EXACTLY_ONCE,  // outputs, dead letters and offsets in one Kafka transaction
};

// A YAML position, 1-based; 0 when unknown.
struct bertd_dconf_pos {
    int line;
    int column;
};

// Where one key was written: path is like "pipelines[0].model.top_k" or
// "pipelines[0].input.topics[1]" (sequence items have key == value).
struct bertd_dconf_key {
    char *path;
    struct bertd_dconf_pos key;
    struct bertd_dconf_pos value;
};

// One librdkafka property from the `kafka:` section, as written (value stringified).
struct bertd_dconf_property {
    char *name;
    char *value;
};

struct bertd_pipeline_config {
    char *name;
    struct {
        char **topics;
        size_t topic_count;
        char *schema;          // as written in the file
        char *schema_path;     // resolved against the config file's directory
        char *text_field;
        char *text_pair_field; // NULL when absent or null
        enum bertd_dconf_framing framing;
    } input;
    struct {
        char *topic;
    } output;
    struct {
        char *topic;
    } dead_letter;
    struct {
        char *dir;      // as written
        char *dir_path; // resolved against the config file's directory
        enum bertd_dconf_task task;
        int max_length;
        int top_k;
        int has_threshold; // 0: no threshold key (not the same as threshold: 0)
        double threshold;  // classify / joint: labels scoring below it are not reported
        enum bertd_dconf_too_long on_too_long;
        int window_stride;   // on_too_long: window: tokens windows share; -1: not set (max_length / 4)
        int window_combine_max; // on_too_long: window: classify / intent logits by max, not mean
        enum bertd_dconf_tag_decoding tag_decoding; // tag / joint: bio (default) or argmax
        int threads; // threads this pipeline's model may use; 0: not set (the daemon decides)
    } model;
    struct {
        int max_batch_tokens;
        int max_batch_records;
        int max_wait_ms;
        int *buckets; // strictly increasing token lengths; the last one is model.max_length
        size_t bucket_count;
    } batching;
};

struct bertd_daemon_config {
    char *path; // the file as named to bertd_dconf_load
    char *dir;  // its directory: relative paths in the file are resolved against it
    struct bertd_dconf_property *kafka;
    size_t kafka_count;
    struct bertd_pipeline_config *pipelines;
    size_t pipeline_count;
    // The Confluent Schema Registry that pipelines with input.framing: confluent use (writer
    // schemas by id, the enriched schema registered under "<output topic>-value").
    struct {
        char *url; // "http://host:8081"; NULL when the file has no schema_registry section
    } schema_registry;
    // How long `bertd run` waits at start-up for a broker of bootstrap.servers to answer before
    // it gives up (0: for ever). Once running, a lost broker is retried for ever.
    int broker_wait_ms;
    // `delivery:` (a mode name, or a mapping with mode and the knobs below).
    struct {
        enum bertd_dconf_delivery mode;
        int commit_interval_ms;  // offsets commit (at-least-once) / transaction (exactly-once) period
        char *transactional_id;  // exactly-once: NULL derives it from group.id and the instance
    } delivery;
    struct bertd_dconf_key *keys; // every key of the file, in document order
    size_t key_count;
};

// Reads, parses and validates the YAML file at path. On success *out is a new config (free with
// bertd_dconf_destroy) and 0 is returned; on error, -1 and a one-line message in errstr.
int bertd_dconf_load(const char *path, struct bertd_daemon_config **out, char *errstr,
                      size_t errstr_size);

// The same from memory: name is used in messages, dir to resolve relative paths.
int bertd_dconf_parse(const char *text, size_t len, const char *name, const char *dir,
                       struct bertd_daemon_config **out, char *errstr, size_t errstr_size);

void bertd_dconf_destroy(struct bertd_daemon_config *cfg);

// Where the key at path (e.g. "pipelines[1].input.text_field") was written, or NULL.
const struct bertd_dconf_key *bertd_dconf_where(const struct bertd_daemon_config *cfg,
                                                  const char *path);

// The value of kafka property name, or NULL.
const char *bertd_dconf_kafka(const struct bertd_daemon_config *cfg, const char *name);

// "joint", "classify", ... and "truncate", "dead_letter"; "plain", "confluent".
const char *bertd_dconf_task_name(enum bertd_dconf_task task);
const char *bertd_dconf_too_long_name(enum bertd_dconf_too_long action);
const char *bertd_dconf_framing_name(enum bertd_dconf_framing framing);
// "at_least_once", "exactly_once".
const char *bertd_dconf_delivery_name(enum bertd_dconf_delivery mode);

#ifdef __cplusplus
}
#endif
#endif
