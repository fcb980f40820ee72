/* threads.c: the one owner of OpenBLAS's thread count, which is process-wide state: every
 * forward pass, training step and plugin in the process shares OpenBLAS's one thread pool.
 * Nothing else in bertd calls openblas_set_num_threads(); callers above the model set the count
 * through bertd_threads_set() (the CLI's --threads, the daemon through the plugin ABI's
 * bertd_plugin_threads()). */
#include <cblas.h>

#include "bertd.h"
#include "threads.h"

int bertd_threads(void) { return openblas_get_num_threads(); }

void bertd_threads_set(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }

/* Concurrent callers of a multi-threaded OpenBLAS queue on its one thread pool (measured 6x
 * slower), so slices calling it from their own threads run it single-threaded. */
int bertd_threads_serial_begin(void) {
  const int saved = openblas_get_num_threads();
  openblas_set_num_threads(1);
  return saved;
}

void bertd_threads_serial_end(int saved) { openblas_set_num_threads(saved); }
