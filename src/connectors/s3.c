/*
 * s3.c: the S3 client. Requests are signed with AWS SigV4 by libcurl (CURLOPT_AWS_SIGV4, an
 * unsigned payload, x-amz-security-token for session credentials); buckets are addressed
 * virtual-host style on AWS and path style on custom endpoints (s3_url_style overrides).
 * ListObjectsV2 is paged with continuation tokens; its XML is treated as hostile: pages are
 * size-bounded, keys length-bounded, entities decoded strictly, token loops detected.
 * Credentials come from params (s3_auth: key), the AWS environment / shared credentials file
 * (s3_auth: iam_role), or none (s3_auth: public). Instance metadata is not queried.
 */
#include "connectors/s3.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define COMP "s3"
#define LIST_PAGE_MAX_BYTES (16u << 20)
#define KEY_MAX 1024
#define OBJECTS_MAX 1000000
#define PAGES_MAX 100000

typedef enum { AUTH_KEY = 0, AUTH_IAM_ROLE, AUTH_PUBLIC } s3_auth_t;

struct clove_s3_client {
    char *dataset;
    char *bucket;
    char *endpoint;              /* scheme://host[:port] as configured, for messages */
    char *base;                  /* URL up to the key: ".../bucket" or "scheme://bucket.host" */
    char *region;
    s3_auth_t auth;
    char *key, *secret, *token;  /* s3_auth: key */
    int max_keys;
    clove_fetch_opts_t fo;
};

/* ---- small helpers ------------------------------------------------------------------------- */

/* RFC 3986 percent-encoding as SigV4 wants it; '/' kept when keep_slash. */
static void url_encode(clove_buf_t *b, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
            (keep_slash && *p == '/')) {
            clove_buf_putc(b, (char)*p);
        } else {
            clove_buf_putc(b, '%');
            clove_buf_putc(b, hex[*p >> 4]);
            clove_buf_putc(b, hex[*p & 15]);
        }
    }
}

static bool param_true(const char *v) { return v && (!strcasecmp(v, "true") || !strcmp(v, "1")); }

static char *trim_dup(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    return clove_xstrndup(s, n);
}

/* Reads aws_access_key_id / aws_secret_access_key / aws_session_token of `profile` from an
 * AWS shared credentials file. Returns true when both key and secret were found. */
static bool read_credentials_file(const char *path, const char *profile, char **key,
                                  char **secret, char **token)
{
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[4096];
    bool in = false;
    while (fgets(line, sizeof line, f)) {
        char *s = line;
        while (isspace((unsigned char)*s)) s++;
        if (*s == '#' || *s == ';' || !*s) continue;
        if (*s == '[') {
            char *e = strchr(s, ']');
            if (!e) continue;
            char *name = trim_dup(s + 1, (size_t)(e - s - 1));
            in = !strcmp(name, profile);
            free(name);
            continue;
        }
        if (!in) continue;
        char *eq = strchr(s, '=');
        if (!eq) continue;
        char *k = trim_dup(s, (size_t)(eq - s));
        char *v = trim_dup(eq + 1, strlen(eq + 1));
        char **dst = !strcmp(k, "aws_access_key_id") ? key
                     : !strcmp(k, "aws_secret_access_key") ? secret
                     : !strcmp(k, "aws_session_token") ? token : NULL;
        if (dst) {
            free(*dst);
            *dst = v;
            v = NULL;
        }
        free(k);
        free(v);
    }
    fclose(f);
    return *key && *secret;
}

/* The credentials a request uses now (iam_role re-reads the chain, so rotated environment or
 * file credentials are picked up). Returns 0, or CLOVE_EAUTH when the chain has none. */
