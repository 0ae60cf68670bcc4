/* loadgen.c - the benchmark's load generator, a client on the gRPC core with mutual TLS.
 *
 * Modes:
 *   unary          keeps --concurrency calls of one unary method in flight on one
 *                  completion queue for --warmup then --duration seconds; reports calls/s,
 *                  latency percentiles and non-OK statuses by code.
 *   match          streams a beneficiary list (CSV, or pre-made MatchRequest messages)
 *                  through Query.Match with --window messages in flight; rows/s, seconds.
 *   prepare-status writes StatusRequest messages, one per beneficiary, to a file.
 *   prepare-match  writes MatchRequest messages of --batch-rows rows each to a file.
 * Request files hold either the bytes of one message or, with --framed, many messages each
 * preceded by its length (4 bytes, big-endian), used in turn.
 *
 * With --pid PID, the server process's CPU time over the measured window (utime + stime
 * from /proc/PID/stat) per call or row, and its peak resident set (VmHWM), are reported.
 * Figures go to stdout as text, or as one JSON object with --json. Unary calls still
 * unanswered --drain seconds (default 5) after the window are cancelled and reported as
 * unfinished. Exit 0 when every call ended OK, 3 when some did not, none ended or some were
 * left unfinished (the figures are still printed), 1 on failure to run. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <jansson.h>

#include "vg_buf.h"
#include "vg_csv.h"
#include "vitalgate.pb-c.h"

#define COL_ID      "公民身份号码"
#define COL_NAME    "姓名"
#define NCODES      17 /* gRPC status codes 0..16 */
#define EXIT_ERRORS 3

/* ---- options --------------------------------------------------------------------------- */

typedef enum mode { MODE_UNARY, MODE_MATCH, MODE_PREPARE_STATUS, MODE_PREPARE_MATCH } mode;

typedef struct options {
    mode mode;
    const char *target, *ca, *cert, *key;
    const char *method;
    const char *request_file;
    int framed;
    const char *csv;
    const char *out;
    long rows;      /* first N rows of the CSV; 0: all */
    int batch_rows; /* rows per MatchRequest */
    int window;     /* Match messages in flight */
    const char *purpose, *as_of;
    int no_name;
    int concurrency;
    int channels;
    double duration, warmup, repeat_for;
    long count; /* unary: exactly this many calls (no time limit) */
    double deadline_s;
    double drain_s; /* unary: how long calls may outlive the window before being cancelled */
    int pid;
    int json;
} options;

/* ---- small helpers --------------------------------------------------------------------- */

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *code_name(int code)
{
    static const char *const names[NCODES] = {"OK",
                                              "CANCELLED",
                                              "UNKNOWN",
                                              "INVALID_ARGUMENT",
                                              "DEADLINE_EXCEEDED",
                                              "NOT_FOUND",
                                              "ALREADY_EXISTS",
                                              "PERMISSION_DENIED",
                                              "RESOURCE_EXHAUSTED",
                                              "FAILED_PRECONDITION",
                                              "ABORTED",
                                              "OUT_OF_RANGE",
                                              "UNIMPLEMENTED",
                                              "INTERNAL",
                                              "UNAVAILABLE",
                                              "DATA_LOSS",
                                              "UNAUTHENTICATED"};

    return code >= 0 && code < NCODES ? names[code] : "UNKNOWN";
}

static char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f) {
        fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
out:
    if (!buf)
        fprintf(stderr, "loadgen: %s: cannot read\n", path);
    fclose(f);
    return buf;
}

/* ---- the server process, from /proc ---------------------------------------------------- */

/* utime + stime of the process in seconds, or -1. */
static double proc_cpu_seconds(int pid)
{
    char path[64], buf[1024];
    unsigned long long utime, stime;
    FILE *f;
    size_t n;
    char *p;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (!(f = fopen(path, "r")))
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';

    /* The command name is in parentheses and may hold spaces: count fields after it. */
    p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    for (int field = 3; field < 14; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return -1;
    }
    if (sscanf(p, " %llu %llu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* A "NAME:   N kB" line of /proc/PID/status in MiB, or -1. */
static double proc_status_mib(int pid, const char *name)
{
    char path[64], line[256];
    size_t len = strlen(name);
    double mib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, name, len) == 0 && line[len] == ':') {
            mib = strtod(line + len + 1, NULL) / 1024.0;
            break;
        }
    }
    fclose(f);
    return mib;
}

/* ---- latency histogram: 64 linear steps per power of two (error under 1.6 %) ------------ */

#define HIST_SUB     64
#define HIST_BUCKETS (HIST_SUB * 40)

typedef struct histogram {
    uint64_t n[HIST_BUCKETS];
    uint64_t count;
    int64_t max_ns;
    double sum_ns;
} histogram;

static int bucket_of(int64_t v)
{
    int msb, shift;

    if (v < HIST_SUB)
        return v < 0 ? 0 : (int)v;
    msb = 63 - __builtin_clzll((unsigned long long)v);
    shift = msb - 6; /* v >> shift is in [64, 128) */
    if (shift + 1 >= HIST_BUCKETS / HIST_SUB)
        return HIST_BUCKETS - 1;
    return HIST_SUB * (shift + 1) + (int)((v >> shift) - HIST_SUB);
}

/* The middle of a bucket's range, in ns. */
static double bucket_value(int b)
{
    int shift, sub;

    if (b < HIST_SUB)
        return b;
    shift = b / HIST_SUB - 1;
    sub = b % HIST_SUB + HIST_SUB;
    return ((double)sub + 0.5) * (double)(1LL << shift);
}

