/* adapter.c - the entry point of the department adapters and the field rules they share:
 * looking fields up by header name, trimming, fixed-size copies, ID numbers, names, dates
 * and the date-of-death checks. */
#include "adapter_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vg_normalise.h"

/* Longest trimmed text handed to the ID and date parsers; anything longer is no ID number
 * and no date, and is refused without being copied. */
#define VG__PARSE_MAX 128

/* Runs of this many ID-number characters in a reason are masked (see scrub_reason). */
#define VG__ID_RUN 15

typedef vg_err (*normalise_fn)(const vg__src *src, vg_record *out);

static const normalise_fn normalisers[VG_DEPT_COUNT] = {
    vg__cremation_normalise,
    vg__health_normalise,
    vg__household_normalise,
    vg__disability_normalise,
};

static const char *const *const required_lists[VG_DEPT_COUNT] = {
    vg__cremation_required,
    vg__health_required,
    vg__household_required,
    vg__disability_required,
};

static const char *const *const field_lists[VG_DEPT_COUNT] = {
    vg__cremation_fields,
    vg__health_fields,
    vg__household_fields,
    vg__disability_fields,
};

/* ---- trimming ------------------------------------------------------------------------ */

static int ascii_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* U+3000 IDEOGRAPHIC SPACE is E3 80 80 in UTF-8. */
static int ideographic_space(const char *p, size_t len)
{
    return len >= 3 && (unsigned char)p[0] == 0xe3 && (unsigned char)p[1] == 0x80 &&
           (unsigned char)p[2] == 0x80;
}

static vg__span trim(const char *s)
{
    vg__span v = {"", 0, 1};
    size_t len;

    if (!s)
        return v;
    len = strlen(s);
    for (;;) {
        if (len > 0 && ascii_space(s[0])) {
            s++;
            len--;
        } else if (ideographic_space(s, len)) {
            s += 3;
            len -= 3;
        } else {
            break;
        }
    }
    for (;;) {
        if (len > 0 && ascii_space(s[len - 1]))
            len--;
        else if (len >= 3 && ideographic_space(s + len - 3, 3))
            len -= 3;
        else
            break;
    }
    v.p = s;
    v.len = len;
    return v;
}

int vg__span_is(vg__span v, const char *s)
{
    return strlen(s) == v.len && memcmp(v.p, s, v.len) == 0;
}

/* Field names are compared after trimming: a header cell may carry stray spaces. */
static int name_is(const char *given, const char *want)
{
    return given && vg__span_is(trim(given), want);
}

/* ---- refusals ------------------------------------------------------------------------ */

vg_err vg__refuse(const vg__src *src, const char *field, const char *fmt, ...)
{
    va_list ap;

    snprintf(src->why->field, sizeof(src->why->field), "%s", field);
    va_start(ap, fmt);
    vsnprintf(src->why->reason, sizeof(src->why->reason), fmt, ap);
    va_end(ap);
    return VG_ERR_INVALID;
}

static int id_char(char c)
{
    return (c >= '0' && c <= '9') || c == 'X' || c == 'x';
}

/* A reason must never carry an ID number, whatever a parser echoed into it: every run of
 * VG__ID_RUN or more digits (and X) keeps its first six characters, the region code, and
 * the rest becomes '*'. */
static void scrub_reason(char *reason)
{
    size_t i = 0;

    while (reason[i]) {
        size_t j = i;

        while (id_char(reason[j]))
            j++;
        if (j - i >= VG__ID_RUN)
            memset(reason + i + 6, '*', j - i - 6);
        i = j > i ? j : i + 1;
    }
}

/* ---- field access -------------------------------------------------------------------- */

vg__span vg__get(const vg__src *src, const char *name)
{
    vg__span none = {"", 0, 0};

    for (size_t i = 0; i < src->nfields; i++) {
        if (name_is(src->fields[i].name, name))
            return trim(src->fields[i].value);
    }
    return none;
}

/* Refuses an absent or empty required field; returns VG_OK when it holds a value. */
static vg_err need(const vg__src *src, const char *name, vg__span v)
{
    if (!v.present)
        return vg__refuse(src, name, "is missing from the record");
    if (v.len == 0)
        return vg__refuse(src, name, "is required but empty");
    return VG_OK;
}

