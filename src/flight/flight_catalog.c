/*
 * Flight SQL catalog commands: GetCatalogs, GetDbSchemas, GetTables, GetTableTypes,
 * GetPrimaryKeys, GetSqlInfo and GetXdbcTypeInfo. Each declares the result schema the
 * specification documents (flight_meta.c) and, unless only the schema is wanted, fills the
 * rows from DuckDB's own catalog (duckdb_tables(), duckdb_views(), duckdb_constraints(),
 * duckdb_keywords()) with internal SQL on a connection the caller lends, restricted to
 * catalog "spice", schema "public", or from constants. User text (patterns, names) is only
 * ever bound as a parameter.
 */
#include "flight/flight_int.h"

#include <stdlib.h>
#include <string.h>

#include "FlightSql.pb-c.h"

#define SQL_PREFIX "type.googleapis.com/arrow.flight.protocol.sql."

typedef enum {
    CAT_NONE = 0, CAT_CATALOGS, CAT_DB_SCHEMAS, CAT_TABLES, CAT_TABLE_TYPES, CAT_PRIMARY_KEYS,
    CAT_SQL_INFO, CAT_XDBC_TYPE_INFO,
} cat_kind_t;

static cat_kind_t cat_kind(const char *type_url)
{
    static const struct { const char *name; cat_kind_t kind; } names[] = {
        {"CommandGetCatalogs", CAT_CATALOGS},
        {"CommandGetDbSchemas", CAT_DB_SCHEMAS},
        {"CommandGetTables", CAT_TABLES},
        {"CommandGetTableTypes", CAT_TABLE_TYPES},
        {"CommandGetPrimaryKeys", CAT_PRIMARY_KEYS},
        {"CommandGetSqlInfo", CAT_SQL_INFO},
        {"CommandGetXdbcTypeInfo", CAT_XDBC_TYPE_INFO},
    };
    if (strncmp(type_url, SQL_PREFIX, strlen(SQL_PREFIX)) != 0) return CAT_NONE;
    type_url += strlen(SQL_PREFIX);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(type_url, names[i].name) == 0) return names[i].kind;
    return CAT_NONE;
}

bool flight_catalog_is_command(const char *type_url)
{
    return cat_kind(type_url) != CAT_NONE;
}

/* ---- internal SQL ------------------------------------------------------------------------- */

/* Runs sql on conn with VARCHAR parameters (NULL binds NULL). Fills *res (caller destroys). */
static int run_sql(duckdb_connection conn, const char *sql, const char *const *params,
                   size_t n, duckdb_result *res, clove_err_t *err)
{
    duckdb_prepared_statement st = NULL;
    int rc = 0;
    if (duckdb_prepare(conn, sql, &st) == DuckDBError) {
        rc = clove_err_set(err, CLOVE_EINTERNAL, "could not read the catalog: %s",
                           duckdb_prepare_error(st));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (params[i]) duckdb_bind_varchar(st, i + 1, params[i]);
        else duckdb_bind_null(st, i + 1);
    }
    if (duckdb_execute_prepared(st, res) == DuckDBError) {
        rc = clove_err_set(err, CLOVE_EINTERNAL, "could not read the catalog: %s",
                           duckdb_result_error(res));
        duckdb_destroy_result(res);
    }
out:
    duckdb_destroy_prepare(&st);
    return rc;
}

/* Appends result cell (col, row) as a string (NULL stays null). */
static void put_cell(mcol_t *c, duckdb_result *res, idx_t col, idx_t row)
{
    if (duckdb_value_is_null(res, col, row)) {
        meta_null(c);
        return;
    }
    char *s = duckdb_value_varchar(res, col, row);
    meta_str(c, s ? s : "");
    duckdb_free(s);
}

/* The IPC schema of spice.public.<name> without running it (an empty schema if it no longer
 * binds, e.g. a dropped file). */
