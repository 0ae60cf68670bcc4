/* vg_csv.h - reads department exports: RFC 4180 CSV in UTF-8 (with or without BOM) or
 * GB18030, converted to UTF-8 with iconv. */
#ifndef VG_CSV_H
#define VG_CSV_H

#include <stddef.h>

#include "vg_err.h"

typedef struct vg_csv vg_csv;

typedef enum vg_encoding {
    VG_ENC_UTF8 = 0,
    VG_ENC_UTF8_BOM,
    VG_ENC_GB18030,
} vg_encoding;

/* One record of the file. Valid until the next vg_csv_next call or vg_csv_close. */
typedef struct vg_csv_row {
    size_t line;         /* 1-based line of the file where the record begins */
    size_t nfields;      /* number of fields, trailing empty ones beyond the header dropped */
    const char **fields; /* UTF-8, NUL-terminated */
    const char *error;   /* set when the record is malformed (the row is then refused) */
} vg_csv_row;

/* Opens an export held in memory (the bytes are copied and converted to UTF-8; the caller
 * keeps its buffer). Detects the encoding: a UTF-8 BOM means UTF-8; otherwise UTF-8 when
 * the bytes are valid UTF-8, else GB18030; a valid-UTF-8 reading that holds characters the
 * exports never carry while the GB18030 reading holds none is GB18030. Reads the header
 * line. On error returns VG_ERR_INVALID (or VG_ERR_NOMEM) with a reason in why and *out
 * NULL. The caller owns *out and frees it with vg_csv_close. Any thread, one reader per
 * thread. */
vg_err vg_csv_open_buffer(const char *data, size_t len, vg_csv **out, char *why, size_t whylen);

/* Like vg_csv_open_buffer, reading the whole file at path. */
vg_err vg_csv_open_file(const char *path, vg_csv **out, char *why, size_t whylen);

/* Frees the reader; NULL is fine. */
void vg_csv_close(vg_csv *csv);

/* The encoding detected at open. */
vg_encoding vg_csv_encoding(const vg_csv *csv);

/* Name of an encoding: "UTF-8", "UTF-8 with BOM", "GB18030". */
const char *vg_encoding_name(vg_encoding enc);

/* The header: number of columns and each column's name (trimmed of spaces). */
size_t vg_csv_columns(const vg_csv *csv);
const char *vg_csv_column(const vg_csv *csv, size_t i);

/* Index of the column with the given header name, or -1. */
long vg_csv_find_column(const vg_csv *csv, const char *name);

/* Reads the next record, skipping blank lines. Returns 1 with *row filled, 0 at the end.
 * A malformed record (extra non-empty fields beyond the header, a quote still open at the
 * end of the file) is returned with row->error set and row->line naming where it began;
 * reading goes on after it, so nothing before or after it is lost. */
int vg_csv_next(vg_csv *csv, vg_csv_row *row);

#endif
