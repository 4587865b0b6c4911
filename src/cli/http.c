/*
 * http.c: the CLI's HTTP client on one libcurl easy handle. The handle is reused between
 * requests so an interactive session keeps one keep-alive connection to cloved; each request
 * collects the whole answer in memory (bounded by CLOVE_CLI_MAX_ANSWER_BYTES) because the
 * renderer needs every row to size the columns anyway.
 */
#include "cli/cli_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

volatile sig_atomic_t clove_cli_interrupted;

struct clove_cli_client {
    CURL *curl;
    const clove_cli_opts_t *opts;
    char errbuf[CURL_ERROR_SIZE];
};

typedef struct {
    clove_buf_t *body;
    bool too_big;
} sink_t;

clove_cli_client_t *clove_cli_client_create(const clove_cli_opts_t *opts)
{
    clove_cli_client_t *c = clove_xcalloc(1, sizeof *c);
    c->opts = opts;
    c->curl = curl_easy_init();
    CLOVE_ASSERT(c->curl != NULL);
    return c;
}

void clove_cli_client_destroy(clove_cli_client_t *c)
{
    if (!c) return;
    curl_easy_cleanup(c->curl);
    free(c);
}

const char *clove_cli_client_endpoint(const clove_cli_client_t *c)
{
    return c->opts->endpoint;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
    sink_t *sink = userdata;
    size_t n = size * nmemb;
    if (sink->body->len + n > CLOVE_CLI_MAX_ANSWER_BYTES) {
        sink->too_big = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    clove_buf_append(sink->body, data, n);
    return sink->body->failed ? 0 : n;
}

static int progress_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    return clove_cli_interrupted ? 1 : 0;
}

/* True for failures that happen before a connection to the server exists. */
static bool is_connect_failure(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_OPERATION_TIMEDOUT: /* only the connect phase has a timeout */
        return true;
    default:
        return false;
    }
}

static int transport_error(clove_cli_client_t *c, CURLcode rc, const sink_t *sink,
                           clove_err_t *err)
{
    const char *endpoint = c->opts->endpoint;
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        return clove_err_set(err, CLOVE_ECANCELED, "canceled by user");
    if (sink->too_big)
        return clove_err_set(err, CLOVE_ETOOBIG,
                             "the answer from clove at %s is larger than %zu MiB; "
                             "add a LIMIT to the query",
                             endpoint, CLOVE_CLI_MAX_ANSWER_BYTES >> 20);
    if (sink->body->failed)
        return clove_err_set(err, CLOVE_ENOMEM, "out of memory reading the answer from %s",
                             endpoint);

    /* "Connection refused" reads better than curl's "Failed to connect to ... port ...". */
    long os_errno = 0;
    curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
    const char *reason = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_COULDNT_CONNECT && os_errno != 0) reason = strerror((int)os_errno);
    if (is_connect_failure(rc))
        return clove_err_set(err, CLOVE_EIO, "could not connect to clove at %s: %s", endpoint,
                             reason);
    return clove_err_set(err, CLOVE_EIO, "request to clove at %s failed: %s", endpoint, reason);
}

