/*
 * ipc_read.c: the Arrow IPC stream reader. Bytes arrive in pieces (feed) or as Flight
 * (header, body) pairs; each message's flatbuffer is read with bounds checks, the Schema
 * becomes a field tree, and every RecordBatch or DictionaryBatch becomes C Data Interface
 * arrays pointing into the message body, after every buffer range, offset sequence,
 * dictionary index, view and UTF-8 string was checked, so what DuckDB reads later is in
 * bounds. Batches are handed to DuckDB (duckdb_data_chunk_from_arrow) one column and at most
 * 2048 rows at a time: a column per call gives each column's data its own release callback,
 * and the chunk keeps the message body alive through a reference count.
 */
#include "arrow/arrow.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrow/arrow_int.h"

#define DEFAULT_MAX_MESSAGE ((size_t)100 << 20)
#define MAX_FIELDS 10000          /* fields in one schema, children included */
#define MAX_METADATA 1024         /* key/value pairs on one field */
#define CHUNK_ROWS 2048           /* DuckDB's vector size */

static const uint64_t zero_block[8];

/* ---- the schema ------------------------------------------------------------------------- */

typedef struct rfield {
    char *name;
    bool nullable;
    arrow_type_t t;            /* the value type */
    bool dict;                 /* dictionary-encoded: the arrays hold `index` values */
    int64_t dict_id;
    arrow_type_t index;
    bool ordered;
    char *metadata;            /* C Data encoding, NULL if none */
    char fmt[8 + 4 * ARROW_MAX_UNION_CHILDREN]; /* format string of the value type */
    char ifmt[8];              /* and of the index type */
    struct rfield *children;
    int nchildren;
} rfield_t;

/* A decoded message's arrays: one reference-counted block that owns the body, every array
 * node, and a reference to each dictionary it points at. */
typedef struct rbatch {
    atomic_long refs;
    uint8_t *body;
    int64_t length;
    struct ArrowArray **cols;
    int ncols;
    void **owned;              /* array nodes, realigned buffer copies, view size buffers */
    size_t n_owned, cap_owned;
    struct rbatch **deps;      /* dictionaries */
    size_t n_deps, cap_deps;
} rbatch_t;

typedef struct {
    int64_t id;
    const rfield_t *field;
    rbatch_t *batch;           /* NULL until the first DictionaryBatch */
} rdict_t;

enum { PH_PREFIX = 0, PH_META, PH_BODY, PH_DONE };

struct clove_ipc_reader {
    duckdb_database own_db;
    duckdb_connection own_conn;
    duckdb_connection conn;
    size_t max_msg;
    int64_t max_len;
    int failed;
    clove_err_t saved;
    /* framing */
    int phase;
    uint8_t prefix[8];
    size_t prefix_have, prefix_need;
    uint8_t *meta;
    size_t meta_len, meta_have;
    uint8_t *body;
    size_t body_len, body_have;
    bool eos;
    /* schema */
    bool has_schema;
    rfield_t *fields;
    int ncols;
    int nfields_seen;
    int nfields_alloc;
    duckdb_logical_type *types;
    bool *flatten;             /* column comes back as a dictionary or constant vector */
    duckdb_selection_vector identity;
    struct ArrowSchema **cschemas;
    duckdb_arrow_converted_schema *conv;
    rdict_t *dicts;
    int ndicts;
    /* decoded batches */
    rbatch_t **queue;
    size_t q_head, q_n, q_cap;
    int64_t row;
};

