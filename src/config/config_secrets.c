/*
 * config_secrets.c: secret stores and ${store:KEY} expansion. The `env` store (the default,
 * named "env") reads the process environment and the .env.local and .env files beside the
 * spicepod (or the file named by its `file_path` param); the process environment wins, then
 * .env.local, then .env. A key is looked up as SPICE_SECRET_<key>, <key>,
 * SPICE_SECRET_<KEY>, <KEY>, the order the Spice runtime uses. ${secrets:KEY} searches every
 * store, the last one listed first. Other store kinds are known but not implemented: they
 * are accepted with a warning and using one of their secrets is an error. Secret values
 * never enter a diagnostic.
 */
#include "config/config_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOTENV_MAX_BYTES (1u << 20)
#define SECRET_PREFIX "SPICE_SECRET_"

static const char *const k_unsupported_stores[] = {
    "kubernetes", "keyring", "aws_secrets_manager", "azure_keyvault", "hashicorp_vault", NULL,
};

/* ---- .env files ------------------------------------------------------------------------ */

static bool kv_has(const clove_kvlist_t *l, const char *key)
{
    return clove_kv_get(l, key) != NULL;
}

static bool is_key_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_' || ch == '.' || ch == '-';
}

void cfg_dotenv_parse(cfg_ctx_t *c, const char *file, const char *text, size_t len,
                      clove_kvlist_t *l)
{
    size_t i = 0;
    int line = 1;
    clove_buf_t val;
    clove_buf_init(&val);
    while (i < len) {
        int start_line = line;
        while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r')) i++;
        if (i >= len) break;
        if (text[i] == '\n') {
            line++;
            i++;
            continue;
        }
        if (text[i] == '#') goto skip_line;
        if (len - i > 7 && strncmp(text + i, "export", 6) == 0 &&
            (text[i + 6] == ' ' || text[i + 6] == '\t')) {
            i += 6;
            while (i < len && (text[i] == ' ' || text[i] == '\t')) i++;
        }
        size_t ks = i;
        while (i < len && is_key_char(text[i])) i++;
        size_t ke = i;
        while (i < len && (text[i] == ' ' || text[i] == '\t')) i++;
        if (ke == ks || i >= len || text[i] != '=') {
            cfg_diag_plain(c, true, "%s:%d: could not read line: expected KEY=VALUE", file,
                           start_line);
            goto skip_line;
        }
        i++;
        while (i < len && (text[i] == ' ' || text[i] == '\t')) i++;
        clove_buf_reset(&val);
        clove_buf_append(&val, "", 0);
        if (i < len && (text[i] == '"' || text[i] == '\'')) {
            char q = text[i++];
            bool closed = false;
            while (i < len) {
                char ch = text[i];
                if (ch == q) {
                    closed = true;
                    i++;
                    break;
                }
                if (ch == '\n') line++;
                if (q == '"' && ch == '\\' && i + 1 < len) {
                    char e = text[i + 1];
                    i += 2;
                    switch (e) {
                    case 'n': clove_buf_putc(&val, '\n'); break;
                    case 'r': clove_buf_putc(&val, '\r'); break;
                    case 't': clove_buf_putc(&val, '\t'); break;
                    case '"': case '\\': case '$': case '\'': clove_buf_putc(&val, e); break;
                    default:
                        clove_buf_putc(&val, '\\');
                        clove_buf_putc(&val, e);
                        if (e == '\n') line++;
                    }
                    continue;
                }
                clove_buf_putc(&val, ch);
                i++;
            }
            if (!closed) {
                cfg_diag_plain(c, true, "%s:%d: could not read line: unterminated quoted value",
                               file, start_line);
                break;
            }
            while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r')) i++;
            if (i < len && text[i] != '\n' && text[i] != '#') {
                cfg_diag_plain(c, true, "%s:%d: could not read line: unexpected text after the "
                               "quoted value", file, line);
                goto skip_line;
            }
        } else {
            size_t vs = i;
            while (i < len && text[i] != '\n') {
                /* " #" starts a comment in an unquoted value */
                if (text[i] == '#' && i > vs && (text[i - 1] == ' ' || text[i - 1] == '\t'))
                    break;
                i++;
            }
            size_t ve = i;
            while (ve > vs && isspace((unsigned char)text[ve - 1])) ve--;
            clove_buf_append(&val, text + vs, ve - vs);
        }
        if (val.failed) break;
        {
            char *key = clove_xstrndup(text + ks, ke - ks);
            if (!kv_has(l, key)) cfg_kv_add(l, key, val.data ? val.data : "", true);
            free(key);
        }
    skip_line:
        while (i < len && text[i] != '\n') i++;
    }
    clove_buf_dispose(&val);
}

