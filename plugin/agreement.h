/* agreement.h: the accuracy gate of a bf16 / int8 model: the fraction of calibration records
 * whose top label (classify) or top intent (joint) in the model's precision equals fp32's on
 * the same checkpoint (model.min_agreement, model.calibration). */
#ifndef BERTD_PLUGIN_AGREEMENT_H
#define BERTD_PLUGIN_AGREEMENT_H

#include <stddef.h>

#include "bertd.h"
#include "plugin_config.h"

/* Runs every record of c->calibration (JSONL, a "text" field and optionally "text_pair")
 * through m (in its precision) and through the checkpoint at c->model_dir loaded in fp32;
 * *agreement = agreeing records / *records. -1 with one line naming the file and line for a
 * bad file. */
int bertd_plugin_agreement(const bertd_model *m, const plugin_config *c, double *agreement,
                           int *records, char *errstr, size_t errstr_size);

#endif