static int fail(clove_ipc_reader_t *r, clove_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(clove_ipc_reader_t *r, clove_err_t *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    r->saved.code = code;
    vsnprintf(r->saved.message, sizeof(r->saved.message), fmt, ap);
    va_end(ap);
    r->failed = code;
    if (err) *err = r->saved;
    return code;
}

#define MALFORMED(r, err, ...) \
    fail(r, err, CLOVE_EINVAL, "malformed Arrow IPC message: " __VA_ARGS__)
#define UNSUPPORTED(r, err, ...) fail(r, err, CLOVE_EUNSUPPORTED, __VA_ARGS__)

/* ---- batches ------------------------------------------------------------------------------ */

static rbatch_t *rbatch_new(uint8_t *body)
{
    rbatch_t *b = calloc(1, sizeof(*b));
    if (!b) return NULL;
    atomic_init(&b->refs, 1);
    b->body = body;
    return b;
}

static void rbatch_unref(rbatch_t *b)
{
    if (!b || atomic_fetch_sub(&b->refs, 1) != 1) return;
    for (size_t i = 0; i < b->n_deps; i++) rbatch_unref(b->deps[i]);
    for (size_t i = 0; i < b->n_owned; i++) free(b->owned[i]);
    free(b->deps);
    free(b->owned);
    free(b->cols);
    free(b->body);
    free(b);
}

static void *rbatch_alloc(rbatch_t *b, size_t n)
{
    if (b->n_owned == b->cap_owned) {
        size_t cap = b->cap_owned ? b->cap_owned * 2 : 16;
        void **no = realloc(b->owned, cap * sizeof(*no));
        if (!no) return NULL;
        b->owned = no;
        b->cap_owned = cap;
    }
    void *p = calloc(1, n ? n : 1);
    if (p) b->owned[b->n_owned++] = p;
    return p;
}

static bool rbatch_dep(rbatch_t *b, rbatch_t *dep)
{
    for (size_t i = 0; i < b->n_deps; i++)
        if (b->deps[i] == dep) return true;
    if (b->n_deps == b->cap_deps) {
        size_t cap = b->cap_deps ? b->cap_deps * 2 : 4;
        rbatch_t **nd = realloc(b->deps, cap * sizeof(*nd));
        if (!nd) return false;
        b->deps = nd;
        b->cap_deps = cap;
    }
    atomic_fetch_add(&dep->refs, 1);
    b->deps[b->n_deps++] = dep;
    return true;
}

/* Children of a decoded array are owned by its batch; their release only marks them done. */
static void child_release(struct ArrowArray *a) { a->release = NULL; }

/* ---- schema parsing --------------------------------------------------------------------- */

static void rfield_dispose(rfield_t *f)
{
    free(f->name);
    free(f->metadata);
    for (int i = 0; i < f->nchildren; i++) rfield_dispose(&f->children[i]);
    free(f->children);
}

/* Builds the C Data metadata blob from a vector of KeyValue tables. */
static int parse_metadata(clove_ipc_reader_t *r, const fb_vec_t *v, const char *what,
                          char **out, clove_err_t *err)
{
    if (v->n > MAX_METADATA)
        return MALFORMED(r, err, "%s has %u metadata entries (limit %d)", what, v->n,
                         MAX_METADATA);
    clove_buf_t b;
    clove_buf_init(&b);
    uint8_t n4[4];
    fb_wr32(n4, v->n);
    clove_buf_append(&b, n4, 4);
    for (uint32_t i = 0; i < v->n; i++) {
        fb_table_t kv;
        const char *k = "", *val = "";
        size_t kl = 0, vl = 0;
        bool pk, pv;
        if (!fb_vec_table(v, i, &kv) || !fb_get_string(&kv, FB_KV_KEY, &k, &kl, &pk) ||
            !fb_get_string(&kv, FB_KV_VALUE, &val, &vl, &pv)) {
            clove_buf_dispose(&b);
            return MALFORMED(r, err, "bad custom metadata on %s", what);
        }
        fb_wr32(n4, (uint32_t)kl);
        clove_buf_append(&b, n4, 4);
        clove_buf_append(&b, k, kl);
        fb_wr32(n4, (uint32_t)vl);
        clove_buf_append(&b, n4, 4);
        clove_buf_append(&b, val, vl);
    }
    if (b.failed) {
        clove_buf_dispose(&b);
        return fail(r, err, CLOVE_ENOMEM, "out of memory reading Arrow metadata");
    }
    *out = clove_buf_steal(&b);
    return 0;
}

static int parse_int_table(clove_ipc_reader_t *r, const fb_table_t *tt, arrow_type_t *t,
                           const char *col, clove_err_t *err)
{
    uint8_t sig;
    if (!fb_get_i32(tt, 0, 0, &t->bits) || !fb_get_u8(tt, 1, 0, &sig))
        return MALFORMED(r, err, "bad Int type in column \"%s\"", col);
    t->id = FB_T_INT;
    t->is_signed = sig != 0;
    if (t->bits != 8 && t->bits != 16 && t->bits != 32 && t->bits != 64)
        return MALFORMED(r, err, "column \"%s\" has an integer of %d bits", col, t->bits);
    return 0;
}

/* Reads the Type union of a field into t. */
static int parse_type(clove_ipc_reader_t *r, uint8_t type_type, const fb_table_t *tt,
                      bool have, arrow_type_t *t, const char *col, clove_err_t *err)
{
    int16_t unit = 0;
    int32_t i32 = 0;
    memset(t, 0, sizeof(*t));
    t->n_type_ids = -1;
    t->id = type_type;
    if (type_type == FB_T_NONE || type_type >= FB_T_COUNT_)
        return MALFORMED(r, err, "column \"%s\" has unknown type %u", col, type_type);
    if (!have) return MALFORMED(r, err, "column \"%s\" lacks its type table", col);
    switch (type_type) {
    case FB_T_INT:
        return parse_int_table(r, tt, t, col, err);
    case FB_T_FLOAT:
        if (!fb_get_i16(tt, 0, 0, &unit) || unit < 0 || unit > 2)
            return MALFORMED(r, err, "bad floating point precision in column \"%s\"", col);
        t->unit = (uint8_t)unit;
        return 0;
    case FB_T_DECIMAL: {
        if (!fb_get_i32(tt, 0, 0, &t->precision) || !fb_get_i32(tt, 1, 0, &t->scale) ||
            !fb_get_i32(tt, 2, 128, &t->bits))
            return MALFORMED(r, err, "bad Decimal type in column \"%s\"", col);
        int maxp = t->bits == 32 ? 9 : t->bits == 64 ? 18 : t->bits == 128 ? 38 :
                   t->bits == 256 ? 76 : 0;
        if (!maxp) return MALFORMED(r, err, "column \"%s\" has a %d-bit decimal", col, t->bits);
        if (t->precision < 1 || t->precision > maxp || t->scale < 0 || t->scale > t->precision)
            return UNSUPPORTED(r, err, "column \"%s\": decimal(%d,%d) of %d bits is not "
                               "supported", col, t->precision, t->scale, t->bits);
        return 0;
    }
    case FB_T_DATE:
        if (!fb_get_i16(tt, 0, ARROW_DATE_MILLI, &unit) || unit < 0 || unit > 1)
            return MALFORMED(r, err, "bad Date unit in column \"%s\"", col);
        t->unit = (uint8_t)unit;
        return 0;
    case FB_T_TIME:
        if (!fb_get_i16(tt, 0, ARROW_UNIT_MILLI, &unit) || !fb_get_i32(tt, 1, 32, &t->bits) ||
            unit < 0 || unit > 3 || t->bits != (unit <= ARROW_UNIT_MILLI ? 32 : 64))
            return MALFORMED(r, err, "bad Time type in column \"%s\"", col);
        t->unit = (uint8_t)unit;
        return 0;
    case FB_T_TIMESTAMP: {
        const char *tz = NULL;
        size_t tzl = 0;
        bool ptz;
        if (!fb_get_i16(tt, 0, 0, &unit) || unit < 0 || unit > 3 ||
            !fb_get_string(tt, 1, &tz, &tzl, &ptz))
            return MALFORMED(r, err, "bad Timestamp type in column \"%s\"", col);
        t->unit = (uint8_t)unit;
        if (ptz) {
            if (tzl >= sizeof(t->tz) || memchr(tz, 0, tzl))
                return MALFORMED(r, err, "bad time zone in column \"%s\"", col);
            memcpy(t->tz, tz, tzl);
            t->tz[tzl] = '\0';
        }
        return 0;
    }
    case FB_T_INTERVAL:
        if (!fb_get_i16(tt, 0, 0, &unit) || unit < 0 || unit > 2)
            return MALFORMED(r, err, "bad Interval unit in column \"%s\"", col);
        t->unit = (uint8_t)unit;
        return 0;
    case FB_T_DURATION:
        if (!fb_get_i16(tt, 0, ARROW_UNIT_MILLI, &unit) || unit < 0 || unit > 3)
            return MALFORMED(r, err, "bad Duration unit in column \"%s\"", col);
        t->unit = (uint8_t)unit;
        return 0;
    case FB_T_FIXED_SIZE_BINARY:
    case FB_T_FIXED_SIZE_LIST:
        if (!fb_get_i32(tt, 0, 0, &i32) || i32 < 1)
            return MALFORMED(r, err, "bad %s size %d in column \"%s\"",
                             arrow_type_name(type_type), i32, col);
        t->size = i32;
        return 0;
    case FB_T_MAP: {
        uint8_t ks;
        if (!fb_get_u8(tt, 0, 0, &ks)) return MALFORMED(r, err, "bad Map in column \"%s\"", col);
        t->keys_sorted = ks != 0;
        return 0;
    }
    case FB_T_UNION: {
        fb_vec_t ids;
        bool pids;
        if (!fb_get_i16(tt, 0, 0, &unit) || unit < 0 || unit > 1 ||
            !fb_get_vector(tt, 1, 4, &ids, &pids))
            return MALFORMED(r, err, "bad Union type in column \"%s\"", col);
        t->unit = (uint8_t)unit;
        if (unit != ARROW_UNION_SPARSE)
            return UNSUPPORTED(r, err, "column \"%s\": dense unions are not supported", col);
        if (pids) {
            if (ids.n > ARROW_MAX_UNION_CHILDREN)
                return MALFORMED(r, err, "union in column \"%s\" has %u type ids", col, ids.n);
            t->n_type_ids = (int16_t)ids.n;
            for (uint32_t i = 0; i < ids.n; i++) {
                int32_t id = fb_vec_i32(&ids, i);
                if (id < 0 || id > 127)
                    return MALFORMED(r, err, "union type id %d in column \"%s\"", id, col);
                for (uint32_t j = 0; j < i; j++)
                    if (t->type_ids[j] == id)
                        return MALFORMED(r, err, "duplicate union type id %d in column \"%s\"",
                                         id, col);
                t->type_ids[i] = (int8_t)id;
            }
        }
        return 0;
    }
    case FB_T_RUN_END_ENCODED:
    case FB_T_LIST_VIEW:
    case FB_T_LARGE_LIST_VIEW:
        return UNSUPPORTED(r, err, "column \"%s\": Arrow %s is not supported", col,
                           arrow_type_name(type_type));
    default:
        return 0;
    }
}

/* Checks child counts of a parsed field against its type. */
static int check_children(clove_ipc_reader_t *r, const rfield_t *f, const char *col,
                          clove_err_t *err)
{
    int n = f->nchildren;
    switch (f->t.id) {
    case FB_T_LIST: case FB_T_LARGE_LIST: case FB_T_FIXED_SIZE_LIST:
        if (n != 1) return MALFORMED(r, err, "%s in column \"%s\" has %d children",
                                     arrow_type_name(f->t.id), col, n);
        return 0;
    case FB_T_MAP:
        if (n != 1 || f->children[0].t.id != FB_T_STRUCT || f->children[0].dict ||
            f->children[0].nchildren != 2)
            return MALFORMED(r, err, "map in column \"%s\" lacks its key/value struct", col);
        return 0;
    case FB_T_STRUCT:
        if (n < 1) return UNSUPPORTED(r, err, "column \"%s\": empty structs are not supported",
                                      col);
        return 0;
    case FB_T_UNION:
        if (n < 1 || n > ARROW_MAX_UNION_CHILDREN ||
            (f->t.n_type_ids >= 0 && f->t.n_type_ids != n))
            return MALFORMED(r, err, "union in column \"%s\" has %d children", col, n);
        return 0;
    default:
        if (n != 0) return MALFORMED(r, err, "%s in column \"%s\" has %d children",
                                     arrow_type_name(f->t.id), col, n);
        return 0;
    }
}

static int parse_field(clove_ipc_reader_t *r, const fb_table_t *ft, rfield_t *f, int depth,
                       bool in_dict, const char *col, clove_err_t *err)
{
    if (depth > CLOVE_IPC_MAX_DEPTH)
        return UNSUPPORTED(r, err, "column \"%s\" nests types deeper than %d levels", col,
                           CLOVE_IPC_MAX_DEPTH);
    if (++r->nfields_seen > MAX_FIELDS)
        return UNSUPPORTED(r, err, "the Arrow schema has more than %d fields", MAX_FIELDS);
    const char *name = "";
    size_t nl = 0;
    bool pn, pt, pd, pc, pm;
    uint8_t nullable, type_type;
    fb_table_t tt, dt;
    fb_vec_t kids, md;
    if (!fb_get_string(ft, FB_FIELD_NAME, &name, &nl, &pn) ||
        !fb_get_u8(ft, FB_FIELD_NULLABLE, 0, &nullable) ||
        !fb_get_u8(ft, FB_FIELD_TYPE_TYPE, 0, &type_type) ||
        !fb_get_table(ft, FB_FIELD_TYPE, &tt, &pt) ||
        !fb_get_table(ft, FB_FIELD_DICTIONARY, &dt, &pd) ||
        !fb_get_vector(ft, FB_FIELD_CHILDREN, 4, &kids, &pc) ||
        !fb_get_vector(ft, FB_FIELD_CUSTOM_METADATA, 4, &md, &pm))
        return MALFORMED(r, err, "bad Field table in column \"%s\"", col);
    f->name = clove_xstrndup(name, nl);
    if (depth == 1) col = f->name;
    f->nullable = nullable != 0;
    int rc = parse_type(r, type_type, &tt, pt, &f->t, col, err);
    if (rc) return rc;
    if (pm && (rc = parse_metadata(r, &md, "a field", &f->metadata, err))) return rc;
    if (pd) {
        if (in_dict)
            return UNSUPPORTED(r, err, "column \"%s\": dictionaries inside dictionaries are not "
                               "supported", col);
        fb_table_t it;
        bool pi;
        uint8_t ord;
        if (!fb_get_i64(&dt, FB_DICTENC_ID, 0, &f->dict_id) ||
            !fb_get_table(&dt, FB_DICTENC_INDEX_TYPE, &it, &pi) ||
            !fb_get_u8(&dt, FB_DICTENC_IS_ORDERED, 0, &ord))
            return MALFORMED(r, err, "bad dictionary encoding in column \"%s\"", col);
        if (pi) {
            if ((rc = parse_int_table(r, &it, &f->index, col, err))) return rc;
        } else {
            f->index.id = FB_T_INT;
            f->index.bits = 32;
            f->index.is_signed = true;
        }
        f->dict = true;
        f->ordered = ord != 0;
        for (int i = 0; i < r->ndicts; i++)
            if (r->dicts[i].id == f->dict_id)
                return MALFORMED(r, err, "dictionary id %lld is used twice",
                                 (long long)f->dict_id);
        r->dicts = clove_xrealloc(r->dicts, (size_t)(r->ndicts + 1) * sizeof(*r->dicts));
        r->dicts[r->ndicts].id = f->dict_id;
        r->dicts[r->ndicts].field = f;     /* fixed up after the tree stops moving */
        r->dicts[r->ndicts].batch = NULL;
        r->ndicts++;
    }
    if (pc && kids.n) {
        if (kids.n > (uint32_t)(MAX_FIELDS - r->nfields_alloc))
            return UNSUPPORTED(r, err, "the Arrow schema has more than %d fields", MAX_FIELDS);
        r->nfields_alloc += (int)kids.n;
        f->children = clove_xcalloc(kids.n, sizeof(*f->children));
        f->nchildren = (int)kids.n;
        for (uint32_t i = 0; i < kids.n; i++) {
            fb_table_t ct;
            if (!fb_vec_table(&kids, i, &ct))
                return MALFORMED(r, err, "bad child field in column \"%s\"", col);
            rc = parse_field(r, &ct, &f->children[i], depth + 1, in_dict || f->dict, col, err);
            if (rc) return rc;
        }
    }
    if ((rc = check_children(r, f, col, err))) return rc;
    if (!arrow_fmt_render(&f->t, f->fmt, sizeof(f->fmt)) ||
        (f->dict && !arrow_fmt_render(&f->index, f->ifmt, sizeof(f->ifmt))))
        return MALFORMED(r, err, "column \"%s\" has a type clove cannot name", col);
    return 0;
}

/* Points each dictionary at its field (fields are stable once the whole tree is built). */
static void bind_dicts(clove_ipc_reader_t *r, rfield_t *f)
{
    if (f->dict)
        for (int i = 0; i < r->ndicts; i++)
            if (r->dicts[i].id == f->dict_id) r->dicts[i].field = f;
    for (int i = 0; i < f->nchildren; i++) bind_dicts(r, &f->children[i]);
}

/* ---- C Data schemas and DuckDB types ---------------------------------------------------- */

static void cschema_release(struct ArrowSchema *s)
{
    for (int64_t i = 0; i < s->n_children; i++) {
        cschema_release(s->children[i]);
        free(s->children[i]);
    }
    free(s->children);
    if (s->dictionary) {
        cschema_release(s->dictionary);
        free(s->dictionary);
    }
    s->release = NULL;
}

static void cschema_fill(struct ArrowSchema *s, const rfield_t *f, bool value)
{
    s->format = (f->dict && !value) ? f->ifmt : f->fmt;
    s->name = f->name;
    s->metadata = value ? NULL : f->metadata;
    s->flags = (f->nullable ? ARROW_FLAG_NULLABLE : 0) |
               (f->dict && !value && f->ordered ? ARROW_FLAG_DICTIONARY_ORDERED : 0) |
               (f->t.id == FB_T_MAP && f->t.keys_sorted ? ARROW_FLAG_MAP_KEYS_SORTED : 0);
    s->release = cschema_release;
    if (f->dict && !value) {
        s->dictionary = clove_xcalloc(1, sizeof(*s->dictionary));
        cschema_fill(s->dictionary, f, true);
        return;
    }
    s->n_children = f->nchildren;
    if (f->nchildren) {
        s->children = clove_xcalloc((size_t)f->nchildren, sizeof(*s->children));
        for (int i = 0; i < f->nchildren; i++) {
            s->children[i] = clove_xcalloc(1, sizeof(**s->children));
            cschema_fill(s->children[i], &f->children[i], false);
        }
    }
}

/* Empty arrays (length 0) of a field's type, to learn the DuckDB type of each column. */
static void empty_release(struct ArrowArray *a)
{
    for (int64_t i = 0; i < a->n_children; i++) {
        empty_release(a->children[i]);
        free(a->children[i]);
    }
    if (a->dictionary) {
        empty_release(a->dictionary);
        free(a->dictionary);
    }
    free(a->children);
    free(a->buffers);
    a->release = NULL;
}

static void empty_fill(struct ArrowArray *a, const rfield_t *f, bool value)
{
    const arrow_type_t *t = (f->dict && !value) ? &f->index : &f->t;
    int nb = arrow_type_ipc_buffers(t);
    if (t->id == FB_T_BINARY_VIEW || t->id == FB_T_UTF8_VIEW) nb = 3;
    if (f->dict && !value) nb = 2;
    a->n_buffers = nb;
    a->buffers = clove_xcalloc((size_t)(nb ? nb : 1), sizeof(*a->buffers));
    for (int i = 0; i < nb; i++) a->buffers[i] = zero_block;
    if (t->id != FB_T_UNION && nb) a->buffers[0] = NULL;
    a->release = empty_release;
    if (f->dict && !value) {
        a->dictionary = clove_xcalloc(1, sizeof(*a->dictionary));
        empty_fill(a->dictionary, f, true);
        return;
    }
    a->n_children = f->nchildren;
    if (f->nchildren) {
        a->children = clove_xcalloc((size_t)f->nchildren, sizeof(*a->children));
        for (int i = 0; i < f->nchildren; i++) {
            a->children[i] = clove_xcalloc(1, sizeof(**a->children));
            empty_fill(a->children[i], &f->children[i], false);
        }
    }
}

typedef struct {
    struct ArrowArray top;
    struct ArrowArray *child;
    const void *top_buffers[1];
    rbatch_t *batch;           /* NULL for the empty arrays of the schema probe */
    struct ArrowArray slice;
} rslice_t;

static void slice_release(struct ArrowArray *a)
{
    rslice_t *s = a->private_data;
    if (s->batch) rbatch_unref(s->batch);
    else if (s->child->release) s->child->release(s->child);
    if (!s->batch) free(s->child);
    free(s);
    a->release = NULL;
}

static rslice_t *slice_new(struct ArrowArray *child, int64_t length, rbatch_t *b)
{
    rslice_t *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->child = child;
    s->batch = b;
    s->top.length = length;
    s->top.n_buffers = 1;
    s->top.buffers = s->top_buffers;
    s->top.n_children = 1;
    s->top.children = &s->child;
    s->top.release = slice_release;
    s->top.private_data = s;
    if (b) atomic_fetch_add(&b->refs, 1);
    return s;
}

/* Converts one single-column top-level array; returns the DuckDB chunk or NULL + error. */
static duckdb_data_chunk to_duckdb(clove_ipc_reader_t *r, int col, rslice_t *s, clove_err_t *err)
{
    duckdb_data_chunk out = NULL;
    /* DuckDB copies the struct and may release it before returning, freeing s */
    struct ArrowArray top = s->top;
    duckdb_error_data ed = duckdb_data_chunk_from_arrow(r->conn, &top, r->conv[col], &out);
    if (top.release) top.release(&top);        /* DuckDB did not take it */
    if (ed) {
        fail(r, err, CLOVE_EINVAL, "could not convert Arrow column \"%s\" to DuckDB: %s",
             r->fields[col].name, duckdb_error_data_message(ed));
        duckdb_destroy_error_data(&ed);
        if (out) duckdb_destroy_data_chunk(&out);
        return NULL;
    }
    return out;
}

/* DuckDB turns Arrow dictionaries into dictionary vectors and the null type into constant
 * vectors; C API readers of a chunk expect flat vectors, so such columns are copied flat. */
static bool needs_flatten(const rfield_t *f)
{
    if (f->dict || f->t.id == FB_T_NULL) return true;
    for (int i = 0; i < f->nchildren; i++)
        if (needs_flatten(&f->children[i])) return true;
    return false;
}

static int setup_duckdb(clove_ipc_reader_t *r, clove_err_t *err)
{
    if (!r->conn) {
        if (duckdb_open(NULL, &r->own_db) != DuckDBSuccess ||
            duckdb_connect(r->own_db, &r->own_conn) != DuckDBSuccess)
            return fail(r, err, CLOVE_EINTERNAL, "could not open DuckDB for the Arrow reader");
        r->conn = r->own_conn;
    }
    int n = r->ncols;
    r->types = clove_xcalloc((size_t)(n ? n : 1), sizeof(*r->types));
    r->flatten = clove_xcalloc((size_t)(n ? n : 1), sizeof(*r->flatten));
    for (int i = 0; i < n; i++) {
        r->flatten[i] = needs_flatten(&r->fields[i]);
        if (r->flatten[i] && !r->identity) {
            r->identity = duckdb_create_selection_vector(CHUNK_ROWS);
            sel_t *sel = duckdb_selection_vector_get_data_ptr(r->identity);
            for (sel_t k = 0; k < CHUNK_ROWS; k++) sel[k] = k;
        }
    }
    r->cschemas = clove_xcalloc((size_t)(n ? n : 1), sizeof(*r->cschemas));
    r->conv = clove_xcalloc((size_t)(n ? n : 1), sizeof(*r->conv));
    for (int i = 0; i < n; i++) {
        struct ArrowSchema *top = clove_xcalloc(1, sizeof(*top));
        r->cschemas[i] = top;
        top->format = "+s";
        top->name = "";
        top->release = cschema_release;
        top->n_children = 1;
        top->children = clove_xcalloc(1, sizeof(*top->children));
        top->children[0] = clove_xcalloc(1, sizeof(**top->children));
        cschema_fill(top->children[0], &r->fields[i], false);
        duckdb_error_data ed = duckdb_schema_from_arrow(r->conn, top, &r->conv[i]);
        if (ed) {
            int rc = UNSUPPORTED(r, err, "column \"%s\": DuckDB cannot read Arrow type %s: %s",
                                 r->fields[i].name, r->fields[i].fmt,
                                 duckdb_error_data_message(ed));
            duckdb_destroy_error_data(&ed);
            r->conv[i] = NULL;
            return rc;
        }
        /* DuckDB names the type only through a converted chunk: convert an empty one. */
        struct ArrowArray *child = clove_xcalloc(1, sizeof(*child));
        empty_fill(child, &r->fields[i], false);
        rslice_t *s = slice_new(child, 0, NULL);
        if (!s) {
            empty_release(child);
            free(child);
            return fail(r, err, CLOVE_ENOMEM, "out of memory");
        }
        duckdb_data_chunk c = to_duckdb(r, i, s, err);
        if (!c) return r->failed;
        if (duckdb_data_chunk_get_column_count(c) != 1) {
            duckdb_destroy_data_chunk(&c);
            return fail(r, err, CLOVE_EINTERNAL, "DuckDB converted column \"%s\" oddly",
                        r->fields[i].name);
        }
        r->types[i] = duckdb_vector_get_column_type(duckdb_data_chunk_get_vector(c, 0));
        duckdb_destroy_data_chunk(&c);
    }
    return 0;
}

static int parse_schema(clove_ipc_reader_t *r, const fb_table_t *st, clove_err_t *err)
{
    int16_t endian;
    fb_vec_t fields;
    bool pf;
    if (!fb_get_i16(st, FB_SCHEMA_ENDIANNESS, 0, &endian) ||
        !fb_get_vector(st, FB_SCHEMA_FIELDS, 4, &fields, &pf))
        return MALFORMED(r, err, "bad Schema table");
    if (endian != 0) return UNSUPPORTED(r, err, "big-endian Arrow data is not supported");
    uint32_t n = pf ? fields.n : 0;
    if (n > MAX_FIELDS) return UNSUPPORTED(r, err, "the Arrow schema has %u columns", n);
    r->fields = clove_xcalloc(n ? n : 1, sizeof(*r->fields));
    r->ncols = (int)n;
    for (uint32_t i = 0; i < n; i++) {
        fb_table_t ft;
        char col[32];
        snprintf(col, sizeof(col), "#%u", i + 1);
        if (!fb_vec_table(&fields, i, &ft)) return MALFORMED(r, err, "bad field %u", i + 1);
        int rc = parse_field(r, &ft, &r->fields[i], 1, false, col, err);
        if (rc) return rc;
    }
    for (uint32_t i = 0; i < n; i++) bind_dicts(r, &r->fields[i]);
    int rc = setup_duckdb(r, err);
    if (rc) return rc;
    r->has_schema = true;
    return 0;
}

/* ---- record batches ---------------------------------------------------------------------- */

typedef struct {
    clove_ipc_reader_t *r;
    rbatch_t *b;
    clove_err_t *err;
    fb_vec_t nodes, bufs, variadic;
    bool has_variadic;
    uint32_t node_i, buf_i, var_i;
    size_t body_len;
    const char *col;
} dec_t;

static bool bit_get(const uint8_t *bits, int64_t i) { return (bits[i >> 3] >> (i & 7)) & 1; }

static int64_t count_valid(const uint8_t *bits, int64_t from, int64_t len)
{
    int64_t valid = 0, i = 0;
    while (i < len && ((from + i) & 7)) valid += bit_get(bits, from + i++);
    for (; i + 64 <= len; i += 64) {
        uint64_t word;
        memcpy(&word, bits + ((from + i) >> 3), 8);
        valid += __builtin_popcountll(word);
    }
    for (; i < len; i++) valid += bit_get(bits, from + i);
    return valid;
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
        else return false;
        if (n - i < len) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return false;
        if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return false;
        i += len;
    }
    return true;
}

