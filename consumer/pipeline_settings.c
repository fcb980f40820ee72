/* pipeline_settings.c: the daemon's side of a pipeline's `model:` and `batching:` settings. The
 * config layer hands them over as JSON without reading them; the plugin owns their keys and
 * defaults (plugin/plugin_config.c). What the daemon adds is where a bad one was written: the
 * plugin's message starts with the key's path ("model.top_k: ..."), which the config layer
 * recorded with its line and column. */
#include "pipeline_settings.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The tasks whose results the daemon writes into enriched records. */
static const char *const PUBLISHED[] = {"joint", "classify", "tag", "embed", "qa"};

/* "FILE:LINE:COLUMN: pipelines[i].PATH: message": at the key for a missing or unknown key, at
 * the value otherwise; a key the file does not have (a default was out of bounds) is shown at
 * the nearest enclosing key that it has. */
static int located(const struct bertd_daemon_config *cfg, size_t i, const char *plugin_msg,
                   char *errstr, size_t errstr_size) {
  char path[512];
  const char *msg = strstr(plugin_msg, ": ");
  size_t plen = msg ? (size_t)(msg - plugin_msg) : 0;
  if (!msg || strchr(plugin_msg, ' ') < msg || !strncmp(plugin_msg, "config", plen)) {
    snprintf(errstr, errstr_size, "%s: pipelines[%zu]: %s", cfg->path, i, plugin_msg);
    return -1;
  }
  msg += 2;
  snprintf(path, sizeof path, "pipelines[%zu].%.*s", i, (int)plen, plugin_msg);
  char where[640];
  int at_key = !strncmp(msg, "missing required key", 20);
  if (!strncmp(msg, "unknown key '", 13)) { /* the position of the unknown key itself */
    snprintf(where, sizeof where, "%s.%.*s", path, (int)strcspn(msg + 13, "'"), msg + 13);
    at_key = 1;
  } else {
    snprintf(where, sizeof where, "%s", path);
  }
  const struct bertd_dconf_key *k;
  while (!(k = bertd_dconf_where(cfg, where))) {
    char *cut = strrchr(where, '.');
    if (!cut) break;
    *cut = 0;
    at_key = 1;
  }
  if (k) {
    const struct bertd_dconf_pos pos = at_key ? k->key : k->value;
    snprintf(errstr, errstr_size, "%s:%d:%d: %s: %s", cfg->path, pos.line, pos.column, path, msg);
  } else {
    snprintf(errstr, errstr_size, "%s: %s: %s", cfg->path, path, msg);
  }
  return -1;
}

int bertd_pipeline_settings_check(const bertd_plugin_api *api,
                                  const struct bertd_daemon_config *cfg, size_t i, char *task,
                                  size_t task_size, char *errstr, size_t errstr_size) {
  const struct bertd_pipeline_config *pc = &cfg->pipelines[i];
  char effective[8192], why[512];
  if (api->config_check(pc->plugin_json, effective, sizeof effective, why, sizeof why))
    return located(cfg, i, why, errstr, errstr_size);
  json_t *eff = json_loads(effective, 0, NULL);
  const char *t = json_string_value(json_object_get(json_object_get(eff, "model"), "task"));
  int published = 0;
  for (size_t k = 0; t && k < sizeof PUBLISHED / sizeof *PUBLISHED; k++)
    published |= !strcmp(t, PUBLISHED[k]);
  int rc = 0;
  if (!published) {
    snprintf(why, sizeof why, "model.task: task '%s' has no enriched record (the daemon runs "
             "joint, classify, tag, embed or qa)", t ? t : "?");
    rc = located(cfg, i, why, errstr, errstr_size);
  } else if (!strcmp(t, "qa") && !pc->input.text_pair_field) {
    rc = located(cfg, i, "model.task: task qa needs input.text_pair_field (the context; "
                 "text_field is the question)", errstr, errstr_size);
  } else {
    snprintf(task, task_size, "%s", t);
  }
  json_decref(eff);
  return rc;
}

char *bertd_pipeline_plugin_json(const struct bertd_pipeline_config *pc, int threads) {
  json_t *root = json_loads(pc->plugin_json, 0, NULL);
  json_t *m = json_object_get(root, "model");
  json_t *set = json_object_get(m, "threads");
  if (threads > 0 && json_is_object(m) && (!set || json_is_null(set)))
    json_object_set_new(m, "threads", json_integer(threads));
  char *s = root ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
  json_decref(root);
  return s;
}
