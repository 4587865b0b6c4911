/*
 * Unit tests for src/accel (the SQLite acceleration): every DuckDB type with its edge values
 * loaded into SQLite (memory and file) and read back through clove_sqlite_scan exactly;
 * projections, joins, pushed WHERE/LIMIT, count(*); full-reload atomicity under a concurrent
 * reader; append; primary keys with drop/upsert; persistence across close/reopen; a corrupt
 * file; unsupported types; and a load-throughput measurement against DuckDB's own CREATE
 * TABLE AS (printed, not asserted).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <stdatomic.h>

#include <cmocka.h>

#include "accel/sqlite_accel.h"

static duckdb_database g_db;
static duckdb_connection g_conn;
static char g_dir[64];

/* ---- helpers ------------------------------------------------------------------------------ */

static void exec_ok(duckdb_connection c, const char *sql)
{
    duckdb_result r;
    if (duckdb_query(c, sql, &r) == DuckDBError) {
        fprintf(stderr, "query failed: %s: %s\n", sql, duckdb_result_error(&r));
        duckdb_destroy_result(&r);
        fail();
    }
    duckdb_destroy_result(&r);
}

static int64_t q_i64(duckdb_connection c, const char *sql)
{
    duckdb_result r;
    int64_t v = INT64_MIN;
    if (duckdb_query(c, sql, &r) == DuckDBError) {
        fprintf(stderr, "query failed: %s: %s\n", sql, duckdb_result_error(&r));
        duckdb_destroy_result(&r);
        fail();
    }
    if (duckdb_row_count(&r) > 0 && !duckdb_value_is_null(&r, 0, 0))
        v = duckdb_value_int64(&r, 0, 0);
    duckdb_destroy_result(&r);
    return v;
}

/* First value as a string (caller frees), or NULL; *errmsg gets the error if the query fails. */
static char *q_str(duckdb_connection c, const char *sql, char **errmsg)
{
    duckdb_result r;
    char *out = NULL;
    if (errmsg) *errmsg = NULL;
    if (duckdb_query(c, sql, &r) == DuckDBError) {
        if (errmsg) *errmsg = strdup(duckdb_result_error(&r));
    } else if (duckdb_row_count(&r) > 0 && !duckdb_value_is_null(&r, 0, 0)) {
        char *v = duckdb_value_varchar(&r, 0, 0);
        out = strdup(v);
        duckdb_free(v);
    }
    duckdb_destroy_result(&r);
    return out;
}

/* Creates (or replaces) DuckDB view `name` over table `table` of handle a. */
static void make_view(clove_sqlite_accel_t *a, const char *table, const char *name)
{
    clove_err_t err;
    char *sel = clove_sqlite_accel_view_sql(a, table, &err);
    if (!sel) fprintf(stderr, "view_sql: %s\n", err.message);
    assert_non_null(sel);
    char *sql = clove_xasprintf("CREATE OR REPLACE VIEW %s AS %s", name, sel);
    exec_ok(g_conn, sql);
    free(sql);
    free(sel);
}

static int load(clove_sqlite_accel_t *a, const char *sql, const char *table, int mode,
                const char *pk, int conflict, int64_t *rows, clove_err_t *err)
{
    return clove_sqlite_accel_load(a, g_conn, sql, table, mode, pk, conflict, rows, err);
}

static void load_ok(clove_sqlite_accel_t *a, const char *sql, const char *table, int mode,
                    const char *pk, int conflict, int64_t expect_rows)
{
    clove_err_t err = {0};
    int64_t rows = -1;
    int rc = load(a, sql, table, mode, pk, conflict, &rows, &err);
    if (rc != 0) fprintf(stderr, "load failed: %s\n", err.message);
    assert_int_equal(rc, 0);
    if (expect_rows >= 0) assert_int_equal(rows, expect_rows);
}

static char *file_path(const char *name)
{
    return clove_xasprintf("%s/%s", g_dir, name);
}

