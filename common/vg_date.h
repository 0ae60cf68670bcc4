/* vg_date.h - calendar dates as YYYYMMDD integers, and the export date forms. */
#ifndef VG_DATE_H
#define VG_DATE_H

#include <stddef.h>
#include <stdint.h>

#include "vg_err.h"

/* A calendar date as the integer YYYYMMDD (2020-09-03 is 20200903); 0 means "no date".
 * Integer order is calendar order. */
typedef int32_t vg_date;

/* A point in time to the minute as YYYYMMDDHHMM; 0 means "none". */
typedef int64_t vg_datetime;

#define VG_DATE_NONE 0

/* Returns 1 when year/month/day name a real Gregorian day (1900 was no leap year). */
int vg_date_valid(int year, int month, int day);

/* Builds a vg_date from parts; returns VG_DATE_NONE when they name no real day. */
vg_date vg_date_make(int year, int month, int day);

/* Parses one date as the exports write it: 2020-09-03, 2020/9/3, 2020年9月3日, 20200903,
 * 2020.09.03, or an Excel serial day number (44077, 44077.75; serials below 61 are refused).
 * Leading and trailing ASCII or ideographic spaces are ignored. On success stores the date
 * in *out and returns VG_OK; otherwise returns VG_ERR_INVALID and writes a short reason
 * ("is empty", "is not a real day: 2026-02-30", ...) into why. Any thread. */
vg_err vg_date_parse(const char *text, vg_date *out, char *why, size_t whylen);

/* Parses a date with an optional time of day ("2023-02-23 17:07", "2023-02-23 17:07:45",
 * "2023-02-23T17:07"); the date part takes every form vg_date_parse takes. A missing time is
 * 00:00. Same error convention as vg_date_parse. */
vg_err vg_datetime_parse(const char *text, vg_datetime *out, char *why, size_t whylen);

/* Writes "YYYY-MM-DD" (11 bytes with the NUL) into buf; an empty string for VG_DATE_NONE. */
void vg_date_format(vg_date d, char *buf, size_t len);

/* Writes "YYYY-MM-DD HH:MM" into buf; an empty string for 0. */
void vg_datetime_format(vg_datetime t, char *buf, size_t len);

/* The date part of a vg_datetime. */
static inline vg_date vg_datetime_date(vg_datetime t)
{
    return (vg_date)(t / 10000);
}

/* Today's date in local time. */
vg_date vg_date_today(void);

#endif
