/*
 * accel/sqlite_scan.c: the DuckDB table function clove_sqlite_scan(id BIGINT, table VARCHAR
 * [, where_sql := VARCHAR] [, row_limit := BIGINT]) that reads a table of a SQLite
 * acceleration. Bind copies the table's columns (names, DuckDB types) from the handle; init
 * opens one read-only SQLite connection and one statement selecting only the projected
 * columns (projection pushdown), pinned to the data version current at that moment; the scan
 * function decodes rows straight into DuckDB vectors. One scan is one SQLite statement, so a
 * scan runs on one thread at a time; concurrent scans have their own connections.
 */
#include "accel/sqlite_accel_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t id;
    char *table;
    col_meta_t *cols;   /* copies */
    size_t ncols;
    uint64_t version;
    char *where_sql;    /* NULL: none */
    int64_t limit;      /* < 0: none */
} scan_bind_t;

typedef struct {
    clove_sqlite_accel_t *a; /* a reference, held while the scan runs */
    gen_t *gen;              /* memory mode: the version read (a reference) */
    sqlite3 *db;
    sqlite3_stmt *st;
    idx_t nproj;
    idx_t *proj;             /* output column j = table column proj[j] (or >= ncols: none) */
    bool done;
} scan_state_t;

static void bind_free(void *p)
{
    scan_bind_t *b = p;
    for (size_t i = 0; i < b->ncols; i++) {
        free(b->cols[i].name);
        free(b->cols[i].type_sql);
    }
    free(b->cols);
    free(b->table);
    free(b->where_sql);
    free(b);
}

static void state_free(void *p)
{
    scan_state_t *s = p;
    sqlite3_finalize(s->st);
    if (s->db) sqlite3_close_v2(s->db);
    clove__sqlite_gen_unref(s->gen);
    clove__sqlite_accel_unref(s->a);
    free(s->proj);
    free(s);
}

/* What the scan hands DuckDB for a column: its own type, or VARCHAR for text the view casts. */
static duckdb_logical_type scan_type(const col_meta_t *c)
{
    if (c->kind == KIND_CAST) return duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
    return duckdb_create_logical_type((duckdb_type)c->type_id);
}

static void scan_bind(duckdb_bind_info info)
{
    scan_bind_t *b = clove_xcalloc(1, sizeof *b);
    char msg[CLOVE_ERR_MSG_MAX];
    duckdb_value v0 = duckdb_bind_get_parameter(info, 0);
    duckdb_value v1 = duckdb_bind_get_parameter(info, 1);
    duckdb_value vw = duckdb_bind_get_named_parameter(info, "where_sql");
    duckdb_value vl = duckdb_bind_get_named_parameter(info, "row_limit");
    clove_sqlite_accel_t *a = NULL;
    b->limit = -1;
    if (!v0 || !v1 || duckdb_is_null_value(v0) || duckdb_is_null_value(v1)) {
        snprintf(msg, sizeof msg, CLOVE_SQLITE_SCAN_FN ": the handle id and table must not be "
                 "NULL");
        goto fail;
    }
    b->id = duckdb_get_int64(v0);
    char *tn = duckdb_get_varchar(v1);
    b->table = clove_xstrdup(tn ? tn : "");
    duckdb_free(tn);
    if (vw && !duckdb_is_null_value(vw)) {
        char *w = duckdb_get_varchar(vw);
        if (w && *w) b->where_sql = clove_xstrdup(w);
        duckdb_free(w);
    }
    if (vl && !duckdb_is_null_value(vl)) b->limit = duckdb_get_int64(vl);

    a = clove__sqlite_accel_lookup(b->id);
    if (!a) {
        snprintf(msg, sizeof msg, "SQLite acceleration %" PRId64 " is not open", b->id);
        goto fail;
    }
    pthread_mutex_lock(&a->lock);
    tbl_t *t = clove__sqlite_tbl_find(a, b->table);
    if (t) {
        b->ncols = t->ncols;
        b->version = t->version;
        b->cols = clove_xcalloc(t->ncols ? t->ncols : 1, sizeof *b->cols);
        for (size_t i = 0; i < t->ncols; i++) {
            b->cols[i] = t->cols[i];
            b->cols[i].name = clove_xstrdup(t->cols[i].name);
            b->cols[i].type_sql = clove_xstrdup(t->cols[i].type_sql);
        }
    }
    pthread_mutex_unlock(&a->lock);
    if (!t) {
        snprintf(msg, sizeof msg, "SQLite acceleration %" PRId64 " has no table \"%s\"", b->id,
                 b->table);
        goto fail;
    }
    int64_t rows = clove_sqlite_accel_row_count(a, b->table);
    for (size_t i = 0; i < b->ncols; i++) {
        duckdb_logical_type lt = scan_type(&b->cols[i]);
        duckdb_bind_add_result_column(info, b->cols[i].name, lt);
        duckdb_destroy_logical_type(&lt);
    }
    if (rows >= 0) duckdb_bind_set_cardinality(info, (idx_t)rows, false);
    clove__sqlite_accel_unref(a);
    duckdb_bind_set_bind_data(info, b, bind_free);
    goto out;
fail:
    clove__sqlite_accel_unref(a);
    bind_free(b);
    duckdb_bind_set_error(info, msg);
out:
    duckdb_destroy_value(&v0);
    duckdb_destroy_value(&v1);
    if (vw) duckdb_destroy_value(&vw);
    if (vl) duckdb_destroy_value(&vl);
}

