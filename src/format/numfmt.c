/*
 * numfmt.c: exact text for numbers, dates and times, written by hand because the writers call
 * these once per value and printf is both slow and inexact for 128-bit integers. Doubles get
 * the shortest digits that read back as the same value, computed exactly with 128-bit integer
 * arithmetic (a printf/strtod search covers the rare magnitudes that do not fit), and are laid
 * out the way Arrow's JSON writer (Rust lexical-core) does so clove answers like Spice.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format_int.h"

typedef unsigned __int128 u128;

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* ---- integers -------------------------------------------------------------------------- */

size_t clove_fmt_u64(char *out, uint64_t v)
{
    char tmp[20];
    char *p = tmp + sizeof tmp;
    while (v >= 100) {
        unsigned i = (unsigned)(v % 100) * 2;
        v /= 100;
        p -= 2;
        memcpy(p, digit_pairs + i, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, digit_pairs + v * 2, 2);
    } else {
        *--p = (char)('0' + v);
    }
    size_t n = (size_t)(tmp + sizeof tmp - p);
    memcpy(out, p, n);
    return n;
}

size_t clove_fmt_i64(char *out, int64_t v)
{
    if (v >= 0) return clove_fmt_u64(out, (uint64_t)v);
    out[0] = '-';
    return 1 + clove_fmt_u64(out + 1, 0 - (uint64_t)v);
}