static int resolve_credentials(clove_s3_client_t *c, char **key, char **secret, char **token,
                               clove_err_t *err)
{
    *key = *secret = *token = NULL;
    if (c->auth == AUTH_PUBLIC) return 0;
    if (c->auth == AUTH_KEY) {
        *key = clove_xstrdup(c->key);
        *secret = clove_xstrdup(c->secret);
        *token = c->token ? clove_xstrdup(c->token) : NULL;
        return 0;
    }
    const char *ek = getenv("AWS_ACCESS_KEY_ID"), *es = getenv("AWS_SECRET_ACCESS_KEY");
    if (ek && *ek && es && *es) {
        *key = clove_xstrdup(ek);
        *secret = clove_xstrdup(es);
        const char *et = getenv("AWS_SESSION_TOKEN");
        *token = et && *et ? clove_xstrdup(et) : NULL;
        return 0;
    }
    const char *profile = getenv("AWS_PROFILE");
    if (!profile || !*profile) profile = "default";
    const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE");
    char *path = file && *file ? clove_xstrdup(file)
                 : clove_xasprintf("%s/.aws/credentials", getenv("HOME") ? getenv("HOME") : "");
    bool ok = read_credentials_file(path, profile, key, secret, token);
    free(path);
    if (ok) return 0;
    free(*key);
    free(*secret);
    free(*token);
    *key = *secret = *token = NULL;
    return clove_err_set(err, CLOVE_EAUTH,
                         "no AWS credentials for dataset %s (s3_auth: iam_role): set "
                         "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or profile \"%s\" in the "
                         "shared credentials file (instance metadata is not queried)",
                         c->dataset, profile);
}

/* ---- client ----------------------------------------------------------------------------- */

clove_s3_client_t *clove_s3_client_create(const clove_dataset_cfg_t *cfg, const char *bucket,
                                          const atomic_bool *cancel, clove_err_t *err)
{
    clove_s3_client_t *c = clove_xcalloc(1, sizeof *c);
    c->dataset = clove_xstrdup(cfg->name);
    c->bucket = clove_xstrdup(bucket);
    c->max_keys = 1000;
    if (clove__fetch_opts_from_params(&c->fo, cfg, err) != 0) goto fail;
    c->fo.cancel = cancel;
    const clove_kvlist_t *p = &cfg->params;
    const char *v;

    const char *region = clove_kv_get(p, "s3_region");
    if (!region || !*region) region = getenv("AWS_REGION");
    if (!region || !*region) region = getenv("AWS_DEFAULT_REGION");
    if (!region || !*region) region = "us-east-1";
    for (const char *r = region; *r; r++) {
        if (!isalnum((unsigned char)*r) && *r != '-') {
            clove_err_set(err, CLOVE_ECONFIG, "dataset %s: params.s3_region: \"%s\" is not a "
                          "region name", cfg->name, region);
            goto fail;
        }
    }
    c->region = clove_xstrdup(region);

    /* auth */
    const char *auth = clove_kv_get(p, "s3_auth");
    const char *key = clove_kv_get(p, "s3_key"), *secret = clove_kv_get(p, "s3_secret");
    if (!auth) c->auth = key ? AUTH_KEY : AUTH_IAM_ROLE;
    else if (!strcasecmp(auth, "key")) c->auth = AUTH_KEY;
    else if (!strcasecmp(auth, "iam_role")) c->auth = AUTH_IAM_ROLE;
    else if (!strcasecmp(auth, "public")) c->auth = AUTH_PUBLIC;
    else {
        clove_err_set(err, CLOVE_ECONFIG, "dataset %s: params.s3_auth: expected one of key, "
                      "iam_role, public; got \"%s\"", cfg->name, auth);
        goto fail;
    }
    if (c->auth == AUTH_KEY) {
        if (!key || !*key || !secret || !*secret) {
            clove_err_set(err, CLOVE_ECONFIG, "dataset %s: s3_auth key needs params.s3_key and "
                          "params.s3_secret", cfg->name);
            goto fail;
        }
        c->key = clove_xstrdup(key);
        c->secret = clove_xstrdup(secret);
        const char *tok = clove_kv_get(p, "s3_session_token");
        if (tok && *tok) c->token = clove_xstrdup(tok);
    }

    /* endpoint and addressing */
    const char *ep = clove_kv_get(p, "s3_endpoint");
    const char *style = clove_kv_get(p, "s3_url_style");
    if (style && strcasecmp(style, "path") && strcasecmp(style, "vhost") &&
        strcasecmp(style, "virtual_host")) {
        clove_err_set(err, CLOVE_ECONFIG, "dataset %s: params.s3_url_style: expected path or "
                      "vhost; got \"%s\"", cfg->name, style);
        goto fail;
    }
    char *scheme = NULL, *hostport = NULL;
    int ep_rc = 0;
    if (ep && *ep) {
        const char *sep = strstr(ep, "://");
        scheme = sep ? clove_xstrndup(ep, (size_t)(sep - ep)) : clove_xstrdup("https");
        const char *hp = sep ? sep + 3 : ep;
        size_t hl = strcspn(hp, "/?#");
        hostport = clove_xstrndup(hp, hl);
        if (strcasecmp(scheme, "http") && strcasecmp(scheme, "https")) {
            ep_rc = clove_err_set(err, CLOVE_ECONFIG, "dataset %s: params.s3_endpoint: expected "
                                  "an http or https URL; got \"%s\"", cfg->name, ep);
        } else if (!*hostport || strchr(hostport, '@')) {
            ep_rc = clove_err_set(err, CLOVE_ECONFIG, "dataset %s: params.s3_endpoint: expected "
                          "scheme://host[:port]; got \"%s\"", cfg->name, ep);
        } else if (!strcasecmp(scheme, "http") && !param_true(clove_kv_get(p, "allow_http"))) {
            ep_rc = clove_err_set(err, CLOVE_ECONFIG, "dataset %s: params.s3_endpoint \"%s\" uses plain "
                          "http, which is refused unless params.allow_http is true", cfg->name,
                          ep);
        }
    } else {
        scheme = clove_xstrdup("https");
        hostport = clove_xasprintf("s3.%s.amazonaws.com", c->region);
    }
    if (ep_rc != 0) {
        free(scheme);
        free(hostport);
        goto fail;
    }
    for (char *s = scheme; *s; s++) *s = (char)tolower((unsigned char)*s);
    c->endpoint = clove_xasprintf("%s://%s", scheme, hostport);
    /* virtual-host style needs a DNS-compatible bucket (no dots over TLS) */
    bool vhost = style ? strcasecmp(style, "path") != 0 : !(ep && *ep);
    if (vhost && (strchr(bucket, '.') || strchr(bucket, '_'))) vhost = false;
    clove_buf_t b;
    clove_buf_init(&b);
    if (vhost) {
        clove_buf_printf(&b, "%s://%s.%s", scheme, bucket, hostport);
    } else {
        clove_buf_printf(&b, "%s://%s/", scheme, hostport);
        url_encode(&b, bucket, false);
    }
    c->base = clove_buf_steal(&b);
    free(scheme);
    free(hostport);

    if ((v = clove_kv_get(p, "s3_list_max_keys"))) {
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 1 || n > 1000) {
            clove_err_set(err, CLOVE_ECONFIG, "dataset %s: params.s3_list_max_keys: expected a "
                          "whole number from 1 to 1000; got \"%s\"", cfg->name, v);
            goto fail;
        }
        c->max_keys = (int)n;
    }
    if ((v = clove_kv_get(p, "tls_ca_certificate_file"))) c->fo.ca_file = v;
    return c;
