/* bertd_plugin.h: the enrichment stage behind a small, versioned C ABI.
 *
 * A host (the bertd daemon, or any other program) hands the plugin texts with an opaque ref and
 * gets back, for each one, a completion carrying the task's result as JSON text. In between the
 * plugin tokenizes each text at once, queues it in a bucket of similar token lengths, and runs
 * full (or old enough) buckets as one forward pass on its own worker thread, so the host thread
 * stays free to poll Kafka.
 *
 *   char err[512];
 *   bertd_plugin *p;
 *   if (bertd_plugin_create("{\"model\":{\"dir\":\"models/atis\",\"task\":\"joint\"}}",
 *                           &p, err, sizeof err)) { fprintf(stderr, "%s\n", err); ... }
 *   bertd_plugin_submit(p, text, len, NULL, 0, my_ref, err, sizeof err);
 *   bertd_plugin_completion done[64];
 *   int n = bertd_plugin_poll(p, done, 64, 100);
 *   for (int i = 0; i < n; i++) use(done[i].ref, done[i].result);
 *   bertd_plugin_destroy(p);
 *
 * The same entry points are reachable through one symbol, bertd_plugin_get_api(), for hosts that
 * dlopen the shared object (libbertd_plugin.so). This header uses only C types: no jansson,
 * YAML or Kafka types cross the ABI.
 *
 * Errors: fallible calls return 0 (or a count) on success and -1 on failure with a one-line
 * message in errstr (librdkafka's errstr, errstr_size convention). Nothing here exits.
 *
 * Threads: one bertd_plugin is driven by one host thread (submit, poll, flush, in_flight,
 * destroy); inference happens on a worker thread the plugin owns. Separate plugins are
 * independent. */
#ifndef BERTD_PLUGIN_H
#define BERTD_PLUGIN_H

#include <stddef.h> /* size_t, offsetof */

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change to this header: a function's signature or meaning, or the
 * layout of bertd_plugin_completion or of the existing members of bertd_plugin_api. */
#define BERTD_PLUGIN_ABI_VERSION 1
/* Bumped on additions that keep hosts built for an older minor of the same major working:
 *   1.1  bertd_plugin_poll_timed, bertd_plugin_timing, bertd_plugin_api.abi_minor/poll_timed
 *   1.2  bertd_plugin_config_check, bertd_plugin_threads (and their bertd_plugin_api members)
 *   1.3  bertd_plugin_poll_batches, bertd_plugin_batch, bertd_plugin_model_json (for a host's
 *        metrics)
 *   1.4  bertd_plugin_poll_vectors, bertd_plugin_vector (an embedding as floats, not text) */
#define BERTD_PLUGIN_ABI_MINOR 4

/* Only these symbols are exported from the shared object (it is built -fvisibility=hidden). */
#if defined(__GNUC__)
#define BERTD_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define BERTD_PLUGIN_EXPORT
#endif

typedef struct bertd_plugin bertd_plugin;

/* Why a record did not get a result. The host sends such records to its dead-letter topic
 * with the code's name and the message. */
typedef enum bertd_plugin_reason {
  BERTD_PLUGIN_OK = 0,
  BERTD_PLUGIN_INVALID_INPUT = 1, /* the text could not be tokenized, e.g. invalid UTF-8 */
  BERTD_PLUGIN_TOO_LONG = 2,      /* over max_length tokens with on_too_long: dead_letter */
  BERTD_PLUGIN_INFERENCE = 3      /* the forward pass or the result failed for its batch */
} bertd_plugin_reason;

/* One finished record, as poll() returns it. */
typedef struct bertd_plugin_completion {
  void *ref;               /* as given to submit() */
  int reason;              /* bertd_plugin_reason; BERTD_PLUGIN_OK when result is set */
  const char *error;       /* one line, NUL-terminated; "" when reason is OK */
  const char *result;      /* the task's result object as compact JSON text, NUL-terminated,
                            * reals to 8 significant digits (as `bertd <task>` prints them);
                            * NULL when reason is not OK */
  size_t result_len;       /* strlen(result), 0 when NULL */
  int tokens;              /* tokens of the encoded record, special tokens included (after
                            * truncation; with windows, all windows' together); for TOO_LONG
                            * the length before truncation; 0 when it could not be tokenized */
  double latency_ms;       /* from submit() to the completion being ready (queue_ms + model_ms
                            * of bertd_plugin_timing) */
} bertd_plugin_completion;

/* Where a finished record's time went (ABI 1.1), beside its completion. */
typedef struct bertd_plugin_timing {
  double queue_ms;         /* from submit() until its batch's forward pass began: waiting in a
                            * length bucket and behind earlier batches */
  double model_ms;         /* its batch's forward pass and results, shared by the batch's
                            * records; 0 for records that never reached the model */
} bertd_plugin_timing;

