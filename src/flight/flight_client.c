/*
 * The Flight client: one gRPC channel and one pluck completion queue per client, each call
 * driven as straight-line code (send the request and half-close, read messages until the
 * server ends the stream, read the status). Waiting is done in 100 ms slices so an interrupt
 * flag raised by a signal handler cancels the call in flight. The FlightData of a DoGet is
 * handed message by message to an Arrow IPC reader, whose chunks go to the caller's
 * callback as soon as they are decoded, so memory stays bounded by one message.
 */
#include "flight/flight_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>
#include <openssl/evp.h>

#include "Flight.pb-c.h"
#include "FlightSql.pb-c.h"
#include "arrow/arrow.h"
#include "common/tls.h"
#include "flight/flight.h"
#include "google/protobuf/any.pb-c.h"

#define METHOD_PREFIX        "/arrow.flight.protocol.FlightService/"
#define TYPE_STATEMENT_QUERY "type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"
#define DEFAULT_PORT         "50051"
#define POLL_MS              100
#ifndef CLOVE_VERSION
#define CLOVE_VERSION "0.1.0-dev"
#endif

struct clove_flight_client {
    grpc_channel *channel;
    grpc_completion_queue *cq; /* pluck queue shared by this client's (sequential) calls */
    char *endpoint;            /* as given, for messages */
    char *authorization;       /* "Bearer <token>" from the Handshake, or NULL */
    char *api_key;             /* sent as x-api-key when the Handshake gave no token */
    const volatile sig_atomic_t *interrupted;
    int64_t connect_timeout_ms;
    duckdb_connection conn; /* borrowed from the options, or own_conn */
    duckdb_database own_db;
    duckdb_connection own_conn;
    int last_status;
};

/* One call from creation to its status. */
typedef struct {
    clove_flight_client_t *c;
    grpc_call *call;
    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    grpc_status_code status;
    grpc_slice details;
    bool got_initial_md; /* the server sent its headers */
    bool canceled;       /* by the interrupt flag */
    bool failed_locally; /* a message handler stopped the call */
} rpc_t;

/* Handles one message of a call; returns 0 or a negative CLOVE_E* (err filled). */
typedef int (*message_fn)(void *ud, const uint8_t *data, size_t len, clove_err_t *err);

static const char *const status_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *clove_flight_status_name(int code)
{
    if (code < 0 || (size_t)code >= sizeof(status_names) / sizeof(status_names[0]))
        return "UNKNOWN";
    return status_names[code];
}

/* The clove error code for a status the server sent. */
static int code_from_status(grpc_status_code s)
{
    switch (s) {
    case GRPC_STATUS_CANCELLED:
        return CLOVE_ECANCELED;
    case GRPC_STATUS_INVALID_ARGUMENT:
        return CLOVE_EQUERY;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        return CLOVE_ETIMEDOUT;
    case GRPC_STATUS_NOT_FOUND:
        return CLOVE_ENOTFOUND;
    case GRPC_STATUS_PERMISSION_DENIED:
        return CLOVE_EPERM;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        return CLOVE_EBUSY;
    case GRPC_STATUS_UNIMPLEMENTED:
        return CLOVE_EUNSUPPORTED;
    case GRPC_STATUS_UNAVAILABLE:
        return CLOVE_ENOTREADY;
    case GRPC_STATUS_UNAUTHENTICATED:
        return CLOVE_EAUTH;
    case GRPC_STATUS_FAILED_PRECONDITION:
    case GRPC_STATUS_OUT_OF_RANGE:
    case GRPC_STATUS_ALREADY_EXISTS:
        return CLOVE_EINVAL;
    default:
        return CLOVE_EINTERNAL;
    }
}

/* ---- endpoint and credentials -------------------------------------------------------- */

