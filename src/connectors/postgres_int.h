/*
 * connectors/postgres_int.h: structures shared by postgres.c (sources, parameters, the
 * connection pool, schema discovery and type mapping) and postgres_scan.c (the DuckDB table
 * function and the binary COPY decoder).
 */
#ifndef CLOVE_POSTGRES_INT_H
#define CLOVE_POSTGRES_INT_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>

#include "connectors/postgres.h"

/* How a PostgreSQL value is decoded (binary COPY format) and what DuckDB type it becomes. */
typedef enum {
    PGK_BOOL,        /* boolean -> BOOLEAN */
    PGK_INT2,        /* smallint -> SMALLINT */
    PGK_INT4,        /* integer -> INTEGER */
    PGK_INT8,        /* bigint -> BIGINT */
    PGK_FLOAT4,      /* real -> FLOAT */
    PGK_FLOAT8,      /* double precision -> DOUBLE */
    PGK_NUMERIC,     /* numeric(p,s), p <= 38 -> DECIMAL(p,s) */
    PGK_TEXT,        /* text, varchar, char(n), name, "char", and any type read as ::text ->
                        VARCHAR */
    PGK_JSON,        /* json -> JSON */
    PGK_JSONB,       /* jsonb (binary: a version byte, then the text) -> JSON */
    PGK_BYTEA,       /* bytea -> BLOB */
    PGK_DATE,        /* date -> DATE */
    PGK_TIME,        /* time -> TIME */
    PGK_TIMETZ,      /* time with time zone -> TIMETZ */
    PGK_TIMESTAMP,   /* timestamp -> TIMESTAMP */
    PGK_TIMESTAMPTZ, /* timestamptz -> TIMESTAMPTZ */
    PGK_INTERVAL,    /* interval -> INTERVAL */
    PGK_UUID,        /* uuid -> UUID */
    PGK_ENUM,        /* an enum (binary: the label) -> ENUM with the labels in sort order */
    PGK_HUGEINT,     /* numeric with no fraction (a pushed-down sum) -> HUGEINT */
} pg_kind_t;

typedef struct {
    pg_kind_t kind;
    int width, scale;       /* PGK_NUMERIC */
    char **labels;          /* PGK_ENUM: in enumsortorder (the DuckDB ENUM's order) */
    uint32_t nlabels;
    uint32_t *by_bytes;     /* PGK_ENUM: label indexes sorted bytewise, for lookups */
} pg_type_t;

typedef struct {
    char *name;             /* as DuckDB shows it (PostgreSQL's, made unique) */
    char *pgname;           /* attname */
    char *pgtype;           /* format_type(), for messages */
    pg_type_t t;            /* the value, or the element of an array */
    bool is_array;          /* one-dimensional array -> LIST */
    bool as_text;           /* unsupported_type_action string: read as "col"::text */
    clove_pushdown_col_kind_t push;
    uint32_t oid;           /* the type a result column of it has (domains: the base type;
                               as_text: text), to check results against */
    int32_t typmod;
} pg_col_t;

/* The columns of a source's table. Immutable, reference counted. */
typedef struct {
    atomic_int refs;
    pg_col_t *cols;
    size_t ncols;
    char *check;            /* a PostgreSQL boolean expression, true while the table has the
                               columns (names, types, order) it had when this was read */
} pg_schema_t;

enum { UNSUPPORTED_ERROR = 0, UNSUPPORTED_WARN, UNSUPPORTED_IGNORE, UNSUPPORTED_STRING };

struct clove_pg_source {
    atomic_int refs;
    int64_t id;
    char *dataset;
    char *endpoint;          /* "host:port" for messages */
    char *dbname;            /* for messages (may be NULL: libpq's default) */
    char *qualified;         /* the table as PostgreSQL SQL: "schema"."table" or "table" */
    char *display;           /* schema.table as written, for messages */
    int unsupported;         /* UNSUPPORTED_* */
    /* libpq connection keywords and values (NULL-terminated). Values may hold the password:
     * never log them. */
    char **keys, **vals;
    int pool_max;
    clove_source_event_cb events; /* set once before the first scan (engine), or NULL */
    void *events_ud;

