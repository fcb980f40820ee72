/* tokenizer_testutil.h: helpers shared by the tokenizer tests (header-only: tests/CMakeLists.txt
 * builds one executable per test file). The digests and the CSV reading here must stay identical
 * to tools/reference/make_tokenizer_fixtures.py, which wrote the fixtures. */
#ifndef BERTD_TOKENIZER_TESTUTIL_H
#define BERTD_TOKENIZER_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_tokenizer.h"

#define TU_FNV_OFFSET 0xcbf29ce484222325ULL
#define TU_FNV_PRIME 0x100000001b3ULL

static inline uint64_t tu_fnv_bytes(uint64_t h, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)p[i];
    h *= TU_FNV_PRIME;
  }
  return h;
}

/* Input hash: FNV-1a over the bytes (a pair: text, 0xFF, pair), low 32 bits. */
static inline uint32_t tu_text_hash(const char *a, size_t alen, const char *b, size_t blen) {
  uint64_t h = tu_fnv_bytes(TU_FNV_OFFSET, a, alen);
  if (b) {
    h = tu_fnv_bytes(h, "\xff", 1);
    h = tu_fnv_bytes(h, b, blen);
  }
  return (uint32_t)h;
}

/* Encoding digest: FNV-1a over 32-bit words, 8 per token, low 40 bits. */
static inline uint64_t tu_digest(const bertd_encoding *e) {
  uint64_t h = TU_FNV_OFFSET;
  for (int i = 0; i < e->n; i++) {
    int32_t w[8] = {e->ids[i], e->type_ids[i], e->seq_ids[i], e->word_ids[i],
                    e->char_start[i], e->char_end[i], e->byte_start[i], e->byte_end[i]};
    for (int k = 0; k < 8; k++) {
      h ^= (uint32_t)w[k];
      h *= TU_FNV_PRIME;
    }
  }
  return h & 0xFFFFFFFFFFULL;
}

/* Whole file, NUL-terminated; NULL if unreadable. */
static inline char *tu_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap) break;
    char *bigger = realloc(buf, cap * 2 + 1);
    if (!bigger) { free(buf); buf = NULL; break; }
    buf = bigger;
    cap *= 2;
  }
  fclose(f);
  if (!buf) return NULL;
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* A list of strings (each owned). */
typedef struct tu_texts {
  char **s;
  size_t *len;
  size_t n, cap;
} tu_texts;

static inline void tu_push(tu_texts *t, const char *p, size_t n) {
  if (t->n == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 1024;
    t->s = realloc(t->s, t->cap * sizeof *t->s);
    t->len = realloc(t->len, t->cap * sizeof *t->len);
  }
  char *copy = malloc(n + 1);
  memcpy(copy, p, n);
  copy[n] = '\0';
  t->s[t->n] = copy;
  t->len[t->n++] = n;
}

static inline void tu_texts_free(tu_texts *t) {
  for (size_t i = 0; i < t->n; i++) free(t->s[i]);
  free(t->s);
  free(t->len);
  memset(t, 0, sizeof *t);
}

/* Lines split on '\n' ("\r" kept), no empty last line: the script's read_lines. */
static inline int tu_read_lines(const char *path, tu_texts *out) {
  size_t len;
  char *buf = tu_read_file(path, &len);
  if (!buf) return -1;
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || buf[i] == '\n') {
      if (i == len && start == len) break;
      tu_push(out, buf + start, i - start);
      start = i + 1;
    }
  }
  free(buf);
  return 0;
}

/* One column of a CSV file, parsed as Python's csv module does with its default dialect
 * (quote '"', doubled quotes, no escape char, non-strict: text after a closing quote is kept,
 * '\r', '\n' and "\r\n" end a record outside quotes; empty records are skipped). */
