/*
 * main.c: entry point of `clove`, the command-line client of cloved. Parses the global flags
 * (--endpoint, --api-key, --tls-root-certificate-file; accepted before or after the
 * command), picks the command, resolves its endpoint (`sql` defaults to Flight, the other
 * commands to HTTP) and hands it the remaining arguments. Output is plain text without colours or other escape
 * sequences, so it reads the same on a terminal, in a pipe and in tests.
 */
#include "cli/cli_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "flight/flight_client.h"

static const char main_help[] =
    "usage: clove [--endpoint URL] [--api-key KEY] [--tls-root-certificate-file FILE]\n"
    "             COMMAND [ARGS...]\n"
    "\n"
    "Command-line client of cloved, the clove data and query runtime.\n"
    "\n"
    "Commands:\n"
    "  run [-- FLAGS...]   start cloved with the given flags\n"
    "  sql [-e SQL]        SQL shell; -e runs statements and exits\n"
    "  status              show the runtime's endpoints and their state\n"
    "  datasets            list datasets and their state\n"
    "  refresh DATASET     refresh an accelerated dataset now\n"
    "  version             print the version\n"
    "  help [COMMAND]      show help for clove or a command\n"
    "\n"
    "Global flags:\n"
    "  --endpoint URL      cloved's address for the command being run (env\n"
    "                      CLOVE_ENDPOINT): sql defaults to Flight at\n"
    "                      " CLOVE_CLI_DEFAULT_SQL_ENDPOINT " (also grpc+tls://, or http(s)://\n"
    "                      for HTTP); status, datasets and refresh use HTTP at\n"
    "                      " CLOVE_CLI_DEFAULT_ENDPOINT "; no scheme means http://\n"
    "  --api-key KEY       API key: X-API-Key over HTTP, Basic handshake over Flight\n"
    "                      (env CLOVE_API_KEY)\n"
    "  --tls-root-certificate-file FILE\n"
    "                      PEM root certificates for https:// and grpc+tls://\n"
    "  -h, --help          show help\n"
    "  --version           print the version\n";

void clove_cli_print_error(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout); /* keep the order of output and error on a shared terminal */
    fputs("Error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int clove_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "clove%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\ntry 'clove%s%s --help'\n", cmd ? " " : "", cmd ? cmd : "");
    return CLOVE_CLI_EXIT_USAGE;
}

bool clove_cli_write_stdout(const clove_buf_t *buf)
{
    if (buf->len > 0 && fwrite(buf->data, 1, buf->len, stdout) != buf->len) goto fail;
    if (fflush(stdout) != 0) goto fail;
    return true;
fail:
    clove_cli_print_error("could not write to standard output");
    return false;
}

static bool is_flight_url(const char *url)
{
    return strncasecmp(url, "grpc://", 7) == 0 || strncasecmp(url, "grpc+tcp://", 11) == 0 ||
           strncasecmp(url, "grpc+tls://", 11) == 0;
}

/* "host:port" -> "http://host:port"; drops trailing slashes. Accepts http(s):// and, for
 * Flight, grpc://, grpc+tcp:// and grpc+tls:// (checked by the Flight client's parser). New
 * string, or NULL when the URL is not usable. */
static char *normalize_endpoint(const char *s)
{
    char *url = strstr(s, "://") ? clove_xstrdup(s) : clove_xasprintf("http://%s", s);
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/') url[--n] = '\0';
    if (is_flight_url(url)) {
        if (clove_flight_parse_endpoint(url, NULL, NULL, NULL) == 0) return url;
        free(url);
        return NULL;
    }
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        free(url);
        return NULL;
    }
    if (n == 0 || !strcmp(url, "http:") || !strcmp(url, "https:") || url[n - 1] == '/' ||
        strstr(url, "://")[3] == '\0') {
        free(url);
        return NULL;
    }
    return url;
}

/* Matches a global flag with its value as "--flag VALUE" or "--flag=VALUE". Returns 1 and
 * sets *value (advancing *i past a separate value), 0 if arg is not this flag, -1 when the
 * value is missing. */
static int global_flag(const char *flag, int argc, char **argv, int *i, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(flag);
    if (strncmp(a, flag, n) != 0) return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') return 0;
    if (*i + 1 >= argc) return -1;
    *value = argv[++*i];
    return 1;
}

static int print_version(void)
{
    clove_buf_t out;
    clove_buf_init(&out);
    clove_buf_printf(&out, "clove %s\n", CLOVE_VERSION);
    bool ok = clove_cli_write_stdout(&out);
    clove_buf_dispose(&out);
    return ok ? CLOVE_CLI_EXIT_OK : CLOVE_CLI_EXIT_ERROR;
}

