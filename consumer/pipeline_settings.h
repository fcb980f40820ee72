/* pipeline_settings.h: a pipeline's enrichment-stage settings, checked by the loaded plugin and
 * read back (pipeline_settings.c). */
#ifndef BERTD_CONSUMER_PIPELINE_SETTINGS_H
#define BERTD_CONSUMER_PIPELINE_SETTINGS_H

#include <stddef.h>

#include "bertd_config.h"
#include "bertd_plugin.h"

/* Checks pipeline i's plugin_json with the plugin's own parser (bertd_plugin_config_check) and
 * the daemon's own rules on top (the tasks it publishes; qa needs input.text_pair_field). Fills
 * task (e.g. "joint"). On error -1 and "FILE:LINE:COLUMN: pipelines[i].KEY: message" in errstr,
 * at the line that set the key. */
int bertd_pipeline_settings_check(const bertd_plugin_api *api,
                                  const struct bertd_daemon_config *cfg, size_t i, char *task,
                                  size_t task_size, char *errstr, size_t errstr_size);

/* The JSON text to create pipeline pc's plugin with: plugin_json, with model.threads set to
 * threads when the file leaves it unset and threads > 0. A new string, or NULL when out of
 * memory. */
char *bertd_pipeline_plugin_json(const struct bertd_pipeline_config *pc, int threads);

#endif
