/* codec_decode.c: bytes -> bertd_record. Order of checks: framing, then the datum against its
 * writer schema (bertd_codec_validate.c), then Avro C reads it, then the text fields are picked and
 * their bytes checked to be UTF-8. Each failure has its dead-letter reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"

#define CONFLUENT_HEADER 5 /* magic byte 0 + 4-byte big-endian schema id */

static int fail(bertd_codec_reason *reason, bertd_codec_reason r) {
  *reason = r;
  return -1;
}

/* Reads the datum into rec->value, resolving from the writer schema when there is one. */
static int read_datum(const codec_writer *w, const char *p, size_t n,
                      bertd_record *rec, bertd_codec_reason *reason, char *errstr,
                      size_t errstr_size) {
  avro_reader_t reader = avro_reader_memory(p, (int64_t)n);
  if (!reader) {
    snprintf(errstr, errstr_size, "codec: out of memory");
    return fail(reason, BERTD_CODEC_UNAVAILABLE);
  }
  int rc;
  if (w && w->resolver) {
    avro_value_t rv;
    if (avro_resolved_writer_new_value(w->resolver, &rv)) {
      avro_reader_free(reader);
      snprintf(errstr, errstr_size, "codec: out of memory");
      return fail(reason, BERTD_CODEC_UNAVAILABLE);
    }
    avro_resolved_writer_set_dest(&rv, &rec->value);
    rc = avro_value_read(reader, &rv);
    avro_value_decref(&rv);
  } else {
    rc = avro_value_read(reader, &rec->value);
  }
  avro_reader_free(reader);
  if (rc) {
    /* validated bytes that Avro C still refuses: with a resolver, a value the reader schema
     * cannot take (an enum symbol it lacks, say) */
    snprintf(errstr, errstr_size, "Avro C cannot read the datum: %s", avro_strerror());
    return fail(reason, w && w->resolver ? BERTD_CODEC_WRONG_SCHEMA : BERTD_CODEC_NOT_AVRO);
  }
  if (w && w->resolver) { /* keep the datum in the input schema's encoding for encode */
    size_t size = 0;
    if (avro_value_sizeof(&rec->value, &size) || !(rec->datum = malloc(size ? size : 1))) {
      snprintf(errstr, errstr_size, "codec: cannot re-encode the resolved record");
      return fail(reason, BERTD_CODEC_UNAVAILABLE);
    }
    avro_writer_t wr = avro_writer_memory(rec->datum, (int64_t)size);
    rc = wr ? avro_value_write(wr, &rec->value) : -1;
    if (wr) avro_writer_free(wr);
    if (rc) {
      snprintf(errstr, errstr_size, "codec: cannot re-encode the resolved record: %s",
               avro_strerror());
      return fail(reason, BERTD_CODEC_UNAVAILABLE);
    }
    rec->datum_len = size;
  } else {
    if (!(rec->datum = malloc(n ? n : 1))) {
      snprintf(errstr, errstr_size, "codec: out of memory");
      return fail(reason, BERTD_CODEC_UNAVAILABLE);
    }
    memcpy(rec->datum, p, n);
    rec->datum_len = n;
  }
  return 0;
}

/* field `name` of the record as a string: 0 with *s, *len; 1 when it is null (allowed for the
 * pair); -1 with *reason. */
static int pick_string(bertd_record *rec, const char *name, const char *role, const char **s,
                       size_t *len, bertd_codec_reason *reason, char *errstr, size_t errstr_size) {
  avro_value_t f;
  *s = NULL;
  *len = 0;
  if (avro_value_get_by_name(&rec->value, name, &f, NULL)) {
    snprintf(errstr, errstr_size, "the record has no %s field '%s'", role, name);
    return fail(reason, BERTD_CODEC_MISSING_FIELD);
  }
  avro_type_t t = avro_value_get_type(&f);
  if (t == AVRO_UNION) {
    avro_value_t branch;
    if (avro_value_get_current_branch(&f, &branch)) {
      snprintf(errstr, errstr_size, "%s field '%s' has no value", role, name);
      return fail(reason, BERTD_CODEC_NOT_A_STRING);
    }
    f = branch;
    t = avro_value_get_type(&f);
    if (t == AVRO_NULL) {
      snprintf(errstr, errstr_size, "%s field '%s' is null", role, name);
      *reason = BERTD_CODEC_NOT_A_STRING;
      return 1;
    }
  }
  if (t != AVRO_STRING) {
    snprintf(errstr, errstr_size, "%s field '%s' is not a string", role, name);
    return fail(reason, BERTD_CODEC_NOT_A_STRING);
  }
  size_t size = 0;
  if (avro_value_get_string(&f, s, &size) || !*s) {
    snprintf(errstr, errstr_size, "%s field '%s' cannot be read", role, name);
    return fail(reason, BERTD_CODEC_NOT_A_STRING);
  }
  *len = size ? size - 1 : 0; /* Avro C counts the NUL */
  size_t bad = bertd_codec_utf8_invalid_at(*s, *len);
  if (bad) {
    snprintf(errstr, errstr_size, "%s field '%s' is not UTF-8 (byte %zu)", role, name, bad - 1);
    return fail(reason, BERTD_CODEC_INVALID_UTF8);
  }
  return 0;
}

