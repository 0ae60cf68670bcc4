/* server.c - the gRPC core server: mutual TLS, completion-queue threads, call lifecycle.
 *
 * Every call lives on the completion queue (and so the thread) it was requested on; its
 * handlers run on that thread only, so a call needs no lock. Per call at most one receive
 * and one send are in flight: a streaming call reads its next request message while the
 * previous reply is being sent, and processes it only once that send is done. That bounds
 * what a call holds to one request and one reply, and lets HTTP/2 flow control push back
 * on a client that sends faster than the gateway answers. */
#include "server.h"

#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "tls.h"
#include "vg_log.h"

#define REQUESTS_PER_QUEUE 32

struct vg_server {
    const vg_config *cfg;             /* the config started with */
    const vg_config *_Atomic current; /* the config in force (SIGHUP replaces it) */
    vg_tls *tls;
    _Atomic int cancelling; /* the shutdown grace period is over: calls are being cut off */
    _Atomic long deferred;  /* batches waiting for the audit: the queues must outlive them */
    _Atomic int stopping;   /* the queues are about to shut down: nothing may wait on the audit */
    vg_store *store;
    vg_audit *audit;
    grpc_server *grpc;
    grpc_completion_queue *shutdown_cq;
    vg_worker *workers;
    pthread_t *threads;
    int nworkers;
    int nthreads_started;
    int port;
};

static const vg_method *const methods[] = {&vg_method_push, &vg_method_get_status, &vg_method_match,
                                           &vg_method_health, &vg_method_audit_list};

static _Atomic uint64_t next_call_id = 1;

static void post_request(vg_worker *w);
static void on_request(vg_tag *tag, int ok);
void vg_call_advance(vg_call *call);

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- identity ------------------------------------------------------------------------- */

static void copy_prop(const grpc_auth_property *p, char *out, size_t len)
{
    size_t n = p->value_length < len - 1 ? p->value_length : len - 1;

    memcpy(out, p->value, n);
    out[n] = '\0';
}

/* Finds the caller's principal: the first SAN, then the subject CN, that the config names.
 * peer_name is set to the identity found (or the CN when none is known) for logs. */
/* Keeps log lines whole: anything but printable ASCII without spaces becomes '_'. */
static void sanitise(char *s)
{
    for (; *s; s++)
        if (*s <= ' ' || *s > '~')
            *s = '_';
}

/* Finds the caller's principal among the subject CN and the SANs of its certificate. A
 * certificate naming two different principals is ambiguous and gets none. peer_name is the
 * identity found (or the CN) for logs and the audit. */
static void identify(vg_call *call)
{
    const vg_config *cfg = call->cfg;
    grpc_auth_context *ctx = grpc_call_auth_context(call->call);
    static const char *const props[] = {GRPC_X509_SAN_PROPERTY_NAME, GRPC_X509_CN_PROPERTY_NAME};
    char value[sizeof(call->peer_name)];
    int ambiguous = 0;
    char *peer;

    snprintf(call->peer_name, sizeof(call->peer_name), "unknown");
    peer = grpc_call_get_peer(call->call);
    snprintf(call->peer_addr, sizeof(call->peer_addr), "%s", peer ? peer : "-");
    gpr_free(peer);
    if (!ctx)
        return;
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        grpc_auth_property_iterator it = grpc_auth_context_find_properties_by_name(ctx, props[i]);
        const grpc_auth_property *p;

        while ((p = grpc_auth_property_iterator_next(&it)) != NULL) {
            const vg_principal *found;

            copy_prop(p, value, sizeof(value));
            found = vg_config_principal(cfg, value);
            if (found && call->principal && found != call->principal)
                ambiguous = 1;
            if (found && !call->principal)
                call->principal = found;
            if ((found && found == call->principal) ||
                (!call->principal && strcmp(props[i], GRPC_X509_CN_PROPERTY_NAME) == 0))
                snprintf(call->peer_name, sizeof(call->peer_name), "%s", value);
        }
    }
    if (ambiguous) {
        call->principal = NULL;
        snprintf(call->peer_name, sizeof(call->peer_name), "ambiguous");
    }
    sanitise(call->peer_name);
    if (call->principal) {
        grpc_auth_property_iterator it =
            grpc_auth_context_find_properties_by_name(ctx, GRPC_X509_PEM_CERT_PROPERTY_NAME);
        const grpc_auth_property *p = grpc_auth_property_iterator_next(&it);

        /* A reload may have revoked a certificate whose connection was made before. */
        if (!p || vg_tls_revoked(call->worker->server->tls, p->value, p->value_length,
                                 &call->worker->verdicts))
            call->revoked = 1;
    }
    grpc_auth_context_release(ctx);
}

