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
    size_t ncols;
};

struct clove_pg_run {
    const clove_pg_plan_t *p;
    PGconn *c;
    uint64_t epoch;
    bool done;
};

void clove_pg_plan_destroy(clove_pg_plan_t *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->ncols; i++) clove__pg_col_dispose(&p->cols[i]);
    free(p->cols);
    free(p->enum_int);
    free(p->sql);
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
    for (size_t i = 0; i < n; i++) {
        bool ok = false;
        if (outs[i].source) {
            clove_pg_source_t *src = clove__pg_lookup(outs[i].source->id);
            pg_schema_t *sc = src ? clove__pg_schema_get(src) : NULL;
            if (sc && outs[i].col < sc->ncols) {
                clove__pg_col_copy(&p->cols[i], &sc->cols[outs[i].col]);
                ok = true;
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
        p->ncols = i + 1;
    }
    return p;
}

size_t clove_pg_plan_ncols(const clove_pg_plan_t *p) { return p->ncols; }
size_t clove_pg_plan_nparams(const clove_pg_plan_t *p) { return p->nparams; }
const char *clove_pg_plan_name(const clove_pg_plan_t *p, size_t col) { return p->cols[col].name; }

duckdb_logical_type clove_pg_plan_type(const clove_pg_plan_t *p, size_t col)
{
    return clove__pg_col_type(&p->cols[col]);
}

static void run_drain(clove_pg_run_t *r)
{
    PGresult *res;
    while ((res = PQgetResult(r->c)) != NULL) PQclear(res);
}

/* Prepares the plan on r's connection unless it already is (one round trip, the first time
 * on each connection), so PostgreSQL parses and plans the query once per connection. */
static bool run_prepare(clove_pg_run_t *r, const char *name, int np, const Oid *types)
{
    const clove_pg_plan_t *p = r->p;
    if (clove__pg_prepared(p->s, r->c, p->id)) return true;
    PGresult *res = PQprepare(r->c, name, p->sql, np, types);
    bool ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
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

clove_pg_run_t *clove_pg_run_start(const clove_pg_plan_t *p, const char *const *values,
                                   clove_err_t *err)
{
    clove_pg_run_t *r = clove_xcalloc(1, sizeof *r);
    r->p = p;
    Oid types[64];
    char name[32];
    int np = (int)(p->nparams < 64 ? p->nparams : 64);
    for (int i = 0; i < np; i++) types[i] = INT8OID;
    snprintf(name, sizeof name, "clove_p%llu", (unsigned long long)p->id);
    for (int attempt = 1;; attempt++) {
        r->c = clove__pg_acquire(p->s, &r->epoch, err);
        if (!r->c) break;
        if (run_prepare(r, name, np, types) &&
            PQsendQueryPrepared(r->c, name, np, values, NULL, NULL, 1) &&
            PQsetSingleRowMode(r->c))
            return r;
        /* the send failed: a connection that died in the pool is replaced once or twice */
        char m[512];
        clove__pg_msg(PQerrorMessage(r->c), m, sizeof m);
        bool gone = PQstatus(r->c) == CONNECTION_BAD;
        run_drain(r);
        clove__pg_release(p->s, r->c, r->epoch, gone);
        r->c = NULL;
        if (gone && attempt < MAX_SEND_ATTEMPTS) continue;
        clove_err_set(err, gone ? CLOVE_EUNAVAILABLE : CLOVE_EQUERY,
                      "could not run the pushed-down query in PostgreSQL at \"%s\" for "
                      "dataset \"%s\": %s", p->s->endpoint, p->s->dataset, m);
        if (gone) clove__pg_event(p->s, CLOVE_SOURCE_UNREACHABLE, err ? err->message : m);
        break;
    }
    free(r);
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
    duckdb_logical_type types[p->ncols ? p->ncols : 1];
    for (size_t i = 0; i < p->ncols; i++) types[i] = clove__pg_col_type(&p->cols[i]);
    duckdb_data_chunk chunk = duckdb_create_data_chunk(types, p->ncols);
    for (size_t i = 0; i < p->ncols; i++) duckdb_destroy_logical_type(&types[i]);
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
        clove__pg_msg(res ? PQresultErrorMessage(res) : PQerrorMessage(r->c), msg, sizeof msg);
        PQclear(res);
        bool gone = PQstatus(r->c) == CONNECTION_BAD;
        rc = clove_err_set(err, gone ? CLOVE_EUNAVAILABLE : CLOVE_EQUERY,
                           "the pushed-down query failed in PostgreSQL at \"%s\" for dataset "
                           "\"%s\": %s", p->s->endpoint, p->s->dataset, msg);
        if (gone) clove__pg_event(p->s, CLOVE_SOURCE_UNREACHABLE, err ? err->message : msg);
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
    free(r);
}
