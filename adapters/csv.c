/* csv.c - reads department exports: RFC 4180 CSV in UTF-8 (with or without BOM) or
 * GB18030.
 *
 * The whole export is held in one buffer of UTF-8 text (GB18030 is converted once, with
 * iconv). Records are parsed in place: quotes are undone by moving bytes down inside the
 * buffer and each field is ended with a NUL written over its delimiter, so reading a
 * record allocates nothing once the field array has grown to the widest record. */
#include "vg_csv.h"

#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct vg_csv {
    char *buf; /* UTF-8 text, NUL at buf[len]; records are parsed in place */
    size_t len;
    size_t pos;  /* where the next record starts */
    size_t line; /* physical line at pos, 1-based */
    vg_encoding enc;
    const char **header; /* column names, pointing into buf */
    size_t ncols;
    const char **fields; /* the current record's fields, reused */
    size_t cap;
    int nomem;       /* the field array could not grow */
    char error[160]; /* the current record's error text */
};

/* 1-based line number of byte offset off in data. Used on error paths only. */
static size_t line_of(const char *data, size_t off)
{
    size_t line = 1;
    const char *p = data, *end = data + off;

    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        line++;
        p++;
    }
    return line;
}

/* ---- encoding -------------------------------------------------------------------- */

/* 1 when the exports can carry code point cp: ASCII, CJK ideographs of every extension
 * and the compatibility ideographs, CJK symbols and punctuation, full-width forms,
 * general punctuation and the middle dots of minority names. */
static int carried(uint32_t cp)
{
    if (cp < 0x80)
        return 1;
    if (cp < 0x2000)
        return cp == 0x00B7;
    if (cp <= 0x206F)
        return 1; /* general punctuation: •, ‧, “”, … */
    if (cp >= 0x3000 && cp <= 0x303F)
        return 1; /* CJK symbols and punctuation */
    if (cp == 0x30FB)
        return 1; /* katakana middle dot */
    if (cp >= 0x3400 && cp <= 0x4DBF)
        return 1; /* extension A */
    if (cp >= 0x4E00 && cp <= 0x9FFF)
        return 1; /* unified ideographs */
    if (cp >= 0xF900 && cp <= 0xFAFF)
        return 1; /* compatibility ideographs */
    if (cp >= 0xFF00 && cp <= 0xFFEF)
        return 1;                          /* full-width forms */
    return cp >= 0x20000 && cp <= 0x3FFFF; /* extensions B.. and supplement, planes 2-3 */
}

/* Checks that s[0..n) is well-formed UTF-8 (no overlong forms, no surrogates, nothing past
 * U+10FFFF). Returns 1 when valid, else 0 with *bad the offset of the first bad byte.
 * *foreign is set to 1 when a character the exports never carry is seen. */
static int utf8_scan(const unsigned char *s, size_t n, size_t *bad, int *foreign)
{
    size_t i = 0;

    *foreign = 0;
    while (i < n) {
        uint32_t cp;
        unsigned char c = s[i];
        size_t k;

        /* Most of an export is ASCII: step over it eight bytes at a time. */
        if (c < 0x80) {
            uint64_t w;
            while (i + 8 <= n) {
                memcpy(&w, s + i, 8);
                if (w & 0x8080808080808080ULL)
                    break;
                i += 8;
            }
            while (i < n && s[i] < 0x80)
                i++;
            continue;
        }

        if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            cp = c & 0x07;
        } else {
            *bad = i;
            return 0;
        }
        if (n - i <= k) {
            *bad = i;
            return 0;
        }
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) {
                *bad = i;
                return 0;
            }
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (k == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
            *bad = i;
            return 0;
        }
        if (!*foreign && !carried(cp))
            *foreign = 1;
        i += k + 1;
    }
    return 1;
}

/* Converts GB18030 data to UTF-8 in a new buffer (NUL-terminated, length in *outlen).
 * Returns VG_OK, VG_ERR_INVALID with *bad the offset of the first byte that is no
 * GB18030, VG_ERR_NOMEM, or VG_ERR_IO when iconv has no GB18030. */
static vg_err gb18030_to_utf8(const char *data, size_t len, char **out, size_t *outlen, size_t *bad)
{
    iconv_t cd;
    char *buf = NULL, *in = (char *)data, *o;
    size_t inleft = len, cap, oleft;
    vg_err rc = VG_OK;

    *out = NULL;
    cd = iconv_open("UTF-8", "GB18030");
    if (cd == (iconv_t)-1)
        return VG_ERR_IO;

    /* Two GB18030 bytes give at most three UTF-8 bytes, four give at most four. */
    cap = len + len / 2 + 16;
    buf = malloc(cap);
    if (buf == NULL) {
        rc = VG_ERR_NOMEM;
        goto out;
    }
    o = buf;
    oleft = cap - 1;
    while (inleft > 0) {
        if (iconv(cd, &in, &inleft, &o, &oleft) != (size_t)-1)
            continue;
        if (errno == E2BIG) {
            size_t used = (size_t)(o - buf);
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                rc = VG_ERR_NOMEM;
                goto out;
            }
            buf = nb;
            cap *= 2;
            o = buf + used;
            oleft = cap - 1 - used;
            continue;
        }
        *bad = (size_t)(in - data);
        rc = VG_ERR_INVALID;
        goto out;
    }
    *o = '\0';
    *outlen = (size_t)(o - buf);
    *out = buf;
    buf = NULL;
