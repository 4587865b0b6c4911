/*
 * engine: one DuckDB database per process, the dataset registry (federated views and
 * accelerated tables), the refresh scheduler, and the query entry point "SQL in, stream of
 * DuckDB data chunks out" shared by HTTP, Flight and (later) delegation and executors.
 *
 * Threads: clove_engine_query_* may be called from any thread; each query holds one pooled
 * DuckDB connection from start to end. Refreshes run on their own threads and connections.
 * A watchdog thread interrupts queries past their deadline or whose client went away.
 */
#ifndef CLOVE_ENGINE_H
#define CLOVE_ENGINE_H

#include <duckdb.h>

#include "common/common.h"
#include "config/config.h"

typedef struct clove_engine clove_engine_t;

typedef struct {
    const char *data_dir;        /* where file-mode accelerations live; default "<pod>/.clove/data" */
} clove_engine_opts_t;

/* Creates the engine for `cfg` (takes a new reference to it): opens DuckDB, locks down file
 * access, registers every dataset (accelerated ones start Initializing) and view. Nothing is
 * loaded until clove_engine_start. Returns NULL and fills err on failure. */
clove_engine_t *clove_engine_create(clove_config_t *cfg, const clove_engine_opts_t *opts,
                                    clove_err_t *err);
/* Checks what only the engine can check without starting anything: view SQL and
 * refresh_sql / retention_sql against the sandbox. Appends one message per problem
 * ("spicepod.yaml:L:C: views[0].sql: ...") to *msgs (caller frees each and the array).
 * Returns the number of problems. */
size_t clove_engine_validate(const clove_config_t *cfg, char ***msgs, size_t *n);
/* Starts initial loads and refresh schedules (background threads). */
int clove_engine_start(clove_engine_t *e);
/* From now on new queries fail with CLOVE_ESHUTDOWN and refreshes stop being scheduled. */
void clove_engine_begin_shutdown(clove_engine_t *e);
/* Waits until no query runs, at most timeout_ms; returns true when idle, false on timeout
 * (remaining queries are then interrupted). */
bool clove_engine_drain(clove_engine_t *e, int64_t timeout_ms);
/* Stops refresh threads, waiting at most timeout_ms; false when some are still blocked (a
 * source read that cannot be interrupted): the caller should then exit without destroy. */
bool clove_engine_stop_threads(clove_engine_t *e, int64_t timeout_ms);
/* Stops every thread and frees everything. */
void clove_engine_destroy(clove_engine_t *e);

/* Borrowed config (valid for the engine's lifetime). */
const clove_config_t *clove_engine_config(const clove_engine_t *e);

/* ---- datasets ------------------------------------------------------------------------ */

typedef enum {
    CLOVE_DS_INITIALIZING = 0,
    CLOVE_DS_READY,
    CLOVE_DS_REFRESHING,
    CLOVE_DS_ERROR,
    CLOVE_DS_SHUTDOWN,
} clove_ds_state_t;

const char *clove_ds_state_name(clove_ds_state_t s); /* "Initializing", "Ready", ... */

typedef struct {
    char *name;
    char *from;
    char *description;           /* may be NULL */
    bool accelerated;
    char *engine;                /* "arrow" | "duckdb" | "sqlite" when accelerated */
    char *refresh_mode;          /* "full" | ... when accelerated */
    clove_ds_state_t state;
    char *error;                 /* last error message, NULL if none */
    int64_t last_refresh_ms;     /* wall clock of the last successful load, 0 if never */
    int64_t rows;                /* rows held after last load, -1 unknown */
} clove_dataset_info_t;

/* Snapshot of every dataset in config order. Caller frees with clove_dataset_infos_free. */
size_t clove_engine_datasets(clove_engine_t *e, clove_dataset_info_t **out);
void clove_dataset_infos_free(clove_dataset_info_t *infos, size_t n);

/* True once every dataset has finished its initial load (successfully or not, see below):
 * accelerated datasets must have loaded once; federated datasets must be registered. */
bool clove_engine_ready(clove_engine_t *e);

/* One manual refresh's overrides (POST .../acceleration/refresh body). */
typedef struct {
    const char *refresh_sql;     /* NULL: the dataset's own */
    const char *refresh_mode;    /* NULL, "full" or "append" */
} clove_refresh_opts_t;

