/*
 * The Flight server: a gRPC core server served by a bounded pool of call threads in the
 * leader/followers pattern. One thread at a time (the leader) waits for the next call on the
 * server's completion queue; the call it receives it serves itself, after handing the
 * leader's role to an idle thread (or a new one), so accepting never waits on a query and a
 * call costs no thread hand-off. A call runs as straight-line code (receive, query, send,
 * status), each batch plucked from the serving thread's own completion queue, so a slow
 * query or a slow reader only ever holds its own thread. Methods are told apart by their
 * path, e.g. "/arrow.flight.protocol.FlightService/DoGet".
 */
#include "flight/flight.h"

#include <errno.h>
#include <limits.h>
#include <strings.h>
#include <time.h>
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
#include "flight/flight_int.h"
#include "google/protobuf/any.pb-c.h"

#define COMP "flight"

#define METHOD_PREFIX "/arrow.flight.protocol.FlightService/"
#define TYPE_TICKET_STATEMENT FLIGHT_SQL_TYPE_PREFIX "TicketStatementQuery"
#define TYPE_CREATE_PREPARED_RESULT FLIGHT_SQL_TYPE_PREFIX "ActionCreatePreparedStatementResult"

typedef struct flight_call flight_call_t;

typedef struct worker worker_t;

struct clove_flight_server {
    grpc_server *server;
    grpc_completion_queue *cq;      /* notifications of new calls and of the shutdown; read by
                                       the leader only, then by clove_flight_stop */
    clove_engine_t *engine;         /* borrowed */
    flight_pstmts_t *pstmts;        /* prepared statement handles (own lock) */
    flight_auth_t *auth;            /* API keys; NULL when auth is off */
    int port;
    size_t max_message;             /* runtime.flight.max_message_size */
    int shutdown_tag;               /* its address tags the server's shutdown notification */

    pthread_mutex_t mu;             /* guards threads, busy, has_leader, followers, stopping,
                                       shutdown_seen, calls and each call's query */
    pthread_cond_t idle;            /* signaled when threads drops to 0 */
    int threads;                    /* call threads alive (leader, serving or following) */
    int busy;                       /* call threads serving a call */
    bool has_leader;                /* a thread waits for the next call, or has been named to */
    worker_t *followers;            /* idle call threads waiting to lead, most recent first */
    bool stopping;
    bool shutdown_seen;             /* a leader consumed the shutdown notification */
    flight_call_t *calls;           /* calls with a running thread */
};

/* One call, from grpc_server_request_call until its thread ends. */
struct flight_call {
    clove_flight_server_t *srv;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_completion_queue *cq;      /* the serving thread's pluck queue (borrowed): only this
                                       call's batches complete on it while it runs */
    bool md_sent;                   /* initial metadata went out */
    bool close_done;                /* the RECV_CLOSE_ON_SERVER batch completed */
    int cancelled;                  /* set by RECV_CLOSE_ON_SERVER */
    int key;                        /* the API key the call proved (flight_auth_check) */
    grpc_byte_buffer *held;         /* the last message, not sent yet (see queue_message) */
    bool held_soon;                 /* the message after held follows at once (queue_message) */
    grpc_byte_buffer *sending;      /* the message being sent (its batch is tagged &sending) */
    clove_query_t *query;           /* the running query, guarded by srv->mu */
    flight_call_t *prev, *next;
};

/* ---- call plumbing ------------------------------------------------------------------- */

static flight_call_t *call_new(clove_flight_server_t *srv, grpc_completion_queue *cq)
{
    flight_call_t *fc = clove_xcalloc(1, sizeof(*fc));
    fc->srv = srv;
    fc->cq = cq;
    grpc_call_details_init(&fc->details);
    grpc_metadata_array_init(&fc->md);
    return fc;
}

