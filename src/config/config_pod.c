/*
 * config_pod.c: the Spicepod schema. Walks the YAML document from the root and fills the
 * clove_config_t being built: version, kind, name, runtime, snapshots, datasets (with
 * acceleration) and views, with Spicepod's types and defaults. Known Spicepod keys that
 * clove does not implement yet are accepted with one warning each; unknown keys, bad values
 * and inconsistent combinations are errors, all reported in one pass.
 */
#include "config/config_int.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const k_top_unsupported[] = {
    "models", "embeddings", "rerankers", "catalogs", "tools", "workers", "functions",
    "dependencies", "extensions", "metadata", "evals", "management", NULL,
};

static const char *const k_runtime_unsupported[] = {
    "tracing", "telemetry", "task_history", "cors", "cpu", "output_level", "metrics", "mcp",
    "scheduler", "source_rate_control", "functions", NULL,
};

static const char *const k_dataset_unsupported[] = {
    "metadata", "columns", "embeddings", "time_partition_column", "time_partition_format",
    "unsupported_type_action", "check_availability", "metrics", "vectors", "replication",
    "has_metadata_table", "dependsOn", NULL,
};

static const char *const k_accel_unsupported[] = {
    "engine_secret", "metrics", "partition_by", NULL,
};

static const char *const k_view_unsupported[] = {
    "metadata", "columns", "dependsOn", "acceleration", NULL,
};

static const char *const k_engines[] = {"arrow", "duckdb", "sqlite", NULL};
static const char *const k_engines_unsupported[] = {"postgres", "cayenne", "turso", NULL};
static const char *const k_modes[] = {"memory", "file", "file_create", "file_update", NULL};
static const char *const k_refresh_modes[] = {"full", "append", "changes", "caching", NULL};
static const char *const k_ready_states[] = {"on_load", "on_registration", NULL};
static const char *const k_on_zero[] = {"return_empty", "use_source", NULL};
static const char *const k_on_startup[] = {"auto", "always", NULL};
static const char *const k_access[] = {"read", "read_write", NULL};
static const char *const k_time_formats[] = {
    "timestamp", "timestamptz", "unix_seconds", "unix_millis", "ISO8601", "date", NULL,
};
static const char *const k_on_conflict[] = {
    "drop", "upsert", "upsert_dedup", "upsert_dedup_by_row_id", NULL,
};
static const char *const k_index_types[] = {"enabled", "unique", NULL};
static const char *const k_snapshot_modes[] = {
    "disabled", "enabled", "bootstrap_only", "create_only", NULL,
};
static const char *const k_snapshot_triggers[] = {
    "refresh_complete", "time_interval", "stream_batches", NULL,
};
static const char *const k_creation_policies[] = {"on_change", "always", NULL};
static const char *const k_enabled_disabled[] = {"disabled", "enabled", NULL};
static const char *const k_failure_behaviors[] = {"warn", "retry", "fallback", NULL};
static const char *const k_eviction[] = {"lru", "tiny_lfu", NULL};

static const char *const k_reserved_names[] = {
    "COUNT", "FALSE", "NULL", "TRUE", "END-EXEC", "LATERAL", "TABLE", "UNNEST", NULL,
};

/* ---- small helpers --------------------------------------------------------------------- */

/* The value node of `key` in mapping `n` without marking it (for cross-field messages). */
static yaml_node_t *peek(cfg_ctx_t *c, yaml_node_t *n, const char *key)
{
    if (!n || n->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cfg_node(c, p->key);
        if (k && k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, key) == 0)
            return cfg_node(c, p->value);
    }
    return NULL;
}

/* Reports at m[key] (or at `fallback`) with the path set to that key. */
static void diag_at_key(cfg_ctx_t *c, yaml_node_t *map, const char *key, yaml_node_t *fallback,
                        const char *msg)
{
    yaml_node_t *at = peek(c, map, key);
    size_t mark = cfg_path_key(c, key);
    cfg_diag(c, false, at ? at : fallback, "%s", msg);
    cfg_path_restore(c, mark);
}

/* A string field that may hold a secret: stores it and remembers whether it does. */
static int get_str_noted(cfg_ctx_t *c, cfg_map_t *m, const char *key, char **out)
{
    bool secret = false;
    int r = cfg_get_str(c, m, key, out, &secret);
    if (r == 1 && secret) cfg_note_secret(c, *out);
    return r;
}

static void set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? clove_xstrdup(s) : NULL;
}

static int get_enum_str(cfg_ctx_t *c, cfg_map_t *m, const char *key, const char *const *names,
                        char **out)
{
    int i;
    int r = cfg_get_enum(c, m, key, names, &i);
    if (r == 1) set_str(out, names[i]);
    return r;
}

/* ---- names ----------------------------------------------------------------------------- */

static bool valid_name_part(const char *s, size_t n)
{
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        if (n == 2) return false;
        for (size_t i = 1; i + 1 < n; i++)
            if (s[i] == '"' || (unsigned char)s[i] < 0x20) return false;
        return true;
    }
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_')) return false;
    return true;
}

