/* registry_wait.c: records waiting for the Schema Registry, retried with backoff (see
 * registry_wait.h). */
#include "registry_wait.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_log.h"

struct bertd_registry_wait {
  void **items; /* a FIFO: items[head .. n) wait */
  size_t head, n, cap;
  int64_t first_ms, max_ms;
  int64_t delay_ms; /* the delay the next failed retry waits */
  int64_t next_ms;  /* when the next retry is due */
};

bertd_registry_wait *bertd_registry_wait_new(int64_t first_ms, int64_t max_ms) {
  bertd_registry_wait *w = calloc(1, sizeof(*w));
  if (!w) return NULL;
  w->first_ms = first_ms > 0 ? first_ms : 1;
  w->max_ms = max_ms >= w->first_ms ? max_ms : w->first_ms;
  return w;
}

void bertd_registry_wait_free(bertd_registry_wait *w) {
  if (!w) return;
  free(w->items);
  free(w);
}

size_t bertd_registry_wait_count(const bertd_registry_wait *w) { return w->n - w->head; }

int64_t bertd_registry_wait_delay_ms(const bertd_registry_wait *w) {
  return bertd_registry_wait_count(w) ? w->delay_ms : 0;
}

int64_t bertd_registry_wait_next_ms(const bertd_registry_wait *w) {
  return bertd_registry_wait_count(w) ? w->next_ms : 0;
}

int bertd_registry_wait_add(bertd_registry_wait *w, void *item, int64_t now_ms, const char *why,
                            char *errstr, size_t errstr_size) {
  if (w->n == w->cap) {
    if (w->head > 0) { /* reuse the space of items that left */
      memmove(w->items, w->items + w->head, (w->n - w->head) * sizeof(*w->items));
      w->n -= w->head;
      w->head = 0;
    }
    if (w->n == w->cap) {
      size_t cap = w->cap ? w->cap * 2 : 64;
      void **it = realloc(w->items, cap * sizeof(*it));
      if (!it) {
        snprintf(errstr, errstr_size, "out of memory queueing a record for the schema registry");
        return -1;
      }
      w->items = it;
      w->cap = cap;
    }
  }
  if (w->n == w->head) { /* the first to wait: the retries start over */
    w->head = w->n = 0;
    w->delay_ms = w->first_ms;
    w->next_ms = now_ms + w->first_ms;
    bertd_log(BERTD_LOG_WARN, "%s; records wait for the schema registry (retry in %lld ms, "
              "backing off to %lld ms)", why, (long long)w->first_ms, (long long)w->max_ms);
  }
  w->items[w->n++] = item;
  return 0;
}

size_t bertd_registry_wait_run(bertd_registry_wait *w, int64_t now_ms,
                               bertd_registry_wait_try_fn try_fn, void *ctx) {
  if (w->n == w->head || now_ms < w->next_ms) return 0;
  size_t left = 0;
  char err[512];
  while (w->head < w->n) {
    err[0] = 0;
    if (try_fn(ctx, w->items[w->head], err, sizeof err) == BERTD_WAIT_STILL_UNAVAILABLE) {
      w->delay_ms = w->delay_ms * 2 <= w->max_ms ? w->delay_ms * 2 : w->max_ms;
      w->next_ms = now_ms + w->delay_ms;
      bertd_log(BERTD_LOG_WARN, "%s; %zu record(s) waiting for the schema registry, next retry "
                "in %lld ms", err[0] ? err : "schema registry unavailable",
                bertd_registry_wait_count(w), (long long)w->delay_ms);
      break;
    }
    w->head++;
    left++;
    if (w->delay_ms != w->first_ms) w->delay_ms = w->first_ms; /* it answers again */
  }
  if (w->head == w->n) {
    w->head = w->n = 0;
    if (left) bertd_log(BERTD_LOG_INFO, "no record waits for the schema registry any more (%zu "
                        "left the wait)", left);
  }
  return left;
}
