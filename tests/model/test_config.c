/* test_config.c: checkpoint config parsing. The generated fixtures (written by transformers'
 * save_pretrained) for the happy paths; scratch directories with one-line config variations for
 * defaults, label maps, tokenizer options, pooling and every error message. */
#include <criterion/criterion.h>
#include <math.h>

#include "bertd_checkpoint.h"
#include "loader_fixtures.h"

static bertd_checkpoint_config cfg;
static char err[512];
static char dir[1024];

static void teardown(void) {
  bertd_config_free(&cfg);
  scratch_free(dir);
  dir[0] = '\0';
}

TestSuite(config, .fini = teardown);

/* A scratch dir holding config.json = text; returns bertd_config_load's result. */
static int load_config_text(const char *text) {
  scratch_new(dir, sizeof dir);
  scratch_write(dir, "config.json", text);
  return bertd_config_load(dir, &cfg, err, sizeof err);
}

static void expect_config_error(const char *text, const char *want) {
  cr_assert_eq(load_config_text(text), -1, "loaded: %s", text);
  cr_assert_str_eq(err, want);
}

Test(config, base_fixture_with_sentence_transformers_files) {
  cr_assert_eq(bertd_config_load(LOADER_DIR "/base_f32", &cfg, err, sizeof err), 0, "%s", err);
  cr_assert_eq(cfg.arch, BERTD_ARCH_BASE);
  cr_assert_str_eq(cfg.architecture, "BertModel");
  cr_assert_eq(cfg.vocab_size, 100);
  cr_assert_eq(cfg.hidden_size, 16);
  cr_assert_eq(cfg.num_hidden_layers, 2);
  cr_assert_eq(cfg.num_attention_heads, 4);
  cr_assert_eq(cfg.intermediate_size, 32);
  cr_assert_eq(cfg.max_position_embeddings, 64);
  cr_assert_eq(cfg.type_vocab_size, 2);
  cr_assert_eq(cfg.hidden_act, BERTD_ACT_GELU);
  cr_assert_eq(cfg.layer_norm_eps, 1e-12f);
  cr_assert_eq(cfg.pad_token_id, 0);
  /* tokenizer_config.json */
  cr_assert_eq(cfg.do_lower_case, 0);
  cr_assert_eq(cfg.strip_accents, -1);
  cr_assert_eq(cfg.tokenize_chinese_chars, 0);
  cr_assert_eq(cfg.model_max_length, 64, "int(1e30) means unset: max_position_embeddings");
  /* legacy layout (no added_tokens_decoder): special_tokens_map.json wins; {"content": ...} form */
  cr_assert_str_eq(cfg.cls_token, "<cls>");
  cr_assert_str_eq(cfg.sep_token, "<sep>");
  cr_assert_str_eq(cfg.unk_token, "<unk>");
  cr_assert_str_eq(cfg.pad_token, "[PAD]");
  cr_assert_str_eq(cfg.mask_token, "[MASK]");
  /* modules.json + 1_Pooling/config.json + sentence_bert_config.json */
  cr_assert_eq(cfg.pooling, BERTD_POOL_MEAN);
  cr_assert_eq(cfg.normalize, 1);
  cr_assert_eq(cfg.st_max_seq_length, 32);
  cr_assert_eq(cfg.st_do_lower_case, 0);
}

Test(config, seqcls_id2label) {
  cr_assert_eq(bertd_config_load(LOADER_DIR "/seqcls_f16", &cfg, err, sizeof err), 0, "%s", err);
  cr_assert_eq(cfg.arch, BERTD_ARCH_SEQ_CLS);
  cr_assert_eq(cfg.num_labels, 3);
  cr_assert_str_eq(cfg.id2label[0], "NEG");
  cr_assert_str_eq(cfg.id2label[1], "NEU");
  cr_assert_str_eq(cfg.id2label[2], "POS");
  cr_assert_eq(cfg.problem_type, BERTD_PROBLEM_SINGLE_LABEL);
  cr_assert_eq(cfg.pooling, BERTD_POOL_NONE);
  /* no tokenizer files: BertTokenizer's defaults */
  cr_assert_eq(cfg.do_lower_case, 1);
  cr_assert_eq(cfg.model_max_length, 64);
  cr_assert_str_eq(cfg.cls_token, "[CLS]");
}