int main(int argc, char **argv)
{
    const char *endpoint_env = getenv("CLOVE_ENDPOINT");
    const char *endpoint_arg = NULL;
    const char *api_key = getenv("CLOVE_API_KEY");
    const char *tls_roots = NULL;
    const char *cmd = NULL;
    char **rest = clove_xcalloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0, status = CLOVE_CLI_EXIT_OK;
    char *endpoint = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cmd && !strcmp(cmd, "run")) { /* everything after `run` belongs to cloved */
            rest[nrest++] = argv[i];
            continue;
        }
        int m = global_flag("--endpoint", argc, argv, &i, &endpoint_arg);
        if (m == 0) m = global_flag("--api-key", argc, argv, &i, &api_key);
        if (m == 0) m = global_flag("--tls-root-certificate-file", argc, argv, &i, &tls_roots);
        if (m < 0) {
            status = clove_cli_usage_error(NULL, "%s needs a value", a);
            goto out;
        }
        if (m > 0) continue;
        if (cmd) {
            rest[nrest++] = argv[i];
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(main_help, stdout);
            goto out;
        } else if (!strcmp(a, "--version")) {
            status = print_version();
            goto out;
        } else if (a[0] == '-') {
            status = clove_cli_usage_error(NULL, "unknown flag \"%s\"", a);
            goto out;
        } else {
            cmd = a;
        }
    }
    if (!cmd) {
        fputs(main_help, stderr);
        status = CLOVE_CLI_EXIT_USAGE;
        goto out;
    }

    if (!strcmp(cmd, "help")) {
        if (nrest == 0) {
            fputs(main_help, stdout);
            goto out;
        }
        if (nrest > 1) {
            status = clove_cli_usage_error("help", "expected one command, got %d", nrest);
            goto out;
        }
        cmd = rest[0];
        rest[0] = "--help";
        if (!strcmp(cmd, "help")) {
            fputs(main_help, stdout);
            goto out;
        }
    }
    if (!strcmp(cmd, "run")) {
        status = clove_cli_cmd_run(nrest, rest);
        goto out;
    }
    if (!strcmp(cmd, "version")) {
        if (nrest > 0 && (!strcmp(rest[0], "-h") || !strcmp(rest[0], "--help"))) {
            fputs("usage: clove version\n\nPrints the version of clove.\n", stdout);
        } else if (nrest > 0) {
            status = clove_cli_usage_error("version", "unexpected argument \"%s\"", rest[0]);
        } else {
            status = print_version();
        }
        goto out;
    }

    int (*fn)(const clove_cli_opts_t *, int, char **) = NULL;
    if (!strcmp(cmd, "sql")) fn = clove_cli_cmd_sql;
    else if (!strcmp(cmd, "status")) fn = clove_cli_cmd_status;
    else if (!strcmp(cmd, "datasets")) fn = clove_cli_cmd_datasets;
    else if (!strcmp(cmd, "refresh")) fn = clove_cli_cmd_refresh;
    if (!fn) {
        status = clove_cli_usage_error(NULL, "unknown command \"%s\"", cmd);
        goto out;
    }

    /* the flag wins over the environment, which wins over the command's default */
    bool is_sql = fn == clove_cli_cmd_sql;
    const char *def = is_sql ? CLOVE_CLI_DEFAULT_SQL_ENDPOINT : CLOVE_CLI_DEFAULT_ENDPOINT;
    const char *from = "--endpoint";
    if (!endpoint_arg) {
        from = "CLOVE_ENDPOINT";
        endpoint_arg = endpoint_env && endpoint_env[0] ? endpoint_env : def;
    }
    endpoint = normalize_endpoint(endpoint_arg);
    if (!endpoint) {
        status = clove_cli_usage_error(NULL, "invalid %s \"%s\"; expected a URL such as %s",
                                       from, endpoint_arg, def);
        goto out;
    }
    bool flight = is_flight_url(endpoint);
    if (flight && !is_sql) {
        status = clove_cli_usage_error(cmd, "%s \"%s\" is an Arrow Flight address, but %s "
                                            "speaks HTTP; give cloved's HTTP address, e.g. %s",
                                       from, endpoint_arg, cmd, CLOVE_CLI_DEFAULT_ENDPOINT);
        goto out;
    }
    if (tls_roots && !tls_roots[0]) tls_roots = NULL;
    clove_cli_opts_t opts = {
        .endpoint = endpoint,
        .flight = flight,
        .api_key = api_key && api_key[0] ? api_key : NULL,
        .tls_root_cert_file = tls_roots,
    };
    if (flight) clove_flight_client_quiet_grpc_log();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        clove_cli_print_error("could not initialize libcurl");
        status = CLOVE_CLI_EXIT_ERROR;
        goto out;
    }
    status = fn(&opts, nrest, rest);
    curl_global_cleanup();

out:
    free(endpoint);
    free(rest);
    return status;
}
