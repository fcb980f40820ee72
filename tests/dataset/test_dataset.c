/* test_dataset.c: the dataset readers on small files of each layout the project owns
 * (tests/fixtures/datasets/, made by tools/reference/make_dataset_fixtures.py, whose exact
 * content the expectations here follow), small files for the edge cases and errors (written by
 * the test into a temporary directory), and word-label <-> word-piece alignment. The real sets:
 * data_dataset.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bertd_dataset.h"

#define DATASETS BERTD_FIXTURES "/datasets"

static char err[512];
static char tmp[64];

static void make_tmp(void) {
  snprintf(tmp, sizeof tmp, "/tmp/bertd_dataset_XXXXXX");
  cr_assert(mkdtemp(tmp));
}

static void remove_tmp(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  cr_assert_eq(system(cmd), 0);
}

/* Writes tmp/name (subdirectories must exist) and returns its path in a static buffer. */
static const char *write_file(const char *name, const char *content) {
  static char path[256];
  snprintf(path, sizeof path, "%s/%s", tmp, name);
  FILE *f = fopen(path, "wb");
  cr_assert(f, "cannot write %s", path);
  fputs(content, f);
  fclose(f);
  return path;
}

static void expect_ids(const int32_t *got, int n, const int32_t *want, int n_want) {
  cr_assert_eq(n, n_want, "%d ids, want %d", n, n_want);
  for (int i = 0; i < n; i++) cr_expect_eq(got[i], want[i], "id %d: %d, want %d", i, got[i], want[i]);
}

/* ---- JointBERT ---- */

/* tests/fixtures/datasets/jointbert: label ids are line numbers - 1 of intent_label.txt
 * (UNK flight airfare ground_service) and slot_label.txt (PAD UNK O B-fromloc I-fromloc B-toloc
 * I-toloc B-depart_date.day_name B-airline_name). */
Test(dataset, jointbert_fixture_splits) {
  bertd_dataset ds = {0};
  cr_assert_eq(bertd_dataset_read_jointbert(&ds, DATASETS "/jointbert", "train", err, sizeof err),
               0, "%s", err);
  cr_expect_eq(ds.n, 4);
  cr_expect_eq(ds.labels.n, 4);
  cr_expect_eq(ds.tags.n, 9);
  cr_expect_eq(ds.unknown_labels + ds.unknown_tags, 0);
  cr_expect_str_eq(ds.labels.names[0], "UNK");
  cr_expect_str_eq(ds.tags.names[0], "PAD");
  const bertd_example *e = &ds.examples[0];
  cr_expect_str_eq(e->text, "i want to fly from baltimore to dallas round trip");
  cr_expect_null(e->text_pair);
  cr_expect_eq(e->n_labels, 1);
  cr_expect_eq(e->labels[0], 1);
  expect_ids(e->tags, e->n_words, (int32_t[]){2, 2, 2, 2, 2, 3, 2, 5, 2, 2}, 10);
  cr_expect_eq(e->line, 1);
  e = &ds.examples[1];
  cr_expect_eq(e->labels[0], 2);
  expect_ids(e->tags, e->n_words, (int32_t[]){2, 2, 2, 2, 2, 2, 3, 4, 2, 5, 6, 2, 7}, 13);
  e = &ds.examples[3];
  cr_expect_str_eq(e->text, "delta flights from 東京 to são paulo");
  expect_ids(e->tags, e->n_words, (int32_t[]){8, 2, 2, 3, 2, 5, 6}, 7);
  cr_expect_eq(e->labels[0], 1);
  cr_expect_eq(e->line, 4);
  bertd_dataset_free(&ds);

  /* dev: an intent (meal) and a tag (B-airline_name.code) missing from the lists become UNK */
  cr_assert_eq(bertd_dataset_read_jointbert(&ds, DATASETS "/jointbert", "dev", err, sizeof err),
               0, "%s", err);
  cr_expect_eq(ds.n, 2);
  cr_expect_eq(ds.unknown_labels, 1);
  cr_expect_eq(ds.unknown_tags, 1);
  cr_expect_eq(ds.examples[0].labels[0], 2);
  cr_expect_eq(ds.examples[1].labels[0], 0);
  expect_ids(ds.examples[1].tags, ds.examples[1].n_words, (int32_t[]){2, 2, 2, 2, 2, 1}, 6);
  cr_expect_eq(ds.labels.n, 4, "the label lists stay as given");
  cr_expect_eq(ds.tags.n, 9);
  bertd_dataset_free(&ds);

  /* test: runs of whitespace, a leading tab and a line ending in a space keep single spaces */
  cr_assert_eq(bertd_dataset_read_jointbert(&ds, DATASETS "/jointbert", "test", err, sizeof err),
               0, "%s", err);
  cr_expect_eq(ds.n, 3);
  cr_expect_str_eq(ds.examples[0].text, "fly from boston to kraków");
  expect_ids(ds.examples[0].tags, ds.examples[0].n_words, (int32_t[]){2, 2, 3, 2, 5}, 5);
  cr_expect_str_eq(ds.examples[1].text, "limousine service at denver");
  cr_expect_eq(ds.examples[1].labels[0], 3);
  cr_expect_str_eq(ds.examples[2].text, "fares on friday");
  expect_ids(ds.examples[2].tags, ds.examples[2].n_words, (int32_t[]){2, 2, 7}, 3);
  cr_expect_eq(ds.examples[2].line, 3);
  bertd_dataset_free(&ds);
}

