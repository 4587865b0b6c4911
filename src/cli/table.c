/*
 * table.c: a grid of text cells and its rendering as an aligned box:
 *
 *     +----+-------+
 *     | id | name  |
 *     +----+-------+
 *     |  1 | alice |
 *     +----+-------+
 *
 * Widths count terminal columns, not bytes: UTF-8 is decoded here (East Asian wide and
 * emoji characters take two columns, combining marks none) without consulting the locale, so
 * the output is the same under LANG=C and LANG=en_US.UTF-8. Control characters and invalid
 * UTF-8 are shown escaped so a cell can never move the cursor or break the box.
 */
#include "cli/cli_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void clove_cli_table_init(clove_cli_table_t *t, size_t ncols)
{
    memset(t, 0, sizeof *t);
    clove_buf_init(&t->text);
    t->ncols = ncols;
}

void clove_cli_table_dispose(clove_cli_table_t *t)
{
    clove_buf_dispose(&t->text);
    free(t->offs);
    memset(t, 0, sizeof *t);
}

bool clove_cli_table_push(clove_cli_table_t *t, const char *s, size_t n)
{
    if (t->ncells == t->offs_cap) {
        size_t cap = t->offs_cap ? t->offs_cap * 2 : 64;
        size_t *p = realloc(t->offs, cap * sizeof *p);
        if (!p) return false;
        t->offs = p;
        t->offs_cap = cap;
    }
    size_t off = t->text.len;
    clove_buf_append(&t->text, s, n);
    clove_buf_putc(&t->text, '\0');
    if (t->text.failed) return false;
    t->offs[t->ncells++] = off;
    return true;
}

void clove_cli_table_end_header(clove_cli_table_t *t)
{
    t->ncols = t->ncells;
}

size_t clove_cli_table_rows(const clove_cli_table_t *t)
{
    if (t->ncols == 0 || t->ncells < t->ncols) return 0;
    return t->ncells / t->ncols - 1;
}

const char *clove_cli_table_cell(const clove_cli_table_t *t, size_t row, size_t col)
{
    size_t i = row * t->ncols + col;
    CLOVE_ASSERT(col < t->ncols && i < t->ncells);
    return t->text.data + t->offs[i];
}

/* ---- display width --------------------------------------------------------------------- */

typedef struct {
    uint32_t lo, hi;
} range_t;

