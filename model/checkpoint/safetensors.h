/* safetensors.h: reading the safetensors format (what save_pretrained writes as model.safetensors).
 *
 * A file is:
 *   [8 bytes]  N, the header length, unsigned little-endian
 *   [N bytes]  a JSON object {"__metadata__": {str: str}?, "<name>": {"dtype": "F32",
 *              "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...}, maybe space-padded
 *   [rest]     the data region; each tensor is bytes [begin, end) of it, row-major, little-endian
 *
 * bertd_st_parse works on a memory buffer (the mmap path and the fuzzer both go through it) and
 * validates everything before anyone reads a byte of tensor data, so a bad file is one line of
 * error naming the file and the tensor, never a crash. */
#ifndef BERTD_SAFETENSORS_H
#define BERTD_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

/* Every dtype the format defines; only F32, F16, BF16 and F64 convert to float. The others
 * (I64 for embeddings.position_ids, ...) are recognised so a file holding them still parses. */
typedef enum {
  BERTD_ST_BOOL = 0,
  BERTD_ST_U8, BERTD_ST_I8, BERTD_ST_F8_E5M2, BERTD_ST_F8_E4M3,
  BERTD_ST_I16, BERTD_ST_U16, BERTD_ST_F16, BERTD_ST_BF16,
  BERTD_ST_I32, BERTD_ST_U32, BERTD_ST_F32,
  BERTD_ST_I64, BERTD_ST_U64, BERTD_ST_F64,
  BERTD_ST_NUM_DTYPES
} bertd_st_dtype;

#define BERTD_ST_MAX_DIMS 8
/* The reference implementation refuses headers above 100 MB; so do we (a header is metadata). */
#define BERTD_ST_MAX_HEADER (100u * 1000u * 1000u)

typedef struct bertd_st_tensor {
  char *name;
  bertd_st_dtype dtype;
  int ndim;                        /* 0 (a scalar) .. BERTD_ST_MAX_DIMS */
  int64_t shape[BERTD_ST_MAX_DIMS];
  uint64_t numel;                  /* product of shape; 1 for a scalar */
  uint64_t begin, end;             /* byte range within the data region */
} bertd_st_tensor;

typedef struct bertd_safetensors {
  char label[64];                  /* the file's base name, for error messages */
  const uint8_t *data;             /* data region (borrowed from the buffer or the mapping) */
  uint64_t data_size;
  bertd_st_tensor *tensors;        /* in header order */
  int num_tensors;
  void *map;                       /* the mmap when opened from a file, else NULL */
  size_t map_size;
} bertd_safetensors;

/* Parses a whole safetensors image held in buf[0..size). buf must outlive st (st->data points
 * into it). label names the file in errors. On error st is left empty and needs no close. */
int bertd_st_parse(const void *buf, size_t size, const char *label, bertd_safetensors *st,
                   char *errstr, size_t errstr_size);

/* mmaps path read-only and parses it; the label is path's base name. */
int bertd_st_open(const char *path, bertd_safetensors *st, char *errstr, size_t errstr_size);

/* Frees the table and unmaps; safe on a zeroed or already closed st. */
void bertd_st_close(bertd_safetensors *st);

/* The tensor called name, or NULL. */
const bertd_st_tensor *bertd_st_find(const bertd_safetensors *st, const char *name);

/* Drops the pages of the mapping under t's bytes from this process's resident memory once t has
 * been converted (bertd_st_read_f32): loading a checkpoint then never holds the file and its
 * copy at once. They stay readable (a read faults them in again from the page cache). No-op
 * for a buffer not mapped from a file. */
void bertd_st_drop_pages(const bertd_safetensors *st, const bertd_st_tensor *t);

const char *bertd_st_dtype_name(bertd_st_dtype dtype);
size_t bertd_st_dtype_size(bertd_st_dtype dtype);

/* Copies tensor t into out (t->numel floats), converting F16/BF16/F64 exactly (F64 rounds to
 * nearest). Any other dtype is an error naming the file and the tensor. */
int bertd_st_read_f32(const bertd_safetensors *st, const bertd_st_tensor *t, float *out,
                      char *errstr, size_t errstr_size);

/* IEEE binary16 and bfloat16 to binary32. Both are exact: every value (subnormals, infinities,
 * NaN payloads included) has one binary32 that represents it. */
float bertd_f16_to_f32(uint16_t h);
float bertd_bf16_to_f32(uint16_t b);

#endif
