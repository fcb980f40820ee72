/* metrics.c: the registry and its text rendering (see metrics.h). A daemon has a few dozen
 * series, so lookups are linear scans over short arrays. */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct series {
  char *labels;
  double value;     /* counter, gauge */
  double sum;       /* histogram */
  uint64_t count;   /* histogram */
  uint64_t *bucket; /* histogram: observations <= bounds[i] (not cumulative; summed on render) */
} series;

typedef struct family {
  char *name, *help;
  bertd_metric_type type;
  double *bounds;
  int nbounds;
  series *s;
  int ns, cap;
} family;

struct bertd_metrics {
  pthread_mutex_t mu; /* recursive: bertd_metrics_lock() may be held around the other calls */
  family *f;
  int nf, cap;
};

bertd_metrics *bertd_metrics_new(void) {
  bertd_metrics *m = calloc(1, sizeof(*m));
  if (!m) return NULL;
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&m->mu, &a);
  pthread_mutexattr_destroy(&a);
  return m;
}

static void series_free(series *s) {
  free(s->labels);
  free(s->bucket);
}

void bertd_metrics_free(bertd_metrics *m) {
  if (!m) return;
  for (int i = 0; i < m->nf; i++) {
    family *f = &m->f[i];
    for (int k = 0; k < f->ns; k++) series_free(&f->s[k]);
    free(f->s);
    free(f->name);
    free(f->help);
    free(f->bounds);
  }
  free(m->f);
  pthread_mutex_destroy(&m->mu);
  free(m);
}

void bertd_metrics_lock(bertd_metrics *m) { pthread_mutex_lock(&m->mu); }
void bertd_metrics_unlock(bertd_metrics *m) { pthread_mutex_unlock(&m->mu); }

int bertd_metrics_family(bertd_metrics *m, const char *name, bertd_metric_type type,
                         const char *help, const double *bounds, int nbounds) {
  int id = -1;
  pthread_mutex_lock(&m->mu);
  if (m->nf == m->cap) {
    int cap = m->cap ? m->cap * 2 : 32;
    family *f = realloc(m->f, sizeof(*f) * (size_t)cap);
    if (!f) goto out;
    m->f = f;
    m->cap = cap;
  }
  family *f = &m->f[m->nf];
  memset(f, 0, sizeof(*f));
  f->type = type;
  f->name = strdup(name);
  f->help = strdup(help);
  if (type == BERTD_METRIC_HISTOGRAM && nbounds > 0) {
    f->bounds = malloc(sizeof(double) * (size_t)nbounds);
    if (f->bounds) memcpy(f->bounds, bounds, sizeof(double) * (size_t)nbounds);
    f->nbounds = nbounds;
  }
  if (!f->name || !f->help || (f->nbounds && !f->bounds)) {
    free(f->name);
    free(f->help);
    free(f->bounds);
    goto out;
  }
  id = m->nf++;
out:
  pthread_mutex_unlock(&m->mu);
  return id;
}

/* The series of family f with these labels, created when absent; NULL when out of memory.
 * Called with the lock held. */
static series *find(bertd_metrics *m, int family_id, const char *labels) {
  if (family_id < 0 || family_id >= m->nf) return NULL;
  family *f = &m->f[family_id];
  for (int i = 0; i < f->ns; i++)
    if (!strcmp(f->s[i].labels, labels)) return &f->s[i];
  if (f->ns == f->cap) {
    int cap = f->cap ? f->cap * 2 : 8;
    series *s = realloc(f->s, sizeof(*s) * (size_t)cap);
    if (!s) return NULL;
    f->s = s;
    f->cap = cap;
  }
  series *s = &f->s[f->ns];
  memset(s, 0, sizeof(*s));
  s->labels = strdup(labels);
  if (f->type == BERTD_METRIC_HISTOGRAM)
    s->bucket = calloc((size_t)f->nbounds + 1, sizeof(uint64_t));
  if (!s->labels || (f->type == BERTD_METRIC_HISTOGRAM && !s->bucket)) {
    series_free(s);
    return NULL;
  }
  f->ns++;
  return s;
}

int bertd_metrics_add(bertd_metrics *m, int fam, const char *labels, double v) {
  pthread_mutex_lock(&m->mu);
  series *s = find(m, fam, labels);
  if (s) s->value += v;
  pthread_mutex_unlock(&m->mu);
  return s ? 0 : -1;
}

int bertd_metrics_set(bertd_metrics *m, int fam, const char *labels, double v) {
  pthread_mutex_lock(&m->mu);
  series *s = find(m, fam, labels);
  if (s) s->value = v;
  pthread_mutex_unlock(&m->mu);
  return s ? 0 : -1;
}

