/* dataset_corpus.c: a plain-text corpus for pre-training, in the input format of BERT's
 * create_pretraining_data.py: one sentence per line, a blank line between documents. */
#include "dataset_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int corpus_grow(bertd_corpus *c) {
  if (c->n_sentences == c->sentences_cap) {
    size_t cap = c->sentences_cap ? 2 * c->sentences_cap : 1024;
    char **p = realloc(c->sentences, sizeof(char *) * cap);
    if (!p) return -1;
    c->sentences = p, c->sentences_cap = cap;
  }
  if (c->n_documents + 2 > c->documents_cap) {
    size_t cap = c->documents_cap ? 2 * c->documents_cap : 256;
    size_t *p = realloc(c->document_start, sizeof(size_t) * cap);
    if (!p) return -1;
    c->document_start = p, c->documents_cap = cap;
  }
  return 0;
}

int bertd_corpus_read(bertd_corpus *c, const char *path, char *errstr, size_t errstr_size) {
  FILE *f = fopen(path, "r");
  if (!f) return DS_ERR("%s: %s", path, strerror(errno));
  char *line = NULL;
  size_t cap = 0, lineno = 0;
  long len;
  int rc = 0;
  if (corpus_grow(c)) rc = DS_ERR("%s: out of memory", path);
  else if (c->n_documents == 0) c->document_start[0] = c->n_sentences;
  while (rc == 0 && (len = bertd_read_line(f, &line, &cap)) >= 0) {
    lineno++;
    char *s = line, *e = line + len;
    while (s < e && isspace((unsigned char)*s)) s++;
    while (e > s && isspace((unsigned char)e[-1])) e--;
    if (corpus_grow(c)) {
      rc = DS_ERR("%s:%zu: out of memory", path, lineno);
      break;
    }
    if (s == e) { /* a blank line closes the document, if it has anything */
      if (c->document_start[c->n_documents] < c->n_sentences)
        c->document_start[++c->n_documents] = c->n_sentences;
      continue;
    }
    if (!(c->sentences[c->n_sentences] = strndup(s, (size_t)(e - s)))) {
      rc = DS_ERR("%s:%zu: out of memory", path, lineno);
      break;
    }
    c->n_sentences++;
  }
  if (rc == 0 && c->document_start[c->n_documents] < c->n_sentences)
    c->document_start[++c->n_documents] = c->n_sentences;
  free(line);
  fclose(f);
  return rc;
}

void bertd_corpus_free(bertd_corpus *c) {
  for (size_t i = 0; i < c->n_sentences; i++) free(c->sentences[i]);
  free(c->sentences);
  free(c->document_start);
  memset(c, 0, sizeof *c);
}