static int decode(bertd_codec *c, const void *buf, size_t len, int pick, bertd_record **out,
                  bertd_codec_reason *reason, char *errstr, size_t errstr_size) {
  const unsigned char *p = buf;
  const codec_writer *w = NULL;
  int32_t id = -1;
  *out = NULL;
  *reason = BERTD_CODEC_OK;
  if (!buf && len) len = 0;
  if (c->framing == BERTD_FRAMING_CONFLUENT) {
    if (len < CONFLUENT_HEADER) {
      snprintf(errstr, errstr_size, "%zu bytes: shorter than the 5-byte Confluent header", len);
      return fail(reason, BERTD_CODEC_NOT_AVRO);
    }
    if (p[0] != 0) {
      snprintf(errstr, errstr_size, "magic byte %u, not 0: not Confluent framing", p[0]);
      return fail(reason, BERTD_CODEC_NOT_AVRO);
    }
    id = (int32_t)((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4]);
    if (bertd_codec_writer_for_id(c, id, &w, reason, errstr, errstr_size)) return -1;
    p += CONFLUENT_HEADER;
    len -= CONFLUENT_HEADER;
  }
  avro_schema_t writer = w ? w->schema->avro : c->input->avro;
  char why[200];
  if (bertd_codec_validate(writer, p, len, why, sizeof why)) {
    snprintf(errstr, errstr_size, "not a %s datum: %s",
             w ? w->schema->fullname : c->input->fullname, why);
    return fail(reason, BERTD_CODEC_NOT_AVRO);
  }
  bertd_record *rec = calloc(1, sizeof(*rec));
  if (!rec || avro_generic_value_new(c->input->iface, &rec->value)) {
    free(rec);
    snprintf(errstr, errstr_size, "codec: out of memory");
    return fail(reason, BERTD_CODEC_UNAVAILABLE);
  }
  rec->schema_id = id;
  if (read_datum(w, (const char *)p, len, rec, reason, errstr, errstr_size)) goto fail;
  if (pick) {
    if (pick_string(rec, c->text_field, "text", &rec->text, &rec->text_len, reason, errstr,
                    errstr_size))
      goto fail; /* a null text is an error too */
    if (c->pair_field) {
      int rc = pick_string(rec, c->pair_field, "text_pair", &rec->pair, &rec->pair_len, reason,
                           errstr, errstr_size);
      if (rc < 0) goto fail;
      if (rc > 0) { /* a null pair is no pair */
        *reason = BERTD_CODEC_OK;
        errstr[0] = 0;
      }
    }
  }
  *out = rec;
  return 0;
fail:
  bertd_record_free(rec);
  return -1;
}

int bertd_codec_decode(bertd_codec *c, const void *buf, size_t len, bertd_record **out,
                       bertd_codec_reason *reason, char *errstr, size_t errstr_size) {
  return decode(c, buf, len, 1, out, reason, errstr, errstr_size);
}

int bertd_codec_decode_any(bertd_codec *c, const void *buf, size_t len, bertd_record **out,
                           bertd_codec_reason *reason, char *errstr, size_t errstr_size) {
  return decode(c, buf, len, 0, out, reason, errstr, errstr_size);
}

const char *bertd_record_text(const bertd_record *r, size_t *len) {
  if (len) *len = r->text_len;
  return r->text;
}

const char *bertd_record_pair(const bertd_record *r, size_t *len) {
  if (len) *len = r->pair_len;
  return r->pair;
}

int32_t bertd_record_schema_id(const bertd_record *r) { return r->schema_id; }

int bertd_record_to_json(const bertd_record *r, json_t **out, char *errstr, size_t errstr_size) {
  *out = bertd_codec_value_to_json((avro_value_t *)&r->value);
  if (!*out) {
    snprintf(errstr, errstr_size, "codec: cannot convert the record to JSON");
    return -1;
  }
  return 0;
}

void bertd_record_free(bertd_record *r) {
  if (!r) return;
  if (r->value.iface) avro_value_decref(&r->value);
  free(r->datum);
  free(r);
}
