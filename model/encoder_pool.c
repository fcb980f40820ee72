/* encoder_pool.c: see encoder_pool.h.
 *
 * Tasks are claimed, not assigned: the caller publishes a round (function, argument, task count,
 * a task counter at 0), then the caller and every worker that joins take task indices from the
 * counter until none are left. A worker joins a round only while the round is open; the caller
 * closes it once it finds no task left and then waits only for the workers that joined. So a
 * worker the OS has not scheduled (2 cores shared with other work) costs nothing: the caller does
 * its share instead of waiting a time slice for it. A single sequence's encoder splits every
 * layer's matmuls this way, about 40 rounds per forward, each a few hundred microseconds.
 *
 * Workers and the caller spin briefly (about 50 us) before sleeping on a condition variable, so
 * back-to-back rounds need no wake-up system call and an idle pool takes no CPU.
 *
 * state packs the round number (bits 16 and up), a closed bit (15) and the count of workers that
 * joined (bits 0-14): joining is one compare-and-swap that fails once the round is closed or
 * replaced, and closing is one fetch-or that returns how many joined. */
#include "encoder_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* pause iterations before sleeping: a pause is ~10-140 cycles depending on the CPU, so this is
 * roughly 20-200 us */
enum { SPIN = 4000 };
#define CLOSED ((uint64_t)1 << 15)
#define JOINED_MASK (CLOSED - 1)
#define ROUND(v) ((v) >> 16)

struct bertd_encoder_pool {
  pthread_mutex_t mu;
  pthread_cond_t go, done;
  int threads;                /* workers started */
  pthread_t *tid;             /* (threads) */
  _Atomic uint64_t state;     /* round << 16 | closed | joined */
  atomic_int next;            /* the next unclaimed task of this round */
  atomic_int finished;        /* joined workers that have run out of tasks */
  atomic_int sleepers;        /* workers waiting on go */
  atomic_int caller_sleeping; /* the caller waits on done */
  atomic_int stop;
  /* this round's work, written before the round is published and left alone until every
   * worker that joined has finished */
  int n;
  void (*fn)(void *);
  char *arg;
  unsigned long stride;
};

typedef struct {
  bertd_encoder_pool *p;
  uint64_t seen; /* the round at the worker's creation: it waits for a later one */
} worker_arg;

static void run_tasks(bertd_encoder_pool *p) {
  for (;;) {
    const int i = atomic_fetch_add(&p->next, 1);
    if (i >= p->n) return;
    p->fn(p->arg + (size_t)i * p->stride);
  }
}

static void *worker(void *varg) {
  worker_arg wa = *(worker_arg *)varg;
  free(varg);
  bertd_encoder_pool *p = wa.p;
  uint64_t seen = wa.seen;
  for (;;) {
    uint64_t v = atomic_load(&p->state);
    for (int i = 0; i < SPIN && ROUND(v) == seen && !atomic_load(&p->stop); i++) {
      CPU_RELAX();
      v = atomic_load(&p->state);
    }
    if (ROUND(v) == seen && !atomic_load(&p->stop)) {
      /* sleep: announce it, then re-check under the mutex the caller broadcasts under */
      pthread_mutex_lock(&p->mu);
      atomic_fetch_add(&p->sleepers, 1);
      while (ROUND(v = atomic_load(&p->state)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->go, &p->mu);
      atomic_fetch_sub(&p->sleepers, 1);
      pthread_mutex_unlock(&p->mu);
    }
    if (atomic_load(&p->stop)) break;
    seen = ROUND(v);
    /* join the round while it is open; a closed or newer round is not this worker's */
    int joined = 0;
    while (ROUND(v) == seen && !(v & CLOSED)) {
      if (atomic_compare_exchange_weak(&p->state, &v, v + 1)) {
        joined = 1;
        break;
      }
    }
    if (!joined) continue;
    run_tasks(p);
    atomic_fetch_add(&p->finished, 1);
    if (atomic_load(&p->caller_sleeping)) {
      pthread_mutex_lock(&p->mu);
      pthread_cond_signal(&p->done);
      pthread_mutex_unlock(&p->mu);
    }
  }
  return NULL;
}

static bertd_encoder_pool *pool_new(void) {
  bertd_encoder_pool *p = calloc(1, sizeof(*p));
  if (!p) return NULL;
  if (pthread_mutex_init(&p->mu, NULL)) {
    free(p);
    return NULL;
  }
  if (pthread_cond_init(&p->go, NULL)) {
    pthread_mutex_destroy(&p->mu);
    free(p);
    return NULL;
  }
  if (pthread_cond_init(&p->done, NULL)) {
    pthread_cond_destroy(&p->go);
    pthread_mutex_destroy(&p->mu);
    free(p);
    return NULL;
  }
  return p;
}

/* Starts workers until there are `want` (or as many as the system gives). Called with no round
 * in flight; a new worker waits for the round after the current one. */
static void pool_grow(bertd_encoder_pool *p, int want) {
  if (want <= p->threads) return;
  pthread_t *t = realloc(p->tid, sizeof(pthread_t) * (size_t)want);
  if (!t) return;
  p->tid = t;
  while (p->threads < want) {
    worker_arg *wa = malloc(sizeof(*wa));
    if (!wa) return;
    wa->p = p;
    wa->seen = ROUND(atomic_load(&p->state));
    if (pthread_create(&p->tid[p->threads], NULL, worker, wa)) {
      free(wa);
      return;
    }
    p->threads++;
  }
}

void bertd_encoder_pool_run_on(bertd_encoder_pool **pool, int threads, int n, void (*fn)(void *),
                               void *arg, unsigned long stride) {
  char *base = arg;
  if (threads > n) threads = n;
  if (threads > 1 && !*pool) *pool = pool_new();
  bertd_encoder_pool *p = *pool;
  if (threads <= 1 || !p) {
    for (int i = 0; i < n; i++) fn(base + (size_t)i * stride);
    return;
  }
  pool_grow(p, threads - 1);
  p->n = n;
  p->fn = fn;
  p->arg = base;
  p->stride = stride;
  atomic_store(&p->next, 0);
  atomic_store(&p->finished, 0);
  /* publishes the fields above (sequentially consistent): round + 1, open, nobody joined */
  atomic_store(&p->state, (ROUND(atomic_load(&p->state)) + 1) << 16);
  if (atomic_load(&p->sleepers) > 0) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
  }
  run_tasks(p);
  const int joined = (int)(atomic_fetch_or(&p->state, CLOSED) & JOINED_MASK);
  for (int i = 0; i < SPIN && atomic_load(&p->finished) < joined; i++) CPU_RELAX();
  if (atomic_load(&p->finished) < joined) {
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->caller_sleeping, 1);
    while (atomic_load(&p->finished) < joined) pthread_cond_wait(&p->done, &p->mu);
    atomic_store(&p->caller_sleeping, 0);
    pthread_mutex_unlock(&p->mu);
  }
}

void bertd_encoder_pool_run(bertd_encoder_pool **pool, int n, void (*fn)(void *), void *arg,
                            unsigned long stride) {
  bertd_encoder_pool_run_on(pool, n, n, fn, arg, stride);
}

void bertd_encoder_pool_free(bertd_encoder_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->stop, 1);
  pthread_cond_broadcast(&p->go);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->threads; i++) pthread_join(p->tid[i], NULL);
  free(p->tid);
  pthread_cond_destroy(&p->done);
  pthread_cond_destroy(&p->go);
  pthread_mutex_destroy(&p->mu);
  free(p);
}
