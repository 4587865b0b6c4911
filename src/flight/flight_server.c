/*
 * The Flight server: a gRPC core server whose completion-queue thread accepts every call
 * with grpc_server_request_call and hands it to a thread of its own. That thread runs the
 * call as straight-line code (receive, query, send, status) by plucking each batch from a
 * completion queue bound to that call alone, so a slow query or a slow reader only ever holds
 * its own thread. Methods are told apart by their path, e.g.
 * "/arrow.flight.protocol.FlightService/DoGet".
 */
#include "flight/flight.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <openssl/rand.h>

#include "Flight.pb-c.h"
#include "FlightSql.pb-c.h"
#include "arrow/arrow.h"
#include "google/protobuf/any.pb-c.h"

#define COMP "flight"

#define METHOD_PREFIX "/arrow.flight.protocol.FlightService/"
#define TYPE_URL_PREFIX "type.googleapis.com/"
#define SQL_TYPE_PREFIX TYPE_URL_PREFIX "arrow.flight.protocol.sql."
#define TYPE_STATEMENT_QUERY SQL_TYPE_PREFIX "CommandStatementQuery"
#define TYPE_TICKET_STATEMENT SQL_TYPE_PREFIX "TicketStatementQuery"

typedef struct flight_call flight_call_t;

struct clove_flight_server {
    grpc_server *server;
    grpc_completion_queue *cq;      /* notifications of new calls; read by cq_thread only */
    pthread_t cq_thread;
    clove_engine_t *engine;         /* borrowed */
    int port;
    int shutdown_tag;               /* its address tags the server's shutdown notification */

    pthread_mutex_t mu;             /* guards active, stopping, calls and each call's query */
    pthread_cond_t idle;            /* signaled when active drops to 0 */
    int active;                     /* call threads running */
    bool stopping;
    flight_call_t *calls;           /* calls with a running thread */
};

/* One call, from grpc_server_request_call until its thread ends. */
struct flight_call {
    clove_flight_server_t *srv;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_completion_queue *cq;      /* pluck queue bound to this call only */
    bool md_sent;                   /* initial metadata went out */
    bool close_done;                /* the RECV_CLOSE_ON_SERVER batch completed */
    int cancelled;                  /* set by RECV_CLOSE_ON_SERVER */
    clove_query_t *query;           /* the running query, guarded by srv->mu */
    flight_call_t *prev, *next;
};

/* ---- call plumbing ------------------------------------------------------------------- */

static flight_call_t *call_new(clove_flight_server_t *srv)
{
    flight_call_t *fc = clove_xcalloc(1, sizeof(*fc));
    fc->srv = srv;
    fc->cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_call_details_init(&fc->details);
    grpc_metadata_array_init(&fc->md);
    return fc;
}

static void call_free(flight_call_t *fc)
{
    if (fc->call) grpc_call_unref(fc->call);
    grpc_completion_queue_shutdown(fc->cq);
    /* every batch this call started has been plucked, so the queue is empty: this returns
     * GRPC_QUEUE_SHUTDOWN at once */
    grpc_completion_queue_pluck(fc->cq, fc, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_completion_queue_destroy(fc->cq);
    grpc_call_details_destroy(&fc->details);
    grpc_metadata_array_destroy(&fc->md);
    free(fc);
}

/* Asks gRPC for the next incoming call; false once the server is shutting down. */
static bool request_next(clove_flight_server_t *srv)
{
    flight_call_t *fc = call_new(srv);
    grpc_call_error rc = grpc_server_request_call(srv->server, &fc->call, &fc->details, &fc->md,
                                                  fc->cq, srv->cq, fc);
    if (rc != GRPC_CALL_OK) {
        clove_error(COMP, "could not wait for the next Flight call: gRPC error %d", (int)rc);
        call_free(fc);
        return false;
    }
    return true;
}

/* Runs one batch and waits for it. False when the call is gone (canceled, deadline, client
 * left, server stopping). */
static bool run_batch(flight_call_t *fc, grpc_op *ops, size_t n)
{
    grpc_call_error rc = grpc_call_start_batch(fc->call, ops, n, ops, NULL);
    if (rc != GRPC_CALL_OK) {
        clove_error(COMP, "could not start a gRPC batch: error %d", (int)rc);
        return false;
    }
    grpc_event ev = grpc_completion_queue_pluck(fc->cq, ops, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                NULL);
    return ev.type == GRPC_OP_COMPLETE && ev.success;
}

/* True once the client canceled or went away (checked without waiting). */
static bool call_gone(flight_call_t *fc)
{
    if (!fc->close_done) {
        grpc_event ev = grpc_completion_queue_pluck(fc->cq, &fc->cancelled,
                                                    gpr_time_0(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_OP_COMPLETE) fc->close_done = true;
    }
    return fc->close_done && fc->cancelled;
}

/* Receives one message: 1 with *out set (caller frees), 0 when the client sent no more,
 * -1 when the call failed. */
static int recv_bytes(flight_call_t *fc, grpc_slice *out)
{
    grpc_byte_buffer *bb = NULL;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &bb;
    if (!run_batch(fc, &op, 1)) return -1;
    if (!bb) return 0;
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb)) {
        grpc_byte_buffer_destroy(bb);
        return -1;
    }
    *out = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    grpc_byte_buffer_destroy(bb);
    return 1;
}

