/*
 * bench_util: small helpers shared by the benchmark programs in bench/ (clocks, percentiles,
 * /proc readings, option parsing). Header-only so run.sh can build each program with one gcc
 * line; everything is static inline so unused helpers cost nothing.
 */
#ifndef CLOVE_BENCH_UTIL_H
#define CLOVE_BENCH_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static inline int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void bench_sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static inline void bench_die(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static inline void bench_die(const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static inline int bench_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array (q in 0..1). */
static inline int64_t bench_pct(const int64_t *sorted, size_t n, double q)
{
    if (n == 0) return 0;
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return sorted[rank - 1];
}

static inline double bench_mean(const int64_t *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)v[i];
    return n ? s / (double)n : 0;
}

/* A field of /proc/PID/status in kB ("VmHWM", "VmRSS"); pid 0 means this process.
 * Returns -1 when the process or the field is gone. */
static inline long bench_status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    if (pid) snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    else snprintf(path, sizeof path, "/proc/self/status");
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, field, n) && line[n] == ':') {
            kb = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* xorshift64*: cheap per-thread random numbers for query parameters. */
static inline uint64_t bench_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* "--name value" option lookup; returns def when absent. */
static inline const char *bench_opt(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return def;
}

static inline long long bench_opt_ll(int argc, char **argv, const char *name, long long def)
{
    const char *v = bench_opt(argc, argv, name, NULL);
    return v ? strtoll(v, NULL, 10) : def;
}

static inline double bench_opt_d(int argc, char **argv, const char *name, double def)
{
    const char *v = bench_opt(argc, argv, name, NULL);
    return v ? strtod(v, NULL) : def;
}

#endif
