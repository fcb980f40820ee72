/* test_tokenizer.c: the tokenizer on hand-written edge cases with every expected id and offset
 * from transformers (tests/fixtures/tokenizer/cases.json, made by
 * tools/reference/make_tokenizer_fixtures.py from tools/reference/edge_cases.txt), plus the
 * error paths and the API around encode. Needs no model download: the vocabularies are fixtures. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bertd_tokenizer.h"
#include "tokenizer_testutil.h"

#define UNCASED BERTD_FIXTURES "/tokenizer/uncased"
#define CASED BERTD_FIXTURES "/tokenizer/cased"

static bertd_tokenizer *load(const char *dir) {
  char err[512];
  bertd_tokenizer *tok = NULL;
  cr_assert_eq(bertd_tokenizer_load(dir, &tok, err, sizeof err), 0, "%s", err);
  return tok;
}

static bertd_tokenizer *load_keep_accents(void) {
  char err[512];
  bertd_tokenizer *tok = NULL;
  bertd_tokenizer_opts o = {1, 0, 1, 512, NULL, NULL, NULL, NULL, NULL};
  cr_assert_eq(bertd_tokenizer_from_vocab(UNCASED "/vocab.txt", &o, &tok, err, sizeof err), 0,
               "%s", err);
  return tok;
}

static bertd_truncation strategy(const char *s) {
  if (strcmp(s, "only_first") == 0) return BERTD_TRUNC_ONLY_FIRST;
  if (strcmp(s, "only_second") == 0) return BERTD_TRUNC_ONLY_SECOND;
  return BERTD_TRUNC_LONGEST_FIRST;
}

static const char *const fields[8] = {"ids", "type_ids", "seq_ids", "word_ids",
                                      "char_start", "char_end", "byte_start", "byte_end"};

static int32_t *field(const bertd_encoding *e, int k) {
  int32_t *a[8] = {e->ids, e->type_ids, e->seq_ids, e->word_ids,
                   e->char_start, e->char_end, e->byte_start, e->byte_end};
  return a[k];
}

static void print_case(const char *config, json_t *c, const char *why) {
  json_t *text = json_object_get(c, "text"), *pair = json_object_get(c, "pair");
  fprintf(stderr, "FAIL [%s max_length=%d %s] \"", config,
          (int)json_integer_value(json_object_get(c, "max_length")),
          json_string_value(json_object_get(c, "truncation")));
  tu_print_escaped(stderr, json_string_value(text), json_string_length(text));
  if (json_is_string(pair)) {
    fputs("\" ||| \"", stderr);
    tu_print_escaped(stderr, json_string_value(pair), json_string_length(pair));
  }
  fprintf(stderr, "\": %s\n", why);
}

Test(tokenizer, edge_cases_match_transformers) {
  json_error_t jerr;
  json_t *cases = json_load_file(BERTD_FIXTURES "/tokenizer/cases.json", JSON_ALLOW_NUL, &jerr);
  cr_assert_not_null(cases, "cases.json:%d: %s", jerr.line, jerr.text);
  bertd_tokenizer *toks[3] = {load(UNCASED), load(CASED), load_keep_accents()};
  const char *names[3] = {"uncased", "cased", "uncased_accents"};
  bertd_encoding enc = {0};
  size_t i, failures = 0;
  json_t *c;
  json_array_foreach(cases, i, c) {
    const char *config = json_string_value(json_object_get(c, "config"));
    int t = strcmp(config, "cased") == 0 ? 1 : strcmp(config, "uncased_accents") == 0 ? 2 : 0;
    json_t *text = json_object_get(c, "text"), *pair = json_object_get(c, "pair");
    char err[512] = "";
    int rc = bertd_tokenizer_encode(
        toks[t], json_string_value(text), json_string_length(text),
        json_is_string(pair) ? json_string_value(pair) : NULL,
        json_is_string(pair) ? json_string_length(pair) : 0,
        (int)json_integer_value(json_object_get(c, "max_length")),
        strategy(json_string_value(json_object_get(c, "truncation"))), &enc, err, sizeof err);
    if (json_is_true(json_object_get(c, "error"))) {
      if (rc == 0) { failures++; print_case(names[t], c, "transformers raises, we did not"); }
      continue;
    }
    if (rc != 0) {
      failures++;
      print_case(names[t], c, err);
      continue;
    }
    int bad = (size_t)enc.n != json_array_size(json_object_get(c, "ids"));
    for (int k = 0; k < 8 && !bad; k++) {
      json_t *want = json_object_get(c, fields[k]);
      for (int j = 0; j < enc.n && !bad; j++)
        bad = json_integer_value(json_array_get(want, (size_t)j)) != field(&enc, k)[j];
    }
    if (!bad) continue;
    failures++;
    print_case(names[t], c, "encoding differs");
    fprintf(stderr, " expected (transformers):\n");
    json_t *toks_json = json_object_get(c, "tokens");
    for (size_t j = 0; j < json_array_size(toks_json); j++) {
      fprintf(stderr, "  %-16s", json_string_value(json_array_get(toks_json, j)));
      for (int k = 0; k < 8; k++)
        fprintf(stderr, " %s=%d", fields[k],
                (int)json_integer_value(json_array_get(json_object_get(c, fields[k]), j)));
      fputc('\n', stderr);
    }
    fprintf(stderr, " actual:\n");
    tu_print_encoding(stderr, toks[t], &enc);
  }
  fprintf(stderr, "tokenizer edge cases: %zu compared, %zu failed\n", json_array_size(cases),
          failures);
  bertd_encoding_free(&enc);
  for (int t = 0; t < 3; t++) bertd_tokenizer_free(toks[t]);
  json_decref(cases);
  cr_assert_eq(failures, 0, "%zu edge cases differ from transformers", failures);
}

Test(tokenizer, invalid_utf8_names_the_byte) {
  bertd_tokenizer *tok = load(UNCASED);
  bertd_encoding enc = {0};
  static const struct { const char *s; size_t len; const char *where; } bad[] = {
      {"ab\x80", 3, "at byte 2"},              /* stray continuation byte */
      {"abc\xc3", 4, "at byte 3"},             /* truncated 2-byte sequence */
      {"\xc0\xaf", 2, "at byte 0"},            /* overlong '/' */
      {"x\xe0\x80\xaf", 4, "at byte 1"},       /* overlong 3-byte */
      {"xy\xed\xa0\x80", 5, "at byte 2"},      /* UTF-16 surrogate */
      {"\xf4\x90\x80\x80", 4, "at byte 0"},    /* above U+10FFFF */
      {"ok \xf5\x80\x80\x80", 7, "at byte 3"}, /* never valid lead byte */
      {"\xe2\x82", 2, "at byte 0"},            /* cut off at the end */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char err[256] = "";
    int rc = bertd_tokenizer_encode(tok, bad[i].s, bad[i].len, NULL, 0, 0,
                                    BERTD_TRUNC_LONGEST_FIRST, &enc, err, sizeof err);
    cr_expect_eq(rc, -1, "case %zu accepted", i);
    cr_expect(strstr(err, bad[i].where) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, err,
              bad[i].where);
    cr_expect(strstr(err, "text") != NULL, "case %zu: \"%s\" does not say which input", i, err);
  }
  char err[256] = "";
  cr_expect_eq(bertd_tokenizer_encode(tok, "fine", 4, "b\xff", 2, 0, BERTD_TRUNC_LONGEST_FIRST,
                                      &enc, err, sizeof err), -1);
  cr_expect(strstr(err, "pair") && strstr(err, "at byte 1"), "%s", err);
  /* An embedded NUL is valid UTF-8 (and dropped by the cleaning), not an error. */
  cr_expect_eq(bertd_tokenizer_encode(tok, "a\0b", 3, NULL, 0, 0, BERTD_TRUNC_LONGEST_FIRST, &enc,
                                      err, sizeof err), 0, "%s", err);
  bertd_encoding_free(&enc);
  bertd_tokenizer_free(tok);
}

