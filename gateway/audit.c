/* audit.c - the audit log's writer.
 *
 * An append serialises its entries, numbers them and chains their hashes under one mutex,
 * into a queue of text in file order. One writer thread takes whatever is queued, writes
 * it with one write(2) and makes it durable with one fdatasync(2), then tells every caller
 * of that group. While a sync runs, new entries gather for the next group, so N calls
 * arriving together cost one sync instead of N.
 *
 * Line layout (the reader and the tail check below rely on it):
 *   {"seq":N,"time":"...","kind":"...", ...members of the kind...,"prev":"<64 hex>"
 *   ,"hash":"<64 hex>"}\n
 * hash is the SHA-256 of every byte before ,"hash": - so it covers prev, and through prev
 * the whole history.
 *
 * A checkpoint is chained right after every checkpoint_entries-th entry by the appender
 * that reaches the count; the writer adds one when the oldest uncovered entry has waited
 * checkpoint_interval_ms, and at close. */
#include "vg_audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "vg_buf.h"
#include "vg_log.h"

/* Shared with audit_read.c, which defines them. */
void vg_audit__sha256_hex(const void *data, size_t len, char hex[65]);
int vg_audit__checkpoint_text(char *buf, size_t len, uint64_t seq, const char *head,
                              const char *time);

#define HASH_HEX  64
#define TIME_LEN  27 /* 2026-12-04T16:00:00.123456Z */
#define TAIL_READ (64 * 1024)
/* Room for everything an entry adds around its body: seq, time, prev and hash. */
#define ENTRY_OVERHEAD 256
/* Room for a checkpoint's body (head, alg and signature). */
#define CHECKPOINT_BODY 600

static const char zero_hash[HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

typedef struct pending_done {
    vg_audit_done_fn fn;
    void *arg;
} pending_done;

struct vg_audit {
    char path[VG_PATH_MAX + 16];
    int fd;
    EVP_PKEY *key;
    const char *alg;
    int64_t interval_ns;
    uint64_t cp_entries;

    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_t thread;

    /* Under mu. */
    vg_buf queue;        /* chained lines not yet handed to the writer */
    pending_done *dones; /* callbacks of those lines, in order */
    size_t ndones, capdones;
    uint64_t seq;            /* the last seq given out */
    char head[HASH_HEX + 1]; /* hash of the entry with that seq */
    uint64_t uncovered;      /* entries since the last checkpoint */
    int64_t uncovered_ns;    /* monotonic time of the first of them */
    int stopping;

    atomic_int failed;
    atomic_ullong syncs;
};

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* "2026-12-04T16:00:00.123456Z" for now, UTC. */
static void format_now(char out[TIME_LEN + 1])
{
    struct timespec ts;
    struct tm tm;
    char buf[96];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
    memcpy(out, buf, TIME_LEN);
    out[TIME_LEN] = '\0';
}

/* ---- JSON text ------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 when it is not valid:
 * overlong forms, surrogates and code points past U+10FFFF are refused, as JSON readers do. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Appends s as a JSON string. Bytes that are not UTF-8 become U+FFFD: the text comes from
 * certificates and requests, and a line a JSON reader refuses would hide the entry. */
static vg_err put_string(vg_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);
    vg_err err = vg_buf_reserve(b, n * 6 + 2);

    if (err != VG_OK)
        return err;
    b->data[b->len++] = '"';
    while (n > 0) {
        size_t len = utf8_len(p, n);
        unsigned char c = p[0];

        if (len == 0) {
            /* Each replacement (3 bytes) stands for one byte whose room was 6. */
            memcpy(b->data + b->len, "\xef\xbf\xbd", 3);
            b->len += 3;
            len = 1;
        } else if (c == '"' || c == '\\') {
            b->data[b->len++] = '\\';
            b->data[b->len++] = c;
        } else if (c == '\n') {
            memcpy(b->data + b->len, "\\n", 2);
            b->len += 2;
        } else if (c == '\r') {
            memcpy(b->data + b->len, "\\r", 2);
            b->len += 2;
        } else if (c == '\t') {
            memcpy(b->data + b->len, "\\t", 2);
            b->len += 2;
        } else if (c < 0x20 || c == 0x7f) {
            b->len += (size_t)snprintf((char *)b->data + b->len, 7, "\\u%04x", c);
        } else {
            memcpy(b->data + b->len, p, len);
            b->len += len;
        }
        p += len;
        n -= len;
    }
    b->data[b->len++] = '"';
    return VG_OK;
}

