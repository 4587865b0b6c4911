/*
 * http_source.c: an HTTP(S) resource (`from: https://host/path?query`) kept in a dataset's cache
 * directory. The body is fetched with conditional requests (If-None-Match with the ETag last
 * served, else If-Modified-Since with its Last-Modified) so an unchanged resource is answered
 * 304 and not transferred again; the validators are kept beside the body and survive restarts.
 * Basic authentication (user in the URL or http_username, http_password), extra headers
 * (http_headers), timeouts and retries with backoff come from the dataset's params.
 */
#include "connectors/http_source.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define COMP "http-source"
#define DEFAULT_CACHE_TTL_MS 30000

struct clove_http_src {
    const clove_dataset_cfg_t *cfg;
    char *url;                   /* what is requested (no userinfo) */
    char *shown;                 /* url for messages and logs: without its query string, which
                                    may carry an API key */
    char *format;
    char *cache, *body, *meta;
    char *userpwd;
    struct curl_slist *headers;
    clove_fetch_opts_t fo;
    int64_t ttl_ms;
    char labels[256];

    pthread_mutex_t lock;        /* guards below; held for a whole sync */
    CURL *curl;
    bool have_body;
    char etag[256];
    char last_modified[128];
    int64_t checked_at_ms;       /* monotonic ms of the last successful request */
};

static char *pct_decode(const char *s, size_t n)
{
    char *out = clove_xmalloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n + 0 && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            out[k++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = '\0';
    return out;
}

/* http_headers: "Name: value" pairs separated by ';' (when any) or ','. */
static int parse_headers(clove_http_src_t *s, const char *spec, clove_err_t *err)
{
    char sep = strchr(spec, ';') ? ';' : ',';
    const char *p = spec;
    while (*p) {
        size_t n = strcspn(p, sep == ';' ? ";" : ",");
        const char *colon = memchr(p, ':', n);
        const char *ns = p;
        while (ns < p + n && isspace((unsigned char)*ns)) ns++;
        if (ns == p + n) { /* empty item */
            p += n + (p[n] != '\0');
            continue;
        }
        if (!colon)
            return clove_err_set(err, CLOVE_ECONFIG, "dataset %s: params.http_headers: expected "
                                 "Name:value pairs separated by ',' or ';'", s->cfg->name);
        const char *ne = colon;
        while (ne > ns && isspace((unsigned char)ne[-1])) ne--;
        for (const char *c = ns; c < ne; c++)
            if (!(isalnum((unsigned char)*c) || strchr("!#$%&'*+-.^_`|~", *c)) || ne == ns)
                return clove_err_set(err, CLOVE_ECONFIG, "dataset %s: params.http_headers: "
                                     "\"%.*s\" is not a header name", s->cfg->name,
                                     (int)(ne - ns), ns);
        const char *vs = colon + 1;
        const char *ve = p + n;
        while (vs < ve && isspace((unsigned char)*vs)) vs++;
        while (ve > vs && isspace((unsigned char)ve[-1])) ve--;
        for (const char *c = vs; c < ve; c++)
            if (*c == '\r' || *c == '\n' || *c == '\0')
                return clove_err_set(err, CLOVE_ECONFIG, "dataset %s: params.http_headers: a "
                                     "value holds a line break", s->cfg->name);
        char *h = clove_xasprintf("%.*s: %.*s", (int)(ne - ns), ns, (int)(ve - vs), vs);
        s->headers = curl_slist_append(s->headers, h);
        memset(h, 0, strlen(h));
        free(h);
        p += n + (p[n] != '\0');
    }
    return 0;
}

static void load_meta(clove_http_src_t *s)
{
    struct stat st;
    s->have_body = stat(s->body, &st) == 0 && S_ISREG(st.st_mode);
    FILE *f = fopen(s->meta, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!strncmp(line, "etag ", 5))
            snprintf(s->etag, sizeof s->etag, "%.*s", (int)sizeof s->etag - 1, line + 5);
        else if (!strncmp(line, "last-modified ", 14))
            snprintf(s->last_modified, sizeof s->last_modified, "%.*s",
                     (int)sizeof s->last_modified - 1, line + 14);
    }
    fclose(f);
}

static void save_meta(clove_http_src_t *s)
{
    char *tmp = clove_xasprintf("%s.tmp", s->meta);
    FILE *f = fopen(tmp, "w");
    if (f) {
        bool ok = fprintf(f, "etag %s\nlast-modified %s\n", s->etag, s->last_modified) > 0;
        ok = fclose(f) == 0 && ok;
        if (!ok || rename(tmp, s->meta) != 0) unlink(tmp);
    }
    free(tmp);
}

