/*
 * fetch.c: one HTTP GET as the connectors need it, on libcurl. The body goes into a file of the
 * local cache (written under a temporary name beside it and renamed into place, so a reader
 * sees the old or the new file, never a partial one) or into a bounded memory buffer.
 * Timeouts, connection failures, 408, 429 and 5xx are retried with fibonacci, linear or
 * exponential backoff and jitter; Retry-After is honoured. TLS certificates are always
 * verified. Messages name the object and the reason, never credentials.
 */
#include "connectors/connectors_int.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ERRBODY_MAX 4096
#define RETRY_DELAY_CAP_MS 30000
#define RETRY_AFTER_CAP_MS 60000

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

void clove__curl_init(void) { pthread_once(&curl_once, curl_init_once); }

bool clove__sleep_ms(int64_t ms, const atomic_bool *cancel)
{
    while (ms > 0) {
        if (cancel && atomic_load(cancel)) return false;
        int64_t step = ms > 50 ? 50 : ms;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = step * 1000000};
        nanosleep(&ts, NULL);
        ms -= step;
    }
    return !(cancel && atomic_load(cancel));
}

char *clove__url_for_display(const char *url)
{
    const char *scheme_end = strstr(url, "://");
    if (!scheme_end) return clove_xstrdup(url);
    const char *auth = scheme_end + 3;
    size_t host_len = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', host_len);
    if (!at) {
        /* the last '@' before the path ends the userinfo */
        return clove_xstrdup(url);
    }
    for (const char *p = at + 1; p < auth + host_len; p++)
        if (*p == '@') at = p;
    return clove_xasprintf("%.*s%s", (int)(auth - url), url, at + 1);
}

/* ---- parameters ------------------------------------------------------------------------- */

static int param_duration(const clove_dataset_cfg_t *cfg, const char *name, int64_t *out,
                          clove_err_t *err)
{
    const char *v = clove_kv_get(&cfg->params, name);
    if (!v) return 0;
    if (clove_parse_duration_ms(v, out) != 0 || *out < 0)
        return clove_err_set(err, CLOVE_ECONFIG,
                             "dataset %s: params.%s: expected a duration like 30s; got \"%s\"",
                             cfg->name, name, v);
    return 0;
}

int clove__fetch_opts_from_params(clove_fetch_opts_t *o, const clove_dataset_cfg_t *cfg,
                                  clove_err_t *err)
{
    memset(o, 0, sizeof *o);
    o->timeout_ms = 30000;
    o->connect_timeout_ms = 10000;
    o->max_retries = 3;
    o->backoff = CLOVE_BACKOFF_FIBONACCI;
    o->retry_base_ms = 500;
    o->jitter = 0.3;
    if (param_duration(cfg, "client_timeout", &o->timeout_ms, err) ||
        param_duration(cfg, "connect_timeout", &o->connect_timeout_ms, err) ||
        param_duration(cfg, "retry_max_duration", &o->retry_max_duration_ms, err))
        return CLOVE_ECONFIG;
    const char *v;
    if ((v = clove_kv_get(&cfg->params, "max_retries"))) {
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 0 || n > 100)
            return clove_err_set(err, CLOVE_ECONFIG,
                                 "dataset %s: params.max_retries: expected a whole number from 0 "
                                 "to 100; got \"%s\"", cfg->name, v);
        o->max_retries = (int)n;
    }
    if ((v = clove_kv_get(&cfg->params, "retry_backoff_method"))) {
        if (!strcasecmp(v, "fibonacci")) o->backoff = CLOVE_BACKOFF_FIBONACCI;
        else if (!strcasecmp(v, "linear")) o->backoff = CLOVE_BACKOFF_LINEAR;
        else if (!strcasecmp(v, "exponential")) o->backoff = CLOVE_BACKOFF_EXPONENTIAL;
        else
            return clove_err_set(err, CLOVE_ECONFIG,
                                 "dataset %s: params.retry_backoff_method: expected one of "
                                 "fibonacci, linear, exponential; got \"%s\"", cfg->name, v);
    }
    if ((v = clove_kv_get(&cfg->params, "retry_jitter"))) {
        char *end;
        double j = strtod(v, &end);
        if (!*v || *end || !(j >= 0.0 && j <= 1.0))
            return clove_err_set(err, CLOVE_ECONFIG,
                                 "dataset %s: params.retry_jitter: expected a number from 0.0 to "
                                 "1.0; got \"%s\"", cfg->name, v);
        o->jitter = j;
    }
    return 0;
}

/* ---- one transfer ------------------------------------------------------------------------- */

