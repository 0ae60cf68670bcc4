/* vg_config.h - the gateway's configuration, loaded from a libconfig file into plain
 * structs. The only module that includes libconfig.h. */
#ifndef VG_CONFIG_H
#define VG_CONFIG_H

#include <stddef.h>

#include "vg_err.h"
#include "vg_record.h"

#define VG_PATH_MAX 1024

/* Field groups of the evidence a consumer may receive (bit set). */
#define VG_FIELDS_STATUS 0x1u /* status, sources, record keys and dates: every consumer */
#define VG_FIELDS_NAMES  0x2u /* names the departments hold */
#define VG_FIELDS_PLACES 0x4u /* places, units, funeral homes, addresses */
#define VG_FIELDS_CAUSE  0x8u /* cause of death (根本死因编码): health data */

typedef enum vg_role {
    VG_ROLE_KIND_DEPARTMENT = 0, /* may push its own department's records */
    VG_ROLE_KIND_CONSUMER,       /* may query, for its allowed purposes */
    VG_ROLE_KIND_AUDITOR,        /* may read the audit log */
} vg_role;

typedef struct vg_principal {
    char *name; /* certificate subject CN or a SAN (DNS, URI or e-mail) */
    vg_role role;
    vg_department dept; /* department roles */
    unsigned fields;    /* consumer roles: VG_FIELDS_* */
    char **purposes;    /* consumer roles: allowed purpose codes */
    size_t npurposes;
} vg_principal;

typedef struct vg_purpose {
    char *code;
    char *description;
} vg_purpose;

/* The Redis cache of person records (see vg_cache.h). */
typedef struct vg_cache_config {
    int enabled;               /* 0: every lookup goes to the store */
    char address[VG_PATH_MAX]; /* "HOST:PORT", or a unix socket: "/path" or "unix:/path" */
    char user[128];            /* ACL user; "" for the default user */
    char password[256];        /* "" for none */
    int db;                    /* database number */
    int ttl_s;                 /* lifetime of an entry */
    int connect_timeout_ms;
    int command_timeout_ms;
} vg_cache_config;

/* The audit log (see vg_audit.h). */
typedef struct vg_audit_config {
    int enabled;                   /* 0 only for measuring what the audit costs */
    char dir[VG_PATH_MAX];         /* default: DATA_DIR/audit */
    char signing_key[VG_PATH_MAX]; /* PEM private key signing checkpoints; default tls.key */
    int checkpoint_interval_ms;    /* a signed checkpoint at least this often while busy */
    int checkpoint_entries;        /* and after this many entries */
} vg_audit_config;

typedef struct vg_config {
    char path[VG_PATH_MAX];     /* the file loaded, as given */
    char listen[256];           /* HOST:PORT; port 0 binds a free port */
    char data_dir[VG_PATH_MAX]; /* absolute, or relative to the working directory */
    char tls_ca[VG_PATH_MAX];   /* CA that signs client certificates */
    char tls_cert[VG_PATH_MAX]; /* server certificate chain */
    char tls_key[VG_PATH_MAX];  /* server private key */
    char tls_crl[VG_PATH_MAX];  /* PEM CRL of the client CA; "" for none */
    int threads;                /* completion-queue threads, 1..64 */
    long max_message_bytes;     /* receive limit per message */
    int shutdown_grace_ms;      /* how long in-flight calls may finish at shutdown */
    int log_level;              /* VG_LOG_* */
    long max_batch_records;     /* records per Push message */
    vg_principal *principals;
    size_t nprincipals;
    vg_purpose *purposes;
    size_t npurposes;
    vg_cache_config cache;
    vg_audit_config audit;
} vg_config;

/* Loads the libconfig file at path. Relative paths in it resolve against the file's folder.
 * On error returns VG_ERR_CONFIG (or VG_ERR_NOMEM) with "FILE:LINE: SETTING: reason" in why
 * and *out NULL. The caller owns *out. Any thread. */
vg_err vg_config_load(const char *path, vg_config **out, char *why, size_t whylen);

/* Frees a config; NULL is fine. */
void vg_config_free(vg_config *cfg);

/* The principal entry with that exact name, or NULL (deny by default). */
const vg_principal *vg_config_principal(const vg_config *cfg, const char *name);

/* The purpose with that code, or NULL. */
const vg_purpose *vg_config_purpose(const vg_config *cfg, const char *code);

/* 1 when the consumer principal p may query for the purpose code. */
int vg_principal_allows_purpose(const vg_principal *p, const char *code);

#endif
