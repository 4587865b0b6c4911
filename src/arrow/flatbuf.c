/*
 * flatbuf.c: the smallest flatbuffer builder and reader the Arrow IPC messages need. The
 * builder writes back to front (children before parents), so every uoffset points forward
 * as the format requires; it keeps one vtable per table (no deduplication, which only costs
 * a few bytes per message). The reader checks every offset, vtable, vector length and field
 * size against the buffer before reading, so hostile input yields false, never a wild read.
 */
#include "arrow/arrow_int.h"

#include <stdlib.h>
#include <string.h>

/* Flatbuffers address with 32-bit offsets; stay well below that. */
#define FB_MAX_SIZE ((size_t)1 << 30)

/* ---- builder ------------------------------------------------------------------------------ */

void fb_builder_init(fb_builder_t *b)
{
    memset(b, 0, sizeof(*b));
    b->nfields = -1;
}

void fb_builder_reset(fb_builder_t *b)
{
    b->used = 0;
    b->failed = false;
    b->nfields = -1;
}

void fb_builder_dispose(fb_builder_t *b)
{
    free(b->buf);
    fb_builder_init(b);
}

/* Makes room for n more bytes at the front. */
static bool fb_grow(fb_builder_t *b, size_t n)
{
    if (b->failed) return false;
    if (b->cap - b->used >= n) return true;
    if (n > FB_MAX_SIZE || b->used > FB_MAX_SIZE - n) {
        b->failed = true;
        return false;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->used < n) cap *= 2;
    uint8_t *nb = malloc(cap);
    if (!nb) {
        b->failed = true;
        return false;
    }
    if (b->used) memcpy(nb + cap - b->used, b->buf + b->cap - b->used, b->used);
    free(b->buf);
    b->buf = nb;
    b->cap = cap;
    return true;
}

static uint8_t *fb_front(fb_builder_t *b) { return b->buf + b->cap - b->used; }

static void fb_push(fb_builder_t *b, const void *data, size_t n)
{
    if (!fb_grow(b, n)) return;
    b->used += n;
    memcpy(fb_front(b), data, n);
}

static void fb_pad(fb_builder_t *b, size_t n)
{
    if (!fb_grow(b, n)) return;
    b->used += n;
    memset(fb_front(b), 0, n);
}

/* Pads so that after `extra` more bytes the front is aligned to align (a power of two). */
static void fb_prep(fb_builder_t *b, size_t align, size_t extra)
{
    size_t pad = (align - ((b->used + extra) & (align - 1))) & (align - 1);
    if (pad) fb_pad(b, pad);
}

static void fb_push_u32(fb_builder_t *b, uint32_t v)
{
    uint8_t t[4];
    fb_wr32(t, v);
    fb_push(b, t, 4);
}

/* A uoffset stored at the front pointing to ref (both distances from the end). */
static void fb_push_uoffset(fb_builder_t *b, fb_ref_t ref)
{
    fb_prep(b, 4, 4);
    fb_push_u32(b, (uint32_t)(b->used + 4 - ref));
}

fb_ref_t fb_create_string(fb_builder_t *b, const char *s, size_t n)
{
    if (n > FB_MAX_SIZE) {
        b->failed = true;
        return 0;
    }
    fb_prep(b, 4, n + 1);
    fb_pad(b, 1);
    fb_push(b, s, n);
    fb_push_u32(b, (uint32_t)n);
    return (fb_ref_t)b->used;
}

fb_ref_t fb_create_vector(fb_builder_t *b, const void *data, size_t n, size_t elem_size,
                          size_t align)
{
    if (elem_size && n > FB_MAX_SIZE / elem_size) {
        b->failed = true;
        return 0;
    }
    size_t bytes = n * elem_size;
    fb_prep(b, align < 4 ? 4 : align, bytes);
    if (bytes) fb_push(b, data, bytes);
    fb_push_u32(b, (uint32_t)n);
    return (fb_ref_t)b->used;
}

fb_ref_t fb_create_ref_vector(fb_builder_t *b, const fb_ref_t *refs, size_t n)
{
    if (n > FB_MAX_SIZE / 4) {
        b->failed = true;
        return 0;
    }
    fb_prep(b, 4, n * 4);
    for (size_t i = n; i-- > 0;) fb_push_u32(b, (uint32_t)(b->used + 4 - refs[i]));
    fb_push_u32(b, (uint32_t)n);
    return (fb_ref_t)b->used;
}

