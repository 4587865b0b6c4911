/*
 * engine_int.h: the engine's private structures, shared by engine.c (database, connection
 * pool, queries, watchdog) and datasets.c (sources, views, refresh threads, status).
 */
#ifndef CLOVE_ENGINE_INT_H
#define CLOVE_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine/engine.h"
#include "accel/sqlite_accel.h"
#include "common/cron.h"
#include "connectors/connectors.h"
#include "connectors/postgres.h"
#include "engine/pushdown.h"
#include "engine/sandbox.h"

typedef struct dataset dataset_t;

struct dataset {
    clove_engine_t *e;
    const clove_dataset_cfg_t *cfg;  /* borrowed from e->cfg */
    char *lname;                     /* lower-cased name */
    char *qname;                     /* spice.public."name" */
    char *source_sql;                /* table expression reading the source, NULL if invalid */
    char *source_error;              /* why source_sql could not be built */
    char *reader_fn;                 /* file sources: "read_parquet" ... */
    char *reader_pattern;            /* file sources: the path or glob read */
    char *reader_opts;               /* file sources: ", hive_partitioning = true ..." */
    bool reader_hive;                /* file sources: Hive partitions are read */
    clove_source_t *remote;          /* s3:// and http(s):// sources: their local cache, or NULL */
    char *remote_fn;                 /* remote sources: the table macro the federated view reads
                                        (its `filter` parameter carries pushed partition
                                        conditions), or NULL */
    clove_pushdown_target_t *remote_pushdown; /* remote sources with Hive partitions (lock) */
    uint64_t remote_loaded_gen;      /* source generation the acceleration holds (refresh thread) */
    bool remote_prepared;            /* refreshes: the macro and pushdown target are set up */
    char *pk_cols;                   /* primary key column list "a", "a", "b" (quoted), or NULL */
    int conflict;                    /* CONFLICT_* from on_conflict */
    char *time_expr;                 /* time_column as a timestamp expression, or NULL */
    char **seen_files;               /* append without time_column: files already loaded */
    size_t n_seen_files;
    bool has_cron;
    clove_cron_t cron;               /* acceleration.refresh_cron */
    unsigned seed;                   /* jitter */
    clove_sqlite_accel_t *sqlite;    /* engine sqlite: the store (borrowed from the engine) */
    uint64_t sqlite_version;         /* schema version seen by the view over the store */
    clove_pushdown_target_t *pushdown; /* how filters of user queries reach the data the view
                                        reads: the SQLite store, or a federated PostgreSQL
                                        table (lock) */
    clove_pg_source_t *pg;           /* from: postgres:..., or NULL */
    clove_pushdown_target_t *source_pushdown; /* refreshes: how filters reach the source
                                        (PostgreSQL), or NULL; dataset thread only */
    bool deferred;                   /* the source is remote: the dataset thread registers it
                                        (start does not wait for it) */
    bool serves_source;              /* ready_state on_registration: the source answers until
                                        the first load */
    bool accelerated;
    char *target;                    /* where the accelerated table lives (qualified) */
    char *attach_name;               /* catalog of a duckdb file acceleration, or NULL */
    char *file_path;                 /* duckdb file of a file-mode acceleration, or NULL */
    int (*probe)(dataset_t *d, clove_err_t *err); /* federated remote source: the connector's
                                        health probe (0: the source answered), or NULL */
    char *source_label;              /* the source in log lines: PostgreSQL at "h:5432" ... */
    pthread_mutex_t reload_lock;     /* serialises registrations again with new columns */

