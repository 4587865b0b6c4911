/* Unit tests for src/common/cron.c: parsing, next fire times, and every parse error message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "common/common.h"
#include "common/cron.h"

/* "YYYY-MM-DD HH:MM[:SS]" (UTC) to Unix ms; seconds optional. */
static int64_t at(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int n = sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &tm.tm_sec);
    assert_true(n >= 5);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000;
}

/* Unix ms to "YYYY-MM-DD HH:MM:SS", or "none" for -1, so failures show readable times. */
static const char *fmt(int64_t ms, char *buf, size_t n)
{
    if (ms == -1) {
        snprintf(buf, n, "none");
        return buf;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
    if (ms % 1000 != 0) snprintf(buf + strlen(buf), n - strlen(buf), ".%03d", (int)(ms % 1000));
    return buf;
}

static void check_next(const char *expr, const char *after, const char *want)
{
    clove_cron_t c;
    clove_err_t err;
    clove_err_clear(&err);
    if (clove_cron_parse(expr, &c, &err) != 0) fail_msg("%s: %s", expr, err.message);
    int64_t got = clove_cron_next(&c, at(after));
    char gb[64], wb[64];
    fmt(got, gb, sizeof gb);
    snprintf(wb, sizeof wb, "%s", want);
    if (strcmp(want, "none") != 0) fmt(at(want), wb, sizeof wb);
    if (strcmp(gb, wb) != 0) fail_msg("\"%s\" after %s: got %s, want %s", expr, after, gb, wb);
}

static void test_basic_steps_lists(void **state)
{
    (void)state;
    check_next("* * * * *", "2024-01-01 00:00", "2024-01-01 00:01");
    check_next("* * * * *", "2024-01-01 00:00:59", "2024-01-01 00:01");
    check_next("*/5 * * * *", "2024-01-01 00:00", "2024-01-01 00:05");
    check_next("*/5 * * * *", "2024-01-01 00:03:30", "2024-01-01 00:05");
    check_next("*/5 * * * *", "2024-01-01 23:55", "2024-01-02 00:00");
    check_next("5/20 * * * *", "2024-01-01 00:25", "2024-01-01 00:45");
    check_next("5/20 * * * *", "2024-01-01 00:45", "2024-01-01 01:05");
    check_next("10-30/10 * * * *", "2024-01-01 00:30", "2024-01-01 01:10");
    check_next("10-30/10 * * * *", "2024-01-01 00:10", "2024-01-01 00:20");
    check_next("0 */6 * * *", "2024-01-01 06:00", "2024-01-01 12:00");
    check_next("30 4 1,15 * *", "2024-01-15 04:30", "2024-02-01 04:30");
    check_next("0,30 8-9 * * *", "2024-01-01 09:30", "2024-01-02 08:00");
    check_next("0 0 1 */3 *", "2024-02-10 00:00", "2024-04-01 00:00");
    check_next("0 0 1 2-12/5 *", "2024-08-01 00:00", "2024-12-01 00:00");
    check_next("1-3,58 0 * * *", "2024-01-01 00:03", "2024-01-01 00:58");
    check_next("*/15 9-17 * * 1-5", "2024-01-05 17:45", "2024-01-08 09:00");
    check_next("*/15 9-17 * * 1-5", "2024-01-08 09:00", "2024-01-08 09:15");
    check_next("59 23 31 12 *", "2024-12-31 23:59", "2025-12-31 23:59");
    check_next("0 0 1 1 *", "2024-06-15 12:00", "2025-01-01 00:00");
    check_next("0 0 * * *", "2024-12-31 12:00", "2025-01-01 00:00");
    check_next("*/1 * * * *", "2024-01-01 00:00", "2024-01-01 00:01");
    check_next("  0\t12  *  * *  ", "2024-01-01 00:00", "2024-01-01 12:00");
    check_next("0 0 1 * *", "2024-01-01 00:00:00.001", "2024-02-01 00:00");
}

static void test_month_ends_and_leap_years(void **state)
{
    (void)state;
    check_next("0 0 31 * *", "2024-01-31 00:00", "2024-03-31 00:00");
    check_next("0 0 31 * *", "2024-04-01 00:00", "2024-05-31 00:00");
    check_next("0 0 30 * *", "2024-01-30 00:00", "2024-03-30 00:00");
    check_next("0 0 29 * *", "2023-01-29 00:00", "2023-03-29 00:00");
    check_next("0 0 29 * *", "2024-01-29 00:00", "2024-02-29 00:00");
    check_next("0 0 29 2 *", "2023-01-01 00:00", "2024-02-29 00:00");
    check_next("0 0 29 2 *", "2024-03-01 00:00", "2028-02-29 00:00");
    /* 2100 is not a leap year; 2104 is still within 5 years of 2099. */
    check_next("0 0 29 2 *", "2099-03-01 00:00", "2104-02-29 00:00");
    check_next("0 0 29 2 *", "2097-01-01 00:00", "none");
    check_next("0 0 28 2 *", "2100-02-27 00:00", "2100-02-28 00:00");
    check_next("0 0 * 2 *", "2100-02-28 00:00", "2101-02-01 00:00");
    check_next("0 0 * 2 *", "2024-02-28 00:00", "2024-02-29 00:00");
    check_next("0 0 30 2 *", "2024-01-01 00:00", "none");
    check_next("0 0 31 4,6,9,11 *", "2024-01-01 00:00", "none");
    check_next("0 0 31 4,6,9,12 *", "2024-01-01 00:00", "2024-12-31 00:00");
}

static void test_day_of_week_and_or_rule(void **state)
{
    (void)state;
    /* 2024-01-01 is a Monday. */
    check_next("0 12 * * MON", "2024-01-01 12:00", "2024-01-08 12:00");
    check_next("0 12 * * 1", "2024-01-01 11:59", "2024-01-01 12:00");
    check_next("0 0 * * 0", "2024-01-01 00:00", "2024-01-07 00:00");
    check_next("0 0 * * 7", "2024-01-01 00:00", "2024-01-07 00:00");
    check_next("0 0 * * SUN", "2024-01-01 00:00", "2024-01-07 00:00");
    check_next("0 0 * * SAT-SUN", "2024-01-01 00:00", "2024-01-06 00:00");
    check_next("0 0 * * SAT-SUN", "2024-01-06 00:00", "2024-01-07 00:00");
    check_next("0 0 * * SAT-SUN", "2024-01-07 00:00", "2024-01-13 00:00");
    check_next("0 0 * * 5-0", "2024-01-01 00:00", "2024-01-05 00:00");
    check_next("0 0 * * 5-7", "2024-01-07 00:00", "2024-01-12 00:00");
    check_next("0 0 * * 0-7", "2024-01-01 00:00", "2024-01-02 00:00");
    check_next("0 0 * * mon,wed,FRI", "2024-01-03 00:00", "2024-01-05 00:00");
    check_next("0 0 * * */2", "2024-01-02 00:00", "2024-01-04 00:00"); /* SUN,TUE,THU,SAT */
    check_next("0 0 * * 1/2", "2024-01-05 00:00", "2024-01-08 00:00"); /* MON,WED,FRI */
    check_next("0 0 * * 7/2", "2024-01-01 00:00", "2024-01-07 00:00"); /* just SUN */
    /* Both day fields restricted: either may match. 2024-01-13 is a Saturday. */
    check_next("0 0 13 * FRI", "2024-01-01 00:00", "2024-01-05 00:00");
    check_next("0 0 13 * FRI", "2024-01-05 00:00", "2024-01-12 00:00");
    check_next("0 0 13 * FRI", "2024-01-12 00:00", "2024-01-13 00:00");
    check_next("0 0 13 * FRI", "2024-01-13 00:00", "2024-01-19 00:00");
    check_next("0 0 1 * MON", "2024-01-29 00:00", "2024-02-01 00:00");
    check_next("0 0 */10 * MON", "2024-01-02 00:00", "2024-01-08 00:00");
    check_next("0 0 */10 * MON", "2024-01-08 00:00", "2024-01-11 00:00");
    /* Only one restricted: it alone decides (the other field is a bare `*`). */
    check_next("0 0 13 * *", "2024-01-01 00:00", "2024-01-13 00:00");
    check_next("0 0 * * 5", "2024-01-01 00:00", "2024-01-05 00:00");
    /* The month still has to match under the OR rule. */
    check_next("0 0 13 6 FRI", "2024-01-01 00:00", "2024-06-07 00:00");
}

static void test_names(void **state)
{
    (void)state;
    check_next("0 0 1 jan,Jul *", "2024-02-01 00:00", "2024-07-01 00:00");
    check_next("0 0 1 JAN-MAR *", "2024-03-01 00:00", "2025-01-01 00:00");
    check_next("0 0 1 feb/4 *", "2024-07-01 00:00", "2024-10-01 00:00"); /* FEB,JUN,OCT */
    check_next("0 0 * DEC sun", "2024-01-01 00:00", "2024-12-01 00:00");
    check_next("0 0 1 1-Mar *", "2024-02-01 00:00", "2024-03-01 00:00");
}

static void test_macros(void **state)
{
    (void)state;
    check_next("@hourly", "2024-01-01 10:00", "2024-01-01 11:00");
    check_next("@hourly", "2024-01-01 10:59:59", "2024-01-01 11:00");
    check_next("@daily", "2024-02-28 23:59", "2024-02-29 00:00");
    check_next("@midnight", "2024-02-29 00:00", "2024-03-01 00:00");
    check_next("@weekly", "2024-01-01 00:00", "2024-01-07 00:00");
    check_next("@monthly", "2024-01-31 00:00", "2024-02-01 00:00");
    check_next("@yearly", "2024-01-01 00:00", "2025-01-01 00:00");
    check_next("@annually", "2023-12-31 23:59", "2024-01-01 00:00");
    check_next("  @DAILY ", "2024-01-01 00:00", "2024-01-02 00:00");

    clove_cron_t a, b;
    assert_int_equal(clove_cron_parse("@weekly", &a, NULL), 0);
    assert_int_equal(clove_cron_parse("0 0 * * 0", &b, NULL), 0);
    assert_memory_equal(&a, &b, sizeof a);
}

static void test_edges_of_time(void **state)
{
    (void)state;
    clove_cron_t c;
    assert_int_equal(clove_cron_parse("0 0 * * *", &c, NULL), 0);
    assert_int_equal(clove_cron_next(&c, -1), 0);
    assert_int_equal(clove_cron_next(&c, 0), 86400000);
    assert_int_equal(clove_cron_next(&c, -86400000 - 1), -86400000);
    check_next("30 * * * *", "1969-06-15 10:30", "1969-06-15 11:30");
    assert_int_equal(clove_cron_next(&c, INT64_MAX), -1);
    assert_int_equal(clove_cron_next(&c, INT64_MIN), -1);
    /* Near the end of int64 ms: the next midnight would not fit, and must not overflow. */
    assert_int_equal(clove_cron_next(&c, INT64_MAX - 1000), -1);
    assert_int_equal(clove_cron_next(&c, (INT64_MAX / 1000 - 3600) * 1000), -1);

    /* Results are whole minutes strictly after the input. */
    assert_int_equal(clove_cron_parse("* * * * *", &c, NULL), 0);
    assert_int_equal(clove_cron_next(&c, 60000), 120000);
    assert_int_equal(clove_cron_next(&c, 60001), 120000);
    assert_int_equal(clove_cron_next(&c, 59999), 60000);
}

/* ---- cross-check against a minute-by-minute search -------------------------------------- */

/* True if v is in the field text: a small, independent reading of the syntax (numbers only). */
static bool field_has(const char *field, int v, int star_lo, int star_hi, bool *star)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", field);
    *star = strcmp(field, "*") == 0;
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        int lo, hi, step = 1;
        char *slash = strchr(item, '/');
        if (slash) {
            step = atoi(slash + 1);
            *slash = '\0';
        }
        if (strcmp(item, "*") == 0) {
            lo = star_lo;
            hi = star_hi;
        } else if (strchr(item, '-')) {
            sscanf(item, "%d-%d", &lo, &hi);
        } else {
            lo = atoi(item);
            hi = slash ? star_hi : lo;
        }
        for (int x = lo; x <= hi; x += step)
            if (x == v) return true;
    }
    return false;
}

