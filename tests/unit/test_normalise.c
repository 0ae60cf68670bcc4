/* test_normalise.c - ID numbers and names as the department exports carry them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vg_normalise.h"

#define IDSP "\xE3\x80\x80" /* U+3000, the ideographic space */

/* Normalises text and asserts the result is want. */
static void expect_id(const char *text, const char *want)
{
    char out[VG_ID_LEN + 1];
    char why[256] = "";

    if (vg_id_normalise(text, out, why, sizeof(why)) != VG_OK)
        fail_msg("'%s' refused: %s", text, why);
    assert_string_equal(out, want);
}

/* Asserts text is refused with a reason holding part, and that the reason does not carry
 * the digits of the number. */
static void expect_id_refused(const char *text, const char *part)
{
    char out[VG_ID_LEN + 1] = "junk";
    char why[256] = "";

    assert_int_equal(vg_id_normalise(text, out, why, sizeof(why)), VG_ERR_INVALID);
    assert_string_equal(out, "");
    if (strstr(why, part) == NULL)
        fail_msg("'%s': reason '%s' lacks '%s'", text, why, part);
    if (text != NULL && strlen(text) >= 15 && strstr(why, text) != NULL)
        fail_msg("reason '%s' repeats the whole number", why);
}

static void test_id_clean(void **state)
{
    (void)state;
    expect_id("440104199001011232", "440104199001011232");
    expect_id("11010519491231002X", "11010519491231002X");
    expect_id("450206194905118937", "450206194905118937");
}

static void test_id_lower_x(void **state)
{
    (void)state;
    expect_id("11010519491231002x", "11010519491231002X");
}

static void test_id_full_width(void **state)
{
    (void)state;
    expect_id("４４０１０４１９９００１０１１２３２", "440104199001011232");
    /* full-width Ｘ (U+FF38) and ｘ (U+FF58) */
    expect_id("11010519491231002Ｘ", "11010519491231002X");
    expect_id("11010519491231002ｘ", "11010519491231002X");
    /* mixed: a few full-width digits among ASCII ones */
    expect_id("110105１９491231002X", "11010519491231002X");
}

static void test_id_apostrophe(void **state)
{
    (void)state;
    expect_id("'440104199001011232", "440104199001011232");
    expect_id(" '440104199001011232", "440104199001011232");
    expect_id("‘440104199001011232", "440104199001011232"); /* U+2018 */
    expect_id("’440104199001011232", "440104199001011232"); /* U+2019 */
    /* Only one leading marker, never inside the number. */
    expect_id_refused("4401041990'01011232", "other than a digit at position 11");
    expect_id_refused("''440104199001011232", "other than a digit at position 1");
}

static void test_id_spaces(void **state)
{
    (void)state;
    expect_id(" 440104 199001011232 ", "440104199001011232");
    expect_id("440104\t19900101 1232", "440104199001011232");
    /* ideographic space U+3000, as in the cremation export */
    expect_id(" 450206 194905118937" IDSP, "450206194905118937");
    expect_id(IDSP "4401" IDSP "04199001011232", "440104199001011232");
}

static void test_id_legacy_15(void **state)
{
    (void)state;
    expect_id("110105491231002", "11010519491231002X");
    expect_id("440104900101123", "440104199001011232");
    expect_id(" 440104 900101123 ", "440104199001011232");
    /* 1900 was no leap year, so a 15-digit number born 00-02-29 names no real day. */
    expect_id_refused("440104000229001", "not a real day: 1900-02-29");
    expect_id_refused("440104901301123", "not a real day");
}

static void test_id_scientific(void **state)
{
    (void)state;
    expect_id_refused("4.40104E+17", "is in scientific notation: digits were lost");
    expect_id_refused("4.40104e17", "is in scientific notation: digits were lost");
    expect_id_refused("4.40104199001E+17", "scientific notation");
    expect_id_refused(" 4.40104E+17 ", "scientific notation");
    expect_id_refused("'4.40104E+17", "scientific notation");
    expect_id_refused("4E17", "scientific notation");
    expect_id_refused("4.40104E-17", "scientific notation");
}

static void test_id_check_character(void **state)
{
    (void)state;
    expect_id_refused("440104199001011235", "check character is 5, expected 2");
    expect_id_refused("110105194912310025", "check character is 5, expected X");
    expect_id_refused("44010419900101123X", "check character is X, expected 2");
    expect_id_refused("44010419900101123x", "check character is X, expected 2");
}

static void test_id_birth_date(void **state)
{
    (void)state;
    expect_id("440104200002290013", "440104200002290013"); /* 2000 was a leap year */
    expect_id_refused("440104190002290017", "not a real day: 1900-02-29");
    expect_id_refused("440104199002300016", "birth date that is not a real day");
    expect_id_refused("440104199013010011", "birth date that is not a real day");
    expect_id_refused("440104209901010012", "birth date in the future");
}

