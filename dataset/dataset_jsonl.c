/* dataset_jsonl.c: JSON Lines datasets, the format of most Hugging Face dataset exports:
 * {"text": "...", "label": "positive"} for classification, {"text": ..., "labels": [...]} for
 * multi-label, {"tokens": [...], "tags": [...]} for token tagging. */
#include "dataset_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* A label value's name: a string as it is, an integer in decimal (HF ClassLabel ids). */
static const char *label_name(json_t *v, char *buf, size_t size) {
  if (json_is_string(v)) return json_string_value(v);
  if (json_is_integer(v)) {
    snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return buf;
  }
  return NULL;
}

/* The text field: a string, or a list of strings joined by single spaces. */
static char *field_text(json_t *v) {
  if (json_is_string(v)) return strdup(json_string_value(v));
  if (!json_is_array(v)) return NULL;
  size_t n = json_array_size(v);
  char **words = malloc(sizeof(char *) * (n ? n : 1));
  if (!words) return NULL;
  for (size_t i = 0; i < n; i++) {
    json_t *w = json_array_get(v, i);
    if (!json_is_string(w)) {
      free(words);
      return NULL;
    }
    words[i] = (char *)json_string_value(w);
  }
  char *s = bertd_join_words(words, (int)n);
  free(words);
  return s;
}

static int count_words(const char *s) {
  char *copy = strdup(s);
  if (!copy) return -1;
  char *dummy[1];
  int n = bertd_split_words(copy, dummy, 0);
  free(copy);
  return n;
}

/* Fills one example from one parsed object; errors without the file:line prefix. */
static int fill(bertd_dataset *ds, bertd_example *e, json_t *obj, const bertd_jsonl_opts *o,
                char *errstr, size_t errstr_size) {
  const char *tf = o->text_field ? o->text_field : "text";
  json_t *v = json_object_get(obj, tf);
  if (!v) return DS_ERR("field '%s' missing", tf);
  if (!(e->text = field_text(v))) return DS_ERR("field '%s' is not a string or list of strings", tf);
  if (o->text_pair_field) {
    v = json_object_get(obj, o->text_pair_field);
    if (!v) return DS_ERR("field '%s' missing", o->text_pair_field);
    if (!(e->text_pair = field_text(v)))
      return DS_ERR("field '%s' is not a string or list of strings", o->text_pair_field);
  }
  char num[32], msg[256];
  if (o->label_field) {
    v = json_object_get(obj, o->label_field);
    if (!v) return DS_ERR("field '%s' missing", o->label_field);
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    e->labels = malloc(sizeof(int32_t) * (n ? n : 1));
    if (!e->labels) return DS_ERR("out of memory");
    for (size_t i = 0; i < n; i++) {
      json_t *x = json_is_array(v) ? json_array_get(v, i) : v;
      const char *name = label_name(x, num, sizeof num);
      if (!name)
        return DS_ERR("field '%s' is not a label (string or integer) or a list of labels",
                      o->label_field);
      int id = bertd_label_list_id(&ds->labels, name, &ds->unknown_labels, msg, sizeof msg);
      if (id < 0) return DS_ERR("field '%s': %s", o->label_field, msg);
      e->labels[e->n_labels++] = id;
    }
  }
  if (o->tags_field) {
    v = json_object_get(obj, o->tags_field);
    if (!v) return DS_ERR("field '%s' missing", o->tags_field);
    if (!json_is_array(v)) return DS_ERR("field '%s' is not a list", o->tags_field);
    int nw = count_words(e->text);
    if (nw < 0) return DS_ERR("out of memory");
    if ((size_t)nw != json_array_size(v))
      return DS_ERR("field '%s' has %zu tags for %d words", o->tags_field, json_array_size(v), nw);
    e->n_words = nw;
    e->tags = malloc(sizeof(int32_t) * (size_t)(nw ? nw : 1));
    if (!e->tags) return DS_ERR("out of memory");
    for (int i = 0; i < nw; i++) {
      const char *name = label_name(json_array_get(v, (size_t)i), num, sizeof num);
      if (!name) return DS_ERR("field '%s': tag %d is not a string or integer", o->tags_field, i + 1);
      int id = bertd_label_list_id(&ds->tags, name, &ds->unknown_tags, msg, sizeof msg);
      if (id < 0) return DS_ERR("field '%s': %s", o->tags_field, msg);
      e->tags[i] = id;
    }
  }
  return 0;
}

int bertd_dataset_read_jsonl(bertd_dataset *ds, const char *path, const bertd_jsonl_opts *o,
                             char *errstr, size_t errstr_size) {
  FILE *f = fopen(path, "r");
  if (!f) return DS_ERR("%s: %s", path, strerror(errno));
  char *line = NULL, msg[512];
  size_t cap = 0, lineno = 0;
  long len;
  int rc = 0;
  while (rc == 0 && (len = bertd_read_line(f, &line, &cap)) >= 0) {
    lineno++;
    size_t k = strspn(line, " \t");
    if (line[k] == 0) continue;
    json_error_t je;
    json_t *obj = json_loadb(line, (size_t)len, 0, &je);
    if (!obj) {
      rc = DS_ERR("%s:%zu: invalid JSON at column %d: %s", path, lineno, je.column, je.text);
      break;
    }
    if (!json_is_object(obj)) {
      rc = DS_ERR("%s:%zu: not a JSON object", path, lineno);
    } else {
      bertd_example *e = bertd_dataset_push(ds);
      if (!e) rc = DS_ERR("%s:%zu: out of memory", path, lineno);
      else {
        e->line = lineno;
        if (fill(ds, e, obj, o, msg, sizeof msg)) {
          rc = DS_ERR("%s:%zu: %s", path, lineno, msg);
          bertd_dataset_pop(ds);
        }
      }
    }
    json_decref(obj);
  }
  free(line);
  fclose(f);
  return rc;
}
