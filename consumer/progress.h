/* progress.h: training progress on stderr. On a terminal one line is rewritten in place
 * ("\r": step/total, loss, lr, tokens/s, ETA); otherwise (a log file, CI) a plain line every
 * few steps, so logs stay readable and greppable. */
#ifndef BERTD_PROGRESS_H
#define BERTD_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

typedef struct bertd_progress {
  FILE *f;
  int tty;
  long total, every;   /* every: steps between plain lines */
  double t0, last_draw;
  double loss_avg;     /* exponential moving average of the step loss */
  int have_loss;
  size_t tokens;
  int open_line;       /* a \r line is on screen and needs a newline before other output */
} bertd_progress;

double bertd_progress_now(void); /* monotonic seconds */

void bertd_progress_start(bertd_progress *p, FILE *f, long total_steps);
/* After micro-batch `step` (1-based) of `total`, with its loss, the next lr and its tokens. */
void bertd_progress_step(bertd_progress *p, long step, int epoch, float loss, float lr,
                         size_t tokens);
/* A message on its own line (ends an in-place line first). */
void bertd_progress_log(bertd_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
double bertd_progress_tokens_per_s(const bertd_progress *p);

#endif