/* Characters a terminal shows two columns wide (East Asian Wide/Fullwidth, emoji). */
static const range_t wide_ranges[] = {
    {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},
    {0x23F0, 0x23F0},   {0x23F3, 0x23F3},   {0x25FD, 0x25FE},   {0x2614, 0x2615},
    {0x2648, 0x2653},   {0x267F, 0x267F},   {0x2693, 0x2693},   {0x26A1, 0x26A1},
    {0x26AA, 0x26AB},   {0x26BD, 0x26BE},   {0x26C4, 0x26C5},   {0x26CE, 0x26CE},
    {0x26D4, 0x26D4},   {0x26EA, 0x26EA},   {0x26F2, 0x26F3},   {0x26F5, 0x26F5},
    {0x26FA, 0x26FA},   {0x26FD, 0x26FD},   {0x2705, 0x2705},   {0x270A, 0x270B},
    {0x2728, 0x2728},   {0x274C, 0x274C},   {0x274E, 0x274E},   {0x2753, 0x2755},
    {0x2757, 0x2757},   {0x2795, 0x2797},   {0x27B0, 0x27B0},   {0x27BF, 0x27BF},
    {0x2B1B, 0x2B1C},   {0x2B50, 0x2B50},   {0x2B55, 0x2B55},   {0x2E80, 0x303E},
    {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
    {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE10, 0xFE19},
    {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x16FE0, 0x16FE4},
    {0x17000, 0x18AFF}, {0x1B000, 0x1B2FF}, {0x1F004, 0x1F004}, {0x1F0CF, 0x1F0CF},
    {0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A}, {0x1F200, 0x1F202}, {0x1F210, 0x1F23B},
    {0x1F240, 0x1F248}, {0x1F250, 0x1F251}, {0x1F260, 0x1F265}, {0x1F300, 0x1F320},
    {0x1F32D, 0x1F335}, {0x1F337, 0x1F37C}, {0x1F37E, 0x1F393}, {0x1F3A0, 0x1F3CA},
    {0x1F3CF, 0x1F3D3}, {0x1F3E0, 0x1F3F0}, {0x1F3F4, 0x1F3F4}, {0x1F3F8, 0x1F43E},
    {0x1F440, 0x1F440}, {0x1F442, 0x1F4FC}, {0x1F4FF, 0x1F53D}, {0x1F54B, 0x1F54E},
    {0x1F550, 0x1F567}, {0x1F57A, 0x1F57A}, {0x1F595, 0x1F596}, {0x1F5A4, 0x1F5A4},
    {0x1F5FB, 0x1F64F}, {0x1F680, 0x1F6C5}, {0x1F6CC, 0x1F6CC}, {0x1F6D0, 0x1F6D2},
    {0x1F6D5, 0x1F6D7}, {0x1F6EB, 0x1F6EC}, {0x1F6F4, 0x1F6FC}, {0x1F7E0, 0x1F7EB},
    {0x1F90C, 0x1F93A}, {0x1F93C, 0x1F945}, {0x1F947, 0x1F9FF}, {0x1FA70, 0x1FAFF},
    {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

/* Characters that take no column of their own (combining marks, joiners, selectors). */
static const range_t zero_ranges[] = {
    {0x0300, 0x036F},   {0x0483, 0x0489},   {0x0591, 0x05BD},   {0x05BF, 0x05BF},
    {0x05C1, 0x05C2},   {0x05C4, 0x05C5},   {0x05C7, 0x05C7},   {0x0610, 0x061A},
    {0x064B, 0x065F},   {0x0670, 0x0670},   {0x06D6, 0x06DC},   {0x06DF, 0x06E4},
    {0x0900, 0x0902},   {0x093C, 0x093C},   {0x0941, 0x0948},   {0x094D, 0x094D},
    {0x0E31, 0x0E31},   {0x0E34, 0x0E3A},   {0x0E47, 0x0E4E},   {0x1160, 0x11FF},
    {0x1AB0, 0x1AFF},   {0x1DC0, 0x1DFF},   {0x200B, 0x200F},   {0x2060, 0x2064},
    {0x20D0, 0x20FF},   {0x302A, 0x302D},   {0x3099, 0x309A},   {0xFE00, 0xFE0F},
    {0xFE20, 0xFE2F},   {0xFEFF, 0xFEFF},   {0x1F3FB, 0x1F3FF}, {0xE0001, 0xE007F},
    {0xE0100, 0xE01EF},
};

static bool in_ranges(uint32_t cp, const range_t *r, size_t n)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo) hi = mid;
        else if (cp > r[mid].hi) lo = mid + 1;
        else return true;
    }
    return false;
}

/* Decodes one valid UTF-8 sequence at s; returns its length or 0 when invalid. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        if ((s[1] & 0xC0) != 0x80) return 0;
        *cp = ((uint32_t)(c & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && s[1] >= 0xA0) return 0; /* surrogate */
        *cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0;
        if (c == 0xF4 && s[1] >= 0x90) return 0;
        *cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
              ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        return 4;
    }
    return 0;
}

/* Shows s as it will appear in a cell, appending to out when out is not NULL; returns the
 * display width. The NUL terminator stops every multi-byte check above before it reads past
 * the end, because a NUL is never a continuation byte. */
static size_t render_text(const char *str, clove_buf_t *out)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t width = 0;
    char esc[16];
    while (*s) {
        uint32_t cp = 0;
        size_t n = utf8_decode(s, &cp);
        const char *show = NULL;
        if (n == 0) {
            show = "\xEF\xBF\xBD"; /* U+FFFD for a byte that is not UTF-8 */
            width += 1;
            n = 1;
        } else if (cp == '\n' || cp == '\r' || cp == '\t') {
            show = cp == '\n' ? "\\n" : cp == '\r' ? "\\r" : "\\t";
            width += 2;
        } else if (cp < 0x20 || cp == 0x7F) {
            snprintf(esc, sizeof esc, "\\x%02x", (unsigned)cp);
            show = esc;
            width += 4;
        } else if ((cp >= 0x80 && cp < 0xA0) || (cp >= 0x202A && cp <= 0x202E) ||
                   (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029) {
            /* C1 controls, bidi overrides and line separators reorder or break the box */
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
            show = esc;
            width += 6;
        } else if (cp < 0x300) {
            width += 1;
        } else if (in_ranges(cp, zero_ranges, sizeof zero_ranges / sizeof zero_ranges[0])) {
            /* no column */
        } else if (in_ranges(cp, wide_ranges, sizeof wide_ranges / sizeof wide_ranges[0])) {
            width += 2;
        } else {
            width += 1;
        }
        if (out) {
            if (show) clove_buf_puts(out, show);
            else clove_buf_append(out, s, n);
        }
        s += n;
    }
    return width;
}

