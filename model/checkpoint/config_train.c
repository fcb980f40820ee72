/* config_train.c: re-targeting a loaded config at the head a training run builds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_checkpoint.h"
#include "checkpoint_config_internal.h"
#include "config_json.h"

static int copy_labels(int n, const char *const *names, const char *prefix, char ***out,
                       char *errstr, size_t errstr_size) {
  char **list = calloc((size_t)n, sizeof *list);
  if (!list) return bertd_set_error(errstr, errstr_size, "config: out of memory");
  for (int i = 0; i < n; i++) {
    char buf[32];
    snprintf(buf, sizeof buf, "%s%d", prefix, i);
    if (!(list[i] = strdup(names && names[i] ? names[i] : buf))) {
      bertd_config_free_strings(list, i);
      return bertd_set_error(errstr, errstr_size, "config: out of memory");
    }
  }
  *out = list;
  return 0;
}

int bertd_config_set_task(bertd_checkpoint_config *cfg, bertd_arch arch, bertd_problem_type problem_type,
                          int n, const char *const *names, char *errstr, size_t errstr_size) {
  if (arch == BERTD_ARCH_SEQ_CLS || arch == BERTD_ARCH_TOKEN_CLS) {
    if (n < 1) return bertd_set_error(errstr, errstr_size, "config: %s needs at least one label", bertd_arch_name(arch));
    char **labels;
    if (copy_labels(n, names, "LABEL_", &labels, errstr, errstr_size)) return -1;
    bertd_config_free_strings(cfg->id2label, cfg->num_labels);
    cfg->id2label = labels;
    cfg->num_labels = n;
  } else if (arch == BERTD_ARCH_JOINT) {
    return bertd_set_error(errstr, errstr_size, "config: use bertd_config_set_joint for JointBERT");
  }
  cfg->arch = arch;
  cfg->problem_type = problem_type;
  snprintf(cfg->architecture, sizeof cfg->architecture, "%s", bertd_arch_name(arch));
  return 0;
}

int bertd_config_set_joint(bertd_checkpoint_config *cfg, int num_intents, const char *const *intents,
                           int num_slots, const char *const *slots, char *errstr,
                           size_t errstr_size) {
  if (num_intents < 1 || num_slots < 1)
    return bertd_set_error(errstr, errstr_size, "config: JointBERT needs intents and slots");
  char **il, **sl;
  if (copy_labels(num_intents, intents, "INTENT_", &il, errstr, errstr_size)) return -1;
  if (copy_labels(num_slots, slots, "SLOT_", &sl, errstr, errstr_size)) {
    bertd_config_free_strings(il, num_intents);
    return -1;
  }
  bertd_config_free_strings(cfg->intent_labels, cfg->num_intents);
  bertd_config_free_strings(cfg->slot_labels, cfg->num_slots);
  cfg->intent_labels = il;
  cfg->num_intents = num_intents;
  cfg->slot_labels = sl;
  cfg->num_slots = num_slots;
  cfg->arch = BERTD_ARCH_JOINT;
  cfg->problem_type = BERTD_PROBLEM_SINGLE_LABEL;
  snprintf(cfg->architecture, sizeof cfg->architecture, "JointBERT");
  return 0;
}