Test(dataset, jointbert_errors) {
  make_tmp();
  char path[256];
  snprintf(path, sizeof path, "%s/atis", tmp);
  cr_assert_eq(mkdir(path, 0755), 0);
  snprintf(path, sizeof path, "%s/atis/train", tmp);
  cr_assert_eq(mkdir(path, 0755), 0);
  write_file("atis/intent_label.txt", "UNK\nflight\n");
  write_file("atis/slot_label.txt", "PAD\nUNK\nO\nB-city\n");
  write_file("atis/train/seq.in", "fly to boston\nfly  to\tdenver now\n");
  write_file("atis/train/seq.out", "O O B-city\nO O B-city\n");
  write_file("atis/train/label", "flight\nflight\n");
  char dir[256];
  snprintf(dir, sizeof dir, "%s/atis", tmp);
  bertd_dataset ds = {0};
  cr_expect_eq(bertd_dataset_read_jointbert(&ds, dir, "train", err, sizeof err), -1);
  char want[512];
  snprintf(want, sizeof want, "%s/atis/train/seq.out:2: 3 labels for 4 words", tmp);
  cr_expect_str_eq(err, want);
  cr_expect_eq(ds.n, 1, "the good first line stays read");
  bertd_dataset_free(&ds);
  /* unknown labels become UNK and are counted; a short file is named */
  write_file("atis/train/seq.out", "O O B-town\nO O B-city O\n");
  write_file("atis/train/label", "flight\nbus\n");
  cr_expect_eq(bertd_dataset_read_jointbert(&ds, dir, "train", err, sizeof err), 0, "%s", err);
  cr_expect_eq(ds.n, 2);
  cr_expect_str_eq(ds.examples[1].text, "fly to denver now");
  cr_expect_eq(ds.examples[0].tags[2], 1);
  cr_expect_eq(ds.examples[1].labels[0], 0);
  cr_expect_eq(ds.unknown_tags, 1);
  cr_expect_eq(ds.unknown_labels, 1);
  bertd_dataset_free(&ds);
  write_file("atis/train/label", "flight\n");
  cr_expect_eq(bertd_dataset_read_jointbert(&ds, dir, "train", err, sizeof err), -1);
  snprintf(want, sizeof want, "%s/atis/train/label:2: file ends before the others of its split", tmp);
  cr_expect_str_eq(err, want);
  bertd_dataset_free(&ds);
  cr_expect_eq(bertd_dataset_read_jointbert(&ds, dir, "dev", err, sizeof err), -1);
  snprintf(want, sizeof want, "%s/atis/dev/seq.in: No such file or directory", tmp);
  cr_expect_str_eq(err, want);
  bertd_dataset_free(&ds);
  remove_tmp();
}

