/* codec.c: a codec's life: schemas and framing set up at creation (see bertd_avro.h), and the cache of
 * writer schemas that Confluent-framed records name by id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec_internal.h"

const char *bertd_codec_reason_name(bertd_codec_reason r) {
  switch (r) {
  case BERTD_CODEC_OK: return "OK";
  case BERTD_CODEC_NOT_AVRO: return "NOT_AVRO";
  case BERTD_CODEC_WRONG_SCHEMA: return "WRONG_SCHEMA";
  case BERTD_CODEC_MISSING_FIELD: return "MISSING_FIELD";
  case BERTD_CODEC_NOT_A_STRING: return "NOT_A_STRING";
  case BERTD_CODEC_INVALID_UTF8: return "INVALID_UTF8";
  case BERTD_CODEC_UNAVAILABLE: return "UNAVAILABLE";
  }
  return "?";
}

static int schema_clone(const bertd_avro_schema *s, bertd_avro_schema **out, char *errstr,
                        size_t errstr_size) {
  json_t *j = json_deep_copy(s->json);
  if (!j) {
    snprintf(errstr, errstr_size, "codec: out of memory");
    return -1;
  }
  return bertd_codec_schema_from_json(j, *s->fullname ? s->fullname : "input schema", out, errstr,
                                errstr_size);
}

/* The field must exist and be able to hold a string (a string, or a union with a string branch):
 * otherwise every record would be dead-lettered, so the pipeline is refused at start-up. */
static int check_text_field(const bertd_avro_schema *s, const char *name, const char *role,
                            char *errstr, size_t errstr_size) {
  /* by index: avro_schema_record_field_get reads an uninitialised value for a missing name */
  int i = avro_schema_record_field_get_index(s->avro, name);
  avro_schema_t f = i < 0 ? NULL : avro_schema_record_field_get_by_index(s->avro, i);
  if (!f) {
    snprintf(errstr, errstr_size, "%s: the input schema has no field '%s' (the %s)", s->fullname,
             name, role);
    return -1;
  }
  if (avro_typeof(f) == AVRO_STRING) return 0;
  if (avro_typeof(f) == AVRO_UNION)
    for (size_t b = 0; b < avro_schema_union_size(f); b++)
      if (avro_typeof(avro_schema_union_branch(f, (int)b)) == AVRO_STRING) return 0;
  snprintf(errstr, errstr_size, "%s: field '%s' (the %s) cannot hold a string", s->fullname, name,
           role);
  return -1;
}

int bertd_codec_check_fields(const bertd_avro_schema *input, const char *text_field,
                             const char *pair_field, char *errstr, size_t errstr_size) {
  if (avro_typeof(input->avro) != AVRO_RECORD) {
    snprintf(errstr, errstr_size, "%s: the input schema must be a record", input->fullname);
    return -1;
  }
  return check_text_field(input, text_field ? text_field : "text", "text field", errstr,
                          errstr_size) ||
                 (pair_field &&
                  check_text_field(input, pair_field, "text_pair field", errstr, errstr_size))
             ? -1
             : 0;
}

