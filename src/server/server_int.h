/*
 * server_int.h: helpers private to src/server. They are pure (no sockets, no engine calls),
 * so tests/unit/test_http_parse.c links them without an engine: route matching and URL
 * decoding, the POST /v1/sql body parser, listen address formatting, small text helpers.
 */
#ifndef CLOVE_SERVER_INT_H
#define CLOVE_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "common/common.h"
#include "common/tls.h"
#include "engine/engine.h"

/* ---- routes ---------------------------------------------------------------------------- */

typedef enum {
    CLOVE_HTTP_ROUTE_NONE = 0,
    CLOVE_HTTP_ROUTE_HEALTH,           /* GET  /health */
    CLOVE_HTTP_ROUTE_READY,            /* GET  /v1/ready */
    CLOVE_HTTP_ROUTE_SQL,              /* POST /v1/sql */
    CLOVE_HTTP_ROUTE_STATUS,           /* GET  /v1/status */
    CLOVE_HTTP_ROUTE_DATASETS,         /* GET  /v1/datasets */
    CLOVE_HTTP_ROUTE_DATASET_REFRESH,  /* POST /v1/datasets/{name}/acceleration/refresh */
    CLOVE_HTTP_ROUTE_SPICEPODS,        /* GET  /v1/spicepods */
    CLOVE_HTTP_ROUTE_DATASET_ACCEL,    /* PATCH /v1/datasets/{name}/acceleration */
} clove_http_route_t;

typedef struct {
    clove_http_route_t route;
    const char *path_template;  /* static, e.g. "/v1/datasets/{name}/acceleration/refresh";
                                 * NULL when no route matched */
    const char *allow;          /* static "GET, HEAD" or "POST": the Allow header for a 405 */
    char *name;                 /* the decoded {name} segment (owned), NULL if the route has none */
} clove_http_match_t;

/* Matches `raw_path` (the request target as sent, still percent-encoded; a "?query" or
 * "#fragment" tail is ignored) and `method` against the routes. Fills *m and returns an HTTP
 * status: 200 when route and method match, 405 when only the method is wrong (m->allow says
 * which are allowed), 404 when no route matches, 400 when a path segment that is a parameter
 * has a malformed percent-escape or decodes to a NUL byte (err says why). GET routes also
 * accept HEAD. Dispose *m with clove_http_match_dispose in every case. */
int clove_http_route_match(const char *method, const char *raw_path, clove_http_match_t *m,
                           clove_err_t *err);
void clove_http_match_dispose(clove_http_match_t *m);

/* Percent-decodes in[0..n) into out (which must hold n + 1 bytes; the result is never longer
 * than the input) and NUL-terminates it. plus_as_space turns '+' into ' ' (query strings).
 * Returns the decoded length, or -1 for a malformed escape ("%4", "%zz") or an escape that
 * decodes to NUL ("%00"). */
long clove_http_url_decode(const char *in, size_t n, bool plus_as_space, char *out);

/* A bounded label value for the request method: the standard methods verbatim, anything
 * else "_OTHER" (clients choose methods, the metrics registry must not grow with them). */
const char *clove_http_method_label(const char *method);

/* ---- POST /v1/sql body ------------------------------------------------------------------ */

typedef struct {
    const char *sql;            /* borrows the body or `root`; NUL-terminated */
    clove_param_t *params;      /* owned array; names and strings borrow `root` */
    size_t n_params;
    bool named;                 /* parameters came as a JSON object */
    json_t *root;               /* owned; NULL for a plain-text body */
} clove_http_sql_body_t;

/* Parses a POST /v1/sql body. `body` must be NUL-terminated at body[len] and outlive *out.
 * When `json_content_type` is set (Content-Type application/json) and the body starts with
 * '{', it must be a JSON object {"sql": "...", "parameters": [...] | {...}}; otherwise a
 * body that starts with '{' and parses as such an object is taken as one, and anything else
 * is SQL text. Parameters: an array binds $1..$n in order, an object binds by name (a leading
 * ':' or '$' in a key is dropped). JSON integers that fit int64 become CLOVE_PARAM_INT,
 * bigger ones CLOVE_PARAM_STRING holding the digits, reals CLOVE_PARAM_DOUBLE; strings,
 * booleans and null map to their kinds; arrays and objects are refused.
 * Returns 0, or CLOVE_EINVAL with a user-facing message in err (empty body, NUL byte, invalid
 * UTF-8, malformed JSON with line and column, missing "sql", unsupported parameter).
 * Dispose *out with clove_http_sql_body_dispose whatever the result. */
int clove_http_parse_sql_body(const char *body, size_t len, bool json_content_type,
                              clove_http_sql_body_t *out, clove_err_t *err);
void clove_http_sql_body_dispose(clove_http_sql_body_t *b);

/* Copies the JSON text in[0..n) to out, wrapping every integer literal that does not fit in
 * int64 in double quotes, so jansson reads it as a string that keeps every digit. Strings
 * and non-integer numbers are copied unchanged. */
void clove_http_json_quote_bigints(const char *in, size_t n, clove_buf_t *out);

/* True when s[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF); on false
 * *bad_at is the offset of the first bad byte. */
bool clove_http_utf8_valid(const char *s, size_t n, size_t *bad_at);

/* ---- addresses and small text helpers ---------------------------------------------------- */

/* Formats an AF_INET / AF_INET6 sockaddr as "127.0.0.1:8090" or "[::1]:8090". */
void clove_http_format_sockaddr(const void *sa, char *out, size_t outlen);

/* Parses a query-string boolean as Spice does ("true" / "false"); a key given without a value
 * (value NULL or "") counts as true. Returns 0 or CLOVE_EINVAL. */
int clove_http_parse_bool_arg(const char *value, bool *out);

/* The source of a dataset as Spice's /v1/datasets?source= filter sees it: the part of `from`
 * before the first ':' ("postgres" for "postgres:public.orders"), "spice.ai" when there is no
 * ':' and "sink" when `from` is empty or "sink". Writes into out (NUL-terminated, truncated). */
void clove_http_dataset_source(const char *from, char *out, size_t outlen);

/* Spice's error type for a component error message: "auth", "connection", "timeout",
 * "validation", "not_found", "permission", "rate_limit", "internal" or "unknown". */
const char *clove_http_error_type(const char *message);

/* Appends s as one CSV field, quoted (with doubled quotes) when it holds , " CR or LF. */
void clove_http_csv_field(clove_buf_t *b, const char *s);

/* ---- daemons (http.c) --------------------------------------------------------------------- */

/* Starts a libmicrohttpd daemon listening on `addr` for the `what` endpoint ("http",
 * "metrics"; also the log component of MHD's own messages), with MHD_USE_INTERNAL_POLLING_THREAD |
 * MHD_USE_ERROR_LOG (| MHD_USE_DUAL_STACK for IPv6) added to `flags`, `extra` options (an
 * MHD_OPTION_END-terminated array) and MHD's messages routed to clove's log. With tls (borrowed;
 * must outlive the daemon) it serves HTTPS only (MHD_USE_TLS with the certificate and key in
 * memory); plain-text requests then fail their TLS handshake. Writes the address actually
 * bound (port 0 resolved) to bound. Returns NULL with err set (bad address, address in use,
 * TLS refused by GnuTLS). */
struct MHD_Daemon *clove_http_start_daemon(const char *addr, const char *what, unsigned flags,
                                           MHD_AccessHandlerCallback handler, void *cls,
                                           const struct MHD_OptionItem *extra,
                                           const clove_tls_cert_t *tls, char *bound,
                                           size_t boundlen, clove_err_t *err);

#endif
