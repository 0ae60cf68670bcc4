/* test_status.c - the unified person status rules of data/README.md, row by row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vg_status.h"

#define ID       "450203195403120017"
#define OTHER_ID "450204196011230024"
#define AS_OF    20261130
#define MAXRECS  16

/* ---- building records ---------------------------------------------------------------- */

static vg_record cremation(const char *no, const char *name, vg_date death, vg_date cremated)
{
    vg_record r;

    memset(&r, 0, sizeof(r));
    r.dept = VG_DEPT_CREMATION;
    snprintf(r.key, sizeof(r.key), "%s", no);
    snprintf(r.id_number, sizeof(r.id_number), "%s", ID);
    snprintf(r.name, sizeof(r.name), "%s", name);
    r.death_date = death;
    r.record_date = cremated;
    snprintf(r.u.cremation.certificate_no, sizeof(r.u.cremation.certificate_no), "%s", no);
    return r;
}

/* A death certificate; the key is the number and the issue time, as the adapter makes it. */
static vg_record health(const char *id, const char *no, vg_cert_state state, const char *orig,
                        vg_datetime issued, vg_date death, const char *name)
{
    vg_record r;
    char when[32];

    memset(&r, 0, sizeof(r));
    r.dept = VG_DEPT_HEALTH;
    vg_datetime_format(issued, when, sizeof(when));
    snprintf(r.key, sizeof(r.key), "%s|%s", no, when);
    snprintf(r.id_number, sizeof(r.id_number), "%s", id);
    snprintf(r.name, sizeof(r.name), "%s", name);
    r.death_date = death;
    r.record_date = vg_datetime_date(issued);
    snprintf(r.u.health.certificate_no, sizeof(r.u.health.certificate_no), "%s", no);
    snprintf(r.u.health.orig_no, sizeof(r.u.health.orig_no), "%s", orig ? orig : "");
    r.u.health.state = state;
    r.u.health.issued_at = issued;
    return r;
}

static vg_record dereg(vg_date when, vg_dereg_reason reason, vg_date death, const char *name)
{
    vg_record r;
    char day[16];

    memset(&r, 0, sizeof(r));
    r.dept = VG_DEPT_HOUSEHOLD;
    vg_date_format(when, day, sizeof(day));
    snprintf(r.key, sizeof(r.key), "%s|%s", ID, day);
    snprintf(r.id_number, sizeof(r.id_number), "%s", ID);
    snprintf(r.name, sizeof(r.name), "%s", name);
    r.death_date = death;
    r.record_date = when;
    r.u.household.reason = reason;
    return r;
}

static vg_record disability(int category, vg_date issued, vg_date until, int cancelled,
                            const char *name)
{
    vg_record r;

    memset(&r, 0, sizeof(r));
    r.dept = VG_DEPT_DISABILITY;
    snprintf(r.key, sizeof(r.key), "%s%d4", ID, category);
    snprintf(r.id_number, sizeof(r.id_number), "%s", ID);
    snprintf(r.name, sizeof(r.name), "%s", name);
    r.record_date = issued;
    snprintf(r.u.disability.certificate_no, sizeof(r.u.disability.certificate_no), "%s", r.key);
    r.u.disability.category = category;
    r.u.disability.level = 4;
    r.u.disability.valid_until = until;
    r.u.disability.cancelled = cancelled;
    return r;
}

/* One person's records, held in fixed arrays. */
typedef struct person {
    vg_person_records p;
    vg_record recs[MAXRECS];
    vg_record reissues[MAXRECS];
    vg_record_role roles[MAXRECS];
    vg_person_status st;
} person;

static void person_init(person *x)
{
    memset(x, 0, sizeof(*x));
    snprintf(x->p.id_number, sizeof(x->p.id_number), "%s", ID);
    x->p.recs = x->recs;
    x->p.reissues = x->reissues;
}

