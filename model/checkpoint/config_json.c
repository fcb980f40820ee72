/* config_json.c: see config_json.h. */
#include "config_json.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int bertd_cfgjson_path(char *buf, size_t size, const char *dir, const char *name, char *errstr,
                       size_t errstr_size) {
  int n = snprintf(buf, size, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= size)
    return bertd_set_error(errstr, errstr_size, "%s: path too long", name);
  return 0;
}

int bertd_cfgjson_load(const char *dir, const char *name, int required, json_t **out,
                       char *errstr, size_t errstr_size) {
  *out = NULL;
  char path[4096];
  if (bertd_cfgjson_path(path, sizeof path, dir, name, errstr, errstr_size) != 0) return -1;
  struct stat sb;
  if (stat(path, &sb) != 0) {
    if (errno == ENOENT && !required) return 0;
    return bertd_set_error(errstr, errstr_size, "%s: %s", name, strerror(errno));
  }
  json_error_t jerr;
  json_t *root = json_load_file(path, JSON_DECODE_INT_AS_REAL, &jerr);
  if (!root)
    return bertd_set_error(errstr, errstr_size, "%s:%d:%d: %s", name, jerr.line, jerr.column,
                               jerr.text);
  *out = root;
  return 0;
}

static const json_t *get(const json_t *obj, const char *key) {
  const json_t *v = json_object_get(obj, key);
  return json_is_null(v) ? NULL : v;
}

int bertd_cfgjson_int(const json_t *obj, const char *file, const char *key, int min, int *out,
                      char *errstr, size_t errstr_size) {
  const json_t *v = get(obj, key);
  if (!v) return 0;
  double d = json_is_number(v) ? json_number_value(v) : NAN;
  if (!(d >= min && d <= INT_MAX) || d != floor(d))
    return bertd_set_error(errstr, errstr_size, "%s: %s: expected an integer >= %d", file, key, min);
  *out = (int)d;
  return 0;
}

int bertd_cfgjson_bool(const json_t *obj, const char *file, const char *key, int *out,
                       char *errstr, size_t errstr_size) {
  const json_t *v = get(obj, key);
  if (!v) return 0;
  if (!json_is_boolean(v))
    return bertd_set_error(errstr, errstr_size, "%s: %s: expected true or false", file, key);
  *out = json_is_true(v);
  return 0;
}

int bertd_cfgjson_float(const json_t *obj, const char *file, const char *key, float *out,
                        char *errstr, size_t errstr_size) {
  const json_t *v = get(obj, key);
  if (!v) return 0;
  if (!json_is_number(v))
    return bertd_set_error(errstr, errstr_size, "%s: %s: expected a number", file, key);
  *out = (float)json_number_value(v);
  return 0;
}

int bertd_cfgjson_string(const json_t *obj, const char *file, const char *key, const char **out,
                         char *errstr, size_t errstr_size) {
  const json_t *v = get(obj, key);
  *out = NULL;
  if (!v) return 0;
  if (!json_is_string(v))
    return bertd_set_error(errstr, errstr_size, "%s: %s: expected a string", file, key);
  *out = json_string_value(v);
  return 0;
}
