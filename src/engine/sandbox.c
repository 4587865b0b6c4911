/*
 * sandbox: decides, before anything executes, whether a piece of user SQL may run. The decision
 * to allow comes only from DuckDB's parser: `json_serialize_sql($1)` (run on the caller's
 * connection with the SQL bound as a parameter) yields the parse tree of SELECT-like statements
 * and an error for everything else; the tree is then walked node by node. A small lexer in this
 * file only names refused statements, counts statements for the refusal message, peels the
 * EXPLAIN prefix (whose inner query is then checked by DuckDB's parser again) and rewrites
 * `:name` parameters. Neither duckdb_extract_statements nor duckdb_prepare is used on user SQL:
 * extraction runs DuckDB's pragma expansion, which for IMPORT DATABASE reads
 * `<dir>/schema.sql` from disk, and preparing EXPORT DATABASE creates its directory.
 */
#include "engine/sandbox.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALLOWED_KINDS "SELECT, WITH, VALUES, EXPLAIN, DESCRIBE, SHOW, SUMMARIZE"
#define READ_ONLY_WHY "clove only runs read-only queries (" ALLOWED_KINDS ")"

/* Deeper parse trees are refused rather than walked. DuckDB's parser stops at expression
 * depth 1000 (300 nested subqueries make a tree 1208 levels deep) and jansson at 2048 levels;
 * this bounds the walker's recursion whatever either of them does. */
#define MAX_TREE_DEPTH 2100
/* Bracket nesting tracked by the parameter rewriter; deeper brackets are treated as lists. */
#define MAX_BRACKETS 256

/* ---- small string helpers ------------------------------------------------------------------ */

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static char ascii_upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Identifier characters as DuckDB's (PostgreSQL's) scanner sees them: bytes >= 0x80 count. */
static bool is_ident_start(unsigned char c)
{
    return is_alpha(c) || c == '_' || c >= 0x80;
}

static bool is_ident_cont(unsigned char c)
{
    return is_ident_start(c) || is_digit(c) || c == '$';
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static char *lower_dup(const char *s)
{
    char *d = clove_xstrdup(s);
    for (char *p = d; *p; p++) *p = ascii_lower(*p);
    return d;
}

static bool in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (clove_str_ieq(s, list[i])) return true;
    return false;
}

/* ---- lexer ---------------------------------------------------------------------------------- */

typedef enum {
    TOK_END = 0,
    TOK_WORD,      /* keyword or bare identifier */
    TOK_STRING,    /* '...', E'...', $tag$...$tag$ */
    TOK_QIDENT,    /* "..." */
    TOK_PARAM,     /* $1, $name */
    TOK_NUMBER,
    TOK_PUNCT,     /* one character, or "::" */
} tok_kind_t;

typedef struct {
    tok_kind_t kind;
    const char *start;
    size_t len;
} tok_t;

/* Skips whitespace, `--` comments and (nested) block comments. */
static const char *skip_space(const char *p)
{
    for (;;) {
        while (is_space((unsigned char)*p)) p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n') p++;
        } else if (p[0] == '/' && p[1] == '*') {
            int depth = 1;
            p += 2;
            while (*p && depth > 0) {
                if (p[0] == '/' && p[1] == '*') {
                    depth++;
                    p += 2;
                } else if (p[0] == '*' && p[1] == '/') {
                    depth--;
                    p += 2;
                } else {
                    p++;
                }
            }
        } else {
            return p;
        }
    }
}

/* Ends a quoted run opened at p[0] == q; doubled quotes stay inside. With `backslash`, a
 * backslash escapes the next byte (E'' strings). Unterminated runs end at the NUL. */
static const char *scan_quoted(const char *p, char q, bool backslash)
{
    p++;
    while (*p) {
        if (backslash && *p == '\\' && p[1]) {
            p += 2;
        } else if (*p == q) {
            if (p[1] == q) p += 2;
            else return p + 1;
        } else {
            p++;
        }
    }
    return p;
}

/* At '$': a positional ($1) or named ($x) parameter, or a dollar-quoted string. */
static const char *scan_dollar(const char *p, tok_t *t)
{
    const char *q = p + 1;
    if (is_digit((unsigned char)*q)) {
        while (is_digit((unsigned char)*q)) q++;
        t->kind = TOK_PARAM;
        return q;
    }
    if (is_alpha((unsigned char)*q) || *q == '_' || (unsigned char)*q >= 0x80) {
        while (is_alpha((unsigned char)*q) || is_digit((unsigned char)*q) || *q == '_' ||
               (unsigned char)*q >= 0x80)
            q++;
    }
    if (*q != '$') {
        t->kind = q > p + 1 ? TOK_PARAM : TOK_PUNCT;
        return q;
    }
    /* $tag$ ... $tag$ */
    size_t taglen = (size_t)(q + 1 - p);
    const char *body = q + 1;
    const char *close = body;
    while ((close = strchr(close, '$')) != NULL) {
        if (strncmp(close, p, taglen) == 0) break;
        close++;
    }
    t->kind = TOK_STRING;
    return close ? close + taglen : body + strlen(body);
}

