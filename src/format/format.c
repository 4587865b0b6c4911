/*
 * format.c: the four HTTP answer formats of POST /v1/sql and the choice between them from an
 * Accept header. JSON, the Spice v1 envelope and CSV stream chunk by chunk; text/plain keeps
 * every cell until the end because column widths depend on all of them. Values come from
 * value.c; this file owns row and column framing.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "format/format_int.h"

struct clove_fmt {
    clove_fmt_kind_t kind;
    idx_t ncols;
    idx_t nodes_ready; /* nodes initialised so far (all of them once created) */
    clove_fmt_node_t *nodes;
    char **names;
    size_t *name_lens;
    char **keys; /* `"name":` escaped once */
    size_t *key_lens;
    size_t keys_total;
    uint64_t rows;
    size_t row_bytes; /* output bytes per row seen so far, to reserve a chunk at once */
    /* the current chunk's columns */
    duckdb_vector *vecs;
    const void **data;
    const uint64_t **valid;
    /* CSV: one cell before quoting */
    clove_buf_t cell;
    /* text/plain: every cell, row-major; cell i is cells.data[offs[i] .. offs[i + 1]) */
    clove_buf_t cells;
    size_t *offs;
    size_t noffs, offs_cap;
    bool failed;
};

static const char CT_JSON[] = "application/json";
static const char CT_SPICE[] = "application/vnd.spiceai.sql.v1+json";
static const char CT_CSV[] = "text/csv";
static const char CT_TEXT[] = "text/plain; charset=utf-8";

/* ---- Accept ---------------------------------------------------------------------------- */

static bool range_is(const char *s, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(s, want, n) == 0;
}

/* q value of one media range's parameters (";q=0.5;level=1"); 1 when absent or unreadable. */
static double accept_q(const char *params, const char *end)
{
    const char *p = params;
    while (p < end) {
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t')) p++;
        const char *e = p;
        while (e < end && *e != ';') e++;
        if (e - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            char tmp[16];
            size_t n = (size_t)(e - p - 2);
            if (n >= sizeof tmp) return 1.0;
            memcpy(tmp, p + 2, n);
            tmp[n] = '\0';
            char *stop;
            double q = strtod(tmp, &stop);
            while (*stop == ' ' || *stop == '\t') stop++;
            if (stop == tmp || *stop || q != q) return 1.0;
            return q < 0 ? 0 : q > 1 ? 1 : q;
        }
        p = e;
    }
    return 1.0;
}

clove_fmt_kind_t clove_fmt_from_accept(const char *accept, const char **content_type)
{
    static const char *const types[] = {CT_JSON, CT_SPICE, CT_CSV, CT_TEXT};
    clove_fmt_kind_t best = CLOVE_FMT_JSON;
    double best_q = -1;
    int best_rank = -1;
    const char *p = accept ? accept : "";
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *s = p;
        while (s < end && (*s == ' ' || *s == '\t')) s++;
        const char *semi = s;
        while (semi < end && *semi != ';') semi++;
        const char *e = semi;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
        size_t n = (size_t)(e - s);
        int rank = -1; /* specific types beat wildcards of the same q */
        clove_fmt_kind_t kind = CLOVE_FMT_JSON;
        if (range_is(s, n, "application/json")) {
            rank = 2;
        } else if (range_is(s, n, CT_SPICE)) {
            kind = CLOVE_FMT_SPICE_JSON;
            rank = 2;
        } else if (range_is(s, n, "text/csv")) {
            kind = CLOVE_FMT_CSV;
            rank = 2;
        } else if (range_is(s, n, "text/plain")) {
            kind = CLOVE_FMT_TEXT;
            rank = 2;
        } else if (range_is(s, n, "text/*")) {
            kind = CLOVE_FMT_TEXT;
            rank = 1;
        } else if (range_is(s, n, "application/*")) {
            rank = 1;
        } else if (range_is(s, n, "*/*")) {
            rank = 0;
        }
        if (rank >= 0) {
            double q = accept_q(semi, end);
            if (q > 0 && (q > best_q || (q == best_q && rank > best_rank))) {
                best = kind;
                best_q = q;
                best_rank = rank;
            }
        }
        p = *end ? end + 1 : end;
    }
    if (content_type) *content_type = types[best];
    return best;
}

