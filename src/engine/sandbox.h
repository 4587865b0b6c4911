/*
 * sandbox: decides whether user SQL may run, before anything executes. Only one read-only
 * statement (SELECT, WITH, VALUES, EXPLAIN, DESCRIBE, SHOW, SUMMARIZE) is allowed; table
 * functions that reach files or the network, COPY, ATTACH, INSTALL/LOAD, SET/PRAGMA, DDL,
 * DML, CALL, EXPORT and multiple statements are refused with a clear message. Analysis uses
 * DuckDB's own parser (json_serialize_sql), never a hand parser; duckdb_extract_statements and
 * duckdb_prepare are not used on user SQL because they have side effects (IMPORT DATABASE is
 * expanded, reading <dir>/schema.sql, during extraction; preparing EXPORT DATABASE creates
 * its directory).
 * Also reports the table names the statement reads, so the engine can gate on dataset
 * readiness and the results cache can invalidate.
 */
#ifndef CLOVE_SANDBOX_H
#define CLOVE_SANDBOX_H

#include <duckdb.h>

#include "common/common.h"

typedef enum {
    CLOVE_STMT_SELECT = 0,    /* SELECT, WITH, VALUES, DESCRIBE, SHOW, SUMMARIZE */
    CLOVE_STMT_EXPLAIN,
} clove_stmt_kind_t;

typedef struct {
    clove_stmt_kind_t kind;
    /* Tables/views the statement reads, lower-cased, unqualified when the reference was bare
     * or qualified with spice.public / public; qualified "catalog.schema.name" (or
     * "schema.name") otherwise. CTE names in scope are not included. Sorted, no duplicates.
     * Owned by the result; freed by clove_sandbox_result_dispose. */
    char **tables;
    size_t n_tables;
} clove_sandbox_result_t;

void clove_sandbox_result_dispose(clove_sandbox_result_t *r);

/* Checks `sql` using `conn` (a connection of the engine's database; only parsing happens).
 * Returns 0 and fills *res, or CLOVE_EPERM (not allowed; message says what and why, e.g.
 * `COPY statements are not allowed: clove only runs read-only queries`), or CLOVE_EQUERY
 * (syntax error with DuckDB's message and line/column; or an empty query), or CLOVE_EINVAL
 * (NULL arguments). On failure *res is empty; res may be NULL when the tables are not needed.
 *
 * Policy (see sandbox.c for the lists):
 * - exactly one statement, counted by DuckDB's parser; EXPLAIN [ANALYZE] [(FORMAT ...)] runs
 *   only when the query inside passes the same checks;
 * - table functions: only range, generate_series, unnest, json_each, json_tree, repeat,
 *   repeat_row; scalar functions current_setting, getvariable, getenv, json_serialize_plan,
 *   nextval, setseed, write_log, which_secret, query, query_table are refused;
 * - table names that look like paths, URLs or globs ('/etc/passwd', "data.csv", data.csv)
 *   are refused, since DuckDB's replacement scans would read them as files;
 * - catalogs: spice, memory, system, temp only; other attached databases are refused, as are
 *   the system views pg_settings, duckdb_databases, pragma_database_list, duckdb_logs and
 *   pg_prepared_statements; SHOW is limited to tables, databases and DESCRIBE.
 * Runs one small query (json_serialize_sql) on `conn`, so call it on the thread that owns
 * `conn`. Prepares that query per call; clove_sandbox_create() avoids the repeated prepare. */
int clove_sandbox_check(duckdb_connection conn, const char *sql, clove_sandbox_result_t *res,
                        clove_err_t *err);

/* A checker bound to one connection that keeps the parser query prepared (saves about half of
 * the cost of a check). Borrows `conn`, which must outlive it; use it only where `conn` may be
 * used (one thread at a time). Returns NULL and fills err on failure. */
typedef struct clove_sandbox clove_sandbox_t;
clove_sandbox_t *clove_sandbox_create(duckdb_connection conn, clove_err_t *err);
/* Same contract as clove_sandbox_check. */
int clove_sandbox_run(clove_sandbox_t *sb, const char *sql, clove_sandbox_result_t *res,
                      clove_err_t *err);
void clove_sandbox_destroy(clove_sandbox_t *sb);

/* Rewrites `:name` parameters ([A-Za-z_][A-Za-z0-9_]*) to DuckDB's `$name`, leaving string
 * literals ('', E'', $tag$...$tag$), quoted identifiers, comments, `::` casts, `:=`, slices
 * (`x[a:b]`, `x[:n]`), lambdas (`lambda x:x`) and struct keys (`{'k':v}`) untouched: a ':'
 * right after an identifier, number, quote or closing bracket is never a parameter. Returns a
 * new string (caller frees), or NULL when sql is NULL. Pure; any thread. */
char *clove_sql_rewrite_named_params(const char *sql);

#endif
