/* audit_read.c - reading the audit log back: scanning its entries, verifying its chain and
 * signatures offline, and the names of status codes. See audit.c for the line layout. */
#include "vg_audit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "vg_date.h"

#define HASH_HEX 64
#define SIG_MAX  512 /* base64 of the largest signature accepted */

static const char zero_hash[HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* ---- shared with audit.c ------------------------------------------------------------- */

/* Internal to the audit module (declared again in audit.c): the SHA-256 of data as 64
 * lower-case hex digits and a NUL. */
void vg_audit__sha256_hex(const void *data, size_t len, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[32];
    unsigned int mdlen = 0;

    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[HASH_HEX] = '\0';
}

/* Internal to the audit module (declared again in audit.c): the text a checkpoint's
 * signature covers. Returns what snprintf returns. */
int vg_audit__checkpoint_text(char *buf, size_t len, uint64_t seq, const char *head,
                              const char *time)
{
    return snprintf(buf, len, "vitalgate-audit-checkpoint seq=%llu head=%s time=%s",
                    (unsigned long long)seq, head, time);
}

/* ---- status code names ---------------------------------------------------------------- */

static const char *const code_names[] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

#define NCODES (sizeof(code_names) / sizeof(code_names[0]))

const char *vg_audit_code_name(int code)
{
    return code >= 0 && (size_t)code < NCODES ? code_names[code] : "UNKNOWN";
}

int vg_audit_code_parse(const char *name)
{
    for (size_t i = 0; name && i < NCODES; i++)
        if (strcasecmp(name, code_names[i]) == 0)
            return (int)i;
    return -1;
}

/* ---- one line ------------------------------------------------------------------------- */

/* An entry with what only verification needs. */
typedef struct parsed {
    vg_audit_entry e;
    char time[32]; /* as stored */
    char prev[HASH_HEX + 1];
    char hash[HASH_HEX + 1];
    char head[HASH_HEX + 1];
    char alg[32];
    char sig[SIG_MAX + 1];
} parsed;

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* The length of the hashed content of a line (everything before ,"hash":), or 0 when the
 * line does not end in ,"hash":"<64 hex>"}. */
static size_t content_length(const char *line, size_t len)
{
    static const char suffix[] = ",\"hash\":\"";
    const size_t slen = sizeof(suffix) - 1, tail = slen + HASH_HEX + 2;

    if (len <= tail || memcmp(line + len - tail, suffix, slen) != 0 ||
        !is_hex(line + len - tail + slen, HASH_HEX) || memcmp(line + len - 2, "\"}", 2) != 0)
        return 0;
    return len - tail;
}

/* seq and prev read by their fixed places alone (for lines that fail other checks). */
static int seq_and_prev(const char *line, size_t len, uint64_t *seq, char prev[HASH_HEX + 1])
{
    static const char pfx[] = ",\"prev\":\"";
    const size_t plen = sizeof(pfx) - 1;
    size_t content = content_length(line, len), i = 7;
    uint64_t v = 0;

    if (content < 7 + plen + HASH_HEX + 1 || memcmp(line, "{\"seq\":", 7) != 0)
        return -1;
    while (i < content && i < 27 && line[i] >= '0' && line[i] <= '9')
        v = v * 10 + (uint64_t)(line[i++] - '0');
    if (i == 7 || line[i] != ',')
        return -1;
    if (memcmp(line + content - 1 - HASH_HEX - plen, pfx, plen) != 0)
        return -1;
    *seq = v;
    memcpy(prev, line + content - 1 - HASH_HEX, HASH_HEX);
    prev[HASH_HEX] = '\0';
    return 0;
}

/* Parses "2026-12-04T16:00:00.123456Z" exactly as the writer writes it. */
static int parse_stored_time(const char *s, int64_t *us)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    int v[7] = {0}, field = 0;
    struct tm tm;

    if (strlen(s) != sizeof(shape) - 1)
        return -1;
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd') {
            if (s[i] < '0' || s[i] > '9')
                return -1;
            v[field] = v[field] * 10 + (s[i] - '0');
        } else if (s[i] != shape[i]) {
            return -1;
        } else {
            field++;
        }
    }
    if (!vg_date_valid(v[0], v[1], v[2]) || v[3] > 23 || v[4] > 59 || v[5] > 60)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = v[0] - 1900;
    tm.tm_mon = v[1] - 1;
    tm.tm_mday = v[2];
    tm.tm_hour = v[3];
    tm.tm_min = v[4];
    tm.tm_sec = v[5];
    *us = (int64_t)timegm(&tm) * 1000000 + v[6];
    return 0;
}

