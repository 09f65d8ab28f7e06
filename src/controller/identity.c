/*
 * identity.c — `weft-controller identity`: serves Identity.Certify
 * (proto/identity.proto), Linkerd's identity service (pkg/identity):
 *
 *   1. the requested identity must be <sa>.<ns>.serviceaccount.identity.
 *      <cp-ns>.<trust-domain>                              → INVALID_ARGUMENT
 *   2. the CSR must be ECDSA P-256, self-signed, with exactly one DNS SAN
 *      equal to the identity and nothing else (csr.h)      → INVALID_ARGUMENT
 *   3. the token must prove that identity (token.h)        → UNAUTHENTICATED
 *                                                            / PERMISSION_DENIED
 *   4. a leaf is signed by the issuer: notBefore = now − skew allowance,
 *      notAfter = now + lifetime, capped at the issuer's notAfter; the
 *      response carries it (DER), the issuer chain and valid_until.
 *
 * The issuer (intermediate CA) is checked at start — validity now, key
 * matches, a CA, chains to the trust anchors — and the process refuses to
 * start otherwise. Its files are stat()ed every second; when either changes
 * the pair is loaded and checked again and swapped in between two calls
 * (one thread: no call ever sees half an issuer). A bad new pair is logged
 * and counted, and the current issuer stays.
 *
 * Transport: Certify carries a bearer token, so it is served over TLS 1.3
 * only (h2 ALPN). The service certifies itself: at start, when its serving
 * cert is 70 % through its life, and after every issuer reload it signs a
 * leaf for its own identity (--identity-name, by default
 * weft-identity.<cp-ns>.serviceaccount.identity.<cp-ns>.<trust-domain>)
 * with a key that lives only in this process. Proxies verify that name
 * against the trust anchors before sending a token. Client certificates are
 * optional: a proxy asking for its first certificate has none.
 *
 * Thread: everything runs on the main loop (ctl.h).
 */
#include "identity.h"

#include "csr.h"
#include "ctl.h"
#include "token.h"

#include "core/log.h"
#include "core/time.h"
#include "grpc/grpc.h"
#include "identity.pb-c.h"
#include "tls/cert.h"
#include "tls/tls_ctx.h"
#include "tls/tls_io.h"

#include <openssl/pem.h>

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define IDENTITY_RELOAD_CHECK_MS 1000
#define CERTIFY_PATH "/weft.identity.Identity/Certify"

/* Why a Certify call ended; the `result` label of identity_certify_total. */
typedef enum certify_result {
    CR_OK,                 /* a certificate was issued */
    CR_INVALID_IDENTITY,   /* the identity name is malformed or for another domain */
    CR_INVALID_CSR,        /* the CSR broke a rule */
    CR_UNAUTHENTICATED,    /* no or unknown token */
    CR_PERMISSION_DENIED,  /* a token for another identity */
    CR_ISSUER_UNAVAILABLE, /* the issuer expired or is not yet valid */
    CR_INTERNAL,           /* signing or the token store failed */
    CR_COUNT,
} certify_result_t;

static const char *const result_names[CR_COUNT] = {
    "ok",
    "invalid_identity",
    "invalid_csr",
    "unauthenticated",
    "permission_denied",
    "issuer_unavailable",
    "internal",
};

static wf_metric_family_t fam_certify = {
    "identity_certify_total", "Identity.Certify calls by result", WF_METRIC_COUNTER, NULL, 0, 0};
static wf_metric_family_t fam_issuer_expiry = {
    "identity_issuer_expiry_timestamp_seconds",
    "notAfter of the issuer certificate in use, seconds since the epoch",
    WF_METRIC_GAUGE,
    NULL,
    0,
    0};
static wf_metric_family_t fam_issuer_reloads = {"identity_issuer_reloads_total",
                                                "Issuer certificate/key reloads by result",
                                                WF_METRIC_COUNTER,
                                                NULL,
                                                0,
                                                0};

/* One loaded, checked issuer. */
typedef struct issuer {
    STACK_OF(X509) * chain; /* owned: the issuer cert first, then any certs after it */
    EVP_PKEY *key;          /* owned */
    time_t not_before, not_after;
    ProtobufCBinaryData *der; /* owned: DER of each chain cert (each .data owned) */
    size_t nder;
} issuer_t;

typedef struct identity_cfg {
    const char *issuer_cert, *issuer_key, *trust_anchors; /* borrowed from argv */
    const char *token_store;
    const char *token_verifier; /* "local" or "kubernetes" */
    const char *kubeconfig;     /* kubernetes verifier; NULL: in-cluster */
    const char *token_audience;
    wf_addr_t addr;
    const char *trust_domain, *cp_ns;
    const char *identity_name; /* own serving identity; NULL: derived */
    char identity_name_buf[WF_IDENTITY_NAME_MAX + 1];
    int64_t lifetime_s;
    int64_t skew_s;
} identity_cfg_t;

