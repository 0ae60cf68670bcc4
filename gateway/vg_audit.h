/* vg_audit.h - the tamper-evident audit log: one entry per call and one per person looked
 * up, made durable by group commit before any answer leaves the gateway.
 *
 * The log is a folder holding audit.log: JSON lines, one entry each, in sequence order.
 * Each entry carries the SHA-256 of its content chained with the previous entry's hash;
 * at intervals a checkpoint entry carries (seq, head hash, time) signed with the gateway's
 * key, so the log can be verified offline with only the public key. */
#ifndef VG_AUDIT_H
#define VG_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "vg_config.h"
#include "vg_err.h"
#include "vg_record.h"

typedef struct vg_audit vg_audit;

/* Who asked, how and why: shared by every entry of one call. Strings are copied. */
typedef struct vg_audit_ctx {
    uint64_t call_id;      /* unique within the process run (with the start time in the log) */
    const char *principal; /* certificate identity */
    const char *peer;      /* peer address */
    const char *method;    /* full method path */
    const char *purpose;   /* "" when none was declared */
} vg_audit_ctx;

/* One person looked up and the answer given. */
typedef struct vg_audit_subject {
    const char *id_number;    /* normalised, or the number as given when it is invalid */
    const char *death_status; /* "NO_RECORD", "REPORTED", "CONFIRMED", "INVALID_ID" */
} vg_audit_subject;

/* Called on the audit thread once the entries handed over are durable (VG_OK), or could
 * not be written (VG_ERR_UNAVAILABLE). Must not block; must not call back into vg_audit. */
typedef void (*vg_audit_done_fn)(void *arg, vg_err result);

/* Opens (creating) the log in cfg->dir, checks the chain's tail so appends continue it,
 * loads the signing key and starts the writer thread. A log whose tail is torn by a crash
 * (a partial last line) is repaired by cutting the partial line, and that is logged.
 * On error returns VG_ERR_IO or VG_ERR_CONFIG with a reason in why. The caller owns *out. */
vg_err vg_audit_open(const vg_audit_config *cfg, vg_audit **out, char *why, size_t whylen);

/* Writes what is pending, a final signed checkpoint, and stops the writer; NULL is fine.
 * Call after every call has finished. */
void vg_audit_close(vg_audit *a);

/* Appends one subject entry per person. done(arg, ...) is called once they are durable.
 * Returns VG_ERR_UNAVAILABLE at once (done is then not called) when the log has failed.
 * Any thread. */
vg_err vg_audit_subjects(vg_audit *a, const vg_audit_ctx *ctx, const vg_audit_subject *subjects,
                         size_t n, vg_audit_done_fn done, void *arg);

/* Appends the call entry: result code (gRPC status code), duration and rows answered.
 * done as for vg_audit_subjects, or NULL when nothing waits for it. Any thread. */
vg_err vg_audit_call(vg_audit *a, const vg_audit_ctx *ctx, int code, int64_t duration_us,
                     uint64_t rows, vg_audit_done_fn done, void *arg);

/* Appends the subject entries and the call entry of a call answered in one reply (a unary
 * call), under one callback: one hand-over and one sync for the whole call. Any thread. */
vg_err vg_audit_answer(vg_audit *a, const vg_audit_ctx *ctx, const vg_audit_subject *subjects,
                       size_t n, int code, int64_t duration_us, uint64_t rows,
                       vg_audit_done_fn done, void *arg);

/* 1 once a write or sync has failed: from then on every append fails. Any thread. */
int vg_audit_failed(const vg_audit *a);

/* ---- reading, for Audit.List and vitalctl ------------------------------------------- */

typedef struct vg_audit_entry {
    uint64_t seq;
    int64_t time_us; /* microseconds since the epoch, UTC */
    char kind[16];   /* "call", "subject", "checkpoint" */
    uint64_t call_id;
    char principal[128];
    char peer[96];
    char method[96];
    char purpose[64];
    int code; /* call entries: gRPC status code; -1 otherwise */
    int64_t duration_us;
    uint64_t rows;
    char subject[VG_ID_LEN + 8];
    char death_status[16];
    const char *line; /* the whole line as stored (without the newline); valid until the
                         next vg_audit_scan_next */
} vg_audit_entry;

typedef struct vg_audit_scan vg_audit_scan;

/* Opens the log in dir (or a log file path) for reading from the start. */
vg_err vg_audit_scan_open(const char *path, vg_audit_scan **out, char *why, size_t whylen);

/* Reads the next entry: 1 with *e filled, 0 at the end, VG_ERR_INVALID for a line that is
 * not an entry (reading can go on). */
int vg_audit_scan_next(vg_audit_scan *s, vg_audit_entry *e);

/* Closes; NULL is fine. */
void vg_audit_scan_close(vg_audit_scan *s);

/* ---- verification -------------------------------------------------------------------- */

typedef struct vg_audit_report {
    uint64_t entries;       /* entries read */
    uint64_t checkpoints;   /* signed checkpoints verified */
    uint64_t first_bad_seq; /* 0 when the log verifies */
    size_t first_bad_line;  /* line number of the first problem, 0 when none */
    char problem[256];      /* what is wrong there: "entry 17 was changed", "entry 18 is
                               missing", "entry 40 is out of order", "checkpoint at entry
                               1000 has a bad signature", "entries after the last
                               checkpoint (seq 1001..1003) are not covered by a
                               signature", ... */
} vg_audit_report;

/* Verifies the log at path (folder or file) offline against the public key or certificate
 * (PEM) at pubkey_path: every hash, the chain, the sequence, every checkpoint's signature,
 * and that the log ends with a signed checkpoint (a tail cut off is detected). Returns VG_OK
 * when it all holds, VG_ERR_INVALID with *report naming the first problem, VG_ERR_IO when
 * a file cannot be read. Any thread. */
vg_err vg_audit_verify(const char *path, const char *pubkey_path, vg_audit_report *report);

/* Name of a gRPC status code ("OK", "PERMISSION_DENIED", ...), and back (-1 unknown). */
const char *vg_audit_code_name(int code);
int vg_audit_code_parse(const char *name);

#endif
