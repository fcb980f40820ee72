/* transactions.h: exactly-once delivery (`delivery: exactly_once`), the Kafka side.
 *
 * One transactional producer per daemon. Everything produced between two commits -- enriched
 * records and dead letters alike -- and the input offsets that cover them are committed in one
 * Kafka transaction (rd_kafka_send_offsets_to_transaction with the consumer's group metadata,
 * KIP-447: the group coordinator fences a member that lost its partitions, so one producer
 * serves every partition it is assigned). A reader with isolation.level=read_committed sees a
 * record's output once, or not at all while its transaction is open.
 *
 * Errors are classed as librdkafka's transactional API classes them: retriable (the call is
 * made again), abortable (the transaction is aborted and every partition rewound to its last
 * committed offset, so the records are processed again in the next transaction), fatal,
 * fencing included (the daemon stops with one line and a non-zero exit; a supervisor restarts
 * it, and the restarted instance's init fences whatever this one left open).
 *
 * The rewind needs each partition's last committed offset. This keeps it: the offset committed
 * by this process's last transaction, or, before one, the first offset consumed since the
 * partition was assigned (the group's committed offset, or where auto.offset.reset put it). */
#ifndef BERTD_TRANSACTIONS_H
#define BERTD_TRANSACTIONS_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "bertd_config.h"

typedef struct bertd_txn bertd_txn;

typedef enum {
  BERTD_TXN_COMMITTED = 0, /* committed (or nothing to commit); the next transaction is open */
  BERTD_TXN_ABORTED,       /* the transaction must be aborted: the caller abandons what is in
                            * flight, then calls bertd_txn_abort and bertd_txn_rewind */
  BERTD_TXN_FATAL          /* the producer cannot go on (errstr): stop */
} bertd_txn_outcome;

/* What exactly-once needs on the two configs, set after the file's kafka properties:
 * transactional.id (delivery.transactional_id, else "bertd-<group.id>-<group.instance.id or
 * host name>"), message.timeout.ms within transaction.timeout.ms, and a consumer that reads
 * committed records and never commits on its own. The id chosen is written to id. */
int bertd_txn_configure(const struct bertd_daemon_config *cfg, rd_kafka_conf_t *producer_conf,
                        rd_kafka_conf_t *consumer_conf, char *id, size_t id_size, char *errstr,
                        size_t errstr_size);

/* A new transaction state for the two clients (not owned), or NULL when out of memory. */
bertd_txn *bertd_txn_new(rd_kafka_t *producer, rd_kafka_t *consumer);
void bertd_txn_free(bertd_txn *t);

/* init_transactions (fencing any earlier instance with the same id and aborting its open
 * transaction), retried while the coordinator is not ready, up to timeout_ms; then the first
 * transaction begins. 0, or -1 with errstr. */
int bertd_txn_start(bertd_txn *t, int timeout_ms, char *errstr, size_t errstr_size);

/* Commits the open transaction with offsets (the next offset to read per partition; the ones not
 * past what was committed already are left out) and begins the next one. Every record produced
 * in the transaction must be acknowledged before (flush, delivery reports served), so that the
 * offsets cover exactly what was produced. *committed is set to how many partitions' offsets
 * moved. */
bertd_txn_outcome bertd_txn_commit(bertd_txn *t, const rd_kafka_topic_partition_list_t *offsets,
                                   int *committed, char *errstr, size_t errstr_size);

/* Aborts the open transaction and begins the next one. The caller must first abandon what is in
 * flight, and afterwards call bertd_txn_rewind. */
bertd_txn_outcome bertd_txn_abort(bertd_txn *t, char *errstr, size_t errstr_size);

/* A record at offset was consumed from the partition (keeps the first as the rewind point). */
int bertd_txn_seen(bertd_txn *t, const char *topic, int32_t partition, int64_t offset);

/* Seeks every partition known here, except those in skip (may be NULL), back to its last
 * committed offset. Returns how many partitions were rewound, -1 with errstr. */
int bertd_txn_rewind(bertd_txn *t, const rd_kafka_topic_partition_list_t *skip, char *errstr,
                     size_t errstr_size);

/* The partition was revoked: forget its rewind point. */
void bertd_txn_forget(bertd_txn *t, const char *topic, int32_t partition);

#endif
