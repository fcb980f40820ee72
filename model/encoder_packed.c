/* encoder_packed.c: packs an inference model's encoder weights once (encoder_packed.h). */
#include "encoder_packed.h"

#include "bertd.h"

#include <stdlib.h>
#include <string.h>

int bertd_packed_encoder_init(bertd_packed_encoder *pe, const bertd_gemm_kernel *kern, int L,
                              char *errstr, size_t errstr_size) {
  memset(pe, 0, sizeof(*pe));
  pe->layers = calloc((size_t)(L > 0 ? L : 1), sizeof(*pe->layers));
  if (!pe->layers) {
    bertd_set_error(errstr, errstr_size, "gemm: out of memory for %d packed layers", L);
    return -1;
  }
  pe->kern = kern;
  pe->L = L;
  return 0;
}

int bertd_packed_encoder_pack_layer(bertd_packed_encoder *pe, const bertd_checkpoint_config *cfg,
                                    int l, const bertd_layer_weights *lw, char *errstr,
                                    size_t errstr_size) {
  const int H = cfg->hidden_size, I = cfg->intermediate_size;
  const bertd_gemm_kernel *kern = pe->kern;
  bertd_packed_layer *pl = &pe->layers[l];
  const float *qkv_w[3] = {lw->q_w, lw->k_w, lw->v_w};
  const float *qkv_b[3] = {lw->q_b, lw->k_b, lw->v_b};
  const int qkv_n[3] = {H, H, H};
  return bertd_gemm_pack_concat(&pl->qkv, kern, 3, qkv_w, qkv_b, qkv_n, H, errstr, errstr_size) ||
         bertd_gemm_pack(&pl->attn_out, kern, lw->attn_out_w, lw->attn_out_b, H, H, errstr,
                         errstr_size) ||
         bertd_gemm_pack(&pl->inter, kern, lw->inter_w, lw->inter_b, I, H, errstr, errstr_size) ||
         bertd_gemm_pack(&pl->out, kern, lw->out_w, lw->out_b, H, I, errstr, errstr_size)
             ? -1
             : 0;
}

int bertd_packed_encoder_pack_pooler(bertd_packed_encoder *pe, const bertd_checkpoint_config *cfg,
                                     const bertd_weights *w, char *errstr, size_t errstr_size) {
  const int H = cfg->hidden_size;
  if (!w->pooler_w) return 0;
  return bertd_gemm_pack(&pe->pooler, pe->kern, w->pooler_w, w->pooler_b, H, H, errstr,
                         errstr_size);
}

int bertd_packed_encoder_build(bertd_packed_encoder *pe, const bertd_gemm_kernel *kern,
                               const bertd_checkpoint_config *cfg, const bertd_weights *w,
                               char *errstr, size_t errstr_size) {
  if (bertd_packed_encoder_init(pe, kern, cfg->num_hidden_layers, errstr, errstr_size)) return -1;
  for (int l = 0; l < cfg->num_hidden_layers; l++)
    if (bertd_packed_encoder_pack_layer(pe, cfg, l, &w->layers[l], errstr, errstr_size)) {
      bertd_packed_encoder_free(pe);
      return -1;
    }
  if (bertd_packed_encoder_pack_pooler(pe, cfg, w, errstr, errstr_size)) {
    bertd_packed_encoder_free(pe);
    return -1;
  }
  return 0;
}

void bertd_packed_encoder_free(bertd_packed_encoder *pe) {
  if (!pe->layers) return;
  for (int l = 0; l < pe->L; l++) {
    bertd_gemm_packed_free(&pe->layers[l].qkv);
    bertd_gemm_packed_free(&pe->layers[l].attn_out);
    bertd_gemm_packed_free(&pe->layers[l].inter);
    bertd_gemm_packed_free(&pe->layers[l].out);
  }
  free(pe->layers);
  bertd_gemm_packed_free(&pe->pooler);
  memset(pe, 0, sizeof(*pe));
}
