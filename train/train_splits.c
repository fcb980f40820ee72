/* train_splits.c: reading the splits of a training or evaluation run. */
#include "bertd_train.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bertd_eval.h"

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

static int share_lists(bertd_dataset *dst, const bertd_dataset *src) {
  if (bertd_label_list_copy(&dst->labels, &src->labels) ||
      bertd_label_list_copy(&dst->tags, &src->tags))
    return -1;
  dst->labels.frozen = dst->tags.frozen = 1;
  return 0;
}

static int read_file(const bertd_data_args *a, int csv, const char *path, bertd_dataset *ds,
                     bertd_ft_task task, char *errstr, size_t errstr_size) {
  if (csv) {
    bertd_csv_opts o = {.text_columns = a->text_columns,
                        .n_text_columns = a->n_text_columns,
                        .text_pair_column = a->pair_column,
                        .label_column = a->label_column};
    if (!o.n_text_columns) {
      static const char *const text[] = {"text"};
      o.text_columns = text, o.n_text_columns = 1;
    }
    if (!o.label_column) o.label_column = "label";
    return bertd_dataset_read_csv(ds, path, &o, errstr, errstr_size);
  }
  bertd_jsonl_opts o = {.text_field = a->n_text_columns ? a->text_columns[0] : "text",
                        .text_pair_field = a->pair_column,
                        .label_field = task == BERTD_FT_TAG ? NULL
                                       : a->label_column ? a->label_column : "label",
                        .tags_field = task == BERTD_FT_CLASSIFY ? NULL
                                      : a->tags_column ? a->tags_column : "tags"};
  return bertd_dataset_read_jsonl(ds, path, &o, errstr, errstr_size);
}

int bertd_splits_load(const bertd_data_args *a, bertd_ft_task task, const char *label_model,
                      bertd_splits *sp, char *errstr, size_t errstr_size) {
  memset(sp, 0, sizeof *sp);
  const char *fmt = a->format ? a->format
                    : is_dir(a->data) ? "jointbert"
                    : ends_with(a->data, ".csv") ? "csv"
                                                 : "jsonl";
  if (label_model &&
      bertd_eval_preload_labels(label_model, task, &sp->train, errstr, errstr_size))
    goto fail;
  if (!strcmp(fmt, "jointbert")) {
    char path[1024];
    const char *dev = a->eval_split ? a->eval_split : "dev";
    if (bertd_dataset_read_jointbert(&sp->train, a->data, "train", errstr, errstr_size))
      goto fail;
    snprintf(path, sizeof path, "%s/%s", a->data, dev);
    if (is_dir(path)) {
      if (share_lists(&sp->dev, &sp->train) ||
          bertd_dataset_read_jointbert(&sp->dev, a->data, dev, errstr, errstr_size))
        goto fail;
      sp->has_dev = 1;
    }
    snprintf(path, sizeof path, "%s/test", a->data);
    if (is_dir(path)) {
      if (share_lists(&sp->test, &sp->train) ||
          bertd_dataset_read_jointbert(&sp->test, a->data, "test", errstr, errstr_size))
        goto fail;
      sp->has_test = 1;
    }
    return 0;
  }
  int csv = !strcmp(fmt, "csv");
  if (!csv && strcmp(fmt, "jsonl")) {
    snprintf(errstr, errstr_size, "--format: unknown format '%s' (jointbert, jsonl, csv)", fmt);
    goto fail;
  }
  /* JointBERT's slot loss ignores tag 0: make it "PAD" as JointBERT's label files do */
  if (!label_model && task == BERTD_FT_JOINT &&
      (bertd_label_list_add(&sp->train.tags, "PAD") != 0 ||
       bertd_label_list_add(&sp->train.labels, "UNK") != 0 ||
       bertd_label_list_add(&sp->train.tags, "UNK") != 1)) {
    snprintf(errstr, errstr_size, "out of memory");
    goto fail;
  }
  if (read_file(a, csv, a->data, &sp->train, task, errstr, errstr_size)) goto fail;
  /* classes in name order, as run_glue sorts them (AG News "1".."4" -> ids 0..3) */
  if (!label_model && task == BERTD_FT_CLASSIFY &&
      bertd_dataset_sort_labels(&sp->train, 'l', errstr, errstr_size))
    goto fail;
  sp->train.labels.frozen = sp->train.tags.frozen = 1;
  if (csv) {
    if (a->heldout > 0) {
      if (bertd_dataset_split(&sp->train, &sp->test, (size_t)a->heldout, BERTD_SPLIT_SHUFFLE,
                              a->seed, errstr, errstr_size))
        goto fail;
      sp->has_test = 1;
    }
    if (a->dev_heldout > 0) {
      if (bertd_dataset_split(&sp->train, &sp->dev, (size_t)a->dev_heldout, BERTD_SPLIT_SHUFFLE,
                              a->seed + 1, errstr, errstr_size))
        goto fail;
      sp->has_dev = 1;
    }
    return 0;
  }
  if (a->dev_path) {
    if (share_lists(&sp->dev, &sp->train) ||
        read_file(a, 0, a->dev_path, &sp->dev, task, errstr, errstr_size))
      goto fail;
    sp->has_dev = 1;
  }
  if (a->test_path) {
    if (share_lists(&sp->test, &sp->train) ||
        read_file(a, 0, a->test_path, &sp->test, task, errstr, errstr_size))
      goto fail;
    sp->has_test = 1;
  }
  return 0;
fail:
  bertd_splits_free(sp);
  return -1;
}

void bertd_splits_free(bertd_splits *sp) {
  bertd_dataset_free(&sp->train);
  bertd_dataset_free(&sp->dev);
  bertd_dataset_free(&sp->test);
  memset(sp, 0, sizeof *sp);
}
