/*
 * cli_int.h: declarations shared by the files of the `clove` command-line client (src/cli/).
 * Nothing outside src/cli/ includes this header; the CLI is a leaf of the dependency graph.
 * Every non-static symbol is prefixed clove_cli_ because the binary links with clove's core
 * library. The client is single-threaded: every function here runs on the main thread.
 */
#ifndef CLOVE_CLI_INT_H
#define CLOVE_CLI_INT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/common.h"

#ifndef CLOVE_VERSION
#define CLOVE_VERSION "0.1.0-dev"
#endif

/* Exit codes of every command (see docs/cli.md). */
#define CLOVE_CLI_EXIT_OK 0
#define CLOVE_CLI_EXIT_ERROR 1    /* the command ran and failed (server error, no connection) */
#define CLOVE_CLI_EXIT_USAGE 2    /* bad flags or arguments; nothing was sent */
#define CLOVE_CLI_EXIT_NOEXEC 127 /* `clove run` could not start cloved */

/* Default endpoints: `clove sql` speaks Arrow Flight SQL (cloved --flight), the other
 * commands HTTP (cloved --http). */
#define CLOVE_CLI_DEFAULT_ENDPOINT "http://127.0.0.1:8090"
#define CLOVE_CLI_DEFAULT_SQL_ENDPOINT "grpc://127.0.0.1:50051"

/* Answers larger than this are refused instead of exhausting memory on a runaway query. */
#define CLOVE_CLI_MAX_ANSWER_BYTES ((size_t)512 * 1024 * 1024)

/* Set by the SIGINT handler of the interactive REPL; an HTTP request in flight polls it and
 * aborts. Outside the REPL SIGINT keeps its default action and this stays 0. */
extern volatile sig_atomic_t clove_cli_interrupted;

/* ---- options shared by every command ---------------------------------------------------- */

typedef struct {
    const char *endpoint; /* normalized: has a scheme, no trailing slash; owned by main */
    bool flight;          /* endpoint is grpc:// or grpc+tls:// (Flight), else http(s):// */
    const char *api_key;  /* X-API-Key (HTTP) or the Flight Handshake key when not NULL */
    const char *tls_root_cert_file; /* PEM roots for https:// and grpc+tls://, or NULL */
} clove_cli_opts_t;

/* ---- http.c: one libcurl easy handle, reused so the REPL keeps its connection ------------ */

typedef struct clove_cli_client clove_cli_client_t;

typedef struct {
    long status;         /* HTTP status code */
    clove_buf_t body;    /* the answer's body, NUL-terminated */
    char *content_type;  /* Content-Type header value or NULL; owned */
    double seconds;      /* wall time from sending the request to the last byte */
} clove_cli_response_t;

/* Creates a client for opts (borrowed; must outlive the client). Never returns NULL. */
clove_cli_client_t *clove_cli_client_create(const clove_cli_opts_t *opts);
void clove_cli_client_destroy(clove_cli_client_t *c);
const char *clove_cli_client_endpoint(const clove_cli_client_t *c);

/* Sends `method path` with an optional body and waits for the whole answer. Returns 0 when an
 * HTTP answer arrived, whatever its status (resp must then be disposed), or a negative
 * CLOVE_E* with err->message ready to print: CLOVE_EIO for transport failures ("could not
 * connect to clove at URL: Connection refused"), CLOVE_ECANCELED after Ctrl-C, CLOVE_ETOOBIG
 * for answers over CLOVE_CLI_MAX_ANSWER_BYTES. On error resp holds nothing to dispose. */
int clove_cli_http(clove_cli_client_t *c, const char *method, const char *path,
                   const char *body, size_t body_len, const char *content_type,
                   const char *accept, clove_cli_response_t *resp, clove_err_t *err);
void clove_cli_response_dispose(clove_cli_response_t *resp);

/* The message a non-success answer carries: `message` or `error` of a JSON object body, else
 * the body text trimmed, else "HTTP <status>" with a short explanation for common statuses.
 * Returns a new string (caller frees). */
char *clove_cli_response_message(const clove_cli_response_t *resp);

/* Percent-encodes s for use as one URL path segment. Returns a new string (caller frees). */
char *clove_cli_url_escape(const char *s);

/* ---- table.c: rows of text cells and the aligned box renderer -------------------------- */

/* A rectangular grid of NUL-terminated cells; row 0 is the header. Cells are appended left to
 * right, top to bottom; ncols is fixed by clove_cli_table_init or by the first row
 * (clove_cli_table_end_header). */
typedef struct {
    size_t ncols;     /* 0 while the header is still being read */
    size_t ncells;
    clove_buf_t text; /* every cell, each followed by a NUL */
    size_t *offs;     /* offs[i] = offset of cell i in text */
    size_t offs_cap;
} clove_cli_table_t;

void clove_cli_table_init(clove_cli_table_t *t, size_t ncols);
void clove_cli_table_dispose(clove_cli_table_t *t);
/* Appends a cell of n bytes (copied). Returns false if memory ran out. */
bool clove_cli_table_push(clove_cli_table_t *t, const char *s, size_t n);
/* Fixes ncols to the number of cells pushed so far (header read from CSV). */
void clove_cli_table_end_header(clove_cli_table_t *t);
/* Number of data rows (header excluded). */
size_t clove_cli_table_rows(const clove_cli_table_t *t);
/* Cell at row (0 = header) and column; borrowed. */
const char *clove_cli_table_cell(const clove_cli_table_t *t, size_t row, size_t col);
/* Renders the table as an aligned box into out. Returns false if memory ran out. */
bool clove_cli_table_render(const clove_cli_table_t *t, clove_buf_t *out);

