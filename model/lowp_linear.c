/* lowp_linear.c: packing, activation rounding / quantisation and kernel choice for the bf16 and
 * int8 linear layers (see lowp.h). The arithmetic lives in the kernels (gemm_*.c). */
#include "lowp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bertd_weights.h"

int bertd_lowp_kernel_select(bertd_precision p, const bertd_cpu_features *f,
                             const bertd_lowp_kernel **out, char *errstr, size_t errstr_size) {
  char have[256];
  bertd_cpu_features_describe(f, have, sizeof have);
  *out = NULL;
  const int avx512 = f->avx512f && f->avx512bw && f->avx512vl;
  char why[256] = "";
  switch (p) {
  case BERTD_PRECISION_BF16:
    /* AMX-BF16 CPUs (Sapphire Rapids and later) also have AVX512-BF16: it runs when the tile
     * permission or the self-check fails */
    if (f->amx_tile && f->amx_bf16 && avx512 &&
        !bertd_lowp_amx_usable(&bertd_kernel_bf16_amx, why, sizeof why))
      *out = &bertd_kernel_bf16_amx;
    else if (f->avx512_bf16 && f->avx512bw && f->avx512vl) *out = &bertd_kernel_bf16_avx512;
    else if (why[0]) /* AMX-BF16 was there but refused, and nothing else runs bf16 */
      return bertd_set_error(errstr, errstr_size,
                             "precision bf16: AMX-BF16 cannot be used (%s) and this CPU has no "
                             "AVX512-BF16; use fp32 or int8", why);
    else
      return bertd_set_error(errstr, errstr_size,
                             "precision bf16: this CPU has neither AMX-BF16 nor AVX512-BF16 "
                             "(it has: %s); use fp32 or int8",
                             have[0] ? have : "none of bertd's");
    break;
  case BERTD_PRECISION_INT8:
    if (f->amx_tile && f->amx_int8 && avx512 &&
        !bertd_lowp_amx_usable(&bertd_kernel_int8_amx, why, sizeof why))
      *out = &bertd_kernel_int8_amx;
    else if (f->avx512_vnni && f->avx512bw && f->avx512vl) *out = &bertd_kernel_int8_avx512vnni;
    else if (f->avx2 && f->fma) /* fma: its quantiser's (quantize_rows.c) */
      *out = &bertd_kernel_int8_avx2;
    else
      return bertd_set_error(errstr, errstr_size,
                             "precision int8: this CPU has neither AVX512-VNNI nor AVX2 with FMA "
                             "(it has: %s); use fp32",
                             have[0] ? have : "none of bertd's");
    break;
  case BERTD_PRECISION_FP32:
    break;
  }
  if (!*out)
    return bertd_set_error(errstr, errstr_size, "precision fp32 has no low-precision kernel");
  /* the CPU has AMX but it may not run: say so once, beside the kernel that runs instead */
  const int amx_offered = p == BERTD_PRECISION_BF16 ? f->amx_tile && f->amx_bf16 && avx512
                                                    : f->amx_tile && f->amx_int8 && avx512;
  if (amx_offered && *out != &bertd_kernel_bf16_amx && *out != &bertd_kernel_int8_amx)
    fprintf(stderr, "bertd: %s; precision %s runs on %s\n", why,
            p == BERTD_PRECISION_BF16 ? "bf16" : "int8", (*out)->name);
  return 0;
}

/* Rounds half to even for |v| < 2^22 without a libm call, so the loop vectorises. */
static inline float round_even(float v) {
  const float magic = 12582912.0f; /* 1.5 * 2^23 */
  return v >= 0.0f ? (v + magic) - magic : (v - magic) + magic;
}

float bertd_quantize_row(const float *x, int n, int8_t *q) {
  return bertd_quantize_row_mul(x, NULL, n, q);
}

