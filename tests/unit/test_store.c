/* test_store.c - the SQLite store of source records, in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vg_status.h"
#include "vg_store.h"

#define P1 "450203195403120017"
#define P2 "450204196011230024"
#define P3 "45020519701201003X"
#define P4 "450206198805050041"

typedef struct fixture {
    char dir[64];
    char db[128];
    vg_store *store;
    vg_store_reader *reader;
    vg_person_records person;
} fixture;

/* ---- records -------------------------------------------------------------------------- */

static vg_record cremation(const char *id, const char *no, const char *name)
{
    vg_record r;

    memset(&r, 0, sizeof(r));
    r.dept = VG_DEPT_CREMATION;
    snprintf(r.key, sizeof(r.key), "%s", no);
    snprintf(r.id_number, sizeof(r.id_number), "%s", id);
    snprintf(r.name, sizeof(r.name), "%s", name);
    r.death_date = 20240301;
    r.record_date = 20240305;
    snprintf(r.u.cremation.certificate_no, sizeof(r.u.cremation.certificate_no), "%s", no);
    snprintf(r.u.cremation.funeral_home, sizeof(r.u.cremation.funeral_home), "柳南区殡仪馆");
    return r;
}

/* A death certificate keyed as the adapter keys it: number "|" issue time. */
static vg_record health(const char *id, const char *no, vg_cert_state state, const char *orig,
                        vg_datetime issued)
{
    vg_record r;
    char when[32];

    memset(&r, 0, sizeof(r));
    r.dept = VG_DEPT_HEALTH;
    vg_datetime_format(issued, when, sizeof(when));
    snprintf(r.key, sizeof(r.key), "%s|%s", no, when);
    snprintf(r.id_number, sizeof(r.id_number), "%s", id);
    snprintf(r.name, sizeof(r.name), "王建国");
    r.death_date = vg_datetime_date(issued) - 1;
    r.record_date = vg_datetime_date(issued);
    snprintf(r.u.health.certificate_no, sizeof(r.u.health.certificate_no), "%s", no);
    snprintf(r.u.health.orig_no, sizeof(r.u.health.orig_no), "%s", orig ? orig : "");
    r.u.health.state = state;
    r.u.health.issued_at = issued;
    snprintf(r.u.health.cause_code, sizeof(r.u.health.cause_code), "I21.9");
    return r;
}

static vg_record dereg(const char *id, vg_date when, vg_dereg_reason reason)
{
    vg_record r;
    char day[16];

    memset(&r, 0, sizeof(r));
    r.dept = VG_DEPT_HOUSEHOLD;
    vg_date_format(when, day, sizeof(day));
    snprintf(r.key, sizeof(r.key), "%s|%s", id, day);
    snprintf(r.id_number, sizeof(r.id_number), "%s", id);
    snprintf(r.name, sizeof(r.name), "王建国");
    r.record_date = when;
    r.u.household.reason = reason;
    return r;
}

static vg_record disability(const char *id)
{
    vg_record r;

    memset(&r, 0, sizeof(r));
    r.dept = VG_DEPT_DISABILITY;
    snprintf(r.key, sizeof(r.key), "%s42", id);
    snprintf(r.id_number, sizeof(r.id_number), "%s", id);
    snprintf(r.name, sizeof(r.name), "王建国");
    r.record_date = 20200101;
    r.u.disability.category = 4;
    r.u.disability.level = 2;
    r.u.disability.valid_until = 20300101;
    return r;
}

/* A synthetic ID-shaped number for bulk records (the store does not check numbers). */
static void bulk_id(char out[VG_ID_LEN + 1], unsigned n)
{
    snprintf(out, VG_ID_LEN + 1, "4502%014u", n);
}

/* ---- fixture ------------------------------------------------------------------------- */

static void open_store(fixture *f)
{
    char why[256] = "";

    assert_int_equal(vg_store_open(f->dir, &f->store, why, sizeof(why)), VG_OK);
    assert_non_null(f->store);
    assert_int_equal(vg_store_reader_open(f->store, &f->reader), VG_OK);
}

static void close_store(fixture *f)
{
    vg_store_reader_close(f->reader);
    vg_store_close(f->store);
    f->reader = NULL;
    f->store = NULL;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/vg-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/vitalgate.db", f->dir);
    open_store(f);
    *state = f;
    return 0;
}

