/*
 * config_node.c: reading YAML nodes for the Spicepod loader. Every problem becomes a
 * diagnostic "file:line:col: key.path: message" at the offending node; typed readers turn
 * scalars into strings (with ${secrets:..} expansion), booleans, integers, durations, sizes
 * and enum values, and a mapping reader reports unknown and duplicate keys.
 */
#include "config/config_int.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- diagnostics ----------------------------------------------------------------------- */

static void diag_push(cfg_ctx_t *c, bool warning, int line, int col, char *message)
{
    if (!warning) c->n_errors++;
    if (c->n_diags >= CFG_MAX_DIAGS) {
        free(message);
        c->n_dropped++;
        return;
    }
    if (c->n_diags == c->cap_diags) {
        c->cap_diags = c->cap_diags ? c->cap_diags * 2 : 16;
        c->diags = clove_xrealloc(c->diags, c->cap_diags * sizeof *c->diags);
    }
    cfg_diag_t *d = &c->diags[c->n_diags];
    d->line = line;
    d->col = col;
    d->seq = c->n_diags;
    d->warning = warning;
    d->message = message;
    c->n_diags++;
}

void cfg_diag(cfg_ctx_t *c, bool warning, const yaml_node_t *at, const char *fmt, ...)
{
    clove_buf_t b;
    clove_buf_init(&b);
    int line = 0, col = 0;
    size_t id = 0;
    if (at && c->doc_loaded) id = (size_t)(at - c->doc.nodes.start) + 1;
    if (id > c->n_file_nodes && id - c->n_file_nodes - 1 < c->n_override_of) {
        const char *o = c->overrides[c->override_of[id - c->n_file_nodes - 1]];
        clove_buf_puts(&b, "--set-runtime ");
        clove_buf_json_string(&b, o, strlen(o));
        line = INT_MAX;
        col = 0;
    } else if (at) {
        line = (int)at->start_mark.line + 1;
        col = (int)at->start_mark.column + 1;
        clove_buf_printf(&b, "%s:%d:%d", c->file, line, col);
    } else {
        clove_buf_puts(&b, c->file);
    }
    clove_buf_puts(&b, ": ");
    if (c->path_len) clove_buf_printf(&b, "%s: ", c->path);
    va_list ap;
    va_start(ap, fmt);
    clove_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    diag_push(c, warning, line, col, clove_buf_steal(&b));
}

void cfg_diag_plain(cfg_ctx_t *c, bool warning, const char *fmt, ...)
{
    clove_buf_t b;
    clove_buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    clove_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    diag_push(c, warning, 0, 0, clove_buf_steal(&b));
}

/* ---- nodes and paths ------------------------------------------------------------------- */

yaml_node_t *cfg_node(cfg_ctx_t *c, int id)
{
    return yaml_document_get_node(&c->doc, id);
}

bool cfg_is_null(const yaml_node_t *n)
{
    if (!n) return true;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)n->data.scalar.value;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

size_t cfg_seq_items(cfg_ctx_t *c, yaml_node_t *n, const char *what, yaml_node_item_t **items)
{
    *items = NULL;
    if (cfg_is_null(n)) return 0;
    if (n->type != YAML_SEQUENCE_NODE) {
        cfg_diag(c, false, n, "expected a sequence of %s; got %s", what, cfg_kind_name(n));
        return 0;
    }
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count > CFG_MAX_ITEMS) {
        cfg_diag(c, false, n, "too many %s (%zu; at most %d)", what, count, CFG_MAX_ITEMS);
        return 0;
    }
    *items = n->data.sequence.items.start;
    return count;
}

const char *cfg_kind_name(const yaml_node_t *n)
{
    if (!n) return "nothing";
    switch (n->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a sequence";
    case YAML_SCALAR_NODE: return cfg_is_null(n) ? "null" : "a scalar";
    default: return "nothing";
    }
}

