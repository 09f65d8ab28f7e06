/*
 * test_tls_io.c — the TLS filter and contexts, client and server in one
 * process over a non-blocking socketpair, with a throwaway CA and leaf
 * certs (ECDSA P-256, SAN = identity) generated in memory.
 *
 * `test_tls_io --interop` instead runs the checks against real
 * `openssl s_server` / `openssl s_client` on 127.0.0.1 (see
 * tests/integration/test_tls_interop.sh); that needs the openssl CLI, so the
 * unit tier does not run it.
 */
#include "tls/tls_ctx.h"
#include "tls/tls_io.h"
#include "wf_test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ID_SRV "web.ns.serviceaccount.identity.linkerd.cluster.local"
#define ID_CLI "client.ns.serviceaccount.identity.linkerd.cluster.local"

static const wf_str_t alpn_l5d[] = {WF_STR(WF_TLS_ALPN_TRANSPORT)};

/* ---- throwaway PKI ---- */

typedef struct cred {
    X509 *cert;
    EVP_PKEY *key;
    char *pem; /* cert (and issuer chain if any), PEM */
} cred_t;

static char *pem_of(X509 *const *certs, int n)
{
    BIO *b = BIO_new(BIO_s_mem());
    for (int i = 0; i < n; i++)
        PEM_write_bio_X509(b, certs[i]);
    char *data;
    long len = BIO_get_mem_data(b, &data);
    char *s = malloc((size_t)len + 1);
    memcpy(s, data, (size_t)len);
    s[len] = '\0';
    BIO_free(b);
    return s;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (ext == NULL) {
        fprintf(stderr, "bad extension %s\n", value);
        abort();
    }
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

/* A cert for `san` (NULL = CA named `cn`), signed by issuer (NULL = self). */
static cred_t cred_make(const char *cn, const char *san, const cred_t *issuer)
{
    static long serial = 1;
    cred_t c = {0};
    c.key = EVP_EC_gen("P-256");
    c.cert = X509_new();
    X509_set_version(c.cert, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(c.cert), serial++);
    X509_gmtime_adj(X509_getm_notBefore(c.cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c.cert), 24 * 3600);
    X509_NAME *name = X509_get_subject_name(c.cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c.cert, issuer ? X509_get_subject_name(issuer->cert) : name);
    X509_set_pubkey(c.cert, c.key);
    X509 *icert = issuer ? issuer->cert : c.cert;
    if (san == NULL) {
        add_ext(c.cert, icert, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(c.cert, icert, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(c.cert, icert, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(c.cert, icert, NID_key_usage, "critical,digitalSignature");
        add_ext(c.cert, icert, NID_ext_key_usage, "serverAuth,clientAuth");
        add_ext(c.cert, icert, NID_subject_alt_name, san);
    }
    add_ext(c.cert, icert, NID_subject_key_identifier, "hash");
    X509_sign(c.cert, issuer ? issuer->key : c.key, EVP_sha256());
    c.pem = pem_of(&c.cert, 1);
    return c;
}

static void cred_free(cred_t *c)
{
    X509_free(c->cert);
    EVP_PKEY_free(c->key);
    free(c->pem);
}

static cred_t ca, ca_other, srv, cli, cli_untrusted, srv2;

static void pki_init(void)
{
    ca = cred_make("root.linkerd.cluster.local", NULL, NULL);
    ca_other = cred_make("evil root", NULL, NULL);
    srv = cred_make("srv", "DNS:" ID_SRV, &ca);
    srv2 = cred_make("srv2", "DNS:rotated." ID_SRV, &ca);
    cli = cred_make("cli", "DNS:" ID_CLI, &ca);
    cli_untrusted = cred_make("cli", "DNS:" ID_CLI, &ca_other);
}

static void pki_free(void)
{
    cred_free(&ca);
    cred_free(&ca_other);
    cred_free(&srv);
    cred_free(&srv2);
    cred_free(&cli);
    cred_free(&cli_untrusted);
}

static wf_tls_ctx_t *ctx_server(const cred_t *c, wf_tls_client_auth_t auth)
{
    const char *why = NULL;
    wf_tls_ctx_conf_t conf = {.cert_chain_pem = wf_str_from(c->pem),
                              .key = c->key,
                              .trust_pem = wf_str_from(ca.pem),
                              .alpn = alpn_l5d,
                              .alpn_count = 1,
                              .client_auth = auth};
    wf_tls_ctx_t *ctx = wf_tls_ctx_new_server(&conf, &why);
    if (ctx == NULL)
        fprintf(stderr, "server ctx: %s\n", why);
    return ctx;
}

static wf_tls_ctx_t *ctx_client(const cred_t *c)
{
    const char *why = NULL;
    wf_tls_ctx_conf_t conf = {.cert_chain_pem = c ? wf_str_from(c->pem) : WF_STR_NULL,
                              .key = c ? c->key : NULL,
                              .trust_pem = wf_str_from(ca.pem),
                              .alpn = alpn_l5d,
                              .alpn_count = 1};
    wf_tls_ctx_t *ctx = wf_tls_ctx_new_client(&conf, &why);
    if (ctx == NULL)
        fprintf(stderr, "client ctx: %s\n", why);
    return ctx;
}

/* ---- a connected pair and a tiny poll loop ---- */

typedef struct pair {
    wf_io_t *cli, *srv;
    int cfd, sfd; /* raw fds, borrowed from the socket layers */
} pair_t;

static bool pair_new(pair_t *p, wf_tls_ctx_t *cctx, wf_tls_ctx_t *sctx, const char *expect)
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) != 0)
        return false;
    const char *why = NULL;
    p->cfd = fds[0];
    p->sfd = fds[1];
    wf_io_t *cs = wf_io_socket_new(fds[0]), *ss = wf_io_socket_new(fds[1]);
    p->cli = wf_tls_io_new_client(cctx, cs, wf_str_from(expect), &why);
    p->srv = wf_tls_io_new_server(sctx, ss, &why);
    return p->cli != NULL && p->srv != NULL;
}

static void pair_free(pair_t *p)
{
    wf_io_destroy(p->cli);
    wf_io_destroy(p->srv);
}

/* Wait (briefly) until either io can progress, per its WANT flags. */
static void wait_both(pair_t *p)
{
    struct pollfd pf[2] = {
        {.fd = p->cfd, .events = (p->cli->flags & WF_IO_F_WANT_WRITE) ? POLLOUT : POLLIN},
        {.fd = p->sfd, .events = (p->srv->flags & WF_IO_F_WANT_WRITE) ? POLLOUT : POLLIN},
    };
    poll(pf, 2, 50);
}

/* Runs both handshakes until neither is waiting; results in *rc, *rs. */
static void handshake_pair(pair_t *p, int *rc, int *rs)
{
    *rc = *rs = WF_EAGAIN;
    for (int i = 0; i < 200; i++) {
        if (*rc == WF_EAGAIN)
            *rc = wf_tls_handshake(p->cli);
        if (*rs == WF_EAGAIN)
            *rs = wf_tls_handshake(p->srv);
        if (*rc != WF_EAGAIN && *rs != WF_EAGAIN)
            return;
        /* One side failed: the other may wait for ever (TLS 1.3 clients
         * finish before the server has checked their cert). */
        if ((*rc < 0 && *rc != WF_EAGAIN) || (*rs < 0 && *rs != WF_EAGAIN)) {
            if (i > 5)
                return;
        }
        wait_both(p);
    }
}

/* Receive on `io` until n bytes or something else than data/EAGAIN. */
static ssize_t recv_some(pair_t *p, wf_io_t *io, char *buf, size_t n)
{
    size_t got = 0;
    for (int i = 0; i < 400 && got < n; i++) {
        ssize_t r = wf_io_recv(io, buf + got, n - got);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r != WF_EAGAIN)
            return got ? (ssize_t)got : r;
        wait_both(p);
    }
    return (ssize_t)got;
}

