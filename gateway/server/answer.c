/* answer.c - one person's status and evidence as the API message. */
#include "answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_config.h"
#include "vg_normalise.h"
#include "vg_status.h"

/* Text forms of one record's dates, kept until the message is packed. */
typedef struct evidence_text {
    char death[16];
    char record[24];
    char until[16];
} evidence_text;

/* One row of a lookup. */
typedef struct answer_row {
    char *id_as_given;
    int valid;
    int k; /* index among the valid rows */
    char invalid_reason[200];
} answer_row;

struct vg_answer_scratch {
    answer_row *rows;
    size_t cap_rows;
    /* the valid rows, packed: what the cache and the store are asked about */
    char (*ids)[VG_ID_LEN + 1];
    vg_person_records *recs;
    int *found;
    size_t cap_valid;
    /* one answer's evidence */
    vg_record_role *roles;
    Vitalgate__V1__Evidence *ev;
    Vitalgate__V1__Evidence **evp;
    evidence_text *text;
    size_t cap;
    char *sources[VG_DEPT_COUNT];
    char date_of_death[16];
};

vg_answer_scratch *vg_answer_scratch_new(void)
{
    return calloc(1, sizeof(vg_answer_scratch));
}

void vg_answer_scratch_free(void *scratch)
{
    vg_answer_scratch *s = scratch;

    if (!s)
        return;
    for (size_t k = 0; k < s->cap_valid; k++)
        vg_person_records_free(&s->recs[k]);
    free(s->rows);
    free(s->ids);
    free(s->recs);
    free(s->found);
    free(s->roles);
    free(s->ev);
    free(s->evp);
    free(s->text);
    free(s);
}

static vg_err reserve_rows(vg_answer_scratch *s, size_t n)
{
    void *rows, *ids, *recs, *found;

    if (n <= s->cap_rows)
        return VG_OK;
    if (!(rows = realloc(s->rows, n * sizeof(*s->rows))))
        return VG_ERR_NOMEM;
    s->rows = rows;
    if (!(ids = realloc(s->ids, n * sizeof(*s->ids))))
        return VG_ERR_NOMEM;
    s->ids = ids;
    if (!(found = realloc(s->found, n * sizeof(*s->found))))
        return VG_ERR_NOMEM;
    s->found = found;
    if (!(recs = realloc(s->recs, n * sizeof(*s->recs))))
        return VG_ERR_NOMEM;
    s->recs = recs;
    memset(s->recs + s->cap_valid, 0, (n - s->cap_valid) * sizeof(*s->recs));
    s->cap_valid = n;
    s->cap_rows = n;
    return VG_OK;
}

static vg_err reserve(vg_answer_scratch *s, size_t n)
{
    void *roles, *ev, *evp, *text;

    if (n <= s->cap)
        return VG_OK;
    roles = realloc(s->roles, n * sizeof(*s->roles));
    if (roles)
        s->roles = roles;
    ev = realloc(s->ev, n * sizeof(*s->ev));
    if (ev)
        s->ev = ev;
    evp = realloc(s->evp, n * sizeof(*s->evp));
    if (evp)
        s->evp = evp;
    text = realloc(s->text, n * sizeof(*s->text));
    if (text)
        s->text = text;
    if (!roles || !ev || !evp || !text)
        return VG_ERR_NOMEM;
    s->cap = n;
    return VG_OK;
}

static const char *role_word(vg_record_role role)
{
    switch (role) {
    case VG_ROLE_LIVE_DEATH:
        return "live_death";
    case VG_ROLE_VOIDED:
        return "voided";
    case VG_ROLE_REPLACED:
        return "replaced";
    case VG_ROLE_SUPERSEDED:
        return "superseded";
    case VG_ROLE_NOT_DEATH:
        return "not_death";
    case VG_ROLE_CERTIFICATE:
        return "certificate";
    }
    return "";
}

static const char *cert_state_word(vg_cert_state st)
{
    switch (st) {
    case VG_CERT_NORMAL:
        return "normal";
    case VG_CERT_VOIDED:
        return "voided";
    case VG_CERT_REISSUED:
        return "reissued";
    }
    return "";
}