/* Initial metadata goes out with the first message or the status. */
static size_t add_initial_md(flight_call_t *fc, grpc_op *op, grpc_metadata *md, size_t n_md)
{
    if (fc->md_sent) return 0;
    memset(op, 0, sizeof(*op));
    op->op = GRPC_OP_SEND_INITIAL_METADATA;
    op->data.send_initial_metadata.count = n_md;
    op->data.send_initial_metadata.metadata = n_md ? md : NULL;
    fc->md_sent = true;
    return 1;
}

/* Packs msg and sends it. False when the call is gone. */
static bool send_msg(flight_call_t *fc, const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *data = malloc(len ? len : 1);
    if (!data) return false;
    protobuf_c_message_pack(msg, data);
    grpc_slice slice = grpc_slice_new(data, len, free);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);

    grpc_op ops[2];
    size_t n = add_initial_md(fc, &ops[0], NULL, 0);
    memset(&ops[n], 0, sizeof(ops[n]));
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = bb;
    n++;
    bool ok = run_batch(fc, ops, n);
    grpc_byte_buffer_destroy(bb);
    return ok;
}

static void send_status(flight_call_t *fc, grpc_status_code code, const char *message)
{
    grpc_slice details = grpc_slice_from_copied_string(message ? message : "");
    grpc_op ops[2];
    size_t n = add_initial_md(fc, &ops[0], NULL, 0);
    memset(&ops[n], 0, sizeof(ops[n]));
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = code;
    ops[n].data.send_status_from_server.status_details = &details;
    n++;
    run_batch(fc, ops, n);
    grpc_slice_unref(details);
}

static void send_err(flight_call_t *fc, const clove_err_t *err)
{
    send_status(fc, (grpc_status_code)clove_err_grpc_status(err->code), err->message);
}

/* Publishes the call's query so clove_flight_stop can cancel it (q may be NULL). */
static void set_query(flight_call_t *fc, clove_query_t *q)
{
    pthread_mutex_lock(&fc->srv->mu);
    fc->query = q;
    pthread_mutex_unlock(&fc->srv->mu);
}

static void end_query(flight_call_t *fc, clove_query_t *q)
{
    set_query(fc, NULL);
    clove_query_end(q);
}

/* The call's gRPC deadline as a query timeout: 0 (runtime default) when there is none. */
static int64_t call_timeout_ms(const flight_call_t *fc)
{
    gpr_timespec dl = gpr_convert_clock_type(fc->details.deadline, GPR_CLOCK_MONOTONIC);
    if (gpr_time_cmp(dl, gpr_inf_future(GPR_CLOCK_MONOTONIC)) >= 0) return 0;
    int64_t ms = gpr_time_to_millis(gpr_time_sub(dl, gpr_now(GPR_CLOCK_MONOTONIC)));
    return ms < 1 ? 1 : ms;
}

/* ---- Flight SQL helpers ---------------------------------------------------------------- */

/* Copies bytes into a NUL-terminated SQL string; NULL (err filled) when it holds a NUL. */
static char *sql_from_bytes(const uint8_t *data, size_t len, clove_err_t *err)
{
    if (len == 0 || memchr(data, 0, len)) {
        clove_err_set(err, CLOVE_EINVAL, len ? "the SQL text contains a NUL byte"
                                             : "the SQL text is empty");
        return NULL;
    }
    return clove_xstrndup((const char *)data, len);
}