static void hist_add(histogram *h, int64_t ns)
{
    h->n[bucket_of(ns)]++;
    h->count++;
    h->sum_ns += (double)ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

/* The q-quantile (0..1) in milliseconds; 0 when empty. */
static double hist_quantile_ms(const histogram *h, double q)
{
    uint64_t want, seen = 0;

    if (!h->count)
        return 0;
    want = (uint64_t)ceil(q * (double)h->count);
    if (want < 1)
        want = 1;
    for (int b = 0; b < HIST_BUCKETS; b++) {
        seen += h->n[b];
        if (seen >= want) {
            double v = bucket_value(b);

            return (v > (double)h->max_ns ? (double)h->max_ns : v) / 1e6;
        }
    }
    return (double)h->max_ns / 1e6;
}

/* ---- request messages ------------------------------------------------------------------ */

typedef struct messages {
    grpc_slice *slices;
    size_t n, cap;
    uint64_t rows; /* Match: rows in all messages */
} messages;

static int messages_add(messages *m, const void *data, size_t len)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 1024;
        grpc_slice *p = realloc(m->slices, cap * sizeof(*p));

        if (!p)
            return -1;
        m->slices = p;
        m->cap = cap;
    }
    m->slices[m->n++] = grpc_slice_from_copied_buffer(data, len);
    return 0;
}

static void messages_free(messages *m)
{
    for (size_t i = 0; i < m->n; i++)
        grpc_slice_unref(m->slices[i]);
    free(m->slices);
    memset(m, 0, sizeof(*m));
}

/* Reads a request file: one message, or length-prefixed messages when framed. */
static int messages_load(messages *m, const char *path, int framed)
{
    size_t len = 0, pos = 0;
    char *data = read_whole(path, &len);
    int rc = -1;

    if (!data)
        return -1;
    if (!framed) {
        rc = messages_add(m, data, len);
        goto out;
    }
    while (pos < len) {
        const unsigned char *p = (const unsigned char *)data + pos;
        size_t n;

        if (len - pos < 4)
            break;
        n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
        if (n > len - pos - 4)
            break;
        if (messages_add(m, p + 4, n) != 0)
            goto out;
        pos += 4 + n;
    }
    if (pos != len) {
        fprintf(stderr, "loadgen: %s: not a file of length-prefixed messages\n", path);
        goto out;
    }
    rc = m->n ? 0 : -1;
    if (rc)
        fprintf(stderr, "loadgen: %s: no messages in it\n", path);
out:
    free(data);
    return rc;
}

static int write_framed(FILE *f, const uint8_t *data, size_t len)
{
    unsigned char head[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
                             (unsigned char)(len >> 8), (unsigned char)len};

    return fwrite(head, 1, 4, f) == 4 && fwrite(data, 1, len, f) == len ? 0 : -1;
}

/* Appends one packed message. */
static int pack_into(const ProtobufCMessage *msg, vg_buf *out)
{
    vg_buf_reset(out);
    if (vg_buf_reserve(out, protobuf_c_message_get_packed_size(msg)) != VG_OK)
        return -1;
    out->len = protobuf_c_message_pack(msg, out->data);
    return 0;
}

/* The beneficiary rows of a CSV: ID number and name, in file order. */
typedef struct people {
    vg_buf text; /* "ID\0NAME\0" per row */
    size_t *at;  /* offset of each row's ID in text */
    size_t n;
} people;

static void people_free(people *p)
{
    vg_buf_free(&p->text);
    free(p->at);
}

static int people_load(people *p, const char *path, long limit)
{
    vg_csv *csv = NULL;
    vg_csv_row row;
    long col_id, col_name;
    size_t cap = 0;
    char why[512];
    int rc = -1;

    if (vg_csv_open_file(path, &csv, why, sizeof(why)) != VG_OK) {
        fprintf(stderr, "loadgen: %s: %s\n", path, why);
        return -1;
    }
    col_id = vg_csv_find_column(csv, COL_ID);
    col_name = vg_csv_find_column(csv, COL_NAME);
    if (col_id < 0) {
        fprintf(stderr, "loadgen: %s: no column '%s'\n", path, COL_ID);
        goto out;
    }
    while ((limit <= 0 || (long)p->n < limit) && vg_csv_next(csv, &row) == 1) {
        const char *id = (size_t)col_id < row.nfields ? row.fields[col_id] : "";
        const char *name =
            col_name >= 0 && (size_t)col_name < row.nfields ? row.fields[col_name] : "";

        if (p->n == cap) {
            size_t *at = realloc(p->at, (cap ? 2 * cap : 4096) * sizeof(*at));

            if (!at)
                goto out;
            p->at = at;
            cap = cap ? 2 * cap : 4096;
        }
        p->at[p->n++] = p->text.len;
        if (vg_buf_append(&p->text, id, strlen(id) + 1) != VG_OK ||
            vg_buf_append(&p->text, name, strlen(name) + 1) != VG_OK)
            goto out;
    }
    if (p->n == 0)
        fprintf(stderr, "loadgen: %s: no rows\n", path);
    else
        rc = 0;
out:
    vg_csv_close(csv);
    return rc;
}

static const char *person_id(const people *p, size_t i)
{
    return (const char *)p->text.data + p->at[i];
}

static const char *person_name(const people *p, size_t i)
{
    const char *id = person_id(p, i);

    return id + strlen(id) + 1;
}

