/* main.c - the vitalgate process: options, config, store, server, signals. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>

#include "server.h"
#include "vg_config.h"
#include "vg_log.h"
#include "vg_store.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: vitalgate --config FILE [--listen HOST:PORT] [--data-dir DIR]\n"
               "                 [--log-level error|warn|info|debug]\n"
               "Serves the vitalgate API over mutual TLS until SIGTERM or SIGINT.\n");
}

typedef struct options {
    const char *config;
    const char *listen;
    const char *data_dir;
    const char *log_level;
} options;

static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},   {"listen", required_argument, NULL, 'l'},
        {"data-dir", required_argument, NULL, 'd'}, {"log-level", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    int c;

    memset(o, 0, sizeof(*o));
    while ((c = getopt_long(argc, argv, "c:l:d:v:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'l':
            o->listen = optarg;
            break;
        case 'd':
            o->data_dir = optarg;
            break;
        case 'v':
            o->log_level = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vitalgate: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return -1;
    }
    if (!o->config) {
        fprintf(stderr, "vitalgate: --config FILE is required\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

/* Applies the command-line overrides to the loaded config. */
static int apply_overrides(vg_config *cfg, const options *o)
{
    if (o->listen) {
        if (!strrchr(o->listen, ':') || strlen(o->listen) >= sizeof(cfg->listen)) {
            fprintf(stderr, "vitalgate: --listen: expected HOST:PORT, got '%s'\n", o->listen);
            return -1;
        }
        snprintf(cfg->listen, sizeof(cfg->listen), "%s", o->listen);
    }
    if (o->data_dir) {
        if (strlen(o->data_dir) >= sizeof(cfg->data_dir)) {
            fprintf(stderr, "vitalgate: --data-dir: path too long\n");
            return -1;
        }
        snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", o->data_dir);
    }
    if (o->log_level) {
        int level = vg_log_level_parse(o->log_level);

        if (level < 0) {
            fprintf(stderr, "vitalgate: --log-level: expected error, warn, info or debug\n");
            return -1;
        }
        cfg->log_level = level;
    }
    return 0;
}

/* The host part of cfg->listen with the port actually bound. */
static void bound_address(const vg_config *cfg, int port, char *buf, size_t len)
{
    const char *colon = strrchr(cfg->listen, ':');
    int hostlen = (int)(colon - cfg->listen);

    snprintf(buf, len, "%.*s:%d", hostlen, cfg->listen, port);
}

int main(int argc, char **argv)
{
    options opt;
    vg_config *cfg = NULL;
    vg_store *store = NULL;
    vg_server *srv = NULL;
    char why[1024];
    char addr[300];
    sigset_t stop_signals;
    int sig = 0;
    int rc = 1;

    if (parse_options(argc, argv, &opt) != 0)
        return 2;
    if (vg_config_load(opt.config, &cfg, why, sizeof(why)) != VG_OK) {
        fprintf(stderr, "vitalgate: %s\n", why);
        return 1;
    }
    if (apply_overrides(cfg, &opt) != 0)
        goto out;
    vg_log_level = cfg->log_level;

    /* Signals are taken by sigwait on this thread only: block them before any thread
     * (the gRPC core's included) starts. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (vg_store_open(cfg->data_dir, &store, why, sizeof(why)) != VG_OK) {
        vg_error(NULL, NULL, "store: %s", why);
        goto out;
    }
    grpc_init();
    if (vg_server_start(cfg, store, &srv, why, sizeof(why)) != VG_OK) {
        vg_error(NULL, NULL, "server: %s", why);
        grpc_shutdown();
        goto out;
    }
    bound_address(cfg, vg_server_port(srv), addr, sizeof(addr));
    vg_info(NULL, NULL, "listening on %s", addr);

    while (sigwait(&stop_signals, &sig) != 0)
        ;
    vg_info(NULL, NULL, "%s received: finishing in-flight calls", strsignal(sig));
    vg_server_stop(srv);
    grpc_shutdown();
    rc = 0;
    vg_info(NULL, NULL, "stopped");
out:
    vg_store_close(store);
    vg_config_free(cfg);
    return rc;
}
