/* test_audit.c - the audit log: writing, group commit, checkpoints, reopening, a failing
 * disk, and offline verification against every kind of tampering. Keys come from the
 * development PKI script and the openssl command, in a temporary folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vg_audit.h"
#include "vg_log.h"

/* Internal to the audit module, for tests. */
uint64_t vg_audit__syncs(const vg_audit *a);
void vg_audit__sha256_hex(const void *data, size_t len, char hex[65]);

#define ID1 "450203195403120017"
#define ID2 "45020519701201003X"

static char pki[128];     /* server.key/.crt (EC P-256), welfare.crt, ed.key/.pub */
static char scratch[128]; /* this test's folder */

typedef struct fixture {
    vg_audit_config cfg;
    char log[PATH_MAX + 16];
    char cert[PATH_MAX + 16];
} fixture;

/* ---- helpers -------------------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

static int group_setup(void **state)
{
    char tmpl[] = "/tmp/vg-audit-pki-XXXXXX";

    (void)state;
    if (!mkdtemp(tmpl))
        return -1;
    snprintf(pki, sizeof(pki), "%s", tmpl);
    if (run("%s/certs/make-dev-pki %s/dev >/dev/null", VG_SOURCE_DIR, pki) != 0 ||
        run("openssl genpkey -algorithm ed25519 -out %s/ed.key 2>/dev/null", pki) != 0 ||
        run("openssl pkey -in %s/ed.key -pubout -out %s/ed.pub 2>/dev/null", pki, pki) != 0 ||
        run("openssl pkey -in %s/dev/server.key -pubout -out %s/server.pub 2>/dev/null", pki,
            pki) != 0 ||
        run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out %s/rsa.key "
            "2>/dev/null",
            pki) != 0)
        return -1;
    signal(SIGXFSZ, SIG_IGN);
    vg_log_level = VG_LOG_ERROR; /* the torn-line warnings are expected here */
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    return nftw(pki, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
    char tmpl[] = "/tmp/vg-audit-XXXXXX";
    fixture *fx = calloc(1, sizeof(*fx));

    if (!fx || !mkdtemp(tmpl))
        return -1;
    snprintf(scratch, sizeof(scratch), "%s", tmpl);
    fx->cfg.enabled = 1;
    snprintf(fx->cfg.dir, sizeof(fx->cfg.dir), "%s/audit", scratch);
    snprintf(fx->cfg.signing_key, sizeof(fx->cfg.signing_key), "%s/dev/server.key", pki);
    fx->cfg.checkpoint_interval_ms = 3600000;
    fx->cfg.checkpoint_entries = 1000;
    snprintf(fx->log, sizeof(fx->log), "%s/audit.log", fx->cfg.dir);
    snprintf(fx->cert, sizeof(fx->cert), "%s/dev/server.crt", pki);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return nftw(scratch, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Counts done callbacks by result. */
typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls, ok, unavailable;
} waiter;

static void waiter_init(waiter *w)
{
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

static void waiter_destroy(waiter *w)
{
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

static void on_done(void *arg, vg_err result)
{
    waiter *w = arg;

    pthread_mutex_lock(&w->mu);
    w->calls++;
    if (result == VG_OK)
        w->ok++;
    else if (result == VG_ERR_UNAVAILABLE)
        w->unavailable++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Waits until n callbacks have come, failing the test after 20 seconds. */
static void wait_calls(waiter *w, int n)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    pthread_mutex_lock(&w->mu);
    while (w->calls < n)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&w->mu);
    assert_int_equal(w->calls, n);
}

static const vg_audit_ctx ctx1 = {42, "welfare", "ipv4:127.0.0.1:50512",
                                  "/vitalgate.v1.Query/Match", "welfare-stop-check"};

static vg_audit *open_log(fixture *fx)
{
    vg_audit *a = NULL;
    char why[256] = "";

    if (vg_audit_open(&fx->cfg, &a, why, sizeof(why)) != VG_OK)
        fail_msg("open: %s", why);
    return a;
}

/* Appends one subject entry and waits until it is durable. */
static void subject_sync(vg_audit *a, const char *id)
{
    vg_audit_subject s = {id, "REPORTED"};
    waiter w;

    waiter_init(&w);
    assert_int_equal(vg_audit_subjects(a, &ctx1, &s, 1, on_done, &w), VG_OK);
    wait_calls(&w, 1);
    assert_int_equal(w.ok, 1);
    waiter_destroy(&w);
}

typedef struct lines {
    char **v;
    size_t n;
    int torn; /* the file did not end with a newline */
} lines;

static void read_lines(const char *path, lines *l)
{
    FILE *f = fopen(path, "rb");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    assert_non_null(f);
    memset(l, 0, sizeof(*l));
    while ((n = getline(&line, &cap, f)) > 0) {
        l->torn = line[n - 1] != '\n';
        if (!l->torn)
            line[n - 1] = '\0';
        l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
        l->v[l->n++] = strdup(line);
    }
    free(line);
    fclose(f);
}

static void write_lines(const char *path, const lines *l)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i])
            fprintf(f, "%s\n", l->v[i]);
    fclose(f);
}

