/* plugin_config.c: the enrichment stage's settings, JSON text -> plugin_config. This is the one
 * place a model or batching setting is named, typed, bounded and given its default: SETTINGS
 * below. bertd_plugin_create() parses with it, bertd_plugin_config_check() shows hosts what it
 * made of their text, and the daemon's YAML loader hands its `model:` and `batching:` sections
 * here as JSON instead of reading them itself.
 *
 * Strict: an unknown key or a wrong type is an error naming the key, e.g.
 * "model.top_k: expected an integer, got the string '3'", so a typo cannot silently fall back to
 * a default. Messages start with the key's dotted path and a colon, so a host can point at the
 * line of its own file that set it (the daemon does). */
#include "plugin_config.h"

#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { S_PATH, S_CHOICE, S_INT, S_FRACTION, S_INT_LIST } setting_type;

typedef struct setting {
  const char *section; /* "model" or "batching" */
  const char *key;
  setting_type type;
  int min;             /* S_INT and the items of S_INT_LIST: the smallest value allowed */
  const char *choices; /* S_CHOICE: the names, '|'-separated, in the order of their enum */
  const char *what;    /* S_CHOICE: what a name names, for "unknown task 'x' (expected ...)" */
  const char *dflt;    /* the default as JSON text; NULL: required; "null": none, or derived
                        * from other settings (said beside it) */
} setting;

/* Every setting of the stage, with its default. bertd_plugin.h and config/README.md document
 * them; tests/config/defaults_test.py holds both documents to this table. */
static const setting SETTINGS[] = {
    {"model", "dir", S_PATH, 0, NULL, NULL, NULL},
    {"model", "task", S_CHOICE, 0, "joint|classify|tag|embed|qa|tokenize|fill-mask|nsp", "task",
     NULL},
    {"model", "max_length", S_INT, 1, NULL, NULL, "128"}, /* capped to the model's own limit */
    {"model", "truncation", S_CHOICE, 0, "longest_first|only_first|only_second", "truncation",
     "\"longest_first\""},
    {"model", "top_k", S_INT, 0, NULL, NULL, "0"}, /* 0: the task's (enrich.c) */
    {"model", "threshold", S_FRACTION, 0, NULL, NULL, "null"},
    {"model", "max_answer_tokens", S_INT, 1, NULL, NULL, "15"},
    {"model", "tag_decoding", S_CHOICE, 0, "bio|argmax", "tag decoding", "\"bio\""},
    {"model", "threads", S_INT, 1, NULL, NULL, "null"}, /* null: OpenBLAS's thread count */
    /* the encoder's precision, in bertd_precision's order; bf16 / int8 refused on a CPU
     * without the instructions when the plugin is created */
    {"model", "precision", S_CHOICE, 0, "fp32|bf16|int8", "precision", "\"fp32\""},
    /* the accuracy gate of bf16 / int8 (agreement.c): null: none; needs calibration */
    {"model", "min_agreement", S_FRACTION, 0, NULL, NULL, "null"},
    {"model", "calibration", S_PATH, 0, NULL, NULL, "null"},
    {"model", "on_too_long", S_CHOICE, 0, "truncate|dead_letter|window", "on_too_long action",
     "\"truncate\""},
    {"model", "window_stride", S_INT, 0, NULL, NULL, "null"}, /* null: max_length / 4 */
    {"model", "window_combine", S_CHOICE, 0, "mean|max", "window combine", "\"mean\""},
    {"batching", "max_batch_tokens", S_INT, 1, NULL, NULL, "4096"},
    {"batching", "max_batch_records", S_INT, 1, NULL, NULL, "32"},
    {"batching", "max_wait_ms", S_INT, 0, NULL, NULL, "10"},
    /* null: 16, 32, 64, ... below max_length, then max_length */
    {"batching", "buckets", S_INT_LIST, 1, NULL, NULL, "null"},
};
#define N_SETTINGS (sizeof SETTINGS / sizeof *SETTINGS)
#define SMALLEST_BUCKET 16

static int fail(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *errstr, size_t errstr_size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errstr, errstr_size, fmt, ap);
  va_end(ap);
  return -1;
}

/* "a mapping", "a list", "null", "true", "the string 'x'", "1.5" for type errors. */
static const char *describe(const json_t *v, char *buf, size_t size) {
  if (json_is_object(v)) return "a mapping";
  if (json_is_array(v)) return "a list";
  if (json_is_null(v)) return "null";
  if (json_is_true(v)) return "true";
  if (json_is_false(v)) return "false";
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    snprintf(buf, size, "the string '%.40s%s'", s, strlen(s) > 40 ? "..." : "");
  } else if (json_is_integer(v)) {
    snprintf(buf, size, "%lld", (long long)json_integer_value(v));
  } else {
    snprintf(buf, size, "%g", json_number_value(v));
  }
  return buf;
}