/* Reads one token at p (which must not point at whitespace or a comment). */
static const char *scan_token(const char *p, tok_t *t)
{
    const unsigned char c = (unsigned char)*p;
    const char *e;
    t->start = p;
    if (c == 0) {
        t->kind = TOK_END;
        e = p;
    } else if ((c == 'e' || c == 'E') && p[1] == '\'') {
        t->kind = TOK_STRING;
        e = scan_quoted(p + 1, '\'', true);
    } else if (is_ident_start(c)) {
        e = p + 1;
        while (is_ident_cont((unsigned char)*e)) e++;
        t->kind = TOK_WORD;
    } else if (c == '\'') {
        t->kind = TOK_STRING;
        e = scan_quoted(p, '\'', false);
    } else if (c == '"') {
        t->kind = TOK_QIDENT;
        e = scan_quoted(p, '"', false);
    } else if (c == '$') {
        e = scan_dollar(p, t);
    } else if (is_digit(c) || (c == '.' && is_digit((unsigned char)p[1]))) {
        e = p + 1;
        while (is_ident_cont((unsigned char)*e) || *e == '.') e++;
        t->kind = TOK_NUMBER;
    } else if (c == ':' && p[1] == ':') {
        t->kind = TOK_PUNCT;
        e = p + 2;
    } else {
        t->kind = TOK_PUNCT;
        e = p + 1;
    }
    t->len = (size_t)(e - p);
    return e;
}

/* Skips space and comments, then reads the next token. */
static const char *next_token(const char *p, tok_t *t)
{
    return scan_token(skip_space(p), t);
}

static bool tok_is_word(const tok_t *t, const char *word)
{
    if (t->kind != TOK_WORD || t->len != strlen(word)) return false;
    for (size_t i = 0; i < t->len; i++)
        if (ascii_upper(t->start[i]) != word[i]) return false;
    return true;
}

static bool tok_is_punct(const tok_t *t, char c)
{
    return t->kind == TOK_PUNCT && t->len == 1 && t->start[0] == c;
}

/* Statements separated by top-level semicolons; only used to word a refusal. */
static size_t count_statements(const char *sql)
{
    size_t n = 0;
    bool open = false;
    tok_t t;
    const char *p = sql;
    for (p = next_token(p, &t); t.kind != TOK_END; p = next_token(p, &t)) {
        if (tok_is_punct(&t, ';')) {
            if (open) n++;
            open = false;
        } else {
            open = true;
        }
    }
    return n + (open ? 1 : 0);
}

/* Copies the upper-cased word into buf; false when it is not a plausible keyword. */
static bool word_upper(const tok_t *t, char *buf, size_t cap)
{
    if (t->kind != TOK_WORD || t->len == 0 || t->len >= cap) return false;
    for (size_t i = 0; i < t->len; i++) {
        if (!is_alpha((unsigned char)t->start[i]) && t->start[i] != '_') return false;
        buf[i] = ascii_upper(t->start[i]);
    }
    buf[t->len] = 0;
    return true;
}

/* After WITH: the first statement keyword at parenthesis depth 0 that is not a CTE name. */
static bool with_body_keyword(const char *p, char *buf, size_t cap)
{
    static const char *const body[] = {"SELECT", "VALUES", "FROM", "TABLE", "INSERT", "UPDATE",
                                       "DELETE", "MERGE", "PIVOT", "UNPIVOT", NULL};
    int depth = 0;
    bool name_next = true; /* a CTE name follows WITH, RECURSIVE and commas */
    tok_t t;
    for (p = next_token(p, &t); t.kind != TOK_END; p = next_token(p, &t)) {
        if (tok_is_punct(&t, '(')) {
            depth++;
        } else if (tok_is_punct(&t, ')')) {
            depth--;
        } else if (depth == 0 && tok_is_punct(&t, ',')) {
            name_next = true;
            continue;
        } else if (depth == 0 && tok_is_punct(&t, ';')) {
            return false;
        } else if (depth == 0 && t.kind == TOK_WORD) {
            if (tok_is_word(&t, "RECURSIVE")) continue;
            if (!name_next && word_upper(&t, buf, cap) && in_list(buf, body)) return true;
        }
        name_next = false;
    }
    return false;
}

/* Names the statement by its leading keyword, after comments and opening parentheses. The
 * label completes "... are not allowed". Returns false when no sensible name exists. */