/* Triggers a refresh of an accelerated dataset (asynchronous); a refresh already running is
 * interrupted and this one runs instead. opts may be NULL. CLOVE_ENOTFOUND for an unknown
 * dataset, CLOVE_EINVAL when it is not accelerated or an override is invalid (message says
 * why), CLOVE_ESHUTDOWN while shutting down. */
int clove_engine_refresh(clove_engine_t *e, const char *name, const clove_refresh_opts_t *opts,
                         clove_err_t *err);
/* Replaces a dataset's refresh_sql until restart (PATCH .../acceleration); NULL restores the
 * configured one. Same errors as clove_engine_refresh. */
int clove_engine_set_refresh_sql(clove_engine_t *e, const char *name, const char *refresh_sql,
                                 clove_err_t *err);

/* ---- queries --------------------------------------------------------------------------- */

typedef enum {
    CLOVE_PARAM_NULL = 0, CLOVE_PARAM_BOOL, CLOVE_PARAM_INT, CLOVE_PARAM_DOUBLE,
    CLOVE_PARAM_STRING,
    CLOVE_PARAM_TYPED,           /* a value of an exact DuckDB type (Flight SQL parameters) */
} clove_param_kind_t;

typedef struct {
    const char *name;            /* NULL for positional ($1, $2 ... in order) */
    clove_param_kind_t kind;
    bool b;
    int64_t i;
    double d;
    const char *s;               /* CLOVE_PARAM_STRING; also the exact text of big numbers */
    /* CLOVE_PARAM_TYPED: `type` says which field holds the value and how it binds:
     *   TINYINT..BIGINT: i; UTINYINT..UBIGINT: u; HUGEINT: h; FLOAT, DOUBLE: d;
     *   DATE: i (days since 1970-01-01); TIME: i (microseconds since midnight);
     *   TIMESTAMP, TIMESTAMP_TZ: i (microseconds since the epoch, UTC);
     *   TIMESTAMP_S / _MS / _NS: i in that unit; INTERVAL: interval;
     *   DECIMAL: h (unscaled) with width and scale; UUID: h (the 128 bits, upper first);
     *   VARCHAR, BLOB: s holding len bytes (VARCHAR may hold NUL bytes). */
    duckdb_type type;
    uint64_t u;
    duckdb_hugeint h;
    duckdb_interval interval;
    uint8_t width, scale;
    size_t len;
} clove_param_t;

typedef struct {
    const char *sql;             /* NUL-terminated */
    const clove_param_t *params;
    size_t n_params;
    int client_fd;               /* socket to watch for a client disconnect, or -1 */
    int64_t timeout_ms;          /* 0 = runtime.query.timeout */
} clove_query_req_t;

typedef struct clove_query clove_query_t;

/* Checks (sandbox, readiness), prepares and starts a query; waits for a connection if all
 * are busy (bounded queue: CLOVE_EBUSY when full). Returns NULL and fills err:
 * CLOVE_EPERM / CLOVE_EQUERY (400), CLOVE_ENOTREADY (dataset still loading),
 * CLOVE_ETIMEDOUT, CLOVE_ESHUTDOWN, CLOVE_EBUSY. */
clove_query_t *clove_engine_query(clove_engine_t *e, const clove_query_req_t *req,
                                  clove_err_t *err);
idx_t clove_query_column_count(clove_query_t *q);
const char *clove_query_column_name(clove_query_t *q, idx_t col);     /* borrows */
duckdb_logical_type clove_query_column_type(clove_query_t *q, idx_t col); /* borrows */
/* Next chunk of rows: returns 1 and sets *chunk (caller destroys it with
 * duckdb_destroy_data_chunk), 0 at the end, or a negative code with err filled
 * (CLOVE_ETIMEDOUT when the deadline passed, CLOVE_ECANCELED when the client left). */
int clove_query_next(clove_query_t *q, duckdb_data_chunk *chunk, clove_err_t *err);
/* Ends the query (interrupting it if still running) and returns its connection. */
void clove_query_end(clove_query_t *q);
/* The query's DuckDB connection (borrowed; valid until clove_query_end). For reading client
 * settings such as Arrow export options on the query's thread, and, once the query's result
 * is exhausted, for internal catalog SQL of the same caller (Flight SQL metadata commands),
 * which then runs under the query's slot, timeout and cancellation. Never for user SQL. */
