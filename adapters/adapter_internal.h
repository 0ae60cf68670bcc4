/* adapter_internal.h - field access and checks the four department adapters share.
 *
 * Not a public header: only adapters/adapter.c and the per-department files include it.
 * Every function that can refuse fills src->why (field name and reason) and returns
 * VG_ERR_INVALID; the reasons never carry an ID number. */
#ifndef VG_ADAPTER_INTERNAL_H
#define VG_ADAPTER_INTERNAL_H

#include <stddef.h>

#include "vg_adapter.h"
#include "vg_date.h"
#include "vg_err.h"
#include "vg_record.h"

/* One source record being normalised: its fields and where a refusal goes. */
typedef struct vg__src {
    const vg_field *fields;
    size_t nfields;
    vg_refusal *why;
} vg__src;

/* A field's value with ASCII and ideographic spaces trimmed off both ends (not
 * NUL-terminated). present is 0 when the record has no field of that name. */
typedef struct vg__span {
    const char *p;
    size_t len;
    int present;
} vg__span;

/* Fills src->why with the field name and a printf-style reason; returns VG_ERR_INVALID. */
vg_err vg__refuse(const vg__src *src, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Looks a field up by name and trims its value. A NULL value reads as empty. */
vg__span vg__get(const vg__src *src, const char *name);

/* 1 when the span holds exactly the NUL-terminated text s. */
int vg__span_is(vg__span v, const char *s);

/* Copies the trimmed value of a text field into buf (cap bytes with the NUL). A required
 * field that is absent or empty is refused; an absent optional field reads as "". A value
 * that does not fit is refused, naming the field. */
vg_err vg__text(const vg__src *src, const char *name, int required, char *buf, size_t cap);

/* Reads a required ID number field and normalises it; refused when absent, empty or
 * invalid (the reason is the normaliser's). */
vg_err vg__id(const vg__src *src, const char *name, char id[VG_ID_LEN + 1]);

/* Reads a required name field and normalises it. */
vg_err vg__name(const vg__src *src, const char *name, char out[VG_NAME_MAX]);

/* Parses a date field. label is the clerk's word for it ("date of death"). A required
 * field absent or empty is refused; an optional one reads as VG_DATE_NONE. */
vg_err vg__date(const vg__src *src, const char *name, const char *label, int required,
                vg_date *out);

/* Parses a required date-and-time field. */
vg_err vg__datetime(const vg__src *src, const char *name, const char *label, vg_datetime *out);

/* Refuses (naming death_field) a date of death before the birth date carried in the ID
 * number, or after made, the date the record itself was made (made_label names it:
 * "the cremation date"). */
vg_err vg__check_death(const vg__src *src, const char *death_field, vg_date death,
                       const char id[VG_ID_LEN + 1], vg_date made, const char *made_label);

/* Reads an optional birth date field: when given it must parse and agree with the birth
 * date in the ID number. *out is the date given, or VG_DATE_NONE. */
vg_err vg__check_birth(const vg__src *src, const char *name, const char id[VG_ID_LEN + 1],
                       vg_date *out);

/* The per-department normalisers, called by vg_adapter_normalise with out zeroed and
 * out->dept set, after the field names have been checked for duplicates. */
vg_err vg__cremation_normalise(const vg__src *src, vg_record *out);
vg_err vg__health_normalise(const vg__src *src, vg_record *out);
vg_err vg__household_normalise(const vg__src *src, vg_record *out);
vg_err vg__disability_normalise(const vg__src *src, vg_record *out);

/* Each department's required field names and every field name it reads (NULL-terminated;
 * the second list includes the first). */
extern const char *const vg__cremation_required[];
extern const char *const vg__cremation_fields[];
extern const char *const vg__health_required[];
extern const char *const vg__health_fields[];
extern const char *const vg__household_required[];
extern const char *const vg__household_fields[];
extern const char *const vg__disability_required[];
extern const char *const vg__disability_fields[];

#endif
