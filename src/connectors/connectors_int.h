/*
 * connectors_int.h: what the S3 and HTTP(S) connectors share inside src/connectors: one HTTP
 * GET with retries and backoff (libcurl), into a file of the local cache or into memory, with
 * conditional requests (ETag / Last-Modified), plus the small helpers both need (cache paths,
 * parameters). Not for use outside this folder.
 */
#ifndef CLOVE_CONNECTORS_INT_H
#define CLOVE_CONNECTORS_INT_H

#include <curl/curl.h>
#include <stdatomic.h>

#include "common/common.h"
#include "config/config.h"

typedef enum {
    CLOVE_BACKOFF_FIBONACCI = 0,
    CLOVE_BACKOFF_LINEAR,
    CLOVE_BACKOFF_EXPONENTIAL,
} clove_backoff_t;

/* How requests to one source are made. Strings are borrowed for the duration of a call. */
typedef struct {
    int64_t timeout_ms;            /* whole request (client_timeout); 0 = none */
    int64_t connect_timeout_ms;    /* connect_timeout */
    int max_retries;               /* retries after the first attempt */
    clove_backoff_t backoff;
    int64_t retry_base_ms;         /* first delay */
    int64_t retry_max_duration_ms; /* retries stop once this much time passed; 0 = no limit */
    double jitter;                 /* 0..1: each delay is scaled by 1 +- jitter */
    const char *ca_file;           /* extra CA bundle for TLS verification, or NULL */
    const char *userpwd;           /* "user:password" (Basic, or key:secret for SigV4) */
    const char *sigv4;             /* "aws:amz:REGION:s3" to sign with AWS SigV4, or NULL */
    struct curl_slist *headers;    /* extra request headers, or NULL */
    const atomic_bool *cancel;     /* set when the runtime stops: requests end early */
    const atomic_bool *stop;       /* set by the caller to end this request early, e.g. a
                                    * download pool whose other work failed; may be NULL */
    bool accept_encoding;          /* offer gzip/deflate/br (bodies are stored decoded) */
    bool follow_redirects;         /* up to 5, http/https only */
    int64_t deadline_ns;           /* monotonic: the caller's deadline (a query's); 0 = none */
    bool head;                     /* HEAD instead of GET (health probes): no body */
} clove_fetch_opts_t;

typedef struct {
    long status;                   /* final HTTP status (200, 304, ...), 0 if none */
    char etag[256];                /* response ETag ("" if none) */
    char last_modified[128];       /* response Last-Modified ("" if none) */
    uint64_t bytes;                /* body bytes received by the final attempt */
    int retries;                   /* attempts after the first */
} clove_fetch_result_t;

/* Initialises libcurl once per process (thread-safe). */
void clove__curl_init(void);

/* GET url into `dest` (written as dest.part then renamed, so readers never see a partial
 * file). if_none_match / if_modified_since (may be NULL) make the request conditional: a 304
 * leaves dest untouched and returns 0 with res->status 304. Retries timeouts, connection
 * errors, 429 and 5xx with backoff. `what` names the object in messages ("object \"k\" of
 * bucket \"b\" at ..."). h is an easy handle owned by the calling thread (reset here).
 * Returns 0 (status 200..299 or 304) or a negative CLOVE_E* with err filled: CLOVE_EAUTH for
 * 401/403, CLOVE_ENOTFOUND for 404, CLOVE_ECANCELED when canceled or stopped, CLOVE_ETIMEDOUT
 * when o->deadline_ns passed, CLOVE_EUNAVAILABLE when the source could not be reached
 * (connection, DNS, TLS, client_timeout) or kept answering 408, 429 or 5xx, CLOVE_EIO
 * otherwise. */
int clove__fetch_file(CURL *h, const clove_fetch_opts_t *o, const char *url, const char *what,
                      const char *if_none_match, const char *if_modified_since,
                      const char *dest, clove_fetch_result_t *res, clove_err_t *err);

/* GET url into out (reset first), at most max_bytes. Same retries and errors; a 4xx/5xx body
 * is kept in out so callers can read the service's error document. */
int clove__fetch_mem(CURL *h, const clove_fetch_opts_t *o, const char *url, const char *what,
                     size_t max_bytes, clove_buf_t *out, clove_fetch_result_t *res,
                     clove_err_t *err);

/* Fills o from the params every pull-based connector shares: client_timeout (default 30s),
 * connect_timeout (10s), max_retries (3), retry_backoff_method (fibonacci), retry_max_duration,
 * retry_jitter (0.3). Returns 0 or CLOVE_ECONFIG naming dataset and parameter. */
int clove__fetch_opts_from_params(clove_fetch_opts_t *o, const clove_dataset_cfg_t *cfg,
                                  clove_err_t *err);

/* url with any "user:password@" removed, for messages (new string). */
char *clove__url_for_display(const char *url);


/* Bounded sleep in steps, ending early when *cancel is set. Returns false if canceled. */
bool clove__sleep_ms(int64_t ms, const atomic_bool *cancel);

#endif
