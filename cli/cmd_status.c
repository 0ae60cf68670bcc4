/* cmd_status.c - vitalctl status (one person, with evidence) and vitalctl health. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "health.pb-c.h"
#include "vitalctl.h"
#include "vitalgate.pb-c.h"
#include "words.h"

static void print_text(const Vitalgate__V1__PersonStatus *p)
{
    printf("ID number          %s\n", p->id_number[0] ? p->id_number : p->id_as_given);
    printf("death status       %s\n", vc_death_status_word(p->death_status));
    if (p->invalid_reason[0])
        printf("invalid because    %s\n", p->invalid_reason);
    printf("date of death      %s\n", p->date_of_death);
    printf("death sources     ");
    for (size_t i = 0; i < p->n_death_sources; i++)
        printf("%s%s", i ? ";" : " ", p->death_sources[i]);
    printf("\nname check         %s\n", vc_name_check_word(p->name_check));
    printf("deregistration     %s\n", p->household_deregistration);
    printf("certificate        %s\n", vc_certificate_word(p->certificate));
    if (p->n_evidence)
        printf("evidence:\n");
    for (size_t i = 0; i < p->n_evidence; i++) {
        const Vitalgate__V1__Evidence *e = p->evidence[i];

        printf("  %-10s %s  [%s]", e->department, e->record_key, e->role);
        if (e->date_of_death[0])
            printf("  died %s", e->date_of_death);
        printf("  recorded %s", e->record_date);
        if (e->certificate_state[0])
            printf("  state %s", e->certificate_state);
        if (e->original_certificate[0])
            printf("  replaces %s", e->original_certificate);
        if (e->deregistration_reason[0])
            printf("  reason %s", e->deregistration_reason);
        if (e->valid_until[0])
            printf("  valid until %s  category %u level %u", e->valid_until, e->disability_category,
                   e->disability_level);
        if (e->name[0])
            printf("  name %s", e->name);
        if (e->place[0])
            printf("  place %s", e->place);
        if (e->unit[0])
            printf("  unit %s", e->unit);
        if (e->address[0])
            printf("  address %s", e->address);
        if (e->cause_of_death[0])
            printf("  cause %s", e->cause_of_death);
        printf("\n");
    }
}

/* Adds a string member only when it is not empty. */
static void put(json_t *o, const char *key, const char *value)
{
    if (value && value[0])
        json_object_set_new(o, key, json_string(value));
}

static void print_json(const Vitalgate__V1__PersonStatus *p)
{
    json_t *o = json_object(), *src = json_array(), *ev = json_array();
    char *text;

    json_object_set_new(o, "id_as_given", json_string(p->id_as_given));
    json_object_set_new(o, "id_number", json_string(p->id_number));
    json_object_set_new(o, "death_status", json_string(vc_death_status_word(p->death_status)));
    put(o, "invalid_reason", p->invalid_reason);
    json_object_set_new(o, "date_of_death", json_string(p->date_of_death));
    for (size_t i = 0; i < p->n_death_sources; i++)
        json_array_append_new(src, json_string(p->death_sources[i]));
    json_object_set_new(o, "death_sources", src);
    json_object_set_new(o, "name_check", json_string(vc_name_check_word(p->name_check)));
    json_object_set_new(o, "household_deregistration", json_string(p->household_deregistration));
    json_object_set_new(o, "certificate", json_string(vc_certificate_word(p->certificate)));
    for (size_t i = 0; i < p->n_evidence; i++) {
        const Vitalgate__V1__Evidence *e = p->evidence[i];
        json_t *j = json_object();

        put(j, "department", e->department);
        put(j, "record_key", e->record_key);
        put(j, "role", e->role);
        put(j, "date_of_death", e->date_of_death);
        put(j, "record_date", e->record_date);
        put(j, "name", e->name);
        put(j, "place", e->place);
        put(j, "unit", e->unit);
        put(j, "address", e->address);
        put(j, "cause_of_death", e->cause_of_death);
        put(j, "certificate_state", e->certificate_state);
        put(j, "original_certificate", e->original_certificate);
        put(j, "deregistration_reason", e->deregistration_reason);
        put(j, "valid_until", e->valid_until);
        if (e->disability_category)
            json_object_set_new(j, "disability_category", json_integer(e->disability_category));
        if (e->disability_level)
            json_object_set_new(j, "disability_level", json_integer(e->disability_level));
        json_array_append_new(ev, j);
    }
    json_object_set_new(o, "evidence", ev);
    text = json_dumps(o, JSON_INDENT(2));
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(o);
}

