/* test_weights.c: the parameter table and the checkpoint loader.
 *  - layouts from a config alone: BERT-Base and BERT-Large parameter counts equal transformers'
 *    BertModel(config) (pooler included), per-arch heads, one contiguous buffer;
 *  - every generated fixture (F32, F16, BF16, sharded, no "bert." prefix, JointBERT, TF-era
 *    LayerNorm gamma/beta names) loads with exact values, from expected.json written by tools/reference/make_loader_fixtures.py;
 *  - errors: missing tensor, shape mismatch, missing pooler, label-count mismatch, bad index;
 *  - save then reload gives identical memory, in a file laid out as the format requires;
 *  - the real all-MiniLM-L6-v2 (BERTD_MODEL_DIR) loads with exact values. */
#include <criterion/criterion.h>

#include "bertd_checkpoint.h"
#include "loader_fixtures.h"
#include "safetensors.h"
#include "bertd_weights.h"

static bertd_checkpoint_config cfg;
static bertd_weights w, w2;
static char err[512];
static char dir[1024];

static void teardown(void) {
  bertd_weights_free(&w);
  bertd_weights_free(&w2);
  bertd_config_free(&cfg);
  scratch_free(dir);
  dir[0] = '\0';
}

TestSuite(weights, .fini = teardown);

static void check_contiguous(const bertd_weights *ww) {
  size_t offset = 0;
  for (int i = 0; i < ww->num_params; i++) {
    cr_assert_eq(ww->params[i].offset, offset, "%s", ww->params[i].name);
    offset += ww->params[i].numel;
  }
  cr_assert_eq(offset, ww->num_floats);
}

/* Numbers from the reference environment: sum(p.numel() for p in BertModel(config).parameters())
 * and len(list(...)), transformers 4.44.2. */