float bertd_quantize_row_mul(const float *x, const float *mul, int n, int8_t *q) {
  float amax = 0.0f;
  if (mul) {
    for (int i = 0; i < n; i++) {
      float a = fabsf(x[i] * mul[i]);
      amax = a > amax ? a : amax;
    }
  } else {
    for (int i = 0; i < n; i++) {
      float a = fabsf(x[i]);
      amax = a > amax ? a : amax;
    }
  }
  if (!(amax > 0.0f) || !isfinite(amax)) {
    memset(q, 0, (size_t)n);
    return 0.0f;
  }
  const float inv = 127.0f / amax;
  for (int i = 0; i < n; i++) {
    float v = round_even((mul ? x[i] * mul[i] : x[i]) * inv);
    v = v > 127.0f ? 127.0f : v;
    v = v < -127.0f ? -127.0f : v;
    q[i] = (int8_t)(int)v;
  }
  return amax / 127.0f;
}

static size_t round_up(size_t v, size_t m) { return (v + m - 1) / m * m; }

int bertd_lowp_linear_init(bertd_lowp_linear *l, const bertd_lowp_kernel *k, const float *W,
                           const float *bias, int C, int OC, const float *ln_g,
                           const float *ln_b, char *errstr, size_t errstr_size) {
  memset(l, 0, sizeof(*l));
  l->k = k;
  l->C = C;
  l->OC = OC;
  l->Kp = (int)round_up((size_t)C, (size_t)k->kalign);
  l->bias = bias;
  const size_t P = round_up((size_t)OC, (size_t)k->panel) / (size_t)k->panel;
  const size_t G = (size_t)l->Kp / (size_t)k->group;
  const size_t per_panel = G * (size_t)k->panel * (size_t)k->group; /* elements */
  const size_t esize = k->prec == BERTD_PRECISION_BF16 ? 2 : 1;
  l->w = aligned_alloc(64, round_up(P * per_panel * esize, 64));
  if (!l->w) goto oom;
  memset(l->w, 0, round_up(P * per_panel * esize, 64));
  if (k->prec == BERTD_PRECISION_BF16) {
    uint16_t *w = l->w;
    for (int oc = 0; oc < OC; oc++) {
      const size_t p = (size_t)oc / (size_t)k->panel, j = (size_t)oc % (size_t)k->panel;
      for (int c = 0; c < C; c++) {
        const size_t g = (size_t)c / (size_t)k->group, e = (size_t)c % (size_t)k->group;
        w[p * per_panel + (g * (size_t)k->panel + j) * (size_t)k->group + e] =
            bertd_bf16_from_float(W[(size_t)oc * C + c]);
      }
    }
    return 0;
  }
  int8_t *w = l->w;
  int8_t *row = malloc((size_t)C);
  float *smooth = ln_g ? malloc(sizeof(float) * (size_t)C) : NULL;
  l->a_mul = ln_g ? malloc(sizeof(float) * (size_t)C) : NULL;
  l->w_scale = malloc(sizeof(float) * (size_t)OC);
  l->w_corr = k->act_offset ? malloc(sizeof(int32_t) * (size_t)OC) : NULL;
  if (!row || !l->w_scale || (k->act_offset && !l->w_corr) || (ln_g && (!smooth || !l->a_mul))) {
    free(row);
    free(smooth);
    goto oom;
  }
  if (ln_g) {
    for (int c = 0; c < C; c++) {
      float wmax = 0.0f;
      for (int oc = 0; oc < OC; oc++) wmax = fmaxf(wmax, fabsf(W[(size_t)oc * C + c]));
      const float xmax = 4.0f * fabsf(ln_g[c]) + (ln_b ? fabsf(ln_b[c]) : 0.0f);
      const float sc = xmax > 0.0f && wmax > 0.0f ? sqrtf(xmax / wmax) : 1.0f;
      smooth[c] = sc;
      l->a_mul[c] = 1.0f / sc;
    }
  }
  for (int oc = 0; oc < OC; oc++) {
    const float *wr = W + (size_t)oc * C;
    l->w_scale[oc] = bertd_quantize_row_mul(wr, smooth, C, row); /* W[oc][c] * s_c */
    int32_t sum = 0;
    const size_t p = (size_t)oc / (size_t)k->panel, j = (size_t)oc % (size_t)k->panel;
    for (int c = 0; c < C; c++) {
      const size_t g = (size_t)c / (size_t)k->group, e = (size_t)c % (size_t)k->group;
      w[p * per_panel + (g * (size_t)k->panel + j) * (size_t)k->group + e] = row[c];
      sum += row[c];
    }
    if (l->w_corr) l->w_corr[oc] = 128 * sum;
  }
  free(row);
  free(smooth);
  return 0;
oom:
  bertd_lowp_linear_free(l);
  return bertd_set_error(errstr, errstr_size, "%s: out of memory packing a %dx%d layer",
                         k->name, OC, C);
}

