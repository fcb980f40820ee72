/* codec_utf8.c: UTF-8 validation of text fields. Avro says strings are UTF-8 but Avro C never
 * checks, and the tokenizer must not be the first to find out. */
#include "codec_internal.h"

size_t bertd_codec_utf8_invalid_at(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < len) {
    unsigned c = s[i];
    size_t n;
    unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3;
      if (c == 0xe0) lo = 0xa0;      /* overlong */
      else if (c == 0xed) hi = 0x9f; /* UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4;
      if (c == 0xf0) lo = 0x90;      /* overlong */
      else if (c == 0xf4) hi = 0x8f; /* past U+10FFFF */
    } else {
      return i + 1;
    }
    if (len - i < n) return i + 1;
    if (s[i + 1] < lo || s[i + 1] > hi) return i + 1;
    for (size_t k = 2; k < n; k++)
      if ((s[i + k] & 0xc0) != 0x80) return i + 1;
    i += n;
  }
  return 0;
}