/* ---- tests ---- */

static void test_handshake_identity_alpn(void)
{
    wf_tls_ctx_t *sctx = ctx_server(&srv, WF_TLS_CLIENT_AUTH_REQUIRED);
    wf_tls_ctx_t *cctx = ctx_client(&cli);
    pair_t p;
    CHECK(sctx && cctx && pair_new(&p, cctx, sctx, ID_SRV));
    int rc, rs;
    handshake_pair(&p, &rc, &rs);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(rs, 0);
    CHECK(wf_tls_io_established(p.cli) && wf_tls_io_established(p.srv));
    CHECK(wf_str_eq(wf_tls_io_peer_id(p.srv), WF_STR(ID_CLI)));
    CHECK(wf_str_eq(wf_tls_io_peer_id(p.cli), WF_STR(ID_SRV)));
    CHECK(wf_str_eq(wf_tls_io_alpn(p.srv), WF_STR(WF_TLS_ALPN_TRANSPORT)));
    CHECK(wf_str_eq(wf_tls_io_alpn(p.cli), WF_STR(WF_TLS_ALPN_TRANSPORT)));
    CHECK(wf_str_eq(wf_tls_io_sni(p.srv), WF_STR(ID_SRV)));
    CHECK(wf_tls_io_reason(p.cli) == NULL && wf_tls_io_reason(p.srv) == NULL);
    CHECK(wf_tls_io_is(p.cli) && !wf_tls_io_is(p.cli->lower));

    /* Small message: drained after one recv. A big one read through a small
     * buffer: not drained while OpenSSL still holds bytes. */
    CHECK_EQ_INT(wf_io_send(p.cli, "ping", 4), 4);
    char buf[64];
    p.srv->flags &= ~WF_IO_F_DRAINED;
    CHECK_EQ_INT(recv_some(&p, p.srv, buf, sizeof(buf) - 1 > 4 ? 4 : 4), 4);
    CHECK(memcmp(buf, "ping", 4) == 0);
    CHECK(p.srv->flags & WF_IO_F_DRAINED);
    CHECK_EQ_INT(wf_io_send(p.srv, "0123456789abcdefghij", 20), 20);
    p.cli->flags &= ~WF_IO_F_DRAINED;
    CHECK_EQ_INT(recv_some(&p, p.cli, buf, 5), 5);
    CHECK(!(p.cli->flags & WF_IO_F_DRAINED));
    p.cli->flags &= ~WF_IO_F_DRAINED;
    CHECK_EQ_INT(wf_io_recv(p.cli, buf, 15), 15);
    CHECK(memcmp(buf, "56789abcdefghij", 15) == 0);
    CHECK(p.cli->flags & WF_IO_F_DRAINED);
    CHECK_EQ_INT(wf_io_recv(p.cli, buf, sizeof(buf)), WF_EAGAIN);
    CHECK(p.cli->flags & WF_IO_F_WANT_READ);
    pair_free(&p);
    wf_tls_ctx_unref(sctx);
    wf_tls_ctx_unref(cctx);
}

