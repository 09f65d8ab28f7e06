/*
 * tls_io.c — the TLS filter (contract in tls_io.h).
 *
 * OpenSSL talks to the lower layer through one custom BIO per connection
 * whose read/write call wf_io_recv/wf_io_send on io->lower. Compared with a
 * memory-BIO pair this copies nothing and holds no second set of buffers,
 * and still never touches the fd: the lower layer stays the only one that
 * knows it is a socket.
 */
#include "tls/tls_io.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdlib.h>

typedef struct tls_conn {
    wf_io_t io;
    SSL *ssl;          /* owned (owns the BIO) */
    wf_tls_ctx_t *ctx; /* refcounted */
    char *peer_id;     /* owned, NUL-terminated; NULL if none */
    size_t peer_id_len;
    const char *reason; /* static: why err happened */
    int err;            /* sticky failure, 0 if none */
    int lower_err;      /* the lower layer's last hard error, 0 if none */
    bool server;
    bool established;
    bool lower_eof;     /* the lower layer returned EOF (FIN) */
    bool lower_drained; /* the last lower recv emptied the kernel's queue */
    bool read_eof;      /* close_notify received: recv returns 0 */
    bool close_sent;    /* our close_notify is written */
    bool lower_shut;    /* the lower write side is shut */
} tls_conn_t;

static const wf_io_ops_t tls_ops;

static tls_conn_t *conn_of(const wf_io_t *io)
{
    return wf_container_of(io, tls_conn_t, io);
}

/* ---- the BIO over the lower wf_io_t ---- */

static int bio_read_ex(BIO *b, char *buf, size_t len, size_t *got)
{
    tls_conn_t *c = BIO_get_data(b);
    wf_io_t *lo = c->io.lower;
    BIO_clear_retry_flags(b);
    *got = 0;
    lo->flags |= c->io.flags & WF_IO_F_RDHUP;
    lo->flags &= ~WF_IO_F_DRAINED;
    ssize_t n = wf_io_recv(lo, buf, len);
    if (n > 0) {
        c->lower_drained = (lo->flags & WF_IO_F_DRAINED) != 0;
        *got = (size_t)n;
        return 1;
    }
    c->lower_drained = true;
    if (n == 0) {
        c->lower_eof = true;
    } else if (n == WF_EAGAIN) {
        BIO_set_retry_read(b);
    } else {
        c->lower_err = (int)n;
    }
    return 0;
}

static int bio_write_ex(BIO *b, const char *buf, size_t len, size_t *put)
{
    tls_conn_t *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    *put = 0;
    ssize_t n = wf_io_send(c->io.lower, buf, len);
    if (n >= 0) {
        *put = (size_t)n;
        return n > 0 || len == 0;
    }
    if (n == WF_EAGAIN)
        BIO_set_retry_write(b);
    else
        c->lower_err = (int)n;
    return 0;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    tls_conn_t *c = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH: /* writes go straight down: nothing to flush */
        return 1;
    case BIO_CTRL_EOF: /* tells OpenSSL a 0-byte read was a real EOF */
        return c != NULL && c->lower_eof;
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static int bio_destroy(BIO *b)
{
    BIO_set_data(b, NULL);
    return 1;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_method_once = PTHREAD_ONCE_INIT;

static void bio_method_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wf_io");
    if (m == NULL)
        return;
    if (!BIO_meth_set_read_ex(m, bio_read_ex) || !BIO_meth_set_write_ex(m, bio_write_ex) ||
        !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create) ||
        !BIO_meth_set_destroy(m, bio_destroy)) {
        BIO_meth_free(m);
        return;
    }
    bio_method = m; /* lives for the process */
}

/* ---- failures ---- */

static int fail(tls_conn_t *c, int err, const char *reason)
{
    c->err = err;
    c->reason = reason;
    ERR_clear_error();
    return err;
}

/* Certificate verification failures, in our words where they are common. */
static const char *verify_reason(long v)
{
    switch (v) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
        return "peer certificate identity does not match the expected identity";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        return "peer certificate is not issued by our trust anchors";
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return "peer certificate has expired";
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return "peer certificate is not yet valid";
    default:
        return X509_verify_cert_error_string(v);
    }
}

/* Map a failed SSL_* call (ret from it) to our convention: WF_EAGAIN with a
 * WANT flag, 0 for close_notify, or a sticky error with its reason. */