/* ---- fixtures ------------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    if (duckdb_open(NULL, &g_db) == DuckDBError) return -1;
    if (duckdb_connect(g_db, &g_conn) == DuckDBError) return -1;
    clove_err_t err;
    if (clove_sqlite_accel_register(g_conn, &err) != 0) return -1;
    strcpy(g_dir, "/tmp/clove-sqlite-test-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    /* a session time zone far from UTC: stored TIMESTAMPTZ text must not depend on it */
    exec_ok(g_conn, "SET TimeZone = 'America/New_York'");
    /* every type, every edge */
    exec_ok(g_conn,
            "CREATE TABLE alltypes (id INTEGER, b BOOLEAN, ti TINYINT, si SMALLINT, i INTEGER, "
            "bi BIGINT, hi HUGEINT, uhi UHUGEINT, uti UTINYINT, usi USMALLINT, ui UINTEGER, "
            "ubi UBIGINT, f FLOAT, d DOUBLE, dec DECIMAL(38,10), dec4 DECIMAL(4,1), "
            "dec18 DECIMAL(18,6), s VARCHAR, bl BLOB, dt DATE, tm TIME, tmtz TIMETZ, "
            "ts TIMESTAMP, ts_s TIMESTAMP_S, ts_ms TIMESTAMP_MS, ts_ns TIMESTAMP_NS, "
            "tstz TIMESTAMPTZ, iv INTERVAL, u UUID, e ENUM('a', 'b c'), j JSON, l INTEGER[], "
            "ls VARCHAR[], st STRUCT(a INTEGER, \"b c\" VARCHAR[]), m MAP(VARCHAR, DOUBLE), "
            "arr DOUBLE[3], bits BIT, lbl BLOB[], nested STRUCT(x MAP(INTEGER, DATE[]))[])");
    exec_ok(g_conn,
            "INSERT INTO alltypes VALUES (1, false, -128, -32768, -2147483648, "
            "-9223372036854775808, -170141183460469231731687303715884105728, 0, 0, 0, 0, 0, "
            "-3.4028235e38::FLOAT, -1.7976931348623157e308, "
            "-9999999999999999999999999999.9999999999, -999.9, -999999999999.999999, '', ''::BLOB, "
            "'5877642-06-25 (BC)', '00:00:00', '00:00:00+15:59:59', "
            "'290309-12-22 (BC) 00:00:00', '-infinity', '-infinity', "
            "'1677-09-22 00:00:00.000000001', '290309-12-22 (BC) 00:00:00+00', "
            "to_months(-2147483647) + to_days(-2147483647) + "
            "to_microseconds(-9223372036854775807), "
            "'00000000-0000-0000-0000-000000000000', 'a', '[]', [], [], "
            "{'a': NULL, 'b c': []}, MAP {}, [NULL, NULL, NULL], '0', [], [])");
    exec_ok(g_conn,
            "INSERT INTO alltypes VALUES (2, true, 127, 32767, 2147483647, 9223372036854775807, "
            "170141183460469231731687303715884105727, "
            "340282366920938463463374607431768211455, 255, 65535, 4294967295, "
            "18446744073709551615, 3.4028235e38::FLOAT, 1.7976931348623157e308, "
            "9999999999999999999999999999.9999999999, 999.9, 999999999999.999999, "
            "repeat('long string ', 100), '\\x00\\x01\\xFE\\xFF'::BLOB, '5881580-07-10', "
            "'24:00:00', '23:59:59.999999-15:59:59', '294247-01-10 04:00:54.775806', "
            "'infinity', 'infinity', '2262-04-11 23:47:16.854775806', "
            "'294247-01-10 04:00:54.775806+00', "
            "to_months(2147483647) + to_days(2147483647) + to_microseconds(9223372036854775807), "
            "'ffffffff-ffff-ffff-ffff-ffffffffffff', 'b c', "
            "'{\"k\": [1, 2.5, null, \"x\"], \"q\": \"\\\"\"}', [1, NULL, -3], "
            "['a,b', 'it''s', NULL, 'NULL', '', ' sp ', '[x]', '{y: 1}', 'é🌍'], "
            "{'a': 7, 'b c': ['x', NULL, '''q''']}, MAP {'k''1': 1.5, 'null': NULL, '': -0.0}, "
            "[1e300, 5e-324, -0.0], '10110011100011110000111110000011111100000011111110', "
            "['\\x00'::BLOB, ''::BLOB, NULL], "
            "[{'x': MAP {1: ['2024-02-29'::DATE, NULL]}}, NULL])");
    exec_ok(g_conn, "INSERT INTO alltypes (id) VALUES (3)"); /* all NULL */
    exec_ok(g_conn,
            "INSERT INTO alltypes VALUES (4, true, 0, 0, 0, 0, 0, 9223372036854775808, 1, 1, 1, "
            "9223372036854775807, '-0.0'::FLOAT, '-0.0'::DOUBLE, 0, 0, 0, "
            "'héllo \"wörld\" 🌍', "
            "'\\x00'::BLOB, 'infinity', '12:34:56.789012', '12:00:00+00', '1970-01-01', "
            "'2024-01-01 10:00:01', '2024-01-01 10:00:01.123', '2024-01-01 10:00:00.123456789', "
            "'infinity', INTERVAL '1 month -2 days 3 microseconds', "
            "'12345678-9abc-def0-1234-56789abcdef0', NULL, 'null', [NULL], [NULL], NULL, "
            "MAP {'a': 'nan'::DOUBLE}, ['nan'::DOUBLE, 'inf'::DOUBLE, '-inf'::DOUBLE], '1', "
            "NULL, [])");
    exec_ok(g_conn,
            "INSERT INTO alltypes VALUES (5, false, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 'nan'::FLOAT, "
            "'nan'::DOUBLE, 0.0000000001, -0.1, 0.000001, 'x', 'abc'::BLOB, '2024-02-29', "
            "'23:59:59.999999', '11:22:33.123456+05:30', '2024-02-29 12:34:56.654321', "
            "'1970-01-01 00:00:00', '1969-12-31 23:59:59.999', '1970-01-01 00:00:00', "
            "'2024-03-10 02:30:00-05', INTERVAL '0 seconds', "
            "'00000000-0000-0000-0000-000000000001', 'a', '{\"a\":{\"b\":[true,false]}}', "
            "[2147483647], ['\\n\\t'], {'a': -1, 'b c': NULL}, MAP {'x': 'inf'::DOUBLE}, "
            "[0.1, 0.2, 0.30000000000000004], '0000000000000000000000000000000000000000000000000000"
            "000000000000001', ['\\xDE\\xAD\\xBE\\xEF'::BLOB], [])");
    exec_ok(g_conn,
            "INSERT INTO alltypes VALUES (6, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL, 'inf'::FLOAT, 'inf'::DOUBLE, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL, NULL, NULL), (7, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL, '-inf'::FLOAT, '-inf'::DOUBLE, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL, NULL, NULL), (8, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL, 1.4e-45::FLOAT, 5e-324, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL, NULL)");
    return 0;
}