Test(weights, bert_base_from_config_alone) {
  cr_assert_eq(bertd_config_defaults(&cfg, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_weights_alloc(&cfg, &w, err, sizeof err), 0, "%s", err);
  cr_assert_eq(w.num_floats, 109482240);
  cr_assert_eq(w.num_params, 199);
  check_contiguous(&w);
  cr_assert_not_null(w.pooler_w);
  cr_assert_null(w.cls_w);
  cr_assert_eq(w.layers[11].ln2_b + 768, w.pooler_w, "pooler follows the last layer");
  bertd_param *p = bertd_weights_find(&w, "bert.encoder.layer.3.attention.output.LayerNorm.weight");
  cr_assert_not_null(p);
  cr_assert_eq(w.memory + p->offset, w.layers[3].ln1_g);
  cr_assert_eq(p->no_decay, 1);
  p = bertd_weights_find(&w, "bert.encoder.layer.3.intermediate.dense.weight");
  cr_assert_eq(p->shape[0], 3072);
  cr_assert_eq(p->shape[1], 768);
  cr_assert_eq(p->no_decay, 0);
  cr_assert_eq(w.memory[w.num_floats - 1], 0.0f, "alloc zeroes");
}

Test(weights, bert_large_from_config_alone) {
  cr_assert_eq(bertd_config_defaults(&cfg, err, sizeof err), 0, "%s", err);
  cfg.hidden_size = 1024;
  cfg.num_hidden_layers = 24;
  cfg.num_attention_heads = 16;
  cfg.intermediate_size = 4096;
  cr_assert_eq(bertd_weights_alloc(&cfg, &w, err, sizeof err), 0, "%s", err);
  cr_assert_eq(w.num_floats, 335141888);
  cr_assert_eq(w.num_params, 391);
  check_contiguous(&w);
}

Test(weights, heads_per_arch) {
  cr_assert_eq(bertd_config_defaults(&cfg, err, sizeof err), 0, "%s", err);
  cfg.hidden_size = 32, cfg.num_attention_heads = 4, cfg.num_hidden_layers = 1, cfg.intermediate_size = 64;
  cfg.vocab_size = 50, cfg.max_position_embeddings = 16;

  cfg.arch = BERTD_ARCH_TOKEN_CLS;
  cr_assert_eq(bertd_weights_alloc(&cfg, &w, err, sizeof err), 0, "%s", err);
  cr_assert_null(w.pooler_w, "BertForTokenClassification has no pooler");
  cr_assert_eq(bertd_weights_find(&w, "classifier.weight")->shape[0], 2);
  bertd_weights_free(&w);

  cfg.arch = BERTD_ARCH_PRETRAINING;
  cr_assert_eq(bertd_weights_alloc(&cfg, &w, err, sizeof err), 0, "%s", err);
  cr_assert_not_null(w.pooler_w);
  cr_assert_eq(w.mlm_decoder_w, w.word_emb, "decoder tied to the word embeddings");
  cr_assert_null(bertd_weights_find(&w, "cls.predictions.decoder.weight"));
  cr_assert_eq(bertd_weights_find(&w, "cls.predictions.bias")->numel, 50);
  cr_assert_not_null(w.nsp_w);
  check_contiguous(&w);
  bertd_weights_free(&w);

  cfg.arch = BERTD_ARCH_QA;
  cr_assert_eq(bertd_weights_alloc(&cfg, &w, err, sizeof err), 0, "%s", err);
  cr_assert_null(w.pooler_w);
  cr_assert_eq(bertd_weights_find(&w, "qa_outputs.weight")->shape[0], 2);
  bertd_weights_free(&w);

  cfg.hidden_size = 30; /* 4 heads do not divide it */
  cr_assert_eq(bertd_weights_alloc(&cfg, &w, err, sizeof err), -1);
  cr_assert_str_eq(err, "config.json: num_attention_heads: 4 does not divide hidden_size 30");
}

static void load_dir(const char *path) {
  cr_assert_eq(bertd_config_load(path, &cfg, err, sizeof err), 0, "%s: %s", path, err);
  cr_assert_eq(bertd_weights_load(path, &cfg, &w, err, sizeof err), 0, "%s: %s", path, err);
}

/* The values expected.json lists for fixture name, compared bit for bit. */
static void check_values(const bertd_weights *ww, const json_t *want, const char *label) {
  const char *name;
  json_t *entry;
  json_object_foreach((json_t *)want, name, entry) {
    bertd_param *p = bertd_weights_find((bertd_weights *)ww, name);
    cr_assert_not_null(p, "%s: no parameter %s", label, name);
    const json_t *index = json_object_get(entry, "index"), *bits = json_object_get(entry, "bits");
    for (size_t i = 0; i < json_array_size(index); i++) {
      size_t k = json_u32_at(index, i);
      cr_assert_lt(k, p->numel);
      uint32_t got = f32_bits(ww->memory[p->offset + k]);
      cr_assert_eq(got, json_u32_at(bits, i), "%s: %s[%zu] = %08x, want %08x", label, name, k, got,
                   json_u32_at(bits, i));
    }
  }
}

Test(weights, every_fixture_loads_exact_values) {
  json_t *expected = load_fixture_json("expected.json");
  const char *name;
  json_t *want;
  int count = 0;
  json_object_foreach(expected, name, want) {
    if (strcmp(name, "values") == 0) continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", LOADER_DIR, name);
    load_dir(path);
    check_contiguous(&w);
    check_values(&w, want, name);
    teardown();
    count++;
  }
  cr_assert_eq(count, 8);
  json_decref(expected);
}

Test(weights, no_prefix_names_and_skipped_i64) {
  /* BertModel.save_pretrained writes "embeddings.word_embeddings.weight" (no "bert."), and this
   * file also holds embeddings.position_ids as I64, which the table does not name */
  load_dir(LOADER_DIR "/base_f32");
  cr_assert_not_null(w.pooler_w);
  cr_assert_eq(w.num_params, 5 + 2 * 16 + 2);
}

Test(weights, heads_present_as_the_arch_says) {
  load_dir(LOADER_DIR "/tokcls_bf16");
  cr_assert_null(w.pooler_w);
  cr_assert_not_null(w.cls_w);
  teardown();
  load_dir(LOADER_DIR "/pretraining_f32");
  cr_assert_eq(w.mlm_decoder_w, w.word_emb);
  cr_assert_not_null(w.mlm_bias);
  cr_assert_not_null(w.nsp_b);
  teardown();
  load_dir(LOADER_DIR "/mlm_sharded");
  cr_assert_null(w.pooler_w);
  cr_assert_eq(w.mlm_decoder_w, w.word_emb);
  teardown();
  load_dir(LOADER_DIR "/joint_f32");
  cr_assert_eq(bertd_weights_find(&w, "intent_classifier.linear.weight")->shape[0], 3);
  cr_assert_eq(bertd_weights_find(&w, "slot_classifier.linear.bias")->numel, 5);
  cr_assert_not_null(w.pooler_w);
}

static void expect_load_error(const char *path, const char *want) {
  cr_assert_eq(bertd_config_load(path, &cfg, err, sizeof err), 0, "%s: %s", path, err);
  cr_assert_eq(bertd_weights_load(path, &cfg, &w, err, sizeof err), -1, "%s loaded", path);
  cr_assert_str_eq(err, want);
  cr_assert_null(w.memory);
}

Test(weights, missing_tensor) {
  expect_load_error(LOADER_DIR "/missing_tensor",
                    "model.safetensors: missing tensor 'bert.encoder.layer.1.intermediate.dense.weight'");
}

Test(weights, shape_mismatch_names_the_tensor) {
  scratch_new(dir, sizeof dir);
  scratch_write(dir, "config.json", "{\"vocab_size\": 120, \"hidden_size\": 16, \"num_hidden_layers\": 2,"
                                    " \"num_attention_heads\": 4, \"intermediate_size\": 32,"
                                    " \"max_position_embeddings\": 64}");
  scratch_link(dir, "model.safetensors", "base_f32/model.safetensors");
  expect_load_error(dir, "model.safetensors: tensor 'embeddings.word_embeddings.weight': shape [100, 16] "
                         "but config.json says [120, 16]");
}

Test(weights, classifier_needs_its_pooler) {
  scratch_new(dir, sizeof dir);
  scratch_write(dir, "config.json", "{\"architectures\": [\"BertForSequenceClassification\"], \"num_labels\": 5,"
                                    " \"vocab_size\": 100, \"hidden_size\": 16, \"num_hidden_layers\": 2,"
                                    " \"num_attention_heads\": 4, \"intermediate_size\": 32,"
                                    " \"max_position_embeddings\": 64}");
  scratch_link(dir, "model.safetensors", "tokcls_bf16/model.safetensors");
  expect_load_error(dir, "model.safetensors: missing tensor 'bert.pooler.dense.weight' "
                         "(BertForSequenceClassification uses the pooler)");
}

Test(weights, joint_label_count_must_match) {
  scratch_new(dir, sizeof dir);
  scratch_link(dir, "config.json", "joint_f32/config.json");
  scratch_link(dir, "model.safetensors", "joint_f32/model.safetensors");
  scratch_link(dir, "slot_label.txt", "joint_f32/slot_label.txt");
  scratch_write(dir, "intent_label.txt", "UNK\na\nb\nc\n");
  expect_load_error(dir, "model.safetensors: tensor 'intent_classifier.linear.weight': shape [3, 16] but "
                         "intent_label.txt says [4, 16]");
}

Test(weights, no_model_file) {
  scratch_new(dir, sizeof dir);
  scratch_write(dir, "config.json", "{}");
  scratch_write(dir, "pytorch_model.bin", "");
  expect_load_error(dir, "no model.safetensors or model.safetensors.index.json in the checkpoint directory "
                         "(pytorch_model.bin is not read: convert it with safetensors)");
}

Test(weights, index_naming_the_wrong_shard) {
  scratch_new(dir, sizeof dir);
  scratch_link(dir, "config.json", "mlm_sharded/config.json");
  scratch_link(dir, "model-00001-of-00002.safetensors", "mlm_sharded/model-00001-of-00002.safetensors");
  scratch_link(dir, "model-00002-of-00002.safetensors", "mlm_sharded/model-00002-of-00002.safetensors");
  /* the real index, with the word embeddings pointed at the other shard */
  json_t *index = load_fixture_json("mlm_sharded/model.safetensors.index.json");
  json_t *map = json_object_get(index, "weight_map");
  const char *where = json_string_value(json_object_get(map, "bert.embeddings.word_embeddings.weight"));
  const char *other = strcmp(where, "model-00001-of-00002.safetensors") == 0 ? "model-00002-of-00002.safetensors"
                                                                             : "model-00001-of-00002.safetensors";
  json_object_set_new(map, "bert.embeddings.word_embeddings.weight", json_string(other));
  char *text = json_dumps(index, 0);
  scratch_write(dir, "model.safetensors.index.json", text);
  char want[256];
  snprintf(want, sizeof want,
           "%s: tensor 'bert.embeddings.word_embeddings.weight': listed in model.safetensors.index.json but "
           "not in the file", other);
  free(text);
  json_decref(index);
  expect_load_error(dir, want);
}

/* Saves w into a scratch checkpoint next to a copy of src's config and reloads it into w2. */
static void save_and_reload(const char *src) {
  scratch_new(dir, sizeof dir);
  char path[1100], cfg_src[1100];
  snprintf(cfg_src, sizeof cfg_src, "%s/config.json", src + strlen(LOADER_DIR) + 1);
  scratch_link(dir, "config.json", cfg_src);
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  cr_assert_eq(bertd_weights_save(&w, path, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_weights_load(dir, &cfg, &w2, err, sizeof err), 0, "%s", err);
}

Test(weights, save_then_reload_round_trip) {
  const char *dirs[] = {LOADER_DIR "/seqcls_f16", LOADER_DIR "/pretraining_f32", LOADER_DIR "/base_f32",
                        LOADER_DIR "/joint_f32"};
  for (size_t k = 0; k < sizeof dirs / sizeof dirs[0]; k++) {
    load_dir(dirs[k]);
    save_and_reload(dirs[k]);
    cr_assert_eq(w2.num_floats, w.num_floats, "%s", dirs[k]);
    cr_assert_eq(w2.num_params, w.num_params, "%s", dirs[k]);
    cr_assert_eq(memcmp(w.memory, w2.memory, w.num_floats * sizeof(float)), 0, "%s", dirs[k]);
    teardown();
  }
}

Test(weights, saved_file_layout) {
  load_dir(LOADER_DIR "/pretraining_f32");
  save_and_reload(LOADER_DIR "/pretraining_f32");
  char path[1100];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  bertd_safetensors st;
  cr_assert_eq(bertd_st_open(path, &st, err, sizeof err), 0, "%s", err);
  cr_assert_eq((st.data - (const uint8_t *)st.map) % 8, 0, "header padded to a multiple of 8");
  cr_assert_eq(st.num_tensors, w.num_params, "tied decoder weight not written");
  cr_assert_null(bertd_st_find(&st, "cls.predictions.decoder.weight"));
  uint64_t end = 0;
  for (int i = 0; i < st.num_tensors; i++) {
    cr_assert_eq(st.tensors[i].dtype, BERTD_ST_F32);
    cr_assert_eq(st.tensors[i].begin, end, "packed in header order, no gaps");
    end = st.tensors[i].end;
    if (i) cr_assert_lt(strcmp(st.tensors[i - 1].name, st.tensors[i].name), 0, "sorted by name");
  }
  cr_assert_eq(end, st.data_size);
  /* __metadata__ {"format": "pt"}: transformers refuses the file without it */
  const char *header = (const char *)st.map + 8;
  cr_assert_eq(strncmp(header, "{\"__metadata__\":{\"format\":\"pt\"},", 32), 0, "%.40s", header);
  bertd_st_close(&st);
}

Test(weights, real_minilm_exact_values) {
  const char *model = getenv("BERTD_MODEL_DIR");
  if (!model || !*model) cr_skip_test("BERTD_MODEL_DIR is not set");
  load_dir(model);
  /* transformers: sum(p.numel() for p in BertModel.from_pretrained(...).parameters()) */
  cr_assert_eq(w.num_floats, 22713216);
  cr_assert_eq(w.num_params, 103);
  cr_assert_not_null(w.pooler_w);
  json_t *want = load_fixture_json("minilm_values.json");
  check_values(&w, want, "all-MiniLM-L6-v2");
  json_decref(want);
}

static void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  cr_assert(in && out, "%s -> %s", from, to);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) cr_assert_eq(fwrite(buf, 1, n, out), n);
  fclose(in);
  fclose(out);
}

/* Leaves BERTD_BINARY_DIR/loader-saved/<fixture>/{config.json,model.safetensors} as bertd wrote
 * them, for tools/reference/check_saved_weights.py to load with transformers (not run in CI). */
Test(weights, save_for_transformers_check) {
  const char *names[] = {"base_f32", "seqcls_f16", "tokcls_bf16", "qa_f32", "pretraining_f32", "mlm_sharded"};
  char root[1024];
  snprintf(root, sizeof root, "%s/loader-saved", BERTD_BINARY_DIR);
  mkdir(root, 0755);
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    char src[1024], out[1100], path[1200], from[1200];
    snprintf(src, sizeof src, "%s/%s", LOADER_DIR, names[k]);
    snprintf(out, sizeof out, "%s/%s", root, names[k]);
    mkdir(out, 0755);
    load_dir(src);
    snprintf(from, sizeof from, "%s/config.json", src);
    snprintf(path, sizeof path, "%s/config.json", out);
    copy_file(from, path);
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    cr_assert_eq(bertd_weights_save(&w, path, err, sizeof err), 0, "%s", err);
    teardown();
  }
}
