/* test_codec.c: the Avro codec: enriched schema derivation (exact JSON), round trips in both
 * framings, every dead-letter reason on crafted bytes, hostile lengths and counts, and the JSON
 * conversion's union rules. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_avro.h"

#define UTTERANCE BERTD_SOURCE_DIR "/schemas/utterance.avsc"

static const char UTTERANCE_ENRICHED[] =
    "{\"type\":\"record\",\"name\":\"Utterance\",\"namespace\":\"bertd.example\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"text\",\"type\":\"string\"},"
    "{\"name\":\"text_pair\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"channel\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"ts\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],"
    "\"default\":null},"
    "{\"name\":\"bertd\",\"type\":{\"type\":\"record\",\"name\":\"Enrichment\",\"namespace\":\"bertd\","
    "\"fields\":[{\"name\":\"model\",\"type\":\"string\"},"
    "{\"name\":\"model_checksum\",\"type\":\"string\"},{\"name\":\"task\",\"type\":\"string\"},"
    "{\"name\":\"intent\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"LabelScore\",\"fields\":["
    "{\"name\":\"label\",\"type\":\"string\"},{\"name\":\"score\",\"type\":\"float\"}]}],"
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
    "{\"name\":\"answer\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Answer\",\"fields\":["
    "{\"name\":\"text\",\"type\":\"string\"},{\"name\":\"start\",\"type\":\"int\"},"
    "{\"name\":\"end\",\"type\":\"int\"},{\"name\":\"score\",\"type\":\"float\"}]}],\"default\":null},"
    "{\"name\":\"is_next\",\"type\":[\"null\",\"float\"],\"default\":null},"
    "{\"name\":\"truncated_tokens\",\"type\":\"int\",\"default\":0},"
    "{\"name\":\"windows\",\"type\":\"int\",\"default\":1},"
    "{\"name\":\"queue_ms\",\"type\":\"double\",\"default\":0},"
    "{\"name\":\"model_ms\",\"type\":\"double\",\"default\":0},"
    "{\"name\":\"end_to_end_ms\",\"type\":[\"null\",\"double\"],\"default\":null}]}}]}";

static char err[512];

static bertd_avro_schema *schema_from(const char *json) {
  bertd_avro_schema *s = NULL;
  cr_assert_eq(bertd_avro_schema_parse(json, strlen(json), "test", &s, err, sizeof err), 0, "%s",
               err);
  return s;
}

static bertd_avro_schema *utterance(void) {
  bertd_avro_schema *s = NULL;
  cr_assert_eq(bertd_avro_schema_load(UTTERANCE, &s, err, sizeof err), 0, "%s", err);
  return s;
}

static bertd_codec *codec_for(bertd_avro_schema *s, const bertd_codec_conf *conf) {
  bertd_codec *c = NULL;
  bertd_codec_conf plain = {.pair_field = "text_pair"};
  cr_assert_eq(bertd_codec_create(conf ? conf : &plain, s, &c, err, sizeof err), 0, "%s", err);
  return c;
}

static json_t *parse(const char *j) {
  json_error_t je;
  json_t *v = json_loads(j, JSON_ALLOW_NUL, &je);
  cr_assert_not_null(v, "%s: %s", j, je.text);
  return v;
}

/* Avro's zigzag varint, for crafting data by hand. */
static size_t put_long(unsigned char *p, int64_t v) {
  uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
  size_t n = 0;
  while (u >= 0x80) {
    p[n++] = (unsigned char)(u | 0x80);
    u >>= 7;
  }
  p[n++] = (unsigned char)u;
  return n;
}

static size_t put_string(unsigned char *p, const char *s, size_t len) {
  size_t n = put_long(p, (int64_t)len);
  memcpy(p + n, s, len);
  return n + len;
}

/* An Utterance datum: id, text (raw bytes), text_pair null, channel null, ts null. */
static size_t utterance_datum(unsigned char *p, const char *text, size_t len) {
  size_t n = put_string(p, "u1", 2);
  n += put_string(p + n, text, len);
  p[n++] = 0; /* text_pair: branch 0, null */
  p[n++] = 0;
  p[n++] = 0;
  return n;
}

static bertd_codec_reason decode_reason(bertd_codec *c, const void *buf, size_t len) {
  bertd_record *r = NULL;
  bertd_codec_reason reason = BERTD_CODEC_OK;
  int rc = bertd_codec_decode(c, buf, len, &r, &reason, err, sizeof err);
  cr_assert_eq(rc != 0, reason != BERTD_CODEC_OK);
  cr_assert_eq(rc != 0, r == NULL);
  bertd_record_free(r);
  return reason;
}

/* ---- schemas ---- */

Test(codec_schema, derives_the_enriched_schema_exactly) {
  bertd_avro_schema *in = utterance(), *en = NULL;
  cr_assert_eq(bertd_avro_schema_enrich(in, &en, err, sizeof err), 0, "%s", err);
  char *got = bertd_avro_schema_dump(en, 0);
  cr_assert_str_eq(got, UTTERANCE_ENRICHED);
  cr_assert_str_eq(bertd_avro_schema_fullname(en), "bertd.example.Utterance");
  free(got);
  bertd_avro_schema_free(en);
  bertd_avro_schema_free(in);
}

