/*
 * test_config: the Spicepod loader. Each test writes a spicepod (and .env files) into a
 * private temporary directory, loads it, and checks the values, the exact diagnostics with
 * their line:col, secret expansion and redaction, and --set-runtime overrides.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"

static char g_dir[256];

/* ---- helpers --------------------------------------------------------------------------- */

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static void remove_file(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    unlink(path);
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int group_setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/clove_test_config_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return nftw(g_dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

/* Every test starts from an empty directory. */
static int test_teardown(void **state)
{
    (void)state;
    static const char *const files[] = {
        "spicepod.yaml", "spicepod.yml", ".env", ".env.local", "custom.env", "my-pod.yaml", NULL,
    };
    for (size_t i = 0; files[i]; i++) remove_file(files[i]);
    return 0;
}

static clove_config_t *load_ov(const char *yaml, const char *const *ov, size_t n,
                               clove_config_diags_t *d)
{
    write_file("spicepod.yaml", yaml);
    memset(d, 0, sizeof *d);
    return clove_config_load(g_dir, ov, n, d);
}

static clove_config_t *load(const char *yaml, clove_config_diags_t *d)
{
    return load_ov(yaml, NULL, 0, d);
}

static void print_diags(const clove_config_diags_t *d)
{
    for (size_t i = 0; i < d->len; i++)
        fprintf(stderr, "  diag[%zu] %s: %s\n", i, d->items[i].warning ? "warning" : "error",
                d->items[i].message);
}

/* Asserts the diagnostics are exactly `expected` (NULL-terminated), in order. Entries
 * starting with "W " are warnings, the rest errors. */
static void assert_diags(const clove_config_diags_t *d, const char *const *expected)
{
    size_t n = 0, errors = 0;
    while (expected[n]) n++;
    if (d->len != n) print_diags(d);
    assert_int_equal(d->len, n);
    for (size_t i = 0; i < n; i++) {
        bool warning = strncmp(expected[i], "W ", 2) == 0;
        const char *msg = warning ? expected[i] + 2 : expected[i];
        if (strcmp(d->items[i].message, msg) != 0) print_diags(d);
        assert_string_equal(d->items[i].message, msg);
        assert_int_equal(d->items[i].warning, warning);
        if (!warning) errors++;
    }
    assert_int_equal(d->n_errors, errors);
}

/* Loads a pod that must fail with exactly this one error. */
static void expect_error(const char *yaml, const char *message)
{
    clove_config_diags_t d;
    clove_config_t *c = load(yaml, &d);
    assert_null(c);
    const char *const expected[] = {message, NULL};
    assert_diags(&d, expected);
    clove_config_diags_dispose(&d);
}

static bool any_diag_contains(const clove_config_diags_t *d, const char *needle)
{
    for (size_t i = 0; i < d->len; i++)
        if (strstr(d->items[i].message, needle)) return true;
    return false;
}

#define HEAD "version: v1\nkind: Spicepod\nname: p\n"
/* lines 1-6; the dataset mapping starts at 5:5 */
#define ONE_DS HEAD "datasets:\n  - from: file:x.csv\n    name: t\n"

/* ---- valid pods ------------------------------------------------------------------------ */

static const char k_full_pod[] =
    "version: v1\n"
    "kind: Spicepod\n"
    "name: full_pod\n"
    "secrets:\n"
    "  - from: env\n"
    "    name: env\n"
    "runtime:\n"
    "  results_cache:\n"
    "    enabled: true\n"
    "    cache_max_size: 256MiB\n"
    "    item_ttl: 30s\n"
    "    eviction_policy: tiny_lfu\n"
    "  dataset_load_parallelism: 3\n"
    "  shutdown_timeout: 1m\n"
    "  tls:\n"
    "    enabled: true\n"
    "    certificate_file: /etc/clove/cert.pem\n"
    "    key_file: /etc/clove/key.pem\n"
    "  auth:\n"
    "    api-key:\n"
    "      enabled: true\n"
    "      keys:\n"
    "        - plainkey\n"
    "        - rokey:ro\n"
    "        - rwkey:rw\n"
    "  query:\n"
    "    timeout: 45s\n"
    "    max_concurrent_queries: 7\n"
    "    memory_limit: 2GiB\n"
    "    temp_directory: /tmp/clove-spill\n"
    "  flight:\n"
    "    max_message_size: 64MiB\n"
    "  params:\n"
    "    http_max_concurrent_requests: 10\n"
    "  ready_state: on_registration\n"
    "snapshots:\n"
    "  enabled: true\n"
    "  location: s3://bucket/snapshots/\n"
    "  bootstrap_on_failure_behavior: fallback\n"
    "  params:\n"
    "    s3_region: us-east-1\n"
    "datasets:\n"
    "  - from: postgres:public.orders\n"
    "    name: orders\n"
    "    description: All orders\n"
    "    params:\n"
    "      pg_host: localhost\n"
    "      pg_port: 5432\n"
    "      ratio: 1.5\n"
    "      flag: true\n"
    "    time_column: created_at\n"
    "    time_format: timestamptz\n"
    "    ready_state: on_registration\n"
    "    access: read_write\n"
    "    acceleration:\n"
    "      enabled: true\n"
    "      engine: duckdb\n"
    "      mode: file\n"
    "      refresh_mode: append\n"
    "      refresh_check_interval: 10m\n"
    "      refresh_sql: SELECT * FROM orders WHERE region = 'eu'\n"
    "      refresh_data_window: 1d\n"
    "      refresh_append_overlap: 5m\n"
    "      refresh_retry_enabled: false\n"
    "      refresh_retry_max_attempts: 5\n"
    "      refresh_jitter_enabled: true\n"
    "      refresh_jitter_max: 30s\n"
    "      refresh_on_startup: always\n"
    "      primary_key: id\n"
    "      on_conflict:\n"
    "        id: upsert\n"
    "      indexes:\n"
    "        customer_id: enabled\n"
    "        '(region, created_at)': unique\n"
    "      retention_check_enabled: true\n"
    "      retention_period: 30d\n"
    "      retention_check_interval: 1h\n"
    "      retention_sql: DELETE FROM orders WHERE status = 'void'\n"
    "      on_zero_results: use_source\n"
    "      params:\n"
    "        duckdb_file: /data/orders.db\n"
    "      snapshots: enabled\n"
    "      snapshots_trigger: time_interval\n"
    "      snapshots_trigger_threshold: 15m\n"
    "      snapshots_creation_policy: always\n"
    "      snapshots_compaction: enabled\n"
    "      snapshots_reset_expiry_on_load: enabled\n"
    "  - from: file:data/events.csv\n"
    "    name: events\n"
    "    acceleration:\n"
    "      engine: sqlite\n"
    "      mode: file_create\n"
    "      refresh_cron: \"*/5 * * * *\"\n"
    "      params:\n"
    "        sqlite_file: events.sqlite\n"
    "views:\n"
    "  - name: eu_orders\n"
    "    description: Orders in the EU\n"
    "    sql: SELECT * FROM orders WHERE region = 'eu'\n";

static void test_valid_v1_every_key(void **state)
{
    (void)state;
    clove_config_diags_t d;
    clove_config_t *c = load(k_full_pod, &d);
    if (!c) print_diags(&d);
    assert_non_null(c);
    assert_int_equal(d.len, 0);
    assert_int_equal(c->refcount, 1);
    assert_string_equal(c->version, "v1");
    assert_string_equal(c->name, "full_pod");
    char *expect_path = NULL;
    char *real = realpath(g_dir, NULL);
    assert_non_null(real);
    assert_true(asprintf(&expect_path, "%s/spicepod.yaml", real) > 0);
    assert_string_equal(c->path, expect_path);
    assert_string_equal(c->dir, real);
    free(expect_path);
    free(real);

    const clove_runtime_cfg_t *rt = &c->runtime;
    assert_true(rt->results_cache_enabled);
    assert_int_equal(rt->results_cache_max_size, 256ull << 20);
    assert_int_equal(rt->results_cache_item_ttl_ms, 30000);
    assert_string_equal(rt->results_cache_eviction_policy, "tiny_lfu");
    assert_int_equal(rt->dataset_load_parallelism, 3);
    assert_int_equal(rt->shutdown_timeout_ms, 60000);
    assert_true(rt->tls_enabled);
    assert_string_equal(rt->tls_certificate_file, "/etc/clove/cert.pem");
    assert_string_equal(rt->tls_key_file, "/etc/clove/key.pem");
    assert_null(rt->tls_certificate);
    assert_true(rt->auth_enabled);
    assert_int_equal(rt->n_api_keys, 3);
    assert_string_equal(rt->api_keys[0].key, "plainkey");
    assert_true(rt->api_keys[0].read_only);
    assert_false(rt->api_keys[0].read_write);
    assert_string_equal(rt->api_keys[1].key, "rokey");
    assert_true(rt->api_keys[1].read_only);
    assert_string_equal(rt->api_keys[2].key, "rwkey");
    assert_true(rt->api_keys[2].read_write);
    assert_false(rt->api_keys[2].read_only);
    assert_int_equal(rt->query_timeout_ms, 45000);
    assert_int_equal(rt->max_concurrent_queries, 7);
    assert_int_equal(rt->query_memory_limit, 2ull << 30);
    assert_string_equal(rt->query_temp_directory, "/tmp/clove-spill");
    assert_int_equal(rt->flight_max_message_size, 64ull << 20);
    assert_int_equal(rt->max_request_body, 128ull << 20);
    assert_string_equal(clove_kv_get(&rt->params, "http_max_concurrent_requests"), "10");
    assert_int_equal(rt->ready_state, CLOVE_READY_ON_REGISTRATION);

    assert_true(c->snapshots.configured);
    assert_true(c->snapshots.enabled);
    assert_string_equal(c->snapshots.location, "s3://bucket/snapshots/");
    assert_int_equal(c->snapshots.bootstrap_on_failure_behavior, CLOVE_SNAPSHOT_FAIL_FALLBACK);
    assert_string_equal(clove_kv_get(&c->snapshots.params, "s3_region"), "us-east-1");

    assert_int_equal(c->n_datasets, 2);
    const clove_dataset_cfg_t *o = &c->datasets[0];
    assert_string_equal(o->from, "postgres:public.orders");
    assert_string_equal(o->name, "orders");
    assert_string_equal(o->description, "All orders");
    assert_int_equal(o->params.len, 4);
    assert_string_equal(o->params.items[0].key, "pg_host");
    assert_string_equal(o->params.items[0].value, "localhost");
    assert_string_equal(clove_kv_get(&o->params, "pg_port"), "5432");
    assert_string_equal(clove_kv_get(&o->params, "ratio"), "1.5");
    assert_string_equal(clove_kv_get(&o->params, "flag"), "true");
    assert_false(o->params.items[0].secret);
    assert_string_equal(o->time_column, "created_at");
    assert_string_equal(o->time_format, "timestamptz");
    assert_int_equal(o->ready_state, CLOVE_READY_ON_REGISTRATION);
    assert_string_equal(o->access, "read_write");
    assert_int_equal(o->line, 43);
    assert_int_equal(o->col, 5);
    const clove_accel_cfg_t *a = &o->acceleration;
    assert_true(a->configured);
    assert_true(a->enabled);
    assert_int_equal(a->engine, CLOVE_ENGINE_DUCKDB);
    assert_int_equal(a->mode, CLOVE_MODE_FILE);
    assert_int_equal(a->refresh_mode, CLOVE_REFRESH_APPEND);
    assert_int_equal(a->refresh_check_interval_ms, 600000);
    assert_null(a->refresh_cron);
    assert_string_equal(a->refresh_sql, "SELECT * FROM orders WHERE region = 'eu'");
    assert_int_equal(a->refresh_data_window_ms, 86400000);
    assert_int_equal(a->refresh_append_overlap_ms, 300000);
    assert_false(a->refresh_retry_enabled);
    assert_int_equal(a->refresh_retry_max_attempts, 5);
    assert_true(a->refresh_jitter_enabled);
    assert_int_equal(a->refresh_jitter_max_ms, 30000);
    assert_string_equal(a->refresh_on_startup, "always");
    assert_string_equal(a->primary_key, "id");
    assert_int_equal(a->on_conflict.len, 1);
    assert_string_equal(clove_kv_get(&a->on_conflict, "id"), "upsert");
    assert_int_equal(a->indexes.len, 2);
    assert_string_equal(clove_kv_get(&a->indexes, "customer_id"), "enabled");
    assert_string_equal(clove_kv_get(&a->indexes, "(region, created_at)"), "unique");
    assert_true(a->retention_check_enabled);
    assert_int_equal(a->retention_period_ms, 30LL * 86400000);
    assert_int_equal(a->retention_check_interval_ms, 3600000);
    assert_string_equal(a->retention_sql, "DELETE FROM orders WHERE status = 'void'");
    assert_int_equal(a->on_zero_results, CLOVE_ZERO_USE_SOURCE);
    assert_string_equal(clove_kv_get(&a->params, "duckdb_file"), "/data/orders.db");
    assert_string_equal(a->snapshots, "enabled");
    assert_string_equal(a->snapshots_trigger, "time_interval");
    assert_int_equal(a->snapshots_trigger_interval_ms, 900000);
    assert_string_equal(a->snapshots_creation_policy, "always");
    assert_true(a->snapshots_compaction);
    assert_true(a->snapshots_reset_expiry_on_load);

    const clove_dataset_cfg_t *e = &c->datasets[1];
    assert_string_equal(e->name, "events");
    assert_int_equal(e->acceleration.engine, CLOVE_ENGINE_SQLITE);
    assert_int_equal(e->acceleration.mode, CLOVE_MODE_FILE_CREATE);
    assert_string_equal(e->acceleration.refresh_cron, "*/5 * * * *");
    assert_int_equal(e->acceleration.refresh_check_interval_ms, 0);
    assert_true(e->acceleration.enabled);
    assert_string_equal(e->access, "read");
    assert_null(e->acceleration.snapshots);

    assert_int_equal(c->n_views, 1);
    assert_string_equal(c->views[0].name, "eu_orders");
    assert_string_equal(c->views[0].description, "Orders in the EU");
    assert_string_equal(c->views[0].sql, "SELECT * FROM orders WHERE region = 'eu'");
    assert_int_equal(c->views[0].line, 97);

    assert_ptr_equal(clove_config_dataset(c, "ORDERS"), &c->datasets[0]);
    assert_ptr_equal(clove_config_dataset(c, "events"), &c->datasets[1]);
    assert_null(clove_config_dataset(c, "nope"));
    assert_non_null(c->redacted_json);
    clove_config_unref(c);
    clove_config_diags_dispose(&d);
}

static void test_valid_v2_defaults_yml(void **state)
{
    (void)state;
    write_file("spicepod.yml", "version: v2\nkind: Spicepod\nname: small\ndatasets:\n"
               "  - from: file:data.parquet\n    name: t\n"
               "  - from: file:data.parquet\n    name: acc\n    acceleration:\n"
               "      refresh_check_interval: 1h\n      refresh_jitter_enabled: true\n");
    clove_config_diags_t d = {0};
    clove_config_t *c = clove_config_load(g_dir, NULL, 0, &d);
    if (!c) print_diags(&d);
    assert_non_null(c);
    assert_int_equal(d.len, 0);
    assert_string_equal(c->version, "v2");
    assert_non_null(strstr(c->path, "/spicepod.yml"));

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const clove_runtime_cfg_t *rt = &c->runtime;
    assert_int_equal(rt->max_concurrent_queries, 4 * (cpus < 1 ? 1 : cpus));
    assert_int_equal(rt->shutdown_timeout_ms, 30000);
    assert_int_equal(rt->max_request_body, 128ull << 20);
    assert_int_equal(rt->flight_max_message_size, 100ull << 20);
    assert_int_equal(rt->query_timeout_ms, 0);
    assert_int_equal(rt->query_memory_limit, 0);
    assert_false(rt->auth_enabled);
    assert_int_equal(rt->n_api_keys, 0);
    assert_false(rt->tls_enabled);
    assert_true(rt->results_cache_enabled);
    assert_int_equal(rt->results_cache_max_size, 128ull << 20);
    assert_int_equal(rt->results_cache_item_ttl_ms, 1000);
    assert_false(c->snapshots.configured);

    const clove_dataset_cfg_t *t = &c->datasets[0];
    assert_int_equal(t->ready_state, CLOVE_READY_ON_LOAD);
    assert_string_equal(t->access, "read");
    assert_null(t->description);
    assert_int_equal(t->params.len, 0);
    assert_false(t->acceleration.configured);
    assert_false(t->acceleration.enabled);

    const clove_accel_cfg_t *a = &c->datasets[1].acceleration;
    assert_true(a->configured);
    assert_true(a->enabled);
    assert_int_equal(a->engine, CLOVE_ENGINE_ARROW);
    assert_int_equal(a->mode, CLOVE_MODE_MEMORY);
    assert_int_equal(a->refresh_mode, CLOVE_REFRESH_FULL);
    assert_true(a->refresh_retry_enabled);
    assert_int_equal(a->refresh_retry_max_attempts, -1);
    assert_int_equal(a->on_zero_results, CLOVE_ZERO_RETURN_EMPTY);
    assert_string_equal(a->refresh_on_startup, "auto");
    assert_int_equal(a->refresh_check_interval_ms, 3600000);
    assert_int_equal(a->refresh_jitter_max_ms, 360000); /* 10% of the interval */
    assert_false(a->retention_check_enabled);
    assert_null(a->primary_key);
    clove_config_unref(c);
    clove_config_diags_dispose(&d);
}

static void test_versions(void **state)
{
    (void)state;
    static const char *const ok[] = {"v1", "v2", "v2.0", "v2.0.0", "v2.0.0-rc.1", NULL};
    for (size_t i = 0; ok[i]; i++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml, "version: %s\nkind: Spicepod\nname: p\n", ok[i]);
        clove_config_diags_t d;
        clove_config_t *c = load(yaml, &d);
        assert_non_null(c);
        assert_string_equal(c->version, ok[i]);
        assert_int_equal(c->n_datasets, 0);
        clove_config_unref(c);
        clove_config_diags_dispose(&d);
    }
    expect_error("version: v3\nkind: Spicepod\nname: p\n",
                 "spicepod.yaml:1:10: version: expected one of v1, v2; got \"v3\"");
    expect_error("version: v1beta1\nkind: Spicepod\nname: p\n",
                 "spicepod.yaml:1:10: version: expected one of v1, v2; got \"v1beta1\"");
    expect_error("version: v1\nkind: Pod\nname: p\n",
                 "spicepod.yaml:2:7: kind: expected \"Spicepod\"; got \"Pod\"");
}

static void test_file_path_and_missing(void **state)
{
    (void)state;
    write_file("my-pod.yaml", "version: v1\nkind: Spicepod\nname: p\nbogus: 1\n");
    char path[512];
    snprintf(path, sizeof path, "%s/my-pod.yaml", g_dir);
    clove_config_diags_t d = {0};
    assert_null(clove_config_load(path, NULL, 0, &d));
    const char *const e1[] = {"my-pod.yaml:4:1: bogus: unknown key", NULL};
    assert_diags(&d, e1);
    clove_config_diags_dispose(&d);

    snprintf(path, sizeof path, "%s/nothere.yaml", g_dir);
    assert_null(clove_config_load(path, NULL, 0, &d));
    char msg[700];
    snprintf(msg, sizeof msg, "could not open spicepod \"%s\": no such file or directory", path);
    const char *const e2[] = {msg, NULL};
    assert_diags(&d, e2);
    clove_config_diags_dispose(&d);

    assert_null(clove_config_load(g_dir, NULL, 0, &d));
    snprintf(msg, sizeof msg, "no spicepod.yaml or spicepod.yml in directory \"%s\"", g_dir);
    const char *const e3[] = {msg, NULL};
    assert_diags(&d, e3);
    clove_config_diags_dispose(&d);
}

/* ---- errors ---------------------------------------------------------------------------- */

static void test_yaml_errors(void **state)
{
    (void)state;
    expect_error(HEAD "datasets:\n  - from: a\n    name: [b\n",
                 "spicepod.yaml:7:1: could not parse YAML: did not find expected ',' or ']' "
                 "while parsing a flow sequence (line 6, column 11)");
    expect_error(HEAD "  bad: indent\n",
                 "spicepod.yaml:4:6: could not parse YAML: mapping values are not allowed in "
                 "this context");
    expect_error("", "spicepod.yaml:1:1: the file is empty; expected a Spicepod (version, kind, "
                 "name, datasets, ...)");
    expect_error(HEAD "---\nname: q\n",
                 "spicepod.yaml:5:1: a spicepod holds one YAML document; found a second one "
                 "here");
    expect_error("- a\n", "spicepod.yaml:1:1: expected a mapping; got a sequence");
    expect_error(HEAD "name: q\n",
                 "spicepod.yaml:4:1: name: duplicate key (first defined at line 3)");
}

static void test_each_error_kind(void **state)
{
    (void)state;
    expect_error(ONE_DS "    acceleration:\n      engine: duck\n",
                 "spicepod.yaml:8:15: datasets[0].acceleration.engine: expected one of arrow, "
                 "duckdb, sqlite; got \"duck\"");
    expect_error(ONE_DS "    acceleration:\n      engine: postgres\n",
                 "spicepod.yaml:8:15: datasets[0].acceleration.engine: acceleration engine "
                 "\"postgres\" is not supported by clove yet; use arrow, duckdb or sqlite");
    expect_error(ONE_DS "    form: x\n",
                 "spicepod.yaml:7:5: datasets[0].form: unknown key; did you mean \"from\"?");
    expect_error(ONE_DS "    zzz_unknown: x\n",
                 "spicepod.yaml:7:5: datasets[0].zzz_unknown: unknown key");
    expect_error(ONE_DS "    acceleration:\n      enabled: yes\n",
                 "spicepod.yaml:8:16: datasets[0].acceleration.enabled: expected a boolean "
                 "(true or false); got \"yes\"");
    expect_error(ONE_DS "    acceleration:\n      refresh_retry_max_attempts: many\n",
                 "spicepod.yaml:8:35: datasets[0].acceleration.refresh_retry_max_attempts: "
                 "expected an integer; got \"many\"");
    expect_error(ONE_DS "    acceleration:\n      refresh_retry_max_attempts: -2\n",
                 "spicepod.yaml:8:35: datasets[0].acceleration.refresh_retry_max_attempts: "
                 "expected an integer of at least 0; got \"-2\"");
    expect_error(ONE_DS "    acceleration:\n      mode: disk\n",
                 "spicepod.yaml:8:13: datasets[0].acceleration.mode: expected one of memory, "
                 "file, file_create, file_update; got \"disk\"");
    expect_error(ONE_DS "    params: [a, b]\n",
                 "spicepod.yaml:7:13: datasets[0].params: expected a mapping; got a sequence");
    expect_error(ONE_DS "    params:\n      nested:\n        a: 1\n",
                 "spicepod.yaml:9:9: datasets[0].params.nested: expected a scalar value; got "
                 "a mapping");
    expect_error(ONE_DS "    time_format: epoch\n",
                 "spicepod.yaml:7:18: datasets[0].time_format: expected one of timestamp, "
                 "timestamptz, unix_seconds, unix_millis, ISO8601, date; got \"epoch\"");
    expect_error(HEAD "datasets:\n  - name: t\n",
                 "spicepod.yaml:5:5: datasets[0]: missing required key \"from\"");
    expect_error(HEAD "datasets:\n  - from: file:x.csv\n",
                 "spicepod.yaml:5:5: datasets[0]: missing required key \"name\"");
    expect_error(HEAD "datasets:\n  - from: file:x.csv\n    name: my-table\n",
                 "spicepod.yaml:6:11: datasets[0].name: invalid dataset name \"my-table\": use "
                 "letters, digits and underscores, not starting with a digit (schema.name and "
                 "\"Quoted\" parts are allowed)");
    expect_error(HEAD "datasets:\n  - from: file:x.csv\n    name: Table\n",
                 "spicepod.yaml:6:11: datasets[0].name: dataset name \"Table\" is a reserved SQL "
                 "keyword");
    expect_error(ONE_DS "  - from: file:y.csv\n    name: T\n",
                 "spicepod.yaml:8:11: datasets[1].name: duplicate dataset name \"T\" "
                 "(datasets[0] at line 5 has the same name; names are case-insensitive)");
    expect_error(ONE_DS "views:\n  - name: T\n    sql: select 1\n",
                 "spicepod.yaml:8:11: views[0].name: view name \"T\" is already used by "
                 "datasets[0] at line 5");
    expect_error(HEAD "views:\n  - name: v\n",
                 "spicepod.yaml:5:5: views[0]: missing required key \"sql\"");
    expect_error(HEAD "views:\n  - name: v\n    sql: select 1\n  - name: V\n    sql: select 2\n",
                 "spicepod.yaml:7:11: views[1].name: duplicate view name \"V\" (views[0] at line "
                 "5 has the same name; names are case-insensitive)");
    expect_error(ONE_DS "    params:\n      a: 1\n      a: 2\n",
                 "spicepod.yaml:9:7: datasets[0].params.a: duplicate key (first defined at line "
                 "8)");
    expect_error("kind: Spicepod\nname: p\n",
                 "spicepod.yaml:1:1: missing required key \"version\" (v1 or v2)");
    expect_error(HEAD "datasets: {a: 1}\n",
                 "spicepod.yaml:4:11: datasets: expected a sequence of datasets; got a mapping");
    expect_error(HEAD "runtime:\n  query:\n    memory_limit: lots\n",
                 "spicepod.yaml:6:19: runtime.query.memory_limit: expected a size like 512KiB, "
                 "128MiB or 4GiB; got \"lots\"");
    expect_error(HEAD "runtime:\n  auth:\n    api-key:\n      enabled: true\n",
                 "spicepod.yaml:7:7: runtime.auth.api-key: API key authentication is enabled "
                 "but no keys are listed");
    expect_error(HEAD "runtime:\n  tls:\n    enabled: true\n    key_file: k.pem\n",
                 "spicepod.yaml:6:5: runtime.tls: TLS is enabled but neither certificate nor "
                 "certificate_file is set");
    expect_error(HEAD "snapshots:\n  location: gs://bucket/x\n",
                 "spicepod.yaml:5:13: snapshots.location: expected an s3:// or file:// URL; got "
                 "\"gs://bucket/x\"");
    expect_error(HEAD "datasets:\n  - ref: datasets/x\n",
                 "spicepod.yaml:5:10: datasets[0].ref: dataset references are not supported by "
                 "clove yet; define the dataset inline");
}

static void test_cross_field_errors(void **state)
{
    (void)state;
    expect_error(ONE_DS "    acceleration:\n      refresh_check_interval: 10s\n"
                 "      refresh_cron: \"0 * * * *\"\n",
                 "spicepod.yaml:9:21: datasets[0].acceleration.refresh_cron: refresh_cron and "
                 "refresh_check_interval cannot be used together; choose one");
    expect_error(ONE_DS "    acceleration:\n      refresh_data_window: 1d\n",
                 "spicepod.yaml:8:28: datasets[0].acceleration.refresh_data_window: "
                 "refresh_data_window needs the dataset's time_column");
    expect_error(ONE_DS "    time_column: ts\n    acceleration:\n"
                 "      refresh_append_overlap: 1h\n",
                 "spicepod.yaml:9:31: datasets[0].acceleration.refresh_append_overlap: "
                 "refresh_append_overlap is only used with refresh_mode append");
    expect_error(ONE_DS "    acceleration:\n      refresh_mode: append\n"
                 "      refresh_append_overlap: 1h\n",
                 "spicepod.yaml:9:31: datasets[0].acceleration.refresh_append_overlap: "
                 "refresh_append_overlap needs the dataset's time_column");
    expect_error(ONE_DS "    time_column: ts\n    acceleration:\n"
                 "      retention_check_enabled: true\n      retention_check_interval: 1h\n",
                 "spicepod.yaml:9:32: datasets[0].acceleration.retention_check_enabled: "
                 "retention_check_enabled needs retention_period or retention_sql");
    expect_error(ONE_DS "    acceleration:\n      retention_check_enabled: true\n"
                 "      retention_sql: DELETE FROM t WHERE x\n",
                 "spicepod.yaml:8:32: datasets[0].acceleration.retention_check_enabled: "
                 "retention_check_enabled needs retention_check_interval");
    expect_error(ONE_DS "    acceleration:\n      mode: file\n",
                 "spicepod.yaml:8:13: datasets[0].acceleration.mode: mode file needs engine "
                 "duckdb or sqlite; the arrow engine keeps data in memory");
    expect_error(ONE_DS "    acceleration:\n      engine: duckdb\n      on_conflict:\n"
                 "        a: upsert\n        b: drop\n",
                 "spicepod.yaml:10:9: datasets[0].acceleration.on_conflict: only one on_conflict "
                 "target is allowed unless every target is drop");
    expect_error(ONE_DS "    acceleration:\n      engine: duckdb\n      mode: file\n"
                 "      snapshots: bootstrap_only\n",
                 "spicepod.yaml:10:18: datasets[0].acceleration.snapshots: snapshots need the "
                 "top-level snapshots section (location of the snapshot store)");
    expect_error(HEAD "snapshots:\n  location: file:///snaps\n"
                 "datasets:\n  - from: file:x.csv\n    name: t\n    acceleration:\n"
                 "      snapshots: enabled\n",
                 "spicepod.yaml:10:18: datasets[0].acceleration.snapshots: snapshots need engine "
                 "duckdb or sqlite");
    expect_error(ONE_DS "    acceleration:\n      refresh_cron: every hour\n",
                 "spicepod.yaml:8:21: datasets[0].acceleration.refresh_cron: expected a cron "
                 "schedule like \"0 * * * *\"; got \"every hour\"");
}

static void test_many_errors_at_once(void **state)
{
    (void)state;
    static const char yaml[] =
        "version: v1\n"                            /* 1 */
        "kind: Spicepod\n"                         /* 2 */
        "name: many\n"                             /* 3 */
        "runtime:\n"                               /* 4 */
        "  shutdown_timeout: soon\n"               /* 5 */
        "  telemetry:\n"                           /* 6 */
        "    enabled: false\n"                     /* 7 */
        "datasets:\n"                              /* 8 */
        "  - from: file:a.csv\n"                   /* 9 */
        "    name: a\n"                            /* 10 */
        "    acceleration:\n"                      /* 11 */
        "      engine: duck\n"                     /* 12 */
        "      refresh_check_interval: 1x\n"       /* 13 */
        "  - name: b\n"                            /* 14 */
        "  - from: file:c.csv\n"                   /* 15 */
        "    name: A\n"                            /* 16 */
        "    acceleration:\n"                      /* 17 */
        "      engine: duckdb\n"                   /* 18 */
        "      on_zero_results: panic\n"           /* 19 */
        "views:\n"                                 /* 20 */
        "  - name: b\n"                            /* 21 */
        "    sql: select 1\n";                     /* 22 */
    clove_config_diags_t d;
    assert_null(load(yaml, &d));
    const char *const expected[] = {
        "spicepod.yaml:5:21: runtime.shutdown_timeout: expected a duration like 500ms, 10s, "
        "5m, 1h or 1d; got \"soon\"",
        "W spicepod.yaml:6:3: runtime.telemetry: not supported by clove yet; ignored",
        "spicepod.yaml:12:15: datasets[0].acceleration.engine: expected one of arrow, duckdb, "
        "sqlite; got \"duck\"",
        "spicepod.yaml:13:31: datasets[0].acceleration.refresh_check_interval: expected a "
        "duration like 500ms, 10s, 5m, 1h or 1d; got \"1x\"",
        "spicepod.yaml:14:5: datasets[1]: missing required key \"from\"",
        "spicepod.yaml:16:11: datasets[2].name: duplicate dataset name \"A\" (datasets[0] at "
        "line 9 has the same name; names are case-insensitive)",
        "spicepod.yaml:19:24: datasets[2].acceleration.on_zero_results: expected one of "
        "return_empty, use_source; got \"panic\"",
        "spicepod.yaml:21:11: views[0].name: view name \"b\" is already used by datasets[1] at "
        "line 14",
        NULL,
    };
    assert_diags(&d, expected);
    clove_config_diags_dispose(&d);
}

/* ---- durations, sizes, booleans -------------------------------------------------------- */

static void test_durations_and_sizes(void **state)
{
    (void)state;
    static const struct { const char *text; int64_t ms; } durs[] = {
        {"500ms", 500}, {"10s", 10000}, {"5m", 300000}, {"1h", 3600000}, {"1d", 86400000},
        {"1h30m", 5400000}, {"90", 90000}, {"\"2m\"", 120000},
    };
    for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml, HEAD "runtime:\n  query:\n    timeout: %s\n", durs[i].text);
        clove_config_diags_t d;
        clove_config_t *c = load(yaml, &d);
        assert_non_null(c);
        assert_int_equal(c->runtime.query_timeout_ms, durs[i].ms);
        clove_config_unref(c);
        clove_config_diags_dispose(&d);
    }
    static const struct { const char *text; uint64_t bytes; } sizes[] = {
        {"128MiB", 128ull << 20}, {"1GiB", 1ull << 30}, {"512KiB", 512ull << 10},
        {"1.5GiB", 3ull << 29}, {"1GB", 1000000000ull}, {"4096", 4096},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml, HEAD "runtime:\n  flight:\n    max_message_size: %s\n",
                 sizes[i].text);
        clove_config_diags_t d;
        clove_config_t *c = load(yaml, &d);
        assert_non_null(c);
        assert_int_equal(c->runtime.flight_max_message_size, sizes[i].bytes);
        clove_config_unref(c);
        clove_config_diags_dispose(&d);
    }
    expect_error(HEAD "runtime:\n  query:\n    timeout: 10 parsecs\n",
                 "spicepod.yaml:6:14: runtime.query.timeout: expected a duration like 500ms, "
                 "10s, 5m, 1h or 1d; got \"10 parsecs\"");
    expect_error(HEAD "runtime:\n  query:\n    timeout: 0s\n",
                 "spicepod.yaml:6:14: runtime.query.timeout: expected a duration greater than "
                 "zero; got \"0s\"");
    expect_error(HEAD "runtime:\n  query:\n    timeout: -5s\n",
                 "spicepod.yaml:6:14: runtime.query.timeout: expected a duration like 500ms, "
                 "10s, 5m, 1h or 1d; got \"-5s\"");
    expect_error(HEAD "runtime:\n  query:\n    timeout: [1]\n",
                 "spicepod.yaml:6:14: runtime.query.timeout: expected a duration; got a "
                 "sequence");
    expect_error(HEAD "runtime:\n  flight:\n    max_message_size: 12 parsecs\n",
                 "spicepod.yaml:6:23: runtime.flight.max_message_size: expected a size like "
                 "512KiB, 128MiB or 4GiB; got \"12 parsecs\"");
    expect_error(HEAD "runtime:\n  flight:\n    max_message_size: 0MiB\n",
                 "spicepod.yaml:6:23: runtime.flight.max_message_size: expected a size greater "
                 "than zero; got \"0MiB\"");
    /* a zero shutdown timeout is allowed: stop at once */
    clove_config_diags_t d;
    clove_config_t *c = load(HEAD "runtime:\n  shutdown_timeout: 0s\n", &d);
    assert_non_null(c);
    assert_int_equal(c->runtime.shutdown_timeout_ms, 0);
    clove_config_unref(c);
    clove_config_diags_dispose(&d);
}

