/*
 * test_cert.c — src/lib/tls/cert.c: duration parsing; root, intermediate and
 * leaf certificates built in memory with the extensions each must carry;
 * the signer checks (wrong key, not a CA, pathlen 0, expired, not yet
 * valid, wrong key type); chain verification; PEM write/read round trips
 * with modes, refusal to overwrite, and every kind of bad input file.
 */
#include "tls/cert.h"

#include "wf_test.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char err[512];
static char dir[] = "/tmp/wf-test-cert.XXXXXX";

static int64_t dur(const char *s)
{
    int64_t v = -1;
    int rc = wf_cert_parse_duration(s, &v);
    return rc == 0 ? v : rc;
}

static void test_duration(void)
{
    CHECK_EQ_INT(dur("8760h"), 8760LL * 3600);
    CHECK_EQ_INT(dur("87600h"), 87600LL * 3600);
    CHECK_EQ_INT(dur("24h"), 86400);
    CHECK_EQ_INT(dur("30m"), 1800);
    CHECK_EQ_INT(dur("1s"), 1);
    CHECK_EQ_INT(dur("90d"), 90LL * 86400);
    CHECK_EQ_INT(dur("1h30m"), 5400);
    CHECK_EQ_INT(dur("1d2h3m4s"), 86400 + 7200 + 180 + 4);
    CHECK_EQ_INT(dur("+24h"), 86400);
    CHECK_EQ_INT(dur(""), WF_EINVAL);
    CHECK_EQ_INT(dur("24"), WF_EINVAL);
    CHECK_EQ_INT(dur("h"), WF_EINVAL);
    CHECK_EQ_INT(dur("-1h"), WF_EINVAL);
    CHECK_EQ_INT(dur("1.5h"), WF_EINVAL);
    CHECK_EQ_INT(dur("10y"), WF_EINVAL);
    CHECK_EQ_INT(dur("30ms"), WF_EINVAL);
    CHECK_EQ_INT(dur("1h "), WF_EINVAL);
    CHECK_EQ_INT(dur(" 1h"), WF_EINVAL);
    CHECK_EQ_INT(dur("0h"), WF_ERANGE);
    CHECK_EQ_INT(dur("99999999999999999999h"), WF_ERANGE);
    CHECK_EQ_INT(dur("9223372036854775807d"), WF_ERANGE);
}

/* A built certificate with its key. */
typedef struct {
    X509 *cert;
    EVP_PKEY *key;
} pair_t;

static pair_t make(wf_cert_kind_t kind, const char *name, time_t nb, time_t na, pair_t *ca)
{
    pair_t p = {NULL, NULL};
    CHECK_EQ_INT(wf_cert_key_generate(&p.key), 0);
    wf_cert_spec_t spec = {.kind = kind, .name = name, .not_before = nb, .not_after = na};
    int rc = wf_cert_build(&spec, p.key, ca ? ca->cert : NULL, ca ? ca->key : NULL, &p.cert, err,
                           sizeof(err));
    CHECK_EQ_INT(rc, 0);
    if (rc != 0)
        fprintf(stderr, "build: %s\n", err);
    return p;
}

static void drop(pair_t *p)
{
    X509_free(p->cert);
    EVP_PKEY_free(p->key);
    p->cert = NULL;
    p->key = NULL;
}

