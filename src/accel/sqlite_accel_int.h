/*
 * accel/sqlite_accel_int.h: private structures of the SQLite acceleration, shared by
 * sqlite_accel.c (stores, loads, the handle registry) and sqlite_scan.c (the DuckDB table
 * function).
 */
#ifndef CLOVE_SQLITE_ACCEL_INT_H
#define CLOVE_SQLITE_ACCEL_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "accel/sqlite_accel.h"

/* How a column is held in SQLite and handed back to DuckDB (README: type mapping). */
typedef enum {
    KIND_INT = 1,   /* BOOLEAN, TINYINT..BIGINT, UTINYINT..UINTEGER: INTEGER */
    KIND_UBIGINT,   /* INTEGER; values above INT64_MAX as an 8-byte big-endian BLOB */
    KIND_REAL,      /* FLOAT, DOUBLE: REAL; NaN and -0.0 as an 8-byte big-endian BLOB */
    KIND_TEXT,      /* VARCHAR: TEXT */
    KIND_BLOB,      /* BLOB: BLOB */
    KIND_INTERVAL,  /* TEXT "<months> months <days> days <micros> microseconds" */
    KIND_CAST,      /* TEXT in DuckDB's own VARCHAR form; the view CASTs it back */
} col_kind_t;

typedef struct {
    char *name;
    char *type_sql;     /* DuckDB type as SQL ("DECIMAL(38,10)", "INTEGER[]") */
    int type_id;        /* duckdb_type of the original column */
    col_kind_t kind;
} col_meta_t;

/* Memory mode: one immutable in-memory database holding one version of one table. */
typedef struct gen {
    atomic_int refs;
    sqlite3 *keeper;    /* keeps the memdb store alive; used only by loads (under wlock) */
    char *uri;          /* file:/clove-...?vfs=memdb */
} gen_t;

typedef struct tbl {
    char *name;
    col_meta_t *cols;
    size_t ncols;
    uint64_t version;   /* bumps when the columns change */
    int64_t rows;
    gen_t *gen;         /* memory mode: the current version (one reference) */
    struct tbl *next;
} tbl_t;

struct clove_sqlite_accel {
    int64_t id;
    atomic_int refs;        /* the registry's, plus one per running scan */
    char *path;             /* NULL in memory mode */
    int busy_ms;
    pthread_mutex_t wlock;  /* serialises loads; guards wdb */
    sqlite3 *wdb;           /* file mode: the connection loads write through */
    pthread_mutex_t lock;   /* guards tables (each entry's cols, version, rows, gen) */
    tbl_t *tables;
    struct clove_sqlite_accel *reg_next; /* guarded by the registry lock */
};

/* Registry: returns a new reference to the open handle with this id, or NULL. */
clove_sqlite_accel_t *clove__sqlite_accel_lookup(int64_t id);
void clove__sqlite_accel_unref(clove_sqlite_accel_t *a);
/* Looks up a table; caller holds a->lock. */
tbl_t *clove__sqlite_tbl_find(clove_sqlite_accel_t *a, const char *name);
void clove__sqlite_gen_unref(gen_t *g);
/* Opens a read-only connection to the store (file) or to a generation (memory). */
int clove__sqlite_open_reader(clove_sqlite_accel_t *a, gen_t *g, sqlite3 **out,
                              char *errbuf, size_t errlen);
/* The table function (sqlite_scan.c). */
int clove__sqlite_scan_register(duckdb_connection conn, clove_err_t *err);

/* Storage encodings shared by loads and scans. */
#define INTERVAL_FMT "%d months %d days %lld microseconds"

#endif
