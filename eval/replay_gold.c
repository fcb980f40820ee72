/* replay_gold.c: gold labels from record fields or a side JSONL file, the label and tag tables,
 * and a model's result object read as a prediction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay_internal.h"

/* ---- names ---- */

int bertd_rp_names_find(const rp_names *t, const char *name) {
  for (int i = 0; i < t->n; i++)
    if (!strcmp(t->v[i], name)) return i;
  return -1;
}

int bertd_rp_names_intern(rp_names *t, const char *name) {
  int i = bertd_rp_names_find(t, name);
  if (i >= 0) return i;
  if (t->frozen) return -1;
  if (t->n == t->cap) {
    int cap = t->cap ? 2 * t->cap : 16;
    char **v = realloc(t->v, sizeof(char *) * (size_t)cap);
    if (!v) return -2;
    t->v = v, t->cap = cap;
  }
  if (!(t->v[t->n] = strdup(name))) return -2;
  return t->n++;
}

void bertd_rp_names_free(rp_names *t) {
  for (int i = 0; i < t->n; i++) free(t->v[i]);
  free(t->v);
  memset(t, 0, sizeof *t);
}

/* ---- the gold file ---- */

typedef struct gold_line {
  char *key;
  json_t *obj;
} gold_line;

struct rp_gold_file {
  gold_line *v;
  size_t n;
};

static int cmp_line(const void *a, const void *b) {
  return strcmp(((const gold_line *)a)->key, ((const gold_line *)b)->key);
}

/* A JSON scalar as the text a key is matched by. */
static int key_text(const json_t *v, char *buf, size_t size) {
  v = bertd_rp_unwrap(v);
  if (json_is_string(v)) snprintf(buf, size, "%s", json_string_value(v));
  else if (json_is_integer(v)) snprintf(buf, size, "%lld", (long long)json_integer_value(v));
  else return -1;
  return 0;
}

int bertd_rp_gold_file_load(const char *path, const char *key_field, rp_gold_file **out,
                      char *errstr, size_t errstr_size) {
  *out = NULL;
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(errstr, errstr_size, "--gold-file %s: cannot open", path);
    return -1;
  }
  rp_gold_file *g = calloc(1, sizeof *g);
  size_t cap = 0, lineno = 0;
  char *line = NULL;
  size_t lcap = 0;
  ssize_t len;
  const char *kf = key_field ? key_field : "key";
  int rc = -1;
  if (!g) goto oom;
  while ((len = getline(&line, &lcap, f)) >= 0) {
    lineno++;
    if (len == 0 || strspn(line, " \t\r\n") == (size_t)len) continue;
    json_error_t je;
    json_t *o = json_loadb(line, (size_t)len, 0, &je);
    char key[1024];
    if (!o || !json_is_object(o)) {
      snprintf(errstr, errstr_size, "%s:%zu: not a JSON object%s%s", path, lineno, o ? "" : ": ",
               o ? "" : je.text);
      json_decref(o);
      goto done;
    }
    if (key_text(json_object_get(o, kf), key, sizeof key)) {
      snprintf(errstr, errstr_size, "%s:%zu: no string or integer field '%s'", path, lineno, kf);
      json_decref(o);
      goto done;
    }
    if (g->n == cap) {
      cap = cap ? 2 * cap : 256;
      gold_line *v = realloc(g->v, sizeof *v * cap);
      if (!v) {
        json_decref(o);
        goto oom;
      }
      g->v = v;
    }
    g->v[g->n].key = strdup(key);
    g->v[g->n++].obj = o;
    if (!g->v[g->n - 1].key) goto oom;
  }
  qsort(g->v, g->n, sizeof *g->v, cmp_line);
  for (size_t i = 1; i < g->n; i++)
    if (!strcmp(g->v[i].key, g->v[i - 1].key)) {
      snprintf(errstr, errstr_size, "%s: key '%s' appears twice", path, g->v[i].key);
      goto done;
    }
  rc = 0;
  goto done;
oom:
  snprintf(errstr, errstr_size, "%s: out of memory", path);
done:
  free(line);
  fclose(f);
  if (rc) bertd_rp_gold_file_free(g);
  else *out = g;
  return rc;
}

const json_t *bertd_rp_gold_file_find(const rp_gold_file *g, const char *key) {
  gold_line k = {(char *)key, NULL};
  const gold_line *hit = g->n ? bsearch(&k, g->v, g->n, sizeof *g->v, cmp_line) : NULL;
  return hit ? hit->obj : NULL;
}

void bertd_rp_gold_file_free(rp_gold_file *g) {
  if (!g) return;
  for (size_t i = 0; i < g->n; i++) {
    free(g->v[i].key);
    json_decref(g->v[i].obj);
  }
  free(g->v);
  free(g);
}

/* ---- gold from a record ---- */

