/* Unit tests for src/common: durations, sizes, JSON string escaping, buffers, SQL quoting,
 * directories, metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/common.h"

static void test_durations(void **state)
{
    (void)state;
    struct { const char *in; int64_t ms; } ok[] = {
        {"500ms", 500}, {"10s", 10000}, {"5m", 300000}, {"1h", 3600000}, {"1d", 86400000},
        {"1h30m", 5400000}, {"30", 30000}, {"1.5s", 1500}, {" 2m ", 120000}, {"0s", 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = -1;
        assert_int_equal(clove_parse_duration_ms(ok[i].in, &ms), 0);
        assert_int_equal(ms, ok[i].ms);
    }
    const char *bad[] = {"", "abc", "10x", "-5s", "s", "1h-", NULL};
    for (size_t i = 0; bad[i]; i++) {
        int64_t ms;
        assert_int_equal(clove_parse_duration_ms(bad[i], &ms), CLOVE_EINVAL);
    }
    assert_int_equal(clove_parse_duration_ms(NULL, &(int64_t){0}), CLOVE_EINVAL);
    char out[32];
    clove_format_duration(5400000, out, sizeof out);
    assert_string_equal(out, "1h30m");
    clove_format_duration(1500, out, sizeof out);
    assert_string_equal(out, "1500ms");
}

static void test_sizes(void **state)
{
    (void)state;
    struct { const char *in; uint64_t b; } ok[] = {
        {"128MiB", 134217728ull}, {"1GB", 1000000000ull}, {"512KiB", 524288ull},
        {"100", 100}, {"1.5GiB", 1610612736ull}, {"10 MB", 10000000ull},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t b = 0;
        assert_int_equal(clove_parse_size_bytes(ok[i].in, &b), 0);
        assert_int_equal(b, ok[i].b);
    }
    const char *bad[] = {"", "MiB", "12 parsecs", "-1MB", NULL};
    for (size_t i = 0; bad[i]; i++) {
        uint64_t b;
        assert_int_equal(clove_parse_size_bytes(bad[i], &b), CLOVE_EINVAL);
    }
}

static void test_json_string(void **state)
{
    (void)state;
    clove_buf_t b;
    clove_buf_init(&b);
    const char in[] = "a\"b\\c\n\t\x01\xc3\xa9\xf0\x9f\x98\x80\xff/";
    clove_buf_json_string(&b, in, sizeof in - 1);
    assert_false(b.failed);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbd/\"");
    clove_buf_reset(&b);
    clove_buf_json_string(&b, "\xed\xa0\x80", 3); /* a UTF-16 surrogate is not UTF-8 */
    assert_string_equal(b.data, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    clove_buf_dispose(&b);
}

static void test_buf(void **state)
{
    (void)state;
    clove_buf_t b;
    clove_buf_init(&b);
    for (int i = 0; i < 10000; i++) clove_buf_printf(&b, "%d,", i);
    assert_int_equal(b.len, strlen(b.data));
    assert_memory_equal(b.data, "0,1,2,", 6);
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    clove_buf_reset(&b);
    clove_buf_printf(&b, "<%s>", big);
    assert_int_equal(b.len, 601);
    char *s = clove_buf_steal(&b);
    assert_int_equal(s[0], '<');
    free(s);
    assert_null(b.data);
}

