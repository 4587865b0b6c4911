/*
 * test_arrow.c: the Arrow IPC stream writer and reader against an in-memory DuckDB. Every
 * DuckDB type with edge values and NULLs is encoded, decoded back into DuckDB chunks and
 * compared value by value (through the JSON writer of src/format, which prints every type
 * exactly); streams are also fed byte by byte, as Flight (header, body) parts, truncated at
 * every position and corrupted byte by byte (errors, never crashes: run under ASan), and
 * hand-built hostile messages must give the documented errors. Ends with the encode
 * throughput for 10M rows x 5 columns (printed only; CLOVE_ARROW_BENCH_ROWS overrides).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrow/arrow.h"
#include "arrow/arrow_int.h"
#include "format/format.h"

static duckdb_database db;
static duckdb_connection con;

static int setup(void **state)
{
    (void)state;
    if (duckdb_open(NULL, &db) != DuckDBSuccess) return -1;
    if (duckdb_connect(db, &con) != DuckDBSuccess) return -1;
    duckdb_result res;
    if (duckdb_query(con, "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')", &res) !=
        DuckDBSuccess)
        return -1;
    duckdb_destroy_result(&res);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    duckdb_disconnect(&con);
    duckdb_close(&db);
    return 0;
}

static void exec(duckdb_connection c, const char *sql)
{
    duckdb_result res;
    if (duckdb_query(c, sql, &res) != DuckDBSuccess)
        fail_msg("%s: %s", sql, duckdb_result_error(&res));
    duckdb_destroy_result(&res);
}

/* ---- helpers ------------------------------------------------------------------------------ */

typedef struct {
    char *json;                 /* the whole answer through the JSON writer */
    char *stream;               /* the IPC stream (schema, batches, EOS) */
    size_t stream_len;
    clove_ipc_parts_t parts;    /* the same messages as Flight parts */
    bool gathered;              /* the writer gathers these columns (can_gather) */
    clove_ipc_parts_t gparts[2]; /* gathered: every chunk alone; up to GATHER_SMALL bytes */
    idx_t ncols;
    char **names;
    duckdb_type *type_ids;
    uint64_t rows;
    int chunks;
} encoded_t;

static void encoded_free(encoded_t *e)
{
    free(e->json);
    free(e->stream);
    clove_ipc_parts_dispose(&e->parts);
    clove_ipc_parts_dispose(&e->gparts[0]);
    clove_ipc_parts_dispose(&e->gparts[1]);
    for (idx_t i = 0; i < e->ncols; i++) free(e->names[i]);
    free(e->names);
    free(e->type_ids);
    memset(e, 0, sizeof(*e));
}

/* Body bytes of the second gathered variant: small, so batches end at irregular rows. */
#define GATHER_SMALL (512 * 1024)

/* Gathers chunk into w (a batch is flushed into parts whenever the next chunk would pass
 * limit bytes). */
static void gather_into(clove_ipc_writer_t *w, duckdb_data_chunk chunk, size_t limit,
                        clove_ipc_parts_t *parts)
{
    clove_err_t err = {0};
    int r = clove_ipc_writer_gather(w, chunk, limit, &err);
    if (r == 0) {
        assert_true(clove_ipc_writer_pending_rows(w) > 0);
        assert_int_equal(clove_ipc_writer_flush_parts(w, parts, &err), 0);
        assert_int_equal(clove_ipc_writer_pending_rows(w), 0);
        r = clove_ipc_writer_gather(w, chunk, limit, &err);
    }
    if (r != 1) fail_msg("gather: %d %s", r, err.message);
}

/* Runs sql on c, renders it as JSON and encodes it as an IPC stream, as parts, and (when the
 * columns allow) as gathered parts. */
static void encode_sql(duckdb_connection c, const char *sql, encoded_t *e)
{
    memset(e, 0, sizeof(*e));
    clove_ipc_parts_init(&e->parts);
    clove_ipc_parts_init(&e->gparts[0]);
    clove_ipc_parts_init(&e->gparts[1]);
    duckdb_result res;
    if (duckdb_query(c, sql, &res) != DuckDBSuccess)
        fail_msg("query failed: %s: %s", sql, duckdb_result_error(&res));
    idx_t n = duckdb_column_count(&res);
    e->ncols = n;
    e->names = calloc(n + 1, sizeof(char *));
    e->type_ids = calloc(n + 1, sizeof(duckdb_type));
    duckdb_logical_type *types = calloc(n + 1, sizeof(*types));
    for (idx_t i = 0; i < n; i++) {
        e->names[i] = strdup(duckdb_column_name(&res, i));
        types[i] = duckdb_column_logical_type(&res, i);
        e->type_ids[i] = duckdb_get_type_id(types[i]);
    }
    clove_err_t err = {0};
    clove_ipc_writer_t *w =
        clove_ipc_writer_create(c, n, (const char *const *)e->names, types, &err);
    if (!w) fail_msg("writer for %s: %s", sql, err.message);
    /* a second writer for the parts: each writer sends a dictionary only once */
    clove_ipc_writer_t *w2 =
        clove_ipc_writer_create(c, n, (const char *const *)e->names, types, &err);
    assert_non_null(w2);
    /* gathering writers, one per limit, with the connection's options borrowed */
    duckdb_arrow_options opts;
    duckdb_connection_get_arrow_options(c, &opts);
    clove_ipc_writer_t *gw[2];
    for (int k = 0; k < 2; k++) {
        gw[k] = clove_ipc_writer_create_opts(opts, n, (const char *const *)e->names, types, &err);
        assert_non_null(gw[k]);
    }
    e->gathered = clove_ipc_writer_can_gather(gw[0]);
    for (int k = 0; k < 2 && e->gathered; k++)
        assert_int_equal(clove_ipc_writer_schema_parts(gw[k], &e->gparts[k], &err), 0);
    clove_fmt_t *f = clove_fmt_create(CLOVE_FMT_JSON, n, (const char *const *)e->names, types);
    clove_buf_t js, out;
    clove_buf_init(&js);
    clove_buf_init(&out);
    clove_fmt_begin(f, &js);
    assert_int_equal(clove_ipc_writer_schema(w, &out, &err), 0);
    assert_int_equal(clove_ipc_writer_schema_parts(w2, &e->parts, &err), 0);
    duckdb_data_chunk chunk;
    while ((chunk = duckdb_fetch_chunk(res)) != NULL) {
        e->rows += duckdb_data_chunk_get_size(chunk);
        e->chunks++;
        assert_int_equal(clove_fmt_chunk(f, chunk, &js), 0);
        if (clove_ipc_writer_batch(w, chunk, &out, &err))
            fail_msg("batch of %s: %s (buffer %zu bytes, failed %d)", sql, err.message, out.len,
                     out.failed);
        if (clove_ipc_writer_batch_parts(w2, chunk, &e->parts, &err))
            fail_msg("batch parts: %s", err.message);
        if (e->gathered) {
            gather_into(gw[0], chunk, 1, &e->gparts[0]);
            gather_into(gw[1], chunk, GATHER_SMALL, &e->gparts[1]);
        }
        duckdb_destroy_data_chunk(&chunk);
    }
    for (int k = 0; k < 2; k++) {
        if (e->gathered)
            assert_int_equal(clove_ipc_writer_flush_parts(gw[k], &e->gparts[k], &err), 0);
        clove_ipc_writer_destroy(gw[k]);
    }
    duckdb_destroy_arrow_options(&opts);
    clove_fmt_end(f, &js, 0);
    clove_ipc_write_eos(&out);
    assert_false(out.failed);
    assert_true(out.len % 8 == 0);
    e->json = clove_buf_steal(&js);
    e->stream_len = out.len;
    e->stream = clove_buf_steal(&out);
    clove_fmt_destroy(f);
    clove_ipc_writer_destroy(w);
    clove_ipc_writer_destroy(w2);
    for (idx_t i = 0; i < n; i++) duckdb_destroy_logical_type(&types[i]);
    free(types);
    duckdb_destroy_result(&res);
}

