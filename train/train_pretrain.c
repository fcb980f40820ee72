/* train_pretrain.c: MLM + NSP epochs over NSP pairs, masked per batch. */
#include "bertd_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_dataset.h"
#include "bertd_masking.h"
#include "bertd_trainer.h"
#include "bertd_weights.h"

typedef struct pt_batch {
  int *lens;
  int32_t *ids, *type_ids, *mlm_labels, *nsp_labels;
  size_t cap_seqs, cap_tokens;
} pt_batch;

static void pt_batch_free(pt_batch *b) {
  free(b->lens), free(b->ids), free(b->type_ids), free(b->mlm_labels), free(b->nsp_labels);
  memset(b, 0, sizeof *b);
}

/* Pairs order[a..e) of set, each masked by rng, into b. */
static int pt_fill(const bertd_nsp_set *set, const size_t *order, size_t a, size_t e,
                   bertd_rng *rng, const bertd_mlm_opts *mo, pt_batch *pb, bertd_train_batch *b,
                   size_t *tokens, char *errstr, size_t errstr_size) {
  size_t B = e - a, N = 0;
  for (size_t k = a; k < e; k++) N += set->start[order[k] + 1] - set->start[order[k]];
  if (B > pb->cap_seqs) {
    free(pb->lens), free(pb->nsp_labels);
    pb->lens = malloc(B * sizeof *pb->lens);
    pb->nsp_labels = malloc(B * sizeof *pb->nsp_labels);
    pb->cap_seqs = B;
  }
  if (N > pb->cap_tokens) {
    free(pb->ids), free(pb->type_ids), free(pb->mlm_labels);
    pb->ids = malloc(N * sizeof *pb->ids);
    pb->type_ids = malloc(N * sizeof *pb->type_ids);
    pb->mlm_labels = malloc(N * sizeof *pb->mlm_labels);
    pb->cap_tokens = N;
  }
  if (!pb->lens || !pb->nsp_labels || !pb->ids || !pb->type_ids || !pb->mlm_labels) {
    pt_batch_free(pb);
    snprintf(errstr, errstr_size, "out of memory filling a batch");
    return -1;
  }
  size_t off = 0;
  for (size_t k = a; k < e; k++) {
    size_t s = set->start[order[k]], n = set->start[order[k] + 1] - s;
    pb->lens[k - a] = (int)n;
    pb->nsp_labels[k - a] = set->is_random_next[order[k]];
    memcpy(pb->ids + off, set->ids + s, n * sizeof(int32_t));
    memcpy(pb->type_ids + off, set->type_ids + s, n * sizeof(int32_t));
    if (bertd_mlm_mask(rng, mo, pb->ids + off, pb->mlm_labels + off, (int)n, errstr,
                       errstr_size))
      return -1;
    off += n;
  }
  *b = (bertd_train_batch){.B = (int)B, .lens = pb->lens, .ids = pb->ids,
                           .type_ids = pb->type_ids,
                           .y = {.mlm_labels = pb->mlm_labels, .nsp_labels = pb->nsp_labels}};
  if (tokens) *tokens = N;
  return 0;
}

typedef struct pt_metrics {
  double mlm_acc, nsp_acc, loss;
  size_t masked, pairs;
} pt_metrics;

/* Held-out pairs with masks from a fixed seed: the same masks every epoch. */
static int pt_eval(bertd_trainer *t, const bertd_nsp_set *set, const size_t *order, size_t n,
                   int bs, uint64_t seed, const bertd_mlm_opts *mo, pt_metrics *m, char *errstr,
                   size_t errstr_size) {
  bertd_rng rng;
  bertd_rng_seed(&rng, seed ^ 0xe7a1e7a1ULL);
  pt_batch pb = {0};
  size_t mlm_right = 0, nsp_right = 0;
  double loss_sum = 0;
  memset(m, 0, sizeof *m);
  int rc = 0;
  for (size_t a = 0; a < n && rc == 0; a += (size_t)bs) {
    size_t e = n - a < (size_t)bs ? n : a + (size_t)bs;
    bertd_train_batch b;
    float loss;
    if ((rc = pt_fill(set, order, a, e, &rng, mo, &pb, &b, NULL, errstr, errstr_size)) ||
        (rc = bertd_trainer_eval(t, &b, &loss, errstr, errstr_size)))
      break;
    loss_sum += (double)loss * b.B;
    int rows, V, two, M;
    const float *ml = bertd_trainer_logits(t, "mlm", &rows, &V);
    const float *nl = bertd_trainer_logits(t, "nsp", &two, &two);
    const int *pos = bertd_trainer_mlm_rows(t, &M);
    for (int r = 0; ml && pos && r < M; r++) {
      const float *x = ml + (size_t)r * (size_t)V;
      int best = 0;
      for (int v = 1; v < V; v++)
        if (x[v] > x[best]) best = v;
      mlm_right += best == b.y.mlm_labels[pos[r]];
    }
    m->masked += (size_t)M;
    for (int k = 0; nl && k < b.B; k++)
      nsp_right += (nl[2 * k + 1] > nl[2 * k]) == (b.y.nsp_labels[k] == 1);
    m->pairs += (size_t)b.B;
  }
  pt_batch_free(&pb);
  m->mlm_acc = m->masked ? (double)mlm_right / (double)m->masked : 0;
  m->nsp_acc = m->pairs ? (double)nsp_right / (double)m->pairs : 0;
  m->loss = m->pairs ? loss_sum / (double)m->pairs : 0;
  return rc;
}

