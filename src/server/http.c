/*
 * http.c: the public HTTP API on libmicrohttpd, route for route compatible with the Spice.ai
 * runtime: /health, /v1/ready, /v1/sql, /v1/status, /v1/datasets,
 * /v1/datasets/{name}/acceleration/refresh and /v1/spicepods. One thread per connection: a
 * query runs on its connection's thread and its answer streams chunk by chunk from the engine
 * through a format writer into a chunked HTTP response, so memory stays bounded whatever the
 * result size and a slow query never holds up another client.
 */
#include "server/server.h"
#include "arrow/arrow.h"
#include "server/server_int.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "format/format.h"

#define COMP "http"

#define HTTP_CONNECTION_LIMIT 1024
#define HTTP_CONNECTION_TIMEOUT_S 300          /* idle keep-alive connections close after this */
#define HTTP_CONNECTION_MEMORY (32 * 1024)     /* MHD's per-connection header/read buffer:
                                                  MHD zeroes all of it after each request of
                                                  a keep-alive connection, so it stays small
                                                  (bodies stream through it in pieces) */
#define HTTP_LISTEN_BACKLOG 1024
#define HTTP_DEFAULT_MAX_BODY ((uint64_t)128 * 1024 * 1024)
#define HTTP_PREFETCH_BYTES (256 * 1024)      /* answers this small go out with Content-Length */
#define HTTP_STREAM_BLOCK (64 * 1024)          /* MHD's buffer for a streamed response */
#define HTTP_TEXT_MAX_ROWS 1000000              /* text/plain aligns columns, so it buffers */
#define HTTP_PROBE_TIMEOUT_MS 300
#define HTTP_STOP_GRACE_MS 1000                /* clove_http_stop waits this for answers */

#define CT_TEXT "text/plain; charset=utf-8"
#define CT_JSON "application/json"

#define MSG_SHUTTING_DOWN "Runtime is shutting down"

struct clove_http_server {
    struct MHD_Daemon *daemon;
    clove_engine_t *engine;        /* borrowed */
    char endpoint[80];             /* the bound address as /v1/status shows it */
    char *flight_addr;             /* NULL when not given */
    char *metrics_addr;            /* NULL when metrics are off */
    uint64_t max_body;             /* runtime.max_request_body */
    atomic_bool shutting_down;
    atomic_int active;             /* requests between URI log and completion */
};

/* One request, from its request line to the completion callback; touched only by the
 * connection's thread. */
typedef struct {
    clove_http_server_t *srv;
    int64_t start_ns;
    bool started;                  /* the access handler has run once for this request */
    char *raw_uri;                 /* the request target as sent (still percent-encoded) */
    clove_http_match_t match;
    const char *method_label;      /* static; see clove_http_method_label */
    unsigned status;               /* the status queued, 0 until then */
    clove_buf_t body;              /* the POST body (routes that read one) */
    uint64_t body_seen;            /* bytes received, kept or not */
    bool too_big;
    bool read_only_key;            /* authenticated with a ":ro" API key */
    unsigned early_status;         /* an answer decided from the headers alone, sent once the
                                    * body (if any) is drained so the connection stays open */
    const char *early_text;        /* static */
} http_req_t;

/* A streamed /v1/sql answer; owned by the MHD response and freed by stream_free_cb. */
typedef struct {
    clove_query_t *q;              /* NULL once the result is exhausted */
    clove_fmt_t *fmt;              /* text formats; NULL for Arrow */
    clove_ipc_writer_t *ipc;       /* Accept: application/vnd.apache.arrow.stream */
    clove_fmt_kind_t kind;
    clove_buf_t buf;               /* formatted bytes not yet handed to MHD */
    size_t off;                    /* how much of buf MHD has taken */
    bool done;                     /* the writer's trailer is in buf */
} sql_stream_t;

#define ARROW_STREAM_CT "application/vnd.apache.arrow.stream"

static _Thread_local bool t_named;

/* ---- responses --------------------------------------------------------------------------- */

static enum MHD_Result queue(struct MHD_Connection *c, http_req_t *r, unsigned status,
                             struct MHD_Response *resp, const char *ctype)
{
    if (!resp) return MHD_NO;
    if (ctype) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    if (rc == MHD_YES) r->status = status;
    return rc;
}

static enum MHD_Result respond(struct MHD_Connection *c, http_req_t *r, unsigned status,
                               const char *ctype, const char *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    return queue(c, r, status, resp, ctype);
}

static enum MHD_Result respond_text(struct MHD_Connection *c, http_req_t *r, unsigned status,
                                    const char *text)
{
    return respond(c, r, status, CT_TEXT, text, strlen(text));
}

/* Sends b's bytes (taking them) or a 500 when building them ran out of memory. */
static enum MHD_Result respond_buf(struct MHD_Connection *c, http_req_t *r, unsigned status,
                                   const char *ctype, clove_buf_t *b)
{
    if (b->failed) {
        clove_buf_dispose(b);
        return respond_text(c, r, 500, "out of memory while building the response");
    }
    size_t len = b->len;
    char *data = clove_buf_steal(b);
    struct MHD_Response *resp =
        data ? MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp) free(data);
    return queue(c, r, status, resp, ctype);
}