/* Builds MatchRequest messages of batch_rows rows each; the first carries the purpose. */
static int build_match(const options *o, const people *p, messages *m)
{
    Vitalgate__V1__MatchRow *rows = calloc((size_t)o->batch_rows, sizeof(*rows));
    Vitalgate__V1__MatchRow **rowp = calloc((size_t)o->batch_rows, sizeof(*rowp));
    vg_buf packed = {0};
    int rc = -1;

    if (!rows || !rowp)
        goto out;
    for (size_t first = 0; first < p->n; first += (size_t)o->batch_rows) {
        Vitalgate__V1__MatchRequest req = VITALGATE__V1__MATCH_REQUEST__INIT;
        size_t k = 0;

        for (size_t i = first; i < p->n && k < (size_t)o->batch_rows; i++, k++) {
            vitalgate__v1__match_row__init(&rows[k]);
            rows[k].id_number = (char *)person_id(p, i);
            rows[k].name = o->no_name ? "" : (char *)person_name(p, i);
            rowp[k] = &rows[k];
        }
        if (first == 0) {
            req.purpose = (char *)o->purpose;
            req.as_of = (char *)o->as_of;
        }
        req.n_rows = k;
        req.rows = rowp;
        if (pack_into(&req.base, &packed) != 0 || messages_add(m, packed.data, packed.len) != 0)
            goto out;
        m->rows += k;
    }
    rc = 0;
out:
    free(rows);
    free(rowp);
    vg_buf_free(&packed);
    return rc;
}

/* Counts the rows of pre-made MatchRequest messages. */
static int count_match_rows(messages *m)
{
    for (size_t i = 0; i < m->n; i++) {
        Vitalgate__V1__MatchRequest *req = vitalgate__v1__match_request__unpack(
            NULL, GRPC_SLICE_LENGTH(m->slices[i]), GRPC_SLICE_START_PTR(m->slices[i]));

        if (!req) {
            fprintf(stderr, "loadgen: message %zu is not a MatchRequest\n", i + 1);
            return -1;
        }
        m->rows += req->n_rows;
        vitalgate__v1__match_request__free_unpacked(req, NULL);
    }
    return 0;
}

static int prepare(const options *o)
{
    people p = {0};
    messages m = {0};
    vg_buf packed = {0};
    FILE *f = NULL;
    int rc = 1;

    if (!o->csv || !o->out) {
        fprintf(stderr, "loadgen: %s needs --csv FILE and --out FILE\n",
                o->mode == MODE_PREPARE_STATUS ? "prepare-status" : "prepare-match");
        return 1;
    }
    if (people_load(&p, o->csv, o->rows) != 0)
        goto out;
    if (!(f = fopen(o->out, "wb"))) {
        fprintf(stderr, "loadgen: %s: %s\n", o->out, strerror(errno));
        goto out;
    }
    if (o->mode == MODE_PREPARE_MATCH) {
        if (build_match(o, &p, &m) != 0)
            goto out;
        for (size_t i = 0; i < m.n; i++)
            if (write_framed(f, GRPC_SLICE_START_PTR(m.slices[i]),
                             GRPC_SLICE_LENGTH(m.slices[i])) != 0)
                goto out;
    } else {
        for (size_t i = 0; i < p.n; i++) {
            Vitalgate__V1__StatusRequest req = VITALGATE__V1__STATUS_REQUEST__INIT;

            req.id_number = (char *)person_id(&p, i);
            req.name = o->no_name ? "" : (char *)person_name(&p, i);
            req.purpose = (char *)o->purpose;
            req.as_of = (char *)o->as_of;
            if (pack_into(&req.base, &packed) != 0 || write_framed(f, packed.data, packed.len))
                goto out;
        }
    }
    if (fclose(f) != 0) {
        f = NULL;
        goto out;
    }
    f = NULL;
    printf("%s: %zu %s\n", o->out, o->mode == MODE_PREPARE_MATCH ? m.n : p.n,
           o->mode == MODE_PREPARE_MATCH ? "MatchRequest messages" : "StatusRequest messages");
    rc = 0;
out:
    if (f)
        fclose(f);
    if (rc)
        fprintf(stderr, "loadgen: could not write %s\n", o->out);
    people_free(&p);
    messages_free(&m);
    vg_buf_free(&packed);
    return rc;
}

/* ---- the client ------------------------------------------------------------------------ */

typedef struct client {
    grpc_channel **channels;
    int nchannels;
    grpc_completion_queue *cq;
} client;

static void client_close(client *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nchannels; i++)
        if (c->channels[i])
            grpc_channel_destroy(c->channels[i]);
    free(c->channels);
    if (c->cq) {
        grpc_completion_queue_shutdown(c->cq);
        while (grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(c->cq);
    }
    memset(c, 0, sizeof(*c));
}

/* Waits until a channel is connected (TCP and the TLS handshake done). */
static int connect_channel(client *c, grpc_channel *ch)
{
    gpr_timespec until =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_seconds(10, GPR_TIMESPAN));
    grpc_connectivity_state st;
    static int tag;

    while ((st = grpc_channel_check_connectivity_state(ch, 1)) != GRPC_CHANNEL_READY) {
        grpc_event ev;

        if (gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), until) > 0)
            return -1;
        grpc_channel_watch_connectivity_state(ch, st, until, c->cq, &tag);
        ev = grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type != GRPC_OP_COMPLETE)
            return -1;
    }
    return 0;
}

