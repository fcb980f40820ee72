/* cli_jsonl.c: JSONL input lines -> objects, and the error line that stands in for a bad one. */
#include "cli_jsonl.h"

#include <stdio.h>
#include <stdlib.h>

static const char *json_kind(const json_t *j) {
  switch (json_typeof(j)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER:
  case JSON_REAL: return "a number";
  case JSON_TRUE:
  case JSON_FALSE: return "a boolean";
  case JSON_NULL: return "null";
  }
  return "unknown";
}

json_t *bertd_cli_jsonl_parse(const char *line, size_t len, char *errstr, size_t errstr_size) {
  json_error_t je;
  /* JSON_ALLOW_NUL: "\u0000" is valid JSON; users' texts hold it, and the tokenizer removes it
   * exactly as transformers does. JSON_DECODE_ANY so that a scalar line gets "expected an
   * object" rather than jansson's less direct message. */
  json_t *obj = json_loadb(line, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &je);
  if (!obj) {
    snprintf(errstr, errstr_size, "not valid JSON at column %d: %s", je.column, je.text);
    return NULL;
  }
  if (!json_is_object(obj)) {
    snprintf(errstr, errstr_size, "expected a JSON object, got %s", json_kind(obj));
    json_decref(obj);
    return NULL;
  }
  return obj;
}

int bertd_cli_jsonl_string(const json_t *obj, const char *field, const json_t **out, char *errstr,
                     size_t errstr_size) {
  const json_t *v = json_object_get(obj, field);
  if (!v) {
    snprintf(errstr, errstr_size, "field '%s' is missing", field);
    return -1;
  }
  if (!json_is_string(v)) {
    snprintf(errstr, errstr_size, "field '%s' must be a string, got %s", field, json_kind(v));
    return -1;
  }
  *out = v;
  return 0;
}

int bertd_cli_jsonl_write_error(FILE *out, long line_no, const char *msg) {
  json_t *e = json_pack("{s:I, s:s}", "line", (json_int_t)line_no, "error", msg);
  char *s = e ? json_dumps(e, JSON_COMPACT) : NULL;
  json_decref(e);
  if (!s) return -1;
  int rc = fputs(s, out) < 0 || fputc('\n', out) == EOF ? -1 : 0;
  free(s);
  return rc;
}
