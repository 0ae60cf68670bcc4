/* vg_err.h - the one status type shared by every vitalgate module. */
#ifndef VG_ERR_H
#define VG_ERR_H

#include <stddef.h>

/* Functions return VG_OK (zero) or a negative code; never errno directly. */
typedef enum vg_err {
    VG_OK = 0,
    VG_ERR_NOMEM = -1,       /* allocation failed */
    VG_ERR_INVALID = -2,     /* input refused; a reason is given beside the code */
    VG_ERR_IO = -3,          /* a system call or the store failed */
    VG_ERR_NOT_FOUND = -4,   /* nothing held for the key */
    VG_ERR_DENIED = -5,      /* the principal may not do this */
    VG_ERR_UNAVAILABLE = -6, /* a dependency (store, audit, cache) cannot serve now */
    VG_ERR_TOO_BIG = -7,     /* a size limit was passed */
    VG_ERR_CONFIG = -8,      /* configuration is malformed */
} vg_err;

/* Returns a static, human-readable text for a status code. Any thread. */
const char *vg_strerror(vg_err err);

/* Writes a formatted reason into why (whylen bytes, always NUL-terminated); does nothing
 * when why is NULL or whylen 0. Any thread. */
void vg_why(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
