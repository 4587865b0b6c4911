/*
 * grpc_echo_server: the bare gRPC peer of the flight benchmark. A gRPC core server on
 * 127.0.0.1 (insecure, port chosen by the kernel, printed on stdout) whose every unary call
 * (flightc echo calls /bench.Echo/Echo) is answered with its own request message and status
 * OK, in one batch. /bench.Echo/Stream2 answers the shape of a one-row Flight DoGet the way
 * cloved sends it: initial metadata in the batch that receives the request, then the request
 * twice (the first with GRPC_WRITE_BUFFER_HINT, the second with the status), i.e. the
 * transport floor of a DoGet (two messages need two writes). One thread drives one
 * completion queue with a small state machine per call; nothing but the transport is
 * measured. Stops on SIGTERM/SIGINT.
 *
 *   grpc_echo_server [--port 0]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdbool.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "bench_util.h"

#define PROG "grpc_echo_server"

typedef struct {
    int state; /* 0 waiting for a call, 1 reading its request, 2 answering; Stream2: 3 reading
                  (metadata sent), 4 first message sent */
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_byte_buffer *msg;
    grpc_byte_buffer *first; /* Stream2: the first answer, kept until its batch completes */
    int cancelled;
} ecall_t;

static volatile sig_atomic_t stop;
static grpc_server *server;
static grpc_completion_queue *cq;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void request_call(void)
{
    ecall_t *e = calloc(1, sizeof *e);
    if (!e) bench_die(PROG, "out of memory");
    grpc_call_details_init(&e->details);
    grpc_metadata_array_init(&e->md);
    if (grpc_server_request_call(server, &e->call, &e->details, &e->md, cq, cq, e) !=
        GRPC_CALL_OK)
        bench_die(PROG, "grpc_server_request_call failed");
}

static void free_call(ecall_t *e)
{
    if (e->call) grpc_call_unref(e->call);
    if (e->msg) grpc_byte_buffer_destroy(e->msg);
    if (e->first) grpc_byte_buffer_destroy(e->first);
    grpc_call_details_destroy(&e->details);
    grpc_metadata_array_destroy(&e->md);
    free(e);
}

static void step(ecall_t *e, bool ok)
{
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    switch (e->state) {
    case 0: {
        if (!ok) { /* shutting down */
            free_call(e);
            return;
        }
        request_call(); /* the next one */
        grpc_slice m = e->details.method;
        bool stream2 = GRPC_SLICE_LENGTH(m) == 19 &&
                       !memcmp(GRPC_SLICE_START_PTR(m), "/bench.Echo/Stream2", 19);
        size_t n = 0;
        if (stream2) ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        e->state = stream2 ? 3 : 1;
        ops[n].op = GRPC_OP_RECV_MESSAGE;
        ops[n++].data.recv_message.recv_message = &e->msg;
        if (grpc_call_start_batch(e->call, ops, n, e, NULL) != GRPC_CALL_OK) free_call(e);
        return;
    }
    case 3: { /* Stream2: the request arrived; the first answer waits for the second */
        if (!ok || !e->msg) {
            e->state = 1; /* answer INVALID_ARGUMENT below */
            step(e, false);
            return;
        }
        e->state = 4;
        e->first = grpc_byte_buffer_copy(e->msg);
        ops[0].op = GRPC_OP_SEND_MESSAGE;
        ops[0].flags = GRPC_WRITE_BUFFER_HINT;
        ops[0].data.send_message.send_message = e->first;
        if (grpc_call_start_batch(e->call, ops, 1, e, NULL) != GRPC_CALL_OK) free_call(e);
        return;
    }
    case 4: { /* Stream2: the second answer and the status */
        e->state = 2;
        static const char details_ok[] = "";
        grpc_slice details = grpc_slice_from_static_string(details_ok);
        ops[0].op = GRPC_OP_SEND_MESSAGE;
        ops[0].data.send_message.send_message = e->msg;
        ops[1].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[1].data.recv_close_on_server.cancelled = &e->cancelled;
        ops[2].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[2].data.send_status_from_server.status = ok ? GRPC_STATUS_OK : GRPC_STATUS_INTERNAL;
        ops[2].data.send_status_from_server.status_details = &details;
        if (grpc_call_start_batch(e->call, ops, 3, e, NULL) != GRPC_CALL_OK) free_call(e);
        return;
    }
    case 1: {
        e->state = 2;
        static const char details_ok[] = "";
        grpc_slice details = grpc_slice_from_static_string(details_ok);
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[1].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[1].data.recv_close_on_server.cancelled = &e->cancelled;
        ops[2].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[2].data.send_status_from_server.status = ok && e->msg ? GRPC_STATUS_OK
                                                                 : GRPC_STATUS_INVALID_ARGUMENT;
        ops[2].data.send_status_from_server.status_details = &details;
        size_t n = 3;
        if (ok && e->msg) {
            ops[3].op = GRPC_OP_SEND_MESSAGE;
            ops[3].data.send_message.send_message = e->msg;
            n = 4;
        }
        if (grpc_call_start_batch(e->call, ops, n, e, NULL) != GRPC_CALL_OK) free_call(e);
        return;
    }
    default:
        free_call(e);
    }
}

int main(int argc, char **argv)
{
    int port = (int)bench_opt_ll(argc, argv, "--port", 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    grpc_init();
    cq = grpc_completion_queue_create_for_next(NULL);
    server = grpc_server_create(NULL, NULL);
    grpc_server_register_completion_queue(server, cq, NULL);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int bound = grpc_server_add_http2_port(server, addr, creds);
    grpc_server_credentials_release(creds);
    if (bound <= 0) bench_die(PROG, "could not listen on %s", addr);
    grpc_server_start(server);
    request_call();
    printf("%d\n", bound);
    fflush(stdout);
    while (!stop) {
        gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                       gpr_time_from_millis(100, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(cq, dl, NULL);
        if (ev.type == GRPC_OP_COMPLETE) step(ev.tag, ev.success != 0);
    }
    static int shutdown_tag;
    grpc_server_shutdown_and_notify(server, cq, &shutdown_tag);
    grpc_server_cancel_all_calls(server);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type != GRPC_OP_COMPLETE) break;
        if (ev.tag == &shutdown_tag) break;
        step(ev.tag, false);
    }
    grpc_server_destroy(server);
    grpc_completion_queue_shutdown(cq);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
        if (ev.type == GRPC_OP_COMPLETE && ev.tag != &shutdown_tag) step(ev.tag, false);
    }
    grpc_completion_queue_destroy(cq);
    grpc_shutdown();
    return 0;
}
