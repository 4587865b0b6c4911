/*
 * engine/pushdown.c: filter and LIMIT pushdown into the scans of datasets (see pushdown.h for
 * the contract). The user query is parsed by DuckDB (json_serialize_sql), its tree walked with
 * jansson: in every SELECT, each FROM reference to a target dataset collects the conjuncts of
 * WHERE (and of JOIN ... ON) that read only that reference's columns and constants, translated
 * to the target's dialect, and the reference is replaced in place by a SUBQUERY node holding
 * the dataset's view query whose scan call gains `<filter_param> :=` (and `<limit_param> :=`).
 * The tree goes back to SQL with json_deserialize_sql and that text is parsed once more: it
 * must give exactly the rewritten tree, else nothing is pushed.
 *
 * Soundness rule: the original WHERE stays in the query and DuckDB re-checks every row, so a
 * pushed condition P only needs "every row the query's condition keeps also satisfies P"
 * (three-valued: TRUE rows of the condition are TRUE rows of P). Negation is pushed down to
 * the leaves (NOT (a < 5) is a >= 5, De Morgan for AND/OR), so dropping an untranslatable
 * child of an AND only widens P. A translation is "exact" when P keeps exactly the rows the
 * condition keeps; the limit is pushed only when the whole WHERE of a plain single-table
 * SELECT went in exactly (else the store could stop before enough rows pass DuckDB's
 * re-check).
 *
 * SQLite (storage per src/accel/README.md):
 * - INTEGER columns (booleans, integers) against integer literals, booleans against
 *   true/false; DECIMAL literals against integer columns become integer bounds;
 * - UBIGINT (values above INT64_MAX are BLOBs, which SQLite orders after numbers) and
 *   FLOAT/DOUBLE (NaN and -0.0 are BLOBs) through a CASE that gives a BLOB the answer DuckDB
 *   gives for that value (NaN is greater than every number in DuckDB, -0.0 equals 0);
 *   non-integer literals against FLOAT/DOUBLE only as a widened range (relative 1e-6), since
 *   DuckDB rounds the literal to the column type and SQLite's text-to-double conversion need
 *   not round the same way;
 * - TEXT (VARCHAR) against string literals: SQLite's BINARY collation is memcmp, which is
 *   DuckDB's default order; LIKE without ESCAPE becomes GLOB (case-sensitive like DuckDB's
 *   LIKE; %->*, _->?, and *?[ bracketed). GLOB stops at a NUL byte, so rows holding one pass
 *   through unfiltered (the LIKE translation is therefore never exact);
 * - IS [NOT] NULL on every stored column (text-held types store NULL as NULL);
 * - IN / NOT IN lists and BETWEEN of the above; OR only when every branch translates.
 *
 * PostgreSQL (native types; PostgreSQL orders NaN above every number and -0 equal to 0, like
 * DuckDB):
 * - smallint/integer/bigint against integer literals (DECIMAL literals as integer bounds),
 *   boolean against true/false, numeric(p,s) against integer and DECIMAL literals when
 *   DuckDB compares them exactly (the common DECIMAL type fits 38 digits; beyond, DuckDB
 *   compares through DOUBLE and nothing is pushed);
 * - real/double precision against integer literals within the type's exact integer range
 *   (`x = 5::float8`), other literals as a widened range like SQLite;
 * - text/varchar against string literals COLLATE "C" (byte order, DuckDB's order; equality
 *   stays bytewise even under a nondeterministic column collation); LIKE as
 *   `LIKE E'..' ESCAPE ''` (DuckDB's LIKE has no escape character, PostgreSQL's default is
 *   backslash); literals as E'' strings, so standard_conforming_strings does not matter;
 * - date, time, timestamp, timestamptz against literals of the same type or string literals
 *   (which DuckDB casts to the column's type): the literal is evaluated by DuckDB itself on the
 *   query's connection (its TimeZone) and written in canonical form (timestamptz in UTC with
 *   +00), years 1..9999 and infinities only;
 * - uuid (= <> IN) against UUID or string literals, canonicalised by DuckDB; enums (= <> IN)
 *   by label (`e::text = '...'`, which never fails on an unknown label);
 * - IS [NOT] NULL on every column but NONE; IN / NOT IN, BETWEEN, OR as for SQLite.
 *
 * DuckDB: a leaf condition (anything but AND / OR / NOT) goes as written when every column it
 * reads is an EXPR column of the target, and it holds only constants, comparisons, IN,
 * BETWEEN, IS NULL, CASE, casts, COLLATE and deterministic functions of a fixed list (no
 * now()/random(), no subqueries, parameters, aggregates or windows). Column references become
 * the bare source names. NOT is applied as the parser would (a negated comparison or IN list,
 * else NOT (...)), so the condition text reads back as exactly its tree (checked). Exact.
 *
 * Never pushed: parameters, casts other than boolean literals (and typed literals in
 * PostgreSQL), functions (outside the DuckDB dialect), ILIKE, SIMILAR, IS DISTINCT FROM,
 * subqueries, comparisons between columns, conditions on the nullable side of an outer join,
 * anything under ASOF/POSITIONAL/SEMI/ANTI joins, references with TABLESAMPLE, queries with
 * column references of three or more parts.
 */
#include "engine/pushdown.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define COMP "pushdown"
#define SERIALIZE_SQL "SELECT json_serialize_sql($1::VARCHAR)"
#define DESERIALIZE_SQL "SELECT json_deserialize_sql($1::JSON)"
/* query_location of nodes without a position: too big for jansson's json_int_t */
#define NO_LOCATION "\"query_location\":18446744073709551615"
#define MAX_TREE_DEPTH 2100
/* Relative widening of non-integer literals compared with FLOAT/DOUBLE columns: far above
 * FLOAT's rounding (2^-24) and any text-to-double error. */
#define REAL_SLACK 1e-6

typedef struct {
    char *name;                  /* in the view */
    char *src;                   /* in the store */
    clove_pushdown_col_kind_t kind;
    int width, scale;
} tcol_t;

struct clove_pushdown_target {
    atomic_int refs;
    clove_pushdown_dialect_t dialect;
    char *name;
    json_t *view_node;  /* SELECT_NODE of the view query, without query_location */
    char *filter_param;
    char *limit_param;  /* NULL: none */
    char *remote_table; /* NULL: no whole-query pushdown */
    tcol_t *cols;
    size_t ncols;
};

/* ---- DuckDB parser calls ------------------------------------------------------------------- */

/* Runs `q` (one VARCHAR/JSON parameter) with `arg` bound and returns the first value of the
 * first row as a new string in *out (NULL when the result is NULL). */
static int run_parser(duckdb_connection conn, const char *q, const char *arg, char **out,
                      clove_err_t *err)
{
    duckdb_prepared_statement ps = NULL;
    duckdb_result r;
    bool have_result = false;
    int rc = 0;
    *out = NULL;
    if (duckdb_prepare(conn, q, &ps) == DuckDBError) {
        const char *m = duckdb_prepare_error(ps);
        rc = clove_err_set(err, CLOVE_EINTERNAL, "could not prepare the SQL parser call: %s",
                           m ? m : "unknown error");
        goto done;
    }
    if (duckdb_bind_varchar(ps, 1, arg) == DuckDBError) {
        rc = clove_err_set(err, CLOVE_EINTERNAL, "could not bind the SQL parser argument");
        goto done;
    }
    have_result = true;
    if (duckdb_execute_prepared(ps, &r) == DuckDBError) {
        const char *m = duckdb_result_error(&r);
        rc = clove_err_set(err, CLOVE_EINTERNAL, "the SQL parser call failed: %s",
                           m ? m : "unknown error");
        goto done;
    }
    duckdb_data_chunk chunk = duckdb_fetch_chunk(r);
    if (chunk) {
        if (duckdb_data_chunk_get_size(chunk) > 0) {
            duckdb_vector vec = duckdb_data_chunk_get_vector(chunk, 0);
            uint64_t *validity = duckdb_vector_get_validity(vec);
            duckdb_string_t *data = (duckdb_string_t *)duckdb_vector_get_data(vec);
            if (!validity || duckdb_validity_row_is_valid(validity, 0))
                *out = clove_xstrndup(duckdb_string_t_data(&data[0]),
                                      duckdb_string_t_length(data[0]));
        }
        duckdb_destroy_data_chunk(&chunk);
    }
    if (!*out) rc = clove_err_set(err, CLOVE_EINTERNAL, "the SQL parser returned no result");
done:
    if (have_result) duckdb_destroy_result(&r);
    duckdb_destroy_prepare(&ps);
    return rc;
}

/* Removes every query_location member: positions mean nothing in a rewritten tree, and the
 * comparison of trees must not see them. */
static void strip_locations(json_t *v, int depth)
{
    if (depth > MAX_TREE_DEPTH) return;
    if (json_is_object(v)) {
        json_object_del(v, "query_location");
        const char *key;
        json_t *child;
        json_object_foreach(v, key, child) strip_locations(child, depth + 1);
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            strip_locations(json_array_get(v, i), depth + 1);
    }
}

/* Parses `sql` into DuckDB's JSON tree. Returns 0 with *out set, or 0 with *out NULL when
 * DuckDB does not serialise it (not a plain query, syntax error) or the JSON cannot be read
 * exactly (integers beyond int64); negative when the parser call failed. */
static int parse_sql(duckdb_connection conn, const char *sql, json_t **out, clove_err_t *err)
{
    char *text = NULL;
    *out = NULL;
    int rc = run_parser(conn, SERIALIZE_SQL, sql, &text, err);
    if (rc != 0) return rc;
    /* the marker is outside any JSON string: inside one its quotes would be escaped */
    clove_buf_t b;
    clove_buf_init(&b);
    const char *p = text, *hit;
    while ((hit = strstr(p, NO_LOCATION)) != NULL) {
        clove_buf_append(&b, p, (size_t)(hit - p));
        clove_buf_puts(&b, "\"query_location\":0");
        p = hit + strlen(NO_LOCATION);
    }
    clove_buf_puts(&b, p);
    free(text);
    if (b.failed) {
        clove_buf_dispose(&b);
        return clove_err_set(err, CLOVE_ENOMEM, "out of memory reading a parse tree");
    }
    json_error_t jerr;
    json_t *root = json_loads(b.data, 0, &jerr);
    clove_buf_dispose(&b);
    if (!root) return 0;
    if (!json_is_false(json_object_get(root, "error")) ||
        json_array_size(json_object_get(root, "statements")) != 1) {
        json_decref(root);
        return 0;
    }
    strip_locations(root, 0);
    *out = root;
    return 0;
}

/* ---- small helpers ------------------------------------------------------------------------- */

static const char *str_field(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

static bool is_type(json_t *obj, const char *type)
{
    return strcmp(str_field(obj, "type"), type) == 0;
}

static void put_ident(clove_buf_t *b, const char *s)
{
    clove_buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"') clove_buf_putc(b, '"');
        clove_buf_putc(b, *s);
    }
    clove_buf_putc(b, '"');
}

static void put_string(clove_buf_t *b, const char *s)
{
    clove_buf_putc(b, '\'');
    for (; *s; s++) {
        if (*s == '\'') clove_buf_putc(b, '\'');
        clove_buf_putc(b, *s);
    }
    clove_buf_putc(b, '\'');
}

/* ---- targets ------------------------------------------------------------------------------- */

/* Parses the view query and checks its shape; returns its SELECT_NODE (new reference). */
static json_t *parse_view(duckdb_connection conn, const char *view_sql, const char *scan_fn,
                          size_t ncols, clove_err_t *err)
{
    json_t *root = NULL;
    if (parse_sql(conn, view_sql, &root, err) != 0) return NULL;
    json_t *node = root ? json_object_get(json_array_get(json_object_get(root, "statements"), 0),
                                          "node")
                        : NULL;
    json_t *from = json_object_get(node, "from_table");
    json_t *fn = json_object_get(from, "function");
    json_t *list = json_object_get(node, "select_list");
    bool star = json_array_size(list) == 1 && !strcmp(str_field(json_array_get(list, 0),
                                                                "class"), "STAR");
    if (!node || !is_type(node, "SELECT_NODE") || !is_type(from, "TABLE_FUNCTION") ||
        !clove_str_ieq(str_field(fn, "function_name"), scan_fn) ||
        !json_is_array(json_object_get(fn, "children")) ||
        json_array_size(json_object_get(node, "modifiers")) != 0 ||
        !json_is_null(json_object_get(node, "where_clause")) ||
        (!star && json_array_size(list) != ncols)) {
        clove_err_set(err, CLOVE_EINVAL,
                      "the view query is not a plain SELECT of %zu columns FROM %s(...)", ncols,
                      scan_fn);
        json_decref(root);
        return NULL;
    }
    json_incref(node);
    json_decref(root);
    return node;
}

static bool kind_fits(clove_pushdown_dialect_t d, clove_pushdown_col_kind_t k)
{
    if (k == CLOVE_PUSHDOWN_COL_NONE) return true;
    switch (d) {
    case CLOVE_PUSHDOWN_SQLITE: return k <= CLOVE_PUSHDOWN_COL_TEXT;
    case CLOVE_PUSHDOWN_POSTGRES:
        return k <= CLOVE_PUSHDOWN_COL_ENUM && k != CLOVE_PUSHDOWN_COL_UBIGINT;
    case CLOVE_PUSHDOWN_DUCKDB: return k == CLOVE_PUSHDOWN_COL_EXPR;
    }
    return false;
}

clove_pushdown_target_t *clove_pushdown_target_create(duckdb_connection conn,
                                                      const clove_pushdown_spec_t *spec,
                                                      clove_err_t *err)
{
    if (!conn || !spec || !spec->name || !spec->view_sql || !spec->scan_fn ||
        !spec->filter_param || (spec->ncols && !spec->cols) ||
        (spec->dialect != CLOVE_PUSHDOWN_SQLITE && spec->dialect != CLOVE_PUSHDOWN_POSTGRES &&
         spec->dialect != CLOVE_PUSHDOWN_DUCKDB)) {
        clove_err_set(err, CLOVE_EINVAL, "pushdown target: missing arguments");
        return NULL;
    }
    for (size_t i = 0; i < spec->ncols; i++) {
        if (!spec->cols[i].name || !kind_fits(spec->dialect, spec->cols[i].kind) ||
            (spec->cols[i].kind == CLOVE_PUSHDOWN_COL_DECIMAL &&
             (spec->cols[i].width < 1 || spec->cols[i].width > 38 || spec->cols[i].scale < 0 ||
              spec->cols[i].scale > spec->cols[i].width))) {
            clove_err_set(err, CLOVE_EINVAL,
                          "pushdown target \"%s\": column %zu (\"%s\") has a kind its dialect "
                          "does not take",
                          spec->name, i + 1, spec->cols[i].name ? spec->cols[i].name : "");
            return NULL;
        }
    }
    json_t *node = parse_view(conn, spec->view_sql, spec->scan_fn, spec->ncols, err);
    if (!node) return NULL;
    clove_pushdown_target_t *t = clove_xcalloc(1, sizeof *t);
    atomic_init(&t->refs, 1);
    t->dialect = spec->dialect;
    t->name = clove_xstrdup(spec->name);
    t->view_node = node;
    t->filter_param = clove_xstrdup(spec->filter_param);
    t->limit_param = spec->limit_param ? clove_xstrdup(spec->limit_param) : NULL;
    t->remote_table = spec->remote_table && spec->dialect == CLOVE_PUSHDOWN_POSTGRES
                          ? clove_xstrdup(spec->remote_table) : NULL;
    t->ncols = spec->ncols;
    t->cols = clove_xcalloc(spec->ncols ? spec->ncols : 1, sizeof *t->cols);
    for (size_t i = 0; i < spec->ncols; i++) {
        const clove_pushdown_col_t *c = &spec->cols[i];
        t->cols[i].name = clove_xstrdup(c->name);
        t->cols[i].src = clove_xstrdup(c->source ? c->source : c->name);
        t->cols[i].kind = c->kind;
        t->cols[i].width = c->width;
        t->cols[i].scale = c->scale;
    }
    return t;
}

