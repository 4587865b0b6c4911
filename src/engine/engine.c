/*
 * engine.c: the DuckDB database, the pooled query connections with their prepared-statement
 * caches, the query path (sandbox -> readiness gate -> prepare -> bind -> stream), and the
 * watchdog thread that interrupts queries past their deadline or whose client went away.
 */
#include "engine/engine_int.h"

#include <jansson.h>

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define COMP "engine"

static void copy_params(clove_query_t *q, const clove_query_req_t *req);
static void free_params(clove_query_t *q);
static bool zero_fallback(clove_query_t *q);
static void source_failure(const stmt_entry_t *s, clove_err_t *err);
static void changed_after_start(clove_query_t *q, clove_err_t *err);
static void query_reset(clove_query_t *q);
static bool reload_changed_columns(const stmt_entry_t *s);

/* ---- small helpers ---------------------------------------------------------------------- */

int clove__exec(duckdb_connection conn, const char *sql, clove_err_t *err)
{
    duckdb_result res;
    int rc = 0;
    if (duckdb_query(conn, sql, &res) == DuckDBError) {
        rc = clove_err_set(err, CLOVE_EQUERY, "%s",
                           clove__clean_duckdb_error(duckdb_result_error(&res)));
    }
    duckdb_destroy_result(&res);
    return rc;
}

