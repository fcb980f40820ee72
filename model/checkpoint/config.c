/* config.c: config.json into bertd_checkpoint_config, with transformers' BertConfig defaults for every
 * missing field, then the tokenizer, sentence-transformers and JointBERT files (config_*.c). */
#include "bertd_checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint_config_internal.h"
#include "config_json.h"

#define CONFIG_JSON "config.json"

void bertd_config_free_strings(char **list, int n) {
  if (!list) return;
  for (int i = 0; i < n; i++) free(list[i]);
  free(list);
}

void bertd_config_free(bertd_checkpoint_config *cfg) {
  if (!cfg) return;
  bertd_config_free_strings(cfg->id2label, cfg->num_labels);
  bertd_config_free_strings(cfg->intent_labels, cfg->num_intents);
  bertd_config_free_strings(cfg->slot_labels, cfg->num_slots);
  cfg->id2label = cfg->intent_labels = cfg->slot_labels = NULL;
  cfg->num_labels = cfg->num_intents = cfg->num_slots = 0;
}

/* "LABEL_0", "LABEL_1", ...: what PretrainedConfig invents when only num_labels is given. */
static int default_labels(bertd_checkpoint_config *cfg, int n, char *errstr, size_t errstr_size) {
  char **labels = calloc((size_t)n, sizeof *labels);
  if (!labels) return bertd_set_error(errstr, errstr_size, "config: out of memory");
  for (int i = 0; i < n; i++) {
    char buf[32];
    snprintf(buf, sizeof buf, "LABEL_%d", i);
    if (!(labels[i] = strdup(buf))) {
      bertd_config_free_strings(labels, i);
      return bertd_set_error(errstr, errstr_size, "config: out of memory");
    }
  }
  bertd_config_free_strings(cfg->id2label, cfg->num_labels);
  cfg->id2label = labels;
  cfg->num_labels = n;
  return 0;
}

int bertd_config_defaults(bertd_checkpoint_config *cfg, char *errstr, size_t errstr_size) {
  memset(cfg, 0, sizeof *cfg);
  cfg->vocab_size = 30522;
  cfg->hidden_size = 768;
  cfg->num_hidden_layers = 12;
  cfg->num_attention_heads = 12;
  cfg->intermediate_size = 3072;
  cfg->hidden_act = BERTD_ACT_GELU;
  cfg->max_position_embeddings = 512;
  cfg->type_vocab_size = 2;
  cfg->layer_norm_eps = 1e-12f;
  cfg->pad_token_id = 0;
  cfg->arch = BERTD_ARCH_BASE;
  cfg->problem_type = BERTD_PROBLEM_SINGLE_LABEL;
  cfg->do_lower_case = 1;
  cfg->strip_accents = -1;
  cfg->tokenize_chinese_chars = 1;
  cfg->model_max_length = 512;
  snprintf(cfg->unk_token, sizeof cfg->unk_token, "[UNK]");
  snprintf(cfg->cls_token, sizeof cfg->cls_token, "[CLS]");
  snprintf(cfg->sep_token, sizeof cfg->sep_token, "[SEP]");
  snprintf(cfg->pad_token, sizeof cfg->pad_token, "[PAD]");
  snprintf(cfg->mask_token, sizeof cfg->mask_token, "[MASK]");
  cfg->pooling = BERTD_POOL_NONE;
  cfg->hidden_dropout_prob = 0.1f;
  cfg->attention_probs_dropout_prob = 0.1f;
  cfg->classifier_dropout = -1.0f;
  cfg->initializer_range = 0.02f;
  return default_labels(cfg, 2, errstr, errstr_size);
}

