/*
 * connectors/postgres_scan.c: the DuckDB table function clove_pg_scan(id BIGINT
 * [, where_sql := VARCHAR] [, row_limit := BIGINT]). Bind reports the columns of the source's
 * schema snapshot; init takes a pooled connection and starts
 * `COPY (SELECT <projected columns> FROM <table> [WHERE ...] [LIMIT n]) TO STDOUT (FORMAT
 * binary)`; the scan function decodes the binary tuples straight into DuckDB vectors, one
 * CopyData message at a time, so memory does not grow with the table. A connection that turns
 * out broken before any row arrived is replaced and the query sent again (the pool drops the
 * other idle connections, which died with the server). A scan that stops early cancels the
 * COPY and drains it, so the connection goes back to the pool clean.
 */
#include "connectors/postgres_int.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMP "postgres"
#define PG_EPOCH_DAYS 10957                 /* 2000-01-01 - 1970-01-01 */
#define PG_EPOCH_US INT64_C(946684800000000)
#define MAX_SEND_ATTEMPTS 3

typedef struct {
    clove_pg_source_t *s;    /* a reference */
    pg_schema_t *sc;         /* a reference: the columns DuckDB was told about */
    char *where_sql;         /* NULL: none */
    int64_t limit;           /* < 0: none */
    char *what;              /* "\"schema.table\"", for messages */
} scan_bind_t;

/* clove_pg_query: a whole query run in PostgreSQL */
typedef struct {
    clove_pg_source_t *s;    /* a reference: the pool it runs on */
    pg_col_t *cols;          /* the outputs (owned copies) */
    size_t ncols;
    char *sql;               /* COPY (<query>) TO STDOUT (FORMAT binary) */
    char *what;
    clove_pg_source_t **srcs; /* references: the sources whose columns the outputs are */
    size_t nsrcs;
    char *check;             /* their schemas' checks, joined with AND, or NULL */
} query_bind_t;

typedef struct {
    clove_pg_source_t *s;    /* borrowed from the bind data, which outlives the state */
    const char *what;        /* what is read, for messages (borrowed from the bind data) */
    PGconn *c;
    uint64_t epoch;
    bool in_copy;            /* the COPY runs: rows may still arrive */
    bool header_done;
    bool trailer;            /* the end marker was read */
    idx_t nout;
    const pg_col_t **out;    /* output column j decodes as out[j] (NULL: always NULL) */
    size_t nfields;          /* fields per COPY tuple: the non-NULL entries of out */
    duckdb_type *enum_int;   /* per output column: an ENUM's physical type */
    char *cur;               /* the current CopyData message (libpq's) */
    size_t cur_len, pos;
    clove_buf_t carry;       /* bytes of a tuple split across messages */
    size_t cpos;
} scan_state_t;

/* ---- big-endian reads ---------------------------------------------------------------------- */

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

static inline uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t rd64(const uint8_t *p) { return ((uint64_t)rd32(p) << 32) | rd32(p + 4); }

/* ---- bind ---------------------------------------------------------------------------------- */

static void bind_free(void *p)
{
    scan_bind_t *b = p;
    clove__pg_schema_unref(b->sc);
    clove__pg_source_unref(b->s);
    free(b->where_sql);
    free(b->what);
    free(b);
}

static void scan_bind(duckdb_bind_info info)
{
    scan_bind_t *b = clove_xcalloc(1, sizeof *b);
    char msg[CLOVE_ERR_MSG_MAX];
    duckdb_value v0 = duckdb_bind_get_parameter(info, 0);
    duckdb_value vw = duckdb_bind_get_named_parameter(info, "where_sql");
    duckdb_value vl = duckdb_bind_get_named_parameter(info, "row_limit");
    b->limit = -1;
    if (!v0 || duckdb_is_null_value(v0)) {
        snprintf(msg, sizeof msg, CLOVE_PG_SCAN_FN ": the source id must not be NULL");
        goto fail;
    }
    int64_t id = duckdb_get_int64(v0);
    if (vw && !duckdb_is_null_value(vw)) {
        char *w = duckdb_get_varchar(vw);
        if (w && *w) b->where_sql = clove_xstrdup(w);
        duckdb_free(w);
    }
    if (vl && !duckdb_is_null_value(vl)) b->limit = duckdb_get_int64(vl);
    b->s = clove__pg_lookup(id);
    if (!b->s) {
        snprintf(msg, sizeof msg, "PostgreSQL source %" PRId64 " does not exist", id);
        goto fail;
    }
    b->what = clove_xasprintf("\"%s\"", b->s->display);
    b->sc = clove__pg_schema_get(b->s);
    if (!b->sc) {
        clove_err_t err;
        if (clove_pg_source_load_schema(b->s, &err) != 0) {
            snprintf(msg, sizeof msg, "%s", err.message);
            goto fail;
        }
        b->sc = clove__pg_schema_get(b->s);
    }
    for (size_t i = 0; i < b->sc->ncols; i++) {
        duckdb_logical_type lt = clove__pg_col_type(&b->sc->cols[i]);
        duckdb_bind_add_result_column(info, b->sc->cols[i].name, lt);
        duckdb_destroy_logical_type(&lt);
    }
    duckdb_bind_set_bind_data(info, b, bind_free);
    goto out;
fail:
    duckdb_bind_set_error(info, msg);
    bind_free(b);
out:
    if (v0) duckdb_destroy_value(&v0);
    if (vw) duckdb_destroy_value(&vw);
    if (vl) duckdb_destroy_value(&vl);
}