static int ssl_result(tls_conn_t *c, int ret)
{
    int e = SSL_get_error(c->ssl, ret);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        c->io.flags |= WF_IO_F_WANT_READ;
        ERR_clear_error();
        return WF_EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        c->io.flags |= WF_IO_F_WANT_WRITE;
        ERR_clear_error();
        return WF_EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return 0;
    case SSL_ERROR_SYSCALL:
    case SSL_ERROR_SSL:
        break;
    default:
        return fail(c, WF_EPROTO, "unexpected OpenSSL state");
    }
    if (c->lower_err != 0)
        return fail(c, c->lower_err, wf_strerror(c->lower_err));
    unsigned long err = ERR_peek_last_error();
    int reason = ERR_GET_REASON(err);
    if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        long v = SSL_get_verify_result(c->ssl);
        return fail(c, WF_EPROTO, v != X509_V_OK ? verify_reason(v) : "certificate verify failed");
    }
    switch (reason) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
        return fail(c, WF_EPROTO, "peer does not offer TLS 1.3");
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        return fail(c, WF_EPROTO, "peer refused TLS 1.3 (protocol_version alert)");
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        return fail(c, WF_EPROTO, "client sent no certificate and one is required");
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return fail(c, WF_EPROTO, "server requires a client certificate");
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
        return fail(c, WF_EPROTO, "peer does not trust our certificate (unknown_ca alert)");
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
        return fail(c, WF_EPROTO, "peer rejected our certificate (bad_certificate alert)");
    case SSL_R_WRONG_VERSION_NUMBER:
        return fail(c, WF_EPROTO, "peer is not speaking TLS (wrong version number)");
    case SSL_R_HTTP_REQUEST:
        return fail(c, WF_EPROTO, "peer sent plaintext HTTP, not TLS");
    }
    if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING || (err == 0 && c->lower_eof))
        return fail(c, WF_EPROTO,
                    c->established ? "peer closed without close_notify (possible truncation)"
                                   : "peer closed the connection during the handshake");
    if (err != 0) {
        const char *s = ERR_reason_error_string(err); /* static table */
        return fail(c, WF_EPROTO, s != NULL ? s : "TLS protocol error");
    }
    return fail(c, WF_EPROTO, "TLS I/O error");
}

/* ---- identity ---- */

static int set_peer_id(tls_conn_t *c, const char *id, size_t len)
{
    char *p = malloc(len + 1);
    if (p == NULL)
        return WF_ENOMEM;
    memcpy(p, id, len);
    p[len] = '\0';
    free(c->peer_id);
    c->peer_id = p;
    c->peer_id_len = len;
    return 0;
}

/* Server side: the client's identity is the single DNS SAN of its verified
 * cert (Linkerd certs carry exactly one); zero or several = no identity. */
static int extract_client_id(tls_conn_t *c)
{
    X509 *cert = SSL_get0_peer_certificate(c->ssl);
    if (cert == NULL || SSL_get_verify_result(c->ssl) != X509_V_OK)
        return 0;
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (names == NULL)
        return 0;
    const ASN1_IA5STRING *dns = NULL;
    int count = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        if (gn->type == GEN_DNS) {
            dns = gn->d.dNSName;
            count++;
        }
    }
    int rc = 0;
    if (count == 1) {
        const char *s = (const char *)ASN1_STRING_get0_data(dns);
        int len = ASN1_STRING_length(dns);
        if (len > 0 && len <= WF_TLS_ID_MAX && memchr(s, '\0', (size_t)len) == NULL)
            rc = set_peer_id(c, s, (size_t)len);
    }
    GENERAL_NAMES_free(names);
    return rc;
}

static int handshake(tls_conn_t *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
        r = ssl_result(c, r);
        return r == 0 ? fail(c, WF_EPROTO, "peer closed the connection during the handshake") : r;
    }
    if (SSL_get_verify_result(c->ssl) != X509_V_OK) /* belt and braces */
        return fail(c, WF_EPROTO, verify_reason(SSL_get_verify_result(c->ssl)));
    if (!c->server && SSL_get0_peer_certificate(c->ssl) == NULL)
        return fail(c, WF_EPROTO, "server presented no certificate");
    if (c->server && extract_client_id(c) < 0)
        return fail(c, WF_ENOMEM, "out of memory");
    c->established = true;
    return 0;
}

