// broker_admin: the small librdkafka tool behind tests/kafka/broker.sh.
//
// broker.sh compiles this file itself (cc + pkg-config rdkafka) into its cache folder, so the
// broker harness works without a CMake build and without starting a JVM for every check:
//
//   broker_admin free-ports N                          N distinct free TCP ports on 127.0.0.1
//   broker_admin wait BOOTSTRAP TIMEOUT_MS             until the broker answers a metadata request
//   broker_admin create-topic BOOTSTRAP NAME PARTITIONS REPLICATION
//                                                      create (or accept an identical) topic and
//                                                      wait until every partition has a leader
//
// Errors are one line on stderr; the exit code is 0 on success, 1 on failure, 2 on bad usage.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define ADMIN_MAX_PORTS 8

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

// Connection-refused noise while the broker boots is expected; the caller reports the outcome.
static void log_nothing(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk; (void)level; (void)fac; (void)buf;
}

static int parse_int(const char *s, long min, long max, long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) return -1;
    *out = v;
    return 0;
}

// Binds all N sockets before closing any, so the N ports differ from one another. Another process
// may still take a port before the broker binds it; broker.sh retries start with new ports then.
static int free_ports(int n, int *ports, char *errstr, size_t errstr_size) {
    int fds[ADMIN_MAX_PORTS];
    int opened = 0, rc = 0;
    for (; opened < n; opened++) {
        struct sockaddr_in addr;
        socklen_t len = sizeof addr;
        memset(&addr, 0, sizeof addr);
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        fds[opened] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[opened] < 0 ||
            bind(fds[opened], (struct sockaddr *)&addr, sizeof addr) != 0 ||
            getsockname(fds[opened], (struct sockaddr *)&addr, &len) != 0) {
            snprintf(errstr, errstr_size, "cannot bind a port on 127.0.0.1: %s", strerror(errno));
            if (fds[opened] >= 0) close(fds[opened]);
            rc = -1;
            break;
        }
        ports[opened] = ntohs(addr.sin_port);
    }
    for (int i = 0; i < opened; i++) close(fds[i]);
    return rc;
}

static rd_kafka_t *admin_client(const char *bootstrap, char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, errstr_size) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "reconnect.backoff.max.ms", "200", errstr, errstr_size) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, log_nothing);
    // A producer handle is the lightest client that can send metadata and admin requests.
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!rk) rd_kafka_conf_destroy(conf);
    return rk;
}

// Looks NAME up; *partitions is its partition count (0 if absent), *leaderless the number of its
// partitions that have no leader yet.
static int topic_state(rd_kafka_t *rk, const char *name, int timeout_ms, int *partitions,
                       int *leaderless, char *errstr, size_t errstr_size) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (err) {
        snprintf(errstr, errstr_size, "metadata: %s", rd_kafka_err2str(err));
        return -1;
    }
    *partitions = 0;
    *leaderless = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        const struct rd_kafka_metadata_topic *t = &md->topics[i];
        if (strcmp(t->topic, name) != 0 || t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) continue;
        *partitions = t->partition_cnt;
        for (int p = 0; p < t->partition_cnt; p++)
            if (t->partitions[p].leader < 0 || t->partitions[p].err) (*leaderless)++;
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

static int wait_ready(const char *bootstrap, long timeout_ms, char *errstr, size_t errstr_size) {
    rd_kafka_t *rk = admin_client(bootstrap, errstr, errstr_size);
    if (!rk) return -1;
    int64_t deadline = now_ms() + timeout_ms;
    int rc = -1;
    snprintf(errstr, errstr_size, "no answer from %s within %ld ms", bootstrap, timeout_ms);
    while (now_ms() < deadline) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, NULL, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            int brokers = md->broker_cnt;
            rd_kafka_metadata_destroy(md);
            if (brokers > 0) { rc = 0; break; }
        }
        sleep_ms(100);
    }
    rd_kafka_destroy(rk);
    return rc;
}

