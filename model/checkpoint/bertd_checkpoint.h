/* bertd_checkpoint.h: a checkpoint's config.json, tokenizer_config.json, special_tokens_map.json and the
 * sentence-transformers pooling config, parsed into plain structs. */
#ifndef BERTD_CHECKPOINT_CONFIG_H
#define BERTD_CHECKPOINT_CONFIG_H

#include <stddef.h>

typedef enum {
  BERTD_ACT_GELU = 0,  /* exact erf GELU ("gelu") */
  BERTD_ACT_GELU_NEW,  /* tanh approximation ("gelu_new", "gelu_pytorch_tanh") */
  BERTD_ACT_RELU
} bertd_activation;

typedef enum {
  BERTD_PROBLEM_SINGLE_LABEL = 0, /* softmax over labels */
  BERTD_PROBLEM_MULTI_LABEL,      /* independent sigmoids */
  BERTD_PROBLEM_REGRESSION
} bertd_problem_type;

typedef enum {
  BERTD_ARCH_BASE = 0,   /* BertModel: encoder (+ pooler) only */
  BERTD_ARCH_SEQ_CLS,    /* BertForSequenceClassification */
  BERTD_ARCH_TOKEN_CLS,  /* BertForTokenClassification */
  BERTD_ARCH_QA,         /* BertForQuestionAnswering */
  BERTD_ARCH_MLM,        /* BertForMaskedLM */
  BERTD_ARCH_NSP,        /* BertForNextSentencePrediction */
  BERTD_ARCH_PRETRAINING,/* BertForPreTraining: MLM + NSP */
  BERTD_ARCH_JOINT       /* JointBERT: intent_classifier + slot_classifier */
} bertd_arch;

typedef enum { BERTD_POOL_NONE = 0, BERTD_POOL_MEAN, BERTD_POOL_CLS, BERTD_POOL_MAX } bertd_pooling_mode;

typedef struct bertd_checkpoint_config {
  /* config.json */
  int vocab_size;
  int hidden_size;              /* H */
  int num_hidden_layers;        /* L */
  int num_attention_heads;      /* NH; H % NH == 0 */
  int intermediate_size;        /* I */
  bertd_activation hidden_act;
  int max_position_embeddings;  /* P */
  int type_vocab_size;
  float layer_norm_eps;
  int pad_token_id;
  bertd_arch arch;              /* from "architectures"[0], or from the tensors present */
  bertd_problem_type problem_type;
  int num_labels;               /* len(id2label) for SEQ_CLS / TOKEN_CLS */
  char **id2label;              /* num_labels strings, index = label id */
  /* JointBERT: intent and slot label lists (intent_label.txt / slot_label.txt, or config keys) */
  int num_intents;
  char **intent_labels;
  int num_slots;
  char **slot_labels;

  /* tokenizer_config.json + special_tokens_map.json */
  int do_lower_case;            /* default 1 */
  int strip_accents;            /* -1 = unset (follows do_lower_case), 0, 1 */
  int tokenize_chinese_chars;   /* default 1 */
  int model_max_length;         /* capped at max_position_embeddings */
  char unk_token[32], cls_token[32], sep_token[32], pad_token[32], mask_token[32];

  /* sentence-transformers (modules.json + 1_Pooling/config.json); NONE if absent */
  bertd_pooling_mode pooling;
  int normalize;                /* a Normalize module follows pooling */
  /* sentence_bert_config.json: sentence-transformers truncates at max_seq_length (MiniLM: 256),
   * below model_max_length; 0 when absent. st_do_lower_case: it lower-cases before tokenizing. */
  int st_max_seq_length;
  int st_do_lower_case;

  char architecture[64];        /* "architectures"[0] as written, "" when absent */

  /* training only (config.json; transformers' BertConfig defaults) */
  float hidden_dropout_prob;          /* 0.1: embeddings, attention output, FFN output */
  float attention_probs_dropout_prob; /* 0.1: attention probabilities */
  float classifier_dropout;           /* before BertFor{Sequence,Token}Classification's
                                         classifier; < 0 (null) = hidden_dropout_prob */
  float initializer_range;            /* 0.02: std of the normal init of new weights */
} bertd_checkpoint_config;

/* Reads DIR/config.json and, where present, tokenizer_config.json, special_tokens_map.json,
 * modules.json and its pooling config, intent_label.txt and slot_label.txt.
 * Errors name the file and the field: "config.json: hidden_size: expected a positive integer". */
int bertd_config_load(const char *dir, bertd_checkpoint_config *cfg, char *errstr, size_t errstr_size);
void bertd_config_free(bertd_checkpoint_config *cfg);

/* transformers' BertConfig() defaults (BERT-Base uncased, BertModel, 2 labels LABEL_0/LABEL_1,
 * BERT's special tokens), with no files read. For tests and for building a config in code. */
int bertd_config_defaults(bertd_checkpoint_config *cfg, char *errstr, size_t errstr_size);

/* Checks the fields that must agree with each other (H % NH, positive sizes, label counts);
 * bertd_config_load calls it, code that fills a config by hand should too. */
int bertd_config_validate(const bertd_checkpoint_config *cfg, char *errstr, size_t errstr_size);

const char *bertd_arch_name(bertd_arch arch); /* "BertForSequenceClassification", ... */

/* Re-targets a config for training a different head on the same encoder (e.g. MiniLM, a
 * BertModel, as a classifier): sets arch, problem_type and, for SEQ_CLS / TOKEN_CLS, the
 * n labels (names NULL: "LABEL_0", ...). For MLM, NSP and PRETRAINING n is ignored.
 * bertd_weights_init_from then builds the new head. */
int bertd_config_set_task(bertd_checkpoint_config *cfg, bertd_arch arch, bertd_problem_type problem_type,
                          int n, const char *const *names, char *errstr, size_t errstr_size);
/* JointBERT: arch JOINT with the intent and slot label lists (line i of intent_label.txt and
 * slot_label.txt = id i; JointBERT puts "UNK" first in intents and "PAD", "UNK" first in
 * slots). */
int bertd_config_set_joint(bertd_checkpoint_config *cfg, int num_intents, const char *const *intents,
                           int num_slots, const char *const *slots, char *errstr,
                           size_t errstr_size);

#endif