static clove_pushdown_col_kind_t kind_of(duckdb_logical_type lt)
{
    char *alias = duckdb_logical_type_get_alias(lt);
    bool aliased = alias != NULL;
    duckdb_free(alias);
    if (aliased) return CLOVE_PUSHDOWN_COL_NULLS;
    switch (duckdb_get_type_id(lt)) {
    case DUCKDB_TYPE_BOOLEAN: return CLOVE_PUSHDOWN_COL_BOOL;
    case DUCKDB_TYPE_TINYINT:
    case DUCKDB_TYPE_SMALLINT:
    case DUCKDB_TYPE_INTEGER:
    case DUCKDB_TYPE_BIGINT:
    case DUCKDB_TYPE_UTINYINT:
    case DUCKDB_TYPE_USMALLINT:
    case DUCKDB_TYPE_UINTEGER: return CLOVE_PUSHDOWN_COL_INT;
    case DUCKDB_TYPE_UBIGINT: return CLOVE_PUSHDOWN_COL_UBIGINT;
    case DUCKDB_TYPE_FLOAT: return CLOVE_PUSHDOWN_COL_FLOAT;
    case DUCKDB_TYPE_DOUBLE: return CLOVE_PUSHDOWN_COL_DOUBLE;
    case DUCKDB_TYPE_VARCHAR: return CLOVE_PUSHDOWN_COL_TEXT;
    default: return CLOVE_PUSHDOWN_COL_NULLS;
    }
}

clove_pushdown_target_t *clove_pushdown_target_create_sqlite(duckdb_connection conn,
                                                             clove_sqlite_accel_t *a,
                                                             const char *table,
                                                             const char *name,
                                                             clove_err_t *err)
{
    clove_pushdown_target_t *t = NULL;
    duckdb_prepared_statement ps = NULL;
    clove_pushdown_col_t *cols = NULL;
    char *q = NULL, *view = NULL;
    json_t *root = NULL;
    size_t ncols = 0;
    if (!conn || !a || !table || !name) {
        clove_err_set(err, CLOVE_EINVAL, "pushdown target: missing arguments");
        return NULL;
    }
    view = clove_sqlite_accel_view_sql(a, table, err);
    if (!view) return NULL;
    q = clove_xasprintf("SELECT * FROM (%s) LIMIT 0", view);
    if (duckdb_prepare(conn, q, &ps) == DuckDBError) {
        const char *m = duckdb_prepare_error(ps);
        clove_err_set(err, CLOVE_EINTERNAL,
                      "could not read the columns of SQLite acceleration table \"%s\": %s",
                      table, m ? m : "unknown error");
        goto done;
    }
    ncols = (size_t)duckdb_prepared_statement_column_count(ps);
    if (parse_sql(conn, view, &root, err) != 0) goto done;
    json_t *list = json_object_get(
        json_object_get(json_array_get(json_object_get(root, "statements"), 0), "node"),
        "select_list");
    cols = clove_xcalloc(ncols ? ncols : 1, sizeof *cols);
    for (size_t i = 0; i < ncols; i++) {
        /* DuckDB hands out a copy here, despite the const */
        char *cn = (char *)duckdb_prepared_statement_column_name(ps, (idx_t)i);
        cols[i].name = clove_xstrdup(cn ? cn : "");
        duckdb_free(cn);
        json_t *item = json_array_get(list, i);
        if (strcmp(str_field(item, "class"), "COLUMN_REF") != 0) {
            cols[i].kind = CLOVE_PUSHDOWN_COL_NULLS; /* text the view casts back */
            continue;
        }
        duckdb_logical_type lt = duckdb_prepared_statement_column_logical_type(ps, (idx_t)i);
        cols[i].kind = kind_of(lt);
        duckdb_destroy_logical_type(&lt);
    }
    clove_pushdown_spec_t spec = {.dialect = CLOVE_PUSHDOWN_SQLITE, .name = name,
                                  .view_sql = view, .scan_fn = CLOVE_SQLITE_SCAN_FN,
                                  .filter_param = "where_sql", .limit_param = "row_limit",
                                  .cols = cols, .ncols = ncols};
    t = clove_pushdown_target_create(conn, &spec, err);
done:
    for (size_t i = 0; cols && i < ncols; i++) free((char *)cols[i].name);
    free(cols);
    json_decref(root);
    duckdb_destroy_prepare(&ps);
    free(q);
    free(view);
    return t;
}

clove_pushdown_target_t *clove_pushdown_target_ref(clove_pushdown_target_t *t)
{
    if (t) atomic_fetch_add(&t->refs, 1);
    return t;
}

void clove_pushdown_target_unref(clove_pushdown_target_t *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1) return;
    for (size_t i = 0; i < t->ncols; i++) {
        free(t->cols[i].name);
        free(t->cols[i].src);
    }
    free(t->cols);
    json_decref(t->view_node);
    free(t->filter_param);
    free(t->limit_param);
    free(t->remote_table);
    free(t->name);
    free(t);
}

const char *clove_pushdown_target_name(const clove_pushdown_target_t *t)
{
    return t ? t->name : NULL;
}

clove_pushdown_dialect_t clove_pushdown_target_dialect(const clove_pushdown_target_t *t)
{
    return t->dialect;
}

/* ---- FROM bindings ------------------------------------------------------------------------- */

/* One name a SELECT's FROM clause binds. Targets know their columns; everything else
 * (other tables, subqueries, table functions) does not, which blocks unqualified names. */
typedef struct {
    const char *name;                    /* alias, or table / function name (borrowed) */
    const clove_pushdown_target_t *t;    /* NULL: columns unknown */
    json_t *ref;                         /* the BASE_TABLE node (targets) */
    json_t *col_alias;                   /* column_name_alias (targets) */
    clove_buf_t cond;                    /* pushed conjuncts: " AND "-joined text, or
                                            (DuckDB dialect) ","-joined JSON trees */
    size_t n_cond;
} binding_t;

typedef struct {
    binding_t *v;
    size_t n, cap;
} bindings_t;

typedef struct {
    duckdb_connection conn;
    clove_pushdown_target_t *const *targets;
    size_t n_targets;
    const char **scope;                  /* CTE names in scope (borrowed) */
    size_t n_scope, cap_scope;
    size_t replaced;
    bool bail;                           /* the query has a shape the rewrite avoids */
} ctx_t;

static bool scope_has(const ctx_t *c, const char *name)
{
    for (size_t i = 0; i < c->n_scope; i++)
        if (clove_str_ieq(c->scope[i], name)) return true;
    return false;
}

static void scope_push(ctx_t *c, const char *name)
{
    if (c->n_scope == c->cap_scope) {
        c->cap_scope = c->cap_scope ? c->cap_scope * 2 : 8;
        c->scope = clove_xrealloc(c->scope, c->cap_scope * sizeof *c->scope);
    }
    c->scope[c->n_scope++] = name;
}

/* The target a BASE_TABLE node names (bare, public.x, spice.public.x; not a CTE), or NULL. */
static const clove_pushdown_target_t *match_target(ctx_t *c, json_t *ref)
{
    const char *catalog = str_field(ref, "catalog_name");
    const char *schema = str_field(ref, "schema_name");
    const char *table = str_field(ref, "table_name");
    bool bare = !*catalog && !*schema;
    bool qualified = clove_str_ieq(schema, "public") && (!*catalog || clove_str_ieq(catalog,
                                                                                    "spice"));
    if (!bare && !qualified) return NULL;
    if (bare && scope_has(c, table)) return NULL;
    for (size_t i = 0; i < c->n_targets; i++)
        if (c->targets[i] && clove_str_ieq(c->targets[i]->name, table)) return c->targets[i];
    return NULL;
}

static binding_t *binding_add(bindings_t *bs)
{
    if (bs->n == bs->cap) {
        bs->cap = bs->cap ? bs->cap * 2 : 4;
        bs->v = clove_xrealloc(bs->v, bs->cap * sizeof *bs->v);
    }
    binding_t *b = &bs->v[bs->n++];
    memset(b, 0, sizeof *b);
    clove_buf_init(&b->cond);
    return b;
}

static void bindings_dispose(bindings_t *bs)
{
    for (size_t i = 0; i < bs->n; i++) clove_buf_dispose(&bs->v[i].cond);
    free(bs->v);
}

/* Joins whose inputs may be filtered before joining (on their preserved sides). */
static bool regular_join(json_t *j)
{
    const char *rt = str_field(j, "ref_type");
    const char *jt = str_field(j, "join_type");
    return (!strcmp(rt, "REGULAR") || !strcmp(rt, "CROSS") || !strcmp(rt, "NATURAL")) &&
           (!strcmp(jt, "INNER") || !strcmp(jt, "LEFT") || !strcmp(jt, "RIGHT") ||
            !strcmp(jt, "OUTER"));
}

static void collect(ctx_t *c, json_t *ref, bindings_t *bs, int depth)
{
    if (depth > MAX_TREE_DEPTH) return;
    const char *type = str_field(ref, "type");
    if (!strcmp(type, "JOIN")) {
        collect(c, json_object_get(ref, "left"), bs, depth + 1);
        collect(c, json_object_get(ref, "right"), bs, depth + 1);
        return;
    }
    const char *alias = str_field(ref, "alias");
    binding_t *b = binding_add(bs);
    if (!strcmp(type, "BASE_TABLE")) {
        b->name = *alias ? alias : str_field(ref, "table_name");
        const clove_pushdown_target_t *t = match_target(c, ref);
        if (t && json_is_null(json_object_get(ref, "sample")) &&
            json_is_null(json_object_get(ref, "at_clause"))) {
            b->t = t;
            b->ref = ref;
            b->col_alias = json_object_get(ref, "column_name_alias");
        }
    } else if (!strcmp(type, "TABLE_FUNCTION")) {
        b->name = *alias ? alias : str_field(json_object_get(ref, "function"), "function_name");
    } else {
        b->name = alias;
    }
}

/* Whether filtering `target` before the joins under `ref` equals filtering after them:
 * -1 not under ref, 0 under a nullable side or a join that forbids it, 1 yes. */
static int reach(json_t *ref, json_t *target, int depth)
{
    if (ref == target) return 1;
    if (depth > MAX_TREE_DEPTH || !is_type(ref, "JOIN")) return -1;
    int l = reach(json_object_get(ref, "left"), target, depth + 1);
    int r = reach(json_object_get(ref, "right"), target, depth + 1);
    if (l < 0 && r < 0) return -1;
    if (!regular_join(ref)) return 0;
    const char *jt = str_field(ref, "join_type");
    if (l >= 0) return l == 1 && (!strcmp(jt, "INNER") || !strcmp(jt, "LEFT"));
    return r == 1 && (!strcmp(jt, "INNER") || !strcmp(jt, "RIGHT"));
}

/* Column index of `name` as the binding shows it (column aliases rename leading columns). */
static int binding_col(const binding_t *b, const char *name)
{
    for (size_t i = 0; i < b->t->ncols; i++) {
        const char *vis = i < json_array_size(b->col_alias)
                              ? json_string_value(json_array_get(b->col_alias, i))
                              : b->t->cols[i].name;
        if (vis && clove_str_ieq(vis, name)) return (int)i;
    }
    return -1;
}

/* Resolves a COLUMN_REF to a target binding; -1 when it is not (certainly) one. */
static int resolve(const bindings_t *bs, json_t *colref, int *col)
{
    json_t *names = json_object_get(colref, "column_names");
    size_t n = json_array_size(names);
    int found = -1;
    if (n == 1) {
        const char *cn = json_string_value(json_array_get(names, 0));
        for (size_t i = 0; cn && i < bs->n; i++) {
            if (!bs->v[i].t) return -1; /* unknown columns: could be theirs */
            int k = binding_col(&bs->v[i], cn);
            if (k < 0) continue;
            if (found >= 0) return -1; /* ambiguous */
            found = (int)i;
            *col = k;
        }
        return found;
    }
    if (n != 2) return -1;
    const char *q = json_string_value(json_array_get(names, 0));
    const char *cn = json_string_value(json_array_get(names, 1));
    for (size_t i = 0; q && cn && i < bs->n; i++) {
        if (!clove_str_ieq(bs->v[i].name, q)) continue;
        if (found >= 0 || !bs->v[i].t) return -1;
        found = (int)i;
    }
    if (found < 0) return -1;
    *col = binding_col(&bs->v[found], cn);
    return *col < 0 ? -1 : found;
}

/* ---- predicate translation ----------------------------------------------------------------- */

typedef enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE } op_t;

static const char *const op_sql[] = {"=", "<>", "<", "<=", ">", ">="};
static const char *const op_names[] = {"COMPARE_EQUAL", "COMPARE_NOTEQUAL", "COMPARE_LESSTHAN",
                                       "COMPARE_LESSTHANOREQUALTO", "COMPARE_GREATERTHAN",
                                       "COMPARE_GREATERTHANOREQUALTO"};

static op_t op_negate(op_t o)
{
    static const op_t neg[] = {OP_NE, OP_EQ, OP_GE, OP_GT, OP_LE, OP_LT};
    return neg[o];
}

static op_t op_flip(op_t o)
{
    static const op_t flip[] = {OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT, OP_LE};
    return flip[o];
}

static bool op_parse(const char *type, op_t *o)
{
    for (int i = 0; i < 6; i++) {
        if (!strcmp(type, op_names[i])) {
            *o = (op_t)i;
            return true;
        }
    }
    return false;
}

static bool op_holds(op_t o, int cmp)
{
    switch (o) {
    case OP_EQ: return cmp == 0;
    case OP_NE: return cmp != 0;
    case OP_LT: return cmp < 0;
    case OP_LE: return cmp <= 0;
    case OP_GT: return cmp > 0;
    default: return cmp >= 0;
    }
}

typedef enum { LIT_INT, LIT_DEC, LIT_DBL, LIT_STR, LIT_BOOL, LIT_TYPED, LIT_PARAM } lit_kind_t;

/* A parameter in a PostgreSQL condition: the condition text holds PARAM_MARK identifier
 * PARAM_MARK, and the scan's where_sql becomes a DuckDB expression that prints the bound
 * value as an integer literal (see param_filter). */
#define PARAM_MARK '\x01'

typedef struct {
    lit_kind_t k;
    int64_t i;          /* INT, BOOL (0/1), DEC (unscaled) */
    int width, scale;   /* INT, DEC: the literal's DECIMAL width and scale as DuckDB types it */
    double d;           /* DBL */
    const char *s;      /* STR, TYPED: the text (borrowed, no NUL inside); PARAM: identifier */
    const char *tid;    /* TYPED: the DuckDB type it is cast to (DATE, TIME, UUID, ...) */
} lit_t;

/* A string constant without a NUL inside (borrowed). */
static const char *str_constant(json_t *e)
{
    if (strcmp(str_field(e, "class"), "CONSTANT") != 0) return NULL;
    json_t *val = json_object_get(e, "value");
    json_t *v = json_object_get(val, "value");
    const char *s = json_string_value(v);
    if (!json_is_false(json_object_get(val, "is_null")) ||
        strcmp(str_field(json_object_get(val, "type"), "id"), "VARCHAR") != 0 || !s ||
        strlen(s) != json_string_length(v))
        return NULL;
    return s;
}

/* A literal DuckDB compares with its own value (no implicit cast from text, except typed
 * literals such as DATE '...' that arrive as a cast of a string). */
