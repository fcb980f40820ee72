/* test_registry.c: the Schema Registry client and the codec's use of it, against a small HTTP
 * server in a thread that answers like Confluent's registry: a writer schema by id (one with an
 * extra field, so it must be resolved), a 404 for an unknown id, and an id for a registration.
 * Checks: ids are fetched once (cached), an unknown id is WRONG_SCHEMA, a registry that is down
 * is UNAVAILABLE (not the record's fault), and the enriched record carries the registered id. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bertd_avro.h"

#define UTTERANCE BERTD_SOURCE_DIR "/schemas/utterance.avsc"

/* Utterance as an upstream producer might have evolved it: one more field at the end. */
static const char WRITER_V2[] =
    "{\"type\":\"record\",\"name\":\"Utterance\",\"namespace\":\"bertd.example\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"text\",\"type\":\"string\"},"
    "{\"name\":\"text_pair\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"channel\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"ts\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"lang\",\"type\":\"string\",\"default\":\"en\"}]}";

typedef struct server {
  int fd, port;
  atomic_int stop, gets, posts;
  char last_post_path[256];
  char *last_post_body;
  pthread_t thread;
} server;

static void respond(int c, int status, const char *body) {
  char head[256];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n",
                   status, strlen(body));
  if (write(c, head, (size_t)n) < 0 || write(c, body, strlen(body)) < 0) return;
}

static void serve_one(server *s, int c) {
  char buf[65536];
  size_t len = 0;
  char *end = NULL;
  while (len < sizeof buf - 1) { /* headers */
    ssize_t r = read(c, buf + len, sizeof buf - 1 - len);
    if (r <= 0) return;
    len += (size_t)r;
    buf[len] = 0;
    if ((end = strstr(buf, "\r\n\r\n"))) break;
  }
  if (!end) return;
  const char *cl = strstr(buf, "Content-Length:");
  size_t body_len = cl ? (size_t)atol(cl + 15) : 0, have = len - (size_t)(end + 4 - buf);
  while (have < body_len && len < sizeof buf - 1) {
    ssize_t r = read(c, buf + len, sizeof buf - 1 - len);
    if (r <= 0) return;
    len += (size_t)r;
    have += (size_t)r;
  }
  buf[len] = 0;
  char method[8], path[256];
  if (sscanf(buf, "%7s %255s", method, path) != 2) return;
  if (!strcmp(method, "GET")) {
    s->gets++;
    if (!strcmp(path, "/schemas/ids/7")) {
      json_t *j = json_pack("{s:s}", "schema", WRITER_V2);
      char *body = json_dumps(j, JSON_COMPACT);
      respond(c, 200, body);
      free(body);
      json_decref(j);
    } else {
      respond(c, 404, "{\"error_code\":40403,\"message\":\"Schema not found\"}");
    }
  } else {
    s->posts++;
    snprintf(s->last_post_path, sizeof s->last_post_path, "%s", path);
    free(s->last_post_body);
    s->last_post_body = strdup(end + 4);
    respond(c, 200, strstr(path, "/subjects/out-value/") ? "{\"id\":42}" : "{\"id\":7}");
  }
}

