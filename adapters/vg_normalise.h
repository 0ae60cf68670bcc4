/* vg_normalise.h - the field rules every department shares: ID numbers and names. */
#ifndef VG_NORMALISE_H
#define VG_NORMALISE_H

#include <stddef.h>

#include "vg_err.h"
#include "vg_record.h"

/* Normalises an ID number as the exports carry it: lower-case x, full-width digits and Ｘ,
 * a leading ' (Excel text marker), ASCII or ideographic spaces anywhere, and the 15-digit
 * legacy form (19 inserted before the year, check character appended). On success writes
 * the 18-character number with a NUL into out (VG_ID_LEN + 1 bytes) and returns VG_OK.
 * Refuses, with VG_ERR_INVALID and a reason a clerk understands in why: empty, scientific
 * notation (digits lost), wrong length, non-digits, a birth date that is no real day or lies
 * in the future, and a wrong check character (naming the expected one). Any thread. */
vg_err vg_id_normalise(const char *text, char out[VG_ID_LEN + 1], char *why, size_t whylen);

/* The birth date carried in a normalised ID number. */
vg_date vg_id_birth_date(const char id[VG_ID_LEN + 1]);

/* Normalises a name: trims leading and trailing ASCII and ideographic spaces, nothing else.
 * Refuses empty names and names longer than VG_NAME_MAX - 1 bytes. */
vg_err vg_name_normalise(const char *text, char out[VG_NAME_MAX], char *why, size_t whylen);

/* Compares two names as the rules say: trimmed, and the middle dots ·, •, ・, ．, ‧ equal.
 * Returns 1 when equal. Any thread. */
int vg_name_equal(const char *a, const char *b);

/* 1 when s is well-formed UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF).
 * Any thread. */
int vg_utf8_valid(const char *s);

#endif