static int group_teardown(void **state)
{
    duckdb_disconnect(&g_conn);
    duckdb_close(&g_db);
    char *cmd = clove_xasprintf("rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    free(cmd);
    return 0;
}

/* ---- round trip ------------------------------------------------------------------------------ */

/* Every column of view `v` equals alltypes exactly: same DuckDB types, and the same text for
 * every value (DuckDB's text tells -0.0 from 0.0, and NaN, and every byte of a BLOB). */
static void assert_same_as_alltypes(const char *v)
{
    char *sql = clove_xasprintf(
        "SELECT count(*) FROM (SELECT column_name, column_type FROM (DESCRIBE alltypes) "
        "EXCEPT ALL SELECT column_name, column_type FROM (DESCRIBE %s))", v);
    assert_int_equal(q_i64(g_conn, sql), 0);
    free(sql);
    sql = clove_xasprintf("SELECT count(*) FROM %s", v);
    assert_int_equal(q_i64(g_conn, sql), q_i64(g_conn, "SELECT count(*) FROM alltypes"));
    free(sql);

    duckdb_result r;
    assert_int_equal(duckdb_query(g_conn, "SELECT column_name FROM (DESCRIBE alltypes)", &r),
                     DuckDBSuccess);
    clove_buf_t b;
    clove_buf_init(&b);
    clove_buf_printf(&b, "SELECT o.id, ");
    idx_t n = duckdb_row_count(&r);
    for (idx_t i = 0; i < n; i++) {
        char *c = duckdb_value_varchar(&r, 0, i);
        clove_buf_printf(&b, "%s(CAST(o.\"%s\" AS VARCHAR) IS DISTINCT FROM CAST(x.\"%s\" AS "
                         "VARCHAR) OR typeof(o.\"%s\") <> typeof(x.\"%s\"))::INT AS \"%s\"",
                         i ? ", " : "", c, c, c, c, c);
        duckdb_free(c);
    }
    clove_buf_printf(&b, " FROM alltypes o FULL JOIN %s x ON o.id = x.id", v);
    duckdb_destroy_result(&r);
    assert_int_equal(duckdb_query(g_conn, b.data, &r), DuckDBSuccess);
    int bad = 0;
    for (idx_t row = 0; row < duckdb_row_count(&r); row++) {
        for (idx_t c = 1; c < duckdb_column_count(&r); c++) {
            if (duckdb_value_is_null(&r, c, row) || duckdb_value_int32(&r, c, row) != 0) {
                fprintf(stderr, "mismatch in %s: id %d column %s\n", v,
                        duckdb_value_int32(&r, 0, row), duckdb_column_name(&r, c));
                bad++;
            }
        }
    }
    duckdb_destroy_result(&r);
    clove_buf_dispose(&b);
    assert_int_equal(bad, 0);
}

static void roundtrip(clove_sqlite_accel_t *a, const char *view)
{
    load_ok(a, "SELECT * FROM alltypes;", "alltypes", CLOVE_SQLITE_LOAD_FULL, NULL, 0, 8);
    assert_true(clove_sqlite_accel_has_table(a, "alltypes"));
    assert_int_equal(clove_sqlite_accel_row_count(a, "alltypes"), 8);
    make_view(a, "alltypes", view);
    assert_same_as_alltypes(view);

    /* the raw scan answers too (text-held types come back as VARCHAR) */
    char *sql = clove_xasprintf("SELECT count(*) FROM " CLOVE_SQLITE_SCAN_FN "(%lld, 'alltypes')",
                                (long long)clove_sqlite_accel_id(a));
    assert_int_equal(q_i64(g_conn, sql), 8);
    free(sql);
    sql = clove_xasprintf("SELECT typeof(dec) || ',' || typeof(ubi) || ',' || typeof(iv) FROM "
                          CLOVE_SQLITE_SCAN_FN "(%lld, 'alltypes') LIMIT 1",
                          (long long)clove_sqlite_accel_id(a));
    char *s = q_str(g_conn, sql, NULL);
    assert_string_equal(s, "VARCHAR,UBIGINT,INTERVAL");
    free(s);
    free(sql);

    /* projections, in any order, and joins with DuckDB tables */
    sql = clove_xasprintf("SELECT count(*) FROM (SELECT s, d, id FROM %s EXCEPT ALL "
                          "SELECT s, d, id FROM alltypes)", view);
    assert_int_equal(q_i64(g_conn, sql), 0);
    free(sql);
    sql = clove_xasprintf("SELECT count(*) FROM %s x JOIN alltypes o ON x.ubi = o.ubi AND "
                          "x.hi = o.hi AND x.tstz = o.tstz", view);
    assert_int_equal(q_i64(g_conn, sql), 4); /* rows 1, 2, 4, 5 have all three */
    free(sql);
    sql = clove_xasprintf("SELECT CAST(ubi AS VARCHAR) FROM %s WHERE id = 2", view);
    s = q_str(g_conn, sql, NULL);
    assert_string_equal(s, "18446744073709551615");
    free(s);
    free(sql);
    sql = clove_xasprintf("SELECT sum(id) FROM %s a JOIN %s b USING (id) WHERE a.b", view, view);
    assert_int_equal(q_i64(g_conn, sql), 6);
    free(sql);

    /* WHERE and LIMIT pushed into SQLite */
    sql = clove_xasprintf("SELECT count(*) FROM " CLOVE_SQLITE_SCAN_FN "(%lld, 'alltypes', "
                          "where_sql := 'id > 2 AND id < 8', row_limit := 3)",
                          (long long)clove_sqlite_accel_id(a));
    assert_int_equal(q_i64(g_conn, sql), 3);
    free(sql);
    sql = clove_xasprintf("SELECT string_agg(id::VARCHAR, ',' ORDER BY id) FROM "
                          CLOVE_SQLITE_SCAN_FN "(%lld, 'alltypes', where_sql := 'ubi >= 10')",
                          (long long)clove_sqlite_accel_id(a));
    s = q_str(g_conn, sql, NULL);
    assert_string_equal(s, "2,4,5"); /* big UBIGINTs sort after every INTEGER in SQLite */
    free(s);
    free(sql);
}

static void test_roundtrip_memory(void **state)
{
    clove_err_t err;
    clove_sqlite_accel_t *a = clove_sqlite_accel_open(NULL, 0, &err);
    assert_non_null(a);
    roundtrip(a, "v_mem");
    exec_ok(g_conn, "DROP VIEW v_mem");
    clove_sqlite_accel_close(a);
}

static void test_roundtrip_file(void **state)
{
    clove_err_t err;
    char *path = file_path("types.db");
    clove_sqlite_accel_t *a = clove_sqlite_accel_open(path, 5000, &err);
    assert_non_null(a);
    roundtrip(a, "v_file");
    clove_sqlite_accel_close(a);

    /* restart: the file serves its tables at once, with their types */
    a = clove_sqlite_accel_open(path, 5000, &err);
    assert_non_null(a);
    assert_true(clove_sqlite_accel_has_table(a, "alltypes"));
    assert_false(clove_sqlite_accel_has_table(a, "other"));
    assert_int_equal(clove_sqlite_accel_row_count(a, "alltypes"), 8);
    make_view(a, "alltypes", "v_file");
    assert_same_as_alltypes("v_file");
    exec_ok(g_conn, "DROP VIEW v_file");
    clove_sqlite_accel_close(a);
    free(path);
}

static void test_errors(void **state)
{
    clove_err_t err;
    clove_sqlite_accel_t *a = clove_sqlite_accel_open(NULL, 0, &err);
    assert_non_null(a);
    int64_t id = clove_sqlite_accel_id(a);

    /* a type the store cannot hold exactly */
    assert_int_equal(load(a, "SELECT 1 AS k, union_value(n := 2)::UNION(n INT, s VARCHAR) AS u",
                          "u", CLOVE_SQLITE_LOAD_FULL, NULL, 0, NULL, &err),
                     CLOVE_EUNSUPPORTED);
    assert_non_null(strstr(err.message, "\"u\""));
    assert_non_null(strstr(err.message, "UNION"));
    assert_false(clove_sqlite_accel_has_table(a, "u"));
    /* a failing query */
    assert_int_equal(load(a, "SELECT * FROM no_such_table", "t", CLOVE_SQLITE_LOAD_FULL, NULL, 0,
                          NULL, &err),
                     CLOVE_EQUERY);
    assert_non_null(strstr(err.message, "no_such_table"));
    /* a query failing half way: nothing changes */
    load_ok(a, "SELECT 1 AS x", "t", CLOVE_SQLITE_LOAD_FULL, NULL, 0, 1);
    assert_int_equal(load(a, "SELECT CASE WHEN i < 5000 THEN i ELSE error('boom') END AS x "
                             "FROM range(10000) t(i)", "t", CLOVE_SQLITE_LOAD_FULL, NULL, 0, NULL,
                          &err),
                     CLOVE_EQUERY);
    assert_non_null(strstr(err.message, "boom"));
    assert_int_equal(clove_sqlite_accel_row_count(a, "t"), 1);
    /* reserved names, unknown tables */
    assert_int_equal(load(a, "SELECT 1 AS x", "__clove_tables", CLOVE_SQLITE_LOAD_FULL, NULL, 0,
                          NULL, &err),
                     CLOVE_EINVAL);
    char *msg = NULL;
    char *sql = clove_xasprintf("SELECT * FROM " CLOVE_SQLITE_SCAN_FN "(%lld, 'nope')",
                                (long long)id);
    free(q_str(g_conn, sql, &msg));
    assert_non_null(msg);
    assert_non_null(strstr(msg, "no table \"nope\""));
    free(msg);
    free(sql);
    assert_null(clove_sqlite_accel_view_sql(a, "nope", &err));
    assert_int_equal(err.code, CLOVE_ENOTFOUND);

    /* a closed handle */
    clove_sqlite_accel_close(a);
    sql = clove_xasprintf("SELECT * FROM " CLOVE_SQLITE_SCAN_FN "(%lld, 't')", (long long)id);
    free(q_str(g_conn, sql, &msg));
    assert_non_null(msg);
    assert_non_null(strstr(msg, "is not open"));
    free(msg);
    free(sql);
}

static void test_corrupt_file(void **state)
{
    char *path = file_path("corrupt.db");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 512; i++) fputs("this is not a sqlite file ", f);
    fclose(f);
    clove_err_t err;
    assert_null(clove_sqlite_accel_open(path, 100, &err));
    assert_int_equal(err.code, CLOVE_EIO);
    assert_non_null(strstr(err.message, path));
    assert_non_null(strstr(err.message, "not a database"));

    /* a directory that does not exist */
    char *missing = file_path("no/such/dir/x.db");
    assert_null(clove_sqlite_accel_open(missing, 100, &err));
    assert_int_equal(err.code, CLOVE_EIO);
    assert_non_null(strstr(err.message, missing));
    free(missing);
    free(path);
}

