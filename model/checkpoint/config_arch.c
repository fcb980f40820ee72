/* config_arch.c: which BERT head a checkpoint carries, from config.json's "architectures" or,
 * when that is missing, from the names of the head tensors in the checkpoint. */
#include <stdio.h>
#include <string.h>

#include "checkpoint_config_internal.h"
#include "checkpoint.h"

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

static void see(const char *name, void *arg) {
  head_seen *h = arg;
  if (strncmp(name, "intent_classifier.", 18) == 0) h->intent = 1;
  else if (strncmp(name, "qa_outputs.", 11) == 0) h->qa = 1;
  else if (strncmp(name, "cls.predictions.", 16) == 0) h->mlm = 1;
  else if (strncmp(name, "cls.seq_relationship.", 21) == 0) h->nsp = 1;
  else if (strncmp(name, "classifier.", 11) == 0) h->classifier = 1;
  else if (strstr(name, "pooler.dense.weight")) h->pooler = 1;
}

int bertd_config_arch_from_tensors(const char *dir, bertd_arch *arch, char *errstr, size_t errstr_size) {
  head_seen h = {0};
  bertd_checkpoint ck;
  char ignored[256];
  (void)errstr;
  (void)errstr_size;
  /* an unreadable or absent model file is the weight loader's error to report, not ours */
  if (bertd_checkpoint_open(dir, &ck, ignored, sizeof ignored) == 0) {
    bertd_checkpoint_names(&ck, see, &h);
    bertd_checkpoint_close(&ck);
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
