/* data_tokenizer.c: every text of the public sets (ATIS and SNIPS seq.in, loghub Content, AG
 * News title and description, and AG News title + description pairs under each truncation
 * strategy) encoded here and compared with BertTokenizerFast's encodings, stored as digests in
 * tests/fixtures/tokenizer/data_parity.txt by tools/reference/make_tokenizer_fixtures.py (run
 * with BERTD_DATA_DIR set). The sets are read where tests/data_gate.sh resolves them.
 * data sets: atis snips loghub agnews */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_parity.h"

/* "atis/train/seq.in" -> $BERTD_DATA_ATIS/train/seq.in */
static int data_file(const char *file, char *path, size_t size, char *err, size_t errsize) {
  const char *slash = strchr(file, '/');
  char var[64] = "BERTD_DATA_";
  size_t k = strlen(var);
  for (const char *c = file; slash && c < slash && k + 1 < sizeof var; c++)
    var[k++] = (char)toupper((unsigned char)*c);
  var[k] = '\0';
  const char *dir = slash ? getenv(var) : NULL;
  if (!dir || !*dir) {
    snprintf(err, errsize, "%s is not set (run through tests/data_gate.sh) for %s", var, file);
    return -1;
  }
  snprintf(path, size, "%s%s", dir, slash);
  return 0;
}

Test(data_tokenizer, public_sets_match_transformers, .timeout = 900) {
  tp_counts n;
  tp_run(BERTD_FIXTURES "/tokenizer/data_parity.txt", data_file, &n);
  cr_expect_eq(n.input_changed, 0, "%ld inputs differ from the fixture's", n.input_changed);
  cr_expect_eq(n.mismatches, 0, "%ld encodings differ from transformers'", n.mismatches);
  cr_expect_geq(n.compared[0], 5000, "only %ld texts compared", n.compared[0]);
}
