/*
 * datasets.c: the dataset registry. Builds the source expression of each dataset (local
 * files for now: Parquet, CSV, JSON; a file, a directory, a glob, Hive partitions), registers
 * federated datasets as views, runs one thread per dataset that loads and refreshes
 * accelerations (full refresh: staging + swap in one transaction) or retries a federated
 * source that failed, creates user views once what they read is ready, and reports status.
 */
#include "engine/engine_int.h"

#include "connectors/duckdb_file.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define COMP "datasets"
#define RETRY_BASE_MS 1000
#define RETRY_MAX_MS 60000

static const char *STATE_NAMES[] = {"Initializing", "Ready", "Refreshing", "Error", "ShuttingDown"};

const char *clove_ds_state_name(clove_ds_state_t s)
{
    return (unsigned)s < sizeof STATE_NAMES / sizeof STATE_NAMES[0] ? STATE_NAMES[s] : "Unknown";
}

static char *lower_dup(const char *s)
{
    char *p = clove_xstrdup(s);
    for (char *c = p; *c; c++) *c = (char)tolower((unsigned char)*c);
    return p;
}

dataset_t *clove__dataset_find(clove_engine_t *e, const char *name)
{
    for (size_t i = 0; i < e->n_datasets; i++)
        if (strcasecmp(e->datasets[i].cfg->name, name) == 0) return &e->datasets[i];
    return NULL;
}

view_t *clove__view_find(clove_engine_t *e, const char *name)
{
    for (size_t i = 0; i < e->n_views; i++)
        if (strcasecmp(e->views[i].name, name) == 0) return &e->views[i];
    return NULL;
}

/* ---- state ---------------------------------------------------------------------------------- */

void clove__dataset_publish_state(dataset_t *d)
{
    char labels[256];
    snprintf(labels, sizeof labels, "dataset=\"%s\"", d->cfg->name);
    clove_metric_gauge_set("dataset_load_state",
                           "Status of the dataset: 0=Initializing, 1=Ready, 2=Refreshing, "
                           "3=Error, 4=ShuttingDown.", labels, (double)d->state);
}

char *clove__dataset_redacted(dataset_t *d, const char *msg)
{
    size_t cap = strlen(msg) * 3 + 64;
    char *out = clove_xmalloc(cap);
    snprintf(out, cap, "%s", msg);
    clove__redact(d->e, out, cap);
    return out;
}

/* Logs an error about a dataset with secret values redacted. */
static void log_error(dataset_t *d, const char *msg)
{
    char *r = clove__dataset_redacted(d, msg);
    clove_error(COMP, "%s", r);
    free(r);
}

/* Sets state and error (error may be NULL); caller does not hold d->lock. */
static void set_state(dataset_t *d, clove_ds_state_t st, const char *error)
{
    pthread_mutex_lock(&d->lock);
    d->state = st;
    if (error) {
        free(d->error);
        d->error = clove__dataset_redacted(d, error);
    } else if (st == CLOVE_DS_READY) {
        free(d->error);
        d->error = NULL;
        d->error_code = 0;
    }
    pthread_mutex_unlock(&d->lock);
    clove__dataset_publish_state(d);
}

/* ---- sources ------------------------------------------------------------------------------ */

/* Finds the first data file format below dir (depth-first, sorted), for directories given
 * without file_format. */
static const char *scan_dir_format(const char *dir, int depth)
{
    if (depth > 16) return NULL;
    struct dirent **list = NULL;
    int n = scandir(dir, &list, NULL, alphasort);
    if (n < 0) return NULL;
    const char *fmt = NULL;
    for (int i = 0; i < n; i++) {
        const char *nm = list[i]->d_name;
        if (!fmt && nm[0] != '.' && nm[0] != '_') {
            char *p = clove_xasprintf("%s/%s", dir, nm);
            struct stat st;
            if (stat(p, &st) == 0) {
                if (S_ISDIR(st.st_mode)) fmt = scan_dir_format(p, depth + 1);
                else fmt = clove_file_format_of_name(nm, strlen(nm));
            }
            free(p);
        }
        free(list[i]);
    }
    free(list);
    return fmt;
}

static bool has_glob(const char *s) { return strpbrk(s, "*?[") != NULL; }

static bool param_true(const char *v) { return v && (!strcasecmp(v, "true") || !strcmp(v, "1")); }

static void append_opt_str(clove_buf_t *b, const char *name, const char *v)
{
    char *lit = clove_sql_literal(v);
    clove_buf_printf(b, ", %s = %s", name, lit);
    free(lit);
}

/* Sets the reader of a dataset whose data DuckDB reads from files: reader_fn, reader_pattern,
 * reader_opts (Hive partitioning, csv/json params) and source_sql. */
static void set_reader(dataset_t *d, const char *fmt, const char *pattern, bool hive_default)
{
    const clove_dataset_cfg_t *c = d->cfg;
    clove_buf_t b;
    clove_buf_init(&b);
    d->reader_fn = clove_xasprintf("read_%s", fmt);
    d->reader_pattern = clove_xstrdup(pattern);
    char *lit = clove_sql_literal(pattern);
    clove_buf_printf(&b, "read_%s(%s", fmt, lit);
    free(lit);
    size_t opts_at = b.len;
    const char *hive = clove_kv_get(&c->params, "hive_partitioning_enabled");
    if (hive) clove_buf_printf(&b, ", hive_partitioning = %s", param_true(hive) ? "true" : "false");
    else if (hive_default) clove_buf_puts(&b, ", hive_partitioning = true");
    d->reader_hive = hive ? param_true(hive) : hive_default;
    if (!strcmp(fmt, "csv")) {
        const char *v;
        if ((v = clove_kv_get(&c->params, "csv_has_header")))
            clove_buf_printf(&b, ", header = %s", param_true(v) ? "true" : "false");
        if ((v = clove_kv_get(&c->params, "csv_delimiter"))) append_opt_str(&b, "delim", v);
        if ((v = clove_kv_get(&c->params, "csv_quote"))) append_opt_str(&b, "quote", v);
        if ((v = clove_kv_get(&c->params, "csv_escape"))) append_opt_str(&b, "escape", v);
        if ((v = clove_kv_get(&c->params, "csv_schema_infer_max_records")))
            clove_buf_printf(&b, ", sample_size = %lld", atoll(v));
    }
    if (!strcmp(fmt, "json")) clove_buf_puts(&b, ", format = 'auto'");
    d->reader_opts = clove_xstrdup(b.data + opts_at);
    clove_buf_putc(&b, ')');
    d->source_sql = clove_buf_steal(&b);
}

/* Adds dir to the allowed_directories list being built (entries end with a slash). */
static void allow_directory(clove_buf_t *allowed, const char *dir)
{
    if (allowed->len) clove_buf_puts(allowed, ", ");
    size_t al = strlen(dir);
    char *entry = clove_xasprintf("%s%s", dir, al && dir[al - 1] == '/' ? "" : "/");
    char *lit = clove_sql_literal(entry);
    clove_buf_puts(allowed, lit);
    free(lit);
    free(entry);
}

/* s3:// and http(s):// sources: the connector mirrors the data into a cache directory that
 * DuckDB reads like local files. */
static void build_remote_source(dataset_t *d, clove_buf_t *allowed)
{
    clove_engine_t *e = d->e;
    char *cache_root = clove_xasprintf("%s/.clove/cache", e->cfg->dir);
    clove_err_t err;
    clove_err_clear(&err);
    d->remote = clove_source_create(d->cfg, cache_root, &e->shutting_down, &err);
    free(cache_root);
    if (!d->remote) {
        const char *m = err.message;
        char pfx[300];
        int pl = snprintf(pfx, sizeof pfx, "dataset %s: ", d->cfg->name);
        if (pl > 0 && !strncmp(m, pfx, (size_t)pl)) m += pl; /* named again by the caller */
        d->source_error = clove_xstrdup(m);
        return;
    }
    const clove_source_files_t *f = clove_source_files(d->remote);
    set_reader(d, f->format, f->pattern, f->hive_default);
    d->remote_fn = clove_xasprintf("__clove_source_%zu", (size_t)(d - e->datasets));
    allow_directory(allowed, f->cache_dir);
    d->deferred = true;
}

