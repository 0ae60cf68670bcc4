/* tls.c - mutual TLS with revocation, on the gRPC core's TLS credentials API.
 *
 * The core checks the client's chain against the CA (the certificate provider watches the
 * files). Revocation is ours: an external verifier, run after the chain check on every
 * handshake, looks the client certificate up in the CRL in force. SIGHUP swaps that CRL
 * under a lock; handshakes already done are not affected, calls in flight go on. */
#include "tls.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/support/alloc.h>
#include <grpc/support/string_util.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "vg_log.h"

/* How often the certificate provider re-reads the CA and server certificate files. */
#define WATCH_INTERVAL_S 1

struct vg_tls {
    pthread_mutex_t lock;
    X509_CRL *crl;               /* NULL: nothing revoked */
    _Atomic uint64_t generation; /* bumped with every CRL put in force */
    _Atomic int has_revoked;     /* the CRL in force lists at least one certificate */
    grpc_tls_certificate_provider *provider;
    grpc_tls_certificate_verifier *verifier;
    grpc_tls_certificate_verifier_external external; /* must outlive the verifier */
};

static void openssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();

    if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "unknown error");
    ERR_clear_error();
}

static X509 *read_cert(const char *path, char *why, size_t whylen)
{
    FILE *f = fopen(path, "r");
    X509 *x;
    char reason[200];

    if (!f) {
        snprintf(why, whylen, "%s: cannot open", path);
        return NULL;
    }
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!x) {
        openssl_reason(reason, sizeof(reason));
        snprintf(why, whylen, "%s: not a PEM certificate (%s)", path, reason);
    }
    return x;
}

/* Checks the CA, the server pair and the CRL of cfg; returns the CRL (or NULL when none is
 * configured) in *crl. */
static vg_err check_files(const vg_config *cfg, X509_CRL **crl, char *why, size_t whylen)
{
    X509 *ca = NULL, *cert = NULL;
    EVP_PKEY *key = NULL, *ca_key = NULL;
    FILE *f = NULL;
    char reason[200];
    vg_err err = VG_ERR_CONFIG;

    *crl = NULL;
    if (!(ca = read_cert(cfg->tls_ca, why, whylen)) ||
        !(cert = read_cert(cfg->tls_cert, why, whylen)))
        goto out;
    if (!(f = fopen(cfg->tls_key, "r"))) {
        snprintf(why, whylen, "%s: cannot open", cfg->tls_key);
        goto out;
    }
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    f = NULL;
    if (!key) {
        openssl_reason(reason, sizeof(reason));
        snprintf(why, whylen, "%s: not a PEM private key (%s)", cfg->tls_key, reason);
        goto out;
    }
    if (X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        snprintf(why, whylen, "%s does not match the certificate %s", cfg->tls_key, cfg->tls_cert);
        goto out;
    }
    if (cfg->tls_crl[0]) {
        if (!(f = fopen(cfg->tls_crl, "r"))) {
            snprintf(why, whylen, "%s: cannot open", cfg->tls_crl);
            goto out;
        }
        *crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
        if (!*crl) {
            openssl_reason(reason, sizeof(reason));
            snprintf(why, whylen, "%s: not a PEM CRL (%s)", cfg->tls_crl, reason);
            goto out;
        }
        ca_key = X509_get0_pubkey(ca);
        if (!ca_key || X509_CRL_verify(*crl, ca_key) != 1) {
            ERR_clear_error();
            snprintf(why, whylen, "%s is not signed by the CA %s", cfg->tls_crl, cfg->tls_ca);
            X509_CRL_free(*crl);
            *crl = NULL;
            goto out;
        }
    }
    err = VG_OK;
out:
    if (f)
        fclose(f);
    X509_free(ca);
    X509_free(cert);
    EVP_PKEY_free(key);
    return err;
}

/* Whether x is on the CRL in force. */
static int on_crl(vg_tls *tls, X509 *x)
{
    X509_REVOKED *entry = NULL;
    int revoked = 0;

    pthread_mutex_lock(&tls->lock);
    if (tls->crl)
        revoked = X509_CRL_get0_by_cert(tls->crl, &entry, x) == 1;
    pthread_mutex_unlock(&tls->lock);
    return revoked;
}

/* The revocation check, run by the core on its handshake thread after the chain check. */
static int verify_peer(void *user_data, grpc_tls_custom_verification_check_request *request,
                       grpc_tls_on_custom_verification_check_done_cb callback, void *callback_arg,
                       grpc_status_code *sync_status, char **sync_error_details)
{
    vg_tls *tls = user_data;
    const char *pem = request->peer_info.peer_cert;
    X509 *x = NULL;
    BIO *bio;
    int revoked = 0;

    (void)callback;
    (void)callback_arg;
    *sync_status = GRPC_STATUS_OK;
    if (!pem || !(bio = BIO_new_mem_buf(pem, -1))) {
        *sync_status = GRPC_STATUS_UNAUTHENTICATED;
        *sync_error_details = gpr_strdup("no client certificate");
        return 1;
    }
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!x) {
        ERR_clear_error();
        *sync_status = GRPC_STATUS_UNAUTHENTICATED;
        *sync_error_details = gpr_strdup("client certificate cannot be read");
        return 1;
    }
    revoked = on_crl(tls, x);
    if (revoked) {
        vg_info(request->peer_info.common_name, NULL, "handshake refused: certificate revoked");
        *sync_status = GRPC_STATUS_UNAUTHENTICATED;
        *sync_error_details = gpr_strdup("client certificate is revoked");
    }
    X509_free(x);
    return 1;
}

