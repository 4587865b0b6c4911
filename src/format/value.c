/*
 * value.c: one DuckDB value to JSON or plain text, read straight from the vector memory
 * (fixed-width arrays, duckdb_string_t, list entries, struct/array/union children) with no
 * duckdb_value in between. A clove_fmt_node_t is made once per result column from its logical
 * type so the per-value path is a switch over data it already holds. Also the Arrow type names
 * that the Spice v1 JSON envelope reports in its schema.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/format_int.h"

/* ---- plans ----------------------------------------------------------------------------- */

/* `"name":` escaped, or `"name"` when colon is false. NULL on out of memory. */
static char *escape_key(const char *name, bool colon, size_t *len)
{
    clove_buf_t b;
    clove_buf_init(&b);
    clove_buf_json_string(&b, name, strlen(name));
    if (colon) clove_buf_putc(&b, ':');
    if (b.failed) {
        clove_buf_dispose(&b);
        return NULL;
    }
    *len = b.len;
    return clove_buf_steal(&b);
}

static int node_children(clove_fmt_node_t *node, idx_t n)
{
    node->nchildren = n;
    if (n == 0) return 0;
    node->children = calloc(n, sizeof *node->children);
    return node->children ? 0 : CLOVE_ENOMEM;
}

static int node_child(clove_fmt_node_t *node, idx_t i, duckdb_logical_type t)
{
    if (!t) return CLOVE_ENOMEM;
    int rc = clove_fmt_node_init(&node->children[i], t);
    duckdb_destroy_logical_type(&t);
    return rc;
}

static int node_named_children(clove_fmt_node_t *node, duckdb_logical_type type, bool is_union)
{
    idx_t n = is_union ? duckdb_union_type_member_count(type)
                       : duckdb_struct_type_child_count(type);
    if (node_children(node, n) != 0) return CLOVE_ENOMEM;
    if (n == 0) return 0;
    node->keys = calloc(n, sizeof *node->keys);
    node->key_lens = calloc(n, sizeof *node->key_lens);
    node->names = calloc(n, sizeof *node->names);
    if (!node->keys || !node->key_lens || !node->names) return CLOVE_ENOMEM;
    for (idx_t i = 0; i < n; i++) {
        char *name = is_union ? duckdb_union_type_member_name(type, i)
                              : duckdb_struct_type_child_name(type, i);
        if (!name) return CLOVE_ENOMEM;
        node->names[i] = strdup(name);
        node->keys[i] = escape_key(name, true, &node->key_lens[i]);
        duckdb_free(name);
        if (!node->names[i] || !node->keys[i]) return CLOVE_ENOMEM;
        duckdb_logical_type ct = is_union ? duckdb_union_type_member_type(type, i)
                                          : duckdb_struct_type_child_type(type, i);
        if (node_child(node, i, ct) != 0) return CLOVE_ENOMEM;
    }
    return 0;
}

static int node_enum(clove_fmt_node_t *node, duckdb_logical_type type)
{
    node->storage = duckdb_enum_internal_type(type);
    idx_t n = duckdb_enum_dictionary_size(type);
    node->dict_size = n;
    if (n == 0) return 0;
    node->dict = calloc(n, sizeof *node->dict);
    node->dict_lens = calloc(n, sizeof *node->dict_lens);
    node->dict_raw = calloc(n, sizeof *node->dict_raw);
    node->dict_raw_lens = calloc(n, sizeof *node->dict_raw_lens);
    if (!node->dict || !node->dict_lens || !node->dict_raw || !node->dict_raw_lens)
        return CLOVE_ENOMEM;
    for (idx_t i = 0; i < n; i++) {
        char *v = duckdb_enum_dictionary_value(type, i);
        if (!v) return CLOVE_ENOMEM;
        node->dict_raw[i] = strdup(v);
        node->dict_raw_lens[i] = strlen(v);
        node->dict[i] = escape_key(v, false, &node->dict_lens[i]);
        duckdb_free(v);
        if (!node->dict_raw[i] || !node->dict[i]) return CLOVE_ENOMEM;
    }
    return 0;
}