/* Drains every chunk of r into JSON (f created on the first chunk). Returns rows. */
static uint64_t drain_json(clove_ipc_reader_t *r, clove_fmt_t **f, clove_buf_t *js)
{
    uint64_t rows = 0;
    duckdb_data_chunk chunk;
    clove_err_t err = {0};
    int rc;
    while ((rc = clove_ipc_reader_next_chunk(r, &chunk, &err)) == 1) {
        if (!*f) {
            idx_t n = clove_ipc_reader_column_count(r);
            const char **names = calloc(n + 1, sizeof(char *));
            duckdb_logical_type *types = calloc(n + 1, sizeof(*types));
            for (idx_t i = 0; i < n; i++) {
                names[i] = clove_ipc_reader_column_name(r, i);
                types[i] = clove_ipc_reader_column_type(r, i);
            }
            *f = clove_fmt_create(CLOVE_FMT_JSON, n, names, types);
            clove_fmt_begin(*f, js);
            free(names);
            free(types);
        }
        rows += duckdb_data_chunk_get_size(chunk);
        assert_true(duckdb_data_chunk_get_size(chunk) <= 2048);
        assert_int_equal(clove_fmt_chunk(*f, chunk, js), 0);
        duckdb_destroy_data_chunk(&chunk);
    }
    if (rc < 0) fail_msg("next_chunk: %s", err.message);
    return rows;
}

/* Decodes a stream fed in pieces of `step` bytes; returns the JSON text (caller frees). */
static char *decode_stream(const uint8_t *data, size_t len, size_t step, uint64_t *rows)
{
    clove_err_t err = {0};
    clove_ipc_reader_t *r = clove_ipc_reader_create(con, 0, &err);
    assert_non_null(r);
    clove_fmt_t *f = NULL;
    clove_buf_t js;
    clove_buf_init(&js);
    *rows = 0;
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        if (clove_ipc_reader_feed(r, data + off, n, &err)) fail_msg("feed: %s", err.message);
        *rows += drain_json(r, &f, &js);
    }
    assert_true(clove_ipc_reader_eos(r));
    assert_true(clove_ipc_reader_has_schema(r));
    if (!f) {
        /* no rows: still render the empty answer with the schema's types */
        idx_t n = clove_ipc_reader_column_count(r);
        const char **names = calloc(n + 1, sizeof(char *));
        duckdb_logical_type *types = calloc(n + 1, sizeof(*types));
        for (idx_t i = 0; i < n; i++) {
            names[i] = clove_ipc_reader_column_name(r, i);
            types[i] = clove_ipc_reader_column_type(r, i);
        }
        f = clove_fmt_create(CLOVE_FMT_JSON, n, names, types);
        clove_fmt_begin(f, &js);
        free(names);
        free(types);
    }
    clove_fmt_end(f, &js, 0);
    clove_fmt_destroy(f);
    clove_ipc_reader_destroy(r);
    return clove_buf_steal(&js);
}

static char *decode_parts(const clove_ipc_parts_t *p, uint64_t *rows)
{
    clove_err_t err = {0};
    clove_ipc_reader_t *r = clove_ipc_reader_create(con, 0, &err);
    clove_fmt_t *f = NULL;
    clove_buf_t js;
    clove_buf_init(&js);
    *rows = 0;
    for (size_t i = 0; i < p->n; i++) {
        const clove_ipc_part_t *m = &p->parts[i];
        /* a gathered body comes in pieces: the reader takes it whole */
        clove_buf_t body;
        clove_buf_init(&body);
        clove_buf_append(&body, m->body.data, m->body.len);
        for (size_t k = 0; k < m->n_pieces; k++) {
            assert_int_equal(m->pieces[k].len % 8, 0);
            clove_buf_append(&body, m->pieces[k].data, m->pieces[k].len);
        }
        assert_int_equal(body.len, clove_ipc_part_body_len(m));
        if (clove_ipc_reader_message(r, (const uint8_t *)m->header.data, m->header.len,
                                     (const uint8_t *)body.data, body.len, &err))
            fail_msg("message %zu: %s", i, err.message);
        clove_buf_dispose(&body);
        *rows += drain_json(r, &f, &js);
    }
    if (f) {
        clove_fmt_end(f, &js, 0);
        clove_fmt_destroy(f);
    }
    clove_ipc_reader_destroy(r);
    return clove_buf_steal(&js);
}

/* Encodes sql, decodes it three ways and compares every value with the original. */
static void roundtrip_on(duckdb_connection c, const char *sql)
{
    encoded_t e;
    encode_sql(c, sql, &e);
    uint64_t rows;
    char *back = decode_stream((const uint8_t *)e.stream, e.stream_len, e.stream_len, &rows);
    if (strcmp(back, e.json) != 0)
        fail_msg("round trip of %s differs:\n  sent %s\n  got  %s", sql, e.json, back);
    assert_int_equal(rows, e.rows);
    free(back);
    back = decode_stream((const uint8_t *)e.stream, e.stream_len, 7, &rows);
    assert_string_equal(back, e.json);
    free(back);
    if (e.rows > 0) {
        back = decode_parts(&e.parts, &rows);
        assert_string_equal(back, e.json);
        assert_int_equal(rows, e.rows);
        free(back);
        for (int k = 0; k < 2 && e.gathered; k++) {
            back = decode_parts(&e.gparts[k], &rows);
            if (strcmp(back, e.json) != 0)
                fail_msg("gathered (%d) round trip of %s differs:\n  sent %s\n  got  %s", k, sql,
                         e.json, back);
            assert_int_equal(rows, e.rows);
            free(back);
        }
    }
    encoded_free(&e);
}

static void roundtrip(const char *sql) { roundtrip_on(con, sql); }

/* ---- flatbuffers ------------------------------------------------------------------------- */