static int create_topic(const char *bootstrap, const char *name, int partitions, int replication,
                        char *errstr, size_t errstr_size) {
    rd_kafka_t *rk = admin_client(bootstrap, errstr, errstr_size);
    if (!rk) return -1;
    int rc = -1;
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    rd_kafka_NewTopic_t *topic = rd_kafka_NewTopic_new(name, partitions, replication, errstr, errstr_size);
    rd_kafka_AdminOptions_t *options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    if (!topic) goto done;
    rd_kafka_AdminOptions_set_operation_timeout(options, 10000, NULL, 0);
    rd_kafka_CreateTopics(rk, &topic, 1, options, queue);

    rd_kafka_event_t *ev = rd_kafka_queue_poll(queue, 30000);
    if (!ev) {
        snprintf(errstr, errstr_size, "create topic %s: no answer within 30 s", name);
        goto done;
    }
    rd_kafka_resp_err_t err = rd_kafka_event_error(ev);
    if (!err) {
        size_t n = 0;
        const rd_kafka_topic_result_t **results =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        if (n == 1) err = rd_kafka_topic_result_error(results[0]);
    }
    if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        snprintf(errstr, errstr_size, "create topic %s: %s", name, rd_kafka_err2str(err));
        rd_kafka_event_destroy(ev);
        goto done;
    }
    rd_kafka_event_destroy(ev);

    // Wait until metadata shows every partition with a leader, so producing can start at once.
    // An existing topic is accepted only with the requested partition count.
    int64_t deadline = now_ms() + 30000;
    for (;;) {
        int have = 0, leaderless = 0;
        if (topic_state(rk, name, 5000, &have, &leaderless, errstr, errstr_size) == 0) {
            if (have != 0 && have != partitions) {
                snprintf(errstr, errstr_size, "topic %s exists with %d partitions, not %d", name,
                         have, partitions);
                break;
            }
            if (have == partitions && leaderless == 0) { rc = 0; break; }
        }
        if (now_ms() > deadline) {
            snprintf(errstr, errstr_size, "topic %s: partitions have no leader after 30 s", name);
            break;
        }
        sleep_ms(100);
    }
done:
    if (topic) rd_kafka_NewTopic_destroy(topic);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_queue_destroy(queue);
    rd_kafka_destroy(rk);
    return rc;
}

// Allows PRINCIPAL (e.g. User:bertd) OPERATION (read, write, describe) on a resource: TYPE
// topic or group; a NAME ending in '*' is a prefix ("bertd-*").
static int create_acl(const char *bootstrap, const char *principal, const char *type,
                      const char *name, const char *operation, char *errstr, size_t errstr_size) {
    // (librdkafka 2.0's admin API has no transactional-id resource type)
    rd_kafka_ResourceType_t rt = !strcmp(type, "topic")   ? RD_KAFKA_RESOURCE_TOPIC
                                 : !strcmp(type, "group") ? RD_KAFKA_RESOURCE_GROUP
                                                          : RD_KAFKA_RESOURCE_UNKNOWN;
    rd_kafka_AclOperation_t op = !strcmp(operation, "read")       ? RD_KAFKA_ACL_OPERATION_READ
                                 : !strcmp(operation, "write")    ? RD_KAFKA_ACL_OPERATION_WRITE
                                 : !strcmp(operation, "describe") ? RD_KAFKA_ACL_OPERATION_DESCRIBE
                                                                  : RD_KAFKA_ACL_OPERATION_UNKNOWN;
    if (rt == RD_KAFKA_RESOURCE_UNKNOWN || op == RD_KAFKA_ACL_OPERATION_UNKNOWN) {
        snprintf(errstr, errstr_size, "acl: unknown resource type '%s' or operation '%s'", type,
                 operation);
        return -1;
    }
    char pattern_name[256];
    size_t len = strlen(name);
    int prefixed = len > 0 && name[len - 1] == '*';
    snprintf(pattern_name, sizeof pattern_name, "%.*s", (int)(prefixed ? len - 1 : len), name);
    rd_kafka_t *rk = admin_client(bootstrap, errstr, errstr_size);
    if (!rk) return -1;
    int rc = -1;
    rd_kafka_AclBinding_t *acl = rd_kafka_AclBinding_new(
        rt, pattern_name,
        prefixed ? RD_KAFKA_RESOURCE_PATTERN_PREFIXED : RD_KAFKA_RESOURCE_PATTERN_LITERAL,
        principal, "*", op, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, errstr, errstr_size);
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATEACLS);
    if (acl) {
        rd_kafka_CreateAcls(rk, &acl, 1, options, queue);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(queue, 30000);
        if (!ev) {
            snprintf(errstr, errstr_size, "acl: no answer within 30 s");
        } else {
            rd_kafka_resp_err_t err = rd_kafka_event_error(ev);
            size_t n = 0;
            const rd_kafka_acl_result_t **res =
                err ? NULL : rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev), &n);
            const rd_kafka_error_t *e = n == 1 ? rd_kafka_acl_result_error(res[0]) : NULL;
            if (err || e)
                snprintf(errstr, errstr_size, "acl %s %s %s %s: %s", principal, operation, type,
                         name, err ? rd_kafka_err2str(err) : rd_kafka_error_string(e));
            else
                rc = 0;
            rd_kafka_event_destroy(ev);
        }
        rd_kafka_AclBinding_destroy(acl);
    }
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_queue_destroy(queue);
    rd_kafka_destroy(rk);
    return rc;
}

