/* progress.c: the training progress line. */
#include "bertd_train.h"

#include <stdarg.h>
#include <time.h>
#include <unistd.h>

double bertd_progress_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bertd_progress_start(bertd_progress *p, FILE *f, long total_steps) {
  *p = (bertd_progress){.f = f, .tty = isatty(fileno(f)), .total = total_steps};
  /* about 50 lines per run in a log, at least every 10 steps */
  p->every = total_steps / 50 > 10 ? total_steps / 50 : 10;
  p->t0 = p->last_draw = bertd_progress_now();
}

static void fmt_duration(char *buf, size_t size, double s) {
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(buf, size, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
}

double bertd_progress_tokens_per_s(const bertd_progress *p) {
  double dt = bertd_progress_now() - p->t0;
  return dt > 0 ? (double)p->tokens / dt : 0;
}

void bertd_progress_step(bertd_progress *p, long step, int epoch, float loss, float lr,
                         size_t tokens) {
  p->tokens += tokens;
  /* a smoothed loss: single micro-batches are too noisy to read */
  p->loss_avg = p->have_loss ? 0.95 * p->loss_avg + 0.05 * loss : loss;
  p->have_loss = 1;
  double now = bertd_progress_now(), dt = now - p->t0;
  int last = step == p->total;
  if (p->tty ? (now - p->last_draw < 0.2 && !last) : (step % p->every && !last)) return;
  p->last_draw = now;
  char eta[32], el[32];
  fmt_duration(eta, sizeof eta, step ? dt / (double)step * (double)(p->total - step) : 0);
  fmt_duration(el, sizeof el, dt);
  double tps = dt > 0 ? (double)p->tokens / dt : 0;
  if (p->tty) {
    int width = 24, filled = p->total ? (int)(width * step / p->total) : width;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = 0;
    fprintf(p->f, "\r\033[Kepoch %d [%s] %ld/%ld loss %.4f lr %.2e %.0f tok/s %s eta %s",
            epoch, bar, step, p->total, p->loss_avg, (double)lr, tps, el, eta);
    p->open_line = 1;
  } else {
    fprintf(p->f, "step %ld/%ld epoch %d loss %.4f lr %.3e tok/s %.0f elapsed %s eta %s\n",
            step, p->total, epoch, p->loss_avg, (double)lr, tps, el, eta);
  }
  fflush(p->f);
}

void bertd_progress_log(bertd_progress *p, const char *fmt, ...) {
  if (p->open_line) {
    fputc('\n', p->f);
    p->open_line = 0;
  }
  va_list ap;
  va_start(ap, fmt);
  vfprintf(p->f, fmt, ap);
  va_end(ap);
  fputc('\n', p->f);
  fflush(p->f);
}