static void test_flatbuf(void **state)
{
    (void)state;
    fb_builder_t b;
    fb_builder_init(&b);
    fb_ref_t s = fb_create_string(&b, "hello", 5);
    int64_t v[3] = {1, -2, 3};
    fb_ref_t vec = fb_create_vector(&b, v, 3, 8, 8);
    fb_table_start(&b);
    fb_add_i32(&b, 2, -7);
    fb_add_ref(&b, 0, s);
    fb_add_u8(&b, 4, 9);
    fb_add_ref(&b, 1, vec);
    fb_add_i64(&b, 5, INT64_MIN);
    fb_ref_t t = fb_table_end(&b);
    const uint8_t *out;
    size_t len;
    assert_true(fb_finish(&b, t, &out, &len));
    assert_int_equal(len % 8, 0);
    fb_table_t rt;
    assert_true(fb_root(out, len, &rt));
    const char *str;
    size_t sl;
    bool present;
    assert_true(fb_get_string(&rt, 0, &str, &sl, &present));
    assert_true(present);
    assert_int_equal(sl, 5);
    assert_memory_equal(str, "hello", 5);
    int32_t i32;
    assert_true(fb_get_i32(&rt, 2, 0, &i32));
    assert_int_equal(i32, -7);
    uint8_t u8;
    assert_true(fb_get_u8(&rt, 4, 0, &u8));
    assert_int_equal(u8, 9);
    assert_true(fb_get_u8(&rt, 3, 42, &u8));     /* absent: default */
    assert_int_equal(u8, 42);
    assert_true(fb_get_u8(&rt, 15, 43, &u8));    /* beyond the vtable: default */
    assert_int_equal(u8, 43);
    int64_t i64;
    assert_true(fb_get_i64(&rt, 5, 0, &i64));
    assert_true(i64 == INT64_MIN);
    fb_vec_t fv;
    assert_true(fb_get_vector(&rt, 1, 8, &fv, &present));
    assert_int_equal(fv.n, 3);
    assert_int_equal(fb_vec_i64(&fv, 1, 8, 0), -2);
    /* every truncation and every single-byte corruption is either rejected or stays inside */
    uint8_t *copy = malloc(len);
    for (size_t cut = 0; cut < len; cut++) {
        memcpy(copy, out, cut);
        fb_table_t x;
        if (fb_root(copy, cut, &x)) {
            (void)fb_get_string(&x, 0, &str, &sl, &present);
            (void)fb_get_vector(&x, 1, 8, &fv, &present);
        }
    }
    for (size_t i = 0; i < len; i++) {
        memcpy(copy, out, len);
        copy[i] ^= 0xA5;
        fb_table_t x;
        if (fb_root(copy, len, &x)) {
            if (fb_get_string(&x, 0, &str, &sl, &present) && present)
                assert_true(str >= (const char *)copy && str + sl <= (const char *)copy + len);
            if (fb_get_vector(&x, 1, 8, &fv, &present) && present)
                assert_true(fv.start + 8 * (size_t)fv.n <= len);
        }
    }
    free(copy);
    fb_builder_dispose(&b);
}

/* ---- every type ---------------------------------------------------------------------------- */

static void test_integers(void **state)
{
    (void)state;
    roundtrip("SELECT * FROM (VALUES "
              "((-128)::TINYINT, (-32768)::SMALLINT, (-2147483648)::INTEGER, "
              " (-9223372036854775808)::BIGINT, 0::UTINYINT, 0::USMALLINT, 0::UINTEGER, "
              " 0::UBIGINT), "
              "(127, 32767, 2147483647, 9223372036854775807, 255, 65535, 4294967295, "
              " 18446744073709551615), "
              "(0, -1, 1, -1, 1, 1, 1, 1), "
              "(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)) "
              "t(i8, i16, i32, i64, u8, u16, u32, u64)");
    roundtrip("SELECT * FROM (VALUES "
              "('-170141183460469231731687303715884105727'::HUGEINT), "
              "('170141183460469231731687303715884105727'::HUGEINT), (0::HUGEINT), (NULL)) t(h)");
}

static void test_floats_decimals_bools(void **state)
{
    (void)state;
    roundtrip("SELECT * FROM (VALUES "
              "('inf'::FLOAT, '-inf'::DOUBLE, true), ('-0.0'::FLOAT, 'nan'::DOUBLE, false), "
              "(3.4028235e38::FLOAT, 1.7976931348623157e308, NULL), "
              "(1.4e-45::FLOAT, 5e-324::DOUBLE, true), (NULL, NULL, NULL)) t(f, d, b)");
    roundtrip("SELECT * FROM (VALUES "
              "(-999.9::DECIMAL(4,1), -999999.999::DECIMAL(9,3), "
              " -999999999999.999999::DECIMAL(18,6), "
              " '-9999999999999999999999999999.9999999999'::DECIMAL(38,10)), "
              "(999.9, 999999.999, 999999999999.999999, "
              " '9999999999999999999999999999.9999999999'::DECIMAL(38,10)), "
              "(0.1, -0.001, 0.000001, 0.0000000001), (NULL, NULL, NULL, NULL)) "
              "t(d4, d9, d18, d38)");
}

static void test_strings_blobs(void **state)
{
    (void)state;
    roundtrip("SELECT * FROM (VALUES "
              "('', ''::BLOB), ('a', 'a'::BLOB), "
              "('héllo wörld, 漢字 😀', '\\x00\\xFF\\x80'::BLOB), "
              "('a string longer than twelve bytes', 'zzzzzzzzzzzzzzzzzzzz'::BLOB), "
              "('nul' || chr(0) || 'inside', NULL), (NULL, ''::BLOB)) t(s, b)");
    /* many rows of growing strings, some NULL */
    roundtrip("SELECT CASE WHEN i % 7 = 0 THEN NULL ELSE repeat('x', (i % 50)::INT) || i END s "
              "FROM range(5000) r(i)");
}

static void test_temporal(void **state)
{
    (void)state;
    roundtrip("SELECT * FROM (VALUES "
              "('0001-01-01'::DATE, '00:00:00'::TIME, '0001-01-01 00:00:00'::TIMESTAMP, "
              " '1970-01-01 00:00:00+00'::TIMESTAMPTZ), "
              "('9999-12-31', '23:59:59.999999', '9999-12-31 23:59:59.999999', "
              " '2024-02-29 12:34:56.789012+00'), "
              "('1970-01-01', '24:00:00', '1970-01-01 00:00:00', '1969-12-31 23:59:59.999999+00'), "
              "('infinity'::DATE, '12:00:00', 'infinity'::TIMESTAMP, '-infinity'::TIMESTAMPTZ), "
              "(NULL, NULL, NULL, NULL)) t(d, t, ts, tstz)");
    roundtrip("SELECT * FROM (VALUES "
              "('2024-01-02 03:04:05'::TIMESTAMP_S, '2024-01-02 03:04:05.123'::TIMESTAMP_MS, "
              " '2024-01-02 03:04:05.123456789'::TIMESTAMP_NS), "
              "('1677-09-22 00:00:00'::TIMESTAMP_S, '1900-01-01 00:00:00.001'::TIMESTAMP_MS, "
              " '2262-04-11 23:47:16.854775806'::TIMESTAMP_NS), "
              "(NULL, NULL, NULL)) t(s, ms, ns)");
    roundtrip("SELECT * FROM (VALUES "
              "(INTERVAL '1 year 2 months 3 days 04:05:06.789'), (INTERVAL '-5 days -00:00:01'), "
              "(INTERVAL '0 seconds'), (INTERVAL '178000000 years'), (NULL)) t(iv)");
}

static void test_nested(void **state)
{
    (void)state;
    roundtrip("SELECT * FROM (VALUES "
              "([1, 2, NULL], [['a', NULL], [], NULL], {'a': 1, 'b': 'x'}), "
              "([], [], {'a': NULL, 'b': NULL}), "
              "(NULL, NULL, NULL), "
              "([NULL], [['longer than twelve bytes']], {'a': -1, 'b': ''})) t(l, ll, s)");
    roundtrip("SELECT * FROM (VALUES "
              "(MAP {'k': 1, 'k2': NULL}, [1, 2, 3]::INTEGER[3], "
              " {'x': [1.5, NULL], 'y': {'z': 'deep'}}), "
              "(MAP {}, [NULL, 5, NULL]::INTEGER[3], {'x': [], 'y': {'z': NULL}}), "
              "(NULL, NULL, NULL)) t(m, a, s)");
    roundtrip("SELECT [{'k': i, 'v': [i, i + 1]}] AS l, "
              "CASE WHEN i % 3 = 0 THEN NULL ELSE MAP {i::VARCHAR: i * 2} END AS m, "
              "[i::VARCHAR, NULL]::VARCHAR[2] AS a FROM range(3000) r(i)");
    /* map keys of another type, lists of decimals and timestamps */
    roundtrip("SELECT MAP {1: 'one', 2: NULL} m, [1.25::DECIMAL(5,2), NULL] l, "
              "['2024-01-01 00:00:00'::TIMESTAMP] t");
}

