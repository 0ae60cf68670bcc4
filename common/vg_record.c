/* vg_record.c - department names and the record codec shared by the store and the cache.
 *
 * Layout: one byte layout version, one byte department, then the fields in a fixed order
 * per department. Strings are a 16-bit little-endian length and the bytes; integers are
 * 64-bit little-endian. */
#include "vg_record.h"

#include <string.h>

static const char *const dept_names[VG_DEPT_COUNT] = {"cremation", "health", "household",
                                                      "disability"};

const char *vg_department_name(vg_department dept)
{
    if ((int)dept < 0 || dept >= VG_DEPT_COUNT)
        return NULL;
    return dept_names[dept];
}

vg_err vg_department_parse(const char *name, vg_department *out)
{
    for (int i = 0; i < VG_DEPT_COUNT; i++) {
        if (name && strcmp(name, dept_names[i]) == 0) {
            *out = (vg_department)i;
            return VG_OK;
        }
    }
    return VG_ERR_INVALID;
}

const char *vg_dereg_reason_word(vg_dereg_reason reason)
{
    switch (reason) {
    case VG_DEREG_DEATH:
        return "death";
    case VG_DEREG_EMIGRATION:
        return "emigration";
    case VG_DEREG_MILITARY:
        return "military";
    case VG_DEREG_DUPLICATE:
        return "duplicate";
    case VG_DEREG_OTHER:
        return "other";
    }
    return "other";
}

/* ---- writer: counts what it would write even past the end of the buffer ------------- */

typedef struct writer {
    uint8_t *buf;
    size_t len;
    size_t pos;
} writer;

static void put_bytes(writer *w, const void *p, size_t n)
{
    if (w->pos + n <= w->len)
        memcpy(w->buf + w->pos, p, n);
    w->pos += n;
}

static void put_int(writer *w, int64_t v)
{
    uint8_t b[8];
    uint64_t u = (uint64_t)v;

    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(u >> (8 * i));
    put_bytes(w, b, 8);
}

static void put_str(writer *w, const char *s)
{
    size_t n = strlen(s);
    uint8_t b[2] = {(uint8_t)(n & 0xff), (uint8_t)(n >> 8)};

    put_bytes(w, b, 2);
    put_bytes(w, s, n);
}

/* ---- reader: any overrun marks the whole decode failed ------------------------------- */

typedef struct reader {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    int bad;
} reader;

static int64_t get_int(reader *r)
{
    uint64_t u = 0;

    if (r->bad || r->len - r->pos < 8) {
        r->bad = 1;
        return 0;
    }
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)r->buf[r->pos + i] << (8 * i);
    r->pos += 8;
    return (int64_t)u;
}

static void get_str(reader *r, char *out, size_t cap)
{
    size_t n;

    out[0] = '\0';
    if (r->bad || r->len - r->pos < 2) {
        r->bad = 1;
        return;
    }
    n = (size_t)r->buf[r->pos] | ((size_t)r->buf[r->pos + 1] << 8);
    r->pos += 2;
    if (n >= cap || r->len - r->pos < n || memchr(r->buf + r->pos, '\0', n)) {
        r->bad = 1;
        return;
    }
    memcpy(out, r->buf + r->pos, n);
    out[n] = '\0';
    r->pos += n;
}

/* Both directions walk the fields in one order, so the layout is written down once. */
typedef enum { CODEC_ENCODE, CODEC_DECODE } codec_dir;

#define FIELD_STR(s)                                                                               \
    do {                                                                                           \
        if (dir == CODEC_ENCODE)                                                                   \
            put_str(w, (s));                                                                       \
        else                                                                                       \
            get_str(r, (s), sizeof(s));                                                            \
    } while (0)

#define FIELD_INT(v, type)                                                                         \
    do {                                                                                           \
        if (dir == CODEC_ENCODE)                                                                   \
            put_int(w, (int64_t)(v));                                                              \
        else                                                                                       \
            (v) = (type)get_int(r);                                                                \
    } while (0)

static void codec_walk(codec_dir dir, vg_record *rec, writer *w, reader *r)
{
    FIELD_STR(rec->key);
    FIELD_STR(rec->id_number);
    FIELD_STR(rec->name);
    FIELD_INT(rec->death_date, vg_date);
    FIELD_INT(rec->record_date, vg_date);

    switch (rec->dept) {
    case VG_DEPT_CREMATION:
        FIELD_STR(rec->u.cremation.certificate_no);
        FIELD_STR(rec->u.cremation.sex);
        FIELD_INT(rec->u.cremation.birth_date, vg_date);
        FIELD_STR(rec->u.cremation.funeral_home);
        FIELD_STR(rec->u.cremation.address);
        break;
    case VG_DEPT_HEALTH:
        FIELD_STR(rec->u.health.certificate_no);
        FIELD_STR(rec->u.health.orig_no);
        FIELD_INT(rec->u.health.state, vg_cert_state);
        FIELD_INT(rec->u.health.issued_at, vg_datetime);
        FIELD_STR(rec->u.health.sex);
        FIELD_STR(rec->u.health.ethnicity);
        FIELD_INT(rec->u.health.birth_date, vg_date);
        FIELD_STR(rec->u.health.place);
        FIELD_STR(rec->u.health.cause_code);
        FIELD_STR(rec->u.health.unit);
        break;
    case VG_DEPT_HOUSEHOLD:
        FIELD_INT(rec->u.household.reason, vg_dereg_reason);
        FIELD_STR(rec->u.household.unit);
        break;
    case VG_DEPT_DISABILITY:
        FIELD_STR(rec->u.disability.certificate_no);
        FIELD_INT(rec->u.disability.category, int);
        FIELD_INT(rec->u.disability.level, int);
        FIELD_INT(rec->u.disability.valid_until, vg_date);
        FIELD_INT(rec->u.disability.cancelled, int);
        break;
    case VG_DEPT_COUNT:
        break;
    }
}

size_t vg_record_encode(const vg_record *rec, uint8_t *buf, size_t len)
{
    writer w = {buf, len, 0};
    uint8_t head[2] = {VG_RECORD_LAYOUT, (uint8_t)rec->dept};

    put_bytes(&w, head, 2);
    /* The walk only reads the record when encoding. */
    codec_walk(CODEC_ENCODE, (vg_record *)rec, &w, NULL);
    return w.pos;
}

vg_err vg_record_decode(const uint8_t *buf, size_t len, vg_record *out)
{
    reader r = {buf, len, 2, 0};

    if (len < 2 || buf[0] != VG_RECORD_LAYOUT || buf[1] >= VG_DEPT_COUNT)
        return VG_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    out->dept = (vg_department)buf[1];
    codec_walk(CODEC_DECODE, out, NULL, &r);
    if (r.bad || r.pos != len)
        return VG_ERR_INVALID;
    return VG_OK;
}
