/*
 * sql.c: `clove sql`, the SQL shell over Arrow Flight SQL or HTTP. Three ways in, one
 * pipeline: statements typed at the interactive prompt (libedit, history in ~/.clove_history),
 * statements given with -e, and statements read from a stdin that is not a terminal. Text
 * goes through the splitter, and each complete statement runs either over Flight (grpc://,
 * grpc+tls://: GetFlightInfo + DoGet, Arrow batches turned into cells by flight.c) or over
 * HTTP (http://, https://: POSTed to /v1/sql with `Accept: text/csv`, parsed per RFC 4180 so
 * column order and duplicate names survive); either way the result is drawn as an aligned
 * table. Interactive sessions report errors and carry on; scripted ones stop at the
 * first error and exit 1.
 */
#include "cli/cli_int.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <editline/readline.h>

#define HISTORY_FILE ".clove_history"
#define HISTORY_MAX 1000
#define PROMPT "sql> "
#define PROMPT_MORE "  -> "

typedef struct {
    const clove_cli_opts_t *opts;
    clove_cli_client_t *client;  /* HTTP endpoints */
    clove_cli_flight_t *flight;  /* Flight endpoints */
    bool interactive; /* a person at a terminal: timing lines, errors do not end the session */
    bool failed;      /* a statement or command failed (scripted sessions stop) */
    bool quit;        /* \q, .exit or .quit */
} session_t;

static const char sql_help[] =
    "usage: clove sql [-e SQL]... [--endpoint URL] [--api-key KEY]\n"
    "                 [--tls-root-certificate-file FILE]\n"
    "\n"
    "Runs SQL against clove over Arrow Flight SQL (grpc:// or grpc+tls:// endpoints) or HTTP\n"
    "(http:// or https://, POST /v1/sql) and prints each result as a table.\n"
    "\n"
    "  -e, --execute SQL   run SQL (one or more statements separated by ';') and exit;\n"
    "                      may be given several times\n"
    "  --endpoint URL      clove's Flight or HTTP address (default\n"
    "                      " CLOVE_CLI_DEFAULT_SQL_ENDPOINT "; env CLOVE_ENDPOINT; no scheme\n"
    "                      means http://)\n"
    "  --api-key KEY       API key: Flight Basic handshake, or X-API-Key over HTTP\n"
    "  --tls-root-certificate-file FILE\n"
    "                      PEM root certificates for grpc+tls:// and https://\n"
    "  -h, --help          show this help\n"
    "\n"
    "Without -e and with a terminal on stdin, starts an interactive shell; statements end with\n"
    "';'. With stdin from a file or pipe, runs every statement in it and stops at the first\n"
    "error. Type .help in the shell for its commands.\n";

static const char repl_help[] =
    "Statements end with ';' and may span lines.\n"
    "  .tables          list tables (SHOW TABLES)\n"
    "  .help            show this help\n"
    "  .exit, .quit, \\q leave (Ctrl-D too)\n"
    "Ctrl-C clears the statement being typed or cancels the running query.\n";

/* ---- one statement --------------------------------------------------------------------- */

static bool is_json(const char *content_type)
{
    return content_type && strncasecmp(content_type, "application/json", 16) == 0;
}

/* Prints a failed statement's error: transport failures as they are, the rest as "Error:". */
static void print_failure(const session_t *ss, int rc, const clove_err_t *err)
{
    if (rc == CLOVE_ECANCELED)
        fputs(ss->interactive ? "\nquery canceled\n" : "query canceled\n", stderr);
    else if (rc == CLOVE_EIO)
        fprintf(stderr, "%s\n", err->message); /* "could not connect to clove at ...: ..." */
    else
        clove_cli_print_error("%s", err->message);
}

/* Renders the table (and the timing line when interactive) and writes it to stdout. */
static bool print_table(const session_t *ss, const clove_cli_table_t *table, double seconds)
{
    clove_buf_t out;
    clove_buf_init(&out);
    bool ok = false;
    if (!clove_cli_table_render(table, &out)) {
        clove_cli_print_error("out of memory drawing the result");
        goto done;
    }
    if (ss->interactive) {
        size_t rows = clove_cli_table_rows(table);
        clove_buf_printf(&out, "(%zu row%s in %.3fs)\n\n", rows, rows == 1 ? "" : "s",
                         seconds);
    }
    ok = clove_cli_write_stdout(&out);
done:
    clove_buf_dispose(&out);
    return ok;
}

