/* cmd_match.c - vitalctl match: streams a beneficiary list through Query.Match and prints
 * one CSV row per input row, in input order. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_csv.h"
#include "vitalctl.h"
#include "vitalgate.pb-c.h"
#include "words.h"

#define BATCH_ROWS 1000
#define WINDOW     8

#define COL_ID   "公民身份号码"
#define COL_NAME "姓名"

typedef struct match_ctx {
    const char *path;
    vg_csv *csv;
    long col_id, col_name;
    const char *purpose;
    const char *as_of;
    int first_sent;
    unsigned long long sent, answered;
    Vitalgate__V1__MatchRow rows[BATCH_ROWS];
    Vitalgate__V1__MatchRow *rowp[BATCH_ROWS];
    size_t offsets[BATCH_ROWS][2];
    vg_buf text; /* the batch's values: CSV rows do not outlive the next read */
    unsigned long long per_status[5];
} match_ctx;

static const char *field_of(const vg_csv_row *row, long col)
{
    return col >= 0 && (size_t)col < row->nfields ? row->fields[col] : "";
}

static int next_rows(void *arg, vg_buf *out)
{
    match_ctx *x = arg;
    Vitalgate__V1__MatchRequest req = VITALGATE__V1__MATCH_REQUEST__INIT;
    vg_csv_row row;
    size_t n = 0;

    vg_buf_reset(&x->text);
    while (n < BATCH_ROWS && vg_csv_next(x->csv, &row) == 1) {
        const char *id = field_of(&row, x->col_id), *name = field_of(&row, x->col_name);

        /* A malformed row is still answered (as the gateway judges its ID number), so the
         * output keeps one row per input row. */
        if (row.error)
            fprintf(stderr, "%s:%zu: record: %s\n", x->path, row.line, row.error);
        x->offsets[n][0] = x->text.len;
        if (vg_buf_append(&x->text, id, strlen(id) + 1) != VG_OK)
            return -1;
        x->offsets[n][1] = x->text.len;
        if (vg_buf_append(&x->text, name, strlen(name) + 1) != VG_OK)
            return -1;
        n++;
    }
    if (n == 0 && x->first_sent)
        return 0;
    for (size_t i = 0; i < n; i++) {
        vitalgate__v1__match_row__init(&x->rows[i]);
        x->rows[i].id_number = (char *)x->text.data + x->offsets[i][0];
        x->rows[i].name = (char *)x->text.data + x->offsets[i][1];
        x->rowp[i] = &x->rows[i];
    }
    if (!x->first_sent) {
        req.purpose = (char *)x->purpose;
        req.as_of = (char *)x->as_of;
        x->first_sent = 1;
    }
    req.n_rows = n;
    req.rows = x->rowp;
    x->sent += n;
    vg_buf_reset(out);
    if (vg_buf_reserve(out, protobuf_c_message_get_packed_size(&req.base)) != VG_OK)
        return -1;
    out->len = protobuf_c_message_pack(&req.base, out->data);
    return 1;
}

static int on_match_reply(void *arg, const uint8_t *data, size_t len)
{
    match_ctx *x = arg;
    Vitalgate__V1__MatchReply *r = vitalgate__v1__match_reply__unpack(NULL, len, data);
    char sources[128];

    if (!r) {
        fprintf(stderr, "vitalctl: match: unreadable reply from the gateway\n");
        return -1;
    }
    for (size_t i = 0; i < r->n_results; i++) {
        const Vitalgate__V1__PersonStatus *p = r->results[i];

        sources[0] = '\0';
        for (size_t k = 0; k < p->n_death_sources; k++) {
            if (k)
                strncat(sources, ";", sizeof(sources) - strlen(sources) - 1);
            strncat(sources, p->death_sources[k], sizeof(sources) - strlen(sources) - 1);
        }
        vc_put_csv_field(p->id_as_given, 0);
        vc_put_csv_field(vc_death_status_word(p->death_status), 0);
        vc_put_csv_field(p->date_of_death, 0);
        vc_put_csv_field(sources, 0);
        vc_put_csv_field(vc_name_check_word(p->name_check), 0);
        vc_put_csv_field(p->household_deregistration, 0);
        vc_put_csv_field(vc_certificate_word(p->certificate), 1);
        if ((unsigned)p->death_status < 5)
            x->per_status[p->death_status]++;
    }
    x->answered += r->n_results;
    vitalgate__v1__match_reply__free_unpacked(r, NULL);
    return 0;
}

int vc_cmd_match(vc_client *c, int argc, char **argv)
{
    static const struct option longopts[] = {{"as-of", required_argument, NULL, 'a'},
                                             {"purpose", required_argument, NULL, 'p'},
                                             {NULL, 0, NULL, 0}};
    match_ctx *x = calloc(1, sizeof(*x));
    vc_stream_io io = {next_rows, on_match_reply, x, WINDOW};
    vc_status st;
    char why[512];
    int opt, rc = VC_EXIT_FAIL;

    if (!x)
        return VC_EXIT_FAIL;
    x->purpose = "welfare-stop-check";
    x->as_of = "";
    while ((opt = getopt_long(argc, argv, "a:p:", longopts, NULL)) != -1) {
        if (opt == 'a') {
            x->as_of = optarg;
        } else if (opt == 'p') {
            x->purpose = optarg;
        } else {
            fprintf(stderr, "usage: vitalctl match FILE [--as-of DATE] [--purpose P]\n");
            goto out;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: vitalctl match FILE [--as-of DATE] [--purpose P]\n");
        goto out;
    }
    x->path = argv[optind];
    if (vg_csv_open_file(x->path, &x->csv, why, sizeof(why)) != VG_OK) {
        fprintf(stderr, "vitalctl: %s: %s\n", x->path, why);
        goto out;
    }
    x->col_id = vg_csv_find_column(x->csv, COL_ID);
    x->col_name = vg_csv_find_column(x->csv, COL_NAME);
    if (x->col_id < 0) {
        fprintf(stderr, "vitalctl: %s: the header has no column '%s'\n", x->path, COL_ID);
        goto out;
    }

    printf("id_as_given,death_status,date_of_death,death_sources,name_check,"
           "household_deregistration,certificate\n");
    vc_stream(c, "/vitalgate.v1.Query/Match", &io, &st);
    fflush(stdout);
    if (st.code != GRPC_STATUS_OK) {
        vc_report_status("match", &st);
        goto out;
    }
    if (x->answered != x->sent) {
        fprintf(stderr, "vitalctl: match: %llu rows sent, %llu answered\n", x->sent, x->answered);
        goto out;
    }
    fprintf(stderr,
            "%s: %llu rows: %llu NO_RECORD, %llu REPORTED, %llu CONFIRMED, %llu INVALID_ID\n",
            x->path, x->answered, x->per_status[1], x->per_status[2], x->per_status[3],
            x->per_status[4]);
    rc = VC_EXIT_OK;
out:
    vg_csv_close(x->csv);
    vg_buf_free(&x->text);
    free(x);
    return rc;
}