static void test_booleans(void **state)
{
    (void)state;
    setenv("CLOVE_TEST_BOOL", "false", 1);
    clove_config_diags_t d;
    clove_config_t *c = load(ONE_DS "    acceleration:\n      enabled: \"true\"\n"
                             "      refresh_retry_enabled: ${env:CLOVE_TEST_BOOL}\n"
                             "      refresh_jitter_enabled: True\n", &d);
    if (!c) print_diags(&d);
    assert_non_null(c);
    assert_true(c->datasets[0].acceleration.enabled);
    assert_false(c->datasets[0].acceleration.refresh_retry_enabled);
    assert_true(c->datasets[0].acceleration.refresh_jitter_enabled);
    clove_config_unref(c);
    clove_config_diags_dispose(&d);
    unsetenv("CLOVE_TEST_BOOL");
}

/* ---- secrets --------------------------------------------------------------------------- */

static void test_secrets_from_environment(void **state)
{
    (void)state;
    setenv("CLOVE_TEST_LOWER", "lower-value", 1);
    setenv("SPICE_SECRET_CLOVE_TEST_PREFIXED", "prefixed-value", 1);
    setenv("CLOVE_TEST_PREFIXED", "unprefixed-value", 1);
    setenv("CLOVE_TEST_SPACED", "spaced-value", 1);
    setenv("CLOVE_TEST_ENVREF", "env-value", 1);
    setenv("CLOVE_TEST_PW", "pw", 1);
    clove_config_diags_t d;
    clove_config_t *c = load(
        HEAD "datasets:\n  - from: postgres:t\n    name: t\n    params:\n"
        "      a: ${secrets:clove_test_lower}\n"
        "      b: ${secrets:CLOVE_TEST_PREFIXED}\n"
        "      c: ${ secrets:CLOVE_TEST_SPACED }\n"
        "      d: ${env:CLOVE_TEST_ENVREF}\n"
        "      e: postgres://u:${secrets:CLOVE_TEST_PW}@db:5432/x\n"
        "      f: plain ${other:thing} and $HOME\n"
        "      g: 42\n", &d);
    if (!c) print_diags(&d);
    assert_non_null(c);
    assert_int_equal(d.len, 0);
    const clove_kvlist_t *p = &c->datasets[0].params;
    assert_string_equal(clove_kv_get(p, "a"), "lower-value");
    assert_string_equal(clove_kv_get(p, "b"), "prefixed-value");
    assert_string_equal(clove_kv_get(p, "c"), "spaced-value");
    assert_string_equal(clove_kv_get(p, "d"), "env-value");
    assert_string_equal(clove_kv_get(p, "e"), "postgres://u:pw@db:5432/x");
    assert_string_equal(clove_kv_get(p, "f"), "plain ${other:thing} and $HOME");
    assert_string_equal(clove_kv_get(p, "g"), "42");
    for (size_t i = 0; i < 5; i++) assert_true(p->items[i].secret);
    assert_false(p->items[5].secret);
    assert_false(p->items[6].secret);
    clove_config_unref(c);
    clove_config_diags_dispose(&d);

    /* `secrets: []` is the default env store, as when the section is left out */
    c = load(HEAD "secrets: []\ndatasets:\n  - from: x\n    name: t\n    params:\n"
             "      a: ${secrets:clove_test_lower}\n", &d);
    assert_non_null(c);
    assert_string_equal(clove_kv_get(&c->datasets[0].params, "a"), "lower-value");
    clove_config_unref(c);
    clove_config_diags_dispose(&d);
    unsetenv("CLOVE_TEST_LOWER");
    unsetenv("SPICE_SECRET_CLOVE_TEST_PREFIXED");
    unsetenv("CLOVE_TEST_PREFIXED");
    unsetenv("CLOVE_TEST_SPACED");
    unsetenv("CLOVE_TEST_ENVREF");
    unsetenv("CLOVE_TEST_PW");
}

