/* plugin_config.h: the JSON configuration bertd_plugin_create() takes (keys documented in
 * bertd_plugin.h, defined with their defaults in one table in plugin_config.c), parsed and
 * checked into a plain struct. */
#ifndef BERTD_PLUGIN_CONFIG_H
#define BERTD_PLUGIN_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#include "batcher.h"
#include "bertd_enrich.h"

typedef struct plugin_config {
  char *model_dir;             /* owned */
  bertd_enrich_opts enrich;    /* too_long_is_error stays 0: the plugin checks length itself */
  int too_long_dead_letter;    /* on_too_long: dead_letter */
  bertd_precision precision;   /* the encoder's: fp32 (default), bf16, int8 */
  double min_agreement;        /* bf16 / int8, classify / joint: refuse below it; 0: no gate */
  char *calibration;           /* owned: JSONL texts min_agreement is measured on, or NULL */
  int max_batch_tokens;
  int max_batch_records;
  int max_wait_ms;
  int buckets[BATCHER_MAX_EDGES];
  int n_buckets;
} plugin_config;

/* The effective settings of JSON text: every key of SETTINGS (plugin_config.c) with the value
 * the stage will use, defaults and derived values (buckets) filled in, as a new JSON object
 * {"model": {...}, "batching": {...}}. On error -1 and "PATH: message" in errstr. */
int bertd_plugin_config_effective(const char *json_text, json_t **out, char *errstr,
                                  size_t errstr_size);

/* Fills c from JSON text (through bertd_plugin_config_effective); on error c holds nothing to
 * free. */
int bertd_plugin_config_parse(const char *json_text, plugin_config *c, char *errstr,
                        size_t errstr_size);
void bertd_plugin_config_free(plugin_config *c);

#endif