int bertd_config_validate(const bertd_checkpoint_config *cfg, char *errstr, size_t errstr_size) {
  const struct { const char *key; int value; } positive[] = {
      {"vocab_size", cfg->vocab_size},
      {"hidden_size", cfg->hidden_size},
      {"num_hidden_layers", cfg->num_hidden_layers},
      {"num_attention_heads", cfg->num_attention_heads},
      {"intermediate_size", cfg->intermediate_size},
      {"max_position_embeddings", cfg->max_position_embeddings},
      {"type_vocab_size", cfg->type_vocab_size},
  };
  for (size_t i = 0; i < sizeof positive / sizeof positive[0]; i++)
    if (positive[i].value < 1)
      return bertd_set_error(errstr, errstr_size, CONFIG_JSON ": %s: expected an integer >= 1",
                                 positive[i].key);
  if (cfg->hidden_size % cfg->num_attention_heads != 0)
    return bertd_set_error(errstr, errstr_size,
                               CONFIG_JSON ": num_attention_heads: %d does not divide hidden_size %d",
                               cfg->num_attention_heads, cfg->hidden_size);
  if (!(cfg->layer_norm_eps > 0))
    return bertd_set_error(errstr, errstr_size, CONFIG_JSON ": layer_norm_eps: expected a positive number");
  if (cfg->pad_token_id >= cfg->vocab_size)
    return bertd_set_error(errstr, errstr_size,
                               CONFIG_JSON ": pad_token_id: %d is not below vocab_size %d",
                               cfg->pad_token_id, cfg->vocab_size);
  if ((cfg->arch == BERTD_ARCH_SEQ_CLS || cfg->arch == BERTD_ARCH_TOKEN_CLS) && cfg->num_labels < 1)
    return bertd_set_error(errstr, errstr_size, CONFIG_JSON ": %s needs at least one label",
                               bertd_arch_name(cfg->arch));
  if (cfg->arch == BERTD_ARCH_JOINT && (cfg->num_intents < 1 || cfg->num_slots < 1))
    return bertd_set_error(errstr, errstr_size,
                               "JointBERT needs intent_label.txt and slot_label.txt (got %d intents, %d slots)",
                               cfg->num_intents, cfg->num_slots);
  return 0;
}

/* id2label {"0": "NEG", "1": "POS"}: the keys are JSON strings holding the ids 0..n-1. */
static int read_id2label(const json_t *obj, bertd_checkpoint_config *cfg, char *errstr, size_t errstr_size) {
  int n = (int)json_object_size(obj);
  char **labels = calloc(n ? (size_t)n : 1, sizeof *labels);
  if (!labels) return bertd_set_error(errstr, errstr_size, "config: out of memory");
  const char *key;
  json_t *value;
  json_object_foreach((json_t *)obj, key, value) {
    char *end;
    errno = 0;
    long id = strtol(key, &end, 10);
    if (errno || end == key || *end || id < 0 || id >= n) {
      bertd_config_free_strings(labels, n);
      return bertd_set_error(errstr, errstr_size,
                                 CONFIG_JSON ": id2label: key '%s' is not an id in 0..%d", key, n - 1);
    }
    if (!json_is_string(value)) {
      bertd_config_free_strings(labels, n);
      return bertd_set_error(errstr, errstr_size, CONFIG_JSON ": id2label: '%s': expected a string", key);
    }
    if (labels[id]) {
      bertd_config_free_strings(labels, n);
      return bertd_set_error(errstr, errstr_size, CONFIG_JSON ": id2label: id %ld appears twice", id);
    }
    if (!(labels[id] = strdup(json_string_value(value)))) {
      bertd_config_free_strings(labels, n);
      return bertd_set_error(errstr, errstr_size, "config: out of memory");
    }
  }
  bertd_config_free_strings(cfg->id2label, cfg->num_labels);
  cfg->id2label = labels;
  cfg->num_labels = n;
  return 0;
}

/* label2id {"NEG": 0, "POS": 1}: used only when id2label is absent. */
static int read_label2id(const json_t *obj, bertd_checkpoint_config *cfg, char *errstr, size_t errstr_size) {
  int n = (int)json_object_size(obj);
  char **labels = calloc(n ? (size_t)n : 1, sizeof *labels);
  if (!labels) return bertd_set_error(errstr, errstr_size, "config: out of memory");
  const char *key;
  json_t *value;
  json_object_foreach((json_t *)obj, key, value) {
    double d = json_is_number(value) ? json_number_value(value) : -1;
    int id = d >= 0 && d < n ? (int)d : -1;
    if (id < 0 || d != id || labels[id]) {
      bertd_config_free_strings(labels, n);
      return bertd_set_error(errstr, errstr_size,
                                 CONFIG_JSON ": label2id: '%s': expected a distinct id in 0..%d", key, n - 1);
    }
    if (!(labels[id] = strdup(key))) {
      bertd_config_free_strings(labels, n);
      return bertd_set_error(errstr, errstr_size, "config: out of memory");
    }
  }
  bertd_config_free_strings(cfg->id2label, cfg->num_labels);
  cfg->id2label = labels;
  cfg->num_labels = n;
  return 0;
}

