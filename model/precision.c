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
  bertd_lowp_model_free(m->lowp);
  m->lowp = lp;
  m->precision = p;
  return 0;
}

bertd_precision bertd_model_precision(const bertd_model *m) { return m->precision; }

const char *bertd_model_kernel(const bertd_model *m) {
  return m->lowp ? m->lowp->kernel->name : "fp32 openblas";
}

size_t bertd_model_lowp_bytes(const bertd_model *m) { return m->lowp ? m->lowp->bytes : 0; }
