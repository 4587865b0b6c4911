/*
 * refresh.c: what one acceleration refresh does. Builds the incoming rows (the source,
 * refresh_sql, refresh_data_window, the append watermark with refresh_append_overlap, or the
 * files not loaded before), then writes them: full refresh replaces the table in one
 * transaction; append inserts only rows not already held (exact at the watermark boundary);
 * primary_key + on_conflict upserts or drops; indexes are created with the table. Also
 * retention deletes and the refresh bookkeeping kept beside file-mode tables.
 * Runs on the dataset's own thread and connection.
 */
#include "engine/engine_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define COMP "refresh"
#define IN_TABLE "temp.main.__clove_incoming"

/* ---- small helpers ------------------------------------------------------------------------- */

/* Runs sql; on success stores the first value as int64 in *out (if out). */
static int exec_int(duckdb_connection conn, const char *sql, int64_t *out, clove_err_t *err)
{
    duckdb_result res;
    int rc = 0;
    if (duckdb_query(conn, sql, &res) == DuckDBError) {
        rc = clove_err_set(err, CLOVE_EQUERY, "%s",
                           clove__clean_duckdb_error(duckdb_result_error(&res)));
    } else if (out) {
        *out = (duckdb_column_count(&res) > 0 && duckdb_row_count(&res) > 0 &&
                !duckdb_value_is_null(&res, 0, 0))
                   ? duckdb_value_int64(&res, 0, 0) : 0;
    }
    duckdb_destroy_result(&res);
    return rc;
}

/* Runs sql and returns the first value as a new string (NULL for SQL NULL or on error). */
static char *exec_str(duckdb_connection conn, const char *sql)
{
    duckdb_result res;
    char *out = NULL;
    if (duckdb_query(conn, sql, &res) == DuckDBSuccess && duckdb_row_count(&res) > 0 &&
        !duckdb_value_is_null(&res, 0, 0)) {
        char *v = duckdb_value_varchar(&res, 0, 0);
        out = clove_xstrdup(v);
        duckdb_free(v);
    }
    duckdb_destroy_result(&res);
    return out;
}

int64_t clove__count_rows(duckdb_connection conn, const char *target)
{
    char *sql = clove_xasprintf("SELECT count(*) FROM %s", target);
    int64_t n = -1;
    if (exec_int(conn, sql, &n, NULL) != 0) n = -1;
    free(sql);
    return n;
}

int clove__expose_file_table(dataset_t *d, clove_err_t *err)
{
    char *qi = clove_sql_ident(d->cfg->name);
    char *sql;
    if (d->sqlite) {
        /* the view over the SQLite store restores the original column types */
        char *view = clove_sqlite_accel_view_sql(d->sqlite, d->cfg->name, err);
        if (!view) {
            free(qi);
            return err ? err->code : CLOVE_EIO;
        }
        sql = clove_xasprintf("CREATE OR REPLACE VIEW spice.public.%s AS %s", qi, view);
        free(view);
        clove_sqlite_accel_schema_changed(d->sqlite, d->cfg->name, &d->sqlite_version);
        pthread_mutex_lock(&d->e->admin_lock);
        int rc = clove__exec(d->e->admin, sql, err);
        clove_pushdown_target_t *pt =
            rc == 0 ? clove_pushdown_target_create_sqlite(d->e->admin, d->sqlite, d->cfg->name,
                                                          d->cfg->name, NULL)
                    : NULL;
        pthread_mutex_unlock(&d->e->admin_lock);
        pthread_mutex_lock(&d->lock);
        clove_pushdown_target_t *old = d->pushdown;
        d->pushdown = pt;
        pthread_mutex_unlock(&d->lock);
        if (old) clove_pushdown_target_unref(old);
        free(sql);
        free(qi);
        return rc;
    } else {
        sql = clove_xasprintf("CREATE OR REPLACE VIEW spice.public.%s AS SELECT * FROM %s", qi,
                              d->target);
    }
    pthread_mutex_lock(&d->e->admin_lock);
    int rc = clove__exec(d->e->admin, sql, err);
    pthread_mutex_unlock(&d->e->admin_lock);
    free(sql);
    free(qi);
    return rc;
}

/* Splits "a" / "(a, b)" / "a,b" into a quoted column list "\"a\", \"b\"". */
static char *quoted_column_list(const char *spec)
{
    clove_buf_t b;
    clove_buf_init(&b);
    const char *p = spec;
    while (*p) {
        while (*p == ' ' || *p == '(' || *p == ',' || *p == ')' || *p == '\t') p++;
        if (!*p) break;
        const char *start = p;
        if (*p == '"') {
            start = ++p;
            while (*p && *p != '"') p++;
        } else {
            while (*p && *p != ',' && *p != ')' && *p != ' ' && *p != '\t') p++;
        }
        char *col = clove_xstrndup(start, (size_t)(p - start));
        if (*p == '"') p++;
        if (*col) {
            char *q = clove_sql_ident(col);
            if (b.len) clove_buf_puts(&b, ", ");
            clove_buf_puts(&b, q);
            free(q);
        }
        free(col);
    }
    return b.len ? clove_buf_steal(&b) : (clove_buf_dispose(&b), NULL);
}

/* ---- preparation ------------------------------------------------------------------------- */

int clove__validate_refresh_sql(dataset_t *d, duckdb_connection conn, const char *sql,
                                clove_err_t *err)
{
    clove_sandbox_result_t sb = {0};
    clove_err_t e2;
    if (clove_sandbox_check(conn, sql, &sb, &e2) != 0)
        return clove_err_set(err, CLOVE_ECONFIG, "dataset %s: acceleration.refresh_sql: %s",
                             d->cfg->name, e2.message);
    int rc = 0;
    if (sb.kind != CLOVE_STMT_SELECT)
        rc = clove_err_set(err, CLOVE_ECONFIG,
                           "dataset %s: acceleration.refresh_sql must be a SELECT", d->cfg->name);
    for (size_t i = 0; rc == 0 && i < sb.n_tables; i++) {
        if (strcasecmp(sb.tables[i], d->cfg->name) != 0)
            rc = clove_err_set(err, CLOVE_ECONFIG,
                               "dataset %s: acceleration.refresh_sql may only read the dataset "
                               "itself, but it reads \"%s\"", d->cfg->name, sb.tables[i]);
    }
    if (rc == 0 && sb.n_tables == 0)
        rc = clove_err_set(err, CLOVE_ECONFIG,
                           "dataset %s: acceleration.refresh_sql must select from %s",
                           d->cfg->name, d->cfg->name);
    clove_sandbox_result_dispose(&sb);
    return rc;
}