/* The index of name among choices ("a|b|c"), or -1; *expected gets "a, b or c". */
static int choice_index(const char *choices, const char *name, char *expected, size_t size) {
  int found = -1, i = 0, n = 1;
  for (const char *c = choices; *c; c++) n += *c == '|';
  size_t k = 0;
  expected[0] = 0;
  for (const char *c = choices; i < n; i++) {
    size_t len = strcspn(c, "|");
    if (name && strlen(name) == len && !strncmp(c, name, len)) found = i;
    int w = snprintf(expected + k, k < size ? size - k : 0, "%s%.*s",
                     i == 0 ? "" : i + 1 == n ? " or " : ", ", (int)len, c);
    if (w > 0) k += (size_t)w;
    c += len + (c[len] == '|');
  }
  return found;
}

static int check_int(const json_t *v, const char *path, int min, char *errstr,
                     size_t errstr_size) {
  char buf[64];
  if (!json_is_integer(v))
    return fail(errstr, errstr_size, "%s: expected an integer, got %s", path,
                describe(v, buf, sizeof buf));
  json_int_t x = json_integer_value(v);
  if (x < min)
    return fail(errstr, errstr_size, "%s: must be %s, got %lld", path,
                min == 1 ? "positive" : "zero or more", (long long)x);
  if (x > INT_MAX)
    return fail(errstr, errstr_size, "%s: %lld is too large", path, (long long)x);
  return 0;
}

/* Checks one given value against its setting; it is then copied into the effective config. */
static int check_value(const setting *s, const json_t *v, const char *path, char *errstr,
                       size_t errstr_size) {
  char buf[64];
  switch (s->type) {
  case S_PATH:
    if (!json_is_string(v))
      return fail(errstr, errstr_size, "%s: expected a string, got %s", path,
                  describe(v, buf, sizeof buf));
    if (!json_string_length(v)) return fail(errstr, errstr_size, "%s: must not be empty", path);
    return 0;
  case S_CHOICE: {
    char expected[256];
    if (!json_is_string(v))
      return fail(errstr, errstr_size, "%s: expected a string, got %s", path,
                  describe(v, buf, sizeof buf));
    if (choice_index(s->choices, json_string_value(v), expected, sizeof expected) < 0)
      return fail(errstr, errstr_size, "%s: unknown %s '%.40s' (expected %s)", path, s->what,
                  json_string_value(v), expected);
    return 0;
  }
  case S_INT:
    return check_int(v, path, s->min, errstr, errstr_size);
  case S_FRACTION:
    if (!json_is_number(v))
      return fail(errstr, errstr_size, "%s: expected a number, got %s", path,
                  describe(v, buf, sizeof buf));
    if (json_number_value(v) < 0 || json_number_value(v) > 1)
      return fail(errstr, errstr_size, "%s: must be between 0 and 1, got %g", path,
                  json_number_value(v));
    return 0;
  case S_INT_LIST:
    if (!json_is_array(v) || json_array_size(v) == 0)
      return fail(errstr, errstr_size, "%s: expected a list of token lengths, got %s", path,
                  json_is_array(v) ? "an empty list" : describe(v, buf, sizeof buf));
    if (json_array_size(v) >= BATCHER_MAX_EDGES)
      return fail(errstr, errstr_size, "%s: at most %d token lengths", path,
                  BATCHER_MAX_EDGES - 1);
    for (size_t i = 0; i < json_array_size(v); i++) {
      char item[160];
      snprintf(item, sizeof item, "%s[%zu]", path, i);
      if (check_int(json_array_get(v, i), item, s->min, errstr, errstr_size)) return -1;
      if (i > 0 && json_integer_value(json_array_get(v, i)) <=
                       json_integer_value(json_array_get(v, i - 1)))
        return fail(errstr, errstr_size, "%s: buckets must increase: %lld follows %lld", item,
                    (long long)json_integer_value(json_array_get(v, i)),
                    (long long)json_integer_value(json_array_get(v, i - 1)));
    }
    return 0;
  }
  return fail(errstr, errstr_size, "%s: unchecked setting", path);
}

static const setting *find_setting(const char *section, const char *key) {
  for (size_t i = 0; i < N_SETTINGS; i++)
    if (!strcmp(SETTINGS[i].section, section) && !strcmp(SETTINGS[i].key, key))
      return &SETTINGS[i];
  return NULL;
}