/* ---- the filter ---- */

static ssize_t tls_recv(wf_io_t *io, char *buf, size_t len)
{
    tls_conn_t *c = conn_of(io);
    io->flags &= ~(WF_IO_F_WANT_READ | WF_IO_F_WANT_WRITE);
    if (c->err != 0)
        return c->err;
    if (c->read_eof) {
        io->flags |= WF_IO_F_DRAINED;
        return 0;
    }
    if (len == 0)
        return WF_EINVAL;
    if (!c->established) {
        int r = handshake(c);
        if (r != 0) {
            if (r == WF_EAGAIN && (io->flags & WF_IO_F_WANT_READ))
                io->flags |= WF_IO_F_DRAINED;
            return r;
        }
    }
    size_t got = 0;
    ERR_clear_error();
    int ok = SSL_read_ex(c->ssl, buf, len, &got);
    if (ok) {
        /* Drained only if the kernel queue is empty *and* OpenSSL holds no
         * decrypted or undecrypted bytes: no edge would announce those. */
        if (c->lower_drained && !SSL_has_pending(c->ssl))
            io->flags |= WF_IO_F_DRAINED;
        return (ssize_t)got;
    }
    int r = ssl_result(c, 0);
    if (r == 0) {
        c->read_eof = true;
        io->flags |= WF_IO_F_DRAINED;
    } else if (r == WF_EAGAIN && (io->flags & WF_IO_F_WANT_READ)) {
        io->flags |= WF_IO_F_DRAINED;
    }
    return r;
}

static ssize_t tls_send(wf_io_t *io, const char *buf, size_t len)
{
    tls_conn_t *c = conn_of(io);
    io->flags &= ~(WF_IO_F_WANT_READ | WF_IO_F_WANT_WRITE);
    if (c->err != 0)
        return c->err;
    if (c->close_sent)
        return -EPIPE;
    if (!c->established) {
        int r = handshake(c);
        if (r != 0)
            return r;
    }
    if (len == 0)
        return 0;
    size_t put = 0;
    ERR_clear_error();
    if (SSL_write_ex(c->ssl, buf, len, &put))
        return (ssize_t)put;
    int r = ssl_result(c, 0);
    return r == 0 ? fail(c, WF_EPROTO, "TLS write after close") : r;
}

static int tls_shutdown(wf_io_t *io)
{
    tls_conn_t *c = conn_of(io);
    io->flags &= ~(WF_IO_F_WANT_READ | WF_IO_F_WANT_WRITE);
    if (c->err != 0)
        return c->err;
    if (!c->established) {
        int r = handshake(c);
        if (r != 0)
            return r;
    }
    if (!c->close_sent) {
        ERR_clear_error();
        /* 0: close_notify written, the peer's not yet seen (we do not wait
         * for it: recv reports it as EOF); 1: both seen; < 0: retry/error. */
        int r = SSL_shutdown(c->ssl);
        if (r < 0) {
            r = ssl_result(c, r);
            return r == 0 ? fail(c, WF_EPROTO, "TLS shutdown failed") : r;
        }
        c->close_sent = true;
    }
    if (!c->lower_shut) {
        int r = wf_io_shutdown(io->lower);
        if (r < 0)
            return r;
        c->lower_shut = true;
    }
    return 0;
}

static void tls_destroy(wf_io_t *io)
{
    tls_conn_t *c = conn_of(io);
    SSL_free(c->ssl);
    if (io->lower != NULL)
        wf_io_destroy(io->lower);
    wf_tls_ctx_unref(c->ctx);
    free(c->peer_id);
    free(c);
}

static const wf_io_ops_t tls_ops = {
    .name = "tls",
    .recv = tls_recv,
    .send = tls_send,
    .shutdown = tls_shutdown,
    .destroy = tls_destroy,
};