/* ---- the COPY ------------------------------------------------------------------------------ */

static char *copy_sql(const scan_bind_t *b, const scan_state_t *st)
{
    clove_buf_t q;
    clove_buf_init(&q);
    clove_buf_puts(&q, "COPY (SELECT ");
    bool first = true;
    for (idx_t j = 0; j < st->nout; j++) {
        if (!st->out[j]) continue;
        const pg_col_t *c = st->out[j];
        if (!first) clove_buf_puts(&q, ", ");
        first = false;
        clove_buf_putc(&q, '"');
        for (const char *p = c->pgname; *p; p++) {
            if (*p == '"') clove_buf_putc(&q, '"');
            clove_buf_putc(&q, *p);
        }
        clove_buf_putc(&q, '"');
        if (c->as_text) clove_buf_puts(&q, "::text");
    }
    clove_buf_printf(&q, " FROM %s", b->s->qualified);
    if (b->where_sql) clove_buf_printf(&q, " WHERE (%s)", b->where_sql);
    if (b->limit >= 0) clove_buf_printf(&q, " LIMIT %" PRId64, b->limit);
    clove_buf_puts(&q, ") TO STDOUT (FORMAT binary)");
    return clove_buf_steal(&q);
}

/* Ends a COPY that is still running (cancel, then read what is left) and gives the
 * connection back. */
static void finish_copy(scan_state_t *st)
{
    if (!st->c) return;
    bool gone = false;
    if (st->in_copy) {
        PGcancel *cn = PQgetCancel(st->c);
        if (cn) {
            char eb[256];
            PQcancel(cn, eb, sizeof eb);
            PQfreeCancel(cn);
        }
        char *m;
        int len;
        while ((len = PQgetCopyData(st->c, &m, 0)) > 0) PQfreemem(m);
        st->in_copy = false;
    }
    PGresult *r;
    while ((r = PQgetResult(st->c)) != NULL) PQclear(r);
    gone = PQstatus(st->c) == CONNECTION_BAD;
    clove__pg_release(st->s, st->c, st->epoch, gone);
    st->c = NULL;
}

static void state_free(void *p)
{
    scan_state_t *st = p;
    finish_copy(st);
    if (st->cur) PQfreemem(st->cur);
    clove_buf_dispose(&st->carry);
    free(st->out);
    free(st->enum_int);
    free(st);
}

/* Sizes the output arrays and works out each ENUM's physical type. */
static void state_outputs(scan_state_t *st, idx_t n)
{
    st->nout = n;
    st->out = clove_xcalloc(n ? n : 1, sizeof *st->out);
    st->enum_int = clove_xcalloc(n ? n : 1, sizeof *st->enum_int);
}

static void state_finish_outputs(scan_state_t *st)
{
    for (idx_t j = 0; j < st->nout; j++) {
        if (!st->out[j]) continue;
        st->nfields++;
        if (st->out[j]->t.kind == PGK_ENUM) {
            pg_col_t tmp = *st->out[j];
            tmp.is_array = false;
            duckdb_logical_type lt = clove__pg_col_type(&tmp);
            st->enum_int[j] = duckdb_enum_internal_type(lt);
            duckdb_destroy_logical_type(&lt);
        }
    }
}

/* Takes a pooled connection and starts `sql` (a COPY ... TO STDOUT); a connection found
 * broken before anything was read is replaced. With `check` (a schema's check expression),
 * the same round trip first asks PostgreSQL whether the table's columns are still the ones
 * the scan decodes: when they are not, *changed is set and nothing is read. */
static bool start_copy(scan_state_t *st, const char *sql, const char *check, bool *changed,
                       char *msg, size_t cap)
{
    clove_pg_source_t *s = st->s;
    char *full = check ? clove_xasprintf("SELECT %s; %s", check, sql) : NULL;
    *changed = false;
    for (int attempt = 1;; attempt++) {
        clove_err_t err;
        st->c = clove__pg_acquire(s, &st->epoch, &err);
        if (!st->c) {
            snprintf(msg, cap, "%s", err.message);
            free(full);
            return false;
        }
        PGresult *r = NULL;
        if (PQsendQuery(st->c, full ? full : sql)) r = PQgetResult(st->c);
        if (full && r && PQresultStatus(r) == PGRES_TUPLES_OK) {
            *changed = PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), "t") != 0;
            PQclear(r);
            r = PQgetResult(st->c);
        }
        if (r && PQresultStatus(r) == PGRES_COPY_OUT) {
            PQclear(r);
            st->in_copy = true;
            if (*changed) { /* cancel the COPY, give the connection back clean */
                finish_copy(st);
                msg[0] = '\0';
                free(full);
                return false;
            }
            free(full);
            return true;
        }
        char m[512];
        clove__pg_msg(r ? PQresultErrorMessage(r) : PQerrorMessage(st->c), m, sizeof m);
        PQclear(r);
        while ((r = PQgetResult(st->c)) != NULL) PQclear(r);
        bool gone = PQstatus(st->c) == CONNECTION_BAD;
        clove__pg_release(s, st->c, st->epoch, gone);
        st->c = NULL;
        if (gone && attempt < MAX_SEND_ATTEMPTS) {
            clove_info(COMP, "dataset %s: a pooled connection to %s was broken (%s); "
                       "reconnecting", s->dataset, s->endpoint, m);
            continue;
        }
        snprintf(msg, cap, "could not read %s from PostgreSQL at \"%s\" for dataset \"%s\": %s",
                 st->what, s->endpoint, s->dataset, m);
        if (gone) clove__pg_event(s, CLOVE_SOURCE_UNREACHABLE, msg);
        free(full);
        return false;
    }
}