static bool has_ext_critical(X509 *x, int nid)
{
    int i = X509_get_ext_by_NID(x, nid, -1);
    return i >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static void test_build_root_issuer_leaf(void)
{
    time_t now = time(NULL);
    pair_t root =
        make(WF_CERT_ROOT_CA, "root.linkerd.cluster.local", now - 20, now + 87600 * 3600L, NULL);
    pair_t iss = make(WF_CERT_INTERMEDIATE_CA, "identity.linkerd.cluster.local", now - 20,
                      now + 8760 * 3600L, &root);
    const char *leaf_name = "default.emojivoto.serviceaccount.identity.linkerd.cluster.local.x";
    pair_t leaf = make(WF_CERT_LEAF, leaf_name, now - 20, now + 86400, &iss);
    if (!root.cert || !iss.cert || !leaf.cert)
        goto out;

    /* Root: v3, self-signed, CA:TRUE pathlen 1, keyCertSign+cRLSign, both critical, SKI. */
    CHECK_EQ_INT(X509_get_version(root.cert), X509_VERSION_3);
    CHECK(X509_check_issued(root.cert, root.cert) == X509_V_OK);
    uint32_t fl = X509_get_extension_flags(root.cert);
    CHECK(fl & EXFLAG_CA);
    CHECK(fl & EXFLAG_SS);
    CHECK_EQ_INT(X509_get_pathlen(root.cert), 1);
    CHECK_EQ_INT(X509_get_key_usage(root.cert), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    CHECK(has_ext_critical(root.cert, NID_basic_constraints));
    CHECK(has_ext_critical(root.cert, NID_key_usage));
    CHECK(X509_get0_subject_key_id(root.cert) != NULL);
    char desc[64];
    wf_cert_key_describe(X509_get0_pubkey(root.cert), desc, sizeof(desc));
    CHECK_EQ_STR(desc, "ECDSA P-256");
    char cn[128] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(root.cert), NID_commonName, cn, sizeof(cn));
    CHECK_EQ_STR(cn, "root.linkerd.cluster.local");
    time_t nb, na;
    CHECK_EQ_INT(wf_cert_validity(root.cert, &nb, &na), 0);
    CHECK_EQ_INT(nb, now - 20);
    CHECK_EQ_INT(na, now + 87600 * 3600L);
    /* Serial: positive, 128 bits of randomness (<= 17 DER octets), differs per cert. */
    const ASN1_INTEGER *s1 = X509_get0_serialNumber(root.cert);
    CHECK(ASN1_INTEGER_cmp(s1, X509_get0_serialNumber(iss.cert)) != 0);
    BIGNUM *bn = ASN1_INTEGER_to_BN(s1, NULL);
    CHECK(bn != NULL && !BN_is_negative(bn) && BN_num_bits(bn) <= 128 && BN_num_bits(bn) > 64);
    BN_free(bn);

    /* Issuer: signed by root (AKI = root's SKI), CA:TRUE pathlen 0. */
    CHECK(X509_check_issued(root.cert, iss.cert) == X509_V_OK);
    fl = X509_get_extension_flags(iss.cert);
    CHECK(fl & EXFLAG_CA);
    CHECK(!(fl & EXFLAG_SS));
    CHECK_EQ_INT(X509_get_pathlen(iss.cert), 0);
    CHECK_EQ_INT(X509_get_key_usage(iss.cert), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(iss.cert);
    CHECK(aki != NULL && ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(root.cert)) == 0);
    CHECK(X509_verify(iss.cert, root.key) == 1);

    /* Leaf: not a CA, one DNS SAN = name, no CN when the name is over 64 characters. */
    fl = X509_get_extension_flags(leaf.cert);
    CHECK(!(fl & EXFLAG_CA));
    CHECK(X509_get_extended_key_usage(leaf.cert) == (XKU_SSL_SERVER | XKU_SSL_CLIENT));
    GENERAL_NAMES *gens = X509_get_ext_d2i(leaf.cert, NID_subject_alt_name, NULL, NULL);
    CHECK(gens != NULL && sk_GENERAL_NAME_num(gens) == 1);
    if (gens != NULL && sk_GENERAL_NAME_num(gens) == 1) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, 0);
        CHECK_EQ_INT(g->type, GEN_DNS);
        CHECK(ASN1_STRING_length(g->d.dNSName) == (int)strlen(leaf_name) &&
              memcmp(ASN1_STRING_get0_data(g->d.dNSName), leaf_name, strlen(leaf_name)) == 0);
    }
    GENERAL_NAMES_free(gens);
    CHECK_EQ_INT(X509_NAME_entry_count(X509_get_subject_name(leaf.cert)), 0);
    CHECK(has_ext_critical(leaf.cert, NID_subject_alt_name)); /* RFC 5280 4.2.1.6: empty subject */

    /* The whole chain verifies; against another root it does not. */
    STACK_OF(X509) *anchors = sk_X509_new_null(), *inter = sk_X509_new_null();
    sk_X509_push(anchors, root.cert);
    sk_X509_push(inter, iss.cert);
    CHECK_EQ_INT(wf_cert_verify(leaf.cert, inter, anchors, 0, err, sizeof(err)), 0);
    CHECK_EQ_INT(wf_cert_verify(iss.cert, NULL, anchors, 0, err, sizeof(err)), 0);
    CHECK_EQ_INT(wf_cert_verify(leaf.cert, NULL, anchors, 0, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "unable to get local issuer certificate") != NULL);
    /* Two days later the leaf has expired. */
    CHECK_EQ_INT(wf_cert_verify(leaf.cert, inter, anchors, now + 2 * 86400, err, sizeof(err)),
                 WF_EINVAL);
    CHECK(strstr(err, "expired") != NULL);
    pair_t other = make(WF_CERT_ROOT_CA, "other-root", now - 20, now + 3600, NULL);
    STACK_OF(X509) *wrong = sk_X509_new_null();
    sk_X509_push(wrong, other.cert);
    CHECK_EQ_INT(wf_cert_verify(iss.cert, NULL, wrong, 0, err, sizeof(err)), WF_EINVAL);
    sk_X509_free(wrong);
    drop(&other);
    sk_X509_free(anchors);
    sk_X509_free(inter);

    /* Fingerprint: 32 bytes as colon hex. */
    char fp[WF_CERT_FINGERPRINT_LEN];
    CHECK_EQ_INT(wf_cert_fingerprint(root.cert, fp), 0);
    CHECK_EQ_INT(strlen(fp), 95);