static bool statement_label(const char *sql, char *label, size_t cap, bool *select_like)
{
    static const char *const txn[] = {"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT",
                                      NULL};
    static const char *const query[] = {"SELECT", "VALUES", "FROM", "TABLE", "DESCRIBE", "SHOW",
                                        "SUMMARIZE", NULL};
    char kw[32];
    tok_t t;
    const char *p = next_token(sql, &t);
    *select_like = false;
    while (tok_is_punct(&t, '(')) p = next_token(p, &t);
    if (!word_upper(&t, kw, sizeof kw)) return false;
    if (strcmp(kw, "WITH") == 0 && !with_body_keyword(p, kw, sizeof kw)) {
        *select_like = true;
        return false;
    }
    if (strcmp(kw, "FORCE") == 0) {
        next_token(p, &t);
        if (!word_upper(&t, kw, sizeof kw)) return false;
    }
    if (in_list(kw, txn)) {
        snprintf(label, cap, "transaction statements (%s)", kw);
    } else if (in_list(kw, query)) {
        *select_like = true;
        return false;
    } else if (strcmp(kw, "PIVOT") == 0 || strcmp(kw, "UNPIVOT") == 0) {
        snprintf(label, cap, "%s statements without an IN list", kw);
    } else {
        snprintf(label, cap, "%s statements", kw);
    }
    return true;
}

/* Peels `EXPLAIN [ANALYZE] [(option [value], ...)]` and points *inner at the query inside.
 * Refuses options other than the ones DuckDB's EXPLAIN accepts (ANALYZE, FORMAT). */
static int strip_explain(const char *sql, const char **inner, clove_err_t *err)
{
    tok_t t;
    const char *p = next_token(sql, &t);
    CLOVE_ASSERT(tok_is_word(&t, "EXPLAIN"));
    for (;;) {
        const char *here = p;
        p = next_token(p, &t);
        if (tok_is_word(&t, "ANALYZE") || tok_is_word(&t, "ANALYSE")) continue;
        tok_t opt;
        next_token(p, &opt);
        if (!tok_is_punct(&t, '(') || !(tok_is_word(&opt, "ANALYZE") ||
                                          tok_is_word(&opt, "ANALYSE") ||
                                          tok_is_word(&opt, "FORMAT"))) {
            *inner = here; /* the query itself, perhaps in parentheses */
            return 0;
        }
        bool want_name = true;
        for (p = next_token(p, &t); !tok_is_punct(&t, ')'); p = next_token(p, &t)) {
            if (t.kind == TOK_END)
                return clove_err_set(err, CLOVE_EQUERY, "unterminated EXPLAIN option list");
            if (tok_is_punct(&t, ',')) {
                want_name = true;
                continue;
            }
            bool name_ok = tok_is_word(&t, "ANALYZE") || tok_is_word(&t, "ANALYSE") ||
                           tok_is_word(&t, "FORMAT");
            bool value_ok = t.kind == TOK_WORD || t.kind == TOK_STRING || t.kind == TOK_NUMBER;
            if (want_name ? !name_ok : !value_ok)
                return clove_err_set(err, CLOVE_EPERM,
                                     "EXPLAIN option \"%.*s\" is not allowed: only ANALYZE and "
                                     "FORMAT may be given",
                                     (int)(t.len > 64 ? 64 : t.len), t.start);
            want_name = false;
        }
    }
}

/* ---- named parameters ------------------------------------------------------------------------ */

/* True when the byte ends an operand, so a ':' right after it is a slice bound, a lambda
 * (`x:x+1`) or a struct key separator rather than a parameter. */
static bool ends_operand(unsigned char c)
{
    return is_ident_cont(c) || c == ')' || c == ']' || c == '}' || c == '"' || c == '\'';
}

char *clove_sql_rewrite_named_params(const char *sql)
{
    if (!sql) return NULL;
    char *out = clove_xstrdup(sql);
    bool subscript[MAX_BRACKETS]; /* per open '[': indexing/slicing rather than a list */
    size_t depth = 0;
    tok_t t;
    const char *p = sql;
    for (p = next_token(p, &t); t.kind != TOK_END; p = next_token(p, &t)) {
        if (t.kind != TOK_PUNCT || t.len != 1) continue;
        const char c = t.start[0];
        const unsigned char prev = t.start > sql ? (unsigned char)t.start[-1] : 0;
        if (c == '[') {
            if (depth < MAX_BRACKETS) subscript[depth] = ends_operand(prev);
            depth++;
        } else if (c == ']') {
            if (depth > 0) depth--;
        } else if (c == ':') {
            bool in_subscript = depth > 0 && depth <= MAX_BRACKETS && subscript[depth - 1];
            const unsigned char next = (unsigned char)t.start[1];
            if (!in_subscript && !ends_operand(prev) && (is_alpha(next) || next == '_'))
                out[t.start - sql] = '$';
        }
    }
    return out;
}

/* ---- policy tables ------------------------------------------------------------------------- */

/* Table functions that compute rows from their arguments only: no files, network, settings,
 * secrets, logs or catalogs. Everything else (read_*, glob, parquet_*, sniff_csv, query,
 * duckdb_*, pragma_*, json_execute_serialized_sql, ...) is refused. */
