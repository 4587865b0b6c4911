/*
 * accel/sqlite_accel.c: the SQLite acceleration store. Opens a SQLite file (WAL) or keeps
 * in-memory "generations" (one immutable in-memory database per table version), loads the
 * rows of a DuckDB query into tables chunk by chunk with one prepared INSERT inside one
 * transaction, keeps the DuckDB type of every column in metadata tables beside the data, and
 * holds the process-wide registry that lets the table function find a handle by id.
 */
#include "accel/sqlite_accel_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define COMP "sqlite-accel"
#define STAGE_PREFIX "__clove_stage_"
#define META_SQL                                                                             \
    "CREATE TABLE IF NOT EXISTS __clove_tables (tbl TEXT PRIMARY KEY, rows INTEGER NOT NULL, " \
    "loaded_ms INTEGER NOT NULL, format INTEGER NOT NULL);"                                  \
    "CREATE TABLE IF NOT EXISTS __clove_columns (tbl TEXT NOT NULL, pos INTEGER NOT NULL, "    \
    "name TEXT NOT NULL, type_id INTEGER NOT NULL, type_sql TEXT NOT NULL, "                   \
    "kind INTEGER NOT NULL, PRIMARY KEY (tbl, pos))"
#define META_FORMAT 1

/* ---- registry ------------------------------------------------------------------------------ */

static pthread_mutex_t g_reg_lock = PTHREAD_MUTEX_INITIALIZER; /* guards g_reg_head, g_next_id */
static clove_sqlite_accel_t *g_reg_head;
static int64_t g_next_id = 1;
static atomic_uint_fast64_t g_version = 1; /* column-set versions, unique per process */
static atomic_uint_fast64_t g_gen_seq;     /* names of in-memory generations */

clove_sqlite_accel_t *clove__sqlite_accel_lookup(int64_t id)
{
    pthread_mutex_lock(&g_reg_lock);
    clove_sqlite_accel_t *a = g_reg_head;
    while (a && a->id != id) a = a->reg_next;
    if (a) atomic_fetch_add(&a->refs, 1);
    pthread_mutex_unlock(&g_reg_lock);
    return a;
}

static void cols_free(col_meta_t *cols, size_t n)
{
    for (size_t i = 0; cols && i < n; i++) {
        free(cols[i].name);
        free(cols[i].type_sql);
    }
    free(cols);
}

void clove__sqlite_gen_unref(gen_t *g)
{
    if (!g || atomic_fetch_sub(&g->refs, 1) != 1) return;
    sqlite3_close_v2(g->keeper); /* the last connection frees the in-memory store */
    free(g->uri);
    free(g);
}

void clove__sqlite_accel_unref(clove_sqlite_accel_t *a)
{
    if (!a || atomic_fetch_sub(&a->refs, 1) != 1) return;
    tbl_t *t = a->tables;
    while (t) {
        tbl_t *next = t->next;
        cols_free(t->cols, t->ncols);
        clove__sqlite_gen_unref(t->gen);
        free(t->name);
        free(t);
        t = next;
    }
    if (a->wdb) sqlite3_close_v2(a->wdb);
    pthread_mutex_destroy(&a->lock);
    pthread_mutex_destroy(&a->wlock);
    free(a->path);
    free(a);
}

tbl_t *clove__sqlite_tbl_find(clove_sqlite_accel_t *a, const char *name)
{
    for (tbl_t *t = a->tables; t; t = t->next)
        if (!strcmp(t->name, name)) return t;
    return NULL;
}

int64_t clove_sqlite_accel_id(const clove_sqlite_accel_t *a)
{
    return a->id;
}

int clove_sqlite_accel_register(duckdb_connection conn, clove_err_t *err)
{
    return clove__sqlite_scan_register(conn, err);
}

/* ---- small helpers ------------------------------------------------------------------------- */

static const char *where_str(const clove_sqlite_accel_t *a, char *buf, size_t n)
{
    if (a->path)
        snprintf(buf, n, "file \"%s\"", a->path);
    else
        snprintf(buf, n, "in memory");
    return buf;
}

