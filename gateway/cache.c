/* cache.c - the Redis cache of person records, on the hiredis synchronous API.
 *
 * Every call is one round trip: a Lua script over all the keys of the call (EVALSHA, with
 * EVAL when Redis has lost the script) or one UNLINK. An entry is "R" and the encoded
 * records; a lease is "L" and a token. The socket is polled against a deadline of the
 * command timeout, so a slow Redis costs a call that timeout and no more (SO_RCVTIMEO and
 * SO_SNDTIMEO are set as well, as a backstop for the blocking writes).
 *
 * Any failure closes the connection; the handle then waits 100 ms before it connects again,
 * doubling the wait on every failure up to 5 s, and answers VG_ERR_UNAVAILABLE at once
 * while it waits. One process-wide flag makes the log say once that Redis is gone and once
 * that it is back, whichever thread notices. */
#include "vg_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "vg_log.h"

#define KEY_MAX          64   /* "vg:c1.1:" + 16 hex + ":" + ID number, with room */
#define TOKEN_HEX        16   /* random hex characters of a lease token */
#define LEASE_MIN_MS     1000 /* a lease lives 10 command timeouts, at least this */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS   5000
#define REASON_MAX       200
#define ENTRY_HEAD       9 /* "R", then the two counts as 32-bit little-endian */

/* For each key: an entry ("R...") is returned; anything else (nothing, a lease, a foreign
 * value) is replaced by this call's lease and returned as false. */
static const char get_script[] = "local lease, ms = ARGV[1], ARGV[2]\n"
                                 "local out = {}\n"
                                 "for i = 1, #KEYS do\n"
                                 "  local v = redis.call('GET', KEYS[i])\n"
                                 "  if v and string.byte(v, 1) == 82 then\n"
                                 "    out[i] = v\n"
                                 "  else\n"
                                 "    redis.call('SET', KEYS[i], lease, 'PX', ms)\n"
                                 "    out[i] = false\n"
                                 "  end\n"
                                 "end\n"
                                 "return out\n";

/* Writes entry ARGV[i + 2] on KEYS[i] only while the key holds this call's lease. A key
 * named twice is written once. Returns {written, refused}. */
static const char fill_script[] = "local lease, ttl = ARGV[1], ARGV[2]\n"
                                  "local filled, refused, seen = 0, 0, {}\n"
                                  "for i = 1, #KEYS do\n"
                                  "  local k = KEYS[i]\n"
                                  "  if not seen[k] then\n"
                                  "    seen[k] = true\n"
                                  "    if redis.call('GET', k) == lease then\n"
                                  "      redis.call('SET', k, ARGV[i + 2], 'EX', ttl)\n"
                                  "      filled = filled + 1\n"
                                  "    else\n"
                                  "      refused = refused + 1\n"
                                  "    end\n"
                                  "  end\n"
                                  "end\n"
                                  "return {filled, refused}\n";

enum { SCRIPT_GET = 0, SCRIPT_FILL, SCRIPT_COUNT };

static const char *const scripts[SCRIPT_COUNT] = {get_script, fill_script};

struct vg_cache {
    const vg_cache_config *cfg;
    redisContext *ctx;          /* NULL while down */
    int64_t retry_at;           /* monotonic ms: no connection attempt before this */
    int backoff_ms;             /* wait after the next failure is twice this; 0 when well */
    char sha[SCRIPT_COUNT][41]; /* SHA1 of each script, from SCRIPT LOAD */
    char lease[2 + TOKEN_HEX];  /* "L" + token of the last vg_cache_get; "" when none */

    char (*keys)[KEY_MAX]; /* per-call scratch, grown as needed */
    size_t cap_keys;
    const char **argv;
    size_t *argvlen;
    size_t cap_argv;
    uint8_t *buf; /* encoded entries of a fill */
    size_t cap_buf;
};

/* Process-wide state: counters and whether an outage has been reported. */
static atomic_uint_fast64_t n_hits, n_misses, n_errors, n_fills, n_refused;
static atomic_int outage;

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval ms_tv(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    return tv;
}

static int lease_ms(const vg_cache_config *cfg)
{
    long ms = 10L * cfg->command_timeout_ms;

    return ms < LEASE_MIN_MS ? LEASE_MIN_MS : ms > 600000 ? 600000 : (int)ms;
}

/* ---- outage state and counters ------------------------------------------------------ */

