/*
 * server: the public HTTP API (Spice-compatible routes) and the Prometheus metrics endpoint,
 * on libmicrohttpd. One thread per connection: a query runs on its connection's thread and
 * streams its answer chunk by chunk, so a slow query never blocks another client and a
 * point query pays no cross-thread hand-off.
 */
#ifndef CLOVE_SERVER_H
#define CLOVE_SERVER_H

#include "common/common.h"
#include "common/tls.h"
#include "engine/engine.h"

typedef struct clove_http_server clove_http_server_t;

typedef struct {
    const char *addr;             /* "127.0.0.1:8090", "[::1]:8090", "0.0.0.0:8090" */
    clove_engine_t *engine;       /* borrowed; outlives the server */
    const char *flight_addr;      /* shown in /v1/status; may be NULL */
    const char *metrics_addr;     /* shown in /v1/status; may be NULL */
    const clove_tls_cert_t *tls;  /* HTTPS with this certificate (borrowed, must outlive the
                                     server); NULL: plain HTTP */
} clove_http_opts_t;

/* Binds and starts serving. Returns NULL and fills err (e.g. address in use). */
clove_http_server_t *clove_http_start(const clove_http_opts_t *opts, clove_err_t *err);
/* New requests get 503 "Runtime is shutting down" except /health; in-flight ones continue. */
void clove_http_begin_shutdown(clove_http_server_t *s);
/* Number of requests being processed right now (request line received, answer not yet fully
 * sent); idle keep-alive connections do not count. Thread-safe. */
int clove_http_active(clove_http_server_t *s);
/* Stops listening, closes connections, frees. Waits up to a second for requests still being
 * answered (e.g. queries the engine's drain just interrupted), then joins every connection
 * thread: a query still running delays it, so drain the engine first. */
void clove_http_stop(clove_http_server_t *s);

typedef struct clove_metrics_server clove_metrics_server_t;
/* Prometheus text on any path; /health answers "OK". With tls (borrowed, must outlive the
 * server) it serves HTTPS only. */
clove_metrics_server_t *clove_metrics_start(const char *addr, const clove_tls_cert_t *tls,
                                            clove_err_t *err);
void clove_metrics_stop(clove_metrics_server_t *s);

/* Parses "host:port" / "[v6]:port" into a sockaddr; used by every listener. `sockaddr_storage`
 * points to a struct sockaddr_storage; *len gets the sockaddr's length. A host name
 * ("localhost") is resolved, preferring IPv4; port 0 is accepted (any free port). Returns 0 or
 * CLOVE_EINVAL with a message naming the address and what is wrong with it. */
int clove_parse_listen_addr(const char *addr, void *sockaddr_storage, unsigned *len,
                            clove_err_t *err);

#endif