static bool parse_lit(json_t *e, lit_t *l)
{
    memset(l, 0, sizeof *l);
    const char *cls = str_field(e, "class");
    if (!strcmp(cls, "CAST")) {
        json_t *child = json_object_get(e, "child");
        const char *tid = str_field(json_object_get(e, "cast_type"), "id");
        const char *s = str_constant(child);
        if (json_is_true(json_object_get(e, "try_cast")) || !s) return false;
        if (!strcmp(tid, "BOOLEAN")) {
            /* `true` / `false` arrive as CAST('t' AS BOOLEAN) */
            l->k = LIT_BOOL;
            if (!strcmp(s, "t") || !strcmp(s, "true")) l->i = 1;
            else if (!strcmp(s, "f") || !strcmp(s, "false")) l->i = 0;
            else return false;
            return true;
        }
        static const char *const typed[] = {"DATE", "TIME", "TIMESTAMP",
                                            "TIMESTAMP WITH TIME ZONE", "UUID", NULL};
        for (size_t i = 0; typed[i]; i++) {
            if (!strcmp(tid, typed[i])) {
                l->k = LIT_TYPED;
                l->tid = typed[i];
                l->s = s;
                return true;
            }
        }
        return false;
    }
    if (!strcmp(cls, "PARAMETER")) {
        const char *id = str_field(e, "identifier");
        size_t n = strlen(id);
        if (n == 0 || n > 32 || strspn(id, "0123456789") != n) return false;
        l->k = LIT_PARAM;
        l->s = id;
        return true;
    }
    if (strcmp(cls, "CONSTANT") != 0) return false;
    json_t *val = json_object_get(e, "value");
    if (!json_is_false(json_object_get(val, "is_null"))) return false;
    json_t *type = json_object_get(val, "type");
    const char *id = str_field(type, "id");
    json_t *v = json_object_get(val, "value");
    static const struct {
        const char *id;
        int width;
    } ints[] = {{"TINYINT", 3},   {"SMALLINT", 5},  {"INTEGER", 10},  {"BIGINT", 19},
                {"UTINYINT", 3},  {"USMALLINT", 5}, {"UINTEGER", 10}, {"UBIGINT", 20}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (!strcmp(id, ints[i].id)) {
            if (!json_is_integer(v)) return false;
            l->k = LIT_INT;
            l->i = (int64_t)json_integer_value(v);
            l->width = ints[i].width;
            return true;
        }
    }
    if (!strcmp(id, "DECIMAL")) {
        json_t *ti = json_object_get(type, "type_info");
        json_t *scale = json_object_get(ti, "scale"), *width = json_object_get(ti, "width");
        if (!json_is_integer(v) || !json_is_integer(scale) || json_integer_value(scale) < 0 ||
            json_integer_value(scale) > 18 || !json_is_integer(width) ||
            json_integer_value(width) < 1 || json_integer_value(width) > 38)
            return false;
        l->k = json_integer_value(scale) == 0 ? LIT_INT : LIT_DEC;
        l->i = (int64_t)json_integer_value(v);
        l->scale = (int)json_integer_value(scale);
        l->width = (int)json_integer_value(width);
        return true;
    }
    if (!strcmp(id, "DOUBLE") || !strcmp(id, "FLOAT")) {
        if (!json_is_number(v) || !isfinite(json_number_value(v))) return false;
        l->k = LIT_DBL;
        l->d = json_number_value(v);
        return true;
    }
    if (!strcmp(id, "VARCHAR")) {
        if (!(l->s = str_constant(e))) return false;
        l->k = LIT_STR;
        return true;
    }
    if (!strcmp(id, "BOOLEAN")) {
        if (!json_is_boolean(v)) return false;
        l->k = LIT_BOOL;
        l->i = json_is_true(v);
        return true;
    }
    return false;
}

static int64_t pow10_i(int s)
{
    int64_t p = 1;
    while (s-- > 0) p *= 10;
    return p;
}

static double lit_double(const lit_t *l)
{
    if (l->k == LIT_DBL) return l->d;
    if (l->k == LIT_DEC) return (double)l->i / (double)pow10_i(l->scale);
    return (double)l->i;
}

typedef struct {
    ctx_t *c;
    const bindings_t *bs;
    int slot;           /* binding the condition reads, -1 until a column fixes it */
    bool exact;         /* the translation keeps exactly the rows the condition keeps */
} tr_t;

static const tcol_t *slot_col(const tr_t *t, int slot, int col)
{
    return &t->bs->v[slot].t->cols[col];
}

static clove_pushdown_dialect_t slot_dialect(const tr_t *t, int slot)
{
    return t->bs->v[slot].t->dialect;
}

/* Resolves a column operand of the current slot; -1 when it is not one. */
static int tr_column(tr_t *t, json_t *e, int *slot)
{
    int col;
    if (strcmp(str_field(e, "class"), "COLUMN_REF") != 0) return -1;
    int s = resolve(t->bs, e, &col);
    if (s < 0 || (t->slot >= 0 && s != t->slot)) return -1;
    clove_pushdown_col_kind_t k = t->bs->v[s].t->cols[col].kind;
    if (k == CLOVE_PUSHDOWN_COL_NONE || k == CLOVE_PUSHDOWN_COL_EXPR) return -1;
    *slot = s;
    return col;
}

static void put_real(clove_buf_t *b, double d)
{
    char num[64];
    snprintf(num, sizeof num, "%.17g", d);
    clove_buf_puts(b, num);
    if (!strpbrk(num, ".eE")) clove_buf_puts(b, ".0");
}

void clove_pushdown_pg_string(clove_buf_t *b, const char *s)
{
    clove_buf_puts(b, "E'");
    for (; *s; s++) {
        if (*s == '\'' || *s == '\\') clove_buf_putc(b, *s);
        clove_buf_putc(b, *s);
    }
    clove_buf_putc(b, '\'');
}

static void put_decimal(clove_buf_t *b, int64_t unscaled, int scale)
{
    char digits[32];
    /* the magnitude as unsigned: INT64_MIN has no positive int64 */
    uint64_t m = unscaled < 0 ? (uint64_t)0 - (uint64_t)unscaled : (uint64_t)unscaled;
    int n = snprintf(digits, sizeof digits, "%0*" PRIu64, scale + 1, m);
    if (unscaled < 0) clove_buf_putc(b, '-');
    clove_buf_append(b, digits, (size_t)(n - scale));
    if (scale > 0) {
        clove_buf_putc(b, '.');
        clove_buf_puts(b, digits + n - scale);
    }
}

/* An integer column against an integer or DECIMAL literal, exactly: x vs m/10^s that is not
 * an integer compares like x vs floor(m/10^s). */
static bool put_int_compare(clove_buf_t *b, clove_pushdown_dialect_t d, const char *col, op_t o,
                            const lit_t *l)
{
    if (l->k == LIT_INT) {
        put_ident(b, col);
        clove_buf_printf(b, " %s %" PRId64, op_sql[o], l->i);
        return true;
    }
    if (l->k != LIT_DEC) return false;
    int64_t p = pow10_i(l->scale), q = l->i / p, r = l->i % p;
    int64_t fl = r < 0 ? q - 1 : q;
    if (r == 0) {
        put_ident(b, col);
        clove_buf_printf(b, " %s %" PRId64, op_sql[o], fl);
    } else if (o == OP_EQ) {
        clove_buf_puts(b, d == CLOVE_PUSHDOWN_POSTGRES ? "false" : "0");
    } else if (o == OP_NE) {
        put_ident(b, col);
        clove_buf_puts(b, " IS NOT NULL");
    } else {
        put_ident(b, col);
        clove_buf_printf(b, " %s %" PRId64, (o == OP_GT || o == OP_GE) ? ">" : "<=", fl);
    }
    return true;
}

/* A non-integer literal against a FLOAT/DOUBLE column as a widened range: DuckDB rounds the
 * literal to the column type, the store's conversion need not round the same way. `blob`
 * adds SQLite's BLOB-held values (NaN, -0.0), which then pass unfiltered. */
static bool put_real_range(clove_buf_t *b, const char *col, op_t o, const lit_t *l,
                           const char *cast, bool blob, bool *exact)
{
    if (o == OP_NE) return false;
    double v = lit_double(l);
    double s = fabs(v) * REAL_SLACK + 1e-30;
    double lo = v - s, hi = v + s;
    if (!isfinite(lo) || !isfinite(hi)) return false;
    *exact = false;
    clove_buf_putc(b, '(');
    if (blob) {
        clove_buf_puts(b, "typeof(");
        put_ident(b, col);
        clove_buf_puts(b, ") = 'blob' OR ");
    }
    put_ident(b, col);
    if (o == OP_EQ) {
        clove_buf_puts(b, " BETWEEN ");
        put_real(b, lo);
        clove_buf_puts(b, cast);
        clove_buf_puts(b, " AND ");
        put_real(b, hi);
        clove_buf_puts(b, cast);
    } else if (o == OP_GT || o == OP_GE) {
        clove_buf_puts(b, " >= ");
        put_real(b, lo);
        clove_buf_puts(b, cast);
    } else {
        clove_buf_puts(b, " <= ");
        put_real(b, hi);
        clove_buf_puts(b, cast);
    }
    clove_buf_putc(b, ')');
    return true;
}

/* Writes `col op lit` in SQLite terms for a column of kind k. Returns false when it cannot be
 * written; clears *exact when what it writes keeps more rows than the comparison. */
static bool put_compare_sqlite(clove_buf_t *b, const char *col, clove_pushdown_col_kind_t k,
                               op_t o, const lit_t *l, bool *exact)
{
    switch (k) {
    case CLOVE_PUSHDOWN_COL_BOOL:
        if (l->k != LIT_BOOL) return false;
        put_ident(b, col);
        clove_buf_printf(b, " %s %" PRId64, op_sql[o], l->i);
        return true;
    case CLOVE_PUSHDOWN_COL_INT: return put_int_compare(b, CLOVE_PUSHDOWN_SQLITE, col, o, l);
    case CLOVE_PUSHDOWN_COL_UBIGINT:
        if (l->k != LIT_INT) return false;
        /* a BLOB holds a value above INT64_MAX: greater than any int64 literal */
        clove_buf_puts(b, "CASE WHEN typeof(");
        put_ident(b, col);
        clove_buf_puts(b, ") = 'blob' THEN ");
        clove_buf_puts(b, op_holds(o, 1) ? "1" : "0");
        clove_buf_puts(b, " ELSE ");
        put_ident(b, col);
        clove_buf_printf(b, " %s %" PRId64 " END", op_sql[o], l->i);
        return true;
    case CLOVE_PUSHDOWN_COL_FLOAT:
    case CLOVE_PUSHDOWN_COL_DOUBLE: {
        if (l->k != LIT_INT && l->k != LIT_DEC && l->k != LIT_DBL) return false;
        int64_t lim = k == CLOVE_PUSHDOWN_COL_FLOAT ? (INT64_C(1) << 24) : (INT64_C(1) << 53);
        if (l->k == LIT_INT && l->i <= lim && l->i >= -lim) {
            /* exact: a BLOB is -0.0 (equal to 0) or NaN (greater than every number) */
            clove_buf_puts(b, "CASE WHEN typeof(");
            put_ident(b, col);
            clove_buf_puts(b, ") <> 'blob' THEN ");
            put_ident(b, col);
            clove_buf_printf(b, " %s %" PRId64 " WHEN ", op_sql[o], l->i);
            put_ident(b, col);
            clove_buf_printf(b, " = X'8000000000000000' THEN %d ELSE %d END",
                             op_holds(o, l->i < 0 ? 1 : l->i > 0 ? -1 : 0) ? 1 : 0,
                             op_holds(o, 1) ? 1 : 0);
            return true;
        }
        return put_real_range(b, col, o, l, "", true, exact);
    }
    case CLOVE_PUSHDOWN_COL_TEXT:
        if (l->k != LIT_STR) return false;
        put_ident(b, col);
        clove_buf_printf(b, " %s ", op_sql[o]);
        put_string(b, l->s);
        return true;
    default:
        return false;
    }
}

/* ---- PostgreSQL typed literals ---- */

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return false;
    return true;
}

/* hh:mm:ss[.ffffff] */
static bool is_time_text(const char *s)
{
    size_t n = strlen(s);
    if (n < 8 || !all_digits(s, 2) || s[2] != ':' || !all_digits(s + 3, 2) || s[5] != ':' ||
        !all_digits(s + 6, 2))
        return false;
    if (n == 8) return true;
    return s[8] == '.' && n > 9 && n <= 15 && all_digits(s + 9, n - 9);
}

/* yyyy-mm-dd (years 0001..9999, no BC) */
static bool is_date_text(const char *s, size_t n)
{
    return n == 10 && all_digits(s, 4) && strncmp(s, "0000", 4) != 0 && s[4] == '-' &&
           all_digits(s + 5, 2) && s[7] == '-' && all_digits(s + 8, 2);
}

static bool is_uuid_text(const char *s)
{
    if (strlen(s) != 36) return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i])) return false;
    }
    return true;
}

/* The literal as DuckDB evaluates it for a column of kind k, in a text PostgreSQL reads as the
 * same value (new string), or NULL. Runs the cast on the query's connection, so session
 * settings (TimeZone) apply as they do to the query itself. */
static char *pg_typed_literal(tr_t *t, clove_pushdown_col_kind_t k, const lit_t *l)
{
    static const struct {
        clove_pushdown_col_kind_t k;
        const char *tid, *q;
    } casts[] = {
        {CLOVE_PUSHDOWN_COL_DATE, "DATE", "SELECT CAST(CAST($1::VARCHAR AS DATE) AS VARCHAR)"},
        {CLOVE_PUSHDOWN_COL_TIME, "TIME", "SELECT CAST(CAST($1::VARCHAR AS TIME) AS VARCHAR)"},
        {CLOVE_PUSHDOWN_COL_TIMESTAMP, "TIMESTAMP",
         "SELECT CAST(CAST($1::VARCHAR AS TIMESTAMP) AS VARCHAR)"},
        {CLOVE_PUSHDOWN_COL_TIMESTAMPTZ, "TIMESTAMP WITH TIME ZONE",
         "SELECT CAST(timezone('UTC', CAST($1::VARCHAR AS TIMESTAMPTZ)) AS VARCHAR)"},
        {CLOVE_PUSHDOWN_COL_UUID, "UUID", "SELECT CAST(CAST($1::VARCHAR AS UUID) AS VARCHAR)"},
    };
    size_t i = 0;
    while (i < sizeof casts / sizeof casts[0] && casts[i].k != k) i++;
    if (i == sizeof casts / sizeof casts[0]) return NULL;
    if (l->k != LIT_STR && !(l->k == LIT_TYPED && !strcmp(l->tid, casts[i].tid))) return NULL;
    char *v = NULL;
    clove_err_t e;
    if (run_parser(t->c->conn, casts[i].q, l->s, &v, &e) != 0 || !v) {
        free(v);
        return NULL; /* not a valid value: DuckDB fails the query itself */
    }
    bool ok;
    size_t n = strlen(v);
    bool inf = !strcmp(v, "infinity") || !strcmp(v, "-infinity");
    switch (k) {
    case CLOVE_PUSHDOWN_COL_DATE: ok = inf || is_date_text(v, n); break;
    case CLOVE_PUSHDOWN_COL_TIME: ok = is_time_text(v); break;
    case CLOVE_PUSHDOWN_COL_UUID: ok = is_uuid_text(v); break;
    default: ok = inf || (n >= 19 && is_date_text(v, 10) && v[10] == ' ' && is_time_text(v + 11));
    }
    if (!ok) {
        free(v);
        return NULL;
    }
    return v;
}

static const char *pg_type_name(clove_pushdown_col_kind_t k)
{
    switch (k) {
    case CLOVE_PUSHDOWN_COL_DATE: return "date";
    case CLOVE_PUSHDOWN_COL_TIME: return "time";
    case CLOVE_PUSHDOWN_COL_TIMESTAMP: return "timestamp";
    case CLOVE_PUSHDOWN_COL_TIMESTAMPTZ: return "timestamptz";
    default: return "uuid";
    }
}

/* Writes the PostgreSQL form of a literal for a column of kind k (what IN lists and
 * comparisons put on the right), or returns false. */
static bool put_pg_value(tr_t *t, clove_buf_t *b, const tcol_t *c, const lit_t *l)
{
    switch (c->kind) {
    case CLOVE_PUSHDOWN_COL_BOOL:
        if (l->k != LIT_BOOL) return false;
        clove_buf_puts(b, l->i ? "true" : "false");
        return true;
    case CLOVE_PUSHDOWN_COL_INT:
        if (l->k != LIT_INT) return false;
        clove_buf_printf(b, "%" PRId64, l->i);
        return true;
    case CLOVE_PUSHDOWN_COL_TEXT:
    case CLOVE_PUSHDOWN_COL_ENUM:
        if (l->k != LIT_STR) return false;
        clove_pushdown_pg_string(b, l->s);
        return true;
    case CLOVE_PUSHDOWN_COL_DATE:
    case CLOVE_PUSHDOWN_COL_TIME:
    case CLOVE_PUSHDOWN_COL_TIMESTAMP:
    case CLOVE_PUSHDOWN_COL_TIMESTAMPTZ:
    case CLOVE_PUSHDOWN_COL_UUID: {
        char *v = pg_typed_literal(t, c->kind, l);
        if (!v) return false;
        clove_buf_putc(b, '\'');
        clove_buf_puts(b, v);
        if (c->kind == CLOVE_PUSHDOWN_COL_TIMESTAMPTZ && strcmp(v, "infinity") != 0 &&
            strcmp(v, "-infinity") != 0)
            clove_buf_puts(b, "+00");
        clove_buf_printf(b, "'::%s", pg_type_name(c->kind));
        free(v);
        return true;
    }
    default:
        return false;
    }
}

/* The column as PostgreSQL compares it like DuckDB: text in byte order, enums by label. */
static void put_pg_column(clove_buf_t *b, const tcol_t *c)
{
    put_ident(b, c->src);
    if (c->kind == CLOVE_PUSHDOWN_COL_TEXT) clove_buf_puts(b, " COLLATE \"C\"");
    else if (c->kind == CLOVE_PUSHDOWN_COL_ENUM) clove_buf_puts(b, "::text");
}