static const char *const allowed_table_functions[] = {
    "range", "generate_series", "unnest", "json_each", "json_tree", "repeat", "repeat_row", NULL,
};

typedef struct {
    const char *name;
    const char *why;
} denied_fn_t;

/* Scalar functions a read-only query must not call, and why. */
static const denied_fn_t denied_functions[] = {
    {"current_setting", "it reveals the engine's configuration"},
    {"getvariable", "it reveals session variables"},
    {"getenv", "it reveals the process environment"},
    {"json_serialize_plan", "it binds SQL text that the sandbox cannot check"},
    {"query", "it runs SQL text that the sandbox cannot check"},
    {"query_table", "it runs SQL text that the sandbox cannot check"},
    {"nextval", "it advances a sequence, which changes the database"},
    {"setseed", "it changes the state of a shared connection"},
    {"write_log", "it writes to the engine's log"},
    {"which_secret", "it reveals which secrets the engine holds"},
    {NULL, NULL},
};

/* System views that expose settings, file paths of attached databases, logs of other
 * queries or prepared statements of a pooled connection. */
static const char *const denied_views[] = {
    "pg_settings", "duckdb_databases", "pragma_database_list", "duckdb_logs",
    "pg_prepared_statements", NULL,
};

/* Catalogs user SQL may name: the datasets (spice), the engine's own database (memory) and
 * DuckDB's built-in catalogs. Other attached databases (acceleration files, snapshots) are
 * engine internals and only reachable through the dataset views. */
static const char *const allowed_catalogs[] = {"spice", "memory", "system", "temp", NULL};

/* Schemas that exist in the allowed catalogs, so `schema.table` never names a database. */
static const char *const known_schemas[] = {"public", "main", "information_schema",
                                            "pg_catalog", NULL};

/* File extensions DuckDB's replacement scans (and extension autoloading) act on: a qualified
 * name like `data.csv` parses as schema "data", table "csv" and would read a file. */
static const char *const file_extensions[] = {
    "csv", "tsv", "txt", "parquet", "json", "jsonl", "ndjson", "gz", "zst", "xlsx", "arrow",
    "avro", "db", "duckdb", "sqlite", NULL,
};

static const char *const show_names[] = {"", "\"tables\"", "\"databases\"",
                                         "__show_tables_expanded", NULL};

/* ---- DuckDB results ------------------------------------------------------------------------ */

typedef void (*varchar_cb)(void *ud, const char *s, size_t n);

/* Calls cb for every non-NULL value of the first (VARCHAR) column of r. */
static void for_each_varchar(duckdb_result r, varchar_cb cb, void *ud)
{
    duckdb_data_chunk chunk;
    while ((chunk = duckdb_fetch_chunk(r)) != NULL) {
        idx_t rows = duckdb_data_chunk_get_size(chunk);
        duckdb_vector vec = duckdb_data_chunk_get_vector(chunk, 0);
        uint64_t *validity = duckdb_vector_get_validity(vec);
        duckdb_string_t *data = (duckdb_string_t *)duckdb_vector_get_data(vec);
        for (idx_t i = 0; i < rows; i++) {
            if (validity && !duckdb_validity_row_is_valid(validity, i)) continue;
            cb(ud, duckdb_string_t_data(&data[i]), duckdb_string_t_length(data[i]));
        }
        duckdb_destroy_data_chunk(&chunk);
    }
}

/* ---- tree walk ----------------------------------------------------------------------------- */

typedef struct {
    duckdb_connection conn;
    clove_err_t *err;
    const char **scope; /* CTE names in scope (borrowed from the tree) */
    size_t n_scope, cap_scope;
    char **tables;
    size_t n_tables, cap_tables;
    char **dbs; /* attached database names, loaded on first need */
    size_t n_dbs;
    bool dbs_loaded;
    int depth;
} walk_t;

static void walk_dispose(walk_t *w)
{
    free(w->scope);
    for (size_t i = 0; i < w->n_tables; i++) free(w->tables[i]);
    free(w->tables);
    for (size_t i = 0; i < w->n_dbs; i++) free(w->dbs[i]);
    free(w->dbs);
}

static void scope_push(walk_t *w, const char *name)
{
    if (w->n_scope == w->cap_scope) {
        w->cap_scope = w->cap_scope ? w->cap_scope * 2 : 8;
        w->scope = clove_xrealloc(w->scope, w->cap_scope * sizeof *w->scope);
    }
    w->scope[w->n_scope++] = name;
}

static bool scope_has(const walk_t *w, const char *name)
{
    for (size_t i = 0; i < w->n_scope; i++)
        if (clove_str_ieq(w->scope[i], name)) return true;
    return false;
}

/* Takes ownership of name. */
static void add_table(walk_t *w, char *name)
{
    for (size_t i = 0; i < w->n_tables; i++) {
        if (strcmp(w->tables[i], name) == 0) {
            free(name);
            return;
        }
    }
    if (w->n_tables == w->cap_tables) {
        w->cap_tables = w->cap_tables ? w->cap_tables * 2 : 4;
        w->tables = clove_xrealloc(w->tables, w->cap_tables * sizeof *w->tables);
    }
    w->tables[w->n_tables++] = name;
}