/* Closes the connection after a failure and schedules the next attempt. */
static void go_down(vg_cache *c, const char *why)
{
    redisFree(c->ctx);
    c->ctx = NULL;
    c->lease[0] = '\0';
    if (c->backoff_ms == 0)
        c->backoff_ms = BACKOFF_FIRST_MS;
    else if (c->backoff_ms < BACKOFF_MAX_MS)
        c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
    c->retry_at = now_ms() + c->backoff_ms;
    atomic_fetch_add(&n_errors, 1);
    if (atomic_exchange(&outage, 1) == 0)
        vg_warn(NULL, NULL, "redis: unavailable: %s; serving from the store", why);
}

/* Records that a command was answered: the handle's backoff and any outage are over. */
static void went_well(vg_cache *c)
{
    c->backoff_ms = 0;
    if (atomic_load(&outage) && atomic_exchange(&outage, 0) == 1)
        vg_info(NULL, NULL, "redis: reachable again");
}

void vg_cache_stats_get(vg_cache_stats *out)
{
    if (!out)
        return;
    out->hits = atomic_load(&n_hits);
    out->misses = atomic_load(&n_misses);
    out->errors = atomic_load(&n_errors);
    out->fills = atomic_load(&n_fills);
    out->refused = atomic_load(&n_refused);
}

/* ---- scratch buffers ------------------------------------------------------------------ */

static int grow_keys(vg_cache *c, size_t n)
{
    void *p;

    if (n <= c->cap_keys)
        return 1;
    p = realloc(c->keys, n * sizeof(*c->keys));
    if (!p)
        return 0;
    c->keys = p;
    c->cap_keys = n;
    return 1;
}

static int grow_argv(vg_cache *c, size_t n)
{
    const char **a;
    size_t *l;

    if (n <= c->cap_argv)
        return 1;
    a = realloc(c->argv, n * sizeof(*c->argv));
    if (a)
        c->argv = a;
    l = a ? realloc(c->argvlen, n * sizeof(*c->argvlen)) : NULL;
    if (l)
        c->argvlen = l;
    if (!a || !l)
        return 0;
    c->cap_argv = n;
    return 1;
}

static int grow_buf(vg_cache *c, size_t n)
{
    size_t cap = c->cap_buf ? c->cap_buf : 4096;
    void *p;

    if (n <= c->cap_buf)
        return 1;
    while (cap < n)
        cap *= 2;
    p = realloc(c->buf, cap);
    if (!p)
        return 0;
    c->buf = p;
    c->cap_buf = cap;
    return 1;
}

/* Writes the keys of ids under gen into c->keys. */
static int make_keys(vg_cache *c, uint64_t gen, const char (*ids)[VG_ID_LEN + 1], size_t n)
{
    if (!grow_keys(c, n))
        return 0;
    for (size_t i = 0; i < n; i++)
        snprintf(c->keys[i], KEY_MAX, "vg:c%d.%d:%016" PRIx64 ":%.*s", VG_RECORD_LAYOUT,
                 VG_STATUS_RULES_VERSION, gen, VG_ID_LEN, ids[i]);
    return 1;
}

static void set_arg(vg_cache *c, size_t i, const void *p, size_t len)
{
    c->argv[i] = p;
    c->argvlen[i] = len;
}

/* ---- talking to Redis ------------------------------------------------------------------ */

/* Waits until fd is ready for events or the deadline passes: 0 ready, -1 not. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    struct pollfd p = {.fd = fd, .events = events};
    int rc;

    do {
        int64_t left = deadline - now_ms();

        if (left <= 0)
            return -1;
        rc = poll(&p, 1, (int)left);
    } while (rc < 0 && errno == EINTR);
    return rc > 0 ? 0 : -1;
}

/* Writes what is queued on the connection before the deadline: 0 when written, 1 when the
 * deadline passed, -1 when the connection broke (ctx->errstr says why). hiredis writes with
 * write(2), so a Redis that has gone would raise SIGPIPE: the signal is held back for this
 * thread while writing and dropped if the write raised it. */
