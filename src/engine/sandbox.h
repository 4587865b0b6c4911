/*
 * sandbox: decides whether user SQL may run, before anything executes. Only one read-only
 * statement (SELECT, WITH, VALUES, EXPLAIN, DESCRIBE, SHOW, SUMMARIZE) is allowed; table
 * functions that reach files or the network, COPY, ATTACH, INSTALL/LOAD, SET/PRAGMA, DDL,
 * DML, CALL, EXPORT and multiple statements are refused with a clear message. Analysis uses
 * DuckDB's own parser (duckdb_extract_statements, json_serialize_sql), never a hand parser.
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
     * or qualified with spice.public / public; qualified "catalog.schema.name" otherwise.
     * CTE names are not included. */
    char **tables;
    size_t n_tables;
} clove_sandbox_result_t;

void clove_sandbox_result_dispose(clove_sandbox_result_t *r);

/* Checks `sql` using `conn` (a connection of the engine's database; only parsing happens).
 * Returns 0 and fills *res, or CLOVE_EPERM (not allowed; message says what and why, e.g.
 * `COPY statements are not allowed: clove only runs read-only queries`), or CLOVE_EQUERY
 * (syntax error; DuckDB's message). */
int clove_sandbox_check(duckdb_connection conn, const char *sql, clove_sandbox_result_t *res,
                        clove_err_t *err);

/* Rewrites `:name` parameters to DuckDB's `$name`, leaving string literals, quoted
 * identifiers, comments and `::` casts untouched. Returns a new string. */
char *clove_sql_rewrite_named_params(const char *sql);

#endif