static vg_err put_text(vg_buf *b, const char *s)
{
    return vg_buf_append(b, s, strlen(s));
}

/* Appends "name":"value", - the comma after, so members chain. */
static vg_err put_member(vg_buf *b, const char *name, const char *value)
{
    vg_err err = put_text(b, "\"");

    if (err == VG_OK)
        err = put_text(b, name);
    if (err == VG_OK)
        err = put_text(b, "\":");
    if (err == VG_OK)
        err = put_string(b, value);
    if (err == VG_OK)
        err = put_text(b, ",");
    return err;
}

/* Writes v in decimal at out (no NUL); returns the number of digits. */
static size_t put_decimal(char *out, unsigned long long v)
{
    char tmp[24];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static vg_err put_u64(vg_buf *b, const char *name, unsigned long long v)
{
    char num[96];
    size_t n = strlen(name);

    if (n > 60)
        n = 60;
    num[0] = '"';
    memcpy(num + 1, name, n);
    memcpy(num + 1 + n, "\":", 2);
    n += 3;
    n += put_decimal(num + n, v);
    num[n++] = ',';
    return vg_buf_append(b, num, n);
}

static vg_err put_i64(vg_buf *b, const char *name, long long v)
{
    char num[64];

    snprintf(num, sizeof(num), "\"%s\":%lld,", name, v);
    return put_text(b, num);
}

/* The members every call and subject entry shares, after seq and time. */
static vg_err put_ctx(vg_buf *b, const char *kind, const vg_audit_ctx *ctx)
{
    vg_err err = put_member(b, "kind", kind);

    if (err == VG_OK)
        err = put_u64(b, "call", (unsigned long long)ctx->call_id);
    if (err == VG_OK)
        err = put_member(b, "principal", ctx->principal);
    if (err == VG_OK)
        err = put_member(b, "peer", ctx->peer);
    if (err == VG_OK)
        err = put_member(b, "method", ctx->method);
    if (err == VG_OK)
        err = put_member(b, "purpose", ctx->purpose);
    return err;
}

/* ---- chaining (under mu) -------------------------------------------------------------- */

/* Adds one entry to the queue: seq, time, the body (members ending in ','), prev, hash.
 * The queue has room (reserved by the caller). time may be NULL for now. */
static void chain_entry(vg_audit *a, const uint8_t *body, size_t len, const char *time,
                        int checkpoint)
{
    char now[TIME_LEN + 1], hash[HASH_HEX + 1];
    char *start = (char *)a->queue.data + a->queue.len;
    size_t n;

    if (!time) {
        format_now(now);
        time = now;
    }
    memcpy(start, "{\"seq\":", 7);
    n = 7 + put_decimal(start + 7, (unsigned long long)(a->seq + 1));
    memcpy(start + n, ",\"time\":\"", 9);
    n += 9;
    memcpy(start + n, time, TIME_LEN);
    n += TIME_LEN;
    memcpy(start + n, "\",", 2);
    n += 2;
    memcpy(start + n, body, len);
    n += len;
    memcpy(start + n, "\"prev\":\"", 8);
    n += 8;
    memcpy(start + n, a->head, HASH_HEX);
    n += HASH_HEX;
    start[n++] = '"';
    vg_audit__sha256_hex(start, n, hash);
    memcpy(start + n, ",\"hash\":\"", 9);
    n += 9;
    memcpy(start + n, hash, HASH_HEX);
    n += HASH_HEX;
    memcpy(start + n, "\"}\n", 3);
    n += 3;

    a->queue.len += n;
    a->seq++;
    memcpy(a->head, hash, sizeof(hash));
    if (checkpoint) {
        a->uncovered = 0;
    } else if (a->uncovered++ == 0) {
        a->uncovered_ns = mono_ns();
    }
}

/* Signs "vitalgate-audit-checkpoint seq=... head=... time=..." with the gateway's key and
 * base64-encodes the signature into out. */
static vg_err sign_text(EVP_PKEY *key, const char *text, char *out, size_t outlen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    const EVP_MD *digest = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
    unsigned char sig[256];
    size_t siglen = sizeof(sig);
    vg_err err = VG_ERR_IO;

    if (!md || EVP_DigestSignInit(md, NULL, digest, NULL, key) != 1 ||
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)text, strlen(text)) != 1)
        goto out;
    if (outlen < 4 * ((siglen + 2) / 3) + 1)
        goto out;
    EVP_EncodeBlock((unsigned char *)out, sig, (int)siglen);
    err = VG_OK;