static void scan_init(duckdb_init_info info)
{
    scan_bind_t *b = duckdb_init_get_bind_data(info);
    scan_state_t *st = clove_xcalloc(1, sizeof *st);
    char msg[CLOVE_ERR_MSG_MAX];
    clove_buf_init(&st->carry);
    st->s = b->s;
    st->what = b->what;
    state_outputs(st, duckdb_init_get_column_count(info));
    for (idx_t j = 0; j < st->nout; j++) {
        idx_t k = duckdb_init_get_column_index(info, j);
        st->out[j] = k < b->sc->ncols ? &b->sc->cols[k] : NULL;
    }
    state_finish_outputs(st);
    duckdb_init_set_max_threads(info, 1);
    char *sql = copy_sql(b, st);
    clove_debug(COMP, "dataset %s: %s", b->s->dataset, sql);
    bool changed;
    bool ok = start_copy(st, sql, b->sc->check, &changed, msg, sizeof msg);
    free(sql);
    if (changed) clove__pg_columns_changed(b->s, msg, sizeof msg);
    if (!ok) {
        duckdb_init_set_error(info, msg);
        state_free(st);
        return;
    }
    duckdb_init_set_init_data(info, st, state_free);
}

/* ---- the byte stream ----------------------------------------------------------------------- */

static const uint8_t *avail(scan_state_t *st, size_t *n)
{
    if (st->carry.len > st->cpos) {
        *n = st->carry.len - st->cpos;
        return (const uint8_t *)st->carry.data + st->cpos;
    }
    if (st->cur && st->pos < st->cur_len) {
        *n = st->cur_len - st->pos;
        return (const uint8_t *)st->cur + st->pos;
    }
    *n = 0;
    return NULL;
}

static void consume(scan_state_t *st, size_t k)
{
    if (st->carry.len > st->cpos) {
        st->cpos += k;
        if (st->cpos >= st->carry.len) {
            clove_buf_reset(&st->carry);
            st->cpos = 0;
        }
    } else {
        st->pos += k;
    }
}

/* Reads the next CopyData message. 1: more bytes, 0: the COPY ended, -1: failed. */
static int more(scan_state_t *st)
{
    char *m = NULL;
    int len = PQgetCopyData(st->c, &m, 0);
    if (len == -1) return 0;
    if (len < 0) return -1;
    size_t left;
    const uint8_t *rest = avail(st, &left);
    if (left) {
        /* a tuple continues in this message: join the pieces */
        if (st->carry.len > st->cpos) {
            memmove(st->carry.data, st->carry.data + st->cpos, st->carry.len - st->cpos);
            st->carry.len -= st->cpos;
        } else {
            clove_buf_reset(&st->carry);
            clove_buf_append(&st->carry, rest, left);
        }
        st->cpos = 0;
        clove_buf_append(&st->carry, m, (size_t)len);
        PQfreemem(m);
        if (st->cur) PQfreemem(st->cur);
        st->cur = NULL;
        st->cur_len = st->pos = 0;
        return st->carry.failed ? -1 : 1;
    }
    if (st->cur) PQfreemem(st->cur);
    st->cur = m;
    st->cur_len = (size_t)len;
    st->pos = 0;
    return 1;
}

/* ---- values -------------------------------------------------------------------------------- */

static int bad(char *msg, size_t cap, const pg_col_t *c, const char *what)
{
    snprintf(msg, cap, "column \"%s\" (%s): %s", c->pgname, c->pgtype, what);
    return -1;
}

/* numeric (binary: ndigits, weight, sign, dscale, base-10000 digits) as an integer scaled by
 * 10^scale; fails on NaN/infinity or beyond 10^width. */
