/* test_registry_wait.c: records waiting for a Schema Registry that is down: tried again in
 * arrival order, with a delay that doubles from the first to the cap while the registry stays
 * down and starts over once it answers; a record that leaves (decoded, or dead-lettered for a
 * fault of its own) lets the next one be tried at once. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "registry_wait.h"

typedef struct {
  int up;          /* the registry answers */
  int tried[64];   /* items in the order try_fn saw them */
  int ntried;
} outage;

static int try_item(void *ctx, void *item, char *errstr, size_t errstr_size) {
  outage *s = ctx;
  int id = *(int *)item;
  s->tried[s->ntried++] = id;
  if (!s->up) {
    snprintf(errstr, errstr_size, "schema registry http://127.0.0.1:1: Connection refused");
    return BERTD_WAIT_STILL_UNAVAILABLE;
  }
  return BERTD_WAIT_LEFT;
}

Test(registry_wait, backoff_doubles_to_the_cap_then_starts_over) {
  bertd_registry_wait *w = bertd_registry_wait_new(200, 1000);
  cr_assert(w);
  char err[256];
  int items[3] = {1, 2, 3};
  outage s = {0};
  cr_assert_eq(bertd_registry_wait_add(w, &items[0], 10000, "registry down", err, sizeof err), 0);
  cr_assert_eq(bertd_registry_wait_add(w, &items[1], 10050, "registry down", err, sizeof err), 0);
  cr_assert_eq(bertd_registry_wait_count(w), 2);
  /* the first retry is due first_ms after the first record began to wait */
  cr_assert_eq(bertd_registry_wait_next_ms(w), 10200);
  cr_assert_eq(bertd_registry_wait_run(w, 10199, try_item, &s), 0);
  cr_assert_eq(s.ntried, 0, "not due yet: nothing tried");
  /* down: only the head is tried; waits 400, 800, then 1000 (the cap), 1000 */
  const int64_t at[4] = {10200, 10600, 11400, 12400};
  const int64_t delay[4] = {400, 800, 1000, 1000};
  for (int k = 0; k < 4; k++) {
    cr_assert_eq(bertd_registry_wait_run(w, at[k], try_item, &s), 0);
    cr_assert_eq(s.ntried, k + 1);
    cr_assert_eq(s.tried[k], 1, "the oldest record is tried first");
    cr_assert_eq(bertd_registry_wait_delay_ms(w), delay[k], "retry %d", k);
    cr_assert_eq(bertd_registry_wait_next_ms(w), at[k] + delay[k], "retry %d", k);
  }
  cr_assert_eq(bertd_registry_wait_add(w, &items[2], 12500, "registry down", err, sizeof err), 0);
  cr_assert_eq(bertd_registry_wait_next_ms(w), 13400, "a later record does not move the retry");
  /* up again: every waiting record leaves in arrival order in one run */
  s.up = 1;
  s.ntried = 0;
  cr_assert_eq(bertd_registry_wait_run(w, 13400, try_item, &s), 3);
  cr_assert_eq(s.ntried, 3);
  cr_assert(s.tried[0] == 1 && s.tried[1] == 2 && s.tried[2] == 3);
  cr_assert_eq(bertd_registry_wait_count(w), 0);
  cr_assert_eq(bertd_registry_wait_delay_ms(w), 0);
  /* a new outage starts over at first_ms */
  s.up = 0;
  cr_assert_eq(bertd_registry_wait_add(w, &items[0], 20000, "registry down", err, sizeof err), 0);
  cr_assert_eq(bertd_registry_wait_next_ms(w), 20200);
  cr_assert_eq(bertd_registry_wait_delay_ms(w), 200);
  bertd_registry_wait_free(w);
}

/* The registry answers for the first record and goes down again before the second: the first
 * leaves, the second keeps waiting, with the delay started over (the registry did answer). */
static int up_once(void *ctx, void *item, char *errstr, size_t errstr_size) {
  int *answers = ctx;
  (void)item;
  if (*answers > 0) {
    (*answers)--;
    return BERTD_WAIT_LEFT;
  }
  snprintf(errstr, errstr_size, "down");
  return BERTD_WAIT_STILL_UNAVAILABLE;
}

Test(registry_wait, partial_recovery_keeps_the_rest_waiting) {
  bertd_registry_wait *w = bertd_registry_wait_new(100, 800);
  char err[256];
  int items[200];
  for (int i = 0; i < 200; i++) /* more than the first allocation: the FIFO grows */
    cr_assert_eq(bertd_registry_wait_add(w, &items[i], 0, "down", err, sizeof err), 0);
  int answers = 0;
  bertd_registry_wait_run(w, 100, up_once, &answers); /* fails: delay 200 */
  bertd_registry_wait_run(w, 300, up_once, &answers); /* fails: delay 400 */
  cr_assert_eq(bertd_registry_wait_delay_ms(w), 400);
  answers = 150;
  cr_assert_eq(bertd_registry_wait_run(w, 700, up_once, &answers), 150);
  cr_assert_eq(bertd_registry_wait_count(w), 50);
  cr_assert_eq(bertd_registry_wait_delay_ms(w), 200, "started over at first_ms, then doubled");
  cr_assert_eq(bertd_registry_wait_next_ms(w), 900);
  /* space of the records that left is reused */
  for (int i = 0; i < 150; i++)
    cr_assert_eq(bertd_registry_wait_add(w, &items[i], 700, "down", err, sizeof err), 0);
  cr_assert_eq(bertd_registry_wait_count(w), 200);
  answers = 1000;
  cr_assert_eq(bertd_registry_wait_run(w, 900, up_once, &answers), 200);
  bertd_registry_wait_free(w);
}
