/*
 * s3_source.c: an S3 prefix (or one object) mirrored into a dataset's cache directory.
 * Layout: <cache>/objects/<key below the prefix> holds the data, <cache>/meta/<same>.etag the
 * ETag it was fetched with, so unchanged objects are never fetched twice, across restarts too.
 * A sync lists the prefix (every page), removes cached objects that are gone, and fetches the
 * objects that are new or whose ETag changed with a bounded pool of download threads; a
 * federated query may restrict what is fetched with a condition on Hive partition columns,
 * which DuckDB evaluates over the partition values of the listed keys.
 */
#include "connectors/s3.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define COMP "s3"
#define DEFAULT_PARALLEL 8
#define DEFAULT_LISTING_TTL_MS 30000

typedef struct {
    char *key;
    char *rel;                   /* path below objects/ */
    char *etag;                  /* listed ETag */
    uint64_t size;
    char *cached_etag;           /* ETag of the cached copy, NULL when none */
    bool eligible;               /* a data file of the dataset's format */
    bool want;                   /* scratch: to fetch in this sync */
} s3_entry_t;

struct clove_s3_src {
    const clove_dataset_cfg_t *cfg;
    clove_s3_client_t *client;
    const atomic_bool *cancel;
    char *bucket;
    char *prefix;                /* "" or ending in '/' (prefix mode), or the key (single) */
    bool single;                 /* one object */
    char *format;
    char *name_glob;             /* basename pattern of data files, e.g. "*.parquet" */
    char *cache;                 /* <root>/s3/<dataset> */
    char *objects_dir, *meta_dir;
    char *pattern;
    int parallel;
    int64_t listing_ttl_ms;
    char labels[256];

    pthread_mutex_t lock;        /* guards everything below; held for a whole sync */
    CURL *curl;                  /* listing handle */
    s3_entry_t *entries;         /* last listing, sorted by rel */
    size_t n_entries;
    bool listed;
    int64_t listed_at_ms;        /* monotonic ms of the last listing */
    uint64_t listing_gen;        /* bumps with every listing */
    char *pruned_for;            /* the filter whose result `want` holds for listing_gen */
    uint64_t pruned_gen;
    int64_t deadline_ns;         /* of the sync in progress (0 = none) */
};

/* ---- helpers ----------------------------------------------------------------------------- */

/* A key below the prefix is stored at objects/<rel>; refuse what could leave the cache. */
static bool safe_rel(const char *rel)
{
    if (!*rel || rel[0] == '/' || strlen(rel) > 1024) return false;
    for (const unsigned char *c = (const unsigned char *)rel; *c; c++)
        if (*c < 0x20 || *c == 0x7f || *c == '\\') return false;
    const char *p = rel;
    while (*p) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p += n;
        if (*p == '/') p++;
        else break;
    }
    return rel[strlen(rel) - 1] != '/';
}

static bool eligible_name(const clove_s3_src_t *s, const char *rel)
{
    if (s->single) return true;
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    if (base[0] == '.' || base[0] == '_') return false; /* _SUCCESS, .crc, hidden */
    return fnmatch(s->name_glob, base, 0) == 0;
}

static char *read_small_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char buf[512];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
    return n ? clove_xstrdup(buf) : NULL;
}

static int write_small_file(const char *path, const char *text)
{
    char *tmp = clove_xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int rc = -1;
    if (f) {
        bool ok = fprintf(f, "%s\n", text) > 0;
        ok = (fclose(f) == 0) && ok;
        if (ok && rename(tmp, path) == 0) rc = 0;
    }
    if (rc != 0) unlink(tmp);
    free(tmp);
    return rc;
}

static int mkdir_parent(const char *path)
{
    char *dir = clove_xstrdup(path);
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        rc = clove_mkdir_p(dir);
    }
    free(dir);
    return rc;
}

static void entries_free(s3_entry_t *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].key);
        free(e[i].rel);
        free(e[i].etag);
        free(e[i].cached_etag);
    }
    free(e);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const s3_entry_t *)a)->rel, ((const s3_entry_t *)b)->rel);
}

static s3_entry_t *find_entry(s3_entry_t *e, size_t n, const char *rel)
{
    s3_entry_t k = {.rel = (char *)rel};
    return n ? bsearch(&k, e, n, sizeof *e, cmp_entry) : NULL;
}

/* ---- create ------------------------------------------------------------------------------ */

static void sanitize_name(char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.') *s = '_';
}