static void test_secrets_from_dotenv(void **state)
{
    (void)state;
    write_file(".env",
               "# a comment\n"
               "\n"
               "CLOVE_DOTENV_A=alpha\n"
               "export CLOVE_DOTENV_B=\"bravo value\"\n"
               "CLOVE_DOTENV_C='charlie # not a comment'\n"
               "CLOVE_DOTENV_D=delta # a comment\n"
               "CLOVE_DOTENV_E=\"line1\\nline2\"\n"
               "CLOVE_DOTENV_SHADOW=from_dotenv\n"
               "CLOVE_DOTENV_LOCAL=from_dotenv\n"
               "this is not an assignment\n"
               "  CLOVE_DOTENV_F = spaced  \n");
    write_file(".env.local", "CLOVE_DOTENV_LOCAL=from_local\n");
    setenv("CLOVE_DOTENV_SHADOW", "from_process", 1);
    clove_config_diags_t d;
    clove_config_t *c = load(
        HEAD "datasets:\n  - from: file:x\n    name: t\n    params:\n"
        "      a: ${secrets:clove_dotenv_a}\n"
        "      b: ${env:CLOVE_DOTENV_B}\n"
        "      c: ${secrets:CLOVE_DOTENV_C}\n"
        "      d: ${secrets:CLOVE_DOTENV_D}\n"
        "      e: ${secrets:CLOVE_DOTENV_E}\n"
        "      shadow: ${secrets:CLOVE_DOTENV_SHADOW}\n"
        "      local: ${secrets:CLOVE_DOTENV_LOCAL}\n"
        "      f: ${secrets:CLOVE_DOTENV_F}\n", &d);
    if (!c) print_diags(&d);
    assert_non_null(c);
    const char *const expected[] = {"W .env:10: could not read line: expected KEY=VALUE", NULL};
    assert_diags(&d, expected);
    const clove_kvlist_t *p = &c->datasets[0].params;
    assert_string_equal(clove_kv_get(p, "a"), "alpha");
    assert_string_equal(clove_kv_get(p, "b"), "bravo value");
    assert_string_equal(clove_kv_get(p, "c"), "charlie # not a comment");
    assert_string_equal(clove_kv_get(p, "d"), "delta");
    assert_string_equal(clove_kv_get(p, "e"), "line1\nline2");
    assert_string_equal(clove_kv_get(p, "shadow"), "from_process");
    assert_string_equal(clove_kv_get(p, "local"), "from_local");
    assert_string_equal(clove_kv_get(p, "f"), "spaced");
    clove_config_unref(c);
    clove_config_diags_dispose(&d);
    unsetenv("CLOVE_DOTENV_SHADOW");
}

