/* codec_encode.c: records -> bytes. An enriched datum is the input datum's bytes followed by
 * the `bertd` record's: Avro encodes a record as its fields in order with nothing between, and
 * the enriched schema is the input schema plus one last field. So the input fields reach the
 * output exactly as they came, and only the enrichment is encoded here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"

/* Writes the framing header (if any) into a new buffer with room for n more bytes. */
static char *frame(const bertd_codec *c, int32_t id, size_t n, size_t *off, char *errstr,
                   size_t errstr_size, const char *which) {
  *off = 0;
  if (c->framing == BERTD_FRAMING_CONFLUENT) {
    if (id < 0) {
      snprintf(errstr, errstr_size,
               "Confluent framing needs the %s schema's id (a registry subject or a fixed id)",
               which);
      return NULL;
    }
    *off = 5;
  }
  char *buf = malloc(*off + n + 1);
  if (!buf) {
    snprintf(errstr, errstr_size, "codec: out of memory");
    return NULL;
  }
  if (*off) {
    uint32_t u = (uint32_t)id;
    buf[0] = 0;
    buf[1] = (char)(u >> 24);
    buf[2] = (char)(u >> 16);
    buf[3] = (char)(u >> 8);
    buf[4] = (char)u;
  }
  return buf;
}

static int write_value(avro_value_t *v, char *dst, size_t n, char *errstr, size_t errstr_size) {
  avro_writer_t w = avro_writer_memory(dst, (int64_t)n);
  int rc = w ? avro_value_write(w, v) : ENOMEM;
  if (w) avro_writer_free(w);
  if (rc) snprintf(errstr, errstr_size, "codec: cannot encode: %s", avro_strerror());
  return rc ? -1 : 0;
}

static int set_string_field(avro_value_t *rec, const char *name, const char *s, char *errstr,
                            size_t errstr_size) {
  avro_value_t f;
  if (!s) s = "";
  if (avro_value_get_by_name(rec, name, &f, NULL) || avro_value_set_string(&f, s)) {
    snprintf(errstr, errstr_size, "bertd.%s: %s", name, avro_strerror());
    return -1;
  }
  return 0;
}

/* The embedding field from floats. An array of float or double takes them straight; any other
 * shape the schema gives it (a union, say) goes through the JSON path, which knows them all. */
static int set_embedding(avro_value_t *ev, const float *v, int dim, char *errstr,
                         size_t errstr_size) {
  avro_value_t f;
  if (avro_value_get_by_name(ev, "embedding", &f, NULL)) {
    snprintf(errstr, errstr_size, "result key 'embedding' has no field in the enriched schema");
    return -1;
  }
  avro_schema_t items = avro_value_get_type(&f) == AVRO_ARRAY
                            ? avro_schema_array_items(avro_value_get_schema(&f))
                            : NULL;
  if (items && (is_avro_float(items) || is_avro_double(items))) {
    for (int i = 0; i < dim; i++) {
      avro_value_t c;
      if (avro_value_append(&f, &c, NULL) ||
          (is_avro_float(items) ? avro_value_set_float(&c, v[i])
                                : avro_value_set_double(&c, (double)v[i]))) {
        snprintf(errstr, errstr_size, "bertd.embedding[%d]: %s", i, avro_strerror());
        return -1;
      }
    }
    return 0;
  }
  json_t *a = json_array();
  for (int i = 0; a && i < dim; i++)
    if (json_array_append_new(a, json_real((double)v[i]))) {
      json_decref(a);
      a = NULL;
    }
  if (!a) {
    snprintf(errstr, errstr_size, "codec: out of memory");
    return -1;
  }
  int rc = bertd_codec_value_from_json(&f, a, "bertd.embedding", errstr, errstr_size);
  json_decref(a);
  return rc;
}