size_t cfg_path_key(cfg_ctx_t *c, const char *key)
{
    size_t mark = c->path_len;
    int n = snprintf(c->path + c->path_len, sizeof c->path - c->path_len, "%s%s",
                     c->path_len ? "." : "", key);
    if (n > 0) c->path_len += (size_t)n;
    if (c->path_len >= sizeof c->path) c->path_len = sizeof c->path - 1;
    return mark;
}

size_t cfg_path_index(cfg_ctx_t *c, size_t i)
{
    size_t mark = c->path_len;
    int n = snprintf(c->path + c->path_len, sizeof c->path - c->path_len, "[%zu]", i);
    if (n > 0) c->path_len += (size_t)n;
    if (c->path_len >= sizeof c->path) c->path_len = sizeof c->path - 1;
    return mark;
}

void cfg_path_restore(cfg_ctx_t *c, size_t mark)
{
    c->path_len = mark;
    c->path[mark] = '\0';
}

/* ---- mappings -------------------------------------------------------------------------- */

static bool is_merge_key(const yaml_node_t *k)
{
    return k && k->type == YAML_SCALAR_NODE && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           strcmp((const char *)k->data.scalar.value, "<<") == 0;
}

static bool has_key(cfg_ctx_t *c, const yaml_node_pair_t *pairs, size_t n, const yaml_node_t *k)
{
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *k2 = cfg_node(c, pairs[i].key);
        if (k2 && k2->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k2->data.scalar.value, (const char *)k->data.scalar.value) == 0)
            return true;
    }
    return false;
}

static void push_pair(cfg_map_t *m, size_t *cap, yaml_node_pair_t p)
{
    if (m->n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        m->pairs = clove_xrealloc(m->pairs, *cap * sizeof *m->pairs);
    }
    m->pairs[m->n++] = p;
}

/* Adds the pairs of mapping `src` (and what it merges itself) whose keys are not there yet:
 * YAML merge keys, where keys written in the mapping win over merged ones. */
static void merge_from(cfg_ctx_t *c, cfg_map_t *m, size_t *cap, yaml_node_t *src, int depth,
                       int *budget)
{
    if (!src || depth > 16) return;
    if (--*budget < 0) {
        if (*budget == -1) cfg_diag(c, false, src, "too many merges (more than %d)",
                                    CFG_MAX_MERGES);
        return;
    }
    if (src->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = src->data.sequence.items.start;
             it < src->data.sequence.items.top; it++) {
            yaml_node_t *item = cfg_node(c, *it);
            if (!item || item->type != YAML_MAPPING_NODE) {
                cfg_diag(c, false, item, "expected a mapping to merge with <<; got %s",
                         cfg_kind_name(item));
                continue;
            }
            merge_from(c, m, cap, item, depth + 1, budget);
        }
        return;
    }
    if (src->type != YAML_MAPPING_NODE) {
        cfg_diag(c, false, src, "expected a mapping to merge with <<; got %s", cfg_kind_name(src));
        return;
    }
    for (yaml_node_pair_t *p = src->data.mapping.pairs.start; p < src->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = cfg_node(c, p->key);
        if (!k || k->type != YAML_SCALAR_NODE || is_merge_key(k)) continue;
        if (m->n < CFG_MAX_KEYS && !has_key(c, m->pairs, m->n, k)) push_pair(m, cap, *p);
    }
    for (yaml_node_pair_t *p = src->data.mapping.pairs.start; p < src->data.mapping.pairs.top;
         p++)
        if (is_merge_key(cfg_node(c, p->key)))
            merge_from(c, m, cap, cfg_node(c, p->value), depth + 1, budget);
}