int bertd_pretrain_run(const bertd_train_opts *o, const char *corpus_path, long heldout,
                       json_t **summary, char *errstr, size_t errstr_size) {
  double t_start = bertd_progress_now();
  bertd_checkpoint_config cfg;
  bertd_weights w;
  memset(&w, 0, sizeof w);
  bertd_trainer *t = NULL;
  bertd_tokenizer *tok = NULL;
  bertd_corpus text = {0};
  bertd_pretrain_corpus pc = {0};
  bertd_nsp_set set = {0};
  bertd_encoding scratch = {0};
  size_t *order = NULL;
  pt_batch pb = {0};
  json_t *s = NULL, *epochs_json = NULL;
  int rc = -1;
  FILE *log = o->log ? o->log : stderr;
  *summary = NULL;
  if (bertd_config_load(o->model_dir, &cfg, errstr, errstr_size)) return -1;
  int num_new = 0;
  if (bertd_config_set_task(&cfg, BERTD_ARCH_PRETRAINING, BERTD_PROBLEM_SINGLE_LABEL, 0, NULL,
                            errstr, errstr_size) ||
      bertd_weights_init_from(o->model_dir, &cfg, o->seed, &w, &num_new, errstr, errstr_size) ||
      bertd_tokenizer_load(o->model_dir, &tok, errstr, errstr_size) ||
      bertd_corpus_read(&text, corpus_path, errstr, errstr_size))
    goto done;
  for (size_t d = 0; d < text.n_documents; d++) {
    for (size_t i = text.document_start[d]; i < text.document_start[d + 1]; i++)
      if (bertd_pretrain_corpus_add_sentence(&pc, tok, text.sentences[i],
                                             strlen(text.sentences[i]), &scratch, errstr,
                                             errstr_size))
        goto done;
    bertd_pretrain_corpus_end_document(&pc);
  }
  bertd_rng rng;
  bertd_rng_seed(&rng, o->seed ^ 0x5eed5eedULL);
  bertd_nsp_opts no = {.max_length = o->max_length, .short_seq_prob = 0.1,
                       .cls_id = bertd_tokenizer_special_id(tok, 'c'),
                       .sep_id = bertd_tokenizer_special_id(tok, 's')};
  if (bertd_nsp_create(&rng, &pc, &no, &set, errstr, errstr_size)) goto done;
  size_t n_eval = heldout > 0 ? (size_t)heldout : set.n / 20;
  if (n_eval < 1) n_eval = 1;
  if (n_eval >= set.n) {
    snprintf(errstr, errstr_size, "%s: %zu sentence pairs, too few to hold out %zu",
             corpus_path, set.n, n_eval);
    goto done;
  }
  size_t n_train = set.n - n_eval;
  if (!(order = malloc(set.n * sizeof *order))) {
    snprintf(errstr, errstr_size, "out of memory");
    goto done;
  }
  int32_t specials[5];
  bertd_mlm_opts mo;
  if (bertd_mlm_opts_init(&mo, tok, specials, errstr, errstr_size)) goto done;

  size_t bs = (size_t)o->batch_size;
  long batches = (long)((n_train + bs - 1) / bs);
  long total_updates = (batches + o->grad_accum - 1) / o->grad_accum * o->epochs;
  int warmup = o->warmup_steps >= 0
                   ? o->warmup_steps
                   : (int)ceil((double)o->warmup_ratio * (double)total_updates - 1e-4);
  bertd_trainer_opts to;
  bertd_trainer_opts_default(&to);
  to.lr = o->lr, to.weight_decay = o->weight_decay, to.max_grad_norm = o->max_grad_norm;
  to.grad_accum = o->grad_accum, to.warmup_steps = warmup, to.total_steps = (int)total_updates;
  to.seed = o->seed;
  to.threads = o->threads;
  if (bertd_trainer_create(&cfg, &w, &to, &t, errstr, errstr_size)) goto done;
  fprintf(log,
          "train: mlm-nsp from %s: %zu documents, %zu pairs (%zu held out), %d new tensors; "
          "%d epochs x %ld batches of %zu, %ld optimizer steps, warm-up %d\n",
          o->model_dir, pc.n_documents, set.n, n_eval, num_new, o->epochs, batches, bs,
          total_updates, warmup);
  s = json_object();
  epochs_json = json_array();
  bertd_progress prog;
  bertd_progress_start(&prog, log, batches * o->epochs);
  double best = -1, train_time = 0;
  int best_epoch = 0;
  pt_metrics best_m = {0};
  long step = 0;
  for (int epoch = 1; epoch <= o->epochs; epoch++) {
    double te = bertd_progress_now();
    for (size_t i = 0; i < set.n; i++) order[i] = i;
    bertd_rng_shuffle(&rng, order, n_train); /* the held-out tail stays in place */
    double loss_sum = 0;
    for (long i = 0; i < batches; i++) {
      size_t a = (size_t)i * bs, e = a + bs < n_train ? a + bs : n_train, ntok;
      bertd_train_batch b;
      float loss;
      if (pt_fill(&set, order, a, e, &rng, &mo, &pb, &b, &ntok, errstr, errstr_size) ||
          bertd_trainer_forward_backward(t, &b, 1.0f / (float)o->grad_accum, &loss, errstr,
                                         errstr_size))
        goto done;
      if ((i + 1) % o->grad_accum == 0 || i + 1 == batches) bertd_trainer_update(t);
      loss_sum += loss;
      bertd_progress_step(&prog, ++step, epoch, loss, bertd_trainer_lr(t), ntok);
    }
    train_time += bertd_progress_now() - te;
    pt_metrics m;
    if (pt_eval(t, &set, order + n_train, n_eval, o->eval_batch_size, o->seed, &mo, &m, errstr,
                errstr_size))
      goto done;
    int improved = m.mlm_acc > best;
    bertd_progress_log(&prog,
                       "epoch %d: train loss %.4f, held-out loss %.4f mlm_acc %.2f (%zu masked) "
                       "nsp_acc %.2f (%zu)%s",
                       epoch, loss_sum / (double)batches, m.loss, 100 * m.mlm_acc, m.masked,
                       100 * m.nsp_acc, m.pairs, improved ? " (best)" : "");
    json_t *ej = json_object();
    json_object_set_new(ej, "epoch", json_integer(epoch));
    json_object_set_new(ej, "train_loss", json_real(loss_sum / (double)batches));
    json_object_set_new(ej, "heldout_loss", json_real(m.loss));
    json_object_set_new(ej, "heldout_mlm_acc", json_real(100 * m.mlm_acc));
    json_object_set_new(ej, "heldout_nsp_acc", json_real(100 * m.nsp_acc));
    json_array_append_new(epochs_json, ej);
    if (improved) {
      best = m.mlm_acc, best_m = m, best_epoch = epoch;
      if (bertd_checkpoint_save(o->out_dir, &cfg, &w, o->model_dir, errstr, errstr_size))
        goto done;
    }
  }
  json_object_set_new(s, "model", json_string(o->model_dir));
  json_object_set_new(s, "out", json_string(o->out_dir));
  json_object_set_new(s, "task", json_string("mlm-nsp"));
  json_object_set_new(s, "train_pairs", json_integer((json_int_t)n_train));
  json_object_set_new(s, "epochs", json_integer(o->epochs));
  json_object_set_new(s, "lr", json_real(o->lr));
  json_object_set_new(s, "batch_size", json_integer(o->batch_size));
  json_object_set_new(s, "max_length", json_integer(o->max_length));
  json_object_set_new(s, "warmup_steps", json_integer(warmup));
  json_object_set_new(s, "seed", json_integer((json_int_t)o->seed));
  json_object_set_new(s, "threads", json_integer(o->threads));
  json_object_set_new(s, "best_epoch", json_integer(best_epoch));
  json_object_set_new(s, "heldout_pairs", json_integer((json_int_t)best_m.pairs));
  json_object_set_new(s, "heldout_mlm_acc", json_real(100 * best_m.mlm_acc));
  json_object_set_new(s, "heldout_nsp_acc", json_real(100 * best_m.nsp_acc));
  json_object_set_new(s, "train_seconds", json_real(round(train_time * 10) / 10));
  json_object_set_new(s, "train_tokens_per_s",
                      json_real(train_time > 0 ? round((double)prog.tokens / train_time) : 0));
  json_object_set_new(s, "wall_seconds",
                      json_real(round((bertd_progress_now() - t_start) * 10) / 10));
  json_object_set_new(s, "epochs_detail", epochs_json);
  epochs_json = NULL;
  *summary = s;
  s = NULL;
  rc = 0;
done:
  json_decref(s);
  json_decref(epochs_json);
  pt_batch_free(&pb);
  free(order);
  bertd_encoding_free(&scratch);
  bertd_nsp_set_free(&set);
  bertd_pretrain_corpus_free(&pc);
  bertd_corpus_free(&text);
  bertd_trainer_free(t);
  bertd_tokenizer_free(tok);
  if (w.memory) bertd_weights_free(&w);
  bertd_config_free(&cfg);
  return rc;
}
