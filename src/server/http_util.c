/*
 * http_util.c: the pure parts of the HTTP API, kept apart from libmicrohttpd and the engine so
 * they can be unit-tested and fuzzed alone: listen address parsing, route matching with
 * percent-decoding of path parameters, the POST /v1/sql body parser (SQL text or a JSON object
 * with parameters), and small formatting helpers for the listing routes.
 */
#include "server/server.h"
#include "server/server_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* ---- listen addresses -------------------------------------------------------------------- */

static int parse_port(const char *s, const char *addr, unsigned *port, clove_err_t *err)
{
    unsigned v = 0;
    size_t n = 0;
    if (!*s)
        return clove_err_set(err, CLOVE_EINVAL,
                             "invalid listen address \"%s\": the port is missing "
                             "(expected HOST:PORT, e.g. 127.0.0.1:8090)", addr);
    for (; s[n]; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 5)
            return clove_err_set(err, CLOVE_EINVAL,
                                 "invalid listen address \"%s\": port \"%s\" is not a number "
                                 "between 0 and 65535", addr, s);
        v = v * 10 + (unsigned)(s[n] - '0');
    }
    if (v > 65535)
        return clove_err_set(err, CLOVE_EINVAL,
                             "invalid listen address \"%s\": port %u is out of range 0-65535",
                             addr, v);
    *port = v;
    return 0;
}

int clove_parse_listen_addr(const char *addr, void *sockaddr_storage, unsigned *len,
                            clove_err_t *err)
{
    char host[256];
    const char *port_s;
    unsigned port = 0;
    bool bracketed = false;

    if (!addr || !*addr)
        return clove_err_set(err, CLOVE_EINVAL,
                             "listen address is empty: expected HOST:PORT, e.g. 127.0.0.1:8090");
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close)
            return clove_err_set(err, CLOVE_EINVAL,
                                 "invalid listen address \"%s\": missing ']' after the IPv6 "
                                 "address", addr);
        size_t hl = (size_t)(close - addr - 1);
        if (hl == 0 || hl >= sizeof host)
            return clove_err_set(err, CLOVE_EINVAL,
                                 "invalid listen address \"%s\": bad IPv6 address", addr);
        memcpy(host, addr + 1, hl);
        host[hl] = '\0';
        if (close[1] != ':')
            return clove_err_set(err, CLOVE_EINVAL,
                                 "invalid listen address \"%s\": expected ':' and a port after "
                                 "']'", addr);
        port_s = close + 2;
        bracketed = true;
    } else {
        const char *colon = strrchr(addr, ':');
        if (!colon)
            return clove_err_set(err, CLOVE_EINVAL,
                                 "invalid listen address \"%s\": the port is missing "
                                 "(expected HOST:PORT, e.g. 127.0.0.1:8090)", addr);
        size_t hl = (size_t)(colon - addr);
        if (memchr(addr, ':', hl))
            return clove_err_set(err, CLOVE_EINVAL,
                                 "invalid listen address \"%s\": write an IPv6 address in "
                                 "brackets, e.g. [::1]:8090", addr);
        if (hl == 0)
            return clove_err_set(err, CLOVE_EINVAL,
                                 "invalid listen address \"%s\": the host is missing "
                                 "(use 0.0.0.0%s to listen on every interface)", addr, colon);
        if (hl >= sizeof host)
            return clove_err_set(err, CLOVE_EINVAL,
                                 "invalid listen address \"%s\": host name is too long", addr);
        memcpy(host, addr, hl);
        host[hl] = '\0';
        port_s = colon + 1;
    }
    int rc = parse_port(port_s, addr, &port, err);
    if (rc) return rc;

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    socklen_t sl;

    if (!bracketed && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        sl = sizeof *v4;
    } else if (bracketed && !strchr(host, '%') && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        sl = sizeof *v6;
    } else {
        /* A host name ("localhost") or a scoped IPv6 address ("fe80::1%eth0"). */
        struct addrinfo hints, *res = NULL, *pick = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = bracketed ? AF_INET6 : AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = bracketed ? AI_NUMERICHOST : 0;
        int g = getaddrinfo(host, NULL, &hints, &res);
        if (g != 0 || !res) {
            if (res) freeaddrinfo(res);
            if (bracketed)
                return clove_err_set(err, CLOVE_EINVAL,
                                     "invalid listen address \"%s\": \"%s\" is not an IPv6 "
                                     "address", addr, host);
            return clove_err_set(err, CLOVE_EINVAL,
                                 "could not resolve host \"%s\" of listen address \"%s\": %s",
                                 host, addr, gai_strerror(g));
        }
        /* Prefer IPv4: "localhost" should mean 127.0.0.1 as it does for most clients. */
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
            if (ai->ai_family == AF_INET) { pick = ai; break; }
        if (!pick)
            for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
                if (ai->ai_family == AF_INET6) { pick = ai; break; }
        if (!pick || pick->ai_addrlen > sizeof ss) {
            freeaddrinfo(res);
            return clove_err_set(err, CLOVE_EINVAL,
                                 "could not resolve host \"%s\" of listen address \"%s\": no "
                                 "IPv4 or IPv6 address", host, addr);
        }
        memcpy(&ss, pick->ai_addr, pick->ai_addrlen);
        sl = pick->ai_addrlen;
        freeaddrinfo(res);
        if (ss.ss_family == AF_INET) v4->sin_port = htons((uint16_t)port);
        else v6->sin6_port = htons((uint16_t)port);
    }
    memcpy(sockaddr_storage, &ss, sizeof ss);
    if (len) *len = (unsigned)sl;
    return 0;
}