int clove_fmt_node_init(clove_fmt_node_t *node, duckdb_logical_type type)
{
    memset(node, 0, sizeof *node);
    node->id = duckdb_get_type_id(type);
    int rc = 0;
    switch (node->id) {
    case DUCKDB_TYPE_DECIMAL:
        node->width = duckdb_decimal_width(type);
        node->scale = duckdb_decimal_scale(type);
        node->storage = duckdb_decimal_internal_type(type);
        break;
    case DUCKDB_TYPE_ENUM:
        rc = node_enum(node, type);
        break;
    case DUCKDB_TYPE_LIST:
        rc = node_children(node, 1);
        if (rc == 0) rc = node_child(node, 0, duckdb_list_type_child_type(type));
        break;
    case DUCKDB_TYPE_ARRAY:
        node->array_size = duckdb_array_type_array_size(type);
        rc = node_children(node, 1);
        if (rc == 0) rc = node_child(node, 0, duckdb_array_type_child_type(type));
        break;
    case DUCKDB_TYPE_MAP:
        rc = node_children(node, 2);
        if (rc == 0) rc = node_child(node, 0, duckdb_map_type_key_type(type));
        if (rc == 0) rc = node_child(node, 1, duckdb_map_type_value_type(type));
        if (rc == 0) node->map_string_keys = node->children[0].id == DUCKDB_TYPE_VARCHAR;
        break;
    case DUCKDB_TYPE_STRUCT:
        rc = node_named_children(node, type, false);
        break;
    case DUCKDB_TYPE_UNION:
        rc = node_named_children(node, type, true);
        break;
    default:
        break;
    }
    if (rc != 0) clove_fmt_node_dispose(node);
    return rc;
}

