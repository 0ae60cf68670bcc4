/* cremation.c - civil affairs' cremation records (cremation.csv). */
#include "adapter_internal.h"

#include <string.h>

#define F_NO       "火化证明编号"
#define F_NAME     "逝者姓名"
#define F_SEX      "性别"
#define F_ID       "公民身份号码"
#define F_BIRTH    "出生日期"
#define F_DEATH    "死亡日期"
#define F_CREMATED "火化日期"
#define F_HOME     "殡仪馆"
#define F_ADDRESS  "户籍地址"

const char *const vg__cremation_required[] = {F_NO, F_NAME, F_ID, F_DEATH, F_CREMATED, NULL};

const char *const vg__cremation_fields[] = {F_NO,    F_NAME,     F_SEX,  F_ID,      F_BIRTH,
                                            F_DEATH, F_CREMATED, F_HOME, F_ADDRESS, NULL};

vg_err vg__cremation_normalise(const vg__src *src, vg_record *out)
{
    vg_err err;

    if ((err = vg__text(src, F_NO, 1, out->u.cremation.certificate_no,
                        sizeof(out->u.cremation.certificate_no))) != VG_OK)
        return err;
    if ((err = vg__id(src, F_ID, out->id_number)) != VG_OK)
        return err;
    if ((err = vg__name(src, F_NAME, out->name)) != VG_OK)
        return err;

    /* A birth date that contradicts the ID number suggests the number is someone else's
     * (a relative's, typed by mistake): recording a death against it could stop a living
     * person's payments, so the record is refused rather than trusted. */
    if ((err = vg__check_birth(src, F_BIRTH, out->id_number, &out->u.cremation.birth_date)) !=
        VG_OK)
        return err;

    if ((err = vg__date(src, F_DEATH, "date of death", 1, &out->death_date)) != VG_OK)
        return err;
    if ((err = vg__date(src, F_CREMATED, "cremation date", 1, &out->record_date)) != VG_OK)
        return err;
    if ((err = vg__check_death(src, F_DEATH, out->death_date, out->id_number, out->record_date,
                               "the cremation date")) != VG_OK)
        return err;

    if ((err = vg__text(src, F_SEX, 0, out->u.cremation.sex, sizeof(out->u.cremation.sex))) !=
        VG_OK)
        return err;
    if ((err = vg__text(src, F_HOME, 0, out->u.cremation.funeral_home,
                        sizeof(out->u.cremation.funeral_home))) != VG_OK)
        return err;
    if ((err = vg__text(src, F_ADDRESS, 0, out->u.cremation.address,
                        sizeof(out->u.cremation.address))) != VG_OK)
        return err;

    _Static_assert(sizeof(out->key) == sizeof(out->u.cremation.certificate_no),
                   "the key is the certificate number");
    memcpy(out->key, out->u.cremation.certificate_no, sizeof(out->key));
    return VG_OK;
}
