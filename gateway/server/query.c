/* query.c - Query.GetStatus and Query.Match: consumers ask about people. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "server.h"
#include "vg_buf.h"
#include "vg_log.h"
#include "vg_normalise.h"
#include "vitalgate.pb-c.h"

/* Most GetStatus calls answered together (one cache round trip). */
#define MAX_BATCH 256

/* Settings a Match stream takes from its first message, and its reusable buffers. */
typedef struct match_state {
    int started;
    vg_date as_of;
    int with_evidence;
    vg_buf out;
    char **ids;
    vg_audit_subject *subjects;
    size_t cap;
} match_state;

static vg_answer_scratch *scratch_of(vg_call *call)
{
    vg_worker *w = call->worker;

    if (!w->scratch) {
        w->scratch = vg_answer_scratch_new();
        w->scratch_free = vg_answer_scratch_free;
    }
    return w->scratch;
}

/* Checks the purpose and the as-of date of a query; finishes the call and returns -1 when
 * either is wrong. */
static int check_query(vg_call *call, const char *purpose, const char *as_of_text, vg_date *as_of)
{
    const vg_config *cfg = call->cfg;
    char why[160];

    snprintf(call->purpose, sizeof(call->purpose), "%s", purpose ? purpose : "");
    if (purpose && !vg_utf8_valid(purpose)) {
        snprintf(call->purpose, sizeof(call->purpose), "(not UTF-8)");
        vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "purpose: not UTF-8 text");
        return -1;
    }
    if (!purpose || !purpose[0]) {
        vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "purpose: required (a purpose code declared in the gateway's config)");
        return -1;
    }
    if (!vg_config_purpose(cfg, purpose)) {
        vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "purpose: unknown purpose code");
        return -1;
    }
    if (!vg_principal_allows_purpose(call->principal, purpose)) {
        vg_call_finish(call, GRPC_STATUS_PERMISSION_DENIED,
                       "purpose: principal '%s' is not allowed this purpose", call->peer_name);
        return -1;
    }
    if (!as_of_text || !as_of_text[0]) {
        *as_of = vg_date_today();
    } else if (vg_date_parse(as_of_text, as_of, why, sizeof(why)) != VG_OK) {
        vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "as_of: %s", why);
        return -1;
    }
    return 0;
}

static void finish_store_error(vg_call *call, vg_err err)
{
    if (err == VG_ERR_NOMEM)
        vg_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    else
        vg_call_finish(call, GRPC_STATUS_UNAVAILABLE, "store could not be read");
}

/* A GetStatus call waiting in its worker's batch. */
typedef struct status_state {
    Vitalgate__V1__StatusRequest *req;
    vg_date as_of;
} status_state;

/* Checks the request and puts the call in the worker's batch; the batch is answered by
 * vg_query_flush when nothing else is ready on the queue, or when it is full. */
static void get_status_message(vg_call *call, const uint8_t *data, size_t len)
{
    Vitalgate__V1__StatusRequest *req = vitalgate__v1__status_request__unpack(NULL, len, data);
    vg_worker *w = call->worker;
    status_state *st = NULL;
    vg_date as_of;

    if (!req) {
        vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "request is not a valid StatusRequest message");
        return;
    }
    if (check_query(call, req->purpose, req->as_of, &as_of) != 0)
        goto drop;
    if (!req->id_number[0]) {
        vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "id_number: required");
        goto drop;
    }
    if (!vg_utf8_valid(req->id_number) || !vg_utf8_valid(req->name)) {
        vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "%s: not UTF-8 text",
                       vg_utf8_valid(req->id_number) ? "name" : "id_number");
        goto drop;
    }
    if (w->npending == w->cap_pending) {
        size_t cap = w->cap_pending ? w->cap_pending * 2 : 64;
        vg_call **p = realloc(w->pending, cap * sizeof(*p));

        if (!p)
            goto nomem;
        w->pending = p;
        w->cap_pending = cap;
    }
    if (!(st = calloc(1, sizeof(*st))))
        goto nomem;
    st->req = req;
    st->as_of = as_of;
    call->state = st;
    w->pending[w->npending++] = call;
    if (w->npending >= MAX_BATCH)
        vg_query_flush(w);
    return;

nomem:
    finish_store_error(call, VG_ERR_NOMEM);
drop:
    vitalgate__v1__status_request__free_unpacked(req, NULL);
}

static void get_status_free(vg_call *call)
{
    status_state *st = call->state;

    if (!st)
        return;
    vitalgate__v1__status_request__free_unpacked(st->req, NULL);
    free(st);
    call->state = NULL;
}

/* Answers one gathered call from the batch's lookup (row i). */
static void answer_one(vg_call *call, vg_answer_scratch *s, size_t i, vg_buf *out)
{
    status_state *st = call->state;
    Vitalgate__V1__PersonStatus msg;
    vg_audit_subject subject;
    size_t n;

    vg_answer_build(s, i, st->req->name, st->as_of, call->principal->fields, 1, &msg,
                    &subject.id_number);
    subject.death_status = vg_answer_status_word(&msg);
    n = protobuf_c_message_get_packed_size(&msg.base);
    vg_buf_reset(out);
    if (vg_buf_reserve(out, n) != VG_OK) {
        finish_store_error(call, VG_ERR_NOMEM);
        return;
    }
    protobuf_c_message_pack(&msg.base, out->data);
    vg_call_answer(call, out->data, n, &subject, 1);
}

