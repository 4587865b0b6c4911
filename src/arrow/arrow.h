/*
 * arrow: the Arrow IPC stream format (Schema, DictionaryBatch and RecordBatch messages, the
 * end-of-stream marker) written from and read into DuckDB data chunks. DuckDB's Arrow C Data
 * Interface functions (duckdb_to_arrow_schema, duckdb_data_chunk_to_arrow,
 * duckdb_schema_from_arrow, duckdb_data_chunk_from_arrow) do the type conversion; this module
 * turns C Data arrays into IPC messages and back, with its own flatbuffer code.
 *
 * The reader treats its input as hostile: every flatbuffer offset, length, buffer range,
 * offset sequence, dictionary index and nesting depth is checked before anything reads
 * through it, and memory per message is bounded by the caller's limit.
 *
 * Threads: a writer or a reader belongs to one thread at a time; different objects are
 * independent. Chunks returned by the reader may be used and destroyed on any thread.
 */
#ifndef CLOVE_ARROW_H
#define CLOVE_ARROW_H

#include <duckdb.h>

#include "common/common.h"

/* ---- Arrow C Data Interface (the ABI from the Arrow specification) ------------------- */

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};

struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

#endif

/* The end-of-stream marker: 0xFFFFFFFF 0x00000000. */
#define CLOVE_IPC_EOS_BYTES 8
/* Deepest type nesting either side accepts (a list of structs of lists ... counts each). */
#define CLOVE_IPC_MAX_DEPTH 64

/* ---- writer ---------------------------------------------------------------------------- */

typedef struct clove_ipc_writer clove_ipc_writer_t;

/* A piece of a message body: malloc'd memory whoever takes it frees (data NULL once taken). */
typedef struct {
    void *data;
    size_t len;                /* a multiple of 8 */
} clove_ipc_piece_t;

/* One encapsulated message split the way Flight's FlightData carries it: `header` is the
 * Message flatbuffer (data_header), the 8-byte aligned body (data_body) is `body`, or, when
 * n_pieces > 0, the pieces in order (then `body` is empty): a gathered RecordBatch hands
 * over its column buffers without copying them into one. */
typedef struct {
    clove_buf_t header;
    clove_buf_t body;
    clove_ipc_piece_t *pieces;
    size_t n_pieces, cap_pieces;
} clove_ipc_part_t;

/* A growable list of messages (zero or more DictionaryBatch messages, then a RecordBatch). */
typedef struct {
    clove_ipc_part_t *parts;
    size_t n;
    size_t cap;
} clove_ipc_parts_t;

void clove_ipc_parts_init(clove_ipc_parts_t *p);
/* Empties the list, keeping the buffers' memory for reuse (pieces not taken are freed). */
void clove_ipc_parts_reset(clove_ipc_parts_t *p);
void clove_ipc_parts_dispose(clove_ipc_parts_t *p);
/* Appends an empty part; NULL when memory runs out. */
clove_ipc_part_t *clove_ipc_parts_add(clove_ipc_parts_t *p);
/* Body bytes of a part (body or pieces). */
size_t clove_ipc_part_body_len(const clove_ipc_part_t *part);

/* Creates a writer for a result with ncols columns. conn (borrowed, may be NULL) supplies
 * DuckDB's Arrow options (string/offset sizes, lossless conversion, time zone); with NULL the
 * writer opens a private in-memory DuckDB for them (a few milliseconds). Copies names;
 * borrows types for the call only. Returns NULL and fills err when DuckDB cannot express a
 * type in Arrow (CLOVE_EUNSUPPORTED) or memory runs out. */
clove_ipc_writer_t *clove_ipc_writer_create(duckdb_connection conn, idx_t ncols,
                                            const char *const *names,
                                            const duckdb_logical_type *types, clove_err_t *err);
/* The same with DuckDB's Arrow options given (borrowed: they must outlive the writer; e.g.
 * clove_query_arrow_options), which saves reading them from the connection's settings. */
clove_ipc_writer_t *clove_ipc_writer_create_opts(duckdb_arrow_options opts, idx_t ncols,
                                                 const char *const *names,
                                                 const duckdb_logical_type *types,
                                                 clove_err_t *err);
void clove_ipc_writer_destroy(clove_ipc_writer_t *w);
/* True when chunks of these column types (borrowed) have exactly the Arrow form the writer
 * declared in its schema, so they may go on the same stream (e.g. the results of one
 * statement run with several parameter rows). */
bool clove_ipc_writer_accepts(const clove_ipc_writer_t *w, idx_t ncols,
                              const duckdb_logical_type *types);

/* Appends the encapsulated Schema message to out. Returns 0 or CLOVE_ENOMEM. */
int clove_ipc_writer_schema(clove_ipc_writer_t *w, clove_buf_t *out, clove_err_t *err);
/* Appends the messages for one chunk (a DictionaryBatch for each dictionary that changed,
 * then one RecordBatch). The chunk is borrowed. Returns 0, CLOVE_EINVAL when the chunk's
 * columns do not match the writer's, CLOVE_ENOMEM, or CLOVE_EINTERNAL if DuckDB's conversion
 * fails. A failed call leaves out unchanged. */
int clove_ipc_writer_batch(clove_ipc_writer_t *w, duckdb_data_chunk chunk, clove_buf_t *out,
                           clove_err_t *err);
