/* train_loop.c: epochs, per-epoch evaluation, the best checkpoint, the final summary. */
#include "bertd_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_eval.h"
#include "bertd_trainer.h"
#include "bertd_weights.h"

void bertd_train_opts_default(bertd_train_opts *o) {
  *o = (bertd_train_opts){.task = BERTD_FT_JOINT,
                          .epochs = 3,
                          .batch_size = 32,
                          .eval_batch_size = 64,
                          .max_length = 128,
                          .lr = 5e-5f,
                          .warmup_ratio = 0,
                          .warmup_steps = -1,
                          .weight_decay = 0,
                          .slot_loss_coef = 1,
                          .max_grad_norm = 1,
                          .grad_accum = 1,
                          .seed = 42,
                          .bucket = 1,
                          .log = stderr};
}

/* The pre-trained config re-targeted at the task, with the training data's label lists. */
static int task_config(const bertd_train_opts *o, const bertd_dataset *ds, bertd_checkpoint_config *cfg,
                       char *errstr, size_t errstr_size) {
  if (bertd_config_load(o->model_dir, cfg, errstr, errstr_size)) return -1;
  const char *const *labels = (const char *const *)ds->labels.names;
  const char *const *tags = (const char *const *)ds->tags.names;
  int rc;
  switch (o->task) {
  case BERTD_FT_JOINT:
    rc = bertd_config_set_joint(cfg, ds->labels.n, labels, ds->tags.n, tags, errstr,
                                errstr_size);
    break;
  case BERTD_FT_CLASSIFY:
    rc = bertd_config_set_task(cfg, BERTD_ARCH_SEQ_CLS, BERTD_PROBLEM_SINGLE_LABEL, ds->labels.n,
                               labels, errstr, errstr_size);
    break;
  default:
    rc = bertd_config_set_task(cfg, BERTD_ARCH_TOKEN_CLS, BERTD_PROBLEM_SINGLE_LABEL, ds->tags.n,
                               tags, errstr, errstr_size);
  }
  if (rc) bertd_config_free(cfg);
  return rc;
}

/* Dev metrics of the weights being trained: the trainer's forward without dropout on packed
 * batches, logits sliced per sequence. */
static int eval_trainer(bertd_trainer *t, const bertd_train_set *set, int batch_size,
                        bertd_tag_decoding decoding, bertd_eval_metrics *out,
                        double *loss_out, char *errstr, size_t errstr_size) {
  const bertd_dataset *ds = set->ds;
  bertd_evaluator ev;
  if (bertd_evaluator_init(&ev, set->task, &ds->labels, &ds->tags, decoding, errstr,
                           errstr_size))
    return -1;
  bertd_train_plan plan = {0};
  bertd_batch_buf buf = {0};
  int rc = bertd_train_plan_epoch(&plan, set, batch_size, 0, NULL, errstr, errstr_size);
  const char *seq_name = set->task == BERTD_FT_JOINT ? "intent" : "labels";
  const char *tok_name = set->task == BERTD_FT_JOINT ? "slots" : "tags";
  double loss_sum = 0;
  for (size_t i = 0; rc == 0 && i < plan.n_batches; i++) {
    bertd_train_batch b;
    float loss;
    if ((rc = bertd_batch_fill(set, &plan, i, &buf, &b, NULL, errstr, errstr_size)) ||
        (rc = bertd_trainer_eval(t, &b, &loss, errstr, errstr_size)))
      break;
    loss_sum += (double)loss * b.B;
    int rows, cols_seq = 0, cols_tok = 0;
    const float *seq = set->task != BERTD_FT_TAG
                           ? bertd_trainer_logits(t, seq_name, &rows, &cols_seq) : NULL;
    const float *tok = set->task != BERTD_FT_CLASSIFY
                           ? bertd_trainer_logits(t, tok_name, &rows, &cols_tok) : NULL;
    size_t off = 0;
    for (int k = 0; k < b.B && rc == 0; k++) {
      const bertd_train_seq *s = &set->seqs[plan.order[plan.start[i] + (size_t)k]];
      rc = bertd_evaluator_add(&ev, &ds->examples[s->example], set->word_ids + s->off, s->len,
                               seq ? seq + (size_t)k * (size_t)cols_seq : NULL,
                               tok ? tok + off * (size_t)cols_tok : NULL, errstr, errstr_size);
      off += (size_t)s->len;
    }
  }
  if (rc == 0) rc = bertd_evaluator_finish(&ev, out, errstr, errstr_size);
  if (loss_out) *loss_out = set->n ? loss_sum / (double)set->n : 0;
  bertd_evaluator_free(&ev);
  bertd_train_plan_free(&plan);
  bertd_batch_buf_free(&buf);
  return rc;
}