const json_t *bertd_rp_unwrap(const json_t *v) {
  if (json_is_object(v) && json_object_size(v) == 1) {
    const char *k = json_object_iter_key(json_object_iter((json_t *)v));
    if (strchr(k, '.') || !strcmp(k, "string") || !strcmp(k, "int") || !strcmp(k, "long") ||
        !strcmp(k, "float") || !strcmp(k, "double") || !strcmp(k, "array") ||
        !strcmp(k, "boolean"))
      return json_object_iter_value(json_object_iter((json_t *)v));
  }
  return v;
}

static void bad_gold(rp_ctx *c, rp_rec *r, const char *fmt, const char *a, const char *b) {
  char msg[512];
  snprintf(msg, sizeof msg, fmt, a, b);
  r->gold_state = RP_GOLD_BAD;
  json_array_append_new(c->bad_gold, json_pack("{s:i, s:I, s:s}", "partition", (int)r->partition,
                                               "offset", (json_int_t)r->offset, "error", msg));
}

/* Counts a gold name the model does not know. Returns the id it is scored as (--unknown-gold-as
 * in table t), or -1: the record is not scored. */
static int unknown_gold(rp_ctx *c, rp_rec *r, const char *name, const rp_names *t) {
  c->n_unknown_gold++;
  json_t *n = json_object_get(c->unknown_gold, name);
  json_object_set_new(c->unknown_gold, name,
                      json_integer(n ? json_integer_value(n) + 1 : 1));
  int as = c->o->unknown_gold_as ? bertd_rp_names_find(t, c->o->unknown_gold_as) : -1;
  if (as >= 0) return as;
  r->gold_state = RP_GOLD_UNKNOWN;
  free(r->gold_name);
  r->gold_name = strdup(name);
  return -1;
}

/* Whitespace words of text with their character (code point) spans [start, end). */
static int words_of(const char *text, int **starts, int **ends) {
  int n = 0, cap = 16, ch = 0, in = 0;
  *starts = malloc(sizeof(int) * (size_t)cap);
  *ends = malloc(sizeof(int) * (size_t)cap);
  if (!*starts || !*ends) return -1;
  for (const unsigned char *p = (const unsigned char *)text;; p++) {
    int end = *p == 0;
    if (!end && (*p & 0xC0) == 0x80) continue; /* a continuation byte: same character */
    int space = end || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' ||
                *p == '\v';
    if (space && in) (*ends)[n - 1] = ch, in = 0;
    else if (!space && !in) {
      if (n == cap) {
        cap *= 2;
        int *s = realloc(*starts, sizeof(int) * (size_t)cap), *e;
        if (!s) return -1;
        *starts = s;
        if (!(e = realloc(*ends, sizeof(int) * (size_t)cap))) return -1;
        *ends = e;
      }
      (*starts)[n++] = ch, in = 1;
    }
    if (end) break;
    ch++;
  }
  return n;
}

/* Gold slots: "O B-x I-x" (a tag per word) or [{"start", "end", "label"}] (character spans,
 * end exclusive, as bertd's slots), given as an array or as a string holding one. A word gets
 * the span's label when it lies inside it: B- on the span's first word, I- on the rest. */
static int gold_slots(rp_ctx *c, rp_rec *r, const json_t *v) {
  json_t *parsed = NULL;
  const json_t *spans = NULL;
  v = bertd_rp_unwrap(v);
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    s += strspn(s, " \t");
    if (*s == '[') {
      json_error_t je;
      if (!(parsed = json_loads(s, 0, &je))) {
        bad_gold(c, r, "gold slots: not a JSON array of spans: %s%s", je.text, "");
        return -1;
      }
      spans = parsed;
    }
  } else if (json_is_array(v)) {
    spans = v;
  } else {
    bad_gold(c, r, "gold slots: expected a string of tags or an array of spans%s%s", "", "");
    return -1;
  }
  int *ws = NULL, *we = NULL, rc = -1;
  int n = words_of(r->text, &ws, &we);
  if (n < 0) goto done;
  r->gold_tags = calloc((size_t)n + 1, sizeof(int32_t));
  r->n_gold_tags = n;
  if (!r->gold_tags) goto done;
  char tag[512];
  if (!spans) {
    /* a tag per word */
    char *copy = strdup(json_string_value(v)), *save = NULL;
    int k = 0;
    for (char *t = strtok_r(copy, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
      if (k < n) {
        int id = bertd_rp_names_intern(&c->tags, t);
        if (id == -1) id = unknown_gold(c, r, t, &c->tags);
        if (id < 0) {
          free(copy);
          goto done;
        }
        r->gold_tags[k] = id;
      }
      k++;
    }
    free(copy);
    if (k != n) {
      char a[32], b[32];
      snprintf(a, sizeof a, "%d", k), snprintf(b, sizeof b, "%d", n);
      bad_gold(c, r, "gold slots: %s tags for %s words", a, b);
      goto done;
    }
  } else {
    int o = bertd_rp_names_intern(&c->tags, "O");
    if (o < 0) {
      bad_gold(c, r, "gold slots: the model's tags have no 'O'%s%s", "", "");
      goto done;
    }
    for (int i = 0; i < n; i++) r->gold_tags[i] = o;
    size_t k;
    const json_t *sp;
    json_array_foreach(spans, k, sp) {
      const json_t *js = json_object_get(sp, "start"), *je = json_object_get(sp, "end"),
                   *jl = bertd_rp_unwrap(json_object_get(sp, "label"));
      if (!json_is_integer(js) || !json_is_integer(je) || !json_is_string(jl)) {
        bad_gold(c, r, "gold slots: span %s needs integer start, end and a string label%s",
                 "", "");
        goto done;
      }
      int s = (int)json_integer_value(js), e = (int)json_integer_value(je), first = 1;
      for (int i = 0; i < n; i++) {
        if (ws[i] < s || we[i] > e) continue;
        snprintf(tag, sizeof tag, "%s-%s", first ? "B" : "I", json_string_value(jl));
        int id = bertd_rp_names_intern(&c->tags, tag);
        if (id == -1) id = unknown_gold(c, r, tag, &c->tags);
        if (id < 0) goto done;
        r->gold_tags[i] = id, first = 0;
      }
    }
  }
  r->has_gold_tags = 1;
  rc = 0;
done:
  if (rc) {
    free(r->gold_tags);
    r->gold_tags = NULL, r->n_gold_tags = 0;
  }
  free(ws);
  free(we);
  json_decref(parsed);
  return rc;
}