/* name, schema.name or catalog.schema.name; parts are identifiers or "quoted". */
static bool valid_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 255) return false;
    size_t parts = 0, start = 0;
    bool quoted = false;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] == '"') quoted = !quoted;
        if (i == len || (s[i] == '.' && !quoted)) {
            if (!valid_name_part(s + start, i - start)) return false;
            parts++;
            start = i + 1;
        }
    }
    return !quoted && parts <= 3;
}

static bool reserved_name(const char *s)
{
    for (size_t i = 0; k_reserved_names[i]; i++)
        if (strcasecmp(k_reserved_names[i], s) == 0) return true;
    return false;
}

/* Checks a dataset or view name at node `at` (path = ...name). */
static bool check_name(cfg_ctx_t *c, yaml_node_t *at, const char *what, const char *name)
{
    if (!valid_name(name)) {
        cfg_diag(c, false, at, "invalid %s name \"%s\": use letters, digits and underscores, "
                 "not starting with a digit (schema.name and \"Quoted\" parts are allowed)",
                 what, name);
        return false;
    }
    if (reserved_name(name)) {
        cfg_diag(c, false, at, "%s name \"%s\" is a reserved SQL keyword", what, name);
        return false;
    }
    return true;
}

/* ---- runtime --------------------------------------------------------------------------- */

static void parse_cache(cfg_ctx_t *c, yaml_node_t *n, const char *size_key)
{
    clove_runtime_cfg_t *rt = &c->cfg->runtime;
    if (cfg_is_null(n)) return;
    cfg_map_t m;
    if (!cfg_map_open(c, n, &m)) return;
    cfg_get_bool(c, &m, "enabled", &rt->results_cache_enabled);
    cfg_get_size(c, &m, size_key, &rt->results_cache_max_size);
    cfg_get_duration(c, &m, "item_ttl", true, &rt->results_cache_item_ttl_ms);
    get_enum_str(c, &m, "eviction_policy", k_eviction, &rt->results_cache_eviction_policy);
    static const char *const unsupported[] = {
        "hashing_algorithm", "cache_key_type", "encoding", "stale_while_revalidate_ttl", NULL,
    };
    cfg_map_close(c, &m, unsupported);
}

static void parse_caching(cfg_ctx_t *c, yaml_node_t *n)
{
    if (cfg_is_null(n)) return;
    cfg_map_t m;
    if (!cfg_map_open(c, n, &m)) return;
    yaml_node_t *v = cfg_map_take(c, &m, "sql_results", NULL);
    if (v) {
        size_t mark = cfg_path_key(c, "sql_results");
        parse_cache(c, v, "max_size");
        cfg_path_restore(c, mark);
    }
    static const char *const unsupported[] = {"search_results", "embeddings", NULL};
    cfg_map_close(c, &m, unsupported);
}

static void parse_tls(cfg_ctx_t *c, yaml_node_t *n)
{
    clove_runtime_cfg_t *rt = &c->cfg->runtime;
    if (cfg_is_null(n)) return;
    cfg_map_t m;
    if (!cfg_map_open(c, n, &m)) return;
    int has_enabled = cfg_get_bool(c, &m, "enabled", &rt->tls_enabled);
    get_str_noted(c, &m, "certificate_file", &rt->tls_certificate_file);
    get_str_noted(c, &m, "key_file", &rt->tls_key_file);
    get_str_noted(c, &m, "certificate", &rt->tls_certificate);
    /* an inline private key is a secret whatever its source */
    if (cfg_get_str(c, &m, "key", &rt->tls_key, NULL) == 1) cfg_note_secret(c, rt->tls_key);
    static const char *const unsupported[] = {
        "client_auth_mode", "client_auth_ca_file", "client_auth_ca", NULL,
    };
    cfg_map_close(c, &m, unsupported);
    if (has_enabled == 0) cfg_diag(c, false, n, "missing required key \"enabled\"");
    if (rt->tls_certificate && rt->tls_certificate_file)
        diag_at_key(c, n, "certificate", n, "use either certificate or certificate_file, not both");
    if (rt->tls_key && rt->tls_key_file)
        diag_at_key(c, n, "key", n, "use either key or key_file, not both");
    if (rt->tls_enabled && !rt->tls_certificate && !rt->tls_certificate_file)
        cfg_diag(c, false, n, "TLS is enabled but neither certificate nor certificate_file is "
                 "set");
    if (rt->tls_enabled && !rt->tls_key && !rt->tls_key_file)
        cfg_diag(c, false, n, "TLS is enabled but neither key nor key_file is set");
}