bool cfg_map_open(cfg_ctx_t *c, yaml_node_t *n, cfg_map_t *m)
{
    memset(m, 0, sizeof *m);
    if (!n || n->type != YAML_MAPPING_NODE) {
        cfg_diag(c, false, n, "expected a mapping; got %s", cfg_kind_name(n));
        return false;
    }
    size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (count > CFG_MAX_KEYS) {
        cfg_diag(c, false, n, "too many keys in one mapping (%zu; at most %d)", count,
                 CFG_MAX_KEYS);
        return false;
    }
    m->node = n;
    size_t cap = 0;
    int budget = CFG_MAX_MERGES;
    /* keys written in the mapping first; duplicates among them are errors */
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cfg_node(c, p->key);
        if (!k || k->type != YAML_SCALAR_NODE) {
            cfg_diag(c, false, k, "mapping keys must be scalars; got %s", cfg_kind_name(k));
            continue;
        }
        if (is_merge_key(k)) continue;
        if (has_key(c, m->pairs, m->n, k)) {
            size_t mark = cfg_path_key(c, (const char *)k->data.scalar.value);
            int first = 0;
            for (size_t j = 0; j < m->n; j++) {
                yaml_node_t *k2 = cfg_node(c, m->pairs[j].key);
                if (strcmp((const char *)k2->data.scalar.value,
                           (const char *)k->data.scalar.value) == 0) {
                    first = (int)k2->start_mark.line + 1;
                    break;
                }
            }
            cfg_diag(c, false, k, "duplicate key (first defined at line %d)", first);
            cfg_path_restore(c, mark);
            continue;
        }
        push_pair(m, &cap, *p);
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        if (!is_merge_key(cfg_node(c, p->key))) continue;
        size_t mark = cfg_path_key(c, "<<");
        merge_from(c, m, &cap, cfg_node(c, p->value), 0, &budget);
        cfg_path_restore(c, mark);
    }
    m->used = clove_xcalloc(m->n ? m->n : 1, sizeof *m->used);
    return true;
}

yaml_node_t *cfg_map_take(cfg_ctx_t *c, cfg_map_t *m, const char *key, yaml_node_t **key_node)
{
    if (key_node) *key_node = NULL;
    if (m->n_asked < sizeof m->asked / sizeof m->asked[0]) m->asked[m->n_asked++] = key;
    if (!m->node) return NULL;
    for (size_t i = 0; i < m->n; i++) {
        yaml_node_pair_t *p = &m->pairs[i];
        yaml_node_t *k = cfg_node(c, p->key);
        if (strcmp((const char *)k->data.scalar.value, key) != 0 || m->used[i]) continue;
        m->used[i] = true;
        if (key_node) *key_node = k;
        return cfg_node(c, p->value);
    }
    return NULL;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40) return 99;
    size_t row[41];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const char *suggest(const cfg_map_t *m, const char *const *unsupported, const char *key)
{
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < m->n_asked; i++) {
        size_t d = edit_distance(key, m->asked[i]);
        if (d < best_d) {
            best_d = d;
            best = m->asked[i];
        }
    }
    for (size_t i = 0; unsupported && unsupported[i]; i++) {
        size_t d = edit_distance(key, unsupported[i]);
        if (d < best_d) {
            best_d = d;
            best = unsupported[i];
        }
    }
    return best;
}

void cfg_map_close(cfg_ctx_t *c, cfg_map_t *m, const char *const *unsupported)
{
    for (size_t i = 0; m->node && i < m->n; i++) {
        if (m->used[i]) continue;
        yaml_node_t *k = cfg_node(c, m->pairs[i].key);
        const char *key = (const char *)k->data.scalar.value;
        bool known = false;
        for (size_t j = 0; unsupported && unsupported[j]; j++)
            if (strcmp(unsupported[j], key) == 0) known = true;
        size_t mark = cfg_path_key(c, key);
        if (known) {
            cfg_diag(c, true, k, "not supported by clove yet; ignored");
        } else {
            const char *s = suggest(m, unsupported, key);
            if (s)
                cfg_diag(c, false, k, "unknown key; did you mean \"%s\"?", s);
            else
                cfg_diag(c, false, k, "unknown key");
        }
        cfg_path_restore(c, mark);
    }
    free(m->used);
    free(m->pairs);
    memset(m, 0, sizeof *m);
}