out:
    free(buf);
    iconv_close(cd);
    return rc;
}

/* Settles the encoding of data[0..len) as the data README says. Returns VG_OK with *enc
 * set and, for GB18030, the converted text in *gb (the caller frees it); otherwise an error
 * with a reason in why. */
static vg_err detect_encoding(const char *data, size_t len, vg_encoding *enc, char **gb,
                              size_t *gblen, char *why, size_t whylen)
{
    const unsigned char *u = (const unsigned char *)data;
    const char *nul = memchr(data, '\0', len);
    size_t bad = 0, gbbad = 0;
    int foreign = 0, gbforeign = 0;
    vg_err rc;

    *gb = NULL;
    if (nul != NULL) {
        vg_why(why, whylen, "holds a NUL byte on line %zu: it is no UTF-8 or GB18030 text",
               line_of(data, (size_t)(nul - data)));
        return VG_ERR_INVALID;
    }

    if (len >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) {
        *enc = VG_ENC_UTF8_BOM;
        if (utf8_scan(u + 3, len - 3, &bad, &foreign))
            return VG_OK;
        vg_why(why, whylen, "begins with a UTF-8 byte order mark but line %zu is not UTF-8",
               line_of(data, bad + 3));
        return VG_ERR_INVALID;
    }

    if (utf8_scan(u, len, &bad, &foreign)) {
        *enc = VG_ENC_UTF8;
        if (!foreign)
            return VG_OK;
        /* Valid UTF-8 by accident? Only when the GB18030 reading is all plausible. */
        rc = gb18030_to_utf8(data, len, gb, gblen, &gbbad);
        if (rc == VG_ERR_NOMEM)
            return rc;
        if (rc == VG_OK && utf8_scan((unsigned char *)*gb, *gblen, &gbbad, &gbforeign) &&
            !gbforeign) {
            *enc = VG_ENC_GB18030;
            return VG_OK;
        }
        free(*gb);
        *gb = NULL;
        return VG_OK;
    }

    *enc = VG_ENC_GB18030;
    rc = gb18030_to_utf8(data, len, gb, gblen, &gbbad);
    if (rc == VG_ERR_INVALID)
        vg_why(why, whylen, "is neither UTF-8 (line %zu) nor GB18030 (line %zu) text",
               line_of(data, bad), line_of(data, gbbad));
    else if (rc == VG_ERR_IO)
        vg_why(why, whylen, "cannot be read: this system's iconv has no GB18030");
    return rc;
}

/* Stores the export as UTF-8 text in c->buf, converting it when it is GB18030. own, when
 * not NULL, is data itself in a buffer of len + 1 bytes that this function takes over. */
static vg_err load_text(vg_csv *c, const char *data, size_t len, char *own, char *why,
                        size_t whylen)
{
    char *gb = NULL;
    size_t gblen = 0;
    vg_err rc;

    rc = detect_encoding(data, len, &c->enc, &gb, &gblen, why, whylen);
    if (rc != VG_OK)
        goto out;

    if (gb != NULL) {
        c->buf = gb;
        c->len = gblen;
    } else {
        if (own == NULL) {
            own = malloc(len + 1);
            if (own == NULL) {
                rc = VG_ERR_NOMEM;
                goto out;
            }
            memcpy(own, data, len);
        }
        own[len] = '\0';
        c->buf = own;
        c->len = len;
        own = NULL;
    }

    /* Skip a byte order mark: UTF-8's, or GB18030's (84 31 95 33), now U+FEFF too. */
    if (c->len >= 3 && memcmp(c->buf, "\xEF\xBB\xBF", 3) == 0)
        c->pos = 3;
out:
    if (rc == VG_ERR_NOMEM)
        vg_why(why, whylen, "is too large to hold in memory");
    free(own);
    return rc;
}

/* ---- records --------------------------------------------------------------------- */

/* Appends a field to the current record, growing the field array when needed. */
static int push_field(vg_csv *c, size_t *nf, const char *f)
{
    if (*nf == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 16;
        const char **nb = realloc(c->fields, ncap * sizeof(*nb));
        if (nb == NULL)
            return -1;
        c->fields = nb;
        c->cap = ncap;
    }
    c->fields[(*nf)++] = f;
    return 0;
}

