/* model.c: a checkpoint directory -> config, weights and tokenizer in one handle. */
#include "model.h"

#include "cpu_features.h"

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
 * file layout (F16 or F32 file, sharded or not), and a changed weight changes it. A checkpoint
 * load computes the same sum while it reads (bertd_weights_load_opts.checksum). */
void bertd_model_weights_checksum(const bertd_weights *w, char out[17]) {
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

/* bertd_weights_load_ex's layer callback: layer l into the fp32 kernel's panels or the bf16 /
 * int8 copy, then its fp32 matrices given back, so the load holds the packed layers plus one
 * layer in fp32, never two copies of the encoder. */
static int pack_loaded_layer(void *arg, int l, char *errstr, size_t errstr_size) {
  bertd_model *m = arg;
  if (m->lowp ? bertd_lowp_layer_pack(m->lowp, &m->cfg, &m->w, l, errstr, errstr_size)
              : bertd_packed_encoder_pack_layer(&m->pe, &m->cfg, l, &m->w.layers[l], errstr,
                                                errstr_size))
    return -1;
  bertd_weights_release_dense(&m->w, l);
  return 0;
}

/* The bf16 / int8 kernel this CPU runs for precision p, and room for the packed layers. */
static int lowp_begin(bertd_model *m, bertd_precision p, char *errstr, size_t errstr_size) {
  if ((unsigned)p > BERTD_PRECISION_INT8)
    return bertd_set_error(errstr, errstr_size, "precision %d unknown", (int)p);
  bertd_cpu_features f;
  bertd_cpu_features_detect(&f);
  const bertd_lowp_kernel *k;
  if (bertd_lowp_kernel_select(p, &f, &k, errstr, errstr_size) ||
      bertd_lowp_model_alloc(m->cfg.num_hidden_layers, k, &m->lowp, errstr, errstr_size))
    return -1;
  /* bf16 and int8 run attention's two products in bf16 where the CPU multiplies bf16 pairs
   * (every AMX CPU does): bf16 every sequence's, int8 those of sequences over 16 tokens.
   * MiniLM's 1,047 parity texts against sentence-transformers fp32: bf16 worst 0.999957
   * either way; int8 worst 0.991057 with fp32 attention and with bf16 over 16 tokens (worst
   * of the texts over 16 tokens 0.993826 and 0.994409), but 0.9896 with bf16 attention on
   * every text (a 12-token one), under int8's 0.99 bound. */
  const int bf16_units = f.avx512f && f.avx512bw && f.avx512vl && f.avx512_bf16;
  m->lowp->attn_head = bertd_attention_head_select(
      bertd_gemm_best(),
      !bf16_units ? BERTD_ATTN_FP32
      : p == BERTD_PRECISION_BF16 ? BERTD_ATTN_BF16 : BERTD_ATTN_BF16_LONG,
      m->cfg.hidden_size / m->cfg.num_attention_heads);
  return 0;
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
  /* Each encoder layer is packed as it is read -- for the fp32 kernel, or in bf16 / int8
   * straight from the fp32 (no fp32 panels on the way) -- and its fp32 matrices released;
   * BERTD_GEMM=blas in fp32 keeps them instead (OpenBLAS reads them at every call). Every load
   * reads the word embeddings row by row as ids first appear, when it can
   * (bertd_weights_load_opts). */
  const char *choice = getenv("BERTD_GEMM");
  const int lowp = precision != BERTD_PRECISION_FP32;
  const int pack = lowp || !(choice && !strcmp(choice, "blas"));
  uint64_t h = 0;
  bertd_weights_load_opts lo = {.lazy_word_embeddings = 1, .checksum = &h};
  if (pack) {
    lo.layer_loaded = pack_loaded_layer;
    lo.arg = m;
  }
  if ((lowp ? lowp_begin(m, precision, errstr, errstr_size)
            : pack && bertd_packed_encoder_init(&m->pe, bertd_gemm_best(),
                                                m->cfg.num_hidden_layers, errstr, errstr_size)) ||
      bertd_weights_load_ex(dir, &m->cfg, &lo, &m->w, errstr, errstr_size)) {
    bertd_lowp_model_free(m->lowp);
    bertd_packed_encoder_free(&m->pe);
    bertd_config_free(&m->cfg);
    free(m);
    return -1;
  }
/* of the weights as loaded, before any precision releases part of them */
  snprintf(m->checksum, sizeof m->checksum, "%016llx", (unsigned long long)h);
  if (bertd_tokenizer_from_config(dir, &m->cfg, &m->tok, errstr, errstr_size) ||
      (pack && !lowp &&
       bertd_packed_encoder_pack_pooler(&m->pe, &m->cfg, &m->w, errstr, errstr_size))) {
    bertd_lowp_model_free(m->lowp);
    bertd_tokenizer_free(m->tok);
    bertd_packed_encoder_free(&m->pe);
    bertd_weights_free(&m->w);
    bertd_config_free(&m->cfg);
    free(m);
    return -1;
  }
  m->precision = precision;
  m->fp32_released = pack;
  m->tasks = tasks_of(&m->w);
  if (m->w.cls_w && m->cfg.arch == BERTD_ARCH_SEQ_CLS && m->w.pooler_w)
    m->tasks |= BERTD_TASK_CLASSIFY;
  if (m->w.cls_w && m->cfg.arch == BERTD_ARCH_TOKEN_CLS) m->tasks |= BERTD_TASK_TAG;
  name_from_dir(dir, m->name, sizeof(m->name));
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

const char *bertd_model_attention(const bertd_model *m) {
  if (m->lowp) return bertd_attention_head_name(m->lowp->attn_head);
  if (!m->pe.layers) return "openblas";
  return bertd_attention_head_name(bertd_attention_head_select(
      m->pe.kern, BERTD_ATTN_FP32, m->cfg.hidden_size / m->cfg.num_attention_heads));
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
