/* dataset_internal.h: what the dataset readers share and nobody else needs. */
#ifndef BERTD_DATASET_INTERNAL_H
#define BERTD_DATASET_INTERNAL_H

#include <stdio.h>

#include "bertd_dataset.h"

#define DS_ERR(...) (snprintf(errstr, errstr_size, __VA_ARGS__), -1)

/* A new zeroed example at the end of ds, or NULL (out of memory). */
bertd_example *bertd_dataset_push(bertd_dataset *ds);
/* Drops the last example (a reader that failed half way through one). */
void bertd_dataset_pop(bertd_dataset *ds);
void bertd_example_free(bertd_example *e);

/* Reads one line without its line end (LF or CRLF) into *buf; returns its length or -1 at EOF. */
long bertd_read_line(FILE *f, char **buf, size_t *cap);

/* Splits s on whitespace (space, tab, CR, LF, VT, FF) in place: words[0..n), up to max.
 * Returns the word count, which may exceed max (the extra words are not stored). */
int bertd_split_words(char *s, char **words, int max);
/* The words joined by single spaces (malloc'd), or NULL. */
char *bertd_join_words(char *const *words, int n);

#endif
