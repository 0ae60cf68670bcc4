/* tls.h - the server's mutual-TLS credentials: client certificates must chain to the
 * configured CA and must not be revoked by the CRL in force, which SIGHUP can replace. */
#ifndef VG_TLS_H
#define VG_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc_security.h>

#include "vg_config.h"
#include "vg_err.h"

typedef struct vg_tls vg_tls;

/* Makes the credentials for cfg: the CA, the server's certificate and key (files watched,
 * so replacing them takes effect on new handshakes within a second), and the CRL named by
 * cfg->tls_crl (none when ""). Checks every file first: unreadable files, a key that does
 * not match the certificate or a CRL not signed by the CA are refused with a reason in
 * why. The caller owns *out and *creds. Main thread. */
vg_err vg_tls_new(const vg_config *cfg, vg_tls **out, grpc_server_credentials **creds, char *why,
                  size_t whylen);

/* Checks the TLS files of cfg as vg_tls_new does, then makes its CRL the one in force for
 * new handshakes. On error keeps the old one and says why. Main thread. */
vg_err vg_tls_reload(vg_tls *tls, const vg_config *cfg, char *why, size_t whylen);

/* A small per-thread memory of verdicts, so a certificate is parsed once per CRL, not once
 * per call. Zero it before first use. */
#define VG_TLS_VERDICTS 256
typedef struct vg_tls_verdicts {
    uint64_t generation;
    uint64_t hash[VG_TLS_VERDICTS];
    unsigned char revoked[VG_TLS_VERDICTS];
} vg_tls_verdicts;

/* Whether the client certificate (PEM, as the auth context gives it) is revoked by the CRL
 * now in force: calls on connections whose handshake came before a reload are refused too.
 * Returns 1 when revoked. Thread that owns memo. */
int vg_tls_revoked(vg_tls *tls, const char *pem, size_t len, vg_tls_verdicts *memo);

/* Frees; call after the server is destroyed. NULL is fine. */
void vg_tls_free(vg_tls *tls);

#endif