/* ---- secrets bookkeeping --------------------------------------------------------------- */

void cfg_note_secret(cfg_ctx_t *c, const char *s)
{
    if (!s) return;
    if (c->n_secret_strs == c->cap_secret_strs) {
        c->cap_secret_strs = c->cap_secret_strs ? c->cap_secret_strs * 2 : 8;
        c->secret_strs = clove_xrealloc(c->secret_strs,
                                        c->cap_secret_strs * sizeof *c->secret_strs);
    }
    c->secret_strs[c->n_secret_strs++] = s;
}

bool cfg_is_secret(const cfg_ctx_t *c, const char *s)
{
    for (size_t i = 0; s && i < c->n_secret_strs; i++)
        if (c->secret_strs[i] == s) return true;
    return false;
}

void cfg_kv_add(clove_kvlist_t *l, const char *key, const char *value, bool secret)
{
    l->items = clove_xrealloc(l->items, (l->len + 1) * sizeof *l->items);
    l->items[l->len].key = clove_xstrdup(key);
    l->items[l->len].value = clove_xstrdup(value);
    l->items[l->len].secret = secret;
    l->len++;
}

void cfg_kv_dispose(clove_kvlist_t *l)
{
    for (size_t i = 0; i < l->len; i++) {
        free(l->items[i].key);
        free(l->items[i].value);
    }
    free(l->items);
    l->items = NULL;
    l->len = 0;
}

/* ---- scalars --------------------------------------------------------------------------- */

/* Describes a scalar for an error message without ever showing a secret value: the YAML
 * text is shown (it holds the ${..} reference, not the value). */
static void got_text(const yaml_node_t *n, bool secret, char *out, size_t outlen)
{
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    char shown[96];
    if (len >= sizeof shown - 4) {
        memcpy(shown, v, sizeof shown - 4);
        memcpy(shown + sizeof shown - 4, "...", 4);
    } else {
        memcpy(shown, v, len + 1);
    }
    /* keep the message on one line */
    for (char *p = shown; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
    if (secret)
        snprintf(out, outlen, "\"%s\" (after secret expansion)", shown);
    else
        snprintf(out, outlen, "\"%s\"", shown);
}

int cfg_node_str(cfg_ctx_t *c, yaml_node_t *n, char **out, bool *secret)
{
    if (cfg_is_null(n)) return 0;
    if (n->type != YAML_SCALAR_NODE) {
        cfg_diag(c, false, n, "expected a string; got %s", cfg_kind_name(n));
        return -1;
    }
    if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
        cfg_diag(c, false, n, "strings must not contain NUL characters");
        return -1;
    }
    char *s = NULL;
    int r = cfg_expand(c, n, (const char *)n->data.scalar.value, n->data.scalar.length, &s);
    if (r < 0) return -1;
    *out = s;
    if (secret) *secret = r == 1;
    return 1;
}

/* A scalar's text after expansion, for typed readers. */
static int scalar(cfg_ctx_t *c, yaml_node_t *n, const char *what, char **out, bool *secret)
{
    if (cfg_is_null(n)) return 0;
    if (n->type != YAML_SCALAR_NODE) {
        cfg_diag(c, false, n, "expected %s; got %s", what, cfg_kind_name(n));
        return -1;
    }
    return cfg_node_str(c, n, out, secret);
}

static yaml_node_t *take_keyed(cfg_ctx_t *c, cfg_map_t *m, const char *key, size_t *mark)
{
    yaml_node_t *v = cfg_map_take(c, m, key, NULL);
    if (!v) return NULL;
    *mark = cfg_path_key(c, key);
    return v;
}