const char *clove__clean_duckdb_error(const char *msg)
{
    if (!msg) return "unknown error";
    /* "Binder Error: Referenced column ..." -> keep DuckDB's class: users recognise it, but
     * drop the "LINE 1:" caret block that follows a newline. */
    return msg;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int ncpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

const clove_config_t *clove_engine_config(const clove_engine_t *e) { return e->cfg; }

/* Secret values shorter than this are not searched for: they would match ordinary words. */
#define SECRET_MIN_LEN 4

static void collect_secrets(clove_engine_t *e, const clove_kvlist_t *l)
{
    for (size_t i = 0; i < l->len; i++) {
        const char *v = l->items[i].value;
        if (!l->items[i].secret || !v || strlen(v) < SECRET_MIN_LEN) continue;
        e->secrets = clove_xrealloc(e->secrets, (e->n_secrets + 1) * sizeof *e->secrets);
        e->secrets[e->n_secrets++] = clove_xstrdup(v);
    }
}

void clove__redact(const clove_engine_t *e, char *msg, size_t cap)
{
    static const char R[] = "[REDACTED]";
    for (size_t i = 0; e && msg && i < e->n_secrets; i++) {
        const char *sv = e->secrets[i];
        size_t sl = strlen(sv), rl = sizeof R - 1;
        char *p;
        while ((p = strstr(msg, sv)) != NULL) {
            size_t tail = strlen(p + sl);
            if ((size_t)(p - msg) + rl + tail + 1 > cap) { /* no room: cut the message */
                memcpy(p, R, rl < cap - (size_t)(p - msg) - 1 ? rl : cap - (size_t)(p - msg) - 1);
                p[rl < cap - (size_t)(p - msg) - 1 ? rl : cap - (size_t)(p - msg) - 1] = '\0';
                break;
            }
            memmove(p + rl, p + sl, tail + 1);
            memcpy(p, R, rl);
        }
    }
}

/* ---- watchdog ----------------------------------------------------------------------------- */

static void *watchdog_main(void *arg)
{
    clove_engine_t *e = arg;
    clove_thread_name("clove-watchdog");
    /* The watchdog keeps ticking for a while after the last watched query so that a steady
     * stream of queries never pays a thread wake-up; it sleeps for good once idle. */
    const int64_t linger_ns = 2000 * 1000000ll;
    int64_t idle_since = 0;
    pthread_mutex_lock(&e->wd_lock);
    while (!e->wd_stop) {
        int64_t now = clove_mono_ns();
        if (!e->wd_head) {
            if (!idle_since) idle_since = now;
            if (now - idle_since >= linger_ns) {
                e->wd_sleeping = true;
                pthread_cond_wait(&e->wd_cond, &e->wd_lock);
                e->wd_sleeping = false;
                idle_since = 0;
                continue;
            }
        } else {
            idle_since = 0;
        }
        for (clove_query_t *q = e->wd_head; q; q = q->next) {
            bool stop = false;
            if (q->deadline_ns && now >= q->deadline_ns && !atomic_load(&q->timed_out)) {
                atomic_store(&q->timed_out, true);
                stop = true;
            }
            if (q->client_fd >= 0 && !atomic_load(&q->canceled)) {
                struct pollfd p = {.fd = q->client_fd, .events = POLLRDHUP};
                if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
                    atomic_store(&q->canceled, true);
                    stop = true;
                }
            }
            if (stop) duckdb_interrupt(q->pc->conn);
            /* still here well past the deadline: the thread is not in DuckDB but blocked
             * sending to a client that stopped reading. Shutting the socket down makes that
             * send fail, which ends the query and frees its slot. */
            if (q->deadline_ns && q->client_fd >= 0 && !q->fd_shut &&
                now >= q->deadline_ns + 1000 * 1000000ll) {
                q->fd_shut = true;
                shutdown(q->client_fd, SHUT_RDWR);
                clove_warn(COMP, "closed a client connection that stopped reading an answer "
                           "past runtime.query.timeout");
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&e->wd_cond, &e->wd_lock, &ts);
    }
    pthread_mutex_unlock(&e->wd_lock);
    return NULL;
}

static void wd_add(clove_engine_t *e, clove_query_t *q)
{
    if (!q->deadline_ns && q->client_fd < 0) return;
    pthread_mutex_lock(&e->wd_lock);
    q->in_wd = true;
    q->prev = NULL;
    q->next = e->wd_head;
    if (e->wd_head) e->wd_head->prev = q;
    e->wd_head = q;
    if (e->wd_sleeping) pthread_cond_signal(&e->wd_cond);
    pthread_mutex_unlock(&e->wd_lock);
}

static void wd_remove(clove_engine_t *e, clove_query_t *q)
{
    if (!q->in_wd) return;
    pthread_mutex_lock(&e->wd_lock);
    q->in_wd = false;
    if (q->prev) q->prev->next = q->next;
    else if (e->wd_head == q) e->wd_head = q->next;
    if (q->next) q->next->prev = q->prev;
    q->prev = q->next = NULL;
    pthread_mutex_unlock(&e->wd_lock);
}

/* ---- connection pool ---------------------------------------------------------------------- */

static void stmt_entry_clear(stmt_entry_t *s)
{
    for (size_t i = 0; s->remote_filters && i < s->n_deps; i++) free(s->remote_filters[i]);
    free(s->remote_filters);
    if (s->stmt) duckdb_destroy_prepare(&s->stmt);
    clove_pg_plan_destroy(s->pg_plan);
    free(s->sql);
    free(s->deps);
    free(s->not_ready_view);
    free(s->exec_sql);
    memset(s, 0, sizeof *s);
}

static int open_conn(clove_engine_t *e, duckdb_connection *out, clove_err_t *err)
{
    if (duckdb_connect(e->db, out) == DuckDBError)
        return clove_err_set(err, CLOVE_EINTERNAL, "could not open a DuckDB connection");
    if (clove__exec(*out, "USE spice.public", err) != 0) {
        duckdb_disconnect(out);
        return err ? err->code : CLOVE_EINTERNAL;
    }
    return 0;
}

static void pool_release(clove_engine_t *e, pooled_conn_t *pc);

/* Takes a connection, waiting up to the deadline. */
static pooled_conn_t *pool_acquire(clove_engine_t *e, int64_t deadline_ns, clove_err_t *err)
{
    pthread_mutex_lock(&e->pool_lock);
    while (!e->free_list) {
        if (atomic_load(&e->shutting_down)) {
            pthread_mutex_unlock(&e->pool_lock);
            clove_err_set(err, CLOVE_ESHUTDOWN, "Runtime is shutting down");
            return NULL;
        }
        if (e->waiters >= e->max_waiters) {
            pthread_mutex_unlock(&e->pool_lock);
            clove_err_set(err, CLOVE_EBUSY,
                          "too many queries: %zu running and %d waiting "
                          "(runtime.query.max_concurrent_queries)", e->n_conns, e->waiters);
            return NULL;
        }
        e->waiters++;
        if (deadline_ns) {
            int64_t wall = clove_now_ms() * 1000000 + (deadline_ns - clove_mono_ns());
            struct timespec ts = {.tv_sec = wall / 1000000000, .tv_nsec = wall % 1000000000};
            int rc = pthread_cond_timedwait(&e->pool_cond, &e->pool_lock, &ts);
            e->waiters--;
            if (rc == ETIMEDOUT && !e->free_list) {
                pthread_mutex_unlock(&e->pool_lock);
                clove_err_set(err, CLOVE_ETIMEDOUT,
                              "query timed out while waiting for a free query slot");
                return NULL;
            }
        } else {
            pthread_cond_wait(&e->pool_cond, &e->pool_lock);
            e->waiters--;
        }
    }
    pooled_conn_t *pc = e->free_list;
    e->free_list = pc->next_free;
    pthread_mutex_unlock(&e->pool_lock);
    if (!pc->conn) { /* connections open on first use: a short start and a small idle RSS */
        duckdb_connection conn = NULL;
        if (open_conn(e, &conn, err) != 0) {
            pool_release(e, pc);
            return NULL;
        }
        if (!(pc->sandbox = clove_sandbox_create(conn, err))) {
            duckdb_disconnect(&conn);
            pool_release(e, pc);
            return NULL;
        }
        pthread_mutex_lock(&e->wd_lock); /* the drain reads conns[] under wd_lock */
        pc->conn = conn;
        pthread_mutex_unlock(&e->wd_lock);
    }
    return pc;
}

static void pool_release(clove_engine_t *e, pooled_conn_t *pc)
{
    pthread_mutex_lock(&e->pool_lock);
    pc->next_free = e->free_list;
    e->free_list = pc;
    pthread_cond_signal(&e->pool_cond);
    pthread_mutex_unlock(&e->pool_lock);
}

/* ---- create / destroy --------------------------------------------------------------------- */

static int set_opt(duckdb_config c, const char *k, const char *v, clove_err_t *err)
{
    if (duckdb_set_config(c, k, v) == DuckDBError)
        return clove_err_set(err, CLOVE_ECONFIG, "could not set DuckDB option %s=%s", k, v);
    return 0;
}

clove_engine_t *clove_engine_create(clove_config_t *cfg, const clove_engine_opts_t *opts,
                                    clove_err_t *err)
{
    clove_engine_t *e = clove_xcalloc(1, sizeof *e);
    e->cfg = clove_config_ref(cfg);
    pthread_mutex_init(&e->admin_lock, NULL);
    pthread_mutex_init(&e->views_lock, NULL);
    pthread_mutex_init(&e->pool_lock, NULL);
    pthread_cond_init(&e->pool_cond, NULL);
    pthread_mutex_init(&e->wd_lock, NULL);
    pthread_cond_init(&e->wd_cond, NULL);
    e->data_dir = clove_xstrdup(opts && opts->data_dir ? opts->data_dir : "");
    if (!*e->data_dir) {
        free(e->data_dir);
        e->data_dir = clove_xasprintf("%s/.clove/data", cfg->dir);
    }

    duckdb_config dc = NULL;
    char *open_err = NULL;
    char buf[64];
    if (duckdb_create_config(&dc) == DuckDBError) {
        clove_err_set(err, CLOVE_EINTERNAL, "could not create the DuckDB configuration");
        goto fail;
    }
    if (set_opt(dc, "autoinstall_known_extensions", "false", err) ||
        set_opt(dc, "autoload_known_extensions", "false", err) ||
        set_opt(dc, "allow_community_extensions", "false", err))
        goto fail;
    /* one engine serves every dataset: runtime.query.memory_limit, else the largest
     * params.duckdb_memory_limit of a dataset */
    uint64_t mem = cfg->runtime.query_memory_limit;
    for (size_t i = 0; !mem && i < cfg->n_datasets; i++) {
        const char *v = clove_kv_get(&cfg->datasets[i].acceleration.params, "duckdb_memory_limit");
        uint64_t b = 0;
        if (!v) continue;
        if (clove_parse_size_bytes(v, &b) != 0) {
            clove_err_set(err, CLOVE_ECONFIG,
                          "dataset %s: params.duckdb_memory_limit: expected a size like 2GiB; "
                          "got \"%s\"", cfg->datasets[i].name, v);
            goto fail;
        }
        for (size_t j = i; j < cfg->n_datasets; j++) {
            const char *w = clove_kv_get(&cfg->datasets[j].acceleration.params,
                                         "duckdb_memory_limit");
            uint64_t c = 0;
            if (w && clove_parse_size_bytes(w, &c) == 0 && c > b) b = c;
        }
        mem = b;
    }
    if (mem) {
        snprintf(buf, sizeof buf, "%lluB", (unsigned long long)mem);
        if (set_opt(dc, "memory_limit", buf, err)) goto fail;
    }
    if (duckdb_open_ext(NULL, &e->db, dc, &open_err) == DuckDBError) {
        clove_err_set(err, CLOVE_EINTERNAL, "could not open DuckDB: %s",
                      open_err ? open_err : "unknown error");
        duckdb_free(open_err);
        goto fail;
    }
    duckdb_destroy_config(&dc);

    if (duckdb_connect(e->db, &e->admin) == DuckDBError) {
        clove_err_set(err, CLOVE_EINTERNAL, "could not connect to DuckDB");
        goto fail;
    }
    if (clove__exec(e->admin, "ATTACH ':memory:' AS spice", err) ||
        clove__exec(e->admin, "CREATE SCHEMA spice.public", err) ||
        clove__exec(e->admin, "USE spice.public", err))
        goto fail;

    for (size_t i = 0; i < cfg->n_secret_values; i++) {
        if (strlen(cfg->secret_values[i]) < SECRET_MIN_LEN) continue;
        e->secrets = clove_xrealloc(e->secrets, (e->n_secrets + 1) * sizeof *e->secrets);
        e->secrets[e->n_secrets++] = clove_xstrdup(cfg->secret_values[i]);
    }
    for (size_t i = 0; i < cfg->n_datasets; i++) {
        collect_secrets(e, &cfg->datasets[i].params);
        collect_secrets(e, &cfg->datasets[i].acceleration.params);
    }
    if (clove_sqlite_accel_register(e->admin, err) != 0) goto fail;
    if (clove_pg_register(e->admin, err) != 0) goto fail;
    if (clove__datasets_init(e, err) != 0) goto fail;

    /* connection pool */
    e->n_conns = cfg->runtime.max_concurrent_queries > 0
                     ? (size_t)cfg->runtime.max_concurrent_queries : (size_t)(4 * ncpus());
    e->max_waiters = (int)(e->n_conns * 16 < 1024 ? 1024 : e->n_conns * 16);
    e->conns = clove_xcalloc(e->n_conns, sizeof *e->conns);
    for (size_t i = 0; i < e->n_conns; i++) {
        e->conns[i].next_free = e->free_list;
        e->free_list = &e->conns[i];
    }

    if (pthread_create(&e->wd_thread, NULL, watchdog_main, e) != 0) {
        clove_err_set(err, CLOVE_EINTERNAL, "could not start the query watchdog thread");
        goto fail;
    }
    return e;

fail:
    if (dc) duckdb_destroy_config(&dc);
    e->wd_thread = 0;
    clove_engine_destroy(e);
    return NULL;
}

static void add_msg(char ***msgs, size_t *n, char *m)
{
    *msgs = clove_xrealloc(*msgs, (*n + 1) * sizeof **msgs);
    (*msgs)[(*n)++] = m;
}

size_t clove_engine_validate(const clove_config_t *cfg, char ***msgs, size_t *n)
{
    duckdb_database db = NULL;
    duckdb_connection conn = NULL;
    size_t before = *n;
    const char *base = strrchr(cfg->path, '/') ? strrchr(cfg->path, '/') + 1 : cfg->path;
    if (duckdb_open(NULL, &db) == DuckDBError || duckdb_connect(db, &conn) == DuckDBError) {
        add_msg(msgs, n, clove_xstrdup("could not open DuckDB to check the spicepod's SQL"));
        goto out;
    }
    for (size_t i = 0; i < cfg->n_views; i++) {
        clove_sandbox_result_t sb = {0};
        clove_err_t err;
        if (clove_sandbox_check(conn, cfg->views[i].sql, &sb, &err) != 0)
            add_msg(msgs, n, clove_xasprintf("%s:%d:%d: views[%zu].sql: %s", base,
                                             cfg->views[i].line, cfg->views[i].col, i,
                                             err.message));
        clove_sandbox_result_dispose(&sb);
    }
    for (size_t i = 0; i < cfg->n_datasets; i++) {
        /* S3 and HTTP(S) params (no network, nothing created) */
        const clove_dataset_cfg_t *c = &cfg->datasets[i];
        if (!clove_source_claims(c->from)) continue;
        clove_err_t err;
        clove_err_clear(&err);
        clove_source_t *src = clove_source_create(c, NULL, NULL, &err);
        if (src) {
            clove_source_destroy(src);
            continue;
        }
        for (size_t k = 0; k < cfg->n_secret_values; k++) { /* a value may echo a secret */
            const char *sv = cfg->secret_values[k];
            char *p;
            if (strlen(sv) < SECRET_MIN_LEN) continue;
            while ((p = strstr(err.message, sv)) != NULL)
                memset(p, '*', strlen(sv));
        }
        const char *m = err.message;
        char pfx[300];
        int pl = snprintf(pfx, sizeof pfx, "dataset %s: ", c->name);
        if (pl > 0 && !strncmp(m, pfx, (size_t)pl)) m += pl; /* the position says which */
        add_msg(msgs, n, clove_xasprintf("%s:%d:%d: datasets[%zu].params: %s", base, c->line,
                                         c->col, i, m));
    }
    for (size_t i = 0; i < cfg->n_datasets; i++) {
        const clove_dataset_cfg_t *c = &cfg->datasets[i];
        /* connector parameters (nothing connects) */
        if (!strncmp(c->from, "postgres:", 9)) {
            clove_err_t err;
            clove_pg_source_t *ps = clove_pg_source_create(c->name, c->from, &c->params, &err);
            if (ps) clove_pg_source_destroy(ps);
            else add_msg(msgs, n, clove_xasprintf("%s:%d:%d: datasets[%zu]: %s", base, c->line,
                                                  c->col, i, err.message));
        } else if (!strncmp(c->from, "duckdb:", 7) && !clove_kv_get(&c->params, "duckdb_open")) {
            add_msg(msgs, n, clove_xasprintf("%s:%d:%d: datasets[%zu].params.duckdb_open is "
                                             "required for from: \"%s\"", base, c->line, c->col,
                                             i, c->from));
        }
        if (!c->acceleration.enabled) continue;
        dataset_t d = {.cfg = c};
        clove_err_t err;
        if (c->acceleration.refresh_sql &&
            clove__validate_refresh_sql(&d, conn, c->acceleration.refresh_sql, &err) != 0)
            add_msg(msgs, n, clove_xasprintf("%s:%d:%d: datasets[%zu].acceleration.refresh_sql: "
                                             "%s", base, c->line, c->col, i, err.message));
    }
out:
    if (conn) duckdb_disconnect(&conn);
    if (db) duckdb_close(&db);
    return *n - before;
}

int clove_engine_start(clove_engine_t *e)
{
    if (e->started) return 0;
    e->started = true;
    clove__datasets_start(e);
    return 0;
}

void clove_engine_begin_shutdown(clove_engine_t *e)
{
    atomic_store(&e->shutting_down, true);
    pthread_mutex_lock(&e->pool_lock);
    pthread_cond_broadcast(&e->pool_cond);
    pthread_mutex_unlock(&e->pool_lock);
    clove__datasets_stop(e);
}

bool clove_engine_drain(clove_engine_t *e, int64_t timeout_ms)
{
    int64_t end = clove_mono_ns() + timeout_ms * 1000000;
    while (atomic_load(&e->active_queries) > 0) {
        if (clove_mono_ns() >= end) {
            /* interrupt whatever still runs */
            pthread_mutex_lock(&e->wd_lock);
            for (size_t i = 0; i < e->n_conns; i++)
                if (e->conns[i].conn) duckdb_interrupt(e->conns[i].conn);
            pthread_mutex_unlock(&e->wd_lock);
            return false;
        }
        usleep(5000);
    }
    return true;
}

bool clove_engine_stop_threads(clove_engine_t *e, int64_t timeout_ms)
{
    atomic_store(&e->shutting_down, true);
    clove__datasets_stop(e);
    return clove__datasets_join(e, timeout_ms);
}

void clove_engine_destroy(clove_engine_t *e)
{
    if (!e) return;
    atomic_store(&e->shutting_down, true);
    clove__datasets_stop(e);
    /* a dataset thread blocked in a source read cannot be interrupted: callers that must not
     * hang use clove_engine_stop_threads first and skip destroy when it fails */
    while (!clove__datasets_join(e, 1000))
        clove_warn(COMP, "waiting for a dataset thread blocked reading its source");
    if (e->wd_thread) {
        pthread_mutex_lock(&e->wd_lock);
        e->wd_stop = true;
        pthread_cond_signal(&e->wd_cond);
        pthread_mutex_unlock(&e->wd_lock);
        pthread_join(e->wd_thread, NULL);
    }
    for (size_t i = 0; e->conns && i < e->n_conns; i++) {
        for (size_t j = 0; j < STMT_CACHE_SIZE; j++) stmt_entry_clear(&e->conns[i].cache[j]);
        if (e->conns[i].sandbox) clove_sandbox_destroy(e->conns[i].sandbox);
        if (e->conns[i].arrow_opts) duckdb_destroy_arrow_options(&e->conns[i].arrow_opts);
        if (e->conns[i].conn) duckdb_disconnect(&e->conns[i].conn);
    }
    free(e->conns);
    clove__datasets_dispose(e);
    if (e->admin) duckdb_disconnect(&e->admin);
    if (e->db) duckdb_close(&e->db);
    pthread_mutex_destroy(&e->admin_lock);
    pthread_mutex_destroy(&e->views_lock);
    pthread_mutex_destroy(&e->pool_lock);
    pthread_cond_destroy(&e->pool_cond);
    pthread_mutex_destroy(&e->wd_lock);
    pthread_cond_destroy(&e->wd_cond);
    free(e->data_dir);
    for (size_t i = 0; i < e->n_secrets; i++) free(e->secrets[i]);
    free(e->secrets);
    clove_config_unref(e->cfg);
    free(e);
}

/* ---- queries ------------------------------------------------------------------------------ */

static void count_failure(const char *reason)
{
    char labels[96];
    snprintf(labels, sizeof labels, "err_code=\"%s\"", reason);
    clove_metric_counter_add("query_failures", "Number of query failures.", labels, 1);
}

/* ---- partition pruning of remote sources ---------------------------------------------------- */

typedef struct {
    dataset_t **deps;
    size_t n;
    clove_buf_t *conds;          /* per dep: "(c1) OR (c2)" */
    bool *all;                   /* per dep: some reference reads everything */
} prune_walk_t;

static const char *json_str(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void prune_walk(prune_walk_t *w, json_t *node, int depth)
{
    if (depth > 200) { /* too deep to trust: every source reads everything */
        for (size_t i = 0; i < w->n; i++) w->all[i] = true;
        return;
    }
    if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v) prune_walk(w, v, depth + 1);
        return;
    }
    if (!json_is_object(node)) return;
    const char *type = json_str(node, "type");
    if (type && !strcmp(type, "BASE_TABLE")) {
        /* a reference that was not rewritten reads every object */
        const char *t = json_str(node, "table_name");
        for (size_t i = 0; t && i < w->n; i++)
            if (w->deps[i]->remote && !strcasecmp(t, w->deps[i]->cfg->name)) w->all[i] = true;
    } else if (type && !strcmp(type, "TABLE_FUNCTION")) {
        json_t *fn = json_object_get(node, "function");
        const char *name = fn ? json_str(fn, "function_name") : NULL;
        for (size_t i = 0; name && i < w->n; i++) {
            dataset_t *d = w->deps[i];
            if (!d->remote_fn || strcmp(name, d->remote_fn) != 0) continue;
            const char *cond = NULL;
            size_t k;
            json_t *c;
            json_array_foreach(json_object_get(fn, "children"), k, c) {
                const char *alias = json_str(c, "alias");
                json_t *val = json_object_get(c, "value");
                if (alias && !strcmp(alias, "filter") && val &&
                    !json_is_true(json_object_get(val, "is_null")))
                    cond = json_str(val, "value");
            }
            if (!cond) {
                w->all[i] = true;
            } else {
                clove_buf_printf(&w->conds[i], "%s(%s)", w->conds[i].len ? " OR " : "", cond);
            }
        }
    }
    const char *k;
    json_t *v;
    json_object_foreach(node, k, v) prune_walk(w, v, depth + 1);
}

