/* eval_checkpoint.h: a saved checkpoint's metrics on a labelled split, through the inference
 * path (bertd_model_load + a session), so what is measured is what `bertd run` would serve.
 * `bertd eval` and the end of `bertd train` (the best checkpoint on the test split) use it. */
#ifndef BERTD_EVAL_CHECKPOINT_H
#define BERTD_EVAL_CHECKPOINT_H

#include <stddef.h>

#include "dataset.h"
#include "evaluate.h"

/* ds's label (and tag) lists must be the model's, name for name (read the data with the
 * model's lists preloaded, or from the JointBERT label files the model was trained with). */
int bertd_eval_checkpoint(const char *model_dir, bertd_ft_task task, const bertd_dataset *ds,
                          int max_length, int batch_size, bertd_tag_decoding decoding,
                          bertd_eval_metrics *out,
                          char *errstr, size_t errstr_size);

/* Fills ds's label lists (frozen) from a checkpoint's config, for reading evaluation data. */
int bertd_eval_preload_labels(const char *model_dir, bertd_ft_task task, bertd_dataset *ds,
                              char *errstr, size_t errstr_size);

#endif
