/* dataset.c: label lists, examples, and the operations every reader's output shares (freeing,
 * sorting labels, held-out splits). */
#include "dataset_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_rng.h"

static const char *const task_names[] = {"joint", "classify", "tag"};

const char *bertd_ft_task_name(bertd_ft_task t) {
  return (unsigned)t < 3 ? task_names[t] : "?";
}

int bertd_ft_task_parse(const char *s, bertd_ft_task *t) {
  for (int i = 0; i < 3; i++)
    if (!strcmp(s, task_names[i])) {
      *t = (bertd_ft_task)i;
      return 0;
    }
  return -1;
}

/* ---- label lists ---- */

int bertd_label_list_find(const bertd_label_list *l, const char *name) {
  /* label lists are small (ATIS has 122 slot tags): a scan beats a hash table's upkeep */
  for (int i = 0; i < l->n; i++)
    if (!strcmp(l->names[i], name)) return i;
  return -1;
}

int bertd_label_list_add(bertd_label_list *l, const char *name) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    char **p = realloc(l->names, sizeof(char *) * (size_t)cap);
    if (!p) return -1;
    l->names = p, l->cap = cap;
  }
  if (!(l->names[l->n] = strdup(name))) return -1;
  return l->n++;
}

int bertd_label_list_id(bertd_label_list *l, const char *name, size_t *unknown, char *errstr,
                        size_t errstr_size) {
  int id = bertd_label_list_find(l, name);
  if (id >= 0) return id;
  if (!l->frozen) {
    id = bertd_label_list_add(l, name);
    if (id < 0) return snprintf(errstr, errstr_size, "out of memory"), -2;
    return id;
  }
  id = bertd_label_list_find(l, "UNK");
  if (id < 0) return DS_ERR("unknown label '%s'", name);
  if (unknown) (*unknown)++;
  return id;
}

int bertd_label_list_read(bertd_label_list *l, const char *path, char *errstr,
                          size_t errstr_size) {
  FILE *f = fopen(path, "r");
  if (!f) return DS_ERR("%s: %s", path, strerror(errno));
  char *line = NULL;
  size_t cap = 0, lineno = 0;
  long len;
  int rc = 0;
  while (rc == 0 && (len = bertd_read_line(f, &line, &cap)) >= 0) {
    lineno++;
    while (len > 0 && isspace((unsigned char)line[len - 1])) line[--len] = 0;
    if (len == 0) continue;
    if (bertd_label_list_find(l, line) >= 0)
      rc = DS_ERR("%s:%zu: label '%s' listed twice", path, lineno, line);
    else if (bertd_label_list_add(l, line) < 0)
      rc = DS_ERR("%s:%zu: out of memory", path, lineno);
  }
  free(line);
  fclose(f);
  if (rc == 0 && l->n == 0) rc = DS_ERR("%s: no labels", path);
  l->frozen = 1;
  return rc;
}

int bertd_label_list_copy(bertd_label_list *dst, const bertd_label_list *src) {
  bertd_label_list_free(dst);
  for (int i = 0; i < src->n; i++)
    if (bertd_label_list_add(dst, src->names[i]) < 0) return -1;
  dst->frozen = src->frozen;
  return 0;
}

void bertd_label_list_free(bertd_label_list *l) {
  for (int i = 0; i < l->n; i++) free(l->names[i]);
  free(l->names);
  memset(l, 0, sizeof *l);
}

/* ---- examples ---- */

bertd_example *bertd_dataset_push(bertd_dataset *ds) {
  if (ds->n == ds->cap) {
    size_t cap = ds->cap ? 2 * ds->cap : 256;
    bertd_example *p = realloc(ds->examples, sizeof *p * cap);
    if (!p) return NULL;
    ds->examples = p, ds->cap = cap;
  }
  bertd_example *e = &ds->examples[ds->n++];
  memset(e, 0, sizeof *e);
  return e;
}

void bertd_example_free(bertd_example *e) {
  free(e->text);
  free(e->text_pair);
  free(e->labels);
  free(e->tags);
  memset(e, 0, sizeof *e);
}

void bertd_dataset_pop(bertd_dataset *ds) {
  if (ds->n) bertd_example_free(&ds->examples[--ds->n]);
}

void bertd_dataset_free(bertd_dataset *ds) {
  for (size_t i = 0; i < ds->n; i++) bertd_example_free(&ds->examples[i]);
  free(ds->examples);
  bertd_label_list_free(&ds->labels);
  bertd_label_list_free(&ds->tags);
  memset(ds, 0, sizeof *ds);
}

