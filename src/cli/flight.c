/*
 * flight.c: `clove sql` over Arrow Flight SQL. Wraps the Flight client of src/flight: one
 * connection per session, made on the first statement (so the interactive shell starts even
 * when cloved is down) and again after it broke. Each statement's Arrow batches are turned
 * into the text cells of a clove_cli_table_t with the same value text the HTTP API writes
 * into CSV (clove_fmt_text_value), so a result looks the same over both protocols.
 */
#include "cli/cli_int.h"

#include <stdlib.h>
#include <string.h>

#include "flight/flight_client.h"
#include "format/format.h"

struct clove_cli_flight {
    const clove_cli_opts_t *opts;
    clove_flight_client_t *client; /* NULL until connected, and after a connection failure */
};

typedef struct {
    clove_cli_flight_t *f;
    clove_cli_table_t *t;
    clove_buf_t cell; /* scratch for one value's text */
} sink_t;

clove_cli_flight_t *clove_cli_flight_create(const clove_cli_opts_t *opts)
{
    clove_cli_flight_t *f = clove_xcalloc(1, sizeof *f);
    f->opts = opts;
    return f;
}

void clove_cli_flight_destroy(clove_cli_flight_t *f)
{
    if (!f) return;
    clove_flight_client_destroy(f->client);
    free(f);
}

static int out_of_memory(const sink_t *s, clove_err_t *err)
{
    return clove_err_set(err, CLOVE_ENOMEM, "out of memory reading the answer from %s",
                         s->f->opts->endpoint);
}

static int schema_cb(void *ud, idx_t ncols, const char *const *names,
                     const duckdb_logical_type *types, clove_err_t *err)
{
    sink_t *s = ud;
    for (idx_t c = 0; c < ncols; c++)
        if (!clove_cli_table_push(s->t, names[c], strlen(names[c]))) return out_of_memory(s, err);
    clove_cli_table_end_header(s->t);
    return 0;
}

static int chunk_cb(void *ud, duckdb_data_chunk chunk, clove_err_t *err)
{
    sink_t *s = ud;
    idx_t rows = duckdb_data_chunk_get_size(chunk);
    idx_t cols = duckdb_data_chunk_get_column_count(chunk);
    if (cols != s->t->ncols)
        return clove_err_set(err, CLOVE_EINVAL,
                             "clove at %s sent %llu columns for a result "
                             "of %zu",
                             s->f->opts->endpoint, (unsigned long long)cols, s->t->ncols);
    /* cells are appended row by row, so keep each column's vector and type at hand */
    duckdb_vector *vecs = clove_xcalloc(cols ? cols : 1, sizeof *vecs);
    duckdb_logical_type *types = clove_xcalloc(cols ? cols : 1, sizeof *types);
    uint64_t **valid = clove_xcalloc(cols ? cols : 1, sizeof *valid);
    int rc = 0;
    for (idx_t c = 0; c < cols; c++) {
        vecs[c] = duckdb_data_chunk_get_vector(chunk, c);
        types[c] = duckdb_vector_get_column_type(vecs[c]);
        valid[c] = duckdb_vector_get_validity(vecs[c]);
    }
    for (idx_t r = 0; r < rows && rc == 0; r++) {
        for (idx_t c = 0; c < cols; c++) {
            clove_buf_reset(&s->cell);
            if (!valid[c] || duckdb_validity_row_is_valid(valid[c], r))
                clove_fmt_text_value(&s->cell, types[c], vecs[c], r);
            if (s->cell.failed ||
                !clove_cli_table_push(s->t, s->cell.data ? s->cell.data : "", s->cell.len)) {
                rc = out_of_memory(s, err);
                break;
            }
        }
        if (rc == 0 && s->t->text.len > CLOVE_CLI_MAX_ANSWER_BYTES)
            rc = clove_err_set(err, CLOVE_ETOOBIG,
                               "the answer from clove at %s is larger than %zu MiB; add a "
                               "LIMIT to the query",
                               s->f->opts->endpoint, CLOVE_CLI_MAX_ANSWER_BYTES >> 20);
    }
    for (idx_t c = 0; c < cols; c++)
        duckdb_destroy_logical_type(&types[c]);
    free(types);
    free(vecs);
    free(valid);
    return rc;
}

int clove_cli_flight_sql(clove_cli_flight_t *f, const char *sql, clove_cli_table_t *t,
                         double *seconds, clove_err_t *err)
{
    int64_t t0 = clove_mono_ns();
    int rc = 0;
    if (!f->client) {
        clove_flight_client_opts_t o = {
            .api_key = f->opts->api_key,
            .tls_root_cert_file = f->opts->tls_root_cert_file,
            .interrupted = &clove_cli_interrupted,
        };
        f->client = clove_flight_connect(f->opts->endpoint, &o, err);
        if (!f->client) {
            rc = err->code ? err->code : CLOVE_EIO;
            goto out;
        }
    }

    sink_t s = {.f = f, .t = t};
    clove_buf_init(&s.cell);
    static const clove_flight_result_cbs_t cbs = {.schema_cb = schema_cb, .chunk_cb = chunk_cb};
    rc = clove_flight_query(f->client, sql, &cbs, &s, err);
    clove_buf_dispose(&s.cell);
    if (rc == CLOVE_EIO) {
        /* start over on the next statement rather than wait out gRPC's reconnect backoff */
        clove_flight_client_destroy(f->client);
        f->client = NULL;
    }
out:
    *seconds = (double)(clove_mono_ns() - t0) / 1e9;
    return rc;
}