char **clove__remote_filters(duckdb_connection conn, const char *exec_sql, dataset_t **deps,
                             size_t n)
{
    bool any_remote = false;
    for (size_t i = 0; i < n; i++) any_remote |= deps[i]->remote != NULL;
    if (!any_remote) return NULL;
    char *lit = clove_sql_literal(exec_sql);
    char *q = clove_xasprintf("SELECT json_serialize_sql(%s)", lit);
    free(lit);
    duckdb_result res;
    char **out = NULL;
    json_t *root = NULL;
    if (duckdb_query(conn, q, &res) == DuckDBSuccess && duckdb_row_count(&res) == 1) {
        char *text = duckdb_value_varchar(&res, 0, 0);
        /* query_location is an unsigned 64-bit "none": real numbers keep it parseable */
        if (text) root = json_loads(text, JSON_DECODE_INT_AS_REAL, NULL);
        duckdb_free(text);
    }
    duckdb_destroy_result(&res);
    free(q);
    if (!root || json_is_true(json_object_get(root, "error"))) {
        clove_debug(COMP, "partition pruning skipped: DuckDB could not parse the rewritten query");
        goto done;
    }
    prune_walk_t w = {.deps = deps, .n = n};
    w.conds = clove_xcalloc(n, sizeof *w.conds);
    w.all = clove_xcalloc(n, sizeof *w.all);
    prune_walk(&w, json_object_get(root, "statements"), 0);
    for (size_t i = 0; i < n; i++) {
        if (deps[i]->remote && !w.all[i] && w.conds[i].len && !w.conds[i].failed) {
            if (!out) out = clove_xcalloc(n, sizeof *out);
            out[i] = clove_buf_steal(&w.conds[i]);
        }
        clove_buf_dispose(&w.conds[i]);
    }
    free(w.conds);
    free(w.all);
done:
    json_decref(root);
    return out;
}

/* Finds or builds the cache entry for sql on pc. On failure returns NULL with err set. */

/* A query that reads only federated PostgreSQL tables of one database runs there whole when
 * PostgreSQL gives the same answer (pushdown.c decides): the text to prepare instead, or
 * NULL. */
