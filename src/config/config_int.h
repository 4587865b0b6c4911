/*
 * config_int.h: what the files of src/config share and nobody else sees. The loader keeps
 * one cfg_ctx_t per clove_config_load call: the parsed YAML document, the key path being
 * checked, the diagnostics found so far, the secret stores, and the config being built.
 */
#ifndef CLOVE_CONFIG_INT_H
#define CLOVE_CONFIG_INT_H

#include <yaml.h>

#include "config/config.h"

#define CFG_PATH_MAX 1024
#define CFG_REDACTED "[REDACTED]"
/* Bounds that keep a hostile or broken file from making the loader slow. */
#define CFG_MAX_KEYS 4096       /* keys in one mapping */
#define CFG_MAX_ITEMS 10000     /* entries of datasets, views, keys, ... */
#define CFG_MAX_MERGES 256      /* mappings merged into one mapping with << */
#define CFG_MAX_DIAGS 1000      /* diagnostics kept; the rest are counted */

/* One diagnostic before sorting: position (0 = none, INT_MAX = from --set-runtime). */
typedef struct {
    int line, col;
    size_t seq;
    bool warning;
    char *message;
} cfg_diag_t;

/* A configured secret store. Only `env` stores can be read; the others are known to the
 * Spicepod format but not implemented, and expanding one of their secrets is an error. */
typedef struct {
    char *name;                 /* the name used in ${name:KEY} */
    char *kind;                 /* "env", "kubernetes", "keyring", ... */
    bool supported;
    clove_kvlist_t dotenv;      /* .env.local entries first, then .env (env stores only) */
} cfg_store_t;

typedef struct {
    yaml_document_t doc;
    bool doc_loaded;
    const char *file;           /* display name: base name of the spicepod file */
    const char *dir;            /* directory holding the spicepod */
    size_t n_file_nodes;        /* node ids above this were added by --set-runtime */
    size_t *override_of;        /* [id - n_file_nodes - 1] -> index into overrides */
    size_t n_override_of;
    const char *const *overrides;

    char path[CFG_PATH_MAX];    /* key path of the node being checked, "datasets[2].name" */
    size_t path_len;

    cfg_diag_t *diags;
    size_t n_diags, cap_diags, n_errors, n_dropped;

    cfg_store_t *stores;
    size_t n_stores;

    bool in_secrets_section;    /* ${..} is not expanded while reading `secrets` itself */

    const char **secret_strs;   /* strings of cfg that hold expanded secret values */
    size_t n_secret_strs, cap_secret_strs;

    clove_config_t *cfg;        /* being built */
} cfg_ctx_t;

/* A mapping being read key by key; keys never taken are reported by cfg_map_close. */
typedef struct {
    yaml_node_t *node;          /* NULL when the value was not a mapping */
    yaml_node_pair_t *pairs;    /* the mapping's pairs, then those merged in with `<<` */
    size_t n;
    bool *used;
    const char *asked[64];      /* keys the reader knows, for "did you mean" */
    size_t n_asked;
} cfg_map_t;

/* ---- config_node.c ---- */

void cfg_diag(cfg_ctx_t *c, bool warning, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void cfg_diag_plain(cfg_ctx_t *c, bool warning, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
yaml_node_t *cfg_node(cfg_ctx_t *c, int id);
bool cfg_is_null(const yaml_node_t *n);
/* A sequence's items (count capped at CFG_MAX_ITEMS, with an error); a type error for anything
 * but a sequence or null. */
size_t cfg_seq_items(cfg_ctx_t *c, yaml_node_t *n, const char *what, yaml_node_item_t **items);
const char *cfg_kind_name(const yaml_node_t *n);

size_t cfg_path_key(cfg_ctx_t *c, const char *key);     /* returns the mark to restore */
size_t cfg_path_index(cfg_ctx_t *c, size_t i);
void cfg_path_restore(cfg_ctx_t *c, size_t mark);

/* Opens `n` as a mapping (reports a type error and returns false otherwise; duplicate keys
 * are errors). */
bool cfg_map_open(cfg_ctx_t *c, yaml_node_t *n, cfg_map_t *m);
/* Returns the value of `key` (marking it used) or NULL; *key_node gets the key node. */
yaml_node_t *cfg_map_take(cfg_ctx_t *c, cfg_map_t *m, const char *key, yaml_node_t **key_node);
/* Reports keys never taken: a warning for those in `unsupported` (known Spicepod keys clove
 * does not implement yet), an error for the rest. Frees m. */
void cfg_map_close(cfg_ctx_t *c, cfg_map_t *m, const char *const *unsupported);

/* Typed readers of m[key]: 1 = present and valid, 0 = absent (or null), -1 = invalid
 * (already reported). Strings are expanded (${secrets:..}); *secret says whether they held
 * a secret. Outputs are untouched unless 1 is returned. */
int cfg_get_str(cfg_ctx_t *c, cfg_map_t *m, const char *key, char **out, bool *secret);
int cfg_get_bool(cfg_ctx_t *c, cfg_map_t *m, const char *key, bool *out);
int cfg_get_int(cfg_ctx_t *c, cfg_map_t *m, const char *key, long long min, long long max,
                long long *out);
int cfg_get_duration(cfg_ctx_t *c, cfg_map_t *m, const char *key, bool allow_zero,
                     int64_t *out);
int cfg_get_size(cfg_ctx_t *c, cfg_map_t *m, const char *key, uint64_t *out);
int cfg_get_enum(cfg_ctx_t *c, cfg_map_t *m, const char *key, const char *const *names,
                 int *out);
/* A mapping of scalars to scalars (params, indexes, ...), values as text. When `values` is
 * not NULL every value must be one of them. */
int cfg_get_kv(cfg_ctx_t *c, cfg_map_t *m, const char *key, const char *const *values,
               clove_kvlist_t *out);

/* Node-level forms of the same (path already set to the node's). */
int cfg_node_str(cfg_ctx_t *c, yaml_node_t *n, char **out, bool *secret);
int cfg_node_enum(cfg_ctx_t *c, yaml_node_t *n, const char *const *names, int *out);

void cfg_note_secret(cfg_ctx_t *c, const char *s);
bool cfg_is_secret(const cfg_ctx_t *c, const char *s);

void cfg_kv_add(clove_kvlist_t *l, const char *key, const char *value, bool secret);
void cfg_kv_dispose(clove_kvlist_t *l);

/* ---- config_secrets.c ---- */

/* Reads the `secrets` section (or sets up the default env store), loading .env files. */
void cfg_secrets_load(cfg_ctx_t *c, yaml_node_t *secrets_node);
void cfg_secrets_dispose(cfg_ctx_t *c);
/* Expands ${store:KEY} references in text[0..len). Returns 1 when something was expanded,
 * 0 when nothing was, -1 on error (reported at `at`). *out is always a new string on 0/1. */
int cfg_expand(cfg_ctx_t *c, const yaml_node_t *at, const char *text, size_t len, char **out);
/* Parses a .env file's content into l (later entries do not replace earlier ones). Lines
 * that cannot be read are reported as warnings naming `file` and the line. */
void cfg_dotenv_parse(cfg_ctx_t *c, const char *file, const char *text, size_t len,
                      clove_kvlist_t *l);

/* ---- config_pod.c ---- */

void cfg_pod_parse(cfg_ctx_t *c, yaml_node_t *root);

/* ---- config_json.c ---- */

/* True when a parameter named `key` must never be shown (password, token, key, ...). */
bool cfg_sensitive_key(const char *key);
char *cfg_json_build(cfg_ctx_t *c);

#endif
