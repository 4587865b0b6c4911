/*
 * connectors/postgres_direct.c: queries that run whole in PostgreSQL with parameters, without
 * DuckDB (see postgres.h, "direct queries"). The plan's SQL is sent with PQsendQueryParams
 * (every parameter int8, binary results) in single-row mode on a pooled connection; rows are
 * decoded with the scan's decoder into DuckDB data chunks of the plan's types.
 */
#include "connectors/postgres_int.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMP "postgres"
#define INT8OID 20
#define MAX_SEND_ATTEMPTS 3
#define WAIT_SLICE_MS 20

struct clove_pg_plan {
    clove_pg_source_t *s;    /* a reference: the pool it runs on */
    uint64_t id;             /* prepared on a connection as "clove_p<id>" */
    char *sql;
    size_t nparams;
    pg_col_t *cols;
    duckdb_type *enum_int;
    duckdb_logical_type *types; /* the outputs' DuckDB types, made once (chunks of every run) */
    size_t ncols;
    clove_pg_source_t **srcs; /* references: the sources whose columns the outputs are */
    size_t nsrcs;
};

struct clove_pg_run {
    const clove_pg_plan_t *p;
    PGconn *c;
    uint64_t epoch;
    bool done;
    bool checked;            /* the result's column types were compared with the plan's */
    int attempts;            /* sends so far */
    char **values;           /* the parameters' text (NULL: SQL NULL), nparams of them */
};

void clove_pg_plan_destroy(clove_pg_plan_t *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->ncols; i++) {
        clove__pg_col_dispose(&p->cols[i]);
        if (p->types && p->types[i]) duckdb_destroy_logical_type(&p->types[i]);
    }
    free(p->types);
    free(p->cols);
    free(p->enum_int);
    free(p->sql);
    for (size_t i = 0; i < p->nsrcs; i++) clove__pg_source_unref(p->srcs[i]);
    free(p->srcs);
    clove__pg_source_unref(p->s);
    free(p);
}

clove_pg_plan_t *clove_pg_plan_create(const clove_pg_source_t *s, const char *remote_sql,
                                      size_t nparams, const clove_pg_out_t *outs, size_t n,
                                      clove_err_t *err)
{
    static atomic_uint_fast64_t next_id = 1;
    clove_pg_plan_t *p = clove_xcalloc(1, sizeof *p);
    p->id = atomic_fetch_add(&next_id, 1);
    p->s = clove__pg_lookup(s->id);
    p->sql = clove_xstrdup(remote_sql);
    p->nparams = nparams;
    p->cols = clove_xcalloc(n ? n : 1, sizeof *p->cols);
    p->enum_int = clove_xcalloc(n ? n : 1, sizeof *p->enum_int);
    p->types = clove_xcalloc(n ? n : 1, sizeof *p->types);
    for (size_t i = 0; i < n; i++) {
        bool ok = false;
        if (outs[i].source) {
            clove_pg_source_t *src = clove__pg_lookup(outs[i].source->id);
            pg_schema_t *sc = src ? clove__pg_schema_get(src) : NULL;
            if (sc && outs[i].col < sc->ncols) {
                clove__pg_col_copy(&p->cols[i], &sc->cols[outs[i].col]);
                ok = true;
            }
            bool known = false;
            for (size_t j = 0; ok && j < p->nsrcs; j++) known |= p->srcs[j] == src;
            if (ok && !known) {
                p->srcs = clove_xrealloc(p->srcs, (p->nsrcs + 1) * sizeof *p->srcs);
                p->srcs[p->nsrcs++] = src;
                src = NULL;
            }
            clove__pg_schema_unref(sc);
            clove__pg_source_unref(src);
        } else if (clove__pg_computed_col(&p->cols[i], (int)outs[i].type, outs[i].width,
                                          outs[i].scale)) {
            p->cols[i].pgname = clove_xstrdup(outs[i].name);
            p->cols[i].pgtype = clove_xstrdup("computed");
            ok = true;
        }
        if (!ok || !p->s) {
            p->ncols = i;
            clove_pg_plan_destroy(p);
            clove_err_set(err, CLOVE_EINVAL, "output %zu of the query has no PostgreSQL decoder",
                          i + 1);
            return NULL;
        }
        free(p->cols[i].name);
        p->cols[i].name = clove_xstrdup(outs[i].name);
        p->enum_int[i] = clove__pg_enum_internal(&p->cols[i]);
        p->types[i] = clove__pg_col_type(&p->cols[i]);
        p->ncols = i + 1;
    }
    return p;
}