static void add(person *x, vg_record r)
{
    assert_true(x->p.nrecs < MAXRECS);
    x->recs[x->p.nrecs++] = r;
}

static void add_reissue(person *x, vg_record r)
{
    assert_true(x->p.nreissues < MAXRECS);
    x->reissues[x->p.nreissues++] = r;
}

static void derive(person *x, const char *caller_name)
{
    for (size_t i = 0; i < MAXRECS; i++)
        x->roles[i] = (vg_record_role)-1;
    vg_status_derive(&x->p, caller_name, AS_OF, &x->st, x->roles);
}

static const char *sources(const person *x)
{
    static char buf[64];

    vg_death_sources_format(x->st.death_sources, buf, sizeof(buf));
    return buf;
}

#define WANG     "王建国"
#define DOT_NAME "阿依古丽·买买提"

/* ---- death status ---------------------------------------------------------------------- */

static void no_record_when_nothing_held(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    derive(&x, WANG);
    assert_int_equal(x.st.death_status, VG_DEATH_NO_RECORD);
    assert_int_equal(x.st.date_of_death, VG_DATE_NONE);
    assert_int_equal(x.st.death_sources, 0);
    assert_string_equal(sources(&x), "");
    assert_int_equal(x.st.name_check, VG_NAME_NOT_CHECKED);
    assert_int_equal(x.st.has_deregistration, 0);
    assert_int_equal(x.st.certificate, VG_CERTIFICATE_NONE);
}

static void one_source_is_reported(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, cremation("HH4502032024000001", WANG, 20240301, 20240305));
    derive(&x, WANG);
    assert_int_equal(x.st.death_status, VG_DEATH_REPORTED);
    assert_int_equal(x.st.death_sources, 1u << VG_DEPT_CREMATION);
    assert_string_equal(sources(&x), "cremation");
    assert_int_equal(x.st.date_of_death, 20240301);
    assert_int_equal(x.roles[0], VG_ROLE_LIVE_DEATH);
}

static void two_records_of_one_source_are_still_reported(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, cremation("HH4502032024000001", WANG, 20240301, 20240305));
    add(&x, cremation("HH4502032024000002", WANG, 20240301, 20240306));
    derive(&x, WANG);
    assert_int_equal(x.st.death_status, VG_DEATH_REPORTED);
}

static void two_and_three_sources_are_confirmed(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, dereg(20240320, VG_DEREG_DEATH, 20240301, WANG));
    add(&x, health(ID, "D4502032024000001", VG_CERT_NORMAL, NULL, 202403011000, 20240301, WANG));
    derive(&x, WANG);
    assert_int_equal(x.st.death_status, VG_DEATH_CONFIRMED);
    assert_string_equal(sources(&x), "health;household");

    add(&x, cremation("HH4502032024000001", WANG, 20240301, 20240305));
    derive(&x, WANG);
    assert_int_equal(x.st.death_status, VG_DEATH_CONFIRMED);
    assert_string_equal(sources(&x), "cremation;health;household");
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(x.roles[i], VG_ROLE_LIVE_DEATH);
}

static void non_death_deregistration_is_no_evidence(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, dereg(20210501, VG_DEREG_EMIGRATION, VG_DATE_NONE, WANG));
    derive(&x, WANG);
    assert_int_equal(x.st.death_status, VG_DEATH_NO_RECORD);
    assert_int_equal(x.roles[0], VG_ROLE_NOT_DEATH);
    assert_int_equal(x.st.has_deregistration, 1);
    assert_int_equal(x.st.deregistration, VG_DEREG_EMIGRATION);
    assert_int_equal(x.st.name_check, VG_NAME_MATCH);
}

