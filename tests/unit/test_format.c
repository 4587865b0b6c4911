/*
 * test_format.c: the result writers against an in-memory DuckDB. Every DuckDB type and its
 * edge values go through each writer and the exact text is compared; every JSON answer must
 * also parse with jansson. Ends with a throughput figure for 1M typical rows (printed only).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/format.h"
#include "format/format_int.h"

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

/* Checks that text is one JSON document jansson accepts (big integers read as reals). */
static void assert_json_parses(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &err);
    if (!j) fail_msg("jansson rejected %s: %s at %d:%d", text, err.text, err.line, err.column);
    json_decref(j);
}

/* Runs sql and renders the whole answer with one writer; caller frees. */
static char *render(clove_fmt_kind_t kind, const char *sql)
{
    duckdb_result res;
    if (duckdb_query(con, sql, &res) != DuckDBSuccess) {
        printf("query failed: %s: %s\n", sql, duckdb_result_error(&res));
        duckdb_destroy_result(&res);
        fail();
    }
    idx_t nc = duckdb_column_count(&res);
    const char **names = calloc(nc, sizeof *names);
    duckdb_logical_type *types = calloc(nc, sizeof *types);
    assert_non_null(names);
    assert_non_null(types);
    for (idx_t c = 0; c < nc; c++) {
        names[c] = duckdb_column_name(&res, c);
        types[c] = duckdb_column_logical_type(&res, c);
    }
    clove_fmt_t *f = clove_fmt_create(kind, nc, names, types);
    for (idx_t c = 0; c < nc; c++) duckdb_destroy_logical_type(&types[c]);
    free(types);
    free(names);
    assert_non_null(f);
    clove_buf_t out;
    clove_buf_init(&out);
    clove_fmt_begin(f, &out);
    duckdb_data_chunk chunk;
    uint64_t rows = 0;
    while ((chunk = duckdb_fetch_chunk(res)) != NULL) {
        rows += duckdb_data_chunk_get_size(chunk);
        assert_int_equal(clove_fmt_chunk(f, chunk, &out), 0);
        duckdb_destroy_data_chunk(&chunk);
    }
    clove_fmt_end(f, &out, 1.5);
    assert_int_equal(clove_fmt_rows(f), rows);
    assert_false(out.failed);
    clove_fmt_destroy(f);
    duckdb_destroy_result(&res);
    char *text = out.data ? clove_buf_steal(&out) : strdup("");
    if (kind == CLOVE_FMT_JSON || kind == CLOVE_FMT_SPICE_JSON) assert_json_parses(text);
    return text;
}

static void check(clove_fmt_kind_t kind, const char *sql, const char *want)
{
    char *got = render(kind, sql);
    if (strcmp(got, want) != 0) {
        printf("sql:  %s\nwant: %s\ngot:  %s\n", sql, want, got);
        free(got);
        fail();
    }
    free(got);
}

#define JSON(sql, want) check(CLOVE_FMT_JSON, sql, want)

/* ---- Accept ---------------------------------------------------------------------------- */

static void test_accept(void **state)
{
    (void)state;
    const char *ct = NULL;
    assert_int_equal(clove_fmt_from_accept(NULL, &ct), CLOVE_FMT_JSON);
    assert_string_equal(ct, "application/json");
    assert_int_equal(clove_fmt_from_accept("", &ct), CLOVE_FMT_JSON);
    assert_int_equal(clove_fmt_from_accept("*/*", &ct), CLOVE_FMT_JSON);
    assert_int_equal(clove_fmt_from_accept("application/json", &ct), CLOVE_FMT_JSON);
    assert_int_equal(clove_fmt_from_accept("text/csv", &ct), CLOVE_FMT_CSV);
    assert_string_equal(ct, "text/csv");
    assert_int_equal(clove_fmt_from_accept("text/plain", &ct), CLOVE_FMT_TEXT);
    assert_string_equal(ct, "text/plain; charset=utf-8");
    assert_int_equal(clove_fmt_from_accept("Text/Plain; charset=utf-8", &ct), CLOVE_FMT_TEXT);
    assert_int_equal(clove_fmt_from_accept("application/vnd.spiceai.sql.v1+json", &ct),
                     CLOVE_FMT_SPICE_JSON);
    assert_string_equal(ct, "application/vnd.spiceai.sql.v1+json");
    /* what the Spice CLI sends */
    assert_int_equal(clove_fmt_from_accept("application/vnd.spiceai.sql.v1+json, application/json",
                                           &ct),
                     CLOVE_FMT_SPICE_JSON);
    assert_int_equal(clove_fmt_from_accept("text/csv;q=0.5, text/plain", &ct), CLOVE_FMT_TEXT);
    assert_int_equal(clove_fmt_from_accept("text/csv;q=0.9,application/json;q=0.8", &ct),
                     CLOVE_FMT_CSV);
    assert_int_equal(clove_fmt_from_accept("*/*, text/csv", &ct), CLOVE_FMT_CSV);
    assert_int_equal(clove_fmt_from_accept("text/csv;q=0, */*;q=0.1", &ct), CLOVE_FMT_JSON);
    assert_int_equal(clove_fmt_from_accept("text/*", &ct), CLOVE_FMT_TEXT);
    assert_int_equal(clove_fmt_from_accept("image/png, text/html", &ct), CLOVE_FMT_JSON);
    assert_string_equal(ct, "application/json");
    assert_int_equal(clove_fmt_from_accept(" text/csv ; q = 1 ,", &ct), CLOVE_FMT_CSV);
    assert_int_equal(clove_fmt_from_accept(",,;q=,", &ct), CLOVE_FMT_JSON);
    assert_int_equal(clove_fmt_from_accept("text/csv;q=abc", &ct), CLOVE_FMT_CSV);
}

/* ---- numbers --------------------------------------------------------------------------- */

static const char *fmt_d(char *buf, double v)
{
    buf[clove_fmt_double(buf, v)] = '\0';
    return buf;
}

static const char *fmt_f(char *buf, float v)
{
    buf[clove_fmt_float(buf, v)] = '\0';
    return buf;
}