/* Packs `inner` into a google.protobuf.Any with type_url `type` and that into *out (caller
 * frees out->data). */
static void pack_any(const char *type, const ProtobufCMessage *inner, ProtobufCBinaryData *out)
{
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = (char *)type;
    any.value.len = protobuf_c_message_get_packed_size(inner);
    any.value.data = clove_xmalloc(any.value.len ? any.value.len : 1);
    protobuf_c_message_pack(inner, any.value.data);
    out->len = google__protobuf__any__get_packed_size(&any);
    out->data = clove_xmalloc(out->len ? out->len : 1);
    google__protobuf__any__pack(&any, out->data);
    free(any.value.data);
}

static void unsupported_command(const Google__Protobuf__Any *any, clove_err_t *err)
{
    const char *name = any->type_url;
    if (strncmp(name, SQL_TYPE_PREFIX, strlen(SQL_TYPE_PREFIX)) == 0)
        name += strlen(SQL_TYPE_PREFIX);
    clove_err_set(err, CLOVE_EUNSUPPORTED, "Flight SQL command \"%.200s\" is not supported",
                  name);
}

/* The SQL a Flight SQL command names: CommandStatementQuery.query or
 * TicketStatementQuery.statement_handle. Returns a new string, or NULL with err filled
 * (CLOVE_EINVAL malformed, CLOVE_EUNSUPPORTED for other commands). */
static char *sql_from_any(const Google__Protobuf__Any *any, clove_err_t *err)
{
    if (strcmp(any->type_url, TYPE_STATEMENT_QUERY) == 0) {
        Arrow__Flight__Protocol__Sql__CommandStatementQuery *c =
            arrow__flight__protocol__sql__command_statement_query__unpack(NULL, any->value.len,
                                                                        any->value.data);
        if (!c) {
            clove_err_set(err, CLOVE_EINVAL, "malformed Flight SQL CommandStatementQuery");
            return NULL;
        }
        char *sql = sql_from_bytes((const uint8_t *)c->query, strlen(c->query), err);
        arrow__flight__protocol__sql__command_statement_query__free_unpacked(c, NULL);
        return sql;
    }
    if (strcmp(any->type_url, TYPE_TICKET_STATEMENT) == 0) {
        Arrow__Flight__Protocol__Sql__TicketStatementQuery *t =
            arrow__flight__protocol__sql__ticket_statement_query__unpack(NULL, any->value.len,
                                                                       any->value.data);
        if (!t) {
            clove_err_set(err, CLOVE_EINVAL, "malformed Flight SQL TicketStatementQuery");
            return NULL;
        }
        char *sql = sql_from_bytes(t->statement_handle.data, t->statement_handle.len, err);
        arrow__flight__protocol__sql__ticket_statement_query__free_unpacked(t, NULL);
        return sql;
    }
    unsupported_command(any, err);
    return NULL;
}

/* Parses bytes as an Any when they look like one (a type.googleapis.com/ type URL);
 * NULL otherwise. */
static Google__Protobuf__Any *maybe_any(const uint8_t *data, size_t len)
{
    Google__Protobuf__Any *any = google__protobuf__any__unpack(NULL, len, data);
    if (any && strncmp(any->type_url, TYPE_URL_PREFIX, strlen(TYPE_URL_PREFIX)) != 0) {
        google__protobuf__any__free_unpacked(any, NULL);
        return NULL;
    }
    return any;
}

/* Starts the query and makes its IPC writer; NULL (err filled) on failure. */
static clove_query_t *start_query(flight_call_t *fc, const char *sql, clove_ipc_writer_t **w,
                                  clove_err_t *err)
{
    clove_query_req_t req = {.sql = sql, .client_fd = -1, .timeout_ms = call_timeout_ms(fc)};
    clove_query_t *q = clove_engine_query(fc->srv->engine, &req, err);
    if (!q) return NULL;
    set_query(fc, q);
    idx_t n = clove_query_column_count(q);
    const char **names = clove_xcalloc(n ? n : 1, sizeof(*names));
    duckdb_logical_type *types = clove_xcalloc(n ? n : 1, sizeof(*types));
    for (idx_t i = 0; i < n; i++) {
        names[i] = clove_query_column_name(q, i);
        types[i] = clove_query_column_type(q, i);
    }
    *w = clove_ipc_writer_create(clove_query_connection(q), n, names, types, err);
    free(names);
    free(types);
    if (!*w) {
        end_query(fc, q);
        return NULL;
    }
    return q;
}

