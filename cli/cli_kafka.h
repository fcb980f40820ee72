/* cli_kafka.h: what the produce and consume commands share: broker and -X options, and opening
 * the codec (local schema, optional Confluent framing with a registry or a fixed id). */
#ifndef BERTD_CLI_KAFKA_H
#define BERTD_CLI_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "bertd_avro.h"

#define CLI_MAX_PROPS 64

typedef struct cli_kafka_opts {
  const char *brokers, *topic, *schema;
  int confluent;
  const char *registry;   /* Confluent: the Schema Registry URL, or */
  long schema_id;         /* Confluent without a registry: the fixed id (-1: none) */
  const char *props[CLI_MAX_PROPS]; /* -X name=value, passed to librdkafka unchanged */
  int n_props;
  int raw;                /* --raw: values as bytes (hex), no schema, no codec */
} cli_kafka_opts;

/* Handles a shared option (c is getopt's answer). 1: handled; 0: not shared; -1: bad value
 * (message printed). */
int bertd_cli_kafka_option(cli_kafka_opts *o, int c, const char *arg, const char *cmd);
/* Checks the shared options after parsing: 0 or -1 (message printed). */
int bertd_cli_kafka_check(const cli_kafka_opts *o, const char *cmd);

/* librdkafka configuration: bootstrap.servers, then every -X in order. */
rd_kafka_conf_t *bertd_cli_kafka_conf(const cli_kafka_opts *o, char *errstr, size_t errstr_size);

/* The codec for o's schema and framing. subject: with a registry, the input schema is
 * registered under it (produce) or NULL (consume). */
int bertd_cli_kafka_codec(const cli_kafka_opts *o, const char *subject, bertd_registry **reg,
                    bertd_codec **codec, char *errstr, size_t errstr_size);

/* Long options shared by both commands, for their getopt tables (values: 'B', 't', 's', 'X',
 * 'C', 'R', 'I'). */
#define CLI_KAFKA_LONGOPTS                                                                     \
  {"brokers", required_argument, 0, 'B'}, {"topic", required_argument, 0, 't'},               \
      {"schema", required_argument, 0, 's'}, {"confluent", no_argument, 0, 'C'},              \
      {"registry", required_argument, 0, 'R'}, {"schema-id", required_argument, 0, 'I'}
#define CLI_KAFKA_SHORTOPTS "X:"

#endif