static int validate_retention_sql(dataset_t *d, duckdb_connection conn, clove_err_t *err)
{
    const char *sql = d->cfg->acceleration.retention_sql;
    /* DELETE FROM <name> WHERE <condition>: checked as SELECT * FROM <name> WHERE ... */
    const char *p = sql;
    while (isspace((unsigned char)*p)) p++;
    if (strncasecmp(p, "DELETE", 6) != 0) goto bad;
    p += 6;
    while (isspace((unsigned char)*p)) p++;
    if (strncasecmp(p, "FROM", 4) != 0) goto bad;
    p += 4;
    char *select = clove_xasprintf("SELECT * FROM %s", p);
    clove_sandbox_result_t sb = {0};
    clove_err_t e2;
    int rc = 0;
    if (clove_sandbox_check(conn, select, &sb, &e2) != 0) {
        rc = clove_err_set(err, CLOVE_ECONFIG, "dataset %s: acceleration.retention_sql: %s",
                           d->cfg->name, e2.message);
    } else if (sb.n_tables != 1 || strcasecmp(sb.tables[0], d->cfg->name) != 0 ||
               !strcasestr(p, "WHERE")) {
        rc = clove_err_set(err, CLOVE_ECONFIG,
                           "dataset %s: acceleration.retention_sql must be DELETE FROM %s "
                           "WHERE <condition>", d->cfg->name, d->cfg->name);
    }
    clove_sandbox_result_dispose(&sb);
    free(select);
    return rc;
bad:
    return clove_err_set(err, CLOVE_ECONFIG,
                         "dataset %s: acceleration.retention_sql must be DELETE FROM %s WHERE "
                         "<condition>; got \"%.60s\"", d->cfg->name, d->cfg->name, sql);
}

int clove__refresh_prepare(dataset_t *d, duckdb_connection admin, clove_err_t *err)
{
    const clove_dataset_cfg_t *c = d->cfg;
    const clove_accel_cfg_t *a = &c->acceleration;

    /* conflict rule and key */
    const char *key_spec = a->primary_key;
    for (size_t i = 0; i < a->on_conflict.len; i++) {
        const char *v = a->on_conflict.items[i].value;
        int rule = !strcmp(v, "drop") ? CONFLICT_DROP
                   : !strcmp(v, "upsert") ? CONFLICT_UPSERT
                   : !strcmp(v, "upsert_dedup") ? CONFLICT_UPSERT_DEDUP : -1;
        if (rule < 0)
            return clove_err_set(err, CLOVE_ECONFIG,
                                 "dataset %s: acceleration.on_conflict.%s: expected one of drop, "
                                 "upsert, upsert_dedup; got \"%s\"", c->name,
                                 a->on_conflict.items[i].key, v);
        d->conflict = rule;
        if (!key_spec) key_spec = a->on_conflict.items[i].key;
    }
    if (key_spec) {
        d->pk_cols = quoted_column_list(key_spec);
        if (!d->pk_cols)
            return clove_err_set(err, CLOVE_ECONFIG,
                                 "dataset %s: acceleration.primary_key is empty", c->name);
    }

    /* the time column as a comparable timestamp */
    if (c->time_column) {
        char *q = clove_sql_ident(c->time_column);
        const char *f = c->time_format;
        if (!f || !strcasecmp(f, "timestamp") || !strcasecmp(f, "timestamptz") ||
            !strcasecmp(f, "date"))
            d->time_expr = clove_xstrdup(q);
        else if (!strcasecmp(f, "unix_seconds"))
            d->time_expr = clove_xasprintf("to_timestamp(%s)", q);
        else if (!strcasecmp(f, "unix_millis"))
            d->time_expr = clove_xasprintf("make_timestamp(%s::BIGINT * 1000)", q);
        else if (!strcasecmp(f, "iso8601"))
            d->time_expr = clove_xasprintf("CAST(%s AS TIMESTAMPTZ)", q);
        else {
            free(q);
            return clove_err_set(err, CLOVE_ECONFIG,
                                 "dataset %s: time_format: expected one of timestamp, timestamptz, "
                                 "unix_seconds, unix_millis, ISO8601, date; got \"%s\"", c->name, f);
        }
        free(q);
    }
    if (a->refresh_data_window_ms > 0 && !c->time_column)
        return clove_err_set(err, CLOVE_ECONFIG,
                             "dataset %s: acceleration.refresh_data_window needs time_column",
                             c->name);
    if (a->retention_period_ms > 0 && !c->time_column && a->retention_check_enabled)
        return clove_err_set(err, CLOVE_ECONFIG,
                             "dataset %s: acceleration.retention_period needs time_column",
                             c->name);
    if (a->refresh_mode == CLOVE_REFRESH_APPEND && !c->time_column && !d->reader_fn)
        return clove_err_set(err, CLOVE_ECONFIG,
                             "dataset %s: refresh_mode append needs time_column for this source",
                             c->name);
    if (d->sqlite && a->indexes.len > 0)
        return clove_err_set(err, CLOVE_ECONFIG, "dataset %s: acceleration.indexes are not "
                             "supported with engine sqlite in this build", c->name);
    if (d->sqlite && a->retention_check_enabled)
        return clove_err_set(err, CLOVE_ECONFIG, "dataset %s: retention is not supported with "
                             "engine sqlite in this build", c->name);
    if (a->refresh_sql && clove__validate_refresh_sql(d, admin, a->refresh_sql, err) != 0)
        return CLOVE_ECONFIG;
    if (a->retention_sql && validate_retention_sql(d, admin, err) != 0) return CLOVE_ECONFIG;
    return 0;
}

/* ---- file bookkeeping --------------------------------------------------------------------- */