static char *whole_pg_query(pooled_conn_t *pc, const char *sql,
                            clove_pushdown_target_t *const *pts, dataset_t *const *pds, size_t n,
                            clove_pg_plan_t **plan)
{
    char *remote = NULL, *exec = NULL;
    clove_pushdown_out_t *outs = NULL;
    size_t nouts = 0, nparams = 0;
    clove_err_t err;
    *plan = NULL;
    if (clove_pushdown_whole(pc->conn, sql, pts, n, &remote, &outs, &nouts, &nparams, &err) !=
        0) {
        clove_debug(COMP, "whole-query pushdown skipped: %s", err.message);
        return NULL;
    }
    if (!remote) return NULL;
    clove_pg_out_t *po = clove_xcalloc(nouts ? nouts : 1, sizeof *po);
    bool ok = true;
    for (size_t i = 0; i < nouts; i++) {
        po[i].name = outs[i].name;
        po[i].col = outs[i].col;
        po[i].type = outs[i].type;
        po[i].width = outs[i].width;
        po[i].scale = outs[i].scale;
        if (!outs[i].target) continue;
        for (size_t k = 0; k < n && !po[i].source; k++)
            if (pts[k] == outs[i].target) po[i].source = pds[k]->pg;
        ok &= po[i].source != NULL;
    }
    if (ok && nparams > 0) {
        /* with parameters: straight to PostgreSQL (DuckDB would bind the statement again for
         * every execution); values that do not fit take the DuckDB plan */
        *plan = clove_pg_plan_create(pds[0]->pg, remote, nparams, po, nouts, &err);
        if (*plan) clove_debug(COMP, "query runs whole in PostgreSQL with parameters: %s",
                               remote);
    } else if (ok) {
        char *expr = clove_pg_query_expr(pds[0]->pg, remote, po, nouts);
        exec = clove_xasprintf("SELECT * FROM %s", expr);
        free(expr);
        clove_debug(COMP, "query runs whole in PostgreSQL: %s", remote);
    }
    free(po);
    clove_pushdown_outs_free(outs, nouts);
    free(remote);
    return exec;
}

static stmt_entry_t *prepare_cached(clove_engine_t *e, pooled_conn_t *pc, const char *sql,
                                    clove_err_t *err)
{
    uint64_t h = hash_str(sql);
    uint64_t gen = atomic_load(&e->ddl_generation);
    stmt_entry_t *victim = &pc->cache[0];
    for (size_t i = 0; i < STMT_CACHE_SIZE; i++) {
        stmt_entry_t *s = &pc->cache[i];
        if (s->sql && s->hash == h && strcmp(s->sql, sql) == 0) {
            if (s->generation == gen && !s->not_ready_view) {
                s->last_used = ++pc->tick;
                return s;
            }
            victim = s; /* stale: views or tables changed since; analyse again */
            break;
        }
        if (!s->sql || s->last_used < victim->last_used) victim = s;
    }
    stmt_entry_clear(victim);

    clove_sandbox_result_t sb = {0};
    if (clove_sandbox_run(pc->sandbox, sql, &sb, err) != 0) return NULL;

    /* readiness dependencies: datasets read directly or through views */
    dataset_t **deps = NULL;
    size_t n = 0, cap = 0;
    char *not_ready_view = NULL;
    for (size_t i = 0; i < sb.n_tables; i++) {
        dataset_t *d = clove__dataset_find(e, sb.tables[i]);
        view_t *v = d ? NULL : clove__view_find(e, sb.tables[i]);
        dataset_t **add = d ? &d : NULL;
        size_t nadd = d ? 1 : 0;
        if (v) {
            add = v->deps;
            nadd = v->n_deps;
            pthread_mutex_lock(&e->views_lock);
            if (!v->created && !not_ready_view) not_ready_view = clove_xstrdup(v->name);
            pthread_mutex_unlock(&e->views_lock);
        }
        for (size_t k = 0; k < nadd; k++) {
            bool dup = false;
            for (size_t j = 0; j < n; j++) dup |= deps[j] == add[k];
            if (dup) continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 4;
                deps = clove_xrealloc(deps, cap * sizeof *deps);
            }
            deps[n++] = add[k];
        }
    }
    /* filters and LIMIT for SQLite accelerations and federated PostgreSQL tables named in
     * the query go into their scans; the sandbox has checked the user's own SQL above */
    clove_pushdown_target_t *pts[16];
    dataset_t *pds[16];
    size_t np = 0;
    bool reads_views = false;
    bool all_pg = sb.n_tables > 0 && sb.n_tables <= 16;
    for (size_t i = 0; i < sb.n_tables && np < 16; i++) {
        dataset_t *d = clove__dataset_find(e, sb.tables[i]);
        if (!d) {
            reads_views = true;
            all_pg = false;
            continue;
        }
        pthread_mutex_lock(&d->lock);
        /* SQLite accelerations and federated PostgreSQL tables */
        bool have = d->loaded && d->pushdown;
        if (have) {
            pds[np] = d;
            pts[np++] = clove_pushdown_target_ref(d->pushdown);
        }
        /* remote sources read through their federated view: partition pruning */
        bool fed = (!d->accelerated && d->loaded) || (d->serves_source && !d->loaded);
        if (d->remote && fed && d->remote_pushdown && np < 16) {
            pds[np] = d;
            pts[np++] = clove_pushdown_target_ref(d->remote_pushdown);
            have = false; /* never part of a whole PostgreSQL query */
        }
        pthread_mutex_unlock(&d->lock);
        if (!have) {
            all_pg = false;
            continue;
        }
        if (!d->pg || d->accelerated ||
            clove_pushdown_target_dialect(pts[np - 1]) != CLOVE_PUSHDOWN_POSTGRES ||
            !pds[0]->pg || !clove_pg_source_same_server(pds[0]->pg, d->pg))
            all_pg = false;
    }
    char *exec_sql = NULL;
    clove_pg_plan_t *pg_plan = NULL;
    if (np && all_pg && np == sb.n_tables)
        exec_sql = whole_pg_query(pc, sql, pts, pds, np, &pg_plan);
    if (np && !exec_sql) {
        clove_err_t perr;
        if (clove_pushdown_rewrite(pc->conn, sql, pts, np, &exec_sql, &perr) != 0)
            clove_debug(COMP, "filter pushdown skipped: %s", perr.message);
    }
    for (size_t i = 0; i < np; i++) clove_pushdown_target_unref(pts[i]);
    if (exec_sql) clove_debug(COMP, "pushed down: %s", exec_sql);
    clove_sandbox_result_dispose(&sb);

    victim->remote_filters = exec_sql && !reads_views
                                 ? clove__remote_filters(pc->conn, exec_sql, deps, n) : NULL;
    victim->exec_sql = exec_sql;
    victim->pg_plan = pg_plan;
    victim->sql = clove_xstrdup(sql);
    victim->hash = h;
    victim->deps = deps;
    victim->n_deps = n;
    victim->not_ready_view = not_ready_view;
    victim->generation = gen;
    victim->last_used = ++pc->tick;
    return victim;
}

/* Fails when a dataset the statement reads cannot answer yet. */
static int check_ready(clove_engine_t *e, stmt_entry_t *s, clove_err_t *err)
{
    for (size_t i = 0; i < s->n_deps; i++) {
        dataset_t *d = s->deps[i];
        pthread_mutex_lock(&d->lock);
        bool loaded = d->loaded;
        clove_ds_state_t st = d->state;
        int code = d->error_code;
        char *msg = (!loaded && d->error) ? clove_xstrdup(d->error) : NULL;
        bool via_source = !loaded && d->serves_source;
        pthread_mutex_unlock(&d->lock);
        if (loaded) continue;
        if (via_source) {
            char labels[256];
            snprintf(labels, sizeof labels, "dataset=\"%s\"", d->cfg->name);
            clove_metric_counter_add("accelerated_ready_state_federated_fallback",
                                     "Queries answered by the source while the acceleration "
                                     "loads (ready_state: on_registration).", labels, 1);
            free(msg);
            continue;
        }
        int rc;
        if (d->accelerated && st != CLOVE_DS_ERROR)
            rc = clove_err_set(err, CLOVE_ENOTREADY,
                               "Acceleration not ready; loading initial data for %s",
                               d->cfg->name);
        else /* an unreachable source answers 503 before and after registration alike */
            rc = clove_err_set(err, code == CLOVE_EUNAVAILABLE ? CLOVE_EUNAVAILABLE
                                                               : CLOVE_ENOTREADY,
                               "dataset %s is not available: %s", d->cfg->name,
                               msg ? msg : "its source is not registered yet");
        free(msg);
        return rc;
    }
    if (s->not_ready_view)
        return clove_err_set(err, CLOVE_ENOTREADY,
                             "view %s is not ready: the datasets it reads are still loading",
                             s->not_ready_view);
    return 0;
}