/* Moves past blank lines (empty, or spaces and tabs only). Returns 0 at the end. */
static int skip_blank_lines(vg_csv *c)
{
    const char *b = c->buf, *q;

    for (;;) {
        q = b + c->pos;
        while (*q == ' ' || *q == '\t')
            q++;
        if (q == b + c->len) {
            c->pos = c->len;
            return 0;
        }
        if (*q == '\n') {
            c->pos = (size_t)(q + 1 - b);
        } else if (*q == '\r') {
            c->pos = (size_t)(q + 1 + (q[1] == '\n') - b);
        } else {
            return 1;
        }
        c->line++;
    }
}

/* Reads one quoted field starting at the opening quote *pp, undoing "" in place and
 * leaving *pp at the byte after the field. Returns 0, or -1 when the quote is never
 * closed. The field text starts at the opening quote's position and is NUL-terminated. */
static int read_quoted(vg_csv *c, char **pp)
{
    char *r = *pp + 1, *w = *pp;
    char *end = c->buf + c->len;

    for (;;) {
        if (r == end) {
            *w = '\0';
            *pp = r;
            return -1;
        }
        if (*r == '"') {
            if (r[1] != '"')
                break;
            *w++ = '"';
            r += 2;
            continue;
        }
        if (*r == '\n' || (*r == '\r' && r[1] != '\n'))
            c->line++;
        *w++ = *r++;
    }
    r++;

    /* Text after the closing quote ("a"b) is kept as written, as spreadsheets do. */
    while (r < end && *r != ',' && *r != '\n' && *r != '\r')
        *w++ = *r++;
    *w = '\0';
    *pp = r;
    return 0;
}

/* Parses the fields of the record at c->pos into c->fields and moves past it. Returns
 * 1 when the record holds anything (a quote or a non-empty field), else 0. Sets
 * *row_error when the record is malformed or the field array cannot grow. */
static int parse_fields(vg_csv *c, size_t *nf, const char **row_error)
{
    static const unsigned char stop[256] = {[','] = 1, ['\n'] = 1, ['\r'] = 1, ['\0'] = 1};
    char *p = c->buf + c->pos, *end = c->buf + c->len;
    int content = 0;

    for (;;) {
        char *f = p;
        size_t qline = c->line;
        int open_quote = 0;
        char d;

        if (*p == '"') {
            content = 1;
            open_quote = read_quoted(c, &p) < 0;
        } else {
            /* A NUL cannot stop this early: detect_encoding refuses such files. */
            while (!stop[(unsigned char)*p])
                p++;
            content |= p != f;
        }
        if (push_field(c, nf, f) < 0) {
            snprintf(c->error, sizeof(c->error), "could not be read: out of memory");
            *row_error = c->error;
            c->nomem = 1;
            p = end;
            break;
        }
        if (open_quote) {
            snprintf(c->error, sizeof(c->error),
                     "has a quote opened on line %zu that is never closed", qline);
            *row_error = c->error;
            break;
        }

        d = *p; /* the NUL at buf[len] at the end of the text */
        *p = '\0';
        if (d == ',') {
            p++;
            continue;
        }
        if (d == '\r')
            p += 1 + (p[1] == '\n');
        else if (d == '\n')
            p++;
        if (d != '\0')
            c->line++;
        break;
    }
    c->pos = (size_t)(p - c->buf);
    return content;
}

/* Parses the next record into c->fields, skipping blank lines and rows of bare commas
 * (how spreadsheets save an empty row). Returns 0 at the end of the text; otherwise 1
 * with *nf, *start (the line it begins on) and, when it is malformed, *row_error set. */
static int parse_record(vg_csv *c, size_t *nf, size_t *start, const char **row_error)
{
    *row_error = NULL;
    while (skip_blank_lines(c)) {
        *start = c->line;
        *nf = 0;
        if (parse_fields(c, nf, row_error) || *row_error != NULL)
            return 1;
    }
    return 0;
}