static void parse_api_key(cfg_ctx_t *c, yaml_node_t *n)
{
    clove_runtime_cfg_t *rt = &c->cfg->runtime;
    if (cfg_is_null(n)) return;
    cfg_map_t m;
    if (!cfg_map_open(c, n, &m)) return;
    bool enabled = true;
    cfg_get_bool(c, &m, "enabled", &enabled);
    yaml_node_t *keys = cfg_map_take(c, &m, "keys", NULL);
    cfg_map_close(c, &m, NULL);
    size_t errors_before = c->n_errors;
    size_t mark = cfg_path_key(c, "keys");
    yaml_node_item_t *items;
    size_t n_items = cfg_seq_items(c, keys, "API keys", &items);
    for (size_t i = 0; i < n_items; i++) {
        size_t m2 = cfg_path_index(c, i);
        yaml_node_t *k = cfg_node(c, items[i]);
        char *s = NULL;
        if (cfg_node_str(c, k, &s, NULL) == 1) {
            /* key, key:ro, key:rw; any other suffix is part of the key (as in Spice) */
            char *colon = strrchr(s, ':');
            bool rw = false;
            if (colon && (strcmp(colon, ":rw") == 0 || strcmp(colon, ":ro") == 0)) {
                rw = colon[2] == 'w';
                *colon = '\0';
            }
            if (s[0] == '\0') {
                cfg_diag(c, false, k, "API key must not be empty");
            } else {
                rt->api_keys = clove_xrealloc(rt->api_keys,
                                              (rt->n_api_keys + 1) * sizeof *rt->api_keys);
                clove_api_key_t *ak = &rt->api_keys[rt->n_api_keys++];
                ak->key = s;
                ak->read_write = rw;
                ak->read_only = !rw;
                s = NULL;
            }
        } else if (cfg_is_null(k)) {
            cfg_diag(c, false, k, "API key must not be empty");
        }
        free(s);
        cfg_path_restore(c, m2);
    }
    cfg_path_restore(c, mark);
    rt->auth_enabled = enabled;
    if (enabled && rt->n_api_keys == 0 && c->n_errors == errors_before)
        cfg_diag(c, false, n, "API key authentication is enabled but no keys are listed");
}

static void parse_auth(cfg_ctx_t *c, yaml_node_t *n)
{
    if (cfg_is_null(n)) return;
    cfg_map_t m;
    if (!cfg_map_open(c, n, &m)) return;
    yaml_node_t *a = cfg_map_take(c, &m, "api-key", NULL);
    const char *name = "api-key";
    if (!a) {
        a = cfg_map_take(c, &m, "api_key", NULL);
        name = "api_key";
    }
    if (a) {
        size_t mark = cfg_path_key(c, name);
        parse_api_key(c, a);
        cfg_path_restore(c, mark);
    }
    cfg_map_close(c, &m, NULL);
}

static void parse_query(cfg_ctx_t *c, yaml_node_t *n)
{
    clove_runtime_cfg_t *rt = &c->cfg->runtime;
    if (cfg_is_null(n)) return;
    cfg_map_t m;
    if (!cfg_map_open(c, n, &m)) return;
    cfg_get_duration(c, &m, "timeout", false, &rt->query_timeout_ms);
    long long v;
    if (cfg_get_int(c, &m, "max_concurrent_queries", 0, INT_MAX, &v) == 1)
        rt->max_concurrent_queries = (int)v;
    cfg_get_size(c, &m, "memory_limit", &rt->query_memory_limit);
    cfg_get_str(c, &m, "temp_directory", &rt->query_temp_directory, NULL);
    static const char *const unsupported[] = {"spill_compression", "target_partitions", NULL};
    cfg_map_close(c, &m, unsupported);
}

static void parse_flight(cfg_ctx_t *c, yaml_node_t *n)
{
    if (cfg_is_null(n)) return;
    cfg_map_t m;
    if (!cfg_map_open(c, n, &m)) return;
    cfg_get_size(c, &m, "max_message_size", &c->cfg->runtime.flight_max_message_size);
    static const char *const unsupported[] = {"do_put_rate_limit_enabled", NULL};
    cfg_map_close(c, &m, unsupported);
}

typedef void (*section_fn)(cfg_ctx_t *c, yaml_node_t *n);

static void section(cfg_ctx_t *c, cfg_map_t *m, const char *key, section_fn fn)
{
    yaml_node_t *v = cfg_map_take(c, m, key, NULL);
    if (!v) return;
    size_t mark = cfg_path_key(c, key);
    fn(c, v);
    cfg_path_restore(c, mark);
}

static void parse_results_cache(cfg_ctx_t *c, yaml_node_t *n)
{
    parse_cache(c, n, "cache_max_size");
}

static void parse_runtime(cfg_ctx_t *c, yaml_node_t *n)
{
    clove_runtime_cfg_t *rt = &c->cfg->runtime;
    if (cfg_is_null(n)) return;
    cfg_map_t m;
    if (!cfg_map_open(c, n, &m)) return;
    /* runtime.results_cache is the older spelling; caching.sql_results wins when both set */
    section(c, &m, "results_cache", parse_results_cache);
    section(c, &m, "caching", parse_caching);
    long long v;
    if (cfg_get_int(c, &m, "dataset_load_parallelism", 1, INT_MAX, &v) == 1)
        rt->dataset_load_parallelism = (int)v;
    cfg_get_duration(c, &m, "shutdown_timeout", true, &rt->shutdown_timeout_ms);
    section(c, &m, "tls", parse_tls);
    section(c, &m, "auth", parse_auth);
    section(c, &m, "query", parse_query);
    section(c, &m, "flight", parse_flight);
    cfg_get_kv(c, &m, "params", NULL, &rt->params);
    int rs;
    if (cfg_get_enum(c, &m, "ready_state", k_ready_states, &rs) == 1)
        rt->ready_state = (clove_ready_state_t)rs;
    cfg_map_close(c, &m, k_runtime_unsupported);
}