Test(codec_schema, committed_enriched_example_is_current) {
  /* schemas/utterance.enriched.avsc is `bertd schema-enrich schemas/utterance.avsc`'s output */
  bertd_avro_schema *file = NULL;
  cr_assert_eq(bertd_avro_schema_load(BERTD_SOURCE_DIR "/schemas/utterance.enriched.avsc", &file,
                                      err, sizeof err),
               0, "%s", err);
  char *got = bertd_avro_schema_dump(file, 0);
  cr_assert_str_eq(got, UTTERANCE_ENRICHED, "regenerate schemas/utterance.enriched.avsc");
  free(got);
  bertd_avro_schema_free(file);
}

Test(codec_schema, any_input_record_is_enriched) {
  bertd_avro_schema *in = schema_from(
      "{\"type\":\"record\",\"name\":\"Ticket\",\"fields\":[{\"name\":\"body\",\"type\":\"string\"},"
      "{\"name\":\"prio\",\"type\":{\"type\":\"enum\",\"name\":\"Prio\",\"symbols\":[\"LO\",\"HI\"]}}]}");
  bertd_avro_schema *en = NULL;
  cr_assert_eq(bertd_avro_schema_enrich(in, &en, err, sizeof err), 0, "%s", err);
  char *got = bertd_avro_schema_dump(en, 0);
  cr_assert(strstr(got, "{\"name\":\"prio\",\"type\":{\"type\":\"enum\",\"name\":\"Prio\","
                        "\"symbols\":[\"LO\",\"HI\"]}},{\"name\":\"bertd\""),
            "%s", got);
  free(got);
  bertd_avro_schema_free(en);
  bertd_avro_schema_free(in);
}

Test(codec_schema, input_with_a_bertd_field_is_refused) {
  bertd_avro_schema *in = schema_from(
      "{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"bertd\",\"type\":\"string\"}]}");
  bertd_avro_schema *en = NULL;
  cr_assert_eq(bertd_avro_schema_enrich(in, &en, err, sizeof err), -1);
  cr_assert_null(en);
  cr_assert(strstr(err, "already has a field 'bertd'"), "%s", err);
  bertd_avro_schema_free(in);
}

Test(codec_schema, non_record_input_is_refused) {
  bertd_avro_schema *in = schema_from("\"string\""), *en = NULL;
  cr_assert_eq(bertd_avro_schema_enrich(in, &en, err, sizeof err), -1);
  cr_assert(strstr(err, "must be a record"), "%s", err);
  bertd_avro_schema_free(in);
}

Test(codec_schema, load_errors_name_the_file_and_the_problem) {
  bertd_avro_schema *s = NULL;
  cr_assert_eq(bertd_avro_schema_load("no/such.avsc", &s, err, sizeof err), -1);
  cr_assert_str_eq(err, "no/such.avsc: cannot open");

  char path[] = BERTD_BINARY_DIR "/test_codec_XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fputs("{\"type\": \"record\",\n \"name\": \"X\", \"fields\": [}\n", f);
  fclose(f);
  cr_assert_eq(bertd_avro_schema_load(path, &s, err, sizeof err), -1);
  cr_assert(!strncmp(err, path, strlen(path)) && strstr(err, "line 2"), "%s", err);

  f = fopen(path, "w");
  fputs("{\"type\": \"record\", \"name\": \"X\", \"fields\": [{\"name\": \"a\", \"type\": \"strin\"}]}",
        f);
  fclose(f);
  cr_assert_eq(bertd_avro_schema_load(path, &s, err, sizeof err), -1);
  cr_assert(!strncmp(err, path, strlen(path)) && strstr(err, "not a valid Avro schema"), "%s", err);
  cr_assert_null(strchr(err, '\n'), "one line: %s", err);
  remove(path);
}

/* ---- round trips ---- */

Test(codec, plain_round_trip_keeps_every_field) {
  bertd_avro_schema *s = utterance();
  bertd_codec *c = codec_for(s, NULL);
  json_t *in = parse("{\"id\":\"u1\",\"text\":\"book a table for two\",\"text_pair\":\"ok\","
                     "\"channel\":null,\"ts\":{\"long\":1700000000000}}");
  void *buf;
  size_t len;
  cr_assert_eq(bertd_codec_encode_input(c, in, &buf, &len, err, sizeof err), 0, "%s", err);
  bertd_record *r = NULL;
  bertd_codec_reason reason;
  cr_assert_eq(bertd_codec_decode(c, buf, len, &r, &reason, err, sizeof err), 0, "%s", err);
  size_t tl, pl;
  cr_assert_str_eq(bertd_record_text(r, &tl), "book a table for two");
  cr_assert_eq(tl, 20);
  cr_assert_str_eq(bertd_record_pair(r, &pl), "ok");
  cr_assert_eq(bertd_record_schema_id(r), -1);
  json_t *back;
  cr_assert_eq(bertd_record_to_json(r, &back, err, sizeof err), 0);
  json_t *want = parse("{\"id\":\"u1\",\"text\":\"book a table for two\",\"text_pair\":{\"string\":\"ok\"},"
                       "\"channel\":null,\"ts\":{\"long\":1700000000000}}");
  cr_assert(json_equal(back, want), "%s", json_dumps(back, JSON_COMPACT));
  json_decref(want);
  json_decref(back);
  json_decref(in);
  free(buf);
  bertd_record_free(r);
  bertd_codec_free(c);
  bertd_avro_schema_free(s);
}