static void test_env_store_file_path(void **state)
{
    (void)state;
    write_file("custom.env", "CLOVE_CUSTOM_X=from_custom\n");
    clove_config_diags_t d;
    clove_config_t *c = load(
        HEAD "secrets:\n  - from: env\n    name: local\n    params:\n      file_path: custom.env\n"
        "datasets:\n  - from: file:x\n    name: t\n    params:\n"
        "      x: ${local:CLOVE_CUSTOM_X}\n      y: ${secrets:clove_custom_x}\n"
        "      z: ${env:CLOVE_CUSTOM_X}\n", &d);
    if (!c) print_diags(&d);
    assert_non_null(c);
    assert_int_equal(d.len, 0);
    assert_string_equal(clove_kv_get(&c->datasets[0].params, "x"), "from_custom");
    assert_string_equal(clove_kv_get(&c->datasets[0].params, "y"), "from_custom");
    /* no store is named "env" here, so ${env:..} is plain text, as in Spice */
    assert_string_equal(clove_kv_get(&c->datasets[0].params, "z"), "${env:CLOVE_CUSTOM_X}");
    clove_config_unref(c);
    clove_config_diags_dispose(&d);

    expect_error(HEAD "secrets:\n  - from: env\n    name: local\n    params:\n"
                 "      file_path: missing.env\n",
                 "spicepod.yaml:8:18: secrets[0].params.file_path: could not open "
                 "\"missing.env\": no such file or directory");
}