void vg_query_flush(vg_worker *w)
{
    vg_answer_scratch *s = w->scratch;
    char *ids[MAX_BATCH];
    vg_call *calls[MAX_BATCH];
    size_t n = 0;
    vg_buf out = {0};
    vg_err err = VG_ERR_NOMEM;

    /* Calls cancelled while they waited are left to finish by themselves. */
    for (size_t i = 0; i < w->npending; i++) {
        vg_call *call = w->pending[i];

        if (call->finishing)
            continue;
        calls[n] = call;
        ids[n++] = ((status_state *)call->state)->req->id_number;
    }
    w->npending = 0;
    if (n == 0)
        return;

    if (s || (s = scratch_of(calls[0])) != NULL)
        err = vg_answer_lookup(w->reader, w->cache, s, ids, n);
    for (size_t i = 0; i < n; i++) {
        if (err != VG_OK)
            finish_store_error(calls[i], err);
        else
            answer_one(calls[i], s, i, &out);
        /* A call refused here still needs its status sent. */
        if (calls[i]->finishing && !calls[i]->status_started)
            vg_call_advance(calls[i]);
    }
    vg_buf_free(&out);
}

/* A MatchReply is a run of "results" fields: each answer is packed on its own and framed
 * as field 1, so a whole message of answers never needs to be held as structs. */
static vg_err append_result(vg_buf *out, const Vitalgate__V1__PersonStatus *msg)
{
    size_t n = protobuf_c_message_get_packed_size(&msg->base);
    vg_err err;

    if ((err = vg_buf_append_varint(out, (1u << 3) | 2u)) != VG_OK ||
        (err = vg_buf_append_varint(out, n)) != VG_OK || (err = vg_buf_reserve(out, n)) != VG_OK)
        return err;
    protobuf_c_message_pack(&msg->base, out->data + out->len);
    out->len += n;
    return VG_OK;
}

static int match_reserve(match_state *st, size_t n)
{
    void *ids, *subjects;

    if (n <= st->cap)
        return 0;
    if (!(ids = realloc(st->ids, n * sizeof(*st->ids))))
        return -1;
    st->ids = ids;
    if (!(subjects = realloc(st->subjects, n * sizeof(*st->subjects))))
        return -1;
    st->subjects = subjects;
    st->cap = n;
    return 0;
}

static void match_message(vg_call *call, const uint8_t *data, size_t len)
{
    Vitalgate__V1__MatchRequest *req = vitalgate__v1__match_request__unpack(NULL, len, data);
    match_state *st = call->state;
    vg_answer_scratch *s = scratch_of(call);
    Vitalgate__V1__PersonStatus msg;
    vg_err err = VG_OK;

    if (!req) {
        vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "request is not a valid MatchRequest message");
        return;
    }
    if (!st) {
        st = call->state = calloc(1, sizeof(*st));
        if (!st || !s) {
            finish_store_error(call, VG_ERR_NOMEM);
            goto out;
        }
    }
    if (!st->started) {
        if (check_query(call, req->purpose, req->as_of, &st->as_of) != 0)
            goto out;
        st->with_evidence = req->with_evidence;
        st->started = 1;
    }
    if ((long)req->n_rows > call->cfg->max_batch_records) {
        vg_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                       "rows: %zu in one message, at most %ld", req->n_rows,
                       call->cfg->max_batch_records);
        goto out;
    }
    for (size_t i = 0; i < req->n_rows; i++) {
        if (!vg_utf8_valid(req->rows[i]->id_number) || !vg_utf8_valid(req->rows[i]->name)) {
            vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "rows[%zu]: not UTF-8 text", i);
            goto out;
        }
    }
    if (match_reserve(st, req->n_rows) != 0) {
        finish_store_error(call, VG_ERR_NOMEM);
        goto out;
    }

    /* The whole message is looked up at once: one cache round trip for all its rows. */
    for (size_t i = 0; i < req->n_rows; i++)
        st->ids[i] = req->rows[i]->id_number;
    err = vg_answer_lookup(call->worker->reader, call->worker->cache, s, st->ids, req->n_rows);
    vg_buf_reset(&st->out);
    for (size_t i = 0; i < req->n_rows && err == VG_OK; i++) {
        vg_answer_build(s, i, req->rows[i]->name, st->as_of, call->principal->fields,
                        st->with_evidence, &msg, &st->subjects[i].id_number);
        st->subjects[i].death_status = vg_answer_status_word(&msg);
        err = append_result(&st->out, &msg);
    }
    if (err != VG_OK) {
        finish_store_error(call, err);
        goto out;
    }
    call->rows += req->n_rows;
    /* The rows leave only once each of them is audited. */
    vg_call_reply_audited(call, st->out.data, st->out.len, st->subjects, req->n_rows);
out:
    vitalgate__v1__match_request__free_unpacked(req, NULL);
}

static void match_free(vg_call *call)
{
    match_state *st = call->state;

    if (!st)
        return;
    vg_buf_free(&st->out);
    free(st->ids);
    free(st->subjects);
    free(st);
    call->state = NULL;
}

const vg_method vg_method_get_status = {"/vitalgate.v1.Query/GetStatus",
                                        0,
                                        VG_ROLE_KIND_CONSUMER,
                                        get_status_message,
                                        get_status_free,
                                        NULL};

const vg_method vg_method_match = {
    "/vitalgate.v1.Query/Match", 1, VG_ROLE_KIND_CONSUMER, match_message, match_free, NULL};