/* ---- methods --------------------------------------------------------------------------- */

/* Handshake: every request gets a response whose payload is a fresh random token; the token
 * also goes out as "authorization: Bearer <token>" initial metadata, which is where Arrow's
 * own clients look for it. Tokens are not checked yet (no auth in this slice). */
static void do_handshake(flight_call_t *fc)
{
    uint8_t raw[16];
    char token[2 * sizeof(raw) + 1];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        send_status(fc, GRPC_STATUS_INTERNAL, "could not generate a session token");
        return;
    }
    for (size_t i = 0; i < sizeof(raw); i++) snprintf(token + 2 * i, 3, "%02x", raw[i]);
    char *bearer = clove_xasprintf("Bearer %s", token);

    grpc_metadata md;
    memset(&md, 0, sizeof(md));
    md.key = grpc_slice_from_static_string("authorization");
    md.value = grpc_slice_from_copied_string(bearer);
    grpc_op op;
    add_initial_md(fc, &op, &md, 1);
    bool ok = run_batch(fc, &op, 1);
    grpc_slice_unref(md.value);
    free(bearer);

    while (ok) {
        grpc_slice in;
        int r = recv_bytes(fc, &in);
        if (r <= 0) {
            ok = r == 0;
            break;
        }
        Arrow__Flight__Protocol__HandshakeRequest *req =
            arrow__flight__protocol__handshake_request__unpack(NULL, GRPC_SLICE_LENGTH(in),
                                                               GRPC_SLICE_START_PTR(in));
        grpc_slice_unref(in);
        if (!req) {
            send_status(fc, GRPC_STATUS_INVALID_ARGUMENT, "malformed HandshakeRequest");
            return;
        }
        Arrow__Flight__Protocol__HandshakeResponse resp =
            ARROW__FLIGHT__PROTOCOL__HANDSHAKE_RESPONSE__INIT;
        resp.protocol_version = req->protocol_version;
        resp.payload.data = (uint8_t *)token;
        resp.payload.len = strlen(token);
        arrow__flight__protocol__handshake_request__free_unpacked(req, NULL);
        ok = send_msg(fc, &resp.base);
    }
    if (ok) send_status(fc, GRPC_STATUS_OK, "");
}

/* Receives the single request message of a unary or server-streaming call. */
static bool recv_request(flight_call_t *fc, grpc_slice *out, const char *what)
{
    int r = recv_bytes(fc, out);
    if (r < 0) return false;
    if (r == 0) {
        char *msg = clove_xasprintf("missing %s in the request", what);
        send_status(fc, GRPC_STATUS_INVALID_ARGUMENT, msg);
        free(msg);
        return false;
    }
    return true;
}