static bool brute_matches(const char *const f[5], const struct tm *tm)
{
    bool s, mday_star, wday_star;
    if (!field_has(f[0], tm->tm_min, 0, 59, &s)) return false;
    if (!field_has(f[1], tm->tm_hour, 0, 23, &s)) return false;
    if (!field_has(f[3], tm->tm_mon + 1, 1, 12, &s)) return false;
    bool mday = field_has(f[2], tm->tm_mday, 1, 31, &mday_star);
    bool wday = field_has(f[4], tm->tm_wday, 0, 6, &wday_star) ||
                (tm->tm_wday == 0 && field_has(f[4], 7, 0, 6, &wday_star));
    return (mday_star || wday_star) ? (mday && wday) : (mday || wday);
}

static void test_matches_brute_force(void **state)
{
    (void)state;
    static const char *const exprs[][5] = {
        {"*/7", "*", "*", "*", "*"},      {"13", "*/5", "*", "*", "*"},
        {"0", "0", "*/3", "*", "*"},      {"15,45", "8-18/2", "*", "*", "1-5"},
        {"0", "12", "1,15", "*", "3"},    {"59", "23", "31", "*", "*"},
        {"0", "0", "29", "2", "*"},       {"30", "2", "*", "*", "0"},
        {"5-10", "4", "13", "*", "5"},    {"0", "0", "1", "1-12/4", "*"},
        {"*", "3", "*/10", "6-8", "6,7"}, {"45", "*/4", "28-31", "*", "*"},
        {"0", "22", "*", "*", "1-5"},     {"0", "0", "*", "*", "*"},
    };
    uint32_t seed = 12345;
    for (size_t e = 0; e < sizeof exprs / sizeof exprs[0]; e++) {
        char text[128];
        snprintf(text, sizeof text, "%s %s %s %s %s", exprs[e][0], exprs[e][1], exprs[e][2],
                 exprs[e][3], exprs[e][4]);
        clove_cron_t c;
        clove_err_t err;
        if (clove_cron_parse(text, &c, &err) != 0) fail_msg("%s: %s", text, err.message);
        for (int trial = 0; trial < 3; trial++) {
            seed = seed * 1103515245u + 12345u;
            /* Somewhere in 2023-2026, at an arbitrary second. */
            int64_t start = at("2023-01-01 00:00") + (int64_t)(seed % (4u * 365u * 86400u)) * 1000;
            int64_t want = -1;
            /* Day by day for two years, minute by minute within each day. */
            int64_t day0 = (start / 86400000) * 86400000;
            for (int d = 0; d <= 2 * 366 && want < 0; d++) {
                for (int m = 0; m < 1440; m++) {
                    int64_t t = day0 + (int64_t)d * 86400000 + (int64_t)m * 60000;
                    if (t <= start) continue;
                    time_t secs = (time_t)(t / 1000);
                    struct tm tm;
                    gmtime_r(&secs, &tm);
                    if (m == 0 && !field_has(exprs[e][3], tm.tm_mon + 1, 1, 12, &(bool){0}))
                        break; /* whole day is in an unlisted month */
                    if (brute_matches(exprs[e], &tm)) {
                        want = t;
                        break;
                    }
                }
            }
            int64_t got = clove_cron_next(&c, start);
            char sb[64], gb[64], wb[64];
            if (want < 0) {
                /* Nothing in two years (Feb 29): only the real answer may be later. */
                if (got != -1 && got <= day0 + (int64_t)(2 * 366 + 1) * 86400000)
                    fail_msg("\"%s\" after %s: got %s, brute force found none", text,
                             fmt(start, sb, sizeof sb), fmt(got, gb, sizeof gb));
            } else if (got != want) {
                fail_msg("\"%s\" after %s: got %s, want %s", text, fmt(start, sb, sizeof sb),
                         fmt(got, gb, sizeof gb), fmt(want, wb, sizeof wb));
            }
        }
    }
}

