/* codec_json.c: Avro values <-> JSON in Avro's JSON encoding, for the produce and consume CLIs and
 * for filling the enrichment from the plugin's result objects.
 *
 * JSON -> Avro accepts a union as Avro writes it ({"string": "x"}, {"bertd.LabelScore": {...}},
 * null) and also as a plain value when exactly one branch can hold it ("x" for
 * ["null","string"]), because hand-written JSONL and the plugin's results are plain. A record
 * field that is missing takes null when its type is a union with null (the defaults our schemas
 * use); any other missing field, and any key the record has no field for, is an error.
 *
 * Avro -> JSON writes the strict form (tagged unions) so that every value round-trips. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"

static avro_schema_t deref(avro_schema_t s) {
  while (s && avro_typeof(s) == AVRO_LINK) s = avro_schema_link_target(s);
  return s;
}

static int is_named(avro_schema_t s) {
  avro_type_t t = avro_typeof(s);
  return t == AVRO_RECORD || t == AVRO_ENUM || t == AVRO_FIXED;
}

/* The name a union branch goes by in Avro JSON: the full name of a named type, else the type. */
static const char *branch_name(avro_schema_t b, char *buf, size_t n) {
  b = deref(b);
  if (!is_named(b)) return avro_schema_type_name(b);
  const char *ns = avro_schema_namespace(b);
  if (ns && *ns) snprintf(buf, n, "%s.%s", ns, avro_schema_name(b));
  else snprintf(buf, n, "%s", avro_schema_name(b));
  return buf;
}

static const char *json_type_name(const json_t *j) {
  switch (json_typeof(j)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER: return "an integer";
  case JSON_REAL: return "a number";
  case JSON_TRUE:
  case JSON_FALSE: return "a boolean";
  case JSON_NULL: return "null";
  }
  return "?";
}

/* Can j be a value of schema s (on its face, for choosing a union branch)? */
static int json_fits(const json_t *j, avro_schema_t s) {
  s = deref(s);
  switch (avro_typeof(s)) {
  case AVRO_NULL: return json_is_null(j);
  case AVRO_BOOLEAN: return json_is_boolean(j);
  case AVRO_INT32:
    return json_is_integer(j) && json_integer_value(j) >= INT32_MIN &&
           json_integer_value(j) <= INT32_MAX;
  case AVRO_INT64: return json_is_integer(j);
  case AVRO_FLOAT:
  case AVRO_DOUBLE: return json_is_number(j);
  case AVRO_STRING:
  case AVRO_BYTES:
  case AVRO_FIXED: return json_is_string(j);
  case AVRO_ENUM:
    return json_is_string(j) && avro_schema_enum_get_by_name(s, json_string_value(j)) >= 0;
  case AVRO_ARRAY: return json_is_array(j);
  case AVRO_MAP:
  case AVRO_RECORD: return json_is_object(j);
  default: return 0;
  }
}

/* Avro JSON carries bytes as a string whose code points U+0000..U+00FF are the bytes. */
static int latin1_to_bytes(const json_t *j, char **out, size_t *n) {
  const unsigned char *s = (const unsigned char *)json_string_value(j);
  size_t len = json_string_length(j), k = 0;
  char *b = malloc(len ? len : 1);
  if (!b) return -1;
  for (size_t i = 0; i < len; k++) {
    if (s[i] < 0x80) b[k] = (char)s[i++];
    else if ((s[i] == 0xc2 || s[i] == 0xc3) && i + 1 < len) {
      b[k] = (char)(((s[i] & 0x03) << 6) | (s[i + 1] & 0x3f));
      i += 2;
    } else {
      free(b);
      return -1;
    }
  }
  *out = b;
  *n = k;
  return 0;
}

static int from_json(avro_value_t *dst, const json_t *j, const char *path, char *errstr,
                     size_t errstr_size);

static int union_has_null(avro_schema_t s) {
  if (avro_typeof(s) != AVRO_UNION) return 0;
  for (size_t i = 0; i < avro_schema_union_size(s); i++)
    if (avro_typeof(deref(avro_schema_union_branch(s, (int)i))) == AVRO_NULL) return 1;
  return 0;
}