static int client_open(client *c, const options *o)
{
    size_t len;
    char *ca = read_whole(o->ca, &len);
    char *cert = ca ? read_whole(o->cert, &len) : NULL;
    char *key = cert ? read_whole(o->key, &len) : NULL;
    grpc_ssl_pem_key_cert_pair pair = {key, cert};
    grpc_arg args[2];
    grpc_channel_args cargs = {2, args};
    int rc = -1;

    memset(c, 0, sizeof(*c));
    if (!key)
        goto out;
    c->cq = grpc_completion_queue_create_for_next(NULL);
    c->channels = calloc((size_t)o->channels, sizeof(*c->channels));
    if (!c->channels)
        goto out;

    /* Own subchannel pools, or identical channels would share one connection. */
    args[0] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = -1}};
    args[1] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, {.integer = 1}};
    for (int i = 0; i < o->channels; i++) {
        grpc_channel_credentials *creds = grpc_ssl_credentials_create_ex(ca, &pair, NULL, NULL);

        c->channels[i] = grpc_channel_create(o->target, creds, &cargs);
        c->nchannels++;
        grpc_channel_credentials_release(creds);
        if (connect_channel(c, c->channels[i]) != 0) {
            fprintf(stderr, "loadgen: cannot connect to %s (TLS refused or nothing listening)\n",
                    o->target);
            goto out;
        }
    }
    rc = 0;
out:
    free(ca);
    free(cert);
    free(key);
    return rc;
}

static gpr_timespec call_deadline(const options *o)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis((int64_t)(o->deadline_s * 1000), GPR_TIMESPAN));
}

/* What a run measured, for the report. */
typedef struct result {
    const char *mode;
    double seconds; /* measured window */
    uint64_t calls; /* unary calls, or Match streams, ended in the window */
    uint64_t rows;  /* Match: rows answered */
    uint64_t errors[NCODES];
    uint64_t errors_total;
    char first_error[256];
    histogram hist;      /* unary: per call; match: per request message */
    double cpu_s;        /* server CPU over the window; -1 unknown */
    uint64_t unfinished; /* unary: calls still unanswered --drain seconds after the window */
    double first_stream_s;
} result;

/* ---- unary ----------------------------------------------------------------------------- */

typedef struct slot {
    grpc_call *call;
    grpc_byte_buffer *send, *recv;
    grpc_metadata_array md_initial, md_trailing;
    grpc_status_code code;
    grpc_slice details;
    int64_t started;
    int busy;
} slot;

static void unary_end(slot *s);

static int unary_start(const options *o, client *c, slot *s, int index, const grpc_slice *req,
                       grpc_slice method)
{
    grpc_op ops[6];

    s->call =
        grpc_channel_create_call(c->channels[index % c->nchannels], NULL, GRPC_PROPAGATE_DEFAULTS,
                                 c->cq, method, NULL, call_deadline(o), NULL);
    s->send = grpc_raw_byte_buffer_create((grpc_slice *)req, 1);
    s->recv = NULL;
    s->details = grpc_empty_slice();
    grpc_metadata_array_init(&s->md_initial);
    grpc_metadata_array_init(&s->md_trailing);
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = s->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->md_initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &s->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &s->md_trailing;
    ops[5].data.recv_status_on_client.status = &s->code;
    ops[5].data.recv_status_on_client.status_details = &s->details;
    s->started = now_ns();
    s->busy = 1;
    if (grpc_call_start_batch(s->call, ops, 6, s, NULL) != GRPC_CALL_OK) {
        fprintf(stderr, "loadgen: start_batch failed\n");
        unary_end(s);
        return -1;
    }
    return 0;
}

static void unary_end(slot *s)
{
    grpc_byte_buffer_destroy(s->send);
    if (s->recv)
        grpc_byte_buffer_destroy(s->recv);
    grpc_slice_unref(s->details);
    grpc_metadata_array_destroy(&s->md_initial);
    grpc_metadata_array_destroy(&s->md_trailing);
    grpc_call_unref(s->call);
    s->busy = 0;
}

static void note_error(result *r, int code, grpc_slice details)
{
    size_t n = GRPC_SLICE_LENGTH(details);

    r->errors[code >= 0 && code < NCODES ? code : 2]++;
    r->errors_total++;
    if (r->first_error[0])
        return;
    if (n >= sizeof(r->first_error) - 32)
        n = sizeof(r->first_error) - 32;
    snprintf(r->first_error, sizeof(r->first_error), "%s: %.*s", code_name(code), (int)n,
             (const char *)GRPC_SLICE_START_PTR(details));
}

