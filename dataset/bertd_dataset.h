/* bertd_dataset.h: training and evaluation data in memory, read from the formats people ship it in.
 * One example is a text (and optional text pair) with its label id(s) and, for tagging, one
 * label id per whitespace-separated word of the text. Readers append to a dataset; label names
 * live in the dataset's label lists (index = id), so the ids mean the same thing across splits
 * read into datasets that share the lists (read train first, then copy or preload its lists).
 *
 *   dataset_jointbert.c  JointBERT layout: DIR/SPLIT/{seq.in,seq.out,label} + label lists
 *   dataset_jsonl.c      one JSON object per line, field names configurable
 *   dataset_csv.c        CSV with a header row (RFC 4180), named columns; held-out split helper
 *   dataset_corpus.c     plain-text corpus for MLM + NSP
 *   dataset_align.c      word labels <-> word-piece labels
 *
 * Errors name the file and line: "atis/train/seq.out:17: 12 labels for 11 words". */
#ifndef BERTD_DATASET_H
#define BERTD_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "bertd_tokenizer.h"

/* ---- tasks ---- */

/* What is trained; decides which labels a sequence carries. */
typedef enum {
  BERTD_FT_JOINT = 0, /* intent (labels[0]) + slot tag per word (JointBERT, ignore 0 = PAD) */
  BERTD_FT_CLASSIFY,  /* sequence class (labels[0]) */
  BERTD_FT_TAG        /* a tag per word (token classification, ignore -100) */
} bertd_ft_task;

const char *bertd_ft_task_name(bertd_ft_task t); /* "joint", "classify", "tag" */
int bertd_ft_task_parse(const char *s, bertd_ft_task *t);  /* 0, or -1 for an unknown name */

/* ---- label lists ---- */

typedef struct bertd_label_list {
  char **names;
  int n, cap;
  int frozen;  /* 1: a name not in the list maps to "UNK" (counted) or is an error without one */
} bertd_label_list;

/* The id of name, adding it when the list is not frozen. A frozen list maps an unknown name to
 * its "UNK" entry and increments *unknown, as JointBERT does; without "UNK" it returns -1 and
 * fills errstr with "unknown label 'x'". -2 on out of memory. */
int bertd_label_list_id(bertd_label_list *l, const char *name, size_t *unknown, char *errstr,
                        size_t errstr_size);
int bertd_label_list_find(const bertd_label_list *l, const char *name);  /* -1 if absent */
int bertd_label_list_add(bertd_label_list *l, const char *name);         /* id, or -1 (memory) */
/* Reads a list, one name a line (intent_label.txt), and freezes it. */
int bertd_label_list_read(bertd_label_list *l, const char *path, char *errstr, size_t errstr_size);
int bertd_label_list_copy(bertd_label_list *dst, const bertd_label_list *src);
void bertd_label_list_free(bertd_label_list *l);

/* ---- examples ---- */

typedef struct bertd_example {
  char *text;          /* for tagging data: the words joined by single spaces */
  char *text_pair;     /* NULL when the example has none */
  int32_t *labels;     /* n_labels ids into the dataset's labels: one, several (multi-label),
                        * or none (tagging-only data) */
  int n_labels;
  int32_t *tags;       /* n_words ids into the dataset's tags, one per word; NULL when untagged */
  int n_words;
  size_t line;         /* where the example is in its source (1-based), for messages */
} bertd_example;

typedef struct bertd_dataset {
  bertd_example *examples;
  size_t n, cap;
  bertd_label_list labels;  /* intents / classes */
  bertd_label_list tags;    /* slot / entity tags */
  size_t unknown_labels;    /* labels mapped to UNK by a frozen list */
  size_t unknown_tags;
} bertd_dataset;

void bertd_dataset_free(bertd_dataset *ds);
/* Sorts a label list by name and renumbers every example's ids to match (transformers'
 * run_glue sorts its labels so; AG News "1".."4" become ids 0..3). which: 'l' labels, 't' tags. */
int bertd_dataset_sort_labels(bertd_dataset *ds, char which, char *errstr, size_t errstr_size);

/* ---- readers ---- */

/* JointBERT: reads DIR/intent_label.txt and DIR/slot_label.txt into ds->labels and ds->tags
 * (frozen: unknown labels map to "UNK" and are counted, as JointBERT's processor does), then
 * DIR/SPLIT/seq.in, seq.out and label. Words are split on whitespace (the text keeps them
 * joined by single spaces); a seq.out line must have one tag per word. */
