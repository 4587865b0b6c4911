/*
 * connectors/postgres.c: PostgreSQL sources. Parses `from: postgres:...` and the pg_* params
 * into libpq connection keywords, keeps one connection pool per source (bounded by
 * connection_pool_size; broken connections are closed on return, and a connection that finds
 * the server gone closes every idle one, so the pool recovers by itself after a restart),
 * reads the table's columns from the catalog and maps their types to DuckDB types (the table
 * in src/connectors/README.md and docs/postgres.md). Sources live in a process-wide registry
 * by id, because the scan's arguments are SQL values.
 */
#include "connectors/postgres_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define COMP "postgres"
#define DEFAULT_POOL_SIZE 10
#define MAX_POOL_SIZE 1000
#define ACQUIRE_TIMEOUT_MS 60000

/* ---- registry ------------------------------------------------------------------------------ */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER; /* guards g_sources, g_next_id */
static clove_pg_source_t **g_sources;
static size_t g_n_sources;
static int64_t g_next_id = 1;

clove_pg_source_t *clove__pg_lookup(int64_t id)
{
    clove_pg_source_t *s = NULL;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_n_sources; i++) {
        if (g_sources[i]->id == id) {
            s = g_sources[i];
            atomic_fetch_add(&s->refs, 1);
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return s;
}

static void type_dispose(pg_type_t *t)
{
    for (uint32_t i = 0; i < t->nlabels; i++) free(t->labels[i]);
    free(t->labels);
    free(t->by_bytes);
}

void clove__pg_col_dispose(pg_col_t *c)
{
    free(c->name);
    free(c->pgname);
    free(c->pgtype);
    type_dispose(&c->t);
}

void clove__pg_col_copy(pg_col_t *dst, const pg_col_t *src)
{
    *dst = *src;
    dst->name = clove_xstrdup(src->name ? src->name : "");
    dst->pgname = clove_xstrdup(src->pgname ? src->pgname : "");
    dst->pgtype = clove_xstrdup(src->pgtype ? src->pgtype : "");
    dst->t.labels = NULL;
    dst->t.by_bytes = NULL;
    if (src->t.nlabels) {
        dst->t.labels = clove_xcalloc(src->t.nlabels, sizeof *dst->t.labels);
        dst->t.by_bytes = clove_xcalloc(src->t.nlabels, sizeof *dst->t.by_bytes);
        for (uint32_t i = 0; i < src->t.nlabels; i++) {
            dst->t.labels[i] = clove_xstrdup(src->t.labels[i]);
            dst->t.by_bytes[i] = src->t.by_bytes[i];
        }
    }
}

void clove__pg_schema_unref(pg_schema_t *sc)
{
    if (!sc || atomic_fetch_sub(&sc->refs, 1) != 1) return;
    for (size_t i = 0; i < sc->ncols; i++) clove__pg_col_dispose(&sc->cols[i]);
    free(sc->cols);
    free(sc->check);
    free(sc);
}

pg_schema_t *clove__pg_schema_get(clove_pg_source_t *s)
{
    pthread_mutex_lock(&s->lock);
    pg_schema_t *sc = s->schema;
    if (sc) atomic_fetch_add(&sc->refs, 1);
    pthread_mutex_unlock(&s->lock);
    return sc;
}

#define MAX_PREPARED_PER_CONN 256

/* The prepared-statement record of c (caller holds s->lock); NULL when there is none. */
static struct pg_conn_info *conn_info(clove_pg_source_t *s, PGconn *c)
{
    for (size_t i = 0; i < s->n_conns; i++)
        if (s->conns[i].c == c) return &s->conns[i];
    return NULL;
}

/* Forgets what was prepared on c, which is being closed (caller holds s->lock). */
static void conn_forget(clove_pg_source_t *s, PGconn *c)
{
    for (size_t i = 0; i < s->n_conns; i++) {
        if (s->conns[i].c != c) continue;
        free(s->conns[i].plans);
        s->conns[i] = s->conns[--s->n_conns];
        return;
    }
}

bool clove__pg_prepared(clove_pg_source_t *s, PGconn *c, uint64_t plan)
{
    bool found = false;
    pthread_mutex_lock(&s->lock);
    struct pg_conn_info *ci = conn_info(s, c);
    for (size_t i = 0; ci && i < ci->n && !found; i++) found = ci->plans[i] == plan;
    pthread_mutex_unlock(&s->lock);
    return found;
}

void clove__pg_mark_prepared(clove_pg_source_t *s, PGconn *c, uint64_t plan, bool *reset)
{
    pthread_mutex_lock(&s->lock);
    struct pg_conn_info *ci = conn_info(s, c);
    if (!ci) {
        s->conns = clove_xrealloc(s->conns, (s->n_conns + 1) * sizeof *s->conns);
        ci = &s->conns[s->n_conns++];
        memset(ci, 0, sizeof *ci);
        ci->c = c;
    }
    if (ci->n == ci->cap) {
        ci->cap = ci->cap ? ci->cap * 2 : 8;
        ci->plans = clove_xrealloc(ci->plans, ci->cap * sizeof *ci->plans);
    }
    ci->plans[ci->n++] = plan;
    *reset = ci->n >= MAX_PREPARED_PER_CONN;
    pthread_mutex_unlock(&s->lock);
}

void clove__pg_prepared_reset(clove_pg_source_t *s, PGconn *c)
{
    pthread_mutex_lock(&s->lock);
    conn_forget(s, c);
    pthread_mutex_unlock(&s->lock);
}

static void close_idle(clove_pg_source_t *s)
{
    /* caller holds s->lock */
    for (int i = 0; i < s->n_idle; i++) {
        conn_forget(s, s->idle[i]);
        PQfinish(s->idle[i]);
    }
    s->n_open -= s->n_idle;
    s->n_idle = 0;
}

void clove__pg_source_unref(clove_pg_source_t *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
    close_idle(s);
    free(s->idle);
    for (size_t i = 0; i < s->n_conns; i++) free(s->conns[i].plans);
    free(s->conns);
    clove__pg_schema_unref(s->schema);
    for (size_t i = 0; s->keys && s->keys[i]; i++) {
        free(s->keys[i]);
        if (s->vals[i]) {
            /* the password may be among them */
            memset(s->vals[i], 0, strlen(s->vals[i]));
            free(s->vals[i]);
        }
    }
    free(s->keys);
    free(s->vals);
    free(s->dataset);
    free(s->endpoint);
    free(s->dbname);
    free(s->qualified);
    free(s->display);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}

void clove_pg_source_destroy(clove_pg_source_t *s)
{
    if (!s) return;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_n_sources; i++) {
        if (g_sources[i] == s) {
            g_sources[i] = g_sources[--g_n_sources];
            break;
        }
    }
    if (g_n_sources == 0) {
        free(g_sources);
        g_sources = NULL;
    }
    pthread_mutex_unlock(&g_lock);
    pthread_mutex_lock(&s->lock);
    s->closed = true;
    close_idle(s);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    clove__pg_source_unref(s);
}