/* ---- call lifecycle ------------------------------------------------------------------- */

static void call_free(vg_call *call)
{
    if (call->method && call->method->on_free)
        call->method->on_free(call);
    if (call->recv_buf)
        grpc_byte_buffer_destroy(call->recv_buf);
    if (call->held)
        grpc_byte_buffer_destroy(call->held);
    if (call->send_buf)
        grpc_byte_buffer_destroy(call->send_buf);
    grpc_slice_unref(call->status_details);
    if (call->call)
        grpc_call_unref(call->call);
    grpc_call_details_destroy(&call->details);
    grpc_metadata_array_destroy(&call->request_md);
    free(call);
}

static void log_call_end(vg_call *call)
{
    double ms = (double)(now_ns() - call->started_ns) / 1e6;
    int level = VG_LOG_INFO;

    if (call->code == GRPC_STATUS_INTERNAL || call->code == GRPC_STATUS_UNAVAILABLE ||
        call->code == GRPC_STATUS_DATA_LOSS)
        level = VG_LOG_ERROR;
    if (call->code == GRPC_STATUS_OK)
        level = VG_LOG_DEBUG;
    /* The message is ours and never carries personal data. */
    VG_LOG(level, call->peer_name, call->method_name, "from=%s status=%s rows=%llu ms=%.2f%s%s",
           call->peer_addr, vg_audit_code_name(call->code), (unsigned long long)call->rows, ms,
           call->message[0] ? " reason=" : "", call->message);
}

static void maybe_free(vg_call *call)
{
    if (!call->close_done || !call->status_done || call->recv_pending || call->send_pending)
        return;
    log_call_end(call);
    call_free(call);
}

static void on_close(vg_tag *tag, int ok)
{
    vg_call *call = (vg_call *)((char *)tag - offsetof(vg_call, close_tag));

    (void)ok;
    call->close_done = 1;
    /* The client went away or its deadline passed: not an error of ours. */
    if (call->close_cancelled)
        vg_call_finish(call, GRPC_STATUS_CANCELLED, "cancelled by the client or deadline");
    vg_call_advance(call);
    maybe_free(call);
}

static void on_status(vg_tag *tag, int ok)
{
    vg_call *call = (vg_call *)((char *)tag - offsetof(vg_call, status_tag));

    (void)ok;
    call->status_done = 1;
    maybe_free(call);
}

static void on_send(vg_tag *tag, int ok)
{
    vg_call *call = (vg_call *)((char *)tag - offsetof(vg_call, send_tag));

    call->send_pending = 0;
    grpc_byte_buffer_destroy(call->send_buf);
    call->send_buf = NULL;
    if (atomic_load(&call->audit_failed))
        vg_call_finish(call, GRPC_STATUS_UNAVAILABLE, "audit log unavailable");
    if (!ok)
        vg_call_finish(call, GRPC_STATUS_CANCELLED, "reply could not be sent");
    vg_call_advance(call);
    maybe_free(call);
}

