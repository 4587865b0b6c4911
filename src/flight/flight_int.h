/*
 * flight_int.h: what the files of src/flight share. A small column builder for Flight SQL
 * metadata results (flight_meta.c) whose Arrow schemas the specification fixes down to each
 * field's nullability and a dense union, which DuckDB's Arrow export cannot express: every
 * column is declared with its exact type and nullability, rows are appended value by value,
 * and the result is encoded as Arrow IPC Schema and RecordBatch messages.
 *
 * Threads: a table belongs to the thread that builds it.
 */
#ifndef CLOVE_FLIGHT_INT_H
#define CLOVE_FLIGHT_INT_H

#include <grpc/grpc.h>

#include "arrow/arrow.h"
#include "engine/engine.h"
#include "common/common.h"

/* ---- flight_auth.c: API keys (runtime.auth.api-key) ---- */
typedef struct flight_auth flight_auth_t;
/* NULL when auth is disabled in the config (every call is then allowed). */
flight_auth_t *flight_auth_create(const clove_config_t *cfg);
void flight_auth_destroy(flight_auth_t *a);
/* The index of the configured key the call's metadata proves (Basic user:KEY, Bearer TOKEN
 * or KEY, x-api-key KEY; >= 0), or -1 when none. For a handshake, a new session token of that
 * key is stored and written to token_out. Thread-safe; a NULL a returns FLIGHT_AUTH_OFF. */
#define FLIGHT_AUTH_OFF INT32_MAX
int flight_auth_check(flight_auth_t *a, const grpc_metadata_array *md, bool handshake,
                      char token_out[33]);
/* True when the key (a flight_auth_check result) may append to datasets: auth is off, or
 * the key is marked ":rw". */
bool flight_auth_can_write(const flight_auth_t *a, int key);

typedef enum {
    MCOL_UTF8 = 0,
    MCOL_BINARY,
    MCOL_BOOL,
    MCOL_INT32,
    MCOL_UINT32,
    MCOL_INT64,
    MCOL_LIST,   /* one child */
    MCOL_STRUCT, /* children */
    MCOL_MAP,    /* one child: a non-null struct "entries" of key and value */
    MCOL_DUNION, /* dense union; type id i is child i */
} mcol_kind_t;

typedef struct mcol mcol_t;
struct mcol {
    char *name;
    mcol_kind_t kind;
    bool nullable;
    mcol_t **children;
    int nchildren;
    int64_t length;
    int64_t null_count;
    clove_buf_t validity;        /* bits, LSB first */
    clove_buf_t offsets;         /* int32: utf8, binary, list, map; dense union offsets */
    clove_buf_t data;            /* values, utf8 bytes, bool bits, union type ids */
};

typedef struct {
    mcol_t **cols;
    int ncols;
    int64_t rows;                /* set by meta_row_done */
} meta_table_t;

/* Column declaration: kind, name, nullable; children are added with meta_child. */
mcol_t *meta_col(meta_table_t *t, mcol_kind_t kind, const char *name, bool nullable);
mcol_t *meta_child(mcol_t *parent, mcol_kind_t kind, const char *name, bool nullable);
void meta_table_dispose(meta_table_t *t);

/* Appending values (a value goes to exactly one column per row; nested children are
 * appended to before their parent's list_end / struct_row / union call). */
void meta_null(mcol_t *c);
void meta_str(mcol_t *c, const char *s);           /* NULL appends a null */
void meta_bin(mcol_t *c, const void *p, size_t n);
void meta_bool(mcol_t *c, bool v);
void meta_i32(mcol_t *c, int32_t v);
void meta_u32(mcol_t *c, uint32_t v);
void meta_i64(mcol_t *c, int64_t v);
void meta_list_end(mcol_t *c);                     /* closes a list/map row over the child
                                                      values appended since the last one */
void meta_struct_row(mcol_t *c);                   /* a non-null struct row */
mcol_t *meta_union(mcol_t *c, int child);          /* returns the child to append one value to */
/* Marks a row complete (every top-level column got one value). */
void meta_row_done(meta_table_t *t);

