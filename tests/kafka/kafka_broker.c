// The broker harness itself, end to end against a real Kafka started by tests/kafka/broker.sh:
// create a 3-partition topic with the admin API, produce 1,000 keyed messages with an idempotent
// producer, read them back in a consumer group (each exactly once, with its key, in per-partition
// produce order), restart the broker, and check that the data and the group's committed offsets
// survived and that producing still works. The broker is stopped in the fini, and once more by a
// report hook in the runner process in case the test process itself died.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <librdkafka/rdkafka.h>

#define TOPIC "broker-roundtrip"
#define PARTITIONS 3
#define FIRST_BATCH 1000
#define SECOND_BATCH 100
#define TOTAL (FIRST_BATCH + SECOND_BATCH)
#define KEYS 37

// Where a produced message landed, filled by the delivery report callback.
struct delivery {
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
    int delivered;
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// This test's broker gets its own state dir in the build tree, apart from a developer's broker.
static void broker_env(void) {
    setenv("BERTD_KAFKA_STATE", BERTD_BINARY_DIR "/kafka-state/kafka_broker", 1);
}

// Runs `broker.sh VERB`; returns its exit status and copies the last line of its stdout (the
// bootstrap address for start and restart) into last, when last is not NULL.
static int broker_run(const char *verb, char *last, size_t last_size) {
    char cmd[4096], line[512];
    broker_env();
    snprintf(cmd, sizeof cmd, "bash '%s/tests/kafka/broker.sh' %s", BERTD_SOURCE_DIR, verb);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    if (last && last_size) last[0] = '\0';
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\r\n")] = '\0';
        size_t n = strlen(line);
        if (!last || n == 0) continue;
        if (n >= last_size) n = last_size - 1;
        memcpy(last, line, n);
        last[n] = '\0';
    }
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void key_of(int i, char *buf, size_t size) { snprintf(buf, size, "key-%02d", i % KEYS); }
static void value_of(int i, char *buf, size_t size) { snprintf(buf, size, "msg-%04d", i); }

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk; (void)opaque;
    struct delivery *d = m->_private;
    d->err = m->err;
    d->partition = m->partition;
    d->offset = m->offset;
    d->delivered++;
}

static rd_kafka_conf_t *conf_with(const char *bootstrap) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    cr_assert_eq(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr),
                 RD_KAFKA_CONF_OK, "%s", errstr);
    return conf;
}

static void conf_set(rd_kafka_conf_t *conf, const char *name, const char *value) {
    char errstr[512];
    cr_assert_eq(rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr), RD_KAFKA_CONF_OK,
                 "%s=%s: %s", name, value, errstr);
}

static void create_topic(const char *bootstrap) {
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf_with(bootstrap), errstr, sizeof errstr);
    cr_assert_not_null(rk, "%s", errstr);
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    rd_kafka_NewTopic_t *topic = rd_kafka_NewTopic_new(TOPIC, PARTITIONS, 1, errstr, sizeof errstr);
    cr_assert_not_null(topic, "%s", errstr);
    rd_kafka_AdminOptions_t *options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(options, 10000, errstr, sizeof errstr);
    rd_kafka_CreateTopics(rk, &topic, 1, options, queue);

    rd_kafka_event_t *ev = rd_kafka_queue_poll(queue, 30000);
    cr_assert_not_null(ev, "CreateTopics: no result in 30 s");
    cr_assert_eq(rd_kafka_event_error(ev), RD_KAFKA_RESP_ERR_NO_ERROR, "CreateTopics: %s",
                 rd_kafka_event_error_string(ev));
    size_t n = 0;
    const rd_kafka_topic_result_t **results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(rd_kafka_topic_result_error(results[0]), RD_KAFKA_RESP_ERR_NO_ERROR,
                 "CreateTopics %s: %s", TOPIC, rd_kafka_topic_result_error_string(results[0]));
    rd_kafka_event_destroy(ev);

    // Creation is asynchronous on the broker: wait until every partition has a leader.
    int64_t deadline = now_ms() + 30000;
    int ready = 0;
    while (!ready && now_ms() < deadline) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 1, NULL, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            for (int t = 0; t < md->topic_cnt; t++) {
                if (strcmp(md->topics[t].topic, TOPIC) != 0 || md->topics[t].partition_cnt != PARTITIONS)
                    continue;
                ready = 1;
                for (int p = 0; p < PARTITIONS; p++)
                    if (md->topics[t].partitions[p].leader < 0) ready = 0;
            }
            rd_kafka_metadata_destroy(md);
        }
    }
    cr_assert(ready, "topic %s has no leader for every partition after 30 s", TOPIC);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_NewTopic_destroy(topic);
    rd_kafka_queue_destroy(queue);
    rd_kafka_destroy(rk);
}

