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
    // The enrichment stage's settings, the `model:` and `batching:` sections as written,
    // converted to the JSON text bertd_plugin_create() takes (bertd_plugin.h documents the keys;
    // the plugin alone defines their defaults and checks them). model.dir is resolved.
    char *plugin_json;
    struct {
        char *dir;      // model.dir as written; NULL when it is not a string
        char *dir_path; // resolved against the config file's directory (as in plugin_json)
    } model;
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
    // The Prometheus /metrics, /healthz and /readyz endpoints of `bertd run`.
    struct {
        char *listen; // "HOST:PORT"; NULL when the file has no metrics section (no endpoints)
    } metrics;
    // Hot reload. SIGHUP always reloads the file and its models; with watch, a change in a
    // pipeline's model directory does too (checked every interval_ms, acted on once it has
    // stopped changing for one interval).
    struct {
        int watch;       // 0 unless `watch: true`
        int interval_ms; // >= 100; default 2000
    } reload;
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

// "plain", "confluent".
const char *bertd_dconf_framing_name(enum bertd_dconf_framing framing);
// "at_least_once", "exactly_once".
const char *bertd_dconf_delivery_name(enum bertd_dconf_delivery mode);

#ifdef __cplusplus
}
#endif
#endif