/* {"message": "..."} as Spice's dataset routes answer. */
static enum MHD_Result respond_message(struct MHD_Connection *c, http_req_t *r, unsigned status,
                                       const char *msg)
{
    clove_buf_t b;
    clove_buf_init(&b);
    clove_buf_puts(&b, "{\"message\":");
    clove_buf_json_string(&b, msg, strlen(msg));
    clove_buf_putc(&b, '}');
    return respond_buf(c, r, status, CT_JSON, &b);
}

/* ---- query-string arguments ---------------------------------------------------------------- */

/* Looks up a query argument; *present says whether the key appeared at all (a key without a
 * value gives present with *value NULL). */
static const char *query_arg(struct MHD_Connection *c, const char *key, bool *present)
{
    const char *v = NULL;
    size_t vl = 0;
    *present = MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, key, strlen(key), &v,
                                             &vl) == MHD_YES;
    return *present ? v : NULL;
}

/* Parses ?format=json|csv and ?status=true|false as Spice does; on a bad value answers 400
 * with serde's wording and returns false. */
static bool listing_args(struct MHD_Connection *c, http_req_t *r, bool want_status, bool *csv,
                         bool *status, enum MHD_Result *res)
{
    bool present;
    char msg[512];
    *csv = false;
    const char *f = query_arg(c, "format", &present);
    if (present) {
        if (f && strcmp(f, "csv") == 0) {
            *csv = true;
        } else if (!f || strcmp(f, "json") != 0) {
            snprintf(msg, sizeof msg,
                     "Failed to deserialize query string: format: unknown variant `%.200s`, "
                     "expected `json` or `csv`", f ? f : "");
            *res = respond_text(c, r, 400, msg);
            return false;
        }
    }
    if (want_status) {
        *status = false;
        const char *s = query_arg(c, "status", &present);
        if (present && clove_http_parse_bool_arg(s, status) != 0) {
            snprintf(msg, sizeof msg,
                     "Failed to deserialize query string: status: provided string was not "
                     "`true` or `false`");
            *res = respond_text(c, r, 400, msg);
            return false;
        }
    }
    return true;
}

/* ---- simple routes ------------------------------------------------------------------------- */

static enum MHD_Result handle_ready(struct MHD_Connection *c, http_req_t *r)
{
    if (clove_engine_ready(r->srv->engine)) return respond_text(c, r, 200, "ready");
    return respond_text(c, r, 503, "not ready");
}

/* True when something accepts TCP connections at addr (the Flight and metrics listeners). */
static bool probe_tcp(const char *addr)
{
    struct sockaddr_storage ss;
    unsigned sl = 0;
    clove_err_t err;
    if (clove_parse_listen_addr(addr, &ss, &sl, &err) != 0) return false;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    bool ok = false;
    if (connect(fd, (struct sockaddr *)&ss, sl) == 0) {
        ok = true;
    } else if (errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t el = sizeof soerr;
        if (poll(&p, 1, HTTP_PROBE_TIMEOUT_MS) == 1 &&
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el) == 0 && soerr == 0)
            ok = true;
    }
    close(fd);
    return ok;
}

typedef struct {
    const char *name;
    const char *endpoint;
    const char *status;
} component_t;

static enum MHD_Result handle_status(struct MHD_Connection *c, http_req_t *r)
{
    clove_http_server_t *s = r->srv;
    bool csv, unused;
    enum MHD_Result res;
    if (!listing_args(c, r, false, &csv, &unused, &res)) return res;

    component_t comps[4] = {
        {"http", s->endpoint, "Ready"},
        {"flight", s->flight_addr ? s->flight_addr : "N/A",
         s->flight_addr ? (probe_tcp(s->flight_addr) ? "Ready" : "Error") : "Disabled"},
        {"metrics", s->metrics_addr ? s->metrics_addr : "N/A",
         s->metrics_addr ? (probe_tcp(s->metrics_addr) ? "Ready" : "Error") : "Disabled"},
        {"opentelemetry", "N/A", "Disabled"},
    };
    clove_buf_t b;
    clove_buf_init(&b);
    if (csv) {
        clove_buf_puts(&b, "name,endpoint,status\n");
        for (size_t i = 0; i < 4; i++) {
            clove_http_csv_field(&b, comps[i].name);
            clove_buf_putc(&b, ',');
            clove_http_csv_field(&b, comps[i].endpoint);
            clove_buf_putc(&b, ',');
            clove_http_csv_field(&b, comps[i].status);
            clove_buf_putc(&b, '\n');
        }
        return respond_buf(c, r, 200, CT_TEXT, &b);
    }
    clove_buf_putc(&b, '[');
    for (size_t i = 0; i < 4; i++) {
        if (i) clove_buf_putc(&b, ',');
        clove_buf_puts(&b, "{\"name\":");
        clove_buf_json_string(&b, comps[i].name, strlen(comps[i].name));
        clove_buf_puts(&b, ",\"endpoint\":");
        clove_buf_json_string(&b, comps[i].endpoint, strlen(comps[i].endpoint));
        clove_buf_puts(&b, ",\"status\":");
        clove_buf_json_string(&b, comps[i].status, strlen(comps[i].status));
        clove_buf_putc(&b, '}');
    }
    clove_buf_putc(&b, ']');
    return respond_buf(c, r, 200, CT_JSON, &b);
}

