/* bertd.h: the model library's public header.
 *
 * Load a Hugging Face BERT checkpoint directory, tokenize exactly as transformers'
 * BertTokenizerFast, run the encoder on a batch, and read task results:
 *
 *   bertd_model *m; bertd_session *s; char err[512];
 *   if (bertd_model_load("all-MiniLM-L6-v2", &m, err, sizeof err)) { puts(err); ... }
 *   bertd_session_create(m, &s, err, sizeof err);
 *   bertd_encoding enc = {0};
 *   bertd_tokenizer_encode(bertd_model_tokenizer(m), text, len, NULL, 0, 0,
 *                          BERTD_TRUNC_LONGEST_FIRST, &enc, err, sizeof err);
 *   const bertd_encoding *batch[1] = {&enc};
 *   bertd_session_forward(s, batch, 1, err, sizeof err);
 *   bertd_result_embedding(s, 0, vec, err, sizeof err);
 *
 * Every function that can fail returns 0 on success, -1 on failure with a one-line message in
 * errstr. A model is read-only once loaded and may be shared by threads; a session is one
 * thread's activations and results. No Kafka, Avro or YAML in here. */
#ifndef BERTD_H
#define BERTD_H

#include <stddef.h>
#include <stdint.h>

#include "bertd_checkpoint.h"
#include "bertd_tokenizer.h"

#define BERTD_VERSION "0.1.0"

/* Every function of bertd that can fail returns non-zero and fills errstr (errstr_size bytes,
 * one line). This fills it printf-style and returns -1, for `return bertd_set_error(...)`. */
