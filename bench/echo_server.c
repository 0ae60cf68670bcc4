/* echo_server.c - the benchmark's baseline: a bare mutual-TLS echo server on the gRPC core.
 *
 * It does what the gateway's server does for a unary call and nothing else: the same TLS
 * credentials (client certificate required and verified), one thread draining one
 * completion queue, generic request_call with requests kept posted, and three batches per
 * call: close; initial metadata + receive; reply + status. The request bytes of any method
 * are sent back as the reply. What the gateway costs beyond this is its own work:
 * identity, decoding, the store, the cache, the audit log.
 *
 * usage: bench_echo_server --ca FILE --cert FILE --key FILE [--listen HOST:PORT] [--split]
 * --split sends the reply and the status in two batches, one after the other, to show what
 * that costs. Prints "listening on HOST:PORT" on stderr once serving; stops on SIGTERM or
 * SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#define REQUESTS_POSTED 32 /* as the gateway keeps per queue */

typedef struct echo_call echo_call;

/* A completion-queue target: the tag handed to the core is the address of one. */
typedef struct tag {
    void (*fn)(echo_call *call, int ok);
    echo_call *call;
} tag;

struct echo_call {
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array request_md;
    grpc_byte_buffer *recv_buf;
    grpc_byte_buffer *send_buf;
    int cancelled;
    int pending; /* batches started and not yet completed */
    tag request_tag, close_tag, recv_tag, send_tag, status_tag;
};

static grpc_server *server;
static grpc_completion_queue *cq;
static atomic_int shutting_down;
static atomic_int live_calls; /* allocated and not yet freed, requests included */
static int split;             /* --split: reply and status in two batches */

static void post_request(void);

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f) {
        fprintf(stderr, "echo_server: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = '\0';
out:
    if (!buf)
        fprintf(stderr, "echo_server: %s: cannot read\n", path);
    fclose(f);
    return buf;
}

static grpc_server_credentials *make_credentials(const char *ca_path, const char *cert_path,
                                                 const char *key_path)
{
    grpc_server_credentials *creds = NULL;
    grpc_ssl_pem_key_cert_pair pair;
    char *ca = read_file(ca_path);
    char *cert = ca ? read_file(cert_path) : NULL;
    char *key = cert ? read_file(key_path) : NULL;

    if (!key)
        goto out;
    pair.private_key = key;
    pair.cert_chain = cert;

    /* The gateway's chain of calls; each step owns what the previous one made. */
    grpc_ssl_server_certificate_config *certcfg =
        grpc_ssl_server_certificate_config_create(ca, &pair, 1);
    grpc_ssl_server_credentials_options *opts =
        grpc_ssl_server_credentials_create_options_using_config(
            GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY, certcfg);
    creds = grpc_ssl_server_credentials_create_with_options(opts);
out:
    free(ca);
    free(cert);
    free(key);
    return creds;
}

static void call_free(echo_call *c)
{
    if (c->recv_buf)
        grpc_byte_buffer_destroy(c->recv_buf);
    if (c->send_buf)
        grpc_byte_buffer_destroy(c->send_buf);
    if (c->call)
        grpc_call_unref(c->call);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->request_md);
    free(c);
    atomic_fetch_sub(&live_calls, 1);
}

static void start_batch(echo_call *c, const grpc_op *ops, size_t n, tag *t)
{
    c->pending++;
    if (grpc_call_start_batch(c->call, ops, n, t, NULL) != GRPC_CALL_OK) {
        fprintf(stderr, "echo_server: start_batch failed\n");
        grpc_call_cancel(c->call, NULL);
        c->pending--;
    }
}

static void done_one(echo_call *c)
{
    if (--c->pending == 0)
        call_free(c);
}

static void send_status(echo_call *c, grpc_status_code code)
{
    grpc_op op;

    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    op.data.send_status_from_server.status = code;
    start_batch(c, &op, 1, &c->status_tag);
}

static void on_status(echo_call *c, int ok)
{
    (void)ok;
    done_one(c);
}

static void on_send(echo_call *c, int ok)
{
    grpc_byte_buffer_destroy(c->send_buf);
    c->send_buf = NULL;
    send_status(c, ok ? GRPC_STATUS_OK : GRPC_STATUS_CANCELLED);
    done_one(c);
}

static void on_recv(echo_call *c, int ok)
{
    grpc_byte_buffer_reader reader;
    grpc_slice slice;
    grpc_op ops[2];

    if (!ok || !c->recv_buf || !grpc_byte_buffer_reader_init(&reader, c->recv_buf)) {
        send_status(c, ok ? GRPC_STATUS_INVALID_ARGUMENT : GRPC_STATUS_CANCELLED);
        done_one(c);
        return;
    }

    /* Read and copy the bytes as the gateway does before decoding them. */
    slice = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    grpc_byte_buffer_destroy(c->recv_buf);
    c->recv_buf = NULL;
    c->send_buf = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);

    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_MESSAGE;
    ops[0].data.send_message.send_message = c->send_buf;
    if (split) {
        start_batch(c, ops, 1, &c->send_tag); /* on_send sends the status */
    } else {
        ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[1].data.send_status_from_server.status = GRPC_STATUS_OK;
        start_batch(c, ops, 2, &c->status_tag);
    }
    done_one(c);
}