static void free_strings(char **v, idx_t n)
{
    if (!v) return;
    for (idx_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

void clove_fmt_node_dispose(clove_fmt_node_t *node)
{
    if (node->children) {
        for (idx_t i = 0; i < node->nchildren; i++) clove_fmt_node_dispose(&node->children[i]);
        free(node->children);
    }
    free_strings(node->keys, node->nchildren);
    free_strings(node->names, node->nchildren);
    free(node->key_lens);
    free_strings(node->dict, node->dict_size);
    free_strings(node->dict_raw, node->dict_size);
    free(node->dict_lens);
    free(node->dict_raw_lens);
    memset(node, 0, sizeof *node);
}

/* ---- scalar pieces --------------------------------------------------------------------- */

static inline void put(clove_buf_t *out, const char *s, size_t n)
{
    char *p = clove_fmt_room(out, n);
    if (!p) return;
    memcpy(p, s, n);
    out->len += n;
}

static inline void string_at(const void *data, idx_t row, const char **s, uint32_t *n)
{
    const duckdb_string_t *v = (const duckdb_string_t *)data + row;
    *n = v->value.inlined.length;
    *s = *n <= 12 ? v->value.inlined.inlined : v->value.pointer.ptr;
}

static void put_hex(clove_buf_t *out, const char *s, uint32_t n, bool quoted)
{
    static const char hex[] = "0123456789abcdef";
    char *p = clove_fmt_room(out, (size_t)n * 2 + 2);
    if (!p) return;
    char *o = p;
    if (quoted) *o++ = '"';
    for (uint32_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        *o++ = hex[c >> 4];
        *o++ = hex[c & 15];
    }
    if (quoted) *o++ = '"';
    out->len += (size_t)(o - p);
}

/* BIT: the first byte counts the padding bits at the top of the second byte. */
static void put_bits(clove_buf_t *out, const char *s, uint32_t n, bool quoted)
{
    if (n == 0) {
        if (quoted) put(out, "\"\"", 2);
        return;
    }
    unsigned pad = (unsigned char)s[0];
    size_t nbits = (size_t)(n - 1) * 8;
    nbits = pad <= nbits ? nbits - pad : 0;
    char *p = clove_fmt_room(out, nbits + 2);
    if (!p) return;
    char *o = p;
    if (quoted) *o++ = '"';
    for (size_t i = 0; i < nbits; i++) {
        size_t bit = i + pad;
        *o++ = (char)('0' + (((unsigned char)s[1 + bit / 8] >> (7 - bit % 8)) & 1));
    }
    if (quoted) *o++ = '"';
    out->len += (size_t)(o - p);
}

/* BIGNUM: a 3-byte header (top bit set for >= 0, byte count below) then the big-endian
 * magnitude; a negative number stores every byte of header and magnitude inverted. */
static void put_bignum(clove_buf_t *out, const char *s, uint32_t n)
{
    bool negative = n >= 3 && !((unsigned char)s[0] & 0x80);
    uint32_t nb = n >= 3 ? n - 3 : 0;
    const unsigned char *mag = (const unsigned char *)s + 3;
    /* Base 10^9 limbs, least significant first; the magnitude is folded in 32 bits at a
     * time (limb * 2^32 + carry stays below 2^62). */
    size_t cap = (size_t)nb * 8 / 29 + 2;
    uint32_t *limbs = malloc(cap * sizeof *limbs);
    if (!limbs) {
        out->failed = true;
        return;
    }
    size_t used = 0;
    uint32_t i = 0;
    while (i < nb) {
        uint32_t take = (nb - i) % 4 ? (nb - i) % 4 : 4;
        uint64_t word = 0;
        for (uint32_t k = 0; k < take; k++) {
            unsigned char byte = mag[i + k];
            word = word << 8 | (unsigned char)(negative ? ~byte : byte);
        }
        i += take;
        uint64_t carry = word;
        for (size_t j = 0; j < used; j++) {
            uint64_t v = ((uint64_t)limbs[j] << (8 * take)) + carry;
            limbs[j] = (uint32_t)(v % 1000000000);
            carry = v / 1000000000;
        }
        while (carry && used < cap) {
            limbs[used++] = (uint32_t)(carry % 1000000000);
            carry /= 1000000000;
        }
    }
    while (used > 0 && limbs[used - 1] == 0) used--;
    char *p = clove_fmt_room(out, used * 9 + 2);
    if (p) {
        size_t k = 0;
        if (used == 0) {
            p[k++] = '0';
        } else {
            if (negative) p[k++] = '-';
            k += clove_fmt_u64(p + k, limbs[used - 1]);
            for (size_t j = used - 1; j-- > 0;) {
                uint32_t v = limbs[j];
                for (int d = 8; d >= 0; d--) {
                    p[k + (size_t)d] = (char)('0' + v % 10);
                    v /= 10;
                }
                k += 9;
            }
        }
        out->len += k;
    }
    free(limbs);
}

static size_t decimal_text(char *p, const clove_fmt_node_t *node, const void *data, idx_t row)
{
    int64_t v;
    switch (node->storage) {
    case DUCKDB_TYPE_SMALLINT: v = ((const int16_t *)data)[row]; break;
    case DUCKDB_TYPE_INTEGER: v = ((const int32_t *)data)[row]; break;
    case DUCKDB_TYPE_BIGINT: v = ((const int64_t *)data)[row]; break;
    case DUCKDB_TYPE_HUGEINT: {
        const duckdb_hugeint *h = (const duckdb_hugeint *)data + row;
        uint64_t hi = (uint64_t)h->upper, lo = h->lower;
        bool neg = h->upper < 0;
        if (neg) { /* two's complement negate */
            lo = ~lo + 1;
            hi = ~hi + (lo == 0);
        }
        return clove_fmt_decimal(p, neg, hi, lo, node->scale);
    }
    default: v = 0; break;
    }
    return clove_fmt_decimal(p, v < 0, 0, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, node->scale);
}

static uint64_t enum_index(const clove_fmt_node_t *node, const void *data, idx_t row)
{
    switch (node->storage) {
    case DUCKDB_TYPE_UTINYINT: return ((const uint8_t *)data)[row];
    case DUCKDB_TYPE_USMALLINT: return ((const uint16_t *)data)[row];
    case DUCKDB_TYPE_UINTEGER: return ((const uint32_t *)data)[row];
    default: return UINT64_MAX;
    }
}

/*
 * Writes the text of a scalar (no quotes, no escaping) into p, which has CLOVE_FMT_NUM_MAX
 * bytes. *kind: 'n' a JSON number, 's' a JSON string of plain ASCII, 'z' JSON null (non-finite
 * floats; the text is what CSV and text/plain show). Returns -1 when the type is not a
 * fixed-size scalar.
 */
/* TIME values outside a day can arrive from foreign Arrow data: saturate instead of
 * overflowing the conversion to nanoseconds. */
static int64_t us_to_ns(int64_t us)
{
    if (us > INT64_MAX / 1000) return INT64_MAX;
    if (us < INT64_MIN / 1000) return INT64_MIN + 1;
    return us * 1000;
}

static long scalar_text(char *p, const clove_fmt_node_t *node, const void *data, idx_t row,
                        char *kind)
{
    *kind = 'n';
    switch (node->id) {
    case DUCKDB_TYPE_BOOLEAN:
        if (((const bool *)data)[row]) {
            memcpy(p, "true", 4);
            return 4;
        }
        memcpy(p, "false", 5);
        return 5;
    case DUCKDB_TYPE_TINYINT: return (long)clove_fmt_i64(p, ((const int8_t *)data)[row]);
    case DUCKDB_TYPE_SMALLINT: return (long)clove_fmt_i64(p, ((const int16_t *)data)[row]);
    case DUCKDB_TYPE_INTEGER: return (long)clove_fmt_i64(p, ((const int32_t *)data)[row]);
    case DUCKDB_TYPE_BIGINT: return (long)clove_fmt_i64(p, ((const int64_t *)data)[row]);
    case DUCKDB_TYPE_UTINYINT: return (long)clove_fmt_u64(p, ((const uint8_t *)data)[row]);
    case DUCKDB_TYPE_USMALLINT: return (long)clove_fmt_u64(p, ((const uint16_t *)data)[row]);
    case DUCKDB_TYPE_UINTEGER: return (long)clove_fmt_u64(p, ((const uint32_t *)data)[row]);
    case DUCKDB_TYPE_UBIGINT: return (long)clove_fmt_u64(p, ((const uint64_t *)data)[row]);
    case DUCKDB_TYPE_HUGEINT: {
        const duckdb_hugeint *h = (const duckdb_hugeint *)data + row;
        return (long)clove_fmt_i128(p, h->upper, h->lower);
    }
    case DUCKDB_TYPE_UHUGEINT: {
        const duckdb_uhugeint *h = (const duckdb_uhugeint *)data + row;
        return (long)clove_fmt_u128(p, h->upper, h->lower);
    }
    case DUCKDB_TYPE_DECIMAL: return (long)decimal_text(p, node, data, row);
    case DUCKDB_TYPE_FLOAT:
    case DUCKDB_TYPE_DOUBLE: {
        double v = node->id == DUCKDB_TYPE_FLOAT ? ((const float *)data)[row]
                                                 : ((const double *)data)[row];
        if (isnan(v)) {
            *kind = 'z';
            memcpy(p, "NaN", 3);
            return 3;
        }
        if (isinf(v)) {
            *kind = 'z';
            if (v < 0) {
                memcpy(p, "-inf", 4);
                return 4;
            }
            memcpy(p, "inf", 3);
            return 3;
        }
        if (node->id == DUCKDB_TYPE_FLOAT)
            return (long)clove_fmt_float(p, ((const float *)data)[row]);
        return (long)clove_fmt_double(p, v);
    }
    default: break;
    }
    *kind = 's';
    switch (node->id) {
    case DUCKDB_TYPE_DATE: {
        int32_t d = ((const int32_t *)data)[row];
        if (d == INT32_MAX) {
            memcpy(p, "infinity", 8);
            return 8;
        }
        if (d == -INT32_MAX) {
            memcpy(p, "-infinity", 9);
            return 9;
        }
        return (long)clove_fmt_date(p, d);
    }
    case DUCKDB_TYPE_TIME:
        return (long)clove_fmt_time_ns(p, us_to_ns(((const int64_t *)data)[row]));
    case DUCKDB_TYPE_TIME_NS: return (long)clove_fmt_time_ns(p, ((const int64_t *)data)[row]);
    case DUCKDB_TYPE_TIME_TZ: {
        /* 40 bits of microseconds, then 24 bits holding (16h - 1s) - offset in seconds. */
        uint64_t bits = ((const uint64_t *)data)[row];
        int64_t micros = (int64_t)(bits >> 24);
        int32_t offset = 57599 - (int32_t)(bits & 0xFFFFFF);
        size_t n = clove_fmt_time_ns(p, us_to_ns(micros));
        return (long)(n + clove_fmt_utc_offset(p + n, offset));
    }
    case DUCKDB_TYPE_TIMESTAMP:
        return (long)clove_fmt_timestamp(p, ((const int64_t *)data)[row], 1000);
    case DUCKDB_TYPE_TIMESTAMP_S:
        return (long)clove_fmt_timestamp(p, ((const int64_t *)data)[row], 1000000000);
    case DUCKDB_TYPE_TIMESTAMP_MS:
        return (long)clove_fmt_timestamp(p, ((const int64_t *)data)[row], 1000000);
    case DUCKDB_TYPE_TIMESTAMP_NS:
        return (long)clove_fmt_timestamp(p, ((const int64_t *)data)[row], 1);
    case DUCKDB_TYPE_TIMESTAMP_TZ: {
        int64_t v = ((const int64_t *)data)[row];
        size_t n = clove_fmt_timestamp(p, v, 1000);
        if (v != INT64_MAX && v != -INT64_MAX) p[n++] = 'Z';
        return (long)n;
    }
    case DUCKDB_TYPE_INTERVAL: {
        const duckdb_interval *iv = (const duckdb_interval *)data + row;
        return (long)clove_fmt_interval(p, iv->months, iv->days, iv->micros);
    }
    case DUCKDB_TYPE_UUID: {
        const duckdb_hugeint *h = (const duckdb_hugeint *)data + row;
        return (long)clove_fmt_uuid(p, (uint64_t)h->upper, h->lower);
    }
    default: return -1;
    }
}

/* ---- JSON ------------------------------------------------------------------------------ */

static void json_child(clove_buf_t *out, const clove_fmt_node_t *node, duckdb_vector vec,
                       const void *data, const uint64_t *validity, idx_t row)
{
    if (clove_fmt_valid(validity, row))
        clove_fmt_node_json(out, node, vec, data, row);
    else
        put(out, "null", 4);
}

static void json_list(clove_buf_t *out, const clove_fmt_node_t *node, duckdb_vector child,
                      idx_t start, idx_t count)
{
    const void *cdata = duckdb_vector_get_data(child);
    const uint64_t *cval = duckdb_vector_get_validity(child);
    put(out, "[", 1);
    for (idx_t i = 0; i < count; i++) {
        if (i) put(out, ",", 1);
        json_child(out, node, child, cdata, cval, start + i);
    }
    put(out, "]", 1);
}

static void json_map(clove_buf_t *out, const clove_fmt_node_t *node, duckdb_vector vec,
                     const void *data, idx_t row)
{
    const duckdb_list_entry *e = (const duckdb_list_entry *)data + row;
    duckdb_vector entries = duckdb_list_vector_get_child(vec);
    duckdb_vector kv = duckdb_struct_vector_get_child(entries, 0);
    duckdb_vector vv = duckdb_struct_vector_get_child(entries, 1);
    const void *kdata = duckdb_vector_get_data(kv), *vdata = duckdb_vector_get_data(vv);
    const uint64_t *kval = duckdb_vector_get_validity(kv);
    const uint64_t *vval = duckdb_vector_get_validity(vv);
    bool object = node->map_string_keys;
    put(out, object ? "{" : "[", 1);
    for (idx_t i = 0; i < e->length; i++) {
        idx_t r = e->offset + i;
        if (i) put(out, ",", 1);
        if (object) {
            /* DuckDB refuses NULL map keys; should one appear, keep the object valid. */
            if (clove_fmt_valid(kval, r))
                clove_fmt_node_json(out, &node->children[0], kv, kdata, r);
            else
                put(out, "\"\"", 2);
            put(out, ":", 1);
        } else {
            put(out, "{\"key\":", 7);
            json_child(out, &node->children[0], kv, kdata, kval, r);
            put(out, ",\"value\":", 9);
        }
        json_child(out, &node->children[1], vv, vdata, vval, r);
        if (!object) put(out, "}", 1);
    }
    put(out, object ? "}" : "]", 1);
}

static void json_struct(clove_buf_t *out, const clove_fmt_node_t *node, duckdb_vector vec,
                        idx_t row)
{
    put(out, "{", 1);
    for (idx_t i = 0; i < node->nchildren; i++) {
        if (i) put(out, ",", 1);
        put(out, node->keys[i], node->key_lens[i]);
        duckdb_vector cv = duckdb_struct_vector_get_child(vec, i);
        json_child(out, &node->children[i], cv, duckdb_vector_get_data(cv),
                   duckdb_vector_get_validity(cv), row);
    }
    put(out, "}", 1);
}

/* UNION is a STRUCT whose first child holds the tag of the member in use. */
static bool union_member(const clove_fmt_node_t *node, duckdb_vector vec, idx_t row,
                         idx_t *member, duckdb_vector *mv)
{
    duckdb_vector tags = duckdb_struct_vector_get_child(vec, 0);
    idx_t tag = ((const uint8_t *)duckdb_vector_get_data(tags))[row];
    if (tag >= node->nchildren) return false;
    *member = tag;
    *mv = duckdb_struct_vector_get_child(vec, tag + 1);
    return true;
}

void clove_fmt_node_json(clove_buf_t *out, const clove_fmt_node_t *node, duckdb_vector vec,
                         const void *data, idx_t row)
{
    char *p = clove_fmt_room(out, CLOVE_FMT_NUM_MAX + 2);
    if (!p) return;
    char kind;
    long n = scalar_text(p + 1, node, data, row, &kind);
    if (n >= 0) {
        if (kind == 'n') {
            memmove(p, p + 1, (size_t)n);
            out->len += (size_t)n;
        } else if (kind == 's') {
            p[0] = '"';
            p[n + 1] = '"';
            out->len += (size_t)n + 2;
        } else {
            memcpy(p, "null", 4);
            out->len += 4;
        }
        return;
    }
    switch (node->id) {
    case DUCKDB_TYPE_VARCHAR: {
        const char *s;
        uint32_t len;
        string_at(data, row, &s, &len);
        clove_buf_json_string(out, s, len);
        return;
    }
    case DUCKDB_TYPE_BLOB: {
        const char *s;
        uint32_t len;
        string_at(data, row, &s, &len);
        put_hex(out, s, len, true);
        return;
    }
    case DUCKDB_TYPE_BIT: {
        const char *s;
        uint32_t len;
        string_at(data, row, &s, &len);
        put_bits(out, s, len, true);
        return;
    }
    case DUCKDB_TYPE_BIGNUM: {
        const char *s;
        uint32_t len;
        string_at(data, row, &s, &len);
        put_bignum(out, s, len);
        return;
    }
    case DUCKDB_TYPE_ENUM: {
        uint64_t i = enum_index(node, data, row);
        if (i < node->dict_size)
            put(out, node->dict[i], node->dict_lens[i]);
        else
            put(out, "null", 4);
        return;
    }
    case DUCKDB_TYPE_LIST: {
        const duckdb_list_entry *e = (const duckdb_list_entry *)data + row;
        json_list(out, &node->children[0], duckdb_list_vector_get_child(vec), e->offset,
                  e->length);
        return;
    }
    case DUCKDB_TYPE_ARRAY:
        json_list(out, &node->children[0], duckdb_array_vector_get_child(vec),
                  row * node->array_size, node->array_size);
        return;
    case DUCKDB_TYPE_MAP: json_map(out, node, vec, data, row); return;
    case DUCKDB_TYPE_STRUCT: json_struct(out, node, vec, row); return;
    case DUCKDB_TYPE_UNION: {
        idx_t m;
        duckdb_vector mv;
        if (!union_member(node, vec, row, &m, &mv)) {
            put(out, "null", 4);
            return;
        }
        json_child(out, &node->children[m], mv, duckdb_vector_get_data(mv),
                   duckdb_vector_get_validity(mv), row);
        return;
    }
    default: put(out, "null", 4); return;
    }
}

/* ---- plain text ------------------------------------------------------------------------ */

void clove_fmt_node_text(clove_buf_t *out, const clove_fmt_node_t *node, duckdb_vector vec,
                         const void *data, idx_t row)
{
    char *p = clove_fmt_room(out, CLOVE_FMT_NUM_MAX);
    if (!p) return;
    char kind;
    long n = scalar_text(p, node, data, row, &kind);
    if (n >= 0) {
        out->len += (size_t)n;
        return;
    }
    const char *s;
    uint32_t len;
    switch (node->id) {
    case DUCKDB_TYPE_VARCHAR:
        string_at(data, row, &s, &len);
        put(out, s, len);
        return;
    case DUCKDB_TYPE_BLOB:
        string_at(data, row, &s, &len);
        put_hex(out, s, len, false);
        return;
    case DUCKDB_TYPE_BIT:
        string_at(data, row, &s, &len);
        put_bits(out, s, len, false);
        return;
    case DUCKDB_TYPE_BIGNUM:
        string_at(data, row, &s, &len);
        put_bignum(out, s, len);
        return;
    case DUCKDB_TYPE_ENUM: {
        uint64_t i = enum_index(node, data, row);
        if (i < node->dict_size) put(out, node->dict_raw[i], node->dict_raw_lens[i]);
        return;
    }
    case DUCKDB_TYPE_UNION: {
        idx_t m;
        duckdb_vector mv;
        if (!union_member(node, vec, row, &m, &mv)) return;
        if (clove_fmt_valid(duckdb_vector_get_validity(mv), row))
            clove_fmt_node_text(out, &node->children[m], mv, duckdb_vector_get_data(mv), row);
        return;
    }
    case DUCKDB_TYPE_SQLNULL: return;
    default: clove_fmt_node_json(out, node, vec, data, row); return;
    }
}

/* ---- Arrow schema ---------------------------------------------------------------------- */

static void arrow_decimal(clove_buf_t *out, unsigned width, unsigned scale)
{
    clove_buf_printf(out, "{\"Decimal128\":[%u,%u]}", width, scale);
}

void clove_fmt_arrow_field(clove_buf_t *out, const char *name, size_t name_len,
                           const clove_fmt_node_t *node, bool nullable)
{
    clove_buf_puts(out, "{\"name\":");
    clove_buf_json_string(out, name, name_len);
    clove_buf_puts(out, ",\"data_type\":");
    clove_fmt_node_arrow_type(out, node);
    clove_buf_puts(out, nullable ? ",\"nullable\":true" : ",\"nullable\":false");
    clove_buf_puts(out, ",\"dict_id\":0,\"dict_is_ordered\":false,\"metadata\":{}}");
}

void clove_fmt_node_arrow_type(clove_buf_t *out, const clove_fmt_node_t *node)
{
    const char *s = NULL;
    switch (node->id) {
    case DUCKDB_TYPE_BOOLEAN: s = "\"Boolean\""; break;
    case DUCKDB_TYPE_TINYINT: s = "\"Int8\""; break;
    case DUCKDB_TYPE_SMALLINT: s = "\"Int16\""; break;
    case DUCKDB_TYPE_INTEGER: s = "\"Int32\""; break;
    case DUCKDB_TYPE_BIGINT: s = "\"Int64\""; break;
    case DUCKDB_TYPE_UTINYINT: s = "\"UInt8\""; break;
    case DUCKDB_TYPE_USMALLINT: s = "\"UInt16\""; break;
    case DUCKDB_TYPE_UINTEGER: s = "\"UInt32\""; break;
    case DUCKDB_TYPE_UBIGINT: s = "\"UInt64\""; break;
    case DUCKDB_TYPE_FLOAT: s = "\"Float32\""; break;
    case DUCKDB_TYPE_DOUBLE: s = "\"Float64\""; break;
    case DUCKDB_TYPE_HUGEINT:
    case DUCKDB_TYPE_UHUGEINT: arrow_decimal(out, 38, 0); return;
    case DUCKDB_TYPE_DECIMAL: arrow_decimal(out, node->width, node->scale); return;
    case DUCKDB_TYPE_BIGNUM: s = "{\"Decimal256\":[76,0]}"; break;
    case DUCKDB_TYPE_BLOB: s = "\"Binary\""; break;
    case DUCKDB_TYPE_DATE: s = "\"Date32\""; break;
    case DUCKDB_TYPE_TIME: s = "{\"Time64\":\"Microsecond\"}"; break;
    case DUCKDB_TYPE_TIME_NS: s = "{\"Time64\":\"Nanosecond\"}"; break;
    case DUCKDB_TYPE_TIMESTAMP_S: s = "{\"Timestamp\":[\"Second\",null]}"; break;
    case DUCKDB_TYPE_TIMESTAMP_MS: s = "{\"Timestamp\":[\"Millisecond\",null]}"; break;
    case DUCKDB_TYPE_TIMESTAMP: s = "{\"Timestamp\":[\"Microsecond\",null]}"; break;
    case DUCKDB_TYPE_TIMESTAMP_NS: s = "{\"Timestamp\":[\"Nanosecond\",null]}"; break;
    case DUCKDB_TYPE_TIMESTAMP_TZ: s = "{\"Timestamp\":[\"Microsecond\",\"UTC\"]}"; break;
    case DUCKDB_TYPE_INTERVAL: s = "{\"Interval\":\"MonthDayNano\"}"; break;
    case DUCKDB_TYPE_SQLNULL: s = "\"Null\""; break;
    case DUCKDB_TYPE_ENUM:
        s = node->storage == DUCKDB_TYPE_UTINYINT    ? "{\"Dictionary\":[\"UInt8\",\"Utf8\"]}"
            : node->storage == DUCKDB_TYPE_USMALLINT ? "{\"Dictionary\":[\"UInt16\",\"Utf8\"]}"
                                                     : "{\"Dictionary\":[\"UInt32\",\"Utf8\"]}";
        break;
    case DUCKDB_TYPE_LIST:
        clove_buf_puts(out, "{\"List\":");
        clove_fmt_arrow_field(out, "l", 1, &node->children[0], true);
        clove_buf_puts(out, "}");
        return;
    case DUCKDB_TYPE_ARRAY:
        clove_buf_puts(out, "{\"FixedSizeList\":[");
        clove_fmt_arrow_field(out, "l", 1, &node->children[0], true);
        clove_buf_printf(out, ",%llu]}", (unsigned long long)node->array_size);
        return;
    case DUCKDB_TYPE_STRUCT:
        clove_buf_puts(out, "{\"Struct\":[");
        for (idx_t i = 0; i < node->nchildren; i++) {
            if (i) clove_buf_putc(out, ',');
            clove_fmt_arrow_field(out, node->names[i], strlen(node->names[i]),
                                  &node->children[i], true);
        }
        clove_buf_puts(out, "]}");
        return;
    case DUCKDB_TYPE_MAP:
        clove_buf_puts(out, "{\"Map\":[{\"name\":\"entries\",\"data_type\":{\"Struct\":[");
        clove_fmt_arrow_field(out, "key", 3, &node->children[0], false);
        clove_buf_putc(out, ',');
        clove_fmt_arrow_field(out, "value", 5, &node->children[1], true);
        clove_buf_puts(out, "]},\"nullable\":false,\"dict_id\":0,\"dict_is_ordered\":false,"
                            "\"metadata\":{}},false]}");
        return;
    case DUCKDB_TYPE_UNION:
        clove_buf_puts(out, "{\"Union\":[[");
        for (idx_t i = 0; i < node->nchildren; i++) {
            if (i) clove_buf_putc(out, ',');
            clove_buf_printf(out, "[%llu,", (unsigned long long)i);
            clove_fmt_arrow_field(out, node->names[i], strlen(node->names[i]),
                                  &node->children[i], true);
            clove_buf_putc(out, ']');
        }
        clove_buf_puts(out, "],\"Sparse\"]}");
        return;
    default: s = "\"Utf8\""; break; /* VARCHAR, UUID, BIT, TIME_TZ and anything newer */
    }
    clove_buf_puts(out, s);
}