/* Spice's ComponentStatus names. */
static const char *ds_status_name(clove_ds_state_t st)
{
    switch (st) {
    case CLOVE_DS_INITIALIZING: return "Initializing";
    case CLOVE_DS_READY: return "Ready";
    case CLOVE_DS_REFRESHING: return "Refreshing";
    case CLOVE_DS_ERROR: return "Error";
    case CLOVE_DS_SHUTDOWN: return "ShuttingDown";
    }
    return "Error";
}

static void json_str_or_null(clove_buf_t *b, const char *s)
{
    if (s) clove_buf_json_string(b, s, strlen(s));
    else clove_buf_puts(b, "null");
}

static enum MHD_Result handle_datasets(struct MHD_Connection *c, http_req_t *r)
{
    bool csv, with_status, present;
    enum MHD_Result res;
    if (!listing_args(c, r, true, &csv, &with_status, &res)) return res;
    const char *source = query_arg(c, "source", &present);
    if (present && !source) source = "";

    clove_dataset_info_t *infos = NULL;
    size_t n = clove_engine_datasets(r->srv->engine, &infos);
    clove_buf_t b;
    clove_buf_init(&b);
    if (csv)
        clove_buf_puts(&b, with_status
                               ? "from,name,replication_enabled,acceleration_enabled,status,"
                                 "error,error_message\n"
                               : "from,name,replication_enabled,acceleration_enabled,"
                                 "error_message\n");
    else
        clove_buf_putc(&b, '[');
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        const clove_dataset_info_t *d = &infos[i];
        const char *from = d->from ? d->from : "";
        if (source) {
            char src[256];
            clove_http_dataset_source(from, src, sizeof src);
            if (strcmp(src, source) != 0) continue;
        }
        bool is_err = with_status && d->state == CLOVE_DS_ERROR;
        const char *emsg = is_err ? d->error : NULL;
        char code[64] = "";
        if (is_err) snprintf(code, sizeof code, "dataset.%s", clove_http_error_type(emsg));
        if (csv) {
            clove_http_csv_field(&b, from);
            clove_buf_putc(&b, ',');
            clove_http_csv_field(&b, d->name);
            clove_buf_printf(&b, ",false,%s", d->accelerated ? "true" : "false");
            if (with_status) {
                clove_buf_printf(&b, ",%s,%s", ds_status_name(d->state), code);
            }
            clove_buf_putc(&b, ',');
            clove_http_csv_field(&b, emsg ? emsg : "");
            clove_buf_putc(&b, '\n');
            continue;
        }
        if (!first) clove_buf_putc(&b, ',');
        first = false;
        clove_buf_puts(&b, "{\"from\":");
        clove_buf_json_string(&b, from, strlen(from));
        clove_buf_puts(&b, ",\"name\":");
        json_str_or_null(&b, d->name);
        clove_buf_printf(&b, ",\"replication_enabled\":false,\"acceleration_enabled\":%s",
                         d->accelerated ? "true" : "false");
        if (with_status) {
            clove_buf_printf(&b, ",\"status\":\"%s\",\"error\":", ds_status_name(d->state));
            if (is_err)
                clove_buf_printf(&b, "{\"category\":\"dataset\",\"type\":\"%s\",\"code\":\"%s\"}",
                                 code + 8, code);
            else
                clove_buf_puts(&b, "null");
        }
        clove_buf_puts(&b, ",\"error_message\":");
        json_str_or_null(&b, emsg);
        clove_buf_putc(&b, '}');
    }
    if (!csv) clove_buf_putc(&b, ']');
    clove_dataset_infos_free(infos, n);
    return respond_buf(c, r, 200, csv ? CT_TEXT : CT_JSON, &b);
}