static int send_all(redisContext *ctx, int64_t deadline)
{
    sigset_t pipe_set, old, pending;
    int done = 0, rc = 0, was_pending;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    was_pending = sigismember(&pending, SIGPIPE);
    while (!done && rc == 0) {
        if (wait_fd(ctx->fd, POLLOUT, deadline) != 0)
            rc = 1;
        else if (redisBufferWrite(ctx, &done) != REDIS_OK)
            rc = -1;
    }
    if (!was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = {0, 0};

        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* Reads one reply before the deadline: 0 with *out set, 1 when the deadline passed, -1 when
 * the connection broke. */
static int read_reply(redisContext *ctx, int64_t deadline, redisReply **out)
{
    void *r = NULL;

    for (;;) {
        if (redisGetReplyFromReader(ctx, &r) != REDIS_OK)
            return -1;
        if (r) {
            *out = r;
            return 0;
        }
        if (wait_fd(ctx->fd, POLLIN, deadline) != 0)
            return 1;
        if (redisBufferRead(ctx) != REDIS_OK)
            return -1;
    }
}

/* Sends what is queued on the connection and reads n replies into rep, all within the
 * command timeout. 0 on success (the caller frees the replies); -1 with why set, and no
 * reply kept. */
static int roundtrip(vg_cache *c, redisReply **rep, size_t n, char *why, size_t whylen)
{
    redisContext *ctx = c->ctx;
    int64_t deadline = now_ms() + c->cfg->command_timeout_ms;
    size_t got = 0;
    int rc = send_all(ctx, deadline);

    while (rc == 0 && got < n && (rc = read_reply(ctx, deadline, &rep[got])) == 0)
        got++;
    if (rc == 0)
        return 0;
    if (rc > 0)
        snprintf(why, whylen, "no answer within %d ms", c->cfg->command_timeout_ms);
    else
        snprintf(why, whylen, "%s", ctx->errstr[0] ? ctx->errstr : "connection lost");
    while (got > 0)
        freeReplyObject(rep[--got]);
    return -1;
}

/* Splits the configured address and opens the connection; NULL with why set on failure. */
static redisContext *open_socket(const vg_cache_config *cfg, char *why, size_t whylen)
{
    struct timeval tv = ms_tv(cfg->connect_timeout_ms);
    const char *a = cfg->address;
    char host[256];
    const char *colon;
    redisContext *ctx;
    long port;
    char *end;

    if (strncmp(a, "unix:", 5) == 0 || a[0] == '/') {
        ctx = redisConnectUnixWithTimeout(a[0] == '/' ? a : a + 5, tv);
    } else {
        colon = strrchr(a, ':');
        port = colon ? strtol(colon + 1, &end, 10) : 0;
        if (!colon || colon == a || !colon[1] || *end || port < 1 || port > 65535 ||
            (size_t)(colon - a) >= sizeof(host)) {
            snprintf(why, whylen, "address %.120s is not HOST:PORT or a unix socket", a);
            return NULL;
        }
        if (a[0] == '[' && colon[-1] == ']') /* [::1]:6379 */
            snprintf(host, sizeof(host), "%.*s", (int)(colon - a - 2), a + 1);
        else
            snprintf(host, sizeof(host), "%.*s", (int)(colon - a), a);
        ctx = redisConnectWithTimeout(host, (int)port, tv);
    }
    if (!ctx) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    if (ctx->err) {
        snprintf(why, whylen, "cannot connect to %.100s: %.60s", a, ctx->errstr);
        redisFree(ctx);
        return NULL;
    }
    return ctx;
}

/* Connects, authenticates, selects the database and loads the scripts in one round trip.
 * 0 on success; -1 with why set (and no connection) otherwise. */
static int connect_redis(vg_cache *c, char *why, size_t whylen)
{
    const vg_cache_config *cfg = c->cfg;
    redisReply *rep[3 + SCRIPT_COUNT] = {0};
    size_t n = 0, auth = SIZE_MAX, select = SIZE_MAX;
    char db[16];
    int ok = 0, queued = 0;

    c->ctx = open_socket(cfg, why, whylen);
    if (!c->ctx)
        return -1;
    if (redisSetTimeout(c->ctx, ms_tv(cfg->command_timeout_ms)) != REDIS_OK) {
        snprintf(why, whylen, "cannot set the command timeout: %s", c->ctx->errstr);
        goto out;
    }

    /* AUTH and SELECT only when configured; replies come back in this order. */
    if (cfg->user[0]) {
        queued += redisAppendCommand(c->ctx, "AUTH %s %s", cfg->user, cfg->password);
        auth = n++;
    } else if (cfg->password[0]) {
        queued += redisAppendCommand(c->ctx, "AUTH %s", cfg->password);
        auth = n++;
    }
    if (cfg->db != 0) {
        snprintf(db, sizeof(db), "%d", cfg->db);
        queued += redisAppendCommand(c->ctx, "SELECT %s", db);
        select = n++;
    }
    for (int s = 0; s < SCRIPT_COUNT; s++, n++)
        queued += redisAppendCommand(c->ctx, "SCRIPT LOAD %s", scripts[s]);
    if (queued != REDIS_OK) { /* REDIS_OK is 0: any failure makes the sum negative */
        snprintf(why, whylen, "out of memory");
        n = 0;
        goto out;
    }
    if (roundtrip(c, rep, n, why, whylen) != 0) {
        n = 0; /* roundtrip kept no reply */
        goto out;
    }

    for (size_t i = 0; i < n; i++) {
        const char *what = i == auth     ? "authentication refused"
                           : i == select ? "cannot select the database"
                                         : "cannot load a script";

        if (rep[i]->type == REDIS_REPLY_ERROR) {
            snprintf(why, whylen, "%s: %.120s", what, rep[i]->str);
            goto out;
        }
    }
    for (int s = 0; s < SCRIPT_COUNT; s++) {
        redisReply *r = rep[n - SCRIPT_COUNT + s];

        if (r->type != REDIS_REPLY_STRING || r->len != 40) {
            snprintf(why, whylen, "cannot load a script: unexpected reply");
            goto out;
        }
        memcpy(c->sha[s], r->str, 40);
        c->sha[s][40] = '\0';
    }
    ok = 1;
out:
    for (size_t i = 0; i < n; i++)
        freeReplyObject(rep[i]);
    if (!ok) {
        redisFree(c->ctx);
        c->ctx = NULL;
    }
    return ok ? 0 : -1;
}

/* Makes sure the handle is connected. VG_ERR_UNAVAILABLE while in backoff (at once) or
 * when connecting fails (reported as an outage). */
static vg_err ready(vg_cache *c)
{
    char why[REASON_MAX];

    if (c->ctx)
        return VG_OK;
    if (now_ms() < c->retry_at)
        return VG_ERR_UNAVAILABLE;
    if (connect_redis(c, why, sizeof(why)) == 0)
        return VG_OK;
    go_down(c, why);
    return VG_ERR_UNAVAILABLE;
}

/* Runs script s over the argc arguments in c->argv (argv[0] and argv[1] are filled here)
 * and returns its reply, or NULL after taking the handle down. */
static redisReply *run_script(vg_cache *c, int s, int argc)
{
    char why[REASON_MAX];
    redisReply *r = NULL;

    set_arg(c, 0, "EVALSHA", 7);
    set_arg(c, 1, c->sha[s], 40);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (redisAppendCommandArgv(c->ctx, argc, c->argv, c->argvlen) != REDIS_OK) {
            snprintf(why, sizeof(why), "%s", c->ctx->errstr[0] ? c->ctx->errstr : "no memory");
            goto fail;
        }
        if (roundtrip(c, &r, 1, why, sizeof(why)) != 0)
            goto fail;
        if (r->type != REDIS_REPLY_ERROR)
            return r;
        if (attempt > 0 || strncmp(r->str, "NOSCRIPT", 8) != 0)
            break;
        /* Redis restarted or flushed its scripts: EVAL sends the script itself. */
        freeReplyObject(r);
        r = NULL;
        set_arg(c, 0, "EVAL", 4);
        set_arg(c, 1, scripts[s], strlen(scripts[s]));
    }
    snprintf(why, sizeof(why), "%.120s", r->str);
fail:
    freeReplyObject(r);
    go_down(c, why);
    return NULL;
}

/* ---- the entry format ------------------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Appends one record, length first, at c->buf + *at. */
static int encode_record(vg_cache *c, size_t *at, const vg_record *rec)
{
    size_t need = vg_record_encode(rec, c->buf + *at + 4, c->cap_buf - *at - 4);

    if (need > c->cap_buf - *at - 4) {
        if (!grow_buf(c, *at + 4 + need))
            return 0;
        need = vg_record_encode(rec, c->buf + *at + 4, c->cap_buf - *at - 4);
    }
    if (need > UINT32_MAX)
        return 0;
    put32(c->buf + *at, (uint32_t)need);
    *at += 4 + need;
    return grow_buf(c, *at + 4 + 1);
}

/* Appends the entry of one person ("R", counts, records) at c->buf + *at. */
static int encode_entry(vg_cache *c, size_t *at, const vg_person_records *p)
{
    if (p->nrecs > UINT32_MAX || p->nreissues > UINT32_MAX ||
        !grow_buf(c, *at + ENTRY_HEAD + 4 + 1))
        return 0;
    c->buf[*at] = 'R';
    put32(c->buf + *at + 1, (uint32_t)p->nrecs);
    put32(c->buf + *at + 5, (uint32_t)p->nreissues);
    *at += ENTRY_HEAD;
    for (size_t i = 0; i < p->nrecs; i++)
        if (!encode_record(c, at, &p->recs[i]))
            return 0;
    for (size_t i = 0; i < p->nreissues; i++)
        if (!encode_record(c, at, &p->reissues[i]))
            return 0;
    return 1;
}

static int reserve(vg_record **arr, size_t *cap, size_t n)
{
    vg_record *p;

    if (n <= *cap)
        return 1;
    p = realloc(*arr, n * sizeof(**arr));
    if (!p)
        return 0;
    *arr = p;
    *cap = n;
    return 1;
}

/* Decodes count records from *p (advancing it) into arr. */
static vg_err decode_records(const uint8_t **p, const uint8_t *end, vg_record *arr, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint32_t len;

        if (end - *p < 4)
            return VG_ERR_INVALID;
        len = get32(*p);
        *p += 4;
        if ((size_t)(end - *p) < len || vg_record_decode(*p, len, &arr[i]) != VG_OK)
            return VG_ERR_INVALID;
        *p += len;
    }
    return VG_OK;
}

