/*
 * http_source.h: the HTTP(S) source behind clove_source_t (private to src/connectors).
 */
#ifndef CLOVE_HTTP_SOURCE_H
#define CLOVE_HTTP_SOURCE_H

#include "connectors/connectors.h"
#include "connectors/connectors_int.h"

typedef struct clove_http_src clove_http_src_t;

/* Validates the params of an http:// or https:// dataset (http_username, http_password,
 * http_port, http_headers, client_timeout, connect_timeout, max_retries, retry_*,
 * tls_ca_certificate_file, http_cache_ttl, file_format). No network I/O. */
clove_http_src_t *clove__http_src_create(const clove_dataset_cfg_t *cfg, const char *cache_root,
                                         const atomic_bool *cancel, clove_source_files_t *files,
                                         clove_err_t *err);
int clove__http_src_sync(clove_http_src_t *s, clove_sync_kind_t kind, int64_t deadline_ns,
                         bool *changed, clove_err_t *err);
/* clove_source_probe for an HTTP(S) source: one HEAD request, no retries, its own curl
 * handle (never waits for a sync). */
int clove__http_src_probe(clove_http_src_t *s, clove_err_t *err);
void clove__http_src_destroy(clove_http_src_t *s);

#endif
