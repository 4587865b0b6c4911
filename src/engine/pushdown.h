/*
 * engine/pushdown.h: pushes the filters and LIMIT of a user query into the scans of SQLite
 * accelerations. A query naming an accelerated dataset reads it through the view
 * spice.public."NAME" (SELECT ... FROM clove_sqlite_scan(id, 'NAME')), so DuckDB would pull
 * every row out of SQLite and filter afterwards. clove_pushdown_rewrite() returns an
 * equivalent SQL text in which each such reference is replaced by the view's own SELECT with
 * `where_sql := '<SQLite condition>'` (and `row_limit := n` where that is exact) added to the
 * clove_sqlite_scan call. Analysis and rewriting go through DuckDB's parser only
 * (json_serialize_sql / json_deserialize_sql); the original WHERE stays in the query, so
 * DuckDB re-checks every row and a pushed condition only has to keep every row the original
 * keeps (it may keep more). The comment at the top of pushdown.c lists what is pushed.
 */
#ifndef CLOVE_PUSHDOWN_H
#define CLOVE_PUSHDOWN_H

#include <duckdb.h>

#include "accel/sqlite_accel.h"
#include "common/common.h"

/* How a column is held in SQLite, which decides what may be compared there. */
typedef enum {
    CLOVE_PUSHDOWN_COL_NONE = 0, /* nothing is pushed */
    CLOVE_PUSHDOWN_COL_NULLS,    /* only IS [NOT] NULL: TEXT in DuckDB's own VARCHAR form
                                    (DECIMAL, DATE, TIMESTAMP, ...), INTERVAL text, BLOB */
    CLOVE_PUSHDOWN_COL_BOOL,     /* INTEGER 0/1 */
    CLOVE_PUSHDOWN_COL_INT,      /* INTEGER: TINYINT..BIGINT, UTINYINT..UINTEGER */
    CLOVE_PUSHDOWN_COL_UBIGINT,  /* INTEGER; values above INT64_MAX as an 8-byte BLOB */
    CLOVE_PUSHDOWN_COL_FLOAT,    /* REAL holding a FLOAT; NaN and -0.0 as an 8-byte BLOB */
    CLOVE_PUSHDOWN_COL_DOUBLE,   /* REAL holding a DOUBLE; NaN and -0.0 as an 8-byte BLOB */
    CLOVE_PUSHDOWN_COL_TEXT,     /* TEXT holding a VARCHAR (compared bytewise, like DuckDB) */
} clove_pushdown_col_kind_t;

typedef struct {
    const char *name;            /* the column's name in the view and in SQLite */
    clove_pushdown_col_kind_t kind;
} clove_pushdown_col_t;

/* One dataset whose scans can take a pushed filter. Immutable once created, reference
 * counted: share it between threads, drop it with _unref. */
typedef struct clove_pushdown_target clove_pushdown_target_t;

/* Describes dataset `name` read through `view_sql`, a query of the shape
 * `SELECT <col or CAST(col AS type) AS col>, ... FROM clove_sqlite_scan(<id>, '<table>')`
 * (what clove_sqlite_accel_view_sql returns), whose output columns are cols[0..ncols-1] in
 * order. Parses view_sql on conn (any connection of the engine's database, used by the calling
 * thread only). Copies everything it needs. Returns a new reference, or NULL with err filled
 * (CLOVE_EINVAL when view_sql does not have that shape, CLOVE_EINTERNAL when the parser call
 * fails). */
clove_pushdown_target_t *clove_pushdown_target_create(duckdb_connection conn, const char *name,
                                                      const char *view_sql,
                                                      const clove_pushdown_col_t *cols,
                                                      size_t ncols, clove_err_t *err);

/* The same for table `table` of SQLite store `a`, exposed as dataset `name`: takes the view SQL
 * from clove_sqlite_accel_view_sql and each column's kind from the view (a CAST column is
 * text-held: null checks only) and its DuckDB type. Call it whenever the engine (re)creates
 * the dataset's view, and keep the result beside it. NULL with err filled on failure
 * (CLOVE_ENOTFOUND: no such table). */
clove_pushdown_target_t *clove_pushdown_target_create_sqlite(duckdb_connection conn,
                                                             clove_sqlite_accel_t *a,
                                                             const char *table,
                                                             const char *name,
                                                             clove_err_t *err);

clove_pushdown_target_t *clove_pushdown_target_ref(clove_pushdown_target_t *t);
void clove_pushdown_target_unref(clove_pushdown_target_t *t); /* NULL is a no-op */
const char *clove_pushdown_target_name(const clove_pushdown_target_t *t);

/* Rewrites `sql` (already accepted by the sandbox) so that each reference to a target dataset
 * in a FROM clause (bare `name`, `public.name` or `spice.public.name`, not shadowed by a CTE)
 * that can take a filter becomes the target's view query with where_sql (and row_limit) added,
 * under the same alias (`FROM name` stays addressable as `name`, `FROM name AS x (c1)` as `x`
 * with its column aliases). targets: borrowed, n of them (names compared case-insensitively).
 *
 * Returns 0 and sets *out to a new string (caller frees), or to NULL when nothing can be
 * pushed (use `sql` as it is). Returns a negative CLOVE_E* with err filled only when DuckDB's
 * parser could not be run; the caller should then log and use `sql` too. Parameters ($1, $x)
 * are never pushed, so the result depends only on the SQL text and the targets and may be
 * cached with the prepared statement. Every rewrite is verified: its SQL text must parse back
 * to exactly the rewritten tree, else nothing is pushed. Runs a few parser queries on conn:
 * call it on the thread that owns conn. */
int clove_pushdown_rewrite(duckdb_connection conn, const char *sql,
                           clove_pushdown_target_t *const *targets, size_t n, char **out,
                           clove_err_t *err);

#endif
