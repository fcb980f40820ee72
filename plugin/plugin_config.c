/* plugin_config.c: JSON text -> plugin_config, strict: an unknown key or a wrong type is an
 * error naming the key, as the daemon's YAML loader does, so a typo in a pipeline's config
 * cannot silently fall back to a default. */
#include "plugin_config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int DEFAULT_BUCKETS[] = {16, 32, 64, 128, 256, 512};

static void set_defaults(plugin_config *c) {
  memset(c, 0, sizeof *c);
  c->enrich.task = BERTD_ENRICH_EMBED;
  c->enrich.truncation = BERTD_TRUNC_LONGEST_FIRST;
  c->enrich.max_answer_tokens = 15;
  c->enrich.window_stride = -1; /* max_length / 4 */
  c->max_batch_tokens = 8192;
  c->max_batch_records = 64;
  c->max_wait_ms = 5;
  c->n_buckets = (int)(sizeof DEFAULT_BUCKETS / sizeof *DEFAULT_BUCKETS);
  memcpy(c->buckets, DEFAULT_BUCKETS, sizeof DEFAULT_BUCKETS);
}

/* Each parse step reports the key's dotted path, e.g. "model.top_k: expected an integer". */
static int get_int(json_t *v, const char *path, int min, int *out, char *errstr,
                   size_t errstr_size) {
  if (json_is_null(v)) return 0;
  if (!json_is_integer(v)) {
    snprintf(errstr, errstr_size, "%s: expected an integer", path);
    return -1;
  }
  json_int_t x = json_integer_value(v);
  if (x < min || x > 1000000000) {
    snprintf(errstr, errstr_size, "%s: %lld is out of range (%d..1000000000)", path,
             (long long)x, min);
    return -1;
  }
  *out = (int)x;
  return 0;
}

/* *out = the index of v's string in names, or leaves it when v is null. */
static int get_choice(json_t *v, const char *path, const char *const *names, int n, int *out,
                      char *errstr, size_t errstr_size) {
  if (json_is_null(v)) return 0;
  if (json_is_string(v))
    for (int i = 0; i < n; i++)
      if (!strcmp(json_string_value(v), names[i])) {
        *out = i;
        return 0;
      }
  int k = snprintf(errstr, errstr_size, "%s: expected one of", path);
  for (int i = 0; i < n && k >= 0 && (size_t)k < errstr_size; i++)
    k += snprintf(errstr + k, errstr_size - (size_t)k, "%s %s", i ? "," : "", names[i]);
  return -1;
}

static int parse_model(json_t *m, plugin_config *c, char *errstr, size_t errstr_size) {
  static const char *const TASKS[] = {"tokenize", "classify", "tag",       "joint",
                                      "qa",       "embed",    "fill-mask", "nsp"};
  static const char *const TRUNC[] = {"longest_first", "only_first", "only_second"};
  static const char *const TOO_LONG[] = {"truncate", "dead_letter", "window"};
  static const char *const COMBINE[] = {"mean", "max"};
  static const char *const TAG_DECODING[] = {"bio", "argmax"};
  const char *key;
  json_t *v;
  int have_task = 0;
  json_object_foreach(m, key, v) {
    char path[128];
    snprintf(path, sizeof path, "model.%s", key);
    int rc = 0;
    if (!strcmp(key, "dir")) {
      if (!json_is_string(v) || !json_string_length(v)) {
        snprintf(errstr, errstr_size, "%s: expected a directory name", path);
        return -1;
      }
      free(c->model_dir);
      if (!(c->model_dir = strdup(json_string_value(v)))) {
        snprintf(errstr, errstr_size, "config: out of memory");
        return -1;
      }
    } else if (!strcmp(key, "task")) {
      int t = -1;
      rc = get_choice(v, path, TASKS, 8, &t, errstr, errstr_size);
      /* TASKS follows bertd_enrich_task's order; parse by name anyway to stay in step */
      if (!rc && t >= 0) {
        have_task = 1;
        rc = bertd_enrich_task_parse(TASKS[t], &c->enrich.task);
      }
    } else if (!strcmp(key, "max_length")) {
      rc = get_int(v, path, 0, &c->enrich.max_length, errstr, errstr_size);
    } else if (!strcmp(key, "truncation")) {
      int t = (int)c->enrich.truncation;
      rc = get_choice(v, path, TRUNC, 3, &t, errstr, errstr_size);
      c->enrich.truncation = t == 0   ? BERTD_TRUNC_LONGEST_FIRST
                             : t == 1 ? BERTD_TRUNC_ONLY_FIRST
                                      : BERTD_TRUNC_ONLY_SECOND;
    } else if (!strcmp(key, "top_k")) {
      rc = get_int(v, path, 0, &c->enrich.top_k, errstr, errstr_size);
    } else if (!strcmp(key, "threshold")) {
      if (json_is_null(v)) continue;
      if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1) {
        snprintf(errstr, errstr_size, "%s: expected a number from 0 to 1", path);
        return -1;
      }
      c->enrich.has_threshold = 1;
      c->enrich.threshold = (float)json_number_value(v);
    } else if (!strcmp(key, "max_answer_tokens")) {
      rc = get_int(v, path, 1, &c->enrich.max_answer_tokens, errstr, errstr_size);
    } else if (!strcmp(key, "tag_decoding")) {
      int d = (int)c->enrich.tag_decoding;
      rc = get_choice(v, path, TAG_DECODING, 2, &d, errstr, errstr_size);
      c->enrich.tag_decoding = d == 1 ? BERTD_TAG_DECODE_ARGMAX : BERTD_TAG_DECODE_BIO;
    } else if (!strcmp(key, "precision")) {
      if (!json_is_string(v) || bertd_precision_parse(json_string_value(v), &c->precision)) {
        snprintf(errstr, errstr_size, "%s: expected fp32, bf16 or int8", path);
        return -1;
      }
    } else if (!strcmp(key, "threads")) {
      rc = get_int(v, path, 1, &c->enrich.threads, errstr, errstr_size);
    } else if (!strcmp(key, "on_too_long")) {
      int t = c->too_long_dead_letter ? 1 : c->enrich.window ? 2 : 0;
      rc = get_choice(v, path, TOO_LONG, 3, &t, errstr, errstr_size);
      c->too_long_dead_letter = t == 1;
      c->enrich.window = t == 2;
    } else if (!strcmp(key, "window_stride")) {
      rc = get_int(v, path, 0, &c->enrich.window_stride, errstr, errstr_size);
    } else if (!strcmp(key, "window_combine")) {
      int t = (int)c->enrich.window_combine;
      rc = get_choice(v, path, COMBINE, 2, &t, errstr, errstr_size);
      c->enrich.window_combine = t == 1 ? WINDOW_COMBINE_MAX : WINDOW_COMBINE_MEAN;
    } else {
      snprintf(errstr, errstr_size, "%s: unknown key", path);
      return -1;
    }
    if (rc) return -1;
  }
  if (!c->model_dir) {
    snprintf(errstr, errstr_size, "model.dir: required");
    return -1;
  }
  if (!have_task) {
    snprintf(errstr, errstr_size, "model.task: required");
    return -1;
  }
  return 0;
}