#define BIG (1u << 20)

static void fill(char *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (char)((i * 131u + seed) >> 3);
}

static void test_big_both_ways(void)
{
    wf_tls_ctx_t *sctx = ctx_server(&srv, WF_TLS_CLIENT_AUTH_REQUIRED);
    wf_tls_ctx_t *cctx = ctx_client(&cli);
    pair_t p;
    CHECK(pair_new(&p, cctx, sctx, ID_SRV));
    char *out_c = malloc(BIG), *out_s = malloc(BIG), *in_c = malloc(BIG), *in_s = malloc(BIG);
    fill(out_c, BIG, 1);
    fill(out_s, BIG, 7);
    size_t sent_c = 0, sent_s = 0, got_c = 0, got_s = 0;
    int loops = 0;
    /* Both directions at once, handshake implied by the first calls. Sends
     * are retried with the same bytes after WF_EAGAIN (the TLS contract). */
    while ((sent_c < BIG || sent_s < BIG || got_c < BIG || got_s < BIG) && loops++ < 100000) {
        ssize_t r;
        if (sent_c < BIG &&
            (r = wf_io_send(p.cli, out_c + sent_c, WF_MIN(BIG - sent_c, 40000))) > 0)
            sent_c += (size_t)r;
        else if (sent_c < BIG && r != WF_EAGAIN)
            break;
        if (sent_s < BIG && (r = wf_io_send(p.srv, out_s + sent_s, BIG - sent_s)) > 0)
            sent_s += (size_t)r;
        else if (sent_s < BIG && r != WF_EAGAIN)
            break;
        while (got_s < BIG && (r = wf_io_recv(p.srv, in_s + got_s, WF_MIN(BIG - got_s, 16384))) > 0)
            got_s += (size_t)r;
        if (got_s < BIG && r != WF_EAGAIN)
            break;
        while (got_c < BIG && (r = wf_io_recv(p.cli, in_c + got_c, BIG - got_c)) > 0)
            got_c += (size_t)r;
        if (got_c < BIG && r != WF_EAGAIN)
            break;
        /* Each side reads and maybe writes: wait for either (the WANT flags
         * only describe the last call). */
        struct pollfd pf[2] = {
            {.fd = p.cfd, .events = POLLIN | (sent_c < BIG ? POLLOUT : 0)},
            {.fd = p.sfd, .events = POLLIN | (sent_s < BIG ? POLLOUT : 0)},
        };
        poll(pf, 2, 50);
    }
    CHECK_EQ_INT(sent_c, BIG);
    CHECK_EQ_INT(sent_s, BIG);
    CHECK_EQ_INT(got_c, BIG);
    CHECK_EQ_INT(got_s, BIG);
    CHECK(memcmp(in_s, out_c, BIG) == 0);
    CHECK(memcmp(in_c, out_s, BIG) == 0);
    free(out_c);
    free(out_s);
    free(in_c);
    free(in_s);
    pair_free(&p);
    wf_tls_ctx_unref(sctx);
    wf_tls_ctx_unref(cctx);
}