Test(tokenizer, missing_vocab_is_one_line_naming_the_file) {
  char err[512] = "";
  bertd_tokenizer *tok = (bertd_tokenizer *)1;
  cr_assert_eq(bertd_tokenizer_load("/nonexistent/bertd-model", &tok, err, sizeof err), -1);
  cr_expect_null(tok);
  cr_expect(strstr(err, "/nonexistent/bertd-model/vocab.txt") != NULL, "%s", err);
  cr_expect(strchr(err, '\n') == NULL, "multi-line error: %s", err);
  cr_assert_eq(bertd_tokenizer_from_vocab("/nonexistent/vocab.txt", NULL, &tok, err, sizeof err),
               -1);
  cr_expect(strstr(err, "/nonexistent/vocab.txt") != NULL, "%s", err);
  cr_expect(strchr(err, '\n') == NULL, "multi-line error: %s", err);
}

/* A scratch checkpoint directory under the system temp dir. */
static void write_file(const char *dir, const char *name, const char *content) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "%s", path);
  fputs(content, f);
  fclose(f);
}

Test(tokenizer, config_files) {
  char dir[] = "/tmp/bertd-tok-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  write_file(dir, "vocab.txt", "<pad>\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n<s>\nhello\nHello\n##s\n");
  write_file(dir, "tokenizer_config.json", "{\"do_lower_case\": false, \"pad_token\": \"[X]\","
                                           " \"model_max_length\": 1000000000000000019884624838656}");
  write_file(dir, "special_tokens_map.json",
             "{\"pad_token\": {\"content\": \"<pad>\", \"lstrip\": false}, \"cls_token\": \"<s>\"}");
  char err[512] = "";
  bertd_tokenizer *tok = NULL;
  cr_assert_eq(bertd_tokenizer_load(dir, &tok, err, sizeof err), 0, "%s", err);
  cr_expect_eq(bertd_tokenizer_special_id(tok, 'p'), 0);  /* the map wins over the config */
  cr_expect_eq(bertd_tokenizer_special_id(tok, 'c'), 5);
  bertd_encoding enc = {0};
  cr_assert_eq(bertd_tokenizer_encode(tok, "Hellos hello", 12, NULL, 0, 0,
                                      BERTD_TRUNC_LONGEST_FIRST, &enc, err, sizeof err), 0, "%s", err);
  int32_t want[] = {5, 7, 8, 6, 3};                       /* cased: "Hello" "##s" "hello" */
  cr_assert_eq(enc.n, 5);
  for (int i = 0; i < 5; i++) cr_expect_eq(enc.ids[i], want[i], "token %d", i);
  bertd_encoding_free(&enc);
  bertd_tokenizer_free(tok);

  write_file(dir, "tokenizer_config.json", "{\"do_lower_case\": true,\n \"x\": }");
  cr_expect_eq(bertd_tokenizer_load(dir, &tok, err, sizeof err), -1);
  cr_expect(strstr(err, "tokenizer_config.json:2:") != NULL, "%s", err);
  write_file(dir, "tokenizer_config.json", "{\"do_lower_case\": \"yes\"}");
  cr_expect_eq(bertd_tokenizer_load(dir, &tok, err, sizeof err), -1);
  cr_expect(strstr(err, "do_lower_case") != NULL, "%s", err);
  write_file(dir, "tokenizer_config.json", "{}");
  write_file(dir, "special_tokens_map.json", "{\"pad_token\": \"<pad>\", \"mask_token\": \"[NOPE]\"}");
  cr_expect_eq(bertd_tokenizer_load(dir, &tok, err, sizeof err), -1);
  cr_expect(strstr(err, "[NOPE]") != NULL, "%s", err);

  const char *names[] = {"vocab.txt", "tokenizer_config.json", "special_tokens_map.json"};
  for (int i = 0; i < 3; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    unlink(path);
  }
  rmdir(dir);
}

