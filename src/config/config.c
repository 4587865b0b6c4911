/*
 * config.c: loading a spicepod. Finds the file, parses it with libyaml's document API (so
 * every node keeps its line and column), applies --set-runtime overrides as extra nodes of
 * the same document (so they are validated exactly like file values), runs the schema, and
 * hands back an immutable, reference-counted clove_config_t plus every diagnostic, sorted by
 * position.
 */
#include "config/config_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPICEPOD_MAX_BYTES (16u << 20)

/* ---- small public helpers -------------------------------------------------------------- */

const char *clove_kv_get(const clove_kvlist_t *l, const char *key)
{
    if (!l || !key) return NULL;
    for (size_t i = 0; i < l->len; i++)
        if (strcmp(l->items[i].key, key) == 0) return l->items[i].value;
    return NULL;
}

void clove_config_diags_dispose(clove_config_diags_t *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->len; i++) free(d->items[i].message);
    free(d->items);
    memset(d, 0, sizeof *d);
}

const clove_dataset_cfg_t *clove_config_dataset(const clove_config_t *c, const char *name)
{
    if (!c || !name) return NULL;
    for (size_t i = 0; i < c->n_datasets; i++)
        if (c->datasets[i].name && strcasecmp(c->datasets[i].name, name) == 0)
            return &c->datasets[i];
    return NULL;
}

/* ---- lifetime -------------------------------------------------------------------------- */

static void accel_free(clove_accel_cfg_t *a)
{
    free(a->refresh_cron);
    free(a->refresh_sql);
    free(a->refresh_on_startup);
    free(a->primary_key);
    cfg_kv_dispose(&a->on_conflict);
    cfg_kv_dispose(&a->indexes);
    free(a->retention_sql);
    cfg_kv_dispose(&a->params);
    free(a->snapshots);
    free(a->snapshots_trigger);
    free(a->snapshots_creation_policy);
}

static void config_free(clove_config_t *c)
{
    free(c->path);
    free(c->dir);
    free(c->version);
    free(c->name);
    clove_runtime_cfg_t *rt = &c->runtime;
    for (size_t i = 0; i < rt->n_api_keys; i++) free(rt->api_keys[i].key);
    free(rt->api_keys);
    free(rt->tls_certificate_file);
    free(rt->tls_key_file);
    free(rt->tls_certificate);
    free(rt->tls_key);
    free(rt->results_cache_eviction_policy);
    free(rt->query_temp_directory);
    cfg_kv_dispose(&rt->params);
    for (size_t i = 0; i < c->n_datasets; i++) {
        clove_dataset_cfg_t *d = &c->datasets[i];
        free(d->name);
        free(d->from);
        free(d->description);
        cfg_kv_dispose(&d->params);
        free(d->time_column);
        free(d->time_format);
        free(d->access);
        accel_free(&d->acceleration);
    }
    free(c->datasets);
    for (size_t i = 0; i < c->n_views; i++) {
        free(c->views[i].name);
        free(c->views[i].sql);
        free(c->views[i].description);
    }
    free(c->views);
    free(c->redacted_json);
    for (size_t i = 0; i < c->n_secret_values; i++) free(c->secret_values[i]);
    free(c->secret_values);
    free(c->snapshots.location);
    cfg_kv_dispose(&c->snapshots.params);
    free(c);
}

clove_config_t *clove_config_ref(clove_config_t *c)
{
    if (c) __atomic_add_fetch(&c->refcount, 1, __ATOMIC_RELAXED);
    return c;
}

void clove_config_unref(clove_config_t *c)
{
    if (!c) return;
    int left = __atomic_sub_fetch(&c->refcount, 1, __ATOMIC_ACQ_REL);
    CLOVE_ASSERT(left >= 0);
    if (left == 0) config_free(c);
}

static void runtime_defaults(clove_runtime_cfg_t *rt)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1) cpus = 1;
    if (cpus > INT_MAX / 4) cpus = INT_MAX / 4;
    rt->max_concurrent_queries = (int)(4 * cpus);
    rt->shutdown_timeout_ms = 30000;
    rt->max_request_body = 128ull << 20;
    rt->flight_max_message_size = 100ull << 20;
    rt->results_cache_enabled = true;
    rt->results_cache_max_size = 128ull << 20;
    rt->results_cache_item_ttl_ms = 1000;
    rt->results_cache_eviction_policy = clove_xstrdup("lru");
    rt->ready_state = CLOVE_READY_ON_LOAD;
}