static void free_lines(lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* Recomputes a line's own hash after it was edited, as a forger would. */
static void rehash(char **line)
{
    char *at = strstr(*line, ",\"hash\":\""), hex[65];
    size_t content;

    assert_non_null(at);
    content = (size_t)(at - *line);
    vg_audit__sha256_hex(*line, content, hex);
    sprintf(at, ",\"hash\":\"%s\"}", hex);
}

/* Replaces the value of member name (a number or a string without commas) by value. */
static void set_member(char **line, const char *name, const char *value)
{
    char key[64], *out;
    const char *at, *end;

    snprintf(key, sizeof(key), "\"%s\":", name);
    at = strstr(*line, key);
    assert_non_null(at);
    at += strlen(key);
    end = at + strcspn(at, ",}");
    out = malloc(strlen(*line) + strlen(value) + 1);
    sprintf(out, "%.*s%s%s", (int)(at - *line), *line, value, end);
    free(*line);
    *line = out;
}

/* The 64 hex digits a stored line ends with. */
static void hash_of(const char *line, char out[65])
{
    const char *at = strstr(line, ",\"hash\":\"");

    assert_non_null(at);
    memcpy(out, at + 9, 64);
    out[64] = '\0';
}

static vg_err verify(const char *path, const char *key, vg_audit_report *r)
{
    vg_err err = vg_audit_verify(path, key, r);

    if (err != VG_OK)
        print_message("verify: line %zu seq %llu: %s\n", r->first_bad_line,
                      (unsigned long long)r->first_bad_seq, r->problem);
    return err;
}

static void expect_problem(const char *path, const char *key, size_t line, uint64_t seq,
                           const char *words)
{
    vg_audit_report r;

    assert_int_equal(verify(path, key, &r), VG_ERR_INVALID);
    assert_int_equal(r.first_bad_line, line);
    assert_int_equal(r.first_bad_seq, seq);
    if (!strstr(r.problem, words))
        fail_msg("expected \"%s\" in \"%s\"", words, r.problem);
}

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- writing -------------------------------------------------------------------------- */

static void round_trip(void **state)
{
    fixture *fx = *state;
    /* A principal in Chinese, a purpose with JSON's special characters, a peer with a byte
     * that is not UTF-8. */
    vg_audit_ctx ctx = {7, "民政局·殡葬", "ipv4:127.0.0.1:1\xff", "/vitalgate.v1.Query/GetStatus",
                        "a\"b\\c\nd\te\x01"};
    vg_audit_subject subjects[2] = {{ID1, "REPORTED"}, {"4.40104E+17", "INVALID_ID"}};
    int64_t before = now_us(), after;
    vg_audit_scan *scan;
    vg_audit_entry e;
    vg_audit_report r;
    char why[256], expect[1024], hex[65];
    const char *body;
    waiter w;
    vg_audit *a = open_log(fx);

    waiter_init(&w);
    assert_int_equal(vg_audit_subjects(a, &ctx, subjects, 2, on_done, &w), VG_OK);
    assert_int_equal(vg_audit_call(a, &ctx, 7, 1234, 2, on_done, &w), VG_OK);
    wait_calls(&w, 2);
    assert_int_equal(w.ok, 2);
    vg_audit_close(a);
    after = now_us();

    assert_int_equal(vg_audit_scan_open(fx->cfg.dir, &scan, why, sizeof(why)), VG_OK);

    assert_int_equal(vg_audit_scan_next(scan, &e), 1);
    assert_int_equal(e.seq, 1);
    assert_string_equal(e.kind, "subject");
    assert_int_equal(e.call_id, 7);
    assert_string_equal(e.principal, "民政局·殡葬");
    assert_string_equal(e.peer, "ipv4:127.0.0.1:1\xef\xbf\xbd");
    assert_string_equal(e.method, "/vitalgate.v1.Query/GetStatus");
    assert_string_equal(e.purpose, "a\"b\\c\nd\te\x01");
    assert_string_equal(e.subject, ID1);
    assert_string_equal(e.death_status, "REPORTED");
    assert_int_equal(e.code, -1);
    assert_true(e.time_us >= before && e.time_us <= after);
    /* The exact bytes: members in their fixed order, the escapes, prev and hash. */
    body = "\"kind\":\"subject\",\"call\":7,\"principal\":\"民政局·殡葬\","
           "\"peer\":\"ipv4:127.0.0.1:1\xef\xbf\xbd\",\"method\":\"/vitalgate.v1.Query/GetStatus\","
           "\"purpose\":\"a\\\"b\\\\c\\nd\\te\\u0001\",\"subject\":\"" ID1 "\","
           "\"death_status\":\"REPORTED\",\"prev\":\"0000000000000000000000000000000000000000"
           "000000000000000000000000\"";
    snprintf(expect, sizeof(expect), "{\"seq\":1,\"time\":\"%.27s\",%s",
             strstr(e.line, "\"time\":\"") + 8, body);
    vg_audit__sha256_hex(expect, strlen(expect), hex);
    snprintf(expect + strlen(expect), sizeof(expect) - strlen(expect), ",\"hash\":\"%s\"}", hex);
    assert_string_equal(e.line, expect);

    assert_int_equal(vg_audit_scan_next(scan, &e), 1);
    assert_int_equal(e.seq, 2);
    assert_string_equal(e.subject, "4.40104E+17");
    assert_string_equal(e.death_status, "INVALID_ID");

    assert_int_equal(vg_audit_scan_next(scan, &e), 1);
    assert_int_equal(e.seq, 3);
    assert_string_equal(e.kind, "call");
    assert_int_equal(e.code, 7);
    assert_int_equal(e.duration_us, 1234);
    assert_int_equal(e.rows, 2);
    assert_string_equal(e.subject, "");
    assert_non_null(strstr(e.line, "\"result\":\"PERMISSION_DENIED\",\"duration_us\":1234,"
                                   "\"rows\":2,\"prev\":"));

    assert_int_equal(vg_audit_scan_next(scan, &e), 1);
    assert_int_equal(e.seq, 4);
    assert_string_equal(e.kind, "checkpoint");
    assert_non_null(strstr(e.line, "\"alg\":\"ecdsa-p256-sha256\",\"sig\":\""));
    assert_int_equal(vg_audit_scan_next(scan, &e), 0);
    vg_audit_scan_close(scan);

    assert_int_equal(verify(fx->cfg.dir, fx->cert, &r), VG_OK);
    assert_int_equal(r.entries, 4);
    assert_int_equal(r.checkpoints, 1);
    assert_int_equal(r.first_bad_seq, 0);
    /* The bare public key serves as well as the certificate; the log file path as well as
     * its folder. */
    snprintf(why, sizeof(why), "%s/server.pub", pki);
    assert_int_equal(verify(fx->log, why, &r), VG_OK);
    waiter_destroy(&w);
}

static void checkpoints_by_count(void **state)
{
    fixture *fx = *state;
    static const uint64_t cps[] = {6, 12, 15};
    vg_audit_report r;
    lines l;
    vg_audit *a;

    fx->cfg.checkpoint_entries = 5;
    a = open_log(fx);
    for (int i = 0; i < 12; i++)
        subject_sync(a, ID1);
    vg_audit_close(a);

    read_lines(fx->log, &l);
    assert_int_equal(l.n, 15);
    for (size_t i = 0, k = 0; i < l.n; i++) {
        int is_cp = strstr(l.v[i], "\"kind\":\"checkpoint\"") != NULL;

        assert_int_equal(is_cp, k < 3 && cps[k] == i + 1);
        if (is_cp)
            k++;
    }
    free_lines(&l);
    assert_int_equal(verify(fx->log, fx->cert, &r), VG_OK);
    assert_int_equal(r.entries, 15);
    assert_int_equal(r.checkpoints, 3);
}

static void checkpoint_by_interval(void **state)
{
    fixture *fx = *state;
    vg_audit_report r;
    lines l;
    vg_audit *a;

    fx->cfg.checkpoint_interval_ms = 50;
    a = open_log(fx);
    subject_sync(a, ID1);
    usleep(300 * 1000);
    /* Read while the log is still open: the checkpoint came without close. */
    read_lines(fx->log, &l);
    assert_int_equal(l.n, 2);
    assert_non_null(strstr(l.v[1], "\"seq\":2,"));
    assert_non_null(strstr(l.v[1], "\"kind\":\"checkpoint\""));
    free_lines(&l);
    assert_int_equal(verify(fx->log, fx->cert, &r), VG_OK);

    /* Idle: no entries, no more checkpoints. */
    usleep(150 * 1000);
    vg_audit_close(a);
    read_lines(fx->log, &l);
    assert_int_equal(l.n, 2);
    free_lines(&l);
}

static void ed25519_key(void **state)
{
    fixture *fx = *state;
    char pub[PATH_MAX + 16];
    vg_audit_report r;
    vg_audit *a;

    snprintf(fx->cfg.signing_key, sizeof(fx->cfg.signing_key), "%s/ed.key", pki);
    snprintf(pub, sizeof(pub), "%s/ed.pub", pki);
    a = open_log(fx);
    subject_sync(a, ID1);
    subject_sync(a, ID2);
    vg_audit_close(a);

    assert_int_equal(verify(fx->log, pub, &r), VG_OK);
    assert_int_equal(r.entries, 3);
    assert_int_equal(r.checkpoints, 1);
    /* The gateway's EC certificate did not sign it. */
    expect_problem(fx->log, fx->cert, 3, 3, "signed with ed25519");
}

static void refuses_bad_keys(void **state)
{
    fixture *fx = *state;
    vg_audit *a = NULL;
    vg_audit_report r;
    char why[256];

    snprintf(fx->cfg.signing_key, sizeof(fx->cfg.signing_key), "%s/rsa.key", pki);
    assert_int_equal(vg_audit_open(&fx->cfg, &a, why, sizeof(why)), VG_ERR_CONFIG);
    assert_null(a);
    assert_non_null(strstr(why, "P-256 or an Ed25519"));
    snprintf(fx->cfg.signing_key, sizeof(fx->cfg.signing_key), "%s/dev/server.crt", pki);
    assert_int_equal(vg_audit_open(&fx->cfg, &a, why, sizeof(why)), VG_ERR_CONFIG);
    snprintf(fx->cfg.signing_key, sizeof(fx->cfg.signing_key), "%s/none.key", pki);
    assert_int_equal(vg_audit_open(&fx->cfg, &a, why, sizeof(why)), VG_ERR_CONFIG);
    assert_non_null(strstr(why, "No such file"));

    /* Verification needs a readable log and a usable public key. */
    assert_int_equal(vg_audit_verify(fx->log, fx->cert, &r), VG_ERR_IO);
    snprintf(why, sizeof(why), "%s/rsa.key", pki);
    assert_int_equal(vg_audit_verify(fx->log, why, &r), VG_ERR_IO);
    vg_audit_close(NULL);
    vg_audit_scan_close(NULL);
}

/* ---- group commit --------------------------------------------------------------------- */

typedef struct appender {
    vg_audit *a;
    int n;
    int window; /* entries appended and not yet durable, at most (1: as a call does) */
    int64_t deadline_ns;
    int appended;
    waiter w;
} appender;

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *append_loop(void *arg)
{
    appender *p = arg;
    vg_audit_subject s = {ID2, "CONFIRMED"};

    for (int i = 0; (p->n == 0 || i < p->n) && (p->deadline_ns == 0 || mono_ns() < p->deadline_ns);
         i++) {
        if (vg_audit_subjects(p->a, &ctx1, &s, 1, on_done, &p->w) != VG_OK)
            break;
        p->appended++;
        pthread_mutex_lock(&p->w.mu);
        while (p->w.calls <= p->appended - p->window)
            pthread_cond_wait(&p->w.cv, &p->w.mu);
        pthread_mutex_unlock(&p->w.mu);
    }
    return NULL;
}

/* Runs 8 appenders; returns the entries appended. */
static int run_appenders(vg_audit *a, int n_each, int window, int64_t duration_ns)
{
    appender p[8];
    pthread_t t[8];
    int total = 0;

    for (int i = 0; i < 8; i++) {
        memset(&p[i], 0, sizeof(p[i]));
        p[i].a = a;
        p[i].n = n_each;
        p[i].window = window;
        p[i].deadline_ns = duration_ns ? mono_ns() + duration_ns : 0;
        waiter_init(&p[i].w);
    }
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, append_loop, &p[i]), 0);
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        wait_calls(&p[i].w, p[i].appended);
        assert_int_equal(p[i].w.ok, p[i].appended);
        total += p[i].appended;
        waiter_destroy(&p[i].w);
    }
    return total;
}