static int numeric_value(const uint8_t *p, int32_t len, int width, int scale, __int128 *out,
                         const char **why)
{
    if (len < 8) {
        *why = "malformed numeric";
        return -1;
    }
    int ndigits = (int16_t)rd16(p), weight = (int16_t)rd16(p + 2);
    uint16_t sign = rd16(p + 4);
    if (sign == 0xC000 || sign == 0xD000 || sign == 0xF000) {
        *why = sign == 0xC000 ? "NaN does not fit a DECIMAL" : "infinity does not fit a DECIMAL";
        return -1;
    }
    if (ndigits < 0 || len < 8 + 2 * ndigits) {
        *why = "malformed numeric";
        return -1;
    }
    __int128 limit = 1;
    for (int i = 0; i < width; i++) limit *= 10;
    /* value = sum d[i] * 10000^(weight - i); scaled by 10^scale */
    __int128 v = 0;
    for (int i = 0; i < ndigits; i++) {
        int d = (int)rd16(p + 8 + 2 * i);
        int pos = (weight - i) * 4 + scale; /* the group's units are 10^pos in the result */
        if (d == 0) continue;
        if (pos < 0) {
            /* digits past the scale: the typmod rules them out; refuse rather than round */
            int drop = -pos;
            if (drop >= 4 || d % (drop == 1 ? 10 : drop == 2 ? 100 : 1000) != 0) {
                *why = "more fractional digits than the column's scale";
                return -1;
            }
            d /= drop == 1 ? 10 : drop == 2 ? 100 : 1000;
            pos = 0;
        }
        __int128 term = d;
        for (int k = 0; k < pos; k++) {
            term *= 10;
            if (term >= limit) {
                *why = "value out of range of the DECIMAL";
                return -1;
            }
        }
        v += term;
        if (v >= limit) {
            *why = "value out of range of the DECIMAL";
            return -1;
        }
    }
    *out = sign == 0x4000 ? -v : v;
    return 0;
}

/* Writes one non-NULL value of type t at row of vector v. */
static int put_value(const pg_col_t *c, const pg_type_t *t, duckdb_type enum_int,
                     duckdb_vector v, idx_t row, const uint8_t *p, int32_t len, char *msg,
                     size_t cap)
{
    void *data = duckdb_vector_get_data(v);
    switch (t->kind) {
    case PGK_BOOL:
        if (len != 1) return bad(msg, cap, c, "malformed boolean");
        ((bool *)data)[row] = p[0] != 0;
        return 0;
    case PGK_INT2:
        if (len != 2) return bad(msg, cap, c, "malformed smallint");
        ((int16_t *)data)[row] = (int16_t)rd16(p);
        return 0;
    case PGK_INT4:
        if (len != 4) return bad(msg, cap, c, "malformed integer");
        ((int32_t *)data)[row] = (int32_t)rd32(p);
        return 0;
    case PGK_INT8:
        if (len != 8) return bad(msg, cap, c, "malformed bigint");
        ((int64_t *)data)[row] = (int64_t)rd64(p);
        return 0;
    case PGK_FLOAT4: {
        if (len != 4) return bad(msg, cap, c, "malformed real");
        uint32_t u = rd32(p);
        float f;
        memcpy(&f, &u, sizeof f);
        ((float *)data)[row] = f;
        return 0;
    }
    case PGK_FLOAT8: {
        if (len != 8) return bad(msg, cap, c, "malformed double precision");
        uint64_t u = rd64(p);
        double d;
        memcpy(&d, &u, sizeof d);
        ((double *)data)[row] = d;
        return 0;
    }
    case PGK_NUMERIC: {
        __int128 x;
        const char *why = NULL;
        if (numeric_value(p, len, t->width, t->scale, &x, &why) != 0)
            return bad(msg, cap, c, why);
        if (t->width <= 4) ((int16_t *)data)[row] = (int16_t)x;
        else if (t->width <= 9) ((int32_t *)data)[row] = (int32_t)x;
        else if (t->width <= 18) ((int64_t *)data)[row] = (int64_t)x;
        else {
            duckdb_hugeint h = {.lower = (uint64_t)x, .upper = (int64_t)(x >> 64)};
            ((duckdb_hugeint *)data)[row] = h;
        }
        return 0;
    }
    case PGK_HUGEINT: {
        __int128 x;
        const char *why = NULL;
        if (numeric_value(p, len, 38, 0, &x, &why) != 0) return bad(msg, cap, c, why);
        duckdb_hugeint h = {.lower = (uint64_t)x, .upper = (int64_t)(x >> 64)};
        ((duckdb_hugeint *)data)[row] = h;
        return 0;
    }
    case PGK_TEXT:
    case PGK_JSON:
    case PGK_BYTEA:
        duckdb_vector_assign_string_element_len(v, row, (const char *)p, (idx_t)len);
        return 0;
    case PGK_JSONB:
        if (len < 1 || p[0] != 1) return bad(msg, cap, c, "unknown jsonb format version");
        duckdb_vector_assign_string_element_len(v, row, (const char *)p + 1, (idx_t)len - 1);
        return 0;
    case PGK_DATE: {
        if (len != 4) return bad(msg, cap, c, "malformed date");
        int32_t d = (int32_t)rd32(p);
        int32_t out;
        if (d == INT32_MAX) out = INT32_MAX;        /* infinity */
        else if (d == INT32_MIN) out = -INT32_MAX;  /* -infinity */
        else if (__builtin_add_overflow(d, PG_EPOCH_DAYS, &out) || out >= INT32_MAX)
            return bad(msg, cap, c, "date out of DuckDB's range");
        ((duckdb_date *)data)[row].days = out;
        return 0;
    }
    case PGK_TIME:
        if (len != 8) return bad(msg, cap, c, "malformed time");
        ((duckdb_time *)data)[row].micros = (int64_t)rd64(p);
        return 0;
    case PGK_TIMETZ: {
        if (len != 12) return bad(msg, cap, c, "malformed time with time zone");
        /* PostgreSQL keeps the zone as seconds west of UTC, DuckDB the offset east */
        int32_t zone = (int32_t)rd32(p + 8);
        ((duckdb_time_tz *)data)[row] = duckdb_create_time_tz((int64_t)rd64(p), -zone);
        return 0;
    }
    case PGK_TIMESTAMP:
    case PGK_TIMESTAMPTZ: {
        if (len != 8) return bad(msg, cap, c, "malformed timestamp");
        int64_t us = (int64_t)rd64(p), out;
        if (us == INT64_MAX) out = INT64_MAX;       /* infinity */
        else if (us == INT64_MIN) out = -INT64_MAX; /* -infinity */
        else if (__builtin_add_overflow(us, PG_EPOCH_US, &out) || out >= INT64_MAX ||
                 out <= -INT64_MAX)
            return bad(msg, cap, c, "timestamp out of DuckDB's range");
        ((duckdb_timestamp *)data)[row].micros = out;
        return 0;
    }
    case PGK_INTERVAL: {
        if (len != 16) return bad(msg, cap, c, "malformed interval");
        duckdb_interval iv = {.micros = (int64_t)rd64(p), .days = (int32_t)rd32(p + 8),
                              .months = (int32_t)rd32(p + 12)};
        ((duckdb_interval *)data)[row] = iv;
        return 0;
    }
    case PGK_UUID: {
        if (len != 16) return bad(msg, cap, c, "malformed uuid");
        /* DuckDB keeps a UUID as a HUGEINT with the top bit flipped (so it sorts as text) */
        duckdb_hugeint h = {.lower = rd64(p + 8),
                            .upper = (int64_t)(rd64(p) ^ (UINT64_C(1) << 63))};
        ((duckdb_hugeint *)data)[row] = h;
        return 0;
    }
    case PGK_ENUM: {
        uint32_t lo = 0, hi = t->nlabels;
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            const char *lab = t->labels[t->by_bytes[mid]];
            size_t ll = strlen(lab);
            int cmp = memcmp(lab, p, ll < (size_t)len ? ll : (size_t)len);
            if (cmp == 0) cmp = ll < (size_t)len ? -1 : ll > (size_t)len ? 1 : 0;
            if (cmp == 0) {
                uint32_t idx = t->by_bytes[mid];
                if (enum_int == DUCKDB_TYPE_UTINYINT) ((uint8_t *)data)[row] = (uint8_t)idx;
                else if (enum_int == DUCKDB_TYPE_USMALLINT)
                    ((uint16_t *)data)[row] = (uint16_t)idx;
                else ((uint32_t *)data)[row] = idx;
                return 0;
            }
            if (cmp < 0) lo = mid + 1;
            else hi = mid;
        }
        return bad(msg, cap, c, "a label the enum did not have when the dataset was "
                   "registered (restart or refresh to pick up new labels)");
    }
    }
    return bad(msg, cap, c, "no decoder");
}

