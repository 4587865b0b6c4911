/*
 * config_json.c: the spicepod as JSON for GET /v1/spicepods, shaped like the Spice runtime's
 * serialization of a Spicepod (version, kind, name, datasets with from/name/params/
 * acceleration, views, ...). Every value that came from a secret, and every parameter whose
 * name says it holds a credential, reads "[REDACTED]". Runtime settings (API keys, TLS keys)
 * and secret store definitions are left out.
 */
#include "config/config_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const k_sensitive[] = {
    "pass", "secret", "token", "key", "credential", "connection_string", "auth_header", NULL,
};

bool cfg_sensitive_key(const char *key)
{
    for (size_t i = 0; k_sensitive[i]; i++)
        if (strcasestr(key, k_sensitive[i])) return true;
    return false;
}

/* A JSON string for s; invalid UTF-8 (only possible in values read from .env files, which
 * are redacted anyway) becomes U+FFFD rather than failing. */
static json_t *jstr(const char *s)
{
    json_t *j = json_string(s);
    return j ? j : json_string("\xEF\xBF\xBD");
}

static void put_str(cfg_ctx_t *c, json_t *o, const char *key, const char *s)
{
    if (!s) return;
    json_object_set_new(o, key, cfg_is_secret(c, s) ? json_string(CFG_REDACTED) : jstr(s));
}

static void put_duration(json_t *o, const char *key, int64_t ms)
{
    if (ms <= 0) return;
    char buf[64];
    clove_format_duration(ms, buf, sizeof buf);
    json_object_set_new(o, key, json_string(buf));
}

static void put_kv(json_t *o, const char *key, const clove_kvlist_t *l, bool redact)
{
    if (!l->len) return;
    json_t *m = json_object();
    for (size_t i = 0; i < l->len; i++) {
        const clove_kv_t *kv = &l->items[i];
        bool hide = redact && (kv->secret || cfg_sensitive_key(kv->key));
        json_object_set_new(m, kv->key, hide ? json_string(CFG_REDACTED) : jstr(kv->value));
    }
    json_object_set_new(o, key, m);
}

static json_t *accel_json(cfg_ctx_t *c, const clove_accel_cfg_t *a)
{
    static const char *const engines[] = {"arrow", "duckdb", "sqlite"};
    static const char *const modes[] = {"memory", "file", "file_create", "file_update"};
    static const char *const refresh[] = {"full", "append", "changes", "caching"};
    json_t *o = json_object();
    json_object_set_new(o, "enabled", json_boolean(a->enabled));
    json_object_set_new(o, "engine", json_string(engines[a->engine]));
    json_object_set_new(o, "mode", json_string(modes[a->mode]));
    json_object_set_new(o, "refresh_mode", json_string(refresh[a->refresh_mode]));
    put_duration(o, "refresh_check_interval", a->refresh_check_interval_ms);
    put_str(c, o, "refresh_cron", a->refresh_cron);
    put_str(c, o, "refresh_sql", a->refresh_sql);
    put_duration(o, "refresh_data_window", a->refresh_data_window_ms);
    put_duration(o, "refresh_append_overlap", a->refresh_append_overlap_ms);
    json_object_set_new(o, "refresh_retry_enabled", json_boolean(a->refresh_retry_enabled));
    if (a->refresh_retry_max_attempts >= 0)
        json_object_set_new(o, "refresh_retry_max_attempts",
                            json_integer(a->refresh_retry_max_attempts));
    json_object_set_new(o, "refresh_jitter_enabled", json_boolean(a->refresh_jitter_enabled));
    put_duration(o, "refresh_jitter_max", a->refresh_jitter_max_ms);
    put_str(c, o, "refresh_on_startup", a->refresh_on_startup);
    put_str(c, o, "primary_key", a->primary_key);
    put_kv(o, "on_conflict", &a->on_conflict, false);
    put_kv(o, "indexes", &a->indexes, false);
    if (a->retention_check_enabled)
        json_object_set_new(o, "retention_check_enabled", json_true());
    put_duration(o, "retention_period", a->retention_period_ms);
    put_duration(o, "retention_check_interval", a->retention_check_interval_ms);
    put_str(c, o, "retention_sql", a->retention_sql);
    json_object_set_new(o, "on_zero_results", json_string(a->on_zero_results ==
                        CLOVE_ZERO_USE_SOURCE ? "use_source" : "return_empty"));
    put_kv(o, "params", &a->params, true);
    if (a->snapshots) {
        put_str(c, o, "snapshots", a->snapshots);
        put_str(c, o, "snapshots_trigger", a->snapshots_trigger);
        put_str(c, o, "snapshots_creation_policy", a->snapshots_creation_policy);
    }
    return o;
}

char *cfg_json_build(cfg_ctx_t *c)
{
    const clove_config_t *cfg = c->cfg;
    json_t *root = json_object();
    put_str(c, root, "version", cfg->version);
    json_object_set_new(root, "kind", json_string("Spicepod"));
    put_str(c, root, "name", cfg->name);
    if (cfg->snapshots.configured) {
        static const char *const fb[] = {"warn", "retry", "fallback"};
        json_t *s = json_object();
        json_object_set_new(s, "enabled", json_boolean(cfg->snapshots.enabled));
        put_str(c, s, "location", cfg->snapshots.location);
        json_object_set_new(s, "bootstrap_on_failure_behavior",
                            json_string(fb[cfg->snapshots.bootstrap_on_failure_behavior]));
        put_kv(s, "params", &cfg->snapshots.params, true);
        json_object_set_new(root, "snapshots", s);
    }
    json_t *ds = json_array();
    for (size_t i = 0; i < cfg->n_datasets; i++) {
        const clove_dataset_cfg_t *d = &cfg->datasets[i];
        json_t *o = json_object();
        put_str(c, o, "from", d->from);
        put_str(c, o, "name", d->name);
        put_str(c, o, "description", d->description);
        put_kv(o, "params", &d->params, true);
        put_str(c, o, "time_column", d->time_column);
        put_str(c, o, "time_format", d->time_format);
        json_object_set_new(o, "ready_state", json_string(d->ready_state ==
                            CLOVE_READY_ON_REGISTRATION ? "on_registration" : "on_load"));
        put_str(c, o, "access", d->access);
        if (d->acceleration.configured)
            json_object_set_new(o, "acceleration", accel_json(c, &d->acceleration));
        json_array_append_new(ds, o);
    }
    json_object_set_new(root, "datasets", ds);
    json_t *vs = json_array();
    for (size_t i = 0; i < cfg->n_views; i++) {
        const clove_view_cfg_t *v = &cfg->views[i];
        json_t *o = json_object();
        put_str(c, o, "name", v->name);
        put_str(c, o, "description", v->description);
        put_str(c, o, "sql", v->sql);
        json_array_append_new(vs, o);
    }
    json_object_set_new(root, "views", vs);
    json_object_set_new(root, "models", json_array());
    json_object_set_new(root, "dependencies", json_array());
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out;
}
