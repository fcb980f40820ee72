/* tokenizer_parity.h: the comparison run by parity_tokenizer.c (the project's own texts) and
 * data_tokenizer.c (the public sets): reads a parity file of tools/reference/
 * make_tokenizer_fixtures.py, reads the inputs its '@' lines name (through the caller's
 * resolver, which maps a file named there to a path), encodes each with the uncased MiniLM and
 * the cased fixture vocabularies and compares with BertTokenizerFast's digests of ids, type ids,
 * words and char / byte offsets. A mismatch prints the input, the expected count and digest and
 * our tokens; the script's --explain prints transformers' side of the same input. */
#ifndef BERTD_TOKENIZER_PARITY_H
#define BERTD_TOKENIZER_PARITY_H

#include <criterion/criterion.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_tokenizer.h"
#include "tokenizer_testutil.h"

#define TP_MAX_REPORTS 20

/* Maps a file named on an '@' line to its path; -1 with a message when it cannot. */
typedef int (*tp_resolve_fn)(const char *file, char *path, size_t size, char *err, size_t errsize);

typedef struct tp_counts {
  long compared[2], pairs, mismatches, input_changed;
} tp_counts;

typedef struct tp_state {
  bertd_tokenizer *tok[2]; /* uncased, cased */
  bertd_encoding enc;
  tp_counts n;
} tp_state;

/* The "text" of every line of a JSONL file (NUL kept: JSON_ALLOW_NUL), in order. */
static inline int tp_read_jsonl(const char *path, tu_texts *out, char *err, size_t errsize) {
  size_t len;
  char *buf = tu_read_file(path, &len);
  if (!buf) {
    snprintf(err, errsize, "%s: cannot read", path);
    return -1;
  }
  int line = 0, rc = 0;
  for (size_t start = 0; start < len && rc == 0;) {
    const char *nl = memchr(buf + start, '\n', len - start);
    size_t n = nl ? (size_t)(nl - (buf + start)) : len - start;
    line++;
    json_error_t je;
    json_t *o = json_loadb(buf + start, n, JSON_ALLOW_NUL, &je);
    json_t *t = o ? json_object_get(o, "text") : NULL;
    if (!json_is_string(t)) {
      snprintf(err, errsize, "%s:%d: %s", path, line, o ? "no string field 'text'" : je.text);
      rc = -1;
    } else {
      tu_push(out, json_string_value(t), json_string_length(t));
    }
    json_decref(o);
    start += n + 1;
  }
  free(buf);
  return rc;
}

static void tp_report(tp_state *p, int which, const char *where, size_t index, const char *a,
                      size_t alen, const char *b, size_t blen, long want_n,
                      const char *want_digest, int rc, const char *err) {
  if (++p->n.mismatches > TP_MAX_REPORTS) return;
  fprintf(stderr, "MISMATCH %s %s #%zu: \"", which ? "cased" : "uncased", where, index);
  tu_print_escaped(stderr, a, alen);
  if (b) {
    fputs("\" ||| \"", stderr);
    tu_print_escaped(stderr, b, blen);
  }
  fprintf(stderr, "\"\n  expected n=%ld digest=%s; got ", want_n, want_digest);
  if (rc != 0) {
    fprintf(stderr, "error: %s\n", err);
  } else {
    fprintf(stderr, "n=%d digest=%010" PRIx64 ":\n", p->enc.n, tu_digest(&p->enc));
    tu_print_encoding(stderr, p->tok[which], &p->enc);
  }
}

/* Compares one expectation "n digest" (n -1: transformers raised) with our encoding. */
static void tp_check(tp_state *p, int which, const char *where, size_t index, const char *a,
                     size_t alen, const char *b, size_t blen, int max_length,
                     bertd_truncation trunc, long want_n, const char *want_digest) {
  char err[256] = "";
  int rc = bertd_tokenizer_encode(p->tok[which], a, alen, b, blen, max_length, trunc, &p->enc,
                                  err, sizeof err);
  int ok;
  if (want_n < 0) {
    ok = rc != 0;
  } else {
    char got[16];
    snprintf(got, sizeof got, "%010" PRIx64, rc == 0 ? tu_digest(&p->enc) : 0);
    ok = rc == 0 && p->enc.n == want_n && strcmp(got, want_digest) == 0;
  }
  if (!ok) tp_report(p, which, where, index, a, alen, b, blen, want_n, want_digest, rc, err);
}

static bertd_truncation tp_strategy(const char *s) {
  if (strcmp(s, "only_first") == 0) return BERTD_TRUNC_ONLY_FIRST;
  if (strcmp(s, "only_second") == 0) return BERTD_TRUNC_ONLY_SECOND;
  return BERTD_TRUNC_LONGEST_FIRST;
}

/* Texts 2k and 2k+1 of a list as pair k: the script's owned_pairs(). */
static void tp_split_pairs(tu_texts *a, tu_texts *b) {
  tu_texts all = *a;
  memset(a, 0, sizeof *a);
  for (size_t i = 0; i + 1 < all.n; i += 2) {
    tu_push(a, all.s[i], all.len[i]);
    tu_push(b, all.s[i + 1], all.len[i + 1]);
  }
  tu_texts_free(&all);
}