static int table_schema(duckdb_connection conn, const char *name, clove_buf_t *out,
                        clove_err_t *err)
{
    char *q = clove_sql_ident(name);
    char *sql = clove_xasprintf("SELECT * FROM spice.public.%s LIMIT 0", q);
    free(q);
    duckdb_prepared_statement st = NULL;
    int rc = 0;
    if (duckdb_prepare(conn, sql, &st) == DuckDBError) {
        meta_table_t empty = {0};
        rc = meta_schema(&empty, out, err);
        goto out;
    }
    idx_t n = duckdb_prepared_statement_column_count(st);
    const char **names = clove_xcalloc(n ? n : 1, sizeof(*names));
    duckdb_logical_type *types = clove_xcalloc(n ? n : 1, sizeof(*types));
    for (idx_t i = 0; i < n; i++) {
        names[i] = duckdb_prepared_statement_column_name(st, i);
        types[i] = duckdb_prepared_statement_column_logical_type(st, i);
    }
    clove_ipc_writer_t *w = clove_ipc_writer_create(conn, n, names, types, err);
    if (!w) rc = err->code;
    else rc = clove_ipc_writer_schema(w, out, err);
    clove_ipc_writer_destroy(w);
    for (idx_t i = 0; i < n; i++) {
        duckdb_destroy_logical_type(&types[i]);
        duckdb_free((void *)names[i]); /* DuckDB allocates each column name for the caller */
    }
    free(names);
    free(types);
out:
    duckdb_destroy_prepare(&st);
    free(sql);
    return rc;
}

/* ---- commands ----------------------------------------------------------------------------- */

static int get_catalogs(duckdb_connection conn, meta_table_t *t, clove_err_t *err)
{
    (void)err;
    mcol_t *cat = meta_col(t, MCOL_UTF8, "catalog_name", false);
    if (!conn) return 0;
    meta_str(cat, "spice");
    meta_row_done(t);
    return 0;
}

/* Filters shared by GetDbSchemas and GetTables: catalog (exact) and schema pattern. */
#define SCHEMA_FILTER                                                                         \
    " database_name = 'spice' AND schema_name = 'public' AND ($1::VARCHAR IS NULL OR "        \
    "database_name = $1) AND ($2::VARCHAR IS NULL OR schema_name LIKE $2 ESCAPE '\\') "

static int get_db_schemas(duckdb_connection conn, const Google__Protobuf__Any *any,
                          meta_table_t *t, clove_err_t *err)
{
    mcol_t *cat = meta_col(t, MCOL_UTF8, "catalog_name", true);
    mcol_t *sch = meta_col(t, MCOL_UTF8, "db_schema_name", false);
    if (!conn) return 0;
    Arrow__Flight__Protocol__Sql__CommandGetDbSchemas *c =
        arrow__flight__protocol__sql__command_get_db_schemas__unpack(NULL, any->value.len,
                                                                   any->value.data);
    if (!c) return clove_err_set(err, CLOVE_EINVAL, "malformed Flight SQL CommandGetDbSchemas");
    const char *params[2] = {
        c->catalog_opt_case ? c->catalog : NULL,
        c->db_schema_filter_pattern_opt_case ? c->db_schema_filter_pattern : NULL,
    };
    duckdb_result res;
    int rc = run_sql(conn, "SELECT database_name, schema_name FROM duckdb_schemas() WHERE"
                     SCHEMA_FILTER "ORDER BY 1, 2", params, 2, &res, err);
    arrow__flight__protocol__sql__command_get_db_schemas__free_unpacked(c, NULL);
    if (rc) return rc;
    for (idx_t r = 0; r < duckdb_row_count(&res); r++) {
        put_cell(cat, &res, 0, r);
        put_cell(sch, &res, 1, r);
        meta_row_done(t);
    }
    duckdb_destroy_result(&res);
    return 0;
}