static void voided_certificate_never_counts(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, health(ID, "D4502032024000001", VG_CERT_VOIDED, NULL, 202403011000, 20240201, WANG));
    derive(&x, WANG);
    assert_int_equal(x.st.death_status, VG_DEATH_NO_RECORD);
    assert_int_equal(x.st.date_of_death, VG_DATE_NONE);
    assert_int_equal(x.roles[0], VG_ROLE_VOIDED);
    assert_int_equal(x.st.name_check, VG_NAME_NOT_CHECKED); /* nothing held */

    /* beside a deregistration, the voided certificate's date is not used either */
    add(&x, dereg(20240320, VG_DEREG_DEATH, 20240301, WANG));
    derive(&x, WANG);
    assert_int_equal(x.st.death_status, VG_DEATH_REPORTED);
    assert_string_equal(sources(&x), "household");
    assert_int_equal(x.st.date_of_death, 20240301);
}

static void voided_reissue_replaces_nothing(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, health(ID, "D1", VG_CERT_NORMAL, NULL, 202403011000, 20240301, WANG));
    add(&x, health(ID, "D2", VG_CERT_VOIDED, "D1", 202403051000, 20240302, WANG));
    derive(&x, WANG);
    assert_int_equal(x.roles[0], VG_ROLE_LIVE_DEATH);
    assert_int_equal(x.roles[1], VG_ROLE_VOIDED);
    assert_int_equal(x.st.date_of_death, 20240301);
}

/* ---- reissues ------------------------------------------------------------------------- */

static void reissue_with_new_number_replaces_original(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, health(ID, "D4502032024000001", VG_CERT_NORMAL, NULL, 202403011000, 20240210, WANG));
    add(&x, health(ID, "D4502032024000002", VG_CERT_REISSUED, "D4502032024000001", 202403151030,
                   20240301, WANG));
    derive(&x, WANG);
    assert_int_equal(x.roles[0], VG_ROLE_REPLACED);
    assert_int_equal(x.roles[1], VG_ROLE_LIVE_DEATH);
    assert_int_equal(x.st.death_status, VG_DEATH_REPORTED);
    assert_int_equal(x.st.date_of_death, 20240301); /* the reissue's, not the replaced one's */
}

static void voided_then_reissued_counts_once(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, health(ID, "D4502032024000001", VG_CERT_VOIDED, NULL, 202403011000, 20240210, WANG));
    add(&x, health(ID, "D4502032024000002", VG_CERT_REISSUED, "D4502032024000001", 202403151030,
                   20240301, WANG));
    derive(&x, WANG);
    assert_int_equal(x.roles[0], VG_ROLE_VOIDED);
    assert_int_equal(x.roles[1], VG_ROLE_LIVE_DEATH);
    assert_int_equal(x.st.death_status, VG_DEATH_REPORTED);
    assert_int_equal(x.st.date_of_death, 20240301);
}

/* The 2026 form numbers a certificate by the ID number: void and reissue share it. */
static void form_2026_shared_number_ordered_by_issue_time(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, health(ID, ID, VG_CERT_NORMAL, NULL, 202608011000, 20260720, WANG));
    add(&x, health(ID, ID, VG_CERT_REISSUED, ID, 202608101400, 20260730, WANG));
    derive(&x, WANG);
    assert_int_equal(x.roles[0], VG_ROLE_REPLACED);
    assert_int_equal(x.roles[1], VG_ROLE_LIVE_DEATH); /* never replaced by itself */
    assert_int_equal(x.st.date_of_death, 20260730);

    /* a second reissue of the same number replaces the first */
    add(&x, health(ID, ID, VG_CERT_REISSUED, ID, 202608201400, 20260731, WANG));
    derive(&x, WANG);
    assert_int_equal(x.roles[0], VG_ROLE_REPLACED);
    assert_int_equal(x.roles[1], VG_ROLE_REPLACED);
    assert_int_equal(x.roles[2], VG_ROLE_LIVE_DEATH);
    assert_int_equal(x.st.date_of_death, 20260731);
    assert_int_equal(x.st.death_status, VG_DEATH_REPORTED);
}

