/*
 * ipc_write.c: the Arrow IPC stream writer. DuckDB turns the column types into an ArrowSchema
 * once and each chunk into an ArrowArray (C Data Interface); this file walks schema and array
 * together, lists the IPC field nodes and body buffers (pointing into DuckDB's arrays, copying
 * only when a slice must be re-based), builds the Message flatbuffer, and appends the
 * encapsulated message: 0xFFFFFFFF, metadata length, flatbuffer, body with every buffer padded
 * to 8 bytes. Dictionary-encoded columns (DuckDB's ENUM) get a DictionaryBatch before the
 * first RecordBatch and again only when the dictionary changes.
 */
#include "arrow/arrow.h"

#include <stdlib.h>
#include <string.h>

#include "arrow/arrow_int.h"

#define COMPONENT "arrow"

/* One node of the column type tree, parsed once from DuckDB's ArrowSchema. */
typedef struct wnode {
    arrow_type_t t;            /* for a dictionary-encoded node: the index type */
    const struct ArrowSchema *schema;
    struct wnode *value;       /* dictionary value type, or NULL */
    int dict_slot;             /* index into the writer's dictionaries, -1 if none */
    struct wnode *children;
    int64_t nchildren;
} wnode_t;

typedef struct {
    int64_t id;
    const wnode_t *value;
    const struct ArrowArray *cur;   /* this chunk's dictionary array */
    uint8_t *last;                  /* header + body last sent, to skip repeats */
    size_t last_len;
} wdict_t;

typedef struct {
    const uint8_t *p;
    int64_t len;
} wbuf_t;

/* The nodes and buffers of one RecordBatch being encoded. */
typedef struct {
    int64_t *nodes;            /* (length, null_count) pairs */
    size_t n_nodes, cap_nodes;
    wbuf_t *bufs;
    size_t n_bufs, cap_bufs;
    int64_t *variadic;
    size_t n_variadic, cap_variadic;
    int64_t body_len;
    bool oom;
} enc_t;

/* A growing buffer of one gathered IPC buffer (see clove_ipc_writer_gather). */
typedef struct {
    uint8_t *p;
    size_t len, cap;
} gbuf_t;

/* How a column is gathered straight from DuckDB vectors. */
enum { GK_NONE = 0, GK_FIXED, GK_BOOL, GK_STRING };

/* One column of the RecordBatch being gathered. */
typedef struct {
    int kind;                  /* GK_* */
    int width;                 /* GK_FIXED: bytes per value; GK_STRING: bytes per offset */
    bool has_valid;            /* a null arrived: valid holds a bit for every row */
    int64_t nulls;
    gbuf_t valid;              /* validity bits */
    gbuf_t values;             /* values, bool bits, or string offsets */
    gbuf_t chars;              /* string bytes */
} gcol_t;

struct clove_ipc_writer {
    duckdb_database own_db;
    duckdb_connection own_conn;
    duckdb_arrow_options opts;
    bool own_opts;             /* opts were made here (not borrowed) */
    struct ArrowSchema schema;
    idx_t ncols;
    duckdb_type *type_ids;
    wnode_t *cols;
    wdict_t *dicts;
    int ndicts;
    bool has_views;
    uint8_t uuid_view_layout;  /* what DuckDB really writes for a UUID it declares "vu" */
    fb_builder_t fb;
    enc_t rb, db;
    void **scratch;            /* allocations that live until the end of one call */
    size_t n_scratch, cap_scratch;
    uint64_t bytes;
    bool can_gather;           /* every column is gathered straight from vectors */
    gcol_t *gcols;             /* the RecordBatch being gathered, ncols columns */
    int64_t grows;             /* its rows */
    size_t *gbytes;            /* per column: string bytes of the chunk being added */
};

static const uint8_t zeros8[8];

/* ---- parts ------------------------------------------------------------------------------- */

void clove_ipc_parts_init(clove_ipc_parts_t *p) { memset(p, 0, sizeof(*p)); }

static void part_drop_pieces(clove_ipc_part_t *part)
{
    for (size_t i = 0; i < part->n_pieces; i++) free(part->pieces[i].data);
    part->n_pieces = 0;
}

void clove_ipc_parts_reset(clove_ipc_parts_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        clove_buf_reset(&p->parts[i].header);
        clove_buf_reset(&p->parts[i].body);
        part_drop_pieces(&p->parts[i]);
    }
    p->n = 0;
}

void clove_ipc_parts_dispose(clove_ipc_parts_t *p)
{
    for (size_t i = 0; i < p->cap; i++) {
        clove_buf_dispose(&p->parts[i].header);
        clove_buf_dispose(&p->parts[i].body);
        part_drop_pieces(&p->parts[i]);
        free(p->parts[i].pieces);
    }
    free(p->parts);
    memset(p, 0, sizeof(*p));
}

clove_ipc_part_t *clove_ipc_parts_add(clove_ipc_parts_t *p)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        clove_ipc_part_t *np = realloc(p->parts, cap * sizeof(*np));
        if (!np) return NULL;
        memset(np + p->cap, 0, (cap - p->cap) * sizeof(*np));
        p->parts = np;
        p->cap = cap;
    }
    clove_ipc_part_t *part = &p->parts[p->n++];
    clove_buf_reset(&part->header);
    clove_buf_reset(&part->body);
    part_drop_pieces(part);
    return part;
}

size_t clove_ipc_part_body_len(const clove_ipc_part_t *part)
{
    size_t n = part->body.len;
    for (size_t i = 0; i < part->n_pieces; i++) n += part->pieces[i].len;
    return n;
}

/* ---- type tree ----------------------------------------------------------------------------- */

static void wnode_dispose(wnode_t *n)
{
    if (n->value) {
        wnode_dispose(n->value);
        free(n->value);
    }
    for (int64_t i = 0; i < n->nchildren; i++) wnode_dispose(&n->children[i]);
    free(n->children);
}

/* DuckDB 1.4 declares UUID as utf8_view when string views are on but still appends the
 * utf8 (or large utf8) layout; a one-row probe tells which layout it writes. */
static uint8_t probe_uuid_layout(clove_ipc_writer_t *w)
{
    uint8_t layout = FB_T_UTF8_VIEW;
    duckdb_logical_type t = duckdb_create_logical_type(DUCKDB_TYPE_UUID);
    duckdb_data_chunk c = duckdb_create_data_chunk(&t, 1);
    duckdb_hugeint *v = duckdb_vector_get_data(duckdb_data_chunk_get_vector(c, 0));
    v[0].lower = 0;
    v[0].upper = 0;
    duckdb_data_chunk_set_size(c, 1);
    struct ArrowArray a;
    memset(&a, 0, sizeof(a));
    duckdb_error_data ed = duckdb_data_chunk_to_arrow(w->opts, c, &a);
    if (ed) {
        duckdb_destroy_error_data(&ed);
    } else if (a.n_children == 1 && a.children[0]->n_buffers >= 3) {
        const int32_t *o32 = a.children[0]->buffers[1];
        if (o32 && o32[0] == 0 && o32[1] == 36) layout = FB_T_UTF8;
        else if (o32 && o32[0] == 0 && o32[1] == 0 && o32[2] == 36) layout = FB_T_LARGE_UTF8;
    }
    if (a.release) a.release(&a);
    duckdb_destroy_data_chunk(&c);
    duckdb_destroy_logical_type(&t);
    return layout;
}

/* The DuckDB type of child i of an Arrow node of type lt (NULL when not known); caller
 * destroys. A MAP's entries struct has no DuckDB type of its own: its children are the key
 * and value types (map_entries). */
static duckdb_logical_type duck_child(duckdb_logical_type lt, bool map_entries, int64_t i)
{
    if (!lt) return NULL;
    if (map_entries)
        return i == 0 ? duckdb_map_type_key_type(lt) : duckdb_map_type_value_type(lt);
    switch (duckdb_get_type_id(lt)) {
    case DUCKDB_TYPE_LIST: return duckdb_list_type_child_type(lt);
    case DUCKDB_TYPE_ARRAY: return duckdb_array_type_child_type(lt);
    case DUCKDB_TYPE_STRUCT: return duckdb_struct_type_child_type(lt, (idx_t)i);
    case DUCKDB_TYPE_UNION: return duckdb_union_type_member_type(lt, (idx_t)i);
    default: return NULL;
    }
}