static void scan_init(duckdb_init_info info)
{
    scan_bind_t *b = duckdb_init_get_bind_data(info);
    scan_state_t *s = clove_xcalloc(1, sizeof *s);
    char msg[CLOVE_ERR_MSG_MAX];
    char *sql = NULL;
    s->a = clove__sqlite_accel_lookup(b->id);
    if (!s->a) {
        snprintf(msg, sizeof msg, "SQLite acceleration %" PRId64 " is not open", b->id);
        goto fail;
    }
    pthread_mutex_lock(&s->a->lock);
    tbl_t *t = clove__sqlite_tbl_find(s->a, b->table);
    bool same = t && t->version == b->version;
    if (same && t->gen) {
        s->gen = t->gen;
        atomic_fetch_add(&s->gen->refs, 1);
    }
    pthread_mutex_unlock(&s->a->lock);
    if (!same) {
        snprintf(msg, sizeof msg, "the columns of SQLite acceleration table \"%s\" changed since "
                 "the query was planned; run it again", b->table);
        goto fail;
    }
    if (!s->a->path && !s->gen) {
        snprintf(msg, sizeof msg, "SQLite acceleration table \"%s\" holds no data", b->table);
        goto fail;
    }

    s->nproj = duckdb_init_get_column_count(info);
    s->proj = clove_xcalloc(s->nproj ? s->nproj : 1, sizeof *s->proj);
    clove_buf_t q;
    clove_buf_init(&q);
    clove_buf_puts(&q, "SELECT ");
    size_t nsel = 0;
    for (idx_t j = 0; j < s->nproj; j++) {
        s->proj[j] = duckdb_init_get_column_index(info, j);
        if (s->proj[j] >= b->ncols) continue; /* a virtual column (row id): left NULL */
        char *qc = clove_sql_ident(b->cols[s->proj[j]].name);
        clove_buf_printf(&q, "%s%s", nsel++ ? ", " : "", qc);
        free(qc);
    }
    if (nsel == 0) clove_buf_puts(&q, "NULL"); /* count(*): rows, no values */
    char *qt = clove_sql_ident(b->table);
    clove_buf_printf(&q, " FROM %s", qt);
    free(qt);
    if (b->where_sql) clove_buf_printf(&q, " WHERE (%s)", b->where_sql);
    if (b->limit >= 0) clove_buf_printf(&q, " LIMIT %" PRId64, b->limit);
    if (q.failed) abort();
    sql = clove_buf_steal(&q);

    char oerr[512];
    if (clove__sqlite_open_reader(s->a, s->gen, &s->db, oerr, sizeof oerr) != 0) {
        snprintf(msg, sizeof msg, "could not read SQLite acceleration table \"%s\": %s",
                 b->table, oerr);
        goto fail;
    }
    clove_debug("sqlite", "scan of %s runs in SQLite: %s", b->table, sql);
    if (sqlite3_prepare_v2(s->db, sql, -1, &s->st, NULL) != SQLITE_OK) {
        snprintf(msg, sizeof msg, "could not read SQLite acceleration table \"%s\": %s",
                 b->table, sqlite3_errmsg(s->db));
        goto fail;
    }
    free(sql);
    duckdb_init_set_max_threads(info, 1);
    duckdb_init_set_init_data(info, s, state_free);
    return;
fail:
    free(sql);
    state_free(s);
    duckdb_init_set_error(info, msg);
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

/* Decodes SQLite column `sc` of the current row into row r of vector v. Returns 0 or -1
 * with msg filled when the stored value does not fit the column's encoding. */
static int decode(sqlite3_stmt *st, int sc, const col_meta_t *c, duckdb_vector v, void *data,
                  idx_t r, char *msg, size_t msglen)
{
    int st_type = sqlite3_column_type(st, sc);
    if (st_type == SQLITE_NULL) {
        duckdb_vector_ensure_validity_writable(v);
        duckdb_validity_set_row_invalid(duckdb_vector_get_validity(v), r);
        return 0;
    }
    switch (c->kind) {
    case KIND_INT: {
        if (st_type != SQLITE_INTEGER) break;
        int64_t x = sqlite3_column_int64(st, sc);
        switch (c->type_id) {
        case DUCKDB_TYPE_BOOLEAN: ((bool *)data)[r] = x != 0; break;
        case DUCKDB_TYPE_TINYINT: ((int8_t *)data)[r] = (int8_t)x; break;
        case DUCKDB_TYPE_SMALLINT: ((int16_t *)data)[r] = (int16_t)x; break;
        case DUCKDB_TYPE_INTEGER: ((int32_t *)data)[r] = (int32_t)x; break;
        case DUCKDB_TYPE_BIGINT: ((int64_t *)data)[r] = x; break;
        case DUCKDB_TYPE_UTINYINT: ((uint8_t *)data)[r] = (uint8_t)x; break;
        case DUCKDB_TYPE_USMALLINT: ((uint16_t *)data)[r] = (uint16_t)x; break;
        case DUCKDB_TYPE_UINTEGER: ((uint32_t *)data)[r] = (uint32_t)x; break;
        default: goto bad;
        }
        return 0;
    }
    case KIND_UBIGINT:
        if (st_type == SQLITE_INTEGER) {
            ((uint64_t *)data)[r] = (uint64_t)sqlite3_column_int64(st, sc);
            return 0;
        }
        if (st_type == SQLITE_BLOB && sqlite3_column_bytes(st, sc) == 8) {
            ((uint64_t *)data)[r] = get_be64(sqlite3_column_blob(st, sc));
            return 0;
        }
        break;
    case KIND_REAL: {
        double d;
        if (st_type == SQLITE_FLOAT || st_type == SQLITE_INTEGER) {
            d = sqlite3_column_double(st, sc);
        } else if (st_type == SQLITE_BLOB && sqlite3_column_bytes(st, sc) == 8) {
            uint64_t bits = get_be64(sqlite3_column_blob(st, sc));
            memcpy(&d, &bits, sizeof d);
        } else {
            break;
        }
        if (c->type_id == DUCKDB_TYPE_FLOAT)
            ((float *)data)[r] = (float)d; /* exact: stored from a float */
        else
            ((double *)data)[r] = d;
        return 0;
    }
    case KIND_TEXT:
    case KIND_CAST:
    case KIND_BLOB: {
        const char *p = c->kind == KIND_BLOB ? (const char *)sqlite3_column_blob(st, sc)
                                             : (const char *)sqlite3_column_text(st, sc);
        int n = sqlite3_column_bytes(st, sc);
        duckdb_vector_assign_string_element_len(v, r, p ? p : "", (idx_t)n);
        return 0;
    }
    case KIND_INTERVAL: {
        int months, days;
        long long micros;
        const char *p = (const char *)sqlite3_column_text(st, sc);
        if (st_type != SQLITE_TEXT || !p || sscanf(p, INTERVAL_FMT, &months, &days, &micros) != 3)
            break;
        duckdb_interval iv = {.months = months, .days = days, .micros = micros};
        ((duckdb_interval *)data)[r] = iv;
        return 0;
    }
    }
bad:
    snprintf(msg, msglen, "column \"%s\" holds a value that is not a stored %s (SQLite type %d)",
             c->name, c->type_sql, st_type);
    return -1;
}

static void scan_fn(duckdb_function_info info, duckdb_data_chunk out)
{
    scan_bind_t *b = duckdb_function_get_bind_data(info);
    scan_state_t *s = duckdb_function_get_init_data(info);
    idx_t cap = duckdb_vector_size(), n = 0;
    char msg[CLOVE_ERR_MSG_MAX];
    duckdb_vector vecs[s->nproj ? s->nproj : 1];
    void *data[s->nproj ? s->nproj : 1];
    for (idx_t j = 0; j < s->nproj; j++) {
        vecs[j] = duckdb_data_chunk_get_vector(out, j);
        data[j] = duckdb_vector_get_data(vecs[j]);
    }
    while (!s->done && n < cap) {
        int rc = sqlite3_step(s->st);
        if (rc == SQLITE_DONE) {
            s->done = true;
            break;
        }
        if (rc != SQLITE_ROW) {
            snprintf(msg, sizeof msg, "could not read SQLite acceleration table \"%s\": %s",
                     b->table, sqlite3_errmsg(s->db));
            duckdb_function_set_error(info, msg);
            s->done = true;
            break;
        }
        int sc = 0;
        for (idx_t j = 0; j < s->nproj; j++) {
            if (s->proj[j] >= b->ncols) { /* virtual column */
                duckdb_vector_ensure_validity_writable(vecs[j]);
                duckdb_validity_set_row_invalid(duckdb_vector_get_validity(vecs[j]), n);
                continue;
            }
            if (decode(s->st, sc++, &b->cols[s->proj[j]], vecs[j], data[j], n, msg,
                       sizeof msg) != 0) {
                char full[CLOVE_ERR_MSG_MAX + 64];
                snprintf(full, sizeof full, "SQLite acceleration table \"%s\": %s", b->table, msg);
                duckdb_function_set_error(info, full);
                s->done = true;
                duckdb_data_chunk_set_size(out, 0);
                return;
            }
        }
        n++;
    }
    duckdb_data_chunk_set_size(out, n);
}

int clove__sqlite_scan_register(duckdb_connection conn, clove_err_t *err)
{
    duckdb_table_function tf = duckdb_create_table_function();
    duckdb_table_function_set_name(tf, CLOVE_SQLITE_SCAN_FN);
    duckdb_logical_type bigint = duckdb_create_logical_type(DUCKDB_TYPE_BIGINT);
    duckdb_logical_type varchar = duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
    duckdb_table_function_add_parameter(tf, bigint);
    duckdb_table_function_add_parameter(tf, varchar);
    duckdb_table_function_add_named_parameter(tf, "where_sql", varchar);
    duckdb_table_function_add_named_parameter(tf, "row_limit", bigint);
    duckdb_destroy_logical_type(&bigint);
    duckdb_destroy_logical_type(&varchar);
    duckdb_table_function_set_bind(tf, scan_bind);
    duckdb_table_function_set_init(tf, scan_init);
    duckdb_table_function_set_function(tf, scan_fn);
    duckdb_table_function_supports_projection_pushdown(tf, true);
    duckdb_state st = duckdb_register_table_function(conn, tf);
    duckdb_destroy_table_function(&tf);
    if (st == DuckDBError)
        return clove_err_set(err, CLOVE_EINTERNAL, "could not register the table function "
                             CLOVE_SQLITE_SCAN_FN " (registered twice?)");
    return 0;
}
