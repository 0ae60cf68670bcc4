/* household.c - public security's household deregistrations (deregistrations.csv). */
#include "adapter_internal.h"

#include <string.h>

#define F_ID     "公民身份号码"
#define F_NAME   "姓名"
#define F_DATE   "注销日期"
#define F_REASON "注销原因"
#define F_DEATH  "死亡日期"
#define F_UNIT   "注销单位"

const char *const vg__household_required[] = {F_ID, F_NAME, F_DATE, F_REASON, NULL};

const char *const vg__household_fields[] = {F_ID, F_NAME, F_DATE, F_REASON, F_DEATH, F_UNIT, NULL};

/* Exports write the emigration reason with full-width parentheses, some with ASCII ones;
 * both are the same reason. */
static const struct {
    const char *text;
    vg_dereg_reason reason;
} reasons[] = {
    {"死亡", VG_DEREG_DEATH},
    {"出国（境）定居", VG_DEREG_EMIGRATION},
    {"出国(境)定居", VG_DEREG_EMIGRATION},
    {"参军入伍", VG_DEREG_MILITARY},
    {"重复户口", VG_DEREG_DUPLICATE},
    {"其他", VG_DEREG_OTHER},
};

static vg_err read_reason(const vg__src *src, vg_record *out)
{
    vg__span v = vg__get(src, F_REASON);

    if (!v.present)
        return vg__refuse(src, F_REASON, "is missing from the record");
    if (v.len == 0)
        return vg__refuse(src, F_REASON, "is required but empty");
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (vg__span_is(v, reasons[i].text)) {
            out->u.household.reason = reasons[i].reason;
            return VG_OK;
        }
    }
    return vg__refuse(src, F_REASON, "must be 死亡, 出国（境）定居, 参军入伍, 重复户口 or 其他");
}

static void make_key(vg_record *out)
{
    char day[16];

    vg_date_format(out->record_date, day, sizeof(day));
    memcpy(out->key, out->id_number, VG_ID_LEN);
    out->key[VG_ID_LEN] = '|';
    memcpy(out->key + VG_ID_LEN + 1, day, strlen(day) + 1);
}

vg_err vg__household_normalise(const vg__src *src, vg_record *out)
{
    vg_err err;

    if ((err = vg__id(src, F_ID, out->id_number)) != VG_OK)
        return err;
    if ((err = vg__date(src, F_DATE, "deregistration date", 1, &out->record_date)) != VG_OK)
        return err;
    if ((err = vg__name(src, F_NAME, out->name)) != VG_OK)
        return err;
    if ((err = read_reason(src, out)) != VG_OK)
        return err;

    /* A death deregistration may leave the date of death out: it is still evidence of
     * death, only without a date. Any other reason carries none. */
    if (out->u.household.reason != VG_DEREG_DEATH) {
        if (vg__get(src, F_DEATH).len > 0)
            return vg__refuse(src, F_DEATH,
                              "only a death deregistration carries a date of "
                              "death");
    } else {
        if ((err = vg__date(src, F_DEATH, "date of death", 0, &out->death_date)) != VG_OK)
            return err;
        if (out->death_date != VG_DATE_NONE &&
            (err = vg__check_death(src, F_DEATH, out->death_date, out->id_number, out->record_date,
                                   "the deregistration date")) != VG_OK)
            return err;
    }

    if ((err = vg__text(src, F_UNIT, 0, out->u.household.unit, sizeof(out->u.household.unit))) !=
        VG_OK)
        return err;
    make_key(out);
    return VG_OK;
}