static int get_tables(duckdb_connection conn, const Google__Protobuf__Any *any, meta_table_t *t,
                      clove_err_t *err)
{
    Arrow__Flight__Protocol__Sql__CommandGetTables *c =
        arrow__flight__protocol__sql__command_get_tables__unpack(NULL, any->value.len,
                                                               any->value.data);
    if (!c) return clove_err_set(err, CLOVE_EINVAL, "malformed Flight SQL CommandGetTables");
    mcol_t *cat = meta_col(t, MCOL_UTF8, "catalog_name", true);
    mcol_t *sch = meta_col(t, MCOL_UTF8, "db_schema_name", true);
    mcol_t *name = meta_col(t, MCOL_UTF8, "table_name", false);
    mcol_t *type = meta_col(t, MCOL_UTF8, "table_type", false);
    mcol_t *schema = c->include_schema ? meta_col(t, MCOL_BINARY, "table_schema", false) : NULL;
    int rc = 0;
    if (!conn) goto out;
    const char *params[3] = {
        c->catalog_opt_case ? c->catalog : NULL,
        c->db_schema_filter_pattern_opt_case ? c->db_schema_filter_pattern : NULL,
        c->table_name_filter_pattern_opt_case ? c->table_name_filter_pattern : NULL,
    };
    duckdb_result res;
    rc = run_sql(conn,
                 "SELECT database_name, schema_name, table_name, table_type FROM ("
                 "SELECT database_name, schema_name, table_name, 'TABLE' AS table_type "
                 "FROM duckdb_tables() WHERE NOT internal AND NOT temporary UNION ALL "
                 "SELECT database_name, schema_name, view_name, 'VIEW' FROM duckdb_views() "
                 "WHERE NOT internal AND NOT temporary) WHERE" SCHEMA_FILTER
                 "AND ($3::VARCHAR IS NULL OR table_name LIKE $3 ESCAPE '\\') "
                 "ORDER BY 1, 2, 3, 4",
                 params, 3, &res, err);
    if (rc) goto out;
    clove_buf_t sbuf;
    clove_buf_init(&sbuf);
    for (idx_t r = 0; r < duckdb_row_count(&res) && rc == 0; r++) {
        char *tt = duckdb_value_varchar(&res, 3, r);
        bool keep = c->n_table_types == 0;
        for (size_t i = 0; i < c->n_table_types && !keep; i++)
            keep = strcasecmp(c->table_types[i], tt) == 0;
        if (keep) {
            put_cell(cat, &res, 0, r);
            put_cell(sch, &res, 1, r);
            put_cell(name, &res, 2, r);
            meta_str(type, tt);
            if (schema) {
                char *tn = duckdb_value_varchar(&res, 2, r);
                clove_buf_reset(&sbuf);
                rc = table_schema(conn, tn, &sbuf, err);
                duckdb_free(tn);
                meta_bin(schema, sbuf.data ? sbuf.data : "", sbuf.len);
            }
            meta_row_done(t);
        }
        duckdb_free(tt);
    }
    clove_buf_dispose(&sbuf);
    duckdb_destroy_result(&res);
out:
    arrow__flight__protocol__sql__command_get_tables__free_unpacked(c, NULL);
    return rc;
}

static int get_table_types(duckdb_connection conn, meta_table_t *t)
{
    mcol_t *type = meta_col(t, MCOL_UTF8, "table_type", false);
    if (!conn) return 0;
    meta_str(type, "TABLE");
    meta_row_done(t);
    meta_str(type, "VIEW");
    meta_row_done(t);
    return 0;
}

static int get_primary_keys(duckdb_connection conn, const Google__Protobuf__Any *any,
                            meta_table_t *t, clove_err_t *err)
{
    mcol_t *cols[6] = {
        meta_col(t, MCOL_UTF8, "catalog_name", true),
        meta_col(t, MCOL_UTF8, "db_schema_name", true),
        meta_col(t, MCOL_UTF8, "table_name", false),
        meta_col(t, MCOL_UTF8, "column_name", false),
        meta_col(t, MCOL_UTF8, "key_name", true),
        meta_col(t, MCOL_INT32, "key_sequence", false),
    };
    if (!conn) return 0;
    Arrow__Flight__Protocol__Sql__CommandGetPrimaryKeys *c =
        arrow__flight__protocol__sql__command_get_primary_keys__unpack(NULL, any->value.len,
                                                                     any->value.data);
    if (!c)
        return clove_err_set(err, CLOVE_EINVAL, "malformed Flight SQL CommandGetPrimaryKeys");
    const char *params[3] = {
        c->catalog_opt_case ? c->catalog : NULL,
        c->db_schema_opt_case ? c->db_schema : NULL,
        c->table,
    };
    duckdb_result res;
    int rc = run_sql(conn,
                     "SELECT database_name, schema_name, table_name, "
                     "unnest(constraint_column_names), constraint_name, "
                     "unnest(range(1, len(constraint_column_names) + 1))::INTEGER "
                     "FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' AND "
                     "database_name = 'spice' AND schema_name = 'public' AND "
                     "($1::VARCHAR IS NULL OR database_name = $1) AND "
                     "($2::VARCHAR IS NULL OR schema_name = $2) AND table_name = $3 "
                     "ORDER BY 1, 2, 3, 5, 6",
                     params, 3, &res, err);
    arrow__flight__protocol__sql__command_get_primary_keys__free_unpacked(c, NULL);
    if (rc) return rc;
    for (idx_t r = 0; r < duckdb_row_count(&res); r++) {
        for (int i = 0; i < 5; i++) put_cell(cols[i], &res, (idx_t)i, r);
        meta_i32(cols[5], duckdb_value_int32(&res, 5, r));
        meta_row_done(t);
    }
    duckdb_destroy_result(&res);
    return 0;
}