void clove_http_format_sockaddr(const void *sa, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN];
    const struct sockaddr *s = sa;
    if (!outlen) return;
    out[0] = '\0';
    if (s->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = sa;
        inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
        snprintf(out, outlen, "%s:%u", ip, (unsigned)ntohs(v4->sin_port));
    } else if (s->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = sa;
        inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
        snprintf(out, outlen, "[%s]:%u", ip, (unsigned)ntohs(v6->sin6_port));
    }
}

/* ---- URL decoding and routes --------------------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long clove_http_url_decode(const char *in, size_t n, bool plus_as_space, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '%') {
            if (n - i < 3) return -1;
            int hi = hexval((unsigned char)in[i + 1]), lo = hexval((unsigned char)in[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            int v = hi * 16 + lo;
            if (v == 0) return -1;
            out[o++] = (char)v;
            i += 2;
        } else if (c == '+' && plus_as_space) {
            out[o++] = ' ';
        } else if (c == '\0') {
            return -1;
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    return (long)o;
}

const char *clove_http_method_label(const char *method)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                                        "OPTIONS", "CONNECT", "TRACE"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (method && strcmp(method, known[i]) == 0) return known[i];
    return "_OTHER";
}

typedef struct {
    const char *path;
    clove_http_route_t route;
    bool get;                     /* GET/HEAD route; otherwise POST */
} static_route_t;

static const static_route_t STATIC_ROUTES[] = {
    {"/health", CLOVE_HTTP_ROUTE_HEALTH, true},
    {"/v1/ready", CLOVE_HTTP_ROUTE_READY, true},
    {"/v1/sql", CLOVE_HTTP_ROUTE_SQL, false},
    {"/v1/status", CLOVE_HTTP_ROUTE_STATUS, true},
    {"/v1/datasets", CLOVE_HTTP_ROUTE_DATASETS, true},
    {"/v1/spicepods", CLOVE_HTTP_ROUTE_SPICEPODS, true},
};

static int finish_match(clove_http_match_t *m, const char *method, bool get)
{
    m->allow = get ? "GET, HEAD" : "POST";
    if (!method) return 405;
    if (get) return (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) ? 200 : 405;
    return strcmp(method, "POST") == 0 ? 200 : 405;
}

