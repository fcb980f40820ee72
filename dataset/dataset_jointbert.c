/* dataset_jointbert.c: the JointBERT data layout (monologg/JointBERT, used for ATIS and SNIPS):
 * DIR/intent_label.txt and DIR/slot_label.txt list the labels (index = id, with "UNK" and, for
 * slots, "PAD" first), DIR/SPLIT/seq.in has one utterance a line, seq.out its slot tags (one per
 * whitespace-separated word) and label its intent. */
#include "dataset_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_WORDS = 4096 };

typedef struct jb_files {
  FILE *in, *out, *label;
  char path_in[1024], path_out[1024], path_label[1024];
} jb_files;

static int open_split(jb_files *f, const char *dir, const char *split, char *errstr,
                      size_t errstr_size) {
  snprintf(f->path_in, sizeof f->path_in, "%s/%s/seq.in", dir, split);
  snprintf(f->path_out, sizeof f->path_out, "%s/%s/seq.out", dir, split);
  snprintf(f->path_label, sizeof f->path_label, "%s/%s/label", dir, split);
  if (!(f->in = fopen(f->path_in, "r"))) return DS_ERR("%s: %s", f->path_in, strerror(errno));
  if (!(f->out = fopen(f->path_out, "r"))) return DS_ERR("%s: %s", f->path_out, strerror(errno));
  if (!(f->label = fopen(f->path_label, "r")))
    return DS_ERR("%s: %s", f->path_label, strerror(errno));
  return 0;
}

static void close_split(jb_files *f) {
  if (f->in) fclose(f->in);
  if (f->out) fclose(f->out);
  if (f->label) fclose(f->label);
}

int bertd_dataset_read_jointbert(bertd_dataset *ds, const char *dir, const char *split,
                                 char *errstr, size_t errstr_size) {
  char path[1024];
  if (ds->labels.n == 0) {
    snprintf(path, sizeof path, "%s/intent_label.txt", dir);
    if (bertd_label_list_read(&ds->labels, path, errstr, errstr_size)) return -1;
  }
  if (ds->tags.n == 0) {
    snprintf(path, sizeof path, "%s/slot_label.txt", dir);
    if (bertd_label_list_read(&ds->tags, path, errstr, errstr_size)) return -1;
  }
  jb_files f = {0};
  char **words = malloc(sizeof(char *) * MAX_WORDS), **tags = malloc(sizeof(char *) * MAX_WORDS);
  char *in = NULL, *out = NULL, *label = NULL;
  size_t cin = 0, cout = 0, clabel = 0, line = 0;
  int rc = words && tags ? open_split(&f, dir, split, errstr, errstr_size)
                         : DS_ERR("%s/%s: out of memory", dir, split);
  char msg[256];
  while (rc == 0) {
    long lin = bertd_read_line(f.in, &in, &cin);
    long lout = bertd_read_line(f.out, &out, &cout);
    long llab = bertd_read_line(f.label, &label, &clabel);
    line++;
    if (lin < 0 && lout < 0 && llab < 0) break;
    if (lin < 0 || lout < 0 || llab < 0) {
      const char *shorter = lin < 0 ? f.path_in : lout < 0 ? f.path_out : f.path_label;
      rc = DS_ERR("%s:%zu: file ends before the others of its split", shorter, line);
      break;
    }
    int nw = bertd_split_words(in, words, MAX_WORDS), nt = bertd_split_words(out, tags, MAX_WORDS);
    if (nw > MAX_WORDS) {
      rc = DS_ERR("%s:%zu: %d words, more than %d", f.path_in, line, nw, MAX_WORDS);
      break;
    }
    if (nt != nw) {
      rc = DS_ERR("%s:%zu: %d labels for %d words", f.path_out, line, nt, nw);
      break;
    }
    char *intent[2];
    if (bertd_split_words(label, intent, 2) != 1) {
      rc = DS_ERR("%s:%zu: expected one intent label", f.path_label, line);
      break;
    }
    bertd_example *e = bertd_dataset_push(ds);
    if (!e) {
      rc = DS_ERR("%s:%zu: out of memory", f.path_in, line);
      break;
    }
    e->line = line;
    e->n_words = nw;
    e->n_labels = 1;
    e->text = bertd_join_words(words, nw);
    e->labels = malloc(sizeof(int32_t));
    e->tags = malloc(sizeof(int32_t) * (size_t)(nw ? nw : 1));
    if (!e->text || !e->labels || !e->tags) {
      rc = DS_ERR("%s:%zu: out of memory", f.path_in, line);
      bertd_dataset_pop(ds);
      break;
    }
    int id = bertd_label_list_id(&ds->labels, intent[0], &ds->unknown_labels, msg, sizeof msg);
    if (id < 0) {
      rc = DS_ERR("%s:%zu: %s", f.path_label, line, msg);
      bertd_dataset_pop(ds);
      break;
    }
    e->labels[0] = id;
    for (int k = 0; k < nw && rc == 0; k++) {
      id = bertd_label_list_id(&ds->tags, tags[k], &ds->unknown_tags, msg, sizeof msg);
      if (id < 0) rc = DS_ERR("%s:%zu: word %d: %s", f.path_out, line, k + 1, msg);
      else e->tags[k] = id;
    }
    if (rc) bertd_dataset_pop(ds);
  }
  close_split(&f);
  free(in), free(out), free(label), free(words), free(tags);
  return rc;
}