/* Reads `path` into l; a missing file is fine unless `required`. */
static void dotenv_load(cfg_ctx_t *c, const char *path, const char *shown, bool required,
                        const yaml_node_t *at, clove_kvlist_t *l)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (required || errno != ENOENT) {
            char why[128];
            snprintf(why, sizeof why, "%s", strerror(errno));
            why[0] = (char)tolower((unsigned char)why[0]);
            cfg_diag(c, false, at, "could not open \"%s\": %s", shown, why);
        }
        return;
    }
    char *data = clove_xmalloc(DOTENV_MAX_BYTES + 1);
    size_t n = fread(data, 1, DOTENV_MAX_BYTES + 1, f);
    bool err = ferror(f);
    fclose(f);
    if (err) {
        cfg_diag(c, false, at, "could not read \"%s\"", shown);
    } else if (n > DOTENV_MAX_BYTES) {
        cfg_diag(c, false, at, "\"%s\" is larger than 1 MiB", shown);
    } else {
        cfg_dotenv_parse(c, shown, data, n, l);
    }
    free(data);
}

static char *join_dir(const char *dir, const char *name)
{
    if (name[0] == '/') return clove_xstrdup(name);
    return clove_xasprintf("%s/%s", dir, name);
}

/* ---- the `secrets` section ------------------------------------------------------------- */

static void add_env_store(cfg_ctx_t *c, const char *name, const char *file_path,
                          const yaml_node_t *at)
{
    c->stores = clove_xrealloc(c->stores, (c->n_stores + 1) * sizeof *c->stores);
    cfg_store_t *s = &c->stores[c->n_stores++];
    memset(s, 0, sizeof *s);
    s->name = clove_xstrdup(name);
    s->kind = clove_xstrdup("env");
    s->supported = true;
    if (file_path) {
        char *p = join_dir(c->dir, file_path);
        dotenv_load(c, p, file_path, true, at, &s->dotenv);
        free(p);
    } else {
        char *p = join_dir(c->dir, ".env.local");
        dotenv_load(c, p, ".env.local", false, at, &s->dotenv);
        free(p);
        p = join_dir(c->dir, ".env");
        dotenv_load(c, p, ".env", false, at, &s->dotenv);
        free(p);
    }
}

static bool valid_store_name(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-') return false;
    return true;
}

