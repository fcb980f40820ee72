/* bertd_avro.h: Avro records in and out of Kafka.
 *
 *   input bytes ──decode──▶ bertd_record (the input record + its text / text_pair)
 *   bertd_record + enrichment JSON ──encode──▶ enriched bytes (input fields + one `bertd` field)
 *
 * Schemas: the input schema is a local .avsc; the enriched schema is derived from it at start-up
 * (codec_schema.c), so any input record shape works as long as it has a string text field.
 *
 * Framing: plain Avro binary (the datum alone, written with the local schema), or Confluent's wire
 * format: magic byte 0, 4-byte big-endian schema id, datum. With Confluent framing the ids come
 * either from a Schema Registry (bertd_avro.h: writer schemas fetched by id and resolved to the
 * local schema; the enriched schema registered under the output subject) or, without one, from
 * fixed configured ids.
 *
 * Hostile bytes: every datum is checked against its writer schema (bertd_codec_validate.c) before
 * Avro C reads it, because Avro C trusts lengths and counts (a string length of 2^60 is an
 * allocation of 2^60 bytes, an array of 2^62 nulls a loop that never ends).
 *
 * Threads: a codec is read-only after creation except for its cache of writer schemas, which is
 * locked; decode and encode may run on different threads. Records belong to the caller. */
#ifndef BERTD_AVRO_H
#define BERTD_AVRO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* registry.c: a Confluent Schema Registry client, just what the codec needs: a schema by id,
 * and registering a schema under a subject. Plain HTTP(S) through libcurl. HTTP Basic auth:
 * user:password@ in the URL (libcurl sends it as an Authorization header); messages name the URL
 * without it. TLS options beyond the system's CA store are not configurable yet.
 * Caching by id is the codec's (it caches the parsed schema, which is what is expensive). */

typedef struct bertd_registry bertd_registry;

/* url: "http://host:8081" (a trailing slash is fine). timeout_ms <= 0: 10 s. */
int bertd_registry_create(const char *url, long timeout_ms, bertd_registry **out, char *errstr,
                          size_t errstr_size);
void bertd_registry_free(bertd_registry *r);

/* GET /schemas/ids/{id}: *schema_json is the schema's JSON text (malloc'd). *http_status is the
 * HTTP status (0 when there was no response), so a caller can tell an unknown id (404) from a
 * registry that is down. */
int bertd_registry_get_schema(bertd_registry *r, int32_t id, char **schema_json, long *http_status,
                              char *errstr, size_t errstr_size);

/* POST /subjects/{subject}/versions: registers schema_json (or finds it already registered) and
 * returns its id. */
int bertd_registry_register(bertd_registry *r, const char *subject, const char *schema_json,
                            int32_t *id, char *errstr, size_t errstr_size);

/* Why a record could not be decoded: the dead-letter topic's reason header. */
typedef enum {
  BERTD_CODEC_OK = 0,
  BERTD_CODEC_NOT_AVRO,      /* not a datum of the writer schema (truncated, trailing bytes, ...)
                              * or, with Confluent framing, no 5-byte header with magic byte 0 */
  BERTD_CODEC_WRONG_SCHEMA,  /* Confluent framing: an unexpected or unknown schema id, or a
                              * writer schema that does not resolve to the input schema */
  BERTD_CODEC_MISSING_FIELD, /* the schema has no text (or text_pair) field of that name */
  BERTD_CODEC_NOT_A_STRING,  /* the text field is null or not a string */
  BERTD_CODEC_INVALID_UTF8,  /* the text (or text_pair) bytes are not UTF-8 */
  BERTD_CODEC_UNAVAILABLE    /* not the record's fault: registry unreachable, out of memory */
} bertd_codec_reason;

/* "NOT_AVRO", "WRONG_SCHEMA", ...: the names the dead-letter headers carry. */
const char *bertd_codec_reason_name(bertd_codec_reason r);

/* ---- schemas (codec_schema.c) ---- */

/* A parsed .avsc: its JSON as written (defaults and logical types kept, which Avro C drops) and
 * Avro C's schema. */
typedef struct bertd_avro_schema bertd_avro_schema;

/* The file's name starts every error ("schemas/x.avsc: line 3: ..."). */
int bertd_avro_schema_load(const char *path, bertd_avro_schema **out, char *errstr,
                           size_t errstr_size);
/* origin names the text in errors (a file name, "registry id 7"). */
int bertd_avro_schema_parse(const char *json, size_t len, const char *origin,
                            bertd_avro_schema **out, char *errstr, size_t errstr_size);
/* The enriched schema: in's record with every field unchanged plus a last field `bertd`
 * (record bertd.Enrichment). The record keeps its name so that readers holding the input schema
 * can read enriched records (Avro resolution matches records by name and skips the extra
 * field). Fails if in is not a record or already has a `bertd` field. */
int bertd_avro_schema_enrich(const bertd_avro_schema *in, bertd_avro_schema **out, char *errstr,
                             size_t errstr_size);
/* The schema as JSON text (malloc'd): compact, or indented by 2 with pretty. */
char *bertd_avro_schema_dump(const bertd_avro_schema *s, int pretty);
/* The .avsc's name ("bertd.example.Utterance"), or "" for a non-named type. */
const char *bertd_avro_schema_fullname(const bertd_avro_schema *s);
void bertd_avro_schema_free(bertd_avro_schema *s);

/* ---- the codec (codec.c, codec_decode.c, codec_encode.c) ---- */

typedef enum { BERTD_FRAMING_PLAIN = 0, BERTD_FRAMING_CONFLUENT } bertd_framing;

