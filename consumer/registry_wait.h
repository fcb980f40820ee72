/* registry_wait.h: records that wait for the Schema Registry. A Confluent-framed record whose
 * writer schema cannot be fetched because the registry is down or unreachable
 * (BERTD_CODEC_UNAVAILABLE) is not the record's fault: it must not be dead-lettered as bad. It
 * waits here, in arrival order, and is decoded again with exponential backoff (first_ms, then
 * twice as long each time the registry still does not answer, at most max_ms); the first record
 * that decodes resets the delay and the others are tried at once. Its partition's later records
 * wait behind it in the daemon's partition queue (offset order is kept), and backpressure
 * (--max-in-flight) pauses fetching, so a long outage holds a bounded number of records.
 *
 * The items are the daemon's jobs, opaque here; try_fn decides what happened to one. */
#ifndef BERTD_REGISTRY_WAIT_H
#define BERTD_REGISTRY_WAIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct bertd_registry_wait bertd_registry_wait;

/* What try_fn says of an item: it left (decoded and submitted, dead-lettered for a fault of its
 * own, or abandoned with its revoked partition), or the registry is still unavailable. */
enum { BERTD_WAIT_LEFT = 0, BERTD_WAIT_STILL_UNAVAILABLE = 1 };
typedef int (*bertd_registry_wait_try_fn)(void *ctx, void *item, char *errstr, size_t errstr_size);

bertd_registry_wait *bertd_registry_wait_new(int64_t first_ms, int64_t max_ms);
void bertd_registry_wait_free(bertd_registry_wait *w);

/* Appends item (its first decode said UNAVAILABLE with message why, logged when it is the first
 * record to wait). 0, or -1 when out of memory (errstr). */
int bertd_registry_wait_add(bertd_registry_wait *w, void *item, int64_t now_ms, const char *why,
                            char *errstr, size_t errstr_size);

size_t bertd_registry_wait_count(const bertd_registry_wait *w);

/* When the next retry is due (now_ms >= it), tries the items in order until one is still
 * unavailable; the rest keep waiting for the next retry. Returns how many items left. */
size_t bertd_registry_wait_run(bertd_registry_wait *w, int64_t now_ms,
                               bertd_registry_wait_try_fn try_fn, void *ctx);

/* The delay before the next retry, and when it is due (both 0 when nothing waits). */
int64_t bertd_registry_wait_delay_ms(const bertd_registry_wait *w);
int64_t bertd_registry_wait_next_ms(const bertd_registry_wait *w);

#endif