/* ---- snapshots ------------------------------------------------------------------------- */

static void parse_snapshots(cfg_ctx_t *c, yaml_node_t *n)
{
    clove_snapshots_cfg_t *s = &c->cfg->snapshots;
    if (cfg_is_null(n)) return;
    cfg_map_t m;
    if (!cfg_map_open(c, n, &m)) return;
    s->configured = true;
    s->enabled = true;
    cfg_get_bool(c, &m, "enabled", &s->enabled);
    int r = get_str_noted(c, &m, "location", &s->location);
    int b;
    if (cfg_get_enum(c, &m, "bootstrap_on_failure_behavior", k_failure_behaviors, &b) == 1)
        s->bootstrap_on_failure_behavior = (clove_snapshot_failure_t)b;
    cfg_get_kv(c, &m, "params", NULL, &s->params);
    cfg_map_close(c, &m, NULL);
    if (r == 0 && s->enabled) {
        cfg_diag(c, false, n, "missing required key \"location\" (an s3:// or file:// URL)");
    } else if (r == 1 && strncmp(s->location, "s3://", 5) != 0 &&
               strncmp(s->location, "file://", 7) != 0) {
        size_t mark = cfg_path_key(c, "location");
        if (cfg_is_secret(c, s->location))
            cfg_diag(c, false, peek(c, n, "location"), "expected an s3:// or file:// URL");
        else
            cfg_diag(c, false, peek(c, n, "location"), "expected an s3:// or file:// URL; "
                     "got \"%s\"", s->location);
        cfg_path_restore(c, mark);
    }
}

/* ---- datasets -------------------------------------------------------------------------- */

static void dataset_defaults(clove_dataset_cfg_t *d)
{
    memset(d, 0, sizeof *d);
    d->access = clove_xstrdup("read");
    d->ready_state = CLOVE_READY_ON_LOAD;
    clove_accel_cfg_t *a = &d->acceleration;
    a->enabled = false;
    a->engine = CLOVE_ENGINE_ARROW;
    a->mode = CLOVE_MODE_MEMORY;
    a->refresh_mode = CLOVE_REFRESH_FULL;
    a->refresh_retry_enabled = true;
    a->refresh_retry_max_attempts = -1;
    a->refresh_on_startup = clove_xstrdup("auto");
    a->on_zero_results = CLOVE_ZERO_RETURN_EMPTY;
    a->snapshots_trigger = clove_xstrdup("refresh_complete");
    a->snapshots_creation_policy = clove_xstrdup("on_change");
}

/* A loose check of a cron expression: 5 to 7 fields of cron characters. The scheduler
 * parses it for real. */
static bool plausible_cron(const char *s)
{
    if (s[0] == '@') return strlen(s) > 1;
    size_t fields = 0;
    bool in_field = false;
    for (const char *p = s; *p; p++) {
        if (*p == ' ' || *p == '\t') {
            in_field = false;
            continue;
        }
        if (!isalnum((unsigned char)*p) && !strchr("*/,-?#", *p)) return false;
        if (!in_field) fields++;
        in_field = true;
    }
    return fields >= 5 && fields <= 7;
}

