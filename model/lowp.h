/* lowp.h: the encoder's linear layers in bf16 or int8 (private to model/).
 *
 * A linear layer out (N,OC) = inp (N,C) @ W (OC,C)^T + b is held as W packed for one kernel,
 * chosen at run time from the CPU's features (cpu_features.h):
 *   bf16: W rounded to bf16 once at load; each call rounds the activations to bf16 and the
 *         kernel accumulates in fp32 (vdpbf16ps).
 *   int8: W quantised once per output channel (symmetric, scale = max|w| / 127); each call
 *         quantises the activations per token (row) the same way; the kernel multiplies int8 by
 *         int8 into exact int32 sums (vpdpbusd, or vpmaddubsw on AVX2), then out = sum *
 *         scale_a * scale_w + b in fp32.
 * LayerNorm, softmax and GELU stay in fp32 (GELU on the kernel's fp32 tile where the kernel
 * says `gelu`); attention's two products run in bf16 with fp32 sums where the CPU has
 * AVX512-BF16 (int8: for sequences over 16 tokens; attention_avx512.c, model.c), else in fp32.
 *
 * Packed layout (both precisions): panels of `panel` output channels; in a panel, k runs in
 * groups of `group` (2 bf16 or 4 int8 values = one 32-bit lane), channel-minor:
 *   panel p, group g, channel j, element e  <-  W[p*panel + j][g*group + e]
 * zero-padded to OC' = panels*panel and Kp = C rounded up to a multiple of the kernel's kalign
 * (4; the AMX kernels: one tile row, 32 bf16 or 64 int8). The AVX kernels' inner step broadcasts
 * one 32-bit group of a row of activations and multiplies it with one vector of the panel; with
 * 16-channel panels, 16 consecutive groups of a panel are exactly an AMX B tile (gemm_amx.inc). */
#ifndef BERTD_LOWP_H
#define BERTD_LOWP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bertd.h"
#include "cpu_features.h"
#include "layers.h"

/* One call of a kernel: out (N,OC) (+)= A @ W^T (dequantised) + bias. */
typedef struct bertd_lowp_gemm_args {
  const void *a;        /* (Np,Kp): bf16, or int8 (uint8 = int8 + 128 when act_offset) */
  const float *a_scale; /* int8: (N) per-row scales */
  int N, Np, Kp;        /* Np: N rounded up to the kernel's mr; rows N..Np are zero */
  const void *w;        /* packed (see above) */
  const float *w_scale; /* int8: (OC) per-channel scales */
  const int32_t *w_corr;/* int8 with act_offset: (OC) 128 * sum_k W_q[oc][k], subtracted */
  int OC;
  const float *bias;    /* (OC) or NULL */
  float *out;           /* (N,ldo) */
  int ldo;
  int accumulate;       /* 1: out += ...; 0: out = ... */
  int gelu;             /* 1: out = gelu(... + bias), gelu.c's bits; only where the kernel's
                           `gelu` says it applies it, never with accumulate */
} bertd_lowp_gemm_args;

typedef struct bertd_lowp_kernel {
  const char *name;     /* "bf16 amx", "bf16 avx512-bf16", "int8 amx", "int8 avx512-vnni", ... */
  bertd_precision prec;
  int panel;            /* output channels per panel */
  int group;            /* k values per 32-bit lane */
  int mr;               /* rows per tile: activations are padded to a multiple (<= 16); the
                           AVX kernels' last tile reads only the rows below N, AMX's the
                           whole padded tile */
  int kalign;           /* k is padded to a multiple of this (a multiple of 4, <= 64) */
  int act_offset;       /* int8: activations as uint8 = int8 + 128 (vpdpbusd's unsigned side) */
  int gelu;             /* applies args.gelu in its epilogue, on each finished tile (every
                           kernel but the AVX2 one); 0: the caller runs gelu.c over the
                           finished rows */
  /* the product over output panels [p0, p1) (of `panel` channels), all rows: threads split
   * one call by panel ranges */
  void (*gemm)(const bertd_lowp_gemm_args *g, int p0, int p1);
  /* bf16: rows of x (N,C) -> a (N,Kp) bf16, rounded to nearest even, zero-padded */
  void (*to_bf16)(const float *x, int N, int C, uint16_t *a, int Kp);
  /* int8: the vector quantiser of one row (bertd_quantize_row_avx512 / _avx2: the CPU runs it
   * wherever it runs the kernel), chosen with the kernel; NULL: bertd_quantize_row_mul */
  float (*quantize)(const float *x, const float *mul, int n, unsigned char *q, int offset);
} bertd_lowp_kernel;