/* Significant digits of a number's text. */
static int sig_digits(const char *s)
{
    char d[64];
    int k = 0;
    for (; *s && *s != 'e' && k < 63; s++)
        if (*s >= '0' && *s <= '9') d[k++] = *s;
    d[k] = '\0';
    char *p = d;
    while (*p == '0' && p[1]) p++;
    int n = (int)strlen(p);
    while (n > 1 && p[n - 1] == '0') n--;
    return n;
}

/* Fewest digits printf needs for strtod/strtof to give v back. */
static int oracle_digits(double v, bool single)
{
    char buf[48];
    for (int p = 0; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p, v);
        if (single ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v) return p + 1;
    }
    return 17;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_floats_text(void **state)
{
    (void)state;
    char b[CLOVE_FMT_NUM_MAX];
    /* the layout of Arrow's JSON writer (lexical-core) */
    assert_string_equal(fmt_d(b, 0.0), "0.0");
    assert_string_equal(fmt_d(b, -0.0), "-0.0");
    assert_string_equal(fmt_d(b, 1.0), "1.0");
    assert_string_equal(fmt_d(b, 0.1), "0.1");
    assert_string_equal(fmt_d(b, 0.3), "0.3");
    assert_string_equal(fmt_d(b, 2.5), "2.5");
    assert_string_equal(fmt_d(b, 428.0), "428.0");
    assert_string_equal(fmt_d(b, 100.0), "100.0");
    assert_string_equal(fmt_d(b, 1e300), "1.0e300");
    assert_string_equal(fmt_d(b, -1.5e-7), "-1.5e-7");
    assert_string_equal(fmt_d(b, 123456789.0), "123456789.0");
    assert_string_equal(fmt_d(b, 1234567890.0), "1234567890.0");
    assert_string_equal(fmt_d(b, 12345678901.0), "1.2345678901e10");
    assert_string_equal(fmt_d(b, 0.00001), "0.00001");
    assert_string_equal(fmt_d(b, 0.000001), "1.0e-6");
    assert_string_equal(fmt_d(b, 5e-324), "5.0e-324");
    assert_string_equal(fmt_d(b, 1.7976931348623157e308), "1.7976931348623157e308");
    assert_string_equal(fmt_d(b, 3.3712622884680057), "3.3712622884680057");
    assert_string_equal(fmt_d(b, 1.0 / 3), "0.3333333333333333");
    assert_string_equal(fmt_d(b, 0x1p-24), "5.960464477539063e-8"); /* shorter than %.17g */
    assert_string_equal(fmt_f(b, 0.1f), "0.1");
    assert_string_equal(fmt_f(b, 16777216.0f), "16777216.0");
    assert_string_equal(fmt_f(b, 3.4028235e38f), "3.4028235e38");
    assert_string_equal(fmt_f(b, 1e-45f), "1.0e-45");

    /* Random doubles and floats: must read back exactly, never use more digits than the
     * printf search, and agree with it digit for digit when equally short. */
    for (int i = 0; i < 200000; i++) {
        uint64_t bits = rng();
        double v;
        switch (i % 4) {
        case 0: memcpy(&v, &bits, sizeof v); break;
        case 1: v = (double)(bits % 1000000) / (double)(1 + rng() % 1000); break;
        case 2: v = (double)(bits >> 11) * 0x1p-53 * pow(10, (int)(rng() % 40) - 20); break;
        default: v = ldexp(1.0, (int)(bits % 2000) - 1000); break;
        }
        if (!isfinite(v)) continue;
        fmt_d(b, v);
        if (strtod(b, NULL) != v) fail_msg("%.17g printed as %s", v, b);
        int mine = sig_digits(b), best = oracle_digits(fabs(v), false);
        if (mine > best) fail_msg("%.17g printed as %s: %d digits, %d suffice", v, b, mine, best);
        if (mine == best) {
            char o[48];
            snprintf(o, sizeof o, "%.*e", best - 1, fabs(v));
            char dm[32], dof[32];
            int km = 0, ko = 0;
            for (const char *s = b; *s && *s != 'e'; s++)
                if (*s >= '0' && *s <= '9' && km < 31) dm[km++] = *s;
            for (const char *s = o; *s && *s != 'e'; s++)
                if (*s >= '0' && *s <= '9' && ko < 31) dof[ko++] = *s;
            dm[km] = dof[ko] = '\0';
            char *pm = dm, *po = dof;
            while (*pm == '0' && pm[1]) pm++;
            while (*po == '0' && po[1]) po++;
            if (strncmp(pm, po, (size_t)best) != 0)
                fail_msg("%.17g printed as %s, not %s", v, b, o);
        }
        float fv = (float)v;
        if (isfinite(fv)) {
            fmt_f(b, fv);
            if (strtof(b, NULL) != fv) fail_msg("%.9g printed as %s", (double)fv, b);
            if (sig_digits(b) > oracle_digits(fabs((double)fv), true))
                fail_msg("%.9g printed as %s: too long", (double)fv, b);
        }
    }
}

static void test_number_and_time_text(void **state)
{
    (void)state;
    char b[CLOVE_FMT_NUM_MAX];
    b[clove_fmt_i64(b, INT64_MIN)] = '\0';
    assert_string_equal(b, "-9223372036854775808");
    b[clove_fmt_u128(b, UINT64_MAX, UINT64_MAX)] = '\0';
    assert_string_equal(b, "340282366920938463463374607431768211455");
    b[clove_fmt_i128(b, INT64_MIN, 0)] = '\0';
    assert_string_equal(b, "-170141183460469231731687303715884105728");
    b[clove_fmt_u128(b, 1, 0)] = '\0';
    assert_string_equal(b, "18446744073709551616");
    b[clove_fmt_decimal(b, true, 0, 5, 3)] = '\0';
    assert_string_equal(b, "-0.005");
    b[clove_fmt_decimal(b, false, 0, 0, 2)] = '\0';
    assert_string_equal(b, "0.00");
    b[clove_fmt_decimal(b, false, 0, 12345, 2)] = '\0';
    assert_string_equal(b, "123.45");
    b[clove_fmt_decimal(b, true, UINT64_MAX >> 1, UINT64_MAX, 38)] = '\0';
    assert_string_equal(b, "-1.70141183460469231731687303715884105727");
    /* the longest text of all must fit CLOVE_FMT_NUM_MAX */
    size_t n = clove_fmt_interval(b, INT32_MIN, INT32_MIN, INT64_MIN);
    assert_true(n < CLOVE_FMT_NUM_MAX);
    b[n] = '\0';
    assert_string_equal(b, "-178956970 years -8 months -2147483648 days -2562047788:00:54.775808");
    b[clove_fmt_timestamp(b, INT64_MIN, 1)] = '\0';
    assert_string_equal(b, "1677-09-21T00:12:43.145224192");
    b[clove_fmt_timestamp(b, INT64_MIN + 2, 1000)] = '\0';
    assert_string_equal(b, "-290308-12-21T19:59:05.224194");
    b[clove_fmt_timestamp(b, -1, 1000000000)] = '\0';
    assert_string_equal(b, "1969-12-31T23:59:59");
    b[clove_fmt_date(b, INT32_MIN)] = '\0';
    assert_string_equal(b, "-5877641-06-23");
    b[clove_fmt_utc_offset(b, -(7 * 3600 + 30))] = '\0';
    assert_string_equal(b, "-07:00:30");
}