static tls_conn_t *conn_new(wf_tls_ctx_t *ctx, wf_io_t *lower, bool server, const char **why)
{
    pthread_once(&bio_method_once, bio_method_init);
    if (bio_method == NULL) {
        *why = "cannot create the OpenSSL BIO method";
        return NULL;
    }
    if (wf_tls_ctx_is_server(ctx) != server) {
        *why = server ? "a client ctx cannot accept TLS" : "a server ctx cannot originate TLS";
        return NULL;
    }
    tls_conn_t *c = calloc(1, sizeof(*c));
    BIO *bio = NULL;
    if (c == NULL)
        goto oom;
    c->ssl = SSL_new(wf_tls_ctx_ssl(ctx));
    bio = BIO_new(bio_method);
    if (c->ssl == NULL || bio == NULL)
        goto oom;
    BIO_set_data(bio, c);
    SSL_set_bio(c->ssl, bio, bio); /* one reference, now the SSL's */
    c->io = (wf_io_t){.ops = &tls_ops, .lower = lower, .fd = lower->fd, .flags = 0};
    c->server = server;
    c->ctx = wf_tls_ctx_ref(ctx);
    return c;
oom:
    ERR_clear_error();
    BIO_free(bio);
    if (c != NULL)
        SSL_free(c->ssl);
    free(c);
    *why = "out of memory";
    return NULL;
}

/* Free a conn that never became the caller's: lower stays theirs. */
static void conn_abort(tls_conn_t *c)
{
    c->io.lower = NULL;
    tls_destroy(&c->io);
}

wf_io_t *wf_tls_io_new_client(wf_tls_ctx_t *ctx, wf_io_t *lower, wf_str_t expected_id,
                              const char **why)
{
    const char *dummy;
    if (why == NULL)
        why = &dummy;
    if (expected_id.len == 0 || expected_id.len > WF_TLS_ID_MAX ||
        memchr(expected_id.ptr, '\0', expected_id.len) != NULL) {
        *why = "expected identity is empty, too long or not a DNS name";
        return NULL;
    }
    tls_conn_t *c = conn_new(ctx, lower, false, why);
    if (c == NULL)
        return NULL;
    if (set_peer_id(c, expected_id.ptr, expected_id.len) < 0) {
        *why = "out of memory";
        goto fail;
    }
    SSL_set_connect_state(c->ssl);
    /* SNI = expected identity (what Linkerd sends; the inbound side uses it
     * to decide whether the TLS is for it). The identity check is an exact
     * DNS-SAN match: no wildcards, no fallback to the subject CN. */
    if (!SSL_set_tlsext_host_name(c->ssl, c->peer_id) || !SSL_set1_host(c->ssl, c->peer_id)) {
        *why = "OpenSSL refused the expected identity as a host name";
        goto fail;
    }
    SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    return &c->io;
fail:
    ERR_clear_error();
    conn_abort(c);
    return NULL;
}

wf_io_t *wf_tls_io_new_server(wf_tls_ctx_t *ctx, wf_io_t *lower, const char **why)
{
    const char *dummy;
    tls_conn_t *c = conn_new(ctx, lower, true, why ? why : &dummy);
    if (c == NULL)
        return NULL;
    SSL_set_accept_state(c->ssl);
    return &c->io;
}

int wf_tls_handshake(wf_io_t *io)
{
    tls_conn_t *c = conn_of(io);
    io->flags &= ~(WF_IO_F_WANT_READ | WF_IO_F_WANT_WRITE);
    if (c->err != 0)
        return c->err;
    return c->established ? 0 : handshake(c);
}

bool wf_tls_io_established(const wf_io_t *io)
{
    return conn_of(io)->established;
}

const char *wf_tls_io_reason(const wf_io_t *io)
{
    return conn_of(io)->reason;
}

wf_str_t wf_tls_io_peer_id(const wf_io_t *io)
{
    const tls_conn_t *c = conn_of(io);
    if (!c->established || c->peer_id == NULL)
        return WF_STR_NULL;
    return (wf_str_t){c->peer_id, c->peer_id_len};
}

wf_str_t wf_tls_io_alpn(const wf_io_t *io)
{
    const unsigned char *p = NULL;
    unsigned int len = 0;
    SSL_get0_alpn_selected(conn_of(io)->ssl, &p, &len);
    return (wf_str_t){(const char *)p, p != NULL ? len : 0};
}

wf_str_t wf_tls_io_sni(const wf_io_t *io)
{
    return wf_str_from(SSL_get_servername(conn_of(io)->ssl, TLSEXT_NAMETYPE_host_name));
}

bool wf_tls_io_is(const wf_io_t *io)
{
    return io != NULL && io->ops == &tls_ops;
}
