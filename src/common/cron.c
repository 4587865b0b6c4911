/*
 * cron.c: the 5-field cron parser and next-fire-time search behind refresh_cron. Parsing turns
 * each field into a bitset; the search walks forward a month, a day, an hour or a minute at a
 * time, jumping straight to the next allowed value, so a year-long gap costs a few hundred
 * steps rather than half a million minutes. See cron.h.
 */
#include "common/cron.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* How a field is named in messages, its bounds, and what `*` and `a/n` cover. */
typedef struct {
    const char *name;
    int min;
    int max;                  /* largest value accepted (day-of-week: 7) */
    int star_max;             /* upper end of `*` and `a/n` (day-of-week: 6) */
    const char *const *names; /* 3-letter names for min, min+1, ...; or NULL */
    const char *name_hint;    /* appended to "is not a number" when names exist */
} cron_field_t;

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
                                          "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const wday_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

enum { F_MINUTE, F_HOUR, F_MDAY, F_MONTH, F_WDAY, F_COUNT };

static const cron_field_t fields[F_COUNT] = {
    {"minute", 0, 59, 59, NULL, NULL},
    {"hour", 0, 23, 23, NULL, NULL},
    {"day-of-month", 1, 31, 31, NULL, NULL},
    {"month", 1, 12, 12, month_names, " or a month name (JAN-DEC)"},
    {"day-of-week", 0, 7, 6, wday_names, " or a weekday name (SUN-SAT)"},
};

