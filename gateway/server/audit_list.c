/* audit_list.c - Audit.List: auditors read the audit log, filtered, in log order.
 *
 * One request, then a stream of replies of up to 500 entries each. Each call reads the log
 * file with its own scan; a reply is built only once the previous one has been sent, so a
 * long listing holds one reply at a time and follows the client's pace. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"
#include "vg_audit.h"
#include "vg_buf.h"
#include "vg_date.h"
#include "vg_log.h"
#include "vg_normalise.h"
#include "vitalgate.pb-c.h"

#define BATCH_ENTRIES 500
/* Lines read per reply at most: a filter that matches little must not hold the worker
 * thread for the whole log; a reply may then carry fewer entries, or none. */
#define BATCH_LINES 20000

typedef struct list_state {
    vg_audit_scan *scan;
    int64_t from_us, to_us; /* [from, to) */
    char principal[256];
    char subject[VG_ID_LEN + 1];
    char method[256];
    int code; /* -1: any */
    uint64_t limit, sent;
    uint64_t unreadable;
    vg_buf out;
} list_state;

/* Parses a time bound: RFC 3339 ("2026-12-04T16:00:00Z", a fraction and a +08:00 offset
 * allowed) or a day ("2026-12-04", from 00:00 UTC). Returns 0, or -1 when it is neither. */
static int parse_bound(const char *s, int64_t *us)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0, oh = 0, om = 0;
    long frac = 0;
    int fdigits = 0, sign = 0;
    struct tm tm;

    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return -1;
    if (!vg_date_valid(y, mo, d))
        return -1;
    s += n;
    if (*s) {
        if ((*s != 'T' && *s != 't') || sscanf(s + 1, "%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3 ||
            n != 8 || h > 23 || mi > 59 || sec > 60)
            return -1;
        s += 1 + n;
        if (*s == '.') {
            for (s++; *s >= '0' && *s <= '9'; s++, fdigits++)
                if (fdigits < 6)
                    frac = frac * 10 + (*s - '0');
            if (fdigits == 0)
                return -1;
            for (int i = fdigits; i < 6; i++)
                frac *= 10;
        }
        if (*s == 'Z' || *s == 'z') {
            s++;
        } else if (*s == '+' || *s == '-') {
            sign = *s == '+' ? 1 : -1;
            if (sscanf(s + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || oh > 23 || om > 59)
                return -1;
            s += 1 + n;
        } else {
            return -1;
        }
        if (*s)
            return -1;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *us = ((int64_t)timegm(&tm) - sign * (oh * 3600 + om * 60)) * 1000000 + frac;
    return 0;
}

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void format_time(int64_t us, char out[32])
{
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    char buf[64];

    gmtime_r(&secs, &tm);
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(us % 1000000));
    snprintf(out, 32, "%.31s", buf);
}

/* Reads the filters of the request into st; finishes the call and returns -1 when one is
 * wrong. */
static int read_filters(vg_call *call, const Vitalgate__V1__AuditListRequest *req, list_state *st)
{
    char why[160];

    st->from_us = INT64_MIN;
    st->to_us = now_us() + 1;
    if (req->from[0] && parse_bound(req->from, &st->from_us) != 0) {
        vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "from: not an RFC 3339 time (2026-12-04T16:00:00Z) or a day (2026-12-04)");
        return -1;
    }
    if (req->to[0] && parse_bound(req->to, &st->to_us) != 0) {
        vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "to: not an RFC 3339 time (2026-12-04T16:00:00Z) or a day (2026-12-04)");
        return -1;
    }
    if (st->from_us > st->to_us) {
        vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "from: later than to");
        return -1;
    }
    if (req->subject[0] && vg_id_normalise(req->subject, st->subject, why, sizeof(why)) != VG_OK) {
        vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "subject: %s", why);
        return -1;
    }
    st->code = -1;
    if (req->result[0] && (st->code = vg_audit_code_parse(req->result)) < 0) {
        vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "result: unknown status code name (OK, PERMISSION_DENIED, ...)");
        return -1;
    }
    if (strlen(req->principal) >= sizeof(st->principal) ||
        strlen(req->method) >= sizeof(st->method)) {
        vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "principal or method: too long");
        return -1;
    }
    snprintf(st->principal, sizeof(st->principal), "%s", req->principal);
    snprintf(st->method, sizeof(st->method), "%s", req->method);
    st->limit = req->limit;
    return 0;
}

static int matches(const list_state *st, const vg_audit_entry *e)
{
    if (e->time_us < st->from_us || e->time_us >= st->to_us)
        return 0;
    if (st->principal[0] && (!strcmp(e->kind, "checkpoint") || strcmp(e->principal, st->principal)))
        return 0;
    if (st->method[0] && (!strcmp(e->kind, "checkpoint") || strcmp(e->method, st->method)))
        return 0;
    if (st->subject[0] && (strcmp(e->kind, "subject") || strcmp(e->subject, st->subject)))
        return 0;
    if (st->code >= 0 && (strcmp(e->kind, "call") || e->code != st->code))
        return 0;
    return 1;
}

