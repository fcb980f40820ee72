/* test_train_data.c: an epoch's batch plan: every sequence exactly once, batches cut from
 * length-sorted pools (similar lengths), a seeded order, and the plain order for evaluation. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_train.h"

static char err[256];

/* A set with n sequences of pseudo-random lengths 3..66 (only lengths matter to the plan). */
static void fake_set(bertd_train_set *s, size_t n) {
  memset(s, 0, sizeof *s);
  s->seqs = calloc(n, sizeof *s->seqs);
  s->n = n;
  for (size_t i = 0; i < n; i++) s->seqs[i].len = 3 + (int)((i * 2654435761u) % 64);
}

static void check_permutation(const bertd_train_plan *p, size_t n) {
  char *seen = calloc(n, 1);
  cr_assert_eq(p->start[0], 0);
  cr_assert_eq(p->start[p->n_batches], n);
  for (size_t i = 0; i < n; i++) {
    cr_assert_lt(p->order[i], n);
    cr_assert_not(seen[p->order[i]], "sequence %zu twice", p->order[i]);
    seen[p->order[i]] = 1;
  }
  free(seen);
}

Test(train_data, bucketed_epoch_is_a_permutation_of_similar_lengths) {
  bertd_train_set s;
  fake_set(&s, 1003);
  bertd_train_plan p = {0};
  bertd_rng r;
  bertd_rng_seed(&r, 1);
  cr_assert_eq(bertd_train_plan_epoch(&p, &s, 16, 1, &r, err, sizeof err), 0, "%s", err);
  cr_assert_eq(p.n_batches, 63);
  check_permutation(&p, s.n);
  /* sorted pools of 800 and 203 sequences: a full batch spans a few lengths, not 64 */
  long spread = 0;
  for (size_t b = 0; b < p.n_batches; b++) {
    int lo = 1000, hi = 0;
    for (size_t k = p.start[b]; k < p.start[b + 1]; k++) {
      int len = s.seqs[p.order[k]].len;
      lo = len < lo ? len : lo, hi = len > hi ? len : hi;
    }
    spread += hi - lo;
  }
  cr_expect_lt(spread / (long)p.n_batches, 8, "mean spread %ld", spread / (long)p.n_batches);
  /* the same seed gives the same plan; another seed another */
  bertd_train_plan q = {0};
  bertd_rng_seed(&r, 1);
  cr_assert_eq(bertd_train_plan_epoch(&q, &s, 16, 1, &r, err, sizeof err), 0);
  cr_expect_eq(memcmp(p.order, q.order, s.n * sizeof *p.order), 0);
  bertd_rng_seed(&r, 2);
  cr_assert_eq(bertd_train_plan_epoch(&q, &s, 16, 1, &r, err, sizeof err), 0);
  cr_expect_neq(memcmp(p.order, q.order, s.n * sizeof *p.order), 0);
  bertd_train_plan_free(&p);
  bertd_train_plan_free(&q);
  bertd_train_set_free(&s);
}

Test(train_data, evaluation_plan_keeps_the_order) {
  bertd_train_set s;
  fake_set(&s, 10);
  bertd_train_plan p = {0};
  cr_assert_eq(bertd_train_plan_epoch(&p, &s, 4, 1, NULL, err, sizeof err), 0);
  cr_assert_eq(p.n_batches, 3);
  for (size_t i = 0; i < 10; i++) cr_expect_eq(p.order[i], i);
  cr_expect_eq(p.start[1], 4);
  cr_expect_eq(p.start[3], 10);
  bertd_train_plan_free(&p);
  bertd_train_set_free(&s);
}