int clove_http_route_match(const char *method, const char *raw_path, clove_http_match_t *m,
                           clove_err_t *err)
{
    static const char DS_PREFIX[] = "/v1/datasets/";
    static const char DS_REFRESH[] = "/acceleration/refresh";
    memset(m, 0, sizeof *m);
    if (!raw_path) return 404;
    size_t n = strcspn(raw_path, "?#");

    for (size_t i = 0; i < sizeof STATIC_ROUTES / sizeof STATIC_ROUTES[0]; i++) {
        const static_route_t *r = &STATIC_ROUTES[i];
        if (strlen(r->path) == n && memcmp(r->path, raw_path, n) == 0) {
            m->route = r->route;
            m->path_template = r->path;
            return finish_match(m, method, r->get);
        }
    }

    static const char DS_ACCEL[] = "/acceleration";
    size_t pl = sizeof DS_PREFIX - 1, rl = sizeof DS_REFRESH - 1, al = sizeof DS_ACCEL - 1;
    bool refresh = n > pl + rl && memcmp(raw_path + n - rl, DS_REFRESH, rl) == 0;
    bool accel = !refresh && n > pl + al && memcmp(raw_path + n - al, DS_ACCEL, al) == 0;
    if ((refresh || accel) && memcmp(raw_path, DS_PREFIX, pl) == 0) {
        const char *seg = raw_path + pl;
        size_t sl = n - pl - (refresh ? rl : al);
        if (memchr(seg, '/', sl)) return 404;   /* {name} is one segment */
        m->route = refresh ? CLOVE_HTTP_ROUTE_DATASET_REFRESH : CLOVE_HTTP_ROUTE_DATASET_ACCEL;
        m->path_template = refresh ? "/v1/datasets/{name}/acceleration/refresh"
                                   : "/v1/datasets/{name}/acceleration";
        m->name = clove_xmalloc(sl + 1);
        if (clove_http_url_decode(seg, sl, false, m->name) < 0) {
            clove_err_set(err, CLOVE_EINVAL,
                          "invalid dataset name in URL path: malformed percent-encoding "
                          "or an encoded NUL byte");
            return 400;
        }
        if (accel) {
            m->allow = "PATCH";
            return method && strcmp(method, "PATCH") == 0 ? 200 : 405;
        }
        return finish_match(m, method, false);
    }
    return 404;
}

void clove_http_match_dispose(clove_http_match_t *m)
{
    free(m->name);
    m->name = NULL;
}

/* ---- POST /v1/sql body ------------------------------------------------------------------ */

bool clove_http_utf8_valid(const char *s, size_t n, size_t *bad_at)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) { i++; continue; }
        size_t need;
        unsigned cp;
        if (c >= 0xc2 && c <= 0xdf) { need = 1; cp = c & 0x1f; }
        else if (c >= 0xe0 && c <= 0xef) { need = 2; cp = c & 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { need = 3; cp = c & 0x07; }
        else goto bad;
        if (n - i <= need) goto bad;
        for (size_t k = 1; k <= need; k++) {
            if ((p[i + k] & 0xc0) != 0x80) goto bad;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            goto bad;
        i += need + 1;
    }
    return true;
bad:
    if (bad_at) *bad_at = i;
    return false;
}

/* Does the integer literal s[0..n) (optional '-', digits) fit in int64? */
static bool int_literal_fits(const char *s, size_t n)
{
    static const char MAXV[] = "9223372036854775807";
    static const char MINV[] = "9223372036854775808";
    bool neg = n > 0 && s[0] == '-';
    if (neg) { s++; n--; }
    while (n > 1 && s[0] == '0') { s++; n--; }
    size_t ml = sizeof MAXV - 1;
    if (n < ml) return true;
    if (n > ml) return false;
    return memcmp(s, neg ? MINV : MAXV, ml) <= 0;
}

void clove_http_json_quote_bigints(const char *in, size_t n, clove_buf_t *out)
{
    size_t i = 0;
    while (i < n) {
        char c = in[i];
        if (c == '"') {
            size_t j = i + 1;
            while (j < n && in[j] != '"') j += (in[j] == '\\' && j + 1 < n) ? 2 : 1;
            if (j < n) j++;
            clove_buf_append(out, in + i, j - i);
            i = j;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i + (c == '-');
            bool integral = true;
            while (j < n && in[j] >= '0' && in[j] <= '9') j++;
            while (j < n && (in[j] == '.' || in[j] == 'e' || in[j] == 'E' || in[j] == '+' ||
                             in[j] == '-' || (in[j] >= '0' && in[j] <= '9'))) {
                integral = false;
                j++;
            }
            bool digits = j > i + (c == '-');
            if (integral && digits && !int_literal_fits(in + i, j - i)) {
                clove_buf_putc(out, '"');
                clove_buf_append(out, in + i, j - i);
                clove_buf_putc(out, '"');
            } else {
                clove_buf_append(out, in + i, j - i);
            }
            i = j;
        } else {
            size_t j = i + 1;
            while (j < n && in[j] != '"' && in[j] != '-' && !(in[j] >= '0' && in[j] <= '9')) j++;
            clove_buf_append(out, in + i, j - i);
            i = j;
        }
    }
}

