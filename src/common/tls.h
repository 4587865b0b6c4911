/*
 * tls: certificate and key material for clove's TLS endpoints (HTTP API, Arrow Flight,
 * metrics) and its TLS clients. Reads PEM files or inline PEM text, checks everything with
 * OpenSSL before a server starts, so a bad file is one clear startup error (missing,
 * unreadable, not PEM, an encrypted key, a key that does not belong to the certificate)
 * instead of a failure deep inside GnuTLS or gRPC, and hands out normalised PEM text (the
 * certificate chain as parsed, the key as unencrypted PKCS#8) that libmicrohttpd's GnuTLS and
 * gRPC both accept.
 *
 * Messages name the file or configuration key, never the PEM contents. Threads: the
 * functions are reentrant; a loaded clove_tls_cert_t is immutable and may be shared.
 */
#ifndef CLOVE_TLS_H
#define CLOVE_TLS_H

#include "common/common.h"

/* Largest PEM file read (certificate chains and keys are a few KiB). */
#define CLOVE_TLS_MAX_PEM_BYTES (1024 * 1024)

typedef struct {
    char *cert_pem;        /* certificate chain, leaf first (PEM) */
    char *key_pem;         /* its private key, unencrypted PKCS#8 (PEM); wiped on dispose */
    char *subject;         /* the leaf's subject, for logs ("CN=localhost") */
    int64_t not_after_ms;  /* the leaf's expiry (ms since the epoch) */
} clove_tls_cert_t;

/* Where a certificate and its key come from: for each, a file or inline PEM text (the file
 * wins when both are set). `what` names the origin in messages, e.g. "runtime.tls" or
 * "--tls-certificate-file"; the *_name fields name each source ("runtime.tls.key"). */
typedef struct {
    const char *cert_file;
    const char *cert_pem;
    const char *cert_name;   /* used when cert_pem is given: "runtime.tls.certificate" */
    const char *key_file;
    const char *key_pem;
    const char *key_name;    /* "runtime.tls.key" */
} clove_tls_source_t;

/* Reads a PEM file (at most CLOVE_TLS_MAX_PEM_BYTES) into a new NUL-terminated string.
 * `what` describes it in messages ("TLS certificate file"). Returns 0, or CLOVE_EINVAL
 * (missing, unreadable, too large, no PEM block) / CLOVE_ENOMEM with err filled. */
int clove_tls_read_pem_file(const char *path, const char *what, char **out, clove_err_t *err);

/* Loads and checks a certificate chain and its private key into out (zeroed on entry).
 * Returns 0, or CLOVE_EINVAL with err filled: no certificate or key given, file problems,
 * no certificate in the PEM, an unparsable or encrypted key, a key that does not match the
 * certificate. An expired certificate is accepted (clients decide); see not_after_ms. */
int clove_tls_cert_load(const clove_tls_source_t *src, clove_tls_cert_t *out, clove_err_t *err);
void clove_tls_cert_dispose(clove_tls_cert_t *c);

/* Loads a bundle of CA certificates (PEM file) used to verify peers, e.g. the client CA of
 * an mTLS server. Returns 0 with *out a new normalised PEM string, or CLOVE_EINVAL. */
int clove_tls_ca_load(const char *path, const char *what, char **out, clove_err_t *err);

/* Zeroes a string holding secret material and frees it. NULL is ignored. */
void clove_tls_wipe_free(char *s);

#endif