/* Appends one entry to the reply as field 1 of AuditListReply, packed on its own. */
static vg_err append_entry(vg_buf *out, const vg_audit_entry *e)
{
    Vitalgate__V1__AuditEntry m = VITALGATE__V1__AUDIT_ENTRY__INIT;
    int is_call = strcmp(e->kind, "call") == 0, is_subject = strcmp(e->kind, "subject") == 0;
    char time[32];
    size_t n;
    vg_err err;

    format_time(e->time_us, time);
    m.seq = e->seq;
    m.time = time;
    m.kind = (char *)e->kind;
    m.call_id = e->call_id;
    m.principal = (char *)e->principal;
    m.peer = (char *)e->peer;
    m.method = (char *)e->method;
    m.purpose = (char *)e->purpose;
    m.result = is_call ? (char *)vg_audit_code_name(e->code) : "";
    m.duration_us = is_call && e->duration_us > 0 ? (uint64_t)e->duration_us : 0;
    m.rows = is_call ? e->rows : 0;
    m.subject = is_subject ? (char *)e->subject : "";
    m.death_status = is_subject ? (char *)e->death_status : "";
    m.line = (char *)e->line;

    n = protobuf_c_message_get_packed_size(&m.base);
    if ((err = vg_buf_append_varint(out, (1u << 3) | 2u)) != VG_OK ||
        (err = vg_buf_append_varint(out, n)) != VG_OK || (err = vg_buf_reserve(out, n)) != VG_OK)
        return err;
    protobuf_c_message_pack(&m.base, out->data + out->len);
    out->len += n;
    return VG_OK;
}

/* Sends the next reply, or finishes the call when the log (or the limit) is reached. */
static void send_next(vg_call *call)
{
    list_state *st = call->state;
    unsigned entries = 0, lines = 0;
    vg_audit_entry e;
    int rc = 1;

    vg_buf_reset(&st->out);
    while (entries < BATCH_ENTRIES && lines < BATCH_LINES &&
           (st->limit == 0 || st->sent < st->limit) &&
           (rc = vg_audit_scan_next(st->scan, &e)) != 0) {
        lines++;
        if (rc < 0) {
            st->unreadable++;
            continue;
        }
        if (!matches(st, &e))
            continue;
        if (append_entry(&st->out, &e) != VG_OK) {
            vg_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
            return;
        }
        entries++;
        st->sent++;
    }
    call->rows = st->sent;
    if (entries > 0 || (rc != 0 && lines == BATCH_LINES)) {
        vg_call_reply_bytes(call, st->out.data, st->out.len);
        return;
    }
    if (st->unreadable)
        vg_warn(call->peer_name, call->method_name,
                "audit log: %llu lines could not be read as entries (check it with vitalctl "
                "audit verify)",
                (unsigned long long)st->unreadable);
    vg_call_finish(call, GRPC_STATUS_OK, "%s", "");
}

static void audit_list_message(vg_call *call, const uint8_t *data, size_t len)
{
    Vitalgate__V1__AuditListRequest *req =
        vitalgate__v1__audit_list_request__unpack(NULL, len, data);
    const vg_config *cfg = vg_server_config(call->worker->server);
    list_state *st;
    char why[VG_PATH_MAX + 64];
    vg_err err;

    if (!req) {
        vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "request is not a valid AuditListRequest message");
        return;
    }
    st = call->state = calloc(1, sizeof(*st));
    if (!st) {
        vg_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    if (read_filters(call, req, st) != 0)
        goto out;
    err = vg_audit_scan_open(cfg->audit.dir, &st->scan, why, sizeof(why));
    if (err == VG_ERR_NOT_FOUND) {
        vg_call_finish(call, GRPC_STATUS_FAILED_PRECONDITION,
                       "the gateway has written no audit log (is the audit off?)");
        goto out;
    }
    if (err != VG_OK) {
        vg_error(call->peer_name, call->method_name, "audit log: %s", why);
        vg_call_finish(call, GRPC_STATUS_UNAVAILABLE, "the audit log could not be read");
        goto out;
    }
    send_next(call);
out:
    vitalgate__v1__audit_list_request__free_unpacked(req, NULL);
}

static void audit_list_sent(vg_call *call)
{
    if (call->state && ((list_state *)call->state)->scan)
        send_next(call);
}

static void audit_list_free(vg_call *call)
{
    list_state *st = call->state;

    if (!st)
        return;
    vg_audit_scan_close(st->scan);
    vg_buf_free(&st->out);
    free(st);
    call->state = NULL;
}

const vg_method vg_method_audit_list = {"/vitalgate.v1.Audit/List",
                                        0,
                                        VG_ROLE_KIND_AUDITOR,
                                        audit_list_message,
                                        audit_list_free,
                                        audit_list_sent};
