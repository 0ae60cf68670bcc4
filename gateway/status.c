/* status.c - the unified person status, by the rules of data/README.md.
 *
 * Every choice among several records (which date of death, which deregistration, which
 * disability certificate) is made by a total order on the records' own fields, never by
 * their position, so the order in which departments sent them never changes an answer. */
#include "vg_status.h"

#include <stdio.h>
#include <string.h>

#include "vg_normalise.h"

/* 1 when r is a reissue that replaces certificate c: a non-voided 补发 for the same person
 * naming c's number and issued after it. Under the 2026 form a voided certificate and its
 * reissue share one number, so the issue time, not the number, tells which replaces which.
 * A reissue for someone else never cancels this person's certificate: one mistyped 原证编号
 * must not make a dead person look alive. */
static int replaces(const vg_record *r, const vg_record *c)
{
    return r != c && r->dept == VG_DEPT_HEALTH && r->u.health.state == VG_CERT_REISSUED &&
           strcmp(r->id_number, c->id_number) == 0 && r->u.health.orig_no[0] &&
           strcmp(r->u.health.orig_no, c->u.health.certificate_no) == 0 &&
           r->u.health.issued_at > c->u.health.issued_at;
}

static int is_replaced(const vg_person_records *p, const vg_record *c)
{
    for (size_t i = 0; i < p->nrecs; i++)
        if (replaces(&p->recs[i], c))
            return 1;
    for (size_t i = 0; i < p->nreissues; i++)
        if (replaces(&p->reissues[i], c))
            return 1;
    return 0;
}

/* The role of a record before the disability certificate is chosen. */
static vg_record_role base_role(const vg_person_records *p, const vg_record *r)
{
    switch (r->dept) {
    case VG_DEPT_CREMATION:
        return VG_ROLE_LIVE_DEATH;
    case VG_DEPT_HEALTH:
        if (r->u.health.state == VG_CERT_VOIDED)
            return VG_ROLE_VOIDED;
        return is_replaced(p, r) ? VG_ROLE_REPLACED : VG_ROLE_LIVE_DEATH;
    case VG_DEPT_HOUSEHOLD:
        return r->u.household.reason == VG_DEREG_DEATH ? VG_ROLE_LIVE_DEATH : VG_ROLE_NOT_DEATH;
    case VG_DEPT_DISABILITY:
    case VG_DEPT_COUNT:
        break;
    }
    return VG_ROLE_SUPERSEDED;
}

/* 1 when a comes after b: the larger value, then the larger key. */
static int after(long long va, const vg_record *a, long long vb, const vg_record *b)
{
    if (va != vb)
        return va > vb;
    return strcmp(a->key, b->key) > 0;
}

/* Picks the date of death: live death certificate, else cremation, else deregistration. */
static vg_date pick_date(const vg_person_records *p)
{
    const vg_record *best[VG_DEPT_COUNT] = {NULL};

    for (size_t i = 0; i < p->nrecs; i++) {
        const vg_record *r = &p->recs[i];
        const vg_record *b = best[r->dept];
        long long v;

        if (r->death_date == VG_DATE_NONE || base_role(p, r) != VG_ROLE_LIVE_DEATH)
            continue;
        if (r->dept == VG_DEPT_HEALTH) {
            v = r->u.health.issued_at;
            if (!b || after(v, r, b->u.health.issued_at, b))
                best[r->dept] = r;
        } else {
            v = r->record_date;
            if (!b || after(v, r, b->record_date, b))
                best[r->dept] = r;
        }
    }
    if (best[VG_DEPT_HEALTH])
        return best[VG_DEPT_HEALTH]->death_date;
    if (best[VG_DEPT_CREMATION])
        return best[VG_DEPT_CREMATION]->death_date;
    if (best[VG_DEPT_HOUSEHOLD])
        return best[VG_DEPT_HOUSEHOLD]->death_date;
    return VG_DATE_NONE;
}

/* 1 when deregistration a comes after b: later 注销日期; on one day, death before the
 * other reasons (the lower reason), then the larger key. */
static int dereg_after(const vg_record *a, const vg_record *b)
{
    if (a->record_date != b->record_date)
        return a->record_date > b->record_date;
    if (a->u.household.reason != b->u.household.reason)
        return a->u.household.reason < b->u.household.reason;
    return strcmp(a->key, b->key) > 0;
}

/* Index of the disability certificate the answer uses, or nrecs when there is none. */
static size_t pick_certificate(const vg_person_records *p)
{
    size_t best = p->nrecs;

    for (size_t i = 0; i < p->nrecs; i++) {
        const vg_record *r = &p->recs[i];

        if (r->dept != VG_DEPT_DISABILITY)
            continue;
        if (best == p->nrecs || after(r->record_date, r, p->recs[best].record_date, &p->recs[best]))
            best = i;
    }
    return best;
}

