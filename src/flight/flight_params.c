/*
 * flight_params.c: prepared statement parameters from the Arrow batches a Flight SQL client
 * sends with DoPut(CommandPreparedStatementQuery). Column i of the batch is parameter i + 1;
 * every row is one set of values (the statement runs once per row). Values keep their exact
 * type (CLOVE_PARAM_TYPED): a date stays a DATE, a decimal a DECIMAL(w, s), a binary a BLOB,
 * so `SELECT ?` answers the type the client sent.
 *
 * Threads: pure functions over the caller's data.
 */
#include "flight/flight_int.h"

#include <stdlib.h>
#include <string.h>

/* A DuckDB UUID vector holds the 128 bits with the top bit flipped (so signed order is
 * byte order); clove_param_t carries the plain bits. */
#define UUID_FLIP (UINT64_C(1) << 63)

static char *copy_bytes(const char *s, size_t len)
{
    char *c = clove_xmalloc(len + 1);
    memcpy(c, s, len);
    c[len] = '\0';
    return c;
}

/* The unscaled value of a DECIMAL vector entry, widened to 128 bits. */
static duckdb_hugeint decimal_at(duckdb_logical_type lt, const void *data, idx_t row)
{
    duckdb_hugeint h = {0, 0};
    int64_t v;
    switch (duckdb_decimal_internal_type(lt)) {
    case DUCKDB_TYPE_SMALLINT: v = ((const int16_t *)data)[row]; break;
    case DUCKDB_TYPE_INTEGER: v = ((const int32_t *)data)[row]; break;
    case DUCKDB_TYPE_BIGINT: v = ((const int64_t *)data)[row]; break;
    default: return ((const duckdb_hugeint *)data)[row];
    }
    h.lower = (uint64_t)v;
    h.upper = v < 0 ? -1 : 0;
    return h;
}

static const char *type_name(duckdb_type id)
{
    switch (id) {
    case DUCKDB_TYPE_LIST: return "LIST";
    case DUCKDB_TYPE_ARRAY: return "ARRAY";
    case DUCKDB_TYPE_STRUCT: return "STRUCT";
    case DUCKDB_TYPE_MAP: return "MAP";
    case DUCKDB_TYPE_UNION: return "UNION";
    case DUCKDB_TYPE_TIME_TZ: return "TIME WITH TIME ZONE";
    case DUCKDB_TYPE_UHUGEINT: return "UHUGEINT";
    case DUCKDB_TYPE_BIT: return "BIT";
    default: return "this type";
    }
}

