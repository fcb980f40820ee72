/* codec_schema.c: loading .avsc files and deriving the enriched schema from the input schema.
 *
 * The derivation works on the schema's JSON rather than on Avro C's schema objects because
 * Avro C forgets field defaults and logical types when it parses; the enriched schema must carry
 * the input fields exactly as written (a `ts` that is timestamp-millis stays one) and the
 * defaults of the enrichment fields are what let consumers evolve. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"

/* The `bertd` field. Every list defaults to [] and every optional result to null, so a reader
 * whose schema has a field this writer lacks (or the reverse) still resolves. Named types are
 * defined once, at first use, and referred to by name after. */
static const char ENRICHMENT_FIELD[] =
    "{\"name\":\"bertd\",\"type\":{\"type\":\"record\",\"name\":\"Enrichment\","
    "\"namespace\":\"bertd\",\"fields\":["
    "{\"name\":\"model\",\"type\":\"string\"},"
    "{\"name\":\"model_checksum\",\"type\":\"string\"},"
    "{\"name\":\"task\",\"type\":\"string\"},"
    "{\"name\":\"intent\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"LabelScore\","
    "\"fields\":[{\"name\":\"label\",\"type\":\"string\"},{\"name\":\"score\",\"type\":\"float\"}]}],"
    "\"default\":null},"
    "{\"name\":\"intents\",\"type\":{\"type\":\"array\",\"items\":\"LabelScore\"},\"default\":[]},"
    "{\"name\":\"slots\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"Slot\","
    "\"fields\":[{\"name\":\"slot\",\"type\":\"string\"},{\"name\":\"text\",\"type\":\"string\"},"
    "{\"name\":\"start\",\"type\":\"int\"},{\"name\":\"end\",\"type\":\"int\"},"
    "{\"name\":\"score\",\"type\":\"float\"}]}},\"default\":[]},"
    "{\"name\":\"labels\",\"type\":{\"type\":\"array\",\"items\":\"LabelScore\"},\"default\":[]},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[]},"
    "{\"name\":\"spans\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"Span\","
    "\"fields\":[{\"name\":\"label\",\"type\":\"string\"},{\"name\":\"text\",\"type\":\"string\"},"
    "{\"name\":\"start\",\"type\":\"int\"},{\"name\":\"end\",\"type\":\"int\"},"
    "{\"name\":\"score\",\"type\":\"float\"}]}},\"default\":[]},"
    "{\"name\":\"embedding\",\"type\":{\"type\":\"array\",\"items\":\"float\"},\"default\":[]},"
    "{\"name\":\"answer\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Answer\","
    "\"fields\":[{\"name\":\"text\",\"type\":\"string\"},{\"name\":\"start\",\"type\":\"int\"},"
    "{\"name\":\"end\",\"type\":\"int\"},{\"name\":\"score\",\"type\":\"float\"}]}],"
    "\"default\":null},"
    "{\"name\":\"is_next\",\"type\":[\"null\",\"float\"],\"default\":null},"
    /* texts longer than max_length: tokens truncation cut (0: none), windows run (1: none) */
    "{\"name\":\"truncated_tokens\",\"type\":\"int\",\"default\":0},"
    "{\"name\":\"windows\",\"type\":\"int\",\"default\":1},"
    /* timing (schemas/README.md) */
    "{\"name\":\"queue_ms\",\"type\":\"double\",\"default\":0},"
    "{\"name\":\"model_ms\",\"type\":\"double\",\"default\":0},"
    "{\"name\":\"end_to_end_ms\",\"type\":[\"null\",\"double\"],\"default\":null}"
    "]}}";

/* obj[key] when it is a string, else "". */
static const char *json_str(const json_t *obj, const char *key) {
  const char *v = json_string_value(json_object_get(obj, key));
  return v ? v : "";
}