/* BIGNUM text agrees with DuckDB's own cast for short and long numbers of both signs. */
static void test_bignum_like_duckdb(void **state)
{
    (void)state;
    duckdb_result res;
    assert_int_equal(duckdb_query(con,
                                  "SELECT b, b::VARCHAR FROM (SELECT (CASE WHEN i % 2 = 0 THEN "
                                  "'' ELSE '-' END || repeat('9', i) || (i % 10))::BIGNUM b "
                                  "FROM range(0, 700, 7) t(i)) "
                                  "UNION ALL SELECT 0::BIGNUM, '0' "
                                  "UNION ALL SELECT 4294967296::BIGNUM, '4294967296' "
                                  "UNION ALL SELECT (-4294967295)::BIGNUM, '-4294967295' "
                                  "UNION ALL SELECT 1000000000::BIGNUM, '1000000000'",
                                  &res),
                     DuckDBSuccess);
    duckdb_logical_type bt = duckdb_column_logical_type(&res, 0);
    duckdb_data_chunk chunk;
    int seen = 0;
    while ((chunk = duckdb_fetch_chunk(res)) != NULL) {
        duckdb_vector bv = duckdb_data_chunk_get_vector(chunk, 0);
        duckdb_vector sv = duckdb_data_chunk_get_vector(chunk, 1);
        duckdb_string_t *ss = duckdb_vector_get_data(sv);
        for (idx_t r = 0; r < duckdb_data_chunk_get_size(chunk); r++) {
            clove_buf_t b;
            clove_buf_init(&b);
            clove_fmt_json_value(&b, bt, bv, r);
            uint32_t len = duckdb_string_t_length(ss[r]);
            assert_int_equal(b.len, len);
            assert_memory_equal(b.data, duckdb_string_t_data(&ss[r]), len);
            clove_buf_dispose(&b);
            seen++;
        }
        duckdb_destroy_data_chunk(&chunk);
    }
    duckdb_destroy_logical_type(&bt);
    duckdb_destroy_result(&res);
    assert_int_equal(seen, 104);
}

/* ---- JSON, type by type ---------------------------------------------------------------- */

static void test_json_integers(void **state)
{
    (void)state;
    JSON("SELECT (-128)::TINYINT a, 127::TINYINT b, (-32768)::SMALLINT c, 32767::SMALLINT d, "
         "(-2147483648)::INTEGER e, 2147483647::INTEGER f, "
         "(-9223372036854775808)::BIGINT g, 9223372036854775807::BIGINT h, "
         "255::UTINYINT i, 65535::USMALLINT j, 4294967295::UINTEGER k, "
         "18446744073709551615::UBIGINT l, 0::UTINYINT m, true n, false o",
         "[{\"a\":-128,\"b\":127,\"c\":-32768,\"d\":32767,\"e\":-2147483648,\"f\":2147483647,"
         "\"g\":-9223372036854775808,\"h\":9223372036854775807,\"i\":255,\"j\":65535,"
         "\"k\":4294967295,\"l\":18446744073709551615,\"m\":0,\"n\":true,\"o\":false}]");
    JSON("SELECT (-170141183460469231731687303715884105728)::HUGEINT a, "
         "170141183460469231731687303715884105727::HUGEINT b, "
         "340282366920938463463374607431768211455::UHUGEINT c, 0::UHUGEINT d, "
         "(-1)::HUGEINT e, 18446744073709551616::HUGEINT f",
         "[{\"a\":-170141183460469231731687303715884105728,"
         "\"b\":170141183460469231731687303715884105727,"
         "\"c\":340282366920938463463374607431768211455,\"d\":0,\"e\":-1,"
         "\"f\":18446744073709551616}]");
}

static void test_json_decimals(void **state)
{
    (void)state;
    JSON("SELECT 1.5::DECIMAL(4,1) a, (-0.05)::DECIMAL(9,3) b, "
         "123456789.123456::DECIMAL(18,6) c, "
         "(-1234567890123456789012345678.0123456789)::DECIMAL(38,10) d, "
         "0::DECIMAL(38,10) e, 9999999999999999999999999999.9999999999::DECIMAL(38,10) f, "
         "(-0.0000000001)::DECIMAL(38,10) g, 12::DECIMAL(3,0) h, "
         "(-99999999999999999999999999999999999999)::DECIMAL(38,0) i, "
         "0.1::DECIMAL(38,10) j",
         "[{\"a\":1.5,\"b\":-0.050,\"c\":123456789.123456,"
         "\"d\":-1234567890123456789012345678.0123456789,\"e\":0.0000000000,"
         "\"f\":9999999999999999999999999999.9999999999,\"g\":-0.0000000001,\"h\":12,"
         "\"i\":-99999999999999999999999999999999999999,\"j\":0.1000000000}]");
}