/* Binds a CLOVE_PARAM_TYPED value with its exact type (see clove_param_t). */
static duckdb_state bind_typed(duckdb_prepared_statement stmt, idx_t idx, const clove_param_t *p)
{
    duckdb_value v = NULL;
    switch (p->type) {
    case DUCKDB_TYPE_BOOLEAN: return duckdb_bind_boolean(stmt, idx, p->b);
    case DUCKDB_TYPE_TINYINT: return duckdb_bind_int8(stmt, idx, (int8_t)p->i);
    case DUCKDB_TYPE_SMALLINT: return duckdb_bind_int16(stmt, idx, (int16_t)p->i);
    case DUCKDB_TYPE_INTEGER: return duckdb_bind_int32(stmt, idx, (int32_t)p->i);
    case DUCKDB_TYPE_BIGINT: return duckdb_bind_int64(stmt, idx, p->i);
    case DUCKDB_TYPE_UTINYINT: return duckdb_bind_uint8(stmt, idx, (uint8_t)p->u);
    case DUCKDB_TYPE_USMALLINT: return duckdb_bind_uint16(stmt, idx, (uint16_t)p->u);
    case DUCKDB_TYPE_UINTEGER: return duckdb_bind_uint32(stmt, idx, (uint32_t)p->u);
    case DUCKDB_TYPE_UBIGINT: return duckdb_bind_uint64(stmt, idx, p->u);
    case DUCKDB_TYPE_HUGEINT: return duckdb_bind_hugeint(stmt, idx, p->h);
    case DUCKDB_TYPE_FLOAT: return duckdb_bind_float(stmt, idx, (float)p->d);
    case DUCKDB_TYPE_DOUBLE: return duckdb_bind_double(stmt, idx, p->d);
    case DUCKDB_TYPE_DATE: return duckdb_bind_date(stmt, idx, (duckdb_date){(int32_t)p->i});
    case DUCKDB_TYPE_TIME: return duckdb_bind_time(stmt, idx, (duckdb_time){p->i});
    case DUCKDB_TYPE_TIMESTAMP: return duckdb_bind_timestamp(stmt, idx, (duckdb_timestamp){p->i});
    case DUCKDB_TYPE_TIMESTAMP_TZ:
        return duckdb_bind_timestamp_tz(stmt, idx, (duckdb_timestamp){p->i});
    case DUCKDB_TYPE_TIMESTAMP_S: v = duckdb_create_timestamp_s((duckdb_timestamp_s){p->i}); break;
    case DUCKDB_TYPE_TIMESTAMP_MS:
        v = duckdb_create_timestamp_ms((duckdb_timestamp_ms){p->i});
        break;
    case DUCKDB_TYPE_TIMESTAMP_NS:
        v = duckdb_create_timestamp_ns((duckdb_timestamp_ns){p->i});
        break;
    case DUCKDB_TYPE_INTERVAL: return duckdb_bind_interval(stmt, idx, p->interval);
    case DUCKDB_TYPE_DECIMAL:
        return duckdb_bind_decimal(stmt, idx, (duckdb_decimal){.width = p->width,
                                                               .scale = p->scale,
                                                               .value = p->h});
    case DUCKDB_TYPE_UUID:
        v = duckdb_create_uuid((duckdb_uhugeint){.lower = p->h.lower,
                                                 .upper = (uint64_t)p->h.upper});
        break;
    case DUCKDB_TYPE_VARCHAR:
        return duckdb_bind_varchar_length(stmt, idx, p->s ? p->s : "", p->len);
    case DUCKDB_TYPE_BLOB: return duckdb_bind_blob(stmt, idx, p->s ? p->s : "", p->len);
    default: return DuckDBError;
    }
    if (!v) return DuckDBError;
    duckdb_state st = duckdb_bind_value(stmt, idx, v);
    duckdb_destroy_value(&v);
    return st;
}

/* Federated datasets over S3 / HTTP(S) read a local cache: bring what the statement reads up
 * to date (re-listed or revalidated when older than the source's freshness interval), and
 * prepare the statement again when files in a cache changed since it was prepared (DuckDB
 * expands a reader's glob when it binds). */
static int sync_remote_sources(clove_engine_t *e, pooled_conn_t *pc, stmt_entry_t *s,
                               int64_t deadline_ns, clove_err_t *err)
{
    bool changed_any = false, any = false;
    for (size_t i = 0; i < s->n_deps; i++) {
        dataset_t *d = s->deps[i];
        if (!d->remote) continue;
        pthread_mutex_lock(&d->lock);
        bool fed = (!d->accelerated && d->loaded) || (d->serves_source && !d->loaded);
        pthread_mutex_unlock(&d->lock);
        if (!fed) continue;
        any = true;
        bool changed = false;
        clove_err_t serr;
        const char *filter = s->remote_filters ? s->remote_filters[i] : NULL;
        clove_debug(COMP, "dataset %s: reads %s", d->cfg->name,
                    filter ? filter : "every object");
        int rc = clove_source_sync_until(d->remote, CLOVE_SYNC_QUERY, pc->conn, filter,
                                         deadline_ns, &changed, &serr);
        if (rc == CLOVE_ETIMEDOUT)
            return clove_err_set(err, CLOVE_ETIMEDOUT, "query timed out while fetching dataset "
                                 "%s from its source: %s", d->cfg->name, serr.message);
        if (rc == CLOVE_EUNAVAILABLE) clove__source_unreachable(d, serr.message);
        if (rc != 0)
            return clove_err_set(err, rc == CLOVE_ECANCELED     ? CLOVE_ESHUTDOWN
                                      : rc == CLOVE_EUNAVAILABLE ? CLOVE_EUNAVAILABLE
                                                                 : CLOVE_EIO,
                                 "dataset %s is not available: %s", d->cfg->name, serr.message);
        clove__source_reachable(d);
        changed_any |= changed;
    }
    if (!any) return 0;
    if (changed_any) atomic_fetch_add(&e->ddl_generation, 1);
    uint64_t gen = atomic_load(&e->ddl_generation);
    if (s->stmt && s->generation != gen) {
        duckdb_destroy_prepare(&s->stmt);
        s->stmt = NULL;
    }
    s->generation = gen;
    return 0;
}

static int bind_params(duckdb_prepared_statement stmt, const clove_query_req_t *req,
                       clove_err_t *err)
{
    duckdb_clear_bindings(stmt);
    idx_t nparams = duckdb_nparams(stmt);
    if (req->n_params == 0 && nparams > 0)
        return clove_err_set(err, CLOVE_EQUERY,
                             "the query has %llu parameter(s) but none were given",
                             (unsigned long long)nparams);
    for (size_t i = 0; i < req->n_params; i++) {
        const clove_param_t *p = &req->params[i];
        idx_t idx = i + 1;
        if (p->name) {
            if (duckdb_bind_parameter_index(stmt, &idx, p->name) == DuckDBError)
                return clove_err_set(err, CLOVE_EQUERY,
                                     "parameter \"%s\" does not appear in the query", p->name);
        } else if (idx > nparams) {
            return clove_err_set(err, CLOVE_EQUERY,
                                 "%zu parameters given but the query has %llu", req->n_params,
                                 (unsigned long long)nparams);
        }
        duckdb_state st;
        switch (p->kind) {
        case CLOVE_PARAM_NULL: st = duckdb_bind_null(stmt, idx); break;
        case CLOVE_PARAM_BOOL: st = duckdb_bind_boolean(stmt, idx, p->b); break;
        case CLOVE_PARAM_INT: st = duckdb_bind_int64(stmt, idx, p->i); break;
        case CLOVE_PARAM_DOUBLE: st = duckdb_bind_double(stmt, idx, p->d); break;
        case CLOVE_PARAM_TYPED: st = bind_typed(stmt, idx, p); break;
        default: st = duckdb_bind_varchar(stmt, idx, p->s ? p->s : ""); break;
        }
        if (st == DuckDBError)
            return clove_err_set(err, CLOVE_EQUERY, "could not bind parameter %zu", i + 1);
    }
    return 0;
}

static int interrupted_error(clove_query_t *q, clove_err_t *err)
{
    if (atomic_load(&q->timed_out)) {
        count_failure("timeout");
        return clove_err_set(err, CLOVE_ETIMEDOUT, "query timed out after %lld ms",
                             (long long)((q->deadline_ns - q->start_ns) / 1000000));
    }
    if (!atomic_load(&q->canceled) && atomic_load(&q->e->shutting_down)) {
        count_failure("shutdown");
        return clove_err_set(err, CLOVE_ESHUTDOWN,
                             "query interrupted: the runtime is shutting down and "
                             "runtime.shutdown_timeout passed");
    }
    count_failure("canceled");
    return clove_err_set(err, CLOVE_ECANCELED, "query canceled: the client disconnected");
}

/* The cached, prepared statement for sql on pc after the sandbox and the readiness gate.
 * NULL with err filled and *why set to the query_failures reason ("invalid_sql",
 * "not_ready", "source_unavailable", "timeout") on failure. deadline_ns (0 = none) bounds
 * what federated S3 / HTTP(S) reads wait for. */
/* After a failure: the federated PostgreSQL datasets s reads whose columns a scan found
 * changed (the connector's CLOVE_SOURCE_CHANGED) are registered again with the new columns.
 * True when one was. */
static bool reload_changed_columns(const stmt_entry_t *s)
{
    bool any = false;
    for (size_t i = 0; s && i < s->n_deps; i++) {
        dataset_t *d = s->deps[i];
        if (!d->pg || d->accelerated || !clove__columns_changed(d)) continue;
        clove_err_t err;
        if (clove__dataset_reload_columns(d, &err) == 0) any = true;
        else clove_warn(COMP, "dataset %s: %s", d->cfg->name, err.message);
    }
    return any;
}

/* A binder error on a query over federated PostgreSQL tables may name a column added since
 * they were registered: ask PostgreSQL (one catalog query per table) and register again
 * those whose columns changed. True when one was. */
static bool recheck_columns(const stmt_entry_t *s)
{
    bool any = false;
    for (size_t i = 0; i < s->n_deps; i++) {
        dataset_t *d = s->deps[i];
        if (!d->pg || d->accelerated) continue;
        pthread_mutex_lock(&d->lock);
        bool loaded = d->loaded;
        pthread_mutex_unlock(&d->lock);
        bool changed = false;
        clove_err_t err;
        if (!loaded || clove_pg_source_check_columns(d->pg, &changed, &err) != 0 || !changed)
            continue;
        clove__source_changed(d, "the columns of its PostgreSQL table changed since it was "
                                 "registered");
        any = true;
    }
    return any && reload_changed_columns(s);
}