/* Copies a UTF-8 string into a fixed buffer, cut short at a character boundary. */
static void copy_utf8(char *out, size_t outlen, const char *s, size_t len)
{
    size_t n = len < outlen - 1 ? len : outlen - 1;

    while (n > 0 && n < len && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    memcpy(out, s, n);
    out[n] = '\0';
}

static int get_string(json_t *o, const char *name, char *out, size_t outlen, char *why,
                      size_t whylen)
{
    json_t *v = json_object_get(o, name);

    if (!json_is_string(v)) {
        snprintf(why, whylen, "no text member \"%s\"", name);
        return -1;
    }
    copy_utf8(out, outlen, json_string_value(v), json_string_length(v));
    return 0;
}

static int get_hash(json_t *o, const char *name, char out[HASH_HEX + 1], char *why, size_t whylen)
{
    if (get_string(o, name, out, HASH_HEX + 1, why, whylen) != 0)
        return -1;
    if (strlen(out) != HASH_HEX || !is_hex(out, HASH_HEX)) {
        snprintf(why, whylen, "\"%s\" is not 64 hex digits", name);
        return -1;
    }
    return 0;
}

static int get_uint(json_t *o, const char *name, uint64_t *out, char *why, size_t whylen)
{
    json_t *v = json_object_get(o, name);

    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        snprintf(why, whylen, "no whole number member \"%s\"", name);
        return -1;
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* The members a call and a subject entry share. */
static int get_ctx(json_t *o, vg_audit_entry *e, char *why, size_t whylen)
{
    if (get_uint(o, "call", &e->call_id, why, whylen) != 0 ||
        get_string(o, "principal", e->principal, sizeof(e->principal), why, whylen) != 0 ||
        get_string(o, "peer", e->peer, sizeof(e->peer), why, whylen) != 0 ||
        get_string(o, "method", e->method, sizeof(e->method), why, whylen) != 0 ||
        get_string(o, "purpose", e->purpose, sizeof(e->purpose), why, whylen) != 0)
        return -1;
    return 0;
}

static int get_kind_members(json_t *o, parsed *p, char *why, size_t whylen)
{
    vg_audit_entry *e = &p->e;
    char result[32];
    uint64_t dur;

    if (strcmp(e->kind, "subject") == 0)
        return get_ctx(o, e, why, whylen) != 0 ||
                       get_string(o, "subject", e->subject, sizeof(e->subject), why, whylen) ||
                       get_string(o, "death_status", e->death_status, sizeof(e->death_status), why,
                                  whylen)
                   ? -1
                   : 0;
    if (strcmp(e->kind, "call") == 0) {
        if (get_ctx(o, e, why, whylen) != 0 ||
            get_string(o, "result", result, sizeof(result), why, whylen) != 0 ||
            get_uint(o, "duration_us", &dur, why, whylen) != 0 ||
            get_uint(o, "rows", &e->rows, why, whylen) != 0)
            return -1;
        e->duration_us = (int64_t)dur;
        e->code = vg_audit_code_parse(result);
        if (e->code < 0) {
            snprintf(why, whylen, "unknown result \"%s\"", result);
            return -1;
        }
        return 0;
    }
    if (strcmp(e->kind, "checkpoint") == 0)
        return get_hash(o, "head", p->head, why, whylen) != 0 ||
                       get_string(o, "alg", p->alg, sizeof(p->alg), why, whylen) != 0 ||
                       get_string(o, "sig", p->sig, sizeof(p->sig), why, whylen) != 0
                   ? -1
                   : 0;
    snprintf(why, whylen, "unknown kind \"%s\"", e->kind);
    return -1;
}

/* Parses one line (without its newline) into *p. Returns 0, or -1 with a reason. */
static int parse_line(const char *line, size_t len, parsed *p, char *why, size_t whylen)
{
    json_error_t jerr;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    uint64_t seq;
    int rc = -1;

    memset(p, 0, sizeof(*p));
    p->e.code = -1;
    p->e.line = line;
    if (!json_is_object(o)) {
        snprintf(why, whylen, "not a JSON object (%.100s)", o ? "another JSON value" : jerr.text);
        goto out;
    }
    if (get_uint(o, "seq", &seq, why, whylen) != 0 ||
        get_string(o, "time", p->time, sizeof(p->time), why, whylen) != 0 ||
        get_string(o, "kind", p->e.kind, sizeof(p->e.kind), why, whylen) != 0 ||
        get_hash(o, "prev", p->prev, why, whylen) != 0 ||
        get_hash(o, "hash", p->hash, why, whylen) != 0)
        goto out;
    if (seq == 0) {
        snprintf(why, whylen, "seq 0 (numbering starts at 1)");
        goto out;
    }
    p->e.seq = seq;
    if (parse_stored_time(p->time, &p->e.time_us) != 0) {
        snprintf(why, whylen, "\"time\" is not a UTC time to the microsecond");
        goto out;
    }
    rc = get_kind_members(o, p, why, whylen);
out:
    json_decref(o);
    return rc;
}

/* Opens the log: path is its folder or the file itself. */
static FILE *open_log(const char *path, char *why, size_t whylen, int *missing)
{
    char file[4096];
    struct stat st;
    FILE *f;

    *missing = 0;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(file, sizeof(file), "%s/audit.log", path);
    else
        snprintf(file, sizeof(file), "%s", path);
    f = fopen(file, "rb");
    if (!f) {
        *missing = errno == ENOENT;
        snprintf(why, whylen, "%s: %s", file, strerror(errno));
    }
    return f;
}

/* ---- scanning ------------------------------------------------------------------------- */

struct vg_audit_scan {
    FILE *f;
    char *line;
    size_t cap;
};

vg_err vg_audit_scan_open(const char *path, vg_audit_scan **out, char *why, size_t whylen)
{
    vg_audit_scan *s = calloc(1, sizeof(*s));
    int missing;

    *out = NULL;
    if (!s) {
        snprintf(why, whylen, "out of memory");
        return VG_ERR_NOMEM;
    }
    s->f = open_log(path, why, whylen, &missing);
    if (!s->f) {
        free(s);
        return missing ? VG_ERR_NOT_FOUND : VG_ERR_IO;
    }
    *out = s;
    return VG_OK;
}

int vg_audit_scan_next(vg_audit_scan *s, vg_audit_entry *e)
{
    ssize_t n = getline(&s->line, &s->cap, s->f);
    parsed p;
    char why[160];

    /* A line without its newline is being written (or was cut off): the log ends before. */
    if (n <= 0 || s->line[n - 1] != '\n')
        return 0;
    s->line[--n] = '\0';
    if (parse_line(s->line, (size_t)n, &p, why, sizeof(why)) != 0)
        return VG_ERR_INVALID;
    *e = p.e;
    return 1;
}

void vg_audit_scan_close(vg_audit_scan *s)
{
    if (!s)
        return;
    if (s->f)
        fclose(s->f);
    free(s->line);
    free(s);
}

/* ---- verification --------------------------------------------------------------------- */

/* The label a checkpoint made with this key carries, or NULL for a key of another kind. */
static const char *key_alg(EVP_PKEY *key)
{
    char group[64];
    size_t glen = 0;

    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519)
        return "ed25519";
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
        EVP_PKEY_get_group_name(key, group, sizeof(group), &glen) == 1 &&
        (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0))
        return "ecdsa-p256-sha256";
    return NULL;
}

