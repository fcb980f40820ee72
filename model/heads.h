/* heads.h: task heads on top of the encoder's output (packed tokens, see encoder.h).
 * Each returns -1 with a message when the checkpoint lacks the head's weights. */
#ifndef BERTD_HEADS_H
#define BERTD_HEADS_H

#include <stddef.h>
#include "bertd_checkpoint.h"
#include "encoder.h"
#include "bertd_weights.h"

/* Sequence classification: logits (B,NL) = pooled (B,H) @ classifier^T + b. */
int bertd_head_seq_cls(const bertd_checkpoint_config *cfg, const bertd_weights *w, const bertd_acts *a,
                       float *logits, char *errstr, size_t errstr_size);

/* Token classification: logits (N,NL) = hidden (N,H) @ classifier^T + b. */
int bertd_head_token_cls(const bertd_checkpoint_config *cfg, const bertd_weights *w, const bertd_acts *a,
                         float *logits, char *errstr, size_t errstr_size);

/* Extractive QA: start (N), end (N) logits from qa_outputs (2,H). */
int bertd_head_qa(const bertd_checkpoint_config *cfg, const bertd_weights *w, const bertd_acts *a,
                  float *start, float *end, char *errstr, size_t errstr_size);

/* Masked LM at M chosen packed rows: logits (M,V) = decoder(LN(act(dense(hidden[rows])))).
 * scratch: at least M*H floats. */
int bertd_head_mlm(const bertd_checkpoint_config *cfg, const bertd_weights *w, const bertd_acts *a,
                   const int *rows, int M, float *logits, float *scratch,
                   char *errstr, size_t errstr_size);

/* Next-sentence prediction: logits (B,2) from pooled; index 0 = "B follows A". */
int bertd_head_nsp(const bertd_checkpoint_config *cfg, const bertd_weights *w, const bertd_acts *a,
                   float *logits, char *errstr, size_t errstr_size);

/* JointBERT: intent (B,NI) from the pooled output, slots (N,NS) from the hidden states. */
int bertd_head_joint(const bertd_checkpoint_config *cfg, const bertd_weights *w, const bertd_acts *a,
                     float *intent_logits, float *slot_logits, char *errstr, size_t errstr_size);


#endif