/* The next body buffer: bounds-checked, 8-byte aligned (copied when the sender did not
 * align it). An empty buffer yields NULL. */
static int next_buffer(dec_t *d, const uint8_t **out, int64_t *out_len)
{
    clove_ipc_reader_t *r = d->r;
    if (d->buf_i >= d->bufs.n)
        return MALFORMED(r, d->err, "column \"%s\" needs more buffers than the message has (%u)",
                         d->col, d->bufs.n);
    uint32_t i = d->buf_i++;
    int64_t off = fb_vec_i64(&d->bufs, i, 16, 0);
    int64_t len = fb_vec_i64(&d->bufs, i, 16, 1);
    if (off < 0 || len < 0 || (uint64_t)off > d->body_len ||
        (uint64_t)len > d->body_len - (uint64_t)off)
        return MALFORMED(r, d->err, "buffer %u of column \"%s\" extends past the body (offset "
                         "%lld, length %lld, body %zu)", i, d->col, (long long)off,
                         (long long)len, d->body_len);
    *out_len = len;
    if (len == 0) {
        *out = NULL;
        return 0;
    }
    const uint8_t *p = d->b->body + off;
    if (off & 7) {
        uint8_t *copy = rbatch_alloc(d->b, (size_t)len);
        if (!copy) return fail(r, d->err, CLOVE_ENOMEM, "out of memory decoding Arrow data");
        memcpy(copy, p, (size_t)len);
        p = copy;
    }
    *out = p;
    return 0;
}

