/* run_preflight.c: what `bertd run` checks in a loaded config before it starts anything, beyond
 * what the config layer can see: the config layer knows YAML, not Avro, so a schema that does
 * not parse, or a text field the schema lacks, is found here and reported as a config error
 * (file:line:column of the key, exit 2) instead of at pipeline start after Kafka was reached. */
#include "bertd_daemon.h"

#include <stdio.h>

#include "bertd_avro.h"

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

int bertd_run_preflight(const struct bertd_daemon_config *cfg, char *errstr, size_t errstr_size) {
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