out:
    EVP_MD_CTX_free(md);
    return err;
}

/* Queues a signed checkpoint over everything chained so far. */
static void chain_checkpoint(vg_audit *a)
{
    char time[TIME_LEN + 1], text[256], sig[400], body[CHECKPOINT_BODY];
    int n;

    format_now(time);
    vg_audit__checkpoint_text(text, sizeof(text), a->seq + 1, a->head, time);
    if (sign_text(a->key, text, sig, sizeof(sig)) != VG_OK) {
        /* Only memory exhaustion gets here; the next checkpoint covers these entries. */
        vg_error(NULL, NULL, "audit log %s: a checkpoint could not be signed", a->path);
        a->uncovered_ns = mono_ns();
        return;
    }
    n = snprintf(body, sizeof(body),
                 "\"kind\":\"checkpoint\",\"head\":\"%s\",\"alg\":\"%s\","
                 "\"sig\":\"%s\",",
                 a->head, a->alg, sig);
    if (vg_buf_reserve(&a->queue, (size_t)n + ENTRY_OVERHEAD) != VG_OK) {
        vg_error(NULL, NULL, "audit log %s: out of memory for a checkpoint", a->path);
        a->uncovered_ns = mono_ns();
        return;
    }
    chain_entry(a, (const uint8_t *)body, (size_t)n, time, 1);
}

/* Chains n bodies (laid out one after the other, ends in offs[]) and queues done. */
static vg_err enqueue(vg_audit *a, const vg_buf *bodies, const size_t *offs, size_t n,
                      vg_audit_done_fn done, void *arg)
{
    char now[TIME_LEN + 1];
    vg_err err = VG_ERR_UNAVAILABLE;

    pthread_mutex_lock(&a->mu);
    if (atomic_load(&a->failed) || a->stopping)
        goto out;
    /* All the room the entries and the checkpoints among them can take, so chaining
     * cannot fail half-way. */
    err =
        vg_buf_reserve(&a->queue, bodies->len + n * ENTRY_OVERHEAD +
                                      (n / a->cp_entries + 1) * (CHECKPOINT_BODY + ENTRY_OVERHEAD));
    if (err == VG_OK && a->ndones == a->capdones) {
        size_t cap = a->capdones ? a->capdones * 2 : 64;
        pending_done *d = realloc(a->dones, cap * sizeof(*d));

        if (!d)
            err = VG_ERR_NOMEM;
        else
            a->dones = d, a->capdones = cap;
    }
    if (err != VG_OK)
        goto out;
    format_now(now); /* one time for the entries of one hand-over */
    for (size_t i = 0; i < n; i++) {
        size_t from = i ? offs[i - 1] : 0;

        chain_entry(a, bodies->data + from, offs[i] - from, now, 0);
        /* Right after the entry that makes the count, whatever the group it lands in (and
         * again a count later should signing have failed). */
        if (a->uncovered % a->cp_entries == 0)
            chain_checkpoint(a);
    }
    a->dones[a->ndones++] = (pending_done){done, arg};
    pthread_cond_signal(&a->wake);
out:
    pthread_mutex_unlock(&a->mu);
    return err;
}

/* Appends the bodies of n subject entries to bodies, recording where each ends. */
static vg_err put_subjects(vg_buf *bodies, size_t *offs, const vg_audit_ctx *ctx,
                           const vg_audit_subject *subjects, size_t n)
{
    vg_buf head = {0};
    vg_err err = n ? put_ctx(&head, "subject", ctx) : VG_OK;

    /* The members the call's entries share are made once and copied into each. */
    for (size_t i = 0; i < n && err == VG_OK; i++) {
        err = vg_buf_append(bodies, head.data, head.len);
        if (err == VG_OK)
            err = put_member(bodies, "subject", subjects[i].id_number);
        if (err == VG_OK)
            err = put_member(bodies, "death_status", subjects[i].death_status);
        offs[i] = bodies->len;
    }
    vg_buf_free(&head);
    return err;
}