/* Builds d->source_sql and adds what DuckDB must be allowed to read to `allowed`. */
static void build_file_source(dataset_t *d, const char *raw_path, clove_buf_t *allowed)
{
    const clove_dataset_cfg_t *c = d->cfg;
    clove_engine_t *e = d->e;
    char *path = raw_path[0] == '/' ? clove_xstrdup(raw_path)
                                    : clove_xasprintf("%s/%s", e->cfg->dir, raw_path);
    /* strip a trailing slash, keep "/" */
    size_t pl = strlen(path);
    while (pl > 1 && path[pl - 1] == '/') path[--pl] = '\0';

    const char *fmt = clove_kv_get(&c->params, "file_format");
    struct stat st;
    bool is_dir = !has_glob(path) && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    char *pattern = NULL;
    char *allow_dir = NULL;
    if (fmt && !clove_file_format_name(fmt)) {
        d->source_error = clove_xasprintf(
            "params.file_format: expected one of parquet, csv, json; got \"%s\"", fmt);
        goto done;
    }
    if (fmt) fmt = clove_file_format_name(fmt);
    if (is_dir) {
        if (!fmt) fmt = scan_dir_format(path, 0);
        if (!fmt) {
            d->source_error = clove_xasprintf(
                "no parquet, csv or json files found in directory \"%s\"; set "
                "params.file_format", path);
            goto done;
        }
        const char *ext = !strcmp(fmt, "parquet") ? "parquet" : !strcmp(fmt, "csv") ? "csv" : "json*";
        pattern = clove_xasprintf("%s/**/*.%s", path, ext);
        allow_dir = clove_xstrdup(path);
    } else {
        if (!fmt) fmt = clove_file_format_of_name(path, strlen(path));
        if (!fmt) {
            d->source_error = clove_xasprintf(
                "cannot tell the file format of \"%s\" from its extension; set "
                "params.file_format to parquet, csv or json", path);
            goto done;
        }
        pattern = clove_xstrdup(path);
        /* the directory part before any glob character */
        char *tmp = clove_xstrdup(path);
        char *g = strpbrk(tmp, "*?[");
        if (g) *g = '\0';
        char *slash = strrchr(tmp, '/');
        if (slash) slash[slash == tmp ? 1 : 0] = '\0';
        allow_dir = clove_xstrdup(tmp[0] ? tmp : "/");
        free(tmp);
    }

    set_reader(d, fmt, pattern, is_dir || has_glob(pattern));

    allow_directory(allowed, allow_dir);
done:
    free(pattern);
    free(allow_dir);
    free(path);
}

/* postgres:[db.][schema.]table: a clove_pg_scan over the source; nothing connects yet (the
 * dataset thread registers it, so an unreachable server does not hold up the start). */
static void build_pg_source(dataset_t *d)
{
    clove_err_t err;
    d->pg = clove_pg_source_create(d->cfg->name, d->cfg->from, &d->cfg->params, &err);
    if (!d->pg) {
        d->source_error = clove_xstrdup(err.message);
        return;
    }
    d->source_sql = clove_pg_source_sql(d->pg);
    d->deferred = true;
}

/* duckdb:[schema.]table with params.duckdb_open: the file attached read-only (once, shared
 * by the datasets reading it) before the configuration is locked. */
static void build_duckdb_source(dataset_t *d, clove_buf_t *allowed)
{
    clove_engine_t *e = d->e;
    const char *f = clove_kv_get(&d->cfg->params, "duckdb_open");
    clove_err_t err;
    if (!f || !*f) {
        d->source_error = clove_xasprintf("params.duckdb_open is required for from: \"%s\" "
                                          "(the DuckDB file to read)", d->cfg->from);
        return;
    }
    char *path = f[0] == '/' ? clove_xstrdup(f) : clove_xasprintf("%s/%s", e->cfg->dir, f);
    const char *alias = NULL;
    for (size_t i = 0; i < e->n_src_files && !alias; i++)
        if (!strcmp(e->src_files[i].path, path)) alias = e->src_files[i].alias;
    for (size_t i = 0; i < e->n_attached; i++) {
        if (strcmp(e->attached[i].path, path) != 0) continue;
        d->source_error = clove_xasprintf("DuckDB file \"%s\" is also an acceleration file; "
                                          "a source must be a file clove does not write", path);
        free(path);
        return;
    }
    if (!alias) {
        char *a = clove_xasprintf("src_%zu", e->n_src_files + 1);
        if (clove_duckdb_file_attach(e->admin, d->cfg->name, path, a, &err) != 0) {
            d->source_error = clove_xstrdup(err.message);
            free(a);
            free(path);
            return;
        }
        e->src_files = clove_xrealloc(e->src_files, (e->n_src_files + 1) * sizeof *e->src_files);
        e->src_files[e->n_src_files].path = clove_xstrdup(path);
        e->src_files[e->n_src_files].alias = a;
        alias = a;
        e->n_src_files++;
        /* the file stays readable once external access is off */
        char *dir = clove_xstrdup(path);
        char *slash = strrchr(dir, '/');
        if (slash) slash[slash == dir ? 1 : 0] = '\0';
        char *entry = clove_xasprintf("%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/");
        char *lit = clove_sql_literal(entry);
        if (allowed->len) clove_buf_puts(allowed, ", ");
        clove_buf_puts(allowed, lit);
        free(lit);
        free(entry);
        free(dir);
    }
    d->source_sql = clove_duckdb_file_table(e->admin, d->cfg->name, d->cfg->from, path, alias,
                                            &err);
    if (!d->source_sql) d->source_error = clove_xstrdup(err.message);
    free(path);
}

static void build_source(dataset_t *d, clove_buf_t *allowed)
{
    const char *from = d->cfg->from;
    if (!strncmp(from, "file://", 7)) build_file_source(d, from + 7, allowed);
    else if (!strncmp(from, "file:", 5)) build_file_source(d, from + 5, allowed);
    else if (clove_source_claims(from)) build_remote_source(d, allowed);
    else if (!strncmp(from, "postgres:", 9)) build_pg_source(d);
    else if (!strncmp(from, "duckdb:", 7)) build_duckdb_source(d, allowed);
    else {
        const char *colon = strchr(from, ':');
        int n = colon ? (int)(colon - from) : (int)strlen(from);
        d->source_error = clove_xasprintf(
            "the \"%.*s\" data connector is not supported by this clove build yet "
            "(dataset from: \"%s\")", n, from, from);
    }
}

/* ---- accelerations ------------------------------------------------------------------------ */

/* engine: sqlite: a store per file (datasets naming one file share it), or a private store
 * per memory-mode dataset. */
static int setup_sqlite(dataset_t *d, clove_err_t *err)
{
    clove_engine_t *e = d->e;
    const clove_accel_cfg_t *a = &d->cfg->acceleration;
    int64_t busy = CLOVE_SQLITE_DEFAULT_BUSY_TIMEOUT_MS;
    const char *bt = clove_kv_get(&a->params, "busy_timeout");
    if (bt && clove_parse_duration_ms(bt, &busy) != 0) {
        /* a bare number is milliseconds for this parameter */
        char *end;
        long long v = strtoll(bt, &end, 10);
        if (*end || v < 0)
            return clove_err_set(err, CLOVE_ECONFIG,
                                 "dataset %s: params.busy_timeout: expected a duration like 5s; "
                                 "got \"%s\"", d->cfg->name, bt);
        busy = v;
    } else if (bt && strspn(bt, "0123456789") == strlen(bt)) {
        busy = atoll(bt);
    }
    char *path = NULL;
    if (a->mode != CLOVE_MODE_MEMORY) {
        const char *f = clove_kv_get(&a->params, "sqlite_file");
        if (f) path = f[0] == '/' ? clove_xstrdup(f) : clove_xasprintf("%s/%s", e->cfg->dir, f);
        else path = clove_xasprintf("%s/%s", e->data_dir, CLOVE_SQLITE_DEFAULT_FILE);
        char *dir = clove_xstrdup(path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) *slash = '\0';
        int mk = clove_mkdir_p(dir);
        free(dir);
        if (mk != 0) {
            int rc = clove_err_set(err, CLOVE_EIO, "could not create the directory of \"%s\" "
                                   "for dataset %s: %s", path, d->cfg->name, strerror(errno));
            free(path);
            return rc;
        }
        if (a->mode == CLOVE_MODE_FILE_CREATE) {
            bool shared = false;
            for (size_t i = 0; i < e->n_sqlite_stores; i++)
                shared |= e->sqlite_stores[i].path && !strcmp(e->sqlite_stores[i].path, path);
            if (!shared) {
                unlink(path);
                char *side = clove_xasprintf("%s-wal", path);
                unlink(side);
                free(side);
            }
        }
        for (size_t i = 0; i < e->n_sqlite_stores; i++) {
            if (e->sqlite_stores[i].path && !strcmp(e->sqlite_stores[i].path, path)) {
                d->sqlite = e->sqlite_stores[i].a;
                d->file_path = path;
                return 0;
            }
        }
    }
    clove_sqlite_accel_t *s = clove_sqlite_accel_open(path, (int)busy, err);
    if (!s) {
        if (path) {
            /* unreadable store: keep it aside and start over, as for DuckDB files */
            char *aside = clove_xasprintf("%s.corrupt-%lld", path, (long long)clove_now_ms());
            clove_error(COMP, "SQLite acceleration file \"%s\" of dataset %s cannot be opened "
                        "(%s); moved it to \"%s\" and rebuilding from the source", path,
                        d->cfg->name, err->message, aside);
            if (rename(path, aside) == 0) s = clove_sqlite_accel_open(path, (int)busy, err);
            free(aside);
        }
        if (!s) {
            free(path);
            return err->code ? err->code : CLOVE_EIO;
        }
    }
    e->sqlite_stores = clove_xrealloc(e->sqlite_stores,
                                      (e->n_sqlite_stores + 1) * sizeof *e->sqlite_stores);
    e->sqlite_stores[e->n_sqlite_stores].path = path ? clove_xstrdup(path) : NULL;
    e->sqlite_stores[e->n_sqlite_stores].a = s;
    e->n_sqlite_stores++;
    d->sqlite = s;
    d->file_path = path;
    return 0;
}