/* Appends the encapsulated Schema message (continuation, length, flatbuffer) to out. */
int meta_schema(const meta_table_t *t, clove_buf_t *out, clove_err_t *err);
/* Appends the Schema message, then one RecordBatch message holding every row, as parts. */
int meta_parts(const meta_table_t *t, clove_ipc_parts_t *parts, clove_err_t *err);

/* ---- catalog commands (flight_catalog.c) ---------------------------------------------- */

#include "google/protobuf/any.pb-c.h"

/* True when type_url names one of the catalog commands served by flight_catalog_build. */
bool flight_catalog_is_command(const char *type_url);
/* Declares the command's result columns in t (empty on entry) and, when conn is not NULL,
 * fills the rows by reading DuckDB's catalog on conn (borrowed; used on this thread only).
 * With conn NULL only the schema is built (GetSchema, GetFlightInfo). Returns 0 or a negative
 * code with err filled (CLOVE_EINVAL for a malformed command). */
int flight_catalog_build(duckdb_connection conn, const Google__Protobuf__Any *any,
                         meta_table_t *t, clove_err_t *err);

/* ---- the Flight SQL command decoder (flight_cmd.c) --------------------------------------- */

#include "Flight.pb-c.h"

#define FLIGHT_TYPE_URL_PREFIX "type.googleapis.com/"
#define FLIGHT_SQL_TYPE_PREFIX FLIGHT_TYPE_URL_PREFIX "arrow.flight.protocol.sql."

typedef enum {
    FLIGHT_CMD_STATEMENT = 1, /* CommandStatementQuery: sql */
    FLIGHT_CMD_TICKET,        /* TicketStatementQuery or a raw UTF-8 SQL ticket: sql */
    FLIGHT_CMD_PREPARED,      /* CommandPreparedStatementQuery: handle */
    FLIGHT_CMD_CATALOG,       /* a catalog command (flight_catalog_is_command): any */
    FLIGHT_CMD_INGEST,        /* CommandStatementIngest (append only) or a PATH: table */
} flight_cmd_kind_t;

typedef struct {
    flight_cmd_kind_t kind;
    char *sql;                   /* NUL-free, non-empty */
    ProtobufCBinaryData handle;
    char *table;                 /* the dataset named, as given (maybe "public.x") */
    Google__Protobuf__Any *any;  /* FLIGHT_CMD_CATALOG: the command for flight_catalog_build */
} flight_cmd_t;

/* Decodes a command: `data` is a google.protobuf.Any holding a Flight SQL command, or with
 * raw_sql also raw UTF-8 SQL (a DoGet ticket that is not an Any with a type URL). Fills out
 * (zeroed first; release with flight_cmd_dispose). Returns 0, or with err filled
 * CLOVE_EINVAL (malformed protobuf, empty or NUL-holding SQL, bad ingest options),
 * CLOVE_EUNSUPPORTED (a command clove does not serve: UNIMPLEMENTED), CLOVE_ENOTFOUND
 * (an ingest catalog or schema other than spice.public). */
int flight_cmd_decode(const uint8_t *data, size_t len, bool raw_sql, flight_cmd_t *out,
                      clove_err_t *err);
/* The same for an unpacked Any, whose ownership it takes (kept in out->any or freed). */
int flight_cmd_decode_any(Google__Protobuf__Any *any, flight_cmd_t *out, clove_err_t *err);
/* The command of a FlightDescriptor: CMD, or with path_ok a PATH naming a dataset (DoPut's
 * form in the Spice runtime; FLIGHT_CMD_INGEST with the path joined by "."). */
int flight_cmd_from_descriptor(const Arrow__Flight__Protocol__FlightDescriptor *desc,
                               bool path_ok, flight_cmd_t *out, clove_err_t *err);
void flight_cmd_dispose(flight_cmd_t *c);

typedef enum { FLIGHT_ACTION_CREATE_PREPARED = 1, FLIGHT_ACTION_CLOSE_PREPARED } flight_action_kind_t;

typedef struct {
    flight_action_kind_t kind;
    char *sql;                   /* CreatePreparedStatement */
    ProtobufCBinaryData handle;  /* ClosePreparedStatement */
} flight_action_t;

