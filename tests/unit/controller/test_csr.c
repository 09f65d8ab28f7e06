/*
 * test_csr.c — identity-name parsing, CSR checks and the local token
 * verifier of the identity controller. CSRs are built in memory with
 * OpenSSL's X509_REQ API, one per rule the checker enforces.
 */
#include "wf_test.h"

#include "../../../src/controller/csr.c"
#include "../../../src/controller/token.c"
#include "tls/cert.h"

#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <stdlib.h>

#define CP WF_STR("linkerd")
#define TD WF_STR("cluster.local")
#define ID "web.emojivoto.serviceaccount.identity.linkerd.cluster.local"

static void test_name_parse(void)
{
    wf_identity_name_t n;
    char err[256];
    CHECK_EQ_INT(wf_identity_name_parse(WF_STR(ID), CP, TD, &n, err, sizeof(err)), 0);
    CHECK(wf_str_eq(n.sa, WF_STR("web")));
    CHECK(wf_str_eq(n.ns, WF_STR("emojivoto")));
    CHECK_EQ_INT(wf_identity_name_parse(WF_STR("default.weft.serviceaccount.identity.weft.ex.org"),
                                        WF_STR("weft"), WF_STR("ex.org"), &n, err, sizeof(err)),
                 0);
    CHECK(wf_str_eq(n.ns, WF_STR("weft")));

    static const char *const bad[] = {
        "",
        "web.serviceaccount.identity.linkerd.cluster.local",     /* no ns */
        "a.b.c.serviceaccount.identity.linkerd.cluster.local",   /* sa with a dot */
        "Web.ns.serviceaccount.identity.linkerd.cluster.local",  /* upper case */
        "-web.ns.serviceaccount.identity.linkerd.cluster.local", /* leading '-' */
        "web.ns-.serviceaccount.identity.linkerd.cluster.local", /* trailing '-' */
        "web..serviceaccount.identity.linkerd.cluster.local",    /* empty ns */
        "web.ns.serviceaccount.identity.weft.cluster.local",     /* other cp ns */
        "web.ns.serviceaccount.identity.linkerd.cluster.localx", /* other domain */
        "web.ns.serviceaccounts.identity.linkerd.cluster.local", /* typo */
        "web.ns.serviceaccount.identity.linkerd.cluster.local.", /* trailing dot */
        ".serviceaccount.identity.linkerd.cluster.local",
        "web_x.ns.serviceaccount.identity.linkerd.cluster.local", /* underscore */
    };
    for (size_t i = 0; i < WF_ARRAY_LEN(bad); i++) {
        err[0] = 0;
        int rc = wf_identity_name_parse(wf_str_from(bad[i]), CP, TD, &n, err, sizeof(err));
        if (rc != WF_EINVAL)
            fprintf(stderr, "accepted bad name \"%s\"\n", bad[i]);
        CHECK_EQ_INT(rc, WF_EINVAL);
        CHECK(err[0] != 0);
    }
    /* A 64-octet label is one too many. */
    char longname[300];
    snprintf(longname, sizeof(longname), "%s.ns.serviceaccount.identity.linkerd.cluster.local",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    CHECK_EQ_INT(wf_identity_name_parse(wf_str_from(longname), CP, TD, &n, err, sizeof(err)),
                 WF_EINVAL);
    CHECK(strstr(err, "DNS-1123") != NULL);
    /* The message names the expected shape. */
    wf_identity_name_parse(WF_STR("nope"), CP, TD, &n, err, sizeof(err));
    CHECK(strstr(err, "<sa>.<ns>.serviceaccount.identity.linkerd.cluster.local") != NULL);
}

static EVP_PKEY *p256(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* Builds a DER CSR for key with the given SAN value ("DNS:a,URI:b"; NULL:
 * no extension), signed by sign_key (NULL: key). Returns malloc'd DER. */
static uint8_t *make_csr(EVP_PKEY *key, EVP_PKEY *sign_key, const char *san, size_t *len)
{
    X509_REQ *req = X509_REQ_new();
    X509_REQ_set_version(req, 0);
    X509_REQ_set_pubkey(req, key);
    if (san != NULL) {
        STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
        sk_X509_EXTENSION_push(exts, ext);
        X509_REQ_add_extensions(req, exts);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    }
    X509_REQ_sign(req, sign_key ? sign_key : key, EVP_sha256());
    int n = i2d_X509_REQ(req, NULL);
    uint8_t *der = malloc((size_t)n), *p = der;
    i2d_X509_REQ(req, &p);
    X509_REQ_free(req);
    *len = (size_t)n;
    return der;
}

/* Runs the check; returns rc and leaves the message in err. */
static int check(const uint8_t *der, size_t len, char *err, size_t errlen)
{
    X509_REQ *req = NULL;
    err[0] = 0;
    int rc = wf_csr_check(der, len, WF_STR(ID), &req, err, errlen);
    CHECK((rc == 0) == (req != NULL));
    X509_REQ_free(req);
    return rc;
}

static void test_csr(void)
{
    EVP_PKEY *key = p256(), *other = p256();
    char err[256];
    size_t len;
    uint8_t *der;

    der = make_csr(key, NULL, "DNS:" ID, &len);
    CHECK_EQ_INT(check(der, len, err, sizeof(err)), 0);
    /* Trailing garbage and truncation. */
    uint8_t *more = malloc(len + 1);
    memcpy(more, der, len);
    more[len] = 0;
    CHECK_EQ_INT(check(more, len + 1, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "trailing") != NULL);
    free(more);
    CHECK_EQ_INT(check(der, len - 1, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "not a DER") != NULL);
    CHECK_EQ_INT(check(der, 0, err, sizeof(err)), WF_EINVAL);
    /* Bad signature: one bit flipped in the last byte (inside the signature). */
    der[len - 1] ^= 0x01;
    CHECK_EQ_INT(check(der, len, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "signature") != NULL);
    free(der);
    /* Signed by another key. */
    der = make_csr(key, other, "DNS:" ID, &len);
    CHECK_EQ_INT(check(der, len, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "signature") != NULL);
    free(der);

    der = make_csr(key, NULL,
                   "DNS:" ID ",DNS:other.ns.serviceaccount.identity.linkerd.cluster.local", &len);
    CHECK_EQ_INT(check(der, len, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "2 DNS SANs") != NULL);
    free(der);

    der = make_csr(key, NULL, "DNS:" ID ",URI:spiffe://cluster.local/ns/x/sa/y", &len);
    CHECK_EQ_INT(check(der, len, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "URI SAN") != NULL);
    free(der);

    der = make_csr(key, NULL, "DNS:" ID ",IP:10.0.0.1", &len);
    CHECK_EQ_INT(check(der, len, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "IP address SAN") != NULL);
    free(der);

    der = make_csr(key, NULL, "DNS:other.emojivoto.serviceaccount.identity.linkerd.cluster.local",
                   &len);
    CHECK_EQ_INT(check(der, len, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "does not match the requested identity") != NULL);
    free(der);

    der = make_csr(key, NULL, NULL, &len);
    CHECK_EQ_INT(check(der, len, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "no subjectAltName") != NULL);
    free(der);

    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    der = make_csr(rsa, NULL, "DNS:" ID, &len);
    CHECK_EQ_INT(check(der, len, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "RSA 2048") != NULL);
    free(der);
    EVP_PKEY_free(rsa);

    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    der = make_csr(p384, NULL, "DNS:" ID, &len);
    CHECK_EQ_INT(check(der, len, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "want ECDSA P-256") != NULL);
    free(der);
    EVP_PKEY_free(p384);

    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}

static void test_token_local(void)
{
    char dir[] = "/tmp/wf-test-tokens.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char err[256], msg[256];
    wf_token_verifier_t *v = NULL;
    CHECK_EQ_INT(wf_token_local_new("/nonexistent/tokens", &v, err, sizeof(err)), -ENOENT);
    CHECK(strstr(err, "/nonexistent/tokens") != NULL);
    CHECK_EQ_INT(wf_token_local_new(dir, &v, err, sizeof(err)), 0);
    /* sha256("secret-token") */
    unsigned char md[32];
    EVP_Digest("secret-token", 12, md, NULL, EVP_sha256(), NULL);
    char path[128];
    int off = snprintf(path, sizeof(path), "%s/", dir);
    for (int i = 0; i < 32; i++)
        off += snprintf(path + off, sizeof(path) - (size_t)off, "%02x", md[i]);
    FILE *f = fopen(path, "w");
    fputs(ID "\n", f);
    fclose(f);

    CHECK_EQ_INT(wf_token_verify(v, WF_STR("secret-token"), WF_STR(ID), msg, sizeof(msg)),
                 WF_TOKEN_OK);
    CHECK_EQ_INT(wf_token_verify(v, WF_STR("secret-token"),
                                 WF_STR("x.y.serviceaccount.identity.linkerd.cluster.local"), msg,
                                 sizeof(msg)),
                 WF_TOKEN_DENIED);
    CHECK_EQ_INT(wf_token_verify(v, WF_STR("wrong-token"), WF_STR(ID), msg, sizeof(msg)),
                 WF_TOKEN_UNAUTHENTICATED);
    CHECK_EQ_STR(msg, "unknown token");
    CHECK_EQ_INT(wf_token_verify(v, WF_STR(""), WF_STR(ID), msg, sizeof(msg)),
                 WF_TOKEN_UNAUTHENTICATED);
    unlink(path);
    CHECK_EQ_INT(wf_token_verify(v, WF_STR("secret-token"), WF_STR(ID), msg, sizeof(msg)),
                 WF_TOKEN_UNAUTHENTICATED);
    wf_token_verifier_free(v);
    rmdir(dir);
}

/* The proxy's CSR (wf_cert_csr_build) passes the identity service's checks,
 * for short and for long (> 64 octets: no CN) names, and only for its name. */
static void test_proxy_csr_accepted(void)
{
    static const char *const names[] = {
        ID, "a-very-long-service-account-name.a-long-namespace.serviceaccount.identity.linkerd."
            "cluster.local"};
    for (size_t i = 0; i < 2; i++) {
        EVP_PKEY *key = NULL;
        CHECK_EQ_INT(wf_cert_key_generate(&key), 0);
        uint8_t *der = NULL;
        size_t len = 0;
        char err[256];
        CHECK_EQ_INT(wf_cert_csr_build(key, names[i], &der, &len, err, sizeof(err)), 0);
        X509_REQ *req = NULL;
        CHECK_EQ_INT(wf_csr_check(der, len, wf_str_from(names[i]), &req, err, sizeof(err)), 0);
        if (req != NULL) {
            CHECK(EVP_PKEY_eq(X509_REQ_get0_pubkey(req), key) == 1);
            X509_REQ_free(req);
        }
        req = NULL;
        CHECK(wf_csr_check(der, len, WF_STR("db.emojivoto.serviceaccount.identity.linkerd.cluster.local"),
                           &req, err, sizeof(err)) != 0);
        CHECK(req == NULL);
        free(der);
        EVP_PKEY_free(key);
    }
}

int main(void)
{
    WF_RUN(test_proxy_csr_accepted);
    WF_RUN(test_name_parse);
    WF_RUN(test_csr);
    WF_RUN(test_token_local);
    return wf_test_done();
}