static const char *json_kind_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* Converts one JSON parameter value; `what` names it in messages ("parameter $2"). */
static int json_to_param(const json_t *v, clove_param_t *p, const char *what, clove_err_t *err)
{
    switch (json_typeof(v)) {
    case JSON_NULL: p->kind = CLOVE_PARAM_NULL; return 0;
    case JSON_TRUE: p->kind = CLOVE_PARAM_BOOL; p->b = true; return 0;
    case JSON_FALSE: p->kind = CLOVE_PARAM_BOOL; p->b = false; return 0;
    case JSON_INTEGER: p->kind = CLOVE_PARAM_INT; p->i = json_integer_value(v); return 0;
    case JSON_REAL: p->kind = CLOVE_PARAM_DOUBLE; p->d = json_real_value(v); return 0;
    case JSON_STRING: p->kind = CLOVE_PARAM_STRING; p->s = json_string_value(v); return 0;
    case JSON_ARRAY:
    case JSON_OBJECT:
        break;
    }
    return clove_err_set(err, CLOVE_EINVAL,
                         "%s is %s: parameters must be strings, numbers, booleans or null",
                         what, json_kind_name(v));
}

/* Strings that were big integers come back as CLOVE_PARAM_STRING already (the digits), which
 * is what the engine expects, so no bookkeeping is needed for them. */
static int params_from_json(const json_t *jp, clove_http_sql_body_t *out, clove_err_t *err)
{
    char what[300];
    if (!jp || json_is_null(jp)) return 0;
    if (json_is_array(jp)) {
        size_t n = json_array_size(jp);
        if (n == 0) return 0;
        out->params = clove_xcalloc(n, sizeof *out->params);
        for (size_t i = 0; i < n; i++) {
            snprintf(what, sizeof what, "parameter $%zu", i + 1);
            int rc = json_to_param(json_array_get(jp, i), &out->params[i], what, err);
            if (rc) return rc;
            out->n_params++;
        }
        return 0;
    }
    if (json_is_object(jp)) {
        size_t n = json_object_size(jp);
        out->named = true;
        if (n == 0) return 0;
        out->params = clove_xcalloc(n, sizeof *out->params);
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)jp, key, val) {
            const char *name = (key[0] == ':' || key[0] == '$') ? key + 1 : key;
            if (!*name)
                return clove_err_set(err, CLOVE_EINVAL,
                                     "parameter names must not be empty in \"parameters\"");
            snprintf(what, sizeof what, "parameter \"%.200s\"", name);
            clove_param_t *p = &out->params[out->n_params];
            p->name = name;
            int rc = json_to_param(val, p, what, err);
            if (rc) return rc;
            out->n_params++;
        }
        return 0;
    }
    return clove_err_set(err, CLOVE_EINVAL,
                         "\"parameters\" is %s: expected an array (for $1, $2, ...) or an "
                         "object (for named parameters)", json_kind_name(jp));
}

/* Parses body as JSON, quoting oversized integers on a second try. Returns the root or NULL
 * with jerr filled from the first parse (positions match what the client sent). */
static json_t *load_json(const char *body, size_t len, json_error_t *jerr)
{
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, jerr);
    if (root || !strstr(jerr->text, "too big")) return root;
    clove_buf_t q;
    clove_buf_init(&q);
    clove_http_json_quote_bigints(body, len, &q);
    json_error_t e2;
    if (!q.failed && q.data) root = json_loadb(q.data, q.len, JSON_REJECT_DUPLICATES, &e2);
    clove_buf_dispose(&q);
    return root;
}