// Produces messages [first, first+count) with an idempotent producer and waits for every
// delivery report.
static void produce(const char *bootstrap, struct delivery *d, int first, int count) {
    char errstr[512], key[32], value[32];
    rd_kafka_conf_t *conf = conf_with(bootstrap);
    conf_set(conf, "enable.idempotence", "true");
    conf_set(conf, "linger.ms", "5");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    cr_assert_not_null(rk, "%s", errstr);
    for (int i = first; i < first + count; i++) {
        key_of(i, key, sizeof key);
        value_of(i, value, sizeof value);
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC),
                                        RD_KAFKA_V_KEY(key, strlen(key)),
                                        RD_KAFKA_V_VALUE(value, strlen(value)),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_OPAQUE(&d[i]), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        cr_assert_eq(err, RD_KAFKA_RESP_ERR_NO_ERROR, "produce %d: %s", i, rd_kafka_err2str(err));
        rd_kafka_poll(rk, 0);
    }
    cr_assert_eq(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR, "flush timed out");
    rd_kafka_destroy(rk);

    // Idempotence keeps produce order within a partition: offsets rise with the message index.
    int64_t last[PARTITIONS] = { -1, -1, -1 };
    for (int i = first; i < first + count; i++) {
        cr_assert_eq(d[i].delivered, 1, "message %d: %d delivery reports", i, d[i].delivered);
        cr_assert_eq(d[i].err, RD_KAFKA_RESP_ERR_NO_ERROR, "message %d: %s", i,
                     rd_kafka_err2str(d[i].err));
        cr_assert(d[i].partition >= 0 && d[i].partition < PARTITIONS);
        cr_assert_gt(d[i].offset, last[d[i].partition], "message %d out of order", i);
        last[d[i].partition] = d[i].offset;
    }
    for (int p = 0; p < PARTITIONS; p++)
        cr_assert_geq(last[p], 0, "no message went to partition %d: keys not spread", p);
}

