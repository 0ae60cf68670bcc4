/* answer.h - people's status and evidence as API messages, read through the cache and the
 * store, cut to the caller's field groups. */
#ifndef VG_ANSWER_H
#define VG_ANSWER_H

#include "vg_cache.h"
#include "vg_date.h"
#include "vg_err.h"
#include "vg_store.h"
#include "vitalgate.pb-c.h"

typedef struct vg_answer_scratch vg_answer_scratch;

/* Makes the reusable buffers one thread needs to build answers; NULL when out of memory. */
vg_answer_scratch *vg_answer_scratch_new(void);

/* Frees them; NULL is fine. Matches the worker's scratch_free signature. */
void vg_answer_scratch_free(void *scratch);

/* Reads the records of n people given by ID numbers as the callers wrote them: normalises
 * each (an invalid one is answered INVALID_ID without a lookup), then looks the valid ones up
 * in the cache in one round trip (when cache is not NULL), reads the misses from the store
 * and fills the cache. Redis trouble only means more store reads. The records stay in s for
 * vg_answer_build. VG_ERR_IO when the store fails, VG_ERR_NOMEM when memory runs out.
 * Thread that owns s, reader and cache. */
vg_err vg_answer_lookup(vg_store_reader *reader, vg_cache *cache, vg_answer_scratch *s,
                        char *const *ids_as_given, size_t n);

/* Fills msg with the status of row i of the last lookup, for the caller's name (may be "")
 * and as_of, with evidence when with_evidence, limited to the VG_FIELDS_* groups in fields.
 * msg's strings point into s and the ID as given: valid until the next call with s. Also
 * sets *audit_id to the normalised ID number (or the number as given when invalid). */
void vg_answer_build(vg_answer_scratch *s, size_t i, const char *name, vg_date as_of,
                     unsigned fields, int with_evidence, Vitalgate__V1__PersonStatus *msg,
                     const char **audit_id);

/* The death status word of msg ("NO_RECORD", ...), for the audit. */
const char *vg_answer_status_word(const Vitalgate__V1__PersonStatus *msg);

#endif