/* Decodes an entry of the person id into *out, reusing its buffers. An entry that does
 * not parse, or whose records are not this person's, is VG_ERR_INVALID. */
static vg_err decode_entry(const uint8_t *buf, size_t len, const char *id, vg_person_records *out)
{
    const uint8_t *p = buf + ENTRY_HEAD, *end = buf + len;
    uint32_t nrecs, nreissues;
    vg_err err = VG_ERR_INVALID;

    out->nrecs = out->nreissues = 0;
    snprintf(out->id_number, sizeof(out->id_number), "%.*s", VG_ID_LEN, id);
    if (len < ENTRY_HEAD || buf[0] != 'R')
        return VG_ERR_INVALID;
    nrecs = get32(buf + 1);
    nreissues = get32(buf + 5);
    /* Every record takes at least its length, so counts beyond that are not believed. */
    if ((uint64_t)nrecs + nreissues > (len - ENTRY_HEAD) / 4)
        return VG_ERR_INVALID;
    if (!reserve(&out->recs, &out->cap_recs, nrecs) ||
        !reserve(&out->reissues, &out->cap_reissues, nreissues))
        return VG_ERR_NOMEM;
    if (decode_records(&p, end, out->recs, nrecs) != VG_OK ||
        decode_records(&p, end, out->reissues, nreissues) != VG_OK || p != end)
        goto out;
    for (uint32_t i = 0; i < nrecs; i++)
        if (strcmp(out->recs[i].id_number, out->id_number) != 0)
            goto out;
    out->nrecs = nrecs;
    out->nreissues = nreissues;
    err = VG_OK;
out:
    return err;
}