static void *serve(void *arg) {
  server *s = arg;
  while (!s->stop) {
    struct pollfd p = {s->fd, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    int c = accept(s->fd, NULL, NULL);
    if (c < 0) continue;
    serve_one(s, c);
    close(c);
  }
  return NULL;
}

static server *server_start(void) {
  server *s = calloc(1, sizeof(*s));
  s->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(listen(s->fd, 8), 0);
  socklen_t al = sizeof a;
  getsockname(s->fd, (struct sockaddr *)&a, &al);
  s->port = ntohs(a.sin_port);
  pthread_create(&s->thread, NULL, serve, s);
  return s;
}

static void server_stop(server *s) {
  s->stop = 1;
  pthread_join(s->thread, NULL);
  close(s->fd);
  free(s->last_post_body);
  free(s);
}

static char err[512];

/* a registry client of the test server */
static bertd_registry *registry_for(const server *srv) {
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", srv->port);
  bertd_registry *reg;
  cr_assert_eq(bertd_registry_create(url, 5000, &reg, err, sizeof err), 0, "%s", err);
  return reg;
}

Test(registry, codec_resolves_caches_and_registers) {
  server *srv = server_start();
  bertd_registry *reg = registry_for(srv);
  bertd_avro_schema *in;
  cr_assert_eq(bertd_avro_schema_load(UTTERANCE, &in, err, sizeof err), 0, "%s", err);
  bertd_codec_conf conf = {.framing = BERTD_FRAMING_CONFLUENT, .registry = reg,
                           .output_subject = "out-value", .pair_field = "text_pair"};
  bertd_codec *c;
  cr_assert_eq(bertd_codec_create(&conf, in, &c, err, sizeof err), 0, "%s", err);
  cr_assert_eq(srv->posts, 1);
  cr_assert_str_eq(srv->last_post_path, "/subjects/out-value/versions");
  json_t *posted = json_loads(srv->last_post_body, 0, NULL);
  char *enriched = bertd_avro_schema_dump(bertd_codec_enriched_schema(c), 0);
  cr_assert_str_eq(json_string_value(json_object_get(posted, "schema")), enriched);
  free(enriched);
  json_decref(posted);

  /* a record written with schema 7 (v2: text "hola", lang "es") */
  unsigned char rec[] = {0, 0, 0, 0, 7, 4, 'u', '1', 8, 'h', 'o', 'l', 'a', 0, 0, 0, 4, 'e', 's'};
  bertd_record *r;
  bertd_codec_reason reason;
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(bertd_codec_decode(c, rec, sizeof rec, &r, &reason, err, sizeof err), 0, "%s",
                 err);
    cr_assert_str_eq(bertd_record_text(r, NULL), "hola");
    cr_assert_eq(bertd_record_schema_id(r), 7);
    if (i < 2) bertd_record_free(r);
  }
  cr_assert_eq(srv->gets, 1, "schema 7 fetched %d times", (int)srv->gets);

  /* enriched: id 42, and the datum is the input schema's (lang dropped) + enrichment */
  bertd_enrichment e = {.model = "m", .model_checksum = "c", .task = "classify", .queue_ms = 2};
  void *out;
  size_t out_len;
  cr_assert_eq(bertd_codec_encode(c, r, &e, &out, &out_len, err, sizeof err), 0, "%s", err);
  const unsigned char *o = out;
  cr_assert(o[0] == 0 && o[1] == 0 && o[2] == 0 && o[3] == 0 && o[4] == 42);
  const unsigned char want[] = {4, 'u', '1', 8, 'h', 'o', 'l', 'a', 0, 0, 0};
  cr_assert_eq(memcmp(o + 5, want, sizeof want), 0);
  free(out);
  bertd_record_free(r);

  /* an id the registry does not know */
  rec[4] = 8;
  cr_assert_eq(bertd_codec_decode(c, rec, sizeof rec, &r, &reason, err, sizeof err), -1);
  cr_assert_eq(reason, BERTD_CODEC_WRONG_SCHEMA);
  cr_assert(strstr(err, "HTTP 404: Schema not found"), "%s", err);

  bertd_codec_free(c);
  bertd_registry_free(reg);
  bertd_avro_schema_free(in);
  server_stop(srv);
}

/* A stream of records with an id the registry rejects costs one request per TTL, not one per
 * record; each record still gets the same reason and message; after the TTL the registry is
 * asked again (the id may have been registered since). */
