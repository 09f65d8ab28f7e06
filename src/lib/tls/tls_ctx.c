/*
 * tls_ctx.c — SSL_CTX construction for the mesh (policy in tls_ctx.h).
 */
#include "tls/tls_ctx.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>

#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS "X25519:P-256:P-384"
/* Leaf <- issuer <- anchor is the mesh's chain; leave room for one more. */
#define TLS_VERIFY_DEPTH 4

struct wf_tls_ctx {
    SSL_CTX *ssl_ctx;    /* owned */
    unsigned char *alpn; /* owned: ALPN list in wire format (RFC 7301 §3.1) */
    size_t alpn_len;
    unsigned refs; /* connections + creator; owner thread only */
    bool server;
};

/* Server ALPN choice: our preference order; no overlap = no ALPN at all
 * (RFC 7301 allows it, and non-mesh clients must still get through; the
 * caller decides what a missing ALPN means). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    wf_tls_ctx_t *ctx = arg;
    unsigned char *sel = NULL;
    if (ctx->alpn_len == 0)
        return SSL_TLSEXT_ERR_NOACK;
    if (SSL_select_next_proto(&sel, outlen, ctx->alpn, (unsigned)ctx->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static int alpn_encode(wf_tls_ctx_t *ctx, const wf_str_t *list, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (list[i].len == 0 || list[i].len > 255)
            return WF_EINVAL;
        total += 1 + list[i].len;
    }
    if (total == 0)
        return 0;
    if (total > 65535)
        return WF_EINVAL;
    ctx->alpn = malloc(total);
    if (ctx->alpn == NULL)
        return WF_ENOMEM;
    unsigned char *p = ctx->alpn;
    for (size_t i = 0; i < n; i++) {
        *p++ = (unsigned char)list[i].len;
        memcpy(p, list[i].ptr, list[i].len);
        p += list[i].len;
    }
    ctx->alpn_len = total;
    return 0;
}

static X509_STORE *store_from_pem(wf_str_t pem, const char **why)
{
    if (pem.len == 0 || pem.len > INT32_MAX) {
        *why = "no trust anchors given";
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(pem.ptr, (int)pem.len);
    X509_STORE *store = X509_STORE_new();
    int n = 0;
    if (bio == NULL || store == NULL) {
        *why = "out of memory";
        goto fail;
    }
    X509 *x;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        int ok = X509_STORE_add_cert(store, x);
        X509_free(x);
        if (!ok) {
            *why = "cannot add a trust anchor to the store";
            goto fail;
        }
        n++;
    }
    ERR_clear_error(); /* the loop ends on a "no start line" error */
    if (n == 0) {
        *why = "trust anchors: no PEM certificate found";
        goto fail;
    }
    BIO_free(bio);
    return store;
fail:
    ERR_clear_error();
    BIO_free(bio);
    X509_STORE_free(store);
    return NULL;
}

static int use_cert(SSL_CTX *ssl_ctx, wf_str_t pem, EVP_PKEY *key, const char **why)
{
    if (key == NULL) {
        *why = "no private key given";
        return WF_EINVAL;
    }
    if (pem.len == 0 || pem.len > INT32_MAX) {
        *why = "no certificate given";
        return WF_EINVAL;
    }
    int rc = WF_EINVAL;
    BIO *bio = BIO_new_mem_buf(pem.ptr, (int)pem.len);
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509 *leaf = NULL, *x;
    if (bio == NULL || chain == NULL) {
        *why = "out of memory";
        rc = WF_ENOMEM;
        goto out;
    }
    leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (leaf == NULL) {
        *why = "certificate: no PEM certificate found";
        goto out;
    }
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(chain, x)) {
            X509_free(x);
            *why = "out of memory";
            rc = WF_ENOMEM;
            goto out;
        }
    }
    ERR_clear_error();
    /* Checks that the key matches the leaf, then swaps cert, key and chain
     * in one step (override = 1), so a failure leaves the old set intact. */
    if (SSL_CTX_use_cert_and_key(ssl_ctx, leaf, key, chain, 1) != 1) {
        unsigned long e = ERR_peek_last_error();
        *why = ERR_GET_REASON(e) == SSL_R_PRIVATE_KEY_MISMATCH
                   ? "private key does not match the certificate"
                   : "certificate or key rejected by OpenSSL (weak key or signature?)";
        goto out;
    }
    rc = 0;
