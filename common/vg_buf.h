/* vg_buf.h - a growable byte buffer. */
#ifndef VG_BUF_H
#define VG_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "vg_err.h"

typedef struct vg_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} vg_buf;

/* Makes room for n more bytes; VG_ERR_NOMEM when that fails (the buffer is unchanged). */
vg_err vg_buf_reserve(vg_buf *b, size_t n);

/* Appends n bytes. */
vg_err vg_buf_append(vg_buf *b, const void *p, size_t n);

/* Appends a protobuf base-128 varint. */
vg_err vg_buf_append_varint(vg_buf *b, uint64_t v);

/* Empties the buffer, keeping its memory. */
static inline void vg_buf_reset(vg_buf *b)
{
    b->len = 0;
}

/* Frees the memory; the struct may be reused after. NULL is fine. */
void vg_buf_free(vg_buf *b);

#endif
