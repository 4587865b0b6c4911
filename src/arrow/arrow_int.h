/*
 * arrow_int.h: what the files of src/arrow share: a minimal flatbuffer builder (back to front,
 * like the reference implementation, so every offset points forward) and a bounds-checked
 * flatbuffer reader, plus the field ids of the Arrow schema (format/Schema.fbs,
 * format/Message.fbs) this module uses.
 */
#ifndef CLOVE_ARROW_INT_H
#define CLOVE_ARROW_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Arrow flatbuffer schema constants --------------------------------------------------- */

enum { FB_MSG_VERSION = 0, FB_MSG_HEADER_TYPE = 1, FB_MSG_HEADER = 2, FB_MSG_BODY_LENGTH = 3,
       FB_MSG_CUSTOM_METADATA = 4 };
enum { FB_HDR_NONE = 0, FB_HDR_SCHEMA = 1, FB_HDR_DICTIONARY_BATCH = 2, FB_HDR_RECORD_BATCH = 3,
       FB_HDR_TENSOR = 4, FB_HDR_SPARSE_TENSOR = 5 };
enum { FB_METADATA_V4 = 3, FB_METADATA_V5 = 4 };
enum { FB_SCHEMA_ENDIANNESS = 0, FB_SCHEMA_FIELDS = 1, FB_SCHEMA_CUSTOM_METADATA = 2,
       FB_SCHEMA_FEATURES = 3 };
enum { FB_FIELD_NAME = 0, FB_FIELD_NULLABLE = 1, FB_FIELD_TYPE_TYPE = 2, FB_FIELD_TYPE = 3,
       FB_FIELD_DICTIONARY = 4, FB_FIELD_CHILDREN = 5, FB_FIELD_CUSTOM_METADATA = 6 };
enum { FB_KV_KEY = 0, FB_KV_VALUE = 1 };
enum { FB_DICTENC_ID = 0, FB_DICTENC_INDEX_TYPE = 1, FB_DICTENC_IS_ORDERED = 2 };
enum { FB_RB_LENGTH = 0, FB_RB_NODES = 1, FB_RB_BUFFERS = 2, FB_RB_COMPRESSION = 3,
       FB_RB_VARIADIC_COUNTS = 4 };
enum { FB_DB_ID = 0, FB_DB_DATA = 1, FB_DB_IS_DELTA = 2 };

/* union Type */
enum {
    FB_T_NONE = 0, FB_T_NULL, FB_T_INT, FB_T_FLOAT, FB_T_BINARY, FB_T_UTF8, FB_T_BOOL,
    FB_T_DECIMAL, FB_T_DATE, FB_T_TIME, FB_T_TIMESTAMP, FB_T_INTERVAL, FB_T_LIST, FB_T_STRUCT,
    FB_T_UNION, FB_T_FIXED_SIZE_BINARY, FB_T_FIXED_SIZE_LIST, FB_T_MAP, FB_T_DURATION,
    FB_T_LARGE_BINARY, FB_T_LARGE_UTF8, FB_T_LARGE_LIST, FB_T_RUN_END_ENCODED,
    FB_T_BINARY_VIEW, FB_T_UTF8_VIEW, FB_T_LIST_VIEW, FB_T_LARGE_LIST_VIEW,
    FB_T_COUNT_
};

/* ---- builder ------------------------------------------------------------------------------ */

#define FB_MAX_FIELDS 16

/* Objects are referred to by their distance from the end of the buffer (fb_ref_t), which
 * stays valid while the buffer grows toward the front. */
typedef uint32_t fb_ref_t;

typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t used;               /* bytes in use, at buf + cap - used */
    bool failed;               /* out of memory or over 2 GiB: the result is unusable */
    int nfields;               /* current table: 1 + highest field id, or -1 outside */
    size_t table_start;
    size_t field_at[FB_MAX_FIELDS];
} fb_builder_t;

void fb_builder_init(fb_builder_t *b);
void fb_builder_reset(fb_builder_t *b);
void fb_builder_dispose(fb_builder_t *b);

fb_ref_t fb_create_string(fb_builder_t *b, const char *s, size_t n);
/* A vector of n elements of elem_size bytes (scalars or structs, little-endian already). */
fb_ref_t fb_create_vector(fb_builder_t *b, const void *data, size_t n, size_t elem_size,
                          size_t align);
/* A vector of references to tables or strings. */
fb_ref_t fb_create_ref_vector(fb_builder_t *b, const fb_ref_t *refs, size_t n);

void fb_table_start(fb_builder_t *b);
void fb_add_u8(fb_builder_t *b, int field, uint8_t v);
void fb_add_i16(fb_builder_t *b, int field, int16_t v);
void fb_add_i32(fb_builder_t *b, int field, int32_t v);
void fb_add_i64(fb_builder_t *b, int field, int64_t v);
void fb_add_ref(fb_builder_t *b, int field, fb_ref_t ref);
fb_ref_t fb_table_end(fb_builder_t *b);

