/* basic_tokenizer.c: UTF-8 decoding, BERT's text normalization and its pre-tokenization, the way
 * the Rust `tokenizers` crate (BertNormalizer + BertPreTokenizer) does them for BertTokenizerFast.
 *
 * Normalization works one original character at a time and records, for every character it
 * emits, the original character it came from. That is all offset_mapping needs: a token spanning
 * normalized chars [a, b) covers original chars [orig(a), orig(b-1) + 1), which is how
 * tokenizers' alignments map it back (so "##" pieces of a lower-cased 'İ' both point at 'İ', and
 * a dropped accent simply is not covered). Unicode data comes from utf8proc, except for the few
 * hundred code points where tokenizers' older Unicode tables say otherwise (unicode_compat.c). */
#include "tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* Python's str.isspace(), which is what text.split() (the JointBERT word convention) uses. */
static int is_python_space(int32_t c) {
  if ((c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F) || c == 0x85) return 1;
  if (c < 0x80) return c == ' ';
  utf8proc_category_t cat = utf8proc_category(c);
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

/* What cleaning and pre-tokenization make of a character: removed (NUL, U+FFFD and tokenizers'
 * is_control: categories Cc Cf Co Cs except tab/newline/return; its comment says Cn too, but its
 * tables leave unassigned code points out, so they are kept), whitespace (Rust's
 * char::is_whitespace: White_Space, with tab/newline/return), punctuation (P* and all ASCII
 * symbols, even those Unicode calls Sm/Sc/Sk like '$' '+' '^' '`') or ordinary. */
static int utf8proc_class(int32_t c) {
  if (c == 0xFFFD || c == 0x85) return UCLASS_REMOVE; /* NEL: Cc wins over White_Space */
  switch (utf8proc_category(c)) {
  case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CO:
  case UTF8PROC_CATEGORY_CS:
    return UCLASS_REMOVE;
  case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
    return UCLASS_SPACE;
  case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
  case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
  case UTF8PROC_CATEGORY_PO:
    return UCLASS_PUNCT;
  default:
    return UCLASS_OTHER;
  }
}

static const compat_map_entry *compat_find(const compat_map_entry *t, size_t n, int32_t c) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (t[mid].cp == c) return &t[mid];
    if (t[mid].cp < c) lo = mid + 1; else hi = mid;
  }
  return NULL;
}

static int char_class(int32_t c) {
  if (c < 0x80) {
    if (c == '\t' || c == '\n' || c == '\r' || c == ' ') return UCLASS_SPACE;
    if (c < 0x20 || c == 0x7F) return UCLASS_REMOVE;
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || c >= 123)
      return UCLASS_PUNCT;
    return UCLASS_OTHER;
  }
  size_t lo = 0, hi = bertd_compat_classes_n; /* tokenizers' older Unicode first */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (bertd_compat_classes[mid].cp == c) return bertd_compat_classes[mid].cls;
    if (bertd_compat_classes[mid].cp < c) lo = mid + 1; else hi = mid;
  }
  return utf8proc_class(c);
}

