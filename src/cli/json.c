/*
 * json.c: turns JSON answers (an array of objects: /v1/status, /v1/datasets, and /v1/sql
 * when a server ignores `Accept: text/csv`) into a table of text cells. Strings are shown
 * as they are, null as an empty cell, booleans as true/false, numbers as written by jansson
 * and nested values as compact JSON.
 */
#include "cli/cli_int.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static bool push_value(clove_cli_table_t *t, const json_t *v)
{
    char num[64];
    switch (json_typeof(v)) {
    case JSON_STRING:
        return clove_cli_table_push(t, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return clove_cli_table_push(t, num, strlen(num));
    case JSON_REAL:
        snprintf(num, sizeof num, "%.17g", json_real_value(v));
        return clove_cli_table_push(t, num, strlen(num));
    case JSON_TRUE:
        return clove_cli_table_push(t, "true", 4);
    case JSON_FALSE:
        return clove_cli_table_push(t, "false", 5);
    case JSON_NULL:
        return clove_cli_table_push(t, "", 0);
    default: {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        bool ok = s && clove_cli_table_push(t, s, strlen(s));
        free(s);
        return ok;
    }
    }
}

int clove_cli_json_table(const char *json, size_t len, const char *const *keys,
                         const char *const *titles, size_t n, clove_cli_table_t *t,
                         clove_err_t *err)
{
    json_error_t jerr;
    int rc = 0;
    bool ok = true;
    json_t *root = json_loadb(json, len, JSON_DECODE_ANY, &jerr);

    CLOVE_ASSERT(t->ncols == 0 && t->ncells == 0);
    if (!root) {
        rc = clove_err_set(err, CLOVE_EINVAL, "invalid JSON from clove: %s (line %d)",
                           jerr.text, jerr.line);
        goto done;
    }
    if (!json_is_array(root)) {
        rc = clove_err_set(err, CLOVE_EINVAL, "unexpected answer from clove: expected a JSON "
                                              "array of objects");
        goto done;
    }

    size_t idx;
    json_t *row;
    if (keys) {
        for (size_t c = 0; c < n; c++)
            ok = ok && clove_cli_table_push(t, titles[c], strlen(titles[c]));
        clove_cli_table_end_header(t);
        json_array_foreach(root, idx, row) {
            if (!json_is_object(row)) goto not_object;
            for (size_t c = 0; c < n; c++) {
                json_t *v = json_object_get(row, keys[c]);
                ok = ok && push_value(t, v ? v : json_null());
            }
        }
    } else {
        /* Columns are the first object's keys in document order (jansson keeps it). */
        json_t *first = json_array_get(root, 0);
        if (!first) goto done; /* no rows and no column names: nothing to show */
        if (!json_is_object(first)) goto not_object;
        const char *key;
        json_t *v;
        json_object_foreach(first, key, v) ok = ok && clove_cli_table_push(t, key, strlen(key));
        clove_cli_table_end_header(t);
        size_t ncols = t->ncols;
        json_array_foreach(root, idx, row) {
            if (!json_is_object(row)) goto not_object;
            for (size_t c = 0; c < ncols; c++) {
                v = json_object_get(row, clove_cli_table_cell(t, 0, c));
                ok = ok && push_value(t, v ? v : json_null());
            }
        }
    }
    if (!ok) rc = clove_err_set(err, CLOVE_ENOMEM, "out of memory reading the answer");
    goto done;

not_object:
    rc = clove_err_set(err, CLOVE_EINVAL, "unexpected answer from clove: expected a JSON array "
                                          "of objects");
done:
    json_decref(root);
    return rc;
}
