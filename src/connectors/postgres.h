/*
 * connectors/postgres.h: the PostgreSQL source connector (`from: postgres:[db.][schema.]table`).
 * A source is one table of one PostgreSQL database, read through libpq by the DuckDB table
 * function clove_pg_scan(id [, where_sql := ..., row_limit := ...]) with projection pushdown
 * and the filters/LIMIT the engine pushes (engine/pushdown.h, dialect postgres). Rows stream
 * with COPY ... TO STDOUT (FORMAT binary) and are decoded straight into DuckDB vectors, so a
 * scan holds one CopyData message and one DuckDB chunk at a time, whatever the table's size.
 * Each source has its own pool of connections (connection_pool_size) that drops broken
 * connections and reconnects by itself, so it recovers after PostgreSQL restarts.
 *
 * Threads: a source may be used by any number of scans at once (the pool is locked); its
 * schema is an immutable snapshot swapped under the source's lock. Error messages name the
 * host, port and dataset and never the password or the connection string.
 */
#ifndef CLOVE_POSTGRES_H
#define CLOVE_POSTGRES_H

#include <duckdb.h>

#include "common/common.h"
#include "config/config.h"
#include "engine/pushdown.h"

#define CLOVE_PG_SCAN_FN "clove_pg_scan"
#define CLOVE_PG_QUERY_FN "clove_pg_query"

typedef struct clove_pg_source clove_pg_source_t;

/* Registers clove_pg_scan with the database of conn (once per database). User SQL must never
 * reach it: the sandbox's table function allowlist leaves it out, and its where_sql is pasted
 * into PostgreSQL SQL. */
int clove_pg_register(duckdb_connection conn, clove_err_t *err);

/* Parses `from` (postgres:table, postgres:schema.table, postgres:db.schema.table; unquoted
 * parts are lower-cased, "Quoted" parts kept) and the dataset's params (pg_*,
 * connection_pool_size, unsupported_type_action). Does not connect. Returns a new source
 * registered under a fresh id, or NULL with err (CLOVE_ECONFIG) naming the dataset and the
 * parameter. A pg_pass or a password inside pg_connection_string must come from
 * ${secrets:...} (the kv entry's secret flag); a literal one is refused. */
clove_pg_source_t *clove_pg_source_create(const char *dataset, const char *from,
                                          const clove_kvlist_t *params, clove_err_t *err);

/* Closes the pool and drops the registry entry; scans still running keep their reference
 * and finish. NULL is a no-op. */
void clove_pg_source_destroy(clove_pg_source_t *s);

/* "clove_pg_scan(<id>)": the table expression the engine reads the source with (new
 * string). */
char *clove_pg_source_sql(const clove_pg_source_t *s);

/* "host:port" of the source, for messages (borrowed). */
const char *clove_pg_source_endpoint(const clove_pg_source_t *s);

/* Where the source reports what its connections find (connection refused or lost:
 * CLOVE_SOURCE_UNREACHABLE with the message naming host, port and dataset; a new connection
 * that works: CLOVE_SOURCE_REACHABLE; a scan or direct run that finds the table's columns
 * changed since the schema was read: CLOVE_SOURCE_CHANGED, the scan failing with the same
 * message instead of decoding the rows wrongly). Set once, before the source is used; cb may
 * be NULL. */
void clove_pg_source_set_events(clove_pg_source_t *s, clove_source_event_cb cb, void *ud);

/* Health probe: opens a new connection and runs SELECT 1 (the connection then joins the pool
 * when it has room). Returns 0 when PostgreSQL answered, CLOVE_EUNAVAILABLE when it could not
 * be reached (err names host, port and dataset), another code when it refused the query. */
int clove_pg_source_probe(clove_pg_source_t *s, clove_err_t *err);

/* Connects (through the pool) and reads the table's columns and their types, which the scan
 * reports from then on. Blocks for up to the connect timeout. Returns 0, or an error naming
 * host, port and dataset: CLOVE_EUNAVAILABLE when PostgreSQL cannot be reached (retry later),
 * CLOVE_ENOTFOUND when the table does not exist, CLOVE_EUNSUPPORTED when a column type cannot
 * be mapped and unsupported_type_action is error. */
int clove_pg_source_load_schema(clove_pg_source_t *s, clove_err_t *err);

