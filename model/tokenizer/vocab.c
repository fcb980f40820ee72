/* vocab.c: vocab.txt, one token per line, the line number is the id. Read the way transformers'
 * load_vocab reads it (Python universal newlines: "\n", "\r\n" and "\r" all end a line; the
 * last line needs no terminator; a later duplicate of a token wins the token -> id direction).
 * Lookups hash the token bytes with FNV-1a into an open-addressing table at most half full. */
#include "tokenizer_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t fnv_bytes(uint64_t h, const char *p, size_t len) {
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)p[i];
    h *= FNV_PRIME;
  }
  return h;
}

static size_t utf8_chars(const char *p, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++) n += ((unsigned char)p[i] & 0xC0) != 0x80;
  return n;
}

static int read_file(const char *path, char **out, size_t *len, char *errstr, size_t errstr_size) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
    return -1;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap) break;
    char *bigger = realloc(buf, cap * 2);
    if (!bigger) { free(buf); buf = NULL; break; }
    buf = bigger;
    cap *= 2;
  }
  const char *why = !buf ? "out of memory" : ferror(f) ? "read error" : NULL;
  fclose(f);
  if (why) {
    free(buf);
    snprintf(errstr, errstr_size, "%s: %s", path, why);
    return -1;
  }
  *out = buf;
  *len = n;
  return 0;
}

static void slot_insert(bertd_vocab *v, int32_t id) {
  const char *key = v->arena + v->tok_off[id];
  size_t len = v->tok_len[id];
  uint32_t mask = v->nslots - 1;
  for (uint32_t i = (uint32_t)fnv_bytes(FNV_OFFSET, key, len) & mask;; i = (i + 1) & mask) {
    int32_t other = v->slots[i];
    if (other < 0) { v->slots[i] = id; return; }
    if (v->tok_len[other] == len && memcmp(v->arena + v->tok_off[other], key, len) == 0) {
      v->slots[i] = id; /* duplicate line: the later id wins, as in a Python dict */
      return;
    }
  }
}

int bertd_vocab_load(bertd_vocab *v, const char *path, char *errstr, size_t errstr_size) {
  memset(v, 0, sizeof *v);
  char *text;
  size_t len;
  if (read_file(path, &text, &len, errstr, errstr_size) != 0) return -1;

  /* Count lines, then turn every line terminator into a NUL in place: the file becomes the arena. */
  size_t lines = 0;
  for (size_t i = 0; i < len; i++) {
    if (text[i] == '\n' || (text[i] == '\r' && (i + 1 == len || text[i + 1] != '\n'))) lines++;
  }
  if (len > 0 && text[len - 1] != '\n' && text[len - 1] != '\r') lines++;
  if (lines == 0) {
    free(text);
    snprintf(errstr, errstr_size, "%s: empty vocabulary", path);
    return -1;
  }
  if (len >= UINT32_MAX || lines >= (size_t)INT32_MAX / 4) {
    free(text);
    snprintf(errstr, errstr_size, "%s: vocabulary too large", path);
    return -1;
  }
  char *arena = realloc(text, len + 1); /* room for the last line's NUL */
  if (!arena) { free(text); goto oom; }
  arena[len] = '\0';
  v->arena = arena;
  v->n = (int32_t)lines;
  v->tok_off = malloc(lines * sizeof *v->tok_off);
  v->tok_len = malloc(lines * sizeof *v->tok_len);
  v->nslots = 16;
  while (v->nslots < lines * 2) v->nslots *= 2;
  v->slots = malloc(v->nslots * sizeof *v->slots);
  if (!v->tok_off || !v->tok_len || !v->slots) goto oom;
  memset(v->slots, 0xff, v->nslots * sizeof *v->slots);

  size_t id = 0, start = 0;
  for (size_t i = 0; i <= len && id < lines; i++) {
    int end = i == len || arena[i] == '\n' || arena[i] == '\r';
    if (!end) continue;
    v->tok_off[id] = (uint32_t)start;
    v->tok_len[id] = (uint32_t)(i - start);
    int piece_chars = (int)utf8_chars(arena + start, i - start);
    if (i - start >= 2 && arena[start] == '#' && arena[start + 1] == '#') piece_chars -= 2;
    if (piece_chars > v->max_piece_chars) v->max_piece_chars = piece_chars;
    id++;
    if (i < len && arena[i] == '\r' && i + 1 < len && arena[i + 1] == '\n') i++;
    arena[i] = '\0';
    start = i + 1;
  }
  for (int32_t k = 0; k < v->n; k++) slot_insert(v, k);
  return 0;

oom:
  bertd_vocab_free(v);
  snprintf(errstr, errstr_size, "%s: out of memory", path);
  return -1;
}

void bertd_vocab_free(bertd_vocab *v) {
  free(v->arena);
  free(v->tok_off);
  free(v->tok_len);
  free(v->slots);
  memset(v, 0, sizeof *v);
}

int32_t bertd_vocab_find(const bertd_vocab *v, int continuation, const char *bytes, size_t len) {
  uint64_t h = FNV_OFFSET;
  if (continuation) h = fnv_bytes(h, "##", 2);
  h = fnv_bytes(h, bytes, len);
  size_t klen = len + (continuation ? 2 : 0);
  uint32_t mask = v->nslots - 1;
  for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
    int32_t id = v->slots[i];
    if (id < 0) return -1;
    if (v->tok_len[id] != klen) continue;
    const char *key = v->arena + v->tok_off[id];
    if (continuation) {
      if (key[0] != '#' || key[1] != '#') continue;
      key += 2;
    }
    if (memcmp(key, bytes, len) == 0) return id;
  }
}