static void group_commit(void **state)
{
    fixture *fx = *state;
    vg_audit_report r;
    vg_audit_scan *scan;
    vg_audit_entry e;
    char why[256];
    vg_audit *a;
    uint64_t syncs, since = 0;
    int total;

    fx->cfg.checkpoint_entries = 50;
    a = open_log(fx);
    total = run_appenders(a, 100, 1, 0);
    assert_int_equal(total, 800);
    syncs = vg_audit__syncs(a);
    print_message("8 threads x 100 entries, each waited for: %llu syncs\n",
                  (unsigned long long)syncs);
    assert_true(syncs >= 1);
    assert_true(syncs < 800);
    vg_audit_close(a);

    assert_int_equal(verify(fx->log, fx->cert, &r), VG_OK);
    assert_int_equal(r.entries, 800 + 16);
    assert_int_equal(r.checkpoints, 16);

    /* However the groups fell, a checkpoint follows every 50th entry exactly. */
    assert_int_equal(vg_audit_scan_open(fx->log, &scan, why, sizeof(why)), VG_OK);
    while (vg_audit_scan_next(scan, &e) == 1) {
        if (strcmp(e.kind, "checkpoint") == 0) {
            assert_int_equal(since, 50);
            since = 0;
        } else {
            since++;
        }
    }
    assert_int_equal(since, 0);
    vg_audit_scan_close(scan);
}

