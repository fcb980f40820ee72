/* cli_kafka.c: options and set-up shared by `bertd produce` and `bertd consume`. */
#include "cli_kafka.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_log.h"

int bertd_cli_kafka_option(cli_kafka_opts *o, int c, const char *arg, const char *cmd) {
  char *end = NULL;
  switch (c) {
  case 'B': o->brokers = arg; return 1;
  case 't': o->topic = arg; return 1;
  case 's': o->schema = arg; return 1;
  case 'C': o->confluent = 1; return 1;
  case 'R': o->registry = arg; return 1;
  case 'I':
    o->schema_id = strtol(arg, &end, 10);
    if (*end || o->schema_id < 0 || o->schema_id > INT32_MAX) {
      fprintf(stderr, "bertd %s: --schema-id: '%s' is not a schema id\n", cmd, arg);
      return -1;
    }
    return 1;
  case 'X':
    if (!strchr(arg, '=')) {
      fprintf(stderr, "bertd %s: -X %s: expected name=value\n", cmd, arg);
      return -1;
    }
    if (o->n_props == CLI_MAX_PROPS) {
      fprintf(stderr, "bertd %s: more than %d -X options\n", cmd, CLI_MAX_PROPS);
      return -1;
    }
    o->props[o->n_props++] = arg;
    return 1;
  }
  return 0;
}

int bertd_cli_kafka_check(const cli_kafka_opts *o, const char *cmd) {
  const char *missing = !o->brokers ? "--brokers HOST:PORT"
                        : !o->topic ? "--topic NAME"
                        : !o->schema && !o->raw ? "--schema FILE.avsc"
                                     : NULL;
  if (missing) {
    fprintf(stderr, "bertd %s: %s is required\n", cmd, missing);
    return -1;
  }
  if ((o->registry || o->schema_id >= 0) && !o->confluent) {
    fprintf(stderr, "bertd %s: --registry and --schema-id go with --confluent\n", cmd);
    return -1;
  }
  if (o->registry && o->schema_id >= 0) {
    fprintf(stderr, "bertd %s: give --registry or --schema-id, not both\n", cmd);
    return -1;
  }
  /* a mistyped schema path is a bad argument, said before any broker is contacted */
  FILE *f = o->schema && !o->raw ? fopen(o->schema, "r") : NULL;
  if (o->schema && !o->raw && !f) {
    fprintf(stderr, "bertd %s: --schema %s: %s\n", cmd, o->schema, strerror(errno));
    return -1;
  }
  if (f) fclose(f);
  return 0;
}

rd_kafka_conf_t *bertd_cli_kafka_conf(const cli_kafka_opts *o, char *errstr, size_t errstr_size) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  char rk_err[512];
  /* librdkafka's lines ("Coordinator load in progress", ...) as bertd's, with levels */
  rd_kafka_conf_set_log_cb(conf, bertd_log_kafka);
  if (rd_kafka_conf_set(conf, "bootstrap.servers", o->brokers, rk_err, sizeof rk_err) !=
      RD_KAFKA_CONF_OK) {
    snprintf(errstr, errstr_size, "bootstrap.servers: %s", rk_err);
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  for (int i = 0; i < o->n_props; i++) {
    char name[256];
    const char *eq = strchr(o->props[i], '=');
    snprintf(name, sizeof name, "%.*s", (int)(eq - o->props[i]), o->props[i]);
    if (rd_kafka_conf_set(conf, name, eq + 1, rk_err, sizeof rk_err) != RD_KAFKA_CONF_OK) {
      snprintf(errstr, errstr_size, "-X %s: %s", o->props[i], rk_err);
      rd_kafka_conf_destroy(conf);
      return NULL;
    }
  }
  return conf;
}

int bertd_cli_kafka_codec(const cli_kafka_opts *o, const char *subject, bertd_registry **reg,
                    bertd_codec **codec, char *errstr, size_t errstr_size) {
  *reg = NULL;
  *codec = NULL;
  bertd_avro_schema *s = NULL;
  if (bertd_avro_schema_load(o->schema, &s, errstr, errstr_size)) return -1;
  if (o->registry && bertd_registry_create(o->registry, 0, reg, errstr, errstr_size)) {
    bertd_avro_schema_free(s);
    return -1;
  }
  bertd_codec_conf conf = {
      .framing = o->confluent ? BERTD_FRAMING_CONFLUENT : BERTD_FRAMING_PLAIN,
      .input_schema_id = (int32_t)o->schema_id,
      .output_schema_id = -1,
      .registry = *reg,
      .input_subject = subject,
      .decode_only = 1, /* the CLIs read and write records of the schema given, enriched or not */
  };
  int rc = bertd_codec_create(&conf, s, codec, errstr, errstr_size);
  bertd_avro_schema_free(s);
  if (rc) {
    bertd_registry_free(*reg);
    *reg = NULL;
  }
  return rc;
}