static void test_half_close(void)
{
    wf_tls_ctx_t *sctx = ctx_server(&srv, WF_TLS_CLIENT_AUTH_REQUIRED);
    wf_tls_ctx_t *cctx = ctx_client(&cli);
    pair_t p;
    CHECK(pair_new(&p, cctx, sctx, ID_SRV));
    int rc, rs;
    handshake_pair(&p, &rc, &rs);
    CHECK(rc == 0 && rs == 0);
    char buf[64];
    /* Client: data, then close_notify + FIN. */
    CHECK_EQ_INT(wf_io_send(p.cli, "last words", 10), 10);
    CHECK_EQ_INT(wf_io_shutdown(p.cli), 0);
    CHECK_EQ_INT(wf_io_send(p.cli, "more", 4), -EPIPE);
    CHECK_EQ_INT(recv_some(&p, p.srv, buf, 10), 10);
    CHECK(memcmp(buf, "last words", 10) == 0);
    CHECK_EQ_INT(recv_some(&p, p.srv, buf, sizeof(buf)), 0); /* close_notify = EOF */
    CHECK_EQ_INT(wf_io_recv(p.srv, buf, sizeof(buf)), 0);    /* and stays EOF */
    /* The server's direction is still open, both ways of TLS 1.3 half-close. */
    CHECK_EQ_INT(wf_io_send(p.srv, "reply", 5), 5);
    CHECK_EQ_INT(recv_some(&p, p.cli, buf, 5), 5);
    CHECK(memcmp(buf, "reply", 5) == 0);
    CHECK_EQ_INT(wf_io_shutdown(p.srv), 0);
    CHECK_EQ_INT(recv_some(&p, p.cli, buf, sizeof(buf)), 0);
    CHECK(wf_tls_io_reason(p.cli) == NULL && wf_tls_io_reason(p.srv) == NULL);
    pair_free(&p);

    /* A FIN without close_notify is an error, not EOF (truncation). */
    CHECK(pair_new(&p, cctx, sctx, ID_SRV));
    handshake_pair(&p, &rc, &rs);
    CHECK(rc == 0 && rs == 0);
    CHECK_EQ_INT(wf_io_send(p.cli, "abc", 3), 3);
    shutdown(p.cfd, SHUT_WR);
    CHECK_EQ_INT(recv_some(&p, p.srv, buf, 3), 3);
    CHECK_EQ_INT(recv_some(&p, p.srv, buf, sizeof(buf)), WF_EPROTO);
    CHECK(wf_tls_io_reason(p.srv) && strstr(wf_tls_io_reason(p.srv), "close_notify"));
    pair_free(&p);
    wf_tls_ctx_unref(sctx);
    wf_tls_ctx_unref(cctx);
}

static void test_wrong_identity(void)
{
    wf_tls_ctx_t *sctx = ctx_server(&srv, WF_TLS_CLIENT_AUTH_REQUIRED);
    wf_tls_ctx_t *cctx = ctx_client(&cli);
    pair_t p;
    CHECK(pair_new(&p, cctx, sctx, "other.ns.serviceaccount.identity.linkerd.cluster.local"));
    int rc, rs;
    handshake_pair(&p, &rc, &rs);
    CHECK_EQ_INT(rc, WF_EPROTO);
    CHECK_EQ_STR(wf_tls_io_reason(p.cli),
                 "peer certificate identity does not match the expected identity");
    CHECK(rs < 0 && rs != WF_EAGAIN);
    /* Sticky: later calls report the same failure. */
    char b[4];
    CHECK_EQ_INT(wf_io_recv(p.cli, b, sizeof(b)), WF_EPROTO);
    pair_free(&p);
    /* A wildcard or suffix never matches: exact SAN only. */
    CHECK(pair_new(&p, cctx, sctx, "ns.serviceaccount.identity.linkerd.cluster.local"));
    handshake_pair(&p, &rc, &rs);
    CHECK_EQ_INT(rc, WF_EPROTO);
    pair_free(&p);
    wf_tls_ctx_unref(sctx);
    wf_tls_ctx_unref(cctx);
}