int clove_flight_parse_endpoint(const char *endpoint, char **target, bool *tls, clove_err_t *err)
{
    static const struct {
        const char *scheme;
        bool tls;
    } schemes[] = {{"grpc://", false}, {"grpc+tcp://", false}, {"grpc+tls://", true}};
    const char *rest = NULL;
    bool is_tls = false;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t n = strlen(schemes[i].scheme);
        if (strncasecmp(endpoint, schemes[i].scheme, n) == 0) {
            rest = endpoint + n;
            is_tls = schemes[i].tls;
            break;
        }
    }
    if (!rest)
        return clove_err_set(err, CLOVE_EINVAL,
                             "invalid Flight endpoint \"%.200s\": expected grpc://HOST:PORT or "
                             "grpc+tls://HOST:PORT",
                             endpoint);
    size_t len = strlen(rest);
    while (len > 0 && rest[len - 1] == '/')
        len--;
    if (len == 0 || memchr(rest, '/', len) || memchr(rest, '@', len) || memchr(rest, '?', len))
        return clove_err_set(err, CLOVE_EINVAL,
                             "invalid Flight endpoint \"%.200s\": expected grpc://HOST:PORT or "
                             "grpc+tls://HOST:PORT",
                             endpoint);
    /* a port is there when the last ':' comes after any IPv6 bracket */
    const char *colon = NULL, *bracket = NULL;
    for (size_t i = 0; i < len; i++) {
        if (rest[i] == ':') colon = rest + i;
        if (rest[i] == ']') bracket = rest + i;
    }
    bool has_port = colon && (!bracket || colon > bracket);
    if (has_port) {
        const char *p = colon + 1;
        size_t plen = len - (size_t)(p - rest);
        long port = 0;
        for (size_t i = 0; i < plen; i++) {
            if (p[i] < '0' || p[i] > '9' || port > 65535) {
                port = -1;
                break;
            }
            port = port * 10 + (p[i] - '0');
        }
        if (plen == 0 || port <= 0 || port > 65535 || colon == rest)
            return clove_err_set(err, CLOVE_EINVAL,
                                 "invalid Flight endpoint \"%.200s\": bad host or port", endpoint);
    }
    if (target)
        *target = has_port ? clove_xstrndup(rest, len)
                           : clove_xasprintf("%.*s:" DEFAULT_PORT, (int)len, rest);
    if (tls) *tls = is_tls;
    return 0;
}

/* Reads a PEM file into a new NUL-terminated string; NULL with err filled. */
static grpc_channel_credentials *make_credentials(bool tls, const clove_flight_client_opts_t *o,
                                                  clove_err_t *err)
{
    if (!tls) {
        if (o->tls_root_cert_file || o->tls_cert_file || o->tls_key_file) {
            clove_err_set(err, CLOVE_EINVAL,
                          "TLS certificate files are given but the Flight endpoint is not "
                          "grpc+tls://");
            return NULL;
        }
        return grpc_insecure_credentials_create();
    }
    if (!o->tls_cert_file != !o->tls_key_file) {
        clove_err_set(err, CLOVE_EINVAL,
                      "mTLS needs both a client certificate file and its key file");
        return NULL;
    }
    char *roots = NULL, *cert = NULL, *key = NULL;
    grpc_channel_credentials *creds = NULL;
    if (o->tls_root_cert_file) {
        if (clove_tls_ca_load(o->tls_root_cert_file, "TLS root certificate file", &roots, err))
            goto out;
    }
    if (o->tls_cert_file) {
        clove_tls_source_t src = {.cert_file = o->tls_cert_file, .key_file = o->tls_key_file};
        clove_tls_cert_t pair;
        if (clove_tls_cert_load(&src, &pair, err)) goto out;
        cert = pair.cert_pem;
        key = pair.key_pem;
        free(pair.subject);
    }
    grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
    creds = grpc_ssl_credentials_create(roots, cert ? &pair : NULL, NULL, NULL);
    if (!creds) clove_err_set(err, CLOVE_EINVAL, "could not set up TLS for the Flight connection");
out:
    free(roots);
    free(cert);
    clove_tls_wipe_free(key);
    return creds;
}

/* ---- calls ----------------------------------------------------------------------------- */

/* Waits for the batch tagged tag; cancels the call when the interrupt flag rises. Returns the
 * batch's success. */