typedef struct {
    CURL *h;
    FILE *f;                     /* file sink, or NULL */
    clove_buf_t *mem;            /* memory sink, or NULL */
    size_t max;                  /* memory sink limit */
    bool too_big;
    bool write_failed;
    clove_buf_t errbody;         /* body of a non-2xx answer (file sink), bounded */
    uint64_t bytes;
    clove_fetch_result_t *res;
    int64_t retry_after_ms;      /* from a Retry-After header, -1 none */
    const atomic_bool *cancel;
    const atomic_bool *stop;
} xfer_t;

static bool xfer_stopped(const xfer_t *x)
{
    return (x->cancel && atomic_load(x->cancel)) || (x->stop && atomic_load(x->stop));
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    xfer_t *x = arg;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    if (x->mem) {
        if (x->mem->len + n > x->max) {
            x->too_big = true;
            return 0;
        }
        clove_buf_append(x->mem, data, n);
        if (x->mem->failed) {
            x->write_failed = true;
            return 0;
        }
    } else if (status >= 200 && status < 300) {
        if (fwrite(data, 1, n, x->f) != n) {
            x->write_failed = true;
            return 0;
        }
    } else if (x->errbody.len < ERRBODY_MAX) {
        size_t room = ERRBODY_MAX - x->errbody.len;
        clove_buf_append(&x->errbody, data, n < room ? n : room);
    }
    x->bytes += n;
    return n;
}

static void copy_header_value(char *dst, size_t cap, const char *v, size_t n)
{
    while (n && (*v == ' ' || *v == '\t')) v++, n--;
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ')) n--;
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    xfer_t *x = arg;
    size_t n = size * nmemb;
    if (n >= 5 && !strncmp(data, "HTTP/", 5)) {
        /* a new response (after 100 Continue or a redirect): forget the previous one's */
        x->res->etag[0] = '\0';
        x->res->last_modified[0] = '\0';
        x->retry_after_ms = -1;
        clove_buf_reset(&x->errbody);
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon) return n;
    size_t kl = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vl = n - kl - 1;
    if (kl == 4 && !strncasecmp(data, "etag", 4)) {
        copy_header_value(x->res->etag, sizeof x->res->etag, v, vl);
    } else if (kl == 13 && !strncasecmp(data, "last-modified", 13)) {
        copy_header_value(x->res->last_modified, sizeof x->res->last_modified, v, vl);
    } else if (kl == 11 && !strncasecmp(data, "retry-after", 11)) {
        char tmp[64];
        copy_header_value(tmp, sizeof tmp, v, vl);
        char *end;
        long s = strtol(tmp, &end, 10);
        if (end != tmp && *end == '\0' && s >= 0)
            x->retry_after_ms = s * 1000 > RETRY_AFTER_CAP_MS ? RETRY_AFTER_CAP_MS : s * 1000;
    }
    return n;
}

static int progress_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    xfer_t *x = arg;
    return xfer_stopped(x) ? 1 : 0;
}

static int stopped_error(const xfer_t *x, const char *what, clove_err_t *err)
{
    bool shutdown = x->cancel && atomic_load(x->cancel);
    return clove_err_set(err, CLOVE_ECANCELED, "%s: canceled (%s)", what,
                         shutdown ? "the runtime is stopping" : "the sync it served failed");
}

/* The service's reason from an error body: S3's <Code>/<Message>, else the first line. */
static void body_reason(const clove_buf_t *b, char *out, size_t cap)
{
    out[0] = '\0';
    if (!b->data || !b->len) return;
    const char *code = strstr(b->data, "<Code>"), *msg = strstr(b->data, "<Message>");
    if (code) {
        code += 6;
        size_t cl = strcspn(code, "<");
        if (msg) {
            msg += 9;
            size_t ml = strcspn(msg, "<");
            snprintf(out, cap, "%.*s: %.*s", (int)(cl > 100 ? 100 : cl), code,
                     (int)(ml > 300 ? 300 : ml), msg);
        } else {
            snprintf(out, cap, "%.*s", (int)(cl > 100 ? 100 : cl), code);
        }
    } else {
        size_t n = strcspn(b->data, "\r\n");
        if (n > 200) n = 200;
        snprintf(out, cap, "%.*s", (int)n, b->data);
    }
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f) *p = ' ';
}

