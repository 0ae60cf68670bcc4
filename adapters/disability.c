/* disability.c - the disability federation's certificates (disability_certs.csv). */
#include "adapter_internal.h"

#include <string.h>

#define F_NO       "残疾人证号"
#define F_NAME     "姓名"
#define F_ID       "公民身份号码"
#define F_CATEGORY "残疾类别"
#define F_LEVEL    "残疾等级"
#define F_ISSUED   "发证日期"
#define F_UNTIL    "有效期至"
#define F_STATE    "证件状态"

/* The holder's 18-character ID number, the category digit and the level digit. */
#define NO_LEN (VG_ID_LEN + 2)

const char *const vg__disability_required[] = {F_NO,     F_NAME,  F_ID,    F_CATEGORY, F_LEVEL,
                                               F_ISSUED, F_UNTIL, F_STATE, NULL};

const char *const vg__disability_fields[] = {F_NO,     F_NAME,  F_ID,    F_CATEGORY, F_LEVEL,
                                             F_ISSUED, F_UNTIL, F_STATE, NULL};

/* One character of a certificate number as ASCII: the ID number's export faults (full-width
 * digits and Ｘ, lower-case x) apply to it too. Returns the bytes it took, with *c 0 for a
 * space to drop and -1 for anything that is no digit or X. */
static int number_char(const unsigned char *p, size_t len, int *c)
{
    if (*p >= '0' && *p <= '9') {
        *c = *p;
        return 1;
    }
    if (*p == 'x' || *p == 'X') {
        *c = 'X';
        return 1;
    }
    if (*p == ' ') {
        *c = 0;
        return 1;
    }
    if (len >= 3 && p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80) { /* U+3000 */
        *c = 0;
        return 3;
    }
    if (len >= 3 && p[0] == 0xef && p[1] == 0xbc && p[2] >= 0x90 && p[2] <= 0x99) {
        *c = '0' + (p[2] - 0x90); /* ０..９ */
        return 3;
    }
    if (len >= 3 && ((p[0] == 0xef && p[1] == 0xbc && p[2] == 0xb8) ||  /* Ｘ */
                     (p[0] == 0xef && p[1] == 0xbd && p[2] == 0x98))) { /* ｘ */
        *c = 'X';
        return 3;
    }
    *c = -1;
    return 1;
}

/* Normalises the certificate number into out (NO_LEN + 1 bytes) and checks it begins with
 * the holder's ID number. */
static vg_err read_number(const vg__src *src, const char *holder, char out[NO_LEN + 1])
{
    vg__span v = vg__get(src, F_NO);
    const unsigned char *p = (const unsigned char *)v.p;
    size_t left = v.len;
    size_t n = 0;

    if (!v.present)
        return vg__refuse(src, F_NO, "is missing from the record");
    if (v.len == 0)
        return vg__refuse(src, F_NO, "is required but empty");

    /* A leading ' is Excel's mark for "keep this as text". */
    if (*p == '\'') {
        p++;
        left--;
    }
    while (left > 0) {
        int c;
        int used = number_char(p, left, &c);

        if (c < 0)
            return vg__refuse(src, F_NO, "may hold only digits and X");
        if (c > 0) {
            if (n == NO_LEN)
                return vg__refuse(src, F_NO,
                                  "is longer than 20 characters (the holder's "
                                  "ID number, the category digit and the level digit)");
            out[n++] = (char)c;
        }
        p += used;
        left -= (size_t)used;
    }
    out[n] = '\0';
    if (n != NO_LEN)
        return vg__refuse(src, F_NO,
                          "has %zu characters where 20 are needed (the holder's "
                          "ID number, the category digit and the level digit)",
                          n);
    if (memcmp(out, holder, VG_ID_LEN) != 0)
        return vg__refuse(src, F_NO,
                          "does not belong to the holder: it does not begin with "
                          "the holder's ID number");
    return VG_OK;
}

/* Reads a field holding one digit from 1 to hi. */
static vg_err read_digit(const vg__src *src, const char *name, int hi, const char *meaning,
                         int *out)
{
    vg__span v = vg__get(src, name);

    if (!v.present)
        return vg__refuse(src, name, "is missing from the record");
    if (v.len == 0)
        return vg__refuse(src, name, "is required but empty");
    if (v.len != 1 || v.p[0] < '1' || v.p[0] > '0' + hi)
        return vg__refuse(src, name, "must be one digit from 1 to %d (%s)", hi, meaning);
    *out = v.p[0] - '0';
    return VG_OK;
}

static vg_err read_state(const vg__src *src, vg_record *out)
{
    vg__span v = vg__get(src, F_STATE);

    if (!v.present)
        return vg__refuse(src, F_STATE, "is missing from the record");
    if (v.len == 0)
        return vg__refuse(src, F_STATE, "is required but empty");
    if (vg__span_is(v, "有效"))
        out->u.disability.cancelled = 0;
    else if (vg__span_is(v, "已注销"))
        out->u.disability.cancelled = 1;
    else
        return vg__refuse(src, F_STATE, "must be 有效 (valid) or 已注销 (cancelled)");
    return VG_OK;
}

static vg_err read_dates(const vg__src *src, vg_record *out)
{
    char issued[16], until[16];
    vg_err err;

    if ((err = vg__date(src, F_ISSUED, "issue date", 1, &out->record_date)) != VG_OK)
        return err;
    if ((err = vg__date(src, F_UNTIL, "valid-until date", 1, &out->u.disability.valid_until)) !=
        VG_OK)
        return err;
    if (out->u.disability.valid_until < out->record_date) {
        vg_date_format(out->u.disability.valid_until, until, sizeof(until));
        vg_date_format(out->record_date, issued, sizeof(issued));
        return vg__refuse(src, F_UNTIL, "valid-until date %s is before the issue date %s", until,
                          issued);
    }
    return VG_OK;
}

vg_err vg__disability_normalise(const vg__src *src, vg_record *out)
{
    char *no = out->u.disability.certificate_no;
    vg_err err;

    if ((err = vg__id(src, F_ID, out->id_number)) != VG_OK)
        return err;
    if ((err = vg__name(src, F_NAME, out->name)) != VG_OK)
        return err;
    if ((err = read_number(src, out->id_number, no)) != VG_OK)
        return err;
    if ((err = read_digit(src, F_CATEGORY, 7, "1 visual .. 7 multiple",
                          &out->u.disability.category)) != VG_OK)
        return err;
    if ((err = read_digit(src, F_LEVEL, 4, "1 most severe .. 4 least", &out->u.disability.level)) !=
        VG_OK)
        return err;
    if (no[VG_ID_LEN] != '0' + out->u.disability.category)
        return vg__refuse(src, F_NO, "its category digit %c disagrees with 残疾类别 %d",
                          no[VG_ID_LEN], out->u.disability.category);
    if (no[VG_ID_LEN + 1] != '0' + out->u.disability.level)
        return vg__refuse(src, F_NO, "its level digit %c disagrees with 残疾等级 %d",
                          no[VG_ID_LEN + 1], out->u.disability.level);
    if ((err = read_state(src, out)) != VG_OK)
        return err;
    if ((err = read_dates(src, out)) != VG_OK)
        return err;

    memcpy(out->key, no, NO_LEN + 1);
    return VG_OK;
}
