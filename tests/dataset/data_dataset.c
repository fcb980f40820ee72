/* data_dataset.c: the dataset readers on the real ATIS, SNIPS, AG News and loghub files (read
 * where tests/data_gate.sh resolves them, never copied): counts, label lists, first and last
 * examples, and AG News' held-out splits.
 * data sets: atis snips agnews loghub */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_dataset.h"

static char err[512];

static void expect_ids(const int32_t *got, int n, const int32_t *want, int n_want) {
  cr_assert_eq(n, n_want, "%d ids, want %d", n, n_want);
  for (int i = 0; i < n; i++) cr_expect_eq(got[i], want[i], "id %d: %d, want %d", i, got[i], want[i]);
}

/* $BERTD_DATA_<SET>/rel, as tests/data_gate.sh passes the resolved sets. */
static void data_path(char *out, size_t size, const char *set, const char *rel) {
  char var[64];
  snprintf(var, sizeof var, "BERTD_DATA_%s", set);
  const char *dir = getenv(var);
  cr_assert(dir && *dir, "%s is not set: run through tests/data_gate.sh", var);
  snprintf(out, size, "%s%s%s", dir, *rel ? "/" : "", rel);
}

/* ---- JointBERT ---- */

static void read_jointbert(bertd_dataset *ds, const char *name, const char *split) {
  char dir[512];
  data_path(dir, sizeof dir, strcmp(name, "atis") == 0 ? "ATIS" : "SNIPS", "");
  cr_assert_eq(bertd_dataset_read_jointbert(ds, dir, split, err, sizeof err), 0, "%s", err);
}

Test(data_dataset, atis_splits) {
  static const struct { const char *split; size_t n, unk_labels, unk_tags; } want[] = {
      {"train", 4478, 0, 0}, {"dev", 500, 1, 1}, {"test", 893, 5, 6}};
  for (int s = 0; s < 3; s++) {
    bertd_dataset ds = {0};
    read_jointbert(&ds, "atis", want[s].split);
    cr_expect_eq(ds.n, want[s].n, "atis %s: %zu examples", want[s].split, ds.n);
    cr_expect_eq(ds.labels.n, 22);
    cr_expect_eq(ds.tags.n, 122);
    cr_expect_eq(ds.unknown_labels, want[s].unk_labels, "%s: %zu unknown intents", want[s].split,
                 ds.unknown_labels);
    cr_expect_eq(ds.unknown_tags, want[s].unk_tags, "%s: %zu unknown tags", want[s].split,
                 ds.unknown_tags);
    cr_expect_str_eq(ds.labels.names[0], "UNK");
    cr_expect_str_eq(ds.tags.names[0], "PAD");
    if (s == 0) {
      const bertd_example *e = &ds.examples[0];
      cr_expect_str_eq(e->text, "i want to fly from baltimore to dallas round trip");
      cr_expect_null(e->text_pair);
      cr_expect_eq(e->n_labels, 1);
      cr_expect_str_eq(ds.labels.names[e->labels[0]], "atis_flight");
      cr_expect_eq(e->labels[0], 12);
      expect_ids(e->tags, e->n_words, (int32_t[]){2, 2, 2, 2, 2, 73, 2, 114, 98, 99}, 10);
      cr_expect_str_eq(ds.tags.names[e->tags[5]], "B-fromloc.city_name");
      cr_expect_eq(e->line, 1);
      e = &ds.examples[ds.n - 1];
      cr_expect_str_eq(e->text, "is there a delta flight from denver to san francisco");
      expect_ids(e->tags, e->n_words, (int32_t[]){2, 2, 2, 5, 2, 2, 73, 2, 114, 115}, 10);
      cr_expect_eq(e->line, 4478);
    }
    if (s == 2) {
      const bertd_example *e = &ds.examples[0];
      cr_expect_str_eq(e->text, "i would like to find a flight from charlotte to las vegas that "
                                "makes a stop in st. louis");
      expect_ids(e->tags, e->n_words,
                 (int32_t[]){2, 2, 2, 2, 2, 2, 2, 2, 73, 2, 114, 115, 2, 2, 2, 2, 2, 103, 104}, 19);
      e = &ds.examples[ds.n - 1];
      cr_expect_str_eq(e->text, "find me a flight that flies from memphis to tacoma");
      cr_expect_eq(e->labels[0], 12);
    }
    bertd_dataset_free(&ds);
  }
}

Test(data_dataset, snips_splits) {
  static const struct { const char *split; size_t n; } want[] = {
      {"train", 13084}, {"dev", 700}, {"test", 700}};
  for (int s = 0; s < 3; s++) {
    bertd_dataset ds = {0};
    read_jointbert(&ds, "snips", want[s].split);
    cr_expect_eq(ds.n, want[s].n, "snips %s: %zu examples", want[s].split, ds.n);
    cr_expect_eq(ds.labels.n, 8);
    cr_expect_eq(ds.tags.n, 74);
    cr_expect_eq(ds.unknown_labels + ds.unknown_tags, 0);
    if (s == 0) {
      const bertd_example *e = &ds.examples[0];
      cr_expect_str_eq(e->text, "listen to westbam alumb allergic on google music");
      cr_expect_str_eq(ds.labels.names[e->labels[0]], "PlayMusic");
      expect_ids(e->tags, e->n_words, (int32_t[]){2, 2, 5, 2, 3, 2, 61, 62}, 8);
      e = &ds.examples[ds.n - 1];
      cr_expect_str_eq(e->text, "rate richard carvel 4 out of 6");
      cr_expect_str_eq(ds.labels.names[e->labels[0]], "RateBook");
      expect_ids(e->tags, e->n_words, (int32_t[]){2, 36, 37, 54, 2, 2, 7}, 7);
    }
    if (s == 2) {
      /* SNIPS lines end in spaces: the text keeps single spaces between words only */
      const bertd_example *e = &ds.examples[ds.n - 1];
      cr_expect_str_eq(e->text, "rate this album two out of 6");
      expect_ids(e->tags, e->n_words, (int32_t[]){2, 40, 42, 54, 2, 2, 7}, 7);
    }
    bertd_dataset_free(&ds);
  }
}