static void read_store(cfg_ctx_t *c, yaml_node_t *item)
{
    cfg_map_t m;
    if (!cfg_map_open(c, item, &m)) return;
    char *from = NULL, *name = NULL, *desc = NULL;
    yaml_node_t *from_node = cfg_map_take(c, &m, "from", NULL);
    yaml_node_t *name_node = cfg_map_take(c, &m, "name", NULL);
    if (from_node) {
        size_t mark = cfg_path_key(c, "from");
        cfg_node_str(c, from_node, &from, NULL);
        cfg_path_restore(c, mark);
    }
    if (name_node) {
        size_t mark = cfg_path_key(c, "name");
        cfg_node_str(c, name_node, &name, NULL);
        cfg_path_restore(c, mark);
    }
    cfg_get_str(c, &m, "description", &desc, NULL);
    yaml_node_t *params = cfg_map_take(c, &m, "params", NULL);

    if (!from) {
        cfg_diag(c, false, item, "missing required key \"from\"");
    }
    if (!name) {
        cfg_diag(c, false, item, "missing required key \"name\"");
    } else {
        size_t mark = cfg_path_key(c, "name");
        if (!valid_store_name(name)) {
            cfg_diag(c, false, name_node, "invalid secret store name \"%s\": use letters, "
                     "digits, '_' and '-'", name);
            free(name);
            name = NULL;
        } else if (strcmp(name, "secrets") == 0) {
            cfg_diag(c, false, name_node, "\"secrets\" is reserved for ${secrets:NAME}, which "
                     "searches every store; choose another name");
            free(name);
            name = NULL;
        } else {
            for (size_t i = 0; i < c->n_stores; i++) {
                if (strcmp(c->stores[i].name, name) == 0) {
                    cfg_diag(c, false, name_node, "duplicate secret store name \"%s\"", name);
                    free(name);
                    name = NULL;
                    break;
                }
            }
        }
        cfg_path_restore(c, mark);
    }
    if (from && name) {
        size_t mark = cfg_path_key(c, "from");
        const char *colon = strchr(from, ':');
        size_t klen = colon ? (size_t)(colon - from) : strlen(from);
        char *kind = clove_xstrndup(from, klen);
        /* the Spice docs spell one store both ways */
        if (strcmp(kind, "aws-secrets-manager") == 0) {
            free(kind);
            kind = clove_xstrdup("aws_secrets_manager");
        }
        bool known = false;
        for (size_t i = 0; k_unsupported_stores[i]; i++)
            if (strcmp(kind, k_unsupported_stores[i]) == 0) known = true;
        if (strcmp(kind, "env") == 0) {
            if (colon) {
                cfg_diag(c, false, from_node, "the env secret store takes no selector; "
                         "got \"%s\"", from);
            } else {
                char *file_path = NULL;
                cfg_path_restore(c, mark);
                if (params && !cfg_is_null(params)) {
                    size_t pm = cfg_path_key(c, "params");
                    cfg_map_t pmap;
                    if (cfg_map_open(c, params, &pmap)) {
                        yaml_node_t *fp = cfg_map_take(c, &pmap, "file_path", NULL);
                        cfg_map_close(c, &pmap, NULL);
                        if (fp) {
                            size_t fm = cfg_path_key(c, "file_path");
                            if (cfg_node_str(c, fp, &file_path, NULL) == 1)
                                add_env_store(c, name, file_path, fp);
                            cfg_path_restore(c, fm);
                        }
                    }
                    cfg_path_restore(c, pm);
                }
                if (!file_path) add_env_store(c, name, NULL, NULL);
                free(file_path);
                mark = cfg_path_key(c, "from");
            }
        } else if (known) {
            cfg_diag(c, true, from_node, "secret store \"%s\" is not supported by clove yet; "
                     "secrets from store \"%s\" cannot be used", kind, name);
            c->stores = clove_xrealloc(c->stores, (c->n_stores + 1) * sizeof *c->stores);
            cfg_store_t *s = &c->stores[c->n_stores++];
            memset(s, 0, sizeof *s);
            s->name = clove_xstrdup(name);
            s->kind = clove_xstrdup(kind);
        } else {
            cfg_diag(c, false, from_node, "unknown secret store \"%s\"; expected one of env, "
                     "kubernetes, keyring, aws_secrets_manager, azure_keyvault, "
                     "hashicorp_vault", kind);
        }
        free(kind);
        cfg_path_restore(c, mark);
    }
    free(from);
    free(name);
    free(desc);
    cfg_map_close(c, &m, NULL);
}

void cfg_secrets_load(cfg_ctx_t *c, yaml_node_t *secrets_node)
{
    if (cfg_is_null(secrets_node)) {
        add_env_store(c, "env", NULL, NULL);
        return;
    }
    c->in_secrets_section = true;
    size_t mark = cfg_path_key(c, "secrets");
    yaml_node_item_t *it;
    size_t n = cfg_seq_items(c, secrets_node, "secret stores", &it);
    for (size_t i = 0; i < n; i++) {
        size_t m2 = cfg_path_index(c, i);
        read_store(c, cfg_node(c, it[i]));
        cfg_path_restore(c, m2);
    }
    cfg_path_restore(c, mark);
    c->in_secrets_section = false;
    /* `secrets: []` configures nothing, like leaving the section out */
    if (n == 0 && secrets_node->type == YAML_SEQUENCE_NODE &&
        secrets_node->data.sequence.items.top == secrets_node->data.sequence.items.start)
        add_env_store(c, "env", NULL, NULL);
}

void cfg_secrets_dispose(cfg_ctx_t *c)
{
    for (size_t i = 0; i < c->n_stores; i++) {
        free(c->stores[i].name);
        free(c->stores[i].kind);
        cfg_kv_dispose(&c->stores[i].dotenv);
    }
    free(c->stores);
    c->stores = NULL;
    c->n_stores = 0;
}

/* ---- lookup and expansion -------------------------------------------------------------- */

/* Fills names[] with the variable names tried for `key`, in order; returns how many. */
static size_t key_variants(const char *key, char *names[4])
{
    char *upper = clove_xstrdup(key);
    for (char *p = upper; *p; p++) *p = (char)toupper((unsigned char)*p);
    size_t n = 0;
    names[n++] = clove_xasprintf(SECRET_PREFIX "%s", key);
    names[n++] = clove_xstrdup(key);
    if (strcmp(upper, key) != 0) {
        names[n++] = clove_xasprintf(SECRET_PREFIX "%s", upper);
        names[n++] = upper;
    } else {
        free(upper);
    }
    return n;
}

