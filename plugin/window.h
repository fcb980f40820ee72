/* window.h: the outputs of a long text's windows, gathered as each window's batch finishes and
 * combined into one result once every window is in (on_too_long: window).
 *
 *   classify, joint intent: the windows' logits averaged (or their element-wise maximum), then
 *                           softmax / sigmoid as for a single sequence;
 *   tag, joint slots:       each token's logits from the window where it is most central
 *                           (bertd_window_most_central), so offsets stay those of the original;
 *   qa:                     each window's best span (bertd_result_answer), best score wins, the
 *                           earlier window on a tie;
 *   embed:                  the windows' poolings before normalisation, averaged weighted by
 *                           each window's non-special tokens, then normalised if the model's
 *                           sentence-transformers config says so. */
#ifndef BERTD_PLUGIN_WINDOW_H
#define BERTD_PLUGIN_WINDOW_H

#include <stddef.h>

#include "bertd_enrich.h"


/* task: what to keep (bertd_enrich_task's value); w: the windows as cut, for their geometry and
 * the windowed tokens' offsets. */
window_acc *bertd_window_acc_new(const bertd_model *m, int task, window_combine combine,
                           const bertd_windows *w, char *errstr, size_t errstr_size);
void bertd_window_acc_free(window_acc *a);
int bertd_window_acc_windows(const window_acc *a);

/* Takes window k's outputs (its encoding enc) from sequence b of the session's last forward. Never fails the
 * batch: a failure is kept in a (bertd_window_acc_error). Returns 1 once every window is in. */
int bertd_window_acc_take(window_acc *a, const bertd_session *s, int b, const bertd_encoding *enc,
                    int k, int max_answer_tokens);
void bertd_window_acc_fail(window_acc *a, const char *why);
const char *bertd_window_acc_error(const window_acc *a); /* NULL unless a window failed */

/* The combined outputs, once every window is in. */
const float *bertd_window_acc_logits(const window_acc *a, int *n);
/* Per-token rows of the windowed sequence (meta->n tokens, seq 0, original offsets). */
const float *bertd_window_acc_rows(const window_acc *a, const bertd_encoding **meta);
const bertd_answer *bertd_window_acc_answer(const window_acc *a);
int bertd_window_acc_embedding(const window_acc *a, float *out, int H);

#endif
