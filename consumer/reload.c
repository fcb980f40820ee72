/* reload.c: when to reload, and loading beside the running daemon (see reload.h). */
#include "reload.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bertd_daemon.h"

struct bertd_reload {
  bertd_reload_ops ops;
  /* watching (daemon thread) */
  uint64_t sig;           /* the watched directories as the models in force were loaded */
  uint64_t seen;          /* as last looked at: a reload starts when it stays so an interval */
  int64_t next_check_ms;
  int again;              /* a SIGHUP came while loading: load once more afterwards */
  /* the load thread; its results are read once done is set, after the join */
  pthread_t thread;
  int running;
  atomic_int done;
  const struct bertd_daemon_config *cur;
  char *path;
  struct bertd_daemon_config *cfg;
  void *built;
  char err[1024];
};

/* ---- watching ---- */

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
  return h;
}

/* The regular files of dir and of its subdirectories down to depth levels (a
 * sentence-transformers checkpoint keeps its pooling in 1_Pooling/): name, size, modification
 * time. The entries' hashes are added, so the order readdir gives does not matter. */
static uint64_t dir_signature(const char *dir, int depth) {
  uint64_t sig = 0;
  DIR *d = opendir(dir);
  if (!d) return 0;
  struct dirent *e;
  char path[4096];
  while ((e = readdir(d))) {
    struct stat st;
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (stat(path, &st)) continue;
    uint64_t h = fnv(1469598103934665603ULL, e->d_name, strlen(e->d_name));
    if (S_ISDIR(st.st_mode)) {
      if (depth > 0) sig += fnv(h, "/", 1) + dir_signature(path, depth - 1);
      continue;
    }
    if (!S_ISREG(st.st_mode)) continue;
    h = fnv(h, &st.st_size, sizeof st.st_size);
    h = fnv(h, &st.st_mtim.tv_sec, sizeof st.st_mtim.tv_sec);
    h = fnv(h, &st.st_mtim.tv_nsec, sizeof st.st_mtim.tv_nsec);
    sig += h;
  }
  closedir(d);
  return sig;
}

/* Every pipeline's model directory. */
static uint64_t dirs_signature(const struct bertd_daemon_config *cfg) {
  uint64_t sig = 1469598103934665603ULL;
  for (size_t i = 0; i < cfg->pipeline_count; i++) {
    const char *dir = cfg->pipelines[i].model.dir_path;
    if (!dir) continue;
    sig = fnv(sig, dir, strlen(dir)) + dir_signature(dir, 1);
  }
  return sig;
}

/* ---- what a reload may change ---- */

static int has_topic(const struct bertd_daemon_config *c, const char *topic) {
  for (size_t i = 0; i < c->pipeline_count; i++)
    for (size_t t = 0; t < c->pipelines[i].input.topic_count; t++)
      if (!strcmp(c->pipelines[i].input.topics[t], topic)) return 1;
  return 0;
}

