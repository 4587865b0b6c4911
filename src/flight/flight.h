/*
 * flight: the Arrow Flight SQL server (gRPC core, protobuf-c messages generated from
 * proto/Flight.proto and proto/FlightSql.proto): Handshake (API keys -> session tokens),
 * GetFlightInfo / GetSchema (statements are prepared, not run), DoGet (Flight SQL commands,
 * prepared statements, raw UTF-8 SQL tickets) streaming Arrow IPC FlightData, DoAction /
 * ListActions (prepared statements), DoPut (typed parameter rows; appends to read_write
 * datasets), over plain text, TLS or mTLS. ListFlights, PollFlightInfo and DoExchange answer
 * UNIMPLEMENTED. See src/flight/README.md and docs/flight.md.
 *
 * Threads: a pool of call threads ("flight-call", at most CLOVE_FLIGHT_MAX_CALLS serving;
 * more calls are refused with RESOURCE_EXHAUSTED) in the leader/followers pattern: one thread
 * waits for the next call, names another thread to wait in its place and serves the call it
 * received synchronously on its own completion queue, holding one engine query at a time.
 * Accepting never waits on a query; idle threads wait a while for the next call.
 */
#ifndef CLOVE_FLIGHT_H
#define CLOVE_FLIGHT_H

#include "common/common.h"
#include "common/tls.h"
#include "engine/engine.h"

/* Calls served at the same time; the engine's own connection pool bounds queries further. */
#define CLOVE_FLIGHT_MAX_CALLS 256
/* Largest gRPC message either way by default (runtime.flight.max_message_size). */
#define CLOVE_FLIGHT_MAX_MESSAGE (100 * 1024 * 1024)

typedef struct clove_flight_server clove_flight_server_t;

typedef struct {
    const char *addr;             /* "127.0.0.1:50051"; port 0 picks a free port */
    clove_engine_t *engine;       /* borrowed; must outlive the server */
    /* TLS: serve only TLS with this certificate (copied at start); NULL: plain text */
    const clove_tls_cert_t *tls;
    /* mTLS: PEM CA bundle that client certificates must chain to; with it every client must
     * present a valid certificate (needs tls). NULL: no client certificates asked for. */
    const char *client_ca_pem;
} clove_flight_opts_t;

/* Starts serving Flight (see clove_flight_opts_t; runtime.flight.max_message_size bounds
 * messages). Returns NULL and fills err (CLOVE_EIO when the address cannot be bound,
 * CLOVE_EINVAL for client_ca_pem without tls). Call from the thread that will call
 * clove_flight_stop. */
clove_flight_server_t *clove_flight_start(const clove_flight_opts_t *o, clove_err_t *err);
/* The TCP port the server listens on. */
int clove_flight_port(const clove_flight_server_t *s);
/* Cancels every call (queries running for them are canceled too), waits for their threads,
 * and frees the server. NULL is ignored. */
void clove_flight_stop(clove_flight_server_t *s);

#endif
