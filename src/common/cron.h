/*
 * cron: parses the standard 5-field cron schedules used by a dataset's
 * acceleration.refresh_cron ("minute hour day-of-month month day-of-week", evaluated in UTC)
 * and computes when a schedule next fires. A parsed schedule is a plain value (bitsets, no
 * allocation), so it can be copied freely and read from any thread.
 */
#ifndef CLOVE_CRON_H
#define CLOVE_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"

/* One bit per allowed value. Day-of-week uses bits 0-6 (0 = Sunday; 7 is folded into 0). */
typedef struct clove_cron {
    uint64_t minutes; /* bits 0-59 */
    uint32_t hours;   /* bits 0-23 */
    uint32_t mdays;   /* bits 1-31 */
    uint16_t months;  /* bits 1-12 */
    uint8_t wdays;    /* bits 0-6 */
    /* The field was written as a bare `*`. When both day fields are restricted (neither flag
     * set), a day fires if EITHER matches, as in Vixie cron and POSIX crontab. */
    bool mday_star;
    bool wday_star;
} clove_cron_t;

/*
 * Parses a 5-field expression such as "*\/5 * * * *" into *out. Each field accepts `*`,
 * numbers, ranges `a-b`, steps `*\/n`, `a-b/n` and `a/n` (a through the field's maximum), and
 * comma lists of those. The month field also takes JAN-DEC and day-of-week SUN-SAT (any case).
 * Day-of-week takes 0-7, 0 and 7 both Sunday; a range ending in Sunday ("FRI-SUN", "5-0")
 * runs to the end of the week; `*` and `a/n` there cover 0-6. The macros @yearly, @annually,
 * @monthly, @weekly, @daily, @midnight and @hourly stand for a whole expression.
 *
 * Returns 0, or CLOVE_EINVAL with err->message like
 * `invalid cron expression "61 * * * *": minute 61 is out of range 0-59`; *out is written
 * only on success. Six-field (seconds) expressions are rejected. Any thread.
 */
int clove_cron_parse(const char *expr, clove_cron_t *out, clove_err_t *err);

/*
 * The first whole minute strictly after after_ms (Unix ms, UTC) at which c fires, in Unix ms.
 * Returns -1 when nothing fires within the next 5 calendar years (e.g. "0 0 30 2 *"), or when
 * the answer is outside what the C library's time functions or int64 ms can represent.
 * Any thread.
 */
int64_t clove_cron_next(const clove_cron_t *c, int64_t after_ms);

#endif