clove_s3_src_t *clove__s3_src_create(const clove_dataset_cfg_t *cfg, const char *cache_root,
                                     const atomic_bool *cancel, clove_source_files_t *files,
                                     clove_err_t *err)
{
    const char *from = cfg->from + 5; /* after s3:// */
    size_t bl = strcspn(from, "/");
    if (bl == 0 || bl > 63) {
        clove_err_set(err, CLOVE_ECONFIG, "dataset %s: from: expected s3://bucket/prefix/ or "
                      "s3://bucket/key; got \"%s\"", cfg->name, cfg->from);
        return NULL;
    }
    clove_s3_src_t *s = clove_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->cfg = cfg;
    s->cancel = cancel;
    s->bucket = clove_xstrndup(from, bl);
    const char *path = from[bl] == '/' ? from + bl + 1 : "";
    const char *fmt = clove_kv_get(&cfg->params, "file_format");
    const char *ext_fmt = *path && path[strlen(path) - 1] != '/' ? clove_file_format_of_name(path, strlen(path)) : NULL;
    s->single = ext_fmt != NULL;
    if (s->single) s->prefix = clove_xstrdup(path);
    else if (!*path || path[strlen(path) - 1] == '/') s->prefix = clove_xstrdup(path);
    else s->prefix = clove_xasprintf("%s/", path); /* a "directory" given without its slash */
    if (!fmt) fmt = ext_fmt ? ext_fmt : "parquet";
    if (!clove_file_format_name(fmt)) {
        clove_err_set(err, CLOVE_ECONFIG, "dataset %s: params.file_format: expected one of "
                      "parquet, csv, json; got \"%s\"", cfg->name, fmt);
        goto fail;
    }
    s->format = clove_xstrdup(clove_file_format_name(fmt));
    s->name_glob = clove_xstrdup(!strcmp(s->format, "parquet") ? "*.parquet"
                                 : !strcmp(s->format, "csv") ? "*.csv*" : "*.*json*");
    if (!(s->client = clove_s3_client_create(cfg, s->bucket, cancel, err))) goto fail;

    s->parallel = DEFAULT_PARALLEL;
    const char *v = clove_kv_get(&cfg->params, "max_concurrent_downloads");
    if (v) {
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 1 || n > 64) {
            clove_err_set(err, CLOVE_ECONFIG, "dataset %s: params.max_concurrent_downloads: "
                          "expected a whole number from 1 to 64; got \"%s\"", cfg->name, v);
            goto fail;
        }
        s->parallel = (int)n;
    }
    s->listing_ttl_ms = DEFAULT_LISTING_TTL_MS;
    if ((v = clove_kv_get(&cfg->params, "s3_listing_ttl")) &&
        (clove_parse_duration_ms(v, &s->listing_ttl_ms) != 0 || s->listing_ttl_ms < 0)) {
        clove_err_set(err, CLOVE_ECONFIG, "dataset %s: params.s3_listing_ttl: expected a "
                      "duration like 30s; got \"%s\"", cfg->name, v);
        goto fail;
    }

    char *dsdir = clove_xstrdup(cfg->name);
    sanitize_name(dsdir);
    s->cache = clove_xasprintf("%s/s3/%s", cache_root ? cache_root : ".", dsdir);
    free(dsdir);
    s->objects_dir = clove_xasprintf("%s/objects", s->cache);
    s->meta_dir = clove_xasprintf("%s/meta", s->cache);
    if (cache_root &&
        (clove_mkdir_p(s->objects_dir) != 0 || clove_mkdir_p(s->meta_dir) != 0)) {
        clove_err_set(err, CLOVE_EIO, "dataset %s: could not create the cache directory \"%s\": "
                      "%s", cfg->name, s->cache, strerror(errno));
        goto fail;
    }
    if (s->single) {
        const char *base = strrchr(s->prefix, '/');
        base = base ? base + 1 : s->prefix;
        s->pattern = clove_xasprintf("%s/%s", s->objects_dir, base);
    } else {
        s->pattern = clove_xasprintf("%s/**/%s", s->objects_dir, s->name_glob);
    }
    snprintf(s->labels, sizeof s->labels, "dataset=\"%s\"", cfg->name);
    files->format = s->format;
    files->pattern = s->pattern;
    files->cache_dir = s->cache;
    files->hive_default = !s->single;
    return s;
fail:
    clove__s3_src_destroy(s);
    return NULL;
}

void clove__s3_src_destroy(clove_s3_src_t *s)
{
    if (!s) return;
    clove_s3_client_destroy(s->client);
    if (s->curl) curl_easy_cleanup(s->curl);
    entries_free(s->entries, s->n_entries);
    free(s->pruned_for);
    free(s->bucket);
    free(s->prefix);
    free(s->format);
    free(s->name_glob);
    free(s->cache);
    free(s->objects_dir);
    free(s->meta_dir);
    free(s->pattern);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- listing ------------------------------------------------------------------------------ */

static __thread struct {
    clove_s3_src_t *s;
    int removed;
} prune_ctx;

static int prune_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    clove_s3_src_t *s = prune_ctx.s;
    if (type == FTW_DP) { /* directories left empty go too (fails harmlessly otherwise) */
        if (ftw->level > 0) rmdir(path);
        return 0;
    }
    if (type != FTW_F) return 0;
    const char *rel = path + strlen(s->objects_dir) + 1;
    const char *base = strrchr(path, '/') + 1;
    bool part = !strncmp(base, ".clove-part-", 12);
    if (!part && find_entry(s->entries, s->n_entries, rel)) return 0;
    if (unlink(path) == 0 && !part) {
        prune_ctx.removed++;
        char *meta = clove_xasprintf("%s/%s.etag", s->meta_dir, rel);
        unlink(meta);
        free(meta);
    }
    return 0;
}

