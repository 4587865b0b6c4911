/*
 * fuzz_arrow_ipc.c: libFuzzer target for the Arrow IPC stream reader. The input is fed twice:
 * whole, and in pieces whose sizes come from the input's first byte (to exercise the
 * incremental framing); every decoded chunk is converted by DuckDB and each value rendered
 * as JSON, so a bad pointer handed to DuckDB shows up under ASan. One in-memory DuckDB serves
 * every run. Built and run briefly by ctest in the sanitizer build; see tests/fuzz/README.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "arrow/arrow.h"
#include "format/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static duckdb_database db;
static duckdb_connection con;

static void drain(clove_ipc_reader_t *r)
{
    duckdb_data_chunk chunk;
    clove_buf_t b;
    clove_buf_init(&b);
    while (clove_ipc_reader_next_chunk(r, &chunk, NULL) == 1) {
        idx_t rows = duckdb_data_chunk_get_size(chunk);
        for (idx_t c = 0; c < duckdb_data_chunk_get_column_count(chunk); c++) {
            duckdb_vector v = duckdb_data_chunk_get_vector(chunk, c);
            duckdb_logical_type t = duckdb_vector_get_column_type(v);
            for (idx_t row = 0; row < rows; row++) {
                clove_fmt_json_value(&b, t, v, row);
                clove_buf_reset(&b);
            }
            duckdb_destroy_logical_type(&t);
        }
        duckdb_destroy_data_chunk(&chunk);
    }
    clove_buf_dispose(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!con) {
        if (duckdb_open(NULL, &db) != DuckDBSuccess || duckdb_connect(db, &con) != DuckDBSuccess)
            abort();
    }
    /* 1 MiB per message keeps runs fast and exercises the limit */
    clove_ipc_reader_t *r = clove_ipc_reader_create(con, 1 << 20, NULL);
    if (clove_ipc_reader_feed(r, data, size, NULL) == 0) drain(r);
    clove_ipc_reader_destroy(r);

    if (size > 1) {
        size_t step = (size_t)(data[0] % 37) + 1;
        r = clove_ipc_reader_create(con, 1 << 20, NULL);
        for (size_t off = 1; off < size; off += step) {
            size_t n = size - off < step ? size - off : step;
            if (clove_ipc_reader_feed(r, data + off, n, NULL) != 0) break;
            drain(r);
        }
        clove_ipc_reader_destroy(r);
    }
    return 0;
}
