/*
 * test_http_parse.c: the pure helpers of src/server: listen address parsing, route matching
 * and URL decoding, the POST /v1/sql body parser (SQL text, JSON with positional and named
 * parameters, big integers, malformed JSON), and the small listing helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server/server.h"
#include "server/server_int.h"

/* ---- listen addresses ---------------------------------------------------------------------- */

static void parse_ok(const char *addr, int family, const char *expect)
{
    struct sockaddr_storage ss;
    unsigned len = 0;
    clove_err_t err;
    clove_err_clear(&err);
    int rc = clove_parse_listen_addr(addr, &ss, &len, &err);
    if (rc != 0) fail_msg("%s: %s", addr, err.message);
    assert_int_equal(ss.ss_family, family);
    assert_int_equal(len, family == AF_INET ? sizeof(struct sockaddr_in)
                                            : sizeof(struct sockaddr_in6));
    char out[80];
    clove_http_format_sockaddr(&ss, out, sizeof out);
    assert_string_equal(out, expect);
}

static void parse_bad(const char *addr, const char *needle)
{
    struct sockaddr_storage ss;
    unsigned len = 0;
    clove_err_t err;
    clove_err_clear(&err);
    assert_int_equal(clove_parse_listen_addr(addr, &ss, &len, &err), CLOVE_EINVAL);
    if (!strstr(err.message, needle)) fail_msg("%s: message \"%s\" lacks \"%s\"",
                                               addr ? addr : "(null)", err.message, needle);
}

static void test_listen_addr(void **state)
{
    parse_ok("127.0.0.1:8090", AF_INET, "127.0.0.1:8090");
    parse_ok("0.0.0.0:8090", AF_INET, "0.0.0.0:8090");
    parse_ok("[::1]:8090", AF_INET6, "[::1]:8090");
    parse_ok("[::]:50051", AF_INET6, "[::]:50051");
    parse_ok("localhost:8090", AF_INET, "127.0.0.1:8090");
    parse_ok("127.0.0.1:0", AF_INET, "127.0.0.1:0");
    parse_ok("127.0.0.1:65535", AF_INET, "127.0.0.1:65535");

    parse_bad(NULL, "empty");
    parse_bad("", "empty");
    parse_bad("127.0.0.1", "port is missing");
    parse_bad("127.0.0.1:", "port is missing");
    parse_bad("127.0.0.1:http", "not a number");
    parse_bad("127.0.0.1:65536", "out of range");
    parse_bad("127.0.0.1:123456", "not a number");
    parse_bad("127.0.0.1:-1", "not a number");
    parse_bad(":8090", "host is missing");
    parse_bad("::1:8090", "brackets");
    parse_bad("[::1]8090", "expected ':'");
    parse_bad("[::1:8090", "missing ']'");
    parse_bad("[]:8090", "bad IPv6");
    parse_bad("[127.0.0.1]:8090", "not an IPv6 address");
    parse_bad("no-such-host.invalid:8090", "could not resolve host \"no-such-host.invalid\"");
}

/* ---- routes -------------------------------------------------------------------------------- */

static void route_is(const char *method, const char *path, int status, clove_http_route_t route,
                     const char *tmpl)
{
    clove_http_match_t m;
    clove_err_t err;
    clove_err_clear(&err);
    int got = clove_http_route_match(method, path, &m, &err);
    if (got != status) fail_msg("%s %s: got %d, expected %d", method, path, got, status);
    assert_int_equal(m.route, route);
    if (tmpl) assert_string_equal(m.path_template, tmpl);
    else assert_null(m.path_template);
    clove_http_match_dispose(&m);
}

