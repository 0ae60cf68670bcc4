/* test_csv.c - reading department exports: quoting, line ends, encodings, faults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <iconv.h>

#include "vg_csv.h"

#define IDSP "\xE3\x80\x80" /* U+3000, the ideographic space */

/* Opens text (len bytes) and asserts it is accepted. */
static vg_csv *open_ok(const char *text, size_t len)
{
    vg_csv *c = NULL;
    char why[256] = "";

    if (vg_csv_open_buffer(text, len, &c, why, sizeof(why)) != VG_OK)
        fail_msg("refused at open: %s", why);
    assert_non_null(c);
    return c;
}

static vg_csv *open_str(const char *text)
{
    return open_ok(text, strlen(text));
}

/* Reads the next record and asserts its line, field count and error state. */
static void next_row(vg_csv *c, vg_csv_row *row, size_t line, size_t nfields, int bad)
{
    assert_int_equal(vg_csv_next(c, row), 1);
    assert_int_equal(row->line, line);
    assert_int_equal(row->nfields, nfields);
    if (bad)
        assert_non_null(row->error);
    else if (row->error != NULL)
        fail_msg("line %zu: unexpected error: %s", row->line, row->error);
}

static void expect_end(vg_csv *c)
{
    vg_csv_row row;

    assert_int_equal(vg_csv_next(c, &row), 0);
    assert_int_equal(vg_csv_next(c, &row), 0);
}

/* Converts UTF-8 text to GB18030 with iconv; the caller frees the result. */
static char *to_gb18030(const char *utf8, size_t *outlen)
{
    iconv_t cd = iconv_open("GB18030", "UTF-8");
    size_t inleft = strlen(utf8), cap = inleft * 2 + 8, oleft = cap;
    char *in = (char *)utf8, *buf = malloc(cap), *o = buf;

    assert_true(cd != (iconv_t)-1);
    assert_non_null(buf);
    assert_true(iconv(cd, &in, &inleft, &o, &oleft) != (size_t)-1);
    iconv_close(cd);
    *outlen = cap - oleft;
    return buf;
}

static void test_plain_and_quoted(void **state)
{
    vg_csv *c;
    vg_csv_row row;

    (void)state;
    c = open_str("id,name,address\n"
                 "1,plain,\"Road 5, block 2\"\n"
                 "2,\"say \"\"hi\"\"\",\"\"\n"
                 "3,\"\",x\n");
    assert_int_equal(vg_csv_columns(c), 3);
    assert_string_equal(vg_csv_column(c, 0), "id");
    assert_string_equal(vg_csv_column(c, 2), "address");
    assert_null(vg_csv_column(c, 3));
    assert_int_equal(vg_csv_find_column(c, "name"), 1);
    assert_int_equal(vg_csv_find_column(c, "nope"), -1);
    assert_int_equal(vg_csv_encoding(c), VG_ENC_UTF8);

    next_row(c, &row, 2, 3, 0);
    assert_string_equal(row.fields[0], "1");
    assert_string_equal(row.fields[1], "plain");
    assert_string_equal(row.fields[2], "Road 5, block 2");
    next_row(c, &row, 3, 3, 0);
    assert_string_equal(row.fields[1], "say \"hi\"");
    assert_string_equal(row.fields[2], "");
    next_row(c, &row, 4, 3, 0);
    assert_string_equal(row.fields[1], "");
    assert_string_equal(row.fields[2], "x");
    expect_end(c);
    vg_csv_close(c);
}

static void test_embedded_newlines(void **state)
{
    vg_csv *c;
    vg_csv_row row;

    (void)state;
    c = open_str("id,note\r\n"
                 "1,\"two\nlines\"\r\n"
                 "2,\"crlf\r\ninside, and\r\nmore\"\r\n"
                 "3,\"\"\"quoted\"\"\nstart\"\r\n"
                 "4,last\r\n");
    next_row(c, &row, 2, 2, 0);
    assert_string_equal(row.fields[1], "two\nlines");
    next_row(c, &row, 4, 2, 0);
    assert_string_equal(row.fields[1], "crlf\r\ninside, and\r\nmore");
    next_row(c, &row, 7, 2, 0);
    assert_string_equal(row.fields[1], "\"quoted\"\nstart");
    next_row(c, &row, 9, 2, 0);
    assert_string_equal(row.fields[1], "last");
    expect_end(c);
    vg_csv_close(c);
}