/* ---- lifecycle ------------------------------------------------------------------------- */

clove_fmt_t *clove_fmt_create(clove_fmt_kind_t kind, idx_t ncols, const char *const *names,
                              const duckdb_logical_type *types)
{
    clove_fmt_t *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->kind = kind;
    f->ncols = ncols;
    clove_buf_init(&f->cell);
    clove_buf_init(&f->cells);
    if (ncols) {
        f->nodes = calloc(ncols, sizeof *f->nodes);
        f->names = calloc(ncols, sizeof *f->names);
        f->name_lens = calloc(ncols, sizeof *f->name_lens);
        f->keys = calloc(ncols, sizeof *f->keys);
        f->key_lens = calloc(ncols, sizeof *f->key_lens);
        f->vecs = calloc(ncols, sizeof *f->vecs);
        f->data = calloc(ncols, sizeof *f->data);
        f->valid = calloc(ncols, sizeof *f->valid);
        if (!f->nodes || !f->names || !f->name_lens || !f->keys || !f->key_lens || !f->vecs ||
            !f->data || !f->valid)
            goto fail;
    }
    for (idx_t c = 0; c < ncols; c++) {
        const char *name = names && names[c] ? names[c] : "";
        f->name_lens[c] = strlen(name);
        f->names[c] = strdup(name);
        if (!f->names[c]) goto fail;
        clove_buf_t k;
        clove_buf_init(&k);
        clove_buf_json_string(&k, name, f->name_lens[c]);
        clove_buf_putc(&k, ':');
        if (k.failed) {
            clove_buf_dispose(&k);
            goto fail;
        }
        f->key_lens[c] = k.len;
        f->keys_total += k.len;
        f->keys[c] = clove_buf_steal(&k);
        if (clove_fmt_node_init(&f->nodes[c], types[c]) != 0) goto fail;
        f->nodes_ready = c + 1;
    }
    f->row_bytes = f->keys_total + 2 + (size_t)ncols * 12;
    return f;
fail:
    clove_fmt_destroy(f);
    return NULL;
}

void clove_fmt_destroy(clove_fmt_t *f)
{
    if (!f) return;
    for (idx_t c = 0; c < f->nodes_ready; c++) clove_fmt_node_dispose(&f->nodes[c]);
    for (idx_t c = 0; c < f->ncols; c++) {
        if (f->names) free(f->names[c]);
        if (f->keys) free(f->keys[c]);
    }
    free(f->nodes);
    free(f->names);
    free(f->name_lens);
    free(f->keys);
    free(f->key_lens);
    free(f->vecs);
    free(f->data);
    free(f->valid);
    clove_buf_dispose(&f->cell);
    clove_buf_dispose(&f->cells);
    free(f->offs);
    free(f);
}

uint64_t clove_fmt_rows(const clove_fmt_t *f) { return f->rows; }

/* ---- shared helpers -------------------------------------------------------------------- */

static inline void put(clove_buf_t *out, const char *s, size_t n)
{
    char *p = clove_fmt_room(out, n);
    if (!p) return;
    memcpy(p, s, n);
    out->len += n;
}

static void terminate(clove_buf_t *out)
{
    if (out->data && !out->failed) out->data[out->len] = '\0';
}

/* RFC 4180: a field with a comma, quote, CR or LF is quoted and its quotes doubled. */
static void csv_field(clove_buf_t *out, const char *s, size_t n)
{
    size_t quotes = 0;
    bool need = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"') quotes++;
        if (c == '"' || c == ',' || c == '\n' || c == '\r') need = true;
    }
    if (!need) {
        put(out, s, n);
        return;
    }
    char *p = clove_fmt_room(out, n + quotes + 2);
    if (!p) return;
    char *o = p;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') *o++ = '"';
        *o++ = s[i];
    }
    *o++ = '"';
    out->len += (size_t)(o - p);
}