static int check_size(dec_t *d, const char *what, int64_t have, int64_t need)
{
    if (have < need)
        return MALFORMED(d->r, d->err, "%s buffer of column \"%s\" holds %lld bytes, %lld needed",
                         what, d->col, (long long)have, (long long)need);
    return 0;
}

/* Checks offsets [0..len] (monotone, from >= 0, last <= limit); returns first and last. */
static int check_offsets(dec_t *d, const uint8_t *buf, int width, int64_t len, int64_t limit,
                         int64_t *first, int64_t *last)
{
    int64_t prev = 0;
    for (int64_t i = 0; i <= len; i++) {
        int64_t o = width == 4 ? (int64_t)((const int32_t *)buf)[i] : ((const int64_t *)buf)[i];
        if (o < prev || (i == 0 && o < 0) || o > limit)
            return MALFORMED(d->r, d->err, "offset %lld of column \"%s\" is %lld (previous %lld, "
                             "limit %lld)", (long long)i, d->col, (long long)o, (long long)prev,
                             (long long)limit);
        if (i == 0) *first = o;
        prev = o;
    }
    *last = prev;
    return 0;
}

static int check_utf8(dec_t *d, const uint8_t *valid, const uint8_t *data, const uint8_t *offs,
                      int width, int64_t len, int64_t first, int64_t last)
{
    /* Fast path: the whole range is valid and no value starts inside a character. */
    bool ok = utf8_valid(data + first, (size_t)(last - first));
    for (int64_t i = 1; ok && i < len; i++) {
        int64_t o = width == 4 ? (int64_t)((const int32_t *)offs)[i] : ((const int64_t *)offs)[i];
        if (o < last && (data[o] & 0xC0) == 0x80) ok = false;
    }
    if (ok) return 0;
    for (int64_t i = 0; i < len; i++) {
        if (valid && !bit_get(valid, i)) continue;
        int64_t a, b;
        if (width == 4) {
            a = ((const int32_t *)offs)[i];
            b = ((const int32_t *)offs)[i + 1];
        } else {
            a = ((const int64_t *)offs)[i];
            b = ((const int64_t *)offs)[i + 1];
        }
        if (!utf8_valid(data + a, (size_t)(b - a)))
            return MALFORMED(d->r, d->err, "value %lld of column \"%s\" is not valid UTF-8",
                             (long long)i, d->col);
    }
    return 0;
}