/* The metadata tables live in the acceleration file so they survive restarts with the data.
 * Datasets sharing one file create them from their own threads at start: two concurrent
 * CREATE TABLE IF NOT EXISTS of one table conflict in DuckDB and the loser's later INSERT
 * finds no table, so the creations take turns (admin_lock serialises DDL). */
static void meta_ensure(dataset_t *d, duckdb_connection conn)
{
    if (!d->attach_name) return;
    char *qa = clove_sql_ident(d->attach_name);
    char *sql = clove_xasprintf(
        "CREATE TABLE IF NOT EXISTS %s.main.__clove_meta (dataset VARCHAR PRIMARY KEY, "
        "last_refresh_ms BIGINT); CREATE TABLE IF NOT EXISTS %s.main.__clove_files "
        "(dataset VARCHAR, file VARCHAR)", qa, qa);
    clove_err_t err;
    pthread_mutex_lock(&d->e->admin_lock);
    if (clove__exec(conn, sql, &err) != 0)
        clove_warn(COMP, "dataset %s: could not create the refresh bookkeeping tables in \"%s\": "
                   "%s", d->cfg->name, d->file_path ? d->file_path : d->attach_name, err.message);
    pthread_mutex_unlock(&d->e->admin_lock);
    free(sql);
    free(qa);
}

int64_t clove__meta_last_refresh(dataset_t *d, duckdb_connection conn)
{
    if (!d->attach_name) return 0;
    meta_ensure(d, conn);
    char *qa = clove_sql_ident(d->attach_name);
    char *lit = clove_sql_literal(d->cfg->name);
    char *sql = clove_xasprintf("SELECT last_refresh_ms FROM %s.main.__clove_meta WHERE dataset = %s",
                                qa, lit);
    int64_t v = 0;
    if (exec_int(conn, sql, &v, NULL) != 0) v = 0;
    free(sql);
    if (d->n_seen_files == 0) { /* restore the files an append already loaded */
        sql = clove_xasprintf("SELECT file FROM %s.main.__clove_files WHERE dataset = %s", qa, lit);
        duckdb_result res;
        if (duckdb_query(conn, sql, &res) == DuckDBSuccess) {
            idx_t n = duckdb_row_count(&res);
            d->seen_files = clove_xcalloc(n ? n : 1, sizeof *d->seen_files);
            for (idx_t i = 0; i < n; i++) {
                char *f = duckdb_value_varchar(&res, 0, i);
                d->seen_files[d->n_seen_files++] = clove_xstrdup(f);
                duckdb_free(f);
            }
        }
        duckdb_destroy_result(&res);
        free(sql);
    }
    free(lit);
    free(qa);
    return v;
}

/* Records the refresh time (and newly loaded files) inside the current transaction. */
static int meta_record(dataset_t *d, duckdb_connection conn, char **files, size_t n_files,
                       bool reset_files, clove_err_t *err)
{
    if (!d->attach_name) return 0;
    char *qa = clove_sql_ident(d->attach_name);
    char *lit = clove_sql_literal(d->cfg->name);
    char *sql = clove_xasprintf("INSERT OR REPLACE INTO %s.main.__clove_meta VALUES (%s, %lld)",
                                qa, lit, (long long)clove_now_ms());
    int rc = clove__exec(conn, sql, err);
    free(sql);
    if (rc == 0 && reset_files) {
        sql = clove_xasprintf("DELETE FROM %s.main.__clove_files WHERE dataset = %s", qa, lit);
        rc = clove__exec(conn, sql, err);
        free(sql);
    }
    for (size_t i = 0; rc == 0 && i < n_files; i++) {
        char *fl = clove_sql_literal(files[i]);
        sql = clove_xasprintf("INSERT INTO %s.main.__clove_files VALUES (%s, %s)", qa, lit, fl);
        rc = clove__exec(conn, sql, err);
        free(sql);
        free(fl);
    }
    free(lit);
    free(qa);
    return rc;
}

static bool file_seen(dataset_t *d, const char *f)
{
    for (size_t i = 0; i < d->n_seen_files; i++)
        if (!strcmp(d->seen_files[i], f)) return true;
    return false;
}

/* Lists the source's files not loaded yet. Returns the count (>= 0) or a negative code. */
static int list_new_files(dataset_t *d, duckdb_connection conn, char ***out, clove_err_t *err)
{
    char *lit = clove_sql_literal(d->reader_pattern);
    char *sql = clove_xasprintf("SELECT file FROM glob(%s) ORDER BY file", lit);
    free(lit);
    duckdb_result res;
    if (duckdb_query(conn, sql, &res) == DuckDBError) {
        int rc = clove_err_set(err, CLOVE_EIO, "could not list the files of %s: %s",
                               d->reader_pattern, duckdb_result_error(&res));
        duckdb_destroy_result(&res);
        free(sql);
        return rc;
    }
    free(sql);
    idx_t n = duckdb_row_count(&res);
    char **files = clove_xcalloc(n ? n : 1, sizeof *files);
    int k = 0;
    for (idx_t i = 0; i < n; i++) {
        char *f = duckdb_value_varchar(&res, 0, i);
        if (!file_seen(d, f)) files[k++] = clove_xstrdup(f);
        duckdb_free(f);
    }
    duckdb_destroy_result(&res);
    *out = files;
    return k;
}

/* ---- the refresh ------------------------------------------------------------------------------ */

static bool target_exists(duckdb_connection conn, const char *target)
{
    char *sql = clove_xasprintf("SELECT 1 FROM %s LIMIT 0", target);
    int rc = clove__exec(conn, sql, NULL);
    free(sql);
    return rc == 0;
}

/* Is spice.public.<name> currently a view (ready_state on_registration serves the source
 * through one until the first load)? */
static bool public_is_view(dataset_t *d, duckdb_connection conn)
{
    char *lit = clove_sql_literal(d->cfg->name);
    char *sql = clove_xasprintf("SELECT count(*) FROM duckdb_views() WHERE database_name = "
                                "'spice' AND schema_name = 'public' AND view_name = %s", lit);
    int64_t n = 0;
    exec_int(conn, sql, &n, NULL);
    free(sql);
    free(lit);
    return n > 0;
}

