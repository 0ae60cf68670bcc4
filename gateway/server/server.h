/* server.h - the gRPC server: mutual TLS, completion-queue threads, and the call machinery
 * the method handlers are written against. The only code (with main.c) that includes the
 * gRPC core headers. */
#ifndef VG_SERVER_H
#define VG_SERVER_H

#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

#include "vg_audit.h"
#include "vg_buf.h"
#include "vg_cache.h"
#include "vg_config.h"
#include "vg_err.h"
#include "tls.h"
#include "vg_store.h"

typedef struct vg_server vg_server;
typedef struct vg_worker vg_worker;
typedef struct vg_call vg_call;

/* A completion-queue event target: every tag handed to the core starts with one. */
typedef struct vg_tag {
    void (*fn)(struct vg_tag *tag, int ok);
} vg_tag;

/* One thread draining one completion queue, with its own store reader. */
struct vg_worker {
    int index;
    vg_server *server;
    grpc_completion_queue *cq;
    vg_store_reader *reader;
    vg_cache *cache; /* NULL when the cache is off */
    vg_tls_verdicts verdicts;
    vg_call **pending; /* GetStatus calls waiting to be answered together */
    size_t npending, cap_pending;
    void *scratch; /* per-thread buffers of the query handlers */
    void (*scratch_free)(void *scratch);
};

/* A method the gateway serves. */
typedef struct vg_method {
    const char *path; /* "/vitalgate.v1.Query/GetStatus" */
    int streaming;    /* 1: bidirectional stream of request and reply messages */
    int role;         /* vg_role allowed to call it; -1: any known principal */
    /* Handles one request message (the bytes are valid during the call only). Must call
     * vg_call_reply at most once and/or vg_call_finish. */
    void (*on_message)(vg_call *call, const uint8_t *data, size_t len);
    /* Frees call->state; may be NULL. */
    void (*on_free)(vg_call *call);
    /* For server-streaming methods: called when a reply has been sent and no request
     * message is waiting; may queue the next reply or finish. NULL for the others. */
    void (*on_sent)(vg_call *call);
} vg_method;

struct vg_call {
    vg_worker *worker;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array request_md;
    const vg_method *method;
    const vg_config *cfg;          /* the config in force when the call started */
    const vg_principal *principal; /* NULL: unknown principal */
    char peer_name[128];           /* certificate identity, for logs and audit */
    char peer_addr[96];
    char method_name[96];

    vg_tag request_tag, recv_tag, send_tag, status_tag, close_tag;
    grpc_byte_buffer *recv_buf;
    grpc_byte_buffer *held; /* received, waiting for the send in flight */
    grpc_byte_buffer *send_buf;
    int close_cancelled;
    int revoked;

    unsigned recv_pending : 1, send_pending : 1, status_started : 1, status_done : 1,
        close_done : 1, half_closed : 1, finishing : 1, initial_md_sent : 1, messages_seen : 1;

    grpc_status_code code;
    char message[256];
    char purpose[64]; /* as the request declared it, for the audit */
    uint64_t call_id;
    grpc_op deferred[3]; /* a batch waiting for its audit entries to be durable */
    size_t ndeferred;
    grpc_slice status_details;
    _Atomic int audit_failed; /* set by the audit thread before it completes the batch */
    int64_t started_ns;
    uint64_t rows; /* rows or records answered, for logs */
    void *state;   /* handler state, freed by method->on_free */
};

/* Creates and starts the server: loads the TLS files named in cfg, binds cfg->listen (port
 * 0: a free port) and starts cfg->threads completion-queue threads, each with its own store
 * reader and cache connection. audit may be NULL (no audit log: for measuring its cost
 * only). On error returns a code with a reason in why. The caller owns *out and stops it
 * with vg_server_stop before closing the store and the audit log. */
vg_err vg_server_start(const vg_config *cfg, vg_store *store, vg_audit *audit, vg_server **out,
                       char *why, size_t whylen);

/* Puts cfg in force for calls that start from now on: its CRL, principals and purposes
 * (listen address, store, cache and audit settings need a restart). Checks the TLS files
 * first; on error nothing changes and why says what is wrong. cfg must stay alive until
 * the server is stopped. Main thread. */
vg_err vg_server_reload(vg_server *srv, const vg_config *cfg, char *why, size_t whylen);

/* The port actually bound. */
int vg_server_port(const vg_server *srv);

/* Stops accepting calls, lets in-flight calls finish for up to cfg->shutdown_grace_ms,
 * cancels what remains, joins the threads and frees everything. NULL is fine. Call from
 * the thread that started it. */
void vg_server_stop(vg_server *srv);

/* The server's config and store, for handlers. */
const vg_config *vg_server_config(const vg_server *srv);
vg_store *vg_server_store(const vg_server *srv);
vg_audit *vg_server_audit(const vg_server *srv); /* NULL when the audit is off */

/* Queues one reply message packed from msg. At most one reply per on_message. On failure
 * to pack, finishes the call with INTERNAL. Worker thread of the call only. */
void vg_call_reply(vg_call *call, const ProtobufCMessage *msg);

/* Queues one reply of already-packed bytes (the buffer's bytes are copied). */
void vg_call_reply_bytes(vg_call *call, const uint8_t *data, size_t len);

/* Queues one reply that answers about people: it is sent only once their audit entries
 * are durable; when they cannot be written the call fails with UNAVAILABLE and nothing of
 * the reply leaves. Worker thread of the call only. */
void vg_call_reply_audited(vg_call *call, const uint8_t *data, size_t len,
                           const vg_audit_subject *subjects, size_t n);

/* Answers a unary call about people: the reply and an OK status leave in one batch once
 * the subject entries and the call entry are durable (one audit hand-over per call). When
 * they cannot be written the call fails with UNAVAILABLE and nothing is sent. Worker
 * thread of the call only; the call must have no reply in flight. */
void vg_call_answer(vg_call *call, const uint8_t *data, size_t len,
                    const vg_audit_subject *subjects, size_t n);

/* Moves a call on after its handler acted outside an event of its own (a batch answered
 * by the worker): sends the status of a call that finished. Worker thread of the call. */
void vg_call_advance(vg_call *call);

/* Answers the GetStatus calls the worker has gathered (query.c). Worker thread only. */
void vg_query_flush(vg_worker *w);

/* Ends the call with a status once the reply in flight is sent. The message is for the
 * client (no personal data). Worker thread of the call only. */
void vg_call_finish(vg_call *call, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The methods, defined beside their handlers. */
extern const vg_method vg_method_push;
extern const vg_method vg_method_get_status;
extern const vg_method vg_method_match;
extern const vg_method vg_method_health;
extern const vg_method vg_method_audit_list;

#endif