static bool wait_batch(rpc_t *r, void *tag)
{
    for (;;) {
        gpr_timespec dl =
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(POLL_MS, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_pluck(r->c->cq, tag, dl, NULL);
        if (ev.type == GRPC_OP_COMPLETE) return ev.success != 0;
        if (ev.type != GRPC_QUEUE_TIMEOUT) return false;
        if (!r->canceled && r->c->interrupted && *r->c->interrupted) {
            r->canceled = true;
            grpc_call_cancel(r->call, NULL);
        }
    }
}

static bool run_batch(rpc_t *r, grpc_op *ops, size_t n)
{
    if (grpc_call_start_batch(r->call, ops, n, ops, NULL) != GRPC_CALL_OK) return false;
    return wait_batch(r, ops);
}

/* Finds metadata key (lower case) in md; returns its value slice or NULL. */
static const grpc_slice *md_find(const grpc_metadata_array *md, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < md->count; i++) {
        const grpc_slice *k = &md->metadata[i].key;
        if (GRPC_SLICE_LENGTH(*k) == klen && memcmp(GRPC_SLICE_START_PTR(*k), key, klen) == 0)
            return &md->metadata[i].value;
    }
    return NULL;
}

/* True for the messages gRPC itself gives when no server answered (the connection could not
 * be made, or broke); a server's own UNAVAILABLE ("not ready") has none of these. */
static bool is_transport_failure(const char *text, size_t len)
{
    static const char *const marks[] = {
        "failed to connect to all addresses",
        "Connection refused",
        "Socket closed",
        "Connection reset",
        "Broken pipe",
        "DNS resolution failed",
        "Ssl handshake failed",
        "empty address list",
        "Connection timed out",
        "connections to all backends failing",
    };
    if (len == 0) return true;
    /* clove's own UNAVAILABLE about a dataset's source quotes the source's error ("...:
     * Connection refused") and names the dataset, which gRPC's messages never do */
    if (memmem(text, len, "dataset", 7)) return false;
    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
        if (memmem(text, len, marks[i], strlen(marks[i]))) return true;
    return false;
}

/* The useful end of gRPC's "failed to connect to all addresses; last error: UNKNOWN:
 * ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused", plus a hint when
 * TLS met a plain-text server. */
static void transport_reason(const char *text, size_t len, char *out, size_t cap)
{
    const char *p = text, *end = text + len, *m;
    if ((m = memmem(p, (size_t)(end - p), "last error: ", 12)) != NULL) p = m + 12;
    if ((m = memmem(p, (size_t)(end - p), "ipv4:", 5)) != NULL ||
        (m = memmem(p, (size_t)(end - p), "ipv6:", 5)) != NULL) {
        const char *sep = memmem(m, (size_t)(end - m), ": ", 2);
        if (sep) p = sep + 2;
    }
    if ((m = memmem(p, (size_t)(end - p), "remote host: ", 13)) != NULL) p = m + 13;
    if (p == end) {
        snprintf(out, cap, "the server is unavailable");
        return;
    }
    bool plain = memmem(p, (size_t)(end - p), "wrong version number", 20) != NULL;
    snprintf(out, cap, "%.*s%s", (int)(end - p), p,
             plain ? " (the server does not speak TLS there; try grpc:// instead of "
                     "grpc+tls://)"
                   : "");
}

/* Packs msg into a byte buffer (caller destroys). */
static grpc_byte_buffer *pack_message(const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *data = clove_xmalloc(len ? len : 1);
    protobuf_c_message_pack(msg, data);
    grpc_slice slice = grpc_slice_new(data, len, free);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    return bb;
}

/* Runs a call of `method` that sends one request (extra metadata md, n_md of them, plus the
 * client's credentials) and reads every answer into on_message. deadline_ms 0 means none.
 * Returns 0 after an OK status; otherwise a negative code with err filled. r's metadata
 * stays valid until rpc_dispose. */