/* Every batch the call started has been plucked by now, so its thread's queue is empty. */
static void call_free(flight_call_t *fc)
{
    if (fc->call) grpc_call_unref(fc->call);
    grpc_call_details_destroy(&fc->details);
    grpc_metadata_array_destroy(&fc->md);
    free(fc);
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

/* Receives one message: 1 with *out set (caller frees), 0 when the client sent no more,
 * -1 when the call failed. early_md: the initial metadata goes out in the same batch, so
 * that its write overlaps the work before the answer (see do_get). */
static int recv_bytes(flight_call_t *fc, grpc_slice *out, bool early_md)
{
    grpc_byte_buffer *bb = NULL;
    grpc_op ops[2];
    size_t n = early_md ? add_initial_md(fc, &ops[0], NULL, 0) : 0;
    memset(&ops[n], 0, sizeof(ops[n]));
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n].data.recv_message.recv_message = &bb;
    if (!run_batch(fc, ops, n + 1)) return -1;
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

/* Waits for the message in flight, if any. False when it failed (the call is gone). */
static bool wait_sent(flight_call_t *fc)
{
    if (!fc->sending) return true;
    grpc_event ev = grpc_completion_queue_pluck(fc->cq, &fc->sending,
                                                gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_byte_buffer_destroy(fc->sending);
    fc->sending = NULL;
    return ev.type == GRPC_OP_COMPLETE && ev.success;
}

/* Starts sending the held message without waiting for it (gRPC allows one send in flight):
 * the call thread prepares the next message meanwhile, and by the time it waits for this one
 * its completion is usually there, so no thread hand-off is paid per message. False when the
 * call is gone. */
static bool send_held(flight_call_t *fc)
{
    if (!wait_sent(fc)) return false;
    if (!fc->held) return true;
    grpc_op ops[2];
    size_t n = add_initial_md(fc, &ops[0], NULL, 0);
    memset(&ops[n], 0, sizeof(ops[n]));
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = fc->held;
    /* a small message whose successor follows at once waits for it in gRPC's write buffer
     * (the send completes at once): both leave in one write */
    if (fc->held_soon) ops[n].flags = GRPC_WRITE_BUFFER_HINT;
    n++;
    fc->sending = fc->held;
    fc->held = NULL;
    if (grpc_call_start_batch(fc->call, ops, n, &fc->sending, NULL) != GRPC_CALL_OK) {
        clove_error(COMP, "could not start a gRPC batch");
        grpc_byte_buffer_destroy(fc->sending);
        fc->sending = NULL;
        return false;
    }
    return true;
}

/* Sends the held message, if any, and waits until it went out. */
static bool flush_held(flight_call_t *fc)
{
    return send_held(fc) && wait_sent(fc);
}

/* Queues a message (takes bb): the one queued before starts going out now, this one waits
 * for the next message or for the status, with which it leaves in one batch. Each batch
 * waited for costs a thread hand-off inside gRPC, so a unary answer goes out with its status
 * in one batch and a stream ends with its last message and the status together. soon: the
 * caller queues the next message right after this one (a Schema before the first batch, a
 * DictionaryBatch before its RecordBatch), so this one may wait in gRPC's write buffer for
 * it instead of costing a write (and a wake-up of the client) of its own. False when the call
 * is gone. */
static bool queue_message(flight_call_t *fc, grpc_byte_buffer *bb, bool soon)
{
    if (!send_held(fc)) {
        grpc_byte_buffer_destroy(bb);
        return false;
    }
    fc->held = bb;
    fc->held_soon = soon;
    return true;
}

/* Packs msg and queues it. False when the call is gone. */
static bool send_msg(flight_call_t *fc, const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *data = malloc(len ? len : 1);
    if (!data) return false;
    protobuf_c_message_pack(msg, data);
    grpc_slice slice = grpc_slice_new(data, len, free);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    return queue_message(fc, bb, false);
}

/* Ends the call: the held message (if any) and the status, in one batch. */
static void send_status(flight_call_t *fc, grpc_status_code code, const char *message)
{
    bool sent = wait_sent(fc);
    if (!sent) code = GRPC_STATUS_CANCELLED; /* nothing more goes out: drop the held message */
    grpc_slice details = grpc_slice_from_copied_string(message ? message : "");
    grpc_op ops[3];
    size_t n = add_initial_md(fc, &ops[0], NULL, 0);
    if (fc->held && code == GRPC_STATUS_OK) {
        memset(&ops[n], 0, sizeof(ops[n]));
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = fc->held;
        n++;
    }
    memset(&ops[n], 0, sizeof(ops[n]));
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = code;
    ops[n].data.send_status_from_server.status_details = &details;
    n++;
    run_batch(fc, ops, n);
    grpc_slice_unref(details);
    if (fc->held) grpc_byte_buffer_destroy(fc->held);
    fc->held = NULL;
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

/* Starts the query. The first query of a result makes the IPC writer (*w NULL); a later one
 * (the next parameter row of a prepared statement) must answer columns of the same Arrow
 * form, since its rows go on the same stream. NULL (err filled) on failure. */
static clove_query_t *start_query(flight_call_t *fc, const char *sql, const clove_param_t *params,
                                  size_t n_params, clove_ipc_writer_t **w, clove_err_t *err)
{
    clove_query_req_t req = {.sql = sql, .params = params, .n_params = n_params,
                             .client_fd = -1, .timeout_ms = call_timeout_ms(fc)};
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
    int rc = 0;
    if (*w) {
        if (!clove_ipc_writer_accepts(*w, n, types))
            rc = clove_err_set(err, CLOVE_EINVAL, "the parameter rows give the statement's "
                               "result different column types; bind values of one type per "
                               "parameter");
    } else {
        *w = clove_ipc_writer_create_opts(clove_query_arrow_options(q), n, names, types, err);
        if (!*w) rc = err->code;
    }
    free(names);
    free(types);
    if (rc) {
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
    if (fc->srv->auth) {
        /* with API keys on, the token is a session of the key the client proved */
        if (flight_auth_check(fc->srv->auth, &fc->md, true, token) < 0) {
            send_status(fc, GRPC_STATUS_UNAUTHENTICATED,
                        "invalid or missing API key: send Basic user:KEY in the handshake, or "
                        "x-api-key metadata");
            return;
        }
    } else {
        if (RAND_bytes(raw, sizeof(raw)) != 1) {
            send_status(fc, GRPC_STATUS_INTERNAL, "could not generate a session token");
            return;
        }
        for (size_t i = 0; i < sizeof(raw); i++) snprintf(token + 2 * i, 3, "%02x", raw[i]);
    }
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
        int r = recv_bytes(fc, &in, false);
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
        /* a client may wait for this answer before its next request: send it now */
        ok = send_msg(fc, &resp.base) && flush_held(fc);
    }
    if (ok) send_status(fc, GRPC_STATUS_OK, "");
}

/* Receives the single request message of a unary or server-streaming call. */
static bool recv_request(flight_call_t *fc, grpc_slice *out, const char *what, bool early_md)
{
    int r = recv_bytes(fc, out, early_md);
    if (r < 0) return false;
    if (r == 0) {
        char *msg = clove_xasprintf("missing %s in the request", what);
        send_status(fc, GRPC_STATUS_INVALID_ARGUMENT, msg);
        free(msg);
        return false;
    }
    return true;
}

/* Lends the call one of the engine's pooled connections for internal catalog SQL: engine.h
 * has no internal-query entry point, so this starts a constant query, drains it, and borrows
 * that query's connection until end_query(fc, *q) (clove_query_connection's contract). Used
 * on this thread only; user SQL never runs on it. NULL with err filled when the engine
 * refuses (shutting down, busy). */
static duckdb_connection lease_conn(flight_call_t *fc, clove_query_t **q, clove_err_t *err)
{
    clove_query_req_t req = {.sql = "SELECT 1", .client_fd = -1,
                             .timeout_ms = call_timeout_ms(fc)};
    *q = clove_engine_query(fc->srv->engine, &req, err);
    if (!*q) return NULL;
    set_query(fc, *q);
    for (;;) {
        duckdb_data_chunk chunk = NULL;
        int r = clove_query_next(*q, &chunk, err);
        if (r < 0) {
            end_query(fc, *q);
            *q = NULL;
            return NULL;
        }
        if (r == 0) break;
        duckdb_destroy_data_chunk(&chunk);
    }
    return clove_query_connection(*q);
}

/* The encapsulated IPC schema of (names, types); empty when there are no columns or a type
 * has no Arrow form yet (parameters DuckDB cannot type before binding). */
static void schema_of(duckdb_arrow_options opts, idx_t n, const char **names,
                      duckdb_logical_type *types, clove_buf_t *out)
{
    if (n == 0) return;
    clove_err_t err;
    clove_err_clear(&err);
    for (idx_t i = 0; i < n; i++) {
        duckdb_type id = duckdb_get_type_id(types[i]);
        if (id == DUCKDB_TYPE_INVALID || id == DUCKDB_TYPE_ANY) return;
    }
    clove_ipc_writer_t *w = clove_ipc_writer_create_opts(opts, n, names, types, &err);
    if (!w) return;
    if (clove_ipc_writer_schema(w, out, &err) < 0) clove_buf_reset(out);
    clove_ipc_writer_destroy(w);
}

/* clove_engine_describe callback of a statement: its result schema into the clove_buf_t. A
 * statement with parameters cannot run without them, as DoGet would say. */
static int statement_schema_cb(void *ud, duckdb_connection conn, const clove_query_desc_t *d,
                               clove_err_t *err)
{
    if (d->nparams > 0)
        return clove_err_set(err, CLOVE_EQUERY,
                             "the query has %llu parameter(s) but none were given: use a "
                             "prepared statement and bind them with DoPut",
                             (unsigned long long)d->nparams);
    (void)conn;
    clove_ipc_writer_t *w = clove_ipc_writer_create_opts(d->arrow_options, d->ncols,
                                                         (const char *const *)d->names, d->types,
                                                         err);
    if (!w) return err->code;
    int rc = clove_ipc_writer_schema(w, ud, err);
    clove_ipc_writer_destroy(w);
    return rc;
}

/* Appends the encapsulated IPC schema of a command (statement, prepared statement or catalog
 * command) to schema, without fetching rows. Returns 0 or a negative code with err filled. */
static int describe(flight_call_t *fc, const flight_cmd_t *cmd, clove_buf_t *schema,
                    clove_err_t *err)
{
    switch (cmd->kind) {
    case FLIGHT_CMD_CATALOG: {
        meta_table_t t = {0};
        int rc = flight_catalog_build(NULL, cmd->any, &t, err);
        if (rc == 0) rc = meta_schema(&t, schema, err);
        meta_table_dispose(&t);
        return rc;
    }
    case FLIGHT_CMD_PREPARED: {
        flight_pstmt_t ps;
        int rc = flight_pstmts_get(fc->srv->pstmts, cmd->handle.data, cmd->handle.len, &ps, err);
        if (rc) return rc;
        if (ps.dataset_schema.len)
            clove_buf_append(schema, ps.dataset_schema.data, ps.dataset_schema.len);
        flight_pstmt_dispose(&ps);
        return 0;
    }
    case FLIGHT_CMD_STATEMENT: {
        /* the schema comes from preparing the statement: nothing runs until DoGet */
        clove_query_req_t req = {.sql = cmd->sql, .client_fd = -1,
                                 .timeout_ms = call_timeout_ms(fc)};
        return clove_engine_describe(fc->srv->engine, &req, statement_schema_cb, schema, err);
    }
    default:
        return clove_err_set(err, CLOVE_EUNSUPPORTED, "%s is not a command GetFlightInfo or "
                             "GetSchema serve", cmd->kind == FLIGHT_CMD_TICKET
                                                    ? "TicketStatementQuery (a DoGet ticket)"
                                                    : "CommandStatementIngest (a DoPut command)");
    }
}

/* Receives a FlightDescriptor and decodes its command; false (status sent) on failure. */
static bool recv_command(flight_call_t *fc, Arrow__Flight__Protocol__FlightDescriptor **desc,
                         flight_cmd_t *cmd)
{
    clove_err_t err;
    clove_err_clear(&err);
    grpc_slice in;
    *desc = NULL;
    memset(cmd, 0, sizeof(*cmd));
    if (!recv_request(fc, &in, "FlightDescriptor", false)) return false;
    *desc = arrow__flight__protocol__flight_descriptor__unpack(NULL, GRPC_SLICE_LENGTH(in),
                                                               GRPC_SLICE_START_PTR(in));
    grpc_slice_unref(in);
    int rc = *desc ? flight_cmd_from_descriptor(*desc, false, cmd, &err)
                   : clove_err_set(&err, CLOVE_EINVAL, "malformed FlightDescriptor");
    if (rc == 0) return true;
    send_err(fc, &err);
    return false;
}

static void free_command(Arrow__Flight__Protocol__FlightDescriptor *desc, flight_cmd_t *cmd)
{
    flight_cmd_dispose(cmd);
    if (desc) arrow__flight__protocol__flight_descriptor__free_unpacked(desc, NULL);
}

/* GetSchema: SchemaResult{schema} for any command GetFlightInfo accepts. */
static void do_get_schema(flight_call_t *fc)
{
    Arrow__Flight__Protocol__FlightDescriptor *desc;
    flight_cmd_t cmd;
    if (!recv_command(fc, &desc, &cmd)) {
        free_command(desc, &cmd);
        return;
    }
    clove_err_t err;
    clove_err_clear(&err);
    clove_buf_t schema;
    clove_buf_init(&schema);
    if (describe(fc, &cmd, &schema, &err) < 0) {
        send_err(fc, &err);
    } else {
        Arrow__Flight__Protocol__SchemaResult res = ARROW__FLIGHT__PROTOCOL__SCHEMA_RESULT__INIT;
        res.schema.data = (uint8_t *)schema.data;
        res.schema.len = schema.len;
        if (send_msg(fc, &res.base)) send_status(fc, GRPC_STATUS_OK, "");
    }
    clove_buf_dispose(&schema);
    free_command(desc, &cmd);
}

/* GetFlightInfo: the schema and one endpoint whose ticket is Any(TicketStatementQuery{SQL})
 * for a statement, or the command Any itself for catalog commands and prepared statements. */
static void do_get_flight_info(flight_call_t *fc)
{
    Arrow__Flight__Protocol__FlightDescriptor *desc;
    flight_cmd_t cmd;
    if (!recv_command(fc, &desc, &cmd)) {
        free_command(desc, &cmd);
        return;
    }
    clove_err_t err;
    clove_err_clear(&err);
    clove_buf_t schema;
    clove_buf_init(&schema);
    ProtobufCBinaryData ticket_any = {0, NULL};

    if (describe(fc, &cmd, &schema, &err) < 0) {
        send_err(fc, &err);
        goto out;
    }
    if (schema.failed) {
        clove_err_set(&err, CLOVE_ENOMEM, "out of memory encoding the result schema");
        send_err(fc, &err);
        goto out;
    }
    if (cmd.kind == FLIGHT_CMD_STATEMENT) {
        Arrow__Flight__Protocol__Sql__TicketStatementQuery tsq =
            ARROW__FLIGHT__PROTOCOL__SQL__TICKET_STATEMENT_QUERY__INIT;
        tsq.statement_handle.data = (uint8_t *)cmd.sql;
        tsq.statement_handle.len = strlen(cmd.sql);
        flight_pack_any(TYPE_TICKET_STATEMENT, &tsq.base, &ticket_any);
    } else {
        ticket_any.len = desc->cmd.len;
        ticket_any.data = clove_xmalloc(desc->cmd.len ? desc->cmd.len : 1);
        memcpy(ticket_any.data, desc->cmd.data, desc->cmd.len);
    }

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
out:
    free(ticket_any.data);
    clove_buf_dispose(&schema);
    free_command(desc, &cmd);
}

/* Appends a protobuf varint. */
static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Sends one IPC message as a FlightData without copying its body: the message is written
 * in protobuf wire form as two slices, a small prefix (data_header = field 2, then the tag
 * and length of data_body = field 1000) and the body itself, whose buffer the slice takes
 * over (gRPC frees it when the transport is done with it). False when the call is gone. */
static bool send_flight_data(flight_call_t *fc, clove_ipc_part_t *part, bool soon)
{
    size_t hlen = part->header.len, blen = clove_ipc_part_body_len(part);
    uint8_t *prefix = clove_xmalloc(hlen + 32);
    size_t n = 0;
    if (hlen) {
        prefix[n++] = (2 << 3) | 2; /* data_header, length-delimited */
        n += put_varint(prefix + n, hlen);
        memcpy(prefix + n, part->header.data, hlen);
        n += hlen;
    }
    if (blen) {
        n += put_varint(prefix + n, (1000 << 3) | 2); /* data_body */
        n += put_varint(prefix + n, blen);
    }
    grpc_slice stack_slices[18];
    size_t want = 2 + part->n_pieces;
    grpc_slice *slices = want <= 18 ? stack_slices : clove_xcalloc(want, sizeof(*slices));
    size_t nslices = 0;
    slices[nslices++] = grpc_slice_new(prefix, n, free);
    if (part->body.len) {
        size_t len = part->body.len;
        char *body = clove_buf_steal(&part->body); /* the slice owns it from here */
        slices[nslices++] = grpc_slice_new(body, len, free);
    }
    for (size_t i = 0; i < part->n_pieces; i++) { /* so do these */
        slices[nslices++] = grpc_slice_new(part->pieces[i].data, part->pieces[i].len, free);
        part->pieces[i].data = NULL;
    }
    part->n_pieces = 0;
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(slices, nslices);
    for (size_t i = 0; i < nslices; i++) grpc_slice_unref(slices[i]);
    if (slices != stack_slices) free(slices);
    return queue_message(fc, bb, soon);
}

/* Sends every part as one FlightData; clears the list. more: the caller has more parts to
 * send right away (a Schema before the first batch). False when the call is gone. */
static bool send_parts(flight_call_t *fc, clove_ipc_parts_t *parts, bool more)
{
    for (size_t i = 0; i < parts->n; i++)
        if (!send_flight_data(fc, &parts->parts[i], more || i + 1 < parts->n)) return false;
    clove_ipc_parts_reset(parts);
    return true;
}

/* A gathered RecordBatch goes out once its body reaches about this size: large enough that
 * what each message costs (a gRPC batch and completion, a wake-up and a read of the client,
 * the record batch's own framing) no longer counts, small enough to keep a call's memory
 * bounded (one batch gathering, one in flight) and the stream flowing. */
#define FLIGHT_BATCH_BYTES (1u << 20)
/* ... or once its first rows have waited this long (a slow query's rows are not held back). */
#define FLIGHT_BATCH_WAIT_NS (50 * 1000000ll)

/* Rows of several chunks gathered into one RecordBatch (clove_ipc_writer_gather). */
typedef struct {
    size_t limit;                   /* body bytes per batch (max_message_size allowing) */
    int64_t first_ns;               /* when the pending rows started */
} gather_t;

static void gather_init_limit(gather_t *g, const flight_call_t *fc)
{
    g->limit = FLIGHT_BATCH_BYTES;
    if (g->limit > fc->srv->max_message / 2) g->limit = fc->srv->max_message / 2;
    g->first_ns = 0;
}

/* Sends the pending rows as one RecordBatch. 0, -1 with err filled, or -2 when the call is
 * gone. */
static int gather_flush(flight_call_t *fc, clove_ipc_writer_t *w, clove_ipc_parts_t *parts,
                        gather_t *g, clove_err_t *err)
{
    if (!clove_ipc_writer_pending_rows(w)) return 0;
    if (clove_ipc_writer_flush_parts(w, parts, err) < 0) return -1;
    g->first_ns = 0;
    if (!send_parts(fc, parts, false) || call_gone(fc)) return -2;
    return 0;
}

/* Adds a chunk's rows to the batch being gathered, sending the batch when it is full (or has
 * waited long enough). Same returns as gather_flush. */
static int gather_chunk(flight_call_t *fc, clove_ipc_writer_t *w, duckdb_data_chunk chunk,
                        clove_ipc_parts_t *parts, gather_t *g, clove_err_t *err)
{
    size_t before = clove_ipc_writer_pending_bytes(w);
    int r = clove_ipc_writer_gather(w, chunk, g->limit, err);
    if (r == 0) { /* the batch is full: it goes first */
        r = gather_flush(fc, w, parts, g, err);
        if (r < 0) return r;
        before = 0;
        r = clove_ipc_writer_gather(w, chunk, g->limit, err);
    }
    if (r < 0) return -1;
    int64_t now = clove_mono_ns();
    if (!g->first_ns) g->first_ns = now;
    size_t after = clove_ipc_writer_pending_bytes(w);
    /* send now when the next chunk like this one would not fit */
    if (after + (after - before) > g->limit || now - g->first_ns >= FLIGHT_BATCH_WAIT_NS)
        return gather_flush(fc, w, parts, g, err);
    return 0;
}

/* Streams a catalog command's rows: one Schema and one RecordBatch FlightData. */
static void do_get_catalog(flight_call_t *fc, const Google__Protobuf__Any *any)
{
    clove_err_t err;
    clove_err_clear(&err);
    meta_table_t t = {0};
    clove_ipc_parts_t parts;
    clove_ipc_parts_init(&parts);
    clove_query_t *q = NULL;
    duckdb_connection conn = lease_conn(fc, &q, &err);
    int rc = conn ? flight_catalog_build(conn, any, &t, &err) : err.code;
    if (q) end_query(fc, q);
    if (rc == 0) rc = meta_parts(&t, &parts, &err);
    if (rc < 0) send_err(fc, &err);
    else if (send_parts(fc, &parts, false)) send_status(fc, GRPC_STATUS_OK, "");
    clove_ipc_parts_dispose(&parts);
    meta_table_dispose(&t);
}

/* DoGet: the ticket is a TicketStatementQuery, CommandStatementQuery,
 * CommandPreparedStatementQuery or catalog command Any, or raw UTF-8 SQL. Streams the Schema
 * message, then one FlightData per IPC message of each chunk. */
static void do_get(flight_call_t *fc)
{
    clove_err_t err;
    clove_err_clear(&err);
    grpc_slice in;
    /* A DoGet answers at least two messages (Schema, then batches), which need two writes
     * (a batch with initial metadata completes only once written). The initial metadata
     * goes out now, before the query runs, so that write and the client's handling of it
     * overlap the query; the Schema then waits in gRPC's write buffer for the first batch. */
    if (!recv_request(fc, &in, "Ticket", true)) return;
    Arrow__Flight__Protocol__Ticket *ticket =
        arrow__flight__protocol__ticket__unpack(NULL, GRPC_SLICE_LENGTH(in),
                                                GRPC_SLICE_START_PTR(in));
    grpc_slice_unref(in);
    flight_cmd_t cmd;
    memset(&cmd, 0, sizeof(cmd));
    flight_pstmt_t ps;
    memset(&ps, 0, sizeof(ps));
    const char *sql = NULL;
    clove_query_t *q = NULL;
    clove_ipc_writer_t *w = NULL;
    clove_ipc_parts_t parts;
    clove_ipc_parts_init(&parts);

    if (!ticket) {
        clove_err_set(&err, CLOVE_EINVAL, "malformed Ticket");
        goto fail;
    }
    if (flight_cmd_decode(ticket->ticket.data, ticket->ticket.len, true, &cmd, &err) < 0)
        goto fail;
    switch (cmd.kind) {
    case FLIGHT_CMD_CATALOG:
        do_get_catalog(fc, cmd.any);
        goto out;
    case FLIGHT_CMD_PREPARED:
        if (flight_pstmts_get(fc->srv->pstmts, cmd.handle.data, cmd.handle.len, &ps, &err))
            goto fail;
        sql = ps.sql;
        break;
    case FLIGHT_CMD_STATEMENT:
    case FLIGHT_CMD_TICKET:
        sql = cmd.sql;
        break;
    default:
        clove_err_set(&err, CLOVE_EUNSUPPORTED, "CommandStatementIngest is a DoPut command, "
                      "not a DoGet ticket");
        goto fail;
    }
    /* a prepared statement bound with several parameter rows runs once per row; the results
     * go out as one stream. Columns of the common flat types are gathered from several chunks
     * into one RecordBatch; others go out as one RecordBatch per chunk. */
    gather_t g;
    gather_init_limit(&g, fc);
    size_t runs = ps.n_rows ? ps.n_rows : 1;
    for (size_t run = 0; run < runs; run++) {
        const clove_param_t *params = ps.n_rows ? ps.params + run * ps.n_params : NULL;
        q = start_query(fc, sql, params, ps.n_rows ? ps.n_params : 0, &w, &err);
        if (!q) goto fail;
        if (run == 0) {
            if (clove_ipc_writer_schema_parts(w, &parts, &err) < 0) goto fail;
            if (!send_parts(fc, &parts, true)) goto gone;
        }
        bool gather = clove_ipc_writer_can_gather(w);
        for (;;) {
            duckdb_data_chunk chunk = NULL;
            int r = clove_query_next(q, &chunk, &err);
            if (r < 0) goto fail;
            if (r == 0) break;
            if (gather) {
                r = gather_chunk(fc, w, chunk, &parts, &g, &err);
                duckdb_destroy_data_chunk(&chunk);
                if (r == -1) goto fail;
                if (r == -2) goto gone;
                continue;
            }
            r = clove_ipc_writer_batch_parts(w, chunk, &parts, &err);
            duckdb_destroy_data_chunk(&chunk);
            if (r < 0) goto fail;
            if (!send_parts(fc, &parts, false)) goto gone;
            if (call_gone(fc)) goto gone;
        }
        end_query(fc, q);
        q = NULL;
    }
    int fr = gather_flush(fc, w, &parts, &g, &err);
    if (fr == -1) goto fail;
    if (fr == -2) goto gone;
    clove_ipc_writer_destroy(w);
    w = NULL;
    send_status(fc, GRPC_STATUS_OK, "");
    goto out;

fail:
    send_err(fc, &err);
gone:
out:
    if (w) clove_ipc_writer_destroy(w);
    if (q) end_query(fc, q);
    clove_ipc_parts_dispose(&parts);
    flight_pstmt_dispose(&ps);
    flight_cmd_dispose(&cmd);
    if (ticket) arrow__flight__protocol__ticket__free_unpacked(ticket, NULL);
}

/* ---- prepared statements ------------------------------------------------------------------ */

/* clove_engine_describe callback of CreatePreparedStatement: the result schema into
 * schemas[0] and the parameter schema (columns "1", "2", ...) into schemas[1]; either stays
 * empty when a type depends on parameter values DuckDB cannot infer before binding. */
static int prepared_schemas_cb(void *ud, duckdb_connection conn, const clove_query_desc_t *d,
                               clove_err_t *err)
{
    clove_buf_t *schemas = ud;
    (void)conn;
    schema_of(d->arrow_options, d->ncols, (const char **)d->names, d->types, &schemas[0]);
    char **pnames = clove_xcalloc(d->nparams ? d->nparams : 1, sizeof(*pnames));
    duckdb_logical_type *ptypes = clove_xcalloc(d->nparams ? d->nparams : 1, sizeof(*ptypes));
    bool known = true;
    for (idx_t i = 0; i < d->nparams; i++) {
        pnames[i] = clove_xasprintf("%llu", (unsigned long long)(i + 1));
        ptypes[i] = d->param_types[i];
        known &= ptypes[i] != NULL;
    }
    if (known) schema_of(d->arrow_options, d->nparams, (const char **)pnames, ptypes, &schemas[1]);
    for (idx_t i = 0; i < d->nparams; i++) free(pnames[i]);
    free(pnames);
    free(ptypes);
    if (schemas[0].failed || schemas[1].failed)
        return clove_err_set(err, CLOVE_ENOMEM, "out of memory encoding the statement schemas");
    return 0;
}

/* CreatePreparedStatement: the SQL is checked and prepared once by the engine to learn its
 * result and parameter schemas (nothing executes), and gets a handle. */
static int create_prepared(flight_call_t *fc, const char *sql, ProtobufCBinaryData *result,
                           clove_err_t *err)
{
    clove_buf_t schemas[2];
    clove_buf_init(&schemas[0]);
    clove_buf_init(&schemas[1]);
    clove_query_req_t req = {.sql = sql, .client_fd = -1, .timeout_ms = call_timeout_ms(fc)};
    int rc = clove_engine_describe(fc->srv->engine, &req, prepared_schemas_cb, schemas, err);
    if (rc < 0) goto out;

    char handle[FLIGHT_HANDLE_LEN + 1];
    rc = flight_pstmts_add(fc->srv->pstmts, sql, &schemas[0], handle, err);
    if (rc < 0) goto out;
    Arrow__Flight__Protocol__Sql__ActionCreatePreparedStatementResult res =
        ARROW__FLIGHT__PROTOCOL__SQL__ACTION_CREATE_PREPARED_STATEMENT_RESULT__INIT;
    res.prepared_statement_handle.data = (uint8_t *)handle;
    res.prepared_statement_handle.len = FLIGHT_HANDLE_LEN;
    res.dataset_schema.data = (uint8_t *)schemas[0].data;
    res.dataset_schema.len = schemas[0].len;
    res.parameter_schema.data = (uint8_t *)schemas[1].data;
    res.parameter_schema.len = schemas[1].len;
    flight_pack_any(TYPE_CREATE_PREPARED_RESULT, &res.base, result);
out:
    clove_buf_dispose(&schemas[0]);
    clove_buf_dispose(&schemas[1]);
    return rc;
}

/* DoAction: CreatePreparedStatement and ClosePreparedStatement. */
static void do_action(flight_call_t *fc)
{
    clove_err_t err;
    clove_err_clear(&err);
    grpc_slice in;
    if (!recv_request(fc, &in, "Action", false)) return;
    flight_action_t act;
    ProtobufCBinaryData body = {0, NULL};
    int rc = flight_action_decode(GRPC_SLICE_START_PTR(in), GRPC_SLICE_LENGTH(in), &act, &err);
    grpc_slice_unref(in);
    if (rc == 0 && act.kind == FLIGHT_ACTION_CREATE_PREPARED)
        rc = create_prepared(fc, act.sql, &body, &err);
    else if (rc == 0)
        rc = flight_pstmts_close(fc->srv->pstmts, act.handle.data, act.handle.len, &err);

    if (rc < 0) {
        send_err(fc, &err);
    } else {
        bool ok = true;
        if (body.data) {
            Arrow__Flight__Protocol__Result res = ARROW__FLIGHT__PROTOCOL__RESULT__INIT;
            res.body = body;
            ok = send_msg(fc, &res.base);
        }
        if (ok) send_status(fc, GRPC_STATUS_OK, "");
    }
    free(body.data);
    flight_action_dispose(&act);
}

static void do_list_actions(flight_call_t *fc)
{
    static const char *const actions[][2] = {
        {"CreatePreparedStatement",
         "Creates a reusable prepared statement resource on the server. Request: "
         "ActionCreatePreparedStatementRequest; result: ActionCreatePreparedStatementResult"},
        {"ClosePreparedStatement",
         "Closes a reusable prepared statement resource on the server. Request: "
         "ActionClosePreparedStatementRequest"},
    };
    grpc_slice in;
    if (!recv_request(fc, &in, "Empty", false)) return;
    grpc_slice_unref(in);
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        Arrow__Flight__Protocol__ActionType at = ARROW__FLIGHT__PROTOCOL__ACTION_TYPE__INIT;
        at.type = (char *)actions[i][0];
        at.description = (char *)actions[i][1];
        if (!send_msg(fc, &at.base)) return;
    }
    send_status(fc, GRPC_STATUS_OK, "");
}

/* ---- DoPut ------------------------------------------------------------------------------- */

typedef enum { PUT_NONE = 0, PUT_PARAMS, PUT_APPEND } put_kind_t;

/* One DoPut: what the first FlightData's descriptor asked for and what arrived since. */
typedef struct {
    put_kind_t kind;
    flight_cmd_t cmd;               /* PUT_PARAMS: cmd.handle; PUT_APPEND: cmd.table */
    flight_param_rows_t rows;       /* PUT_PARAMS: the parameter rows */
    clove_append_t *append;         /* PUT_APPEND: begun once the schema arrived */
    clove_ipc_reader_t *reader;
} put_t;

/* Reads the first FlightData's descriptor: what this DoPut is. */
static int put_start(flight_call_t *fc, const Arrow__Flight__Protocol__FlightData *fd, put_t *p,
                     clove_err_t *err)
{
    int rc = flight_cmd_from_descriptor(fd->flight_descriptor, true, &p->cmd, err);
    if (rc) return rc;
    if (p->cmd.kind == FLIGHT_CMD_PREPARED) {
        p->kind = PUT_PARAMS;
    } else if (p->cmd.kind == FLIGHT_CMD_INGEST) {
        p->kind = PUT_APPEND;
        if (!flight_auth_can_write(fc->srv->auth, fc->key))
            return clove_err_set(err, CLOVE_EPERM, "this API key is read-only: appending to "
                                 "dataset \"%.200s\" needs a key marked :rw", p->cmd.table);
    } else {
        return clove_err_set(err, CLOVE_EUNSUPPORTED, "DoPut takes CommandPreparedStatementQuery "
                             "(parameters) or CommandStatementIngest / a PATH descriptor "
                             "(appends)");
    }
    p->reader = clove_ipc_reader_create(NULL, fc->srv->max_message, err);
    return p->reader ? 0 : err->code;
}

/* Feeds one FlightData's message and consumes the rows it completes. */
static int put_message(flight_call_t *fc, const Arrow__Flight__Protocol__FlightData *fd, put_t *p,
                       clove_err_t *err)
{
    if (!fd->data_header.len) return 0; /* e.g. a descriptor-only first message */
    int rc = clove_ipc_reader_message(p->reader, fd->data_header.data, fd->data_header.len,
                                      fd->data_body.data, fd->data_body.len, err);
    if (rc == 0 && p->kind == PUT_APPEND && !p->append && clove_ipc_reader_has_schema(p->reader)) {
        idx_t n = clove_ipc_reader_column_count(p->reader);
        const char **names = clove_xcalloc(n ? n : 1, sizeof(*names));
        for (idx_t i = 0; i < n; i++) names[i] = clove_ipc_reader_column_name(p->reader, i);
        p->append = clove_engine_append_begin(fc->srv->engine, p->cmd.table, n, names,
                                              call_timeout_ms(fc), err);
        free(names);
        if (!p->append) rc = err->code;
    }
    while (rc == 0) {
        duckdb_data_chunk chunk = NULL;
        int more = clove_ipc_reader_next_chunk(p->reader, &chunk, err);
        if (more <= 0) {
            rc = more;
            break;
        }
        rc = p->kind == PUT_PARAMS ? flight_params_append_chunk(chunk, &p->rows, err)
                                   : clove_append_chunk(p->append, chunk, err);
        duckdb_destroy_data_chunk(&chunk);
    }
    return rc;
}

/* Sends one PutResult carrying msg (packed) as app_metadata, then OK. */
static void put_reply(flight_call_t *fc, const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *md = clove_xmalloc(len ? len : 1);
    protobuf_c_message_pack(msg, md);
    Arrow__Flight__Protocol__PutResult pr = ARROW__FLIGHT__PROTOCOL__PUT_RESULT__INIT;
    pr.app_metadata.data = md;
    pr.app_metadata.len = len;
    if (send_msg(fc, &pr.base)) send_status(fc, GRPC_STATUS_OK, "");
    free(md);
}

/* DoPut. With CommandPreparedStatementQuery the client's Arrow batches hold parameter rows
 * (column i = parameter i + 1), which replace the handle's bound values; every row runs the
 * statement once at DoGet. With CommandStatementIngest (or a PATH descriptor, as the Spice
 * runtime takes) the batches are appended to a dataset declared access: read_write, all or
 * nothing, and the answer is DoPutUpdateResult{record_count}. */
static void do_put(flight_call_t *fc)
{
    clove_err_t err;
    clove_err_clear(&err);
    put_t p;
    memset(&p, 0, sizeof(p));
    bool started = false;
    int rc = 0;

    for (;;) {
        grpc_slice in;
        int got = recv_bytes(fc, &in, false);
        if (got < 0) goto gone;
        if (got == 0) break;
        Arrow__Flight__Protocol__FlightData *fd =
            arrow__flight__protocol__flight_data__unpack(NULL, GRPC_SLICE_LENGTH(in),
                                                         GRPC_SLICE_START_PTR(in));
        grpc_slice_unref(in);
        if (!fd) {
            if (rc == 0) rc = clove_err_set(&err, CLOVE_EINVAL, "malformed FlightData");
            continue;
        }
        if (!started && rc == 0) {
            started = true;
            rc = put_start(fc, fd, &p, &err);
        }
        if (rc == 0) rc = put_message(fc, fd, &p, &err);
        arrow__flight__protocol__flight_data__free_unpacked(fd, NULL);
        /* after an error keep reading, so the client's writes complete, then answer */
    }
    if (rc < 0) goto fail;
    if (!started) {
        rc = clove_err_set(&err, CLOVE_EINVAL, "No flight data provided: DoPut sent no FlightData");
        goto fail;
    }
    if (p.kind == PUT_PARAMS) {
        rc = flight_pstmts_bind(fc->srv->pstmts, p.cmd.handle.data, p.cmd.handle.len, p.rows.params,
                                p.rows.n_params, p.rows.n_rows, &err);
        memset(&p.rows, 0, sizeof(p.rows));
        if (rc < 0) goto fail;
        Arrow__Flight__Protocol__Sql__DoPutPreparedStatementResult dr =
            ARROW__FLIGHT__PROTOCOL__SQL__DO_PUT_PREPARED_STATEMENT_RESULT__INIT;
        dr.prepared_statement_handle = p.cmd.handle;
        put_reply(fc, &dr.base);
        goto out;
    }
    if (!p.append) {
        rc = clove_err_set(&err, CLOVE_EINVAL, "DoPut sent no Arrow schema for dataset \"%.200s\"",
                           p.cmd.table);
        goto fail;
    }
    int64_t written = 0;
    rc = clove_append_commit(p.append, &written, &err);
    p.append = NULL;
    if (rc < 0) goto fail;
    Arrow__Flight__Protocol__Sql__DoPutUpdateResult ur =
        ARROW__FLIGHT__PROTOCOL__SQL__DO_PUT_UPDATE_RESULT__INIT;
    ur.record_count = written;
    put_reply(fc, &ur.base);
    goto out;

fail:
    send_err(fc, &err);
gone:
out:
    clove_append_abort(p.append);
    flight_param_rows_dispose(&p.rows);
    clove_ipc_reader_destroy(p.reader);
    flight_cmd_dispose(&p.cmd);
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
    else if ((fc->key = flight_auth_check(fc->srv->auth, &fc->md, false, NULL)) < 0)
        send_status(fc, GRPC_STATUS_UNAUTHENTICATED,
                    "invalid or missing API key: send authorization: Bearer TOKEN (from the "
                    "handshake) or x-api-key metadata");
    else if (method_is(fc, "GetFlightInfo")) do_get_flight_info(fc);
    else if (method_is(fc, "GetSchema")) do_get_schema(fc);
    else if (method_is(fc, "DoGet")) do_get(fc);
    else if (method_is(fc, "DoAction")) do_action(fc);
    else if (method_is(fc, "ListActions")) do_list_actions(fc);
    else if (method_is(fc, "DoPut")) do_put(fc);
    else {
        grpc_slice m = fc->details.method;
        char *msg = clove_xasprintf("method %.*s is not implemented",
                                    (int)(GRPC_SLICE_LENGTH(m) > 200 ? 200 : GRPC_SLICE_LENGTH(m)),
                                    (const char *)GRPC_SLICE_START_PTR(m));
        send_status(fc, GRPC_STATUS_UNIMPLEMENTED, msg);
        free(msg);
    }

    wait_sent(fc);
    if (fc->held) { /* the call went away before its status */
        grpc_byte_buffer_destroy(fc->held);
        fc->held = NULL;
    }
    if (!fc->close_done)
        grpc_completion_queue_pluck(fc->cq, &fc->cancelled, gpr_inf_future(GPR_CLOCK_REALTIME),
                                    NULL);
    fc->close_done = true;
}

/* A call thread (its state lives on its own stack). */
struct worker {
    pthread_cond_t cv;              /* signaled when the thread is named leader or the server
                                       stops */
    bool named;                     /* named leader by hand_lead (guarded by srv->mu) */
    grpc_completion_queue *cq;      /* pluck queue of the calls this thread serves, reused */
    worker_t *next;                 /* in srv->followers */
};

/* How long an idle call thread waits to lead before it ends. */
#define CALL_THREAD_IDLE_MS 30000

static void *call_thread(void *arg);

static void call_done(clove_flight_server_t *srv, flight_call_t *fc)
{
    pthread_mutex_lock(&srv->mu);
    if (fc->prev) fc->prev->next = fc->next;
    else srv->calls = fc->next;
    if (fc->next) fc->next->prev = fc->prev;
    pthread_mutex_unlock(&srv->mu);
    call_free(fc);
}

/* Names the next leader (srv->mu held, srv->has_leader false): the follower that went idle
 * last (warmest caches), else a new thread while fewer than CLOVE_FLIGHT_MAX_CALLS + 1 are
 * alive (the leader is not counted busy). Without one no call is requested from gRPC, which
 * holds new calls until a thread finishes its call and leads. */
static void hand_lead(clove_flight_server_t *srv)
{
    if (srv->stopping) return;
    worker_t *w = srv->followers;
    if (w) {
        srv->followers = w->next;
        w->named = true;
        srv->has_leader = true;
        pthread_cond_signal(&w->cv);
        return;
    }
    if (srv->threads > CLOVE_FLIGHT_MAX_CALLS) return;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int rc = pthread_create(&t, &attr, call_thread, srv);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        clove_error(COMP, "could not start a thread for Flight calls: %s", strerror(rc));
        return;
    }
    srv->threads++;
    srv->has_leader = true; /* the new thread starts as the leader */
}

/* Refuses a call: only sends a status, which does not block. */
static void refuse_call(flight_call_t *fc, grpc_status_code code, const char *msg)
{
    send_status(fc, code, msg);
    call_free(fc);
}

/* The leader's wait: requests the next call (bound to the thread's queue w->cq) and waits
 * for it on the server's queue. Returns the call, or NULL once the server shuts down. */
static flight_call_t *accept_call(clove_flight_server_t *srv, worker_t *w)
{
    flight_call_t *fc = call_new(srv, w->cq);
    grpc_call_error rc = grpc_server_request_call(srv->server, &fc->call, &fc->details, &fc->md,
                                                  w->cq, srv->cq, fc);
    if (rc != GRPC_CALL_OK) {
        clove_error(COMP, "could not wait for the next Flight call: gRPC error %d", (int)rc);
        call_free(fc);
        return NULL;
    }
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                   NULL);
        if (ev.type == GRPC_OP_COMPLETE && ev.tag == fc) {
            if (ev.success) return fc;
            call_free(fc); /* the server is shutting down: requests fail */
            return NULL;
        }
        if (ev.type == GRPC_OP_COMPLETE && ev.tag == &srv->shutdown_tag) {
            /* every call is over; clove_flight_stop must not wait for this again */
            pthread_mutex_lock(&srv->mu);
            srv->shutdown_seen = true;
            pthread_mutex_unlock(&srv->mu);
            continue;
        }
        if (ev.type == GRPC_QUEUE_SHUTDOWN) { /* not reached: the queue outlives the threads */
            call_free(fc);
            return NULL;
        }
    }
}

