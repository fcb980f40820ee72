/* test_session.c: a session's warm-up (session.c). A server warms a session up at start-up so
 * that its memory is allocated once; results after a warm-up must be bit-for-bit those of a
 * fresh session, and bad capacities must be refused with a message. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bertd.h"

static bertd_model *load(const char *name) {
  char dir[1024], err[512];
  snprintf(dir, sizeof dir, "%s/models/%s", BERTD_FIXTURES, name);
  bertd_model *m = NULL;
  cr_assert_eq(bertd_model_load(dir, &m, err, sizeof err), 0, "%s", err);
  return m;
}

/* Joint intent and slot logits of two texts in one batch, copied out of the session. */
static void joint_logits(bertd_session *s, const bertd_model *m, float *intent, int *ni,
                         float *slots, int *ns) {
  const char *texts[2] = {"show me flights from boston to denver on monday",
                          "what is the cheapest fare"};
  bertd_encoding enc[2];
  memset(enc, 0, sizeof enc);
  const bertd_encoding *batch[2] = {&enc[0], &enc[1]};
  char err[512];
  for (int i = 0; i < 2; i++)
    cr_assert_eq(bertd_tokenizer_encode(bertd_model_tokenizer(m), texts[i], strlen(texts[i]),
                                        NULL, 0, 64, BERTD_TRUNC_LONGEST_FIRST, &enc[i], err,
                                        sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_session_forward(s, batch, 2, err, sizeof err), 0, "%s", err);
  *ni = *ns = 0;
  for (int b = 0; b < 2; b++) {
    int n1 = 0, n2 = 0;
    const float *a = bertd_session_logits(s, b, "intent", &n1);
    const float *z = bertd_session_logits(s, b, "slots", &n2);
    cr_assert(a && z, "joint fixture has intent and slot logits");
    memcpy(intent + *ni, a, sizeof(float) * (size_t)n1);
    memcpy(slots + *ns, z, sizeof(float) * (size_t)n2);
    *ni += n1;
    *ns += n2;
  }
  bertd_encoding_free(&enc[0]);
  bertd_encoding_free(&enc[1]);
}

Test(session, warm_up_leaves_results_bit_identical) {
  bertd_model *m = load("joint");
  bertd_session *fresh, *warm;
  char err[512];
  cr_assert_eq(bertd_session_create(m, &fresh, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_session_create(m, &warm, err, sizeof err), 0, "%s", err);
  /* a capacity larger than any batch below, with a max_len past the model's 512 (clamped) */
  cr_assert_eq(bertd_session_warm_up(warm, 32, 4096, 100000, err, sizeof err), 0, "%s", err);
  static float i1[4096], s1[65536], i2[4096], s2[65536];
  int ni1, ns1, ni2, ns2;
  joint_logits(fresh, m, i1, &ni1, s1, &ns1);
  joint_logits(warm, m, i2, &ni2, s2, &ns2);
  cr_assert_eq(ni1, ni2);
  cr_assert_eq(ns1, ns2);
  cr_assert_gt(ni1, 0);
  cr_assert_gt(ns1, 0);
  cr_assert_eq(memcmp(i1, i2, sizeof(float) * (size_t)ni1), 0, "intent logits differ");
  cr_assert_eq(memcmp(s1, s2, sizeof(float) * (size_t)ns1), 0, "slot logits differ");
  bertd_session_free(fresh);
  bertd_session_free(warm);
  bertd_model_free(m);
}

Test(session, warm_up_refuses_non_positive_capacities) {
  bertd_model *m = load("seq_cls");
  bertd_session *s;
  char err[512];
  cr_assert_eq(bertd_session_create(m, &s, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_session_warm_up(s, 0, 4096, 64, err, sizeof err), -1);
  cr_assert_str_eq(err, "warm-up: batch 0, tokens 4096, length 64 must be positive");
  cr_assert_eq(bertd_session_warm_up(s, 8, 4096, -1, err, sizeof err), -1);
  cr_assert_str_eq(err, "warm-up: batch 8, tokens 4096, length -1 must be positive");
  /* one record longer than max_tokens is still a batch the session must hold */
  cr_assert_eq(bertd_session_warm_up(s, 4, 8, 64, err, sizeof err), 0, "%s", err);
  bertd_session_free(s);
  bertd_model_free(m);
}

/* Hidden states of a batch of texts of different lengths, through a session of `threads`. */
static void hidden_states(const bertd_model *m, int threads, float *out, int *n_out) {
  static const char *const texts[] = {
      "show me flights from boston to denver on monday",
      "what is the cheapest fare",
      "i would like to book a round trip flight from kansas city to chicago on wednesday may "
      "twenty third and return on friday",
      "list la",
      "which airlines fly between toronto and san diego",
      "ground transportation in denver",
      "okay",
  };
  enum { NT = sizeof texts / sizeof texts[0] };
  bertd_encoding enc[NT];
  const bertd_encoding *batch[NT];
  memset(enc, 0, sizeof enc);
  char err[512];
  for (int i = 0; i < NT; i++) {
    cr_assert_eq(bertd_tokenizer_encode(bertd_model_tokenizer(m), texts[i], strlen(texts[i]),
                                        NULL, 0, 64, BERTD_TRUNC_LONGEST_FIRST, &enc[i], err,
                                        sizeof err), 0, "%s", err);
    batch[i] = &enc[i];
  }
  bertd_session *s;
  cr_assert_eq(bertd_session_create(m, &s, err, sizeof err), 0, "%s", err);
  bertd_session_set_threads(s, threads);
  /* twice: the second pass reuses the pool's threads */
  for (int pass = 0; pass < 2; pass++) {
    cr_assert_eq(bertd_session_forward(s, batch, NT, err, sizeof err), 0, "%s", err);
    int n = 0;
    for (int b = 0; b < NT; b++) {
      int len = 0;
      const float *h = bertd_session_hidden(s, b, &len);
      const float *pooled = bertd_session_pooled(s, b);
      cr_assert(h && pooled);
      memcpy(out + n, h, sizeof(float) * (size_t)len * 32);
      n += len * 32;
      memcpy(out + n, pooled, sizeof(float) * 32);
      n += 32;
    }
    *n_out = n;
  }
  bertd_session_free(s);
  for (int i = 0; i < NT; i++) bertd_encoding_free(&enc[i]);
}

/* A batch split across threads (encoder.c's slices) gives each sequence the hidden state and
 * pooled output one thread gives it: 2 and 3 threads over 7 sequences of 3..30 tokens. */
Test(session, threads_split_batch_same_results) {
  bertd_model *m = load("joint");
  cr_assert_eq(bertd_model_config(m)->hidden_size, 32, "fixture shape the copy assumes");
  static float one[65536], many[65536];
  int n1 = 0, nm = 0;
  hidden_states(m, 1, one, &n1);
  for (int threads = 2; threads <= 3; threads++) {
    hidden_states(m, threads, many, &nm);
    cr_assert_eq(n1, nm);
    double worst = 0.0;
    for (int i = 0; i < n1; i++) {
      const double d = fabs((double)one[i] - many[i]);
      worst = d > worst ? d : worst;
    }
    cr_expect_leq(worst, 1e-6, "%d threads: max |d| %.3g", threads, worst);
    printf("session: %d threads vs 1: max |d| %.3g over %d values\n", threads, worst, n1);
  }
  bertd_model_free(m);
}

/* bertd_session_forward_ids (the encoder alone on packed ids) leaves the hidden states and pooled
 * outputs readable, bit for bit those of bertd_session_forward on the same ids; the heads did not
 * run, so their logits are not (NULL), where a stale earlier batch's used to be reachable. */
Test(session, forward_ids_hidden_states_equal_forward) {
  bertd_model *m = load("joint");
  const int H = bertd_model_config(m)->hidden_size;
  static const char *const texts[] = {"show me flights from boston to denver", "okay"};
  bertd_encoding enc[2];
  const bertd_encoding *batch[2];
  memset(enc, 0, sizeof enc);
  char err[512];
  int lens[2], N = 0;
  int32_t ids[128], types[128];
  for (int i = 0; i < 2; i++) {
    cr_assert_eq(bertd_tokenizer_encode(bertd_model_tokenizer(m), texts[i], strlen(texts[i]),
                                        NULL, 0, 64, BERTD_TRUNC_LONGEST_FIRST, &enc[i], err,
                                        sizeof err), 0, "%s", err);
    batch[i] = &enc[i];
    lens[i] = enc[i].n;
    memcpy(ids + N, enc[i].ids, sizeof(int32_t) * (size_t)enc[i].n);
    memcpy(types + N, enc[i].type_ids, sizeof(int32_t) * (size_t)enc[i].n);
    N += enc[i].n;
  }
  bertd_session *s;
  cr_assert_eq(bertd_session_create(m, &s, err, sizeof err), 0, "%s", err);
  bertd_session_set_threads(s, 1);
  cr_assert_eq(bertd_session_forward(s, batch, 2, err, sizeof err), 0, "%s", err);
  static float want[128 * 64 + 2 * 64];
  int n = 0;
  for (int b = 0; b < 2; b++) {
    int len = 0;
    const float *h = bertd_session_hidden(s, b, &len);
    cr_assert(h && bertd_session_pooled(s, b));
    memcpy(want + n, h, sizeof(float) * (size_t)len * H);
    n += len * H;
    memcpy(want + n, bertd_session_pooled(s, b), sizeof(float) * (size_t)H);
    n += H;
  }
  int nl = 0;
  cr_assert_not_null(bertd_session_logits(s, 0, "intent", &nl), "the joint fixture's head ran");

  cr_assert_eq(bertd_session_forward_ids(s, 2, lens, ids, types, err, sizeof err), 0, "%s", err);
  n = 0;
  for (int b = 0; b < 2; b++) {
    int len = 0;
    const float *h = bertd_session_hidden(s, b, &len);
    cr_assert_not_null(h, "sequence %d's hidden states after forward_ids", b);
    cr_assert_eq(len, lens[b]);
    cr_assert_eq(memcmp(want + n, h, sizeof(float) * (size_t)len * H), 0, "sequence %d", b);
    n += len * H;
    cr_assert_eq(memcmp(want + n, bertd_session_pooled(s, b), sizeof(float) * (size_t)H), 0);
    n += H;
  }
  cr_assert_null(bertd_session_hidden(s, 2, NULL));
  cr_assert_null(bertd_session_logits(s, 0, "intent", &nl), "no head ran in forward_ids");
  bertd_session_free(s);
  for (int i = 0; i < 2; i++) bertd_encoding_free(&enc[i]);
  bertd_model_free(m);
}
