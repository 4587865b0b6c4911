/*
 * test_s3.c: the ListObjectsV2 parser and XML text decoding of the S3 connector, on valid
 * pages and hostile ones (unterminated elements, bad entities, control characters, oversized
 * keys, missing keys), the URL redaction used in messages, and the Hive partition types a
 * streamed load settles from a listing, checked against DuckDB's own inference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <duckdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/s3.h"

static int parse(const char *xml, clove_s3_object_t **objs, size_t *n, bool *trunc, char **tok,
                 clove_err_t *err)
{
    size_t cap = 0;
    *objs = NULL;
    *n = 0;
    return clove_s3_parse_list(xml, strlen(xml), objs, n, &cap, trunc, tok, err);
}

static void test_page(void **state)
{
    const char *xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"x\"><Name>b</Name>"
        "<Prefix>p/</Prefix><NextContinuationToken>tok+/=&amp;1</NextContinuationToken>"
        "<KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>"
        "<Contents><Key>p/year=2024/a &amp; b.parquet</Key><LastModified>x</LastModified>"
        "<ETag>&quot;abc&quot;</ETag><Size>1234</Size></Contents>"
        "<Contents><Key>p/caf&#233;/&#x263A;.csv</Key><ETag>\"d\"</ETag><Size>0</Size>"
        "</Contents></ListBucketResult>";
    clove_s3_object_t *objs;
    size_t n;
    bool trunc;
    char *tok;
    clove_err_t err;
    assert_int_equal(parse(xml, &objs, &n, &trunc, &tok, &err), 0);
    assert_int_equal(n, 2);
    assert_true(trunc);
    assert_string_equal(tok, "tok+/=&1");
    assert_string_equal(objs[0].key, "p/year=2024/a & b.parquet");
    assert_string_equal(objs[0].etag, "\"abc\"");
    assert_int_equal(objs[0].size, 1234);
    assert_string_equal(objs[1].key, "p/caf\xc3\xa9/\xe2\x98\xba.csv");
    clove_s3_objects_free(objs, n);
    free(tok);

    assert_int_equal(parse("<ListBucketResult><IsTruncated>false</IsTruncated>"
                           "</ListBucketResult>", &objs, &n, &trunc, &tok, &err), 0);
    assert_int_equal(n, 0);
    assert_false(trunc);
    assert_null(tok);
    free(objs);
}

static void test_hostile(void **state)
{
    static const char *bad[] = {
        "<Error><Code>AccessDenied</Code></Error>",
        "<ListBucketResult><Contents><Key>a</Key>",
        "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a&bogus;b</Key></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a&#0;b</Key></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a&#x110000;</Key></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a&#xD800;</Key></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a\x01</Key></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key></Key></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a&amp</Key></Contents></ListBucketResult>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        clove_s3_object_t *objs;
        size_t n;
        bool trunc;
        char *tok;
        clove_err_t err = {0};
        int rc = parse(bad[i], &objs, &n, &trunc, &tok, &err);
        if (rc == 0) fail_msg("accepted: %s", bad[i]);
        assert_true(err.message[0] != '\0');
        clove_s3_objects_free(objs, n);
    }
    /* a key longer than S3 allows */
    size_t big = 5000;
    char *xml = malloc(big + 100);
    strcpy(xml, "<ListBucketResult><Contents><Key>");
    memset(xml + strlen(xml), 'k', big);
    strcpy(xml + 33 + big, "</Key></Contents></ListBucketResult>");
    clove_s3_object_t *objs;
    size_t n;
    bool trunc;
    char *tok;
    clove_err_t err;
    assert_int_not_equal(parse(xml, &objs, &n, &trunc, &tok, &err), 0);
    assert_non_null(strstr(err.message, "too long"));
    clove_s3_objects_free(objs, n);
    free(xml);
}

static void test_xml_text(void **state)
{
    char *s = clove_s3_xml_text("&lt;a&gt; &apos;x&apos;", 23);
    assert_string_equal(s, "<a> 'x'");
    free(s);
    assert_null(clove_s3_xml_text("a<b", 3));
    assert_null(clove_s3_xml_text("&#;", 3));
    assert_null(clove_s3_xml_text("&#x1F;", 6));
    s = clove_s3_xml_text("", 0);
    assert_string_equal(s, "");
    free(s);
}

static void test_display_url(void **state)
{
    char *u = clove__url_for_display("https://user:p%40ss@host:8443/a/b?x=1");
    assert_string_equal(u, "https://host:8443/a/b?x=1");
    free(u);
    u = clove__url_for_display("http://host/p@q");
    assert_string_equal(u, "http://host/p@q");
    free(u);
}

