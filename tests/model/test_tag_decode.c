/* test_tag_decode.c: per-word tag logits -> tags (tag_decode.c). argmax must be each word's best
 * tag; bio must be the most probable sequence with every I-X after B-X or I-X, checked against
 * enumerating every sequence on small random cases. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "bertd.h"

/* JointBERT's slot list shape: PAD and UNK first, then O and BIO tags of two types */
static const char *const NAMES[] = {"PAD", "UNK", "O", "B-from", "I-from", "B-to", "I-to"};
#define K 7

static double log_softmax_at(const float *row, int k, int j) {
  double m = row[0], s = 0;
  for (int i = 1; i < k; i++) m = row[i] > m ? row[i] : m;
  for (int i = 0; i < k; i++) s += exp((double)row[i] - m);
  return (double)row[j] - m - log(s);
}

/* "O I-to": argmax keeps the broken span; bio repairs it to "B-to I-to" because I-to is far
 * more probable than anything else for the second word, and B-to is the first word's runner-up. */
Test(tag_decode, repairs_an_i_tag_after_o) {
  const float logits[2 * K] = {
      -5, -5, 2.0f, -1, -1, 1.5f, -1, /* word 0: O 2.0, B-to 1.5 */
      -5, -5, -2, -2, -2, -2, 4.0f,   /* word 1: I-to 4.0 */
  };
  int32_t out[2];
  float p[2];
  char err[256];
  cr_assert_eq(bertd_tag_decode(logits, 2, K, NAMES, BERTD_TAG_DECODE_ARGMAX, out, p, err,
                                sizeof err), 0, "%s", err);
  cr_expect_eq(out[0], 2);
  cr_expect_eq(out[1], 6);
  cr_expect_float_eq(p[0], (float)exp(log_softmax_at(logits, K, 2)), 1e-7);
  cr_assert_eq(bertd_tag_decode(logits, 2, K, NAMES, BERTD_TAG_DECODE_BIO, out, p, err,
                                sizeof err), 0, "%s", err);
  cr_expect_eq(out[0], 5, "word 0 is %s", NAMES[out[0]]);
  cr_expect_eq(out[1], 6, "word 1 is %s", NAMES[out[1]]);
  cr_expect_float_eq(p[0], (float)exp(log_softmax_at(logits, K, 5)), 1e-7);
  cr_expect_float_eq(p[1], (float)exp(log_softmax_at(logits + K, K, 6)), 1e-7);
}

/* "B-from I-to": the second word cannot continue another type; when I-to is only slightly ahead
 * of O, bio chooses O rather than rewriting the confident first word. */
Test(tag_decode, type_change_inside_a_span) {
  const float logits[2 * K] = {
      -5, -5, -3, 5.0f, -3, -3, -3, /* word 0: B-from, confident */
      -5, -5, 1.9f, -3, -3, -3, 2.0f, /* word 1: I-to 2.0, O 1.9 */
  };
  int32_t out[2];
  char err[256];
  cr_assert_eq(bertd_tag_decode(logits, 2, K, NAMES, BERTD_TAG_DECODE_BIO, out, NULL, err,
                                sizeof err), 0, "%s", err);
  cr_expect_eq(out[0], 3);
  cr_expect_eq(out[1], 2);
}

/* small deterministic generator for the random cases */
static uint32_t next(uint32_t *s) {
  *s = *s * 1664525u + 1013904223u;
  return *s >> 8;
}

static int valid(const int *seq, int n) {
  for (int t = 0; t < n; t++) {
    const char *tag = NAMES[seq[t]];
    if (tag[0] != 'I') continue;
    if (t == 0) return 0;
    const char *prev = NAMES[seq[t - 1]];
    if ((prev[0] != 'B' && prev[0] != 'I') || prev[1] != '-' || strcmp(prev + 2, tag + 2))
      return 0;
  }
  return 1;
}