int bertd_codec_schema_from_json(json_t *json, const char *origin, bertd_avro_schema **out,
                           char *errstr, size_t errstr_size) {
  *out = NULL;
  char *text = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);
  if (!text) {
    json_decref(json);
    snprintf(errstr, errstr_size, "%s: out of memory", origin);
    return -1;
  }
  avro_schema_t avro = NULL;
  if (avro_schema_from_json_length(text, strlen(text), &avro)) {
    /* Avro C's messages end in a newline now and then; keep errors one line */
    char msg[256];
    snprintf(msg, sizeof msg, "%s", avro_strerror());
    for (char *p = msg; *p; p++)
      if (*p == '\n') *p = ' ';
    snprintf(errstr, errstr_size, "%s: not a valid Avro schema: %s", origin, msg);
    free(text);
    json_decref(json);
    return -1;
  }
  free(text);
  bertd_avro_schema *s = calloc(1, sizeof(*s));
  avro_value_iface_t *iface = avro_generic_class_from_schema(avro);
  const char *name = json_is_object(json) ? json_string_value(json_object_get(json, "name")) : NULL;
  const char *ns = json_is_object(json) ? json_string_value(json_object_get(json, "namespace")) : NULL;
  size_t need = (name ? strlen(name) : 0) + (ns ? strlen(ns) : 0) + 2;
  char *fullname = malloc(need);
  if (!s || !iface || !fullname) {
    free(s);
    free(fullname);
    if (iface) avro_value_iface_decref(iface);
    avro_schema_decref(avro);
    json_decref(json);
    snprintf(errstr, errstr_size, "%s: out of memory", origin);
    return -1;
  }
  if (name && ns && !strchr(name, '.') && *ns)
    snprintf(fullname, need, "%s.%s", ns, name);
  else
    snprintf(fullname, need, "%s", name ? name : "");
  s->json = json;
  s->avro = avro;
  s->iface = iface;
  s->fullname = fullname;
  *out = s;
  return 0;
}

int bertd_avro_schema_parse(const char *text, size_t len, const char *origin,
                            bertd_avro_schema **out, char *errstr, size_t errstr_size) {
  json_error_t je;
  *out = NULL;
  json_t *json = json_loadb(text, len, JSON_DECODE_ANY, &je);
  if (!json) {
    snprintf(errstr, errstr_size, "%s: line %d column %d: %s", origin, je.line, je.column,
             je.text);
    return -1;
  }
  return bertd_codec_schema_from_json(json, origin, out, errstr, errstr_size);
}

int bertd_avro_schema_load(const char *path, bertd_avro_schema **out, char *errstr,
                           size_t errstr_size) {
  json_error_t je;
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(errstr, errstr_size, "%s: cannot open", path);
    return -1;
  }
  json_t *json = json_loadf(f, JSON_DECODE_ANY, &je);
  fclose(f);
  if (!json) {
    snprintf(errstr, errstr_size, "%s: line %d column %d: %s", path, je.line, je.column, je.text);
    return -1;
  }
  return bertd_codec_schema_from_json(json, path, out, errstr, errstr_size);
}

int bertd_avro_schema_enrich(const bertd_avro_schema *in, bertd_avro_schema **out, char *errstr,
                             size_t errstr_size) {
  *out = NULL;
  const char *origin = *in->fullname ? in->fullname : "input schema";
  json_t *fields = json_object_get(in->json, "fields");
  if (!json_is_object(in->json) ||
      strcmp(json_str(in->json, "type"), "record") ||
      !json_is_array(fields)) {
    snprintf(errstr, errstr_size, "%s: the input schema must be a record", origin);
    return -1;
  }
  size_t i;
  json_t *f;
  json_array_foreach(fields, i, f) {
    if (!strcmp(json_str(f, "name"), "bertd")) {
      snprintf(errstr, errstr_size,
               "%s: the input schema already has a field 'bertd', where enrichment goes", origin);
      return -1;
    }
  }
  json_t *field = json_loads(ENRICHMENT_FIELD, 0, NULL);
  json_t *json = json_deep_copy(in->json);
  if (!field || !json) {
    json_decref(field);
    json_decref(json);
    snprintf(errstr, errstr_size, "%s: out of memory", origin);
    return -1;
  }
  json_array_append_new(json_object_get(json, "fields"), field);
  char where[300];
  snprintf(where, sizeof where, "%s (enriched)", origin);
  return bertd_codec_schema_from_json(json, where, out, errstr, errstr_size);
}

char *bertd_avro_schema_dump(const bertd_avro_schema *s, int pretty) {
  return json_dumps(s->json, JSON_ENCODE_ANY | (pretty ? JSON_INDENT(2) : JSON_COMPACT));
}

const char *bertd_avro_schema_fullname(const bertd_avro_schema *s) { return s->fullname; }

void bertd_avro_schema_free(bertd_avro_schema *s) {
  if (!s) return;
  if (s->iface) avro_value_iface_decref(s->iface);
  avro_schema_decref(s->avro);
  json_decref(s->json);
  free(s->fullname);
  free(s);
}
