/*
 * tls_ctx.h — the mesh's TLS configuration: one wf_tls_ctx_t per role
 * (server for the inbound port, client for outbound hops), built from
 * in-memory PEM and an EVP_PKEY that never touches disk.
 *
 * Policy, fixed here and not configurable (reference/linkerd-facts.md, TLS):
 *   - TLS 1.3 only (min = max = TLS1_3);
 *   - suites TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
 *     TLS_CHACHA20_POLY1305_SHA256;
 *   - groups X25519, P-256, P-384 (X25519MLKEM768 needs OpenSSL >= 3.5);
 *   - no session tickets, no session cache, no resumption: a resumed session
 *     would skip the certificate exchange, so after a rotation (or a trust
 *     anchor change) a peer could keep proving an identity with state minted
 *     under the old cert; tickets also cost a write and memory per connection
 *     for connections that proxies keep open and multiplex anyway. Full
 *     handshakes are cheap enough for the goal (issue 4: >= 1,500/s/core);
 *   - mutual authentication: the server asks for a client cert, verified
 *     against the trust anchors (required or optional, see below); the
 *     client always verifies the server against the anchors *and* the
 *     expected identity (tls_io.h).
 *
 * Threads: a wf_tls_ctx_t is owned by the thread that created it (one per
 * worker, STYLE.md "sharing nothing"); wf_tls_ctx_set_cert() must run on
 * that thread. Connections hold a reference (wf_tls_ctx_ref), so a ctx may
 * be released while connections made from it are still open.
 */
#ifndef WF_TLS_TLS_CTX_H
#define WF_TLS_TLS_CTX_H

#include "core/common.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>

/* ALPN protocol of proxy-to-proxy transport (linkerd transport header). */
#define WF_TLS_ALPN_TRANSPORT "transport.l5d.io/v1"

typedef struct wf_tls_ctx wf_tls_ctx_t;

typedef enum wf_tls_client_auth {
    WF_TLS_CLIENT_AUTH_REQUIRED = 0, /* no client cert: handshake fails */
    WF_TLS_CLIENT_AUTH_OPTIONAL,     /* no cert: handshake OK, no client id;
                                        a cert that fails verification still
                                        fails the handshake */
} wf_tls_client_auth_t;

typedef struct wf_tls_ctx_conf {
    /* borrowed: leaf first, then intermediates. A client ctx may have none
     * (empty cert and NULL key): it then presents no certificate. */
    wf_str_t cert_chain_pem;
    EVP_PKEY *key;      /* borrowed: the ctx takes its own reference */
    wf_str_t trust_pem; /* borrowed: one or more trust anchors */
    /* borrowed: ALPN protocols, preferred first. A client offers them all; a
     * server picks the first of its list the client offers, and proceeds
     * without ALPN if the client offers none of them (non-mesh clients). */
    const wf_str_t *alpn;
    size_t alpn_count;
    wf_tls_client_auth_t client_auth; /* server only */
} wf_tls_ctx_conf_t;

/* Build a server / client context. NULL on failure with *why set to a
 * static description (bad PEM, key does not match cert, no anchors...). */
wf_tls_ctx_t *wf_tls_ctx_new_server(const wf_tls_ctx_conf_t *conf, const char **why);
wf_tls_ctx_t *wf_tls_ctx_new_client(const wf_tls_ctx_conf_t *conf, const char **why);

/* Rotation: replace the cert chain and key used by *new* handshakes; open
 * connections keep what they negotiated (OpenSSL copies the cert into each
 * SSL at creation). On failure (bad PEM, key mismatch) the old cert stays in
 * use and a negative WF_E* is returned with *why set. */
int wf_tls_ctx_set_cert(wf_tls_ctx_t *ctx, wf_str_t cert_chain_pem, EVP_PKEY *key,
                        const char **why);

/* Reference counting (single-threaded, see above). unref frees at zero. */
wf_tls_ctx_t *wf_tls_ctx_ref(wf_tls_ctx_t *ctx);
void wf_tls_ctx_unref(wf_tls_ctx_t *ctx);

/* The underlying SSL_CTX (borrowed), for tls_io and tests. */
SSL_CTX *wf_tls_ctx_ssl(wf_tls_ctx_t *ctx);
bool wf_tls_ctx_is_server(const wf_tls_ctx_t *ctx);

#endif
