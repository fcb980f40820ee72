/* codec_internal.h: what the codec_*.c files share; not part of the codec's interface. */
#ifndef BERTD_CODEC_INTERNAL_H
#define BERTD_CODEC_INTERNAL_H

#include <avro.h>
#include <pthread.h>

#include "bertd_avro.h"

struct bertd_avro_schema {
  json_t *json;        /* the .avsc as written: defaults, docs and logical types intact */
  avro_schema_t avro;  /* Avro C's view of it */
  avro_value_iface_t *iface; /* generic values of this schema */
  char *fullname;
};

/* A writer schema met in Confluent framing, and how its data becomes the input schema's. */
typedef struct codec_writer {
  int32_t id;
  bertd_avro_schema *schema;
  avro_value_iface_t *resolver; /* NULL when the writer schema equals the input schema */
} codec_writer;

#define CODEC_MAX_WRITERS 256 /* bounded: a stream of hostile ids must not grow memory */

/* An id the registry rejected, remembered until `until` (CLOCK_MONOTONIC seconds). */
typedef struct codec_rejected {
  int32_t id;
  int reason;             /* bertd_codec_reason */
  double until;
  char message[384];
} codec_rejected;

#define CODEC_MAX_REJECTED 64 /* bounded as writers are: when full, entries are replaced in turn */

struct bertd_codec {
  bertd_framing framing;
  char *text_field, *pair_field;
  bertd_avro_schema *input, *enriched;
  avro_schema_t enrichment;            /* the `bertd` field's record schema (borrowed) */
  avro_value_iface_t *enrichment_iface;
  int32_t input_id, output_id;         /* Confluent; -1: unknown */
  bertd_registry *registry;
  pthread_mutex_t lock;                /* guards writers */
  codec_writer writers[CODEC_MAX_WRITERS];
  int n_writers;
  codec_rejected rejected[CODEC_MAX_REJECTED]; /* guarded by lock */
  int n_rejected, next_rejected;
  double rejected_ttl_s;
};

struct bertd_record {
  avro_value_t value;   /* an instance of the input schema */
  const char *text, *pair;
  size_t text_len, pair_len;
  int32_t schema_id;
  /* The datum as the input schema writes it: the enriched datum is these bytes followed by the
   * enrichment, because a record's encoding is its fields' encodings in order and `bertd` is
   * the last field. */
  char *datum;
  size_t datum_len;
};

/* bertd_codec_validate.c: checks that buf[0..len) is exactly one datum of schema s, with every length,
 * count, index and varint in range, so that Avro C can read it without trusting it. */
int bertd_codec_validate(avro_schema_t s, const void *buf, size_t len, char *errstr,
                   size_t errstr_size);

/* codec_json.c: JSON <-> Avro values in Avro's JSON encoding. path names the place in errors
 * ("channel", "bertd.slots[2].start"). */
int bertd_codec_value_from_json(avro_value_t *dst, const json_t *j, const char *path, char *errstr,
                          size_t errstr_size);
json_t *bertd_codec_value_to_json(avro_value_t *v);

/* codec.c: the writer schema a Confluent id names (*w NULL: the input schema itself). */
int bertd_codec_writer_for_id(bertd_codec *c, int32_t id, const codec_writer **w,
                        bertd_codec_reason *reason, char *errstr, size_t errstr_size);

/* codec_schema.c */
int bertd_codec_schema_from_json(json_t *json, const char *origin, bertd_avro_schema **out,
                           char *errstr, size_t errstr_size); /* steals json */

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF). 0 if valid, else the
 * offset of the first bad byte + 1. */
size_t bertd_codec_utf8_invalid_at(const char *s, size_t len);

#endif
