/* train_pretrain.h: `bertd train --task mlm-nsp`: continued pre-training (masked language
 * modelling + next-sentence prediction, BertForPreTraining) on a plain-text corpus (one
 * sentence a line, blank lines between documents). NSP pairs are built once from the corpus
 * (masking.h, after create_pretraining_data); the last --heldout pairs are kept for
 * evaluation with fixed masks, the rest are masked afresh every epoch (dynamic masking, as
 * RoBERTa and transformers' DataCollatorForLanguageModeling do). The checkpoint with the best
 * held-out MLM accuracy is kept. */
#ifndef BERTD_TRAIN_PRETRAIN_H
#define BERTD_TRAIN_PRETRAIN_H

#include <jansson.h>
#include <stddef.h>

#include "train_loop.h"

/* heldout: pairs held out (0: 5 %, at least 1). */
int bertd_pretrain_run(const bertd_train_opts *o, const char *corpus_path, long heldout,
                       json_t **summary, char *errstr, size_t errstr_size);

#endif
