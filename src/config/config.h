/*
 * config: the Spicepod model. Loads spicepod.yaml (v1/v2), validates every key with
 * file:line:col positions, expands ${secrets:NAME} / ${env:NAME}, applies --set-runtime
 * overrides, and produces an immutable clove_config_t shared by reference.
 */
#ifndef CLOVE_CONFIG_H
#define CLOVE_CONFIG_H

#include "common/common.h"

/* A string key/value list in file order (params, on_conflict, indexes, ...). */
typedef struct {
    char *key;
    char *value;
    bool secret;          /* value came from a ${secrets:..}/${env:..} expansion */
} clove_kv_t;

typedef struct {
    clove_kv_t *items;
    size_t len;
} clove_kvlist_t;

/* Returns the value of key (case-sensitive) or NULL; borrows. */
const char *clove_kv_get(const clove_kvlist_t *l, const char *key);

typedef enum { CLOVE_ENGINE_ARROW = 0, CLOVE_ENGINE_DUCKDB, CLOVE_ENGINE_SQLITE } clove_accel_engine_t;
typedef enum {
    CLOVE_MODE_MEMORY = 0, CLOVE_MODE_FILE, CLOVE_MODE_FILE_CREATE, CLOVE_MODE_FILE_UPDATE
} clove_accel_mode_t;
typedef enum {
    CLOVE_REFRESH_FULL = 0, CLOVE_REFRESH_APPEND, CLOVE_REFRESH_CHANGES, CLOVE_REFRESH_CACHING
} clove_refresh_mode_t;
typedef enum { CLOVE_READY_ON_LOAD = 0, CLOVE_READY_ON_REGISTRATION } clove_ready_state_t;
typedef enum { CLOVE_ZERO_RETURN_EMPTY = 0, CLOVE_ZERO_USE_SOURCE } clove_on_zero_t;

typedef struct {
    bool enabled;
    clove_accel_engine_t engine;
    clove_accel_mode_t mode;
    clove_refresh_mode_t refresh_mode;
    int64_t refresh_check_interval_ms;   /* 0 = no schedule */
    char *refresh_cron;                  /* NULL when absent */
    char *refresh_sql;                   /* NULL when absent */
    int64_t refresh_data_window_ms;      /* 0 = absent */
    int64_t refresh_append_overlap_ms;   /* 0 = absent */
    bool refresh_retry_enabled;          /* default true */
    int refresh_retry_max_attempts;      /* -1 = unlimited (default) */
    bool refresh_jitter_enabled;
    int64_t refresh_jitter_max_ms;
    char *refresh_on_startup;            /* "auto" (default) | "always" */
    char *primary_key;                   /* NULL when absent; may be "(a, b)" */
    clove_kvlist_t on_conflict;          /* column -> drop | upsert | upsert_dedup */
    clove_kvlist_t indexes;              /* column or "(a, b)" -> enabled | unique */
    bool retention_check_enabled;
    int64_t retention_period_ms;
    int64_t retention_check_interval_ms;
    char *retention_sql;
    clove_on_zero_t on_zero_results;
    clove_kvlist_t params;               /* duckdb_file, sqlite_file, ... */
    char *snapshots;                     /* NULL | "enabled" | "disabled" | "bootstrap_only" | ... */
    /* ---- added by config (additions only) ---- */
    char *snapshots_trigger;             /* "refresh_complete" (default) | "time_interval" |
                                            "stream_batches"; NULL when snapshots is NULL */
    int64_t snapshots_trigger_interval_ms; /* time_interval threshold; default 10m */
    int64_t snapshots_trigger_batches;   /* stream_batches threshold; 0 when not that trigger */
    char *snapshots_creation_policy;     /* "on_change" (default) | "always" */
    bool snapshots_compaction;           /* snapshots_compaction: enabled */
    bool snapshots_reset_expiry_on_load; /* snapshots_reset_expiry_on_load: enabled */
    bool configured;                     /* the dataset had an `acceleration` block */
} clove_accel_cfg_t;

typedef struct {
    char *name;
    char *from;               /* as written, e.g. "file:data/trips.parquet" */
    char *description;
    clove_kvlist_t params;
    char *time_column;
    char *time_format;
    clove_ready_state_t ready_state;
    char *access;             /* "read" (default) | "read_write" */
    clove_accel_cfg_t acceleration;
    int line, col;            /* position of the dataset entry in the file */
    /* ---- added by config (additions only) ---- */
    bool ready_state_set;     /* ready_state was written (else the default on_load) */
} clove_dataset_cfg_t;

typedef struct {
    char *name;
    char *sql;
    char *description;
    int line, col;
} clove_view_cfg_t;