/* Measures entries/s and syncs/s with 8 threads appending as fast as they can: as calls
 * do (each waits for its entry to be durable), and with up to 256 entries in flight each. */
static void throughput(void **state)
{
    fixture *fx = *state;
    const char *secs = getenv("VG_AUDIT_BENCH_SECONDS");
    double s = secs ? atof(secs) : 1.0;
    static const int windows[] = {1, 256};
    vg_audit_report r;

    for (int i = 0; i < 2; i++) {
        vg_audit *a = open_log(fx);
        uint64_t syncs0 = vg_audit__syncs(a);
        int64_t t0 = mono_ns();
        int total = run_appenders(a, 0, windows[i], (int64_t)(s * 1e9));
        double el = (double)(mono_ns() - t0) / 1e9;
        uint64_t syncs = vg_audit__syncs(a) - syncs0;

        print_message("8 threads, %3d in flight each: %d entries in %.2f s = %.0f entries/s, "
                      "%llu syncs = %.0f syncs/s (%.1f entries per sync)\n",
                      windows[i], total, el, total / el, (unsigned long long)syncs,
                      (double)syncs / el, syncs ? (double)total / (double)syncs : 0.0);
        assert_true(syncs < (uint64_t)total);
        vg_audit_close(a);
    }
    assert_int_equal(verify(fx->log, fx->cert, &r), VG_OK);
}

