/* encoding.c: one call of bertd_tokenizer_encode. Each sequence is tokenized into pieces
 * (literal special tokens cut out of the raw text first, then normalize -> words -> WordPiece on
 * the text between them), the pair is truncated the way tokenizers' truncate_encodings does, and
 * the result is laid out as [CLS] A [SEP] (B [SEP]) in the caller's reusable bertd_encoding. */
#include "tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bertd_push_piece(scratch *s, int seq, piece p) {
  if (s->npieces[seq] == s->pieces_cap[seq]) {
    size_t cap = s->pieces_cap[seq] ? s->pieces_cap[seq] * 2 : 128;
    piece *grown = realloc(s->pieces[seq], cap * sizeof *grown);
    if (!grown) return -1;
    s->pieces[seq] = grown;
    s->pieces_cap[seq] = cap;
  }
  s->pieces[seq][s->npieces[seq]++] = p;
  return 0;
}

typedef struct word_ctx {
  const bertd_tokenizer *tok;
  scratch *s;
  int seq;
} word_ctx;

static int on_word(void *ctx, size_t start, size_t end) {
  word_ctx *w = ctx;
  return bertd_wordpiece_word(w->tok, w->s, w->seq, start, end);
}

/* Original chars [from, to): no special tokens inside. */
static int tokenize_segment(const bertd_tokenizer *tok, scratch *s, int seq, size_t from, size_t to) {
  if (from == to) return 0;
  size_t nn;
  if (bertd_basic_normalize(tok, s, from, to, &nn) != 0) return -1;
  word_ctx w = {tok, s, seq};
  return bertd_basic_pretokenize(s, nn, on_word, &w);
}

/* The longest special token starting at byte p (leftmost-longest, as tokenizers' added-vocabulary
 * matcher): its index, or -1. */
static int special_at(const bertd_tokenizer *tok, const char *p, size_t left) {
  int best = -1;
  for (int k = 0; k < SPECIAL_COUNT; k++) {
    size_t len = tok->special_len[k];
    if (len == 0 || len > left || p[0] != tok->special[k][0]) continue;
    if (memcmp(p, tok->special[k], len) != 0) continue;
    if (best < 0 || len > tok->special_len[best]) best = k;
  }
  return best;
}

static int tokenize_sequence(const bertd_tokenizer *tok, scratch *s, int seq, const char *text,
                             size_t len, const char *what, char *errstr, size_t errstr_size) {
  size_t n;
  s->npieces[seq] = 0;
  if (bertd_utf8_decode(s, text, len, what, &n, errstr, errstr_size) != 0) return -1;
  size_t seg = 0;
  for (size_t i = 0; i < n;) {
    int k = special_at(tok, text + s->byte[i], len - (size_t)s->byte[i]);
    if (k < 0) { i++; continue; }
    if (tokenize_segment(tok, s, seq, seg, i) != 0) goto oom;
    size_t end_byte = (size_t)s->byte[i] + tok->special_len[k], j = i;
    while ((size_t)s->byte[j] < end_byte) j++;
    piece p = {tok->special_id[k], (int32_t)i, (int32_t)j, 0, 0, s->word[i]};
    if (bertd_push_piece(s, seq, p) != 0) goto oom;
    seg = i = j;
  }
  if (tokenize_segment(tok, s, seq, seg, n) != 0) goto oom;
  for (size_t t = 0; t < s->npieces[seq]; t++) { /* chars -> bytes while this text is decoded */
    piece *p = &s->pieces[seq][t];
    p->bs = s->byte[p->cs];
    p->be = s->byte[p->ce];
  }
  return 0;
oom:
  snprintf(errstr, errstr_size, "%s: out of memory", what);
  return -1;
}

/* The word pieces of text (sequence 0) and, when pair is not NULL, of pair (sequence 1) into s:
 * what every encoding, one sequence or windows, starts from. */
static int tokenize_text_and_pair(const bertd_tokenizer *tok, scratch *s, const char *text,
                                  size_t text_len, const char *pair, size_t pair_len,
                                  char *errstr, size_t errstr_size) {
  if (tokenize_sequence(tok, s, 0, text ? text : "", text_len, "text", errstr, errstr_size) != 0)
    return -1;
  s->npieces[1] = 0;
  if (pair && tokenize_sequence(tok, s, 1, pair, pair_len, "pair", errstr, errstr_size) != 0)
    return -1;
  return 0;
}

/* How many pieces of A (*ka) and B (*kb) survive, following tokenizers' truncate_encodings with
 * max_length already reduced by the special tokens. */
