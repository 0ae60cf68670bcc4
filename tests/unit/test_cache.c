/* test_cache.c - the Redis cache of person records against a real redis-server started
 * here, and the cache generation held in the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "redis_test_server.h"
#include "vg_cache.h"
#include "vg_log.h"
#include "vg_store.h"

#define P1 "450203195403120017"
#define P2 "450204196011230024"
#define P3 "45020519701201003X"

#define COMMAND_MS      100
#define SLACK_MS        60
#define TTL_S           60
#define BACKOFF_WAIT_MS 110 /* past the first reconnect backoff */

typedef struct fixture {
    redis_test_server srv;
    vg_cache_config cfg;
    vg_cache *cache;
} fixture;

typedef char idnum[VG_ID_LEN + 1];

/* ---- records ------------------------------------------------------------------------- */

static vg_record cremation(const char *id, const char *no)
{
    vg_record r;

    memset(&r, 0, sizeof(r));
    r.dept = VG_DEPT_CREMATION;
    snprintf(r.key, sizeof(r.key), "%s", no);
    snprintf(r.id_number, sizeof(r.id_number), "%s", id);
    snprintf(r.name, sizeof(r.name), "王建国%s", id + 14); /* content follows the person */
    r.death_date = 20240301;
    r.record_date = 20240305;
    snprintf(r.u.cremation.certificate_no, sizeof(r.u.cremation.certificate_no), "%s", no);
    snprintf(r.u.cremation.funeral_home, sizeof(r.u.cremation.funeral_home), "柳南区殡仪馆");
    return r;
}

static vg_record health(const char *id, const char *no, vg_cert_state state, const char *orig)
{
    vg_record r;

    memset(&r, 0, sizeof(r));
    r.dept = VG_DEPT_HEALTH;
    snprintf(r.key, sizeof(r.key), "%s|2024-03-01 10:00", no);
    snprintf(r.id_number, sizeof(r.id_number), "%s", id);
    snprintf(r.name, sizeof(r.name), "李秀英");
    r.death_date = 20240229;
    r.record_date = 20240301;
    snprintf(r.u.health.certificate_no, sizeof(r.u.health.certificate_no), "%s", no);
    snprintf(r.u.health.orig_no, sizeof(r.u.health.orig_no), "%s", orig ? orig : "");
    r.u.health.state = state;
    r.u.health.issued_at = 202403011000;
    snprintf(r.u.health.cause_code, sizeof(r.u.health.cause_code), "I21.9");
    return r;
}

/* Fills *p with what the store would hold for id: nrecs records of id and, when reissue,
 * one reissued certificate under another ID number. Content depends on id. */
static void person(vg_person_records *p, const char *id, size_t nrecs, int reissue)
{
    char no[64];

    memset(p, 0, sizeof(*p));
    snprintf(p->id_number, sizeof(p->id_number), "%s", id);
    p->recs = calloc(nrecs + 1, sizeof(vg_record));
    p->reissues = calloc(1, sizeof(vg_record));
    assert_non_null(p->recs);
    assert_non_null(p->reissues);
    p->cap_recs = nrecs + 1;
    p->cap_reissues = 1;
    for (size_t i = 0; i < nrecs; i++) {
        snprintf(no, sizeof(no), "D%s%02zu", id, i);
        p->recs[i] = i % 2 ? health(id, no, VG_CERT_NORMAL, NULL) : cremation(id, no);
    }
    p->nrecs = nrecs;
    if (reissue) {
        snprintf(no, sizeof(no), "D%s01", id);
        p->reissues[0] = health(P3, "D450205RE", VG_CERT_REISSUED, no);
        p->nreissues = 1;
    }
}

static void bulk_id(idnum out, unsigned n)
{
    snprintf(out, VG_ID_LEN + 1, "4502%014u", n);
}

/* 1 when both records encode to the same bytes. */
static int same_record(const vg_record *a, const vg_record *b)
{
    uint8_t x[8192], y[8192];
    size_t nx = vg_record_encode(a, x, sizeof(x)), ny = vg_record_encode(b, y, sizeof(y));

    return nx == ny && nx <= sizeof(x) && memcmp(x, y, nx) == 0;
}

static int same_person(const vg_person_records *a, const vg_person_records *b)
{
    if (strcmp(a->id_number, b->id_number) != 0 || a->nrecs != b->nrecs ||
        a->nreissues != b->nreissues)
        return 0;
    for (size_t i = 0; i < a->nrecs; i++)
        if (!same_record(&a->recs[i], &b->recs[i]))
            return 0;
    for (size_t i = 0; i < a->nreissues; i++)
        if (!same_record(&a->reissues[i], &b->reissues[i]))
            return 0;
    return 1;
}

static void free_people(vg_person_records *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vg_person_records_free(&p[i]);
}

/* ---- stderr capture --------------------------------------------------------------------- */

typedef struct capture {
    int saved;
    char path[64];
} capture;

static void capture_start(capture *c)
{
    int fd;

    snprintf(c->path, sizeof(c->path), "/tmp/vg-cache-log-XXXXXX");
    fd = mkstemp(c->path);
    assert_true(fd >= 0);
    fflush(stderr);
    c->saved = dup(2);
    assert_true(c->saved >= 0);
    assert_true(dup2(fd, 2) == 2);
    close(fd);
}

/* Restores stderr and returns what was written meanwhile (the caller frees it). */
static char *capture_end(capture *c)
{
    struct stat sb;
    char *text;
    FILE *f;
    size_t n = 0;

    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    f = fopen(c->path, "r");
    assert_non_null(f);
    assert_int_equal(fstat(fileno(f), &sb), 0);
    text = calloc(1, (size_t)sb.st_size + 1);
    assert_non_null(text);
    if (sb.st_size > 0)
        n = fread(text, 1, (size_t)sb.st_size, f);
    text[n] = '\0';
    fclose(f);
    unlink(c->path);
    return text;
}