static vg_name_check check_name(const vg_person_records *p, const char *caller_name)
{
    int held = 0, matched = 0;

    if (!caller_name || !caller_name[0])
        return VG_NAME_NOT_CHECKED;
    for (size_t i = 0; i < p->nrecs; i++) {
        const vg_record *r = &p->recs[i];
        vg_record_role role = base_role(p, r);
        int equal;

        if (role == VG_ROLE_VOIDED || role == VG_ROLE_REPLACED)
            continue;
        held = 1;
        equal = vg_name_equal(caller_name, r->name);
        if (role == VG_ROLE_LIVE_DEATH && !equal)
            return VG_NAME_MISMATCH;
        matched |= equal;
    }
    if (!held)
        return VG_NAME_NOT_CHECKED;
    return matched ? VG_NAME_MATCH : VG_NAME_MISMATCH;
}

static vg_certificate certificate_state(const vg_record *c, vg_date as_of)
{
    if (c->u.disability.cancelled)
        return VG_CERTIFICATE_CANCELLED;
    if (c->u.disability.valid_until != VG_DATE_NONE && c->u.disability.valid_until < as_of)
        return VG_CERTIFICATE_EXPIRED;
    return VG_CERTIFICATE_VALID;
}

void vg_status_derive(const vg_person_records *recs, const char *caller_name, vg_date as_of,
                      vg_person_status *out, vg_record_role *roles)
{
    const vg_record *dereg = NULL;
    size_t cert;
    int nsources = 0;

    memset(out, 0, sizeof(*out));
    out->death_status = VG_DEATH_NO_RECORD;
    if (!recs)
        return;

    cert = pick_certificate(recs);
    for (size_t i = 0; i < recs->nrecs; i++) {
        const vg_record *r = &recs->recs[i];
        vg_record_role role = base_role(recs, r);

        if (r->dept == VG_DEPT_DISABILITY && i == cert)
            role = VG_ROLE_CERTIFICATE;
        if (role == VG_ROLE_LIVE_DEATH)
            out->death_sources |= 1u << r->dept;
        if (r->dept == VG_DEPT_HOUSEHOLD && (!dereg || dereg_after(r, dereg)))
            dereg = r;
        if (roles)
            roles[i] = role;
    }

    for (int d = 0; d < VG_DEPT_COUNT; d++)
        nsources += (out->death_sources >> d) & 1u;
    out->death_status = nsources == 0   ? VG_DEATH_NO_RECORD
                        : nsources == 1 ? VG_DEATH_REPORTED
                                        : VG_DEATH_CONFIRMED;
    out->date_of_death = pick_date(recs);
    out->name_check = check_name(recs, caller_name);
    if (dereg) {
        out->has_deregistration = 1;
        out->deregistration = dereg->u.household.reason;
    }
    if (cert < recs->nrecs)
        out->certificate = certificate_state(&recs->recs[cert], as_of);
}

const char *vg_death_status_word(vg_death_status s)
{
    switch (s) {
    case VG_DEATH_NO_RECORD:
        return "NO_RECORD";
    case VG_DEATH_REPORTED:
        return "REPORTED";
    case VG_DEATH_CONFIRMED:
        return "CONFIRMED";
    case VG_DEATH_INVALID_ID:
        return "INVALID_ID";
    }
    return "NO_RECORD";
}

const char *vg_name_check_word(vg_name_check c)
{
    switch (c) {
    case VG_NAME_NOT_CHECKED:
        return "NOT_CHECKED";
    case VG_NAME_MATCH:
        return "MATCH";
    case VG_NAME_MISMATCH:
        return "MISMATCH";
    }
    return "NOT_CHECKED";
}

const char *vg_certificate_word(vg_certificate c)
{
    switch (c) {
    case VG_CERTIFICATE_NONE:
        return "";
    case VG_CERTIFICATE_VALID:
        return "VALID";
    case VG_CERTIFICATE_EXPIRED:
        return "EXPIRED";
    case VG_CERTIFICATE_CANCELLED:
        return "CANCELLED";
    }
    return "";
}

void vg_death_sources_format(unsigned sources, char *buf, size_t len)
{
    /* The departments in the order of their names, which the API promises. */
    static const vg_department by_name[] = {VG_DEPT_CREMATION, VG_DEPT_DISABILITY, VG_DEPT_HEALTH,
                                            VG_DEPT_HOUSEHOLD};
    size_t pos = 0;

    if (!buf || len == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(by_name) / sizeof(by_name[0]); i++) {
        const char *name = vg_department_name(by_name[i]);
        int n;

        if (!(sources & (1u << by_name[i])))
            continue;
        n = snprintf(buf + pos, len - pos, "%s%s", pos ? ";" : "", name);
        if (n < 0 || (size_t)n >= len - pos) {
            buf[pos] = '\0'; /* never a cut-off name */
            return;
        }
        pos += (size_t)n;
    }
}