static int wnode_build(clove_ipc_writer_t *w, wnode_t *n, const struct ArrowSchema *s,
                       duckdb_logical_type lt, bool map_entries, const char *col, int depth,
                       bool in_dict, clove_err_t *err)
{
    memset(n, 0, sizeof(*n));
    n->dict_slot = -1;
    n->schema = s;
    if (depth > CLOVE_IPC_MAX_DEPTH)
        return clove_err_set(err, CLOVE_EUNSUPPORTED,
                             "column \"%s\" nests types deeper than %d levels", col,
                             CLOVE_IPC_MAX_DEPTH);
    if (!arrow_fmt_parse(s->format, &n->t))
        return clove_err_set(err, CLOVE_EUNSUPPORTED,
                             "column \"%s\": Arrow type \"%s\" is not supported by the IPC "
                             "writer", col, s->format ? s->format : "");
    if (s->dictionary) {
        if (in_dict || n->t.id != FB_T_INT)
            return clove_err_set(err, CLOVE_EUNSUPPORTED,
                                 "column \"%s\": nested or non-integer dictionary encoding is "
                                 "not supported", col);
        n->value = clove_xcalloc(1, sizeof(*n->value));
        n->dict_slot = w->ndicts;
        w->dicts = clove_xrealloc(w->dicts, (size_t)(w->ndicts + 1) * sizeof(*w->dicts));
        memset(&w->dicts[w->ndicts], 0, sizeof(w->dicts[0]));
        w->dicts[w->ndicts].id = w->ndicts;
        w->dicts[w->ndicts].value = n->value;
        w->ndicts++;
        return wnode_build(w, n->value, s->dictionary, NULL, false, col, depth + 1, true, err);
    }
    switch (n->t.id) {
    case FB_T_LIST_VIEW:
    case FB_T_LARGE_LIST_VIEW:
    case FB_T_RUN_END_ENCODED:
        return clove_err_set(err, CLOVE_EUNSUPPORTED,
                             "column \"%s\": Arrow %s is not supported by the IPC writer", col,
                             arrow_type_name(n->t.id));
    case FB_T_BINARY_VIEW:
    case FB_T_UTF8_VIEW:
        if (lt && !map_entries && duckdb_get_type_id(lt) == DUCKDB_TYPE_UUID) {
            if (!w->uuid_view_layout) w->uuid_view_layout = probe_uuid_layout(w);
            n->t.id = w->uuid_view_layout;
            if (n->t.id != FB_T_UTF8_VIEW) break;
        }
        w->has_views = true;
        break;
    case FB_T_UNION:
        if (n->t.n_type_ids != s->n_children)
            return clove_err_set(err, CLOVE_EINTERNAL, "column \"%s\": union type ids do not "
                                 "match its children", col);
        break;
    default:
        break;
    }
    if (s->n_children < 0 || s->n_children > 100000)
        return clove_err_set(err, CLOVE_EINTERNAL, "column \"%s\": bad child count", col);
    if (s->n_children) {
        n->children = clove_xcalloc((size_t)s->n_children, sizeof(*n->children));
        n->nchildren = s->n_children;
        bool is_map = n->t.id == FB_T_MAP && lt && !map_entries &&
                      duckdb_get_type_id(lt) == DUCKDB_TYPE_MAP;
        for (int64_t i = 0; i < s->n_children; i++) {
            duckdb_logical_type ct = is_map ? NULL : duck_child(lt, map_entries, i);
            int rc = wnode_build(w, &n->children[i], s->children[i], is_map ? lt : ct, is_map,
                                 col, depth + 1, in_dict, err);
            if (ct) duckdb_destroy_logical_type(&ct);
            if (rc) return rc;
        }
    }
    return 0;
}

/* ---- Schema message ----------------------------------------------------------------------- */

static fb_ref_t fb_type_table(fb_builder_t *fb, const arrow_type_t *t)
{
    fb_ref_t tz = 0, ids = 0;
    if (t->id == FB_T_TIMESTAMP && t->tz[0]) tz = fb_create_string(fb, t->tz, strlen(t->tz));
    if (t->id == FB_T_UNION && t->n_type_ids > 0) {
        int32_t v[ARROW_MAX_UNION_CHILDREN];
        uint8_t le[4 * ARROW_MAX_UNION_CHILDREN];
        for (int i = 0; i < t->n_type_ids; i++) {
            v[i] = t->type_ids[i];
            fb_wr32(le + 4 * i, (uint32_t)v[i]);
        }
        ids = fb_create_vector(fb, le, (size_t)t->n_type_ids, 4, 4);
    }
    fb_table_start(fb);
    switch (t->id) {
    case FB_T_INT:
        fb_add_i32(fb, 0, t->bits);
        fb_add_u8(fb, 1, t->is_signed);
        break;
    case FB_T_FLOAT: fb_add_i16(fb, 0, t->unit); break;
    case FB_T_DECIMAL:
        fb_add_i32(fb, 0, t->precision);
        fb_add_i32(fb, 1, t->scale);
        fb_add_i32(fb, 2, t->bits);
        break;
    case FB_T_DATE: case FB_T_INTERVAL: case FB_T_DURATION: fb_add_i16(fb, 0, t->unit); break;
    case FB_T_TIME:
        fb_add_i16(fb, 0, t->unit);
        fb_add_i32(fb, 1, t->bits);
        break;
    case FB_T_TIMESTAMP:
        fb_add_i16(fb, 0, t->unit);
        if (tz) fb_add_ref(fb, 1, tz);
        break;
    case FB_T_FIXED_SIZE_BINARY: case FB_T_FIXED_SIZE_LIST: fb_add_i32(fb, 0, t->size); break;
    case FB_T_MAP: fb_add_u8(fb, 0, t->keys_sorted); break;
    case FB_T_UNION:
        fb_add_i16(fb, 0, t->unit);
        if (ids) fb_add_ref(fb, 1, ids);
        break;
    default: break;
    }
    return fb_table_end(fb);
}

/* C Data metadata: int32 count, then (int32 length, bytes) for each key and value. */
static fb_ref_t fb_metadata(fb_builder_t *fb, const char *md)
{
    if (!md) return 0;
    const uint8_t *p = (const uint8_t *)md;
    int32_t n = (int32_t)fb_rd32(p);
    if (n <= 0 || n > 4096) return 0;
    p += 4;
    fb_ref_t *kvs = clove_xcalloc((size_t)n, sizeof(*kvs));
    for (int32_t i = 0; i < n; i++) {
        uint32_t kl = fb_rd32(p);
        const char *k = (const char *)p + 4;
        p += 4 + kl;
        uint32_t vl = fb_rd32(p);
        const char *v = (const char *)p + 4;
        p += 4 + vl;
        fb_ref_t kr = fb_create_string(fb, k, kl);
        fb_ref_t vr = fb_create_string(fb, v, vl);
        fb_table_start(fb);
        fb_add_ref(fb, FB_KV_KEY, kr);
        fb_add_ref(fb, FB_KV_VALUE, vr);
        kvs[i] = fb_table_end(fb);
    }
    fb_ref_t r = fb_create_ref_vector(fb, kvs, (size_t)n);
    free(kvs);
    return r;
}

