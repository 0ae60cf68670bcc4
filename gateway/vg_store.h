/* vg_store.h - the embedded store of source records (SQLite in WAL mode).
 *
 * The only module that includes sqlite3.h. One vg_store per process owns the writer; each
 * thread that reads opens its own vg_store_reader. */
#ifndef VG_STORE_H
#define VG_STORE_H

#include <stddef.h>

#include "vg_err.h"
#include "vg_record.h"

typedef struct vg_store vg_store;
typedef struct vg_store_reader vg_store_reader;

/* What storing one record did. */
typedef enum vg_put_outcome {
    VG_PUT_STORED = 0, /* new record, now committed */
    VG_PUT_HELD,       /* the same record was already held: nothing changed */
    VG_PUT_UPDATED,    /* a record with the same key and other content was replaced */
} vg_put_outcome;

/* Every record the store holds that bears on one person's status. */
typedef struct vg_person_records {
    char id_number[VG_ID_LEN + 1];
    vg_record *recs; /* records whose ID number is id_number */
    size_t nrecs;
    vg_record *reissues; /* reissued death certificates, under any ID number, whose
                            原证编号 names one of this person's certificate numbers */
    size_t nreissues;
    size_t cap_recs, cap_reissues; /* allocation sizes; internal */
} vg_person_records;

/* Opens (creating when missing) the store in directory dir, file vitalgate.db. Sets WAL
 * mode and full synchronous commits. On error returns VG_ERR_IO with a reason in why. The
 * caller owns *out. Call from one thread before serving. */
vg_err vg_store_open(const char *dir, vg_store **out, char *why, size_t whylen);

/* Closes the store (readers must be closed first); NULL is fine. */
void vg_store_close(vg_store *store);

/* Stores a batch of normalised records in one transaction and returns only once it is
 * committed and synced: a record reported stored survives kill -9. outcomes (n entries)
 * says what happened to each. When touched is not NULL, the ID numbers whose status may
 * have changed are appended there as 19-byte NUL-terminated strings (including the holder
 * of a certificate a reissue replaces); *ntouched is set and the caller frees *touched.
 * On error nothing of the batch is stored. Thread-safe (writers are serialised). */
vg_err vg_store_put(vg_store *store, const vg_record *recs, size_t n, vg_put_outcome *outcomes,
                    char (**touched)[VG_ID_LEN + 1], size_t *ntouched);

/* Opens a read handle for the calling thread. The caller owns *out. */
vg_err vg_store_reader_open(vg_store *store, vg_store_reader **out);

/* Closes a reader; NULL is fine. */
void vg_store_reader_close(vg_store_reader *reader);

/* Fills *out with every record bearing on the person with the normalised ID number id
 * (reusing out's buffers; start from a zeroed struct). A person nobody holds gives
 * nrecs == 0 and VG_OK. VG_ERR_IO on a store failure. Thread of the reader only. */
vg_err vg_store_get_person(vg_store_reader *reader, const char *id, vg_person_records *out);

/* Frees the buffers of *recs (not recs itself); NULL is fine. */
void vg_person_records_free(vg_person_records *recs);

/* The cache generation held in the store: a random 64-bit number, part of every cache
 * key. Cheap when nothing changed (a reader re-reads it only after a commit by any
 * connection, which SQLite's data_version tells). Reader's thread only. */
vg_err vg_store_cache_generation(vg_store_reader *reader, uint64_t *gen);

/* Replaces the cache generation with a new random one and commits it durably, so that no
 * cache entry written before is read again by any process. Used when a cache invalidation
 * could not reach Redis, before the push is acknowledged. Thread-safe. */
vg_err vg_store_bump_cache_generation(vg_store *store, uint64_t *gen);

/* Number of records held per department (counts[VG_DEPT_COUNT]). Reader's thread only. */
vg_err vg_store_count(vg_store_reader *reader, size_t counts[VG_DEPT_COUNT]);

#endif
