/* replay.c: the replay's driver: read the range, decode each record as the daemon does, take its
 * gold, hand its text to the enrichment stage (one bertd_plugin per model, the daemon's batcher
 * and workers), collect the predictions, score them and write the report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bertd.h"
#include "bertd_plugin.h"
#include "replay_internal.h"

#define POLL_BATCH 256

void bertd_replay_opts_init(bertd_replay_opts *o) {
  memset(o, 0, sizeof *o);
  o->partition = -1;
  o->from_offset = o->to_offset = BERTD_REPLAY_UNSET;
  o->from_time_ms = o->to_time_ms = BERTD_REPLAY_UNSET;
  o->seed = 42;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct run {
  rp_ctx c;
  rp_reader rd;
  bertd_plugin *pl[2];
  bertd_codec *codec;
  bertd_registry *reg;
  rp_gold_file *gold;
  rd_kafka_t *prod;
  size_t done, produced, produce_failed;
  double t0, last_progress;
  char err[512];
} run;

static int task_of(const char *name, rp_task *t) {
  if (!name) return -1;
  if (!strcmp(name, "classify")) *t = RP_TASK_CLASSIFY;
  else if (!strcmp(name, "joint")) *t = RP_TASK_JOINT;
  else if (!strcmp(name, "tag")) *t = RP_TASK_TAG;
  else if (!strcmp(name, "embed")) *t = RP_TASK_EMBED;
  else return -1;
  return 0;
}

/* model.dir of a plugin JSON config */
static int model_dir_of(const char *plugin_json, char *dir, size_t size, char *errstr,
                        size_t errstr_size) {
  json_error_t je;
  json_t *root = json_loads(plugin_json, 0, &je);
  const char *d = json_string_value(json_object_get(json_object_get(root, "model"), "dir"));
  if (!d) {
    snprintf(errstr, errstr_size, "plugin config: no model.dir");
    json_decref(root);
    return -1;
  }
  snprintf(dir, size, "%s", d);
  json_decref(root);
  return 0;
}

/* The model's label and tag lists, frozen: gold names outside them are unknown labels. */
static int load_lists(rp_ctx *c, const char *dir, rp_names *labels, rp_names *tags,
                      char *errstr, size_t errstr_size) {
  bertd_checkpoint_config cfg;
  if (bertd_config_load(dir, &cfg, errstr, errstr_size)) return -1;
  char **l = NULL, **t = NULL;
  int nl = 0, nt = 0, rc = 0;
  if (c->task == RP_TASK_JOINT) l = cfg.intent_labels, nl = cfg.num_intents,
                                t = cfg.slot_labels, nt = cfg.num_slots;
  else if (c->task == RP_TASK_CLASSIFY) l = cfg.id2label, nl = cfg.num_labels;
  else if (c->task == RP_TASK_TAG) t = cfg.id2label, nt = cfg.num_labels;
  for (int i = 0; i < nl && !rc; i++) rc = bertd_rp_names_intern(labels, l[i]) != i;
  for (int i = 0; i < nt && !rc; i++) rc = bertd_rp_names_intern(tags, t[i]) != i;
  if (rc) snprintf(errstr, errstr_size, "%s: duplicate label names in config.json", dir);
  labels->frozen = nl > 0, tags->frozen = nt > 0;
  bertd_config_free(&cfg);
  return rc ? -1 : 0;
}

static int same_names(const rp_names *a, const rp_names *b) {
  if (a->n != b->n) return 0;
  for (int i = 0; i < a->n; i++)
    if (strcmp(a->v[i], b->v[i])) return 0;
  return 1;
}