static void on_recv(vg_tag *tag, int ok)
{
    vg_call *call = (vg_call *)((char *)tag - offsetof(vg_call, recv_tag));

    call->recv_pending = 0;
    if (ok && call->recv_buf) {
        call->held = call->recv_buf;
        call->recv_buf = NULL;
    } else if (ok) {
        call->half_closed = 1;
    } else if (!call->finishing && atomic_load(&call->worker->server->cancelling)) {
        vg_call_finish(call, GRPC_STATUS_UNAVAILABLE, "the gateway is shutting down");
    } else {
        /* A failed receive: the message passed the size limit, or the call broke. */
        vg_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                       "request message could not be received (larger than %ld bytes?)",
                       call->worker->server->cfg->max_message_bytes);
    }
    vg_call_advance(call);
    maybe_free(call);
}

static void start_batch(vg_call *call, const grpc_op *ops, size_t n, vg_tag *tag)
{
    grpc_call_error e = grpc_call_start_batch(call->call, ops, n, tag, NULL);

    if (e != GRPC_CALL_OK) {
        /* Only a programming error gets here; log it and let the call be cancelled. */
        vg_error(call->peer_name, call->method_name, "start_batch failed: %d", (int)e);
        grpc_call_cancel(call->call, NULL);
        tag->fn(tag, 0);
    }
}

static void post_recv(vg_call *call)
{
    grpc_op ops[2];
    size_t n = 0;

    memset(ops, 0, sizeof(ops));
    if (!call->initial_md_sent) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        call->initial_md_sent = 1;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &call->recv_buf;
    call->recv_pending = 1;
    start_batch(call, ops, n, &call->recv_tag);
}

static void fill_audit_ctx(vg_call *call, vg_audit_ctx *ctx)
{
    ctx->call_id = call->call_id;
    ctx->principal = call->peer_name;
    ctx->peer = call->peer_addr;
    ctx->method = call->method_name;
    ctx->purpose = call->purpose;
}

/* Runs on the audit thread once a deferred batch's entries are durable (or failed). It
 * touches only the prepared ops, which the worker leaves alone while the batch is pending;
 * the call cannot be freed before the batch's tag completes. */
static void start_deferred(vg_call *call, vg_tag *tag, size_t nops, vg_err result)
{
    vg_server *srv = call->worker->server; /* the call may be gone once its batch starts */

    if (result != VG_OK) {
        atomic_store(&call->audit_failed, 1);
        grpc_call_cancel_with_status(call->call, GRPC_STATUS_UNAVAILABLE, "audit log unavailable",
                                     NULL);
        nops = 0; /* completes the tag at once, sending nothing */
    }
    if (grpc_call_start_batch(call->call, call->deferred, nops, tag, NULL) != GRPC_CALL_OK)
        vg_error(call->peer_name, call->method_name, "deferred batch could not start");
    atomic_fetch_sub(&srv->deferred, 1);
}

/* Counts a batch handed to the audit; undone when the hand-over failed at once. */
static void deferred_begin(vg_call *call)
{
    atomic_fetch_add(&call->worker->server->deferred, 1);
}

static void deferred_abandon(vg_call *call)
{
    atomic_fetch_sub(&call->worker->server->deferred, 1);
}

/* 1 (and the call finishing) when the queues are closing and no reply may start. */
static int refuse_when_stopping(vg_call *call)
{
    if (!atomic_load(&call->worker->server->stopping))
        return 0;
    vg_call_finish(call, GRPC_STATUS_UNAVAILABLE, "the gateway is shutting down");
    return 1;
}

static void on_audited_send(void *arg, vg_err result)
{
    vg_call *call = arg;

    start_deferred(call, &call->send_tag, 1, result);
}

static void on_audited_status(void *arg, vg_err result)
{
    vg_call *call = arg;

    start_deferred(call, &call->status_tag, call->ndeferred, result);
}