static bool run_statement_flight(session_t *ss, const char *sql)
{
    clove_cli_table_t table;
    clove_err_t err;
    double seconds = 0;
    bool ok = false;

    clove_cli_table_init(&table, 0);
    clove_err_clear(&err);
    int rc = clove_cli_flight_sql(ss->flight, sql, &table, &seconds, &err);
    if (rc != 0) print_failure(ss, rc, &err);
    else ok = print_table(ss, &table, seconds);
    clove_cli_table_dispose(&table);
    return ok;
}

/* Runs one statement and prints its result; returns false (after printing why) on failure. */
static bool run_statement(session_t *ss, const char *sql)
{
    if (ss->flight) return run_statement_flight(ss, sql);

    clove_cli_response_t resp;
    clove_cli_table_t table;
    clove_err_t err;
    bool ok = false;

    clove_cli_table_init(&table, 0);
    clove_err_clear(&err);

    int rc = clove_cli_http(ss->client, "POST", "/v1/sql", sql, strlen(sql),
                            "text/plain; charset=utf-8", "text/csv", &resp, &err);
    if (rc == CLOVE_ECANCELED) {
        fputs(ss->interactive ? "\nquery canceled\n" : "query canceled\n", stderr);
        goto done;
    }
    if (rc != 0) {
        fprintf(stderr, "%s\n", err.message); /* "could not connect to clove at ...: ..." */
        goto done;
    }
    if (resp.status < 200 || resp.status > 299) {
        char *msg = clove_cli_response_message(&resp);
        clove_cli_print_error("%s", msg);
        free(msg);
        goto done_resp;
    }
    if (is_json(resp.content_type))
        rc = clove_cli_json_table(resp.body.data, resp.body.len, NULL, NULL, 0, &table, &err);
    else
        rc = clove_cli_csv_parse(resp.body.data, resp.body.len, &table, &err);
    if (rc != 0) {
        clove_cli_print_error("%s", err.message);
        goto done_resp;
    }
    ok = print_table(ss, &table, resp.seconds);

done_resp:
    clove_cli_response_dispose(&resp);
done:
    clove_cli_table_dispose(&table);
    return ok;
}

/* ---- shell commands and input ---------------------------------------------------------- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* If line is a shell command (.tables, \q, ...), runs it and returns true. */
static bool shell_command(session_t *ss, const char *line)
{
    size_t b = 0, e = strlen(line);
    while (b < e && is_blank(line[b])) b++;
    if (b == e || (line[b] != '.' && line[b] != '\\')) return false;
    while (e > b && (is_blank(line[e - 1]) || line[e - 1] == ';')) e--;
    char *cmd = clove_xstrndup(line + b, e - b);

    if (!strcmp(cmd, "\\q") || !strcmp(cmd, ".exit") || !strcmp(cmd, ".quit")) {
        ss->quit = true;
    } else if (!strcmp(cmd, ".tables")) {
        if (!run_statement(ss, "SHOW TABLES")) ss->failed = true;
    } else if (!strcmp(cmd, ".help") || !strcmp(cmd, "\\?")) {
        fputs(repl_help, stdout);
        fflush(stdout);
    } else {
        clove_cli_print_error("unknown command \"%s\"; type .help for the list", cmd);
        ss->failed = true;
    }
    free(cmd);
    return true;
}

/* Runs every statement the splitter holds complete. */
static void drain(session_t *ss, clove_cli_splitter_t *spl)
{
    char *stmt;
    while (!ss->quit && (ss->interactive || !ss->failed) &&
           (stmt = clove_cli_splitter_next(spl)) != NULL) {
        if (ss->interactive) {
            char *h = clove_xasprintf("%s;", stmt);
            add_history(h);
            free(h);
        }
        if (!run_statement(ss, stmt)) ss->failed = true;
        free(stmt);
    }
}

/* Feeds one unit of input: a line (with its newline) or an -e argument. */
static void feed(session_t *ss, clove_cli_splitter_t *spl, const char *text, size_t n)
{
    if (clove_cli_splitter_idle(spl) && shell_command(ss, text)) {
        if (ss->interactive) {
            char *h = clove_xstrndup(text, n && text[n - 1] == '\n' ? n - 1 : n);
            add_history(h);
            free(h);
        }
        return;
    }
    clove_cli_splitter_feed(spl, text, n);
    drain(ss, spl);
}

static void finish(session_t *ss, clove_cli_splitter_t *spl)
{
    if (ss->quit || (!ss->interactive && ss->failed)) return;
    char *stmt = clove_cli_splitter_finish(spl);
    if (stmt && !run_statement(ss, stmt)) ss->failed = true;
    free(stmt);
}

/* ---- interactive shell ----------------------------------------------------------------- */

static void on_sigint(int sig)
{
    clove_cli_interrupted = 1;
}

static char *history_path(void)
{
    const char *home = getenv("HOME");
    if (!home || !home[0]) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home || !home[0]) return NULL;
    return clove_xasprintf("%s/%s", home, HISTORY_FILE);
}

