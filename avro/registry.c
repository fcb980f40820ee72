/* registry.c: the Schema Registry's REST calls over libcurl (see bertd_avro.h). A new easy handle
 * per call: calls happen once per unknown schema id, so connection reuse is not worth the
 * locking a shared handle would need. */
#include "bertd_avro.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RESPONSE (16u << 20) /* a schema is kilobytes; a bigger answer is not a registry */

struct bertd_registry {
  char *url;   /* without a trailing slash */
  char *shown; /* url without its user:password@, for messages and logs */
  long timeout_ms;
};

/* url with the userinfo of its authority (user:password@) left out. */
static char *without_userinfo(const char *url) {
  const char *host = strstr(url, "://");
  host = host ? host + 3 : url;
  size_t alen = strcspn(host, "/?#");
  const char *at = memchr(host, '@', alen);
  /* the last '@' of the authority ends the userinfo (a password may hold '@' unescaped) */
  for (const char *p = at; p && p < host + alen; p = memchr(p + 1, '@', (size_t)(host + alen - p - 1)))
    at = p;
  char *out = malloc(strlen(url) + 1);
  if (!out) return NULL;
  size_t pre = (size_t)(host - url);
  memcpy(out, url, pre);
  strcpy(out + pre, at ? at + 1 : host);
  return out;
}

typedef struct response {
  char *buf;
  size_t len, cap;
  int too_big;
} response;

static size_t on_data(char *data, size_t size, size_t nmemb, void *userp) {
  response *r = userp;
  size_t n = size * nmemb;
  if (r->len + n + 1 > MAX_RESPONSE) {
    r->too_big = 1;
    return 0; /* aborts the transfer */
  }
  if (r->len + n + 1 > r->cap) {
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < r->len + n + 1) cap *= 2;
    char *b = realloc(r->buf, cap);
    if (!b) return 0;
    r->buf = b;
    r->cap = cap;
  }
  memcpy(r->buf + r->len, data, n);
  r->len += n;
  r->buf[r->len] = 0;
  return n;
}

int bertd_registry_create(const char *url, long timeout_ms, bertd_registry **out, char *errstr,
                          size_t errstr_size) {
  *out = NULL;
  if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
    snprintf(errstr, errstr_size, "schema registry URL '%s' must start with http:// or https://",
             url);
    return -1;
  }
  /* curl_global_init is reference counted and thread-safe since curl 7.84 */
  if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
    snprintf(errstr, errstr_size, "schema registry: libcurl failed to initialize");
    return -1;
  }
  bertd_registry *r = calloc(1, sizeof(*r));
  if (!r || !(r->url = strdup(url)) || !(r->shown = without_userinfo(url))) {
    if (r) free(r->url);
    free(r);
    curl_global_cleanup();
    snprintf(errstr, errstr_size, "schema registry: out of memory");
    return -1;
  }
  size_t n = strlen(r->url);
  while (n > 0 && r->url[n - 1] == '/') r->url[--n] = 0;
  n = strlen(r->shown);
  while (n > 0 && r->shown[n - 1] == '/') r->shown[--n] = 0;
  r->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
  *out = r;
  return 0;
}

void bertd_registry_free(bertd_registry *r) {
  if (!r) return;
  free(r->url);
  free(r->shown);
  free(r);
  curl_global_cleanup();
}

/* One request; body NULL: GET. On a transport failure -1; otherwise 0 with *status set and the
 * body in resp (the caller frees resp->buf). */
