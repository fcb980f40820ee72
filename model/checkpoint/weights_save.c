/* weights_save.c: the parameter table as an F32 model.safetensors that transformers loads.
 *
 * Layout written (what the safetensors library itself writes):
 *   u64 N | {"__metadata__":{"format":"pt"},"<name>":{"data_offsets":[b,e],"dtype":"F32",
 *   "shape":[..]},...} padded with spaces so that 8 + N is a multiple of 8 | data
 * Tensors are sorted by name and packed with no gaps, in the same order in the header and the
 * data (the Python loader rejects holes). "format": "pt" is required: transformers refuses a
 * safetensors file whose metadata does not say which framework wrote it. A decoder tied to the
 * word embeddings has no entry of its own, as in save_pretrained; loading re-ties it.
 * The file appears atomically: written to PATH.tmp, then renamed. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd.h"
#include "bertd_weights.h"

static int cmp_param_name(const void *a, const void *b) {
  return strcmp((*(const bertd_param *const *)a)->name, (*(const bertd_param *const *)b)->name);
}

/* The header JSON, space-padded; *out is malloc'd. */
static int build_header(const bertd_param **sorted, int n, char **out, size_t *out_len) {
  json_t *root = json_object();
  int ok = root && json_object_set_new(root, "__metadata__", json_pack("{s:s}", "format", "pt")) == 0;
  uint64_t offset = 0;
  for (int i = 0; ok && i < n; i++) {
    const bertd_param *p = sorted[i];
    json_t *shape = p->ndim == 2 ? json_pack("[I,I]", (json_int_t)p->shape[0], (json_int_t)p->shape[1])
                                 : json_pack("[I]", (json_int_t)p->shape[0]);
    uint64_t end = offset + p->numel * sizeof(float);
    json_t *entry = json_pack("{s:s,s:o,s:[I,I]}", "dtype", "F32", "shape", shape, "data_offsets",
                              (json_int_t)offset, (json_int_t)end);
    ok = entry && json_object_set_new(root, p->name, entry) == 0;
    offset = end;
  }
  char *text = ok ? json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref(root);
  if (!text) return -1;
  size_t len = strlen(text), padded = (len + 7) / 8 * 8;
  char *buf = realloc(text, padded + 1);
  if (!buf) {
    free(text);
    return -1;
  }
  memset(buf + len, ' ', padded - len);
  buf[padded] = '\0';
  *out = buf;
  *out_len = padded;
  return 0;
}

int bertd_weights_save(const bertd_weights *w, const char *path, char *errstr, size_t errstr_size) {
  const bertd_param **sorted = malloc((w->num_params ? (size_t)w->num_params : 1) * sizeof *sorted);
  if (!sorted) return bertd_set_error(errstr, errstr_size, "%s: out of memory", path);
  for (int i = 0; i < w->num_params; i++) sorted[i] = &w->params[i];
  qsort(sorted, (size_t)w->num_params, sizeof *sorted, cmp_param_name);

  char *header = NULL;
  size_t header_len = 0;
  char tmp[4096];
  FILE *f = NULL;
  int rc = -1;
  if (build_header(sorted, w->num_params, &header, &header_len) != 0) {
    bertd_set_error(errstr, errstr_size, "%s: out of memory building the header", path);
    goto done;
  }
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
    bertd_set_error(errstr, errstr_size, "%s: path too long", path);
    goto done;
  }
  if (!(f = fopen(tmp, "wb"))) {
    bertd_set_error(errstr, errstr_size, "%s: %s", tmp, strerror(errno));
    goto done;
  }
  uint8_t len_le[8];
  for (int i = 0; i < 8; i++) len_le[i] = (uint8_t)((uint64_t)header_len >> (8 * i));
  int ok = fwrite(len_le, 1, 8, f) == 8 && fwrite(header, 1, header_len, f) == header_len;
  for (int i = 0; ok && i < w->num_params; i++)
    ok = fwrite(w->memory + sorted[i]->offset, sizeof(float), sorted[i]->numel, f) == sorted[i]->numel;
  int close_rc = fclose(f);
  f = NULL;
  if (!ok || close_rc != 0) {
    bertd_set_error(errstr, errstr_size, "%s: write: %s", tmp, strerror(errno));
    remove(tmp);
    goto done;
  }
  if (rename(tmp, path) != 0) {
    bertd_set_error(errstr, errstr_size, "%s: rename: %s", path, strerror(errno));
    remove(tmp);
    goto done;
  }
  rc = 0;
done:
  free(header);
  free(sorted);
  return rc;
}