static int dec_array(dec_t *d, const rfield_t *f, bool value, int depth,
                     struct ArrowArray **out);

static int dec_children(dec_t *d, const rfield_t *f, struct ArrowArray *a, int depth)
{
    for (int i = 0; i < f->nchildren; i++) {
        int rc = dec_array(d, &f->children[i], false, depth + 1, &a->children[i]);
        if (rc) return rc;
    }
    return 0;
}

static int dec_views(dec_t *d, const rfield_t *f, struct ArrowArray *a, const uint8_t *valid,
                     int64_t len, int64_t nvar)
{
    clove_ipc_reader_t *r = d->r;
    const uint8_t *views;
    int64_t vlen;
    int rc = next_buffer(d, &views, &vlen);
    if (rc || (rc = check_size(d, "views", vlen, 16 * len))) return rc;
    int64_t *sizes = rbatch_alloc(d->b, 8 * (size_t)(nvar + 1));
    if (!sizes) return fail(r, d->err, CLOVE_ENOMEM, "out of memory decoding Arrow data");
    a->buffers[1] = views ? views : (const void *)zero_block;
    for (int64_t i = 0; i < nvar; i++) {
        const uint8_t *p;
        if ((rc = next_buffer(d, &p, &sizes[i]))) return rc;
        a->buffers[2 + i] = p ? p : (const void *)zero_block;
    }
    a->buffers[2 + nvar] = sizes;
    for (int64_t i = 0; i < len; i++) {
        if (valid && !bit_get(valid, i)) continue;
        const uint8_t *v = views + 16 * i;
        int32_t n = (int32_t)fb_rd32(v);
        const uint8_t *s = v + 4;
        if (n < 0) return MALFORMED(r, d->err, "view %lld of column \"%s\" has length %d",
                                    (long long)i, d->col, n);
        if (n > 12) {
            int32_t bi = (int32_t)fb_rd32(v + 8), off = (int32_t)fb_rd32(v + 12);
            if (bi < 0 || bi >= nvar || off < 0 || (int64_t)off + n > sizes[bi])
                return MALFORMED(r, d->err, "view %lld of column \"%s\" points outside its "
                                 "buffers", (long long)i, d->col);
            s = (const uint8_t *)a->buffers[2 + bi] + off;
        }
        if (f->t.id == FB_T_UTF8_VIEW && !utf8_valid(s, (size_t)n))
            return MALFORMED(r, d->err, "value %lld of column \"%s\" is not valid UTF-8",
                             (long long)i, d->col);
    }
    return 0;
}

/* Decodes the next field node of type f (the value type when `value`, else the index type
 * for a dictionary-encoded field) and its children into *out, checking everything DuckDB
 * will read. */
