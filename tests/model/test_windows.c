/* test_windows.c: the window arithmetic (bertd_window_*), worked by hand from tokenizers'
 * Encoding::truncate: windows start every width - stride tokens, the last one ends at n. */
#include <criterion/criterion.h>

#include "bertd_tokenizer.h"

Test(windows, a_sequence_that_fits_is_one_window) {
  int s, e;
  cr_assert_eq(bertd_window_count(10, 10, 3), 1);
  bertd_window_range(10, 10, 3, 0, &s, &e);
  cr_assert_eq(s, 0);
  cr_assert_eq(e, 10);
}

Test(windows, starts_step_by_width_less_stride) {
  /* n 25, width 10, stride 4: step 6 -> [0,10) [6,16) [12,22) [18,25) */
  const int want[][2] = {{0, 10}, {6, 16}, {12, 22}, {18, 25}};
  cr_assert_eq(bertd_window_count(25, 10, 4), 4);
  for (int k = 0; k < 4; k++) {
    int s, e;
    bertd_window_range(25, 10, 4, k, &s, &e);
    cr_assert_eq(s, want[k][0], "window %d start", k);
    cr_assert_eq(e, want[k][1], "window %d end", k);
  }
  /* n 22: the third window ends exactly at n, so there is no fourth */
  cr_assert_eq(bertd_window_count(22, 10, 4), 3);
  /* stride 0: no overlap; n 11 needs two */
  cr_assert_eq(bertd_window_count(11, 10, 0), 2);
}

Test(windows, most_central_window_and_its_tie_rule) {
  /* [0,10) [6,16) [12,22) [18,25) */
  cr_assert_eq(bertd_window_most_central(25, 10, 4, 0), 0);
  cr_assert_eq(bertd_window_most_central(25, 10, 4, 7), 0);  /* min(7,2)=2 vs min(1,8)=1 */
  cr_assert_eq(bertd_window_most_central(25, 10, 4, 8), 1);  /* min(8,1)=1 vs min(2,7)=2 */
  cr_assert_eq(bertd_window_most_central(25, 10, 4, 24), 3); /* only the last holds it */
  /* width 10, stride 5: [0,10) [5,15) [10,20); token 7 is 2 from an end in both of the first
   * two: the earlier wins; token 12 likewise between windows 1 and 2 */
  cr_assert_eq(bertd_window_most_central(20, 10, 5, 7), 0);
  cr_assert_eq(bertd_window_most_central(20, 10, 5, 8), 1);
  cr_assert_eq(bertd_window_most_central(20, 10, 5, 12), 1);
}