fail:
    clove_s3_client_destroy(c);
    return NULL;
}

void clove_s3_client_destroy(clove_s3_client_t *c)
{
    if (!c) return;
    free(c->dataset);
    free(c->bucket);
    free(c->endpoint);
    free(c->base);
    free(c->region);
    free(c->key);
    if (c->secret) memset(c->secret, 0, strlen(c->secret));
    free(c->secret);
    free(c->token);
    free(c);
}

/* Request options with the credentials of this moment (freed by opts_dispose). */
typedef struct {
    clove_fetch_opts_t fo;
    char *userpwd, *sigv4;
    struct curl_slist *hdrs;
} signed_opts_t;

static int opts_init(clove_s3_client_t *c, signed_opts_t *so, clove_err_t *err)
{
    memset(so, 0, sizeof *so);
    so->fo = c->fo;
    char *key, *secret, *token;
    if (resolve_credentials(c, &key, &secret, &token, err) != 0) return CLOVE_EAUTH;
    if (key) {
        so->userpwd = clove_xasprintf("%s:%s", key, secret);
        so->sigv4 = clove_xasprintf("aws:amz:%s:s3", c->region);
        so->fo.userpwd = so->userpwd;
        so->fo.sigv4 = so->sigv4;
        if (token) {
            char *h = clove_xasprintf("x-amz-security-token: %s", token);
            so->hdrs = curl_slist_append(so->hdrs, h);
            memset(h, 0, strlen(h));
            free(h);
        }
    }
    so->fo.headers = so->hdrs;
    free(key);
    if (secret) memset(secret, 0, strlen(secret));
    free(secret);
    free(token);
    return 0;
}

