/*
 * format: streaming result writers. Turns DuckDB data chunks into the HTTP answer formats:
 * JSON (array of row objects), Spice's application/vnd.spiceai.sql.v1+json, CSV and
 * text/plain (aligned table). A writer appends to a clove_buf_t chunk by chunk so an answer
 * of any size streams with bounded memory (text/plain buffers rows to align columns and is
 * bounded by the caller).
 */
#ifndef CLOVE_FORMAT_H
#define CLOVE_FORMAT_H

#include <duckdb.h>

#include "common/common.h"

typedef enum {
    CLOVE_FMT_JSON = 0,       /* application/json: [{"col":value,...},...] */
    CLOVE_FMT_SPICE_JSON,     /* application/vnd.spiceai.sql.v1+json */
    CLOVE_FMT_CSV,            /* text/csv with header line */
    CLOVE_FMT_TEXT,           /* text/plain aligned table */
} clove_fmt_kind_t;

/* Picks the writer for an Accept header value (NULL or unknown -> JSON). Sets *content_type
 * to the static Content-Type string to send. */
clove_fmt_kind_t clove_fmt_from_accept(const char *accept, const char **content_type);

typedef struct clove_fmt clove_fmt_t;

/* Creates a writer for a result with ncols columns. Copies names; borrows types only for the
 * duration of the call (the writer keeps its own copies). Returns NULL on out of memory. */
clove_fmt_t *clove_fmt_create(clove_fmt_kind_t kind, idx_t ncols, const char *const *names,
                              const duckdb_logical_type *types);
void clove_fmt_destroy(clove_fmt_t *f);

/* Writes what comes before the first row. */
void clove_fmt_begin(clove_fmt_t *f, clove_buf_t *out);
/* Appends every row of the chunk. Returns 0, or CLOVE_ENOMEM / CLOVE_EINTERNAL for an
 * unsupported situation (never crashes on any DuckDB type). */
int clove_fmt_chunk(clove_fmt_t *f, duckdb_data_chunk chunk, clove_buf_t *out);
/* Writes what comes after the last row. elapsed_ms is used by formats that report it. */
void clove_fmt_end(clove_fmt_t *f, clove_buf_t *out, double elapsed_ms);
uint64_t clove_fmt_rows(const clove_fmt_t *f);

/* Appends one value of a DuckDB vector as JSON (exact: full-precision integers, exact
 * decimals, round-trip doubles, ISO-8601 temporal types, nested types as arrays/objects). */
void clove_fmt_json_value(clove_buf_t *out, duckdb_logical_type type, duckdb_vector vec, idx_t row);
/* Appends one value as plain text (CSV/text cells; no quoting). NULL -> "" (CSV) by caller. */
void clove_fmt_text_value(clove_buf_t *out, duckdb_logical_type type, duckdb_vector vec, idx_t row);

#endif