/* The kernels, one file each (gemm_*.c). */
extern const bertd_lowp_kernel bertd_kernel_bf16_avx512;
extern const bertd_lowp_kernel bertd_kernel_int8_avx512vnni;
extern const bertd_lowp_kernel bertd_kernel_int8_avx2;
/* AMX (gemm_amx.c); and the same code on the C emulation of the tile instructions
 * (gemm_amx_emulated.c), which the tests run on CPUs without AMX and nothing selects. */
extern const bertd_lowp_kernel bertd_kernel_bf16_amx;
extern const bertd_lowp_kernel bertd_kernel_int8_amx;
extern const bertd_lowp_kernel bertd_kernel_bf16_amx_emulated;
extern const bertd_lowp_kernel bertd_kernel_int8_amx_emulated;
/* The emulation built for AVX-512 F/BW/VL (gemm_amx_emulated_avx512.c): gemm_amx.c's vector
 * epilogue and quantiser on emulated tiles; call only where the CPU has them. */
extern const bertd_lowp_kernel bertd_kernel_bf16_amx_emulated_avx512;
extern const bertd_lowp_kernel bertd_kernel_int8_amx_emulated_avx512;

/* The best kernel of precision p the CPU f runs; -1 with one line naming what is missing.
 * AMX is chosen only when f has AMX-TILE and AMX-BF16 (AMX-INT8) with AVX-512 F/BW/VL, Linux
 * grants the tile permission and the kernel passes bertd_lowp_kernel_selfcheck; when one of the
 * last two fails the AVX-512 kernel runs instead and one line on stderr says why. */
int bertd_lowp_kernel_select(bertd_precision p, const bertd_cpu_features *f,
                             const bertd_lowp_kernel **out, char *errstr, size_t errstr_size);

/* AMX kernel k may run here: the tile permission (bertd_cpu_amx_request), then
 * bertd_lowp_kernel_selfcheck. -1 with one line. (lowp_amx_check.c) */
int bertd_lowp_amx_usable(const bertd_lowp_kernel *k, char *errstr, size_t errstr_size);

/* Runs a 40 x 96 -> 72 product (two 32-row and one 16-row block, two channel pairs and a
 * partial single panel, padded k) with bias, then again accumulating, through kernel k and
 * compares it with the exact result: integer inputs in [-127, 127] with each row's largest
 * |value| 127, so bf16 holds them, int8 quantises them with scale 1, and every partial sum is
 * an integer below 2^24, exact in fp32 in any order: the bound is 0. -1 with one line naming
 * the first difference. (lowp_amx_check.c) */
int bertd_lowp_kernel_selfcheck(const bertd_lowp_kernel *k, char *errstr, size_t errstr_size);

typedef struct bertd_lowp_linear {
  const bertd_lowp_kernel *k;
  int C, Kp, OC;
  void *w;              /* packed weights (bf16 or int8) */
  float *w_scale;       /* int8: (OC) */
  int32_t *w_corr;      /* int8 with act_offset: (OC) */
  const float *bias;    /* the model's fp32 bias (OC), or NULL */
  float *a_mul;         /* int8 smoothing: (C) 1/s_c applied to activations before quantising,
                           W's columns were multiplied by s_c; NULL: none */
} bertd_lowp_linear;

/* Packs W (OC,C) for kernel k. bias is kept by reference. int8: ln_g, ln_b (C), when the
 * layer's input is a LayerNorm's output, smooth it (below); NULL: not. */
int bertd_lowp_linear_init(bertd_lowp_linear *l, const bertd_lowp_kernel *k, const float *W,
                           const float *bias, int C, int OC, const float *ln_g,
                           const float *ln_b, char *errstr, size_t errstr_size);
void bertd_lowp_linear_free(bertd_lowp_linear *l);
/* Bytes of packed weights (and scales) l holds. */
size_t bertd_lowp_linear_bytes(const bertd_lowp_linear *l);

/* Scratch bytes a forward of N rows of at most Cmax inputs needs. */
size_t bertd_lowp_scratch_bytes(int N, int Cmax);
/* out (N,OC) = inp (N,C) @ W^T + b, or += with accumulate (the residual add). scratch: at
 * least bertd_lowp_scratch_bytes(N, C) bytes, 64-byte aligned. */
