/*
 * accel/sqlite_accel.h: the SQLite acceleration engine (`acceleration.engine: sqlite`).
 * A handle owns one SQLite store (a file in WAL mode, or private in-memory databases), loads
 * the rows of a DuckDB query into named tables of it, and serves them back to DuckDB through
 * the table function `clove_sqlite_scan`. Values come back exactly as they went in; see
 * src/accel/README.md for the type mapping and the concurrency design.
 *
 * Threads: every function may be called from any thread. Loads on one handle are
 * serialised (a second load waits for the first); scans never wait for loads.
 */
#ifndef CLOVE_SQLITE_ACCEL_H
#define CLOVE_SQLITE_ACCEL_H

#include <duckdb.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"

typedef struct clove_sqlite_accel clove_sqlite_accel_t;

/* Name of the DuckDB table function registered by clove_sqlite_accel_register. */
#define CLOVE_SQLITE_SCAN_FN "clove_sqlite_scan"

/* Spicepod defaults: `params.busy_timeout` (a duration, default 5000 ms) and, for mode: file
 * without `params.sqlite_file`, the file shared by every such dataset in the data directory. */
#define CLOVE_SQLITE_DEFAULT_BUSY_TIMEOUT_MS 5000
#define CLOVE_SQLITE_DEFAULT_FILE "accelerated_sqlite.db"

enum { CLOVE_SQLITE_LOAD_FULL = 0, CLOVE_SQLITE_LOAD_APPEND = 1 };
enum { CLOVE_SQLITE_CONFLICT_NONE = 0, CLOVE_SQLITE_CONFLICT_DROP = 1,
       CLOVE_SQLITE_CONFLICT_UPSERT = 2 };

/* Opens a store. path: a SQLite file (created if missing; WAL journal, synchronous=NORMAL),
 * or NULL for memory mode. busy_timeout_ms (<= 0: the default) bounds how long a file-mode
 * load waits for another process's write lock. A file that exists but is not a SQLite
 * database, or is damaged, fails here with CLOVE_EIO and a message naming the path. Tables
 * persisted in the file by an earlier run are known at once (see has_table). Returns a new
 * handle (close with clove_sqlite_accel_close) or NULL with err filled. One handle per file:
 * datasets sharing a file share the handle. */
clove_sqlite_accel_t *clove_sqlite_accel_open(const char *path, int busy_timeout_ms,
                                              clove_err_t *err);

/* Unregisters the handle (new scans of it fail with "not found") and releases it; scans
 * already running finish first, then the SQLite connections are closed. NULL is a no-op. */
void clove_sqlite_accel_close(clove_sqlite_accel_t *a);

/* The id that names this handle in clove_sqlite_scan(id, table). Unique within the process. */
int64_t clove_sqlite_accel_id(const clove_sqlite_accel_t *a);

/* Registers the table function clove_sqlite_scan in conn's database (once per database;
 * every connection of the database sees it). Returns 0 or CLOVE_EINTERNAL. */
int clove_sqlite_accel_register(duckdb_connection conn, clove_err_t *err);

/* Runs select_sql on conn (streaming, chunk by chunk, so memory stays bounded whatever the
 * size) and writes its rows to `table`:
 *   mode CLOVE_SQLITE_LOAD_FULL: the rows replace the table in one transaction (readers see
 *     the old rows or the new ones, never a mix); the table takes the query's columns.
 *   mode CLOVE_SQLITE_LOAD_APPEND: the rows are added in one transaction; the query's columns
 *     must equal the table's (names and DuckDB types), else CLOVE_EINVAL. A missing table is
 *     created.
 * pk_cols: NULL, or the primary key as a column list in SQL syntax (`"id"`, `"a", "b"`),
 *   used when the table is created. conflict says what a row with a key already held does:
 *   NONE fails the load, DROP keeps the old row, UPSERT replaces it.
 * select_sql must come from the engine (it runs as is). conn must not be used by another
 * thread meanwhile; duckdb_interrupt(conn) cancels the load (nothing changes).
 * Returns 0 and sets *rows_loaded (rows read from the query; may be NULL), or a negative
 * code with err filled: CLOVE_EQUERY (the query failed), CLOVE_EUNSUPPORTED (a column type
 * the store cannot hold), CLOVE_EINVAL, CLOVE_EIO (SQLite failed), CLOVE_ENOMEM. */
int clove_sqlite_accel_load(clove_sqlite_accel_t *a, duckdb_connection conn,
                            const char *select_sql, const char *table, int mode,
                            const char *pk_cols, int conflict, int64_t *rows_loaded,
                            clove_err_t *err);

/* True when `table` holds loaded data (after a load, or persisted in the file). */
bool clove_sqlite_accel_has_table(clove_sqlite_accel_t *a, const char *table);

/* Rows held by `table` after its last load, or -1 when there is no such table. */
int64_t clove_sqlite_accel_row_count(clove_sqlite_accel_t *a, const char *table);

/* The SELECT that shows `table` to DuckDB with its original column names and types:
 * `SELECT "a", CAST("b" AS DECIMAL(38,10)) AS "b", ... FROM clove_sqlite_scan(<id>, 't')`.
 * The engine wraps it in `CREATE OR REPLACE VIEW ... AS`, and must re-create the view after
 * a full load that changed the columns (a scan bound to the old columns then fails with a
 * clear error rather than returning wrong data). Returns a new string (caller frees) or NULL
 * with err filled (CLOVE_ENOTFOUND when the table does not exist). */
char *clove_sqlite_accel_view_sql(clove_sqlite_accel_t *a, const char *table, clove_err_t *err);

/* Whether the columns of `table` changed since the last call for that table with the same
 * `*version` (the engine keeps it per dataset; start with 0). Lets the engine re-create its
 * view only when needed. */
bool clove_sqlite_accel_schema_changed(clove_sqlite_accel_t *a, const char *table,
                                       uint64_t *version);

#endif
