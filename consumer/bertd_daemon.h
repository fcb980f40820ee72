/* bertd_daemon.h: `bertd run`: Kafka -> Avro -> plugin (length buckets -> BERT) -> enriched Avro.
 *
 * Delivery is at-least-once by default: an input offset is stored for commit only when every
 * record at or below it in its partition has been delivered to the output or the dead-letter
 * topic (offsets.h). With delivery: exactly_once those watermarks are committed in the Kafka
 * transaction that holds the records' outputs and dead letters (transactions.h). Output keeps each input record's key and headers, and each input partition's
 * order (records are produced in offset order per partition; with as many output partitions as
 * input partitions, record p of input partition i goes to output partition i). Anything that
 * goes wrong with one record sends it to the dead-letter topic with its reason; the partition
 * keeps moving and the daemon keeps running. */
#ifndef BERTD_DAEMON_H
#define BERTD_DAEMON_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include "bertd_config.h"

typedef struct bertd_daemon_opts {
  const char *plugin_path;        /* NULL: found next to the executable or $BERTD_PLUGIN */
  size_t max_in_flight;           /* pause fetching when this many records are in flight,
                                   * resume when half as many are (0: 20000) */
  int stats_interval_ms;          /* a stats log line this often (0: 10000; <0: never) */
  int drain_timeout_ms;           /* bound for draining on revoke and on shutdown (0: 30000) */
  volatile sig_atomic_t *stop;    /* set by the signal handler: drain, commit, return */
  volatile sig_atomic_t *reload;  /* set by SIGHUP's handler (may be NULL): reload the config
                                   * file and its models; the daemon clears it */
} bertd_daemon_opts;

/* Runs until *opts->stop is set. Returns 0 after a clean drain, -1 with errstr when start-up
 * failed (bad Kafka property, model, schema, plugin) or the drain could not finish. */
int bertd_daemon_run(const struct bertd_daemon_config *cfg, const bertd_daemon_opts *opts,
                     char *errstr, size_t errstr_size);

/* run_preflight.c: config checks that need the enrichment stage (the plugin at plugin_path, as
 * in bertd_daemon_opts) or the Avro schemas. 0, or -1 with "file:line:column: key: message" in
 * errstr. */
int bertd_run_preflight(const struct bertd_daemon_config *cfg, const char *plugin_path,
                        char *errstr, size_t errstr_size);

/* `bertd run --check`: every pipeline's model and batching settings as the plugin will run them
 * (defaults filled in), one JSON object per line to out:
 * {"pipeline":"NAME","model":{...},"batching":{...}}. 0, or -1 with errstr. */
int bertd_run_print_settings(const struct bertd_daemon_config *cfg, const char *plugin_path,
                             FILE *out, char *errstr, size_t errstr_size);

#endif