int bertd_codec_create(const bertd_codec_conf *conf, const bertd_avro_schema *input,
                       bertd_codec **out, char *errstr, size_t errstr_size) {
  *out = NULL;
  bertd_codec *c = calloc(1, sizeof(*c));
  if (!c) {
    snprintf(errstr, errstr_size, "codec: out of memory");
    return -1;
  }
  pthread_mutex_init(&c->lock, NULL);
  c->framing = conf->framing;
  c->registry = conf->framing == BERTD_FRAMING_CONFLUENT ? conf->registry : NULL;
  c->input_id = c->output_id = -1;
  c->rejected_ttl_s = (conf->rejected_ttl_ms > 0 ? (double)conf->rejected_ttl_ms : 60000.0) / 1e3;
  if (conf->framing == BERTD_FRAMING_CONFLUENT && !c->registry) {
    c->input_id = conf->input_schema_id;
    c->output_id = conf->output_schema_id;
  }
  c->text_field = strdup(conf->text_field ? conf->text_field : "text");
  c->pair_field = conf->pair_field ? strdup(conf->pair_field) : NULL;
  if (!c->text_field || (conf->pair_field && !c->pair_field)) {
    snprintf(errstr, errstr_size, "codec: out of memory");
    goto fail;
  }
  if (schema_clone(input, &c->input, errstr, errstr_size)) goto fail;
  if (avro_typeof(c->input->avro) != AVRO_RECORD) {
    snprintf(errstr, errstr_size, "%s: the input schema must be a record", c->input->fullname);
    goto fail;
  }
  if (c->registry && conf->input_subject) {
    char *text = bertd_avro_schema_dump(c->input, 0);
    if (!text) goto oom;
    int rc = bertd_registry_register(c->registry, conf->input_subject, text, &c->input_id,
                                     errstr, errstr_size);
    free(text);
    if (rc) goto fail;
  }
  if (conf->decode_only) {
    *out = c;
    return 0;
  }
  if (bertd_codec_check_fields(c->input, c->text_field, c->pair_field, errstr, errstr_size))
    goto fail;
  if (bertd_avro_schema_enrich(c->input, &c->enriched, errstr, errstr_size)) goto fail;
  c->enrichment = avro_schema_record_field_get(c->enriched->avro, "bertd");
  if (!c->enrichment || !(c->enrichment_iface = avro_generic_class_from_schema(c->enrichment))) {
    snprintf(errstr, errstr_size, "codec: cannot build the enrichment record: %s", avro_strerror());
    goto fail;
  }
  if (c->registry && conf->output_subject) {
    char *text = bertd_avro_schema_dump(c->enriched, 0);
    if (!text) goto oom;
    int rc = bertd_registry_register(c->registry, conf->output_subject, text, &c->output_id,
                                     errstr, errstr_size);
    free(text);
    if (rc) goto fail;
  }
  *out = c;
  return 0;
oom:
  snprintf(errstr, errstr_size, "codec: out of memory");
fail:
  bertd_codec_free(c);
  return -1;
}