static int count_lines(const char *text, const char *level, const char *needle)
{
    int n = 0;

    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[1024];

        snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
        if (strstr(buf, level) && strstr(buf, needle))
            n++;
        line = end ? end + 1 : NULL;
    }
    return n;
}

/* ---- fixture ------------------------------------------------------------------------- */

static void config_for(vg_cache_config *cfg, const redis_test_server *srv)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->enabled = 1;
    snprintf(cfg->address, sizeof(cfg->address), "127.0.0.1:%d", srv->port);
    cfg->ttl_s = TTL_S;
    cfg->connect_timeout_ms = 200;
    cfg->command_timeout_ms = COMMAND_MS;
}

static int start_with(void **state, const char *const *extra)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(redis_test_start(&f->srv, extra), 0); /* redis-server must be installed */
    config_for(&f->cfg, &f->srv);
    f->cache = vg_cache_new(&f->cfg);
    assert_non_null(f->cache);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return start_with(state, NULL);
}

static int setup_password(void **state)
{
    static const char *const extra[] = {"--requirepass", "s3cret", NULL};

    start_with(state, extra);
    snprintf(((fixture *)*state)->srv.password, sizeof(((fixture *)*state)->srv.password),
             "s3cret");
    return 0;
}

static int setup_small(void **state)
{
    static const char *const extra[] = {"--maxmemory", "1mb", "--maxmemory-policy", "allkeys-lru",
                                        NULL};

    return start_with(state, extra);
}

static int setup_ipv6(void **state)
{
    static const char *const extra[] = {"--bind", "127.0.0.1", "::1", NULL};

    return start_with(state, extra);
}

static int teardown(void **state)
{
    fixture *f = *state;

    vg_cache_free(f->cache);
    redis_test_stop(&f->srv);
    free(f);
    return 0;
}

static long elapsed_since(long t0)
{
    return redis_test_now_ms() - t0;
}

/* The key the cache uses for id under gen, built independently of cache.c. */
static void key_of(char *out, size_t len, uint64_t gen, const char *id)
{
    snprintf(out, len, "vg:c%d.%d:%016" PRIx64 ":%s", VG_RECORD_LAYOUT, VG_STATUS_RULES_VERSION,
             gen, id);
}

/* Calls get until Redis answers (at most wait_ms); returns the time that took, or -1. */
static long wait_until_up(vg_cache *c, uint64_t gen, long wait_ms)
{
    idnum id = P2;
    vg_person_records out = {0};
    int found;
    long t0 = redis_test_now_ms();
    long got = -1;

    while (elapsed_since(t0) < wait_ms) {
        if (vg_cache_get(c, gen, (const idnum *)&id, 1, &out, &found) == VG_OK) {
            got = elapsed_since(t0);
            break;
        }
        redis_test_sleep_ms(20);
    }
    vg_person_records_free(&out);
    return got;
}

