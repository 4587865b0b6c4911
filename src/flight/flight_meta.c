/*
 * Flight SQL metadata results (catalogs, schemas, tables, SqlInfo, XDBC type info) as Arrow
 * IPC. The specification fixes these schemas exactly, including non-null fields and a dense
 * union, so the columns are declared here with their Arrow types and built value by value
 * instead of going through DuckDB's Arrow export (which marks every field nullable and has no
 * dense union). The flatbuffers come from src/arrow's builder (arrow_int.h).
 */
#include "flight/flight_int.h"

#include <stdlib.h>
#include <string.h>

#include "arrow/arrow_int.h"

static const uint8_t zeros8[8];

/* ---- columns ------------------------------------------------------------------------------ */

static mcol_t *mcol_new(mcol_kind_t kind, const char *name, bool nullable)
{
    mcol_t *c = clove_xcalloc(1, sizeof(*c));
    c->name = clove_xstrdup(name);
    c->kind = kind;
    c->nullable = nullable;
    clove_buf_init(&c->validity);
    clove_buf_init(&c->offsets);
    clove_buf_init(&c->data);
    if (kind == MCOL_UTF8 || kind == MCOL_BINARY || kind == MCOL_LIST || kind == MCOL_MAP) {
        int32_t zero = 0;
        clove_buf_append(&c->offsets, &zero, 4);
    }
    return c;
}

static void mcol_free(mcol_t *c)
{
    if (!c) return;
    for (int i = 0; i < c->nchildren; i++) mcol_free(c->children[i]);
    free(c->children);
    free(c->name);
    clove_buf_dispose(&c->validity);
    clove_buf_dispose(&c->offsets);
    clove_buf_dispose(&c->data);
    free(c);
}

mcol_t *meta_col(meta_table_t *t, mcol_kind_t kind, const char *name, bool nullable)
{
    t->cols = clove_xrealloc(t->cols, (size_t)(t->ncols + 1) * sizeof(*t->cols));
    return t->cols[t->ncols++] = mcol_new(kind, name, nullable);
}

mcol_t *meta_child(mcol_t *parent, mcol_kind_t kind, const char *name, bool nullable)
{
    parent->children = clove_xrealloc(parent->children,
                                      (size_t)(parent->nchildren + 1) * sizeof(*parent->children));
    return parent->children[parent->nchildren++] = mcol_new(kind, name, nullable);
}

void meta_table_dispose(meta_table_t *t)
{
    for (int i = 0; i < t->ncols; i++) mcol_free(t->cols[i]);
    free(t->cols);
    memset(t, 0, sizeof(*t));
}

/* ---- appending ---------------------------------------------------------------------------- */

static void set_bit(clove_buf_t *b, int64_t i, bool v)
{
    size_t need = (size_t)(i / 8) + 1;
    while (b->len < need) clove_buf_putc(b, 0);
    if (b->failed) return;
    if (v) ((uint8_t *)b->data)[i / 8] |= (uint8_t)(1u << (i % 8));
}

/* Records one row's validity and advances the length. */
static void row_valid(mcol_t *c, bool valid)
{
    set_bit(&c->validity, c->length, valid);
    if (!valid) c->null_count++;
    c->length++;
}

static void push_offset(mcol_t *c, int64_t end)
{
    int32_t v = (int32_t)end;
    clove_buf_append(&c->offsets, &v, 4);
}

void meta_null(mcol_t *c)
{
    CLOVE_ASSERT(c->kind != MCOL_DUNION);
    switch (c->kind) {
    case MCOL_UTF8: case MCOL_BINARY: push_offset(c, (int64_t)c->data.len); break;
    case MCOL_LIST: case MCOL_MAP: push_offset(c, c->children[0]->length); break;
    case MCOL_BOOL: set_bit(&c->data, c->length, false); break;
    case MCOL_INT32: case MCOL_UINT32: clove_buf_append(&c->data, zeros8, 4); break;
    case MCOL_INT64: clove_buf_append(&c->data, zeros8, 8); break;
    case MCOL_STRUCT:
        for (int i = 0; i < c->nchildren; i++) meta_null(c->children[i]);
        break;
    default: break;
    }
    row_valid(c, false);
}

void meta_str(mcol_t *c, const char *s)
{
    if (!s) {
        meta_null(c);
        return;
    }
    meta_bin(c, s, strlen(s));
}

void meta_bin(mcol_t *c, const void *p, size_t n)
{
    clove_buf_append(&c->data, p, n);
    push_offset(c, (int64_t)c->data.len);
    row_valid(c, true);
}

void meta_bool(mcol_t *c, bool v)
{
    set_bit(&c->data, c->length, v);
    row_valid(c, true);
}

void meta_i32(mcol_t *c, int32_t v)
{
    clove_buf_append(&c->data, &v, 4);
    row_valid(c, true);
}

void meta_u32(mcol_t *c, uint32_t v)
{
    clove_buf_append(&c->data, &v, 4);
    row_valid(c, true);
}

void meta_i64(mcol_t *c, int64_t v)
{
    clove_buf_append(&c->data, &v, 8);
    row_valid(c, true);
}