static int read_labels(const json_t *root, bertd_checkpoint_config *cfg, char *errstr, size_t errstr_size) {
  const json_t *id2label = json_object_get(root, "id2label");
  const json_t *label2id = json_object_get(root, "label2id");
  if (json_is_object(id2label) && json_object_size(id2label) > 0) {
    if (read_id2label(id2label, cfg, errstr, errstr_size) != 0) return -1;
  } else if (json_is_object(label2id) && json_object_size(label2id) > 0) {
    if (read_label2id(label2id, cfg, errstr, errstr_size) != 0) return -1;
  } else {
    int n = cfg->num_labels;
    if (bertd_cfgjson_int(root, CONFIG_JSON, "num_labels", 1, &n, errstr, errstr_size) != 0) return -1;
    if (n != cfg->num_labels && default_labels(cfg, n, errstr, errstr_size) != 0) return -1;
  }

  /* problem_type null: transformers decides at training time from the label dtype; for
   * inference the only signal is num_labels == 1, which means regression. */
  const char *pt;
  if (bertd_cfgjson_string(root, CONFIG_JSON, "problem_type", &pt, errstr, errstr_size) != 0) return -1;
  if (!pt) cfg->problem_type = cfg->num_labels == 1 ? BERTD_PROBLEM_REGRESSION : BERTD_PROBLEM_SINGLE_LABEL;
  else if (strcmp(pt, "single_label_classification") == 0) cfg->problem_type = BERTD_PROBLEM_SINGLE_LABEL;
  else if (strcmp(pt, "multi_label_classification") == 0) cfg->problem_type = BERTD_PROBLEM_MULTI_LABEL;
  else if (strcmp(pt, "regression") == 0) cfg->problem_type = BERTD_PROBLEM_REGRESSION;
  else
    return bertd_set_error(errstr, errstr_size, CONFIG_JSON ": problem_type: unknown '%s'", pt);
  return 0;
}

static int read_arch(const char *dir, const json_t *root, bertd_checkpoint_config *cfg, char *errstr,
                     size_t errstr_size) {
  const json_t *archs = json_object_get(root, "architectures");
  const char *name = NULL;
  if (json_is_array(archs) && json_array_size(archs) > 0) {
    if (!json_is_string(json_array_get(archs, 0)))
      return bertd_set_error(errstr, errstr_size, CONFIG_JSON ": architectures[0]: expected a string");
    name = json_string_value(json_array_get(archs, 0));
  } else if (archs && !json_is_null(archs) && !json_is_array(archs)) {
    return bertd_set_error(errstr, errstr_size, CONFIG_JSON ": architectures: expected an array");
  }
  if (name) {
    snprintf(cfg->architecture, sizeof cfg->architecture, "%s", name);
    if (bertd_config_arch_from_name(name, &cfg->arch) == 0) return 0;
  }
  /* No architectures: the tensors tell. An unknown name is accepted only when the tensors show a
   * JointBERT (its authors' variants carry other class names); anything else would guess. */
  bertd_arch guess;
  if (bertd_config_arch_from_tensors(dir, &guess, errstr, errstr_size) != 0) return -1;
  if (name && guess != BERTD_ARCH_JOINT)
    return bertd_set_error(errstr, errstr_size,
                               CONFIG_JSON ": architectures[0]: '%s' is not a BERT architecture bertd knows",
                               name);
  cfg->arch = guess;
  return 0;
}