static void send_status(vg_call *call)
{
    grpc_op *ops = call->deferred;
    vg_server *srv = call->worker->server;
    vg_audit_ctx ctx;
    size_t n = 0;

    memset(call->deferred, 0, sizeof(call->deferred));
    if (!call->initial_md_sent) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        call->initial_md_sent = 1;
    }
    call->status_started = 1;
    if (srv->audit && atomic_load(&call->audit_failed)) {
        call->code = GRPC_STATUS_UNAVAILABLE;
        snprintf(call->message, sizeof(call->message), "audit log unavailable");
    }
    call->status_details = grpc_slice_from_copied_string(call->message);
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = call->code;
    ops[n].data.send_status_from_server.status_details = &call->status_details;
    call->ndeferred = ++n;

    if (atomic_load(&srv->stopping)) {
        /* The queues are closing: no new batch may start. The entry is written, and the
         * call ends by cancellation, which needs no queue. */
        if (srv->audit && !atomic_load(&call->audit_failed)) {
            fill_audit_ctx(call, &ctx);
            vg_audit_call(srv->audit, &ctx, call->code, (now_ns() - call->started_ns) / 1000,
                          call->rows, NULL, NULL);
        }
        grpc_call_cancel_with_status(call->call, call->code, call->message, NULL);
        call->status_done = 1;
        return;
    }
    if (srv->audit && !atomic_load(&call->audit_failed)) {
        /* The status leaves once the call's entry is durable; everything the audit thread
         * needs is prepared before it can run. */
        fill_audit_ctx(call, &ctx);
        deferred_begin(call);
        if (vg_audit_call(srv->audit, &ctx, call->code, (now_ns() - call->started_ns) / 1000,
                          call->rows, on_audited_status, call) == VG_OK)
            return;
        deferred_abandon(call);
        call->code = GRPC_STATUS_UNAVAILABLE;
        snprintf(call->message, sizeof(call->message), "audit log unavailable");
        grpc_slice_unref(call->status_details);
        call->status_details = grpc_slice_from_copied_string(call->message);
        ops[n - 1].data.send_status_from_server.status = call->code;
    }
    start_batch(call, ops, n, &call->status_tag);
}

static void process_held(vg_call *call)
{
    grpc_byte_buffer_reader reader;
    grpc_byte_buffer *buf = call->held;
    grpc_slice slice;

    call->held = NULL;
    if (!grpc_byte_buffer_reader_init(&reader, buf)) {
        grpc_byte_buffer_destroy(buf);
        vg_call_finish(call, GRPC_STATUS_INTERNAL, "request message could not be read");
        return;
    }
    slice = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    grpc_byte_buffer_destroy(buf);
    call->messages_seen = 1;
    call->method->on_message(call, GRPC_SLICE_START_PTR(slice), GRPC_SLICE_LENGTH(slice));
    grpc_slice_unref(slice);
}

/* Moves the call forward after any event: process a held request once no reply is in
 * flight, ask for the next request, and send the status once everything before it is out. */
void vg_call_advance(vg_call *call)
{
    if (!call->finishing && atomic_load(&call->worker->server->stopping))
        vg_call_finish(call, GRPC_STATUS_UNAVAILABLE, "the gateway is shutting down");
    if (!call->finishing && call->held && !call->send_pending)
        process_held(call);

    if (!call->finishing && !call->held && !call->send_pending && call->method->on_sent &&
        call->messages_seen)
        call->method->on_sent(call);

    if (!call->finishing && !call->held && !call->recv_pending && !call->half_closed &&
        (call->method->streaming || !call->messages_seen))
        post_recv(call);

    if (!call->finishing && call->half_closed && !call->held && !call->send_pending) {
        if (call->method->streaming)
            /* A stream that ends because the shutdown cut it off did not end well, and its
             * audit entry must not say so. */
            if (atomic_load(&call->worker->server->cancelling))
                vg_call_finish(call, GRPC_STATUS_UNAVAILABLE, "the gateway is shutting down");
            else
                vg_call_finish(call, GRPC_STATUS_OK, "%s", "");
        else if (!call->messages_seen)
            vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "no request message was sent");
    }

    if (call->finishing && !call->status_started && !call->send_pending)
        send_status(call);
}

