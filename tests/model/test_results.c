/* test_results.c: BIO word tags -> spans with conlleval semantics (results.c), the way a slot
 * or entity is reported to users. Expected spans follow conlleval's chunking rules: B-X starts
 * a chunk; I-X continues an open X chunk and starts one after O or another type; O (and
 * JointBERT's PAD/UNK) closes it. */
#include <criterion/criterion.h>
#include <string.h>

#include "bertd.h"

/* words of "fly from new york to san francisco" with their byte/char offsets (ASCII) */
static const int START[] = {0, 4, 9, 13, 18, 21, 25};
static const int END[] = {3, 8, 12, 17, 20, 24, 34};

static int spans_of(const char *const *tags, int n, bertd_span *out) {
  bertd_word_tag w[16];
  for (int i = 0; i < n; i++)
    w[i] = (bertd_word_tag){tags[i], START[i], END[i], START[i], END[i], 0.5f + 0.05f * (float)i};
  return bertd_spans_from_tags(w, n, out, 16);
}

Test(results, bio_spans_conlleval) {
  const char *tags[] = {"O", "O", "B-from", "I-from", "O", "B-to", "I-to"};
  bertd_span s[16];
  cr_assert_eq(spans_of(tags, 7, s), 2);
  cr_assert_str_eq(s[0].label, "from");
  cr_assert_eq(s[0].char_start, 9);
  cr_assert_eq(s[0].char_end, 17);
  cr_assert_float_eq(s[0].score, (0.6f + 0.65f) / 2, 1e-6);
  cr_assert_str_eq(s[1].label, "to");
  cr_assert_eq(s[1].byte_start, 21);
  cr_assert_eq(s[1].byte_end, 34);
}

Test(results, i_after_o_or_other_type_starts_a_chunk) {
  const char *tags[] = {"I-a", "I-a", "I-b", "O", "I-b", "B-b", "I-b"};
  bertd_span s[16];
  cr_assert_eq(spans_of(tags, 7, s), 4);
  const char *labels[] = {"a", "b", "b", "b"};
  const int starts[] = {0, 9, 18, 21}, ends[] = {8, 12, 20, 34};
  for (int i = 0; i < 4; i++) {
    cr_assert_str_eq(s[i].label, labels[i]);
    cr_assert_eq(s[i].char_start, starts[i], "span %d", i);
    cr_assert_eq(s[i].char_end, ends[i], "span %d", i);
  }
}

Test(results, adjacent_b_tags_are_separate_spans_and_pad_closes) {
  const char *tags[] = {"B-x", "B-x", "I-x", "PAD", "I-x", "UNK", "B-y"};
  bertd_span s[16];
  cr_assert_eq(spans_of(tags, 7, s), 4);
  cr_assert_eq(s[0].char_end, 3);
  cr_assert_eq(s[1].char_start, 4);
  cr_assert_eq(s[1].char_end, 12);
  cr_assert_eq(s[2].char_start, 18); /* I-x after PAD starts a new chunk */
  cr_assert_str_eq(s[3].label, "y");
}

Test(results, no_tags_no_spans) {
  bertd_span s[1];
  cr_assert_eq(bertd_spans_from_tags(NULL, 0, s, 1), 0);
}

Test(results, utf8_char_index) {
  const char *t = "h\xc3\xa9llo \xe4\xbd\xa0"; /* héllo 你 */
  cr_assert_eq(bertd_utf8_char_index(t, 0), 0);
  cr_assert_eq(bertd_utf8_char_index(t, 3), 2);
  cr_assert_eq(bertd_utf8_char_index(t, 7), 6);
  cr_assert_eq(bertd_utf8_char_index(t, 10), 7);
}
