/* fuzz_codec.c: the Avro codec on arbitrary bytes. The first byte picks what the rest is:
 *   0  a plain Utterance datum: decode; when it decodes, enrich it and read the enriched record
 *      back (that must work and give the same text)
 *   1  a Confluent-framed Utterance (fixed ids): decode
 *   2  a datum of a recursive schema with every Avro type: decode_any, to JSON, and back from
 *      that JSON (which must encode and decode again)
 *   3  JSON text for that schema: encode; what encodes must decode
 *   4  JSON text as a plugin result object: enrich a fixed record with it
 * Codecs are made once, on first call (a harness may keep state; the library may not). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_avro.h"

static const char UTTERANCE[] =
    "{\"type\":\"record\",\"name\":\"Utterance\",\"namespace\":\"bertd.example\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"text\",\"type\":\"string\"},"
    "{\"name\":\"text_pair\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"channel\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"ts\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],"
    "\"default\":null}]}";

static const char EVERYTHING[] =
    "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"f\",\"fields\":["
    "{\"name\":\"text\",\"type\":\"string\"},{\"name\":\"b\",\"type\":\"bytes\"},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\",\"C\"]}},"
    "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":3}},"
    "{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":[\"null\",\"double\",\"R\"]}},"
    "{\"name\":\"xs\",\"type\":{\"type\":\"array\",\"items\":"
    "[\"null\",\"boolean\",\"int\",\"long\",\"float\",\"string\",\"R\"]}}]}";

typedef struct harness {
  bertd_codec *plain, *confluent, *enriched_reader, *everything;
} harness;

static void die(const char *what, const char *err) {
  fprintf(stderr, "fuzz_codec: %s: %s\n", what, err);
  abort();
}

static bertd_codec *make(const char *schema, bertd_codec_conf conf) {
  char err[512];
  bertd_avro_schema *s = NULL;
  bertd_codec *c = NULL;
  if (bertd_avro_schema_parse(schema, strlen(schema), "fuzz", &s, err, sizeof err) ||
      bertd_codec_create(&conf, s, &c, err, sizeof err))
    die("setup", err);
  bertd_avro_schema_free(s);
  return c;
}

static harness *get(void) {
  static harness h;
  if (!h.plain) {
    h.plain = make(UTTERANCE, (bertd_codec_conf){.pair_field = "text_pair"});
    h.confluent = make(UTTERANCE, (bertd_codec_conf){.framing = BERTD_FRAMING_CONFLUENT,
                                                     .pair_field = "text_pair",
                                                     .input_schema_id = 1,
                                                     .output_schema_id = 2});
    char *en = bertd_avro_schema_dump(bertd_codec_enriched_schema(h.plain), 0);
    h.enriched_reader = make(en, (bertd_codec_conf){.pair_field = "text_pair", .decode_only = 1});
    free(en);
    h.everything = make(EVERYTHING, (bertd_codec_conf){.decode_only = 1});
  }
  return &h;
}

static void enrich_and_reread(harness *h, bertd_record *r, const json_t *result,
                              int must_encode) {
  char err[512];
  bertd_enrichment e = {.model = "m", .model_checksum = "0123", .task = "joint", .queue_ms = 1.5,
                       .result = result};
  void *out = NULL;
  size_t out_len = 0;
  if (bertd_codec_encode(h->plain, r, &e, &out, &out_len, err, sizeof err)) {
    if (must_encode) die("encode", err);
    return;
  }
  bertd_record *back = NULL;
  bertd_codec_reason reason;
  if (bertd_codec_decode(h->enriched_reader, out, out_len, &back, &reason, err, sizeof err))
    die("re-reading an enriched record", err);
  size_t a, b;
  const char *ta = bertd_record_text(r, &a), *tb = bertd_record_text(back, &b);
  if (a != b || memcmp(ta, tb, a)) die("enriched text", "differs from the input's");
  bertd_record_free(back);
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  harness *h = get();
  char err[512];
  bertd_codec_reason reason;
  bertd_record *r = NULL;
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  switch (data[0] % 5) {
  case 0:
    if (!bertd_codec_decode(h->plain, p, n, &r, &reason, err, sizeof err)) {
      json_t *res = json_pack("{s:{s:s,s:f},s:[s],s:[f,f]}", "intent", "label", "x", "score",
                              0.5, "tags", "O", "embedding", 0.25, -1.0);
      enrich_and_reread(h, r, res, 1);
      json_decref(res);
    }
    break;
  case 1:
    bertd_codec_decode(h->confluent, p, n, &r, &reason, err, sizeof err);
    break;
  case 2:
    if (!bertd_codec_decode_any(h->everything, p, n, &r, &reason, err, sizeof err)) {
      json_t *j = NULL;
      if (bertd_record_to_json(r, &j, err, sizeof err)) die("to JSON", err);
      void *buf = NULL;
      size_t len = 0;
      /* NaN became null and bad UTF-8 became U+FFFD, so this may fail, but never crash */
      if (!bertd_codec_encode_input(h->everything, j, &buf, &len, err, sizeof err)) {
        bertd_record *again = NULL;
        if (bertd_codec_decode_any(h->everything, buf, len, &again, &reason, err, sizeof err))
          die("re-reading what the JSON encoded to", err);
        bertd_record_free(again);
      }
      free(buf);
      json_decref(j);
    }
    break;
  case 3:
  case 4: {
    json_t *j = json_loadb((const char *)p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!j) break;
    if (data[0] % 5 == 3) {
      void *buf = NULL;
      size_t len = 0;
      if (!bertd_codec_encode_input(h->everything, j, &buf, &len, err, sizeof err)) {
        if (bertd_codec_decode_any(h->everything, buf, len, &r, &reason, err, sizeof err))
          die("decoding what JSON encoded to", err);
      }
      free(buf);
    } else {
      static const uint8_t rec[] = {4, 'i', 'd', 4, 'h', 'i', 0, 0, 0};
      if (bertd_codec_decode(h->plain, rec, sizeof rec, &r, &reason, err, sizeof err))
        die("fixed record", err);
      enrich_and_reread(h, r, j, 0);
    }
    json_decref(j);
    break;
  }
  }
  bertd_record_free(r);
  return 0;
}