/* ---- the public calls ------------------------------------------------------------------- */

vg_cache *vg_cache_new(const vg_cache_config *cfg)
{
    vg_cache *c;

    if (!cfg)
        return NULL;
    c = calloc(1, sizeof(*c));
    if (c)
        c->cfg = cfg;
    return c;
}

void vg_cache_free(vg_cache *c)
{
    if (!c)
        return;
    redisFree(c->ctx);
    free(c->keys);
    free(c->argv);
    free(c->argvlen);
    free(c->buf);
    free(c);
}

/* A fresh lease value, "L" and 16 random hex characters. */
static int new_lease(vg_cache *c)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t r[TOKEN_HEX / 2];
    size_t got = 0;

    while (got < sizeof(r)) {
        ssize_t k = getrandom(r + got, sizeof(r) - got, 0);

        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    if (got < sizeof(r)) {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

        got = fd >= 0 && read(fd, r, sizeof(r)) == (ssize_t)sizeof(r) ? sizeof(r) : 0;
        if (fd >= 0)
            close(fd);
        if (!got)
            return 0;
    }
    c->lease[0] = 'L';
    for (size_t i = 0; i < sizeof(r); i++) {
        c->lease[1 + 2 * i] = hex[r[i] >> 4];
        c->lease[2 + 2 * i] = hex[r[i] & 15];
    }
    c->lease[1 + TOKEN_HEX] = '\0';
    return 1;
}

