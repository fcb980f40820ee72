/* lr_schedule.h: transformers' get_linear_schedule_with_warmup: the learning rate rises
 * linearly from 0 to the peak over warmup_steps optimizer steps, then falls linearly to 0 at
 * total_steps. */
#ifndef BERTD_LR_SCHEDULE_H
#define BERTD_LR_SCHEDULE_H

typedef struct bertd_lr_schedule {
  float peak;         /* the optimizer's lr */
  int warmup_steps;
  int total_steps;    /* <= 0: constant peak after warm-up (get_constant_schedule_with_warmup) */
} bertd_lr_schedule;

/* The lr of the optimizer step that follows `step` completed steps (step 0: the first update;
 * with warm-up that lr is 0, as in transformers):
 *   step < warmup: peak * step / max(1, warmup)
 *   else:          peak * max(0, (total - step) / max(1, total - warmup)) */
float bertd_lr_at(const bertd_lr_schedule *s, int step);

#endif