static void parse_acceleration(cfg_ctx_t *c, yaml_node_t *n, clove_dataset_cfg_t *d)
{
    clove_accel_cfg_t *a = &d->acceleration;
    if (cfg_is_null(n)) return;
    cfg_map_t m;
    if (!cfg_map_open(c, n, &m)) return;
    a->configured = true;
    a->enabled = true;
    cfg_get_bool(c, &m, "enabled", &a->enabled);

    yaml_node_t *engine = cfg_map_take(c, &m, "engine", NULL);
    if (engine) {
        size_t mark = cfg_path_key(c, "engine");
        char *s = NULL;
        if (cfg_node_str(c, engine, &s, NULL) == 1) {
            bool done = false;
            for (int i = 0; k_engines[i]; i++) {
                if (strcmp(s, k_engines[i]) == 0) {
                    a->engine = (clove_accel_engine_t)i;
                    done = true;
                }
            }
            for (int i = 0; !done && k_engines_unsupported[i]; i++) {
                if (strcmp(s, k_engines_unsupported[i]) == 0) {
                    cfg_diag(c, false, engine, "acceleration engine \"%s\" is not supported by "
                             "clove yet; use arrow, duckdb or sqlite", s);
                    done = true;
                }
            }
            if (!done) {
                int dummy;
                cfg_node_enum(c, engine, k_engines, &dummy); /* reports the error */
            }
        }
        free(s);
        cfg_path_restore(c, mark);
    }

    int e;
    if (cfg_get_enum(c, &m, "mode", k_modes, &e) == 1) a->mode = (clove_accel_mode_t)e;
    if (cfg_get_enum(c, &m, "refresh_mode", k_refresh_modes, &e) == 1) {
        a->refresh_mode = (clove_refresh_mode_t)e;
        if (a->refresh_mode == CLOVE_REFRESH_CHANGES || a->refresh_mode == CLOVE_REFRESH_CACHING) {
            size_t mark = cfg_path_key(c, "refresh_mode");
            cfg_diag(c, true, peek(c, n, "refresh_mode"), "refresh mode \"%s\" is not supported "
                     "by clove yet; the dataset is refreshed in full mode", k_refresh_modes[e]);
            cfg_path_restore(c, mark);
            a->refresh_mode = CLOVE_REFRESH_FULL;
        }
    }
    cfg_get_duration(c, &m, "refresh_check_interval", false, &a->refresh_check_interval_ms);
    if (cfg_get_str(c, &m, "refresh_cron", &a->refresh_cron, NULL) == 1 &&
        !plausible_cron(a->refresh_cron)) {
        size_t mark = cfg_path_key(c, "refresh_cron");
        cfg_diag(c, false, peek(c, n, "refresh_cron"), "expected a cron schedule like "
                 "\"0 * * * *\"; got \"%s\"", a->refresh_cron);
        cfg_path_restore(c, mark);
    }
    get_str_noted(c, &m, "refresh_sql", &a->refresh_sql);
    cfg_get_duration(c, &m, "refresh_data_window", false, &a->refresh_data_window_ms);
    cfg_get_duration(c, &m, "refresh_append_overlap", false, &a->refresh_append_overlap_ms);
    cfg_get_bool(c, &m, "refresh_retry_enabled", &a->refresh_retry_enabled);
    long long v;
    if (cfg_get_int(c, &m, "refresh_retry_max_attempts", 0, INT_MAX, &v) == 1)
        a->refresh_retry_max_attempts = (int)v;
    cfg_get_bool(c, &m, "refresh_jitter_enabled", &a->refresh_jitter_enabled);
    int jitter = cfg_get_duration(c, &m, "refresh_jitter_max", true, &a->refresh_jitter_max_ms);
    get_enum_str(c, &m, "refresh_on_startup", k_on_startup, &a->refresh_on_startup);
    get_str_noted(c, &m, "primary_key", &a->primary_key);
    cfg_get_kv(c, &m, "on_conflict", k_on_conflict, &a->on_conflict);
    cfg_get_kv(c, &m, "indexes", k_index_types, &a->indexes);
    cfg_get_bool(c, &m, "retention_check_enabled", &a->retention_check_enabled);
    cfg_get_duration(c, &m, "retention_period", false, &a->retention_period_ms);
    cfg_get_duration(c, &m, "retention_check_interval", false, &a->retention_check_interval_ms);
    get_str_noted(c, &m, "retention_sql", &a->retention_sql);
    if (cfg_get_enum(c, &m, "on_zero_results", k_on_zero, &e) == 1)
        a->on_zero_results = (clove_on_zero_t)e;
    cfg_get_kv(c, &m, "params", NULL, &a->params);
    get_enum_str(c, &m, "snapshots", k_snapshot_modes, &a->snapshots);
    get_enum_str(c, &m, "snapshots_trigger", k_snapshot_triggers, &a->snapshots_trigger);
    char *threshold = NULL;
    int thr = cfg_get_str(c, &m, "snapshots_trigger_threshold", &threshold, NULL);
    get_enum_str(c, &m, "snapshots_creation_policy", k_creation_policies,
                 &a->snapshots_creation_policy);
    if (cfg_get_enum(c, &m, "snapshots_compaction", k_enabled_disabled, &e) == 1)
        a->snapshots_compaction = e == 1;
    if (cfg_get_enum(c, &m, "snapshots_reset_expiry_on_load", k_enabled_disabled, &e) == 1)
        a->snapshots_reset_expiry_on_load = e == 1;
    if (cfg_get_enum(c, &m, "ready_state", k_ready_states, &e) == 1) {
        size_t mark = cfg_path_key(c, "ready_state");
        cfg_diag(c, true, peek(c, n, "ready_state"), "deprecated: set ready_state on the "
                 "dataset instead");
        cfg_path_restore(c, mark);
        if (!d->ready_state_set) d->ready_state = (clove_ready_state_t)e;
    }
    cfg_map_close(c, &m, k_accel_unsupported);

    /* snapshot trigger threshold, interpreted by trigger */
    if (strcmp(a->snapshots_trigger, "time_interval") == 0) {
        a->snapshots_trigger_interval_ms = 600000;
        if (thr == 1 &&
            clove_parse_duration_ms(threshold, &a->snapshots_trigger_interval_ms) != 0) {
            size_t mark = cfg_path_key(c, "snapshots_trigger_threshold");
            cfg_diag(c, false, peek(c, n, "snapshots_trigger_threshold"), "expected a duration "
                     "like 10m for snapshots_trigger time_interval; got \"%s\"", threshold);
            cfg_path_restore(c, mark);
        }
    } else if (strcmp(a->snapshots_trigger, "stream_batches") == 0) {
        long long b = 0;
        char *end = NULL;
        if (thr == 1) b = strtoll(threshold, &end, 10);
        if (thr != 1) {
            diag_at_key(c, n, "snapshots_trigger", n, "snapshots_trigger stream_batches needs "
                        "snapshots_trigger_threshold (a number of batches)");
        } else if (!end || *end || b < 1) {
            size_t mark = cfg_path_key(c, "snapshots_trigger_threshold");
            cfg_diag(c, false, peek(c, n, "snapshots_trigger_threshold"), "expected a number "
                     "of batches of at least 1; got \"%s\"", threshold);
            cfg_path_restore(c, mark);
        } else {
            a->snapshots_trigger_batches = b;
        }
    } else if (thr == 1) {
        diag_at_key(c, n, "snapshots_trigger_threshold", n, "only used with snapshots_trigger "
                    "time_interval or stream_batches");
    }
    free(threshold);

    if (jitter == 0 && a->refresh_jitter_enabled)
        a->refresh_jitter_max_ms = a->refresh_check_interval_ms / 10;
}