/* Does DuckDB compare DECIMAL(cw,cs) with this literal exactly? It compares in the common
 * DECIMAL type (largest scale, most integer digits); past 38 digits it goes through DOUBLE. */
static bool decimal_exact(const tcol_t *c, const lit_t *l)
{
    int scale = c->scale > l->scale ? c->scale : l->scale;
    int ci = c->width - c->scale, li = l->width - l->scale;
    return scale + (ci > li ? ci : li) <= 38;
}

static bool put_compare_pg(tr_t *t, clove_buf_t *b, const tcol_t *c, op_t o, const lit_t *l,
                           bool *exact)
{
    switch (c->kind) {
    case CLOVE_PUSHDOWN_COL_INT:
        if (l->k == LIT_PARAM) {
            /* the value is bound later: written by the scan's where_sql expression */
            put_ident(b, c->src);
            clove_buf_printf(b, " %s %c%s%c", op_sql[o], PARAM_MARK, l->s, PARAM_MARK);
            return true;
        }
        return put_int_compare(b, CLOVE_PUSHDOWN_POSTGRES, c->src, o, l);
    case CLOVE_PUSHDOWN_COL_DECIMAL:
        if ((l->k != LIT_INT && l->k != LIT_DEC) || !decimal_exact(c, l)) return false;
        put_ident(b, c->src);
        clove_buf_printf(b, " %s ", op_sql[o]);
        put_decimal(b, l->i, l->k == LIT_DEC ? l->scale : 0);
        return true;
    case CLOVE_PUSHDOWN_COL_FLOAT:
    case CLOVE_PUSHDOWN_COL_DOUBLE: {
        bool f4 = c->kind == CLOVE_PUSHDOWN_COL_FLOAT;
        if (l->k != LIT_INT && l->k != LIT_DEC && l->k != LIT_DBL) return false;
        int64_t lim = f4 ? (INT64_C(1) << 24) : (INT64_C(1) << 53);
        if (l->k == LIT_INT && l->i <= lim && l->i >= -lim) {
            put_ident(b, c->src);
            clove_buf_printf(b, " %s %" PRId64 "::%s", op_sql[o], l->i, f4 ? "float4" : "float8");
            return true;
        }
        return put_real_range(b, c->src, o, l, "::float8", false, exact);
    }
    case CLOVE_PUSHDOWN_COL_UUID:
    case CLOVE_PUSHDOWN_COL_ENUM:
        if (o != OP_EQ && o != OP_NE) return false;
        /* fall through */
    case CLOVE_PUSHDOWN_COL_BOOL:
    case CLOVE_PUSHDOWN_COL_TEXT:
    case CLOVE_PUSHDOWN_COL_DATE:
    case CLOVE_PUSHDOWN_COL_TIME:
    case CLOVE_PUSHDOWN_COL_TIMESTAMP:
    case CLOVE_PUSHDOWN_COL_TIMESTAMPTZ: {
        clove_buf_t v;
        clove_buf_init(&v);
        bool ok = put_pg_value(t, &v, c, l) && !v.failed;
        if (ok) {
            put_pg_column(b, c);
            clove_buf_printf(b, " %s %s", op_sql[o], v.data);
        }
        clove_buf_dispose(&v);
        return ok;
    }
    default:
        return false;
    }
}

static char *tr_expr(tr_t *t, json_t *e, bool neg, int depth);

/* Takes the column of the comparison from either side. */
static char *tr_comparison(tr_t *t, json_t *e, op_t o)
{
    json_t *left = json_object_get(e, "left"), *right = json_object_get(e, "right");
    int slot, col = tr_column(t, left, &slot);
    json_t *other = right;
    if (col < 0) {
        col = tr_column(t, right, &slot);
        other = left;
        o = op_flip(o);
    }
    lit_t l;
    if (col < 0 || !parse_lit(other, &l)) return NULL;
    const tcol_t *c = slot_col(t, slot, col);
    clove_buf_t b;
    clove_buf_init(&b);
    bool exact = true, ok;
    if (slot_dialect(t, slot) == CLOVE_PUSHDOWN_POSTGRES)
        ok = put_compare_pg(t, &b, c, o, &l, &exact);
    else
        ok = put_compare_sqlite(&b, c->src, c->kind, o, &l, &exact);
    if (!ok || b.failed) {
        clove_buf_dispose(&b);
        return NULL;
    }
    t->slot = slot;
    t->exact &= exact;
    return clove_buf_steal(&b);
}

/* ---- the DuckDB dialect ---- */

/* Scalar functions whose value depends only on their arguments. */
static const char *const dk_functions[] = {
    "+", "-", "*", "/", "//", "%", "^", "**", "||", "~~", "!~~", "~~*", "!~~*", "~~~",
    "abs", "ceil", "ceiling", "floor", "round", "trunc", "sign", "mod",
    "lower", "upper", "lcase", "ucase", "length", "strlen", "char_length", "substr",
    "substring", "left", "right", "prefix", "suffix", "starts_with", "ends_with", "contains",
    "strpos", "instr", "position", "concat", "concat_ws", "trim", "ltrim", "rtrim", "replace",
    "split_part", "lpad", "rpad", "reverse", "regexp_matches", "regexp_full_match",
    "regexp_extract", "like_escape", "ilike_escape", "nullif", "ifnull", "coalesce", "least",
    "greatest", "year", "month", "day", "dayofmonth", "dayofweek", "dayofyear", "isodow",
    "isoyear", "week", "weekofyear", "yearweek", "quarter", "hour", "minute", "second",
    "date_part", "datepart", "date_trunc", "datetrunc", "make_date", "strftime", "epoch",
    "date_diff", "datediff", NULL};

static bool dk_function_ok(const char *name)
{
    for (size_t i = 0; dk_functions[i]; i++)
        if (clove_str_ieq(dk_functions[i], name)) return true;
    return false;
}

static bool dk_ok(tr_t *t, json_t *e, int *slot, int depth);

static bool dk_all(tr_t *t, json_t *arr, int *slot, int depth)
{
    if (!json_is_array(arr)) return false;
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (!dk_ok(t, json_array_get(arr, i), slot, depth + 1)) return false;
    return true;
}

/* May e go verbatim to a DuckDB-dialect target? Every column must be an EXPR column of one
 * binding (*slot, also t->slot when set). */
static bool dk_ok(tr_t *t, json_t *e, int *slot, int depth)
{
    if (depth > 200 || !json_is_object(e)) return false;
    const char *cls = str_field(e, "class");
    if (!strcmp(cls, "CONSTANT")) return true;
    if (!strcmp(cls, "COLUMN_REF")) {
        int col, s = resolve(t->bs, e, &col);
        if (s < 0 || (*slot >= 0 && s != *slot) || (t->slot >= 0 && s != t->slot)) return false;
        const clove_pushdown_target_t *tg = t->bs->v[s].t;
        if (tg->dialect != CLOVE_PUSHDOWN_DUCKDB || tg->cols[col].kind != CLOVE_PUSHDOWN_COL_EXPR)
            return false;
        *slot = s;
        return true;
    }
    if (!strcmp(cls, "COMPARISON"))
        return dk_ok(t, json_object_get(e, "left"), slot, depth + 1) &&
               dk_ok(t, json_object_get(e, "right"), slot, depth + 1);
    if (!strcmp(cls, "CONJUNCTION") || !strcmp(cls, "OPERATOR"))
        return dk_all(t, json_object_get(e, "children"), slot, depth);
    if (!strcmp(cls, "BETWEEN"))
        return dk_ok(t, json_object_get(e, "input"), slot, depth + 1) &&
               dk_ok(t, json_object_get(e, "lower"), slot, depth + 1) &&
               dk_ok(t, json_object_get(e, "upper"), slot, depth + 1);
    if (!strcmp(cls, "CAST") || !strcmp(cls, "COLLATE"))
        return dk_ok(t, json_object_get(e, "child"), slot, depth + 1);
    if (!strcmp(cls, "CASE")) {
        json_t *checks = json_object_get(e, "case_checks");
        if (!json_is_array(checks)) return false;
        for (size_t i = 0; i < json_array_size(checks); i++) {
            json_t *c = json_array_get(checks, i);
            if (!dk_ok(t, json_object_get(c, "when_expr"), slot, depth + 1) ||
                !dk_ok(t, json_object_get(c, "then_expr"), slot, depth + 1))
                return false;
        }
        return dk_ok(t, json_object_get(e, "else_expr"), slot, depth + 1);
    }
    if (!strcmp(cls, "FUNCTION")) {
        json_t *orders = json_object_get(json_object_get(e, "order_bys"), "orders");
        if (*str_field(e, "catalog") || *str_field(e, "schema") ||
            !json_is_null(json_object_get(e, "filter")) ||
            json_is_true(json_object_get(e, "distinct")) ||
            json_is_true(json_object_get(e, "export_state")) || json_array_size(orders) ||
            !dk_function_ok(str_field(e, "function_name")))
            return false;
        return dk_all(t, json_object_get(e, "children"), slot, depth);
    }
    return false;
}

static void dk_rename(tr_t *t, json_t *e, int depth)
{
    if (depth > 200) return;
    if (json_is_array(e)) {
        for (size_t i = 0; i < json_array_size(e); i++)
            dk_rename(t, json_array_get(e, i), depth + 1);
        return;
    }
    if (!json_is_object(e)) return;
    if (!strcmp(str_field(e, "class"), "COLUMN_REF")) {
        int col, s = resolve(t->bs, e, &col);
        if (s >= 0)
            json_object_set_new(e, "column_names",
                                json_pack("[s]", t->bs->v[s].t->cols[col].src));
        return;
    }
    const char *key;
    json_t *child;
    json_object_foreach(e, key, child) dk_rename(t, child, depth + 1);
}

static json_t *dk_node(const char *cls, const char *type, json_t *children)
{
    return json_pack("{s:s, s:s, s:s, s:o}", "class", cls, "type", type, "alias", "",
                     "children", children);
}

/* The binding of the first column e reads that belongs to a target, or -1. */
static int first_slot(tr_t *t, json_t *e, int depth)
{
    if (depth > 200) return -1;
    if (json_is_array(e)) {
        for (size_t i = 0; i < json_array_size(e); i++) {
            int s = first_slot(t, json_array_get(e, i), depth + 1);
            if (s >= 0) return s;
        }
        return -1;
    }
    if (!json_is_object(e)) return -1;
    if (!strcmp(str_field(e, "class"), "COLUMN_REF")) {
        int col;
        return resolve(t->bs, e, &col);
    }
    const char *key;
    json_t *child;
    json_object_foreach(e, key, child) {
        int s = first_slot(t, child, depth + 1);
        if (s >= 0) return s;
    }
    return -1;
}

/* e (NOT e when neg) as the JSON text of a DuckDB expression on source columns, or NULL.
 * NOT goes where the parser puts it, so the text reads back as the same tree. */
static char *dk_leaf(tr_t *t, json_t *e, bool neg)
{
    int slot = -1;
    if (!dk_ok(t, e, &slot, 0) || slot < 0) return NULL;
    json_t *x = json_deep_copy(e);
    if (!x) return NULL;
    dk_rename(t, x, 0);
    if (neg) {
        op_t o;
        const char *type = str_field(x, "type");
        if (!strcmp(str_field(x, "class"), "COMPARISON") && op_parse(type, &o)) {
            json_object_set_new(x, "type", json_string(op_names[op_negate(o)]));
        } else if (!strcmp(type, "COMPARE_IN") || !strcmp(type, "COMPARE_NOT_IN")) {
            json_object_set_new(x, "type", json_string(!strcmp(type, "COMPARE_IN")
                                                           ? "COMPARE_NOT_IN"
                                                           : "COMPARE_IN"));
        } else {
            x = dk_node("OPERATOR", "OPERATOR_NOT", json_pack("[o]", x));
            if (!x) return NULL;
        }
    }
    char *s = json_dumps(x, JSON_COMPACT);
    json_decref(x);
    if (s) t->slot = slot;
    return s;
}

/* ---- combining pieces ---- */

/* Joins pieces (all of binding t->slot) with AND / OR in the binding's dialect; NULL when
 * it cannot (out of memory). Takes ownership of the pieces. */
static char *join_pieces(tr_t *t, char **pieces, size_t n, bool is_and)
{
    char *r = NULL;
    if (n == 0 || t->slot < 0) goto done;
    if (slot_dialect(t, t->slot) != CLOVE_PUSHDOWN_DUCKDB) {
        clove_buf_t b;
        clove_buf_init(&b);
        for (size_t i = 0; i < n; i++)
            clove_buf_printf(&b, "%s(%s)", i ? (is_and ? " AND " : " OR ") : "", pieces[i]);
        if (b.failed) clove_buf_dispose(&b);
        else r = clove_buf_steal(&b);
        goto done;
    }
    if (n == 1) {
        r = pieces[0];
        pieces[0] = NULL;
        goto done;
    }
    /* a conjunction of the same kind among the pieces is flattened, as the parser does */
    const char *type = is_and ? "CONJUNCTION_AND" : "CONJUNCTION_OR";
    json_t *kids = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_loads(pieces[i], 0, NULL);
        if (!p) {
            json_decref(kids);
            goto done;
        }
        if (!strcmp(str_field(p, "class"), "CONJUNCTION") && is_type(p, type))
            json_array_extend(kids, json_object_get(p, "children"));
        else
            json_array_append(kids, p);
        json_decref(p);
    }
    json_t *node = dk_node("CONJUNCTION", type, kids);
    if (node) {
        r = json_dumps(node, JSON_COMPACT);
        json_decref(node);
    }
done:
    for (size_t i = 0; i < n; i++) free(pieces[i]);
    return r;
}

/* Joins the translations of `n` pieces with AND / OR. With `all`, every piece must
 * translate; otherwise untranslatable pieces are left out (only valid under AND). */
typedef char *(*piece_fn)(tr_t *t, void *ud, size_t i, bool neg, int depth);

static char *tr_join(tr_t *t, size_t n, piece_fn fn, void *ud, bool neg, bool is_and,
                     int depth)
{
    char **pieces = clove_xcalloc(n ? n : 1, sizeof *pieces);
    size_t got = 0;
    for (size_t i = 0; i < n; i++) {
        char *p = fn(t, ud, i, neg, depth);
        if (!p) {
            if (!is_and) {
                for (size_t k = 0; k < got; k++) free(pieces[k]);
                free(pieces);
                return NULL;
            }
            t->exact = false;
            continue;
        }
        pieces[got++] = p;
    }
    char *r = join_pieces(t, pieces, got, is_and);
    free(pieces);
    return r;
}

static char *piece_child(tr_t *t, void *ud, size_t i, bool neg, int depth)
{
    return tr_expr(t, json_array_get((json_t *)ud, i), neg, depth + 1);
}

typedef struct {
    json_t *col;
    json_t *list;       /* IN: children, [0] is the column */
    json_t *lower, *upper;
} in_ud_t;

/* IN item i (list index i + 1): col = item, or col <> item under negation. */
static char *piece_in(tr_t *t, void *ud, size_t i, bool neg, int depth)
{
    in_ud_t *u = ud;
    json_t *cmp = json_pack("{s:s, s:s, s:O, s:O}", "class", "COMPARISON", "type",
                            neg ? "COMPARE_NOTEQUAL" : "COMPARE_EQUAL", "left", u->col,
                            "right", json_array_get(u->list, i + 1));
    char *r = cmp ? tr_expr(t, cmp, false, depth + 1) : NULL;
    json_decref(cmp);
    return r;
}

/* BETWEEN piece 0: col >= lower, piece 1: col <= upper (negated: <, >). */
static char *piece_between(tr_t *t, void *ud, size_t i, bool neg, int depth)
{
    in_ud_t *u = ud;
    const char *type = i == 0 ? (neg ? "COMPARE_LESSTHAN" : "COMPARE_GREATERTHANOREQUALTO")
                              : (neg ? "COMPARE_GREATERTHAN" : "COMPARE_LESSTHANOREQUALTO");
    json_t *cmp = json_pack("{s:s, s:s, s:O, s:O}", "class", "COMPARISON", "type", type, "left",
                            u->col, "right", i == 0 ? u->lower : u->upper);
    char *r = cmp ? tr_expr(t, cmp, false, depth + 1) : NULL;
    json_decref(cmp);
    return r;
}