/* ---- parse errors ----------------------------------------------------------------------- */

static void check_error(const char *expr, const char *want)
{
    clove_cron_t c, before;
    memset(&c, 0xab, sizeof c);
    before = c;
    clove_err_t err;
    clove_err_clear(&err);
    int rc = clove_cron_parse(expr, &c, &err);
    if (rc != CLOVE_EINVAL) fail_msg("\"%s\": expected CLOVE_EINVAL, got %d", expr, rc);
    assert_int_equal(err.code, CLOVE_EINVAL);
    if (strcmp(err.message, want) != 0)
        fail_msg("\"%s\":\n  got  %s\n  want %s", expr, err.message, want);
    assert_memory_equal(&c, &before, sizeof c); /* untouched on failure */
}

static void test_errors(void **state)
{
    (void)state;
#define F5 "use 5 fields (minute hour day-of-month month day-of-week)"
#define E5 "expected 5 fields (minute hour day-of-month month day-of-week)"
    check_error(NULL, "invalid cron expression \"\": expression is empty");
    check_error("", "invalid cron expression \"\": expression is empty");
    check_error(" \t ", "invalid cron expression \" \t \": expression is empty");
    check_error("* * * *", "invalid cron expression \"* * * *\": " E5 ", got 4");
    check_error("*", "invalid cron expression \"*\": " E5 ", got 1");
    check_error("0 0 * * * * 2024", "invalid cron expression \"0 0 * * * * 2024\": " E5 ", got 7");
    check_error("0 */5 * * * *", "invalid cron expression \"0 */5 * * * *\": got "
                                 "6 fields, but a seconds field is "
                                 "not supported; " F5);

    /* Out of range, per field. */
    check_error("61 * * * *",
                "invalid cron expression \"61 * * * *\": minute 61 is out of range 0-59");
    check_error("0 24 * * *",
                "invalid cron expression \"0 24 * * *\": hour 24 is out of range 0-23");
    check_error("0 0 0 * *", "invalid cron expression \"0 0 0 * *\": "
                             "day-of-month 0 is out of range 1-31");
    check_error("0 0 32 * *", "invalid cron expression \"0 0 32 * *\": "
                              "day-of-month 32 is out of range 1-31");
    check_error("0 0 1 13 *",
                "invalid cron expression \"0 0 1 13 *\": month 13 is out of range 1-12");
    check_error("0 0 1 0 *", "invalid cron expression \"0 0 1 0 *\": month 0 is out of range 1-12");
    check_error("0 0 * * 8", "invalid cron expression \"0 0 * * 8\": day-of-week "
                             "8 is out of range 0-7");
    check_error("0-60 * * * *", "invalid cron expression \"0-60 * * * *\": "
                                "minute 60 is out of range 0-59");
    check_error("99999999999 * * * *", "invalid cron expression \"99999999999 * * * *\": "
                                       "minute 99999999999 is out of range 0-59");

    /* Not a number, or not a name this field knows. */
    check_error("x * * * *", "invalid cron expression \"x * * * *\": minute \"x\" is not a number");
    check_error("0 MON * * *",
                "invalid cron expression \"0 MON * * *\": hour \"MON\" is not a number");
    check_error("0 0 1st * *", "invalid cron expression \"0 0 1st * *\": "
                               "day-of-month \"1st\" is not a number");
    check_error("0 0 1 FOO *", "invalid cron expression \"0 0 1 FOO *\": month \"FOO\" is not a "
                               "number or a month name (JAN-DEC)");
    check_error("0 0 1 JANUARY *", "invalid cron expression \"0 0 1 JANUARY *\": month "
                                   "\"JANUARY\" is not a number or a month name (JAN-DEC)");
    check_error("0 0 * * JAN", "invalid cron expression \"0 0 * * JAN\": day-of-week \"JAN\" is "
                               "not a number or a weekday name (SUN-SAT)");
    check_error("0 0 * * FUNDAY", "invalid cron expression \"0 0 * * FUNDAY\": day-of-week "
                                  "\"FUNDAY\" is not a number or a weekday name (SUN-SAT)");

    /* Ranges and steps. */
    check_error("30-10 * * * *", "invalid cron expression \"30-10 * * * *\": "
                                 "minute range 30-10 starts after it ends");
    check_error("0 0 * DEC-JAN *", "invalid cron expression \"0 0 * DEC-JAN *\": "
                                   "month range DEC-JAN starts after it "
                                   "ends");
    check_error("0 0 * * 6-1", "invalid cron expression \"0 0 * * 6-1\": "
                               "day-of-week range 6-1 starts after it "
                               "ends");
    check_error("*/0 * * * *", "invalid cron expression \"*/0 * * * *\": minute "
                               "step 0 is out of range 1-60");
    check_error("*/61 * * * *", "invalid cron expression \"*/61 * * * *\": "
                                "minute step 61 is out of range 1-60");
    check_error("0 0 * * */8", "invalid cron expression \"0 0 * * */8\": "
                               "day-of-week step 8 is out of range 1-7");

    /* Malformed items and lists. */
    check_error("1,,2 * * * *", "invalid cron expression \"1,,2 * * * *\": "
                                "minute has an empty list item");
    check_error("0 1, * * *",
                "invalid cron expression \"0 1, * * *\": hour has an empty list item");
    check_error("0 0 ,1 * *", "invalid cron expression \"0 0 ,1 * *\": "
                              "day-of-month has an empty list item");
    check_error("5- * * * *", "invalid cron expression \"5- * * * *\": minute "
                              "item \"5-\" is malformed");
    check_error("*/ * * * *", "invalid cron expression \"*/ * * * *\": minute "
                              "item \"*/\" is malformed");
    check_error("*/x * * * *", "invalid cron expression \"*/x * * * *\": minute "
                               "item \"*/x\" is malformed");
    check_error("5-10-15 * * * *", "invalid cron expression \"5-10-15 * * * *\": "
                                   "minute item \"5-10-15\" is malformed");
    check_error("1/2/3 * * * *", "invalid cron expression \"1/2/3 * * * *\": "
                                 "minute item \"1/2/3\" is malformed");
    check_error("-5 * * * *", "invalid cron expression \"-5 * * * *\": minute "
                              "item \"-5\" is malformed");
    check_error("0 0 ? * *", "invalid cron expression \"0 0 ? * *\": "
                             "day-of-month item \"?\" is malformed");
    check_error("0 0 L * *", "invalid cron expression \"0 0 L * *\": "
                             "day-of-month \"L\" is not a number");
    check_error("** * * * *", "invalid cron expression \"** * * * *\": minute "
                              "item \"**\" is malformed");

    /* Macros. */
    check_error("@reboot", "invalid cron expression \"@reboot\": unknown macro \"@reboot\"; "
                           "expected one of "
                           "@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly");
    check_error("@every 5m", "invalid cron expression \"@every 5m\": unknown macro \"@every\"; "
                             "expected one of "
                             "@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly");
    check_error("@daily 0", "invalid cron expression \"@daily 0\": @daily must "
                            "be the whole expression");
#undef F5
#undef E5
}

static void test_long_expression_is_cut_in_message(void **state)
{
    (void)state;
    char expr[4096];
    memset(expr, '1', sizeof expr - 1);
    expr[sizeof expr - 1] = '\0';
    clove_cron_t c;
    clove_err_t err;
    assert_int_equal(clove_cron_parse(expr, &c, &err), CLOVE_EINVAL);
    assert_true(strncmp(err.message, "invalid cron expression \"111", 28) == 0);
    assert_true(strlen(err.message) < CLOVE_ERR_MSG_MAX);
    /* The quoted expression is cut, but the reason still follows it. */
    assert_non_null(strstr(err.message, "111\": expected 5 fields"));
    assert_non_null(strstr(err.message, ", got 1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_steps_lists),
        cmocka_unit_test(test_month_ends_and_leap_years),
        cmocka_unit_test(test_day_of_week_and_or_rule),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_macros),
        cmocka_unit_test(test_edges_of_time),
        cmocka_unit_test(test_matches_brute_force),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_long_expression_is_cut_in_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