size_t clove_pg_plan_ncols(const clove_pg_plan_t *p) { return p->ncols; }
size_t clove_pg_plan_nparams(const clove_pg_plan_t *p) { return p->nparams; }
const char *clove_pg_plan_name(const clove_pg_plan_t *p, size_t col) { return p->cols[col].name; }

duckdb_logical_type clove_pg_plan_type(const clove_pg_plan_t *p, size_t col)
{
    return p->types[col];
}

static void run_drain(clove_pg_run_t *r)
{
    PGresult *res;
    while ((res = PQgetResult(r->c)) != NULL) PQclear(res);
}

/* Does the result's first row description give the types the plan decodes? (Columns of the
 * plan's sources: a table whose column was retyped since the plan was made; PostgreSQL's own
 * plan cache only catches that on connections that prepared the statement before.) */
static bool result_matches(const clove_pg_plan_t *p, const PGresult *res)
{
    if ((size_t)PQnfields(res) != p->ncols) return false;
    for (size_t j = 0; j < p->ncols; j++) {
        const pg_col_t *c = &p->cols[j];
        if (!c->oid) continue; /* computed: the SQL casts it */
        if (PQftype(res, (int)j) != c->oid || PQfmod(res, (int)j) != c->typmod) return false;
    }
    return true;
}

/* Did PostgreSQL refuse the plan's SQL because its tables are not what the plan was made
 * for? clove writes that SQL from the columns it read, so an error of class 42 (a column or
 * type that does not fit; not permissions, not a missing table) or "cached plan must not
 * change result type" (0A000) may mean the columns changed: the catalog decides (one query
 * per source, on the error path only; a changed schema is read again). No connection of the
 * plan's pool may be held by the caller. */
static bool tables_changed(const clove_pg_plan_t *p, const char *state)
{
    if (strcmp(state, "0A000") != 0 &&
        (strncmp(state, "42", 2) != 0 || !strcmp(state, "42501") || !strcmp(state, "42P01")))
        return false;
    bool any = false;
    for (size_t i = 0; i < (p->nsrcs ? p->nsrcs : 1); i++) {
        clove_pg_source_t *src = p->nsrcs ? p->srcs[i] : p->s;
        bool changed = false;
        clove_err_t e2;
        if (clove_pg_source_check_columns(src, &changed, &e2) == 0 && changed) any = true;
    }
    return any;
}

/* The plan's tables changed under it: every source is told, err says so. */
static int plan_changed(const clove_pg_plan_t *p, clove_err_t *err)
{
    char msg[CLOVE_ERR_MSG_MAX];
    for (size_t i = p->nsrcs; i-- > 0;) clove__pg_columns_changed(p->srcs[i], msg, sizeof msg);
    if (!p->nsrcs) clove__pg_columns_changed(p->s, msg, sizeof msg);
    return clove_err_set(err, CLOVE_EQUERY, "%s", msg);
}

/* Prepares the plan on r's connection unless it already is (one round trip, the first time
 * on each connection), so PostgreSQL parses and plans the query once per connection. */
static bool run_prepare(clove_pg_run_t *r, const char *name, int np, const Oid *types,
                        char state[6])
{
    const clove_pg_plan_t *p = r->p;
    if (clove__pg_prepared(p->s, r->c, p->id)) return true;
    PGresult *res = PQprepare(r->c, name, p->sql, np, types);
    bool ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    const char *st8 = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(state, 6, "%s", st8 ? st8 : "");
    PQclear(res);
    if (!ok) return false;
    bool reset = false;
    clove__pg_mark_prepared(p->s, r->c, p->id, &reset);
    if (reset) {
        /* too many on this connection: start over (this plan is prepared again next time) */
        res = PQexec(r->c, "DEALLOCATE ALL");
        PQclear(res);
        clove__pg_prepared_reset(p->s, r->c);
    }
    return true;
}