void vg_call_reply_bytes(vg_call *call, const uint8_t *data, size_t len)
{
    grpc_slice slice;
    grpc_op op;

    if (refuse_when_stopping(call))
        return;
    slice = grpc_slice_from_copied_buffer((const char *)data, len);
    call->send_buf = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = call->send_buf;
    call->send_pending = 1;
    start_batch(call, &op, 1, &call->send_tag);
}

void vg_call_reply_audited(vg_call *call, const uint8_t *data, size_t len,
                           const vg_audit_subject *subjects, size_t n)
{
    vg_audit *audit = call->worker->server->audit;
    grpc_slice slice;
    vg_audit_ctx ctx;

    if (!audit) {
        vg_call_reply_bytes(call, data, len);
        return;
    }
    if (refuse_when_stopping(call))
        return;
    slice = grpc_slice_from_copied_buffer((const char *)data, len);
    call->send_buf = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    memset(call->deferred, 0, sizeof(call->deferred));
    call->deferred[0].op = GRPC_OP_SEND_MESSAGE;
    call->deferred[0].data.send_message.send_message = call->send_buf;
    call->send_pending = 1;
    fill_audit_ctx(call, &ctx);
    deferred_begin(call);
    if (vg_audit_subjects(audit, &ctx, subjects, n, on_audited_send, call) != VG_OK) {
        deferred_abandon(call);
        /* Nothing is answered unaudited. */
        grpc_byte_buffer_destroy(call->send_buf);
        call->send_buf = NULL;
        call->send_pending = 0;
        atomic_store(&call->audit_failed, 1);
        vg_call_finish(call, GRPC_STATUS_UNAVAILABLE, "audit log unavailable");
    }
}

void vg_call_answer(vg_call *call, const uint8_t *data, size_t len,
                    const vg_audit_subject *subjects, size_t n)
{
    vg_audit *audit = call->worker->server->audit;
    grpc_op *ops = call->deferred;
    grpc_slice slice;
    vg_audit_ctx ctx;
    size_t k = 0;

    if (refuse_when_stopping(call))
        return;
    slice = grpc_slice_from_copied_buffer((const char *)data, len);

    call->send_buf = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    call->finishing = 1;
    call->code = GRPC_STATUS_OK;
    call->rows = n;
    call->status_started = 1;
    call->status_details = grpc_empty_slice();
    memset(ops, 0, sizeof(call->deferred));
    if (!call->initial_md_sent) {
        ops[k++].op = GRPC_OP_SEND_INITIAL_METADATA;
        call->initial_md_sent = 1;
    }
    ops[k].op = GRPC_OP_SEND_MESSAGE;
    ops[k++].data.send_message.send_message = call->send_buf;
    ops[k].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[k].data.send_status_from_server.status = GRPC_STATUS_OK;
    ops[k++].data.send_status_from_server.status_details = &call->status_details;
    call->ndeferred = k;
    if (!audit) {
        start_batch(call, ops, k, &call->status_tag);
        return;
    }
    fill_audit_ctx(call, &ctx);
    deferred_begin(call);
    if (!atomic_load(&call->worker->server->stopping) &&
        vg_audit_answer(audit, &ctx, subjects, n, GRPC_STATUS_OK,
                        (now_ns() - call->started_ns) / 1000, n, on_audited_status, call) == VG_OK)
        return;
    deferred_abandon(call);
    /* Nothing is answered unaudited: only the status goes. */
    atomic_store(&call->audit_failed, 1);
    call->code = GRPC_STATUS_UNAVAILABLE;
    snprintf(call->message, sizeof(call->message), "audit log unavailable");
    call->status_details = grpc_slice_from_copied_string(call->message);
    ops[k - 2] = ops[k - 1];
    ops[k - 2].data.send_status_from_server.status = GRPC_STATUS_UNAVAILABLE;
    start_batch(call, ops, k - 1, &call->status_tag);
}

