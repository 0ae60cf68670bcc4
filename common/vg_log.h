/* vg_log.h - operators' log on stderr: time, level, peer, method, message.
 *
 * Never pass ID numbers, names, causes of death, keys or payloads: those belong to the
 * audit log. The level is checked before any argument is formatted. */
#ifndef VG_LOG_H
#define VG_LOG_H

enum { VG_LOG_ERROR = 0, VG_LOG_WARN, VG_LOG_INFO, VG_LOG_DEBUG };

extern int vg_log_level;

/* Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int vg_log_level_parse(const char *word);

/* Writes one line: "2026-12-04T15:48:25.123Z INFO peer=welfare method=/... message".
 * peer and method may be NULL ("-"). Thread-safe: one write(2) per line. */
void vg_log_write(int level, const char *peer, const char *method, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define VG_LOG(level, peer, method, ...)                                                           \
    do {                                                                                           \
        if ((level) <= vg_log_level)                                                               \
            vg_log_write((level), (peer), (method), __VA_ARGS__);                                  \
    } while (0)

#define vg_error(peer, method, ...) VG_LOG(VG_LOG_ERROR, peer, method, __VA_ARGS__)
#define vg_warn(peer, method, ...)  VG_LOG(VG_LOG_WARN, peer, method, __VA_ARGS__)
#define vg_info(peer, method, ...)  VG_LOG(VG_LOG_INFO, peer, method, __VA_ARGS__)
#define vg_debug(peer, method, ...) VG_LOG(VG_LOG_DEBUG, peer, method, __VA_ARGS__)

#endif
