/* amx_tile.h: the thin tile layer the AMX kernels (gemm_amx.inc) are written against, with two
 * backends (private to model/):
 *   - the instructions (<immintrin.h> _tile_*), when the including file does not define
 *     BERTD_AMX_EMULATED: gemm_amx.c, built with -mamx-tile -mamx-bf16 -mamx-int8 and called
 *     only after cpuid, XCR0 and the Linux tile permission said yes (lowp_amx_check.c);
 *   - portable C implementing the instructions as Intel's SDM describes them, when it does:
 *     gemm_amx_emulated.c, so that the kernel code that runs on an AMX CPU is tested on CPUs
 *     without AMX (and under ASan: an emulated tileloadd reads exactly rows x colsb bytes at the
 *     addresses the real one would).
 *
 * Operations (st: the emulator's state, ignored by the instructions; t, c, a, b: tile numbers
 * 0..7, literal constants because the instructions encode them):
 *   AMX_STATE(st)                 declares the state (8 tiles of 16 rows x 64 bytes, the config);
 *                                 bertd_amx_state is its type as a parameter
 *   amx_config(st, cfg)           ldtilecfg: palette 1, rows and bytes per row of each tile
 *   amx_release(st)               tilerelease
 *   amx_zero(st, t)               tilezero
 *   amx_load(st, t, p, stride)    tileloadd: rows[t] rows of colsb[t] bytes at p + r * stride
 *   amx_store(st, t, p, stride)   tilestored
 *   amx_dpbf16ps(st, c, a, b)     tdpbf16ps: c (M x N fp32) += a (M x K bf16 pairs) . b (K x N
 *                                 bf16 pairs), b VNNI-packed: row k holds pair k of N columns
 *   amx_dpbusd(st, c, a, b)       tdpbusd: c (M x N int32) += a (M x K quads of uint8) . b (K x
 *                                 N quads of int8), b row k holds quad k of N columns
 *
 * Emulated faults: where the CPU raises #UD or #GP (an unconfigured tile, shapes that do not
 * chain, a bad config), the emulator fills the destination tile (or every tile, for a bad
 * config) with 0xff bytes, a NaN in every fp32 lane and -1 in every int32 lane, so a test
 * comparing results fails instead of the process dying. */
#ifndef BERTD_AMX_TILE_H
#define BERTD_AMX_TILE_H

#include <stdint.h>
#include <string.h>

/* The 64-byte operand of ldtilecfg, palette 1 (SDM vol. 1, "Intel AMX"): 8 tiles, at most 16
 * rows of at most 64 bytes each; entries 8..15 must be 0. */
typedef struct bertd_amx_config {
  uint8_t palette;   /* 1; 0 would release the tiles */
  uint8_t start_row; /* 0: restart rows after an interrupted tileloadd/tilestored */
  uint8_t reserved[14];
  uint16_t colsb[16]; /* bytes per row of tile i */
  uint8_t rows[16];   /* rows of tile i */
} bertd_amx_config;
_Static_assert(sizeof(bertd_amx_config) == 64, "ldtilecfg reads 64 bytes");

#ifndef BERTD_AMX_EMULATED

#include <immintrin.h>

/* GCC's _tile_* are volatile asm statements; _tile_loadconfig and _tile_loadd do not tell the
 * compiler which memory they read, so every operand they read is written before the kernel is
 * called (the packed weights, the prepared activations) or is constant data (the config), and
 * amx_config is preceded by a compiler barrier. _tile_stored clobbers memory. */
typedef int bertd_amx_state; /* nothing: the tiles are the CPU's */
#define AMX_STATE(st) const bertd_amx_state st = 0
#define amx_config(st, cfg)                                                                        \
  do {                                                                                             \
    (void)(st);                                                                                    \
    __asm__ volatile("" ::: "memory");                                                             \
    _tile_loadconfig(cfg);                                                                         \
  } while (0)
#define amx_release(st) ((void)(st), _tile_release())
#define amx_zero(st, t) _tile_zero(t)
#define amx_load(st, t, p, stride) _tile_loadd(t, p, stride)
#define amx_store(st, t, p, stride) _tile_stored(t, p, stride)
#define amx_dpbf16ps(st, c, a, b) _tile_dpbf16ps(c, a, b)
#define amx_dpbusd(st, c, a, b) _tile_dpbusd(c, a, b)

#else /* BERTD_AMX_EMULATED */

#include <math.h>

typedef struct bertd_amx_emu {
  bertd_amx_config cfg;
  int configured; /* a valid palette-1 config is loaded */
  unsigned char t[8][16][64];
} bertd_amx_emu;