static enum MHD_Result handle_refresh(struct MHD_Connection *c, http_req_t *r)
{
    const char *name = r->match.name;
    char msg[1200];
    clove_err_t err;
    clove_err_clear(&err);
    if (r->read_only_key)
        return respond_message(c, r, 403,
                               "This API key is read-only: triggering a refresh needs a "
                               "read-write key");
    /* optional JSON body: {"refresh_sql": "...", "refresh_mode": "full" | "append"} */
    clove_refresh_opts_t opts = {0};
    json_t *root = NULL;
    if (r->body.len > 0) {
        json_error_t jerr;
        root = json_loadb(r->body.data, r->body.len, 0, &jerr);
        if (!root || !json_is_object(root)) {
            json_decref(root);
            snprintf(msg, sizeof msg, "the request body must be a JSON object like "
                     "{\"refresh_sql\": \"...\", \"refresh_mode\": \"full\"}%s%s",
                     root ? "" : ": ", root ? "" : jerr.text);
            return respond_message(c, r, 400, msg);
        }
        json_t *v = json_object_get(root, "refresh_sql");
        if (v && !json_is_null(v) && !json_is_string(v)) {
            json_decref(root);
            return respond_message(c, r, 400, "refresh_sql must be a string");
        }
        opts.refresh_sql = v && json_is_string(v) ? json_string_value(v) : NULL;
        v = json_object_get(root, "refresh_mode");
        if (v && !json_is_null(v) && !json_is_string(v)) {
            json_decref(root);
            return respond_message(c, r, 400, "refresh_mode must be a string");
        }
        opts.refresh_mode = v && json_is_string(v) ? json_string_value(v) : NULL;
    }
    int rc = clove_engine_refresh(r->srv->engine, name, &opts, &err);
    json_decref(root);
    switch (rc) {
    case 0:
        clove_info(COMP, "refresh of dataset \"%s\" triggered over HTTP", name);
        snprintf(msg, sizeof msg, "Dataset refresh triggered for %s.", name);
        return respond_message(c, r, 201, msg);
    case CLOVE_ENOTFOUND:
        snprintf(msg, sizeof msg, "Dataset %s not found", name);
        return respond_message(c, r, 404, msg);
    case CLOVE_EINVAL:
        if (strstr(err.message, "does not have acceleration enabled"))
            snprintf(msg, sizeof msg, "Dataset %s does not have acceleration enabled", name);
        else
            snprintf(msg, sizeof msg, "%s", err.message);
        return respond_message(c, r, 400, msg);
    case CLOVE_ESHUTDOWN:
        return respond_text(c, r, 503, MSG_SHUTTING_DOWN);
    default:
        clove_warn(COMP, "could not trigger a refresh of dataset \"%s\": %s", name, err.message);
        return respond_message(c, r, 500, err.message[0] ? err.message : clove_strerror(rc));
    }
}

/* PATCH /v1/datasets/{name}/acceleration {"refresh_sql": "..." | null}: until restart. */
static enum MHD_Result handle_accel_patch(struct MHD_Connection *c, http_req_t *r)
{
    const char *name = r->match.name;
    char msg[1200];
    if (r->read_only_key)
        return respond_message(c, r, 403,
                               "This API key is read-only: changing a dataset needs a "
                               "read-write key");
    json_error_t jerr;
    json_t *root = r->body.len ? json_loadb(r->body.data, r->body.len, 0, &jerr) : NULL;
    json_t *v = root && json_is_object(root) ? json_object_get(root, "refresh_sql") : NULL;
    if (!root || !json_is_object(root) || !v || !(json_is_string(v) || json_is_null(v))) {
        json_decref(root);
        return respond_message(c, r, 400,
                               "the request body must be a JSON object like "
                               "{\"refresh_sql\": \"SELECT * FROM name WHERE ...\"} "
                               "(null restores the configured refresh_sql)");
    }
    clove_err_t err;
    clove_err_clear(&err);
    int rc = clove_engine_set_refresh_sql(r->srv->engine, name,
                                          json_is_string(v) ? json_string_value(v) : NULL, &err);
    json_decref(root);
    switch (rc) {
    case 0:
        snprintf(msg, sizeof msg, "Dataset %s updated.", name);
        return respond_message(c, r, 200, msg);
    case CLOVE_ENOTFOUND:
        snprintf(msg, sizeof msg, "Dataset %s not found", name);
        return respond_message(c, r, 404, msg);
    case CLOVE_ESHUTDOWN:
        return respond_text(c, r, 503, MSG_SHUTTING_DOWN);
    default:
        return respond_message(c, r, 400, err.message[0] ? err.message : clove_strerror(rc));
    }
}

static enum MHD_Result handle_spicepods(struct MHD_Connection *c, http_req_t *r)
{
    bool csv, unused;
    enum MHD_Result res;
    if (!listing_args(c, r, false, &csv, &unused, &res)) return res;
    const clove_config_t *cfg = clove_engine_config(r->srv->engine);
    clove_buf_t b;
    clove_buf_init(&b);
    if (csv) {
        clove_buf_puts(&b, "name,version,datasets_count,models_count,dependencies_count\n");
        if (cfg) {
            clove_http_csv_field(&b, cfg->name ? cfg->name : "");
            clove_buf_putc(&b, ',');
            clove_http_csv_field(&b, cfg->version ? cfg->version : "");
            clove_buf_printf(&b, ",%zu,0,0\n", cfg->n_datasets);
        }
        return respond_buf(c, r, 200, CT_TEXT, &b);
    }
    clove_buf_putc(&b, '[');
    if (cfg && cfg->redacted_json) clove_buf_puts(&b, cfg->redacted_json);
    clove_buf_putc(&b, ']');
    return respond_buf(c, r, 200, CT_JSON, &b);
}

/* ---- POST /v1/sql ------------------------------------------------------------------------- */

static void stream_destroy(sql_stream_t *st)
{
    if (!st) return;
    if (st->q) clove_query_end(st->q);
    if (st->fmt) clove_fmt_destroy(st->fmt);
    if (st->ipc) clove_ipc_writer_destroy(st->ipc);
    clove_buf_dispose(&st->buf);
    free(st);
}

/* Pulls one chunk from the query into st->buf. Returns 1 (more may follow), 0 (the result is
 * complete: the trailer is written and the query ended) or a negative code with err set. */
