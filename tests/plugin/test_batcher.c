/* test_batcher.c: the length buckets and their flush rules, with an injected clock (times in
 * microseconds are passed in, so nothing here sleeps or needs a model). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "batcher.h"

static const int EDGES[] = {16, 32, 64, 128, 256, 512};

static batcher *make(int max_tokens, int max_records, int64_t max_wait_us) {
  batcher_opts o = {EDGES, 6, max_tokens, max_records, max_wait_us};
  batcher *b = NULL;
  char err[256];
  cr_assert_eq(bertd_batcher_create(&o, &b, err, sizeof err), 0, "%s", err);
  return b;
}

/* item pointers that carry a number, so order can be checked */
#define ITEM(i) ((void *)(intptr_t)(i))
#define NUM(p) ((int)(intptr_t)(p))

Test(batcher, bucket_by_length_edges) {
  batcher *b = make(100000, 1000, 1000000);
  cr_assert_eq(bertd_batcher_bucket_count(b), 7);
  struct { int len, bucket; } cases[] = {
      {1, 0},   {2, 0},   {16, 0},  {17, 1},  {32, 1},  {33, 2},  {64, 2},   {65, 3},
      {128, 3}, {129, 4}, {256, 4}, {257, 5}, {512, 5}, {513, 6}, {4000, 6},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cr_assert_eq(bertd_batcher_bucket_for(b, cases[i].len), cases[i].bucket, "len %d", cases[i].len);
    cr_assert_eq(bertd_batcher_insert(b, cases[i].len, 0, ITEM(i)), cases[i].bucket);
  }
  cr_assert_eq(bertd_batcher_total(b), (int)(sizeof cases / sizeof *cases));
  cr_assert_eq(bertd_batcher_queued(b, 0), 3);
  cr_assert_eq(bertd_batcher_queued(b, 6), 2);
  bertd_batcher_free(b);
}