/* ---- append, keys ---------------------------------------------------------------------------- */

static void append_and_keys(clove_sqlite_accel_t *a, const char *view)
{
    clove_err_t err;
    load_ok(a, "SELECT i AS id, 'v' || i AS val FROM range(10) t(i)", "ap",
            CLOVE_SQLITE_LOAD_FULL, NULL, 0, 10);
    load_ok(a, "SELECT i AS id, 'w' || i AS val FROM range(10, 15) t(i)", "ap",
            CLOVE_SQLITE_LOAD_APPEND, NULL, 0, 5);
    assert_int_equal(clove_sqlite_accel_row_count(a, "ap"), 15);
    make_view(a, "ap", view);
    char *sql = clove_xasprintf("SELECT count(*) FROM %s WHERE val = CASE WHEN id < 10 THEN 'v' "
                                "ELSE 'w' END || id", view);
    assert_int_equal(q_i64(g_conn, sql), 15);
    free(sql);
    /* append with other columns is refused; the table keeps its rows */
    assert_int_equal(load(a, "SELECT 1 AS id", "ap", CLOVE_SQLITE_LOAD_APPEND, NULL, 0, NULL,
                          &err),
                     CLOVE_EINVAL);
    assert_int_equal(clove_sqlite_accel_row_count(a, "ap"), 15);
    /* append to a missing table creates it */
    load_ok(a, "SELECT 1 AS id", "ap_new", CLOVE_SQLITE_LOAD_APPEND, NULL, 0, 1);
    assert_int_equal(clove_sqlite_accel_row_count(a, "ap_new"), 1);

    /* primary key: drop keeps the held row, upsert replaces it */
    load_ok(a, "SELECT i AS id, 'old' AS val FROM range(1, 6) t(i)", "pk",
            CLOVE_SQLITE_LOAD_FULL, "\"id\"", CLOVE_SQLITE_CONFLICT_DROP, 5);
    load_ok(a, "SELECT i AS id, 'drop' AS val FROM range(4, 8) t(i)", "pk",
            CLOVE_SQLITE_LOAD_APPEND, NULL, CLOVE_SQLITE_CONFLICT_DROP, 4);
    assert_int_equal(clove_sqlite_accel_row_count(a, "pk"), 7);
    make_view(a, "pk", view);
    sql = clove_xasprintf("SELECT string_agg(id || '=' || val, ',' ORDER BY id) FROM %s", view);
    char *s = q_str(g_conn, sql, NULL);
    assert_string_equal(s, "1=old,2=old,3=old,4=old,5=old,6=drop,7=drop");
    free(s);
    load_ok(a, "SELECT i AS id, 'new' AS val FROM range(5, 9) t(i)", "pk",
            CLOVE_SQLITE_LOAD_APPEND, NULL, CLOVE_SQLITE_CONFLICT_UPSERT, 4);
    s = q_str(g_conn, sql, NULL);
    assert_string_equal(s, "1=old,2=old,3=old,4=old,5=new,6=new,7=new,8=new");
    free(s);
    assert_int_equal(clove_sqlite_accel_row_count(a, "pk"), 8);
    /* no conflict rule: a duplicate fails the load and changes nothing */
    assert_int_equal(load(a, "SELECT 1::BIGINT AS id, 'dup' AS val", "pk", CLOVE_SQLITE_LOAD_APPEND,
                          NULL, CLOVE_SQLITE_CONFLICT_NONE, NULL, &err),
                     CLOVE_EINVAL);
    assert_non_null(strstr(err.message, "UNIQUE"));
    s = q_str(g_conn, sql, NULL);
    assert_string_equal(s, "1=old,2=old,3=old,4=old,5=new,6=new,7=new,8=new");
    free(s);
    /* upsert inside one batch: the last row wins; a full load keeps the key */
    load_ok(a, "SELECT id::BIGINT AS id, val FROM (VALUES (1, 'a'), (1, 'b'), (2, 'c')) v(id, val)",
            "pk", CLOVE_SQLITE_LOAD_FULL, "\"id\"", CLOVE_SQLITE_CONFLICT_UPSERT, 3);
    s = q_str(g_conn, sql, NULL);
    assert_string_equal(s, "1=b,2=c");
    free(s);
    load_ok(a, "SELECT 2::BIGINT AS id, 'd' AS val", "pk", CLOVE_SQLITE_LOAD_APPEND, NULL,
            CLOVE_SQLITE_CONFLICT_UPSERT, 1);
    s = q_str(g_conn, sql, NULL);
    assert_string_equal(s, "1=b,2=d");
    free(s);
    free(sql);
    char *drop = clove_xasprintf("DROP VIEW %s", view);
    exec_ok(g_conn, drop);
    free(drop);
}