static void opts_dispose(signed_opts_t *so)
{
    if (so->userpwd) memset(so->userpwd, 0, strlen(so->userpwd));
    free(so->userpwd);
    free(so->sigv4);
    curl_slist_free_all(so->hdrs);
}

/* ---- XML ------------------------------------------------------------------------------------ */

static void put_utf8(clove_buf_t *b, unsigned long cp)
{
    if (cp < 0x80) {
        clove_buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        clove_buf_putc(b, (char)(0xC0 | (cp >> 6)));
        clove_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        clove_buf_putc(b, (char)(0xE0 | (cp >> 12)));
        clove_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        clove_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else {
        clove_buf_putc(b, (char)(0xF0 | (cp >> 18)));
        clove_buf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
        clove_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        clove_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    }
}

char *clove_s3_xml_text(const char *s, size_t n)
{
    clove_buf_t b;
    clove_buf_init(&b);
    clove_buf_puts(&b, ""); /* allocated and terminated even when empty */
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '<' || ch == 0 || (ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r'))
            goto bad;
        if (ch != '&') {
            clove_buf_putc(&b, (char)ch);
            i++;
            continue;
        }
        const char *semi = memchr(s + i, ';', n - i < 12 ? n - i : 12);
        if (!semi) goto bad;
        size_t el = (size_t)(semi - (s + i)) + 1;
        const char *e = s + i;
        if (el == 5 && !strncmp(e, "&amp;", 5)) clove_buf_putc(&b, '&');
        else if (el == 4 && !strncmp(e, "&lt;", 4)) clove_buf_putc(&b, '<');
        else if (el == 4 && !strncmp(e, "&gt;", 4)) clove_buf_putc(&b, '>');
        else if (el == 6 && !strncmp(e, "&quot;", 6)) clove_buf_putc(&b, '"');
        else if (el == 6 && !strncmp(e, "&apos;", 6)) clove_buf_putc(&b, '\'');
        else if (el > 3 && e[1] == '#') {
            bool hexa = e[2] == 'x' || e[2] == 'X';
            const char *d = e + (hexa ? 3 : 2);
            if (d >= semi) goto bad;
            unsigned long cp = 0;
            for (; d < semi; d++) {
                int v = isdigit((unsigned char)*d) ? *d - '0'
                        : (hexa && isxdigit((unsigned char)*d)) ? tolower((unsigned char)*d) - 'a' + 10
                        : -1;
                if (v < 0) goto bad;
                cp = cp * (hexa ? 16 : 10) + (unsigned long)v;
                if (cp > 0x10FFFF) goto bad;
            }
            if (cp < 0x20 || (cp >= 0xD800 && cp <= 0xDFFF)) goto bad;
            put_utf8(&b, cp);
        } else {
            goto bad;
        }
        i += el;
    }
    if (b.failed || !b.data) goto bad;
    return clove_buf_steal(&b);
bad:
    clove_buf_dispose(&b);
    return NULL;
}

/* Finds <tag>text</tag> in [p, end); sets [*vs, *ve) to the text and returns the position after
 * the closing tag, or NULL. */
static const char *xml_elem(const char *p, const char *end, const char *tag, const char **vs,
                            const char **ve)
{
    char open[64], close[64];
    int ol = snprintf(open, sizeof open, "<%s>", tag);
    int cl = snprintf(close, sizeof close, "</%s>", tag);
    const char *s = memmem(p, (size_t)(end - p), open, (size_t)ol);
    if (!s) return NULL;
    s += ol;
    const char *e = memmem(s, (size_t)(end - s), close, (size_t)cl);
    if (!e) return NULL;
    *vs = s;
    *ve = e;
    return e + cl;
}

int clove_s3_parse_list(const char *xml, size_t len, clove_s3_object_t **objs, size_t *n,
                        size_t *cap, bool *truncated, char **next_token, clove_err_t *err)
{
    const char *end = xml + len;
    const char *vs, *ve;
    *truncated = false;
    *next_token = NULL;
    if (!memmem(xml, len, "<ListBucketResult", 17))
        return clove_err_set(err, CLOVE_EIO, "the listing is not a ListBucketResult document");
    /* the top-level fields come after the last <Contents> in S3's answers but may be
     * anywhere: look for them outside the Contents blocks */
    const char *p = xml;
    while (p < end) {
        const char *cs = memmem(p, (size_t)(end - p), "<Contents>", 10);
        const char *top_end = cs ? cs : end;
        const char *q = p;
        while (q < top_end) {
            const char *after = NULL;
            if ((after = xml_elem(q, top_end, "IsTruncated", &vs, &ve))) {
                *truncated = (size_t)(ve - vs) == 4 && !strncmp(vs, "true", 4);
                q = after;
            } else {
                break;
            }
        }
        if (!*next_token && xml_elem(p, top_end, "NextContinuationToken", &vs, &ve)) {
            if ((size_t)(ve - vs) > 4096) {
                return clove_err_set(err, CLOVE_EIO, "the listing's continuation token is "
                                     "longer than 4096 bytes");
            }
            *next_token = clove_s3_xml_text(vs, (size_t)(ve - vs));
            if (!*next_token)
                return clove_err_set(err, CLOVE_EIO, "the listing's continuation token is not "
                                     "valid XML text");
        }
        if (!cs) break;
        const char *ce = memmem(cs, (size_t)(end - cs), "</Contents>", 11);
        if (!ce) {
            free(*next_token);
            *next_token = NULL;
            return clove_err_set(err, CLOVE_EIO, "the listing has an unterminated <Contents>");
        }
        const char *body = cs + 10;
        const char *ks, *ke, *es, *ee, *ss, *se;
        if (!xml_elem(body, ce, "Key", &ks, &ke)) {
            free(*next_token);
            *next_token = NULL;
            return clove_err_set(err, CLOVE_EIO, "the listing has an object without a <Key>");
        }
        if ((size_t)(ke - ks) > KEY_MAX * 6) {
            free(*next_token);
            *next_token = NULL;
            return clove_err_set(err, CLOVE_EIO, "the listing has a key longer than %d bytes",
                                 KEY_MAX);
        }
        char *key = clove_s3_xml_text(ks, (size_t)(ke - ks));
        if (!key || !*key || strlen(key) > KEY_MAX) {
            free(key);
            free(*next_token);
            *next_token = NULL;
            return clove_err_set(err, CLOVE_EIO, "the listing has a key that is empty, too "
                                 "long or not valid XML text");
        }
        char *etag = NULL;
        if (xml_elem(body, ce, "ETag", &es, &ee) && ee - es < 512)
            etag = clove_s3_xml_text(es, (size_t)(ee - es));
        uint64_t size = 0;
        if (xml_elem(body, ce, "Size", &ss, &se) && se - ss < 21) {
            for (const char *d = ss; d < se && isdigit((unsigned char)*d); d++)
                size = size * 10 + (uint64_t)(*d - '0');
        }
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 256;
            *objs = clove_xrealloc(*objs, *cap * sizeof **objs);
        }
        (*objs)[*n].key = key;
        (*objs)[*n].etag = etag ? etag : clove_xstrdup("");
        (*objs)[*n].size = size;
        (*n)++;
        p = ce + 11;
    }
    return 0;
}