void vg_call_reply(vg_call *call, const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    grpc_slice slice;
    grpc_op op;

    if (refuse_when_stopping(call))
        return;
    slice = grpc_slice_malloc(len);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice));
    call->send_buf = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = call->send_buf;
    call->send_pending = 1;
    start_batch(call, &op, 1, &call->send_tag);
}

void vg_call_finish(vg_call *call, grpc_status_code code, const char *fmt, ...)
{
    va_list ap;

    if (call->finishing)
        return;
    call->finishing = 1;
    call->code = code;
    va_start(ap, fmt);
    vsnprintf(call->message, sizeof(call->message), fmt, ap);
    va_end(ap);
}

static const vg_method *find_method(const grpc_slice *path)
{
    size_t len = GRPC_SLICE_LENGTH(*path);

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strlen(methods[i]->path) == len &&
            memcmp(methods[i]->path, GRPC_SLICE_START_PTR(*path), len) == 0)
            return methods[i];
    return NULL;
}

static void start_call(vg_call *call)
{
    grpc_op op;
    size_t mlen = GRPC_SLICE_LENGTH(call->details.method);

    call->started_ns = now_ns();
    call->cfg = atomic_load(&call->worker->server->current);
    call->call_id = atomic_fetch_add(&next_call_id, 1);
    if (mlen >= sizeof(call->method_name))
        mlen = sizeof(call->method_name) - 1;
    memcpy(call->method_name, GRPC_SLICE_START_PTR(call->details.method), mlen);
    call->method_name[mlen] = '\0';
    identify(call);

    /* Knowing when the call ends (or is cancelled) needs this op from the start. */
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &call->close_cancelled;
    start_batch(call, &op, 1, &call->close_tag);

    call->method = find_method(&call->details.method);
    if (!call->method)
        /* Never log or audit a path the caller made up: it may hold anything. */
        snprintf(call->method_name, sizeof(call->method_name), "(unknown)");
    if (!call->method) {
        static const vg_method unknown = {"", 0, -1, NULL, NULL, NULL};

        call->method = &unknown;
        vg_call_finish(call, GRPC_STATUS_UNIMPLEMENTED, "no such method");
    } else if (!call->principal) {
        vg_call_finish(call, GRPC_STATUS_PERMISSION_DENIED,
                       "certificate identity is not a known principal");
    } else if (call->revoked) {
        vg_call_finish(call, GRPC_STATUS_UNAUTHENTICATED, "client certificate is revoked");
    } else if (call->method->role >= 0 && (int)call->principal->role != call->method->role) {
        vg_call_finish(call, GRPC_STATUS_PERMISSION_DENIED, "principal's role may not call %s",
                       call->method_name);
    }
    vg_call_advance(call);
}

static void on_request(vg_tag *tag, int ok)
{
    vg_call *call = (vg_call *)((char *)tag - offsetof(vg_call, request_tag));
    vg_worker *w = call->worker;

    if (!ok) {
        /* The server is shutting down: the request was never matched with a call. */
        call_free(call);
        return;
    }
    post_request(w);
    start_call(call);
}

static void post_request(vg_worker *w)
{
    vg_call *call = calloc(1, sizeof(*call));
    grpc_call_error e;

    if (!call) {
        vg_error(NULL, NULL, "out of memory posting a call request");
        return;
    }
    call->worker = w;
    call->request_tag.fn = on_request;
    call->recv_tag.fn = on_recv;
    call->send_tag.fn = on_send;
    call->status_tag.fn = on_status;
    call->close_tag.fn = on_close;
    call->status_details = grpc_empty_slice();
    grpc_call_details_init(&call->details);
    grpc_metadata_array_init(&call->request_md);
    e = grpc_server_request_call(w->server->grpc, &call->call, &call->details, &call->request_md,
                                 w->cq, w->cq, &call->request_tag);
    if (e != GRPC_CALL_OK) {
        vg_error(NULL, NULL, "request_call failed: %d", (int)e);
        call_free(call);
    }
}