/* Lists the bucket, keeps what is known of cached copies, drops cached files that are gone. */
static int relist(clove_s3_src_t *s, int *removed, clove_err_t *err)
{
    if (!s->curl && !(s->curl = curl_easy_init()))
        return clove_err_set(err, CLOVE_EINTERNAL, "could not create a curl handle");
    clove_s3_object_t *objs = NULL;
    int requests = 0;
    int64_t n = clove_s3_list(s->client, s->curl, s->prefix, s->deadline_ns, &objs, &requests,
                              err);
    clove_metric_counter_add("s3_list_requests", "ListObjectsV2 requests made by S3 datasets.",
                             s->labels, requests);
    if (n < 0) return (int)n;
    s3_entry_t *ents = clove_xcalloc(n ? (size_t)n : 1, sizeof *ents);
    size_t k = 0, skipped = 0;
    for (int64_t i = 0; i < n; i++) {
        const char *key = objs[i].key;
        const char *rel;
        if (s->single) {
            if (strcmp(key, s->prefix) != 0) continue;
            rel = strrchr(key, '/') ? strrchr(key, '/') + 1 : key;
        } else {
            if (strncmp(key, s->prefix, strlen(s->prefix)) != 0) continue;
            rel = key + strlen(s->prefix);
            if (!*rel || key[strlen(key) - 1] == '/') continue; /* "directory" markers */
        }
        if (!safe_rel(rel)) {
            skipped++;
            continue;
        }
        ents[k].key = objs[i].key;
        objs[i].key = NULL;
        ents[k].rel = clove_xstrdup(rel);
        ents[k].etag = objs[i].etag;
        objs[i].etag = NULL;
        ents[k].size = objs[i].size;
        ents[k].eligible = eligible_name(s, rel);
        k++;
    }
    clove_s3_objects_free(objs, (size_t)n);
    if (skipped)
        clove_warn(COMP, "dataset %s: skipped %zu object key(s) under s3://%s/%s that cannot be "
                   "stored as cache paths (empty, \".\" or \"..\" segments, control characters)",
                   s->cfg->name, skipped, s->bucket, s->prefix);
    qsort(ents, k, sizeof *ents, cmp_entry);
    /* what is cached: from the previous listing, else from the meta files on disk */
    for (size_t i = 0; i < k; i++) {
        s3_entry_t *old = s->listed ? find_entry(s->entries, s->n_entries, ents[i].rel) : NULL;
        if (old) {
            ents[i].cached_etag = old->cached_etag;
            old->cached_etag = NULL;
        } else if (!s->listed) {
            char *meta = clove_xasprintf("%s/%s.etag", s->meta_dir, ents[i].rel);
            char *data = clove_xasprintf("%s/%s", s->objects_dir, ents[i].rel);
            struct stat st;
            if (stat(data, &st) == 0 && S_ISREG(st.st_mode)) ents[i].cached_etag = read_small_file(meta);
            free(meta);
            free(data);
        }
    }
    entries_free(s->entries, s->n_entries);
    s->entries = ents;
    s->n_entries = k;
    s->listed = true;
    s->listed_at_ms = clove_mono_ns() / 1000000;
    s->listing_gen++;
    prune_ctx.s = s;
    prune_ctx.removed = 0;
    nftw(s->objects_dir, prune_cb, 16, FTW_PHYS | FTW_DEPTH);
    *removed = prune_ctx.removed;
    return 0;
}

/* ---- partition pruning -------------------------------------------------------------------- */

/* Hive "k=v" directory segments of rel, in order. */
static size_t hive_pairs(const char *rel, char ***keys, char ***vals)
{
    size_t n = 0;
    *keys = *vals = NULL;
    const char *p = rel;
    for (;;) {
        const char *slash = strchr(p, '/');
        if (!slash) break; /* the file name is not a partition */
        const char *eq = memchr(p, '=', (size_t)(slash - p));
        if (eq && eq > p) {
            *keys = clove_xrealloc(*keys, (n + 1) * sizeof **keys);
            *vals = clove_xrealloc(*vals, (n + 1) * sizeof **vals);
            (*keys)[n] = clove_xstrndup(p, (size_t)(eq - p));
            (*vals)[n] = clove_xstrndup(eq + 1, (size_t)(slash - eq - 1));
            n++;
        }
        p = slash + 1;
    }
    return n;
}