static void remove_suffix(const fixture *f, const char *suffix)
{
    char path[160];

    snprintf(path, sizeof(path), "%s%s", f->db, suffix);
    unlink(path);
}

static int teardown(void **state)
{
    fixture *f = *state;

    close_store(f);
    vg_person_records_free(&f->person);
    remove_suffix(f, "");
    remove_suffix(f, "-wal");
    remove_suffix(f, "-shm");
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Puts a batch and checks every outcome; returns the touched ID numbers as "a,b,c". */
static const char *put(fixture *f, const vg_record *recs, size_t n, const vg_put_outcome *want)
{
    static char list[512];
    vg_put_outcome got[16];
    char(*touched)[VG_ID_LEN + 1] = NULL;
    size_t ntouched = 99;

    assert_true(n <= 16);
    assert_int_equal(vg_store_put(f->store, recs, n, got, &touched, &ntouched), VG_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(got[i], want[i]);
    list[0] = '\0';
    for (size_t i = 0; i < ntouched; i++) {
        strcat(list, i ? "," : "");
        strcat(list, touched[i]);
    }
    free(touched);
    return list;
}

static size_t count_of(fixture *f, vg_department dept)
{
    size_t counts[VG_DEPT_COUNT];

    assert_int_equal(vg_store_count(f->reader, counts), VG_OK);
    return counts[dept];
}

/* ---- tests ---------------------------------------------------------------------------- */

static void stored_held_updated(void **state)
{
    fixture *f = *state;
    vg_record recs[3] = {cremation(P2, "HH4502042024000001", "王建国"),
                         health(P1, "D4502032024000001", VG_CERT_NORMAL, NULL, 202403011000),
                         dereg(P2, 20240320, VG_DEREG_DEATH)};
    const vg_put_outcome stored[3] = {VG_PUT_STORED, VG_PUT_STORED, VG_PUT_STORED};
    const vg_put_outcome held[3] = {VG_PUT_HELD, VG_PUT_HELD, VG_PUT_HELD};
    const vg_put_outcome one_updated[3] = {VG_PUT_HELD, VG_PUT_UPDATED, VG_PUT_HELD};
    struct stat sb;
    char wal[160];

    assert_string_equal(put(f, recs, 3, stored), P1 "," P2); /* sorted, once each */
    assert_string_equal(put(f, recs, 3, held), P1 "," P2);

    snprintf(recs[1].u.health.place, sizeof(recs[1].u.health.place), "家中");
    assert_string_equal(put(f, recs, 3, one_updated), P1 "," P2);
    assert_int_equal(vg_store_get_person(f->reader, P1, &f->person), VG_OK);
    assert_int_equal(f->person.nrecs, 1);
    assert_string_equal(f->person.recs[0].u.health.place, "家中");
    assert_string_equal(f->person.recs[0].u.health.cause_code, "I21.9");
    assert_string_equal(f->person.id_number, P1);

    /* WAL mode: the log file sits beside the store while it is open */
    snprintf(wal, sizeof(wal), "%s-wal", f->db);
    assert_int_equal(stat(wal, &sb), 0);
}

static void duplicates_within_one_batch(void **state)
{
    fixture *f = *state;
    vg_record recs[5] = {cremation(P1, "HH9", "王建国"), cremation(P2, "HH1", "李强"),
                         cremation(P1, "HH9", "王建国"), cremation(P1, "HH9", "王建军"),
                         cremation(P2, "HH1", "李强")};
    const vg_put_outcome want[5] = {VG_PUT_STORED, VG_PUT_STORED, VG_PUT_HELD, VG_PUT_UPDATED,
                                    VG_PUT_HELD};

    put(f, recs, 5, want);
    assert_int_equal(count_of(f, VG_DEPT_CREMATION), 2);
    assert_int_equal(vg_store_get_person(f->reader, P1, &f->person), VG_OK);
    assert_int_equal(f->person.nrecs, 1);
    assert_string_equal(f->person.recs[0].name, "王建军"); /* the last one given wins */
}

static void touched_includes_replaced_holder(void **state)
{
    fixture *f = *state;
    vg_record orig[2] = {health(P1, "D1", VG_CERT_NORMAL, NULL, 202403011000),
                         health(P3, "D12", VG_CERT_NORMAL, NULL, 202403011000)};
    vg_record reissue = health(P2, "D2", VG_CERT_REISSUED, "D1", 202403101000);
    vg_record other = health(P2, "D3", VG_CERT_REISSUED, "D", 202403101000);
    vg_record voided = health(P4, "D4", VG_CERT_VOIDED, "D1", 202403101000);
    vg_record moved = cremation(P1, "HH1", "王建国");
    const vg_put_outcome stored[2] = {VG_PUT_STORED, VG_PUT_STORED};
    const vg_put_outcome updated[1] = {VG_PUT_UPDATED};

    assert_string_equal(put(f, orig, 2, stored), P1 "," P3);
    /* the holder of the certificate the reissue names, under another ID number */
    assert_string_equal(put(f, &reissue, 1, stored), P1 "," P2);
    /* a number that is only a prefix of held numbers names nobody */
    assert_string_equal(put(f, &other, 1, stored), P2);
    /* a voided certificate replaces nothing */
    assert_string_equal(put(f, &voided, 1, stored), P4);

    /* a record moved to another ID number touches both people */
    put(f, &moved, 1, stored);
    snprintf(moved.id_number, sizeof(moved.id_number), "%s", P4);
    assert_string_equal(put(f, &moved, 1, updated), P1 "," P4);

    /* a reissue changed to name another certificate touches the old and the new holder */
    snprintf(reissue.u.health.orig_no, sizeof(reissue.u.health.orig_no), "D12");
    assert_string_equal(put(f, &reissue, 1, updated), P1 "," P2 "," P3);
}

static void person_with_foreign_reissues(void **state)
{
    fixture *f = *state;
    vg_record recs[5] = {
        health(P1, "D1", VG_CERT_NORMAL, NULL, 202403011000),
        health(P1, "D5", VG_CERT_REISSUED, "D1", 202403051000), /* own reissue: in recs */
        health(P2, "D2", VG_CERT_REISSUED, "D1", 202403101000), /* foreign reissue */
        health(P3, "D3", VG_CERT_VOIDED, "D1", 202403101000),   /* not a reissue */
        disability(P1),
    };
    const vg_put_outcome want[5] = {VG_PUT_STORED, VG_PUT_STORED, VG_PUT_STORED, VG_PUT_STORED,
                                    VG_PUT_STORED};
    vg_person_status st;
    vg_record_role roles[3];

    put(f, recs, 5, want);
    assert_int_equal(vg_store_get_person(f->reader, P1, &f->person), VG_OK);
    assert_int_equal(f->person.nrecs, 3);
    assert_int_equal(f->person.nreissues, 1);
    assert_string_equal(f->person.reissues[0].id_number, P2);
    assert_string_equal(f->person.reissues[0].u.health.certificate_no, "D2");

    vg_status_derive(&f->person, "王建国", 20261130, &st, roles);
    assert_int_equal(st.death_status, VG_DEATH_REPORTED);
    for (size_t i = 0; i < 3; i++) {
        const vg_record *r = &f->person.recs[i];

        if (r->dept == VG_DEPT_HEALTH)
            assert_int_equal(roles[i], strcmp(r->u.health.certificate_no, "D1") == 0
                                           ? VG_ROLE_REPLACED
                                           : VG_ROLE_LIVE_DEATH);
        else
            assert_int_equal(roles[i], VG_ROLE_CERTIFICATE);
    }

    /* the buffers are reused for the next person */
    assert_int_equal(vg_store_get_person(f->reader, P2, &f->person), VG_OK);
    assert_int_equal(f->person.nrecs, 1);
    assert_int_equal(f->person.nreissues, 0);
    assert_int_equal(vg_store_get_person(f->reader, "110101199001010010", &f->person), VG_OK);
    assert_int_equal(f->person.nrecs, 0);
    assert_int_equal(f->person.nreissues, 0);
}

static void reopen_keeps_data(void **state)
{
    fixture *f = *state;
    vg_record recs[6] = {cremation(P1, "HH1", "王建国"),
                         cremation(P2, "HH2", "李强"),
                         health(P1, "D1", VG_CERT_NORMAL, NULL, 202403011000),
                         dereg(P1, 20240320, VG_DEREG_DEATH),
                         dereg(P3, 20200101, VG_DEREG_OTHER),
                         disability(P4)};
    const vg_put_outcome want[6] = {VG_PUT_STORED, VG_PUT_STORED, VG_PUT_STORED,
                                    VG_PUT_STORED, VG_PUT_STORED, VG_PUT_STORED};
    const vg_put_outcome held[6] = {VG_PUT_HELD, VG_PUT_HELD, VG_PUT_HELD,
                                    VG_PUT_HELD, VG_PUT_HELD, VG_PUT_HELD};

    put(f, recs, 6, want);
    close_store(f);
    open_store(f);
    assert_int_equal(count_of(f, VG_DEPT_CREMATION), 2);
    assert_int_equal(count_of(f, VG_DEPT_HEALTH), 1);
    assert_int_equal(count_of(f, VG_DEPT_HOUSEHOLD), 2);
    assert_int_equal(count_of(f, VG_DEPT_DISABILITY), 1);
    assert_int_equal(vg_store_get_person(f->reader, P1, &f->person), VG_OK);
    assert_int_equal(f->person.nrecs, 3);
    assert_memory_equal(&f->person.recs[0], &recs[0], sizeof(vg_record));
    put(f, recs, 6, held);
}

/* Writes the 4-byte big-endian user_version field of the SQLite file header. */
static void set_user_version(const char *db, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    FILE *fp = fopen(db, "r+b");

    assert_non_null(fp);
    assert_int_equal(fseek(fp, 60, SEEK_SET), 0);
    assert_int_equal(fwrite(b, 1, 4, fp), 4);
    assert_int_equal(fclose(fp), 0);
}

static void refuses_newer_schema_and_foreign_files(void **state)
{
    fixture *f = *state;
    vg_store *s = NULL;
    char why[256] = "", wal[160];
    FILE *fp;

    close_store(f);
    snprintf(wal, sizeof(wal), "%s-wal", f->db);
    assert_int_equal(access(wal, F_OK), -1); /* closing checkpointed the log */

    set_user_version(f->db, 2);
    assert_int_equal(vg_store_open(f->dir, &s, why, sizeof(why)), VG_ERR_IO);
    assert_null(s);
    assert_non_null(strstr(why, "newer"));
    set_user_version(f->db, 1);
    open_store(f);
    close_store(f);

    /* a file that is no database */
    fp = fopen(f->db, "wb");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("not a database at all ", fp);
    fclose(fp);
    why[0] = '\0';
    assert_int_equal(vg_store_open(f->dir, &s, why, sizeof(why)), VG_ERR_IO);
    assert_null(s);
    assert_true(why[0] != '\0');

    /* the directory named is a file */
    why[0] = '\0';
    assert_int_equal(vg_store_open(f->db, &s, why, sizeof(why)), VG_ERR_IO);
    assert_non_null(strstr(why, "not a directory"));
    unlink(f->db);
    open_store(f);
}

/* A batch the disk cannot take leaves nothing behind, and the store goes on working. */
static void failing_put_rolls_back(void **state)
{
    enum { N = 3000 };
    fixture *f = *state;
    vg_record *batch = calloc(N, sizeof(*batch));
    vg_put_outcome *out = calloc(N, sizeof(*out));
    vg_record first = cremation(P1, "HH0", "王建国");
    const vg_put_outcome stored[1] = {VG_PUT_STORED};
    struct rlimit old, lim;
    struct stat db, wal;
    char walpath[160], id[VG_ID_LEN + 1];

    assert_non_null(batch);
    assert_non_null(out);
    put(f, &first, 1, stored);
    batch[0] = first;
    snprintf(batch[0].name, sizeof(batch[0].name), "王建军"); /* an update in the batch */
    for (unsigned i = 1; i < N; i++) {
        bulk_id(id, i);
        batch[i] = cremation(id, "", "王建国");
        snprintf(batch[i].key, sizeof(batch[i].key), "HHB%06u", i);
    }

    /* No file of the store may grow: the commit of ~1 MB must fail. */
    snprintf(walpath, sizeof(walpath), "%s-wal", f->db);
    assert_int_equal(stat(f->db, &db), 0);
    assert_int_equal(stat(walpath, &wal), 0);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)(db.st_size > wal.st_size ? db.st_size : wal.st_size);
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    assert_int_equal(vg_store_put(f->store, batch, N, out, NULL, NULL), VG_ERR_IO);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);

    assert_int_equal(count_of(f, VG_DEPT_CREMATION), 1);
    assert_int_equal(vg_store_get_person(f->reader, P1, &f->person), VG_OK);
    assert_int_equal(f->person.nrecs, 1);
    assert_string_equal(f->person.recs[0].name, "王建国");

    assert_int_equal(vg_store_put(f->store, batch, N, out, NULL, NULL), VG_OK);
    assert_int_equal(out[0], VG_PUT_UPDATED);
    assert_int_equal(out[N - 1], VG_PUT_STORED);
    assert_int_equal(count_of(f, VG_DEPT_CREMATION), N);
    free(batch);
    free(out);
}