/* ---- reopening ------------------------------------------------------------------------ */

static void reopen_continues_chain(void **state)
{
    fixture *fx = *state;
    vg_audit_report r;
    char h4[65], prev[65], why[256];
    vg_audit *b = NULL;
    lines l;
    vg_audit *a = open_log(fx);

    for (int i = 0; i < 3; i++)
        subject_sync(a, ID1);
    vg_audit_close(a);
    a = open_log(fx);
    subject_sync(a, ID2);
    subject_sync(a, ID2);
    vg_audit_close(a);

    read_lines(fx->log, &l);
    assert_int_equal(l.n, 7); /* 3 entries, checkpoint, 2 entries, checkpoint */
    assert_non_null(strstr(l.v[4], "{\"seq\":5,"));
    hash_of(l.v[3], h4);
    snprintf(prev, sizeof(prev), "%.64s", strstr(l.v[4], "\"prev\":\"") + 8);
    assert_string_equal(prev, h4);
    free_lines(&l);
    assert_int_equal(verify(fx->log, fx->cert, &r), VG_OK);
    assert_int_equal(r.entries, 7);
    assert_int_equal(r.checkpoints, 2);

    /* One writer at a time. */
    a = open_log(fx);
    assert_int_equal(vg_audit_open(&fx->cfg, &b, why, sizeof(why)), VG_ERR_IO);
    assert_null(b);
    assert_non_null(strstr(why, "another gateway process"));
    vg_audit_close(a);

    /* Opening and closing without entries adds nothing. */
    vg_audit_close(open_log(fx));
    read_lines(fx->log, &l);
    assert_int_equal(l.n, 7);
    free_lines(&l);
}

static void torn_tail_repaired(void **state)
{
    fixture *fx = *state;
    vg_audit_report r;
    struct stat st;
    off_t size;
    FILE *f;
    lines l;
    vg_audit *a = open_log(fx);

    subject_sync(a, ID1);
    subject_sync(a, ID1);
    vg_audit_close(a);
    assert_int_equal(stat(fx->log, &st), 0);
    size = st.st_size;

    /* A crash in the middle of writing entry 4. */
    f = fopen(fx->log, "ab");
    fputs("{\"seq\":4,\"time\":\"2026-12-04T16:0", f);
    fclose(f);
    expect_problem(fx->log, fx->cert, 4, 4, "line 4 is incomplete");

    a = open_log(fx);
    assert_int_equal(stat(fx->log, &st), 0);
    assert_int_equal(st.st_size, size);
    subject_sync(a, ID2);
    vg_audit_close(a);

    read_lines(fx->log, &l);
    assert_int_equal(l.n, 5);
    assert_false(l.torn);
    assert_non_null(strstr(l.v[3], "{\"seq\":4,"));
    assert_non_null(strstr(l.v[3], ID2));
    free_lines(&l);
    assert_int_equal(verify(fx->log, fx->cert, &r), VG_OK);

    /* A file that is only a partial line is cut to nothing. */
    f = fopen(fx->log, "wb");
    fputs("{\"seq\":1,\"ti", f);
    fclose(f);
    a = open_log(fx);
    subject_sync(a, ID1);
    vg_audit_close(a);
    assert_int_equal(verify(fx->log, fx->cert, &r), VG_OK);
    assert_int_equal(r.entries, 2);
}

