/* test_daemon_metrics.c: readiness and what librdkafka's statistics become
 * (consumer/daemon_metrics.c), on statistics documents shaped as librdkafka writes them. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_metrics.h"

static char *render(bertd_dm *dm) {
  size_t len;
  return bertd_metrics_render(bertd_dm_registry(dm), &len);
}

Test(daemon_metrics, readiness_names_what_is_missing) {
  bertd_dm *dm = bertd_dm_new();
  char why[128];
  cr_assert_eq(bertd_dm_ready(dm, why, sizeof why), 0);
  cr_assert_str_eq(why, "models not loaded yet");
  bertd_dm_set_models_loaded(dm, 1);
  cr_assert_eq(bertd_dm_ready(dm, why, sizeof why), 0);
  cr_assert_str_eq(why, "no input partition assigned");
  bertd_dm_flow(dm, 5, 3, 1, 0);
  cr_assert_eq(bertd_dm_ready(dm, why, sizeof why), 1);
  cr_assert_str_eq(why, "ready");
  /* an idle producer whose broker closed the connection is still ready */
  const char producer_down[] = "{\"type\":\"producer\",\"brokers\":{\"127.0.0.1:9092/1\":"
                               "{\"state\":\"DOWN\",\"nodeid\":1}}}";
  bertd_dm_kafka_stats(dm, producer_down, strlen(producer_down), 0);
  cr_assert_eq(bertd_dm_ready(dm, why, sizeof why), 1);
  bertd_dm_flow(dm, 5, 3, 1, BERTD_DM_PRODUCER_STALL_MS);
  cr_assert_eq(bertd_dm_ready(dm, why, sizeof why), 1);
  bertd_dm_flow(dm, 5, 3, 1, BERTD_DM_PRODUCER_STALL_MS + 1);
  cr_assert_eq(bertd_dm_ready(dm, why, sizeof why), 0);
  cr_assert_str_eq(why, "producer: no delivery report for 30 s");
  bertd_dm_set_fatal(dm, 1);
  bertd_dm_ready(dm, why, sizeof why);
  cr_assert_str_eq(why, "kafka fatal error");
  char *text = render(dm);
  cr_assert_not_null(strstr(text, "bertd_records_in_flight 5\n"));
  cr_assert_not_null(strstr(text, "bertd_partitions_assigned 3\n"));
  cr_assert_not_null(strstr(text, "bertd_partitions_paused 3\n"));
  cr_assert_not_null(strstr(text, "bertd_kafka_brokers_up{client=\"producer\"} 0\n"));
  free(text);
  bertd_dm_free(dm);
}

Test(daemon_metrics, consumer_lag_per_assigned_partition) {
  bertd_dm *dm = bertd_dm_new();
  /* partition -1 is librdkafka's unassigned-messages queue; fetch_state none: not ours;
   * consumer_lag -1: not known yet */
  const char stats[] =
      "{\"type\":\"consumer\",\"brokers\":{\"b/1\":{\"state\":\"UP\",\"nodeid\":1},"
      "\"GroupCoordinator\":{\"state\":\"UP\",\"nodeid\":-1}},"
      "\"topics\":{\"utt\":{\"partitions\":{"
      "\"0\":{\"fetch_state\":\"active\",\"consumer_lag\":12},"
      "\"1\":{\"fetch_state\":\"active\",\"consumer_lag\":0},"
      "\"2\":{\"fetch_state\":\"none\",\"consumer_lag\":5},"
      "\"3\":{\"fetch_state\":\"active\",\"consumer_lag\":-1},"
      "\"-1\":{\"fetch_state\":\"none\",\"consumer_lag\":-1}}}}}";
  bertd_dm_kafka_stats(dm, stats, strlen(stats), 1);
  char *text = render(dm);
  cr_assert_not_null(strstr(text, "bertd_consumer_lag{topic=\"utt\",partition=\"0\"} 12\n"));
  cr_assert_not_null(strstr(text, "bertd_consumer_lag{topic=\"utt\",partition=\"1\"} 0\n"));
  cr_assert_null(strstr(text, "partition=\"2\""));
  cr_assert_null(strstr(text, "partition=\"3\""));
  cr_assert_null(strstr(text, "partition=\"-1\""));
  cr_assert_not_null(strstr(text, "bertd_kafka_brokers_up{client=\"consumer\"} 1\n"));
  free(text);
  /* the next document replaces the series: a revoked partition's lag goes */
  const char later[] = "{\"topics\":{\"utt\":{\"partitions\":{\"1\":{\"fetch_state\":"
                       "\"active\",\"consumer_lag\":4}}}}}";
  bertd_dm_kafka_stats(dm, later, strlen(later), 1);
  text = render(dm);
  cr_assert_null(strstr(text, "partition=\"0\""));
  cr_assert_not_null(strstr(text, "bertd_consumer_lag{topic=\"utt\",partition=\"1\"} 4\n"));
  free(text);
  bertd_dm_free(dm);
}

Test(daemon_metrics, batches_and_model_info) {
  bertd_dm *dm = bertd_dm_new();
  const bertd_plugin_batch b[2] = {{.sequences = 4, .tokens = 30, .padded_tokens = 40},
                                   {.sequences = 1, .tokens = 9, .padded_tokens = 9}};
  bertd_dm_batches(dm, "p", b, 2, 3);
  bertd_dm_model(dm, "p", "{\"name\":\"m\",\"checksum\":\"c0ffee\",\"task\":\"joint\","
                 "\"precision\":\"float32\",\"max_length\":64}", "ignored", "ignored");
  char *text = render(dm);
  cr_assert_not_null(strstr(text, "bertd_batch_size_sum{pipeline=\"p\"} 5\n"));
  cr_assert_not_null(strstr(text, "bertd_batch_tokens_total{pipeline=\"p\"} 39\n"));
  cr_assert_not_null(strstr(text, "bertd_batch_padded_tokens_total{pipeline=\"p\"} 49\n"));
  /* padding ratios 1 - 30/40 = 0.25 and 0 */
  cr_assert_not_null(strstr(text, "bertd_batch_padding_ratio_sum{pipeline=\"p\"} 0.25\n"));
  cr_assert_not_null(strstr(text, "bertd_batch_padding_ratio_bucket{pipeline=\"p\",le=\"0\"} 1\n"));
  cr_assert_not_null(strstr(text, "bertd_batch_stats_dropped_total{pipeline=\"p\"} 3\n"));
  cr_assert_not_null(strstr(text, "bertd_model_info{pipeline=\"p\",model=\"m\",checksum=\"c0ffee\","
                                  "task=\"joint\",precision=\"float32\"} 1\n"));
  free(text);
  bertd_dm_models_clear(dm);
  text = render(dm);
  cr_assert_null(strstr(text, "bertd_model_info{"));
  free(text);
  bertd_dm_free(dm);
}