// Reads TOPIC in consumer group GROUP until it has `count` messages, then a little longer to
// catch duplicates, and commits. It must get exactly messages [first, first+count), each once,
// with its key, at the partition and offset its delivery report named, in per-partition order.
static void consume(const char *bootstrap, const char *group, const struct delivery *d, int first,
                    int count) {
    char errstr[512], key[32], value[32];
    rd_kafka_conf_t *conf = conf_with(bootstrap);
    conf_set(conf, "group.id", group);
    conf_set(conf, "auto.offset.reset", "earliest");
    conf_set(conf, "enable.auto.commit", "false");
    conf_set(conf, "session.timeout.ms", "6000");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    cr_assert_not_null(rk, "%s", errstr);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, TOPIC, RD_KAFKA_PARTITION_UA);
    cr_assert_eq(rd_kafka_subscribe(rk, topics), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(topics);

    int *seen = calloc(TOTAL, sizeof *seen);
    cr_assert_not_null(seen);
    int last[PARTITIONS] = { -1, -1, -1 };
    int got = 0;
    int64_t deadline = now_ms() + 30000, linger_until = 0;
    while (now_ms() < deadline && (got < count || now_ms() < linger_until)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) { rd_kafka_message_destroy(m); continue; }
        cr_assert_eq(m->err, RD_KAFKA_RESP_ERR_NO_ERROR, "consume: %s", rd_kafka_message_errstr(m));
        int i = -1;
        cr_assert(m->len < sizeof value);
        memcpy(value, m->payload, m->len);
        value[m->len] = '\0';
        cr_assert_eq(sscanf(value, "msg-%d", &i), 1, "unexpected value '%s'", value);
        cr_assert(i >= first && i < first + count, "message %d outside [%d,%d)", i, first,
                  first + count);
        cr_assert_eq(++seen[i], 1, "message %d arrived twice", i);
        key_of(i, key, sizeof key);
        cr_assert(m->key_len == strlen(key) && memcmp(m->key, key, m->key_len) == 0,
                  "message %d lost its key", i);
        cr_assert_eq(m->partition, d[i].partition, "message %d: partition", i);
        cr_assert_eq(m->offset, d[i].offset, "message %d: offset", i);
        cr_assert_gt(i, last[m->partition], "partition %d: message %d after %d", m->partition, i,
                     last[m->partition]);
        last[m->partition] = i;
        if (++got == count) linger_until = now_ms() + 1000;
        rd_kafka_message_destroy(m);
    }
    cr_assert_eq(got, count, "group %s got %d of %d messages in 30 s", group, got, count);
    cr_assert_eq(rd_kafka_commit(rk, NULL, 0), RD_KAFKA_RESP_ERR_NO_ERROR, "commit");
    free(seen);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

static void broker_stop(void) {
    int rc = broker_run("stop", NULL, 0);
    if (rc != 0) fprintf(stderr, "kafka_broker: 'broker.sh stop' exited %d\n", rc);
}

// Runner-process hooks: remember who owns the broker (broker.sh's watcher stops the broker if
// this process dies, e.g. killed by ctest's timeout) and stop it once more when all is done.
ReportHook(PRE_ALL)(struct criterion_test_set *set) {
    (void)set;
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("BERTD_KAFKA_OWNER_PID", pid, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats) {
    (void)stats;
    broker_stop();
}

Test(kafka, produce_consume_restart, .fini = broker_stop, .timeout = 150) {
    char bootstrap[256], again[256];
    // A broker left by a crashed earlier run (same state dir) would hold old data: start clean.
    cr_assert_eq(broker_run("clean", NULL, 0), 0, "broker.sh clean failed");
    int64_t t0 = now_ms();
    cr_assert_eq(broker_run("start", bootstrap, sizeof bootstrap), 0, "broker.sh start failed");
    cr_assert(strncmp(bootstrap, "127.0.0.1:", 10) == 0, "start printed '%s'", bootstrap);
    fprintf(stderr, "kafka_broker: broker at %s in %" PRId64 " ms\n", bootstrap, now_ms() - t0);

    struct delivery *d = calloc(TOTAL, sizeof *d);
    cr_assert_not_null(d);
    create_topic(bootstrap);
    produce(bootstrap, d, 0, FIRST_BATCH);
    consume(bootstrap, "broker-test-a", d, 0, FIRST_BATCH);

    t0 = now_ms();
    cr_assert_eq(broker_run("restart", again, sizeof again), 0, "broker.sh restart failed");
    cr_assert_str_eq(again, bootstrap, "restart moved the broker");
    fprintf(stderr, "kafka_broker: restarted in %" PRId64 " ms\n", now_ms() - t0);

    // The log survived: a new group reads all of it back, at the same offsets.
    consume(bootstrap, "broker-test-b", d, 0, FIRST_BATCH);
    // Producing still works, and group a's committed offsets survived: it resumes after them.
    produce(bootstrap, d, FIRST_BATCH, SECOND_BATCH);
    consume(bootstrap, "broker-test-a", d, FIRST_BATCH, SECOND_BATCH);
    free(d);
}