/* Runs every comparison of the parity file at fixture_path; the counts come back in *out. */
static inline void tp_run(const char *fixture_path, tp_resolve_fn resolve, tp_counts *out) {
  tp_state p;
  memset(&p, 0, sizeof p);
  char err[1400];
  const char *model_dir = getenv("BERTD_MODEL_DIR");
  char uncased_dir[1024];
  /* The fetched checkpoint when the runner has it (the real load path), else its committed copy. */
  if (model_dir && *model_dir) snprintf(uncased_dir, sizeof uncased_dir, "%s", model_dir);
  else snprintf(uncased_dir, sizeof uncased_dir, "%s/tokenizer/uncased", BERTD_FIXTURES);
  cr_assert_eq(bertd_tokenizer_load(uncased_dir, &p.tok[0], err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_tokenizer_load(BERTD_FIXTURES "/tokenizer/cased", &p.tok[1], err, sizeof err),
               0, "%s", err);

  size_t flen;
  char *fixture = tu_read_file(fixture_path, &flen);
  cr_assert_not_null(fixture, "cannot read %s", fixture_path);

  tu_texts a = {0}, b = {0};
  char where[512] = "";
  size_t next = 0; /* index of the next input of the current directive */
  int pairs = 0, max_length = 0;
  bertd_truncation trunc = BERTD_TRUNC_LONGEST_FIRST;
  char *save = NULL;
  for (char *line = strtok_r(fixture, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (line[0] == '#') continue;
    if (line[0] == '@') {
      char kind[16], file[1024], f3[64] = "", f4[64] = "", f5[32] = "", path[1100];
      int f6 = 0, f7 = 0;
      tu_texts_free(&a);
      tu_texts_free(&b);
      next = 0;
      max_length = 0;
      trunc = BERTD_TRUNC_LONGEST_FIRST;
      int nf = sscanf(line, "@%15s %1023s %63s %63s %31s %d %d", kind, file, f3, f4, f5, &f6, &f7);
      cr_assert(nf >= 2, "bad directive in %s: %s", fixture_path, line);
      pairs = strcmp(kind, "pairs") == 0 || strcmp(kind, "jsonpairs") == 0;
      int rc = 0;
      if (strcmp(kind, "sweep") == 0) {
        tu_sweep_texts(atoi(file), &a);
      } else {
        cr_assert_eq(resolve(file, path, sizeof path, err, sizeof err), 0, "%s", err);
        snprintf(err, sizeof err, "cannot read %s", path);
        if (strcmp(kind, "lines") == 0) {
          rc = tu_read_lines(path, &a);
        } else if (strcmp(kind, "csv") == 0) {
          rc = tu_read_csv_column(path, f3, &a);
          snprintf(err, sizeof err, "cannot read column %s of %s", f3, path);
        } else if (strcmp(kind, "jsonl") == 0) {
          rc = tp_read_jsonl(path, &a, err, sizeof err);
        } else if (strcmp(kind, "jsonpairs") == 0) {
          cr_assert(nf == 5, "bad directive in %s: %s", fixture_path, line);
          rc = tp_read_jsonl(path, &a, err, sizeof err);
          if (rc == 0) tp_split_pairs(&a, &b);
          trunc = tp_strategy(f3);
          max_length = atoi(f4);
        } else {
          cr_assert(strcmp(kind, "pairs") == 0 && nf == 7, "bad directive in %s: %s",
                    fixture_path, line);
          rc = tu_read_csv_column(path, f3, &a);
          if (rc == 0) rc = tu_read_csv_column(path, f4, &b);
          snprintf(err, sizeof err, "cannot read columns %s, %s of %s", f3, f4, path);
          trunc = tp_strategy(f5);
          max_length = f6;
        }
      }
      cr_assert_eq(rc, 0, "%s", err);
      snprintf(where, sizeof where, "%s", line + 1);
      continue;
    }
    cr_assert(next < a.n, "%s: %s has more lines than the input (%zu)", where, fixture_path, a.n);
    unsigned want_hash;
    long n_u = 0, n_c = 0;
    char d_u[16] = "", d_c[16] = "";
    int nf = sscanf(line, "%x %ld %15s %ld %15s", &want_hash, &n_u, d_u, &n_c, d_c);
    cr_assert(nf == (pairs ? 3 : 5), "bad line in %s: %s", fixture_path, line);
    const char *bt = pairs ? b.s[next] : NULL;
    size_t bl = pairs ? b.len[next] : 0;
    if (tu_text_hash(a.s[next], a.len[next], bt, bl) != want_hash) {
      if (++p.n.input_changed <= TP_MAX_REPORTS)
        fprintf(stderr, "INPUT CHANGED %s #%zu: the input differs from what the fixture saw\n",
                where, next);
    } else if (pairs) {
      tp_check(&p, 0, where, next, a.s[next], a.len[next], bt, bl, max_length, trunc, n_u, d_u);
      p.n.pairs++;
    } else {
      tp_check(&p, 0, where, next, a.s[next], a.len[next], NULL, 0, 0, trunc, n_u, d_u);
      tp_check(&p, 1, where, next, a.s[next], a.len[next], NULL, 0, 0, trunc, n_c, d_c);
      p.n.compared[0]++;
      p.n.compared[1]++;
    }
    next++;
  }
  fprintf(stderr,
          "tokenizer parity (%s): %ld texts uncased, %ld texts cased, %ld pairs compared; "
          "%ld mismatches, %ld inputs changed\n",
          fixture_path, p.n.compared[0], p.n.compared[1], p.n.pairs, p.n.mismatches,
          p.n.input_changed);
  tu_texts_free(&a);
  tu_texts_free(&b);
  free(fixture);
  bertd_encoding_free(&p.enc);
  bertd_tokenizer_free(p.tok[0]);
  bertd_tokenizer_free(p.tok[1]);
  *out = p.n;
}

#endif