/* A call thread: leads (waits for the next call) while no other thread does, serves the call
 * it receives after naming the next leader, and in between follows: waits, at most
 * CALL_THREAD_IDLE_MS, to be named leader. The thread, its queue, a warm stack, malloc arena
 * and DuckDB's per-thread caches are reused call after call; the calls themselves need no
 * thread hand-off. */
static void *call_thread(void *arg)
{
    clove_flight_server_t *srv = arg;
    clove_thread_name("flight-call");
    worker_t w;
    memset(&w, 0, sizeof(w));
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cv, &ca);
    pthread_condattr_destroy(&ca);
    w.cq = grpc_completion_queue_create_for_pluck(NULL);

    pthread_mutex_lock(&srv->mu);
    bool leading = true; /* hand_lead started this thread as the leader */
    while (!srv->stopping) {
        if (!leading) {
            /* follow: wait to be named leader */
            w.named = false;
            w.next = srv->followers;
            srv->followers = &w;
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += CALL_THREAD_IDLE_MS / 1000;
            int rc = 0;
            while (!w.named && !srv->stopping && rc != ETIMEDOUT)
                rc = pthread_cond_timedwait(&w.cv, &srv->mu, &until);
            if (!w.named) {
                for (worker_t **p = &srv->followers; *p; p = &(*p)->next) {
                    if (*p == &w) {
                        *p = w.next;
                        break;
                    }
                }
                break; /* idle too long, or stopping */
            }
            leading = true;
            continue;
        }
        pthread_mutex_unlock(&srv->mu);
        flight_call_t *fc = accept_call(srv, &w);
        pthread_mutex_lock(&srv->mu);
        if (!fc) { /* shutting down (or gRPC refused the request: the next free thread leads) */
            srv->has_leader = false;
            break;
        }
        if (srv->stopping || srv->busy >= CLOVE_FLIGHT_MAX_CALLS) {
            /* stay the leader: refusing does not block */
            bool stopping = srv->stopping;
            pthread_mutex_unlock(&srv->mu);
            if (stopping)
                refuse_call(fc, GRPC_STATUS_UNAVAILABLE, "the runtime is shutting down");
            else
                refuse_call(fc, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many concurrent Flight calls");
            pthread_mutex_lock(&srv->mu);
            continue;
        }
        srv->busy++;
        fc->next = srv->calls;
        if (srv->calls) srv->calls->prev = fc;
        srv->calls = fc;
        leading = false;
        srv->has_leader = false;
        hand_lead(srv);
        pthread_mutex_unlock(&srv->mu);

        serve_call(fc);
        call_done(srv, fc);

        pthread_mutex_lock(&srv->mu);
        srv->busy--;
        if (!srv->has_leader) { /* no thread was free to lead: this one does */
            srv->has_leader = true;
            leading = true;
        }
    }
    if (--srv->threads == 0) pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->mu);
    /* every batch of this thread's calls was plucked: the queue is empty */
    grpc_completion_queue_shutdown(w.cq);
    grpc_completion_queue_pluck(w.cq, &w, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_completion_queue_destroy(w.cq);
    pthread_cond_destroy(&w.cv);
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------- */

clove_flight_server_t *clove_flight_start(const clove_flight_opts_t *o, clove_err_t *err)
{
    if (o->client_ca_pem && !o->tls) {
        clove_err_set(err, CLOVE_EINVAL, "client certificates (mTLS) need TLS on the Flight "
                      "endpoint");
        return NULL;
    }
    clove_engine_t *e = o->engine;
    const clove_config_t *cfg = clove_engine_config(e);
    uint64_t max_msg = cfg && cfg->runtime.flight_max_message_size
                           ? cfg->runtime.flight_max_message_size : CLOVE_FLIGHT_MAX_MESSAGE;
    if (max_msg > INT_MAX) max_msg = INT_MAX;
    grpc_init();
    clove_flight_server_t *srv = clove_xcalloc(1, sizeof(*srv));
    srv->engine = e;
    srv->max_message = (size_t)max_msg;
    srv->pstmts = flight_pstmts_create();
    srv->auth = flight_auth_create(cfg);
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->idle, NULL);

    grpc_arg args[2];
    memset(args, 0, sizeof(args));
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = (int)max_msg;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = (int)max_msg;
    grpc_channel_args chargs = {.num_args = 2, .args = args};
    const char *addr = o->addr;

    srv->cq = grpc_completion_queue_create_for_next(NULL);
    srv->server = grpc_server_create(&chargs, NULL);
    grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
    grpc_server_credentials *creds;
    if (o->tls) {
        /* gRPC copies the PEM strings */
        grpc_ssl_pem_key_cert_pair pair = {.private_key = o->tls->key_pem,
                                           .cert_chain = o->tls->cert_pem};
        creds = grpc_ssl_server_credentials_create_ex(
            o->client_ca_pem, &pair, 1,
            o->client_ca_pem ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                             : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
            NULL);
    } else {
        creds = grpc_insecure_server_credentials_create();
    }
    srv->port = creds ? grpc_server_add_http2_port(srv->server, addr, creds) : 0;
    if (creds) grpc_server_credentials_release(creds);
    if (srv->port <= 0) {
        clove_err_set(err, CLOVE_EIO, "could not listen for Arrow Flight%s on \"%s\"",
                      o->tls ? " over TLS" : "", addr);
        goto fail;
    }
    grpc_server_start(srv->server);
    pthread_mutex_lock(&srv->mu);
    hand_lead(srv); /* the first call thread, which leads */
    bool started = srv->has_leader;
    pthread_mutex_unlock(&srv->mu);
    if (!started) {
        clove_err_set(err, CLOVE_EINTERNAL, "could not start the Flight call thread");
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
    flight_pstmts_destroy(srv->pstmts);
    flight_auth_destroy(srv->auth);
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

    /* the leader's requested call fails now, so it ends; followers end when signaled, call
     * threads once their (canceled) calls are over */
    pthread_mutex_lock(&s->mu);
    for (worker_t *w = s->followers; w; w = w->next) pthread_cond_signal(&w->cv);
    while (s->threads > 0) pthread_cond_wait(&s->idle, &s->mu);
    bool seen = s->shutdown_seen;
    pthread_mutex_unlock(&s->mu);
    if (!seen) {
        while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).tag !=
               &s->shutdown_tag) {
        }
    }
    grpc_completion_queue_shutdown(s->cq);
    while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }

    grpc_server_destroy(s->server);
    grpc_completion_queue_destroy(s->cq);
    flight_pstmts_destroy(s->pstmts);
    flight_auth_destroy(s->auth);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->mu);
    free(s);
    grpc_shutdown();
}