static void test_json_floats(void **state)
{
    (void)state;
    /* NaN and infinities are null, as Arrow's JSON writer (and so Spice) writes them */
    JSON("SELECT 0.1::DOUBLE a, 1e300::DOUBLE b, -0.0::DOUBLE c, 'nan'::DOUBLE d, "
         "'inf'::DOUBLE e, '-inf'::DOUBLE f, 0.1::FLOAT g, 1.0::DOUBLE h, "
         "123456789012.0::DOUBLE i, 3.4028235e38::FLOAT j, 5e-324::DOUBLE k, "
         "1.7976931348623157e308 l, 2.5e-7::DOUBLE m, 1/3 n, 'nan'::FLOAT o",
         "[{\"a\":0.1,\"b\":1.0e300,\"c\":-0.0,\"d\":null,\"e\":null,\"f\":null,\"g\":0.1,"
         "\"h\":1.0,\"i\":1.23456789012e11,\"j\":3.4028235e38,\"k\":5.0e-324,"
         "\"l\":1.7976931348623157e308,\"m\":2.5e-7,\"n\":0.3333333333333333,\"o\":null}]");
}

static void test_json_strings(void **state)
{
    (void)state;
    JSON("SELECT 'say \"hi\"' a, 'back\\slash' b, "
         "chr(1) || chr(9) || chr(10) || chr(13) || chr(31) || chr(127) c, "
         "'héllo wörld' d, '🦆 duck' e, '\\x00\\xFF\\x41\\x0A'::BLOB f, ''::VARCHAR g, "
         "''::BLOB h, 'a/b' AS \"we\"\"ird\\name\", 1 AS dup, 2 AS dup, "
         "'exactly12chr' i, 'thirteen char' j, '\\x7Fabc'::BLOB k",
         "[{\"a\":\"say \\\"hi\\\"\",\"b\":\"back\\\\slash\","
         "\"c\":\"\\u0001\\t\\n\\r\\u001f\x7f\",\"d\":\"héllo wörld\",\"e\":\"🦆 duck\","
         "\"f\":\"00ff410a\",\"g\":\"\",\"h\":\"\",\"we\\\"ird\\\\name\":\"a/b\","
         "\"dup\":1,\"dup\":2,\"i\":\"exactly12chr\",\"j\":\"thirteen char\","
         "\"k\":\"7f616263\"}]");
    /* an ENUM is its label */
    JSON("SELECT * FROM (VALUES ('sad'::mood), (NULL), ('happy')) t(m)",
         "[{\"m\":\"sad\"},{\"m\":null},{\"m\":\"happy\"}]");
    JSON("SELECT 'x\"y'::ENUM('x\"y', 'b') e", "[{\"e\":\"x\\\"y\"}]");
}

static void test_json_dates(void **state)
{
    (void)state;
    JSON("SELECT DATE '1969-12-31' a, DATE '1900-02-28' b, DATE '2000-02-29' c, "
         "DATE '9999-12-31' d, DATE '10000-01-01' e, DATE '0044-03-15 (BC)' f, "
         "'infinity'::DATE g, '-infinity'::DATE h, DATE '0001-01-01' i, "
         "DATE '0001-12-31 (BC)' j, DATE '1970-01-01' k, DATE '5881580-07-10' l, "
         "DATE '5877642-06-25 (BC)' m",
         "[{\"a\":\"1969-12-31\",\"b\":\"1900-02-28\",\"c\":\"2000-02-29\","
         "\"d\":\"9999-12-31\",\"e\":\"+10000-01-01\",\"f\":\"-0043-03-15\","
         "\"g\":\"infinity\",\"h\":\"-infinity\",\"i\":\"0001-01-01\",\"j\":\"0000-12-31\","
         "\"k\":\"1970-01-01\",\"l\":\"+5881580-07-10\",\"m\":\"-5877641-06-25\"}]");
}

static void test_json_times(void **state)
{
    (void)state;
    /* TIME_NS: the DuckDB 1.4 C API reports its type as INVALID, so it can only be null */
    JSON("SELECT TIME '12:34:56' a, TIME '00:00:00.5' b, TIME '23:59:59.999999' c, "
         "TIME '24:00:00' d, TIME '01:02:03.123' e, TIMETZ '12:34:56+05:30' f, "
         "TIMETZ '01:02:03.5-08' g, '12:00:00.123456789'::TIME_NS h, TIMETZ '00:00:00+00' i",
         "[{\"a\":\"12:34:56\",\"b\":\"00:00:00.500\",\"c\":\"23:59:59.999999\","
         "\"d\":\"24:00:00\",\"e\":\"01:02:03.123\",\"f\":\"12:34:56+05:30\","
         "\"g\":\"01:02:03.500-08:00\",\"h\":null,\"i\":\"00:00:00+00:00\"}]");
    JSON("SELECT TIMESTAMP '2024-01-02 03:04:05' a, TIMESTAMP '1960-06-15 12:00:00.000001' b, "
         "TIMESTAMP_S '2024-01-02 03:04:05' c, TIMESTAMP_MS '1969-12-31 23:59:59.999' d, "
         "TIMESTAMP_NS '2024-01-02 03:04:05.123456789' e, "
         "TIMESTAMPTZ '2024-01-02 03:04:05.25+02' f, 'infinity'::TIMESTAMP g, "
         "'-infinity'::TIMESTAMP h, 'infinity'::TIMESTAMPTZ i, "
         "TIMESTAMP '294247-01-10 04:00:54.775806' j, TIMESTAMP '0001-01-01 00:00:00' k, "
         "TIMESTAMP_NS '1677-09-22 00:00:00' l, 'infinity'::TIMESTAMP_S m, "
         "'-infinity'::TIMESTAMP_MS n, 'infinity'::TIMESTAMP_NS o, "
         "TIMESTAMP '1969-12-31 23:59:59.9' p, TIMESTAMP '2024-02-29 00:00:00.120' q",
         "[{\"a\":\"2024-01-02T03:04:05\",\"b\":\"1960-06-15T12:00:00.000001\","
         "\"c\":\"2024-01-02T03:04:05\",\"d\":\"1969-12-31T23:59:59.999\","
         "\"e\":\"2024-01-02T03:04:05.123456789\",\"f\":\"2024-01-02T01:04:05.250Z\","
         "\"g\":\"infinity\",\"h\":\"-infinity\",\"i\":\"infinity\","
         "\"j\":\"+294247-01-10T04:00:54.775806\",\"k\":\"0001-01-01T00:00:00\","
         "\"l\":\"1677-09-22T00:00:00\",\"m\":\"infinity\",\"n\":\"-infinity\","
         "\"o\":\"infinity\",\"p\":\"1969-12-31T23:59:59.900\","
         "\"q\":\"2024-02-29T00:00:00.120\"}]");
}