static void test_line_ends(void **state)
{
    vg_csv *c;
    vg_csv_row row;

    (void)state;
    /* CRLF throughout, no final line end */
    c = open_str("a,b\r\n1,2\r\n3,4");
    next_row(c, &row, 2, 2, 0);
    assert_string_equal(row.fields[1], "2");
    next_row(c, &row, 3, 2, 0);
    assert_string_equal(row.fields[0], "3");
    assert_string_equal(row.fields[1], "4");
    expect_end(c);
    vg_csv_close(c);

    /* bare CR, as old spreadsheets write, and a mix */
    c = open_str("a,b\r1,2\r3,4\n5,6\r\n");
    next_row(c, &row, 2, 2, 0);
    next_row(c, &row, 3, 2, 0);
    next_row(c, &row, 4, 2, 0);
    assert_string_equal(row.fields[0], "5");
    assert_string_equal(row.fields[1], "6");
    expect_end(c);
    vg_csv_close(c);
}

static void test_blank_lines(void **state)
{
    vg_csv *c;
    vg_csv_row row;

    (void)state;
    c = open_str("\r\n\na,b\r\n\r\n1,2\n  \n\t\r\n,\n,,,\n3,4\n\n\n");
    assert_int_equal(vg_csv_columns(c), 2);
    assert_string_equal(vg_csv_column(c, 0), "a");
    next_row(c, &row, 5, 2, 0);
    assert_string_equal(row.fields[0], "1");
    next_row(c, &row, 10, 2, 0);
    assert_string_equal(row.fields[0], "3");
    expect_end(c);
    vg_csv_close(c);
}

static void test_bom(void **state)
{
    vg_csv *c;
    vg_csv_row row;

    (void)state;
    c = open_str("\xEF\xBB\xBFname,id\r\n张三,1\r\n");
    assert_int_equal(vg_csv_encoding(c), VG_ENC_UTF8_BOM);
    assert_string_equal(vg_encoding_name(vg_csv_encoding(c)), "UTF-8 with BOM");
    assert_string_equal(vg_csv_column(c, 0), "name");
    assert_int_equal(vg_csv_find_column(c, "name"), 0);
    next_row(c, &row, 2, 2, 0);
    assert_string_equal(row.fields[0], "张三");
    expect_end(c);
    vg_csv_close(c);
}

static void test_header_trimmed(void **state)
{
    vg_csv *c;

    (void)state;
    c = open_str(" id ,\t姓名" IDSP ",\" note \",,\n1,2,3\n");
    assert_int_equal(vg_csv_columns(c), 3);
    assert_string_equal(vg_csv_column(c, 0), "id");
    assert_string_equal(vg_csv_column(c, 1), "姓名");
    assert_string_equal(vg_csv_column(c, 2), "note");
    assert_int_equal(vg_csv_find_column(c, "姓名"), 1);
    vg_csv_close(c);
}

static void test_gb18030_four_byte(void **state)
{
    const char *utf8 = "姓名,公民身份号码\r\n"
                       "𠮷王,440104199001011232\r\n";
    size_t len;
    char *gb = to_gb18030(utf8, &len);
    vg_csv *c;
    vg_csv_row row;

    (void)state;
    /* U+20BB7 is one of GB18030's four-byte sequences: 95 34 B2 35. */
    assert_non_null(memmem(gb, len, "\x95\x34\xB2\x35", 4));
    c = open_ok(gb, len);
    free(gb);
    assert_int_equal(vg_csv_encoding(c), VG_ENC_GB18030);
    assert_string_equal(vg_encoding_name(VG_ENC_GB18030), "GB18030");
    assert_int_equal(vg_csv_find_column(c, "公民身份号码"), 1);
    next_row(c, &row, 2, 2, 0);
    assert_string_equal(row.fields[0], "𠮷王");
    assert_string_equal(row.fields[1], "440104199001011232");
    expect_end(c);
    vg_csv_close(c);
}

static void test_gbk_valid_utf8_by_accident(void **state)
{
    /* 郑路 in GBK is D6 A3 C2 B7, which UTF-8 reads as U+05A3 U+00B7. */
    const char text[] = "name,id\r\n\xD6\xA3\xC2\xB7,1\r\n";
    vg_csv *c;
    vg_csv_row row;

    (void)state;
    c = open_str(text);
    assert_int_equal(vg_csv_encoding(c), VG_ENC_GB18030);
    next_row(c, &row, 2, 2, 0);
    assert_string_equal(row.fields[0], "郑路");
    vg_csv_close(c);
}

