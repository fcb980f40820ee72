/* safetensors.c: parse and validate a safetensors image; mmap it from a file; convert to F32.
 *
 * Validation follows the reference implementation (huggingface/safetensors, Rust) where it
 * matters for safety: the header length must fit in the file, the header must be a JSON object,
 * every tensor's dtype known, its data_offsets inside the data region, its byte size equal to
 * product(shape) * dtype size, and no two tensors may share bytes. One difference: gaps between
 * tensors are accepted (the reference rejects them); we only ever read the ranges the header names,
 * so a gap is harmless. */
#include "bertd.h"
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c copies F32/F64 data as is: little-endian hosts only"
#endif

static const struct {
  const char *name;
  size_t size;
} dtype_table[BERTD_ST_NUM_DTYPES] = {
    [BERTD_ST_BOOL] = {"BOOL", 1},       [BERTD_ST_U8] = {"U8", 1},
    [BERTD_ST_I8] = {"I8", 1},           [BERTD_ST_F8_E5M2] = {"F8_E5M2", 1},
    [BERTD_ST_F8_E4M3] = {"F8_E4M3", 1}, [BERTD_ST_I16] = {"I16", 2},
    [BERTD_ST_U16] = {"U16", 2},         [BERTD_ST_F16] = {"F16", 2},
    [BERTD_ST_BF16] = {"BF16", 2},       [BERTD_ST_I32] = {"I32", 4},
    [BERTD_ST_U32] = {"U32", 4},         [BERTD_ST_F32] = {"F32", 4},
    [BERTD_ST_I64] = {"I64", 8},         [BERTD_ST_U64] = {"U64", 8},
    [BERTD_ST_F64] = {"F64", 8},
};

const char *bertd_st_dtype_name(bertd_st_dtype dtype) {
  return (unsigned)dtype < BERTD_ST_NUM_DTYPES ? dtype_table[dtype].name : "?";
}

size_t bertd_st_dtype_size(bertd_st_dtype dtype) {
  return (unsigned)dtype < BERTD_ST_NUM_DTYPES ? dtype_table[dtype].size : 0;
}

static int dtype_from_name(const char *s, bertd_st_dtype *out) {
  for (int i = 0; i < BERTD_ST_NUM_DTYPES; i++) {
    if (strcmp(s, dtype_table[i].name) == 0) {
      *out = (bertd_st_dtype)i;
      return 0;
    }
  }
  return -1;
}

/* "[2, 3]" into buf; "[]" for a scalar. Long shapes end in "...". */
static void format_shape(char *buf, size_t size, const int64_t *shape, int ndim) {
  size_t n = 0;
  n += (size_t)snprintf(buf, size, "[");
  for (int i = 0; i < ndim && n < size; i++)
    n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (n < size) snprintf(buf + n, size - n, "]");
}

/* A JSON integer that fits in [0, 2^63); jansson has already refused anything larger. */
static int get_u64(const json_t *v, uint64_t *out) {
  if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
  *out = (uint64_t)json_integer_value(v);
  return 0;
}

