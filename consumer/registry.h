/* registry.h: a Confluent Schema Registry client, just what the codec needs: a schema by id,
 * and registering a schema under a subject. Plain HTTP(S) through libcurl; no auth yet
 * (basic auth and TLS options are a TODO: URLs with user:password@ work through libcurl).
 * Caching by id is the codec's (it caches the parsed schema, which is what is expensive). */
#ifndef BERTD_REGISTRY_H
#define BERTD_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

typedef struct bertd_registry bertd_registry;

/* url: "http://host:8081" (a trailing slash is fine). timeout_ms <= 0: 10 s. */
int bertd_registry_create(const char *url, long timeout_ms, bertd_registry **out, char *errstr,
                          size_t errstr_size);
void bertd_registry_free(bertd_registry *r);

/* GET /schemas/ids/{id}: *schema_json is the schema's JSON text (malloc'd). *http_status is the
 * HTTP status (0 when there was no response), so a caller can tell an unknown id (404) from a
 * registry that is down. */
int bertd_registry_get_schema(bertd_registry *r, int32_t id, char **schema_json, long *http_status,
                              char *errstr, size_t errstr_size);

/* POST /subjects/{subject}/versions: registers schema_json (or finds it already registered) and
 * returns its id. */
int bertd_registry_register(bertd_registry *r, const char *subject, const char *schema_json,
                            int32_t *id, char *errstr, size_t errstr_size);

#endif