/* The enrichment record from model facts and the plugin's result object. */
static int fill_enrichment(avro_value_t *ev, const bertd_enrichment *e, char *errstr,
                           size_t errstr_size) {
  avro_value_t f;
  if (set_string_field(ev, "model", e->model, errstr, errstr_size) ||
      set_string_field(ev, "model_checksum", e->model_checksum, errstr, errstr_size) ||
      set_string_field(ev, "task", e->task, errstr, errstr_size))
    return -1;
  static const char *const TIMES[] = {"queue_ms", "model_ms"};
  const double times[] = {e->queue_ms, e->model_ms};
  for (int i = 0; i < 2; i++)
    if (avro_value_get_by_name(ev, TIMES[i], &f, NULL) || avro_value_set_double(&f, times[i])) {
      snprintf(errstr, errstr_size, "bertd.%s: %s", TIMES[i], avro_strerror());
      return -1;
    }
  /* unions start with no branch: give every optional field its default (null) first */
  size_t nf = 0;
  avro_value_get_size(ev, &nf);
  for (size_t i = 0; i < nf; i++) {
    avro_value_t b;
    if (!avro_value_get_by_index(ev, i, &f, NULL) && avro_value_get_type(&f) == AVRO_UNION &&
        avro_value_set_branch(&f, 0, &b)) {
      snprintf(errstr, errstr_size, "bertd: %s", avro_strerror());
      return -1;
    }
  }
  /* Avro C gives no field its schema default: a text that fit ran as one window */
  if (!avro_value_get_by_name(ev, "windows", &f, NULL) && avro_value_set_int(&f, 1)) {
    snprintf(errstr, errstr_size, "bertd.windows: %s", avro_strerror());
    return -1;
  }
  avro_value_t b;
  if (e->has_end_to_end &&
      (avro_value_get_by_name(ev, "end_to_end_ms", &f, NULL) || avro_value_set_branch(&f, 1, &b) ||
       avro_value_set_double(&b, e->end_to_end_ms))) {
    snprintf(errstr, errstr_size, "bertd.end_to_end_ms: %s", avro_strerror());
    return -1;
  }
  if (e->embedding && set_embedding(ev, e->embedding, e->embedding_dim, errstr, errstr_size))
    return -1;
  if (!e->result) return 0;
  if (!json_is_object(e->result)) {
    snprintf(errstr, errstr_size, "bertd: the result is not a JSON object");
    return -1;
  }
  const char *key;
  json_t *val;
  char path[300];
  json_object_foreach((json_t *)e->result, key, val) {
    /* the fields filled above are not results */
    if (!strcmp(key, "model") || !strcmp(key, "model_checksum") || !strcmp(key, "task") ||
        !strcmp(key, "queue_ms") || !strcmp(key, "model_ms") || !strcmp(key, "end_to_end_ms") ||
        avro_value_get_by_name(ev, key, &f, NULL)) {
      snprintf(errstr, errstr_size, "result key '%s' has no field in the enriched schema", key);
      return -1;
    }
    if (e->embedding && !strcmp(key, "embedding")) {
      snprintf(errstr, errstr_size, "bertd.embedding: given both as floats and in the result");
      return -1;
    }
    snprintf(path, sizeof path, "bertd.%s", key);
    if (bertd_codec_value_from_json(&f, val, path, errstr, errstr_size)) return -1;
  }
  return 0;
}

int bertd_codec_encode(bertd_codec *c, const bertd_record *in, const bertd_enrichment *e,
                       void **out, size_t *out_len, char *errstr, size_t errstr_size) {
  *out = NULL;
  *out_len = 0;
  if (!c->enrichment_iface) {
    snprintf(errstr, errstr_size, "codec: a decode-only codec cannot encode enriched records");
    return -1;
  }
  avro_value_t ev;
  if (avro_generic_value_new(c->enrichment_iface, &ev)) {
    snprintf(errstr, errstr_size, "codec: out of memory");
    return -1;
  }
  size_t esize = 0, off = 0;
  char *buf = NULL;
  int rc = -1;
  if (fill_enrichment(&ev, e, errstr, errstr_size)) goto done;
  if (avro_value_sizeof(&ev, &esize)) {
    snprintf(errstr, errstr_size, "codec: cannot size the enrichment: %s", avro_strerror());
    goto done;
  }
  if (!(buf = frame(c, c->output_id, in->datum_len + esize, &off, errstr, errstr_size,
                    "enriched")))
    goto done;
  memcpy(buf + off, in->datum, in->datum_len);
  if (write_value(&ev, buf + off + in->datum_len, esize, errstr, errstr_size)) goto done;
  *out = buf;
  *out_len = off + in->datum_len + esize;
  buf = NULL;
  rc = 0;
done:
  free(buf);
  avro_value_decref(&ev);
  return rc;
}

int bertd_codec_encode_input(bertd_codec *c, const json_t *obj, void **out, size_t *out_len,
                             char *errstr, size_t errstr_size) {
  *out = NULL;
  *out_len = 0;
  avro_value_t v;
  if (avro_generic_value_new(c->input->iface, &v)) {
    snprintf(errstr, errstr_size, "codec: out of memory");
    return -1;
  }
  size_t size = 0, off = 0;
  char *buf = NULL;
  int rc = -1;
  if (bertd_codec_value_from_json(&v, obj, "", errstr, errstr_size)) goto done;
  if (avro_value_sizeof(&v, &size)) {
    snprintf(errstr, errstr_size, "codec: cannot size the record: %s", avro_strerror());
    goto done;
  }
  if (!(buf = frame(c, c->input_id, size, &off, errstr, errstr_size, "input"))) goto done;
  if (write_value(&v, buf + off, size, errstr, errstr_size)) goto done;
  *out = buf;
  *out_len = off + size;
  buf = NULL;
  rc = 0;
done:
  free(buf);
  avro_value_decref(&v);
  return rc;
}