static void form_2026_void_and_reissue(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, health(ID, ID, VG_CERT_REISSUED, ID, 202608101400, 20260730, WANG));
    add(&x, health(ID, ID, VG_CERT_VOIDED, NULL, 202608011000, 20260701, WANG));
    derive(&x, WANG);
    assert_int_equal(x.roles[0], VG_ROLE_LIVE_DEATH);
    assert_int_equal(x.roles[1], VG_ROLE_VOIDED);
    assert_int_equal(x.st.date_of_death, 20260730);
}

/* A reissue issued before the certificate it names replaces nothing. */
static void earlier_reissue_does_not_replace(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, health(ID, ID, VG_CERT_NORMAL, NULL, 202608101000, 20260720, WANG));
    add(&x, health(ID, ID, VG_CERT_REISSUED, ID, 202608011000, 20260719, WANG));
    derive(&x, WANG);
    assert_int_equal(x.roles[0], VG_ROLE_LIVE_DEATH);
    assert_int_equal(x.roles[1], VG_ROLE_LIVE_DEATH);
    /* both live: the latest issued gives the date */
    assert_int_equal(x.st.date_of_death, 20260720);
}

/* A reissue held under another ID number never replaces this person's certificate: a
 * mistyped 原证编号 must not make a dead person look alive. */
static void foreign_reissue_does_not_replace(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, health(ID, "D1", VG_CERT_NORMAL, NULL, 202403011000, 20240301, "李强"));
    add_reissue(&x, health(OTHER_ID, "D2", VG_CERT_REISSUED, "D1", 202403101000, 20240301, "李强"));
    derive(&x, "李强");
    assert_int_equal(x.roles[0], VG_ROLE_LIVE_DEATH);
    assert_int_equal(x.st.death_status, VG_DEATH_REPORTED);
    assert_int_equal(x.st.date_of_death, 20240301);
    assert_int_equal(x.st.name_check, VG_NAME_MATCH);

    /* the same reissue under this person's own number does replace it */
    memcpy(x.reissues[0].id_number, ID, VG_ID_LEN + 1);
    derive(&x, "李强");
    assert_int_equal(x.roles[0], VG_ROLE_REPLACED);
    assert_int_equal(x.st.death_status, VG_DEATH_NO_RECORD);
}

/* Every order of the same records gives the same answer and the same roles. */
static void check_permutation(const person *base, const size_t *perm, const person *want)
{
    person x;

    person_init(&x);
    for (size_t i = 0; i < base->p.nrecs; i++)
        add(&x, base->recs[perm[i]]);
    for (size_t i = 0; i < base->p.nreissues; i++)
        add_reissue(&x, base->reissues[base->p.nreissues - 1 - i]);
    derive(&x, "阿依古丽•买买提");
    assert_memory_equal(&x.st, &want->st, sizeof(x.st));
    for (size_t i = 0; i < base->p.nrecs; i++)
        assert_int_equal(x.roles[i], want->roles[perm[i]]);
}