/* Exactly `width` digits, zero-padded. */
static void fmt_u64_padded(char *out, uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

static void fmt_2(char *out, unsigned v) { memcpy(out, digit_pairs + (v % 100) * 2, 2); }

#define TEN19 10000000000000000000ULL

static size_t fmt_u128(char *out, u128 v)
{
    if ((v >> 64) == 0) return clove_fmt_u64(out, (uint64_t)v);
    uint64_t low = (uint64_t)(v % TEN19);
    v /= TEN19;
    size_t n;
    if ((v >> 64) == 0) {
        n = clove_fmt_u64(out, (uint64_t)v);
    } else {
        uint64_t mid = (uint64_t)(v % TEN19);
        n = clove_fmt_u64(out, (uint64_t)(v / TEN19));
        fmt_u64_padded(out + n, mid, 19);
        n += 19;
    }
    fmt_u64_padded(out + n, low, 19);
    return n + 19;
}

size_t clove_fmt_u128(char *out, uint64_t hi, uint64_t lo)
{
    return fmt_u128(out, ((u128)hi << 64) | lo);
}

size_t clove_fmt_i128(char *out, int64_t hi, uint64_t lo)
{
    u128 v = ((u128)(uint64_t)hi << 64) | lo;
    if (hi >= 0) return fmt_u128(out, v);
    out[0] = '-';
    return 1 + fmt_u128(out + 1, (u128)0 - v);
}

size_t clove_fmt_decimal(char *out, bool negative, uint64_t hi, uint64_t lo, unsigned scale)
{
    char digits[48];
    size_t nd = fmt_u128(digits, ((u128)hi << 64) | lo);
    size_t n = 0;
    if (negative) out[n++] = '-';
    if (scale == 0) {
        memcpy(out + n, digits, nd);
        return n + nd;
    }
    if (nd <= scale) {
        out[n++] = '0';
        out[n++] = '.';
        memset(out + n, '0', scale - nd);
        n += scale - nd;
        memcpy(out + n, digits, nd);
        return n + nd;
    }
    memcpy(out + n, digits, nd - scale);
    n += nd - scale;
    out[n++] = '.';
    memcpy(out + n, digits + nd - scale, scale);
    return n + scale;
}

/* ---- floating point -------------------------------------------------------------------- */

static u128 pow5_tab[56];  /* 5^0 .. 5^55, the largest that fit 128 bits */
static u128 pow10_tab[39]; /* 10^0 .. 10^38 */
static pthread_once_t pow_once = PTHREAD_ONCE_INIT;

static void pow_init(void)
{
    pow5_tab[0] = 1;
    for (int i = 1; i < 56; i++) pow5_tab[i] = pow5_tab[i - 1] * 5;
    pow10_tab[0] = 1;
    for (int i = 1; i < 39; i++) pow10_tab[i] = pow10_tab[i - 1] * 10;
}

static int floor_div(int a, int b) { return a / b - (a % b != 0 && ((a < 0) != (b < 0))); }

static int bit_length128(u128 v)
{
    uint64_t hi = (uint64_t)(v >> 64);
    if (hi) return 128 - __builtin_clzll(hi);
    uint64_t lo = (uint64_t)v;
    return lo ? 64 - __builtin_clzll(lo) : 0;
}

/* x * 2^e * 10^q = *fl + *rem / *den exactly, with *fl < 2^64. False if that does not fit. */
static bool scale_exact(uint64_t x, int e, int q, uint64_t *fl, u128 *rem, u128 *den)
{
    if (q >= 0) {
        if (q > 55) return false;
        u128 p = pow5_tab[q];
        if (bit_length128(p) + (64 - __builtin_clzll(x)) > 128) return false;
        u128 n = p * x;
        int s = e + q;
        if (s >= 0) {
            if (s >= 64 || n > ((u128)UINT64_MAX >> s)) return false;
            *fl = (uint64_t)(n << s);
            *rem = 0;
            *den = 1;
            return true;
        }
        int sh = -s;
        if (sh >= 127) return false;
        u128 f = n >> sh;
        if (f >> 64) return false;
        *fl = (uint64_t)f;
        *den = (u128)1 << sh;
        *rem = n & (*den - 1);
        return true;
    }
    if (-q > 38 || e < 0) return false;
    if (e + (64 - __builtin_clzll(x)) > 127) return false;
    u128 n = (u128)x << e;
    u128 d = pow10_tab[-q];
    u128 f = n / d;
    if (f >> 64) return false;
    *fl = (uint64_t)f;
    *rem = n - f * d;
    *den = d;
    return true;
}

/*
 * Shortest decimal digits*10^exp10 inside the interval of reals that round to m2*2^e2, and
 * among the shortest the one nearest the value (ties to even). lower_half: the float below is
 * half as far as the one above (m2 is a power of two). target: how many digits to compute
 * with, enough that every interval holds several integers. Returns false when 128 bits do not
 * suffice.
 */
static bool shortest_exact(uint64_t m2, int e2, bool lower_half, int target, uint64_t *digits,
                           int *exp10)
{
    bool even = (m2 & 1) == 0;
    uint64_t mv = m2 << 2, mp = mv + 2, mm = mv - (lower_half ? 1 : 2);
    int e = e2 - 2;
    int b = e2 + (63 - __builtin_clzll(m2)); /* 2^b <= v < 2^(b+1) */
    int q = target - floor_div(b * 78913, 1 << 18);
    uint64_t fm, fv, fp;
    u128 rm, dm, rv, dv, rp, dp;
    if (!scale_exact(mm, e, q, &fm, &rm, &dm) || !scale_exact(mv, e, q, &fv, &rv, &dv) ||
        !scale_exact(mp, e, q, &fp, &rp, &dp))
        return false;
    uint64_t lo = (rm == 0 && even) ? fm : fm + 1;
    uint64_t hi = (rp == 0 && !even) ? fp - 1 : fp;
    if (lo > hi) return false;

    int r = 0;
    uint64_t a = lo, z = hi;
    for (;;) {
        uint64_t a2 = a / 10 + (a % 10 != 0), z2 = z / 10;
        if (a2 > z2) break;
        a = a2;
        z = z2;
        r++;
    }
    uint64_t p10 = (uint64_t)pow10_tab[r];
    uint64_t t = fv / p10, rr = fv % p10;
    int cmp; /* remainder against half a unit: -1, 0 (exact tie), 1 */
    if (r == 0) {
        u128 twice = rv << 1;
        cmp = twice > dv ? 1 : twice == dv ? 0 : -1;
    } else {
        uint64_t half = p10 / 2;
        cmp = rr > half ? 1 : rr < half ? -1 : (rv != 0 ? 1 : 0);
    }
    uint64_t c = t + (cmp > 0 || (cmp == 0 && (t & 1)));
    if (c < a) c = a;
    if (c > z) c = z;
    int x = r - q;
    while (c != 0 && c % 10 == 0) {
        c /= 10;
        x++;
    }
    *digits = c;
    *exp10 = x;
    return true;
}

/* The same answer by asking printf for ever more digits until strtod/strtof reads the value
 * back; correct for every finite positive value, used where 128 bits are too few. */
static void shortest_search(double v, bool single, uint64_t *digits, int *exp10)
{
    char buf[48];
    for (int p = 0; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p, v);
        if (single ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v) break;
    }
    uint64_t d = 0;
    int nd = 0;
    const char *s = buf;
    for (; *s && *s != 'e'; s++) {
        if (*s >= '0' && *s <= '9') {
            d = d * 10 + (uint64_t)(*s - '0');
            nd++;
        }
    }
    int x = *s == 'e' ? atoi(s + 1) : 0;
    x -= nd - 1;
    while (d != 0 && d % 10 == 0) {
        d /= 10;
        x++;
    }
    *digits = d;
    *exp10 = x;
}