/* ---- CSV ---- */

static bertd_csv_opts agnews_opts(void) {
  static const char *cols[] = {"title", "description"};
  return (bertd_csv_opts){.text_columns = cols, .n_text_columns = 2, .separator = " ",
                          .label_column = "label"};
}

/* tests/fixtures/datasets/news.csv: AG News' layout, 12 rows */
Test(dataset, news_csv_fixture) {
  const char *path = DATASETS "/news.csv";
  bertd_dataset ds = {0};
  bertd_csv_opts o = agnews_opts();
  cr_assert_eq(bertd_dataset_read_csv(&ds, path, &o, err, sizeof err), 0, "%s", err);
  cr_expect_eq(ds.n, 12);
  cr_expect_eq(ds.labels.n, 4);
  cr_expect_str_eq(ds.examples[0].text,
                   "Fears for pension after talks Unions representing workers at Turner   "
                   "Newall say they are 'disappointed' after talks with stricken parent firm.");
  cr_expect_str_eq(ds.labels.names[ds.examples[0].labels[0]], "3");
  cr_expect_eq(ds.examples[0].line, 2);
  /* quoted fields with commas and a literal backslash, kept */
  cr_expect_str_eq(ds.examples[1].text,
                   "Private team sets launch date, at last SPACE.com - TORONTO, Canada -- A "
                   "second\\team of rocketeers competing for the  #36;10 million prize");
  /* doubled quotes inside a quoted field */
  cr_expect_str_eq(ds.examples[2].text,
                   "Zürich wins the cup The club's first title since 1981; fans sang \"olé\" all "
                   "night.");
  /* a line break inside quotes: the record starts on line 5, the next on line 7 */
  cr_expect_str_eq(ds.examples[3].text, "Rain floods the valley Schools stay closed,\nroads too.");
  cr_expect_eq(ds.examples[3].line, 5);
  cr_expect_eq(ds.examples[4].line, 7);
  cr_expect_str_eq(ds.examples[5].text,
                   "New chip, new \"rules\" A faster chip \\$199 for developers.");
  /* empty title or description: the separator stays */
  cr_expect_str_eq(ds.examples[6].text, " A description without a title.");
  cr_expect_str_eq(ds.examples[7].text, "Talks resume in Geneva ");
  cr_expect_str_eq(ds.examples[11].text, "Summit ends Leaders agreed on a plan.");
  cr_expect_eq(ds.examples[11].line, 14);
  /* first seen first: 3 4 2 1 */
  cr_expect_str_eq(ds.labels.names[1], "4");
  cr_expect_eq(ds.examples[3].labels[0], 3);
  /* sorted, "1".."4" are ids 0..3 */
  cr_assert_eq(bertd_dataset_sort_labels(&ds, 'l', err, sizeof err), 0);
  cr_expect_str_eq(ds.labels.names[0], "1");
  cr_expect_eq(ds.examples[0].labels[0], 2);
  cr_expect_eq(ds.examples[3].labels[0], 0);
  cr_expect_eq(ds.examples[11].labels[0], 0);
  /* a held-out 4: the last rows, or a seeded shuffle that is the same every time */
  bertd_dataset held = {0};
  cr_assert_eq(bertd_dataset_split(&ds, &held, 4, BERTD_SPLIT_LAST, 0, err, sizeof err), 0);
  cr_expect_eq(ds.n, 8);
  cr_expect_eq(held.n, 4);
  cr_expect_eq(held.examples[0].line, 11);
  cr_expect_eq(held.labels.n, 4);
  bertd_dataset_free(&ds);
  bertd_dataset_free(&held);
  size_t lines1[4], lines2[4];
  for (int run = 0; run < 2; run++) {
    cr_assert_eq(bertd_dataset_read_csv(&ds, path, &o, err, sizeof err), 0, "%s", err);
    cr_assert_eq(bertd_dataset_split(&ds, &held, 4, BERTD_SPLIT_SHUFFLE, 42, err, sizeof err), 0);
    cr_assert_eq(held.n, 4);
    cr_assert_eq(ds.n, 8);
    for (size_t i = 0; i < 4; i++) (run ? lines2 : lines1)[i] = held.examples[i].line;
    for (size_t i = 1; i < held.n; i++) cr_assert_lt(held.examples[i - 1].line, held.examples[i].line);
    for (size_t i = 1; i < ds.n; i++) cr_assert_lt(ds.examples[i - 1].line, ds.examples[i].line);
    bertd_dataset_free(&ds);
    bertd_dataset_free(&held);
  }
  cr_expect(memcmp(lines1, lines2, sizeof lines1) == 0, "same seed, different split");
}