static int open_codec(run *R, char *errstr, size_t errstr_size) {
  const bertd_replay_opts *o = R->c.o;
  bertd_avro_schema *s = NULL, *enriched = NULL;
  if (bertd_avro_schema_load(o->schema_path, &s, errstr, errstr_size)) return -1;
  int rc = -1;
  if (!o->stored && bertd_codec_check_fields(s, o->text_field, o->pair_field, errstr,
                                             errstr_size))
    goto out;
  /* --stored reads the daemon's enriched records: the input schema plus its `bertd` field */
  if (o->stored && bertd_avro_schema_enrich(s, &enriched, errstr, errstr_size)) goto out;
  if (o->registry_url && bertd_registry_create(o->registry_url, 0, &R->reg, errstr, errstr_size))
    goto out;
  char subject[512];
  snprintf(subject, sizeof subject, "%s-value", o->output_topic ? o->output_topic : "");
  bertd_codec_conf cc = {.framing = o->confluent ? BERTD_FRAMING_CONFLUENT : BERTD_FRAMING_PLAIN,
                         .text_field = o->text_field,
                         .pair_field = o->pair_field,
                         .input_schema_id = -1,
                         .output_schema_id = -1,
                         .registry = R->reg,
                         .output_subject = o->output_topic && R->reg ? subject : NULL,
                         .decode_only = !o->output_topic || o->stored};
  rc = bertd_codec_create(&cc, enriched ? enriched : s, &R->codec, errstr, errstr_size);
out:
  bertd_avro_schema_free(s);
  bertd_avro_schema_free(enriched);
  return rc;
}

static rp_rec *new_rec(rp_ctx *c) {
  if (c->n_recs == c->cap_recs) {
    size_t cap = c->cap_recs ? 2 * c->cap_recs : 1024;
    rp_rec *v = realloc(c->recs, sizeof *v * cap);
    if (!v) return NULL;
    c->recs = v, c->cap_recs = cap;
  }
  rp_rec *r = &c->recs[c->n_recs++];
  memset(r, 0, sizeof *r);
  r->gold = -1;
  r->p[0].label = r->p[1].label = -1;
  return r;
}

static void undecodable(rp_ctx *c, const rd_kafka_message_t *m, const char *reason,
                        const char *error) {
  c->n_undecodable++;
  if (json_array_size(c->undecodable) < 1000)
    json_array_append_new(c->undecodable,
                          json_pack("{s:i, s:I, s:s, s:s}", "partition", (int)m->partition,
                                    "offset", (json_int_t)m->offset, "reason", reason, "error",
                                    error));
}

