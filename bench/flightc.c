/*
 * flightc: the benchmarks' Arrow Flight client over gRPC core, without clove_core: it counts
 * what arrives and does not decode Arrow. One insecure channel, one pluck completion queue,
 * calls driven synchronously (as clove's own client library does).
 *
 *   flightc big  --port P --sql TEXT [--pid PID]
 *                  Handshake, GetFlightInfo(CommandStatementQuery), DoGet of each endpoint's
 *                  ticket; the FlightData messages are walked at the protobuf wire level (no
 *                  copy of the body): bytes = sum of data_header + data_body sizes, wire_bytes
 *                  = gRPC message sizes; rows = sum of the RecordBatch lengths read from the
 *                  Message flatbuffers; bad counts bodies whose size differs from the
 *                  Message's bodyLength. GB/s = bytes / (GetFlightInfo sent to stream end).
 *   flightc lat  --port P --sql TEXT [--n 2000] [--warmup 200] [--rows 1] [--ticket 1]
 *                  one channel, sequential queries (GetFlightInfo + DoGet each): p50/p99 of the
 *                  query, and p50 of each RPC; bad counts answers without exactly --rows rows.
 *                  With --ticket each query is one DoGet of the raw SQL ticket (one RPC)
 *   flightc echo --port P [--n 2000] [--warmup 200] [--rpcs 1] [--size 64] [--stream2 1]
 *                  the unary /bench.Echo/Echo of grpc_echo_server, --rpcs calls per timed
 *                  "query", a --size byte request; bad counts answers that differ from it.
 *                  With --stream2 it calls /bench.Echo/Stream2 instead, read like a DoGet
 *                  (two answers, each must equal the request)
 *
 * Results are printed as key=value pairs on one line for run.sh.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdbool.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "Flight.pb-c.h"
#include "FlightSql.pb-c.h"
#include "google/protobuf/any.pb-c.h"

#include "bench_util.h"

#define PROG        "flightc"
#define FLIGHT      "/arrow.flight.protocol.FlightService/"
#define TYPE_QUERY  "type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"
#define MAX_MESSAGE (100 * 1024 * 1024)

typedef struct {
    grpc_channel *ch;
    grpc_completion_queue *cq;
    char auth[300]; /* "Bearer TOKEN" from the Handshake, "" without */
} client_t;