Test(config, architectures_of_every_fixture) {
  static const struct { const char *dir; bertd_arch arch; int labels; } cases[] = {
      {"tokcls_bf16", BERTD_ARCH_TOKEN_CLS, 5}, {"qa_f32", BERTD_ARCH_QA, 2},
      {"pretraining_f32", BERTD_ARCH_PRETRAINING, 2}, {"mlm_sharded", BERTD_ARCH_MLM, 2},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", LOADER_DIR, cases[i].dir);
    cr_assert_eq(bertd_config_load(path, &cfg, err, sizeof err), 0, "%s: %s", cases[i].dir, err);
    cr_assert_eq(cfg.arch, cases[i].arch, "%s", cases[i].dir);
    cr_assert_eq(cfg.num_labels, cases[i].labels, "%s", cases[i].dir);
    cr_assert_str_eq(cfg.id2label[cfg.num_labels - 1], cases[i].labels == 5 ? "LABEL_4" : "LABEL_1");
    bertd_config_free(&cfg);
  }
}

Test(config, jointbert_label_files) {
  cr_assert_eq(bertd_config_load(LOADER_DIR "/joint_f32", &cfg, err, sizeof err), 0, "%s", err);
  cr_assert_eq(cfg.arch, BERTD_ARCH_JOINT);
  cr_assert_eq(cfg.num_intents, 3);
  cr_assert_str_eq(cfg.intent_labels[0], "UNK");
  cr_assert_str_eq(cfg.intent_labels[2], "atis_airfare");
  cr_assert_eq(cfg.num_slots, 5);
  cr_assert_str_eq(cfg.slot_labels[0], "PAD");
  cr_assert_str_eq(cfg.slot_labels[4], "I-fromloc.city_name");
}

Test(config, jointbert_detected_from_tensors) {
  scratch_new(dir, sizeof dir);
  scratch_write(dir, "config.json", "{\"hidden_size\": 16, \"num_hidden_layers\": 2, \"num_attention_heads\": 4}");
  scratch_link(dir, "model.safetensors", "joint_f32/model.safetensors");
  scratch_link(dir, "intent_label.txt", "joint_f32/intent_label.txt");
  scratch_write(dir, "slot_label.txt", "PAD\r\nUNK\r\n  O  \n");
  cr_assert_eq(bertd_config_load(dir, &cfg, err, sizeof err), 0, "%s", err);
  cr_assert_eq(cfg.arch, BERTD_ARCH_JOINT);
  cr_assert_eq(cfg.num_slots, 3);
  cr_assert_str_eq(cfg.slot_labels[2], "O");
}

Test(config, jointbert_without_label_files) {
  scratch_new(dir, sizeof dir);
  scratch_write(dir, "config.json", "{\"architectures\": [\"JointBERT\"]}");
  cr_assert_eq(bertd_config_load(dir, &cfg, err, sizeof err), -1);
  cr_assert_str_eq(err, "intent_label.txt: No such file or directory");
  scratch_write(dir, "intent_label.txt", "UNK\n\nflight\n");
  cr_assert_eq(bertd_config_load(dir, &cfg, err, sizeof err), -1);
  cr_assert_str_eq(err, "intent_label.txt: line 2: empty label");
}

Test(config, head_detected_from_tensors_without_architectures) {
  scratch_new(dir, sizeof dir);
  scratch_write(dir, "config.json", "{\"hidden_size\": 16, \"num_attention_heads\": 4}");
  scratch_link(dir, "model.safetensors", "qa_f32/model.safetensors");
  cr_assert_eq(bertd_config_load(dir, &cfg, err, sizeof err), 0, "%s", err);
  cr_assert_eq(cfg.arch, BERTD_ARCH_QA);
  cr_assert_str_eq(cfg.architecture, "");
}

