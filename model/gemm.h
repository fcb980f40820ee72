/* gemm.h: the inference encoder's fp32 dense layers on weights packed once at load.
 *
 * out (M,N) (=, += or gelu(=)) inp (M,K) @ W^T + bias, W in PyTorch's Linear layout (N,K).
 * W is re-laid once into panels of nr output columns: panel p holds W[p*nr + j][k] at
 * panels[(p*K + k)*nr + j], zero-padded past N, so the kernel streams one contiguous panel per
 * nr columns and nothing is packed per call (OpenBLAS re-packed every weight on every call:
 * 54 % of the time at one 16-token sequence).
 *
 * Kernels are chosen at run time from what the CPU has (cpu_features.c), never at
 * build time: AVX-512F (gemm_avx512.c), AVX2+FMA (gemm_avx2.c), portable C (gemm_generic.c).
 * Each kernel file compiles its functions with its own target attribute only. Other precisions
 * (bf16, int8) hook in beside these as further bertd_gemm_kernel entries. */
#ifndef BERTD_GEMM_H
#define BERTD_GEMM_H

#include <stddef.h>

/* What the kernel does with a finished tile acc (rows, columns) before it leaves registers. */
typedef enum {
  BERTD_EPI_BIAS = 0,  /* out = acc + bias */
  BERTD_EPI_RESIDUAL,  /* out += acc + bias (the residual stream) */
  BERTD_EPI_BIAS_GELU, /* out = gelu_erf(acc + bias) (gelu.c's arithmetic) */
} bertd_gemm_epilogue;

typedef struct bertd_gemm_kernel bertd_gemm_kernel;

/* One weight matrix in a kernel's panel layout. */
typedef struct bertd_packed {
  const bertd_gemm_kernel *kern; /* the kernel the panels are laid out for */
  int N, K;                      /* output columns, inner dimension */
  int panels;                    /* ceil(N / nr) */
  float *data;                   /* (panels, K, nr), 64-byte aligned */
  const float *bias;             /* (N) or NULL; not owned */
} bertd_packed;

/* One call's operands; the kernel runs panels [p0, p1) over all M rows. */
typedef struct bertd_gemm_args {
  float *out;
  const float *inp;
  const bertd_packed *w;
  int M, ldo, ldi; /* ldo, ldi: row strides of out and inp, in floats */
  bertd_gemm_epilogue epi;
} bertd_gemm_args;

struct bertd_gemm_kernel {
  const char *name; /* "avx512", "avx2", "generic": printed by the bench */
  int nr;           /* panel width (output columns per panel) */
  void (*run)(const bertd_gemm_args *a, int p0, int p1);
};

extern const bertd_gemm_kernel bertd_gemm_generic;
extern const bertd_gemm_kernel bertd_gemm_avx2;
extern const bertd_gemm_kernel bertd_gemm_avx512;

/* The best kernel this CPU runs (BERTD_GEMM=generic|avx2|avx512 narrows the choice, for the
 * bench and tests; a kernel the CPU lacks is never returned). */
const bertd_gemm_kernel *bertd_gemm_best(void);
/* The named kernel if the CPU runs it, else NULL. */
const bertd_gemm_kernel *bertd_gemm_by_name(const char *name);

/* Packs W (N,K) for kern; bias (N) is kept by pointer. -1 with a message when out of memory. */
int bertd_gemm_pack(bertd_packed *p, const bertd_gemm_kernel *kern, const float *W,
                    const float *bias, int N, int K, char *errstr, size_t errstr_size);
/* Packs the row-concatenation of n matrices W_i (N_i,K) (q, k, v into one (3H,K) product);
 * biases likewise concatenated into one owned buffer placed after the panels. */
int bertd_gemm_pack_concat(bertd_packed *p, const bertd_gemm_kernel *kern, int n,
                           const float *const *W, const float *const *bias, const int *N, int K,
                           char *errstr, size_t errstr_size);
void bertd_gemm_packed_free(bertd_packed *p);

/* Runs the whole product on the calling thread. */
void bertd_gemm_run(const bertd_gemm_args *a);

/* Rows per block of A a kernel keeps hot while it sweeps its panels: at most about 192 KiB of A
 * (its chunk of K columns), at least mr, the M rows cut into blocks of equal size (a multiple of
 * mr where that fits). Each block streams every panel once, so a batch that fits one block (a
 * 64-token sequence at K 768, 16 tokens at K 3072) streams the weights once, where blocks cut
 * at a multiple of mr (60 + 4 rows, 12 + 4) streamed them again for a few leftover rows.
 * Measured on Zen 4 (bench_encoder fp32, BERT-Base, alternated with the old blocks): one core,
 * 1 x 16 31.4-34.5 -> 34.2-36.1 sentences/s (4 of 4 pairs), 1 x 64 8.9-9.1 -> 9.2-9.5 (4 of 4);
 * two threads at 1 x 64, 1 stream 16.7-18.2 -> 18.3-18.8 (5 of 5); batch 8 level. */
static inline int bertd_gemm_row_block(int M, int K, int mr) {
  int cap = 49152 / (K > 0 ? K : 1);
  if (cap < mr) cap = mr;
  const int blocks = (M + cap - 1) / cap;
  const int mb = (M + blocks - 1) / blocks, up = (mb + mr - 1) / mr * mr;
  return up <= cap ? up : mb;
}

/* The reference: the same product with OpenBLAS from the unpacked W (N,K), for tests. -1 when
 * out of memory. */
int bertd_gemm_reference(float *out, const float *inp, const float *W, const float *bias, int M,
                         int N, int K, bertd_gemm_epilogue epi);

#endif