/* Display width in terminal columns of a UTF-8 string as the renderer shows it. */
size_t clove_cli_display_width(const char *s);

/* ---- flight.c: `clove sql` over Arrow Flight SQL ------------------------------------------ */

typedef struct clove_cli_flight clove_cli_flight_t;

/* Creates a Flight session for opts (borrowed; must outlive it). Connects lazily, on the
 * first statement, and again after a connection failure. Never returns NULL. */
clove_cli_flight_t *clove_cli_flight_create(const clove_cli_opts_t *opts);
void clove_cli_flight_destroy(clove_cli_flight_t *f);

/* Runs one statement and appends its result to t (initialized with ncols 0): the header,
 * then every row as text cells (NULL as an empty cell). *seconds gets the wall time. Returns
 * 0, or a negative CLOVE_E* with err->message ready to print: CLOVE_EIO when clove could not
 * be reached ("could not connect to clove at grpc://...: ..."), CLOVE_ECANCELED after
 * Ctrl-C, CLOVE_ETOOBIG past CLOVE_CLI_MAX_ANSWER_BYTES, otherwise the server's message
 * (print it as "Error: ..."). */
int clove_cli_flight_sql(clove_cli_flight_t *f, const char *sql, clove_cli_table_t *t,
                         double *seconds, clove_err_t *err);

/* ---- csv.c: RFC 4180 reader ------------------------------------------------------------ */

/* Parses CSV text (header row first, then data rows) into t, which must be initialized with
 * ncols 0. Accepts CRLF or LF line ends and blank lines before the header. Returns 0, or
 * CLOVE_EINVAL / CLOVE_ENOMEM with err filled; t then holds a partial table to dispose. */
int clove_cli_csv_parse(const char *data, size_t len, clove_cli_table_t *t, clove_err_t *err);

/* ---- json.c: JSON answers into tables ------------------------------------------------- */

/* Converts a JSON array of objects into t (initialized with ncols 0). With keys == NULL the
 * columns are the keys of the first object in order; otherwise `keys` (n of them) are looked
 * up and `titles` become the header. Returns 0 or CLOVE_EINVAL with err filled. */
int clove_cli_json_table(const char *json, size_t len, const char *const *keys,
                         const char *const *titles, size_t n, clove_cli_table_t *t,
                         clove_err_t *err);

/* ---- splitter.c: finds statement ends in SQL text ------------------------------------- */

/* Incremental splitter: feed text in pieces, take complete statements out. A statement ends
 * at a `;` outside quotes ('...', E'...', "...", $tag$...$tag$) and comments (--, nested
 * block comments). */
typedef struct {
    clove_buf_t text;  /* text fed and not yet taken */
    size_t pos;        /* scan position in text */
    int state;         /* lexical state at pos */
    int depth;         /* block comment nesting */
    size_t tag_start;  /* dollar quote tag: offset in text and length (with both $) */
    size_t tag_len;
    bool content;      /* a non-blank, non-comment character seen in the current statement */
} clove_cli_splitter_t;

void clove_cli_splitter_init(clove_cli_splitter_t *s);
void clove_cli_splitter_dispose(clove_cli_splitter_t *s);
void clove_cli_splitter_feed(clove_cli_splitter_t *s, const char *text, size_t n);
/* Takes the next complete statement: returns a new string (caller frees) without the `;`
 * and without surrounding blanks, or NULL when none is complete. Statements that hold only
 * blanks and comments are dropped. */
char *clove_cli_splitter_next(clove_cli_splitter_t *s);
/* At the end of input, after clove_cli_splitter_next returned NULL: takes what is left (a
 * last statement without `;`) and empties the splitter; NULL if that is only blanks and
 * comments. */
char *clove_cli_splitter_finish(clove_cli_splitter_t *s);
/* Forgets any partial statement (Ctrl-C at the prompt). */
void clove_cli_splitter_reset(clove_cli_splitter_t *s);
/* True when no part of a statement is pending (only blanks fed since the last one). */
bool clove_cli_splitter_idle(const clove_cli_splitter_t *s);

/* ---- commands -------------------------------------------------------------------------- */

/* Each takes the arguments after the command name (global flags already removed) and
 * returns the process exit code. */
int clove_cli_cmd_sql(const clove_cli_opts_t *opts, int argc, char **argv);
int clove_cli_cmd_status(const clove_cli_opts_t *opts, int argc, char **argv);
int clove_cli_cmd_datasets(const clove_cli_opts_t *opts, int argc, char **argv);
int clove_cli_cmd_refresh(const clove_cli_opts_t *opts, int argc, char **argv);
/* argv are cloved's arguments; returns only when cloved could not be started. */
int clove_cli_cmd_run(int argc, char **argv);

/* Prints "Error: <message>" on stderr. */
void clove_cli_print_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints `clove <cmd>: <message>` and a pointer to --help on stderr; returns
 * CLOVE_CLI_EXIT_USAGE. */
int clove_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Writes buf to stdout; false (and a message) if stdout failed. */
bool clove_cli_write_stdout(const clove_buf_t *buf);

#endif