static void put_hparams(json_t *s, const bertd_train_opts *o, long steps, int warmup) {
  json_object_set_new(s, "task", json_string(bertd_ft_task_name(o->task)));
  json_object_set_new(s, "epochs", json_integer(o->epochs));
  json_object_set_new(s, "lr", json_real(o->lr));
  json_object_set_new(s, "batch_size", json_integer(o->batch_size));
  json_object_set_new(s, "grad_accum", json_integer(o->grad_accum));
  json_object_set_new(s, "max_length", json_integer(o->max_length));
  json_object_set_new(s, "warmup_steps", json_integer(warmup));
  json_object_set_new(s, "weight_decay", json_real(o->weight_decay));
  if (o->task == BERTD_FT_JOINT)
    json_object_set_new(s, "slot_loss_coef", json_real(o->slot_loss_coef));
  json_object_set_new(s, "max_grad_norm", json_real(o->max_grad_norm));
  json_object_set_new(s, "seed", json_integer((json_int_t)o->seed));
  json_object_set_new(s, "threads", json_integer(o->threads));
  if (o->task != BERTD_FT_CLASSIFY)
    json_object_set_new(s, "tag_decoding", json_string(bertd_tag_decoding_name(o->tag_decoding)));
  json_object_set_new(s, "bucket_by_length", json_boolean(o->bucket));
  json_object_set_new(s, "optimizer_steps", json_integer(steps));
}