/* Checks that need more than one key; reported at the key that is out of place. */
static void check_dataset(cfg_ctx_t *c, yaml_node_t *dn, clove_dataset_cfg_t *d)
{
    clove_accel_cfg_t *a = &d->acceleration;
    yaml_node_t *an = peek(c, dn, "acceleration");
    if (!a->configured || !an) return;
    size_t mark = cfg_path_key(c, "acceleration");
    if (a->refresh_cron && a->refresh_check_interval_ms)
        diag_at_key(c, an, "refresh_cron", an, "refresh_cron and refresh_check_interval cannot "
                    "be used together; choose one");
    if (a->refresh_data_window_ms && !d->time_column)
        diag_at_key(c, an, "refresh_data_window", an, "refresh_data_window needs the dataset's "
                    "time_column");
    if (a->refresh_append_overlap_ms) {
        if (a->refresh_mode != CLOVE_REFRESH_APPEND)
            diag_at_key(c, an, "refresh_append_overlap", an, "refresh_append_overlap is only "
                        "used with refresh_mode append");
        else if (!d->time_column)
            diag_at_key(c, an, "refresh_append_overlap", an, "refresh_append_overlap needs the "
                        "dataset's time_column");
    }
    if (a->retention_check_enabled) {
        if (!a->retention_period_ms && !a->retention_sql)
            diag_at_key(c, an, "retention_check_enabled", an, "retention_check_enabled needs "
                        "retention_period or retention_sql");
        if (!a->retention_check_interval_ms)
            diag_at_key(c, an, "retention_check_enabled", an, "retention_check_enabled needs "
                        "retention_check_interval");
        if (a->retention_period_ms && !d->time_column)
            diag_at_key(c, an, "retention_period", an, "retention_period needs the dataset's "
                        "time_column");
    }
    if (a->mode != CLOVE_MODE_MEMORY && a->engine == CLOVE_ENGINE_ARROW) {
        char msg[160];
        snprintf(msg, sizeof msg, "mode %s needs engine duckdb or sqlite; the arrow engine "
                 "keeps data in memory", k_modes[a->mode]);
        diag_at_key(c, an, "mode", an, msg);
    }
    bool on_conflict_ok = true;
    for (size_t i = 0; i < a->on_conflict.len; i++)
        if (strcmp(a->on_conflict.items[i].value, "drop") != 0 && a->on_conflict.len > 1)
            on_conflict_ok = false;
    if (!on_conflict_ok)
        diag_at_key(c, an, "on_conflict", an, "only one on_conflict target is allowed unless "
                    "every target is drop");
    if (a->snapshots && strcmp(a->snapshots, "disabled") != 0) {
        if (!c->cfg->snapshots.configured)
            diag_at_key(c, an, "snapshots", an, "snapshots need the top-level snapshots section "
                        "(location of the snapshot store)");
        if (a->engine != CLOVE_ENGINE_DUCKDB && a->engine != CLOVE_ENGINE_SQLITE)
            diag_at_key(c, an, "snapshots", an, "snapshots need engine duckdb or sqlite");
        else if (a->mode == CLOVE_MODE_MEMORY)
            diag_at_key(c, an, "snapshots", an, "snapshots need mode file, file_create or "
                        "file_update");
        if (a->snapshots_compaction && a->engine == CLOVE_ENGINE_SQLITE) {
            size_t m2 = cfg_path_key(c, "snapshots_compaction");
            cfg_diag(c, true, peek(c, an, "snapshots_compaction"), "snapshot compaction is only "
                     "done for the duckdb engine; ignored");
            cfg_path_restore(c, m2);
            a->snapshots_compaction = false;
        }
    }
    cfg_path_restore(c, mark);
}