static fb_ref_t fb_field(clove_ipc_writer_t *w, const wnode_t *n)
{
    fb_builder_t *fb = &w->fb;
    const struct ArrowSchema *s = n->schema;
    const wnode_t *tn = n->value ? n->value : n;   /* the node that carries the value type */
    fb_ref_t children = 0, dict = 0, name = 0, md = 0, type;
    fb_ref_t *refs = tn->nchildren ? clove_xcalloc((size_t)tn->nchildren, sizeof(*refs)) : NULL;
    for (int64_t i = 0; i < tn->nchildren; i++) refs[i] = fb_field(w, &tn->children[i]);
    children = fb_create_ref_vector(fb, refs, (size_t)tn->nchildren);
    free(refs);
    if (s->name) name = fb_create_string(fb, s->name, strlen(s->name));
    md = fb_metadata(fb, s->metadata);
    type = fb_type_table(fb, &tn->t);
    if (n->value) {
        fb_ref_t idx = fb_type_table(fb, &n->t);
        fb_table_start(fb);
        fb_add_i64(fb, FB_DICTENC_ID, w->dicts[n->dict_slot].id);
        fb_add_ref(fb, FB_DICTENC_INDEX_TYPE, idx);
        fb_add_u8(fb, FB_DICTENC_IS_ORDERED, (s->flags & ARROW_FLAG_DICTIONARY_ORDERED) != 0);
        dict = fb_table_end(fb);
    }
    fb_table_start(fb);
    if (name) fb_add_ref(fb, FB_FIELD_NAME, name);
    fb_add_u8(fb, FB_FIELD_NULLABLE, (s->flags & ARROW_FLAG_NULLABLE) != 0);
    fb_add_u8(fb, FB_FIELD_TYPE_TYPE, tn->t.id);
    fb_add_ref(fb, FB_FIELD_TYPE, type);
    if (dict) fb_add_ref(fb, FB_FIELD_DICTIONARY, dict);
    fb_add_ref(fb, FB_FIELD_CHILDREN, children);
    if (md) fb_add_ref(fb, FB_FIELD_CUSTOM_METADATA, md);
    return fb_table_end(fb);
}

/* Wraps a header table in a Message and finishes the flatbuffer. */
static bool fb_message(fb_builder_t *fb, uint8_t header_type, fb_ref_t header, int64_t body_len,
                       const uint8_t **out, size_t *out_len)
{
    fb_table_start(fb);
    fb_add_i64(fb, FB_MSG_BODY_LENGTH, body_len);
    fb_add_ref(fb, FB_MSG_HEADER, header);
    fb_add_i16(fb, FB_MSG_VERSION, FB_METADATA_V5);
    fb_add_u8(fb, FB_MSG_HEADER_TYPE, header_type);
    fb_ref_t msg = fb_table_end(fb);
    return fb_finish(fb, msg, out, out_len);
}

/* ---- encoding arrays ------------------------------------------------------------------------ */

static void enc_reset(enc_t *e)
{
    e->n_nodes = e->n_bufs = e->n_variadic = 0;
    e->body_len = 0;
    e->oom = false;
}

static void enc_dispose(enc_t *e)
{
    free(e->nodes);
    free(e->bufs);
    free(e->variadic);
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap * 2 : 64;
    while (nc < need) nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (!np) return false;
    *p = np;
    *cap = nc;
    return true;
}

static void enc_node_add(enc_t *e, int64_t len, int64_t nulls)
{
    if (!grow((void **)&e->nodes, &e->cap_nodes, 2 * (e->n_nodes + 1), sizeof(int64_t))) {
        e->oom = true;
        return;
    }
    e->nodes[2 * e->n_nodes] = len;
    e->nodes[2 * e->n_nodes + 1] = nulls;
    e->n_nodes++;
}

static void enc_buf_add(enc_t *e, const void *p, int64_t len)
{
    if (!grow((void **)&e->bufs, &e->cap_bufs, e->n_bufs + 1, sizeof(wbuf_t))) {
        e->oom = true;
        return;
    }
    e->bufs[e->n_bufs].p = len ? p : NULL;
    e->bufs[e->n_bufs].len = len;
    e->n_bufs++;
    e->body_len += (len + 7) & ~(int64_t)7;
}

static void enc_variadic_add(enc_t *e, int64_t n)
{
    if (!grow((void **)&e->variadic, &e->cap_variadic, e->n_variadic + 1, sizeof(int64_t))) {
        e->oom = true;
        return;
    }
    e->variadic[e->n_variadic++] = n;
}

static void *scratch_alloc(clove_ipc_writer_t *w, size_t n)
{
    if (!grow((void **)&w->scratch, &w->cap_scratch, w->n_scratch + 1, sizeof(void *)))
        return NULL;
    void *p = malloc(n ? n : 1);
    if (p) w->scratch[w->n_scratch++] = p;
    return p;
}

static void scratch_free(clove_ipc_writer_t *w)
{
    for (size_t i = 0; i < w->n_scratch; i++) free(w->scratch[i]);
    w->n_scratch = 0;
}

static int64_t count_nulls(const uint8_t *bits, int64_t pos, int64_t len)
{
    int64_t valid = 0, i = 0;
    while (i < len && ((pos + i) & 7)) {
        valid += (bits[(pos + i) >> 3] >> ((pos + i) & 7)) & 1;
        i++;
    }
    for (; i + 64 <= len; i += 64) {
        uint64_t word;
        memcpy(&word, bits + ((pos + i) >> 3), 8);
        valid += __builtin_popcountll(word);
    }
    for (; i < len; i++) valid += (bits[(pos + i) >> 3] >> ((pos + i) & 7)) & 1;
    return len - valid;
}

/* Adds a bitmap of len bits starting at bit pos, shifting it when pos is not byte aligned. */
static int add_bitmap(clove_ipc_writer_t *w, enc_t *e, const uint8_t *bits, int64_t pos,
                      int64_t len)
{
    int64_t nbytes = (len + 7) / 8;
    if ((pos & 7) == 0) {
        enc_buf_add(e, bits + pos / 8, nbytes);
        return 0;
    }
    uint8_t *out = scratch_alloc(w, (size_t)nbytes);
    if (!out) return CLOVE_ENOMEM;
    memset(out, 0, (size_t)nbytes);
    for (int64_t i = 0; i < len; i++)
        if ((bits[(pos + i) >> 3] >> ((pos + i) & 7)) & 1) out[i >> 3] |= (uint8_t)(1u << (i & 7));
    enc_buf_add(e, out, nbytes);
    return 0;
}

/* Adds the offsets of elements [pos, pos+len) re-based to start at 0; returns first and last. */
static int add_offsets(clove_ipc_writer_t *w, enc_t *e, const void *buf, int width, int64_t pos,
                       int64_t len, int64_t *first, int64_t *last)
{
    if (!buf) {
        *first = *last = 0;
        enc_buf_add(e, zeros8, width);
        return 0;
    }
    if (width == 4) {
        const int32_t *o = (const int32_t *)buf + pos;
        *first = o[0];
        *last = o[len];
        if (o[0] == 0) {
            enc_buf_add(e, o, 4 * (len + 1));
            return 0;
        }
        int32_t *r = scratch_alloc(w, 4 * (size_t)(len + 1));
        if (!r) return CLOVE_ENOMEM;
        for (int64_t i = 0; i <= len; i++) r[i] = o[i] - o[0];
        enc_buf_add(e, r, 4 * (len + 1));
    } else {
        const int64_t *o = (const int64_t *)buf + pos;
        *first = o[0];
        *last = o[len];
        if (o[0] == 0) {
            enc_buf_add(e, o, 8 * (len + 1));
            return 0;
        }
        int64_t *r = scratch_alloc(w, 8 * (size_t)(len + 1));
        if (!r) return CLOVE_ENOMEM;
        for (int64_t i = 0; i <= len; i++) r[i] = o[i] - o[0];
        enc_buf_add(e, r, 8 * (len + 1));
    }
    return 0;
}

/* DuckDB 1.4 writes BIT and BIGNUM as string views under arrow_output_version 1.4 even when
 * their lossless schema says binary: rebuild offsets and data of the declared width. */
static int add_views_as_offsets(clove_ipc_writer_t *w, enc_t *e, const struct ArrowArray *a,
                                int width, int64_t pos, int64_t len)
{
    const uint8_t *views = (const uint8_t *)a->buffers[1] + 16 * pos;
    int64_t nvar = a->n_buffers - 3;
    int64_t total = 0;
    for (int64_t i = 0; i < len; i++) total += (int64_t)fb_rd32(views + 16 * i);
    if (width == 4 && total > INT32_MAX) return CLOVE_EUNSUPPORTED;
    uint8_t *offs = scratch_alloc(w, (size_t)(len + 1) * (size_t)width);
    uint8_t *data = scratch_alloc(w, (size_t)total);
    if (!offs || !data) return CLOVE_ENOMEM;
    int64_t at = 0;
    for (int64_t i = 0; i <= len; i++) {
        if (width == 4) fb_wr32(offs + 4 * i, (uint32_t)at);
        else fb_wr64(offs + 8 * i, (uint64_t)at);
        if (i == len) break;
        const uint8_t *v = views + 16 * i;
        uint32_t n = fb_rd32(v);
        const uint8_t *src = v + 4;
        if (n > 12) {
            uint32_t bi = fb_rd32(v + 8);
            if ((int64_t)bi >= nvar) return CLOVE_EINTERNAL;
            src = (const uint8_t *)a->buffers[2 + bi] + fb_rd32(v + 12);
        }
        memcpy(data + at, src, n);
        at += n;
    }
    enc_buf_add(e, offs, (len + 1) * width);
    enc_buf_add(e, data, total);
    return 0;
}

