/*
 * common.c: error table, allocation helpers, logging, growable buffers, durations and
 * sizes, clocks. See common.h.
 */
#include "common/common.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>

/* ---- errors ---------------------------------------------------------------------------- */

const char *clove_strerror(int code)
{
    switch (code) {
#define X(name, c, str, http, grpc) case c: return str;
        CLOVE_ERRNO_MAP(X)
#undef X
    }
    return "unknown error";
}

int clove_err_http_status(int code)
{
    switch (code) {
#define X(name, c, str, http, grpc) case c: return http;
        CLOVE_ERRNO_MAP(X)
#undef X
    }
    return 500;
}

int clove_err_grpc_status(int code)
{
    switch (code) {
#define X(name, c, str, http, grpc) case c: return grpc;
        CLOVE_ERRNO_MAP(X)
#undef X
    }
    return 2;
}

int clove_err_set(clove_err_t *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

void clove_err_clear(clove_err_t *err)
{
    if (err) {
        err->code = 0;
        err->message[0] = '\0';
    }
}

void clove_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "clove: assertion failed: %s at %s:%d\n", expr, file, line);
    abort();
}

static void oom(size_t n)
{
    fprintf(stderr, "clove: out of memory allocating %zu bytes\n", n);
    abort();
}

void *clove_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *clove_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *clove_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *clove_xstrdup(const char *s)
{
    return clove_xstrndup(s, strlen(s));
}

char *clove_xstrndup(const char *s, size_t n)
{
    char *p = clove_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *clove_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    int n = vasprintf(&out, fmt, ap);
    va_end(ap);
    if (n < 0) oom(0);
    return out;
}

/* ---- logging --------------------------------------------------------------------------- */

static clove_log_level_t g_log_level = CLOVE_LOG_INFO;
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER; /* guards stderr line writes */

void clove_log_set_level(clove_log_level_t level) { g_log_level = level; }
clove_log_level_t clove_log_get_level(void) { return g_log_level; }

void clove_log(clove_log_level_t level, const char *component, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    if (level < g_log_level) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[2048];
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, names[level], component);
    if (n < 0) return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) len = sizeof line - 2;
    /* one event, one line: fold embedded newlines */
    for (size_t i = (size_t)n; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
    line[len++] = '\n';
    pthread_mutex_lock(&g_log_lock);
    fwrite(line, 1, len, stderr);
    fflush(stderr);
    pthread_mutex_unlock(&g_log_lock);
}

void clove_thread_name(const char *name)
{
    char n[16];
    snprintf(n, sizeof n, "%s", name);
    pthread_setname_np(pthread_self(), n);
}

/* ---- buffers --------------------------------------------------------------------------- */

void clove_buf_init(clove_buf_t *b) { memset(b, 0, sizeof *b); }