/* Prepares where an accelerated dataset's table lives. */
static int setup_acceleration(dataset_t *d, clove_buf_t *allowed, clove_err_t *err)
{
    const clove_accel_cfg_t *a = &d->cfg->acceleration;
    char *qi = clove_sql_ident(d->cfg->name);
    if (a->engine == CLOVE_ENGINE_SQLITE) {
        d->target = clove_xasprintf("spice.public.%s", qi);
        free(qi);
        return setup_sqlite(d, err);
    }
    bool file = a->engine == CLOVE_ENGINE_DUCKDB && a->mode != CLOVE_MODE_MEMORY;
    if (!file) {
        d->target = clove_xasprintf("spice.public.%s", qi);
        free(qi);
        return 0;
    }
    const char *f = clove_kv_get(&a->params, "duckdb_file");
    char *path;
    if (f) path = f[0] == '/' ? clove_xstrdup(f) : clove_xasprintf("%s/%s", d->e->cfg->dir, f);
    else path = clove_xasprintf("%s/%s.db", d->e->data_dir, d->lname);
    char *dir = clove_xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) *slash = '\0';
    if (clove_mkdir_p(dir) != 0) {
        clove_err_set(err, CLOVE_EIO, "could not create directory \"%s\" for dataset %s: %s", dir,
                      d->cfg->name, strerror(errno));
        free(dir);
        free(path);
        free(qi);
        return CLOVE_EIO;
    }
    clove_engine_t *e = d->e;
    for (size_t i = 0; i < e->n_attached; i++) {
        if (strcmp(e->attached[i].path, path) != 0) continue;
        /* another dataset already keeps its table in this file: share the ATTACH */
        d->attach_name = clove_xstrdup(e->attached[i].alias);
        char *qa = clove_sql_ident(d->attach_name);
        d->target = clove_xasprintf("%s.main.%s", qa, qi);
        d->file_path = path;
        free(qa);
        free(dir);
        free(qi);
        return 0;
    }
    if (a->mode == CLOVE_MODE_FILE_CREATE) {
        unlink(path);
        char *wal = clove_xasprintf("%s.wal", path);
        unlink(wal);
        free(wal);
    }
    d->attach_name = clove_xasprintf("accel_%s", d->lname);
    char *qa = clove_sql_ident(d->attach_name);
    char *lit = clove_sql_literal(path);
    char *sql = clove_xasprintf("ATTACH %s AS %s", lit, qa);
    int rc = clove__exec(d->e->admin, sql, err);
    struct stat st;
    /* only a damaged file is moved aside; a file another process holds (lock), or one we may
     * not read, is an error that loses nothing */
    bool damaged = rc != 0 && (strstr(err->message, "not a valid DuckDB database") ||
                               strcasestr(err->message, "corrupt") ||
                               strcasestr(err->message, "checksum"));
    if (damaged && stat(path, &st) == 0) {
        /* a corrupt or unreadable file: keep it for inspection, rebuild from the source */
        char *aside = clove_xasprintf("%s.corrupt-%lld", path, (long long)clove_now_ms());
        clove_error(COMP, "acceleration file \"%s\" of dataset %s cannot be opened (%s); moved "
                    "it to \"%s\" and rebuilding from the source", path, d->cfg->name,
                    err->message, aside);
        if (rename(path, aside) == 0) {
            char *wal = clove_xasprintf("%s.wal", path), *wal_aside = clove_xasprintf("%s.wal", aside);
            rename(wal, wal_aside);
            free(wal);
            free(wal_aside);
            rc = clove__exec(d->e->admin, sql, err);
        }
        free(aside);
    }
    if (rc != 0) {
        clove_err_set(err, CLOVE_EIO, "could not open acceleration file \"%s\" for dataset %s: %s",
                      path, d->cfg->name, err->message);
    } else {
        d->target = clove_xasprintf("%s.main.%s", qa, qi);
        e->attached = clove_xrealloc(e->attached, (e->n_attached + 1) * sizeof *e->attached);
        e->attached[e->n_attached].path = clove_xstrdup(path);
        e->attached[e->n_attached].alias = clove_xstrdup(d->attach_name);
        e->n_attached++;
        d->file_path = path;
        path = NULL;
        char *entry = clove_xasprintf("%s/", dir);
        char *el = clove_sql_literal(entry);
        if (allowed->len) clove_buf_puts(allowed, ", ");
        clove_buf_puts(allowed, el);
        free(el);
        free(entry);
    }
    free(sql);
    free(lit);
    free(qa);
    free(dir);
    free(path);
    free(qi);
    return rc;
}

/* Has a previous run left this dataset's table in its acceleration file? */
static bool persisted_table_exists(dataset_t *d, duckdb_connection conn)
{
    if (d->sqlite) return clove_sqlite_accel_has_table(d->sqlite, d->cfg->name);
    if (!d->attach_name) return false;
    char *a = clove_sql_literal(d->attach_name), *t = clove_sql_literal(d->cfg->name);
    char *sql = clove_xasprintf("SELECT count(*) FROM duckdb_tables() WHERE database_name = %s "
                                "AND schema_name = 'main' AND table_name = %s", a, t);
    duckdb_result res;
    bool exists = false;
    if (duckdb_query(conn, sql, &res) == DuckDBSuccess) exists = duckdb_value_int64(&res, 0, 0) > 0;
    duckdb_destroy_result(&res);
    free(sql);
    free(a);
    free(t);
    return exists;
}

/* Creates the user views whose datasets are all loaded. */
static void try_create_views(clove_engine_t *e)
{
    for (size_t i = 0; i < e->n_views; i++) {
        view_t *v = &e->views[i];
        pthread_mutex_lock(&e->views_lock);
        bool created = v->created;
        pthread_mutex_unlock(&e->views_lock);
        if (created) continue;
        bool ready = true;
        for (size_t k = 0; k < v->n_deps && ready; k++) {
            pthread_mutex_lock(&v->deps[k]->lock);
            ready = v->deps[k]->loaded;
            pthread_mutex_unlock(&v->deps[k]->lock);
        }
        if (!ready) continue;
        char *qi = clove_sql_ident(v->name);
        char *sql = clove_xasprintf("CREATE OR REPLACE VIEW spice.public.%s AS %s", qi,
                                    v->cfg->sql);
        clove_err_t err;
        pthread_mutex_lock(&e->admin_lock);
        int rc = clove__exec(e->admin, sql, &err);
        pthread_mutex_unlock(&e->admin_lock);
        pthread_mutex_lock(&e->views_lock);
        if (rc == 0) {
            v->created = true;
            free(v->error);
            v->error = NULL;
        } else if (!v->error || strcmp(v->error, err.message) != 0) {
            free(v->error);
            v->error = clove_xstrdup(err.message);
            clove_error(COMP, "could not create view %s: %s", v->name, err.message);
        }
        pthread_mutex_unlock(&e->views_lock);
        if (rc == 0) {
            atomic_fetch_add(&e->ddl_generation, 1);
            clove_info(COMP, "view %s registered", v->name);
        }
        free(sql);
        free(qi);
    }
}

/* ---- dataset threads ---------------------------------------------------------------------- */

/* Sleeps until wall-clock deadline_ms (-1: forever) or a refresh request; returns false when
 * the engine is stopping. */
static bool dataset_wait_until(dataset_t *d, int64_t deadline_ms, bool wake_on_request)
{
    struct timespec ts = {.tv_sec = deadline_ms / 1000, .tv_nsec = (deadline_ms % 1000) * 1000000};
    pthread_mutex_lock(&d->lock);
    while (!atomic_load(&d->e->shutting_down) && !(wake_on_request && d->refresh_requested)) {
        if (deadline_ms < 0) pthread_cond_wait(&d->cond, &d->lock);
        else if (pthread_cond_timedwait(&d->cond, &d->lock, &ts) != 0) break;
    }
    pthread_mutex_unlock(&d->lock);
    return !atomic_load(&d->e->shutting_down);
}

static bool dataset_wait(dataset_t *d, int64_t ms, bool wake_on_request)
{
    return dataset_wait_until(d, ms < 0 ? -1 : clove_now_ms() + ms, wake_on_request);
}

