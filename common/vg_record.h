/* vg_record.h - a source record after its department's adapter has normalised it.
 *
 * Every department's record shares the head (department, key, ID number, name, dates);
 * what only one department carries lives in its member of the union. Strings are
 * NUL-terminated UTF-8 in fixed buffers: an adapter refuses a field that does not fit, so a
 * record never owns heap memory and can be copied with memcpy. */
#ifndef VG_RECORD_H
#define VG_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "vg_date.h"
#include "vg_err.h"

#define VG_ID_LEN    18  /* a normalised ID number: 17 digits and a check character */
#define VG_KEY_MAX   96  /* a record's key within its department */
#define VG_NAME_MAX  128 /* a person's name, UTF-8 bytes with the NUL */
#define VG_TEXT_MAX  256 /* places, units, addresses */
#define VG_SHORT_MAX 32  /* sex, ethnicity, ICD-10 code, certificate numbers */

typedef enum vg_department {
    VG_DEPT_CREMATION = 0, /* civil affairs: funeral homes' cremation records */
    VG_DEPT_HEALTH,        /* health commission: medical death certificates */
    VG_DEPT_HOUSEHOLD,     /* public security: household deregistrations */
    VG_DEPT_DISABILITY,    /* disability federation: disability certificates */
    VG_DEPT_COUNT
} vg_department;

/* The department's name as the API and config spell it ("cremation", ...), or NULL. */
const char *vg_department_name(vg_department dept);

/* Looks a department up by that name; returns VG_ERR_INVALID for an unknown name. */
vg_err vg_department_parse(const char *name, vg_department *out);

typedef enum vg_cert_state {
    VG_CERT_NORMAL = 0, /* 正常: issued */
    VG_CERT_VOIDED,     /* 作废: never counts */
    VG_CERT_REISSUED,   /* 补发: replaces the certificate named in orig_no */
} vg_cert_state;

typedef enum vg_dereg_reason {
    VG_DEREG_DEATH = 0,  /* 死亡 */
    VG_DEREG_EMIGRATION, /* 出国（境）定居 */
    VG_DEREG_MILITARY,   /* 参军入伍 */
    VG_DEREG_DUPLICATE,  /* 重复户口 */
    VG_DEREG_OTHER,      /* 其他 */
} vg_dereg_reason;

/* The API's word for a deregistration reason ("death", "emigration", ...). */
const char *vg_dereg_reason_word(vg_dereg_reason reason);

typedef struct vg_record {
    vg_department dept;
    char key[VG_KEY_MAX];          /* identity within the department (see adapters) */
    char id_number[VG_ID_LEN + 1]; /* normalised 18-character ID number */
    char name[VG_NAME_MAX];        /* trimmed; middle dots as written */
    vg_date death_date;            /* VG_DATE_NONE when the record gives none */
    vg_date record_date; /* 火化日期, date of 签发时间, 注销日期 or 发证日期 */
    union {
        struct {
            char certificate_no[VG_KEY_MAX]; /* 火化证明编号 */
            char sex[VG_SHORT_MAX];
            vg_date birth_date;
            char funeral_home[VG_TEXT_MAX];
            char address[VG_TEXT_MAX];
        } cremation;
        struct {
            char certificate_no[VG_KEY_MAX]; /* 死亡证编号 */
            char orig_no[VG_KEY_MAX];        /* 原证编号, reissues only */
            vg_cert_state state;
            vg_datetime issued_at; /* 签发时间 */
            char sex[VG_SHORT_MAX];
            char ethnicity[VG_SHORT_MAX];
            vg_date birth_date;
            char place[VG_TEXT_MAX];       /* 死亡地点 */
            char cause_code[VG_SHORT_MAX]; /* 根本死因编码: health data */
            char unit[VG_TEXT_MAX];        /* 填报单位 */
        } health;
        struct {
            vg_dereg_reason reason;
            char unit[VG_TEXT_MAX]; /* 注销单位 */
        } household;
        struct {
            char certificate_no[VG_KEY_MAX]; /* 残疾人证号 */
            int category;                    /* 1..7 */
            int level;                       /* 1..4 */
            vg_date valid_until;             /* 有效期至 */
            int cancelled;                   /* 证件状态 已注销 */
        } disability;
    } u;
} vg_record;

/* Serialises a record into a compact, versioned byte string (for the store and the cache).
 * Returns the number of bytes written, or the number needed when buf is too small (call
 * again with a buffer that size). Any thread. */
size_t vg_record_encode(const vg_record *rec, uint8_t *buf, size_t len);

/* Decodes what vg_record_encode wrote. Returns VG_ERR_INVALID for a truncated or foreign
 * byte string or another layout version. Any thread. */
vg_err vg_record_decode(const uint8_t *buf, size_t len, vg_record *out);

/* The layout version vg_record_encode writes; bumped whenever the layout changes. */
#define VG_RECORD_LAYOUT 1

#endif
