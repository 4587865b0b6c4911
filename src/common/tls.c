/*
 * tls.c: loading and checking TLS certificates and keys with OpenSSL (see tls.h). Every PEM
 * input is parsed here, so the servers and clients only ever see material OpenSSL accepted,
 * re-encoded as plain PEM.
 */
#include "common/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

void clove_tls_wipe_free(char *s)
{
    if (!s) return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

int clove_tls_read_pem_file(const char *path, const char *what, char **out, clove_err_t *err)
{
    *out = NULL;
    if (!path || !*path)
        return clove_err_set(err, CLOVE_EINVAL, "the %s path is empty", what);
    FILE *f = fopen(path, "rb");
    if (!f)
        return clove_err_set(err, CLOVE_EINVAL, "could not open the %s \"%s\": %s", what, path,
                             strerror(errno));
    clove_buf_t b;
    clove_buf_init(&b);
    char tmp[8192];
    size_t n;
    int rc = 0;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (b.len + n > CLOVE_TLS_MAX_PEM_BYTES) {
            rc = clove_err_set(err, CLOVE_EINVAL, "the %s \"%s\" is larger than %d KiB", what,
                               path, CLOVE_TLS_MAX_PEM_BYTES / 1024);
            goto out;
        }
        clove_buf_append(&b, tmp, n);
    }
    if (ferror(f)) {
        /* e.g. a directory: fopen succeeds, reading fails with EISDIR */
        rc = clove_err_set(err, CLOVE_EINVAL, "could not read the %s \"%s\": %s", what, path,
                           strerror(errno));
        goto out;
    }
    if (b.failed) {
        rc = clove_err_set(err, CLOVE_ENOMEM, "out of memory reading the %s \"%s\"", what, path);
        goto out;
    }
    if (!b.data || memchr(b.data, 0, b.len) || !strstr(b.data, "-----BEGIN ")) {
        rc = clove_err_set(err, CLOVE_EINVAL, "the %s \"%s\" holds no PEM data", what, path);
        goto out;
    }
    *out = clove_buf_steal(&b);
out:
    fclose(f);
    if (b.data) OPENSSL_cleanse(b.data, b.len);
    clove_buf_dispose(&b);
    return rc;
}

/* The reason of the last OpenSSL error, for messages; clears the error queue. */
static const char *ssl_reason(char *buf, size_t cap)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    snprintf(buf, cap, "%s", r ? r : "not valid PEM");
    ERR_clear_error();
    return buf;
}

/* Never prompts for a passphrase (OpenSSL's default callback reads the terminal). */
static int no_password_cb(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* The text of one source: the file's contents or a copy of the inline PEM. `label` gets
 * how messages name it. */
static int source_text(const char *file, const char *pem, const char *pem_name,
                       const char *file_what, char **text, char *label, size_t cap,
                       clove_err_t *err)
{
    if (file) {
        snprintf(label, cap, "%s \"%s\"", file_what, file);
        return clove_tls_read_pem_file(file, file_what, text, err);
    }
    snprintf(label, cap, "%s", pem_name);
    if (!strstr(pem, "-----BEGIN "))
        return clove_err_set(err, CLOVE_EINVAL, "%s holds no PEM data", pem_name);
    *text = clove_xstrdup(pem);
    return 0;
}

/* Appends every certificate of text to out (PEM) and returns the first (new reference), or
 * NULL with err filled. */
static X509 *parse_chain(const char *text, const char *label, clove_buf_t *out, clove_err_t *err)
{
    BIO *bio = BIO_new_mem_buf(text, -1);
    BIO *wb = BIO_new(BIO_s_mem());
    X509 *leaf = NULL, *x;
    int n = 0;
    while ((x = PEM_read_bio_X509(bio, NULL, no_password_cb, NULL)) != NULL) {
        PEM_write_bio_X509(wb, x);
        if (!leaf) leaf = x;
        else X509_free(x);
        n++;
    }
    unsigned long e = ERR_peek_last_error();
    /* reading stops with "no start line" at the end of the input: that is not an error */
    bool at_end = e && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
    char why[160];
    if (n == 0 || (e && !at_end)) {
        if (n == 0)
            clove_err_set(err, CLOVE_EINVAL, "the %s holds no certificate (expected a PEM "
                          "\"BEGIN CERTIFICATE\" block)", label);
        else
            clove_err_set(err, CLOVE_EINVAL, "could not read certificate %d of the %s: %s",
                          n + 1, label, ssl_reason(why, sizeof why));
        X509_free(leaf);
        leaf = NULL;
    } else {
        char *data;
        long len = BIO_get_mem_data(wb, &data);
        clove_buf_append(out, data, (size_t)len);
    }
    ERR_clear_error();
    BIO_free(bio);
    BIO_free(wb);
    return leaf;
}

static char *x509_subject(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
    char *data;
    long len = BIO_get_mem_data(b, &data);
    char *s = clove_xstrndup(data, (size_t)len);
    BIO_free(b);
    return s;
}

static int64_t x509_not_after_ms(X509 *x)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1) return 0;
    return (int64_t)timegm(&tm) * 1000;
}