/* col IN (literals) as one IN list, for kinds compared natively. */
static char *tr_in_list(tr_t *t, json_t *kids, bool neg)
{
    int slot, col = tr_column(t, json_array_get(kids, 0), &slot);
    if (col < 0) return NULL;
    const tcol_t *c = slot_col(t, slot, col);
    bool pg = slot_dialect(t, slot) == CLOVE_PUSHDOWN_POSTGRES;
    clove_pushdown_col_kind_t k = c->kind;
    int want = k == CLOVE_PUSHDOWN_COL_INT ? (int)LIT_INT
               : k == CLOVE_PUSHDOWN_COL_BOOL ? (int)LIT_BOOL
               : k == CLOVE_PUSHDOWN_COL_TEXT || (pg && k == CLOVE_PUSHDOWN_COL_ENUM)
                   ? (int)LIT_STR
                   : -1;
    if (want < 0) return NULL;
    clove_buf_t b;
    clove_buf_init(&b);
    if (pg) put_pg_column(&b, c);
    else put_ident(&b, c->src);
    clove_buf_puts(&b, neg ? " NOT IN (" : " IN (");
    for (size_t i = 1; i < json_array_size(kids); i++) {
        lit_t l;
        if (!parse_lit(json_array_get(kids, i), &l) || (int)l.k != want) {
            clove_buf_dispose(&b);
            return NULL;
        }
        if (i > 1) clove_buf_puts(&b, ", ");
        if (pg) {
            if (!put_pg_value(t, &b, c, &l)) {
                clove_buf_dispose(&b);
                return NULL;
            }
        } else if (l.k == LIT_STR) {
            put_string(&b, l.s);
        } else {
            clove_buf_printf(&b, "%" PRId64, l.i);
        }
    }
    clove_buf_putc(&b, ')');
    if (b.failed) {
        clove_buf_dispose(&b);
        return NULL;
    }
    t->slot = slot;
    return clove_buf_steal(&b);
}

/* LIKE 'pattern' (no ESCAPE). SQLite: as GLOB; DuckDB's LIKE is case-sensitive, has no
 * default escape character and `_` matches one character, like GLOB's `?`. PostgreSQL: LIKE
 * with ESCAPE '' (no escape character), in byte order. */
static char *tr_like(tr_t *t, json_t *kids, bool neg)
{
    int slot, col = tr_column(t, json_array_get(kids, 0), &slot);
    lit_t l;
    if (col < 0 || json_array_size(kids) != 2 || !parse_lit(json_array_get(kids, 1), &l) ||
        l.k != LIT_STR)
        return NULL;
    const tcol_t *c = slot_col(t, slot, col);
    if (c->kind != CLOVE_PUSHDOWN_COL_TEXT) return NULL;
    clove_buf_t b;
    clove_buf_init(&b);
    if (slot_dialect(t, slot) == CLOVE_PUSHDOWN_POSTGRES) {
        put_pg_column(&b, c);
        clove_buf_puts(&b, neg ? " NOT LIKE " : " LIKE ");
        clove_pushdown_pg_string(&b, l.s);
        clove_buf_puts(&b, " ESCAPE ''");
    } else {
        clove_buf_t pat;
        clove_buf_init(&pat);
        for (const char *p = l.s; *p; p++) {
            switch (*p) {
            case '%': clove_buf_putc(&pat, '*'); break;
            case '_': clove_buf_putc(&pat, '?'); break;
            case '*': clove_buf_puts(&pat, "[*]"); break;
            case '?': clove_buf_puts(&pat, "[?]"); break;
            case '[': clove_buf_puts(&pat, "[[]"); break;
            default: clove_buf_putc(&pat, *p); break;
            }
        }
        clove_buf_putc(&b, '(');
        put_ident(&b, c->src);
        clove_buf_puts(&b, neg ? " NOT GLOB " : " GLOB ");
        put_string(&b, pat.data ? pat.data : "");
        /* GLOB stops at a NUL byte: such values go to DuckDB unfiltered */
        clove_buf_puts(&b, " OR instr(");
        put_ident(&b, c->src);
        clove_buf_puts(&b, ", char(0)) > 0)");
        clove_buf_dispose(&pat);
        t->exact = false;
    }
    if (b.failed) {
        clove_buf_dispose(&b);
        return NULL;
    }
    t->slot = slot;
    return clove_buf_steal(&b);
}

/* `col IS [NOT] NULL`, or a BOOLEAN column as the condition. */
static char *tr_column_test(tr_t *t, json_t *colref, const char *what)
{
    int slot, col = tr_column(t, colref, &slot);
    if (col < 0) return NULL;
    const tcol_t *c = slot_col(t, slot, col);
    bool pg = slot_dialect(t, slot) == CLOVE_PUSHDOWN_POSTGRES;
    clove_buf_t b;
    clove_buf_init(&b);
    put_ident(&b, c->src);
    if (!strcmp(what, "null")) {
        clove_buf_puts(&b, " IS NULL");
    } else if (!strcmp(what, "not null")) {
        clove_buf_puts(&b, " IS NOT NULL");
    } else {
        if (c->kind != CLOVE_PUSHDOWN_COL_BOOL) {
            clove_buf_dispose(&b);
            return NULL;
        }
        bool v = !strcmp(what, "true");
        clove_buf_puts(&b, pg ? (v ? " = true" : " = false") : (v ? " = 1" : " = 0"));
    }
    if (b.failed) {
        clove_buf_dispose(&b);
        return NULL;
    }
    t->slot = slot;
    return clove_buf_steal(&b);
}

/* Translates e (negated when neg) into a condition of the target's dialect keeping at least
 * the rows e (NOT e) keeps; NULL when it cannot. */
static char *tr_expr(tr_t *t, json_t *e, bool neg, int depth)
{
    if (depth > 200) return NULL;
    const char *cls = str_field(e, "class");
    const char *type = str_field(e, "type");
    json_t *kids = json_object_get(e, "children");
    op_t o;
    if (!strcmp(cls, "CONJUNCTION")) {
        bool is_and = !strcmp(type, "CONJUNCTION_AND");
        if (!is_and && strcmp(type, "CONJUNCTION_OR") != 0) return NULL;
        if (neg) is_and = !is_and; /* De Morgan */
        return tr_join(t, json_array_size(kids), piece_child, kids, neg, is_and, depth);
    }
    if (!strcmp(cls, "OPERATOR") && !strcmp(type, "OPERATOR_NOT") && json_array_size(kids) == 1)
        return tr_expr(t, json_array_get(kids, 0), !neg, depth + 1);
    int first = first_slot(t, e, 0);
    if (first >= 0 && slot_dialect(t, first) == CLOVE_PUSHDOWN_DUCKDB) return dk_leaf(t, e, neg);
    if (!strcmp(cls, "COMPARISON") && op_parse(type, &o))
        return tr_comparison(t, e, neg ? op_negate(o) : o);
    if (!strcmp(cls, "OPERATOR")) {
        bool is_null = !strcmp(type, "OPERATOR_IS_NULL");
        if ((is_null || !strcmp(type, "OPERATOR_IS_NOT_NULL")) && json_array_size(kids) == 1)
            return tr_column_test(t, json_array_get(kids, 0),
                                  is_null != neg ? "null" : "not null");
        bool in = !strcmp(type, "COMPARE_IN");
        if ((in || !strcmp(type, "COMPARE_NOT_IN")) && json_array_size(kids) >= 2) {
            bool n2 = in == neg; /* effective NOT IN */
            char *r = tr_in_list(t, kids, n2);
            if (r) return r;
            in_ud_t u = {.col = json_array_get(kids, 0), .list = kids};
            return tr_join(t, json_array_size(kids) - 1, piece_in, &u, n2, n2, depth);
        }
        return NULL;
    }
    if (!strcmp(cls, "BETWEEN")) {
        in_ud_t u = {.col = json_object_get(e, "input"), .lower = json_object_get(e, "lower"),
                     .upper = json_object_get(e, "upper")};
        /* AND of the bounds (one may be left out), or under NOT an OR of both */
        return tr_join(t, 2, piece_between, &u, neg, !neg, depth);
    }
    if (!strcmp(cls, "FUNCTION")) {
        const char *fn = str_field(e, "function_name");
        if (*str_field(e, "catalog") || *str_field(e, "schema") ||
            !json_is_null(json_object_get(e, "filter")) ||
            json_is_true(json_object_get(e, "distinct")))
            return NULL;
        if (!strcmp(fn, "~~")) return tr_like(t, kids, neg);
        if (!strcmp(fn, "!~~")) return tr_like(t, kids, !neg);
        return NULL;
    }
    if (!strcmp(cls, "COLUMN_REF")) return tr_column_test(t, e, neg ? "false" : "true");
    return NULL;
}

/* ---- per SELECT ---------------------------------------------------------------------------- */

static void flatten_and(json_t *e, json_t *out, int depth)
{
    if (depth < 200 && !strcmp(str_field(e, "class"), "CONJUNCTION") &&
        is_type(e, "CONJUNCTION_AND")) {
        json_t *kids = json_object_get(e, "children");
        for (size_t i = 0; i < json_array_size(kids); i++)
            flatten_and(json_array_get(kids, i), out, depth + 1);
    } else if (e && !json_is_null(e)) {
        json_array_append(out, e);
    }
}

/* May a conjunct of `origin` (the WHERE, or the ON of join j) filter binding b's input? */
static bool may_push(json_t *from, json_t *j, const binding_t *b)
{
    if (!j) return reach(from, b->ref, 0) == 1;
    if (!regular_join(j)) return false;
    const char *jt = str_field(j, "join_type");
    bool l = reach(json_object_get(j, "left"), b->ref, 0) == 1;
    bool r = reach(json_object_get(j, "right"), b->ref, 0) == 1;
    if (!strcmp(jt, "INNER")) return l || r;
    if (!strcmp(jt, "LEFT")) return r;
    if (!strcmp(jt, "RIGHT")) return l;
    return false;
}

/* Pushes the conjuncts of cond (WHERE when j is NULL, else ON of join j). Returns true when
 * every conjunct went, exactly, into one binding (for the limit). */
static bool push_conjuncts(ctx_t *c, bindings_t *bs, json_t *from, json_t *j, json_t *cond)
{
    json_t *list = json_array();
    bool all_exact = true;
    int only = -1;
    flatten_and(cond, list, 0);
    for (size_t i = 0; i < json_array_size(list); i++) {
        tr_t t = {.c = c, .bs = bs, .slot = -1, .exact = true};
        char *sql = tr_expr(&t, json_array_get(list, i), false, 0);
        if (!sql || t.slot < 0 || !may_push(from, j, &bs->v[t.slot])) {
            free(sql);
            all_exact = false;
            continue;
        }
        if (!t.exact || (only >= 0 && only != t.slot)) all_exact = false;
        only = t.slot;
        binding_t *b = &bs->v[t.slot];
        if (b->t->dialect == CLOVE_PUSHDOWN_DUCKDB)
            clove_buf_printf(&b->cond, "%s%s", b->n_cond++ ? "," : "", sql);
        else
            clove_buf_printf(&b->cond, "%s(%s)", b->n_cond++ ? " AND " : "", sql);
        free(sql);
    }
    json_decref(list);
    return all_exact;
}

static void push_joins(ctx_t *c, bindings_t *bs, json_t *from, json_t *ref, int depth)
{
    if (depth > MAX_TREE_DEPTH || !is_type(ref, "JOIN")) return;
    json_t *cond = json_object_get(ref, "condition");
    if (cond && !json_is_null(cond)) push_conjuncts(c, bs, from, ref, cond);
    push_joins(c, bs, from, json_object_get(ref, "left"), depth + 1);
    push_joins(c, bs, from, json_object_get(ref, "right"), depth + 1);
}

/* A select-list expression that maps one input row to one output row: no functions (which
 * may be aggregates, set-returning or windows), subqueries or windows. */
static bool row_wise(json_t *e, int depth)
{
    if (depth > 100 || !json_is_object(e)) return false;
    const char *cls = str_field(e, "class");
    if (!strcmp(cls, "COLUMN_REF") || !strcmp(cls, "CONSTANT")) return true;
    if (!strcmp(cls, "STAR"))
        return json_is_null(json_object_get(e, "expr")) &&
               !json_is_true(json_object_get(e, "columns")) &&
               json_array_size(json_object_get(e, "replace_list")) == 0;
    if (!strcmp(cls, "CAST")) return row_wise(json_object_get(e, "child"), depth + 1);
    if (!strcmp(cls, "COMPARISON"))
        return row_wise(json_object_get(e, "left"), depth + 1) &&
               row_wise(json_object_get(e, "right"), depth + 1);
    if (!strcmp(cls, "CONJUNCTION") || !strcmp(cls, "OPERATOR")) {
        json_t *kids = json_object_get(e, "children");
        for (size_t i = 0; i < json_array_size(kids); i++)
            if (!row_wise(json_array_get(kids, i), depth + 1)) return false;
        return true;
    }
    return false;
}

/* LIMIT n [OFFSET m] of a plain SELECT over one binding: the rows SQLite must return, or -1. */
static int64_t plain_limit(json_t *node)
{
    json_t *mods = json_object_get(node, "modifiers");
    json_t *lm = json_array_get(mods, 0);
    if (json_array_size(mods) != 1 || !is_type(lm, "LIMIT_MODIFIER")) return -1;
    if (json_array_size(json_object_get(node, "group_expressions")) ||
        json_array_size(json_object_get(node, "group_sets")) ||
        !json_is_null(json_object_get(node, "having")) ||
        !json_is_null(json_object_get(node, "qualify")) ||
        !json_is_null(json_object_get(node, "sample")) ||
        strcmp(str_field(node, "aggregate_handling"), "STANDARD_HANDLING") != 0)
        return -1;
    json_t *list = json_object_get(node, "select_list");
    for (size_t i = 0; i < json_array_size(list); i++)
        if (!row_wise(json_array_get(list, i), 0)) return -1;
    lit_t lim, off = {.k = LIT_INT, .i = 0};
    json_t *oe = json_object_get(lm, "offset");
    if (!parse_lit(json_object_get(lm, "limit"), &lim) || lim.k != LIT_INT || lim.i < 0)
        return -1;
    if (oe && !json_is_null(oe) && (!parse_lit(oe, &off) || off.k != LIT_INT || off.i < 0))
        return -1;
    if (lim.i > INT64_MAX - off.i) return -1;
    return lim.i + off.i;
}

static json_t *constant(const char *alias, json_t *type_id, json_t *value)
{
    return json_pack("{s:s, s:s, s:s, s:{s:{s:o, s:n}, s:b, s:o}}", "class", "CONSTANT", "type",
                     "VALUE_CONSTANT", "alias", alias, "value", "type", "id", type_id,
                     "type_info", "is_null", 0, "value", value);
}

/* The DuckDB-dialect condition of b as SQL text (new string), or NULL when it does not read
 * back as exactly its tree. */
static char *duckdb_condition(ctx_t *c, binding_t *b)
{
    json_t *root = NULL, *check = NULL, *cond = NULL;
    char *json = NULL, *text = NULL, *out = NULL;
    clove_err_t err;
    char *list = clove_xasprintf("[%s]", b->cond.data ? b->cond.data : "");
    json_t *kids = json_loads(list, 0, NULL);
    free(list);
    if (!kids || json_array_size(kids) == 0) goto done;
    if (json_array_size(kids) == 1) {
        cond = json_incref(json_array_get(kids, 0));
    } else {
        json_t *flat = json_array();
        for (size_t i = 0; i < json_array_size(kids); i++) {
            json_t *k = json_array_get(kids, i);
            if (!strcmp(str_field(k, "class"), "CONJUNCTION") && is_type(k, "CONJUNCTION_AND"))
                json_array_extend(flat, json_object_get(k, "children"));
            else
                json_array_append(flat, k);
        }
        cond = json_pack("{s:s, s:s, s:s, s:o}", "class", "CONJUNCTION", "type",
                         "CONJUNCTION_AND", "alias", "", "children", flat);
    }
    /* a SELECT of the condition, deserialised by DuckDB and parsed back */
    if (parse_sql(c->conn, "SELECT 1", &root, &err) != 0 || !root || !cond) goto done;
    json_t *node = json_object_get(json_array_get(json_object_get(root, "statements"), 0), "node");
    json_object_set_new(node, "select_list", json_pack("[O]", cond));
    if (!(json = json_dumps(root, JSON_COMPACT))) goto done;
    if (run_parser(c->conn, DESERIALIZE_SQL, json, &text, &err) != 0 ||
        strncmp(text, "SELECT ", 7) != 0)
        goto done;
    if (parse_sql(c->conn, text, &check, &err) != 0 || !check) goto done;
    json_t *got = json_array_get(
        json_object_get(json_object_get(json_array_get(json_object_get(check, "statements"), 0),
                                        "node"),
                        "select_list"),
        0);
    if (!json_equal(got, cond)) {
        clove_debug(COMP, "not pushing a condition into \"%s\": it does not read back the same",
                    b->t->name);
        goto done;
    }
    out = clove_xstrdup(text + 7);
done:
    free(text);
    free(json);
    json_decref(check);
    json_decref(root);
    json_decref(cond);
    json_decref(kids);
    return out;
}