    pthread_mutex_t lock;            /* guards every field below */
    pthread_cond_t cond;             /* refresh thread sleeps here */
    clove_ds_state_t state;
    char *error;
    int error_code;                  /* CLOVE_E* of the failure behind `error` (0: none) */
    bool source_down;                /* registered, then its source was found unreachable:
                                        Error while the dataset thread probes it */
    bool columns_changed;            /* the source's columns are not those it was registered
                                        (federated) or last refreshed (accelerated) with */
    int64_t last_refresh_ms;
    int64_t rows;
    bool loaded;                     /* data is queryable (accelerated: loaded once) */
    bool initial_done;               /* first load attempt finished (ok or error) */
    bool refresh_requested;
    char *refresh_sql_override;      /* PATCH .../acceleration {"refresh_sql"}, until restart */
    char *next_refresh_sql;          /* one manual refresh's override (owned) */
    int next_refresh_mode;           /* one manual refresh's mode override, -1 none */
    bool refreshing;                 /* a refresh runs now (manual refresh interrupts it) */
    bool manual_cancel;              /* the running refresh was interrupted for a manual one */
    int64_t last_retention_ms;       /* monotonic ms of the last retention check */
    duckdb_connection refresh_conn;  /* set while the dataset thread runs, for interrupts */
    pthread_t thread;
    bool thread_started;
};

typedef struct {
    char *name;
    char *lname;
    const clove_view_cfg_t *cfg;
    dataset_t **deps;                /* datasets the view reads, directly or via views */
    size_t n_deps;
    bool created;
    char *error;                     /* creation error, guarded by engine->views_lock */
} view_t;

/* A prepared statement cached on one pooled connection. */
typedef struct {
    char *sql;
    uint64_t hash;
    duckdb_prepared_statement stmt;
    dataset_t **deps;                /* datasets the statement reads (for readiness) */
    size_t n_deps;
    char *not_ready_view;            /* a view it reads that is not created yet, or NULL */
    char *exec_sql;                  /* what is prepared when it differs from sql (filters
                                        pushed into SQLite accelerations), or NULL */
    char **remote_filters;           /* per dep: the partition condition that limits what a
                                        remote source fetches (NULL entry: everything), or NULL */
    clove_pg_plan_t *pg_plan;        /* the query runs whole in PostgreSQL with its
                                        parameters, without DuckDB (when the bound values
                                        fit), or NULL */
    uint64_t last_used;
    uint64_t generation;             /* engine->ddl_generation when prepared */
} stmt_entry_t;

#define STMT_CACHE_SIZE 64

typedef struct pooled_conn {
    duckdb_connection conn;
    clove_sandbox_t *sandbox;        /* keeps the parser query prepared on conn */
    struct pooled_conn *next_free;
    /* conn's Arrow export options, made on first use and kept: they follow from settings that
     * cannot change once the configuration is locked, and making them costs more than a small
     * query (DuckDB looks every setting up by name) */
    duckdb_arrow_options arrow_opts;
    stmt_entry_t cache[STMT_CACHE_SIZE];
    uint64_t tick;
} pooled_conn_t;

struct clove_query {
    clove_engine_t *e;
    pooled_conn_t *pc;
    duckdb_result result;
    bool have_result;
    idx_t ncols;
    duckdb_logical_type *types;      /* owned, or borrowed from the direct run's plan */
    bool types_borrowed;
    int64_t start_ns;
    int64_t deadline_ns;             /* 0 = none */
    int client_fd;
    atomic_bool timed_out;
    atomic_bool canceled;
    bool finished;
    bool in_wd;                      /* on the watchdog list */
    bool fd_shut;                    /* the watchdog shut the client socket down */
    stmt_entry_t *entry;             /* the cached statement (deps for on_zero_results) */
    clove_pg_run_t *pg_run;          /* a direct PostgreSQL run (entry->pg_plan), or NULL */
    char *sql;                       /* copies kept for an on_zero_results re-run */
    clove_param_t *params;
    size_t n_params;
    uint64_t rows;                   /* rows handed out so far */
    bool fell_back;
    bool failed;
    struct clove_query *prev, *next; /* watchdog list, guarded by e->wd_lock */
};

struct clove_engine {
    clove_config_t *cfg;
    duckdb_database db;
    duckdb_connection admin;         /* DDL for views; guarded by admin_lock */
    pthread_mutex_t admin_lock;
    char *data_dir;