void meta_list_end(mcol_t *c)
{
    push_offset(c, c->children[0]->length);
    row_valid(c, true);
}

void meta_struct_row(mcol_t *c)
{
    row_valid(c, true);
}

mcol_t *meta_union(mcol_t *c, int child)
{
    CLOVE_ASSERT(c->kind == MCOL_DUNION && child >= 0 && child < c->nchildren);
    int8_t id = (int8_t)child;
    clove_buf_append(&c->data, &id, 1);
    push_offset(c, c->children[child]->length);
    c->length++;
    return c->children[child];
}

void meta_row_done(meta_table_t *t)
{
    t->rows++;
    for (int i = 0; i < t->ncols; i++) CLOVE_ASSERT(t->cols[i]->length == t->rows);
}

/* ---- Schema ------------------------------------------------------------------------------- */

static uint8_t fb_type_id(mcol_kind_t k)
{
    switch (k) {
    case MCOL_UTF8: return FB_T_UTF8;
    case MCOL_BINARY: return FB_T_BINARY;
    case MCOL_BOOL: return FB_T_BOOL;
    case MCOL_INT32: case MCOL_UINT32: case MCOL_INT64: return FB_T_INT;
    case MCOL_LIST: return FB_T_LIST;
    case MCOL_STRUCT: return FB_T_STRUCT;
    case MCOL_MAP: return FB_T_MAP;
    case MCOL_DUNION: return FB_T_UNION;
    }
    return FB_T_NONE;
}

static fb_ref_t fb_meta_field(fb_builder_t *fb, const mcol_t *c)
{
    fb_ref_t *refs = clove_xcalloc((size_t)(c->nchildren ? c->nchildren : 1), sizeof(*refs));
    for (int i = 0; i < c->nchildren; i++) refs[i] = fb_meta_field(fb, c->children[i]);
    fb_ref_t children = fb_create_ref_vector(fb, refs, (size_t)c->nchildren);
    free(refs);
    fb_ref_t name = fb_create_string(fb, c->name, strlen(c->name));
    fb_ref_t ids = 0;
    if (c->kind == MCOL_DUNION) {
        uint8_t le[4 * 16];
        CLOVE_ASSERT(c->nchildren <= 16);
        for (int i = 0; i < c->nchildren; i++) fb_wr32(le + 4 * i, (uint32_t)i);
        ids = fb_create_vector(fb, le, (size_t)c->nchildren, 4, 4);
    }
    fb_table_start(fb);
    switch (c->kind) {
    case MCOL_INT32: case MCOL_UINT32: case MCOL_INT64:
        fb_add_i32(fb, 0, c->kind == MCOL_INT64 ? 64 : 32);
        fb_add_u8(fb, 1, c->kind != MCOL_UINT32);
        break;
    case MCOL_MAP: fb_add_u8(fb, 0, 0); break;
    case MCOL_DUNION:
        fb_add_i16(fb, 0, ARROW_UNION_DENSE);
        fb_add_ref(fb, 1, ids);
        break;
    default: break;
    }
    fb_ref_t type = fb_table_end(fb);
    fb_table_start(fb);
    fb_add_ref(fb, FB_FIELD_NAME, name);
    fb_add_u8(fb, FB_FIELD_NULLABLE, c->nullable);
    fb_add_u8(fb, FB_FIELD_TYPE_TYPE, fb_type_id(c->kind));
    fb_add_ref(fb, FB_FIELD_TYPE, type);
    fb_add_ref(fb, FB_FIELD_CHILDREN, children);
    return fb_table_end(fb);
}

static bool fb_meta_message(fb_builder_t *fb, uint8_t type, fb_ref_t header, int64_t body_len,
                            const uint8_t **out, size_t *out_len)
{
    fb_table_start(fb);
    fb_add_i64(fb, FB_MSG_BODY_LENGTH, body_len);
    fb_add_ref(fb, FB_MSG_HEADER, header);
    fb_add_i16(fb, FB_MSG_VERSION, FB_METADATA_V5);
    fb_add_u8(fb, FB_MSG_HEADER_TYPE, type);
    return fb_finish(fb, fb_table_end(fb), out, out_len);
}

/* Builds the Schema message flatbuffer into fb. */
static bool schema_flatbuffer(fb_builder_t *fb, const meta_table_t *t, const uint8_t **out,
                              size_t *out_len)
{
    fb_ref_t *refs = clove_xcalloc((size_t)(t->ncols ? t->ncols : 1), sizeof(*refs));
    for (int i = 0; i < t->ncols; i++) refs[i] = fb_meta_field(fb, t->cols[i]);
    fb_ref_t fields = fb_create_ref_vector(fb, refs, (size_t)t->ncols);
    free(refs);
    fb_table_start(fb);
    fb_add_i16(fb, FB_SCHEMA_ENDIANNESS, 0);
    fb_add_ref(fb, FB_SCHEMA_FIELDS, fields);
    fb_ref_t schema = fb_table_end(fb);
    return fb_meta_message(fb, FB_HDR_SCHEMA, schema, 0, out, out_len);
}