static int64_t cdata_min_buffers(const wnode_t *n)
{
    if (n->value) return 2;
    switch (n->t.id) {
    case FB_T_NULL: return 0;
    case FB_T_BINARY_VIEW: case FB_T_UTF8_VIEW: return 3;
    default: return arrow_type_ipc_buffers(&n->t);
    }
}

/* Lists the nodes and buffers of elements [lstart, lstart+len) of array a (type n). */
static int enc_array(clove_ipc_writer_t *w, enc_t *e, const wnode_t *n, const struct ArrowArray *a,
                     int64_t lstart, int64_t len, clove_err_t *err)
{
    const arrow_type_t *t = &n->t;
    int64_t want_children = n->value ? 0 : n->nchildren;
    if (a->n_buffers < cdata_min_buffers(n) || a->n_children != want_children ||
        a->offset < 0 || lstart < 0 || len < 0 || lstart + len > a->length)
        return clove_err_set(err, CLOVE_EINTERNAL,
                             "DuckDB's Arrow array does not match its %s schema",
                             arrow_type_name(t->id));
    int64_t pos = a->offset + lstart;
    if (t->id == FB_T_NULL) {
        enc_node_add(e, len, len);
        return 0;
    }
    int rc = 0;
    int64_t nulls = 0;
    if (t->id != FB_T_UNION) {
        const uint8_t *valid = a->buffers[0];
        if (valid && a->null_count != 0) {
            if (lstart == 0 && len == a->length && a->null_count > 0) nulls = a->null_count;
            else nulls = count_nulls(valid, pos, len);
        }
        if (nulls) rc = add_bitmap(w, e, valid, pos, len);
        else enc_buf_add(e, NULL, 0);
        if (rc) return rc;
    }
    enc_node_add(e, len, nulls);
    if (n->value) {
        int width = t->bits / 8;
        enc_buf_add(e, (const uint8_t *)a->buffers[1] + pos * width, len * width);
        if (!a->dictionary)
            return clove_err_set(err, CLOVE_EINTERNAL, "DuckDB's dictionary array is missing");
        w->dicts[n->dict_slot].cur = a->dictionary;
        return 0;
    }
    int64_t first, last;
    switch (t->id) {
    case FB_T_BOOL:
        return add_bitmap(w, e, a->buffers[1], pos, len);
    case FB_T_BINARY: case FB_T_UTF8: case FB_T_LARGE_BINARY: case FB_T_LARGE_UTF8: {
        int width = (t->id == FB_T_BINARY || t->id == FB_T_UTF8) ? 4 : 8;
        if (a->n_buffers == 4) {
            rc = add_views_as_offsets(w, e, a, width, pos, len);
            if (rc) return clove_err_set(err, rc, "could not re-encode DuckDB's string views");
            return 0;
        }
        rc = add_offsets(w, e, a->buffers[1], width, pos, len, &first, &last);
        if (rc) return rc;
        enc_buf_add(e, (const uint8_t *)a->buffers[2] + first, last - first);
        return 0;
    }
    case FB_T_BINARY_VIEW: case FB_T_UTF8_VIEW: {
        enc_buf_add(e, (const uint8_t *)a->buffers[1] + pos * 16, len * 16);
        int64_t nvar = a->n_buffers - 3;
        const int64_t *sizes = a->buffers[a->n_buffers - 1];
        for (int64_t i = 0; i < nvar; i++) enc_buf_add(e, a->buffers[2 + i], sizes[i]);
        enc_variadic_add(e, nvar);
        return 0;
    }
    case FB_T_LIST: case FB_T_MAP: case FB_T_LARGE_LIST: {
        rc = add_offsets(w, e, a->buffers[1], t->id == FB_T_LARGE_LIST ? 8 : 4, pos, len, &first,
                         &last);
        if (rc) return rc;
        return enc_array(w, e, &n->children[0], a->children[0], first, last - first, err);
    }
    case FB_T_FIXED_SIZE_LIST:
        return enc_array(w, e, &n->children[0], a->children[0], pos * t->size, len * t->size,
                         err);
    case FB_T_STRUCT:
        for (int64_t i = 0; i < n->nchildren; i++) {
            rc = enc_array(w, e, &n->children[i], a->children[i], pos, len, err);
            if (rc) return rc;
        }
        return 0;
    case FB_T_UNION:
        enc_buf_add(e, (const uint8_t *)a->buffers[0] + pos, len);
        if (t->unit == ARROW_UNION_DENSE) {
            if (pos != 0 || len != a->length)
                return clove_err_set(err, CLOVE_EUNSUPPORTED,
                                     "slices of dense unions are not supported");
            enc_buf_add(e, a->buffers[1], 4 * len);
            for (int64_t i = 0; i < n->nchildren; i++) {
                rc = enc_array(w, e, &n->children[i], a->children[i], 0, a->children[i]->length,
                               err);
                if (rc) return rc;
            }
            return 0;
        }
        for (int64_t i = 0; i < n->nchildren; i++) {
            rc = enc_array(w, e, &n->children[i], a->children[i], pos, len, err);
            if (rc) return rc;
        }
        return 0;
    default: {
        int width = arrow_type_width(t);
        if (width <= 0)
            return clove_err_set(err, CLOVE_EUNSUPPORTED, "Arrow %s is not supported",
                                 arrow_type_name(t->id));
        enc_buf_add(e, (const uint8_t *)a->buffers[1] + pos * width, len * width);
        return 0;
    }
    }
}

/* Builds a RecordBatch table for e. */
static fb_ref_t fb_record_batch(fb_builder_t *fb, const enc_t *e, int64_t length, bool variadic)
{
    uint8_t *tmp = malloc(16 * (e->n_nodes > e->n_bufs ? e->n_nodes : e->n_bufs) + 16);
    if (!tmp) {
        fb->failed = true;
        return 0;
    }
    fb_ref_t vc = 0;
    if (variadic) {
        for (size_t i = 0; i < e->n_variadic; i++) fb_wr64(tmp + 8 * i, (uint64_t)e->variadic[i]);
        vc = fb_create_vector(fb, tmp, e->n_variadic, 8, 8);
    }
    /* offsets follow from the lengths: each buffer starts 8-aligned */
    int64_t off = 0;
    for (size_t i = 0; i < e->n_bufs; i++) {
        fb_wr64(tmp + 16 * i, (uint64_t)off);
        fb_wr64(tmp + 16 * i + 8, (uint64_t)e->bufs[i].len);
        off += (e->bufs[i].len + 7) & ~(int64_t)7;
    }
    fb_ref_t bufs = fb_create_vector(fb, tmp, e->n_bufs, 16, 8);
    for (size_t i = 0; i < e->n_nodes; i++) {
        fb_wr64(tmp + 16 * i, (uint64_t)e->nodes[2 * i]);
        fb_wr64(tmp + 16 * i + 8, (uint64_t)e->nodes[2 * i + 1]);
    }
    fb_ref_t nodes = fb_create_vector(fb, tmp, e->n_nodes, 16, 8);
    free(tmp);
    fb_table_start(fb);
    fb_add_i64(fb, FB_RB_LENGTH, length);
    fb_add_ref(fb, FB_RB_NODES, nodes);
    fb_add_ref(fb, FB_RB_BUFFERS, bufs);
    if (vc) fb_add_ref(fb, FB_RB_VARIADIC_COUNTS, vc);
    return fb_table_end(fb);
}

static void write_body(const enc_t *e, clove_buf_t *out)
{
    if (!e || !e->body_len) return;
    if (!clove_buf_reserve(out, (size_t)e->body_len)) return;
    for (size_t i = 0; i < e->n_bufs; i++) {
        int64_t len = e->bufs[i].len;
        if (len) clove_buf_append(out, e->bufs[i].p, (size_t)len);
        if (len & 7) clove_buf_append(out, zeros8, (size_t)(8 - (len & 7)));
    }
}

