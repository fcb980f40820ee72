/* encoder.h: BERT's encoder over a batch of packed sequences.
 * A batch is B sequences of lengths lens[b]; their N = sum(lens) tokens are stored back to back
 * (no padding), so every dense layer is one sgemm over (N,C) and padding costs nothing. */
#ifndef BERTD_ENCODER_H
#define BERTD_ENCODER_H

#include <stddef.h>
#include <stdint.h>
#include "bertd_checkpoint.h"
#include "bertd_weights.h"
#include "encoder_packed.h"

struct bertd_lowp_model;

/* The packed (inference) path runs each slice's layers over row chunks of whole sequences of
 * at most this many tokens (a longer sequence is a chunk alone), so q/k/v, ctx, inter and the
 * bf16 / int8 scratch hold one chunk per slice, not the batch: MiniLM's batch of 32 x 128
 * (4,096 tokens) on two slices holds 2 x 512 rows of them. Measured (in one process, the sizes
 * alternated): on MiniLM fp32 and int8, 256 to 1,024 rows are as fast as whole batches (int8 a
 * few % faster: its scratch stays in cache); on BERT-base fp32 at 8 x 128 and 32 x 128, 256
 * rows are 5-10 % slower than 512, so 512. */
#define BERTD_ENCODER_CHUNK_TOKENS 512

/* Activation buffers, allocated for a capacity and reused across batches. R ("rows"): N on
 * the OpenBLAS path; on the packed path slices x the largest row chunk (see above). */
typedef struct bertd_acts {
  int cap_tokens;   /* N capacity (x) */
  int cap_rows;     /* R capacity (q/k/v, ctx, inter) */
  int cap_len;      /* longest sequence capacity (T) of scores */
  int cap_batch;    /* B capacity */
  int cap_slices;   /* scores blocks: one per thread a batch is split across */
  float *x;         /* (N,H) residual stream; after forward: last hidden state */
  float *q, *k, *v; /* (R,H) each, in one allocation at q; the packed path uses the same memory
                       as qkv (R,3H), each token's q, k, v side by side */
  float *ctx;       /* (R,H) attention output before its dense layer */
  float *inter;     /* (R,I) feed-forward inner activations */
  float *scores;    /* (slices,NH,T,T) one sequence's attention probabilities per slice;
                       OpenBLAS path only (NULL on the packed path) */
  float *pooled;    /* (B,H) pooler output (tanh(W h_cls + b)) */
  float *cls;       /* (B,H) scratch: the [CLS] rows */
  float *attn_scratch;      /* parts blocks of bertd_attention_rows_scratch(D, T) floats */
  size_t cap_attn_scratch;  /* floats */
  /* the batch last run */
  int B, N;
  int *lens;        /* (B) */
  int *starts;      /* (B) index of each sequence's first token in the packed rows */
  struct bertd_encoder_pool *pool; /* threads for split batches (encoder_pool.h), or NULL */
  /* bf16 / int8 models: one block per slice for the rounded or quantised activations of one
   * row chunk (lowp.h) */
  unsigned char *lowp_scratch;
  size_t lowp_block, lowp_cap; /* bytes per slice, bytes allocated */
} bertd_acts;

/* Grows the buffers (never shrinks) to hold x for `tokens` tokens, q/k/v, ctx and inter for
 * `rows` rows, pooled and cls for `batch` sequences, and `slices` score blocks of sequences up
 * to max_len tokens (max_len 0: no score blocks). */
int bertd_acts_reserve(bertd_acts *a, const bertd_checkpoint_config *cfg, int tokens, int rows,
                       int max_len, int batch, int slices, char *errstr, size_t errstr_size);
void bertd_acts_free(bertd_acts *a);

/* Checks a packed batch against the config (1 <= lens[b] <= max_position_embeddings, ids below
 * vocab_size, type ids below type_vocab_size) and sets *N (tokens) and *T (longest). who
 * starts the message ("encoder", "train"). Inference and training share it. */
int bertd_batch_check(const bertd_checkpoint_config *cfg, int B, const int *lens, const int32_t *ids,
                      const int32_t *type_ids, int *N, int *T, const char *who, char *errstr,
                      size_t errstr_size);

/* Cuts B sequences of lengths lens into P (1 <= P <= B) contiguous groups of about equal work
 * (dense layers and attention): group p is sequences [cut[p], cut[p+1]), none empty; cut has
 * P + 1 entries. The threaded encoder and the threaded trainer share it. */
void bertd_plan_slices(const bertd_checkpoint_config *cfg, const int *lens, int B, int P, int *cut);

/* Runs embeddings, the L layers and (when the weights have one) the pooler.
 * ids, type_ids: (N) packed token ids; lens: (B). Leaves the last hidden state (N,H) in a->x and
 * the pooled output (B,H) in a->pooled. Checks ids, type ids and lengths against the config. */
int bertd_encoder_forward(const bertd_checkpoint_config *cfg, const bertd_weights *w, bertd_acts *a, int B,
                          const int *lens, const int32_t *ids, const int32_t *type_ids,
                          char *errstr, size_t errstr_size);

/* The same on up to `threads` threads: the batch's sequences are cut into contiguous groups of
 * about equal work (dense layers and attention), and each group runs the whole encoder on its
 * own thread (a's pool), into its own rows of a's buffers. Sequences never interact, so no
 * thread waits for another between layers, which is why this scales better on small matrices
 * than OpenBLAS splitting each matmul. OpenBLAS is set single-threaded while the groups run,
 * and restored. threads <= 1 or B == 1: one group.
 * pe: the weights packed for the fp32 kernels (encoder_packed.h), or NULL for OpenBLAS on w's
 * own matrices (training, tests). With pe, a single group on several threads splits each dense
 * layer's output columns (panels) and attention's (sequence, head) pairs across a's pool.
 * lp: the linear layers in bf16 or int8 (lowp.h, bertd_model_set_precision), or NULL; when set
 * it runs them in place of pe's, in the same layer flow. */
int bertd_encoder_forward_threads(const bertd_checkpoint_config *cfg, const bertd_weights *w,
                                  const bertd_packed_encoder *pe,
                                  const struct bertd_lowp_model *lp, bertd_acts *a, int B,
                                  const int *lens, const int32_t *ids, const int32_t *type_ids,
                                  int threads, char *errstr, size_t errstr_size);

#endif