void bertd_codec_free(bertd_codec *c) {
  if (!c) return;
  for (int i = 0; i < c->n_writers; i++) {
    if (c->writers[i].resolver) avro_value_iface_decref(c->writers[i].resolver);
    bertd_avro_schema_free(c->writers[i].schema);
  }
  if (c->enrichment_iface) avro_value_iface_decref(c->enrichment_iface);
  bertd_avro_schema_free(c->input);
  bertd_avro_schema_free(c->enriched);
  free(c->text_field);
  free(c->pair_field);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

const bertd_avro_schema *bertd_codec_input_schema(const bertd_codec *c) { return c->input; }
const bertd_avro_schema *bertd_codec_enriched_schema(const bertd_codec *c) { return c->enriched; }

static double monotonic_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fetch_writer(bertd_codec *c, int32_t id, const codec_writer **w,
                        bertd_codec_reason *reason, char *errstr, size_t errstr_size);

/* The writer schema for Confluent id `id`, fetched from the registry on first sight. The input
 * schema's own id needs no lookup. Returns 0 with *w (NULL: the input schema itself), or -1 with
 * *reason: WRONG_SCHEMA for an id the registry does not know or a schema that does not resolve
 * to the input schema, UNAVAILABLE when the registry cannot be asked. A rejected id is answered
 * from memory for rejected_ttl_s (the same reason and message); UNAVAILABLE is never
 * remembered. */
int bertd_codec_writer_for_id(bertd_codec *c, int32_t id, const codec_writer **w,
                        bertd_codec_reason *reason, char *errstr, size_t errstr_size) {
  *w = NULL;
  if (id == c->input_id) return 0;
  if (!c->registry) {
    *reason = BERTD_CODEC_WRONG_SCHEMA;
    snprintf(errstr, errstr_size, "schema id %ld, expected %ld", (long)id, (long)c->input_id);
    return -1;
  }
  double now = monotonic_s();
  pthread_mutex_lock(&c->lock);
  for (int i = 0; i < c->n_writers; i++)
    if (c->writers[i].id == id) {
      *w = &c->writers[i];
      pthread_mutex_unlock(&c->lock);
      return 0;
    }
  for (int i = 0; i < c->n_rejected; i++)
    if (c->rejected[i].id == id && now < c->rejected[i].until) {
      *reason = (bertd_codec_reason)c->rejected[i].reason;
      snprintf(errstr, errstr_size, "%s", c->rejected[i].message);
      pthread_mutex_unlock(&c->lock);
      return -1;
    }
  pthread_mutex_unlock(&c->lock);

  if (fetch_writer(c, id, w, reason, errstr, errstr_size) == 0) return 0;
  /* The record's fault (not the registry being down): remember it, so a stream of records with
   * this id is not one registry request each. An id may be registered later, hence the TTL. */
  if (*reason != BERTD_CODEC_UNAVAILABLE) {
    pthread_mutex_lock(&c->lock);
    codec_rejected *r = NULL;
    for (int i = 0; i < c->n_rejected && !r; i++)
      if (c->rejected[i].id == id) r = &c->rejected[i];
    if (!r && c->n_rejected < CODEC_MAX_REJECTED) r = &c->rejected[c->n_rejected++];
    if (!r) {
      r = &c->rejected[c->next_rejected];
      c->next_rejected = (c->next_rejected + 1) % CODEC_MAX_REJECTED;
    }
    r->id = id;
    r->reason = (int)*reason;
    r->until = now + c->rejected_ttl_s;
    snprintf(r->message, sizeof r->message, "%s", errstr);
    pthread_mutex_unlock(&c->lock);
  }
  return -1;
}

/* Fetches, parses and resolves writer schema `id` and caches it in c->writers. */
static int fetch_writer(bertd_codec *c, int32_t id, const codec_writer **w,
                        bertd_codec_reason *reason, char *errstr, size_t errstr_size) {
  /* Ask without holding the lock (it may take seconds); two threads asking for the same id at
   * once both fetch, and the second one's copy is dropped. */
  char *text = NULL;
  long status = 0;
  if (bertd_registry_get_schema(c->registry, id, &text, &status, errstr, errstr_size)) {
    *reason = status == 404 ? BERTD_CODEC_WRONG_SCHEMA : BERTD_CODEC_UNAVAILABLE;
    return -1;
  }
  char origin[64];
  snprintf(origin, sizeof origin, "registry schema id %ld", (long)id);
  bertd_avro_schema *s = NULL;
  int rc = bertd_avro_schema_parse(text, strlen(text), origin, &s, errstr, errstr_size);
  free(text);
  if (rc) {
    *reason = BERTD_CODEC_WRONG_SCHEMA;
    return -1;
  }
  avro_value_iface_t *resolver = NULL;
  if (!avro_schema_equal(s->avro, c->input->avro) &&
      !(resolver = avro_resolved_writer_new(s->avro, c->input->avro))) {
    snprintf(errstr, errstr_size, "%s does not resolve to %s: %s", origin, c->input->fullname,
             avro_strerror());
    *reason = BERTD_CODEC_WRONG_SCHEMA;
    /* the commonest cause, named as such: the writer has no text field (Avro C's resolver does
     * not fill a reader field from its default), or has one that cannot hold a string */
    if (avro_typeof(s->avro) == AVRO_RECORD) {
      char why[256];
      if (avro_schema_record_field_get_index(s->avro, c->text_field) < 0) {
        snprintf(errstr, errstr_size, "%s has no text field '%s'", origin, c->text_field);
        *reason = BERTD_CODEC_MISSING_FIELD;
      } else if (check_text_field(s, c->text_field, "text field", why, sizeof why)) {
        snprintf(errstr, errstr_size, "%s: %s", origin, why);
        *reason = BERTD_CODEC_NOT_A_STRING;
      }
    }
    bertd_avro_schema_free(s);
    return -1;
  }
  pthread_mutex_lock(&c->lock);
  for (int i = 0; i < c->n_writers; i++)
    if (c->writers[i].id == id) { /* another thread was quicker */
      *w = &c->writers[i];
      break;
    }
  if (!*w && c->n_writers < CODEC_MAX_WRITERS) {
    codec_writer *nw = &c->writers[c->n_writers];
    nw->id = id;
    nw->schema = s;
    nw->resolver = resolver;
    *w = nw;
    c->n_writers++; /* after filling: readers only look below n_writers under the lock */
    s = NULL;
    resolver = NULL;
  }
  pthread_mutex_unlock(&c->lock);
  if (resolver) avro_value_iface_decref(resolver);
  bertd_avro_schema_free(s);
  if (!*w) {
    *reason = BERTD_CODEC_UNAVAILABLE;
    snprintf(errstr, errstr_size, "more than %d writer schemas seen; schema id %ld not cached",
             CODEC_MAX_WRITERS, (long)id);
    return -1;
  }
  return 0;
}