static int exec_sql(sqlite3 *db, const char *sql, char *errbuf, size_t errlen)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(errbuf, errlen, "%s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static bool sqlite_table_exists(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

int clove__sqlite_open_reader(clove_sqlite_accel_t *a, gen_t *g, sqlite3 **out, char *errbuf,
                              size_t errlen)
{
    sqlite3 *db = NULL;
    int rc;
    /* each scan owns its connection, used by one thread at a time: no SQLite mutex needed */
    if (g)
        rc = sqlite3_open_v2(g->uri, &db,
                             SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
    else
        rc = sqlite3_open_v2(a->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(errbuf, errlen, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close_v2(db);
        return -1;
    }
    sqlite3_busy_timeout(db, a->busy_ms);
    *out = db;
    return 0;
}

/* ---- type mapping ---------------------------------------------------------------------------- */

static bool has_union(duckdb_logical_type t)
{
    duckdb_type id = duckdb_get_type_id(t);
    bool found = false;
    duckdb_logical_type c;
    switch (id) {
    case DUCKDB_TYPE_UNION:
        return true;
    case DUCKDB_TYPE_LIST:
        c = duckdb_list_type_child_type(t);
        found = has_union(c);
        duckdb_destroy_logical_type(&c);
        break;
    case DUCKDB_TYPE_ARRAY:
        c = duckdb_array_type_child_type(t);
        found = has_union(c);
        duckdb_destroy_logical_type(&c);
        break;
    case DUCKDB_TYPE_MAP:
        c = duckdb_map_type_key_type(t);
        found = has_union(c);
        duckdb_destroy_logical_type(&c);
        c = duckdb_map_type_value_type(t);
        found = found || has_union(c);
        duckdb_destroy_logical_type(&c);
        break;
    case DUCKDB_TYPE_STRUCT:
        for (idx_t i = 0; !found && i < duckdb_struct_type_child_count(t); i++) {
            c = duckdb_struct_type_child_type(t, i);
            found = has_union(c);
            duckdb_destroy_logical_type(&c);
        }
        break;
    default:
        break;
    }
    return found;
}

/* The storage kind of a DuckDB column type, or 0 when the store cannot hold it exactly. */
static col_kind_t kind_for(duckdb_logical_type t)
{
    if (has_union(t)) return 0; /* DuckDB's text form of a UNION loses the member tag */
    char *alias = duckdb_logical_type_get_alias(t);
    if (alias) { /* JSON and other aliased types: text, cast back to the alias */
        duckdb_free(alias);
        return KIND_CAST;
    }
    switch (duckdb_get_type_id(t)) {
    case DUCKDB_TYPE_BOOLEAN:
    case DUCKDB_TYPE_TINYINT:
    case DUCKDB_TYPE_SMALLINT:
    case DUCKDB_TYPE_INTEGER:
    case DUCKDB_TYPE_BIGINT:
    case DUCKDB_TYPE_UTINYINT:
    case DUCKDB_TYPE_USMALLINT:
    case DUCKDB_TYPE_UINTEGER:
        return KIND_INT;
    case DUCKDB_TYPE_UBIGINT:
        return KIND_UBIGINT;
    case DUCKDB_TYPE_FLOAT:
    case DUCKDB_TYPE_DOUBLE:
        return KIND_REAL;
    case DUCKDB_TYPE_VARCHAR:
        return KIND_TEXT;
    case DUCKDB_TYPE_BLOB:
        return KIND_BLOB;
    case DUCKDB_TYPE_INTERVAL:
        return KIND_INTERVAL;
    case DUCKDB_TYPE_DECIMAL:
    case DUCKDB_TYPE_HUGEINT:
    case DUCKDB_TYPE_UHUGEINT:
    case DUCKDB_TYPE_UUID:
    case DUCKDB_TYPE_DATE:
    case DUCKDB_TYPE_TIME:
    case DUCKDB_TYPE_TIME_NS:
    case DUCKDB_TYPE_TIME_TZ:
    case DUCKDB_TYPE_TIMESTAMP:
    case DUCKDB_TYPE_TIMESTAMP_S:
    case DUCKDB_TYPE_TIMESTAMP_MS:
    case DUCKDB_TYPE_TIMESTAMP_NS:
    case DUCKDB_TYPE_TIMESTAMP_TZ:
    case DUCKDB_TYPE_ENUM:
    case DUCKDB_TYPE_BIT:
    case DUCKDB_TYPE_BIGNUM:
    case DUCKDB_TYPE_LIST:
    case DUCKDB_TYPE_STRUCT:
    case DUCKDB_TYPE_MAP:
    case DUCKDB_TYPE_ARRAY:
        return KIND_CAST;
    default:
        return 0;
    }
}

static const char *sqlite_decl(col_kind_t k)
{
    switch (k) {
    case KIND_INT:
    case KIND_UBIGINT:
        return "INTEGER";
    case KIND_REAL:
        return "REAL";
    case KIND_BLOB:
        return "BLOB";
    default:
        return "TEXT";
    }
}

/* ---- metadata -------------------------------------------------------------------------------- */

/* Reads the tables a file already holds (an earlier run's loads). */
static int meta_read(clove_sqlite_accel_t *a, char *errbuf, size_t errlen)
{
    sqlite3_stmt *ts = NULL, *cs = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(a->wdb, "SELECT tbl, rows FROM __clove_tables ORDER BY tbl", -1, &ts,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(a->wdb,
                           "SELECT name, type_id, type_sql, kind FROM __clove_columns WHERE "
                           "tbl = ?1 ORDER BY pos", -1, &cs, NULL) != SQLITE_OK) {
        snprintf(errbuf, errlen, "%s", sqlite3_errmsg(a->wdb));
        rc = -1;
        goto out;
    }
    int s;
    while ((s = sqlite3_step(ts)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(ts, 0);
        if (!name || !sqlite_table_exists(a->wdb, name)) continue;
        tbl_t *t = clove_xcalloc(1, sizeof *t);
        t->name = clove_xstrdup(name);
        t->rows = sqlite3_column_int64(ts, 1);
        t->version = atomic_fetch_add(&g_version, 1);
        sqlite3_bind_text(cs, 1, name, -1, SQLITE_TRANSIENT);
        size_t cap = 0;
        while (sqlite3_step(cs) == SQLITE_ROW) {
            if (t->ncols == cap) {
                cap = cap ? cap * 2 : 8;
                t->cols = clove_xrealloc(t->cols, cap * sizeof *t->cols);
            }
            col_meta_t *c = &t->cols[t->ncols++];
            c->name = clove_xstrdup((const char *)sqlite3_column_text(cs, 0));
            c->type_id = sqlite3_column_int(cs, 1);
            c->type_sql = clove_xstrdup((const char *)sqlite3_column_text(cs, 2));
            c->kind = (col_kind_t)sqlite3_column_int(cs, 3);
        }
        sqlite3_reset(cs);
        t->next = a->tables;
        a->tables = t;
    }
    if (s != SQLITE_DONE) {
        snprintf(errbuf, errlen, "%s", sqlite3_errmsg(a->wdb));
        rc = -1;
    }
out:
    sqlite3_finalize(ts);
    sqlite3_finalize(cs);
    return rc;
}

/* Replaces the metadata of `table` inside the open transaction; sets *rows. */
static int meta_write(sqlite3 *db, const char *table, const col_meta_t *cols, size_t ncols,
                      int64_t *rows, char *errbuf, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    char *qt = clove_sql_ident(table);
    char *count_sql = clove_xasprintf("SELECT count(*) FROM %s", qt);
    if (exec_sql(db, META_SQL, errbuf, errlen) != 0) goto out;
    if (sqlite3_prepare_v2(db, count_sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        goto sqlerr;
    *rows = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "DELETE FROM __clove_columns WHERE tbl = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        goto sqlerr;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) goto sqlerr;
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "INSERT INTO __clove_columns VALUES (?1, ?2, ?3, ?4, ?5, ?6)", -1,
                           &st, NULL) != SQLITE_OK)
        goto sqlerr;
    for (size_t i = 0; i < ncols; i++) {
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        sqlite3_bind_text(st, 3, cols[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, cols[i].type_id);
        sqlite3_bind_text(st, 5, cols[i].type_sql, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 6, (int)cols[i].kind);
        if (sqlite3_step(st) != SQLITE_DONE) goto sqlerr;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO __clove_tables VALUES (?1, ?2, ?3, ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        goto sqlerr;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, *rows);
    sqlite3_bind_int64(st, 3, clove_now_ms());
    sqlite3_bind_int(st, 4, META_FORMAT);
    if (sqlite3_step(st) != SQLITE_DONE) goto sqlerr;
    rc = 0;
    goto out;
sqlerr:
    snprintf(errbuf, errlen, "%s", sqlite3_errmsg(db));
out:
    sqlite3_finalize(st);
    free(count_sql);
    free(qt);
    return rc;
}

/* ---- open / close ---------------------------------------------------------------------------- */

clove_sqlite_accel_t *clove_sqlite_accel_open(const char *path, int busy_timeout_ms,
                                              clove_err_t *err)
{
    clove_sqlite_accel_t *a = clove_xcalloc(1, sizeof *a);
    char msg[512];
    atomic_init(&a->refs, 1);
    a->busy_ms = busy_timeout_ms > 0 ? busy_timeout_ms : CLOVE_SQLITE_DEFAULT_BUSY_TIMEOUT_MS;
    pthread_mutex_init(&a->lock, NULL);
    pthread_mutex_init(&a->wlock, NULL);
    if (path) {
        if (!*path) {
            clove_err_set(err, CLOVE_EINVAL, "could not open SQLite acceleration: empty file path");
            goto fail;
        }
        a->path = clove_xstrdup(path);
        /* loads hold wlock while they use wdb: no SQLite mutex needed */
        int rc = sqlite3_open_v2(path, &a->wdb,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 NULL);
        if (rc != SQLITE_OK) {
            clove_err_set(err, CLOVE_EIO, "could not open SQLite acceleration file \"%s\": %s",
                          path, a->wdb ? sqlite3_errmsg(a->wdb) : sqlite3_errstr(rc));
            goto fail;
        }
        sqlite3_busy_timeout(a->wdb, a->busy_ms);
        sqlite3_extended_result_codes(a->wdb, 1);
        /* the first statements read the header and schema: a foreign or damaged file fails
         * here ("file is not a database", "database disk image is malformed") */
        sqlite3_stmt *st = NULL;
        const char *mode = NULL;
        if (sqlite3_prepare_v2(a->wdb, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            mode = (const char *)sqlite3_column_text(st, 0);
        if (!mode || strcmp(mode, "wal") != 0) {
            clove_err_set(err, CLOVE_EIO,
                          "could not open SQLite acceleration file \"%s\": %s", path,
                          mode ? "the file cannot use write-ahead logging"
                               : sqlite3_errmsg(a->wdb));
            sqlite3_finalize(st);
            goto fail;
        }
        sqlite3_finalize(st);
        if (exec_sql(a->wdb, "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536", msg,
                     sizeof msg) != 0 ||
            exec_sql(a->wdb, META_SQL, msg, sizeof msg) != 0 ||
            meta_read(a, msg, sizeof msg) != 0) {
            clove_err_set(err, CLOVE_EIO, "could not open SQLite acceleration file \"%s\": %s",
                          path, msg);
            goto fail;
        }
    }
    pthread_mutex_lock(&g_reg_lock);
    a->id = g_next_id++;
    a->reg_next = g_reg_head;
    g_reg_head = a;
    pthread_mutex_unlock(&g_reg_lock);
    return a;
fail:
    clove__sqlite_accel_unref(a);
    return NULL;
}

void clove_sqlite_accel_close(clove_sqlite_accel_t *a)
{
    if (!a) return;
    pthread_mutex_lock(&g_reg_lock);
    for (clove_sqlite_accel_t **pp = &g_reg_head; *pp; pp = &(*pp)->reg_next) {
        if (*pp == a) {
            *pp = a->reg_next;
            break;
        }
    }
    pthread_mutex_unlock(&g_reg_lock);
    clove__sqlite_accel_unref(a);
}

bool clove_sqlite_accel_has_table(clove_sqlite_accel_t *a, const char *table)
{
    pthread_mutex_lock(&a->lock);
    bool found = clove__sqlite_tbl_find(a, table) != NULL;
    pthread_mutex_unlock(&a->lock);
    return found;
}

int64_t clove_sqlite_accel_row_count(clove_sqlite_accel_t *a, const char *table)
{
    pthread_mutex_lock(&a->lock);
    tbl_t *t = clove__sqlite_tbl_find(a, table);
    int64_t n = t ? t->rows : -1;
    pthread_mutex_unlock(&a->lock);
    return n;
}

bool clove_sqlite_accel_schema_changed(clove_sqlite_accel_t *a, const char *table,
                                       uint64_t *version)
{
    pthread_mutex_lock(&a->lock);
    tbl_t *t = clove__sqlite_tbl_find(a, table);
    bool changed = t && t->version != *version;
    if (t) *version = t->version;
    pthread_mutex_unlock(&a->lock);
    return changed;
}

char *clove_sqlite_accel_view_sql(clove_sqlite_accel_t *a, const char *table, clove_err_t *err)
{
    char wbuf[600];
    pthread_mutex_lock(&a->lock);
    tbl_t *t = clove__sqlite_tbl_find(a, table);
    if (!t) {
        pthread_mutex_unlock(&a->lock);
        clove_err_set(err, CLOVE_ENOTFOUND, "SQLite acceleration %s has no table \"%s\"",
                      where_str(a, wbuf, sizeof wbuf), table);
        return NULL;
    }
    clove_buf_t b;
    clove_buf_init(&b);
    clove_buf_puts(&b, "SELECT ");
    for (size_t i = 0; i < t->ncols; i++) {
        char *q = clove_sql_ident(t->cols[i].name);
        if (i) clove_buf_puts(&b, ", ");
        if (t->cols[i].kind == KIND_CAST)
            clove_buf_printf(&b, "CAST(%s AS %s) AS %s", q, t->cols[i].type_sql, q);
        else
            clove_buf_puts(&b, q);
        free(q);
    }
    pthread_mutex_unlock(&a->lock);
    clove_buf_printf(&b, " FROM " CLOVE_SQLITE_SCAN_FN "(%lld, '", (long long)a->id);
    for (const char *p = table; *p; p++) {
        if (*p == '\'') clove_buf_putc(&b, '\'');
        clove_buf_putc(&b, *p);
    }
    clove_buf_puts(&b, "')");
    if (b.failed) {
        clove_buf_dispose(&b);
        clove_err_set(err, CLOVE_ENOMEM, "out of memory building the view of \"%s\"", table);
        return NULL;
    }
    return clove_buf_steal(&b);
}

/* ---- load ------------------------------------------------------------------------------------ */

typedef struct {
    clove_sqlite_accel_t *a;
    const char *table;
    col_meta_t *cols;
    size_t ncols;
    char *src_sql;          /* select_sql without trailing ';' */
    char *wrap_sql;         /* the query actually streamed */
    duckdb_prepared_statement prep;
    duckdb_result res;
    bool have_res;
    sqlite3 *db;            /* where rows go: a->wdb or the new generation's keeper */
    gen_t *gen;             /* memory mode: the generation being built */
    sqlite3_stmt *ins;
    bool in_tx;
    char msg[CLOVE_ERR_MSG_MAX];
} load_t;

/* Fills ld->cols from the query's result columns. */
static int describe(load_t *ld, duckdb_connection conn, clove_err_t *err)
{
    duckdb_prepared_statement p = NULL;
    duckdb_result res;
    bool have_res = false;
    int rc = 0;
    if (duckdb_prepare(conn, ld->src_sql, &p) == DuckDBError) {
        rc = clove_err_set(err, CLOVE_EQUERY, "could not load \"%s\": %s", ld->table,
                           duckdb_prepare_error(p));
        goto out;
    }
    ld->ncols = duckdb_prepared_statement_column_count(p);
    if (ld->ncols == 0) {
        rc = clove_err_set(err, CLOVE_EINVAL, "could not load \"%s\": the query returns no "
                           "columns", ld->table);
        goto out;
    }
    ld->cols = clove_xcalloc(ld->ncols, sizeof *ld->cols);
    for (idx_t i = 0; i < ld->ncols; i++) {
        duckdb_logical_type t = duckdb_prepared_statement_column_logical_type(p, i);
        const char *cn = duckdb_prepared_statement_column_name(p, i); /* ours to free */
        ld->cols[i].name = clove_xstrdup(cn ? cn : "");
        duckdb_free((void *)cn);
        ld->cols[i].type_id = (int)duckdb_get_type_id(t);
        ld->cols[i].kind = kind_for(t);
        duckdb_destroy_logical_type(&t);
        for (idx_t j = 0; j < i; j++)
            if (!strcasecmp(ld->cols[j].name, ld->cols[i].name)) {
                rc = clove_err_set(err, CLOVE_EINVAL, "could not load \"%s\": column name "
                                   "\"%s\" appears twice", ld->table, ld->cols[i].name);
                goto out;
            }
    }
    /* DuckDB's own spelling of each type, for the CAST back and for the append check */
    char *sql = clove_xasprintf("DESCRIBE %s", ld->src_sql);
    have_res = true;
    if (duckdb_query(conn, sql, &res) == DuckDBError || duckdb_row_count(&res) != ld->ncols) {
        rc = clove_err_set(err, CLOVE_EQUERY, "could not describe the rows of \"%s\": %s",
                           ld->table, duckdb_result_error(&res) ? duckdb_result_error(&res)
                                                                 : "column count differs");
        free(sql);
        goto out;
    }
    free(sql);
    for (idx_t i = 0; i < ld->ncols; i++) {
        char *ts = duckdb_value_varchar(&res, 1, i);
        ld->cols[i].type_sql = clove_xstrdup(ts ? ts : "VARCHAR");
        duckdb_free(ts);
        if (!ld->cols[i].kind) {
            rc = clove_err_set(err, CLOVE_EUNSUPPORTED,
                               "could not load \"%s\": column \"%s\" has type %s, which the "
                               "SQLite acceleration cannot hold exactly", ld->table,
                               ld->cols[i].name, ld->cols[i].type_sql);
            goto out;
        }
    }
out:
    if (have_res) duckdb_destroy_result(&res);
    duckdb_destroy_prepare(&p);
    return rc;
}

/* The streamed query: the source rows with every KIND_CAST column turned into DuckDB's own
 * VARCHAR form (TIMESTAMPTZ as UTC with an explicit "+00", independent of TimeZone). */
static char *wrap_query(const load_t *ld)
{
    clove_buf_t b;
    clove_buf_init(&b);
    clove_buf_puts(&b, "SELECT ");
    for (size_t i = 0; i < ld->ncols; i++) {
        const char *sep = i ? ", " : "";
        if (ld->cols[i].kind != KIND_CAST)
            clove_buf_printf(&b, "%s\"__c%zu\"", sep, i);
        else if (ld->cols[i].type_id == DUCKDB_TYPE_TIMESTAMP_TZ)
            clove_buf_printf(&b, "%sCASE WHEN isinf(\"__c%zu\") THEN CAST(\"__c%zu\" AS VARCHAR) "
                             "ELSE CAST(make_timestamp(epoch_us(\"__c%zu\")) AS VARCHAR) || '+00' "
                             "END", sep, i, i, i);
        else
            clove_buf_printf(&b, "%sCAST(\"__c%zu\" AS VARCHAR)", sep, i);
    }
    clove_buf_printf(&b, " FROM (%s) AS __clove_src(", ld->src_sql);
    for (size_t i = 0; i < ld->ncols; i++) clove_buf_printf(&b, "%s\"__c%zu\"", i ? ", " : "", i);
    clove_buf_puts(&b, ")");
    if (b.failed) abort();
    return clove_buf_steal(&b);
}

static bool same_columns(const col_meta_t *x, size_t nx, const col_meta_t *y, size_t ny)
{
    if (nx != ny) return false;
    for (size_t i = 0; i < nx; i++)
        if (strcmp(x[i].name, y[i].name) || strcmp(x[i].type_sql, y[i].type_sql)) return false;
    return true;
}

static char *create_sql(const load_t *ld, const char *target, const char *pk_cols)
{
    clove_buf_t b;
    clove_buf_init(&b);
    char *qt = clove_sql_ident(target);
    clove_buf_printf(&b, "CREATE TABLE %s (", qt);
    free(qt);
    for (size_t i = 0; i < ld->ncols; i++) {
        char *qc = clove_sql_ident(ld->cols[i].name);
        clove_buf_printf(&b, "%s%s %s", i ? ", " : "", qc, sqlite_decl(ld->cols[i].kind));
        free(qc);
    }
    if (pk_cols && *pk_cols) clove_buf_printf(&b, ", PRIMARY KEY (%s)", pk_cols);
    clove_buf_puts(&b, ")");
    if (b.failed) abort();
    return clove_buf_steal(&b);
}

static void put_be64(unsigned char *out, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

/* Binds one value of column c (row r of the chunk) to parameter c+1. */
static int bind_value(sqlite3_stmt *st, int p, const col_meta_t *c, void *data, idx_t r,
                      unsigned char *scratch)
{
    switch (c->kind) {
    case KIND_INT: {
        int64_t v = 0;
        switch (c->type_id) {
        case DUCKDB_TYPE_BOOLEAN: v = ((bool *)data)[r] ? 1 : 0; break;
        case DUCKDB_TYPE_TINYINT: v = ((int8_t *)data)[r]; break;
        case DUCKDB_TYPE_SMALLINT: v = ((int16_t *)data)[r]; break;
        case DUCKDB_TYPE_INTEGER: v = ((int32_t *)data)[r]; break;
        case DUCKDB_TYPE_BIGINT: v = ((int64_t *)data)[r]; break;
        case DUCKDB_TYPE_UTINYINT: v = ((uint8_t *)data)[r]; break;
        case DUCKDB_TYPE_USMALLINT: v = ((uint16_t *)data)[r]; break;
        case DUCKDB_TYPE_UINTEGER: v = ((uint32_t *)data)[r]; break;
        default: break;
        }
        return sqlite3_bind_int64(st, p, v);
    }
    case KIND_UBIGINT: {
        uint64_t v = ((uint64_t *)data)[r];
        if (v <= (uint64_t)INT64_MAX) return sqlite3_bind_int64(st, p, (sqlite3_int64)v);
        put_be64(scratch, v); /* sorts after every INTEGER, in numeric order */
        return sqlite3_bind_blob(st, p, scratch, 8, SQLITE_STATIC);
    }
    case KIND_REAL: {
        double d = c->type_id == DUCKDB_TYPE_FLOAT ? (double)((float *)data)[r]
                                                   : ((double *)data)[r];
        if (isnan(d) || (d == 0.0 && signbit(d))) {
            /* SQLite turns NaN into NULL and stores -0.0 as the integer 0: keep the bits */
            uint64_t bits;
            memcpy(&bits, &d, sizeof bits);
            put_be64(scratch, bits);
            return sqlite3_bind_blob(st, p, scratch, 8, SQLITE_STATIC);
        }
        return sqlite3_bind_double(st, p, d);
    }
    case KIND_TEXT:
    case KIND_CAST:
    case KIND_BLOB: {
        duckdb_string_t *s = &((duckdb_string_t *)data)[r];
        uint32_t len = duckdb_string_t_length(*s);
        const char *ptr = duckdb_string_t_data(s);
        if (c->kind == KIND_BLOB)
            return sqlite3_bind_blob(st, p, len ? (const void *)ptr : "", (int)len,
                                     SQLITE_STATIC);
        return sqlite3_bind_text(st, p, ptr, (int)len, SQLITE_STATIC);
    }
    case KIND_INTERVAL: {
        duckdb_interval iv = ((duckdb_interval *)data)[r];
        int n = snprintf((char *)scratch, 96, INTERVAL_FMT, (int)iv.months, (int)iv.days,
                         (long long)iv.micros);
        return sqlite3_bind_text(st, p, (const char *)scratch, n, SQLITE_STATIC);
    }
    }
    return SQLITE_MISUSE;
}

/* Streams the query into ld->ins. */
static int stream_rows(load_t *ld, duckdb_connection conn, int64_t *rows, clove_err_t *err)
{
    duckdb_pending_result pending = NULL;
    int rc = 0;
    unsigned char(*scratch)[96] = clove_xcalloc(ld->ncols, sizeof *scratch);
    void **data = clove_xcalloc(ld->ncols, sizeof *data);
    uint64_t **valid = clove_xcalloc(ld->ncols, sizeof *valid);
    *rows = 0;
    if (duckdb_prepare(conn, ld->wrap_sql, &ld->prep) == DuckDBError) {
        rc = clove_err_set(err, CLOVE_EQUERY, "could not load \"%s\": %s", ld->table,
                           duckdb_prepare_error(ld->prep));
        goto out;
    }
    if (duckdb_pending_prepared_streaming(ld->prep, &pending) == DuckDBError) {
        rc = clove_err_set(err, CLOVE_EQUERY, "could not load \"%s\": %s", ld->table,
                           duckdb_pending_error(pending));
        goto out;
    }
    ld->have_res = true;
    if (duckdb_execute_pending(pending, &ld->res) == DuckDBError) {
        rc = clove_err_set(err, CLOVE_EQUERY, "could not load \"%s\": %s", ld->table,
                           duckdb_result_error(&ld->res));
        goto out;
    }
    duckdb_data_chunk chunk;
    while ((chunk = duckdb_fetch_chunk(ld->res)) != NULL) {
        idx_t n = duckdb_data_chunk_get_size(chunk);
        for (size_t c = 0; c < ld->ncols; c++) {
            duckdb_vector v = duckdb_data_chunk_get_vector(chunk, c);
            data[c] = duckdb_vector_get_data(v);
            valid[c] = duckdb_vector_get_validity(v);
        }
        for (idx_t r = 0; r < n && rc == 0; r++) {
            for (size_t c = 0; c < ld->ncols; c++) {
                int p = (int)c + 1;
                if (valid[c] && !duckdb_validity_row_is_valid(valid[c], r))
                    sqlite3_bind_null(ld->ins, p);
                else
                    bind_value(ld->ins, p, &ld->cols[c], data[c], r, scratch[c]);
            }
            int s = sqlite3_step(ld->ins);
            sqlite3_reset(ld->ins);
            if (s != SQLITE_DONE)
                rc = clove_err_set(err, (s & 0xff) == SQLITE_CONSTRAINT ? CLOVE_EINVAL
                                                                        : CLOVE_EIO,
                                   "could not load \"%s\": %s", ld->table,
                                   sqlite3_errmsg(ld->db));
        }
        duckdb_destroy_data_chunk(&chunk);
        if (rc) goto out;
        *rows += (int64_t)n;
    }
    if (duckdb_result_error(&ld->res))
        rc = clove_err_set(err, CLOVE_EQUERY, "could not load \"%s\": %s", ld->table,
                           duckdb_result_error(&ld->res));
out:
    duckdb_destroy_pending(&pending);
    free(valid);
    free(data);
    free(scratch);
    return rc;
}

static gen_t *gen_create(char *errbuf, size_t errlen)
{
    gen_t *g = clove_xcalloc(1, sizeof *g);
    atomic_init(&g->refs, 1);
    g->uri = clove_xasprintf("file:/clove-accel-%llu?vfs=memdb",
                             (unsigned long long)atomic_fetch_add(&g_gen_seq, 1));
    int rc = sqlite3_open_v2(g->uri, &g->keeper,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI |
                                 SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(errbuf, errlen, "%s", g->keeper ? sqlite3_errmsg(g->keeper) : sqlite3_errstr(rc));
        clove__sqlite_gen_unref(g);
        return NULL;
    }
    sqlite3_extended_result_codes(g->keeper, 1);
    return g;
}

int clove_sqlite_accel_load(clove_sqlite_accel_t *a, duckdb_connection conn,
                            const char *select_sql, const char *table, int mode,
                            const char *pk_cols, int conflict, int64_t *rows_loaded,
                            clove_err_t *err)
{
    load_t ld = {.a = a, .table = table};
    char wbuf[600];
    char *sql = NULL, *qt = NULL, *qs = NULL, *stage = NULL;
    int64_t rows = 0, held = 0;
    int rc = 0;
    bool file = a->path != NULL;
    if (rows_loaded) *rows_loaded = 0;
    if (!table || !*table || !strncmp(table, "__clove_", 8) || !select_sql ||
        (mode != CLOVE_SQLITE_LOAD_FULL && mode != CLOVE_SQLITE_LOAD_APPEND) || conflict < 0 ||
        conflict > CLOVE_SQLITE_CONFLICT_UPSERT)
        return clove_err_set(err, CLOVE_EINVAL, "could not load \"%s\" into SQLite: invalid "
                             "arguments (table names starting with __clove_ are reserved)",
                             table ? table : "(null)");

    /* the query, without a trailing ';' so it nests */
    size_t len = strlen(select_sql);
    while (len && (select_sql[len - 1] == ';' || select_sql[len - 1] == ' ' ||
                   select_sql[len - 1] == '\n' || select_sql[len - 1] == '\t' ||
                   select_sql[len - 1] == '\r'))
        len--;
    ld.src_sql = clove_xstrndup(select_sql, len);

    pthread_mutex_lock(&a->wlock);
    if ((rc = describe(&ld, conn, err)) != 0) goto out;
    ld.wrap_sql = wrap_query(&ld);

    /* where the rows go */
    gen_t *cur = NULL;
    col_meta_t *old_cols = NULL;
    size_t old_ncols = 0;
    pthread_mutex_lock(&a->lock);
    tbl_t *t = clove__sqlite_tbl_find(a, table);
    if (t) {
        cur = t->gen;
        if (cur) atomic_fetch_add(&cur->refs, 1);
        old_cols = t->cols;
        old_ncols = t->ncols;
    }
    bool append = mode == CLOVE_SQLITE_LOAD_APPEND && t != NULL;
    if (append && !same_columns(old_cols, old_ncols, ld.cols, ld.ncols)) {
        pthread_mutex_unlock(&a->lock);
        clove__sqlite_gen_unref(cur);
        rc = clove_err_set(err, CLOVE_EINVAL, "could not append to \"%s\" in the SQLite "
                           "acceleration: the new rows' columns differ from the table's; a full "
                           "refresh replaces the table", table);
        goto out;
    }
    pthread_mutex_unlock(&a->lock); /* old_cols stays valid: only loads (we) replace it */

    if (file) {
        ld.db = a->wdb;
    } else {
        ld.gen = gen_create(ld.msg, sizeof ld.msg);
        if (!ld.gen) {
            clove__sqlite_gen_unref(cur);
            rc = clove_err_set(err, CLOVE_EIO, "could not create in-memory SQLite database for "
                               "\"%s\": %s", table, ld.msg);
            goto out;
        }
        ld.db = ld.gen->keeper;
        if (append && cur) {
            /* copy-on-write: the new version starts as a page copy of the current one, which
             * scans keep reading undisturbed */
            sqlite3_backup *bk = sqlite3_backup_init(ld.db, "main", cur->keeper, "main");
            int s = bk ? sqlite3_backup_step(bk, -1) : SQLITE_ERROR;
            sqlite3_backup_finish(bk);
            if (s != SQLITE_DONE) {
                clove__sqlite_gen_unref(cur);
                rc = clove_err_set(err, CLOVE_EIO, "could not copy \"%s\" for an append: %s",
                                   table, sqlite3_errmsg(ld.db));
                goto out;
            }
        }
        exec_sql(ld.db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF", ld.msg, sizeof ld.msg);
    }
    clove__sqlite_gen_unref(cur);

    if (exec_sql(ld.db, file ? "BEGIN IMMEDIATE" : "BEGIN", ld.msg, sizeof ld.msg) != 0) {
        rc = clove_err_set(err, CLOVE_EIO, "could not load \"%s\" into SQLite acceleration %s: %s",
                           table, where_str(a, wbuf, sizeof wbuf), ld.msg);
        goto out;
    }
    ld.in_tx = true;
    qt = clove_sql_ident(table);
    const char *target = table;
    if (!append) {
        if (file) { /* build beside the live table, swap at the end */
            stage = clove_xasprintf(STAGE_PREFIX "%s", table);
            target = stage;
            qs = clove_sql_ident(stage);
            sql = clove_xasprintf("DROP TABLE IF EXISTS %s", qs);
            if (exec_sql(ld.db, sql, ld.msg, sizeof ld.msg) != 0) goto sqlfail;
            free(sql);
        } /* memory: the new generation is empty; the table is created in place */
        sql = create_sql(&ld, target, pk_cols);
        if (exec_sql(ld.db, sql, ld.msg, sizeof ld.msg) != 0) goto sqlfail;
        free(sql);
    }
    {
        clove_buf_t b;
        clove_buf_init(&b);
        char *qtarget = clove_sql_ident(target);
        clove_buf_printf(&b, "INSERT %sINTO %s VALUES (",
                         conflict == CLOVE_SQLITE_CONFLICT_DROP     ? "OR IGNORE "
                         : conflict == CLOVE_SQLITE_CONFLICT_UPSERT ? "OR REPLACE "
                                                                    : "",
                         qtarget);
        free(qtarget);
        for (size_t i = 0; i < ld.ncols; i++) clove_buf_printf(&b, "%s?", i ? ", " : "");
        clove_buf_puts(&b, ")");
        sql = clove_buf_steal(&b);
    }
    if (sqlite3_prepare_v2(ld.db, sql, -1, &ld.ins, NULL) != SQLITE_OK) {
        snprintf(ld.msg, sizeof ld.msg, "%s", sqlite3_errmsg(ld.db));
        goto sqlfail;
    }
    free(sql);
    sql = NULL;

    if ((rc = stream_rows(&ld, conn, &rows, err)) != 0) goto out;
    sqlite3_finalize(ld.ins);
    ld.ins = NULL;

    if (stage) {
        sql = clove_xasprintf("DROP TABLE IF EXISTS %s; ALTER TABLE %s RENAME TO %s", qt, qs, qt);
        if (exec_sql(ld.db, sql, ld.msg, sizeof ld.msg) != 0) goto sqlfail;
        free(sql);
        sql = NULL;
    }
    if (meta_write(ld.db, table, ld.cols, ld.ncols, &held, ld.msg, sizeof ld.msg) != 0)
        goto sqlfail;
    if (exec_sql(ld.db, "COMMIT", ld.msg, sizeof ld.msg) != 0) goto sqlfail;
    ld.in_tx = false;

    /* publish */
    pthread_mutex_lock(&a->lock);
    t = clove__sqlite_tbl_find(a, table);
    if (!t) {
        t = clove_xcalloc(1, sizeof *t);
        t->name = clove_xstrdup(table);
        t->next = a->tables;
        a->tables = t;
    }
    gen_t *old_gen = t->gen;
    if (!same_columns(t->cols, t->ncols, ld.cols, ld.ncols)) {
        cols_free(t->cols, t->ncols);
        t->cols = ld.cols;
        t->ncols = ld.ncols;
        ld.cols = NULL;
        t->version = atomic_fetch_add(&g_version, 1);
    }
    t->rows = held;
    t->gen = ld.gen;
    ld.gen = NULL;
    pthread_mutex_unlock(&a->lock);
    clove__sqlite_gen_unref(old_gen); /* freed when the last scan of it ends */
    if (rows_loaded) *rows_loaded = rows;
    goto out;

sqlfail:
    rc = clove_err_set(err, CLOVE_EIO, "could not load \"%s\" into SQLite acceleration %s: %s",
                       table, where_str(a, wbuf, sizeof wbuf), ld.msg);
out:
    sqlite3_finalize(ld.ins);
    if (ld.in_tx) {
        char ignore[64];
        exec_sql(ld.db, "ROLLBACK", ignore, sizeof ignore);
    }
    if (ld.have_res) duckdb_destroy_result(&ld.res);
    duckdb_destroy_prepare(&ld.prep);
    pthread_mutex_unlock(&a->wlock);
    clove__sqlite_gen_unref(ld.gen);
    cols_free(ld.cols, ld.ncols);
    free(ld.src_sql);
    free(ld.wrap_sql);
    free(sql);
    free(qt);
    free(qs);
    free(stage);
    return rc;
}
