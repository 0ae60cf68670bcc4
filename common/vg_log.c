/* vg_log.c - operators' log lines on stderr. */
#include "vg_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int vg_log_level = VG_LOG_INFO;

static const char *const level_words[] = {"ERROR", "WARN", "INFO", "DEBUG"};

int vg_log_level_parse(const char *word)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};

    for (int i = 0; i < 4; i++)
        if (word && strcmp(word, names[i]) == 0)
            return i;
    return -1;
}

void vg_log_write(int level, const char *peer, const char *method, const char *fmt, ...)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;
    size_t n;
    va_list ap;

    if (level < VG_LOG_ERROR || level > VG_LOG_DEBUG)
        level = VG_LOG_ERROR;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %-5s peer=%s method=%s ",
                          (long)(tv.tv_usec / 1000), level_words[level], peer ? peer : "-",
                          method ? method : "-");
    if (n < sizeof(line)) {
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += (size_t)m;
    }
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';

    /* One write per line keeps lines from different threads whole. */
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