static void test_missing_secret(void **state)
{
    (void)state;
    setenv("CLOVE_TEST_VISIBLE", "topsecretvalue123", 1);
    setenv("CLOVE_TEST_ENGINE", "duckx", 1);
    clove_config_diags_t d;
    clove_config_t *c = load(
        HEAD "datasets:\n  - from: postgres:t\n    name: t\n    params:\n"
        "      pg_user: ${secrets:CLOVE_TEST_VISIBLE}\n"
        "      pg_pass: ${secrets:clove_missing_secret}\n"
        "    acceleration:\n      engine: ${env:CLOVE_TEST_ENGINE}\n", &d);
    assert_null(c);
    const char *const expected[] = {
        "spicepod.yaml:9:16: datasets[0].params.pg_pass: secret \"clove_missing_secret\" not "
        "found in the environment or .env files (looked for SPICE_SECRET_clove_missing_secret, "
        "clove_missing_secret, SPICE_SECRET_CLOVE_MISSING_SECRET, CLOVE_MISSING_SECRET)",
        "spicepod.yaml:11:15: datasets[0].acceleration.engine: expected one of arrow, duckdb, "
        "sqlite; got \"${env:CLOVE_TEST_ENGINE}\" (after secret expansion)",
        NULL,
    };
    assert_diags(&d, expected);
    assert_false(any_diag_contains(&d, "topsecretvalue123"));
    assert_false(any_diag_contains(&d, "duckx"));
    clove_config_diags_dispose(&d);
    unsetenv("CLOVE_TEST_VISIBLE");
    unsetenv("CLOVE_TEST_ENGINE");
}