/* Copies the given keys of one section into eff, checked; unknown keys are errors. */
static int take_section(json_t *given, const char *section, json_t *eff, char *errstr,
                        size_t errstr_size) {
  char buf[64];
  if (!given || json_is_null(given)) return 0;
  if (!json_is_object(given))
    return fail(errstr, errstr_size, "%s: expected a mapping, got %s", section,
                describe(given, buf, sizeof buf));
  const char *key;
  json_t *v;
  json_object_foreach(given, key, v) {
    char path[128];
    snprintf(path, sizeof path, "%s.%s", section, key);
    const setting *s = find_setting(section, key);
    if (!s) return fail(errstr, errstr_size, "%s: unknown key '%s'", section, key);
    if (json_is_null(v) && s->dflt) continue; /* null takes the default */
    if (check_value(s, v, path, errstr, errstr_size)) return -1;
    json_object_set(json_object_get(eff, section), key, v);
  }
  return 0;
}

/* The settings that follow from others, and the checks across settings. */
static int derive(json_t *eff, char *errstr, size_t errstr_size) {
  json_t *m = json_object_get(eff, "model"), *b = json_object_get(eff, "batching");
  const int max = (int)json_integer_value(json_object_get(m, "max_length"));
  const char *task = json_string_value(json_object_get(m, "task"));
  if (!json_is_null(json_object_get(m, "threshold")) && strcmp(task, "classify") &&
      strcmp(task, "joint"))
    return fail(errstr, errstr_size,
                "model.threshold: threshold applies to tasks joint and classify only");
  if (!json_is_null(json_object_get(m, "min_agreement"))) {
    if (strcmp(task, "classify") && strcmp(task, "joint"))
      return fail(errstr, errstr_size,
                  "model.min_agreement: min_agreement applies to tasks joint and classify only");
    if (json_is_null(json_object_get(m, "calibration")))
      return fail(errstr, errstr_size,
                  "model.min_agreement: needs model.calibration, a JSONL file of texts");
  }
  json_t *buckets = json_object_get(b, "buckets");
  if (json_is_null(buckets)) {
    buckets = json_array();
    for (int e = SMALLEST_BUCKET; e < max; e *= 2) json_array_append_new(buckets, json_integer(e));
    json_array_append_new(buckets, json_integer(max));
    json_object_set_new(b, "buckets", buckets);
  } else {
    for (size_t i = 0; i < json_array_size(buckets); i++)
      if (json_integer_value(json_array_get(buckets, i)) > max)
        return fail(errstr, errstr_size,
                    "batching.buckets[%zu]: bucket %lld is longer than model.max_length %d", i,
                    (long long)json_integer_value(json_array_get(buckets, i)), max);
    /* every record has a bucket: max_length closes the list */
    if (json_integer_value(json_array_get(buckets, json_array_size(buckets) - 1)) < max) {
      json_t *grown = json_copy(buckets);
      json_array_append_new(grown, json_integer(max));
      json_object_set_new(b, "buckets", grown);
    }
  }
  const json_int_t tokens = json_integer_value(json_object_get(b, "max_batch_tokens"));
  if (tokens < max)
    return fail(errstr, errstr_size,
                "batching.max_batch_tokens: batching.max_batch_tokens %lld is smaller than one "
                "record of model.max_length %d",
                (long long)tokens, max);
  return 0;
}

int bertd_plugin_config_effective(const char *json_text, json_t **out, char *errstr,
                                  size_t errstr_size) {
  *out = NULL;
  if (!json_text) return fail(errstr, errstr_size, "config: no JSON text");
  json_error_t je;
  json_t *root = json_loads(json_text, JSON_REJECT_DUPLICATES, &je);
  if (!root)
    return fail(errstr, errstr_size, "config: %d:%d: %s", je.line, je.column, je.text);
  json_t *eff = json_pack("{s:{},s:{}}", "model", "batching");
  int rc = 0;
  if (!eff) {
    rc = fail(errstr, errstr_size, "config: out of memory");
    goto out;
  }
  /* every key in SETTINGS' order, required ones null until given */
  for (size_t i = 0; i < N_SETTINGS && !rc; i++) {
    json_t *d = json_loads(SETTINGS[i].dflt ? SETTINGS[i].dflt : "null", JSON_DECODE_ANY, &je);
    if (!d) rc = fail(errstr, errstr_size, "config: bad default of %s", SETTINGS[i].key);
    else json_object_set_new(json_object_get(eff, SETTINGS[i].section), SETTINGS[i].key, d);
  }
  if (rc) goto out;
  if (!json_is_object(root)) {
    rc = fail(errstr, errstr_size, "config: expected an object with model and batching");
    goto out;
  }
  const char *key;
  json_t *v;
  json_object_foreach(root, key, v) {
    if (strcmp(key, "model") && strcmp(key, "batching")) {
      rc = fail(errstr, errstr_size, "config: unknown key '%s'", key);
      goto out;
    }
  }
  json_t *model = json_object_get(root, "model");
  if (!json_is_object(model)) {
    rc = fail(errstr, errstr_size, "model: required, a mapping");
    goto out;
  }
  if (take_section(model, "model", eff, errstr, errstr_size) ||
      take_section(json_object_get(root, "batching"), "batching", eff, errstr, errstr_size)) {
    rc = -1;
    goto out;
  }
  for (size_t i = 0; i < N_SETTINGS; i++)
    if (!SETTINGS[i].dflt &&
        json_is_null(json_object_get(json_object_get(eff, SETTINGS[i].section), SETTINGS[i].key))) {
      rc = fail(errstr, errstr_size, "%s: missing required key '%s'", SETTINGS[i].section,
                SETTINGS[i].key);
      goto out;
    }
  rc = derive(eff, errstr, errstr_size);
out:
  json_decref(root);
  if (rc) json_decref(eff);
  else *out = eff;
  return rc;
}