/* bio equals the best of all K^n sequences that are valid, on 300 random cases of 1-5 words */
Test(tag_decode, bio_is_the_best_valid_sequence) {
  uint32_t seed = 12345;
  char err[256];
  for (int c = 0; c < 300; c++) {
    int n = 1 + c % 5;
    float logits[5 * K];
    for (int i = 0; i < n * K; i++) logits[i] = (float)(next(&seed) % 10000) / 1000.0f - 5.0f;
    int32_t got[5];
    cr_assert_eq(bertd_tag_decode(logits, n, K, NAMES, BERTD_TAG_DECODE_BIO, got, NULL, err,
                                  sizeof err), 0, "%s", err);
    int seq[5] = {0}, best[5] = {0};
    double best_score = -INFINITY;
    long total = 1;
    for (int t = 0; t < n; t++) total *= K;
    for (long code = 0; code < total; code++) {
      long x = code;
      for (int t = 0; t < n; t++, x /= K) seq[t] = (int)(x % K);
      if (!valid(seq, n)) continue;
      double s = 0;
      for (int t = 0; t < n; t++) s += log_softmax_at(logits + t * K, K, seq[t]);
      if (s > best_score) {
        best_score = s;
        memcpy(best, seq, sizeof seq);
      }
    }
    int gseq[5];
    for (int t = 0; t < n; t++) gseq[t] = got[t];
    cr_assert(valid(gseq, n), "case %d: decoded sequence is not valid BIO", c);
    for (int t = 0; t < n; t++)
      cr_assert_eq(got[t], best[t], "case %d word %d: %s, best valid %s", c, t, NAMES[got[t]],
                   NAMES[best[t]]);
  }
}

/* a label set with no I- tags (classification-style tags) decodes as argmax under bio */
Test(tag_decode, labels_without_bio_are_argmax) {
  static const char *const plain[] = {"neg", "pos", "neu"};
  const float logits[3 * 3] = {0, 1, 2, 2, 1, 0, 0, 3, 1};
  int32_t out[3];
  char err[256];
  cr_assert_eq(bertd_tag_decode(logits, 3, 3, plain, BERTD_TAG_DECODE_BIO, out, NULL, err,
                                sizeof err), 0, "%s", err);
  cr_expect_eq(out[0], 2);
  cr_expect_eq(out[1], 0);
  cr_expect_eq(out[2], 1);
  /* only I- tags: no legal first tag, so argmax rather than nothing */
  static const char *const only_i[] = {"I-a", "I-b"};
  const float l2[2 * 2] = {0, 1, 1, 0};
  cr_assert_eq(bertd_tag_decode(l2, 2, 2, only_i, BERTD_TAG_DECODE_BIO, out, NULL, err,
                                sizeof err), 0, "%s", err);
  cr_expect_eq(out[0], 1);
  cr_expect_eq(out[1], 0);
}

Test(tag_decode, empty_and_names) {
  int32_t out[1];
  char err[256];
  cr_expect_eq(bertd_tag_decode(NULL, 0, K, NAMES, BERTD_TAG_DECODE_BIO, out, NULL, err,
                                sizeof err), 0);
  cr_expect_eq(bertd_tag_decode(NULL, 1, 0, NAMES, BERTD_TAG_DECODE_BIO, out, NULL, err,
                                sizeof err), -1);
  cr_expect_str_eq(err, "tag decode: no tags to choose from");
  bertd_tag_decoding d;
  cr_expect_eq(bertd_tag_decoding_parse("argmax", &d), 0);
  cr_expect_eq(d, BERTD_TAG_DECODE_ARGMAX);
  cr_expect_eq(bertd_tag_decoding_parse("bio", &d), 0);
  cr_expect_eq(d, BERTD_TAG_DECODE_BIO);
  cr_expect_eq(bertd_tag_decoding_parse("viterbi", &d), -1);
  cr_expect_str_eq(bertd_tag_decoding_name(BERTD_TAG_DECODE_ARGMAX), "argmax");
}
