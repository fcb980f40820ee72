/* precision.c: a model's precision (fp32, bf16, int8) and the kernel that runs it. */
#include <string.h>

#include "cpu_features.h"
#include "lowp.h"
#include "model.h"

static const char *const names[] = {"fp32", "bf16", "int8"};

int bertd_precision_parse(const char *name, bertd_precision *out) {
  for (int i = 0; i < 3; i++)
    if (!strcmp(name, names[i])) {
      *out = (bertd_precision)i;
      return 0;
    }
  return -1;
}

const char *bertd_precision_name(bertd_precision p) {
  return (unsigned)p < 3 ? names[p] : "?";
}

int bertd_model_set_precision(bertd_model *m, bertd_precision p, char *errstr,
                              size_t errstr_size) {
  if (p == m->precision) return 0;
  if (m->fp32_released)
    return bertd_set_error(errstr, errstr_size,
                           "precision %s: this model was loaded in %s and holds no fp32 copy of "
                           "its encoder (packed at load); load it again in %s",
                           bertd_precision_name(p), bertd_precision_name(m->precision),
                           bertd_precision_name(p));
  bertd_lowp_model *lp = NULL;
  if (p != BERTD_PRECISION_FP32) {
    if ((unsigned)p > BERTD_PRECISION_INT8)
      return bertd_set_error(errstr, errstr_size, "precision %d unknown", (int)p);
    bertd_cpu_features f;
    bertd_cpu_features_detect(&f);
    const bertd_lowp_kernel *k;
    if (bertd_lowp_kernel_select(p, &f, &k, errstr, errstr_size) ||
        bertd_lowp_model_create(&m->cfg, &m->w, k, &lp, errstr, errstr_size))
      return -1;
  }
  if (p == BERTD_PRECISION_FP32) {
    if (bertd_model_pack_encoder(m, errstr, errstr_size)) return -1;
  } else {
    /* the bf16 / int8 copy replaces the fp32 panels: one packed copy of the weights held */
    bertd_packed_encoder_free(&m->pe);
    memset(&m->pe, 0, sizeof m->pe);
  }
  bertd_lowp_model_free(m->lowp);
  m->lowp = lp;
  m->precision = p;
  return 0;
}

int bertd_precision_check(bertd_precision p, char *errstr, size_t errstr_size) {
  if (p == BERTD_PRECISION_FP32) return 0;
  bertd_cpu_features f;
  bertd_cpu_features_detect(&f);
  const bertd_lowp_kernel *k;
  return bertd_lowp_kernel_select(p, &f, &k, errstr, errstr_size);
}

bertd_precision bertd_model_precision(const bertd_model *m) { return m->precision; }

size_t bertd_model_lowp_bytes(const bertd_model *m) { return m->lowp ? m->lowp->bytes : 0; }
