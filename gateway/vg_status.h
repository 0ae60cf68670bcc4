/* vg_status.h - the unified person status, derived from the records the store holds.
 *
 * Pure functions: the rules of data/README.md and nothing else. Derived per request, since
 * certificate expiry depends on the as-of date and the name check on the caller's name. */
#ifndef VG_STATUS_H
#define VG_STATUS_H

#include "vg_date.h"
#include "vg_record.h"
#include "vg_store.h"

typedef enum vg_death_status {
    VG_DEATH_NO_RECORD = 0,
    VG_DEATH_REPORTED,
    VG_DEATH_CONFIRMED,
    VG_DEATH_INVALID_ID,
} vg_death_status;

typedef enum vg_name_check {
    VG_NAME_NOT_CHECKED = 0,
    VG_NAME_MATCH,
    VG_NAME_MISMATCH,
} vg_name_check;

typedef enum vg_certificate {
    VG_CERTIFICATE_NONE = 0,
    VG_CERTIFICATE_VALID,
    VG_CERTIFICATE_EXPIRED,
    VG_CERTIFICATE_CANCELLED,
} vg_certificate;

/* What one held record is, for the evidence shown to a clerk. */
typedef enum vg_record_role {
    VG_ROLE_LIVE_DEATH = 0, /* a live death record: counts */
    VG_ROLE_VOIDED,         /* a voided death certificate: never counts */
    VG_ROLE_REPLACED,       /* a certificate replaced by a later reissue */
    VG_ROLE_SUPERSEDED,     /* an older record of the same kind (not the one the answer uses) */
    VG_ROLE_NOT_DEATH,      /* a deregistration for another reason */
    VG_ROLE_CERTIFICATE,    /* the disability certificate the answer uses */
} vg_record_role;

typedef struct vg_person_status {
    vg_death_status death_status;
    vg_date date_of_death;  /* VG_DATE_NONE when no live record gives one */
    unsigned death_sources; /* bit (1u << vg_department) per source with a live record */
    vg_name_check name_check;
    int has_deregistration;
    vg_dereg_reason deregistration; /* of the latest deregistration, when has_deregistration */
    vg_certificate certificate;
} vg_person_status;

/* Derives the status of the person whose records are given. caller_name may be NULL or ""
 * (no name check). as_of is the day certificate expiry is judged on. When roles is not
 * NULL it receives recs->nrecs entries, the role of each record. Any thread. */
void vg_status_derive(const vg_person_records *recs, const char *caller_name, vg_date as_of,
                      vg_person_status *out, vg_record_role *roles);

/* The API's words: "NO_RECORD", "MATCH", "VALID", ... ("" for VG_CERTIFICATE_NONE). */
const char *vg_death_status_word(vg_death_status s);
const char *vg_name_check_word(vg_name_check c);
const char *vg_certificate_word(vg_certificate c);

/* death_sources as the sorted, ';'-joined department names ("cremation;health"). */
void vg_death_sources_format(unsigned sources, char *buf, size_t len);

#endif