static void test_routes(void **state)
{
    route_is("GET", "/health", 200, CLOVE_HTTP_ROUTE_HEALTH, "/health");
    route_is("HEAD", "/health", 200, CLOVE_HTTP_ROUTE_HEALTH, "/health");
    route_is("GET", "/v1/ready", 200, CLOVE_HTTP_ROUTE_READY, "/v1/ready");
    route_is("POST", "/v1/sql", 200, CLOVE_HTTP_ROUTE_SQL, "/v1/sql");
    route_is("GET", "/v1/status?format=csv", 200, CLOVE_HTTP_ROUTE_STATUS, "/v1/status");
    route_is("GET", "/v1/datasets?status=true", 200, CLOVE_HTTP_ROUTE_DATASETS, "/v1/datasets");
    route_is("GET", "/v1/spicepods", 200, CLOVE_HTTP_ROUTE_SPICEPODS, "/v1/spicepods");
    route_is("POST", "/v1/datasets/taxi/acceleration/refresh", 200,
             CLOVE_HTTP_ROUTE_DATASET_REFRESH, "/v1/datasets/{name}/acceleration/refresh");

    /* wrong method: the route is known, 405 */
    route_is("GET", "/v1/sql", 405, CLOVE_HTTP_ROUTE_SQL, "/v1/sql");
    route_is("POST", "/health", 405, CLOVE_HTTP_ROUTE_HEALTH, "/health");
    route_is("DELETE", "/v1/datasets", 405, CLOVE_HTTP_ROUTE_DATASETS, "/v1/datasets");
    route_is("GET", "/v1/datasets/taxi/acceleration/refresh", 405,
             CLOVE_HTTP_ROUTE_DATASET_REFRESH, "/v1/datasets/{name}/acceleration/refresh");

    /* no route */
    route_is("GET", "/", 404, CLOVE_HTTP_ROUTE_NONE, NULL);
    route_is("GET", "/v1/sql/", 404, CLOVE_HTTP_ROUTE_NONE, NULL);
    route_is("GET", "/V1/SQL", 404, CLOVE_HTTP_ROUTE_NONE, NULL);
    route_is("GET", "/healthz", 404, CLOVE_HTTP_ROUTE_NONE, NULL);
    route_is("POST", "/v1/datasets//acceleration/refresh", 404, CLOVE_HTTP_ROUTE_NONE, NULL);
    route_is("POST", "/v1/datasets/a/b/acceleration/refresh", 404, CLOVE_HTTP_ROUTE_NONE, NULL);
    route_is("POST", "/v1/datasets/acceleration/refresh", 404, CLOVE_HTTP_ROUTE_NONE, NULL);
    route_is("GET", "", 404, CLOVE_HTTP_ROUTE_NONE, NULL);
    route_is("GET", NULL, 404, CLOVE_HTTP_ROUTE_NONE, NULL);

    clove_http_match_t m;
    clove_err_t err;
    clove_err_clear(&err);
    assert_int_equal(clove_http_route_match("GET", "/v1/sql", &m, &err), 405);
    assert_string_equal(m.allow, "POST");
    clove_http_match_dispose(&m);
    assert_int_equal(clove_http_route_match("POST", "/v1/status", &m, &err), 405);
    assert_string_equal(m.allow, "GET, HEAD");
    clove_http_match_dispose(&m);
}

static void name_is(const char *path, const char *expect)
{
    clove_http_match_t m;
    clove_err_t err;
    clove_err_clear(&err);
    assert_int_equal(clove_http_route_match("POST", path, &m, &err), 200);
    assert_non_null(m.name);
    assert_string_equal(m.name, expect);
    clove_http_match_dispose(&m);
}

static void test_route_names(void **state)
{
    name_is("/v1/datasets/taxi_trips/acceleration/refresh", "taxi_trips");
    name_is("/v1/datasets/TaxiTrips/acceleration/refresh", "TaxiTrips");
    name_is("/v1/datasets/my%20data/acceleration/refresh", "my data");
    name_is("/v1/datasets/a%2Fb/acceleration/refresh", "a/b");
    name_is("/v1/datasets/sch.tbl/acceleration/refresh", "sch.tbl");
    name_is("/v1/datasets/%22Quoted%22/acceleration/refresh", "\"Quoted\"");
    name_is("/v1/datasets/caf%C3%A9/acceleration/refresh", "caf\xc3\xa9");
    name_is("/v1/datasets/a+b/acceleration/refresh", "a+b");        /* '+' is literal in paths */
    name_is("/v1/datasets/x/acceleration/refresh?force=1", "x");

    clove_http_match_t m;
    clove_err_t err;
    clove_err_clear(&err);
    assert_int_equal(clove_http_route_match("POST", "/v1/datasets/a%zzb/acceleration/refresh",
                                            &m, &err), 400);
    assert_non_null(strstr(err.message, "percent-encoding"));
    clove_http_match_dispose(&m);
    assert_int_equal(clove_http_route_match("POST", "/v1/datasets/a%00b/acceleration/refresh",
                                            &m, &err), 400);
    clove_http_match_dispose(&m);
    assert_int_equal(clove_http_route_match("POST", "/v1/datasets/a%2/acceleration/refresh",
                                            &m, &err), 400);
    clove_http_match_dispose(&m);
}