static void set_null(duckdb_vector v, idx_t row)
{
    duckdb_vector_ensure_validity_writable(v);
    duckdb_validity_set_row_invalid(duckdb_vector_get_validity(v), row);
}

/* A one-dimensional array (binary: ndim, has-null flag, element type, then per dimension
 * size and lower bound, then the elements) as a LIST entry. */
static int put_array(const pg_col_t *c, duckdb_type enum_int, duckdb_vector v, idx_t row,
                     const uint8_t *p, int32_t len, char *msg, size_t cap)
{
    if (len < 12) return bad(msg, cap, c, "malformed array");
    int32_t ndim = (int32_t)rd32(p);
    idx_t base = duckdb_list_vector_get_size(v);
    duckdb_list_entry *entries = duckdb_vector_get_data(v);
    if (ndim == 0) {
        entries[row].offset = base;
        entries[row].length = 0;
        return 0;
    }
    if (ndim != 1)
        return bad(msg, cap, c, "multi-dimensional arrays have no DuckDB LIST form; read the "
                   "column as text (unsupported_type_action: string) or unnest it in a view");
    if (len < 20) return bad(msg, cap, c, "malformed array");
    int32_t n = (int32_t)rd32(p + 12);
    if (n < 0) return bad(msg, cap, c, "malformed array");
    if (duckdb_list_vector_reserve(v, base + (idx_t)n) == DuckDBError)
        return bad(msg, cap, c, "out of memory");
    duckdb_vector child = duckdb_list_vector_get_child(v);
    const uint8_t *q = p + 20, *end = p + len;
    for (int32_t i = 0; i < n; i++) {
        if (end - q < 4) return bad(msg, cap, c, "malformed array");
        int32_t el = (int32_t)rd32(q);
        q += 4;
        if (el < 0) {
            set_null(child, base + (idx_t)i);
            continue;
        }
        if (end - q < el) return bad(msg, cap, c, "malformed array");
        if (put_value(c, &c->t, enum_int, child, base + (idx_t)i, q, el, msg, cap) != 0)
            return -1;
        q += el;
    }
    duckdb_list_vector_set_size(v, base + (idx_t)n);
    entries = duckdb_vector_get_data(v);
    entries[row].offset = base;
    entries[row].length = (idx_t)n;
    return 0;
}

