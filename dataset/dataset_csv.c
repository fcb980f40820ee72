/* dataset_csv.c: CSV datasets with a header row (AG News: label,title,description; loghub's
 * *_structured.csv), parsed as RFC 4180 says. The file is read whole: datasets that fit in
 * memory as examples fit as bytes too, and a quoted field may span lines. */
#include "dataset_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct csv_parser {
  const char *buf;
  size_t len, pos;
  size_t line;        /* line of buf[pos], 1-based */
  char delim;
  char *out;          /* the current record's fields, unescaped, each NUL-terminated */
  size_t out_len, out_cap;
  size_t *field;      /* offsets into out */
  int n_fields, fields_cap;
} csv_parser;

static int out_put(csv_parser *p, char c) {
  if (p->out_len == p->out_cap) {
    size_t cap = p->out_cap ? 2 * p->out_cap : 4096;
    char *q = realloc(p->out, cap);
    if (!q) return -1;
    p->out = q, p->out_cap = cap;
  }
  p->out[p->out_len++] = c;
  return 0;
}

static int field_push(csv_parser *p, size_t start) {
  if (p->n_fields == p->fields_cap) {
    int cap = p->fields_cap ? 2 * p->fields_cap : 16;
    size_t *q = realloc(p->field, sizeof(size_t) * (size_t)cap);
    if (!q) return -1;
    p->field = q, p->fields_cap = cap;
  }
  p->field[p->n_fields++] = start;
  return out_put(p, 0);
}

static int at_line_end(const csv_parser *p) {
  return p->pos >= p->len || p->buf[p->pos] == '\n' ||
         (p->buf[p->pos] == '\r' && (p->pos + 1 == p->len || p->buf[p->pos + 1] == '\n'));
}

/* Reads the next record into p->field / p->out. Returns 1, 0 at the end of the data, -1 on an
 * error (message with the record's first line). *record_line receives that line. */
static int csv_next(csv_parser *p, size_t *record_line, char *errstr, size_t errstr_size) {
  /* empty lines are not records */
  while (p->pos < p->len && at_line_end(p)) {
    p->pos += p->buf[p->pos] == '\r' ? 2 : 1;
    p->line++;
  }
  if (p->pos >= p->len) return 0;
  *record_line = p->line;
  p->n_fields = 0;
  p->out_len = 0;
  for (;;) {
    size_t start = p->out_len;
    if (p->pos < p->len && p->buf[p->pos] == '"') {
      size_t quote_line = p->line;
      p->pos++;
      for (;;) {
        if (p->pos >= p->len)
          return DS_ERR("%zu: quoted field %d has no closing quote", quote_line, p->n_fields + 1);
        char c = p->buf[p->pos];
        if (c == '"') {
          if (p->pos + 1 < p->len && p->buf[p->pos + 1] == '"') {
            if (out_put(p, '"')) goto oom;
            p->pos += 2;
            continue;
          }
          p->pos++;
          break;
        }
        if (c == '\n') p->line++;
        if (out_put(p, c)) goto oom;
        p->pos++;
      }
      if (!at_line_end(p) && p->buf[p->pos] != p->delim)
        return DS_ERR("%zu: text after the closing quote of field %d", p->line, p->n_fields + 1);
    } else {
      while (!at_line_end(p) && p->buf[p->pos] != p->delim) {
        if (out_put(p, p->buf[p->pos])) goto oom;
        p->pos++;
      }
    }
    if (field_push(p, start)) goto oom;
    if (p->pos < p->len && p->buf[p->pos] == p->delim) {
      p->pos++;
      continue; /* a delimiter at the line's end leaves one more, empty, field */
    }
    if (p->pos < p->len) p->pos += p->buf[p->pos] == '\r' ? 2 : 1;
    p->line++;
    return 1;
  }
oom:
  return DS_ERR("%zu: out of memory", p->line);
}

static const char *field_at(const csv_parser *p, int i) { return p->out + p->field[i]; }

static int read_file(const char *path, char **buf, size_t *len, char *errstr, size_t errstr_size) {
  FILE *f = fopen(path, "rb");
  if (!f) return DS_ERR("%s: %s", path, strerror(errno));
  size_t cap = 1 << 16, n = 0;
  char *b = malloc(cap);
  while (b) {
    n += fread(b + n, 1, cap - n, f);
    if (n < cap) break;
    char *q = realloc(b, cap * 2);
    if (!q) free(b);
    b = q, cap *= 2;
  }
  int bad = ferror(f);
  fclose(f);
  if (!b) return DS_ERR("%s: out of memory", path);
  if (bad) {
    free(b);
    return DS_ERR("%s: read error", path);
  }
  *buf = b, *len = n;
  return 0;
}

