/* offsets.c: per-partition in-flight offsets as a ring of (offset, done) in arrival order.
 * Arrival order is offset order, so done() finds its slot by binary search and the watermark is
 * the ring's head: pop finished records from the front. */
#include "offsets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
  int64_t offset;
  int done;
} slot;

typedef struct partition_state {
  char *topic;
  int32_t partition;
  slot *ring;
  size_t cap, head, count; /* ring[(head + i) % cap], i < count */
  int64_t last;            /* last tracked offset, -1 before the first */
  int64_t watermark;       /* next offset after the contiguous done ones, -1 before any */
} partition_state;

/* A partition's watermark kept past a revoke whose commit did not happen, for a re-assignment
 * of the same partition to this process (see bertd_offsets_remember). */
typedef struct resume {
  char *topic;
  int32_t partition;
  int64_t offset, at_ms;
} resume;

struct bertd_offsets {
  partition_state *parts;
  size_t nparts, cap;
  size_t in_flight;
  resume *resumes;
  size_t nresumes, capresumes;
};

bertd_offsets *bertd_offsets_new(void) { return calloc(1, sizeof(bertd_offsets)); }

void bertd_offsets_free(bertd_offsets *o) {
  if (!o) return;
  for (size_t i = 0; i < o->nparts; i++) {
    free(o->parts[i].topic);
    free(o->parts[i].ring);
  }
  free(o->parts);
  for (size_t i = 0; i < o->nresumes; i++) free(o->resumes[i].topic);
  free(o->resumes);
  free(o);
}

static partition_state *find(const bertd_offsets *o, const char *topic, int32_t partition) {
  for (size_t i = 0; i < o->nparts; i++)
    if (o->parts[i].partition == partition && !strcmp(o->parts[i].topic, topic))
      return &o->parts[i];
  return NULL;
}

static partition_state *find_or_add(bertd_offsets *o, const char *topic, int32_t partition) {
  partition_state *p = find(o, topic, partition);
  if (p) return p;
  if (o->nparts == o->cap) {
    size_t cap = o->cap ? o->cap * 2 : 8;
    partition_state *n = realloc(o->parts, cap * sizeof(*n));
    if (!n) return NULL;
    o->parts = n;
    o->cap = cap;
  }
  p = &o->parts[o->nparts];
  memset(p, 0, sizeof(*p));
  if (!(p->topic = strdup(topic))) return NULL;
  p->partition = partition;
  p->last = -1;
  p->watermark = -1;
  o->nparts++;
  return p;
}

static slot *at(partition_state *p, size_t i) { return &p->ring[(p->head + i) % p->cap]; }

int bertd_offsets_track(bertd_offsets *o, const char *topic, int32_t partition, int64_t offset,
                        char *errstr, size_t errstr_size) {
  partition_state *p = find_or_add(o, topic, partition);
  if (!p) {
    snprintf(errstr, errstr_size, "offsets: out of memory");
    return -1;
  }
  if (offset <= p->last) {
    snprintf(errstr, errstr_size, "offsets: %s[%d] offset %lld tracked after %lld", topic,
             (int)partition, (long long)offset, (long long)p->last);
    return -1;
  }
  if (p->count == p->cap) { /* grow: unroll the ring into a buffer twice the size */
    size_t cap = p->cap ? p->cap * 2 : 64;
    slot *n = malloc(cap * sizeof(*n));
    if (!n) {
      snprintf(errstr, errstr_size, "offsets: out of memory");
      return -1;
    }
    for (size_t i = 0; i < p->count; i++) n[i] = *at(p, i);
    free(p->ring);
    p->ring = n;
    p->cap = cap;
    p->head = 0;
  }
  p->ring[(p->head + p->count) % p->cap] = (slot){offset, 0};
  p->count++;
  p->last = offset;
  o->in_flight++;
  return 0;
}

