/* normalise.c - the field rules every department shares: ID numbers and names. */
#include "vg_normalise.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vg_date.h"

/* Longest ID number text looked at; anything longer is refused for its length. */
#define ID_SCAN_MAX 64

static const char CHECK_CHARS[] = "10X98765432";
static const int CHECK_WEIGHTS[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Length of the UTF-8 sequence of spaces (ASCII space, tab, U+3000) at s, or 0. */
static size_t space_len(const char *s, size_t avail)
{
    if (avail >= 1 && (s[0] == ' ' || s[0] == '\t'))
        return 1;
    if (avail >= 3 && memcmp(s, "\xE3\x80\x80", 3) == 0)
        return 3;
    return 0;
}

/* Length of the UTF-8 sequence at s when it is a space ending right before s + avail. */
static size_t space_len_before(const char *end, size_t avail)
{
    if (avail >= 1 && (end[-1] == ' ' || end[-1] == '\t'))
        return 1;
    if (avail >= 3 && memcmp(end - 3, "\xE3\x80\x80", 3) == 0)
        return 3;
    return 0;
}

/* Narrows [*s, *e) past leading and trailing spaces. */
static void trim(const char **s, const char **e)
{
    size_t n;

    while ((n = space_len(*s, (size_t)(*e - *s))) > 0)
        *s += n;
    while ((n = space_len_before(*e, (size_t)(*e - *s))) > 0)
        *e -= n;
}

/* The check character for the first 17 digits of an ID number. */
static char check_char(const char *digits17)
{
    int sum = 0;

    for (int i = 0; i < 17; i++)
        sum += (digits17[i] - '0') * CHECK_WEIGHTS[i];
    return CHECK_CHARS[sum % 11];
}

/* Cleans the raw text into ASCII in buf: drops spaces anywhere and a leading Excel text
 * marker, turns full-width digits and X into ASCII, lower-case x into X. A character that
 * can never be part of an ID number becomes '?'. Returns the number of characters, or
 * ID_SCAN_MAX + 1 when the text is too long to be one. */
static size_t id_clean(const char *text, char *buf)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t n = 0;
    int seen = 0;

    while (*p != '\0') {
        size_t sp = space_len((const char *)p, strnlen((const char *)p, 3));
        char c;

        if (sp > 0) {
            p += sp;
            continue;
        }
        if (!seen && *p == '\'') {
            p++;
            seen = 1;
            continue;
        }
        /* U+2018 and U+2019: the text marker after a word processor "smartened" it. */
        if (!seen && p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0x98 || p[2] == 0x99)) {
            p += 3;
            seen = 1;
            continue;
        }
        seen = 1;

        if (p[0] < 0x80) {
            c = (char)p[0];
            p++;
        } else if (p[0] == 0xEF && p[1] == 0xBC && p[2] >= 0x90 && p[2] <= 0x99) {
            c = (char)('0' + (p[2] - 0x90)); /* U+FF10..U+FF19 */
            p += 3;
        } else if (p[0] == 0xEF && p[1] == 0xBC && p[2] == 0xB8) {
            c = 'X'; /* U+FF38 */
            p += 3;
        } else if (p[0] == 0xEF && p[1] == 0xBD && p[2] == 0x98) {
            c = 'X'; /* U+FF58 */
            p += 3;
        } else {
            /* Any other character: skip its continuation bytes. */
            c = '?';
            p++;
            while ((*p & 0xC0) == 0x80)
                p++;
        }
        if (c == 'x')
            c = 'X';
        if (n == ID_SCAN_MAX)
            return ID_SCAN_MAX + 1;
        buf[n++] = c;
    }
    buf[n] = '\0';
    return n;
}

/* 1 when s is a number as a spreadsheet shows it in scientific notation: 4.40104E+17. */
static int is_scientific(const char *s)
{
    const char *p = s;

    if (!is_digit(*p))
        return 0;
    while (is_digit(*p))
        p++;
    if (*p == '.') {
        p++;
        while (is_digit(*p))
            p++;
    }
    if (*p != 'E' && *p != 'e')
        return 0;
    p++;
    if (*p == '+' || *p == '-')
        p++;
    if (!is_digit(*p))
        return 0;
    while (is_digit(*p))
        p++;
    return *p == '\0';
}

/* Checks the birth date in digits 6..13 of an 18-character number. */
static vg_err check_birth_date(const char *id, char *why, size_t whylen)
{
    int y = 0, m = 0, d = 0;

    for (int i = 6; i < 10; i++)
        y = y * 10 + (id[i] - '0');
    m = (id[10] - '0') * 10 + (id[11] - '0');
    d = (id[12] - '0') * 10 + (id[13] - '0');
    if (!vg_date_valid(y, m, d)) {
        vg_why(why, whylen, "has a birth date that is not a real day: %04d-%02d-%02d", y, m, d);
        return VG_ERR_INVALID;
    }
    if (vg_date_make(y, m, d) > vg_date_today()) {
        vg_why(why, whylen, "has a birth date in the future: %04d-%02d-%02d", y, m, d);
        return VG_ERR_INVALID;
    }
    return VG_OK;
}

