/* model.h: the loaded model's insides, shared by model.c, session.c and results.c only. */
#ifndef BERTD_MODEL_H
#define BERTD_MODEL_H

#include "bertd.h"
#include "encoder.h"
#include "bertd_weights.h"
#include "lowp.h"

struct bertd_model {
  bertd_checkpoint_config cfg;
  bertd_weights w;
  bertd_packed_encoder pe; /* w's encoder layers packed for the fp32 kernels; layers NULL when
                              BERTD_GEMM=blas asks for OpenBLAS on w itself */
  bertd_tokenizer *tok;
  unsigned tasks;
  char name[256];
  char checksum[17];
  bertd_precision precision;
  bertd_lowp_model *lowp; /* bf16 / int8 linear weights; NULL in fp32 */
  int fp32_released;      /* the encoder's fp32 linear matrices in w were given back to the OS
                             once packed (model.c): no other precision can be packed */
};

/* Hex FNV-1a 64 of w->memory (model.c; a random model's checksum). */
void bertd_model_weights_checksum(const bertd_weights *w, char out[17]);
/* Packs m's encoder for the best fp32 kernel (model.c; BERTD_GEMM=blas: none, OpenBLAS). */
int bertd_model_pack_encoder(bertd_model *m, char *errstr, size_t errstr_size);

struct bertd_session {
  const bertd_model *m;
  int threads; /* the encoder splits a batch of several sequences across this many threads */
  bertd_acts a;
  const bertd_encoding *const *encs; /* the batch last run (not owned) */
  int B, N;                 /* the last batch with heads (bertd_session_forward); 0: none */
  int hidden_B;             /* its sequences, or bertd_session_forward_ids's: the encoder's
                             * outputs (hidden states, pooled) are readable for these */
  int cap_tokens, cap_batch, cap_mask;
  int32_t *ids, *type_ids;  /* (N) packed */
  int *lens;                /* (B) */
  float *cls_logits;        /* (B,NL) sequence classification */
  float *tok_logits;        /* (N,NL) token classification */
  float *qa_start, *qa_end; /* (N) */
  float *nsp_logits;        /* (B,2) */
  float *intent_logits;     /* (B,NI) */
  float *slot_logits;       /* (N,NS) */
  int M;                    /* [MASK] rows in the batch */
  int *mask_rows;           /* (M) packed row of each [MASK] */
  float *mlm_logits;        /* (M,V) */
  float *mlm_scratch;       /* (2M,H) */
};

#endif