/* Reads a PEM public key or the key of a PEM certificate. */
static EVP_PKEY *load_public_key(const char *path, char *why, size_t whylen)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *key = NULL;
    X509 *cert;

    if (!f) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    cert = PEM_read_X509(f, NULL, NULL, NULL);
    if (cert) {
        key = X509_get_pubkey(cert);
        X509_free(cert);
    } else {
        rewind(f);
        key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    }
    fclose(f);
    if (!key)
        snprintf(why, whylen, "%s: not a PEM public key or certificate", path);
    else if (!key_alg(key))
        snprintf(why, whylen, "%s: not an EC P-256 or Ed25519 key", path);
    if (key && !key_alg(key)) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    return key;
}

static int signature_holds(EVP_PKEY *key, const parsed *p)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    const EVP_MD *digest = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
    unsigned char sig[SIG_MAX];
    char text[256];
    size_t b64 = strlen(p->sig), pad = 0;
    int n, ok = 0;

    if (b64 == 0 || b64 % 4 != 0 || !md)
        goto out;
    while (pad < 2 && p->sig[b64 - 1 - pad] == '=')
        pad++;
    n = EVP_DecodeBlock(sig, (const unsigned char *)p->sig, (int)b64);
    if (n < 0 || (size_t)n < pad)
        goto out;
    vg_audit__checkpoint_text(text, sizeof(text), p->e.seq, p->head, p->time);
    ok = EVP_DigestVerifyInit(md, NULL, digest, NULL, key) == 1 &&
         EVP_DigestVerify(md, sig, (size_t)n - pad, (const unsigned char *)text, strlen(text)) == 1;