static void spice_schema(const clove_fmt_t *f, clove_buf_t *out)
{
    clove_buf_puts(out, "{\"schema\":{\"fields\":[");
    for (idx_t c = 0; c < f->ncols; c++) {
        if (c) clove_buf_putc(out, ',');
        clove_fmt_arrow_field(out, f->names[c], f->name_lens[c], &f->nodes[c], true);
    }
    clove_buf_puts(out, "],\"metadata\":{}},\"data\":[");
}

void clove_fmt_begin(clove_fmt_t *f, clove_buf_t *out)
{
    switch (f->kind) {
    case CLOVE_FMT_JSON: put(out, "[", 1); break;
    case CLOVE_FMT_SPICE_JSON: spice_schema(f, out); break;
    case CLOVE_FMT_CSV:
        for (idx_t c = 0; c < f->ncols; c++) {
            if (c) put(out, ",", 1);
            csv_field(out, f->names[c], f->name_lens[c]);
        }
        put(out, "\n", 1);
        break;
    case CLOVE_FMT_TEXT: break;
    }
    terminate(out);
}

/* ---- rows ------------------------------------------------------------------------------ */

static void json_rows(clove_fmt_t *f, idx_t n, clove_buf_t *out)
{
    for (idx_t r = 0; r < n && !out->failed; r++) {
        char *p = clove_fmt_room(out, 2);
        if (!p) return;
        if (f->rows) *p++ = ',';
        *p++ = '{';
        out->len = (size_t)(p - out->data);
        for (idx_t c = 0; c < f->ncols; c++) {
            if (c) put(out, ",", 1);
            put(out, f->keys[c], f->key_lens[c]);
            if (clove_fmt_valid(f->valid[c], r))
                clove_fmt_node_json(out, &f->nodes[c], f->vecs[c], f->data[c], r);
            else
                put(out, "null", 4);
        }
        put(out, "}", 1);
        f->rows++;
    }
}

static void csv_rows(clove_fmt_t *f, idx_t n, clove_buf_t *out)
{
    for (idx_t r = 0; r < n && !out->failed; r++) {
        for (idx_t c = 0; c < f->ncols; c++) {
            if (c) put(out, ",", 1);
            if (!clove_fmt_valid(f->valid[c], r)) continue;
            clove_buf_reset(&f->cell);
            clove_fmt_node_text(&f->cell, &f->nodes[c], f->vecs[c], f->data[c], r);
            if (f->cell.failed) {
                out->failed = true;
                return;
            }
            csv_field(out, f->cell.data, f->cell.len);
        }
        put(out, "\n", 1);
        f->rows++;
    }
}

static int text_rows(clove_fmt_t *f, idx_t n)
{
    size_t need = f->noffs + (size_t)n * f->ncols + 1;
    if (need > f->offs_cap) {
        size_t cap = f->offs_cap ? f->offs_cap : 1024;
        while (cap < need) cap *= 2;
        size_t *o = realloc(f->offs, cap * sizeof *o);
        if (!o) return CLOVE_ENOMEM;
        f->offs = o;
        f->offs_cap = cap;
    }
    if (f->noffs == 0) f->offs[f->noffs++] = 0;
    for (idx_t r = 0; r < n; r++) {
        for (idx_t c = 0; c < f->ncols; c++) {
            if (clove_fmt_valid(f->valid[c], r))
                clove_fmt_node_text(&f->cells, &f->nodes[c], f->vecs[c], f->data[c], r);
            f->offs[f->noffs++] = f->cells.len;
        }
        f->rows++;
    }
    return f->cells.failed ? CLOVE_ENOMEM : 0;
}

