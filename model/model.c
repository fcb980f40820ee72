/* model.c: a checkpoint directory -> config, weights and tokenizer in one handle. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void name_from_dir(const char *dir, char *name, size_t size) {
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') n--; /* "models/x/" names x */
  size_t s = n;
  while (s > 0 && dir[s - 1] != '/') s--;
  snprintf(name, size, "%.*s", (int)(n - s), dir + s);
}

/* FNV-1a 64 over the parameters as loaded: the same weights give the same checksum whatever the
 * file layout (F16 or F32 file, sharded or not), and a changed weight changes it. */
static void weights_checksum(const bertd_weights *w, char out[17]) {
  uint64_t h = 0xcbf29ce484222325ULL;
  const unsigned char *p = (const unsigned char *)w->memory;
  size_t n = w->num_floats * sizeof(float);
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* Packs the encoder's weights once for the best fp32 kernel this CPU runs (gemm.h), unless
 * BERTD_GEMM=blas keeps OpenBLAS on the unpacked weights (for comparing the two). */
int bertd_model_pack_encoder(bertd_model *m, char *errstr, size_t errstr_size) {
  const char *choice = getenv("BERTD_GEMM");
  if (choice && !strcmp(choice, "blas")) return 0;
  return bertd_packed_encoder_build(&m->pe, bertd_gemm_best(), &m->cfg, &m->w, errstr,
                                    errstr_size);
}

/* Heads present in the weights; classify/tag also depend on the architecture (below). */
static unsigned tasks_of(const bertd_weights *w) {
  unsigned t = BERTD_TASK_EMBED;
  if (w->qa_w) t |= BERTD_TASK_QA;
  if (w->mlm_dense_w) t |= BERTD_TASK_FILL_MASK;
  if (w->nsp_w && w->pooler_w) t |= BERTD_TASK_NSP;
  if (w->intent_w && w->slot_w && w->pooler_w) t |= BERTD_TASK_JOINT;
  return t;
}

int bertd_model_load(const char *dir, bertd_model **out, char *errstr, size_t errstr_size) {
  return bertd_model_load_precision(dir, BERTD_PRECISION_FP32, out, errstr, errstr_size);
}

int bertd_model_load_precision(const char *dir, bertd_precision precision, bertd_model **out,
                               char *errstr, size_t errstr_size) {
  *out = NULL;
  bertd_model *m = calloc(1, sizeof(*m));
  if (!m) {
    snprintf(errstr, errstr_size, "%s: out of memory", dir);
    return -1;
  }
  if (bertd_config_load(dir, &m->cfg, errstr, errstr_size)) {
    free(m);
    return -1;
  }
  if (bertd_weights_load(dir, &m->cfg, &m->w, errstr, errstr_size)) {
    bertd_config_free(&m->cfg);
    free(m);
    return -1;
  }
  /* of the weights as loaded, before any precision releases part of them */
  weights_checksum(&m->w, m->checksum);
  if (bertd_tokenizer_from_config(dir, &m->cfg, &m->tok, errstr, errstr_size)) {
    bertd_weights_free(&m->w);
    bertd_config_free(&m->cfg);
    free(m);
    return -1;
  }
  /* bf16 / int8: packed from the loaded fp32 once (no fp32 panels on the way), whose encoder
   * matrices are then released (precision.c) */
  if (precision == BERTD_PRECISION_FP32 ? bertd_model_pack_encoder(m, errstr, errstr_size)
                                        : bertd_model_set_precision(m, precision, errstr,
                                                                    errstr_size)) {
    bertd_lowp_model_free(m->lowp);
    bertd_tokenizer_free(m->tok);
    bertd_weights_free(&m->w);
    bertd_config_free(&m->cfg);
    free(m);
    return -1;
  }
  m->tasks = tasks_of(&m->w);
  if (m->w.cls_w && m->cfg.arch == BERTD_ARCH_SEQ_CLS && m->w.pooler_w)
    m->tasks |= BERTD_TASK_CLASSIFY;
  if (m->w.cls_w && m->cfg.arch == BERTD_ARCH_TOKEN_CLS) m->tasks |= BERTD_TASK_TAG;
  name_from_dir(dir, m->name, sizeof(m->name));
  if (m->lowp) bertd_model_release_fp32(m);
  *out = m;
  return 0;
}

int bertd_model_random(int layers, int hidden, int heads, int intermediate, uint64_t seed,
                       bertd_model **out, char *errstr, size_t errstr_size) {
  *out = NULL;
  if (layers < 1 || hidden < 1 || heads < 1 || hidden % heads || intermediate < 1) {
    snprintf(errstr, errstr_size, "random model: bad shape %d layers, hidden %d, %d heads", layers,
             hidden, heads);
    return -1;
  }
  bertd_model *m = calloc(1, sizeof(*m));
  if (!m) {
    snprintf(errstr, errstr_size, "random model: out of memory");
    return -1;
  }
  m->cfg = (bertd_checkpoint_config){.vocab_size = 30522, .hidden_size = hidden,
                          .num_hidden_layers = layers, .num_attention_heads = heads,
                          .intermediate_size = intermediate, .hidden_act = BERTD_ACT_GELU,
                          .max_position_embeddings = 512, .type_vocab_size = 2,
                          .layer_norm_eps = 1e-12f, .arch = BERTD_ARCH_BASE};
  if (bertd_weights_alloc(&m->cfg, &m->w, errstr, errstr_size)) {
    free(m);
    return -1;
  }
  uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1; /* xorshift64*: reproducible, no global state */
  for (size_t i = 0; i < m->w.num_floats; i++) {
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    m->w.memory[i] = (float)((x * 0x2545F4914F6CDD1DULL) >> 40) / 16777216.0f * 0.1f - 0.05f;
  }
  if (bertd_model_pack_encoder(m, errstr, errstr_size)) {
    bertd_weights_free(&m->w);
    free(m);
    return -1;
  }
  m->tasks = BERTD_TASK_EMBED;
  snprintf(m->name, sizeof m->name, "random-%dx%d", layers, hidden);
  weights_checksum(&m->w, m->checksum);
  *out = m;
  return 0;
}

void bertd_model_free(bertd_model *m) {
  if (!m) return;
  bertd_lowp_model_free(m->lowp);
  bertd_tokenizer_free(m->tok);
  bertd_packed_encoder_free(&m->pe);
  bertd_weights_free(&m->w);
  bertd_config_free(&m->cfg);
  free(m);
}

const char *bertd_model_kernel(const bertd_model *m) {
  if (m->lowp) return m->lowp->kernel->name; /* "bf16 avx512-bf16", "int8 avx2", ... */
  return m->pe.layers ? m->pe.kern->name : "openblas";
}

const bertd_checkpoint_config *bertd_model_config(const bertd_model *m) { return &m->cfg; }
const bertd_tokenizer *bertd_model_tokenizer(const bertd_model *m) { return m->tok; }
unsigned bertd_model_tasks(const bertd_model *m) { return m->tasks; }
const char *bertd_model_name(const bertd_model *m) { return m->name; }
const char *bertd_model_checksum(const bertd_model *m) { return m->checksum; }
const struct bertd_weights *bertd_model_weights(const bertd_model *m) { return &m->w; }

int bertd_model_max_length(const bertd_model *m) {
  int n = m->cfg.model_max_length;
  if (m->cfg.st_max_seq_length > 0 && m->cfg.st_max_seq_length < n) n = m->cfg.st_max_seq_length;
  if (n <= 0 || n > m->cfg.max_position_embeddings) n = m->cfg.max_position_embeddings;
  return n;
}
