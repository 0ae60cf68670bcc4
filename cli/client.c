/* client.c - vitalctl's gRPC client on the gRPC core. */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

struct vc_client {
    grpc_channel *channel;
    grpc_completion_queue *cq;
    int timeout_ms;
};

static char *read_pem(const char *path, char *why, size_t whylen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) != NULL) {
        if (fread(buf, 1, (size_t)n, f) == (size_t)n) {
            buf[n] = '\0';
        } else {
            free(buf);
            buf = NULL;
        }
    }
    if (!buf)
        snprintf(why, whylen, "%s: cannot read", path);
    fclose(f);
    return buf;
}

vc_client *vc_client_open(const vc_options *opt, char *why, size_t whylen)
{
    vc_client *c = calloc(1, sizeof(*c));
    char *ca = read_pem(opt->ca, why, whylen);
    char *cert = ca && opt->cert ? read_pem(opt->cert, why, whylen) : NULL;
    char *key = cert ? read_pem(opt->key, why, whylen) : NULL;
    grpc_ssl_pem_key_cert_pair pair = {key, cert};
    grpc_channel_credentials *creds;
    grpc_arg arg;
    grpc_channel_args args;

    if (!c || !ca || (opt->cert && !key)) {
        if (!c)
            snprintf(why, whylen, "out of memory");
        free(c);
        c = NULL;
        goto out;
    }
    creds = grpc_ssl_credentials_create_ex(ca, opt->cert ? &pair : NULL, NULL, NULL);
    arg.type = GRPC_ARG_INTEGER;
    arg.key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    arg.value.integer = 64 << 20;
    args.num_args = 1;
    args.args = &arg;
    c->channel = grpc_channel_create(opt->target, creds, &args);
    grpc_channel_credentials_release(creds);
    c->cq = grpc_completion_queue_create_for_next(NULL);
    c->timeout_ms = opt->timeout_ms;
out:
    free(ca);
    free(cert);
    free(key);
    return c;
}

void vc_client_close(vc_client *c)
{
    if (!c)
        return;
    grpc_channel_destroy(c->channel);
    grpc_completion_queue_shutdown(c->cq);
    while (grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(c->cq);
    free(c);
}

static grpc_call *new_call(vc_client *c, const char *method)
{
    grpc_slice m = grpc_slice_from_static_string(method);
    gpr_timespec deadline = gpr_inf_future(GPR_CLOCK_REALTIME);
    grpc_call *call;

    if (c->timeout_ms > 0)
        deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                gpr_time_from_millis(c->timeout_ms, GPR_TIMESPAN));
    call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq, m, NULL,
                                    deadline, NULL);
    grpc_slice_unref(m);
    return call;
}

static grpc_byte_buffer *wrap(const uint8_t *data, size_t len)
{
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);

    grpc_slice_unref(s);
    return bb;
}

static void unwrap(grpc_byte_buffer *bb, vg_buf *out)
{
    grpc_byte_buffer_reader r;
    grpc_slice s;

    vg_buf_reset(out);
    if (!grpc_byte_buffer_reader_init(&r, bb))
        return;
    s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    if (vg_buf_append(out, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s)) != VG_OK)
        vg_buf_reset(out);
    grpc_slice_unref(s);
}

/* Waits for the event of one tag; other tags of the queue are not expected here. */
static int wait_tag(vc_client *c, void *tag)
{
    grpc_event ev;

    do {
        ev = grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    } while (ev.type == GRPC_OP_COMPLETE && ev.tag != tag);
    return ev.type == GRPC_OP_COMPLETE && ev.success;
}

static void copy_details(grpc_slice details, vc_status *st)
{
    size_t n = GRPC_SLICE_LENGTH(details);

    if (n >= sizeof(st->details))
        n = sizeof(st->details) - 1;
    memcpy(st->details, GRPC_SLICE_START_PTR(details), n);
    st->details[n] = '\0';
}

void vc_unary(vc_client *c, const char *method, const uint8_t *req, size_t len, vg_buf *resp,
              vc_status *st)
{
    grpc_call *call = new_call(c, method);
    grpc_byte_buffer *send = wrap(req, len), *recv = NULL;
    grpc_metadata_array md_initial, md_trailing;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[6];
    int tag;

    grpc_metadata_array_init(&md_initial);
    grpc_metadata_array_init(&md_trailing);
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &md_initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &md_trailing;
    ops[5].data.recv_status_on_client.status = &st->code;
    ops[5].data.recv_status_on_client.status_details = &details;
    st->code = GRPC_STATUS_UNKNOWN;
    if (grpc_call_start_batch(call, ops, 6, &tag, NULL) == GRPC_CALL_OK)
        wait_tag(c, &tag);
    copy_details(details, st);
    vg_buf_reset(resp);
    if (recv) {
        unwrap(recv, resp);
        grpc_byte_buffer_destroy(recv);
    }
    grpc_slice_unref(details);
    grpc_byte_buffer_destroy(send);
    grpc_metadata_array_destroy(&md_initial);
    grpc_metadata_array_destroy(&md_trailing);
    grpc_call_unref(call);
}

