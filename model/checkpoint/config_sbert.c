/* config_sbert.c: a sentence-transformers checkpoint's extra files.
 *   modules.json               [{"type": "sentence_transformers.models.Transformer", "path": ""},
 *                               {"type": "...Pooling", "path": "1_Pooling"},
 *                               {"type": "...Normalize", "path": "2_Normalize"}]
 *   1_Pooling/config.json      {"pooling_mode_mean_tokens": true, "pooling_mode_cls_token": false, ...}
 *   sentence_bert_config.json  {"max_seq_length": 256, "do_lower_case": false}
 * A module bertd cannot run (Dense, a second Transformer, ...) is an error rather than a silently
 * different embedding. */
#include <stdio.h>
#include <string.h>

#include "checkpoint_config_internal.h"
#include "config_json.h"

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int read_pooling(const char *dir, const char *sub, bertd_checkpoint_config *cfg, char *errstr,
                        size_t errstr_size) {
  char name[512];
  if (snprintf(name, sizeof name, "%s/config.json", sub) >= (int)sizeof name)
    return bertd_set_error(errstr, errstr_size, "modules.json: pooling path too long");
  json_t *root;
  if (bertd_cfgjson_load(dir, name, 1, &root, errstr, errstr_size) != 0) return -1;
  int rc = -1;
  static const struct {
    const char *key;
    bertd_pooling_mode mode; /* NONE: a mode bertd does not implement */
  } modes[] = {
      {"pooling_mode_cls_token", BERTD_POOL_CLS},
      {"pooling_mode_mean_tokens", BERTD_POOL_MEAN},
      {"pooling_mode_max_tokens", BERTD_POOL_MAX},
      {"pooling_mode_mean_sqrt_len_tokens", BERTD_POOL_NONE},
      {"pooling_mode_weightedmean_tokens", BERTD_POOL_NONE},
      {"pooling_mode_lasttoken", BERTD_POOL_NONE},
  };
  int dim = cfg->hidden_size;
  if (!json_is_object(root)) {
    bertd_set_error(errstr, errstr_size, "%s: expected a JSON object", name);
    goto done;
  }
  if (bertd_cfgjson_int(root, name, "word_embedding_dimension", 1, &dim, errstr, errstr_size) != 0) goto done;
  if (dim != cfg->hidden_size) {
    bertd_set_error(errstr, errstr_size, "%s: word_embedding_dimension: %d but config.json says hidden_size %d",
                        name, dim, cfg->hidden_size);
    goto done;
  }
  int count = 0;
  cfg->pooling = BERTD_POOL_NONE;
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    int on = 0;
    if (bertd_cfgjson_bool(root, name, modes[i].key, &on, errstr, errstr_size) != 0) goto done;
    if (!on) continue;
    if (modes[i].mode == BERTD_POOL_NONE) {
      bertd_set_error(errstr, errstr_size, "%s: %s is not supported (cls, mean or max only)", name,
                          modes[i].key);
      goto done;
    }
    cfg->pooling = modes[i].mode;
    count++;
  }
  if (count != 1) {
    bertd_set_error(errstr, errstr_size,
                        "%s: expected exactly one pooling mode, found %d (concatenated poolings are not supported)",
                        name, count);
    goto done;
  }
  rc = 0;
done:
  json_decref(root);
  return rc;
}

static int read_modules(const char *dir, bertd_checkpoint_config *cfg, char *errstr, size_t errstr_size) {
  static const char *MJ = "modules.json";
  json_t *root;
  if (bertd_cfgjson_load(dir, MJ, 0, &root, errstr, errstr_size) != 0) return -1;
  if (!root) return 0;
  int rc = -1;
  if (!json_is_array(root)) {
    bertd_set_error(errstr, errstr_size, "%s: expected a JSON array", MJ);
    goto done;
  }
  size_t i;
  json_t *m;
  json_array_foreach(root, i, m) {
    const char *type = json_string_value(json_object_get(m, "type"));
    const char *path = json_string_value(json_object_get(m, "path"));
    if (!type || !path) {
      bertd_set_error(errstr, errstr_size, "%s: [%zu]: expected {\"type\": string, \"path\": string}", MJ, i);
      goto done;
    }
    if (ends_with(type, ".Transformer") && i == 0 && path[0] == '\0') continue;
    if (ends_with(type, ".Pooling") && cfg->pooling == BERTD_POOL_NONE && !cfg->normalize) {
      if (read_pooling(dir, path, cfg, errstr, errstr_size) != 0) goto done;
      continue;
    }
    if (ends_with(type, ".Normalize") && cfg->pooling != BERTD_POOL_NONE) {
      cfg->normalize = 1; /* no files: 2_Normalize/ may not even exist */
      continue;
    }
    bertd_set_error(errstr, errstr_size, "%s: [%zu]: module '%s' at '%s' is not supported here", MJ, i,
                        type, path);
    goto done;
  }
  rc = 0;
done:
  json_decref(root);
  return rc;
}

int bertd_config_read_sbert(const char *dir, bertd_checkpoint_config *cfg, char *errstr, size_t errstr_size) {
  if (read_modules(dir, cfg, errstr, errstr_size) != 0) return -1;
  static const char *SB = "sentence_bert_config.json";
  json_t *root;
  if (bertd_cfgjson_load(dir, SB, 0, &root, errstr, errstr_size) != 0) return -1;
  if (!root) return 0;
  int rc = -1;
  if (!json_is_object(root)) {
    bertd_set_error(errstr, errstr_size, "%s: expected a JSON object", SB);
  } else if (bertd_cfgjson_int(root, SB, "max_seq_length", 1, &cfg->st_max_seq_length, errstr, errstr_size) == 0 &&
             bertd_cfgjson_bool(root, SB, "do_lower_case", &cfg->st_do_lower_case, errstr, errstr_size) == 0) {
    rc = 0;
  }
  json_decref(root);
  return rc;
}