static const char *str_field(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

static void add_database_cb(void *ud, const char *s, size_t n)
{
    walk_t *w = ud;
    w->dbs = clove_xrealloc(w->dbs, (w->n_dbs + 1) * sizeof *w->dbs);
    w->dbs[w->n_dbs++] = clove_xstrndup(s, n);
}

/* Lists the attached databases once per check, only when a two-part name needs it. */
static int load_databases(walk_t *w)
{
    duckdb_result r;
    if (w->dbs_loaded) return 0;
    if (duckdb_query(w->conn, "SELECT database_name FROM duckdb_databases()", &r) ==
        DuckDBError) {
        const char *m = duckdb_result_error(&r);
        clove_err_set(w->err, CLOVE_EINTERNAL, "could not list attached databases: %s",
                      m ? m : "unknown error");
        duckdb_destroy_result(&r);
        return CLOVE_EINTERNAL;
    }
    for_each_varchar(r, add_database_cb, w);
    duckdb_destroy_result(&r);
    w->dbs_loaded = true;
    return 0;
}

static int deny_catalog(walk_t *w, const char *catalog)
{
    return clove_err_set(w->err, CLOVE_EPERM,
                         "database \"%s\" is not accessible: user queries may only read "
                         "datasets (spice.public) and DuckDB's system catalogs",
                         catalog);
}

/* Checks the catalog (and a schema that may really be a catalog) of a reference. */
static int check_qualifiers(walk_t *w, const char *catalog, const char *schema)
{
    if (*catalog) {
        if (!in_list(catalog, allowed_catalogs)) return deny_catalog(w, catalog);
        return 0;
    }
    if (!*schema || in_list(schema, known_schemas) || in_list(schema, allowed_catalogs))
        return 0;
    /* `x.t` means catalog x when no schema x exists in the default catalog */
    int rc = load_databases(w);
    if (rc != 0) return rc;
    for (size_t i = 0; i < w->n_dbs; i++)
        if (clove_str_ieq(w->dbs[i], schema)) return deny_catalog(w, schema);
    return 0;
}

/* A name part that DuckDB could treat as a file path, URL or glob rather than a table. */
static bool looks_like_path(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || strchr("./\\:*?~[]{}", *p)) return true;
    return false;
}

static int check_base_table(walk_t *w, json_t *ref)
{
    const char *catalog = str_field(ref, "catalog_name");
    const char *schema = str_field(ref, "schema_name");
    const char *table = str_field(ref, "table_name");
    if (!*table)
        return clove_err_set(w->err, CLOVE_EPERM, "a table reference without a name is not "
                                                   "allowed");
    if (looks_like_path(catalog) || looks_like_path(schema) || looks_like_path(table) ||
        ((*schema || *catalog) && in_list(table, file_extensions))) {
        return clove_err_set(w->err, CLOVE_EPERM,
                             "table name \"%s%s%s%s%s\" is not allowed: it looks like a file "
                             "path or URL, which DuckDB would read directly; query a dataset "
                             "by name instead",
                             catalog, *catalog ? "." : "", schema, *schema ? "." : "", table);
    }
    if (!*catalog && !*schema && scope_has(w, table)) return 0; /* a CTE */
    bool spice = clove_str_ieq(catalog, "spice");
    if (!spice && in_list(table, denied_views)) {
        return clove_err_set(w->err, CLOVE_EPERM,
                             "system view \"%s\" is not allowed: it exposes engine settings, "
                             "file paths or other sessions' state",
                             table);
    }
    int rc = check_qualifiers(w, catalog, schema);
    if (rc != 0) return rc;

    /* bare, public.t and spice.public.t all name the dataset t */
    bool public_schema = clove_str_ieq(schema, "public");
    if ((!*catalog && (!*schema || public_schema)) || (spice && public_schema)) {
        add_table(w, lower_dup(table));
    } else {
        char *q = clove_xasprintf("%s%s%s%s%s", catalog, *catalog ? "." : "", schema,
                                  *schema ? "." : "", table);
        char *l = lower_dup(q);
        free(q);
        add_table(w, l);
    }
    return 0;
}