void bertd_lowp_linear_forward(const bertd_lowp_linear *l, float *out, const float *inp, int N,
                               int accumulate, void *scratch);
/* The forward in two steps, so that threads can share one call: prepare rounds or quantises
 * inp into scratch and fills g (on one thread); then l->k->gemm(g, p0, p1) over disjoint panel
 * ranges of [0, bertd_lowp_panels(l)) on any threads. ldo: out's row stride (>= OC). */
void bertd_lowp_prepare(const bertd_lowp_linear *l, bertd_lowp_gemm_args *g, float *out,
                        int ldo, const float *inp, int N, int accumulate, void *scratch);
static inline int bertd_lowp_panels(const bertd_lowp_linear *l) {
  return (l->OC + l->k->panel - 1) / l->k->panel;
}

/* The encoder's linear layers of one transformer layer. q, k and v stay three products (the
 * fp32 panels fuse them): each is smoothed for its own weights, which measured 0.991 against
 * 0.986 worst-text cosine on MiniLM in int8; they write side by side into the encoder's qkv
 * rows (N,3H) as the fused product does. */
typedef struct bertd_lowp_layer {
  bertd_lowp_linear q, k, v, attn_out, inter, out;
} bertd_lowp_layer;

typedef struct bertd_lowp_model {
  const bertd_lowp_kernel *kernel;
  /* attention's heads (layers.h), chosen at load: bf16 tiles where the CPU has AVX512-BF16
   * (see model.c), else the fp32 tiles of bertd_gemm_best() */
  bertd_attention_head_fn *attn_head;
  int L;
  bertd_lowp_layer *layers; /* (L) */
  size_t bytes;             /* packed weights held */
} bertd_lowp_model;

/* Packs every encoder layer's linear weights of w for kernel k. */
int bertd_lowp_model_create(const bertd_checkpoint_config *cfg, const struct bertd_weights *w,
                            const bertd_lowp_kernel *k, bertd_lowp_model **out, char *errstr,
                            size_t errstr_size);
/* The same in steps, for a load that packs each layer as soon as it is read (model.c): room
 * for L layers, then layer i (its LayerNorms and the one before it must be in w). */
int bertd_lowp_model_alloc(int L, const bertd_lowp_kernel *k, bertd_lowp_model **out,
                           char *errstr, size_t errstr_size);
int bertd_lowp_layer_pack(bertd_lowp_model *m, const bertd_checkpoint_config *cfg,
                          const struct bertd_weights *w, int i, char *errstr, size_t errstr_size);
void bertd_lowp_model_free(bertd_lowp_model *m);

/* fp32 -> bf16, round to nearest even (NaN stays NaN): what vcvtneps2bf16 does. */
static inline uint16_t bertd_bf16_from_float(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}
static inline float bertd_bf16_to_float(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* Symmetric int8 of a row x (n): scale = max|x| / 127, q = round-half-even(x * 127 / max|x|),
 * in [-127, 127] (never -128: the AVX2 kernel's sign trick needs it). Returns the scale (0 for
 * an all-zero row). The kernels' tests quantise with this too. */
float bertd_quantize_row(const float *x, int n, int8_t *q);
/* The same of x[i] * mul[i] (mul NULL: of x). */
float bertd_quantize_row_mul(const float *x, const float *mul, int n, int8_t *q);
/* The same in AVX-512 F+BW / AVX2+FMA vectors (quantize_rows.c), bit for bit, with the encoding's
 * offset applied (offset: each byte xor 0x80, vpdpbusd's unsigned operand); call only on a CPU
 * that runs them. */
float bertd_quantize_row_avx512(const float *x, const float *mul, int n, unsigned char *q,
                                int offset);
float bertd_quantize_row_avx2(const float *x, const float *mul, int n, unsigned char *q,
                              int offset);

/* int8 smoothing (SmoothQuant, without calibration data): a LayerNorm's output has a few columns
 * far larger than the rest (large |gamma| or |beta|), and one scale per token would spend the
 * int8 range on them. Column c of the activations is divided by
 *   s_c = sqrt(xmax_c / wmax_c),  xmax_c = 4 |gamma_c| + |beta_c|  (the column's typical range),
 * and column c of W multiplied by it, so that both sides share the range (alpha = 0.5); the
 * product is unchanged. */

#endif
