/* answer.h - one person's status and evidence as the API message, cut to the caller's
 * field groups. */
#ifndef VG_ANSWER_H
#define VG_ANSWER_H

#include "vg_date.h"
#include "vg_err.h"
#include "vg_store.h"
#include "vitalgate.pb-c.h"

typedef struct vg_answer_scratch vg_answer_scratch;

/* Makes the reusable buffers one thread needs to build answers; NULL when out of memory. */
vg_answer_scratch *vg_answer_scratch_new(void);

/* Frees them; NULL is fine. Matches the worker's scratch_free signature. */
void vg_answer_scratch_free(void *scratch);

/* Builds the status of the person with the ID number as the caller gave it: normalises the
 * number (INVALID_ID with a reason when it fails), reads the person's records through
 * reader, derives the status for name (may be "") and as_of, and fills msg with evidence
 * when with_evidence, limited to the VG_FIELDS_* groups in fields. msg's strings point
 * into s and id_as_given: valid until the next call with s. VG_ERR_IO when the store
 * fails, VG_ERR_NOMEM when memory runs out. Thread that owns s and reader. */
vg_err vg_answer_person(vg_store_reader *reader, vg_answer_scratch *s, const char *id_as_given,
                        const char *name, vg_date as_of, unsigned fields, int with_evidence,
                        Vitalgate__V1__PersonStatus *msg);

#endif