static void test_id_length_and_characters(void **state)
{
    (void)state;
    expect_id_refused("44010419900101123", "has 17 characters");
    expect_id_refused("4401041990010112322", "has 19 characters");
    expect_id_refused("4401041990", "has 10 characters");
    expect_id_refused("44010419900101123A", "other than a digit at position 18");
    expect_id_refused("4401041990X1011232", "X at position 11");
    expect_id_refused("44010419900101123好", "other than a digit at position 18");
    expect_id_refused("44010419900101-1232", "other than a digit at position 15");
    expect_id_refused("4401041990010112321234567890123456789012345678901234567890123456789",
                      "too long");
    expect_id_refused("11010549123100X", "X at position 15");
}

static void test_id_empty(void **state)
{
    (void)state;
    expect_id_refused("", "is empty");
    expect_id_refused("   ", "is empty");
    expect_id_refused(IDSP, "is empty");
    expect_id_refused("'", "is empty");
    expect_id_refused(NULL, "is empty");
}

static void test_id_birth_date_of(void **state)
{
    const char short_id[VG_ID_LEN + 1] = "4401042000";

    (void)state;
    assert_int_equal(vg_id_birth_date("11010519491231002X"), 19491231);
    assert_int_equal(vg_id_birth_date("440104200002290013"), 20000229);
    assert_int_equal(vg_id_birth_date(short_id), VG_DATE_NONE);
    assert_int_equal(vg_id_birth_date(NULL), VG_DATE_NONE);
}

static void test_name_normalise(void **state)
{
    char out[VG_NAME_MAX];
    char why[256];
    char long_name[VG_NAME_MAX + 1];

    (void)state;
    assert_int_equal(vg_name_normalise("  张三\t", out, why, sizeof(why)), VG_OK);
    assert_string_equal(out, "张三");

    /* U+3000 on both sides; the inner dot and spaces stay as written */
    assert_int_equal(vg_name_normalise(IDSP "阿 ·木" IDSP, out, why, sizeof(why)), VG_OK);
    assert_string_equal(out, "阿 ·木");

    assert_int_equal(vg_name_normalise(" " IDSP " ", out, why, sizeof(why)), VG_ERR_INVALID);
    assert_string_equal(why, "is empty");
    assert_int_equal(vg_name_normalise(NULL, out, why, sizeof(why)), VG_ERR_INVALID);

    memset(long_name, 'a', VG_NAME_MAX);
    long_name[VG_NAME_MAX] = '\0';
    assert_int_equal(vg_name_normalise(long_name, out, why, sizeof(why)), VG_ERR_INVALID);
    assert_non_null(strstr(why, "longer than"));
    long_name[VG_NAME_MAX - 1] = '\0';
    assert_int_equal(vg_name_normalise(long_name, out, why, sizeof(why)), VG_OK);
    assert_int_equal(strlen(out), VG_NAME_MAX - 1);
}

static void test_name_equal(void **state)
{
    /* U+00B7, U+2022, U+30FB, U+FF0E, U+2027 */
    static const char *const dots[] = {"·", "•", "・", "．", "‧"};
    char a[64], b[64];

    (void)state;
    for (size_t i = 0; i < 5; i++) {
        for (size_t j = 0; j < 5; j++) {
            snprintf(a, sizeof(a), "阿依%s买", dots[i]);
            snprintf(b, sizeof(b), " 阿依%s买" IDSP, dots[j]);
            assert_true(vg_name_equal(a, b));
        }
    }
    /* A dot is not a missing dot, and not any other character. */
    assert_false(vg_name_equal("阿·买", "阿买"));
    assert_false(vg_name_equal("阿·买", "阿-买"));
    assert_false(vg_name_equal("阿.买", "阿·买"));
    assert_true(vg_name_equal("张三", "\t张三 "));
    assert_false(vg_name_equal("张三", "张四"));
    assert_false(vg_name_equal("张", "张三"));
    /* inner spaces are kept and matter */
    assert_false(vg_name_equal("张 三", "张三"));
    assert_true(vg_name_equal(NULL, ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_clean),       cmocka_unit_test(test_id_lower_x),
        cmocka_unit_test(test_id_full_width),  cmocka_unit_test(test_id_apostrophe),
        cmocka_unit_test(test_id_spaces),      cmocka_unit_test(test_id_legacy_15),
        cmocka_unit_test(test_id_scientific),  cmocka_unit_test(test_id_check_character),
        cmocka_unit_test(test_id_birth_date),  cmocka_unit_test(test_id_length_and_characters),
        cmocka_unit_test(test_id_empty),       cmocka_unit_test(test_id_birth_date_of),
        cmocka_unit_test(test_name_normalise), cmocka_unit_test(test_name_equal),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