static int rpc_run(clove_flight_client_t *c, rpc_t *r, const char *method,
                   const ProtobufCMessage *request, const grpc_metadata *extra_md, size_t n_extra,
                   int64_t deadline_ms, message_fn on_message, void *ud, clove_err_t *err)
{
    grpc_metadata md[4];
    size_t n_md = 0;
    int rc = 0;
    clove_err_t local;
    clove_err_clear(&local);

    memset(r, 0, sizeof(*r));
    r->c = c;
    grpc_metadata_array_init(&r->initial_md);
    grpc_metadata_array_init(&r->trailing_md);
    r->details = grpc_empty_slice();
    CLOVE_ASSERT(n_extra <= 2);
    for (size_t i = 0; i < n_extra; i++)
        md[n_md++] = extra_md[i];
    if (c->authorization) {
        memset(&md[n_md], 0, sizeof(md[n_md]));
        md[n_md].key = grpc_slice_from_static_string("authorization");
        md[n_md].value = grpc_slice_from_static_string(c->authorization);
        n_md++;
    } else if (c->api_key) {
        memset(&md[n_md], 0, sizeof(md[n_md]));
        md[n_md].key = grpc_slice_from_static_string("x-api-key");
        md[n_md].value = grpc_slice_from_static_string(c->api_key);
        n_md++;
    }

    gpr_timespec deadline = gpr_inf_future(GPR_CLOCK_REALTIME);
    if (deadline_ms > 0)
        deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                gpr_time_from_millis(deadline_ms, GPR_TIMESPAN));
    char *path = clove_xasprintf(METHOD_PREFIX "%s", method);
    grpc_slice method_slice = grpc_slice_from_copied_string(path);
    free(path);
    r->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                                       method_slice, NULL, deadline, NULL);
    grpc_slice_unref(method_slice);
    CLOVE_ASSERT(r->call != NULL);

    grpc_byte_buffer *req = pack_message(request);
    grpc_op ops[4];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = n_md;
    ops[0].data.send_initial_metadata.metadata = n_md ? md : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &r->initial_md;
    bool ok = run_batch(r, ops, 4);
    grpc_byte_buffer_destroy(req);
    r->got_initial_md = ok;

    while (ok) {
        grpc_byte_buffer *bb = NULL;
        grpc_op op;
        memset(&op, 0, sizeof(op));
        op.op = GRPC_OP_RECV_MESSAGE;
        op.data.recv_message.recv_message = &bb;
        if (!run_batch(r, &op, 1) || !bb) break;
        grpc_byte_buffer_reader reader;
        if (!grpc_byte_buffer_reader_init(&reader, bb)) {
            grpc_byte_buffer_destroy(bb);
            rc = clove_err_set(&local, CLOVE_EINVAL, "could not read a message from %s",
                               c->endpoint);
        } else {
            grpc_slice s = grpc_byte_buffer_reader_readall(&reader);
            grpc_byte_buffer_reader_destroy(&reader);
            grpc_byte_buffer_destroy(bb);
            rc = on_message ? on_message(ud, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s), &local)
                            : 0;
            grpc_slice_unref(s);
        }
        if (rc < 0) {
            r->failed_locally = true;
            grpc_call_cancel(r->call, NULL);
            break;
        }
    }

    grpc_op st;
    memset(&st, 0, sizeof(st));
    st.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    st.data.recv_status_on_client.trailing_metadata = &r->trailing_md;
    st.data.recv_status_on_client.status = &r->status;
    st.data.recv_status_on_client.status_details = &r->details;
    if (!run_batch(r, &st, 1)) {
        r->status = GRPC_STATUS_UNKNOWN;
    }

    if (r->failed_locally) {
        c->last_status = -1;
        memcpy(err, &local, sizeof(local));
        return rc;
    }
    c->last_status = (int)r->status;
    if (r->canceled) return clove_err_set(err, CLOVE_ECANCELED, "canceled by user");
    if (r->status == GRPC_STATUS_OK) return 0;

    int len = (int)GRPC_SLICE_LENGTH(r->details);
    const char *text = (const char *)GRPC_SLICE_START_PTR(r->details);
    if (len > 800) len = 800;
    if (r->status == GRPC_STATUS_UNAVAILABLE && is_transport_failure(text, (size_t)len)) {
        char reason[600];
        transport_reason(text, (size_t)len, reason, sizeof(reason));
        return clove_err_set(err, CLOVE_EIO, "could not connect to clove at %s: %s", c->endpoint,
                             reason);
    }
    if (len == 0)
        return clove_err_set(err, code_from_status(r->status), "%s failed with gRPC status %s",
                             method, clove_flight_status_name((int)r->status));
    return clove_err_set(err, code_from_status(r->status), "%.*s", len, text);
}

