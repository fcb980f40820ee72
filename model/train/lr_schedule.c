/* lr_schedule.c: linear warm-up then linear decay (see lr_schedule.h). */
#include "lr_schedule.h"

float bertd_lr_at(const bertd_lr_schedule *s, int step) {
  const int warm = s->warmup_steps > 0 ? s->warmup_steps : 0;
  if (step < warm) return (float)((double)s->peak * step / (warm > 1 ? warm : 1));
  if (s->total_steps <= 0) return s->peak;
  const int span = s->total_steps - warm;
  double f = (double)(s->total_steps - step) / (span > 1 ? span : 1);
  if (f < 0.0) f = 0.0;
  return (float)(s->peak * f);
}