/* ---- finding and reading the file ------------------------------------------------------ */

static char *lower_first(const char *s)
{
    char *p = clove_xstrdup(s);
    p[0] = (char)tolower((unsigned char)p[0]);
    return p;
}

/* Resolves `path` to the spicepod file; reports why not and returns NULL. */
static char *find_spicepod(cfg_ctx_t *c, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        char *why = lower_first(strerror(errno));
        cfg_diag_plain(c, false, "could not open spicepod \"%s\": %s", path, why);
        free(why);
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) return clove_xstrdup(path);
    static const char *const names[] = {"spicepod.yaml", "spicepod.yml"};
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(path);
        char *p = clove_xasprintf("%s%s%s", path, n && path[n - 1] == '/' ? "" : "/", names[i]);
        if (stat(p, &st) == 0 && !S_ISDIR(st.st_mode)) return p;
        free(p);
    }
    cfg_diag_plain(c, false, "no spicepod.yaml or spicepod.yml in directory \"%s\"", path);
    return NULL;
}

static char *read_file(cfg_ctx_t *c, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        char *why = lower_first(strerror(errno));
        cfg_diag_plain(c, false, "could not open spicepod \"%s\": %s", path, why);
        free(why);
        return NULL;
    }
    char *data = malloc(SPICEPOD_MAX_BYTES + 1);
    if (!data) {
        fclose(f);
        cfg_diag_plain(c, false, "could not read spicepod \"%s\": out of memory", path);
        return NULL;
    }
    size_t n = fread(data, 1, SPICEPOD_MAX_BYTES + 1, f);
    bool err = ferror(f);
    fclose(f);
    if (err) {
        cfg_diag_plain(c, false, "could not read spicepod \"%s\"", path);
        free(data);
        return NULL;
    }
    if (n > SPICEPOD_MAX_BYTES) {
        cfg_diag_plain(c, false, "spicepod \"%s\" is larger than 16 MiB", path);
        free(data);
        return NULL;
    }
    data[n] = '\0';
    *len = n;
    return data;
}

static void yaml_error(cfg_ctx_t *c, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "invalid YAML";
    int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
    if (p->error == YAML_MEMORY_ERROR) {
        cfg_diag_plain(c, false, "%s: could not parse YAML: out of memory", c->file);
    } else if (p->context) {
        cfg_diag_plain(c, false, "%s:%d:%d: could not parse YAML: %s %s (line %d, column %d)",
                       c->file, line, col, problem, p->context,
                       (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    } else {
        cfg_diag_plain(c, false, "%s:%d:%d: could not parse YAML: %s", c->file, line, col,
                       problem);
    }
    /* keep it in position order with the rest */
    c->diags[c->n_diags - 1].line = line;
    c->diags[c->n_diags - 1].col = col;
}

/* Parses the text into c->doc; false (after reporting) on syntax errors or an empty file. */
static bool parse_yaml(cfg_ctx_t *c, const char *text, size_t len)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        cfg_diag_plain(c, false, "%s: could not parse YAML: out of memory", c->file);
        return false;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    bool ok = false;
    if (!yaml_parser_load(&parser, &c->doc)) {
        yaml_error(c, &parser);
        goto out;
    }
    c->doc_loaded = true;
    if (!yaml_document_get_root_node(&c->doc)) {
        cfg_diag_plain(c, false, "%s:1:1: the file is empty; expected a Spicepod (version, kind, "
                       "name, datasets, ...)", c->file);
        goto out;
    }
    yaml_document_t next;
    if (!yaml_parser_load(&parser, &next)) {
        yaml_error(c, &parser);
        goto out;
    }
    yaml_node_t *extra = yaml_document_get_root_node(&next);
    if (extra) {
        int line = (int)extra->start_mark.line + 1, col = (int)extra->start_mark.column + 1;
        cfg_diag_plain(c, false, "%s:%d:%d: a spicepod holds one YAML document; found a second "
                       "one here", c->file, line, col);
        c->diags[c->n_diags - 1].line = line;
        c->diags[c->n_diags - 1].col = col;
        yaml_document_delete(&next);
        goto out;
    }
    yaml_document_delete(&next);
    ok = true;
out:
    yaml_parser_delete(&parser);
    return ok;
}

/* ---- --set-runtime --------------------------------------------------------------------- */

static int add_node(cfg_ctx_t *c, size_t override_index, int id)
{
    if (id == 0) return 0;
    size_t slot = (size_t)id - c->n_file_nodes - 1;
    if (slot >= c->n_override_of) {
        c->override_of = clove_xrealloc(c->override_of, (slot + 1) * sizeof *c->override_of);
        c->n_override_of = slot + 1;
    }
    c->override_of[slot] = override_index;
    return id;
}

static int add_scalar(cfg_ctx_t *c, size_t oi, const char *s, size_t len)
{
    return add_node(c, oi, yaml_document_add_scalar(&c->doc, NULL, (yaml_char_t *)s, (int)len,
                                                    YAML_PLAIN_SCALAR_STYLE));
}

static int add_mapping(cfg_ctx_t *c, size_t oi)
{
    return add_node(c, oi, yaml_document_add_mapping(&c->doc, NULL, YAML_BLOCK_MAPPING_STYLE));
}

/* The pair of `map_id` whose key is seg[0..len), or -1. */
static long find_pair(cfg_ctx_t *c, int map_id, const char *seg, size_t len)
{
    yaml_node_t *m = cfg_node(c, map_id);
    long n = (long)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
    for (long i = 0; i < n; i++) {
        yaml_node_t *k = cfg_node(c, m->data.mapping.pairs.start[i].key);
        if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == len &&
            memcmp(k->data.scalar.value, seg, len) == 0)
            return i;
    }
    return -1;
}

