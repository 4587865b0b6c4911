/*
 * commands.c: the one-shot commands of `clove`: status, datasets and refresh (one HTTP
 * request each, answer printed, exit code from the outcome) and run (replaces this process
 * with cloved).
 */
#include "cli/cli_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char status_help[] =
    "usage: clove status [--endpoint URL] [--api-key KEY]\n"
    "\n"
    "Shows the state of clove's endpoints (GET /v1/status) as a table with the columns\n"
    "NAME, ENDPOINT and STATUS.\n";

static const char datasets_help[] =
    "usage: clove datasets [--endpoint URL] [--api-key KEY]\n"
    "\n"
    "Lists the datasets clove serves (GET /v1/datasets?status=true) as a table with the\n"
    "columns NAME, FROM, ACCELERATED and STATUS.\n";

static const char refresh_help[] =
    "usage: clove refresh DATASET [--endpoint URL] [--api-key KEY]\n"
    "\n"
    "Starts a refresh of an accelerated dataset\n"
    "(POST /v1/datasets/DATASET/acceleration/refresh) and prints the server's message.\n"
    "Exits 1 if the dataset does not exist or is not accelerated.\n";

static const char run_help[] =
    "usage: clove run [--] [CLOVED FLAGS...] [SPICEPOD_PATH]\n"
    "\n"
    "Starts cloved with the given flags and arguments, e.g.\n"
    "  clove run -- --http 127.0.0.1:9000 ./spicepod.yaml\n"
    "cloved is taken from the directory of the clove binary, else from PATH. The exit code\n"
    "is cloved's (127 when it cannot be started).\n";

static bool is_help(const char *a)
{
    return !strcmp(a, "-h") || !strcmp(a, "--help");
}

/* Checks that a command taking no arguments got none; prints help on -h. Returns -1 to go
 * on, or the exit code to return. */
static int no_args(const char *cmd, const char *help, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(help, stdout);
            return CLOVE_CLI_EXIT_OK;
        }
    }
    if (argc > 0) {
        if (argv[0][0] == '-') return clove_cli_usage_error(cmd, "unknown flag \"%s\"", argv[0]);
        return clove_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[0]);
    }
    return -1;
}

