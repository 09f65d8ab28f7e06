/*
 * identity.h — the proxy's workload identity: a private key generated in
 * memory at start (never written anywhere), a CSR for
 * WEFT_PROXY_IDENTITY_LOCAL_NAME, and a leaf certificate obtained from the
 * identity service (Identity.Certify over TLS 1.3, the service proving
 * WEFT_PROXY_IDENTITY_SVC_NAME) and renewed before it expires.
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
#ifndef WF_PROXY_IDENTITY_H
#define WF_PROXY_IDENTITY_H

#include "config.h"

#include <openssl/evp.h>

typedef struct wf_identity wf_identity_t;

/* Parses the trust anchors, generates the key and the CSR. Nothing runs
 * yet. WF_EINVAL + message naming the variable on bad configuration. */
int wf_identity_new(wf_identity_t **out, const wf_proxy_config_t *cfg, char *err, size_t errlen);
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

void wf_identity_metrics_register(void);

#endif
