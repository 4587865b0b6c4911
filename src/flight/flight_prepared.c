/*
 * Flight SQL prepared statement handles: a bounded table (FLIGHT_PREPARED_MAX) mapping a
 * random 128-bit hex handle to the statement's SQL, its dataset schema and the parameters the
 * client last bound with DoPut. A handle unused for FLIGHT_PREPARED_IDLE_MS expires (swept on
 * every access). Nothing here holds a DuckDB statement or connection: executing a handle runs
 * its SQL through the engine's normal query path (sandbox, readiness, statement cache).
 *
 * Threads: any call thread; `mu` guards the table.
 */
#include "flight/flight_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

const int32_t clove_flight_statement_timeout_ms = FLIGHT_PREPARED_IDLE_MS;

typedef struct {
    bool used;
    char handle[FLIGHT_HANDLE_LEN + 1];
    char *sql;
    clove_param_t *params;       /* n_rows x n_params */
    size_t n_params;
    size_t n_rows;
    clove_buf_t dataset_schema;
    int64_t last_used_ns;
} slot_t;

struct flight_pstmts {
    pthread_mutex_t mu;          /* guards slots */
    slot_t slots[FLIGHT_PREPARED_MAX];
};

static clove_param_t *params_copy(const clove_param_t *params, size_t n)
{
    if (!n) return NULL;
    clove_param_t *c = clove_xcalloc(n, sizeof(*c));
    for (size_t i = 0; i < n; i++) {
        c[i] = params[i];
        c[i].name = NULL;
        if (!params[i].s) continue;
        /* typed strings and blobs are len bytes and may hold NULs */
        size_t len = params[i].kind == CLOVE_PARAM_TYPED ? params[i].len : strlen(params[i].s);
        char *copy = clove_xmalloc(len + 1);
        memcpy(copy, params[i].s, len);
        copy[len] = '\0';
        c[i].s = copy;
    }
    return c;
}

void flight_pstmt_dispose(flight_pstmt_t *p)
{
    free(p->sql);
    flight_params_free(p->params, p->n_params * p->n_rows);
    clove_buf_dispose(&p->dataset_schema);
    memset(p, 0, sizeof(*p));
}

static void slot_clear(slot_t *s)
{
    free(s->sql);
    flight_params_free(s->params, s->n_params * s->n_rows);
    clove_buf_dispose(&s->dataset_schema);
    memset(s, 0, sizeof(*s));
}

flight_pstmts_t *flight_pstmts_create(void)
{
    flight_pstmts_t *t = clove_xcalloc(1, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void flight_pstmts_destroy(flight_pstmts_t *t)
{
    if (!t) return;
    for (size_t i = 0; i < FLIGHT_PREPARED_MAX; i++)
        if (t->slots[i].used) slot_clear(&t->slots[i]);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* Frees expired handles. Called with mu held. */
static void sweep(flight_pstmts_t *t, int64_t now)
{
    for (size_t i = 0; i < FLIGHT_PREPARED_MAX; i++) {
        slot_t *s = &t->slots[i];
        if (s->used && now - s->last_used_ns > (int64_t)FLIGHT_PREPARED_IDLE_MS * 1000000)
            slot_clear(s);
    }
}

/* The live slot for handle, or NULL (err filled). Called with mu held. */
static slot_t *find(flight_pstmts_t *t, const uint8_t *handle, size_t len, clove_err_t *err)
{
    if (len == FLIGHT_HANDLE_LEN) {
        for (size_t i = 0; i < FLIGHT_PREPARED_MAX; i++) {
            slot_t *s = &t->slots[i];
            if (s->used && memcmp(s->handle, handle, len) == 0) return s;
        }
    }
    clove_err_set(err, CLOVE_ENOTFOUND,
                  "prepared statement handle \"%.*s\" is unknown or expired (handles live %d "
                  "minutes unused)",
                  (int)(len > 64 ? 64 : len), (const char *)handle,
                  FLIGHT_PREPARED_IDLE_MS / 60000);
    return NULL;
}

int flight_pstmts_add(flight_pstmts_t *t, const char *sql, const clove_buf_t *dataset_schema,
                      char handle[FLIGHT_HANDLE_LEN + 1], clove_err_t *err)
{
    uint8_t raw[FLIGHT_HANDLE_LEN / 2];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return clove_err_set(err, CLOVE_EINTERNAL, "could not generate a statement handle");
    for (size_t i = 0; i < sizeof(raw); i++) snprintf(handle + 2 * i, 3, "%02x", raw[i]);

    int64_t now = clove_mono_ns();
    pthread_mutex_lock(&t->mu);
    sweep(t, now);
    slot_t *s = NULL;
    for (size_t i = 0; i < FLIGHT_PREPARED_MAX && !s; i++)
        if (!t->slots[i].used) s = &t->slots[i];
    if (s) {
        s->used = true;
        memcpy(s->handle, handle, FLIGHT_HANDLE_LEN + 1);
        s->sql = clove_xstrdup(sql);
        clove_buf_init(&s->dataset_schema);
        if (dataset_schema->len)
            clove_buf_append(&s->dataset_schema, dataset_schema->data, dataset_schema->len);
        s->last_used_ns = now;
    }
    pthread_mutex_unlock(&t->mu);
    if (!s)
        return clove_err_set(err, CLOVE_EBUSY,
                             "too many open prepared statements (%d): close some with "
                             "ClosePreparedStatement", FLIGHT_PREPARED_MAX);
    return 0;
}

int flight_pstmts_get(flight_pstmts_t *t, const uint8_t *handle, size_t len, flight_pstmt_t *out,
                      clove_err_t *err)
{
    memset(out, 0, sizeof(*out));
    clove_buf_init(&out->dataset_schema);
    int64_t now = clove_mono_ns();
    pthread_mutex_lock(&t->mu);
    sweep(t, now);
    slot_t *s = find(t, handle, len, err);
    if (s) {
        s->last_used_ns = now;
        out->sql = clove_xstrdup(s->sql);
        out->params = params_copy(s->params, s->n_params * s->n_rows);
        out->n_params = s->n_params;
        out->n_rows = s->n_rows;
        if (s->dataset_schema.len)
            clove_buf_append(&out->dataset_schema, s->dataset_schema.data, s->dataset_schema.len);
    }
    pthread_mutex_unlock(&t->mu);
    return s ? 0 : err->code;
}

int flight_pstmts_bind(flight_pstmts_t *t, const uint8_t *handle, size_t len,
                       clove_param_t *params, size_t n_params, size_t n_rows, clove_err_t *err)
{
    int64_t now = clove_mono_ns();
    pthread_mutex_lock(&t->mu);
    sweep(t, now);
    slot_t *s = find(t, handle, len, err);
    if (s) {
        flight_params_free(s->params, s->n_params * s->n_rows);
        s->params = params;
        s->n_params = n_params;
        s->n_rows = n_rows;
        s->last_used_ns = now;
        params = NULL;
    }
    pthread_mutex_unlock(&t->mu);
    if (params) flight_params_free(params, n_params * n_rows);
    return s ? 0 : err->code;
}

int flight_pstmts_close(flight_pstmts_t *t, const uint8_t *handle, size_t len, clove_err_t *err)
{
    pthread_mutex_lock(&t->mu);
    slot_t *s = find(t, handle, len, err);
    if (s) slot_clear(s);
    pthread_mutex_unlock(&t->mu);
    return s ? 0 : err->code;
}
