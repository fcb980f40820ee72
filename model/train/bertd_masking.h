/* bertd_masking.h: BERT's pre-training data. MLM masking of token ids and next-sentence-prediction
 * pairs built from a corpus of documents, after Google's create_pretraining_data.py (the
 * differences are listed at each function). Everything random draws from a bertd_rng the caller
 * seeds, so the same seed gives the same masks and pairs. */
#ifndef BERTD_MASKING_H
#define BERTD_MASKING_H

#include <stddef.h>
#include <stdint.h>

#include "bertd_rng.h"
#include "bertd_tokenizer.h"

#define BERTD_IGNORE_INDEX (-100) /* PyTorch CrossEntropyLoss's default ignore_index */

/* ---- masked language modelling ---- */

typedef struct bertd_mlm_opts {
  double mask_prob;       /* share of maskable tokens chosen (0.15) */
  double mask_token_prob; /* of the chosen: replaced by [MASK] (0.8) */
  double random_token_prob; /* of the chosen: replaced by a random non-special token (0.1);
                             * the rest (0.1) keep their token */
  int max_predictions;    /* at most this many chosen per sequence; 0: no cap */
  int32_t mask_id;
  int32_t vocab_size;
  const int32_t *special_ids; /* never chosen, never drawn as random tokens */
  int n_special;
  int32_t ignore_index;   /* label at positions not chosen (BERTD_IGNORE_INDEX) */
} bertd_mlm_opts;

/* BERT's defaults (0.15 / 0.8 / 0.1, no cap, ignore -100) with the tokenizer's [MASK] and vocab
 * size. specials receives the ids of [CLS] [SEP] [PAD] [MASK] [UNK] (the ones transformers'
 * special_tokens_mask marks) and must have room for 5; opts points into it. */
int bertd_mlm_opts_init(bertd_mlm_opts *opts, const bertd_tokenizer *tok, int32_t specials[5],
                        char *errstr, size_t errstr_size);

/* Masks ids[0..n) in place and fills labels[0..n): the original id where a token was chosen,
 * ignore_index elsewhere. As create_pretraining_data.py does, the number chosen is exact:
 * max(1, round(mask_prob * maskable)) (capped by max_predictions), picked by a shuffle of the
 * maskable positions; a sequence with no maskable token is left as it is. Each chosen token then
 * becomes [MASK], a random token or itself with the configured odds. Unlike Google's script,
 * the random token is never a special one (Google draws from the whole vocabulary). */
int bertd_mlm_mask(bertd_rng *rng, const bertd_mlm_opts *opts, int32_t *ids, int32_t *labels,
                   int n, char *errstr, size_t errstr_size);

/* ---- next sentence prediction ---- */

/* A tokenized corpus: documents made of sentences made of word-piece ids (no special tokens). */
typedef struct bertd_pretrain_corpus {
  int32_t *tokens;          /* every sentence's word pieces back to back */
  size_t *sentence_start;   /* n_sentences + 1 offsets into tokens */
  size_t *document_start;   /* n_documents + 1 offsets into the sentences */
  size_t n_tokens, n_sentences, n_documents;
  size_t tokens_cap, sentences_cap, documents_cap;
} bertd_pretrain_corpus;

/* Appends one sentence to the current document: its word pieces by the tokenizer (at most
 * model_max_length - 2 of them; longer ones are cut there). An empty sentence is skipped. */
int bertd_pretrain_corpus_add_sentence(bertd_pretrain_corpus *c, const bertd_tokenizer *tok,
                                       const char *text, size_t len, bertd_encoding *scratch,
                                       char *errstr, size_t errstr_size);
/* Appends one sentence given as ids. */
int bertd_pretrain_corpus_add_ids(bertd_pretrain_corpus *c, const int32_t *ids, size_t n,
                                  char *errstr, size_t errstr_size);
/* Closes the current document (no effect when it is empty). */
void bertd_pretrain_corpus_end_document(bertd_pretrain_corpus *c);
void bertd_pretrain_corpus_free(bertd_pretrain_corpus *c);

typedef struct bertd_nsp_opts {
  int max_length;         /* tokens of [CLS] A [SEP] B [SEP] (128, 512...) */
  double short_seq_prob;  /* chance of a shorter target length (0.1), as Google does */
  int32_t cls_id, sep_id;
} bertd_nsp_opts;

/* Instances back to back: instance i is ids[start[i]..start[i+1]). */
typedef struct bertd_nsp_set {
  int32_t *ids;
  int32_t *type_ids;        /* 0 for [CLS] A [SEP], 1 for B [SEP] */
  size_t *start;            /* n + 1 offsets */
  uint8_t *is_random_next;  /* NSP label as BertForPreTraining wants it: 0 B follows A, 1 random */
  size_t n, n_ids;
  size_t cap, ids_cap;
} bertd_nsp_set;

/* One pass of create_instances_from_document over every document, appending to out (call it
 * dupe_factor times with the same rng for Google's duplication). For each document: sentences
 * are gathered into a chunk until it reaches the target length (max_length - 3, or with
 * probability short_seq_prob a uniform length in [2, max_length - 3]); A is the chunk's first
 * a_end sentences (a_end uniform in [1, chunk - 1]). Then a fair coin decides:
 *   - actual next: B is the rest of the chunk;
 *   - random next: B is sentences from a random start in another document, up to the target
 *     length; the chunk's unused sentences go back to be read again.
 * The pair is then cut to max_length - 3 by dropping a token from the longer segment, from its
 * front or back at random, until it fits.
 * Changes that keep the label a fair coin (Google forces "random" whenever a chunk holds one
 * sentence, which skews the labels towards random): the coin is tossed first; a one-sentence
 * chunk that drew "actual next" takes the document's following sentence as B; a lone last
 * sentence of a document joins the chunk before it, and when the sentences put back after a
 * random pair are only the document's last one, that sentence is not used again. Only
 * one-sentence documents still always give random pairs. The random document is uniform over the other documents (Google: up to 10
 * draws). Needs at least two documents and max_length >= 5. */
int bertd_nsp_create(bertd_rng *rng, const bertd_pretrain_corpus *c, const bertd_nsp_opts *opts,
                     bertd_nsp_set *out, char *errstr, size_t errstr_size);
void bertd_nsp_set_free(bertd_nsp_set *s);

#endif
