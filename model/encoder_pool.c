/* encoder_pool.c: see encoder_pool.h. One mutex and two condition variables: the caller
 * publishes a round (a generation number and the task count), each worker i runs task i + 1 of
 * that round if there is one, and the last to finish wakes the caller. */
#include "encoder_pool.h"

#include <pthread.h>
#include <stdlib.h>

struct bertd_encoder_pool {
  pthread_mutex_t mu;
  pthread_cond_t go, done;
  int threads;          /* workers started */
  pthread_t *tid;       /* (threads) */
  unsigned long round;  /* incremented per run */
  int tasks;            /* this round's task count, including the caller's task 0 */
  int pending;          /* worker tasks of this round not yet finished */
  int stop;
  void (*fn)(void *);
  char *arg;
  unsigned long stride;
};

typedef struct {
  bertd_encoder_pool *p;
  int index; /* runs task index + 1 */
} worker_arg;

static void *worker(void *varg) {
  worker_arg wa = *(worker_arg *)varg;
  free(varg);
  bertd_encoder_pool *p = wa.p;
  unsigned long seen = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->stop && p->round == seen) pthread_cond_wait(&p->go, &p->mu);
    if (p->stop) break;
    seen = p->round;
    const int task = wa.index + 1;
    if (task < p->tasks) {
      void (*fn)(void *) = p->fn;
      void *arg = p->arg + (size_t)task * p->stride;
      pthread_mutex_unlock(&p->mu);
      fn(arg);
      pthread_mutex_lock(&p->mu);
      if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
  }
  pthread_mutex_unlock(&p->mu);
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
 * in flight, so new workers start with round == seen and wait for the next one. */
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
    pthread_mutex_lock(&p->mu);
    pool_grow(p, n - 1);
    workers = p->threads < n - 1 ? p->threads : n - 1;
    p->fn = fn;
    p->arg = base;
    p->stride = stride;
    p->tasks = workers + 1;
    p->pending = workers;
    p->round++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
  }
  fn(base);
  /* tasks no worker could take run here */
  for (int i = workers + 1; i < n; i++) fn(base + (size_t)i * stride);
  if (workers > 0) {
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
  }
}

void bertd_encoder_pool_free(bertd_encoder_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  pthread_cond_broadcast(&p->go);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->threads; i++) pthread_join(p->tid[i], NULL);
  free(p->tid);
  pthread_cond_destroy(&p->done);
  pthread_cond_destroy(&p->go);
  pthread_mutex_destroy(&p->mu);
  free(p);
}
