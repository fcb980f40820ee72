/* fuzz_tokenizer.c: libFuzzer harness for bertd_tokenizer_encode. The first bytes choose the
 * call (vocabulary, pair or not, truncation strategy, max_length, where the pair starts); the
 * rest is the text, valid UTF-8 or not. Besides the sanitizers, every successful encoding is
 * checked for the invariants callers rely on; a violation aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_tokenizer.h"

static bertd_tokenizer *toks[2]; /* harness state: loaded once per process, read-only after */
static bertd_encoding enc;       /* reused across inputs, as the daemon reuses it */

static void check(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "invariant violated: %s\n", what);
    abort();
  }
}

static void check_offsets(const bertd_encoding *e, int i, size_t len) {
  check(e->char_start[i] <= e->char_end[i] && e->byte_start[i] <= e->byte_end[i], "span order");
  check((size_t)e->byte_end[i] <= len && (size_t)e->char_end[i] <= len, "span inside input");
  check(e->char_end[i] - e->char_start[i] <= e->byte_end[i] - e->byte_start[i], "chars <= bytes");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!toks[0]) {
    char err[512];
    const char *dirs[2] = {BERTD_FIXTURES "/tokenizer/uncased", BERTD_FIXTURES "/tokenizer/cased"};
    for (int k = 0; k < 2; k++) {
      if (bertd_tokenizer_load(dirs[k], &toks[k], err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        abort();
      }
    }
  }
  if (size < 3) return 0;
  unsigned flags = data[0];
  int max_length = data[1] == 255 ? 600 : data[1];
  const bertd_tokenizer *tok = toks[flags & 1];
  int has_pair = (flags >> 1) & 1;
  bertd_truncation trunc = (bertd_truncation)((flags >> 2) & 3);
  const char *text = (const char *)data + 3;
  size_t len = size - 3, split = has_pair ? (size_t)data[2] * len / 255 : len;
  const char *pair = has_pair ? text + split : NULL;
  size_t pair_len = has_pair ? len - split : 0;

  char err[256];
  if (bertd_tokenizer_encode(tok, text, split, pair, pair_len, max_length, trunc, &enc, err,
                             sizeof err) != 0) {
    check(err[0] != '\0' && strchr(err, '\n') == NULL, "error message is one non-empty line");
    return 0;
  }
  int vocab = bertd_tokenizer_vocab_size(tok);
  int cls = bertd_tokenizer_special_id(tok, 'c'), sep = bertd_tokenizer_special_id(tok, 's');
  int paired = has_pair && pair_len > 0;
  check(enc.n >= (paired ? 3 : 2), "room for the special tokens");
  check(enc.ids[0] == cls && enc.ids[enc.n - 1] == sep, "[CLS] ... [SEP]");
  int limit = max_length == 0 || max_length > 512 ? 512 : max_length;
  if (trunc != BERTD_TRUNC_NONE && limit >= (paired ? 3 : 2))
    check(enc.n <= limit, "truncated to max_length");
  if (trunc == BERTD_TRUNC_NONE) check(enc.n <= limit, "within max_length");
  int32_t last_seq = -1, last_start[2] = {0, 0};
  for (int i = 0; i < enc.n; i++) {
    check(enc.ids[i] >= 0 && enc.ids[i] < vocab, "id in vocabulary");
    check(enc.type_ids[i] == 0 || enc.type_ids[i] == 1, "type id");
    int32_t s = enc.seq_ids[i];
    if (s < 0) {
      check(enc.word_ids[i] == -1 && enc.char_end[i] == 0 && enc.byte_end[i] == 0, "special");
      continue;
    }
    check(s >= last_seq && s <= paired, "sequence order");
    last_seq = s;
    check(enc.word_ids[i] >= 0, "word id");
    check_offsets(&enc, i, s == 0 ? split : pair_len);
    check(enc.char_start[i] >= last_start[s], "offsets never go back");
    last_start[s] = enc.char_start[i];
  }
  return 0;
}