int clove_fmt_chunk(clove_fmt_t *f, duckdb_data_chunk chunk, clove_buf_t *out)
{
    if (!chunk) return 0;
    if (duckdb_data_chunk_get_column_count(chunk) != f->ncols) return CLOVE_EINTERNAL;
    idx_t n = duckdb_data_chunk_get_size(chunk);
    for (idx_t c = 0; c < f->ncols; c++) {
        duckdb_vector v = duckdb_data_chunk_get_vector(chunk, c);
        duckdb_logical_type t = duckdb_vector_get_column_type(v);
        duckdb_type id = duckdb_get_type_id(t);
        duckdb_destroy_logical_type(&t);
        if (id != f->nodes[c].id) return CLOVE_EINTERNAL;
        f->vecs[c] = v;
        f->data[c] = duckdb_vector_get_data(v);
        f->valid[c] = duckdb_vector_get_validity(v);
    }
    if (n == 0) return 0;
    size_t before = out->len;
    int rc = 0;
    switch (f->kind) {
    case CLOVE_FMT_JSON:
    case CLOVE_FMT_SPICE_JSON:
        clove_buf_reserve(out, (size_t)n * f->row_bytes);
        json_rows(f, n, out);
        break;
    case CLOVE_FMT_CSV:
        clove_buf_reserve(out, (size_t)n * f->row_bytes);
        csv_rows(f, n, out);
        break;
    case CLOVE_FMT_TEXT: rc = text_rows(f, n); break;
    }
    if (out->failed) return CLOVE_ENOMEM;
    if (f->kind != CLOVE_FMT_TEXT) {
        size_t per_row = (out->len - before) / n + 1;
        f->row_bytes = per_row + per_row / 8;
    }
    terminate(out);
    return rc;
}

/* ---- text/plain table ------------------------------------------------------------------ */

/* Width of a line in code points (UTF-8 lead bytes). */
static size_t text_width(const char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) w += ((unsigned char)s[i] & 0xC0) != 0x80;
    return w;
}

/* Line `line` of a cell split at '\n': its start and length, or false past the last. */
static bool cell_line(const char *s, size_t n, size_t line, const char **ls, size_t *ln)
{
    size_t i = 0;
    for (size_t k = 0; k < line; k++) {
        const char *nl = memchr(s + i, '\n', n - i);
        if (!nl) return false;
        i = (size_t)(nl - s) + 1;
    }
    const char *nl = memchr(s + i, '\n', n - i);
    *ls = s + i;
    *ln = nl ? (size_t)(nl - (s + i)) : n - i;
    return true;
}

static size_t cell_lines(const char *s, size_t n)
{
    size_t lines = 1;
    for (size_t i = 0; i < n; i++) lines += s[i] == '\n';
    return lines;
}

static void table_border(clove_buf_t *out, const size_t *widths, idx_t ncols)
{
    put(out, "+", 1);
    for (idx_t c = 0; c < ncols; c++) {
        char *p = clove_fmt_room(out, widths[c] + 3);
        if (!p) return;
        memset(p, '-', widths[c] + 2);
        p[widths[c] + 2] = '+';
        out->len += widths[c] + 3;
    }
}

/* One table row, preceded by a newline; s[c]/n[c] is the cell of column c. */
static void table_row(clove_buf_t *out, const size_t *widths, idx_t ncols, const char *const *s,
                      const size_t *n)
{
    size_t lines = 1;
    for (idx_t c = 0; c < ncols; c++) {
        size_t l = cell_lines(s[c], n[c]);
        if (l > lines) lines = l;
    }
    for (size_t line = 0; line < lines; line++) {
        put(out, "\n|", 2);
        for (idx_t c = 0; c < ncols; c++) {
            const char *ls = "";
            size_t ln = 0;
            if (!cell_line(s[c], n[c], line, &ls, &ln)) ln = 0;
            size_t w = text_width(ls, ln);
            char *p = clove_fmt_room(out, ln + widths[c] - w + 3);
            if (!p) return;
            *p++ = ' ';
            memcpy(p, ls, ln);
            p += ln;
            memset(p, ' ', widths[c] - w + 1);
            p += widths[c] - w + 1;
            *p++ = '|';
            out->len = (size_t)(p - out->data);
        }
    }
}