int clove_cli_http(clove_cli_client_t *c, const char *method, const char *path,
                   const char *body, size_t body_len, const char *content_type,
                   const char *accept, clove_cli_response_t *resp, clove_err_t *err)
{
    CURL *curl = c->curl;
    struct curl_slist *headers = NULL;
    char *url = clove_xasprintf("%s%s", c->opts->endpoint, path);
    char *hdr = NULL;
    int rc = 0;

    memset(resp, 0, sizeof *resp);
    clove_buf_init(&resp->body);
    sink_t sink = { .body = &resp->body, .too_big = false };

    curl_easy_reset(curl); /* keeps the connection cache */
    c->errbuf[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (c->opts->tls_root_cert_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, c->opts->tls_root_cert_file);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "clove/" CLOVE_VERSION);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");

    if (c->opts->api_key) {
        hdr = clove_xasprintf("X-API-Key: %s", c->opts->api_key);
        headers = curl_slist_append(headers, hdr);
    }
    if (accept) {
        char *h = clove_xasprintf("Accept: %s", accept);
        headers = curl_slist_append(headers, h);
        free(h);
    }
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
        if (content_type) {
            char *h = clove_xasprintf("Content-Type: %s", content_type);
            headers = curl_slist_append(headers, h);
            free(h);
        }
        headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

    int64_t t0 = clove_mono_ns();
    CURLcode cr = curl_easy_perform(curl);
    resp->seconds = (double)(clove_mono_ns() - t0) / 1e9;
    if (cr != CURLE_OK) {
        rc = transport_error(c, cr, &sink, err);
        clove_cli_response_dispose(resp);
        goto done;
    }
    if (resp->body.failed) {
        rc = clove_err_set(err, CLOVE_ENOMEM, "out of memory reading the answer from %s",
                           c->opts->endpoint);
        clove_cli_response_dispose(resp);
        goto done;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    char *ct = NULL;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
    if (ct) resp->content_type = clove_xstrdup(ct);
    if (!resp->body.data) clove_buf_puts(&resp->body, ""); /* always a string */

done:
    /* the API key must not linger in freed memory longer than needed */
    if (hdr) {
        memset(hdr, 0, strlen(hdr));
        free(hdr);
    }
    curl_slist_free_all(headers);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, NULL);
    free(url);
    return rc;
}

void clove_cli_response_dispose(clove_cli_response_t *resp)
{
    clove_buf_dispose(&resp->body);
    free(resp->content_type);
    resp->content_type = NULL;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static char *trimmed_copy(const char *s, size_t n)
{
    while (n > 0 && is_blank(*s)) {
        s++;
        n--;
    }
    while (n > 0 && is_blank(s[n - 1])) n--;
    return clove_xstrndup(s, n);
}

char *clove_cli_response_message(const clove_cli_response_t *resp)
{
    const char *body = resp->body.data ? resp->body.data : "";
    size_t len = resp->body.len;
    size_t i = 0;
    while (i < len && is_blank(body[i])) i++;

    if (i < len && body[i] == '{') {
        json_t *root = json_loadb(body, len, 0, NULL);
        if (json_is_object(root)) {
            json_t *m = json_object_get(root, "message");
            if (!json_is_string(m)) m = json_object_get(root, "error");
            if (json_is_object(m)) m = json_object_get(m, "message");
            if (json_is_string(m)) {
                char *out = trimmed_copy(json_string_value(m), json_string_length(m));
                json_decref(root);
                if (out[0]) return out;
                free(out);
                goto fallback;
            }
        }
        json_decref(root);
    }
    char *out = trimmed_copy(body, len);
    if (out[0]) return out;
    free(out);
fallback:
    switch (resp->status) {
    case 401: return clove_xasprintf("HTTP 401: unauthorized; pass a valid key with --api-key");
    case 403: return clove_xasprintf("HTTP 403: forbidden; the API key may be read-only");
    case 404: return clove_xasprintf("HTTP 404: not found");
    case 413: return clove_xasprintf("HTTP 413: request too large");
    case 503: return clove_xasprintf("HTTP 503: clove is not ready or is shutting down");
    default: return clove_xasprintf("HTTP %ld", resp->status);
    }
}

char *clove_cli_url_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    clove_buf_t b;
    clove_buf_init(&b);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool unreserved = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                          (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
                          *p == '~';
        if (unreserved) {
            clove_buf_putc(&b, (char)*p);
        } else {
            clove_buf_putc(&b, '%');
            clove_buf_putc(&b, hex[*p >> 4]);
            clove_buf_putc(&b, hex[*p & 15]);
        }
    }
    CLOVE_ASSERT(!b.failed);
    return clove_buf_steal(&b);
}