int bertd_offsets_done(bertd_offsets *o, const char *topic, int32_t partition, int64_t offset,
                       int64_t *commit, char *errstr, size_t errstr_size) {
  partition_state *p = find(o, topic, partition);
  size_t lo = 0, hi = p ? p->count : 0;
  while (lo < hi) { /* first slot with offset >= the one finished */
    size_t mid = (lo + hi) / 2;
    if (at(p, mid)->offset < offset) lo = mid + 1;
    else hi = mid;
  }
  if (!p || lo == p->count || at(p, lo)->offset != offset || at(p, lo)->done) {
    snprintf(errstr, errstr_size, "offsets: %s[%d] offset %lld is not in flight", topic,
             (int)partition, (long long)offset);
    return -1;
  }
  at(p, lo)->done = 1;
  o->in_flight--;
  int moved = 0;
  while (p->count > 0 && at(p, 0)->done) {
    *commit = p->watermark = at(p, 0)->offset + 1;
    p->head = (p->head + 1) % p->cap;
    p->count--;
    moved = 1;
  }
  return moved;
}

size_t bertd_offsets_in_flight(const bertd_offsets *o) { return o->in_flight; }

size_t bertd_offsets_partition_in_flight(const bertd_offsets *o, const char *topic,
                                         int32_t partition) {
  partition_state *p = find(o, topic, partition);
  size_t n = 0;
  for (size_t i = 0; p && i < p->count; i++) n += !at(p, i)->done;
  return n;
}

void bertd_offsets_forget(bertd_offsets *o, const char *topic, int32_t partition) {
  partition_state *p = find(o, topic, partition);
  if (!p) return;
  for (size_t i = 0; i < p->count; i++) o->in_flight -= !at(p, i)->done;
  free(p->topic);
  free(p->ring);
  *p = o->parts[--o->nparts];
}

int64_t bertd_offsets_watermark(const bertd_offsets *o, const char *topic, int32_t partition) {
  const partition_state *p = find(o, topic, partition);
  return p ? p->watermark : -1;
}

void bertd_offsets_each_watermark(const bertd_offsets *o,
                                  void (*fn)(void *arg, const char *topic, int32_t partition,
                                             int64_t watermark),
                                  void *arg) {
  for (size_t i = 0; i < o->nparts; i++)
    if (o->parts[i].watermark >= 0)
      fn(arg, o->parts[i].topic, o->parts[i].partition, o->parts[i].watermark);
}

static resume *resume_find(const bertd_offsets *o, const char *topic, int32_t partition) {
  for (size_t i = 0; i < o->nresumes; i++)
    if (o->resumes[i].partition == partition && !strcmp(o->resumes[i].topic, topic))
      return &o->resumes[i];
  return NULL;
}

static void resume_drop(bertd_offsets *o, resume *r) {
  free(r->topic);
  *r = o->resumes[--o->nresumes];
}

int bertd_offsets_remember(bertd_offsets *o, const char *topic, int32_t partition,
                           int64_t offset, int64_t now_ms) {
  resume *r = resume_find(o, topic, partition);
  if (!r) {
    if (o->nresumes == o->capresumes) {
      size_t cap = o->capresumes ? o->capresumes * 2 : 8;
      resume *n = realloc(o->resumes, cap * sizeof(*n));
      if (!n) return -1;
      o->resumes = n;
      o->capresumes = cap;
    }
    r = &o->resumes[o->nresumes];
    if (!(r->topic = strdup(topic))) return -1;
    r->partition = partition;
    o->nresumes++;
  }
  r->offset = offset;
  r->at_ms = now_ms;
  return 0;
}

int bertd_offsets_take_resume(bertd_offsets *o, const char *topic, int32_t partition,
                              int64_t now_ms, int64_t max_age_ms, int64_t *offset) {
  /* entries too old to trust are dropped on the way, whichever partition is asked for */
  for (size_t i = 0; i < o->nresumes;) {
    if (now_ms - o->resumes[i].at_ms > max_age_ms) resume_drop(o, &o->resumes[i]);
    else i++;
  }
  resume *r = resume_find(o, topic, partition);
  if (!r) return 0;
  *offset = r->offset;
  resume_drop(o, r);
  return 1;
}