/* GETs path and prints the JSON array it answers as a table of the given columns. */
static int show_json_table(const clove_cli_opts_t *opts, const char *path,
                           const char *const *keys, const char *const *titles, size_t n)
{
    clove_cli_client_t *client = clove_cli_client_create(opts);
    clove_cli_response_t resp;
    clove_cli_table_t table;
    clove_buf_t out;
    clove_err_t err;
    int status = CLOVE_CLI_EXIT_ERROR;

    clove_cli_table_init(&table, 0);
    clove_buf_init(&out);
    clove_err_clear(&err);
    if (clove_cli_http(client, "GET", path, NULL, 0, NULL, "application/json", &resp,
                       &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        goto done;
    }
    if (resp.status < 200 || resp.status > 299) {
        char *msg = clove_cli_response_message(&resp);
        clove_cli_print_error("%s", msg);
        free(msg);
    } else if (clove_cli_json_table(resp.body.data, resp.body.len, keys, titles, n, &table,
                                    &err) != 0) {
        clove_cli_print_error("%s", err.message);
    } else if (!clove_cli_table_render(&table, &out)) {
        clove_cli_print_error("out of memory drawing the table");
    } else if (clove_cli_write_stdout(&out)) {
        status = CLOVE_CLI_EXIT_OK;
    }
    clove_cli_response_dispose(&resp);
done:
    clove_buf_dispose(&out);
    clove_cli_table_dispose(&table);
    clove_cli_client_destroy(client);
    return status;
}

int clove_cli_cmd_status(const clove_cli_opts_t *opts, int argc, char **argv)
{
    static const char *const keys[] = { "name", "endpoint", "status" };
    static const char *const titles[] = { "NAME", "ENDPOINT", "STATUS" };
    int rc = no_args("status", status_help, argc, argv);
    if (rc >= 0) return rc;
    return show_json_table(opts, "/v1/status", keys, titles, 3);
}

int clove_cli_cmd_datasets(const clove_cli_opts_t *opts, int argc, char **argv)
{
    static const char *const keys[] = { "name", "from", "acceleration_enabled", "status" };
    static const char *const titles[] = { "NAME", "FROM", "ACCELERATED", "STATUS" };
    int rc = no_args("datasets", datasets_help, argc, argv);
    if (rc >= 0) return rc;
    return show_json_table(opts, "/v1/datasets?status=true", keys, titles, 4);
}

int clove_cli_cmd_refresh(const clove_cli_opts_t *opts, int argc, char **argv)
{
    const char *dataset = NULL;
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(refresh_help, stdout);
            return CLOVE_CLI_EXIT_OK;
        }
    }
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1] != '\0')
            return clove_cli_usage_error("refresh", "unknown flag \"%s\"", argv[i]);
        if (dataset)
            return clove_cli_usage_error("refresh", "unexpected argument \"%s\"; refresh "
                                                    "takes one dataset",
                                         argv[i]);
        dataset = argv[i];
    }
    if (!dataset || !dataset[0]) return clove_cli_usage_error("refresh", "missing DATASET");

    clove_cli_client_t *client = clove_cli_client_create(opts);
    clove_cli_response_t resp;
    clove_err_t err;
    int status = CLOVE_CLI_EXIT_ERROR;
    char *name = clove_cli_url_escape(dataset);
    char *path = clove_xasprintf("/v1/datasets/%s/acceleration/refresh", name);

    clove_err_clear(&err);
    /* "{}": a refresh without overrides, valid for servers that parse the body as JSON */
    if (clove_cli_http(client, "POST", path, "{}", 2, "application/json", "application/json",
                       &resp, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        goto done;
    }
    char *msg = clove_cli_response_message(&resp);
    if (resp.status >= 200 && resp.status <= 299) {
        clove_buf_t out;
        clove_buf_init(&out);
        clove_buf_printf(&out, "%s\n", msg);
        if (clove_cli_write_stdout(&out)) status = CLOVE_CLI_EXIT_OK;
        clove_buf_dispose(&out);
    } else {
        clove_cli_print_error("%s", msg);
    }
    free(msg);
    clove_cli_response_dispose(&resp);
done:
    free(path);
    free(name);
    clove_cli_client_destroy(client);
    return status;
}

/* The cloved beside this binary (/proc/self/exe), if there is one; new string or NULL. */
static char *sibling_cloved(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return NULL;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash) return NULL;
    *slash = '\0';
    char *path = clove_xasprintf("%s/cloved", self);
    if (access(path, X_OK) == 0) return path;
    free(path);
    return NULL;
}

int clove_cli_cmd_run(int argc, char **argv)
{
    int skip = 0;
    if (argc > 0 && is_help(argv[0])) {
        fputs(run_help, stdout);
        return CLOVE_CLI_EXIT_OK;
    }
    if (argc > 0 && !strcmp(argv[0], "--")) skip = 1;

    char **args = clove_xcalloc((size_t)(argc - skip) + 2, sizeof *args);
    args[0] = "cloved";
    for (int i = skip; i < argc; i++) args[i - skip + 1] = argv[i];

    fflush(NULL);
    char *path = sibling_cloved();
    if (path) execv(path, args);
    else execvp("cloved", args);

    int e = errno;
    fprintf(stderr, "could not start cloved%s%s: %s\n", path ? " at " : "", path ? path : "",
            strerror(e));
    if (!path && e == ENOENT)
        fprintf(stderr, "hint: install cloved next to clove or on PATH\n");
    free(path);
    free(args);
    return CLOVE_CLI_EXIT_NOEXEC;
}
