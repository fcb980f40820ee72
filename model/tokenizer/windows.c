/* windows.c: where the windows over a long sequence start and end, and which window sees each
 * token best. Pure arithmetic, shared by the tokenizer (cutting) and the plugin (combining). */
#include "bertd_tokenizer.h"

int bertd_window_count(int n, int width, int stride) {
  if (n <= width || width <= 0) return 1;
  int step = width - stride; /* >= 1: callers check stride < width */
  if (step < 1) step = 1;
  /* tokenizers steps start = 0, step, 2 step, ... and stops after the window that reaches n */
  return 1 + (n - width + step - 1) / step;
}

void bertd_window_range(int n, int width, int stride, int k, int *start, int *end) {
  int step = width - stride < 1 ? 1 : width - stride;
  if (n <= width || width <= 0) {
    *start = 0;
    *end = n;
    return;
  }
  *start = k * step;
  *end = *start + width < n ? *start + width : n;
}

int bertd_window_most_central(int n, int width, int stride, int pos) {
  int count = bertd_window_count(n, width, stride), best = 0, best_c = -1;
  for (int k = 0; k < count; k++) {
    int s, e;
    bertd_window_range(n, width, stride, k, &s, &e);
    if (pos < s || pos >= e) continue;
    int c = pos - s < e - 1 - pos ? pos - s : e - 1 - pos;
    if (c > best_c) { /* strictly greater: a tie keeps the earlier window */
      best_c = c;
      best = k;
    }
  }
  return best;
}