static int set_union(avro_value_t *dst, avro_schema_t us, const json_t *j, const char *path,
                     char *errstr, size_t errstr_size) {
  size_t nb = avro_schema_union_size(us);
  char nbuf[512];
  avro_value_t branch;
  /* the tagged form: {"type name": value} */
  if (json_is_object(j) && json_object_size(j) == 1) {
    const char *key = json_object_iter_key(json_object_iter((json_t *)j));
    for (size_t i = 0; i < nb; i++) {
      avro_schema_t b = deref(avro_schema_union_branch(us, (int)i));
      if (!strcmp(key, branch_name(b, nbuf, sizeof nbuf)) ||
          (is_named(b) && !strcmp(key, avro_schema_name(b)))) {
        if (avro_value_set_branch(dst, (int)i, &branch)) break;
        return from_json(&branch, json_object_iter_value(json_object_iter((json_t *)j)), path,
                         errstr, errstr_size);
      }
    }
  }
  /* the plain form, when exactly one branch fits */
  int found = -1, n_fit = 0;
  for (size_t i = 0; i < nb; i++)
    if (json_fits(j, avro_schema_union_branch(us, (int)i))) {
      if (found < 0) found = (int)i;
      n_fit++;
    }
  if (n_fit != 1) {
    snprintf(errstr, errstr_size, "%s: %s %s; give it as {\"type\": value}", path,
             json_type_name(j), n_fit ? "fits more than one branch of the union" : "fits no branch of the union");
    return -1;
  }
  if (avro_value_set_branch(dst, found, &branch)) {
    snprintf(errstr, errstr_size, "%s: %s", path, avro_strerror());
    return -1;
  }
  return from_json(&branch, j, path, errstr, errstr_size);
}

static int set_record(avro_value_t *dst, avro_schema_t rs, const json_t *j, const char *path,
                      char *errstr, size_t errstr_size) {
  size_t nf = avro_schema_record_size(rs);
  char child[512];
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)j, key, val) {
    if (avro_schema_record_field_get_index(rs, key) < 0) {
      snprintf(errstr, errstr_size, "%s%s%s: no such field in %s", path, *path ? "." : "", key,
               avro_schema_name(rs));
      return -1;
    }
  }
  for (size_t i = 0; i < nf; i++) {
    const char *name = avro_schema_record_field_name(rs, (int)i);
    avro_value_t f;
    snprintf(child, sizeof child, "%s%s%s", path, *path ? "." : "", name);
    if (avro_value_get_by_index(dst, i, &f, NULL)) {
      snprintf(errstr, errstr_size, "%s: %s", child, avro_strerror());
      return -1;
    }
    const json_t *fj = json_object_get(j, name);
    if (!fj) {
      avro_schema_t fs = deref(avro_schema_record_field_get_by_index(rs, (int)i));
      if (union_has_null(fs)) fj = json_null();
      else {
        snprintf(errstr, errstr_size, "%s: missing", child);
        return -1;
      }
    }
    if (from_json(&f, fj, child, errstr, errstr_size)) return -1;
  }
  return 0;
}