/* Finishes with root as the root table; *out points into the builder (valid until the next
 * reset). Returns false when the builder failed. The size is a multiple of 8. */
bool fb_finish(fb_builder_t *b, fb_ref_t root, const uint8_t **out, size_t *out_len);

/* ---- reader ------------------------------------------------------------------------------- */

/* A table inside a verified buffer region. Every accessor checks bounds against len. */
typedef struct {
    const uint8_t *buf;
    size_t len;
    size_t pos;                /* table start */
    size_t vt;                 /* vtable start */
    uint16_t vt_len;
    uint16_t tbl_len;
} fb_table_t;

typedef struct {
    const uint8_t *buf;
    size_t len;
    size_t start;              /* first element */
    uint32_t n;
} fb_vec_t;

/* Each returns false for a malformed buffer (an absent optional field is not malformed). */
bool fb_root(const uint8_t *buf, size_t len, fb_table_t *out);
bool fb_has(const fb_table_t *t, int field);
bool fb_get_u8(const fb_table_t *t, int field, uint8_t def, uint8_t *out);
bool fb_get_i16(const fb_table_t *t, int field, int16_t def, int16_t *out);
bool fb_get_i32(const fb_table_t *t, int field, int32_t def, int32_t *out);
bool fb_get_i64(const fb_table_t *t, int field, int64_t def, int64_t *out);
/* *present is false (and out untouched) when the field is absent. */
bool fb_get_table(const fb_table_t *t, int field, fb_table_t *out, bool *present);
bool fb_get_vector(const fb_table_t *t, int field, size_t elem_size, fb_vec_t *out,
                   bool *present);
bool fb_get_string(const fb_table_t *t, int field, const char **s, size_t *n, bool *present);
bool fb_vec_table(const fb_vec_t *v, uint32_t i, fb_table_t *out);
int64_t fb_vec_i64(const fb_vec_t *v, uint32_t i, uint32_t elem_size, uint32_t word);
int32_t fb_vec_i32(const fb_vec_t *v, uint32_t i);

/* Little-endian loads and stores that need no alignment. */
static inline uint16_t fb_rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t fb_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t fb_rd64(const uint8_t *p)
{
    return (uint64_t)fb_rd32(p) | ((uint64_t)fb_rd32(p + 4) << 32);
}
static inline void fb_wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline void fb_wr64(uint8_t *p, uint64_t v)
{
    fb_wr32(p, (uint32_t)v);
    fb_wr32(p + 4, (uint32_t)(v >> 32));
}

/* ---- Arrow types --------------------------------------------------------------------------- */

enum { ARROW_UNIT_SECOND = 0, ARROW_UNIT_MILLI, ARROW_UNIT_MICRO, ARROW_UNIT_NANO };
enum { ARROW_DATE_DAY = 0, ARROW_DATE_MILLI };
enum { ARROW_IV_YEAR_MONTH = 0, ARROW_IV_DAY_TIME, ARROW_IV_MONTH_DAY_NANO };
enum { ARROW_FP_HALF = 0, ARROW_FP_SINGLE, ARROW_FP_DOUBLE };
enum { ARROW_UNION_SPARSE = 0, ARROW_UNION_DENSE };

#define ARROW_MAX_UNION_CHILDREN 128
#define ARROW_MAX_TZ 128

/* One Arrow type without its children: what a C Data format string or a flatbuffer Field's
 * Type union says. */
typedef struct {
    uint8_t id;                /* FB_T_* */
    uint8_t unit;              /* time/date/interval unit, float precision, union mode */
    bool is_signed;            /* Int */
    bool keys_sorted;          /* Map */
    int32_t bits;              /* Int, Time and Decimal bit width */
    int32_t precision, scale;  /* Decimal */
    int32_t size;              /* FixedSizeBinary byte width, FixedSizeList list size */
    char tz[ARROW_MAX_TZ];     /* Timestamp time zone, "" when none */
    int16_t n_type_ids;        /* Union: -1 when the type ids are the child positions */
    int8_t type_ids[ARROW_MAX_UNION_CHILDREN];
} arrow_type_t;

/* Parses a C Data Interface format string; false for one this module does not handle. */
bool arrow_fmt_parse(const char *fmt, arrow_type_t *t);
/* Writes the format string of t (children are not part of it). False if it does not fit. */
bool arrow_fmt_render(const arrow_type_t *t, char *out, size_t cap);
/* Bytes per value of a fixed-width type (0 for bool, variable-size and nested types). */
int arrow_type_width(const arrow_type_t *t);
/* Buffers the IPC format stores for one node of this type, variadic buffers excluded. */
int arrow_type_ipc_buffers(const arrow_type_t *t);
/* Human name for messages ("utf8", "list", ...). */
const char *arrow_type_name(int id);

#endif
