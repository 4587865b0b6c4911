/*
 * test_s3.c: the ListObjectsV2 parser and XML text decoding of the S3 connector, on valid
 * pages and hostile ones (unterminated elements, bad entities, control characters, oversized
 * keys, missing keys), and the URL redaction used in messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page), cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_xml_text), cmocka_unit_test(test_display_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