static int same_str(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

int bertd_reload_compatible(const struct bertd_daemon_config *old,
                            const struct bertd_daemon_config *neu, char *errstr,
                            size_t errstr_size) {
  const char *key = NULL;
  char what[300] = "";
  if (old->kafka_count != neu->kafka_count) key = "kafka";
  for (size_t i = 0; !key && i < neu->kafka_count; i++)
    if (!same_str(bertd_dconf_kafka(old, neu->kafka[i].name), neu->kafka[i].value)) {
      snprintf(what, sizeof what, "kafka.%s", neu->kafka[i].name);
      key = what;
    }
  for (size_t i = 0; !key && i < neu->pipeline_count; i++)
    for (size_t t = 0; !key && t < neu->pipelines[i].input.topic_count; t++)
      if (!has_topic(old, neu->pipelines[i].input.topics[t])) {
        snprintf(what, sizeof what, "the input topics (%s is new)",
                 neu->pipelines[i].input.topics[t]);
        key = what;
      }
  for (size_t i = 0; !key && i < old->pipeline_count; i++)
    for (size_t t = 0; !key && t < old->pipelines[i].input.topic_count; t++)
      if (!has_topic(neu, old->pipelines[i].input.topics[t])) {
        snprintf(what, sizeof what, "the input topics (%s is no longer read)",
                 old->pipelines[i].input.topics[t]);
        key = what;
      }
  if (!key && !same_str(old->metrics.listen, neu->metrics.listen)) key = "metrics.listen";
  /* the producer is transactional or not, with its id, from start-up on */
  if (!key && (old->delivery.mode != neu->delivery.mode ||
               old->delivery.commit_interval_ms != neu->delivery.commit_interval_ms ||
               !same_str(old->delivery.transactional_id, neu->delivery.transactional_id)))
    key = "delivery";
  if (!key) return 0;
  snprintf(errstr, errstr_size, "%s: a reload cannot change %s; restart bertd for it", neu->path,
           key);
  return -1;
}

/* ---- loading ---- */

static void *load_main(void *arg) {
  bertd_reload *r = arg;
  struct bertd_daemon_config *cfg = NULL;
  void *built = NULL;
  if (bertd_dconf_load(r->path, &cfg, r->err, sizeof r->err) ||
      bertd_run_preflight(cfg, r->ops.plugin_path, r->err, sizeof r->err) ||
      bertd_reload_compatible(r->cur, cfg, r->err, sizeof r->err) ||
      r->ops.build(r->ops.ctx, cfg, &built, r->err, sizeof r->err)) {
    bertd_dconf_destroy(cfg);
    cfg = NULL;
    built = NULL;
  }
  r->cfg = cfg;
  r->built = built;
  atomic_store(&r->done, 1);
  return NULL;
}

static int load_start(bertd_reload *r, const struct bertd_daemon_config *cur, char *errstr,
                      size_t errstr_size) {
  free(r->path);
  r->path = strdup(cur->path);
  r->cur = cur;
  r->err[0] = 0;
  atomic_store(&r->done, 0);
  int rc = r->path ? pthread_create(&r->thread, NULL, load_main, r) : -1;
  if (rc) {
    snprintf(errstr, errstr_size, "%s: cannot start loading: %s", cur->path,
             rc > 0 ? strerror(rc) : "out of memory");
    return -1;
  }
  r->running = 1;
  return 0;
}

int bertd_reload_new(const struct bertd_daemon_config *cur, const bertd_reload_ops *ops,
                     bertd_reload **out, char *errstr, size_t errstr_size) {
  bertd_reload *r = calloc(1, sizeof(*r));
  if (!r) {
    snprintf(errstr, errstr_size, "reload: out of memory");
    return -1;
  }
  r->ops = *ops;
  atomic_init(&r->done, 0);
  r->sig = r->seen = dirs_signature(cur);
  *out = r;
  return 0;
}

void bertd_reload_free(bertd_reload *r) {
  if (!r) return;
  if (r->running) {
    pthread_join(r->thread, NULL);
    if (r->built) r->ops.discard(r->ops.ctx, r->built);
    bertd_dconf_destroy(r->cfg);
  }
  free(r->path);
  free(r);
}

void bertd_reload_swapped(bertd_reload *r, const struct bertd_daemon_config *now_in_force) {
  r->sig = r->seen = dirs_signature(now_in_force);
}

int bertd_reload_poll(bertd_reload *r, int hup, const struct bertd_daemon_config *cur,
                      int64_t now_ms, struct bertd_daemon_config **cfg, void **built,
                      char *errstr, size_t errstr_size) {
  *cfg = NULL;
  *built = NULL;
  int due = hup;
  if (cur->reload.watch && now_ms >= r->next_check_ms) {
    r->next_check_ms = now_ms + cur->reload.interval_ms;
    uint64_t now_sig = dirs_signature(cur);
    if (now_sig != r->sig && now_sig == r->seen) { /* changed, and still for an interval */
      r->sig = now_sig;
      due = 1;
    }
    r->seen = now_sig;
  }
  if (r->running) {
    if (due) r->again = 1;
    if (!atomic_load(&r->done)) return 0;
    pthread_join(r->thread, NULL);
    r->running = 0;
    if (r->cfg) {
      *cfg = r->cfg;
      *built = r->built;
      r->cfg = NULL;
      r->built = NULL;
      return 1;
    }
    snprintf(errstr, errstr_size, "%s", r->err);
    return -1;
  }
  if (r->again) {
    r->again = 0;
    due = 1;
  }
  if (due && load_start(r, cur, errstr, errstr_size)) return -1;
  return 0;
}
