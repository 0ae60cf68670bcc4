/* vg_err.c - texts for the shared status codes. */
#include "vg_err.h"

#include <stdarg.h>
#include <stdio.h>

const char *vg_strerror(vg_err err)
{
    switch (err) {
    case VG_OK:
        return "ok";
    case VG_ERR_NOMEM:
        return "out of memory";
    case VG_ERR_INVALID:
        return "invalid input";
    case VG_ERR_IO:
        return "input/output error";
    case VG_ERR_NOT_FOUND:
        return "not found";
    case VG_ERR_DENIED:
        return "permission denied";
    case VG_ERR_UNAVAILABLE:
        return "unavailable";
    case VG_ERR_TOO_BIG:
        return "too big";
    case VG_ERR_CONFIG:
        return "configuration error";
    }
    return "unknown error";
}

void vg_why(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (!why || whylen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}
