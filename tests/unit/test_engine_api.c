/*
 * Unit tests for the engine entry points Flight builds on: clove_engine_describe (result
 * columns and parameters of a statement, learned by preparing it: nothing executes, the
 * sandbox and the readiness gate apply) and typed parameters of clove_engine_query.
 * A real engine over a spicepod written to a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>

#include <cmocka.h>

#include "engine/engine.h"

static char g_dir[64];
static clove_config_t *g_cfg;
static clove_engine_t *g_engine;

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/clove-unit-engine-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    write_file("nums.csv", "id,name\n1,a\n2,b\n3,c\n");
    write_file("spicepod.yaml",
               "version: v1\nkind: Spicepod\nname: engine_api\ndatasets:\n"
               "  - from: file:nums.csv\n    name: nums\n    acceleration:\n      enabled: true\n");
    clove_config_diags_t diags = {0};
    g_cfg = clove_config_load(g_dir, NULL, 0, &diags);
    for (size_t i = 0; i < diags.len; i++) fprintf(stderr, "%s\n", diags.items[i].message);
    clove_config_diags_dispose(&diags);
    if (!g_cfg) return -1;
    clove_err_t err;
    clove_err_clear(&err);
    g_engine = clove_engine_create(g_cfg, NULL, &err);
    if (!g_engine) {
        fprintf(stderr, "engine: %s\n", err.message);
        return -1;
    }
    clove_engine_start(g_engine);
    for (int i = 0; i < 600 && !clove_engine_ready(g_engine); i++) poll(NULL, 0, 20);
    return clove_engine_ready(g_engine) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    clove_engine_begin_shutdown(g_engine);
    clove_engine_drain(g_engine, 5000);
    clove_engine_destroy(g_engine);
    clove_config_unref(g_cfg);
    clove_metrics_reset();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- describe ----------------------------------------------------------------------------- */

typedef struct {
    int calls;
    idx_t ncols, nparams;
    char names[4][32];
    duckdb_type types[4];
    duckdb_type ptypes[4]; /* DUCKDB_TYPE_INVALID where unknown */
    bool had_conn;
} desc_seen_t;

static int record_cb(void *ud, duckdb_connection conn, const clove_query_desc_t *d,
                     clove_err_t *err)
{
    (void)err;
    desc_seen_t *s = ud;
    s->calls++;
    s->had_conn = conn != NULL;
    s->ncols = d->ncols;
    s->nparams = d->nparams;
    for (idx_t i = 0; i < d->ncols && i < 4; i++) {
        snprintf(s->names[i], sizeof s->names[i], "%s", d->names[i]);
        s->types[i] = duckdb_get_type_id(d->types[i]);
    }
    for (idx_t i = 0; i < d->nparams && i < 4; i++)
        s->ptypes[i] = d->param_types[i] ? duckdb_get_type_id(d->param_types[i])
                                         : DUCKDB_TYPE_INVALID;
    return 0;
}

static double executions(void)
{
    clove_buf_t b;
    clove_buf_init(&b);
    clove_metrics_render(&b);
    double v = 0;
    const char *p = b.data ? strstr(b.data, "\nquery_executions_total ") : NULL;
    if (p) v = strtod(p + strlen("\nquery_executions_total "), NULL);
    clove_buf_dispose(&b);
    return v;
}

static int describe(const char *sql, desc_seen_t *s, clove_err_t *err)
{
    memset(s, 0, sizeof *s);
    clove_err_clear(err);
    clove_query_req_t req = {.sql = sql, .client_fd = -1};
    return clove_engine_describe(g_engine, &req, record_cb, s, err);
}

static void test_describe_columns_without_executing(void **state)
{
    (void)state;
    desc_seen_t s;
    clove_err_t err;
    double before = executions();
    /* error() would fail the statement if it ran */
    assert_int_equal(describe("SELECT id, name, error('executed')::DOUBLE AS boom FROM nums",
                              &s, &err), 0);
    assert_int_equal(s.calls, 1);
    assert_true(s.had_conn);
    assert_int_equal(s.ncols, 3);
    assert_string_equal(s.names[0], "id");
    assert_string_equal(s.names[1], "name");
    assert_string_equal(s.names[2], "boom");
    assert_int_equal(s.types[0], DUCKDB_TYPE_BIGINT);
    assert_int_equal(s.types[1], DUCKDB_TYPE_VARCHAR);
    assert_int_equal(s.types[2], DUCKDB_TYPE_DOUBLE);
    assert_int_equal(s.nparams, 0);
    assert_true(executions() == before);

    /* the same statement run as a query does execute and fail */
    clove_query_req_t req = {.sql = "SELECT id, name, error('executed')::DOUBLE AS boom FROM nums",
                             .client_fd = -1};
    clove_query_t *q = clove_engine_query(g_engine, &req, &err);
    int rc = 0;
    if (q) {
        duckdb_data_chunk c = NULL;
        while ((rc = clove_query_next(q, &c, &err)) > 0) duckdb_destroy_data_chunk(&c);
        clove_query_end(q);
    }
    assert_true(!q || rc < 0);
    assert_non_null(strstr(err.message, "executed"));
    assert_true(executions() == before + 1);
}

static void test_describe_parameters(void **state)
{
    (void)state;
    desc_seen_t s;
    clove_err_t err;
    assert_int_equal(describe("SELECT name FROM nums WHERE id = ? AND name <> ?::VARCHAR", &s,
                              &err), 0);
    assert_int_equal(s.nparams, 2);
    assert_int_equal(s.ptypes[0], DUCKDB_TYPE_BIGINT);
    assert_int_equal(s.ptypes[1], DUCKDB_TYPE_VARCHAR);
    assert_int_equal(s.ncols, 1);
}

static void test_describe_errors(void **state)
{
    (void)state;
    desc_seen_t s;
    clove_err_t err;
    assert_int_equal(describe("SELECT * FROM read_csv('/etc/passwd')", &s, &err), CLOVE_EPERM);
    assert_int_equal(s.calls, 0);
    assert_int_equal(describe("SELEC 1", &s, &err), CLOVE_EQUERY);
    assert_non_null(strstr(err.message, "syntax error"));
    assert_int_equal(describe("SELECT * FROM no_such_table", &s, &err), CLOVE_EQUERY);
    assert_non_null(strstr(err.message, "no_such_table"));
    assert_int_equal(s.calls, 0);
}

static int failing_cb(void *ud, duckdb_connection conn, const clove_query_desc_t *d,
                      clove_err_t *err)
{
    (void)ud;
    (void)conn;
    (void)d;
    return clove_err_set(err, CLOVE_EUNSUPPORTED, "callback says no");
}

static void test_describe_callback_error(void **state)
{
    (void)state;
    clove_err_t err;
    clove_err_clear(&err);
    clove_query_req_t req = {.sql = "SELECT 1", .client_fd = -1};
    assert_int_equal(clove_engine_describe(g_engine, &req, failing_cb, NULL, &err),
                     CLOVE_EUNSUPPORTED);
    assert_string_equal(err.message, "callback says no");
    /* the connection went back to the pool: queries still run */
    clove_query_t *q = clove_engine_query(g_engine, &req, &err);
    assert_non_null(q);
    clove_query_end(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_describe_columns_without_executing),
        cmocka_unit_test(test_describe_parameters),
        cmocka_unit_test(test_describe_errors),
        cmocka_unit_test(test_describe_callback_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