static void test_url_decode(void **state)
{
    char out[64];
    assert_int_equal(clove_http_url_decode("a%20b", 5, false, out), 3);
    assert_string_equal(out, "a b");
    assert_int_equal(clove_http_url_decode("a+b", 3, true, out), 3);
    assert_string_equal(out, "a b");
    assert_int_equal(clove_http_url_decode("a+b", 3, false, out), 3);
    assert_string_equal(out, "a+b");
    assert_int_equal(clove_http_url_decode("%41%62%2f", 9, false, out), 3);
    assert_string_equal(out, "Ab/");
    assert_int_equal(clove_http_url_decode("", 0, false, out), 0);
    assert_string_equal(out, "");
    assert_int_equal(clove_http_url_decode("%", 1, false, out), -1);
    assert_int_equal(clove_http_url_decode("%4", 2, false, out), -1);
    assert_int_equal(clove_http_url_decode("%g1", 3, false, out), -1);
    assert_int_equal(clove_http_url_decode("%00", 3, false, out), -1);
}

static void test_method_label(void **state)
{
    assert_string_equal(clove_http_method_label("GET"), "GET");
    assert_string_equal(clove_http_method_label("POST"), "POST");
    assert_string_equal(clove_http_method_label("BREW"), "_OTHER");
    assert_string_equal(clove_http_method_label("get"), "_OTHER");
    assert_string_equal(clove_http_method_label(NULL), "_OTHER");
}

/* ---- POST /v1/sql bodies ----------------------------------------------------------------- */

static int parse_body(const char *text, bool json_ct, clove_http_sql_body_t *b, clove_err_t *err)
{
    clove_err_clear(err);
    return clove_http_parse_sql_body(text, strlen(text), json_ct, b, err);
}

static void test_body_text(void **state)
{
    clove_http_sql_body_t b;
    clove_err_t err;
    const char *sql = "SELECT 1";
    assert_int_equal(parse_body(sql, false, &b, &err), 0);
    assert_ptr_equal(b.sql, sql);          /* borrowed, not copied */
    assert_int_equal(b.n_params, 0);
    assert_null(b.root);
    clove_http_sql_body_dispose(&b);

    /* SQL text with a JSON Content-Type: clients that always send that header still work */
    assert_int_equal(parse_body("SELECT 2", true, &b, &err), 0);
    assert_string_equal(b.sql, "SELECT 2");
    clove_http_sql_body_dispose(&b);

    /* text that starts with '{' but is not a request object stays text without JSON type */
    assert_int_equal(parse_body("{not json", false, &b, &err), 0);
    assert_string_equal(b.sql, "{not json");
    clove_http_sql_body_dispose(&b);
    assert_int_equal(parse_body("{\"query\": \"SELECT 1\"}", false, &b, &err), 0);
    assert_string_equal(b.sql, "{\"query\": \"SELECT 1\"}");
    clove_http_sql_body_dispose(&b);
}

static void test_body_empty_and_bad_bytes(void **state)
{
    clove_http_sql_body_t b;
    clove_err_t err;
    assert_int_equal(parse_body("", false, &b, &err), CLOVE_EINVAL);
    assert_non_null(strstr(err.message, "empty"));
    clove_http_sql_body_dispose(&b);
    assert_int_equal(parse_body(" \n\t ", true, &b, &err), CLOVE_EINVAL);
    assert_non_null(strstr(err.message, "empty"));
    clove_http_sql_body_dispose(&b);

    clove_err_clear(&err);
    assert_int_equal(clove_http_parse_sql_body("SELECT 1\0 --", 12, false, &b, &err),
                     CLOVE_EINVAL);
    assert_non_null(strstr(err.message, "NUL"));
    clove_http_sql_body_dispose(&b);

    assert_int_equal(parse_body("SELECT '\xff'", false, &b, &err), CLOVE_EINVAL);
    assert_non_null(strstr(err.message, "UTF-8"));
    assert_non_null(strstr(err.message, "offset 8"));
    clove_http_sql_body_dispose(&b);
}

