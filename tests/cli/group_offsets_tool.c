/* group_offsets_tool: prints a consumer group's committed offsets of a topic, one "P OFFSET"
 * line per partition (-1001: none), for tests/cli/cli_replay_test.py (after a replay they must
 * be unchanged). It asks with rd_kafka_committed(), which reads the group's offsets without
 * joining it.
 *
 *   group_offsets_tool BOOTSTRAP GROUP TOPIC PARTITIONS */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: group_offsets_tool BOOTSTRAP GROUP TOPIC PARTITIONS\n");
    return 2;
  }
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof err) ||
      rd_kafka_conf_set(conf, "group.id", argv[2], err, sizeof err) ||
      rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err)) {
    fprintf(stderr, "group_offsets_tool: %s\n", err);
    return 2;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) {
    fprintf(stderr, "group_offsets_tool: %s\n", err);
    return 1;
  }
  int n = atoi(argv[4]);
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
  for (int p = 0; p < n; p++) rd_kafka_topic_partition_list_add(l, argv[3], p);
  rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, 20000);
  int rc = 0;
  if (e) {
    fprintf(stderr, "group_offsets_tool: %s\n", rd_kafka_err2str(e));
    rc = 1;
  } else {
    for (int i = 0; i < l->cnt; i++)
      printf("%d %lld\n", (int)l->elems[i].partition, (long long)l->elems[i].offset);
  }
  rd_kafka_topic_partition_list_destroy(l);
  rd_kafka_destroy(rk);
  return rc;
}