static void apply_override(cfg_ctx_t *c, size_t oi)
{
    const char *o = c->overrides[oi];
    const char *eq = strchr(o, '=');
    if (!eq || eq == o) {
        cfg_diag_plain(c, false, "--set-runtime \"%s\": expected KEY=VALUE, e.g. "
                       "query.timeout=30s", o);
        return;
    }
    for (const char *p = o; p < eq; p++) {
        if (*p == '.' && (p == o || p + 1 == eq || p[1] == '.')) {
            cfg_diag_plain(c, false, "--set-runtime \"%s\": invalid key \"%.*s\"", o,
                           (int)(eq - o), o);
            return;
        }
    }
    yaml_node_t *root = yaml_document_get_root_node(&c->doc);
    if (!root || root->type != YAML_MAPPING_NODE) return; /* reported by the schema */
    int cur = 1;
    const char *seg = "runtime";
    size_t seg_len = 7;
    /* the key is relative to `runtime`; a leading "runtime." is accepted too */
    const char *next = strncmp(o, "runtime.", 8) == 0 && o + 8 < eq ? o + 8 : o;
    char shown[CFG_PATH_MAX] = "runtime";
    for (;;) {
        bool last = next == NULL;
        long pi = find_pair(c, cur, seg, seg_len);
        int value_id;
        if (last) {
            const char *v = eq + 1;
            value_id = add_scalar(c, oi, v, strlen(v));
        } else if (pi >= 0) {
            int vid = cfg_node(c, cur)->data.mapping.pairs.start[pi].value;
            yaml_node_t *vn = cfg_node(c, vid);
            if (vn->type == YAML_MAPPING_NODE) {
                cur = vid;
                goto advance;
            }
            if (!cfg_is_null(vn)) {
                cfg_diag_plain(c, false, "--set-runtime \"%s\": %s is %s in the spicepod, not a "
                               "mapping", o, shown, cfg_kind_name(vn));
                return;
            }
            value_id = add_mapping(c, oi);
        } else {
            value_id = add_mapping(c, oi);
        }
        if (!value_id) {
            cfg_diag_plain(c, false, "--set-runtime \"%s\": the value is not valid UTF-8", o);
            return;
        }
        if (pi >= 0) {
            cfg_node(c, cur)->data.mapping.pairs.start[pi].value = value_id;
        } else {
            int key_id = add_scalar(c, oi, seg, seg_len);
            if (!key_id || !yaml_document_append_mapping_pair(&c->doc, cur, key_id, value_id)) {
                cfg_diag_plain(c, false, "--set-runtime \"%s\": invalid key", o);
                return;
            }
        }
        if (last) return;
        cur = value_id;
    advance:
        seg = next;
        const char *dot = memchr(next, '.', (size_t)(eq - next));
        seg_len = dot ? (size_t)(dot - next) : (size_t)(eq - next);
        next = dot ? dot + 1 : NULL;
        size_t sl = strlen(shown);
        snprintf(shown + sl, sizeof shown - sl, ".%.*s", (int)seg_len, seg);
    }
}

