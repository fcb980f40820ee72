/* http_endpoints.c: /metrics, /healthz, /readyz over libmicrohttpd (see http_endpoints.h). The
 * socket is bound here rather than by libmicrohttpd, so a failure names the errno ("Address
 * already in use") in the daemon's one error line. */
#include "http_endpoints.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct bertd_http {
  struct MHD_Daemon *mhd;
  bertd_dm *dm;
  int fd;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             char *body, size_t len, int owned) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
  if (!r) {
    if (owned) free(body);
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  enum MHD_Result rc = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  (void)version;
  (void)upload_data;
  (void)con_cls;
  bertd_http *h = cls;
  static const char text[] = "text/plain; charset=utf-8";
  if (*upload_data_size) return MHD_NO; /* no endpoint takes a body */
  if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
    static char msg[] = "only GET and HEAD\n";
    return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, text, msg, strlen(msg), 0);
  }
  if (!strcmp(url, "/metrics")) {
    size_t len = 0;
    char *body = bertd_metrics_render(bertd_dm_registry(h->dm), &len);
    if (!body) {
      static char oom[] = "out of memory\n";
      return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, text, oom, strlen(oom), 0);
    }
    return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len, 1);
  }
  if (!strcmp(url, "/healthz")) {
    static char ok[] = "ok\n";
    return reply(c, MHD_HTTP_OK, text, ok, strlen(ok), 0);
  }
  if (!strcmp(url, "/readyz")) {
    char why[128], body[160];
    int ready = bertd_dm_ready(h->dm, why, sizeof why);
    int n = snprintf(body, sizeof body, "%s%s\n", ready ? "" : "not ready: ", why);
    return reply(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, text, body,
                 (size_t)n, 0);
  }
  static char nf[] = "not found: /metrics, /healthz, /readyz\n";
  return reply(c, MHD_HTTP_NOT_FOUND, text, nf, strlen(nf), 0);
}

/* A listening socket on HOST:PORT; -1 with errstr. */
static int listen_on(const char *listen_at, char *errstr, size_t errstr_size) {
  char host[256];
  const char *colon = strrchr(listen_at, ':');
  if (!colon || (size_t)(colon - listen_at) >= sizeof host) {
    snprintf(errstr, errstr_size, "metrics.listen: '%s' is not HOST:PORT", listen_at);
    return -1;
  }
  const char *h0 = listen_at;
  size_t hl = (size_t)(colon - listen_at);
  if (hl >= 2 && h0[0] == '[' && h0[hl - 1] == ']') { /* [::1] */
    h0++;
    hl -= 2;
  }
  memcpy(host, h0, hl);
  host[hl] = 0;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *ai = NULL;
  int gai = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
  if (gai) {
    snprintf(errstr, errstr_size, "metrics.listen %s: %s", listen_at, gai_strerror(gai));
    return -1;
  }
  int fd = -1, err = 0;
  for (struct addrinfo *a = ai; a; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 64) == 0) break;
    err = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(ai);
  if (fd < 0)
    snprintf(errstr, errstr_size, "metrics.listen %s: %s", listen_at, strerror(err));
  return fd;
}

int bertd_http_start(const char *listen_at, bertd_dm *dm, bertd_http **out, char *errstr,
                     size_t errstr_size) {
  *out = NULL;
  bertd_http *h = calloc(1, sizeof(*h));
  if (!h) {
    snprintf(errstr, errstr_size, "metrics: out of memory");
    return -1;
  }
  h->dm = dm;
  if ((h->fd = listen_on(listen_at, errstr, errstr_size)) < 0) {
    free(h);
    return -1;
  }
  /* one internal thread polling every connection: scrapes are small and rare; a connection
   * that sends nothing is dropped after 10 s */
  h->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL,
                            on_request, h, MHD_OPTION_LISTEN_SOCKET, h->fd,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
  if (!h->mhd) {
    snprintf(errstr, errstr_size, "metrics.listen %s: libmicrohttpd could not start", listen_at);
    close(h->fd);
    free(h);
    return -1;
  }
  *out = h;
  return 0;
}

void bertd_http_stop(bertd_http *h) {
  if (!h) return;
  MHD_stop_daemon(h->mhd); /* closes the listening socket too, ours or not */
  free(h);
}