static void parse_dataset(cfg_ctx_t *c, yaml_node_t *n, clove_dataset_cfg_t *d,
                          yaml_node_t **name_node)
{
    dataset_defaults(d);
    d->line = (int)n->start_mark.line + 1;
    d->col = (int)n->start_mark.column + 1;
    *name_node = NULL;
    cfg_map_t m;
    if (!cfg_map_open(c, n, &m)) return;
    yaml_node_t *ref = cfg_map_take(c, &m, "ref", NULL);
    if (ref) {
        size_t mark = cfg_path_key(c, "ref");
        cfg_diag(c, false, ref, "dataset references are not supported by clove yet; define the "
                 "dataset inline");
        cfg_path_restore(c, mark);
    }
    int from = get_str_noted(c, &m, "from", &d->from);
    *name_node = cfg_map_take(c, &m, "name", NULL);
    int name = 0;
    if (*name_node) {
        size_t mark = cfg_path_key(c, "name");
        name = cfg_node_str(c, *name_node, &d->name, NULL);
        if (name == 1 && !check_name(c, *name_node, "dataset", d->name)) name = -1;
        cfg_path_restore(c, mark);
    }
    get_str_noted(c, &m, "description", &d->description);
    cfg_get_kv(c, &m, "params", NULL, &d->params);
    get_str_noted(c, &m, "time_column", &d->time_column);
    get_enum_str(c, &m, "time_format", k_time_formats, &d->time_format);
    int e;
    if (cfg_get_enum(c, &m, "ready_state", k_ready_states, &e) == 1) {
        d->ready_state = (clove_ready_state_t)e;
        d->ready_state_set = true;
    }
    /* `mode: read_write` is the older spelling of `access` */
    if (get_enum_str(c, &m, "access", k_access, &d->access) == 0)
        get_enum_str(c, &m, "mode", k_access, &d->access);
    else
        cfg_map_take(c, &m, "mode", NULL);
    yaml_node_t *acc = cfg_map_take(c, &m, "acceleration", NULL);
    if (acc) {
        size_t mark = cfg_path_key(c, "acceleration");
        parse_acceleration(c, acc, d);
        cfg_path_restore(c, mark);
    }
    cfg_map_close(c, &m, k_dataset_unsupported);
    if (from == 0 && !ref) cfg_diag(c, false, n, "missing required key \"from\"");
    if (from == 1 && d->from[0] == '\0')
        diag_at_key(c, n, "from", n, "must not be empty");
    if (name == 0 && !ref) cfg_diag(c, false, n, "missing required key \"name\"");
    if (name != 1) *name_node = NULL;
    check_dataset(c, n, d);
}

static void parse_datasets(cfg_ctx_t *c, yaml_node_t *n)
{
    clove_config_t *cfg = c->cfg;
    yaml_node_item_t *items;
    size_t count = cfg_seq_items(c, n, "datasets", &items);
    if (!count) return;
    cfg->datasets = clove_xcalloc(count, sizeof *cfg->datasets);
    yaml_node_t **names = clove_xcalloc(count, sizeof *names);
    for (size_t i = 0; i < count; i++) {
        size_t mark = cfg_path_index(c, i);
        yaml_node_t *item = cfg_node(c, items[i]);
        parse_dataset(c, item, &cfg->datasets[i], &names[i]);
        cfg->n_datasets++;
        if (names[i]) {
            for (size_t j = 0; j < i; j++) {
                if (names[j] && strcasecmp(cfg->datasets[j].name, cfg->datasets[i].name) == 0) {
                    size_t m2 = cfg_path_key(c, "name");
                    cfg_diag(c, false, names[i], "duplicate dataset name \"%s\" (datasets[%zu] "
                             "at line %d has the same name; names are case-insensitive)",
                             cfg->datasets[i].name, j, cfg->datasets[j].line);
                    cfg_path_restore(c, m2);
                    break;
                }
            }
        }
        cfg_path_restore(c, mark);
    }
    free(names);
}

/* ---- views ----------------------------------------------------------------------------- */