static void refuses_changed_tail(void **state)
{
    fixture *fx = *state;
    vg_audit *a = open_log(fx);
    char why[256];
    lines l;

    subject_sync(a, ID1);
    subject_sync(a, ID1);
    vg_audit_close(a);

    /* The last entry edited: opening would chain onto a hash nobody can check. */
    read_lines(fx->log, &l);
    l.v[2][strlen(l.v[2]) - 5] ^= 1;
    write_lines(fx->log, &l);
    free_lines(&l);
    a = NULL;
    assert_int_equal(vg_audit_open(&fx->cfg, &a, why, sizeof(why)), VG_ERR_IO);
    assert_null(a);
    assert_non_null(strstr(why, "does not match its hash"));

    /* An entry before it edited and rehashed: the chain near the end is broken. */
    read_lines(fx->log, &l);
    l.v[2][strlen(l.v[2]) - 5] ^= 1;
    set_member(&l.v[1], "subject", "\"" ID2 "\"");
    rehash(&l.v[1]);
    write_lines(fx->log, &l);
    free_lines(&l);
    assert_int_equal(vg_audit_open(&fx->cfg, &a, why, sizeof(why)), VG_ERR_IO);
    assert_non_null(strstr(why, "chain is broken"));
}

/* ---- a failing disk ------------------------------------------------------------------- */

static void failing_disk(void **state)
{
    fixture *fx = *state;
    vg_audit_subject five[5];
    struct rlimit old, lim;
    struct timespec cpu0, cpu1;
    vg_audit_report r;
    struct stat st;
    waiter w, w2;
    vg_err err;
    vg_audit *a = open_log(fx);

    for (int i = 0; i < 5; i++)
        five[i] = (vg_audit_subject){ID1, "REPORTED"};
    vg_audit_close(a);
    fx->cfg.checkpoint_interval_ms = 50;
    a = open_log(fx);
    subject_sync(a, ID1);
    subject_sync(a, ID2);
    usleep(200 * 1000); /* the checkpoint over them, entry 3, is written */
    assert_false(vg_audit_failed(a));

    /* The file may grow by 100 bytes more: the next group is cut off mid-line (EFBIG). */
    assert_int_equal(stat(fx->log, &st), 0);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)st.st_size + 100;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);

    waiter_init(&w);
    waiter_init(&w2);
    assert_int_equal(vg_audit_subjects(a, &ctx1, five, 5, on_done, &w), VG_OK);
    /* Queued behind it: refused at once, or failed with the group. Never OK. */
    err = vg_audit_call(a, &ctx1, 0, 10, 5, on_done, &w2);
    wait_calls(&w, 1);
    assert_int_equal(w.unavailable, 1);
    if (err == VG_OK) {
        wait_calls(&w2, 1);
        assert_int_equal(w2.unavailable, 1);
    } else {
        assert_int_equal(err, VG_ERR_UNAVAILABLE);
    }
    assert_true(vg_audit_failed(a));
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);

    /* Failed for good, even with room again: refused at once, no callback. */
    assert_int_equal(vg_audit_subjects(a, &ctx1, five, 1, on_done, &w), VG_ERR_UNAVAILABLE);
    assert_int_equal(vg_audit_call(a, &ctx1, 0, 10, 5, on_done, &w), VG_ERR_UNAVAILABLE);

    /* Entries that can never be covered now: the writer must sleep, not spin on them. */
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu0);
    usleep(300 * 1000);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu1);
    assert_true((cpu1.tv_sec - cpu0.tv_sec) * 1000000000L + (cpu1.tv_nsec - cpu0.tv_nsec) <
                100000000L);
    vg_audit_close(a);
    assert_int_equal(w.calls, 1);
    assert_int_equal(stat(fx->log, &st), 0);
    assert_int_equal(st.st_size, (off_t)lim.rlim_cur);

    /* A restart cuts the partial entry and goes on from entry 3. */
    a = open_log(fx);
    subject_sync(a, ID2);
    vg_audit_close(a);
    assert_int_equal(verify(fx->log, fx->cert, &r), VG_OK);
    assert_int_equal(r.entries, 5);
    assert_int_equal(r.checkpoints, 2);
    waiter_destroy(&w);
    waiter_destroy(&w2);
}

/* ---- tampering ------------------------------------------------------------------------ */

/* Writes the log every tamper test starts from: 10 entries with a checkpoint after every 4,
 * so seq 5, 10 and 13 are checkpoints (13 lines). */
static void make_log(fixture *fx, lines *l)
{
    vg_audit_report r;
    vg_audit *a;

    fx->cfg.checkpoint_entries = 4;
    a = open_log(fx);
    for (int i = 0; i < 10; i++)
        subject_sync(a, i % 2 ? ID1 : ID2);
    vg_audit_close(a);
    assert_int_equal(verify(fx->log, fx->cert, &r), VG_OK);
    assert_int_equal(r.entries, 13);
    assert_int_equal(r.checkpoints, 3);
    read_lines(fx->log, l);
    assert_int_equal(l->n, 13);
    assert_non_null(strstr(l->v[4], "\"kind\":\"checkpoint\""));
    assert_non_null(strstr(l->v[9], "\"kind\":\"checkpoint\""));
    assert_non_null(strstr(l->v[12], "\"kind\":\"checkpoint\""));
}