// Prints "PARTITION OFFSET" for each partition of TOPIC: GROUP's committed offset (-1: none).
// The query does not join the group, so it can be asked while a member is down.
static int committed(const char *bootstrap, const char *group, const char *topic, char *errstr,
                     size_t errstr_size) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_nothing);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, errstr_size) ||
        rd_kafka_conf_set(conf, "group.id", group, errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    int parts = 0, leaderless = 0, rc = -1;
    if (topic_state(rk, topic, 10000, &parts, &leaderless, errstr, errstr_size) == 0 && parts > 0) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
        for (int i = 0; i < parts; i++) rd_kafka_topic_partition_list_add(l, topic, i);
        rd_kafka_resp_err_t err = rd_kafka_committed(rk, l, 10000);
        if (err) {
            snprintf(errstr, errstr_size, "committed offsets of %s: %s", group, rd_kafka_err2str(err));
        } else {
            for (int i = 0; i < l->cnt; i++)
                printf("%d %lld\n", (int)l->elems[i].partition,
                       (long long)(l->elems[i].offset < 0 ? -1 : l->elems[i].offset));
            rc = 0;
        }
        rd_kafka_topic_partition_list_destroy(l);
    } else if (parts == 0) {
        snprintf(errstr, errstr_size, "no topic %s", topic);
    }
    rd_kafka_destroy(rk);
    return rc;
}

static int usage(void) {
    fprintf(stderr, "usage: broker_admin free-ports N | wait BOOTSTRAP TIMEOUT_MS | "
                    "create-topic BOOTSTRAP NAME PARTITIONS REPLICATION | "
                    "create-acl BOOTSTRAP PRINCIPAL topic|group NAME[*] "
                    "read|write|describe | committed BOOTSTRAP GROUP TOPIC\n");
    return 2;
}

int main(int argc, char **argv) {
    char errstr[512] = "";
    long a = 0, b = 0;
    if (argc == 3 && strcmp(argv[1], "free-ports") == 0) {
        int ports[ADMIN_MAX_PORTS];
        if (parse_int(argv[2], 1, ADMIN_MAX_PORTS, &a) != 0) return usage();
        if (free_ports((int)a, ports, errstr, sizeof errstr) != 0) goto fail;
        for (long i = 0; i < a; i++) printf("%d%s", ports[i], i + 1 < a ? " " : "\n");
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "wait") == 0) {
        if (parse_int(argv[3], 0, 3600000, &a) != 0) return usage();
        if (wait_ready(argv[2], a, errstr, sizeof errstr) != 0) goto fail;
        return 0;
    }
    if (argc == 6 && strcmp(argv[1], "create-topic") == 0) {
        if (parse_int(argv[4], 1, 100000, &a) != 0 || parse_int(argv[5], 1, 1000, &b) != 0)
            return usage();
        if (create_topic(argv[2], argv[3], (int)a, (int)b, errstr, sizeof errstr) != 0) goto fail;
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "committed") == 0) {
        if (committed(argv[2], argv[3], argv[4], errstr, sizeof errstr) != 0) goto fail;
        return 0;
    }
    if (argc == 7 && strcmp(argv[1], "create-acl") == 0) {
        if (create_acl(argv[2], argv[3], argv[4], argv[5], argv[6], errstr, sizeof errstr) != 0)
            goto fail;
        return 0;
    }
    return usage();
fail:
    fprintf(stderr, "broker_admin: %s\n", errstr);
    return 1;
}