Test(batcher, no_edges_is_one_bucket) {
  batcher_opts o = {NULL, 0, 1000, 10, 0};
  batcher *b = NULL;
  char err[256];
  cr_assert_eq(bertd_batcher_create(&o, &b, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_batcher_bucket_count(b), 1);
  cr_assert_eq(bertd_batcher_bucket_for(b, 7), 0);
  cr_assert_eq(bertd_batcher_bucket_for(b, 700), 0);
  bertd_batcher_free(b);
}

Test(batcher, rejects_bad_options) {
  char err[256];
  batcher *b = NULL;
  int unsorted[] = {32, 16};
  batcher_opts o = {unsorted, 2, 100, 10, 0};
  cr_assert_eq(bertd_batcher_create(&o, &b, err, sizeof err), -1);
  cr_assert_null(b);
  cr_assert(strstr(err, "ascending"), "%s", err);
  int zero[] = {0, 16};
  o.edges = zero;
  cr_assert_eq(bertd_batcher_create(&o, &b, err, sizeof err), -1);
  o.edges = EDGES;
  o.max_batch_records = 0;
  cr_assert_eq(bertd_batcher_create(&o, &b, err, sizeof err), -1);
}

/* max_batch_tokens counts padded tokens: records x the longest record in the bucket */
Test(batcher, flush_on_padded_tokens) {
  batcher *b = make(100, 1000, 1000000);
  int k;
  /* bucket 1 (17..32): 30 + 20 + 20 = 70 real tokens but 3 x 30 = 90 padded; a 4th record
   * would cost at least 4 x 30 = 120 > 100, so the bucket is full */
  bertd_batcher_insert(b, 30, 0, ITEM(0));
  bertd_batcher_insert(b, 20, 1, ITEM(1));
  cr_assert_eq(bertd_batcher_due(b, 2, 0, &k), BATCHER_NOT_DUE);
  cr_assert_eq(bertd_batcher_padded_tokens(b, 1), 60);
  bertd_batcher_insert(b, 20, 2, ITEM(2));
  cr_assert_eq(bertd_batcher_padded_tokens(b, 1), 90);
  cr_assert_eq(bertd_batcher_due(b, 3, 0, &k), BATCHER_DUE_TOKENS);
  cr_assert_eq(k, 1);
  void *items[16];
  cr_assert_eq(bertd_batcher_take(b, 1, items, 16), 3);
  cr_assert_eq(bertd_batcher_queued(b, 1), 0);
  cr_assert_eq(bertd_batcher_due(b, 3, 0, &k), BATCHER_NOT_DUE);

  /* 25-token records: 4 x 25 = 100 fits exactly, 5 would not */
  for (int i = 0; i < 3; i++) bertd_batcher_insert(b, 25, 10, ITEM(10 + i));
  cr_assert_eq(bertd_batcher_due(b, 11, 0, &k), BATCHER_NOT_DUE);
  bertd_batcher_insert(b, 25, 10, ITEM(13));
  cr_assert_eq(bertd_batcher_due(b, 11, 0, &k), BATCHER_DUE_TOKENS);
  cr_assert_eq(bertd_batcher_take(b, 1, items, 16), 4);
  bertd_batcher_free(b);
}

/* a longer record arriving at a nearly full bucket widens every row: take only what fits */
Test(batcher, take_stops_where_padding_would_exceed) {
  batcher *b = make(100, 1000, 1000000);
  int k;
  bertd_batcher_insert(b, 20, 0, ITEM(0));
  bertd_batcher_insert(b, 20, 0, ITEM(1));
  bertd_batcher_insert(b, 20, 0, ITEM(2));   /* 60 padded; a 4th of 20 would make 80: not full */
  cr_assert_eq(bertd_batcher_due(b, 0, 0, &k), BATCHER_NOT_DUE);
  bertd_batcher_insert(b, 32, 0, ITEM(3));   /* 4 x 32 = 128 > 100 */
  cr_assert_eq(bertd_batcher_due(b, 0, 0, &k), BATCHER_DUE_TOKENS);
  void *items[16];
  cr_assert_eq(bertd_batcher_take(b, 1, items, 16), 3); /* 3 x 20 = 60; adding the 32 costs 128 */
  cr_assert_eq(NUM(items[2]), 2);
  cr_assert_eq(bertd_batcher_queued(b, 1), 1);
  cr_assert_eq(bertd_batcher_padded_tokens(b, 1), 32);
  cr_assert_eq(bertd_batcher_due(b, 0, 0, &k), BATCHER_NOT_DUE);
  bertd_batcher_free(b);
}

/* a record alone over the budget still runs, by itself */
Test(batcher, oversized_record_runs_alone) {
  batcher *b = make(100, 1000, 1000000);
  int k;
  bertd_batcher_insert(b, 300, 0, ITEM(0));
  bertd_batcher_insert(b, 300, 0, ITEM(1));
  cr_assert_eq(bertd_batcher_due(b, 0, 0, &k), BATCHER_DUE_TOKENS);
  cr_assert_eq(k, 5);
  void *items[4];
  cr_assert_eq(bertd_batcher_take(b, k, items, 4), 1);
  cr_assert_eq(NUM(items[0]), 0);
  cr_assert_eq(bertd_batcher_take(b, k, items, 4), 1);
  cr_assert_eq(NUM(items[0]), 1);
  bertd_batcher_free(b);
}

Test(batcher, flush_on_max_records) {
  batcher *b = make(100000, 4, 1000000);
  int k;
  for (int i = 0; i < 3; i++) bertd_batcher_insert(b, 10, i, ITEM(i));
  cr_assert_eq(bertd_batcher_due(b, 5, 0, &k), BATCHER_NOT_DUE);
  for (int i = 3; i < 9; i++) bertd_batcher_insert(b, 10, i, ITEM(i));
  cr_assert_eq(bertd_batcher_due(b, 10, 0, &k), BATCHER_DUE_RECORDS);
  cr_assert_eq(k, 0);
  void *items[16];
  cr_assert_eq(bertd_batcher_take(b, 0, items, 16), 4);
  cr_assert_eq(bertd_batcher_take(b, 0, items, 16), 4);
  cr_assert_eq(bertd_batcher_queued(b, 0), 1);
  cr_assert_eq(bertd_batcher_due(b, 10, 0, &k), BATCHER_NOT_DUE); /* 1 record, not old yet */
  /* cap below max_batch_records limits a take too */
  for (int i = 0; i < 5; i++) bertd_batcher_insert(b, 10, 20, ITEM(100 + i));
  cr_assert_eq(bertd_batcher_take(b, 0, items, 2), 2);
  bertd_batcher_free(b);
}

Test(batcher, flush_on_max_wait) {
  const int64_t wait = 5000; /* 5 ms */
  batcher *b = make(100000, 1000, wait);
  int k;
  cr_assert_eq(bertd_batcher_next_deadline(b), INT64_MAX);
  bertd_batcher_insert(b, 40, 1000, ITEM(0));  /* bucket 2 */
  bertd_batcher_insert(b, 10, 3000, ITEM(1));  /* bucket 0 */
  cr_assert_eq(bertd_batcher_next_deadline(b), 1000 + wait);
  cr_assert_eq(bertd_batcher_due(b, 1000 + wait - 1, 0, &k), BATCHER_NOT_DUE);
  cr_assert_eq(bertd_batcher_due(b, 1000 + wait, 0, &k), BATCHER_DUE_WAIT);
  cr_assert_eq(k, 2);
  void *items[4];
  cr_assert_eq(bertd_batcher_take(b, k, items, 4), 1);
  cr_assert_eq(bertd_batcher_next_deadline(b), 3000 + wait);
  cr_assert_eq(bertd_batcher_due(b, 3000 + wait - 1, 0, &k), BATCHER_NOT_DUE);
  cr_assert_eq(bertd_batcher_due(b, 3000 + wait, 0, &k), BATCHER_DUE_WAIT);
  cr_assert_eq(k, 0);
  bertd_batcher_free(b);
}

Test(batcher, zero_wait_is_due_at_once) {
  batcher *b = make(100000, 1000, 0);
  int k;
  bertd_batcher_insert(b, 10, 7, ITEM(0));
  cr_assert_eq(bertd_batcher_due(b, 7, 0, &k), BATCHER_DUE_WAIT);
  bertd_batcher_free(b);
}

Test(batcher, flush_all_runs_every_nonempty_bucket) {
  batcher *b = make(100000, 1000, 1000000);
  int k;
  bertd_batcher_insert(b, 100, 0, ITEM(0));
  bertd_batcher_insert(b, 10, 1, ITEM(1));
  cr_assert_eq(bertd_batcher_due(b, 2, 0, &k), BATCHER_NOT_DUE);
  void *items[4];
  cr_assert_eq(bertd_batcher_due(b, 2, 1, &k), BATCHER_DUE_FLUSH);
  cr_assert_eq(k, 3); /* the oldest first */
  bertd_batcher_take(b, k, items, 4);
  cr_assert_eq(bertd_batcher_due(b, 2, 1, &k), BATCHER_DUE_FLUSH);
  cr_assert_eq(k, 0);
  bertd_batcher_take(b, k, items, 4);
  cr_assert_eq(bertd_batcher_due(b, 2, 1, &k), BATCHER_NOT_DUE);
  cr_assert_eq(k, -1);
  bertd_batcher_free(b);
}

/* among due buckets, the one holding the oldest record goes first */
Test(batcher, oldest_due_bucket_first) {
  batcher *b = make(100000, 2, 1000000);
  int k;
  bertd_batcher_insert(b, 100, 5, ITEM(0));
  bertd_batcher_insert(b, 100, 6, ITEM(1)); /* bucket 3 full by records, oldest at 5 */
  bertd_batcher_insert(b, 10, 1, ITEM(2));
  bertd_batcher_insert(b, 10, 9, ITEM(3));  /* bucket 0 full by records, oldest at 1 */
  cr_assert_eq(bertd_batcher_due(b, 10, 0, &k), BATCHER_DUE_RECORDS);
  cr_assert_eq(k, 0);
  bertd_batcher_free(b);
}

/* records leave a bucket in the order they came, across takes and ring wrap-around */
Test(batcher, order_within_bucket_kept) {
  batcher *b = make(100000, 7, 1000000);
  void *items[8];
  int next_in = 0, next_out = 0;
  for (int round = 0; round < 50; round++) {
    for (int i = 0; i < 5 + round % 7; i++, next_in++)
      bertd_batcher_insert(b, 1 + next_in % 16, round, ITEM(next_in));
    int n = bertd_batcher_take(b, 0, items, 8);
    cr_assert(n >= 1 && n <= 7);
    for (int i = 0; i < n; i++) cr_assert_eq(NUM(items[i]), next_out++);
  }
  int n;
  while ((n = bertd_batcher_take(b, 0, items, 8)) > 0)
    for (int i = 0; i < n; i++) cr_assert_eq(NUM(items[i]), next_out++);
  cr_assert_eq(next_out, next_in);
  cr_assert_eq(bertd_batcher_total(b), 0);
  bertd_batcher_free(b);
}