static void test_body_json_positional(void **state)
{
    clove_http_sql_body_t b;
    clove_err_t err;
    assert_int_equal(parse_body("{\"sql\": \"SELECT $1, $2, $3, $4, $5, $6\", \"parameters\": "
                                "[42, -7.5, \"x\\u00e9\", true, null, false]}",
                                true, &b, &err), 0);
    assert_string_equal(b.sql, "SELECT $1, $2, $3, $4, $5, $6");
    assert_false(b.named);
    assert_int_equal(b.n_params, 6);
    assert_null(b.params[0].name);
    assert_int_equal(b.params[0].kind, CLOVE_PARAM_INT);
    assert_int_equal(b.params[0].i, 42);
    assert_int_equal(b.params[1].kind, CLOVE_PARAM_DOUBLE);
    assert_true(b.params[1].d == -7.5);
    assert_int_equal(b.params[2].kind, CLOVE_PARAM_STRING);
    assert_string_equal(b.params[2].s, "x\xc3\xa9");
    assert_int_equal(b.params[3].kind, CLOVE_PARAM_BOOL);
    assert_true(b.params[3].b);
    assert_int_equal(b.params[4].kind, CLOVE_PARAM_NULL);
    assert_int_equal(b.params[5].kind, CLOVE_PARAM_BOOL);
    assert_false(b.params[5].b);
    clove_http_sql_body_dispose(&b);

    /* no Content-Type, but the body is a request object */
    assert_int_equal(parse_body("  {\"sql\":\"SELECT 1\"}", false, &b, &err), 0);
    assert_string_equal(b.sql, "SELECT 1");
    assert_int_equal(b.n_params, 0);
    clove_http_sql_body_dispose(&b);

    assert_int_equal(parse_body("{\"sql\":\"SELECT 1\",\"parameters\":null}", true, &b, &err), 0);
    assert_int_equal(b.n_params, 0);
    clove_http_sql_body_dispose(&b);
    assert_int_equal(parse_body("{\"sql\":\"SELECT 1\",\"parameters\":[]}", true, &b, &err), 0);
    assert_int_equal(b.n_params, 0);
    clove_http_sql_body_dispose(&b);
}

static void test_body_json_named(void **state)
{
    clove_http_sql_body_t b;
    clove_err_t err;
    assert_int_equal(parse_body("{\"sql\": \"SELECT :id, $name\", \"parameters\": "
                                "{\"id\": 7, \"$name\": \"bob\", \":flag\": true}}",
                                true, &b, &err), 0);
    assert_true(b.named);
    assert_int_equal(b.n_params, 3);
    assert_string_equal(b.params[0].name, "id");
    assert_int_equal(b.params[0].kind, CLOVE_PARAM_INT);
    assert_int_equal(b.params[0].i, 7);
    assert_string_equal(b.params[1].name, "name");
    assert_string_equal(b.params[1].s, "bob");
    assert_string_equal(b.params[2].name, "flag");
    assert_true(b.params[2].b);
    clove_http_sql_body_dispose(&b);

    assert_int_equal(parse_body("{\"sql\":\"SELECT 1\",\"parameters\":{\"\":1}}", true, &b, &err),
                     CLOVE_EINVAL);
    assert_non_null(strstr(err.message, "must not be empty"));
    clove_http_sql_body_dispose(&b);
}