Test(config, empty_config_gives_bert_base_defaults) {
  cr_assert_eq(load_config_text("{}"), 0, "%s", err);
  cr_assert_eq(cfg.vocab_size, 30522);
  cr_assert_eq(cfg.hidden_size, 768);
  cr_assert_eq(cfg.num_hidden_layers, 12);
  cr_assert_eq(cfg.num_attention_heads, 12);
  cr_assert_eq(cfg.intermediate_size, 3072);
  cr_assert_eq(cfg.hidden_act, BERTD_ACT_GELU);
  cr_assert_eq(cfg.max_position_embeddings, 512);
  cr_assert_eq(cfg.type_vocab_size, 2);
  cr_assert_eq(cfg.layer_norm_eps, 1e-12f);
  cr_assert_eq(cfg.pad_token_id, 0);
  cr_assert_eq(cfg.arch, BERTD_ARCH_BASE);
  cr_assert_eq(cfg.num_labels, 2);
  cr_assert_str_eq(cfg.id2label[1], "LABEL_1");
  cr_assert_eq(cfg.model_max_length, 512);
}

Test(config, activations) {
  static const struct { const char *name; bertd_activation act; } cases[] = {
      {"gelu", BERTD_ACT_GELU}, {"gelu_new", BERTD_ACT_GELU_NEW},
      {"gelu_pytorch_tanh", BERTD_ACT_GELU_NEW}, {"relu", BERTD_ACT_RELU}};
  for (size_t i = 0; i < 4; i++) {
    char text[128];
    snprintf(text, sizeof text, "{\"hidden_act\": \"%s\"}", cases[i].name);
    cr_assert_eq(load_config_text(text), 0, "%s", err);
    cr_assert_eq(cfg.hidden_act, cases[i].act, "%s", cases[i].name);
    teardown();
  }
}

Test(config, label2id_num_labels_and_problem_type) {
  cr_assert_eq(load_config_text("{\"label2id\": {\"b\": 1, \"a\": 0, \"c\": 2}, "
                                "\"problem_type\": \"multi_label_classification\"}"), 0, "%s", err);
  cr_assert_eq(cfg.num_labels, 3);
  cr_assert_str_eq(cfg.id2label[0], "a");
  cr_assert_str_eq(cfg.id2label[2], "c");
  cr_assert_eq(cfg.problem_type, BERTD_PROBLEM_MULTI_LABEL);
  teardown();
  cr_assert_eq(load_config_text("{\"num_labels\": 1}"), 0, "%s", err);
  cr_assert_eq(cfg.num_labels, 1);
  cr_assert_str_eq(cfg.id2label[0], "LABEL_0");
  cr_assert_eq(cfg.problem_type, BERTD_PROBLEM_REGRESSION, "one label and no problem_type: regression");
  teardown();
  cr_assert_eq(load_config_text("{\"id2label\": {\"1\": \"yes\", \"0\": \"no\"}, \"num_labels\": 7}"), 0, "%s", err);
  cr_assert_eq(cfg.num_labels, 2, "id2label wins over num_labels, as in transformers");
  cr_assert_str_eq(cfg.id2label[1], "yes");
}