static int check_table_function(walk_t *w, json_t *ref)
{
    json_t *fn = json_object_get(ref, "function");
    const char *name = str_field(fn, "function_name");
    const char *catalog = str_field(fn, "catalog");
    if (!*name)
        return clove_err_set(w->err, CLOVE_EPERM, "this table function call is not allowed: "
                                                   "the sandbox cannot tell which function it "
                                                   "calls");
    if (*catalog && !in_list(catalog, allowed_catalogs)) return deny_catalog(w, catalog);
    if (in_list(name, allowed_table_functions)) return 0;
    if (clove_str_ieq(name, "query") || clove_str_ieq(name, "query_table"))
        return clove_err_set(w->err, CLOVE_EPERM,
                             "table function \"%s\" is not allowed: it runs SQL text that the "
                             "sandbox cannot check",
                             name);
    return clove_err_set(w->err, CLOVE_EPERM,
                         "table function \"%s\" is not allowed: user queries may not read "
                         "files, reach the network or inspect engine settings and catalogs; "
                         "allowed table functions are range, generate_series, unnest, "
                         "json_each, json_tree, repeat and repeat_row",
                         name);
}

static int check_show(walk_t *w, json_t *ref)
{
    const char *name = str_field(ref, "table_name");
    if (!in_list(name, show_names))
        return clove_err_set(w->err, CLOVE_EPERM,
                             "SHOW %s is not allowed: user queries may show tables, databases "
                             "and the columns of a table or query",
                             name);
    return check_qualifiers(w, str_field(ref, "catalog_name"), str_field(ref, "schema_name"));
}

/* Table refs carry type, alias, sample and query_location; expressions carry a class, query
 * nodes a cte_map. Scan and function refs are recognised by type whatever else they hold. */
static bool is_table_ref(json_t *obj, const char *type)
{
    if (strcmp(type, "BASE_TABLE") == 0 || strcmp(type, "TABLE_FUNCTION") == 0 ||
        strcmp(type, "SHOW_REF") == 0)
        return true;
    return json_object_get(obj, "sample") && json_object_get(obj, "query_location") &&
           json_object_get(obj, "alias") && !json_object_get(obj, "class") &&
           !json_object_get(obj, "cte_map");
}

static int check_table_ref(walk_t *w, json_t *ref, const char *type)
{
    static const char *const plain[] = {"JOIN", "SUBQUERY", "EXPRESSION_LIST", "EMPTY", "PIVOT",
                                        NULL};
    if (strcmp(type, "BASE_TABLE") == 0) return check_base_table(w, ref);
    if (strcmp(type, "TABLE_FUNCTION") == 0) return check_table_function(w, ref);
    if (strcmp(type, "SHOW_REF") == 0) return check_show(w, ref);
    if (in_list(type, plain)) return 0;
    return clove_err_set(w->err, CLOVE_EPERM,
                         "table reference of type %s is not allowed: the sandbox does not know "
                         "what it reads",
                         type);
}

static int check_function(walk_t *w, json_t *expr, const char *name)
{
    const char *catalog = str_field(expr, "catalog");
    if (*catalog && !in_list(catalog, allowed_catalogs)) return deny_catalog(w, catalog);
    for (size_t i = 0; denied_functions[i].name; i++) {
        if (clove_str_ieq(name, denied_functions[i].name))
            return clove_err_set(w->err, CLOVE_EPERM, "function \"%s\" is not allowed: %s",
                                 denied_functions[i].name, denied_functions[i].why);
    }
    return 0;
}

static int walk(walk_t *w, json_t *v);

static int walk_object(walk_t *w, json_t *obj)
{
    size_t pushed = 0;
    int rc = 0;
    const char *type = json_string_value(json_object_get(obj, "type"));

    /* CTE i sees CTEs 0..i-1 (a non-recursive CTE naming itself reads the base table); the
     * body sees all of them. */
    json_t *ctes = json_object_get(json_object_get(obj, "cte_map"), "map");
    for (size_t i = 0; i < json_array_size(ctes); i++) {
        json_t *entry = json_array_get(ctes, i);
        rc = walk(w, json_object_get(entry, "value"));
        if (rc != 0) goto done;
        const char *name = json_string_value(json_object_get(entry, "key"));
        if (name) {
            scope_push(w, name);
            pushed++;
        }
    }
    if (type && strcmp(type, "RECURSIVE_CTE_NODE") == 0) {
        const char *name = json_string_value(json_object_get(obj, "cte_name"));
        if (name) {
            scope_push(w, name);
            pushed++;
        }
    }

    if (type && is_table_ref(obj, type)) {
        rc = check_table_ref(w, obj, type);
        if (rc != 0) goto done;
    }
    const char *fname = json_string_value(json_object_get(obj, "function_name"));
    if (fname && json_object_get(obj, "class")) {
        rc = check_function(w, obj, fname);
        if (rc != 0) goto done;
    }

    const char *key;
    json_t *child;
    json_object_foreach(obj, key, child) {
        if (strcmp(key, "cte_map") == 0) continue;
        rc = walk(w, child);
        if (rc != 0) goto done;
    }
done:
    w->n_scope -= pushed;
    return rc;
}

static int walk(walk_t *w, json_t *v)
{
    int rc = 0;
    if (!json_is_object(v) && !json_is_array(v)) return 0;
    if (++w->depth > MAX_TREE_DEPTH) {
        rc = clove_err_set(w->err, CLOVE_EQUERY,
                           "the query is nested too deeply for the sandbox to check");
    } else if (json_is_object(v)) {
        rc = walk_object(w, v);
    } else {
        for (size_t i = 0; i < json_array_size(v) && rc == 0; i++)
            rc = walk(w, json_array_get(v, i));
    }
    w->depth--;
    return rc;
}