void fb_table_start(fb_builder_t *b)
{
    b->nfields = 0;
    b->table_start = b->used;
}

static void fb_note_field(fb_builder_t *b, int field)
{
    if (field < 0 || field >= FB_MAX_FIELDS || b->nfields < 0) {
        b->failed = true;
        return;
    }
    b->field_at[field] = b->used;
    for (int i = b->nfields; i < field; i++) b->field_at[i] = 0;
    if (field + 1 > b->nfields) b->nfields = field + 1;
}

static void fb_add_scalar(fb_builder_t *b, int field, const void *le, size_t n)
{
    fb_prep(b, n, n);
    fb_push(b, le, n);
    fb_note_field(b, field);
}

void fb_add_u8(fb_builder_t *b, int field, uint8_t v) { fb_add_scalar(b, field, &v, 1); }

void fb_add_i16(fb_builder_t *b, int field, int16_t v)
{
    uint8_t t[2] = {(uint8_t)v, (uint8_t)((uint16_t)v >> 8)};
    fb_add_scalar(b, field, t, 2);
}

void fb_add_i32(fb_builder_t *b, int field, int32_t v)
{
    uint8_t t[4];
    fb_wr32(t, (uint32_t)v);
    fb_add_scalar(b, field, t, 4);
}

void fb_add_i64(fb_builder_t *b, int field, int64_t v)
{
    uint8_t t[8];
    fb_wr64(t, (uint64_t)v);
    fb_add_scalar(b, field, t, 8);
}

void fb_add_ref(fb_builder_t *b, int field, fb_ref_t ref)
{
    fb_push_uoffset(b, ref);
    fb_note_field(b, field);
}

fb_ref_t fb_table_end(fb_builder_t *b)
{
    if (b->nfields < 0) {
        b->failed = true;
        return 0;
    }
    /* The table starts with its soffset to the vtable, which directly precedes it. */
    fb_prep(b, 4, 4);
    fb_pad(b, 4);
    size_t table_at = b->used;
    int nf = b->nfields;
    size_t tbl_len = table_at - b->table_start;
    size_t vt_len = 4 + 2 * (size_t)nf;
    uint8_t vt[4 + 2 * FB_MAX_FIELDS];
    vt[0] = (uint8_t)vt_len;
    vt[1] = (uint8_t)(vt_len >> 8);
    vt[2] = (uint8_t)tbl_len;
    vt[3] = (uint8_t)(tbl_len >> 8);
    for (int i = 0; i < nf; i++) {
        size_t fo = b->field_at[i] ? table_at - b->field_at[i] : 0;
        vt[4 + 2 * i] = (uint8_t)fo;
        vt[5 + 2 * i] = (uint8_t)(fo >> 8);
    }
    if (tbl_len > 0xffff) b->failed = true;
    fb_push(b, vt, vt_len);
    b->nfields = -1;
    if (b->failed) return 0;
    /* soffset = table address - vtable address (positive: the vtable comes first). */
    fb_wr32(b->buf + b->cap - table_at, (uint32_t)(b->used - table_at));
    return (fb_ref_t)table_at;
}

bool fb_finish(fb_builder_t *b, fb_ref_t root, const uint8_t **out, size_t *out_len)
{
    fb_prep(b, 8, 4);
    fb_push_uoffset(b, root);
    if (b->failed) return false;
    *out = fb_front(b);
    *out_len = b->used;
    return true;
}

/* ---- reader ------------------------------------------------------------------------------- */

/* A table at pos: checks its soffset, vtable and declared size. */
static bool fb_table_at(const uint8_t *buf, size_t len, size_t pos, fb_table_t *out)
{
    if (pos > len || len - pos < 4) return false;
    int64_t vt = (int64_t)pos - (int64_t)(int32_t)fb_rd32(buf + pos);
    if (vt < 0 || (uint64_t)vt > len || len - (size_t)vt < 4) return false;
    uint16_t vt_len = fb_rd16(buf + vt);
    uint16_t tbl_len = fb_rd16(buf + vt + 2);
    if (vt_len < 4 || (vt_len & 1) || (size_t)vt_len > len - (size_t)vt) return false;
    if (tbl_len < 4 || (size_t)tbl_len > len - pos) return false;
    out->buf = buf;
    out->len = len;
    out->pos = pos;
    out->vt = (size_t)vt;
    out->vt_len = vt_len;
    out->tbl_len = tbl_len;
    return true;
}