static bool computed_col(pg_col_t *c, int type, int width, int scale);

int clove__pg_decode(const pg_col_t *c, duckdb_type enum_int, duckdb_vector v, idx_t row,
                     const uint8_t *p, int32_t len, char *msg, size_t cap)
{
    if (len < 0) {
        set_null(v, row);
        return 0;
    }
    return c->is_array ? put_array(c, enum_int, v, row, p, len, msg, cap)
                       : put_value(c, &c->t, enum_int, v, row, p, len, msg, cap);
}

duckdb_type clove__pg_enum_internal(const pg_col_t *c)
{
    if (c->t.kind != PGK_ENUM) return DUCKDB_TYPE_INVALID;
    pg_col_t tmp = *c;
    tmp.is_array = false;
    duckdb_logical_type lt = clove__pg_col_type(&tmp);
    duckdb_type t = duckdb_enum_internal_type(lt);
    duckdb_destroy_logical_type(&lt);
    return t;
}

bool clove__pg_computed_col(pg_col_t *c, int type, int width, int scale)
{
    return computed_col(c, type, width, scale);
}

/* ---- the scan function ---------------------------------------------------------------------- */

/* Size of the complete tuple at p (n bytes available): > 0, 0 when incomplete, -1 for the
 * end marker, -2 when malformed. */
static int64_t tuple_size(const uint8_t *p, size_t n, size_t nfields)
{
    if (n < 2) return 0;
    int16_t f = (int16_t)rd16(p);
    if (f == -1) return -1;
    if (f < 0 || (size_t)f != nfields) return -2;
    size_t off = 2;
    for (int16_t i = 0; i < f; i++) {
        if (n - off < 4) return 0;
        int32_t l = (int32_t)rd32(p + off);
        off += 4;
        if (l > 0) {
            if (n - off < (size_t)l) return 0;
            off += (size_t)l;
        }
    }
    return (int64_t)off;
}

static void scan_fn(duckdb_function_info info, duckdb_data_chunk out)
{
    scan_state_t *st = duckdb_function_get_init_data(info);
    idx_t cap = duckdb_vector_size(), n = 0;
    char msg[CLOVE_ERR_MSG_MAX], vmsg[512];
    bool lost = false;
    size_t nfields = st->nfields;
    duckdb_vector vecs[st->nout ? st->nout : 1];
    for (idx_t j = 0; j < st->nout; j++) vecs[j] = duckdb_data_chunk_get_vector(out, j);

    while (st->in_copy && n < cap) {
        size_t have;
        const uint8_t *p = avail(st, &have);
        if (!st->header_done) {
            /* PGCOPY\n\377\r\n\0, flags, header extension length, extension */
            if (have >= 19 && memcmp(p, "PGCOPY\n\377\r\n\0", 11) != 0) {
                snprintf(vmsg, sizeof vmsg, "not a binary COPY stream");
                goto broken;
            }
            if (have >= 19 && have >= 19 + (size_t)rd32(p + 15)) {
                consume(st, 19 + rd32(p + 15));
                st->header_done = true;
                continue;
            }
        } else if (!st->trailer) {
            int64_t sz = tuple_size(p, have, nfields);
            if (sz == -2) {
                snprintf(vmsg, sizeof vmsg, "unexpected field count in a COPY tuple");
                goto broken;
            }
            if (sz == -1) {
                consume(st, 2);
                st->trailer = true;
                continue;
            }
            if (sz > 0) {
                const uint8_t *q = p + 2;
                for (idx_t j = 0; j < st->nout; j++) {
                    if (!st->out[j]) {
                        set_null(vecs[j], n);
                        continue;
                    }
                    const pg_col_t *c = st->out[j];
                    int32_t l = (int32_t)rd32(q);
                    q += 4;
                    if (l < 0) {
                        set_null(vecs[j], n);
                        continue;
                    }
                    int rc = c->is_array
                                 ? put_array(c, st->enum_int[j], vecs[j], n, q, l, vmsg,
                                             sizeof vmsg)
                                 : put_value(c, &c->t, st->enum_int[j], vecs[j], n, q, l, vmsg,
                                             sizeof vmsg);
                    if (rc != 0) goto bad_value;
                    q += l;
                }
                consume(st, (size_t)sz);
                n++;
                continue;
            }
        }
        int m = more(st);
        if (m > 0) continue;
        if (m < 0 || !st->trailer) {
            clove__pg_msg(PQerrorMessage(st->c), vmsg, sizeof vmsg);
            if (!*vmsg) snprintf(vmsg, sizeof vmsg, "the COPY stream ended early");
            goto broken;
        }
        /* the COPY is over: its final status tells whether it succeeded */
        st->in_copy = false;
        PGresult *r = PQgetResult(st->c);
        bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) clove__pg_msg(r ? PQresultErrorMessage(r) : PQerrorMessage(st->c), vmsg,
                               sizeof vmsg);
        PQclear(r);
        finish_copy(st);
        if (!ok) goto failed;
    }
    duckdb_data_chunk_set_size(out, n);
    return;