static void refresh_metrics(dataset_t *d, double ms, bool ok, int64_t loaded, int64_t held)
{
    char labels[256];
    snprintf(labels, sizeof labels, "dataset=\"%s\"", d->cfg->name);
    clove_metric_histogram_observe("dataset_acceleration_refresh_duration_ms",
                                   "Duration of dataset acceleration refreshes in milliseconds.",
                                   labels, ms);
    if (!ok) {
        clove_metric_counter_add("dataset_acceleration_refresh_errors",
                                 "Number of failed dataset acceleration refreshes.", labels, 1);
        return;
    }
    clove_metric_gauge_set("dataset_acceleration_last_refresh_time_ms",
                           "Unix time in milliseconds of the last successful refresh.", labels,
                           (double)clove_now_ms());
    if (held >= 0)
        clove_metric_gauge_set("dataset_acceleration_rows",
                               "Rows held by the dataset's acceleration.", labels, (double)held);
    if (loaded >= 0)
        clove_metric_counter_add("dataset_acceleration_refresh_rows",
                                 "Rows loaded by acceleration refreshes.", labels, (double)loaded);
}

/* An accelerated PostgreSQL dataset reads the table's columns again before a refresh when
 * they changed (one catalog query; a scan that found them changed flagged it already), so a
 * full refresh takes the new columns. Dataset thread only (owns source_pushdown). */
static void pg_columns_check(dataset_t *d)
{
    if (!d->pg || !d->source_pushdown) return; /* not read yet: the refresh reads them */
    bool changed = false;
    clove_err_t err;
    pthread_mutex_lock(&d->lock);
    bool flagged = d->columns_changed;
    d->columns_changed = false;
    pthread_mutex_unlock(&d->lock);
    if (clove_pg_source_check_columns(d->pg, &changed, &err) != 0) return; /* the refresh
                                                                               says why */
    if (!changed && !flagged) return;
    if (flagged && !changed && clove_pg_source_load_schema(d->pg, &err) != 0) return;
    clove_pushdown_target_unref(d->source_pushdown);
    d->source_pushdown = NULL; /* rebuilt with the new columns by clove__source_prepare */
    clove_info(COMP, "dataset %s: the columns of its PostgreSQL table changed; this refresh "
               "reads the new ones", d->cfg->name);
}

/* Runs one refresh with retries. Returns true when data was loaded. */
static bool refresh_once(dataset_t *d, duckdb_connection conn)
{
    const clove_accel_cfg_t *a = &d->cfg->acceleration;
    int64_t fib_a = 0, fib_b = 1;
    char *manual_sql = NULL; /* a manual refresh's overrides hold for its retries too */
    int manual_mode = -1;
    for (int attempt = 1;; attempt++) {
        pthread_mutex_lock(&d->lock);
        if (d->refresh_requested && (d->next_refresh_sql || d->next_refresh_mode >= 0)) {
            free(manual_sql);
            manual_sql = d->next_refresh_sql;
            manual_mode = d->next_refresh_mode;
            d->next_refresh_sql = NULL;
            d->next_refresh_mode = -1;
        }
        d->refresh_requested = false;
        bool initial = !d->loaded;
        /* this run's refresh_sql and mode: a manual override, else PATCHed, else configured */
        char *sql = manual_sql ? clove_xstrdup(manual_sql)
                    : d->refresh_sql_override ? clove_xstrdup(d->refresh_sql_override)
                    : a->refresh_sql ? clove_xstrdup(a->refresh_sql) : NULL;
        clove_refresh_mode_t mode = manual_mode >= 0 ? (clove_refresh_mode_t)manual_mode
                                                     : a->refresh_mode;
        d->refreshing = true;
        d->manual_cancel = false;
        pthread_mutex_unlock(&d->lock);
        if (mode != CLOVE_REFRESH_APPEND) mode = CLOVE_REFRESH_FULL;
        if (!initial) set_state(d, CLOVE_DS_REFRESHING, NULL);
        pg_columns_check(d);
        clove_info(COMP, "%s dataset %s (%s, %s)", initial ? "loading" : "refreshing",
                   d->cfg->name, d->cfg->from, mode == CLOVE_REFRESH_APPEND ? "append" : "full");
        int64_t t0 = clove_mono_ns();
        clove_err_t err;
        clove_err_clear(&err);
        int64_t loaded = -1, held = -1;
        int rc = clove__refresh_run(d, conn, mode, sql, &loaded, &held, &err);
        free(sql);
        double ms = (double)(clove_mono_ns() - t0) / 1e6;
        pthread_mutex_lock(&d->lock);
        d->refreshing = false;
        bool superseded = d->manual_cancel;
        pthread_mutex_unlock(&d->lock);
        if (rc != 0 && superseded && !atomic_load(&d->e->shutting_down)) {
            clove_info(COMP, "refresh of dataset %s canceled by a manual refresh", d->cfg->name);
            continue; /* the manual request is pending: run it now */
        }
        if (rc == 0) {
            /* cached prepared statements are dropped after a data change: DuckDB 1.4.4 can
             * fold a persisted table's statistics (e.g. count(*)) into a prepared plan, which
             * an INSERT does not invalidate */
            atomic_fetch_add(&d->e->ddl_generation, 1);
            pthread_mutex_lock(&d->lock);
            d->loaded = true;
            d->initial_done = true;
            d->rows = held;
            d->last_refresh_ms = clove_now_ms();
            pthread_mutex_unlock(&d->lock);
            set_state(d, CLOVE_DS_READY, NULL);
            /* metrics after the state: whoever sees the refresh counted sees its outcome */
            refresh_metrics(d, ms, true, loaded, held);
            clove_info(COMP, "dataset %s %s: %lld rows loaded, %lld held, in %.1f ms",
                       d->cfg->name, initial ? "loaded" : "refreshed", (long long)loaded,
                       (long long)held, ms);
            free(manual_sql);
            return true;
        }
        if (atomic_load(&d->e->shutting_down)) {
            refresh_metrics(d, ms, false, loaded, held);
            break;
        }
        char *msg = clove_xasprintf("%s of dataset %s failed: %s",
                                    initial ? "initial load" : "refresh", d->cfg->name,
                                    err.message);
        log_error(d, msg);
        pthread_mutex_lock(&d->lock);
        d->initial_done = true;
        d->error_code = err.code;
        pthread_mutex_unlock(&d->lock);
        set_state(d, CLOVE_DS_ERROR, msg);
        free(msg);
        refresh_metrics(d, ms, false, loaded, held);
        if (!a->refresh_retry_enabled) break;
        if (a->refresh_retry_max_attempts >= 0 && attempt >= a->refresh_retry_max_attempts)
            break;
        int64_t next = fib_a + fib_b;
        fib_a = fib_b;
        fib_b = next;
        int64_t wait = fib_a * RETRY_BASE_MS;
        if (wait > RETRY_MAX_MS) wait = RETRY_MAX_MS;
        if (!dataset_wait(d, wait, true)) break;
    }
    free(manual_sql);
    return false;
}

/* Wall-clock time of the next scheduled refresh after `from_ms` (-1: none). */
static int64_t next_refresh_at(dataset_t *d, int64_t from_ms)
{
    const clove_accel_cfg_t *a = &d->cfg->acceleration;
    int64_t at = -1;
    if (d->has_cron) at = clove_cron_next(&d->cron, from_ms);
    else if (a->refresh_check_interval_ms > 0) at = from_ms + a->refresh_check_interval_ms;
    if (at >= 0 && a->refresh_jitter_enabled && a->refresh_jitter_max_ms > 0)
        at += (int64_t)((uint64_t)rand_r(&d->seed) % (uint64_t)(a->refresh_jitter_max_ms + 1));
    return at;
}

static void retention_tick(dataset_t *d, duckdb_connection conn)
{
    const clove_accel_cfg_t *a = &d->cfg->acceleration;
    if (!a->retention_check_enabled || (!a->retention_sql && a->retention_period_ms <= 0)) return;
    pthread_mutex_lock(&d->lock);
    bool loaded = d->loaded;
    pthread_mutex_unlock(&d->lock);
    if (!loaded) return;
    clove_err_t err;
    int64_t n = clove__retention_run(d, conn, &err);
    char labels[256];
    snprintf(labels, sizeof labels, "dataset=\"%s\"", d->cfg->name);
    if (n < 0) {
        clove__redact(d->e, err.message, sizeof err.message);
        clove_error(COMP, "retention check of dataset %s failed: %s", d->cfg->name, err.message);
        clove_metric_counter_add("dataset_acceleration_retention_errors",
                                 "Number of failed retention checks.", labels, 1);
        return;
    }
    int64_t held = clove__count_rows(conn, d->target);
    if (n > 0) atomic_fetch_add(&d->e->ddl_generation, 1); /* see refresh_once */
    pthread_mutex_lock(&d->lock);
    d->rows = held;
    pthread_mutex_unlock(&d->lock);
    clove_metric_counter_add("dataset_acceleration_retention_deleted_rows",
                             "Rows deleted by retention checks.", labels, (double)n);
    if (held >= 0)
        clove_metric_gauge_set("dataset_acceleration_rows",
                               "Rows held by the dataset's acceleration.", labels, (double)held);
    if (n > 0) clove_info(COMP, "retention removed %lld rows from dataset %s", (long long)n,
                          d->cfg->name);
}