int clove_http_parse_sql_body(const char *body, size_t len, bool json_content_type,
                              clove_http_sql_body_t *out, clove_err_t *err)
{
    memset(out, 0, sizeof *out);
    size_t i = 0, bad;
    while (i < len && isspace((unsigned char)body[i])) i++;
    if (i == len)
        return clove_err_set(err, CLOVE_EINVAL,
                             "the request body is empty: send the SQL query as text, or a JSON "
                             "object {\"sql\": \"...\"} with Content-Type: application/json");
    if (memchr(body, '\0', len))
        return clove_err_set(err, CLOVE_EINVAL, "the request body contains a NUL byte");
    if (!clove_http_utf8_valid(body, len, &bad))
        return clove_err_set(err, CLOVE_EINVAL,
                             "the request body is not valid UTF-8 (bad byte at offset %zu)", bad);

    if (body[i] == '{') {
        json_error_t jerr;
        json_t *root = load_json(body, len, &jerr);
        if (!root) {
            if (!json_content_type) goto text;
            return clove_err_set(err, CLOVE_EINVAL,
                                 "invalid JSON in the request body at line %d, column %d: %s",
                                 jerr.line, jerr.column, jerr.text);
        }
        json_t *sql = json_object_get(root, "sql");
        if (!json_is_string(sql)) {
            if (!json_content_type) {
                json_decref(root);
                goto text;
            }
            if (sql)
                clove_err_set(err, CLOVE_EINVAL,
                              "\"sql\" in the JSON request body is %s: expected a string "
                              "holding the query", json_kind_name(sql));
            else
                clove_err_set(err, CLOVE_EINVAL,
                              "the JSON request body has no \"sql\" key: expected "
                              "{\"sql\": \"SELECT ...\", \"parameters\": [...]}");
            json_decref(root);
            return CLOVE_EINVAL;
        }
        out->root = root;
        out->sql = json_string_value(sql);
        const char *p = out->sql;
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p)
            return clove_err_set(err, CLOVE_EINVAL, "\"sql\" in the JSON request body is empty");
        return params_from_json(json_object_get(root, "parameters"), out, err);
    }
text:
    out->sql = body;
    return 0;
}

void clove_http_sql_body_dispose(clove_http_sql_body_t *b)
{
    free(b->params);
    if (b->root) json_decref(b->root);
    memset(b, 0, sizeof *b);
}

/* ---- small helpers for the listing routes ---------------------------------------------------- */

int clove_http_parse_bool_arg(const char *value, bool *out)
{
    if (!value || !*value || strcmp(value, "true") == 0) { *out = true; return 0; }
    if (strcmp(value, "false") == 0) { *out = false; return 0; }
    return CLOVE_EINVAL;
}

void clove_http_dataset_source(const char *from, char *out, size_t outlen)
{
    if (!outlen) return;
    const char *colon = from ? strchr(from, ':') : NULL;
    if (colon) {
        size_t n = (size_t)(colon - from);
        if (n >= outlen) n = outlen - 1;
        memcpy(out, from, n);
        out[n] = '\0';
    } else if (!from || !*from || strcmp(from, "sink") == 0) {
        snprintf(out, outlen, "sink");
    } else {
        snprintf(out, outlen, "spice.ai");
    }
}

static bool has_any(const char *hay, const char *const *needles)
{
    for (; *needles; needles++)
        if (strstr(hay, *needles)) return true;
    return false;
}

const char *clove_http_error_type(const char *message)
{
    static const char *const rate[] = {"rate limit", "too many requests", NULL};
    static const char *const timeout[] = {"timeout", "timed out", NULL};
    static const char *const notfound[] = {"not found", "does not exist", NULL};
    static const char *const perm[] = {"forbidden", "permission", "access denied", NULL};
    static const char *const auth[] = {"auth", "unauthorized", "invalid api key",
                                       "invalid_api_key", "credential", "username",
                                       "password", "token", NULL};
    static const char *const conn[] = {"connect", "connection", "network", "dns", "socket",
                                       "tls", "handshake", NULL};
    static const char *const valid[] = {"invalid", "malformed", "parse", "unsupported",
                                        "missing", "bad request", NULL};
    static const char *const internal[] = {"internal", "unexpected", "panic", NULL};
    if (!message) return "unknown";
    size_t n = strlen(message);
    char *low = clove_xmalloc(n + 1);
    for (size_t i = 0; i <= n; i++) low[i] = (char)tolower((unsigned char)message[i]);
    const char *t = "unknown";
    if (has_any(low, rate)) t = "rate_limit";
    else if (has_any(low, timeout)) t = "timeout";
    else if (has_any(low, notfound)) t = "not_found";
    else if (has_any(low, perm)) t = "permission";
    else if (has_any(low, auth)) t = "auth";
    else if (has_any(low, conn)) t = "connection";
    else if (has_any(low, valid)) t = "validation";
    else if (has_any(low, internal)) t = "internal";
    free(low);
    return t;
}

void clove_http_csv_field(clove_buf_t *b, const char *s)
{
    if (!s) return;
    if (!strpbrk(s, ",\"\r\n")) {
        clove_buf_puts(b, s);
        return;
    }
    clove_buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"') clove_buf_putc(b, '"');
        clove_buf_putc(b, *s);
    }
    clove_buf_putc(b, '"');
}
