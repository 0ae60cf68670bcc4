/* test_date.c - the date forms of the department exports, and their refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vg_date.h"

#define IDSP "\xE3\x80\x80" /* U+3000, the ideographic space */

/* Parses text and asserts it is the date want. */
static void expect_date(const char *text, vg_date want)
{
    vg_date d = -1;
    char why[200] = "";

    if (vg_date_parse(text, &d, why, sizeof(why)) != VG_OK)
        fail_msg("'%s' refused: %s", text, why);
    assert_int_equal(d, want);
}

/* Parses text, asserts it is refused and that the reason holds part. */
static void expect_refused(const char *text, const char *part)
{
    vg_date d = -1;
    char why[200] = "";

    assert_int_equal(vg_date_parse(text, &d, why, sizeof(why)), VG_ERR_INVALID);
    assert_int_equal(d, VG_DATE_NONE);
    if (strstr(why, part) == NULL)
        fail_msg("'%s': reason '%s' lacks '%s'", text, why, part);
}

static void test_valid_calendar(void **state)
{
    (void)state;
    assert_true(vg_date_valid(2020, 2, 29));
    assert_true(vg_date_valid(2000, 2, 29));
    assert_false(vg_date_valid(1900, 2, 29));
    assert_false(vg_date_valid(2023, 2, 29));
    assert_false(vg_date_valid(2026, 2, 30));
    assert_false(vg_date_valid(2026, 4, 31));
    assert_true(vg_date_valid(2026, 12, 31));
    assert_false(vg_date_valid(2026, 13, 1));
    assert_false(vg_date_valid(2026, 0, 1));
    assert_false(vg_date_valid(2026, 1, 0));
    assert_int_equal(vg_date_make(2020, 9, 3), 20200903);
    assert_int_equal(vg_date_make(2021, 2, 29), VG_DATE_NONE);
}

static void test_every_form(void **state)
{
    (void)state;
    expect_date("2020-09-03", 20200903);
    expect_date("2020/9/3", 20200903);
    expect_date("2020/09/03", 20200903);
    expect_date("2020年9月3日", 20200903);
    expect_date("2020年12月31日", 20201231);
    expect_date("20200903", 20200903);
    expect_date("2020.09.03", 20200903);
    expect_date("2020.9.3", 20200903);
    expect_date("2020-9-3", 20200903);
}

static void test_spaces_trimmed(void **state)
{
    (void)state;
    expect_date("  2020-09-03 ", 20200903);
    expect_date("\t20200903\t", 20200903);
    expect_date(IDSP "2020/9/3" IDSP, 20200903);
    expect_refused("2020 -09-03", "not a date");
}

static void test_excel_serial(void **state)
{
    (void)state;
    expect_date("44077", 20200903);
    expect_date("44077.75", 20200903);
    expect_date("44077.0", 20200903);
    expect_date("61", 19000301);
    expect_date("43890", 20200229); /* a leap day */
    expect_date("2958465", 99991231);
    expect_date("367", 19010101);
    expect_date("36585", 20000229);
    expect_date("73110", 21000301);
}