static int choice_of(const json_t *section, const char *key) {
  const setting *s = NULL;
  for (size_t i = 0; i < N_SETTINGS && !s; i++)
    if (!strcmp(SETTINGS[i].key, key)) s = &SETTINGS[i];
  char expected[256];
  return choice_index(s->choices, json_string_value(json_object_get(section, key)), expected,
                      sizeof expected);
}

static int int_of(const json_t *section, const char *key, int when_null) {
  const json_t *v = json_object_get(section, key);
  return json_is_null(v) ? when_null : (int)json_integer_value(v);
}

int bertd_plugin_config_parse(const char *json_text, plugin_config *c, char *errstr,
                              size_t errstr_size) {
  memset(c, 0, sizeof *c);
  json_t *eff;
  if (bertd_plugin_config_effective(json_text, &eff, errstr, errstr_size)) return -1;
  const json_t *m = json_object_get(eff, "model"), *b = json_object_get(eff, "batching");
  c->model_dir = strdup(json_string_value(json_object_get(m, "dir")));
  if (bertd_enrich_task_parse(json_string_value(json_object_get(m, "task")), &c->enrich.task)) {
    json_decref(eff);
    free(c->model_dir);
    return fail(errstr, errstr_size, "model.task: not a task of this build");
  }
  static const bertd_truncation TRUNC[] = {BERTD_TRUNC_LONGEST_FIRST, BERTD_TRUNC_ONLY_FIRST,
                                           BERTD_TRUNC_ONLY_SECOND};
  c->enrich.max_length = int_of(m, "max_length", 0);
  c->enrich.truncation = TRUNC[choice_of(m, "truncation")];
  c->enrich.top_k = int_of(m, "top_k", 0);
  if (!json_is_null(json_object_get(m, "threshold"))) {
    c->enrich.has_threshold = 1;
    c->enrich.threshold = (float)json_number_value(json_object_get(m, "threshold"));
  }
  c->enrich.max_answer_tokens = int_of(m, "max_answer_tokens", 0);
  c->enrich.tag_decoding =
      choice_of(m, "tag_decoding") == 1 ? BERTD_TAG_DECODE_ARGMAX : BERTD_TAG_DECODE_BIO;
  c->enrich.threads = int_of(m, "threads", 0);
  c->precision = (bertd_precision)choice_of(m, "precision");
  if (!json_is_null(json_object_get(m, "min_agreement"))) {
    c->min_agreement = json_number_value(json_object_get(m, "min_agreement"));
    c->calibration = strdup(json_string_value(json_object_get(m, "calibration")));
  }
  const int too_long = choice_of(m, "on_too_long");
  c->too_long_dead_letter = too_long == 1;
  c->enrich.window = too_long == 2;
  c->enrich.window_stride = int_of(m, "window_stride", -1);
  c->enrich.window_combine =
      choice_of(m, "window_combine") == 1 ? WINDOW_COMBINE_MAX : WINDOW_COMBINE_MEAN;
  c->max_batch_tokens = int_of(b, "max_batch_tokens", 0);
  c->max_batch_records = int_of(b, "max_batch_records", 0);
  c->max_wait_ms = int_of(b, "max_wait_ms", 0);
  const json_t *buckets = json_object_get(b, "buckets");
  c->n_buckets = (int)json_array_size(buckets);
  for (int i = 0; i < c->n_buckets; i++)
    c->buckets[i] = (int)json_integer_value(json_array_get(buckets, (size_t)i));
  json_decref(eff);
  if (!c->model_dir) return fail(errstr, errstr_size, "config: out of memory");
  return 0;
}

void bertd_plugin_config_free(plugin_config *c) {
  free(c->model_dir);
  c->model_dir = NULL;
  free(c->calibration);
  c->calibration = NULL;
}