clove_http_src_t *clove__http_src_create(const clove_dataset_cfg_t *cfg, const char *cache_root,
                                         const atomic_bool *cancel, clove_source_files_t *files,
                                         clove_err_t *err)
{
    clove_http_src_t *s = clove_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->cfg = cfg;
    const clove_kvlist_t *p = &cfg->params;
    char *user = NULL, *pass = NULL, *hostport = NULL;
    const char *from = cfg->from;
    const char *sep = strstr(from, "://");
    const char *auth = sep + 3;
    size_t al = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *c = auth; c < auth + al; c++)
        if (*c == '@') at = c;
    const char *host = at ? at + 1 : auth;
    hostport = clove_xstrndup(host, (size_t)(auth + al - host));
    if (!*hostport) {
        clove_err_set(err, CLOVE_ECONFIG, "dataset %s: from: expected http(s)://host/path",
                      cfg->name);
        goto fail;
    }
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        user = pct_decode(auth, colon ? (size_t)(colon - auth) : (size_t)(at - auth));
        if (colon) pass = pct_decode(colon + 1, (size_t)(at - colon - 1));
    }
    const char *v;
    if ((v = clove_kv_get(p, "http_username"))) {
        free(user);
        user = clove_xstrdup(v);
    }
    if ((v = clove_kv_get(p, "http_password"))) {
        free(pass);
        pass = clove_xstrdup(v);
    }
    if (user || pass) s->userpwd = clove_xasprintf("%s:%s", user ? user : "", pass ? pass : "");
    const char *rest = auth + al;
    if ((v = clove_kv_get(p, "http_port"))) {
        char *end;
        long port = strtol(v, &end, 10);
        if (!*v || *end || port < 1 || port > 65535) {
            clove_err_set(err, CLOVE_ECONFIG, "dataset %s: params.http_port: expected a port "
                          "number; got \"%s\"", cfg->name, v);
            goto fail;
        }
        char *colon = hostport[0] == '[' ? strstr(hostport, "]:") : strrchr(hostport, ':');
        if (colon) colon[hostport[0] == '[' ? 1 : 0] = '\0';
        char *hp = clove_xasprintf("%s:%ld", hostport, port);
        free(hostport);
        hostport = hp;
    }
    s->url = clove_xasprintf("%.*s://%s%s", (int)(sep - from), from, hostport,
                             *rest ? rest : "/");
    char *hash = strchr(s->url, '#');
    if (hash) *hash = '\0';
    s->shown = strchr(s->url, '?') ? clove_xasprintf("%.*s?...", (int)strcspn(s->url, "?"), s->url)
                                   : clove_xstrdup(s->url);

    const char *path = strchr(s->url + (sep - from) + 3, '/');
    size_t plen = path ? strcspn(path, "?") : 0;
    const char *fmt = clove_kv_get(p, "file_format");
    if (!fmt) fmt = path ? clove_file_format_of_name(path, plen) : NULL;
    if (!fmt) fmt = "json";
    if (!clove_file_format_name(fmt)) {
        clove_err_set(err, CLOVE_ECONFIG, "dataset %s: params.file_format: expected one of "
                      "parquet, csv, json; got \"%s\"", cfg->name, fmt);
        goto fail;
    }
    s->format = clove_xstrdup(clove_file_format_name(fmt));

    if (clove__fetch_opts_from_params(&s->fo, cfg, err) != 0) goto fail;
    s->fo.cancel = cancel;
    s->fo.accept_encoding = true;
    s->fo.follow_redirects = true;
    if ((v = clove_kv_get(p, "tls_ca_certificate_file"))) s->fo.ca_file = v;
    if ((v = clove_kv_get(p, "http_headers")) && parse_headers(s, v, err) != 0) goto fail;
    s->fo.headers = s->headers;
    s->fo.userpwd = s->userpwd;
    s->ttl_ms = DEFAULT_CACHE_TTL_MS;
    if ((v = clove_kv_get(p, "http_cache_ttl")) &&
        (clove_parse_duration_ms(v, &s->ttl_ms) != 0 || s->ttl_ms < 0)) {
        clove_err_set(err, CLOVE_ECONFIG, "dataset %s: params.http_cache_ttl: expected a "
                      "duration like 30s; got \"%s\"", cfg->name, v);
        goto fail;
    }

    char *dsdir = clove_xstrdup(cfg->name);
    for (char *c = dsdir; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.') *c = '_';
    s->cache = clove_xasprintf("%s/http/%s", cache_root ? cache_root : ".", dsdir);
    free(dsdir);
    if (cache_root && clove_mkdir_p(s->cache) != 0) {
        clove_err_set(err, CLOVE_EIO, "dataset %s: could not create the cache directory \"%s\": "
                      "%s", cfg->name, s->cache, strerror(errno));
        goto fail;
    }
    s->body = clove_xasprintf("%s/data.%s", s->cache, s->format);
    s->meta = clove_xasprintf("%s/validators", s->cache);
    if (cache_root) load_meta(s);
    snprintf(s->labels, sizeof s->labels, "dataset=\"%s\"", cfg->name);
    files->format = s->format;
    files->pattern = s->body;
    files->cache_dir = s->cache;
    files->hive_default = false;
    free(user);
    if (pass) memset(pass, 0, strlen(pass));
    free(pass);
    free(hostport);
    return s;
fail:
    free(user);
    if (pass) memset(pass, 0, strlen(pass));
    free(pass);
    free(hostport);
    clove__http_src_destroy(s);
    return NULL;
}

