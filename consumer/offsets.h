/* offsets.h: the at-least-once watermark. Records of a partition finish out of order (length
 * buckets, dead letters); an input offset may be stored for commit only when every record at or
 * below it has been delivered to the output or dead-letter topic. This tracks, per partition,
 * the offsets in flight and yields the contiguous watermark. */
#ifndef BERTD_OFFSETS_H
#define BERTD_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

typedef struct bertd_offsets bertd_offsets;

bertd_offsets *bertd_offsets_new(void);
void bertd_offsets_free(bertd_offsets *o);

/* A record at (topic, partition, offset) entered the pipeline. Offsets of one partition must be
 * tracked in increasing order (gaps are fine: compaction, transaction markers). */
int bertd_offsets_track(bertd_offsets *o, const char *topic, int32_t partition, int64_t offset,
                        char *errstr, size_t errstr_size);

/* The record is delivered. Returns 1 and sets *commit to the next offset to consume (watermark:
 * last contiguous done offset + 1) when the watermark moved, 0 when it did not, -1 if the offset
 * was never tracked (errstr). */
int bertd_offsets_done(bertd_offsets *o, const char *topic, int32_t partition, int64_t offset,
                       int64_t *commit, char *errstr, size_t errstr_size);

/* Records tracked and not yet done: in all, and in one partition. */
size_t bertd_offsets_in_flight(const bertd_offsets *o);
size_t bertd_offsets_partition_in_flight(const bertd_offsets *o, const char *topic,
                                         int32_t partition);

/* Drops a partition's state (after a revoke). */
void bertd_offsets_forget(bertd_offsets *o, const char *topic, int32_t partition);

/* The partition's watermark: the offset after the records delivered so far without a gap (what
 * a commit would store), -1 when none has been or the partition is not tracked. */
int64_t bertd_offsets_watermark(const bertd_offsets *o, const char *topic, int32_t partition);

/* Every tracked partition's watermark (those with one), as the callback's arguments. */
void bertd_offsets_each_watermark(const bertd_offsets *o,
                                  void (*fn)(void *arg, const char *topic, int32_t partition,
                                             int64_t watermark),
                                  void *arg);

/* Resuming after a lost assignment. When a partition is revoked and its watermark cannot be
 * committed (the group dropped this member, e.g. while its broker restarted), the records
 * delivered since the last commit would be read and produced again by the partition's next
 * owner. If that owner is this process, it knows they were delivered: remember() keeps the
 * watermark (with the time), and take_resume() hands it back, once, when the partition is
 * assigned again within max_age_ms. Starting there never skips an undelivered record (the
 * watermark stops at the first one). An entry older than max_age_ms is dropped: by then another
 * member has likely owned the partition and committed past it, and starting behind its commit
 * would repeat its records (never lose any). remember returns -1 when out of memory;
 * take_resume returns 1 and sets *offset, or 0. */
int bertd_offsets_remember(bertd_offsets *o, const char *topic, int32_t partition,
                           int64_t offset, int64_t now_ms);
int bertd_offsets_take_resume(bertd_offsets *o, const char *topic, int32_t partition,
                              int64_t now_ms, int64_t max_age_ms, int64_t *offset);

#endif