/* tests/fixtures/datasets/logs_structured.csv: loghub's layout, 8 lines, 3 event ids */
Test(dataset, loghub_csv_fixture) {
  const char *path = DATASETS "/logs_structured.csv";
  static const char *cols[] = {"Content"};
  bertd_csv_opts o = {.text_columns = cols, .n_text_columns = 1, .label_column = "EventId"};
  bertd_dataset ds = {0};
  cr_assert_eq(bertd_dataset_read_csv(&ds, path, &o, err, sizeof err), 0, "%s", err);
  cr_expect_eq(ds.n, 8);
  cr_expect_eq(ds.labels.n, 3);
  cr_expect_str_eq(ds.labels.names[0], "E10");
  cr_expect_str_eq(ds.labels.names[1], "E6");
  cr_expect_str_eq(ds.labels.names[2], "E11");
  cr_expect_str_eq(ds.examples[1].text,
                   "PacketResponder 0 for block blk_-6952295868487656571 terminating");
  cr_expect_str_eq(ds.examples[2].text,
                   "BLOCK* NameSystem.addStoredBlock: blockMap updated: 10.251.73.220:50010 is "
                   "added to blk_7128370237687728475 size 67108864");
  cr_expect_eq(ds.examples[2].labels[0], 1);
  cr_expect_eq(ds.examples[6].labels[0], 2);
  cr_expect_eq(ds.examples[7].labels[0], 0);
  cr_expect_eq(ds.examples[7].line, 9);
  o.label_column = "Severity";
  bertd_dataset_free(&ds);
  cr_expect_eq(bertd_dataset_read_csv(&ds, path, &o, err, sizeof err), -1);
  char want[1024];
  snprintf(want, sizeof want, "%s: no column 'Severity' (columns: LineId, Date, Time, Pid, Level, "
           "Component, Content, EventId, EventTemplate)", path);
  cr_expect_str_eq(err, want);
  bertd_dataset_free(&ds);
}