static vg_cache_stats stats_now(void)
{
    vg_cache_stats s;

    vg_cache_stats_get(&s);
    return s;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void roundtrip_with_negative_entry(void **state)
{
    fixture *f = *state;
    const idnum ids[2] = {P1, P2};
    vg_person_records want[2], got[2] = {0};
    int found[2] = {1, 1};
    vg_cache_stats s0 = stats_now(), s1;

    person(&want[0], P1, 3, 1);
    person(&want[1], P2, 0, 0); /* nobody holds P2: a negative entry */

    assert_int_equal(vg_cache_get(f->cache, 7, ids, 2, got, found), VG_OK);
    assert_int_equal(found[0], 0);
    assert_int_equal(found[1], 0);
    assert_int_equal(vg_cache_fill(f->cache, 7, ids, 2, want, found), VG_OK);
    s1 = stats_now();
    assert_int_equal(s1.misses - s0.misses, 2);
    assert_int_equal(s1.fills - s0.fills, 2);

    for (int round = 0; round < 2; round++) { /* the second reuses got's buffers */
        found[0] = found[1] = 0;
        assert_int_equal(vg_cache_get(f->cache, 7, ids, 2, got, found), VG_OK);
        assert_int_equal(found[0], 1);
        assert_int_equal(found[1], 1);
        assert_true(same_person(&got[0], &want[0]));
        assert_true(same_person(&got[1], &want[1]));
    }
    assert_string_equal(got[0].recs[0].name, want[0].recs[0].name);
    assert_int_equal(got[0].nrecs, 3);
    assert_int_equal(got[0].nreissues, 1);
    assert_string_equal(got[0].reissues[0].u.health.orig_no, "D45020319540312001701");
    assert_int_equal(got[1].nrecs, 0);
    assert_int_equal(got[1].nreissues, 0);
    assert_string_equal(got[1].id_number, P2);
    s1 = stats_now();
    assert_int_equal(s1.hits - s0.hits, 4);
    assert_int_equal(s1.errors, s0.errors);

    free_people(want, 2);
    free_people(got, 2);
}

/* The classic race: a reader misses, a writer commits and invalidates, then the reader
 * fills with what it read before the commit. The fill must be refused. */
static void invalidate_between_get_and_fill_refuses_fill(void **state)
{
    fixture *f = *state;
    vg_cache *writer = vg_cache_new(&f->cfg);
    const idnum ids[1] = {P1};
    vg_person_records old, got = {0};
    int found = 1;
    vg_cache_stats s0 = stats_now(), s1;

    person(&old, P1, 1, 0);
    assert_int_equal(vg_cache_get(f->cache, 1, ids, 1, &got, &found), VG_OK);
    assert_int_equal(found, 0);
    assert_int_equal(vg_cache_invalidate(writer, 1, ids, 1), VG_OK);
    assert_int_equal(vg_cache_fill(f->cache, 1, ids, 1, &old, &found), VG_OK);
    s1 = stats_now();
    assert_int_equal(s1.refused - s0.refused, 1);
    assert_int_equal(s1.fills - s0.fills, 0);

    found = 1;
    assert_int_equal(vg_cache_get(f->cache, 1, ids, 1, &got, &found), VG_OK);
    assert_int_equal(found, 0); /* the stale records never became an entry */

    /* Two readers: the later lease wins, the earlier fill is refused. */
    assert_int_equal(vg_cache_invalidate(writer, 1, ids, 1), VG_OK);
    assert_int_equal(vg_cache_get(f->cache, 1, ids, 1, &got, &found), VG_OK);
    assert_int_equal(vg_cache_get(writer, 1, ids, 1, &got, &found), VG_OK);
    s0 = stats_now();
    assert_int_equal(vg_cache_fill(f->cache, 1, ids, 1, &old, &found), VG_OK);
    assert_int_equal(vg_cache_fill(writer, 1, ids, 1, &old, &found), VG_OK);
    s1 = stats_now();
    assert_int_equal(s1.refused - s0.refused, 1);
    assert_int_equal(s1.fills - s0.fills, 1);
    assert_int_equal(vg_cache_get(f->cache, 1, ids, 1, &got, &found), VG_OK);
    assert_int_equal(found, 1);
    assert_true(same_person(&got, &old));

    vg_cache_free(writer);
    vg_person_records_free(&old);
    vg_person_records_free(&got);
}

static void invalidate_deletes_entries(void **state)
{
    fixture *f = *state;
    const idnum ids[2] = {P1, P2};
    vg_person_records want[2], got[2] = {0};
    int found[2];
    char key[64], out[64];

    person(&want[0], P1, 2, 0);
    person(&want[1], P2, 1, 0);
    assert_int_equal(vg_cache_get(f->cache, 3, ids, 2, got, found), VG_OK);
    assert_int_equal(vg_cache_fill(f->cache, 3, ids, 2, want, found), VG_OK);
    key_of(key, sizeof(key), 3, P1);
    assert_int_equal(redis_test_cli(&f->srv, out, sizeof(out), "EXISTS", key, NULL), 0);
    assert_string_equal(out, "1");

    assert_int_equal(vg_cache_invalidate(f->cache, 3, ids, 2), VG_OK);
    assert_int_equal(redis_test_cli(&f->srv, out, sizeof(out), "DBSIZE", NULL), 0);
    assert_string_equal(out, "0");
    found[0] = found[1] = 1;
    assert_int_equal(vg_cache_get(f->cache, 3, ids, 2, got, found), VG_OK);
    assert_int_equal(found[0], 0);
    assert_int_equal(found[1], 0);
    assert_int_equal(vg_cache_invalidate(f->cache, 3, ids, 0), VG_OK);

    free_people(want, 2);
    free_people(got, 2);
}

static void other_generation_misses(void **state)
{
    fixture *f = *state;
    const idnum ids[1] = {P1};
    vg_person_records want, got = {0};
    int found;

    person(&want, P1, 2, 1);
    assert_int_equal(vg_cache_get(f->cache, 0x1111, ids, 1, &got, &found), VG_OK);
    assert_int_equal(vg_cache_fill(f->cache, 0x1111, ids, 1, &want, &found), VG_OK);
    assert_int_equal(vg_cache_get(f->cache, 0x2222, ids, 1, &got, &found), VG_OK);
    assert_int_equal(found, 0);
    assert_int_equal(vg_cache_get(f->cache, 0x1111, ids, 1, &got, &found), VG_OK);
    assert_int_equal(found, 1);
    assert_true(same_person(&got, &want));

    vg_person_records_free(&want);
    vg_person_records_free(&got);
}

static int is_lease(const char *v)
{
    if (strlen(v) != 17 || v[0] != 'L')
        return 0;
    for (int i = 1; i < 17; i++)
        if (!strchr("0123456789abcdef", v[i]))
            return 0;
    return 1;
}

static void keys_carry_versions_and_generation(void **state)
{
    fixture *f = *state;
    const uint64_t gen = 0xfedcba9876543210u;
    const idnum ids[1] = {P2};
    vg_person_records want, got = {0};
    char key[64], out[256], first[64];
    int found;
    long ms;

    assert_int_equal(VG_RECORD_LAYOUT, 1);
    assert_int_equal(VG_STATUS_RULES_VERSION, 1);
    person(&want, P2, 1, 0);
    key_of(key, sizeof(key), gen, P2);
    assert_string_equal(key, "vg:c1.1:fedcba9876543210:" P2);

    assert_int_equal(vg_cache_get(f->cache, gen, ids, 1, &got, &found), VG_OK);
    assert_int_equal(redis_test_cli(&f->srv, out, sizeof(out), "KEYS", "*", NULL), 0);
    assert_string_equal(out, key); /* the one key, exactly */
    assert_int_equal(redis_test_cli(&f->srv, first, sizeof(first), "GET", key, NULL), 0);
    assert_true(is_lease(first));
    assert_int_equal(redis_test_cli(&f->srv, out, sizeof(out), "PTTL", key, NULL), 0);
    ms = atol(out);
    assert_true(ms > 0 && ms <= 1000); /* 10 command timeouts, at least a second */

    /* Every lookup takes a fresh token. */
    assert_int_equal(vg_cache_get(f->cache, gen, ids, 1, &got, &found), VG_OK);
    assert_int_equal(redis_test_cli(&f->srv, out, sizeof(out), "GET", key, NULL), 0);
    assert_true(is_lease(out));
    assert_string_not_equal(out, first);

    assert_int_equal(vg_cache_fill(f->cache, gen, ids, 1, &want, &found), VG_OK);
    assert_int_equal(redis_test_cli(&f->srv, out, sizeof(out), "GET", key, NULL), 0);
    assert_int_equal(out[0], 'R');
    assert_int_equal(redis_test_cli(&f->srv, out, sizeof(out), "TTL", key, NULL), 0);
    assert_true(atol(out) > TTL_S - 5 && atol(out) <= TTL_S);

    vg_person_records_free(&want);
    vg_person_records_free(&got);
}

static void duplicate_ids_in_one_call(void **state)
{
    fixture *f = *state;
    const idnum ids[3] = {P1, P1, P2};
    vg_person_records want[3], got[3] = {0};
    int found[3];
    vg_cache_stats s0 = stats_now(), s1;

    person(&want[0], P1, 2, 0);
    person(&want[1], P1, 2, 0);
    person(&want[2], P2, 0, 0);
    assert_int_equal(vg_cache_get(f->cache, 5, ids, 3, got, found), VG_OK);
    assert_int_equal(found[0] + found[1] + found[2], 0);
    assert_int_equal(vg_cache_fill(f->cache, 5, ids, 3, want, found), VG_OK);
    s1 = stats_now();
    assert_int_equal(s1.fills - s0.fills, 2);
    assert_int_equal(s1.refused - s0.refused, 0);
    assert_int_equal(vg_cache_get(f->cache, 5, ids, 3, got, found), VG_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(found[i], 1);
        assert_true(same_person(&got[i], &want[i]));
    }

    free_people(want, 3);
    free_people(got, 3);
}

/* An entry that does not decode is a miss, and the fill that follows replaces it. */
static void undecodable_entry_is_a_miss(void **state)
{
    fixture *f = *state;
    const idnum ids[2] = {P1, P2};
    vg_person_records want[2], got[2] = {0};
    int found[2];
    char key[64], out[64];

    person(&want[0], P1, 1, 0);
    person(&want[1], P2, 1, 0);
    assert_int_equal(vg_cache_get(f->cache, 9, ids, 2, got, found), VG_OK);
    assert_int_equal(vg_cache_fill(f->cache, 9, ids, 2, want, found), VG_OK);

    key_of(key, sizeof(key), 9, P1);
    assert_int_equal(redis_test_cli(&f->srv, out, sizeof(out), "SET", key, "Rgarbage", NULL), 0);
    assert_int_equal(vg_cache_get(f->cache, 9, ids, 2, got, found), VG_OK);
    assert_int_equal(found[0], 0);
    assert_int_equal(found[1], 1);
    assert_int_equal(got[0].nrecs, 0);
    assert_int_equal(vg_cache_fill(f->cache, 9, ids, 2, want, found), VG_OK);
    assert_int_equal(vg_cache_get(f->cache, 9, ids, 2, got, found), VG_OK);
    assert_int_equal(found[0], 1);
    assert_true(same_person(&got[0], &want[0]));

    /* Records of someone else under this key are not believed either. */
    key_of(key, sizeof(key), 9, P2);
    assert_int_equal(redis_test_cli(&f->srv, NULL, 0, "COPY", key, "tmp", NULL), 0);
    key_of(key, sizeof(key), 9, P1);
    assert_int_equal(redis_test_cli(&f->srv, NULL, 0, "RENAME", "tmp", key, NULL), 0);
    assert_int_equal(vg_cache_get(f->cache, 9, ids, 2, got, found), VG_OK);
    assert_int_equal(found[0], 0);

    free_people(want, 2);
    free_people(got, 2);
}

/* Redis that lost its scripts (restarted with the connection kept, or SCRIPT FLUSH) is sent
 * the script itself, without an error. */
static void flushed_scripts_are_sent_again(void **state)
{
    fixture *f = *state;
    const idnum ids[1] = {P1};
    vg_person_records want, got = {0};
    int found;
    char out[64];
    vg_cache_stats s0, s1;

    person(&want, P1, 2, 0);
    assert_int_equal(vg_cache_get(f->cache, 1, ids, 1, &got, &found), VG_OK);
    s0 = stats_now();
    assert_int_equal(redis_test_cli(&f->srv, out, sizeof(out), "SCRIPT", "FLUSH", NULL), 0);
    assert_string_equal(out, "OK");
    assert_int_equal(vg_cache_get(f->cache, 1, ids, 1, &got, &found), VG_OK);
    assert_int_equal(found, 0);
    assert_int_equal(redis_test_cli(&f->srv, out, sizeof(out), "SCRIPT", "FLUSH", NULL), 0);
    assert_int_equal(vg_cache_fill(f->cache, 1, ids, 1, &want, &found), VG_OK);
    assert_int_equal(vg_cache_get(f->cache, 1, ids, 1, &got, &found), VG_OK);
    assert_int_equal(found, 1);
    assert_true(same_person(&got, &want));
    s1 = stats_now();
    assert_int_equal(s1.errors, s0.errors);
    assert_int_equal(s1.fills - s0.fills, 1);

    vg_person_records_free(&want);
    vg_person_records_free(&got);
}

static void killed_redis_is_unavailable_then_recovers(void **state)
{
    fixture *f = *state;
    const idnum ids[2] = {P1, P2};
    vg_person_records want[2], got[2] = {0};
    int found[2];
    long t0, took;

    person(&want[0], P1, 2, 1);
    person(&want[1], P2, 0, 0);
    assert_int_equal(vg_cache_get(f->cache, 4, ids, 2, got, found), VG_OK);
    redis_test_kill(&f->srv);

    t0 = redis_test_now_ms();
    assert_int_equal(vg_cache_fill(f->cache, 4, ids, 2, want, found), VG_ERR_UNAVAILABLE);
    assert_true(elapsed_since(t0) < 2 * COMMAND_MS + SLACK_MS);
    t0 = redis_test_now_ms();
    found[0] = found[1] = 1;
    assert_int_equal(vg_cache_get(f->cache, 4, ids, 2, got, found), VG_ERR_UNAVAILABLE);
    assert_true(elapsed_since(t0) < 2 * COMMAND_MS + SLACK_MS);
    assert_int_equal(found[0] + found[1], 0);
    t0 = redis_test_now_ms();
    assert_int_equal(vg_cache_invalidate(f->cache, 4, ids, 2), VG_ERR_UNAVAILABLE);
    assert_true(elapsed_since(t0) < 2 * COMMAND_MS + SLACK_MS);

    /* Past the first backoff, attempts reach the network: refused at once. */
    redis_test_sleep_ms(150);
    t0 = redis_test_now_ms();
    assert_int_equal(vg_cache_get(f->cache, 4, ids, 2, got, found), VG_ERR_UNAVAILABLE);
    assert_true(elapsed_since(t0) < 2 * COMMAND_MS + SLACK_MS);

    assert_int_equal(redis_test_restart(&f->srv), 0);
    took = wait_until_up(f->cache, 4, 8000);
    assert_true(took >= 0 && took < 5000 + 1000);
    assert_int_equal(vg_cache_get(f->cache, 4, ids, 2, got, found), VG_OK);
    assert_int_equal(found[0] + found[1], 0); /* a new Redis is empty */
    assert_int_equal(vg_cache_fill(f->cache, 4, ids, 2, want, found), VG_OK);
    assert_int_equal(vg_cache_get(f->cache, 4, ids, 2, got, found), VG_OK);
    assert_int_equal(found[0] + found[1], 2);
    assert_true(same_person(&got[0], &want[0]));

    free_people(want, 2);
    free_people(got, 2);
}

/* A Redis that accepts connections but never answers (stopped) costs one command timeout;
 * the calls during the backoff that follows return at once. */
static void stopped_redis_times_out_then_backs_off(void **state)
{
    fixture *f = *state;
    const idnum ids[1] = {P1};
    vg_person_records got = {0};
    int found;
    long t0, took;

    assert_int_equal(vg_cache_get(f->cache, 2, ids, 1, &got, &found), VG_OK);
    assert_int_equal(kill(f->srv.pid, SIGSTOP), 0);

    t0 = redis_test_now_ms();
    assert_int_equal(vg_cache_get(f->cache, 2, ids, 1, &got, &found), VG_ERR_UNAVAILABLE);
    took = elapsed_since(t0);
    assert_true(took >= COMMAND_MS - 5 && took < COMMAND_MS + SLACK_MS);
    for (int i = 0; i < 20; i++) {
        t0 = redis_test_now_ms();
        assert_int_equal(vg_cache_invalidate(f->cache, 2, ids, 1), VG_ERR_UNAVAILABLE);
        assert_true(elapsed_since(t0) < 5);
    }

    /* After the backoff a new connection is made, and its first round trip times out. */
    redis_test_sleep_ms(120);
    t0 = redis_test_now_ms();
    assert_int_equal(vg_cache_get(f->cache, 2, ids, 1, &got, &found), VG_ERR_UNAVAILABLE);
    took = elapsed_since(t0);
    assert_true(took >= COMMAND_MS - 5 && took < 200 + COMMAND_MS + SLACK_MS);
    /* The backoff doubled: 120 ms later it still holds. */
    redis_test_sleep_ms(120);
    t0 = redis_test_now_ms();
    assert_int_equal(vg_cache_get(f->cache, 2, ids, 1, &got, &found), VG_ERR_UNAVAILABLE);
    assert_true(elapsed_since(t0) < 5);

    assert_int_equal(kill(f->srv.pid, SIGCONT), 0);
    took = wait_until_up(f->cache, 2, 8000);
    assert_true(took >= 0);
    vg_person_records_free(&got);
}

static void slow_command_times_out(void **state)
{
    fixture *f = *state;
    const idnum ids[1] = {P1};
    vg_person_records got = {0};
    int found, status;
    long t0, took;
    pid_t sleeper;

    assert_int_equal(vg_cache_get(f->cache, 2, ids, 1, &got, &found), VG_OK);
    sleeper = redis_test_cli_background(&f->srv, "DEBUG", "SLEEP", "1", NULL);
    assert_true(sleeper > 0);
    redis_test_sleep_ms(100); /* let the sleep begin */

    t0 = redis_test_now_ms();
    assert_int_equal(vg_cache_get(f->cache, 2, ids, 1, &got, &found), VG_ERR_UNAVAILABLE);
    took = elapsed_since(t0);
    assert_true(took >= COMMAND_MS - 5 && took < COMMAND_MS + SLACK_MS);

    assert_int_equal(waitpid(sleeper, &status, 0), sleeper);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(wait_until_up(f->cache, 2, 8000) >= 0);
    vg_person_records_free(&got);
}

static void password_and_acl_user(void **state)
{
    fixture *f = *state;
    const idnum ids[1] = {P1};
    vg_person_records want, got = {0};
    vg_cache_config right = f->cfg, user = f->cfg;
    vg_cache *good, *acl;
    int found, rc, rc_good;
    capture cap;
    char *log, out[64];

    person(&want, P1, 1, 0);
    vg_log_level = VG_LOG_INFO;
    snprintf(f->cfg.password, sizeof(f->cfg.password), "wrong");
    snprintf(right.password, sizeof(right.password), "s3cret");

    capture_start(&cap);
    rc = vg_cache_get(f->cache, 1, ids, 1, &got, &found);
    good = vg_cache_new(&right);
    rc_good = good ? vg_cache_get(good, 1, ids, 1, &got, &found) : -99;
    log = capture_end(&cap);

    assert_int_equal(rc, VG_ERR_UNAVAILABLE);
    assert_int_equal(rc_good, VG_OK);
    assert_int_equal(count_lines(log, "WARN", "redis: unavailable: authentication refused"), 1);
    assert_int_equal(count_lines(log, "INFO", "redis: reachable again"), 1);
    assert_null(strstr(log, "s3cret"));
    assert_null(strstr(log, "wrong"));
    free(log);

    assert_int_equal(vg_cache_fill(good, 1, ids, 1, &want, &found), VG_OK);
    assert_int_equal(vg_cache_get(good, 1, ids, 1, &got, &found), VG_OK);
    assert_int_equal(found, 1);

    /* An ACL user with its own password. */
    assert_int_equal(redis_test_cli(&f->srv, out, sizeof(out), "ACL", "SETUSER", "vgcache", "on",
                                    ">pw-of-vgcache", "~vg:*", "+@all", NULL),
                     0);
    assert_string_equal(out, "OK");
    snprintf(user.user, sizeof(user.user), "vgcache");
    snprintf(user.password, sizeof(user.password), "pw-of-vgcache");
    acl = vg_cache_new(&user);
    assert_int_equal(vg_cache_get(acl, 1, ids, 1, &got, &found), VG_OK);
    assert_int_equal(found, 1);
    assert_true(same_person(&got, &want));

    vg_cache_free(acl);
    vg_cache_free(good);
    vg_person_records_free(&want);
    vg_person_records_free(&got);
}

static void unix_socket_and_database(void **state)
{
    fixture *f = *state;
    const idnum ids[1] = {P3};
    vg_person_records want, got = {0};
    vg_cache_config plain = f->cfg;
    vg_cache *other;
    int found;
    char out[64];

    person(&want, P3, 2, 0);
    snprintf(f->cfg.address, sizeof(f->cfg.address), "unix:%s", f->srv.sock);
    f->cfg.db = 5;
    assert_int_equal(vg_cache_get(f->cache, 1, ids, 1, &got, &found), VG_OK);
    assert_int_equal(vg_cache_fill(f->cache, 1, ids, 1, &want, &found), VG_OK);
    assert_int_equal(redis_test_cli(&f->srv, out, sizeof(out), "-n", "5", "DBSIZE", NULL), 0);
    assert_string_equal(out, "1");
    assert_int_equal(redis_test_cli(&f->srv, out, sizeof(out), "DBSIZE", NULL), 0);
    assert_string_equal(out, "0");

    snprintf(plain.address, sizeof(plain.address), "%s", f->srv.sock);
    plain.db = 5;
    other = vg_cache_new(&plain);
    assert_int_equal(vg_cache_get(other, 1, ids, 1, &got, &found), VG_OK);
    assert_int_equal(found, 1);
    assert_true(same_person(&got, &want));
    vg_cache_free(other);

    vg_person_records_free(&want);
    vg_person_records_free(&got);
}

static void ipv6_address(void **state)
{
    fixture *f = *state;
    const idnum ids[1] = {P1};
    vg_person_records got = {0};
    int found = 1;

    snprintf(f->cfg.address, sizeof(f->cfg.address), "[::1]:%d", f->srv.port);
    assert_int_equal(vg_cache_get(f->cache, 1, ids, 1, &got, &found), VG_OK);
    assert_int_equal(found, 0);
    vg_person_records_free(&got);
}

static void bad_address_is_unavailable(void **state)
{
    fixture *f = *state;
    const idnum ids[1] = {P1};
    vg_person_records got = {0};
    int found;

    snprintf(f->cfg.address, sizeof(f->cfg.address), "no-port-here");
    assert_int_equal(vg_cache_get(f->cache, 1, ids, 1, &got, &found), VG_ERR_UNAVAILABLE);
    vg_person_records_free(&got);
}

/* Checks a lookup of ids against want: every entry found holds exactly the records filled.
 * Counts hits and misses; returns 0 when Redis was unavailable. */
static int lookup_checked(vg_cache *c, const idnum *ids, size_t n, vg_person_records *want,
                          vg_person_records *got, int *found, size_t *hits, size_t *misses)
{
    vg_err rc = vg_cache_get(c, 8, ids, n, got, found);

    if (rc != VG_OK) {
        assert_int_equal(rc, VG_ERR_UNAVAILABLE);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (found[i])
            assert_true(same_person(&got[i], &want[i]));
        *hits += found[i] != 0;
        *misses += found[i] == 0;
    }
    return 1;
}

/* Redis's INFO field name (an integer), or -1. */
static long info_field(const redis_test_server *srv, const char *name)
{
    char out[8192], *p;

    if (redis_test_cli(srv, out, sizeof(out), "INFO", NULL) != 0 || !(p = strstr(out, name)))
        return -1;
    return atol(p + strlen(name) + 1);
}

/* Under memory pressure (1 MB, little more than an empty Redis takes) Redis evicts entries
 * and leases, or refuses writes: a lookup then misses or is unavailable, and never returns
 * records other than the ones filled. */
static void evictions_never_give_wrong_records(void **state)
{
    enum { PEOPLE = 2000, BATCH = 5 };
    fixture *f = *state;
    idnum ids[BATCH];
    vg_person_records want[BATCH], got[BATCH];
    int found[BATCH];
    size_t hits[2] = {0}, misses[2] = {0}, unavailable = 0;
    long evicted;

    memset(got, 0, sizeof(got));
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned base = 0; base < PEOPLE; base += BATCH) {
            for (unsigned i = 0; i < BATCH; i++) {
                bulk_id(ids[i], base + i);
                person(&want[i], ids[i], 1 + (base + i) % 2, (base + i) % 7 == 0);
            }
            if (!lookup_checked(f->cache, (const idnum *)ids, BATCH, want, got, found, &hits[pass],
                                &misses[pass]) ||
                vg_cache_fill(f->cache, 8, (const idnum *)ids, BATCH, want, found) != VG_OK ||
                !lookup_checked(f->cache, (const idnum *)ids, BATCH, want, got, found, &hits[pass],
                                &misses[pass])) {
                unavailable++;
                redis_test_sleep_ms(BACKOFF_WAIT_MS);
            }
            free_people(want, BATCH);
        }
    }
    evicted = info_field(&f->srv, "evicted_keys");
    print_message("under 1 MB: %zu hits, %zu misses, then %zu, %zu; %zu batches unavailable; "
                  "%ld keys evicted\n",
                  hits[0], misses[0], hits[1], misses[1], unavailable, evicted);
    assert_true(hits[0] > 0);
    assert_true(evicted > 0);
    assert_true(misses[1] > 0);
    free_people(got, BATCH);
}