Test(tokenizer, vocab_accessors) {
  bertd_tokenizer *tok = load(UNCASED);
  cr_expect_eq(bertd_tokenizer_vocab_size(tok), 30522);
  cr_expect_eq(bertd_tokenizer_token_to_id(tok, "[CLS]"), 101);
  cr_expect_eq(bertd_tokenizer_token_to_id(tok, "##ing"), 2075);
  cr_expect_eq(bertd_tokenizer_token_to_id(tok, "no-such-token"), -1);
  cr_expect_str_eq(bertd_tokenizer_id_to_token(tok, 102), "[SEP]");
  cr_expect_str_eq(bertd_tokenizer_id_to_token(tok, 30521), "##～");
  cr_expect_null(bertd_tokenizer_id_to_token(tok, 30522));
  cr_expect_null(bertd_tokenizer_id_to_token(tok, -1));
  cr_expect_eq(bertd_tokenizer_special_id(tok, 'c'), 101);
  cr_expect_eq(bertd_tokenizer_special_id(tok, 's'), 102);
  cr_expect_eq(bertd_tokenizer_special_id(tok, 'p'), 0);
  cr_expect_eq(bertd_tokenizer_special_id(tok, 'm'), 103);
  cr_expect_eq(bertd_tokenizer_special_id(tok, 'u'), 100);
  cr_expect_eq(bertd_tokenizer_special_id(tok, 'x'), -1);
  bertd_tokenizer_free(tok);
}

