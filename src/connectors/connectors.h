/*
 * connectors: sources whose data is not a local file the engine can read directly. An S3
 * bucket prefix or object (`s3://bucket/prefix/`) and an HTTP(S) resource (`https://host/path`)
 * are mirrored into a local cache directory (objects fetched in parallel, validated by ETag or
 * Last-Modified, never fetched twice when unchanged); the engine then reads the cached files
 * with DuckDB's own Parquet/CSV/JSON readers, for federated queries and for refreshes.
 *
 * Threads: a source is created and destroyed by the engine's set-up thread; clove_source_sync
 * may be called from any thread (a dataset thread, query threads): syncs of one source run one
 * at a time (an internal mutex), so a caller returns when the files it needs are in place.
 */
#ifndef CLOVE_CONNECTORS_H
#define CLOVE_CONNECTORS_H

#include <duckdb.h>
#include <stdatomic.h>

#include "common/common.h"
#include "config/config.h"

typedef struct clove_source clove_source_t;

/* True when `from` names a source of this module (s3://, http://, https://). */
bool clove_source_claims(const char *from);

/* What the engine reads once the cache is in place. Borrowed from the source. */
typedef struct {
    const char *format;          /* "parquet" | "csv" | "json" */
    const char *pattern;         /* the cached file, or a glob over the cache directory */
    const char *cache_dir;       /* the directory DuckDB must be allowed to read */
    bool hive_default;           /* hive partitioning when hive_partitioning_enabled is unset */
} clove_source_files_t;

/* Creates the source of dataset `cfg` (borrowed; must outlive the source). Its cache lives
 * under `cache_root` (created); NULL only checks the params (nothing is created, the source
 * must not be synced). `cancel` (borrowed, may be NULL) ends transfers early when set.
 * Validates every parameter; returns NULL with err filled (CLOVE_ECONFIG, message naming the
 * dataset and the parameter). Does no network I/O. */
clove_source_t *clove_source_create(const clove_dataset_cfg_t *cfg, const char *cache_root,
                                    const atomic_bool *cancel, clove_err_t *err);
const clove_source_files_t *clove_source_files(const clove_source_t *s);

typedef enum {
    /* a refresh: list (or revalidate) now, fetch every changed object, drop what is gone */
    CLOVE_SYNC_REFRESH = 0,
    /* before a federated query: the same when the listing is older than the freshness
     * interval (s3_listing_ttl / http_cache_ttl), then fetch what the query needs */
    CLOVE_SYNC_QUERY,
    /* before a federated view is created: at least one object must be cached (its columns) */
    CLOVE_SYNC_SCHEMA,
} clove_sync_kind_t;

/* Brings the cache up to date. filter_sql (may be NULL; ignored by CLOVE_SYNC_SCHEMA) is a
 * DuckDB condition on Hive partition columns: only objects whose partition values may satisfy
 * it are fetched. conn: a connection of the engine's database used by the calling thread (evaluates
 * filter_sql). *changed (may be NULL) is set when files in the cache were added, replaced or
 * removed. Returns 0 or a negative CLOVE_E* with err filled (messages name the bucket/key or
 * URL and the endpoint, never credentials; CLOVE_EUNAVAILABLE when the source could not be
 * reached or kept answering 408, 429 or 5xx). */
int clove_source_sync(clove_source_t *s, clove_sync_kind_t kind, duckdb_connection conn,
                      const char *filter_sql, bool *changed, clove_err_t *err);
/* The same, giving up with CLOVE_ETIMEDOUT at deadline_ns (monotonic ns, clove_mono_ns; 0 =
 * none): a federated query's timeout bounds the fetches it waits for. A transfer cut short
 * leaves the cache as it was. */
int clove_source_sync_until(clove_source_t *s, clove_sync_kind_t kind, duckdb_connection conn,
                            const char *filter_sql, int64_t deadline_ns, bool *changed,
                            clove_err_t *err);

/* Health probe, cheap and without retries: one listing of at most one key (S3) or one HEAD
 * request (HTTP(S)), on the caller's thread, bounded by connect_timeout / client_timeout.
 * Returns 0 when the source answered (an error answer such as 403 or 405 counts: the source
 * is there), CLOVE_EUNAVAILABLE with err naming the bucket and endpoint or the URL when it
 * could not be reached or answered 408, 429 or 5xx, CLOVE_ECANCELED when the runtime stops. */
int clove_source_probe(clove_source_t *s, clove_err_t *err);

/* The source as `from` names it, without credentials (borrowed), for messages. */
const char *clove_source_display(const clove_source_t *s);

/* Receives a refresh's files as they land in the cache, so that the caller can load the
 * objects that are complete while later ones still download. Both callbacks run on the
 * syncing thread with the source's lock held (other syncs of the source wait). */
typedef struct {
    /* Called once after the listing. `changed`: this sync adds, replaces or removes cached
     * files. `hive_types`: a DuckDB struct literal giving every Hive partition column of the
     * listing its type ({'year': 'BIGINT'}; "{}" without partitions), settled from the whole
     * listing so that every batch reads the same types; NULL when clove cannot settle them the
     * way DuckDB would (see docs/connectors-s3-http.md), in which case the caller should not
     * stream. Borrowed for the call. Return true to receive the files through ready_cb. */
    bool (*plan_cb)(void *ctx, bool changed, const char *hive_types);
    /* files[0..n) (absolute paths) are in place: the next objects of the listing, in listing
     * order, cached ones and fetched ones alike; over all calls, every object the source
     * holds, once. Return 0, or a negative CLOVE_E* with err filled to end the sync with that
     * error (transfers in progress stop). */
    int (*ready_cb)(void *ctx, const char *const *files, size_t n, clove_err_t *err);
    void *ctx;
} clove_source_sink_t;

/* A CLOVE_SYNC_REFRESH that hands the files to `sink` as they land (see above). A source that
 * cannot stream (an HTTP(S) resource, a single S3 object) syncs as clove_source_sync does and
 * never calls the sink; so does one whose plan_cb declines. */
int clove_source_sync_stream(clove_source_t *s, duckdb_connection conn,
                             const clove_source_sink_t *sink, bool *changed, clove_err_t *err);

/* A number that changes whenever files in the cache were added, replaced or removed (starts
 * at 1). A refresh that finds it where its last successful load left it has nothing new. */
uint64_t clove_source_generation(clove_source_t *s);

/* Hive partition column names seen in the last listing (S3 prefixes), for pruning. Returns
 * the count and a new array of new strings (caller frees with clove_source_names_free). */
size_t clove_source_partition_columns(clove_source_t *s, char ***out);
void clove_source_names_free(char **names, size_t n);

void clove_source_destroy(clove_source_t *s);

#endif