static void order_never_changes_the_answer(void **state)
{
    person base;
    size_t perm[6] = {0, 1, 2, 3, 4, 5}, c[6] = {0};
    size_t n, i = 1, count = 1;

    (void)state;
    person_init(&base);
    /* the reissue comes first, as in a shuffled export */
    add(&base, health(ID, "D2", VG_CERT_REISSUED, "D1", 202403151030, 20240301, DOT_NAME));
    add(&base, health(ID, "D1", VG_CERT_NORMAL, NULL, 202403011000, 20240210, DOT_NAME));
    add(&base, cremation("HH2", DOT_NAME, 20240302, 20240306));
    add(&base, cremation("HH1", DOT_NAME, 20240228, 20240306));
    add(&base, disability(4, 20200101, 20300101, 0, DOT_NAME));
    add(&base, disability(7, 20200101, 20300101, 1, DOT_NAME));
    add_reissue(&base,
                health(OTHER_ID, "D9", VG_CERT_REISSUED, "D1", 202403020900, 20240301, "李强"));
    add_reissue(&base,
                health(OTHER_ID, "D8", VG_CERT_VOIDED, "D2", 202404020900, 20240301, "李强"));
    derive(&base, "阿依古丽•买买提");
    assert_int_equal(base.st.death_status, VG_DEATH_CONFIRMED);
    assert_int_equal(base.st.date_of_death, 20240301);
    assert_int_equal(base.st.name_check, VG_NAME_MATCH);
    assert_int_equal(base.roles[0], VG_ROLE_LIVE_DEATH);
    assert_int_equal(base.roles[1], VG_ROLE_REPLACED);
    /* same issue day: the larger key decides, whatever the order */
    assert_int_equal(base.roles[4], VG_ROLE_SUPERSEDED);
    assert_int_equal(base.roles[5], VG_ROLE_CERTIFICATE);
    assert_int_equal(base.st.certificate, VG_CERTIFICATE_CANCELLED);

    /* Heap's algorithm: all 720 orders */
    n = base.p.nrecs;
    check_permutation(&base, perm, &base);
    while (i < n) {
        if (c[i] < i) {
            size_t j = (i % 2 == 0) ? 0 : c[i], t = perm[j];

            perm[j] = perm[i];
            perm[i] = t;
            check_permutation(&base, perm, &base);
            count++;
            c[i]++;
            i = 1;
        } else {
            c[i] = 0;
            i++;
        }
    }
    assert_int_equal(count, 720);
}

/* ---- date of death ---------------------------------------------------------------------- */

static void date_precedence(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, dereg(20240401, VG_DEREG_DEATH, 20240303, WANG));
    derive(&x, WANG);
    assert_int_equal(x.st.date_of_death, 20240303);

    add(&x, cremation("HH1", WANG, 20240302, 20240306));
    derive(&x, WANG);
    assert_int_equal(x.st.date_of_death, 20240302); /* cremation over household */

    add(&x, health(ID, "D1", VG_CERT_NORMAL, NULL, 202403011000, 20240301, WANG));
    derive(&x, WANG);
    assert_int_equal(x.st.date_of_death, 20240301); /* health over both */
}

static void household_death_without_date(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, dereg(20240401, VG_DEREG_DEATH, VG_DATE_NONE, WANG));
    derive(&x, WANG);
    assert_int_equal(x.st.death_status, VG_DEATH_REPORTED); /* still evidence */
    assert_int_equal(x.st.date_of_death, VG_DATE_NONE);

    add(&x, cremation("HH1", WANG, 20240302, 20240306));
    derive(&x, WANG);
    assert_int_equal(x.st.death_status, VG_DEATH_CONFIRMED);
    assert_int_equal(x.st.date_of_death, 20240302);
}

static void several_records_latest_wins(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    /* two live certificates: the later issued one with a date */
    add(&x, health(ID, "D1", VG_CERT_NORMAL, NULL, 202403011000, 20240301, WANG));
    add(&x, health(ID, "D2", VG_CERT_NORMAL, NULL, 202403091000, 20240303, WANG));
    add(&x, health(ID, "D3", VG_CERT_NORMAL, NULL, 202403201000, VG_DATE_NONE, WANG));
    derive(&x, WANG);
    assert_int_equal(x.st.date_of_death, 20240303);

    /* two cremation records: the later cremation; on one day the larger key */
    person_init(&x);
    add(&x, cremation("HH7", WANG, 20240305, 20240310));
    add(&x, cremation("HH9", WANG, 20240301, 20240304));
    derive(&x, WANG);
    assert_int_equal(x.st.date_of_death, 20240305);
    x.recs[1].record_date = 20240310;
    derive(&x, WANG);
    assert_int_equal(x.st.date_of_death, 20240301);

    /* two death deregistrations: the later 注销日期 */
    person_init(&x);
    add(&x, dereg(20240501, VG_DEREG_DEATH, 20240308, WANG));
    add(&x, dereg(20240401, VG_DEREG_DEATH, 20240307, WANG));
    derive(&x, WANG);
    assert_int_equal(x.st.date_of_death, 20240308);
}