/* Column name -> type of a relation, as "name\ttype\n" lines (NULL on error). */
static char *describe(duckdb_connection conn, const char *relation)
{
    char *sql = clove_xasprintf("SELECT column_name, column_type FROM (DESCRIBE %s)", relation);
    duckdb_result res;
    char *out = NULL;
    if (duckdb_query(conn, sql, &res) == DuckDBSuccess) {
        clove_buf_t b;
        clove_buf_init(&b);
        for (idx_t i = 0; i < duckdb_row_count(&res); i++) {
            char *n = duckdb_value_varchar(&res, 0, i), *t = duckdb_value_varchar(&res, 1, i);
            clove_buf_printf(&b, "%s\t%s\n", n, t);
            duckdb_free(n);
            duckdb_free(t);
        }
        out = clove_buf_steal(&b);
    }
    duckdb_destroy_result(&res);
    free(sql);
    return out;
}

/* Does `lines` (from describe) hold a line starting with `prefix`? */
static bool has_line(const char *lines, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = lines; *p;) {
        if (strncmp(p, prefix, n) == 0) return true;
        const char *nl = strchr(p, '\n');
        if (!nl) break;
        p = nl + 1;
    }
    return false;
}

/* mode file_update: a persisted table is kept when the source only added columns (they are
 * added to it), else dropped so the load recreates it. */
static void evolve_persisted_schema(dataset_t *d, duckdb_connection conn)
{
    char *src_rel = clove_xasprintf("SELECT * FROM %s", d->source_sql);
    char *src = describe(conn, src_rel), *old = describe(conn, d->target);
    free(src_rel);
    if (!src || !old) goto out;
    bool additive = true;
    for (char *line = old; *line && additive;) { /* every old column, same type */
        char *nl = strchr(line, '\n');
        *nl = '\0';
        char *full = clove_xasprintf("%s\n", line);
        *nl = '\n';
        additive = has_line(src, full);
        free(full);
        line = nl + 1;
    }
    if (!additive) {
        char *sql = clove_xasprintf("DROP TABLE %s", d->target);
        clove__exec(conn, sql, NULL);
        free(sql);
        clove_warn(COMP, "dataset %s: the source's columns changed incompatibly; recreating "
                   "\"%s\" (mode file_update)", d->cfg->name, d->file_path);
        goto out;
    }
    for (char *line = src; *line;) { /* add the new ones */
        char *nl = strchr(line, '\n');
        char *tab = strchr(line, '\t');
        char *name = clove_xstrndup(line, (size_t)(tab - line));
        char *type = clove_xstrndup(tab + 1, (size_t)(nl - tab - 1));
        char *probe = clove_xasprintf("%s\t", name);
        if (!has_line(old, probe)) {
            char *q = clove_sql_ident(name);
            char *sql = clove_xasprintf("ALTER TABLE %s ADD COLUMN %s %s", d->target, q, type);
            clove_err_t err;
            if (clove__exec(conn, sql, &err) == 0)
                clove_info(COMP, "dataset %s: added column %s %s to \"%s\"", d->cfg->name, name,
                           type, d->file_path);
            free(sql);
            free(q);
        }
        free(probe);
        free(name);
        free(type);
        line = nl + 1;
    }
out:
    free(src);
    free(old);
}

static int register_federated(dataset_t *d, clove_err_t *err);

static void *accelerated_main(dataset_t *d)
{
    clove_engine_t *e = d->e;
    const clove_accel_cfg_t *a = &d->cfg->acceleration;
    duckdb_connection conn = NULL;
    clove_err_t err;
    if (duckdb_connect(e->db, &conn) == DuckDBError ||
        clove__exec(conn, "USE spice.public", &err) != 0) {
        set_state(d, CLOVE_DS_ERROR, "could not open a DuckDB connection for refreshes");
        pthread_mutex_lock(&d->lock);
        d->initial_done = true;
        pthread_mutex_unlock(&d->lock);
        if (conn) duckdb_disconnect(&conn);
        return NULL;
    }
    pthread_mutex_lock(&d->lock);
    d->refresh_conn = conn;
    pthread_mutex_unlock(&d->lock);
    /* a file-mode table from an earlier run serves at once; refresh_on_startup decides
     * whether to refresh now (always) or when the schedule says (auto) */
    int64_t next_at = 0; /* refresh now */
    if (a->mode == CLOVE_MODE_FILE_UPDATE && persisted_table_exists(d, conn))
        evolve_persisted_schema(d, conn);
    if (persisted_table_exists(d, conn) && clove__expose_file_table(d, &err) == 0) {
        int64_t rows = clove__count_rows(conn, d->target);
        int64_t last = clove__meta_last_refresh(d, conn);
        pthread_mutex_lock(&d->lock);
        d->loaded = true;
        d->initial_done = true;
        d->rows = rows;
        d->last_refresh_ms = last;
        pthread_mutex_unlock(&d->lock);
        clove_info(COMP, "dataset %s serves %lld persisted rows from \"%s\"", d->cfg->name,
                   (long long)rows, d->file_path);
        set_state(d, CLOVE_DS_READY, NULL);
        try_create_views(e);
        bool always = a->refresh_on_startup && !strcmp(a->refresh_on_startup, "always");
        if (!always) next_at = last > 0 ? next_refresh_at(d, last) : -1;
        if (!always && next_at < 0 && a->refresh_mode == CLOVE_REFRESH_APPEND) next_at = 0;
    } else if (d->attach_name) {
        clove__meta_last_refresh(d, conn); /* creates the bookkeeping tables */
    }

    if (d->deferred && d->cfg->ready_state == CLOVE_READY_ON_REGISTRATION) {
        /* the source answers until the first load replaces this view */
        pthread_mutex_lock(&d->lock);
        bool loaded = d->loaded;
        pthread_mutex_unlock(&d->lock);
        clove_err_t ferr;
        if (!loaded && register_federated(d, &ferr) == 0) {
            pthread_mutex_lock(&d->lock);
            d->serves_source = true;
            pthread_mutex_unlock(&d->lock);
        } else if (!loaded) {
            clove_warn(COMP, "dataset %s: the source cannot answer before the first load: %s",
                       d->cfg->name, ferr.message);
        }
    }

    int64_t retention_every = a->retention_check_interval_ms > 0 ? a->retention_check_interval_ms
                                                                  : 60 * 60 * 1000;
    int64_t next_retention = clove_now_ms() + retention_every;
    while (!atomic_load(&e->shutting_down)) {
        int64_t now = clove_now_ms();
        bool requested;
        pthread_mutex_lock(&d->lock);
        requested = d->refresh_requested;
        pthread_mutex_unlock(&d->lock);
        if (requested || (next_at >= 0 && now >= next_at)) {
            if (refresh_once(d, conn)) try_create_views(e);
            if (atomic_load(&e->shutting_down)) break;
            next_at = next_refresh_at(d, clove_now_ms());
            retention_tick(d, conn);
            next_retention = clove_now_ms() + retention_every;
        }
        if (now >= next_retention) {
            retention_tick(d, conn);
            next_retention = clove_now_ms() + retention_every;
        }
        int64_t wake = next_at;
        if (a->retention_check_enabled && (wake < 0 || next_retention < wake)) wake = next_retention;
        if (!dataset_wait_until(d, wake, true)) break;
    }
    pthread_mutex_lock(&d->lock);
    d->refresh_conn = NULL;
    pthread_mutex_unlock(&d->lock);
    duckdb_disconnect(&conn);
    return NULL;
}

/* The pushdown target of a remote dataset whose objects carry Hive partitions: conditions on
 * the partition columns reach the source as DuckDB SQL (partition pruning). Caller holds
 * admin_lock. NULL when there is nothing to prune on. */