static int stream_step(sql_stream_t *st, clove_err_t *err)
{
    duckdb_data_chunk chunk = NULL;
    int rc = clove_query_next(st->q, &chunk, err);
    if (rc < 0) return rc;
    if (rc == 0) {
        if (st->ipc) clove_ipc_write_eos(&st->buf);
        else clove_fmt_end(st->fmt, &st->buf, clove_query_elapsed_ms(st->q));
        clove_query_end(st->q);      /* give the connection back before the last bytes go */
        st->q = NULL;
        st->done = true;
    } else {
        if (st->ipc) {
            rc = clove_ipc_writer_batch(st->ipc, chunk, &st->buf, err);
            duckdb_destroy_data_chunk(&chunk);
            if (rc < 0) return rc;
        } else {
            rc = clove_fmt_chunk(st->fmt, chunk, &st->buf);
            duckdb_destroy_data_chunk(&chunk);
        }
        if (rc < 0)
            return clove_err_set(err, rc, "could not format the query result: %s",
                                 clove_strerror(rc));
        if (st->kind == CLOVE_FMT_TEXT && clove_fmt_rows(st->fmt) > HTTP_TEXT_MAX_ROWS)
            return clove_err_set(err, CLOVE_EQUERY,
                                 "the result has more than %d rows, more than a text/plain "
                                 "answer can hold: ask for application/json or text/csv, or "
                                 "add a LIMIT", HTTP_TEXT_MAX_ROWS);
    }
    if (st->buf.failed)
        return clove_err_set(err, CLOVE_ENOMEM, "out of memory while formatting the result");
    return st->done ? 0 : 1;
}

/* The status of a failed query. Spice answers every query error with 400, and the sandbox's
 * refusals (CLOVE_EPERM, 403 in the errno table) are query errors here too. */
static unsigned query_error_status(int code)
{
    if (code == CLOVE_EPERM) return 400;
    return (unsigned)clove_err_http_status(code ? code : CLOVE_EINTERNAL);
}

/* MHD asks for the next bytes of a streamed answer (on the connection's thread). Never
 * returns 0: with an internal polling thread that would spin. */
static ssize_t stream_reader_cb(void *cls, uint64_t pos, char *out, size_t max)
{
    sql_stream_t *st = cls;
    while (st->off >= st->buf.len) {
        if (st->done) return MHD_CONTENT_READER_END_OF_STREAM;
        clove_buf_reset(&st->buf);
        st->off = 0;
        clove_err_t err;
        clove_err_clear(&err);
        int rc = stream_step(st, &err);
        if (rc < 0) {
            if (rc == CLOVE_ECANCELED)
                clove_debug(COMP, "client left while its answer was streaming: %s", err.message);
            else
                clove_warn(COMP, "query failed after its answer started; closing the "
                                 "connection: %s", err.message);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = st->buf.len - st->off;
    if (n > max) n = max;
    memcpy(out, st->buf.data + st->off, n);
    st->off += n;
    return (ssize_t)n;
}

/* The response is gone (sent, or the client left): end the query if it still runs. */
static void stream_free_cb(void *cls)
{
    stream_destroy(cls);
}

static int client_fd(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? (int)ci->connect_fd : -1;
}

static bool header_is_json(const char *ctype)
{
    if (!ctype) return false;
    while (*ctype == ' ' || *ctype == '\t') ctype++;
    return strncasecmp(ctype, "application/json", 16) == 0 &&
           (ctype[16] == '\0' || ctype[16] == ';' || ctype[16] == ' ');
}

static enum MHD_Result handle_sql(struct MHD_Connection *c, http_req_t *r)
{
    clove_http_sql_body_t sb;
    clove_err_t err;
    clove_err_clear(&err);
    enum MHD_Result res;
    sql_stream_t *st = NULL;
    const char **names = NULL;
    duckdb_logical_type *types = NULL;

    if (r->body.failed) {
        clove_buf_dispose(&r->body);
        return respond_text(c, r, 500, "out of memory while reading the request body");
    }
    const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_CONTENT_TYPE);
    const char *body = r->body.data ? r->body.data : "";
    if (clove_http_parse_sql_body(body, r->body.len, header_is_json(ctype), &sb, &err) != 0) {
        res = respond_text(c, r, 400, err.message);
        goto out;
    }
    clove_debug(COMP, "POST /v1/sql (%zu parameters): %.2000s", sb.n_params, sb.sql);

    clove_query_req_t qr = {
        .sql = sb.sql,
        .params = sb.params,
        .n_params = sb.n_params,
        .client_fd = client_fd(c),
        .timeout_ms = 0,
    };
    clove_query_t *q = clove_engine_query(r->srv->engine, &qr, &err);
    if (!q) {
        unsigned status = query_error_status(err.code);
        if (status >= 500) clove_warn(COMP, "query refused: %s", err.message);
        res = respond_text(c, r, status, err.message[0] ? err.message : clove_strerror(err.code));
        goto out;
    }

    const char *ct = NULL;
    clove_fmt_kind_t kind = clove_fmt_from_accept(
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT), &ct);
    idx_t ncols = clove_query_column_count(q);
    names = calloc(ncols ? ncols : 1, sizeof *names);
    types = calloc(ncols ? ncols : 1, sizeof *types);
    st = calloc(1, sizeof *st);
    if (!names || !types || !st) {
        clove_query_end(q);
        res = respond_text(c, r, 500, "out of memory while starting the answer");
        goto out;
    }
    st->q = q;
    st->kind = kind;
    clove_buf_init(&st->buf);
    for (idx_t i = 0; i < ncols; i++) {
        names[i] = clove_query_column_name(q, i);
        types[i] = clove_query_column_type(q, i);
    }
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    if (accept && strstr(accept, ARROW_STREAM_CT)) {
        /* the Arrow IPC stream: the same bytes a Flight DoGet carries */
        st->ipc = clove_ipc_writer_create_opts(clove_query_arrow_options(q), ncols, names, types,
                                               &err);
        if (!st->ipc || clove_ipc_writer_schema(st->ipc, &st->buf, &err) != 0) {
            res = respond_text(c, r, 500, err.message[0] ? err.message
                                                         : "could not start the Arrow stream");
            goto out;
        }
        ct = ARROW_STREAM_CT;
    } else {
        st->fmt = clove_fmt_create(kind, ncols, names, types);
        if (!st->fmt) {
            res = respond_text(c, r, 500, "out of memory while starting the answer");
            goto out;
        }
        clove_fmt_begin(st->fmt, &st->buf);
    }

    /* Read ahead before answering: an error while executing still gets its 4xx, and a small
     * answer goes out whole with a Content-Length. */
    for (;;) {
        int rc = stream_step(st, &err);
        if (rc < 0) {
            unsigned status = query_error_status(err.code);
            if (status >= 500) clove_warn(COMP, "query failed: %s", err.message);
            res = respond_text(c, r, status, err.message);
            goto out;
        }
        if (rc == 0) {
            res = respond_buf(c, r, 200, ct, &st->buf);
            goto out;
        }
        if (st->buf.len >= HTTP_PREFETCH_BYTES) break;
    }

    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, stream_reader_cb, st, stream_free_cb);
    if (!resp) {
        res = respond_text(c, r, 500, "could not create the streaming response");
        goto out;
    }
    st = NULL;                       /* the response owns it now */
    res = queue(c, r, 200, resp, ct);

