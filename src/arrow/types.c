/*
 * types.c: Arrow types as the C Data Interface format strings spell them ("l", "tsu:UTC",
 * "d:38,2", "+w:3", "+us:0,1") and as the IPC flatbuffer Type union holds them; the writer
 * parses DuckDB's format strings, the reader renders format strings for DuckDB.
 */
#include "arrow/arrow_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses a non-negative decimal integer at *p (at most 9 digits), advancing *p. */
static bool parse_uint(const char **p, int32_t *out)
{
    const char *s = *p;
    int32_t v = 0;
    int n = 0;
    while (*s >= '0' && *s <= '9' && n < 9) {
        v = v * 10 + (*s - '0');
        s++;
        n++;
    }
    if (n == 0 || (*s >= '0' && *s <= '9')) return false;
    *out = v;
    *p = s;
    return true;
}

static bool parse_unit(char c, uint8_t *unit)
{
    switch (c) {
    case 's': *unit = ARROW_UNIT_SECOND; return true;
    case 'm': *unit = ARROW_UNIT_MILLI; return true;
    case 'u': *unit = ARROW_UNIT_MICRO; return true;
    case 'n': *unit = ARROW_UNIT_NANO; return true;
    default: return false;
    }
}

static bool parse_int(char c, arrow_type_t *t)
{
    static const char codes[] = "cCsSiIlL";
    const char *p = strchr(codes, c);
    if (!p || !c) return false;
    int i = (int)(p - codes);
    t->id = FB_T_INT;
    t->bits = 8 << (i / 2);
    t->is_signed = (i % 2) == 0;
    return true;
}

static bool parse_union_ids(const char *s, arrow_type_t *t)
{
    t->n_type_ids = 0;
    if (*s == '\0') return true;
    for (;;) {
        int32_t v;
        if (!parse_uint(&s, &v) || v > 127 || t->n_type_ids >= ARROW_MAX_UNION_CHILDREN)
            return false;
        t->type_ids[t->n_type_ids++] = (int8_t)v;
        if (*s == '\0') return true;
        if (*s++ != ',') return false;
    }
}