static int dec_array(dec_t *d, const rfield_t *f, bool value, int depth,
                     struct ArrowArray **out)
{
    clove_ipc_reader_t *r = d->r;
    bool as_index = f->dict && !value;
    const arrow_type_t *t = as_index ? &f->index : &f->t;
    if (d->node_i >= d->nodes.n)
        return MALFORMED(r, d->err, "column \"%s\" needs more field nodes than the message has "
                         "(%u)", d->col, d->nodes.n);
    uint32_t ni = d->node_i++;
    int64_t len = fb_vec_i64(&d->nodes, ni, 16, 0);
    int64_t nulls = fb_vec_i64(&d->nodes, ni, 16, 1);
    if (len < 0 || len > r->max_len || nulls < 0 || nulls > len)
        return MALFORMED(r, d->err, "field node %u of column \"%s\" has length %lld and %lld "
                         "nulls", ni, d->col, (long long)len, (long long)nulls);
    int nb = as_index ? 2 : arrow_type_ipc_buffers(t);
    int64_t nvar = 0;
    if (!as_index && (t->id == FB_T_BINARY_VIEW || t->id == FB_T_UTF8_VIEW)) {
        /* validity, views, the variadic data buffers, and (C Data only) their sizes */
        if (!d->has_variadic || d->var_i >= d->variadic.n)
            return MALFORMED(r, d->err, "column \"%s\" lacks its variadic buffer count", d->col);
        nvar = fb_vec_i64(&d->variadic, d->var_i++, 8, 0);
        if (nvar < 0 || nvar > (int64_t)d->bufs.n)
            return MALFORMED(r, d->err, "column \"%s\" claims %lld variadic buffers", d->col,
                             (long long)nvar);
        nb = 3 + (int)nvar;
    }
    int nkids = as_index ? 0 : f->nchildren;
    size_t sz = sizeof(struct ArrowArray) + (size_t)nb * sizeof(void *) +
                (size_t)nkids * sizeof(void *);
    struct ArrowArray *a = rbatch_alloc(d->b, sz);
    if (!a) return fail(r, d->err, CLOVE_ENOMEM, "out of memory decoding Arrow data");
    a->buffers = (const void **)(a + 1);
    a->children = (struct ArrowArray **)(a->buffers + nb);
    a->length = len;
    a->n_buffers = t->id == FB_T_NULL && !as_index ? 0 : nb;
    a->n_children = nkids;
    a->release = child_release;
    *out = a;
    int rc;
    const uint8_t *valid = NULL;
    if (t->id == FB_T_NULL && !as_index) {
        a->null_count = len;
        return 0;
    }
    if (t->id != FB_T_UNION) {
        int64_t vlen;
        if ((rc = next_buffer(d, &valid, &vlen))) return rc;
        if (nulls == 0) {
            valid = NULL;
        } else {
            if ((rc = check_size(d, "validity", vlen, (len + 7) / 8))) return rc;
            nulls = len - count_valid(valid, 0, len);
        }
        if (nulls == 0) valid = NULL;
        a->buffers[0] = valid;
    }
    a->null_count = t->id == FB_T_UNION ? 0 : nulls;
    const uint8_t *data;
    int64_t dlen, first, last;
    if (as_index) {
        int w = t->bits / 8;
        if ((rc = next_buffer(d, &data, &dlen)) || (rc = check_size(d, "index", dlen, len * w)))
            return rc;
        rdict_t *rd = NULL;
        for (int i = 0; i < r->ndicts; i++)
            if (r->dicts[i].id == f->dict_id) rd = &r->dicts[i];
        if (!rd || !rd->batch)
            return MALFORMED(r, d->err, "column \"%s\" refers to dictionary %lld before it was "
                             "sent", d->col, (long long)f->dict_id);
        int64_t dl = rd->batch->length;
        for (int64_t i = 0; i < len; i++) {
            if (valid && !bit_get(valid, i)) continue;
            int64_t ix;
            switch (w) {
            case 1: ix = t->is_signed ? (int64_t)((const int8_t *)data)[i] : data[i]; break;
            case 2:
                ix = t->is_signed ? (int64_t)((const int16_t *)data)[i]
                                  : (int64_t)((const uint16_t *)data)[i];
                break;
            case 4:
                ix = t->is_signed ? (int64_t)((const int32_t *)data)[i]
                                  : (int64_t)((const uint32_t *)data)[i];
                break;
            default: {
                uint64_t u = ((const uint64_t *)data)[i];
                ix = (!t->is_signed && u > INT64_MAX) ? -1 : (int64_t)u;
                break;
            }
            }
            if (ix < 0 || ix >= dl)
                return MALFORMED(r, d->err, "index %lld of column \"%s\" is %lld, the dictionary "
                                 "has %lld entries", (long long)i, d->col, (long long)ix,
                                 (long long)dl);
        }
        a->buffers[1] = data ? data : (const void *)zero_block;
        if (!rbatch_dep(d->b, rd->batch))
            return fail(r, d->err, CLOVE_ENOMEM, "out of memory decoding Arrow data");
        a->dictionary = rd->batch->cols[0];
        return 0;
    }
    switch (t->id) {
    case FB_T_BOOL:
        if ((rc = next_buffer(d, &data, &dlen)) ||
            (rc = check_size(d, "data", dlen, (len + 7) / 8)))
            return rc;
        a->buffers[1] = data ? data : (const void *)zero_block;
        return 0;
    case FB_T_BINARY: case FB_T_UTF8: case FB_T_LARGE_BINARY: case FB_T_LARGE_UTF8: {
        int w = (t->id == FB_T_BINARY || t->id == FB_T_UTF8) ? 4 : 8;
        const uint8_t *offs;
        int64_t olen;
        if ((rc = next_buffer(d, &offs, &olen)) || (rc = next_buffer(d, &data, &dlen))) return rc;
        if (len == 0 && !offs) offs = (const uint8_t *)zero_block;
        else if ((rc = check_size(d, "offsets", olen, (len + 1) * w))) return rc;
        if ((rc = check_offsets(d, offs, w, len, dlen, &first, &last))) return rc;
        if (!data) data = (const uint8_t *)zero_block;
        if ((t->id == FB_T_UTF8 || t->id == FB_T_LARGE_UTF8) &&
            (rc = check_utf8(d, valid, data, offs, w, len, first, last)))
            return rc;
        a->buffers[1] = offs;
        a->buffers[2] = data;
        return 0;
    }
    case FB_T_BINARY_VIEW: case FB_T_UTF8_VIEW:
        return dec_views(d, f, a, valid, len, nvar);
    case FB_T_LIST: case FB_T_LARGE_LIST: case FB_T_MAP: {
        int w = t->id == FB_T_LARGE_LIST ? 8 : 4;
        const uint8_t *offs;
        int64_t olen;
        if ((rc = next_buffer(d, &offs, &olen))) return rc;
        if (len == 0 && !offs) offs = (const uint8_t *)zero_block;
        else if ((rc = check_size(d, "offsets", olen, (len + 1) * w))) return rc;
        a->buffers[1] = offs;
        if ((rc = dec_children(d, f, a, depth))) return rc;
        return check_offsets(d, offs, w, len, a->children[0]->length, &first, &last);
    }
    case FB_T_FIXED_SIZE_LIST:
        if ((rc = dec_children(d, f, a, depth))) return rc;
        if (a->children[0]->length < len * t->size)
            return MALFORMED(r, d->err, "fixed-size list column \"%s\" has %lld child values, "
                             "%lld needed", d->col, (long long)a->children[0]->length,
                             (long long)(len * t->size));
        return 0;
    case FB_T_STRUCT:
        if ((rc = dec_children(d, f, a, depth))) return rc;
        for (int i = 0; i < f->nchildren; i++)
            if (a->children[i]->length < len)
                return MALFORMED(r, d->err, "struct column \"%s\" has a child of %lld values, "
                                 "%lld needed", d->col, (long long)a->children[i]->length,
                                 (long long)len);
        return 0;
    case FB_T_UNION: {
        if ((rc = next_buffer(d, &data, &dlen)) || (rc = check_size(d, "type id", dlen, len)))
            return rc;
        a->buffers[0] = data ? data : (const void *)zero_block;
        for (int64_t i = 0; i < len; i++) {
            int8_t id = (int8_t)data[i];
            bool found = false;
            if (f->t.n_type_ids < 0) found = id >= 0 && id < f->nchildren;
            for (int k = 0; k < f->t.n_type_ids && !found; k++) found = f->t.type_ids[k] == id;
            if (!found)
                return MALFORMED(r, d->err, "union column \"%s\" has unknown type id %d at %lld",
                                 d->col, id, (long long)i);
        }
        if ((rc = dec_children(d, f, a, depth))) return rc;
        for (int i = 0; i < f->nchildren; i++)
            if (a->children[i]->length < len)
                return MALFORMED(r, d->err, "union column \"%s\" has a child of %lld values, "
                                 "%lld needed", d->col, (long long)a->children[i]->length,
                                 (long long)len);
        return 0;
    }
    default: {
        int w = arrow_type_width(t);
        if (w <= 0)
            return UNSUPPORTED(r, d->err, "column \"%s\": Arrow %s is not supported", d->col,
                               arrow_type_name(t->id));
        if ((rc = next_buffer(d, &data, &dlen)) || (rc = check_size(d, "data", dlen, len * w)))
            return rc;
        a->buffers[1] = data ? data : (const void *)zero_block;
        if (t->id == FB_T_TIME) {
            /* time since midnight: 0 to 24:00:00 inclusive (DuckDB's TIME range) */
            static const int64_t per_day[4] = {86400LL, 86400000LL, 86400000000LL,
                                               86400000000000LL};
            int64_t max = per_day[t->unit & 3];
            for (int64_t i = 0; i < len; i++) {
                if (valid && !bit_get(valid, i)) continue;
                int64_t v = w == 4 ? (int64_t)((const int32_t *)data)[i]
                                   : ((const int64_t *)data)[i];
                if (v < 0 || v > max)
                    return MALFORMED(r, d->err, "time value %lld of column \"%s\" is outside a "
                                     "day", (long long)v, d->col);
            }
        }
        return 0;
    }
    }
}