    pthread_mutex_t lock;    /* guards everything below */
    pthread_cond_t cond;     /* a connection came back or a slot was freed */
    PGconn **idle;           /* pool_max slots */
    int n_idle;
    int n_open;              /* idle + lent out + being opened */
    uint64_t epoch;          /* bumps when PostgreSQL was found gone: older connections
                                are dropped instead of reused */
    pg_schema_t *schema;     /* NULL until loaded */
    bool closed;
    struct pg_conn_info {    /* statements prepared on each open connection (direct runs) */
        PGconn *c;
        uint64_t *plans;
        size_t n, cap;
    } *conns;
    size_t n_conns;
};

/* postgres.c */
clove_pg_source_t *clove__pg_lookup(int64_t id);      /* new reference or NULL */
void clove__pg_source_unref(clove_pg_source_t *s);
pg_schema_t *clove__pg_schema_get(clove_pg_source_t *s); /* new reference or NULL */
void clove__pg_schema_unref(pg_schema_t *sc);
/* A pooled connection (waits while the pool is at its limit) with its epoch, or NULL with
 * err naming host, port and dataset. */
PGconn *clove__pg_acquire(clove_pg_source_t *s, uint64_t *epoch, clove_err_t *err);
/* Gives a connection back; broken ones (or ones from an older epoch, or with a transaction
 * open) are closed. `gone`: the server went away under it, so every idle connection is
 * suspect: they are closed too. */
void clove__pg_release(clove_pg_source_t *s, PGconn *c, uint64_t epoch, bool gone);
/* Tells the source's event callback (if any). */
void clove__pg_event(clove_pg_source_t *s, clove_source_event_t ev, const char *msg);
/* After a failed request on c (still held by the caller): when the connection is broken,
 * PostgreSQL is unreachable; reports it with msg (the final, user-facing message) and returns
 * true. */
bool clove__pg_lost(clove_pg_source_t *s, PGconn *c, const char *msg);
/* The source tells its event callback that its table's columns changed and says so in msg:
 * "the columns of PostgreSQL table ... changed since dataset ... read them". */
void clove__pg_columns_changed(clove_pg_source_t *s, char *msg, size_t cap);
/* Deep copy of a column (dst owns its strings and labels) and its disposal. */
void clove__pg_col_copy(pg_col_t *dst, const pg_col_t *src);
void clove__pg_col_dispose(pg_col_t *c);
/* The DuckDB type of a column (caller destroys). */
duckdb_logical_type clove__pg_col_type(const pg_col_t *c);
/* The first line of a libpq / server message, trimmed (into buf). */
const char *clove__pg_msg(const char *m, char *buf, size_t cap);

/* Has plan `plan` been prepared on connection c (held by the caller)? Mark it so. Forgetting
 * happens when the pool closes c. When a connection holds too many, `reset` is set: the caller
 * deallocates them all and calls clove__pg_prepared_reset. */
bool clove__pg_prepared(clove_pg_source_t *s, PGconn *c, uint64_t plan);
void clove__pg_mark_prepared(clove_pg_source_t *s, PGconn *c, uint64_t plan, bool *reset);
void clove__pg_prepared_reset(clove_pg_source_t *s, PGconn *c);

/* postgres_scan.c */
int clove__pg_scan_register(duckdb_connection conn, clove_err_t *err);
/* Decodes one binary value (len < 0: NULL) of column c into row `row` of v; -1 with msg. */
int clove__pg_decode(const pg_col_t *c, duckdb_type enum_int, duckdb_vector v, idx_t row,
                     const uint8_t *p, int32_t len, char *msg, size_t cap);
/* An ENUM column's physical type (DUCKDB_TYPE_INVALID for other columns). */
duckdb_type clove__pg_enum_internal(const pg_col_t *c);
/* The decoder of a computed output of DuckDB type `type`; false when there is none. */
bool clove__pg_computed_col(pg_col_t *c, int type, int width, int scale);

#endif