/* Copies a trimmed value into buf, refusing it (naming the field) when it does not fit. */
static vg_err copy_span(const vg__src *src, const char *name, vg__span v, char *buf, size_t cap)
{
    if (v.len >= cap)
        return vg__refuse(src, name,
                          "is too long: at most %zu bytes (about %zu Chinese "
                          "characters)",
                          cap - 1, (cap - 1) / 3);
    memcpy(buf, v.p, v.len);
    buf[v.len] = '\0';
    return VG_OK;
}

vg_err vg__text(const vg__src *src, const char *name, int required, char *buf, size_t cap)
{
    vg__span v = vg__get(src, name);
    vg_err err;

    buf[0] = '\0';
    if (required && (err = need(src, name, v)) != VG_OK)
        return err;
    return copy_span(src, name, v, buf, cap);
}

vg_err vg__id(const vg__src *src, const char *name, char id[VG_ID_LEN + 1])
{
    vg__span v = vg__get(src, name);
    char text[VG__PARSE_MAX];
    char reason[sizeof(src->why->reason)];
    vg_err err;

    if ((err = need(src, name, v)) != VG_OK)
        return err;
    if (v.len >= sizeof(text))
        return vg__refuse(src, name, "is far too long to be an ID number");
    memcpy(text, v.p, v.len);
    text[v.len] = '\0';
    reason[0] = '\0';
    if (vg_id_normalise(text, id, reason, sizeof(reason)) != VG_OK) {
        id[0] = '\0';
        return vg__refuse(src, name, "%s", reason[0] ? reason : "is not a valid ID number");
    }
    return VG_OK;
}

vg_err vg__name(const vg__src *src, const char *name, char out[VG_NAME_MAX])
{
    vg__span v = vg__get(src, name);
    char text[VG_NAME_MAX];
    char reason[sizeof(src->why->reason)];
    vg_err err;

    if ((err = need(src, name, v)) != VG_OK)
        return err;
    if (v.len >= VG_NAME_MAX)
        return copy_span(src, name, v, out, VG_NAME_MAX);

    memcpy(text, v.p, v.len);
    text[v.len] = '\0';
    reason[0] = '\0';
    if (vg_name_normalise(text, out, reason, sizeof(reason)) != VG_OK) {
        out[0] = '\0';
        return vg__refuse(src, name, "%s", reason[0] ? reason : "is not a usable name");
    }
    return VG_OK;
}

/* Copies a trimmed value into a parse buffer; refuses values too long to be a date. */
static vg_err parse_copy(const vg__src *src, const char *name, const char *label, vg__span v,
                         char text[VG__PARSE_MAX])
{
    if (v.len >= VG__PARSE_MAX)
        return vg__refuse(src, name, "%s is far too long to be a date", label);
    memcpy(text, v.p, v.len);
    text[v.len] = '\0';
    return VG_OK;
}

vg_err vg__date(const vg__src *src, const char *name, const char *label, int required, vg_date *out)
{
    vg__span v = vg__get(src, name);
    char text[VG__PARSE_MAX];
    char reason[sizeof(src->why->reason)];
    vg_err err;

    *out = VG_DATE_NONE;
    if (!required && v.len == 0)
        return VG_OK;
    if ((err = need(src, name, v)) != VG_OK)
        return err;
    if ((err = parse_copy(src, name, label, v, text)) != VG_OK)
        return err;
    reason[0] = '\0';
    if (vg_date_parse(text, out, reason, sizeof(reason)) != VG_OK) {
        *out = VG_DATE_NONE;
        return vg__refuse(src, name, "%s %s", label, reason[0] ? reason : "is not a date");
    }
    return VG_OK;
}

vg_err vg__datetime(const vg__src *src, const char *name, const char *label, vg_datetime *out)
{
    vg__span v = vg__get(src, name);
    char text[VG__PARSE_MAX];
    char reason[sizeof(src->why->reason)];
    vg_err err;

    *out = 0;
    if ((err = need(src, name, v)) != VG_OK)
        return err;
    if ((err = parse_copy(src, name, label, v, text)) != VG_OK)
        return err;
    reason[0] = '\0';
    if (vg_datetime_parse(text, out, reason, sizeof(reason)) != VG_OK) {
        *out = 0;
        return vg__refuse(src, name, "%s %s", label, reason[0] ? reason : "is not a date and time");
    }
    return VG_OK;
}