static clove_pushdown_target_t *remote_target(dataset_t *d, duckdb_connection conn)
{
    char **parts = NULL;
    size_t np = clove_source_partition_columns(d->remote, &parts);
    if (!np) return NULL;
    clove_pushdown_target_t *pt = NULL;
    char *qi = clove_sql_ident(d->cfg->name);
    /* the columns of what the macro reads (the source's files) */
    char *sql = clove_xasprintf("SELECT column_name FROM (DESCRIBE SELECT * FROM %s)",
                                d->source_sql);
    duckdb_result res;
    if (duckdb_query(conn, sql, &res) == DuckDBSuccess) {
        idx_t n = duckdb_row_count(&res);
        clove_pushdown_col_t *cols = clove_xcalloc(n ? n : 1, sizeof *cols);
        char **names = clove_xcalloc(n ? n : 1, sizeof *names);
        for (idx_t i = 0; i < n; i++) {
            char *v = duckdb_value_varchar(&res, 0, i);
            names[i] = clove_xstrdup(v);
            duckdb_free(v);
            cols[i].name = names[i];
            for (size_t k = 0; k < np; k++)
                if (!strcasecmp(parts[k], names[i])) cols[i].kind = CLOVE_PUSHDOWN_COL_EXPR;
        }
        char *view = clove_xasprintf("SELECT * FROM %s()", d->remote_fn);
        clove_pushdown_spec_t spec = {
            .dialect = CLOVE_PUSHDOWN_DUCKDB, .name = d->cfg->name, .view_sql = view,
            .scan_fn = d->remote_fn, .filter_param = "filter", .limit_param = NULL,
            .cols = cols, .ncols = n};
        clove_err_t err;
        pt = clove_pushdown_target_create(conn, &spec, &err);
        if (!pt) clove_warn(COMP, "dataset %s: no partition pruning: %s", d->cfg->name,
                            err.message);
        else clove_debug(COMP, "dataset %s: partition pruning on %zu column(s)", d->cfg->name,
                         np);
        free(view);
        for (idx_t i = 0; i < n; i++) free(names[i]);
        free(names);
        free(cols);
    }
    duckdb_destroy_result(&res);
    free(sql);
    free(qi);
    clove_source_names_free(parts, np);
    return pt;
}

/* A pushdown target for the PostgreSQL table of d, exposed under the dataset's name (new
 * reference), or NULL. */
static clove_pushdown_target_t *pg_target(dataset_t *d, duckdb_connection conn)
{
    size_t n = 0;
    clove_pushdown_col_t *cols = clove_pg_source_pushdown_cols(d->pg, &n);
    if (!cols) return NULL;
    char *view = clove_xasprintf("SELECT * FROM %s", d->source_sql);
    clove_pushdown_spec_t spec = {.dialect = CLOVE_PUSHDOWN_POSTGRES, .name = d->cfg->name,
                                  .view_sql = view, .scan_fn = CLOVE_PG_SCAN_FN,
                                  .filter_param = "where_sql", .limit_param = "row_limit",
                                  .cols = cols, .ncols = n,
                                  .remote_table = clove_pg_source_remote_table(d->pg)};
    clove_err_t err;
    clove_pushdown_target_t *t = clove_pushdown_target_create(conn, &spec, &err);
    if (!t) clove_warn(COMP, "dataset %s: filters will not be pushed to PostgreSQL: %s",
                       d->cfg->name, err.message);
    free(view);
    clove_pg_pushdown_cols_free(cols, n);
    return t;
}

/* The table macro a remote dataset's reads go through (see register_federated). */
static char *remote_macro_sql(dataset_t *d)
{
    return clove_xasprintf("CREATE OR REPLACE MACRO spice.public.%s(filter := NULL) AS TABLE "
                           "SELECT * FROM %s", d->remote_fn, d->source_sql);
}

int clove__remote_prepare(dataset_t *d, duckdb_connection conn, clove_err_t *err)
{
    if (d->remote && !d->remote_prepared) {
        /* refresh_sql's conditions on Hive partition columns decide what is fetched: the
         * refresh reads through the macro, and the rewrite hands them to it */
        int rc = clove_source_sync(d->remote, CLOVE_SYNC_SCHEMA, NULL, NULL, NULL, err);
        if (rc != 0) return rc;
        char *sql = remote_macro_sql(d);
        pthread_mutex_lock(&d->e->admin_lock);
        rc = clove__exec(d->e->admin, sql, err);
        pthread_mutex_unlock(&d->e->admin_lock);
        free(sql);
        if (rc != 0) return rc;
        d->source_pushdown = remote_target(d, conn);
        d->remote_prepared = true;
    }
    return 0;
}

int clove__source_prepare(dataset_t *d, duckdb_connection conn, clove_err_t *err)
{
    if (!d->pg) return 0;
    if (!d->source_pushdown) {
        int rc = clove_pg_source_load_schema(d->pg, err);
        if (rc != 0) return rc;
        d->source_pushdown = pg_target(d, conn);
    }
    return 0;
}

static int register_federated(dataset_t *d, clove_err_t *err)
{
    /* a remote source needs one cached object before DuckDB can tell the view's columns */
    if (d->remote) {
        int rc = clove_source_sync(d->remote, CLOVE_SYNC_SCHEMA, NULL, NULL, NULL, err);
        if (rc != 0) return rc;
    }
    if (d->pg) {
        /* read the table's columns now: the view is bound against them */
        int rc = clove_pg_source_load_schema(d->pg, err);
        if (rc != 0) return rc;
    }
    char *qi = clove_sql_ident(d->cfg->name);
    char *sql;
    if (d->remote) {
        /* the view reads a table macro: a pushed partition condition becomes its `filter`
         * argument, which the query path hands to the source before the scan */
        char *macro = remote_macro_sql(d);
        sql = clove_xasprintf("%s; CREATE OR REPLACE VIEW spice.public.%s AS SELECT * FROM "
                              "spice.public.%s()", macro, qi, d->remote_fn);
        free(macro);
    } else {
        sql = clove_xasprintf("CREATE OR REPLACE VIEW spice.public.%s AS SELECT * FROM %s", qi,
                              d->source_sql);
    }
    pthread_mutex_lock(&d->e->admin_lock);
    int rc = clove__exec(d->e->admin, sql, err);
    clove_pushdown_target_t *pt = rc == 0 && d->remote ? remote_target(d, d->e->admin) : NULL;
    /* filters of user queries on a federated PostgreSQL table go to PostgreSQL */
    clove_pushdown_target_t *pgt = rc == 0 && d->pg && !d->accelerated
                                      ? pg_target(d, d->e->admin) : NULL;
    pthread_mutex_unlock(&d->e->admin_lock);
    if (d->remote) {
        pthread_mutex_lock(&d->lock);
        clove_pushdown_target_t *old = d->remote_pushdown;
        d->remote_pushdown = pt;
        pthread_mutex_unlock(&d->lock);
        clove_pushdown_target_unref(old);
    }
    if (pgt) {
        pthread_mutex_lock(&d->lock);
        clove_pushdown_target_t *old = d->pushdown;
        d->pushdown = pgt;
        pthread_mutex_unlock(&d->lock);
        if (old) clove_pushdown_target_unref(old);
    }
    free(sql);
    free(qi);
    return rc;
}

int clove__dataset_reload_columns(dataset_t *d, clove_err_t *err)
{
    if (!d->pg || d->accelerated) return 0;
    clove_engine_t *e = d->e;
    pthread_mutex_lock(&d->reload_lock);
    pthread_mutex_lock(&d->lock);
    bool flagged = d->columns_changed && d->loaded;
    d->columns_changed = false;
    pthread_mutex_unlock(&d->lock);
    int rc = flagged ? register_federated(d, err) : 0;
    if (flagged && rc != 0) {
        pthread_mutex_lock(&d->lock);
        d->columns_changed = true; /* the next query or probe tries again */
        pthread_mutex_unlock(&d->lock);
    } else if (flagged) {
        /* user views over it bound the old columns */
        pthread_mutex_lock(&e->views_lock);
        for (size_t i = 0; i < e->n_views; i++)
            for (size_t k = 0; k < e->views[i].n_deps; k++)
                if (e->views[i].deps[k] == d) e->views[i].created = false;
        pthread_mutex_unlock(&e->views_lock);
        try_create_views(e);
        atomic_fetch_add(&e->ddl_generation, 1);
        clove_info(COMP, "dataset %s registered again with the columns its source has now",
                   d->cfg->name);
    }
    pthread_mutex_unlock(&d->reload_lock);
    return rc;
}

static void *federated_main(dataset_t *d)
{
    int64_t fib_a = 0, fib_b = 1;
    /* a remote source is registered here first, at once; then retried with backoff */
    bool first = d->deferred;
    while (!atomic_load(&d->e->shutting_down)) {
        if (!first) {
            int64_t next = fib_a + fib_b;
            fib_a = fib_b;
            fib_b = next;
            int64_t wait = fib_a * RETRY_BASE_MS;
            if (!dataset_wait(d, wait > RETRY_MAX_MS ? RETRY_MAX_MS : wait, false)) break;
        }
        clove_err_t err;
        if (register_federated(d, &err) == 0) {
            pthread_mutex_lock(&d->lock);
            d->loaded = true;
            d->initial_done = true;
            pthread_mutex_unlock(&d->lock);
            set_state(d, CLOVE_DS_READY, NULL);
            if (first) clove_info(COMP, "dataset %s registered (federated, %s)", d->cfg->name,
                                  d->cfg->from);
            else clove_info(COMP, "dataset %s registered after retry", d->cfg->name);
            try_create_views(d->e);
            /* from now on: Error while the source cannot be reached, Ready when it answers */
            clove__health_watch(d);
            break;
        }
        if (atomic_load(&d->e->shutting_down)) break;
        char *msg = clove_xasprintf("could not register dataset %s: %s", d->cfg->name,
                                    err.message);
        if (first) log_error(d, msg);
        set_state(d, CLOVE_DS_ERROR, msg);
        free(msg);
        pthread_mutex_lock(&d->lock);
        d->initial_done = true;
        d->error_code = err.code;
        pthread_mutex_unlock(&d->lock);
        first = false;
    }
    return NULL;
}