static void test_unsupported_secret_store(void **state)
{
    (void)state;
    clove_config_diags_t d;
    clove_config_t *c = load(
        HEAD "secrets:\n  - from: env\n    name: env\n  - from: kubernetes:my_secret\n"
        "    name: k8s\n", &d);
    assert_non_null(c);
    const char *const e1[] = {
        "W spicepod.yaml:7:11: secrets[1].from: secret store \"kubernetes\" is not supported by "
        "clove yet; secrets from store \"k8s\" cannot be used",
        NULL,
    };
    assert_diags(&d, e1);
    clove_config_unref(c);
    clove_config_diags_dispose(&d);

    c = load(HEAD "secrets:\n  - from: aws_secrets_manager\n    name: aws\n"
             "datasets:\n  - from: file:x\n    name: t\n    params:\n"
             "      password: ${aws:db_password}\n", &d);
    assert_null(c);
    const char *const e2[] = {
        "W spicepod.yaml:5:11: secrets[0].from: secret store \"aws_secrets_manager\" is not "
        "supported by clove yet; secrets from store \"aws\" cannot be used",
        "spicepod.yaml:11:17: datasets[0].params.password: secret \"db_password\" comes from "
        "secret store \"aws\" (aws_secrets_manager), which clove does not support yet",
        NULL,
    };
    assert_diags(&d, e2);
    clove_config_diags_dispose(&d);

    expect_error(HEAD "secrets:\n  - from: vault9\n    name: v\n",
                 "spicepod.yaml:5:11: secrets[0].from: unknown secret store \"vault9\"; expected "
                 "one of env, kubernetes, keyring, aws_secrets_manager, azure_keyvault, "
                 "hashicorp_vault");
}

/* ---- warnings -------------------------------------------------------------------------- */

