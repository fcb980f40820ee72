/* checkpoint_config_internal.h: the pieces bertd_config_load puts together, one file each.
 * Internal to model/. Each reads its optional files from dir into cfg; 0 ok, -1 with errstr. */
#ifndef BERTD_CHECKPOINT_CONFIG_INTERNAL_H
#define BERTD_CHECKPOINT_CONFIG_INTERNAL_H

#include <stddef.h>
#include "bertd_checkpoint.h"

/* config_arch.c: "architectures"[0] -> arch; -1 for a name bertd does not know. */
int bertd_config_arch_from_name(const char *name, bertd_arch *arch);
/* config_arch.c: guesses the architecture from the head tensors in DIR/model.safetensors (or the
 * shard index): for checkpoints whose config.json has no "architectures". No model file: BASE. */
int bertd_config_arch_from_tensors(const char *dir, bertd_arch *arch, char *errstr, size_t errstr_size);

/* config_tokenizer.c: tokenizer_config.json + special_tokens_map.json. */
int bertd_config_read_tokenizer(const char *dir, bertd_checkpoint_config *cfg, char *errstr, size_t errstr_size);

/* config_sbert.c: modules.json, the pooling module's config.json, sentence_bert_config.json. */
int bertd_config_read_sbert(const char *dir, bertd_checkpoint_config *cfg, char *errstr, size_t errstr_size);

/* config_joint.c: intent_label.txt and slot_label.txt for JointBERT. */
int bertd_config_read_joint_labels(const char *dir, bertd_checkpoint_config *cfg, char *errstr, size_t errstr_size);

/* config.c: frees a NULL-terminated-or-counted string list. */
void bertd_config_free_strings(char **list, int n);

#endif