/* Decodes a RecordBatch table over body into a new batch of the given fields. Takes
 * ownership of body. */
static int dec_record_batch(clove_ipc_reader_t *r, const fb_table_t *rb, uint8_t *body,
                            size_t body_len, const rfield_t *fields, int nfields, bool value,
                            rbatch_t **out, clove_err_t *err)
{
    rbatch_t *b = rbatch_new(body);
    if (!b) {
        free(body);
        return fail(r, err, CLOVE_ENOMEM, "out of memory decoding Arrow data");
    }
    dec_t d = {.r = r, .b = b, .err = err, .body_len = body_len};
    bool pn, pb, pc;
    fb_table_t comp;
    int rc = 0;
    if (!fb_get_i64(rb, FB_RB_LENGTH, 0, &b->length) ||
        !fb_get_vector(rb, FB_RB_NODES, 16, &d.nodes, &pn) ||
        !fb_get_vector(rb, FB_RB_BUFFERS, 16, &d.bufs, &pb) ||
        !fb_get_table(rb, FB_RB_COMPRESSION, &comp, &pc) ||
        !fb_get_vector(rb, FB_RB_VARIADIC_COUNTS, 8, &d.variadic, &d.has_variadic)) {
        rc = MALFORMED(r, err, "bad RecordBatch table");
        goto done;
    }
    if (pc) {
        rc = UNSUPPORTED(r, err, "compressed Arrow IPC bodies (LZ4, ZSTD) are not supported");
        goto done;
    }
    if (b->length < 0 || b->length > r->max_len) {
        rc = MALFORMED(r, err, "record batch length %lld", (long long)b->length);
        goto done;
    }
    if (!pn) d.nodes.n = 0;
    if (!pb) d.bufs.n = 0;
    b->cols = calloc((size_t)(nfields ? nfields : 1), sizeof(*b->cols));
    if (!b->cols) {
        rc = fail(r, err, CLOVE_ENOMEM, "out of memory decoding Arrow data");
        goto done;
    }
    b->ncols = nfields;
    for (int i = 0; i < nfields; i++) {
        d.col = fields[i].name;
        if ((rc = dec_array(&d, &fields[i], value, 1, &b->cols[i]))) goto done;
        if (b->cols[i]->length != b->length) {
            rc = MALFORMED(r, err, "column \"%s\" has %lld values, the batch %lld", d.col,
                           (long long)b->cols[i]->length, (long long)b->length);
            goto done;
        }
    }
    if (d.node_i != d.nodes.n || d.buf_i != d.bufs.n) {
        rc = MALFORMED(r, err, "the message has %u field nodes and %u buffers, the schema uses "
                       "%u and %u", d.nodes.n, d.bufs.n, d.node_i, d.buf_i);
        goto done;
    }
done:
    if (rc) {
        rbatch_unref(b);
        return rc;
    }
    *out = b;
    return 0;
}

static int enqueue(clove_ipc_reader_t *r, rbatch_t *b, clove_err_t *err)
{
    if (r->q_n == r->q_cap) {
        size_t cap = r->q_cap ? r->q_cap * 2 : 8;
        rbatch_t **nq = malloc(cap * sizeof(*nq));
        if (!nq) {
            rbatch_unref(b);
            return fail(r, err, CLOVE_ENOMEM, "out of memory queueing Arrow batches");
        }
        for (size_t i = 0; i < r->q_n; i++) nq[i] = r->queue[(r->q_head + i) % r->q_cap];
        free(r->queue);
        r->queue = nq;
        r->q_cap = cap;
        r->q_head = 0;
    }
    r->queue[(r->q_head + r->q_n) % r->q_cap] = b;
    r->q_n++;
    return 0;
}

/* Handles one message; takes ownership of body (may be NULL when body_len is 0). */
static int process(clove_ipc_reader_t *r, const uint8_t *meta, size_t meta_len, uint8_t *body,
                   size_t body_len, clove_err_t *err)
{
    fb_table_t msg, hdr;
    int16_t version;
    uint8_t htype;
    int64_t blen;
    bool ph;
    int rc = 0;
    if (!fb_root(meta, meta_len, &msg) || !fb_get_i16(&msg, FB_MSG_VERSION, 0, &version) ||
        !fb_get_u8(&msg, FB_MSG_HEADER_TYPE, 0, &htype) ||
        !fb_get_table(&msg, FB_MSG_HEADER, &hdr, &ph) ||
        !fb_get_i64(&msg, FB_MSG_BODY_LENGTH, 0, &blen)) {
        rc = MALFORMED(r, err, "the Message flatbuffer is invalid");
        goto done;
    }
    if (version < FB_METADATA_V4 || version > FB_METADATA_V5) {
        rc = UNSUPPORTED(r, err, "Arrow IPC metadata version V%d is not supported (V4, V5 are)",
                         version + 1);
        goto done;
    }
    if (!ph) {
        rc = MALFORMED(r, err, "the message has no header");
        goto done;
    }
    if (htype != FB_HDR_SCHEMA && !r->has_schema) {
        rc = MALFORMED(r, err, "the stream does not start with a Schema message");
        goto done;
    }
    switch (htype) {
    case FB_HDR_SCHEMA:
        if (r->has_schema) {
            rc = MALFORMED(r, err, "a second Schema message");
            goto done;
        }
        rc = parse_schema(r, &hdr, err);
        break;
    case FB_HDR_RECORD_BATCH: {
        rbatch_t *b;
        rc = dec_record_batch(r, &hdr, body, body_len, r->fields, r->ncols, false, &b, err);
        body = NULL;
        if (!rc) rc = enqueue(r, b, err);
        break;
    }
    case FB_HDR_DICTIONARY_BATCH: {
        int64_t id;
        fb_table_t data;
        bool pd;
        uint8_t delta;
        if (!fb_get_i64(&hdr, FB_DB_ID, 0, &id) || !fb_get_table(&hdr, FB_DB_DATA, &data, &pd) ||
            !fb_get_u8(&hdr, FB_DB_IS_DELTA, 0, &delta) || !pd) {
            rc = MALFORMED(r, err, "bad DictionaryBatch table");
            goto done;
        }
        rdict_t *rd = NULL;
        for (int i = 0; i < r->ndicts; i++)
            if (r->dicts[i].id == id) rd = &r->dicts[i];
        if (!rd) {
            rc = MALFORMED(r, err, "dictionary id %lld is not in the schema", (long long)id);
            goto done;
        }
        if (delta && rd->batch) {
            rc = UNSUPPORTED(r, err, "delta dictionaries are not supported");
            goto done;
        }
        rbatch_t *b;
        rc = dec_record_batch(r, &data, body, body_len, rd->field, 1, true, &b, err);
        body = NULL;
        if (!rc) {
            rbatch_unref(rd->batch);
            rd->batch = b;
        }
        break;
    }
    default:
        rc = UNSUPPORTED(r, err, "Arrow IPC message type %u (tensors) is not supported", htype);
        break;
    }
done:
    free(body);
    return rc;
}

/* ---- public -------------------------------------------------------------------------------- */

clove_ipc_reader_t *clove_ipc_reader_create(duckdb_connection conn, size_t max_message_bytes,
                                            clove_err_t *err)
{
    clove_ipc_reader_t *r = clove_xcalloc(1, sizeof(*r));
    r->conn = conn;
    r->max_msg = max_message_bytes ? max_message_bytes : DEFAULT_MAX_MESSAGE;
    uint64_t ml = (uint64_t)r->max_msg * 8 + 4096;
    r->max_len = ml > INT32_MAX ? INT32_MAX : (int64_t)ml;
    r->prefix_need = 4;
    return r;
}