/* Lays out digits*10^exp10 like lexical-core: plain notation for decimal exponents -5..9
 * (always with a fraction, "1.0"), scientific outside ("1.0e10", "1.5e-7"). */
static size_t layout_float(char *out, bool negative, uint64_t digits, int exp10)
{
    char d[20];
    int n = (int)clove_fmt_u64(d, digits);
    int sci = exp10 + n - 1;
    size_t k = 0;
    if (negative) out[k++] = '-';
    if (sci < -5 || sci > 9) {
        out[k++] = d[0];
        out[k++] = '.';
        if (n > 1) {
            memcpy(out + k, d + 1, (size_t)n - 1);
            k += (size_t)n - 1;
        } else {
            out[k++] = '0';
        }
        out[k++] = 'e';
        return k + clove_fmt_i64(out + k, sci);
    }
    if (sci >= 0) {
        int whole = sci + 1;
        if (n <= whole) {
            memcpy(out + k, d, (size_t)n);
            k += (size_t)n;
            memset(out + k, '0', (size_t)(whole - n));
            k += (size_t)(whole - n);
            out[k++] = '.';
            out[k++] = '0';
            return k;
        }
        memcpy(out + k, d, (size_t)whole);
        k += (size_t)whole;
        out[k++] = '.';
        memcpy(out + k, d + whole, (size_t)(n - whole));
        return k + (size_t)(n - whole);
    }
    out[k++] = '0';
    out[k++] = '.';
    memset(out + k, '0', (size_t)(-sci - 1));
    k += (size_t)(-sci - 1);
    memcpy(out + k, d, (size_t)n);
    return k + (size_t)n;
}

size_t clove_fmt_double(char *out, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    bool negative = bits >> 63;
    uint64_t frac = bits & ((1ULL << 52) - 1);
    int ex = (int)((bits >> 52) & 0x7ff);
    if (ex == 0 && frac == 0) return layout_float(out, negative, 0, 0);
    pthread_once(&pow_once, pow_init);
    uint64_t digits;
    int exp10;
    bool ok = false;
    if (ex != 0) ok = shortest_exact(frac | (1ULL << 52), ex - 1075, frac == 0 && ex > 1, 17,
                                     &digits, &exp10);
    if (!ok) shortest_search(fabs(v), false, &digits, &exp10);
    return layout_float(out, negative, digits, exp10);
}

size_t clove_fmt_float(char *out, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    bool negative = bits >> 31;
    uint32_t frac = bits & ((1U << 23) - 1);
    int ex = (int)((bits >> 23) & 0xff);
    if (ex == 0 && frac == 0) return layout_float(out, negative, 0, 0);
    pthread_once(&pow_once, pow_init);
    uint64_t digits;
    int exp10;
    bool ok = false;
    if (ex != 0)
        ok = shortest_exact(frac | (1U << 23), ex - 150, frac == 0 && ex > 1, 9, &digits,
                            &exp10);
    if (!ok) shortest_search(fabs((double)v), true, &digits, &exp10);
    return layout_float(out, negative, digits, exp10);
}

/* ---- dates and times ------------------------------------------------------------------- */

static int64_t floor_div64(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && ((a < 0) != (b < 0)));
}