static void test_uuid_enum_null_union(void **state)
{
    (void)state;
    roundtrip("SELECT * FROM (VALUES "
              "('00000000-0000-0000-0000-000000000000'::UUID, 'sad'::mood, NULL), "
              "('ffffffff-ffff-ffff-ffff-ffffffffffff', 'happy', NULL), "
              "('550e8400-e29b-41d4-a716-446655440000', NULL, NULL), (NULL, 'ok', NULL)) "
              "t(u, m, n)");
    roundtrip("SELECT * FROM (VALUES "
              "(union_value(num := 2)::UNION(num INTEGER, str VARCHAR)), "
              "(union_value(str := 'two')::UNION(num INTEGER, str VARCHAR)), "
              "(NULL)) t(u)");
    /* types DuckDB exports lossily by default (TIMETZ drops its offset, BIT becomes its
     * bytes): what DuckDB's own Arrow conversion gives is what comes back */
    roundtrip("SELECT '123456789012345678901234567890123456789012'::BIGNUM big, "
              "'170141183460469231731687303715884105727'::UHUGEINT uh, '{\"a\":1}'::JSON j");
    encoded_t e;
    encode_sql(con, "SELECT '12:34:56+05:30'::TIMETZ tz, '0101'::BIT b", &e);
    uint64_t rows;
    char *back = decode_stream((const uint8_t *)e.stream, e.stream_len, 64, &rows);
    assert_string_equal(back, "[{\"tz\":\"12:34:56\",\"b\":\"04f5\"}]");
    free(back);
    encoded_free(&e);
}

/* The writer follows the connection's Arrow options: large offsets, string views and the
 * lossless (extension type) conversion all decode back. */
static void test_connection_options(void **state)
{
    (void)state;
    const char *settings[] = {
        "SET arrow_large_buffer_size = true",
        "SET produce_arrow_string_view = true; SET arrow_output_version = '1.4'",
        "SET arrow_lossless_conversion = true",
        "SET arrow_lossless_conversion = true; SET arrow_output_version = '1.4'",
        "SET arrow_lossless_conversion = true; SET arrow_large_buffer_size = true",
    };
    const char *sql =
        "SELECT i, CASE WHEN i % 5 = 0 THEN NULL ELSE 'value number ' || i END s, "
        "[i::VARCHAR, 'short'] l, "
        "('0000000' || (i % 10) || '-0000-0000-0000-000000000000')::UUID u, "
        "i::HUGEINT h, (i % 2 = 0) b, 'x'::BLOB bl, [NULL, ('0000000' || (i % 10) || "
        "'-0000-0000-0000-000000000000')::UUID] lu, MAP {'k': ('0000000' || (i % 10) || "
        "'-0000-0000-0000-000000000000')::UUID} m FROM range(2500) r(i)";
    const char *lossless_sql = "SELECT '12:34:56+05:30'::TIMETZ tz, '0101'::BIT b, "
                               "'170141183460469231731687303715884105727'::UHUGEINT uh, "
                               "'-170141183460469231731687303715884105727'::HUGEINT h, "
                               "'{\"a\":1}'::JSON j, true AS t, NULL::BOOLEAN nb";
    for (size_t k = 0; k < sizeof(settings) / sizeof(settings[0]); k++) {
        /* some of these settings are global: a database of its own for each */
        duckdb_database db2;
        duckdb_connection c2;
        assert_int_equal(duckdb_open(NULL, &db2), DuckDBSuccess);
        assert_int_equal(duckdb_connect(db2, &c2), DuckDBSuccess);
        exec(c2, settings[k]);
        roundtrip_on(c2, sql);
        if (k >= 2) roundtrip_on(c2, lossless_sql);
        duckdb_disconnect(&c2);
        duckdb_close(&db2);
    }
}

static void test_multi_chunk_and_empty(void **state)
{
    (void)state;
    encoded_t e;
    encode_sql(con, "SELECT i, i * 1.5 d, 'row ' || i s, i % 2 = 0 b FROM range(10000) r(i)", &e);
    assert_true(e.chunks >= 5);
    uint64_t rows;
    char *back = decode_stream((const uint8_t *)e.stream, e.stream_len, 1, &rows);
    assert_int_equal(rows, 10000);
    assert_string_equal(back, e.json);
    free(back);
    encoded_free(&e);
    roundtrip("SELECT 1::INTEGER a, 'x' b WHERE false");
}

/* Chunks of sizes[] rows (one query each, so sizes are exact) gathered into one RecordBatch:
 * bitmaps continue at bit offsets that are not on a byte. */
static void gather_sizes(const int *sizes, size_t n)
{
    const char *cols = "i AS i64, i % 3 = 0 AS b, "
                       "CASE WHEN i % 5 = 0 THEN NULL ELSE i END AS n5, "
                       "CASE WHEN i % 4 = 1 THEN NULL ELSE i % 2 = 0 END AS bn, "
                       "CASE WHEN i >= 1010 THEN NULL ELSE 'v' || i END AS s";
    clove_err_t err = {0};
    clove_ipc_writer_t *w = NULL;
    clove_fmt_t *f = NULL;
    clove_buf_t js;
    clove_buf_init(&js);
    clove_ipc_parts_t parts;
    clove_ipc_parts_init(&parts);
    duckdb_arrow_options opts;
    duckdb_connection_get_arrow_options(con, &opts);
    int start = 0;
    uint64_t rows = 0;
    for (size_t k = 0; k < n; k++) {
        char sql[512];
        snprintf(sql, sizeof(sql), "SELECT %s FROM range(%d, %d) r(i)", cols, start,
                 start + sizes[k]);
        start += sizes[k];
        duckdb_result res;
        if (duckdb_query(con, sql, &res) != DuckDBSuccess)
            fail_msg("%s", duckdb_result_error(&res));
        if (!w) {
            idx_t nc = duckdb_column_count(&res);
            const char *names[8];
            duckdb_logical_type types[8];
            for (idx_t i = 0; i < nc; i++) {
                names[i] = duckdb_column_name(&res, i);
                types[i] = duckdb_column_logical_type(&res, i);
            }
            w = clove_ipc_writer_create_opts(opts, nc, names, types, &err);
            assert_non_null(w);
            assert_true(clove_ipc_writer_can_gather(w));
            assert_int_equal(clove_ipc_writer_schema_parts(w, &parts, &err), 0);
            f = clove_fmt_create(CLOVE_FMT_JSON, nc, names, types);
            clove_fmt_begin(f, &js);
            for (idx_t i = 0; i < nc; i++) duckdb_destroy_logical_type(&types[i]);
        }
        duckdb_data_chunk chunk;
        while ((chunk = duckdb_fetch_chunk(res)) != NULL) {
            rows += duckdb_data_chunk_get_size(chunk);
            assert_int_equal(clove_fmt_chunk(f, chunk, &js), 0);
            assert_int_equal(clove_ipc_writer_gather(w, chunk, 1 << 30, &err), 1);
            duckdb_destroy_data_chunk(&chunk);
        }
        duckdb_destroy_result(&res);
    }
    assert_int_equal(clove_ipc_writer_pending_rows(w), (int64_t)rows);
    assert_int_equal(clove_ipc_writer_flush_parts(w, &parts, &err), 0);
    assert_int_equal(parts.n, 2);
    clove_fmt_end(f, &js, 0);
    uint64_t back_rows;
    char *back = decode_parts(&parts, &back_rows);
    assert_int_equal(back_rows, rows);
    if (strcmp(back, js.data) != 0)
        fail_msg("gathered sizes differ:\n  sent %s\n  got  %s", js.data, back);
    free(back);
    clove_fmt_destroy(f);
    clove_buf_dispose(&js);
    clove_ipc_parts_dispose(&parts);
    clove_ipc_writer_destroy(w);
    duckdb_destroy_arrow_options(&opts);
}

