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

#endif