/* ---- threads -------------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    vg_worker *w = arg;

    for (;;) {
        /* While GetStatus calls are gathered, only poll: once nothing else is ready they
         * are answered together, with one cache round trip. */
        gpr_timespec until =
            w->npending ? gpr_inf_past(GPR_CLOCK_MONOTONIC) : gpr_inf_future(GPR_CLOCK_MONOTONIC);
        grpc_event ev = grpc_completion_queue_next(w->cq, until, NULL);

        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            vg_query_flush(w);
            continue;
        }
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE)
            ((vg_tag *)ev.tag)->fn(ev.tag, ev.success);
    }
    return NULL;
}

static grpc_channel_args *server_args(const vg_config *cfg, grpc_arg *args)
{
    static grpc_channel_args ca;
    char *max_recv = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    char *keepalive_time = GRPC_ARG_KEEPALIVE_TIME_MS;
    char *keepalive_timeout = GRPC_ARG_KEEPALIVE_TIMEOUT_MS;
    char *handshake = GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS;

    args[0] = (grpc_arg){GRPC_ARG_INTEGER, max_recv, {.integer = (int)cfg->max_message_bytes}};
    args[1] = (grpc_arg){GRPC_ARG_INTEGER, keepalive_time, {.integer = 60000}};
    args[2] = (grpc_arg){GRPC_ARG_INTEGER, keepalive_timeout, {.integer = 20000}};
    /* A connection that never finishes its TLS handshake holds a descriptor: not for long. */
    args[3] = (grpc_arg){GRPC_ARG_INTEGER, handshake, {.integer = 5000}};
    ca.num_args = 4;
    ca.args = args;
    return &ca;
}

vg_err vg_server_start(const vg_config *cfg, vg_store *store, vg_audit *audit, vg_server **out,
                       char *why, size_t whylen)
{
    vg_server *srv = calloc(1, sizeof(*srv));
    grpc_server_credentials *creds = NULL;
    grpc_arg args[4];
    vg_err err = VG_ERR_CONFIG;

    *out = NULL;
    if (!srv)
        return VG_ERR_NOMEM;
    srv->cfg = cfg;
    srv->store = store;
    srv->audit = audit;
    srv->nworkers = cfg->threads;
    srv->workers = calloc((size_t)srv->nworkers, sizeof(*srv->workers));
    srv->threads = calloc((size_t)srv->nworkers, sizeof(*srv->threads));
    if (!srv->workers || !srv->threads) {
        err = VG_ERR_NOMEM;
        goto fail;
    }
    srv->current = cfg;
    err = vg_tls_new(cfg, &srv->tls, &creds, why, whylen);
    if (err != VG_OK)
        goto fail;
    err = VG_ERR_CONFIG;

    srv->grpc = grpc_server_create(server_args(cfg, args), NULL);
    for (int i = 0; i < srv->nworkers; i++) {
        vg_worker *w = &srv->workers[i];

        w->index = i;
        w->server = srv;
        w->cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(srv->grpc, w->cq, NULL);
        if (vg_store_reader_open(store, &w->reader) != VG_OK) {
            snprintf(why, whylen, "store reader could not be opened");
            err = VG_ERR_IO;
            goto fail;
        }
        if (cfg->cache.enabled && !(w->cache = vg_cache_new(&cfg->cache))) {
            snprintf(why, whylen, "out of memory");
            err = VG_ERR_NOMEM;
            goto fail;
        }
    }
    srv->shutdown_cq = grpc_completion_queue_create_for_pluck(NULL);
    srv->port = grpc_server_add_http2_port(srv->grpc, cfg->listen, creds);
    grpc_server_credentials_release(creds);
    creds = NULL;
    if (srv->port == 0) {
        snprintf(why, whylen, "cannot listen on %s (address in use or not local?)", cfg->listen);
        goto fail;
    }
    grpc_server_start(srv->grpc);

    for (int i = 0; i < srv->nworkers; i++) {
        for (int r = 0; r < REQUESTS_PER_QUEUE; r++)
            post_request(&srv->workers[i]);
        if (pthread_create(&srv->threads[i], NULL, worker_main, &srv->workers[i]) != 0) {
            snprintf(why, whylen, "cannot start thread %d", i);
            err = VG_ERR_IO;
            *out = srv;
            vg_server_stop(srv);
            *out = NULL;
            return err;
        }
        srv->nthreads_started++;
    }
    *out = srv;
    return VG_OK;

fail:
    if (creds)
        grpc_server_credentials_release(creds);
    vg_server_stop(srv);
    return err;
}