size_t clove_cli_display_width(const char *s)
{
    return render_text(s, NULL);
}

/* ---- rendering ------------------------------------------------------------------------- */

static bool ascii_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = (*a >= 'A' && *a <= 'Z') ? (char)(*a + 32) : *a;
        if (x != *b) return false;
    }
    return *a == *b;
}

/* A decimal or scientific number, or inf/infinity/nan, with an optional sign. */
static bool looks_numeric(const char *s)
{
    if (*s == '-' || *s == '+') s++;
    if (ascii_ieq(s, "inf") || ascii_ieq(s, "infinity") || ascii_ieq(s, "nan")) return true;
    size_t digits = 0;
    while (*s >= '0' && *s <= '9') {
        s++;
        digits++;
    }
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            s++;
            digits++;
        }
    }
    if (digits == 0) return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+') s++;
        if (!(*s >= '0' && *s <= '9')) return false;
        while (*s >= '0' && *s <= '9') s++;
    }
    return *s == '\0';
}

static void put_repeat(clove_buf_t *out, char c, size_t n)
{
    if (!clove_buf_reserve(out, n)) return;
    memset(out->data + out->len, c, n);
    out->len += n;
    out->data[out->len] = '\0';
}

static void put_rule(clove_buf_t *out, const size_t *widths, size_t ncols)
{
    clove_buf_putc(out, '+');
    for (size_t c = 0; c < ncols; c++) {
        put_repeat(out, '-', widths[c] + 2);
        clove_buf_putc(out, '+');
    }
    clove_buf_putc(out, '\n');
}

static void put_row(clove_buf_t *out, const clove_cli_table_t *t, size_t row,
                    const size_t *widths, const bool *right)
{
    clove_buf_putc(out, '|');
    for (size_t c = 0; c < t->ncols; c++) {
        const char *cell = clove_cli_table_cell(t, row, c);
        size_t w = render_text(cell, NULL);
        size_t pad = widths[c] - w;
        clove_buf_putc(out, ' ');
        if (right[c] && row > 0) put_repeat(out, ' ', pad);
        render_text(cell, out);
        if (!(right[c] && row > 0)) put_repeat(out, ' ', pad);
        clove_buf_puts(out, " |");
    }
    clove_buf_putc(out, '\n');
}

bool clove_cli_table_render(const clove_cli_table_t *t, clove_buf_t *out)
{
    if (t->ncols == 0) return true;
    size_t rows = clove_cli_table_rows(t);
    size_t *widths = calloc(t->ncols, sizeof *widths);
    bool *right = calloc(t->ncols, sizeof *right);
    if (!widths || !right) {
        free(widths);
        free(right);
        return false;
    }
    for (size_t c = 0; c < t->ncols; c++) {
        bool numeric = rows > 0, any = false;
        for (size_t r = 0; r <= rows; r++) {
            const char *cell = clove_cli_table_cell(t, r, c);
            size_t w = render_text(cell, NULL);
            if (w > widths[c]) widths[c] = w;
            if (r > 0 && cell[0]) {
                any = true;
                if (numeric && !looks_numeric(cell)) numeric = false;
            }
        }
        right[c] = numeric && any;
    }
    put_rule(out, widths, t->ncols);
    put_row(out, t, 0, widths, right);
    put_rule(out, widths, t->ncols);
    for (size_t r = 1; r <= rows; r++) put_row(out, t, r, widths, right);
    if (rows > 0) put_rule(out, widths, t->ncols);
    free(widths);
    free(right);
    return !out->failed;
}