/* Walks serials 61.. up to 2101 one day at a time: each must be the day after the last. */
static void test_excel_serial_walk(void **state)
{
    char text[32], why[200];
    vg_date prev = 19000228, d;

    (void)state;
    for (long s = 61; s < 73400; s++) {
        int y, m, dd;

        snprintf(text, sizeof(text), "%ld", s);
        assert_int_equal(vg_date_parse(text, &d, why, sizeof(why)), VG_OK);
        y = prev / 10000;
        m = prev / 100 % 100;
        dd = prev % 100 + 1;
        if (!vg_date_valid(y, m, dd)) {
            dd = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
        assert_int_equal(d, vg_date_make(y, m, dd));
        prev = d;
    }
}

static void test_excel_serial_refusals(void **state)
{
    (void)state;
    expect_refused("60", "below 61");
    expect_refused("1", "below 61");
    expect_refused("0", "below 61");
    expect_refused("2958466", "past 9999");
    expect_refused("44077.", "not a date");
    expect_refused("44077.7.5", "not a date");
}

static void test_refusals(void **state)
{
    (void)state;
    expect_refused("2026-02-30", "not a real day: 2026-02-30");
    expect_refused("2026-13-01", "not a real day: 2026-13-01");
    expect_refused("2026/13/1", "not a real day: 2026-13-01");
    expect_refused("20260230", "not a real day");
    expect_refused("1900-02-29", "not a real day");
    expect_refused("2000年2月30日", "not a real day");
    expect_refused("", "is empty");
    expect_refused("   ", "is empty");
    expect_refused(IDSP, "is empty");
    expect_refused(NULL, "is empty");
    expect_refused("garbage", "not a date");
    expect_refused("2020-09/03", "not a date");
    expect_refused("2020-09-031", "not a date");
    expect_refused("202009031", "not a date");
    expect_refused("20-09-03", "not a date");
    expect_refused("2020年9月3", "not a date");
    expect_refused("2020-09-03x", "not a date");
    expect_refused("-44077", "not a date");
}

static void test_leap_years(void **state)
{
    (void)state;
    expect_date("2000-02-29", 20000229);
    expect_date("2024/2/29", 20240229);
    expect_refused("2023-02-29", "not a real day");
    expect_refused("2100-02-29", "not a real day");
}

static void expect_datetime(const char *text, vg_datetime want)
{
    vg_datetime t = -1;
    char why[200] = "";

    if (vg_datetime_parse(text, &t, why, sizeof(why)) != VG_OK)
        fail_msg("'%s' refused: %s", text, why);
    assert_int_equal(t, want);
}

static void test_datetime(void **state)
{
    vg_datetime t = 5;
    char why[200] = "";

    (void)state;
    expect_datetime("2023-02-23 17:07", 202302231707LL);
    expect_datetime("2023-02-23 17:07:45", 202302231707LL);
    expect_datetime("2023-02-23T17:07", 202302231707LL);
    expect_datetime("2023-02-23", 202302230000LL);
    expect_datetime(" 2023/2/23  9:05 ", 202302230905LL);
    expect_datetime("20230223 00:00", 202302230000LL);
    expect_datetime("2023年2月23日 17:07", 202302231707LL);
    expect_datetime("44077.75", 202009031800LL);

    assert_int_equal(vg_datetime_parse("2023-02-23 24:00", &t, why, sizeof(why)), VG_ERR_INVALID);
    assert_int_equal(t, 0);
    assert_non_null(strstr(why, "time of day"));
    assert_int_equal(vg_datetime_parse("2023-02-23 17:60", &t, why, sizeof(why)), VG_ERR_INVALID);
    assert_int_equal(vg_datetime_parse("2023-02-23 17:07:", &t, why, sizeof(why)), VG_ERR_INVALID);
    assert_int_equal(vg_datetime_parse("2023-02-23 17", &t, why, sizeof(why)), VG_ERR_INVALID);
    assert_int_equal(vg_datetime_parse("2023-02-2317:07", &t, why, sizeof(why)), VG_ERR_INVALID);
    assert_int_equal(vg_datetime_parse("2023-02-30 17:07", &t, why, sizeof(why)), VG_ERR_INVALID);
    assert_non_null(strstr(why, "not a real day: 2023-02-30"));
    assert_int_equal(vg_datetime_parse("", &t, why, sizeof(why)), VG_ERR_INVALID);
    assert_string_equal(why, "is empty");
}

static void test_format(void **state)
{
    char buf[32];

    (void)state;
    vg_date_format(20200903, buf, sizeof(buf));
    assert_string_equal(buf, "2020-09-03");
    vg_date_format(VG_DATE_NONE, buf, sizeof(buf));
    assert_string_equal(buf, "");
    vg_datetime_format(202302231707LL, buf, sizeof(buf));
    assert_string_equal(buf, "2023-02-23 17:07");
    vg_datetime_format(0, buf, sizeof(buf));
    assert_string_equal(buf, "");
    assert_int_equal(vg_datetime_date(202302231707LL), 20230223);
}

static void test_today(void **state)
{
    vg_date d = vg_date_today();

    (void)state;
    assert_true(d > 20250101);
    assert_true(vg_date_valid(d / 10000, d / 100 % 100, d % 100));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_calendar),
        cmocka_unit_test(test_every_form),
        cmocka_unit_test(test_spaces_trimmed),
        cmocka_unit_test(test_excel_serial),
        cmocka_unit_test(test_excel_serial_walk),
        cmocka_unit_test(test_excel_serial_refusals),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_leap_years),
        cmocka_unit_test(test_datetime),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_today),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