out:
    drop(&leaf);
    drop(&iss);
    drop(&root);
}

static void test_build_refuses(void)
{
    time_t now = time(NULL);
    EVP_PKEY *k = NULL;
    X509 *x = NULL;
    CHECK_EQ_INT(wf_cert_key_generate(&k), 0);
    wf_cert_spec_t spec = {WF_CERT_INTERMEDIATE_CA, "x", now, now + 60};
    CHECK_EQ_INT(wf_cert_build(&spec, k, NULL, NULL, &x, err, sizeof(err)), WF_EINVAL);
    CHECK(x == NULL);
    spec = (wf_cert_spec_t){WF_CERT_ROOT_CA, "", now, now + 60};
    CHECK_EQ_INT(wf_cert_build(&spec, k, NULL, NULL, &x, err, sizeof(err)), WF_EINVAL);
    spec = (wf_cert_spec_t){WF_CERT_ROOT_CA, "x", now, now};
    CHECK_EQ_INT(wf_cert_build(&spec, k, NULL, NULL, &x, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "validity") != NULL);
    char longname[80];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    spec = (wf_cert_spec_t){WF_CERT_ROOT_CA, longname, now, now + 60};
    CHECK_EQ_INT(wf_cert_build(&spec, k, NULL, NULL, &x, err, sizeof(err)), WF_EINVAL);
    CHECK(x == NULL);
    EVP_PKEY_free(k);
}