/* Decodes a packed Action (DoAction's request). Returns 0 or CLOVE_EINVAL /
 * CLOVE_EUNSUPPORTED (unknown action) with err filled; release with flight_action_dispose. */
int flight_action_decode(const uint8_t *data, size_t len, flight_action_t *out,
                         clove_err_t *err);
void flight_action_dispose(flight_action_t *a);

/* Copies bytes into a NUL-terminated SQL string; NULL (err filled) when empty or holding a
 * NUL. */
char *flight_sql_from_bytes(const uint8_t *data, size_t len, clove_err_t *err);
/* Packs `inner` into a google.protobuf.Any with type_url `type` and that into *out (caller
 * frees out->data). */
void flight_pack_any(const char *type, const ProtobufCMessage *inner, ProtobufCBinaryData *out);

/* ---- prepared statements (flight_prepared.c) ------------------------------------------- */

/* How long an unused handle lives, also reported as FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT. */
#define FLIGHT_PREPARED_IDLE_MS (10 * 60 * 1000)
/* Open handles at most (all clients together). */
#define FLIGHT_PREPARED_MAX 1024
#define FLIGHT_HANDLE_LEN 32

extern const int32_t clove_flight_statement_timeout_ms;

typedef struct flight_pstmts flight_pstmts_t;

/* Parameter rows one DoPut may bind (each row runs the statement once). */
#define FLIGHT_MAX_PARAM_ROWS 65536

/* A snapshot of one handle (owned by the caller, freed with flight_pstmt_dispose). */
typedef struct {
    char *sql;
    clove_param_t *params;       /* n_rows rows of n_params positional values, row after row;
                                    strings owned */
    size_t n_params;             /* values per row */
    size_t n_rows;               /* 0: nothing bound */
    clove_buf_t dataset_schema;  /* encapsulated IPC Schema, may be empty */
} flight_pstmt_t;

void flight_pstmt_dispose(flight_pstmt_t *p);

/* ---- parameter values from Arrow batches (flight_params.c) ------------------------------ */

/* Parameter rows being collected from a DoPut: n_rows rows of n_params values. */
typedef struct {
    clove_param_t *params;
    size_t n_params;
    size_t n_rows;
    size_t cap;                  /* values allocated */
} flight_param_rows_t;

/* Appends every row of a decoded parameter batch (column i = parameter i + 1) as typed
 * values (CLOVE_PARAM_TYPED, NULL for nulls). Returns 0, or CLOVE_EUNSUPPORTED for a type
 * that cannot be bound (nested types), CLOVE_EINVAL when batches differ in column count,
 * CLOVE_ETOOBIG past FLIGHT_MAX_PARAM_ROWS; rows already collected stay. */
int flight_params_append_chunk(duckdb_data_chunk chunk, flight_param_rows_t *rows,
                               clove_err_t *err);
void flight_param_rows_dispose(flight_param_rows_t *rows);
/* Frees n values, their strings and the array. */
void flight_params_free(clove_param_t *params, size_t n);

flight_pstmts_t *flight_pstmts_create(void);
void flight_pstmts_destroy(flight_pstmts_t *t);
/* Registers a statement; writes its handle (FLIGHT_HANDLE_LEN hex chars + NUL) to handle.
 * Copies sql and the schema. CLOVE_EBUSY when the table is full of live handles. */
int flight_pstmts_add(flight_pstmts_t *t, const char *sql, const clove_buf_t *dataset_schema,
                      char handle[FLIGHT_HANDLE_LEN + 1], clove_err_t *err);
/* Copies the statement into *out and marks it used. CLOVE_ENOTFOUND for an unknown or
 * expired handle. */
int flight_pstmts_get(flight_pstmts_t *t, const uint8_t *handle, size_t len, flight_pstmt_t *out,
                      clove_err_t *err);
/* Replaces the bound parameters with n_rows rows of n_params values (takes ownership of
 * params, also on failure). */
int flight_pstmts_bind(flight_pstmts_t *t, const uint8_t *handle, size_t len,
                       clove_param_t *params, size_t n_params, size_t n_rows, clove_err_t *err);
int flight_pstmts_close(flight_pstmts_t *t, const uint8_t *handle, size_t len, clove_err_t *err);

#endif