static int run_unary(const options *o, client *c, result *r)
{
    messages m = {0};
    slot *slots = calloc((size_t)o->concurrency, sizeof(*slots));
    grpc_slice method = grpc_slice_from_copied_string(o->method);
    int64_t t0 = now_ns(), warm_end, end, t_meas = 0;
    int measuring = 0, issuing = 1, busy = 0, cancelled = 0, rc = -1;
    size_t next = 0;
    long started = 0;
    double cpu0 = -1;

    r->mode = "unary";
    r->cpu_s = -1;
    if (!slots || messages_load(&m, o->request_file, o->framed) != 0)
        goto out;
    warm_end = t0 + (int64_t)(o->warmup * 1e9);
    end = warm_end + (int64_t)(o->duration * 1e9);
    if (o->count > 0) {
        warm_end = t0;
        end = INT64_MAX;
    }

    for (int i = 0; i < o->concurrency; i++) {
        if (o->count > 0 && started >= o->count)
            break;
        if (unary_start(o, c, &slots[i], i, &m.slices[next++ % m.n], method) != 0)
            goto out;
        started++;
        busy++;
    }
    while (busy > 0) {
        gpr_timespec wait =
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(20, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(c->cq, wait, NULL);
        int64_t now = now_ns();

        if (!measuring && issuing && now >= warm_end) {
            measuring = 1;
            t_meas = now;
            cpu0 = o->pid > 0 ? proc_cpu_seconds(o->pid) : -1;
        }
        if (measuring && now >= end) {
            double cpu1 = o->pid > 0 ? proc_cpu_seconds(o->pid) : -1;

            measuring = 0;
            issuing = 0;
            r->seconds = (double)(now - t_meas) / 1e9;
            r->cpu_s = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
        }
        if (!issuing && !cancelled && o->count <= 0 && now >= end + (int64_t)(o->drain_s * 1e9)) {
            /* Calls that outlive the window by that much are stuck: stop waiting. */
            r->unfinished = (uint64_t)busy;
            cancelled = 1;
            for (int k = 0; k < o->concurrency; k++)
                if (slots[k].busy)
                    grpc_call_cancel(slots[k].call, NULL);
        }
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;

        slot *s = ev.tag;
        int i = (int)(s - slots);

        if (measuring) {
            hist_add(&r->hist, now - s->started);
            r->calls++;
            if (!ev.success || s->code != GRPC_STATUS_OK)
                note_error(r, ev.success ? (int)s->code : GRPC_STATUS_UNKNOWN, s->details);
        }
        unary_end(s);
        busy--;
        if (o->count > 0 && started >= o->count)
            issuing = 0;
        if (issuing) {
            if (unary_start(o, c, s, i, &m.slices[next++ % m.n], method) != 0)
                goto out;
            started++;
            busy++;
        }
    }
    if (measuring) { /* --count: the window is the whole run */
        double cpu1 = o->pid > 0 ? proc_cpu_seconds(o->pid) : -1;

        r->seconds = (double)(now_ns() - t_meas) / 1e9;
        r->cpu_s = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
    }
    rc = 0;
out:
    if (rc != 0 && slots) {
        /* Cancel what was started and wait for it, so nothing outlives the queue. */
        for (int i = 0; i < o->concurrency; i++)
            if (slots[i].busy)
                grpc_call_cancel(slots[i].call, NULL);
        while (busy > 0) {
            grpc_event ev =
                grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);

            if (ev.type != GRPC_OP_COMPLETE)
                break;
            unary_end(ev.tag);
            busy--;
        }
    }
    grpc_slice_unref(method);
    messages_free(&m);
    free(slots);
    return rc;
}

/* ---- match ----------------------------------------------------------------------------- */

/* Counts the results of a MatchReply without decoding them: field 1, length-delimited. */
static long count_results(const uint8_t *p, size_t len)
{
    size_t pos = 0;
    long n = 0;

    while (pos < len) {
        uint64_t key = 0, size = 0;
        int shift = 0;

        do {
            if (pos >= len || shift > 63)
                return -1;
            key |= (uint64_t)(p[pos] & 0x7f) << shift;
            shift += 7;
        } while (p[pos++] & 0x80);
        if ((key & 7) != 2)
            return -1;
        shift = 0;
        do {
            if (pos >= len || shift > 63)
                return -1;
            size |= (uint64_t)(p[pos] & 0x7f) << shift;
            shift += 7;
        } while (p[pos++] & 0x80);
        if (size > len - pos)
            return -1;
        pos += size;
        if ((key >> 3) == 1)
            n++;
    }
    return n;
}

/* Tags of a stream's operations. */
enum { TAG_START, TAG_SEND, TAG_RECV, TAG_CLOSE, TAG_STATUS, TAG_COUNT };

typedef struct stream {
    grpc_call *call;
    grpc_metadata_array md_initial, md_trailing;
    grpc_status_code code;
    grpc_slice details;
    grpc_byte_buffer *send, *recv;
    char tags[TAG_COUNT];
    int64_t *sent_at; /* send time of each message, for its reply's latency */
} stream;

static void start_op(stream *s, grpc_op *op, size_t n, int tag)
{
    if (grpc_call_start_batch(s->call, op, n, &s->tags[tag], NULL) != GRPC_CALL_OK) {
        fprintf(stderr, "loadgen: start_batch failed\n");
        grpc_call_cancel(s->call, NULL);
    }
}

