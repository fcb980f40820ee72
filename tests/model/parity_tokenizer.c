/* parity_tokenizer.c: every text of the shared data (ATIS and SNIPS seq.in, loghub Content,
 * AG News title and description), a sweep over every Unicode code point, and AG News title+description pairs under each truncation
 * strategy, encoded here and compared with BertTokenizerFast's encodings, which
 * tools/reference/make_tokenizer_fixtures.py stored as digests in tests/fixtures/tokenizer/
 * parity.txt. The inputs are read from BERTD_SHARED_DATA in the order of that file's '@' lines.
 * A mismatch prints the input, the expected token count and digest, and our tokens; the script's
 * --explain prints transformers' side of the same line. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "tokenizer_testutil.h"

#define MAX_REPORTS 20

typedef struct parity {
  bertd_tokenizer *tok[2];    /* uncased, cased */
  bertd_encoding enc;
  long compared[2], pairs, mismatches, input_changed;
} parity;

static void report(parity *p, int which, const char *where, size_t index, const char *a,
                   size_t alen, const char *b, size_t blen, long want_n, const char *want_digest,
                   int rc, const char *err) {
  if (++p->mismatches > MAX_REPORTS) return;
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
static void check(parity *p, int which, const char *where, size_t index, const char *a,
                  size_t alen, const char *b, size_t blen, int max_length, bertd_truncation trunc,
                  long want_n, const char *want_digest) {
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
  if (!ok) report(p, which, where, index, a, alen, b, blen, want_n, want_digest, rc, err);
}

static bertd_truncation strategy(const char *s) {
  if (strcmp(s, "only_first") == 0) return BERTD_TRUNC_ONLY_FIRST;
  if (strcmp(s, "only_second") == 0) return BERTD_TRUNC_ONLY_SECOND;
  return BERTD_TRUNC_LONGEST_FIRST;
}

static void data_path(char *out, size_t size, const char *rel) {
  snprintf(out, size, "%s/%s", BERTD_SHARED_DATA, rel);
}

Test(parity_tokenizer, shared_data_matches_transformers, .timeout = 600) {
  parity p;
  memset(&p, 0, sizeof p);
  char err[512];
  const char *model_dir = getenv("BERTD_MODEL_DIR");
  char uncased_dir[1024];
  /* The fetched checkpoint when the runner has it (the real load path), else its committed copy. */
  if (model_dir && *model_dir) snprintf(uncased_dir, sizeof uncased_dir, "%s", model_dir);
  else snprintf(uncased_dir, sizeof uncased_dir, "%s/tokenizer/uncased", BERTD_FIXTURES);
  cr_assert_eq(bertd_tokenizer_load(uncased_dir, &p.tok[0], err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_tokenizer_load(BERTD_FIXTURES "/tokenizer/cased", &p.tok[1], err, sizeof err),
               0, "%s", err);

  size_t flen;
  char *fixture = tu_read_file(BERTD_FIXTURES "/tokenizer/parity.txt", &flen);
  cr_assert_not_null(fixture, "cannot read %s", BERTD_FIXTURES "/tokenizer/parity.txt");

  tu_texts a = {0}, b = {0};
  char where[512] = "";
  size_t next = 0;             /* index of the next input of the current directive */
  int pairs = 0, max_length = 0;
  bertd_truncation trunc = BERTD_TRUNC_LONGEST_FIRST;
  for (char *line = strtok(fixture, "\n"); line; line = strtok(NULL, "\n")) {
    if (line[0] == '#') continue;
    if (line[0] == '@') {
      char kind[16], file[256], col_a[64] = "", col_b[64] = "", strat[32] = "", path[1024];
      int rows = 0;
      tu_texts_free(&a);
      tu_texts_free(&b);
      next = 0;
      int nf = sscanf(line, "@%15s %255s %63s %63s %31s %d %d", kind, file, col_a, col_b, strat,
                      &max_length, &rows);
      data_path(path, sizeof path, file);
      pairs = strcmp(kind, "pairs") == 0;
      int rc;
      if (strcmp(kind, "lines") == 0) {
        rc = tu_read_lines(path, &a);
      } else if (strcmp(kind, "sweep") == 0) {
        tu_sweep_texts(atoi(file), &a);
        rc = 0;
      } else if (strcmp(kind, "csv") == 0) {
        rc = tu_read_csv_column(path, col_a, &a);
      } else {
        cr_assert(pairs && nf == 7, "bad directive in parity.txt: %s", line);
        rc = tu_read_csv_column(path, col_a, &a);
        if (rc == 0) rc = tu_read_csv_column(path, col_b, &b);
        trunc = strategy(strat);
      }
      cr_assert_eq(rc, 0, "cannot read %s (column %s) from the shared data", path, col_a);
      snprintf(where, sizeof where, "%s", line + 1);
      continue;
    }
    cr_assert(next < a.n, "%s: parity.txt has more lines than the data (%zu)", where, a.n);
    unsigned want_hash;
    long n_u = 0, n_c = 0;
    char d_u[16] = "", d_c[16] = "";
    int nf = sscanf(line, "%x %ld %15s %ld %15s", &want_hash, &n_u, d_u, &n_c, d_c);
    cr_assert(nf == (pairs ? 3 : 5), "bad line in parity.txt: %s", line);
    const char *bt = pairs ? b.s[next] : NULL;
    size_t bl = pairs ? b.len[next] : 0;
    if (tu_text_hash(a.s[next], a.len[next], bt, bl) != want_hash) {
      if (++p.input_changed <= MAX_REPORTS)
        fprintf(stderr, "INPUT CHANGED %s #%zu: the data differs from what the fixture saw\n",
                where, next);
    } else if (pairs) {
      check(&p, 0, where, next, a.s[next], a.len[next], bt, bl, max_length, trunc, n_u, d_u);
      p.pairs++;
    } else {
      check(&p, 0, where, next, a.s[next], a.len[next], NULL, 0, 0, trunc, n_u, d_u);
      check(&p, 1, where, next, a.s[next], a.len[next], NULL, 0, 0, trunc, n_c, d_c);
      p.compared[0]++;
      p.compared[1]++;
    }
    next++;
  }
  fprintf(stderr,
          "tokenizer parity: %ld texts uncased, %ld texts cased, %ld pairs compared; "
          "%ld mismatches, %ld inputs changed\n",
          p.compared[0], p.compared[1], p.pairs, p.mismatches, p.input_changed);
  tu_texts_free(&a);
  tu_texts_free(&b);
  free(fixture);
  bertd_encoding_free(&p.enc);
  bertd_tokenizer_free(p.tok[0]);
  bertd_tokenizer_free(p.tok[1]);
  cr_expect_eq(p.input_changed, 0, "%ld inputs differ from the fixture's", p.input_changed);
  cr_expect_eq(p.mismatches, 0, "%ld encodings differ from transformers'", p.mismatches);
  cr_expect_geq(p.compared[0], 5000, "only %ld texts compared", p.compared[0]);
}