size_t clove_fmt_date(char *out, int64_t days)
{
    /* Civil date from a day count: shift the epoch to 0000-03-01 so leap days end a year,
     * then split into 400-year eras of 146097 days. */
    int64_t z = days + 719468;
    int64_t era = floor_div64(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t day = doy - (153 * mp + 2) / 5 + 1;
    int64_t month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = yoe + era * 400 + (month <= 2);

    size_t n = 0;
    if (year >= 0 && year <= 9999) {
        fmt_u64_padded(out, (uint64_t)year, 4);
        n = 4;
    } else {
        uint64_t mag = year < 0 ? 0 - (uint64_t)year : (uint64_t)year;
        out[n++] = year < 0 ? '-' : '+';
        if (mag < 1000) {
            fmt_u64_padded(out + n, mag, 4);
            n += 4;
        } else {
            n += clove_fmt_u64(out + n, mag);
        }
    }
    out[n++] = '-';
    fmt_2(out + n, (unsigned)month);
    n += 2;
    out[n++] = '-';
    fmt_2(out + n, (unsigned)day);
    return n + 2;
}

/* ".fff", ".ffffff" or ".fffffffff", the shortest of them that is exact; nothing for 0. */
static size_t fmt_fraction(char *out, uint32_t nanos)
{
    if (nanos == 0) return 0;
    out[0] = '.';
    if (nanos % 1000000 == 0) {
        fmt_u64_padded(out + 1, nanos / 1000000, 3);
        return 4;
    }
    if (nanos % 1000 == 0) {
        fmt_u64_padded(out + 1, nanos / 1000, 6);
        return 7;
    }
    fmt_u64_padded(out + 1, nanos, 9);
    return 10;
}

size_t clove_fmt_time_ns(char *out, int64_t nanos)
{
    size_t n = 0;
    uint64_t v = (uint64_t)nanos;
    if (nanos < 0) {
        out[n++] = '-';
        v = 0 - (uint64_t)nanos;
    }
    uint64_t secs = v / 1000000000ULL;
    uint64_t h = secs / 3600;
    if (h < 100) {
        fmt_2(out + n, (unsigned)h);
        n += 2;
    } else {
        n += clove_fmt_u64(out + n, h);
    }
    out[n++] = ':';
    fmt_2(out + n, (unsigned)(secs / 60 % 60));
    n += 2;
    out[n++] = ':';
    fmt_2(out + n, (unsigned)(secs % 60));
    n += 2;
    return n + fmt_fraction(out + n, (uint32_t)(v % 1000000000ULL));
}

size_t clove_fmt_timestamp(char *out, int64_t v, int64_t unit_ns)
{
    if (v == INT64_MAX) {
        memcpy(out, "infinity", 8);
        return 8;
    }
    if (v == -INT64_MAX) {
        memcpy(out, "-infinity", 9);
        return 9;
    }
    int64_t per_day = 86400000000000LL / unit_ns;
    int64_t days = v / per_day, rest = v % per_day; /* floored without overflow */
    if (rest < 0) {
        rest += per_day;
        days--;
    }
    size_t n = clove_fmt_date(out, days);
    out[n++] = 'T';
    return n + clove_fmt_time_ns(out + n, rest * unit_ns);
}

size_t clove_fmt_utc_offset(char *out, int32_t seconds)
{
    size_t n = 0;
    uint32_t v = seconds < 0 ? 0 - (uint32_t)seconds : (uint32_t)seconds;
    out[n++] = seconds < 0 ? '-' : '+';
    fmt_2(out + n, v / 3600);
    n += 2;
    out[n++] = ':';
    fmt_2(out + n, v / 60 % 60);
    n += 2;
    if (v % 60) {
        out[n++] = ':';
        fmt_2(out + n, v % 60);
        n += 2;
    }
    return n;
}

static size_t interval_part(char *out, size_t n, int64_t v, const char *unit)
{
    if (n) out[n++] = ' ';
    n += clove_fmt_i64(out + n, v);
    out[n++] = ' ';
    size_t ul = strlen(unit);
    memcpy(out + n, unit, ul);
    n += ul;
    if (v != 1 && v != -1) out[n++] = 's';
    return n;
}

size_t clove_fmt_interval(char *out, int32_t months, int32_t days, int64_t micros)
{
    size_t n = 0;
    int32_t years = months / 12;
    int32_t mons = months - years * 12;
    if (years) n = interval_part(out, n, years, "year");
    if (mons) n = interval_part(out, n, mons, "month");
    if (days) n = interval_part(out, n, days, "day");
    if (micros) {
        if (n) out[n++] = ' ';
        uint64_t v = (uint64_t)micros;
        if (micros < 0) {
            out[n++] = '-';
            v = 0 - (uint64_t)micros;
        }
        uint64_t secs = v / 1000000;
        uint64_t h = secs / 3600;
        if (h < 100) {
            fmt_2(out + n, (unsigned)h);
            n += 2;
        } else {
            n += clove_fmt_u64(out + n, h);
        }
        out[n++] = ':';
        fmt_2(out + n, (unsigned)(secs / 60 % 60));
        n += 2;
        out[n++] = ':';
        fmt_2(out + n, (unsigned)(secs % 60));
        n += 2;
        uint64_t us = v % 1000000;
        if (us) {
            out[n++] = '.';
            fmt_u64_padded(out + n, us, 6);
            n += 6;
            while (out[n - 1] == '0') n--;
        }
    } else if (n == 0) {
        memcpy(out, "00:00:00", 8);
        n = 8;
    }
    return n;
}

size_t clove_fmt_uuid(char *out, uint64_t hi, uint64_t lo)
{
    static const char hex[] = "0123456789abcdef";
    hi ^= 1ULL << 63;
    size_t n = 0;
    for (int i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20) out[n++] = '-';
        uint64_t w = i < 16 ? hi : lo;
        out[n++] = hex[(w >> (60 - 4 * (i % 16))) & 15];
    }
    return n;
}