/* Appends one message to the stream buffer or the parts list. */
static int emit(clove_ipc_writer_t *w, const uint8_t *meta, size_t meta_len, const enc_t *e,
                clove_buf_t *stream, clove_ipc_parts_t *parts)
{
    if (stream) {
        uint8_t prefix[8];
        fb_wr32(prefix, 0xFFFFFFFFu);
        fb_wr32(prefix + 4, (uint32_t)meta_len);
        clove_buf_append(stream, prefix, 8);
        clove_buf_append(stream, meta, meta_len);
        write_body(e, stream);
        if (stream->failed) return CLOVE_ENOMEM;
    } else {
        clove_ipc_part_t *p = clove_ipc_parts_add(parts);
        if (!p) return CLOVE_ENOMEM;
        clove_buf_append(&p->header, meta, meta_len);
        write_body(e, &p->body);
        if (p->header.failed || p->body.failed) return CLOVE_ENOMEM;
    }
    w->bytes += 8 + meta_len + (e ? (uint64_t)e->body_len : 0);
    return 0;
}

/* The chunk's columns are the writer's. */
static int check_chunk(const clove_ipc_writer_t *w, duckdb_data_chunk chunk, clove_err_t *err)
{
    idx_t nc = duckdb_data_chunk_get_column_count(chunk);
    if (nc != w->ncols)
        return clove_err_set(err, CLOVE_EINVAL, "chunk has %llu columns, the Arrow writer %llu",
                             (unsigned long long)nc, (unsigned long long)w->ncols);
    for (idx_t i = 0; i < nc; i++) {
        duckdb_vector v = duckdb_data_chunk_get_vector(chunk, i);
        duckdb_logical_type lt = duckdb_vector_get_column_type(v);
        duckdb_type id = duckdb_get_type_id(lt);
        duckdb_destroy_logical_type(&lt);
        if (id != w->type_ids[i])
            return clove_err_set(err, CLOVE_EINVAL, "column %llu of the chunk has a different "
                                 "type than the Arrow writer's", (unsigned long long)i);
    }
    return 0;
}

/* ---- gathering chunks into one RecordBatch ---------------------------------------------- */

/* The columns whose Arrow layout is DuckDB's own vector layout (or bool bits, or offsets and
 * bytes) are copied straight from the vectors into growing buffers, one per IPC buffer, so
 * a RecordBatch can hold many chunks and DuckDB's Arrow conversion (ArrowAppender, a copy of
 * its own) is skipped. The buffers go to the caller as the body's pieces. */

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

/* Room for extra more bytes (not zeroed). */
static bool gbuf_reserve(gbuf_t *b, size_t extra)
{
    if (b->len + extra <= b->cap) return true;
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) return false;
    b->p = p;
    b->cap = cap;
    return true;
}

/* Writes n bits at bit position at of dst: from src (LSB first, starting at its bit 0), or n
 * one bits when src is NULL. The bits of the byte holding bit at from at on are zero, and so
 * are the bits past the end of what this writes, so the next call can OR into that byte. */
static void bits_put(uint8_t *dst, int64_t at, const uint8_t *src, int64_t n)
{
    uint8_t *d = dst + (at >> 3);
    int sh = (int)(at & 7);
    int64_t full = n >> 3;
    int rest = (int)(n & 7);
    if (sh == 0) {
        if (src) memcpy(d, src, (size_t)full);
        else memset(d, 0xff, (size_t)full);
        if (rest) d[full] = (uint8_t)((src ? src[full] : 0xffu) & ((1u << rest) - 1));
        return;
    }
    for (int64_t k = 0; k < full; k++) {
        unsigned v = src ? src[k] : 0xffu;
        d[k] |= (uint8_t)(v << sh);
        d[k + 1] = (uint8_t)(v >> (8 - sh));
    }
    if (rest) {
        unsigned v = (src ? src[full] : 0xffu) & ((1u << rest) - 1);
        d[full] |= (uint8_t)(v << sh);
        if (sh + rest > 8) d[full + 1] = (uint8_t)(v >> (8 - sh));
    }
}

/* Appends n bits (src NULL: ones) after the rows already in b (rows bits). */
static bool bits_append(gbuf_t *b, int64_t rows, const uint8_t *src, int64_t n)
{
    size_t need = (size_t)((rows + n + 7) / 8);
    if (need > b->len && !gbuf_reserve(b, need - b->len)) return false;
    bits_put(b->p, rows, src, n);
    b->len = need;
    return true;
}

/* How column i is gathered, from its DuckDB type and the Arrow type DuckDB declared. */
static int gather_kind(duckdb_type id, const wnode_t *n, int *width)
{
    const arrow_type_t *t = &n->t;
    if (n->value || n->nchildren) return GK_NONE;
    int bytes = 0, unit = -1;
    bool is_signed = true;
    switch (id) {
    case DUCKDB_TYPE_BOOLEAN: return t->id == FB_T_BOOL ? GK_BOOL : GK_NONE;
    case DUCKDB_TYPE_TINYINT: bytes = 1; break;
    case DUCKDB_TYPE_SMALLINT: bytes = 2; break;
    case DUCKDB_TYPE_INTEGER: bytes = 4; break;
    case DUCKDB_TYPE_BIGINT: bytes = 8; break;
    case DUCKDB_TYPE_UTINYINT: bytes = 1; is_signed = false; break;
    case DUCKDB_TYPE_USMALLINT: bytes = 2; is_signed = false; break;
    case DUCKDB_TYPE_UINTEGER: bytes = 4; is_signed = false; break;
    case DUCKDB_TYPE_UBIGINT: bytes = 8; is_signed = false; break;
    case DUCKDB_TYPE_FLOAT:
        *width = 4;
        return t->id == FB_T_FLOAT && t->unit == ARROW_FP_SINGLE ? GK_FIXED : GK_NONE;
    case DUCKDB_TYPE_DOUBLE:
        *width = 8;
        return t->id == FB_T_FLOAT && t->unit == ARROW_FP_DOUBLE ? GK_FIXED : GK_NONE;
    case DUCKDB_TYPE_DATE: /* int32 days since the epoch either way */
        *width = 4;
        return t->id == FB_T_DATE && t->unit == ARROW_DATE_DAY ? GK_FIXED : GK_NONE;
    case DUCKDB_TYPE_TIME: /* int64 microseconds of the day */
        *width = 8;
        return t->id == FB_T_TIME && t->unit == ARROW_UNIT_MICRO && t->bits == 64 ? GK_FIXED
                                                                                   : GK_NONE;
    /* int64 since the epoch in the type's unit (UTC for TIMESTAMP WITH TIME ZONE) */
    case DUCKDB_TYPE_TIMESTAMP: case DUCKDB_TYPE_TIMESTAMP_TZ: unit = ARROW_UNIT_MICRO; break;
    case DUCKDB_TYPE_TIMESTAMP_S: unit = ARROW_UNIT_SECOND; break;
    case DUCKDB_TYPE_TIMESTAMP_MS: unit = ARROW_UNIT_MILLI; break;
    case DUCKDB_TYPE_TIMESTAMP_NS: unit = ARROW_UNIT_NANO; break;
    case DUCKDB_TYPE_VARCHAR:
        *width = t->id == FB_T_UTF8 ? 4 : 8;
        return t->id == FB_T_UTF8 || t->id == FB_T_LARGE_UTF8 ? GK_STRING : GK_NONE;
    case DUCKDB_TYPE_BLOB:
        *width = t->id == FB_T_BINARY ? 4 : 8;
        return t->id == FB_T_BINARY || t->id == FB_T_LARGE_BINARY ? GK_STRING : GK_NONE;
    default: return GK_NONE;
    }
    *width = 8;
    if (unit >= 0) return t->id == FB_T_TIMESTAMP && t->unit == unit ? GK_FIXED : GK_NONE;
    *width = bytes;
    return t->id == FB_T_INT && t->bits == 8 * bytes && t->is_signed == is_signed ? GK_FIXED
                                                                                  : GK_NONE;
}