/* Puts this call's lease on the keys of entries that did not decode, so that the fill
 * that follows can replace them. Failure here only costs those fills. */
static void relet(vg_cache *c, const size_t *bad, size_t nbad)
{
    char ms[16], why[REASON_MAX];
    redisReply *r = NULL;
    size_t i;

    snprintf(ms, sizeof(ms), "%d", lease_ms(c->cfg));
    for (i = 0; i < nbad; i++)
        if (redisAppendCommand(c->ctx, "SET %s %s PX %s", c->keys[bad[i]], c->lease, ms) !=
            REDIS_OK)
            break;
    for (size_t k = 0; k < i; k++) {
        if (roundtrip(c, &r, 1, why, sizeof(why)) != 0) {
            go_down(c, why);
            return;
        }
        freeReplyObject(r);
    }
    if (i < nbad)
        go_down(c, "out of memory");
}

/* Reads the get script's reply into out and found; returns how many entries failed to
 * decode (their indexes in bad). */
static size_t take_entries(const redisReply *r, const char (*ids)[VG_ID_LEN + 1], size_t n,
                           vg_person_records *out, int *found, size_t *bad)
{
    size_t nbad = 0;

    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[i];

        if (e->type != REDIS_REPLY_STRING)
            continue;
        if (decode_entry((const uint8_t *)e->str, e->len, ids[i], &out[i]) == VG_OK) {
            found[i] = 1;
            continue;
        }
        vg_debug(NULL, NULL, "redis: an entry did not decode; reading the store instead");
        bad[nbad++] = i;
    }
    return nbad;
}

vg_err vg_cache_get(vg_cache *c, uint64_t gen, const char (*ids)[VG_ID_LEN + 1], size_t n,
                    vg_person_records *out, int *found)
{
    redisReply *r = NULL;
    size_t *bad = NULL, nbad = 0, hits = 0;
    char ms[16], nkeys[24];
    vg_err err;

    for (size_t i = 0; found && i < n; i++)
        found[i] = 0;
    if (!c || !c->cfg->enabled)
        return VG_ERR_UNAVAILABLE;
    if (n == 0)
        return VG_OK;
    if (!ids || !out || !found)
        return VG_ERR_INVALID;
    if (n > INT32_MAX / 2)
        return VG_ERR_TOO_BIG;
    c->lease[0] = '\0';
    err = ready(c);
    if (err != VG_OK)
        goto out;

    err = VG_ERR_NOMEM;
    if (!new_lease(c) || !make_keys(c, gen, ids, n) || !grow_argv(c, n + 5) ||
        !(bad = malloc(n * sizeof(*bad))))
        goto out;
    snprintf(ms, sizeof(ms), "%d", lease_ms(c->cfg));
    snprintf(nkeys, sizeof(nkeys), "%zu", n);
    set_arg(c, 2, nkeys, strlen(nkeys));
    for (size_t i = 0; i < n; i++)
        set_arg(c, 3 + i, c->keys[i], strlen(c->keys[i]));
    set_arg(c, 3 + n, c->lease, 1 + TOKEN_HEX);
    set_arg(c, 4 + n, ms, strlen(ms));

    err = VG_ERR_UNAVAILABLE;
    r = run_script(c, SCRIPT_GET, (int)n + 5);
    if (!r)
        goto out;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
        go_down(c, "unexpected reply to a lookup");
        goto out;
    }
    went_well(c);
    nbad = take_entries(r, ids, n, out, found, bad);
    if (nbad)
        relet(c, bad, nbad);
    err = VG_OK;
out:
    if (err != VG_OK) {
        c->lease[0] = '\0';
        for (size_t i = 0; i < n; i++)
            found[i] = 0;
    }
    for (size_t i = 0; i < n; i++)
        hits += found[i] != 0;
    atomic_fetch_add(&n_hits, hits);
    atomic_fetch_add(&n_misses, n - hits);
    freeReplyObject(r);
    free(bad);
    return err;
}