void clove_s3_objects_free(clove_s3_object_t *objs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(objs[i].key);
        free(objs[i].etag);
    }
    free(objs);
}

static int cmp_obj(const void *a, const void *b)
{
    return strcmp(((const clove_s3_object_t *)a)->key, ((const clove_s3_object_t *)b)->key);
}

/* One ListObjectsV2 page's URL: query parameters in canonical (sorted) order, fully encoded,
 * as SigV4 signs them. */
static void list_url(const clove_s3_client_t *c, clove_buf_t *url, const char *token,
                     int max_keys, const char *prefix)
{
    clove_buf_reset(url);
    clove_buf_printf(url, "%s/?", c->base);
    if (token) {
        clove_buf_puts(url, "continuation-token=");
        url_encode(url, token, false);
        clove_buf_putc(url, '&');
    }
    clove_buf_printf(url, "list-type=2&max-keys=%d&prefix=", max_keys);
    url_encode(url, prefix, false);
}

int clove_s3_probe(clove_s3_client_t *c, CURL *h, const char *prefix, clove_err_t *err)
{
    signed_opts_t so;
    if (opts_init(c, &so, err) != 0) return CLOVE_EAUTH;
    so.fo.max_retries = 0; /* the caller probes again later */
    clove_buf_t body, url;
    clove_buf_init(&body);
    clove_buf_init(&url);
    list_url(c, &url, NULL, 1, prefix);
    char *what = clove_xasprintf("could not list s3://%s/%s at endpoint \"%s\" for dataset %s",
                                 c->bucket, prefix, c->endpoint, c->dataset);
    int rc = clove__fetch_mem(h, &so.fo, url.data, what, LIST_PAGE_MAX_BYTES, &body, NULL, err);
    free(what);
    clove_buf_dispose(&body);
    clove_buf_dispose(&url);
    opts_dispose(&so);
    return rc;
}