/* The column definitions of the incoming table, for CREATE TABLE with a primary key. */
static char *column_defs(duckdb_connection conn, clove_err_t *err)
{
    duckdb_result res;
    if (duckdb_query(conn, "SELECT column_name, column_type FROM (DESCRIBE " IN_TABLE ")",
                     &res) == DuckDBError) {
        clove_err_set(err, CLOVE_EQUERY, "%s", duckdb_result_error(&res));
        duckdb_destroy_result(&res);
        return NULL;
    }
    clove_buf_t b;
    clove_buf_init(&b);
    for (idx_t i = 0; i < duckdb_row_count(&res); i++) {
        char *n = duckdb_value_varchar(&res, 0, i), *t = duckdb_value_varchar(&res, 1, i);
        char *q = clove_sql_ident(n);
        clove_buf_printf(&b, "%s%s %s", i ? ", " : "", q, t);
        free(q);
        duckdb_free(n);
        duckdb_free(t);
    }
    duckdb_destroy_result(&res);
    return clove_buf_steal(&b);
}

static int create_indexes(dataset_t *d, duckdb_connection conn, clove_err_t *err)
{
    const clove_kvlist_t *ix = &d->cfg->acceleration.indexes;
    for (size_t i = 0; i < ix->len; i++) {
        char *cols = quoted_column_list(ix->items[i].key);
        if (!cols) continue;
        bool unique = !strcmp(ix->items[i].value, "unique");
        /* index names are per schema: make them unique per dataset and position */
        char *iname = clove_xasprintf("__clove_ix_%s_%zu", d->lname, i);
        char *qn = clove_sql_ident(iname);
        /* the index lives beside the table: same catalog and schema */
        const char *dot = strrchr(d->target, '.');
        char *sql = clove_xasprintf("CREATE %sINDEX %s ON %s (%s)", unique ? "UNIQUE " : "", qn,
                                    d->target, cols);
        (void)dot;
        int rc = clove__exec(conn, sql, err);
        if (rc != 0) {
            char msg[CLOVE_ERR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err->message);
            clove_err_set(err, CLOVE_EQUERY, "could not create %sindex on (%s): %s",
                          unique ? "unique " : "", ix->items[i].key, msg);
        }
        free(sql);
        free(qn);
        free(iname);
        free(cols);
        if (rc != 0) return rc;
    }
    return 0;
}

/* SELECT over the incoming table that applies the conflict rule within the batch. */
static char *deduped_incoming(dataset_t *d)
{
    if (!d->pk_cols) return clove_xstrdup("SELECT * FROM " IN_TABLE);
    /* last wins for upsert_dedup; first wins for drop (the stored row wins over both) */
    const char *order = d->conflict == CONFLICT_DROP ? "ASC" : "DESC";
    if (d->conflict != CONFLICT_DROP && d->conflict != CONFLICT_UPSERT_DEDUP)
        return clove_xstrdup("SELECT * FROM " IN_TABLE);
    return clove_xasprintf(
        "SELECT * EXCLUDE (__clove_ord) FROM (SELECT *, row_number() OVER () AS __clove_ord "
        "FROM " IN_TABLE ") QUALIFY row_number() OVER (PARTITION BY %s ORDER BY __clove_ord "
        "%s) = 1", d->pk_cols, order);
}

/* Fails when the batch holds two rows with one key and the rule cannot pick one. */
static int check_batch_keys(dataset_t *d, duckdb_connection conn, clove_err_t *err)
{
    if (!d->pk_cols || d->conflict == CONFLICT_DROP || d->conflict == CONFLICT_UPSERT_DEDUP)
        return 0;
    char *sql = clove_xasprintf("SELECT (%s)::VARCHAR FROM " IN_TABLE " GROUP BY ALL HAVING "
                                "count(*) > 1 LIMIT 1", d->pk_cols);
    char *dup = exec_str(conn, sql);
    free(sql);
    if (!dup) return 0;
    int rc = clove_err_set(err, CLOVE_EQUERY,
                           "the incoming data holds several rows with primary key %s; set "
                           "on_conflict to upsert_dedup (last row wins) or drop (first row wins)",
                           dup);
    free(dup);
    return rc;
}

/* The ON CONFLICT clause for the key: DO NOTHING (drop) or DO UPDATE of every other column
 * (upsert). Named explicitly: unique indexes make an implicit conflict target ambiguous. */
static char *conflict_clause(dataset_t *d, duckdb_connection conn)
{
    if (!d->pk_cols || d->conflict == CONFLICT_NONE) return clove_xstrdup("");
    if (d->conflict == CONFLICT_DROP)
        return clove_xasprintf("ON CONFLICT (%s) DO NOTHING", d->pk_cols);
    duckdb_result res;
    clove_buf_t b;
    clove_buf_init(&b);
    if (duckdb_query(conn, "SELECT column_name FROM (DESCRIBE " IN_TABLE ")", &res) ==
        DuckDBSuccess) {
        for (idx_t i = 0; i < duckdb_row_count(&res); i++) {
            char *n = duckdb_value_varchar(&res, 0, i);
            char *q = clove_sql_ident(n);
            /* key columns stay: they are what matched */
            if (!strstr(d->pk_cols, q))
                clove_buf_printf(&b, "%s%s = excluded.%s", b.len ? ", " : "", q, q);
            free(q);
            duckdb_free(n);
        }
    }
    duckdb_destroy_result(&res);
    char *out = b.len ? clove_xasprintf("ON CONFLICT (%s) DO UPDATE SET %s", d->pk_cols, b.data)
                      : clove_xasprintf("ON CONFLICT (%s) DO NOTHING", d->pk_cols);
    clove_buf_dispose(&b);
    return out;
}

/* True when spice.public.<name> does not exist yet (the first load of a SQLite store). */
static bool public_is_view_missing(dataset_t *d, duckdb_connection conn)
{
    char *lit = clove_sql_literal(d->cfg->name);
    char *sql = clove_xasprintf("SELECT count(*) FROM duckdb_views() WHERE database_name = "
                                "'spice' AND schema_name = 'public' AND view_name = %s", lit);
    int64_t n = 0;
    exec_int(conn, sql, &n, NULL);
    free(sql);
    free(lit);
    return n == 0;
}