int bertd_train_run(const bertd_train_opts *o, const bertd_train_splits *sp, json_t **summary,
                    char *errstr, size_t errstr_size) {
  double t_start = bertd_progress_now();
  bertd_checkpoint_config cfg;
  bertd_weights w;
  memset(&w, 0, sizeof w);
  bertd_trainer *t = NULL;
  bertd_train_set train = {0}, dev = {0};
  bertd_tokenizer *tok = NULL;
  bertd_train_plan plan = {0};
  bertd_batch_buf buf = {0};
  json_t *s = NULL, *epochs_json = NULL;
  int rc = -1, have_cfg = 0;
  FILE *log = o->log ? o->log : stderr;
  *summary = NULL;

  if (task_config(o, sp->train, &cfg, errstr, errstr_size)) return -1;
  have_cfg = 1;
  int num_new = 0;
  if (bertd_weights_init_from(o->model_dir, &cfg, o->seed, &w, &num_new, errstr, errstr_size) ||
      bertd_tokenizer_load(o->model_dir, &tok, errstr, errstr_size))
    goto done;
  if (bertd_train_set_build(&train, sp->train, o->task, tok, o->max_length, errstr,
                            errstr_size) ||
      (sp->dev && bertd_train_set_build(&dev, sp->dev, o->task, tok, o->max_length, errstr,
                                        errstr_size)))
    goto done;

  long batches = (long)((train.n + (size_t)o->batch_size - 1) / (size_t)o->batch_size);
  long updates_per_epoch = (batches + o->grad_accum - 1) / o->grad_accum;
  long total_updates = updates_per_epoch * o->epochs;
  /* ceil as transformers does; the slack absorbs float ratios (0.1f * 1680 = 168.0000025) */
  int warmup = o->warmup_steps >= 0
                   ? o->warmup_steps
                   : (int)ceil((double)o->warmup_ratio * (double)total_updates - 1e-4);
  bertd_trainer_opts to;
  bertd_trainer_opts_default(&to);
  to.lr = o->lr;
  to.weight_decay = o->weight_decay;
  to.slot_loss_coef = o->slot_loss_coef;
  to.max_grad_norm = o->max_grad_norm;
  to.grad_accum = o->grad_accum;
  to.warmup_steps = warmup;
  to.total_steps = (int)total_updates;
  to.seed = o->seed;
  to.threads = o->threads;
  if (bertd_trainer_create(&cfg, &w, &to, &t, errstr, errstr_size)) goto done;

  fprintf(log,
          "train: %s from %s: %zu examples (%zu tokens, %zu truncated), %d new tensors; "
          "%zu %s examples; %d epochs x %ld batches of %d, %ld optimizer steps, warm-up %d\n",
          bertd_ft_task_name(o->task), o->model_dir, train.n, train.n_tokens, train.truncated,
          num_new, dev.n, sp->dev ? sp->dev_name : "dev", o->epochs, batches, o->batch_size,
          total_updates, warmup);
  fflush(log);

  s = json_object();
  epochs_json = json_array();
  bertd_rng rng;
  bertd_rng_seed(&rng, o->seed ^ 0x5eed5eedULL); /* the data order, apart from dropout's */
  bertd_progress prog;
  bertd_progress_start(&prog, log, batches * o->epochs);
  double best = -1, train_time = 0;
  int best_epoch = 0;
  bertd_eval_metrics best_m;
  memset(&best_m, 0, sizeof best_m);
  long step = 0;
  for (int epoch = 1; epoch <= o->epochs; epoch++) {
    double te = bertd_progress_now();
    if (bertd_train_plan_epoch(&plan, &train, o->batch_size, o->bucket, &rng, errstr,
                               errstr_size))
      goto done;
    double loss_sum = 0;
    for (size_t i = 0; i < plan.n_batches; i++) {
      bertd_train_batch b;
      size_t ntok;
      float loss;
      if (bertd_batch_fill(&train, &plan, i, &buf, &b, &ntok, errstr, errstr_size) ||
          bertd_trainer_forward_backward(t, &b, 1.0f / (float)o->grad_accum, &loss, errstr,
                                         errstr_size))
        goto done;
      /* updates are scheduled here, not by bertd_trainer_step, so that a last partial
       * accumulation of an epoch still updates (as transformers' Trainer does) */
      if ((i + 1) % (size_t)o->grad_accum == 0 || i + 1 == plan.n_batches) bertd_trainer_update(t);
      if (!isfinite(loss)) {
        snprintf(errstr, errstr_size, "epoch %d step %ld: loss is %f", epoch, step + 1,
                 (double)loss);
        goto done;
      }
      loss_sum += loss;
      bertd_progress_step(&prog, ++step, epoch, loss, bertd_trainer_lr(t), ntok);
    }
    train_time += bertd_progress_now() - te;
    json_t *ej = json_object();
    json_object_set_new(ej, "epoch", json_integer(epoch));
    json_object_set_new(ej, "train_loss", json_real(loss_sum / (double)plan.n_batches));
    int improved = 1;
    if (sp->dev) {
      bertd_eval_metrics m;
      double dev_loss;
      if (eval_trainer(t, &dev, o->eval_batch_size,
                              /* what training checks is the checkpoint as saved */ o->tag_decoding, &m, &dev_loss, errstr,
                       errstr_size)) {
        json_decref(ej);
        goto done;
      }
      char line[256];
      bertd_eval_metrics_format(&m, line, sizeof line);
      improved = m.main > best;
      bertd_progress_log(&prog, "epoch %d: train loss %.4f, %s loss %.4f %s%s", epoch,
                         loss_sum / (double)plan.n_batches, sp->dev_name, dev_loss, line,
                         improved ? " (best)" : "");
      json_object_set_new(ej, "dev_loss", json_real(dev_loss));
      bertd_eval_metrics_json(&m, "dev_", ej);
      if (improved) best = m.main, best_m = m;
    } else {
      bertd_progress_log(&prog, "epoch %d: train loss %.4f", epoch,
                         loss_sum / (double)plan.n_batches);
    }
    json_array_append_new(epochs_json, ej);
    if (improved) {
      best_epoch = epoch;
      if (bertd_checkpoint_save(o->out_dir, &cfg, &w, o->model_dir, errstr, errstr_size))
        goto done;
    }
  }
  double train_tps = train_time > 0 ? (double)prog.tokens / train_time : 0;

  json_object_set_new(s, "model", json_string(o->model_dir));
  json_object_set_new(s, "out", json_string(o->out_dir));
  json_object_set_new(s, "train_examples", json_integer((json_int_t)train.n));
  json_object_set_new(s, "train_tokens_per_epoch", json_integer((json_int_t)train.n_tokens));
  put_hparams(s, o, total_updates, warmup);
  json_object_set_new(s, "best_epoch", json_integer(best_epoch));
  if (sp->dev) {
    json_object_set_new(s, "selected_by", json_string(best_m.main_name));
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s_", sp->dev_name);
    bertd_eval_metrics_json(&best_m, prefix, s);
  }
  if (sp->test) {
    bertd_eval_metrics m;
    double te = bertd_progress_now();
    if (bertd_eval_checkpoint(o->out_dir, o->task, sp->test, o->max_length, o->eval_batch_size,
                              o->tag_decoding, BERTD_PRECISION_FP32, &m, errstr, errstr_size))
      goto done;
    char line[256], prefix[64];
    bertd_eval_metrics_format(&m, line, sizeof line);
    fprintf(log, "%s (best checkpoint, epoch %d): %s [%.1f s]\n", sp->test_name, best_epoch,
            line, bertd_progress_now() - te);
    snprintf(prefix, sizeof prefix, "%s_", sp->test_name);
    bertd_eval_metrics_json(&m, prefix, s);
  }
  json_object_set_new(s, "train_seconds", json_real(round(train_time * 10) / 10));
  json_object_set_new(s, "train_tokens_per_s", json_real(round(train_tps)));
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
  bertd_train_plan_free(&plan);
  bertd_batch_buf_free(&buf);
  bertd_train_set_free(&train);
  bertd_train_set_free(&dev);
  bertd_trainer_free(t);
  bertd_tokenizer_free(tok);
  if (w.memory) bertd_weights_free(&w);
  if (have_cfg) bertd_config_free(&cfg);
  return rc;
}