static void *dataset_main(void *arg)
{
    dataset_t *d = arg;
    char name[16];
    snprintf(name, sizeof name, "ds-%s", d->cfg->name);
    clove_thread_name(name);
    return d->accelerated ? accelerated_main(d) : federated_main(d);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

/* Computes each view's datasets (directly or through other views). */
static int resolve_view_deps(clove_engine_t *e, view_t *v, int depth, dataset_t ***out, size_t *n,
                             clove_err_t *err)
{
    if (depth > 32)
        return clove_err_set(err, CLOVE_ECONFIG, "view %s: views nest too deeply or form a cycle",
                             v->name);
    clove_sandbox_result_t sb = {0};
    if (clove_sandbox_check(e->admin, v->cfg->sql, &sb, err) != 0) {
        char msg[CLOVE_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->message);
        return clove_err_set(err, CLOVE_ECONFIG, "view %s: %s", v->name, msg);
    }
    int rc = 0;
    for (size_t i = 0; i < sb.n_tables && rc == 0; i++) {
        dataset_t *d = clove__dataset_find(e, sb.tables[i]);
        if (d) {
            bool dup = false;
            for (size_t k = 0; k < *n; k++) dup |= (*out)[k] == d;
            if (!dup) {
                *out = clove_xrealloc(*out, (*n + 1) * sizeof **out);
                (*out)[(*n)++] = d;
            }
            continue;
        }
        view_t *w = clove__view_find(e, sb.tables[i]);
        if (w == v) rc = clove_err_set(err, CLOVE_ECONFIG, "view %s reads itself", v->name);
        else if (w) rc = resolve_view_deps(e, w, depth + 1, out, n, err);
    }
    clove_sandbox_result_dispose(&sb);
    return rc;
}

int clove__datasets_init(clove_engine_t *e, clove_err_t *err)
{
    const clove_config_t *cfg = e->cfg;
    clove_buf_t allowed;
    clove_buf_init(&allowed);
    int rc = 0;
    e->n_datasets = cfg->n_datasets;
    e->datasets = clove_xcalloc(cfg->n_datasets ? cfg->n_datasets : 1, sizeof *e->datasets);
    for (size_t i = 0; i < cfg->n_datasets; i++) {
        dataset_t *d = &e->datasets[i];
        d->e = e;
        d->cfg = &cfg->datasets[i];
        d->lname = lower_dup(d->cfg->name);
        d->rows = -1;
        pthread_mutex_init(&d->lock, NULL);
        pthread_mutex_init(&d->reload_lock, NULL);
        pthread_cond_init(&d->cond, NULL);
        d->accelerated = d->cfg->acceleration.enabled;
        d->state = CLOVE_DS_INITIALIZING;
        d->next_refresh_mode = -1;
        d->seed = (unsigned)(clove_now_ms() ^ (int64_t)(i * 7919));
        build_source(d, &allowed);
        clove__health_init(d);
        if (!d->source_error && d->accelerated &&
            (rc = setup_acceleration(d, &allowed, err)) != 0)
            goto done;
        if (d->accelerated && d->cfg->acceleration.refresh_cron) {
            clove_err_t cerr;
            if (clove_cron_parse(d->cfg->acceleration.refresh_cron, &d->cron, &cerr) != 0) {
                rc = clove_err_set(err, CLOVE_ECONFIG, "dataset %s: acceleration.refresh_cron: %s",
                                   d->cfg->name, cerr.message);
                goto done;
            }
            d->has_cron = true;
        }
    }

    /* lock down file access: only the datasets' own directories stay readable */
    char *tmpdir = clove_xasprintf("%s/.clove/tmp", cfg->dir);
    char *sql = NULL;
    if (clove_mkdir_p(tmpdir) == 0) {
        char *lit = clove_sql_literal(tmpdir);
        sql = clove_xasprintf("SET temp_directory = %s", lit);
        clove__exec(e->admin, sql, NULL);
        free(sql);
        free(lit);
    }
    free(tmpdir);
    sql = clove_xasprintf("SET allowed_directories = [%s]", allowed.data ? allowed.data : "");
    if ((rc = clove__exec(e->admin, sql, err)) != 0 ||
        (rc = clove__exec(e->admin, "SET enable_external_access = false", err)) != 0 ||
        (rc = clove__exec(e->admin, "SET lock_configuration = true", err)) != 0) {
        free(sql);
        goto done;
    }
    free(sql);

    for (size_t i = 0; i < e->n_datasets; i++) {
        dataset_t *d = &e->datasets[i];
        if (d->source_error) {
            d->state = CLOVE_DS_ERROR;
            char *m = clove_xasprintf("dataset %s: %s", d->cfg->name, d->source_error);
            d->error = clove__dataset_redacted(d, m);
            free(m);
            d->initial_done = true;
            clove_error(COMP, "%s", d->error);
        } else if (d->accelerated) {
            if ((rc = clove__refresh_prepare(d, e->admin, err)) != 0) goto done;
            if (d->cfg->ready_state == CLOVE_READY_ON_REGISTRATION && !d->deferred) {
                /* the source answers until the first load replaces this view (a remote
                 * source: the dataset thread registers it) */
                clove_err_t ferr;
                if (register_federated(d, &ferr) == 0) d->serves_source = true;
                else clove_warn(COMP, "dataset %s: the source cannot answer before the first "
                                "load: %s", d->cfg->name, ferr.message);
            }
        } else if (d->deferred) {
            /* registered by the dataset's thread (federated_main) */
        } else if (!d->accelerated) {
            clove_err_t ferr;
            if (register_federated(d, &ferr) == 0) {
                d->state = CLOVE_DS_READY;
                d->loaded = true;
                d->initial_done = true;
                clove_info(COMP, "dataset %s registered (federated, %s)", d->cfg->name,
                           d->cfg->from);
            } else {
                d->state = CLOVE_DS_ERROR;
                char *m = clove_xasprintf("could not register dataset %s: %s", d->cfg->name,
                                          ferr.message);
                d->error = clove__dataset_redacted(d, m);
                free(m);
                d->initial_done = true;
                clove_error(COMP, "%s", d->error);
            }
        }
        clove__dataset_publish_state(d);
    }

    e->n_views = cfg->n_views;
    e->views = clove_xcalloc(cfg->n_views ? cfg->n_views : 1, sizeof *e->views);
    for (size_t i = 0; i < cfg->n_views; i++) {
        e->views[i].cfg = &cfg->views[i];
        e->views[i].name = clove_xstrdup(cfg->views[i].name);
        e->views[i].lname = lower_dup(cfg->views[i].name);
    }
    for (size_t i = 0; i < e->n_views; i++) {
        if ((rc = resolve_view_deps(e, &e->views[i], 0, &e->views[i].deps, &e->views[i].n_deps,
                                    err)) != 0)
            goto done;
    }
    try_create_views(e);
done:
    clove_buf_dispose(&allowed);
    return rc;
}

void clove__datasets_start(clove_engine_t *e)
{
    for (size_t i = 0; i < e->n_datasets; i++) {
        dataset_t *d = &e->datasets[i];
        if (d->source_error) continue;
        if (!d->accelerated && d->loaded) continue;
        if (pthread_create(&d->thread, NULL, dataset_main, d) == 0) d->thread_started = true;
        else clove_error(COMP, "could not start the thread of dataset %s", d->cfg->name);
    }
}

void clove__rebind_views(clove_engine_t *e)
{
    for (size_t i = 0; i < e->n_datasets; i++) {
        dataset_t *d = &e->datasets[i];
        pthread_mutex_lock(&d->lock);
        bool fed = (!d->accelerated && d->loaded) || (d->serves_source && !d->loaded);
        pthread_mutex_unlock(&d->lock);
        clove_err_t err;
        if (fed && d->source_sql && register_federated(d, &err) != 0)
            clove_warn(COMP, "could not rebuild the view of dataset %s", d->cfg->name);
    }
    pthread_mutex_lock(&e->views_lock);
    for (size_t i = 0; i < e->n_views; i++) e->views[i].created = false;
    pthread_mutex_unlock(&e->views_lock);
    try_create_views(e);
    atomic_fetch_add(&e->ddl_generation, 1);
    clove_info(COMP, "rebuilt dataset views: a source's columns changed");
}

bool clove__datasets_join(clove_engine_t *e, int64_t timeout_ms)
{
    int64_t end = clove_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    bool all = true;
    for (size_t i = 0; i < e->n_datasets; i++) {
        dataset_t *d = &e->datasets[i];
        if (!d->thread_started) continue;
        struct timespec ts = {.tv_sec = end / 1000, .tv_nsec = (end % 1000) * 1000000};
        if (pthread_timedjoin_np(d->thread, NULL, &ts) == 0) d->thread_started = false;
        else all = false;
    }
    return all;
}

void clove__datasets_stop(clove_engine_t *e)
{
    for (size_t i = 0; i < e->n_datasets; i++) {
        dataset_t *d = &e->datasets[i];
        pthread_mutex_lock(&d->lock);
        pthread_cond_broadcast(&d->cond);
        if (d->refresh_conn) duckdb_interrupt(d->refresh_conn); /* a refresh in flight */
        pthread_mutex_unlock(&d->lock);
    }
}

void clove__datasets_dispose(clove_engine_t *e)
{
    for (size_t i = 0; i < e->n_datasets; i++) {
        dataset_t *d = &e->datasets[i];
        free(d->lname);
        free(d->qname);
        free(d->source_sql);
        free(d->reader_fn);
        free(d->reader_pattern);
        free(d->reader_opts);
        clove_source_destroy(d->remote);
        free(d->remote_fn);
        clove_pushdown_target_unref(d->remote_pushdown);
        for (size_t k = 0; k < d->n_seen_files; k++) free(d->seen_files[k]);
        free(d->seen_files);
        free(d->refresh_sql_override);
        free(d->next_refresh_sql);
        if (d->pushdown) clove_pushdown_target_unref(d->pushdown);
        if (d->source_pushdown) clove_pushdown_target_unref(d->source_pushdown);
        clove_pg_source_destroy(d->pg);
        free(d->pk_cols);
        free(d->time_expr);
        free(d->source_error);
        free(d->source_label);
        free(d->target);
        free(d->attach_name);
        free(d->file_path);
        free(d->error);
        pthread_mutex_destroy(&d->lock);
        pthread_mutex_destroy(&d->reload_lock);
        pthread_cond_destroy(&d->cond);
    }
    free(e->datasets);
    for (size_t i = 0; i < e->n_views; i++) {
        free(e->views[i].name);
        free(e->views[i].lname);
        free(e->views[i].deps);
        free(e->views[i].error);
    }
    free(e->views);
    for (size_t i = 0; i < e->n_attached; i++) {
        free(e->attached[i].path);
        free(e->attached[i].alias);
    }
    free(e->attached);
    for (size_t i = 0; i < e->n_src_files; i++) {
        free(e->src_files[i].path);
        free(e->src_files[i].alias);
    }
    free(e->src_files);
    for (size_t i = 0; i < e->n_sqlite_stores; i++) {
        clove_sqlite_accel_close(e->sqlite_stores[i].a);
        free(e->sqlite_stores[i].path);
    }
    free(e->sqlite_stores);
}

/* ---- public status API -------------------------------------------------------------------- */

size_t clove_engine_datasets(clove_engine_t *e, clove_dataset_info_t **out)
{
    static const char *engines[] = {"arrow", "duckdb", "sqlite"};
    static const char *modes[] = {"full", "append", "changes", "caching"};
    clove_dataset_info_t *infos = clove_xcalloc(e->n_datasets ? e->n_datasets : 1, sizeof *infos);
    for (size_t i = 0; i < e->n_datasets; i++) {
        dataset_t *d = &e->datasets[i];
        clove_dataset_info_t *x = &infos[i];
        x->name = clove_xstrdup(d->cfg->name);
        x->from = clove__dataset_redacted(d, d->cfg->from);
        x->description = d->cfg->description ? clove_xstrdup(d->cfg->description) : NULL;
        x->accelerated = d->accelerated;
        if (d->accelerated) {
            x->engine = clove_xstrdup(engines[d->cfg->acceleration.engine]);
            x->refresh_mode = clove_xstrdup(modes[d->cfg->acceleration.refresh_mode]);
        }
        pthread_mutex_lock(&d->lock);
        x->state = atomic_load(&e->shutting_down) ? CLOVE_DS_SHUTDOWN : d->state;
        x->error = d->error ? clove_xstrdup(d->error) : NULL;
        x->last_refresh_ms = d->last_refresh_ms;
        x->rows = d->rows;
        pthread_mutex_unlock(&d->lock);
    }
    *out = infos;
    return e->n_datasets;
}

void clove_dataset_infos_free(clove_dataset_info_t *infos, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(infos[i].name);
        free(infos[i].from);
        free(infos[i].description);
        free(infos[i].engine);
        free(infos[i].refresh_mode);
        free(infos[i].error);
    }
    free(infos);
}