static void test_check_signer(void)
{
    time_t now = time(NULL);
    pair_t root = make(WF_CERT_ROOT_CA, "root", now - 20, now + 3600, NULL);
    pair_t root2 = make(WF_CERT_ROOT_CA, "root2", now - 20, now + 3600, NULL);
    pair_t iss = make(WF_CERT_INTERMEDIATE_CA, "issuer", now - 20, now + 600, &root);
    pair_t leaf = make(WF_CERT_LEAF, "leaf.example", now - 20, now + 60, &iss);
    if (!root.cert || !root2.cert || !iss.cert || !leaf.cert)
        goto out;
    const wf_cert_kind_t I = WF_CERT_INTERMEDIATE_CA;
    CHECK_EQ_INT(
        wf_cert_check_signer(root.cert, root.key, I, now, "ca.crt", "ca.key", err, sizeof(err)), 0);
    /* Mismatched key. */
    CHECK_EQ_INT(
        wf_cert_check_signer(root.cert, root2.key, I, now, "ca.crt", "ca.key", err, sizeof(err)),
        WF_EINVAL);
    CHECK_EQ_STR(err, "ca.key: the key does not match the certificate in ca.crt");
    /* Expired, and not yet valid. */
    CHECK_EQ_INT(wf_cert_check_signer(root.cert, root.key, I, now + 7200, "ca.crt", "ca.key", err,
                                      sizeof(err)),
                 WF_EINVAL);
    CHECK(strstr(err, "ca.crt: the CA certificate expired at ") == err);
    CHECK_EQ_INT(wf_cert_check_signer(root.cert, root.key, I, now - 3600, "ca.crt", "ca.key", err,
                                      sizeof(err)),
                 WF_EINVAL);
    CHECK(strstr(err, "not valid until") != NULL);
    /* Not a CA. */
    CHECK_EQ_INT(wf_cert_check_signer(leaf.cert, leaf.key, WF_CERT_LEAF, now, "leaf.crt",
                                      "leaf.key", err, sizeof(err)),
                 WF_EINVAL);
    CHECK(strstr(err, "not a CA certificate") != NULL);
    /* pathlen 0: may sign leaves, not intermediates. */
    CHECK_EQ_INT(wf_cert_check_signer(iss.cert, iss.key, WF_CERT_LEAF, now, "i.crt", "i.key", err,
                                      sizeof(err)),
                 0);
    CHECK_EQ_INT(
        wf_cert_check_signer(iss.cert, iss.key, I, now, "i.crt", "i.key", err, sizeof(err)),
        WF_EINVAL);
    CHECK(strstr(err, "pathlen is 0") != NULL);
    /* Wrong key type: an RSA key (its mismatch is reported after the type). */
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    CHECK(rsa != NULL);
    if (rsa != NULL) {
        CHECK_EQ_INT(
            wf_cert_check_signer(root.cert, rsa, I, now, "ca.crt", "ca.key", err, sizeof(err)),
            WF_EINVAL);
        CHECK_EQ_STR(err, "ca.key: wrong key type: RSA 2048; a weft CA key must be ECDSA P-256 "
                          "(or P-384)");
    }
    EVP_PKEY_free(rsa);
out:
    drop(&leaf);
    drop(&iss);
    drop(&root2);
    drop(&root);
}

