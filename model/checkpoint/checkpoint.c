/* checkpoint.c: see checkpoint.h. */
#include "checkpoint.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_json.h"

#define SINGLE "model.safetensors"
#define INDEX "model.safetensors.index.json"

static int exists(const char *dir, const char *name) {
  char path[4096];
  struct stat sb;
  return snprintf(path, sizeof path, "%s/%s", dir, name) < (int)sizeof path && stat(path, &sb) == 0;
}

static int open_file(const char *dir, const char *name, bertd_safetensors *st, char *errstr,
                     size_t errstr_size) {
  char path[4096];
  if (bertd_cfgjson_path(path, sizeof path, dir, name, errstr, errstr_size) != 0) return -1;
  return bertd_st_open(path, st, errstr, errstr_size);
}

/* The index's shards, each opened once (a shard holds many tensors). */
static int open_shards(const char *dir, bertd_checkpoint *ck, char *errstr, size_t errstr_size) {
  json_t *index;
  if (bertd_cfgjson_load(dir, INDEX, 1, &index, errstr, errstr_size) != 0) return -1;
  ck->weight_map = index;
  json_t *map = json_object_get(index, "weight_map");
  if (!json_is_object(map) || json_object_size(map) == 0)
    return bertd_set_error(errstr, errstr_size, INDEX ": weight_map: expected a non-empty object");
  ck->files = calloc(json_object_size(map), sizeof *ck->files);
  if (!ck->files) return bertd_set_error(errstr, errstr_size, INDEX ": out of memory");
  const char *key;
  json_t *value;
  json_object_foreach(map, key, value) {
    const char *shard = json_string_value(value);
    if (!shard || !shard[0] || strchr(shard, '/') || strcmp(shard, "..") == 0)
      return bertd_set_error(errstr, errstr_size,
                                 INDEX ": weight_map: '%s': expected a file name in the same directory", key);
    int seen = 0;
    for (int i = 0; i < ck->num_files && !seen; i++) seen = strcmp(ck->files[i].label, shard) == 0;
    if (seen) continue;
    if (strlen(shard) >= sizeof ck->files[0].label)
      return bertd_set_error(errstr, errstr_size, INDEX ": shard name '%s' too long", shard);
    if (open_file(dir, shard, &ck->files[ck->num_files], errstr, errstr_size) != 0) return -1;
    ck->num_files++;
  }
  return 0;
}

int bertd_checkpoint_open(const char *dir, bertd_checkpoint *ck, char *errstr, size_t errstr_size) {
  memset(ck, 0, sizeof *ck);
  int rc;
  if (exists(dir, SINGLE)) {
    snprintf(ck->label, sizeof ck->label, SINGLE);
    ck->files = calloc(1, sizeof *ck->files);
    if (!ck->files) return bertd_set_error(errstr, errstr_size, SINGLE ": out of memory");
    rc = open_file(dir, SINGLE, &ck->files[0], errstr, errstr_size);
    if (rc == 0) ck->num_files = 1;
  } else if (exists(dir, INDEX)) {
    snprintf(ck->label, sizeof ck->label, INDEX);
    rc = open_shards(dir, ck, errstr, errstr_size);
  } else {
    rc = bertd_set_error(errstr, errstr_size, "no " SINGLE " or " INDEX " in the checkpoint directory%s",
                             exists(dir, "pytorch_model.bin")
                                 ? " (pytorch_model.bin is not read: convert it with safetensors)"
                                 : "");
  }
  if (rc != 0) bertd_checkpoint_close(ck);
  return rc;
}

void bertd_checkpoint_close(bertd_checkpoint *ck) {
  for (int i = 0; i < ck->num_files; i++) bertd_st_close(&ck->files[i]);
  free(ck->files);
  json_decref(ck->weight_map);
  memset(ck, 0, sizeof *ck);
}

int bertd_checkpoint_find(const bertd_checkpoint *ck, const char *name, bertd_checkpoint_tensor *out,
                          char *errstr, size_t errstr_size) {
  if (!ck->weight_map) {
    out->file = &ck->files[0];
    out->tensor = bertd_st_find(out->file, name);
    return out->tensor != NULL;
  }
  const char *shard = json_string_value(json_object_get(json_object_get(ck->weight_map, "weight_map"), name));
  if (!shard) return 0;
  for (int i = 0; i < ck->num_files; i++) {
    if (strcmp(ck->files[i].label, shard) != 0) continue;
    out->file = &ck->files[i];
    out->tensor = bertd_st_find(out->file, name);
    if (out->tensor) return 1;
    break;
  }
  return bertd_set_error(errstr, errstr_size, "%s: tensor '%s': listed in " INDEX " but not in the file",
                             shard, name);
}

void bertd_checkpoint_names(const bertd_checkpoint *ck, void (*fn)(const char *name, void *arg), void *arg) {
  if (ck->weight_map) {
    const char *key;
    json_t *value;
    json_object_foreach(json_object_get(ck->weight_map, "weight_map"), key, value) fn(key, arg);
    return;
  }
  for (int i = 0; i < ck->num_files; i++)
    for (int j = 0; j < ck->files[i].num_tensors; j++) fn(ck->files[i].tensors[j].name, arg);
}
