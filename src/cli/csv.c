/*
 * csv.c: reads the CSV that POST /v1/sql answers with `Accept: text/csv` (RFC 4180). Fields
 * are separated by commas and records by CRLF or LF; a field in double quotes may hold
 * commas, line breaks and doubled quotes (""). The first record is the header and fixes the
 * number of columns. The reader is lenient where RFC 4180 leaves room (a quote inside an
 * unquoted field is kept as text, text after a closing quote is appended) and strict where
 * guessing would show wrong data (an unterminated quote, a record with a different number of
 * fields).
 */
#include "cli/cli_int.h"

#include <string.h>

int clove_cli_csv_parse(const char *data, size_t len, clove_cli_table_t *t, clove_err_t *err)
{
    clove_buf_t field;
    size_t i = 0, line = 1, rec_line = 1, nfields = 0;
    int rc = 0;

    clove_buf_init(&field);
    CLOVE_ASSERT(t->ncols == 0 && t->ncells == 0);

    /* Some servers start the answer with an empty line; a header is never empty. */
    while (i < len && (data[i] == '\r' || data[i] == '\n')) {
        if (data[i++] == '\n') line++;
    }
    if (i == len) goto done; /* no header: a statement without a result set */
    rec_line = line;

    for (;;) {
        /* one field, starting at i */
        clove_buf_reset(&field);
        if (i < len && data[i] == '"') {
            size_t open_at = line;
            i++;
            for (;;) {
                if (i == len) {
                    rc = clove_err_set(err, CLOVE_EINVAL,
                                       "malformed CSV from clove: the quoted field opened "
                                       "on line %zu has no closing quote",
                                       open_at);
                    goto done;
                }
                if (data[i] == '"') {
                    if (i + 1 < len && data[i + 1] == '"') {
                        clove_buf_putc(&field, '"');
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                if (data[i] == '\n') line++;
                clove_buf_putc(&field, data[i++]);
            }
        }
        /* unquoted text, or stray text after a closing quote */
        size_t start = i;
        while (i < len && data[i] != ',' && data[i] != '\n' && data[i] != '\r') i++;
        clove_buf_append(&field, data + start, i - start);
        if (field.failed || !clove_cli_table_push(t, field.data ? field.data : "", field.len)) {
            rc = clove_err_set(err, CLOVE_ENOMEM, "out of memory reading the query result");
            goto done;
        }
        nfields++;

        if (i < len && data[i] == ',') {
            i++;
            continue;
        }
        /* end of record: CRLF, LF, a lone CR, or the end of the data */
        if (i < len && data[i] == '\r') i++;
        if (i < len && data[i] == '\n') {
            i++;
            line++;
        }
        if (t->ncols == 0) {
            clove_cli_table_end_header(t);
        } else if (nfields != t->ncols) {
            rc = clove_err_set(err, CLOVE_EINVAL,
                               "malformed CSV from clove: the record on line %zu has %zu "
                               "fields, the header has %zu",
                               rec_line, nfields, t->ncols);
            goto done;
        }
        nfields = 0;
        rec_line = line;
        if (i == len) break; /* a final line break ends the last record, not a new one */
    }

done:
    clove_buf_dispose(&field);
    return rc;
}