static void repl(session_t *ss, clove_cli_splitter_t *spl)
{
    struct sigaction sa, old_sa;
    char *hist = history_path();

    setlocale(LC_CTYPE, ""); /* lets libedit edit multi-byte characters */
    rl_readline_name = "clove";
    using_history();
    stifle_history(HISTORY_MAX);
    if (hist) {
        /* the history can hold secrets typed in SQL: keep it private from the start */
        int fd = open(hist, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) close(fd);
        read_history(hist);
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART: a blocked read returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_sa);

    printf("clove %s SQL shell on %s; end statements with ';', type .help for help\n",
           CLOVE_VERSION, ss->opts->endpoint);
    fflush(stdout);

    while (!ss->quit) {
        clove_cli_interrupted = 0;
        char *line = readline(clove_cli_splitter_idle(spl) ? PROMPT : PROMPT_MORE);
        if (!line) {
            if (clove_cli_interrupted) { /* Ctrl-C at the prompt: drop the partial statement */
                clove_cli_splitter_reset(spl);
                putchar('\n');
                continue;
            }
            putchar('\n'); /* Ctrl-D */
            break;
        }
        if (clove_cli_interrupted) {
            clove_cli_splitter_reset(spl);
            free(line);
            continue;
        }
        /* with its newline, so a trailing -- comment ends here and the prompt is right */
        char *text = clove_xasprintf("%s\n", line);
        feed(ss, spl, text, strlen(text));
        free(text);
        free(line);
    }
    fflush(stdout);
    sigaction(SIGINT, &old_sa, NULL);
    clove_cli_interrupted = 0;

    if (hist && write_history(hist) != 0)
        fprintf(stderr, "warning: could not save the history to \"%s\"\n", hist);
    free(hist);
}

/* ---- scripted input -------------------------------------------------------------------- */

static void read_stdin(session_t *ss, clove_cli_splitter_t *spl)
{
    char *line = NULL;
    size_t cap = 0;
    for (;;) {
        if (ss->quit || ss->failed) break;
        errno = 0;
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) {
            if (ferror(stdin)) {
                fprintf(stderr, "could not read standard input: %s\n", strerror(errno));
                ss->failed = true;
            }
            break;
        }
        feed(ss, spl, line, (size_t)n);
    }
    free(line);
    finish(ss, spl);
}

/* ---- command --------------------------------------------------------------------------- */

int clove_cli_cmd_sql(const clove_cli_opts_t *opts, int argc, char **argv)
{
    const char **exec = clove_xcalloc((size_t)argc + 1, sizeof *exec);
    size_t nexec = 0;
    int status = CLOVE_CLI_EXIT_OK;

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(sql_help, stdout);
            goto out;
        } else if (!strcmp(a, "-e") || !strcmp(a, "--execute")) {
            if (i + 1 >= argc) {
                status = clove_cli_usage_error("sql", "%s needs an SQL statement", a);
                goto out;
            }
            exec[nexec++] = argv[++i];
        } else if (!strncmp(a, "--execute=", 10)) {
            exec[nexec++] = a + 10;
        } else if (!strncmp(a, "-e", 2)) {
            exec[nexec++] = a + 2;
        } else if (a[0] == '-') {
            status = clove_cli_usage_error("sql", "unknown flag \"%s\"", a);
            goto out;
        } else {
            status = clove_cli_usage_error("sql", "unexpected argument \"%s\"; pass SQL with -e",
                                           a);
            goto out;
        }
    }
    for (size_t i = 0; i < nexec; i++) {
        if (exec[i][0] == '\0') {
            status = clove_cli_usage_error("sql", "-e needs an SQL statement");
            goto out;
        }
    }

    session_t ss = { .opts = opts };
    if (opts->flight) ss.flight = clove_cli_flight_create(opts);
    else ss.client = clove_cli_client_create(opts);
    clove_cli_splitter_t spl;
    clove_cli_splitter_init(&spl);

    if (nexec > 0) {
        for (size_t i = 0; i < nexec && !ss.quit && !ss.failed; i++) {
            feed(&ss, &spl, exec[i], strlen(exec[i]));
            finish(&ss, &spl);
        }
    } else if (isatty(STDIN_FILENO)) {
        ss.interactive = true;
        repl(&ss, &spl);
    } else {
        read_stdin(&ss, &spl);
    }
    if (!ss.interactive && ss.failed) status = CLOVE_CLI_EXIT_ERROR;

    clove_cli_splitter_dispose(&spl);
    clove_cli_client_destroy(ss.client);
    clove_cli_flight_destroy(ss.flight);
out:
    free(exec);
    return status;
}
