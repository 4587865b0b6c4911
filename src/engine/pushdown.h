/*
 * engine/pushdown.h: pushes the filters and LIMIT of a user query into the scans that read a
 * dataset. A dataset whose data lives in a store that can filter (a SQLite acceleration, a
 * PostgreSQL table, the object listing of a partitioned S3 prefix) is read through a view of
 * the shape
 *
 *     SELECT <columns> FROM <scan_fn>(<args>)
 *
 * over a DuckDB table function written in C. DuckDB's C API gives table functions projection
 * pushdown only, so DuckDB would pull every row and filter afterwards. clove_pushdown_rewrite()
 * returns an equivalent SQL text in which each reference to such a dataset is replaced by the
 * view's own SELECT whose scan call gains `<filter_param> := '<condition>'` (and
 * `<limit_param> := n` where that is exact). The condition is written in the target's
 * *dialect*:
 *
 *   CLOVE_PUSHDOWN_SQLITE    SQLite SQL over the stored forms of src/accel/README.md;
 *   CLOVE_PUSHDOWN_POSTGRES  PostgreSQL SQL over native types (text compared COLLATE "C",
 *                            typed literals as DuckDB itself evaluates them);
 *   CLOVE_PUSHDOWN_DUCKDB    DuckDB SQL: the conjuncts as the user wrote them, kept only when
 *                            every column they read is one the target allows (e.g. the Hive
 *                            partition columns of an S3 dataset) and every function is
 *                            deterministic; column references are bare source names.
 *
 * Each column of a target states what may be pushed on it (clove_pushdown_col_kind_t).
 *
 * Soundness rule: the original WHERE stays in the query, so DuckDB re-checks every row, and a
 * pushed condition only has to keep every row the original keeps (it may keep more). A scan
 * must therefore apply the condition as a filter that may only *drop* rows for which it is
 * not TRUE; it must never rely on it being exact, except that `<limit_param>` is only given
 * when the condition is exact (the scan may then stop after that many rows pass it).
 *
 * The condition text comes from user SQL that the sandbox accepted; it is safe only where the
 * dialect says (quoted identifiers, escaped literals). A scan must paste it into its own
 * store's query (SQLite, PostgreSQL) or evaluate it in the engine's sandboxed DuckDB database
 * (DuckDB dialect), never anywhere else. Since user SQL never calls table functions (the
 * sandbox allows only a fixed list), only the engine ever passes these parameters.
 *
 * Analysis and rewriting go through DuckDB's parser only (json_serialize_sql /
 * json_deserialize_sql). The comment at the top of pushdown.c lists what is pushed per dialect.
 */
#ifndef CLOVE_PUSHDOWN_H
#define CLOVE_PUSHDOWN_H

#include <duckdb.h>

#include "accel/sqlite_accel.h"
#include "common/common.h"

typedef enum {
    CLOVE_PUSHDOWN_SQLITE = 0,
    CLOVE_PUSHDOWN_POSTGRES,
    CLOVE_PUSHDOWN_DUCKDB,
} clove_pushdown_dialect_t;

/* What may be pushed on a column. Each dialect accepts some kinds (in brackets); a target
 * whose column has a kind its dialect does not accept is refused at creation. */