static inline int tu_read_csv_column(const char *path, const char *column, tu_texts *out) {
  size_t len;
  char *buf = tu_read_file(path, &len);
  if (!buf) return -1;
  char *field = malloc(len + 1);
  size_t flen = 0;
  int col = -1, want = -1, row = 0, nfields = 0, got = 0;
  enum { START_RECORD, START_FIELD, IN_FIELD, IN_QUOTED, QUOTE_IN_QUOTED } st = START_RECORD;
  for (size_t i = 0; i <= len; i++) {
    int c = i < len ? (unsigned char)buf[i] : -1;
    int end_field = 0, end_record = 0;
    switch (st) {
    case START_RECORD:
      if (c == -1) goto done;
      if (c == '\n' || c == '\r') continue; /* empty line: no record */
      st = START_FIELD;
      /* fall through */
    case START_FIELD:
      if (c == '"') st = IN_QUOTED;
      else if (c == ',') end_field = 1;
      else if (c == '\n' || c == '\r' || c == -1) end_field = end_record = 1;
      else { field[flen++] = (char)c; st = IN_FIELD; }
      break;
    case IN_FIELD:
      if (c == ',') end_field = 1;
      else if (c == '\n' || c == '\r' || c == -1) end_field = end_record = 1;
      else field[flen++] = (char)c;
      break;
    case IN_QUOTED:
      if (c == '"') st = QUOTE_IN_QUOTED;
      else if (c == -1) end_field = end_record = 1;
      else field[flen++] = (char)c;
      break;
    case QUOTE_IN_QUOTED:
      if (c == '"') { field[flen++] = '"'; st = IN_QUOTED; }
      else if (c == ',') end_field = 1;
      else if (c == '\n' || c == '\r' || c == -1) end_field = end_record = 1;
      else { field[flen++] = (char)c; st = IN_FIELD; }
      break;
    }
    if (end_field) {
      if (row == 0) {
        if (strlen(column) == flen && memcmp(field, column, flen) == 0) want = nfields;
      } else if (nfields == want) {
        tu_push(out, field, flen);
        got = 1;
      }
      nfields++;
      flen = 0;
      st = START_FIELD;
    }
    if (end_record) {
      if (row > 0 && !got) tu_push(out, "", 0); /* short row */
      if (c == '\r' && i + 1 < len && buf[i + 1] == '\n') i++;
      row++;
      nfields = 0;
      got = 0;
      st = START_RECORD;
      if (c == -1) break;
    }
  }
done:
  col = want;
  free(field);
  free(buf);
  return col < 0 ? -1 : 0;
}

/* The Unicode sweep of the script's sweep_texts(): every code point but the surrogates and
 * '\n', as "x" + char + " ", block per text. */
static inline void tu_sweep_texts(int block, tu_texts *out) {
  char *buf = malloc((size_t)block * 6);
  for (int32_t b = 0; b < 0x110000; b += block) {
    size_t n = 0;
    for (int32_t c = b; c < b + block; c++) {
      if ((c >= 0xD800 && c <= 0xDFFF) || c == '\n') continue;
      buf[n++] = 'x';
      if (c < 0x80) buf[n++] = (char)c;
      else if (c < 0x800) {
        buf[n++] = (char)(0xC0 | (c >> 6));
        buf[n++] = (char)(0x80 | (c & 0x3F));
      } else if (c < 0x10000) {
        buf[n++] = (char)(0xE0 | (c >> 12));
        buf[n++] = (char)(0x80 | ((c >> 6) & 0x3F));
        buf[n++] = (char)(0x80 | (c & 0x3F));
      } else {
        buf[n++] = (char)(0xF0 | (c >> 18));
        buf[n++] = (char)(0x80 | ((c >> 12) & 0x3F));
        buf[n++] = (char)(0x80 | ((c >> 6) & 0x3F));
        buf[n++] = (char)(0x80 | (c & 0x3F));
      }
      buf[n++] = ' ';
    }
    if (n) tu_push(out, buf, n);
  }
  free(buf);
}

/* Prints s with non-printable bytes escaped, for failure messages. */
static inline void tu_print_escaped(FILE *f, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\\') fputs("\\\\", f);
    else if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", c);
    else fputc(c, f);
  }
}

static inline void tu_print_encoding(FILE *f, const bertd_tokenizer *tok, const bertd_encoding *e) {
  for (int i = 0; i < e->n; i++) {
    const char *t = bertd_tokenizer_id_to_token(tok, e->ids[i]);
    fprintf(f, "  %-16s id=%d type=%d seq=%d word=%d chars=%d-%d bytes=%d-%d\n", t ? t : "?",
            e->ids[i], e->type_ids[i], e->seq_ids[i], e->word_ids[i], e->char_start[i],
            e->char_end[i], e->byte_start[i], e->byte_end[i]);
  }
}

#endif
