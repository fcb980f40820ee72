/* tokenizer.c: the tokenizer object: vocabulary, options and the special tokens' ids. */
#include "tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const default_special[SPECIAL_COUNT] = {"[UNK]", "[CLS]", "[SEP]", "[PAD]",
                                                           "[MASK]"};

int bertd_tokenizer_from_vocab(const char *vocab_path, const bertd_tokenizer_opts *opts,
                               bertd_tokenizer **out, char *errstr, size_t errstr_size) {
  *out = NULL;
  bertd_tokenizer_opts def = {1, -1, 1, 512, NULL, NULL, NULL, NULL, NULL};
  if (!opts) opts = &def;
  if (opts->model_max_length < 0) {
    snprintf(errstr, errstr_size, "model_max_length %d is negative", opts->model_max_length);
    return -1;
  }
  bertd_tokenizer *tok = calloc(1, sizeof *tok);
  if (!tok) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  if (bertd_vocab_load(&tok->vocab, vocab_path, errstr, errstr_size) != 0) {
    free(tok);
    return -1;
  }
  tok->lowercase = opts->do_lower_case != 0;
  tok->strip_accents = opts->strip_accents < 0 ? tok->lowercase : opts->strip_accents != 0;
  tok->chinese_chars = opts->tokenize_chinese_chars != 0;
  tok->model_max_length = opts->model_max_length ? opts->model_max_length : 512;
  const char *given[SPECIAL_COUNT] = {opts->unk_token, opts->cls_token, opts->sep_token,
                                      opts->pad_token, opts->mask_token};
  for (int k = 0; k < SPECIAL_COUNT; k++) {
    const char *name = given[k] ? given[k] : default_special[k];
    tok->special[k] = strdup(name);
    if (!tok->special[k]) {
      snprintf(errstr, errstr_size, "out of memory");
      bertd_tokenizer_free(tok);
      return -1;
    }
    tok->special_len[k] = strlen(name);
    tok->special_id[k] = bertd_vocab_find(&tok->vocab, 0, name, tok->special_len[k]);
    if (tok->special_id[k] < 0) {
      snprintf(errstr, errstr_size, "%s: special token \"%s\" is not in the vocabulary",
               vocab_path, name);
      bertd_tokenizer_free(tok);
      return -1;
    }
  }
  *out = tok;
  return 0;
}

void bertd_tokenizer_free(bertd_tokenizer *tok) {
  if (!tok) return;
  bertd_vocab_free(&tok->vocab);
  for (int k = 0; k < SPECIAL_COUNT; k++) free(tok->special[k]);
  free(tok);
}

int bertd_tokenizer_vocab_size(const bertd_tokenizer *tok) { return tok->vocab.n; }

int32_t bertd_tokenizer_token_to_id(const bertd_tokenizer *tok, const char *token) {
  return bertd_vocab_find(&tok->vocab, 0, token, strlen(token));
}

const char *bertd_tokenizer_id_to_token(const bertd_tokenizer *tok, int32_t id) {
  if (id < 0 || id >= tok->vocab.n) return NULL;
  return tok->vocab.arena + tok->vocab.tok_off[id];
}

int32_t bertd_tokenizer_special_id(const bertd_tokenizer *tok, char which) {
  switch (which) {
  case 'c': return tok->special_id[SPECIAL_CLS];
  case 's': return tok->special_id[SPECIAL_SEP];
  case 'p': return tok->special_id[SPECIAL_PAD];
  case 'm': return tok->special_id[SPECIAL_MASK];
  case 'u': return tok->special_id[SPECIAL_UNK];
  default: return -1;
  }
}