Test(config, tokenizer_options) {
  scratch_new(dir, sizeof dir);
  scratch_write(dir, "config.json", "{\"max_position_embeddings\": 128}");
  scratch_write(dir, "tokenizer_config.json",
                "{\"do_lower_case\": false, \"strip_accents\": true, \"model_max_length\": 100,"
                " \"added_tokens_decoder\": {}, \"cls_token\": \"[C]\"}");
  scratch_write(dir, "special_tokens_map.json", "{\"cls_token\": \"ignored\", \"sep_token\": \"ignored\"}");
  cr_assert_eq(bertd_config_load(dir, &cfg, err, sizeof err), 0, "%s", err);
  cr_assert_eq(cfg.do_lower_case, 0);
  cr_assert_eq(cfg.strip_accents, 1);
  cr_assert_eq(cfg.model_max_length, 100);
  cr_assert_str_eq(cfg.cls_token, "[C]");
  cr_assert_str_eq(cfg.sep_token, "[SEP]", "added_tokens_decoder present: special_tokens_map.json is legacy");
  bertd_config_free(&cfg);
  scratch_write(dir, "tokenizer_config.json", "{\"model_max_length\": 4096, \"strip_accents\": false}");
  cr_assert_eq(bertd_config_load(dir, &cfg, err, sizeof err), 0, "%s", err);
  cr_assert_eq(cfg.model_max_length, 128, "capped at max_position_embeddings");
  cr_assert_eq(cfg.strip_accents, 0);
  cr_assert_str_eq(cfg.sep_token, "ignored");
  bertd_config_free(&cfg);
  scratch_write(dir, "tokenizer_config.json", "{\"strip_accents\": \"yes\"}");
  cr_assert_eq(bertd_config_load(dir, &cfg, err, sizeof err), -1);
  cr_assert_str_eq(err, "tokenizer_config.json: strip_accents: expected true, false or null");
}

Test(config, pooling_modes) {
  scratch_new(dir, sizeof dir);
  scratch_write(dir, "config.json", "{\"hidden_size\": 32, \"num_attention_heads\": 4}");
  scratch_write(dir, "modules.json",
                "[{\"type\": \"sentence_transformers.models.Transformer\", \"path\": \"\"},"
                " {\"type\": \"sentence_transformers.models.Pooling\", \"path\": \"1_Pooling\"}]");
  scratch_write(dir, "1_Pooling/config.json", "{\"word_embedding_dimension\": 32, \"pooling_mode_cls_token\": true}");
  cr_assert_eq(bertd_config_load(dir, &cfg, err, sizeof err), 0, "%s", err);
  cr_assert_eq(cfg.pooling, BERTD_POOL_CLS);
  cr_assert_eq(cfg.normalize, 0);
  bertd_config_free(&cfg);

  scratch_write(dir, "1_Pooling/config.json", "{\"pooling_mode_max_tokens\": true, \"pooling_mode_mean_tokens\": true}");
  cr_assert_eq(bertd_config_load(dir, &cfg, err, sizeof err), -1);
  cr_assert_str_eq(err, "1_Pooling/config.json: expected exactly one pooling mode, found 2 "
                        "(concatenated poolings are not supported)");
  scratch_write(dir, "1_Pooling/config.json", "{\"pooling_mode_mean_sqrt_len_tokens\": true}");
  cr_assert_eq(bertd_config_load(dir, &cfg, err, sizeof err), -1);
  cr_assert_str_eq(err, "1_Pooling/config.json: pooling_mode_mean_sqrt_len_tokens is not supported (cls, mean or max only)");
  scratch_write(dir, "1_Pooling/config.json", "{\"word_embedding_dimension\": 384, \"pooling_mode_max_tokens\": true}");
  cr_assert_eq(bertd_config_load(dir, &cfg, err, sizeof err), -1);
  cr_assert_str_eq(err, "1_Pooling/config.json: word_embedding_dimension: 384 but config.json says hidden_size 32");

  scratch_write(dir, "1_Pooling/config.json", "{\"pooling_mode_max_tokens\": true}");
  scratch_write(dir, "modules.json",
                "[{\"type\": \"sentence_transformers.models.Transformer\", \"path\": \"\"},"
                " {\"type\": \"sentence_transformers.models.Pooling\", \"path\": \"1_Pooling\"},"
                " {\"type\": \"sentence_transformers.models.Dense\", \"path\": \"2_Dense\"}]");
  cr_assert_eq(bertd_config_load(dir, &cfg, err, sizeof err), -1);
  cr_assert_str_eq(err, "modules.json: [2]: module 'sentence_transformers.models.Dense' at '2_Dense' is not supported here");
}