bool fb_root(const uint8_t *buf, size_t len, fb_table_t *out)
{
    if (!buf || len < 8) return false;
    uint32_t off = fb_rd32(buf);
    return fb_table_at(buf, len, off, out);
}

/* Position of field (0 if absent) after checking that size bytes of it lie in the table. */
static bool fb_field(const fb_table_t *t, int field, size_t size, size_t *pos)
{
    *pos = 0;
    size_t slot = 4 + 2 * (size_t)field;
    if (field < 0 || slot + 2 > t->vt_len) return true;
    uint16_t fo = fb_rd16(t->buf + t->vt + slot);
    if (fo == 0) return true;
    if (fo < 4 || (size_t)fo + size > t->tbl_len) return false;
    *pos = t->pos + fo;
    return true;
}

bool fb_has(const fb_table_t *t, int field)
{
    size_t p;
    return fb_field(t, field, 1, &p) && p != 0;
}

bool fb_get_u8(const fb_table_t *t, int field, uint8_t def, uint8_t *out)
{
    size_t p;
    if (!fb_field(t, field, 1, &p)) return false;
    *out = p ? t->buf[p] : def;
    return true;
}

bool fb_get_i16(const fb_table_t *t, int field, int16_t def, int16_t *out)
{
    size_t p;
    if (!fb_field(t, field, 2, &p)) return false;
    *out = p ? (int16_t)fb_rd16(t->buf + p) : def;
    return true;
}

bool fb_get_i32(const fb_table_t *t, int field, int32_t def, int32_t *out)
{
    size_t p;
    if (!fb_field(t, field, 4, &p)) return false;
    *out = p ? (int32_t)fb_rd32(t->buf + p) : def;
    return true;
}

bool fb_get_i64(const fb_table_t *t, int field, int64_t def, int64_t *out)
{
    size_t p;
    if (!fb_field(t, field, 8, &p)) return false;
    *out = p ? (int64_t)fb_rd64(t->buf + p) : def;
    return true;
}

/* Follows the uoffset stored at p. */
static bool fb_deref(const uint8_t *buf, size_t len, size_t p, size_t *target)
{
    if (p > len || len - p < 4) return false;
    uint32_t off = fb_rd32(buf + p);
    if (off == 0 || off > len - p) return false;
    *target = p + off;
    return true;
}

bool fb_get_table(const fb_table_t *t, int field, fb_table_t *out, bool *present)
{
    size_t p, target;
    *present = false;
    if (!fb_field(t, field, 4, &p)) return false;
    if (!p) return true;
    if (!fb_deref(t->buf, t->len, p, &target)) return false;
    *present = true;
    return fb_table_at(t->buf, t->len, target, out);
}

bool fb_get_vector(const fb_table_t *t, int field, size_t elem_size, fb_vec_t *out,
                   bool *present)
{
    size_t p, target;
    *present = false;
    if (!fb_field(t, field, 4, &p)) return false;
    if (!p) return true;
    if (!fb_deref(t->buf, t->len, p, &target)) return false;
    if (t->len - target < 4) return false;
    uint32_t n = fb_rd32(t->buf + target);
    size_t start = target + 4;
    if (elem_size && (uint64_t)n > (uint64_t)(t->len - start) / elem_size) return false;
    out->buf = t->buf;
    out->len = t->len;
    out->start = start;
    out->n = n;
    *present = true;
    return true;
}

bool fb_get_string(const fb_table_t *t, int field, const char **s, size_t *n, bool *present)
{
    fb_vec_t v;
    if (!fb_get_vector(t, field, 1, &v, present)) return false;
    if (*present) {
        *s = (const char *)v.buf + v.start;
        *n = v.n;
    }
    return true;
}

bool fb_vec_table(const fb_vec_t *v, uint32_t i, fb_table_t *out)
{
    size_t target;
    if (i >= v->n) return false;
    if (!fb_deref(v->buf, v->len, v->start + 4 * (size_t)i, &target)) return false;
    return fb_table_at(v->buf, v->len, target, out);
}

/* Word `word` (8 bytes each) of struct element i; the caller made sure elem_size fits. */
int64_t fb_vec_i64(const fb_vec_t *v, uint32_t i, uint32_t elem_size, uint32_t word)
{
    return (int64_t)fb_rd64(v->buf + v->start + (size_t)i * elem_size + 8 * (size_t)word);
}

int32_t fb_vec_i32(const fb_vec_t *v, uint32_t i)
{
    return (int32_t)fb_rd32(v->buf + v->start + 4 * (size_t)i);
}