/* Decides at writer creation whether every column can be gathered. */
static void gather_init(clove_ipc_writer_t *w)
{
    w->gcols = clove_xcalloc(w->ncols ? w->ncols : 1, sizeof(*w->gcols));
    w->gbytes = clove_xcalloc(w->ncols ? w->ncols : 1, sizeof(*w->gbytes));
    w->can_gather = w->ncols > 0 && w->ndicts == 0;
    for (idx_t i = 0; i < w->ncols; i++) {
        w->gcols[i].kind = gather_kind(w->type_ids[i], &w->cols[i], &w->gcols[i].width);
        if (w->gcols[i].kind == GK_NONE) w->can_gather = false;
    }
}

static void gcol_dispose(gcol_t *c)
{
    free(c->valid.p);
    free(c->values.p);
    free(c->chars.p);
}

bool clove_ipc_writer_can_gather(const clove_ipc_writer_t *w) { return w->can_gather; }

int64_t clove_ipc_writer_pending_rows(const clove_ipc_writer_t *w) { return w->grows; }

size_t clove_ipc_writer_pending_bytes(const clove_ipc_writer_t *w)
{
    size_t n = 0;
    for (idx_t i = 0; w->grows && i < w->ncols; i++) {
        const gcol_t *c = &w->gcols[i];
        n += (c->has_valid ? pad8(c->valid.len) : 0) + pad8(c->values.len) + pad8(c->chars.len);
    }
    return n;
}

/* Nulls among the first n rows of a DuckDB validity mask (NULL: none). */
static int64_t mask_nulls(const uint64_t *mask, idx_t n)
{
    if (!mask) return 0;
    int64_t valid = 0;
    idx_t words = n / 64;
    for (idx_t k = 0; k < words; k++) valid += __builtin_popcountll(mask[k]);
    if (n % 64) valid += __builtin_popcountll(mask[words] & ((UINT64_C(1) << (n % 64)) - 1));
    return (int64_t)n - valid;
}

static bool row_valid(const uint64_t *mask, idx_t r)
{
    return !mask || ((mask[r / 64] >> (r % 64)) & 1);
}

/* Copies the n rows of one vector into column c, whose batch holds rows rows so far; bytes
 * is the string bytes of those rows (GK_STRING). */
static bool gcol_add(gcol_t *c, duckdb_vector v, int64_t rows, idx_t n, size_t bytes)
{
    const uint64_t *mask = duckdb_vector_get_validity(v);
    int64_t nulls = mask_nulls(mask, n);
    if (nulls && !c->has_valid) {
        /* the first null of the batch: the rows before it were all valid */
        c->has_valid = true;
        c->valid.len = 0;
        if (rows && !bits_append(&c->valid, 0, NULL, rows)) return false;
    }
    if (c->has_valid &&
        !bits_append(&c->valid, rows, nulls ? (const uint8_t *)mask : NULL, (int64_t)n))
        return false;
    c->nulls += nulls;
    const void *data = duckdb_vector_get_data(v);
    switch (c->kind) {
    case GK_FIXED: {
        size_t len = (size_t)c->width * n;
        if (!gbuf_reserve(&c->values, len)) return false;
        memcpy(c->values.p + c->values.len, data, len);
        c->values.len += len;
        return true;
    }
    case GK_BOOL: {
        uint8_t packed[256] = {0}; /* a chunk holds at most 2048 rows */
        const uint8_t *b = data;
        for (idx_t done = 0; done < n;) {
            idx_t k = n - done < 2048 ? n - done : 2048;
            memset(packed, 0, (k + 7) / 8);
            idx_t r = 0;
            for (; r + 8 <= k; r += 8) { /* eight 0/1 bytes to eight bits, first row lowest */
                uint64_t x;
                memcpy(&x, b + done + r, 8);
                x &= UINT64_C(0x0101010101010101);
                packed[r >> 3] = (uint8_t)((x * UINT64_C(0x0102040810204080)) >> 56);
            }
            for (; r < k; r++) packed[r >> 3] |= (uint8_t)((b[done + r] & 1) << (r & 7));
            if (!bits_append(&c->values, rows + (int64_t)done, packed, (int64_t)k)) return false;
            done += k;
        }
        return true;
    }
    default: { /* GK_STRING: offsets after the first (0) and the bytes */
        size_t w = (size_t)c->width;
        if (rows == 0 && !c->values.len) {
            if (!gbuf_reserve(&c->values, w)) return false;
            memset(c->values.p, 0, w);
            c->values.len = w;
        }
        /* 12 bytes of slack: an inlined string is copied as 12 bytes (a fixed-size copy, no
         * call), the next string overwrites what passes its length */
        if (!gbuf_reserve(&c->values, w * n) || !gbuf_reserve(&c->chars, bytes + 12))
            return false;
        const duckdb_string_t *s = data;
        uint8_t *o = c->values.p + c->values.len;
        uint8_t *ch = c->chars.p;
        size_t at = c->chars.len;
        for (idx_t r = 0; r < n; r++) {
            if (row_valid(mask, r)) {
                uint32_t len = s[r].value.inlined.length;
                if (len <= 12) memcpy(ch + at, s[r].value.inlined.inlined, 12);
                else memcpy(ch + at, s[r].value.pointer.ptr, len);
                at += len;
            }
            if (w == 4) {
                int32_t off = (int32_t)at;
                memcpy(o + 4 * r, &off, 4);
            } else {
                int64_t off = (int64_t)at;
                memcpy(o + 8 * r, &off, 8);
            }
        }
        c->values.len += w * n;
        c->chars.len = at;
        return true;
    }
    }
}

int clove_ipc_writer_gather(clove_ipc_writer_t *w, duckdb_data_chunk chunk, size_t max_body,
                            clove_err_t *err)
{
    if (!w->can_gather)
        return clove_err_set(err, CLOVE_EINTERNAL, "the Arrow writer cannot gather these columns");
    int rc = check_chunk(w, chunk, err);
    if (rc) return rc;
    idx_t n = duckdb_data_chunk_get_size(chunk);
    if (n == 0) return 1;
    /* what the chunk adds: string bytes need a pass over the lengths */
    size_t add = 0, *bytes = w->gbytes;
    for (idx_t i = 0; i < w->ncols; i++) {
        gcol_t *c = &w->gcols[i];
        duckdb_vector v = duckdb_data_chunk_get_vector(chunk, i);
        bytes[i] = 0;
        add += n / 8 + 1; /* validity, at most */
        if (c->kind == GK_FIXED) add += (size_t)c->width * n;
        else if (c->kind == GK_BOOL) add += n / 8 + 1;
        else {
            const uint64_t *mask = duckdb_vector_get_validity(v);
            const duckdb_string_t *s = duckdb_vector_get_data(v);
            size_t b = 0;
            for (idx_t r = 0; r < n; r++)
                if (row_valid(mask, r)) b += s[r].value.inlined.length;
            bytes[i] = b;
            add += (size_t)c->width * (n + 1) + b;
            if (c->width == 4 && c->chars.len + b > INT32_MAX) {
                if (w->grows) return 0;
                return clove_err_set(err, CLOVE_ETOOBIG, "column %llu holds more than 2 GiB "
                                     "of text in 2048 rows", (unsigned long long)i);
            }
        }
    }
    if (w->grows && clove_ipc_writer_pending_bytes(w) + add > max_body) return 0;
    for (idx_t i = 0; i < w->ncols; i++) {
        if (!gcol_add(&w->gcols[i], duckdb_data_chunk_get_vector(chunk, i), w->grows, n, bytes[i]))
            return clove_err_set(err, CLOVE_ENOMEM, "out of memory gathering an Arrow record "
                                 "batch");
    }
    w->grows += (int64_t)n;
    return 1;
}

/* Pads b to 8 bytes and hands its memory over as the next piece of part (b becomes empty,
 * with room reserved for a batch like this one). */