static void one_warning_per_outage(void **state)
{
    fixture *f = *state;
    vg_cache *b = vg_cache_new(&f->cfg);
    const idnum ids[1] = {P1};
    vg_person_records got = {0};
    int found, a_down = 0, b_down = 0;
    long ok_a = -1, ok_b = -1;
    capture cap;
    char *log;

    vg_log_level = VG_LOG_INFO;
    /* Earlier trouble is over before counting starts. */
    assert_true(wait_until_up(f->cache, 1, 8000) >= 0);
    assert_true(wait_until_up(b, 1, 8000) >= 0);

    capture_start(&cap);
    for (int outage = 0; outage < 2; outage++) {
        redis_test_kill(&f->srv);
        for (int i = 0; i < 10; i++) {
            a_down += vg_cache_get(f->cache, 1, ids, 1, &got, &found) == VG_ERR_UNAVAILABLE;
            b_down += vg_cache_invalidate(b, 1, ids, 1) == VG_ERR_UNAVAILABLE;
            redis_test_sleep_ms(30);
        }
        if (redis_test_restart(&f->srv) != 0)
            break;
        ok_a = wait_until_up(f->cache, 1, 8000);
        ok_b = wait_until_up(b, 1, 8000);
        if (ok_a < 0 || ok_b < 0)
            break;
    }
    log = capture_end(&cap);

    assert_int_equal(a_down, 20);
    assert_int_equal(b_down, 20);
    assert_true(ok_a >= 0 && ok_b >= 0);
    assert_int_equal(count_lines(log, "WARN", "redis: unavailable: "), 2);
    assert_int_equal(count_lines(log, "WARN", "; serving from the store"), 2);
    assert_int_equal(count_lines(log, "INFO", "redis: reachable again"), 2);
    assert_int_equal(count_lines(log, "peer=- method=-", "redis:"), 4);
    free(log);
    vg_cache_free(b);
    vg_person_records_free(&got);
}

