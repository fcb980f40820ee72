/* test_offsets.c: the contiguous watermark that makes delivery at-least-once. */
#include <criterion/criterion.h>

#include "offsets.h"

static char err[256];

Test(offsets, watermark_waits_for_the_oldest_record) {
  bertd_offsets *o = bertd_offsets_new();
  for (int64_t off = 10; off < 15; off++)
    cr_assert_eq(bertd_offsets_track(o, "in", 0, off, err, sizeof err), 0, "%s", err);
  int64_t commit = -1;
  /* 12 and 11 finish before 10: nothing may be committed yet */
  cr_assert_eq(bertd_offsets_done(o, "in", 0, 12, &commit, err, sizeof err), 0);
  cr_assert_eq(bertd_offsets_done(o, "in", 0, 11, &commit, err, sizeof err), 0);
  cr_assert_eq(commit, -1);
  cr_assert_eq(bertd_offsets_in_flight(o), 3);
  /* 10 finishes: 10, 11, 12 are contiguous, next to consume is 13 */
  cr_assert_eq(bertd_offsets_done(o, "in", 0, 10, &commit, err, sizeof err), 1);
  cr_assert_eq(commit, 13);
  cr_assert_eq(bertd_offsets_done(o, "in", 0, 14, &commit, err, sizeof err), 0);
  cr_assert_eq(commit, 13);
  cr_assert_eq(bertd_offsets_done(o, "in", 0, 13, &commit, err, sizeof err), 1);
  cr_assert_eq(commit, 15);
  cr_assert_eq(bertd_offsets_in_flight(o), 0);
  bertd_offsets_free(o);
}

Test(offsets, partitions_are_independent_and_gaps_allowed) {
  bertd_offsets *o = bertd_offsets_new();
  cr_assert_eq(bertd_offsets_track(o, "in", 0, 0, err, sizeof err), 0);
  cr_assert_eq(bertd_offsets_track(o, "in", 1, 100, err, sizeof err), 0);
  cr_assert_eq(bertd_offsets_track(o, "in", 1, 105, err, sizeof err), 0); /* gap: compaction */
  cr_assert_eq(bertd_offsets_track(o, "other", 0, 7, err, sizeof err), 0);
  int64_t c = -1;
  cr_assert_eq(bertd_offsets_done(o, "in", 1, 105, &c, err, sizeof err), 0);
  cr_assert_eq(bertd_offsets_done(o, "in", 1, 100, &c, err, sizeof err), 1);
  cr_assert_eq(c, 106);
  cr_assert_eq(bertd_offsets_partition_in_flight(o, "in", 0), 1);
  cr_assert_eq(bertd_offsets_partition_in_flight(o, "other", 0), 1);
  bertd_offsets_forget(o, "in", 0);
  cr_assert_eq(bertd_offsets_in_flight(o), 1);
  bertd_offsets_free(o);
}

Test(offsets, errors_name_the_partition) {
  bertd_offsets *o = bertd_offsets_new();
  cr_assert_eq(bertd_offsets_track(o, "in", 2, 5, err, sizeof err), 0);
  cr_assert_eq(bertd_offsets_track(o, "in", 2, 5, err, sizeof err), -1);
  cr_assert_str_eq(err, "offsets: in[2] offset 5 tracked after 5");
  int64_t c;
  cr_assert_eq(bertd_offsets_done(o, "in", 2, 6, &c, err, sizeof err), -1);
  cr_assert_str_eq(err, "offsets: in[2] offset 6 is not in flight");
  cr_assert_eq(bertd_offsets_done(o, "in", 2, 5, &c, err, sizeof err), 1);
  cr_assert_eq(bertd_offsets_done(o, "in", 2, 5, &c, err, sizeof err), -1);
  bertd_offsets_free(o);
}

Test(offsets, many_records_out_of_order) {
  /* 100,000 records finished in a scrambled order: the watermark ends at the last + 1 and
   * never passes a record that is not done */
  enum { N = 100000 };
  bertd_offsets *o = bertd_offsets_new();
  for (int64_t i = 0; i < N; i++) cr_assert_eq(bertd_offsets_track(o, "t", 0, i, err, sizeof err), 0);
  static int done[N];
  int64_t c = 0, prev = 0;
  for (int64_t k = 0; k < N; k++) {
    int64_t i = (k * 7919) % N; /* 7919 is prime to N: a permutation */
    done[i] = 1;
    int r = bertd_offsets_done(o, "t", 0, i, &c, err, sizeof err);
    cr_assert(r >= 0, "%s", err);
    if (r == 1) {
      cr_assert(c > prev);
      for (int64_t j = prev; j < c; j++) cr_assert(done[j]);
      prev = c;
    }
  }
  cr_assert_eq(c, N);
  bertd_offsets_free(o);
}

/* A watermark that could not be committed is handed back once, to a re-assignment of the same
 * partition, and only while fresh. */
Test(offsets, resume_after_a_lost_assignment) {
  bertd_offsets *o = bertd_offsets_new();
  char err[256];
  int64_t commit = -1, at = -1;
  cr_assert_eq(bertd_offsets_watermark(o, "t", 0), -1, "untracked: no watermark");
  for (int64_t off = 10; off < 15; off++)
    cr_assert_eq(bertd_offsets_track(o, "t", 0, off, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_offsets_watermark(o, "t", 0), -1, "nothing delivered yet");
  cr_assert_eq(bertd_offsets_done(o, "t", 0, 10, &commit, err, sizeof err), 1);
  cr_assert_eq(bertd_offsets_done(o, "t", 0, 11, &commit, err, sizeof err), 1);
  cr_assert_eq(bertd_offsets_done(o, "t", 0, 13, &commit, err, sizeof err), 0);
  /* 12 is still in flight: the watermark stops before it, whatever came after */
  cr_expect_eq(bertd_offsets_watermark(o, "t", 0), 12);
  cr_assert_eq(bertd_offsets_remember(o, "t", 0, bertd_offsets_watermark(o, "t", 0), 1000), 0);
  cr_assert_eq(bertd_offsets_remember(o, "t", 1, 77, 1000), 0);
  bertd_offsets_forget(o, "t", 0);
  cr_expect_eq(bertd_offsets_watermark(o, "t", 0), -1, "forgotten with its partition");
  cr_expect_eq(bertd_offsets_take_resume(o, "u", 0, 1500, 60000, &at), 0, "other topic");
  cr_expect_eq(bertd_offsets_take_resume(o, "t", 0, 1500, 60000, &at), 1);
  cr_expect_eq(at, 12);
  cr_expect_eq(bertd_offsets_take_resume(o, "t", 0, 1500, 60000, &at), 0, "handed back once");
  /* partition 1's entry is too old by the time anyone asks */
  cr_expect_eq(bertd_offsets_take_resume(o, "t", 1, 1000 + 60001, 60000, &at), 0);
  cr_assert_eq(bertd_offsets_remember(o, "t", 1, 80, 5000), 0);
  cr_assert_eq(bertd_offsets_remember(o, "t", 1, 90, 6000), 0); /* replaces */
  cr_expect_eq(bertd_offsets_take_resume(o, "t", 1, 7000, 60000, &at), 1);
  cr_expect_eq(at, 90);
  bertd_offsets_free(o);
}