/* The condition pushed into b's scan (new string), or NULL. */
static char *binding_filter(ctx_t *c, binding_t *b)
{
    if (b->n_cond == 0 || b->cond.failed || !b->cond.data) return NULL;
    if (b->t->dialect == CLOVE_PUSHDOWN_DUCKDB) return duckdb_condition(c, b);
    return clove_xstrdup(b->cond.data);
}

/* A condition holding parameters as the DuckDB expression that builds its text when the
 * parameters are bound:
 *   CASE WHEN TRY_CAST($n AS BIGINT) IS NULL OR ... THEN 'true'
 *        ELSE 'text' || CAST(TRY_CAST($n AS BIGINT) AS VARCHAR) || 'text' ... END
 * An integer prints as digits only, so nothing of the value can change the condition's
 * structure. The value is the one DuckDB compares when the parameter is typed as the column;
 * a value that is not an integer (NULL, 2.5 as DOUBLE, out of range) matches no row of an
 * integer column, or is the rounded one DuckDB compares, so the pushed condition keeps every
 * row the query keeps; one that cannot be cast sends no condition at all. Returns the
 * expression's tree (new reference) named `alias`, or NULL. */
static json_t *param_filter(ctx_t *c, const char *filter, const char *alias)
{
    clove_buf_t q, guard;
    clove_buf_init(&q);
    clove_buf_init(&guard);
    const char *p = filter;
    bool first = true;
    while (*p) {
        const char *m = strchr(p, PARAM_MARK);
        size_t n = m ? (size_t)(m - p) : strlen(p);
        if (n) {
            char *part = clove_xstrndup(p, n);
            if (!first) clove_buf_puts(&q, " || ");
            put_string(&q, part);
            free(part);
            first = false;
        }
        if (!m) break;
        const char *end = strchr(m + 1, PARAM_MARK);
        if (!end) {
            clove_buf_dispose(&q);
            clove_buf_dispose(&guard);
            return NULL;
        }
        int idl = (int)(end - m - 1);
        if (!first) clove_buf_puts(&q, " || ");
        clove_buf_printf(&q, "CAST(TRY_CAST($%.*s AS BIGINT) AS VARCHAR)", idl, m + 1);
        clove_buf_printf(&guard, "%sTRY_CAST($%.*s AS BIGINT) IS NULL", guard.len ? " OR " : "",
                         idl, m + 1);
        first = false;
        p = end + 1;
    }
    char *sql = clove_xasprintf("SELECT CASE WHEN %s THEN 'true' ELSE %s END",
                                guard.data ? guard.data : "false", q.data ? q.data : "''");
    json_t *root = NULL, *e = NULL;
    clove_err_t err;
    if (!q.failed && !guard.failed && parse_sql(c->conn, sql, &root, &err) == 0 && root) {
        e = json_array_get(json_object_get(json_object_get(json_array_get(
                                               json_object_get(root, "statements"), 0),
                                           "node"),
                           "select_list"),
                           0);
        if (e) {
            json_incref(e);
            json_object_set_new(e, "alias", json_string(alias));
        }
    }
    free(sql);
    json_decref(root);
    clove_buf_dispose(&q);
    clove_buf_dispose(&guard);
    return e;
}

/* Replaces b's BASE_TABLE node, in place, by a SUBQUERY of the target's view query. */
static void replace_ref(ctx_t *c, binding_t *b, const char *filter, int64_t limit)
{
    json_t *node = json_deep_copy(b->t->view_node);
    json_t *args = json_object_get(json_object_get(json_object_get(node, "from_table"),
                                                   "function"),
                                   "children");
    if (filter && strchr(filter, PARAM_MARK)) {
        json_t *e = param_filter(c, filter, b->t->filter_param);
        if (!e) {
            json_decref(node);
            c->bail = true;
            return;
        }
        json_array_append_new(args, e);
    } else if (filter) {
        json_array_append_new(args, constant(b->t->filter_param, json_string("VARCHAR"),
                                             json_string(filter)));
    }
    if (limit >= 0 && b->t->limit_param)
        /* typed as DuckDB's parser types the literal, so the text reads back the same */
        json_array_append_new(args, constant(b->t->limit_param,
                                             json_string(limit <= INT32_MAX ? "INTEGER"
                                                                            : "BIGINT"),
                                             json_integer(limit)));
    json_t *cna = b->col_alias ? json_incref(b->col_alias) : json_array();
    json_t *sub = json_pack("{s:s, s:s, s:n, s:{s:o, s:[]}, s:o}", "type", "SUBQUERY", "alias",
                            b->name, "sample", "subquery", "node", node, "named_param_map",
                            "column_name_alias", cna);
    if (!sub) {
        c->bail = true;
        return;
    }
    json_object_clear(b->ref);
    json_object_update(b->ref, sub);
    json_decref(sub);
    c->replaced++;
}

static void handle_select(ctx_t *c, json_t *node)
{
    json_t *from = json_object_get(node, "from_table");
    bindings_t bs = {0};
    collect(c, from, &bs, 0);
    bool any = false;
    for (size_t i = 0; i < bs.n; i++) any |= bs.v[i].t != NULL;
    if (!any) goto done;

    json_t *where = json_object_get(node, "where_clause");
    bool exact = push_conjuncts(c, &bs, from, NULL, where);
    push_joins(c, &bs, from, from, 0);

    int64_t limit = -1;
    if (bs.n == 1 && bs.v[0].ref == from && exact && bs.v[0].t->limit_param)
        limit = plain_limit(node);
    for (size_t i = 0; i < bs.n; i++) {
        binding_t *b = &bs.v[i];
        if (!b->t) continue;
        char *filter = binding_filter(c, b);
        /* the limit is exact only with every pushed conjunct in place */
        int64_t lim = i == 0 && (b->n_cond == 0 || filter) ? limit : -1;
        if (filter || lim >= 0) replace_ref(c, b, filter, lim);
        free(filter);
    }
done:
    bindings_dispose(&bs);
}

static void walk(ctx_t *c, json_t *v, int depth);

static void walk_object(ctx_t *c, json_t *obj, int depth)
{
    size_t pushed = 0;
    /* CTE i sees CTEs 0..i-1; the body sees all of them (as the sandbox reads them) */
    json_t *ctes = json_object_get(json_object_get(obj, "cte_map"), "map");
    for (size_t i = 0; i < json_array_size(ctes); i++) {
        json_t *entry = json_array_get(ctes, i);
        walk(c, json_object_get(entry, "value"), depth + 1);
        const char *name = json_string_value(json_object_get(entry, "key"));
        if (name) {
            scope_push(c, name);
            pushed++;
        }
    }
    if (is_type(obj, "RECURSIVE_CTE_NODE")) {
        const char *name = json_string_value(json_object_get(obj, "cte_name"));
        if (name) {
            scope_push(c, name);
            pushed++;
        }
    }
    if (!strcmp(str_field(obj, "class"), "COLUMN_REF") &&
        json_array_size(json_object_get(obj, "column_names")) >= 3)
        c->bail = true; /* catalog.schema.table.column no longer names a replaced table */
    if (is_type(obj, "SELECT_NODE")) handle_select(c, obj);
    const char *key;
    json_t *child;
    json_object_foreach(obj, key, child) {
        if (strcmp(key, "cte_map") != 0) walk(c, child, depth + 1);
    }
    c->n_scope -= pushed;
}

static void walk(ctx_t *c, json_t *v, int depth)
{
    if (depth > MAX_TREE_DEPTH) {
        c->bail = true;
        return;
    }
    if (json_is_object(v)) {
        walk_object(c, v, depth);
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) walk(c, json_array_get(v, i), depth + 1);
    }
}

/* ---- public -------------------------------------------------------------------------------- */

/* A cheap test before parsing: can the text name any target at all? */
static bool mentions_target(const char *sql, clove_pushdown_target_t *const *targets, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!targets[i]) continue;
        size_t len = strlen(targets[i]->name);
        for (const char *p = sql; len && *p; p++)
            if (strncasecmp(p, targets[i]->name, len) == 0) return true;
    }
    return false;
}

int clove_pushdown_rewrite(duckdb_connection conn, const char *sql,
                           clove_pushdown_target_t *const *targets, size_t n, char **out,
                           clove_err_t *err)
{
    json_t *root = NULL, *check = NULL;
    char *json = NULL, *text = NULL;
    ctx_t c = {.conn = conn, .targets = targets, .n_targets = n};
    int rc = 0;
    if (!out) return clove_err_set(err, CLOVE_EINVAL, "pushdown: no output given");
    *out = NULL;
    if (!conn || !sql || (n && !targets))
        return clove_err_set(err, CLOVE_EINVAL, "pushdown: missing arguments");
    if (n == 0 || !mentions_target(sql, targets, n)) return 0;

    if ((rc = parse_sql(conn, sql, &root, err)) != 0 || !root) goto done;
    walk(&c, json_array_get(json_object_get(root, "statements"), 0), 0);
    if (c.bail || c.replaced == 0) goto done;

    json = json_dumps(root, JSON_COMPACT);
    if (!json) {
        rc = clove_err_set(err, CLOVE_ENOMEM, "out of memory writing a parse tree");
        goto done;
    }
    if ((rc = run_parser(conn, DESERIALIZE_SQL, json, &text, err)) != 0) goto done;
    /* the text must mean exactly the rewritten tree */
    if ((rc = parse_sql(conn, text, &check, err)) != 0) goto done;
    if (!check || !json_equal(check, root)) {
        clove_debug(COMP, "not pushing filters: the rewritten query does not read back the "
                    "same");
        goto done;
    }
    *out = text;
    text = NULL;
done:
    free(c.scope);
    free(text);
    free(json);
    json_decref(check);
    json_decref(root);
    return rc;
}

/* ---- whole-query pushdown (PostgreSQL) ----------------------------------------------------- */

/* A query over tables of one PostgreSQL database, translated construct by construct; any
 * construct without an exact PostgreSQL equivalent makes the translation fail (w->fail) and
 * the caller falls back to per-table scans. Values carry a kind (the column kinds of
 * pushdown.h; aggregates get the kind of their result) so comparisons only pair what compares
 * the same in both engines. */

typedef struct {
    ctx_t *c;
    bindings_t *bs;
    tr_t tr;            /* for the literal writers */
    bool agg_ok;        /* aggregates may appear (select list, HAVING, ORDER BY) */
    bool fail;
    long max_param;     /* the highest $n sent to PostgreSQL (as int8), 0: none */
} wq_t;

typedef struct {
    char *sql;
    clove_pushdown_col_kind_t kind;
    int width, scale;   /* DECIMAL */
    int slot, col;      /* a bare column: its binding and column, else -1 */
} wq_val_t;

static bool wq_comparable(clove_pushdown_col_kind_t k)
{
    switch (k) {
    case CLOVE_PUSHDOWN_COL_BOOL:
    case CLOVE_PUSHDOWN_COL_INT:
    case CLOVE_PUSHDOWN_COL_FLOAT:
    case CLOVE_PUSHDOWN_COL_DOUBLE:
    case CLOVE_PUSHDOWN_COL_TEXT:
    case CLOVE_PUSHDOWN_COL_DECIMAL:
    case CLOVE_PUSHDOWN_COL_DATE:
    case CLOVE_PUSHDOWN_COL_TIME:
    case CLOVE_PUSHDOWN_COL_TIMESTAMP:
    case CLOVE_PUSHDOWN_COL_TIMESTAMPTZ:
    case CLOVE_PUSHDOWN_COL_UUID:
    case CLOVE_PUSHDOWN_COL_ENUM: return true;
    default: return false;
    }
}

static void wq_put_binding(clove_buf_t *b, const binding_t *bd)
{
    put_ident(b, bd->name);
}

/* A column as a value: "binding"."col" (text COLLATE "C", enums as their label). */
static bool wq_column(wq_t *w, json_t *e, wq_val_t *v, bool any_kind)
{
    int col, slot = resolve(w->bs, e, &col);
    if (slot < 0) return false;
    const tcol_t *tc = &w->bs->v[slot].t->cols[col];
    if (tc->kind == CLOVE_PUSHDOWN_COL_NONE || (!any_kind && !wq_comparable(tc->kind)))
        return false;
    clove_buf_t b;
    clove_buf_init(&b);
    if (tc->kind == CLOVE_PUSHDOWN_COL_ENUM) clove_buf_putc(&b, '(');
    wq_put_binding(&b, &w->bs->v[slot]);
    clove_buf_putc(&b, '.');
    put_ident(&b, tc->src);
    if (tc->kind == CLOVE_PUSHDOWN_COL_TEXT) clove_buf_puts(&b, " COLLATE \"C\"");
    else if (tc->kind == CLOVE_PUSHDOWN_COL_ENUM) clove_buf_puts(&b, ")::text");
    if (b.failed) {
        clove_buf_dispose(&b);
        return false;
    }
    v->sql = clove_buf_steal(&b);
    v->kind = tc->kind;
    v->width = tc->width;
    v->scale = tc->scale;
    v->slot = slot;
    v->col = col;
    return true;
}

static bool wq_plain_function(json_t *e)
{
    json_t *orders = json_object_get(json_object_get(e, "order_bys"), "orders");
    return !*str_field(e, "catalog") && !*str_field(e, "schema") &&
           json_is_null(json_object_get(e, "filter")) && json_array_size(orders) == 0 &&
           !json_is_true(json_object_get(e, "export_state"));
}

/* An aggregate as a value. */
static bool wq_aggregate(wq_t *w, json_t *e, wq_val_t *v)
{
    if (!w->agg_ok || !wq_plain_function(e)) return false;
    const char *fn = str_field(e, "function_name");
    json_t *kids = json_object_get(e, "children");
    bool distinct = json_is_true(json_object_get(e, "distinct"));
    if (!strcmp(fn, "count_star")) {
        if (json_array_size(kids) != 0 || distinct) return false;
        v->sql = clove_xstrdup("count(*)");
        v->kind = CLOVE_PUSHDOWN_COL_INT;
        v->slot = v->col = -1;
        return true;
    }
    if (json_array_size(kids) != 1) return false;
    wq_val_t a = {0};
    /* aggregates do not nest */
    w->agg_ok = false;
    bool ok = wq_column(w, json_array_get(kids, 0), &a, !strcmp(fn, "count") && !distinct);
    w->agg_ok = true;
    if (!ok) return false;
    clove_buf_t b;
    clove_buf_init(&b);
    v->slot = v->col = -1;
    if (!strcmp(fn, "count")) {
        if (distinct && (a.kind == CLOVE_PUSHDOWN_COL_FLOAT || a.kind == CLOVE_PUSHDOWN_COL_DOUBLE))
            goto no; /* -0 and 0 are one value to both, but which one counts is not fixed */
        clove_buf_printf(&b, "count(%s%s)", distinct ? "DISTINCT " : "", a.sql);
        v->kind = CLOVE_PUSHDOWN_COL_INT;
    } else if (!strcmp(fn, "sum") && !distinct &&
               (a.kind == CLOVE_PUSHDOWN_COL_INT || a.kind == CLOVE_PUSHDOWN_COL_DECIMAL)) {
        clove_buf_printf(&b, "sum(%s)", a.sql);
        v->kind = a.kind;
        v->width = 38;
        v->scale = a.scale;
    } else if ((!strcmp(fn, "min") || !strcmp(fn, "max")) && !distinct &&
               a.kind != CLOVE_PUSHDOWN_COL_BOOL && a.kind != CLOVE_PUSHDOWN_COL_FLOAT &&
               a.kind != CLOVE_PUSHDOWN_COL_DOUBLE && a.kind != CLOVE_PUSHDOWN_COL_UUID &&
               a.kind != CLOVE_PUSHDOWN_COL_ENUM) {
        clove_buf_printf(&b, "%s(%s)", fn, a.sql);
        v->kind = a.kind;
        v->width = a.width;
        v->scale = a.scale;
    } else {
        goto no;
    }
    free(a.sql);
    if (b.failed) {
        clove_buf_dispose(&b);
        return false;
    }
    v->sql = clove_buf_steal(&b);
    return true;
no:
    free(a.sql);
    clove_buf_dispose(&b);
    return false;
}