static void disabled_cache_is_silent(void **state)
{
    vg_cache_config cfg;
    vg_cache *c;
    const idnum ids[1] = {P1};
    vg_person_records rec = {0};
    int found = 1;
    vg_cache_stats s0 = stats_now(), s1;
    vg_err r1, r2, r3, r4;
    capture cap;
    char *log;
    long t0, took;
    int f1;

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.address, sizeof(cfg.address), "127.0.0.1:1");
    cfg.ttl_s = 10;
    cfg.connect_timeout_ms = cfg.command_timeout_ms = 100;
    c = vg_cache_new(&cfg);
    assert_non_null(c);
    vg_log_level = VG_LOG_DEBUG;

    capture_start(&cap);
    t0 = redis_test_now_ms();
    r1 = vg_cache_get(c, 1, ids, 1, &rec, &found);
    f1 = found;
    found = 0;
    r2 = vg_cache_fill(c, 1, ids, 1, &rec, &found);
    r3 = vg_cache_invalidate(c, 1, ids, 1);
    r4 = vg_cache_get(NULL, 1, ids, 1, &rec, &found);
    took = elapsed_since(t0);
    log = capture_end(&cap);
    vg_log_level = VG_LOG_INFO;

    assert_int_equal(r1, VG_ERR_UNAVAILABLE);
    assert_int_equal(f1, 0);
    assert_int_equal(r2, VG_ERR_UNAVAILABLE);
    assert_int_equal(r3, VG_ERR_UNAVAILABLE);
    assert_int_equal(r4, VG_ERR_UNAVAILABLE);
    assert_true(took < 5);
    assert_string_equal(log, "");
    s1 = stats_now();
    assert_memory_equal(&s0, &s1, sizeof(s0));
    free(log);
    vg_cache_free(c);
    vg_cache_free(NULL);
    assert_null(vg_cache_new(NULL));
}