static void test_known_unsupported_warnings(void **state)
{
    (void)state;
    static const char yaml[] =
        "version: v1\n"                                   /* 1 */
        "kind: Spicepod\n"                                /* 2 */
        "name: w\n"                                       /* 3 */
        "metadata:\n"                                     /* 4 */
        "  owner: me\n"                                   /* 5 */
        "models:\n"                                       /* 6 */
        "  - from: openai:gpt-4o\n"                       /* 7 */
        "    name: gpt\n"                                 /* 8 */
        "embeddings: []\n"                                /* 9 */
        "catalogs: []\n"                                  /* 10 */
        "tools: []\n"                                     /* 11 */
        "workers: []\n"                                   /* 12 */
        "dependencies: [a/b]\n"                           /* 13 */
        "extensions: {}\n"                                /* 14 */
        "evals: []\n"                                     /* 15 */
        "runtime:\n"                                      /* 16 */
        "  tracing:\n"                                    /* 17 */
        "    zipkin_enabled: true\n"                      /* 18 */
        "  task_history:\n"                               /* 19 */
        "    enabled: false\n"                            /* 20 */
        "  cors:\n"                                       /* 21 */
        "    enabled: true\n"                             /* 22 */
        "datasets:\n"                                     /* 23 */
        "  - from: file:x.csv\n"                          /* 24 */
        "    name: t\n"                                   /* 25 */
        "    columns:\n"                                  /* 26 */
        "      - name: a\n"                               /* 27 */
        "    acceleration:\n"                             /* 28 */
        "      refresh_mode: changes\n";                  /* 29 */
    clove_config_diags_t d;
    clove_config_t *c = load(yaml, &d);
    if (!c) print_diags(&d);
    assert_non_null(c);
    const char *const expected[] = {
        "W spicepod.yaml:4:1: metadata: not supported by clove yet; ignored",
        "W spicepod.yaml:6:1: models: not supported by clove yet; ignored",
        "W spicepod.yaml:9:1: embeddings: not supported by clove yet; ignored",
        "W spicepod.yaml:10:1: catalogs: not supported by clove yet; ignored",
        "W spicepod.yaml:11:1: tools: not supported by clove yet; ignored",
        "W spicepod.yaml:12:1: workers: not supported by clove yet; ignored",
        "W spicepod.yaml:13:1: dependencies: not supported by clove yet; ignored",
        "W spicepod.yaml:14:1: extensions: not supported by clove yet; ignored",
        "W spicepod.yaml:15:1: evals: not supported by clove yet; ignored",
        "W spicepod.yaml:17:3: runtime.tracing: not supported by clove yet; ignored",
        "W spicepod.yaml:19:3: runtime.task_history: not supported by clove yet; ignored",
        "W spicepod.yaml:21:3: runtime.cors: not supported by clove yet; ignored",
        "W spicepod.yaml:26:5: datasets[0].columns: not supported by clove yet; ignored",
        "W spicepod.yaml:29:21: datasets[0].acceleration.refresh_mode: refresh mode \"changes\" "
        "is not supported by clove yet; the dataset is refreshed in full mode",
        NULL,
    };
    assert_diags(&d, expected);
    assert_int_equal(c->datasets[0].acceleration.refresh_mode, CLOVE_REFRESH_FULL);
    clove_config_unref(c);
    clove_config_diags_dispose(&d);
}

/* ---- --set-runtime --------------------------------------------------------------------- */

static void test_set_runtime(void **state)
{
    (void)state;
    const char *const ov[] = {
        "query.timeout=5s", "results_cache.enabled=false", "shutdown_timeout=1m",
        "query.max_concurrent_queries=3", "runtime.flight.max_message_size=8MiB",
        "auth.api-key.enabled=false",
    };
    clove_config_diags_t d;
    clove_config_t *c = load_ov(HEAD "runtime:\n  query:\n    timeout: 30s\n", ov, 6, &d);
    if (!c) print_diags(&d);
    assert_non_null(c);
    assert_int_equal(d.len, 0);
    assert_int_equal(c->runtime.query_timeout_ms, 5000);
    assert_false(c->runtime.results_cache_enabled);
    assert_int_equal(c->runtime.shutdown_timeout_ms, 60000);
    assert_int_equal(c->runtime.max_concurrent_queries, 3);
    assert_int_equal(c->runtime.flight_max_message_size, 8ull << 20);
    assert_false(c->runtime.auth_enabled);
    clove_config_unref(c);
    clove_config_diags_dispose(&d);

    /* an override also fixes a bad file value */
    const char *const fix[] = {"query.timeout=2s"};
    c = load_ov(HEAD "runtime:\n  query:\n    timeout: never\n", fix, 1, &d);
    assert_non_null(c);
    assert_int_equal(c->runtime.query_timeout_ms, 2000);
    clove_config_unref(c);
    clove_config_diags_dispose(&d);

    const char *const bad[] = {"query.timeout=abc", "query.colour=red", "nonsense",
                               "tls=on"};
    c = load_ov(HEAD "runtime:\n  tls:\n    enabled: false\n", bad, 4, &d);
    assert_null(c);
    const char *const expected[] = {
        "--set-runtime \"nonsense\": expected KEY=VALUE, e.g. query.timeout=30s",
        "--set-runtime \"tls=on\": runtime.tls: expected a mapping; got a scalar",
        "--set-runtime \"query.timeout=abc\": runtime.query.timeout: expected a duration like "
        "500ms, 10s, 5m, 1h or 1d; got \"abc\"",
        "--set-runtime \"query.colour=red\": runtime.query.colour: unknown key",
        NULL,
    };
    assert_diags(&d, expected);
    clove_config_diags_dispose(&d);
}

/* ---- redaction ------------------------------------------------------------------------- */

static void test_redacted_json(void **state)
{
    (void)state;
    setenv("CLOVE_TEST_DB_USER", "alice-the-user", 1);
    setenv("CLOVE_TEST_APIKEY", "api-key-value-xyz", 1);
    setenv("CLOVE_TEST_DESC", "secret-description", 1);
    clove_config_diags_t d;
    clove_config_t *c = load(
        "version: v2\nkind: Spicepod\nname: red\n"
        "runtime:\n  auth:\n    api-key:\n      keys:\n        - ${secrets:CLOVE_TEST_APIKEY}\n"
        "        - literal-api-key-42:rw\n"
        "snapshots:\n  location: s3://b/snaps/\n  params:\n    s3_key: AKIA-SNAP\n"
        "    s3_region: us-east-2\n"
        "datasets:\n  - from: postgres:orders\n    name: orders\n"
        "    description: ${env:CLOVE_TEST_DESC}\n"
        "    params:\n"
        "      pg_host: db.internal\n"
        "      pg_user: ${secrets:CLOVE_TEST_DB_USER}\n"
        "      pg_pass: hunter2\n"
        "      pg_password_file: /run/pw\n"
        "      s3_key: AKIAEXAMPLE\n"
        "      github_token: ghp_example\n"
        "      client_secret: shh\n"
        "      file_format: parquet\n"
        "    acceleration:\n      engine: duckdb\n      params:\n"
        "        duckdb_file: /data/o.db\n        private_key: pem-here\n"
        "views:\n  - name: v\n    sql: select 1\n", &d);
    if (!c) print_diags(&d);
    assert_non_null(c);
    const char *js = c->redacted_json;
    assert_non_null(js);
    static const char *const hidden[] = {
        "alice-the-user", "api-key-value-xyz", "literal-api-key-42", "secret-description",
        "hunter2", "/run/pw", "AKIAEXAMPLE", "ghp_example", "shh", "pem-here", "AKIA-SNAP", NULL,
    };
    for (size_t i = 0; hidden[i]; i++) {
        if (strstr(js, hidden[i])) fprintf(stderr, "leaked %s in %s\n", hidden[i], js);
        assert_null(strstr(js, hidden[i]));
    }

    json_error_t jerr;
    json_t *root = json_loads(js, 0, &jerr);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "version")), "v2");
    assert_string_equal(json_string_value(json_object_get(root, "kind")), "Spicepod");
    assert_string_equal(json_string_value(json_object_get(root, "name")), "red");
    json_t *ds = json_array_get(json_object_get(root, "datasets"), 0);
    assert_non_null(ds);
    assert_string_equal(json_string_value(json_object_get(ds, "from")), "postgres:orders");
    assert_string_equal(json_string_value(json_object_get(ds, "name")), "orders");
    assert_string_equal(json_string_value(json_object_get(ds, "description")), "[REDACTED]");
    json_t *params = json_object_get(ds, "params");
    assert_string_equal(json_string_value(json_object_get(params, "pg_host")), "db.internal");
    assert_string_equal(json_string_value(json_object_get(params, "file_format")), "parquet");
    static const char *const redacted[] = {
        "pg_user", "pg_pass", "pg_password_file", "s3_key", "github_token", "client_secret", NULL,
    };
    for (size_t i = 0; redacted[i]; i++)
        assert_string_equal(json_string_value(json_object_get(params, redacted[i])),
                            "[REDACTED]");
    json_t *acc = json_object_get(ds, "acceleration");
    assert_string_equal(json_string_value(json_object_get(acc, "engine")), "duckdb");
    assert_true(json_is_true(json_object_get(acc, "enabled")));
    json_t *ap = json_object_get(acc, "params");
    assert_string_equal(json_string_value(json_object_get(ap, "duckdb_file")), "/data/o.db");
    assert_string_equal(json_string_value(json_object_get(ap, "private_key")), "[REDACTED]");
    json_t *snap = json_object_get(root, "snapshots");
    assert_string_equal(json_string_value(json_object_get(snap, "location")), "s3://b/snaps/");
    json_t *sp = json_object_get(snap, "params");
    assert_string_equal(json_string_value(json_object_get(sp, "s3_key")), "[REDACTED]");
    assert_string_equal(json_string_value(json_object_get(sp, "s3_region")), "us-east-2");
    json_t *view = json_array_get(json_object_get(root, "views"), 0);
    assert_string_equal(json_string_value(json_object_get(view, "name")), "v");
    assert_string_equal(json_string_value(json_object_get(view, "sql")), "select 1");
    assert_null(json_object_get(root, "runtime"));
    json_decref(root);

    /* the config itself keeps the real values for the connectors */
    assert_string_equal(clove_kv_get(&c->datasets[0].params, "pg_user"), "alice-the-user");
    assert_string_equal(c->runtime.api_keys[0].key, "api-key-value-xyz");
    assert_string_equal(c->runtime.api_keys[1].key, "literal-api-key-42");
    assert_true(c->runtime.api_keys[1].read_write);
    clove_config_unref(c);
    clove_config_diags_dispose(&d);
    unsetenv("CLOVE_TEST_DB_USER");
    unsetenv("CLOVE_TEST_APIKEY");
    unsetenv("CLOVE_TEST_DESC");
}