int bertd_dataset_read_jointbert(bertd_dataset *ds, const char *dir, const char *split,
                                 char *errstr, size_t errstr_size);

typedef struct bertd_jsonl_opts {
  const char *text_field;       /* "text"; a list of strings is joined by spaces (tokens) */
  const char *text_pair_field;  /* NULL: no pair */
  const char *label_field;      /* NULL: no label. A string, an integer (kept as its decimal
                                 * name) or a list of those (multi-label) */
  const char *tags_field;       /* NULL: no tags. A list, one tag per word of the text */
} bertd_jsonl_opts;

/* JSON Lines: one object per line; blank lines are skipped. Labels and tags go through the
 * dataset's lists (new names are added unless the list is frozen). */
int bertd_dataset_read_jsonl(bertd_dataset *ds, const char *path, const bertd_jsonl_opts *opts,
                             char *errstr, size_t errstr_size);

typedef struct bertd_csv_opts {
  const char *const *text_columns; /* joined with separator, in this order */
  int n_text_columns;
  const char *separator;           /* " " when NULL */
  const char *text_pair_column;    /* NULL: no pair */
  const char *label_column;        /* NULL: no label */
  char delimiter;                  /* ',' when 0 */
} bertd_csv_opts;

/* CSV with a header row naming the columns, RFC 4180: fields may be quoted, a quoted field may
 * hold delimiters, doubled quotes and line breaks; CRLF or LF line ends; empty lines skipped.
 * Backslashes are ordinary characters (AG News has literal "\" in its text: kept). A quote
 * inside an unquoted field is kept as it is (Python's csv does the same); text after a closing
 * quote, an unterminated quote or a row with the wrong number of fields is an error. */
int bertd_dataset_read_csv(bertd_dataset *ds, const char *path, const bertd_csv_opts *opts,
                           char *errstr, size_t errstr_size);

typedef enum {
  BERTD_SPLIT_LAST = 0,  /* the last n examples are held out */
  BERTD_SPLIT_FIRST,     /* the first n */
  BERTD_SPLIT_SHUFFLE    /* n chosen by a seeded shuffle; both parts keep the source order */
} bertd_split_mode;

/* Moves n_heldout examples of ds into heldout (emptied first; it gets copies of ds's label
 * lists), deterministically: the same data, mode and seed give the same split. */
int bertd_dataset_split(bertd_dataset *ds, bertd_dataset *heldout, size_t n_heldout,
                        bertd_split_mode mode, uint64_t seed, char *errstr, size_t errstr_size);

/* ---- plain-text corpus (MLM + NSP) ---- */

/* One sentence per line, a blank (or whitespace-only) line between documents, as BERT's
 * create_pretraining_data reads its input. Lines are stripped of surrounding whitespace; empty
 * documents are dropped. */
typedef struct bertd_corpus {
  char **sentences;
  size_t n_sentences, sentences_cap;
  size_t *document_start;   /* n_documents + 1 offsets into sentences */
  size_t n_documents, documents_cap;
} bertd_corpus;

int bertd_corpus_read(bertd_corpus *c, const char *path, char *errstr, size_t errstr_size);
void bertd_corpus_free(bertd_corpus *c);

/* ---- word labels <-> word pieces ---- */

/* Fills token_labels[0..enc->n) for a tagging example: each word's label on its first word
 * piece, ignore on its other pieces, on special tokens and on the second sequence of a pair.
 * ignore is -100 for transformers' token classification, 0 for JointBERT (pad_token_label_id 0
 * with ignore_index 0). word_labels has n_words entries, the words of the first sequence; a
 * word id in enc beyond them is an error (text and labels disagree). A word the tokenizer drops
 * entirely (only control characters) has no token and so no label (JointBERT would put [UNK]). */
int bertd_align_word_labels(const bertd_encoding *enc, const int32_t *word_labels, int n_words,
                            int32_t ignore, int32_t *token_labels, char *errstr,
                            size_t errstr_size);
/* The way back for evaluation: word_values[w] = token_values at word w's first piece, or
 * missing for a word without a token (dropped or truncated away). */
int bertd_words_from_tokens(const bertd_encoding *enc, const int32_t *token_values, int n_words,
                            int32_t missing, int32_t *word_values, char *errstr,
                            size_t errstr_size);

#endif