static const char *env_store_get(const cfg_store_t *s, char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = getenv(names[i]);
        if (v) return v;
        v = clove_kv_get(&s->dotenv, names[i]);
        if (v) return v;
    }
    return NULL;
}

static cfg_store_t *find_store(cfg_ctx_t *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->n_stores; i++)
        if (strlen(c->stores[i].name) == len && strncmp(c->stores[i].name, name, len) == 0)
            return &c->stores[i];
    return NULL;
}

/* Looks up one reference; appends the value to out. Returns false (after reporting) when
 * the secret cannot be had. */
static bool resolve(cfg_ctx_t *c, const yaml_node_t *at, const char *store, size_t slen,
                    const char *key, clove_buf_t *out)
{
    char *names[4];
    size_t n = key_variants(key, names);
    const char *value = NULL;
    bool ok = false;
    bool all = slen == 7 && strncmp(store, "secrets", 7) == 0;
    if (all) {
        for (size_t i = c->n_stores; i-- > 0 && !value;)
            if (c->stores[i].supported) value = env_store_get(&c->stores[i], names, n);
    } else {
        cfg_store_t *s = find_store(c, store, slen);
        if (!s->supported) {
            cfg_diag(c, false, at, "secret \"%s\" comes from secret store \"%s\" (%s), which "
                     "clove does not support yet", key, s->name, s->kind);
            goto done;
        }
        value = env_store_get(s, names, n);
    }
    if (!value) {
        clove_buf_t tried;
        clove_buf_init(&tried);
        for (size_t i = 0; i < n; i++) clove_buf_printf(&tried, "%s%s", i ? ", " : "", names[i]);
        cfg_diag(c, false, at, "secret \"%s\" not found in the environment or .env files "
                 "(looked for %s)", key, tried.data ? tried.data : "");
        clove_buf_dispose(&tried);
        goto done;
    }
    clove_buf_puts(out, value);
    if (c->cfg && *value) { /* remembered so messages can be redacted later */
        bool seen = false;
        for (size_t i = 0; i < c->cfg->n_secret_values && !seen; i++)
            seen = strcmp(c->cfg->secret_values[i], value) == 0;
        if (!seen) {
            c->cfg->secret_values = clove_xrealloc(
                c->cfg->secret_values, (c->cfg->n_secret_values + 1) * sizeof(char *));
            c->cfg->secret_values[c->cfg->n_secret_values++] = clove_xstrdup(value);
        }
    }
    ok = true;
done:
    for (size_t i = 0; i < n; i++) free(names[i]);
    return ok;
}

int cfg_expand(cfg_ctx_t *c, const yaml_node_t *at, const char *text, size_t len, char **out)
{
    clove_buf_t b;
    clove_buf_init(&b);
    clove_buf_append(&b, "", 0);
    int result = 0;
    size_t i = 0;
    while (i < len) {
        if (!(text[i] == '$' && i + 1 < len && text[i + 1] == '{')) {
            clove_buf_putc(&b, text[i++]);
            continue;
        }
        const char *close = memchr(text + i + 2, '}', len - i - 2);
        if (!close) {
            clove_buf_append(&b, text + i, len - i);
            break;
        }
        const char *p = text + i + 2, *e = close;
        while (p < e && (*p == ' ' || *p == '\t')) p++;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t')) e--;
        const char *store = p;
        while (p < e && (isalnum((unsigned char)*p) || *p == '_' || *p == '-')) p++;
        size_t slen = (size_t)(p - store);
        bool ref = slen > 0 && p < e && *p == ':' && p + 1 < e;
        const char *key = p + 1;
        for (const char *q = key; ref && q < e; q++)
            if (*q == ' ' || *q == '\t' || *q == '$' || *q == '{') ref = false;
        bool known = ref && ((slen == 7 && strncmp(store, "secrets", 7) == 0) ||
                             find_store(c, store, slen));
        if (!known || c->in_secrets_section) {
            /* not a secret reference: keep the text as written */
            clove_buf_append(&b, text + i, (size_t)(close - text) + 1 - i);
            i = (size_t)(close - text) + 1;
            continue;
        }
        char *k = clove_xstrndup(key, (size_t)(e - key));
        if (resolve(c, at, store, slen, k, &b)) {
            if (result == 0) result = 1;
        } else {
            result = -1;
        }
        free(k);
        i = (size_t)(close - text) + 1;
    }
    if (result < 0 || b.failed) {
        if (b.failed && result >= 0) cfg_diag(c, false, at, "out of memory expanding secrets");
        clove_buf_dispose(&b);
        *out = NULL;
        return -1;
    }
    *out = clove_buf_steal(&b);
    return result;
}