void clove_buf_dispose(clove_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void clove_buf_reset(clove_buf_t *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

bool clove_buf_reserve(clove_buf_t *b, size_t extra)
{
    if (b->failed) return false;
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void clove_buf_append(clove_buf_t *b, const void *data, size_t n)
{
    if (!clove_buf_reserve(b, n)) return;
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void clove_buf_puts(clove_buf_t *b, const char *s) { clove_buf_append(b, s, strlen(s)); }

void clove_buf_putc(clove_buf_t *b, char c)
{
    if (!clove_buf_reserve(b, 1)) return;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void clove_buf_vprintf(clove_buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof small) {
        clove_buf_append(b, small, (size_t)n);
    } else if (clove_buf_reserve(b, (size_t)n)) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

void clove_buf_printf(clove_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    clove_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Length of a valid UTF-8 sequence at s (n bytes available), or 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0;          /* overlong */
        if (c == 0xED && s[1] >= 0xA0) return 0;         /* surrogates */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0;
        if (c == 0xF4 && s[1] >= 0x90) return 0;
        return 4;
    }
    return 0;
}

void clove_buf_json_string(clove_buf_t *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    /* worst case 6 bytes per input byte plus quotes */
    if (!clove_buf_reserve(b, n * 6 + 2)) return;
    char *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = (char)c;
            i++;
            continue;
        }
        if (c < 0x80) {
            *o++ = '\\';
            switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\n': *o++ = 'n'; break;
            case '\r': *o++ = 'r'; break;
            case '\t': *o++ = 't'; break;
            case '\b': *o++ = 'b'; break;
            case '\f': *o++ = 'f'; break;
            default:
                *o++ = 'u'; *o++ = '0'; *o++ = '0';
                *o++ = hex[c >> 4]; *o++ = hex[c & 15];
            }
            i++;
            continue;
        }
        size_t l = utf8_seq_len(s + i, n - i);
        if (l == 0) { /* invalid byte: U+FFFD */
            *o++ = (char)0xEF; *o++ = (char)0xBF; *o++ = (char)0xBD;
            i++;
            continue;
        }
        memcpy(o, s + i, l);
        o += l;
        i += l;
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

char *clove_buf_steal(clove_buf_t *b)
{
    char *p = b->data;
    if (!p) p = clove_xstrdup("");
    memset(b, 0, sizeof *b);
    return p;
}

void clove_buf_sql_quoted(clove_buf_t *b, const char *s, char q)
{
    clove_buf_putc(b, q);
    for (; *s; s++) {
        if (*s == q) clove_buf_putc(b, q);
        clove_buf_putc(b, *s);
    }
    clove_buf_putc(b, q);
}

static char *sql_quoted(const char *s, char q)
{
    clove_buf_t b;
    clove_buf_init(&b);
    clove_buf_sql_quoted(&b, s, q);
    if (b.failed) oom(b.len); /* a truncated quote must never reach SQL text */
    return clove_buf_steal(&b);
}

char *clove_sql_ident(const char *s) { return sql_quoted(s, '"'); }
char *clove_sql_literal(const char *s) { return sql_quoted(s, '\''); }

const char *clove_file_format_name(const char *v)
{
    static const char *const names[] = {"parquet", "csv", "json"};
    for (size_t i = 0; v && i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(v, names[i])) return names[i];
    return NULL;
}

/* Does the extension ext[0..n) equal one of the NULL-terminated list, ignoring case? */
static bool ext_in(const char *ext, size_t n, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == n && !strncasecmp(ext, *list, n)) return true;
    return false;
}

const char *clove_file_format_of_name(const char *name, size_t n)
{
    static const char *const parquet[] = {"parquet", "pq", NULL};
    static const char *const csv[] = {"csv", "tsv", NULL};
    static const char *const json[] = {"json", "jsonl", "ndjson", NULL};
    static const char *const compressed[] = {"gz", "zst", NULL};
    size_t start = n;
    while (start > 0 && name[start - 1] != '/') start--;
    for (int pass = 0; pass < 2; pass++) {
        size_t dot = n;
        while (dot > start && name[dot - 1] != '.') dot--;
        if (dot == start) return NULL; /* no extension */
        const char *ext = name + dot;
        size_t el = n - dot;
        if (ext_in(ext, el, parquet)) return "parquet";
        if (ext_in(ext, el, csv)) return "csv";
        if (ext_in(ext, el, json)) return "json";
        if (pass > 0 || !ext_in(ext, el, compressed)) return NULL;
        n = dot - 1; /* data.csv.gz: the extension before the compression suffix */
    }
    return NULL;
}

int clove_mkdir_p(const char *path)
{
    char *p = clove_xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *s = '/';
    }
    int rc = (mkdir(p, 0755) != 0 && errno != EEXIST) ? -1 : 0;
    free(p);
    return rc;
}

/* ---- durations, sizes, time ------------------------------------------------------------- */

int clove_parse_duration_ms(const char *s, int64_t *out_ms)
{
    if (!s) return CLOVE_EINVAL;
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return CLOVE_EINVAL;
    double total = 0;
    bool any = false;
    while (*s) {
        if (isspace((unsigned char)*s)) { s++; continue; }
        if (!isdigit((unsigned char)*s) && *s != '.') return CLOVE_EINVAL;
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || errno || v < 0) return CLOVE_EINVAL;
        s = end;
        double mult;
        if (*s == '\0' && !any) mult = 1000;            /* bare number: seconds */
        else if (strncmp(s, "ms", 2) == 0) { mult = 1; s += 2; }
        else if (strncmp(s, "us", 2) == 0) { mult = 0.001; s += 2; }
        else if (strncmp(s, "ns", 2) == 0) { mult = 0.000001; s += 2; }
        else if (*s == 's') { mult = 1000; s++; }
        else if (*s == 'm') { mult = 60000; s++; }
        else if (*s == 'h') { mult = 3600000; s++; }
        else if (*s == 'd') { mult = 86400000; s++; }
        else if (*s == 'w') { mult = 7 * 86400000.0; s++; }
        else return CLOVE_EINVAL;
        total += v * mult;
        any = true;
        if (total > 9e15) return CLOVE_EINVAL;
    }
    *out_ms = (int64_t)llround(total);
    return 0;
}

int clove_parse_size_bytes(const char *s, uint64_t *out_bytes)
{
    if (!s) return CLOVE_EINVAL;
    while (isspace((unsigned char)*s)) s++;
    if (!isdigit((unsigned char)*s) && *s != '.') return CLOVE_EINVAL;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0) return CLOVE_EINVAL;
    while (isspace((unsigned char)*end)) end++;
    static const struct { const char *suffix; double mult; } units[] = {
        {"", 1}, {"B", 1},
        {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
        {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
        {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
        {"kB", 1e3}, {"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"kib", 1024.0}, {"mib", 1048576.0},
        {"gib", 1073741824.0},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            double b = v * units[i].mult;
            if (b > 1.8e19) return CLOVE_EINVAL;
            *out_bytes = (uint64_t)llround(b);
            return 0;
        }
    }
    return CLOVE_EINVAL;
}

void clove_format_duration(int64_t ms, char *out, size_t outlen)
{
    if (ms % 1000 != 0 || ms == 0) {
        snprintf(out, outlen, "%" PRId64 "ms", ms);
        return;
    }
    int64_t s = ms / 1000;
    int64_t d = s / 86400, h = (s % 86400) / 3600, m = (s % 3600) / 60, sec = s % 60;
    size_t n = 0;
    out[0] = '\0';
    if (d) n += (size_t)snprintf(out + n, outlen > n ? outlen - n : 0, "%" PRId64 "d", d);
    if (h) n += (size_t)snprintf(out + n, outlen > n ? outlen - n : 0, "%" PRId64 "h", h);
    if (m) n += (size_t)snprintf(out + n, outlen > n ? outlen - n : 0, "%" PRId64 "m", m);
    if (sec) snprintf(out + n, outlen > n ? outlen - n : 0, "%" PRId64 "s", sec);
}

int64_t clove_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clove_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool clove_consttime_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    /* compare over the longer length so content never short-circuits */
    size_t n = alen > blen ? alen : blen;
    unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < alen ? (unsigned char)a[i] : 0;
        unsigned char y = i < blen ? (unsigned char)b[i] : 0;
        diff |= (unsigned char)(x ^ y);
    }
    return diff == 0;
}

bool clove_str_ieq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}
