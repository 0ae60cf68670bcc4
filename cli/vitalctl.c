/* vitalctl.c - the command line client of vitalgate: options and dispatch. */
#include "vg_audit.h"
#include "vitalctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: vitalctl [--target HOST:PORT] [--ca FILE] [--cert FILE] [--key FILE]\n"
               "                [--timeout SECONDS] COMMAND [ARGS]\n"
               "commands:\n"
               "  import --department cremation|health|household|disability [--batch N] FILE...\n"
               "  status ID [--name NAME] [--purpose P] [--as-of DATE] [--json]\n"
               "  match FILE [--as-of DATE] [--purpose P]\n"
               "  health\n"
               "  audit verify PATH --key PUBLIC_KEY_OR_CERTIFICATE   (offline)\n"
               "  audit list [--from T] [--to T] [--principal P] [--subject ID] [--method M]\n"
               "             [--result CODE] [--limit N] [--json]\n"
               "Defaults come from VITALCTL_TARGET, VITALCTL_CA, VITALCTL_CERT and VITALCTL_KEY,\n"
               "else 127.0.0.1:7443 and certs/dev/ca.crt.\n"
               "Exit: 0 done, 2 some records refused (import), 1 failure.\n");
}

void vc_report_status(const char *what, const vc_status *st)
{
    fprintf(stderr, "vitalctl: %s failed: %s%s%s\n", what, vg_audit_code_name(st->code),
            st->details[0] ? ": " : "", st->details);
    if (st->code == GRPC_STATUS_UNAVAILABLE)
        fprintf(stderr, "vitalctl: is the gateway running at the --target address, and does "
                        "it trust this client certificate (--cert/--key, signed by its CA) "
                        "and this one its certificate (--ca)?\n");
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);

    return v && v[0] ? v : fallback;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"target", required_argument, NULL, 't'},
                                             {"ca", required_argument, NULL, 'a'},
                                             {"cert", required_argument, NULL, 'c'},
                                             {"key", required_argument, NULL, 'k'},
                                             {"timeout", required_argument, NULL, 'T'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    vc_options opt = {env_or("VITALCTL_TARGET", "127.0.0.1:7443"),
                      env_or("VITALCTL_CA", "certs/dev/ca.crt"), env_or("VITALCTL_CERT", NULL),
                      env_or("VITALCTL_KEY", NULL), 0};
    double timeout = 0;
    vc_client *client;
    char why[512];
    const char *cmd;
    int c, rc;

    /* '+': stop at the command name; its own options follow it. */
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            opt.target = optarg;
            break;
        case 'a':
            opt.ca = optarg;
            break;
        case 'c':
            opt.cert = optarg;
            break;
        case 'k':
            opt.key = optarg;
            break;
        case 'T':
            timeout = atof(optarg);
            if (timeout <= 0) {
                fprintf(stderr, "vitalctl: --timeout: expected a positive number of seconds\n");
                return VC_EXIT_FAIL;
            }
            break;
        case 'h':
            usage(stdout);
            return VC_EXIT_OK;
        default:
            usage(stderr);
            return VC_EXIT_FAIL;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return VC_EXIT_FAIL;
    }
    if ((opt.cert == NULL) != (opt.key == NULL)) {
        fprintf(stderr, "vitalctl: --cert and --key go together\n");
        return VC_EXIT_FAIL;
    }
    opt.timeout_ms = (int)(timeout * 1000);
    cmd = argv[optind];
    if (strcmp(cmd, "import") && strcmp(cmd, "status") && strcmp(cmd, "match") &&
        strcmp(cmd, "health") && strcmp(cmd, "audit")) {
        fprintf(stderr, "vitalctl: unknown command '%s'\n", cmd);
        usage(stderr);
        return VC_EXIT_FAIL;
    }

    /* Verifying a copy of the audit log needs no gateway, nor its CA file. */
    if (strcmp(cmd, "audit") == 0 && optind + 1 < argc && strcmp(argv[optind + 1], "verify") == 0) {
        int first = optind;

        optind = 0; /* reset getopt for the command's own options */
        return vc_cmd_audit(NULL, argc - first, argv + first);
    }

    grpc_init();
    client = vc_client_open(&opt, why, sizeof(why));
    if (!client) {
        fprintf(stderr, "vitalctl: %s\n", why);
        grpc_shutdown();
        return VC_EXIT_FAIL;
    }
    argc -= optind;
    argv += optind;
    optind = 0; /* reset getopt for the command's own options */
    if (strcmp(cmd, "import") == 0)
        rc = vc_cmd_import(client, argc, argv);
    else if (strcmp(cmd, "status") == 0)
        rc = vc_cmd_status(client, argc, argv);
    else if (strcmp(cmd, "match") == 0)
        rc = vc_cmd_match(client, argc, argv);
    else if (strcmp(cmd, "audit") == 0)
        rc = vc_cmd_audit(client, argc, argv);
    else
        rc = vc_cmd_health(client, argc, argv);
    vc_client_close(client);
    grpc_shutdown();
    return rc;
}
