/* http_endpoints.h: the daemon's HTTP endpoints, served by libmicrohttpd on its own thread:
 *   GET /metrics  the registry in Prometheus' text format (version 0.0.4)
 *   GET /healthz  200 "ok": the process is alive and serving HTTP
 *   GET /readyz   200 "ready", or 503 with the reason (bertd_dm_ready)
 * libmicrohttpd (Debian's libmicrohttpd12) rather than a hand-written server: HTTP parsing,
 * keep-alive, slow or malformed clients and connection limits are its well-tested business. */
#ifndef BERTD_HTTP_ENDPOINTS_H
#define BERTD_HTTP_ENDPOINTS_H

#include <stddef.h>

#include "daemon_metrics.h"

typedef struct bertd_http bertd_http;

/* Listens on listen ("HOST:PORT", HOST a name, an IPv4 address or [IPv6]) and serves dm, which
 * must outlive the server. -1 with one line in errstr (e.g. the address is in use). */
int bertd_http_start(const char *listen, bertd_dm *dm, bertd_http **out, char *errstr,
                     size_t errstr_size);
/* Stops serving and closes the socket; NULL is a no-op. */
void bertd_http_stop(bertd_http *h);

#endif