vg_err vg_cache_fill(vg_cache *c, uint64_t gen, const char (*ids)[VG_ID_LEN + 1], size_t n,
                     const vg_person_records *recs, const int *found)
{
    size_t m = 0, at = 0, *ends = NULL;
    redisReply *r = NULL;
    char ttl[16], nkeys[24];
    vg_err err;

    if (!c || !c->cfg->enabled)
        return VG_ERR_UNAVAILABLE;
    if (n > 0 && (!ids || !recs || !found))
        return VG_ERR_INVALID;
    if (n > INT32_MAX / 4)
        return VG_ERR_TOO_BIG;
    for (size_t i = 0; i < n; i++)
        m += !found[i];
    if (m == 0)
        return VG_OK;
    if (!c->lease[0]) /* the lookup before did not reach Redis */
        return VG_ERR_UNAVAILABLE;
    err = ready(c);
    if (err != VG_OK)
        return err;

    err = VG_ERR_NOMEM;
    if (!grow_keys(c, m) || !grow_argv(c, 2 * m + 5) || !(ends = malloc(m * sizeof(*ends))))
        goto out;
    m = 0;
    for (size_t i = 0; i < n; i++) {
        if (found[i])
            continue;
        snprintf(c->keys[m], KEY_MAX, "vg:c%d.%d:%016" PRIx64 ":%.*s", VG_RECORD_LAYOUT,
                 VG_STATUS_RULES_VERSION, gen, VG_ID_LEN, ids[i]);
        if (!encode_entry(c, &at, &recs[i]))
            goto out;
        ends[m++] = at;
    }
    snprintf(nkeys, sizeof(nkeys), "%zu", m);
    snprintf(ttl, sizeof(ttl), "%d", c->cfg->ttl_s > 0 ? c->cfg->ttl_s : 1);
    set_arg(c, 2, nkeys, strlen(nkeys));
    set_arg(c, 3 + m, c->lease, strlen(c->lease));
    set_arg(c, 4 + m, ttl, strlen(ttl));
    for (size_t k = 0; k < m; k++) {
        size_t start = k ? ends[k - 1] : 0;

        set_arg(c, 3 + k, c->keys[k], strlen(c->keys[k]));
        set_arg(c, 5 + m + k, c->buf + start, ends[k] - start);
    }

    err = VG_ERR_UNAVAILABLE;
    r = run_script(c, SCRIPT_FILL, (int)(2 * m + 5));
    if (!r)
        goto out;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER) {
        go_down(c, "unexpected reply to a fill");
        goto out;
    }
    went_well(c);
    atomic_fetch_add(&n_fills, (uint64_t)r->element[0]->integer);
    atomic_fetch_add(&n_refused, (uint64_t)r->element[1]->integer);
    err = VG_OK;
out:
    freeReplyObject(r);
    free(ends);
    return err;
}

vg_err vg_cache_invalidate(vg_cache *c, uint64_t gen, const char (*ids)[VG_ID_LEN + 1], size_t n)
{
    char why[REASON_MAX];
    redisReply *r = NULL;
    vg_err err;

    if (!c || !c->cfg->enabled)
        return VG_ERR_UNAVAILABLE;
    if (n == 0)
        return VG_OK;
    if (!ids)
        return VG_ERR_INVALID;
    if (n > INT32_MAX / 2)
        return VG_ERR_TOO_BIG;
    err = ready(c);
    if (err != VG_OK)
        return err;

    err = VG_ERR_NOMEM;
    if (!make_keys(c, gen, ids, n) || !grow_argv(c, n + 1))
        goto out;
    set_arg(c, 0, "UNLINK", 6);
    for (size_t i = 0; i < n; i++)
        set_arg(c, 1 + i, c->keys[i], strlen(c->keys[i]));

    err = VG_ERR_UNAVAILABLE;
    if (redisAppendCommandArgv(c->ctx, (int)n + 1, c->argv, c->argvlen) != REDIS_OK) {
        go_down(c, "out of memory");
        goto out;
    }
    if (roundtrip(c, &r, 1, why, sizeof(why)) != 0) {
        go_down(c, why);
        goto out;
    }
    if (r->type != REDIS_REPLY_INTEGER) {
        snprintf(why, sizeof(why), "%.120s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply to a delete");
        go_down(c, why);
        goto out;
    }
    went_well(c);
    err = VG_OK;
out:
    freeReplyObject(r);
    return err;
}
