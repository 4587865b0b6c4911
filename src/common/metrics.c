/*
 * metrics.c: the process-wide Prometheus registry. Series are kept in a hash table keyed by
 * (name, labels) under one mutex; rendering groups series by metric name in first-seen order.
 */
#include "common/common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { M_COUNTER, M_GAUGE, M_HISTOGRAM } mkind_t;

static const double BUCKETS[] = {0.1, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000,
                                 2500, 5000, 10000, 30000, 60000, 300000};
#define NBUCKETS (sizeof BUCKETS / sizeof BUCKETS[0])

typedef struct series {
    struct series *next_hash;
    struct series *next_order;
    char *name;
    char *help;
    char *labels;
    mkind_t kind;
    double value;                 /* counter/gauge; histogram sum */
    uint64_t count;               /* histogram */
    uint64_t buckets[NBUCKETS];   /* histogram, non-cumulative */
} series_t;

#define NSLOTS 1024
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER; /* guards every field below */
static series_t *g_slots[NSLOTS];
static series_t *g_first, *g_last;

static uint32_t hash2(const char *a, const char *b)
{
    uint32_t h = 2166136261u;
    for (; *a; a++) h = (h ^ (unsigned char)*a) * 16777619u;
    h = (h ^ 0xff) * 16777619u;
    for (; *b; b++) h = (h ^ (unsigned char)*b) * 16777619u;
    return h;
}

/* Finds or creates a series; caller holds g_lock. */
static series_t *get_series(const char *name, const char *help, const char *labels, mkind_t kind)
{
    if (!labels) labels = "";
    uint32_t slot = hash2(name, labels) % NSLOTS;
    for (series_t *s = g_slots[slot]; s; s = s->next_hash)
        if (strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0) return s;
    series_t *s = clove_xcalloc(1, sizeof *s);
    s->name = clove_xstrdup(name);
    s->help = clove_xstrdup(help ? help : "");
    s->labels = clove_xstrdup(labels);
    s->kind = kind;
    s->next_hash = g_slots[slot];
    g_slots[slot] = s;
    if (g_last) g_last->next_order = s;
    else g_first = s;
    g_last = s;
    return s;
}

void clove_metric_counter_add(const char *name, const char *help, const char *labels, double v)
{
    pthread_mutex_lock(&g_lock);
    get_series(name, help, labels, M_COUNTER)->value += v;
    pthread_mutex_unlock(&g_lock);
}

void clove_metric_gauge_set(const char *name, const char *help, const char *labels, double v)
{
    pthread_mutex_lock(&g_lock);
    get_series(name, help, labels, M_GAUGE)->value = v;
    pthread_mutex_unlock(&g_lock);
}

void clove_metric_histogram_observe(const char *name, const char *help, const char *labels,
                                    double ms)
{
    pthread_mutex_lock(&g_lock);
    series_t *s = get_series(name, help, labels, M_HISTOGRAM);
    s->value += ms;
    s->count++;
    for (size_t i = 0; i < NBUCKETS; i++) {
        if (ms <= BUCKETS[i]) {
            s->buckets[i]++;
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
}

void clove_metric_remove(const char *name, const char *labels)
{
    if (!labels) labels = "";
    pthread_mutex_lock(&g_lock);
    uint32_t slot = hash2(name, labels) % NSLOTS;
    series_t **pp = &g_slots[slot];
    series_t *victim = NULL;
    for (; *pp; pp = &(*pp)->next_hash) {
        if (strcmp((*pp)->name, name) == 0 && strcmp((*pp)->labels, labels) == 0) {
            victim = *pp;
            *pp = victim->next_hash;
            break;
        }
    }
    if (victim) {
        series_t *prev = NULL;
        for (series_t *s = g_first; s; prev = s, s = s->next_order) {
            if (s != victim) continue;
            if (prev) prev->next_order = s->next_order;
            else g_first = s->next_order;
            if (g_last == s) g_last = prev;
            break;
        }
        free(victim->name);
        free(victim->help);
        free(victim->labels);
        free(victim);
    }
    pthread_mutex_unlock(&g_lock);
}

static void put_num(clove_buf_t *out, double v)
{
    if (v == (double)(int64_t)v && v < 9e15 && v > -9e15) clove_buf_printf(out, "%lld", (long long)v);
    else clove_buf_printf(out, "%.17g", v);
}

static void put_labels(clove_buf_t *out, const char *labels, const char *extra)
{
    bool has = labels && *labels;
    if (!has && !extra) return;
    clove_buf_putc(out, '{');
    if (has) clove_buf_puts(out, labels);
    if (extra) {
        if (has) clove_buf_putc(out, ',');
        clove_buf_puts(out, extra);
    }
    clove_buf_putc(out, '}');
}

void clove_metrics_render(clove_buf_t *out)
{
    static const char *types[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&g_lock);
    /* group by name: for each first occurrence of a name, emit all its series */
    for (series_t *s = g_first; s; s = s->next_order) {
        bool seen = false;
        for (series_t *p = g_first; p != s; p = p->next_order)
            if (strcmp(p->name, s->name) == 0) { seen = true; break; }
        if (seen) continue;
        clove_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", s->name, s->help, s->name,
                         types[s->kind]);
        for (series_t *t = s; t; t = t->next_order) {
            if (strcmp(t->name, s->name) != 0) continue;
            if (t->kind != M_HISTOGRAM) {
                clove_buf_puts(out, t->name);
                /* counters carry the _total suffix in the exposition, as the runtime we are
                 * compatible with (OpenTelemetry's Prometheus exporter) writes them */
                if (t->kind == M_COUNTER) clove_buf_puts(out, "_total");
                put_labels(out, t->labels, NULL);
                clove_buf_putc(out, ' ');
                put_num(out, t->value);
                clove_buf_putc(out, '\n');
                continue;
            }
            uint64_t cum = 0;
            char le[64];
            for (size_t i = 0; i < NBUCKETS; i++) {
                cum += t->buckets[i];
                snprintf(le, sizeof le, "le=\"%g\"", BUCKETS[i]);
                clove_buf_printf(out, "%s_bucket", t->name);
                put_labels(out, t->labels, le);
                clove_buf_printf(out, " %llu\n", (unsigned long long)cum);
            }
            clove_buf_printf(out, "%s_bucket", t->name);
            put_labels(out, t->labels, "le=\"+Inf\"");
            clove_buf_printf(out, " %llu\n", (unsigned long long)t->count);
            clove_buf_printf(out, "%s_sum", t->name);
            put_labels(out, t->labels, NULL);
            clove_buf_putc(out, ' ');
            put_num(out, t->value);
            clove_buf_printf(out, "\n%s_count", t->name);
            put_labels(out, t->labels, NULL);
            clove_buf_printf(out, " %llu\n", (unsigned long long)t->count);
        }
    }
    pthread_mutex_unlock(&g_lock);
}

void clove_metrics_reset(void)
{
    pthread_mutex_lock(&g_lock);
    series_t *s = g_first;
    while (s) {
        series_t *n = s->next_order;
        free(s->name);
        free(s->help);
        free(s->labels);
        free(s);
        s = n;
    }
    memset(g_slots, 0, sizeof g_slots);
    g_first = g_last = NULL;
    pthread_mutex_unlock(&g_lock);
}