static void do_get_flight_info(flight_call_t *fc)
{
    clove_err_t err;
    clove_err_clear(&err);
    grpc_slice in;
    if (!recv_request(fc, &in, "FlightDescriptor")) return;
    Arrow__Flight__Protocol__FlightDescriptor *desc =
        arrow__flight__protocol__flight_descriptor__unpack(NULL, GRPC_SLICE_LENGTH(in),
                                                           GRPC_SLICE_START_PTR(in));
    grpc_slice_unref(in);
    Google__Protobuf__Any *any = NULL;
    char *sql = NULL;
    clove_query_t *q = NULL;
    clove_ipc_writer_t *w = NULL;
    clove_buf_t schema;
    clove_buf_init(&schema);
    ProtobufCBinaryData ticket_any = {0, NULL};

    if (!desc) {
        clove_err_set(&err, CLOVE_EINVAL, "malformed FlightDescriptor");
        goto fail;
    }
    if (desc->type != ARROW__FLIGHT__PROTOCOL__FLIGHT_DESCRIPTOR__DESCRIPTOR_TYPE__CMD) {
        clove_err_set(&err, CLOVE_EUNSUPPORTED,
                      "only CMD flight descriptors holding a Flight SQL command are supported");
        goto fail;
    }
    any = google__protobuf__any__unpack(NULL, desc->cmd.len, desc->cmd.data);
    if (!any) {
        clove_err_set(&err, CLOVE_EINVAL,
                      "the flight descriptor command is not a google.protobuf.Any");
        goto fail;
    }
    if (strcmp(any->type_url, TYPE_STATEMENT_QUERY) != 0) {
        unsupported_command(any, &err);
        goto fail;
    }
    sql = sql_from_any(any, &err);
    if (!sql) goto fail;

    /* The schema comes from starting the query; the rows are left for DoGet. */
    q = start_query(fc, sql, &w, &err);
    if (!q) goto fail;
    int rc = clove_ipc_writer_schema(w, &schema, &err);
    clove_ipc_writer_destroy(w);
    w = NULL;
    end_query(fc, q);
    q = NULL;
    if (rc < 0) goto fail;
    if (schema.failed) {
        clove_err_set(&err, CLOVE_ENOMEM, "out of memory encoding the result schema");
        goto fail;
    }

    Arrow__Flight__Protocol__Sql__TicketStatementQuery tsq =
        ARROW__FLIGHT__PROTOCOL__SQL__TICKET_STATEMENT_QUERY__INIT;
    tsq.statement_handle.data = (uint8_t *)sql;
    tsq.statement_handle.len = strlen(sql);
    pack_any(TYPE_TICKET_STATEMENT, &tsq.base, &ticket_any);

    Arrow__Flight__Protocol__Ticket ticket = ARROW__FLIGHT__PROTOCOL__TICKET__INIT;
    ticket.ticket = ticket_any;
    Arrow__Flight__Protocol__FlightEndpoint ep = ARROW__FLIGHT__PROTOCOL__FLIGHT_ENDPOINT__INIT;
    ep.ticket = &ticket;
    Arrow__Flight__Protocol__FlightEndpoint *eps[1] = {&ep};
    Arrow__Flight__Protocol__FlightInfo info = ARROW__FLIGHT__PROTOCOL__FLIGHT_INFO__INIT;
    info.schema.data = (uint8_t *)schema.data;
    info.schema.len = schema.len;
    info.flight_descriptor = desc;
    info.n_endpoint = 1;
    info.endpoint = eps;
    info.total_records = -1;
    info.total_bytes = -1;
    if (send_msg(fc, &info.base)) send_status(fc, GRPC_STATUS_OK, "");
    goto out;

fail:
    if (w) clove_ipc_writer_destroy(w);
    if (q) end_query(fc, q);
    send_err(fc, &err);
out:
    free(ticket_any.data);
    clove_buf_dispose(&schema);
    free(sql);
    if (any) google__protobuf__any__free_unpacked(any, NULL);
    if (desc) arrow__flight__protocol__flight_descriptor__free_unpacked(desc, NULL);
}

/* Sends every part as one FlightData; clears the list. False when the call is gone. */
static bool send_parts(flight_call_t *fc, clove_ipc_parts_t *parts)
{
    for (size_t i = 0; i < parts->n; i++) {
        Arrow__Flight__Protocol__FlightData fd = ARROW__FLIGHT__PROTOCOL__FLIGHT_DATA__INIT;
        fd.data_header.data = (uint8_t *)parts->parts[i].header.data;
        fd.data_header.len = parts->parts[i].header.len;
        fd.data_body.data = (uint8_t *)parts->parts[i].body.data;
        fd.data_body.len = parts->parts[i].body.len;
        if (!send_msg(fc, &fd.base)) return false;
    }
    clove_ipc_parts_reset(parts);
    return true;
}

/* DoGet: the ticket is a TicketStatementQuery (or CommandStatementQuery) Any, or raw UTF-8
 * SQL. Streams the Schema message, then one FlightData per IPC message of each chunk. */