static void test_client_auth(void)
{
    wf_tls_ctx_t *req = ctx_server(&srv, WF_TLS_CLIENT_AUTH_REQUIRED);
    wf_tls_ctx_t *opt = ctx_server(&srv, WF_TLS_CLIENT_AUTH_OPTIONAL);
    wf_tls_ctx_t *evil = ctx_client(&cli_untrusted);
    wf_tls_ctx_t *anon = ctx_client(NULL);
    pair_t p;
    int rc, rs;
    char b[4];

    /* Untrusted client cert: refused, required or not. */
    for (int i = 0; i < 2; i++) {
        CHECK(pair_new(&p, evil, i ? opt : req, ID_SRV));
        handshake_pair(&p, &rc, &rs);
        CHECK_EQ_INT(rs, WF_EPROTO);
        CHECK_EQ_STR(wf_tls_io_reason(p.srv),
                     "peer certificate is not issued by our trust anchors");
        /* The TLS 1.3 client learns it from the alert on its first read. */
        if (rc == 0)
            rc = (int)recv_some(&p, p.cli, b, sizeof(b));
        CHECK_EQ_INT(rc, WF_EPROTO);
        CHECK(wf_tls_io_reason(p.cli) != NULL);
        pair_free(&p);
    }
    /* No client cert: refused when required, no identity when optional. */
    CHECK(pair_new(&p, anon, req, ID_SRV));
    handshake_pair(&p, &rc, &rs);
    CHECK_EQ_INT(rs, WF_EPROTO);
    CHECK_EQ_STR(wf_tls_io_reason(p.srv), "client sent no certificate and one is required");
    if (rc == 0)
        rc = (int)recv_some(&p, p.cli, b, sizeof(b));
    CHECK_EQ_INT(rc, WF_EPROTO);
    CHECK_EQ_STR(wf_tls_io_reason(p.cli), "server requires a client certificate");
    pair_free(&p);
    CHECK(pair_new(&p, anon, opt, ID_SRV));
    handshake_pair(&p, &rc, &rs);
    CHECK(rc == 0 && rs == 0);
    CHECK_EQ_INT(wf_tls_io_peer_id(p.srv).len, 0);
    pair_free(&p);
    wf_tls_ctx_unref(req);
    wf_tls_ctx_unref(opt);
    wf_tls_ctx_unref(evil);
    wf_tls_ctx_unref(anon);
}