/* ---- DuckDB parse --------------------------------------------------------------------------- */

static void keep_first_cb(void *ud, const char *s, size_t n)
{
    char **out = ud;
    if (!*out) *out = clove_xstrndup(s, n);
}

#define PARSE_SQL "SELECT json_serialize_sql($1::VARCHAR)"

struct clove_sandbox {
    duckdb_connection conn;         /* borrowed */
    duckdb_prepared_statement ps;   /* PARSE_SQL on conn, or NULL to prepare per call */
};

/* Runs json_serialize_sql on `sql` (bound, never spliced) and parses its JSON into *out. */
static int serialize_sql(clove_sandbox_t *sb, const char *sql, json_t **out, clove_err_t *err)
{
    duckdb_prepared_statement ps = sb->ps;
    duckdb_result r;
    bool have_result = false;
    char *text = NULL;
    int rc = 0;
    *out = NULL;

    if (!ps && duckdb_prepare(sb->conn, PARSE_SQL, &ps) == DuckDBError) {
        const char *m = duckdb_prepare_error(ps);
        rc = clove_err_set(err, CLOVE_EINTERNAL, "could not prepare the SQL parser call: %s",
                           m ? m : "unknown error");
        goto done;
    }
    if (duckdb_bind_varchar(ps, 1, sql) == DuckDBError) {
        rc = clove_err_set(err, CLOVE_EQUERY, "the query text is not valid UTF-8");
        goto done;
    }
    have_result = true;
    if (duckdb_execute_prepared(ps, &r) == DuckDBError) {
        const char *m = duckdb_result_error(&r);
        rc = clove_err_set(err, CLOVE_EINTERNAL, "could not run the SQL parser: %s",
                           m ? m : "unknown error");
        goto done;
    }
    for_each_varchar(r, keep_first_cb, &text);
    if (!text) {
        rc = clove_err_set(err, CLOVE_EINTERNAL, "the SQL parser returned no result");
        goto done;
    }
    json_error_t jerr;
    /* query_location is 2^64-1 when unknown: too big for json_int_t, so read numbers as reals */
    *out = json_loads(text, JSON_DECODE_INT_AS_REAL, &jerr);
    if (!*out) {
        if (strstr(jerr.text, "nesting"))
            rc = clove_err_set(err, CLOVE_EQUERY,
                               "the query is nested too deeply for the sandbox to check");
        else
            rc = clove_err_set(err, CLOVE_EINTERNAL, "could not read the parse tree: %s",
                               jerr.text);
    }
done:
    free(text);
    if (have_result) duckdb_destroy_result(&r);
    if (ps && ps != sb->ps) duckdb_destroy_prepare(&ps);
    else if (ps) duckdb_clear_bindings(ps);
    return rc;
}