static void do_get(flight_call_t *fc)
{
    clove_err_t err;
    clove_err_clear(&err);
    grpc_slice in;
    if (!recv_request(fc, &in, "Ticket")) return;
    Arrow__Flight__Protocol__Ticket *ticket =
        arrow__flight__protocol__ticket__unpack(NULL, GRPC_SLICE_LENGTH(in),
                                                GRPC_SLICE_START_PTR(in));
    grpc_slice_unref(in);
    Google__Protobuf__Any *any = NULL;
    char *sql = NULL;
    clove_query_t *q = NULL;
    clove_ipc_writer_t *w = NULL;
    clove_ipc_parts_t parts;
    clove_ipc_parts_init(&parts);

    if (!ticket) {
        clove_err_set(&err, CLOVE_EINVAL, "malformed Ticket");
        goto fail;
    }
    any = maybe_any(ticket->ticket.data, ticket->ticket.len);
    sql = any ? sql_from_any(any, &err) : sql_from_bytes(ticket->ticket.data,
                                                         ticket->ticket.len, &err);
    if (!sql) goto fail;
    q = start_query(fc, sql, &w, &err);
    if (!q) goto fail;
    if (clove_ipc_writer_schema_parts(w, &parts, &err) < 0) goto fail;
    if (!send_parts(fc, &parts)) goto gone;
    for (;;) {
        duckdb_data_chunk chunk = NULL;
        int r = clove_query_next(q, &chunk, &err);
        if (r < 0) goto fail;
        if (r == 0) break;
        r = clove_ipc_writer_batch_parts(w, chunk, &parts, &err);
        duckdb_destroy_data_chunk(&chunk);
        if (r < 0) goto fail;
        if (!send_parts(fc, &parts)) goto gone;
        if (call_gone(fc)) goto gone;
    }
    clove_ipc_writer_destroy(w);
    w = NULL;
    end_query(fc, q);
    q = NULL;
    send_status(fc, GRPC_STATUS_OK, "");
    goto out;

fail:
    send_err(fc, &err);
gone:
out:
    if (w) clove_ipc_writer_destroy(w);
    if (q) end_query(fc, q);
    clove_ipc_parts_dispose(&parts);
    free(sql);
    if (any) google__protobuf__any__free_unpacked(any, NULL);
    if (ticket) arrow__flight__protocol__ticket__free_unpacked(ticket, NULL);
}

/* ---- threads --------------------------------------------------------------------------- */

static bool method_is(const flight_call_t *fc, const char *name)
{
    size_t plen = strlen(METHOD_PREFIX), nlen = strlen(name);
    grpc_slice m = fc->details.method;
    return GRPC_SLICE_LENGTH(m) == plen + nlen &&
           memcmp(GRPC_SLICE_START_PTR(m), METHOD_PREFIX, plen) == 0 &&
           memcmp(GRPC_SLICE_START_PTR(m) + plen, name, nlen) == 0;
}

static void serve_call(flight_call_t *fc)
{
    /* RECV_CLOSE_ON_SERVER completes when the call is over; started first so cancellation
     * is visible to call_gone, plucked last. */
    grpc_op close_op;
    memset(&close_op, 0, sizeof(close_op));
    close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    close_op.data.recv_close_on_server.cancelled = &fc->cancelled;
    if (grpc_call_start_batch(fc->call, &close_op, 1, &fc->cancelled, NULL) != GRPC_CALL_OK) {
        clove_error(COMP, "could not start a gRPC call");
        return;
    }

    if (method_is(fc, "Handshake")) do_handshake(fc);
    else if (method_is(fc, "GetFlightInfo")) do_get_flight_info(fc);
    else if (method_is(fc, "DoGet")) do_get(fc);
    else {
        grpc_slice m = fc->details.method;
        char *msg = clove_xasprintf("method %.*s is not implemented",
                                    (int)(GRPC_SLICE_LENGTH(m) > 200 ? 200 : GRPC_SLICE_LENGTH(m)),
                                    (const char *)GRPC_SLICE_START_PTR(m));
        send_status(fc, GRPC_STATUS_UNIMPLEMENTED, msg);
        free(msg);
    }

    if (!fc->close_done)
        grpc_completion_queue_pluck(fc->cq, &fc->cancelled, gpr_inf_future(GPR_CLOCK_REALTIME),
                                    NULL);
    fc->close_done = true;
}