static int parse_batching(json_t *b, plugin_config *c, char *errstr, size_t errstr_size) {
  const char *key;
  json_t *v;
  json_object_foreach(b, key, v) {
    char path[128];
    snprintf(path, sizeof path, "batching.%s", key);
    int rc = 0;
    if (!strcmp(key, "max_batch_tokens")) {
      rc = get_int(v, path, 1, &c->max_batch_tokens, errstr, errstr_size);
    } else if (!strcmp(key, "max_batch_records")) {
      rc = get_int(v, path, 1, &c->max_batch_records, errstr, errstr_size);
    } else if (!strcmp(key, "max_wait_ms")) {
      rc = get_int(v, path, 0, &c->max_wait_ms, errstr, errstr_size);
    } else if (!strcmp(key, "buckets")) {
      if (json_is_null(v)) continue;
      if (!json_is_array(v) || json_array_size(v) > BATCHER_MAX_EDGES) {
        snprintf(errstr, errstr_size, "%s: expected a list of at most %d token lengths", path,
                 BATCHER_MAX_EDGES);
        return -1;
      }
      c->n_buckets = (int)json_array_size(v);
      for (int i = 0; i < c->n_buckets; i++) {
        char ipath[160];
        snprintf(ipath, sizeof ipath, "%s[%d]", path, i);
        if (get_int(json_array_get(v, (size_t)i), ipath, 1, &c->buckets[i], errstr,
                    errstr_size))
          return -1;
        if (i > 0 && c->buckets[i] <= c->buckets[i - 1]) {
          snprintf(errstr, errstr_size, "%s: %d is not above the edge before it (%d)", ipath,
                   c->buckets[i], c->buckets[i - 1]);
          return -1;
        }
      }
    } else {
      snprintf(errstr, errstr_size, "%s: unknown key", path);
      return -1;
    }
    if (rc) return -1;
  }
  return 0;
}

int bertd_plugin_config_parse(const char *json_text, plugin_config *c, char *errstr,
                        size_t errstr_size) {
  set_defaults(c);
  if (!json_text) {
    snprintf(errstr, errstr_size, "config: no JSON text");
    return -1;
  }
  json_error_t je;
  json_t *root = json_loads(json_text, JSON_REJECT_DUPLICATES, &je);
  if (!root) {
    snprintf(errstr, errstr_size, "config: %d:%d: %s", je.line, je.column, je.text);
    return -1;
  }
  int rc = 0;
  const char *key;
  json_t *v;
  if (!json_is_object(root)) {
    snprintf(errstr, errstr_size, "config: expected an object with model and batching");
    rc = -1;
  }
  json_t *model = json_object_get(root, "model");
  if (!rc && !json_is_object(model)) {
    snprintf(errstr, errstr_size, "model: required, an object");
    rc = -1;
  }
  if (!rc) json_object_foreach(root, key, v) {
      if (!strcmp(key, "model")) {
        rc = parse_model(v, c, errstr, errstr_size);
      } else if (!strcmp(key, "batching")) {
        if (json_is_null(v)) continue;
        if (!json_is_object(v)) {
          snprintf(errstr, errstr_size, "batching: expected an object");
          rc = -1;
        } else {
          rc = parse_batching(v, c, errstr, errstr_size);
        }
      } else {
        snprintf(errstr, errstr_size, "%s: unknown key", key);
        rc = -1;
      }
      if (rc) break;
    }
  json_decref(root);
  if (rc) bertd_plugin_config_free(c);
  return rc;
}

void bertd_plugin_config_free(plugin_config *c) {
  free(c->model_dir);
  c->model_dir = NULL;
}