static void client_open(client_t *c, int port)
{
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", port);
    grpc_init();
    grpc_arg args[2];
    memset(args, 0, sizeof args);
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = MAX_MESSAGE;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = MAX_MESSAGE;
    grpc_channel_args chargs = {.num_args = 2, .args = args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    c->ch = grpc_channel_create(target, creds, &chargs);
    grpc_channel_credentials_release(creds);
    c->cq = grpc_completion_queue_create_for_pluck(NULL);
    c->auth[0] = 0;
}

static void client_close(client_t *c)
{
    grpc_channel_destroy(c->ch);
    grpc_completion_queue_shutdown(c->cq);
    grpc_completion_queue_pluck(c->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_completion_queue_destroy(c->cq);
    grpc_shutdown();
}

static bool run_batch(client_t *c, grpc_call *call, grpc_op *ops, size_t n)
{
    if (grpc_call_start_batch(call, ops, n, ops, NULL) != GRPC_CALL_OK) return false;
    grpc_event ev = grpc_completion_queue_pluck(c->cq, ops, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                NULL);
    return ev.type == GRPC_OP_COMPLETE && ev.success;
}

static grpc_byte_buffer *bb_from(const void *data, size_t len)
{
    grpc_slice s = grpc_slice_from_copied_buffer(data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

static grpc_byte_buffer *bb_from_msg(const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    grpc_slice s = grpc_slice_malloc(len);
    protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

/* on_message(ud, bb): each answer; the callee does not destroy bb. */
typedef void (*msg_fn)(void *ud, grpc_byte_buffer *bb);

/* One call of method sending req (destroyed here). unary: every op in one batch (what a
 * unary stub does); otherwise send + initial metadata, then one batch per message, then the
 * status. Returns the gRPC status (or -1 when a batch failed); initial metadata into md. */
static int call_run(client_t *c, const char *method, grpc_byte_buffer *req, bool unary,
                    msg_fn on_message, void *ud, grpc_metadata_array *md_out, const char *basic)
{
    grpc_slice m = grpc_slice_from_static_string(method);
    grpc_call *call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq, m,
                                               NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_metadata md[1];
    size_t n_md = 0;
    memset(md, 0, sizeof md);
    if (basic || c->auth[0]) {
        md[0].key = grpc_slice_from_static_string("authorization");
        md[0].value = grpc_slice_from_static_string(basic ? basic : c->auth);
        n_md = 1;
    }
    grpc_metadata_array imd, tmd;
    grpc_metadata_array_init(&imd);
    grpc_metadata_array_init(&tmd);
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_byte_buffer *resp = NULL;
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = n_md;
    ops[0].data.send_initial_metadata.metadata = n_md ? md : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &imd;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &resp;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &tmd;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    int rc;
    if (unary) {
        rc = run_batch(c, call, ops, 6) ? (int)status : -1;
        if (rc == 0 && resp && on_message) on_message(ud, resp);
        if (resp) grpc_byte_buffer_destroy(resp);
    } else {
        bool ok = run_batch(c, call, ops, 4);
        while (ok) {
            resp = NULL;
            if (!run_batch(c, call, &ops[4], 1) || !resp) break;
            if (on_message) on_message(ud, resp);
            grpc_byte_buffer_destroy(resp);
        }
        rc = run_batch(c, call, &ops[5], 1) ? (int)status : -1;
    }
    grpc_byte_buffer_destroy(req);
    if (rc != 0) {
        fprintf(stderr, "%s: %s: status %d: %.*s\n", PROG, method, rc,
                (int)GRPC_SLICE_LENGTH(details), (const char *)GRPC_SLICE_START_PTR(details));
    }
    if (md_out) { /* hand the initial metadata over */
        *md_out = imd;
    } else {
        grpc_metadata_array_destroy(&imd);
    }
    grpc_metadata_array_destroy(&tmd);
    grpc_slice_unref(details);
    grpc_call_unref(call);
    return rc;
}

/* Handshake (no API key): keeps the bearer token if the server sends one. UNIMPLEMENTED is
 * fine. */
static void handshake(client_t *c)
{
    Arrow__Flight__Protocol__HandshakeRequest hr = ARROW__FLIGHT__PROTOCOL__HANDSHAKE_REQUEST__INIT;
    grpc_metadata_array md;
    int rc = call_run(c, FLIGHT "Handshake", bb_from_msg(&hr.base), false, NULL, NULL, &md, NULL);
    if (rc != 0 && rc != GRPC_STATUS_UNIMPLEMENTED) bench_die(PROG, "Handshake failed (%d)", rc);
    for (size_t i = 0; i < md.count; i++) {
        grpc_slice k = md.metadata[i].key, v = md.metadata[i].value;
        if (GRPC_SLICE_LENGTH(k) == 13 && !memcmp(GRPC_SLICE_START_PTR(k), "authorization", 13) &&
            GRPC_SLICE_LENGTH(v) < sizeof c->auth)
            snprintf(c->auth, sizeof c->auth, "%.*s", (int)GRPC_SLICE_LENGTH(v),
                     (const char *)GRPC_SLICE_START_PTR(v));
    }
    grpc_metadata_array_destroy(&md);
}

/* ---- GetFlightInfo ------------------------------------------------------------------------- */

static grpc_byte_buffer *descriptor_for(const char *sql)
{
    Arrow__Flight__Protocol__Sql__CommandStatementQuery cmd =
        ARROW__FLIGHT__PROTOCOL__SQL__COMMAND_STATEMENT_QUERY__INIT;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    Arrow__Flight__Protocol__FlightDescriptor desc =
        ARROW__FLIGHT__PROTOCOL__FLIGHT_DESCRIPTOR__INIT;
    cmd.query = (char *)sql;
    uint8_t cbuf[8192], abuf[8400];
    size_t cl = protobuf_c_message_get_packed_size(&cmd.base);
    if (cl > sizeof cbuf) bench_die(PROG, "SQL too long");
    protobuf_c_message_pack(&cmd.base, cbuf);
    any.type_url = (char *)TYPE_QUERY;
    any.value.data = cbuf;
    any.value.len = cl;
    size_t al = protobuf_c_message_pack(&any.base, abuf);
    desc.type = ARROW__FLIGHT__PROTOCOL__FLIGHT_DESCRIPTOR__DESCRIPTOR_TYPE__CMD;
    desc.cmd.data = abuf;
    desc.cmd.len = al;
    return bb_from_msg(&desc.base);
}

static void bb_read_all(grpc_byte_buffer *bb, grpc_slice *out)
{
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb)) bench_die(PROG, "unreadable message");
    *out = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
}

static void info_message(void *ud, grpc_byte_buffer *bb)
{
    Arrow__Flight__Protocol__FlightInfo **info = ud;
    grpc_slice s;
    bb_read_all(bb, &s);
    if (*info) arrow__flight__protocol__flight_info__free_unpacked(*info, NULL);
    *info = arrow__flight__protocol__flight_info__unpack(NULL, GRPC_SLICE_LENGTH(s),
                                                         GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
}

static Arrow__Flight__Protocol__FlightInfo *get_flight_info(client_t *c, const char *sql)
{
    Arrow__Flight__Protocol__FlightInfo *info = NULL;
    int rc = call_run(c, FLIGHT "GetFlightInfo", descriptor_for(sql), true, info_message, &info,
                      NULL, NULL);
    if (rc != 0 || !info) bench_die(PROG, "GetFlightInfo failed (%d)", rc);
    return info;
}

/* ---- FlightData walking ------------------------------------------------------------------- */

/* A protobuf wire walker fed slice by slice: sizes of the fields of each FlightData, the
 * data_header (the IPC Message flatbuffer, small) kept to read the row count. */
typedef struct {
    uint64_t bytes, wire_bytes, header_bytes, body_bytes, rows, messages, batches, bad;
    /* the message being walked */
    int state; /* 0 tag, 1 length, 2 payload, 3 varint value, 4 fixed */
    uint64_t varint;
    int shift;
    uint32_t field;
    uint64_t left;
    uint8_t hdr[65536];
    size_t hdr_len;
    uint64_t body_len;
} walk_t;

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int64_t rd64(const uint8_t *p)
{
    return (int64_t)((uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32);
}

/* Position of field i of the flatbuffer table at t, 0 when absent. */
static size_t fb_field(const uint8_t *b, size_t len, size_t t, int i)
{
    if (t + 4 > len) return 0;
    size_t vt = t - (size_t)(int32_t)rd32(b + t);
    if (vt + 4 > len) return 0;
    size_t vts = (size_t)(b[vt] | b[vt + 1] << 8);
    size_t o = 4 + 2 * (size_t)i;
    if (o + 2 > vts) return 0;
    size_t off = (size_t)(b[vt + o] | b[vt + o + 1] << 8);
    return off && t + off < len ? t + off : 0;
}

/* End of one FlightData: reads Message{header_type, header, bodyLength}. */
static void walk_end(walk_t *w)
{
    w->messages++;
    const uint8_t *b = w->hdr;
    size_t len = w->hdr_len;
    if (len >= 8 && rd32(b) == 0xFFFFFFFFu) { /* tolerate an encapsulation prefix */
        b += 8;
        len -= 8;
    }
    if (len >= 8) {
        size_t msg = rd32(b);
        size_t ht = fb_field(b, len, msg, 1), h = fb_field(b, len, msg, 2);
        size_t bl = fb_field(b, len, msg, 3);
        int64_t body_length = bl && bl + 8 <= len ? rd64(b + bl) : 0;
        if ((uint64_t)body_length != w->body_len) w->bad++;
        if (ht && b[ht] == 3 && h) { /* RecordBatch */
            size_t rb = h + rd32(b + h);
            size_t lf = fb_field(b, len, rb, 0);
            w->rows += lf && lf + 8 <= len ? (uint64_t)rd64(b + lf) : 0;
            w->batches++;
        }
    } else if (w->body_len) {
        w->bad++;
    }
    w->state = 0;
    w->varint = 0;
    w->shift = 0;
    w->hdr_len = 0;
    w->body_len = 0;
}

static void walk_bytes(walk_t *w, const uint8_t *p, size_t n)
{
    while (n) {
        if (w->state == 0 || w->state == 1 || w->state == 3) {
            uint8_t byte = *p++;
            n--;
            w->varint |= (uint64_t)(byte & 0x7f) << w->shift;
            w->shift += 7;
            if (byte & 0x80) continue;
            uint64_t v = w->varint;
            w->varint = 0;
            w->shift = 0;
            if (w->state == 0) {
                w->field = (uint32_t)(v >> 3);
                int wt = (int)(v & 7);
                if (wt == 2) w->state = 1;
                else if (wt == 0) w->state = 3;
                else if (wt == 1 || wt == 5) {
                    w->state = 4;
                    w->left = wt == 1 ? 8 : 4;
                } else {
                    w->bad++;
                    return;
                }
            } else if (w->state == 1) {
                w->left = v;
                if (w->field == 2 || w->field == 1000) w->bytes += v;
                if (w->field == 2) w->header_bytes += v;
                if (w->field == 1000) {
                    w->body_bytes += v;
                    w->body_len = v;
                }
                w->state = v ? 2 : 0;
            } else {
                w->state = 0;
            }
        } else { /* payload or fixed: skip, keeping the header */
            size_t k = n < w->left ? n : (size_t)w->left;
            if (w->state == 2 && w->field == 2 && w->hdr_len + k <= sizeof w->hdr) {
                memcpy(w->hdr + w->hdr_len, p, k);
                w->hdr_len += k;
            }
            p += k;
            n -= k;
            w->left -= k;
            if (!w->left) w->state = 0;
        }
    }
}

static void data_message(void *ud, grpc_byte_buffer *bb)
{
    walk_t *w = ud;
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb)) bench_die(PROG, "unreadable message");
    w->wire_bytes += grpc_byte_buffer_length(bb);
    grpc_slice *s;
    while (grpc_byte_buffer_reader_peek(&r, &s))
        walk_bytes(w, GRPC_SLICE_START_PTR(*s), GRPC_SLICE_LENGTH(*s));
    grpc_byte_buffer_reader_destroy(&r);
    if (w->state != 0) w->bad++;
    walk_end(w);
}

/* GetFlightInfo + DoGet of every endpoint; counts into w. gfi_ns: GetFlightInfo's time. */
static void run_query(client_t *c, const char *sql, walk_t *w, int64_t *gfi_ns)
{
    int64_t t0 = bench_now_ns();
    Arrow__Flight__Protocol__FlightInfo *info = get_flight_info(c, sql);
    if (gfi_ns) *gfi_ns = bench_now_ns() - t0;
    for (size_t i = 0; i < info->n_endpoint; i++) {
        if (!info->endpoint[i]->ticket) bench_die(PROG, "an endpoint without a ticket");
        int rc = call_run(c, FLIGHT "DoGet", bb_from_msg(&info->endpoint[i]->ticket->base), false,
                          data_message, w, NULL, NULL);
        if (rc != 0) bench_die(PROG, "DoGet failed (%d)", rc);
    }
    arrow__flight__protocol__flight_info__free_unpacked(info, NULL);
}

/* One DoGet whose ticket is the raw UTF-8 SQL (clove accepts it): a query in one RPC. */
static void run_ticket(client_t *c, const char *sql, walk_t *w)
{
    Arrow__Flight__Protocol__Ticket t = ARROW__FLIGHT__PROTOCOL__TICKET__INIT;
    t.ticket.data = (uint8_t *)sql;
    t.ticket.len = strlen(sql);
    int rc = call_run(c, FLIGHT "DoGet", bb_from_msg(&t.base), false, data_message, w, NULL,
                      NULL);
    if (rc != 0) bench_die(PROG, "DoGet failed (%d)", rc);
}

/* ---- modes ------------------------------------------------------------------------------- */

static int cmd_big(int argc, char **argv)
{
    int port = (int)bench_opt_ll(argc, argv, "--port", 0);
    const char *sql = bench_opt(argc, argv, "--sql", NULL);
    pid_t pid = (pid_t)bench_opt_ll(argc, argv, "--pid", 0);
    if (port <= 0 || !sql) bench_die(PROG, "big: --port and --sql are required");
    static client_t c;
    static walk_t w;
    client_open(&c, port);
    handshake(&c);
    long rss_before = pid ? bench_status_kb(pid, "VmRSS") : -1;
    int64_t gfi = 0, t0 = bench_now_ns();
    run_query(&c, sql, &w, &gfi);
    double sec = (double)(bench_now_ns() - t0) / 1e9;
    long hwm = pid ? bench_status_kb(pid, "VmHWM") : -1;
    printf("bytes=%llu header_bytes=%llu body_bytes=%llu wire_bytes=%llu messages=%llu "
           "batches=%llu rows=%llu bad=%llu sec=%.3f gfi_ms=%.1f gb_s=%.3f mrows_s=%.2f "
           "rss_before_kb=%ld hwm_kb=%ld self_hwm_kb=%ld\n",
           (unsigned long long)w.bytes, (unsigned long long)w.header_bytes,
           (unsigned long long)w.body_bytes, (unsigned long long)w.wire_bytes,
           (unsigned long long)w.messages, (unsigned long long)w.batches,
           (unsigned long long)w.rows, (unsigned long long)w.bad, sec, (double)gfi / 1e6,
           (double)w.bytes / 1e9 / sec, (double)w.rows / 1e6 / sec, rss_before, hwm,
           bench_status_kb(0, "VmHWM"));
    client_close(&c);
    return 0;
}

static void print_lat(const char *prefix, int64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, bench_cmp_i64);
    printf("%sp50_us=%.1f %sp99_us=%.1f %smean_us=%.1f %smax_us=%.1f ", prefix,
           (double)bench_pct(v, n, 0.50) / 1e3, prefix, (double)bench_pct(v, n, 0.99) / 1e3,
           prefix, bench_mean(v, n) / 1e3, prefix, (double)v[n - 1] / 1e3);
}

static int cmd_lat(int argc, char **argv)
{
    int port = (int)bench_opt_ll(argc, argv, "--port", 0);
    const char *sql = bench_opt(argc, argv, "--sql", "SELECT 1");
    long n = (long)bench_opt_ll(argc, argv, "--n", 2000);
    long warm = (long)bench_opt_ll(argc, argv, "--warmup", 200);
    uint64_t want = (uint64_t)bench_opt_ll(argc, argv, "--rows", 1);
    bool ticket = bench_opt(argc, argv, "--ticket", NULL) != NULL;
    if (port <= 0 || n <= 0) bench_die(PROG, "lat: --port is required");
    static client_t c;
    client_open(&c, port);
    handshake(&c);
    int64_t *q = calloc((size_t)n, sizeof *q), *g = calloc((size_t)n, sizeof *g),
            *d = calloc((size_t)n, sizeof *d);
    walk_t *w = malloc(sizeof *w);
    uint64_t bad = 0;
    for (long i = -warm; i < n; i++) {
        memset(w, 0, sizeof *w);
        int64_t gfi = 0, t0 = bench_now_ns();
        if (ticket) run_ticket(&c, sql, w);
        else run_query(&c, sql, w, &gfi);
        int64_t dt = bench_now_ns() - t0;
        if (w->rows != want || w->bad) bad++;
        if (i >= 0) {
            q[i] = dt;
            g[i] = gfi;
            d[i] = dt - gfi;
        }
    }
    printf("n=%ld bad=%llu ", n, (unsigned long long)bad);
    print_lat("", q, (size_t)n);
    print_lat("gfi_", g, (size_t)n);
    print_lat("doget_", d, (size_t)n);
    printf("\n");
    client_close(&c);
    return 0;
}

typedef struct {
    const uint8_t *want;
    size_t len;
    int same;                   /* answers equal to the request */
    int answers;
} echo_check_t;

static void echo_message(void *ud, grpc_byte_buffer *bb)
{
    echo_check_t *e = ud;
    grpc_slice s;
    bb_read_all(bb, &s);
    e->answers++;
    e->same += GRPC_SLICE_LENGTH(s) == e->len && !memcmp(GRPC_SLICE_START_PTR(s), e->want, e->len);
    grpc_slice_unref(s);
}

static int cmd_echo(int argc, char **argv)
{
    int port = (int)bench_opt_ll(argc, argv, "--port", 0);
    long n = (long)bench_opt_ll(argc, argv, "--n", 2000);
    long warm = (long)bench_opt_ll(argc, argv, "--warmup", 200);
    int rpcs = (int)bench_opt_ll(argc, argv, "--rpcs", 1);
    size_t size = (size_t)bench_opt_ll(argc, argv, "--size", 64);
    bool stream2 = bench_opt(argc, argv, "--stream2", NULL) != NULL;
    int want = stream2 ? 2 : 1;
    if (port <= 0 || n <= 0 || rpcs <= 0) bench_die(PROG, "echo: --port is required");
    static client_t c;
    client_open(&c, port);
    uint8_t *payload = malloc(size ? size : 1);
    for (size_t i = 0; i < size; i++) payload[i] = (uint8_t)('a' + i % 26);
    int64_t *q = calloc((size_t)n, sizeof *q);
    uint64_t bad = 0;
    for (long i = -warm; i < n; i++) {
        int64_t t0 = bench_now_ns();
        for (int k = 0; k < rpcs; k++) {
            echo_check_t e = {payload, size, 0, 0};
            int rc = call_run(&c, stream2 ? "/bench.Echo/Stream2" : "/bench.Echo/Echo",
                              bb_from(payload, size), !stream2, echo_message, &e, NULL, NULL);
            if (rc != 0 || e.same != want || e.answers != want) bad++;
        }
        if (i >= 0) q[i] = bench_now_ns() - t0;
    }
    printf("n=%ld rpcs=%d answers=%d bad=%llu ", n, rpcs, want, (unsigned long long)bad);
    print_lat("", q, (size_t)n);
    printf("\n");
    client_close(&c);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "big")) return cmd_big(argc, argv);
    if (!strcmp(cmd, "lat")) return cmd_lat(argc, argv);
    if (!strcmp(cmd, "echo")) return cmd_echo(argc, argv);
    fprintf(stderr, "usage: flightc big|lat|echo --port P [options] (see the top of flightc.c)\n");
    return 2;
}