Test(registry, rejected_id_is_remembered_for_the_ttl) {
  server *srv = server_start();
  bertd_registry *reg = registry_for(srv);
  bertd_avro_schema *in;
  cr_assert_eq(bertd_avro_schema_load(UTTERANCE, &in, err, sizeof err), 0, "%s", err);
  bertd_codec_conf conf = {.framing = BERTD_FRAMING_CONFLUENT, .registry = reg,
                           .pair_field = "text_pair", .rejected_ttl_ms = 300};
  bertd_codec *c;
  cr_assert_eq(bertd_codec_create(&conf, in, &c, err, sizeof err), 0, "%s", err);
  unsigned char rec[] = {0, 0, 0, 0, 9, 4, 'u', '1', 8, 'h', 'o', 'l', 'a', 0, 0, 0};
  bertd_record *r = NULL;
  bertd_codec_reason reason;
  for (int i = 0; i < 50; i++) {
    cr_assert_eq(bertd_codec_decode(c, rec, sizeof rec, &r, &reason, err, sizeof err), -1);
    cr_assert_eq(reason, BERTD_CODEC_WRONG_SCHEMA, "record %d", i);
    cr_assert(strstr(err, "HTTP 404: Schema not found"), "record %d: %s", i, err);
  }
  cr_assert_eq(srv->gets, 1, "id 9 asked %d times for 50 records", (int)srv->gets);
  usleep(400 * 1000);
  cr_assert_eq(bertd_codec_decode(c, rec, sizeof rec, &r, &reason, err, sizeof err), -1);
  cr_assert_eq(reason, BERTD_CODEC_WRONG_SCHEMA);
  cr_assert_eq(srv->gets, 2, "after the TTL: asked %d times", (int)srv->gets);
  /* a known id is unaffected */
  unsigned char good[] = {0, 0, 0, 0, 7, 4, 'u', '1', 8, 'h', 'o', 'l', 'a', 0, 0, 0, 4, 'e', 's'};
  cr_assert_eq(bertd_codec_decode(c, good, sizeof good, &r, &reason, err, sizeof err), 0, "%s",
               err);
  bertd_record_free(r);
  bertd_codec_free(c);
  bertd_registry_free(reg);
  bertd_avro_schema_free(in);
  server_stop(srv);
}

Test(registry, unreachable_is_unavailable) {
  /* a port nobody listens on: bind one, note it, close it */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bind(fd, (struct sockaddr *)&a, sizeof a);
  socklen_t al = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &al);
  close(fd);
  /* with a user and password (basic auth), which no message may show */
  char url[96], shown[96];
  snprintf(url, sizeof url, "http://bertd:s3cr@t@127.0.0.1:%d/apis/ccompat/v7/",
           ntohs(a.sin_port));
  snprintf(shown, sizeof shown, "schema registry http://127.0.0.1:%d/apis/ccompat/v7"
           "/schemas/ids/7: ", ntohs(a.sin_port));
  bertd_registry *reg;
  cr_assert_eq(bertd_registry_create(url, 2000, &reg, err, sizeof err), 0, "%s", err);
  bertd_avro_schema *in;
  cr_assert_eq(bertd_avro_schema_load(UTTERANCE, &in, err, sizeof err), 0, "%s", err);
  bertd_codec_conf conf = {.framing = BERTD_FRAMING_CONFLUENT, .registry = reg};
  bertd_codec *c;
  cr_assert_eq(bertd_codec_create(&conf, in, &c, err, sizeof err), 0, "%s", err);
  unsigned char rec[] = {0, 0, 0, 0, 7, 4, 'u', '1', 8, 'h', 'o', 'l', 'a', 0, 0, 0};
  bertd_record *r;
  bertd_codec_reason reason;
  cr_assert_eq(bertd_codec_decode(c, rec, sizeof rec, &r, &reason, err, sizeof err), -1);
  cr_assert_eq(reason, BERTD_CODEC_UNAVAILABLE, "%s", err);
  cr_assert(!strncmp(err, shown, strlen(shown)), "%s", err);
  cr_assert(!strstr(err, "s3cr"), "%s", err);

  /* and registering at creation fails with a message */
  bertd_codec *c2 = NULL;
  conf.output_subject = "x-value";
  cr_assert_eq(bertd_codec_create(&conf, in, &c2, err, sizeof err), -1);
  cr_assert(strstr(err, "schema registry"), "%s", err);
  bertd_codec_free(c);
  bertd_registry_free(reg);
  bertd_avro_schema_free(in);
}

Test(registry, url_must_be_http) {
  bertd_registry *reg;
  cr_assert_eq(bertd_registry_create("file:///etc/passwd", 0, &reg, err, sizeof err), -1);
  cr_assert(strstr(err, "must start with http"), "%s", err);
}