static void produce_enriched(run *R, rp_rec *r, const json_t *result,
                             const bertd_plugin_completion *done, const bertd_plugin_timing *t) {
  bertd_enrichment en = {.model = R->c.model_name[0], .model_checksum = R->c.checksum[0],
                         .task = R->c.o->task, .queue_ms = t->queue_ms, .model_ms = t->model_ms,
                         .end_to_end_ms = r->ts_ms >= 0 ? (double)(wall_ms() - r->ts_ms) : 0,
                         .has_end_to_end = r->ts_ms >= 0, .result = result};
  (void)done;
  void *buf = NULL;
  size_t len = 0;
  char err[512];
  if (bertd_codec_encode(R->codec, r->avro, &en, &buf, &len, err, sizeof err)) {
    R->produce_failed++;
    return;
  }
  rd_kafka_resp_err_t e;
  while ((e = rd_kafka_producev(R->prod, RD_KAFKA_V_TOPIC(R->c.o->output_topic),
                                RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                                RD_KAFKA_V_KEY(r->key, r->key ? strlen(r->key) : 0),
                                RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
    rd_kafka_poll(R->prod, 100);
  if (e) {
    free(buf);
    R->produce_failed++;
  } else {
    R->produced++;
  }
  rd_kafka_poll(R->prod, 0);
}

/* Moves model m's finished records into their predictions. */
static int collect(run *R, int m, int timeout_ms, char *errstr, size_t errstr_size) {
  bertd_plugin_completion done[POLL_BATCH];
  bertd_plugin_timing t[POLL_BATCH];
  int n = bertd_plugin_poll_timed(R->pl[m], done, t, POLL_BATCH, timeout_ms);
  for (int i = 0; i < n; i++) {
    rp_rec *r = &R->c.recs[(size_t)(uintptr_t)done[i].ref - 1];
    rp_pred *p = &r->p[m];
    p->done = 1;
    p->latency_ms = t[i].queue_ms + t[i].model_ms;
    p->model_ms = t[i].model_ms;
    if (done[i].reason != BERTD_PLUGIN_OK) {
      char msg[600];
      snprintf(msg, sizeof msg, "%s: %s", bertd_plugin_reason_name(done[i].reason),
               done[i].error);
      p->error = strdup(msg);
    } else {
      json_error_t je;
      json_t *res = json_loadb(done[i].result, done[i].result_len, 0, &je);
      char err[512] = "";
      if (res && !bertd_rp_pred_from_result(&R->c, p, res, err, sizeof err)) p->ok = 1;
      else if (!res) snprintf(err, sizeof err, "result: %s", je.text);
      if (!p->ok) {
        snprintf(errstr, errstr_size, "model %c: %s", m ? 'B' : 'A', err);
        json_decref(res);
        return -1;
      }
      if (m == 0 && R->prod) produce_enriched(R, r, res, &done[i], &t[i]);
      json_decref(res);
    }
    if (m == 0 && r->avro) bertd_record_free(r->avro), r->avro = NULL;
    if (r->p[0].done && (R->c.n_models < 2 || r->p[1].done)) R->done++;
  }
  return n;
}

static void progress(run *R, int last) {
  if (!R->c.o->progress) return;
  double t = now_s();
  if (!last && t - R->last_progress < 0.25) return;
  R->last_progress = t;
  double rate = R->done / (t - R->t0 > 1e-9 ? t - R->t0 : 1e-9);
  size_t left = R->rd.total > R->done ? R->rd.total - R->done : 0;
  fprintf(stderr, "\rreplay: %zu / %zu records, %.0f records/s, ETA %.0f s   %s", R->done,
          R->rd.total, rate, rate > 0 ? (double)left / rate : 0.0, last ? "\n" : "");
  fflush(stderr);
}

/* One message of the range: decoded, gold taken, submitted (or, --stored, its prediction). */
static int take(run *R, const rd_kafka_message_t *m, char *errstr, size_t errstr_size) {
  rp_ctx *c = &R->c;
  bertd_record *rec = NULL;
  bertd_codec_reason why = BERTD_CODEC_NOT_AVRO;
  char err[512];
  if (!m->payload) {
    undecodable(c, m, "NOT_AVRO", "empty value (tombstone)");
    R->done++;
    return 0;
  }
  if (bertd_codec_decode(R->codec, m->payload, m->len, &rec, &why, err, sizeof err)) {
    undecodable(c, m, bertd_codec_reason_name(why), err);
    R->done++;
    return 0;
  }
  json_t *obj = NULL;
  rp_rec *r = new_rec(c);
  if (!r || bertd_record_to_json(rec, &obj, err, sizeof err)) {
    snprintf(errstr, errstr_size, "%s", r ? err : "out of memory");
    bertd_record_free(rec);
    return -1;
  }
  size_t tl = 0, pl = 0;
  const char *text = bertd_record_text(rec, &tl), *pair = bertd_record_pair(rec, &pl);
  rd_kafka_timestamp_type_t tt;
  r->partition = m->partition, r->offset = m->offset;
  r->ts_ms = rd_kafka_message_timestamp(m, &tt);
  r->text = strndup(text, tl);
  if (m->key) r->key = strndup(m->key, m->key_len);
  if (!r->text) goto oom;
  const json_t *gsrc = obj;
  if (R->gold) {
    char kb[1024];
    const char *key = r->key;
    if (c->o->gold_key) {
      /* the record's field of that name, else its key */
      const json_t *kv = bertd_rp_unwrap(json_object_get(obj, c->o->gold_key));
      if (json_is_string(kv)) key = json_string_value(kv);
      else if (json_is_integer(kv))
        snprintf(kb, sizeof kb, "%lld", (long long)json_integer_value(kv)), key = kb;
    }
    gsrc = key ? bertd_rp_gold_file_find(R->gold, key) : NULL;
  }
  if (gsrc && bertd_rp_gold_from(c, r, gsrc)) goto oom;
  size_t i = c->n_recs;
  if (c->o->stored) {
    const json_t *b = json_object_get(obj, "bertd");
    r->p[0].done = 1;
    if (!json_is_object(b) || bertd_rp_pred_from_result(c, &r->p[0], b, err, sizeof err)) {
      r->p[0].error = strdup(json_is_object(b) ? err : "the record has no bertd field");
    } else {
      r->p[0].ok = 1;
      r->p[0].model_ms = json_number_value(json_object_get(b, "model_ms"));
      r->p[0].latency_ms =
          r->p[0].model_ms + json_number_value(json_object_get(b, "queue_ms"));
      if (!c->model_name[0][0]) {
        snprintf(c->model_name[0], sizeof c->model_name[0], "%s",
                 json_string_value(json_object_get(b, "model")) ?: "");
        snprintf(c->checksum[0], sizeof c->checksum[0], "%s",
                 json_string_value(json_object_get(b, "model_checksum")) ?: "");
      }
    }
    R->done++;
    bertd_record_free(rec);
  } else {
    if (R->prod) r->avro = rec;
    for (int k = 0; k < c->n_models; k++)
      if (bertd_plugin_submit(R->pl[k], text, tl, pair, pl, (void *)(uintptr_t)i, err,
                              sizeof err)) {
        snprintf(errstr, errstr_size, "model %c: %s", k ? 'B' : 'A', err);
        json_decref(obj);
        return -1;
      }
    if (!R->prod) bertd_record_free(rec);
  }
  /* the text is needed again only to list changed records (A/B) or write --predictions: a
   * long single-model replay keeps just the labels */
  if (c->n_models < 2 && !c->o->predictions_path) free(r->text), r->text = NULL;
  json_decref(obj);
  return 0;
oom:
  snprintf(errstr, errstr_size, "out of memory");
  json_decref(obj);
  bertd_record_free(rec);
  return -1;
}

static int cmp_rec(const void *a, const void *b) {
  const rp_rec *x = a, *y = b;
  if (x->partition != y->partition) return x->partition < y->partition ? -1 : 1;
  return (x->offset > y->offset) - (x->offset < y->offset);
}

static void free_run(run *R) {
  rp_ctx *c = &R->c;
  for (int k = 0; k < 2; k++) bertd_plugin_destroy(R->pl[k]);
  bertd_rp_reader_close(&R->rd);
  if (R->prod) {
    rd_kafka_flush(R->prod, 30000);
    rd_kafka_destroy(R->prod);
  }
  for (size_t i = 0; i < c->n_recs; i++) {
    rp_rec *r = &c->recs[i];
    free(r->key), free(r->text), free(r->gold_name), free(r->gold_tags);
    for (int k = 0; k < 2; k++) free(r->p[k].tags), free(r->p[k].error);
    bertd_record_free(r->avro);
  }
  free(c->recs);
  bertd_rp_names_free(&c->labels);
  bertd_rp_names_free(&c->tags);
  json_decref(c->undecodable);
  json_decref(c->unknown_gold);
  json_decref(c->bad_gold);
  json_decref(c->ranges);
  bertd_codec_free(R->codec);
  bertd_registry_free(R->reg);
  bertd_rp_gold_file_free(R->gold);
}

static int setup(run *R, char *errstr, size_t errstr_size) {
  rp_ctx *c = &R->c;
  const bertd_replay_opts *o = c->o;
  if (task_of(o->task, &c->task)) {
    snprintf(errstr, errstr_size, "--task %s: expected classify, joint, tag or embed",
             o->task ? o->task : "(none)");
    return BERTD_REPLAY_BAD_RANGE;
  }
  if (!o->stored && !o->plugin_json) {
    snprintf(errstr, errstr_size, "a model is needed (or --stored)");
    return BERTD_REPLAY_BAD_RANGE;
  }
  c->n_models = !o->stored && o->plugin_json_b ? 2 : 1;
  char dir[4096];
  const char *label_dir = o->stored ? o->label_model_dir : NULL;
  if (!o->stored) {
    if (model_dir_of(o->plugin_json, dir, sizeof dir, errstr, errstr_size))
      return BERTD_REPLAY_BAD_RANGE;
    label_dir = dir;
  }
  if (label_dir && load_lists(c, label_dir, &c->labels, &c->tags, errstr, errstr_size))
    return BERTD_REPLAY_BAD_RANGE;
  if (c->n_models == 2) {
    rp_names lb = {0}, tb = {0};
    int rc = model_dir_of(o->plugin_json_b, dir, sizeof dir, errstr, errstr_size) ||
             load_lists(c, dir, &lb, &tb, errstr, errstr_size);
    if (!rc && (!same_names(&lb, &c->labels) || !same_names(&tb, &c->tags))) {
      snprintf(errstr, errstr_size, "model B (%s) does not have model A's labels and tags: "
               "A/B needs the same label set", dir);
      rc = -1;
    }
    bertd_rp_names_free(&lb), bertd_rp_names_free(&tb);
    if (rc) return BERTD_REPLAY_BAD_RANGE;
  }
  if (o->gold_file && bertd_rp_gold_file_load(o->gold_file, o->gold_key, &R->gold, errstr, errstr_size))
    return BERTD_REPLAY_BAD_RANGE;
  if (open_codec(R, errstr, errstr_size)) return BERTD_REPLAY_BAD_RANGE;
  int rc = bertd_rp_reader_open(o, &R->rd, errstr, errstr_size);
  if (rc) return rc;
  for (int k = 0; k < c->n_models && !o->stored; k++) {
    char err[512];
    if (bertd_plugin_create(k ? o->plugin_json_b : o->plugin_json, &R->pl[k], err, sizeof err)) {
      snprintf(errstr, errstr_size, "model %c: %s", k ? 'B' : 'A', err);
      return BERTD_REPLAY_BAD_RANGE;
    }
    bertd_plugin_model_info(R->pl[k], c->model_name[k], sizeof c->model_name[k], c->checksum[k],
                            sizeof c->checksum[k]);
  }
  if (o->output_topic && !o->stored && bertd_rp_producer_open(o, &R->prod, errstr, errstr_size))
    return BERTD_REPLAY_FAILED;
  c->ranges = json_array();
  for (int i = 0; i < R->rd.n; i++)
    json_array_append_new(c->ranges, json_pack("{s:i, s:I, s:I}", "partition",
                                               (int)R->rd.parts[i].partition, "from",
                                               (json_int_t)R->rd.parts[i].start, "to",
                                               (json_int_t)R->rd.parts[i].end));
  return BERTD_REPLAY_OK;
}

static int in_flight(const run *R) {
  int n = 0;
  for (int k = 0; k < R->c.n_models; k++) n += R->pl[k] ? bertd_plugin_in_flight(R->pl[k]) : 0;
  return n;
}

static json_t *pred_json(const rp_ctx *c, const rp_pred *p) {
  if (!p->ok) return json_pack("{s:s}", "error", p->error ? p->error : "");
  json_t *o = json_object();
  if (c->task == RP_TASK_CLASSIFY || c->task == RP_TASK_JOINT) {
    json_object_set_new(o, "label", p->label >= 0 ? json_string(c->labels.v[p->label])
                                                  : json_null());
    json_object_set_new(o, "score", json_real(p->conf));
  }
  if (c->task == RP_TASK_JOINT || c->task == RP_TASK_TAG) {
    json_t *t = json_array();
    for (int i = 0; i < p->n_tags; i++) json_array_append_new(t, json_string(c->tags.v[p->tags[i]]));
    json_object_set_new(o, "tags", t);
  }
  return o;
}

/* --predictions: one line per decoded record, labelled or not. */
static int write_predictions(const rp_ctx *c, const char *path, char *errstr,
                             size_t errstr_size) {
  FILE *f = fopen(path, "w");
  if (!f) {
    snprintf(errstr, errstr_size, "--predictions %s: cannot open for writing", path);
    return -1;
  }
  static const char *const state[] = {"none", "ok", "unknown", "bad"};
  for (size_t i = 0; i < c->n_recs; i++) {
    const rp_rec *r = &c->recs[i];
    json_t *o = json_pack("{s:i, s:I, s:s?, s:s, s:s}", "partition", (int)r->partition, "offset",
                          (json_int_t)r->offset, "key", r->key, "text", r->text, "gold",
                          state[r->gold_state]);
    if (r->gold_state == RP_GOLD_OK && r->gold >= 0)
      json_object_set_new(o, "gold_label", json_string(c->labels.v[r->gold]));
    if (r->gold_state == RP_GOLD_UNKNOWN && r->gold_name)
      json_object_set_new(o, "gold_label", json_string(r->gold_name));
    if (r->gold_state == RP_GOLD_OK && r->has_gold_tags) {
      json_t *t = json_array();
      for (int k = 0; k < r->n_gold_tags; k++)
        json_array_append_new(t, json_string(c->tags.v[r->gold_tags[k]]));
      json_object_set_new(o, "gold_tags", t);
    }
    json_object_set_new(o, "a", pred_json(c, &r->p[0]));
    if (c->n_models == 2) json_object_set_new(o, "b", pred_json(c, &r->p[1]));
    char *line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(8));
    json_decref(o);
    if (!line || fprintf(f, "%s\n", line) < 0) {
      free(line);
      fclose(f);
      snprintf(errstr, errstr_size, "--predictions %s: write failed", path);
      return -1;
    }
    free(line);
  }
  if (fclose(f)) {
    snprintf(errstr, errstr_size, "--predictions %s: write failed", path);
    return -1;
  }
  return 0;
}

static json_t *report(run *R, char *errstr, size_t errstr_size) {
  rp_ctx *c = &R->c;
  qsort(c->recs, c->n_recs, sizeof *c->recs, cmp_rec);
  if (c->o->predictions_path && write_predictions(c, c->o->predictions_path, errstr, errstr_size))
    return NULL;
  json_t *a = bertd_rp_score_model(c, 0, errstr, errstr_size);
  if (!a) return NULL;
  size_t labelled = 0, with_gold = 0;
  for (size_t i = 0; i < c->n_recs; i++) {
    labelled += bertd_rp_counts(c, &c->recs[i], 0);
    with_gold += c->recs[i].gold_state != RP_GOLD_NONE;
  }
  json_t *rep = json_pack(
      "{s:s, s:s, s:O, s:I, s:I, s:I, s:I, s:O, s:{s:I, s:O}, s:I, s:O, s:f, s:f}", "topic",
      c->o->topic, "task", c->o->task, "ranges", c->ranges, "records",
      (json_int_t)(c->n_recs + c->n_undecodable), "labelled", (json_int_t)labelled,
      "unlabelled", (json_int_t)(c->n_recs - with_gold), "undecodable",
      (json_int_t)c->n_undecodable, "undecodable_records", c->undecodable, "unknown_gold",
      "count", (json_int_t)c->n_unknown_gold, "labels", c->unknown_gold, "bad_gold",
      (json_int_t)json_array_size(c->bad_gold), "bad_gold_records", c->bad_gold,
      "records_per_s", c->wall_s > 0 ? (double)c->n_recs / c->wall_s : 0.0, "seconds",
      c->wall_s);
  json_object_set_new(rep, "stored", json_boolean(c->o->stored));
  json_object_update_missing(rep, a);
  /* the classify / joint fields are the model's own count of labelled records */
  json_object_set_new(rep, "labelled", json_integer((json_int_t)labelled));
  json_decref(a);
  if (R->prod)
    json_object_set_new(rep, "produced", json_pack("{s:s, s:I, s:I}", "topic",
                                                   c->o->output_topic, "records",
                                                   (json_int_t)R->produced, "failed",
                                                   (json_int_t)R->produce_failed));
  if (c->n_models == 2) {
    json_t *b = bertd_rp_score_model(c, 1, errstr, errstr_size), *cmp = b ? bertd_rp_compare(c, errstr,
                                                                                 errstr_size)
                                                                    : NULL;
    if (!b || !cmp) {
      json_decref(b), json_decref(rep);
      return NULL;
    }
    json_object_set_new(rep, "b", b);
    json_object_set_new(rep, "comparison", cmp);
  }
  return rep;
}

int bertd_replay_run(const bertd_replay_opts *o, json_t **out, char *errstr, size_t errstr_size) {
  *out = NULL;
  run R;
  memset(&R, 0, sizeof R);
  R.c.o = o;
  R.c.undecodable = json_array();
  R.c.unknown_gold = json_object();
  R.c.bad_gold = json_array();
  int rc = setup(&R, errstr, errstr_size);
  if (rc) goto done;
  rc = BERTD_REPLAY_FAILED;
  const int max_in_flight = o->max_in_flight > 0 ? o->max_in_flight : 4096;
  R.t0 = now_s();
  for (;;) {
    /* backpressure: drain the models before reading more */
    while (!o->stored && in_flight(&R) >= max_in_flight)
      for (int k = 0; k < R.c.n_models; k++)
        if (collect(&R, k, 10, errstr, errstr_size) < 0) goto done;
    rd_kafka_message_t *m;
    int got = bertd_rp_reader_next(&R.rd, 100, &m, errstr, errstr_size);
    if (got == -2) goto done;
    if (got == -1) break;
    if (got == 1) {
      int bad = take(&R, m, errstr, errstr_size);
      rd_kafka_message_destroy(m);
      if (bad) goto done;
    }
    for (int k = 0; k < R.c.n_models && !o->stored; k++)
      if (collect(&R, k, 0, errstr, errstr_size) < 0) goto done;
    progress(&R, 0);
  }
  for (int k = 0; k < R.c.n_models && !o->stored; k++) {
    bertd_plugin_flush(R.pl[k], -1);
    while (bertd_plugin_in_flight(R.pl[k]) > 0)
      if (collect(&R, k, 100, errstr, errstr_size) < 0) goto done;
  }
  if (R.prod) rd_kafka_flush(R.prod, 30000);
  R.c.wall_s = now_s() - R.t0;
  progress(&R, 1);
  if (!(*out = report(&R, errstr, errstr_size))) goto done;
  rc = BERTD_REPLAY_OK;
done:
  free_run(&R);
  return rc;
}

int bertd_replay_parse_time(const char *s, int64_t *ms) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
  if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10) return -1;
  const char *p = s + n;
  double frac = 0;
  int tz = 0;
  if (*p == 'T' || *p == ' ') {
    int k = 0;
    if (sscanf(p + 1, "%2d:%2d:%2d%n", &h, &mi, &sec, &k) != 3 || k != 8) return -1;
    p += 1 + k;
    if (*p == '.') {
      char *end;
      frac = strtod(p, &end);
      p = end;
    }
    if (*p == 'Z') p++;
    else if (*p == '+' || *p == '-') {
      int th, tmn, k2 = 0;
      if (sscanf(p + 1, "%2d:%2d%n", &th, &tmn, &k2) != 2 || k2 != 5) return -1;
      tz = (*p == '-' ? -1 : 1) * (th * 60 + tmn);
      p += 1 + k2;
    }
  }
  if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return -1;
  tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d;
  tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = sec;
  time_t t = timegm(&tm);
  *ms = ((int64_t)t - (int64_t)tz * 60) * 1000 + (int64_t)(frac * 1000 + 0.5);
  return 0;
}