long bertd_read_line(FILE *f, char **buf, size_t *cap) {
  ssize_t n = getline(buf, cap, f);
  if (n < 0) return -1;
  if (n && (*buf)[n - 1] == '\n') (*buf)[--n] = 0;
  if (n && (*buf)[n - 1] == '\r') (*buf)[--n] = 0;
  return (long)n;
}

int bertd_split_words(char *s, char **words, int max) {
  int n = 0;
  for (char *p = s;;) {
    while (*p && isspace((unsigned char)*p)) p++;
    if (!*p) break;
    if (n < max) words[n] = p;
    n++;
    while (*p && !isspace((unsigned char)*p)) p++;
    if (!*p) break;
    *p++ = 0;
  }
  return n;
}

char *bertd_join_words(char *const *words, int n) {
  size_t len = 1;
  for (int i = 0; i < n; i++) len += strlen(words[i]) + 1;
  char *s = malloc(len), *p = s;
  if (!s) return NULL;
  for (int i = 0; i < n; i++) {
    size_t k = strlen(words[i]);
    if (i) *p++ = ' ';
    memcpy(p, words[i], k);
    p += k;
  }
  *p = 0;
  return s;
}

/* ---- sorting labels ---- */

typedef struct named {
  const char *name;
  int old;
} named;

static int cmp_named(const void *a, const void *b) {
  return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

int bertd_dataset_sort_labels(bertd_dataset *ds, char which, char *errstr, size_t errstr_size) {
  bertd_label_list *l = which == 't' ? &ds->tags : &ds->labels;
  if (l->n == 0) return 0;
  named *v = malloc(sizeof *v * (size_t)l->n);
  int32_t *remap = malloc(sizeof *remap * (size_t)l->n);
  char **names = malloc(sizeof *names * (size_t)l->n);
  if (!v || !remap || !names) {
    free(v), free(remap), free(names);
    return DS_ERR("dataset: out of memory sorting %d labels", l->n);
  }
  for (int i = 0; i < l->n; i++) v[i] = (named){l->names[i], i};
  qsort(v, (size_t)l->n, sizeof *v, cmp_named);
  for (int i = 0; i < l->n; i++) {
    remap[v[i].old] = i;
    names[i] = l->names[v[i].old];
  }
  free(l->names);
  l->names = names, l->cap = l->n;
  for (size_t e = 0; e < ds->n; e++) {
    bertd_example *x = &ds->examples[e];
    if (which == 't')
      for (int k = 0; x->tags && k < x->n_words; k++) x->tags[k] = remap[x->tags[k]];
    else
      for (int k = 0; k < x->n_labels; k++) x->labels[k] = remap[x->labels[k]];
  }
  free(v);
  free(remap);
  return 0;
}

/* ---- held-out split ---- */

int bertd_dataset_split(bertd_dataset *ds, bertd_dataset *heldout, size_t n_heldout,
                        bertd_split_mode mode, uint64_t seed, char *errstr, size_t errstr_size) {
  if (n_heldout > ds->n)
    return DS_ERR("dataset: cannot hold out %zu of %zu examples", n_heldout, ds->n);
  bertd_dataset_free(heldout);
  if (bertd_label_list_copy(&heldout->labels, &ds->labels) ||
      bertd_label_list_copy(&heldout->tags, &ds->tags))
    goto oom;
  uint8_t *out = calloc(ds->n ? ds->n : 1, 1);
  if (!out) goto oom;
  if (mode == BERTD_SPLIT_LAST || mode == BERTD_SPLIT_FIRST) {
    size_t from = mode == BERTD_SPLIT_LAST ? ds->n - n_heldout : 0;
    memset(out + from, 1, n_heldout);
  } else {
    size_t *perm = malloc(sizeof *perm * (ds->n ? ds->n : 1));
    if (!perm) {
      free(out);
      goto oom;
    }
    for (size_t i = 0; i < ds->n; i++) perm[i] = i;
    bertd_rng rng;
    bertd_rng_seed(&rng, seed);
    bertd_rng_shuffle(&rng, perm, ds->n);
    for (size_t i = 0; i < n_heldout; i++) out[perm[i]] = 1;
    free(perm);
  }
  heldout->examples = malloc(sizeof(bertd_example) * (n_heldout ? n_heldout : 1));
  if (!heldout->examples) {
    free(out);
    goto oom;
  }
  heldout->cap = n_heldout ? n_heldout : 1;
  /* move, keeping the source order on both sides */
  size_t kept = 0;
  for (size_t i = 0; i < ds->n; i++) {
    if (out[i]) heldout->examples[heldout->n++] = ds->examples[i];
    else ds->examples[kept++] = ds->examples[i];
  }
  ds->n = kept;
  free(out);
  return 0;
oom:
  bertd_dataset_free(heldout);
  return DS_ERR("dataset: out of memory splitting %zu examples", ds->n);
}