    dataset_t *datasets;
    size_t n_datasets;
    view_t *views;
    size_t n_views;
    pthread_mutex_t views_lock;      /* guards views[].created/error */
    struct sqlite_store {            /* SQLite accelerations: one store per file, or per */
        char *path;                  /* memory-mode dataset (path NULL) */
        clove_sqlite_accel_t *a;
    } *sqlite_stores;
    size_t n_sqlite_stores;
    atomic_uint_fast64_t ddl_generation; /* bumps when a view, a table or its data changes */

    /* connection pool */
    pthread_mutex_t pool_lock;       /* guards free_list, waiters */
    pthread_cond_t pool_cond;
    pooled_conn_t *conns;
    size_t n_conns;
    pooled_conn_t *free_list;
    int waiters;
    int max_waiters;

    /* watchdog */
    pthread_mutex_t wd_lock;         /* guards wd_head, wd_stop, and interrupts of conns */
    pthread_cond_t wd_cond;
    clove_query_t *wd_head;
    bool wd_stop;
    bool wd_sleeping;                /* waits without a timeout: wd_add must signal */
    pthread_t wd_thread;

    char **secrets;                  /* secret-derived values to keep out of messages */
    size_t n_secrets;
    struct attached_file {           /* duckdb file accelerations: one ATTACH per file */
        char *path;
        char *alias;
    } *attached;
    size_t n_attached;
    struct attached_file *src_files; /* duckdb: sources, attached read-only, one per file */
    size_t n_src_files;

    atomic_int active_queries;
    atomic_bool shutting_down;
    bool started;
};

enum { CONFLICT_NONE = 0, CONFLICT_DROP, CONFLICT_UPSERT, CONFLICT_UPSERT_DEDUP };

/* refresh.c */
/* Validates and precomputes what refreshes of d need (primary key, conflict rule, time
 * expression, refresh_sql). Returns 0 or CLOVE_ECONFIG with a message naming the dataset. */
int clove__refresh_prepare(dataset_t *d, duckdb_connection admin, clove_err_t *err);
/* Runs one refresh of d on conn with the given mode and refresh_sql (NULL: none). On success
 * sets *loaded (rows brought in) and *held (rows in the acceleration). */
int clove__refresh_run(dataset_t *d, duckdb_connection conn, clove_refresh_mode_t mode,
                       const char *refresh_sql, int64_t *loaded, int64_t *held,
                       clove_err_t *err);
/* Writes the rows staged in temp.main.__clove_incoming on conn into d's acceleration as an
 * append under the dataset's own rules: primary_key with on_conflict (drop keeps the stored
 * row, upsert replaces it, upsert_dedup also keeps the last of a batch's duplicates; without
 * on_conflict a duplicate key fails), else a plain insert. One transaction; *loaded gets the
 * rows written. Returns 0 or CLOVE_EQUERY with DuckDB's / SQLite's message. */
int clove__append_incoming(dataset_t *d, duckdb_connection conn, int64_t *loaded,
                           clove_err_t *err);
/* Deletes rows past retention_period / matching retention_sql. Returns rows deleted or <0. */
int64_t clove__retention_run(dataset_t *d, duckdb_connection conn, clove_err_t *err);
/* Validates a refresh_sql for d (a SELECT reading only d). */
int clove__validate_refresh_sql(dataset_t *d, duckdb_connection conn, const char *sql,
                                clove_err_t *err);
int64_t clove__count_rows(duckdb_connection conn, const char *target);
int clove__expose_file_table(dataset_t *d, clove_err_t *err);
/* Reads / writes the last successful refresh time kept beside a file-mode table (0 if none). */
int64_t clove__meta_last_refresh(dataset_t *d, duckdb_connection conn);

/* Makes sure what a refresh of d needs from a remote source is there: a PostgreSQL source's
 * columns and its pushdown target (d->source_pushdown). Dataset thread only. */
