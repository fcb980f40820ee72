/* encoder_packed.h: an inference model's encoder weights packed once, at load, into the fp32
 * kernel's panels (gemm.h): per layer q, k and v as one (3H,H) product, the attention output
 * (H,H), the feed-forward in (I,H) and out (H,I); and the pooler (H,H). With every dense layer
 * packed, inference never calls OpenBLAS, whose own threads would otherwise wake (and spin)
 * beside the encoder's. Training never uses these (its weights move
 * every step); the encoder's OpenBLAS path serves it. */
#ifndef BERTD_ENCODER_PACKED_H
#define BERTD_ENCODER_PACKED_H

#include <stddef.h>

#include "bertd_checkpoint.h"
#include "bertd_weights.h"
#include "gemm.h"

typedef struct bertd_packed_layer {
  bertd_packed qkv;      /* (3H,H): rows q, then k, then v; bias the three biases */
  bertd_packed attn_out; /* (H,H) */
  bertd_packed inter;    /* (I,H) */
  bertd_packed out;      /* (H,I) */
} bertd_packed_layer;

typedef struct bertd_packed_encoder {
  const bertd_gemm_kernel *kern;
  int L;
  bertd_packed_layer *layers; /* (L) */
  bertd_packed pooler;        /* (H,H); data NULL when the checkpoint has no pooler */
} bertd_packed_encoder;

/* Packs every layer of w for kern. -1 with a message when out of memory. */
int bertd_packed_encoder_build(bertd_packed_encoder *pe, const bertd_gemm_kernel *kern,
                               const bertd_checkpoint_config *cfg, const bertd_weights *w,
                               char *errstr, size_t errstr_size);
/* The same in steps, for a load that packs each layer as soon as it is read (model.c): init
 * (room for L layers), then each layer, then the pooler (none when w has no pooler). */
int bertd_packed_encoder_init(bertd_packed_encoder *pe, const bertd_gemm_kernel *kern, int L,
                              char *errstr, size_t errstr_size);
int bertd_packed_encoder_pack_layer(bertd_packed_encoder *pe, const bertd_checkpoint_config *cfg,
                                    int l, const bertd_layer_weights *lw, char *errstr,
                                    size_t errstr_size);
int bertd_packed_encoder_pack_pooler(bertd_packed_encoder *pe, const bertd_checkpoint_config *cfg,
                                     const bertd_weights *w, char *errstr, size_t errstr_size);
void bertd_packed_encoder_free(bertd_packed_encoder *pe);

#endif