int meta_schema(const meta_table_t *t, clove_buf_t *out, clove_err_t *err)
{
    fb_builder_t fb;
    fb_builder_init(&fb);
    const uint8_t *meta;
    size_t len;
    int rc = 0;
    if (!schema_flatbuffer(&fb, t, &meta, &len)) {
        rc = clove_err_set(err, CLOVE_ENOMEM, "out of memory encoding a metadata schema");
        goto out;
    }
    uint8_t prefix[8];
    fb_wr32(prefix, 0xFFFFFFFFu);
    fb_wr32(prefix + 4, (uint32_t)len);
    clove_buf_append(out, prefix, 8);
    clove_buf_append(out, meta, len);
    if (out->failed) rc = clove_err_set(err, CLOVE_ENOMEM, "out of memory encoding a schema");
out:
    fb_builder_dispose(&fb);
    return rc;
}

/* ---- RecordBatch -------------------------------------------------------------------------- */

typedef struct {
    clove_buf_t nodes;           /* (length, null_count) int64 pairs */
    clove_buf_t bufs;            /* (offset, length) int64 pairs */
    clove_buf_t body;
} rb_t;

static void rb_buf(rb_t *rb, const clove_buf_t *b, size_t len)
{
    int64_t pair[2] = {(int64_t)rb->body.len, (int64_t)len};
    clove_buf_append(&rb->bufs, pair, sizeof(pair));
    if (len) clove_buf_append(&rb->body, b->data, len);
    if (len & 7) clove_buf_append(&rb->body, zeros8, 8 - (len & 7));
}

static void rb_col(rb_t *rb, const mcol_t *c)
{
    int64_t node[2] = {c->length, c->null_count};
    clove_buf_append(&rb->nodes, node, sizeof(node));
    size_t bits = (size_t)(c->length + 7) / 8;
    if (c->kind != MCOL_DUNION) {
        /* every bit up to length exists: set_bit grows the buffer per row */
        rb_buf(rb, &c->validity, c->null_count ? bits : 0);
    }
    switch (c->kind) {
    case MCOL_UTF8: case MCOL_BINARY:
        rb_buf(rb, &c->offsets, c->offsets.len);
        rb_buf(rb, &c->data, c->data.len);
        break;
    case MCOL_BOOL: rb_buf(rb, &c->data, bits); break;
    case MCOL_INT32: case MCOL_UINT32: case MCOL_INT64: rb_buf(rb, &c->data, c->data.len); break;
    case MCOL_LIST: case MCOL_MAP: rb_buf(rb, &c->offsets, c->offsets.len); break;
    case MCOL_DUNION:
        rb_buf(rb, &c->data, c->data.len);
        rb_buf(rb, &c->offsets, c->offsets.len);
        break;
    case MCOL_STRUCT: break;
    }
    for (int i = 0; i < c->nchildren; i++) rb_col(rb, c->children[i]);
}

int meta_parts(const meta_table_t *t, clove_ipc_parts_t *parts, clove_err_t *err)
{
    fb_builder_t fb;
    fb_builder_init(&fb);
    rb_t rb;
    clove_buf_init(&rb.nodes);
    clove_buf_init(&rb.bufs);
    clove_buf_init(&rb.body);
    int rc = 0;
    const uint8_t *meta;
    size_t len;

    if (!schema_flatbuffer(&fb, t, &meta, &len)) goto oom;
    clove_ipc_part_t *p = clove_ipc_parts_add(parts);
    if (!p) goto oom;
    clove_buf_append(&p->header, meta, len);

    for (int i = 0; i < t->ncols; i++) rb_col(&rb, t->cols[i]);
    if (rb.nodes.failed || rb.bufs.failed || rb.body.failed) goto oom;
    fb_builder_reset(&fb);
    fb_ref_t bufs = fb_create_vector(&fb, rb.bufs.data, rb.bufs.len / 16, 16, 8);
    fb_ref_t nodes = fb_create_vector(&fb, rb.nodes.data, rb.nodes.len / 16, 16, 8);
    fb_table_start(&fb);
    fb_add_i64(&fb, FB_RB_LENGTH, t->rows);
    fb_add_ref(&fb, FB_RB_NODES, nodes);
    fb_add_ref(&fb, FB_RB_BUFFERS, bufs);
    fb_ref_t batch = fb_table_end(&fb);
    if (!fb_meta_message(&fb, FB_HDR_RECORD_BATCH, batch, (int64_t)rb.body.len, &meta, &len))
        goto oom;
    p = clove_ipc_parts_add(parts);
    if (!p) goto oom;
    clove_buf_append(&p->header, meta, len);
    if (rb.body.len) clove_buf_append(&p->body, rb.body.data, rb.body.len);
    for (size_t i = 0; i < parts->n; i++)
        if (parts->parts[i].header.failed || parts->parts[i].body.failed) goto oom;
    goto out;
oom:
    rc = clove_err_set(err, CLOVE_ENOMEM, "out of memory encoding a metadata result");
out:
    clove_buf_dispose(&rb.nodes);
    clove_buf_dispose(&rb.bufs);
    clove_buf_dispose(&rb.body);
    fb_builder_dispose(&fb);
    return rc;
}