/* Appends the body of a call entry. */
static vg_err put_call(vg_buf *body, const vg_audit_ctx *ctx, int code, int64_t duration_us,
                       uint64_t rows)
{
    vg_err err = put_ctx(body, "call", ctx);

    if (err == VG_OK)
        err = put_member(body, "result", vg_audit_code_name(code));
    if (err == VG_OK)
        err = put_i64(body, "duration_us", (long long)duration_us);
    if (err == VG_OK)
        err = put_u64(body, "rows", (unsigned long long)rows);
    return err;
}

/* Subject entries, then a call entry when with_call, under one callback. */
static vg_err append(vg_audit *a, const vg_audit_ctx *ctx, const vg_audit_subject *subjects,
                     size_t n, int with_call, int code, int64_t duration_us, uint64_t rows,
                     vg_audit_done_fn done, void *arg)
{
    vg_buf bodies = {0};
    size_t *offs;
    vg_err err;

    if (!a || atomic_load(&a->failed))
        return VG_ERR_UNAVAILABLE;
    offs = malloc((n + 1) * sizeof(*offs));
    if (!offs)
        return VG_ERR_NOMEM;
    err = put_subjects(&bodies, offs, ctx, subjects, n);
    if (err == VG_OK && with_call) {
        err = put_call(&bodies, ctx, code, duration_us, rows);
        offs[n] = bodies.len;
    }
    if (err == VG_OK)
        err = enqueue(a, &bodies, offs, n + (with_call ? 1 : 0), done, arg);
    vg_buf_free(&bodies);
    free(offs);
    return err;
}

vg_err vg_audit_subjects(vg_audit *a, const vg_audit_ctx *ctx, const vg_audit_subject *subjects,
                         size_t n, vg_audit_done_fn done, void *arg)
{
    return append(a, ctx, subjects, n, 0, 0, 0, 0, done, arg);
}

vg_err vg_audit_call(vg_audit *a, const vg_audit_ctx *ctx, int code, int64_t duration_us,
                     uint64_t rows, vg_audit_done_fn done, void *arg)
{
    return append(a, ctx, NULL, 0, 1, code, duration_us, rows, done, arg);
}

vg_err vg_audit_answer(vg_audit *a, const vg_audit_ctx *ctx, const vg_audit_subject *subjects,
                       size_t n, int code, int64_t duration_us, uint64_t rows,
                       vg_audit_done_fn done, void *arg)
{
    return append(a, ctx, subjects, n, 1, code, duration_us, rows, done, arg);
}

int vg_audit_failed(const vg_audit *a)
{
    return a ? atomic_load(&((vg_audit *)a)->failed) : 0;
}

/* For tests: how many groups have been synced so far. */
uint64_t vg_audit__syncs(const vg_audit *a)
{
    return atomic_load(&((vg_audit *)a)->syncs);
}

/* ---- the writer thread ---------------------------------------------------------------- */

/* Writes and syncs one group. On failure marks the log failed for good and logs why. */
static vg_err write_group(vg_audit *a, const vg_buf *out)
{
    size_t done = 0;
    const char *what = "write";

    while (done < out->len) {
        ssize_t w = write(a->fd, out->data + done, out->len - done);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            goto fail;
        }
        done += (size_t)w;
    }
    what = "fdatasync";
    while (fdatasync(a->fd) != 0) {
        if (errno != EINTR)
            goto fail;
    }
    atomic_fetch_add(&a->syncs, 1);
    return VG_OK;
fail:
    vg_error(NULL, NULL,
             "audit log %s: %s failed: %s (%zu of %zu bytes written); the audit log is now "
             "closed for writing and every audited call fails until the gateway restarts",
             a->path, what, strerror(errno), done, out->len);
    atomic_store(&a->failed, 1);
    return VG_ERR_UNAVAILABLE;
}

