/* daemon_metrics.h: what `bertd run` exposes to Prometheus and its readiness, kept apart from the
 * consumer loop so that daemon.c only reports events (a record in, delivered, dead-lettered, a
 * batch run, librdkafka's statistics) in one call each. Every function accepts NULL (the config
 * has no metrics section) and then does nothing. The names follow Prometheus' conventions: the
 * bertd_ prefix, _total for counters, base units (seconds). README "Operating bertd" lists them. */
#ifndef BERTD_DAEMON_METRICS_H
#define BERTD_DAEMON_METRICS_H

#include <stddef.h>

#include "bertd_plugin.h"
#include "metrics.h"

typedef struct bertd_dm bertd_dm;

bertd_dm *bertd_dm_new(void);
void bertd_dm_free(bertd_dm *dm);

/* the registry, for rendering /metrics */
bertd_metrics *bertd_dm_registry(bertd_dm *dm);

void bertd_dm_record_in(bertd_dm *dm, const char *topic);
/* delivered to the output topic; has_end_to_end 0: the record had no Kafka timestamp */
void bertd_dm_record_out(bertd_dm *dm, const char *pipeline, double queue_ms, double model_ms,
                         int has_end_to_end, double end_to_end_ms);
void bertd_dm_record_dead(bertd_dm *dm, const char *pipeline, const char *reason);
/* batches the pipeline's plugin ran (bertd_plugin_poll_batches); dropped: ones it forgot */
void bertd_dm_batches(bertd_dm *dm, const char *pipeline, const bertd_plugin_batch *b, int n,
                      unsigned long long dropped);
/* the pipeline's model, from bertd_plugin_model_json (or just name and checksum) */
void bertd_dm_model(bertd_dm *dm, const char *pipeline, const char *model_json,
                    const char *name, const char *checksum);
/* before the models of a reload are announced: the old ones' info series go */
void bertd_dm_models_clear(bertd_dm *dm);
/* the flow: records in flight, partitions assigned, whether fetching is paused, and how long
 * the producer has had messages waiting without any delivery report (0: none wait) */
void bertd_dm_flow(bertd_dm *dm, size_t in_flight, int assigned, int paused,
                   long long producer_stalled_ms);
/* a librdkafka statistics JSON document (statistics.interval.ms) of the consumer (lag per
 * assigned partition) or the producer (brokers up) */
void bertd_dm_kafka_stats(bertd_dm *dm, const char *json, size_t len, int consumer);
/* a reload's outcome */
void bertd_dm_reload(bertd_dm *dm, int ok);

/* Readiness parts, set by the daemon. */
void bertd_dm_set_models_loaded(bertd_dm *dm, int loaded);
void bertd_dm_set_fatal(bertd_dm *dm, int fatal);
void bertd_dm_set_stopping(bertd_dm *dm, int stopping);
/* The producer is unhealthy once messages have waited this long with no delivery report at
 * all (librdkafka retries a lost broker for ever, so records would pile up). */
#define BERTD_DM_PRODUCER_STALL_MS 30000

/* 1 when ready (models loaded, partitions assigned, the producer delivering, no fatal error);
 * else 0 and why in one line. Any thread. */
int bertd_dm_ready(bertd_dm *dm, char *why, size_t why_size);

#endif
