/* config_joint.c: JointBERT (monologg/JointBERT) keeps its labels beside the checkpoint, one per
 * line: intent_label.txt ("UNK", "atis_flight", ...) and slot_label.txt ("PAD", "UNK", "O",
 * "B-fromloc.city_name", ...). Line i is label id i, exactly as JointBERT's get_*_labels read
 * them (each line stripped of surrounding whitespace). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint_config_internal.h"
#include "config_json.h"

static int read_label_file(const char *dir, const char *name, char ***out, int *count, char *errstr,
                           size_t errstr_size) {
  char path[4096];
  if (bertd_cfgjson_path(path, sizeof path, dir, name, errstr, errstr_size) != 0) return -1;
  FILE *f = fopen(path, "r");
  if (!f) return bertd_set_error(errstr, errstr_size, "%s: %s", name, strerror(errno));
  char **labels = NULL;
  int n = 0, cap = 0, rc = -1;
  char *line = NULL;
  size_t line_cap = 0;
  ssize_t len;
  while ((len = getline(&line, &line_cap, f)) >= 0) {
    char *s = line, *e = line + len;
    while (s < e && isspace((unsigned char)*s)) s++;
    while (e > s && isspace((unsigned char)e[-1])) e--;
    if (s == e) {
      bertd_set_error(errstr, errstr_size, "%s: line %d: empty label", name, n + 1);
      goto done;
    }
    if (n == cap) {
      int ncap = cap ? 2 * cap : 64;
      char **grown = realloc(labels, (size_t)ncap * sizeof *grown);
      if (!grown) goto oom;
      labels = grown;
      cap = ncap;
    }
    if (!(labels[n] = strndup(s, (size_t)(e - s)))) goto oom;
    n++;
  }
  if (n == 0) {
    bertd_set_error(errstr, errstr_size, "%s: no labels", name);
    goto done;
  }
  *out = labels;
  *count = n;
  labels = NULL;
  rc = 0;
  goto done;
oom:
  bertd_set_error(errstr, errstr_size, "%s: out of memory", name);
done:
  free(line);
  fclose(f);
  bertd_config_free_strings(labels, n);
  return rc;
}

int bertd_config_read_joint_labels(const char *dir, bertd_checkpoint_config *cfg, char *errstr, size_t errstr_size) {
  if (read_label_file(dir, "intent_label.txt", &cfg->intent_labels, &cfg->num_intents, errstr,
                      errstr_size) != 0)
    return -1;
  return read_label_file(dir, "slot_label.txt", &cfg->slot_labels, &cfg->num_slots, errstr, errstr_size);
}