static void test_json_misc_scalars(void **state)
{
    (void)state;
    JSON("SELECT INTERVAL '1 year 2 months 3 days 04:05:06.789' a, INTERVAL '0 seconds' b, "
         "INTERVAL '-1 day -2 hours' c, INTERVAL '100 hours 0.5 seconds' d, "
         "'550e8400-e29b-41d4-a716-446655440000'::UUID e, "
         "'00000000-0000-0000-0000-000000000000'::UUID f, "
         "'ffffffff-ffff-ffff-ffff-ffffffffffff'::UUID g, '0101'::BIT h, '1'::BIT i, "
         "'010101010'::BIT j, 123456789012345678901234567890::BIGNUM k, (-1)::BIGNUM l, "
         "0::BIGNUM m, (-256)::BIGNUM n, "
         "'-99999999999999999999999999999999999999999999'::BIGNUM o, NULL p, "
         "1e44::BIGNUM q",
         "[{\"a\":\"1 year 2 months 3 days 04:05:06.789\",\"b\":\"00:00:00\","
         "\"c\":\"-1 day -02:00:00\",\"d\":\"100:00:00.5\","
         "\"e\":\"550e8400-e29b-41d4-a716-446655440000\","
         "\"f\":\"00000000-0000-0000-0000-000000000000\","
         "\"g\":\"ffffffff-ffff-ffff-ffff-ffffffffffff\",\"h\":\"0101\",\"i\":\"1\","
         "\"j\":\"010101010\",\"k\":123456789012345678901234567890,\"l\":-1,\"m\":0,"
         "\"n\":-256,\"o\":-99999999999999999999999999999999999999999999,\"p\":null,"
         "\"q\":100000000000000008821361405306422640701865984}]");
}

static void test_json_nested(void **state)
{
    (void)state;
    JSON("SELECT [{'a': 1, 'b': 'x'}, NULL, {'a': NULL, 'b': 'y'}] a, "
         "MAP {'k1': 1, 'k2': NULL} b, MAP {1: 'one', 2: 'two'} c, [1, 2, 3]::INTEGER[3] d, "
         "union_value(num := 2)::UNION(num INT, str VARCHAR) e, "
         "union_value(str := 'z')::UNION(num INT, str VARCHAR) f, "
         "'sad'::ENUM('sad', 'ok', 'happy') g, {'x': [1, NULL], 'y': {'z': NULL}} h, "
         "[]::INT[] i, [[1], [2, 3], []] k, [NULL::INT] l, NULL::INT[] m, {'q\"k': 1} n, "
         "[[1.5, 2]]::DOUBLE[2][] o, [DATE '2024-01-01'] p, "
         "MAP {'a\"': [1], 'b': []} q, [union_value(num := NULL)::UNION(num INT)] r",
         "[{\"a\":[{\"a\":1,\"b\":\"x\"},null,{\"a\":null,\"b\":\"y\"}],"
         "\"b\":{\"k1\":1,\"k2\":null},"
         "\"c\":[{\"key\":1,\"value\":\"one\"},{\"key\":2,\"value\":\"two\"}],"
         "\"d\":[1,2,3],\"e\":2,\"f\":\"z\",\"g\":\"sad\",\"h\":{\"x\":[1,null],"
         "\"y\":{\"z\":null}},\"i\":[],\"k\":[[1],[2,3],[]],\"l\":[null],\"m\":null,"
         "\"n\":{\"q\\\"k\":1},\"o\":[[1.5,2.0]],\"p\":[\"2024-01-01\"],"
         "\"q\":{\"a\\\"\":[1],\"b\":[]},\"r\":[null]}]");
    JSON("SELECT * FROM (VALUES ([1, 2]::INT[2]), (NULL), ([3, NULL]::INT[2])) t(a)",
         "[{\"a\":[1,2]},{\"a\":null},{\"a\":[3,null]}]");
    /* lists whose children sit at offsets other than 0 */
    JSON("SELECT [i, i + 1] l, {'s': [i]} s FROM range(3) t(i)",
         "[{\"l\":[0,1],\"s\":{\"s\":[0]}},{\"l\":[1,2],\"s\":{\"s\":[1]}},"
         "{\"l\":[2,3],\"s\":{\"s\":[2]}}]");
}

static void test_json_nulls(void **state)
{
    (void)state;
    JSON("SELECT NULL::BOOLEAN a, NULL::HUGEINT b, NULL::DECIMAL(38,10) c, NULL::DOUBLE d, "
         "NULL::VARCHAR e, NULL::BLOB f, NULL::DATE g, NULL::TIME h, NULL::TIMETZ i, "
         "NULL::TIMESTAMP j, NULL::TIMESTAMPTZ k, NULL::INTERVAL l, NULL::UUID m, "
         "NULL::BIT n, NULL::BIGNUM o, NULL::INT[] p, NULL::STRUCT(a INT) q, "
         "NULL::MAP(INT, INT) r, NULL::INT[2] s, NULL::UNION(a INT) t, NULL u, "
         "NULL::UHUGEINT v, NULL::TIMESTAMP_NS w, NULL::mood x, NULL::TINYINT y, "
         "NULL::UBIGINT z, NULL::FLOAT aa, NULL::DECIMAL(4,1) ab",
         "[{\"a\":null,\"b\":null,\"c\":null,\"d\":null,\"e\":null,\"f\":null,\"g\":null,"
         "\"h\":null,\"i\":null,\"j\":null,\"k\":null,\"l\":null,\"m\":null,\"n\":null,"
         "\"o\":null,\"p\":null,\"q\":null,\"r\":null,\"s\":null,\"t\":null,\"u\":null,"
         "\"v\":null,\"w\":null,\"x\":null,\"y\":null,\"z\":null,\"aa\":null,\"ab\":null}]");
}