/* A column or an aggregate. */
static bool wq_operand(wq_t *w, json_t *e, wq_val_t *v)
{
    memset(v, 0, sizeof *v);
    v->slot = v->col = -1;
    const char *cls = str_field(e, "class");
    if (!strcmp(cls, "COLUMN_REF")) return wq_column(w, e, v, false);
    if (!strcmp(cls, "FUNCTION")) return wq_aggregate(w, e, v);
    return false;
}

/* Writes literal e as a value compared with v, exactly, or returns false. */
static bool wq_literal_for(wq_t *w, const wq_val_t *v, json_t *e, clove_buf_t *b)
{
    lit_t l;
    if (!parse_lit(e, &l)) return false;
    switch (v->kind) {
    case CLOVE_PUSHDOWN_COL_INT:
        if (l.k == LIT_INT) {
            clove_buf_printf(b, "%" PRId64, l.i);
        } else if (l.k == LIT_DEC) {
            put_decimal(b, l.i, l.scale);
        } else if (l.k == LIT_PARAM) {
            /* bound at execution as an int8 (postgres.h, direct queries) */
            long id = strtol(l.s, NULL, 10);
            if (id < 1 || id > 64) return false;
            clove_buf_printf(b, "$%ld::int8", id);
            if (id > w->max_param) w->max_param = id;
        } else {
            return false;
        }
        return true;
    case CLOVE_PUSHDOWN_COL_DECIMAL: {
        tcol_t tc = {.kind = v->kind, .width = v->width, .scale = v->scale};
        if ((l.k != LIT_INT && l.k != LIT_DEC) || !decimal_exact(&tc, &l)) return false;
        put_decimal(b, l.i, l.k == LIT_DEC ? l.scale : 0);
        return true;
    }
    case CLOVE_PUSHDOWN_COL_FLOAT:
    case CLOVE_PUSHDOWN_COL_DOUBLE: {
        bool f4 = v->kind == CLOVE_PUSHDOWN_COL_FLOAT;
        int64_t lim = f4 ? (INT64_C(1) << 24) : (INT64_C(1) << 53);
        if (l.k != LIT_INT || l.i > lim || l.i < -lim) return false;
        clove_buf_printf(b, "%" PRId64 "::%s", l.i, f4 ? "float4" : "float8");
        return true;
    }
    default: {
        tcol_t tc = {.kind = v->kind};
        return put_pg_value(&w->tr, b, &tc, &l);
    }
    }
}

static bool wq_same_kind(const wq_val_t *a, const wq_val_t *b)
{
    bool ad = a->kind == CLOVE_PUSHDOWN_COL_DECIMAL || a->kind == CLOVE_PUSHDOWN_COL_INT;
    bool bd = b->kind == CLOVE_PUSHDOWN_COL_DECIMAL || b->kind == CLOVE_PUSHDOWN_COL_INT;
    if (ad && bd) {
        /* integers and decimals compare exactly while the common DECIMAL fits 38 digits */
        if (a->kind == CLOVE_PUSHDOWN_COL_INT && b->kind == CLOVE_PUSHDOWN_COL_INT) return true;
        tcol_t x = {.width = a->kind == CLOVE_PUSHDOWN_COL_INT ? 19 : a->width,
                    .scale = a->kind == CLOVE_PUSHDOWN_COL_INT ? 0 : a->scale};
        lit_t y = {.width = b->kind == CLOVE_PUSHDOWN_COL_INT ? 19 : b->width,
                   .scale = b->kind == CLOVE_PUSHDOWN_COL_INT ? 0 : b->scale};
        return decimal_exact(&x, &y);
    }
    return a->kind == b->kind;
}

static char *wq_bool(wq_t *w, json_t *e, int depth);

static char *wq_comparison(wq_t *w, json_t *e, int depth)
{
    (void)depth;
    const char *type = str_field(e, "type");
    op_t o = OP_EQ;
    bool distinct = !strcmp(type, "COMPARE_DISTINCT_FROM"),
         not_distinct = !strcmp(type, "COMPARE_NOT_DISTINCT_FROM");
    if (!distinct && !not_distinct && !op_parse(type, &o)) return NULL;
    json_t *l = json_object_get(e, "left"), *r = json_object_get(e, "right");
    wq_val_t a = {0}, b = {0};
    clove_buf_t out;
    clove_buf_init(&out);
    const char *opsql = distinct ? "IS DISTINCT FROM"
                        : not_distinct ? "IS NOT DISTINCT FROM" : op_sql[o];
    bool ok = false;
    if (wq_operand(w, l, &a)) {
        if (wq_operand(w, r, &b)) {
            ok = wq_same_kind(&a, &b);
            if (ok) clove_buf_printf(&out, "%s %s %s", a.sql, opsql, b.sql);
        } else {
            clove_buf_printf(&out, "%s %s ", a.sql, opsql);
            ok = wq_literal_for(w, &a, r, &out);
        }
    } else if (wq_operand(w, r, &b)) {
        clove_buf_t lit;
        clove_buf_init(&lit);
        ok = wq_literal_for(w, &b, l, &lit) && !lit.failed;
        if (ok) clove_buf_printf(&out, "%s %s %s", lit.data, opsql, b.sql);
        clove_buf_dispose(&lit);
    }
    /* uuids and enums compare by equality only (their order differs) */
    clove_pushdown_col_kind_t k = a.sql ? a.kind : b.kind;
    if (ok && (k == CLOVE_PUSHDOWN_COL_UUID || k == CLOVE_PUSHDOWN_COL_ENUM) && !distinct &&
        !not_distinct && o != OP_EQ && o != OP_NE)
        ok = false;
    free(a.sql);
    free(b.sql);
    if (!ok || out.failed) {
        clove_buf_dispose(&out);
        return NULL;
    }
    return clove_buf_steal(&out);
}

static char *wq_bool(wq_t *w, json_t *e, int depth)
{
    if (depth > 200 || !json_is_object(e)) return NULL;
    const char *cls = str_field(e, "class");
    const char *type = str_field(e, "type");
    json_t *kids = json_object_get(e, "children");
    clove_buf_t b;
    clove_buf_init(&b);
    if (!strcmp(cls, "CONJUNCTION")) {
        bool is_and = !strcmp(type, "CONJUNCTION_AND");
        if (!is_and && strcmp(type, "CONJUNCTION_OR") != 0) goto no;
        for (size_t i = 0; i < json_array_size(kids); i++) {
            char *k = wq_bool(w, json_array_get(kids, i), depth + 1);
            if (!k) goto no;
            clove_buf_printf(&b, "%s(%s)", i ? (is_and ? " AND " : " OR ") : "", k);
            free(k);
        }
    } else if (!strcmp(cls, "COMPARISON")) {
        char *k = wq_comparison(w, e, depth);
        if (!k) goto no;
        clove_buf_puts(&b, k);
        free(k);
    } else if (!strcmp(cls, "OPERATOR")) {
        if (!strcmp(type, "OPERATOR_NOT") && json_array_size(kids) == 1) {
            char *k = wq_bool(w, json_array_get(kids, 0), depth + 1);
            if (!k) goto no;
            clove_buf_printf(&b, "NOT (%s)", k);
            free(k);
        } else if ((!strcmp(type, "OPERATOR_IS_NULL") || !strcmp(type, "OPERATOR_IS_NOT_NULL")) &&
                   json_array_size(kids) == 1) {
            wq_val_t v;
            json_t *x = json_array_get(kids, 0);
            memset(&v, 0, sizeof v);
            if (!(!strcmp(str_field(x, "class"), "COLUMN_REF") ? wq_column(w, x, &v, true)
                                                                : wq_operand(w, x, &v)))
                goto no;
            clove_buf_printf(&b, "%s %s", v.sql, !strcmp(type, "OPERATOR_IS_NULL")
                                                      ? "IS NULL" : "IS NOT NULL");
            free(v.sql);
        } else if ((!strcmp(type, "COMPARE_IN") || !strcmp(type, "COMPARE_NOT_IN")) &&
                   json_array_size(kids) >= 2) {
            wq_val_t v;
            if (!wq_operand(w, json_array_get(kids, 0), &v)) goto no;
            clove_buf_printf(&b, "%s %s (", v.sql,
                             !strcmp(type, "COMPARE_IN") ? "IN" : "NOT IN");
            bool ok = true;
            for (size_t i = 1; ok && i < json_array_size(kids); i++) {
                if (i > 1) clove_buf_puts(&b, ", ");
                ok = wq_literal_for(w, &v, json_array_get(kids, i), &b);
            }
            free(v.sql);
            if (!ok) goto no;
            clove_buf_putc(&b, ')');
        } else {
            goto no;
        }
    } else if (!strcmp(cls, "BETWEEN")) {
        wq_val_t v;
        if (!wq_operand(w, json_object_get(e, "input"), &v)) goto no;
        bool ok = v.kind != CLOVE_PUSHDOWN_COL_UUID && v.kind != CLOVE_PUSHDOWN_COL_ENUM;
        if (ok) {
            clove_buf_printf(&b, "(%s >= ", v.sql);
            ok = wq_literal_for(w, &v, json_object_get(e, "lower"), &b);
        }
        if (ok) {
            clove_buf_printf(&b, " AND %s <= ", v.sql);
            ok = wq_literal_for(w, &v, json_object_get(e, "upper"), &b);
        }
        free(v.sql);
        if (!ok) goto no;
        clove_buf_putc(&b, ')');
    } else if (!strcmp(cls, "FUNCTION")) {
        const char *fn = str_field(e, "function_name");
        bool like = !strcmp(fn, "~~"), not_like = !strcmp(fn, "!~~");
        lit_t l;
        wq_val_t v;
        if ((!like && !not_like) || !wq_plain_function(e) || json_array_size(kids) != 2 ||
            !parse_lit(json_array_get(kids, 1), &l) || l.k != LIT_STR ||
            !wq_operand(w, json_array_get(kids, 0), &v))
            goto no;
        bool ok = v.kind == CLOVE_PUSHDOWN_COL_TEXT;
        if (ok) {
            clove_buf_printf(&b, "%s %s ", v.sql, like ? "LIKE" : "NOT LIKE");
            clove_pushdown_pg_string(&b, l.s);
            clove_buf_puts(&b, " ESCAPE ''");
        }
        free(v.sql);
        if (!ok) goto no;
    } else if (!strcmp(cls, "COLUMN_REF")) {
        wq_val_t v;
        if (!wq_column(w, e, &v, false)) goto no;
        bool ok = v.kind == CLOVE_PUSHDOWN_COL_BOOL;
        if (ok) clove_buf_puts(&b, v.sql);
        free(v.sql);
        if (!ok) goto no;
    } else {
        goto no;
    }
    if (b.failed) goto no;
    return clove_buf_steal(&b);
no:
    clove_buf_dispose(&b);
    return NULL;
}

/* The PostgreSQL type a computed output is cast to, for the local plan's type; NULL when
 * clove does not decode it. */
static const char *wq_cast(duckdb_type t)
{
    switch (t) {
    case DUCKDB_TYPE_BOOLEAN: return "bool";
    case DUCKDB_TYPE_SMALLINT: return "int2";
    case DUCKDB_TYPE_INTEGER: return "int4";
    case DUCKDB_TYPE_BIGINT: return "int8";
    case DUCKDB_TYPE_HUGEINT: return "numeric";
    case DUCKDB_TYPE_FLOAT: return "float4";
    case DUCKDB_TYPE_DOUBLE: return "float8";
    case DUCKDB_TYPE_DECIMAL: return "numeric";
    case DUCKDB_TYPE_VARCHAR: return "text";
    case DUCKDB_TYPE_DATE: return "date";
    case DUCKDB_TYPE_TIME: return "time";
    case DUCKDB_TYPE_TIMESTAMP: return "timestamp";
    case DUCKDB_TYPE_TIMESTAMP_TZ: return "timestamptz";
    case DUCKDB_TYPE_UUID: return "uuid";
    default: return NULL;
    }
}

typedef struct {
    char *sql;          /* the select item (cast, aliased) */
    char *expr;         /* its expression, for ORDER BY / GROUP BY by position or alias */
    clove_pushdown_col_kind_t kind;
    const char *alias;  /* borrowed */
} wq_item_t;

/* A select item: a bare column passes through (decoded as the scan decodes it); anything else
 * is computed and cast to the local plan's type. */
static bool wq_select_item(wq_t *w, json_t *e, duckdb_prepared_statement local, size_t pos,
                           clove_pushdown_out_t *out, wq_item_t *item)
{
    char *expr = NULL;
    clove_pushdown_col_kind_t kind = CLOVE_PUSHDOWN_COL_NONE;
    wq_val_t v;
    memset(&v, 0, sizeof v);
    const char *cls = str_field(e, "class");
    if (!strcmp(cls, "COLUMN_REF") && wq_column(w, e, &v, true)) {
        out->target = w->bs->v[v.slot].t;
        out->col = (size_t)v.col;
        expr = v.sql;
        kind = v.kind;
    } else if (wq_operand(w, e, &v)) {
        expr = v.sql;
        kind = v.kind;
    } else if (!strcmp(cls, "CONSTANT") || !strcmp(cls, "CAST")) {
        lit_t l;
        if (!parse_lit(e, &l)) return false;
        clove_buf_t b;
        clove_buf_init(&b);
        switch (l.k) {
        case LIT_INT: clove_buf_printf(&b, "%" PRId64, l.i); break;
        case LIT_DEC: put_decimal(&b, l.i, l.scale); break;
        case LIT_STR: clove_pushdown_pg_string(&b, l.s); break;
        case LIT_BOOL: clove_buf_puts(&b, l.i ? "true" : "false"); break;
        default: {
            /* a typed literal: as DuckDB evaluates it */
            static const struct {
                const char *tid;
                clove_pushdown_col_kind_t k;
            } typed[] = {{"DATE", CLOVE_PUSHDOWN_COL_DATE}, {"TIME", CLOVE_PUSHDOWN_COL_TIME},
                         {"TIMESTAMP", CLOVE_PUSHDOWN_COL_TIMESTAMP},
                         {"TIMESTAMP WITH TIME ZONE", CLOVE_PUSHDOWN_COL_TIMESTAMPTZ},
                         {"UUID", CLOVE_PUSHDOWN_COL_UUID}};
            bool ok = false;
            for (size_t i = 0; l.k == LIT_TYPED && i < sizeof typed / sizeof typed[0]; i++) {
                if (strcmp(l.tid, typed[i].tid) != 0) continue;
                tcol_t tc = {.kind = typed[i].k};
                ok = put_pg_value(&w->tr, &b, &tc, &l);
            }
            if (!ok) {
                clove_buf_dispose(&b);
                return false;
            }
        }
        }
        if (b.failed) {
            clove_buf_dispose(&b);
            return false;
        }
        expr = clove_buf_steal(&b);
    } else {
        expr = wq_bool(w, e, 0);
        if (!expr) return false;
        kind = CLOVE_PUSHDOWN_COL_BOOL;
    }
    char *cn = (char *)duckdb_prepared_statement_column_name(local, (idx_t)pos);
    out->name = clove_xstrdup(cn ? cn : "");
    duckdb_free(cn);
    clove_buf_t b;
    clove_buf_init(&b);
    if (out->target) {
        clove_buf_printf(&b, "%s AS \"c%zu\"", expr, pos + 1);
    } else {
        duckdb_logical_type lt = duckdb_prepared_statement_column_logical_type(local, (idx_t)pos);
        out->type = duckdb_get_type_id(lt);
        if (out->type == DUCKDB_TYPE_DECIMAL) {
            out->width = duckdb_decimal_width(lt);
            out->scale = duckdb_decimal_scale(lt);
        }
        char *alias = duckdb_logical_type_get_alias(lt);
        const char *cast = alias ? NULL : wq_cast(out->type);
        duckdb_free(alias);
        duckdb_destroy_logical_type(&lt);
        if (!cast) {
            free(expr);
            clove_buf_dispose(&b);
            return false;
        }
        clove_buf_printf(&b, "(%s)::%s AS \"c%zu\"", expr, cast, pos + 1);
    }
    if (b.failed) {
        free(expr);
        clove_buf_dispose(&b);
        return false;
    }
    item->sql = clove_buf_steal(&b);
    item->expr = expr;
    item->kind = kind;
    item->alias = str_field(e, "alias");
    return true;
}

