/* encoder_pool.c: see encoder_pool.h. The caller publishes a round (function, argument, task
 * count, then a new round number); each worker i runs task i + 1 of that round if there is one.
 * Workers and the caller spin briefly before sleeping: a single sequence's encoder splits
 * every layer's matmuls across the pool, about 30 rounds a forward of a few hundred
 * microseconds each, and a condition-variable wake-up per round (tens of microseconds) would
 * cost more than the work it splits. After the spin (about 50 us) a worker sleeps on the
 * condition variable, so an idle pool takes no CPU. */
#include "encoder_pool.h"

#include <pthread.h>
#include <stdatomic.h>
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

struct bertd_encoder_pool {
  pthread_mutex_t mu;
  pthread_cond_t go, done;
  int threads;                  /* workers started */
  pthread_t *tid;               /* (threads) */
  atomic_ulong round;           /* incremented per run, after the fields below are set */
  atomic_int pending;           /* workers that have not finished this round (every worker
                                   checks in, with a task or without, so none can still be
                                   reading a round's fields when the next one is set) */
  atomic_int sleepers;          /* workers waiting on go */
  atomic_int caller_sleeping;   /* the caller waits on done */
  atomic_int stop;
  int tasks;                    /* this round's task count, including the caller's task 0 */
  void (*fn)(void *);
  char *arg;
  unsigned long stride;
};

typedef struct {
  bertd_encoder_pool *p;
  int index;          /* runs task index + 1 */
  unsigned long seen; /* the round at the worker's creation: it waits for the next */
} worker_arg;

static void *worker(void *varg) {
  worker_arg wa = *(worker_arg *)varg;
  free(varg);
  bertd_encoder_pool *p = wa.p;
  unsigned long seen = wa.seen;
  for (;;) {
    unsigned long r = atomic_load(&p->round);
    for (int i = 0; i < SPIN && r == seen && !atomic_load(&p->stop); i++) {
      CPU_RELAX();
      r = atomic_load(&p->round);
    }
    if (r == seen && !atomic_load(&p->stop)) {
      /* sleep: announce it, then re-check under the mutex the caller broadcasts under */
      pthread_mutex_lock(&p->mu);
      atomic_fetch_add(&p->sleepers, 1);
      while ((r = atomic_load(&p->round)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->go, &p->mu);
      atomic_fetch_sub(&p->sleepers, 1);
      pthread_mutex_unlock(&p->mu);
    }
    if (atomic_load(&p->stop)) break;
    seen = r;
    const int task = wa.index + 1;
    if (task < p->tasks) p->fn(p->arg + (size_t)task * p->stride);
    if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->caller_sleeping)) {
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
    wa->index = p->threads;
    wa->seen = atomic_load(&p->round);
    if (pthread_create(&p->tid[p->threads], NULL, worker, wa)) {
      free(wa);
      return;
    }
    p->threads++;
  }
}

void bertd_encoder_pool_run(bertd_encoder_pool **pool, int n, void (*fn)(void *), void *arg,
                            unsigned long stride) {
  char *base = arg;
  if (n > 1 && !*pool) *pool = pool_new();
  bertd_encoder_pool *p = *pool;
  int workers = 0;
  if (n > 1 && p) {
    pool_grow(p, n - 1);
    workers = p->threads < n - 1 ? p->threads : n - 1;
    p->fn = fn;
    p->arg = base;
    p->stride = stride;
    p->tasks = workers + 1;
    atomic_store(&p->pending, p->threads);
    atomic_fetch_add(&p->round, 1); /* publishes the fields above (sequentially consistent) */
    if (atomic_load(&p->sleepers) > 0) {
      pthread_mutex_lock(&p->mu);
      pthread_cond_broadcast(&p->go);
      pthread_mutex_unlock(&p->mu);
    }
  }
  fn(base);
  /* tasks no worker could take run here */
  for (int i = workers + 1; i < n; i++) fn(base + (size_t)i * stride);
  if (workers > 0) {
    for (int i = 0; i < SPIN && atomic_load(&p->pending) > 0; i++) CPU_RELAX();
    if (atomic_load(&p->pending) > 0) {
      pthread_mutex_lock(&p->mu);
      atomic_store(&p->caller_sleeping, 1);
      while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done, &p->mu);
      atomic_store(&p->caller_sleeping, 0);
      pthread_mutex_unlock(&p->mu);
    }
  }
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