bool clove_engine_ready(clove_engine_t *e)
{
    if (atomic_load(&e->shutting_down)) return false;
    for (size_t i = 0; i < e->n_datasets; i++) {
        dataset_t *d = &e->datasets[i];
        pthread_mutex_lock(&d->lock);
        bool done = d->initial_done;
        pthread_mutex_unlock(&d->lock);
        if (!done) return false;
    }
    return true;
}

static dataset_t *refreshable(clove_engine_t *e, const char *name, clove_err_t *err)
{
    if (atomic_load(&e->shutting_down)) {
        clove_err_set(err, CLOVE_ESHUTDOWN, "Runtime is shutting down");
        return NULL;
    }
    dataset_t *d = clove__dataset_find(e, name);
    if (!d) {
        clove_err_set(err, CLOVE_ENOTFOUND, "dataset %s not found", name);
        return NULL;
    }
    if (!d->accelerated) {
        clove_err_set(err, CLOVE_EINVAL, "dataset %s does not have acceleration enabled",
                      d->cfg->name);
        return NULL;
    }
    if (d->source_error || !d->thread_started) {
        clove_err_set(err, CLOVE_EINVAL, "dataset %s cannot refresh: %s", d->cfg->name,
                      d->source_error ? d->source_error : "its refresh thread is not running");
        return NULL;
    }
    return d;
}

/* Checks a refresh_sql override with a private connection (the caller's thread). */
static int check_override_sql(dataset_t *d, const char *sql, clove_err_t *err)
{
    duckdb_connection conn;
    if (duckdb_connect(d->e->db, &conn) == DuckDBError)
        return clove_err_set(err, CLOVE_EINTERNAL, "could not open a DuckDB connection");
    clove_err_t e2;
    int rc = clove__validate_refresh_sql(d, conn, sql, &e2);
    duckdb_disconnect(&conn);
    if (rc != 0) return clove_err_set(err, CLOVE_EINVAL, "%s", e2.message);
    return 0;
}

int clove_engine_refresh(clove_engine_t *e, const char *name, const clove_refresh_opts_t *opts,
                         clove_err_t *err)
{
    dataset_t *d = refreshable(e, name, err);
    if (!d) return err ? err->code : CLOVE_EINVAL;
    int mode = -1;
    if (opts && opts->refresh_mode) {
        if (!strcmp(opts->refresh_mode, "full")) mode = CLOVE_REFRESH_FULL;
        else if (!strcmp(opts->refresh_mode, "append")) mode = CLOVE_REFRESH_APPEND;
        else
            return clove_err_set(err, CLOVE_EINVAL,
                                 "refresh_mode: expected one of full, append; got \"%s\"",
                                 opts->refresh_mode);
        if (mode == CLOVE_REFRESH_APPEND && !d->time_expr && !d->reader_fn)
            return clove_err_set(err, CLOVE_EINVAL,
                                 "refresh_mode append needs time_column for dataset %s",
                                 d->cfg->name);
    }
    if (opts && opts->refresh_sql && check_override_sql(d, opts->refresh_sql, err) != 0)
        return CLOVE_EINVAL;
    pthread_mutex_lock(&d->lock);
    free(d->next_refresh_sql);
    d->next_refresh_sql = opts && opts->refresh_sql ? clove_xstrdup(opts->refresh_sql) : NULL;
    d->next_refresh_mode = mode;
    d->refresh_requested = true;
    if (d->refreshing && d->refresh_conn) {
        /* a manual refresh replaces the one in progress */
        d->manual_cancel = true;
        duckdb_interrupt(d->refresh_conn);
    }
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
    clove_info(COMP, "refresh of dataset %s requested", d->cfg->name);
    return 0;
}

int clove_engine_set_refresh_sql(clove_engine_t *e, const char *name, const char *refresh_sql,
                                 clove_err_t *err)
{
    dataset_t *d = refreshable(e, name, err);
    if (!d) return err ? err->code : CLOVE_EINVAL;
    if (refresh_sql && check_override_sql(d, refresh_sql, err) != 0) return CLOVE_EINVAL;
    pthread_mutex_lock(&d->lock);
    free(d->refresh_sql_override);
    d->refresh_sql_override = refresh_sql ? clove_xstrdup(refresh_sql) : NULL;
    pthread_mutex_unlock(&d->lock);
    clove_info(COMP, "refresh_sql of dataset %s %s until restart", d->cfg->name,
               refresh_sql ? "replaced" : "restored");
    return 0;
}
