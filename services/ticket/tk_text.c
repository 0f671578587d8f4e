/* tk_text.c: UTF-8 / control character checks and RFC 3339 parsing. */
#include "tk_text.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int tk_text_clean(const char *s, int multi_line)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        if (c < 0x80) {
            if ((c < 0x20 || c == 0x7f) && !(multi_line && (c == '\t' || c == '\n' || c == '\r')))
                return 0;
            p++;
            continue;
        }
        int extra;
        unsigned cp;
        if (c >= 0xc2 && c <= 0xdf)
            extra = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            extra = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            extra = 3, cp = c & 0x07;
        else
            return 0;
        for (int i = 1; i <= extra; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        /* Overlong forms, surrogates and beyond U+10FFFF are not UTF-8. */
        if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        /* C1 controls (U+0080..U+009F) are as unwelcome as C0 ones. */
        if (cp < 0xa0)
            return 0;
        p += extra + 1;
    }
    return 1;
}

int tk_text_has_content(const char *s)
{
    for (; s && *s; s++)
        if (!isspace((unsigned char)*s))
            return 1;
    return 0;
}

/* Reads exactly n digits at *p; -1 if any is not a digit. */
static int digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int month_days(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(reason, reason_size, __VA_ARGS__);                                                \
        return -1;                                                                                 \
    } while (0)

int tk_parse_time(const char *text, int64_t *out_ms, char *reason, size_t reason_size)
{
    const char *want = "use RFC 3339 with a zone, e.g. 2026-11-27T09:15:00+01:00";
    if (!text || !*text)
        FAIL("is required: when the problem happened (%s)", want);
    const char *p = text;
    int y = digits(&p, 4);
    if (y < 0 || *p++ != '-')
        FAIL("is not a date and time: %s", want);
    int mo = digits(&p, 2);
    if (mo < 0 || *p++ != '-')
        FAIL("is not a date and time: %s", want);
    int d = digits(&p, 2);
    if (d < 0)
        FAIL("is not a date and time: %s", want);
    if (*p != 'T' && *p != 't' && *p != ' ')
        FAIL("has no time of day: %s", want);
    p++;
    int h = digits(&p, 2);
    if (h < 0 || *p++ != ':')
        FAIL("has no valid time of day: %s", want);
    int mi = digits(&p, 2);
    if (mi < 0)
        FAIL("has no valid time of day: %s", want);
    int s = 0, ms = 0;
    if (*p == ':') {
        p++;
        if ((s = digits(&p, 2)) < 0)
            FAIL("has invalid seconds: %s", want);
        if (*p == '.') {
            p++;
            int n = 0;
            for (; isdigit((unsigned char)*p); p++, n++)
                if (n < 3)
                    ms = ms * 10 + (*p - '0');
            if (n == 0)
                FAIL("has an empty fraction of a second: %s", want);
            for (; n < 3; n++)
                ms *= 10;
        }
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        int oh = digits(&p, 2);
        if (oh < 0 || *p++ != ':')
            FAIL("has a malformed zone offset (want +HH:MM): %s", want);
        int om = digits(&p, 2);
        if (om < 0 || oh > 23 || om > 59)
            FAIL("has a malformed zone offset (want +HH:MM): %s", want);
        offset_min = sign * (oh * 60 + om);
    } else if (*p == '\0') {
        FAIL("has no time zone: add Z or an offset such as +01:00 (%s)", want);
    } else {
        FAIL("has unexpected text after the time: %s", want);
    }
    if (*p != '\0')
        FAIL("has unexpected text after the zone: %s", want);
    if (y < 2000 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 || mi > 59 ||
        s > 60)
        FAIL("is not a real date and time (year from 2000, month 1-12, valid day, 00:00-23:59)");
    if (s == 60)
        s = 59; /* a leap second: close enough for a support ticket */
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s -
                   (int64_t)offset_min * 60;
    *out_ms = secs * 1000 + ms;
    return 0;
}