out:
    stream_destroy(st);
    free(names);
    free(types);
    clove_http_sql_body_dispose(&sb);
    clove_buf_dispose(&r->body);
    return res;
}

/* ---- request lifecycle ------------------------------------------------------------------- */

/* True when the request carries a configured API key (X-API-Key, or Authorization: Bearer).
 * Every key is compared, in constant time, whichever matches. */
static bool authenticate(const clove_config_t *cfg, struct MHD_Connection *c, bool *read_only)
{
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
    if (!key || !*key) {
        const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_AUTHORIZATION);
        key = NULL;
        if (a && strncasecmp(a, "Bearer ", 7) == 0) {
            key = a + 7;
            while (*key == ' ') key++;
        }
    }
    if (!key || !*key) return false;
    size_t kl = strlen(key);
    bool ok = false;
    for (size_t i = 0; i < cfg->runtime.n_api_keys; i++) {
        const clove_api_key_t *k = &cfg->runtime.api_keys[i];
        if (!k->key || !*k->key) continue;
        if (clove_consttime_eq(k->key, strlen(k->key), key, kl) && !ok) {
            ok = true;
            *read_only = k->read_only;
        }
    }
    return ok;
}

/* Looks at the request line and headers. Decides the answers that need no body (404, 405,
 * 503 while shutting down, 401) without sending them yet: MHD would close a keep-alive
 * connection answered before its request is read. Only 413 goes out at once. */
static enum MHD_Result begin_request(clove_http_server_t *s, struct MHD_Connection *c,
                                     http_req_t *r, const char *method)
{
    clove_err_t err;
    clove_err_clear(&err);
    r->method_label = clove_http_method_label(method);
    int m = clove_http_route_match(method, r->raw_uri, &r->match, &err);
    if (m == 404) {
        r->early_status = 404;
        r->early_text = "";
    } else if (r->match.route != CLOVE_HTTP_ROUTE_HEALTH && atomic_load(&s->shutting_down)) {
        r->early_status = 503;
        r->early_text = MSG_SHUTTING_DOWN;
    } else if (m == 400) {
        r->early_status = 400;
        r->early_text = "invalid dataset name in URL path: malformed percent-encoding or an "
                        "encoded NUL byte";
    } else if (m == 405) {
        r->early_status = 405;
        r->early_text = "";
    } else if (r->match.route != CLOVE_HTTP_ROUTE_HEALTH &&
               r->match.route != CLOVE_HTTP_ROUTE_READY) {
        const clove_config_t *cfg = clove_engine_config(s->engine);
        if (cfg && cfg->runtime.auth_enabled && !authenticate(cfg, c, &r->read_only_key)) {
            r->early_status = 401;
            r->early_text = "Unauthorized";
        }
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        errno = 0;
        unsigned long long v = strtoull(cl, NULL, 10);
        if (errno == ERANGE || v > s->max_body) {
            r->too_big = true;
            char msg[256];
            snprintf(msg, sizeof msg,
                     "the request body is larger than the limit of %llu bytes "
                     "(runtime.max_request_body)", (unsigned long long)s->max_body);
            return respond_text(c, r, 413, msg);
        }
    }
    return MHD_YES;
}