/* ---- GetSqlInfo --------------------------------------------------------------------------- */

/* Union members, in the order the specification lists them (= type ids). */
enum { U_STRING = 0, U_BOOL, U_BIGINT, U_BITMASK, U_LIST, U_MAP };

typedef struct {
    uint32_t id;
    int kind;
    const char *s;               /* U_STRING; U_LIST: '\n'-separated items */
    int64_t i;                   /* U_BOOL, U_BIGINT, U_BITMASK */
} sql_info_t;

#define S(id, v) {id, U_STRING, v, 0}
#define B(id, v) {id, U_BOOL, NULL, v}
#define I64(id, v) {id, U_BIGINT, NULL, v}
#define I32(id, v) {id, U_BITMASK, NULL, v}
#define L(id, v) {id, U_LIST, v, 0}

static const sql_info_t sql_infos[] = {
    S(0, "clove"), S(1, CLOVE_VERSION), S(2, "1.5.0"), B(3, 1), B(4, 1), B(5, 0),
    I32(8, 0), B(9, 0), I32(100, 0), I32(101, 0),
    B(500, 0), B(501, 0), B(502, 0),
    I64(503, 1),                 /* identifiers: case insensitive (DuckDB keeps the case) */
    S(504, "\""), I64(505, 1), B(506, 1),
    I64(507, 3),                 /* NULLs sort at the end (DuckDB's default) */
    {508, U_LIST, NULL, 0},      /* SQL_KEYWORDS: from duckdb_keywords() */
    L(509, "abs\nacos\nasin\natan\natan2\nceil\ncos\ndegrees\nexp\nfloor\nln\nlog\nlog10\n"
           "mod\npi\npower\nradians\nrandom\nround\nsign\nsin\nsqrt\ntan\ntrunc"),
    L(510, "ascii\nchr\nconcat\nlcase\nleft\nlength\nlower\nltrim\nposition\nrepeat\n"
           "replace\nreverse\nright\nrtrim\nsubstring\ntrim\nucase\nupper"),
    L(511, "coalesce\ncurrent_database\ncurrent_schema\nifnull\nnullif\nversion"),
    L(512, "current_date\ncurrent_time\ncurrent_timestamp\ndate_diff\ndate_part\n"
           "date_trunc\ndayname\nextract\nmonthname\nnow\nstrftime\nstrptime"),
    S(513, "\\"), S(514, ""), B(515, 1), B(516, 1),
    {517, U_MAP, NULL, 0},       /* SQL_SUPPORTS_CONVERT */
    B(518, 1), B(519, 0), B(520, 1), B(521, 1), I32(522, 3), B(523, 1), B(524, 1),
    I32(525, 3), I32(526, 3), B(527, 0), I64(528, 2), S(529, "schema"), S(530, "procedure"),
    S(531, "catalog"), B(532, 1), I32(533, 0), I32(534, 0), I32(535, 0), B(536, 0), B(537, 0),
    I32(538, 15), B(539, 1), I32(540, 3),
    I64(541, 0), I64(542, 0), I64(543, 0), I64(544, 0), I64(545, 0), I64(546, 0), I64(547, 0),
    I64(548, 0), I64(549, 0), I64(550, 0), I64(551, 0), I64(552, 0), I64(553, 0), I64(554, 0),
    I64(555, 0), B(556, 0), I64(557, 0), I64(558, 0), I64(559, 0), I64(560, 0), I64(561, 0),
    I64(562, 0), B(563, 0), I32(564, 0), B(565, 0), B(566, 0), I32(567, 2), I32(568, 0),
    I32(569, 2), I32(570, 0), I32(571, 0), B(572, 0), B(573, 0), B(574, 0), B(575, 0),
    B(576, 0),
};

