/* reload.h: hot reload of the config file and its models, the part that is not the consumer
 * loop. A reload is asked for by SIGHUP or, with `reload: { watch: true }`, by a change in a
 * pipeline's model directory that has stopped changing for one interval (so a model being
 * copied in is not read half-written). It then runs on a thread of its own while the daemon
 * keeps serving with the old models: the file is read and checked as at start-up, compared with
 * the config in force (what needs a restart is refused), and the daemon's build callback makes
 * the new pipelines beside the old ones (codecs, Schema Registry, models loaded and warmed up).
 * The daemon then drains, swaps and resumes (daemon.c); a load that fails is one error line and
 * changes nothing. */
#ifndef BERTD_RELOAD_H
#define BERTD_RELOAD_H

#include <stddef.h>
#include <stdint.h>

#include "bertd_config.h"

typedef struct bertd_reload bertd_reload;

typedef struct bertd_reload_ops {
  void *ctx;
  const char *plugin_path; /* the plugin the file's stage settings are checked with */
  /* On the reload thread: everything cfg needs, made beside what is running. */
  int (*build)(void *ctx, const struct bertd_daemon_config *cfg, void **built, char *errstr,
               size_t errstr_size);
  /* Frees a build that will not be swapped in. */
  void (*discard)(void *ctx, void *built);
} bertd_reload_ops;

/* cur: the config in force at start (its file is the one reloads read; its model directories
 * are the ones watched). */
int bertd_reload_new(const struct bertd_daemon_config *cur, const bertd_reload_ops *ops,
                     bertd_reload **out, char *errstr, size_t errstr_size);
/* Waits for a reload in progress, discards what it built. NULL is a no-op. */
void bertd_reload_free(bertd_reload *r);

/* Called by the daemon's loop, on its thread, each turn. hup: SIGHUP arrived since the last
 * call. cur: the config in force. Starts a reload when one is due, and reports one that
 * finished: 1 with the new config and the build (*cfg is then the caller's to free with
 * bertd_dconf_destroy, *built its to swap in or hand to discard), -1 with the one-line reason it
 * was rejected in errstr, 0 when nothing finished. */
int bertd_reload_poll(bertd_reload *r, int hup, const struct bertd_daemon_config *cur,
                      int64_t now_ms, struct bertd_daemon_config **cfg, void **built,
                      char *errstr, size_t errstr_size);

/* The caller swapped a build in: now_in_force's model directories are the ones watched from
 * here on, as they are now. */
void bertd_reload_swapped(bertd_reload *r, const struct bertd_daemon_config *now_in_force);

/* What a reload may not change, since it needs a restart: the kafka section, the set of input
 * topics (the subscription), metrics.listen. 0, or -1 with
 * "FILE: a reload cannot change KEY; restart bertd for it". */
int bertd_reload_compatible(const struct bertd_daemon_config *old,
                            const struct bertd_daemon_config *neu, char *errstr,
                            size_t errstr_size);

#endif