Test(codec, a_null_pair_is_no_pair) {
  bertd_avro_schema *s = utterance();
  bertd_codec *c = codec_for(s, NULL);
  unsigned char buf[64];
  size_t n = utterance_datum(buf, "hi", 2);
  bertd_record *r = NULL;
  bertd_codec_reason reason;
  cr_assert_eq(bertd_codec_decode(c, buf, n, &r, &reason, err, sizeof err), 0, "%s", err);
  cr_assert_eq(reason, BERTD_CODEC_OK);
  cr_assert_null(bertd_record_pair(r, NULL));
  bertd_record_free(r);
  bertd_codec_free(c);
  bertd_avro_schema_free(s);
}

/* has_e2e 0: the input record had no Kafka timestamp, so end_to_end_ms must be null */
static void check_enriched_t(bertd_codec *c, const void *in_buf, size_t in_len,
                             const char *result, const char *want_bertd, int has_e2e);
static void check_enriched(bertd_codec *c, const void *in_buf, size_t in_len, const char *result,
                           const char *want_bertd) {
  check_enriched_t(c, in_buf, in_len, result, want_bertd, 1);
}

static void check_enriched_t(bertd_codec *c, const void *in_buf, size_t in_len,
                             const char *result, const char *want_bertd, int has_e2e) {
  bertd_record *r = NULL;
  bertd_codec_reason reason;
  cr_assert_eq(bertd_codec_decode(c, in_buf, in_len, &r, &reason, err, sizeof err), 0, "%s", err);
  json_t *res = parse(result);
  bertd_enrichment e = {.model = "joint-bert", .model_checksum = "c0ffee", .task = "joint",
                        .queue_ms = 12.5, .model_ms = 2.25, .end_to_end_ms = 40.5,
                        .has_end_to_end = has_e2e, .result = res};
  void *out;
  size_t out_len;
  cr_assert_eq(bertd_codec_encode(c, r, &e, &out, &out_len, err, sizeof err), 0, "%s", err);
  /* the enriched datum starts with the input's bytes */
  cr_assert(out_len > in_len);
  cr_assert_eq(memcmp(out, in_buf, in_len), 0);

  /* and is read back with the enriched schema */
  bertd_codec *ec = codec_for((bertd_avro_schema *)bertd_codec_enriched_schema(c),
                              &(bertd_codec_conf){.decode_only = 1});
  bertd_record *er = NULL;
  cr_assert_eq(bertd_codec_decode(ec, out, out_len, &er, &reason, err, sizeof err), 0, "%s", err);
  cr_assert_str_eq(bertd_record_text(er, NULL), bertd_record_text(r, NULL));
  json_t *j;
  cr_assert_eq(bertd_record_to_json(er, &j, err, sizeof err), 0);
  json_t *want = parse(want_bertd);
  char *got = json_dumps(json_object_get(j, "bertd"), JSON_COMPACT);
  cr_assert(json_equal(json_object_get(j, "bertd"), want), "%s", got);
  free(got);
  json_decref(want);
  json_decref(j);
  json_decref(res);
  free(out);
  bertd_record_free(er);
  bertd_record_free(r);
  bertd_codec_free(ec);
}

Test(codec, enrich_joint_result) {
  bertd_avro_schema *s = utterance();
  bertd_codec *c = codec_for(s, NULL);
  unsigned char buf[64];
  size_t n = utterance_datum(buf, "book a table", 12);
  /* the keys plugin/enrich.c writes for joint; scores are powers of two so floats are exact */
  check_enriched(c, buf, n,
                 "{\"intent\":{\"label\":\"book\",\"score\":0.5},"
                 "\"intents\":[{\"label\":\"book\",\"score\":0.5}],"
                 "\"slots\":[{\"slot\":\"obj\",\"text\":\"table\",\"start\":7,\"end\":12,\"score\":0.25}],"
                 "\"tags\":[\"O\",\"O\",\"B-obj\"]}",
                 "{\"model\":\"joint-bert\",\"model_checksum\":\"c0ffee\",\"task\":\"joint\","
                 "\"intent\":{\"bertd.LabelScore\":{\"label\":\"book\",\"score\":0.5}},"
                 "\"intents\":[{\"label\":\"book\",\"score\":0.5}],"
                 "\"slots\":[{\"slot\":\"obj\",\"text\":\"table\",\"start\":7,\"end\":12,\"score\":0.25}],"
                 "\"labels\":[],\"tags\":[\"O\",\"O\",\"B-obj\"],\"spans\":[],\"embedding\":[],"
                 "\"answer\":null,\"is_next\":null,\"truncated_tokens\":0,\"windows\":1,\"queue_ms\":12.5,\"model_ms\":2.25,"
                 "\"end_to_end_ms\":{\"double\":40.5}}");
  bertd_codec_free(c);
  bertd_avro_schema_free(s);
}