typedef bertd_amx_emu *bertd_amx_state;
#define AMX_STATE(st)                                                                              \
  bertd_amx_emu st##_storage;                                                                      \
  bertd_amx_emu *const st = &st##_storage;                                                         \
  st->configured = 0
#define amx_config(st, cfg) amx_emu_config(st, cfg)
#define amx_release(st) amx_emu_release(st)
#define amx_zero(st, t) amx_emu_zero(st, t)
#define amx_load(st, t, p, stride) amx_emu_load(st, t, p, (long)(stride))
#define amx_store(st, t, p, stride) amx_emu_store(st, t, p, (long)(stride))
#define amx_dpbf16ps(st, c, a, b) amx_emu_dpbf16ps(st, c, a, b)
#define amx_dpbusd(st, c, a, b) amx_emu_dpbusd(st, c, a, b)

static inline void amx_emu_poison(bertd_amx_emu *st, int t) {
  memset(st->t[t], 0xff, sizeof st->t[t]);
}

/* tile t is usable: a config is loaded and gives t rows and bytes */
static inline int amx_emu_tile_ok(const bertd_amx_emu *st, int t) {
  return st->configured && t >= 0 && t < 8 && st->cfg.rows[t] > 0 && st->cfg.colsb[t] > 0;
}

/* ldtilecfg: #GP on a palette other than 0 or 1, start_row not 0, a reserved byte set, more
 * than 16 rows or 64 bytes per row, or anything in entries 8..15 (palette 1 has 8 tiles).
 * Palette 0 initialises (releases) the tiles. Loading zeroes every tile. */
static inline void amx_emu_config(bertd_amx_emu *st, const bertd_amx_config *cfg) {
  memcpy(&st->cfg, cfg, sizeof st->cfg);
  memset(st->t, 0, sizeof st->t);
  st->configured = 0;
  if (cfg->palette == 0) return;
  int ok = cfg->palette == 1 && cfg->start_row == 0;
  for (int i = 0; i < 14; i++) ok &= cfg->reserved[i] == 0;
  for (int i = 0; i < 16; i++) {
    if (i < 8) ok &= cfg->rows[i] <= 16 && cfg->colsb[i] <= 64;
    else ok &= cfg->rows[i] == 0 && cfg->colsb[i] == 0;
  }
  if (!ok) {
    for (int t = 0; t < 8; t++) amx_emu_poison(st, t);
    return;
  }
  st->configured = 1;
}

static inline void amx_emu_release(bertd_amx_emu *st) {
  memset(st, 0, sizeof *st);
}

static inline void amx_emu_zero(bertd_amx_emu *st, int t) {
  if (!amx_emu_tile_ok(st, t)) {
    if (t >= 0 && t < 8) amx_emu_poison(st, t);
    return;
  }
  memset(st->t[t], 0, sizeof st->t[t]);
}

/* tileloadd: row r of the tile <- colsb bytes at p + r * stride, for r < rows; the rest of
 * the tile is zero */
static inline void amx_emu_load(bertd_amx_emu *st, int t, const void *p, long stride) {
  if (!amx_emu_tile_ok(st, t)) {
    if (t >= 0 && t < 8) amx_emu_poison(st, t);
    return;
  }
  memset(st->t[t], 0, sizeof st->t[t]);
  for (int r = 0; r < st->cfg.rows[t]; r++)
    memcpy(st->t[t][r], (const unsigned char *)p + (long)r * stride, st->cfg.colsb[t]);
}

/* tilestored: colsb bytes of row r -> p + r * stride, for r < rows; an unusable tile stores
 * 0xff bytes over the shape its config gives, at most 16 rows x 64 bytes (16 x 64 when it
 * gives none) */
static inline void amx_emu_store(bertd_amx_emu *st, int t, void *p, long stride) {
  if (t < 0 || t >= 8) return;
  const int ok = amx_emu_tile_ok(st, t);
  const int rows = st->cfg.rows[t] ? st->cfg.rows[t] : 16;
  const int colsb = st->cfg.colsb[t] ? st->cfg.colsb[t] : 64;
  for (int r = 0; r < rows && r < 16; r++) {
    unsigned char *d = (unsigned char *)p + (long)r * stride;
    if (ok) memcpy(d, st->t[t][r], (size_t)colsb);
    else memset(d, 0xff, (size_t)(colsb <= 64 ? colsb : 64));
  }
}

/* The shape checks tdpbf16ps and tdpbusd make (#UD otherwise): three different configured
 * tiles; c is M x N dwords, a M x K dwords, b K x N dwords. */