typedef struct identity_svc {
    wf_ctl_t ctl;
    identity_cfg_t cfg;
    wf_grpc_server_t grpc;
    wf_token_verifier_t *verifier;   /* owned */
    STACK_OF(X509) * anchors;        /* owned */
    issuer_t *issuer;                /* owned: the one in use */
    struct stat seen_cert, seen_key; /* the files as last loaded (or tried) */
    wf_timer_t reload_timer;
    wf_series_t *certify[CR_COUNT];      /* referenced */
    wf_series_t *expiry;                 /* referenced */
    int64_t expiry_value;                /* what expiry holds now */
    wf_series_t *reload_ok, *reload_err; /* referenced */
    wf_tls_ctx_t *tls;                   /* owned: serving context */
    EVP_PKEY *serving_key;               /* owned: never leaves the process */
    time_t serving_renew_at;             /* when to sign a fresh serving cert */
    char *anchors_pem;                   /* owned: the trust anchors file, verbatim */
    size_t anchors_pem_len;
} identity_svc_t;

/* --- issuer ---------------------------------------------------------------------- */

static void issuer_free(issuer_t *is)
{
    if (is == NULL)
        return;
    sk_X509_pop_free(is->chain, X509_free);
    EVP_PKEY_free(is->key);
    for (size_t i = 0; i < is->nder; i++)
        OPENSSL_free(is->der[i].data);
    free(is->der);
    free(is);
}

static void fmt_time(time_t t, char *out, size_t outlen)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * Loads and checks an issuer pair at time now: readable, the key matches,
 * a CA that may sign leaves, valid now, and chains to `anchors` (certs
 * after the first in the cert file are offered as intermediates).
 */
static int issuer_load(const identity_cfg_t *cfg, STACK_OF(X509) * anchors, time_t now,
                       issuer_t **out, char *err, size_t errlen)
{
    *out = NULL;
    issuer_t *is = calloc(1, sizeof(*is));
    if (is == NULL) {
        snprintf(err, errlen, "out of memory");
        return WF_ENOMEM;
    }
    int rc = wf_cert_load_certs(cfg->issuer_cert, &is->chain, err, errlen);
    if (rc == 0)
        rc = wf_cert_load_key(cfg->issuer_key, &is->key, err, errlen);
    X509 *cert = rc == 0 ? sk_X509_value(is->chain, 0) : NULL;
    if (rc == 0) {
        char m[384];
        rc = wf_cert_check_signer(cert, is->key, WF_CERT_LEAF, now, cfg->issuer_cert,
                                  cfg->issuer_key, m, sizeof(m));
        if (rc != 0)
            snprintf(err, errlen, "issuer: %s", m);
    }
    if (rc == 0) {
        STACK_OF(X509) *untrusted = sk_X509_new_null();
        for (int i = 1; untrusted != NULL && i < sk_X509_num(is->chain); i++)
            sk_X509_push(untrusted, sk_X509_value(is->chain, i));
        char m[384];
        rc = wf_cert_verify(cert, untrusted, anchors, now, m, sizeof(m));
        sk_X509_free(untrusted);
        if (rc != 0)
            snprintf(err, errlen, "issuer: %s is not signed by the trust anchors in %s: %s",
                     cfg->issuer_cert, cfg->trust_anchors, m);
    }
    if (rc == 0)
        rc = wf_cert_validity(cert, &is->not_before, &is->not_after);
    if (rc == 0) {
        int n = sk_X509_num(is->chain);
        is->der = calloc((size_t)n, sizeof(*is->der));
        if (is->der == NULL)
            rc = WF_ENOMEM;
        for (int i = 0; rc == 0 && i < n; i++) {
            unsigned char *d = NULL;
            int len = i2d_X509(sk_X509_value(is->chain, i), &d);
            if (len <= 0) {
                rc = WF_ENOMEM;
                break;
            }
            is->der[is->nder++] = (ProtobufCBinaryData){(size_t)len, d};
        }
        if (rc != 0)
            snprintf(err, errlen, "out of memory");
    }
    if (rc != 0) {
        issuer_free(is);
        ERR_clear_error();
        return rc;
    }
    *out = is;
    return 0;
}

