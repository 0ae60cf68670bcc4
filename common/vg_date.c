/* vg_date.c - calendar dates as YYYYMMDD integers, and the date forms the department
 * exports write. */
#include "vg_date.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Excel's day 0 is 1899-12-30; serials below 61 fall before 1 March 1900, where Excel
 * counts a 29 February 1900 that never was. */
#define EXCEL_FIRST_SERIAL 61
#define EXCEL_LAST_SERIAL  2958465 /* 9999-12-31 */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int vg_date_valid(int year, int month, int day)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1)
        return 0;
    if (month == 2 && is_leap(year))
        return day <= 29;
    return day <= mdays[month - 1];
}

vg_date vg_date_make(int year, int month, int day)
{
    if (!vg_date_valid(year, month, day))
        return VG_DATE_NONE;
    return (vg_date)(year * 10000 + month * 100 + day);
}

/* Days since 1970-01-01 of a proleptic Gregorian date. Years are counted from 1 March so
 * that the leap day falls at the end of the counting year. */
static long days_from_civil(int y, int m, int d)
{
    long yy = y - (m <= 2);
    long era = (yy >= 0 ? yy : yy - 399) / 400;
    long yoe = yy - era * 400;                        /* 0..399 */
    long mp = (m + 9) % 12;                           /* March is 0 */
    long doy = (153 * mp + 2) / 5 + d - 1;            /* 0..365 */
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* 0..146096 */
    return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil. */
static void civil_from_days(long z, int *y, int *m, int *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* Narrows [*s, *e) past leading and trailing ASCII spaces, tabs and U+3000. */
static void trim_spaces(const char **s, const char **e)
{
    const char *a = *s, *b = *e;

    for (;;) {
        if (a < b && (*a == ' ' || *a == '\t')) {
            a++;
        } else if (b - a >= 3 && memcmp(a, "\xE3\x80\x80", 3) == 0) {
            a += 3;
        } else {
            break;
        }
    }
    for (;;) {
        if (b > a && (b[-1] == ' ' || b[-1] == '\t')) {
            b--;
        } else if (b - a >= 3 && memcmp(b - 3, "\xE3\x80\x80", 3) == 0) {
            b -= 3;
        } else {
            break;
        }
    }
    *s = a;
    *e = b;
}

/* Reads 1..max digits at *p (not past e) into *val; returns the count read. */
static int read_digits(const char **p, const char *e, int max, long *val)
{
    const char *q = *p;
    long v = 0;
    int n = 0;

    while (q < e && n < max && is_digit(*q)) {
        v = v * 10 + (*q - '0');
        q++;
        n++;
    }
    *p = q;
    *val = v;
    return n;
}

/* Consumes the literal lit at *p when present. */
static int eat(const char **p, const char *e, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(e - *p) < n || memcmp(*p, lit, n) != 0)
        return 0;
    *p += n;
    return 1;
}

typedef enum date_form { FORM_NONE, FORM_CALENDAR, FORM_SERIAL } date_form;

/* The result of reading a date part: the form found, the parts, and for an Excel serial
 * the day number and the fraction of the day in minutes. */
typedef struct date_parts {
    date_form form;
    long y, m, d;
    long serial;
    int minutes;
} date_parts;

/* YYYY-M-D, YYYY/M/D or YYYY.M.D (one separator throughout), or YYYY年M月D日. */
static int read_separated(const char **p, const char *e, date_parts *dp)
{
    const char *q = *p;

    if (read_digits(&q, e, 4, &dp->y) != 4 || q >= e)
        return 0;
    if (*q == '-' || *q == '/' || *q == '.') {
        char sep[2] = {*q, '\0'};
        q++;
        if (read_digits(&q, e, 2, &dp->m) == 0 || !eat(&q, e, sep))
            return 0;
        if (read_digits(&q, e, 2, &dp->d) == 0)
            return 0;
    } else {
        if (!eat(&q, e, "年") || read_digits(&q, e, 2, &dp->m) == 0 || !eat(&q, e, "月") ||
            read_digits(&q, e, 2, &dp->d) == 0 || !eat(&q, e, "日"))
            return 0;
    }
    if (q < e && is_digit(*q))
        return 0;
    dp->form = FORM_CALENDAR;
    *p = q;
    return 1;
}

/* An Excel serial day number with an optional fraction: 44077 or 44077.75. */
static int read_serial(const char **p, const char *e, date_parts *dp)
{
    const char *q = *p;
    double frac = 0.0, scale = 0.1;

    if (read_digits(&q, e, 7, &dp->serial) == 0 || (q < e && is_digit(*q)))
        return 0;
    if (q < e && *q == '.') {
        q++;
        if (q >= e || !is_digit(*q))
            return 0;
        while (q < e && is_digit(*q)) {
            frac += (*q - '0') * scale;
            scale /= 10.0;
            q++;
        }
    }
    dp->minutes = (int)(frac * 1440.0 + 0.5);
    if (dp->minutes >= 1440)
        dp->minutes = 1439;
    dp->form = FORM_SERIAL;
    *p = q;
    return 1;
}

/* Reads the date part of [*p, e) in any export form and advances *p past it. */
static void read_date_part(const char **p, const char *e, date_parts *dp)
{
    const char *q = *p;

    memset(dp, 0, sizeof(*dp));
    if (read_separated(&q, e, dp)) {
        *p = q;
        return;
    }

    /* Eight digits are YYYYMMDD; an Excel serial never has that many before 9999. */
    q = *p;
    if (e - q >= 8 && read_digits(&q, e, 8, &dp->y) == 8 && (q == e || !is_digit(*q)) &&
        (q == e || *q != '.')) {
        dp->d = dp->y % 100;
        dp->m = dp->y / 100 % 100;
        dp->y /= 10000;
        dp->form = FORM_CALENDAR;
        *p = q;
        return;
    }

    q = *p;
    if (read_serial(&q, e, dp))
        *p = q;
}

/* Turns parsed parts into a date, or explains why they name none. */
static vg_err finish_date(const date_parts *dp, vg_date *out, char *why, size_t whylen)
{
    int y, m, d;

    if (dp->form == FORM_CALENDAR) {
        if (!vg_date_valid((int)dp->y, (int)dp->m, (int)dp->d)) {
            vg_why(why, whylen, "is not a real day: %04ld-%02ld-%02ld", dp->y, dp->m, dp->d);
            return VG_ERR_INVALID;
        }
        *out = vg_date_make((int)dp->y, (int)dp->m, (int)dp->d);
        return VG_OK;
    }
    if (dp->serial < EXCEL_FIRST_SERIAL) {
        vg_why(why, whylen,
               "is an Excel day number below 61 (before 1900-03-01), which Excel "
               "counts wrongly");
        return VG_ERR_INVALID;
    }
    if (dp->serial > EXCEL_LAST_SERIAL) {
        vg_why(why, whylen, "is an Excel day number past 9999-12-31");
        return VG_ERR_INVALID;
    }
    civil_from_days(days_from_civil(1899, 12, 30) + dp->serial, &y, &m, &d);
    *out = vg_date_make(y, m, d);
    return VG_OK;
}

static const char not_a_date[] = "is not a date in a form the exports use (2020-09-03, 2020/9/3, "
                                 "2020年9月3日, 20200903, 2020.09.03 or an Excel day number)";

vg_err vg_date_parse(const char *text, vg_date *out, char *why, size_t whylen)
{
    const char *s, *e, *p;
    date_parts dp;
    vg_date d = VG_DATE_NONE;
    vg_err rc;

    *out = VG_DATE_NONE;
    if (text == NULL)
        text = "";
    s = text;
    e = text + strlen(text);
    trim_spaces(&s, &e);
    if (s == e) {
        vg_why(why, whylen, "is empty");
        return VG_ERR_INVALID;
    }

    p = s;
    read_date_part(&p, e, &dp);
    if (dp.form == FORM_NONE || p != e) {
        vg_why(why, whylen, "%s", not_a_date);
        return VG_ERR_INVALID;
    }
    rc = finish_date(&dp, &d, why, whylen);
    if (rc == VG_OK)
        *out = d;
    return rc;
}

/* Reads H:MM or HH:MM with optional :SS from [p, e) to the end; returns minutes of the
 * day, or -1 when the text is no time of day. */
static int read_time(const char *p, const char *e)
{
    long h, m, sec = 0;

    if (read_digits(&p, e, 2, &h) == 0 || !eat(&p, e, ":") || read_digits(&p, e, 2, &m) != 2)
        return -1;
    if (eat(&p, e, ":") && read_digits(&p, e, 2, &sec) != 2)
        return -1;
    if (p != e || h > 23 || m > 59 || sec > 59)
        return -1;
    return (int)(h * 60 + m);
}

vg_err vg_datetime_parse(const char *text, vg_datetime *out, char *why, size_t whylen)
{
    const char *s, *e, *p, *t;
    date_parts dp;
    vg_date d = VG_DATE_NONE;
    int minutes = 0;
    vg_err rc;

    *out = 0;
    if (text == NULL)
        text = "";
    s = text;
    e = text + strlen(text);
    trim_spaces(&s, &e);
    if (s == e) {
        vg_why(why, whylen, "is empty");
        return VG_ERR_INVALID;
    }

    p = s;
    read_date_part(&p, e, &dp);
    if (dp.form == FORM_NONE) {
        vg_why(why, whylen, "%s", not_a_date);
        return VG_ERR_INVALID;
    }
    if (dp.form == FORM_SERIAL)
        minutes = dp.minutes;

    /* An optional time after spaces or a 'T'. */
    if (p != e) {
        t = p;
        if (*t == 'T') {
            t++;
        } else {
            trim_spaces(&t, &e);
            if (t == p) {
                vg_why(why, whylen, "%s", not_a_date);
                return VG_ERR_INVALID;
            }
        }
        minutes = read_time(t, e);
        if (minutes < 0) {
            vg_why(why, whylen, "has a time of day that is not HH:MM or HH:MM:SS");
            return VG_ERR_INVALID;
        }
    }

    rc = finish_date(&dp, &d, why, whylen);
    if (rc != VG_OK)
        return rc;
    *out = (vg_datetime)d * 10000 + minutes / 60 * 100 + minutes % 60;
    return VG_OK;
}

void vg_date_format(vg_date d, char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return;
    if (d == VG_DATE_NONE) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02d", (int)(d / 10000), (int)(d / 100 % 100), (int)(d % 100));
}

void vg_datetime_format(vg_datetime t, char *buf, size_t len)
{
    vg_date d = vg_datetime_date(t);
    int hm = (int)(t % 10000);

    if (buf == NULL || len == 0)
        return;
    if (t == 0) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02d %02d:%02d", (int)(d / 10000), (int)(d / 100 % 100),
             (int)(d % 100), hm / 100, hm % 100);
}

vg_date vg_date_today(void)
{
    time_t now = time(NULL);
    struct tm tm;

    if (localtime_r(&now, &tm) == NULL)
        return VG_DATE_NONE;
    return vg_date_make(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}