static void test_tls12_rejected(void)
{
    wf_tls_ctx_t *sctx = ctx_server(&srv, WF_TLS_CLIENT_AUTH_REQUIRED);
    wf_tls_ctx_t *cctx = ctx_client(&cli);
    wf_tls_ctx_t *old = ctx_client(&cli);
    wf_tls_ctx_t *old_srv = ctx_server(&srv, WF_TLS_CLIENT_AUTH_REQUIRED);
    SSL_CTX_set_min_proto_version(wf_tls_ctx_ssl(old), TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(wf_tls_ctx_ssl(old), TLS1_2_VERSION);
    SSL_CTX_set_min_proto_version(wf_tls_ctx_ssl(old_srv), TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(wf_tls_ctx_ssl(old_srv), TLS1_2_VERSION);
    pair_t p;
    int rc, rs;
    CHECK(pair_new(&p, old, sctx, ID_SRV)); /* a TLS 1.2-only client */
    handshake_pair(&p, &rc, &rs);
    CHECK_EQ_INT(rs, WF_EPROTO);
    CHECK_EQ_STR(wf_tls_io_reason(p.srv), "peer does not offer TLS 1.3");
    CHECK_EQ_INT(rc, WF_EPROTO);
    CHECK_EQ_STR(wf_tls_io_reason(p.cli), "peer refused TLS 1.3 (protocol_version alert)");
    pair_free(&p);
    CHECK(pair_new(&p, cctx, old_srv, ID_SRV)); /* a TLS 1.2-only server */
    handshake_pair(&p, &rc, &rs);
    CHECK_EQ_INT(rc, WF_EPROTO);
    CHECK(wf_tls_io_reason(p.cli) != NULL);
    CHECK(rs < 0 && rs != WF_EAGAIN);
    pair_free(&p);
    wf_tls_ctx_unref(sctx);
    wf_tls_ctx_unref(cctx);
    wf_tls_ctx_unref(old);
    wf_tls_ctx_unref(old_srv);
}

static void test_rotation(void)
{
    wf_tls_ctx_t *sctx = ctx_server(&srv, WF_TLS_CLIENT_AUTH_REQUIRED);
    wf_tls_ctx_t *cctx = ctx_client(&cli);
    pair_t live, p;
    int rc, rs;
    CHECK(pair_new(&live, cctx, sctx, ID_SRV));
    handshake_pair(&live, &rc, &rs);
    CHECK(rc == 0 && rs == 0);

    const char *why = NULL;
    /* A key that does not match: refused, the old cert stays. */
    CHECK_EQ_INT(wf_tls_ctx_set_cert(sctx, wf_str_from(srv2.pem), srv.key, &why), WF_EINVAL);
    CHECK_EQ_STR(why, "private key does not match the certificate");
    CHECK(pair_new(&p, cctx, sctx, ID_SRV));
    handshake_pair(&p, &rc, &rs);
    CHECK(rc == 0 && rs == 0);
    pair_free(&p);

    CHECK_EQ_INT(wf_tls_ctx_set_cert(sctx, wf_str_from(srv2.pem), srv2.key, &why), 0);
    /* New handshakes see the new cert... */
    CHECK(pair_new(&p, cctx, sctx, "rotated." ID_SRV));
    handshake_pair(&p, &rc, &rs);
    CHECK(rc == 0 && rs == 0);
    pair_free(&p);
    CHECK(pair_new(&p, cctx, sctx, ID_SRV));
    handshake_pair(&p, &rc, &rs);
    CHECK_EQ_INT(rc, WF_EPROTO);
    pair_free(&p);
    /* ...and the live connection is unaffected. */
    char b[8];
    CHECK_EQ_INT(wf_io_send(live.srv, "still", 5), 5);
    CHECK_EQ_INT(recv_some(&live, live.cli, b, 5), 5);
    CHECK(memcmp(b, "still", 5) == 0);
    pair_free(&live);
    /* The ctx can go before its connections: they hold a reference. */
    CHECK(pair_new(&p, cctx, sctx, "rotated." ID_SRV));
    wf_tls_ctx_unref(sctx);
    wf_tls_ctx_unref(cctx);
    handshake_pair(&p, &rc, &rs);
    CHECK(rc == 0 && rs == 0);
    pair_free(&p);
}

static void test_ctx_errors(void)
{
    const char *why = NULL;
    wf_tls_ctx_conf_t conf = {
        .cert_chain_pem = wf_str_from(srv.pem), .key = srv.key, .trust_pem = WF_STR("garbage")};
    CHECK(wf_tls_ctx_new_server(&conf, &why) == NULL);
    CHECK_EQ_STR(why, "trust anchors: no PEM certificate found");
    conf.trust_pem = wf_str_from(ca.pem);
    conf.key = cli.key;
    CHECK(wf_tls_ctx_new_server(&conf, &why) == NULL);
    CHECK_EQ_STR(why, "private key does not match the certificate");
    conf.key = NULL;
    conf.cert_chain_pem = WF_STR_NULL;
    CHECK(wf_tls_ctx_new_server(&conf, &why) == NULL);
    /* Role mismatch and a bad identity are refused at creation. */
    wf_tls_ctx_t *cctx = ctx_client(&cli);
    wf_io_t *lo = wf_io_socket_new(-1);
    CHECK(wf_tls_io_new_server(cctx, lo, &why) == NULL);
    CHECK(wf_tls_io_new_client(cctx, lo, WF_STR(""), &why) == NULL);
    free(lo);
    wf_tls_ctx_unref(cctx);
}

/* ---- interop against the openssl CLI (--interop) ---- */

static char tmpdir[] = "/tmp/weft-tls-interop-XXXXXX";

static void write_file(const char *name, const char *data)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    fputs(data, f);
    fclose(f);
}

static void write_key(const char *name, EVP_PKEY *key)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
}

static char *path_of(const char *name)
{
    static char bufs[8][256];
    static int i;
    char *b = bufs[i++ % 8];
    snprintf(b, 256, "%s/%s", tmpdir, name);
    return b;
}

typedef struct child {
    pid_t pid;
    int in; /* write end of its stdin */
    char log[256];
} child_t;

/* Start `openssl args...` with stdin from a pipe, stdout+stderr to a log. */
static bool spawn_openssl(child_t *ch, const char *logname, char *const argv[])
{
    int pfd[2];
    if (pipe(pfd) != 0)
        return false;
    snprintf(ch->log, sizeof(ch->log), "%s/%s", tmpdir, logname);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[0], 0);
    posix_spawn_file_actions_addclose(&fa, pfd[1]);
    posix_spawn_file_actions_addopen(&fa, 1, ch->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int rc = posix_spawnp(&ch->pid, "openssl", &fa, NULL, argv, NULL);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[0]);
    ch->in = pfd[1];
    if (rc != 0) {
        close(pfd[1]);
        return false;
    }
    return true;
}

/* Close its stdin and wait up to 5 s for it to exit; then kill it. Returns
 * its exit status (or -1 if it had to be killed). */
