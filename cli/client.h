/* client.h - vitalctl's gRPC client: a mutual-TLS channel, unary calls and bidirectional
 * streams driven with a bounded window of messages in flight. */
#ifndef VC_CLIENT_H
#define VC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

#include "vg_buf.h"

typedef struct vc_client vc_client;

typedef struct vc_options {
    const char *target; /* HOST:PORT */
    const char *ca;     /* CA certificate (PEM) the server's certificate must chain to */
    const char *cert;   /* client certificate (PEM) */
    const char *key;    /* client private key (PEM) */
    int timeout_ms;     /* deadline of each call; 0: none */
} vc_options;

/* The outcome of a call: its status code and the server's message. */
typedef struct vc_status {
    grpc_status_code code;
    char details[512];
} vc_status;

/* Opens a channel. Returns NULL with a reason in why (a file that cannot be read). */
vc_client *vc_client_open(const vc_options *opt, char *why, size_t whylen);

/* Closes the channel; NULL is fine. */
void vc_client_close(vc_client *c);

/* Makes one unary call: sends req, fills resp with the reply bytes on OK. */
void vc_unary(vc_client *c, const char *method, const uint8_t *req, size_t len, vg_buf *resp,
              vc_status *st);

/* A bidirectional stream's two sides, supplied by the command. */
typedef struct vc_stream_io {
    /* Fills out with the next request message; returns 1 when there is one, 0 at the end
     * of input, -1 on an input error (the stream is then cancelled). */
    int (*next_request)(void *ctx, vg_buf *out);
    /* Handles one reply; returns 0, or -1 to cancel the stream. */
    int (*on_reply)(void *ctx, const uint8_t *data, size_t len);
    void *ctx;
    int window; /* request messages in flight without a reply, at most */
} vc_stream_io;

/* Runs a bidirectional stream to its end: requests are sent while fewer than io->window
 * are unanswered, replies handed to io->on_reply in order. st holds the final status
 * (CANCELLED when a callback stopped it). */
void vc_stream(vc_client *c, const char *method, const vc_stream_io *io, vc_status *st);

#endif
