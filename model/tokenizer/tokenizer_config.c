/* tokenizer_config.c: a tokenizer for a checkpoint directory: DIR/vocab.txt with the options of
 * its tokenizer_config.json and special_tokens_map.json. Those files are read in one place,
 * config_tokenizer.c (transformers' defaults and precedence rules); a model load has them in its
 * bertd_checkpoint_config already and passes that, a tokenizer-only load reads them here. tokenizer.json is
 * not read: for BERT it is derived from these files. */
#include "tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint_config_internal.h"

int bertd_tokenizer_from_config(const char *dir, const bertd_checkpoint_config *cfg, bertd_tokenizer **out,
                                char *errstr, size_t errstr_size) {
  *out = NULL;
  const bertd_tokenizer_opts o = {
      .do_lower_case = cfg->do_lower_case,
      .strip_accents = cfg->strip_accents,
      .tokenize_chinese_chars = cfg->tokenize_chinese_chars,
      .model_max_length = cfg->model_max_length,
      .unk_token = cfg->unk_token,
      .cls_token = cfg->cls_token,
      .sep_token = cfg->sep_token,
      .pad_token = cfg->pad_token,
      .mask_token = cfg->mask_token,
  };
  size_t cap = strlen(dir) + sizeof "/vocab.txt";
  char *path = malloc(cap);
  if (!path) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  snprintf(path, cap, "%s/vocab.txt", dir);
  int rc = bertd_tokenizer_from_vocab(path, &o, out, errstr, errstr_size);
  free(path);
  return rc;
}

int bertd_tokenizer_load(const char *dir, bertd_tokenizer **out, char *errstr, size_t errstr_size) {
  *out = NULL;
  bertd_checkpoint_config cfg; /* BERT's defaults (max_position_embeddings 512), then the tokenizer files */
  if (bertd_config_defaults(&cfg, errstr, errstr_size) != 0) return -1;
  int rc = bertd_config_read_tokenizer(dir, &cfg, errstr, errstr_size);
  if (rc == 0) rc = bertd_tokenizer_from_config(dir, &cfg, out, errstr, errstr_size);
  bertd_config_free(&cfg);
  return rc;
}
