/* health.c - the health commission's medical death certificates (death_certificates.csv). */
#include "adapter_internal.h"

#include <string.h>

#define F_NO        "死亡证编号"
#define F_NAME      "姓名"
#define F_SEX       "性别"
#define F_ETHNICITY "民族"
#define F_DOC_TYPE  "证件类型"
#define F_ID        "证件号码"
#define F_BIRTH     "出生日期"
#define F_DEATH     "死亡日期"
#define F_PLACE     "死亡地点"
#define F_CAUSE     "根本死因编码"
#define F_UNIT      "填报单位"
#define F_STATE     "状态"
#define F_ORIG      "原证编号"
#define F_ISSUED    "签发时间"

#define DOC_RESIDENT_ID "居民身份证"
#define DOC_NONE        "无"

/* "YYYY-MM-DD HH:MM" */
#define WHEN_LEN 16

/* The key is the certificate number, "|" and the issue time: the number must leave room
 * for them and the NUL. */
#define NO_MAX (VG_KEY_MAX - 2 - WHEN_LEN)

const char *const vg__health_required[] = {F_NO,    F_NAME,  F_DOC_TYPE, F_ID,
                                           F_DEATH, F_STATE, F_ISSUED,   NULL};

const char *const vg__health_fields[] = {F_NO,   F_NAME,  F_SEX,   F_ETHNICITY, F_DOC_TYPE,
                                         F_ID,   F_BIRTH, F_DEATH, F_PLACE,     F_CAUSE,
                                         F_UNIT, F_STATE, F_ORIG,  F_ISSUED,    NULL};

/* Only a resident identity card's number links a certificate to a person. 无 with no
 * number is a body nobody has identified: it is refused on its own terms so the clerk
 * knows nothing is wrong with the export. */
static vg_err read_identity(const vg__src *src, vg_record *out)
{
    char doc[VG_SHORT_MAX];
    vg_err err;

    if ((err = vg__text(src, F_DOC_TYPE, 1, doc, sizeof(doc))) != VG_OK)
        return err;
    if (strcmp(doc, DOC_NONE) == 0) {
        if (vg__get(src, F_ID).len == 0)
            return vg__refuse(src, F_ID,
                              "unidentified body: no ID number to link the certificate to");
        return vg__refuse(src, F_DOC_TYPE,
                          "is 无 (no identity document) yet an ID number "
                          "is given; correct the document type");
    }
    if (strcmp(doc, DOC_RESIDENT_ID) != 0)
        return vg__refuse(src, F_DOC_TYPE,
                          "is not 居民身份证: only a resident ID number "
                          "links a certificate to a person");
    return vg__id(src, F_ID, out->id_number);
}

static vg_err read_state(const vg__src *src, vg_record *out)
{
    vg__span state = vg__get(src, F_STATE);

    if (!state.present)
        return vg__refuse(src, F_STATE, "is missing from the record");
    if (state.len == 0)
        return vg__refuse(src, F_STATE, "is required but empty");
    if (vg__span_is(state, "正常")) {
        out->u.health.state = VG_CERT_NORMAL;
    } else if (vg__span_is(state, "作废")) {
        out->u.health.state = VG_CERT_VOIDED;
    } else if (vg__span_is(state, "补发")) {
        out->u.health.state = VG_CERT_REISSUED;
    } else {
        return vg__refuse(src, F_STATE,
                          "must be 正常 (issued), 作废 (voided) or 补发 "
                          "(reissued)");
    }

    /* Only a reissue names the certificate it replaces; elsewhere the field means nothing. */
    if (out->u.health.state != VG_CERT_REISSUED)
        return VG_OK;
    if (vg__get(src, F_ORIG).len == 0)
        return vg__refuse(src, F_ORIG,
                          "a reissued (补发) certificate must name the "
                          "certificate it replaces");
    return vg__text(src, F_ORIG, 1, out->u.health.orig_no, sizeof(out->u.health.orig_no));
}

static vg_err read_optional(const vg__src *src, vg_record *out)
{
    vg_err err;

    if ((err = vg__text(src, F_SEX, 0, out->u.health.sex, sizeof(out->u.health.sex))) != VG_OK)
        return err;
    if ((err = vg__text(src, F_ETHNICITY, 0, out->u.health.ethnicity,
                        sizeof(out->u.health.ethnicity))) != VG_OK)
        return err;
    if ((err = vg__text(src, F_PLACE, 0, out->u.health.place, sizeof(out->u.health.place))) !=
        VG_OK)
        return err;
    /* ICD-10 code: health data, kept exactly as the certificate gives it. */
    if ((err = vg__text(src, F_CAUSE, 0, out->u.health.cause_code,
                        sizeof(out->u.health.cause_code))) != VG_OK)
        return err;
    return vg__text(src, F_UNIT, 0, out->u.health.unit, sizeof(out->u.health.unit));
}

static void make_key(vg_record *out)
{
    char when[WHEN_LEN + 8];
    size_t n = strlen(out->u.health.certificate_no);
    size_t w;

    vg_datetime_format(out->u.health.issued_at, when, sizeof(when));
    w = strlen(when);
    memcpy(out->key, out->u.health.certificate_no, n);
    out->key[n] = '|';
    memcpy(out->key + n + 1, when, w + 1);
}

vg_err vg__health_normalise(const vg__src *src, vg_record *out)
{
    vg_err err;

    if ((err = read_identity(src, out)) != VG_OK)
        return err;
    if ((err = vg__text(src, F_NO, 1, out->u.health.certificate_no, NO_MAX + 1)) != VG_OK)
        return err;
    if ((err = vg__datetime(src, F_ISSUED, "issue time", &out->u.health.issued_at)) != VG_OK)
        return err;
    out->record_date = vg_datetime_date(out->u.health.issued_at);
    if ((err = vg__name(src, F_NAME, out->name)) != VG_OK)
        return err;
    if ((err = read_state(src, out)) != VG_OK)
        return err;

    /* As for cremation records: a birth date contradicting the ID number points at a
     * wrong number, and a death must not be recorded against it. */
    if ((err = vg__check_birth(src, F_BIRTH, out->id_number, &out->u.health.birth_date)) != VG_OK)
        return err;
    if ((err = vg__date(src, F_DEATH, "date of death", 1, &out->death_date)) != VG_OK)
        return err;
    if ((err = vg__check_death(src, F_DEATH, out->death_date, out->id_number, out->record_date,
                               "the certificate's issue date")) != VG_OK)
        return err;

    if ((err = read_optional(src, out)) != VG_OK)
        return err;
    make_key(out);
    return VG_OK;
}