static int from_json(avro_value_t *dst, const json_t *j, const char *path, char *errstr,
                     size_t errstr_size) {
  avro_schema_t s = deref(avro_value_get_schema(dst));
  avro_type_t t = avro_value_get_type(dst);
  const char *p = *path ? path : "record";
  char child[512];
  int rc = 0;
  if (!json_fits(j, s) && t != AVRO_UNION) {
    char nbuf[512];
    if (t == AVRO_ENUM && json_is_string(j))
      snprintf(errstr, errstr_size, "%s: '%s' is not a symbol of %s", p, json_string_value(j),
               avro_schema_name(s));
    else
      snprintf(errstr, errstr_size, "%s: expected %s, got %s", p, branch_name(s, nbuf, sizeof nbuf),
               json_type_name(j));
    return -1;
  }
  switch (t) {
  case AVRO_NULL: rc = avro_value_set_null(dst); break;
  case AVRO_BOOLEAN: rc = avro_value_set_boolean(dst, json_is_true(j)); break;
  case AVRO_INT32: rc = avro_value_set_int(dst, (int32_t)json_integer_value(j)); break;
  case AVRO_INT64: rc = avro_value_set_long(dst, (int64_t)json_integer_value(j)); break;
  case AVRO_FLOAT: {
    double d = json_number_value(j);
    if (d > FLT_MAX || d < -FLT_MAX) { /* converting it would be undefined behaviour */
      snprintf(errstr, errstr_size, "%s: %g is out of range for a float", p, d);
      return -1;
    }
    rc = avro_value_set_float(dst, (float)d);
    break;
  }
  case AVRO_DOUBLE: rc = avro_value_set_double(dst, json_number_value(j)); break;
  case AVRO_STRING:
    /* Avro C's length counts a NUL; jansson's strings have one after their bytes */
    rc = avro_value_set_string_len(dst, json_string_value(j), json_string_length(j) + 1);
    break;
  case AVRO_BYTES:
  case AVRO_FIXED: {
    char *b;
    size_t n;
    if (latin1_to_bytes(j, &b, &n)) {
      snprintf(errstr, errstr_size, "%s: bytes must be a string of code points U+0000..U+00FF", p);
      return -1;
    }
    if (t == AVRO_FIXED && (int64_t)n != avro_schema_fixed_size(s)) {
      free(b);
      snprintf(errstr, errstr_size, "%s: %zu bytes for a fixed of %lld", p, n,
               (long long)avro_schema_fixed_size(s));
      return -1;
    }
    rc = t == AVRO_BYTES ? avro_value_set_bytes(dst, b, n) : avro_value_set_fixed(dst, b, n);
    free(b);
    break;
  }
  case AVRO_ENUM:
    rc = avro_value_set_enum(dst, avro_schema_enum_get_by_name(s, json_string_value(j)));
    break;
  case AVRO_ARRAY: {
    size_t i;
    json_t *item;
    json_array_foreach((json_t *)j, i, item) {
      avro_value_t c;
      snprintf(child, sizeof child, "%s[%zu]", p, i);
      if (avro_value_append(dst, &c, NULL) || from_json(&c, item, child, errstr, errstr_size)) {
        if (!errstr[0]) snprintf(errstr, errstr_size, "%s: %s", child, avro_strerror());
        return -1;
      }
    }
    break;
  }
  case AVRO_MAP: {
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)j, key, val) {
      avro_value_t c;
      snprintf(child, sizeof child, "%s[\"%s\"]", p, key);
      if (avro_value_add(dst, key, &c, NULL, NULL) ||
          from_json(&c, val, child, errstr, errstr_size)) {
        if (!errstr[0]) snprintf(errstr, errstr_size, "%s: %s", child, avro_strerror());
        return -1;
      }
    }
    break;
  }
  case AVRO_RECORD: return set_record(dst, s, j, path, errstr, errstr_size);
  case AVRO_UNION: return set_union(dst, s, j, p, errstr, errstr_size);
  default:
    snprintf(errstr, errstr_size, "%s: unsupported Avro type", p);
    return -1;
  }
  if (rc) {
    snprintf(errstr, errstr_size, "%s: %s", p, avro_strerror());
    return -1;
  }
  return 0;
}

int bertd_codec_value_from_json(avro_value_t *dst, const json_t *j, const char *path, char *errstr,
                          size_t errstr_size) {
  errstr[0] = 0;
  return from_json(dst, j, path ? path : "", errstr, errstr_size);
}

/* A JSON string from bytes that should be UTF-8 but may not be (a map key, a string Avro C read
 * without checking): bad bytes become U+FFFD so the record still prints. */
static json_t *string_lossy(const char *s, size_t len) {
  if (!bertd_codec_utf8_invalid_at(s, len)) return json_stringn(s, len);
  char *b = malloc(len * 3 + 1);
  if (!b) return NULL;
  size_t k = 0;
  while (len > 0) {
    size_t bad = bertd_codec_utf8_invalid_at(s, len);
    size_t good = bad ? bad - 1 : len;
    memcpy(b + k, s, good);
    k += good;
    s += good;
    len -= good;
    if (bad) {
      memcpy(b + k, "\xef\xbf\xbd", 3);
      k += 3;
      s++;
      len--;
    }
  }
  json_t *r = json_stringn(b, k);
  free(b);
  return r;
}