int cfg_get_str(cfg_ctx_t *c, cfg_map_t *m, const char *key, char **out, bool *secret)
{
    size_t mark;
    yaml_node_t *v = take_keyed(c, m, key, &mark);
    if (!v) return 0;
    char *s = NULL;
    bool sec = false;
    int r = cfg_node_str(c, v, &s, &sec);
    cfg_path_restore(c, mark);
    if (r == 1) {
        free(*out);
        *out = s;
        if (secret) *secret = sec;
    }
    return r;
}

static bool parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
        *out = true;
        return true;
    }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        *out = false;
        return true;
    }
    return false;
}

int cfg_get_bool(cfg_ctx_t *c, cfg_map_t *m, const char *key, bool *out)
{
    size_t mark;
    yaml_node_t *v = take_keyed(c, m, key, &mark);
    if (!v) return 0;
    char *s = NULL;
    bool sec = false;
    int r = scalar(c, v, "a boolean (true or false)", &s, &sec);
    if (r == 1) {
        bool b;
        if (parse_bool(s, &b)) {
            *out = b;
        } else {
            char got[128];
            got_text(v, sec, got, sizeof got);
            cfg_diag(c, false, v, "expected a boolean (true or false); got %s", got);
            r = -1;
        }
    }
    free(s);
    cfg_path_restore(c, mark);
    return r;
}

static bool parse_int(const char *s, long long *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (*p < '0' || *p > '9') return false;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9') return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

int cfg_get_int(cfg_ctx_t *c, cfg_map_t *m, const char *key, long long min, long long max,
                long long *out)
{
    size_t mark;
    yaml_node_t *v = take_keyed(c, m, key, &mark);
    if (!v) return 0;
    char *s = NULL;
    bool sec = false;
    int r = scalar(c, v, "an integer", &s, &sec);
    if (r == 1) {
        long long n;
        char got[128];
        if (!parse_int(s, &n)) {
            got_text(v, sec, got, sizeof got);
            cfg_diag(c, false, v, "expected an integer; got %s", got);
            r = -1;
        } else if (n < min || n > max) {
            got_text(v, sec, got, sizeof got);
            if (max >= INT_MAX)
                cfg_diag(c, false, v, "expected an integer of at least %lld; got %s", min, got);
            else
                cfg_diag(c, false, v, "expected an integer from %lld to %lld; got %s", min, max,
                         got);
            r = -1;
        } else {
            *out = n;
        }
    }
    free(s);
    cfg_path_restore(c, mark);
    return r;
}

int cfg_get_duration(cfg_ctx_t *c, cfg_map_t *m, const char *key, bool allow_zero,
                     int64_t *out)
{
    size_t mark;
    yaml_node_t *v = take_keyed(c, m, key, &mark);
    if (!v) return 0;
    char *s = NULL;
    bool sec = false;
    int r = scalar(c, v, "a duration", &s, &sec);
    if (r == 1) {
        int64_t ms = 0;
        char got[128];
        if (clove_parse_duration_ms(s, &ms) != 0) {
            got_text(v, sec, got, sizeof got);
            cfg_diag(c, false, v, "expected a duration like 500ms, 10s, 5m, 1h or 1d; got %s",
                     got);
            r = -1;
        } else if (ms == 0 && !allow_zero) {
            got_text(v, sec, got, sizeof got);
            cfg_diag(c, false, v, "expected a duration greater than zero; got %s", got);
            r = -1;
        } else {
            *out = ms;
        }
    }
    free(s);
    cfg_path_restore(c, mark);
    return r;
}

int cfg_get_size(cfg_ctx_t *c, cfg_map_t *m, const char *key, uint64_t *out)
{
    size_t mark;
    yaml_node_t *v = take_keyed(c, m, key, &mark);
    if (!v) return 0;
    char *s = NULL;
    bool sec = false;
    int r = scalar(c, v, "a size", &s, &sec);
    if (r == 1) {
        uint64_t bytes = 0;
        char got[128];
        if (clove_parse_size_bytes(s, &bytes) != 0) {
            got_text(v, sec, got, sizeof got);
            cfg_diag(c, false, v, "expected a size like 512KiB, 128MiB or 4GiB; got %s", got);
            r = -1;
        } else if (bytes == 0) {
            got_text(v, sec, got, sizeof got);
            cfg_diag(c, false, v, "expected a size greater than zero; got %s", got);
            r = -1;
        } else {
            *out = bytes;
        }
    }
    free(s);
    cfg_path_restore(c, mark);
    return r;
}

static void choices_text(const char *const *names, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; names[i]; i++) {
        int w = snprintf(out + n, outlen - n, "%s%s", i ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= outlen - n) break;
        n += (size_t)w;
    }
}