static void refuses_bad_batches(void **state)
{
    fixture *f = *state;
    vg_record recs[2] = {cremation(P1, "HH1", "王建国"), cremation(P2, "HH2", "李强")};
    vg_put_outcome out[2];
    char(*touched)[VG_ID_LEN + 1] = (void *)1;
    size_t ntouched = 5;

    recs[1].dept = VG_DEPT_COUNT;
    assert_int_equal(vg_store_put(f->store, recs, 2, out, NULL, NULL), VG_ERR_INVALID);
    recs[1].dept = VG_DEPT_CREMATION;
    recs[1].key[0] = '\0';
    assert_int_equal(vg_store_put(f->store, recs, 2, out, NULL, NULL), VG_ERR_INVALID);
    assert_int_equal(count_of(f, VG_DEPT_CREMATION), 0);

    assert_int_equal(vg_store_put(f->store, recs, 0, out, &touched, &ntouched), VG_OK);
    assert_null(touched);
    assert_int_equal(ntouched, 0);
    vg_store_close(NULL);
    vg_store_reader_close(NULL);
    vg_person_records_free(NULL);
}

/* ---- several threads ---------------------------------------------------------------------- */

enum { WRITERS = 2, BATCHES = 20, PER_BATCH = 50 };

typedef struct worker {
    fixture *f;
    unsigned base;
    vg_err err;
} worker;