char *clove_pg_source_sql(const clove_pg_source_t *s)
{
    return clove_xasprintf(CLOVE_PG_SCAN_FN "(%" PRId64 ")", s->id);
}

const char *clove_pg_source_endpoint(const clove_pg_source_t *s)
{
    return s->endpoint;
}

const char *clove__pg_msg(const char *m, char *buf, size_t cap)
{
    if (!m) m = "";
    if (!strncmp(m, "ERROR:  ", 8)) m += 8;
    else if (!strncmp(m, "FATAL:  ", 8)) m += 8;
    size_t n = strcspn(m, "\n");
    while (n > 0 && isspace((unsigned char)m[n - 1])) n--;
    snprintf(buf, cap, "%.*s", (int)n, m);
    return buf;
}

/* ---- configuration -------------------------------------------------------------------------- */

static const char *const known_params[] = {
    "pg_host", "pg_port", "pg_db", "pg_user", "pg_pass", "pg_sslmode", "pg_sslrootcert",
    "pg_connection_string", NULL};

/* Splits "a.b.c" into at most 3 identifier parts: "Quoted" parts keep their case (and ""),
 * unquoted ones are lower-cased. Returns the count, or -1 when malformed. */
static int split_ident(const char *s, char *parts[3])
{
    int n = 0;
    const char *p = s;
    for (;;) {
        if (n == 3) return -1;
        clove_buf_t b;
        clove_buf_init(&b);
        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p) {
                    clove_buf_dispose(&b);
                    return -1;
                }
                if (*p == '"') {
                    if (p[1] != '"') break;
                    p++;
                }
                clove_buf_putc(&b, *p++);
            }
            p++;
        } else {
            while (*p && *p != '.') {
                if (*p == '"') {
                    clove_buf_dispose(&b);
                    return -1;
                }
                clove_buf_putc(&b, (char)tolower((unsigned char)*p));
                p++;
            }
        }
        if (b.len == 0) {
            clove_buf_dispose(&b);
            return -1;
        }
        parts[n++] = clove_buf_steal(&b);
        if (!*p) return n;
        if (*p != '.') return -1;
        p++;
    }
}

static void add_kv(clove_pg_source_t *s, size_t *n, const char *k, const char *v)
{
    s->keys = clove_xrealloc(s->keys, (*n + 2) * sizeof *s->keys);
    s->vals = clove_xrealloc(s->vals, (*n + 2) * sizeof *s->vals);
    s->keys[*n] = clove_xstrdup(k);
    s->vals[*n] = clove_xstrdup(v);
    (*n)++;
    s->keys[*n] = NULL;
    s->vals[*n] = NULL;
}

static const clove_kv_t *kv_find(const clove_kvlist_t *l, const char *key)
{
    for (size_t i = 0; l && i < l->len; i++)
        if (!strcmp(l->items[i].key, key)) return &l->items[i];
    return NULL;
}