bad_value:
    snprintf(msg, sizeof msg, "could not read %s from PostgreSQL at \"%s\" for dataset "
             "\"%s\": %s", st->what, st->s->endpoint, st->s->dataset, vmsg);
    finish_copy(st);
    duckdb_function_set_error(info, msg);
    duckdb_data_chunk_set_size(out, 0);
    return;
broken:
    lost = PQstatus(st->c) == CONNECTION_BAD;
    st->in_copy = !lost && st->in_copy;
    finish_copy(st);
failed:
    snprintf(msg, sizeof msg, "could not read %s from PostgreSQL at \"%s\" for dataset "
             "\"%s\": %s", st->what, st->s->endpoint, st->s->dataset, vmsg);
    if (lost) clove__pg_event(st->s, CLOVE_SOURCE_UNREACHABLE, msg);
    duckdb_function_set_error(info, msg);
    duckdb_data_chunk_set_size(out, 0);
}

/* ---- clove_pg_query ------------------------------------------------------------------------ */

static void query_bind_free(void *p)
{
    query_bind_t *b = p;
    for (size_t i = 0; i < b->ncols; i++) clove__pg_col_dispose(&b->cols[i]);
    free(b->cols);
    free(b->sql);
    free(b->what);
    for (size_t i = 0; i < b->nsrcs; i++) clove__pg_source_unref(b->srcs[i]);
    free(b->srcs);
    free(b->check);
    clove__pg_source_unref(b->s);
    free(b);
}

/* The decoder of a computed output of the given DuckDB type. */
static bool computed_col(pg_col_t *c, int type, int width, int scale)
{
    memset(c, 0, sizeof *c);
    switch ((duckdb_type)type) {
    case DUCKDB_TYPE_BOOLEAN: c->t.kind = PGK_BOOL; break;
    case DUCKDB_TYPE_SMALLINT: c->t.kind = PGK_INT2; break;
    case DUCKDB_TYPE_INTEGER: c->t.kind = PGK_INT4; break;
    case DUCKDB_TYPE_BIGINT: c->t.kind = PGK_INT8; break;
    case DUCKDB_TYPE_HUGEINT: c->t.kind = PGK_HUGEINT; break;
    case DUCKDB_TYPE_FLOAT: c->t.kind = PGK_FLOAT4; break;
    case DUCKDB_TYPE_DOUBLE: c->t.kind = PGK_FLOAT8; break;
    case DUCKDB_TYPE_DECIMAL:
        if (width < 1 || width > 38 || scale < 0 || scale > width) return false;
        c->t.kind = PGK_NUMERIC;
        c->t.width = width;
        c->t.scale = scale;
        break;
    case DUCKDB_TYPE_VARCHAR: c->t.kind = PGK_TEXT; break;
    case DUCKDB_TYPE_DATE: c->t.kind = PGK_DATE; break;
    case DUCKDB_TYPE_TIME: c->t.kind = PGK_TIME; break;
    case DUCKDB_TYPE_TIMESTAMP: c->t.kind = PGK_TIMESTAMP; break;
    case DUCKDB_TYPE_TIMESTAMP_TZ: c->t.kind = PGK_TIMESTAMPTZ; break;
    case DUCKDB_TYPE_UUID: c->t.kind = PGK_UUID; break;
    default: return false;
    }
    return true;
}