/* A checkpoint is due when the oldest entry it would cover has waited the interval. */
static int checkpoint_due(vg_audit *a, int64_t now)
{
    return a->uncovered > 0 && !atomic_load(&a->failed) && now - a->uncovered_ns >= a->interval_ns;
}

/* Sleeps until there is something to write, a checkpoint falls due, or close is asked. */
static void wait_for_work(vg_audit *a)
{
    while (!a->stopping && a->queue.len == 0 && a->ndones == 0 && !checkpoint_due(a, mono_ns())) {
        if (a->uncovered > 0 && !atomic_load(&a->failed)) {
            int64_t due = a->uncovered_ns + a->interval_ns;
            struct timespec ts = {(time_t)(due / 1000000000), (long)(due % 1000000000)};

            pthread_cond_timedwait(&a->wake, &a->mu, &ts);
        } else {
            pthread_cond_wait(&a->wake, &a->mu);
        }
    }
}

static void *writer_main(void *arg)
{
    vg_audit *a = arg;
    vg_buf out = {0};
    pending_done *dones = NULL;
    size_t ndones = 0, capdones = 0;

    pthread_mutex_lock(&a->mu);
    for (;;) {
        vg_err result = VG_ERR_UNAVAILABLE;

        wait_for_work(a);
        if (checkpoint_due(a, mono_ns()) ||
            (a->stopping && a->uncovered > 0 && !atomic_load(&a->failed)))
            chain_checkpoint(a);
        if (a->stopping && a->queue.len == 0 && a->ndones == 0)
            break;

        /* Take the whole queue; appends go on into the emptied buffers meanwhile. */
        vg_buf tb = a->queue;
        a->queue = out;
        out = tb;
        pending_done *td = a->dones;
        size_t tcap = a->capdones;
        a->dones = dones;
        a->capdones = capdones;
        dones = td;
        capdones = tcap;
        ndones = a->ndones;
        a->ndones = 0;
        pthread_mutex_unlock(&a->mu);

        if (!atomic_load(&a->failed))
            result = out.len ? write_group(a, &out) : VG_OK;
        for (size_t i = 0; i < ndones; i++)
            if (dones[i].fn)
                dones[i].fn(dones[i].arg, result);
        vg_buf_reset(&out);
        ndones = 0;
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    vg_buf_free(&out);
    free(dones);
    return NULL;
}

/* ---- open and close ------------------------------------------------------------------- */

static vg_err mkdir_p(const char *dir, char *why, size_t whylen)
{
    char path[VG_PATH_MAX];
    size_t len = strlen(dir);

    if (len == 0 || len >= sizeof(path)) {
        snprintf(why, whylen, "audit.dir: missing or too long");
        return VG_ERR_CONFIG;
    }
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            snprintf(why, whylen, "%s: cannot create the folder: %s", path, strerror(errno));
            return VG_ERR_IO;
        }
        path[i] = dir[i];
    }
    return VG_OK;
}

static vg_err load_key(vg_audit *a, const char *path, char *why, size_t whylen)
{
    FILE *f = fopen(path, "r");
    char group[64];
    size_t glen = 0;

    if (!f) {
        snprintf(why, whylen, "audit.signing_key: %s: %s", path, strerror(errno));
        return VG_ERR_CONFIG;
    }
    a->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!a->key) {
        snprintf(why, whylen, "audit.signing_key: %s: not a PEM private key (or encrypted)", path);
        return VG_ERR_CONFIG;
    }
    if (EVP_PKEY_get_base_id(a->key) == EVP_PKEY_ED25519) {
        a->alg = "ed25519";
        return VG_OK;
    }
    if (EVP_PKEY_get_base_id(a->key) == EVP_PKEY_EC &&
        EVP_PKEY_get_group_name(a->key, group, sizeof(group), &glen) == 1 &&
        (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)) {
        a->alg = "ecdsa-p256-sha256";
        return VG_OK;
    }
    snprintf(why, whylen, "audit.signing_key: %s: must be an EC P-256 or an Ed25519 key", path);
    return VG_ERR_CONFIG;
}

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* What the tail check needs from one stored line, read by its fixed layout. */
typedef struct tail_line {
    uint64_t seq;
    char prev[HASH_HEX + 1];
    char hash[HASH_HEX + 1];
    int checkpoint;
} tail_line;