static inline int amx_emu_dp_ok(const bertd_amx_emu *st, int c, int a, int b) {
  if (c == a || c == b || a == b) return 0;
  if (!amx_emu_tile_ok(st, c) || !amx_emu_tile_ok(st, a) || !amx_emu_tile_ok(st, b)) return 0;
  const bertd_amx_config *g = &st->cfg;
  return g->colsb[c] % 4 == 0 && g->colsb[a] % 4 == 0 && g->colsb[b] % 4 == 0 &&
         g->rows[c] == g->rows[a] && g->colsb[c] == g->colsb[b] &&
         g->colsb[a] / 4 == g->rows[b];
}

/* DAZ on the way in, FTZ on the way out: a subnormal becomes a zero of the same sign. Not
 * modelled: whether the CPU flushes a result that is tiny before rounding but rounds up to the
 * smallest normal (|x| ~ 1.2e-38), and which NaN payload wins; neither occurs in a model's
 * linear layers. */
static inline float amx_emu_flush(float x) {
  return fpclassify(x) == FP_SUBNORMAL ? copysignf(0.0f, x) : x;
}

static inline float amx_emu_bf16(const unsigned char *p) {
  uint16_t h;
  memcpy(&h, p, sizeof h);
  const uint32_t u = (uint32_t)h << 16;
  float x;
  memcpy(&x, &u, sizeof x);
  return amx_emu_flush(x);
}

/* tdpbf16ps (SDM vol. 2, TDPBF16PS "Operation"): per row m of c, a temporary of two fp32 per
 * output column, zeroed; for each pair k of a's row and each column n, the even products
 * accumulate into temp[2n] and the odd into temp[2n+1], each a fused multiply-add rounded to
 * nearest even once, DAZ and FTZ, MXCSR ignored; then c[m][n] += (temp[2n] + temp[2n+1]), two
 * more roundings. So within one instruction the order is: k ascending, evens and odds apart,
 * then the pair sum, then the accumulator; the AVX512-BF16 kernel instead adds each pair's
 * products straight into its accumulator, which is why the two agree to fp32 rounding, not
 * bit for bit. */
static inline void amx_emu_dpbf16ps(bertd_amx_emu *st, int c, int a, int b) {
  if (!amx_emu_dp_ok(st, c, a, b)) {
    if (c >= 0 && c < 8) amx_emu_poison(st, c);
    return;
  }
  const int M = st->cfg.rows[c], N = st->cfg.colsb[c] / 4, K = st->cfg.colsb[a] / 4;
  for (int m = 0; m < M; m++) {
    float temp[32] = {0};
    for (int k = 0; k < K; k++)
      for (int n = 0; n < N; n++)
        for (int e = 0; e < 2; e++) {
          const float x = amx_emu_bf16(&st->t[a][m][4 * k + 2 * e]);
          const float y = amx_emu_bf16(&st->t[b][k][4 * n + 2 * e]);
          temp[2 * n + e] = amx_emu_flush(fmaf(x, y, temp[2 * n + e]));
        }
    for (int n = 0; n < N; n++) {
      float acc;
      memcpy(&acc, &st->t[c][m][4 * n], sizeof acc);
      const float pair = amx_emu_flush(temp[2 * n] + temp[2 * n + 1]);
      acc = amx_emu_flush(amx_emu_flush(acc) + pair);
      memcpy(&st->t[c][m][4 * n], &acc, sizeof acc);
    }
  }
}

/* tdpbusd (SDM vol. 2, TDPBUSD): c[m][n] += sum over quads k of the four products of a's
 * unsigned bytes with b's signed bytes, in int32 with wrap-around (no saturation): exact
 * integers, whatever the order */
static inline void amx_emu_dpbusd(bertd_amx_emu *st, int c, int a, int b) {
  if (!amx_emu_dp_ok(st, c, a, b)) {
    if (c >= 0 && c < 8) amx_emu_poison(st, c);
    return;
  }
  const int M = st->cfg.rows[c], N = st->cfg.colsb[c] / 4, K = st->cfg.colsb[a] / 4;
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      uint32_t acc;
      memcpy(&acc, &st->t[c][m][4 * n], sizeof acc);
      for (int k = 0; k < K; k++)
        for (int e = 0; e < 4; e++) {
          const int32_t x = st->t[a][m][4 * k + e];
          const int32_t y = (int8_t)st->t[b][k][4 * n + e];
          acc += (uint32_t)(x * y);
        }
      memcpy(&st->t[c][m][4 * n], &acc, sizeof acc);
    }
}

#endif /* BERTD_AMX_EMULATED */

#endif