static void text_table(clove_fmt_t *f, clove_buf_t *out)
{
    idx_t nc = f->ncols;
    size_t *widths = calloc(nc ? nc : 1, sizeof *widths);
    const char **s = calloc(nc ? nc : 1, sizeof *s);
    size_t *n = calloc(nc ? nc : 1, sizeof *n);
    if (!widths || !s || !n) {
        out->failed = true;
        goto done;
    }
    for (idx_t c = 0; c < nc; c++) {
        for (size_t line = 0;; line++) {
            const char *ls;
            size_t ln;
            if (!cell_line(f->names[c], f->name_lens[c], line, &ls, &ln)) break;
            size_t w = text_width(ls, ln);
            if (w > widths[c]) widths[c] = w;
        }
    }
    const char *base = f->cells.data ? f->cells.data : "";
    for (size_t i = 0; i + 1 < f->noffs; i++) {
        idx_t c = i % nc;
        const char *cs = base + f->offs[i];
        size_t cn = f->offs[i + 1] - f->offs[i];
        for (size_t line = 0;; line++) {
            const char *ls;
            size_t ln;
            if (!cell_line(cs, cn, line, &ls, &ln)) break;
            size_t w = text_width(ls, ln);
            if (w > widths[c]) widths[c] = w;
        }
    }
    table_border(out, widths, nc);
    for (idx_t c = 0; c < nc; c++) {
        s[c] = f->names[c];
        n[c] = f->name_lens[c];
    }
    table_row(out, widths, nc, s, n);
    put(out, "\n", 1);
    table_border(out, widths, nc);
    for (size_t i = 0; nc && i + 1 < f->noffs; i += nc) {
        for (idx_t c = 0; c < nc; c++) {
            s[c] = base + f->offs[i + c];
            n[c] = f->offs[i + c + 1] - f->offs[i + c];
        }
        table_row(out, widths, nc, s, n);
    }
    put(out, "\n", 1);
    table_border(out, widths, nc);
done:
    free(widths);
    free(s);
    free(n);
}

void clove_fmt_end(clove_fmt_t *f, clove_buf_t *out, double elapsed_ms)
{
    switch (f->kind) {
    case CLOVE_FMT_JSON: put(out, "]", 1); break;
    case CLOVE_FMT_SPICE_JSON: {
        char num[CLOVE_FMT_NUM_MAX];
        put(out, "],\"row_count\":", 14);
        put(out, num, clove_fmt_u64(num, f->rows));
        /* milliseconds with three decimals, written by hand so no locale can change the
         * decimal point */
        if (!(elapsed_ms >= 0 && elapsed_ms < 1e15)) elapsed_ms = 0;
        uint64_t us = (uint64_t)(elapsed_ms * 1000 + 0.5);
        put(out, ",\"execution_time_ms\":", 21);
        size_t k = clove_fmt_u64(num, us / 1000);
        num[k++] = '.';
        num[k++] = (char)('0' + us / 100 % 10);
        num[k++] = (char)('0' + us / 10 % 10);
        num[k++] = (char)('0' + us % 10);
        num[k++] = '}';
        put(out, num, k);
        break;
    }
    case CLOVE_FMT_CSV: break;
    case CLOVE_FMT_TEXT: text_table(f, out); break;
    }
    terminate(out);
}

/* ---- single values --------------------------------------------------------------------- */

void clove_fmt_json_value(clove_buf_t *out, duckdb_logical_type type, duckdb_vector vec, idx_t row)
{
    if (!clove_fmt_valid(duckdb_vector_get_validity(vec), row)) {
        put(out, "null", 4);
        terminate(out);
        return;
    }
    clove_fmt_node_t node;
    if (clove_fmt_node_init(&node, type) != 0) {
        out->failed = true;
        return;
    }
    clove_fmt_node_json(out, &node, vec, duckdb_vector_get_data(vec), row);
    clove_fmt_node_dispose(&node);
    terminate(out);
}

void clove_fmt_text_value(clove_buf_t *out, duckdb_logical_type type, duckdb_vector vec, idx_t row)
{
    if (!clove_fmt_valid(duckdb_vector_get_validity(vec), row)) return;
    clove_fmt_node_t node;
    if (clove_fmt_node_init(&node, type) != 0) {
        out->failed = true;
        return;
    }
    clove_fmt_node_text(out, &node, vec, duckdb_vector_get_data(vec), row);
    clove_fmt_node_dispose(&node);
    terminate(out);
}