int bertd_metrics_observe(bertd_metrics *m, int fam, const char *labels, double v) {
  pthread_mutex_lock(&m->mu);
  series *s = find(m, fam, labels);
  if (s) {
    const family *f = &m->f[fam];
    int b = 0;
    while (b < f->nbounds && v > f->bounds[b]) b++;
    s->bucket[b]++;
    s->count++;
    s->sum += v;
  }
  pthread_mutex_unlock(&m->mu);
  return s ? 0 : -1;
}

void bertd_metrics_clear(bertd_metrics *m, int family_id) {
  pthread_mutex_lock(&m->mu);
  if (family_id >= 0 && family_id < m->nf) {
    family *f = &m->f[family_id];
    for (int i = 0; i < f->ns; i++) series_free(&f->s[i]);
    f->ns = 0;
  }
  pthread_mutex_unlock(&m->mu);
}

char *bertd_metrics_labels(char *buf, size_t size, ...) {
  va_list ap;
  va_start(ap, size);
  size_t n = 0;
  const char *name;
  int fits = size > 0;
  while (fits && (name = va_arg(ap, const char *))) {
    const char *value = va_arg(ap, const char *);
    int w = snprintf(buf + n, size - n, "%s%s=\"", n ? "," : "", name);
    if (w < 0 || (size_t)w >= size - n) {
      fits = 0;
      break;
    }
    n += (size_t)w;
    for (const char *c = value ? value : ""; *c && fits; c++) {
      const char *esc = *c == '\\' ? "\\\\" : *c == '"' ? "\\\"" : *c == '\n' ? "\\n" : NULL;
      size_t need = esc ? 2 : 1;
      if (n + need + 1 > size) {
        fits = 0;
        break;
      }
      if (esc) memcpy(buf + n, esc, 2);
      else buf[n] = *c;
      n += need;
    }
    if (!fits || n + 2 > size) {
      fits = 0;
      break;
    }
    buf[n++] = '"';
    buf[n] = 0;
  }
  va_end(ap);
  if (!fits) n = 0;
  if (size) buf[n] = 0;
  return buf;
}

/* ---- rendering ---- */

typedef struct text {
  char *p;
  size_t len, cap;
  int oom;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
  if (t->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (w < 0) {
      t->oom = 1;
      return;
    }
    if ((size_t)w < t->cap - t->len) {
      t->len += (size_t)w;
      return;
    }
    size_t cap = (t->cap + (size_t)w + 1) * 2;
    char *p = realloc(t->p, cap);
    if (!p) {
      t->oom = 1;
      return;
    }
    t->p = p;
    t->cap = cap;
  }
}

/* Go's strconv 'g' as Prometheus writes values: shortest form that reads back the same. */
static void number(char *buf, size_t size, double v) {
  if (isinf(v)) {
    snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (isnan(v)) {
    snprintf(buf, size, "NaN");
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, size, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) return;
  }
}

/* `name{labels,extra}` or `name{extra}` or `name` */
static void series_name(text *t, const char *name, const char *suffix, const char *labels,
                        const char *extra) {
  int both = labels[0] && extra[0];
  if (!labels[0] && !extra[0]) put(t, "%s%s", name, suffix);
  else put(t, "%s%s{%s%s%s}", name, suffix, labels, both ? "," : "", extra);
}

char *bertd_metrics_render(bertd_metrics *m, size_t *len) {
  text t = {.p = malloc(4096), .cap = 4096};
  if (!t.p) return NULL;
  t.p[0] = 0;
  char num[64], le[96];
  pthread_mutex_lock(&m->mu);
  for (int i = 0; i < m->nf; i++) {
    const family *f = &m->f[i];
    static const char *const types[] = {"counter", "gauge", "histogram"};
    /* HELP text escapes only \ and newline; bertd's help strings have neither */
    put(&t, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, types[f->type]);
    for (int k = 0; k < f->ns; k++) {
      const series *s = &f->s[k];
      if (f->type != BERTD_METRIC_HISTOGRAM) {
        number(num, sizeof num, s->value);
        series_name(&t, f->name, "", s->labels, "");
        put(&t, " %s\n", num);
        continue;
      }
      uint64_t cum = 0;
      for (int b = 0; b <= f->nbounds; b++) {
        cum += s->bucket[b];
        if (b < f->nbounds) number(num, sizeof num, f->bounds[b]);
        snprintf(le, sizeof le, "le=\"%s\"", b < f->nbounds ? num : "+Inf");
        series_name(&t, f->name, "_bucket", s->labels, le);
        put(&t, " %llu\n", (unsigned long long)cum);
      }
      number(num, sizeof num, s->sum);
      series_name(&t, f->name, "_sum", s->labels, "");
      put(&t, " %s\n", num);
      series_name(&t, f->name, "_count", s->labels, "");
      put(&t, " %llu\n", (unsigned long long)s->count);
    }
  }
  pthread_mutex_unlock(&m->mu);
  if (t.oom) {
    free(t.p);
    return NULL;
  }
  *len = t.len;
  return t.p;
}