static void names_add(char ***names, size_t *n, const char *k)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcasecmp((*names)[i], k)) return;
    *names = clove_xrealloc(*names, (*n + 1) * sizeof **names);
    (*names)[(*n)++] = clove_xstrdup(k);
}

static size_t partition_names(clove_s3_src_t *s, char ***out)
{
    char **names = NULL;
    size_t n = 0;
    for (size_t i = 0; i < s->n_entries; i++) {
        if (!s->entries[i].eligible) continue;
        char **ks, **vs;
        size_t m = hive_pairs(s->entries[i].rel, &ks, &vs);
        for (size_t j = 0; j < m; j++) {
            names_add(&names, &n, ks[j]);
            free(ks[j]);
            free(vs[j]);
        }
        free(ks);
        free(vs);
    }
    *out = names;
    return n;
}

size_t clove__s3_src_partition_columns(clove_s3_src_t *s, char ***out)
{
    pthread_mutex_lock(&s->lock);
    size_t n = partition_names(s, out);
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* The type DuckDB's Hive partitioning gives a column whose values are all `vals`. */
static const char *infer_type(char **vals, size_t n)
{
    bool all_int = n > 0, all_date = n > 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = vals[i];
        if (!v) continue;
        const char *d = v + (*v == '-');
        all_int &= *d && strspn(d, "0123456789") == strlen(d) && strlen(d) < 19;
        all_date &= strlen(v) == 10 && isdigit((unsigned char)v[0]) && v[4] == '-' && v[7] == '-';
    }
    return all_int ? "BIGINT" : all_date ? "DATE" : "VARCHAR";
}

static bool digits(const char *p, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)p[i])) return false;
    return true;
}

static int num(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) v = v * 10 + (p[i] - '0');
    return v;
}

/* A valid calendar date written YYYY-MM-DD (year 1 and later) at the start of v. */
static bool ymd(const char *v)
{
    if (!digits(v, 4) || v[4] != '-' || !digits(v + 5, 2) || v[7] != '-' || !digits(v + 8, 2))
        return false;
    int y = num(v, 4), m = num(v + 5, 2), d = num(v + 8, 2);
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) return false;
    return m != 2 || d < 29 || (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
}

const char *clove_s3_hive_type(const char *v)
{
    size_t n = strlen(v);
    bool any_digit = strpbrk(v, "0123456789") != NULL;
    if (!any_digit || isalpha((unsigned char)v[0]) || v[0] == '_') {
        /* words DuckDB's date and timestamp casts accept: undecided */
        char low[64];
        size_t k = 0;
        for (; v[k] && k < sizeof low - 1; k++) low[k] = (char)tolower((unsigned char)v[k]);
        low[k] = '\0';
        if (n >= sizeof low || strstr(low, "inf") || strstr(low, "epoch")) return NULL;
        return "VARCHAR";
    }
    const char *d = v + (v[0] == '-');
    if (*d && strspn(d, "0123456789") == strlen(d) && strlen(d) <= 18 &&
        (d[0] != '0' || (d[1] == '\0' && d == v)))
        return "BIGINT";
    if (n == 10 && ymd(v)) return "DATE";
    if (n >= 16 && ymd(v) && (v[10] == ' ' || v[10] == 'T') && digits(v + 11, 2) &&
        v[13] == ':' && digits(v + 14, 2) && num(v + 11, 2) < 24 && num(v + 14, 2) < 60) {
        if (n == 16) return "TIMESTAMP";
        if (v[16] == ':' && n >= 19 && digits(v + 17, 2) && num(v + 17, 2) < 60) {
            if (n == 19) return "TIMESTAMP";
            if (v[19] == '.' && n >= 21 && n <= 26 && digits(v + 20, (int)(n - 20)))
                return "TIMESTAMP";
        }
    }
    return NULL;
}

char *clove_s3_hive_types(const char *const *rels, size_t n)
{
    char **names = NULL;
    const char **types = NULL;
    size_t nn = 0;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        char **ks, **vs;
        size_t m = hive_pairs(rels[i], &ks, &vs);
        /* the same keys in every path: DuckDB reads them from each file's path */
        if (i > 0 && m != nn) ok = false;
        for (size_t j = 0; j < m; j++) {
            const char *t = ok && !strchr(vs[j], '=') ? clove_s3_hive_type(vs[j]) : NULL;
            size_t c = 0;
            while (c < nn && strcasecmp(names[c], ks[j])) c++;
            if (!t || (i > 0 && c == nn)) {
                ok = false;
            } else if (c == nn) {
                names = clove_xrealloc(names, (nn + 1) * sizeof *names);
                types = clove_xrealloc(types, (nn + 1) * sizeof *types);
                names[nn] = clove_xstrdup(ks[j]);
                types[nn++] = t;
            } else if (strcmp(types[c], t) != 0) {
                types[c] = "VARCHAR"; /* values of different types: DuckDB reads text */
            }
            free(ks[j]);
            free(vs[j]);
        }
        free(ks);
        free(vs);
    }
    char *out = NULL;
    if (ok) {
        clove_buf_t b;
        clove_buf_init(&b);
        clove_buf_putc(&b, '{');
        for (size_t c = 0; c < nn; c++) {
            clove_buf_puts(&b, c ? ", " : "");
            clove_buf_sql_quoted(&b, names[c], '\'');
            clove_buf_printf(&b, ": '%s'", types[c]);
        }
        clove_buf_putc(&b, '}');
        out = clove_buf_steal(&b);
    }
    for (size_t c = 0; c < nn; c++) free(names[c]);
    free(names);
    free(types);
    return out;
}