static int read_config_json(const char *dir, bertd_checkpoint_config *cfg, char *errstr, size_t errstr_size) {
  json_t *root;
  if (bertd_cfgjson_load(dir, CONFIG_JSON, 1, &root, errstr, errstr_size) != 0) return -1;
  int rc = -1;
  if (!json_is_object(root)) {
    bertd_set_error(errstr, errstr_size, CONFIG_JSON ": expected a JSON object");
    goto done;
  }
  const struct { const char *key; int *out; int min; } ints[] = {
      {"vocab_size", &cfg->vocab_size, 1},
      {"hidden_size", &cfg->hidden_size, 1},
      {"num_hidden_layers", &cfg->num_hidden_layers, 1},
      {"num_attention_heads", &cfg->num_attention_heads, 1},
      {"intermediate_size", &cfg->intermediate_size, 1},
      {"max_position_embeddings", &cfg->max_position_embeddings, 1},
      {"type_vocab_size", &cfg->type_vocab_size, 1},
      {"pad_token_id", &cfg->pad_token_id, 0},
  };
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
    if (bertd_cfgjson_int(root, CONFIG_JSON, ints[i].key, ints[i].min, ints[i].out, errstr, errstr_size) != 0)
      goto done;
  if (json_is_null(json_object_get(root, "pad_token_id"))) cfg->pad_token_id = -1;
  if (bertd_cfgjson_float(root, CONFIG_JSON, "layer_norm_eps", &cfg->layer_norm_eps, errstr, errstr_size) != 0)
    goto done;
  const struct { const char *key; float *out; } probs[] = {
      {"hidden_dropout_prob", &cfg->hidden_dropout_prob},
      {"attention_probs_dropout_prob", &cfg->attention_probs_dropout_prob},
      {"classifier_dropout", &cfg->classifier_dropout},
      {"initializer_range", &cfg->initializer_range},
  };
  for (size_t i = 0; i < sizeof probs / sizeof probs[0]; i++) {
    if (bertd_cfgjson_float(root, CONFIG_JSON, probs[i].key, probs[i].out, errstr, errstr_size) != 0) goto done;
    if (probs[i].out != &cfg->initializer_range && probs[i].out != &cfg->classifier_dropout &&
        !(*probs[i].out >= 0.0f && *probs[i].out < 1.0f)) {
      bertd_set_error(errstr, errstr_size, CONFIG_JSON ": %s: expected a probability in [0, 1)", probs[i].key);
      goto done;
    }
  }
  if (cfg->classifier_dropout >= 1.0f) {
    bertd_set_error(errstr, errstr_size, CONFIG_JSON ": classifier_dropout: expected a probability in [0, 1)");
    goto done;
  }

  const char *act;
  if (bertd_cfgjson_string(root, CONFIG_JSON, "hidden_act", &act, errstr, errstr_size) != 0) goto done;
  if (!act || strcmp(act, "gelu") == 0) cfg->hidden_act = BERTD_ACT_GELU;
  else if (strcmp(act, "gelu_new") == 0 || strcmp(act, "gelu_pytorch_tanh") == 0) cfg->hidden_act = BERTD_ACT_GELU_NEW;
  else if (strcmp(act, "relu") == 0) cfg->hidden_act = BERTD_ACT_RELU;
  else {
    bertd_set_error(errstr, errstr_size,
                        CONFIG_JSON ": hidden_act: '%s' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)", act);
    goto done;
  }

  const char *pet;
  if (bertd_cfgjson_string(root, CONFIG_JSON, "position_embedding_type", &pet, errstr, errstr_size) != 0) goto done;
  if (pet && strcmp(pet, "absolute") != 0) {
    bertd_set_error(errstr, errstr_size,
                        CONFIG_JSON ": position_embedding_type: '%s' is not supported (absolute only)", pet);
    goto done;
  }

  if (read_labels(root, cfg, errstr, errstr_size) != 0) goto done;
  if (read_arch(dir, root, cfg, errstr, errstr_size) != 0) goto done;
  rc = 0;
done:
  json_decref(root);
  return rc;
}

int bertd_config_load(const char *dir, bertd_checkpoint_config *cfg, char *errstr, size_t errstr_size) {
  if (bertd_config_defaults(cfg, errstr, errstr_size) != 0) return -1;
  if (read_config_json(dir, cfg, errstr, errstr_size) != 0 ||
      (cfg->arch == BERTD_ARCH_JOINT && bertd_config_read_joint_labels(dir, cfg, errstr, errstr_size) != 0) ||
      bertd_config_read_tokenizer(dir, cfg, errstr, errstr_size) != 0 ||
      bertd_config_read_sbert(dir, cfg, errstr, errstr_size) != 0 ||
      bertd_config_validate(cfg, errstr, errstr_size) != 0) {
    bertd_config_free(cfg);
    return -1;
  }
  return 0;
}