static void rpc_dispose(rpc_t *r)
{
    if (r->call) grpc_call_unref(r->call);
    grpc_metadata_array_destroy(&r->initial_md);
    grpc_metadata_array_destroy(&r->trailing_md);
    grpc_slice_unref(r->details);
    memset(r, 0, sizeof(*r));
}

/* ---- connect and handshake --------------------------------------------------------------- */

static int handshake_message(void *ud, const uint8_t *data, size_t len, clove_err_t *err)
{
    Arrow__Flight__Protocol__HandshakeResponse *resp =
        arrow__flight__protocol__handshake_response__unpack(NULL, len, data);
    if (!resp)
        return clove_err_set(err, CLOVE_EINVAL, "malformed HandshakeResponse from %s",
                             ((clove_flight_client_t *)ud)->endpoint);
    arrow__flight__protocol__handshake_response__free_unpacked(resp, NULL);
    return 0;
}

/* Takes "authorization: Bearer ..." from the answer's headers or trailers. */
static void keep_bearer(clove_flight_client_t *c, const rpc_t *r)
{
    const grpc_slice *v = md_find(&r->initial_md, "authorization");
    if (!v) v = md_find(&r->trailing_md, "authorization");
    if (!v || GRPC_SLICE_LENGTH(*v) < 8 ||
        strncasecmp((const char *)GRPC_SLICE_START_PTR(*v), "Bearer ", 7) != 0)
        return;
    clove_tls_wipe_free(c->authorization);
    c->authorization =
        clove_xstrndup((const char *)GRPC_SLICE_START_PTR(*v), GRPC_SLICE_LENGTH(*v));
}

static int handshake(clove_flight_client_t *c, const clove_flight_client_opts_t *o,
                     clove_err_t *err)
{
    grpc_metadata md[1];
    size_t n_md = 0;
    char *basic = NULL;
    bool with_key = o->api_key && o->api_key[0];
    if (with_key) {
        const char *user = o->username ? o->username : CLOVE_FLIGHT_CLIENT_DEFAULT_USER;
        char *plain = clove_xasprintf("%s:%s", user, o->api_key);
        size_t plen = strlen(plain);
        size_t cap = 4 * ((plen + 2) / 3) + 1;
        unsigned char *b64 = clove_xmalloc(cap);
        EVP_EncodeBlock(b64, (const unsigned char *)plain, (int)plen);
        basic = clove_xasprintf("Basic %s", (const char *)b64);
        clove_tls_wipe_free(plain);
        memset(b64, 0, cap);
        free(b64);
        memset(&md[0], 0, sizeof(md[0]));
        md[0].key = grpc_slice_from_static_string("authorization");
        md[0].value = grpc_slice_from_static_string(basic);
        n_md = 1;
    }
    Arrow__Flight__Protocol__HandshakeRequest req =
        ARROW__FLIGHT__PROTOCOL__HANDSHAKE_REQUEST__INIT;
    rpc_t r;
    int rc = rpc_run(c, &r, "Handshake", &req.base, md, n_md, c->connect_timeout_ms,
                     handshake_message, c, err);
    if (rc == 0) {
        keep_bearer(c, &r);
    } else if (c->last_status == GRPC_STATUS_UNIMPLEMENTED && !with_key) {
        rc = 0; /* a server without authentication */
        clove_err_clear(err);
    } else if (c->last_status == GRPC_STATUS_DEADLINE_EXCEEDED) {
        rc = clove_err_set(err, CLOVE_EIO,
                           "could not connect to clove at %s: timed out after "
                           "%lld ms",
                           c->endpoint, (long long)c->connect_timeout_ms);
    } else if (rc == CLOVE_EAUTH) {
        char msg[CLOVE_ERR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err->message);
        if (with_key)
            rc = clove_err_set(err, CLOVE_EAUTH, "clove at %s refused the API key: %s", c->endpoint,
                               msg);
        else
            rc = clove_err_set(err, CLOVE_EAUTH, "clove at %s requires an API key: %s", c->endpoint,
                               msg);
    }
    rpc_dispose(&r);
    clove_tls_wipe_free(basic);
    return rc;
}