/* Gathering several chunks into one RecordBatch: which columns qualify, batches that end at
 * irregular rows (bit offsets not on a byte), NULLs first seen in a later chunk, all-NULL
 * columns, and the body limit. */
static void test_gather(void **state)
{
    const int sizes1[] = {5, 13, 1000, 3, 2048, 1, 7, 9};
    gather_sizes(sizes1, sizeof(sizes1) / sizeof(sizes1[0]));
    const int sizes2[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 2};
    gather_sizes(sizes2, sizeof(sizes2) / sizeof(sizes2[0]));
    const int sizes3[] = {8, 16, 2048, 64};
    gather_sizes(sizes3, sizeof(sizes3) / sizeof(sizes3[0]));
    (void)state;
    /* a filter makes chunks of irregular sizes (not multiples of 8) */
    const char *flat =
        "SELECT (i % 100)::TINYINT AS i8, (i % 30000)::SMALLINT AS i16, i::INTEGER AS i32, "
        "i AS i64, "
        "(i % 200)::UTINYINT AS u8, i::UBIGINT AS u64, (i * 0.5)::FLOAT AS f, "
        "i::DOUBLE * 1.5 AS d, "
        "i % 3 = 0 AS b, CASE WHEN i > 3000 AND i % 7 = 0 THEN NULL ELSE i % 2 = 0 END AS bn, "
        "CASE WHEN i % 11 = 0 THEN NULL ELSE 'row ' || i END AS s, "
        "CASE WHEN i > 5000 AND i % 13 = 0 THEN NULL ELSE repeat('long text ', (i % 4)::INT) "
        "END AS sl, ('x' || i)::BLOB AS bl, DATE '2024-01-01' + (i % 1000)::INT AS dt, "
        "TIME '00:00:00' + to_seconds(i % 86400) AS tm, "
        "TIMESTAMP '2024-01-01' + to_seconds(i) AS ts, "
        "(TIMESTAMP '2024-01-01' + to_seconds(i))::TIMESTAMPTZ AS tz, "
        "NULL::INTEGER AS nothing FROM range(30000) r(i) WHERE i % 3 <> 1";
    encoded_t e;
    encode_sql(con, flat, &e);
    assert_true(e.gathered);
    assert_true(e.chunks >= 4);
    /* every chunk alone, or several per batch within the limit */
    assert_int_equal(e.gparts[0].n, 1 + (size_t)e.chunks);
    assert_true(e.gparts[1].n > 2 && e.gparts[1].n < 1 + (size_t)e.chunks);
    for (size_t i = 1; i < e.gparts[1].n; i++)
        assert_true(clove_ipc_part_body_len(&e.gparts[1].parts[i]) <= GATHER_SMALL);
    encoded_free(&e);
    roundtrip(flat);
    /* one row; and an empty answer (nothing gathered, nothing flushed) */
    roundtrip("SELECT 42 AS answer, NULL::VARCHAR AS n, true AS t");
    encode_sql(con, "SELECT 1::INTEGER a, 'x' b WHERE false", &e);
    assert_true(e.gathered);
    assert_int_equal(e.gparts[1].n, 1);
    encoded_free(&e);
    /* columns that need DuckDB's conversion are not gathered */
    const char *other[] = {"SELECT 1.5::DECIMAL(4,1) d", "SELECT [1] l", "SELECT {'a': 1} s",
                           "SELECT 'sad'::mood m", "SELECT gen_random_uuid() u",
                           "SELECT INTERVAL 1 DAY iv", "SELECT 1::HUGEINT h",
                           "SELECT 1 i, [2] l"};
    for (size_t k = 0; k < sizeof(other) / sizeof(other[0]); k++) {
        encode_sql(con, other[k], &e);
        if (e.gathered) fail_msg("%s should not be gathered", other[k]);
        encoded_free(&e);
    }
    /* 64-bit offsets (arrow_large_buffer_size) are gathered too; string views are not */
    duckdb_database db2;
    duckdb_connection c2;
    assert_int_equal(duckdb_open(NULL, &db2), DuckDBSuccess);
    assert_int_equal(duckdb_connect(db2, &c2), DuckDBSuccess);
    exec(c2, "SET arrow_large_buffer_size = true");
    encode_sql(c2, flat, &e);
    assert_true(e.gathered);
    encoded_free(&e);
    roundtrip_on(c2, flat);
    exec(c2, "SET produce_arrow_string_view = true; SET arrow_output_version = '1.4'");
    encode_sql(c2, "SELECT 'a' s", &e);
    assert_false(e.gathered);
    encoded_free(&e);
    duckdb_disconnect(&c2);
    duckdb_close(&db2);
}

/* ENUM dictionaries go out once, not with every chunk. */
static void test_dictionary_sent_once(void **state)
{
    (void)state;
    encoded_t e;
    encode_sql(con, "SELECT CAST((['sad', 'ok', 'happy'])[1 + i % 3] AS mood) m "
               "FROM range(6000) r(i)", &e);
    int dicts = 0, batches = 0;
    for (size_t i = 0; i < e.parts.n; i++) {
        fb_table_t msg;
        uint8_t ht;
        assert_true(fb_root((const uint8_t *)e.parts.parts[i].header.data,
                            e.parts.parts[i].header.len, &msg));
        assert_true(fb_get_u8(&msg, FB_MSG_HEADER_TYPE, 0, &ht));
        dicts += ht == FB_HDR_DICTIONARY_BATCH;
        batches += ht == FB_HDR_RECORD_BATCH;
    }
    assert_int_equal(dicts, 1);
    assert_int_equal(batches, e.chunks);
    uint64_t rows;
    char *back = decode_stream((const uint8_t *)e.stream, e.stream_len, 3, &rows);
    assert_string_equal(back, e.json);
    free(back);
    encoded_free(&e);
}

/* ---- hostile input ------------------------------------------------------------------------ */