static void tamper_changed_byte(void **state)
{
    fixture *fx = *state;
    lines l;

    make_log(fx, &l);
    *strstr(l.v[6], "welfare") = 'W';
    write_lines(fx->log, &l);
    expect_problem(fx->log, fx->cert, 7, 7, "entry 7 was changed");
    free_lines(&l);
}

static void tamper_changed_and_rehashed(void **state)
{
    fixture *fx = *state;
    lines l;

    make_log(fx, &l);
    set_member(&l.v[6], "death_status", "\"NO_RECORD\"");
    rehash(&l.v[6]);
    write_lines(fx->log, &l);
    expect_problem(fx->log, fx->cert, 8, 8, "entry 8 does not link to entry 7");
    free_lines(&l);
}

static void tamper_deleted(void **state)
{
    fixture *fx = *state;
    lines l;

    make_log(fx, &l);
    free(l.v[6]);
    l.v[6] = NULL;
    write_lines(fx->log, &l);
    expect_problem(fx->log, fx->cert, 7, 7, "entry 7 is missing");

    free(l.v[7]);
    l.v[7] = NULL;
    write_lines(fx->log, &l);
    expect_problem(fx->log, fx->cert, 7, 7, "entries 7..8 are missing");
    free_lines(&l);
}

static void tamper_inserted(void **state)
{
    fixture *fx = *state;
    char *copy, *forged;
    lines l;

    make_log(fx, &l);

    /* A copy of entry 3 right after it. */
    copy = strdup(l.v[2]);
    l.v = realloc(l.v, (l.n + 1) * sizeof(*l.v));
    memmove(l.v + 4, l.v + 3, (l.n - 3) * sizeof(*l.v));
    l.v[3] = copy;
    l.n++;
    write_lines(fx->log, &l);
    expect_problem(fx->log, fx->cert, 4, 3, "line 4 repeats entry 3");

    /* A made-up entry 4 that links to entry 3 and hashes right: entry 4 appears twice. */
    forged = strdup(l.v[4]);
    set_member(&forged, "subject", "\"" ID1 "\"");
    set_member(&forged, "principal", "\"cremation\"");
    rehash(&forged);
    free(l.v[3]);
    l.v[3] = forged;
    write_lines(fx->log, &l);
    expect_problem(fx->log, fx->cert, 5, 4, "entry 4 appears twice");

    /* One that claims to be entry 4 but links elsewhere. */
    set_member(&l.v[3], "prev",
               "\"1111111111111111111111111111111111111111111111111111111111111111\"");
    rehash(&l.v[3]);
    write_lines(fx->log, &l);
    expect_problem(fx->log, fx->cert, 4, 4, "line 4 is an inserted entry");
    free_lines(&l);
}

static void tamper_swapped(void **state)
{
    fixture *fx = *state;
    char *t;
    lines l;

    make_log(fx, &l);
    t = l.v[6];
    l.v[6] = l.v[7];
    l.v[7] = t;
    write_lines(fx->log, &l);
    expect_problem(fx->log, fx->cert, 7, 7, "entry 7 is out of order: it is at line 8");

    /* Moved further: entry 2 put after entry 4. */
    t = l.v[7];
    l.v[7] = l.v[6];
    l.v[6] = t;
    t = l.v[1];
    memmove(l.v + 1, l.v + 2, 2 * sizeof(*l.v));
    l.v[3] = t;
    write_lines(fx->log, &l);
    expect_problem(fx->log, fx->cert, 2, 2, "entry 2 is out of order: it is at line 4");
    free_lines(&l);
}

static void tamper_truncated(void **state)
{
    fixture *fx = *state;
    vg_audit_report r;
    lines l;

    make_log(fx, &l);
    l.n = 12; /* the final checkpoint gone */
    write_lines(fx->log, &l);
    expect_problem(fx->log, fx->cert, 11, 11,
                   "entries after the last checkpoint (seq 11..12) are not covered");

    l.n = 11;
    write_lines(fx->log, &l);
    expect_problem(fx->log, fx->cert, 11, 11, "(seq 11..11)");

    /* Cut right after a checkpoint: what remains is whole and signed. */
    l.n = 10;
    write_lines(fx->log, &l);
    assert_int_equal(verify(fx->log, fx->cert, &r), VG_OK);
    assert_int_equal(r.entries, 10);
    assert_int_equal(r.checkpoints, 2);
    l.n = 13;
    free_lines(&l);
}