out:
    EVP_MD_CTX_free(md);
    return ok;
}

typedef struct verifier {
    FILE *f;
    EVP_PKEY *key;
    const char *alg;
    size_t lineno;
    uint64_t expected;            /* the seq the next entry must carry */
    char last_hash[HASH_HEX + 1]; /* hash of the entry before it */
    char last_prev[HASH_HEX + 1]; /* and that entry's prev */
    uint64_t uncovered_seq;       /* first entry after the last checkpoint; 0: none */
    size_t uncovered_line;
    vg_audit_report *r;
} verifier;

static vg_err problem(verifier *v, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static vg_err problem(verifier *v, uint64_t seq, const char *fmt, ...)
{
    va_list ap;

    v->r->first_bad_seq = seq;
    v->r->first_bad_line = v->lineno;
    va_start(ap, fmt);
    vsnprintf(v->r->problem, sizeof(v->r->problem), fmt, ap);
    va_end(ap);
    return VG_ERR_INVALID;
}

/* Looks at the lines after the current one, leaving the position as it was: how many
 * lines on the one holding seq want is (0: none), searching at most max lines (0: all).
 * prev_out, when given, receives the prev of the first line looked at. */
static size_t look_ahead(FILE *f, uint64_t want, size_t max, char prev_out[HASH_HEX + 1])
{
    off_t pos = ftello(f);
    char *line = NULL, prev[HASH_HEX + 1];
    size_t cap = 0, n = 0, found = 0;
    ssize_t len;
    uint64_t seq;

    if (prev_out)
        prev_out[0] = '\0';
    while ((max == 0 || n < max) && (len = getline(&line, &cap, f)) > 0) {
        n++;
        if (line[len - 1] == '\n')
            len--;
        if (seq_and_prev(line, (size_t)len, &seq, prev) != 0)
            continue;
        if (n == 1 && prev_out)
            memcpy(prev_out, prev, sizeof(prev));
        if (seq == want) {
            found = n;
            break;
        }
    }
    free(line);
    clearerr(f);
    fseeko(f, pos, SEEK_SET);
    return found;
}

/* Checks where an entry with good hash and members stands in the sequence and chain. */
static vg_err check_order(verifier *v, const parsed *p)
{
    uint64_t s = p->e.seq, k = v->expected;
    char next_prev[HASH_HEX + 1];
    size_t ahead;

    if (s == k && strcmp(p->prev, v->last_hash) == 0)
        return VG_OK;
    if (s == k) {
        if (look_ahead(v->f, k, 1, next_prev) == 1 && strcmp(next_prev, v->last_hash) == 0)
            return problem(v, s,
                           "line %zu is an inserted entry: it claims seq %llu but does not "
                           "link to the entry before it, and the next line is entry %llu",
                           v->lineno, (unsigned long long)s, (unsigned long long)s);
        if (k == 1)
            return problem(v, s, "entry 1 does not start a chain: its prev is not all zeros");
        return problem(v, s,
                       "entry %llu does not link to entry %llu: its prev is not that entry's "
                       "hash (one of the two was replaced)",
                       (unsigned long long)s, (unsigned long long)(k - 1));
    }
    if (s > k) {
        ahead = look_ahead(v->f, k, 0, NULL);
        if (ahead)
            return problem(v, k, "entry %llu is out of order: it is at line %zu, after entry %llu",
                           (unsigned long long)k, v->lineno + ahead, (unsigned long long)s);
        if (s == k + 1)
            return problem(v, k, "entry %llu is missing", (unsigned long long)k);
        return problem(v, k, "entries %llu..%llu are missing", (unsigned long long)k,
                       (unsigned long long)(s - 1));
    }
    if (strcmp(p->hash, v->last_hash) == 0)
        return problem(v, s, "line %zu repeats entry %llu: an inserted copy", v->lineno,
                       (unsigned long long)s);
    if (s + 1 == k && strcmp(p->prev, v->last_prev) == 0)
        return problem(v, s,
                       "entry %llu appears twice (lines %zu and %zu, both following entry "
                       "%llu): one of them was inserted",
                       (unsigned long long)s, v->lineno - 1, v->lineno,
                       (unsigned long long)(s - 1));
    return problem(v, s, "line %zu is an inserted entry: seq %llu comes again after entry %llu",
                   v->lineno, (unsigned long long)s, (unsigned long long)(k - 1));
}

static vg_err check_line(verifier *v, const char *line, size_t len)
{
    char hash[HASH_HEX + 1], prev[HASH_HEX + 1], why[160];
    size_t content = content_length(line, len);
    uint64_t seq;
    parsed p;
    vg_err err;

    if (content == 0)
        return problem(v, v->expected, "line %zu is not an audit entry (no hash at its end)",
                       v->lineno);
    vg_audit__sha256_hex(line, content, hash);
    if (memcmp(hash, line + len - 2 - HASH_HEX, HASH_HEX) != 0) {
        if (seq_and_prev(line, len, &seq, prev) == 0 &&
            (seq == v->expected || strcmp(prev, v->last_hash) == 0))
            return problem(v, v->expected,
                           "entry %llu was changed: its hash does not match its content",
                           (unsigned long long)v->expected);
        return problem(v, v->expected,
                       "line %zu was changed or inserted: its hash does not match its content",
                       v->lineno);
    }
    if (parse_line(line, len, &p, why, sizeof(why)) != 0)
        return problem(v, v->expected, "line %zu is not a valid audit entry: %s", v->lineno, why);
    if ((err = check_order(v, &p)) != VG_OK)
        return err;

    if (strcmp(p.e.kind, "checkpoint") == 0) {
        if (strcmp(p.head, p.prev) != 0)
            return problem(v, p.e.seq,
                           "checkpoint at entry %llu names a head that is not the hash of "
                           "entry %llu",
                           (unsigned long long)p.e.seq, (unsigned long long)(p.e.seq - 1));
        if (strcmp(p.alg, v->alg) != 0)
            return problem(v, p.e.seq, "checkpoint at entry %llu is signed with %s, the key is %s",
                           (unsigned long long)p.e.seq, p.alg, v->alg);
        if (!signature_holds(v->key, &p))
            return problem(v, p.e.seq, "checkpoint at entry %llu has a bad signature",
                           (unsigned long long)p.e.seq);
        v->r->checkpoints++;
        v->uncovered_seq = 0;
    } else if (v->uncovered_seq == 0) {
        v->uncovered_seq = p.e.seq;
        v->uncovered_line = v->lineno;
    }
    v->expected = p.e.seq + 1;
    memcpy(v->last_hash, p.hash, sizeof(v->last_hash));
    memcpy(v->last_prev, p.prev, sizeof(v->last_prev));
    v->r->entries++;
    return VG_OK;
}

static vg_err verify_lines(verifier *v)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    vg_err err = VG_OK;

    while (err == VG_OK && (n = getline(&line, &cap, v->f)) > 0) {
        v->lineno++;
        if (line[n - 1] != '\n')
            err = problem(v, v->expected, "line %zu is incomplete: the last write was cut off",
                          v->lineno);
        else
            err = check_line(v, line, (size_t)n - 1);
    }
    if (err == VG_OK && ferror(v->f)) {
        snprintf(v->r->problem, sizeof(v->r->problem), "reading line %zu: %s", v->lineno + 1,
                 strerror(errno));
        err = VG_ERR_IO;
    }
    if (err == VG_OK && v->uncovered_seq) {
        v->lineno = v->uncovered_line;
        err = problem(v, v->uncovered_seq,
                      "entries after the last checkpoint (seq %llu..%llu) are not covered by a "
                      "signed checkpoint: the log's end may have been cut off",
                      (unsigned long long)v->uncovered_seq, (unsigned long long)(v->expected - 1));
    }
    free(line);
    return err;
}

vg_err vg_audit_verify(const char *path, const char *pubkey_path, vg_audit_report *report)
{
    verifier v;
    int missing;
    vg_err err = VG_ERR_IO;

    memset(report, 0, sizeof(*report));
    memset(&v, 0, sizeof(v));
    v.r = report;
    v.expected = 1;
    memcpy(v.last_hash, zero_hash, sizeof(zero_hash));
    v.key = load_public_key(pubkey_path, report->problem, sizeof(report->problem));
    if (!v.key)
        goto out;
    v.alg = key_alg(v.key);
    v.f = open_log(path, report->problem, sizeof(report->problem), &missing);
    if (!v.f)
        goto out;
    err = verify_lines(&v);
out:
    if (v.f)
        fclose(v.f);
    EVP_PKEY_free(v.key);
    return err;
}
