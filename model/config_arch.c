/* config_arch.c: which BERT head a checkpoint carries, from config.json's "architectures" or,
 * when that is missing, from the names of the head tensors in the checkpoint. */
#include <stdio.h>
#include <string.h>

#include "config_internal.h"
#include "config_json.h"
#include "safetensors.h"

static const struct {
  const char *name;
  bertd_arch arch;
} arch_names[] = {
    {"BertModel", BERTD_ARCH_BASE},
    {"BertForSequenceClassification", BERTD_ARCH_SEQ_CLS},
    {"BertForTokenClassification", BERTD_ARCH_TOKEN_CLS},
    {"BertForQuestionAnswering", BERTD_ARCH_QA},
    {"BertForMaskedLM", BERTD_ARCH_MLM},
    {"BertForNextSentencePrediction", BERTD_ARCH_NSP},
    {"BertForPreTraining", BERTD_ARCH_PRETRAINING},
    {"JointBERT", BERTD_ARCH_JOINT},
};

const char *bertd_arch_name(bertd_arch arch) {
  for (size_t i = 0; i < sizeof arch_names / sizeof arch_names[0]; i++)
    if (arch_names[i].arch == arch) return arch_names[i].name;
  return "?";
}

int bertd_config_arch_from_name(const char *name, bertd_arch *arch) {
  for (size_t i = 0; i < sizeof arch_names / sizeof arch_names[0]; i++) {
    if (strcmp(arch_names[i].name, name) == 0) {
      *arch = arch_names[i].arch;
      return 0;
    }
  }
  return -1;
}

typedef struct {
  int intent, qa, mlm, nsp, classifier, pooler;
} head_seen;

static void see(head_seen *h, const char *name) {
  if (strncmp(name, "intent_classifier.", 18) == 0) h->intent = 1;
  else if (strncmp(name, "qa_outputs.", 11) == 0) h->qa = 1;
  else if (strncmp(name, "cls.predictions.", 16) == 0) h->mlm = 1;
  else if (strncmp(name, "cls.seq_relationship.", 21) == 0) h->nsp = 1;
  else if (strncmp(name, "classifier.", 11) == 0) h->classifier = 1;
  else if (strstr(name, "pooler.dense.weight")) h->pooler = 1;
}

int bertd_config_arch_from_tensors(const char *dir, bertd_arch *arch, char *errstr, size_t errstr_size) {
  head_seen h = {0};
  json_t *index;
  if (bertd_cfgjson_load(dir, "model.safetensors.index.json", 0, &index, errstr, errstr_size) != 0) return -1;
  if (index) {
    const char *key;
    json_t *value;
    json_object_foreach(json_object_get(index, "weight_map"), key, value) see(&h, key);
    json_decref(index);
  } else {
    char path[4096];
    if (bertd_cfgjson_path(path, sizeof path, dir, "model.safetensors", errstr, errstr_size) != 0) return -1;
    bertd_safetensors st;
    if (bertd_st_open(path, &st, errstr, errstr_size) == 0) {
      for (int i = 0; i < st.num_tensors; i++) see(&h, st.tensors[i].name);
      bertd_st_close(&st);
    }
    /* an unreadable or absent model file is the weight loader's error to report */
  }
  /* classifier.* alone is ambiguous: BertForSequenceClassification keeps the pooler (it
   * classifies the pooled [CLS]), BertForTokenClassification is built without one. */
  *arch = h.intent ? BERTD_ARCH_JOINT
        : h.qa ? BERTD_ARCH_QA
        : h.mlm && h.nsp ? BERTD_ARCH_PRETRAINING
        : h.mlm ? BERTD_ARCH_MLM
        : h.nsp ? BERTD_ARCH_NSP
        : h.classifier ? (h.pooler ? BERTD_ARCH_SEQ_CLS : BERTD_ARCH_TOKEN_CLS)
        : BERTD_ARCH_BASE;
  return 0;
}
