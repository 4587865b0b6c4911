/*
 * flight: the Arrow Flight SQL server (gRPC core, protobuf-c messages generated from
 * proto/Flight.proto and proto/FlightSql.proto). Serves Handshake (a random bearer token),
 * GetFlightInfo for Flight SQL CommandStatementQuery, and DoGet of the returned ticket (or of
 * raw UTF-8 SQL), streaming query results as Arrow IPC FlightData. Every other method answers
 * UNIMPLEMENTED.
 *
 * Threads: one completion-queue thread ("flight-cq") accepts calls and never runs a query;
 * each accepted call runs on its own short-lived thread ("flight-call", at most
 * CLOVE_FLIGHT_MAX_CALLS at once, more are refused with RESOURCE_EXHAUSTED) that drives the
 * call synchronously on a private completion queue and holds one engine query at a time.
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