int clove_tls_cert_load(const clove_tls_source_t *src, clove_tls_cert_t *out, clove_err_t *err)
{
    memset(out, 0, sizeof *out);
    char *cert_text = NULL, *key_text = NULL;
    char cert_label[512], key_label[512], why[160];
    clove_buf_t chain;
    clove_buf_init(&chain);
    X509 *leaf = NULL;
    EVP_PKEY *pkey = NULL;
    BIO *kb = NULL, *wb = NULL;
    int rc;

    if (!src->cert_file && !src->cert_pem) {
        rc = clove_err_set(err, CLOVE_EINVAL, "TLS is enabled but no certificate is given "
                           "(--tls-certificate-file or runtime.tls.certificate_file)");
        goto out;
    }
    if (!src->key_file && !src->key_pem) {
        rc = clove_err_set(err, CLOVE_EINVAL, "TLS is enabled but no private key is given "
                           "(--tls-key-file or runtime.tls.key_file)");
        goto out;
    }
    rc = source_text(src->cert_file, src->cert_pem, src->cert_name ? src->cert_name
                                                                   : "the TLS certificate",
                     "TLS certificate file", &cert_text, cert_label, sizeof cert_label, err);
    if (rc) goto out;
    rc = source_text(src->key_file, src->key_pem, src->key_name ? src->key_name
                                                                : "the TLS private key",
                     "TLS key file", &key_text, key_label, sizeof key_label, err);
    if (rc) goto out;

    leaf = parse_chain(cert_text, cert_label, &chain, err);
    if (!leaf) {
        rc = CLOVE_EINVAL;
        goto out;
    }
    if (strstr(key_text, "ENCRYPTED")) {
        rc = clove_err_set(err, CLOVE_EINVAL, "the %s is encrypted with a passphrase: clove "
                           "needs an unencrypted private key", key_label);
        goto out;
    }
    kb = BIO_new_mem_buf(key_text, -1);
    pkey = PEM_read_bio_PrivateKey(kb, NULL, no_password_cb, NULL);
    if (!pkey) {
        rc = clove_err_set(err, CLOVE_EINVAL, "the %s holds no private key that could be read "
                           "(expected a PEM \"BEGIN PRIVATE KEY\" block): %s", key_label,
                           ssl_reason(why, sizeof why));
        goto out;
    }
    if (X509_check_private_key(leaf, pkey) != 1) {
        ERR_clear_error();
        rc = clove_err_set(err, CLOVE_EINVAL, "the %s does not match the %s (the key belongs to "
                           "another certificate)", key_label, cert_label);
        goto out;
    }
    wb = BIO_new(BIO_s_mem());
    if (!wb || PEM_write_bio_PrivateKey(wb, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        rc = clove_err_set(err, CLOVE_EINVAL, "could not encode the %s: %s", key_label,
                           ssl_reason(why, sizeof why));
        goto out;
    }
    char *data;
    long len = BIO_get_mem_data(wb, &data);
    out->key_pem = clove_xstrndup(data, (size_t)len);
    OPENSSL_cleanse(data, (size_t)len);
    out->cert_pem = clove_buf_steal(&chain);
    out->subject = x509_subject(leaf);
    out->not_after_ms = x509_not_after_ms(leaf);
    rc = 0;

out:
    if (rc) clove_tls_cert_dispose(out);
    clove_buf_dispose(&chain);
    BIO_free(kb);
    BIO_free(wb);
    EVP_PKEY_free(pkey);
    X509_free(leaf);
    free(cert_text);
    clove_tls_wipe_free(key_text);
    ERR_clear_error();
    return rc;
}

void clove_tls_cert_dispose(clove_tls_cert_t *c)
{
    if (!c) return;
    free(c->cert_pem);
    clove_tls_wipe_free(c->key_pem);
    free(c->subject);
    memset(c, 0, sizeof *c);
}

int clove_tls_ca_load(const char *path, const char *what, char **out, clove_err_t *err)
{
    *out = NULL;
    char *text = NULL;
    int rc = clove_tls_read_pem_file(path, what, &text, err);
    if (rc) return rc;
    char label[512];
    snprintf(label, sizeof label, "%s \"%s\"", what, path);
    clove_buf_t chain;
    clove_buf_init(&chain);
    X509 *first = parse_chain(text, label, &chain, err);
    free(text);
    if (!first) {
        clove_buf_dispose(&chain);
        return CLOVE_EINVAL;
    }
    X509_free(first);
    *out = clove_buf_steal(&chain);
    return 0;
}