int vg_server_port(const vg_server *srv)
{
    return srv->port;
}

vg_audit *vg_server_audit(const vg_server *srv)
{
    return srv->audit;
}

const vg_config *vg_server_config(const vg_server *srv)
{
    return srv->cfg;
}

vg_store *vg_server_store(const vg_server *srv)
{
    return srv->store;
}

void vg_server_stop(vg_server *srv)
{
    static vg_tag shutdown_tag;

    if (!srv)
        return;
    if (srv->grpc) {
        gpr_timespec grace =
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                         gpr_time_from_millis(srv->cfg->shutdown_grace_ms, GPR_TIMESPAN));
        grpc_event ev;

        grpc_server_shutdown_and_notify(srv->grpc, srv->shutdown_cq, &shutdown_tag);
        ev = grpc_completion_queue_pluck(srv->shutdown_cq, &shutdown_tag, grace, NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            vg_warn(NULL, NULL, "calls still running after %d ms: cancelling them",
                    srv->cfg->shutdown_grace_ms);
            atomic_store(&srv->cancelling, 1);
            grpc_server_cancel_all_calls(srv->grpc);
            grpc_completion_queue_pluck(srv->shutdown_cq, &shutdown_tag,
                                        gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        }
        /* Batches still waiting for the audit must reach their queues before the queues
         * shut down: the audit writer releases them within one sync. */
        atomic_store(&srv->stopping, 1);
        for (int waited = 0, quiet = 0; quiet < 20 && waited < 10000; waited++) {
            quiet = atomic_load(&srv->deferred) > 0 ? 0 : quiet + 1;
            usleep(1000);
        }
        grpc_server_destroy(srv->grpc);
    }
    for (int i = 0; i < srv->nworkers; i++)
        if (srv->workers[i].cq)
            grpc_completion_queue_shutdown(srv->workers[i].cq);
    for (int i = 0; i < srv->nthreads_started; i++)
        pthread_join(srv->threads[i], NULL);
    for (int i = 0; i < srv->nworkers; i++) {
        vg_worker *w = &srv->workers[i];

        if (w->cq && i >= srv->nthreads_started) {
            /* Never served: drain it here. */
            worker_main(w);
        }
        if (w->cq)
            grpc_completion_queue_destroy(w->cq);
        vg_store_reader_close(w->reader);
        vg_cache_free(w->cache);
        if (w->scratch_free)
            w->scratch_free(w->scratch);
        free(w->pending);
    }
    if (srv->shutdown_cq) {
        grpc_completion_queue_shutdown(srv->shutdown_cq);
        grpc_completion_queue_destroy(srv->shutdown_cq);
    }
    vg_tls_free(srv->tls);
    free(srv->workers);
    free(srv->threads);
    free(srv);
}

vg_err vg_server_reload(vg_server *srv, const vg_config *cfg, char *why, size_t whylen)
{
    vg_err err = vg_tls_reload(srv->tls, cfg, why, whylen);

    if (err != VG_OK)
        return err;
    /* Calls already running keep the config they started with. */
    atomic_store(&srv->current, cfg);
    return VG_OK;
}