Test(tokenizer, limits_and_buffer_reuse) {
  bertd_tokenizer *tok = load(UNCASED);
  bertd_encoding enc = {0}, fresh = {0};
  char err[256];
  size_t n = 3000;
  char *big = malloc(n + 1);
  for (size_t i = 0; i < n; i += 2) { big[i] = 'a'; big[i + 1] = ' '; }
  big[n] = '\0';
  /* A max_length beyond the model's positions is capped at model_max_length. */
  cr_assert_eq(bertd_tokenizer_encode(tok, big, n, NULL, 0, 4000, BERTD_TRUNC_LONGEST_FIRST, &enc,
                                      err, sizeof err), 0, "%s", err);
  cr_expect_eq(enc.n, 512);
  cr_expect_eq(enc.num_truncated, 1500 - 510);
  cr_expect_eq(enc.ids[511], 102);
  /* No truncation asked: too long is an error, short is fine. */
  cr_expect_eq(bertd_tokenizer_encode(tok, big, n, NULL, 0, 0, BERTD_TRUNC_NONE, &enc, err,
                                      sizeof err), -1);
  cr_expect(strstr(err, "max_length") != NULL, "%s", err);
  cr_expect_eq(bertd_tokenizer_encode(tok, "a b", 3, NULL, 0, 5, BERTD_TRUNC_NONE, &enc, err,
                                      sizeof err), 0, "%s", err);
  cr_expect_eq(enc.n, 4);
  /* Buffers shrink and grow across calls without stale data. */
  const char *texts[] = {"short", "Hello, World! [MASK] café 北京", "", "again some text here"};
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < 4; i++) {
      cr_assert_eq(bertd_tokenizer_encode(tok, texts[i], strlen(texts[i]), "pair text", 9, 0,
                                          BERTD_TRUNC_LONGEST_FIRST, &enc, err, sizeof err), 0);
      bertd_encoding_free(&fresh);
      cr_assert_eq(bertd_tokenizer_encode(tok, texts[i], strlen(texts[i]), "pair text", 9, 0,
                                          BERTD_TRUNC_LONGEST_FIRST, &fresh, err, sizeof err), 0);
      cr_assert_eq(enc.n, fresh.n);
      cr_expect_eq(tu_digest(&enc), tu_digest(&fresh), "text %d round %d", i, round);
    }
    cr_assert_eq(bertd_tokenizer_encode(tok, big, n, NULL, 0, 0, BERTD_TRUNC_LONGEST_FIRST, &enc,
                                        err, sizeof err), 0);
  }
  cr_expect_eq(bertd_tokenizer_encode(tok, "x", 1, NULL, 0, -1, BERTD_TRUNC_LONGEST_FIRST, &enc,
                                      err, sizeof err), -1);
  free(big);
  bertd_encoding_free(&enc);
  bertd_encoding_free(&fresh);
  bertd_tokenizer_free(tok);
}