static bool give_piece(clove_ipc_part_t *part, gbuf_t *b)
{
    size_t len = pad8(b->len);
    if (!gbuf_reserve(b, len - b->len)) return false;
    memset(b->p + b->len, 0, len - b->len);
    if (part->n_pieces == part->cap_pieces) {
        size_t cap = part->cap_pieces ? part->cap_pieces * 2 : 16;
        clove_ipc_piece_t *np = realloc(part->pieces, cap * sizeof(*np));
        if (!np) return false;
        part->pieces = np;
        part->cap_pieces = cap;
    }
    part->pieces[part->n_pieces].data = b->p;
    part->pieces[part->n_pieces].len = len;
    part->n_pieces++;
    size_t next = b->cap;
    memset(b, 0, sizeof(*b));
    gbuf_reserve(b, next); /* failure shows at the next append */
    return true;
}

int clove_ipc_writer_flush_parts(clove_ipc_writer_t *w, clove_ipc_parts_t *parts,
                                 clove_err_t *err)
{
    if (!w->grows) return 0;
    enc_t *e = &w->rb;
    enc_reset(e);
    int64_t rows = w->grows;
    for (idx_t i = 0; i < w->ncols; i++) {
        gcol_t *c = &w->gcols[i];
        enc_node_add(e, rows, c->nulls);
        enc_buf_add(e, c->has_valid ? c->valid.p : NULL, c->has_valid ? (int64_t)c->valid.len : 0);
        enc_buf_add(e, c->values.p, (int64_t)c->values.len);
        if (c->kind == GK_STRING) enc_buf_add(e, c->chars.p, (int64_t)c->chars.len);
    }
    const uint8_t *meta;
    size_t meta_len;
    fb_builder_t *fb = &w->fb;
    fb_builder_reset(fb);
    fb_ref_t rb = e->oom ? 0 : fb_record_batch(fb, e, rows, false);
    clove_ipc_part_t *p = NULL;
    if (e->oom || !fb_message(fb, FB_HDR_RECORD_BATCH, rb, e->body_len, &meta, &meta_len) ||
        !(p = clove_ipc_parts_add(parts)))
        goto oom;
    clove_buf_append(&p->header, meta, meta_len);
    if (p->header.failed) goto oom;
    for (idx_t i = 0; i < w->ncols; i++) {
        gcol_t *c = &w->gcols[i];
        if (c->has_valid && c->valid.len && !give_piece(p, &c->valid)) goto oom;
        if (c->values.len && !give_piece(p, &c->values)) goto oom;
        if (c->kind == GK_STRING && c->chars.len && !give_piece(p, &c->chars)) goto oom;
        c->valid.len = c->values.len = c->chars.len = 0;
        c->has_valid = false;
        c->nulls = 0;
    }
    w->grows = 0;
    w->bytes += 8 + meta_len + (uint64_t)e->body_len;
    return 0;
oom:
    if (p) parts->n--;
    return clove_err_set(err, CLOVE_ENOMEM, "out of memory encoding an Arrow record batch");
}

/* ---- public ----------------------------------------------------------------------------- */

static clove_ipc_writer_t *writer_create(duckdb_connection conn, duckdb_arrow_options opts,
                                         idx_t ncols, const char *const *names,
                                         const duckdb_logical_type *types, clove_err_t *err)
{
    clove_ipc_writer_t *w = clove_xcalloc(1, sizeof(*w));
    fb_builder_init(&w->fb);
    w->ncols = ncols;
    if (!opts && !conn) {
        if (duckdb_open(NULL, &w->own_db) != DuckDBSuccess ||
            duckdb_connect(w->own_db, &w->own_conn) != DuckDBSuccess) {
            clove_err_set(err, CLOVE_EINTERNAL, "could not open DuckDB for the Arrow writer");
            goto fail;
        }
        conn = w->own_conn;
    }
    if (opts) {
        w->opts = opts;
    } else {
        duckdb_connection_get_arrow_options(conn, &w->opts);
        w->own_opts = true;
    }
    duckdb_logical_type *tv = clove_xcalloc(ncols ? ncols : 1, sizeof(*tv));
    const char **nv = clove_xcalloc(ncols ? ncols : 1, sizeof(*nv));
    w->type_ids = clove_xcalloc(ncols ? ncols : 1, sizeof(*w->type_ids));
    for (idx_t i = 0; i < ncols; i++) {
        tv[i] = types[i];
        nv[i] = names[i] ? names[i] : "";
        w->type_ids[i] = duckdb_get_type_id(types[i]);
    }
    duckdb_error_data ed = duckdb_to_arrow_schema(w->opts, tv, nv, ncols, &w->schema);
    free(tv);
    free(nv);
    if (ed) {
        clove_err_set(err, CLOVE_EUNSUPPORTED, "could not express the result in Arrow: %s",
                      duckdb_error_data_message(ed));
        duckdb_destroy_error_data(&ed);
        goto fail;
    }
    if (w->schema.n_children != (int64_t)ncols) {
        clove_err_set(err, CLOVE_EINTERNAL, "DuckDB's Arrow schema has %lld columns, not %llu",
                      (long long)w->schema.n_children, (unsigned long long)ncols);
        goto fail;
    }
    w->cols = clove_xcalloc(ncols ? ncols : 1, sizeof(*w->cols));
    for (idx_t i = 0; i < ncols; i++) {
        if (wnode_build(w, &w->cols[i], w->schema.children[i], types[i], false,
                        names[i] ? names[i] : "", 1, false, err))
            goto fail;
    }
    gather_init(w);
    return w;
fail:
    clove_ipc_writer_destroy(w);
    return NULL;
}

clove_ipc_writer_t *clove_ipc_writer_create(duckdb_connection conn, idx_t ncols,
                                            const char *const *names,
                                            const duckdb_logical_type *types, clove_err_t *err)
{
    return writer_create(conn, NULL, ncols, names, types, err);
}

clove_ipc_writer_t *clove_ipc_writer_create_opts(duckdb_arrow_options opts, idx_t ncols,
                                                 const char *const *names,
                                                 const duckdb_logical_type *types,
                                                 clove_err_t *err)
{
    return writer_create(NULL, opts, ncols, names, types, err);
}

/* Same Arrow layout: formats and child structure (names of nested fields included). */
static bool same_arrow(const struct ArrowSchema *a, const struct ArrowSchema *b, int depth)
{
    if (depth > CLOVE_IPC_MAX_DEPTH || strcmp(a->format, b->format) != 0 ||
        a->n_children != b->n_children || !a->dictionary != !b->dictionary)
        return false;
    if (depth > 0 && strcmp(a->name ? a->name : "", b->name ? b->name : "") != 0) return false;
    for (int64_t i = 0; i < a->n_children; i++)
        if (!same_arrow(a->children[i], b->children[i], depth + 1)) return false;
    return !a->dictionary || same_arrow(a->dictionary, b->dictionary, depth + 1);
}

bool clove_ipc_writer_accepts(const clove_ipc_writer_t *w, idx_t ncols,
                              const duckdb_logical_type *types)
{
    if (ncols != w->ncols) return false;
    duckdb_logical_type *tv = clove_xcalloc(ncols ? ncols : 1, sizeof(*tv));
    const char **nv = clove_xcalloc(ncols ? ncols : 1, sizeof(*nv));
    for (idx_t i = 0; i < ncols; i++) {
        tv[i] = types[i];
        nv[i] = w->schema.children[i]->name;
    }
    struct ArrowSchema other;
    memset(&other, 0, sizeof(other));
    duckdb_error_data ed = duckdb_to_arrow_schema(w->opts, tv, nv, ncols, &other);
    free(tv);
    free(nv);
    bool same = false;
    if (ed) {
        duckdb_destroy_error_data(&ed);
    } else {
        same = other.n_children == (int64_t)ncols;
        for (idx_t i = 0; same && i < ncols; i++)
            same = same_arrow(other.children[i], w->schema.children[i], 1);
    }
    if (other.release) other.release(&other);
    return same;
}

void clove_ipc_writer_destroy(clove_ipc_writer_t *w)
{
    if (!w) return;
    if (w->cols)
        for (idx_t i = 0; i < w->ncols; i++) wnode_dispose(&w->cols[i]);
    free(w->cols);
    for (int i = 0; i < w->ndicts; i++) free(w->dicts[i].last);
    free(w->dicts);
    if (w->schema.release) w->schema.release(&w->schema);
    if (w->opts && w->own_opts) duckdb_destroy_arrow_options(&w->opts);
    if (w->own_conn) duckdb_disconnect(&w->own_conn);
    if (w->own_db) duckdb_close(&w->own_db);
    for (idx_t i = 0; w->gcols && i < w->ncols; i++) gcol_dispose(&w->gcols[i]);
    free(w->gcols);
    free(w->gbytes);
    free(w->type_ids);
    fb_builder_dispose(&w->fb);
    enc_dispose(&w->rb);
    enc_dispose(&w->db);
    scratch_free(w);
    free(w->scratch);
    free(w);
}