/* One header entry into t; the name is already set. */
static int parse_tensor(const char *label, const char *name, const json_t *entry, uint64_t data_size,
                        bertd_st_tensor *t, char *errstr, size_t errstr_size) {
  if (!json_is_object(entry))
    return bertd_set_error(errstr, errstr_size, "%s: tensor '%s': expected an object", label, name);

  const json_t *dt = json_object_get(entry, "dtype");
  if (!json_is_string(dt))
    return bertd_set_error(errstr, errstr_size, "%s: tensor '%s': dtype: expected a string", label, name);
  if (dtype_from_name(json_string_value(dt), &t->dtype) != 0)
    return bertd_set_error(errstr, errstr_size, "%s: tensor '%s': unknown dtype '%s'", label, name,
                     json_string_value(dt));

  const json_t *shape = json_object_get(entry, "shape");
  if (!json_is_array(shape))
    return bertd_set_error(errstr, errstr_size, "%s: tensor '%s': shape: expected an array", label, name);
  if (json_array_size(shape) > BERTD_ST_MAX_DIMS)
    return bertd_set_error(errstr, errstr_size, "%s: tensor '%s': shape has %zu dimensions, at most %d",
                     label, name, json_array_size(shape), BERTD_ST_MAX_DIMS);
  t->ndim = (int)json_array_size(shape);
  int has_zero = 0;
  for (int i = 0; i < t->ndim; i++) {
    uint64_t d;
    if (get_u64(json_array_get(shape, (size_t)i), &d) != 0)
      return bertd_set_error(errstr, errstr_size,
                       "%s: tensor '%s': shape[%d]: expected a non-negative integer", label, name, i);
    t->shape[i] = (int64_t)d;
    if (d == 0) has_zero = 1;
  }
  /* numel * 8 (the widest dtype) must not overflow; any zero dimension makes the tensor empty
   * however large the others are. */
  uint64_t numel = has_zero ? 0 : 1;
  int too_large = 0;
  for (int i = 0; i < t->ndim && numel && !too_large; i++) {
    uint64_t d = (uint64_t)t->shape[i];
    if (numel > UINT64_MAX / 8 / d) too_large = 1;
    else numel *= d;
  }
  t->numel = numel;

  const json_t *offs = json_object_get(entry, "data_offsets");
  if (!json_is_array(offs) || json_array_size(offs) != 2 ||
      get_u64(json_array_get(offs, 0), &t->begin) != 0 ||
      get_u64(json_array_get(offs, 1), &t->end) != 0)
    return bertd_set_error(errstr, errstr_size,
                     "%s: tensor '%s': data_offsets: expected [begin, end], non-negative integers",
                     label, name);
  if (t->begin > t->end)
    return bertd_set_error(errstr, errstr_size, "%s: tensor '%s': data_offsets [%llu, %llu): begin after end",
                     label, name, (unsigned long long)t->begin, (unsigned long long)t->end);
  if (t->end > data_size)
    return bertd_set_error(errstr, errstr_size,
                     "%s: tensor '%s': data_offsets [%llu, %llu) past end of data (%llu bytes)", label,
                     name, (unsigned long long)t->begin, (unsigned long long)t->end,
                     (unsigned long long)data_size);

  uint64_t nbytes = t->end - t->begin;
  uint64_t want = numel * bertd_st_dtype_size(t->dtype);
  if (too_large || nbytes != want) {
    char sh[128];
    format_shape(sh, sizeof sh, t->shape, t->ndim);
    if (too_large)
      return bertd_set_error(errstr, errstr_size, "%s: tensor '%s': shape %s is too large", label, name, sh);
    return bertd_set_error(errstr, errstr_size,
                     "%s: tensor '%s': data_offsets [%llu, %llu) hold %llu bytes but shape %s of %s "
                     "needs %llu",
                     label, name, (unsigned long long)t->begin, (unsigned long long)t->end,
                     (unsigned long long)nbytes, sh, bertd_st_dtype_name(t->dtype),
                     (unsigned long long)want);
  }
  return 0;
}

