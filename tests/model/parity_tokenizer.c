/* parity_tokenizer.c: the project's own texts (tests/fixtures/texts/, made by
 * tools/reference/make_texts.py: edge cases in many scripts, every C0 and C1 control character
 * and NUL inside texts, zero-width and format characters, words over 100 chars, texts over 512
 * word pieces, seeded utterances, log lines and news), a sweep over every Unicode code point, and
 * pairs of those texts under each truncation strategy, encoded here and compared with
 * BertTokenizerFast's encodings (ids, type ids, words, char and byte offsets), which
 * tools/reference/make_tokenizer_fixtures.py stored as digests in
 * tests/fixtures/tokenizer/parity.txt. No public dataset is needed: data_tokenizer.c does the
 * same on those.
 * BERTD_TOKENIZER_PARITY names another parity file (the script's --texts --parity-out, for a
 * held-out set of texts); its inputs are then named by absolute paths. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "tokenizer_parity.h"

/* A file named in parity.txt: relative to tests/fixtures/, or absolute (held-out texts). */
static int fixture_file(const char *file, char *path, size_t size, char *err, size_t errsize) {
  (void)err;
  (void)errsize;
  if (file[0] == '/') snprintf(path, size, "%s", file);
  else snprintf(path, size, "%s/%s", BERTD_FIXTURES, file);
  return 0;
}

Test(parity_tokenizer, own_texts_match_transformers, .timeout = 600) {
  const char *alt = getenv("BERTD_TOKENIZER_PARITY");
  int held_out = alt && *alt;
  tp_counts n;
  tp_run(held_out ? alt : BERTD_FIXTURES "/tokenizer/parity.txt", fixture_file, &n);
  cr_expect_eq(n.input_changed, 0, "%ld inputs differ from the fixture's", n.input_changed);
  cr_expect_eq(n.mismatches, 0, "%ld encodings differ from transformers'", n.mismatches);
  if (!held_out) {
    /* every text of tests/fixtures/texts/ and the sweep, and 5,250 pairs: a shorter run means
     * the fixture or the texts lost lines */
    cr_expect_eq(n.compared[0], 6847 + 8688, "%ld texts compared", n.compared[0]);
    cr_expect_eq(n.pairs, 5250, "%ld pairs compared", n.pairs);
  } else {
    cr_expect_gt(n.compared[0], 0, "no texts in %s", alt);
  }
}