typedef struct {
    char *key;                /* the API key */
    bool read_write;          /* ":rw" (":ro" and bare keys are read-only for writes? see docs) */
    bool read_only;           /* ":ro" */
} clove_api_key_t;

typedef struct {
    int64_t query_timeout_ms;          /* runtime.query.timeout; 0 = none */
    int max_concurrent_queries;        /* runtime.query.max_concurrent_queries; default 4 x cores */
    uint64_t query_memory_limit;       /* runtime.query.memory_limit; 0 = engine default */
    int64_t shutdown_timeout_ms;       /* runtime.shutdown_timeout; default 30s */
    uint64_t max_request_body;         /* 128 MiB */
    uint64_t flight_max_message_size;  /* runtime.flight.max_message_size; 100 MiB */
    int dataset_load_parallelism;      /* default: datasets load in parallel, bounded */
    bool auth_enabled;                 /* runtime.auth.api-key.enabled */
    clove_api_key_t *api_keys;
    size_t n_api_keys;
    bool tls_enabled;                  /* runtime.tls */
    char *tls_certificate_file;
    char *tls_key_file;
    bool results_cache_enabled;        /* runtime.results_cache */
    uint64_t results_cache_max_size;
    int64_t results_cache_item_ttl_ms;
    /* ---- added by config (additions only) ---- */
    char *results_cache_eviction_policy; /* "lru" (default) | "tiny_lfu" */
    char *tls_certificate;             /* runtime.tls.certificate: inline PEM (secret) */
    char *tls_key;                     /* runtime.tls.key: inline PEM (secret) */
    char *query_temp_directory;        /* runtime.query.temp_directory; NULL = engine default */
    clove_ready_state_t ready_state;   /* runtime.ready_state (/v1/ready); default on_load */
    clove_kvlist_t params;             /* runtime.params, as written */
} clove_runtime_cfg_t;

typedef enum {
    CLOVE_SNAPSHOT_FAIL_WARN = 0, CLOVE_SNAPSHOT_FAIL_RETRY, CLOVE_SNAPSHOT_FAIL_FALLBACK
} clove_snapshot_failure_t;

/* The top-level `snapshots` block (added by config). */
typedef struct {
    bool configured;                   /* the block is present */
    bool enabled;                      /* default true when present */
    char *location;                    /* "s3://bucket/prefix/" or "file:///dir/"; NULL if absent */
    clove_snapshot_failure_t bootstrap_on_failure_behavior; /* default warn */
    clove_kvlist_t params;             /* object-store parameters (may hold secrets) */
} clove_snapshots_cfg_t;

/* The loaded spicepod. Immutable once returned; shared with refcounts. */
typedef struct clove_config {
    int refcount;                      /* atomic */
    char *path;                        /* the spicepod file */
    char *dir;                         /* its directory (relative file: paths resolve here) */
    char *version;                     /* "v1" | "v2" */
    char *name;
    clove_runtime_cfg_t runtime;
    clove_dataset_cfg_t *datasets;
    size_t n_datasets;
    clove_view_cfg_t *views;
    size_t n_views;
    char *redacted_json;               /* /v1/spicepods entry: the pod as JSON, secrets redacted */
    /* ---- added by config (additions only) ---- */
    clove_snapshots_cfg_t snapshots;
    char **secret_values;              /* every value a ${...} reference expanded to, for
                                          redacting messages (never shown) */
    size_t n_secret_values;
} clove_config_t;

/* One problem found while loading. */
typedef struct {
    char *message;   /* "spicepod.yaml:12:5: datasets[2].acceleration.engine: expected ..." */
    bool warning;    /* true: accepted key clove does not implement yet, etc. */
} clove_config_diag_t;

typedef struct {
    clove_config_diag_t *items;
    size_t len;
    size_t n_errors;
} clove_config_diags_t;

void clove_config_diags_dispose(clove_config_diags_t *d);

/* Loads the spicepod at `path` (a directory holding spicepod.yaml / spicepod.yml, or a file).
 * `overrides` are --set-runtime "key=value" strings (key relative to `runtime`, dotted).
 * Every problem goes to `diags` (all errors of the file at once). Returns a new config
 * (refcount 1) or NULL when there was at least one error. Secrets come from the process
 * environment and a `.env` file beside the spicepod; their values never enter diags. */
clove_config_t *clove_config_load(const char *path, const char *const *overrides, size_t n_overrides,
                                  clove_config_diags_t *diags);

clove_config_t *clove_config_ref(clove_config_t *c);
void clove_config_unref(clove_config_t *c);

/* Finds a dataset by name, case-insensitively; borrows. */
const clove_dataset_cfg_t *clove_config_dataset(const clove_config_t *c, const char *name);

#endif
