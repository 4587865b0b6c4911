/*
 * fuzz_flight_cmd.c: libFuzzer target for the Flight SQL command decoder (src/flight/
 * flight_cmd.c) and what runs on its output before any engine query: the catalog commands'
 * schemas and rows (flight_catalog.c, over a small DuckDB catalog), and the Arrow IPC message
 * of DoPut's first FlightData with its rows turned into parameters (flight_params.c). The first input byte picks the entry point, the rest are the
 * bytes a client would send there:
 *
 *   0  a FlightDescriptor.cmd (GetFlightInfo, GetSchema)
 *   1  a DoGet ticket (an Any or raw SQL)
 *   2  a FlightDescriptor (CMD or PATH)
 *   3  DoPut's FlightData messages, each prefixed by its length (u32 little endian)
 *   4  an Action (DoAction)
 *
 * Seeds: tests/fuzz/seeds/flight_cmd, written by tests/flight/make_fuzz_seeds.mjs.
 *
 * Built and run briefly by ctest in the sanitizer build (tests/fuzz/README.md); by hand:
 *
 *   cmake --build build-asan --target fuzz_targets
 *   build-asan/fuzz/fuzz_flight_cmd -max_len=4096 tests/fuzz/seeds/flight_cmd
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flight/flight_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static duckdb_database db;
static duckdb_connection con;

static void setup(void)
{
    if (duckdb_open(NULL, &db) != DuckDBSuccess || duckdb_connect(db, &con) != DuckDBSuccess)
        abort();
    duckdb_result r;
    /* the catalog commands read spice.public, as in the engine */
    if (duckdb_query(con,
                     "ATTACH ':memory:' AS spice; CREATE SCHEMA spice.public; "
                     "CREATE TABLE spice.public.t (id INTEGER PRIMARY KEY, name VARCHAR); "
                     "CREATE VIEW spice.public.v AS SELECT 1 AS one; USE spice.public",
                     &r) == DuckDBError)
        abort();
    duckdb_destroy_result(&r);
}

/* What the server does with a decoded command before it reaches the engine. */
static void use_cmd(const flight_cmd_t *cmd)
{
    if (cmd->kind != FLIGHT_CMD_CATALOG) return;
    clove_err_t err;
    clove_buf_t schema;
    clove_buf_init(&schema);
    clove_ipc_parts_t parts;
    clove_ipc_parts_init(&parts);
    meta_table_t t = {0};
    if (flight_catalog_build(NULL, cmd->any, &t, &err) == 0) meta_schema(&t, &schema, &err);
    meta_table_dispose(&t);
    memset(&t, 0, sizeof(t));
    if (flight_catalog_build(con, cmd->any, &t, &err) == 0) meta_parts(&t, &parts, &err);
    meta_table_dispose(&t);
    clove_ipc_parts_dispose(&parts);
    clove_buf_dispose(&schema);
}

/* DoPut's rows as prepared statement parameters (flight_params.c). */
static void drain(clove_ipc_reader_t *r)
{
    duckdb_data_chunk chunk;
    flight_param_rows_t rows = {0};
    clove_err_t err;
    while (clove_ipc_reader_next_chunk(r, &chunk, NULL) == 1) {
        flight_params_append_chunk(chunk, &rows, &err);
        duckdb_destroy_data_chunk(&chunk);
    }
    flight_param_rows_dispose(&rows);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!con) setup();
    if (size < 1) return 0;
    int mode = data[0] % 5;
    data++;
    size--;
    clove_err_t err;
    flight_cmd_t cmd;
    switch (mode) {
    case 0:
    case 1:
        if (flight_cmd_decode(data, size, mode == 1, &cmd, &err) == 0) use_cmd(&cmd);
        flight_cmd_dispose(&cmd);
        break;
    case 2: {
        Arrow__Flight__Protocol__FlightDescriptor *d =
            arrow__flight__protocol__flight_descriptor__unpack(NULL, size, data);
        if (!d) break;
        for (int path_ok = 0; path_ok < 2; path_ok++) {
            if (flight_cmd_from_descriptor(d, path_ok, &cmd, &err) == 0) use_cmd(&cmd);
            flight_cmd_dispose(&cmd);
        }
        arrow__flight__protocol__flight_descriptor__free_unpacked(d, NULL);
        break;
    }
    case 3: {
        /* DoPut: FlightData messages, each prefixed by its length (4 bytes, little endian);
         * the first one's descriptor says what the stream is */
        clove_ipc_reader_t *r = clove_ipc_reader_create(con, 1 << 20, &err);
        for (int i = 0; r && size >= 4; i++) {
            size_t n = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 |
                       (size_t)data[3] << 24;
            data += 4;
            size -= 4;
            if (n > size) n = size;
            Arrow__Flight__Protocol__FlightData *fd =
                arrow__flight__protocol__flight_data__unpack(NULL, n, data);
            data += n;
            size -= n;
            if (!fd) break;
            if (i == 0) {
                if (flight_cmd_from_descriptor(fd->flight_descriptor, true, &cmd, &err) == 0)
                    use_cmd(&cmd);
                flight_cmd_dispose(&cmd);
            }
            int rc = fd->data_header.len
                         ? clove_ipc_reader_message(r, fd->data_header.data, fd->data_header.len,
                                                    fd->data_body.data, fd->data_body.len, &err)
                         : 0;
            arrow__flight__protocol__flight_data__free_unpacked(fd, NULL);
            if (rc) break;
        }
        if (r) drain(r);
        clove_ipc_reader_destroy(r);
        break;
    }
    default: {
        flight_action_t a;
        flight_action_decode(data, size, &a, &err);
        flight_action_dispose(&a);
        break;
    }
    }
    return 0;
}