static void test_json_shapes(void **state)
{
    (void)state;
    JSON("SELECT 1 AS x LIMIT 0", "[]");
    /* rows spanning several chunks keep their separators */
    char *got = render(CLOVE_FMT_JSON, "SELECT i FROM range(5000) t(i)");
    clove_buf_t want;
    clove_buf_init(&want);
    clove_buf_putc(&want, '[');
    for (int i = 0; i < 5000; i++) clove_buf_printf(&want, "%s{\"i\":%d}", i ? "," : "", i);
    clove_buf_putc(&want, ']');
    assert_string_equal(got, want.data);
    clove_buf_dispose(&want);
    free(got);
}

/* clove_fmt_interval matches DuckDB's own INTERVAL -> VARCHAR cast. */
static void test_interval_like_duckdb(void **state)
{
    (void)state;
    const char *sql =
        "SELECT i, i::VARCHAR FROM (VALUES (INTERVAL '1 year 2 months 3 days 04:05:06.789'), "
        "(INTERVAL '-1 year'), (INTERVAL '13 months'), (INTERVAL '-1 day -2 hours'), "
        "(INTERVAL '0 seconds'), (INTERVAL '1 month'), (INTERVAL '100 hours 0.5 seconds'), "
        "(INTERVAL '1 day' - INTERVAL '1 microsecond'), (to_months(-14)), "
        "(INTERVAL '-0.000001 seconds'), (INTERVAL '2 days 1 second'), (INTERVAL '1 day'), "
        "(to_microseconds(9223372036854775807)), (to_microseconds(-9223372036854775807)), "
        "(to_months(2147483647)), (to_days(-2147483647))) t(i)";
    duckdb_result res;
    assert_int_equal(duckdb_query(con, sql, &res), DuckDBSuccess);
    duckdb_data_chunk chunk;
    int seen = 0;
    while ((chunk = duckdb_fetch_chunk(res)) != NULL) {
        duckdb_vector iv = duckdb_data_chunk_get_vector(chunk, 0);
        duckdb_vector sv = duckdb_data_chunk_get_vector(chunk, 1);
        const duckdb_interval *ivs = duckdb_vector_get_data(iv);
        duckdb_string_t *ss = duckdb_vector_get_data(sv);
        for (idx_t r = 0; r < duckdb_data_chunk_get_size(chunk); r++) {
            char b[CLOVE_FMT_NUM_MAX];
            size_t n = clove_fmt_interval(b, ivs[r].months, ivs[r].days, ivs[r].micros);
            b[n] = '\0';
            uint32_t len = duckdb_string_t_length(ss[r]);
            char want[128];
            memcpy(want, duckdb_string_t_data(&ss[r]), len);
            want[len] = '\0';
            assert_string_equal(b, want);
            seen++;
        }
        duckdb_destroy_data_chunk(&chunk);
    }
    duckdb_destroy_result(&res);
    assert_int_equal(seen, 16);
}

/* TIME_TZ decoding agrees with duckdb_from_time_tz. */
static void test_timetz_like_duckdb(void **state)
{
    (void)state;
    duckdb_result res;
    assert_int_equal(duckdb_query(con,
                                  "SELECT * FROM (VALUES (TIMETZ '12:34:56.789+05:30'), "
                                  "(TIMETZ '23:59:59-15:59'), (TIMETZ '00:00:00+15:59')) t(x)",
                                  &res),
                     DuckDBSuccess);
    duckdb_data_chunk chunk = duckdb_fetch_chunk(res);
    assert_non_null(chunk);
    duckdb_vector v = duckdb_data_chunk_get_vector(chunk, 0);
    const duckdb_time_tz *t = duckdb_vector_get_data(v);
    const char *want[] = {"12:34:56.789+05:30", "23:59:59-15:59", "00:00:00+15:59"};
    for (idx_t r = 0; r < 3; r++) {
        duckdb_time_tz_struct s = duckdb_from_time_tz(t[r]);
        clove_buf_t b;
        clove_buf_init(&b);
        duckdb_logical_type lt = duckdb_vector_get_column_type(v);
        clove_fmt_text_value(&b, lt, v, r);
        duckdb_destroy_logical_type(&lt);
        assert_string_equal(b.data, want[r]);
        int32_t off = s.offset;
        char ob[16];
        ob[clove_fmt_utc_offset(ob, off)] = '\0';
        assert_non_null(strstr(b.data, ob));
        clove_buf_dispose(&b);
    }
    duckdb_destroy_data_chunk(&chunk);
    duckdb_destroy_result(&res);
}

/* ---- single values --------------------------------------------------------------------- */

static void test_single_values(void **state)
{
    (void)state;
    duckdb_result res;
    assert_int_equal(duckdb_query(con,
                                  "SELECT * FROM (VALUES ([1, 2], 'a,b'), (NULL, NULL)) t(l, s)",
                                  &res),
                     DuckDBSuccess);
    duckdb_data_chunk chunk = duckdb_fetch_chunk(res);
    assert_non_null(chunk);
    duckdb_vector lv = duckdb_data_chunk_get_vector(chunk, 0);
    duckdb_vector sv = duckdb_data_chunk_get_vector(chunk, 1);
    duckdb_logical_type lt = duckdb_column_logical_type(&res, 0);
    duckdb_logical_type st = duckdb_column_logical_type(&res, 1);
    clove_buf_t b;
    clove_buf_init(&b);
    clove_fmt_json_value(&b, lt, lv, 0);
    clove_buf_putc(&b, '|');
    clove_fmt_json_value(&b, lt, lv, 1);
    clove_buf_putc(&b, '|');
    clove_fmt_json_value(&b, st, sv, 0);
    clove_buf_putc(&b, '|');
    clove_fmt_text_value(&b, lt, lv, 0);
    clove_buf_putc(&b, '|');
    clove_fmt_text_value(&b, st, sv, 0);
    clove_buf_putc(&b, '|');
    clove_fmt_text_value(&b, st, sv, 1);
    assert_string_equal(b.data, "[1,2]|null|\"a,b\"|[1,2]|a,b|");
    clove_buf_dispose(&b);
    duckdb_destroy_logical_type(&lt);
    duckdb_destroy_logical_type(&st);
    duckdb_destroy_data_chunk(&chunk);
    duckdb_destroy_result(&res);
}