bool arrow_fmt_parse(const char *fmt, arrow_type_t *t)
{
    memset(t, 0, sizeof(*t));
    t->n_type_ids = -1;
    if (!fmt || !fmt[0]) return false;
    const char *p;
    if (fmt[1] == '\0') {
        switch (fmt[0]) {
        case 'n': t->id = FB_T_NULL; return true;
        case 'b': t->id = FB_T_BOOL; return true;
        case 'e': t->id = FB_T_FLOAT; t->unit = ARROW_FP_HALF; return true;
        case 'f': t->id = FB_T_FLOAT; t->unit = ARROW_FP_SINGLE; return true;
        case 'g': t->id = FB_T_FLOAT; t->unit = ARROW_FP_DOUBLE; return true;
        case 'z': t->id = FB_T_BINARY; return true;
        case 'Z': t->id = FB_T_LARGE_BINARY; return true;
        case 'u': t->id = FB_T_UTF8; return true;
        case 'U': t->id = FB_T_LARGE_UTF8; return true;
        default: return parse_int(fmt[0], t);
        }
    }
    switch (fmt[0]) {
    case 'v':
        if (strcmp(fmt, "vz") == 0) t->id = FB_T_BINARY_VIEW;
        else if (strcmp(fmt, "vu") == 0) t->id = FB_T_UTF8_VIEW;
        else return false;
        return true;
    case 'd':
        if (fmt[1] != ':') return false;
        p = fmt + 2;
        t->id = FB_T_DECIMAL;
        t->bits = 128;
        if (!parse_uint(&p, &t->precision) || *p++ != ',' || !parse_uint(&p, &t->scale))
            return false;
        if (*p == ',') {
            p++;
            if (!parse_uint(&p, &t->bits)) return false;
        }
        return *p == '\0';
    case 'w':
        if (fmt[1] != ':') return false;
        p = fmt + 2;
        t->id = FB_T_FIXED_SIZE_BINARY;
        return parse_uint(&p, &t->size) && *p == '\0';
    case 't':
        if (strlen(fmt) < 3) return false;
        if (fmt[1] == 'd' && fmt[3] == '\0') {
            t->id = FB_T_DATE;
            if (fmt[2] == 'D') t->unit = ARROW_DATE_DAY;
            else if (fmt[2] == 'm') t->unit = ARROW_DATE_MILLI;
            else return false;
            return true;
        }
        if (fmt[1] == 't' && fmt[3] == '\0') {
            t->id = FB_T_TIME;
            if (!parse_unit(fmt[2], &t->unit)) return false;
            t->bits = t->unit <= ARROW_UNIT_MILLI ? 32 : 64;
            return true;
        }
        if (fmt[1] == 's' && fmt[2] && fmt[3] == ':') {
            t->id = FB_T_TIMESTAMP;
            if (!parse_unit(fmt[2], &t->unit)) return false;
            size_t n = strlen(fmt + 4);
            if (n >= sizeof(t->tz)) return false;
            memcpy(t->tz, fmt + 4, n + 1);
            return true;
        }
        if (fmt[1] == 'D' && fmt[3] == '\0') {
            t->id = FB_T_DURATION;
            return parse_unit(fmt[2], &t->unit);
        }
        if (fmt[1] == 'i' && fmt[3] == '\0') {
            t->id = FB_T_INTERVAL;
            if (fmt[2] == 'M') t->unit = ARROW_IV_YEAR_MONTH;
            else if (fmt[2] == 'D') t->unit = ARROW_IV_DAY_TIME;
            else if (fmt[2] == 'n') t->unit = ARROW_IV_MONTH_DAY_NANO;
            else return false;
            return true;
        }
        return false;
    case '+':
        if (strcmp(fmt, "+l") == 0) t->id = FB_T_LIST;
        else if (strcmp(fmt, "+L") == 0) t->id = FB_T_LARGE_LIST;
        else if (strcmp(fmt, "+s") == 0) t->id = FB_T_STRUCT;
        else if (strcmp(fmt, "+m") == 0) t->id = FB_T_MAP;
        else if (strcmp(fmt, "+vl") == 0) t->id = FB_T_LIST_VIEW;
        else if (strcmp(fmt, "+vL") == 0) t->id = FB_T_LARGE_LIST_VIEW;
        else if (strcmp(fmt, "+r") == 0) t->id = FB_T_RUN_END_ENCODED;
        else if (strncmp(fmt, "+w:", 3) == 0) {
            p = fmt + 3;
            t->id = FB_T_FIXED_SIZE_LIST;
            return parse_uint(&p, &t->size) && *p == '\0';
        } else if (strncmp(fmt, "+us:", 4) == 0 || strncmp(fmt, "+ud:", 4) == 0) {
            t->id = FB_T_UNION;
            t->unit = fmt[2] == 's' ? ARROW_UNION_SPARSE : ARROW_UNION_DENSE;
            return parse_union_ids(fmt + 4, t);
        } else return false;
        return true;
    default:
        return false;
    }
}

static char unit_char(uint8_t unit) { return "smun"[unit & 3]; }