clove_flight_client_t *
clove_flight_connect(const char *endpoint, const clove_flight_client_opts_t *opts, clove_err_t *err)
{
    static const clove_flight_client_opts_t no_opts;
    const clove_flight_client_opts_t *o = opts ? opts : &no_opts;
    char *target = NULL;
    bool tls = false;
    if (clove_flight_parse_endpoint(endpoint, &target, &tls, err) < 0) return NULL;
    grpc_channel_credentials *creds = make_credentials(tls, o, err);
    if (!creds) {
        free(target);
        return NULL;
    }

    grpc_init();
    clove_flight_client_t *c = clove_xcalloc(1, sizeof(*c));
    c->endpoint = clove_xstrdup(endpoint);
    c->interrupted = o->interrupted;
    c->connect_timeout_ms =
        o->connect_timeout_ms > 0 ? o->connect_timeout_ms : CLOVE_FLIGHT_CLIENT_CONNECT_TIMEOUT_MS;
    c->conn = o->conn;
    if (o->api_key && o->api_key[0]) c->api_key = clove_xstrdup(o->api_key);

    grpc_arg args[3];
    memset(args, 0, sizeof(args));
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = CLOVE_FLIGHT_MAX_MESSAGE;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = CLOVE_FLIGHT_MAX_MESSAGE;
    args[2].type = GRPC_ARG_STRING;
    args[2].key = (char *)GRPC_ARG_PRIMARY_USER_AGENT_STRING;
    args[2].value.string = (char *)"clove/" CLOVE_VERSION;
    grpc_channel_args chargs = {.num_args = 3, .args = args};
    c->channel = grpc_channel_create(target, creds, &chargs);
    grpc_channel_credentials_release(creds);
    free(target);
    c->cq = grpc_completion_queue_create_for_pluck(NULL);

    if (handshake(c, o, err) < 0) {
        clove_flight_client_destroy(c);
        return NULL;
    }
    return c;
}