static stmt_entry_t *prepare_checked(clove_engine_t *e, pooled_conn_t *pc, const char *sql,
                                     int64_t deadline_ns, const char **why, clove_err_t *err)
{
    bool rechecked = false;
again:;
    stmt_entry_t *s = prepare_cached(e, pc, sql, err);
    *why = "invalid_sql";
    if (!s) return NULL;
    if (check_ready(e, s, err) != 0) {
        *why = "not_ready";
        return NULL;
    }
    if (sync_remote_sources(e, pc, s, deadline_ns, err) != 0) {
        *why = err && err->code == CLOVE_ETIMEDOUT ? "timeout" : "source_unavailable";
        return NULL;
    }
    if (!s->stmt && s->exec_sql) {
        if (duckdb_prepare(pc->conn, s->exec_sql, &s->stmt) == DuckDBError) {
            clove_warn(COMP, "the query with pushed-down filters did not prepare (%s); running "
                       "it without", duckdb_prepare_error(s->stmt));
            duckdb_destroy_prepare(&s->stmt);
            s->stmt = NULL;
            free(s->exec_sql);
            s->exec_sql = NULL;
        }
    }
    if (!s->stmt) {
        if (duckdb_prepare(pc->conn, sql, &s->stmt) == DuckDBError &&
            strstr(duckdb_prepare_error(s->stmt), "Contents of view were altered")) {
            /* a federated file gained or changed columns: rebuild the views, try again */
            duckdb_destroy_prepare(&s->stmt);
            s->stmt = NULL;
            clove__rebind_views(e);
            duckdb_prepare(pc->conn, sql, &s->stmt);
        }
        if (!s->stmt || duckdb_prepare_error(s->stmt)) {
            const char *m = clove__clean_duckdb_error(duckdb_prepare_error(s->stmt));
            clove_err_set(err, CLOVE_EQUERY, "%s", m);
            bool retry = !rechecked && strstr(m, "Binder Error") && recheck_columns(s);
            stmt_entry_clear(s);
            if (retry) { /* the view has the new columns now */
                rechecked = true;
                goto again;
            }
            return NULL;
        }
    }
    return s;
}

/* The text of each parameter of a direct PostgreSQL run ($n as int8), written into buf:
 * only positional integers and NULLs go that way; anything else takes the DuckDB plan. */
static bool direct_values(const clove_pg_plan_t *p, const clove_query_req_t *req,
                          char buf[64][24], char **vals)
{
    size_t n = clove_pg_plan_nparams(p);
    if (n > 64 || req->n_params != n) return false;
    for (size_t i = 0; i < n; i++) {
        const clove_param_t *pr = &req->params[i];
        if (pr->name || (pr->kind != CLOVE_PARAM_INT && pr->kind != CLOVE_PARAM_NULL))
            return false;
    }
    for (size_t i = 0; i < n; i++) {
        vals[i] = NULL;
        if (req->params[i].kind == CLOVE_PARAM_NULL) continue;
        /* decimal digits, right to left (no printf on the point-query path) */
        int64_t v = req->params[i].i;
        uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        char *e = buf[i] + 23, *d = e;
        *d = '\0';
        do *--d = (char)('0' + u % 10); while ((u /= 10) != 0);
        if (v < 0) *--d = '-';
        vals[i] = d;
    }
    return true;
}

static bool query_stopped(void *ud)
{
    clove_query_t *q = ud;
    return atomic_load(&q->canceled) || atomic_load(&q->timed_out);
}

clove_query_t *clove_engine_query(clove_engine_t *e, const clove_query_req_t *req,
                                  clove_err_t *err)
{
    if (atomic_load(&e->shutting_down)) {
        clove_err_set(err, CLOVE_ESHUTDOWN, "Runtime is shutting down");
        return NULL;
    }
    atomic_fetch_add(&e->active_queries, 1);
    clove_metric_counter_add("query_executions", "Number of query executions.", "", 1);

    clove_query_t *q = clove_xcalloc(1, sizeof *q);
    q->e = e;
    q->client_fd = req->client_fd;
    q->start_ns = clove_mono_ns();
    int64_t timeout_ms = req->timeout_ms ? req->timeout_ms : e->cfg->runtime.query_timeout_ms;
    if (timeout_ms > 0) q->deadline_ns = q->start_ns + timeout_ms * 1000000;

    char *rewritten = NULL;
    const char *sql = req->sql;
    bool named = false;
    for (size_t i = 0; i < req->n_params; i++) named |= req->params[i].name != NULL;
    if (named) sql = rewritten = clove_sql_rewrite_named_params(req->sql);

    q->pc = pool_acquire(e, q->deadline_ns, err);
    if (!q->pc) {
        count_failure(err && err->code == CLOVE_ETIMEDOUT ? "timeout" : "busy");
        goto fail;
    }

    bool retried = false; /* once, after the columns of a source changed under the plan */
again:;
    const char *why = NULL;
    stmt_entry_t *s = prepare_checked(e, q->pc, sql, q->deadline_ns, &why, err);
    if (!s) {
        count_failure(why);
        goto fail;
    }
    char vbuf[64][24], *vals[64];
    if (s->pg_plan && direct_values(s->pg_plan, req, vbuf, vals)) {
        /* no parameter copies: on_zero_results never applies to a federated table */
        q->entry = s;
        wd_add(e, q);
        q->pg_run = clove_pg_run_start(s->pg_plan, (const char *const *)vals, err);
        if (!q->pg_run) {
            wd_remove(e, q);
            if (!retried && reload_changed_columns(s)) {
                query_reset(q);
                retried = true;
                goto again;
            }
            count_failure("execution_error");
            goto fail;
        }
        q->ncols = clove_pg_plan_ncols(s->pg_plan);
        q->types = clove_xcalloc(q->ncols ? q->ncols : 1, sizeof *q->types);
        for (idx_t i = 0; i < q->ncols; i++) q->types[i] = clove_pg_plan_type(s->pg_plan, i);
        q->types_borrowed = true; /* the plan outlives the query: the entry is in use */
        free(rewritten);
        return q;
    }
    if (bind_params(s->stmt, req, err) != 0) {
        count_failure("invalid_parameters");
        goto fail;
    }

    wd_add(e, q);
    duckdb_pending_result pending;
    if (duckdb_pending_prepared_streaming(s->stmt, &pending) == DuckDBError) {
        clove_err_set(err, CLOVE_EQUERY, "%s",
                      clove__clean_duckdb_error(duckdb_pending_error(pending)));
        duckdb_destroy_pending(&pending);
        wd_remove(e, q);
        if (!retried && reload_changed_columns(s)) {
            retried = true;
            goto again;
        }
        source_failure(s, err);
        count_failure("invalid_sql");
        goto fail;
    }
    q->entry = s;
    copy_params(q, req);
    duckdb_state st = duckdb_execute_pending(pending, &q->result);
    duckdb_destroy_pending(&pending);
    q->have_result = true;
    if (st == DuckDBError) {
        if (atomic_load(&q->timed_out) || atomic_load(&q->canceled) ||
            duckdb_result_error_type(&q->result) == DUCKDB_ERROR_INTERRUPT) {
            interrupted_error(q, err);
        } else {
            clove_err_set(err, CLOVE_EQUERY, "%s",
                          clove__clean_duckdb_error(duckdb_result_error(&q->result)));
            if (!retried && reload_changed_columns(s)) {
                /* nothing was answered yet: run it again over the new columns */
                wd_remove(e, q);
                query_reset(q);
                retried = true;
                goto again;
            }
            source_failure(s, err);
            count_failure("execution_error");
        }
        wd_remove(e, q);
        goto fail;
    }
    q->ncols = duckdb_column_count(&q->result);
    q->types = clove_xcalloc(q->ncols ? q->ncols : 1, sizeof *q->types);
    for (idx_t i = 0; i < q->ncols; i++) q->types[i] = duckdb_column_logical_type(&q->result, i);
    free(rewritten);
    return q;

fail:
    free(rewritten);
    if (err) clove__redact(e, err->message, sizeof err->message);
    q->failed = true;
    clove_query_end(q);
    return NULL;
}

/* A query that failed inside DuckDB (a connector's table function) while a dataset it reads
 * is in Error because its source cannot be reached failed because of that source: CLOVE_EQUERY
 * becomes CLOVE_EUNAVAILABLE (503, gRPC UNAVAILABLE), as when the engine reads the source
 * itself. */
static void source_failure(const stmt_entry_t *s, clove_err_t *err)
{
    if (!s || !err || err->code != CLOVE_EQUERY) return;
    for (size_t i = 0; i < s->n_deps; i++)
        if (clove__source_down(s->deps[i])) {
            err->code = CLOVE_EUNAVAILABLE;
            return;
        }
}

/* Forgets what an attempt of q left (result, parameter copies, statement) so that it can
 * start over. */
static void query_reset(clove_query_t *q)
{
    if (q->have_result) duckdb_destroy_result(&q->result);
    q->have_result = false;
    free_params(q);
    q->params = NULL;
    q->n_params = 0;
    q->sql = NULL;
    q->entry = NULL;
}