void clove__http_src_destroy(clove_http_src_t *s)
{
    if (!s) return;
    if (s->curl) curl_easy_cleanup(s->curl);
    curl_slist_free_all(s->headers);
    if (s->userpwd) memset(s->userpwd, 0, strlen(s->userpwd));
    free(s->userpwd);
    free(s->url);
    free(s->shown);
    free(s->format);
    free(s->cache);
    free(s->body);
    free(s->meta);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int clove__http_src_sync(clove_http_src_t *s, clove_sync_kind_t kind, int64_t deadline_ns,
                         bool *changed, clove_err_t *err)
{
    if (changed) *changed = false;
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    int64_t now = clove_mono_ns() / 1000000;
    if (s->have_body && (kind == CLOVE_SYNC_SCHEMA ||
                         (kind == CLOVE_SYNC_QUERY && s->checked_at_ms &&
                          now - s->checked_at_ms < s->ttl_ms)))
        goto out;
    if (!s->curl && !(s->curl = curl_easy_init())) {
        rc = clove_err_set(err, CLOVE_EINTERNAL, "could not create a curl handle");
        goto out;
    }
    char *what = clove_xasprintf("could not fetch \"%s\" for dataset %s", s->shown,
                                 s->cfg->name);
    clove_fetch_result_t res;
    int64_t t0 = clove_mono_ns();
    clove_fetch_opts_t fo = s->fo;
    fo.deadline_ns = deadline_ns;
    rc = clove__fetch_file(s->curl, &fo, s->url, what, s->have_body ? s->etag : NULL,
                           s->have_body ? s->last_modified : NULL, s->body, &res, err);
    free(what);
    if (res.retries)
        clove_metric_counter_add("http_source_request_retries", "HTTP(S) source requests "
                                 "retried after a timeout or a 5xx answer.", s->labels,
                                 res.retries);
    char labels[300];
    if (rc != 0) {
        snprintf(labels, sizeof labels, "%s,result=\"failed\"", s->labels);
        clove_metric_counter_add("http_source_requests", "Requests made by HTTP(S) datasets, "
                                 "by result.", labels, 1);
        goto out;
    }
    s->checked_at_ms = clove_mono_ns() / 1000000;
    if (res.status == 304) {
        snprintf(labels, sizeof labels, "%s,result=\"not_modified\"", s->labels);
        clove_debug(COMP, "dataset %s: %s not modified", s->cfg->name, s->shown);
    } else {
        snprintf(labels, sizeof labels, "%s,result=\"fetched\"", s->labels);
        snprintf(s->etag, sizeof s->etag, "%s", res.etag);
        snprintf(s->last_modified, sizeof s->last_modified, "%s", res.last_modified);
        s->have_body = true;
        save_meta(s);
        if (changed) *changed = true;
        clove_metric_counter_add("http_source_bytes_fetched", "Body bytes downloaded by HTTP(S) "
                                 "datasets.", s->labels, (double)res.bytes);
        clove_info(COMP, "dataset %s: fetched %s (%llu bytes%s%s) in %.1f ms", s->cfg->name,
                   s->shown, (unsigned long long)res.bytes, res.etag[0] ? ", ETag " : "",
                   res.etag, (double)(clove_mono_ns() - t0) / 1e6);
    }
    clove_metric_counter_add("http_source_requests", "Requests made by HTTP(S) datasets, by "
                             "result.", labels, 1);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int clove__http_src_probe(clove_http_src_t *s, clove_err_t *err)
{
    CURL *h = curl_easy_init();
    if (!h) return clove_err_set(err, CLOVE_EINTERNAL, "could not create a curl handle");
    clove_fetch_opts_t fo = s->fo; /* immutable after create */
    fo.max_retries = 0;            /* the caller probes again later */
    fo.head = true;
    char *what = clove_xasprintf("could not reach \"%s\" for dataset %s", s->shown,
                                 s->cfg->name);
    clove_buf_t body;
    clove_buf_init(&body);
    clove_fetch_result_t res;
    int rc = clove__fetch_mem(h, &fo, s->url, what, 4096, &body, &res, err);
    if (rc == CLOVE_EUNAVAILABLE && res.status == 501) rc = 0; /* there, but without HEAD */
    clove_buf_dispose(&body);
    free(what);
    curl_easy_cleanup(h);
    return rc;
}