/* engine sqlite: the store loads from a SELECT that DuckDB runs. Appends and keyed loads go
 * through a materialised batch so the batch checks and the exact-append subtraction apply. */
static int sqlite_conflict(const dataset_t *d)
{
    return d->conflict == CONFLICT_DROP ? CLOVE_SQLITE_CONFLICT_DROP
           : (d->conflict == CONFLICT_UPSERT || d->conflict == CONFLICT_UPSERT_DEDUP)
               ? CLOVE_SQLITE_CONFLICT_UPSERT : CLOVE_SQLITE_CONFLICT_NONE;
}

static int sqlite_write(dataset_t *d, duckdb_connection conn, const char *incoming, bool append,
                        bool exists, int64_t *loaded, clove_err_t *err)
{
    int conflict = sqlite_conflict(d);
    int mode = append ? CLOVE_SQLITE_LOAD_APPEND : CLOVE_SQLITE_LOAD_FULL;
    if (!append && !d->pk_cols)
        return clove_sqlite_accel_load(d->sqlite, conn, incoming, d->cfg->name, mode, NULL,
                                       conflict, loaded, err);
    char *sql = clove_xasprintf("CREATE OR REPLACE TEMP TABLE __clove_incoming AS %s", incoming);
    int rc = clove__exec(conn, sql, err);
    free(sql);
    if (rc == 0) rc = check_batch_keys(d, conn, err);
    if (rc != 0) return rc;
    char *select;
    if (append && !d->pk_cols && d->time_expr && exists)
        select = clove_xasprintf("SELECT * FROM " IN_TABLE " EXCEPT ALL SELECT * FROM %s WHERE "
                                 "%s >= (SELECT min(%s) FROM " IN_TABLE ")", d->target,
                                 d->time_expr, d->time_expr);
    else
        select = deduped_incoming(d);
    rc = clove_sqlite_accel_load(d->sqlite, conn, select, d->cfg->name, mode, d->pk_cols,
                                 conflict, loaded, err);
    free(select);
    return rc;
}

int clove__append_incoming(dataset_t *d, duckdb_connection conn, int64_t *loaded,
                           clove_err_t *err)
{
    *loaded = 0;
    int rc = check_batch_keys(d, conn, err);
    if (rc != 0) return rc;
    char *dedup = deduped_incoming(d);
    if (d->sqlite) {
        rc = clove_sqlite_accel_load(d->sqlite, conn, dedup, d->cfg->name,
                                     CLOVE_SQLITE_LOAD_APPEND, d->pk_cols, sqlite_conflict(d),
                                     loaded, err);
        free(dedup);
        return rc;
    }
    char *conflict = conflict_clause(d, conn);
    char *sql = clove_xasprintf("INSERT INTO %s %s %s", d->target, dedup, conflict);
    clove__exec(conn, "ROLLBACK", NULL); /* start clean, as a refresh does */
    rc = clove__exec(conn, "BEGIN TRANSACTION", err);
    if (rc == 0) rc = exec_int(conn, sql, loaded, err);
    if (rc == 0) rc = clove__exec(conn, "COMMIT", err);
    if (rc != 0) clove__exec(conn, "ROLLBACK", NULL);
    free(sql);
    free(conflict);
    free(dedup);
    return rc;
}

/* ---- loading objects as they land ---------------------------------------------------------- */

/* A full refresh of a remote Parquet prefix loads the objects that are complete while later
 * ones still download (clove_source_sync_stream): the first batch creates the new table,
 * later batches insert into it, all in one transaction that commits after the last, so
 * readers see the old table until the new one is whole. Every batch reads the Hive
 * partition columns with the types settled from the whole listing. */
typedef struct {
    dataset_t *d;
    duckdb_connection conn;
    bool exists;                 /* the target exists (a refresh, not the first load) */
    const char *conds;           /* the refresh's WHERE conditions, or NULL */
    char *hive_types;            /* the read's hive_types option, or NULL */
    char *cols;                  /* the new table's columns, quoted, after the first batch */
    bool in_tx;
    int batches;
    int64_t loaded;
    int64_t load_ns;             /* time spent in the batches */
} stream_load_t;

static bool stream_plan_cb(void *ctx, bool changed, const char *hive_types)
{
    stream_load_t *st = ctx;
    dataset_t *d = st->d;
    if (!hive_types) return false; /* the glob load lets DuckDB settle the types */
    /* nothing new since the last load: the ordinary path says so without loading */
    if (st->exists && !changed && !st->conds &&
        d->remote_loaded_gen == clove_source_generation(d->remote))
        return false;
    if (d->reader_hive && strcmp(hive_types, "{}") != 0)
        st->hive_types = clove_xasprintf(", hive_types = %s", hive_types);
    return true;
}

static char *stream_columns(duckdb_connection conn, const char *target, clove_err_t *err)
{
    char *sql = clove_xasprintf("SELECT column_name FROM (DESCRIBE %s)", target);
    duckdb_result res;
    char *out = NULL;
    if (duckdb_query(conn, sql, &res) == DuckDBError) {
        clove_err_set(err, CLOVE_EQUERY, "%s",
                      clove__clean_duckdb_error(duckdb_result_error(&res)));
    } else {
        clove_buf_t b;
        clove_buf_init(&b);
        for (idx_t i = 0; i < duckdb_row_count(&res); i++) {
            char *n = duckdb_value_varchar(&res, 0, i);
            char *q = clove_sql_ident(n);
            clove_buf_printf(&b, "%s%s", i ? ", " : "", q);
            free(q);
            duckdb_free(n);
        }
        out = clove_buf_steal(&b);
    }
    duckdb_destroy_result(&res);
    free(sql);
    return out;
}

/* `reader_fn(['f1', 'f2', ...]<reader_opts><extra>)`: d's file reader over these files (new
 * string). */