static void test_append_keys_memory(void **state)
{
    clove_err_t err;
    clove_sqlite_accel_t *a = clove_sqlite_accel_open(NULL, 0, &err);
    assert_non_null(a);
    append_and_keys(a, "v_apm");
    clove_sqlite_accel_close(a);
}

static void test_append_keys_file(void **state)
{
    clove_err_t err;
    char *path = file_path("keys.db");
    clove_sqlite_accel_t *a = clove_sqlite_accel_open(path, 0, &err);
    assert_non_null(a);
    append_and_keys(a, "v_apf");
    clove_sqlite_accel_close(a);
    /* the key survives a restart */
    a = clove_sqlite_accel_open(path, 0, &err);
    assert_non_null(a);
    load_ok(a, "SELECT 1::BIGINT AS id, 'z' AS val", "pk", CLOVE_SQLITE_LOAD_APPEND, NULL,
            CLOVE_SQLITE_CONFLICT_UPSERT, 1);
    assert_int_equal(clove_sqlite_accel_row_count(a, "pk"), 2);
    clove_sqlite_accel_close(a);
    free(path);
}

/* ---- atomicity ------------------------------------------------------------------------------- */

typedef struct {
    const char *view;
    atomic_bool stop;
    atomic_int reads;
    int bad;
    char first_bad[256];
} reader_t;

