/*
 * A command-line driver of clove's Flight client library for end-to-end tests: connects with
 * the library's options (plain, TLS, mTLS, API key), runs one statement and prints the
 * answer as JSON rows (src/format), or the error and the gRPC status on stderr (exit 1).
 * It exercises exactly the code the CLI, delegation and the cluster use to reach a Flight
 * server, including client certificates, which `clove sql` does not expose.
 *
 *   flight_client_probe ENDPOINT SQL [--ca FILE] [--cert FILE --key FILE] [--api-key KEY]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flight/flight_client.h"
#include "format/format.h"

typedef struct {
    clove_fmt_t *fmt;
    clove_buf_t out;
} probe_t;

static int schema_cb(void *ud, idx_t ncols, const char *const *names,
                     const duckdb_logical_type *types, clove_err_t *err)
{
    probe_t *p = ud;
    p->fmt = clove_fmt_create(CLOVE_FMT_JSON, ncols, names, types);
    if (!p->fmt) return clove_err_set(err, CLOVE_ENOMEM, "out of memory");
    clove_fmt_begin(p->fmt, &p->out);
    return 0;
}

static int chunk_cb(void *ud, duckdb_data_chunk chunk, clove_err_t *err)
{
    probe_t *p = ud;
    int rc = clove_fmt_chunk(p->fmt, chunk, &p->out);
    return rc ? clove_err_set(err, rc, "could not format the answer") : 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s ENDPOINT SQL [--ca FILE] [--cert FILE --key FILE] "
                "[--api-key KEY]\n", argv[0]);
        return 2;
    }
    clove_flight_client_opts_t o = {.connect_timeout_ms = 10000};
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--ca")) o.tls_root_cert_file = argv[i + 1];
        else if (!strcmp(argv[i], "--cert")) o.tls_cert_file = argv[i + 1];
        else if (!strcmp(argv[i], "--key")) o.tls_key_file = argv[i + 1];
        else if (!strcmp(argv[i], "--api-key")) o.api_key = argv[i + 1];
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    clove_flight_client_quiet_grpc_log();
    clove_err_t err;
    clove_err_clear(&err);
    probe_t p = {0};
    clove_buf_init(&p.out);
    int rc = 1;
    clove_flight_client_t *c = clove_flight_connect(argv[1], &o, &err);
    if (!c) {
        fprintf(stderr, "connect: %s\n", err.message);
        goto out;
    }
    clove_flight_result_cbs_t cbs = {.schema_cb = schema_cb, .chunk_cb = chunk_cb};
    if (clove_flight_query(c, argv[2], &cbs, &p, &err) < 0) {
        fprintf(stderr, "query: %s (status %s)\n", err.message,
                clove_flight_status_name(clove_flight_client_last_status(c)));
        goto out;
    }
    if (p.fmt) clove_fmt_end(p.fmt, &p.out, 0);
    fwrite(p.out.data ? p.out.data : "", 1, p.out.len, stdout);
    putchar('\n');
    rc = 0;
out:
    clove_flight_client_destroy(c);
    clove_fmt_destroy(p.fmt);
    clove_buf_dispose(&p.out);
    return rc;
}
