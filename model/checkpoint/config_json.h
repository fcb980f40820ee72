/* config_json.h: reading the small JSON files of a checkpoint directory (config.json,
 * tokenizer_config.json, ...) with typed getters whose errors name the file and the key.
 * Internal to model/; config*.c use it. */
#ifndef BERTD_CONFIG_JSON_H
#define BERTD_CONFIG_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "bertd.h"


/* dir + "/" + name into buf; -1 (with message) when it does not fit. */
int bertd_cfgjson_path(char *buf, size_t size, const char *dir, const char *name, char *errstr,
                       size_t errstr_size);

/* Parses DIR/NAME. A missing optional file gives *out = NULL and 0. Bad JSON is
 * "NAME:LINE:COLUMN: <jansson's message>". Numbers are all decoded as doubles: tokenizer configs
 * carry model_max_length = int(1e30), which no 64-bit integer holds. */
int bertd_cfgjson_load(const char *dir, const char *name, int required, json_t **out,
                       char *errstr, size_t errstr_size);

/* Typed getters on obj[key]. Absent or null keeps *out as it is (callers preset defaults).
 * file is the file name for errors: "config.json: hidden_size: expected an integer >= 1". */
int bertd_cfgjson_int(const json_t *obj, const char *file, const char *key, int min, int *out,
                      char *errstr, size_t errstr_size);
int bertd_cfgjson_bool(const json_t *obj, const char *file, const char *key, int *out,
                       char *errstr, size_t errstr_size);
int bertd_cfgjson_float(const json_t *obj, const char *file, const char *key, float *out,
                        char *errstr, size_t errstr_size);
/* *out points into obj (valid while obj lives); NULL when absent or null. */
int bertd_cfgjson_string(const json_t *obj, const char *file, const char *key, const char **out,
                         char *errstr, size_t errstr_size);

#endif
