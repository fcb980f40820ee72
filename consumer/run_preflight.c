/* run_preflight.c: what `bertd run` checks in a loaded config before it starts anything, beyond
 * what the config layer can see: the config layer knows YAML, not Avro or the enrichment stage,
 * so a schema that does not parse, a text field the schema lacks, or a model or batching setting
 * the plugin refuses is found here and reported as a config error (file:line:column of the key,
 * exit 2) instead of at pipeline start after Kafka was reached. */
#include "bertd_daemon.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "bertd_avro.h"
#include "pipeline_settings.h"
#include "plugin_host.h"

static void located(const struct bertd_daemon_config *cfg, size_t i, const char *key,
                    const char *why, char *errstr, size_t errstr_size) {
  char path[128];
  snprintf(path, sizeof path, "pipelines[%zu].input.%s", i, key);
  const struct bertd_dconf_key *k = bertd_dconf_where(cfg, path);
  if (k)
    snprintf(errstr, errstr_size, "%s:%d:%d: %s: %s", cfg->path, k->value.line, k->value.column,
             path, why);
  else
    snprintf(errstr, errstr_size, "%s: %s: %s", cfg->path, path, why);
}

int bertd_run_preflight(const struct bertd_daemon_config *cfg, const char *plugin_path,
                        char *errstr, size_t errstr_size) {
  bertd_plugin_host host;
  if (bertd_plugin_host_open(&host, plugin_path, errstr, errstr_size)) return -1;
  int rc = 0;
  for (size_t i = 0; i < cfg->pipeline_count && !rc; i++) {
    char task[16];
    rc = bertd_pipeline_settings_check(host.api, cfg, i, task, sizeof task, errstr, errstr_size);
  }
  bertd_plugin_host_close(&host);
  if (rc) return -1;
  for (size_t i = 0; i < cfg->pipeline_count; i++) {
    const struct bertd_pipeline_config *pc = &cfg->pipelines[i];
    char why[768];
    bertd_avro_schema *schema = NULL;
    if (bertd_avro_schema_load(pc->input.schema_path, &schema, why, sizeof why)) {
      located(cfg, i, "schema", why, errstr, errstr_size);
      return -1;
    }
    /* one field at a time, so the message points at the key that names the bad one */
    const char *key = NULL;
    if (bertd_codec_check_fields(schema, pc->input.text_field, NULL, why, sizeof why))
      key = "text_field";
    else if (pc->input.text_pair_field &&
             bertd_codec_check_fields(schema, pc->input.text_field, pc->input.text_pair_field,
                                      why, sizeof why))
      key = "text_pair_field";
    bertd_avro_schema_free(schema);
    if (key) {
      located(cfg, i, key, why, errstr, errstr_size);
      return -1;
    }
  }
  return 0;
}

int bertd_run_print_settings(const struct bertd_daemon_config *cfg, const char *plugin_path,
                             FILE *out, char *errstr, size_t errstr_size) {
  bertd_plugin_host host;
  if (bertd_plugin_host_open(&host, plugin_path, errstr, errstr_size)) return -1;
  int rc = 0;
  for (size_t i = 0; i < cfg->pipeline_count && !rc; i++) {
    char eff[8192], why[512];
    if (host.api->config_check(cfg->pipelines[i].plugin_json, eff, sizeof eff, why, sizeof why)) {
      snprintf(errstr, errstr_size, "%s: pipelines[%zu]: %s", cfg->path, i, why);
      rc = -1;
      break;
    }
    /* {"pipeline": NAME, "model": {...}, "batching": {...}} */
    json_t *o = json_loads(eff, 0, NULL);
    json_t *line = json_pack("{s:s}", "pipeline", cfg->pipelines[i].name);
    if (o && line) json_object_update(line, o);
    char *text = line ? json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(8)) : NULL;
    if (text) fprintf(out, "%s\n", text);
    else rc = -1, snprintf(errstr, errstr_size, "out of memory");
    free(text);
    json_decref(o);
    json_decref(line);
  }
  bertd_plugin_host_close(&host);
  return rc;
}