static char *reader_over(dataset_t *d, const char *const *files, size_t n, const char *extra)
{
    clove_buf_t b;
    clove_buf_init(&b);
    clove_buf_printf(&b, "%s([", d->reader_fn);
    for (size_t i = 0; i < n; i++) {
        if (i) clove_buf_puts(&b, ", ");
        clove_buf_sql_quoted(&b, files[i], '\'');
    }
    clove_buf_printf(&b, "]%s%s)", d->reader_opts ? d->reader_opts : "", extra ? extra : "");
    return clove_buf_steal(&b);
}

static int stream_ready_cb(void *ctx, const char *const *files, size_t n, clove_err_t *err)
{
    stream_load_t *st = ctx;
    dataset_t *d = st->d;
    int64_t t0 = clove_mono_ns();
    char *reader = reader_over(d, files, n, st->hive_types);
    char *where = st->conds ? clove_xasprintf(" WHERE %s", st->conds) : clove_xstrdup("");
    char *sql = NULL;
    int64_t rows = 0;
    int rc = 0;
    if (!st->in_tx) {
        if ((rc = clove__exec(st->conn, "BEGIN TRANSACTION", err)) != 0) goto done;
        st->in_tx = true;
        if (!d->attach_name && public_is_view(d, st->conn)) {
            char *qi = clove_sql_ident(d->cfg->name);
            sql = clove_xasprintf("DROP VIEW spice.public.%s", qi);
            free(qi);
            if ((rc = clove__exec(st->conn, sql, err)) != 0) goto done;
            free(sql);
        }
        sql = clove_xasprintf("CREATE OR REPLACE TABLE %s AS SELECT * FROM %s%s", d->target,
                              reader, where);
        if ((rc = exec_int(st->conn, sql, &rows, err)) != 0) goto done;
        if (!(st->cols = stream_columns(st->conn, d->target, err))) {
            rc = CLOVE_EQUERY;
            goto done;
        }
    } else {
        /* by name, as the reader maps every file to the first one's columns */
        sql = clove_xasprintf("INSERT INTO %s SELECT %s FROM %s%s", d->target, st->cols, reader,
                              where);
        if ((rc = exec_int(st->conn, sql, &rows, err)) != 0) goto done;
    }
    st->loaded += rows;
    st->batches++;
done:
    st->load_ns += clove_mono_ns() - t0;
    clove_debug(COMP, "dataset %s: batch %d: %zu object(s), %lld rows, %.1f ms", d->cfg->name,
                st->batches, n, (long long)rows, (double)(clove_mono_ns() - t0) / 1e6);
    free(sql);
    free(where);
    free(reader);
    return rc;
}