/* ---- CSV ---- */

static bertd_csv_opts agnews_opts(void) {
  static const char *cols[] = {"title", "description"};
  return (bertd_csv_opts){.text_columns = cols, .n_text_columns = 2, .separator = " ",
                          .label_column = "label"};
}

Test(data_dataset, agnews) {
  char path[512];
  data_path(path, sizeof path, "AGNEWS", "test.csv");
  bertd_dataset ds = {0};
  bertd_csv_opts o = agnews_opts();
  cr_assert_eq(bertd_dataset_read_csv(&ds, path, &o, err, sizeof err), 0, "%s", err);
  cr_expect_eq(ds.n, 7600);
  cr_expect_eq(ds.labels.n, 4);
  cr_expect_str_eq(ds.examples[0].text,
                   "Fears for T N pension after talks Unions representing workers at Turner   "
                   "Newall say they are 'disappointed' after talks with stricken parent firm "
                   "Federal Mogul.");
  cr_expect_str_eq(ds.labels.names[ds.examples[0].labels[0]], "3");
  cr_expect_eq(ds.examples[0].line, 2);
  /* quoted description with commas and literal backslashes, kept */
  cr_expect_str_eq(ds.examples[1].text,
                   "The Race is On: Second Private Team Sets Launch Date for Human Spaceflight "
                   "(SPACE.com) SPACE.com - TORONTO, Canada -- A second\\team of rocketeers "
                   "competing for the  #36;10 million Ansari X Prize, a contest for\\privately "
                   "funded suborbital space flight, has officially announced the first\\launch "
                   "date for its manned rocket.");
  cr_expect_str_eq(ds.labels.names[ds.examples[1].labels[0]], "4");
  /* doubled quotes inside a quoted field */
  cr_expect(strstr(ds.examples[5].text,
                   "recently launched a \"Music Manifesto\" campaign, with the ostensible") != NULL,
            "%s", ds.examples[5].text);
  cr_expect_str_eq(ds.examples[7599].text,
                   "EBay gets into rentals EBay plans to buy the apartment and home rental "
                   "service Rent.com for \\$415 million, adding to its already exhaustive breadth "
                   "of offerings.");
  cr_expect_eq(ds.examples[7599].line, 7601);
  /* sorted, "1".."4" are ids 0..3 */
  cr_assert_eq(bertd_dataset_sort_labels(&ds, 'l', err, sizeof err), 0);
  cr_expect_str_eq(ds.labels.names[0], "1");
  cr_expect_eq(ds.examples[0].labels[0], 2);
  cr_expect_eq(ds.examples[7599].labels[0], 2);
  /* a held-out 1,600: the last rows, or a seeded shuffle that is the same every time */
  bertd_dataset held = {0};
  cr_assert_eq(bertd_dataset_split(&ds, &held, 1600, BERTD_SPLIT_LAST, 0, err, sizeof err), 0);
  cr_expect_eq(ds.n, 6000);
  cr_expect_eq(held.n, 1600);
  cr_expect_eq(held.examples[0].line, 6002);
  cr_expect_eq(held.labels.n, 4);
  bertd_dataset_free(&ds);
  bertd_dataset_free(&held);
  size_t lines1[1600], lines2[1600];
  for (int run = 0; run < 2; run++) {
    cr_assert_eq(bertd_dataset_read_csv(&ds, path, &o, err, sizeof err), 0, "%s", err);
    cr_assert_eq(bertd_dataset_split(&ds, &held, 1600, BERTD_SPLIT_SHUFFLE, 42, err, sizeof err), 0);
    cr_assert_eq(held.n, 1600);
    cr_assert_eq(ds.n, 6000);
    for (size_t i = 0; i < 1600; i++) (run ? lines2 : lines1)[i] = held.examples[i].line;
    for (size_t i = 1; i < held.n; i++) cr_assert_lt(held.examples[i - 1].line, held.examples[i].line);
    bertd_dataset_free(&ds);
    bertd_dataset_free(&held);
  }
  cr_expect(memcmp(lines1, lines2, sizeof lines1) == 0, "same seed, different split");
  cr_expect(lines1[1599] - lines1[0] > 7000, "a shuffle spreads over the file");
}

Test(data_dataset, loghub_csv) {
  char path[512];
  data_path(path, sizeof path, "LOGHUB", "HDFS_2k.log_structured.csv");
  static const char *cols[] = {"Content"};
  bertd_csv_opts o = {.text_columns = cols, .n_text_columns = 1, .label_column = "EventId"};
  bertd_dataset ds = {0};
  cr_assert_eq(bertd_dataset_read_csv(&ds, path, &o, err, sizeof err), 0, "%s", err);
  cr_expect_eq(ds.n, 2000);
  cr_expect_gt(ds.labels.n, 5);
  o.label_column = "Severity";
  bertd_dataset_free(&ds);
  cr_expect_eq(bertd_dataset_read_csv(&ds, path, &o, err, sizeof err), -1);
  char want[1024];
  snprintf(want, sizeof want, "%s: no column 'Severity' (columns: LineId, Date, Time, Pid, Level, "
           "Component, Content, EventId, EventTemplate)", path);
  cr_expect_str_eq(err, want);
  bertd_dataset_free(&ds);
}