/* Sends the run's statement on a pooled connection (prepared there first if need be); a
 * connection that turns out dead is replaced, MAX_SEND_ATTEMPTS times in all with the
 * attempts already made. False with err filled. */
static bool run_send(clove_pg_run_t *r, clove_err_t *err)
{
    const clove_pg_plan_t *p = r->p;
    Oid types[64];
    char name[32];
    int np = (int)(p->nparams < 64 ? p->nparams : 64);
    for (int i = 0; i < np; i++) types[i] = INT8OID;
    snprintf(name, sizeof name, "clove_p%llu", (unsigned long long)p->id);
    for (;;) {
        r->attempts++;
        r->c = clove__pg_acquire(p->s, &r->epoch, err);
        if (!r->c) return false;
        char state[6] = "";
        if (run_prepare(r, name, np, types, state) &&
            PQsendQueryPrepared(r->c, name, np, (const char *const *)r->values, NULL, NULL, 1) &&
            PQsetSingleRowMode(r->c))
            return true;
        /* the send failed: a connection that died in the pool is replaced once or twice */
        char m[512];
        clove__pg_msg(PQerrorMessage(r->c), m, sizeof m);
        run_drain(r);
        bool gone = PQstatus(r->c) == CONNECTION_BAD;
        clove__pg_release(p->s, r->c, r->epoch, gone);
        r->c = NULL;
        if (gone && r->attempts < MAX_SEND_ATTEMPTS) continue;
        clove_err_set(err, gone ? CLOVE_EUNAVAILABLE : CLOVE_EQUERY,
                      "could not run the pushed-down query in PostgreSQL at \"%s\" for "
                      "dataset \"%s\": %s", p->s->endpoint, p->s->dataset, m);
        if (gone) clove__pg_event(p->s, CLOVE_SOURCE_UNREACHABLE, err ? err->message : m);
        if (!gone && tables_changed(p, state)) plan_changed(p, err);
        return false;
    }
}

static void run_free(clove_pg_run_t *r)
{
    for (size_t i = 0; i < r->p->nparams; i++) free(r->values[i]);
    free(r->values);
    free(r);
}

clove_pg_run_t *clove_pg_run_start(const clove_pg_plan_t *p, const char *const *values,
                                   clove_err_t *err)
{
    clove_pg_run_t *r = clove_xcalloc(1, sizeof *r);
    r->p = p;
    /* kept: a connection found dead at the first answer is replaced and the values sent
     * again */
    r->values = clove_xcalloc(p->nparams ? p->nparams : 1, sizeof *r->values);
    for (size_t i = 0; i < p->nparams; i++)
        r->values[i] = values[i] ? clove_xstrdup(values[i]) : NULL;
    if (run_send(r, err)) return r;
    run_free(r);
    return NULL;
}

/* Waits until a result can be read without blocking; false when *stop turned true or the
 * connection failed. */
static bool run_wait(clove_pg_run_t *r, bool (*stop)(void *ud), void *ud)
{
    while (PQisBusy(r->c)) {
        if (stop && stop(ud)) return false;
        struct pollfd pfd = {.fd = PQsocket(r->c), .events = POLLIN};
        if (pfd.fd < 0) return false;
        int rc = poll(&pfd, 1, WAIT_SLICE_MS);
        if (rc < 0) continue;
        if (rc > 0 && !PQconsumeInput(r->c)) return true; /* PQgetResult reports it */
    }
    return true;
}

static void run_cancel(clove_pg_run_t *r)
{
    PGcancel *cn = PQgetCancel(r->c);
    if (cn) {
        char eb[256];
        PQcancel(cn, eb, sizeof eb);
        PQfreeCancel(cn);
    }
}