static void test_sql_quoting(void **state)
{
    (void)state;
    struct { const char *in, *ident, *lit; } c[] = {
        {"t", "\"t\"", "'t'"},
        {"", "\"\"", "''"},
        {"a\"b", "\"a\"\"b\"", "'a\"b'"},
        {"it's", "\"it's\"", "'it''s'"},
        {"''\"\"", "\"''\"\"\"\"\"", "'''''\"\"'"},
        {"caf\xc3\xa9 x", "\"caf\xc3\xa9 x\"", "'caf\xc3\xa9 x'"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        char *id = clove_sql_ident(c[i].in), *lit = clove_sql_literal(c[i].in);
        assert_string_equal(id, c[i].ident);
        assert_string_equal(lit, c[i].lit);
        free(id);
        free(lit);
    }
    clove_buf_t b;
    clove_buf_init(&b);
    clove_buf_puts(&b, "x = ");
    clove_buf_sql_quoted(&b, "o'k", '\'');
    assert_string_equal(b.data, "x = 'o''k'");
    clove_buf_dispose(&b);
}

static void test_file_formats(void **state)
{
    (void)state;
    assert_string_equal(clove_file_format_name("Parquet"), "parquet");
    assert_string_equal(clove_file_format_name("CSV"), "csv");
    assert_string_equal(clove_file_format_name("json"), "json");
    assert_null(clove_file_format_name("avro"));
    assert_null(clove_file_format_name(""));
    assert_null(clove_file_format_name(NULL));
    struct { const char *name; const char *fmt; } c[] = {
        {"a.parquet", "parquet"}, {"dir/b.PQ", "parquet"}, {"x/y.csv", "csv"},
        {"t.tsv", "csv"}, {"d.csv.gz", "csv"}, {"e.JSONL.zst", "json"}, {"f.ndjson", "json"},
        {"g.json", "json"}, {"h.txt", NULL}, {"noext", NULL}, {"dir.parquet/file", NULL},
        {"i.gz", NULL}, {"j.csv.gz.gz", NULL}, {"year=2024/part-0.parquet", "parquet"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        const char *got = clove_file_format_of_name(c[i].name, strlen(c[i].name));
        if (c[i].fmt) assert_string_equal(got, c[i].fmt);
        else assert_null(got);
    }
    /* a prefix of a longer text, e.g. a URL path before its query string */
    const char *url = "/data/rates.csv?x=1.json";
    assert_string_equal(clove_file_format_of_name(url, strcspn(url, "?")), "csv");
}

static void test_mkdir_p(void **state)
{
    (void)state;
    char base[] = "/tmp/clove-test-mkdir-XXXXXX";
    assert_non_null(mkdtemp(base));
    char *deep = clove_xasprintf("%s/a/b/c", base);
    assert_int_equal(clove_mkdir_p(deep), 0);
    struct stat st;
    assert_int_equal(stat(deep, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(clove_mkdir_p(deep), 0); /* exists: fine */
    char *file = clove_xasprintf("%s/a/f", base);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    char *under_file = clove_xasprintf("%s/x", file);
    assert_int_equal(clove_mkdir_p(under_file), -1); /* a file is in the way */
    unlink(file);
    rmdir(deep);
    char *b2 = clove_xasprintf("%s/a/b", base);
    rmdir(b2);
    char *a = clove_xasprintf("%s/a", base);
    rmdir(a);
    rmdir(base);
    free(deep);
    free(file);
    free(under_file);
    free(b2);
    free(a);
}

static void test_consttime(void **state)
{
    (void)state;
    assert_true(clove_consttime_eq("abc", 3, "abc", 3));
    assert_false(clove_consttime_eq("abc", 3, "abd", 3));
    assert_false(clove_consttime_eq("abc", 3, "abcd", 4));
    assert_true(clove_consttime_eq("", 0, "", 0));
}

static void test_metrics(void **state)
{
    (void)state;
    clove_metrics_reset();
    clove_metric_counter_add("query_executions", "Queries.", "", 1);
    clove_metric_counter_add("query_executions", "Queries.", "", 2);
    clove_metric_gauge_set("dataset_load_state", "State.", "dataset=\"a\"", 1);
    clove_metric_gauge_set("dataset_load_state", "State.", "dataset=\"b\"", 3);
    clove_metric_histogram_observe("query_duration_ms", "Duration.", "", 0.3);
    clove_metric_histogram_observe("query_duration_ms", "Duration.", "", 7);
    clove_buf_t b;
    clove_buf_init(&b);
    clove_metrics_render(&b);
    assert_non_null(strstr(b.data, "# TYPE query_executions counter\nquery_executions_total 3\n"));
    assert_non_null(strstr(b.data, "dataset_load_state{dataset=\"a\"} 1\n"
                                   "dataset_load_state{dataset=\"b\"} 3\n"));
    assert_non_null(strstr(b.data, "query_duration_ms_bucket{le=\"0.5\"} 1\n"));
    assert_non_null(strstr(b.data, "query_duration_ms_bucket{le=\"10\"} 2\n"));
    assert_non_null(strstr(b.data, "query_duration_ms_bucket{le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(b.data, "query_duration_ms_count 2\n"));
    clove_metric_remove("dataset_load_state", "dataset=\"a\"");
    clove_buf_reset(&b);
    clove_metrics_render(&b);
    assert_null(strstr(b.data, "dataset=\"a\""));
    assert_non_null(strstr(b.data, "dataset=\"b\""));
    clove_buf_dispose(&b);
    clove_metrics_reset();
}

static void test_errors(void **state)
{
    (void)state;
    clove_err_t err;
    assert_int_equal(clove_err_set(&err, CLOVE_ETOOBIG, "body of %d bytes", 5), CLOVE_ETOOBIG);
    assert_string_equal(err.message, "body of 5 bytes");
    assert_int_equal(clove_err_http_status(CLOVE_ETOOBIG), 413);
    assert_int_equal(clove_err_http_status(CLOVE_ETIMEDOUT), 504);
    assert_int_equal(clove_err_http_status(CLOVE_ESHUTDOWN), 503);
    assert_int_equal(clove_err_http_status(CLOVE_EQUERY), 400);
    assert_int_equal(clove_err_grpc_status(CLOVE_EAUTH), 16);
    assert_string_equal(clove_strerror(CLOVE_ENOTFOUND), "not found");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations), cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_json_string), cmocka_unit_test(test_buf),
        cmocka_unit_test(test_consttime), cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_errors), cmocka_unit_test(test_sql_quoting),
        cmocka_unit_test(test_mkdir_p), cmocka_unit_test(test_file_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