clove_pg_source_t *clove_pg_source_create(const char *dataset, const char *from,
                                          const clove_kvlist_t *params, clove_err_t *err)
{
    clove_pg_source_t *s = NULL;
    char *parts[3] = {0};
    PQconninfoOption *opts = NULL;
    int np = -1;
    if (!dataset || !from || strncmp(from, "postgres:", 9) != 0) {
        clove_err_set(err, CLOVE_EINVAL, "postgres source: missing arguments");
        return NULL;
    }
    for (size_t i = 0; params && i < params->len; i++) {
        const char *k = params->items[i].key;
        if (strncmp(k, "pg_", 3) != 0) continue;
        bool known = false;
        for (size_t j = 0; known_params[j]; j++) known |= !strcmp(known_params[j], k);
        if (!known) {
            clove_err_set(err, CLOVE_ECONFIG,
                          "dataset %s: params.%s: unknown PostgreSQL parameter (known: pg_host, "
                          "pg_port, pg_db, pg_user, pg_pass, pg_sslmode, pg_sslrootcert, "
                          "pg_connection_string)", dataset, k);
            return NULL;
        }
    }
    np = split_ident(from + 9, parts);
    if (np < 0) {
        clove_err_set(err, CLOVE_ECONFIG,
                      "dataset %s: from: expected postgres:[database.][schema.]table; got \"%s\"",
                      dataset, from);
        goto fail;
    }

    s = clove_xcalloc(1, sizeof *s);
    atomic_init(&s->refs, 1);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->dataset = clove_xstrdup(dataset);
    const char *table = parts[np - 1], *schema = np >= 2 ? parts[np - 2] : NULL;
    const char *db_from = np == 3 ? parts[0] : NULL;
    char *qt = clove_sql_ident(table);
    if (schema) {
        char *qs = clove_sql_ident(schema);
        s->qualified = clove_xasprintf("%s.%s", qs, qt);
        s->display = clove_xasprintf("%s.%s", schema, table);
        free(qs);
        free(qt);
    } else {
        s->qualified = qt;
        s->display = clove_xstrdup(table);
    }

    const char *v;
    s->unsupported = UNSUPPORTED_ERROR;
    if ((v = clove_kv_get(params, "unsupported_type_action"))) {
        static const char *const names[] = {"error", "warn", "ignore", "string"};
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (!strcasecmp(v, names[i])) found = i;
        if (found < 0) {
            clove_err_set(err, CLOVE_ECONFIG,
                          "dataset %s: params.unsupported_type_action: expected one of error, "
                          "warn, ignore, string; got \"%s\"", dataset, v);
            goto fail;
        }
        s->unsupported = found;
    }
    s->pool_max = DEFAULT_POOL_SIZE;
    if ((v = clove_kv_get(params, "connection_pool_size"))) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*v == '\0' || *end || n < 1 || n > MAX_POOL_SIZE) {
            clove_err_set(err, CLOVE_ECONFIG,
                          "dataset %s: params.connection_pool_size: expected a number from 1 to "
                          "%d; got \"%s\"", dataset, MAX_POOL_SIZE, v);
            goto fail;
        }
        s->pool_max = (int)n;
    }
    s->idle = clove_xcalloc((size_t)s->pool_max, sizeof *s->idle);

    const clove_kv_t *pass = kv_find(params, "pg_pass");
    if (pass && !pass->secret) {
        clove_err_set(err, CLOVE_ECONFIG,
                      "dataset %s: params.pg_pass must not be written in the spicepod: use "
                      "${secrets:NAME} (from the environment or the .env file)", dataset);
        goto fail;
    }
    const clove_kv_t *cs = kv_find(params, "pg_connection_string");
    const char *cs_host = NULL, *cs_port = NULL, *cs_db = NULL, *cs_ssl = NULL;
    if (cs) {
        char *perr = NULL;
        opts = PQconninfoParse(cs->value, &perr);
        if (!opts) {
            /* libpq's message quotes nothing of the string's values */
            char m[256];
            clove_err_set(err, CLOVE_ECONFIG,
                          "dataset %s: params.pg_connection_string is not a valid PostgreSQL "
                          "connection string: %s", dataset,
                          perr ? clove__pg_msg(perr, m, sizeof m) : "out of memory");
            PQfreemem(perr);
            goto fail;
        }
        for (PQconninfoOption *o = opts; o->keyword; o++) {
            if (!o->val || !*o->val) continue;
            if (!strcmp(o->keyword, "password") && !cs->secret) {
                clove_err_set(err, CLOVE_ECONFIG,
                              "dataset %s: params.pg_connection_string holds a password: write "
                              "the whole string as ${secrets:NAME}", dataset);
                goto fail;
            }
            if (!strcmp(o->keyword, "host")) cs_host = o->val;
            else if (!strcmp(o->keyword, "hostaddr") && !cs_host) cs_host = o->val;
            else if (!strcmp(o->keyword, "port")) cs_port = o->val;
            else if (!strcmp(o->keyword, "dbname")) cs_db = o->val;
            else if (!strcmp(o->keyword, "sslmode")) cs_ssl = o->val;
        }
    }
    const char *sslmode = clove_kv_get(params, "pg_sslmode");
    if (sslmode) {
        static const char *const modes[] = {"disable", "prefer", "require", "verify-ca",
                                            "verify-full", NULL};
        bool ok = false;
        for (size_t i = 0; modes[i]; i++) ok |= !strcmp(modes[i], sslmode);
        if (!ok) {
            clove_err_set(err, CLOVE_ECONFIG,
                          "dataset %s: params.pg_sslmode: expected one of disable, prefer, "
                          "require, verify-ca, verify-full; got \"%s\"", dataset, sslmode);
            goto fail;
        }
    }
    const char *port = clove_kv_get(params, "pg_port");
    if (port) {
        char *end;
        long n = strtol(port, &end, 10);
        if (!*port || *end || n < 1 || n > 65535) {
            clove_err_set(err, CLOVE_ECONFIG,
                          "dataset %s: params.pg_port: expected a port number; got \"%s\"",
                          dataset, port);
            goto fail;
        }
    }
    const char *db = clove_kv_get(params, "pg_db");
    if (db_from && db && strcmp(db_from, db) != 0) {
        clove_err_set(err, CLOVE_ECONFIG,
                      "dataset %s: from names database \"%s\" but params.pg_db is \"%s\"",
                      dataset, db_from, db);
        goto fail;
    }
    if (!db) db = db_from;

    /* libpq keywords, processed in order (a later value wins): our defaults, the connection
     * string, the explicit parameters, then what the decoder relies on */
    size_t n = 0;
    add_kv(s, &n, "connect_timeout", "10");
    add_kv(s, &n, "application_name", "clove");
    if (!cs_ssl) add_kv(s, &n, "sslmode", "verify-full");
    if (cs) add_kv(s, &n, "dbname", cs->value);
    if ((v = clove_kv_get(params, "pg_host"))) add_kv(s, &n, "host", v);
    if (port) add_kv(s, &n, "port", port);
    if (db) add_kv(s, &n, "dbname", db);
    if ((v = clove_kv_get(params, "pg_user"))) add_kv(s, &n, "user", v);
    if (pass) add_kv(s, &n, "password", pass->value);
    if (sslmode) add_kv(s, &n, "sslmode", sslmode);
    if ((v = clove_kv_get(params, "pg_sslrootcert"))) add_kv(s, &n, "sslrootcert", v);
    add_kv(s, &n, "client_encoding", "UTF8");

    const char *host = clove_kv_get(params, "pg_host");
    if (!host) host = cs_host ? cs_host : "localhost";
    if (!port) port = cs_port ? cs_port : "5432";
    s->endpoint = clove_xasprintf("%s:%s", host, port);
    if (db || cs_db) s->dbname = clove_xstrdup(db ? db : cs_db);

    pthread_mutex_lock(&g_lock);
    s->id = g_next_id++;
    g_sources = clove_xrealloc(g_sources, (g_n_sources + 1) * sizeof *g_sources);
    g_sources[g_n_sources++] = s;
    pthread_mutex_unlock(&g_lock);
    PQconninfoFree(opts);
    for (int i = 0; i < 3; i++) free(parts[i]);
    return s;