Test(dataset, csv_edge_cases) {
  make_tmp();
  static const char *cols[] = {"a", "c"};
  bertd_csv_opts o = {.text_columns = cols, .n_text_columns = 2, .separator = " | ",
                      .label_column = "label"};
  bertd_dataset ds = {0};
  /* BOM, CRLF, quoted delimiters, doubled quotes, a line break inside quotes, empty fields,
   * empty lines, backslashes, a bare quote inside an unquoted field, no final line end */
  const char *p = write_file("edge.csv",
                             "\xEF\xBB\xBF" "label,a,b,c\r\n"
                             "x,\"one, two\",skip,\"say \"\"hi\"\"\"\r\n"
                             "\r\n"
                             "y,\"multi\nline\",,back\\slash\n"
                             "x,,,\n"
                             "z,5\" disk,b,\"\"");
  cr_assert_eq(bertd_dataset_read_csv(&ds, p, &o, err, sizeof err), 0, "%s", err);
  cr_assert_eq(ds.n, 4);
  cr_expect_str_eq(ds.examples[0].text, "one, two | say \"hi\"");
  cr_expect_str_eq(ds.examples[1].text, "multi\nline | back\\slash");
  cr_expect_eq(ds.examples[1].line, 4);
  cr_expect_str_eq(ds.examples[2].text, " | ");
  cr_expect_eq(ds.examples[2].line, 6);
  cr_expect_str_eq(ds.examples[3].text, "5\" disk | ");
  cr_expect_eq(ds.labels.n, 3);
  cr_expect_eq(ds.examples[2].labels[0], ds.examples[0].labels[0]);
  bertd_dataset_free(&ds);
  /* a text pair column */
  static const char *one[] = {"a"};
  bertd_csv_opts po = {.text_columns = one, .n_text_columns = 1, .text_pair_column = "b"};
  p = write_file("pair.csv", "a,b\nq?,answer\n");
  cr_assert_eq(bertd_dataset_read_csv(&ds, p, &po, err, sizeof err), 0, "%s", err);
  cr_expect_str_eq(ds.examples[0].text_pair, "answer");
  cr_expect_eq(ds.examples[0].n_labels, 0);
  bertd_dataset_free(&ds);
  /* tab-separated */
  bertd_csv_opts to = {.text_columns = one, .n_text_columns = 1, .delimiter = '\t'};
  p = write_file("tab.tsv", "a\tb\nx, y\t2\n");
  cr_assert_eq(bertd_dataset_read_csv(&ds, p, &to, err, sizeof err), 0, "%s", err);
  cr_expect_str_eq(ds.examples[0].text, "x, y");
  bertd_dataset_free(&ds);
  /* errors, each with its line */
  struct { const char *content, *msg; } bad[] = {
      {"label,a,b,c\nx,1,2,3\ny,1,2\n", "3: 3 fields, the header has 4"},
      {"label,a,b,c\nx,1,2,3\ny,\"open,2,3\nz,1,2,3\n", "3: quoted field 2 has no closing quote"},
      {"label,a,b,c\nx,\"1\"2,2,3\n", "2: text after the closing quote of field 2"},
      {"label,a,b,c\n\nx,\"multi\nline\",2,3,4\n", "3: 5 fields, the header has 4"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    p = write_file("bad.csv", bad[i].content);
    cr_expect_eq(bertd_dataset_read_csv(&ds, p, &o, err, sizeof err), -1);
    char want[512];
    snprintf(want, sizeof want, "%s:%s", p, bad[i].msg);
    cr_expect_str_eq(err, want);
    bertd_dataset_free(&ds);
  }
  p = write_file("empty.csv", "");
  cr_expect_eq(bertd_dataset_read_csv(&ds, p, &o, err, sizeof err), -1);
  cr_expect(strstr(err, "empty, no header row"), "%s", err);
  /* a frozen label list without UNK refuses new labels */
  p = write_file("labels.csv", "label,a,c\nx,1,2\nw,1,2\n");
  bertd_label_list_add(&ds.labels, "x");
  ds.labels.frozen = 1;
  cr_expect_eq(bertd_dataset_read_csv(&ds, p, &o, err, sizeof err), -1);
  char want[512];
  snprintf(want, sizeof want, "%s:3: unknown label 'w'", p);
  cr_expect_str_eq(err, want);
  cr_expect_eq(ds.n, 1);
  bertd_dataset_free(&ds);
  remove_tmp();
}

/* ---- JSONL ---- */

Test(dataset, jsonl_classification_multilabel_and_tags) {
  make_tmp();
  bertd_dataset ds = {0};
  const char *p = write_file("cls.jsonl",
                             "{\"sentence\": \"good film\", \"q\": \"is it?\", \"label\": \"pos\"}\n"
                             "\n"
                             "{\"sentence\": \"bad film\", \"q\": \"really\", \"label\": 0}\r\n"
                             "{\"sentence\": \"ok\", \"q\": \"\", \"label\": \"pos\"}");
  bertd_jsonl_opts o = {.text_field = "sentence", .text_pair_field = "q", .label_field = "label"};
  cr_assert_eq(bertd_dataset_read_jsonl(&ds, p, &o, err, sizeof err), 0, "%s", err);
  cr_assert_eq(ds.n, 3);
  cr_expect_str_eq(ds.examples[0].text_pair, "is it?");
  cr_expect_eq(ds.examples[1].line, 3);
  cr_expect_str_eq(ds.labels.names[ds.examples[1].labels[0]], "0");
  cr_expect_eq(ds.examples[2].labels[0], ds.examples[0].labels[0]);
  bertd_dataset_free(&ds);

  p = write_file("multi.jsonl", "{\"text\": \"a\", \"labels\": [\"x\", \"y\"]}\n"
                                "{\"text\": \"b\", \"labels\": []}\n");
  bertd_jsonl_opts mo = {.label_field = "labels"};
  cr_assert_eq(bertd_dataset_read_jsonl(&ds, p, &mo, err, sizeof err), 0, "%s", err);
  expect_ids(ds.examples[0].labels, ds.examples[0].n_labels, (int32_t[]){0, 1}, 2);
  cr_expect_eq(ds.examples[1].n_labels, 0);
  bertd_dataset_free(&ds);

  /* token tagging, with the tokens as a list (HF conll-style) or as text */
  p = write_file("ner.jsonl", "{\"tokens\": [\"EU\", \"rejects\", \"German\"], \"tags\": [\"B-ORG\", \"O\", \"B-MISC\"]}\n"
                              "{\"tokens\": \"Peter  Blackburn\", \"tags\": [\"B-PER\", \"I-PER\"]}\n");
  bertd_jsonl_opts no = {.text_field = "tokens", .tags_field = "tags"};
  cr_assert_eq(bertd_dataset_read_jsonl(&ds, p, &no, err, sizeof err), 0, "%s", err);
  cr_expect_str_eq(ds.examples[0].text, "EU rejects German");
  expect_ids(ds.examples[0].tags, ds.examples[0].n_words, (int32_t[]){0, 1, 2}, 3);
  expect_ids(ds.examples[1].tags, ds.examples[1].n_words, (int32_t[]){3, 4}, 2);
  cr_expect_eq(ds.tags.n, 5);
  bertd_dataset_free(&ds);
  remove_tmp();
}

Test(dataset, jsonl_errors_name_the_line) {
  make_tmp();
  bertd_jsonl_opts o = {.label_field = "label", .tags_field = "tags"};
  struct { const char *content, *msg; } bad[] = {
      {"{\"text\": \"a\", \"label\": \"x\", \"tags\": [\"O\"]}\n{\"text\": \"a\", \"label\": \"x\"\n",
       "2: invalid JSON at column 26: '}' expected near end of file"},
      {"\n\n[1, 2]\n", "3: not a JSON object"},
      {"{\"txt\": \"a\"}\n", "1: field 'text' missing"},
      {"{\"text\": 5}\n", "1: field 'text' is not a string or list of strings"},
      {"{\"text\": \"a b\", \"label\": {\"x\": 1}, \"tags\": [\"O\", \"O\"]}\n",
       "1: field 'label' is not a label (string or integer) or a list of labels"},
      {"{\"text\": \"a\", \"label\": \"x\", \"tags\": [\"O\"]}\n"
       "{\"text\": \"fly to boston\", \"label\": \"x\", \"tags\": [\"O\", \"O\"]}\n",
       "2: field 'tags' has 2 tags for 3 words"},
      {"{\"text\": \"a\", \"label\": \"x\", \"tags\": [null]}\n", "1: field 'tags': tag 1 is not a string or integer"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    bertd_dataset ds = {0};
    const char *p = write_file("bad.jsonl", bad[i].content);
    cr_expect_eq(bertd_dataset_read_jsonl(&ds, p, &o, err, sizeof err), -1, "case %zu", i);
    char want[512];
    snprintf(want, sizeof want, "%s:%s", p, bad[i].msg);
    cr_expect_str_eq(err, want);
    bertd_dataset_free(&ds);
  }
  remove_tmp();
}

/* tests/fixtures/datasets/records.jsonl */
Test(dataset, jsonl_fixture) {
  bertd_dataset ds = {0};
  bertd_jsonl_opts o = {.text_field = "text", .text_pair_field = "q", .label_field = "label"};
  cr_assert_eq(bertd_dataset_read_jsonl(&ds, DATASETS "/records.jsonl", &o, err, sizeof err), 0,
               "%s", err);
  cr_assert_eq(ds.n, 4);
  cr_expect_str_eq(ds.examples[0].text, "where is my order");
  cr_expect_str_eq(ds.examples[0].text_pair, "A-10293");
  expect_ids(ds.examples[0].labels, ds.examples[0].n_labels, (int32_t[]){0}, 1);
  cr_expect_str_eq(ds.examples[1].text, "refund for the crème brûlée kit");
  cr_expect_str_eq(ds.examples[1].text_pair, "");
  cr_expect_str_eq(ds.labels.names[ds.examples[1].labels[0]], "7");
  /* the blank line 3 is skipped, line numbers stay the file's */
  cr_expect_str_eq(ds.examples[2].text, "nel\xC2\x85inside");
  cr_expect_eq(ds.examples[2].line, 4);
  expect_ids(ds.examples[2].labels, ds.examples[2].n_labels, (int32_t[]){2, 0}, 2);
  cr_expect_str_eq(ds.examples[3].text, "東京  delivery 😀");
  cr_expect_eq(ds.examples[3].labels[0], 0);
  cr_expect_eq(ds.labels.n, 3);
  cr_expect_str_eq(ds.labels.names[2], "refund");
  bertd_dataset_free(&ds);
}

/* tests/fixtures/datasets/corpus.txt */
Test(dataset, corpus_fixture) {
  bertd_corpus c = {0};
  cr_assert_eq(bertd_corpus_read(&c, DATASETS "/corpus.txt", err, sizeof err), 0, "%s", err);
  cr_expect_eq(c.n_documents, 3);
  cr_expect_eq(c.n_sentences, 6);
  cr_expect_str_eq(c.sentences[0], "The parcel left the warehouse on Monday.");
  cr_expect_str_eq(c.sentences[2], "Café orders spike on Fridays.");
  cr_expect_str_eq(c.sentences[5], "Trains run every few minutes.");
  size_t want[] = {0, 2, 3, 6};
  for (int i = 0; i < 4; i++) cr_expect_eq(c.document_start[i], want[i]);
  bertd_corpus_free(&c);
}

/* ---- corpus ---- */

Test(dataset, corpus_documents_and_sentences) {
  make_tmp();
  const char *p = write_file("corpus.txt",
                             "\n\nFirst doc, first sentence.\n  second sentence  \r\n"
                             "\n \t\n"
                             "Second doc only sentence.\n"
                             "\n"
                             "Third doc one.\nThird doc two.\nThird doc three.");
  bertd_corpus c = {0};
  cr_assert_eq(bertd_corpus_read(&c, p, err, sizeof err), 0, "%s", err);
  cr_expect_eq(c.n_documents, 3);
  cr_expect_eq(c.n_sentences, 6);
  cr_expect_str_eq(c.sentences[1], "second sentence");
  size_t want[] = {0, 2, 3, 6};
  for (int i = 0; i < 4; i++) cr_expect_eq(c.document_start[i], want[i]);
  bertd_corpus_free(&c);
  cr_expect_eq(bertd_corpus_read(&c, "/nonexistent/corpus.txt", err, sizeof err), -1);
  cr_expect_str_eq(err, "/nonexistent/corpus.txt: No such file or directory");
  bertd_corpus_free(&c);
  remove_tmp();
}

/* ---- alignment ---- */

Test(dataset, word_labels_on_first_pieces) {
  make_tmp();
  const char *vocab = write_file("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nfly\nto\nst\n.\n"
                                              "louis\nbos\n##ton\nnow\n");
  bertd_tokenizer_opts to = {.do_lower_case = 1, .strip_accents = -1, .tokenize_chinese_chars = 1,
                             .model_max_length = 512};
  bertd_tokenizer *tok = NULL;
  cr_assert_eq(bertd_tokenizer_from_vocab(vocab, &to, &tok, err, sizeof err), 0, "%s", err);
  bertd_encoding enc = {0};
  /* words: fly(0) to(1) boston(2) st.(3) louis(4) */
  const char *text = "fly to boston st. louis";
  cr_assert_eq(bertd_tokenizer_encode(tok, text, strlen(text), NULL, 0, 0, BERTD_TRUNC_LONGEST_FIRST,
                                      &enc, err, sizeof err), 0, "%s", err);
  /* [CLS] fly to bos ##ton st . louis [SEP] */
  cr_assert_eq(enc.n, 9);
  int32_t words[5] = {2, 2, 73, 103, 104}, tl[9];
  cr_assert_eq(bertd_align_word_labels(&enc, words, 5, -100, tl, err, sizeof err), 0, "%s", err);
  expect_ids(tl, 9, (int32_t[]){-100, 2, 2, 73, -100, 103, -100, 104, -100}, 9);
  cr_assert_eq(bertd_align_word_labels(&enc, words, 5, 0, tl, err, sizeof err), 0);
  expect_ids(tl, 9, (int32_t[]){0, 2, 2, 73, 0, 103, 0, 104, 0}, 9);
  /* and back: predictions per token -> per word */
  int32_t pred[9] = {9, 2, 2, 73, 74, 103, 55, 104, 9}, back[5];
  cr_assert_eq(bertd_words_from_tokens(&enc, pred, 5, -1, back, err, sizeof err), 0);
  expect_ids(back, 5, (int32_t[]){2, 2, 73, 103, 104}, 5);
  /* too few labels for the words */
  cr_expect_eq(bertd_align_word_labels(&enc, words, 4, -100, tl, err, sizeof err), -1);
  cr_expect_str_eq(err, "token 7 belongs to word 4, but only 4 word labels were given");
  /* truncated: the last words have no token, their prediction is "missing" */
  cr_assert_eq(bertd_tokenizer_encode(tok, text, strlen(text), NULL, 0, 5, BERTD_TRUNC_LONGEST_FIRST,
                                      &enc, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_words_from_tokens(&enc, pred, 5, -1, back, err, sizeof err), 0);
  expect_ids(back, 5, (int32_t[]){2, 2, 73, -1, -1}, 5);
  /* a pair: the second sequence gets no labels */
  cr_assert_eq(bertd_tokenizer_encode(tok, "fly now", 7, "to boston", 9, 0, BERTD_TRUNC_LONGEST_FIRST,
                                      &enc, err, sizeof err), 0, "%s", err);
  int32_t two[2] = {5, 6}, pl[8];
  cr_assert_eq(enc.n, 8);
  cr_assert_eq(bertd_align_word_labels(&enc, two, 2, -100, pl, err, sizeof err), 0, "%s", err);
  expect_ids(pl, 8, (int32_t[]){-100, 5, 6, -100, -100, -100, -100, -100}, 8);
  bertd_encoding_free(&enc);
  bertd_tokenizer_free(tok);
  remove_tmp();
}