/* The CJK blocks BERT isolates; Hangul, kana etc. are written with spaces and are not here. */
static int is_chinese_char(int32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

int bertd_utf8_decode(scratch *s, const char *text, size_t len, const char *what, size_t *n,
                char *errstr, size_t errstr_size) {
  if (len >= INT32_MAX) {
    snprintf(errstr, errstr_size, "%s: too long (%zu bytes)", what, len);
    return -1;
  }
  if (len + 1 > s->cp_cap) {
    size_t cap = s->cp_cap * 2 > len + 1 ? s->cp_cap * 2 : len + 1;
    int32_t *cp = realloc(s->cp, cap * sizeof *cp);
    if (cp) s->cp = cp;
    int32_t *byte = realloc(s->byte, cap * sizeof *byte);
    if (byte) s->byte = byte;
    int32_t *word = realloc(s->word, cap * sizeof *word);
    if (word) s->word = word;
    if (!cp || !byte || !word) goto oom;
    s->cp_cap = cap;
  }
  const unsigned char *p = (const unsigned char *)text;
  size_t i = 0, k = 0;
  int32_t word = -1;
  int after_space = 1;
  while (i < len) {
    unsigned b = p[i];
    int32_t c;
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (b < 0x80) { c = (int32_t)b; need = 0; }
    else if (b >= 0xC2 && b <= 0xDF) { c = (int32_t)(b & 0x1F); need = 1; }
    else if (b >= 0xE0 && b <= 0xEF) {
      c = (int32_t)(b & 0x0F); need = 2;
      if (b == 0xE0) lo = 0xA0;       /* overlong */
      if (b == 0xED) hi = 0x9F;       /* surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
      c = (int32_t)(b & 0x07); need = 3;
      if (b == 0xF0) lo = 0x90;       /* overlong */
      if (b == 0xF4) hi = 0x8F;       /* above U+10FFFF */
    } else goto bad;
    for (size_t j = 1; j <= need; j++) {
      if (i + j >= len) goto bad;
      unsigned cb = p[i + j];
      if (cb < (j == 1 ? lo : 0x80) || cb > (j == 1 ? hi : 0xBF)) goto bad;
      c = (c << 6) | (int32_t)(cb & 0x3F);
    }
    if (is_python_space(c)) {
      after_space = 1;
    } else if (after_space) {
      word++;
      after_space = 0;
    }
    s->cp[k] = c;
    s->byte[k] = (int32_t)i;
    s->word[k] = word < 0 ? 0 : word;
    k++;
    i += need + 1;
    continue;
  bad:
    snprintf(errstr, errstr_size, "%s: invalid UTF-8 at byte %zu (0x%02x)", what, i, b);
    return -1;
  }
  s->byte[k] = (int32_t)len;
  *n = k;
  return 0;
oom:
  snprintf(errstr, errstr_size, "%s: out of memory", what);
  return -1;
}

static int emit(scratch *s, size_t *nn, int32_t c, int32_t orig) {
  if (*nn == s->n_cap) {
    size_t cap = s->n_cap ? s->n_cap * 2 : 256;
    int32_t *ncp = realloc(s->ncp, cap * sizeof *ncp);
    if (ncp) s->ncp = ncp;
    int32_t *norig = realloc(s->norig, cap * sizeof *norig);
    if (norig) s->norig = norig;
    if (!ncp || !norig) return -1;
    s->n_cap = cap;
  }
  s->ncp[*nn] = c;
  s->norig[*nn] = orig;
  (*nn)++;
  return 0;
}

/* Lower-cases as Rust's char::to_lowercase: the simple mapping except 'İ' (U+0130), the one
 * character whose unconditional full mapping is two characters ("i" + combining dot above). */
static int emit_lower(const bertd_tokenizer *tok, scratch *s, size_t *nn, int32_t c, int32_t orig) {
  if (!tok->lowercase) return emit(s, nn, c, orig);
  if (c == 0x130) {
    if (emit(s, nn, 'i', orig) != 0) return -1;
    return emit(s, nn, 0x307, orig);
  }
  const compat_map_entry *m = c >= 0x80 ? compat_find(bertd_compat_lower, bertd_compat_lower_n, c) : NULL;
  if (m) {
    for (int32_t k = 0; k < m->n; k++)
      if (emit(s, nn, m->out[k], orig) != 0) return -1;
    return 0;
  }
  return emit(s, nn, utf8proc_tolower(c), orig);
}

static int emit_char(const bertd_tokenizer *tok, scratch *s, size_t *nn, int32_t c, int32_t orig) {
  if (!tok->strip_accents || c < 0xC0) return emit_lower(tok, s, nn, c, orig);
  const compat_map_entry *m = compat_find(bertd_compat_strip, bertd_compat_strip_n, c);
  if (m) { /* tokenizers' older NFD / Mn data */
    for (int32_t k = 0; k < m->n; k++)
      if (emit_lower(tok, s, nn, m->out[k], orig) != 0) return -1;
    return 0;
  }
  utf8proc_int32_t dec[16];
  int boundclass = 0;
  utf8proc_ssize_t nd = utf8proc_decompose_char(c, dec, 16, UTF8PROC_DECOMPOSE, &boundclass);
  if (nd < 0 || nd > 16) { dec[0] = c; nd = 1; }
  for (utf8proc_ssize_t k = 0; k < nd; k++) {
    if (utf8proc_category(dec[k]) == UTF8PROC_CATEGORY_MN) continue; /* the accent itself */
    if (emit_lower(tok, s, nn, dec[k], orig) != 0) return -1;
  }
  return 0;
}

int bertd_basic_normalize(const bertd_tokenizer *tok, scratch *s, size_t from, size_t to, size_t *nn) {
  *nn = 0;
  for (size_t i = from; i < to; i++) {
    int32_t c = s->cp[i], orig = (int32_t)i;
    int cls = char_class(c);
    if (cls == UCLASS_REMOVE) continue;
    if (cls == UCLASS_SPACE) {
      if (emit(s, nn, ' ', orig) != 0) return -1;
    } else if (tok->chinese_chars && is_chinese_char(c)) {
      if (emit(s, nn, ' ', orig) != 0 || emit_char(tok, s, nn, c, orig) != 0 ||
          emit(s, nn, ' ', orig) != 0)
        return -1;
    } else if (emit_char(tok, s, nn, c, orig) != 0) {
      return -1;
    }
  }
  return 0;
}

int bertd_basic_pretokenize(const scratch *s, size_t nn, word_fn on_word, void *ctx) {
  size_t start = 0;
  for (size_t j = 0; j < nn; j++) {
    int cls = char_class(s->ncp[j]);
    if (cls == UCLASS_SPACE) {
      if (j > start && on_word(ctx, start, j) != 0) return -1;
      start = j + 1;
    } else if (cls == UCLASS_PUNCT) {
      if (j > start && on_word(ctx, start, j) != 0) return -1;
      if (on_word(ctx, j, j + 1) != 0) return -1;
      start = j + 1;
    }
  }
  if (nn > start && on_word(ctx, start, nn) != 0) return -1;
  return 0;
}