static const char *label_text(const json_t *v, char *buf, size_t size) {
  v = bertd_rp_unwrap(v);
  if (json_is_null(v) || !v) return NULL;
  if (key_text(v, buf, size)) return NULL;
  return buf;
}

int bertd_rp_gold_from(rp_ctx *c, rp_rec *r, const json_t *src) {
  const bertd_replay_opts *o = c->o;
  const char *lf = c->task == RP_TASK_JOINT ? o->gold_intent : o->gold_label;
  char buf[1024];
  int any = 0;
  if (lf) {
    const json_t *v = json_object_get(src, lf);
    const char *name = label_text(v, buf, sizeof buf);
    if (v && !name && !json_is_null(bertd_rp_unwrap(v))) {
      bad_gold(c, r, "gold field '%s': not a string%s", lf, "");
      return 0;
    }
    if (name) {
      int id = bertd_rp_names_intern(&c->labels, name);
      if (id == -2) return -1;
      if (id == -1 && (id = unknown_gold(c, r, name, &c->labels)) < 0) return 0;
      r->gold = id;
      any = 1;
    }
  }
  if (o->gold_slots && (c->task == RP_TASK_JOINT || c->task == RP_TASK_TAG)) {
    const json_t *v = json_object_get(src, o->gold_slots);
    if (v && !json_is_null(bertd_rp_unwrap(v))) {
      if (gold_slots(c, r, v)) return 0;
      any = 1;
    }
  }
  /* joint: an intent without slots still counts for the intent metrics */
  if (any) r->gold_state = RP_GOLD_OK;
  return 0;
}

/* ---- predictions ---- */

int bertd_rp_pred_from_result(rp_ctx *c, rp_pred *p, const json_t *res, char *errstr,
                        size_t errstr_size) {
  p->label = -1, p->conf = 0;
  if (c->task == RP_TASK_CLASSIFY) {
    const json_t *ls = json_object_get(res, "labels"), *top = json_array_get(ls, 0);
    const json_t *l = json_object_get(top, "label");
    if (json_is_string(l)) {
      int id = bertd_rp_names_intern(&c->labels, json_string_value(l));
      if (id < 0) {
        snprintf(errstr, errstr_size, "the model's label '%s' is not among its labels",
                 json_string_value(l));
        return -1;
      }
      p->label = id;
      p->conf = (float)json_number_value(json_object_get(top, "score"));
    }
  } else if (c->task == RP_TASK_JOINT) {
    const json_t *in = bertd_rp_unwrap(json_object_get(res, "intent"));
    const json_t *l = json_object_get(in, "label");
    if (json_is_string(l)) {
      int id = bertd_rp_names_intern(&c->labels, json_string_value(l));
      if (id < 0) {
        snprintf(errstr, errstr_size, "the model's intent '%s' is not among its intents",
                 json_string_value(l));
        return -1;
      }
      p->label = id;
      p->conf = (float)json_number_value(json_object_get(in, "score"));
    }
  }
  if (c->task == RP_TASK_JOINT || c->task == RP_TASK_TAG) {
    const json_t *tags = json_object_get(res, "tags"), *t;
    size_t n = json_array_size(tags), i;
    p->tags = calloc(n + 1, sizeof(int32_t));
    if (!p->tags) {
      snprintf(errstr, errstr_size, "out of memory");
      return -1;
    }
    p->n_tags = (int)n;
    json_array_foreach(tags, i, t) {
      int id = json_is_string(t) ? bertd_rp_names_intern(&c->tags, json_string_value(t)) : -1;
      if (id < 0) {
        snprintf(errstr, errstr_size, "the model's tag %zu is not among its tags", i);
        return -1;
      }
      p->tags[i] = id;
    }
  }
  return 0;
}