/* One value: column col (0-based) of row `row`. */
static int param_at(duckdb_vector v, duckdb_logical_type lt, idx_t row, idx_t col,
                    clove_param_t *p, clove_err_t *err)
{
    uint64_t *valid = duckdb_vector_get_validity(v);
    memset(p, 0, sizeof(*p));
    duckdb_type id = duckdb_get_type_id(lt);
    if (id == DUCKDB_TYPE_SQLNULL || (valid && !duckdb_validity_row_is_valid(valid, row))) {
        p->kind = CLOVE_PARAM_NULL;
        return 0;
    }
    const void *data = duckdb_vector_get_data(v);
    p->kind = CLOVE_PARAM_TYPED;
    p->type = id;
    switch (id) {
    case DUCKDB_TYPE_BOOLEAN: p->b = ((const bool *)data)[row]; break;
    case DUCKDB_TYPE_TINYINT: p->i = ((const int8_t *)data)[row]; break;
    case DUCKDB_TYPE_SMALLINT: p->i = ((const int16_t *)data)[row]; break;
    case DUCKDB_TYPE_INTEGER: p->i = ((const int32_t *)data)[row]; break;
    case DUCKDB_TYPE_BIGINT: p->i = ((const int64_t *)data)[row]; break;
    case DUCKDB_TYPE_UTINYINT: p->u = ((const uint8_t *)data)[row]; break;
    case DUCKDB_TYPE_USMALLINT: p->u = ((const uint16_t *)data)[row]; break;
    case DUCKDB_TYPE_UINTEGER: p->u = ((const uint32_t *)data)[row]; break;
    case DUCKDB_TYPE_UBIGINT: p->u = ((const uint64_t *)data)[row]; break;
    case DUCKDB_TYPE_HUGEINT: p->h = ((const duckdb_hugeint *)data)[row]; break;
    case DUCKDB_TYPE_FLOAT: p->d = ((const float *)data)[row]; break;
    case DUCKDB_TYPE_DOUBLE: p->d = ((const double *)data)[row]; break;
    case DUCKDB_TYPE_DATE: p->i = ((const duckdb_date *)data)[row].days; break;
    case DUCKDB_TYPE_TIME: p->i = ((const duckdb_time *)data)[row].micros; break;
    case DUCKDB_TYPE_TIMESTAMP:
    case DUCKDB_TYPE_TIMESTAMP_TZ:
    case DUCKDB_TYPE_TIMESTAMP_S:
    case DUCKDB_TYPE_TIMESTAMP_MS:
    case DUCKDB_TYPE_TIMESTAMP_NS: p->i = ((const int64_t *)data)[row]; break;
    case DUCKDB_TYPE_INTERVAL: p->interval = ((const duckdb_interval *)data)[row]; break;
    case DUCKDB_TYPE_DECIMAL:
        p->width = duckdb_decimal_width(lt);
        p->scale = duckdb_decimal_scale(lt);
        p->h = decimal_at(lt, data, row);
        break;
    case DUCKDB_TYPE_UUID:
        p->h = ((const duckdb_hugeint *)data)[row];
        p->h.upper = (int64_t)((uint64_t)p->h.upper ^ UUID_FLIP);
        break;
    case DUCKDB_TYPE_VARCHAR:
    case DUCKDB_TYPE_BLOB: {
        duckdb_string_t *str = &((duckdb_string_t *)data)[row];
        p->len = duckdb_string_t_length(*str);
        p->s = copy_bytes(duckdb_string_t_data(str), p->len);
        break;
    }
    case DUCKDB_TYPE_ENUM: { /* a dictionary-encoded string column */
        idx_t k;
        switch (duckdb_enum_internal_type(lt)) {
        case DUCKDB_TYPE_UTINYINT: k = ((const uint8_t *)data)[row]; break;
        case DUCKDB_TYPE_USMALLINT: k = ((const uint16_t *)data)[row]; break;
        default: k = ((const uint32_t *)data)[row]; break;
        }
        char *s = duckdb_enum_dictionary_value(lt, k);
        p->type = DUCKDB_TYPE_VARCHAR;
        p->len = s ? strlen(s) : 0;
        p->s = copy_bytes(s ? s : "", p->len);
        duckdb_free(s);
        break;
    }
    default:
        p->kind = CLOVE_PARAM_NULL;
        return clove_err_set(err, CLOVE_EUNSUPPORTED,
                             "parameter %llu has a type clove cannot bind (%s, DuckDB type id "
                             "%d); send booleans, integers, floats, decimals, strings, binary, "
                             "dates, times, timestamps, intervals, UUIDs or nulls",
                             (unsigned long long)col + 1, type_name(id), (int)id);
    }
    return 0;
}

int flight_params_append_chunk(duckdb_data_chunk chunk, flight_param_rows_t *rows,
                               clove_err_t *err)
{
    idx_t ncols = duckdb_data_chunk_get_column_count(chunk);
    idx_t size = duckdb_data_chunk_get_size(chunk);
    if (rows->n_rows == 0) rows->n_params = ncols;
    if (ncols != rows->n_params)
        return clove_err_set(err, CLOVE_EINVAL, "parameter batches differ in their column count "
                             "(%llu, then %llu)", (unsigned long long)rows->n_params,
                             (unsigned long long)ncols);
    if (rows->n_rows + size > FLIGHT_MAX_PARAM_ROWS)
        return clove_err_set(err, CLOVE_ETOOBIG, "more than %d parameter rows in one DoPut: "
                             "bind fewer rows at a time", FLIGHT_MAX_PARAM_ROWS);
    if (ncols == 0 || size == 0) {
        rows->n_rows += size;
        return 0;
    }
    size_t need = (rows->n_rows + size) * ncols;
    if (need > rows->cap) {
        size_t cap = rows->cap ? rows->cap : 64;
        while (cap < need) cap *= 2;
        rows->params = clove_xrealloc(rows->params, cap * sizeof(*rows->params));
        rows->cap = cap;
    }
    clove_param_t *base = rows->params + rows->n_rows * ncols;
    memset(base, 0, size * ncols * sizeof(*base));
    for (idx_t c = 0; c < ncols; c++) {
        duckdb_vector v = duckdb_data_chunk_get_vector(chunk, c);
        duckdb_logical_type lt = duckdb_vector_get_column_type(v);
        int rc = 0;
        for (idx_t r = 0; r < size && rc == 0; r++)
            rc = param_at(v, lt, r, c, &base[r * ncols + c], err);
        duckdb_destroy_logical_type(&lt);
        if (rc) {
            /* the rows of this chunk are not counted: free what was filled */
            for (size_t k = 0; k < size * ncols; k++) free((char *)base[k].s);
            return rc;
        }
    }
    rows->n_rows += size;
    return 0;
}

void flight_param_rows_dispose(flight_param_rows_t *rows)
{
    if (rows->params) flight_params_free(rows->params, rows->n_rows * rows->n_params);
    memset(rows, 0, sizeof(*rows));
}

void flight_params_free(clove_param_t *params, size_t n)
{
    for (size_t i = 0; i < n; i++) free((char *)params[i].s);
    free(params);
}