Test(codec, enrich_intent_below_threshold_and_no_input_timestamp) {
  bertd_avro_schema *s = utterance();
  bertd_codec *c = codec_for(s, NULL);
  unsigned char buf[64];
  size_t n = utterance_datum(buf, "book a table", 12);
  /* joint with a threshold no intent reaches: intent null, intents empty */
  check_enriched_t(c, buf, n, "{\"intent\":null,\"intents\":[],\"slots\":[],\"tags\":[\"O\"]}",
                   "{\"model\":\"joint-bert\",\"model_checksum\":\"c0ffee\",\"task\":\"joint\","
                   "\"intent\":null,\"intents\":[],\"slots\":[],\"labels\":[],\"tags\":[\"O\"],"
                   "\"spans\":[],\"embedding\":[],\"answer\":null,\"is_next\":null,\"truncated_tokens\":0,\"windows\":1,"
                   "\"queue_ms\":12.5,\"model_ms\":2.25,\"end_to_end_ms\":null}",
                   0);
  bertd_codec_free(c);
  bertd_avro_schema_free(s);
}

Test(codec, enrich_other_tasks) {
  bertd_avro_schema *s = utterance();
  bertd_codec *c = codec_for(s, NULL);
  unsigned char buf[64];
  size_t n = utterance_datum(buf, "q", 1);
  check_enriched(c, buf, n,
                 "{\"answer\":{\"text\":\"Paris\",\"start\":3,\"end\":8,\"score\":0.75},"
                 "\"is_next\":0.125,\"embedding\":[1,0.5,-2],"
                 "\"labels\":[{\"label\":\"pos\",\"score\":1}],"
                 "\"spans\":[{\"label\":\"LOC\",\"text\":\"Paris\",\"start\":3,\"end\":8,\"score\":0.5}]}",
                 "{\"model\":\"joint-bert\",\"model_checksum\":\"c0ffee\",\"task\":\"joint\","
                 "\"intent\":null,\"intents\":[],\"slots\":[],"
                 "\"labels\":[{\"label\":\"pos\",\"score\":1.0}],\"tags\":[],"
                 "\"spans\":[{\"label\":\"LOC\",\"text\":\"Paris\",\"start\":3,\"end\":8,\"score\":0.5}],"
                 "\"embedding\":[1.0,0.5,-2.0],"
                 "\"answer\":{\"bertd.Answer\":{\"text\":\"Paris\",\"start\":3,\"end\":8,\"score\":0.75}},"
                 "\"is_next\":{\"float\":0.125},\"truncated_tokens\":0,\"windows\":1,\"queue_ms\":12.5,\"model_ms\":2.25,"
                 "\"end_to_end_ms\":{\"double\":40.5}}");
  bertd_codec_free(c);
  bertd_avro_schema_free(s);
}

/* An embedding given as floats (the plugin's poll_vectors) is written as the same bytes as the
 * same values in the result, keeps every float exactly (none of them prints in 8 digits), and
 * may not come both ways at once. */
Test(codec, enrich_embedding_as_floats) {
  bertd_avro_schema *s = utterance();
  bertd_codec *c = codec_for(s, NULL);
  unsigned char buf[64];
  size_t n = utterance_datum(buf, "q", 1);
  bertd_record *r = NULL;
  bertd_codec_reason reason;
  cr_assert_eq(bertd_codec_decode(c, buf, n, &r, &reason, err, sizeof err), 0, "%s", err);
  void *a = NULL, *b = NULL;
  size_t alen, blen;
  json_t *with = parse("{\"embedding\":[1,0.5,-2]}"), *without = parse("{}");
  const float halves[] = {1.0f, 0.5f, -2.0f};
  bertd_enrichment e = {.model = "m", .model_checksum = "c", .task = "embed", .result = with};
  cr_assert_eq(bertd_codec_encode(c, r, &e, &a, &alen, err, sizeof err), 0, "%s", err);
  e.result = without;
  e.embedding = halves;
  e.embedding_dim = 3;
  cr_assert_eq(bertd_codec_encode(c, r, &e, &b, &blen, err, sizeof err), 0, "%s", err);
  cr_assert_eq(blen, alen);
  cr_assert_eq(memcmp(a, b, alen), 0);
  free(b);
  b = NULL;

  const float odd[] = {0.1f, -2.5e-7f, 3.40282347e38f, 1.17549435e-38f, 0.123456789f};
  e.embedding = odd;
  e.embedding_dim = 5;
  cr_assert_eq(bertd_codec_encode(c, r, &e, &b, &blen, err, sizeof err), 0, "%s", err);
  bertd_codec *ec = codec_for((bertd_avro_schema *)bertd_codec_enriched_schema(c),
                              &(bertd_codec_conf){.decode_only = 1});
  bertd_record *er = NULL;
  cr_assert_eq(bertd_codec_decode(ec, b, blen, &er, &reason, err, sizeof err), 0, "%s", err);
  json_t *j;
  cr_assert_eq(bertd_record_to_json(er, &j, err, sizeof err), 0);
  json_t *got = json_object_get(json_object_get(j, "bertd"), "embedding");
  cr_assert_eq(json_array_size(got), 5);
  for (int i = 0; i < 5; i++)
    cr_assert_eq(json_real_value(json_array_get(got, i)), (double)odd[i], "embedding[%d]", i);
  json_decref(j);
  bertd_record_free(er);
  bertd_codec_free(ec);

  void *d = NULL;
  size_t dlen;
  e.result = with;
  cr_assert_eq(bertd_codec_encode(c, r, &e, &d, &dlen, err, sizeof err), -1);
  cr_assert_null(d);
  cr_assert(strstr(err, "bertd.embedding: given both as floats and in the result"), "%s", err);
  free(a);
  free(b);
  json_decref(with);
  json_decref(without);
  bertd_record_free(r);
  bertd_codec_free(c);
  bertd_avro_schema_free(s);
}

