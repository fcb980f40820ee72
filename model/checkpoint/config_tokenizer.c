/* config_tokenizer.c: tokenizer_config.json and special_tokens_map.json, read the way
 * transformers' PreTrainedTokenizerBase.from_pretrained (4.x) combines them:
 *  - BertTokenizer's defaults: do_lower_case true, strip_accents null (follow do_lower_case),
 *    tokenize_chinese_chars true, [UNK] [CLS] [SEP] [PAD] [MASK];
 *  - tokenizer_config.json overrides them; a token may be "[CLS]" or {"content": "[CLS]", ...};
 *  - special_tokens_map.json overrides the tokens only in the legacy layout, i.e. when
 *    tokenizer_config.json has no "added_tokens_decoder" (newer saves put the truth there);
 *  - model_max_length: transformers writes int(1e30) (or 1e20) for "no limit"; those and a
 *    missing value mean max_position_embeddings, and no value may exceed it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint_config_internal.h"
#include "config_json.h"

/* Anything at or past this is one of transformers' "unset" sentinels, not a real length. */
#define MODEL_MAX_LENGTH_UNSET 1e9

static const struct {
  const char *key;
  size_t offset;
} token_keys[] = {
    {"unk_token", offsetof(bertd_checkpoint_config, unk_token)},
    {"cls_token", offsetof(bertd_checkpoint_config, cls_token)},
    {"sep_token", offsetof(bertd_checkpoint_config, sep_token)},
    {"pad_token", offsetof(bertd_checkpoint_config, pad_token)},
    {"mask_token", offsetof(bertd_checkpoint_config, mask_token)},
};

static int read_tokens(const json_t *root, const char *file, bertd_checkpoint_config *cfg, char *errstr,
                       size_t errstr_size) {
  for (size_t i = 0; i < sizeof token_keys / sizeof token_keys[0]; i++) {
    const json_t *v = json_object_get(root, token_keys[i].key);
    if (!v || json_is_null(v)) continue;
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!json_is_string(v))
      return bertd_set_error(errstr, errstr_size, "%s: %s: expected a string or {\"content\": string}",
                                 file, token_keys[i].key);
    char *dst = (char *)cfg + token_keys[i].offset;
    size_t cap = sizeof cfg->unk_token;
    if (json_string_length(v) == 0)
      return bertd_set_error(errstr, errstr_size, "%s: %s: empty", file, token_keys[i].key);
    if (json_string_length(v) >= cap || strlen(json_string_value(v)) != json_string_length(v))
      return bertd_set_error(errstr, errstr_size, "%s: %s: longer than %zu bytes", file,
                                 token_keys[i].key, cap - 1);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
  }
  return 0;
}

int bertd_config_read_tokenizer(const char *dir, bertd_checkpoint_config *cfg, char *errstr, size_t errstr_size) {
  static const char *TC = "tokenizer_config.json", *SM = "special_tokens_map.json";
  json_t *tc = NULL, *sm = NULL;
  int rc = -1;
  if (bertd_cfgjson_load(dir, TC, 0, &tc, errstr, errstr_size) != 0) goto done;
  if (bertd_cfgjson_load(dir, SM, 0, &sm, errstr, errstr_size) != 0) goto done;
  if (tc && !json_is_object(tc)) {
    bertd_set_error(errstr, errstr_size, "%s: expected a JSON object", TC);
    goto done;
  }
  if (sm && !json_is_object(sm)) {
    bertd_set_error(errstr, errstr_size, "%s: expected a JSON object", SM);
    goto done;
  }

  double max_len = HUGE_VAL;
  if (tc) {
    if (bertd_cfgjson_bool(tc, TC, "do_lower_case", &cfg->do_lower_case, errstr, errstr_size) != 0 ||
        bertd_cfgjson_bool(tc, TC, "tokenize_chinese_chars", &cfg->tokenize_chinese_chars, errstr,
                           errstr_size) != 0)
      goto done;
    const json_t *sa = json_object_get(tc, "strip_accents");
    if (sa && !json_is_null(sa) && !json_is_boolean(sa)) {
      bertd_set_error(errstr, errstr_size, "%s: strip_accents: expected true, false or null", TC);
      goto done;
    }
    cfg->strip_accents = json_is_boolean(sa) ? json_is_true(sa) : -1;
    const json_t *ml = json_object_get(tc, "model_max_length");
    if (ml && !json_is_null(ml)) {
      if (!json_is_number(ml) || json_number_value(ml) < 1) {
        bertd_set_error(errstr, errstr_size, "%s: model_max_length: expected a positive integer", TC);
        goto done;
      }
      max_len = json_number_value(ml);
    }
    if (read_tokens(tc, TC, cfg, errstr, errstr_size) != 0) goto done;
  }
  if (sm && !(tc && json_object_get(tc, "added_tokens_decoder")))
    if (read_tokens(sm, SM, cfg, errstr, errstr_size) != 0) goto done;

  cfg->model_max_length = cfg->max_position_embeddings;
  if (max_len < MODEL_MAX_LENGTH_UNSET && max_len < cfg->max_position_embeddings)
    cfg->model_max_length = (int)max_len;
  rc = 0;
done:
  json_decref(tc);
  json_decref(sm);
  return rc;
}