fail:
    PQconninfoFree(opts);
    for (int i = 0; i < 3; i++) free(parts[i]);
    if (s) clove__pg_source_unref(s);
    return NULL;
}

/* ---- pool ---------------------------------------------------------------------------------- */

static PGconn *pg_connect(clove_pg_source_t *s, clove_err_t *err)
{
    PGconn *c = PQconnectdbParams((const char *const *)s->keys, (const char *const *)s->vals, 1);
    if (!c) {
        clove_err_set(err, CLOVE_ENOMEM, "could not connect to PostgreSQL at \"%s\" for dataset "
                      "\"%s\": out of memory", s->endpoint, s->dataset);
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        char m[512];
        clove_err_t e2;
        clove_err_set(&e2, CLOVE_EUNAVAILABLE, "could not connect to PostgreSQL at \"%s\" for "
                      "dataset \"%s\": %s", s->endpoint, s->dataset,
                      clove__pg_msg(PQerrorMessage(c), m, sizeof m));
        PQfinish(c);
        clove__pg_event(s, CLOVE_SOURCE_UNREACHABLE, e2.message);
        if (err) *err = e2;
        return NULL;
    }
    clove__pg_event(s, CLOVE_SOURCE_REACHABLE, NULL);
    return c;
}

void clove__pg_event(clove_pg_source_t *s, clove_source_event_t ev, const char *msg)
{
    if (s->events) s->events(s->events_ud, ev, msg);
}

bool clove__pg_lost(clove_pg_source_t *s, PGconn *c, const char *msg)
{
    if (!c || PQstatus(c) != CONNECTION_BAD) return false;
    clove__pg_event(s, CLOVE_SOURCE_UNREACHABLE, msg);
    return true;
}

void clove_pg_source_set_events(clove_pg_source_t *s, clove_source_event_cb cb, void *ud)
{
    s->events = cb;
    s->events_ud = ud;
}

int clove_pg_source_probe(clove_pg_source_t *s, clove_err_t *err)
{
    PGconn *c = pg_connect(s, err);
    if (!c) return err ? err->code : CLOVE_EUNAVAILABLE;
    PGresult *r = PQexec(c, "SELECT 1");
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char m[512];
        bool gone = PQstatus(c) == CONNECTION_BAD;
        rc = clove_err_set(err, gone ? CLOVE_EUNAVAILABLE : CLOVE_EQUERY,
                           "PostgreSQL at \"%s\" did not answer SELECT 1 for dataset \"%s\": %s",
                           s->endpoint, s->dataset,
                           clove__pg_msg(PQresultErrorMessage(r), m, sizeof m));
        if (gone) clove__pg_event(s, CLOVE_SOURCE_UNREACHABLE, err ? err->message : m);
    }
    PQclear(r);
    /* a working connection serves the next query when the pool has room for it */
    pthread_mutex_lock(&s->lock);
    uint64_t epoch = s->epoch;
    bool keep = rc == 0 && !s->closed && s->n_open < s->pool_max;
    if (keep) s->n_open++;
    pthread_mutex_unlock(&s->lock);
    if (keep) clove__pg_release(s, c, epoch, false);
    else PQfinish(c);
    return rc;
}

PGconn *clove__pg_acquire(clove_pg_source_t *s, uint64_t *epoch, clove_err_t *err)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ACQUIRE_TIMEOUT_MS / 1000;
    pthread_mutex_lock(&s->lock);
    while (!s->closed && s->n_idle == 0 && s->n_open >= s->pool_max) {
        if (pthread_cond_timedwait(&s->cond, &s->lock, &until) != 0) {
            pthread_mutex_unlock(&s->lock);
            clove_err_set(err, CLOVE_EBUSY,
                          "no PostgreSQL connection for dataset \"%s\" became free within %d s "
                          "(connection_pool_size is %d)", s->dataset, ACQUIRE_TIMEOUT_MS / 1000,
                          s->pool_max);
            return NULL;
        }
    }
    if (s->closed) {
        pthread_mutex_unlock(&s->lock);
        clove_err_set(err, CLOVE_ESHUTDOWN, "the PostgreSQL source of dataset \"%s\" is closed",
                      s->dataset);
        return NULL;
    }
    *epoch = s->epoch;
    if (s->n_idle > 0) {
        PGconn *c = s->idle[--s->n_idle];
        pthread_mutex_unlock(&s->lock);
        return c;
    }
    s->n_open++;
    pthread_mutex_unlock(&s->lock);
    PGconn *c = pg_connect(s, err);
    if (!c) {
        pthread_mutex_lock(&s->lock);
        s->n_open--;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->lock);
    }
    return c;
}