int clove__source_prepare(dataset_t *d, duckdb_connection conn, clove_err_t *err);
/* The same for an S3 / HTTP(S) source whose refresh has a refresh_sql: one cached object, the
 * table macro refreshes read through, and the partition-pruning target (d->source_pushdown,
 * NULL without Hive partitions). Once per dataset; dataset thread only. */
int clove__remote_prepare(dataset_t *d, duckdb_connection conn, clove_err_t *err);

/* For each remote dataset in deps, the partition condition pushed into its reads in
 * exec_sql (a query rewritten by clove_pushdown_rewrite): their OR when every reference
 * carries one, else NULL (fetch everything). Read from DuckDB's own parse tree of exec_sql on
 * conn. Returns NULL when no dataset gets a condition, else an array of n (caller frees the
 * strings and the array). */
char **clove__remote_filters(duckdb_connection conn, const char *exec_sql, dataset_t **deps,
                             size_t n);

/* Replaces every secret-derived value in msg (in place, bounded by cap) with [REDACTED]. */
void clove__redact(const clove_engine_t *e, char *msg, size_t cap);
/* Recreates the views of federated datasets and user views (the files' columns changed). */
void clove__rebind_views(clove_engine_t *e);
/* Waits up to timeout_ms for the dataset threads; false when some are still blocked. */
bool clove__datasets_join(clove_engine_t *e, int64_t timeout_ms);

/* health.c: source health of federated datasets (see the top of health.c) */
/* Picks the probe of a federated remote dataset and subscribes to its connector's events. */
void clove__health_init(dataset_t *d);
/* The source of d could not be reached (message names it): a registered federated dataset
 * goes to Error and its thread probes the source. Any thread; ignored for other datasets. */
void clove__source_unreachable(dataset_t *d, const char *message);
/* The source answered: a dataset in Error because of it is Ready again. Any thread. */
void clove__source_reachable(dataset_t *d);
/* Is d in Error because its source cannot be reached? */
bool clove__source_down(dataset_t *d);
/* The source's columns changed (message says which table): d is flagged for reading them
 * again (clove__dataset_reload_columns; an accelerated dataset at its next refresh). */
void clove__source_changed(dataset_t *d, const char *message);
bool clove__columns_changed(dataset_t *d);
/* The dataset thread of a registered federated dataset: probes the source with backoff
 * whenever it is found unreachable. Returns when the engine stops. */
void clove__health_watch(dataset_t *d);

/* datasets.c */
/* A federated PostgreSQL dataset flagged by clove__source_changed is registered again: its
 * columns read anew, its view and pushdown target replaced, the user views over it created
 * again, and every cached statement prepared again (ddl_generation). Any thread; one at a
 * time per dataset. Returns 0 (also when there was nothing to do) or the error of reading
 * the columns (the flag stays for the next attempt). */
int clove__dataset_reload_columns(dataset_t *d, clove_err_t *err);
/* Publishes d's state in the dataset_load_state metric. */
void clove__dataset_publish_state(dataset_t *d);
/* A copy of msg with every secret-derived value replaced by [REDACTED] (caller frees). */
char *clove__dataset_redacted(dataset_t *d, const char *msg);
int clove__datasets_init(clove_engine_t *e, clove_err_t *err);
void clove__datasets_start(clove_engine_t *e);
void clove__datasets_stop(clove_engine_t *e);
void clove__datasets_dispose(clove_engine_t *e);
dataset_t *clove__dataset_find(clove_engine_t *e, const char *name);
view_t *clove__view_find(clove_engine_t *e, const char *name);
/* Runs one SQL statement on conn; returns 0 or CLOVE_EQUERY with DuckDB's message. */
int clove__exec(duckdb_connection conn, const char *sql, clove_err_t *err);
/* Strips DuckDB's "Xxx Error: " prefix for user-facing messages (borrows, returns pointer
 * into msg). */
const char *clove__clean_duckdb_error(const char *msg);

#endif
