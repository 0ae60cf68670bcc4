/* cmd_import.c - vitalctl import: pushes a department's CSV exports through Ingest.Push. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_adapter.h"
#include "vg_csv.h"
#include "vitalctl.h"
#include "vitalgate.pb-c.h"

/* Records per Push message unless --batch says otherwise: large batches mean fewer
 * commits (and fsyncs) at the gateway; the gateway's max_batch_records must allow it. */
#define DEFAULT_BATCH 4000
#define WINDOW        4

/* The file lines of one batch in flight, to name refused records by line. */
typedef struct batch_lines {
    uint64_t id;
    size_t n;
    size_t *line; /* batch entries */
} batch_lines;

typedef struct import_ctx {
    const char *path;
    const char *dept;
    vg_csv *csv;
    batch_lines inflight[WINDOW + 1];
    uint64_t next_id;
    size_t head; /* oldest batch in flight */
    size_t count;
    unsigned long long total, stored, held, updated, refused;
    /* one batch's request, rebuilt each time */
    size_t batch; /* records per message */
    Vitalgate__V1__SourceRecord *recs;
    Vitalgate__V1__SourceRecord **recp;
    Vitalgate__V1__Field *fields;
    Vitalgate__V1__Field **fieldp;
    size_t *offsets; /* of each field's value in text, until the batch is complete */
    vg_buf text;     /* the batch's field values: CSV rows do not outlive the next read */
    size_t ncols;
} import_ctx;

static int next_batch(void *arg, vg_buf *out)
{
    import_ctx *x = arg;
    Vitalgate__V1__PushRequest req = VITALGATE__V1__PUSH_REQUEST__INIT;
    batch_lines *b = &x->inflight[(x->head + x->count) % (WINDOW + 1)];
    vg_csv_row row;
    size_t n = 0;

    b->n = 0;
    b->id = x->next_id;
    vg_buf_reset(&x->text);
    while (n < x->batch && vg_csv_next(x->csv, &row) == 1) {
        Vitalgate__V1__Field *f = x->fields + n * x->ncols;
        Vitalgate__V1__Field **fp = x->fieldp + n * x->ncols;
        size_t k = 0;

        x->total++;
        if (row.error) {
            /* A malformed CSV record never reaches the gateway; the rest goes on. */
            fprintf(stderr, "%s:%zu: record: %s\n", x->path, row.line, row.error);
            x->refused++;
            continue;
        }
        for (size_t i = 0; i < row.nfields && i < x->ncols; i++) {
            vitalgate__v1__field__init(&f[k]);
            f[k].name = (char *)vg_csv_column(x->csv, i);
            x->offsets[n * x->ncols + k] = x->text.len;
            if (vg_buf_append(&x->text, row.fields[i], strlen(row.fields[i]) + 1) != VG_OK) {
                fprintf(stderr, "vitalctl: out of memory\n");
                return -1;
            }
            fp[k] = &f[k];
            k++;
        }
        vitalgate__v1__source_record__init(&x->recs[n]);
        x->recs[n].n_fields = k;
        x->recs[n].fields = fp;
        x->recp[n] = &x->recs[n];
        b->line[n] = row.line;
        n++;
    }
    if (n == 0)
        return 0;
    for (size_t r = 0; r < n; r++)
        for (size_t k = 0; k < x->recs[r].n_fields; k++)
            x->recs[r].fields[k]->value = (char *)x->text.data + x->offsets[r * x->ncols + k];
    b->n = n;
    x->next_id++;
    x->count++;
    req.department = (char *)x->dept;
    req.batch_id = b->id;
    req.n_records = n;
    req.records = x->recp;
    vg_buf_reset(out);
    if (vg_buf_reserve(out, protobuf_c_message_get_packed_size(&req.base)) != VG_OK) {
        fprintf(stderr, "vitalctl: out of memory\n");
        return -1;
    }
    out->len = protobuf_c_message_pack(&req.base, out->data);
    return 1;
}

static int on_push_reply(void *arg, const uint8_t *data, size_t len)
{
    import_ctx *x = arg;
    Vitalgate__V1__PushReply *r = vitalgate__v1__push_reply__unpack(NULL, len, data);
    batch_lines *b = &x->inflight[x->head];

    if (!r || x->count == 0 || r->batch_id != b->id) {
        fprintf(stderr, "vitalctl: %s: unexpected reply from the gateway\n", x->path);
        vitalgate__v1__push_reply__free_unpacked(r, NULL);
        return -1;
    }
    x->stored += r->stored;
    x->held += r->already_held;
    x->updated += r->updated;
    x->refused += r->n_refused;
    for (size_t i = 0; i < r->n_refused; i++) {
        const Vitalgate__V1__Refusal *f = r->refused[i];
        size_t line = f->index < b->n ? b->line[f->index] : 0;

        fprintf(stderr, "%s:%zu: %s: %s\n", x->path, line, f->field, f->reason);
    }
    x->head = (x->head + 1) % (WINDOW + 1);
    x->count--;
    vitalgate__v1__push_reply__free_unpacked(r, NULL);
    return 0;
}