static void *write_batches(void *arg)
{
    worker *w = arg;
    vg_record recs[PER_BATCH];
    vg_put_outcome out[PER_BATCH];
    char id[VG_ID_LEN + 1], no[32];

    for (unsigned b = 0; b < BATCHES && w->err == VG_OK; b++) {
        for (unsigned i = 0; i < PER_BATCH; i++) {
            unsigned n = w->base + b * PER_BATCH + i;

            bulk_id(id, n);
            snprintf(no, sizeof(no), "HH%08u", n);
            recs[i] = cremation(id, no, "王建国");
        }
        w->err = vg_store_put(w->f->store, recs, PER_BATCH, out, NULL, NULL);
        for (unsigned i = 0; i < PER_BATCH && w->err == VG_OK; i++)
            if (out[i] != VG_PUT_STORED)
                w->err = VG_ERR_INVALID;
    }
    return NULL;
}

static void *read_people(void *arg)
{
    worker *w = arg;
    vg_store_reader *reader = NULL;
    vg_person_records p = {0};
    char id[VG_ID_LEN + 1];

    w->err = vg_store_reader_open(w->f->store, &reader);
    for (unsigned i = 0; i < 2000 && w->err == VG_OK; i++) {
        bulk_id(id, i % (WRITERS * 1000000));
        w->err = vg_store_get_person(reader, id, &p);
        if (w->err == VG_OK && p.nrecs > 1)
            w->err = VG_ERR_INVALID;
    }
    vg_person_records_free(&p);
    vg_store_reader_close(reader);
    return NULL;
}

static void concurrent_writers_and_readers(void **state)
{
    fixture *f = *state;
    pthread_t t[WRITERS + 1];
    worker w[WRITERS + 1];

    for (unsigned i = 0; i <= WRITERS; i++) {
        w[i] = (worker){f, i * 1000000, VG_OK};
        assert_int_equal(
            pthread_create(&t[i], NULL, i < WRITERS ? write_batches : read_people, &w[i]), 0);
    }
    for (unsigned i = 0; i <= WRITERS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].err, VG_OK);
    }
    assert_int_equal(count_of(f, VG_DEPT_CREMATION), WRITERS * BATCHES * PER_BATCH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(stored_held_updated, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicates_within_one_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(touched_includes_replaced_holder, setup, teardown),
        cmocka_unit_test_setup_teardown(person_with_foreign_reissues, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_newer_schema_and_foreign_files, setup, teardown),
        cmocka_unit_test_setup_teardown(failing_put_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_bad_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_writers_and_readers, setup, teardown),
    };

    return cmocka_run_group_tests(tests, 0, NULL);
}