static void *reader_main(void *arg)
{
    reader_t *r = arg;
    duckdb_connection c;
    if (duckdb_connect(g_db, &c) == DuckDBError) {
        r->bad = -1;
        return NULL;
    }
    char *sql = clove_xasprintf("SELECT count(*), min(g), max(g), count(DISTINCT x) FROM %s",
                                r->view);
    while (!atomic_load(&r->stop)) {
        duckdb_result res;
        if (duckdb_query(c, sql, &res) == DuckDBError) {
            if (!r->bad) snprintf(r->first_bad, sizeof r->first_bad, "%s",
                                  duckdb_result_error(&res));
            r->bad++;
        } else {
            int64_t n = duckdb_value_int64(&res, 0, 0), lo = duckdb_value_int64(&res, 1, 0);
            int64_t hi = duckdb_value_int64(&res, 2, 0), nd = duckdb_value_int64(&res, 3, 0);
            /* generation g holds 1000 + 1000 * (g % 3) rows, all tagged g */
            if (lo != hi || n != 1000 + 1000 * (lo % 3) || nd != n) {
                if (!r->bad)
                    snprintf(r->first_bad, sizeof r->first_bad,
                             "count %lld min %lld max %lld distinct %lld", (long long)n,
                             (long long)lo, (long long)hi, (long long)nd);
                r->bad++;
            }
            atomic_fetch_add(&r->reads, 1);
        }
        duckdb_destroy_result(&res);
    }
    free(sql);
    duckdb_disconnect(&c);
    return NULL;
}