/* A finished record's embedding as floats (ABI 1.4), beside its completion: the embed task's
 * vector, exactly as the model computed it, for a host that writes it in binary (Avro) and would
 * otherwise print it as text and parse it back. */
typedef struct bertd_plugin_vector {
  const float *values;     /* dim floats; NULL when the record has no embedding */
  int dim;                 /* 0 when values is NULL */
} bertd_plugin_vector;

/* One batch the worker ran (ABI 1.3), for a host's metrics. */
typedef struct bertd_plugin_batch {
  int sequences;           /* sequences in the batch: records, or windows of long records */
  int tokens;              /* their tokens, special tokens included */
  int padded_tokens;       /* sequences x the longest of them: what the forward pass computed */
  double model_ms;         /* the forward pass and the results */
} bertd_plugin_batch;

/* Batches the plugin remembers for poll_batches(): a host that polls less often than this many
 * batches run loses the oldest (they are counted in bertd_plugin_poll_batches' *dropped). */
#define BERTD_PLUGIN_BATCH_LOG 1024

/* ---- version ---- */

/* BERTD_PLUGIN_ABI_VERSION of the plugin as built. */
BERTD_PLUGIN_EXPORT int bertd_plugin_abi_version(void);

/* 0 when this plugin implements the ABI a host was compiled against (pass the host's
 * BERTD_PLUGIN_ABI_VERSION); -1 with the two versions in errstr otherwise. A host that dlopens
 * the plugin calls this before anything else. */
BERTD_PLUGIN_EXPORT int bertd_plugin_abi_check(int host_abi_version, char *errstr,
                                               size_t errstr_size);

/* ---- lifecycle ---- */

/* Creates a plugin from a pipeline's model and batching configuration, given as JSON text (the
 * daemon hands over its YAML `model:` and `batching:` sections as they are, converted to JSON).
 * Loads the model and starts the worker thread. Unknown keys and wrong types are errors that
 * start with the key's dotted path and a colon, e.g.
 * "model.top_k: expected an integer, got the string '3'", so a host can point at the line of its
 * own file that set it.
 *
 *   {
 *     "model": {
 *       "dir": "path/to/checkpoint",  required: a Hugging Face BERT checkpoint directory
 *       "task": "classify",           tokenize | classify | tag | joint | qa | embed |
 *                                     fill-mask | nsp; required
 *       "max_length": 128,            tokens per record, special tokens included (values above
 *                                     the model's own limit are capped to it)
 *       "truncation": "longest_first",  longest_first | only_first | only_second (pairs)
 *       "top_k": 0,                   labels / intents / fills to report; 0: the task's own (1
 *                                     label or intent; every label scoring at least 0.5 for
 *                                     multi-label classify; 5 fills)
 *       "threshold": null,            classify, joint: labels / intents scoring below it are
 *                                     not reported (0 reports all); null: no threshold (see
 *                                     top_k); other tasks refuse it
 *       "max_answer_tokens": 15,      qa: longest answer span
 *       "tag_decoding": "bio",        tag / joint: bio (well-formed BIO spans, Viterbi) or
 *                                     argmax (each word's best tag, as transformers outputs)
 *       "threads": null,              threads a batch of several records is split across;
 *                                     null: bertd_plugin_threads()
 *       "precision": "fp32",          fp32 | bf16 | int8: the encoder's linear layers in bf16
 *                                     (AVX512-BF16) or dynamic int8 (AVX512-VNNI, else AVX2),
 *                                     the kernel picked from cpuid; on a CPU without the
 *                                     instructions create fails with one line
 *       "min_agreement": null,        bf16 / int8, classify / joint: create fails (one line,
 *                                     the measured fraction) unless at least this fraction of
 *                                     the calibration records get fp32's top label
 *       "calibration": null,          JSONL of {"text", "text_pair"?}: min_agreement's records
 *       "on_too_long": "truncate",    truncate: cut to max_length and enrich (the result
 *                                     says "truncated_tokens": how many were cut);
 *                                     dead_letter: complete with BERTD_PLUGIN_TOO_LONG;
 *                                     window: overlapping windows of max_length tokens, each
 *                                     batched as a sequence of its own, outputs combined (the
 *                                     result says "windows": how many); classify, tag, joint,
 *                                     qa (the context is windowed, the question repeated) and
 *                                     embed
 *       "window_stride": null,        tokens neighbouring windows share (transformers' stride
 *                                     and doc_stride); null: max_length / 4; below the tokens
 *                                     a window holds
 *       "window_combine": "mean"      classify / joint intent: mean or max of window logits
 *     },
 *     "batching": {
 *       "max_batch_tokens": 4096,     a batch costs records x longest record (padded tokens);
 *                                     a bucket runs when one more record would exceed this; at
 *                                     least max_length
 *       "max_batch_records": 32,      a bucket runs when it holds this many records
 *       "max_wait_ms": 10,            a bucket runs when its oldest record has waited this long
 *       "buckets": null               ascending token-length edges, none above max_length: a
 *                                     record of L tokens goes to the first bucket whose edge
 *                                     is >= L; max_length is added when the last edge is
 *                                     below it; null: 16, 32, 64, ... below max_length, then
 *                                     max_length
 *     }
 *   }
 *
 * Every key but model.dir and model.task is optional; the values shown are the defaults, which
 * one table in plugin_config.c defines. A key whose value is null takes its default. */