void clove_flight_client_destroy(clove_flight_client_t *c)
{
    if (!c) return;
    if (c->channel) grpc_channel_destroy(c->channel);
    if (c->cq) {
        grpc_completion_queue_shutdown(c->cq);
        /* no batch is outstanding between calls, so this returns GRPC_QUEUE_SHUTDOWN */
        grpc_completion_queue_pluck(c->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        grpc_completion_queue_destroy(c->cq);
    }
    if (c->own_conn) duckdb_disconnect(&c->own_conn);
    if (c->own_db) duckdb_close(&c->own_db);
    clove_tls_wipe_free(c->authorization);
    clove_tls_wipe_free(c->api_key);
    free(c->endpoint);
    free(c);
    grpc_shutdown();
}

static void grpc_log_cb(gpr_log_func_args *args)
{
    clove_debug("grpc", "%s", args->message);
}

void clove_flight_client_quiet_grpc_log(void)
{
    gpr_set_log_function(grpc_log_cb);
}

const char *clove_flight_client_endpoint(const clove_flight_client_t *c)
{
    return c->endpoint;
}

int clove_flight_client_last_status(const clove_flight_client_t *c)
{
    return c->last_status;
}

/* ---- queries ----------------------------------------------------------------------------- */

typedef struct {
    clove_flight_client_t *c;
    const clove_flight_result_cbs_t *cbs;
    void *ud;
    Arrow__Flight__Protocol__FlightInfo *info; /* from GetFlightInfo */
    clove_ipc_reader_t *reader;                /* the DoGet stream being read */
    bool schema_sent;
    idx_t ncols;
} query_t;

static int ensure_conn(clove_flight_client_t *c, clove_err_t *err)
{
    if (c->conn) return 0;
    if (duckdb_open(NULL, &c->own_db) != DuckDBSuccess) {
        c->own_db = NULL;
        return clove_err_set(err, CLOVE_EINTERNAL, "could not open DuckDB to decode results");
    }
    if (duckdb_connect(c->own_db, &c->own_conn) != DuckDBSuccess) {
        c->own_conn = NULL;
        duckdb_close(&c->own_db);
        return clove_err_set(err, CLOVE_EINTERNAL, "could not open DuckDB to decode results");
    }
    c->conn = c->own_conn;
    return 0;
}

static int info_message(void *ud, const uint8_t *data, size_t len, clove_err_t *err)
{
    query_t *q = ud;
    if (q->info)
        return clove_err_set(err, CLOVE_EINVAL, "more than one FlightInfo from %s", q->c->endpoint);
    q->info = arrow__flight__protocol__flight_info__unpack(NULL, len, data);
    if (!q->info)
        return clove_err_set(err, CLOVE_EINVAL, "malformed FlightInfo from %s", q->c->endpoint);
    return 0;
}

/* Sends the schema of a reader to the caller once per query; later streams must match. */
static int take_schema(query_t *q, clove_ipc_reader_t *r, clove_err_t *err)
{
    idx_t n = clove_ipc_reader_column_count(r);
    if (q->schema_sent) {
        if (n != q->ncols)
            return clove_err_set(err, CLOVE_EINVAL,
                                 "the endpoints of one query from %s have different schemas",
                                 q->c->endpoint);
        return 0;
    }
    q->schema_sent = true;
    q->ncols = n;
    if (!q->cbs || !q->cbs->schema_cb) return 0;
    const char **names = clove_xcalloc(n ? n : 1, sizeof(*names));
    duckdb_logical_type *types = clove_xcalloc(n ? n : 1, sizeof(*types));
    for (idx_t i = 0; i < n; i++) {
        names[i] = clove_ipc_reader_column_name(r, i);
        types[i] = clove_ipc_reader_column_type(r, i);
    }
    int rc = q->cbs->schema_cb(q->ud, n, names, types, err);
    free(names);
    free(types);
    return rc;
}

static int data_message(void *ud, const uint8_t *data, size_t len, clove_err_t *err)
{
    query_t *q = ud;
    Arrow__Flight__Protocol__FlightData *fd =
        arrow__flight__protocol__flight_data__unpack(NULL, len, data);
    if (!fd)
        return clove_err_set(err, CLOVE_EINVAL, "malformed FlightData from %s", q->c->endpoint);
    int rc = 0;
    bool had_schema = clove_ipc_reader_has_schema(q->reader);
    if (fd->data_header.len > 0) /* app_metadata-only messages carry no IPC */
        rc = clove_ipc_reader_message(q->reader, fd->data_header.data, fd->data_header.len,
                                      fd->data_body.data, fd->data_body.len, err);
    arrow__flight__protocol__flight_data__free_unpacked(fd, NULL);
    if (rc < 0) return rc;
    if (!had_schema && clove_ipc_reader_has_schema(q->reader)) {
        rc = take_schema(q, q->reader, err);
        if (rc < 0) return rc;
    }
    for (;;) {
        duckdb_data_chunk chunk = NULL;
        rc = clove_ipc_reader_next_chunk(q->reader, &chunk, err);
        if (rc <= 0) return rc;
        rc = q->cbs && q->cbs->chunk_cb ? q->cbs->chunk_cb(q->ud, chunk, err) : 0;
        duckdb_destroy_data_chunk(&chunk);
        if (rc < 0) return rc;
    }
}

/* The FlightInfo schema, for a result no stream described (no endpoints, empty streams). */
static int schema_from_info(query_t *q, clove_err_t *err)
{
    ProtobufCBinaryData *s = &q->info->schema;
    if (s->len == 0)
        return clove_err_set(err, CLOVE_EINVAL, "clove at %s sent no result schema",
                             q->c->endpoint);
    clove_ipc_reader_t *r = clove_ipc_reader_create(q->c->conn, 0, err);
    if (!r) return err->code ? err->code : CLOVE_ENOMEM;
    int rc = clove_ipc_reader_feed(r, s->data, s->len, err);
    if (rc == 0 && !clove_ipc_reader_has_schema(r))
        rc = clove_err_set(err, CLOVE_EINVAL, "malformed result schema from %s", q->c->endpoint);
    if (rc == 0) rc = take_schema(q, r, err);
    clove_ipc_reader_destroy(r);
    return rc;
}

int clove_flight_query(clove_flight_client_t *c, const char *sql,
                       const clove_flight_result_cbs_t *cbs, void *ud, clove_err_t *err)
{
    query_t q = {.c = c, .cbs = cbs, .ud = ud};
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    Arrow__Flight__Protocol__Sql__CommandStatementQuery cmd =
        ARROW__FLIGHT__PROTOCOL__SQL__COMMAND_STATEMENT_QUERY__INIT;
    Arrow__Flight__Protocol__FlightDescriptor desc =
        ARROW__FLIGHT__PROTOCOL__FLIGHT_DESCRIPTOR__INIT;
    rpc_t r;
    int rc = ensure_conn(c, err);
    if (rc < 0) return rc;

    cmd.query = (char *)sql;
    any.type_url = (char *)TYPE_STATEMENT_QUERY;
    any.value.len = protobuf_c_message_get_packed_size(&cmd.base);
    any.value.data = clove_xmalloc(any.value.len ? any.value.len : 1);
    protobuf_c_message_pack(&cmd.base, any.value.data);
    desc.type = ARROW__FLIGHT__PROTOCOL__FLIGHT_DESCRIPTOR__DESCRIPTOR_TYPE__CMD;
    desc.cmd.len = protobuf_c_message_get_packed_size(&any.base);
    desc.cmd.data = clove_xmalloc(desc.cmd.len ? desc.cmd.len : 1);
    protobuf_c_message_pack(&any.base, desc.cmd.data);
    free(any.value.data);

    rc = rpc_run(c, &r, "GetFlightInfo", &desc.base, NULL, 0, 0, info_message, &q, err);
    rpc_dispose(&r);
    free(desc.cmd.data);
    if (rc < 0) goto out;
    if (!q.info) {
        rc = clove_err_set(err, CLOVE_EINVAL,
                           "clove at %s answered GetFlightInfo without a "
                           "FlightInfo",
                           c->endpoint);
        goto out;
    }

    for (size_t i = 0; i < q.info->n_endpoint; i++) {
        Arrow__Flight__Protocol__FlightEndpoint *ep = q.info->endpoint[i];
        if (!ep->ticket) {
            rc = clove_err_set(err, CLOVE_EINVAL,
                               "endpoint %zu of the FlightInfo from %s has "
                               "no ticket",
                               i, c->endpoint);
            goto out;
        }
        q.reader = clove_ipc_reader_create(c->conn, CLOVE_FLIGHT_MAX_MESSAGE, err);
        if (!q.reader) {
            rc = err->code ? err->code : CLOVE_ENOMEM;
            goto out;
        }
        rc = rpc_run(c, &r, "DoGet", &ep->ticket->base, NULL, 0, 0, data_message, &q, err);
        rpc_dispose(&r);
        clove_ipc_reader_destroy(q.reader);
        q.reader = NULL;
        if (rc < 0) goto out;
    }
    if (!q.schema_sent) rc = schema_from_info(&q, err);

out:
    if (q.info) arrow__flight__protocol__flight_info__free_unpacked(q.info, NULL);
    return rc;
}