/* ---- name check ------------------------------------------------------------------------ */

static void name_not_checked(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, cremation("HH1", WANG, 20240302, 20240306));
    derive(&x, NULL);
    assert_int_equal(x.st.name_check, VG_NAME_NOT_CHECKED);
    derive(&x, "");
    assert_int_equal(x.st.name_check, VG_NAME_NOT_CHECKED);

    person_init(&x);
    derive(&x, WANG); /* nobody holds a record */
    assert_int_equal(x.st.name_check, VG_NAME_NOT_CHECKED);
}

static void name_match_and_mismatch(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, cremation("HH1", WANG, 20240302, 20240306));
    derive(&x, WANG);
    assert_int_equal(x.st.name_check, VG_NAME_MATCH);
    derive(&x, " " WANG "\xE3\x80\x80"); /* ASCII and ideographic spaces trimmed */
    assert_int_equal(x.st.name_check, VG_NAME_MATCH);
    derive(&x, "王建军");
    assert_int_equal(x.st.name_check, VG_NAME_MISMATCH);
}

static void name_middle_dots_compare_equal(void **state)
{
    static const char *const forms[] = {"阿依古丽·买买提", "阿依古丽•买买提", "阿依古丽・买买提",
                                        "阿依古丽．买买提", "阿依古丽‧买买提"};
    person x;

    (void)state;
    for (size_t i = 0; i < 5; i++) {
        person_init(&x);
        add(&x, cremation("HH1", forms[i], 20240302, 20240306));
        for (size_t j = 0; j < 5; j++) {
            derive(&x, forms[j]);
            assert_int_equal(x.st.name_check, VG_NAME_MATCH);
        }
        derive(&x, "阿依古丽买买提");
        assert_int_equal(x.st.name_check, VG_NAME_MISMATCH);
    }
}

/* A clerk typed a living person's number on someone else's death certificate. */
static void live_death_record_with_other_name_is_mismatch(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, disability(4, 20200101, 20300101, 0, WANG));
    add(&x, health(ID, "D1", VG_CERT_NORMAL, NULL, 202403011000, 20240301, "李秀英"));
    derive(&x, WANG);
    assert_int_equal(x.st.name_check, VG_NAME_MISMATCH);
    /* the live death record's name: one held name matching is enough for the rest */
    derive(&x, "李秀英");
    assert_int_equal(x.st.name_check, VG_NAME_MATCH);
}

static void name_matching_no_held_record_is_mismatch(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, disability(4, 20200101, 20300101, 0, WANG));
    add(&x, dereg(20210501, VG_DEREG_MILITARY, VG_DATE_NONE, WANG));
    derive(&x, "王建军");
    assert_int_equal(x.st.name_check, VG_NAME_MISMATCH);
    derive(&x, WANG);
    assert_int_equal(x.st.name_check, VG_NAME_MATCH);
}

static void voided_or_replaced_names_are_not_held(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, health(ID, "D1", VG_CERT_VOIDED, NULL, 202403011000, 20240301, "李秀英"));
    add(&x, health(ID, "D2", VG_CERT_REISSUED, "D1", 202403101000, 20240301, WANG));
    derive(&x, WANG);
    assert_int_equal(x.st.name_check, VG_NAME_MATCH);
    derive(&x, "李秀英"); /* the live reissue carries another name */
    assert_int_equal(x.st.name_check, VG_NAME_MISMATCH);
}

/* ---- household deregistration ------------------------------------------------------------ */

