/*
 * common: error values, logging, growable buffers, durations and sizes, metrics registry.
 * Everything else in clove depends on this header; it depends on nothing in clove.
 */
#ifndef CLOVE_COMMON_H
#define CLOVE_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors ---------------------------------------------------------------------------- */

/* One table: code, name, HTTP status, gRPC status. */
#define CLOVE_ERRNO_MAP(X)                                   \
    X(OK, 0, "ok", 200, 0)                                   \
    X(EINVAL, -1, "invalid argument", 400, 3)                \
    X(ENOMEM, -2, "out of memory", 500, 8)                   \
    X(ENOTFOUND, -3, "not found", 404, 5)                    \
    X(ENOTREADY, -4, "not ready", 400, 14)                   \
    X(ETIMEDOUT, -5, "query timed out", 504, 4)              \
    X(ESHUTDOWN, -6, "shutting down", 503, 14)               \
    X(EAUTH, -7, "unauthenticated", 401, 16)                 \
    X(EPERM, -8, "permission denied", 403, 7)                \
    X(ETOOBIG, -9, "too large", 413, 8)                      \
    X(EIO, -10, "i/o error", 500, 13)                        \
    X(EQUERY, -11, "query failed", 400, 3)                   \
    X(ECANCELED, -12, "canceled", 499, 1)                    \
    X(ECONFIG, -13, "invalid configuration", 400, 3)         \
    X(EINTERNAL, -14, "internal error", 500, 13)             \
    X(EBUSY, -15, "too many queries", 503, 8)                \
    X(EUNSUPPORTED, -16, "not supported", 400, 12)         \
    X(EUNAVAILABLE, -17, "source unavailable", 503, 14)

typedef enum {
#define X(name, code, str, http, grpc) CLOVE_##name = code,
    CLOVE_ERRNO_MAP(X)
#undef X
} clove_errno_t;

#define CLOVE_ERR_MSG_MAX 1024

/* An error a caller can show to a user: code plus a complete, lower-case message. */
typedef struct {
    int code;                       /* CLOVE_E* (negative) or 0 */
    char message[CLOVE_ERR_MSG_MAX];
} clove_err_t;