/* Per-key cost of pipelined lookups that all hit. */
static void lookup_cost(void **state)
{
    enum { N = 1000 };
    fixture *f = *state;
    idnum *ids = calloc(N, sizeof(*ids));
    vg_person_records *want = calloc(N, sizeof(*want)), *got = calloc(N, sizeof(*got));
    int *found = calloc(N, sizeof(*found));
    const char *env = getenv("VG_CACHE_BENCH_ROUNDS");
    int rounds = env ? atoi(env) : 20;
    long t0, took;

    assert_true(ids && want && got && found && rounds > 0);
    f->cfg.command_timeout_ms = 1000;
    for (unsigned i = 0; i < N; i++) {
        bulk_id(ids[i], 500000 + i);
        person(&want[i], ids[i], 2, i % 5 == 0);
    }
    assert_int_equal(vg_cache_get(f->cache, 6, (const idnum *)ids, N, got, found), VG_OK);
    assert_int_equal(vg_cache_fill(f->cache, 6, (const idnum *)ids, N, want, found), VG_OK);
    t0 = redis_test_now_ms();
    for (int r = 0; r < rounds; r++) {
        assert_int_equal(vg_cache_get(f->cache, 6, (const idnum *)ids, N, got, found), VG_OK);
        for (unsigned i = 0; i < N; i++)
            assert_int_equal(found[i], 1);
    }
    took = elapsed_since(t0);
    assert_true(same_person(&got[N - 1], &want[N - 1]));
    print_message("lookup cost: %d gets of %d ids in %ld ms, %.2f us per ID number\n", rounds, N,
                  took, took * 1000.0 / ((double)rounds * N));
    free_people(want, N);
    free_people(got, N);
    free(want);
    free(got);
    free(ids);
    free(found);
}