/* SqlSupportsConvert: integers convert among numeric types and VARCHAR, VARCHAR to all. */
static void put_convert_map(mcol_t *map)
{
    static const int32_t from[] = {0, 5, 6, 7, 12, 13, 14, 17, 19};
    static const int32_t to_num[] = {0, 5, 6, 7, 12, 13, 14, 17, 19};
    static const int32_t to_str[] = {0, 2, 4, 5, 6, 7, 12, 13, 14, 15, 16, 17, 19};
    mcol_t *entries = map->children[0];
    mcol_t *key = entries->children[0], *val = entries->children[1];
    for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
        const int32_t *to = from[i] == 19 ? to_str : to_num;
        size_t n = from[i] == 19 ? sizeof(to_str) / 4 : sizeof(to_num) / 4;
        meta_i32(key, from[i]);
        for (size_t j = 0; j < n; j++) meta_i32(val->children[0], to[j]);
        meta_list_end(val);
        meta_struct_row(entries);
    }
    meta_list_end(map);
}

static void put_list(mcol_t *list, const char *items)
{
    while (items && *items) {
        const char *nl = strchr(items, '\n');
        size_t n = nl ? (size_t)(nl - items) : strlen(items);
        meta_bin(list->children[0], items, n);
        items += n + (nl ? 1 : 0);
    }
    meta_list_end(list);
}

static int put_sql_info(duckdb_connection conn, const sql_info_t *si, mcol_t *name,
                        mcol_t *value, clove_err_t *err)
{
    meta_u32(name, si->id);
    mcol_t *c = meta_union(value, si->kind);
    switch (si->kind) {
    case U_STRING: meta_str(c, si->s); break;
    case U_BOOL: meta_bool(c, si->i != 0); break;
    case U_BIGINT: meta_i64(c, si->i); break;
    case U_BITMASK:
        meta_i32(c, si->id == 100 ? clove_flight_statement_timeout_ms : (int32_t)si->i);
        break;
    case U_MAP: put_convert_map(c); break;
    case U_LIST:
        if (si->s) {
            put_list(c, si->s);
        } else {
            duckdb_result res;
            int rc = run_sql(conn, "SELECT keyword_name FROM duckdb_keywords() WHERE "
                             "keyword_category = 'reserved' ORDER BY 1", NULL, 0, &res, err);
            if (rc) return rc;
            for (idx_t r = 0; r < duckdb_row_count(&res); r++)
                put_cell(c->children[0], &res, 0, r);
            meta_list_end(c);
            duckdb_destroy_result(&res);
        }
        break;
    }
    return 0;
}

static int get_sql_info(duckdb_connection conn, const Google__Protobuf__Any *any,
                        meta_table_t *t, clove_err_t *err)
{
    mcol_t *name = meta_col(t, MCOL_UINT32, "info_name", false);
    mcol_t *value = meta_col(t, MCOL_DUNION, "value", false);
    meta_child(value, MCOL_UTF8, "string_value", true);
    meta_child(value, MCOL_BOOL, "bool_value", true);
    meta_child(value, MCOL_INT64, "bigint_value", true);
    meta_child(value, MCOL_INT32, "int32_bitmask", true);
    mcol_t *list = meta_child(value, MCOL_LIST, "string_list", true);
    meta_child(list, MCOL_UTF8, "item", true);
    mcol_t *map = meta_child(value, MCOL_MAP, "int32_to_int32_list_map", true);
    mcol_t *entries = meta_child(map, MCOL_STRUCT, "entries", false);
    meta_child(entries, MCOL_INT32, "key", false);
    mcol_t *vals = meta_child(entries, MCOL_LIST, "value", true);
    meta_child(vals, MCOL_INT32, "item", true);
    if (!conn) return 0;

    Arrow__Flight__Protocol__Sql__CommandGetSqlInfo *c =
        arrow__flight__protocol__sql__command_get_sql_info__unpack(NULL, any->value.len,
                                                                 any->value.data);
    if (!c) return clove_err_set(err, CLOVE_EINVAL, "malformed Flight SQL CommandGetSqlInfo");
    size_t n = sizeof(sql_infos) / sizeof(sql_infos[0]);
    int rc = 0;
    if (c->n_info == 0) {
        for (size_t i = 0; i < n && rc == 0; i++) {
            rc = put_sql_info(conn, &sql_infos[i], name, value, err);
            meta_row_done(t);
        }
    }
    /* requested ids in the order asked; ids clove does not know are left out */
    for (size_t k = 0; k < c->n_info && rc == 0; k++) {
        for (size_t i = 0; i < n; i++) {
            if (sql_infos[i].id != c->info[k]) continue;
            rc = put_sql_info(conn, &sql_infos[i], name, value, err);
            meta_row_done(t);
            break;
        }
    }
    arrow__flight__protocol__sql__command_get_sql_info__free_unpacked(c, NULL);
    return rc;
}

