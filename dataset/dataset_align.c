/* dataset_align.c: tagging labels live on words, the model sees word pieces. Training puts a
 * word's label on its first piece and ignores the rest (BERT paper, section 4.3; transformers'
 * run_ner and JointBERT do the same); evaluation reads each word's prediction back from its
 * first piece. */
#include "dataset_internal.h"

int bertd_align_word_labels(const bertd_encoding *enc, const int32_t *word_labels, int n_words,
                            int32_t ignore, int32_t *token_labels, char *errstr,
                            size_t errstr_size) {
  int prev = -1;
  for (int t = 0; t < enc->n; t++) {
    int w = enc->word_ids[t];
    token_labels[t] = ignore;
    if (enc->seq_ids[t] != 0 || w < 0) {
      prev = -1;
      continue;
    }
    if (w >= n_words)
      return DS_ERR("token %d belongs to word %d, but only %d word labels were given", t, w,
                    n_words);
    if (w != prev) token_labels[t] = word_labels[w];
    prev = w;
  }
  return 0;
}

int bertd_words_from_tokens(const bertd_encoding *enc, const int32_t *token_values, int n_words,
                            int32_t missing, int32_t *word_values, char *errstr,
                            size_t errstr_size) {
  for (int w = 0; w < n_words; w++) word_values[w] = missing;
  int prev = -1;
  for (int t = 0; t < enc->n; t++) {
    int w = enc->word_ids[t];
    if (enc->seq_ids[t] != 0 || w < 0) {
      prev = -1;
      continue;
    }
    if (w >= n_words)
      return DS_ERR("token %d belongs to word %d, but the example has %d words", t, w, n_words);
    if (w != prev) word_values[w] = token_values[t];
    prev = w;
  }
  return 0;
}