static void test_body_json_big_integers(void **state)
{
    clove_http_sql_body_t b;
    clove_err_t err;
    assert_int_equal(parse_body("{\"sql\":\"SELECT $1, $2, $3, $4, $5\",\"parameters\":"
                                "[9223372036854775807, -9223372036854775808, "
                                "9223372036854775808, -99999999999999999999999, "
                                "123456789012345678901234567890]}",
                                true, &b, &err), 0);
    assert_int_equal(b.n_params, 5);
    assert_int_equal(b.params[0].kind, CLOVE_PARAM_INT);
    assert_true(b.params[0].i == INT64_MAX);
    assert_int_equal(b.params[1].kind, CLOVE_PARAM_INT);
    assert_true(b.params[1].i == INT64_MIN);
    assert_int_equal(b.params[2].kind, CLOVE_PARAM_STRING);
    assert_string_equal(b.params[2].s, "9223372036854775808");
    assert_int_equal(b.params[3].kind, CLOVE_PARAM_STRING);
    assert_string_equal(b.params[3].s, "-99999999999999999999999");
    assert_string_equal(b.params[4].s, "123456789012345678901234567890");
    /* the SQL is untouched by the rewrite even when it holds digits */
    assert_string_equal(b.sql, "SELECT $1, $2, $3, $4, $5");
    clove_http_sql_body_dispose(&b);

    /* a big integer in a string, and one next to a decimal, stay as written */
    assert_int_equal(parse_body("{\"sql\":\"SELECT 99999999999999999999\",\"parameters\":"
                                "{\"a\":99999999999999999999,\"b\":1.5e3}}", true, &b, &err), 0);
    assert_string_equal(b.sql, "SELECT 99999999999999999999");
    assert_string_equal(b.params[0].s, "99999999999999999999");
    assert_int_equal(b.params[1].kind, CLOVE_PARAM_DOUBLE);
    assert_true(b.params[1].d == 1500.0);
    clove_http_sql_body_dispose(&b);
}

static void test_quote_bigints(void **state)
{
    const char *in = "[1, -2, 12345678901234567890, \"99999999999999999999\", 1.5, -0, "
                     "-9223372036854775809, 00000000000000000000001]";
    clove_buf_t out;
    clove_buf_init(&out);
    clove_http_json_quote_bigints(in, strlen(in), &out);
    assert_string_equal(out.data, "[1, -2, \"12345678901234567890\", \"99999999999999999999\", "
                                  "1.5, -0, \"-9223372036854775809\", 00000000000000000000001]");
    clove_buf_dispose(&out);
}

static void test_body_json_errors(void **state)
{
    clove_http_sql_body_t b;
    clove_err_t err;

    assert_int_equal(parse_body("{\"sql\": \"SELECT 1\",\n \"parameters\": [1,}", true, &b, &err),
                     CLOVE_EINVAL);
    assert_non_null(strstr(err.message, "invalid JSON"));
    assert_non_null(strstr(err.message, "line 2"));
    assert_non_null(strstr(err.message, "column"));
    clove_http_sql_body_dispose(&b);

    assert_int_equal(parse_body("{\"parameters\": [1]}", true, &b, &err), CLOVE_EINVAL);
    assert_non_null(strstr(err.message, "no \"sql\" key"));
    clove_http_sql_body_dispose(&b);

    assert_int_equal(parse_body("{\"sql\": 42}", true, &b, &err), CLOVE_EINVAL);
    assert_non_null(strstr(err.message, "\"sql\" in the JSON request body is an integer"));
    clove_http_sql_body_dispose(&b);

    assert_int_equal(parse_body("{\"sql\": \"  \"}", true, &b, &err), CLOVE_EINVAL);
    assert_non_null(strstr(err.message, "empty"));
    clove_http_sql_body_dispose(&b);

    assert_int_equal(parse_body("{\"sql\":\"SELECT $1\",\"parameters\":[[1,2]]}", true, &b, &err),
                     CLOVE_EINVAL);
    assert_non_null(strstr(err.message, "parameter $1 is an array"));
    clove_http_sql_body_dispose(&b);

    assert_int_equal(parse_body("{\"sql\":\"SELECT :a\",\"parameters\":{\"a\":{\"b\":1}}}", true,
                                &b, &err), CLOVE_EINVAL);
    assert_non_null(strstr(err.message, "parameter \"a\" is an object"));
    clove_http_sql_body_dispose(&b);

    assert_int_equal(parse_body("{\"sql\":\"SELECT 1\",\"parameters\":\"x\"}", true, &b, &err),
                     CLOVE_EINVAL);
    assert_non_null(strstr(err.message, "\"parameters\" is a string"));
    clove_http_sql_body_dispose(&b);

    assert_int_equal(parse_body("{\"sql\":\"SELECT 1\",\"sql\":\"SELECT 2\"}", true, &b, &err),
                     CLOVE_EINVAL);
    assert_non_null(strstr(err.message, "duplicate"));
    clove_http_sql_body_dispose(&b);

    assert_int_equal(parse_body("{\"sql\":\"SELECT $1\",\"parameters\":[1e999]}", true, &b, &err),
                     CLOVE_EINVAL);
    assert_non_null(strstr(err.message, "invalid JSON"));
    clove_http_sql_body_dispose(&b);

    assert_int_equal(parse_body("{\"sql\":\"SELECT '\\u0000'\"}", true, &b, &err), CLOVE_EINVAL);
    clove_http_sql_body_dispose(&b);
}

