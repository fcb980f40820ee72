/* daemon_metrics.c: bertd's metric families and readiness (see daemon_metrics.h). */
#include "daemon_metrics.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bertd_dm {
  bertd_metrics *m;
  int in, out, dead, batch_size, batch_tokens, padding, tokens, padded, batches_lost, queue_s,
      model_s, e2e_s, in_flight, assigned, paused, lag, brokers_up, model_info, reloads, ready;
  /* readiness, read by the HTTP thread */
  atomic_int models_loaded, fatal, stopping, n_assigned;
  /* the producer's oldest undelivered message has waited this long for a delivery report (0:
   * nothing waits). Not its brokers' connection state: an idle producer's connections may be
   * closed by the brokers, which is no reason to take the daemon out of service. */
  atomic_llong producer_stalled_ms;
};

/* Latencies from a millisecond to a minute; a record waits max_wait_ms in its bucket, a
 * MiniLM batch runs in tens of milliseconds, a slow or backed-up pipeline takes seconds. */
static const double SECONDS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1,     2.5,  5,     10,   30, 60};
static const double SIZES[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
static const double TOKENS[] = {16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};
static const double RATIOS[] = {0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8};
#define N(a) (int)(sizeof(a) / sizeof *(a))

bertd_dm *bertd_dm_new(void) {
  bertd_dm *dm = calloc(1, sizeof(*dm));
  if (!dm || !(dm->m = bertd_metrics_new())) {
    free(dm);
    return NULL;
  }
  bertd_metrics *m = dm->m;
  const bertd_metric_type C = BERTD_METRIC_COUNTER, G = BERTD_METRIC_GAUGE,
                          H = BERTD_METRIC_HISTOGRAM;
  int *ids[] = {&dm->in,      &dm->out,     &dm->dead,       &dm->batch_size, &dm->batch_tokens,
                &dm->padding, &dm->tokens,  &dm->padded,     &dm->batches_lost, &dm->queue_s,
                &dm->model_s, &dm->e2e_s,   &dm->in_flight,  &dm->assigned,   &dm->paused,
                &dm->lag,     &dm->brokers_up, &dm->model_info, &dm->reloads, &dm->ready};
  *ids[0] = bertd_metrics_family(m, "bertd_records_in_total", C,
                                 "Records read from an input topic.", NULL, 0);
  *ids[1] = bertd_metrics_family(m, "bertd_records_out_total", C,
                                 "Enriched records delivered to the pipeline's output topic.",
                                 NULL, 0);
  *ids[2] = bertd_metrics_family(m, "bertd_records_dead_lettered_total", C,
                                 "Records delivered to the dead-letter topic, by reason.", NULL, 0);
  *ids[3] = bertd_metrics_family(m, "bertd_batch_size", H,
                                 "Sequences per forward pass (a window of a long text counts "
                                 "as one).", SIZES, N(SIZES));
  *ids[4] = bertd_metrics_family(m, "bertd_batch_tokens", H,
                                 "Tokens per forward pass, special tokens included, padding "
                                 "excluded.", TOKENS, N(TOKENS));
  *ids[5] = bertd_metrics_family(m, "bertd_batch_padding_ratio", H,
                                 "Share of a forward pass's padded tokens that are padding: "
                                 "1 - tokens / (sequences x longest).", RATIOS, N(RATIOS));
  *ids[6] = bertd_metrics_family(m, "bertd_batch_tokens_total", C,
                                 "Tokens run through the model, padding excluded.", NULL, 0);
  *ids[7] = bertd_metrics_family(m, "bertd_batch_padded_tokens_total", C,
                                 "Tokens the model computed, padding included (sequences x "
                                 "longest per batch).", NULL, 0);
  *ids[8] = bertd_metrics_family(m, "bertd_batch_stats_dropped_total", C,
                                 "Batches whose shape the plugin forgot before the daemon read "
                                 "it (not in the batch histograms).", NULL, 0);
  *ids[9] = bertd_metrics_family(m, "bertd_queue_seconds", H,
                                 "From submission to the plugin until the record's batch began "
                                 "(delivered records).", SECONDS, N(SECONDS));
  *ids[10] = bertd_metrics_family(m, "bertd_model_seconds", H,
                                  "The forward pass and results of the record's batch "
                                  "(delivered records).", SECONDS, N(SECONDS));
  *ids[11] = bertd_metrics_family(m, "bertd_end_to_end_seconds", H,
                                  "From the input record's Kafka timestamp until its enriched "
                                  "record was acknowledged by the broker.", SECONDS, N(SECONDS));
  *ids[12] = bertd_metrics_family(m, "bertd_records_in_flight", G,
                                  "Records read and not yet delivered.", NULL, 0);
  *ids[13] = bertd_metrics_family(m, "bertd_partitions_assigned", G,
                                  "Input partitions assigned to this daemon.", NULL, 0);
  *ids[14] = bertd_metrics_family(m, "bertd_partitions_paused", G,
                                  "Assigned input partitions whose fetching is paused "
                                  "(backpressure).", NULL, 0);
  *ids[15] = bertd_metrics_family(m, "bertd_consumer_lag", G,
                                  "Records of an assigned partition after the group's committed "
                                  "offset (librdkafka's consumer_lag).", NULL, 0);
  *ids[16] = bertd_metrics_family(m, "bertd_kafka_brokers_up", G,
                                  "Brokers a client is connected to (state UP).", NULL, 0);
  *ids[17] = bertd_metrics_family(m, "bertd_model_info", G,
                                  "The model each pipeline serves (value 1).", NULL, 0);
  *ids[18] = bertd_metrics_family(m, "bertd_reloads_total", C,
                                  "Reloads of the config and models, by result (ok, rejected).",
                                  NULL, 0);
  *ids[19] = bertd_metrics_family(m, "bertd_ready", G,
                                  "1 when /readyz answers ready.", NULL, 0);
  for (int i = 0; i < N(ids); i++)
    if (*ids[i] < 0) {
      bertd_dm_free(dm);
      return NULL;
    }
  /* series without labels exist from the start, at 0 */
  bertd_metrics_set(m, dm->in_flight, "", 0);
  bertd_metrics_set(m, dm->assigned, "", 0);
  bertd_metrics_set(m, dm->paused, "", 0);
  bertd_metrics_set(m, dm->ready, "", 0);
  char l[64];
  bertd_metrics_add(m, dm->reloads, bertd_metrics_labels(l, sizeof l, "result", "ok", NULL), 0);
  bertd_metrics_add(m, dm->reloads, bertd_metrics_labels(l, sizeof l, "result", "rejected", NULL),
                    0);
  return dm;
}

void bertd_dm_free(bertd_dm *dm) {
  if (!dm) return;
  bertd_metrics_free(dm->m);
  free(dm);
}

bertd_metrics *bertd_dm_registry(bertd_dm *dm) { return dm ? dm->m : NULL; }

void bertd_dm_record_in(bertd_dm *dm, const char *topic) {
  if (!dm) return;
  char l[600];
  bertd_metrics_add(dm->m, dm->in, bertd_metrics_labels(l, sizeof l, "topic", topic, NULL), 1);
}

void bertd_dm_record_out(bertd_dm *dm, const char *pipeline, double queue_ms, double model_ms,
                         int has_end_to_end, double end_to_end_ms) {
  if (!dm) return;
  char l[300];
  bertd_metrics_labels(l, sizeof l, "pipeline", pipeline, NULL);
  bertd_metrics_lock(dm->m);
  bertd_metrics_add(dm->m, dm->out, l, 1);
  bertd_metrics_observe(dm->m, dm->queue_s, l, queue_ms / 1000.0);
  bertd_metrics_observe(dm->m, dm->model_s, l, model_ms / 1000.0);
  /* clocks of producer and daemon may disagree: a negative time is clamped, not dropped */
  if (has_end_to_end)
    bertd_metrics_observe(dm->m, dm->e2e_s, l, end_to_end_ms > 0 ? end_to_end_ms / 1000.0 : 0);
  bertd_metrics_unlock(dm->m);
}

void bertd_dm_record_dead(bertd_dm *dm, const char *pipeline, const char *reason) {
  if (!dm) return;
  char l[400];
  bertd_metrics_add(dm->m, dm->dead,
                    bertd_metrics_labels(l, sizeof l, "pipeline", pipeline, "reason", reason,
                                         NULL), 1);
}

void bertd_dm_batches(bertd_dm *dm, const char *pipeline, const bertd_plugin_batch *b, int n,
                      unsigned long long dropped) {
  if (!dm || (n <= 0 && !dropped)) return;
  char l[300];
  bertd_metrics_labels(l, sizeof l, "pipeline", pipeline, NULL);
  bertd_metrics_lock(dm->m);
  for (int i = 0; i < n; i++) {
    bertd_metrics_observe(dm->m, dm->batch_size, l, b[i].sequences);
    bertd_metrics_observe(dm->m, dm->batch_tokens, l, b[i].tokens);
    bertd_metrics_observe(dm->m, dm->padding, l,
                          b[i].padded_tokens > 0
                              ? 1.0 - (double)b[i].tokens / (double)b[i].padded_tokens
                              : 0.0);
    bertd_metrics_add(dm->m, dm->tokens, l, b[i].tokens);
    bertd_metrics_add(dm->m, dm->padded, l, b[i].padded_tokens);
  }
  if (dropped) bertd_metrics_add(dm->m, dm->batches_lost, l, (double)dropped);
  bertd_metrics_unlock(dm->m);
}

void bertd_dm_model(bertd_dm *dm, const char *pipeline, const char *model_json, const char *name,
                    const char *checksum) {
  if (!dm) return;
  json_t *o = model_json ? json_loads(model_json, 0, NULL) : NULL;
  const char *task = o ? json_string_value(json_object_get(o, "task")) : NULL;
  const char *precision = o ? json_string_value(json_object_get(o, "precision")) : NULL;
  const char *n = o ? json_string_value(json_object_get(o, "name")) : NULL;
  const char *c = o ? json_string_value(json_object_get(o, "checksum")) : NULL;
  char l[1024];
  bertd_metrics_set(dm->m, dm->model_info,
                    bertd_metrics_labels(l, sizeof l, "pipeline", pipeline, "model",
                                         n ? n : name, "checksum", c ? c : checksum, "task",
                                         task ? task : "", "precision",
                                         precision ? precision : "", NULL),
                    1);
  json_decref(o);
}

void bertd_dm_models_clear(bertd_dm *dm) {
  if (dm) bertd_metrics_clear(dm->m, dm->model_info);
}

void bertd_dm_flow(bertd_dm *dm, size_t in_flight, int assigned, int paused,
                   long long producer_stalled_ms) {
  if (!dm) return;
  atomic_store(&dm->n_assigned, assigned);
  atomic_store(&dm->producer_stalled_ms, producer_stalled_ms);
  char why[8];
  bertd_metrics_lock(dm->m);
  bertd_metrics_set(dm->m, dm->in_flight, "", (double)in_flight);
  bertd_metrics_set(dm->m, dm->assigned, "", assigned);
  bertd_metrics_set(dm->m, dm->paused, "", paused ? assigned : 0);
  bertd_metrics_set(dm->m, dm->ready, "", bertd_dm_ready(dm, why, sizeof why));
  bertd_metrics_unlock(dm->m);
}

/* librdkafka's statistics (STATISTICS.md): topics.T.partitions.P.consumer_lag for the
 * consumer's assigned partitions, brokers.B.state for both clients. */
void bertd_dm_kafka_stats(bertd_dm *dm, const char *json, size_t len, int consumer) {
  if (!dm) return;
  json_t *root = json_loadb(json, len, 0, NULL);
  if (!root) return;
  int up = 0;
  const char *bname;
  json_t *b;
  json_object_foreach(json_object_get(root, "brokers"), bname, b) {
    const char *state = json_string_value(json_object_get(b, "state"));
    if (state && !strcmp(state, "UP") && json_integer_value(json_object_get(b, "nodeid")) >= 0)
      up++;
  }
  char l[600];
  bertd_metrics_lock(dm->m);
  bertd_metrics_set(dm->m, dm->brokers_up,
                    bertd_metrics_labels(l, sizeof l, "client", consumer ? "consumer" : "producer",
                                         NULL), up);
  if (consumer) {
    bertd_metrics_clear(dm->m, dm->lag); /* revoked partitions' series go */
    const char *tname, *pname;
    json_t *t, *p;
    json_object_foreach(json_object_get(root, "topics"), tname, t) {
      json_object_foreach(json_object_get(t, "partitions"), pname, p) {
        json_t *lag = json_object_get(p, "consumer_lag");
        const char *fetch = json_string_value(json_object_get(p, "fetch_state"));
        if (atoi(pname) < 0 || !json_is_integer(lag) || json_integer_value(lag) < 0) continue;
        if (fetch && !strcmp(fetch, "none")) continue; /* not assigned to us */
        bertd_metrics_set(dm->m, dm->lag,
                          bertd_metrics_labels(l, sizeof l, "topic", tname, "partition", pname,
                                               NULL),
                          (double)json_integer_value(lag));
      }
    }
  }
  bertd_metrics_unlock(dm->m);
  json_decref(root);
}

void bertd_dm_reload(bertd_dm *dm, int ok) {
  if (!dm) return;
  char l[64];
  bertd_metrics_add(dm->m, dm->reloads,
                    bertd_metrics_labels(l, sizeof l, "result", ok ? "ok" : "rejected", NULL), 1);
}

void bertd_dm_set_models_loaded(bertd_dm *dm, int loaded) {
  if (dm) atomic_store(&dm->models_loaded, loaded);
}
void bertd_dm_set_fatal(bertd_dm *dm, int fatal) {
  if (dm) atomic_store(&dm->fatal, fatal);
}
void bertd_dm_set_stopping(bertd_dm *dm, int stopping) {
  if (dm) atomic_store(&dm->stopping, stopping);
}

int bertd_dm_ready(bertd_dm *dm, char *why, size_t why_size) {
  const char *no = NULL;
  if (!dm) no = "no metrics";
  else if (atomic_load(&dm->fatal)) no = "kafka fatal error";
  else if (atomic_load(&dm->stopping)) no = "stopping";
  else if (!atomic_load(&dm->models_loaded)) no = "models not loaded yet";
  else if (atomic_load(&dm->n_assigned) <= 0) no = "no input partition assigned";
  else if (atomic_load(&dm->producer_stalled_ms) > BERTD_DM_PRODUCER_STALL_MS)
    no = "producer: no delivery report for 30 s";
  snprintf(why, why_size, "%s", no ? no : "ready");
  return !no;
}