void bertd_lowp_linear_free(bertd_lowp_linear *l) {
  free(l->w);
  free(l->a_mul);
  free(l->w_scale);
  free(l->w_corr);
  memset(l, 0, sizeof(*l));
}

size_t bertd_lowp_linear_bytes(const bertd_lowp_linear *l) {
  if (!l->k) return 0;
  const size_t P = round_up((size_t)l->OC, (size_t)l->k->panel);
  const size_t esize = l->k->prec == BERTD_PRECISION_BF16 ? 2 : 1;
  size_t b = P * (size_t)l->Kp * esize;
  if (l->w_scale) b += sizeof(float) * (size_t)l->OC;
  if (l->w_corr) b += sizeof(int32_t) * (size_t)l->OC;
  return b;
}

/* No kernel's mr or kalign exceeds these: the scratch has room for N rounded up to any mr and
 * Cmax rounded up to any kalign. */
enum { MR_MAX = 16, KALIGN_MAX = 64 };
static size_t scratch_rows(int N) { return (size_t)N + MR_MAX; }

size_t bertd_lowp_scratch_bytes(int N, int Cmax) {
  const size_t Np = scratch_rows(N), Kp = round_up((size_t)Cmax, KALIGN_MAX);
  /* scales (Np floats), then activations (Np,Kp) of at most 2 bytes each */
  return round_up(Np * sizeof(float), 64) + round_up(Np * Kp * 2, 64);
}

void bertd_lowp_linear_forward(const bertd_lowp_linear *l, float *out, const float *inp, int N,
                               int accumulate, void *scratch) {
  bertd_lowp_gemm_args g;
  bertd_lowp_prepare(l, &g, out, l->OC, inp, N, accumulate, scratch);
  l->k->gemm(&g, 0, bertd_lowp_panels(l));
}

void bertd_lowp_prepare(const bertd_lowp_linear *l, bertd_lowp_gemm_args *gp, float *out,
                        int ldo, const float *inp, int N, int accumulate, void *scratch) {
  const bertd_lowp_kernel *k = l->k;
  const int C = l->C, Kp = l->Kp;
  const int Np = (int)round_up((size_t)N, (size_t)k->mr);
  float *a_scale = scratch;
  unsigned char *a = (unsigned char *)scratch + round_up(scratch_rows(N) * sizeof(float), 64);
  *gp = (bertd_lowp_gemm_args){.a = a, .a_scale = a_scale, .N = N, .Np = Np, .Kp = Kp,
                               .w = l->w, .w_scale = l->w_scale, .w_corr = l->w_corr,
                               .OC = l->OC, .bias = l->bias, .out = out, .ldo = ldo,
                               .accumulate = accumulate};
  if (k->prec == BERTD_PRECISION_BF16) {
    uint16_t *a16 = (uint16_t *)a;
    k->to_bf16(inp, N, C, a16, Kp);
    memset(a16 + (size_t)N * Kp, 0, sizeof(uint16_t) * (size_t)(Np - N) * Kp);
  } else {
    /* per token: int8 with its own scale; +128 (xor 0x80) for vpdpbusd's unsigned operand.
     * Padding (columns C..Kp, rows N..Np) is the encoding of 0. */
    const unsigned char zero = k->act_offset ? 0x80 : 0;
    /* the kernel's vector quantiser (quantize_rows.c: the same bytes as the scalar one) */
    float (*vq)(const float *, const float *, int, unsigned char *, int) = k->quantize;
    for (int n = 0; n < N; n++) {
      unsigned char *row = a + (size_t)n * Kp;
      if (vq) {
        a_scale[n] = vq(inp + (size_t)n * C, l->a_mul, C, row, k->act_offset);
      } else {
        a_scale[n] = bertd_quantize_row_mul(inp + (size_t)n * C, l->a_mul, C, (int8_t *)row);
        if (k->act_offset)
          for (int c = 0; c < C; c++) row[c] ^= 0x80;
      }
      memset(row + C, zero, (size_t)(Kp - C));
    }
    memset(a + (size_t)N * Kp, zero, (size_t)(Np - N) * Kp);
  }
}