int clove_pg_run_next(clove_pg_run_t *r, duckdb_data_chunk *out, bool (*stop)(void *ud),
                      void *ud, clove_err_t *err)
{
    const clove_pg_plan_t *p = r->p;
    *out = NULL;
    if (r->done || !r->c) return 0;
    duckdb_data_chunk chunk = duckdb_create_data_chunk(p->types, p->ncols);
    idx_t cap = duckdb_vector_size(), n = 0;
    char msg[512];
    int rc = 0;
    while (n < cap) {
        if (!run_wait(r, stop, ud)) {
            run_cancel(r);
            rc = clove_err_set(err, CLOVE_ECANCELED, "the query was canceled");
            goto fail;
        }
        PGresult *res = PQgetResult(r->c);
        ExecStatusType st = res ? PQresultStatus(res) : PGRES_COMMAND_OK;
        if (!r->checked && (st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK)) {
            r->checked = true;
            if (!result_matches(p, res)) {
                PQclear(res);
                run_cancel(r);
                rc = plan_changed(p, err);
                goto fail;
            }
        }
        if (st == PGRES_SINGLE_TUPLE) {
            for (size_t j = 0; j < p->ncols; j++) {
                duckdb_vector v = duckdb_data_chunk_get_vector(chunk, j);
                int32_t len = PQgetisnull(res, 0, (int)j) ? -1 : PQgetlength(res, 0, (int)j);
                const uint8_t *val = (const uint8_t *)PQgetvalue(res, 0, (int)j);
                if (clove__pg_decode(&p->cols[j], p->enum_int[j], v, n, val, len, msg,
                                     sizeof msg) != 0) {
                    PQclear(res);
                    run_cancel(r);
                    rc = clove_err_set(err, CLOVE_EQUERY, "could not read the pushed-down "
                                       "query's answer from PostgreSQL at \"%s\" for dataset "
                                       "\"%s\": %s", p->s->endpoint, p->s->dataset, msg);
                    goto fail;
                }
            }
            PQclear(res);
            n++;
            continue;
        }
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            PQclear(res);
            run_drain(r);
            r->done = true;
            clove__pg_release(p->s, r->c, r->epoch, false);
            r->c = NULL;
            break;
        }
        const char *st8 = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        char state[6];
        snprintf(state, sizeof state, "%s", st8 ? st8 : "");
        clove__pg_msg(res ? PQresultErrorMessage(res) : PQerrorMessage(r->c), msg, sizeof msg);
        PQclear(res);
        run_drain(r); /* a server that ended the session: libpq sees the connection close */
        bool gone = PQstatus(r->c) == CONNECTION_BAD;
        if (gone && !r->checked && n == 0 && r->attempts < MAX_SEND_ATTEMPTS) {
            /* nothing was answered yet: the pooled connection had died (a restarted or
             * terminated backend); send again on another */
            clove_info(COMP, "dataset %s: a pooled connection to %s was broken (%s); "
                       "reconnecting", p->s->dataset, p->s->endpoint, msg);
            clove__pg_release(p->s, r->c, r->epoch, true);
            r->c = NULL;
            if (run_send(r, err)) continue;
            rc = err ? err->code : CLOVE_EUNAVAILABLE;
            goto fail;
        }
        rc = clove_err_set(err, gone ? CLOVE_EUNAVAILABLE : CLOVE_EQUERY,
                           "the pushed-down query failed in PostgreSQL at \"%s\" for dataset "
                           "\"%s\": %s", p->s->endpoint, p->s->dataset, msg);
        if (gone) clove__pg_event(p->s, CLOVE_SOURCE_UNREACHABLE, err ? err->message : msg);
        run_drain(r);
        clove__pg_release(p->s, r->c, r->epoch, gone);
        r->c = NULL;
        if (!gone && tables_changed(p, state)) rc = plan_changed(p, err);
        goto fail;
    }
    if (n == 0) {
        duckdb_destroy_data_chunk(&chunk);
        return 0;
    }
    duckdb_data_chunk_set_size(chunk, n);
    *out = chunk;
    return 1;
fail:
    duckdb_destroy_data_chunk(&chunk);
    if (r->c) {
        run_drain(r);
        clove__pg_release(p->s, r->c, r->epoch, PQstatus(r->c) == CONNECTION_BAD);
        r->c = NULL;
    }
    r->done = true;
    return rc;
}

void clove_pg_run_end(clove_pg_run_t *r)
{
    if (!r) return;
    if (r->c) {
        if (!r->done) run_cancel(r);
        run_drain(r);
        clove__pg_release(r->p->s, r->c, r->epoch, PQstatus(r->c) == CONNECTION_BAD);
    }
    run_free(r);
}