void clove__pg_release(clove_pg_source_t *s, PGconn *c, uint64_t epoch, bool gone)
{
    if (!c) return;
    bool keep = !gone && PQstatus(c) == CONNECTION_OK &&
                PQtransactionStatus(c) == PQTRANS_IDLE;
    pthread_mutex_lock(&s->lock);
    if (gone && epoch == s->epoch) {
        /* the server went away: every idle connection is from before, drop them */
        s->epoch++;
        close_idle(s);
    }
    if (keep && epoch == s->epoch && !s->closed && s->n_idle < s->pool_max) {
        s->idle[s->n_idle++] = c;
        c = NULL;
    } else {
        s->n_open--;
        conn_forget(s, c);
    }
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    if (c) PQfinish(c);
}

/* ---- schema -------------------------------------------------------------------------------- */

#define SCHEMA_SQL                                                                             \
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod), b.oid::int8, b.typtype::text, "   \
    "b.typcategory::text, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END, "   \
    "eb.oid::int8, eb.typtype::text, eb.typcategory::text "                                    \
    "FROM pg_catalog.pg_attribute a "                                                          \
    "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "                                         \
    "JOIN pg_catalog.pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype "       \
    "ELSE t.oid END "                                                                          \
    "LEFT JOIN pg_catalog.pg_type e ON e.oid = b.typelem AND b.typcategory = 'A' "             \
    "LEFT JOIN pg_catalog.pg_type eb ON eb.oid = CASE WHEN e.typtype = 'd' THEN "              \
    "e.typbasetype ELSE e.oid END "                                                            \
    "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"

/* The table's columns as one string, computed by PostgreSQL from the catalog the way
 * clove_pg_source_load_schema writes them (%s: the table as a literal). */
#define COLUMNS_EXPR                                                                           \
    "(SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' "       \
    "ORDER BY a.attnum) FROM pg_catalog.pg_attribute a WHERE a.attrelid = %s::regclass AND "  \
    "a.attnum > 0 AND NOT a.attisdropped)"

#define ENUM_SQL                                                                               \
    "SELECT enumtypid::int8, enumlabel FROM pg_catalog.pg_enum WHERE enumtypid = "             \
    "ANY($1::oid[]) ORDER BY enumtypid, enumsortorder"

/* Maps a base type (not an array) to a decoder; false when clove has none for it. */
static bool map_base(int64_t oid, const char *typtype, int typmod, pg_type_t *t, bool *exact)
{
    *exact = true;
    switch (oid) {
    case 16: t->kind = PGK_BOOL; return true;
    case 21: t->kind = PGK_INT2; return true;
    case 23: t->kind = PGK_INT4; return true;
    case 20: t->kind = PGK_INT8; return true;
    case 700: t->kind = PGK_FLOAT4; return true;
    case 701: t->kind = PGK_FLOAT8; return true;
    case 1700: {
        if (typmod < 4) {
            *exact = false; /* unconstrained: no DECIMAL holds every value */
            return false;
        }
        int p = ((typmod - 4) >> 16) & 0xffff;
        int sc = (typmod - 4) & 0x7ff;
        if (sc & 0x400) sc -= 0x800; /* negative scales (PostgreSQL 15) */
        if (p < 1 || p > 38 || sc < 0 || sc > p) {
            *exact = false;
            return false;
        }
        t->kind = PGK_NUMERIC;
        t->width = p;
        t->scale = sc;
        return true;
    }
    case 25:
    case 1043:
    case 1042:
    case 19:
    case 18: t->kind = PGK_TEXT; return true;
    case 114: t->kind = PGK_JSON; return true;
    case 3802: t->kind = PGK_JSONB; return true;
    case 17: t->kind = PGK_BYTEA; return true;
    case 1082: t->kind = PGK_DATE; return true;
    case 1083: t->kind = PGK_TIME; return true;
    case 1266: t->kind = PGK_TIMETZ; return true;
    case 1114: t->kind = PGK_TIMESTAMP; return true;
    case 1184: t->kind = PGK_TIMESTAMPTZ; return true;
    case 1186: t->kind = PGK_INTERVAL; return true;
    case 2950: t->kind = PGK_UUID; return true;
    default:
        if (typtype && !strcmp(typtype, "e")) {
            t->kind = PGK_ENUM;
            return true;
        }
        return false;
    }
}

static clove_pushdown_col_kind_t push_kind(const pg_col_t *c, int64_t oid, bool utf8)
{
    /* a column read as ::text is not the column: nothing about it goes to PostgreSQL */
    if (c->as_text) return CLOVE_PUSHDOWN_COL_NONE;
    if (c->is_array) return CLOVE_PUSHDOWN_COL_NULLS;
    switch (c->t.kind) {
    case PGK_BOOL: return CLOVE_PUSHDOWN_COL_BOOL;
    case PGK_INT2:
    case PGK_INT4:
    case PGK_INT8: return CLOVE_PUSHDOWN_COL_INT;
    case PGK_FLOAT4: return CLOVE_PUSHDOWN_COL_FLOAT;
    case PGK_FLOAT8: return CLOVE_PUSHDOWN_COL_DOUBLE;
    case PGK_NUMERIC: return CLOVE_PUSHDOWN_COL_DECIMAL;
    case PGK_TEXT:
        /* text and varchar compare like DuckDB under COLLATE "C" in a UTF8 database; char(n)
         * ignores trailing blanks and "char" is a byte */
        return utf8 && (oid == 25 || oid == 1043 || oid == 19) ? CLOVE_PUSHDOWN_COL_TEXT
                                                                 : CLOVE_PUSHDOWN_COL_NULLS;
    case PGK_DATE: return CLOVE_PUSHDOWN_COL_DATE;
    case PGK_TIME: return CLOVE_PUSHDOWN_COL_TIME;
    case PGK_TIMESTAMP: return CLOVE_PUSHDOWN_COL_TIMESTAMP;
    case PGK_TIMESTAMPTZ: return CLOVE_PUSHDOWN_COL_TIMESTAMPTZ;
    case PGK_UUID: return CLOVE_PUSHDOWN_COL_UUID;
    case PGK_ENUM: return CLOVE_PUSHDOWN_COL_ENUM;
    default: return CLOVE_PUSHDOWN_COL_NULLS;
    }
}