/* Appends the end-of-stream marker. */
void clove_ipc_write_eos(clove_buf_t *out);

/* The same messages as (header, body) pairs appended to parts (the Schema has an empty body). */
int clove_ipc_writer_schema_parts(clove_ipc_writer_t *w, clove_ipc_parts_t *parts,
                                  clove_err_t *err);
int clove_ipc_writer_batch_parts(clove_ipc_writer_t *w, duckdb_data_chunk chunk,
                                 clove_ipc_parts_t *parts, clove_err_t *err);

/* ---- gathering several chunks into one RecordBatch (Flight DoGet) ----------------------- */

/* True when every column has a type the writer copies straight from DuckDB's vectors
 * (booleans, integers, floats, date, time, timestamps, utf8, binary, in the Arrow form
 * DuckDB declares for them): then clove_ipc_writer_gather collects the rows of several
 * chunks into one RecordBatch, skipping DuckDB's Arrow conversion. Otherwise use
 * clove_ipc_writer_batch_parts per chunk. */
bool clove_ipc_writer_can_gather(const clove_ipc_writer_t *w);
/* Copies the rows of chunk (borrowed; flat vectors, as duckdb_fetch_chunk returns them) into
 * the pending RecordBatch. Returns 1 when added; 0 when rows are pending and the batch body
 * would grow past max_body bytes (flush, then call again: with no rows pending a chunk is
 * always added); or a negative code with err filled (CLOVE_EINVAL when the chunk's columns
 * differ from the writer's, CLOVE_ETOOBIG when a string column of one chunk passes 2 GiB in
 * utf8, CLOVE_ENOMEM). */
int clove_ipc_writer_gather(clove_ipc_writer_t *w, duckdb_data_chunk chunk, size_t max_body,
                            clove_err_t *err);
/* Rows pending, and the body bytes they take. */
int64_t clove_ipc_writer_pending_rows(const clove_ipc_writer_t *w);
size_t clove_ipc_writer_pending_bytes(const clove_ipc_writer_t *w);
/* Appends the pending rows as one RecordBatch to parts (its body as pieces, one per column
 * buffer, handed over without a copy) and starts an empty batch. Appends nothing when no rows
 * are pending. Returns 0 or CLOVE_ENOMEM. */
int clove_ipc_writer_flush_parts(clove_ipc_writer_t *w, clove_ipc_parts_t *parts,
                                 clove_err_t *err);

/* Bytes of IPC messages produced so far (for metrics). */
uint64_t clove_ipc_writer_bytes(const clove_ipc_writer_t *w);

/* ---- reader ---------------------------------------------------------------------------- */

typedef struct clove_ipc_reader clove_ipc_reader_t;

/* Creates a reader. conn (borrowed, must outlive the reader; may be NULL) is the DuckDB
 * connection used for the Arrow-to-DuckDB conversion; with NULL the reader opens a private
 * in-memory DuckDB when the schema arrives. max_message_bytes bounds one message (metadata
 * plus body); 0 means 100 MiB. */
clove_ipc_reader_t *clove_ipc_reader_create(duckdb_connection conn, size_t max_message_bytes,
                                            clove_err_t *err);
void clove_ipc_reader_destroy(clove_ipc_reader_t *r);

/* Feeds stream bytes in pieces of any size. Every complete message is decoded and checked;
 * record batches queue up for clove_ipc_reader_next_chunk, so a caller that wants bounded
 * memory drains the queue between pieces. Returns 0 or a negative code with err filled
 * (CLOVE_EINVAL for malformed input, CLOVE_ETOOBIG past the message limit,
 * CLOVE_EUNSUPPORTED for valid Arrow clove cannot read, CLOVE_ENOMEM). After an error the
 * reader stays failed and every later call returns the same error. */
int clove_ipc_reader_feed(clove_ipc_reader_t *r, const uint8_t *data, size_t len,
                          clove_err_t *err);
/* Feeds one message given as its flatbuffer (FlightData.data_header) and body
 * (FlightData.data_body); the body is copied. Same returns as feed. */
int clove_ipc_reader_message(clove_ipc_reader_t *r, const uint8_t *header, size_t hlen,
                             const uint8_t *body, size_t blen, clove_err_t *err);

/* True once the Schema message has been decoded. */
bool clove_ipc_reader_has_schema(const clove_ipc_reader_t *r);
/* True once the end-of-stream marker was read (feed only). */
bool clove_ipc_reader_eos(const clove_ipc_reader_t *r);
/* The schema (valid once has_schema): column count, names and DuckDB types (borrowed, valid
 * for the reader's lifetime). */
idx_t clove_ipc_reader_column_count(const clove_ipc_reader_t *r);
const char *clove_ipc_reader_column_name(const clove_ipc_reader_t *r, idx_t col);
duckdb_logical_type clove_ipc_reader_column_type(const clove_ipc_reader_t *r, idx_t col);

/* Next decoded rows: returns 1 and sets *chunk (at most 2048 rows; the caller destroys it
 * with duckdb_destroy_data_chunk, on any thread, before or after the reader), 0 when no
 * decoded rows are pending (feed more, or the stream is over: see clove_ipc_reader_eos), or a
 * negative code with err filled. */
int clove_ipc_reader_next_chunk(clove_ipc_reader_t *r, duckdb_data_chunk *chunk,
                                clove_err_t *err);

#endif