static void parse_views(cfg_ctx_t *c, yaml_node_t *n)
{
    clove_config_t *cfg = c->cfg;
    yaml_node_item_t *items;
    size_t count = cfg_seq_items(c, n, "views", &items);
    if (!count) return;
    cfg->views = clove_xcalloc(count, sizeof *cfg->views);
    yaml_node_t **names = clove_xcalloc(count, sizeof *names);
    for (size_t i = 0; i < count; i++) {
        size_t mark = cfg_path_index(c, i);
        yaml_node_t *item = cfg_node(c, items[i]);
        clove_view_cfg_t *v = &cfg->views[cfg->n_views++];
        v->line = (int)item->start_mark.line + 1;
        v->col = (int)item->start_mark.column + 1;
        cfg_map_t m;
        if (!cfg_map_open(c, item, &m)) {
            cfg_path_restore(c, mark);
            continue;
        }
        yaml_node_t *nn = cfg_map_take(c, &m, "name", NULL);
        int name = 0;
        if (nn) {
            size_t m2 = cfg_path_key(c, "name");
            name = cfg_node_str(c, nn, &v->name, NULL);
            if (name == 1 && !check_name(c, nn, "view", v->name)) name = -1;
            cfg_path_restore(c, m2);
        }
        int sql = get_str_noted(c, &m, "sql", &v->sql);
        get_str_noted(c, &m, "description", &v->description);
        yaml_node_t *sql_ref = cfg_map_take(c, &m, "sql_ref", NULL);
        if (sql_ref) {
            size_t m2 = cfg_path_key(c, "sql_ref");
            cfg_diag(c, false, sql_ref, "views from SQL files are not supported by clove yet; "
                     "put the query in sql");
            cfg_path_restore(c, m2);
        }
        cfg_map_close(c, &m, k_view_unsupported);
        if (name == 0) cfg_diag(c, false, item, "missing required key \"name\"");
        if (sql == 0 && !sql_ref) cfg_diag(c, false, item, "missing required key \"sql\"");
        if (sql == 1 && v->sql[strspn(v->sql, " \t\r\n")] == '\0')
            diag_at_key(c, item, "sql", item, "must not be empty");
        if (name == 1) {
            names[i] = nn;
            size_t m2 = cfg_path_key(c, "name");
            for (size_t j = 0; j < cfg->n_datasets; j++) {
                if (cfg->datasets[j].name && strcasecmp(cfg->datasets[j].name, v->name) == 0) {
                    cfg_diag(c, false, nn, "view name \"%s\" is already used by datasets[%zu] "
                             "at line %d", v->name, j, cfg->datasets[j].line);
                    names[i] = NULL;
                    break;
                }
            }
            for (size_t j = 0; names[i] && j < i; j++) {
                if (names[j] && strcasecmp(cfg->views[j].name, v->name) == 0) {
                    cfg_diag(c, false, nn, "duplicate view name \"%s\" (views[%zu] at line %d has "
                             "the same name; names are case-insensitive)", v->name, j,
                             cfg->views[j].line);
                    break;
                }
            }
            cfg_path_restore(c, m2);
        }
        cfg_path_restore(c, mark);
    }
    free(names);
}

/* ---- the pod --------------------------------------------------------------------------- */

/* v1, v2, v2.0, v2.0.0, v2.0.0-rc.1: what the Spice runtime accepts. */
static bool valid_version(const char *s)
{
    if (s[0] != 'v' || (s[1] != '1' && s[1] != '2')) return false;
    const char *p = s + 2;
    int numbers = 1;
    while (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p) || (p[0] == '0' && isdigit((unsigned char)p[1])))
            return false;
        while (isdigit((unsigned char)*p)) p++;
        numbers++;
        if (numbers > 3) return false;
    }
    if (*p == '-') {
        if (numbers != 3 || !p[1]) return false;
        for (p++; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.') return false;
    }
    return *p == '\0';
}

void cfg_pod_parse(cfg_ctx_t *c, yaml_node_t *root)
{
    clove_config_t *cfg = c->cfg;
    cfg_map_t m;
    if (!cfg_map_open(c, root, &m)) {
        cfg_secrets_load(c, NULL);
        return;
    }
    /* secret stores first: every other string may refer to them */
    cfg_secrets_load(c, cfg_map_take(c, &m, "secrets", NULL));

    yaml_node_t *vn = cfg_map_take(c, &m, "version", NULL);
    if (vn) {
        size_t mark = cfg_path_key(c, "version");
        int vr = cfg_node_str(c, vn, &cfg->version, NULL);
        if (vr == 1 && !valid_version(cfg->version))
            cfg_diag(c, false, vn, "expected one of v1, v2; got \"%s\"", cfg->version);
        else if (vr == 0)
            cfg_diag(c, false, vn, "expected one of v1, v2; got null");
        cfg_path_restore(c, mark);
    } else {
        cfg_diag(c, false, root, "missing required key \"version\" (v1 or v2)");
    }
    yaml_node_t *kn = cfg_map_take(c, &m, "kind", NULL);
    if (kn) {
        size_t mark = cfg_path_key(c, "kind");
        char *kind = NULL;
        if (cfg_node_str(c, kn, &kind, NULL) >= 0 && (!kind || strcmp(kind, "Spicepod") != 0))
            cfg_diag(c, false, kn, "expected \"Spicepod\"; got \"%s\"", kind ? kind : "null");
        free(kind);
        cfg_path_restore(c, mark);
    } else {
        cfg_diag(c, false, root, "missing required key \"kind\" (Spicepod)");
    }
    int r = get_str_noted(c, &m, "name", &cfg->name);
    if (r == 0)
        cfg_diag(c, false, root, "missing required key \"name\"");
    else if (r == 1 && cfg->name[0] == '\0')
        diag_at_key(c, root, "name", root, "must not be empty");

    section(c, &m, "runtime", parse_runtime);
    section(c, &m, "snapshots", parse_snapshots);
    section(c, &m, "datasets", parse_datasets);
    section(c, &m, "views", parse_views);
    cfg_map_close(c, &m, k_top_unsupported);
}
