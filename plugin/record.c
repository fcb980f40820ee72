/* record.c: a record's own memory, and the ready queue (see record.h). */
#include "record.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *copy_bytes(const char *s, size_t len) {
  char *c = malloc(len + 1);
  if (!c) return NULL;
  if (len) memcpy(c, s, len);
  c[len] = 0;
  return c;
}

record *bertd_queued_record_new(const char *text, size_t len, const char *pair, size_t pair_len, void *ref,
                   int64_t now_us) {
  record *r = calloc(1, sizeof(*r));
  if (!r) return NULL;
  r->ref = ref;
  r->len = len;
  r->pair_len = pair ? pair_len : 0;
  r->submitted_us = now_us;
  r->text = copy_bytes(text, len);
  if (pair) r->pair = copy_bytes(pair, pair_len);
  if (!r->text || (pair && !r->pair)) {
    bertd_queued_record_free(r);
    return NULL;
  }
  return r;
}

int bertd_queued_record_set_encoding(record *r, const bertd_encoding *enc) {
  /* the eight per-token arrays of bertd_encoding, in one allocation */
  const size_t n = (size_t)enc->n;
  int32_t *b = malloc(sizeof(int32_t) * 8 * (n ? n : 1));
  if (!b) return -1;
  const int32_t *src[8] = {enc->ids,       enc->type_ids, enc->seq_ids,    enc->word_ids,
                           enc->char_start, enc->char_end, enc->byte_start, enc->byte_end};
  int32_t **dst[8] = {&r->enc.ids,       &r->enc.type_ids, &r->enc.seq_ids,    &r->enc.word_ids,
                      &r->enc.char_start, &r->enc.char_end, &r->enc.byte_start, &r->enc.byte_end};
  for (int i = 0; i < 8; i++) {
    *dst[i] = b + (size_t)i * n;
    if (n) memcpy(*dst[i], src[i], sizeof(int32_t) * n);
  }
  free(r->enc_block);
  r->enc_block = b;
  r->enc.n = enc->n;
  r->enc.num_truncated = enc->num_truncated;
  r->enc.cap = enc->n;
  r->enc.scratch = NULL;
  return 0;
}

record *bertd_queued_record_new_window(record *parent, int k, int64_t now_us) {
  record *r = calloc(1, sizeof(*r));
  if (!r) return NULL;
  r->ref = parent->ref;
  r->parent = parent;
  r->window = k;
  r->submitted_us = now_us;
  return r;
}

void bertd_queued_record_drop_input(record *r) {
  free(r->text);
  free(r->pair);
  free(r->enc_block);
  r->text = r->pair = NULL;
  r->enc_block = NULL;
  memset(&r->enc, 0, sizeof r->enc);
}

void bertd_queued_record_free(record *r) {
  if (!r) return;
  bertd_queued_record_drop_input(r);
  bertd_window_acc_free(r->acc);
  json_decref(r->value);
  free(r->result);
  free(r->vector);
  free(r);
}

void bertd_queued_record_queue_push(record_queue *q, record *r) {
  r->next = NULL;
  if (q->tail) q->tail->next = r;
  else q->head = r;
  q->tail = r;
  q->count++;
}

record *bertd_queued_record_queue_pop(record_queue *q) {
  record *r = q->head;
  if (!r) return NULL;
  q->head = r->next;
  if (!q->head) q->tail = NULL;
  r->next = NULL;
  q->count--;
  return r;
}

void bertd_queued_record_queue_free_all(record_queue *q) {
  record *r;
  while ((r = bertd_queued_record_queue_pop(q))) bertd_queued_record_free(r);
}

int64_t bertd_queued_record_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