BERTD_PLUGIN_EXPORT int bertd_plugin_create(const char *config_json, bertd_plugin **out,
                                            char *errstr, size_t errstr_size);

/* Stops the worker (after the batch it is running, if any) and frees everything. Records not
 * yet polled are dropped without completions; their refs are not touched. NULL is a no-op. */
BERTD_PLUGIN_EXPORT void bertd_plugin_destroy(bertd_plugin *p);

/* ---- records ---- */

/* Submits one record: text (len bytes of UTF-8) and, for pair tasks (qa, nsp), text_pair
 * (NULL: none). Both are copied. The record is tokenized now and queued in the bucket for its
 * token length; a record that cannot be tokenized, or is too long under on_too_long:
 * dead_letter, is queued as an error completion instead, so every accepted record yields
 * exactly one completion. Returns 0 when accepted, -1 only when the plugin could not take the
 * record at all (out of memory, bad arguments): then no completion will carry ref. */
BERTD_PLUGIN_EXPORT int bertd_plugin_submit(bertd_plugin *p, const char *text, size_t len,
                                            const char *text_pair, size_t pair_len, void *ref,
                                            char *errstr, size_t errstr_size);

/* Moves up to max finished records into out and returns how many (0..max). Waits up to
 * timeout_ms for the first one (0: do not wait; -1: wait until one is ready or nothing is in
 * flight). Records of one bucket complete in the order they were submitted; records of
 * different buckets complete as their batches finish, so the host restores its own order.
 *
 * The strings in out (error, result) are owned by the plugin and stay valid until the next
 * poll() or destroy(), whichever comes first; copy what you keep. */
BERTD_PLUGIN_EXPORT int bertd_plugin_poll(bertd_plugin *p, bertd_plugin_completion *out, int max,
                                          int timeout_ms);

/* poll() that also fills timing[i] for out[i] (timing may be NULL). ABI 1.1. */
BERTD_PLUGIN_EXPORT int bertd_plugin_poll_timed(bertd_plugin *p, bertd_plugin_completion *out,
                                                bertd_plugin_timing *timing, int max,
                                                int timeout_ms);

/* poll_timed() that hands each record's embedding (embed task) over as floats in vectors[i]
 * instead of text: out[i].result then has no "embedding" key. For records without one (other
 * tasks, failed records) vectors[i] is {NULL, 0} and the result is what poll() gives. The floats
 * are owned like the strings: valid until the next poll or destroy. ABI 1.4. */
BERTD_PLUGIN_EXPORT int bertd_plugin_poll_vectors(bertd_plugin *p, bertd_plugin_completion *out,
                                                  bertd_plugin_timing *timing,
                                                  bertd_plugin_vector *vectors, int max,
                                                  int timeout_ms);

/* Runs every non-empty bucket now, whatever its size or age, and waits until every record
 * submitted so far is ready for poll(). 0 on success; -1 if timeout_ms (-1: no limit) passed
 * first, in which case the remaining records still complete later. */
BERTD_PLUGIN_EXPORT int bertd_plugin_flush(bertd_plugin *p, int timeout_ms);

/* Records submitted and not yet returned by poll(): queued, running, or ready. */
BERTD_PLUGIN_EXPORT int bertd_plugin_in_flight(const bertd_plugin *p);

/* The loaded model's name (its directory's base name) and weights checksum, which the host
 * writes into every enriched record so a consumer knows exactly which model produced it. */
BERTD_PLUGIN_EXPORT int bertd_plugin_model_info(const bertd_plugin *p, char *name,
                                                size_t name_size, char *checksum,
                                                size_t checksum_size);

/* ---- configuration and process (ABI 1.2) ---- */