static void test_hive_type_rule(void **state)
{
    static const struct {
        const char *v, *type; /* type NULL: left to DuckDB */
    } cases[] = {
        {"2024", "BIGINT"}, {"-5", "BIGINT"}, {"0", "BIGINT"},
        {"123456789012345678", "BIGINT"}, {"1234567890123456789", NULL}, {"007", NULL},
        {"-0", NULL}, {"+7", NULL}, {" 12", NULL}, {"0x10", NULL}, {"1.5", NULL},
        {"2024-01-05", "DATE"}, {"2024-02-29", "DATE"}, {"2023-02-29", NULL},
        {"2024-13-01", NULL}, {"2024-1-5", NULL}, {"0000-01-01", NULL},
        {"2024-01-01 10:00:00", "TIMESTAMP"}, {"2024-01-01T10:00", "TIMESTAMP"},
        {"2024-01-01 23:59:59.123456", "TIMESTAMP"}, {"2024-01-01 24:00:00", NULL},
        {"2024-01-01 10:00:00.1234567", NULL}, {"2024-01-01 10:00:00Z", NULL},
        {"2024-01-01 10", NULL},
        {"abc", "VARCHAR"}, {"", "VARCHAR"}, {"NULL", "VARCHAR"}, {"v1", "VARCHAR"},
        {"__HIVE_DEFAULT_PARTITION__", "VARCHAR"}, {"us-east-1", "VARCHAR"},
        {"infinity", NULL}, {"Epoch", NULL}, {"-inf", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = clove_s3_hive_type(cases[i].v);
        if ((got == NULL) != (cases[i].type == NULL) ||
            (got && strcmp(got, cases[i].type) != 0))
            fail_msg("\"%s\": got %s, want %s", cases[i].v, got ? got : "NULL",
                     cases[i].type ? cases[i].type : "NULL");
    }
}

static void test_hive_types(void **state)
{
    const char *a[] = {"year=2024/day=2024-01-05/a.parquet", "year=2025/day=2024-01-06/b.parquet"};
    char *t = clove_s3_hive_types(a, 2);
    assert_string_equal(t, "{'year': 'BIGINT', 'day': 'DATE'}");
    free(t);
    /* values of different types: text, as DuckDB reads them */
    const char *b[] = {"k=1/a.parquet", "k=x/b.parquet", "k=2024-01-01/c.parquet"};
    t = clove_s3_hive_types(b, 3);
    assert_string_equal(t, "{'k': 'VARCHAR'}");
    free(t);
    const char *c[] = {"a.parquet", "sub/b.parquet"};
    t = clove_s3_hive_types(c, 2);
    assert_string_equal(t, "{}");
    free(t);
    const char *q[] = {"it's=1/a.parquet"};
    t = clove_s3_hive_types(q, 1);
    assert_string_equal(t, "{'it''s': 'BIGINT'}");
    free(t);
    /* not settled: a key missing from a path, a value left to DuckDB, a segment with two '=' */
    const char *d[] = {"year=2024/a.parquet", "b.parquet"};
    assert_null(clove_s3_hive_types(d, 2));
    const char *e[] = {"year=2024/a.parquet", "month=1/b.parquet"};
    assert_null(clove_s3_hive_types(e, 2));
    const char *f[] = {"year=007/a.parquet"};
    assert_null(clove_s3_hive_types(f, 1));
    const char *g[] = {"k=a=b/a.parquet"};
    assert_null(clove_s3_hive_types(g, 1));
}

static int mkdirs(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(buf, 0755);
        *p = '/';
    }
    return mkdir(buf, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

/* Every value clove settles gets the type DuckDB's hive_types_autocast gives it, alone and
 * mixed with values of another type. */
static void test_hive_types_match_duckdb(void **state)
{
    static const char *vals[] = {
        "2024", "-5", "0", "123456789012345678", "2024-01-05", "2024-02-29",
        "2024-01-01 10:00:00", "2024-01-01T10:00", "2024-01-01 23:59:59.123456", "abc", "NULL",
        "__HIVE_DEFAULT_PARTITION__", "v1", "us-east-1",
    };
    char root[] = "/tmp/clove-test-hive-XXXXXX";
    assert_non_null(mkdtemp(root));
    duckdb_database db;
    duckdb_connection conn;
    assert_int_equal(duckdb_open(NULL, &db), DuckDBSuccess);
    assert_int_equal(duckdb_connect(db, &conn), DuckDBSuccess);
    size_t n = sizeof vals / sizeof vals[0];
    for (size_t i = 0; i <= n; i++) {
        /* i < n: the value alone; i == n: two values of different types (BIGINT, DATE) */
        const char *set[2] = {i < n ? vals[i] : "2024", i < n ? NULL : "2024-01-05"};
        const char *rels[2];
        char relbuf[2][256], dir[512], sql[2048];
        size_t m = 0;
        for (; m < 2 && set[m]; m++) {
            snprintf(relbuf[m], sizeof relbuf[m], "k=%s/f%zu.parquet", set[m], m);
            rels[m] = relbuf[m];
            snprintf(dir, sizeof dir, "%s/%zu/k=%s", root, i, set[m]);
            assert_int_equal(mkdirs(dir), 0);
            snprintf(sql, sizeof sql, "COPY (SELECT 1 AS a) TO '%s/f%zu.parquet'", dir, m);
            assert_int_equal(duckdb_query(conn, sql, NULL), DuckDBSuccess);
        }
        char *want = clove_s3_hive_types(rels, m);
        assert_non_null(want);
        snprintf(sql, sizeof sql, "SELECT DISTINCT typeof(k) FROM "
                 "read_parquet('%s/%zu/*/*.parquet', hive_partitioning = true)", root, i);
        duckdb_result res;
        assert_int_equal(duckdb_query(conn, sql, &res), DuckDBSuccess);
        char *got = duckdb_value_varchar(&res, 0, 0);
        char expect[64];
        snprintf(expect, sizeof expect, "{'k': '%s'}", got);
        if (strcmp(expect, want) != 0) fail_msg("k=%s: DuckDB %s, clove %s", set[0], expect, want);
        duckdb_free(got);
        duckdb_destroy_result(&res);
        free(want);
    }
    duckdb_disconnect(&conn);
    duckdb_close(&db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page), cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_xml_text), cmocka_unit_test(test_display_url),
        cmocka_unit_test(test_hive_type_rule), cmocka_unit_test(test_hive_types),
        cmocka_unit_test(test_hive_types_match_duckdb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