int64_t clove_s3_list(clove_s3_client_t *c, CURL *h, const char *prefix, int64_t deadline_ns,
                      clove_s3_object_t **out, int *requests, clove_err_t *err)
{
    signed_opts_t so;
    *out = NULL;
    if (opts_init(c, &so, err) != 0) return CLOVE_EAUTH;
    so.fo.deadline_ns = deadline_ns;
    clove_s3_object_t *objs = NULL;
    size_t n = 0, cap = 0;
    char *token = NULL;
    clove_buf_t body, url;
    clove_buf_init(&body);
    clove_buf_init(&url);
    int rc = 0;
    char *what = clove_xasprintf("could not list s3://%s/%s at endpoint \"%s\" for dataset %s",
                                 c->bucket, prefix, c->endpoint, c->dataset);
    for (int page = 0;; page++) {
        if (page >= PAGES_MAX) {
            rc = clove_err_set(err, CLOVE_EIO, "%s: more than %d pages", what, PAGES_MAX);
            break;
        }
        list_url(c, &url, token, c->max_keys, prefix);
        clove_fetch_result_t res;
        rc = clove__fetch_mem(h, &so.fo, url.data, what, LIST_PAGE_MAX_BYTES, &body, &res, err);
        if (requests) (*requests)++;
        if (rc != 0) break;
        bool truncated;
        char *next = NULL;
        clove_err_t perr;
        if (clove_s3_parse_list(body.data ? body.data : "", body.len, &objs, &n, &cap, &truncated,
                                &next, &perr) != 0) {
            rc = clove_err_set(err, CLOVE_EIO, "%s: %s", what, perr.message);
            break;
        }
        if (n > OBJECTS_MAX) {
            free(next);
            rc = clove_err_set(err, CLOVE_EIO, "%s: more than %d objects", what, OBJECTS_MAX);
            break;
        }
        if (!truncated) {
            free(next);
            break;
        }
        if (!next || !*next || (token && !strcmp(next, token))) {
            free(next);
            rc = clove_err_set(err, CLOVE_EIO, "%s: the listing is truncated but gives no new "
                               "continuation token", what);
            break;
        }
        free(token);
        token = next;
    }
    free(token);
    free(what);
    clove_buf_dispose(&body);
    clove_buf_dispose(&url);
    opts_dispose(&so);
    if (rc != 0) {
        clove_s3_objects_free(objs, n);
        return rc;
    }
    if (n > 1) qsort(objs, n, sizeof *objs, cmp_obj);
    *out = objs;
    return (int64_t)n;
}

int clove_s3_get(clove_s3_client_t *c, CURL *h, const char *key, const char *dest,
                 int64_t deadline_ns, const atomic_bool *stop, clove_fetch_result_t *res,
                 clove_err_t *err)
{
    signed_opts_t so;
    if (opts_init(c, &so, err) != 0) return CLOVE_EAUTH;
    so.fo.deadline_ns = deadline_ns;
    so.fo.stop = stop;
    clove_buf_t url;
    clove_buf_init(&url);
    clove_buf_printf(&url, "%s/", c->base);
    url_encode(&url, key, true);
    char *what = clove_xasprintf("could not fetch object \"%s\" of bucket \"%s\" from endpoint "
                                 "\"%s\" for dataset %s", key, c->bucket, c->endpoint,
                                 c->dataset);
    int rc = clove__fetch_file(h, &so.fo, url.data, what, NULL, NULL, dest, res, err);
    free(what);
    clove_buf_dispose(&url);
    opts_dispose(&so);
    return rc;
}