static int cmp_by_begin(const void *a, const void *b) {
  const bertd_st_tensor *x = *(const bertd_st_tensor *const *)a, *y = *(const bertd_st_tensor *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

/* No byte may belong to two tensors: sort by begin, then each non-empty range must start at or
 * after the furthest end seen so far. */
static int check_overlaps(const bertd_safetensors *st, char *errstr, size_t errstr_size) {
  if (st->num_tensors < 2) return 0;
  const bertd_st_tensor **order = malloc((size_t)st->num_tensors * sizeof *order);
  if (!order) return bertd_set_error(errstr, errstr_size, "%s: out of memory", st->label);
  for (int i = 0; i < st->num_tensors; i++) order[i] = &st->tensors[i];
  qsort(order, (size_t)st->num_tensors, sizeof *order, cmp_by_begin);
  const bertd_st_tensor *furthest = NULL;
  int rc = 0;
  for (int i = 0; i < st->num_tensors; i++) {
    const bertd_st_tensor *t = order[i];
    if (t->begin == t->end) continue;
    if (furthest && t->begin < furthest->end) {
      rc = bertd_set_error(errstr, errstr_size,
                     "%s: tensor '%s': data_offsets [%llu, %llu) overlap tensor '%s' [%llu, %llu)",
                     st->label, t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
                     furthest->name, (unsigned long long)furthest->begin,
                     (unsigned long long)furthest->end);
      break;
    }
    if (!furthest || t->end > furthest->end) furthest = t;
  }
  free(order);
  return rc;
}

static void free_table(bertd_safetensors *st) {
  for (int i = 0; i < st->num_tensors; i++) free(st->tensors[i].name);
  free(st->tensors);
  st->tensors = NULL;
  st->num_tensors = 0;
}

static void set_label(bertd_safetensors *st, const char *label) {
  snprintf(st->label, sizeof st->label, "%s", label ? label : "safetensors");
}

int bertd_st_parse(const void *buf, size_t size, const char *label, bertd_safetensors *st,
                   char *errstr, size_t errstr_size) {
  memset(st, 0, sizeof *st);
  set_label(st, label);
  const uint8_t *p = buf;
  if (size < 8)
    return bertd_set_error(errstr, errstr_size,
                     "%s: truncated: %zu bytes, shorter than the 8-byte header length", st->label, size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | p[i];
  if (n > BERTD_ST_MAX_HEADER)
    return bertd_set_error(errstr, errstr_size, "%s: header length %llu exceeds the %u-byte limit",
                     st->label, (unsigned long long)n, BERTD_ST_MAX_HEADER);
  if (n > size - 8)
    return bertd_set_error(errstr, errstr_size, "%s: header length %llu past end of file (%zu bytes follow it)",
                     st->label, (unsigned long long)n, size - 8);

  json_error_t jerr;
  json_t *root = json_loadb((const char *)p + 8, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return bertd_set_error(errstr, errstr_size, "%s: header JSON: %s at line %d column %d", st->label,
                     jerr.text, jerr.line, jerr.column);
  int rc = 0;
  if (!json_is_object(root)) {
    rc = bertd_set_error(errstr, errstr_size, "%s: header JSON is not an object", st->label);
    goto done;
  }
  st->data = p + 8 + n;
  st->data_size = (uint64_t)(size - 8 - n);

  size_t count = json_object_size(root);
  st->tensors = calloc(count ? count : 1, sizeof *st->tensors);
  if (!st->tensors) {
    rc = bertd_set_error(errstr, errstr_size, "%s: out of memory", st->label);
    goto done;
  }
  const char *key;
  json_t *value;
  json_object_foreach(root, key, value) {
    if (strcmp(key, "__metadata__") == 0) {
      /* free-form str -> str; transformers writes {"format": "pt"} */
      const char *mk;
      json_t *mv;
      if (!json_is_object(value)) {
        rc = bertd_set_error(errstr, errstr_size, "%s: __metadata__: expected an object", st->label);
        goto done;
      }
      json_object_foreach(value, mk, mv) {
        if (!json_is_string(mv)) {
          rc = bertd_set_error(errstr, errstr_size, "%s: __metadata__: '%s': expected a string", st->label, mk);
          goto done;
        }
      }
      continue;
    }
    bertd_st_tensor *t = &st->tensors[st->num_tensors];
    t->name = strdup(key);
    if (!t->name) {
      rc = bertd_set_error(errstr, errstr_size, "%s: out of memory", st->label);
      goto done;
    }
    st->num_tensors++;
    if (parse_tensor(st->label, key, value, st->data_size, t, errstr, errstr_size) != 0) {
      rc = -1;
      goto done;
    }
  }
  rc = check_overlaps(st, errstr, errstr_size);
done:
  json_decref(root);
  if (rc != 0) {
    free_table(st);
    st->data = NULL;
    st->data_size = 0;
  }
  return rc;
}

int bertd_st_open(const char *path, bertd_safetensors *st, char *errstr, size_t errstr_size) {
  memset(st, 0, sizeof *st);
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return bertd_set_error(errstr, errstr_size, "%s: %s", base, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    int e = errno;
    close(fd);
    return bertd_set_error(errstr, errstr_size, "%s: %s", base, strerror(e));
  }
  if (!S_ISREG(sb.st_mode)) {
    close(fd);
    return bertd_set_error(errstr, errstr_size, "%s: not a regular file", base);
  }
  size_t size = (size_t)sb.st_size;
  void *map = NULL;
  if (size > 0) {
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      int e = errno;
      close(fd);
      return bertd_set_error(errstr, errstr_size, "%s: mmap: %s", base, strerror(e));
    }
  }
  close(fd); /* the mapping keeps the file alive */
  static const uint8_t empty[1];
  if (bertd_st_parse(map ? map : empty, size, base, st, errstr, errstr_size) != 0) {
    if (map) munmap(map, size);
    return -1;
  }
  st->map = map;
  st->map_size = size;
  return 0;
}

void bertd_st_close(bertd_safetensors *st) {
  if (!st) return;
  free_table(st);
  if (st->map) munmap(st->map, st->map_size);
  st->map = NULL;
  st->map_size = 0;
  st->data = NULL;
  st->data_size = 0;
}

void bertd_st_drop_pages(const bertd_safetensors *st, const bertd_st_tensor *t) {
  if (!st->map || t->begin == t->end) return;
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  const uintptr_t lo = (uintptr_t)st->map, hi = lo + st->map_size;
  uintptr_t a = (uintptr_t)(st->data + t->begin) / page * page;
  uintptr_t b = ((uintptr_t)(st->data + t->end) + page - 1) / page * page;
  if (a < lo) a = lo;
  if (b > hi) b = hi;
  /* a private read-only file mapping never written: the pages go back to the page cache and a
   * later read (a neighbour tensor sharing an edge page) faults them in again */
  if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

const bertd_st_tensor *bertd_st_find(const bertd_safetensors *st, const char *name) {
  /* Linear: a BERT checkpoint has a few hundred tensors and each is looked up once. */
  for (int i = 0; i < st->num_tensors; i++)
    if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
  return NULL;
}

float bertd_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13); /* inf, or NaN with its payload */
  } else if (exp != 0) {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign; /* signed zero */
  } else {
    /* subnormal: man * 2^-24. Shift the leading 1 up to the implicit-bit position (bit 10);
     * each shift lowers the exponent by one from that of the smallest normal, 2^-14. */
    int shift = 0;
    while (!(man & 0x400u)) {
      man <<= 1;
      shift++;
    }
    bits = sign | ((uint32_t)(127 - 14 - shift) << 23) | ((man & 0x3ffu) << 13);
  }
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

float bertd_bf16_to_f32(uint16_t b) {
  uint32_t bits = (uint32_t)b << 16; /* bfloat16 is the top half of a binary32 */
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

int bertd_st_read_f32(const bertd_safetensors *st, const bertd_st_tensor *t, float *out,
                      char *errstr, size_t errstr_size) {
  const uint8_t *src = st->data + t->begin;
  size_t n = (size_t)t->numel;
  switch (t->dtype) {
  case BERTD_ST_F32:
    if (n) memcpy(out, src, n * sizeof(float)); /* src may be unaligned: the header length is arbitrary */
    return 0;
  case BERTD_ST_F16:
    for (size_t i = 0; i < n; i++)
      out[i] = bertd_f16_to_f32((uint16_t)(src[2 * i] | (src[2 * i + 1] << 8)));
    return 0;
  case BERTD_ST_BF16:
    for (size_t i = 0; i < n; i++)
      out[i] = bertd_bf16_to_f32((uint16_t)(src[2 * i] | (src[2 * i + 1] << 8)));
    return 0;
  case BERTD_ST_F64:
    for (size_t i = 0; i < n; i++) {
      double d;
      memcpy(&d, src + 8 * i, sizeof d);
      out[i] = (float)d;
    }
    return 0;
  default:
    return bertd_set_error(errstr, errstr_size, "%s: tensor '%s': dtype %s does not convert to float",
                     st->label, t->name, bertd_st_dtype_name(t->dtype));
  }
}