static int child_finish(child_t *ch)
{
    if (ch->in >= 0)
        close(ch->in);
    ch->in = -1;
    for (int i = 0; i < 100; i++) {
        int st;
        if (waitpid(ch->pid, &st, WNOHANG) == ch->pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(50000);
    }
    kill(ch->pid, SIGKILL);
    waitpid(ch->pid, NULL, 0);
    return -1;
}

/* Wait up to 5 s for `needle` to appear in the child's log. */
static bool log_has(const child_t *ch, const char *needle)
{
    static char buf[65536];
    for (int i = 0; i < 100; i++) {
        FILE *f = fopen(ch->log, "r");
        if (f != NULL) {
            size_t n = fread(buf, 1, sizeof(buf) - 1, f);
            fclose(f);
            buf[n] = '\0';
            if (strstr(buf, needle) != NULL)
                return true;
        }
        usleep(50000);
    }
    fprintf(stderr, "--- %s lacks \"%s\":\n%s\n---\n", ch->log, needle, buf);
    return false;
}

static int listen_local(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static int accept_within(int lfd, int ms)
{
    struct pollfd pf = {.fd = lfd, .events = POLLIN};
    if (poll(&pf, 1, ms) != 1)
        return -1;
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    return fd;
}

static int connect_retry(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < 100; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
            fcntl(fd, F_SETFL, O_NONBLOCK);
            return fd;
        }
        close(fd);
        usleep(50000);
    }
    return -1;
}

/* Wait for the one io's wanted readiness (100 ms at most). */
static void wait_one(wf_io_t *io)
{
    struct pollfd pf = {.fd = io->fd,
                        .events = (io->flags & WF_IO_F_WANT_WRITE) ? POLLOUT : POLLIN};
    poll(&pf, 1, 100);
}

static int handshake_one(wf_io_t *io)
{
    int r = WF_EAGAIN;
    for (int i = 0; i < 100 && r == WF_EAGAIN; i++) {
        r = wf_tls_handshake(io);
        if (r == WF_EAGAIN)
            wait_one(io);
    }
    return r;
}

/* Read until EOF/error/limit; returns the last result (0 = clean EOF). */
static ssize_t read_to_end(wf_io_t *io, char *buf, size_t cap, size_t *got)
{
    *got = 0;
    for (int i = 0; i < 100; i++) {
        ssize_t r = wf_io_recv(io, buf + *got, cap - *got);
        if (r > 0) {
            *got += (size_t)r;
            if (*got == cap)
                return r;
            continue;
        }
        if (r != WF_EAGAIN)
            return r;
        wait_one(io);
    }
    return WF_ETIMEDOUT;
}

static char port_arg[64];

/* Our server, an `openssl s_client` client. */
static void test_interop_s_client(void)
{
    wf_tls_ctx_t *sctx = ctx_server(&srv, WF_TLS_CLIENT_AUTH_REQUIRED);
    for (int v12 = 0; v12 < 2; v12++) {
        int port, lfd = listen_local(&port);
        CHECK(lfd >= 0);
        snprintf(port_arg, sizeof(port_arg), "127.0.0.1:%d", port);
        char *argv[] = {"openssl",
                        "s_client",
                        "-connect",
                        port_arg,
                        v12 ? "-tls1_2" : "-tls1_3",
                        "-cert",
                        path_of("cli.pem"),
                        "-key",
                        path_of("cli.key"),
                        "-CAfile",
                        path_of("ca.pem"),
                        "-verify_return_error",
                        "-servername",
                        ID_SRV,
                        "-alpn",
                        WF_TLS_ALPN_TRANSPORT,
                        NULL};
        child_t ch;
        CHECK(spawn_openssl(&ch, v12 ? "s_client12.log" : "s_client.log", argv));
        int fd = accept_within(lfd, 10000);
        CHECK(fd >= 0);
        const char *why = NULL;
        wf_io_t *io = wf_tls_io_new_server(sctx, wf_io_socket_new(fd), &why);
        int r = handshake_one(io);
        if (v12) {
            CHECK_EQ_INT(r, WF_EPROTO);
            CHECK_EQ_STR(wf_tls_io_reason(io), "peer does not offer TLS 1.3");
            CHECK(child_finish(&ch) != 0);
        } else {
            CHECK_EQ_INT(r, 0);
            CHECK(wf_str_eq(wf_tls_io_peer_id(io), WF_STR(ID_CLI)));
            CHECK(wf_str_eq(wf_tls_io_alpn(io), WF_STR(WF_TLS_ALPN_TRANSPORT)));
            CHECK(wf_str_eq(wf_tls_io_sni(io), WF_STR(ID_SRV)));
            CHECK_EQ_INT(wf_io_send(io, "hello-from-weft\n", 16), 16);
            CHECK(log_has(&ch, "hello-from-weft"));
            CHECK(log_has(&ch, "ALPN protocol: " WF_TLS_ALPN_TRANSPORT));
            CHECK(log_has(&ch, "New, TLSv1.3"));
            CHECK(log_has(&ch, "Verify return code: 0 (ok)"));
            CHECK_EQ_INT(write(ch.in, "ping\n", 5), 5);
            close(ch.in); /* s_client: stdin EOF -> close_notify */
            ch.in = -1;
            char buf[64];
            size_t got;
            CHECK_EQ_INT(read_to_end(io, buf, sizeof(buf), &got), 0);
            CHECK(got == 5 && memcmp(buf, "ping\n", 5) == 0);
            child_finish(&ch);
        }
        wf_io_destroy(io);
        close(lfd);
    }
    wf_tls_ctx_unref(sctx);
}

