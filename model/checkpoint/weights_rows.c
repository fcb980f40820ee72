/* weights_rows.c: an inference load's word embeddings, read from the checkpoint row by row as
 * token ids first appear (bertd_weights_load_opts.lazy_word_embeddings).
 *
 * The table (V,H) is anonymous memory mapped at load and left untouched: a page becomes
 * resident only once a row on it is copied in. Each row is pread from the file (the page cache,
 * not this process's mapping: a mapped file would bring whole folios and the kernel's
 * fault-around window of neighbouring rows into the resident set with every row touched).
 * A row's flag is set, with release order, after its bytes are in; a reader that sees the flag
 * (acquire) sees the row, so the common path is one atomic load per token and no lock. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bertd.h"
#include "weights_internal.h"

struct bertd_weights_rows {
  int fd;                  /* the checkpoint file holding the tensor */
  char label[64];          /* its base name, for errors */
  uint64_t offset;         /* file offset of row 0 */
  int V, H;
  float *table;            /* (V,H), anonymous */
  size_t table_bytes;
  atomic_uchar *present;   /* (V): 1 once row v is in table */
  pthread_mutex_t lock;    /* one reader of the file at a time */
};

int bertd_weights_rows_open(const char *path, const char *label, uint64_t offset, int V, int H,
                            bertd_weights_rows **out, char *errstr, size_t errstr_size) {
  *out = NULL;
  bertd_weights_rows *r = calloc(1, sizeof(*r));
  if (!r) return bertd_set_error(errstr, errstr_size, "%s: out of memory", label);
  r->fd = -1;
  snprintf(r->label, sizeof r->label, "%s", label);
  r->offset = offset;
  r->V = V;
  r->H = H;
  r->table_bytes = (size_t)V * (size_t)H * sizeof(float);
  r->present = calloc((size_t)V, sizeof(*r->present));
  void *t = mmap(NULL, r->table_bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  r->table = t == MAP_FAILED ? NULL : t;
  if (!r->present || !r->table) {
    bertd_weights_rows_free(r);
    return bertd_set_error(errstr, errstr_size, "%s: out of memory for the word embeddings", label);
  }
  /* a transparent huge page would make 2 MiB of rows resident for the first row on it */
  madvise(r->table, r->table_bytes, MADV_NOHUGEPAGE);
  for (int v = 0; v < V; v++) atomic_init(&r->present[v], 0);
  r->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (r->fd < 0 || pthread_mutex_init(&r->lock, NULL)) {
    int e = errno;
    if (r->fd >= 0) close(r->fd);
    r->fd = -1;
    bertd_weights_rows_free(r);
    return bertd_set_error(errstr, errstr_size, "%s: %s", label, strerror(e));
  }
  *out = r;
  return 0;
}

float *bertd_weights_rows_table(const bertd_weights_rows *r) { return r->table; }

void bertd_weights_rows_free(bertd_weights_rows *r) {
  if (!r) return;
  if (r->fd >= 0) {
    close(r->fd);
    pthread_mutex_destroy(&r->lock);
  }
  if (r->table) munmap(r->table, r->table_bytes);
  free(r->present);
  free(r);
}

/* Row v from the file into the table. */
static int read_row(bertd_weights_rows *r, int v, char *errstr, size_t errstr_size) {
  const size_t bytes = (size_t)r->H * sizeof(float);
  char *dst = (char *)(r->table + (size_t)v * (size_t)r->H);
  const uint64_t at = r->offset + (uint64_t)v * bytes;
  for (size_t got = 0; got < bytes;) {
    ssize_t n = pread(r->fd, dst + got, bytes - got, (off_t)(at + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return bertd_set_error(errstr, errstr_size,
                             "%s: word embeddings row %d: %s", r->label, v,
                             n < 0 ? strerror(errno) : "file shorter than at load");
    got += (size_t)n;
  }
  return 0;
}

int bertd_weights_rows_fetch(const bertd_weights *w, const int32_t *ids, int n, char *errstr,
                             size_t errstr_size) {
  bertd_weights_rows *r = w->rows;
  if (!r) return 0;
  for (int i = 0; i < n; i++) {
    const int32_t v = ids[i];
    if (v < 0 || v >= r->V) continue;
    if (atomic_load_explicit(&r->present[v], memory_order_acquire)) continue;
    pthread_mutex_lock(&r->lock);
    int rc = 0;
    if (!atomic_load_explicit(&r->present[v], memory_order_relaxed)) {
      rc = read_row(r, v, errstr, errstr_size);
      if (!rc) atomic_store_explicit(&r->present[v], 1, memory_order_release);
    }
    pthread_mutex_unlock(&r->lock);
    if (rc) return -1;
  }
  return 0;
}