static int64_t backoff_delay(const clove_fetch_opts_t *o, int retry, unsigned *seed)
{
    int64_t base = o->retry_base_ms > 0 ? o->retry_base_ms : 500;
    int64_t d;
    if (o->backoff == CLOVE_BACKOFF_LINEAR) {
        d = base * retry;
    } else if (o->backoff == CLOVE_BACKOFF_EXPONENTIAL) {
        d = base << (retry - 1 > 10 ? 10 : retry - 1);
    } else {
        int64_t a = 1, b = 1;
        for (int i = 1; i < retry && b < 1000; i++) {
            int64_t t = a + b;
            a = b;
            b = t;
        }
        d = base * a;
    }
    if (d > RETRY_DELAY_CAP_MS) d = RETRY_DELAY_CAP_MS;
    if (o->jitter > 0) {
        double r = (double)rand_r(seed) / RAND_MAX * 2.0 - 1.0; /* -1..1 */
        d = (int64_t)((double)d * (1.0 + o->jitter * r));
    }
    return d < 0 ? 0 : d;
}

static bool retryable_curl(CURLcode c)
{
    switch (c) {
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

static bool retryable_status(long s) { return s == 408 || s == 429 || s >= 500; }

/* Runs the request with retries. Exactly one of f_path (file sink) or mem is set. */
static int fetch(CURL *h, const clove_fetch_opts_t *o, const char *url, const char *what,
                 const char *if_none_match, const char *if_modified_since, const char *dest,
                 clove_buf_t *mem, size_t max_bytes, clove_fetch_result_t *res, clove_err_t *err)
{
    clove__curl_init();
    clove_fetch_result_t local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    unsigned seed = (unsigned)clove_mono_ns() ^ (unsigned)(uintptr_t)h;
    int64_t start = clove_now_ms();
    char *tmp = NULL;
    if (dest) {
        const char *slash = strrchr(dest, '/');
        static atomic_uint counter;
        tmp = clove_xasprintf("%.*s.clove-part-%d-%u", slash ? (int)(slash - dest + 1) : 0, dest,
                              (int)getpid(), atomic_fetch_add(&counter, 1));
    }
    struct curl_slist *hdrs = NULL;
    for (struct curl_slist *s = o->headers; s; s = s->next) hdrs = curl_slist_append(hdrs, s->data);
    if (if_none_match && *if_none_match) {
        char *v = clove_xasprintf("If-None-Match: %s", if_none_match);
        hdrs = curl_slist_append(hdrs, v);
        free(v);
    } else if (if_modified_since && *if_modified_since) {
        char *v = clove_xasprintf("If-Modified-Since: %s", if_modified_since);
        hdrs = curl_slist_append(hdrs, v);
        free(v);
    }
    if (o->sigv4) hdrs = curl_slist_append(hdrs, "x-amz-content-sha256: UNSIGNED-PAYLOAD");

    xfer_t x = {.h = h, .mem = mem, .max = max_bytes, .res = res, .cancel = o->cancel,
                .stop = o->stop};
    clove_buf_init(&x.errbody);
    int rc = 0;
    char reason[512];
    for (int attempt = 0;; attempt++) {
        reason[0] = '\0';
        int64_t left_ms = o->deadline_ns ? (o->deadline_ns - clove_mono_ns()) / 1000000 : -1;
        if (o->deadline_ns && left_ms <= 0) {
            rc = clove_err_set(err, CLOVE_ETIMEDOUT, "%s: the query's time ran out", what);
            break;
        }
        x.too_big = x.write_failed = false;
        x.bytes = 0;
        x.retry_after_ms = -1;
        clove_buf_reset(&x.errbody);
        if (mem) clove_buf_reset(mem);
        if (tmp && (x.f = fopen(tmp, "wb"))) setvbuf(x.f, NULL, _IOFBF, 1 << 20);
        if (tmp && !x.f) {
            rc = clove_err_set(err, CLOVE_EIO, "%s: could not write the cache file \"%s\": %s",
                               what, tmp, strerror(errno));
            break;
        }
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, o->follow_redirects ? 1L : 0L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
        if (o->ca_file) curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
        int64_t limit = o->timeout_ms;
        bool by_deadline = false; /* the transfer's time limit is the caller's deadline */
        if (left_ms > 0 && (limit <= 0 || left_ms < limit)) {
            limit = left_ms;
            by_deadline = true;
        }
        if (limit > 0) curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)limit);
        if (o->connect_timeout_ms > 0)
            curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
        if (o->userpwd) curl_easy_setopt(h, CURLOPT_USERPWD, o->userpwd);
        if (o->sigv4) curl_easy_setopt(h, CURLOPT_AWS_SIGV4, o->sigv4);
        else if (o->userpwd) curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        if (hdrs) curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "clove/" CLOVE_VERSION);
        if (dest) curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024); /* fewer, larger writes */
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
        if (o->accept_encoding) curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
        if (o->head) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        CURLcode cc = curl_easy_perform(h);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        res->status = status;
        res->bytes = x.bytes;
        if (x.f) {
            bool close_failed = fclose(x.f) != 0;
            x.f = NULL;
            if (close_failed && cc == CURLE_OK) x.write_failed = true;
        }
        bool retry = false;
        int code = CLOVE_EIO;
        if (xfer_stopped(&x)) {
            rc = stopped_error(&x, what, err);
            break;
        }
        if (x.too_big) {
            rc = clove_err_set(err, CLOVE_ETOOBIG, "%s: the response is larger than %zu bytes",
                               what, max_bytes);
            break;
        }
        if (x.write_failed) {
            rc = clove_err_set(err, CLOVE_EIO, "%s: could not write the response to \"%s\": %s",
                               what, tmp ? tmp : "memory", strerror(errno ? errno : EIO));
            break;
        }
        if (cc == CURLE_OPERATION_TIMEDOUT && by_deadline) {
            rc = clove_err_set(err, CLOVE_ETIMEDOUT, "%s: the query's time ran out", what);
            break;
        }
        if (cc != CURLE_OK) {
            if (cc == CURLE_OPERATION_TIMEDOUT)
                snprintf(reason, sizeof reason, "timed out after %lld ms (client_timeout)",
                         (long long)o->timeout_ms);
            else
                snprintf(reason, sizeof reason, "%s", curl_easy_strerror(cc));
            retry = retryable_curl(cc);
            code = CLOVE_EUNAVAILABLE; /* no answer: connection, DNS, TLS, timeout */
        } else if (status == 304 || (status >= 200 && status < 300)) {
            if (tmp && status != 304 && rename(tmp, dest) != 0) {
                rc = clove_err_set(err, CLOVE_EIO, "%s: could not move the download into the "
                                   "cache at \"%s\": %s", what, dest, strerror(errno));
                break;
            }
            rc = 0;
            break;
        } else {
            char br[400];
            body_reason(mem ? mem : &x.errbody, br, sizeof br);
            snprintf(reason, sizeof reason, "HTTP %ld%s%s", status, br[0] ? " " : "", br);
            retry = retryable_status(status);
            if (status == 401 || status == 403) code = CLOVE_EAUTH;
            else if (status == 404) code = CLOVE_ENOTFOUND;
            else if (retry) code = CLOVE_EUNAVAILABLE; /* 408, 429, 5xx */
        }
        int64_t delay = x.retry_after_ms >= 0 ? x.retry_after_ms
                                               : backoff_delay(o, attempt + 1, &seed);
        bool budget = (o->retry_max_duration_ms <= 0 ||
                       clove_now_ms() + delay - start <= o->retry_max_duration_ms) &&
                      (!o->deadline_ns || clove_mono_ns() + delay * 1000000 < o->deadline_ns);
        if (!retry || attempt >= o->max_retries || !budget) {
            if (attempt > 0)
                rc = clove_err_set(err, code, "%s: %s (after %d %s)", what, reason, attempt,
                                   attempt == 1 ? "retry" : "retries");
            else
                rc = clove_err_set(err, code, "%s: %s", what, reason);
            break;
        }
        res->retries++;
        clove_warn("fetch", "%s: %s; retrying in %lld ms (retry %d of %d)", what, reason,
                   (long long)delay, attempt + 1, o->max_retries);
        for (int64_t left = delay; left > 0 && !xfer_stopped(&x); left -= 50)
            clove__sleep_ms(left < 50 ? left : 50, NULL);
        if (xfer_stopped(&x)) {
            rc = stopped_error(&x, what, err);
            break;
        }
    }
    if (tmp) {
        unlink(tmp); /* gone already after a successful rename */
        free(tmp);
    }
    curl_slist_free_all(hdrs);
    clove_buf_dispose(&x.errbody);
    return rc;
}

int clove__fetch_file(CURL *h, const clove_fetch_opts_t *o, const char *url, const char *what,
                      const char *if_none_match, const char *if_modified_since,
                      const char *dest, clove_fetch_result_t *res, clove_err_t *err)
{
    return fetch(h, o, url, what, if_none_match, if_modified_since, dest, NULL, 0, res, err);
}

int clove__fetch_mem(CURL *h, const clove_fetch_opts_t *o, const char *url, const char *what,
                     size_t max_bytes, clove_buf_t *out, clove_fetch_result_t *res,
                     clove_err_t *err)
{
    return fetch(h, o, url, what, NULL, NULL, NULL, out, max_bytes, res, err);
}