/* Our client, an `openssl s_server` server (right cert, then wrong SAN). */
static void test_interop_s_server(void)
{
    wf_tls_ctx_t *cctx = ctx_client(&cli);
    for (int bad = 0; bad < 2; bad++) {
        int port, lfd = listen_local(&port); /* pick a free port */
        close(lfd);
        snprintf(port_arg, sizeof(port_arg), "127.0.0.1:%d", port);
        char *argv[] = {"openssl",
                        "s_server",
                        "-accept",
                        port_arg,
                        "-tls1_3",
                        "-cert",
                        path_of(bad ? "srv2.pem" : "srv.pem"),
                        "-key",
                        path_of(bad ? "srv2.key" : "srv.key"),
                        "-CAfile",
                        path_of("ca.pem"),
                        "-Verify",
                        "2",
                        "-verify_return_error",
                        "-alpn",
                        WF_TLS_ALPN_TRANSPORT,
                        "-naccept",
                        "1",
                        NULL};
        child_t ch;
        CHECK(spawn_openssl(&ch, bad ? "s_server_bad.log" : "s_server.log", argv));
        int fd = connect_retry(port);
        CHECK(fd >= 0);
        const char *why = NULL;
        wf_io_t *io = wf_tls_io_new_client(cctx, wf_io_socket_new(fd), WF_STR(ID_SRV), &why);
        int r = handshake_one(io);
        if (bad) {
            CHECK_EQ_INT(r, WF_EPROTO);
            CHECK_EQ_STR(wf_tls_io_reason(io),
                         "peer certificate identity does not match the expected identity");
        } else {
            CHECK_EQ_INT(r, 0);
            CHECK(wf_str_eq(wf_tls_io_alpn(io), WF_STR(WF_TLS_ALPN_TRANSPORT)));
            CHECK_EQ_INT(wf_io_send(io, "hello-s-server\n", 15), 15);
            CHECK(log_has(&ch, "hello-s-server"));
            CHECK_EQ_INT(write(ch.in, "bye\n", 4), 4); /* s_server relays stdin */
            char buf[16];
            size_t got;
            read_to_end(io, buf, 4, &got);
            CHECK(got == 4 && memcmp(buf, "bye\n", 4) == 0);
            CHECK_EQ_INT(wf_io_shutdown(io), 0);
        }
        wf_io_destroy(io);
        child_finish(&ch);
    }
    wf_tls_ctx_unref(cctx);
}

static int run_interop(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (mkdtemp(tmpdir) == NULL)
        return 2;
    write_file("ca.pem", ca.pem);
    write_file("srv.pem", srv.pem);
    write_key("srv.key", srv.key);
    write_file("srv2.pem", srv2.pem);
    write_key("srv2.key", srv2.key);
    write_file("cli.pem", cli.pem);
    write_key("cli.key", cli.key);
    WF_RUN(test_interop_s_client);
    WF_RUN(test_interop_s_server);
    if (!getenv("WEFT_TEST_KEEP")) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    } else {
        printf("kept %s\n", tmpdir);
    }
    return 0;
}

int main(int argc, char **argv)
{
    pki_init();
    if (argc > 1 && strcmp(argv[1], "--interop") == 0) {
        if (run_interop() != 0)
            return 2;
        pki_free();
        return wf_test_done();
    }
    WF_RUN(test_handshake_identity_alpn);
    WF_RUN(test_big_both_ways);
    WF_RUN(test_half_close);
    WF_RUN(test_wrong_identity);
    WF_RUN(test_client_auth);
    WF_RUN(test_tls12_rejected);
    WF_RUN(test_rotation);
    WF_RUN(test_ctx_errors);
    pki_free();
    return wf_test_done();
}