int bertd_set_error(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef struct bertd_model bertd_model;
typedef struct bertd_session bertd_session;

/* What a checkpoint can do, from its architecture and the tensors present. */
typedef enum {
  BERTD_TASK_EMBED = 1 << 0,     /* sentence embeddings: every model */
  BERTD_TASK_CLASSIFY = 1 << 1,  /* BertForSequenceClassification */
  BERTD_TASK_TAG = 1 << 2,       /* BertForTokenClassification */
  BERTD_TASK_QA = 1 << 3,        /* BertForQuestionAnswering */
  BERTD_TASK_FILL_MASK = 1 << 4, /* BertForMaskedLM / BertForPreTraining */
  BERTD_TASK_NSP = 1 << 5,       /* BertForNextSentencePrediction / BertForPreTraining */
  BERTD_TASK_JOINT = 1 << 6      /* JointBERT intent + slots */
} bertd_task;

/* Loads a checkpoint directory for inference in fp32: each encoder layer is packed for the fp32
 * kernel as it is read and its fp32 matrices are released (their pointers in
 * bertd_model_weights are NULL), so the model holds the encoder once, as panels; the word
 * embeddings are read in place from the file's mapping when it stores them as F32. (With
 * BERTD_GEMM=blas the fp32 matrices stay, for OpenBLAS.) Such a model cannot change precision;
 * training loads its weights itself (bertd_weights_load). */
int bertd_model_load(const char *dir, bertd_model **out, char *errstr, size_t errstr_size);
/* A BertModel of the given shape with weights drawn uniformly from [-0.05, 0.05) (seeded), no
 * tokenizer and no heads: for benchmarks of shapes no checkpoint at hand has (BERT-base). */
int bertd_model_random(int layers, int hidden, int heads, int intermediate, uint64_t seed,
                       bertd_model **out, char *errstr, size_t errstr_size);
/* The same weights written as a checkpoint directory dir (created; config.json of a BertModel,
 * a placeholder vocab.txt of BERT's 30522 entries, an F32 model.safetensors) a few MiB at a
 * time, never held whole: bertd_model_load(dir) gives the model bertd_model_random gives (the
 * same checksum) through the load path a real checkpoint takes. */
int bertd_model_random_save(const char *dir, int layers, int hidden, int heads, int intermediate,
                            uint64_t seed, char *errstr, size_t errstr_size);
void bertd_model_free(bertd_model *m);
const bertd_checkpoint_config *bertd_model_config(const bertd_model *m);
const bertd_tokenizer *bertd_model_tokenizer(const bertd_model *m);
unsigned bertd_model_tasks(const bertd_model *m);       /* bitwise OR of bertd_task */
const char *bertd_model_name(const bertd_model *m);     /* the directory's base name */
const char *bertd_model_checksum(const bertd_model *m); /* hex FNV-1a 64 of the weight files */
/* Sentence-transformers' max_seq_length when the checkpoint has one, else model_max_length. */
int bertd_model_max_length(const bertd_model *m);
/* The weights as loaded (bertd_weights.h), for benchmarks: after bertd_model_load the encoder's
 * dense matrices are NULL (packed and released) and word_emb may point into the file. */
const struct bertd_weights *bertd_model_weights(const bertd_model *m);
/* The fp32 encoder kernel picked at load from what this CPU has: "avx512", "avx2", "generic",
 * or "openblas" when BERTD_GEMM=blas kept OpenBLAS on the unpacked weights. BERTD_GEMM=avx2 or
 * generic caps the choice (for comparing kernels). After bertd_model_set_precision bf16 / int8:
 * that precision's kernel, "bf16 avx512-bf16", "int8 avx512-vnni" or "int8 avx2". */
const char *bertd_model_kernel(const bertd_model *m);
/* The attention heads the model runs: "avx512", "avx2", "rows" (portable), "avx512-bf16",
 * "avx512-bf16 over 16 tokens" (fp32 heads for shorter sequences) or "openblas". */
const char *bertd_model_attention(const bertd_model *m);

/* Numeric precision of the encoder's linear layers. fp32: the fp32 kernels (gemm.h). bf16:
 * weights rounded to bf16 once, activations per call, fp32 accumulation (AVX512-BF16). int8: weights quantised per
 * output channel once, activations per token per call, exact int32 sums, fp32 dequantisation and
 * bias (AVX512-VNNI, else AVX2). LayerNorm, softmax, GELU and the heads stay fp32; attention's
 * two products (q.k and probabilities.v) run in bf16 with fp32 sums where the CPU has
 * AVX512-BF16 (int8: for sequences over 16 tokens). */
typedef enum bertd_precision {
  BERTD_PRECISION_FP32 = 0,
  BERTD_PRECISION_BF16 = 1,
  BERTD_PRECISION_INT8 = 2
} bertd_precision;
/* "fp32" | "bf16" | "int8" -> the precision; -1 for another name. */
int bertd_precision_parse(const char *name, bertd_precision *out);
const char *bertd_precision_name(bertd_precision p);
/* Runs m's encoder in precision p from now on (a model from bertd_model_random; a loaded model
 * keeps the precision it was loaded in and refuses any other in one line): picks the kernel from the CPU's features (cpuid;
 * the environment variable BERTD_CPU_DISABLE=name,... hides features) and packs the weights for
 * it. Refuses with one line, leaving m as it was, when the CPU lacks the instructions (bf16
 * without AVX512-BF16 or AMX; int8 without AVX2). Call before any session of m runs a batch. */
int bertd_model_set_precision(bertd_model *m, bertd_precision p, char *errstr,
                              size_t errstr_size);
/* 0 when this CPU runs precision p; else -1 and the one line bertd_model_set_precision would
 * give ("precision bf16: this CPU has neither AMX-BF16 nor AVX512-BF16 (it has: ...); ..."). */
int bertd_precision_check(bertd_precision p, char *errstr, size_t errstr_size);
/* bertd_model_load, then the precision: bf16 / int8 are packed straight from the loaded fp32
 * (never beside the fp32 panels), and the fp32 copy of the encoder's linear matrices is then
 * released (its pages given back, its pointers NULL), so the model holds those weights once, in
 * its precision. Such a model cannot go back to fp32. */
int bertd_model_load_precision(const char *dir, bertd_precision p, bertd_model **out,
                               char *errstr, size_t errstr_size);
bertd_precision bertd_model_precision(const bertd_model *m);
/* Bytes of encoder linear weights held in m's precision (packed), 0 in fp32. */
size_t bertd_model_lowp_bytes(const bertd_model *m);

/* The process's compute threads: OpenBLAS's thread pool, shared by every session, trainer and
 * plugin in the process (OPENBLAS_NUM_THREADS, else every core, until set). model/threads.c is
 * its one owner; nothing else in bertd sets it. */
int bertd_threads(void);
void bertd_threads_set(int n);

int bertd_session_create(const bertd_model *m, bertd_session **out, char *errstr,
                         size_t errstr_size);
void bertd_session_free(bertd_session *s);
/* Threads a forward may use (default: OpenBLAS's count, i.e. OPENBLAS_NUM_THREADS or the cores).
 * A batch of several sequences is cut into that many groups of about equal work, each run on
 * its own thread with OpenBLAS single-threaded; a single sequence uses OpenBLAS's threads. */
void bertd_session_set_threads(bertd_session *s, int threads);

/* The encoder alone on B sequences of token ids, packed: lens (B), ids and type_ids (sum of
 * lens). No heads; the hidden states are read with bertd_session_hidden. For benchmarks and
 * for hosts that tokenize elsewhere. */
int bertd_session_forward_ids(bertd_session *s, int B, const int *lens, const int32_t *ids,
                              const int32_t *type_ids, char *errstr, size_t errstr_size);

/* Runs the encoder and the model's heads on B encodings (any lengths; packed internally). The
 * encodings must stay alive until the results are read. */
int bertd_session_forward(bertd_session *s, const bertd_encoding *const *encs, int B,
                          char *errstr, size_t errstr_size);

/* Runs the encoder and heads at the largest shapes the caller will submit: up to max_batch
 * sequences of at most max_len tokens, max_tokens tokens in all. Every buffer (the session's, and
 * the pages OpenBLAS touches) then exists before the first real batch, so a long-running server's
 * resident memory is flat from the start and a capacity the machine cannot hold fails at
 * start-up rather than on the first long batch. */
int bertd_session_warm_up(bertd_session *s, int max_batch, int max_tokens, int max_len,
                          char *errstr, size_t errstr_size);

/* Low-level access after a forward: the last hidden state of sequence b, (len,H). */
const float *bertd_session_hidden(const bertd_session *s, int b, int *len);
/* The pooler output of sequence b (H), or NULL if the checkpoint has no pooler. */
const float *bertd_session_pooled(const bertd_session *s, int b);
/* Raw head logits of sequence b: classify (NL), tag (len,NL), qa start/end (len), nsp (2),
 * joint intent (NI) and slots (len,NS), mlm (masks,V) at the [MASK] tokens in position order.
 * n receives the element count. NULL if not computed. */
const float *bertd_session_logits(const bertd_session *s, int b, const char *which, int *n);

/* ---- task results ---- */
typedef struct bertd_label_score {
  int id;
  const char *label;   /* owned by the model */
  float score;         /* softmax probability, or sigmoid for multi-label models */
} bertd_label_score;

typedef struct bertd_span {
  const char *label;   /* entity / slot type without the B-/I- prefix; owned by the model */
  int char_start, char_end;  /* code points into the original text (end exclusive) */
  int byte_start, byte_end;  /* bytes into the original UTF-8 text */
  float score;         /* mean probability of the span's word labels */
} bertd_span;

typedef struct bertd_word_tag {
  const char *tag;     /* full BIO tag, e.g. "B-fromloc.city_name" */
  int char_start, char_end, byte_start, byte_end;
  float score;
} bertd_word_tag;

/* Top-k labels of a classifier, best first (k = 0: all labels). Returns the count. */
int bertd_result_labels(const bertd_session *s, int b, int k, bertd_label_score *out,
                        int out_cap, char *errstr, size_t errstr_size);
/* JointBERT intents, best first. */
int bertd_result_intents(const bertd_session *s, int b, int k, bertd_label_score *out,
                         int out_cap, char *errstr, size_t errstr_size);
/* How per-word tag logits become tags. bio (the default): the most probable sequence in which
 * every I-X follows B-X or I-X (Viterbi over log-softmax, no learned transitions), so spans are
 * always well-formed; argmax: each word's best tag alone, exactly what transformers' pipeline
 * and JointBERT's predict.py output. Label sets without I- tags decode the same either way. */
typedef enum bertd_tag_decoding {
  BERTD_TAG_DECODE_BIO = 0,
  BERTD_TAG_DECODE_ARGMAX = 1
} bertd_tag_decoding;
/* "bio" | "argmax" -> the mode; -1 for another name. */
int bertd_tag_decoding_parse(const char *name, bertd_tag_decoding *out);
const char *bertd_tag_decoding_name(bertd_tag_decoding d);
/* logits (n,K): one row per word; names (K) the tag names (NULL: argmax). Writes each word's tag
 * id to out (n) and, if probs is not NULL, its softmax probability to probs (n). */
int bertd_tag_decode(const float *logits, int n, int K, const char *const *names,
                     bertd_tag_decoding mode, int32_t *out, float *probs, char *errstr,
                     size_t errstr_size);

/* Word-level tags (the label of each whitespace word, from its first sub-token's logits, decoded
 * by mode) of a token classifier (joint = 0) or of JointBERT's slot head (joint = 1); words
 * beyond truncation get none. Returns the word count. */
int bertd_result_word_tags(const bertd_session *s, int b, int joint, bertd_tag_decoding mode,
                           bertd_word_tag *out, int out_cap, char *errstr, size_t errstr_size);
/* The same from logits the caller holds (rows of e->n tokens, one per token of e), e.g. rows
 * gathered from several windows: only e's seq_ids, word_ids and offsets are read. */
int bertd_word_tags_from_logits(const bertd_model *m, int joint, const bertd_encoding *e,
                                const float *logits, bertd_tag_decoding mode,
                                bertd_word_tag *out, int out_cap, char *errstr,
                                size_t errstr_size);
/* Top-k labels from classifier logits (intents = 0: the classify head's num_labels, softmax or
 * sigmoid as the model's problem_type says) or JointBERT intent logits (intents = 1). */
int bertd_labels_from_logits(const bertd_model *m, int intents, const float *logits, int k,
                             bertd_label_score *out, int out_cap, char *errstr,
                             size_t errstr_size);
/* BIO word tags merged into spans with conlleval semantics. Returns the span count. */
int bertd_spans_from_tags(const bertd_word_tag *tags, int n, bertd_span *out, int out_cap);

typedef struct bertd_answer {
  int char_start, char_end, byte_start, byte_end; /* into the context (text_pair) */
  int token_start, token_end;                     /* inclusive token indices */
  float score;                                    /* p_start * p_end over context tokens */
} bertd_answer;
/* Best answer span of an extractive QA model: question = text, context = text_pair. */
int bertd_result_answer(const bertd_session *s, int b, int max_answer_tokens, bertd_answer *out,
                        char *errstr, size_t errstr_size);

/* Sentence embedding (H) with the checkpoint's pooling (mean if it has no pooling config). */
int bertd_result_embedding(const bertd_session *s, int b, float *out, char *errstr,
                           size_t errstr_size);

typedef struct bertd_fill {
  int position;        /* token index of the [MASK] */
  int token_id;
  const char *token;   /* owned by the tokenizer */
  float score;
} bertd_fill;
/* Top-k fills of every [MASK] of sequence b: out holds masks x k entries, mask by mask. */
int bertd_result_fill_mask(const bertd_session *s, int b, int k, bertd_fill *out, int out_cap,
                           char *errstr, size_t errstr_size);

/* Probability that text_pair follows text (NSP index 0). */
int bertd_result_is_next(const bertd_session *s, int b, float *prob, char *errstr,
                         size_t errstr_size);

/* Byte offset -> code point offset of a UTF-8 string (for callers converting spans). */
int bertd_utf8_char_index(const char *text, size_t byte_offset);

/* Sentence embedding out (H) of one sequence x (T,H): mean over its tokens, its [CLS] row, or
 * the max, per mode; L2-normalised when normalize is set (sentence-transformers' Normalize). */
void bertd_pool_sequence(const float *x, int T, int H, bertd_pooling_mode mode, int normalize,
                         float *out);

#endif