typedef struct bertd_codec_conf {
  bertd_framing framing;
  const char *text_field; /* NULL: "text" */
  const char *pair_field; /* NULL: no pair field */
  /* Confluent framing without a registry: the id input records must carry and the id written
   * on enriched records. Ignored with a registry. */
  int32_t input_schema_id, output_schema_id;
  /* Confluent framing with a registry (not owned; must outlive the codec). */
  bertd_registry *registry;
  /* Registry: the subject the enriched schema is registered under at creation, e.g.
   * "enriched-topic-value". NULL: don't register (encode then fails). */
  const char *output_subject;
  /* Registry: the subject the input schema is registered under at creation, so that
   * bertd_codec_encode_input can frame records (the produce CLI). NULL: don't. */
  const char *input_subject;
  /* Registry: how long an id the registry rejected (404, or a schema that does not resolve to
   * the input schema) is answered from memory before the registry is asked again; a stream of
   * records with a bad id then costs one request per this interval, not one per record.
   * 0: 60,000 ms. */
  long rejected_ttl_ms;
  /* 1: only decode (a reader of any topic, e.g. the consume CLI): no enriched schema is derived,
   * so the input schema may be an enriched one, and bertd_codec_encode fails. */
  int decode_only;
} bertd_codec_conf;

typedef struct bertd_codec bertd_codec;

/* Refuses an input schema whose text field (or text_pair field, when not NULL) is missing or
 * cannot hold a string: every record would be dead-lettered. The message names the schema and
 * the field. bertd_codec_create runs it too (not for decode_only codecs). */
int bertd_codec_check_fields(const bertd_avro_schema *input, const char *text_field,
                             const char *pair_field, char *errstr, size_t errstr_size);

/* Copies what it needs from conf and input (input may be freed afterwards), derives the
 * enriched schema, and with a registry registers the schemas named in conf. */
int bertd_codec_create(const bertd_codec_conf *conf, const bertd_avro_schema *input,
                       bertd_codec **out, char *errstr, size_t errstr_size);
void bertd_codec_free(bertd_codec *c);
const bertd_avro_schema *bertd_codec_input_schema(const bertd_codec *c);
/* NULL for a decode_only codec. */
const bertd_avro_schema *bertd_codec_enriched_schema(const bertd_codec *c);

/* ---- records ---- */

typedef struct bertd_record bertd_record;

/* bytes -> record, the text (and pair) picked by name and checked to be UTF-8. On failure:
 * -1, *reason says why (for the dead-letter topic) and errstr says what. Never crashes on any
 * bytes. */
int bertd_codec_decode(bertd_codec *c, const void *buf, size_t len, bertd_record **out,
                       bertd_codec_reason *reason, char *errstr, size_t errstr_size);
/* Same without picking the text: any datum of the input schema (the consume CLI). */
int bertd_codec_decode_any(bertd_codec *c, const void *buf, size_t len, bertd_record **out,
                           bertd_codec_reason *reason, char *errstr, size_t errstr_size);

/* The text field's bytes (valid UTF-8, NUL-terminated, len without the NUL); NULL after
 * bertd_codec_decode_any. */
const char *bertd_record_text(const bertd_record *r, size_t *len);
/* The pair field's bytes, or NULL when there is no pair field or it is null. */
const char *bertd_record_pair(const bertd_record *r, size_t *len);
/* Confluent framing: the writer schema id the record carried; -1 with plain framing. */
int32_t bertd_record_schema_id(const bertd_record *r);
/* The record as JSON in Avro's JSON encoding (unions as {"type": value}, bytes as ISO-8859-1
 * strings). A float that JSON cannot hold (NaN, infinity) becomes null. */
int bertd_record_to_json(const bertd_record *r, json_t **out, char *errstr, size_t errstr_size);
void bertd_record_free(bertd_record *r);

/* What the model said about one record. result is the object plugin/enrich.c makes: any of
 * labels, intent, intents, slots, tags, spans, embedding, answer, is_next; keys it lacks get the
 * field's default (empty array, null), keys the schema has no field for are an error. */
typedef struct bertd_enrichment {
  const char *model, *model_checksum, *task;
  /* where the time went, in milliseconds (schemas/README.md): */
  double queue_ms;        /* submitted to the model stage .. its batch's forward pass began */
  double model_ms;        /* that forward pass, shared by the batch's records */
  double end_to_end_ms;   /* the input record's Kafka timestamp .. this enriched record */
  int has_end_to_end;     /* 0: the input record had no timestamp (end_to_end_ms null) */
  const json_t *result;
  /* the embedding as floats (the plugin's poll_vectors), written to the embedding field as they
   * are, so it is never printed and parsed back; NULL when none or when it is in result */
  const float *embedding;
  int embedding_dim;
} bertd_enrichment;

/* record + enrichment -> enriched bytes in the input's framing (Confluent: the enriched schema's
 * id). *out is malloc'd. */
int bertd_codec_encode(bertd_codec *c, const bertd_record *in, const bertd_enrichment *e,
                       void **out, size_t *out_len, char *errstr, size_t errstr_size);

/* A JSON object (Avro JSON encoding; a union may also be given as a plain value when exactly
 * one branch fits) -> an input record's bytes in the codec's framing (Confluent: the input
 * schema's id). For the produce CLI and tests. */
int bertd_codec_encode_input(bertd_codec *c, const json_t *obj, void **out, size_t *out_len,
                             char *errstr, size_t errstr_size);

#endif
