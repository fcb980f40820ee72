/* checkpoint.h: the safetensors files of a checkpoint directory, as one name -> tensor lookup.
 * Either DIR/model.safetensors, or the shards DIR/model.safetensors.index.json names:
 *   {"metadata": {"total_size": N}, "weight_map": {"bert.embeddings.word_embeddings.weight":
 *    "model-00001-of-00002.safetensors", ...}}
 * Every file stays mmapped until bertd_checkpoint_close. Internal to model/. */
#ifndef BERTD_CHECKPOINT_H
#define BERTD_CHECKPOINT_H

#include <stddef.h>

#include "safetensors.h"

typedef struct bertd_checkpoint {
  bertd_safetensors *files;
  int num_files;
  char label[64];   /* "model.safetensors" or "model.safetensors.index.json", for errors */
  void *weight_map; /* json_t * of the index, NULL for a single file */
} bertd_checkpoint;

/* A tensor found in a checkpoint: which file, which entry. */
typedef struct bertd_checkpoint_tensor {
  const bertd_safetensors *file;
  const bertd_st_tensor *tensor;
} bertd_checkpoint_tensor;

int bertd_checkpoint_open(const char *dir, bertd_checkpoint *ck, char *errstr, size_t errstr_size);
void bertd_checkpoint_close(bertd_checkpoint *ck);

/* Looks name up exactly. Returns 1 found, 0 absent, -1 error (an index entry whose shard does not
 * hold the tensor). */
int bertd_checkpoint_find(const bertd_checkpoint *ck, const char *name, bertd_checkpoint_tensor *out,
                          char *errstr, size_t errstr_size);

/* Calls fn for every tensor name the checkpoint holds (in index order for shards). */
void bertd_checkpoint_names(const bertd_checkpoint *ck, void (*fn)(const char *name, void *arg), void *arg);

#endif