static void query_bind(duckdb_bind_info info)
{
    query_bind_t *b = clove_xcalloc(1, sizeof *b);
    char msg[CLOVE_ERR_MSG_MAX];
    json_t *spec = NULL;
    duckdb_value v0 = duckdb_bind_get_parameter(info, 0);
    duckdb_value v1 = duckdb_bind_get_parameter(info, 1);
    duckdb_value v2 = duckdb_bind_get_parameter(info, 2);
    char *sql = NULL, *st = NULL;
    if (!v0 || !v1 || !v2 || duckdb_is_null_value(v0) || duckdb_is_null_value(v1) ||
        duckdb_is_null_value(v2)) {
        snprintf(msg, sizeof msg, CLOVE_PG_QUERY_FN ": arguments must not be NULL");
        goto fail;
    }
    sql = duckdb_get_varchar(v1);
    st = duckdb_get_varchar(v2);
    b->s = clove__pg_lookup(duckdb_get_int64(v0));
    spec = st ? json_loads(st, 0, NULL) : NULL;
    if (!b->s || !sql || !json_is_array(spec)) {
        snprintf(msg, sizeof msg, CLOVE_PG_QUERY_FN ": unknown source or malformed outputs");
        goto fail;
    }
    b->what = clove_xstrdup("the pushed-down query");
    b->sql = clove_xasprintf("COPY (%s) TO STDOUT (FORMAT binary)", sql);
    b->ncols = json_array_size(spec);
    b->cols = clove_xcalloc(b->ncols ? b->ncols : 1, sizeof *b->cols);
    for (size_t i = 0; i < b->ncols; i++) {
        json_t *o = json_array_get(spec, i);
        const char *name = json_string_value(json_object_get(o, "name"));
        json_t *src = json_object_get(o, "src");
        bool ok;
        if (src) {
            clove_pg_source_t *ps = clove__pg_lookup(json_integer_value(src));
            pg_schema_t *sc = ps ? clove__pg_schema_get(ps) : NULL;
            size_t k = (size_t)json_integer_value(json_object_get(o, "col"));
            ok = sc && k < sc->ncols;
            if (ok) clove__pg_col_copy(&b->cols[i], &sc->cols[k]);
            bool known = false;
            for (size_t j = 0; ok && j < b->nsrcs; j++) known |= b->srcs[j] == ps;
            if (ok && !known) { /* check this table's columns before the query runs */
                b->srcs = clove_xrealloc(b->srcs, (b->nsrcs + 1) * sizeof *b->srcs);
                b->srcs[b->nsrcs++] = ps;
                char *c = b->check ? clove_xasprintf("%s AND %s", b->check, sc->check)
                                   : clove_xstrdup(sc->check);
                free(b->check);
                b->check = c;
                ps = NULL;
            }
            clove__pg_schema_unref(sc);
            clove__pg_source_unref(ps);
        } else {
            ok = computed_col(&b->cols[i], (int)json_integer_value(json_object_get(o, "type")),
                              (int)json_integer_value(json_object_get(o, "width")),
                              (int)json_integer_value(json_object_get(o, "scale")));
            if (ok) {
                b->cols[i].pgname = clove_xstrdup(name ? name : "");
                b->cols[i].pgtype = clove_xstrdup("computed");
            }
        }
        if (!ok) {
            b->ncols = i;
            snprintf(msg, sizeof msg, "the columns of the PostgreSQL tables of dataset \"%s\" "
                     "changed since the query was planned; run it again", b->s->dataset);
            goto fail;
        }
        free(b->cols[i].name);
        b->cols[i].name = clove_xstrdup(name ? name : "");
        duckdb_logical_type lt = clove__pg_col_type(&b->cols[i]);
        duckdb_bind_add_result_column(info, b->cols[i].name, lt);
        duckdb_destroy_logical_type(&lt);
    }
    duckdb_bind_set_bind_data(info, b, query_bind_free);
    goto out;
fail:
    duckdb_bind_set_error(info, msg);
    query_bind_free(b);
out:
    json_decref(spec);
    duckdb_free(sql);
    duckdb_free(st);
    if (v0) duckdb_destroy_value(&v0);
    if (v1) duckdb_destroy_value(&v1);
    if (v2) duckdb_destroy_value(&v2);
}

static void query_init(duckdb_init_info info)
{
    query_bind_t *b = duckdb_init_get_bind_data(info);
    scan_state_t *st = clove_xcalloc(1, sizeof *st);
    char msg[CLOVE_ERR_MSG_MAX];
    clove_buf_init(&st->carry);
    st->s = b->s;
    st->what = b->what;
    state_outputs(st, (idx_t)b->ncols);
    for (size_t j = 0; j < b->ncols; j++) st->out[j] = &b->cols[j];
    state_finish_outputs(st);
    duckdb_init_set_max_threads(info, 1);
    clove_debug(COMP, "dataset %s: %s", b->s->dataset, b->sql);
    bool changed;
    bool ok = start_copy(st, b->sql, b->check, &changed, msg, sizeof msg);
    /* every source is told (re-reading an unchanged one finds nothing new); the message
     * names the first */
    for (size_t i = b->nsrcs; changed && i-- > 0;) clove__pg_columns_changed(b->srcs[i], msg,
                                                                            sizeof msg);
    if (!ok) {
        duckdb_init_set_error(info, msg);
        state_free(st);
        return;
    }
    duckdb_init_set_init_data(info, st, state_free);
}

static int register_query(duckdb_connection conn, clove_err_t *err)
{
    duckdb_table_function tf = duckdb_create_table_function();
    duckdb_table_function_set_name(tf, CLOVE_PG_QUERY_FN);
    duckdb_logical_type bigint = duckdb_create_logical_type(DUCKDB_TYPE_BIGINT);
    duckdb_logical_type varchar = duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
    duckdb_table_function_add_parameter(tf, bigint);
    duckdb_table_function_add_parameter(tf, varchar);
    duckdb_table_function_add_parameter(tf, varchar);
    duckdb_destroy_logical_type(&bigint);
    duckdb_destroy_logical_type(&varchar);
    duckdb_table_function_set_bind(tf, query_bind);
    duckdb_table_function_set_init(tf, query_init);
    duckdb_table_function_set_function(tf, scan_fn);
    duckdb_state st = duckdb_register_table_function(conn, tf);
    duckdb_destroy_table_function(&tf);
    if (st == DuckDBError)
        return clove_err_set(err, CLOVE_EINTERNAL, "could not register the table function "
                             CLOVE_PG_QUERY_FN " (registered twice?)");
    return 0;
}

int clove__pg_scan_register(duckdb_connection conn, clove_err_t *err)
{
    duckdb_table_function tf = duckdb_create_table_function();
    duckdb_table_function_set_name(tf, CLOVE_PG_SCAN_FN);
    duckdb_logical_type bigint = duckdb_create_logical_type(DUCKDB_TYPE_BIGINT);
    duckdb_logical_type varchar = duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
    duckdb_table_function_add_parameter(tf, bigint);
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
                             CLOVE_PG_SCAN_FN " (registered twice?)");
    return register_query(conn, err);
}
