/*
 * health.c: source health of federated datasets after they registered. A connector (its
 * event callback: PostgreSQL connections) or the query path (S3 / HTTP(S) syncs) reports that
 * a dataset's source could not be reached; the dataset goes to Error with the source's
 * message, and its thread probes the source with backoff (the connector's cheap probe: a
 * connection and SELECT 1, a one-key listing, a HEAD request) until it answers. A probe or a
 * query that reaches the source makes the dataset Ready again. Queries are never held back:
 * one on a dataset in Error still tries the source, so it succeeds as soon as the source is
 * back. Accelerated datasets are left to their refreshes, which report their own errors.
 *
 * The mechanism is the same for every connector; the probe is the only connector-specific
 * part (clove__health_init picks it).
 */
#include "engine/engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMP "datasets"
#define PROBE_BASE_MS 1000
#define PROBE_MAX_MS 30000

static int probe_pg(dataset_t *d, clove_err_t *err) { return clove_pg_source_probe(d->pg, err); }

static int probe_remote(dataset_t *d, clove_err_t *err)
{
    return clove_source_probe(d->remote, err);
}

static void source_event_cb(void *ud, clove_source_event_t ev, const char *message)
{
    dataset_t *d = ud;
    if (ev == CLOVE_SOURCE_UNREACHABLE) clove__source_unreachable(d, message);
    else if (ev == CLOVE_SOURCE_REACHABLE) clove__source_reachable(d);
    else clove__source_changed(d, message);
}

void clove__health_init(dataset_t *d)
{
    if (d->source_error) return;
    /* column changes matter to every PostgreSQL dataset (an accelerated one takes them at its
     * next refresh); reachability only to federated ones */
    if (d->pg) clove_pg_source_set_events(d->pg, source_event_cb, d);
    if (d->accelerated) return;
    if (d->pg) {
        d->probe = probe_pg;
        d->source_label = clove_xasprintf("PostgreSQL at \"%s\"", clove_pg_source_endpoint(d->pg));
    } else if (d->remote) {
        d->probe = probe_remote;
        d->source_label = clove_xasprintf("\"%s\"", clove_source_display(d->remote));
    }
}

void clove__source_unreachable(dataset_t *d, const char *message)
{
    if (!d->probe || atomic_load(&d->e->shutting_down)) return;
    char *m = clove__dataset_redacted(d, message && *message ? message
                                                              : "its source could not be reached");
    pthread_mutex_lock(&d->lock);
    if (!d->loaded) { /* not registered yet: the registration retries report it */
        pthread_mutex_unlock(&d->lock);
        free(m);
        return;
    }
    bool was_down = d->source_down;
    d->source_down = true;
    d->state = CLOVE_DS_ERROR;
    d->error_code = CLOVE_EUNAVAILABLE;
    bool same = d->error && !strcmp(d->error, m);
    if (!same) {
        free(d->error);
        d->error = m;
        m = NULL;
    }
    pthread_cond_broadcast(&d->cond); /* the dataset thread starts probing */
    pthread_mutex_unlock(&d->lock);
    if (!was_down) {
        clove__dataset_publish_state(d);
        pthread_mutex_lock(&d->lock);
        char *shown = d->error ? clove_xstrdup(d->error) : NULL;
        pthread_mutex_unlock(&d->lock);
        clove_warn(COMP, "dataset %s is in Error: %s; probing its source until it answers",
                   d->cfg->name, shown ? shown : "");
        free(shown);
    }
    free(m);
}

void clove__source_reachable(dataset_t *d)
{
    if (!d->probe) return;
    pthread_mutex_lock(&d->lock);
    if (!d->source_down) {
        pthread_mutex_unlock(&d->lock);
        return;
    }
    d->source_down = false;
    d->state = CLOVE_DS_READY;
    d->error_code = 0;
    free(d->error);
    d->error = NULL;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
    clove__dataset_publish_state(d);
    clove_info(COMP, "dataset %s is Ready again: its source %s answers", d->cfg->name,
               d->source_label);
}

void clove__source_changed(dataset_t *d, const char *message)
{
    pthread_mutex_lock(&d->lock);
    bool was = d->columns_changed;
    d->columns_changed = true;
    pthread_mutex_unlock(&d->lock);
    if (!was)
        clove_info(COMP, "dataset %s: %s; reading them again", d->cfg->name,
                   message ? message : "the columns of its source changed");
}

bool clove__columns_changed(dataset_t *d)
{
    pthread_mutex_lock(&d->lock);
    bool changed = d->columns_changed;
    pthread_mutex_unlock(&d->lock);
    return changed;
}

bool clove__source_down(dataset_t *d)
{
    if (!d->probe) return false;
    pthread_mutex_lock(&d->lock);
    bool down = d->source_down;
    pthread_mutex_unlock(&d->lock);
    return down;
}

/* Sleeps up to ms, or until the engine stops or the source is found reachable. Returns
 * false when the engine is stopping. */
static bool wait_down(dataset_t *d, int64_t ms)
{
    int64_t deadline = clove_now_ms() + ms;
    struct timespec ts = {.tv_sec = deadline / 1000, .tv_nsec = (deadline % 1000) * 1000000};
    pthread_mutex_lock(&d->lock);
    while (!atomic_load(&d->e->shutting_down) && d->source_down)
        if (pthread_cond_timedwait(&d->cond, &d->lock, &ts) != 0) break;
    pthread_mutex_unlock(&d->lock);
    return !atomic_load(&d->e->shutting_down);
}

void clove__health_watch(dataset_t *d)
{
    if (!d->probe) return;
    clove_engine_t *e = d->e;
    for (;;) {
        pthread_mutex_lock(&d->lock);
        while (!atomic_load(&e->shutting_down) && !d->source_down)
            pthread_cond_wait(&d->cond, &d->lock);
        pthread_mutex_unlock(&d->lock);
        if (atomic_load(&e->shutting_down)) return;
        /* probe after a pause, then with fibonacci backoff, until the source answers (or a
         * query finds it answering) */
        int64_t fib_a = 0, fib_b = 1;
        for (;;) {
            int64_t next = fib_a + fib_b;
            fib_a = fib_b;
            fib_b = next;
            int64_t wait = fib_a * PROBE_BASE_MS;
            if (!wait_down(d, wait > PROBE_MAX_MS ? PROBE_MAX_MS : wait)) return;
            if (!clove__source_down(d)) break;
            clove_err_t err;
            clove_err_clear(&err);
            int rc = d->probe(d, &err);
            if (atomic_load(&e->shutting_down)) return;
            if (rc == 0) {
                clove__source_reachable(d);
                /* the table may have changed while its server was away */
                bool changed = false;
                if (d->pg && clove_pg_source_check_columns(d->pg, &changed, &err) == 0 &&
                    changed) {
                    clove__source_changed(d, "the columns of its PostgreSQL table changed "
                                             "while the server was unreachable");
                    if (clove__dataset_reload_columns(d, &err) != 0)
                        clove_warn(COMP, "dataset %s: %s", d->cfg->name, err.message);
                }
                break;
            }
            /* still unreachable: the dataset's message says why as of now */
            clove_debug(COMP, "dataset %s: probe of %s failed: %s", d->cfg->name,
                        d->source_label, err.message);
            if (rc == CLOVE_EUNAVAILABLE) clove__source_unreachable(d, err.message);
        }
    }
}