/* Checks that the export's header names every field the department requires. */
static int check_header(const import_ctx *x, vg_department dept)
{
    const char *const *req = vg_adapter_required_fields(dept);
    int ok = 1;

    for (; req && *req; req++) {
        if (vg_csv_find_column(x->csv, *req) < 0) {
            fprintf(stderr, "vitalctl: %s: the header has no column '%s' (a %s export needs it)\n",
                    x->path, *req, x->dept);
            ok = 0;
        }
    }
    return ok;
}

static int import_file(vc_client *c, const char *path, const char *dept_name, vg_department dept,
                       size_t batch, int *any_refused)
{
    import_ctx *x = calloc(1, sizeof(*x));
    vc_stream_io io = {next_batch, on_push_reply, x, WINDOW};
    vc_status st;
    char why[512];
    int rc = VC_EXIT_FAIL, ok;

    if (!x) {
        fprintf(stderr, "vitalctl: out of memory\n");
        return VC_EXIT_FAIL;
    }
    x->path = path;
    x->dept = dept_name;
    if (vg_csv_open_file(path, &x->csv, why, sizeof(why)) != VG_OK) {
        fprintf(stderr, "vitalctl: %s: %s\n", path, why);
        goto out;
    }
    if (!check_header(x, dept))
        goto out;
    x->ncols = vg_csv_columns(x->csv);
    x->batch = batch;
    x->fields = calloc(batch * x->ncols, sizeof(*x->fields));
    x->fieldp = calloc(batch * x->ncols, sizeof(*x->fieldp));
    x->offsets = calloc(batch * x->ncols, sizeof(*x->offsets));
    x->recs = calloc(batch, sizeof(*x->recs));
    x->recp = calloc(batch, sizeof(*x->recp));
    ok = x->fields && x->fieldp && x->offsets && x->recs && x->recp;
    for (size_t i = 0; i <= WINDOW && ok; i++)
        ok = (x->inflight[i].line = calloc(batch, sizeof(size_t))) != NULL;
    if (!ok) {
        fprintf(stderr, "vitalctl: out of memory\n");
        goto out;
    }

    vc_stream(c, "/vitalgate.v1.Ingest/Push", &io, &st);
    printf("%s: %s, %llu records: %llu stored, %llu already held, %llu updated, %llu refused\n",
           path, vg_encoding_name(vg_csv_encoding(x->csv)), x->total, x->stored, x->held,
           x->updated, x->refused);
    if (st.code != GRPC_STATUS_OK) {
        vc_report_status("import", &st);
        /* Batches are acknowledged in order: everything from the oldest unanswered one on
         * may be missing. */
        if (x->count > 0 && x->inflight[x->head].n > 0)
            fprintf(stderr,
                    "vitalctl: %s: records from line %zu on were not acknowledged; "
                    "import the file again (what is held is reported as held)\n",
                    path, x->inflight[x->head].line[0]);
        goto out;
    }
    if (x->refused)
        *any_refused = 1;
    rc = VC_EXIT_OK;
out:
    vg_csv_close(x->csv);
    free(x->fields);
    free(x->fieldp);
    free(x->offsets);
    free(x->recs);
    free(x->recp);
    for (size_t i = 0; i <= WINDOW; i++)
        free(x->inflight[i].line);
    vg_buf_free(&x->text);
    free(x);
    return rc;
}

int vc_cmd_import(vc_client *c, int argc, char **argv)
{
    static const struct option longopts[] = {{"department", required_argument, NULL, 'd'},
                                             {"batch", required_argument, NULL, 'b'},
                                             {NULL, 0, NULL, 0}};
    long batch = DEFAULT_BATCH;
    const char *dept_name = NULL;
    vg_department dept;
    int any_refused = 0, opt;

    while ((opt = getopt_long(argc, argv, "d:b:", longopts, NULL)) != -1) {
        if (opt == 'd') {
            dept_name = optarg;
        } else if (opt == 'b' && (batch = strtol(optarg, NULL, 10)) >= 1 && batch <= 1000000) {
            continue;
        } else {
            fprintf(stderr, "usage: vitalctl import --department DEPT [--batch N] FILE...\n");
            return VC_EXIT_FAIL;
        }
    }
    if (!dept_name || vg_department_parse(dept_name, &dept) != VG_OK) {
        fprintf(stderr, "vitalctl: import: --department must be cremation, health, household "
                        "or disability\n");
        return VC_EXIT_FAIL;
    }
    if (optind >= argc) {
        fprintf(stderr, "vitalctl: import: no FILE given\n");
        return VC_EXIT_FAIL;
    }
    for (int i = optind; i < argc; i++)
        if (import_file(c, argv[i], dept_name, dept, (size_t)batch, &any_refused) != VC_EXIT_OK)
            return VC_EXIT_FAIL;
    return any_refused ? VC_EXIT_REFUSED : VC_EXIT_OK;
}