static const struct {
    const char *name;
    const char *expansion;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

#define FIELDS_HINT "minute hour day-of-month month day-of-week"
/* Long expressions are cut in messages; the message buffer is 1 KiB. */
#define EXPR_SHOWN 200

/* A run of characters inside the expression. */
typedef struct {
    const char *p;
    size_t n;
} span_t;

static int fail(clove_err_t *err, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(clove_err_t *err, const char *expr, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return clove_err_set(err, CLOVE_EINVAL, "invalid cron expression \"%.*s\": %s", EXPR_SHOWN,
                         expr ? expr : "", why);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Reads one value (a number or, where the field has them, a name) at *pp, advancing *pp.
 * Sets *text to what was read so messages can quote it.
 */
static int parse_value(const cron_field_t *f, const char **pp, const char *end, span_t item,
                       int *out, span_t *text, const char *expr, clove_err_t *err)
{
    const char *p = *pp;
    while (p < end && isalnum((unsigned char)*p)) p++;
    text->p = *pp;
    text->n = (size_t)(p - *pp);
    if (text->n == 0)
        return fail(err, expr, "%s item \"%.*s\" is malformed", f->name, (int)item.n, item.p);

    bool digits = true;
    for (size_t i = 0; i < text->n; i++)
        if (!isdigit((unsigned char)text->p[i])) digits = false;

    if (digits) {
        /* Saturate: anything this large is out of range, and the message quotes the text. */
        int v = 0;
        for (size_t i = 0; i < text->n && v <= 100000; i++) v = v * 10 + (text->p[i] - '0');
        if (v < f->min || v > f->max)
            return fail(err, expr, "%s %.*s is out of range %d-%d", f->name, (int)text->n, text->p,
                        f->min, f->max);
        *out = v;
    } else {
        int found = -1;
        if (f->names && text->n == 3)
            for (int i = 0; f->names[i]; i++)
                if (strncasecmp(text->p, f->names[i], 3) == 0) found = f->min + i;
        if (found < 0)
            return fail(err, expr, "%s \"%.*s\" is not a number%s", f->name, (int)text->n, text->p,
                        f->names ? f->name_hint : "");
        *out = found;
    }
    *pp = p;
    return 0;
}

/* One list item: `*`, `a`, or `a-b`, optionally followed by `/n`. ORs its values into *bits. */
static int parse_item(const cron_field_t *f, span_t item, uint64_t *bits, const char *expr,
                      clove_err_t *err)
{
    const char *p = item.p, *end = item.p + item.n;
    int lo, hi, step = 1;
    span_t lo_text = {p, 0}, hi_text = {p, 0};
    bool star = false, range = false;

    if (*p == '*') {
        star = true;
        lo = f->min;
        hi = f->star_max;
        p++;
    } else {
        int rc;
        if ((rc = parse_value(f, &p, end, item, &lo, &lo_text, expr, err)) != 0) return rc;
        hi = lo;
        if (p < end && *p == '-') {
            p++;
            range = true;
            if ((rc = parse_value(f, &p, end, item, &hi, &hi_text, expr, err)) != 0) return rc;
        }
    }

    if (p < end && *p == '/') {
        p++;
        const char *s = p;
        while (p < end && isdigit((unsigned char)*p)) p++;
        if (p == s)
            return fail(err, expr, "%s item \"%.*s\" is malformed", f->name, (int)item.n, item.p);
        step = 0;
        for (const char *q = s; q < p && step <= 100000; q++) step = step * 10 + (*q - '0');
        int span = f->star_max - f->min + 1;
        if (step < 1 || step > span)
            return fail(err, expr, "%s step %.*s is out of range 1-%d", f->name, (int)(p - s), s,
                        span);
        /* `a/n` runs from a to the end of the field ("7/2" in day-of-week is just 7). */
        if (!star && !range && lo < f->star_max) hi = f->star_max;
    }
    if (p != end)
        return fail(err, expr, "%s item \"%.*s\" is malformed", f->name, (int)item.n, item.p);

    /* "FRI-SUN" and "5-0": Sunday at the end of a range is day 7. */
    if (f == &fields[F_WDAY] && range && hi == 0 && lo > 0) hi = 7;
    if (range && lo > hi)
        return fail(err, expr, "%s range %.*s-%.*s starts after it ends", f->name, (int)lo_text.n,
                    lo_text.p, (int)hi_text.n, hi_text.p);

    for (int v = lo; v <= hi; v += step) *bits |= (uint64_t)1 << v;
    return 0;
}

static int parse_field(int which, span_t text, uint64_t *bits, const char *expr, clove_err_t *err)
{
    const cron_field_t *f = &fields[which];
    const char *p = text.p, *end = text.p + text.n;
    *bits = 0;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *item_end = comma ? comma : end;
        if (item_end == p) return fail(err, expr, "%s has an empty list item", f->name);
        int rc = parse_item(f, (span_t){p, (size_t)(item_end - p)}, bits, expr, err);
        if (rc != 0) return rc;
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

/* Splits s on blanks into up to max spans; returns how many words there are in total. */
static int split_words(const char *s, span_t *words, int max)
{
    int n = 0;
    while (*s) {
        while (*s && is_blank(*s)) s++;
        if (!*s) break;
        const char *start = s;
        while (*s && !is_blank(*s)) s++;
        if (n < max) words[n] = (span_t){start, (size_t)(s - start)};
        n++;
    }
    return n;
}

static int parse_words(const span_t *words, clove_cron_t *c, const char *expr, clove_err_t *err)
{
    uint64_t bits[F_COUNT];
    for (int i = 0; i < F_COUNT; i++) {
        int rc = parse_field(i, words[i], &bits[i], expr, err);
        if (rc != 0) return rc;
    }
    memset(c, 0, sizeof *c);
    c->minutes = bits[F_MINUTE];
    c->hours = (uint32_t)bits[F_HOUR];
    c->mdays = (uint32_t)bits[F_MDAY];
    c->months = (uint16_t)bits[F_MONTH];
    /* Day 7 is Sunday. */
    c->wdays = (uint8_t)((bits[F_WDAY] | (bits[F_WDAY] >> 7)) & 0x7f);
    c->mday_star = words[F_MDAY].n == 1 && words[F_MDAY].p[0] == '*';
    c->wday_star = words[F_WDAY].n == 1 && words[F_WDAY].p[0] == '*';
    return 0;
}

int clove_cron_parse(const char *expr, clove_cron_t *out, clove_err_t *err)
{
    span_t words[F_COUNT];
    int n = split_words(expr ? expr : "", words, F_COUNT);

    if (n == 0) return fail(err, expr, "expression is empty");

    if (words[0].p[0] == '@') {
        for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
            if (strlen(macros[i].name) != words[0].n ||
                strncasecmp(words[0].p, macros[i].name, words[0].n) != 0)
                continue;
            if (n != 1) return fail(err, expr, "%s must be the whole expression", macros[i].name);
            span_t exp[F_COUNT];
            split_words(macros[i].expansion, exp, F_COUNT);
            return parse_words(exp, out, macros[i].expansion, err);
        }
        return fail(err, expr,
                    "unknown macro \"%.*s\"; expected one of @yearly, @annually, @monthly, "
                    "@weekly, @daily, @midnight, @hourly",
                    (int)words[0].n, words[0].p);
    }

    if (n == 6)
        return fail(err, expr,
                    "got 6 fields, but a seconds field is not supported; use 5 fields "
                    "(" FIELDS_HINT ")");
    if (n != F_COUNT) return fail(err, expr, "expected 5 fields (" FIELDS_HINT "), got %d", n);

    clove_cron_t c;
    int rc = parse_words(words, &c, expr, err);
    if (rc == 0) *out = c;
    return rc;
}

/* ---- next fire time --------------------------------------------------------------------- */

/* Lowest set bit >= from in bits, or -1. */
static int next_bit(uint64_t bits, int from, int limit)
{
    for (int v = from; v <= limit; v++)
        if (bits & ((uint64_t)1 << v)) return v;
    return -1;
}

static bool day_matches(const clove_cron_t *c, const struct tm *tm)
{
    bool mday = (c->mdays >> tm->tm_mday) & 1u;
    bool wday = (c->wdays >> tm->tm_wday) & 1u;
    if (c->mday_star || c->wday_star) return mday && wday;
    return mday || wday;
}

/* timegm() normalizes out-of-range fields (minute 60, day 32, month 12) and fills tm_wday.
 * Seconds are always 0 here, so -1 (1969-12-31 23:59:59) can only mean failure. */
static bool normalize(struct tm *tm)
{
    tm->tm_sec = 0;
    tm->tm_isdst = 0;
    return timegm(tm) != (time_t)-1;
}

int64_t clove_cron_next(const clove_cron_t *c, int64_t after_ms)
{
    /* Start at the first whole minute strictly after after_ms (floor division for < 0). */
    int64_t min = after_ms / 60000;
    if (after_ms % 60000 < 0) min--;
    if (min > INT64_MAX / 60000 - 1 || min < INT64_MIN / 60000 + 1) return -1;
    time_t t = (time_t)((min + 1) * 60);
    if ((int64_t)t != (min + 1) * 60) return -1;

    struct tm tm;
    if (!gmtime_r(&t, &tm)) return -1;
    int last_year = tm.tm_year + 5;

    while (tm.tm_year <= last_year) {
        if (!((c->months >> (tm.tm_mon + 1)) & 1u)) {
            int m = next_bit(c->months, tm.tm_mon + 2, 12);
            if (m < 0) {
                tm.tm_year++;
                m = next_bit(c->months, 1, 12);
                if (m < 0) return -1;
            }
            tm.tm_mon = m - 1;
            tm.tm_mday = 1;
            tm.tm_hour = 0;
            tm.tm_min = 0;
            if (!normalize(&tm)) return -1;
            continue;
        }
        if (!day_matches(c, &tm)) {
            tm.tm_mday++;
            tm.tm_hour = 0;
            tm.tm_min = 0;
            if (!normalize(&tm)) return -1;
            continue;
        }
        if (!((c->hours >> tm.tm_hour) & 1u)) {
            int h = next_bit(c->hours, tm.tm_hour + 1, 23);
            if (h < 0) {
                tm.tm_mday++;
                h = 0;
            }
            tm.tm_hour = h;
            tm.tm_min = 0;
            if (!normalize(&tm)) return -1;
            continue;
        }
        int m = next_bit(c->minutes, tm.tm_min, 59);
        if (m < 0) {
            tm.tm_hour++;
            tm.tm_min = 0;
            if (!normalize(&tm)) return -1;
            continue;
        }
        tm.tm_min = m;
        tm.tm_sec = 0;
        time_t fire = timegm(&tm);
        if (fire == (time_t)-1 || (int64_t)fire > INT64_MAX / 1000) return -1;
        return (int64_t)fire * 1000;
    }
    return -1;
}