/* Fills one evidence message from a record, leaving out the groups the caller lacks. */
static void fill_evidence(const vg_record *r, vg_record_role role, unsigned fields,
                          Vitalgate__V1__Evidence *e, evidence_text *t)
{
    vitalgate__v1__evidence__init(e);
    e->department = (char *)vg_department_name(r->dept);
    e->record_key = (char *)r->key;
    e->role = (char *)role_word(role);
    vg_date_format(r->death_date, t->death, sizeof(t->death));
    e->date_of_death = t->death;
    vg_date_format(r->record_date, t->record, sizeof(t->record));
    e->record_date = t->record;
    if (fields & VG_FIELDS_NAMES)
        e->name = (char *)r->name;

    switch (r->dept) {
    case VG_DEPT_CREMATION:
        if (fields & VG_FIELDS_PLACES) {
            e->place = (char *)r->u.cremation.funeral_home;
            e->address = (char *)r->u.cremation.address;
        }
        break;
    case VG_DEPT_HEALTH:
        vg_datetime_format(r->u.health.issued_at, t->record, sizeof(t->record));
        e->certificate_state = (char *)cert_state_word(r->u.health.state);
        e->original_certificate = (char *)r->u.health.orig_no;
        if (fields & VG_FIELDS_PLACES) {
            e->place = (char *)r->u.health.place;
            e->unit = (char *)r->u.health.unit;
        }
        /* Health data: only a role that names the group explicitly ever sees it. */
        if (fields & VG_FIELDS_CAUSE)
            e->cause_of_death = (char *)r->u.health.cause_code;
        break;
    case VG_DEPT_HOUSEHOLD:
        e->deregistration_reason = (char *)vg_dereg_reason_word(r->u.household.reason);
        if (fields & VG_FIELDS_PLACES)
            e->place = (char *)r->u.household.unit;
        break;
    case VG_DEPT_DISABILITY:
        e->certificate_state = r->u.disability.cancelled ? "cancelled" : "valid";
        vg_date_format(r->u.disability.valid_until, t->until, sizeof(t->until));
        e->valid_until = t->until;
        e->disability_category = (uint32_t)r->u.disability.category;
        e->disability_level = (uint32_t)r->u.disability.level;
        break;
    case VG_DEPT_COUNT:
        break;
    }
}

vg_err vg_answer_lookup(vg_store_reader *reader, vg_cache *cache, vg_answer_scratch *s,
                        char *const *ids_as_given, size_t n)
{
    size_t m = 0;
    uint64_t gen = 0;
    int cached = 0;
    vg_err err;

    if (reserve_rows(s, n) != VG_OK)
        return VG_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        answer_row *r = &s->rows[i];

        r->id_as_given = ids_as_given[i];
        r->valid = vg_id_normalise(r->id_as_given, s->ids[m], r->invalid_reason,
                                   sizeof(r->invalid_reason)) == VG_OK;
        r->k = r->valid ? (int)m++ : -1;
    }

    /* The cache is only an optimisation: any trouble there means the store answers. */
    if (cache && m > 0 && vg_store_cache_generation(reader, &gen) == VG_OK)
        cached = vg_cache_get(cache, gen, s->ids, m, s->recs, s->found) == VG_OK;
    if (!cached)
        memset(s->found, 0, m * sizeof(*s->found));
    for (size_t k = 0; k < m; k++) {
        if (s->found[k])
            continue;
        err = vg_store_get_person(reader, s->ids[k], &s->recs[k]);
        if (err != VG_OK)
            return err;
    }
    if (cached)
        vg_cache_fill(cache, gen, s->ids, m, s->recs, s->found);
    return VG_OK;
}

void vg_answer_build(vg_answer_scratch *s, size_t i, const char *name, vg_date as_of,
                     unsigned fields, int with_evidence, Vitalgate__V1__PersonStatus *msg,
                     const char **audit_id)
{
    const answer_row *r = &s->rows[i];
    const vg_person_records *recs;
    vg_person_status st;
    size_t nsources = 0;

    vitalgate__v1__person_status__init(msg);
    msg->id_as_given = r->id_as_given;
    if (!r->valid) {
        msg->death_status = VITALGATE__V1__DEATH_STATUS__INVALID_ID;
        msg->invalid_reason = (char *)r->invalid_reason;
        *audit_id = r->id_as_given;
        return;
    }
    recs = &s->recs[r->k];
    msg->id_number = s->ids[r->k];
    *audit_id = s->ids[r->k];
    if (reserve(s, recs->nrecs) != VG_OK)
        with_evidence = 0; /* the status alone still fits */
    vg_status_derive(recs, name, as_of, &st, with_evidence ? s->roles : NULL);

    msg->death_status =
        (Vitalgate__V1__DeathStatus)(VITALGATE__V1__DEATH_STATUS__NO_RECORD + (int)st.death_status);
    vg_date_format(st.date_of_death, s->date_of_death, sizeof(s->date_of_death));
    msg->date_of_death = s->date_of_death;
    for (int d = 0; d < VG_DEPT_COUNT; d++)
        if (st.death_sources & (1u << d))
            s->sources[nsources++] = (char *)vg_department_name((vg_department)d);
    msg->n_death_sources = nsources;
    msg->death_sources = s->sources;
    msg->name_check =
        (Vitalgate__V1__NameCheck)(VITALGATE__V1__NAME_CHECK__NOT_CHECKED + (int)st.name_check);
    msg->household_deregistration =
        st.has_deregistration ? (char *)vg_dereg_reason_word(st.deregistration) : "";
    msg->certificate = (Vitalgate__V1__CertificateState)st.certificate;

    if (with_evidence) {
        for (size_t j = 0; j < recs->nrecs; j++) {
            fill_evidence(&recs->recs[j], s->roles[j], fields, &s->ev[j], &s->text[j]);
            s->evp[j] = &s->ev[j];
        }
        msg->n_evidence = recs->nrecs;
        msg->evidence = s->evp;
    }
}

const char *vg_answer_status_word(const Vitalgate__V1__PersonStatus *msg)
{
    static const char *const words[] = {"", "NO_RECORD", "REPORTED", "CONFIRMED", "INVALID_ID"};

    if ((unsigned)msg->death_status < sizeof(words) / sizeof(words[0]))
        return words[msg->death_status];
    return "";
}