/* ---- the cache generation in the store --------------------------------------------------- */

static void store_generation(void **state)
{
    char dir[64], db[128], sql[256];
    vg_store *store = NULL;
    vg_store_reader *a = NULL, *b = NULL;
    uint64_t ga, gb, g2, again;
    vg_record rec = cremation(P1, "HH1");
    vg_put_outcome outcome;
    char why[256] = "";

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/vg-gen-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/vitalgate.db", dir);
    assert_int_equal(vg_store_open(dir, &store, why, sizeof(why)), VG_OK);
    assert_int_equal(vg_store_reader_open(store, &a), VG_OK);
    assert_int_equal(vg_store_reader_open(store, &b), VG_OK);

    assert_int_equal(vg_store_cache_generation(a, &ga), VG_OK);
    assert_int_equal(vg_store_cache_generation(b, &gb), VG_OK);
    assert_true(ga == gb);
    assert_int_equal(vg_store_cache_generation(a, &again), VG_OK);
    assert_true(again == ga); /* unchanged store, same value */

    assert_int_equal(vg_store_put(store, &rec, 1, &outcome, NULL, NULL), VG_OK);
    assert_int_equal(vg_store_cache_generation(a, &again), VG_OK);
    assert_true(again == ga); /* a commit elsewhere does not change it */

    assert_int_equal(vg_store_bump_cache_generation(store, &g2), VG_OK);
    assert_true(g2 != ga);
    assert_int_equal(vg_store_cache_generation(b, &gb), VG_OK);
    assert_true(gb == g2);
    assert_int_equal(vg_store_cache_generation(a, &again), VG_OK);
    assert_true(again == g2);
    assert_int_equal(vg_store_bump_cache_generation(store, NULL), VG_OK);
    assert_int_equal(vg_store_cache_generation(a, &again), VG_OK);
    assert_true(again != g2);
    g2 = again;

    /* Durable: a reopened store holds the same value. */
    vg_store_reader_close(a);
    vg_store_reader_close(b);
    vg_store_close(store);
    assert_int_equal(vg_store_open(dir, &store, why, sizeof(why)), VG_OK);
    assert_int_equal(vg_store_reader_open(store, &a), VG_OK);
    assert_int_equal(vg_store_cache_generation(a, &again), VG_OK);
    assert_true(again == g2);
    vg_store_reader_close(a);
    vg_store_close(store);

    /* A store made before the meta table existed gets it when opened. */
    snprintf(sql, sizeof(sql), "sqlite3 %s 'DROP TABLE meta' 2>&1", db);
    assert_int_equal(system(sql), 0); /* the sqlite3 tool is a test dependency */
    assert_int_equal(vg_store_open(dir, &store, why, sizeof(why)), VG_OK);
    assert_int_equal(vg_store_reader_open(store, &a), VG_OK);
    assert_int_equal(vg_store_cache_generation(a, &again), VG_OK);
    assert_true(again != g2);
    assert_int_equal(vg_store_bump_cache_generation(store, &g2), VG_OK);
    assert_int_equal(vg_store_cache_generation(a, &again), VG_OK);
    assert_true(again == g2);
    assert_int_equal(vg_store_cache_generation(NULL, &again), VG_ERR_INVALID);
    assert_int_equal(vg_store_bump_cache_generation(NULL, &again), VG_ERR_INVALID);
    vg_store_reader_close(a);
    vg_store_close(store);

    for (int i = 0; i < 3; i++) {
        snprintf(sql, sizeof(sql), "%s%s", db, (const char *[]){"", "-wal", "-shm"}[i]);
        unlink(sql);
    }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(roundtrip_with_negative_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(invalidate_between_get_and_fill_refuses_fill, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(invalidate_deletes_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(other_generation_misses, setup, teardown),
        cmocka_unit_test_setup_teardown(keys_carry_versions_and_generation, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_ids_in_one_call, setup, teardown),
        cmocka_unit_test_setup_teardown(undecodable_entry_is_a_miss, setup, teardown),
        cmocka_unit_test_setup_teardown(flushed_scripts_are_sent_again, setup, teardown),
        cmocka_unit_test_setup_teardown(killed_redis_is_unavailable_then_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(stopped_redis_times_out_then_backs_off, setup, teardown),
        cmocka_unit_test_setup_teardown(slow_command_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(password_and_acl_user, setup_password, teardown),
        cmocka_unit_test_setup_teardown(unix_socket_and_database, setup, teardown),
        cmocka_unit_test_setup_teardown(ipv6_address, setup_ipv6, teardown),
        cmocka_unit_test_setup_teardown(bad_address_is_unavailable, setup, teardown),
        cmocka_unit_test_setup_teardown(evictions_never_give_wrong_records, setup_small, teardown),
        cmocka_unit_test_setup_teardown(one_warning_per_outage, setup, teardown),
        cmocka_unit_test(disabled_cache_is_silent),
        cmocka_unit_test_setup_teardown(lookup_cost, setup, teardown),
        cmocka_unit_test(store_generation),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