static int request(bertd_registry *r, const char *path, const char *body, long *status,
                   response *resp, char *errstr, size_t errstr_size) {
  *status = 0;
  memset(resp, 0, sizeof(*resp));
  CURL *h = curl_easy_init();
  if (!h) {
    snprintf(errstr, errstr_size, "schema registry: libcurl failed to initialize");
    return -1;
  }
  size_t ulen = strlen(r->url) + strlen(path) + 1;
  char *url = malloc(ulen);
  struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/vnd.schemaregistry.v1+json, application/json");
  if (body) hdrs = curl_slist_append(hdrs, "Content-Type: application/vnd.schemaregistry.v1+json");
  char curl_err[CURL_ERROR_SIZE] = "";
  int rc = -1;
  if (!url || !hdrs) {
    snprintf(errstr, errstr_size, "schema registry: out of memory");
    goto done;
  }
  snprintf(url, ulen, "%s%s", r->url, path);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, r->timeout_ms);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM in a threaded daemon */
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  if (body) curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
  CURLcode cc = curl_easy_perform(h);
  if (cc != CURLE_OK) {
    snprintf(errstr, errstr_size, "schema registry %s%s: %s", r->shown, path,
             resp->too_big ? "response too large" : curl_err[0] ? curl_err : curl_easy_strerror(cc));
    free(resp->buf);
    resp->buf = NULL;
    goto done;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
  rc = 0;
done:
  curl_slist_free_all(hdrs);
  free(url);
  curl_easy_cleanup(h);
  return rc;
}

/* The registry's error body is {"error_code": N, "message": "..."}; say what it says. */
static void http_error(const char *what, long status, const response *resp, char *errstr,
                       size_t errstr_size) {
  json_t *j = resp->buf ? json_loads(resp->buf, 0, NULL) : NULL;
  const char *msg = json_string_value(json_object_get(j, "message"));
  snprintf(errstr, errstr_size, "schema registry: %s: HTTP %ld%s%s", what, status, msg ? ": " : "",
           msg ? msg : "");
  json_decref(j);
}

int bertd_registry_get_schema(bertd_registry *r, int32_t id, char **schema_json, long *http_status,
                              char *errstr, size_t errstr_size) {
  char path[64], what[64];
  *schema_json = NULL;
  snprintf(path, sizeof path, "/schemas/ids/%ld", (long)id);
  snprintf(what, sizeof what, "schema id %ld", (long)id);
  response resp;
  if (request(r, path, NULL, http_status, &resp, errstr, errstr_size)) return -1;
  if (*http_status != 200) {
    http_error(what, *http_status, &resp, errstr, errstr_size);
    free(resp.buf);
    return -1;
  }
  json_t *j = resp.buf ? json_loads(resp.buf, 0, NULL) : NULL;
  const char *s = json_string_value(json_object_get(j, "schema"));
  if (s) *schema_json = strdup(s);
  else snprintf(errstr, errstr_size, "schema registry: %s: response has no \"schema\" string", what);
  json_decref(j);
  free(resp.buf);
  if (s && !*schema_json) snprintf(errstr, errstr_size, "schema registry: out of memory");
  return *schema_json ? 0 : -1;
}

int bertd_registry_register(bertd_registry *r, const char *subject, const char *schema_json,
                            int32_t *id, char *errstr, size_t errstr_size) {
  *id = -1;
  CURL *esc = curl_easy_init();
  char *subj = esc ? curl_easy_escape(esc, subject, 0) : NULL;
  json_t *req = json_pack("{s:s}", "schema", schema_json);
  char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
  json_decref(req);
  size_t plen = (subj ? strlen(subj) : 0) + 32;
  char *path = malloc(plen);
  char what[300];
  snprintf(what, sizeof what, "registering under subject '%s'", subject);
  int rc = -1;
  if (!subj || !body || !path) {
    snprintf(errstr, errstr_size, "schema registry: out of memory");
    goto done;
  }
  snprintf(path, plen, "/subjects/%s/versions", subj);
  long status;
  response resp;
  if (request(r, path, body, &status, &resp, errstr, errstr_size)) goto done;
  if (status != 200) {
    http_error(what, status, &resp, errstr, errstr_size);
  } else {
    json_t *j = resp.buf ? json_loads(resp.buf, 0, NULL) : NULL;
    json_t *v = json_object_get(j, "id");
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= INT32_MAX) {
      *id = (int32_t)json_integer_value(v);
      rc = 0;
    } else {
      snprintf(errstr, errstr_size, "schema registry: %s: response has no \"id\"", what);
    }
    json_decref(j);
  }
  free(resp.buf);
done:
  free(path);
  free(body);
  if (subj) curl_free(subj);
  if (esc) curl_easy_cleanup(esc);
  return rc;
}