/* ---- date rules ---------------------------------------------------------------------- */

vg_err vg__check_death(const vg__src *src, const char *death_field, vg_date death,
                       const char id[VG_ID_LEN + 1], vg_date made, const char *made_label)
{
    vg_date birth = vg_id_birth_date(id);
    char d[16], other[16];

    vg_date_format(death, d, sizeof(d));
    if (death < birth) {
        vg_date_format(birth, other, sizeof(other));
        return vg__refuse(src, death_field,
                          "date of death %s is before the birth date %s in the ID number", d,
                          other);
    }
    if (made != VG_DATE_NONE && death > made) {
        vg_date_format(made, other, sizeof(other));
        return vg__refuse(src, death_field, "date of death %s is after %s %s", d, made_label,
                          other);
    }
    return VG_OK;
}

vg_err vg__check_birth(const vg__src *src, const char *name, const char id[VG_ID_LEN + 1],
                       vg_date *out)
{
    vg_date in_id = vg_id_birth_date(id);
    char given[16], carried[16];
    vg_err err;

    if ((err = vg__date(src, name, "birth date", 0, out)) != VG_OK)
        return err;
    if (*out != VG_DATE_NONE && *out != in_id) {
        vg_date_format(*out, given, sizeof(given));
        vg_date_format(in_id, carried, sizeof(carried));
        return vg__refuse(src, name,
                          "birth date %s disagrees with the birth date %s in the ID number", given,
                          carried);
    }
    return VG_OK;
}

/* ---- entry points -------------------------------------------------------------------- */

static int listed(const char *const *list, const char *name)
{
    for (size_t i = 0; list[i]; i++) {
        if (name_is(name, list[i]))
            return 1;
    }
    return 0;
}

static int same_name(const char *a, const char *b)
{
    vg__span x, y;

    if (!a || !b)
        return 0;
    x = trim(a);
    y = trim(b);
    return x.len == y.len && memcmp(x.p, y.p, x.len) == 0;
}

/* A name the department reads must come once: two values would leave it guessing which
 * one the clerk meant. Names it does not read are ignored, repeated or not. */
/* Refuses a field the department reads that is given twice, or whose value is not UTF-8
 * text (a client that sent GB18030 bytes as they are: what cannot be read back is never
 * stored). */
static vg_err check_fields(const vg__src *src, const char *const *known)
{
    for (size_t i = 0; i < src->nfields; i++) {
        const char *name = src->fields[i].name;

        if (!listed(known, name))
            continue;
        if (src->fields[i].value && !vg_utf8_valid(src->fields[i].value)) {
            vg__span n = trim(name);

            return vg__refuse(src, "record", "field %.*s is not UTF-8 text", (int)n.len, n.p);
        }
        for (size_t j = 0; j < i; j++) {
            if (same_name(src->fields[j].name, name)) {
                vg__span n = trim(name);

                return vg__refuse(src, "record", "field %.*s appears twice", (int)n.len, n.p);
            }
        }
    }
    return VG_OK;
}

vg_err vg_adapter_normalise(vg_department dept, const vg_field *fields, size_t nfields,
                            vg_record *out, vg_refusal *why)
{
    vg_refusal scratch;
    vg__src src = {fields, nfields, why ? why : &scratch};
    vg_err err;

    memset(src.why, 0, sizeof(*src.why));
    if (out)
        memset(out, 0, sizeof(*out));
    if (!out || (!fields && nfields > 0))
        return vg__refuse(&src, "record", "no record was given");
    if ((int)dept < 0 || dept >= VG_DEPT_COUNT)
        return vg__refuse(&src, "record", "unknown department");

    err = check_fields(&src, field_lists[dept]);
    if (err == VG_OK) {
        out->dept = dept;
        err = normalisers[dept](&src, out);
    }
    if (err != VG_OK) {
        scrub_reason(src.why->reason);
        memset(out, 0, sizeof(*out));
    }
    return err;
}

const char *const *vg_adapter_required_fields(vg_department dept)
{
    if ((int)dept < 0 || dept >= VG_DEPT_COUNT)
        return NULL;
    return required_lists[dept];
}