static int cmp_label(const void *a, const void *b, void *arg)
{
    const pg_type_t *t = arg;
    return strcmp(t->labels[*(const uint32_t *)a], t->labels[*(const uint32_t *)b]);
}

/* Fills the labels of every enum column from one catalog query. */
static int load_enums(clove_pg_source_t *s, PGconn *c, pg_schema_t *sc, int64_t *enum_oids,
                      clove_err_t *err)
{
    clove_buf_t arr;
    clove_buf_init(&arr);
    clove_buf_putc(&arr, '{');
    size_t k = 0;
    for (size_t i = 0; i < sc->ncols; i++) {
        if (sc->cols[i].t.kind != PGK_ENUM || sc->cols[i].as_text) continue;
        clove_buf_printf(&arr, "%s%" PRId64, k++ ? "," : "", enum_oids[i]);
    }
    clove_buf_putc(&arr, '}');
    if (k == 0) {
        clove_buf_dispose(&arr);
        return 0;
    }
    const char *pv[1] = {arr.data};
    PGresult *r = PQexecParams(c, ENUM_SQL, 1, NULL, pv, NULL, NULL, 0);
    clove_buf_dispose(&arr);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char m[512];
        int rc = clove_err_set(err, CLOVE_EIO, "could not read the enum labels of \"%s\" from "
                               "PostgreSQL at \"%s\" for dataset \"%s\": %s", s->display,
                               s->endpoint, s->dataset,
                               clove__pg_msg(PQresultErrorMessage(r), m, sizeof m));
        PQclear(r);
        return rc;
    }
    int rows = PQntuples(r);
    for (size_t i = 0; i < sc->ncols; i++) {
        pg_type_t *t = &sc->cols[i].t;
        if (t->kind != PGK_ENUM || sc->cols[i].as_text) continue;
        for (int j = 0; j < rows; j++) {
            if (strtoll(PQgetvalue(r, j, 0), NULL, 10) != enum_oids[i]) continue;
            t->labels = clove_xrealloc(t->labels, (t->nlabels + 1) * sizeof *t->labels);
            t->labels[t->nlabels++] = clove_xstrdup(PQgetvalue(r, j, 1));
        }
        t->by_bytes = clove_xcalloc(t->nlabels ? t->nlabels : 1, sizeof *t->by_bytes);
        for (uint32_t j = 0; j < t->nlabels; j++) t->by_bytes[j] = j;
        qsort_r(t->by_bytes, t->nlabels, sizeof *t->by_bytes, cmp_label, t);
    }
    PQclear(r);
    return 0;
}

/* A DuckDB name not used yet (case-insensitively) among cols[0..n-1]. */
static char *unique_name(const pg_col_t *cols, size_t n, const char *want)
{
    char *name = clove_xstrdup(want);
    for (int k = 2;; k++) {
        bool clash = false;
        for (size_t i = 0; i < n && !clash; i++) clash = clove_str_ieq(cols[i].name, name);
        if (!clash) return name;
        free(name);
        name = clove_xasprintf("%s_%d", want, k);
    }
}

/* The check expression of a schema whose columns PostgreSQL lists as `columns`. */
static char *check_expr(const clove_pg_source_t *s, const char *columns)
{
    clove_buf_t t, b;
    clove_buf_init(&t);
    clove_buf_init(&b);
    clove_pushdown_pg_string(&t, s->qualified);
    clove_buf_putc(&b, '(');
    clove_buf_printf(&b, COLUMNS_EXPR, t.data);
    clove_buf_puts(&b, " IS NOT DISTINCT FROM ");
    clove_pushdown_pg_string(&b, columns);
    clove_buf_putc(&b, ')');
    clove_buf_dispose(&t);
    return clove_buf_steal(&b);
}

void clove__pg_columns_changed(clove_pg_source_t *s, char *msg, size_t cap)
{
    snprintf(msg, cap, "the columns of PostgreSQL table \"%s\" at \"%s\" changed since dataset "
             "\"%s\" read them", s->display, s->endpoint, s->dataset);
    clove__pg_event(s, CLOVE_SOURCE_CHANGED, msg);
}

int clove_pg_source_check_columns(clove_pg_source_t *s, bool *changed, clove_err_t *err)
{
    *changed = false;
    pg_schema_t *sc = clove__pg_schema_get(s);
    if (!sc) return clove_pg_source_load_schema(s, err);
    uint64_t epoch = 0;
    PGconn *c = clove__pg_acquire(s, &epoch, err);
    if (!c) {
        clove__pg_schema_unref(sc);
        return err ? err->code : CLOVE_EUNAVAILABLE;
    }
    char *sql = clove_xasprintf("SELECT %s", sc->check);
    clove__pg_schema_unref(sc);
    PGresult *r = PQexec(c, sql);
    free(sql);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char m[512];
        bool gone = PQstatus(c) == CONNECTION_BAD;
        rc = clove_err_set(err, gone ? CLOVE_EUNAVAILABLE : CLOVE_EQUERY,
                           "could not check the columns of \"%s\" in PostgreSQL at \"%s\" for "
                           "dataset \"%s\": %s", s->display, s->endpoint, s->dataset,
                           clove__pg_msg(PQresultErrorMessage(r), m, sizeof m));
        if (gone) clove__pg_lost(s, c, err ? err->message : m);
    } else {
        *changed = strcmp(PQgetvalue(r, 0, 0), "t") != 0;
    }
    PQclear(r);
    clove__pg_release(s, c, epoch, PQstatus(c) == CONNECTION_BAD);
    if (rc == 0 && *changed) rc = clove_pg_source_load_schema(s, err);
    return rc;
}

