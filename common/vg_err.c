/* vg_err.c - texts for the shared status codes. */
#include "vg_err.h"

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