/* A chunk whose shape is not the writer's is refused, not misread. */
static void test_chunk_mismatch(void **state)
{
    (void)state;
    duckdb_logical_type t = duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
    const char *name = "s";
    clove_fmt_t *f = clove_fmt_create(CLOVE_FMT_JSON, 1, &name, &t);
    duckdb_destroy_logical_type(&t);
    assert_non_null(f);
    duckdb_result res;
    assert_int_equal(duckdb_query(con, "SELECT 42 AS n", &res), DuckDBSuccess);
    duckdb_data_chunk chunk = duckdb_fetch_chunk(res);
    clove_buf_t out;
    clove_buf_init(&out);
    clove_fmt_begin(f, &out);
    assert_int_equal(clove_fmt_chunk(f, chunk, &out), CLOVE_EINTERNAL);
    assert_int_equal(clove_fmt_chunk(f, NULL, &out), 0);
    clove_buf_dispose(&out);
    duckdb_destroy_data_chunk(&chunk);
    duckdb_destroy_result(&res);
    clove_fmt_destroy(f);
    clove_fmt_destroy(NULL);
}

/* ---- CSV, text/plain, Spice v1 --------------------------------------------------------- */

static void test_csv(void **state)
{
    (void)state;
    check(CLOVE_FMT_CSV,
          "SELECT 1 AS a, 'x,y' AS \"b,c\", 'say \"hi\"' AS d, NULL::INT AS e, [1, 2] AS f, "
          "'line1' || chr(10) || 'line2' AS g, 1.5::DOUBLE AS h, 'nan'::DOUBLE AS i, "
          "'\\x01\\xff'::BLOB AS j, {'k': 'v'} AS k, 'cr' || chr(13) AS l, "
          "TIMESTAMPTZ '2024-01-02 03:04:05+00' AS m, 'inf'::DOUBLE AS n, "
          "'-inf'::FLOAT AS o, 'sad'::mood AS p, '' AS q",
          "a,\"b,c\",d,e,f,g,h,i,j,k,l,m,n,o,p,q\n"
          "1,\"x,y\",\"say \"\"hi\"\"\",,\"[1,2]\",\"line1\nline2\",1.5,NaN,01ff,"
          "\"{\"\"k\"\":\"\"v\"\"}\",\"cr\r\",2024-01-02T03:04:05Z,inf,-inf,sad,\n");
    check(CLOVE_FMT_CSV, "SELECT * FROM range(3) t(r)", "r\n0\n1\n2\n");
    check(CLOVE_FMT_CSV, "SELECT 1 AS x LIMIT 0", "x\n");
    check(CLOVE_FMT_CSV, "SELECT 1 AS \"line\nname\", 2 AS \"q\"\"\"",
          "\"line\nname\",\"q\"\"\"\n1,2\n");
}

static void test_text(void **state)
{
    (void)state;
    check(CLOVE_FMT_TEXT,
          "SELECT status, quarter FROM (VALUES ('Shipped', 1), ('Shipped', 2), "
          "('Pending', NULL)) t(status, quarter)",
          "+---------+---------+\n"
          "| status  | quarter |\n"
          "+---------+---------+\n"
          "| Shipped | 1       |\n"
          "| Shipped | 2       |\n"
          "| Pending |         |\n"
          "+---------+---------+");
    check(CLOVE_FMT_TEXT,
          "SELECT 'line1' || chr(10) || 'line2' AS g, 'héllo 🦆' AS \"ü\", [1, NULL] AS l, "
          "1.5::DOUBLE AS \"a long header\"",
          "+-------+---------+----------+---------------+\n"
          "| g     | ü       | l        | a long header |\n"
          "+-------+---------+----------+---------------+\n"
          "| line1 | héllo 🦆 | [1,null] | 1.5           |\n"
          "| line2 |         |          |               |\n"
          "+-------+---------+----------+---------------+");
    check(CLOVE_FMT_TEXT, "SELECT 1 AS x LIMIT 0", "+---+\n| x |\n+---+\n+---+");
}

static void test_spice_envelope(void **state)
{
    (void)state;
    check(CLOVE_FMT_SPICE_JSON,
          "SELECT * FROM (VALUES ('12345', 150000::BIGINT), ('67890', 125000)) "
          "t(customer_id, total_sales)",
          "{\"schema\":{\"fields\":["
          "{\"name\":\"customer_id\",\"data_type\":\"Utf8\",\"nullable\":true,\"dict_id\":0,"
          "\"dict_is_ordered\":false,\"metadata\":{}},"
          "{\"name\":\"total_sales\",\"data_type\":\"Int64\",\"nullable\":true,\"dict_id\":0,"
          "\"dict_is_ordered\":false,\"metadata\":{}}],\"metadata\":{}},"
          "\"data\":[{\"customer_id\":\"12345\",\"total_sales\":150000},"
          "{\"customer_id\":\"67890\",\"total_sales\":125000}],"
          "\"row_count\":2,\"execution_time_ms\":1.500}");
    const char *field_tail = ",\"nullable\":true,\"dict_id\":0,\"dict_is_ordered\":false,"
                             "\"metadata\":{}}";
    char want[8192];
    snprintf(want, sizeof want,
             "{\"schema\":{\"fields\":["
             "{\"name\":\"d\",\"data_type\":{\"Decimal128\":[18,3]}%s,"
             "{\"name\":\"ts\",\"data_type\":{\"Timestamp\":[\"Microsecond\",null]}%s,"
             "{\"name\":\"tz\",\"data_type\":{\"Timestamp\":[\"Microsecond\",\"UTC\"]}%s,"
             "{\"name\":\"l\",\"data_type\":{\"List\":{\"name\":\"l\",\"data_type\":\"Int32\"%s}%s,"
             "{\"name\":\"s\",\"data_type\":{\"Struct\":["
             "{\"name\":\"a\",\"data_type\":\"Utf8\"%s]}%s,"
             "{\"name\":\"e\",\"data_type\":{\"Dictionary\":[\"UInt8\",\"Utf8\"]}%s,"
             "{\"name\":\"h\",\"data_type\":{\"Decimal128\":[38,0]}%s,"
             "{\"name\":\"b\",\"data_type\":\"Boolean\"%s,"
             "{\"name\":\"dt\",\"data_type\":\"Date32\"%s"
             "],\"metadata\":{}},\"data\":[],\"row_count\":0,\"execution_time_ms\":1.500}",
             field_tail, field_tail, field_tail, field_tail, field_tail, field_tail, field_tail,
             field_tail, field_tail, field_tail, field_tail);
    check(CLOVE_FMT_SPICE_JSON,
          "SELECT 1.5::DECIMAL(18,3) d, TIMESTAMP '2024-01-01' ts, "
          "TIMESTAMPTZ '2024-01-01 00:00:00+00' tz, [1] l, {'a': 'x'} s, 'ok'::mood e, "
          "1::HUGEINT h, true b, DATE '2024-01-01' dt LIMIT 0",
          want);
}

