/*
 * identity_client.h — a workload identity: a private key generated in
 * memory at start (never written anywhere), a CSR for the local name, and
 * a leaf certificate obtained from the identity service (Identity.Certify
 * over TLS 1.3, the service proving its own name) and renewed before it
 * expires. The proxy's (WEFT_PROXY_IDENTITY_*), and the destination
 * service's, which serves mTLS with it.
 *
 * Lifecycle: certify at start; /ready is 503 until a valid certificate is
 * held. Renew at 70 % of the certificate's lifetime; on failure retry with
 * jittered exponential backoff (1 s .. 60 s), never later than expiry, and
 * keep serving with the current certificate meanwhile.
 *
 * Threads: the client runs on its own thread and loop (it may block on DNS
 * and does nothing per request). Workers read the current certificate with
 * wf_identity_generation() (a relaxed atomic, cheap enough for every TLS
 * connection) and, when it moved, wf_identity_snapshot(); each worker
 * keeps its own TLS contexts (tls_ctx.h: contexts are per thread).
 */
#ifndef WF_MESH_IDENTITY_CLIENT_H
#define WF_MESH_IDENTITY_CLIENT_H

#include "core/common.h"
#include "tls/tls_ctx.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct wf_identity wf_identity_t;

/* Every field is required; wf_identity_new copies them. */
typedef struct wf_idc_conf {
    const char *trust_anchors;  /* PEM text of the mesh's trust anchors */
    const char *token_file;     /* the bearer token proving who we are (re-read per Certify) */
    const char *svc_addr;       /* the identity service, host:port */
    const char *svc_name;       /* the identity the service must prove */
    const char *local_name;     /* the identity to be certified */
    const char *anchors_source; /* where trust_anchors came from, for messages */
} wf_idc_conf_t;

/* Parses the trust anchors, generates the key and the CSR. Nothing runs
 * yet. WF_EINVAL + message naming the setting on bad configuration. */
int wf_identity_new(wf_identity_t **out, const wf_idc_conf_t *conf, char *err, size_t errlen);
/* Starts the client thread (first Certify at once). */
int wf_identity_start(wf_identity_t *id);
/* Stops the thread and frees everything. NULL is fine. */
void wf_identity_free(wf_identity_t *id);

/* True while a certificate is held and not expired. Any thread. */
bool wf_identity_ready(const wf_identity_t *id);
/* Bumped on every new certificate; 0 before the first. Any thread. */
uint64_t wf_identity_generation(const wf_identity_t *id);
/* The current chain (leaf first, PEM; malloc'ed copy for the caller to
 * free) and key (a new reference: EVP_PKEY_free) and its generation.
 * WF_ENOTFOUND before the first certificate. Any thread. */
int wf_identity_snapshot(wf_identity_t *id, char **chain_pem, size_t *len, EVP_PKEY **key,
                         uint64_t *generation);

/* Our identity and the trust anchors (PEM); borrowed, constant. */
wf_str_t wf_identity_local_name(const wf_identity_t *id);
wf_str_t wf_identity_trust_pem(const wf_identity_t *id);

/* Keeps *ctx holding the identity's current certificate — a server or a
 * client context offering alpn, verifying peers against the trust anchors
 * (client certificates optional for a server) — built on first use and
 * updated in place when the certificate moved on (*gen follows it). For
 * one thread: TLS contexts are per thread. Returns *ctx: NULL before the
 * first certificate, or on failure (logged, tried again next call). */
wf_tls_ctx_t *wf_identity_tls_ctx(wf_identity_t *id, wf_tls_ctx_t **ctx, uint64_t *gen,
                                  bool server, const wf_str_t *alpn, size_t alpn_count);

void wf_identity_metrics_register(void);

#endif