/* Takes one piece of the request body. Keeps it for routes that read a body, counts it
 * against runtime.max_request_body, and gives up on the connection when a client keeps
 * sending far past the limit. */
static enum MHD_Result receive_body(clove_http_server_t *s, http_req_t *r, const char *data,
                                    size_t n)
{
    r->body_seen += n;
    if (r->body_seen > s->max_body) {
        if (!r->too_big) {
            r->too_big = true;
            clove_buf_dispose(&r->body);
        }
        if (r->body_seen - s->max_body > s->max_body) return MHD_NO;
        return MHD_YES;
    }
    if ((r->match.route == CLOVE_HTTP_ROUTE_SQL ||
         r->match.route == CLOVE_HTTP_ROUTE_DATASET_REFRESH ||
         r->match.route == CLOVE_HTTP_ROUTE_DATASET_ACCEL) && !r->early_status)
        clove_buf_append(&r->body, data, n);
    return MHD_YES;
}

static enum MHD_Result dispatch(struct MHD_Connection *c, http_req_t *r)
{
    if (r->too_big) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "the request body is larger than the limit of %llu bytes "
                 "(runtime.max_request_body)", (unsigned long long)r->srv->max_body);
        return respond_text(c, r, 413, msg);
    }
    if (r->early_status == 405) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL,
                                                                    MHD_RESPMEM_PERSISTENT);
        if (resp) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->match.allow);
        return queue(c, r, 405, resp, NULL);
    }
    if (r->early_status == 404) return respond(c, r, 404, NULL, "", 0);
    if (r->early_status) return respond_text(c, r, r->early_status, r->early_text);
    switch (r->match.route) {
    case CLOVE_HTTP_ROUTE_HEALTH: return respond_text(c, r, 200, "ok\n");
    case CLOVE_HTTP_ROUTE_READY: return handle_ready(c, r);
    case CLOVE_HTTP_ROUTE_SQL: return handle_sql(c, r);
    case CLOVE_HTTP_ROUTE_STATUS: return handle_status(c, r);
    case CLOVE_HTTP_ROUTE_DATASETS: return handle_datasets(c, r);
    case CLOVE_HTTP_ROUTE_DATASET_REFRESH: return handle_refresh(c, r);
    case CLOVE_HTTP_ROUTE_DATASET_ACCEL: return handle_accel_patch(c, r);
    case CLOVE_HTTP_ROUTE_SPICEPODS: return handle_spicepods(c, r);
    case CLOVE_HTTP_ROUTE_NONE: break;
    }
    return respond(c, r, 404, NULL, "", 0);
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    clove_http_server_t *s = cls;
    http_req_t *r = *con_cls;
    if (!r) return MHD_NO;            /* the URI log callback always sets it */
    if (!r->started) {
        r->started = true;
        return begin_request(s, c, r, method);
    }
    if (*upload_data_size) {
        enum MHD_Result rc = receive_body(s, r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return rc;
    }
    return dispatch(c, r);
}

/* Runs on the connection's thread when the request line is in: the request's state starts
 * here, before any header is parsed, so the completion callback always has one to free. */
static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *c)
{
    clove_http_server_t *s = cls;
    if (!t_named) {
        clove_thread_name("clove-http");
        t_named = true;
    }
    http_req_t *r = clove_xcalloc(1, sizeof *r);
    r->srv = s;
    r->start_ns = clove_mono_ns();
    r->raw_uri = clove_xstrdup(uri ? uri : "");
    clove_buf_init(&r->body);
    atomic_fetch_add(&s->active, 1);
    return r;
}

static void completed_cb(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    clove_http_server_t *s = cls;
    http_req_t *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    if (r->match.path_template && r->status) {
        char labels[256];
        double ms = (double)(clove_mono_ns() - r->start_ns) / 1e6;
        snprintf(labels, sizeof labels, "method=\"%s\",path=\"%s\",status=\"%u\"",
                 r->method_label, r->match.path_template, r->status);
        clove_metric_counter_add("http_requests", "Number of HTTP requests.", labels, 1);
        clove_metric_histogram_observe("http_requests_duration_ms",
                                       "Duration of HTTP requests in milliseconds.", labels, ms);
    }
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && toe != MHD_REQUEST_TERMINATED_CLIENT_ABORT)
        clove_debug(COMP, "request %s ended early (code %d)", r->raw_uri, (int)toe);
    clove_http_match_dispose(&r->match);
    clove_buf_dispose(&r->body);
    free(r->raw_uri);
    free(r);
    atomic_fetch_sub(&s->active, 1);
}

/* libmicrohttpd's own messages: mostly client misbehaviour, so debug level. The last one is
 * kept per thread so a failed start can say why. */
static _Thread_local char t_last_mhd_msg[256];