/* ---- GetXdbcTypeInfo ---------------------------------------------------------------------- */

typedef struct {
    const char *name;
    int32_t data_type;           /* XDBC/JDBC type code */
    int32_t column_size;         /* -1: null */
    const char *prefix, *suffix;
    bool case_sensitive;
    int32_t searchable;
    int unsigned_attr;           /* -1: null */
    bool fixed_prec_scale;
    int32_t min_scale, max_scale; /* -1: null */
    int32_t subcode;             /* -1: null */
    int32_t radix;               /* -1: null */
} xdbc_t;

/* Ordered by data_type, then type_name, as the specification asks. */
static const xdbc_t xdbc_types[] = {
    {"TINYINT", -6, 3, NULL, NULL, false, 2, 0, false, 0, 0, -1, 10},
    {"BIGINT", -5, 19, NULL, NULL, false, 2, 0, false, 0, 0, -1, 10},
    {"BLOB", -3, -1, "'", "'::BLOB", false, 2, -1, false, -1, -1, -1, -1},
    {"DECIMAL", 3, 38, NULL, NULL, false, 2, 0, true, 0, 38, -1, 10},
    {"INTEGER", 4, 10, NULL, NULL, false, 2, 0, false, 0, 0, -1, 10},
    {"SMALLINT", 5, 5, NULL, NULL, false, 2, 0, false, 0, 0, -1, 10},
    {"FLOAT", 6, 24, NULL, NULL, false, 2, 0, false, -1, -1, -1, 2},
    {"DOUBLE", 8, 53, NULL, NULL, false, 2, 0, false, -1, -1, -1, 2},
    {"VARCHAR", 12, -1, "'", "'", true, 3, -1, false, -1, -1, -1, -1},
    {"BOOLEAN", 16, 1, NULL, NULL, false, 2, -1, false, -1, -1, -1, -1},
    {"DATE", 91, 10, "DATE '", "'", false, 2, -1, false, -1, -1, 1, -1},
    {"TIME", 92, 15, "TIME '", "'", false, 2, -1, false, -1, -1, 2, -1},
    {"TIMESTAMP", 93, 26, "TIMESTAMP '", "'", false, 2, -1, false, 0, 6, 3, -1},
    {"TIMESTAMP WITH TIME ZONE", 2014, 32, "TIMESTAMPTZ '", "'", false, 2, -1, false, 0, 6, 5,
     -1},
};

static void put_opt_i32(mcol_t *c, int32_t v)
{
    if (v < 0) meta_null(c);
    else meta_i32(c, v);
}

