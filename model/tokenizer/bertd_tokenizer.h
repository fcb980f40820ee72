/* bertd_tokenizer.h: BERT WordPiece tokenization, identical to transformers' BertTokenizerFast
 * (ids, token_type_ids, attention mask, offset_mapping), with pairs and truncation. */
#ifndef BERTD_TOKENIZER_H
#define BERTD_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct bertd_tokenizer bertd_tokenizer;

typedef struct bertd_tokenizer_opts {
  int do_lower_case;           /* 1: lower-case (and strip accents unless strip_accents == 0) */
  int strip_accents;           /* -1: follow do_lower_case; 0: keep; 1: strip (NFD, drop Mn) */
  int tokenize_chinese_chars;  /* 1: every CJK ideograph is its own word */
  int model_max_length;        /* default max_length when a call passes 0 */
  const char *unk_token, *cls_token, *sep_token, *pad_token, *mask_token; /* NULL: BERT's */
} bertd_tokenizer_opts;

typedef enum {
  BERTD_TRUNC_LONGEST_FIRST = 0,
  BERTD_TRUNC_ONLY_FIRST,
  BERTD_TRUNC_ONLY_SECOND,
  BERTD_TRUNC_NONE             /* too long: error */
} bertd_truncation;

/* One encoded input: [CLS] A [SEP] (B [SEP]). All arrays have n entries. */
typedef struct bertd_encoding {
  int n;
  int32_t *ids;
  int32_t *type_ids;         /* 0 for [CLS] A [SEP], 1 for B [SEP] */
  int32_t *seq_ids;          /* 0 for A, 1 for B, -1 for special tokens */
  int32_t *word_ids;         /* index of the whitespace-separated word of its sequence; -1 specials */
  int32_t *char_start;       /* offset_mapping in Unicode code points of the original text; */
  int32_t *char_end;         /*   (0,0) for special tokens, as transformers gives */
  int32_t *byte_start;       /* the same span in bytes of the UTF-8 input */
  int32_t *byte_end;
  int num_truncated;         /* tokens removed by truncation (A and B together) */
  int cap;
  void *scratch;             /* work buffers kept between calls; start from a zeroed struct */
} bertd_encoding;

/* Reads DIR/vocab.txt with options from DIR/tokenizer_config.json and special_tokens_map.json
 * (absent files: BERT's defaults, do_lower_case = 1). */
int bertd_tokenizer_load(const char *dir, bertd_tokenizer **out, char *errstr, size_t errstr_size);

/* The same, with the tokenizer files already read into cfg (bertd_config_load does): only
 * DIR/vocab.txt is read. */
struct bertd_checkpoint_config;
int bertd_tokenizer_from_config(const char *dir, const struct bertd_checkpoint_config *cfg,
                                bertd_tokenizer **out, char *errstr, size_t errstr_size);

/* Reads one vocab.txt with explicit options. */
int bertd_tokenizer_from_vocab(const char *vocab_path, const bertd_tokenizer_opts *opts,
                               bertd_tokenizer **out, char *errstr, size_t errstr_size);
void bertd_tokenizer_free(bertd_tokenizer *tok);

/* Encodes text (and pair, when not NULL) into enc, reusing enc's buffers (zero enc before its
 * first use; one encoding per thread). max_length counts the special tokens; 0 means
 * model_max_length, and larger values are capped at model_max_length (the model has no position
 * beyond it; transformers would not cap). Invalid UTF-8 is an error (byte offset named).
 * As transformers' tokenizer(text, text_pair) does, an empty pair (pair_len 0) means no pair.
 * Literal special tokens in the text ("[MASK]", exact case) become those tokens, with the
 * sequence's seq_id and their own offsets. With truncation, a max_length below the number of
 * special tokens (3 for a pair, 2 otherwise) disables truncation, as in tokenizers 0.19. */
int bertd_tokenizer_encode(const bertd_tokenizer *tok, const char *text, size_t text_len,
                           const char *pair, size_t pair_len, int max_length,
                           bertd_truncation trunc, bertd_encoding *enc,
                           char *errstr, size_t errstr_size);
void bertd_encoding_free(bertd_encoding *enc);

/* ---- windows over a text longer than max_length ----
 *
 * Tokenizers' overflow semantics (transformers' return_overflowing_tokens=True with stride): the
 * windowed sequence's n tokens are cut into windows of at most `width` tokens (max_length less
 * the special tokens, and less the first sequence when the second one is windowed), window k
 * starting at k * (width - stride) and the last one ending at n. So `stride` is the number of
 * tokens two neighbouring windows share, as in transformers' stride and doc_stride; it must be
 * below width. A sequence that fits is one window. */
int bertd_window_count(int n, int width, int stride);
/* Tokens [*start, *end) of the windowed sequence in window k. */
void bertd_window_range(int n, int width, int stride, int k, int *start, int *end);
/* The window in which token pos (0..n-1) is most central: the largest
 * min(pos - start, end - 1 - pos) over the windows holding it; on a tie, the earlier window. */
int bertd_window_most_central(int n, int width, int stride, int pos);

/* All windows of one input, each a complete encoding ([CLS] A [SEP], or [CLS] A [SEP] B [SEP]
 * with B windowed and A repeated in every window, as only_second truncation does). Reused
 * between calls like bertd_encoding; start from a zeroed struct. */
typedef struct bertd_windows {
  int n, cap;
  bertd_encoding *w;         /* n windows; w[0].scratch holds the tokenizer's buffers */
  int seq;                   /* the windowed sequence: 0 (text) or 1 (pair) */
  int tokens;                /* tokens of the windowed sequence, before cutting */
  int width;                 /* its tokens per window */
  int stride;                /* tokens neighbouring windows share */
} bertd_windows;

/* Windows text (no pair) or, when a pair is given, the pair. stride < 0 means the default,
 * max_length / 4. A pair whose first sequence leaves no room, or a stride not below the
 * window's width, is an error naming both numbers. */
int bertd_tokenizer_encode_windows(const bertd_tokenizer *tok, const char *text, size_t text_len,
                                   const char *pair, size_t pair_len, int max_length, int stride,
                                   bertd_windows *out, char *errstr, size_t errstr_size);
void bertd_windows_free(bertd_windows *w);

int bertd_tokenizer_vocab_size(const bertd_tokenizer *tok);
int32_t bertd_tokenizer_token_to_id(const bertd_tokenizer *tok, const char *token); /* -1 if absent */
const char *bertd_tokenizer_id_to_token(const bertd_tokenizer *tok, int32_t id);   /* NULL if out of range */
int32_t bertd_tokenizer_special_id(const bertd_tokenizer *tok, char which); /* 'c'ls 's'ep 'p'ad 'm'ask 'u'nk */

#endif
