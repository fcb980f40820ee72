/* checkpoint_save.c: a trained model as a Hugging Face checkpoint directory (see bertd_trainer.h). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bertd_trainer.h"
#include "weights_internal.h"

static int fail(char *errstr, size_t errstr_size, const char *what, const char *path) {
  snprintf(errstr, errstr_size, "%s: %s: %s", path, what, strerror(errno));
  return -1;
}

static int join(char *buf, size_t size, const char *dir, const char *name, char *errstr,
                size_t errstr_size) {
  if (snprintf(buf, size, "%s/%s", dir, name) >= (int)size) {
    snprintf(errstr, errstr_size, "%s: path too long", dir);
    return -1;
  }
  return 0;
}

/* A float as its shortest 7-digit decimal: 0.1f is written 0.1, not 0.10000000149. */
static json_t *real7(float f) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.7g", f);
  return json_real(strtod(buf, NULL));
}

static const char *act_name(bertd_activation a) {
  switch (a) {
  case BERTD_ACT_GELU_NEW: return "gelu_new";
  case BERTD_ACT_RELU: return "relu";
  case BERTD_ACT_GELU: break;
  }
  return "gelu";
}

static json_t *config_json(const bertd_checkpoint_config *c) {
  json_t *o = json_object();
  const char *arch = c->arch == BERTD_ARCH_JOINT ? "JointBERT" : bertd_arch_name(c->arch);
  json_object_set_new(o, "architectures", json_pack("[s]", arch));
  json_object_set_new(o, "model_type", json_string("bert"));
  const struct { const char *k; int v; } ints[] = {
      {"vocab_size", c->vocab_size}, {"hidden_size", c->hidden_size},
      {"num_hidden_layers", c->num_hidden_layers}, {"num_attention_heads", c->num_attention_heads},
      {"intermediate_size", c->intermediate_size},
      {"max_position_embeddings", c->max_position_embeddings},
      {"type_vocab_size", c->type_vocab_size}};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
    json_object_set_new(o, ints[i].k, json_integer(ints[i].v));
  json_object_set_new(o, "pad_token_id", c->pad_token_id >= 0 ? json_integer(c->pad_token_id) : json_null());
  json_object_set_new(o, "hidden_act", json_string(act_name(c->hidden_act)));
  json_object_set_new(o, "hidden_dropout_prob", real7(c->hidden_dropout_prob));
  json_object_set_new(o, "attention_probs_dropout_prob", real7(c->attention_probs_dropout_prob));
  json_object_set_new(o, "classifier_dropout", c->classifier_dropout >= 0 ? real7(c->classifier_dropout) : json_null());
  json_object_set_new(o, "initializer_range", real7(c->initializer_range));
  json_object_set_new(o, "layer_norm_eps", real7(c->layer_norm_eps));
  json_object_set_new(o, "position_embedding_type", json_string("absolute"));
  json_object_set_new(o, "torch_dtype", json_string("float32"));
  if (c->arch == BERTD_ARCH_SEQ_CLS || c->arch == BERTD_ARCH_TOKEN_CLS) {
    json_t *id2label = json_object(), *label2id = json_object();
    for (int i = 0; i < c->num_labels; i++) {
      char key[16];
      snprintf(key, sizeof key, "%d", i);
      json_object_set_new(id2label, key, json_string(c->id2label[i]));
      json_object_set_new(label2id, c->id2label[i], json_integer(i));
    }
    json_object_set_new(o, "id2label", id2label);
    json_object_set_new(o, "label2id", label2id);
  }
  if (c->arch == BERTD_ARCH_SEQ_CLS) {
    const char *pt = c->problem_type == BERTD_PROBLEM_MULTI_LABEL ? "multi_label_classification"
                   : c->problem_type == BERTD_PROBLEM_REGRESSION ? "regression"
                                                                 : "single_label_classification";
    json_object_set_new(o, "problem_type", json_string(pt));
  }
  return o;
}

static int write_lines(const char *dir, const char *name, char **lines, int n, char *errstr,
                       size_t errstr_size) {
  char path[4096];
  if (join(path, sizeof path, dir, name, errstr, errstr_size)) return -1;
  FILE *f = fopen(path, "w");
  if (!f) return fail(errstr, errstr_size, "open", path);
  for (int i = 0; i < n; i++) fprintf(f, "%s\n", lines[i]);
  if (fclose(f) != 0) return fail(errstr, errstr_size, "write", path);
  return 0;
}

/* Copies src_dir/name to dir/name when it exists. */
static int copy_optional(const char *src_dir, const char *dir, const char *name, char *errstr,
                         size_t errstr_size) {
  char from[4096], to[4096];
  if (join(from, sizeof from, src_dir, name, errstr, errstr_size) ||
      join(to, sizeof to, dir, name, errstr, errstr_size))
    return -1;
  FILE *in = fopen(from, "rb");
  if (!in) return errno == ENOENT ? 0 : fail(errstr, errstr_size, "open", from);
  FILE *out = fopen(to, "wb");
  if (!out) {
    fclose(in);
    return fail(errstr, errstr_size, "open", to);
  }
  char buf[65536];
  size_t n;
  int ok = 1;
  while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
  ok = ok && !ferror(in);
  fclose(in);
  if (fclose(out) != 0 || !ok) return fail(errstr, errstr_size, "copy", to);
  return 0;
}

int bertd_checkpoint_save_config(const char *dir, const bertd_checkpoint_config *cfg,
                                 const char *tokenizer_dir, char *errstr, size_t errstr_size) {
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) return fail(errstr, errstr_size, "mkdir", dir);
  char path[4096];
  if (join(path, sizeof path, dir, "config.json", errstr, errstr_size)) return -1;
  json_t *c = config_json(cfg);
  int rc = json_dump_file(c, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(c);
  if (rc != 0) {
    snprintf(errstr, errstr_size, "%s: cannot write", path);
    return -1;
  }
  if (cfg->arch == BERTD_ARCH_JOINT &&
      (write_lines(dir, "intent_label.txt", cfg->intent_labels, cfg->num_intents, errstr, errstr_size) ||
       write_lines(dir, "slot_label.txt", cfg->slot_labels, cfg->num_slots, errstr, errstr_size)))
    return -1;
  if (tokenizer_dir) {
    static const char *const files[] = {"vocab.txt", "tokenizer_config.json",
                                        "special_tokens_map.json", "tokenizer.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
      if (copy_optional(tokenizer_dir, dir, files[i], errstr, errstr_size)) return -1;
  }
  return 0;
}

int bertd_checkpoint_save(const char *dir, const bertd_checkpoint_config *cfg, const bertd_weights *w,
                          const char *tokenizer_dir, char *errstr, size_t errstr_size) {
  char path[4096];
  if (bertd_checkpoint_save_config(dir, cfg, tokenizer_dir, errstr, errstr_size) ||
      join(path, sizeof path, dir, "model.safetensors", errstr, errstr_size))
    return -1;
  return bertd_weights_save(w, path, errstr, errstr_size);
}