/* ---- lifetime -------------------------------------------------------------------------- */

static void test_refcount(void **state)
{
    (void)state;
    clove_config_diags_t d;
    clove_config_t *c = load(ONE_DS, &d);
    assert_non_null(c);
    assert_ptr_equal(clove_config_ref(c), c);
    assert_int_equal(c->refcount, 2);
    clove_config_unref(c);
    assert_int_equal(c->refcount, 1);
    assert_string_equal(c->datasets[0].name, "t");
    clove_config_unref(c);
    clove_config_unref(NULL);
    assert_null(clove_config_ref(NULL));
    clove_config_diags_dispose(&d);
    /* a NULL diags pointer is allowed */
    write_file("spicepod.yaml", "version: v9\n");
    assert_null(clove_config_load(g_dir, NULL, 0, NULL));
}

static void test_names(void **state)
{
    (void)state;
    clove_config_diags_t d;
    clove_config_t *c = load(HEAD "datasets:\n"
                             "  - from: file:a\n    name: eth.recent_blocks\n"
                             "  - from: file:b\n    name: '\"LINEITEM\"'\n"
                             "  - from: file:c\n    name: _x9\n", &d);
    if (!c) print_diags(&d);
    assert_non_null(c);
    assert_string_equal(c->datasets[0].name, "eth.recent_blocks");
    assert_string_equal(c->datasets[1].name, "\"LINEITEM\"");
    assert_string_equal(c->datasets[2].name, "_x9");
    clove_config_unref(c);
    clove_config_diags_dispose(&d);
    expect_error(HEAD "datasets:\n  - from: file:x.csv\n    name: 9lives\n",
                 "spicepod.yaml:6:11: datasets[0].name: invalid dataset name \"9lives\": use "
                 "letters, digits and underscores, not starting with a digit (schema.name and "
                 "\"Quoted\" parts are allowed)");
    expect_error(HEAD "datasets:\n  - from: \"\"\n    name: t\n",
                 "spicepod.yaml:5:11: datasets[0].from: must not be empty");
}

static void test_merge_keys_and_limits(void **state)
{
    (void)state;
    clove_config_diags_t d;
    clove_config_t *c = load(
        HEAD "datasets:\n"
        "  - &ds\n    from: file:trips.parquet\n    name: trips\n"
        "    params: &p {file_format: parquet}\n"
        "    acceleration: &acc\n      engine: duckdb\n      refresh_check_interval: 10s\n"
        "  - <<: *ds\n    name: trips2\n    params:\n      <<: *p\n      extra: 1\n"
        "  - <<: [*ds, {description: merged}]\n    name: trips3\n"
        "    acceleration:\n      <<: *acc\n      engine: sqlite\n", &d);
    if (!c) print_diags(&d);
    assert_non_null(c);
    assert_int_equal(c->n_datasets, 3);
    const clove_dataset_cfg_t *t2 = &c->datasets[1], *t3 = &c->datasets[2];
    assert_string_equal(t2->name, "trips2");
    assert_string_equal(t2->from, "file:trips.parquet");
    assert_string_equal(clove_kv_get(&t2->params, "file_format"), "parquet");
    assert_string_equal(clove_kv_get(&t2->params, "extra"), "1");
    assert_int_equal(t2->acceleration.engine, CLOVE_ENGINE_DUCKDB);
    assert_string_equal(t3->description, "merged");
    assert_int_equal(t3->acceleration.engine, CLOVE_ENGINE_SQLITE);
    assert_int_equal(t3->acceleration.refresh_check_interval_ms, 10000);
    clove_config_unref(c);
    clove_config_diags_dispose(&d);

    expect_error(ONE_DS "    <<: 5\n",
                 "spicepod.yaml:7:9: datasets[0].<<: expected a mapping to merge with <<; got a "
                 "scalar");

    /* 10001 datasets is more than clove reads */
    clove_buf_t b;
    clove_buf_init(&b);
    clove_buf_puts(&b, HEAD "datasets:\n  - &a {from: x, name: t}\n");
    for (int i = 0; i < 10000; i++) clove_buf_puts(&b, "  - *a\n");
    assert_false(b.failed);
    expect_error(b.data, "spicepod.yaml:5:3: datasets: too many datasets (10001; at most 10000)");
    clove_buf_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_valid_v1_every_key, test_teardown),
        cmocka_unit_test_teardown(test_valid_v2_defaults_yml, test_teardown),
        cmocka_unit_test_teardown(test_versions, test_teardown),
        cmocka_unit_test_teardown(test_file_path_and_missing, test_teardown),
        cmocka_unit_test_teardown(test_yaml_errors, test_teardown),
        cmocka_unit_test_teardown(test_each_error_kind, test_teardown),
        cmocka_unit_test_teardown(test_cross_field_errors, test_teardown),
        cmocka_unit_test_teardown(test_many_errors_at_once, test_teardown),
        cmocka_unit_test_teardown(test_durations_and_sizes, test_teardown),
        cmocka_unit_test_teardown(test_booleans, test_teardown),
        cmocka_unit_test_teardown(test_secrets_from_environment, test_teardown),
        cmocka_unit_test_teardown(test_secrets_from_dotenv, test_teardown),
        cmocka_unit_test_teardown(test_env_store_file_path, test_teardown),
        cmocka_unit_test_teardown(test_missing_secret, test_teardown),
        cmocka_unit_test_teardown(test_unsupported_secret_store, test_teardown),
        cmocka_unit_test_teardown(test_known_unsupported_warnings, test_teardown),
        cmocka_unit_test_teardown(test_set_runtime, test_teardown),
        cmocka_unit_test_teardown(test_redacted_json, test_teardown),
        cmocka_unit_test_teardown(test_refcount, test_teardown),
        cmocka_unit_test_teardown(test_names, test_teardown),
        cmocka_unit_test_teardown(test_merge_keys_and_limits, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