int clove__refresh_run(dataset_t *d, duckdb_connection conn, clove_refresh_mode_t mode,
                       const char *refresh_sql, int64_t *loaded, int64_t *held, clove_err_t *err)
{
    const clove_accel_cfg_t *a = &d->cfg->acceleration;
    char *qi = clove_sql_ident(d->cfg->name);
    char *from = NULL, *incoming = NULL, *sql = NULL, *dedup = NULL, *defs = NULL;
    char *conflict = NULL;
    char **new_files = NULL;
    int n_new = 0;
    int rc = 0;
    bool in_tx = false, shadow = false;
    bool exists = d->sqlite ? clove_sqlite_accel_has_table(d->sqlite, d->cfg->name)
                            : target_exists(conn, d->target);
    bool append = mode == CLOVE_REFRESH_APPEND && exists;
    /* datasets that append new files keep the list of files loaded; a full refresh of one
     * reloads every file and starts the list over */
    bool file_append = (mode == CLOVE_REFRESH_APPEND || a->refresh_mode == CLOVE_REFRESH_APPEND)
                       && !d->time_expr && d->reader_fn;
    bool reset_files = file_append && !append;
    char *watermark = NULL;
    stream_load_t st = {0};
    char *window = NULL;
    *loaded = 0;
    /* an interrupt that landed on an earlier COMMIT/ROLLBACK can leave this connection in an
     * aborted transaction: start clean (an error here only means there was none) */
    clove__exec(conn, "ROLLBACK", NULL);
    if ((rc = clove__source_prepare(d, conn, err)) != 0) goto out;
    /* remote sources: bring the local cache up to date first (changed objects only) */
    uint64_t src_gen = 0;
    /* with refresh_sql and Hive partitions, refresh_sql's conditions decide what is fetched:
     * the sync waits for the rewrite below */
    if (d->remote && refresh_sql && !file_append &&
        (rc = clove__remote_prepare(d, conn, err)) != 0)
        goto out;
    bool prune = d->remote && d->source_pushdown && refresh_sql && !file_append;
    /* a full refresh of Parquet objects that reads them as they are: load while downloading */
    bool stream = d->remote && !prune && !file_append && mode == CLOVE_REFRESH_FULL &&
                  !refresh_sql && !d->sqlite && !d->pk_cols && a->indexes.len == 0 &&
                  d->reader_fn && !strcmp(d->reader_fn, "read_parquet");
    st.d = d;
    st.conn = conn;
    st.exists = exists;
    if (stream && a->refresh_data_window_ms > 0 && d->time_expr)
        st.conds = window = clove_xasprintf("%s >= now() - INTERVAL (%lld) MILLISECOND",
                                            d->time_expr, (long long)a->refresh_data_window_ms);
    if (d->remote && !prune) {
        clove_source_sink_t sink = {.plan_cb = stream_plan_cb, .ready_cb = stream_ready_cb,
                                    .ctx = &st};
        rc = clove_source_sync_stream(d->remote, conn, stream ? &sink : NULL, NULL, err);
        in_tx = st.in_tx;
        if (rc != 0) goto out;
        src_gen = clove_source_generation(d->remote);
        if (st.batches > 0) {
            /* loaded while downloading: the bookkeeping and the swap in one commit */
            if ((rc = meta_record(d, conn, NULL, 0, false, err)) != 0) goto out;
            if ((rc = clove__exec(conn, "COMMIT", err)) != 0) goto out;
            in_tx = false;
            *loaded = st.loaded;
            clove_info(COMP, "dataset %s: %lld rows loaded in %d batch(es) as the objects "
                       "landed (%.1f ms in DuckDB)", d->cfg->name, (long long)st.loaded,
                       st.batches, (double)st.load_ns / 1e6);
            goto count;
        }
        /* a full refresh of a source whose objects did not change since the last successful
         * load has nothing to do (no refresh_sql or data window that could select otherwise) */
        if (exists && !file_append && mode == CLOVE_REFRESH_FULL && !refresh_sql &&
            a->refresh_data_window_ms <= 0 && d->remote_loaded_gen == src_gen) {
            clove_info(COMP, "dataset %s: the source did not change since the last load",
                       d->cfg->name);
            goto count;
        }
    }
    if (reset_files) {
        for (size_t i = 0; i < d->n_seen_files; i++) free(d->seen_files[i]);
        d->n_seen_files = 0;
    }

    /* 1. where rows come from */
    if (file_append) {
        n_new = list_new_files(d, conn, &new_files, err);
        if (n_new < 0) {
            rc = n_new;
            goto out;
        }
        if (n_new == 0 && exists) goto count; /* nothing new */
        from = reader_over(d, (const char *const *)new_files, (size_t)n_new, NULL);
        if (n_new == 0) { /* first load of an empty directory: keep the schema, no rows */
            free(from);
            from = clove_xasprintf("(SELECT * FROM %s LIMIT 0)", d->source_sql);
        }
    } else {
        from = clove_xstrdup(d->source_sql);
    }
    /* refresh_sql reads the dataset by its own name: shadow it with the source. A
     * PostgreSQL source is read by name too, so that the filters (the watermark, refresh_sql's
     * own WHERE and LIMIT) go to PostgreSQL through the pushdown rewrite below; the shadow
     * view is exactly the target's view, so the rewrite does not change what is read. */
    if (refresh_sql || d->source_pushdown) {
        sql = clove_xasprintf("CREATE OR REPLACE TEMP VIEW %s AS SELECT * FROM %s", qi, from);
        if ((rc = clove__exec(conn, sql, err)) != 0) goto out;
        shadow = true;
    }
    clove_buf_t conds;
    clove_buf_init(&conds);
    if (a->refresh_data_window_ms > 0 && d->time_expr)
        clove_buf_printf(&conds, "%s >= now() - INTERVAL (%lld) MILLISECOND", d->time_expr,
                         (long long)a->refresh_data_window_ms);
    if (append && d->time_expr) {
        /* rows at or past the stored watermark (minus the overlap); rows already held are
         * subtracted below, so rows sharing the boundary timestamp are neither lost nor
         * duplicated. The bound goes in as a literal of the column's type so the source scan
         * can skip what lies before it (Parquet row groups, Hive partitions, PostgreSQL). */
        char *q = clove_xasprintf("SELECT CAST(max(%s) AS VARCHAR) || '::' || typeof(max(%s)) "
                                  "FROM %s", d->time_expr, d->time_expr, d->target);
        watermark = exec_str(conn, q);
        free(q);
        if (watermark) {
            char *sep = strstr(watermark, "::");
            *sep = '\0';
            char *lit = clove_sql_literal(watermark);
            char *bound = lit;
            if (a->refresh_append_overlap_ms > 0) {
                /* the overlap is subtracted here, in the column's type (a DATE rounds down) */
                q = clove_xasprintf("SELECT CAST(CAST(CAST(%s AS %s) - INTERVAL (%lld) "
                                    "MILLISECOND AS %s) AS VARCHAR)", lit, sep + 2,
                                    (long long)a->refresh_append_overlap_ms, sep + 2);
                char *v = exec_str(conn, q);
                free(q);
                if (!v) {
                    free(lit);
                    clove_buf_dispose(&conds);
                    rc = clove_err_set(err, CLOVE_EQUERY, "could not compute the append "
                                       "watermark of dataset %s", d->cfg->name);
                    goto out;
                }
                bound = clove_sql_literal(v);
                free(v);
            }
            clove_buf_printf(&conds, "%s%s >= CAST(%s AS %s)", conds.len ? " AND " : "",
                             d->time_expr, bound, sep + 2);
            if (bound != lit) free(bound);
            free(lit);
        }
    }
    if (refresh_sql)
        incoming = conds.len ? clove_xasprintf("SELECT * FROM (%s) WHERE %s", refresh_sql,
                                               conds.data)
                             : clove_xstrdup(refresh_sql);
    else
        incoming = clove_xasprintf("SELECT * FROM %s%s%s", shadow ? qi : from,
                                   conds.len ? " WHERE " : "", conds.len ? conds.data : "");
    clove_buf_dispose(&conds);
    if (d->source_pushdown) {
        char *pushed = NULL;
        clove_err_t perr;
        if (clove_pushdown_rewrite(conn, incoming, &d->source_pushdown, 1, &pushed, &perr) != 0)
            clove_debug(COMP, "dataset %s: nothing pushed to the source: %s", d->cfg->name,
                        perr.message);
        if (pushed) {
            clove_debug(COMP, "dataset %s: refresh reads %s", d->cfg->name, pushed);
            free(incoming);
            incoming = pushed;
        }
    }
    if (prune) {
        char **filters = clove__remote_filters(conn, incoming, &d, 1);
        const char *filter = filters ? filters[0] : NULL;
        if (filter) clove_debug(COMP, "dataset %s: refresh fetches what %s selects", d->cfg->name,
                                filter);
        rc = clove_source_sync(d->remote, CLOVE_SYNC_REFRESH, conn, filter, NULL, err);
        if (filters) free(filters[0]);
        free(filters);
        if (rc != 0) goto out;
        src_gen = clove_source_generation(d->remote);
    }

    /* 2. write */
    if (d->sqlite) {
        rc = sqlite_write(d, conn, incoming, append, exists, loaded, err);
        if (rc != 0) goto out;
        goto count;
    }
    if ((!append && !d->pk_cols && a->indexes.len == 0) ||
        (append && !d->pk_cols && !d->time_expr)) {
        /* the common cases stream from the source straight into the table: a full refresh
         * builds the new table and swaps it in, an append of new files inserts them; one
         * transaction with the bookkeeping */
        if ((rc = clove__exec(conn, "BEGIN TRANSACTION", err)) != 0) goto out;
        in_tx = true;
        if (!append && !d->attach_name && public_is_view(d, conn)) {
            free(sql);
            sql = clove_xasprintf("DROP VIEW spice.public.%s", qi);
            if ((rc = clove__exec(conn, sql, err)) != 0) goto out;
        }
        free(sql);
        sql = append ? clove_xasprintf("INSERT INTO %s %s", d->target, incoming)
                     : clove_xasprintf("CREATE OR REPLACE TABLE %s AS %s", d->target, incoming);
        if ((rc = exec_int(conn, sql, loaded, err)) != 0) goto out;
        if ((rc = meta_record(d, conn, new_files, file_append ? (size_t)n_new : 0, reset_files,
                              err)) != 0)
            goto out;
        if ((rc = clove__exec(conn, "COMMIT", err)) != 0) goto out;
        in_tx = false;
        goto count;
    }

    /* materialise the batch once: the source is read once and checks can look at it */
    free(sql);
    sql = clove_xasprintf("CREATE OR REPLACE TEMP TABLE __clove_incoming AS %s", incoming);
    if ((rc = clove__exec(conn, sql, err)) != 0) goto out;
    if ((rc = check_batch_keys(d, conn, err)) != 0) goto out;
    dedup = deduped_incoming(d);
    conflict = conflict_clause(d, conn);

    if ((rc = clove__exec(conn, "BEGIN TRANSACTION", err)) != 0) goto out;
    in_tx = true;
    if (!append) {
        if (public_is_view(d, conn) && !d->attach_name) {
            free(sql);
            sql = clove_xasprintf("DROP VIEW spice.public.%s", qi);
            if ((rc = clove__exec(conn, sql, err)) != 0) goto out;
        }
        if (!(defs = column_defs(conn, err))) {
            rc = CLOVE_EQUERY;
            goto out;
        }
        free(sql);
        if (d->pk_cols)
            sql = clove_xasprintf("CREATE OR REPLACE TABLE %s (%s, PRIMARY KEY (%s))", d->target,
                                  defs, d->pk_cols);
        else
            sql = clove_xasprintf("CREATE OR REPLACE TABLE %s (%s)", d->target, defs);
        if ((rc = clove__exec(conn, sql, err)) != 0) goto out;
        free(sql);
        sql = clove_xasprintf("INSERT INTO %s %s %s", d->target, dedup, conflict);
        if ((rc = exec_int(conn, sql, loaded, err)) != 0) goto out;
        if ((rc = create_indexes(d, conn, err)) != 0) goto out;
    } else if (d->pk_cols) {
        free(sql);
        sql = clove_xasprintf("INSERT INTO %s %s %s", d->target, dedup, conflict);
        if ((rc = exec_int(conn, sql, loaded, err)) != 0) goto out;
    } else if (d->time_expr) {
        free(sql);
        sql = clove_xasprintf(
            "INSERT INTO %s SELECT * FROM " IN_TABLE " EXCEPT ALL SELECT * FROM %s WHERE %s >= "
            "(SELECT min(%s) FROM " IN_TABLE ")", d->target, d->target, d->time_expr,
            d->time_expr);
        if ((rc = exec_int(conn, sql, loaded, err)) != 0) goto out;
    } else {
        free(sql);
        sql = clove_xasprintf("INSERT INTO %s SELECT * FROM " IN_TABLE, d->target);
        if ((rc = exec_int(conn, sql, loaded, err)) != 0) goto out;
    }
    if ((rc = meta_record(d, conn, new_files, file_append ? (size_t)n_new : 0, reset_files,
                          err)) != 0)
        goto out;
    if ((rc = clove__exec(conn, "COMMIT", err)) != 0) goto out;
    in_tx = false;

count:
    if (rc == 0 && d->attach_name) rc = clove__expose_file_table(d, err);
    if (rc == 0 && d->sqlite &&
        (public_is_view_missing(d, conn) ||
         clove_sqlite_accel_schema_changed(d->sqlite, d->cfg->name, &d->sqlite_version)))
        rc = clove__expose_file_table(d, err);
    if (rc == 0 && file_append && n_new > 0) {
        d->seen_files = clove_xrealloc(d->seen_files,
                                       (d->n_seen_files + (size_t)n_new) * sizeof *d->seen_files);
        for (int i = 0; i < n_new; i++) {
            d->seen_files[d->n_seen_files++] = new_files[i];
            new_files[i] = NULL;
        }
    }
    *held = clove__count_rows(conn, d->target);
    if (d->remote && rc == 0) d->remote_loaded_gen = src_gen;
out:
    if (in_tx || rc != 0) clove__exec(conn, "ROLLBACK", NULL);
    clove__exec(conn, "DROP TABLE IF EXISTS " IN_TABLE, NULL);
    if (shadow) {
        free(sql);
        sql = clove_xasprintf("DROP VIEW IF EXISTS temp.main.%s", qi);
        clove__exec(conn, sql, NULL);
    }
    for (int i = 0; i < n_new; i++) free(new_files ? new_files[i] : NULL);
    free(new_files);
    free(st.hive_types);
    free(st.cols);
    free(window);
    free(defs);
    free(watermark);
    free(conflict);
    free(dedup);
    free(sql);
    free(incoming);
    free(from);
    free(qi);
    return rc;
}

int64_t clove__retention_run(dataset_t *d, duckdb_connection conn, clove_err_t *err)
{
    const clove_accel_cfg_t *a = &d->cfg->acceleration;
    int64_t total = 0, n = 0;
    char *sql;
    if (a->retention_period_ms > 0 && d->time_expr) {
        sql = clove_xasprintf("DELETE FROM %s WHERE %s < now() - INTERVAL (%lld) MILLISECOND",
                              d->target, d->time_expr, (long long)a->retention_period_ms);
        int rc = exec_int(conn, sql, &n, err);
        free(sql);
        if (rc != 0) return rc;
        total += n;
    }
    if (a->retention_sql) {
        const char *w = strcasestr(a->retention_sql, "WHERE");
        sql = clove_xasprintf("DELETE FROM %s %s", d->target, w);
        int rc = exec_int(conn, sql, &n, err);
        free(sql);
        if (rc != 0) return rc;
        total += n;
    }
    return total;
}