bool arrow_fmt_render(const arrow_type_t *t, char *out, size_t cap)
{
    static const char ints[] = "cCsSiIlL";
    int n;
    switch (t->id) {
    case FB_T_NULL: n = snprintf(out, cap, "n"); break;
    case FB_T_BOOL: n = snprintf(out, cap, "b"); break;
    case FB_T_INT: {
        int i = t->bits == 8 ? 0 : t->bits == 16 ? 2 : t->bits == 32 ? 4 : 6;
        n = snprintf(out, cap, "%c", ints[i + (t->is_signed ? 0 : 1)]);
        break;
    }
    case FB_T_FLOAT: n = snprintf(out, cap, "%c", "efg"[t->unit % 3]); break;
    case FB_T_BINARY: n = snprintf(out, cap, "z"); break;
    case FB_T_LARGE_BINARY: n = snprintf(out, cap, "Z"); break;
    case FB_T_UTF8: n = snprintf(out, cap, "u"); break;
    case FB_T_LARGE_UTF8: n = snprintf(out, cap, "U"); break;
    case FB_T_BINARY_VIEW: n = snprintf(out, cap, "vz"); break;
    case FB_T_UTF8_VIEW: n = snprintf(out, cap, "vu"); break;
    case FB_T_DECIMAL:
        if (t->bits == 128) n = snprintf(out, cap, "d:%d,%d", t->precision, t->scale);
        else n = snprintf(out, cap, "d:%d,%d,%d", t->precision, t->scale, t->bits);
        break;
    case FB_T_FIXED_SIZE_BINARY: n = snprintf(out, cap, "w:%d", t->size); break;
    case FB_T_DATE: n = snprintf(out, cap, "td%c", t->unit == ARROW_DATE_DAY ? 'D' : 'm'); break;
    case FB_T_TIME: n = snprintf(out, cap, "tt%c", unit_char(t->unit)); break;
    case FB_T_TIMESTAMP: n = snprintf(out, cap, "ts%c:%s", unit_char(t->unit), t->tz); break;
    case FB_T_DURATION: n = snprintf(out, cap, "tD%c", unit_char(t->unit)); break;
    case FB_T_INTERVAL: n = snprintf(out, cap, "ti%c", "MDn"[t->unit % 3]); break;
    case FB_T_LIST: n = snprintf(out, cap, "+l"); break;
    case FB_T_LARGE_LIST: n = snprintf(out, cap, "+L"); break;
    case FB_T_STRUCT: n = snprintf(out, cap, "+s"); break;
    case FB_T_MAP: n = snprintf(out, cap, "+m"); break;
    case FB_T_FIXED_SIZE_LIST: n = snprintf(out, cap, "+w:%d", t->size); break;
    case FB_T_UNION: {
        n = snprintf(out, cap, "+u%c:", t->unit == ARROW_UNION_SPARSE ? 's' : 'd');
        for (int i = 0; i < t->n_type_ids && n > 0 && (size_t)n < cap; i++)
            n += snprintf(out + n, cap - (size_t)n, "%s%d", i ? "," : "", t->type_ids[i]);
        break;
    }
    default: return false;
    }
    return n > 0 && (size_t)n < cap;
}

int arrow_type_width(const arrow_type_t *t)
{
    switch (t->id) {
    case FB_T_INT: return t->bits / 8;
    case FB_T_FLOAT: return t->unit == ARROW_FP_HALF ? 2 : t->unit == ARROW_FP_SINGLE ? 4 : 8;
    case FB_T_DECIMAL: return t->bits / 8;
    case FB_T_DATE: return t->unit == ARROW_DATE_DAY ? 4 : 8;
    case FB_T_TIME: return t->bits / 8;
    case FB_T_TIMESTAMP: return 8;
    case FB_T_DURATION: return 8;
    case FB_T_INTERVAL:
        return t->unit == ARROW_IV_YEAR_MONTH ? 4 : t->unit == ARROW_IV_DAY_TIME ? 8 : 16;
    case FB_T_FIXED_SIZE_BINARY: return t->size;
    default: return 0;
    }
}

int arrow_type_ipc_buffers(const arrow_type_t *t)
{
    switch (t->id) {
    case FB_T_NULL: return 0;
    case FB_T_STRUCT: case FB_T_FIXED_SIZE_LIST: return 1;
    case FB_T_UNION: return t->unit == ARROW_UNION_SPARSE ? 1 : 2;
    case FB_T_LIST: case FB_T_LARGE_LIST: case FB_T_MAP: return 2;
    case FB_T_BINARY: case FB_T_UTF8: case FB_T_LARGE_BINARY: case FB_T_LARGE_UTF8: return 3;
    case FB_T_BINARY_VIEW: case FB_T_UTF8_VIEW: return 2;
    case FB_T_LIST_VIEW: case FB_T_LARGE_LIST_VIEW: return 3;
    case FB_T_RUN_END_ENCODED: return 0;
    default: return 2;
    }
}

const char *arrow_type_name(int id)
{
    static const char *const names[FB_T_COUNT_] = {
        "none", "null", "int", "floating point", "binary", "utf8", "bool", "decimal", "date",
        "time", "timestamp", "interval", "list", "struct", "union", "fixed size binary",
        "fixed size list", "map", "duration", "large binary", "large utf8", "large list",
        "run-end encoded", "binary view", "utf8 view", "list view", "large list view",
    };
    return id >= 0 && id < FB_T_COUNT_ ? names[id] : "unknown";
}