/* Keeps a copy of the parameters: on_zero_results may run the query a second time. */
static void copy_params(clove_query_t *q, const clove_query_req_t *req)
{
    q->sql = clove_xstrdup(req->sql);
    q->n_params = req->n_params;
    if (!req->n_params) return;
    q->params = clove_xcalloc(req->n_params, sizeof *q->params);
    for (size_t i = 0; i < req->n_params; i++) {
        q->params[i] = req->params[i];
        q->params[i].name = req->params[i].name ? clove_xstrdup(req->params[i].name) : NULL;
        const clove_param_t *p = &req->params[i];
        if (p->kind == CLOVE_PARAM_TYPED && p->s) { /* bytes, maybe with NULs */
            char *c = clove_xmalloc(p->len + 1);
            memcpy(c, p->s, p->len);
            c[p->len] = '\0';
            q->params[i].s = c;
        } else {
            q->params[i].s = p->s ? clove_xstrdup(p->s) : NULL;
        }
    }
}

static void free_params(clove_query_t *q)
{
    for (size_t i = 0; i < q->n_params; i++) {
        free((char *)q->params[i].name);
        free((char *)q->params[i].s);
    }
    free(q->params);
    free(q->sql);
}

/* on_zero_results: use_source. The query found no rows in an acceleration: run it again with
 * each such dataset's name pointing at its source (temporary views on this connection, which
 * shadow bare names; refresh_sql does not apply). Swaps the result in when its columns match.
 * Returns true when a fallback result is in place. */
static bool zero_fallback(clove_query_t *q)
{
    stmt_entry_t *s = q->entry;
    if (!s) return false;
    q->fell_back = true;
    clove_buf_t views;
    clove_buf_init(&views);
    size_t n = 0;
    for (size_t i = 0; i < s->n_deps; i++) {
        dataset_t *d = s->deps[i];
        if (!d->accelerated || d->cfg->acceleration.on_zero_results != CLOVE_ZERO_USE_SOURCE ||
            !d->source_sql)
            continue;
        char *qi = clove_sql_ident(d->cfg->name);
        char *sql = clove_xasprintf("CREATE OR REPLACE TEMP VIEW %s AS SELECT * FROM %s", qi,
                                    d->source_sql);
        if (clove__exec(q->pc->conn, sql, NULL) == 0) {
            clove_buf_printf(&views, "DROP VIEW IF EXISTS temp.main.%s;", qi);
            n++;
            char labels[256];
            snprintf(labels, sizeof labels, "dataset=\"%s\"", d->cfg->name);
            clove_metric_counter_add("accelerated_zero_results_federated_fallback",
                                     "Accelerated queries with zero results re-run against the "
                                     "source (on_zero_results: use_source).", labels, 1);
        }
        free(sql);
        free(qi);
    }
    bool swapped = false;
    if (n > 0) {
        duckdb_prepared_statement st = NULL;
        duckdb_result res;
        clove_query_req_t req = {.sql = q->sql, .params = q->params, .n_params = q->n_params};
        if (duckdb_prepare(q->pc->conn, q->sql, &st) == DuckDBSuccess &&
            bind_params(st, &req, NULL) == 0) {
            if (duckdb_execute_prepared(st, &res) == DuckDBSuccess) {
                bool same = duckdb_column_count(&res) == q->ncols;
                for (idx_t i = 0; same && i < q->ncols; i++) {
                    duckdb_logical_type t = duckdb_column_logical_type(&res, i);
                    same = duckdb_get_type_id(t) == duckdb_get_type_id(q->types[i]);
                    duckdb_destroy_logical_type(&t);
                }
                if (same) {
                    duckdb_destroy_result(&q->result);
                    q->result = res;
                    swapped = true;
                } else {
                    clove_warn(COMP, "on_zero_results: the source's columns differ from the "
                               "acceleration's; returning the empty answer");
                    duckdb_destroy_result(&res);
                }
            } else {
                clove_warn(COMP, "on_zero_results: the query failed against the source: %s",
                           duckdb_result_error(&res));
                duckdb_destroy_result(&res);
            }
        }
        if (st) duckdb_destroy_prepare(&st);
        clove__exec(q->pc->conn, views.data, NULL);
    }
    clove_buf_dispose(&views);
    return swapped;
}

/* A query whose answer had started when a scan found a source's columns changed cannot run
 * again: the dataset is registered again so the next query sees the new columns, and the
 * error says so. */
static void changed_after_start(clove_query_t *q, clove_err_t *err)
{
    if (!reload_changed_columns(q->entry) || !err) return;
    size_t n = strlen(err->message);
    snprintf(err->message + n, sizeof err->message - n, "; the dataset has the new columns "
             "now: run the query again");
}

idx_t clove_query_column_count(clove_query_t *q) { return q->ncols; }

const char *clove_query_column_name(clove_query_t *q, idx_t col)
{
    if (q->pg_run) return clove_pg_plan_name(q->entry->pg_plan, col);
    return duckdb_column_name(&q->result, col);
}

duckdb_logical_type clove_query_column_type(clove_query_t *q, idx_t col) { return q->types[col]; }

int clove_query_next(clove_query_t *q, duckdb_data_chunk *chunk, clove_err_t *err)
{
    *chunk = NULL;
    if (q->finished) return 0;
    if (atomic_load(&q->canceled) || atomic_load(&q->timed_out)) {
        q->failed = true;
        return interrupted_error(q, err);
    }
    if (q->pg_run) {
        int rc = clove_pg_run_next(q->pg_run, chunk, query_stopped, q, err);
        if (rc > 0) {
            q->rows += duckdb_data_chunk_get_size(*chunk);
            return 1;
        }
        if (rc == 0) {
            q->finished = true;
            return 0;
        }
        q->failed = true;
        if (query_stopped(q)) return interrupted_error(q, err);
        count_failure("execution_error");
        changed_after_start(q, err);
        if (err) clove__redact(q->e, err->message, sizeof err->message);
        return rc;
    }
    duckdb_data_chunk c = duckdb_fetch_chunk(q->result);
    if (c && duckdb_data_chunk_get_size(c) == 0) { /* never hand out empty chunks */
        duckdb_destroy_data_chunk(&c);
        c = duckdb_fetch_chunk(q->result);
    }
    if (c) {
        q->rows += duckdb_data_chunk_get_size(c);
        *chunk = c;
        return 1;
    }
    if (q->rows == 0 && !q->fell_back && !duckdb_result_error(&q->result) && zero_fallback(q)) {
        c = duckdb_fetch_chunk(q->result);
        if (c) {
            q->rows += duckdb_data_chunk_get_size(c);
            *chunk = c;
            return 1;
        }
    }
    q->finished = true;
    const char *msg = duckdb_result_error(&q->result);
    if (msg && *msg) {
        q->failed = true;
        if (atomic_load(&q->timed_out) || atomic_load(&q->canceled) ||
            duckdb_result_error_type(&q->result) == DUCKDB_ERROR_INTERRUPT)
            return interrupted_error(q, err);
        count_failure("execution_error");
        clove_err_set(err, CLOVE_EQUERY, "%s", clove__clean_duckdb_error(msg));
        source_failure(q->entry, err);
        changed_after_start(q, err);
        if (err) clove__redact(q->e, err->message, sizeof err->message);
        return err ? err->code : CLOVE_EQUERY;
    }
    return 0;
}

duckdb_connection clove_query_connection(clove_query_t *q) { return q->pc->conn; }

/* The pooled connection's Arrow options; only the thread holding pc makes them. */
static duckdb_arrow_options conn_arrow_options(pooled_conn_t *pc)
{
    if (!pc->arrow_opts) duckdb_connection_get_arrow_options(pc->conn, &pc->arrow_opts);
    return pc->arrow_opts;
}

duckdb_arrow_options clove_query_arrow_options(clove_query_t *q)
{
    return conn_arrow_options(q->pc);
}

double clove_query_elapsed_ms(clove_query_t *q)
{
    return (double)(clove_mono_ns() - q->start_ns) / 1e6;
}

void clove_query_cancel(clove_query_t *q)
{
    atomic_store(&q->canceled, true);
    clove_engine_t *e = q->e;
    pthread_mutex_lock(&e->wd_lock);
    if (q->pc) duckdb_interrupt(q->pc->conn);
    pthread_mutex_unlock(&e->wd_lock);
}

void clove_query_end(clove_query_t *q)
{
    if (!q) return;
    clove_engine_t *e = q->e;
    wd_remove(e, q);
    if (q->types) {
        for (idx_t i = 0; i < q->ncols && !q->types_borrowed; i++)
            duckdb_destroy_logical_type(&q->types[i]);
        free(q->types);
    }
    if (q->have_result) duckdb_destroy_result(&q->result);
    clove_pg_run_end(q->pg_run);
    free_params(q);
    if (q->pc) pool_release(e, q->pc);
    if (!q->failed)
        clove_metric_histogram_observe("query_duration_ms",
                                       "The total amount of time spent planning and executing "
                                       "queries in milliseconds.", "", clove_query_elapsed_ms(q));
    free(q);
    atomic_fetch_sub(&e->active_queries, 1);
}

/* ---- schema without executing ------------------------------------------------------------- */

static void desc_dispose(clove_query_desc_t *d)
{
    for (idx_t i = 0; i < d->ncols; i++) {
        free(d->names[i]);
        if (d->types[i]) duckdb_destroy_logical_type(&d->types[i]);
    }
    for (idx_t i = 0; i < d->nparams; i++)
        if (d->param_types[i]) duckdb_destroy_logical_type(&d->param_types[i]);
    free(d->names);
    free(d->types);
    free(d->param_types);
    memset(d, 0, sizeof *d);
}