/* One Match stream of every message. Returns -1 when it could not be run. */
static int match_stream(const options *o, client *c, const messages *m, result *r)
{
    stream s;
    grpc_slice method = grpc_slice_from_static_string("/vitalgate.v1.Query/Match");
    grpc_op op[2];
    size_t sent = 0, replied = 0;
    uint64_t answered = 0;
    int send_pending = 0, recv_pending = 0, close_started = 0, status_done = 0;
    int start_pending = 1, close_pending = 0, replies_done = 0, bad_reply = 0;
    int64_t t0 = now_ns();

    memset(&s, 0, sizeof(s));
    s.sent_at = calloc(m->n, sizeof(*s.sent_at));
    if (!s.sent_at)
        return -1;
    s.details = grpc_empty_slice();
    grpc_metadata_array_init(&s.md_initial);
    grpc_metadata_array_init(&s.md_trailing);
    s.call = grpc_channel_create_call(c->channels[0], NULL, GRPC_PROPAGATE_DEFAULTS, c->cq, method,
                                      NULL, call_deadline(o), NULL);

    memset(op, 0, sizeof(op));
    op[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    op[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    op[1].data.recv_initial_metadata.recv_initial_metadata = &s.md_initial;
    start_op(&s, op, 2, TAG_START);
    memset(op, 0, sizeof(op));
    op[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op[0].data.recv_status_on_client.trailing_metadata = &s.md_trailing;
    op[0].data.recv_status_on_client.status = &s.code;
    op[0].data.recv_status_on_client.status_details = &s.details;
    start_op(&s, op, 1, TAG_STATUS);

    while (!status_done || send_pending || recv_pending || start_pending || close_pending) {
        grpc_event ev;

        if (!status_done && !send_pending && sent < m->n && sent - replied < (size_t)o->window) {
            memset(op, 0, sizeof(op));
            s.send = grpc_raw_byte_buffer_create((grpc_slice *)&m->slices[sent], 1);
            op[0].op = GRPC_OP_SEND_MESSAGE;
            op[0].data.send_message.send_message = s.send;
            s.sent_at[sent++] = now_ns();
            send_pending = 1;
            start_op(&s, op, 1, TAG_SEND);
        }
        if (!status_done && !send_pending && sent == m->n && !close_started) {
            memset(op, 0, sizeof(op));
            op[0].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
            close_started = close_pending = 1;
            start_op(&s, op, 1, TAG_CLOSE);
        }
        if (!recv_pending && !status_done && !replies_done) {
            memset(op, 0, sizeof(op));
            op[0].op = GRPC_OP_RECV_MESSAGE;
            op[0].data.recv_message.recv_message = &s.recv;
            recv_pending = 1;
            start_op(&s, op, 1, TAG_RECV);
        }

        ev = grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type != GRPC_OP_COMPLETE)
            break;
        if (ev.tag == &s.tags[TAG_START]) {
            start_pending = 0;
        } else if (ev.tag == &s.tags[TAG_SEND]) {
            send_pending = 0;
            grpc_byte_buffer_destroy(s.send);
            s.send = NULL;
            if (!ev.success)
                sent = m->n; /* the call is over; its status says why */
        } else if (ev.tag == &s.tags[TAG_CLOSE]) {
            close_pending = 0;
        } else if (ev.tag == &s.tags[TAG_RECV]) {
            recv_pending = 0;
            if (ev.success && s.recv) {
                grpc_byte_buffer_reader rd;
                grpc_slice all;
                long n = -1;

                if (grpc_byte_buffer_reader_init(&rd, s.recv)) {
                    all = grpc_byte_buffer_reader_readall(&rd);
                    grpc_byte_buffer_reader_destroy(&rd);
                    n = count_results(GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all));
                    grpc_slice_unref(all);
                }
                grpc_byte_buffer_destroy(s.recv);
                s.recv = NULL;
                if (n < 0 || replied >= sent) {
                    bad_reply = 1;
                    grpc_call_cancel(s.call, NULL);
                } else {
                    hist_add(&r->hist, now_ns() - s.sent_at[replied]);
                    replied++;
                    answered += (uint64_t)n;
                }
            } else {
                replies_done = 1;
            }
        } else if (ev.tag == &s.tags[TAG_STATUS]) {
            status_done = 1;
        }
    }
    if (r->calls == 0)
        r->first_stream_s = (double)(now_ns() - t0) / 1e9;
    r->calls++;
    r->rows += answered;
    if (s.code != GRPC_STATUS_OK) {
        note_error(r, (int)s.code, s.details);
    } else if (bad_reply || answered != m->rows) {
        grpc_slice why = grpc_slice_from_static_string("rows sent and answered differ");

        note_error(r, GRPC_STATUS_DATA_LOSS, why);
        fprintf(stderr, "loadgen: match: %" PRIu64 " rows sent, %" PRIu64 " answered\n", m->rows,
                answered);
    }
    grpc_slice_unref(s.details);
    grpc_metadata_array_destroy(&s.md_initial);
    grpc_metadata_array_destroy(&s.md_trailing);
    grpc_call_unref(s.call);
    free(s.sent_at);
    return 0;
}

static int run_match(const options *o, client *c, result *r)
{
    messages m = {0};
    people p = {0};
    int64_t t0;
    double cpu0;
    int rc = -1;

    r->mode = "match";
    r->cpu_s = -1;
    if (o->csv) {
        if (people_load(&p, o->csv, o->rows) != 0 || build_match(o, &p, &m) != 0)
            goto out;
    } else if (!o->request_file) {
        fprintf(stderr, "loadgen: match needs --csv FILE or --request-file FILE\n");
        goto out;
    } else if (messages_load(&m, o->request_file, 1) != 0 || count_match_rows(&m) != 0) {
        goto out;
    }

    cpu0 = o->pid > 0 ? proc_cpu_seconds(o->pid) : -1;
    t0 = now_ns();
    do {
        if (match_stream(o, c, &m, r) != 0)
            goto out;
    } while ((double)(now_ns() - t0) / 1e9 < o->repeat_for);
    r->seconds = (double)(now_ns() - t0) / 1e9;
    if (cpu0 >= 0) {
        double cpu1 = proc_cpu_seconds(o->pid);

        r->cpu_s = cpu1 >= 0 ? cpu1 - cpu0 : -1;
    }
    rc = 0;
out:
    people_free(&p);
    messages_free(&m);
    return rc;
}

/* ---- report ---------------------------------------------------------------------------- */

static void report(const options *o, const result *r)
{
    const histogram *h = &r->hist;
    int match = strcmp(r->mode, "match") == 0;
    double per_s = r->seconds > 0 ? (double)(match ? r->rows : r->calls) / r->seconds : 0;
    uint64_t units = match ? r->rows : r->calls;
    double cpu_us = r->cpu_s >= 0 && units ? r->cpu_s * 1e6 / (double)units : -1;
    double hwm = o->pid > 0 ? proc_status_mib(o->pid, "VmHWM") : -1;
    double rss = o->pid > 0 ? proc_status_mib(o->pid, "VmRSS") : -1;
    json_t *j = json_object(), *lat = json_object(), *errs = json_object();
    char cpu_text[32] = "n/a";

    if (cpu_us >= 0)
        snprintf(cpu_text, sizeof(cpu_text), "%.1f", cpu_us);

    for (int i = 1; i < NCODES; i++)
        if (r->errors[i])
            json_object_set_new(errs, code_name(i), json_integer((json_int_t)r->errors[i]));
    json_object_set_new(lat, "p50", json_real(hist_quantile_ms(h, 0.50)));
    json_object_set_new(lat, "p90", json_real(hist_quantile_ms(h, 0.90)));
    json_object_set_new(lat, "p99", json_real(hist_quantile_ms(h, 0.99)));
    json_object_set_new(lat, "p999", json_real(hist_quantile_ms(h, 0.999)));
    json_object_set_new(lat, "max", json_real((double)h->max_ns / 1e6));
    json_object_set_new(lat, "mean", json_real(h->count ? h->sum_ns / (double)h->count / 1e6 : 0));

    json_object_set_new(j, "mode", json_string(r->mode));
    json_object_set_new(j, "target", json_string(o->target));
    if (match) {
        json_object_set_new(j, "streams", json_integer((json_int_t)r->calls));
        json_object_set_new(j, "rows", json_integer((json_int_t)r->rows));
        json_object_set_new(j, "rows_per_s", json_real(per_s));
        json_object_set_new(j, "seconds", json_real(r->seconds));
        json_object_set_new(j, "first_stream_seconds", json_real(r->first_stream_s));
        json_object_set_new(j, "window", json_integer(o->window));
    } else {
        json_object_set_new(j, "method", json_string(o->method));
        json_object_set_new(j, "concurrency", json_integer(o->concurrency));
        json_object_set_new(j, "calls", json_integer((json_int_t)r->calls));
        json_object_set_new(j, "calls_per_s", json_real(per_s));
        json_object_set_new(j, "seconds", json_real(r->seconds));
    }
    json_object_set_new(j, match ? "message_latency_ms" : "latency_ms", lat);
    json_object_set_new(j, "errors", errs);
    json_object_set_new(j, "errors_total", json_integer((json_int_t)r->errors_total));
    if (!match)
        json_object_set_new(j, "unfinished", json_integer((json_int_t)r->unfinished));
    json_object_set_new(j, "first_error", json_string(r->first_error));
    json_object_set_new(j, match ? "server_cpu_us_per_row" : "server_cpu_us_per_call",
                        cpu_us >= 0 ? json_real(cpu_us) : json_null());
    json_object_set_new(j, "server_cpu_s", r->cpu_s >= 0 ? json_real(r->cpu_s) : json_null());
    json_object_set_new(j, "server_rss_peak_mib", hwm >= 0 ? json_real(hwm) : json_null());
    json_object_set_new(j, "server_rss_mib", rss >= 0 ? json_real(rss) : json_null());

    if (o->json) {
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
        putchar('\n');
    } else {
        if (match)
            printf("match: %" PRIu64 " rows in %" PRIu64 " stream(s), %.3f s: %.0f rows/s "
                   "(first stream %.3f s)\n",
                   r->rows, r->calls, r->seconds, per_s, r->first_stream_s);
        else
            printf("%s: %" PRIu64 " calls in %.2f s at %d in flight: %.0f calls/s\n", o->method,
                   r->calls, r->seconds, o->concurrency, per_s);
        printf("%s latency ms: p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
               match ? "message" : "call", hist_quantile_ms(h, 0.5), hist_quantile_ms(h, 0.99),
               hist_quantile_ms(h, 0.999), (double)h->max_ns / 1e6);
        printf("errors: %" PRIu64, r->errors_total);
        for (int i = 1; i < NCODES; i++)
            if (r->errors[i])
                printf(" %s=%" PRIu64, code_name(i), r->errors[i]);
        printf("%s%s\n", r->first_error[0] ? "; first: " : "", r->first_error);
        if (r->unfinished)
            printf("unfinished: %" PRIu64 " calls still unanswered %.1f s after the window\n",
                   r->unfinished, o->drain_s);
        if (o->pid > 0)
            printf("server pid %d: %s us CPU per %s, RSS %.1f MiB, peak %.1f MiB\n", o->pid,
                   cpu_text, match ? "row" : "call", rss, hwm);
    }
    json_decref(j);
}

/* ---- options --------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_loadgen [--mode unary|match|prepare-status|prepare-match] OPTIONS\n"
               "connection: --target HOST:PORT --ca FILE --cert FILE --key FILE [--channels N]\n"
               "unary:   --method PATH --request-file FILE [--framed] [--concurrency N]\n"
               "         [--duration S] [--warmup S] [--count N]\n"
               "match:   --csv FILE [--rows N] [--batch-rows N] | --request-file FILE (framed)\n"
               "         [--window N] [--repeat-for S]\n"
               "prepare: --csv FILE --out FILE [--rows N] [--batch-rows N] [--no-name]\n"
               "queries: [--purpose CODE] [--as-of YYYY-MM-DD]\n"
               "report:  [--pid PID] [--json] [--deadline S] [--drain S]\n");
}

static int parse_mode(const char *s, mode *m)
{
    static const char *const names[] = {"unary", "match", "prepare-status", "prepare-match"};

    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *m = (mode)i;
            return 0;
        }
    }
    return -1;
}

static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {{"mode", required_argument, NULL, 'M'},
                                             {"target", required_argument, NULL, 't'},
                                             {"ca", required_argument, NULL, 'a'},
                                             {"cert", required_argument, NULL, 'c'},
                                             {"key", required_argument, NULL, 'k'},
                                             {"method", required_argument, NULL, 'm'},
                                             {"request-file", required_argument, NULL, 'r'},
                                             {"framed", no_argument, NULL, 'F'},
                                             {"csv", required_argument, NULL, 'C'},
                                             {"out", required_argument, NULL, 'o'},
                                             {"rows", required_argument, NULL, 'R'},
                                             {"batch-rows", required_argument, NULL, 'b'},
                                             {"window", required_argument, NULL, 'w'},
                                             {"purpose", required_argument, NULL, 'p'},
                                             {"as-of", required_argument, NULL, 'A'},
                                             {"no-name", no_argument, NULL, 'N'},
                                             {"concurrency", required_argument, NULL, 'n'},
                                             {"channels", required_argument, NULL, 'H'},
                                             {"duration", required_argument, NULL, 'd'},
                                             {"warmup", required_argument, NULL, 'W'},
                                             {"repeat-for", required_argument, NULL, 'f'},
                                             {"count", required_argument, NULL, 'x'},
                                             {"deadline", required_argument, NULL, 'D'},
                                             {"drain", required_argument, NULL, 'G'},
                                             {"pid", required_argument, NULL, 'P'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;

    *o = (options){.mode = MODE_UNARY,
                   .target = "127.0.0.1:7443",
                   .batch_rows = 1000,
                   .window = 8,
                   .purpose = "welfare-stop-check",
                   .as_of = "2026-11-30",
                   .concurrency = 64,
                   .channels = 1,
                   .duration = 10,
                   .warmup = 2,
                   .deadline_s = 60,
                   .drain_s = 5};
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'M':
            if (parse_mode(optarg, &o->mode) != 0) {
                fprintf(stderr, "loadgen: --mode: unary, match, prepare-status or "
                                "prepare-match\n");
                return -1;
            }
            break;
        case 't':
            o->target = optarg;
            break;
        case 'a':
            o->ca = optarg;
            break;
        case 'c':
            o->cert = optarg;
            break;
        case 'k':
            o->key = optarg;
            break;
        case 'm':
            o->method = optarg;
            break;
        case 'r':
            o->request_file = optarg;
            break;
        case 'F':
            o->framed = 1;
            break;
        case 'C':
            o->csv = optarg;
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'R':
            o->rows = atol(optarg);
            break;
        case 'b':
            o->batch_rows = atoi(optarg);
            break;
        case 'w':
            o->window = atoi(optarg);
            break;
        case 'p':
            o->purpose = optarg;
            break;
        case 'A':
            o->as_of = optarg;
            break;
        case 'N':
            o->no_name = 1;
            break;
        case 'n':
            o->concurrency = atoi(optarg);
            break;
        case 'H':
            o->channels = atoi(optarg);
            break;
        case 'd':
            o->duration = atof(optarg);
            break;
        case 'W':
            o->warmup = atof(optarg);
            break;
        case 'f':
            o->repeat_for = atof(optarg);
            break;
        case 'x':
            o->count = atol(optarg);
            break;
        case 'D':
            o->deadline_s = atof(optarg);
            break;
        case 'G':
            o->drain_s = atof(optarg);
            break;
        case 'P':
            o->pid = atoi(optarg);
            break;
        case 'j':
            o->json = 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    if (optind != argc || o->batch_rows < 1 || o->window < 1 || o->concurrency < 1 ||
        o->channels < 1 || o->duration <= 0 || o->warmup < 0 || o->deadline_s <= 0 ||
        o->drain_s < 0) {
        fprintf(stderr, "loadgen: bad or unexpected arguments\n");
        return -1;
    }
    if (o->mode <= MODE_MATCH && (!o->ca || !o->cert || !o->key)) {
        fprintf(stderr, "loadgen: --ca, --cert and --key are required\n");
        return -1;
    }
    if (o->mode == MODE_UNARY && (!o->method || !o->request_file)) {
        fprintf(stderr, "loadgen: unary needs --method PATH and --request-file FILE\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    client c;
    result *r = NULL;
    int rc = 1;

    if (parse_options(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    if (o.mode == MODE_PREPARE_STATUS || o.mode == MODE_PREPARE_MATCH)
        return prepare(&o);

    grpc_init();
    if (client_open(&c, &o) != 0)
        goto out;
    r = calloc(1, sizeof(*r));
    if (!r)
        goto out;
    if ((o.mode == MODE_UNARY ? run_unary(&o, &c, r) : run_match(&o, &c, r)) != 0)
        goto out;
    report(&o, r);
    rc = r->errors_total || r->unfinished || (o.mode == MODE_UNARY && !r->calls) ? EXIT_ERRORS : 0;
out:
    free(r);
    client_close(&c);
    grpc_shutdown();
    return rc;
}