duckdb_connection clove_query_connection(clove_query_t *q);
/* The Arrow export options of the query's connection (borrowed, read-only; valid as long as
 * the engine, so a writer made with them may outlive the query). */
duckdb_arrow_options clove_query_arrow_options(clove_query_t *q);
/* Milliseconds since the query started. */
double clove_query_elapsed_ms(clove_query_t *q);
/* Marks the query canceled (thread-safe); the next clove_query_next fails. */
void clove_query_cancel(clove_query_t *q);

/* ---- schema without executing ---------------------------------------------------------- */

/* What a statement would answer, learned by preparing it (nothing executes). */
typedef struct {
    idx_t ncols;
    char **names;
    duckdb_logical_type *types;       /* a type may be INVALID when it depends on a parameter */
    idx_t nparams;
    duckdb_logical_type *param_types; /* NULL where DuckDB cannot infer the parameter's type */
    duckdb_arrow_options arrow_options; /* of the describing connection (as for
                                           clove_query_arrow_options) */
} clove_query_desc_t;

/* Called while the description is valid. conn (borrowed for the call, the describing
 * pooled connection) is for reading client settings such as Arrow export options, never for
 * SQL. Returns 0 or a negative CLOVE_E* with err filled. */
typedef int (*clove_describe_cb)(void *ud, duckdb_connection conn, const clove_query_desc_t *d,
                                 clove_err_t *err);

/* Checks req->sql like clove_engine_query (sandbox, readiness of every dataset it reads) and
 * prepares it on a pooled connection (the prepared statement is cached for the query that
 * usually follows) without executing it; then calls cb with its result columns and
 * parameters. Parameters in req are not bound. Returns 0, cb's result, or the errors of
 * clove_engine_query (CLOVE_EPERM, CLOVE_EQUERY, CLOVE_ENOTREADY, CLOVE_ETIMEDOUT waiting for
 * a connection, CLOVE_ESHUTDOWN, CLOVE_EBUSY). Not counted as a query execution. */
int clove_engine_describe(clove_engine_t *e, const clove_query_req_t *req,
                          clove_describe_cb cb, void *ud, clove_err_t *err);

/* ---- appends into read_write datasets ---------------------------------------------------- */

typedef struct clove_append clove_append_t;

/* Starts appending rows to an accelerated dataset declared `access: read_write`. `dataset` is
 * its name, bare or as public.<name> / spice.public.<name>; `names` (copied) are the incoming
 * columns in the order the chunks carry them, a subset of the dataset's in any order (the
 * others get NULL); chunk columns are cast to the dataset's types. Holds one pooled
 * connection (waiting up to timeout_ms, 0 = runtime.query.timeout) until commit or abort.
 * Returns NULL with err filled: CLOVE_ENOTFOUND (no such dataset), CLOVE_EPERM (not
 * read_write), CLOVE_EINVAL (not accelerated, unknown column), CLOVE_ENOTREADY (initial load
 * not done), CLOVE_ESHUTDOWN, CLOVE_EBUSY / CLOVE_ETIMEDOUT (no connection). Any thread; an
 * append belongs to one thread at a time. */
clove_append_t *clove_engine_append_begin(clove_engine_t *e, const char *dataset, idx_t ncols,
                                          const char *const *names, int64_t timeout_ms,
                                          clove_err_t *err);
/* Stages one chunk (borrowed). CLOVE_EQUERY when a value cannot be cast. */
int clove_append_chunk(clove_append_t *a, duckdb_data_chunk chunk, clove_err_t *err);
/* Writes every staged row into the acceleration in one transaction, following the dataset's
 * primary_key / on_conflict (a duplicate key without on_conflict fails the whole append), so
 * the rows are visible to the next query. *rows gets the rows written (after drop / dedup).
 * Frees a whatever the outcome. */
int clove_append_commit(clove_append_t *a, int64_t *rows, clove_err_t *err);
/* Drops the staged rows and frees a. NULL is ignored. */
void clove_append_abort(clove_append_t *a);

#endif