static uint64_t fnv1a(const char *p, size_t len)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h | 1; /* never 0, which marks an empty slot */
}

int vg_tls_revoked(vg_tls *tls, const char *pem, size_t len, vg_tls_verdicts *memo)
{
    uint64_t gen = atomic_load(&tls->generation), h;
    size_t slot;
    BIO *bio;
    X509 *x;
    int revoked;

    if (!atomic_load(&tls->has_revoked))
        return 0;
    if (memo->generation != gen) {
        memset(memo, 0, sizeof(*memo));
        memo->generation = gen;
    }
    h = fnv1a(pem, len);
    slot = h % VG_TLS_VERDICTS;
    if (memo->hash[slot] == h)
        return memo->revoked[slot];

    if (!(bio = BIO_new_mem_buf(pem, (int)len)))
        return 1;
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!x) {
        ERR_clear_error();
        return 1; /* what cannot be read is not let through */
    }
    revoked = on_crl(tls, x);
    X509_free(x);
    memo->hash[slot] = h;
    memo->revoked[slot] = (unsigned char)revoked;
    return revoked;
}

static void cancel_peer(void *user_data, grpc_tls_custom_verification_check_request *request)
{
    (void)user_data;
    (void)request;
}

static void destruct_verifier(void *user_data)
{
    (void)user_data;
}

vg_err vg_tls_new(const vg_config *cfg, vg_tls **out, grpc_server_credentials **creds, char *why,
                  size_t whylen)
{
    vg_tls *tls;
    X509_CRL *crl;
    grpc_tls_credentials_options *opts;
    vg_err err;

    *out = NULL;
    *creds = NULL;
    if ((err = check_files(cfg, &crl, why, whylen)) != VG_OK)
        return err;
    if (!(tls = calloc(1, sizeof(*tls)))) {
        X509_CRL_free(crl);
        return VG_ERR_NOMEM;
    }
    pthread_mutex_init(&tls->lock, NULL);
    tls->crl = crl;
    atomic_store(&tls->generation, 1);
    atomic_store(&tls->has_revoked, crl && sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) > 0);

    tls->external.user_data = tls;
    tls->external.verify = verify_peer;
    tls->external.cancel = cancel_peer;
    tls->external.destruct = destruct_verifier;
    tls->verifier = grpc_tls_certificate_verifier_external_create(&tls->external);
    tls->provider = grpc_tls_certificate_provider_file_watcher_create(
        cfg->tls_key, cfg->tls_cert, cfg->tls_ca, WATCH_INTERVAL_S);

    /* The options take their own references to the provider and the verifier. */
    opts = grpc_tls_credentials_options_create();
    grpc_tls_credentials_options_set_certificate_provider(opts, tls->provider);
    grpc_tls_credentials_options_watch_root_certs(opts);
    grpc_tls_credentials_options_watch_identity_key_cert_pairs(opts);
    grpc_tls_credentials_options_set_cert_request_type(
        opts, GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    grpc_tls_credentials_options_set_certificate_verifier(opts, tls->verifier);
    *creds = grpc_tls_server_credentials_create(opts);
    if (!*creds) {
        snprintf(why, whylen, "TLS credentials could not be made");
        vg_tls_free(tls);
        return VG_ERR_CONFIG;
    }
    *out = tls;
    return VG_OK;
}

vg_err vg_tls_reload(vg_tls *tls, const vg_config *cfg, char *why, size_t whylen)
{
    X509_CRL *crl, *old;
    vg_err err = check_files(cfg, &crl, why, whylen);

    if (err != VG_OK)
        return err;
    pthread_mutex_lock(&tls->lock);
    old = tls->crl;
    tls->crl = crl;
    atomic_store(&tls->has_revoked, crl && sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) > 0);
    atomic_fetch_add(&tls->generation, 1);
    pthread_mutex_unlock(&tls->lock);
    X509_CRL_free(old);
    return VG_OK;
}

void vg_tls_free(vg_tls *tls)
{
    if (!tls)
        return;
    if (tls->verifier)
        grpc_tls_certificate_verifier_release(tls->verifier);
    if (tls->provider)
        grpc_tls_certificate_provider_release(tls->provider);
    X509_CRL_free(tls->crl);
    pthread_mutex_destroy(&tls->lock);
    free(tls);
}