int bertd_lowp_model_alloc(int L, const bertd_lowp_kernel *k, bertd_lowp_model **out,
                           char *errstr, size_t errstr_size) {
  *out = NULL;
  bertd_lowp_model *m = calloc(1, sizeof(*m));
  if (!m || !(m->layers = calloc((size_t)(L > 0 ? L : 1), sizeof(bertd_lowp_layer)))) {
    free(m);
    return bertd_set_error(errstr, errstr_size, "%s: out of memory", k->name);
  }
  m->kernel = k;
  m->L = L;
  *out = m;
  return 0;
}

int bertd_lowp_layer_pack(bertd_lowp_model *m, const bertd_checkpoint_config *cfg,
                          const bertd_weights *w, int i, char *errstr, size_t errstr_size) {
  const int H = cfg->hidden_size, I = cfg->intermediate_size;
  const bertd_lowp_kernel *k = m->kernel;
  const bertd_layer_weights *lw = &w->layers[i];
  bertd_lowp_layer *ll = &m->layers[i];
  /* q, k, v read the previous LayerNorm's output (the embeddings' for layer 0), the
   * feed-forward's first layer this layer's attention LayerNorm's: int8 smooths them */
  const int smooth = k->prec == BERTD_PRECISION_INT8;
  const float *g_in = !smooth ? NULL : i ? w->layers[i - 1].ln2_g : w->emb_ln_g;
  const float *b_in = !smooth ? NULL : i ? w->layers[i - 1].ln2_b : w->emb_ln_b;
  const float *g_mid = smooth ? lw->ln1_g : NULL, *b_mid = smooth ? lw->ln1_b : NULL;
  if (bertd_lowp_linear_init(&ll->q, k, lw->q_w, lw->q_b, H, H, g_in, b_in, errstr,
                             errstr_size) ||
      bertd_lowp_linear_init(&ll->k, k, lw->k_w, lw->k_b, H, H, g_in, b_in, errstr,
                             errstr_size) ||
      bertd_lowp_linear_init(&ll->v, k, lw->v_w, lw->v_b, H, H, g_in, b_in, errstr,
                             errstr_size) ||
      bertd_lowp_linear_init(&ll->attn_out, k, lw->attn_out_w, lw->attn_out_b, H, H, NULL,
                             NULL, errstr, errstr_size) ||
      bertd_lowp_linear_init(&ll->inter, k, lw->inter_w, lw->inter_b, H, I, g_mid, b_mid,
                             errstr, errstr_size) ||
      bertd_lowp_linear_init(&ll->out, k, lw->out_w, lw->out_b, I, H, NULL, NULL, errstr,
                             errstr_size))
    return -1;
  const bertd_lowp_linear *all[6] = {&ll->q, &ll->k, &ll->v, &ll->attn_out, &ll->inter, &ll->out};
  for (int j = 0; j < 6; j++) m->bytes += bertd_lowp_linear_bytes(all[j]);
  return 0;
}

int bertd_lowp_model_create(const bertd_checkpoint_config *cfg, const bertd_weights *w,
                            const bertd_lowp_kernel *k, bertd_lowp_model **out, char *errstr,
                            size_t errstr_size) {
  bertd_lowp_model *m;
  if (bertd_lowp_model_alloc(cfg->num_hidden_layers, k, &m, errstr, errstr_size)) return -1;
  for (int i = 0; i < cfg->num_hidden_layers; i++)
    if (bertd_lowp_layer_pack(m, cfg, w, i, errstr, errstr_size)) {
      bertd_lowp_model_free(m);
      return -1;
    }
  *out = m;
  return 0;
}

void bertd_lowp_model_free(bertd_lowp_model *m) {
  if (!m) return;
  for (int i = 0; i < m->L && m->layers; i++) {
    bertd_lowp_layer *ll = &m->layers[i];
    bertd_lowp_linear_free(&ll->q);
    bertd_lowp_linear_free(&ll->k);
    bertd_lowp_linear_free(&ll->v);
    bertd_lowp_linear_free(&ll->attn_out);
    bertd_lowp_linear_free(&ll->inter);
    bertd_lowp_linear_free(&ll->out);
  }
  free(m->layers);
  free(m);
}