static void atomic_reloads(clove_sqlite_accel_t *a, const char *view)
{
    load_ok(a, "SELECT 0 AS g, i AS x FROM range(1000) t(i)", "gen", CLOVE_SQLITE_LOAD_FULL,
            NULL, 0, 1000);
    make_view(a, "gen", view);
    reader_t r[2] = {{.view = view}, {.view = view}}; /* two DuckDB threads scanning */
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        atomic_init(&r[i].stop, false);
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &r[i]), 0);
    }
    /* at least 20 reloads, and on until both readers have finished reads during them (on a
     * loaded machine a reader thread may get no CPU for a while) */
    for (int g = 1; g <= 20 || ((atomic_load(&r[0].reads) < 3 || atomic_load(&r[1].reads) < 3) &&
                                g <= 5000);
         g++) {
        char *sql = clove_xasprintf("SELECT %d AS g, i AS x FROM range(%d) t(i)", g,
                                    1000 + 1000 * (g % 3));
        load_ok(a, sql, "gen", CLOVE_SQLITE_LOAD_FULL, NULL, 0, 1000 + 1000 * (g % 3));
        free(sql);
        usleep(2000);
    }
    for (int i = 0; i < 2; i++) {
        atomic_store(&r[i].stop, true);
        pthread_join(th[i], NULL);
        if (r[i].bad) fprintf(stderr, "reader saw a partial table: %s\n", r[i].first_bad);
        assert_int_equal(r[i].bad, 0);
        assert_true(r[i].reads > 0);
    }
    printf("# %s: two readers ran %d + %d consistent counts during the full reloads\n", view,
           atomic_load(&r[0].reads), atomic_load(&r[1].reads));
    char *drop = clove_xasprintf("DROP VIEW %s", view);
    exec_ok(g_conn, drop);
    free(drop);
}

static void test_atomic_memory(void **state)
{
    clove_err_t err;
    clove_sqlite_accel_t *a = clove_sqlite_accel_open(NULL, 0, &err);
    assert_non_null(a);
    atomic_reloads(a, "v_atm");
    clove_sqlite_accel_close(a);
}

static void test_atomic_file(void **state)
{
    clove_err_t err;
    char *path = file_path("atomic.db");
    clove_sqlite_accel_t *a = clove_sqlite_accel_open(path, 0, &err);
    assert_non_null(a);
    atomic_reloads(a, "v_atf");
    clove_sqlite_accel_close(a);
    free(path);
}

/* A full load that changes the columns: a query planned before fails clearly, the new view
 * works. */