int clove_pg_source_load_schema(clove_pg_source_t *s, clove_err_t *err)
{
    uint64_t epoch = 0;
    PGconn *c = clove__pg_acquire(s, &epoch, err);
    if (!c) return err ? err->code : CLOVE_EIO;
    const char *pv[1] = {s->qualified};
    PGresult *r = PQexecParams(c, SCHEMA_SQL, 1, NULL, pv, NULL, NULL, 0);
    pg_schema_t *sc = NULL;
    int64_t *enum_oids = NULL;
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char m[512];
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        bool gone = PQstatus(c) == CONNECTION_BAD;
        if (state && (!strcmp(state, "42P01") || !strcmp(state, "3F000")))
            rc = clove_err_set(err, CLOVE_ENOTFOUND,
                               "table \"%s\" does not exist in PostgreSQL database \"%s\" at "
                               "\"%s\" (dataset \"%s\")", s->display,
                               s->dbname ? s->dbname : "(default)", s->endpoint, s->dataset);
        else
            rc = clove_err_set(err, gone ? CLOVE_EUNAVAILABLE : CLOVE_EQUERY,
                               "could not read the columns of \"%s\" from PostgreSQL at \"%s\" "
                               "for dataset \"%s\": %s", s->display, s->endpoint, s->dataset,
                               clove__pg_msg(PQresultErrorMessage(r), m, sizeof m));
        if (gone) clove__pg_lost(s, c, err ? err->message : m);
        PQclear(r);
        clove__pg_release(s, c, epoch, gone);
        return rc;
    }
    const char *enc = PQparameterStatus(c, "server_encoding");
    bool utf8 = enc && (!strcasecmp(enc, "UTF8") || !strcasecmp(enc, "UTF-8"));
    int rows = PQntuples(r);
    sc = clove_xcalloc(1, sizeof *sc);
    atomic_init(&sc->refs, 1);
    sc->cols = clove_xcalloc(rows ? (size_t)rows : 1, sizeof *sc->cols);
    enum_oids = clove_xcalloc(rows ? (size_t)rows : 1, sizeof *enum_oids);
    clove_buf_t columns; /* every column, as COLUMNS_EXPR lists them */
    clove_buf_init(&columns);
    for (int i = 0; i < rows; i++) {
        const char *attname = PQgetvalue(r, i, 0);
        const char *ftype = PQgetvalue(r, i, 1);
        int64_t oid = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        const char *typtype = PQgetvalue(r, i, 3);
        const char *cat = PQgetvalue(r, i, 4);
        int typmod = atoi(PQgetvalue(r, i, 5));
        clove_buf_printf(&columns, "%s%s %s", i ? ", " : "", attname, ftype);
        pg_col_t col = {0};
        bool exact = true, ok;
        int64_t vo = oid;
        if (!strcmp(cat, "A") && !PQgetisnull(r, i, 6)) {
            vo = strtoll(PQgetvalue(r, i, 6), NULL, 10);
            col.is_array = true;
            ok = map_base(vo, PQgetvalue(r, i, 7), typmod, &col.t, &exact);
        } else {
            ok = !strcmp(cat, "A") ? false : map_base(oid, typtype, typmod, &col.t, &exact);
        }
        if (!ok) {
            const char *why = exact ? "clove has no DuckDB type for it"
                                    : "no DuckDB DECIMAL holds all of its values exactly";
            if (s->unsupported == UNSUPPORTED_ERROR) {
                rc = clove_err_set(err, CLOVE_EUNSUPPORTED,
                                   "column \"%s\" of PostgreSQL table \"%s\" (dataset \"%s\") has "
                                   "type %s: %s; set params.unsupported_type_action to string "
                                   "(read it as text), warn or ignore (leave the column out)",
                                   attname, s->display, s->dataset, ftype, why);
                goto done;
            }
            if (s->unsupported != UNSUPPORTED_STRING) {
                if (s->unsupported == UNSUPPORTED_WARN)
                    clove_warn(COMP, "dataset %s: column \"%s\" (type %s) of \"%s\" is left out: "
                               "%s", s->dataset, attname, ftype, s->display, why);
                continue;
            }
            memset(&col, 0, sizeof col);
            col.t.kind = PGK_TEXT;
            col.as_text = true;
        }
        col.pgname = clove_xstrdup(attname);
        col.pgtype = clove_xstrdup(ftype);
        col.oid = col.as_text ? 25 : (uint32_t)oid;
        col.typmod = col.as_text ? -1 : typmod;
        col.name = unique_name(sc->cols, sc->ncols, attname);
        col.push = push_kind(&col, vo, utf8);
        enum_oids[sc->ncols] = vo;
        sc->cols[sc->ncols++] = col;
    }
    if (sc->ncols == 0) {
        rc = clove_err_set(err, CLOVE_EUNSUPPORTED,
                           "PostgreSQL table \"%s\" (dataset \"%s\") has no columns clove can "
                           "read", s->display, s->dataset);
        goto done;
    }
    if ((rc = load_enums(s, c, sc, enum_oids, err)) != 0) goto done;
    sc->check = check_expr(s, columns.data ? columns.data : "");
done:
    clove_buf_dispose(&columns);
    PQclear(r);
    free(enum_oids);
    clove__pg_release(s, c, epoch, PQstatus(c) == CONNECTION_BAD);
    if (rc != 0) {
        clove__pg_schema_unref(sc);
        return rc;
    }
    pthread_mutex_lock(&s->lock);
    pg_schema_t *old = s->schema;
    s->schema = sc;
    pthread_mutex_unlock(&s->lock);
    clove__pg_schema_unref(old);
    return 0;
}