static void test_utf8_kept(void **state)
{
    vg_csv *c;
    vg_csv_row row;

    (void)state;
    /* Ordinary UTF-8 with names, dots and full-width forms stays UTF-8. */
    c = open_str("name\n阿·木\n１\n𠮷\n");
    assert_int_equal(vg_csv_encoding(c), VG_ENC_UTF8);
    assert_string_equal(vg_encoding_name(VG_ENC_UTF8), "UTF-8");
    next_row(c, &row, 2, 1, 0);
    assert_string_equal(row.fields[0], "阿·木");
    vg_csv_close(c);

    /* A character the exports never carry (the euro sign) stays UTF-8 when the GB18030
     * reading of the bytes is no text at all. */
    c = open_str("name\nE€\n");
    assert_int_equal(vg_csv_encoding(c), VG_ENC_UTF8);
    next_row(c, &row, 2, 1, 0);
    assert_string_equal(row.fields[0], "E€");
    vg_csv_close(c);
}

static void test_trailing_empty_fields(void **state)
{
    vg_csv *c;
    vg_csv_row row;

    (void)state;
    c = open_str("a,b\n1,2,\n3,4,,\"\"\n5\n6,7,8\n9,10\n");
    next_row(c, &row, 2, 2, 0);
    assert_string_equal(row.fields[1], "2");
    next_row(c, &row, 3, 2, 0);
    /* fewer fields than the header: fine, the adapters decide */
    next_row(c, &row, 4, 1, 0);
    assert_string_equal(row.fields[0], "5");
    /* extra non-empty field: refused, and reading goes on */
    next_row(c, &row, 5, 3, 1);
    assert_string_equal(row.error, "has 3 fields, the header has 2");
    next_row(c, &row, 6, 2, 0);
    assert_string_equal(row.fields[1], "10");
    expect_end(c);
    vg_csv_close(c);

    c = open_str("a,b\n1,,x,\n");
    next_row(c, &row, 2, 3, 1);
    assert_string_equal(row.error, "has 3 fields, the header has 2");
    vg_csv_close(c);
}

static void test_unterminated_quote(void **state)
{
    vg_csv *c;
    vg_csv_row row;

    (void)state;
    c = open_str("a,b\n1,2\n\n3,\"open\n4,5\n6,7\n");
    next_row(c, &row, 2, 2, 0);
    assert_string_equal(row.fields[0], "1");
    next_row(c, &row, 4, 2, 1);
    assert_non_null(strstr(row.error, "line 4"));
    assert_non_null(strstr(row.error, "never closed"));
    expect_end(c);
    vg_csv_close(c);

    /* a quote opened on the header line refuses the file */
    {
        vg_csv *bad = (vg_csv *)1;
        char why[256] = "";
        assert_int_equal(vg_csv_open_buffer("a,\"b\n1,2\n", 9, &bad, why, sizeof(why)),
                         VG_ERR_INVALID);
        assert_null(bad);
        assert_non_null(strstr(why, "never closed"));
    }
}

static void test_loose_quotes(void **state)
{
    vg_csv *c;
    vg_csv_row row;

    (void)state;
    /* quotes inside an unquoted field, and text after a closing quote, are kept */
    c = open_str("a,b\nsay \"x\",\"ab\"cd\n");
    next_row(c, &row, 2, 2, 0);
    assert_string_equal(row.fields[0], "say \"x\"");
    assert_string_equal(row.fields[1], "abcd");
    vg_csv_close(c);
}

static void expect_refused(const char *text, size_t len, const char *part)
{
    vg_csv *c = (vg_csv *)1;
    char why[256] = "";

    assert_int_equal(vg_csv_open_buffer(text, len, &c, why, sizeof(why)), VG_ERR_INVALID);
    assert_null(c);
    if (strstr(why, part) == NULL)
        fail_msg("reason '%s' lacks '%s'", why, part);
}

/* For string literals that may hold a NUL byte. */
#define EXPECT_REFUSED(lit, part) expect_refused((lit), sizeof(lit) - 1, (part))

