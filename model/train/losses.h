/* losses.h: the training losses of BERT's heads, each computing the loss and, in the same pass,
 * the gradient of (scale * loss) with respect to the logits. Reductions follow PyTorch's
 * defaults as transformers uses them (reduction="mean"). Losses are accumulated in double. */
#ifndef BERTD_LOSSES_H
#define BERTD_LOSSES_H

#include <stddef.h>
#include <stdint.h>

/* torch.nn.CrossEntropyLoss(ignore_index) over R rows of C logits:
 * loss = mean over rows with labels[r] != ignore_index of -log softmax(logits[r])[labels[r]].
 * dlogits (R,C) = scale * d loss / d logits (zero on ignored rows); dlogits may equal logits,
 * or be NULL for the loss only. *count receives the number of rows counted. With no row
 * counted torch returns NaN; here the loss is 0 and the gradient zero, so a batch without
 * labels of one kind still trains the others.
 * Returns -1 (and fills errstr) when a counted label is outside [0, C). */
int bertd_cross_entropy_loss(const float *logits, const int32_t *labels, int R, int C,
                       int ignore_index, float scale, float *dlogits, double *loss, int *count,
                       char *errstr, size_t errstr_size);

/* torch.nn.BCEWithLogitsLoss (mean over all R*C entries), targets (R,C) in [0, 1]:
 * loss = mean of max(x,0) - x*y + log(1 + exp(-|x|)); dlogits = scale * (sigmoid(x) - y) / (R*C).
 * dlogits may equal logits, or be NULL for the loss only. */
void bertd_bce_with_logits_loss(const float *logits, const float *targets, int R, int C, float scale,
                          float *dlogits, double *loss);

#endif