static int get_xdbc_type_info(duckdb_connection conn, const Google__Protobuf__Any *any,
                              meta_table_t *t, clove_err_t *err)
{
    mcol_t *type_name = meta_col(t, MCOL_UTF8, "type_name", false);
    mcol_t *data_type = meta_col(t, MCOL_INT32, "data_type", false);
    mcol_t *column_size = meta_col(t, MCOL_INT32, "column_size", true);
    mcol_t *prefix = meta_col(t, MCOL_UTF8, "literal_prefix", true);
    mcol_t *suffix = meta_col(t, MCOL_UTF8, "literal_suffix", true);
    mcol_t *create_params = meta_col(t, MCOL_LIST, "create_params", true);
    meta_child(create_params, MCOL_UTF8, "item", false);
    mcol_t *nullable = meta_col(t, MCOL_INT32, "nullable", false);
    mcol_t *case_sensitive = meta_col(t, MCOL_BOOL, "case_sensitive", false);
    mcol_t *searchable = meta_col(t, MCOL_INT32, "searchable", false);
    mcol_t *unsigned_attr = meta_col(t, MCOL_BOOL, "unsigned_attribute", true);
    mcol_t *fixed = meta_col(t, MCOL_BOOL, "fixed_prec_scale", false);
    mcol_t *auto_inc = meta_col(t, MCOL_BOOL, "auto_increment", true);
    mcol_t *local_name = meta_col(t, MCOL_UTF8, "local_type_name", true);
    mcol_t *min_scale = meta_col(t, MCOL_INT32, "minimum_scale", true);
    mcol_t *max_scale = meta_col(t, MCOL_INT32, "maximum_scale", true);
    mcol_t *sql_data_type = meta_col(t, MCOL_INT32, "sql_data_type", false);
    mcol_t *subcode = meta_col(t, MCOL_INT32, "datetime_subcode", true);
    mcol_t *radix = meta_col(t, MCOL_INT32, "num_prec_radix", true);
    mcol_t *interval_precision = meta_col(t, MCOL_INT32, "interval_precision", true);
    if (!conn) return 0;

    Arrow__Flight__Protocol__Sql__CommandGetXdbcTypeInfo *c =
        arrow__flight__protocol__sql__command_get_xdbc_type_info__unpack(NULL, any->value.len,
                                                                       any->value.data);
    if (!c)
        return clove_err_set(err, CLOVE_EINVAL, "malformed Flight SQL CommandGetXdbcTypeInfo");
    bool filter = c->data_type_opt_case != 0;
    int32_t want = c->data_type;
    arrow__flight__protocol__sql__command_get_xdbc_type_info__free_unpacked(c, NULL);

    for (size_t i = 0; i < sizeof(xdbc_types) / sizeof(xdbc_types[0]); i++) {
        const xdbc_t *x = &xdbc_types[i];
        if (filter && x->data_type != want) continue;
        meta_str(type_name, x->name);
        meta_i32(data_type, x->data_type);
        put_opt_i32(column_size, x->column_size);
        meta_str(prefix, x->prefix);
        meta_str(suffix, x->suffix);
        if (x->data_type == 3) {
            meta_str(create_params->children[0], "precision");
            meta_str(create_params->children[0], "scale");
            meta_list_end(create_params);
        } else {
            meta_null(create_params);
        }
        meta_i32(nullable, 1);   /* NULLABILITY_NULLABLE */
        meta_bool(case_sensitive, x->case_sensitive);
        meta_i32(searchable, x->searchable);
        if (x->unsigned_attr < 0) meta_null(unsigned_attr);
        else meta_bool(unsigned_attr, x->unsigned_attr != 0);
        meta_bool(fixed, x->fixed_prec_scale);
        meta_bool(auto_inc, false);
        meta_str(local_name, x->name);
        put_opt_i32(min_scale, x->min_scale);
        put_opt_i32(max_scale, x->max_scale);
        /* sql_data_type: the type code, except datetimes report their SQL-92 family (9) */
        meta_i32(sql_data_type, x->subcode >= 0 ? 9 : x->data_type);
        put_opt_i32(subcode, x->subcode);
        put_opt_i32(radix, x->radix);
        meta_null(interval_precision);
        meta_row_done(t);
    }
    return 0;
}

/* ---- entry -------------------------------------------------------------------------------- */

int flight_catalog_build(duckdb_connection conn, const Google__Protobuf__Any *any,
                         meta_table_t *t, clove_err_t *err)
{
    switch (cat_kind(any->type_url)) {
    case CAT_CATALOGS: return get_catalogs(conn, t, err);
    case CAT_DB_SCHEMAS: return get_db_schemas(conn, any, t, err);
    case CAT_TABLES: return get_tables(conn, any, t, err);
    case CAT_TABLE_TYPES: return get_table_types(conn, t);
    case CAT_PRIMARY_KEYS: return get_primary_keys(conn, any, t, err);
    case CAT_SQL_INFO: return get_sql_info(conn, any, t, err);
    case CAT_XDBC_TYPE_INFO: return get_xdbc_type_info(conn, any, t, err);
    case CAT_NONE: break;
    }
    return clove_err_set(err, CLOVE_EUNSUPPORTED, "not a Flight SQL catalog command");
}