/* The header index of a column, or -1 with a message listing the columns. */
static int column(const csv_parser *header, int n, const char *name, const char *path,
                  char *errstr, size_t errstr_size) {
  for (int i = 0; i < n; i++)
    if (!strcmp(field_at(header, i), name)) return i;
  int k = snprintf(errstr, errstr_size, "%s: no column '%s' (columns:", path, name);
  for (int i = 0; i < n && k > 0 && (size_t)k < errstr_size; i++)
    k += snprintf(errstr + k, errstr_size - (size_t)k, "%s %s", i ? "," : "", field_at(header, i));
  if (k > 0 && (size_t)k < errstr_size) snprintf(errstr + k, errstr_size - (size_t)k, ")");
  return -1;
}

int bertd_dataset_read_csv(bertd_dataset *ds, const char *path, const bertd_csv_opts *o,
                           char *errstr, size_t errstr_size) {
  if (o->n_text_columns < 1) return DS_ERR("%s: no text column chosen", path);
  char *buf;
  size_t len;
  if (read_file(path, &buf, &len, errstr, errstr_size)) return -1;
  csv_parser p = {.buf = buf, .len = len, .line = 1, .delim = o->delimiter ? o->delimiter : ','};
  if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) p.pos = 3; /* a UTF-8 byte order mark */
  const char *sep = o->separator ? o->separator : " ";
  size_t sep_len = strlen(sep), rec_line = 0;
  char msg[256];
  int *text_col = malloc(sizeof(int) * (size_t)o->n_text_columns);
  int pair_col = -1, label_col = -1, n_cols = 0, rc = 0;
  if (!text_col) {
    free(buf);
    return DS_ERR("%s: out of memory", path);
  }
  int got = csv_next(&p, &rec_line, msg, sizeof msg);
  if (got <= 0) {
    rc = got < 0 ? DS_ERR("%s:%s", path, msg) : DS_ERR("%s: empty, no header row", path);
    goto done;
  }
  n_cols = p.n_fields;
  for (int i = 0; i < o->n_text_columns && rc == 0; i++)
    if ((text_col[i] = column(&p, n_cols, o->text_columns[i], path, errstr, errstr_size)) < 0)
      rc = -1;
  if (rc == 0 && o->text_pair_column &&
      (pair_col = column(&p, n_cols, o->text_pair_column, path, errstr, errstr_size)) < 0)
    rc = -1;
  if (rc == 0 && o->label_column &&
      (label_col = column(&p, n_cols, o->label_column, path, errstr, errstr_size)) < 0)
    rc = -1;
  while (rc == 0 && (got = csv_next(&p, &rec_line, msg, sizeof msg)) != 0) {
    if (got < 0) {
      rc = DS_ERR("%s:%s", path, msg);
      break;
    }
    if (p.n_fields != n_cols) {
      rc = DS_ERR("%s:%zu: %d fields, the header has %d", path, rec_line, p.n_fields, n_cols);
      break;
    }
    bertd_example *e = bertd_dataset_push(ds);
    if (!e) {
      rc = DS_ERR("%s:%zu: out of memory", path, rec_line);
      break;
    }
    e->line = rec_line;
    size_t tl = 1;
    for (int i = 0; i < o->n_text_columns; i++) tl += strlen(field_at(&p, text_col[i])) + sep_len;
    if ((e->text = malloc(tl))) {
      char *w = e->text;
      for (int i = 0; i < o->n_text_columns; i++) {
        const char *s = field_at(&p, text_col[i]);
        size_t k = strlen(s);
        if (i) memcpy(w, sep, sep_len), w += sep_len;
        memcpy(w, s, k), w += k;
      }
      *w = 0;
    }
    if (!e->text || (pair_col >= 0 && !(e->text_pair = strdup(field_at(&p, pair_col))))) {
      rc = DS_ERR("%s:%zu: out of memory", path, rec_line);
      bertd_dataset_pop(ds);
      break;
    }
    if (label_col >= 0) {
      int id = bertd_label_list_id(&ds->labels, field_at(&p, label_col), &ds->unknown_labels,
                                   msg, sizeof msg);
      if (id < 0 || !(e->labels = malloc(sizeof(int32_t)))) {
        rc = DS_ERR("%s:%zu: %s", path, rec_line, id < 0 ? msg : "out of memory");
        bertd_dataset_pop(ds);
        break;
      }
      e->labels[0] = id;
      e->n_labels = 1;
    }
  }
done:
  free(text_col);
  free(p.out);
  free(p.field);
  free(buf);
  return rc;
}