uint64_t clove_ipc_writer_bytes(const clove_ipc_writer_t *w) { return w->bytes; }

static int write_schema(clove_ipc_writer_t *w, clove_buf_t *stream, clove_ipc_parts_t *parts,
                        clove_err_t *err)
{
    fb_builder_t *fb = &w->fb;
    fb_builder_reset(fb);
    fb_ref_t *refs = clove_xcalloc(w->ncols ? w->ncols : 1, sizeof(*refs));
    for (idx_t i = 0; i < w->ncols; i++) refs[i] = fb_field(w, &w->cols[i]);
    fb_ref_t fields = fb_create_ref_vector(fb, refs, w->ncols);
    free(refs);
    fb_table_start(fb);
    fb_add_i16(fb, FB_SCHEMA_ENDIANNESS, 0);
    fb_add_ref(fb, FB_SCHEMA_FIELDS, fields);
    fb_ref_t schema = fb_table_end(fb);
    const uint8_t *meta;
    size_t meta_len;
    if (!fb_message(fb, FB_HDR_SCHEMA, schema, 0, &meta, &meta_len))
        return clove_err_set(err, CLOVE_ENOMEM, "out of memory encoding the Arrow schema");
    int rc = emit(w, meta, meta_len, NULL, stream, parts);
    if (rc) return clove_err_set(err, rc, "out of memory encoding the Arrow schema");
    return 0;
}

int clove_ipc_writer_schema(clove_ipc_writer_t *w, clove_buf_t *out, clove_err_t *err)
{
    size_t mark = out->len;
    int rc = write_schema(w, out, NULL, err);
    if (rc && out->data) out->len = mark;
    return rc;
}

int clove_ipc_writer_schema_parts(clove_ipc_writer_t *w, clove_ipc_parts_t *parts,
                                  clove_err_t *err)
{
    size_t mark = parts->n;
    int rc = write_schema(w, NULL, parts, err);
    if (rc) parts->n = mark;
    return rc;
}

/* Emits a DictionaryBatch for slot d unless it equals the last one sent. */
static int write_dictionary(clove_ipc_writer_t *w, wdict_t *d, clove_buf_t *stream,
                            clove_ipc_parts_t *parts, clove_err_t *err)
{
    enc_t *e = &w->db;
    enc_reset(e);
    const struct ArrowArray *a = d->cur;
    int rc = enc_array(w, e, d->value, a, 0, a->length, err);
    if (rc) return rc;
    if (e->oom) return clove_err_set(err, CLOVE_ENOMEM, "out of memory encoding a dictionary");
    fb_builder_t *fb = &w->fb;
    fb_builder_reset(fb);
    fb_ref_t rb = fb_record_batch(fb, e, a->length, w->has_views);
    fb_table_start(fb);
    fb_add_i64(fb, FB_DB_ID, d->id);
    fb_add_ref(fb, FB_DB_DATA, rb);
    fb_add_u8(fb, FB_DB_IS_DELTA, 0);
    fb_ref_t dbt = fb_table_end(fb);
    const uint8_t *meta;
    size_t meta_len;
    if (!fb_message(fb, FB_HDR_DICTIONARY_BATCH, dbt, e->body_len, &meta, &meta_len))
        return clove_err_set(err, CLOVE_ENOMEM, "out of memory encoding a dictionary");
    /* Same dictionary as last time (DuckDB repeats an ENUM's labels in every chunk)? */
    clove_buf_t all;
    clove_buf_init(&all);
    clove_buf_append(&all, meta, meta_len);
    write_body(e, &all);
    if (all.failed) {
        clove_buf_dispose(&all);
        return clove_err_set(err, CLOVE_ENOMEM, "out of memory encoding a dictionary");
    }
    if (d->last && d->last_len == all.len && memcmp(d->last, all.data, all.len) == 0) {
        clove_buf_dispose(&all);
        return 0;
    }
    rc = emit(w, meta, meta_len, e, stream, parts);
    if (rc) {
        clove_buf_dispose(&all);
        return clove_err_set(err, rc, "out of memory encoding a dictionary");
    }
    free(d->last);
    d->last_len = all.len;
    d->last = (uint8_t *)clove_buf_steal(&all);
    return 0;
}

static int write_batch(clove_ipc_writer_t *w, duckdb_data_chunk chunk, clove_buf_t *stream,
                       clove_ipc_parts_t *parts, clove_err_t *err)
{
    int crc = check_chunk(w, chunk, err);
    if (crc) return crc;
    struct ArrowArray arr;
    memset(&arr, 0, sizeof(arr));
    duckdb_error_data ed = duckdb_data_chunk_to_arrow(w->opts, chunk, &arr);
    if (ed) {
        int rc = clove_err_set(err, CLOVE_EINTERNAL, "could not convert a chunk to Arrow: %s",
                               duckdb_error_data_message(ed));
        duckdb_destroy_error_data(&ed);
        return rc;
    }
    int rc = 0;
    enc_t *e = &w->rb;
    enc_reset(e);
    for (int i = 0; i < w->ndicts; i++) w->dicts[i].cur = NULL;
    if (arr.n_children != (int64_t)w->ncols) {
        rc = clove_err_set(err, CLOVE_EINTERNAL, "DuckDB's Arrow array has %lld columns",
                           (long long)arr.n_children);
        goto done;
    }
    for (idx_t i = 0; i < w->ncols && !rc; i++)
        rc = enc_array(w, e, &w->cols[i], arr.children[i], arr.offset, arr.length, err);
    if (rc) goto done;
    if (e->oom) {
        rc = clove_err_set(err, CLOVE_ENOMEM, "out of memory encoding an Arrow record batch");
        goto done;
    }
    for (int i = 0; i < w->ndicts && !rc; i++)
        if (w->dicts[i].cur) rc = write_dictionary(w, &w->dicts[i], stream, parts, err);
    if (rc) goto done;
    fb_builder_t *fb = &w->fb;
    fb_builder_reset(fb);
    fb_ref_t rb = fb_record_batch(fb, e, arr.length, w->has_views);
    const uint8_t *meta;
    size_t meta_len;
    if (!fb_message(fb, FB_HDR_RECORD_BATCH, rb, e->body_len, &meta, &meta_len)) {
        rc = clove_err_set(err, CLOVE_ENOMEM, "out of memory encoding an Arrow record batch");
        goto done;
    }
    rc = emit(w, meta, meta_len, e, stream, parts);
    if (rc) clove_err_set(err, rc, "out of memory encoding an Arrow record batch");
done:
    if (rc) {
        /* what was "sent" is being rolled back: send every dictionary again next time */
        for (int i = 0; i < w->ndicts; i++) {
            free(w->dicts[i].last);
            w->dicts[i].last = NULL;
        }
    }
    if (arr.release) arr.release(&arr);
    scratch_free(w);
    return rc;
}

int clove_ipc_writer_batch(clove_ipc_writer_t *w, duckdb_data_chunk chunk, clove_buf_t *out,
                           clove_err_t *err)
{
    size_t mark = out->len;
    int rc = write_batch(w, chunk, out, NULL, err);
    if (rc && out->data) out->len = mark;
    return rc;
}

int clove_ipc_writer_batch_parts(clove_ipc_writer_t *w, duckdb_data_chunk chunk,
                                 clove_ipc_parts_t *parts, clove_err_t *err)
{
    size_t mark = parts->n;
    int rc = write_batch(w, chunk, NULL, parts, err);
    if (rc) parts->n = mark;
    return rc;
}

void clove_ipc_write_eos(clove_buf_t *out)
{
    uint8_t eos[CLOVE_IPC_EOS_BYTES];
    fb_wr32(eos, 0xFFFFFFFFu);
    fb_wr32(eos + 4, 0);
    clove_buf_append(out, eos, sizeof(eos));
}