Test(config, bad_json_gives_line_and_column) {
  expect_config_error("{\n  \"hidden_size\": 384,\n  \"num_hidden_layers\" 6\n}\n",
                      "config.json:3:23: ':' expected near '6'");
}

Test(config, errors_name_file_and_field) {
  expect_config_error("{\"hidden_size\": 384, \"num_attention_heads\": 5}",
                      "config.json: num_attention_heads: 5 does not divide hidden_size 384");
  teardown();
  expect_config_error("{\"hidden_size\": \"384\"}", "config.json: hidden_size: expected an integer >= 1");
  teardown();
  expect_config_error("{\"hidden_size\": 384.5}", "config.json: hidden_size: expected an integer >= 1");
  teardown();
  expect_config_error("{\"num_hidden_layers\": 0}", "config.json: num_hidden_layers: expected an integer >= 1");
  teardown();
  expect_config_error("{\"hidden_act\": \"swish\"}",
                      "config.json: hidden_act: 'swish' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)");
  teardown();
  expect_config_error("{\"position_embedding_type\": \"relative_key\"}",
                      "config.json: position_embedding_type: 'relative_key' is not supported (absolute only)");
  teardown();
  expect_config_error("{\"id2label\": {\"0\": \"a\", \"x\": \"b\"}}", "config.json: id2label: key 'x' is not an id in 0..1");
  teardown();
  expect_config_error("{\"id2label\": {\"0\": \"a\", \"2\": \"b\"}}", "config.json: id2label: key '2' is not an id in 0..1");
  teardown();
  expect_config_error("{\"problem_type\": \"ranking\"}", "config.json: problem_type: unknown 'ranking'");
  teardown();
  expect_config_error("{\"architectures\": [\"RobertaModel\"]}",
                      "config.json: architectures[0]: 'RobertaModel' is not a BERT architecture bertd knows");
  teardown();
  expect_config_error("{\"pad_token_id\": 40000}", "config.json: pad_token_id: 40000 is not below vocab_size 30522");
  teardown();
  expect_config_error("[]", "config.json: expected a JSON object");
  teardown();
  scratch_new(dir, sizeof dir);
  cr_assert_eq(bertd_config_load(dir, &cfg, err, sizeof err), -1);
  cr_assert_str_eq(err, "config.json: No such file or directory");
}

Test(config, real_minilm) {
  const char *model = getenv("BERTD_MODEL_DIR");
  if (!model || !*model) cr_skip_test("BERTD_MODEL_DIR is not set");
  cr_assert_eq(bertd_config_load(model, &cfg, err, sizeof err), 0, "%s", err);
  cr_assert_eq(cfg.arch, BERTD_ARCH_BASE);
  cr_assert_eq(cfg.vocab_size, 30522);
  cr_assert_eq(cfg.hidden_size, 384);
  cr_assert_eq(cfg.num_hidden_layers, 6);
  cr_assert_eq(cfg.num_attention_heads, 12);
  cr_assert_eq(cfg.intermediate_size, 1536);
  cr_assert_eq(cfg.max_position_embeddings, 512);
  cr_assert_eq(cfg.do_lower_case, 1);
  cr_assert_eq(cfg.strip_accents, -1);
  cr_assert_eq(cfg.tokenize_chinese_chars, 1);
  cr_assert_eq(cfg.model_max_length, 512);
  cr_assert_eq(cfg.pooling, BERTD_POOL_MEAN);
  cr_assert_eq(cfg.normalize, 1);
  cr_assert_eq(cfg.st_max_seq_length, 256);
  cr_assert_str_eq(cfg.mask_token, "[MASK]");
}