static int truncate_lengths(size_t na, size_t nb, int has_pair, size_t ml, bertd_truncation trunc,
                            size_t *ka, size_t *kb, char *errstr, size_t errstr_size) {
  *ka = na;
  *kb = nb;
  if (ml == 0) { /* tokenizers special-cases 0: everything goes, whatever the strategy */
    *ka = *kb = 0;
    return 0;
  }
  size_t total = na + nb;
  if (total <= ml) return 0;
  size_t to_remove = total - ml;
  if (trunc == BERTD_TRUNC_LONGEST_FIRST) {
    if (!has_pair) {
      *ka = ml;
      return 0;
    }
    /* n1 is the shorter one; it keeps all it has if the longer one can absorb the cut, else
     * both get half of max_length (the odd one to the longer). */
    size_t n1 = na, n2 = nb;
    int swap = n1 > n2;
    if (swap) { n1 = nb; n2 = na; }
    n2 = n1 > ml ? n1 : (n1 > ml - n1 ? n1 : ml - n1);
    if (n1 + n2 > ml) {
      n1 = ml / 2;
      n2 = n1 + ml % 2;
    }
    if (swap) { size_t t = n1; n1 = n2; n2 = t; }
    *ka = n1 < na ? n1 : na;
    *kb = n2 < nb ? n2 : nb;
    return 0;
  }
  if (trunc == BERTD_TRUNC_ONLY_SECOND && !has_pair) {
    snprintf(errstr, errstr_size, "truncation only_second: second sequence not provided");
    return -1;
  }
  size_t *keep = trunc == BERTD_TRUNC_ONLY_FIRST ? ka : kb;
  size_t have = trunc == BERTD_TRUNC_ONLY_FIRST ? na : nb;
  if (have <= to_remove) {
    snprintf(errstr, errstr_size,
             "truncation %s: the sequence has %zu tokens, %zu must go to fit max_length",
             trunc == BERTD_TRUNC_ONLY_FIRST ? "only_first" : "only_second", have, to_remove);
    return -1;
  }
  *keep = have - to_remove;
  return 0;
}

static int encoding_reserve(bertd_encoding *enc, int n) {
  if (n <= enc->cap) return 0;
  int cap = enc->cap ? enc->cap : 64;
  while (cap < n) cap *= 2;
  int32_t **arrays[] = {&enc->ids, &enc->type_ids, &enc->seq_ids, &enc->word_ids,
                        &enc->char_start, &enc->char_end, &enc->byte_start, &enc->byte_end};
  for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++) {
    int32_t *grown = realloc(*arrays[k], (size_t)cap * sizeof *grown);
    if (!grown) return -1;
    *arrays[k] = grown;
  }
  enc->cap = cap;
  return 0;
}

static void put(bertd_encoding *enc, int i, const piece *p, int32_t type, int32_t seq) {
  enc->ids[i] = p->id;
  enc->type_ids[i] = type;
  enc->seq_ids[i] = seq;
  enc->word_ids[i] = seq < 0 ? -1 : p->word;
  enc->char_start[i] = p->cs;
  enc->char_end[i] = p->ce;
  enc->byte_start[i] = p->bs;
  enc->byte_end[i] = p->be;
}

int bertd_tokenizer_encode(const bertd_tokenizer *tok, const char *text, size_t text_len,
                           const char *pair, size_t pair_len, int max_length,
                           bertd_truncation trunc, bertd_encoding *enc,
                           char *errstr, size_t errstr_size) {
  if (!tok || !enc || (!text && text_len) || max_length < 0 || (unsigned)trunc > BERTD_TRUNC_NONE) {
    snprintf(errstr, errstr_size, "bertd_tokenizer_encode: invalid argument");
    return -1;
  }
  enc->n = 0;
  enc->num_truncated = 0;
  if (!enc->scratch && !(enc->scratch = calloc(1, sizeof(scratch)))) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  scratch *s = enc->scratch;
  int has_pair = pair != NULL && pair_len > 0;
  if (tokenize_text_and_pair(tok, s, text, text_len, has_pair ? pair : NULL, pair_len, errstr,
                             errstr_size))
    return -1;

  size_t na = s->npieces[0], nb = s->npieces[1], ka = na, kb = nb;
  size_t added = has_pair ? 3 : 2;
  size_t limit = max_length == 0 || max_length > tok->model_max_length
                     ? (size_t)tok->model_max_length : (size_t)max_length;
  if (trunc == BERTD_TRUNC_NONE) {
    if (na + nb + added > limit) {
      snprintf(errstr, errstr_size, "%zu tokens exceed max_length %zu (truncation off)",
               na + nb + added, limit);
      return -1;
    }
  } else if (limit >= added) { /* below it tokenizers' usize subtraction wraps: no truncation */
    if (truncate_lengths(na, nb, has_pair, limit - added, trunc, &ka, &kb, errstr, errstr_size) != 0)
      return -1;
  }

  int n = (int)(ka + kb + added);
  if (encoding_reserve(enc, n) != 0) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  piece cls = {tok->special_id[SPECIAL_CLS], 0, 0, 0, 0, -1};
  piece sep = {tok->special_id[SPECIAL_SEP], 0, 0, 0, 0, -1};
  int i = 0;
  put(enc, i++, &cls, 0, -1);
  for (size_t t = 0; t < ka; t++) put(enc, i++, &s->pieces[0][t], 0, 0);
  put(enc, i++, &sep, 0, -1);
  if (has_pair) {
    for (size_t t = 0; t < kb; t++) put(enc, i++, &s->pieces[1][t], 1, 1);
    put(enc, i++, &sep, 1, -1);
  }
  enc->n = n;
  enc->num_truncated = (int)((na - ka) + (nb - kb));
  return 0;
}