const char *clove_strerror(int code);
int clove_err_http_status(int code);
int clove_err_grpc_status(int code);
/* Sets err (if not NULL) and returns code; printf-style message. */
int clove_err_set(clove_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void clove_err_clear(clove_err_t *err);

/* ---- source events ---------------------------------------------------------------------- */

/* What a source connector learned about its source while working for a dataset. */
typedef enum {
    CLOVE_SOURCE_REACHABLE = 0,  /* a connection or request reached the source */
    CLOVE_SOURCE_UNREACHABLE,    /* it could not be reached: connection refused or reset, DNS,
                                    TLS, timeout, 5xx after retries (not SQL errors, not
                                    permission errors on one object) */
    CLOVE_SOURCE_CHANGED,        /* the source's columns are not the ones the dataset was
                                    registered with */
} clove_source_event_t;

/* How a connector reports source events to the engine. message (may be NULL for REACHABLE)
 * names the source (host:port, bucket, URL) and never credentials. Called on the thread that
 * did the work, with no connector lock held; must be quick and must not call back into the
 * connector. */
typedef void (*clove_source_event_cb)(void *ud, clove_source_event_t ev, const char *message);

/* Stays on in release builds. */
#define CLOVE_ASSERT(cond)                                                   \
    do {                                                                     \
        if (!(cond)) clove_assert_fail(#cond, __FILE__, __LINE__);           \
    } while (0)
_Noreturn void clove_assert_fail(const char *expr, const char *file, int line);

/* Allocation that aborts on failure: for small, fixed-size bookkeeping only.
 * Data-sized allocations use plain malloc and report CLOVE_ENOMEM. */
void *clove_xmalloc(size_t n);
void *clove_xcalloc(size_t n, size_t size);
void *clove_xrealloc(void *p, size_t n);
char *clove_xstrdup(const char *s);
char *clove_xstrndup(const char *s, size_t n);
char *clove_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- logging --------------------------------------------------------------------------- */

typedef enum { CLOVE_LOG_DEBUG = 0, CLOVE_LOG_INFO, CLOVE_LOG_WARN, CLOVE_LOG_ERROR } clove_log_level_t;

void clove_log_set_level(clove_log_level_t level);
clove_log_level_t clove_log_get_level(void);
/* One line to stderr: "2026-11-21T12:00:00.123Z INFO  component: message". Thread-safe.
 * Never pass secret values. */
void clove_log(clove_log_level_t level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define clove_debug(comp, ...) \
    do { if (clove_log_get_level() <= CLOVE_LOG_DEBUG) clove_log(CLOVE_LOG_DEBUG, comp, __VA_ARGS__); } while (0)
#define clove_info(comp, ...) clove_log(CLOVE_LOG_INFO, comp, __VA_ARGS__)
#define clove_warn(comp, ...) clove_log(CLOVE_LOG_WARN, comp, __VA_ARGS__)
#define clove_error(comp, ...) clove_log(CLOVE_LOG_ERROR, comp, __VA_ARGS__)

/* Names the calling thread (at most 15 characters shown by the OS). */
void clove_thread_name(const char *name);

/* ---- buffers --------------------------------------------------------------------------- */

/* Growable byte buffer; always NUL-terminated when data != NULL. A failed growth sets
 * `failed` and later appends are ignored, so writers check once at the end. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
} clove_buf_t;

void clove_buf_init(clove_buf_t *b);
void clove_buf_dispose(clove_buf_t *b);
void clove_buf_reset(clove_buf_t *b);                /* len = 0, keeps memory */
bool clove_buf_reserve(clove_buf_t *b, size_t extra); /* room for extra more bytes */
void clove_buf_append(clove_buf_t *b, const void *data, size_t n);
void clove_buf_puts(clove_buf_t *b, const char *s);
void clove_buf_putc(clove_buf_t *b, char c);
void clove_buf_printf(clove_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void clove_buf_vprintf(clove_buf_t *b, const char *fmt, va_list ap);
/* Appends s as a JSON string literal (with quotes), escaping per RFC 8259; invalid UTF-8
 * bytes become U+FFFD. */
void clove_buf_json_string(clove_buf_t *b, const char *s, size_t n);
/* Detaches the data (caller frees); buffer becomes empty. */
char *clove_buf_steal(clove_buf_t *b);
/* Appends s between two q characters, each q inside doubled: q = '"' gives a SQL identifier
 * ("a""b"), q = '\'' a SQL string literal ('it''s'), valid for DuckDB, SQLite and PostgreSQL. */
void clove_buf_sql_quoted(clove_buf_t *b, const char *s, char q);
/* The same as a new string (caller frees): a quoted identifier, a string literal. */
char *clove_sql_ident(const char *s);
char *clove_sql_literal(const char *s);
/* Data file formats of sources and caches: "parquet", "csv" or "json" (static strings).
 * clove_file_format_name: the canonical name of a `file_format` value (any case), or NULL.
 * clove_file_format_of_name: the format named by the extension of the last segment of
 * name[0..n) (.parquet .pq, .csv .tsv, .json .jsonl .ndjson; one .gz or .zst suffix looks at
 * the extension before it), or NULL. */
const char *clove_file_format_name(const char *v);
const char *clove_file_format_of_name(const char *name, size_t n);
/* Creates a directory and its missing parents (mode 0755); 0 or -1 with errno set. */
int clove_mkdir_p(const char *path);

/* ---- durations, sizes, time ------------------------------------------------------------- */

/* "500ms", "10s", "5m", "1h", "1d", "1h30m", bare integer = seconds. Returns 0 or CLOVE_EINVAL. */
int clove_parse_duration_ms(const char *s, int64_t *out_ms);
/* "128MiB", "1GB", "512KiB", "100", "1.5GiB". Returns 0 or CLOVE_EINVAL. */
int clove_parse_size_bytes(const char *s, uint64_t *out_bytes);
/* Formats ms as "1h30m", "500ms", "10s". */
void clove_format_duration(int64_t ms, char *out, size_t outlen);

int64_t clove_now_ms(void);        /* wall clock, ms since epoch */
int64_t clove_mono_ns(void);       /* monotonic ns */
/* Constant-time comparison of two byte strings (length leaks, content does not). */
bool clove_consttime_eq(const char *a, size_t alen, const char *b, size_t blen);
bool clove_str_ieq(const char *a, const char *b);

/* ---- metrics --------------------------------------------------------------------------- */

/* A process-wide registry of Prometheus metrics. Counters and gauges are identified by
 * name plus a label string like `dataset="taxi"` (may be ""). Thread-safe; cheap enough
 * to call per query. */
void clove_metric_counter_add(const char *name, const char *help, const char *labels, double v);
void clove_metric_gauge_set(const char *name, const char *help, const char *labels, double v);
/* Histogram in milliseconds with fixed buckets. */
void clove_metric_histogram_observe(const char *name, const char *help, const char *labels,
                                    double ms);
/* Removes every series of `name` whose labels equal `labels`. */
void clove_metric_remove(const char *name, const char *labels);
/* Appends the Prometheus text exposition of every metric. */
void clove_metrics_render(clove_buf_t *out);
/* Frees the registry (tests, exit). */
void clove_metrics_reset(void);

#endif