/* Asks PostgreSQL (one catalog query on a pooled connection) whether the table's columns
 * are still those of the loaded schema; when they are not, loads the new ones (as
 * clove_pg_source_load_schema) and sets *changed. Returns 0 or the errors of
 * clove_pg_source_load_schema. */
int clove_pg_source_check_columns(clove_pg_source_t *s, bool *changed, clove_err_t *err);

/* The columns of the loaded schema as the pushdown module wants them (names as DuckDB shows
 * them, PostgreSQL names as sources, kinds by type). Returns a new array of *n entries whose
 * strings are owned by it; free with clove_pg_pushdown_cols_free. NULL when no schema is
 * loaded. */
clove_pushdown_col_t *clove_pg_source_pushdown_cols(clove_pg_source_t *s, size_t *n);
void clove_pg_pushdown_cols_free(clove_pushdown_col_t *cols, size_t n);

/* The table as PostgreSQL SQL ("schema"."table"), for whole-query pushdown (borrowed). */
const char *clove_pg_source_remote_table(const clove_pg_source_t *s);

/* Do two sources reach the same database as the same user with the same settings (so one
 * query may read both)? */
bool clove_pg_source_same_server(const clove_pg_source_t *a, const clove_pg_source_t *b);

/* An output column of a query run whole in PostgreSQL. */
typedef struct {
    const char *name;                /* the local plan's name */
    const clove_pg_source_t *source; /* non-NULL: column `col` of this source's table, decoded
                                        as clove_pg_scan decodes it */
    size_t col;
    duckdb_type type;                /* otherwise the local plan's type (the remote SQL casts
                                        to the matching PostgreSQL type) */
    uint8_t width, scale;
} clove_pg_out_t;

/* The DuckDB table expression `clove_pg_query(<id>, '<sql>', '<outputs>')` that runs
 * remote_sql (a PostgreSQL SELECT) on source s's pool and returns its rows as the given
 * outputs (new string). */
char *clove_pg_query_expr(const clove_pg_source_t *s, const char *remote_sql,
                          const clove_pg_out_t *outs, size_t n);

/* ---- direct queries -------------------------------------------------------------------------
 * A query run whole in PostgreSQL with parameters goes there without DuckDB: DuckDB would bind
 * the whole statement again for every execution (parameters in table function arguments),
 * which costs more than the query. A plan holds the PostgreSQL SELECT (parameters $1..$n, all
 * int8) and its outputs; a run sends it with the bound values (binary results, single-row
 * mode, so memory holds one row and one chunk) and decodes rows into DuckDB data chunks. */
typedef struct clove_pg_plan clove_pg_plan_t;
typedef struct clove_pg_run clove_pg_run_t;

/* Returns a new plan (immutable; destroy with clove_pg_plan_destroy), or NULL with err when an
 * output has no decoder or a source column is gone. */
clove_pg_plan_t *clove_pg_plan_create(const clove_pg_source_t *s, const char *remote_sql,
                                      size_t nparams, const clove_pg_out_t *outs, size_t n,
                                      clove_err_t *err);
void clove_pg_plan_destroy(clove_pg_plan_t *p);
size_t clove_pg_plan_ncols(const clove_pg_plan_t *p);
size_t clove_pg_plan_nparams(const clove_pg_plan_t *p);
const char *clove_pg_plan_name(const clove_pg_plan_t *p, size_t col);          /* borrows */
duckdb_logical_type clove_pg_plan_type(const clove_pg_plan_t *p, size_t col);  /* borrows */

/* Starts a run: values[i] is the text of $i+1 (NULL for SQL NULL). Returns NULL with err
 * naming host, port and dataset. */
clove_pg_run_t *clove_pg_run_start(const clove_pg_plan_t *p, const char *const *values,
                                   clove_err_t *err);
/* Next chunk (1, *out set: caller destroys), 0 at the end, negative with err. Waits for
 * PostgreSQL in slices of 20 ms and gives up (cancelling the query, CLOVE_ECANCELED) as soon
 * as stop(ud) returns true (stop may be NULL). */
int clove_pg_run_next(clove_pg_run_t *r, duckdb_data_chunk *out, bool (*stop)(void *ud),
                      void *ud, clove_err_t *err);
void clove_pg_run_end(clove_pg_run_t *r); /* cancels what is left; NULL is a no-op */

#endif