static void test_schema_change(void **state)
{
    clove_err_t err;
    clove_sqlite_accel_t *a = clove_sqlite_accel_open(NULL, 0, &err);
    assert_non_null(a);
    uint64_t ver = 0;
    load_ok(a, "SELECT 1 AS a", "sc", CLOVE_SQLITE_LOAD_FULL, NULL, 0, 1);
    assert_true(clove_sqlite_accel_schema_changed(a, "sc", &ver));
    assert_false(clove_sqlite_accel_schema_changed(a, "sc", &ver));
    make_view(a, "sc", "v_sc");
    duckdb_prepared_statement p;
    assert_int_equal(duckdb_prepare(g_conn, "SELECT * FROM v_sc", &p), DuckDBSuccess);
    load_ok(a, "SELECT 2 AS a", "sc", CLOVE_SQLITE_LOAD_FULL, NULL, 0, 1);
    assert_false(clove_sqlite_accel_schema_changed(a, "sc", &ver)); /* same columns */
    load_ok(a, "SELECT 'x' AS a, 2 AS b", "sc", CLOVE_SQLITE_LOAD_FULL, NULL, 0, 1);
    assert_true(clove_sqlite_accel_schema_changed(a, "sc", &ver));
    duckdb_result res;
    assert_int_equal(duckdb_execute_prepared(p, &res), DuckDBError);
    assert_non_null(strstr(duckdb_result_error(&res), "changed"));
    duckdb_destroy_result(&res);
    duckdb_destroy_prepare(&p);
    make_view(a, "sc", "v_sc");
    char *s = q_str(g_conn, "SELECT a || b FROM v_sc", NULL);
    assert_string_equal(s, "x2");
    free(s);
    exec_ok(g_conn, "DROP VIEW v_sc");
    clove_sqlite_accel_close(a);
}

/* ---- throughput ------------------------------------------------------------------------------ */

#define BENCH_SQL                                                                         \
    "SELECT i AS a, i * 2.5::DOUBLE AS b, 'name_' || i AS c, (i % 1000)::INTEGER AS d, "  \
    "DATE '2020-01-01' + (i % 1000)::INTEGER AS e FROM range(1000000) t(i)"

static void test_throughput(void **state)
{
    clove_err_t err;
    int64_t t0 = clove_mono_ns();
    exec_ok(g_conn, "CREATE TABLE bench AS " BENCH_SQL);
    double duck_s = (double)(clove_mono_ns() - t0) / 1e9;
    exec_ok(g_conn, "DROP TABLE bench");

    char *path = file_path("bench.db");
    clove_sqlite_accel_t *mem = clove_sqlite_accel_open(NULL, 0, &err);
    clove_sqlite_accel_t *file = clove_sqlite_accel_open(path, 0, &err);
    assert_non_null(mem);
    assert_non_null(file);
    t0 = clove_mono_ns();
    load_ok(mem, BENCH_SQL, "bench", CLOVE_SQLITE_LOAD_FULL, NULL, 0, 1000000);
    double mem_s = (double)(clove_mono_ns() - t0) / 1e9;
    t0 = clove_mono_ns();
    load_ok(file, BENCH_SQL, "bench", CLOVE_SQLITE_LOAD_FULL, NULL, 0, 1000000);
    double file_s = (double)(clove_mono_ns() - t0) / 1e9;

    make_view(mem, "bench", "v_bench");
    t0 = clove_mono_ns();
    assert_int_equal(q_i64(g_conn, "SELECT sum(d) FROM v_bench"), 499500000);
    double scan_s = (double)(clove_mono_ns() - t0) / 1e9;
    exec_ok(g_conn, "DROP VIEW v_bench");

    printf("# load 1M rows x 5 columns: DuckDB CREATE TABLE AS %.3fs (%.0f rows/s); "
           "SQLite memory %.3fs (%.0f rows/s, %.1fx DuckDB's time); SQLite file %.3fs "
           "(%.0f rows/s, %.1fx); scan of one column back %.3fs (%.0f rows/s)\n",
           duck_s, 1e6 / duck_s, mem_s, 1e6 / mem_s, mem_s / duck_s, file_s, 1e6 / file_s,
           file_s / duck_s, scan_s, 1e6 / scan_s);
    clove_sqlite_accel_close(mem);
    clove_sqlite_accel_close(file);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_memory),
        cmocka_unit_test(test_roundtrip_file),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_corrupt_file),
        cmocka_unit_test(test_append_keys_memory),
        cmocka_unit_test(test_append_keys_file),
        cmocka_unit_test(test_atomic_memory),
        cmocka_unit_test(test_atomic_file),
        cmocka_unit_test(test_schema_change),
        cmocka_unit_test(test_throughput),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