/* Marks entries[i].want for the eligible entries whose partition values may satisfy
 * filter_sql. On any failure every eligible entry is wanted (pruning is an optimisation). */
static void apply_filter(clove_s3_src_t *s, duckdb_connection conn, const char *filter_sql)
{
    char **names = NULL;
    size_t nn = partition_names(s, &names);
    size_t ne = 0;
    for (size_t i = 0; i < s->n_entries; i++) {
        s->entries[i].want = s->entries[i].eligible;
        ne += s->entries[i].eligible;
    }
    if (!nn || !ne || !conn) goto out;
    /* the values of each partition column, per entry (NULL when absent) */
    char ***cols = clove_xcalloc(nn, sizeof *cols);
    for (size_t c = 0; c < nn; c++) cols[c] = clove_xcalloc(s->n_entries, sizeof **cols);
    for (size_t i = 0; i < s->n_entries; i++) {
        if (!s->entries[i].eligible) continue;
        char **ks, **vs;
        size_t m = hive_pairs(s->entries[i].rel, &ks, &vs);
        for (size_t j = 0; j < m; j++) {
            for (size_t c = 0; c < nn; c++) {
                if (!strcasecmp(names[c], ks[j]) && !cols[c][i]) {
                    cols[c][i] = vs[j];
                    vs[j] = NULL;
                }
            }
            free(ks[j]);
            free(vs[j]);
        }
        free(ks);
        free(vs);
    }
    clove_buf_t q;
    clove_buf_init(&q);
    clove_buf_puts(&q, "SELECT __clove_i FROM (SELECT __clove_i");
    for (size_t c = 0; c < nn; c++) {
        char **vals = clove_xcalloc(s->n_entries, sizeof *vals);
        size_t nv = 0;
        for (size_t i = 0; i < s->n_entries; i++)
            if (cols[c][i]) vals[nv++] = cols[c][i];
        char *qi = clove_sql_ident(names[c]);
        clove_buf_printf(&q, ", TRY_CAST(NULLIF(c%zu, '__HIVE_DEFAULT_PARTITION__') AS %s) AS %s",
                         c, infer_type(vals, nv), qi);
        free(qi);
        free(vals);
    }
    clove_buf_puts(&q, " FROM (VALUES ");
    bool first = true;
    for (size_t i = 0; i < s->n_entries; i++) {
        if (!s->entries[i].eligible) continue;
        clove_buf_printf(&q, "%s(%zu", first ? "" : ", ", i);
        first = false;
        for (size_t c = 0; c < nn; c++) {
            clove_buf_puts(&q, ", ");
            if (cols[c][i]) clove_buf_sql_quoted(&q, cols[c][i], '\'');
            else clove_buf_puts(&q, "NULL");
        }
        clove_buf_putc(&q, ')');
    }
    clove_buf_puts(&q, ") AS t(__clove_i");
    for (size_t c = 0; c < nn; c++) clove_buf_printf(&q, ", c%zu", c);
    clove_buf_printf(&q, ")) WHERE %s", filter_sql);
    duckdb_result res;
    if (!q.failed && duckdb_query(conn, q.data, &res) == DuckDBSuccess) {
        for (size_t i = 0; i < s->n_entries; i++) s->entries[i].want = false;
        idx_t rows = duckdb_row_count(&res);
        for (idx_t r = 0; r < rows; r++) {
            int64_t i = duckdb_value_int64(&res, 0, r);
            if (i >= 0 && (size_t)i < s->n_entries) s->entries[i].want = true;
        }
    } else {
        clove_debug(COMP, "dataset %s: partition pruning skipped: %s", s->cfg->name,
                    q.failed ? "out of memory" : duckdb_result_error(&res));
    }
    duckdb_destroy_result(&res);
    clove_buf_dispose(&q);
    for (size_t c = 0; c < nn; c++) {
        for (size_t i = 0; i < s->n_entries; i++) free(cols[c][i]);
        free(cols[c]);
    }
    free(cols);
out:
    clove_source_names_free(names, nn);
}

/* ---- downloads --------------------------------------------------------------------------- */