/* Decodes whatever the bytes hold, ignoring errors; returns the first error code (0 if none). */
static int decode_any(const uint8_t *data, size_t len, size_t max, char *msg, size_t msgcap)
{
    clove_err_t err = {0};
    clove_ipc_reader_t *r = clove_ipc_reader_create(con, max, &err);
    int rc = clove_ipc_reader_feed(r, data, len, &err);
    duckdb_data_chunk chunk;
    int k;
    while (rc == 0 && (k = clove_ipc_reader_next_chunk(r, &chunk, &err)) != 0) {
        if (k < 0) {
            rc = k;
            break;
        }
        /* touch every value so ASan sees any bad pointer DuckDB was given */
        clove_buf_t b;
        clove_buf_init(&b);
        for (idx_t c = 0; c < duckdb_data_chunk_get_column_count(chunk); c++) {
            duckdb_vector v = duckdb_data_chunk_get_vector(chunk, c);
            duckdb_logical_type t = duckdb_vector_get_column_type(v);
            for (idx_t row = 0; row < duckdb_data_chunk_get_size(chunk); row++)
                clove_fmt_json_value(&b, t, v, row);
            duckdb_destroy_logical_type(&t);
        }
        clove_buf_dispose(&b);
        duckdb_destroy_data_chunk(&chunk);
    }
    if (rc && msg) snprintf(msg, msgcap, "%s", err.message);
    clove_ipc_reader_destroy(r);
    return rc;
}

static void test_truncated_and_corrupted(void **state)
{
    (void)state;
    encoded_t e;
    encode_sql(con,
               "SELECT * FROM (VALUES (1, 'ab', [1, 2], {'x': 1.5}, 'sad'::mood, "
               "'2024-01-01'::DATE, MAP {'k': 2}), (NULL, NULL, NULL, NULL, NULL, NULL, NULL), "
               "(3, 'a longer string value', [], {'x': NULL}, 'happy', NULL, MAP {})) "
               "t(i, s, l, st, m, d, mp)",
               &e);
    const uint8_t *s = (const uint8_t *)e.stream;
    /* every truncation: no error is fine (more data could follow), but never a crash */
    for (size_t cut = 0; cut < e.stream_len; cut++) (void)decode_any(s, cut, 0, NULL, 0);
    /* every single-byte corruption, with several patterns */
    uint8_t *copy = malloc(e.stream_len);
    static const uint8_t pats[] = {0xFF, 0x01, 0x80, 0x7F};
    int errors = 0;
    for (size_t p = 0; p < sizeof(pats); p++) {
        for (size_t i = 0; i < e.stream_len; i++) {
            memcpy(copy, s, e.stream_len);
            copy[i] ^= pats[p];
            errors += decode_any(copy, e.stream_len, 0, NULL, 0) != 0;
        }
    }
    assert_true(errors > 0);
    free(copy);
    encoded_free(&e);
}

/* A tiny message builder for hand-made hostile streams: one column of the given type. */
static void put_msg(clove_buf_t *out, fb_builder_t *b, uint8_t htype, fb_ref_t header,
                    const void *body, size_t blen)
{
    fb_table_start(b);
    fb_add_i16(b, FB_MSG_VERSION, FB_METADATA_V5);
    fb_add_u8(b, FB_MSG_HEADER_TYPE, htype);
    fb_add_ref(b, FB_MSG_HEADER, header);
    fb_add_i64(b, FB_MSG_BODY_LENGTH, (int64_t)blen);
    fb_ref_t m = fb_table_end(b);
    const uint8_t *meta;
    size_t ml;
    assert_true(fb_finish(b, m, &meta, &ml));
    uint8_t pre[8];
    fb_wr32(pre, 0xFFFFFFFFu);
    fb_wr32(pre + 4, (uint32_t)ml);
    clove_buf_append(out, pre, 8);
    clove_buf_append(out, meta, ml);
    if (blen) clove_buf_append(out, body, blen);
    fb_builder_reset(b);
}

/* Schema with one column "x" of type (type_type, type table built by caller with no fields),
 * optionally dictionary-encoded with id 7 and int32 indices. */
static void put_schema(clove_buf_t *out, uint8_t type_type, int int_bits, bool dict)
{
    fb_builder_t b;
    fb_builder_init(&b);
    fb_ref_t name = fb_create_string(&b, "x", 1);
    fb_table_start(&b);
    if (type_type == FB_T_INT) {
        fb_add_i32(&b, 0, int_bits);
        fb_add_u8(&b, 1, 1);
    }
    fb_ref_t type = fb_table_end(&b);
    fb_ref_t de = 0;
    if (dict) {
        fb_table_start(&b);
        fb_add_i32(&b, 0, 32);
        fb_add_u8(&b, 1, 1);
        fb_ref_t it = fb_table_end(&b);
        fb_table_start(&b);
        fb_add_i64(&b, FB_DICTENC_ID, 7);
        fb_add_ref(&b, FB_DICTENC_INDEX_TYPE, it);
        de = fb_table_end(&b);
    }
    fb_table_start(&b);
    fb_add_ref(&b, FB_FIELD_NAME, name);
    fb_add_u8(&b, FB_FIELD_NULLABLE, 1);
    fb_add_u8(&b, FB_FIELD_TYPE_TYPE, type_type);
    fb_add_ref(&b, FB_FIELD_TYPE, type);
    if (de) fb_add_ref(&b, FB_FIELD_DICTIONARY, de);
    fb_ref_t field = fb_table_end(&b);
    fb_ref_t fields = fb_create_ref_vector(&b, &field, 1);
    fb_table_start(&b);
    fb_add_ref(&b, FB_SCHEMA_FIELDS, fields);
    fb_ref_t schema = fb_table_end(&b);
    put_msg(out, &b, FB_HDR_SCHEMA, schema, NULL, 0);
    fb_builder_dispose(&b);
}

/* A RecordBatch (or DictionaryBatch with dict_id >= 0) of `length` rows, one node, buffers
 * given as (offset, length) pairs, over body. */
static void put_batch(clove_buf_t *out, int64_t length, int64_t nulls, const int64_t *bufs,
                      size_t nbufs, const void *body, size_t blen, int64_t dict_id)
{
    fb_builder_t b;
    fb_builder_init(&b);
    uint8_t tmp[16 * 8];
    for (size_t i = 0; i < nbufs; i++) {
        fb_wr64(tmp + 16 * i, (uint64_t)bufs[2 * i]);
        fb_wr64(tmp + 16 * i + 8, (uint64_t)bufs[2 * i + 1]);
    }
    fb_ref_t bv = fb_create_vector(&b, tmp, nbufs, 16, 8);
    fb_wr64(tmp, (uint64_t)length);
    fb_wr64(tmp + 8, (uint64_t)nulls);
    fb_ref_t nv = fb_create_vector(&b, tmp, 1, 16, 8);
    fb_table_start(&b);
    fb_add_i64(&b, FB_RB_LENGTH, length);
    fb_add_ref(&b, FB_RB_NODES, nv);
    fb_add_ref(&b, FB_RB_BUFFERS, bv);
    fb_ref_t rb = fb_table_end(&b);
    if (dict_id >= 0) {
        fb_table_start(&b);
        fb_add_i64(&b, FB_DB_ID, dict_id);
        fb_add_ref(&b, FB_DB_DATA, rb);
        fb_ref_t db2 = fb_table_end(&b);
        put_msg(out, &b, FB_HDR_DICTIONARY_BATCH, db2, body, blen);
    } else {
        put_msg(out, &b, FB_HDR_RECORD_BATCH, rb, body, blen);
    }
    fb_builder_dispose(&b);
}

static void expect_error(const clove_buf_t *s, size_t max, int code, const char *needle)
{
    char msg[CLOVE_ERR_MSG_MAX] = "";
    int rc = decode_any((const uint8_t *)s->data, s->len, max, msg, sizeof(msg));
    if (rc != code || !strstr(msg, needle))
        fail_msg("expected %d with \"%s\", got %d: %s", code, needle, rc, msg);
}