out:
    ERR_clear_error();
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    BIO_free(bio);
    return rc;
}

static wf_tls_ctx_t *ctx_new(const wf_tls_ctx_conf_t *conf, bool server, const char **why)
{
    const char *dummy;
    if (why == NULL)
        why = &dummy;
    wf_tls_ctx_t *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        *why = "out of memory";
        return NULL;
    }
    ctx->refs = 1;
    ctx->server = server;
    ctx->ssl_ctx = SSL_CTX_new_ex(NULL, NULL, server ? TLS_server_method() : TLS_client_method());
    if (ctx->ssl_ctx == NULL) {
        *why = "SSL_CTX_new failed";
        goto fail;
    }
    SSL_CTX *s = ctx->ssl_ctx;
    if (!SSL_CTX_set_min_proto_version(s, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION) ||
        !SSL_CTX_set_ciphersuites(s, TLS13_SUITES) || !SSL_CTX_set1_groups_list(s, TLS_GROUPS)) {
        *why = "OpenSSL lacks TLS 1.3 or a required suite/group";
        goto fail;
    }
    /* No resumption (see tls_ctx.h): no tickets issued or accepted, no cache. */
    SSL_CTX_set_options(s, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
    if (server)
        SSL_CTX_set_num_tickets(s, 0);
    /* RELEASE_BUFFERS: an idle connection holds no 16 KiB record buffers.
     * PARTIAL_WRITE: send() returns after each record, like a socket.
     * MOVING_WRITE_BUFFER: a retried send may pass the same bytes at a new
     * address (relay buffers compact). */
    SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Read whole records (and more) per lower recv instead of header, then
     * body: one syscall per record at most, not two. */
    SSL_CTX_set_read_ahead(s, 1);

    X509_STORE *store = store_from_pem(conf->trust_pem, why);
    if (store == NULL)
        goto fail;
    SSL_CTX_set_cert_store(s, store); /* takes ownership */
    SSL_CTX_set_verify_depth(s, TLS_VERIFY_DEPTH);

    /* A client may go without a cert (tests, non-mesh origins); a server
     * may not. */
    if ((server || conf->key != NULL || conf->cert_chain_pem.len != 0) &&
        use_cert(s, conf->cert_chain_pem, conf->key, why) < 0)
        goto fail;

    if (alpn_encode(ctx, conf->alpn, conf->alpn_count) < 0) {
        *why = "bad ALPN protocol list";
        goto fail;
    }
    if (server) {
        int mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
        if (conf->client_auth == WF_TLS_CLIENT_AUTH_REQUIRED)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(s, mode, NULL);
        SSL_CTX_set_alpn_select_cb(s, alpn_select, ctx);
    } else {
        SSL_CTX_set_verify(s, SSL_VERIFY_PEER, NULL);
        /* Note: returns 0 on success. */
        if (ctx->alpn_len && SSL_CTX_set_alpn_protos(s, ctx->alpn, (unsigned)ctx->alpn_len)) {
            *why = "out of memory";
            goto fail;
        }
    }
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx->alpn);
    free(ctx);
    return NULL;
}

wf_tls_ctx_t *wf_tls_ctx_new_server(const wf_tls_ctx_conf_t *conf, const char **why)
{
    return ctx_new(conf, true, why);
}

wf_tls_ctx_t *wf_tls_ctx_new_client(const wf_tls_ctx_conf_t *conf, const char **why)
{
    return ctx_new(conf, false, why);
}

int wf_tls_ctx_set_cert(wf_tls_ctx_t *ctx, wf_str_t cert_chain_pem, EVP_PKEY *key, const char **why)
{
    const char *dummy;
    return use_cert(ctx->ssl_ctx, cert_chain_pem, key, why ? why : &dummy);
}

wf_tls_ctx_t *wf_tls_ctx_ref(wf_tls_ctx_t *ctx)
{
    ctx->refs++;
    return ctx;
}

void wf_tls_ctx_unref(wf_tls_ctx_t *ctx)
{
    if (ctx == NULL || --ctx->refs > 0)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx->alpn);
    free(ctx);
}

SSL_CTX *wf_tls_ctx_ssl(wf_tls_ctx_t *ctx)
{
    return ctx->ssl_ctx;
}

bool wf_tls_ctx_is_server(const wf_tls_ctx_t *ctx)
{
    return ctx->server;
}