int cfg_node_enum(cfg_ctx_t *c, yaml_node_t *n, const char *const *names, int *out)
{
    char *s = NULL;
    bool sec = false;
    char choices[512];
    choices_text(names, choices, sizeof choices);
    if (!cfg_is_null(n) && n->type != YAML_SCALAR_NODE) {
        cfg_diag(c, false, n, "expected one of %s; got %s", choices, cfg_kind_name(n));
        return -1;
    }
    int r = cfg_node_str(c, n, &s, &sec);
    if (r == 1) {
        r = -1;
        for (int i = 0; names[i]; i++) {
            if (strcmp(names[i], s) == 0) {
                *out = i;
                r = 1;
                break;
            }
        }
        if (r < 0) {
            char got[128];
            got_text(n, sec, got, sizeof got);
            cfg_diag(c, false, n, "expected one of %s; got %s", choices, got);
        }
    }
    free(s);
    return r;
}

int cfg_get_enum(cfg_ctx_t *c, cfg_map_t *m, const char *key, const char *const *names,
                 int *out)
{
    size_t mark;
    yaml_node_t *v = take_keyed(c, m, key, &mark);
    if (!v) return 0;
    int r = cfg_node_enum(c, v, names, out);
    cfg_path_restore(c, mark);
    return r;
}

int cfg_get_kv(cfg_ctx_t *c, cfg_map_t *m, const char *key, const char *const *values,
               clove_kvlist_t *out)
{
    size_t mark;
    yaml_node_t *v = take_keyed(c, m, key, &mark);
    if (!v) return 0;
    int r = 1;
    if (cfg_is_null(v)) {
        r = 0;
        goto done;
    }
    cfg_map_t mm;
    if (!cfg_map_open(c, v, &mm)) {
        r = -1;
        goto done;
    }
    for (size_t i = 0; i < mm.n; i++) {
        yaml_node_pair_t *p = &mm.pairs[i];
        yaml_node_t *k = cfg_node(c, p->key);
        yaml_node_t *val = cfg_node(c, p->value);
        mm.used[i] = true;
        size_t mark2 = cfg_path_key(c, (const char *)k->data.scalar.value);
        if (val && val->type != YAML_SCALAR_NODE) {
            cfg_diag(c, false, val, "expected a scalar value; got %s", cfg_kind_name(val));
            r = -1;
        } else if (cfg_is_null(val)) {
            cfg_diag(c, false, val, "expected a value; got null");
            r = -1;
        } else if (values) {
            int idx;
            if (cfg_node_enum(c, val, values, &idx) == 1)
                cfg_kv_add(out, (const char *)k->data.scalar.value, values[idx], false);
            else
                r = -1;
        } else {
            char *s = NULL;
            bool sec = false;
            if (cfg_node_str(c, val, &s, &sec) == 1)
                cfg_kv_add(out, (const char *)k->data.scalar.value, s, sec);
            else
                r = -1;
            free(s);
        }
        cfg_path_restore(c, mark2);
    }
    cfg_map_close(c, &mm, NULL);
done:
    cfg_path_restore(c, mark);
    return r;
}