/* A bounded pool of download threads over todo (entry indexes). The syncing thread either
 * waits for all of them (pool_run) or, streaming, wakes up whenever an object lands. */
typedef struct {
    clove_s3_src_t *s;
    size_t *todo;                /* entry indexes */
    size_t n;
    atomic_size_t next;
    atomic_bool failed;          /* stops the threads: no new objects, transfers end early */
    pthread_mutex_t lock;        /* guards everything below */
    pthread_cond_t cond;         /* an object landed or a thread ended */
    clove_err_t err;
    uint64_t bytes;
    size_t fetched;
    int retries;
    bool *landed;                /* per entry: fetched by this pool */
    size_t running;              /* threads not ended yet */
    int64_t last_ns;             /* monotonic: start, then when the last object landed */
    pthread_t *threads;
    size_t started;
} pool_t;

static void pool_fail(pool_t *p, const clove_err_t *err)
{
    pthread_mutex_lock(&p->lock);
    if (!atomic_exchange(&p->failed, true)) p->err = *err;
    pthread_mutex_unlock(&p->lock);
}

static void *download_main(void *arg)
{
    pool_t *p = arg;
    clove_thread_name("s3-fetch");
    CURL *h = curl_easy_init();
    if (!h) {
        clove_err_t err;
        clove_err_set(&err, CLOVE_EINTERNAL, "could not create a curl handle");
        pool_fail(p, &err);
    }
    for (; h;) {
        if (atomic_load(&p->failed)) break;
        size_t k = atomic_fetch_add(&p->next, 1);
        if (k >= p->n) break;
        s3_entry_t *e = &p->s->entries[p->todo[k]];
        char *dest = clove_xasprintf("%s/%s", p->s->objects_dir, e->rel);
        char *meta = clove_xasprintf("%s/%s.etag", p->s->meta_dir, e->rel);
        clove_fetch_result_t res;
        clove_err_t err;
        int rc = 0;
        if (mkdir_parent(dest) != 0 || mkdir_parent(meta) != 0)
            rc = clove_err_set(&err, CLOVE_EIO, "could not create the cache directory for "
                               "object \"%s\" of dataset %s: %s", e->key, p->s->cfg->name,
                               strerror(errno));
        if (rc == 0) {
            /* forget the old ETag first: a crash between the two writes re-fetches */
            unlink(meta);
            rc = clove_s3_get(p->s->client, h, e->key, dest, p->s->deadline_ns, &p->failed,
                              &res, &err);
        }
        if (rc == 0) {
            const char *etag = res.etag[0] ? res.etag : e->etag;
            write_small_file(meta, etag);
            free(e->cached_etag);
            e->cached_etag = clove_xstrdup(etag);
        }
        if (rc != 0) {
            pool_fail(p, &err);
        } else {
            pthread_mutex_lock(&p->lock);
            p->fetched++;
            p->bytes += res.bytes;
            p->retries += res.retries;
            p->landed[p->todo[k]] = true;
            p->last_ns = clove_mono_ns();
            pthread_cond_broadcast(&p->cond);
            pthread_mutex_unlock(&p->lock);
        }
        free(dest);
        free(meta);
    }
    if (h) curl_easy_cleanup(h);
    pthread_mutex_lock(&p->lock);
    p->running--;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Starts up to s->parallel threads on todo[0..n); with none, downloads on this thread. */
static void pool_start(pool_t *p, clove_s3_src_t *s, size_t *todo, size_t n)
{
    memset(p, 0, sizeof *p);
    p->s = s;
    p->todo = todo;
    p->n = n;
    atomic_init(&p->next, 0);
    atomic_init(&p->failed, false);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->landed = clove_xcalloc(s->n_entries ? s->n_entries : 1, sizeof *p->landed);
    p->last_ns = clove_mono_ns();
    size_t nt = n < (size_t)s->parallel ? n : (size_t)s->parallel;
    p->threads = clove_xcalloc(nt ? nt : 1, sizeof *p->threads);
    for (size_t i = 0; i < nt; i++) {
        pthread_mutex_lock(&p->lock);
        p->running++;
        pthread_mutex_unlock(&p->lock);
        if (pthread_create(&p->threads[i], NULL, download_main, p) == 0) {
            p->started++;
            continue;
        }
        pthread_mutex_lock(&p->lock);
        p->running--;
        pthread_mutex_unlock(&p->lock);
        break;
    }
    if (p->started == 0 && n > 0) {
        p->running = 1;
        download_main(p); /* no thread: do it here */
    }
}

/* Joins the threads and counts what they did. Returns 0 or the first error (into err). */
static int pool_finish(pool_t *p, size_t *fetched, uint64_t *bytes, clove_err_t *err)
{
    for (size_t i = 0; i < p->started; i++) pthread_join(p->threads[i], NULL);
    free(p->threads);
    free(p->landed);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    clove_s3_src_t *s = p->s;
    *fetched = p->fetched;
    *bytes = p->bytes;
    if (p->fetched)
        clove_metric_counter_add("s3_objects_fetched", "Objects downloaded by S3 datasets.",
                                 s->labels, (double)p->fetched);
    if (p->bytes)
        clove_metric_counter_add("s3_bytes_fetched", "Bytes downloaded by S3 datasets.",
                                 s->labels, (double)p->bytes);
    if (p->retries)
        clove_metric_counter_add("s3_request_retries", "S3 requests retried after a timeout or "
                                 "a 5xx answer.", s->labels, p->retries);
    if (atomic_load(&p->failed)) {
        if (err) *err = p->err;
        return p->err.code ? p->err.code : CLOVE_EIO;
    }
    return 0;
}

static int download(clove_s3_src_t *s, size_t *todo, size_t n, size_t *fetched,
                    uint64_t *bytes, clove_err_t *err)
{
    pool_t p;
    pool_start(&p, s, todo, n);
    return pool_finish(&p, fetched, bytes, err);
}

/* Downloads todo[0..n) while handing the sink the wanted objects in listing order as soon as
 * every object before them is in place: a batch of files goes to ready_cb while later
 * objects still download, and the next batch holds whatever landed meanwhile. *dl_ms: when
 * the last object landed, in ms since t0. */
static int download_streaming(clove_s3_src_t *s, size_t *todo, size_t n,
                              const clove_source_sink_t *sink, int64_t t0, size_t *fetched,
                              uint64_t *bytes, int *batches, double *dl_ms, clove_err_t *err)
{
    size_t nl = 0;
    size_t *load = clove_xcalloc(s->n_entries ? s->n_entries : 1, sizeof *load);
    for (size_t i = 0; i < s->n_entries; i++)
        if (s->entries[i].eligible && s->entries[i].want) load[nl++] = i;
    bool *pending = clove_xcalloc(s->n_entries ? s->n_entries : 1, sizeof *pending);
    for (size_t k = 0; k < n; k++) pending[todo[k]] = true;
    const char **files = clove_xcalloc(nl ? nl : 1, sizeof *files);
    for (size_t k = 0; k < nl; k++)
        files[k] = clove_xasprintf("%s/%s", s->objects_dir, s->entries[load[k]].rel);
    pool_t p;
    pool_start(&p, s, todo, n);
    int rc = 0;
    size_t done = 0; /* files handed over */
    clove_err_t serr;
    while (done < nl) {
        size_t end = done;
        pthread_mutex_lock(&p.lock);
        for (;;) {
            while (end < nl && (!pending[load[end]] || p.landed[load[end]])) end++;
            if (end > done || atomic_load(&p.failed) || p.running == 0) break;
            pthread_cond_wait(&p.cond, &p.lock);
        }
        pthread_mutex_unlock(&p.lock);
        /* a failed download ends the sync; so would threads that ended with objects missing */
        if (end == done || atomic_load(&p.failed)) break;
        rc = sink->ready_cb(sink->ctx, files + done, end - done, &serr);
        (*batches)++;
        done = end;
        if (rc != 0) {
            pool_fail(&p, &serr);
            break;
        }
    }
    int prc = pool_finish(&p, fetched, bytes, err);
    *dl_ms = (double)(p.last_ns - t0) / 1e6;
    if (prc == 0 && done < nl)
        prc = clove_err_set(err, CLOVE_EINTERNAL, "dataset %s: %zu object(s) of s3://%s/%s "
                            "were neither cached nor fetched", s->cfg->name, nl - done,
                            s->bucket, s->prefix);
    for (size_t k = 0; k < nl; k++) free((char *)files[k]);
    free(files);
    free(pending);
    free(load);
    return prc;
}

/* ---- sync ---------------------------------------------------------------------------------- */

/* Asks the sink whether to stream this sync's files, with the partition types of the whole
 * listing. */
static bool plan_stream(clove_s3_src_t *s, const clove_source_sink_t *sink, bool changed)
{
    const char **rels = clove_xcalloc(s->n_entries ? s->n_entries : 1, sizeof *rels);
    size_t n = 0;
    for (size_t i = 0; i < s->n_entries; i++)
        if (s->entries[i].eligible) rels[n++] = s->entries[i].rel;
    char *types = clove_s3_hive_types(rels, n);
    free(rels);
    if (!types)
        clove_debug(COMP, "dataset %s: the Hive partition types of s3://%s/%s are left to DuckDB: "
                    "objects load once all are in place", s->cfg->name, s->bucket, s->prefix);
    bool yes = sink->plan_cb(sink->ctx, changed, types);
    free(types);
    return yes;
}

int clove__s3_src_sync(clove_s3_src_t *s, clove_sync_kind_t kind, duckdb_connection conn,
                       const char *filter_sql, int64_t deadline_ns,
                       const clove_source_sink_t *sink, bool *changed, clove_err_t *err)
{
    int rc = 0;
    int removed = 0;
    int batches = -1;            /* streamed: handed to the sink in this many batches */
    double dl_ms = 0;
    size_t fetched = 0, unchanged = 0, pruned = 0;
    uint64_t bytes = 0;
    if (changed) *changed = false;
    int64_t t0 = clove_mono_ns();
    pthread_mutex_lock(&s->lock);
    s->deadline_ns = deadline_ns;
    bool listed_now = false;
    if (kind == CLOVE_SYNC_SCHEMA) {
        bool have = false;
        for (size_t i = 0; i < s->n_entries && !have; i++)
            have = s->entries[i].eligible && s->entries[i].cached_etag;
        if (have) goto out;
    }
    int64_t now = clove_mono_ns() / 1000000;
    if (!s->listed || kind == CLOVE_SYNC_REFRESH ||
        (kind == CLOVE_SYNC_QUERY && now - s->listed_at_ms >= s->listing_ttl_ms)) {
        if ((rc = relist(s, &removed, err)) != 0) goto out;
        listed_now = true;
    }
    size_t n_eligible = 0;
    for (size_t i = 0; i < s->n_entries; i++) n_eligible += s->entries[i].eligible;
    if (n_eligible == 0) {
        rc = clove_err_set(err, CLOVE_ENOTFOUND, "no %s objects found under s3://%s/%s for "
                           "dataset %s", s->format, s->bucket, s->prefix, s->cfg->name);
        goto out;
    }
    if (kind != CLOVE_SYNC_SCHEMA && filter_sql && *filter_sql) {
        /* the same condition over the same listing selects the same objects */
        if (!s->pruned_for || strcmp(s->pruned_for, filter_sql) != 0 ||
            s->pruned_gen != s->listing_gen) {
            apply_filter(s, conn, filter_sql);
            free(s->pruned_for);
            s->pruned_for = clove_xstrdup(filter_sql);
            s->pruned_gen = s->listing_gen;
        }
    } else {
        for (size_t i = 0; i < s->n_entries; i++) s->entries[i].want = s->entries[i].eligible;
        free(s->pruned_for);
        s->pruned_for = NULL;
    }
    if (kind == CLOVE_SYNC_SCHEMA) { /* one object tells the columns: the first */
        free(s->pruned_for);
        s->pruned_for = NULL;
        bool first = true;
        for (size_t i = 0; i < s->n_entries; i++) {
            s->entries[i].want = s->entries[i].want && first;
            if (s->entries[i].want) first = false;
        }
    }
    size_t *todo = clove_xcalloc(s->n_entries ? s->n_entries : 1, sizeof *todo);
    size_t nt = 0;
    for (size_t i = 0; i < s->n_entries; i++) {
        s3_entry_t *e = &s->entries[i];
        if (!e->eligible) continue;
        if (!e->want) {
            pruned++;
            continue;
        }
        if (e->cached_etag && !strcmp(e->cached_etag, e->etag)) unchanged++;
        else todo[nt++] = i;
    }
    if (sink && kind == CLOVE_SYNC_REFRESH && !s->single && !(filter_sql && *filter_sql) &&
        plan_stream(s, sink, removed > 0 || nt > 0)) {
        batches = 0;
        rc = download_streaming(s, todo, nt, sink, t0, &fetched, &bytes, &batches, &dl_ms, err);
    } else if (nt) {
        rc = download(s, todo, nt, &fetched, &bytes, err);
    }
    free(todo);
out:
    if (changed) *changed = removed > 0 || fetched > 0;
    size_t listed = s->n_entries;
    pthread_mutex_unlock(&s->lock);
    if (rc == 0 && (listed_now || fetched)) {
        double ms = (double)(clove_mono_ns() - t0) / 1e6;
        char streamed[128] = "";
        if (batches >= 0) {
            /* the sync's own time includes the loads the sink ran: report the transfers' */
            snprintf(streamed, sizeof streamed, ", handed to the load in %d batch(es) as they "
                     "landed (sync %.1f ms); list + download", batches, ms);
            ms = dl_ms;
        }
        clove_info(COMP, "dataset %s: s3://%s/%s: %zu object(s) in the listing, %zu fetched (%llu "
                   "bytes), %zu unchanged, %zu pruned, %d removed%s in %.1f ms", s->cfg->name,
                   s->bucket, s->prefix, listed, fetched, (unsigned long long)bytes,
                   unchanged, pruned, removed, streamed[0] ? streamed : ",", ms);
    }
    return rc;
}

int clove__s3_src_probe(clove_s3_src_t *s, clove_err_t *err)
{
    CURL *h = curl_easy_init();
    if (!h) return clove_err_set(err, CLOVE_EINTERNAL, "could not create a curl handle");
    int rc = clove_s3_probe(s->client, h, s->prefix, err);
    curl_easy_cleanup(h);
    return rc;
}
