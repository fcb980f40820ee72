/* encoder_pool.h: a session's worker threads for running slices of a batch in parallel. The
 * threads are created on first use and live as long as the session's activations, so a server
 * does not create and destroy threads (and their stacks and allocator arenas) per batch. */
#ifndef BERTD_ENCODER_POOL_H
#define BERTD_ENCODER_POOL_H

typedef struct bertd_encoder_pool bertd_encoder_pool;

/* Runs fn(arg + i * stride) for i in 0..n-1 on the calling thread and up to threads - 1 pool
 * threads, and returns when all are done. Tasks are claimed one at a time by whichever thread
 * is free, so they must not depend on which thread runs them; a pool thread that is not
 * scheduled in time simply takes none. *pool is created or grown on demand; when threads
 * cannot be had, the calling thread runs everything, so the work is always done. */
void bertd_encoder_pool_run_on(bertd_encoder_pool **pool, int threads, int n, void (*fn)(void *),
                               void *arg, unsigned long stride);
/* The same with as many threads as tasks. */
void bertd_encoder_pool_run(bertd_encoder_pool **pool, int n, void (*fn)(void *), void *arg,
                            unsigned long stride);

/* Stops and joins the threads. NULL is fine. */
void bertd_encoder_pool_free(bertd_encoder_pool *pool);

#endif
