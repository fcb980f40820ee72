/* threads.h: the model's side of the process-wide thread count (threads.c); bertd.h has the
 * public half (bertd_threads, bertd_threads_set). */
#ifndef BERTD_MODEL_THREADS_H
#define BERTD_MODEL_THREADS_H

/* For code that runs slices of one batch on its own threads, each calling OpenBLAS: makes
 * OpenBLAS single-threaded meanwhile and returns the count to give back to
 * bertd_threads_serial_end(). */
int bertd_threads_serial_begin(void);
void bertd_threads_serial_end(int saved);

#endif