void clove_ipc_reader_destroy(clove_ipc_reader_t *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->q_n; i++) rbatch_unref(r->queue[(r->q_head + i) % r->q_cap]);
    free(r->queue);
    for (int i = 0; i < r->ndicts; i++) rbatch_unref(r->dicts[i].batch);
    free(r->dicts);
    for (int i = 0; i < r->ncols; i++) {
        if (r->conv && r->conv[i]) duckdb_destroy_arrow_converted_schema(&r->conv[i]);
        if (r->cschemas && r->cschemas[i]) {
            cschema_release(r->cschemas[i]);
            free(r->cschemas[i]);
        }
        if (r->types && r->types[i]) duckdb_destroy_logical_type(&r->types[i]);
    }
    free(r->conv);
    free(r->cschemas);
    free(r->types);
    free(r->flatten);
    if (r->identity) duckdb_destroy_selection_vector(r->identity);
    if (r->fields)
        for (int i = 0; i < r->ncols; i++) rfield_dispose(&r->fields[i]);
    free(r->fields);
    free(r->meta);
    free(r->body);
    if (r->own_conn) duckdb_disconnect(&r->own_conn);
    if (r->own_db) duckdb_close(&r->own_db);
    free(r);
}

int clove_ipc_reader_feed(clove_ipc_reader_t *r, const uint8_t *data, size_t len,
                          clove_err_t *err)
{
    if (r->failed) {
        if (err) *err = r->saved;
        return r->failed;
    }
    while (len > 0) {
        size_t take;
        switch (r->phase) {
        case PH_DONE:
            return MALFORMED(r, err, "data after the end-of-stream marker");
        case PH_PREFIX:
            take = r->prefix_need - r->prefix_have;
            if (take > len) take = len;
            memcpy(r->prefix + r->prefix_have, data, take);
            r->prefix_have += take;
            data += take;
            len -= take;
            if (r->prefix_have < r->prefix_need) break;
            if (r->prefix_need == 4 && fb_rd32(r->prefix) == 0xFFFFFFFFu) {
                r->prefix_need = 8;        /* continuation marker: the length follows */
                break;
            }
            {
                uint32_t ml = fb_rd32(r->prefix + r->prefix_need - 4);
                r->prefix_have = 0;
                r->prefix_need = 4;
                if (ml == 0) {
                    r->eos = true;
                    r->phase = PH_DONE;
                    break;
                }
                if (ml > INT32_MAX || ml < 8)
                    return MALFORMED(r, err, "metadata length %u", ml);
                if (ml > r->max_msg)
                    return fail(r, err, CLOVE_ETOOBIG, "Arrow IPC message metadata of %u bytes "
                                "exceeds the limit of %zu bytes", ml, r->max_msg);
                r->meta = malloc(ml);
                if (!r->meta) return fail(r, err, CLOVE_ENOMEM, "out of memory reading Arrow IPC");
                r->meta_len = ml;
                r->meta_have = 0;
                r->phase = PH_META;
            }
            break;
        case PH_META:
            take = r->meta_len - r->meta_have;
            if (take > len) take = len;
            memcpy(r->meta + r->meta_have, data, take);
            r->meta_have += take;
            data += take;
            len -= take;
            if (r->meta_have < r->meta_len) break;
            {
                fb_table_t msg;
                int64_t blen;
                if (!fb_root(r->meta, r->meta_len, &msg) ||
                    !fb_get_i64(&msg, FB_MSG_BODY_LENGTH, 0, &blen) || blen < 0)
                    return MALFORMED(r, err, "the Message flatbuffer is invalid");
                if ((uint64_t)blen > r->max_msg - r->meta_len)
                    return fail(r, err, CLOVE_ETOOBIG, "Arrow IPC message of %lld bytes exceeds "
                                "the limit of %zu bytes", (long long)blen + (long long)r->meta_len,
                                r->max_msg);
                r->body_len = (size_t)blen;
                r->body_have = 0;
                r->body = blen ? malloc((size_t)blen) : NULL;
                if (blen && !r->body)
                    return fail(r, err, CLOVE_ENOMEM, "out of memory reading Arrow IPC");
                r->phase = PH_BODY;
            }
            if (r->body_len) break;
            /* fall through */
        case PH_BODY:
            take = r->body_len - r->body_have;
            if (take > len) take = len;
            if (take) memcpy(r->body + r->body_have, data, take);
            r->body_have += take;
            data += take;
            len -= take;
            if (r->body_have < r->body_len) break;
            {
                uint8_t *body = r->body;
                r->body = NULL;
                r->phase = PH_PREFIX;
                int rc = process(r, r->meta, r->meta_len, body, r->body_len, err);
                free(r->meta);
                r->meta = NULL;
                if (rc) return rc;
            }
            break;
        }
    }
    return 0;
}

int clove_ipc_reader_message(clove_ipc_reader_t *r, const uint8_t *header, size_t hlen,
                             const uint8_t *body, size_t blen, clove_err_t *err)
{
    if (r->failed) {
        if (err) *err = r->saved;
        return r->failed;
    }
    if (hlen > r->max_msg || blen > r->max_msg - hlen)
        return fail(r, err, CLOVE_ETOOBIG, "Arrow IPC message of %zu bytes exceeds the limit of "
                    "%zu bytes", hlen + blen, r->max_msg);
    uint8_t *copy = NULL;
    if (blen) {
        copy = malloc(blen);
        if (!copy) return fail(r, err, CLOVE_ENOMEM, "out of memory reading Arrow IPC");
        memcpy(copy, body, blen);
    }
    return process(r, header, hlen, copy, blen, err);
}

bool clove_ipc_reader_has_schema(const clove_ipc_reader_t *r) { return r->has_schema; }

bool clove_ipc_reader_eos(const clove_ipc_reader_t *r) { return r->eos; }

idx_t clove_ipc_reader_column_count(const clove_ipc_reader_t *r)
{
    return r->has_schema ? (idx_t)r->ncols : 0;
}

const char *clove_ipc_reader_column_name(const clove_ipc_reader_t *r, idx_t col)
{
    return r->has_schema && col < (idx_t)r->ncols ? r->fields[col].name : NULL;
}

duckdb_logical_type clove_ipc_reader_column_type(const clove_ipc_reader_t *r, idx_t col)
{
    return r->has_schema && col < (idx_t)r->ncols ? r->types[col] : NULL;
}

int clove_ipc_reader_next_chunk(clove_ipc_reader_t *r, duckdb_data_chunk *chunk,
                                clove_err_t *err)
{
    *chunk = NULL;
    if (r->failed) {
        if (err) *err = r->saved;
        return r->failed;
    }
    for (;;) {
        if (r->q_n == 0) return 0;
        rbatch_t *b = r->queue[r->q_head];
        if (r->row >= b->length || r->ncols == 0) {
            r->q_head = (r->q_head + 1) % r->q_cap;
            r->q_n--;
            r->row = 0;
            rbatch_unref(b);
            continue;
        }
        int64_t n = b->length - r->row;
        if (n > CHUNK_ROWS) n = CHUNK_ROWS;
        duckdb_data_chunk out = duckdb_create_data_chunk(r->types, (idx_t)r->ncols);
        for (int c = 0; c < r->ncols; c++) {
            rslice_t *s = slice_new(NULL, n, b);
            if (!s) {
                duckdb_destroy_data_chunk(&out);
                return fail(r, err, CLOVE_ENOMEM, "out of memory converting Arrow data");
            }
            s->slice = *b->cols[c];
            s->slice.offset = r->row;
            s->slice.length = n;
            /* DuckDB trusts null_count (> 0 means "look at the bitmap"): make it exact */
            const struct ArrowArray *col = b->cols[c];
            bool is_union = r->fields[c].t.id == FB_T_UNION && !r->fields[c].dict;
            if (col->n_buffers == 0)
                s->slice.null_count = n;                     /* the null type */
            else if (col->null_count > 0 && col->buffers[0] && !is_union)
                s->slice.null_count = n - count_valid(col->buffers[0], r->row, n);
            else
                s->slice.null_count = 0;
            s->child = &s->slice;
            duckdb_data_chunk one = to_duckdb(r, c, s, err);
            if (!one) {
                duckdb_destroy_data_chunk(&out);
                return r->failed;
            }
            duckdb_vector dst = duckdb_data_chunk_get_vector(out, (idx_t)c);
            duckdb_vector src = duckdb_data_chunk_get_vector(one, 0);
            if (r->flatten[c]) duckdb_vector_copy_sel(src, dst, r->identity, (idx_t)n, 0, 0);
            else duckdb_vector_reference_vector(dst, src);
            duckdb_destroy_data_chunk(&one);
        }
        duckdb_data_chunk_set_size(out, (idx_t)n);
        r->row += n;
        *chunk = out;
        return 1;
    }
}
