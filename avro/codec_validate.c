/* bertd_codec_validate.c: walks Avro binary encoding against a schema without building anything, so
 * hostile bytes are rejected before Avro C reads them.
 *
 * Avro C's reader trusts the data: a string's length goes straight to malloc (a varint can say
 * 2^62), an array block count of 2^62 nulls is a loop that never ends, INT64_MIN as a block count
 * is negated, and an enum index is stored unchecked. Here every length must fit in the bytes that
 * remain, every index must be in range, every varint must fit its type in at most 5 (int) or
 * 10 (long) bytes, the datum must use every byte, and the walk itself is bounded in depth and in
 * items, so a datum that passes costs Avro C at most a constant times its size. */
#include <stdio.h>
#include <string.h>

#include "codec_internal.h"

#define MAX_DEPTH 64 /* nested records/arrays/maps/unions: recursive schemas end here */

typedef struct vstate {
  const unsigned char *p, *start, *end;
  size_t items_left; /* array/map items still allowed: zero-size items cost no bytes */
  char *err;
  size_t errsz;
} vstate;

static int fail(vstate *v, const char *what) {
  snprintf(v->err, v->errsz, "%s at byte %zu", what, (size_t)(v->p - v->start));
  return -1;
}

/* A zigzag varint of at most max_bytes bytes whose value fits in bits bits. */
static int read_varint(vstate *v, int max_bytes, int bits, int64_t *out, const char *what) {
  uint64_t u = 0;
  for (int i = 0;; i++) {
    if (i == max_bytes) return fail(v, "varint too long");
    if (v->p >= v->end) return fail(v, what);
    unsigned b = *v->p++;
    /* the last byte may only carry the bits left of the type's width */
    if (i == max_bytes - 1 && (b >> (bits - 7 * i)) != 0) return fail(v, "varint overflows");
    u |= (uint64_t)(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) break;
  }
  *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
  return 0;
}

static int read_long(vstate *v, int64_t *out, const char *what) {
  return read_varint(v, 10, 64, out, what);
}

static int skip(vstate *v, int64_t n, const char *what) {
  if (n < 0) return fail(v, what);
  if ((uint64_t)n > (uint64_t)(v->end - v->p)) return fail(v, what);
  v->p += n;
  return 0;
}

static int walk(vstate *v, avro_schema_t s, int depth);

/* Arrays and maps: blocks of items until a zero count; a negative count is followed by the
 * block's size in bytes, which must then be exactly what the items take. */
static int walk_blocks(vstate *v, avro_schema_t item, int is_map, int depth) {
  for (;;) {
    int64_t count;
    if (read_long(v, &count, "truncated block count")) return -1;
    if (count == 0) return 0;
    const unsigned char *block_end = NULL;
    if (count < 0) {
      if (count == INT64_MIN) return fail(v, "bad block count");
      count = -count;
      int64_t size;
      if (read_long(v, &size, "truncated block size")) return -1;
      if (size < 0 || (uint64_t)size > (uint64_t)(v->end - v->p)) return fail(v, "bad block size");
      block_end = v->p + size;
    }
    if ((uint64_t)count > v->items_left) return fail(v, "too many items");
    v->items_left -= (size_t)count;
    for (int64_t i = 0; i < count; i++) {
      if (is_map) {
        int64_t klen;
        if (read_long(v, &klen, "truncated map key") || skip(v, klen, "truncated map key"))
          return -1;
      }
      if (walk(v, item, depth + 1)) return -1;
    }
    if (block_end && v->p != block_end) return fail(v, "block size does not match its items");
  }
}

static int walk(vstate *v, avro_schema_t s, int depth) {
  if (depth > MAX_DEPTH) return fail(v, "nested too deeply");
  int64_t n;
  switch (avro_typeof(s)) {
  case AVRO_NULL: return 0;
  case AVRO_BOOLEAN:
    if (v->p >= v->end) return fail(v, "truncated boolean");
    if (*v->p > 1) return fail(v, "boolean is neither 0 nor 1");
    v->p++;
    return 0;
  case AVRO_INT32: return read_varint(v, 5, 32, &n, "truncated int");
  case AVRO_INT64: return read_long(v, &n, "truncated long");
  case AVRO_FLOAT: return skip(v, 4, "truncated float");
  case AVRO_DOUBLE: return skip(v, 8, "truncated double");
  case AVRO_STRING:
  case AVRO_BYTES:
    if (read_long(v, &n, "truncated length")) return -1;
    if (n < 0) return fail(v, "negative length");
    return skip(v, n, "length past the end");
  case AVRO_FIXED: return skip(v, avro_schema_fixed_size(s), "truncated fixed");
  case AVRO_ENUM:
    if (read_long(v, &n, "truncated enum")) return -1;
    if (n < 0 || n >= avro_schema_enum_number_of_symbols(s)) return fail(v, "enum index out of range");
    return 0;
  case AVRO_UNION:
    if (read_long(v, &n, "truncated union index")) return -1;
    if (n < 0 || (uint64_t)n >= avro_schema_union_size(s)) return fail(v, "union index out of range");
    return walk(v, avro_schema_union_branch(s, (int)n), depth + 1);
  case AVRO_RECORD: {
    size_t nf = avro_schema_record_size(s);
    for (size_t i = 0; i < nf; i++)
      if (walk(v, avro_schema_record_field_get_by_index(s, (int)i), depth + 1)) return -1;
    return 0;
  }
  case AVRO_ARRAY: return walk_blocks(v, avro_schema_array_items(s), 0, depth);
  case AVRO_MAP: return walk_blocks(v, avro_schema_map_values(s), 1, depth);
  case AVRO_LINK: return walk(v, avro_schema_link_target(s), depth + 1);
  default: return fail(v, "unsupported schema type");
  }
}

int bertd_codec_validate(avro_schema_t s, const void *buf, size_t len, char *errstr,
                   size_t errstr_size) {
  vstate v = {buf, buf, (const unsigned char *)buf + len, len + 4096, errstr, errstr_size};
  if (walk(&v, s, 0)) return -1;
  if (v.p != v.end) {
    snprintf(errstr, errstr_size, "%zu trailing bytes after the datum", (size_t)(v.end - v.p));
    return -1;
  }
  return 0;
}