static void test_hostile_messages(void **state)
{
    (void)state;
    clove_buf_t s;
    int64_t body[16] = {0};
    /* utf8 offsets: [0, 3, 2] are not monotone */
    clove_buf_init(&s);
    put_schema(&s, FB_T_UTF8, 0, false);
    int32_t *o = (int32_t *)body;
    o[0] = 0, o[1] = 3, o[2] = 2;
    memcpy((char *)body + 16, "abcdef", 6);
    int64_t bufs1[] = {0, 0, 0, 12, 16, 6};
    put_batch(&s, 2, 0, bufs1, 3, body, 24, -1);
    expect_error(&s, 0, CLOVE_EINVAL, "offset 2 of column \"x\" is 2");
    clove_buf_dispose(&s);
    /* a buffer past the body */
    clove_buf_init(&s);
    put_schema(&s, FB_T_UTF8, 0, false);
    o[1] = 2;
    o[2] = 3;
    int64_t bufs2[] = {0, 0, 0, 12, 16, 128};
    put_batch(&s, 2, 0, bufs2, 3, body, 24, -1);
    expect_error(&s, 0, CLOVE_EINVAL,
                 "buffer 2 of column \"x\" extends past the body (offset 16, length 128, "
                 "body 24)");
    clove_buf_dispose(&s);
    /* invalid UTF-8 */
    clove_buf_init(&s);
    put_schema(&s, FB_T_UTF8, 0, false);
    memcpy((char *)body + 16, "a\xC3\x28", 3);
    int64_t bufs3[] = {0, 0, 0, 12, 16, 3};
    put_batch(&s, 2, 0, bufs3, 3, body, 24, -1);
    expect_error(&s, 0, CLOVE_EINVAL, "not valid UTF-8");
    clove_buf_dispose(&s);
    /* offsets past the data */
    clove_buf_init(&s);
    put_schema(&s, FB_T_UTF8, 0, false);
    o[2] = 9;
    put_batch(&s, 2, 0, bufs3, 3, body, 24, -1);
    expect_error(&s, 0, CLOVE_EINVAL, "limit 3");
    clove_buf_dispose(&s);
    /* int64 data too short */
    clove_buf_init(&s);
    put_schema(&s, FB_T_INT, 64, false);
    int64_t bufs4[] = {0, 0, 0, 8};
    put_batch(&s, 2, 0, bufs4, 2, body, 8, -1);
    expect_error(&s, 0, CLOVE_EINVAL, "data buffer of column \"x\" holds 8 bytes, 16 needed");
    clove_buf_dispose(&s);
    /* null count without a validity bitmap */
    clove_buf_init(&s);
    put_schema(&s, FB_T_INT, 64, false);
    int64_t bufs5[] = {0, 0, 0, 16};
    put_batch(&s, 2, 1, bufs5, 2, body, 16, -1);
    expect_error(&s, 0, CLOVE_EINVAL, "validity buffer of column \"x\" holds 0 bytes");
    clove_buf_dispose(&s);
    /* dictionary index out of range, and a batch before its dictionary */
    clove_buf_init(&s);
    put_schema(&s, FB_T_INT, 64, true);
    int32_t *ix = (int32_t *)body;
    ix[0] = 0, ix[1] = 1;
    int64_t bufs6[] = {0, 0, 0, 8};
    put_batch(&s, 2, 0, bufs6, 2, body, 8, -1);
    expect_error(&s, 0, CLOVE_EINVAL, "refers to dictionary 7 before it was sent");
    clove_buf_reset(&s);
    put_schema(&s, FB_T_INT, 64, true);
    int64_t dict_body[2] = {42, 43};
    int64_t bufs7[] = {0, 0, 0, 8};
    put_batch(&s, 1, 0, bufs7, 2, dict_body, 8, 7);
    put_batch(&s, 2, 0, bufs6, 2, body, 8, -1);
    expect_error(&s, 0, CLOVE_EINVAL, "index 1 of column \"x\" is 1, the dictionary has 1");
    clove_buf_dispose(&s);
    /* a dictionary for an id the schema does not have */
    clove_buf_init(&s);
    put_schema(&s, FB_T_INT, 64, true);
    put_batch(&s, 1, 0, bufs7, 2, dict_body, 8, 8);
    expect_error(&s, 0, CLOVE_EINVAL, "dictionary id 8 is not in the schema");
    clove_buf_dispose(&s);
    /* a batch before the schema, a second schema, bad integer widths */
    clove_buf_init(&s);
    put_batch(&s, 2, 0, bufs5, 2, body, 16, -1);
    expect_error(&s, 0, CLOVE_EINVAL, "does not start with a Schema");
    clove_buf_reset(&s);
    put_schema(&s, FB_T_INT, 64, false);
    put_schema(&s, FB_T_INT, 64, false);
    expect_error(&s, 0, CLOVE_EINVAL, "a second Schema message");
    clove_buf_reset(&s);
    put_schema(&s, FB_T_INT, 24, false);
    expect_error(&s, 0, CLOVE_EINVAL, "integer of 24 bits");
    clove_buf_reset(&s);
    put_schema(&s, 99, 0, false);
    expect_error(&s, 0, CLOVE_EINVAL, "unknown type 99");
    clove_buf_dispose(&s);
    /* message limits */
    clove_buf_init(&s);
    put_schema(&s, FB_T_INT, 64, false);
    put_batch(&s, 2, 0, bufs5, 2, body, 16, -1);
    expect_error(&s, 64, CLOVE_ETOOBIG, "exceeds the limit of 64 bytes");
    clove_buf_dispose(&s);
    /* data after the end-of-stream marker */
    clove_buf_init(&s);
    put_schema(&s, FB_T_INT, 64, false);
    clove_ipc_write_eos(&s);
    clove_buf_append(&s, "x", 1);
    expect_error(&s, 0, CLOVE_EINVAL, "after the end-of-stream marker");
    clove_buf_dispose(&s);
}

/* Nesting beyond CLOVE_IPC_MAX_DEPTH and field trees that share children (a DAG that would
 * expand exponentially) are refused. */
static void test_hostile_schema_shapes(void **state)
{
    (void)state;
    for (int shape = 0; shape < 2; shape++) {
        fb_builder_t b;
        fb_builder_init(&b);
        fb_table_start(&b);
        fb_add_i32(&b, 0, 64);
        fb_add_u8(&b, 1, 1);
        fb_ref_t it = fb_table_end(&b);
        fb_table_start(&b);
        fb_add_u8(&b, FB_FIELD_TYPE_TYPE, FB_T_INT);
        fb_add_ref(&b, FB_FIELD_TYPE, it);
        fb_ref_t f = fb_table_end(&b);
        int levels = shape == 0 ? 80 : 40;
        for (int i = 0; i < levels; i++) {
            fb_ref_t kids[4] = {f, f, f, f};
            fb_ref_t kv = fb_create_ref_vector(&b, kids, shape == 0 ? 1 : 4);
            fb_table_start(&b);
            fb_ref_t st = fb_table_end(&b);
            fb_table_start(&b);
            fb_add_u8(&b, FB_FIELD_TYPE_TYPE, FB_T_STRUCT);
            fb_add_ref(&b, FB_FIELD_TYPE, st);
            fb_add_ref(&b, FB_FIELD_CHILDREN, kv);
            f = fb_table_end(&b);
        }
        fb_ref_t fields = fb_create_ref_vector(&b, &f, 1);
        fb_table_start(&b);
        fb_add_ref(&b, FB_SCHEMA_FIELDS, fields);
        fb_ref_t schema = fb_table_end(&b);
        clove_buf_t s;
        clove_buf_init(&s);
        put_msg(&s, &b, FB_HDR_SCHEMA, schema, NULL, 0);
        expect_error(&s, 0, CLOVE_EUNSUPPORTED, shape == 0 ? "deeper than 64" : "more than");
        clove_buf_dispose(&s);
        fb_builder_dispose(&b);
    }
}

