/* main.c - the vitalgate process: options, config, store, server, signals. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <grpc/grpc.h>

#include "server.h"
#include "vg_audit.h"
#include "vg_cache.h"
#include "vg_config.h"
#include "vg_log.h"
#include "vg_store.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vitalgate --config FILE [--listen HOST:PORT] [--data-dir DIR]\n"
            "                 [--redis HOST:PORT|/SOCKET|off] [--log-level error|warn|info|debug]\n"
            "Serves the vitalgate API over mutual TLS until SIGTERM or SIGINT; SIGHUP reloads the "
            "config.\n");
}

typedef struct options {
    const char *config;
    const char *listen;
    const char *data_dir;
    const char *log_level;
    const char *redis;
} options;

static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"listen", required_argument, NULL, 'l'},
                                             {"data-dir", required_argument, NULL, 'd'},
                                             {"log-level", required_argument, NULL, 'v'},
                                             {"redis", required_argument, NULL, 'r'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
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
        case 'r':
            o->redis = optarg;
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
    if (o->redis && strcmp(o->redis, "off") == 0) {
        cfg->cache.enabled = 0;
    } else if (o->redis) {
        if (!o->redis[0] || strlen(o->redis) >= sizeof(cfg->cache.address)) {
            fprintf(stderr, "vitalgate: --redis: expected HOST:PORT, a socket path or off\n");
            return -1;
        }
        snprintf(cfg->cache.address, sizeof(cfg->cache.address), "%s", o->redis);
        cfg->cache.enabled = 1;
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

/* Takes every file descriptor the hard limit allows: each client connection holds one, and
 * the gRPC core stops accepting for good once accept fails for want of them. */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* The host part of cfg->listen with the port actually bound. */
static void bound_address(const vg_config *cfg, int port, char *buf, size_t len)
{
    const char *colon = strrchr(cfg->listen, ':');
    int hostlen = (int)(colon - cfg->listen);

    snprintf(buf, len, "%.*s:%d", hostlen, cfg->listen, port);
}

/* Configs replaced by SIGHUP: calls that started under one may still use it, so they live
 * until the process ends. */
typedef struct config_list {
    vg_config **cfg;
    size_t n;
} config_list;

/* SIGHUP: reads the config file again and puts its CRL, principals and purposes in force;
 * a file that fails validation changes nothing. */
static void reload(vg_server *srv, const options *opt, config_list *kept)
{
    vg_config *cfg = NULL, **grown;
    char why[1024];

    if (vg_config_load(opt->config, &cfg, why, sizeof(why)) != VG_OK ||
        apply_overrides(cfg, opt) != 0) {
        vg_warn(NULL, NULL, "reload refused, keeping the old settings: %s", why);
        vg_config_free(cfg);
        return;
    }
    grown = realloc(kept->cfg, (kept->n + 1) * sizeof(*kept->cfg));
    if (!grown) {
        vg_warn(NULL, NULL, "reload refused, keeping the old settings: out of memory");
        vg_config_free(cfg);
        return;
    }
    kept->cfg = grown;
    if (vg_server_reload(srv, cfg, why, sizeof(why)) != VG_OK) {
        vg_warn(NULL, NULL, "reload refused, keeping the old settings: %s", why);
        vg_config_free(cfg);
        return;
    }
    kept->cfg[kept->n++] = cfg;
    vg_info(NULL, NULL, "reloaded %s: %zu principals, %zu purposes, %s", opt->config,
            cfg->nprincipals, cfg->npurposes, cfg->tls_crl[0] ? "CRL in force" : "no CRL");
}

int main(int argc, char **argv)
{
    options opt;
    vg_config *cfg = NULL;
    vg_store *store = NULL;
    vg_server *srv = NULL;
    vg_audit *audit = NULL;
    config_list retired = {0};
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
    sigaddset(&stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    /* A file-size limit must show as a write error (EFBIG), not kill the process. */
    signal(SIGXFSZ, SIG_IGN);

    if (vg_store_open(cfg->data_dir, &store, why, sizeof(why)) != VG_OK) {
        vg_error(NULL, NULL, "store: %s", why);
        goto out;
    }
    if (cfg->audit.enabled && vg_audit_open(&cfg->audit, &audit, why, sizeof(why)) != VG_OK) {
        vg_error(NULL, NULL, "audit: %s", why);
        goto out;
    }
    if (!cfg->audit.enabled)
        vg_warn(NULL, NULL, "the audit log is off: calls are not audited");
    grpc_init();
    if (vg_server_start(cfg, store, audit, &srv, why, sizeof(why)) != VG_OK) {
        vg_error(NULL, NULL, "server: %s", why);
        grpc_shutdown();
        goto out;
    }
    bound_address(cfg, vg_server_port(srv), addr, sizeof(addr));
    vg_info(NULL, NULL, "listening on %s", addr);

    for (;;) {
        if (sigwait(&stop_signals, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            break;
        reload(srv, &opt, &retired);
    }
    vg_info(NULL, NULL, "%s received: finishing in-flight calls", strsignal(sig));
    vg_server_stop(srv);
    grpc_shutdown();
    rc = 0;
    if (cfg->cache.enabled) {
        vg_cache_stats cs;

        vg_cache_stats_get(&cs);
        vg_info(NULL, NULL,
                "cache: %llu hits, %llu misses, %llu errors, %llu fills, "
                "%llu fills refused",
                (unsigned long long)cs.hits, (unsigned long long)cs.misses,
                (unsigned long long)cs.errors, (unsigned long long)cs.fills,
                (unsigned long long)cs.refused);
    }
    vg_info(NULL, NULL, "stopped");
out:
    vg_audit_close(audit);
    vg_store_close(store);
    vg_config_free(cfg);
    for (size_t i = 0; i < retired.n; i++)
        vg_config_free(retired.cfg[i]);
    free(retired.cfg);
    return rc;
}