int vc_cmd_status(vc_client *c, int argc, char **argv)
{
    static const struct option longopts[] = {{"name", required_argument, NULL, 'n'},
                                             {"purpose", required_argument, NULL, 'p'},
                                             {"as-of", required_argument, NULL, 'a'},
                                             {"json", no_argument, NULL, 'j'},
                                             {NULL, 0, NULL, 0}};
    Vitalgate__V1__StatusRequest req = VITALGATE__V1__STATUS_REQUEST__INIT;
    Vitalgate__V1__PersonStatus *p;
    vg_buf out = {0}, resp = {0};
    vc_status st;
    int opt, json = 0, rc = VC_EXIT_FAIL;

    req.purpose = "welfare-stop-check";
    while ((opt = getopt_long(argc, argv, "n:p:a:j", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            req.name = optarg;
            break;
        case 'p':
            req.purpose = optarg;
            break;
        case 'a':
            req.as_of = optarg;
            break;
        case 'j':
            json = 1;
            break;
        default:
            fprintf(stderr, "usage: vitalctl status ID [--name NAME] [--purpose P] "
                            "[--as-of DATE] [--json]\n");
            return VC_EXIT_FAIL;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: vitalctl status ID [--name NAME] [--purpose P] [--as-of DATE] "
                        "[--json]\n");
        return VC_EXIT_FAIL;
    }
    req.id_number = argv[optind];
    if (vg_buf_reserve(&out, protobuf_c_message_get_packed_size(&req.base)) != VG_OK)
        return VC_EXIT_FAIL;
    out.len = protobuf_c_message_pack(&req.base, out.data);
    vc_unary(c, "/vitalgate.v1.Query/GetStatus", out.data, out.len, &resp, &st);
    if (st.code != GRPC_STATUS_OK) {
        vc_report_status("status", &st);
        goto out;
    }
    p = vitalgate__v1__person_status__unpack(NULL, resp.len, resp.data);
    if (!p) {
        fprintf(stderr, "vitalctl: status: unreadable reply from the gateway\n");
        goto out;
    }
    if (json)
        print_json(p);
    else
        print_text(p);
    vitalgate__v1__person_status__free_unpacked(p, NULL);
    rc = VC_EXIT_OK;
out:
    vg_buf_free(&out);
    vg_buf_free(&resp);
    return rc;
}

int vc_cmd_health(vc_client *c, int argc, char **argv)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    Grpc__Health__V1__HealthCheckResponse *r;
    uint8_t buf[64];
    vg_buf resp = {0};
    vc_status st;
    size_t n;
    int rc = VC_EXIT_FAIL;

    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: vitalctl health\n");
        return VC_EXIT_FAIL;
    }
    n = protobuf_c_message_pack(&req.base, buf);
    vc_unary(c, "/grpc.health.v1.Health/Check", buf, n, &resp, &st);
    if (st.code != GRPC_STATUS_OK) {
        vc_report_status("health", &st);
        goto out;
    }
    r = grpc__health__v1__health_check_response__unpack(NULL, resp.len, resp.data);
    if (r && r->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
        printf("SERVING\n");
        rc = VC_EXIT_OK;
    } else {
        printf("NOT_SERVING\n");
    }
    grpc__health__v1__health_check_response__free_unpacked(r, NULL);
out:
    vg_buf_free(&resp);
    return rc;
}