static json_t *bytes_latin1(const unsigned char *b, size_t n) {
  char *s = malloc(n * 2 + 1);
  if (!s) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (b[i] < 0x80) s[k++] = (char)b[i];
    else {
      s[k++] = (char)(0xc0 | (b[i] >> 6));
      s[k++] = (char)(0x80 | (b[i] & 0x3f));
    }
  }
  json_t *r = json_stringn(s, k);
  free(s);
  return r;
}

static json_t *real_or_null(double d) { return isfinite(d) ? json_real(d) : json_null(); }

json_t *bertd_codec_value_to_json(avro_value_t *v) {
  switch (avro_value_get_type(v)) {
  case AVRO_NULL: return json_null();
  case AVRO_BOOLEAN: {
    int b = 0;
    return avro_value_get_boolean(v, &b) ? NULL : json_boolean(b);
  }
  case AVRO_INT32: {
    int32_t i = 0;
    return avro_value_get_int(v, &i) ? NULL : json_integer(i);
  }
  case AVRO_INT64: {
    int64_t l = 0;
    return avro_value_get_long(v, &l) ? NULL : json_integer((json_int_t)l);
  }
  case AVRO_FLOAT: {
    float f = 0;
    return avro_value_get_float(v, &f) ? NULL : real_or_null(f);
  }
  case AVRO_DOUBLE: {
    double d = 0;
    return avro_value_get_double(v, &d) ? NULL : real_or_null(d);
  }
  case AVRO_STRING: {
    const char *s = NULL;
    size_t size = 0;
    if (avro_value_get_string(v, &s, &size)) return NULL;
    return string_lossy(s ? s : "", size ? size - 1 : 0);
  }
  case AVRO_BYTES:
  case AVRO_FIXED: {
    const void *b = NULL;
    size_t n = 0;
    int rc = avro_value_get_type(v) == AVRO_BYTES ? avro_value_get_bytes(v, &b, &n)
                                                   : avro_value_get_fixed(v, &b, &n);
    return rc ? NULL : bytes_latin1(b, n);
  }
  case AVRO_ENUM: {
    int e = 0;
    if (avro_value_get_enum(v, &e)) return NULL;
    const char *sym = avro_schema_enum_get(deref(avro_value_get_schema(v)), e);
    return sym ? json_string(sym) : NULL;
  }
  case AVRO_ARRAY:
  case AVRO_MAP:
  case AVRO_RECORD: {
    int is_array = avro_value_get_type(v) == AVRO_ARRAY;
    size_t n = 0;
    if (avro_value_get_size(v, &n)) return NULL;
    json_t *out = is_array ? json_array() : json_object();
    for (size_t i = 0; out && i < n; i++) {
      avro_value_t c;
      const char *name = NULL;
      json_t *cj = NULL;
      if (!avro_value_get_by_index(v, i, &c, &name)) cj = bertd_codec_value_to_json(&c);
      if (!cj) {
        json_decref(out);
        return NULL;
      }
      if (is_array) {
        json_array_append_new(out, cj);
      } else {
        json_t *k = string_lossy(name ? name : "", name ? strlen(name) : 0);
        if (!k) {
          json_decref(cj);
          json_decref(out);
          return NULL;
        }
        json_object_set_new(out, json_string_value(k), cj);
        json_decref(k);
      }
    }
    return out;
  }
  case AVRO_UNION: {
    int d = -1;
    avro_value_t b;
    if (avro_value_get_discriminant(v, &d) || avro_value_get_current_branch(v, &b)) return NULL;
    if (avro_value_get_type(&b) == AVRO_NULL) return json_null();
    char nbuf[512];
    avro_schema_t bs = avro_schema_union_branch(deref(avro_value_get_schema(v)), d);
    json_t *inner = bertd_codec_value_to_json(&b);
    if (!bs || !inner) {
      json_decref(inner);
      return NULL;
    }
    json_t *out = json_object();
    json_object_set_new(out, branch_name(bs, nbuf, sizeof nbuf), inner);
    return out;
  }
  default: return NULL;
  }
}