__attribute__((format(printf, 2, 0)))
static void mhd_log_cb(void *cls, const char *fmt, va_list ap)
{
    const char *comp = cls ? cls : COMP;
    vsnprintf(t_last_mhd_msg, sizeof t_last_mhd_msg, fmt, ap);
    size_t n = strlen(t_last_mhd_msg);
    while (n && (t_last_mhd_msg[n - 1] == '\n' || t_last_mhd_msg[n - 1] == '\r'))
        t_last_mhd_msg[--n] = '\0';
    clove_debug(comp, "libmicrohttpd: %s", t_last_mhd_msg);
}

/* ---- start and stop ---------------------------------------------------------------------- */

struct MHD_Daemon *clove_http_start_daemon(const char *addr, const char *what, unsigned flags,
                                           MHD_AccessHandlerCallback handler, void *cls,
                                           const struct MHD_OptionItem *extra,
                                           const clove_tls_cert_t *tls, char *bound,
                                           size_t boundlen, clove_err_t *err)
{
    struct sockaddr_storage ss;
    unsigned sl = 0;
    if (clove_parse_listen_addr(addr, &ss, &sl, err) != 0) return NULL;
    flags |= MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_DUAL_STACK;
    uint16_t port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        clove_err_set(err, CLOVE_EUNSUPPORTED, "cannot serve the %s endpoint over TLS: this "
                      "libmicrohttpd was built without TLS support", what);
        return NULL;
    }
    /* the certificate and key go in as options only when TLS is on (an empty array item
     * list otherwise) */
    const struct MHD_OptionItem tls_opts[] = {
        {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, tls ? tls->cert_pem : NULL},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, tls ? tls->key_pem : NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    if (tls) flags |= MHD_USE_TLS;
    t_last_mhd_msg[0] = '\0';
    errno = 0;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, port, NULL, NULL, handler, cls,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log_cb, (void *)what,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)HTTP_LISTEN_BACKLOG,
        MHD_OPTION_ARRAY, tls_opts,
        MHD_OPTION_ARRAY, extra,
        MHD_OPTION_END);
    if (!d) {
        int e = errno;
        clove_err_set(err, CLOVE_EIO, "could not listen on %s for the %s endpoint: %s", addr, what,
                      t_last_mhd_msg[0] ? t_last_mhd_msg
                                        : (e ? strerror(e) : "libmicrohttpd refused to start"));
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (di && di->port) {
        if (ss.ss_family == AF_INET6) ((struct sockaddr_in6 *)&ss)->sin6_port = htons(di->port);
        else ((struct sockaddr_in *)&ss)->sin_port = htons(di->port);
    }
    clove_http_format_sockaddr(&ss, bound, boundlen);
    return d;
}

clove_http_server_t *clove_http_start(const clove_http_opts_t *opts, clove_err_t *err)
{
    if (!opts || !opts->engine) {
        clove_err_set(err, CLOVE_EINVAL, "cannot start the HTTP API without an engine");
        return NULL;
    }
    clove_http_server_t *s = clove_xcalloc(1, sizeof *s);
    s->engine = opts->engine;
    s->flight_addr = opts->flight_addr ? clove_xstrdup(opts->flight_addr) : NULL;
    s->metrics_addr = opts->metrics_addr ? clove_xstrdup(opts->metrics_addr) : NULL;
    const clove_config_t *cfg = clove_engine_config(opts->engine);
    s->max_body = cfg && cfg->runtime.max_request_body ? cfg->runtime.max_request_body
                                                       : HTTP_DEFAULT_MAX_BODY;
    atomic_init(&s->shutting_down, false);
    atomic_init(&s->active, 0);

    const struct MHD_OptionItem extra[] = {
        {MHD_OPTION_CONNECTION_LIMIT, HTTP_CONNECTION_LIMIT, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, HTTP_CONNECTION_TIMEOUT_S, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONNECTION_MEMORY, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed_cb, s},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)uri_log_cb, s},
        {MHD_OPTION_END, 0, NULL},
    };
    s->daemon = clove_http_start_daemon(opts->addr ? opts->addr : "127.0.0.1:8090", COMP,
                                        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO, access_cb,
                                        s, extra, opts->tls, s->endpoint, sizeof s->endpoint, err);
    if (!s->daemon) {
        free(s->flight_addr);
        free(s->metrics_addr);
        free(s);
        return NULL;
    }
    clove_debug(COMP, "HTTP API bound to %s", s->endpoint);
    return s;
}

void clove_http_begin_shutdown(clove_http_server_t *s)
{
    if (s) atomic_store(&s->shutting_down, true);
}

int clove_http_active(clove_http_server_t *s)
{
    return s ? atomic_load(&s->active) : 0;
}

void clove_http_stop(clove_http_server_t *s)
{
    if (!s) return;
    atomic_store(&s->shutting_down, true);
    /* Queries interrupted by the engine's drain are answering right now: give those answers
     * a moment to go out before the sockets close under them. */
    int64_t until = clove_mono_ns() + (int64_t)HTTP_STOP_GRACE_MS * 1000000;
    while (atomic_load(&s->active) > 0 && clove_mono_ns() < until) {
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(s->daemon);
    free(s->flight_addr);
    free(s->metrics_addr);
    free(s);
}