/* Tags of a stream's operations. */
enum { TAG_START, TAG_SEND, TAG_RECV, TAG_CLOSE, TAG_STATUS, TAG_COUNT };

void vc_stream(vc_client *c, const char *method, const vc_stream_io *io, vc_status *st)
{
    grpc_call *call = new_call(c, method);
    grpc_metadata_array md_initial, md_trailing;
    grpc_slice details = grpc_empty_slice();
    grpc_byte_buffer *send = NULL, *recv = NULL;
    static char tags[TAG_COUNT];
    int send_pending = 0, recv_pending = 0, close_state = 0, input_done = 0, status_done = 0;
    int start_pending = 1, outstanding = 0, stopped = 0, replies_done = 0;
    vg_buf msg = {0}, reply = {0};
    grpc_op ops[2];

    grpc_metadata_array_init(&md_initial);
    grpc_metadata_array_init(&md_trailing);
    st->code = GRPC_STATUS_UNKNOWN;

    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = &md_initial;
    grpc_call_start_batch(call, ops, 2, &tags[TAG_START], NULL);
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &md_trailing;
    ops[0].data.recv_status_on_client.status = &st->code;
    ops[0].data.recv_status_on_client.status_details = &details;
    grpc_call_start_batch(call, ops, 1, &tags[TAG_STATUS], NULL);

    while (!status_done || send_pending || recv_pending || start_pending || close_state == 1) {
        grpc_event ev;

        if (!stopped && !send_pending && !input_done && outstanding < io->window) {
            int more = io->next_request(io->ctx, &msg);

            if (more < 0) {
                stopped = 1;
                grpc_call_cancel(call, NULL);
            } else if (more == 0) {
                input_done = 1;
            } else {
                memset(ops, 0, sizeof(ops));
                send = wrap(msg.data, msg.len);
                ops[0].op = GRPC_OP_SEND_MESSAGE;
                ops[0].data.send_message.send_message = send;
                send_pending = 1;
                outstanding++;
                grpc_call_start_batch(call, ops, 1, &tags[TAG_SEND], NULL);
                continue;
            }
        }
        if (!stopped && input_done && !send_pending && close_state == 0) {
            memset(ops, 0, sizeof(ops));
            ops[0].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
            close_state = 1;
            grpc_call_start_batch(call, ops, 1, &tags[TAG_CLOSE], NULL);
        }
        if (!recv_pending && !status_done && !replies_done) {
            memset(ops, 0, sizeof(ops));
            ops[0].op = GRPC_OP_RECV_MESSAGE;
            ops[0].data.recv_message.recv_message = &recv;
            recv_pending = 1;
            grpc_call_start_batch(call, ops, 1, &tags[TAG_RECV], NULL);
        }

        ev = grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type != GRPC_OP_COMPLETE)
            break;
        if (ev.tag == &tags[TAG_START]) {
            start_pending = 0;
        } else if (ev.tag == &tags[TAG_SEND]) {
            send_pending = 0;
            grpc_byte_buffer_destroy(send);
            send = NULL;
            if (!ev.success)
                input_done = 1; /* the call is over; the status says why */
        } else if (ev.tag == &tags[TAG_CLOSE]) {
            close_state = 2;
        } else if (ev.tag == &tags[TAG_RECV]) {
            recv_pending = 0;
            if (ev.success && recv) {
                unwrap(recv, &reply);
                grpc_byte_buffer_destroy(recv);
                recv = NULL;
                outstanding--;
                if (!stopped && io->on_reply(io->ctx, reply.data, reply.len) != 0) {
                    stopped = 1;
                    grpc_call_cancel(call, NULL);
                }
            } else {
                replies_done = 1;
                input_done = 1;
            }
        } else if (ev.tag == &tags[TAG_STATUS]) {
            status_done = 1;
            input_done = 1;
        }
    }
    copy_details(details, st);
    if (stopped && st->code == GRPC_STATUS_OK)
        st->code = GRPC_STATUS_CANCELLED;
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&md_initial);
    grpc_metadata_array_destroy(&md_trailing);
    vg_buf_free(&msg);
    vg_buf_free(&reply);
    grpc_call_unref(call);
}
