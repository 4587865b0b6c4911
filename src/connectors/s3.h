/*
 * s3.h: the S3 client and the S3 source (private to src/connectors). The client signs with
 * AWS SigV4 through libcurl, addresses buckets virtual-host or path style, pages through
 * ListObjectsV2 and downloads objects into the cache; the source mirrors a bucket prefix (or
 * one object) into a dataset's cache directory.
 */
#ifndef CLOVE_S3_H
#define CLOVE_S3_H

#include "connectors/connectors.h"
#include "connectors/connectors_int.h"

typedef struct {
    char *key;                   /* full object key */
    char *etag;                  /* as listed, quotes included */
    uint64_t size;
} clove_s3_object_t;

typedef struct clove_s3_client clove_s3_client_t;

/* Builds a client from a dataset's params (s3_region, s3_endpoint, s3_url_style, allow_http,
 * s3_auth, s3_key, s3_secret, s3_session_token, timeouts and retries). NULL + CLOVE_ECONFIG. */
clove_s3_client_t *clove_s3_client_create(const clove_dataset_cfg_t *cfg, const char *bucket,
                                          const atomic_bool *cancel, clove_err_t *err);
void clove_s3_client_destroy(clove_s3_client_t *c);

/* Every object under prefix, sorted by key (ListObjectsV2, every page). h: the caller's curl
 * handle. Returns the count (>= 0) or a negative CLOVE_E* with err filled. */
int64_t clove_s3_list(clove_s3_client_t *c, CURL *h, const char *prefix, int64_t deadline_ns,
                      clove_s3_object_t **out, int *requests, clove_err_t *err);
void clove_s3_objects_free(clove_s3_object_t *objs, size_t n);

/* Health probe: one ListObjectsV2 request for at most one key under prefix, no retries.
 * Returns 0 or a negative CLOVE_E* with err filled (CLOVE_EUNAVAILABLE: no answer, or 5xx). */
int clove_s3_probe(clove_s3_client_t *c, CURL *h, const char *prefix, clove_err_t *err);

/* Downloads one object into dest; res->etag holds the ETag served. stop (may be NULL) ends
 * the transfer early when set (CLOVE_ECANCELED). */
int clove_s3_get(clove_s3_client_t *c, CURL *h, const char *key, const char *dest,
                 int64_t deadline_ns, const atomic_bool *stop, clove_fetch_result_t *res,
                 clove_err_t *err);

/* Parses one ListObjectsV2 page (exposed for unit tests). Appends objects to *objs, *n (capacity in
 * *cap), sets *truncated and *next_token (new string or NULL). Returns 0 or CLOVE_EIO with a
 * message saying what is wrong with the document. */
int clove_s3_parse_list(const char *xml, size_t len, clove_s3_object_t **objs, size_t *n,
                        size_t *cap, bool *truncated, char **next_token, clove_err_t *err);

/* Decodes XML character data (the five entities, &#N; and &#xH;) into a new string; NULL
 * when the text is malformed or decodes to a NUL or control character. */
char *clove_s3_xml_text(const char *s, size_t n);

/* The S3 source behind clove_source_t. */
typedef struct clove_s3_src clove_s3_src_t;
clove_s3_src_t *clove__s3_src_create(const clove_dataset_cfg_t *cfg, const char *cache_root,
                                     const atomic_bool *cancel, clove_source_files_t *files,
                                     clove_err_t *err);
/* sink (may be NULL): hand a refresh's files over as they land (connectors.h); only a
 * prefix source without filter_sql streams. */
int clove__s3_src_sync(clove_s3_src_t *s, clove_sync_kind_t kind, duckdb_connection conn,
                       const char *filter_sql, int64_t deadline_ns,
                       const clove_source_sink_t *sink, bool *changed, clove_err_t *err);

/* The type DuckDB's Hive partitioning (hive_types_autocast) gives a partition value, for the
 * values where clove follows DuckDB's rule exactly: "BIGINT" for -?(0|[1-9][0-9]{0,17}),
 * "DATE" for a valid YYYY-MM-DD, "TIMESTAMP" for a valid YYYY-MM-DD[ T]HH:MM[:SS[.f{1,6}]],
 * "VARCHAR" for a value without digits or starting with a letter or '_' (except words like
 * "infinity" and "epoch", which DuckDB reads as dates). NULL for anything else ("007", " 12",
 * "0x10", "2024-02-30", ...): DuckDB decides those by rules clove does not copy. */
const char *clove_s3_hive_type(const char *value);

/* The DuckDB struct literal of the Hive partition types of these keys (paths below the
 * prefix), e.g. {'year': 'BIGINT', 'day': 'DATE'}; "{}" without partitions. A column takes the
 * type of its values when they all agree, else VARCHAR (DuckDB's rule). NULL (nothing
 * settled) when a value has no clove_s3_hive_type, when a key is missing from some paths or a
 * segment holds two '='. New string. */
char *clove_s3_hive_types(const char *const *rels, size_t n);
size_t clove__s3_src_partition_columns(clove_s3_src_t *s, char ***out);
/* clove_source_probe for an S3 source (its own curl handle: never waits for a sync). */
int clove__s3_src_probe(clove_s3_src_t *s, clove_err_t *err);
void clove__s3_src_destroy(clove_s3_src_t *s);

#endif
