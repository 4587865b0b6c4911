/*
 * flight_client: an Arrow Flight SQL client over gRPC core. Connects to a Flight endpoint
 * (grpc://host:port in plain text, grpc+tls://host:port with TLS and optionally a client
 * certificate for mTLS), authenticates with the Handshake method (HTTP Basic `user:api_key`
 * in, `authorization: Bearer <token>` back, the token sent with every later call), and runs
 * statement queries: GetFlightInfo(CommandStatementQuery), then DoGet of each endpoint's
 * ticket, the FlightData stream decoded by clove's Arrow IPC reader into DuckDB data chunks
 * handed to a callback.
 *
 * Threads: a client belongs to one thread at a time (it drives its calls synchronously on a
 * private completion queue); different clients are independent. Callbacks run on the calling
 * thread, inside clove_flight_query.
 */
#ifndef CLOVE_FLIGHT_CLIENT_H
#define CLOVE_FLIGHT_CLIENT_H

#include <signal.h>

#include <duckdb.h>

#include "common/common.h"

/* Connect timeout (and deadline of the Handshake) when the options give none. */
#define CLOVE_FLIGHT_CLIENT_CONNECT_TIMEOUT_MS 10000
/* Basic auth user name sent with the API key when the options give none. */
#define CLOVE_FLIGHT_CLIENT_DEFAULT_USER "clove"

typedef struct {
    const char *api_key;            /* NULL or "": no authentication (Handshake without it) */
    const char *username;           /* Basic user with api_key; NULL: "clove" */
    const char *tls_root_cert_file; /* grpc+tls: PEM roots; NULL: gRPC's default roots */
    const char *tls_cert_file;      /* grpc+tls: client certificate chain (PEM) for mTLS */
    const char *tls_key_file;       /* grpc+tls: its private key (PEM); both or neither */
    int64_t connect_timeout_ms;     /* 0: CLOVE_FLIGHT_CLIENT_CONNECT_TIMEOUT_MS */
    /* Polled while waiting on the server (every 100 ms): when it becomes non-zero the call
     * in flight is canceled and the query returns CLOVE_ECANCELED. May be NULL. */
    const volatile sig_atomic_t *interrupted;
    /* Converts Arrow into DuckDB chunks (borrowed, must outlive the client); NULL: the
     * client opens a private in-memory DuckDB on its first result. */
    duckdb_connection conn;
} clove_flight_client_opts_t;

typedef struct clove_flight_client clove_flight_client_t;

/* Result callbacks of clove_flight_query. Each returns 0 to go on or a negative CLOVE_E* with
 * err filled to stop the query (the call is canceled and clove_flight_query returns that). */
typedef struct {
    /* Once per query, before any chunk: the result's columns. names and types are borrowed
     * for the duration of the call. May be NULL. */
    int (*schema_cb)(void *ud, idx_t ncols, const char *const *names,
                     const duckdb_logical_type *types, clove_err_t *err);
    /* Once per decoded chunk (at most 2048 rows), in stream order; the chunk is borrowed
     * (destroyed by the client after the call). May be NULL. */
    int (*chunk_cb)(void *ud, duckdb_data_chunk chunk, clove_err_t *err);
} clove_flight_result_cbs_t;

/* Checks an endpoint URL: grpc://host:port, grpc+tcp://host:port or grpc+tls://host:port
 * (port defaults to 50051, a trailing "/" is allowed). Returns 0 and, when target is not
 * NULL, sets *target to a new "host:port" string and *tls; or CLOVE_EINVAL with err filled. */
int clove_flight_parse_endpoint(const char *endpoint, char **target, bool *tls, clove_err_t *err);

/* Connects to endpoint (copied) with opts (copied; the strings may be freed afterwards) and
 * performs the Handshake, so a server that cannot be reached, a TLS failure or a rejected API
 * key shows up here. Returns a new client, or NULL with err filled: CLOVE_EINVAL for a bad
 * endpoint or unreadable certificate file, CLOVE_EIO when the server could not be reached
 * ("could not connect to clove at grpc://...: <reason>"), CLOVE_EAUTH when the key was
 * refused, or the code mapped from another gRPC status. A server without a Handshake method
 * (UNIMPLEMENTED) is accepted when no API key is given. */
clove_flight_client_t *clove_flight_connect(const char *endpoint,
                                            const clove_flight_client_opts_t *opts,
                                            clove_err_t *err);
/* Closes the channel (canceling nothing: no call is in flight between API calls) and frees
 * the client. NULL is ignored. */
void clove_flight_client_destroy(clove_flight_client_t *c);
/* The endpoint as given to connect; borrowed. */
const char *clove_flight_client_endpoint(const clove_flight_client_t *c);

/* Runs one SQL statement: GetFlightInfo(CommandStatementQuery{sql}), then DoGet of every
 * endpoint's ticket in order on this client's channel (endpoint locations are not followed).
 * Calls cbs->schema_cb once (from the first stream's Schema message, else from the
 * FlightInfo schema) and cbs->chunk_cb per chunk. Returns 0, or a negative CLOVE_E* with err
 * filled:
 *   - CLOVE_EIO: no answer from the server (could not connect, connection lost); the message
 *     says so and names the endpoint;
 *   - CLOVE_ECANCELED: opts->interrupted was raised;
 *   - a code mapped from the server's gRPC status (INVALID_ARGUMENT -> CLOVE_EQUERY,
 *     UNAUTHENTICATED -> CLOVE_EAUTH, PERMISSION_DENIED -> CLOVE_EPERM, UNAVAILABLE ->
 *     CLOVE_ENOTREADY, ...) with the server's message as err->message;
 *   - CLOVE_EINVAL / CLOVE_ETOOBIG / CLOVE_EUNSUPPORTED / CLOVE_ENOMEM: the answer could not
 *     be decoded;
 *   - whatever a callback returned.
 * clove_flight_client_last_status tells the gRPC status of the call that failed. */
int clove_flight_query(clove_flight_client_t *c, const char *sql,
                       const clove_flight_result_cbs_t *cbs, void *ud, clove_err_t *err);

/* The gRPC status code (grpc_status_code) of the last call that ended, 0 (OK) when it
 * succeeded, -1 when the last failure was local (decoding, a callback) rather than a status. */
int clove_flight_client_last_status(const clove_flight_client_t *c);
/* Routes gRPC's own log lines (e.g. "Handshake failed ..." on stderr) to clove's debug log.
 * Process-wide; for programs where the returned errors already tell the story (the CLI). */
void clove_flight_client_quiet_grpc_log(void);

/* Name of a gRPC status code ("INVALID_ARGUMENT"); "UNKNOWN" for codes out of range. */
const char *clove_flight_status_name(int code);

#endif