duckdb_logical_type clove__pg_col_type(const pg_col_t *c)
{
    duckdb_logical_type t;
    const pg_type_t *v = &c->t;
    switch (v->kind) {
    case PGK_BOOL: t = duckdb_create_logical_type(DUCKDB_TYPE_BOOLEAN); break;
    case PGK_INT2: t = duckdb_create_logical_type(DUCKDB_TYPE_SMALLINT); break;
    case PGK_INT4: t = duckdb_create_logical_type(DUCKDB_TYPE_INTEGER); break;
    case PGK_INT8: t = duckdb_create_logical_type(DUCKDB_TYPE_BIGINT); break;
    case PGK_FLOAT4: t = duckdb_create_logical_type(DUCKDB_TYPE_FLOAT); break;
    case PGK_FLOAT8: t = duckdb_create_logical_type(DUCKDB_TYPE_DOUBLE); break;
    case PGK_NUMERIC:
        t = duckdb_create_decimal_type((uint8_t)v->width, (uint8_t)v->scale);
        break;
    case PGK_JSON:
    case PGK_JSONB:
        t = duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
        duckdb_logical_type_set_alias(t, "JSON");
        break;
    case PGK_BYTEA: t = duckdb_create_logical_type(DUCKDB_TYPE_BLOB); break;
    case PGK_HUGEINT: t = duckdb_create_logical_type(DUCKDB_TYPE_HUGEINT); break;
    case PGK_DATE: t = duckdb_create_logical_type(DUCKDB_TYPE_DATE); break;
    case PGK_TIME: t = duckdb_create_logical_type(DUCKDB_TYPE_TIME); break;
    case PGK_TIMETZ: t = duckdb_create_logical_type(DUCKDB_TYPE_TIME_TZ); break;
    case PGK_TIMESTAMP: t = duckdb_create_logical_type(DUCKDB_TYPE_TIMESTAMP); break;
    case PGK_TIMESTAMPTZ: t = duckdb_create_logical_type(DUCKDB_TYPE_TIMESTAMP_TZ); break;
    case PGK_INTERVAL: t = duckdb_create_logical_type(DUCKDB_TYPE_INTERVAL); break;
    case PGK_UUID: t = duckdb_create_logical_type(DUCKDB_TYPE_UUID); break;
    case PGK_ENUM:
        t = duckdb_create_enum_type((const char **)v->labels, v->nlabels);
        break;
    default: t = duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR); break;
    }
    if (!c->is_array) return t;
    duckdb_logical_type l = duckdb_create_list_type(t);
    duckdb_destroy_logical_type(&t);
    return l;
}

clove_pushdown_col_t *clove_pg_source_pushdown_cols(clove_pg_source_t *s, size_t *n)
{
    pg_schema_t *sc = clove__pg_schema_get(s);
    *n = 0;
    if (!sc) return NULL;
    clove_pushdown_col_t *cols = clove_xcalloc(sc->ncols ? sc->ncols : 1, sizeof *cols);
    for (size_t i = 0; i < sc->ncols; i++) {
        const pg_col_t *c = &sc->cols[i];
        cols[i].name = clove_xstrdup(c->name);
        cols[i].source = clove_xstrdup(c->pgname);
        cols[i].kind = c->push;
        cols[i].width = c->t.width;
        cols[i].scale = c->t.scale;
    }
    *n = sc->ncols;
    clove__pg_schema_unref(sc);
    return cols;
}

void clove_pg_pushdown_cols_free(clove_pushdown_col_t *cols, size_t n)
{
    for (size_t i = 0; cols && i < n; i++) {
        free((char *)cols[i].name);
        free((char *)cols[i].source);
    }
    free(cols);
}

int clove_pg_register(duckdb_connection conn, clove_err_t *err)
{
    return clove__pg_scan_register(conn, err);
}

const char *clove_pg_source_remote_table(const clove_pg_source_t *s)
{
    return s->qualified;
}

bool clove_pg_source_same_server(const clove_pg_source_t *a, const clove_pg_source_t *b)
{
    if (a == b) return true;
    size_t i = 0;
    for (; a->keys[i] && b->keys[i]; i++)
        if (strcmp(a->keys[i], b->keys[i]) != 0 || strcmp(a->vals[i], b->vals[i]) != 0)
            return false;
    return !a->keys[i] && !b->keys[i];
}

char *clove_pg_query_expr(const clove_pg_source_t *s, const char *remote_sql,
                          const clove_pg_out_t *outs, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const clove_pg_out_t *o = &outs[i];
        json_t *e = o->source ? json_pack("{s:s, s:I, s:I}", "name", o->name, "src",
                                          (json_int_t)o->source->id, "col", (json_int_t)o->col)
                              : json_pack("{s:s, s:i, s:i, s:i}", "name", o->name, "type",
                                          (int)o->type, "width", (int)o->width, "scale",
                                          (int)o->scale);
        json_array_append_new(arr, e);
    }
    char *spec = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    clove_buf_t b;
    clove_buf_init(&b);
    clove_buf_printf(&b, CLOVE_PG_QUERY_FN "(%" PRId64 ", ", s->id);
    for (int k = 0; k < 2; k++) {
        const char *v = k == 0 ? remote_sql : (spec ? spec : "[]");
        clove_buf_putc(&b, '\'');
        for (; *v; v++) {
            if (*v == '\'') clove_buf_putc(&b, '\'');
            clove_buf_putc(&b, *v);
        }
        clove_buf_puts(&b, k == 0 ? "', " : "')");
    }
    free(spec);
    return clove_buf_steal(&b);
}