/* Trims ASCII spaces, tabs and U+3000 from both ends of s in place; returns the start. */
static const char *trim_in_place(char *s)
{
    char *e = s + strlen(s);

    for (;;) {
        if (*s == ' ' || *s == '\t')
            s++;
        else if (strncmp(s, "\xE3\x80\x80", 3) == 0)
            s += 3;
        else
            break;
    }
    for (;;) {
        if (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        else if (e - s >= 3 && memcmp(e - 3, "\xE3\x80\x80", 3) == 0)
            e -= 3;
        else
            break;
    }
    *e = '\0';
    return s;
}

/* Reads the header record into c->header. */
static vg_err read_header(vg_csv *c, char *why, size_t whylen)
{
    size_t nf = 0, start = 0;
    const char *err = NULL;

    if (!parse_record(c, &nf, &start, &err)) {
        vg_why(why, whylen, "holds no header line");
        return VG_ERR_INVALID;
    }
    if (err != NULL) {
        vg_why(why, whylen, "header line %zu %s", start, err);
        return c->nomem ? VG_ERR_NOMEM : VG_ERR_INVALID;
    }
    c->header = malloc(nf * sizeof(*c->header));
    if (c->header == NULL) {
        vg_why(why, whylen, "could not be read: out of memory");
        return VG_ERR_NOMEM;
    }
    for (size_t i = 0; i < nf; i++)
        c->header[i] = trim_in_place((char *)c->fields[i]);
    /* A spreadsheet may add unnamed columns after the last named one. */
    while (nf > 0 && c->header[nf - 1][0] == '\0')
        nf--;
    c->ncols = nf;
    if (nf == 0) {
        vg_why(why, whylen, "header line %zu names no column", start);
        return VG_ERR_INVALID;
    }
    return VG_OK;
}

/* Builds a reader over data; own as for load_text. */
static vg_err open_text(const char *data, size_t len, char *own, vg_csv **out, char *why,
                        size_t whylen)
{
    vg_csv *c;
    vg_err rc;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        free(own);
        vg_why(why, whylen, "could not be read: out of memory");
        return VG_ERR_NOMEM;
    }
    c->line = 1;
    rc = load_text(c, data, len, own, why, whylen);
    if (rc != VG_OK)
        goto out;
    rc = read_header(c, why, whylen);
    if (rc != VG_OK)
        goto out;
    *out = c;
    c = NULL;
out:
    vg_csv_close(c);
    return rc;
}

vg_err vg_csv_open_buffer(const char *data, size_t len, vg_csv **out, char *why, size_t whylen)
{
    if (data == NULL) {
        data = "";
        len = 0;
    }
    return open_text(data, len, NULL, out, why, whylen);
}

vg_err vg_csv_open_file(const char *path, vg_csv **out, char *why, size_t whylen)
{
    struct stat st;
    char *buf = NULL;
    size_t cap, len = 0;
    int fd;
    vg_err rc = VG_ERR_IO;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        vg_why(why, whylen, "cannot be opened: %s", strerror(errno));
        return VG_ERR_IO;
    }
    cap = (fstat(fd, &st) == 0 && st.st_size > 0) ? (size_t)st.st_size + 1 : 65536;
    buf = malloc(cap);
    if (buf == NULL) {
        rc = VG_ERR_NOMEM;
        vg_why(why, whylen, "is too large to hold in memory");
        goto out;
    }
    for (;;) {
        ssize_t n;
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                rc = VG_ERR_NOMEM;
                vg_why(why, whylen, "is too large to hold in memory");
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            vg_why(why, whylen, "cannot be read: %s", strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    rc = open_text(buf, len, buf, out, why, whylen);
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}

void vg_csv_close(vg_csv *csv)
{
    if (csv == NULL)
        return;
    free(csv->buf);
    free(csv->header);
    free(csv->fields);
    free(csv);
}

vg_encoding vg_csv_encoding(const vg_csv *csv)
{
    return csv->enc;
}

const char *vg_encoding_name(vg_encoding enc)
{
    switch (enc) {
    case VG_ENC_UTF8:
        return "UTF-8";
    case VG_ENC_UTF8_BOM:
        return "UTF-8 with BOM";
    case VG_ENC_GB18030:
        return "GB18030";
    }
    return "unknown";
}

size_t vg_csv_columns(const vg_csv *csv)
{
    return csv->ncols;
}

const char *vg_csv_column(const vg_csv *csv, size_t i)
{
    return i < csv->ncols ? csv->header[i] : NULL;
}

long vg_csv_find_column(const vg_csv *csv, const char *name)
{
    for (size_t i = 0; i < csv->ncols; i++) {
        if (strcmp(csv->header[i], name) == 0)
            return (long)i;
    }
    return -1;
}

int vg_csv_next(vg_csv *csv, vg_csv_row *row)
{
    size_t nf = 0, start = 0;
    const char *err = NULL;

    memset(row, 0, sizeof(*row));
    if (!parse_record(csv, &nf, &start, &err))
        return 0;

    /* Spreadsheets pad rows with empty cells; only non-empty extra fields are a fault. */
    while (nf > csv->ncols && csv->fields[nf - 1][0] == '\0')
        nf--;
    if (err == NULL && nf > csv->ncols) {
        snprintf(csv->error, sizeof(csv->error), "has %zu fields, the header has %zu", nf,
                 csv->ncols);
        err = csv->error;
    }
    row->line = start;
    row->nfields = nf;
    row->fields = csv->fields;
    row->error = err;
    return 1;
}