/* Checks config_json as bertd_plugin_create() would, without loading the model, and writes the
 * effective configuration into effective (when not NULL): every key above with the value the
 * plugin will use, defaults and derived values (buckets) filled in, as compact JSON text. A host
 * validates its configuration with it before it starts anything, and reads back what it needs
 * (the task) without a second table of defaults. 0 on success; -1 with "PATH: message" in
 * errstr, or when effective_size is too small (the message says how much is needed). */
BERTD_PLUGIN_EXPORT int bertd_plugin_config_check(const char *config_json, char *effective,
                                                  size_t effective_size, char *errstr,
                                                  size_t errstr_size);

/* The threads the process's forward passes may use: n > 0 sets them (process-wide: OpenBLAS's
 * thread pool, which every plugin in the process shares), n <= 0 only asks. Returns the count
 * now in force. A host running several plugins side by side sets 1 and gives each plugin its
 * share through model.threads, because concurrent callers of a multi-threaded OpenBLAS queue on
 * its one pool. */
BERTD_PLUGIN_EXPORT int bertd_plugin_threads(int n);

/* ABI 1.3. Moves up to max of the batches run since the last call into out, oldest first, and
 * returns how many; *dropped (may be NULL) gets the batches lost since the last call because
 * more than BERTD_PLUGIN_BATCH_LOG were waiting. Host thread. */
BERTD_PLUGIN_EXPORT int bertd_plugin_poll_batches(bertd_plugin *p, bertd_plugin_batch *out,
                                                  int max, unsigned long long *dropped);

/* ABI 1.3. The loaded model as one JSON object, for labels: {"name": directory base name,
 * "checksum": weights checksum, "task": the task served, "precision": the arithmetic of the
 * forward pass ("float32": weights stored as F16/BF16 are widened when loaded),
 * "max_length": tokens per sequence}. Returns the length written, or -1 when size is too small
 * (buf then holds nothing usable). */
BERTD_PLUGIN_EXPORT int bertd_plugin_model_json(const bertd_plugin *p, char *buf, size_t size);

/* ---- function table, for dlopen ---- */

/* Every entry point in one struct, so a host needs a single dlsym("bertd_plugin_get_api").
 * Check abi_version (or call abi_check) before using the rest; struct_size lets later versions
 * append members. */
typedef struct bertd_plugin_api {
  int abi_version;
  size_t struct_size;
  int (*abi_check)(int host_abi_version, char *errstr, size_t errstr_size);
  int (*create)(const char *config_json, bertd_plugin **out, char *errstr, size_t errstr_size);
  void (*destroy)(bertd_plugin *p);
  int (*submit)(bertd_plugin *p, const char *text, size_t len, const char *text_pair,
                size_t pair_len, void *ref, char *errstr, size_t errstr_size);
  int (*poll)(bertd_plugin *p, bertd_plugin_completion *out, int max, int timeout_ms);
  int (*flush)(bertd_plugin *p, int timeout_ms);
  int (*in_flight)(const bertd_plugin *p);
  const char *(*reason_name)(int reason);
  int (*model_info)(const bertd_plugin *p, char *name, size_t name_size, char *checksum,
                    size_t checksum_size);
  /* ABI 1.1: present when struct_size covers them (BERTD_PLUGIN_API_HAS) */
  int abi_minor;
  int (*poll_timed)(bertd_plugin *p, bertd_plugin_completion *out, bertd_plugin_timing *timing,
                    int max, int timeout_ms);
  /* ABI 1.2 */
  int (*config_check)(const char *config_json, char *effective, size_t effective_size,
                      char *errstr, size_t errstr_size);
  int (*threads)(int n);
  /* ABI 1.3 */
  int (*poll_batches)(bertd_plugin *p, bertd_plugin_batch *out, int max,
                      unsigned long long *dropped);
  int (*model_json)(const bertd_plugin *p, char *buf, size_t size);
  /* ABI 1.4 */
  int (*poll_vectors)(bertd_plugin *p, bertd_plugin_completion *out, bertd_plugin_timing *timing,
                      bertd_plugin_vector *vectors, int max, int timeout_ms);
} bertd_plugin_api;

/* Whether api (of a plugin possibly built for an older minor) has member m. */
#define BERTD_PLUGIN_API_HAS(api, m)                                                           \
  ((api)->struct_size >= offsetof(bertd_plugin_api, m) + sizeof((api)->m))

/* The table; static storage, valid while the object is loaded. */
BERTD_PLUGIN_EXPORT const bertd_plugin_api *bertd_plugin_get_api(void);
typedef const bertd_plugin_api *(*bertd_plugin_get_api_fn)(void);

/* "ok", "invalid_input", "too_long", "inference"; "unknown" for other values. */
BERTD_PLUGIN_EXPORT const char *bertd_plugin_reason_name(int reason);

#ifdef __cplusplus
}
#endif

#endif
