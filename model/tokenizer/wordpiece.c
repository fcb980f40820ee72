/* wordpiece.c: WordPiece, greedy longest-match-first. A word is cut into the longest vocab entry
 * that starts it, then the longest "##"-prefixed entry that starts the rest, and so on. If some
 * position has no match at all, the whole word becomes a single [UNK]; so does a word longer than
 * 100 characters. Both [UNK] cases span the whole word, as in tokenizers' WordPiece. */
#include "tokenizer_internal.h"

#include <stdlib.h>

/* Writes code point c as UTF-8 at out; returns the byte count. */
static int utf8_put(char *out, int32_t c) {
  if (c < 0x80) { out[0] = (char)c; return 1; }
  if (c < 0x800) {
    out[0] = (char)(0xC0 | (c >> 6));
    out[1] = (char)(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    out[0] = (char)(0xE0 | (c >> 12));
    out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[2] = (char)(0x80 | (c & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (c >> 18));
  out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
  out[3] = (char)(0x80 | (c & 0x3F));
  return 4;
}

static piece make_piece(const scratch *s, int32_t id, size_t first, size_t last) {
  piece p;
  p.id = id;
  p.cs = s->norig[first];
  p.ce = s->norig[last] + 1;
  p.word = s->word[p.cs];
  return p;
}

int bertd_wordpiece_word(const bertd_tokenizer *tok, scratch *s, int seq, size_t start, size_t end) {
  size_t n = end - start;
  int32_t unk = tok->special_id[SPECIAL_UNK];
  if (n > MAX_WORD_CHARS) return bertd_push_piece(s, seq, make_piece(s, unk, start, end - 1));
  if (!s->utf8) {
    s->utf8 = malloc(MAX_WORD_CHARS * 4);
    s->utf8_at = malloc((MAX_WORD_CHARS + 1) * sizeof *s->utf8_at);
    if (!s->utf8 || !s->utf8_at) return -1;
  }
  int32_t at = 0;
  for (size_t k = 0; k < n; k++) {
    s->utf8_at[k] = at;
    at += utf8_put(s->utf8 + at, s->ncp[start + k]);
  }
  s->utf8_at[n] = at;

  size_t before = s->npieces[seq];
  size_t pos = 0, longest = (size_t)tok->vocab.max_piece_chars;
  while (pos < n) {
    size_t e = n - pos > longest ? pos + longest : n;
    int32_t id = -1;
    for (; e > pos; e--) {
      id = bertd_vocab_find(&tok->vocab, pos > 0, s->utf8 + s->utf8_at[pos],
                      (size_t)(s->utf8_at[e] - s->utf8_at[pos]));
      if (id >= 0) break;
    }
    if (id < 0) { /* no piece fits here: the whole word is unknown */
      s->npieces[seq] = before;
      return bertd_push_piece(s, seq, make_piece(s, unk, start, end - 1));
    }
    if (bertd_push_piece(s, seq, make_piece(s, id, start + pos, start + e - 1)) != 0) return -1;
    pos = e;
  }
  return 0;
}