static void household_reasons(void **state)
{
    static const vg_dereg_reason reasons[] = {
        VG_DEREG_DEATH, VG_DEREG_EMIGRATION, VG_DEREG_MILITARY, VG_DEREG_DUPLICATE, VG_DEREG_OTHER};
    static const char *const words[] = {"death", "emigration", "military", "duplicate", "other"};
    person x;

    (void)state;
    for (size_t i = 0; i < 5; i++) {
        person_init(&x);
        add(&x, dereg(20220101, reasons[i], VG_DATE_NONE, WANG));
        derive(&x, WANG);
        assert_int_equal(x.st.has_deregistration, 1);
        assert_int_equal(x.st.deregistration, reasons[i]);
        assert_string_equal(vg_dereg_reason_word(x.st.deregistration), words[i]);
        assert_int_equal(x.st.death_status, i == 0 ? VG_DEATH_REPORTED : VG_DEATH_NO_RECORD);
    }
}

static void household_latest_wins(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, dereg(20230601, VG_DEREG_DEATH, 20230520, WANG));
    add(&x, dereg(20200101, VG_DEREG_EMIGRATION, VG_DATE_NONE, WANG));
    derive(&x, WANG);
    assert_int_equal(x.st.deregistration, VG_DEREG_DEATH);

    x.recs[1].record_date = 20240101;
    derive(&x, WANG);
    assert_int_equal(x.st.deregistration, VG_DEREG_EMIGRATION);

    /* the same day: the answer does not depend on which came first */
    x.recs[1].record_date = 20230601;
    derive(&x, WANG);
    assert_int_equal(x.st.deregistration, VG_DEREG_DEATH);
    {
        vg_record t = x.recs[0];

        x.recs[0] = x.recs[1];
        x.recs[1] = t;
    }
    derive(&x, WANG);
    assert_int_equal(x.st.deregistration, VG_DEREG_DEATH);
}

/* ---- disability certificate -------------------------------------------------------------- */

static void certificate_states(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, disability(4, 20160301, 20261201, 0, WANG));
    derive(&x, WANG);
    assert_int_equal(x.st.certificate, VG_CERTIFICATE_VALID);
    assert_int_equal(x.roles[0], VG_ROLE_CERTIFICATE);

    x.recs[0].u.disability.valid_until = AS_OF; /* valid through its last day */
    derive(&x, WANG);
    assert_int_equal(x.st.certificate, VG_CERTIFICATE_VALID);

    x.recs[0].u.disability.valid_until = AS_OF - 1; /* 2026-11-29, before the query day */
    derive(&x, WANG);
    assert_int_equal(x.st.certificate, VG_CERTIFICATE_EXPIRED);

    x.recs[0].u.disability.cancelled = 1; /* cancelled wins over expired */
    derive(&x, WANG);
    assert_int_equal(x.st.certificate, VG_CERTIFICATE_CANCELLED);
    x.recs[0].u.disability.valid_until = 20300101;
    derive(&x, WANG);
    assert_int_equal(x.st.certificate, VG_CERTIFICATE_CANCELLED);
}

static void latest_certificate_is_used(void **state)
{
    person x;

    (void)state;
    person_init(&x);
    add(&x, disability(4, 20220301, 20320301, 0, WANG));
    add(&x, disability(7, 20120301, 20220301, 1, WANG));
    derive(&x, WANG);
    assert_int_equal(x.st.certificate, VG_CERTIFICATE_VALID);
    assert_int_equal(x.roles[0], VG_ROLE_CERTIFICATE);
    assert_int_equal(x.roles[1], VG_ROLE_SUPERSEDED);

    x.recs[1].record_date = 20240101;
    derive(&x, WANG);
    assert_int_equal(x.st.certificate, VG_CERTIFICATE_CANCELLED);
    assert_int_equal(x.roles[0], VG_ROLE_SUPERSEDED);
    assert_int_equal(x.roles[1], VG_ROLE_CERTIFICATE);
}

/* ---- words ---------------------------------------------------------------------------- */