/* Every format over one mixed table: all must render and the JSON ones parse. */
static void test_all_formats_all_types(void **state)
{
    (void)state;
    const char *sql =
        "SELECT i, i::HUGEINT h, i / 7 d, (i * 1.25)::DECIMAL(38,10) de, 'str' || i s, "
        "DATE '1969-12-30' + i::INT dt, TIMESTAMP '2024-01-01' + to_seconds(i) ts, "
        "TIMESTAMPTZ '2024-01-01 00:00:00+00' tz, INTERVAL (i) DAY iv, gen_random_uuid() u, "
        "'\\xde\\xad'::BLOB b, [i, NULL] l, {'a': i, 'b': [i]} st, MAP {'k': i} m, "
        "[i, i]::BIGINT[2] arr, union_value(x := i)::UNION(x BIGINT, y VARCHAR) un, "
        "'ok'::mood e, '101'::BIT bt, i::BIGNUM bn, TIME '12:00:00' t, "
        "TIMETZ '12:00:00+01' ttz, CASE WHEN i % 2 = 0 THEN NULL ELSE i END n "
        "FROM range(3000) t(i)";
    for (int k = 0; k < 4; k++) {
        char *got = render((clove_fmt_kind_t)k, sql);
        assert_true(strlen(got) > 1000);
        free(got);
    }
}

/* ---- throughput ------------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1M rows of ints, doubles, short strings and timestamps through the JSON writer. The chunks
 * are fetched first so only formatting is timed; the buffer is drained after every chunk as
 * the HTTP layer would. Printed, not asserted (sanitizer builds are several times slower). */
static void test_throughput(void **state)
{
    (void)state;
    duckdb_result res;
    assert_int_equal(duckdb_query(con,
                                  "SELECT i AS id, i / 7 AS ratio, (i % 1000) * 0.25 AS price, "
                                  "'name_' || (i % 997) AS name, "
                                  "TIMESTAMP '2024-01-01' + to_microseconds(i * 1013) AS ts "
                                  "FROM range(1000000) t(i)",
                                  &res),
                     DuckDBSuccess);
    size_t nchunks = 0, cap = 1024;
    duckdb_data_chunk *chunks = malloc(cap * sizeof *chunks);
    assert_non_null(chunks);
    duckdb_data_chunk c;
    while ((c = duckdb_fetch_chunk(res)) != NULL) {
        if (nchunks == cap) {
            cap *= 2;
            chunks = realloc(chunks, cap * sizeof *chunks);
            assert_non_null(chunks);
        }
        chunks[nchunks++] = c;
    }
    idx_t nc = duckdb_column_count(&res);
    const char *names[8];
    duckdb_logical_type types[8];
    for (idx_t i = 0; i < nc; i++) {
        names[i] = duckdb_column_name(&res, i);
        types[i] = duckdb_column_logical_type(&res, i);
    }
    for (int kind = 0; kind < 3; kind++) {
        clove_fmt_t *f = clove_fmt_create((clove_fmt_kind_t)kind, nc, names, types);
        assert_non_null(f);
        clove_buf_t out;
        clove_buf_init(&out);
        size_t bytes = 0;
        double t0 = now_s();
        clove_fmt_begin(f, &out);
        for (size_t i = 0; i < nchunks; i++) {
            assert_int_equal(clove_fmt_chunk(f, chunks[i], &out), 0);
            bytes += out.len;
            clove_buf_reset(&out);
        }
        clove_fmt_end(f, &out, 0);
        bytes += out.len;
        double dt = now_s() - t0;
        static const char *const label[] = {"json", "spice-json", "csv"};
        printf("[ PERF     ] %-10s %llu rows, %.1f MB in %.3f s: %.1f MB/s, %.2f M rows/s\n",
               label[kind], (unsigned long long)clove_fmt_rows(f), (double)bytes / 1e6, dt,
               (double)bytes / 1e6 / dt, (double)clove_fmt_rows(f) / 1e6 / dt);
        assert_int_equal(clove_fmt_rows(f), 1000000);
        clove_buf_dispose(&out);
        clove_fmt_destroy(f);
    }
    for (idx_t i = 0; i < nc; i++) duckdb_destroy_logical_type(&types[i]);
    for (size_t i = 0; i < nchunks; i++) duckdb_destroy_data_chunk(&chunks[i]);
    free(chunks);
    duckdb_destroy_result(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept),
        cmocka_unit_test(test_floats_text),
        cmocka_unit_test(test_number_and_time_text),
        cmocka_unit_test(test_json_integers),
        cmocka_unit_test(test_json_decimals),
        cmocka_unit_test(test_json_floats),
        cmocka_unit_test(test_json_strings),
        cmocka_unit_test(test_json_dates),
        cmocka_unit_test(test_json_times),
        cmocka_unit_test(test_json_misc_scalars),
        cmocka_unit_test(test_json_nested),
        cmocka_unit_test(test_json_nulls),
        cmocka_unit_test(test_json_shapes),
        cmocka_unit_test(test_interval_like_duckdb),
        cmocka_unit_test(test_bignum_like_duckdb),
        cmocka_unit_test(test_timetz_like_duckdb),
        cmocka_unit_test(test_single_values),
        cmocka_unit_test(test_chunk_mismatch),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_spice_envelope),
        cmocka_unit_test(test_all_formats_all_types),
        cmocka_unit_test(test_throughput),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
