/* push.c - Ingest.Push: a department streams batches of its source records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "vg_adapter.h"
#include "vg_log.h"
#include "vg_store.h"
#include "vitalgate.pb-c.h"

/* Buffers reused across the batches of one stream. */
typedef struct push_state {
    vg_record *recs;
    vg_put_outcome *outcomes;
    vg_field *fields;
    Vitalgate__V1__Refusal *refusals;
    Vitalgate__V1__Refusal **refusalp;
    vg_refusal *why;
    size_t cap;
    size_t cap_fields;
} push_state;

static int reserve(push_state *st, size_t n)
{
    void *p;

    if (n <= st->cap)
        return 0;
    if (!(p = realloc(st->recs, n * sizeof(*st->recs))))
        return -1;
    st->recs = p;
    if (!(p = realloc(st->outcomes, n * sizeof(*st->outcomes))))
        return -1;
    st->outcomes = p;
    if (!(p = realloc(st->refusals, n * sizeof(*st->refusals))))
        return -1;
    st->refusals = p;
    if (!(p = realloc(st->refusalp, n * sizeof(*st->refusalp))))
        return -1;
    st->refusalp = p;
    if (!(p = realloc(st->why, n * sizeof(*st->why))))
        return -1;
    st->why = p;
    st->cap = n;
    return 0;
}

static int reserve_fields(push_state *st, size_t n)
{
    void *p;

    if (n <= st->cap_fields)
        return 0;
    if (!(p = realloc(st->fields, n * sizeof(*st->fields))))
        return -1;
    st->fields = p;
    st->cap_fields = n;
    return 0;
}

/* Checks the batch header; finishes the call and returns -1 when the caller may not push
 * it. */
static int check_batch(vg_call *call, const Vitalgate__V1__PushRequest *req, vg_department *dept)
{
    const vg_config *cfg = call->cfg;

    if (vg_department_parse(req->department, dept) != VG_OK) {
        vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "department: expected cremation, health, household or disability");
        return -1;
    }
    if (call->principal->dept != *dept) {
        vg_call_finish(call, GRPC_STATUS_PERMISSION_DENIED,
                       "department: principal '%s' may push only %s records", call->peer_name,
                       vg_department_name(call->principal->dept));
        return -1;
    }
    if ((long)req->n_records > cfg->max_batch_records) {
        vg_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                       "records: %zu in one batch, at most %ld", req->n_records,
                       cfg->max_batch_records);
        return -1;
    }
    return 0;
}

/* Makes sure no cache, of this process or another sharing the store, answers from the
 * records as they were before the commit: runs after the commit, before the reply. */
static vg_err invalidate(vg_call *call, const char (*ids)[VG_ID_LEN + 1], size_t n)
{
    vg_worker *w = call->worker;
    uint64_t gen;

    if (w->cache && vg_store_cache_generation(w->reader, &gen) == VG_OK &&
        vg_cache_invalidate(w->cache, gen, ids, n) == VG_OK)
        return VG_OK;
    /* Redis cannot be told (or this process runs without it while others may not): a new
     * generation in the store retires every cache entry written before. */
    return vg_store_bump_cache_generation(vg_server_store(w->server), &gen);
}

static void push_message(vg_call *call, const uint8_t *data, size_t len)
{
    Vitalgate__V1__PushRequest *req = vitalgate__v1__push_request__unpack(NULL, len, data);
    Vitalgate__V1__PushReply reply = VITALGATE__V1__PUSH_REPLY__INIT;
    push_state *st = call->state;
    vg_department dept;
    size_t nok = 0, nrefused = 0;
    size_t *index = NULL;
    char(*touched)[VG_ID_LEN + 1] = NULL;
    size_t ntouched = 0;
    vg_err err;

    if (!req) {
        vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "request is not a valid PushRequest message");
        return;
    }
    if (check_batch(call, req, &dept) != 0)
        goto out;
    if (!st && !(st = call->state = calloc(1, sizeof(*st))))
        goto nomem;
    if (reserve(st, req->n_records) != 0 ||
        !(index = malloc((req->n_records + 1) * sizeof(*index))))
        goto nomem;

    /* Each record alone through its department's adapter: a refusal loses nothing else. */
    for (size_t i = 0; i < req->n_records; i++) {
        const Vitalgate__V1__SourceRecord *src = req->records[i];

        if (reserve_fields(st, src->n_fields) != 0)
            goto nomem;
        for (size_t f = 0; f < src->n_fields; f++) {
            st->fields[f].name = src->fields[f]->name;
            st->fields[f].value = src->fields[f]->value;
        }
        if (vg_adapter_normalise(dept, st->fields, src->n_fields, &st->recs[nok],
                                 &st->why[nrefused]) == VG_OK) {
            index[nok++] = i;
            continue;
        }
        vitalgate__v1__refusal__init(&st->refusals[nrefused]);
        st->refusals[nrefused].index = (uint32_t)i;
        st->refusals[nrefused].field = st->why[nrefused].field;
        st->refusals[nrefused].reason = st->why[nrefused].reason;
        st->refusalp[nrefused] = &st->refusals[nrefused];
        nrefused++;
    }

    err = vg_store_put(vg_server_store(call->worker->server), st->recs, nok, st->outcomes, &touched,
                       &ntouched);
    if (err == VG_OK && ntouched > 0 && invalidate(call, touched, ntouched) != VG_OK) {
        vg_call_finish(call, GRPC_STATUS_UNAVAILABLE,
                       "the batch is stored but cached answers could not be invalidated; "
                       "send it again");
        goto out;
    }
    if (err != VG_OK) {
        vg_error(call->peer_name, call->method_name, "store: batch not committed: %s",
                 vg_strerror(err));
        vg_call_finish(call, GRPC_STATUS_UNAVAILABLE,
                       "store could not commit the batch; nothing of it was stored");
        goto out;
    }
    for (size_t k = 0; k < nok; k++) {
        if (st->outcomes[k] == VG_PUT_STORED)
            reply.stored++;
        else if (st->outcomes[k] == VG_PUT_HELD)
            reply.already_held++;
        else
            reply.updated++;
    }
    reply.batch_id = req->batch_id;
    reply.n_refused = nrefused;
    reply.refused = st->refusalp;
    call->rows += req->n_records;
    vg_call_reply(call, &reply.base);
    goto out;

nomem:
    vg_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory for the batch");
out:
    free(touched);
    free(index);
    vitalgate__v1__push_request__free_unpacked(req, NULL);
}

static void push_free(vg_call *call)
{
    push_state *st = call->state;

    if (!st)
        return;
    free(st->recs);
    free(st->outcomes);
    free(st->fields);
    free(st->refusals);
    free(st->refusalp);
    free(st->why);
    free(st);
    call->state = NULL;
}

const vg_method vg_method_push = {
    "/vitalgate.v1.Ingest/Push", 1, VG_ROLE_KIND_DEPARTMENT, push_message, push_free, NULL};