/* A foreign writer may send one batch of many rows, with unaligned buffers: the reader splits
 * it into chunks of 2048 rows and realigns. */
static void test_big_foreign_batch(void **state)
{
    (void)state;
    const int64_t n = 5000;
    size_t blen = 8 + (size_t)n * 8 + 8;
    uint8_t *body = calloc(1, blen);
    int64_t v;
    for (int64_t i = 0; i < n; i++) {
        v = i * 3 - 7;
        memcpy(body + 4 + 8 * i, &v, 8);        /* deliberately at offset 4 */
    }
    clove_buf_t s;
    clove_buf_init(&s);
    put_schema(&s, FB_T_INT, 64, false);
    int64_t bufs[] = {0, 0, 4, n * 8};
    put_batch(&s, n, 0, bufs, 2, body, blen, -1);
    clove_ipc_write_eos(&s);
    clove_err_t err = {0};
    clove_ipc_reader_t *r = clove_ipc_reader_create(NULL, 0, &err);   /* private DuckDB */
    assert_int_equal(clove_ipc_reader_feed(r, (const uint8_t *)s.data, s.len, &err), 0);
    assert_int_equal(clove_ipc_reader_column_count(r), 1);
    assert_string_equal(clove_ipc_reader_column_name(r, 0), "x");
    assert_int_equal(duckdb_get_type_id(clove_ipc_reader_column_type(r, 0)), DUCKDB_TYPE_BIGINT);
    duckdb_data_chunk chunk;
    int64_t seen = 0;
    int chunks = 0;
    while (clove_ipc_reader_next_chunk(r, &chunk, &err) == 1) {
        idx_t sz = duckdb_data_chunk_get_size(chunk);
        const int64_t *d = duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk, 0));
        for (idx_t i = 0; i < sz; i++) assert_true(d[i] == (seen + (int64_t)i) * 3 - 7);
        seen += (int64_t)sz;
        chunks++;
        duckdb_destroy_data_chunk(&chunk);
    }
    assert_int_equal(seen, n);
    assert_int_equal(chunks, 3);
    assert_true(clove_ipc_reader_eos(r));
    /* chunks outlive the reader */
    clove_ipc_reader_destroy(r);
    clove_buf_dispose(&s);
    free(body);
}

/* A chunk may be kept after the reader is gone; its data stays valid. */
static void test_chunk_outlives_reader(void **state)
{
    (void)state;
    encoded_t e;
    encode_sql(con, "SELECT i, 'v' || i s FROM range(100) r(i)", &e);
    clove_err_t err = {0};
    clove_ipc_reader_t *r = clove_ipc_reader_create(con, 0, &err);
    assert_int_equal(clove_ipc_reader_feed(r, (const uint8_t *)e.stream, e.stream_len, &err), 0);
    duckdb_data_chunk chunk;
    assert_int_equal(clove_ipc_reader_next_chunk(r, &chunk, &err), 1);
    clove_ipc_reader_destroy(r);
    const int64_t *d = duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk, 0));
    assert_true(d[99] == 99);
    duckdb_string_t *st = duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk, 1));
    assert_int_equal(duckdb_string_t_length(st[42]), 3);
    assert_memory_equal(duckdb_string_t_data(&st[42]), "v42", 3);
    duckdb_destroy_data_chunk(&chunk);
    encoded_free(&e);
}

/* ---- throughput ---------------------------------------------------------------------------- */

static void test_throughput(void **state)
{
    (void)state;
    long rows = 10 * 1000 * 1000;
    const char *env = getenv("CLOVE_ARROW_BENCH_ROWS");
    if (env) rows = atol(env);
    char sql[512];
    snprintf(sql, sizeof(sql),
             "CREATE OR REPLACE TABLE bench AS SELECT i::BIGINT a, i * 0.5 b, "
             "'name-' || (i %% 100000) c, TIMESTAMP '2024-01-01' + to_seconds(i) d, "
             "i %% 3 = 0 e FROM range(%ld) r(i)", rows);
    exec(con, sql);
    duckdb_result res;
    assert_int_equal(duckdb_query(con, "SELECT * FROM bench", &res), DuckDBSuccess);
    /* materialize the chunks first so only encoding is timed */
    size_t nch = 0, cap = 1024;
    duckdb_data_chunk *chunks = malloc(cap * sizeof(*chunks));
    duckdb_data_chunk ch;
    while ((ch = duckdb_fetch_chunk(res)) != NULL) {
        if (nch == cap) chunks = realloc(chunks, (cap *= 2) * sizeof(*chunks));
        chunks[nch++] = ch;
    }
    idx_t n = duckdb_column_count(&res);
    const char *names[5];
    duckdb_logical_type types[5];
    for (idx_t i = 0; i < n; i++) {
        names[i] = duckdb_column_name(&res, i);
        types[i] = duckdb_column_logical_type(&res, i);
    }
    clove_err_t err = {0};
    clove_ipc_writer_t *w = clove_ipc_writer_create(con, n, names, types, &err);
    assert_non_null(w);
    clove_buf_t out;
    clove_buf_init(&out);
    uint64_t total = 0;
    int64_t t0 = clove_mono_ns();
    clove_ipc_writer_schema(w, &out, &err);
    for (size_t i = 0; i < nch; i++) {
        assert_int_equal(clove_ipc_writer_batch(w, chunks[i], &out, &err), 0);
        total += out.len;
        clove_buf_reset(&out);        /* as a server would after each send */
    }
    clove_ipc_write_eos(&out);
    total += out.len;
    double secs = (double)(clove_mono_ns() - t0) / 1e9;
    printf("arrow ipc encode: %ld rows x 5 cols, %.1f MB in %.3f s = %.2f GB/s (%.1f Mrows/s)\n",
           rows, (double)total / 1e6, secs, (double)total / secs / 1e9, (double)rows / secs / 1e6);
    /* and decode of one 1M-row slice of the same stream shape, for reference */
    for (size_t i = 0; i < nch; i++) duckdb_destroy_data_chunk(&chunks[i]);
    free(chunks);
    clove_buf_dispose(&out);
    clove_ipc_writer_destroy(w);
    for (idx_t i = 0; i < n; i++) duckdb_destroy_logical_type(&types[i]);
    duckdb_destroy_result(&res);
    exec(con, "DROP TABLE bench");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flatbuf),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_floats_decimals_bools),
        cmocka_unit_test(test_strings_blobs),
        cmocka_unit_test(test_temporal),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_uuid_enum_null_union),
        cmocka_unit_test(test_connection_options),
        cmocka_unit_test(test_multi_chunk_and_empty),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_dictionary_sent_once),
        cmocka_unit_test(test_truncated_and_corrupted),
        cmocka_unit_test(test_hostile_messages),
        cmocka_unit_test(test_hostile_schema_shapes),
        cmocka_unit_test(test_big_foreign_batch),
        cmocka_unit_test(test_chunk_outlives_reader),
        cmocka_unit_test(test_throughput),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