static void set_expiry_gauge(identity_svc_t *svc)
{
    int64_t v = (int64_t)svc->issuer->not_after;
    wf_gauge_add(svc->expiry, v - svc->expiry_value);
    svc->expiry_value = v;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Stats both files; true when either differs from what was last seen. */
static bool issuer_files_changed(identity_svc_t *svc, struct stat *cert, struct stat *key)
{
    if (stat(svc->cfg.issuer_cert, cert) != 0 || stat(svc->cfg.issuer_key, key) != 0)
        return false; /* mid-replacement or gone: keep the current issuer, look again later */
    return !same_file(cert, &svc->seen_cert) || !same_file(key, &svc->seen_key);
}

/* --- serving certificate -------------------------------------------------------- */

/* Signs a leaf for the service's own identity with the current issuer and
 * installs it (with the issuer chain) in the serving context, creating the
 * context the first time. */
static int serving_cert_refresh(identity_svc_t *svc, char *err, size_t errlen)
{
    const issuer_t *is = svc->issuer;
    time_t now = time(NULL);
    time_t not_after = now + (time_t)svc->cfg.lifetime_s;
    if (not_after > is->not_after)
        not_after = is->not_after;
    wf_cert_spec_t spec = {.kind = WF_CERT_LEAF,
                           .name = svc->cfg.identity_name,
                           .not_before = now - (time_t)svc->cfg.skew_s,
                           .not_after = not_after};
    X509 *leaf = NULL;
    int rc = wf_cert_build(&spec, svc->serving_key, sk_X509_value(is->chain, 0), is->key, &leaf,
                           err, errlen);
    if (rc != 0)
        return rc;
    BIO *b = BIO_new(BIO_s_mem());
    bool ok = b != NULL && PEM_write_bio_X509(b, leaf);
    for (int i = 0; ok && i < sk_X509_num(is->chain); i++)
        ok = PEM_write_bio_X509(b, sk_X509_value(is->chain, i));
    X509_free(leaf);
    char *pem = NULL;
    long pem_len = ok ? BIO_get_mem_data(b, &pem) : 0;
    const char *why = "out of memory";
    if (ok && svc->tls == NULL) {
        static const wf_str_t alpn[] = {{"h2", 2}};
        wf_tls_ctx_conf_t conf = {
            .cert_chain_pem = {pem, (size_t)pem_len},
            .key = svc->serving_key,
            .trust_pem = {svc->anchors_pem, svc->anchors_pem_len},
            .alpn = alpn,
            .alpn_count = 1,
            .client_auth = WF_TLS_CLIENT_AUTH_OPTIONAL,
        };
        svc->tls = wf_tls_ctx_new_server(&conf, &why);
        ok = svc->tls != NULL;
    } else if (ok) {
        ok = wf_tls_ctx_set_cert(svc->tls, (wf_str_t){pem, (size_t)pem_len}, svc->serving_key,
                                 &why) == 0;
    }
    BIO_free(b);
    ERR_clear_error();
    if (!ok) {
        snprintf(err, errlen, "serving certificate for %s: %s", svc->cfg.identity_name, why);
        return WF_EINVAL;
    }
    /* Renew at 70 % of the lifetime, as proxies do. */
    svc->serving_renew_at = now + (not_after - now) * 7 / 10;
    return 0;
}

/* grpc server hook: every accepted connection is TLS. */
static wf_io_t *serving_wrap(void *arg, wf_io_t *sock)
{
    identity_svc_t *svc = arg;
    const char *why = "no serving context";
    wf_io_t *io = svc->tls != NULL ? wf_tls_io_new_server(svc->tls, sock, &why) : NULL;
    if (io == NULL) {
        wf_log_warn("cannot start TLS on an accepted connection: %s", why);
        wf_io_destroy(sock);
    }
    return io;
}

static void reload_timer_cb(wf_loop_t *loop, wf_timer_t *t)
{
    identity_svc_t *svc = wf_container_of(t, identity_svc_t, reload_timer);
    struct stat cert, key;
    if (issuer_files_changed(svc, &cert, &key)) {
        /* Remember this version whatever the outcome: a bad pair is
         * reported once, not every second; the next write is tried again. */
        svc->seen_cert = cert;
        svc->seen_key = key;
        issuer_t *is = NULL;
        char err[512];
        if (issuer_load(&svc->cfg, svc->anchors, time(NULL), &is, err, sizeof(err)) != 0) {
            wf_counter_add(svc->reload_err, 1);
            wf_log_error("issuer files changed but the new pair is unusable, keeping the current "
                         "issuer: %s",
                         err);
        } else {
            char s[64], old[64];
            fmt_time(is->not_after, s, sizeof(s));
            fmt_time(svc->issuer->not_after, old, sizeof(old));
            issuer_free(svc->issuer);
            svc->issuer = is;
            set_expiry_gauge(svc);
            wf_counter_add(svc->reload_ok, 1);
            wf_log_info("issuer reloaded from %s (valid until %s; previous until %s)",
                        svc->cfg.issuer_cert, s, old);
            svc->serving_renew_at = 0; /* re-sign the serving cert under the new issuer */
        }
    }
    if (time(NULL) >= svc->serving_renew_at) {
        char err[512];
        if (serving_cert_refresh(svc, err, sizeof(err)) != 0)
            wf_log_error("cannot renew the serving certificate: %s", err);
    }
    if (!svc->ctl.draining)
        wf_timer_start(loop, t, IDENTITY_RELOAD_CHECK_MS);
}

/* --- Certify ----------------------------------------------------------------------- */

/* Copies s into out (truncated), with bytes outside printable ASCII as '?'. */
static void log_safe(char *out, size_t outlen, const char *s)
{
    size_t i = 0;
    for (; s != NULL && s[i] != '\0' && i + 1 < outlen; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
    out[i] = '\0';
}

static void certify_end(identity_svc_t *svc, wf_grpc_call_t *call, certify_result_t r,
                        wf_grpc_status_t status, const Weft__Identity__CertifyRequest *req,
                        const char *msg)
{
    wf_counter_add(svc->certify[r], 1);
    /* The identity (and messages quoting it) come from the network: log a
     * bounded, printable copy so a request cannot forge log lines. */
    char id[WF_IDENTITY_NAME_MAX + 1], why[256];
    log_safe(id, sizeof(id), req->identity);
    if (r == CR_OK) {
        wf_log_debug("certified %s", id);
    } else {
        log_safe(why, sizeof(why), msg);
        wf_log_info("Certify %s refused (%s): %s", id, result_names[r], why);
    }
    wf_grpc_call_finish(call, status, r == CR_OK ? NULL : msg);
}

static void handle_certify(wf_grpc_server_t *srv, wf_grpc_call_t *call)
{
    identity_svc_t *svc = wf_container_of(srv, identity_svc_t, grpc);
    const Weft__Identity__CertifyRequest *req =
        (const Weft__Identity__CertifyRequest *)wf_grpc_call_request(call);
    wf_str_t ident = wf_str_from(req->identity);
    char msg[512];

    wf_identity_name_t name;
    if (wf_identity_name_parse(ident, wf_str_from(svc->cfg.cp_ns),
                               wf_str_from(svc->cfg.trust_domain), &name, msg, sizeof(msg)) != 0)
        return certify_end(svc, call, CR_INVALID_IDENTITY, WF_GRPC_INVALID_ARGUMENT, req, msg);

    X509_REQ *csr = NULL;
    if (wf_csr_check(req->certificate_signing_request.data, req->certificate_signing_request.len,
                     ident, &csr, msg, sizeof(msg)) != 0)
        return certify_end(svc, call, CR_INVALID_CSR, WF_GRPC_INVALID_ARGUMENT, req, msg);

    wf_token_result_t tr =
        wf_token_verify(svc->verifier, (wf_str_t){(const char *)req->token.data, req->token.len},
                        ident, msg, sizeof(msg));
    if (tr != WF_TOKEN_OK) {
        X509_REQ_free(csr);
        if (tr == WF_TOKEN_UNAUTHENTICATED)
            return certify_end(svc, call, CR_UNAUTHENTICATED, WF_GRPC_UNAUTHENTICATED, req, msg);
        if (tr == WF_TOKEN_DENIED)
            return certify_end(svc, call, CR_PERMISSION_DENIED, WF_GRPC_PERMISSION_DENIED, req,
                               msg);
        return certify_end(svc, call, CR_INTERNAL, WF_GRPC_UNAVAILABLE, req, msg);
    }

    const issuer_t *is = svc->issuer;
    time_t now = time(NULL);
    if (now < is->not_before || now >= is->not_after) {
        X509_REQ_free(csr);
        char w[64];
        fmt_time(now < is->not_before ? is->not_before : is->not_after, w, sizeof(w));
        snprintf(msg, sizeof(msg), "the identity issuer %s %s",
                 now < is->not_before ? "is not valid until" : "expired at", w);
        return certify_end(svc, call, CR_ISSUER_UNAVAILABLE, WF_GRPC_UNAVAILABLE, req, msg);
    }
    time_t not_after = now + (time_t)svc->cfg.lifetime_s;
    if (not_after > is->not_after)
        not_after = is->not_after; /* a leaf never outlives its issuer */
    wf_cert_spec_t spec = {.kind = WF_CERT_LEAF,
                           .name = req->identity,
                           .not_before = now - (time_t)svc->cfg.skew_s,
                           .not_after = not_after};
    X509 *leaf = NULL;
    int rc = wf_cert_build(&spec, X509_REQ_get0_pubkey(csr), sk_X509_value(is->chain, 0), is->key,
                           &leaf, msg, sizeof(msg));
    X509_REQ_free(csr);
    unsigned char *der = NULL;
    int der_len = rc == 0 ? i2d_X509(leaf, &der) : -1;
    X509_free(leaf);
    if (der_len <= 0) {
        ERR_clear_error();
        if (rc == 0)
            snprintf(msg, sizeof(msg), "cannot encode the certificate");
        wf_log_error("signing a certificate for %s failed: %s", req->identity, msg);
        return certify_end(svc, call, CR_INTERNAL, WF_GRPC_INTERNAL, req,
                           "the identity service could not sign the certificate");
    }

    Weft__Identity__CertifyResponse resp = WEFT__IDENTITY__CERTIFY_RESPONSE__INIT;
    Weft__Types__Timestamp ts = WEFT__TYPES__TIMESTAMP__INIT;
    ts.seconds = (int64_t)not_after;
    resp.leaf_certificate = (ProtobufCBinaryData){(size_t)der_len, der};
    resp.n_intermediate_certificates = is->nder;
    resp.intermediate_certificates = is->der;
    resp.valid_until = &ts;
    rc = wf_grpc_call_send(call, &resp.base); /* packs now: der may go */
    OPENSSL_free(der);
    if (rc != 0 && rc != WF_ECLOSED)
        return certify_end(svc, call, CR_INTERNAL, WF_GRPC_RESOURCE_EXHAUSTED, req,
                           "out of memory");
    certify_end(svc, call, CR_OK, WF_GRPC_OK, req, NULL);
}

static const wf_grpc_method_t identity_methods[] = {
    {CERTIFY_PATH, WF_GRPC_UNARY, &weft__identity__certify_request__descriptor,
     &weft__identity__certify_response__descriptor, handle_certify},
};

/* --- shutdown -------------------------------------------------------------------- */

static void identity_drain(wf_ctl_t *ctl)
{
    identity_svc_t *svc = wf_container_of(ctl, identity_svc_t, ctl);
    /* Stop accepting; connections already open keep being served for the
     * grace period, so calls on the wire still get their answers. */
    if (svc->grpc.listen_fd >= 0) {
        wf_watch_stop(&ctl->loop, &svc->grpc.listen_watch);
        close(svc->grpc.listen_fd);
        svc->grpc.listen_fd = -1;
    }
    wf_timer_stop(&ctl->loop, &svc->reload_timer);
}

static void identity_close(wf_ctl_t *ctl)
{
    identity_svc_t *svc = wf_container_of(ctl, identity_svc_t, ctl);
    /* GOAWAY(NO_ERROR) on every connection, then close. Certify answers
     * within the loop iteration its request completes in, so nothing is
     * left half-done here but requests still arriving. */
    wf_grpc_server_close(&svc->grpc);
}

/* --- flags ---------------------------------------------------------------------- */

static const char identity_usage[] =
    "usage: weft-controller identity --issuer-cert FILE --issuer-key FILE --trust-anchors FILE\n"
    "                                --token-store DIR [flags]\n"
    "\n"
    "Serves Identity.Certify: signs a workload's CSR for\n"
    "<sa>.<ns>.serviceaccount.identity.<control-plane-ns>.<trust-domain> when its token proves\n"
    "that identity.\n"
    "\n"
    "  --issuer-cert FILE          identity issuer certificate (PEM; may be followed by its "
    "chain)\n"
    "  --issuer-key FILE           identity issuer private key (PEM, unencrypted)\n"
    "  --trust-anchors FILE        trust anchor bundle (PEM) the issuer must chain to\n"
    "  --addr ADDR                 gRPC listen address (default 0.0.0.0:8080)\n"
    "  --trust-domain NAME         trust domain (default cluster.local)\n"
    "  --control-plane-ns NAME     control plane namespace in identities (default linkerd)\n"
    "  --identity-name NAME        this service's own TLS identity (default\n"
    "                              weft-identity.<cp-ns>.serviceaccount.identity.<cp-ns>.<domain>)\n"
    "  --issuance-lifetime D       leaf certificate lifetime (default 24h)\n"
    "  --clock-skew-allowance D    leaf notBefore is this far in the past (default 20s)\n"
    "  --token-verifier KIND       local (default), or kubernetes: TokenReview of the\n"
    "                              proxy's projected ServiceAccount token\n"
    "  --kubeconfig FILE           kubernetes verifier: API server (default: in-cluster)\n"
    "  --token-audience AUD        kubernetes verifier: audience (default identity.l5d.io)\n"
    "  --token-store DIR           local verifier: one file per token, named by the hex\n"
    "                              SHA-256 of the token, holding the identity it proves\n"
    "\n" WF_CTL_COMMON_USAGE;

enum {
    OPT_ISSUER_CERT = WF_CTL_OPT_SUB,
    OPT_ISSUER_KEY,
    OPT_TRUST_ANCHORS,
    OPT_ADDR,
    OPT_TRUST_DOMAIN,
    OPT_CP_NS,
    OPT_LIFETIME,
    OPT_SKEW,
    OPT_TOKEN_VERIFIER,
    OPT_TOKEN_STORE,
    OPT_IDENTITY_NAME,
    OPT_KUBECONFIG,
    OPT_TOKEN_AUDIENCE,
};

#define usage_error(...) wf_ctl_usage_error("identity", __VA_ARGS__)

static int parse_flags(int argc, char **argv, wf_ctl_cfg_t *common, identity_cfg_t *cfg)
{
    static const struct option opts[] = {
        {"issuer-cert", required_argument, NULL, OPT_ISSUER_CERT},
        {"issuer-key", required_argument, NULL, OPT_ISSUER_KEY},
        {"trust-anchors", required_argument, NULL, OPT_TRUST_ANCHORS},
        {"addr", required_argument, NULL, OPT_ADDR},
        {"trust-domain", required_argument, NULL, OPT_TRUST_DOMAIN},
        {"control-plane-ns", required_argument, NULL, OPT_CP_NS},
        {"issuance-lifetime", required_argument, NULL, OPT_LIFETIME},
        {"clock-skew-allowance", required_argument, NULL, OPT_SKEW},
        {"token-verifier", required_argument, NULL, OPT_TOKEN_VERIFIER},
        {"token-store", required_argument, NULL, OPT_TOKEN_STORE},
        {"identity-name", required_argument, NULL, OPT_IDENTITY_NAME},
        {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
        {"token-audience", required_argument, NULL, OPT_TOKEN_AUDIENCE},
        WF_CTL_COMMON_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    wf_ctl_cfg_defaults(common);
    *cfg = (identity_cfg_t){.trust_domain = "cluster.local",
                            .cp_ns = "linkerd",
                            .lifetime_s = 24 * 3600,
                            .skew_s = WF_CERT_SKEW_SECS};
    wf_addr_parse(&cfg->addr, WF_STR("0.0.0.0:8080"));
    const char *verifier = "local";
    opterr = 0;
    optind = 1;
    int c;
    char err[256];
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case OPT_ISSUER_CERT:
            cfg->issuer_cert = optarg;
            break;
        case OPT_ISSUER_KEY:
            cfg->issuer_key = optarg;
            break;
        case OPT_TRUST_ANCHORS:
            cfg->trust_anchors = optarg;
            break;
        case OPT_TOKEN_STORE:
            cfg->token_store = optarg;
            break;
        case OPT_TOKEN_VERIFIER:
            verifier = optarg;
            break;
        case OPT_KUBECONFIG:
            cfg->kubeconfig = optarg;
            break;
        case OPT_TOKEN_AUDIENCE:
            if (optarg[0] == '\0')
                return usage_error("--token-audience must not be empty%s%s", "", "");
            cfg->token_audience = optarg;
            break;
        case OPT_IDENTITY_NAME:
            if (!wf_ctl_dns_name(optarg))
                return usage_error("--identity-name: \"%s\" is not a DNS name%s", optarg, "");
            cfg->identity_name = optarg;
            break;
        case OPT_ADDR:
            if (wf_addr_parse(&cfg->addr, wf_str_from(optarg)) != 0)
                return usage_error("--addr: invalid address \"%s\" (expected IP:PORT)%s", optarg,
                                   "");
            break;
        case OPT_TRUST_DOMAIN:
            if (!wf_ctl_dns_name(optarg))
                return usage_error("--trust-domain: \"%s\" is not a DNS name%s", optarg, "");
            cfg->trust_domain = optarg;
            break;
        case OPT_CP_NS:
            if (!wf_ctl_dns_name(optarg) || strchr(optarg, '.') != NULL)
                return usage_error("--control-plane-ns: \"%s\" is not a DNS-1123 label%s", optarg,
                                   "");
            cfg->cp_ns = optarg;
            break;
        case OPT_LIFETIME:
        case OPT_SKEW: {
            const char *flag = c == OPT_LIFETIME ? "--issuance-lifetime" : "--clock-skew-allowance";
            uint64_t ms;
            if (wf_duration_parse(wf_str_from(optarg), &ms) != 0 || ms < 1000 ||
                ms > (uint64_t)100 * 365 * 86400 * 1000)
                return usage_error("%s: invalid duration \"%s\" (expected e.g. 24h, 20s; at "
                                   "least 1s)",
                                   flag, optarg);
            if (c == OPT_LIFETIME)
                cfg->lifetime_s = (int64_t)(ms / 1000);
            else
                cfg->skew_s = (int64_t)(ms / 1000);
            break;
        }
        case WF_CTL_OPT_HELP:
            fputs(identity_usage, stdout);
            return -1;
        case ':':
            return usage_error("%s needs a value%s", argv[optind - 1], "");
        case '?':
            return usage_error("unknown flag \"%s\"%s", argv[optind - 1], "");
        default:
            if (wf_ctl_cfg_apply(common, c, optarg, err, sizeof(err)) != 0)
                return usage_error("%s%s", err, "");
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument \"%s\"%s", argv[optind], "");
    if (cfg->issuer_cert == NULL)
        return usage_error("missing required flag %s%s", "--issuer-cert", "");
    if (cfg->issuer_key == NULL)
        return usage_error("missing required flag %s%s", "--issuer-key", "");
    if (cfg->trust_anchors == NULL)
        return usage_error("missing required flag %s%s", "--trust-anchors", "");
    if (strcmp(verifier, "local") != 0 && strcmp(verifier, "kubernetes") != 0)
        return usage_error("--token-verifier: unknown verifier \"%s\" (expected local or "
                           "kubernetes)%s",
                           verifier, "");
    cfg->token_verifier = verifier;
    if (cfg->token_audience == NULL)
        cfg->token_audience = "identity.l5d.io";
    if (strcmp(verifier, "local") == 0 && cfg->token_store == NULL)
        return usage_error("missing required flag %s (the local token verifier needs it)%s",
                           "--token-store", "");
    if (cfg->identity_name == NULL) {
        int n = snprintf(cfg->identity_name_buf, sizeof(cfg->identity_name_buf),
                         "weft-identity.%s.serviceaccount.identity.%s.%s", cfg->cp_ns, cfg->cp_ns,
                         cfg->trust_domain);
        if (n < 0 || (size_t)n >= sizeof(cfg->identity_name_buf))
            return usage_error("the derived identity name is too long (%s, %s)", cfg->cp_ns,
                               cfg->trust_domain);
        cfg->identity_name = cfg->identity_name_buf;
    }
    return 0;
}

/* --- main ----------------------------------------------------------------------- */

static int identity_start(identity_svc_t *svc, char *err, size_t errlen)
{
    int rc = wf_cert_load_certs(svc->cfg.trust_anchors, &svc->anchors, err, errlen);
    if (rc != 0)
        return rc;
    /* The versions about to be loaded (a failed stat leaves zeroes, which
     * only makes the first reload check try again; issuer_load reports). */
    (void)stat(svc->cfg.issuer_cert, &svc->seen_cert);
    (void)stat(svc->cfg.issuer_key, &svc->seen_key);
    if ((rc = issuer_load(&svc->cfg, svc->anchors, time(NULL), &svc->issuer, err, errlen)) != 0)
        return rc;
    if (strcmp(svc->cfg.token_verifier, "kubernetes") == 0)
        rc = wf_token_kube_new(svc->cfg.kubeconfig, svc->cfg.token_audience, &svc->verifier, err,
                               errlen);
    else
        rc = wf_token_local_new(svc->cfg.token_store, &svc->verifier, err, errlen);
    if (rc != 0)
        return rc;
    if ((rc = wf_ctl_read_file(svc->cfg.trust_anchors, &svc->anchors_pem, &svc->anchors_pem_len,
                              err, errlen)) != 0)
        return rc;
    if ((rc = wf_cert_key_generate(&svc->serving_key)) != 0) {
        snprintf(err, errlen, "cannot generate the serving key");
        return rc;
    }
    if ((rc = serving_cert_refresh(svc, err, errlen)) != 0)
        return rc;

    wf_metrics_register(&fam_certify);
    wf_metrics_register(&fam_issuer_expiry);
    wf_metrics_register(&fam_issuer_reloads);
    for (int r = 0; r < CR_COUNT; r++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "result=\"%s\"", result_names[r]);
        svc->certify[r] = wf_metrics_get(svc->ctl.shard, &fam_certify, wf_str_from(labels));
    }
    svc->expiry = wf_metrics_get(svc->ctl.shard, &fam_issuer_expiry, WF_STR(""));
    svc->reload_ok = wf_metrics_get(svc->ctl.shard, &fam_issuer_reloads, WF_STR("result=\"ok\""));
    svc->reload_err =
        wf_metrics_get(svc->ctl.shard, &fam_issuer_reloads, WF_STR("result=\"error\""));
    set_expiry_gauge(svc);

    wf_grpc_server_init(&svc->grpc, &svc->ctl.loop, identity_methods,
                        WF_ARRAY_LEN(identity_methods), NULL);
    svc->grpc.wrap = serving_wrap;
    svc->grpc.wrap_arg = svc;
    if ((rc = wf_grpc_server_listen(&svc->grpc, &svc->cfg.addr)) != 0) {
        char a[WF_ADDR_STRLEN];
        wf_addr_format(&svc->cfg.addr, a, sizeof(a));
        snprintf(err, errlen, "cannot listen on %s: %s", a, wf_strerror(rc));
        return rc;
    }
    wf_timer_init(&svc->reload_timer, reload_timer_cb);
    wf_timer_start(&svc->ctl.loop, &svc->reload_timer, IDENTITY_RELOAD_CHECK_MS);
    return 0;
}

static void identity_destroy(identity_svc_t *svc)
{
    for (int r = 0; r < CR_COUNT; r++)
        if (svc->certify[r] != NULL)
            wf_metrics_put(svc->ctl.shard, svc->certify[r], 0);
    if (svc->expiry != NULL)
        wf_metrics_put(svc->ctl.shard, svc->expiry, 0);
    if (svc->reload_ok != NULL)
        wf_metrics_put(svc->ctl.shard, svc->reload_ok, 0);
    if (svc->reload_err != NULL)
        wf_metrics_put(svc->ctl.shard, svc->reload_err, 0);
    wf_token_verifier_free(svc->verifier);
    issuer_free(svc->issuer);
    sk_X509_pop_free(svc->anchors, X509_free);
    wf_tls_ctx_unref(svc->tls);
    EVP_PKEY_free(svc->serving_key);
    free(svc->anchors_pem);
}

int wf_identity_main(int argc, char **argv)
{
    identity_svc_t *svc = calloc(1, sizeof(*svc));
    if (svc == NULL) {
        fprintf(stderr, "weft-controller identity: out of memory\n");
        return WF_CTL_EXIT_FAIL;
    }
    wf_ctl_cfg_t common;
    int rc = parse_flags(argc, argv, &common, &svc->cfg);
    if (rc != 0) {
        free(svc);
        return rc < 0 ? WF_CTL_EXIT_OK : rc;
    }
    svc->grpc.listen_fd = -1;
    svc->ctl.on_drain = identity_drain;
    svc->ctl.on_close = identity_close;
    char err[768];
    int exit_code = WF_CTL_EXIT_OK;
    if (wf_ctl_init(&svc->ctl, &common, "identity", err, sizeof(err)) != 0 ||
        identity_start(svc, err, sizeof(err)) != 0) {
        if (wf_log_enabled(WF_LOG_ERROR))
            wf_log_error("cannot start: %s", err);
        else
            fprintf(stderr, "weft-controller identity: %s\n", err);
        exit_code = WF_CTL_EXIT_FAIL;
    } else {
        char a[WF_ADDR_STRLEN], ad[WF_ADDR_STRLEN], until[64];
        wf_addr_t bound;
        if (wf_local_addr(svc->grpc.listen_fd, &bound) != 0)
            bound = svc->cfg.addr;
        wf_addr_format(&bound, a, sizeof(a));
        wf_addr_format(&svc->ctl.cfg.admin_addr, ad, sizeof(ad));
        fmt_time(svc->issuer->not_after, until, sizeof(until));
        svc->ctl.ready = true;
        wf_log_info("weft-controller %s identity serving on %s as %s (TLS 1.3; admin %s); "
                    "trust domain %s, control plane ns %s, issuer %s valid until %s",
                    WEFT_VERSION, a, svc->cfg.identity_name, ad, svc->cfg.trust_domain,
                    svc->cfg.cp_ns, svc->cfg.issuer_cert, until);
        wf_ctl_run(&svc->ctl);
        wf_log_info("drained; exiting");
    }
    if (svc->grpc.loop != NULL) {
        wf_grpc_server_close(&svc->grpc);
        wf_loop_run_once(&svc->ctl.loop, 0);
    }
    identity_destroy(svc);
    wf_ctl_destroy(&svc->ctl);
    free(svc);
    return exit_code;
}