/* Reads a line (without its newline) and checks its hash. Returns 0 or -1. */
static int read_tail_line(const char *line, size_t len, tail_line *t)
{
    static const char suffix[] = ",\"hash\":\"";
    static const char prev[] = ",\"prev\":\"";
    const size_t slen = sizeof(suffix) - 1, plen = sizeof(prev) - 1;
    char digits[24], hash[HASH_HEX + 1];
    size_t content, nd = 0;
    const char *kind;

    if (len < 7 + slen + HASH_HEX + 2 + plen + HASH_HEX + 1 || memcmp(line, "{\"seq\":", 7) != 0)
        return -1;
    content = len - (slen + HASH_HEX + 2);
    if (memcmp(line + content, suffix, slen) != 0 || !is_hex(line + content + slen, HASH_HEX) ||
        memcmp(line + len - 2, "\"}", 2) != 0)
        return -1;
    if (memcmp(line + content - 1 - HASH_HEX - plen, prev, plen) != 0 ||
        !is_hex(line + content - 1 - HASH_HEX, HASH_HEX))
        return -1;
    while (7 + nd < content && nd < 20 && line[7 + nd] >= '0' && line[7 + nd] <= '9') {
        digits[nd] = line[7 + nd];
        nd++;
    }
    digits[nd] = '\0';
    if (nd == 0 || line[7 + nd] != ',')
        return -1;
    t->seq = strtoull(digits, NULL, 10);
    memcpy(t->prev, line + content - 1 - HASH_HEX, HASH_HEX);
    t->prev[HASH_HEX] = '\0';
    memcpy(t->hash, line + content + slen, HASH_HEX);
    t->hash[HASH_HEX] = '\0';
    vg_audit__sha256_hex(line, content, hash);
    if (strcmp(hash, t->hash) != 0)
        return -1;
    /* The third member: no string before it can hold a quote, so the first match is it. */
    kind = memmem(line, content, ",\"kind\":\"", 9);
    t->checkpoint =
        kind && kind + 20 <= line + content && memcmp(kind + 9, "checkpoint\"", 11) == 0;
    return 0;
}

/* Cuts a partial last line (a write cut off by a crash), checks the complete lines at the
 * end of the file chain up, and takes seq and hash from the last one. */
static vg_err read_tail(vg_audit *a, char *why, size_t whylen)
{
    struct stat st;
    char *buf = NULL;
    size_t want = TAIL_READ;
    vg_err err = VG_ERR_IO;

    if (fstat(a->fd, &st) != 0) {
        snprintf(why, whylen, "%s: %s", a->path, strerror(errno));
        return VG_ERR_IO;
    }
    for (;;) {
        size_t size = (size_t)st.st_size, n = want < size ? want : size;
        size_t keep, first, nlines = 0, since_cp = 0;
        off_t base = (off_t)(size - n);
        tail_line prev_line, t;
        char *nl;

        if (size == 0) {
            a->seq = 0;
            memcpy(a->head, zero_hash, sizeof(zero_hash));
            err = VG_OK;
            goto out;
        }
        free(buf);
        buf = malloc(n);
        if (!buf || pread(a->fd, buf, n, base) != (ssize_t)n) {
            snprintf(why, whylen, "%s: cannot read its end: %s", a->path,
                     buf ? strerror(errno) : "out of memory");
            goto out;
        }

        /* keep: bytes of buf up to and with the last newline. */
        keep = n;
        while (keep > 0 && buf[keep - 1] != '\n')
            keep--;
        if (keep == 0 && base > 0) {
            want *= 2;
            continue;
        }
        if (keep < n) {
            if (ftruncate(a->fd, base + (off_t)keep) != 0 || fsync(a->fd) != 0) {
                snprintf(why, whylen, "%s: cannot cut a partial last entry: %s", a->path,
                         strerror(errno));
                goto out;
            }
            vg_warn(NULL, NULL,
                    "audit log %s: cut %zu bytes of a partial last entry (a write was cut off "
                    "by a crash or a full disk)",
                    a->path, n - keep);
            st.st_size = base + (off_t)keep;
            if (keep == 0)
                continue;
        }

        /* The first complete line starts after the first newline, unless buf is the file. */
        first = 0;
        if (base > 0) {
            nl = memchr(buf, '\n', keep);
            first = (size_t)(nl - buf) + 1;
            if (first == keep) {
                want *= 2;
                continue;
            }
        }
        for (size_t at = first; at < keep; at = (size_t)(nl - buf) + 1) {
            nl = memchr(buf + at, '\n', keep - at);
            if (read_tail_line(buf + at, (size_t)(nl - buf) - at, &t) != 0) {
                snprintf(why, whylen,
                         "%s: an entry near the end does not match its hash (byte %lld); "
                         "check the log with vitalctl audit verify",
                         a->path, (long long)(base + (off_t)at));
                goto out;
            }
            if (nlines > 0 && (t.seq != prev_line.seq + 1 || strcmp(t.prev, prev_line.hash))) {
                snprintf(why, whylen,
                         "%s: the chain is broken near the end (entry %llu); check the log "
                         "with vitalctl audit verify",
                         a->path, (unsigned long long)t.seq);
                goto out;
            }
            since_cp = t.checkpoint ? 0 : since_cp + 1;
            prev_line = t;
            nlines++;
        }
        a->seq = prev_line.seq;
        memcpy(a->head, prev_line.hash, sizeof(a->head));
        a->uncovered = since_cp;
        a->uncovered_ns = mono_ns();
        err = VG_OK;
        goto out;
    }
out:
    free(buf);
    return err;
}