static void *call_thread(void *arg)
{
    flight_call_t *fc = arg;
    clove_flight_server_t *srv = fc->srv;
    clove_thread_name("flight-call");
    serve_call(fc);

    pthread_mutex_lock(&srv->mu);
    if (fc->prev) fc->prev->next = fc->next;
    else srv->calls = fc->next;
    if (fc->next) fc->next->prev = fc->prev;
    pthread_mutex_unlock(&srv->mu);
    call_free(fc);

    pthread_mutex_lock(&srv->mu);
    if (--srv->active == 0) pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

/* Refuses a call on the accepting thread: only sends a status, which does not block. */
static void refuse_call(flight_call_t *fc, grpc_status_code code, const char *msg)
{
    send_status(fc, code, msg);
    call_free(fc);
}

static void dispatch(clove_flight_server_t *srv, flight_call_t *fc)
{
    pthread_mutex_lock(&srv->mu);
    bool full = srv->active >= CLOVE_FLIGHT_MAX_CALLS;
    bool stopping = srv->stopping;
    if (!full && !stopping) {
        srv->active++;
        fc->next = srv->calls;
        if (srv->calls) srv->calls->prev = fc;
        srv->calls = fc;
    }
    pthread_mutex_unlock(&srv->mu);
    if (stopping) {
        refuse_call(fc, GRPC_STATUS_UNAVAILABLE, "the runtime is shutting down");
        return;
    }
    if (full) {
        refuse_call(fc, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many concurrent Flight calls");
        return;
    }

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int rc = pthread_create(&t, &attr, call_thread, fc);
    pthread_attr_destroy(&attr);
    if (rc == 0) return;

    clove_error(COMP, "could not start a thread for a Flight call: %s", strerror(rc));
    pthread_mutex_lock(&srv->mu);
    if (fc->prev) fc->prev->next = fc->next;
    else srv->calls = fc->next;
    if (fc->next) fc->next->prev = fc->prev;
    if (--srv->active == 0) pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->mu);
    refuse_call(fc, GRPC_STATUS_RESOURCE_EXHAUSTED, "could not start a thread for the call");
}

static void *cq_thread(void *arg)
{
    clove_flight_server_t *srv = arg;
    clove_thread_name("flight-cq");
    bool accepting = request_next(srv);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                   NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
        if (ev.type != GRPC_OP_COMPLETE) continue;
        if (ev.tag == &srv->shutdown_tag) {
            /* every call is done: nothing more can arrive on this queue */
            grpc_completion_queue_shutdown(srv->cq);
            continue;
        }
        flight_call_t *fc = ev.tag;
        if (!ev.success) { /* the server is shutting down */
            call_free(fc);
            accepting = false;
            continue;
        }
        if (accepting) accepting = request_next(srv);
        dispatch(srv, fc);
    }
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------- */

clove_flight_server_t *clove_flight_start(const char *addr, clove_engine_t *e, clove_err_t *err)
{
    grpc_init();
    clove_flight_server_t *srv = clove_xcalloc(1, sizeof(*srv));
    srv->engine = e;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->idle, NULL);

    grpc_arg args[2];
    memset(args, 0, sizeof(args));
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = CLOVE_FLIGHT_MAX_MESSAGE;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = CLOVE_FLIGHT_MAX_MESSAGE;
    grpc_channel_args chargs = {.num_args = 2, .args = args};

    srv->cq = grpc_completion_queue_create_for_next(NULL);
    srv->server = grpc_server_create(&chargs, NULL);
    grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    srv->port = grpc_server_add_http2_port(srv->server, addr, creds);
    grpc_server_credentials_release(creds);
    if (srv->port <= 0) {
        clove_err_set(err, CLOVE_EIO, "could not listen for Arrow Flight on \"%s\"", addr);
        goto fail;
    }
    grpc_server_start(srv->server);
    int rc = pthread_create(&srv->cq_thread, NULL, cq_thread, srv);
    if (rc != 0) {
        clove_err_set(err, CLOVE_EINTERNAL, "could not start the Flight thread: %s",
                      strerror(rc));
        grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->shutdown_tag);
        while (grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                   .tag != &srv->shutdown_tag) {
        }
        goto fail;
    }
    return srv;

fail:
    grpc_server_destroy(srv->server);
    grpc_completion_queue_shutdown(srv->cq);
    while (grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(srv->cq);
    pthread_cond_destroy(&srv->idle);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
    grpc_shutdown();
    return NULL;
}

int clove_flight_port(const clove_flight_server_t *s)
{
    return s->port;
}

void clove_flight_stop(clove_flight_server_t *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    for (flight_call_t *fc = s->calls; fc; fc = fc->next)
        if (fc->query) clove_query_cancel(fc->query);
    pthread_mutex_unlock(&s->mu);

    grpc_server_shutdown_and_notify(s->server, s->cq, &s->shutdown_tag);
    grpc_server_cancel_all_calls(s->server);

    pthread_mutex_lock(&s->mu);
    while (s->active > 0) pthread_cond_wait(&s->idle, &s->mu);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->cq_thread, NULL);

    grpc_server_destroy(s->server);
    grpc_completion_queue_destroy(s->cq);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->mu);
    free(s);
    grpc_shutdown();
}