static void test_utf8(void **state)
{
    size_t at = 99;
    assert_true(clove_http_utf8_valid("abc \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 15, &at));
    assert_false(clove_http_utf8_valid("\xc0\xaf", 2, &at));          /* overlong '/' */
    assert_int_equal(at, 0);
    assert_false(clove_http_utf8_valid("ab\xed\xa0\x80", 5, &at));    /* surrogate */
    assert_int_equal(at, 2);
    assert_false(clove_http_utf8_valid("a\xe2\x82", 3, &at));         /* truncated */
    assert_int_equal(at, 1);
    assert_false(clove_http_utf8_valid("\xf4\x90\x80\x80", 4, &at));  /* > U+10FFFF */
    assert_false(clove_http_utf8_valid("\x80", 1, &at));
}

/* ---- listing helpers ----------------------------------------------------------------------- */

static void test_listing_helpers(void **state)
{
    bool v = false;
    assert_int_equal(clove_http_parse_bool_arg("true", &v), 0);
    assert_true(v);
    assert_int_equal(clove_http_parse_bool_arg("false", &v), 0);
    assert_false(v);
    assert_int_equal(clove_http_parse_bool_arg(NULL, &v), 0);
    assert_true(v);
    assert_int_equal(clove_http_parse_bool_arg("yes", &v), CLOVE_EINVAL);

    char src[32];
    clove_http_dataset_source("postgres:public.orders", src, sizeof src);
    assert_string_equal(src, "postgres");
    clove_http_dataset_source("s3://bucket/x.parquet", src, sizeof src);
    assert_string_equal(src, "s3");
    clove_http_dataset_source("file:data/trips.parquet", src, sizeof src);
    assert_string_equal(src, "file");
    clove_http_dataset_source("taxi", src, sizeof src);
    assert_string_equal(src, "spice.ai");
    clove_http_dataset_source("", src, sizeof src);
    assert_string_equal(src, "sink");

    assert_string_equal(clove_http_error_type("could not connect to PostgreSQL at \"db\": "
                                              "password authentication failed"), "auth");
    assert_string_equal(clove_http_error_type("Connection refused"), "connection");
    assert_string_equal(clove_http_error_type("query timed out"), "timeout");
    assert_string_equal(clove_http_error_type("file does not exist"), "not_found");
    assert_string_equal(clove_http_error_type("boom"), "unknown");
    assert_string_equal(clove_http_error_type(NULL), "unknown");

    clove_buf_t b;
    clove_buf_init(&b);
    clove_http_csv_field(&b, "plain");
    clove_buf_putc(&b, '|');
    clove_http_csv_field(&b, "a,b");
    clove_buf_putc(&b, '|');
    clove_http_csv_field(&b, "say \"hi\"\n");
    assert_string_equal(b.data, "plain|\"a,b\"|\"say \"\"hi\"\"\n\"");
    clove_buf_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_addr),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_route_names),
        cmocka_unit_test(test_url_decode),
        cmocka_unit_test(test_method_label),
        cmocka_unit_test(test_body_text),
        cmocka_unit_test(test_body_empty_and_bad_bytes),
        cmocka_unit_test(test_body_json_positional),
        cmocka_unit_test(test_body_json_named),
        cmocka_unit_test(test_body_json_big_integers),
        cmocka_unit_test(test_quote_bigints),
        cmocka_unit_test(test_body_json_errors),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_listing_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