/* ---- diagnostics out ------------------------------------------------------------------- */

static int diag_cmp(const void *a, const void *b)
{
    const cfg_diag_t *x = a, *y = b;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    if (x->col != y->col) return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void hand_over_diags(cfg_ctx_t *c, clove_config_diags_t *out)
{
    if (c->n_diags) qsort(c->diags, c->n_diags, sizeof *c->diags, diag_cmp);
    for (size_t i = 0; i < c->n_diags; i++) {
        if (!out) {
            free(c->diags[i].message);
            continue;
        }
        out->items = clove_xrealloc(out->items, (out->len + 1) * sizeof *out->items);
        out->items[out->len].message = c->diags[i].message;
        out->items[out->len].warning = c->diags[i].warning;
        out->len++;
        if (!c->diags[i].warning) out->n_errors++;
    }
    if (c->n_dropped && out) {
        out->items = clove_xrealloc(out->items, (out->len + 1) * sizeof *out->items);
        out->items[out->len].message = clove_xasprintf("%s: %zu more problems not shown",
                                                       c->file, c->n_dropped);
        out->items[out->len].warning = false;
        out->len++;
    }
    /* n_errors counts every error, shown or not */
    if (out) {
        size_t shown = 0;
        for (size_t i = 0; i < c->n_diags; i++) shown += !c->diags[i].warning;
        out->n_errors += c->n_errors - shown;
    }
    free(c->diags);
    c->diags = NULL;
    c->n_diags = 0;
}

/* ---- load ------------------------------------------------------------------------------ */

clove_config_t *clove_config_load(const char *path, const char *const *overrides,
                                  size_t n_overrides, clove_config_diags_t *diags)
{
    cfg_ctx_t c;
    memset(&c, 0, sizeof c);
    clove_config_t *cfg = NULL;
    char *file = NULL, *text = NULL, *dir = NULL;
    size_t len = 0;
    c.file = path ? path : "";
    c.overrides = overrides;

    if (!path || !*path) {
        cfg_diag_plain(&c, false, "no spicepod path given");
        goto out;
    }
    file = find_spicepod(&c, path);
    if (!file) goto out;
    const char *slash = strrchr(file, '/');
    c.file = slash ? slash + 1 : file;
    dir = slash ? clove_xstrndup(file, (size_t)(slash - file) + (slash == file)) :
                  clove_xstrdup(".");
    char *real = realpath(dir, NULL);
    if (real) {
        free(dir);
        dir = real;
    }
    c.dir = dir;
    text = read_file(&c, file, &len);
    if (!text) goto out;
    if (!parse_yaml(&c, text, len)) goto out;

    c.n_file_nodes = (size_t)(c.doc.nodes.top - c.doc.nodes.start);
    for (size_t i = 0; i < n_overrides; i++) apply_override(&c, i);

    cfg = clove_xcalloc(1, sizeof *cfg);
    cfg->refcount = 1;
    cfg->dir = clove_xstrdup(dir);
    cfg->path = clove_xasprintf("%s%s%s", dir, strcmp(dir, "/") ? "/" : "", c.file);
    runtime_defaults(&cfg->runtime);
    c.cfg = cfg;
    cfg_pod_parse(&c, yaml_document_get_root_node(&c.doc));
    if (c.n_errors == 0) {
        cfg->redacted_json = cfg_json_build(&c);
        if (!cfg->redacted_json) cfg_diag_plain(&c, false, "out of memory building spicepod JSON");
    }

out:
    if (c.n_errors && cfg) {
        config_free(cfg);
        cfg = NULL;
    }
    /* c.file may point into `file`: hand diagnostics over before freeing it */
    hand_over_diags(&c, diags);
    cfg_secrets_dispose(&c);
    if (c.doc_loaded) yaml_document_delete(&c.doc);
    free(c.override_of);
    free(c.secret_strs);
    free(text);
    free(file);
    free(dir);
    return cfg;
}