Test(codec, result_keys_without_a_field_are_errors) {
  bertd_avro_schema *s = utterance();
  bertd_codec *c = codec_for(s, NULL);
  unsigned char buf[64];
  size_t n = utterance_datum(buf, "q", 1);
  bertd_record *r = NULL;
  bertd_codec_reason reason;
  cr_assert_eq(bertd_codec_decode(c, buf, n, &r, &reason, err, sizeof err), 0, "%s", err);
  const char *bad[] = {"{\"masks\":[]}", "{\"model\":\"x\"}", "{\"slots\":[{\"slot\":\"a\"}]}",
                       "{\"is_next\":\"yes\"}"};
  const char *want[] = {"result key 'masks' has no field", "result key 'model' has no field",
                        "bertd.slots[0].text: missing", "bertd.is_next: a string fits no branch"};
  for (int i = 0; i < 4; i++) {
    json_t *res = parse(bad[i]);
    bertd_enrichment e = {.model = "m", .model_checksum = "c", .task = "t", .queue_ms = 1,
                          .result = res};
    void *out = NULL;
    size_t out_len;
    cr_assert_eq(bertd_codec_encode(c, r, &e, &out, &out_len, err, sizeof err), -1, "%s", bad[i]);
    cr_assert_null(out);
    cr_assert(strstr(err, want[i]), "%s: %s", bad[i], err);
    json_decref(res);
  }
  bertd_record_free(r);
  bertd_codec_free(c);
  bertd_avro_schema_free(s);
}

/* ---- dead-letter reasons ---- */

Test(codec_errors, truncated_and_trailing_bytes_are_not_avro) {
  bertd_avro_schema *s = utterance();
  bertd_codec *c = codec_for(s, NULL);
  unsigned char buf[64];
  size_t n = utterance_datum(buf, "hello", 5);
  for (size_t cut = 0; cut < n; cut++)
    cr_assert_eq(decode_reason(c, buf, cut), BERTD_CODEC_NOT_AVRO, "cut at %zu", cut);
  buf[n] = 0;
  cr_assert_eq(decode_reason(c, buf, n + 1), BERTD_CODEC_NOT_AVRO);
  cr_assert(strstr(err, "1 trailing bytes"), "%s", err);
  cr_assert_eq(decode_reason(c, buf, n), BERTD_CODEC_OK);
  bertd_codec_free(c);
  bertd_avro_schema_free(s);
}

Test(codec_errors, hostile_lengths_counts_and_indexes_are_not_avro) {
  bertd_avro_schema *s = utterance();
  bertd_codec *c = codec_for(s, NULL);
  unsigned char buf[64];
  size_t n;
  /* a string length of 2^60: Avro C would try to allocate it */
  n = put_long(buf, (int64_t)1 << 60);
  cr_assert_eq(decode_reason(c, buf, n), BERTD_CODEC_NOT_AVRO);
  /* a negative length */
  n = put_long(buf, -3);
  cr_assert_eq(decode_reason(c, buf, n), BERTD_CODEC_NOT_AVRO);
  /* union index 5 of a 2-branch union */
  n = put_string(buf, "a", 1);
  n += put_string(buf + n, "b", 1);
  n += put_long(buf + n, 5);
  cr_assert_eq(decode_reason(c, buf, n), BERTD_CODEC_NOT_AVRO);
  cr_assert(strstr(err, "union index out of range"), "%s", err);
  /* a varint of 11 bytes */
  memset(buf, 0xff, 11);
  cr_assert_eq(decode_reason(c, buf, 11), BERTD_CODEC_NOT_AVRO);
  bertd_avro_schema_free(s);
  bertd_codec_free(c);

  /* arrays: 2^62 nulls in 9 bytes; INT64_MIN as a block count */
  s = schema_from("{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"text\",\"type\":\"string\"},"
                  "{\"name\":\"xs\",\"type\":{\"type\":\"array\",\"items\":\"null\"}}]}");
  c = codec_for(s, &(bertd_codec_conf){0});
  n = put_string(buf, "t", 1);
  size_t m = n + put_long(buf + n, (int64_t)1 << 62);
  buf[m++] = 0;
  cr_assert_eq(decode_reason(c, buf, m), BERTD_CODEC_NOT_AVRO);
  m = n + put_long(buf + n, INT64_MIN);
  cr_assert_eq(decode_reason(c, buf, m), BERTD_CODEC_NOT_AVRO);
  m = n + put_long(buf + n, 3);
  buf[m++] = 0;
  cr_assert_eq(decode_reason(c, buf, m), BERTD_CODEC_OK, "%s", err);
  /* a negative count with a block size that lies */
  m = n + put_long(buf + n, -1);
  m += put_long(buf + m, 4);
  buf[m++] = 0;
  cr_assert_eq(decode_reason(c, buf, m), BERTD_CODEC_NOT_AVRO);
  bertd_codec_free(c);
  bertd_avro_schema_free(s);
}

