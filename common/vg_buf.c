/* vg_buf.c - a growable byte buffer. */
#include "vg_buf.h"

#include <stdlib.h>
#include <string.h>

vg_err vg_buf_reserve(vg_buf *b, size_t n)
{
    size_t want;
    uint8_t *p;

    if (b->cap - b->len >= n)
        return VG_OK;
    if (n > SIZE_MAX / 2 - b->len)
        return VG_ERR_NOMEM;
    want = b->cap ? b->cap : 256;
    while (want - b->len < n)
        want *= 2;
    p = realloc(b->data, want);
    if (!p)
        return VG_ERR_NOMEM;
    b->data = p;
    b->cap = want;
    return VG_OK;
}

vg_err vg_buf_append(vg_buf *b, const void *p, size_t n)
{
    vg_err err = vg_buf_reserve(b, n);

    if (err != VG_OK)
        return err;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return VG_OK;
}

vg_err vg_buf_append_varint(vg_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;

    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    return vg_buf_append(b, tmp, n);
}

void vg_buf_free(vg_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
