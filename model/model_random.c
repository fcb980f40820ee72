/* model_random.c: BERT-shaped models with seeded random weights, for benchmarks of shapes no
 * checkpoint at hand has (BERT-base): in memory (bertd_model_random), or written as a checkpoint
 * directory (bertd_model_random_save) that bertd_model_load then reads like any other, so a
 * benchmark measures the real load path and memory. Both draw the same values. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"
#include "weights_internal.h"

/* xorshift64*: reproducible, no global state; values uniform in [-0.05, 0.05). */
static uint64_t random_start(uint64_t seed) { return seed * 0x9E3779B97F4A7C15ULL + 1; }

static void random_fill(void *arg, float *out, size_t n) {
  uint64_t x = *(uint64_t *)arg;
  for (size_t i = 0; i < n; i++) {
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    out[i] = (float)((x * 0x2545F4914F6CDD1DULL) >> 40) / 16777216.0f * 0.1f - 0.05f;
  }
  *(uint64_t *)arg = x;
}

/* The config both build: BertModel, BERT's vocabulary and position sizes. */
static int random_config(int layers, int hidden, int heads, int intermediate,
                         bertd_checkpoint_config *cfg, char *errstr, size_t errstr_size) {
  if (layers < 1 || hidden < 1 || heads < 1 || hidden % heads || intermediate < 1)
    return bertd_set_error(errstr, errstr_size,
                           "random model: bad shape %d layers, hidden %d, %d heads", layers,
                           hidden, heads);
  *cfg = (bertd_checkpoint_config){.vocab_size = 30522, .hidden_size = hidden,
                          .num_hidden_layers = layers, .num_attention_heads = heads,
                          .intermediate_size = intermediate, .hidden_act = BERTD_ACT_GELU,
                          .max_position_embeddings = 512, .type_vocab_size = 2,
                          .layer_norm_eps = 1e-12f, .arch = BERTD_ARCH_BASE};
  return 0;
}

int bertd_model_random(int layers, int hidden, int heads, int intermediate, uint64_t seed,
                       bertd_model **out, char *errstr, size_t errstr_size) {
  *out = NULL;
  bertd_checkpoint_config cfg;
  if (random_config(layers, hidden, heads, intermediate, &cfg, errstr, errstr_size)) return -1;
  bertd_model *m = calloc(1, sizeof(*m));
  if (!m) {
    snprintf(errstr, errstr_size, "random model: out of memory");
    return -1;
  }
  m->cfg = cfg;
  if (bertd_weights_alloc(&m->cfg, &m->w, errstr, errstr_size)) {
    free(m);
    return -1;
  }
  uint64_t x = random_start(seed);
  random_fill(&x, m->w.memory, m->w.num_floats);
  if (bertd_model_pack_encoder(m, errstr, errstr_size)) {
    bertd_weights_free(&m->w);
    free(m);
    return -1;
  }
  m->tasks = BERTD_TASK_EMBED;
  snprintf(m->name, sizeof m->name, "random-%dx%d", layers, hidden);
  bertd_model_weights_checksum(&m->w, m->checksum);
  *out = m;
  return 0;
}

/* BERT's vocabulary layout with placeholder words: [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102,
 * [MASK] 103, "[unusedN]" everywhere else. */
static int write_vocab(const char *dir, int V, char *errstr, size_t errstr_size) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/vocab.txt", dir) >= (int)sizeof path)
    return bertd_set_error(errstr, errstr_size, "%s: path too long", dir);
  FILE *f = fopen(path, "w");
  if (!f) return bertd_set_error(errstr, errstr_size, "%s: %s", path, strerror(errno));
  static const char *const special[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (int i = 0, unused = 0; i < V; i++) {
    const int s = i == 0 ? 0 : i >= 100 && i <= 103 ? i - 99 : -1;
    if (s >= 0) fprintf(f, "%s\n", special[s]);
    else fprintf(f, "[unused%d]\n", unused++);
  }
  if (fclose(f) != 0) return bertd_set_error(errstr, errstr_size, "%s: write failed", path);
  return 0;
}

int bertd_model_random_save(const char *dir, int layers, int hidden, int heads, int intermediate,
                            uint64_t seed, char *errstr, size_t errstr_size) {
  bertd_checkpoint_config cfg;
  if (bertd_config_defaults(&cfg, errstr, errstr_size)) return -1;
  bertd_checkpoint_config shape = {0}; /* random_config fills it; zeroed so -O3 sees it set */
  if (random_config(layers, hidden, heads, intermediate, &shape, errstr, errstr_size)) {
    bertd_config_free(&cfg);
    return -1;
  }
  cfg.vocab_size = shape.vocab_size;
  cfg.hidden_size = shape.hidden_size;
  cfg.num_hidden_layers = shape.num_hidden_layers;
  cfg.num_attention_heads = shape.num_attention_heads;
  cfg.intermediate_size = shape.intermediate_size;
  cfg.hidden_act = shape.hidden_act;
  cfg.max_position_embeddings = shape.max_position_embeddings;
  cfg.type_vocab_size = shape.type_vocab_size;
  cfg.layer_norm_eps = shape.layer_norm_eps;
  cfg.arch = BERTD_ARCH_BASE;
  /* the table alone (bertd_model_random's layout: a pooler, no heads), filled as it is written */
  bertd_weights table;
  bertd_weights_layout_opts opts = bertd_weights_default_opts(cfg.arch);
  opts.table_only = 1;
  char path[4096];
  uint64_t x = random_start(seed);
  int rc = -1;
  if (bertd_weights_layout(&cfg, opts, &table, errstr, errstr_size)) {
    bertd_config_free(&cfg);
    return -1;
  }
  if (bertd_checkpoint_save_config(dir, &cfg, NULL, errstr, errstr_size) ||
      write_vocab(dir, cfg.vocab_size, errstr, errstr_size))
    goto done;
  if (snprintf(path, sizeof path, "%s/model.safetensors", dir) >= (int)sizeof path) {
    bertd_set_error(errstr, errstr_size, "%s: path too long", dir);
    goto done;
  }
  rc = bertd_weights_save_generated(&table, path, random_fill, &x, errstr, errstr_size);
done:
  bertd_weights_free(&table);
  bertd_config_free(&cfg);
  return rc;
}
