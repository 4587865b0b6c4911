/*
 * format_int.h: what the files of src/format share and nothing outside uses (the unit test
 * also reaches in). Number and date/time text conversions (numfmt.c) and the per-type plans
 * that drive the value writers (value.c).
 */
#ifndef CLOVE_FORMAT_INT_H
#define CLOVE_FORMAT_INT_H

#include <duckdb.h>

#include "common/common.h"
#include "format/format.h"

/* ---- number and time text (numfmt.c); each writes into out and returns the length ------ */

/* Room any of these may need: the longest is an INTERVAL with every field at its minimum,
 * "-178956970 years -8 months -2147483648 days -2562047788:00:54.775808" (68 bytes). */
#define CLOVE_FMT_NUM_MAX 96

size_t clove_fmt_u64(char *out, uint64_t v);
size_t clove_fmt_i64(char *out, int64_t v);
size_t clove_fmt_u128(char *out, uint64_t hi, uint64_t lo);
size_t clove_fmt_i128(char *out, int64_t hi, uint64_t lo);
/* An integer with `scale` digits after the point, every one written ("1.50", "-0.05"). */
size_t clove_fmt_decimal(char *out, bool negative, uint64_t hi, uint64_t lo, unsigned scale);
/* Shortest text that reads back as the same value, laid out like Arrow's JSON and CSV writers
 * (Rust lexical-core): "1.0", "0.1", "-0.0", "123456789.0", "1.0e300", "1.5e-7". The caller
 * handles NaN and infinities. */
size_t clove_fmt_double(char *out, double v);
size_t clove_fmt_float(char *out, float v);

/* Days since 1970-01-01 as YYYY-MM-DD (proleptic Gregorian, astronomical years: year 0 is
 * 1 BC; years outside 0..9999 carry a sign: "+10000-01-01", "-0044-03-15"). */
size_t clove_fmt_date(char *out, int64_t days);
/* Nanoseconds since midnight as HH:MM:SS with a fraction of 0, 3, 6 or 9 digits, whichever is
 * the shortest exact one ("12:00:00", "12:00:00.500", "12:00:00.000001"). */
size_t clove_fmt_time_ns(char *out, int64_t nanos);
/* ISO-8601 date-time: "2024-01-02T03:04:05[.fff]", from a count of `unit_ns` nanoseconds
 * (1e9, 1e6, 1e3 or 1) since the epoch. */
size_t clove_fmt_timestamp(char *out, int64_t v, int64_t unit_ns);
/* "+05:30" / "-07:00:30" from an offset in seconds east of UTC. */
size_t clove_fmt_utc_offset(char *out, int32_t seconds);
/* DuckDB's own INTERVAL text: "1 year 2 months 3 days 04:05:06.789", "00:00:00". */
size_t clove_fmt_interval(char *out, int32_t months, int32_t days, int64_t micros);
/* 8-4-4-4-12 lower-case hex from DuckDB's UUID storage (a hugeint with the top bit flipped). */
size_t clove_fmt_uuid(char *out, uint64_t hi, uint64_t lo);

/* ---- type plans (value.c) -------------------------------------------------------------- */

/* Everything a writer needs to know about one DuckDB type, taken from the logical type once so
 * the per-row path never calls into the type API. Children: LIST/ARRAY one, MAP two (key,
 * value), STRUCT and UNION one per field/member. */
typedef struct clove_fmt_node {
    duckdb_type id;
    duckdb_type storage;          /* DECIMAL: physical type; ENUM: index type */
    uint8_t width, scale;         /* DECIMAL */
    idx_t array_size;             /* ARRAY */
    idx_t nchildren;
    struct clove_fmt_node *children;
    char **keys;                  /* STRUCT/UNION: pre-escaped `"name":` per child */
    size_t *key_lens;
    char **names;                 /* STRUCT/UNION: raw child names */
    char **dict;                  /* ENUM: pre-escaped JSON strings ("\"a\"") */
    size_t *dict_lens;
    size_t *dict_raw_lens;        /* ENUM: raw length = the text between the quotes if plain */
    char **dict_raw;              /* ENUM: raw member names */
    idx_t dict_size;
    bool map_string_keys;         /* MAP: keys are VARCHAR -> JSON object */
} clove_fmt_node_t;

/* Fills node from type (borrowed). Returns 0 or CLOVE_ENOMEM (node is then disposed). */
int clove_fmt_node_init(clove_fmt_node_t *node, duckdb_logical_type type);
void clove_fmt_node_dispose(clove_fmt_node_t *node);

/* Appends the JSON text of a non-NULL value. data is duckdb_vector_get_data(vec). */
void clove_fmt_node_json(clove_buf_t *out, const clove_fmt_node_t *node, duckdb_vector vec,
                         const void *data, idx_t row);
/* Appends the plain text of a non-NULL value: strings raw, nested types as JSON. */
void clove_fmt_node_text(clove_buf_t *out, const clove_fmt_node_t *node, duckdb_vector vec,
                         const void *data, idx_t row);
/* Appends the Arrow data type, as Arrow's serde JSON spells it ("Int64",
 * {"Decimal128":[18,3]}, {"List":{field}}), that DuckDB's Arrow export gives this type. */
void clove_fmt_node_arrow_type(clove_buf_t *out, const clove_fmt_node_t *node);
/* Appends an Arrow field object {"name":..,"data_type":..,"nullable":..,"dict_id":0,
 * "dict_is_ordered":false,"metadata":{}}. */
void clove_fmt_arrow_field(clove_buf_t *out, const char *name, size_t name_len,
                           const clove_fmt_node_t *node, bool nullable);

static inline bool clove_fmt_valid(const uint64_t *validity, idx_t row)
{
    return !validity || (validity[row >> 6] >> (row & 63)) & 1;
}

/* Room for n more bytes plus the NUL at out->data + out->len, or NULL when out of memory (the
 * buffer is then marked failed). */
static inline char *clove_fmt_room(clove_buf_t *out, size_t n)
{
    if (out->len + n + 1 > out->cap && !clove_buf_reserve(out, n)) return NULL;
    return out->data + out->len;
}

#endif