Test(codec_errors, bad_utf8_is_invalid_utf8) {
  bertd_avro_schema *s = utterance();
  bertd_codec *c = codec_for(s, NULL);
  unsigned char buf[64];
  const char *bad[] = {"caf\xe9", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ok\xe2\x82"};
  for (int i = 0; i < 5; i++) {
    size_t n = utterance_datum(buf, bad[i], strlen(bad[i]));
    cr_assert_eq(decode_reason(c, buf, n), BERTD_CODEC_INVALID_UTF8, "case %d", i);
  }
  cr_assert(strstr(err, "text field 'text' is not UTF-8 (byte 2)"), "%s", err);
  size_t n = utterance_datum(buf, "caf\xc3\xa9 \xf0\x9f\x8d\xb5", 10);
  cr_assert_eq(decode_reason(c, buf, n), BERTD_CODEC_OK, "%s", err);
  bertd_codec_free(c);
  bertd_avro_schema_free(s);
}

Test(codec_errors, null_or_non_string_text_is_not_a_string) {
  bertd_avro_schema *s = schema_from(
      "{\"type\":\"record\",\"name\":\"N\",\"fields\":[{\"name\":\"text\",\"type\":[\"null\",\"string\"]},"
      "{\"name\":\"n\",\"type\":\"int\"}]}");
  bertd_codec_conf conf = {0};
  bertd_codec *c = codec_for(s, &conf);
  unsigned char buf[] = {0, 2}; /* text: null; n: 1 */
  cr_assert_eq(decode_reason(c, buf, 2), BERTD_CODEC_NOT_A_STRING);
  cr_assert(strstr(err, "is null"), "%s", err);
  unsigned char ok[] = {2, 4, 'h', 'i', 2}; /* text: "hi"; n: 1 */
  cr_assert_eq(decode_reason(c, ok, sizeof ok), BERTD_CODEC_OK, "%s", err);
  bertd_codec_free(c);
  /* a text field that can never hold a string: refused when the pipeline is created, since
   * every record would be dead-lettered */
  conf.text_field = "n";
  c = NULL;
  cr_assert_eq(bertd_codec_create(&conf, s, &c, err, sizeof err), -1);
  cr_assert_null(c);
  cr_assert_str_eq(err, "N: field 'n' (the text field) cannot hold a string");
  bertd_avro_schema_free(s);
}

/* A text or text_pair field the input schema lacks is refused at creation (every record of
 * that schema would lack it); a decode-only codec (bertd consume) reads any record. Records
 * are resolved to the input schema before their text is read, so a record cannot lack a field
 * its schema has: MISSING_FIELD remains only as the decoder's guard. */
Test(codec_errors, missing_field) {
  bertd_avro_schema *s = utterance();
  bertd_codec_conf conf = {.text_field = "body"};
  bertd_codec *c = NULL;
  cr_assert_eq(bertd_codec_create(&conf, s, &c, err, sizeof err), -1);
  cr_assert_null(c);
  cr_assert_str_eq(err, "bertd.example.Utterance: the input schema has no field 'body' (the text "
                        "field)");
  conf = (bertd_codec_conf){.pair_field = "context"};
  cr_assert_eq(bertd_codec_create(&conf, s, &c, err, sizeof err), -1);
  cr_assert_str_eq(err, "bertd.example.Utterance: the input schema has no field 'context' (the "
                        "text_pair field)");
  unsigned char buf[64];
  size_t n = utterance_datum(buf, "hi", 2);
  c = codec_for(s, &(bertd_codec_conf){.text_field = "body", .decode_only = 1});
  bertd_record *r = NULL;
  bertd_codec_reason reason;
  cr_assert_eq(bertd_codec_decode_any(c, buf, n, &r, &reason, err, sizeof err), 0, "%s", err);
  cr_assert_null(bertd_record_text(r, NULL));
  bertd_record_free(r);
  bertd_codec_free(c);
  bertd_avro_schema_free(s);
}

/* ---- Confluent framing (fixed ids; the registry is tested in test_registry.c) ---- */

Test(codec_confluent, framing_round_trip_and_wrong_ids) {
  bertd_avro_schema *s = utterance();
  bertd_codec_conf conf = {.framing = BERTD_FRAMING_CONFLUENT, .input_schema_id = 258,
                           .output_schema_id = 0x01020304};
  bertd_codec *c = codec_for(s, &conf);
  json_t *in = parse("{\"id\":\"u9\",\"text\":\"hola\"}");
  void *buf;
  size_t len;
  cr_assert_eq(bertd_codec_encode_input(c, in, &buf, &len, err, sizeof err), 0, "%s", err);
  const unsigned char *b = buf;
  cr_assert_eq(b[0], 0);
  cr_assert_eq(b[1], 0);
  cr_assert_eq(b[2], 0);
  cr_assert_eq(b[3], 1);
  cr_assert_eq(b[4], 2);
  bertd_record *r = NULL;
  bertd_codec_reason reason;
  cr_assert_eq(bertd_codec_decode(c, buf, len, &r, &reason, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_record_schema_id(r), 258);
  cr_assert_str_eq(bertd_record_text(r, NULL), "hola");

  bertd_enrichment e = {.model = "m", .model_checksum = "c", .task = "classify", .queue_ms = 1};
  void *out;
  size_t out_len;
  cr_assert_eq(bertd_codec_encode(c, r, &e, &out, &out_len, err, sizeof err), 0, "%s", err);
  const unsigned char *o = out;
  cr_assert(o[0] == 0 && o[1] == 1 && o[2] == 2 && o[3] == 3 && o[4] == 4);
  cr_assert_eq(memcmp(o + 5, b + 5, len - 5), 0);
  free(out);
  bertd_record_free(r);

  unsigned char *m = malloc(len);
  memcpy(m, buf, len);
  m[0] = 1; /* wrong magic */
  cr_assert_eq(decode_reason(c, m, len), BERTD_CODEC_NOT_AVRO);
  cr_assert(strstr(err, "magic byte 1"), "%s", err);
  m[0] = 0;
  m[4] = 3; /* id 259 */
  cr_assert_eq(decode_reason(c, m, len), BERTD_CODEC_WRONG_SCHEMA);
  cr_assert(strstr(err, "schema id 259, expected 258"), "%s", err);
  cr_assert_eq(decode_reason(c, m, 4), BERTD_CODEC_NOT_AVRO);
  m[4] = 2;
  cr_assert_eq(decode_reason(c, m, len - 1), BERTD_CODEC_NOT_AVRO);
  free(m);
  free(buf);
  json_decref(in);
  bertd_codec_free(c);

  /* no id configured for the output: encode says so instead of writing a bad header */
  conf.output_schema_id = -1;
  c = codec_for(s, &conf);
  cr_assert_eq(bertd_codec_encode_input(c, in = parse("{\"id\":\"a\",\"text\":\"b\"}"), &buf, &len,
                                        err, sizeof err), 0);
  cr_assert_eq(bertd_codec_decode(c, buf, len, &r, &reason, err, sizeof err), 0);
  cr_assert_eq(bertd_codec_encode(c, r, &e, &out, &out_len, err, sizeof err), -1);
  cr_assert(strstr(err, "enriched schema's id"), "%s", err);
  bertd_record_free(r);
  free(buf);
  json_decref(in);
  bertd_codec_free(c);
  bertd_avro_schema_free(s);
}

/* ---- JSON conversion ---- */

Test(codec_json, union_forms_and_field_rules) {
  bertd_avro_schema *s = utterance();
  bertd_codec *c = codec_for(s, NULL);
  struct {
    const char *json, *err; /* err NULL: accepted */
  } cases[] = {
      {"{\"id\":\"a\",\"text\":\"b\",\"channel\":\"web\"}", NULL},
      {"{\"id\":\"a\",\"text\":\"b\",\"channel\":{\"string\":\"web\"}}", NULL},
      {"{\"id\":\"a\",\"text\":\"b\",\"ts\":17}", NULL},
      {"{\"id\":\"a\",\"text\":\"b\",\"ts\":{\"long\":17}}", NULL},
      {"{\"id\":\"a\",\"text\":\"b\",\"ts\":\"17\"}", "ts: a string fits no branch"},
      {"{\"id\":\"a\",\"text\":\"b\",\"extra\":1}", "extra: no such field in Utterance"},
      {"{\"id\":\"a\"}", "text: missing"},
      {"{\"id\":1,\"text\":\"b\"}", "id: expected string, got an integer"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    json_t *j = parse(cases[i].json);
    void *buf = NULL;
    size_t len;
    int rc = bertd_codec_encode_input(c, j, &buf, &len, err, sizeof err);
    if (cases[i].err) {
      cr_assert_eq(rc, -1, "%s", cases[i].json);
      cr_assert(strstr(err, cases[i].err), "%s: %s", cases[i].json, err);
    } else {
      cr_assert_eq(rc, 0, "%s: %s", cases[i].json, err);
    }
    free(buf);
    json_decref(j);
  }
  bertd_codec_free(c);
  bertd_avro_schema_free(s);

  /* an ambiguous plain value is refused; the tagged form picks */
  s = schema_from("{\"type\":\"record\",\"name\":\"U\",\"fields\":[{\"name\":\"text\",\"type\":\"string\"},"
                  "{\"name\":\"n\",\"type\":[\"int\",\"long\"]}]}");
  c = codec_for(s, &(bertd_codec_conf){0});
  json_t *j = parse("{\"text\":\"x\",\"n\":5}");
  void *buf = NULL;
  size_t len;
  cr_assert_eq(bertd_codec_encode_input(c, j, &buf, &len, err, sizeof err), -1);
  cr_assert(strstr(err, "more than one branch"), "%s", err);
  json_decref(j);
  j = parse("{\"text\":\"x\",\"n\":{\"long\":5}}");
  cr_assert_eq(bertd_codec_encode_input(c, j, &buf, &len, err, sizeof err), 0, "%s", err);
  const unsigned char *b = buf;
  cr_assert_eq(b[len - 2], 2); /* branch 1 */
  cr_assert_eq(b[len - 1], 10);
  free(buf);
  json_decref(j);
  bertd_codec_free(c);
  bertd_avro_schema_free(s);
}

Test(codec_json, bytes_enum_map_fixed_round_trip) {
  bertd_avro_schema *s = schema_from(
      "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"t\",\"fields\":["
      "{\"name\":\"text\",\"type\":\"string\"},{\"name\":\"b\",\"type\":\"bytes\"},"
      "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}},"
      "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"double\"}},"
      "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}},"
      "{\"name\":\"u\",\"type\":[\"null\",\"E\",\"boolean\"]}]}");
  bertd_codec *c = codec_for(s, &(bertd_codec_conf){0});
  const char *text = "{\"text\":\"x\",\"b\":\"\\u0000\\u00ff\",\"e\":\"B\",\"m\":{\"k\":1.5},"
                     "\"f\":\"ab\",\"u\":{\"t.E\":\"A\"}}";
  json_t *j = parse(text);
  void *buf;
  size_t len;
  cr_assert_eq(bertd_codec_encode_input(c, j, &buf, &len, err, sizeof err), 0, "%s", err);
  bertd_record *r;
  bertd_codec_reason reason;
  cr_assert_eq(bertd_codec_decode(c, buf, len, &r, &reason, err, sizeof err), 0, "%s", err);
  json_t *back;
  cr_assert_eq(bertd_record_to_json(r, &back, err, sizeof err), 0);
  cr_assert(json_equal(back, j), "%s", json_dumps(back, JSON_COMPACT));
  /* an enum index past the symbols is caught before Avro C stores it */
  unsigned char *m = buf;
  m[len - 2] = 0; /* u: null, one byte shorter */
  cr_assert_eq(decode_reason(c, buf, len - 1), BERTD_CODEC_OK, "%s", err);
  m[5] = 8; /* e (after text 02 'x' and b 04 00 ff): index 4 of 2 symbols */
  cr_assert_eq(decode_reason(c, buf, len - 1), BERTD_CODEC_NOT_AVRO);
  cr_assert(strstr(err, "enum index out of range"), "%s", err);
  free(buf);
  json_decref(back);
  json_decref(j);
  bertd_record_free(r);
  bertd_codec_free(c);
  bertd_avro_schema_free(s);
}

Test(codec, reason_names) {
  cr_assert_str_eq(bertd_codec_reason_name(BERTD_CODEC_NOT_AVRO), "NOT_AVRO");
  cr_assert_str_eq(bertd_codec_reason_name(BERTD_CODEC_WRONG_SCHEMA), "WRONG_SCHEMA");
  cr_assert_str_eq(bertd_codec_reason_name(BERTD_CODEC_MISSING_FIELD), "MISSING_FIELD");
  cr_assert_str_eq(bertd_codec_reason_name(BERTD_CODEC_NOT_A_STRING), "NOT_A_STRING");
  cr_assert_str_eq(bertd_codec_reason_name(BERTD_CODEC_INVALID_UTF8), "INVALID_UTF8");
}

/* ---- schemas/examples ---- */

static void example_encodes(bertd_codec *c, const char *name) {
  char path[512];
  snprintf(path, sizeof path, BERTD_SOURCE_DIR "/schemas/examples/%s", name);
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  cr_assert_not_null(j, "%s: %s", path, je.text);
  void *buf;
  size_t len;
  cr_assert_eq(bertd_codec_encode_input(c, j, &buf, &len, err, sizeof err), 0, "%s: %s", name, err);
  bertd_record *r;
  bertd_codec_reason reason;
  cr_assert_eq(bertd_codec_decode(c, buf, len, &r, &reason, err, sizeof err), 0, "%s: %s", name,
               err);
  free(buf);
  bertd_record_free(r);
  json_decref(j);
}

Test(codec_schema, examples_match_their_schemas) {
  bertd_avro_schema *s = utterance();
  bertd_codec *c = codec_for(s, NULL);
  example_encodes(c, "utterance.json");
  example_encodes(c, "utterance_plain.json");
  bertd_codec *ec = codec_for((bertd_avro_schema *)bertd_codec_enriched_schema(c),
                              &(bertd_codec_conf){.decode_only = 1});
  example_encodes(ec, "utterance.enriched.json");
  bertd_codec_free(ec);
  bertd_codec_free(c);
  bertd_avro_schema_free(s);
}