/* The FROM clause: each target as its remote table under the binding's name. */
static bool wq_from(wq_t *w, json_t *ref, clove_buf_t *b, int depth)
{
    if (depth > 64) return false;
    const char *type = str_field(ref, "type");
    if (!strcmp(type, "BASE_TABLE")) {
        for (size_t i = 0; i < w->bs->n; i++) {
            binding_t *bd = &w->bs->v[i];
            if (bd->ref != ref) continue;
            if (!bd->t || !bd->t->remote_table || bd->t->dialect != CLOVE_PUSHDOWN_POSTGRES ||
                json_array_size(bd->col_alias) != 0)
                return false;
            clove_buf_printf(b, "%s AS ", bd->t->remote_table);
            wq_put_binding(b, bd);
            return true;
        }
        return false;
    }
    if (strcmp(type, "JOIN") != 0 || json_array_size(json_object_get(ref, "using_columns")))
        return false;
    const char *rt = str_field(ref, "ref_type"), *jt = str_field(ref, "join_type");
    json_t *cond = json_object_get(ref, "condition");
    const char *kw;
    if (!strcmp(rt, "CROSS")) kw = "CROSS JOIN";
    else if (strcmp(rt, "REGULAR") != 0) return false;
    else if (!strcmp(jt, "INNER")) kw = "JOIN";
    else if (!strcmp(jt, "LEFT")) kw = "LEFT JOIN";
    else if (!strcmp(jt, "RIGHT")) kw = "RIGHT JOIN";
    else if (!strcmp(jt, "OUTER")) kw = "FULL JOIN";
    else return false;
    bool on = cond && !json_is_null(cond);
    if (!strcmp(kw, "CROSS JOIN") ? on : !on) return false;
    clove_buf_putc(b, '(');
    if (!wq_from(w, json_object_get(ref, "left"), b, depth + 1)) return false;
    clove_buf_printf(b, " %s ", kw);
    if (!wq_from(w, json_object_get(ref, "right"), b, depth + 1)) return false;
    if (on) {
        char *c = wq_bool(w, cond, 0);
        if (!c) return false;
        clove_buf_printf(b, " ON (%s)", c);
        free(c);
    }
    clove_buf_putc(b, ')');
    return true;
}

/* ORDER BY / GROUP BY item given as a position (1-based) or a select alias: its index, else
 * -1; -2 when it is malformed. */
static int wq_item_ref(json_t *e, const wq_item_t *items, size_t n, const bindings_t *bs)
{
    lit_t l;
    if (!strcmp(str_field(e, "class"), "CONSTANT")) {
        if (!parse_lit(e, &l) || l.k != LIT_INT || l.i < 1 || (size_t)l.i > n) return -2;
        return (int)(l.i - 1);
    }
    json_t *names = json_object_get(e, "column_names");
    if (strcmp(str_field(e, "class"), "COLUMN_REF") != 0 || json_array_size(names) != 1)
        return -1;
    const char *nm = json_string_value(json_array_get(names, 0));
    int found = -1;
    for (size_t i = 0; nm && i < n; i++) {
        if (!*items[i].alias || !clove_str_ieq(items[i].alias, nm)) continue;
        if (found >= 0) return -2;
        found = (int)i;
    }
    if (found >= 0) {
        int col;
        if (resolve(bs, e, &col) >= 0) return -2; /* also a column: ambiguous to us */
    }
    return found;
}

void clove_pushdown_outs_free(clove_pushdown_out_t *outs, size_t n)
{
    for (size_t i = 0; outs && i < n; i++) free(outs[i].name);
    free(outs);
}

int clove_pushdown_whole(duckdb_connection conn, const char *sql,
                         clove_pushdown_target_t *const *targets, size_t n, char **remote_sql,
                         clove_pushdown_out_t **outs, size_t *nouts, size_t *nparams,
                         clove_err_t *err)
{
    json_t *root = NULL;
    duckdb_prepared_statement local = NULL;
    ctx_t c = {.conn = conn, .targets = targets, .n_targets = n};
    bindings_t bs = {0};
    wq_item_t *items = NULL;
    size_t nitems = 0, cap_items = 0;
    clove_pushdown_out_t *ov = NULL;
    size_t nlocal = 0;
    char *nulls_default = NULL, *order_default = NULL;
    clove_buf_t q;
    clove_buf_init(&q);
    int rc = 0;
    if (!remote_sql || !outs || !nouts || !nparams)
        return clove_err_set(err, CLOVE_EINVAL, "pushdown: no output given");
    *remote_sql = NULL;
    *outs = NULL;
    *nouts = 0;
    *nparams = 0;
    if (!conn || !sql || !n || !targets)
        return clove_err_set(err, CLOVE_EINVAL, "pushdown: missing arguments");
    if (!mentions_target(sql, targets, n)) return 0;
    if ((rc = parse_sql(conn, sql, &root, err)) != 0 || !root) goto done;
    json_t *stmt = json_array_get(json_object_get(root, "statements"), 0);
    json_t *node = json_object_get(stmt, "node");
    json_t *from = json_object_get(node, "from_table");
    /* plain GROUP BY: one grouping set holding every group expression */
    json_t *gsets = json_object_get(node, "group_sets");
    size_t ngroups = json_array_size(json_object_get(node, "group_expressions"));
    if (json_array_size(gsets) > 1 ||
        (json_array_size(gsets) == 1 && json_array_size(json_array_get(gsets, 0)) != ngroups) ||
        (json_array_size(gsets) == 0 && ngroups > 0))
        goto done;
    if (!is_type(node, "SELECT_NODE") ||
        json_array_size(json_object_get(json_object_get(node, "cte_map"), "map")) ||
        !json_is_null(json_object_get(node, "qualify")) ||
        !json_is_null(json_object_get(node, "sample")) ||
        strcmp(str_field(node, "aggregate_handling"), "STANDARD_HANDLING") != 0)
        goto done;
    /* positional parameters only ($1 maps to "1") */
    json_t *pmap = json_object_get(stmt, "named_param_map");
    for (size_t i = 0; i < json_array_size(pmap); i++) {
        const char *k = str_field(json_array_get(pmap, i), "key");
        if (!*k || strspn(k, "0123456789") != strlen(k)) goto done;
    }
    collect(&c, from, &bs, 0);
    if (bs.n == 0) goto done;
    for (size_t i = 0; i < bs.n; i++)
        if (!bs.v[i].t || bs.v[i].t->dialect != CLOVE_PUSHDOWN_POSTGRES ||
            !bs.v[i].t->remote_table)
            goto done;
    /* the local plan: output names and types, and DuckDB accepts the query at all */
    if (duckdb_prepare(conn, sql, &local) == DuckDBError) goto done;
    {
        duckdb_result r;
        if (duckdb_query(conn, "SELECT current_setting('default_null_order'), "
                               "current_setting('default_order')", &r) == DuckDBSuccess) {
            char *a = duckdb_value_varchar(&r, 0, 0), *b = duckdb_value_varchar(&r, 1, 0);
            nulls_default = clove_xstrdup(a ? a : "");
            order_default = clove_xstrdup(b ? b : "");
            duckdb_free(a);
            duckdb_free(b);
        }
        duckdb_destroy_result(&r);
        if (!nulls_default) goto done;
    }

    wq_t w = {.c = &c, .bs = &bs, .tr = {.c = &c, .bs = &bs, .slot = -1, .exact = true}};
    nlocal = (size_t)duckdb_prepared_statement_column_count(local);
    ov = clove_xcalloc(nlocal ? nlocal : 1, sizeof *ov);
    json_t *list = json_object_get(node, "select_list");
    w.agg_ok = true;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *e = json_array_get(list, i);
        if (!strcmp(str_field(e, "class"), "STAR")) {
            /* * or t.*: every column of the bindings in order, as DuckDB expands it */
            const char *rel = str_field(e, "relation_name");
            if (!json_is_null(json_object_get(e, "expr")) ||
                json_is_true(json_object_get(e, "columns")) ||
                json_array_size(json_object_get(e, "exclude_list")) ||
                json_array_size(json_object_get(e, "replace_list")) ||
                json_array_size(json_object_get(e, "rename_list")) ||
                json_array_size(json_object_get(e, "qualified_exclude_list")))
                goto done;
            for (size_t s = 0; s < bs.n; s++) {
                if (*rel && !clove_str_ieq(rel, bs.v[s].name)) continue;
                for (size_t k = 0; k < bs.v[s].t->ncols; k++) {
                    if (nitems >= nlocal) goto done;
                    json_t *ref = json_pack("{s:s, s:s, s:s, s:[s, s]}", "class", "COLUMN_REF",
                                            "type", "COLUMN_REF", "alias", "", "column_names",
                                            bs.v[s].name, bs.v[s].t->cols[k].name);
                    if (nitems == cap_items) {
                        cap_items = cap_items ? cap_items * 2 : 8;
                        items = clove_xrealloc(items, cap_items * sizeof *items);
                    }
                    bool ok = ref && wq_select_item(&w, ref, local, nitems, &ov[nitems],
                                                    &items[nitems]);
                    json_decref(ref);
                    if (!ok) goto done;
                    items[nitems].alias = "";
                    nitems++;
                }
            }
            continue;
        }
        if (nitems >= nlocal) goto done;
        if (nitems == cap_items) {
            cap_items = cap_items ? cap_items * 2 : 8;
            items = clove_xrealloc(items, cap_items * sizeof *items);
        }
        if (!wq_select_item(&w, e, local, nitems, &ov[nitems], &items[nitems])) goto done;
        nitems++;
    }
    if (nitems != nlocal) goto done;

    bool distinct = false;
    json_t *order = NULL, *limit = NULL;
    json_t *mods = json_object_get(node, "modifiers");
    for (size_t i = 0; i < json_array_size(mods); i++) {
        json_t *m = json_array_get(mods, i);
        if (is_type(m, "DISTINCT_MODIFIER") && !json_array_size(json_object_get(m,
                                                                   "distinct_on_targets")) &&
            !distinct && !order && !limit)
            distinct = true;
        else if (is_type(m, "ORDER_MODIFIER") && !order && !limit)
            order = m;
        else if (is_type(m, "LIMIT_MODIFIER") && !limit)
            limit = m;
        else
            goto done;
    }
    for (size_t i = 0; distinct && i < nitems; i++)
        if (items[i].kind == CLOVE_PUSHDOWN_COL_FLOAT || items[i].kind == CLOVE_PUSHDOWN_COL_DOUBLE)
            goto done; /* DISTINCT keeps one of -0 and 0: which one is not fixed */

    clove_buf_puts(&q, distinct ? "SELECT DISTINCT " : "SELECT ");
    for (size_t i = 0; i < nitems; i++) clove_buf_printf(&q, "%s%s", i ? ", " : "", items[i].sql);
    clove_buf_puts(&q, " FROM ");
    w.agg_ok = false;
    if (!wq_from(&w, from, &q, 0)) goto done;
    json_t *where = json_object_get(node, "where_clause");
    if (where && !json_is_null(where)) {
        char *x = wq_bool(&w, where, 0);
        if (!x) goto done;
        clove_buf_printf(&q, " WHERE %s", x);
        free(x);
    }
    json_t *groups = json_object_get(node, "group_expressions");
    for (size_t i = 0; i < json_array_size(groups); i++) {
        json_t *g = json_array_get(groups, i);
        int k = wq_item_ref(g, items, nitems, &bs);
        char *x = NULL;
        if (k == -2) goto done;
        if (k >= 0) {
            /* grouping by an output: by its expression (floats group -0 with 0) */
            if (items[k].kind == CLOVE_PUSHDOWN_COL_FLOAT ||
                items[k].kind == CLOVE_PUSHDOWN_COL_DOUBLE)
                goto done;
            x = clove_xstrdup(items[k].expr);
        } else {
            wq_val_t v;
            if (!wq_operand(&w, g, &v)) goto done;
            if (v.kind == CLOVE_PUSHDOWN_COL_FLOAT || v.kind == CLOVE_PUSHDOWN_COL_DOUBLE) {
                free(v.sql);
                goto done;
            }
            x = v.sql;
        }
        clove_buf_printf(&q, "%s%s", i ? ", " : " GROUP BY ", x);
        free(x);
    }
    w.agg_ok = true;
    json_t *having = json_object_get(node, "having");
    if (having && !json_is_null(having)) {
        char *x = wq_bool(&w, having, 0);
        if (!x) goto done;
        clove_buf_printf(&q, " HAVING %s", x);
        free(x);
    }
    json_t *orders = json_object_get(order, "orders");
    for (size_t i = 0; order && i < json_array_size(orders); i++) {
        json_t *o = json_array_get(orders, i);
        json_t *e = json_object_get(o, "expression");
        const char *ot = str_field(o, "type"), *no = str_field(o, "null_order");
        int k = wq_item_ref(e, items, nitems, &bs);
        char *x = NULL;
        if (k == -2) goto done;
        if (k >= 0) {
            /* enums sort by label order in DuckDB, by text here; uuids are left alone */
            if (items[k].kind == CLOVE_PUSHDOWN_COL_ENUM ||
                items[k].kind == CLOVE_PUSHDOWN_COL_UUID)
                goto done;
            x = clove_xasprintf("%d", k + 1);
        } else {
            if (distinct) goto done; /* PostgreSQL wants DISTINCT's sort keys in the list */
            wq_val_t v;
            if (!wq_operand(&w, e, &v)) goto done;
            if (v.kind == CLOVE_PUSHDOWN_COL_ENUM || v.kind == CLOVE_PUSHDOWN_COL_UUID) {
                free(v.sql);
                goto done;
            }
            x = v.sql;
        }
        bool desc = !strcmp(ot, "DESCENDING") ||
                    (!strcmp(ot, "ORDER_DEFAULT") && !strcasecmp(order_default, "DESCENDING"));
        if (strcmp(ot, "DESCENDING") && strcmp(ot, "ASCENDING") && strcmp(ot, "ORDER_DEFAULT")) {
            free(x);
            goto done;
        }
        bool nfirst;
        if (!strcmp(no, "NULLS FIRST") || !strcmp(no, "NULLS_FIRST")) nfirst = true;
        else if (!strcmp(no, "NULLS LAST") || !strcmp(no, "NULLS_LAST")) nfirst = false;
        else if (!strcmp(no, "ORDER_DEFAULT")) {
            if (!strcasecmp(nulls_default, "NULLS_FIRST")) nfirst = true;
            else if (!strcasecmp(nulls_default, "NULLS_LAST")) nfirst = false;
            else if (!strcasecmp(nulls_default, "NULLS_FIRST_ON_ASC_LAST_ON_DESC")) nfirst = !desc;
            else if (!strcasecmp(nulls_default, "NULLS_LAST_ON_ASC_FIRST_ON_DESC")) nfirst = desc;
            else {
                free(x);
                goto done;
            }
        } else {
            free(x);
            goto done;
        }
        clove_buf_printf(&q, "%s%s %s NULLS %s", i ? ", " : " ORDER BY ", x,
                         desc ? "DESC" : "ASC", nfirst ? "FIRST" : "LAST");
        free(x);
    }
    if (limit) {
        lit_t l;
        json_t *le = json_object_get(limit, "limit"), *oe = json_object_get(limit, "offset");
        if (le && !json_is_null(le)) {
            if (!parse_lit(le, &l) || l.k != LIT_INT || l.i < 0) goto done;
            clove_buf_printf(&q, " LIMIT %" PRId64, l.i);
        }
        if (oe && !json_is_null(oe)) {
            if (!parse_lit(oe, &l) || l.k != LIT_INT || l.i < 0) goto done;
            clove_buf_printf(&q, " OFFSET %" PRId64, l.i);
        }
    }
    if (q.failed) goto done;
    /* every parameter of the query must have gone to PostgreSQL, as an int8 */
    idx_t qparams = duckdb_nparams(local);
    if ((size_t)w.max_param != qparams) goto done;
    *remote_sql = clove_buf_steal(&q);
    *outs = ov;
    *nouts = nitems;
    *nparams = (size_t)qparams;
    ov = NULL;
done:
    for (size_t i = 0; i < nitems; i++) {
        free(items[i].sql);
        free(items[i].expr);
    }
    free(items);
    if (ov) clove_pushdown_outs_free(ov, nlocal);
    clove_buf_dispose(&q);
    free(nulls_default);
    free(order_default);
    if (local) duckdb_destroy_prepare(&local);
    bindings_dispose(&bs);
    free(c.scope);
    json_decref(root);
    return rc;
}
