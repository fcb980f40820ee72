/* tokenizer_config.c: bertd_tokenizer_load, a Hugging Face tokenizer directory as
 * save_pretrained writes it: vocab.txt, tokenizer_config.json (do_lower_case, strip_accents,
 * tokenize_chinese_chars, model_max_length, special tokens) and special_tokens_map.json, whose
 * special tokens override tokenizer_config.json's as in transformers' from_pretrained. A special
 * token is a string or an AddedToken object {"content": ...}. Absent files mean BERT's defaults.
 * tokenizer.json is not read: for BERT it is derived from these files. */
#include "tokenizer_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { NAME_MAX_LEN = 64 };

typedef struct loaded_opts {
  bertd_tokenizer_opts opts;
  char names[SPECIAL_COUNT][NAME_MAX_LEN];
} loaded_opts;

static const char *const special_keys[SPECIAL_COUNT] = {"unk_token", "cls_token", "sep_token",
                                                        "pad_token", "mask_token"};

/* Opens path as JSON; *root stays NULL when the file does not exist. */
static int json_open(const char *path, json_t **root, char *errstr, size_t errstr_size) {
  *root = NULL;
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT) return 0;
    snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
    return -1;
  }
  json_error_t jerr;
  /* Integers as doubles: transformers writes model_max_length 1e30 as a 31-digit integer. */
  *root = json_load_file(path, JSON_DECODE_INT_AS_REAL, &jerr);
  if (!*root) {
    snprintf(errstr, errstr_size, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
    return -1;
  }
  if (!json_is_object(*root)) {
    snprintf(errstr, errstr_size, "%s: expected a JSON object", path);
    json_decref(*root);
    *root = NULL;
    return -1;
  }
  return 0;
}

static int read_bool(json_t *root, const char *key, int *out, int null_value, const char *path,
                     char *errstr, size_t errstr_size) {
  json_t *v = json_object_get(root, key);
  if (!v) return 0;
  if (json_is_null(v)) { *out = null_value; return 0; }
  if (!json_is_boolean(v)) {
    snprintf(errstr, errstr_size, "%s: \"%s\" must be true or false", path, key);
    return -1;
  }
  *out = json_is_true(v);
  return 0;
}

static int read_specials(json_t *root, loaded_opts *lo, const char *path, char *errstr,
                         size_t errstr_size) {
  for (int k = 0; k < SPECIAL_COUNT; k++) {
    json_t *v = json_object_get(root, special_keys[k]);
    if (!v || json_is_null(v)) continue;
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) >= NAME_MAX_LEN) {
      snprintf(errstr, errstr_size, "%s: \"%s\" must be a non-empty string of under %d bytes",
               path, special_keys[k], NAME_MAX_LEN);
      return -1;
    }
    memcpy(lo->names[k], json_string_value(v), json_string_length(v) + 1);
  }
  return 0;
}

static int read_tokenizer_config(const char *path, loaded_opts *lo, char *errstr, size_t errstr_size) {
  json_t *root;
  if (json_open(path, &root, errstr, errstr_size) != 0) return -1;
  if (!root) return 0;
  int rc = -1;
  bertd_tokenizer_opts *o = &lo->opts;
  if (read_bool(root, "do_lower_case", &o->do_lower_case, 1, path, errstr, errstr_size) != 0 ||
      read_bool(root, "strip_accents", &o->strip_accents, -1, path, errstr, errstr_size) != 0 ||
      read_bool(root, "tokenize_chinese_chars", &o->tokenize_chinese_chars, 1, path, errstr,
                errstr_size) != 0 ||
      read_specials(root, lo, path, errstr, errstr_size) != 0)
    goto done;
  json_t *mml = json_object_get(root, "model_max_length");
  /* transformers writes 1e30 ("no limit") for models without one; keep BERT's 512 then. */
  if (json_is_number(mml) && json_number_value(mml) >= 1 && json_number_value(mml) <= (1 << 20))
    o->model_max_length = (int)json_number_value(mml);
  rc = 0;
done:
  json_decref(root);
  return rc;
}

int bertd_tokenizer_load(const char *dir, bertd_tokenizer **out, char *errstr, size_t errstr_size) {
  *out = NULL;
  loaded_opts lo;
  memset(&lo, 0, sizeof lo);
  lo.opts.do_lower_case = 1;
  lo.opts.strip_accents = -1;
  lo.opts.tokenize_chinese_chars = 1;
  lo.opts.model_max_length = 512;

  size_t cap = strlen(dir) + 32;
  char *path = malloc(cap);
  if (!path) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  int rc = -1;
  snprintf(path, cap, "%s/tokenizer_config.json", dir);
  if (read_tokenizer_config(path, &lo, errstr, errstr_size) != 0) goto done;
  snprintf(path, cap, "%s/special_tokens_map.json", dir);
  json_t *map;
  if (json_open(path, &map, errstr, errstr_size) != 0) goto done;
  if (map) {
    int bad = read_specials(map, &lo, path, errstr, errstr_size);
    json_decref(map);
    if (bad) goto done;
  }
  const char **names[SPECIAL_COUNT] = {&lo.opts.unk_token, &lo.opts.cls_token, &lo.opts.sep_token,
                                       &lo.opts.pad_token, &lo.opts.mask_token};
  for (int k = 0; k < SPECIAL_COUNT; k++)
    if (lo.names[k][0]) *names[k] = lo.names[k];
  snprintf(path, cap, "%s/vocab.txt", dir);
  rc = bertd_tokenizer_from_vocab(path, &lo.opts, out, errstr, errstr_size);
done:
  free(path);
  return rc;
}