static void words(void **state)
{
    char buf[64];

    (void)state;
    assert_string_equal(vg_death_status_word(VG_DEATH_NO_RECORD), "NO_RECORD");
    assert_string_equal(vg_death_status_word(VG_DEATH_REPORTED), "REPORTED");
    assert_string_equal(vg_death_status_word(VG_DEATH_CONFIRMED), "CONFIRMED");
    assert_string_equal(vg_death_status_word(VG_DEATH_INVALID_ID), "INVALID_ID");
    assert_string_equal(vg_name_check_word(VG_NAME_NOT_CHECKED), "NOT_CHECKED");
    assert_string_equal(vg_name_check_word(VG_NAME_MATCH), "MATCH");
    assert_string_equal(vg_name_check_word(VG_NAME_MISMATCH), "MISMATCH");
    assert_string_equal(vg_certificate_word(VG_CERTIFICATE_NONE), "");
    assert_string_equal(vg_certificate_word(VG_CERTIFICATE_VALID), "VALID");
    assert_string_equal(vg_certificate_word(VG_CERTIFICATE_EXPIRED), "EXPIRED");
    assert_string_equal(vg_certificate_word(VG_CERTIFICATE_CANCELLED), "CANCELLED");

    vg_death_sources_format((1u << VG_DEPT_HOUSEHOLD) | (1u << VG_DEPT_CREMATION), buf,
                            sizeof(buf));
    assert_string_equal(buf, "cremation;household");
    vg_death_sources_format(1u << VG_DEPT_HEALTH, buf, sizeof(buf));
    assert_string_equal(buf, "health");
    vg_death_sources_format(0, buf, sizeof(buf));
    assert_string_equal(buf, "");
    /* a buffer too small never holds a cut-off name */
    vg_death_sources_format((1u << VG_DEPT_CREMATION) | (1u << VG_DEPT_HEALTH), buf, 14);
    assert_string_equal(buf, "cremation");
}

static void null_records_give_no_record(void **state)
{
    vg_person_status st;

    (void)state;
    memset(&st, 0xff, sizeof(st));
    vg_status_derive(NULL, WANG, AS_OF, &st, NULL);
    assert_int_equal(st.death_status, VG_DEATH_NO_RECORD);
    assert_int_equal(st.name_check, VG_NAME_NOT_CHECKED);
    assert_int_equal(st.certificate, VG_CERTIFICATE_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_record_when_nothing_held),
        cmocka_unit_test(one_source_is_reported),
        cmocka_unit_test(two_records_of_one_source_are_still_reported),
        cmocka_unit_test(two_and_three_sources_are_confirmed),
        cmocka_unit_test(non_death_deregistration_is_no_evidence),
        cmocka_unit_test(voided_certificate_never_counts),
        cmocka_unit_test(voided_reissue_replaces_nothing),
        cmocka_unit_test(reissue_with_new_number_replaces_original),
        cmocka_unit_test(voided_then_reissued_counts_once),
        cmocka_unit_test(form_2026_shared_number_ordered_by_issue_time),
        cmocka_unit_test(form_2026_void_and_reissue),
        cmocka_unit_test(earlier_reissue_does_not_replace),
        cmocka_unit_test(foreign_reissue_does_not_replace),
        cmocka_unit_test(order_never_changes_the_answer),
        cmocka_unit_test(date_precedence),
        cmocka_unit_test(household_death_without_date),
        cmocka_unit_test(several_records_latest_wins),
        cmocka_unit_test(name_not_checked),
        cmocka_unit_test(name_match_and_mismatch),
        cmocka_unit_test(name_middle_dots_compare_equal),
        cmocka_unit_test(live_death_record_with_other_name_is_mismatch),
        cmocka_unit_test(name_matching_no_held_record_is_mismatch),
        cmocka_unit_test(voided_or_replaced_names_are_not_held),
        cmocka_unit_test(household_reasons),
        cmocka_unit_test(household_latest_wins),
        cmocka_unit_test(certificate_states),
        cmocka_unit_test(latest_certificate_is_used),
        cmocka_unit_test(words),
        cmocka_unit_test(null_records_give_no_record),
    };

    return cmocka_run_group_tests(tests, 0, NULL);
}