void bertd_encoding_free(bertd_encoding *enc) {
  if (!enc) return;
  free(enc->ids);
  free(enc->type_ids);
  free(enc->seq_ids);
  free(enc->word_ids);
  free(enc->char_start);
  free(enc->char_end);
  free(enc->byte_start);
  free(enc->byte_end);
  scratch *s = enc->scratch;
  if (s) {
    free(s->cp);
    free(s->byte);
    free(s->word);
    free(s->ncp);
    free(s->norig);
    free(s->utf8);
    free(s->utf8_at);
    free(s->pieces[0]);
    free(s->pieces[1]);
    free(s);
  }
  memset(enc, 0, sizeof *enc);
}

/* Lays out one window: the first sequence whole (when the pair is windowed), the windowed
 * sequence's pieces [from, to), with the special tokens around them. */
static int put_window(const bertd_tokenizer *tok, const scratch *s, int has_pair, size_t from,
                      size_t to, bertd_encoding *w) {
  size_t na = has_pair ? s->npieces[0] : to - from, nb = has_pair ? to - from : 0;
  int n = (int)(na + nb + (has_pair ? 3 : 2));
  if (encoding_reserve(w, n) != 0) return -1;
  piece cls = {tok->special_id[SPECIAL_CLS], 0, 0, 0, 0, -1};
  piece sep = {tok->special_id[SPECIAL_SEP], 0, 0, 0, 0, -1};
  const piece *a = has_pair ? s->pieces[0] : s->pieces[0] + from;
  int i = 0;
  put(w, i++, &cls, 0, -1);
  for (size_t t = 0; t < na; t++) put(w, i++, &a[t], 0, 0);
  put(w, i++, &sep, 0, -1);
  if (has_pair) {
    for (size_t t = from; t < to; t++) put(w, i++, &s->pieces[1][t], 1, 1);
    put(w, i++, &sep, 1, -1);
  }
  w->n = n;
  w->num_truncated = 0;
  return 0;
}

int bertd_tokenizer_encode_windows(const bertd_tokenizer *tok, const char *text, size_t text_len,
                                   const char *pair, size_t pair_len, int max_length, int stride,
                                   bertd_windows *out, char *errstr, size_t errstr_size) {
  if (!tok || !out || (!text && text_len) || max_length < 0) {
    snprintf(errstr, errstr_size, "bertd_tokenizer_encode_windows: invalid argument");
    return -1;
  }
  if (out->cap == 0) {
    if (!(out->w = calloc(4, sizeof *out->w))) goto oom;
    out->cap = 4;
  }
  out->n = 0;
  bertd_encoding *w0 = &out->w[0];
  if (!w0->scratch && !(w0->scratch = calloc(1, sizeof(scratch)))) goto oom;
  scratch *s = w0->scratch;
  int has_pair = pair != NULL && pair_len > 0;
  if (tokenize_text_and_pair(tok, s, text, text_len, has_pair ? pair : NULL, pair_len, errstr,
                             errstr_size))
    return -1;
  int limit = max_length == 0 || max_length > tok->model_max_length ? tok->model_max_length
                                                                     : max_length;
  int seq = has_pair ? 1 : 0;
  int n = (int)s->npieces[seq];
  int width = limit - (has_pair ? 3 + (int)s->npieces[0] : 2);
  if (stride < 0) stride = limit / 4;
  if (width < 1) {
    snprintf(errstr, errstr_size, "the first text has %zu tokens: no room left in max_length %d "
             "for a window of the second", s->npieces[0], limit);
    return -1;
  }
  int count = bertd_window_count(n, width, stride);
  if (count > 1 && stride >= width) {
    snprintf(errstr, errstr_size, "window_stride %d must be below the %d tokens a window holds "
             "(max_length %d less the special tokens%s)", stride, width, limit,
             has_pair ? " and the first text" : "");
    return -1;
  }
  if (count > out->cap) {
    bertd_encoding *grown = realloc(out->w, sizeof *grown * (size_t)count);
    if (!grown) goto oom;
    memset(grown + out->cap, 0, sizeof *grown * (size_t)(count - out->cap));
    out->w = grown;
    out->cap = count;
  }
  for (int k = 0; k < count; k++) {
    int from, to;
    bertd_window_range(n, width, stride, k, &from, &to);
    if (put_window(tok, out->w[0].scratch, has_pair, (size_t)from, (size_t)to, &out->w[k]) != 0)
      goto oom;
  }
  out->n = count;
  out->seq = seq;
  out->tokens = n;
  out->width = width;
  out->stride = stride;
  return 0;
oom:
  snprintf(errstr, errstr_size, "out of memory");
  return -1;
}

void bertd_windows_free(bertd_windows *w) {
  if (!w) return;
  for (int k = 0; k < w->cap; k++) bertd_encoding_free(&w->w[k]);
  free(w->w);
  memset(w, 0, sizeof *w);
}