/* Makes the folder entry of a new log durable too. */
static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0) {
        if (fsync(fd) != 0)
            vg_warn(NULL, NULL, "audit log folder %s: fsync: %s", dir, strerror(errno));
        close(fd);
    }
}

vg_err vg_audit_open(const vg_audit_config *cfg, vg_audit **out, char *why, size_t whylen)
{
    vg_audit *a = calloc(1, sizeof(*a));
    pthread_condattr_t ca;
    vg_err err;

    *out = NULL;
    if (!a) {
        snprintf(why, whylen, "out of memory");
        return VG_ERR_NOMEM;
    }
    a->fd = -1;
    if (cfg->checkpoint_interval_ms <= 0 || cfg->checkpoint_entries <= 0) {
        snprintf(why, whylen, "audit: checkpoint_interval_ms and checkpoint_entries must be > 0");
        err = VG_ERR_CONFIG;
        goto fail;
    }
    a->interval_ns = (int64_t)cfg->checkpoint_interval_ms * 1000000;
    a->cp_entries = (uint64_t)cfg->checkpoint_entries;
    if ((err = mkdir_p(cfg->dir, why, whylen)) != VG_OK)
        goto fail;
    if ((err = load_key(a, cfg->signing_key, why, whylen)) != VG_OK)
        goto fail;
    snprintf(a->path, sizeof(a->path), "%s/audit.log", cfg->dir);
    a->fd = open(a->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (a->fd < 0) {
        snprintf(why, whylen, "%s: %s", a->path, strerror(errno));
        err = VG_ERR_IO;
        goto fail;
    }
    /* Two writers would interleave two chains into one file. */
    if (flock(a->fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(why, whylen, "%s: %s", a->path,
                 errno == EWOULDBLOCK ? "another gateway process already writes to this log"
                                      : strerror(errno));
        err = VG_ERR_IO;
        goto fail;
    }
    sync_dir(cfg->dir);
    if ((err = read_tail(a, why, whylen)) != VG_OK)
        goto fail;

    pthread_mutex_init(&a->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&a->thread, NULL, writer_main, a) != 0) {
        snprintf(why, whylen, "audit: cannot start the writer thread");
        err = VG_ERR_IO;
        pthread_cond_destroy(&a->wake);
        pthread_mutex_destroy(&a->mu);
        goto fail;
    }
    *out = a;
    return VG_OK;
fail:
    if (a->fd >= 0)
        close(a->fd);
    EVP_PKEY_free(a->key);
    free(a);
    return err;
}

void vg_audit_close(vg_audit *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stopping = 1;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);

    if (close(a->fd) != 0 && !atomic_load(&a->failed))
        vg_error(NULL, NULL, "audit log %s: close: %s", a->path, strerror(errno));
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->mu);
    vg_buf_free(&a->queue);
    free(a->dones);
    EVP_PKEY_free(a->key);
    free(a);
}
