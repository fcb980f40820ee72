/* tokenizer_internal.h: the pieces of the tokenizer that its .c files share and nothing else
 * sees. The pipeline mirrors the Rust `tokenizers` crate behind BertTokenizerFast:
 *
 *   raw UTF-8 ──bertd_utf8_decode──▶ code points (+ byte offset of each)
 *            ──special_match──▶ literal special tokens ([CLS], [MASK] ...) cut out of the raw text
 *            ──bertd_basic_normalize─▶ per segment: clean, CJK padding, NFD + drop Mn, lower-case; every
 *                                normalized char remembers the original char it came from
 *            ──bertd_basic_pretokenize▶ words: split on whitespace, punctuation isolated
 *            ──bertd_wordpiece_word──▶ greedy longest-match pieces (ids + normalized spans)
 *            ──encoding.c──────▶ truncation, [CLS]/[SEP], type ids, offsets in chars and bytes */
#ifndef BERTD_TOKENIZER_INTERNAL_H
#define BERTD_TOKENIZER_INTERNAL_H

#include "bertd_tokenizer.h"

#include <stddef.h>
#include <stdint.h>

/* ---- vocab.c: vocab.txt as an open-addressing hash map token -> id, plus id -> token ---- */
typedef struct bertd_vocab {
  char *arena;          /* every token's bytes, each NUL-terminated */
  uint32_t *tok_off;    /* (n) offset of token id in arena */
  uint32_t *tok_len;    /* (n) byte length of token id */
  int32_t *slots;       /* (nslots) token id or -1; nslots is a power of two */
  uint32_t nslots;
  int32_t n;            /* number of lines = number of ids */
  int max_piece_chars;  /* longest token in code points, "##" not counted: bounds the match loop */
} bertd_vocab;

int bertd_vocab_load(bertd_vocab *v, const char *path, char *errstr, size_t errstr_size);
void bertd_vocab_free(bertd_vocab *v);
/* Looks up ("##" if continuation) + bytes[0..len) without building the string. -1 if absent. */
int32_t bertd_vocab_find(const bertd_vocab *v, int continuation, const char *bytes, size_t len);

/* ---- the tokenizer object (tokenizer.c) ---- */
enum { SPECIAL_UNK = 0, SPECIAL_CLS, SPECIAL_SEP, SPECIAL_PAD, SPECIAL_MASK, SPECIAL_COUNT };

struct bertd_tokenizer {
  bertd_vocab vocab;
  int lowercase, strip_accents, chinese_chars, model_max_length;
  char *special[SPECIAL_COUNT];       /* token text, matched literally in raw input */
  size_t special_len[SPECIAL_COUNT];
  int32_t special_id[SPECIAL_COUNT];
};

/* ---- scratch buffers an encoding keeps between calls (so steady state does not malloc) ---- */
typedef struct piece {
  int32_t id;
  int32_t cs, ce;   /* span in code points of the original sequence */
  int32_t bs, be;   /* the same span in bytes (filled once the sequence is done) */
  int32_t word;     /* whitespace-separated word index */
} piece;

typedef struct scratch {
  /* decoded input: cp[i] is char i, byte[i] its byte offset (byte[n] = length), word[i] the
   * whitespace word it belongs to */
  int32_t *cp, *byte, *word;
  size_t cp_cap;
  /* normalized text of one segment: ncp[j] came from original char norig[j] */
  int32_t *ncp, *norig;
  size_t n_cap;
  char *utf8;                /* one word re-encoded for vocab lookups (at most MAX_WORD_CHARS) */
  int32_t *utf8_at;          /* byte offset of each char of that word */
  piece *pieces[2];          /* tokens of sequence A and B before post-processing */
  size_t npieces[2], pieces_cap[2];
} scratch;

/* ---- unicode_compat.c (generated): where tokenizers' older Unicode data disagrees with
 * utf8proc's, tokenizers' answer. basic_tokenizer.c consults these before utf8proc. ---- */
enum { UCLASS_OTHER = 1, UCLASS_REMOVE, UCLASS_SPACE, UCLASS_PUNCT };
typedef struct compat_class_entry { int32_t cp, cls; } compat_class_entry;
typedef struct compat_map_entry { int32_t cp, n, out[4]; } compat_map_entry;
extern const compat_class_entry bertd_compat_classes[];
extern const size_t bertd_compat_classes_n;
extern const compat_map_entry bertd_compat_strip[];   /* NFD with non-spacing marks dropped */
extern const size_t bertd_compat_strip_n;
extern const compat_map_entry bertd_compat_lower[];
extern const size_t bertd_compat_lower_n;

/* ---- basic_tokenizer.c ---- */
/* Decodes text into s->cp/byte/word; sets *n. Rejects invalid UTF-8 naming the byte offset. */
int bertd_utf8_decode(scratch *s, const char *text, size_t len, const char *what, size_t *n,
                char *errstr, size_t errstr_size);
/* Normalizes original chars [from, to) into s->ncp/norig; sets *nn. */
int bertd_basic_normalize(const bertd_tokenizer *tok, scratch *s, size_t from, size_t to, size_t *nn);
/* Calls on_word(ctx, start, end) for each pre-tokenized word of the normalized buffer. */
typedef int (*word_fn)(void *ctx, size_t start, size_t end);
int bertd_basic_pretokenize(const scratch *s, size_t nn, word_fn on_word, void *ctx);

/* ---- wordpiece.c ---- */
#define MAX_WORD_CHARS 100   /* longer words become one [UNK], as tokenizers' WordPiece does */
/* Appends the pieces of normalized word [start, end) to sequence seq of the scratch. */
int bertd_wordpiece_word(const bertd_tokenizer *tok, scratch *s, int seq, size_t start, size_t end);

/* ---- encoding.c ---- */
int bertd_push_piece(scratch *s, int seq, piece p);

#endif