int clove_engine_describe(clove_engine_t *e, const clove_query_req_t *req,
                          clove_describe_cb cb, void *ud, clove_err_t *err)
{
    if (atomic_load(&e->shutting_down))
        return clove_err_set(err, CLOVE_ESHUTDOWN, "Runtime is shutting down");
    int64_t timeout_ms = req->timeout_ms ? req->timeout_ms : e->cfg->runtime.query_timeout_ms;
    int64_t deadline_ns = timeout_ms > 0 ? clove_mono_ns() + timeout_ms * 1000000 : 0;
    char *rewritten = NULL;
    const char *sql = req->sql;
    bool named = false;
    for (size_t i = 0; i < req->n_params; i++) named |= req->params[i].name != NULL;
    if (named) sql = rewritten = clove_sql_rewrite_named_params(req->sql);
    clove_query_desc_t d;
    memset(&d, 0, sizeof d);
    int rc = 0;

    pooled_conn_t *pc = pool_acquire(e, deadline_ns, err);
    if (!pc) {
        rc = err ? err->code : CLOVE_EBUSY;
        goto out;
    }
    const char *why = NULL;
    stmt_entry_t *s = prepare_checked(e, pc, sql, deadline_ns, &why, err);
    if (!s) {
        rc = err ? err->code : CLOVE_EQUERY;
        goto out;
    }
    d.ncols = duckdb_prepared_statement_column_count(s->stmt);
    d.names = clove_xcalloc(d.ncols ? d.ncols : 1, sizeof *d.names);
    d.types = clove_xcalloc(d.ncols ? d.ncols : 1, sizeof *d.types);
    for (idx_t i = 0; i < d.ncols; i++) {
        char *n = (char *)duckdb_prepared_statement_column_name(s->stmt, i); /* ours to free */
        d.names[i] = clove_xstrdup(n ? n : "");
        duckdb_free(n);
        d.types[i] = duckdb_prepared_statement_column_logical_type(s->stmt, i);
    }
    d.nparams = duckdb_nparams(s->stmt);
    d.param_types = clove_xcalloc(d.nparams ? d.nparams : 1, sizeof *d.param_types);
    for (idx_t i = 0; i < d.nparams; i++) {
        duckdb_logical_type t = duckdb_param_logical_type(s->stmt, i + 1);
        duckdb_type id = t ? duckdb_get_type_id(t) : DUCKDB_TYPE_INVALID;
        if (t && (id == DUCKDB_TYPE_INVALID || id == DUCKDB_TYPE_ANY))
            duckdb_destroy_logical_type(&t);
        d.param_types[i] = t;
    }
    d.arrow_options = conn_arrow_options(pc);
    rc = cb ? cb(ud, pc->conn, &d, err) : 0;
out:
    if (pc) pool_release(e, pc);
    desc_dispose(&d);
    free(rewritten);
    if (rc && err) clove__redact(e, err->message, sizeof err->message);
    return rc;
}

/* ---- appends -------------------------------------------------------------------------------- */

struct clove_append {
    clove_engine_t *e;
    dataset_t *d;
    pooled_conn_t *pc;
    duckdb_appender app;
    int64_t rows;                    /* appended to the staging table so far */
};

#define APPEND_STAGE "__clove_incoming"

/* The dataset a name addresses: bare, public.<name> or spice.public.<name> (any case). */
static dataset_t *append_target(clove_engine_t *e, const char *name)
{
    if (strncasecmp(name, "spice.", 6) == 0) name += 6;
    if (strncasecmp(name, "public.", 7) == 0) name += 7;
    return clove__dataset_find(e, name);
}

static int appender_error(duckdb_appender app, const char *what, const dataset_t *d,
                          clove_err_t *err)
{
    duckdb_error_data ed = duckdb_appender_error_data(app);
    const char *msg = ed ? duckdb_error_data_message(ed) : NULL;
    int rc = clove_err_set(err, CLOVE_EQUERY, "could not %s dataset %s: %s", what, d->cfg->name,
                           clove__clean_duckdb_error(msg ? msg : "appender failed"));
    if (ed) duckdb_destroy_error_data(&ed);
    return rc;
}

static void append_free(clove_append_t *a)
{
    if (a->app) duckdb_appender_destroy(&a->app);
    if (a->pc) {
        clove__exec(a->pc->conn, "DROP TABLE IF EXISTS temp.main." APPEND_STAGE, NULL);
        pool_release(a->e, a->pc);
    }
    free(a);
}

clove_append_t *clove_engine_append_begin(clove_engine_t *e, const char *dataset, idx_t ncols,
                                          const char *const *names, int64_t timeout_ms,
                                          clove_err_t *err)
{
    if (atomic_load(&e->shutting_down)) {
        clove_err_set(err, CLOVE_ESHUTDOWN, "Runtime is shutting down");
        return NULL;
    }
    dataset_t *d = append_target(e, dataset);
    if (!d) {
        clove_err_set(err, CLOVE_ENOTFOUND, "dataset \"%.200s\" does not exist", dataset);
        return NULL;
    }
    if (!d->cfg->access || strcmp(d->cfg->access, "read_write") != 0) {
        clove_err_set(err, CLOVE_EPERM, "dataset %s is not writable: declare it with "
                      "access: read_write to accept appends", d->cfg->name);
        return NULL;
    }
    if (!d->accelerated) {
        clove_err_set(err, CLOVE_EINVAL, "dataset %s is not accelerated: appends go into its "
                      "acceleration (acceleration.enabled: true)", d->cfg->name);
        return NULL;
    }
    pthread_mutex_lock(&d->lock);
    bool loaded = d->loaded;
    pthread_mutex_unlock(&d->lock);
    if (!loaded) {
        clove_err_set(err, CLOVE_ENOTREADY,
                      "Acceleration not ready; loading initial data for %s", d->cfg->name);
        return NULL;
    }
    if (ncols == 0) {
        clove_err_set(err, CLOVE_EINVAL, "the data for dataset %s has no columns", d->cfg->name);
        return NULL;
    }
    if (timeout_ms <= 0) timeout_ms = e->cfg->runtime.query_timeout_ms;
    int64_t deadline_ns = timeout_ms > 0 ? clove_mono_ns() + timeout_ms * 1000000 : 0;

    clove_append_t *a = clove_xcalloc(1, sizeof *a);
    a->e = e;
    a->d = d;
    a->pc = pool_acquire(e, deadline_ns, err);
    if (!a->pc) {
        free(a);
        return NULL;
    }
    /* the rows are staged in a temporary table shaped like the dataset, then written in one
     * transaction under the dataset's rules (clove__append_incoming) */
    char *qi = clove_sql_ident(d->cfg->name);
    char *sql = clove_xasprintf("CREATE OR REPLACE TEMP TABLE " APPEND_STAGE " AS SELECT * FROM "
                                "spice.public.%s LIMIT 0", qi);
    int rc = clove__exec(a->pc->conn, sql, err);
    free(sql);
    free(qi);
    if (rc == 0 &&
        duckdb_appender_create_ext(a->pc->conn, "temp", "main", APPEND_STAGE, &a->app) ==
            DuckDBError)
        rc = appender_error(a->app, "stage rows for", d, err);
    for (idx_t i = 0; rc == 0 && i < ncols; i++) {
        if (duckdb_appender_add_column(a->app, names[i]) == DuckDBError)
            rc = clove_err_set(err, CLOVE_EINVAL, "column \"%.200s\" of the incoming data does "
                               "not exist in dataset %s", names[i], d->cfg->name);
    }
    if (rc != 0) {
        clove__redact(e, err->message, sizeof err->message);
        append_free(a);
        return NULL;
    }
    return a;
}

int clove_append_chunk(clove_append_t *a, duckdb_data_chunk chunk, clove_err_t *err)
{
    if (atomic_load(&a->e->shutting_down))
        return clove_err_set(err, CLOVE_ESHUTDOWN, "Runtime is shutting down");
    if (duckdb_append_data_chunk(a->app, chunk) == DuckDBError)
        return appender_error(a->app, "append rows to", a->d, err);
    a->rows += (int64_t)duckdb_data_chunk_get_size(chunk);
    return 0;
}

int clove_append_commit(clove_append_t *a, int64_t *rows, clove_err_t *err)
{
    dataset_t *d = a->d;
    int64_t written = 0;
    int rc = 0;
    *rows = 0;
    if (duckdb_appender_close(a->app) == DuckDBError)
        rc = appender_error(a->app, "append rows to", d, err);
    duckdb_appender_destroy(&a->app);
    a->app = NULL;
    if (rc == 0) rc = clove__append_incoming(d, a->pc->conn, &written, err);
    if (rc == 0) {
        /* cached plans may hold the old statistics (see refresh_once in datasets.c) */
        atomic_fetch_add(&a->e->ddl_generation, 1);
        char *qi = clove_sql_ident(d->cfg->name);
        char *public_name = clove_xasprintf("spice.public.%s", qi);
        int64_t held = clove__count_rows(a->pc->conn, public_name);
        free(public_name);
        free(qi);
        pthread_mutex_lock(&d->lock);
        if (held >= 0) d->rows = held;
        pthread_mutex_unlock(&d->lock);
        *rows = written;
        clove_info(COMP, "appended %lld of %lld rows to dataset %s", (long long)written,
                   (long long)a->rows, d->cfg->name);
    } else {
        clove__redact(a->e, err->message, sizeof err->message);
    }
    append_free(a);
    return rc;
}

void clove_append_abort(clove_append_t *a)
{
    if (a) append_free(a);
}
