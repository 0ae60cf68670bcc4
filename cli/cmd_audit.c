/* cmd_audit.c - vitalctl audit: verify a copy of the audit log offline, or list entries
 * through Audit.List. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_audit.h"
#include "vitalctl.h"
#include "words.h"
#include "vitalgate.pb-c.h"

#define VERIFY_USAGE "usage: vitalctl audit verify PATH --key PUBLIC_KEY_OR_CERTIFICATE\n"
#define LIST_USAGE                                                                                 \
    "usage: vitalctl audit list [--from TIME] [--to TIME] [--principal NAME] [--subject ID]\n"     \
    "                           [--method PATH] [--result CODE] [--limit N] [--json]\n"

/* vitalctl audit verify: no gateway is contacted. */
static int cmd_verify(int argc, char **argv)
{
    static const struct option longopts[] = {{"key", required_argument, NULL, 'k'},
                                             {NULL, 0, NULL, 0}};
    const char *key = NULL;
    vg_audit_report r;
    vg_err err;
    int opt;

    while ((opt = getopt_long(argc, argv, "k:", longopts, NULL)) != -1) {
        if (opt != 'k') {
            fputs(VERIFY_USAGE, stderr);
            return VC_EXIT_FAIL;
        }
        key = optarg;
    }
    if (!key || optind != argc - 1) {
        fputs(VERIFY_USAGE, stderr);
        return VC_EXIT_FAIL;
    }
    err = vg_audit_verify(argv[optind], key, &r);
    if (err == VG_OK) {
        printf("ok: %llu entries, %llu checkpoints\n", (unsigned long long)r.entries,
               (unsigned long long)r.checkpoints);
        return VC_EXIT_OK;
    }
    if (err == VG_ERR_INVALID)
        printf("FAILED at line %zu (seq %llu): %s\n", r.first_bad_line,
               (unsigned long long)r.first_bad_seq, r.problem);
    else
        fprintf(stderr, "vitalctl: audit verify: %s\n", r.problem);
    return VC_EXIT_FAIL;
}

typedef struct list_ctx {
    Vitalgate__V1__AuditListRequest req;
    int json;
    int sent;
    unsigned long long entries;
} list_ctx;

static int next_request(void *arg, vg_buf *out)
{
    list_ctx *x = arg;

    if (x->sent)
        return 0;
    x->sent = 1;
    vg_buf_reset(out);
    if (vg_buf_reserve(out, protobuf_c_message_get_packed_size(&x->req.base)) != VG_OK)
        return -1;
    out->len = protobuf_c_message_pack(&x->req.base, out->data);
    return 1;
}

static void put_number(unsigned long long v, int shown)
{
    if (shown)
        printf("%llu,", v);
    else
        putchar(',');
}

static void print_csv(const Vitalgate__V1__AuditEntry *e)
{
    int call = strcmp(e->kind, "call") == 0, checkpoint = strcmp(e->kind, "checkpoint") == 0;

    printf("%llu,", (unsigned long long)e->seq);
    vc_put_csv_field(e->time, 0);
    vc_put_csv_field(e->kind, 0);
    put_number(e->call_id, !checkpoint);
    vc_put_csv_field(e->principal, 0);
    vc_put_csv_field(e->peer, 0);
    vc_put_csv_field(e->method, 0);
    vc_put_csv_field(e->purpose, 0);
    vc_put_csv_field(e->result, 0);
    put_number(e->duration_us, call);
    put_number(e->rows, call);
    vc_put_csv_field(e->subject, 0);
    vc_put_csv_field(e->death_status, 1);
}

static int on_list_reply(void *arg, const uint8_t *data, size_t len)
{
    list_ctx *x = arg;
    Vitalgate__V1__AuditListReply *r = vitalgate__v1__audit_list_reply__unpack(NULL, len, data);

    if (!r) {
        fprintf(stderr, "vitalctl: audit list: unreadable reply from the gateway\n");
        return -1;
    }
    for (size_t i = 0; i < r->n_entries; i++) {
        if (x->json)
            printf("%s\n", r->entries[i]->line);
        else
            print_csv(r->entries[i]);
    }
    x->entries += r->n_entries;
    vitalgate__v1__audit_list_reply__free_unpacked(r, NULL);
    return 0;
}

static int cmd_list(vc_client *c, int argc, char **argv)
{
    static const struct option longopts[] = {{"from", required_argument, NULL, 'f'},
                                             {"to", required_argument, NULL, 't'},
                                             {"principal", required_argument, NULL, 'p'},
                                             {"subject", required_argument, NULL, 's'},
                                             {"method", required_argument, NULL, 'm'},
                                             {"result", required_argument, NULL, 'r'},
                                             {"limit", required_argument, NULL, 'l'},
                                             {"json", no_argument, NULL, 'j'},
                                             {NULL, 0, NULL, 0}};
    list_ctx x;
    vc_stream_io io = {next_request, on_list_reply, &x, 1};
    vc_status st;
    unsigned long v;
    char *end;
    int opt;

    memset(&x, 0, sizeof(x));
    vitalgate__v1__audit_list_request__init(&x.req);
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'f':
            x.req.from = optarg;
            break;
        case 't':
            x.req.to = optarg;
            break;
        case 'p':
            x.req.principal = optarg;
            break;
        case 's':
            x.req.subject = optarg;
            break;
        case 'm':
            x.req.method = optarg;
            break;
        case 'r':
            x.req.result = optarg;
            break;
        case 'l':
            errno = 0;
            v = strtoul(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-' || v > 0xffffffffUL) {
                fprintf(stderr, "vitalctl: audit list: --limit: expected a whole number\n");
                return VC_EXIT_FAIL;
            }
            x.req.limit = (uint32_t)v;
            break;
        case 'j':
            x.json = 1;
            break;
        default:
            fputs(LIST_USAGE, stderr);
            return VC_EXIT_FAIL;
        }
    }
    if (optind != argc) {
        fputs(LIST_USAGE, stderr);
        return VC_EXIT_FAIL;
    }

    if (!x.json)
        printf("seq,time,kind,call_id,principal,peer,method,purpose,result,duration_us,rows,"
               "subject,death_status\n");
    vc_stream(c, "/vitalgate.v1.Audit/List", &io, &st);
    fflush(stdout);
    if (st.code != GRPC_STATUS_OK) {
        vc_report_status("audit list", &st);
        return VC_EXIT_FAIL;
    }
    fprintf(stderr, "%llu entries\n", x.entries);
    return VC_EXIT_OK;
}

int vc_cmd_audit(vc_client *c, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "verify") == 0)
        return cmd_verify(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "list") == 0 && c)
        return cmd_list(c, argc - 1, argv + 1);
    fputs(VERIFY_USAGE, stderr);
    fputs(LIST_USAGE, stderr);
    return VC_EXIT_FAIL;
}
