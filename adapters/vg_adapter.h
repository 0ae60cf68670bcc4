/* vg_adapter.h - per-department validation and normalisation of one source record. */
#ifndef VG_ADAPTER_H
#define VG_ADAPTER_H

#include <stddef.h>

#include "vg_err.h"
#include "vg_record.h"

/* One field of a source record as the department's export names it (UTF-8). */
typedef struct vg_field {
    const char *name;
    const char *value;
} vg_field;

/* Why a record was refused: the export's field name (or "record") and a clerk's reason. */
typedef struct vg_refusal {
    char field[64];
    char reason[256];
} vg_refusal;

/* Validates and normalises one source record of a department, given as header-named
 * fields in any order (names not used by the department are ignored; a name given twice
 * is refused). Fills *out and returns VG_OK, or returns VG_ERR_INVALID and fills *why
 * naming the field and the reason. Pure: no I/O, any thread.
 *
 * Record keys (out->key), unique within a department:
 *   cremation   火化证明编号
 *   health      死亡证编号 "|" 签发时间 as YYYY-MM-DD HH:MM
 *   household   公民身份号码 "|" 注销日期 as YYYY-MM-DD
 *   disability  残疾人证号 */
vg_err vg_adapter_normalise(vg_department dept, const vg_field *fields, size_t nfields,
                            vg_record *out, vg_refusal *why);

/* The field names the department's export must carry, NULL-terminated. */
const char *const *vg_adapter_required_fields(vg_department dept);

#endif