static char *path(const char *name)
{
    static char buf[4][256];
    static int n;
    char *p = buf[n++ % 4];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static void put(const char *name, const char *data)
{
    FILE *f = fopen(path(name), "w");
    CHECK(f != NULL);
    if (f) {
        fputs(data, f);
        fclose(f);
    }
}

static void test_write_load(void)
{
    time_t now = time(NULL);
    pair_t root = make(WF_CERT_ROOT_CA, "root", now - 20, now + 3600, NULL);
    pair_t iss = make(WF_CERT_INTERMEDIATE_CA, "issuer", now - 20, now + 600, &root);
    if (!root.cert || !iss.cert)
        goto out;
    umask(0); /* the modes must not depend on the umask */
    CHECK_EQ_INT(wf_cert_write_key(path("ca.key"), root.key, false, err, sizeof(err)), 0);
    CHECK_EQ_INT(wf_cert_write_cert(path("ca.crt"), root.cert, false, err, sizeof(err)), 0);
    struct stat st;
    CHECK(stat(path("ca.key"), &st) == 0 && (st.st_mode & 07777) == 0600);
    CHECK(stat(path("ca.crt"), &st) == 0 && (st.st_mode & 07777) == 0644);
    umask(022);

    /* No overwrite without force; the file is unchanged. With force, replaced (still 0600). */
    CHECK_EQ_INT(wf_cert_write_key(path("ca.key"), iss.key, false, err, sizeof(err)), -EEXIST);
    CHECK(strstr(err, "already exists; refusing to overwrite") != NULL);
    EVP_PKEY *k = NULL;
    CHECK_EQ_INT(wf_cert_load_key(path("ca.key"), &k, err, sizeof(err)), 0);
    CHECK(k != NULL && EVP_PKEY_eq(k, root.key) == 1);
    EVP_PKEY_free(k);
    CHECK_EQ_INT(wf_cert_write_key(path("ca.key"), iss.key, true, err, sizeof(err)), 0);
    CHECK(stat(path("ca.key"), &st) == 0 && (st.st_mode & 07777) == 0600);
    CHECK_EQ_INT(wf_cert_load_key(path("ca.key"), &k, err, sizeof(err)), 0);
    CHECK(k != NULL && EVP_PKEY_eq(k, iss.key) == 1);
    EVP_PKEY_free(k);
    CHECK_EQ_INT(wf_cert_write_key(path("ca.key"), root.key, true, err, sizeof(err)), 0);

    /* Round trip of a chain file: leaf first, in order. */
    FILE *f = fopen(path("chain.pem"), "w");
    PEM_write_X509(f, iss.cert);
    PEM_write_X509(f, root.cert);
    fclose(f);
    STACK_OF(X509) *sk = NULL;
    CHECK_EQ_INT(wf_cert_load_certs(path("chain.pem"), &sk, err, sizeof(err)), 0);
    CHECK_EQ_INT(sk ? sk_X509_num(sk) : -1, 2);
    if (sk && sk_X509_num(sk) == 2) {
        CHECK(X509_cmp(sk_X509_value(sk, 0), iss.cert) == 0);
        CHECK(X509_cmp(sk_X509_value(sk, 1), root.cert) == 0);
    }
    sk_X509_pop_free(sk, X509_free);

    /* Bad inputs, each with a message naming the file and the problem. */
    sk = NULL;
    CHECK_EQ_INT(wf_cert_load_certs(path("missing.crt"), &sk, err, sizeof(err)), -ENOENT);
    CHECK(strstr(err, "missing.crt: no such file") != NULL);
    CHECK_EQ_INT(wf_cert_load_certs(path("ca.key"), &sk, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "holds a private key, not a certificate") != NULL);
    put("garbage", "hello\n");
    CHECK_EQ_INT(wf_cert_load_certs(path("garbage"), &sk, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "not a PEM certificate") != NULL);
    put("empty", "");
    CHECK_EQ_INT(wf_cert_load_certs(path("empty"), &sk, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "empty") != NULL);
    put("corrupt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    CHECK_EQ_INT(wf_cert_load_certs(path("corrupt"), &sk, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "certificate #1 is corrupt") != NULL);
    CHECK(sk == NULL);
    CHECK_EQ_INT(wf_cert_load_certs(dir, &sk, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "not a regular file") != NULL);

    k = NULL;
    CHECK_EQ_INT(wf_cert_load_key(path("ca.crt"), &k, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "holds a certificate, not a private key") != NULL);
    CHECK_EQ_INT(wf_cert_load_key(path("garbage"), &k, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "not a PEM private key") != NULL);
    f = fopen(path("enc.key"), "w");
    PEM_write_PKCS8PrivateKey(f, root.key, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)"secret");
    fclose(f);
    CHECK_EQ_INT(wf_cert_load_key(path("enc.key"), &k, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "the key is encrypted") != NULL);
    put("corrupt.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    CHECK_EQ_INT(wf_cert_load_key(path("corrupt.key"), &k, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "corrupt") != NULL);
    CHECK(k == NULL);

    /* Writing where no directory exists fails, naming the path. */
    CHECK(wf_cert_write_cert(path("nodir/x.crt"), root.cert, false, err, sizeof(err)) == -ENOENT);
    CHECK(strstr(err, "nodir/x.crt") != NULL);
out:
    drop(&iss);
    drop(&root);
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    WF_RUN(test_duration);
    WF_RUN(test_build_root_issuer_leaf);
    WF_RUN(test_build_refuses);
    WF_RUN(test_check_signer);
    WF_RUN(test_write_load);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return wf_test_done();
}