vg_err vg_id_normalise(const char *text, char out[VG_ID_LEN + 1], char *why, size_t whylen)
{
    char buf[ID_SCAN_MAX + 1];
    char id[VG_ID_LEN + 1];
    size_t n;
    char want;
    vg_err rc = VG_ERR_INVALID;

    out[0] = '\0';
    n = id_clean(text != NULL ? text : "", buf);
    if (n == 0) {
        vg_why(why, whylen, "is empty");
        goto out;
    }
    if (n <= ID_SCAN_MAX && is_scientific(buf)) {
        vg_why(why, whylen, "is in scientific notation: digits were lost");
        goto out;
    }
    if (n > ID_SCAN_MAX) {
        vg_why(why, whylen, "is far too long to be an ID number");
        goto out;
    }

    for (size_t i = 0; i < n; i++) {
        if (is_digit(buf[i]))
            continue;
        if (buf[i] == 'X' && i == n - 1 && n == VG_ID_LEN)
            continue;
        if (buf[i] == 'X')
            vg_why(why, whylen, "has X at position %zu; only the 18th character may be X", i + 1);
        else
            vg_why(why, whylen, "has a character other than a digit at position %zu", i + 1);
        goto out;
    }
    if (n != VG_ID_LEN && n != 15) {
        vg_why(why, whylen, "has %zu characters; an ID number has 18 (15 in the old form)", n);
        goto out;
    }

    /* The 15-digit form: region, YYMMDD, sequence; the century was always 19. */
    if (n == 15) {
        memcpy(id, buf, 6);
        memcpy(id + 6, "19", 2);
        memcpy(id + 8, buf + 6, 9);
        id[17] = check_char(id);
        id[18] = '\0';
    } else {
        memcpy(id, buf, VG_ID_LEN + 1);
    }

    rc = check_birth_date(id, why, whylen);
    if (rc != VG_OK)
        goto out;
    want = check_char(id);
    if (id[17] != want) {
        vg_why(why, whylen, "check character is %c, expected %c", id[17], want);
        rc = VG_ERR_INVALID;
        goto out;
    }

    memcpy(out, id, VG_ID_LEN + 1);
    rc = VG_OK;
out:
    return rc;
}

vg_date vg_id_birth_date(const char id[VG_ID_LEN + 1])
{
    int y = 0, m = 0, d = 0;

    if (id == NULL || strnlen(id, VG_ID_LEN + 1) != VG_ID_LEN)
        return VG_DATE_NONE;
    for (int i = 6; i < 14; i++) {
        if (!is_digit(id[i]))
            return VG_DATE_NONE;
    }
    for (int i = 6; i < 10; i++)
        y = y * 10 + (id[i] - '0');
    m = (id[10] - '0') * 10 + (id[11] - '0');
    d = (id[12] - '0') * 10 + (id[13] - '0');
    return vg_date_make(y, m, d);
}

vg_err vg_name_normalise(const char *text, char out[VG_NAME_MAX], char *why, size_t whylen)
{
    const char *s = text != NULL ? text : "";
    const char *e = s + strlen(s);
    size_t n;

    out[0] = '\0';
    trim(&s, &e);
    n = (size_t)(e - s);
    if (n == 0) {
        vg_why(why, whylen, "is empty");
        return VG_ERR_INVALID;
    }
    if (n > VG_NAME_MAX - 1) {
        vg_why(why, whylen, "is longer than %d bytes", VG_NAME_MAX - 1);
        return VG_ERR_INVALID;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return VG_OK;
}

/* Length of the middle dot at s (·, •, ・, ．, ‧), or 0. */
static size_t dot_len(const char *s, size_t avail)
{
    static const char *const dots[] = {
        "\xC2\xB7",     /* U+00B7 middle dot */
        "\xE2\x80\xA2", /* U+2022 bullet */
        "\xE3\x83\xBB", /* U+30FB katakana middle dot */
        "\xEF\xBC\x8E", /* U+FF0E full-width full stop */
        "\xE2\x80\xA7", /* U+2027 hyphenation point */
    };

    for (size_t i = 0; i < sizeof(dots) / sizeof(dots[0]); i++) {
        size_t n = strlen(dots[i]);
        if (avail >= n && memcmp(s, dots[i], n) == 0)
            return n;
    }
    return 0;
}

int vg_name_equal(const char *a, const char *b)
{
    const char *as = a != NULL ? a : "", *bs = b != NULL ? b : "";
    const char *ae = as + strlen(as), *be = bs + strlen(bs);

    trim(&as, &ae);
    trim(&bs, &be);
    while (as < ae && bs < be) {
        size_t da = dot_len(as, (size_t)(ae - as));
        size_t db = dot_len(bs, (size_t)(be - bs));

        if (da > 0 && db > 0) {
            as += da;
            bs += db;
            continue;
        }
        if (*as != *bs)
            return 0;
        as++;
        bs++;
    }
    return as == ae && bs == be;
}

int vg_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        unsigned c = *p, need, min, cp;

        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            need = 1, min = 0x80, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            need = 2, min = 0x800, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            need = 3, min = 0x10000, cp = c & 0x07;
        else
            return 0;
        p++;
        for (unsigned i = 0; i < need; i++, p++) {
            if ((*p & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (*p & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
    }
    return 1;
}