typedef enum {
    CLOVE_PUSHDOWN_COL_NONE = 0, /* [all] nothing */
    CLOVE_PUSHDOWN_COL_NULLS,    /* [sqlite, postgres] only IS [NOT] NULL: SQLite text-held types
                                    (DECIMAL, DATE, ... in DuckDB's VARCHAR form), BLOB; PostgreSQL
                                    columns whose comparison differs from DuckDB's (char(n),
                                    interval, json, bytea, arrays, lossy numerics) */
    CLOVE_PUSHDOWN_COL_BOOL,     /* [sqlite, postgres] SQLite INTEGER 0/1; PostgreSQL boolean */
    CLOVE_PUSHDOWN_COL_INT,      /* [sqlite, postgres] SQLite INTEGER: TINYINT..BIGINT,
                                    UTINYINT..UINTEGER; PostgreSQL smallint, integer, bigint */
    CLOVE_PUSHDOWN_COL_UBIGINT,  /* [sqlite] INTEGER; values above INT64_MAX as an 8-byte BLOB */
    CLOVE_PUSHDOWN_COL_FLOAT,    /* [sqlite, postgres] SQLite REAL holding a FLOAT (NaN and -0.0
                                    as an 8-byte BLOB); PostgreSQL real */
    CLOVE_PUSHDOWN_COL_DOUBLE,   /* [sqlite, postgres] the same for DOUBLE; PostgreSQL double
                                    precision */
    CLOVE_PUSHDOWN_COL_TEXT,     /* [sqlite, postgres] a VARCHAR compared bytewise like DuckDB:
                                    SQLite TEXT (BINARY collation); PostgreSQL text or varchar in
                                    a UTF8 database (compared COLLATE "C") */
    CLOVE_PUSHDOWN_COL_DECIMAL,  /* [postgres] numeric(p,s) read as DECIMAL(width, scale) */
    CLOVE_PUSHDOWN_COL_DATE,     /* [postgres] date read as DATE (infinities as infinities) */
    CLOVE_PUSHDOWN_COL_TIME,     /* [postgres] time read as TIME */
    CLOVE_PUSHDOWN_COL_TIMESTAMP,   /* [postgres] timestamp read as TIMESTAMP */
    CLOVE_PUSHDOWN_COL_TIMESTAMPTZ, /* [postgres] timestamptz read as TIMESTAMPTZ */
    CLOVE_PUSHDOWN_COL_UUID,     /* [postgres] uuid read as UUID: equality and IN only */
    CLOVE_PUSHDOWN_COL_ENUM,     /* [postgres] an enum read as its label: equality and IN on
                                    the label (compared as ::text) */
    CLOVE_PUSHDOWN_COL_EXPR,     /* [duckdb] may appear in any deterministic expression */
} clove_pushdown_col_kind_t;

typedef struct {
    const char *name;   /* the column's name in the view (what queries write) */
    const char *source; /* its name in the store, written quoted into pushed conditions;
                           NULL: the same as name */
    clove_pushdown_col_kind_t kind;
    int width, scale;   /* CLOVE_PUSHDOWN_COL_DECIMAL: DuckDB's DECIMAL(width, scale) */
} clove_pushdown_col_t;

/* Everything a target needs. Strings are borrowed for the call; the target copies them. */
typedef struct {
    clove_pushdown_dialect_t dialect;
    const char *name;         /* the dataset (as queries name it: bare, public.x, spice.public.x) */
    const char *view_sql;     /* `SELECT <ncols items, or *> FROM <scan_fn>(<args>)`, nothing
                                 more (no WHERE, no modifiers) */
    const char *scan_fn;      /* the table function view_sql reads */
    const char *filter_param; /* named parameter (VARCHAR) of scan_fn taking the condition */
    const char *limit_param;  /* named parameter of scan_fn taking a row limit (an INTEGER or
                                 BIGINT literal); NULL: a LIMIT is never pushed */
    const clove_pushdown_col_t *cols; /* the view's output columns, in order */
    size_t ncols;
    const char *remote_table; /* the table in the store's own SQL (PostgreSQL:
                                 "schema"."table"), for whole-query pushdown; NULL: none */
} clove_pushdown_spec_t;

/* One dataset whose scans can take a pushed filter. Immutable once created, reference
 * counted: share it between threads, drop it with _unref. */
typedef struct clove_pushdown_target clove_pushdown_target_t;

/* Creates a target from spec. Parses view_sql on conn (any connection of the engine's
 * database, used by the calling thread only). Copies everything it needs. Returns a new
 * reference, or NULL with err filled: CLOVE_EINVAL when view_sql does not have the shape
 * above or a column's kind does not fit the dialect, CLOVE_EINTERNAL when the parser call
 * fails. */
clove_pushdown_target_t *clove_pushdown_target_create(duckdb_connection conn,
                                                      const clove_pushdown_spec_t *spec,
                                                      clove_err_t *err);

/* A SQLite target for table `table` of store `a`, exposed as dataset `name`: takes the view
 * SQL from clove_sqlite_accel_view_sql (scan clove_sqlite_scan, parameters where_sql and
 * row_limit) and each column's kind from the view (a CAST column is text-held: null checks
 * only) and its DuckDB type. Call it whenever the engine (re)creates the dataset's view, and
 * keep the result beside it. NULL with err filled on failure (CLOVE_ENOTFOUND: no such
 * table). */
clove_pushdown_target_t *clove_pushdown_target_create_sqlite(duckdb_connection conn,
                                                             clove_sqlite_accel_t *a,
                                                             const char *table,
                                                             const char *name,
                                                             clove_err_t *err);

clove_pushdown_target_t *clove_pushdown_target_ref(clove_pushdown_target_t *t);
void clove_pushdown_target_unref(clove_pushdown_target_t *t); /* NULL is a no-op */
const char *clove_pushdown_target_name(const clove_pushdown_target_t *t);
clove_pushdown_dialect_t clove_pushdown_target_dialect(const clove_pushdown_target_t *t);

