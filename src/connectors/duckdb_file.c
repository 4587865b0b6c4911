/*
 * connectors/duckdb_file.c: read-only DuckDB files as dataset sources (see duckdb_file.h).
 */
#include "connectors/duckdb_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* DuckDB's message without its "Xxx Error: " prefix. */
static const char *clean(const char *m)
{
    if (!m) return "unknown error";
    const char *p = strstr(m, "Error: ");
    return p && p - m < 40 ? p + 7 : m;
}

int clove_duckdb_file_attach(duckdb_connection conn, const char *dataset, const char *path,
                             const char *alias, clove_err_t *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return clove_err_set(err, errno == ENOENT ? CLOVE_ENOTFOUND : CLOVE_EIO,
                             "DuckDB file \"%s\" of dataset %s cannot be opened: %s", path,
                             dataset, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return clove_err_set(err, CLOVE_EIO, "DuckDB file \"%s\" of dataset %s is not a file",
                             path, dataset);
    char *lit = clove_sql_literal(path), *qa = clove_sql_ident(alias);
    char *sql = clove_xasprintf("ATTACH %s AS %s (READ_ONLY)", lit, qa);
    duckdb_result r;
    int rc = 0;
    if (duckdb_query(conn, sql, &r) == DuckDBError)
        rc = clove_err_set(err, CLOVE_EIO, "could not open DuckDB file \"%s\" of dataset %s "
                           "read-only: %s", path, dataset, clean(duckdb_result_error(&r)));
    duckdb_destroy_result(&r);
    free(sql);
    free(lit);
    free(qa);
    return rc;
}

/* Splits [schema.]table; unquoted parts as written (DuckDB matches them case-insensitively). */
static int split(const char *s, char *parts[2])
{
    int n = 0;
    while (*s) {
        if (n == 2) return -1;
        clove_buf_t b;
        clove_buf_init(&b);
        if (*s == '"') {
            for (s++;; s++) {
                if (!*s) {
                    clove_buf_dispose(&b);
                    return -1;
                }
                if (*s == '"') {
                    if (s[1] != '"') break;
                    s++;
                }
                clove_buf_putc(&b, *s);
            }
            s++;
        } else {
            for (; *s && *s != '.'; s++) clove_buf_putc(&b, *s);
        }
        if (!b.len || (*s && *s != '.')) {
            clove_buf_dispose(&b);
            return -1;
        }
        parts[n++] = clove_buf_steal(&b);
        if (*s == '.') {
            s++;
            if (!*s) return -1;
        }
    }
    return n;
}

char *clove_duckdb_file_table(duckdb_connection conn, const char *dataset, const char *from,
                              const char *path, const char *alias, clove_err_t *err)
{
    char *parts[2] = {0};
    char *out = NULL;
    int n = strncmp(from, "duckdb:", 7) == 0 ? split(from + 7, parts) : -1;
    if (n < 1) {
        clove_err_set(err, CLOVE_ECONFIG, "dataset %s: from: expected duckdb:[schema.]table; "
                      "got \"%s\"", dataset, from);
        goto done;
    }
    const char *schema = n == 2 ? parts[0] : "main", *table = parts[n - 1];
    char *qa = clove_sql_ident(alias), *qs = clove_sql_ident(schema), *qt = clove_sql_ident(table);
    char *expr = clove_xasprintf("%s.%s.%s", qa, qs, qt);
    char *probe = clove_xasprintf("SELECT * FROM %s LIMIT 0", expr);
    duckdb_result r;
    if (duckdb_query(conn, probe, &r) == DuckDBError)
        clove_err_set(err, CLOVE_ENOTFOUND, "table \"%s.%s\" does not exist in DuckDB file "
                      "\"%s\" (dataset %s): %s", schema, table, path, dataset,
                      clean(duckdb_result_error(&r)));
    else
        out = expr;
    duckdb_destroy_result(&r);
    if (!out) free(expr);
    free(probe);
    free(qa);
    free(qs);
    free(qt);
done:
    free(parts[0]);
    free(parts[1]);
    return out;
}
