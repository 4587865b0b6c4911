/*
 * source.c: clove_source_t, the engine's one view of the S3 and HTTP(S) sources (see
 * connectors.h): creation from a dataset's `from` and params, syncs, and what DuckDB reads.
 */
#include "connectors/connectors.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/http_source.h"
#include "connectors/s3.h"

struct clove_source {
    clove_s3_src_t *s3;
    clove_http_src_t *http;
    clove_source_files_t files;
    atomic_uint_fast64_t generation;
    char *display;               /* `from` without userinfo, for messages */
};

bool clove_source_claims(const char *from)
{
    return !strncasecmp(from, "s3://", 5) || !strncasecmp(from, "http://", 7) ||
           !strncasecmp(from, "https://", 8);
}

clove_source_t *clove_source_create(const clove_dataset_cfg_t *cfg, const char *cache_root,
                                    const atomic_bool *cancel, clove_err_t *err)
{
    clove__curl_init();
    clove_source_t *s = clove_xcalloc(1, sizeof *s);
    if (!strncasecmp(cfg->from, "s3://", 5))
        s->s3 = clove__s3_src_create(cfg, cache_root, cancel, &s->files, err);
    else
        s->http = clove__http_src_create(cfg, cache_root, cancel, &s->files, err);
    if (!s->s3 && !s->http) {
        free(s);
        return NULL;
    }
    atomic_init(&s->generation, 1);
    s->display = clove__url_for_display(cfg->from);
    return s;
}

const char *clove_source_display(const clove_source_t *s) { return s->display; }

int clove_source_probe(clove_source_t *s, clove_err_t *err)
{
    int rc = s->s3 ? clove__s3_src_probe(s->s3, err) : clove__http_src_probe(s->http, err);
    /* any other answer (403, 404, 405 ...) still shows the source is there */
    if (rc == CLOVE_EUNAVAILABLE || rc == CLOVE_ECANCELED || rc == CLOVE_EINTERNAL) return rc;
    return 0;
}

const clove_source_files_t *clove_source_files(const clove_source_t *s) { return &s->files; }

int clove_source_sync(clove_source_t *s, clove_sync_kind_t kind, duckdb_connection conn,
                      const char *filter_sql, bool *changed, clove_err_t *err)
{
    return clove_source_sync_until(s, kind, conn, filter_sql, 0, changed, err);
}

static int sync_any(clove_source_t *s, clove_sync_kind_t kind, duckdb_connection conn,
                    const char *filter_sql, int64_t deadline_ns, const clove_source_sink_t *sink,
                    bool *changed, clove_err_t *err)
{
    bool ch = false;
    int rc = s->s3 ? clove__s3_src_sync(s->s3, kind, conn, filter_sql, deadline_ns, sink, &ch,
                                        err)
                   : clove__http_src_sync(s->http, kind, deadline_ns, &ch, err);
    if (ch) atomic_fetch_add(&s->generation, 1);
    if (changed) *changed = ch;
    return rc;
}

int clove_source_sync_until(clove_source_t *s, clove_sync_kind_t kind, duckdb_connection conn,
                            const char *filter_sql, int64_t deadline_ns, bool *changed,
                            clove_err_t *err)
{
    return sync_any(s, kind, conn, filter_sql, deadline_ns, NULL, changed, err);
}

int clove_source_sync_stream(clove_source_t *s, duckdb_connection conn,
                             const clove_source_sink_t *sink, bool *changed, clove_err_t *err)
{
    return sync_any(s, CLOVE_SYNC_REFRESH, conn, NULL, 0, sink, changed, err);
}

uint64_t clove_source_generation(clove_source_t *s) { return atomic_load(&s->generation); }

size_t clove_source_partition_columns(clove_source_t *s, char ***out)
{
    *out = NULL;
    return s->s3 ? clove__s3_src_partition_columns(s->s3, out) : 0;
}

void clove_source_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

void clove_source_destroy(clove_source_t *s)
{
    if (!s) return;
    clove__s3_src_destroy(s->s3);
    clove__http_src_destroy(s->http);
    free(s->display);
    free(s);
}