/* Rewrites `sql` (already accepted by the sandbox) so that each reference to a target dataset
 * in a FROM clause (bare `name`, `public.name` or `spice.public.name`, not shadowed by a CTE)
 * that can take a filter becomes the target's view query with the filter (and limit) added,
 * under the same alias (`FROM name` stays addressable as `name`, `FROM name AS x (c1)` as `x`
 * with its column aliases). targets: borrowed, n of them (names compared case-insensitively),
 * of any mix of dialects.
 *
 * Returns 0 and sets *out to a new string (caller frees), or to NULL when nothing can be
 * pushed (use `sql` as it is). Returns a negative CLOVE_E* with err filled only when DuckDB's
 * parser could not be run; the caller should then log and use `sql` too. Parameters ($1) are
 * pushed only in PostgreSQL comparisons with integer columns: the filter argument is then a
 * DuckDB expression that prints the bound value as an integer literal (or sends no condition
 * when the value is no integer); elsewhere they stay in DuckDB. So the result depends only on
 * the SQL text, the targets and the connection's settings (TimeZone, for TIMESTAMPTZ literals)
 * and may be cached with the prepared statement. Every rewrite is verified: its SQL text must parse back to exactly the
 * rewritten tree (and a DuckDB-dialect condition to exactly its tree), else that part is not
 * pushed. Runs a few parser queries on conn: call it on the thread that owns conn. */
int clove_pushdown_rewrite(duckdb_connection conn, const char *sql,
                           clove_pushdown_target_t *const *targets, size_t n, char **out,
                           clove_err_t *err);

/* ---- whole-query pushdown (PostgreSQL) ----------------------------------------------------- */

/* One output column of a query run whole in the store. */
typedef struct {
    char *name;               /* the column's name in the local plan */
    const clove_pushdown_target_t *target; /* non-NULL: the output is column `col` of this
                                 target exactly as its scan reads it (decode it that way) */
    size_t col;
    duckdb_type type;         /* otherwise: the local plan's type, which the remote SQL casts
                                 to (BOOLEAN, SMALLINT..HUGEINT, FLOAT, DOUBLE, DECIMAL,
                                 VARCHAR, DATE, TIME, TIMESTAMP, TIMESTAMPTZ, UUID) */
    uint8_t width, scale;     /* DECIMAL */
} clove_pushdown_out_t;

/* Translates `sql` (accepted by the sandbox) into one PostgreSQL query that gives the same
 * answer, when every table it reads is one of `targets` (all of dialect postgres with a
 * remote_table, all in one database: the caller checks that) and it is built only from
 * constructs whose semantics match: one SELECT (no CTE, set operation, subquery, window,
 * parameter), joins INNER/LEFT/RIGHT/FULL ON or CROSS, WHERE/ON/HAVING from comparisons, IN,
 * BETWEEN, LIKE, IS NULL, AND/OR/NOT over columns and literals of exactly comparable types,
 * aggregates count(*), count([DISTINCT] x), sum of integers and decimals, min/max, GROUP BY,
 * DISTINCT, ORDER BY (explicit NULLS FIRST/LAST as DuckDB orders), LIMIT/OFFSET. Text compares,
 * groups and sorts COLLATE "C" (byte order, as DuckDB). Each output is cast to the PostgreSQL
 * type of the local plan's column (the query is prepared on conn to learn it).
 *
 * Parameters ($n) compared with integer columns become `$n::int8` in the remote SQL and
 * *nparams tells how many the query has (every one of them must have gone; 0: none); such a
 * query is run with PostgreSQL parameters (postgres.h, direct queries), not through DuckDB.
 *
 * Returns 0 with *remote_sql (new string), *outs (new array, free with
 * clove_pushdown_outs_free), *nouts and *nparams set, or 0 with *remote_sql NULL when the
 * query cannot go whole; negative only when the parser could not be run. Runs parser queries on conn. */
int clove_pushdown_whole(duckdb_connection conn, const char *sql,
                         clove_pushdown_target_t *const *targets, size_t n, char **remote_sql,
                         clove_pushdown_out_t **outs, size_t *nouts, size_t *nparams,
                         clove_err_t *err);
void clove_pushdown_outs_free(clove_pushdown_out_t *outs, size_t n);

/* Appends s as a PostgreSQL string constant (E'...': its escapes mean the same whatever
 * standard_conforming_strings says). */
void clove_pushdown_pg_string(clove_buf_t *b, const char *s);

#endif