/* Syntax errors carry DuckDB's message plus the line and column of `position`. */
static int syntax_error(json_t *root, const char *full, const char *text, clove_err_t *err)
{
    const char *msg = str_field(root, "error_message");
    const char *pos_s = json_string_value(json_object_get(root, "position"));
    if (!*msg) msg = "syntax error";
    if (!pos_s) return clove_err_set(err, CLOVE_EQUERY, "%s", msg);
    size_t pos = (size_t)strtoull(pos_s, NULL, 10) + (size_t)(text - full);
    size_t len = strlen(full), line = 1, col = 1;
    for (size_t i = 0; i < pos && i < len; i++) {
        if (full[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    return clove_err_set(err, CLOVE_EQUERY, "%s at line %zu, column %zu", msg, line, col);
}

/* json_serialize_sql's refusal of anything but SELECT-like statements */
#define NOT_SELECT "Only SELECT statements can be serialized to json!"

static int check_text(clove_sandbox_t *sb, const char *full, const char *text,
                      bool in_explain, clove_sandbox_result_t *res, clove_err_t *err);

/* DuckDB would not serialise the statement: it is not a plain query. Say what it is. */
static int refuse_statement(clove_sandbox_t *sb, const char *full, const char *text,
                            bool in_explain, clove_sandbox_result_t *res, clove_err_t *err)
{
    char label[96];
    bool select_like = false;
    if (count_statements(text) > 1)
        return clove_err_set(err, CLOVE_EPERM,
                             "multiple statements are not allowed: send exactly one query per "
                             "request");
    tok_t t;
    next_token(text, &t);
    if (tok_is_word(&t, "EXPLAIN") && !in_explain) {
        const char *inner = NULL;
        int rc = strip_explain(text, &inner, err);
        if (rc == 0) rc = check_text(sb, full, inner, true, res, err);
        if (rc == 0) res->kind = CLOVE_STMT_EXPLAIN;
        return rc;
    }
    if (statement_label(text, label, sizeof label, &select_like))
        return clove_err_set(err, CLOVE_EPERM, "%s are not allowed: %s", label, READ_ONLY_WHY);
    if (select_like)
        return clove_err_set(err, CLOVE_EPERM,
                             "this query is not allowed: it contains a construct that is not a "
                             "plain query (such as PIVOT without an IN list); %s",
                             READ_ONLY_WHY);
    return clove_err_set(err, CLOVE_EPERM, "this statement is not allowed: %s", READ_ONLY_WHY);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Checks one piece of SQL text (the whole query, or the query inside EXPLAIN). */
static int check_text(clove_sandbox_t *sb, const char *full, const char *text,
                      bool in_explain, clove_sandbox_result_t *res, clove_err_t *err)
{
    walk_t w = {.conn = sb->conn, .err = err};
    json_t *root;
    int rc = serialize_sql(sb, text, &root, err);
    if (rc != 0) return rc;

    if (json_is_true(json_object_get(root, "error"))) {
        const char *type = str_field(root, "error_type");
        if (strcmp(type, "parser") == 0)
            rc = syntax_error(root, full, text, err);
        else if (strcmp(str_field(root, "error_message"), NOT_SELECT) == 0)
            rc = refuse_statement(sb, full, text, in_explain, res, err);
        else
            rc = clove_err_set(err, CLOVE_EQUERY, "could not parse the query: %s",
                               str_field(root, "error_message"));
        goto done;
    }
    json_t *stmts = json_object_get(root, "statements");
    if (json_array_size(stmts) == 0) {
        rc = clove_err_set(err, CLOVE_EQUERY, "empty query: the SQL text contains no statement");
        goto done;
    }
    if (json_array_size(stmts) > 1) {
        rc = clove_err_set(err, CLOVE_EPERM,
                           "multiple statements are not allowed: send exactly one query per "
                           "request (found %zu)",
                           json_array_size(stmts));
        goto done;
    }
    rc = walk(&w, json_array_get(stmts, 0));
    if (rc != 0) goto done;

    if (w.n_tables > 1) qsort(w.tables, w.n_tables, sizeof *w.tables, cmp_str);
    res->kind = CLOVE_STMT_SELECT;
    res->tables = w.tables;
    res->n_tables = w.n_tables;
    w.tables = NULL;
    w.n_tables = 0;
done:
    walk_dispose(&w);
    json_decref(root);
    return rc;
}

/* ---- public -------------------------------------------------------------------------------- */

static int run_check(clove_sandbox_t *sb, const char *sql, clove_sandbox_result_t *res,
                     clove_err_t *err)
{
    clove_sandbox_result_t scratch;
    if (!res) res = &scratch;
    memset(res, 0, sizeof *res);
    if (!sb->conn || !sql)
        return clove_err_set(err, CLOVE_EINVAL, "no connection or no SQL text");
    int rc = check_text(sb, sql, sql, false, res, err);
    if (rc != 0 || res == &scratch) clove_sandbox_result_dispose(res);
    return rc;
}

int clove_sandbox_check(duckdb_connection conn, const char *sql, clove_sandbox_result_t *res,
                        clove_err_t *err)
{
    clove_sandbox_t sb = {.conn = conn};
    return run_check(&sb, sql, res, err);
}

clove_sandbox_t *clove_sandbox_create(duckdb_connection conn, clove_err_t *err)
{
    clove_sandbox_t *sb;
    duckdb_prepared_statement ps = NULL;
    if (!conn) {
        clove_err_set(err, CLOVE_EINVAL, "no connection given to the SQL sandbox");
        return NULL;
    }
    if (duckdb_prepare(conn, PARSE_SQL, &ps) == DuckDBError) {
        const char *m = duckdb_prepare_error(ps);
        clove_err_set(err, CLOVE_EINTERNAL, "could not prepare the SQL parser call: %s",
                      m ? m : "unknown error");
        duckdb_destroy_prepare(&ps);
        return NULL;
    }
    sb = clove_xcalloc(1, sizeof *sb);
    sb->conn = conn;
    sb->ps = ps;
    return sb;
}

int clove_sandbox_run(clove_sandbox_t *sb, const char *sql, clove_sandbox_result_t *res,
                      clove_err_t *err)
{
    if (!sb) {
        if (res) memset(res, 0, sizeof *res);
        return clove_err_set(err, CLOVE_EINVAL, "no SQL sandbox given");
    }
    return run_check(sb, sql, res, err);
}

void clove_sandbox_destroy(clove_sandbox_t *sb)
{
    if (!sb) return;
    duckdb_destroy_prepare(&sb->ps);
    free(sb);
}

void clove_sandbox_result_dispose(clove_sandbox_result_t *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n_tables; i++) free(r->tables[i]);
    free(r->tables);
    r->tables = NULL;
    r->n_tables = 0;
}