static void tamper_checkpoint(void **state)
{
    fixture *fx = *state;
    char *sig, h11[65], value[256];
    lines l;

    make_log(fx, &l);

    /* A flipped signature character, the line rehashed. */
    sig = strstr(l.v[9], "\"sig\":\"") + 7;
    sig[5] = sig[5] == 'A' ? 'B' : 'A';
    rehash(&l.v[9]);
    write_lines(fx->log, &l);
    expect_problem(fx->log, fx->cert, 10, 10, "checkpoint at entry 10 has a bad signature");
    free_lines(&l);

    /* A later time on the checkpoint. */
    read_lines(fx->log, &l);
    set_member(&l.v[4], "time", "\"2031-01-01T00:00:00.000000Z\"");
    rehash(&l.v[4]);
    write_lines(fx->log, &l);
    expect_problem(fx->log, fx->cert, 5, 5, "checkpoint at entry 5 has a bad signature");
    free_lines(&l);

    /* Entry 12 deleted and the final checkpoint renumbered and relinked to cover it up. */
    unlink(fx->log);
    make_log(fx, &l);
    hash_of(l.v[10], h11);
    snprintf(value, sizeof(value), "\"%s\"", h11);
    set_member(&l.v[12], "seq", "12");
    set_member(&l.v[12], "prev", value);
    set_member(&l.v[12], "head", value);
    rehash(&l.v[12]);
    free(l.v[11]);
    l.v[11] = NULL;
    write_lines(fx->log, &l);
    expect_problem(fx->log, fx->cert, 12, 12, "checkpoint at entry 12 has a bad signature");
    free_lines(&l);

    /* The whole log signed by another key (a client's, from the same CA). */
    snprintf(value, sizeof(value), "%s/dev/welfare.crt", pki);
    expect_problem(fx->log, value, 5, 5, "checkpoint at entry 5 has a bad signature");
}

static void tamper_garbage(void **state)
{
    fixture *fx = *state;
    lines l;

    make_log(fx, &l);
    free(l.v[3]);
    l.v[3] = strdup("hello");
    write_lines(fx->log, &l);
    expect_problem(fx->log, fx->cert, 4, 4, "line 4 is not an audit entry");

    free(l.v[3]);
    l.v[3] = strdup("");
    write_lines(fx->log, &l);
    expect_problem(fx->log, fx->cert, 4, 4, "line 4 is not an audit entry");
    free_lines(&l);
}

/* ---- reading -------------------------------------------------------------------------- */

static void scan_skips_bad_lines(void **state)
{
    fixture *fx = *state;
    vg_audit_scan *scan;
    vg_audit_entry e;
    char why[256];
    FILE *f;
    lines l;

    assert_int_equal(vg_audit_scan_open(fx->cfg.dir, &scan, why, sizeof(why)), VG_ERR_NOT_FOUND);
    make_log(fx, &l);
    free(l.v[1]);
    l.v[1] = strdup("{\"seq\":2,\"oops\":");
    write_lines(fx->log, &l);
    free_lines(&l);
    f = fopen(fx->log, "ab");
    fputs("{\"seq\":14,", f); /* being written */
    fclose(f);

    assert_int_equal(vg_audit_scan_open(fx->log, &scan, why, sizeof(why)), VG_OK);
    assert_int_equal(vg_audit_scan_next(scan, &e), 1);
    assert_int_equal(e.seq, 1);
    assert_int_equal(vg_audit_scan_next(scan, &e), VG_ERR_INVALID);
    for (uint64_t seq = 3; seq <= 13; seq++) {
        assert_int_equal(vg_audit_scan_next(scan, &e), 1);
        assert_int_equal(e.seq, seq);
    }
    assert_int_equal(vg_audit_scan_next(scan, &e), 0);
    vg_audit_scan_close(scan);
}

static void code_names(void **state)
{
    (void)state;
    for (int c = 0; c <= 16; c++)
        assert_int_equal(vg_audit_code_parse(vg_audit_code_name(c)), c);
    assert_string_equal(vg_audit_code_name(7), "PERMISSION_DENIED");
    assert_string_equal(vg_audit_code_name(16), "UNAUTHENTICATED");
    assert_string_equal(vg_audit_code_name(17), "UNKNOWN");
    assert_int_equal(vg_audit_code_parse("unavailable"), 14);
    assert_int_equal(vg_audit_code_parse("NOPE"), -1);
    assert_int_equal(vg_audit_code_parse(""), -1);
    assert_int_equal(vg_audit_code_parse(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoints_by_count, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_by_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(ed25519_key, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_bad_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(throughput, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_continues_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(torn_tail_repaired, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_changed_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(failing_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(tamper_changed_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(tamper_changed_and_rehashed, setup, teardown),
        cmocka_unit_test_setup_teardown(tamper_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(tamper_inserted, setup, teardown),
        cmocka_unit_test_setup_teardown(tamper_swapped, setup, teardown),
        cmocka_unit_test_setup_teardown(tamper_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(tamper_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(tamper_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(scan_skips_bad_lines, setup, teardown),
        cmocka_unit_test(code_names),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