static void test_refused_at_open(void **state)
{
    (void)state;
    EXPECT_REFUSED("", "no header");
    EXPECT_REFUSED("\n\r\n  \n", "no header");
    EXPECT_REFUSED("\xEF\xBB\xBF", "no header");
    EXPECT_REFUSED("a,b\n\xFF\xFF\n", "neither UTF-8");
    EXPECT_REFUSED("a,b\n1,2\n\x81\n", "line 3");
    EXPECT_REFUSED("a,b\n1,2\n\x81", "line 3");
    EXPECT_REFUSED("a,b\n1\0,2\n", "NUL byte on line 2");
    EXPECT_REFUSED("\xEF\xBB\xBF"
                   "a\n\xC3\n",
                   "line 2 is not UTF-8");
    EXPECT_REFUSED("\"\",\"\"\n1,2\n", "names no column");
}

static void test_open_file(void **state)
{
    vg_csv *c = (vg_csv *)1;
    char why[256] = "";

    (void)state;
    assert_int_equal(vg_csv_open_file("/nonexistent/export.csv", &c, why, sizeof(why)), VG_ERR_IO);
    assert_null(c);
    assert_non_null(strstr(why, "cannot be opened"));
    vg_csv_close(NULL);
}

/* The sample cremation export is GB18030 with CRLF line ends: 980 records under the
 * header, one per line, nine columns. */
static void test_sample_cremation(void **state)
{
    vg_csv *c = NULL;
    vg_csv_row row;
    char why[256] = "";
    size_t n = 0, last = 1, rare = 0;
    long id_col;

    (void)state;
    assert_int_equal(
        vg_csv_open_file(VG_SOURCE_DIR "/data/sample/cremation.csv", &c, why, sizeof(why)), VG_OK);
    assert_int_equal(vg_csv_encoding(c), VG_ENC_GB18030);
    assert_int_equal(vg_csv_columns(c), 9);
    assert_string_equal(vg_csv_column(c, 0), "火化证明编号");
    id_col = vg_csv_find_column(c, "公民身份号码");
    assert_int_equal(id_col, 3);

    while (vg_csv_next(c, &row)) {
        if (row.error != NULL)
            fail_msg("line %zu: %s", row.line, row.error);
        assert_int_equal(row.nfields, 9);
        assert_true(row.line > last);
        last = row.line;
        assert_true(strncmp(row.fields[0], "HH", 2) == 0);
        /* 𡒄 (U+21484), a plane-2 character, appears in some names */
        if (strstr(row.fields[1], "𡒄") != NULL)
            rare++;
        n++;
    }
    assert_int_equal(n, 980);
    assert_int_equal(last, 981);
    assert_true(rare > 0);
    vg_csv_close(c);
}

/* A wide record grows the field array; many records reuse it. */
static void test_many_fields(void **state)
{
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    vg_csv *c;
    vg_csv_row row;

    (void)state;
    assert_non_null(text);
    for (int i = 0; i < 100; i++)
        len += (size_t)snprintf(text + len, cap - len, i ? ",h%d" : "h%d", i);
    text[len++] = '\n';
    for (int r = 0; r < 500; r++) {
        for (int i = 0; i < 100; i++)
            len += (size_t)snprintf(text + len, cap - len, i ? ",%d" : "%d", r * 100 + i);
        text[len++] = '\n';
    }
    c = open_ok(text, len);
    free(text);
    assert_int_equal(vg_csv_columns(c), 100);
    assert_string_equal(vg_csv_column(c, 99), "h99");
    for (int r = 0; r < 500; r++) {
        char want[16];
        next_row(c, &row, (size_t)r + 2, 100, 0);
        snprintf(want, sizeof(want), "%d", r * 100 + 99);
        assert_string_equal(row.fields[99], want);
    }
    expect_end(c);
    vg_csv_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_quoted),
        cmocka_unit_test(test_embedded_newlines),
        cmocka_unit_test(test_line_ends),
        cmocka_unit_test(test_blank_lines),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_header_trimmed),
        cmocka_unit_test(test_gb18030_four_byte),
        cmocka_unit_test(test_gbk_valid_utf8_by_accident),
        cmocka_unit_test(test_utf8_kept),
        cmocka_unit_test(test_trailing_empty_fields),
        cmocka_unit_test(test_unterminated_quote),
        cmocka_unit_test(test_loose_quotes),
        cmocka_unit_test(test_refused_at_open),
        cmocka_unit_test(test_open_file),
        cmocka_unit_test(test_sample_cremation),
        cmocka_unit_test(test_many_fields),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