static void on_close(echo_call *c, int ok)
{
    (void)ok;
    done_one(c);
}

static void on_request(echo_call *c, int ok)
{
    grpc_op ops[2];

    if (!ok) {
        call_free(c); /* shutting down: never matched with a call */
        return;
    }
    if (!shutting_down)
        post_request();

    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[0].data.recv_close_on_server.cancelled = &c->cancelled;
    start_batch(c, ops, 1, &c->close_tag);

    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_MESSAGE;
    ops[1].data.recv_message.recv_message = &c->recv_buf;
    start_batch(c, ops, 2, &c->recv_tag);
}

static void post_request(void)
{
    echo_call *c = calloc(1, sizeof(*c));

    if (!c) {
        fprintf(stderr, "echo_server: out of memory\n");
        return;
    }
    atomic_fetch_add(&live_calls, 1);
    c->request_tag = (tag){on_request, c};
    c->close_tag = (tag){on_close, c};
    c->recv_tag = (tag){on_recv, c};
    c->send_tag = (tag){on_send, c};
    c->status_tag = (tag){on_status, c};
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->request_md);
    if (grpc_server_request_call(server, &c->call, &c->details, &c->request_md, cq, cq,
                                 &c->request_tag) != GRPC_CALL_OK) {
        fprintf(stderr, "echo_server: request_call failed\n");
        call_free(c);
    }
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);

        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE) {
            tag *t = ev.tag;

            t->fn(t->call, ev.success);
        }
    }
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_echo_server --ca FILE --cert FILE --key FILE "
               "[--listen HOST:PORT] [--split]\n"
               "Echoes the request message of any unary method over mutual TLS.\n"
               "--split: send the reply and the status in two batches.\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"ca", required_argument, NULL, 'a'},
                                             {"cert", required_argument, NULL, 'c'},
                                             {"key", required_argument, NULL, 'k'},
                                             {"listen", required_argument, NULL, 'l'},
                                             {"split", no_argument, NULL, 's'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *ca = NULL, *cert = NULL, *key = NULL, *listen = "127.0.0.1:0";
    grpc_server_credentials *creds;
    grpc_completion_queue *shutdown_cq;
    sigset_t stop;
    pthread_t thread;
    int opt, port, sig = 0;
    char host[256];
    const char *colon;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'a':
            ca = optarg;
            break;
        case 'c':
            cert = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 's':
            split = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    colon = strrchr(listen, ':');
    if (!ca || !cert || !key || optind != argc || !colon || colon - listen >= (long)sizeof(host)) {
        usage(stderr);
        return 2;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);

    /* Signals go to sigwait on this thread only: block them before any thread starts. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    grpc_init();
    creds = make_credentials(ca, cert, key);
    if (!creds) {
        grpc_shutdown();
        return 1;
    }
    server = grpc_server_create(NULL, NULL);
    cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(server, cq, NULL);
    port = grpc_server_add_http2_port(server, listen, creds);
    grpc_server_credentials_release(creds);
    if (port == 0) {
        fprintf(stderr, "echo_server: cannot listen on %s\n", listen);
        grpc_server_destroy(server);
        grpc_completion_queue_destroy(cq);
        grpc_shutdown();
        return 1;
    }
    grpc_server_start(server);
    for (int i = 0; i < REQUESTS_POSTED; i++)
        post_request();
    if (pthread_create(&thread, NULL, serve, NULL) != 0) {
        fprintf(stderr, "echo_server: cannot start the serving thread\n");
        return 1;
    }
    fprintf(stderr, "listening on %s:%d\n", host, port);

    while (sigwait(&stop, &sig) != 0)
        ;
    shutting_down = 1;
    shutdown_cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_server_shutdown_and_notify(server, shutdown_cq, &shutdown_cq);
    grpc_server_cancel_all_calls(server);
    grpc_completion_queue_pluck(shutdown_cq, &shutdown_cq, gpr_inf_future(GPR_CLOCK_MONOTONIC),
                                NULL);
    grpc_server_destroy(server);

    /* A batch started on a queue already shut down aborts the process: let the serving
     * thread finish every cancelled call first (they end at once; 10 s at most). */
    for (int i = 0; i < 1000 && atomic_load(&live_calls) > 0; i++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    grpc_completion_queue_shutdown(cq);
    pthread_join(thread, NULL);
    grpc_completion_queue_destroy(cq);
    grpc_completion_queue_shutdown(shutdown_cq);
    grpc_completion_queue_destroy(shutdown_cq);
    grpc_shutdown();
    return 0;
}
