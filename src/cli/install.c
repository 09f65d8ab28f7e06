/*
 * install.c — `weft install [--crds]`: the Kubernetes manifests of the
 * mesh on stdout, for `| kubectl apply -f -` (the seed's chapter 3).
 *
 * Settings are a values tree with the helm chart's key names where Linkerd
 * has one (identityTrustAnchorsPEM, identity.issuer.tls.crtPEM, proxy.*,
 * proxyInit.*, clusterNetworks, controllerReplicas, ...), filled in order
 * from: defaults, --values FILE (YAML), --set key=value (repeatable; also
 * "a=1,b=2"), then the dedicated flags. An unknown key is an error — a typo
 * must not silently install defaults.
 *
 * Certificates: the trust anchor bundle, the issuer certificate and its
 * key come as three files (or values); each is checked — parse, the
 * issuer is a CA whose key matches, it chains to an anchor, nothing is
 * expired (and a warning when less than 60 days are left) — and every
 * message names the file. Without them a root and an issuer are generated
 * (a stderr note says production should bring its own, as the seed
 * advises). The webhook's serving certificate is always generated, with
 * its CA in the MutatingWebhookConfiguration's caBundle.
 *
 * Output: YAML documents, each starting with "---", built as JSON objects
 * and written through the same emitter as `weft inject`.
 */
#include "install.h"

#include "core/buf.h"
#include "k8s/inject.h"
#include "k8s/yaml.h"
#include "k8s/ydoc.h"
#include "kube.h"
#include "net/ports.h"
#include "tls/cert.h"

#include "k8s/object.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <time.h>

#define ISSUER_DAYS 365
#define EXPIRY_WARN_SECS (60 * 86400)

/* --- values ---------------------------------------------------------------------------- */

typedef enum { V_STR, V_BOOL, V_INT } vtype_t;

static const struct {
    const char *key;
    vtype_t type;
    const char *def; /* NULL: unset */
} keys[] = {
    {"namespace", V_STR, "linkerd"},
    {"clusterDomain", V_STR, "cluster.local"},
    {"identityTrustDomain", V_STR, "cluster.local"},
    {"clusterNetworks", V_STR, WF_INJECT_DEFAULT_CLUSTER_NETWORKS},
    {"imageRegistry", V_STR, WF_INJECT_DEFAULT_REGISTRY},
    {"linkerdVersion", V_STR, WEFT_VERSION},
    {"controllerLogLevel", V_STR, "info"},
    {"controllerReplicas", V_INT, "1"},
    {"enablePodAntiAffinity", V_BOOL, "false"},
    {"enablePodDisruptionBudget", V_BOOL, "false"},
    {"cniEnabled", V_BOOL, "false"},
    {"proxy.nativeSidecar", V_BOOL, "false"},
    {"webhookFailurePolicy", V_STR, "Ignore"},
    {"identityTrustAnchorsPEM", V_STR, NULL},
    {"identity.issuer.tls.crtPEM", V_STR, NULL},
    {"identity.issuer.tls.keyPEM", V_STR, NULL},
    {"identity.issuer.issuanceLifetime", V_STR, "24h"},
    {"identity.issuer.clockSkewAllowance", V_STR, "20s"},
    {"proxy.logLevel", V_STR, WF_INJECT_DEFAULT_LOG},
    {"proxy.opaquePorts", V_STR, WF_INJECT_DEFAULT_OPAQUE_PORTS},
    {"proxyInit.ignoreInboundPorts", V_STR, WF_INJECT_DEFAULT_SKIP_PORTS},
    {"proxyInit.ignoreOutboundPorts", V_STR, WF_INJECT_DEFAULT_SKIP_PORTS},
    {"proxy.resources.cpu.request", V_STR, NULL},
    {"proxy.resources.cpu.limit", V_STR, NULL},
    {"proxy.resources.memory.request", V_STR, NULL},
    {"proxy.resources.memory.limit", V_STR, NULL},
};

typedef struct inst {
    const char *wh_cert, *wh_key, *wh_ca; /* borrowed: --webhook-*-file, or NULL */
    json_t *vals;                         /* owned: flat "a.b.c" -> string */
    json_t *docs;                         /* owned: array of objects to print */
    char err[1024];
} inst_t;

static const char *val(const inst_t *in, const char *key)
{
    return json_string_value(json_object_get(in->vals, key));
}

static bool val_bool(const inst_t *in, const char *key)
{
    const char *v = val(in, key);
    return v != NULL && strcmp(v, "true") == 0;
}

/* Sets one flat key, checking it exists and its type. */
static int set_val(inst_t *in, const char *key, const char *v, const char *from)
{
    for (size_t i = 0; i < WF_ARRAY_LEN(keys); i++) {
        if (strcmp(keys[i].key, key) != 0)
            continue;
        if (keys[i].type == V_BOOL && strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
            snprintf(in->err, sizeof(in->err), "%s: %s must be true or false, not \"%.60s\"", from,
                     key, v);
            return WF_EINVAL;
        }
        if (keys[i].type == V_INT) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*v == '\0' || *end != '\0' || n < 1 || n > 100) {
                snprintf(in->err, sizeof(in->err), "%s: %s must be a number 1-100, not \"%.60s\"",
                         from, key, v);
                return WF_EINVAL;
            }
        }
        json_object_set_new(in->vals, key, json_string(v));
        return 0;
    }
    snprintf(in->err, sizeof(in->err), "%s: unknown setting \"%.100s\"", from, key);
    return WF_EINVAL;
}

/* Flattens a YAML values tree into dotted keys. */
static int load_tree(inst_t *in, const json_t *j, const char *prefix, const char *from)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v)
    {
        char key[256];
        snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] ? "." : "", k);
        int rc;
        if (json_is_object(v))
            rc = load_tree(in, v, key, from);
        else if (json_is_string(v))
            rc = set_val(in, key, json_string_value(v), from);
        else if (json_is_null(v))
            rc = 0;
        else {
            snprintf(in->err, sizeof(in->err), "%s: %s: lists are not settings", from, key);
            rc = WF_EINVAL;
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* --- certificates ------------------------------------------------------------------------ */

static char *pem_certs(STACK_OF(X509) * certs)
{
    BIO *b = BIO_new(BIO_s_mem());
    for (int i = 0; b != NULL && i < sk_X509_num(certs); i++)
        PEM_write_bio_X509(b, sk_X509_value(certs, i));
    char *p = NULL;
    long n = b != NULL ? BIO_get_mem_data(b, &p) : 0;
    char *out = n > 0 ? strndup(p, (size_t)n) : NULL;
    BIO_free(b);
    return out;
}

static char *pem_key(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || !PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)) {
        BIO_free(b);
        return NULL;
    }
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *out = strndup(p, (size_t)n);
    BIO_free(b);
    return out;
}

int wf_cli_certs_from_pem(const char *pem, const char *name, STACK_OF(X509) * *out, char *err,
                          size_t errlen)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    STACK_OF(X509) *st = sk_X509_new_null();
    X509 *x;
    while (b != NULL && st != NULL && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        sk_X509_push(st, x);
    ERR_clear_error();
    BIO_free(b);
    if (st == NULL || sk_X509_num(st) == 0) {
        snprintf(err, errlen, "%s: no PEM certificate in it", name);
        sk_X509_pop_free(st, X509_free);
        return WF_EINVAL;
    }
    *out = st;
    return 0;
}

typedef struct certs {
    char *anchors_pem, *issuer_pem, *issuer_key_pem; /* owned */
    char *webhook_ca_pem, *webhook_pem, *webhook_key_pem;
    bool generated;
} certs_t;

static void certs_free(certs_t *c)
{
    free(c->anchors_pem);
    free(c->issuer_pem);
    free(c->issuer_key_pem);
    free(c->webhook_ca_pem);
    free(c->webhook_pem);
    free(c->webhook_key_pem);
}

/* Checks the given anchors / issuer / key (files or values). */
static int check_given(inst_t *in, certs_t *c, const char *an, const char *in_name,
                       const char *key_name)
{
    STACK_OF(X509) *anchors = NULL, *issuer = NULL;
    EVP_PKEY *key = NULL;
    time_t now = time(NULL);
    int rc = wf_cli_certs_from_pem(c->anchors_pem, an, &anchors, in->err, sizeof(in->err));
    if (rc == 0)
        rc = wf_cli_certs_from_pem(c->issuer_pem, in_name, &issuer, in->err, sizeof(in->err));
    if (rc == 0) {
        BIO *b = BIO_new_mem_buf(c->issuer_key_pem, -1);
        key = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"") : NULL;
        ERR_clear_error();
        BIO_free(b);
        if (key == NULL) {
            snprintf(in->err, sizeof(in->err), "%s: no readable (unencrypted) PEM private key",
                     key_name);
            rc = WF_EINVAL;
        }
    }
    for (int i = 0; rc == 0 && i < sk_X509_num(anchors); i++) {
        time_t nb, na;
        if (wf_cert_validity(sk_X509_value(anchors, i), &nb, &na) == 0 && na < now) {
            snprintf(in->err, sizeof(in->err), "%s: trust anchor %d has expired", an, i + 1);
            rc = WF_EINVAL;
        } else if (na - now < EXPIRY_WARN_SECS) {
            fprintf(stderr, "warning: %s: trust anchor %d expires in %lld days\n", an, i + 1,
                    (long long)((na - now) / 86400));
        }
    }
    X509 *leaf = rc == 0 ? sk_X509_value(issuer, 0) : NULL;
    if (rc == 0)
        rc = wf_cert_check_signer(leaf, key, WF_CERT_LEAF, now, in_name, key_name, in->err,
                                  sizeof(in->err));
    if (rc == 0) {
        STACK_OF(X509) *rest = sk_X509_dup(issuer);
        (void)sk_X509_shift(rest);
        char e[600];
        rc = wf_cert_verify(leaf, rest, anchors, now, e, sizeof(e));
        if (rc != 0)
            snprintf(in->err, sizeof(in->err), "%s does not chain to a trust anchor in %s: %s",
                     in_name, an, e);
        sk_X509_free(rest);
    }
    if (rc == 0) {
        time_t nb, na;
        if (wf_cert_validity(leaf, &nb, &na) == 0 && na - now < EXPIRY_WARN_SECS)
            fprintf(stderr, "warning: %s: the issuer certificate expires in %lld days\n", in_name,
                    (long long)((na - now) / 86400));
    }
    EVP_PKEY_free(key);
    sk_X509_pop_free(anchors, X509_free);
    sk_X509_pop_free(issuer, X509_free);
    return rc;
}

static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    wf_sbuf_t b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len <= (1u << 20))
        wf_sbuf_append(&b, chunk, n);
    fclose(f);
    if (b.len == 0 || b.len > (1u << 20)) {
        snprintf(err, errlen, "%s: %s", path, b.len ? "larger than 1 MiB" : "empty");
        wf_sbuf_free(&b);
        return NULL;
    }
    return b.ptr;
}

/* A CA pair (root when ca == NULL) or a leaf, PEM out. */
static int make_cert(wf_cert_kind_t kind, const char *name, int days, X509 *ca, EVP_PKEY *ca_key,
                     X509 **cert_out, EVP_PKEY **key_out, char *err, size_t errlen)
{
    EVP_PKEY *key = NULL;
    int rc = wf_cert_key_generate(&key);
    if (rc != 0) {
        snprintf(err, errlen, "cannot generate a key");
        return rc;
    }
    time_t now = time(NULL);
    wf_cert_spec_t spec = {.kind = kind,
                           .name = name,
                           .not_before = now - WF_CERT_SKEW_SECS,
                           .not_after = now + (time_t)days * 86400};
    rc = wf_cert_build(&spec, key, ca, ca_key, cert_out, err, errlen);
    if (rc != 0) {
        EVP_PKEY_free(key);
        return rc;
    }
    *key_out = key;
    return 0;
}

static char *pem_one(X509 *x)
{
    STACK_OF(X509) *st = sk_X509_new_null();
    sk_X509_push(st, x);
    char *p = pem_certs(st);
    sk_X509_free(st);
    return p;
}

/* The webhook's serving certificate for the injector Service's name `svc`:
 * given (three files, checked: the key matches, the certificate chains to
 * the CA given for the caBundle, names svc, is valid now; a warning under
 * 60 days) or generated. */
static int webhook_certs(inst_t *in, certs_t *c, const char *svc)
{
    int given = (in->wh_cert != NULL) + (in->wh_key != NULL) + (in->wh_ca != NULL);
    if (given != 0 && given != 3) {
        snprintf(in->err, sizeof(in->err),
                 "--webhook-cert-file, --webhook-key-file and --webhook-ca-file go together");
        return WF_EINVAL;
    }
    if (given == 3) {
        if ((c->webhook_pem = read_file(in->wh_cert, in->err, sizeof(in->err))) == NULL ||
            (c->webhook_key_pem = read_file(in->wh_key, in->err, sizeof(in->err))) == NULL ||
            (c->webhook_ca_pem = read_file(in->wh_ca, in->err, sizeof(in->err))) == NULL)
            return WF_EINVAL;
        STACK_OF(X509) *leaf = NULL, *ca = NULL;
        EVP_PKEY *key = NULL;
        int rc =
            wf_cli_certs_from_pem(c->webhook_pem, in->wh_cert, &leaf, in->err, sizeof(in->err));
        if (rc == 0)
            rc = wf_cli_certs_from_pem(c->webhook_ca_pem, in->wh_ca, &ca, in->err, sizeof(in->err));
        if (rc == 0) {
            BIO *b = BIO_new_mem_buf(c->webhook_key_pem, -1);
            key = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"") : NULL;
            ERR_clear_error();
            BIO_free(b);
            if (key == NULL) {
                snprintf(in->err, sizeof(in->err), "%s: no readable (unencrypted) PEM private key",
                         in->wh_key);
                rc = WF_EINVAL;
            }
        }
        X509 *x = rc == 0 ? sk_X509_value(leaf, 0) : NULL;
        if (rc == 0 && X509_check_private_key(x, key) != 1) {
            ERR_clear_error();
            snprintf(in->err, sizeof(in->err), "%s is not the key of the certificate in %s",
                     in->wh_key, in->wh_cert);
            rc = WF_EINVAL;
        }
        if (rc == 0 && X509_check_host(x, svc, 0, 0, NULL) != 1) {
            snprintf(in->err, sizeof(in->err),
                     "%s does not name %s (the API server checks that DNS name)", in->wh_cert, svc);
            rc = WF_EINVAL;
        }
        if (rc == 0) {
            STACK_OF(X509) *rest = sk_X509_dup(leaf);
            (void)sk_X509_shift(rest);
            char e[600];
            if (wf_cert_verify(x, rest, ca, 0, e, sizeof(e)) != 0) {
                snprintf(in->err, sizeof(in->err), "%s does not chain to %s: %s", in->wh_cert,
                         in->wh_ca, e);
                rc = WF_EINVAL;
            }
            sk_X509_free(rest);
        }
        time_t nb, na, now = time(NULL);
        if (rc == 0 && wf_cert_validity(x, &nb, &na) == 0 && na - now < EXPIRY_WARN_SECS)
            fprintf(stderr, "warning: %s expires in %lld days\n", in->wh_cert,
                    (long long)((na - now) / 86400));
        EVP_PKEY_free(key);
        sk_X509_pop_free(leaf, X509_free);
        sk_X509_pop_free(ca, X509_free);
        return rc;
    }
    X509 *ca = NULL, *leaf = NULL;
    EVP_PKEY *cak = NULL, *lk = NULL;
    int rc = make_cert(WF_CERT_ROOT_CA, "weft-proxy-injector-ca", ISSUER_DAYS, NULL, NULL, &ca,
                       &cak, in->err, sizeof(in->err));
    if (rc == 0)
        rc = make_cert(WF_CERT_LEAF, svc, ISSUER_DAYS, ca, cak, &leaf, &lk, in->err,
                       sizeof(in->err));
    if (rc == 0) {
        c->webhook_ca_pem = pem_one(ca);
        c->webhook_pem = pem_one(leaf);
        c->webhook_key_pem = pem_key(lk);
    }
    X509_free(ca);
    X509_free(leaf);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(lk);
    return rc;
}

static int prepare_certs(inst_t *in, certs_t *c, const char *anchors_file, const char *issuer_file,
                         const char *key_file)
{
    memset(c, 0, sizeof(*c));
    const char *an = "identityTrustAnchorsPEM", *inm = "identity.issuer.tls.crtPEM",
               *kn = "identity.issuer.tls.keyPEM";
    if (anchors_file != NULL) {
        an = anchors_file;
        if ((c->anchors_pem = read_file(anchors_file, in->err, sizeof(in->err))) == NULL)
            return WF_EINVAL;
    } else if (val(in, an) != NULL) {
        c->anchors_pem = strdup(val(in, an));
    }
    if (issuer_file != NULL) {
        inm = issuer_file;
        if ((c->issuer_pem = read_file(issuer_file, in->err, sizeof(in->err))) == NULL)
            return WF_EINVAL;
    } else if (val(in, inm) != NULL) {
        c->issuer_pem = strdup(val(in, inm));
    }
    if (key_file != NULL) {
        kn = key_file;
        if ((c->issuer_key_pem = read_file(key_file, in->err, sizeof(in->err))) == NULL)
            return WF_EINVAL;
    } else if (val(in, kn) != NULL) {
        c->issuer_key_pem = strdup(val(in, kn));
    }
    int given = (c->anchors_pem != NULL) + (c->issuer_pem != NULL) + (c->issuer_key_pem != NULL);
    if (given != 0 && given != 3) {
        snprintf(in->err, sizeof(in->err),
                 "the trust anchors, the issuer certificate and the issuer key go together: give "
                 "all three (--identity-trust-anchors-file, --identity-issuer-certificate-file, "
                 "--identity-issuer-key-file) or none (weft then generates them)");
        return WF_EINVAL;
    }
    if (given == 3) {
        int rc = check_given(in, c, an, inm, kn);
        if (rc != 0)
            return rc;
    } else {
        char root_name[300], issuer_name[300];
        snprintf(root_name, sizeof(root_name), "root.%s.%s", val(in, "namespace"),
                 val(in, "identityTrustDomain"));
        snprintf(issuer_name, sizeof(issuer_name), "identity.%s.%s", val(in, "namespace"),
                 val(in, "identityTrustDomain"));
        X509 *root = NULL, *iss = NULL;
        EVP_PKEY *rk = NULL, *ik = NULL;
        int rc = make_cert(WF_CERT_ROOT_CA, root_name, ISSUER_DAYS, NULL, NULL, &root, &rk, in->err,
                           sizeof(in->err));
        if (rc == 0)
            rc = make_cert(WF_CERT_INTERMEDIATE_CA, issuer_name, ISSUER_DAYS, root, rk, &iss, &ik,
                           in->err, sizeof(in->err));
        if (rc == 0) {
            c->anchors_pem = pem_one(root);
            c->issuer_pem = pem_one(iss);
            c->issuer_key_pem = pem_key(ik);
            c->generated = true;
        }
        X509_free(root);
        X509_free(iss);
        EVP_PKEY_free(rk);
        EVP_PKEY_free(ik);
        if (rc != 0)
            return rc;
        fprintf(stderr,
                "note: generated a trust anchor and an identity issuer (valid %d days); "
                "production installs should bring their own CA "
                "(--identity-trust-anchors-file, --identity-issuer-certificate-file, "
                "--identity-issuer-key-file)\n",
                ISSUER_DAYS);
    }
    char svc[300];
    snprintf(svc, sizeof(svc), "weft-proxy-injector.%s.svc", val(in, "namespace"));
    return webhook_certs(in, c, svc);
}

/* --- rendering ----------------------------------------------------------------------------- */

static char *b64(const char *s)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s);
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; out != NULL && i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)s[i + 2];
        *o++ = tab[(v >> 18) & 63];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    if (out != NULL)
        *o = '\0';
    return out;
}

static json_t *labels(const inst_t *in, const char *component)
{
    json_t *l = json_pack("{s:s, s:s}", "linkerd.io/control-plane-ns", val(in, "namespace"),
                          "app.kubernetes.io/part-of", "weft");
    if (component != NULL)
        json_object_set_new(l, "linkerd.io/control-plane-component", json_string(component));
    return l;
}

static json_t *meta(const inst_t *in, const char *name, bool namespaced, const char *component)
{
    json_t *m = json_pack("{s:s}", "name", name);
    if (namespaced)
        json_object_set_new(m, "namespace", json_string(val(in, "namespace")));
    json_object_set_new(m, "labels", labels(in, component));
    return m;
}

static void add(inst_t *in, json_t *doc)
{
    json_array_append_new(in->docs, doc);
}

static void render_crds(inst_t *in)
{
    for (size_t i = 0; i < wf_install_ncrds; i++) {
        const wf_install_crd_t *c = &wf_install_crds[i];
        json_error_t e;
        json_t *schema = json_loads(c->schema, 0, &e);
        if (schema == NULL) { /* a bug in install_crds.c; the unit test catches it */
            fprintf(stderr, "weft: internal error: CRD %s schema: %s\n", c->kind, e.text);
            abort();
        }
        char name[200];
        snprintf(name, sizeof(name), "%s.%s", c->plural, c->group);
        json_t *names =
            json_pack("{s:s, s:s, s:s, s:s, s:[s,s]}", "kind", c->kind, "listKind", "", "plural",
                      c->plural, "singular", c->singular, "categories", "policy", "linkerd");
        char lk[100];
        snprintf(lk, sizeof(lk), "%sList", c->kind);
        json_object_set_new(names, "listKind", json_string(lk));
        if (c->short_name != NULL)
            json_object_set_new(names, "shortNames", json_pack("[s]", c->short_name));
        json_t *m = json_pack("{s:s, s:o}", "name", name, "labels", labels(in, NULL));
        add(in, json_pack("{s:s, s:s, s:o, s:{s:s, s:o, s:s, s:[{s:s, s:b, s:b, s:{s:o}}]}}",
                          "apiVersion", "apiextensions.k8s.io/v1", "kind",
                          "CustomResourceDefinition", "metadata", m, "spec", "group", c->group,
                          "names", names, "scope", "Namespaced", "versions", "name", c->version,
                          "served", 1, "storage", 1, "schema", "openAPIV3Schema", schema));
    }
}

static json_t *rule(const char *group, json_t *resources, json_t *verbs)
{
    return json_pack("{s:[s], s:o, s:o}", "apiGroups", group, "resources", resources, "verbs",
                     verbs);
}

static void render_rbac(inst_t *in, const char *sa, json_t *rules)
{
    char role[300];
    snprintf(role, sizeof(role), "weft-%s-%s", val(in, "namespace"), sa + strlen("weft-"));
    add(in, json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "rbac.authorization.k8s.io/v1", "kind",
                      "ClusterRole", "metadata", meta(in, role, false, NULL), "rules", rules));
    add(in, json_pack("{s:s, s:s, s:o, s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:s}]}", "apiVersion",
                      "rbac.authorization.k8s.io/v1", "kind", "ClusterRoleBinding", "metadata",
                      meta(in, role, false, NULL), "roleRef", "apiGroup",
                      "rbac.authorization.k8s.io", "kind", "ClusterRole", "name", role, "subjects",
                      "kind", "ServiceAccount", "name", sa, "namespace", val(in, "namespace")));
}

static json_t *probe(const char *path, int port, int delay)
{
    return json_pack("{s:{s:s, s:i}, s:i, s:i}", "httpGet", "path", path, "port", port,
                     "initialDelaySeconds", delay, "periodSeconds", 10);
}

static void render_deployment(inst_t *in, const char *name, const char *component, const char *sa,
                              json_t *args, json_t *ports, int admin, json_t *volumes,
                              json_t *mounts)
{
    int replicas = atoi(val(in, "controllerReplicas"));
    bool ha = replicas > 1;
    char image[400];
    snprintf(image, sizeof(image), "%s/controller:%s", val(in, "imageRegistry"),
             val(in, "linkerdVersion"));
    json_t *res = json_pack("{s:{s:s, s:s}}", "requests", "cpu", "100m", "memory", "50Mi");
    if (ha)
        json_object_set_new(res, "limits", json_pack("{s:s}", "memory", "250Mi"));
    json_t *ctr = json_pack(
        "{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:{s:b, s:b, s:b, s:i, s:{s:[s]}, s:{s:s}},"
        " s:o}",
        "name", component, "image", image, "imagePullPolicy", "IfNotPresent", "args", args, "ports",
        ports, "readinessProbe", probe("/ready", admin, 2), "livenessProbe",
        probe("/live", admin, 10), "resources", res, "securityContext", "allowPrivilegeEscalation",
        0, "readOnlyRootFilesystem", 1, "runAsNonRoot", 1, "runAsUser", 2103, "capabilities",
        "drop", "ALL", "seccompProfile", "type", "RuntimeDefault", "volumeMounts", mounts);
    json_t *sel = json_pack("{s:s, s:s}", "linkerd.io/control-plane-component", component,
                            "linkerd.io/control-plane-ns", val(in, "namespace"));
    json_t *podspec = json_pack("{s:s, s:b, s:[o], s:o, s:{s:s}}", "serviceAccountName", sa,
                                "automountServiceAccountToken", 1, "containers", ctr, "volumes",
                                volumes, "nodeSelector", "kubernetes.io/os", "linux");
    if (val_bool(in, "enablePodAntiAffinity"))
        json_object_set_new(podspec, "affinity",
                            json_pack("{s:{s:[{s:{s:o}, s:s}]}}", "podAntiAffinity",
                                      "requiredDuringSchedulingIgnoredDuringExecution",
                                      "labelSelector", "matchLabels", json_deep_copy(sel),
                                      "topologyKey", "kubernetes.io/hostname"));
    json_t *tmeta = json_pack("{s:o, s:{s:s}}", "labels", labels(in, component), "annotations",
                              "linkerd.io/inject", "disabled");
    json_t *spec =
        json_pack("{s:i, s:{s:o}, s:o, s:{s:o, s:o}}", "replicas", replicas, "selector",
                  "matchLabels", json_deep_copy(sel), "strategy",
                  json_pack("{s:s, s:{s:i, s:s}}", "type", "RollingUpdate", "rollingUpdate",
                            "maxUnavailable", ha ? 1 : 0, "maxSurge", "25%"),
                  "template", "metadata", tmeta, "spec", podspec);
    add(in, json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "apps/v1", "kind", "Deployment",
                      "metadata", meta(in, name, true, component), "spec", spec));
    if (val_bool(in, "enablePodDisruptionBudget"))
        add(in, json_pack("{s:s, s:s, s:o, s:{s:i, s:{s:o}}}", "apiVersion", "policy/v1", "kind",
                          "PodDisruptionBudget", "metadata", meta(in, name, true, component),
                          "spec", "maxUnavailable", 1, "selector", "matchLabels", sel));
    else
        json_decref(sel);
}

static void render_service(inst_t *in, const char *name, const char *component, bool headless,
                           const char *port_name, int port, int target)
{
    json_t *spec = json_pack("{s:s, s:{s:s, s:s}, s:[{s:s, s:i, s:i, s:s}]}", "type", "ClusterIP",
                             "selector", "linkerd.io/control-plane-component", component,
                             "linkerd.io/control-plane-ns", val(in, "namespace"), "ports", "name",
                             port_name, "port", port, "targetPort", target, "protocol", "TCP");
    if (headless)
        json_object_set_new(spec, "clusterIP", json_string("None"));
    add(in, json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "v1", "kind", "Service", "metadata",
                      meta(in, name, true, component), "spec", spec));
}

static json_t *cfgmap_volume(const char *name, const char *cm)
{
    return json_pack("{s:s, s:{s:s}}", "name", name, "configMap", "name", cm);
}

static json_t *secret_volume(const char *name, const char *secret)
{
    return json_pack("{s:s, s:{s:s}}", "name", name, "secret", "secretName", secret);
}

static json_t *mount(const char *name, const char *path)
{
    return json_pack("{s:s, s:s, s:b}", "name", name, "mountPath", path, "readOnly", 1);
}

static void push_flag(json_t *args, const char *flag, const char *v)
{
    if (v == NULL)
        return;
    json_array_append_new(args, json_string(flag));
    json_array_append_new(args, json_string(v));
}

static void render_control_plane(inst_t *in, const certs_t *c)
{
    const char *ns = val(in, "namespace");
    /* Namespace: never injected, never sent to the webhook. */
    json_t *nsmeta = meta(in, ns, false, NULL);
    json_object_set_new(json_object_get(nsmeta, "labels"), "linkerd.io/is-control-plane",
                        json_string("true"));
    json_object_set_new(json_object_get(nsmeta, "labels"), "config.linkerd.io/admission-webhooks",
                        json_string("disabled"));
    json_object_set_new(nsmeta, "annotations", json_pack("{s:s}", "linkerd.io/inject", "disabled"));
    add(in,
        json_pack("{s:s, s:s, s:o}", "apiVersion", "v1", "kind", "Namespace", "metadata", nsmeta));
    static const char *const sas[] = {"weft-identity", "weft-destination", "weft-proxy-injector"};
    for (size_t i = 0; i < WF_ARRAY_LEN(sas); i++)
        add(in, json_pack("{s:s, s:s, s:o}", "apiVersion", "v1", "kind", "ServiceAccount",
                          "metadata", meta(in, sas[i], true, NULL)));

    /* RBAC, least privilege: read what each controller watches. */
    render_rbac(
        in, "weft-identity",
        json_pack("[o, o]",
                  rule("authentication.k8s.io", json_pack("[s]", "tokenreviews"),
                       json_pack("[s]", "create")),
                  rule("", json_pack("[s]", "events"), json_pack("[s, s]", "create", "patch"))));
    json_t *watch = json_pack("[s, s, s]", "get", "list", "watch");
    render_rbac(
        in, "weft-destination",
        json_pack(
            "[o, o, o, o]",
            rule("", json_pack("[s, s, s, s]", "namespaces", "pods", "services", "serviceaccounts"),
                 json_deep_copy(watch)),
            rule("discovery.k8s.io", json_pack("[s]", "endpointslices"), json_deep_copy(watch)),
            rule("policy.linkerd.io",
                 json_pack("[s, s, s, s, s, s]", "servers", "serverauthorizations",
                           "authorizationpolicies", "meshtlsauthentications",
                           "networkauthentications", "httproutes"),
                 json_deep_copy(watch)),
            rule("linkerd.io", json_pack("[s]", "serviceprofiles"), json_deep_copy(watch))));
    render_rbac(
        in, "weft-proxy-injector",
        json_pack("[o, o]", rule("", json_pack("[s]", "namespaces"), json_deep_copy(watch)),
                  rule("", json_pack("[s]", "events"), json_pack("[s, s]", "create", "patch"))));
    json_decref(watch);

    /* Trust roots and the issuer. */
    add(in, json_pack("{s:s, s:s, s:o, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
                      "metadata", meta(in, WF_INJECT_TRUST_ROOTS_CM, true, "identity"), "data",
                      "ca-bundle.crt", c->anchors_pem));
    char *crt = b64(c->issuer_pem), *key = b64(c->issuer_key_pem), *ca = b64(c->anchors_pem);
    add(in,
        json_pack("{s:s, s:s, s:o, s:s, s:{s:s, s:s, s:s}}", "apiVersion", "v1", "kind", "Secret",
                  "metadata", meta(in, "linkerd-identity-issuer", true, "identity"), "type",
                  "kubernetes.io/tls", "data", "tls.crt", crt, "tls.key", key, "ca.crt", ca));
    free(crt);
    free(key);
    free(ca);
    crt = b64(c->webhook_pem);
    key = b64(c->webhook_key_pem);
    add(in, json_pack("{s:s, s:s, s:o, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "Secret",
                      "metadata", meta(in, "weft-proxy-injector-tls", true, "proxy-injector"),
                      "type", "kubernetes.io/tls", "data", "tls.crt", crt, "tls.key", key));
    free(crt);
    free(key);

    /* identity */
    json_t *args = json_pack("[s]", "identity");
    push_flag(args, "--issuer-cert", "/var/run/weft/issuer/tls.crt");
    push_flag(args, "--issuer-key", "/var/run/weft/issuer/tls.key");
    push_flag(args, "--trust-anchors", "/var/run/weft/trust-roots/ca-bundle.crt");
    push_flag(args, "--addr", "0.0.0.0:8080");
    push_flag(args, "--admin-addr", "0.0.0.0:9990");
    push_flag(args, "--trust-domain", val(in, "identityTrustDomain"));
    push_flag(args, "--control-plane-ns", ns);
    push_flag(args, "--issuance-lifetime", val(in, "identity.issuer.issuanceLifetime"));
    push_flag(args, "--clock-skew-allowance", val(in, "identity.issuer.clockSkewAllowance"));
    push_flag(args, "--token-verifier", "kubernetes");
    push_flag(args, "--log-level", val(in, "controllerLogLevel"));
    render_deployment(in, "weft-identity", "identity", "weft-identity", args,
                      json_pack("[{s:s, s:i}, {s:s, s:i}]", "name", "grpc", "containerPort", 8080,
                                "name", "admin", "containerPort", 9990),
                      9990,
                      json_pack("[o, o]", secret_volume("issuer", "linkerd-identity-issuer"),
                                cfgmap_volume("trust-roots", WF_INJECT_TRUST_ROOTS_CM)),
                      json_pack("[o, o]", mount("issuer", "/var/run/weft/issuer"),
                                mount("trust-roots", "/var/run/weft/trust-roots")));
    render_service(in, "weft-identity", "identity", false, "grpc", 8080, 8080);
    render_service(in, "weft-identity-headless", "identity", true, "grpc", 8080, 8080);

    /* destination */
    args = json_pack("[s, s]", "destination", "--kubernetes");
    push_flag(args, "--addr", "0.0.0.0:8086");
    push_flag(args, "--admin-addr", "0.0.0.0:9996");
    push_flag(args, "--cluster-domain", val(in, "clusterDomain"));
    push_flag(args, "--trust-domain", val(in, "identityTrustDomain"));
    push_flag(args, "--control-plane-ns", ns);
    push_flag(args, "--log-level", val(in, "controllerLogLevel"));
    /* Served over mTLS as a workload of the mesh: certified by the identity
     * service with a projected token, as injected proxies are; they check
     * WEFT_PROXY_DESTINATION_SVC_NAME against it. */
    char idbuf[512];
    push_flag(args, "--identity-trust-anchors", "/var/run/weft/trust-roots/ca-bundle.crt");
    push_flag(args, "--identity-token-file", "/var/run/secrets/tokens/linkerd-identity-token");
    snprintf(idbuf, sizeof(idbuf), "weft-identity-headless.%s.svc.%s.:8080", ns,
             val(in, "clusterDomain"));
    push_flag(args, "--identity-addr", idbuf);
    snprintf(idbuf, sizeof(idbuf), "weft-identity.%s.serviceaccount.identity.%s.%s", ns, ns,
             val(in, "identityTrustDomain"));
    push_flag(args, "--identity-svc-name", idbuf);
    snprintf(idbuf, sizeof(idbuf), "weft-destination.%s.serviceaccount.identity.%s.%s", ns, ns,
             val(in, "identityTrustDomain"));
    push_flag(args, "--identity-name", idbuf);
    json_t *token_vol = json_pack(
        "{s:s, s:{s:[{s:{s:s, s:i, s:s}}]}}", "name", "identity-token", "projected", "sources",
        "serviceAccountToken", "audience", "identity.l5d.io", "expirationSeconds", 86400, "path",
        "linkerd-identity-token");
    render_deployment(in, "weft-destination", "destination", "weft-destination", args,
                      json_pack("[{s:s, s:i}, {s:s, s:i}]", "name", "grpc", "containerPort", 8086,
                                "name", "admin", "containerPort", 9996),
                      9996,
                      json_pack("[o, o]", token_vol,
                                cfgmap_volume("trust-roots", WF_INJECT_TRUST_ROOTS_CM)),
                      json_pack("[o, o]", mount("identity-token", "/var/run/secrets/tokens"),
                                mount("trust-roots", "/var/run/weft/trust-roots")));
    render_service(in, "weft-dst", "destination", false, "grpc", 8086, 8086);
    render_service(in, "weft-dst-headless", "destination", true, "grpc", 8086, 8086);

    /* proxy injector */
    args = json_pack("[s, s]", "injector", "--kubernetes");
    push_flag(args, "--tls-cert", "/var/run/weft/tls/tls.crt");
    push_flag(args, "--tls-key", "/var/run/weft/tls/tls.key");
    push_flag(args, "--addr", "0.0.0.0:8443");
    push_flag(args, "--admin-addr", "0.0.0.0:9995");
    push_flag(args, "--control-plane-ns", ns);
    push_flag(args, "--trust-domain", val(in, "identityTrustDomain"));
    push_flag(args, "--identity-trust-anchors-file", "/var/run/weft/trust-roots/ca-bundle.crt");
    push_flag(args, "--registry", val(in, "imageRegistry"));
    push_flag(args, "--proxy-version", val(in, "linkerdVersion"));
    push_flag(args, "--proxy-log-level", val(in, "proxy.logLevel"));
    push_flag(args, "--default-opaque-ports", val(in, "proxy.opaquePorts"));
    push_flag(args, "--default-skip-inbound-ports", val(in, "proxyInit.ignoreInboundPorts"));
    push_flag(args, "--default-skip-outbound-ports", val(in, "proxyInit.ignoreOutboundPorts"));
    push_flag(args, "--proxy-cpu-request", val(in, "proxy.resources.cpu.request"));
    push_flag(args, "--proxy-cpu-limit", val(in, "proxy.resources.cpu.limit"));
    push_flag(args, "--proxy-memory-request", val(in, "proxy.resources.memory.request"));
    push_flag(args, "--proxy-memory-limit", val(in, "proxy.resources.memory.limit"));
    if (val_bool(in, "cniEnabled"))
        json_array_append_new(args, json_string("--cni"));
    if (val_bool(in, "proxy.nativeSidecar"))
        json_array_append_new(args, json_string("--native-sidecar"));
    push_flag(args, "--cluster-networks", val(in, "clusterNetworks"));
    push_flag(args, "--log-level", val(in, "controllerLogLevel"));
    render_deployment(in, "weft-proxy-injector", "proxy-injector", "weft-proxy-injector", args,
                      json_pack("[{s:s, s:i}, {s:s, s:i}]", "name", "https", "containerPort", 8443,
                                "name", "admin", "containerPort", 9995),
                      9995,
                      json_pack("[o, o]", secret_volume("tls", "weft-proxy-injector-tls"),
                                cfgmap_volume("trust-roots", WF_INJECT_TRUST_ROOTS_CM)),
                      json_pack("[o, o]", mount("tls", "/var/run/weft/tls"),
                                mount("trust-roots", "/var/run/weft/trust-roots")));
    render_service(in, "weft-proxy-injector", "proxy-injector", false, "https", 443, 8443);

    /* The webhook: pods only, CREATE only, never kube-system or the control
     * plane, and a webhook failure never blocks a pod (Ignore, 10 s). */
    char *cab = b64(c->webhook_ca_pem);
    json_t *wh = json_pack(
        "{s:s, s:[s], s:s, s:{s:{s:s, s:s, s:s, s:i}, s:s}, s:s, s:i, s:s, s:s,"
        " s:[{s:[s], s:[s], s:[s], s:[s], s:s}],"
        " s:{s:[{s:s, s:s, s:[s]}, {s:s, s:s, s:[s, s]}]},"
        " s:{s:[{s:s, s:s, s:[s]}, {s:s, s:s, s:[s]}]}}",
        "name", "proxy-injector.weft.linkerd.io", "admissionReviewVersions", "v1", "sideEffects",
        "None", "clientConfig", "service", "name", "weft-proxy-injector", "namespace", ns, "path",
        "/inject", "port", 443, "caBundle", cab, "failurePolicy", val(in, "webhookFailurePolicy"),
        "timeoutSeconds", 10, "reinvocationPolicy", "IfNeeded", "matchPolicy", "Equivalent",
        "rules", "operations", "CREATE", "apiGroups", "", "apiVersions", "v1", "resources", "pods",
        "scope", "Namespaced", "namespaceSelector", "matchExpressions", "key",
        "config.linkerd.io/admission-webhooks", "operator", "NotIn", "values", "disabled", "key",
        "kubernetes.io/metadata.name", "operator", "NotIn", "values", "kube-system", ns,
        "objectSelector", "matchExpressions", "key", "config.linkerd.io/admission-webhooks",
        "operator", "NotIn", "values", "disabled", "key", "linkerd.io/inject", "operator", "NotIn",
        "values", "disabled");
    free(cab);
    add(in, json_pack("{s:s, s:s, s:o, s:[o]}", "apiVersion", "admissionregistration.k8s.io/v1",
                      "kind", "MutatingWebhookConfiguration", "metadata",
                      meta(in, "weft-proxy-injector-webhook-config", false, "proxy-injector"),
                      "webhooks", wh));
}

/* --- the command ------------------------------------------------------------------------- */

static const char usage[] =
    "usage: weft install [--crds] [flags]\n"
    "\n"
    "Prints the manifests of the mesh for `| kubectl apply -f -`: with --crds the\n"
    "CustomResourceDefinitions (apply them first), else the control plane.\n"
    "\n"
    "  --crds                                 the CRDs only\n"
    "  --ha                                   3 replicas, PodDisruptionBudgets, anti-affinity\n"
    "  --identity-trust-anchors-file FILE     trust anchor bundle (PEM)\n"
    "  --identity-issuer-certificate-file FILE  issuer certificate (PEM, chains to an anchor)\n"
    "  --identity-issuer-key-file FILE        issuer private key (PEM)\n"
    "                                         (all three or none: none generates a CA)\n"
    "  --webhook-cert-file FILE, --webhook-key-file FILE, --webhook-ca-file FILE\n"
    "                                         the injector's serving certificate (for\n"
    "                                         weft-proxy-injector.<ns>.svc), its key and the\n"
    "                                         CA for the caBundle (default: generated)\n"
    "  --linkerd-namespace NS                 control plane namespace (default linkerd)\n"
    "  --identity-trust-domain D              trust domain (default cluster.local)\n"
    "  --cluster-networks CIDRS               cluster networks "
    "(default " WF_INJECT_DEFAULT_CLUSTER_NETWORKS ")\n"
    "  --registry R                           image registry (default " WF_INJECT_DEFAULT_REGISTRY
    ")\n"
    "  --proxy-log-level L                    proxies' default log level\n"
    "  --default-opaque-ports LIST            proxies' default opaque ports\n"
    "  --skip-inbound-ports LIST, --skip-outbound-ports LIST  default skipped ports\n"
    "  --proxy-cpu-request Q, --proxy-cpu-limit Q, --proxy-memory-request Q,\n"
    "  --proxy-memory-limit Q                 proxies' default resources\n"
    "  --cni                                  a CNI plugin redirects traffic: no weft-init\n"
    "  --native-sidecar                       proxies as restartable init containers (1.29+)\n"
    "  --values FILE                          settings from a YAML file (helm value names)\n"
    "  --set KEY=VALUE[,KEY=VALUE]            one setting (repeatable)\n"
    "\n"
    "Settings (--set / --values): namespace, clusterDomain, identityTrustDomain,\n"
    "clusterNetworks, imageRegistry, linkerdVersion, controllerLogLevel,\n"
    "controllerReplicas, enablePodAntiAffinity, enablePodDisruptionBudget, cniEnabled,\n"
    "proxy.nativeSidecar,\n"
    "webhookFailurePolicy, identityTrustAnchorsPEM, identity.issuer.tls.crtPEM,\n"
    "identity.issuer.tls.keyPEM, identity.issuer.issuanceLifetime,\n"
    "identity.issuer.clockSkewAllowance, proxy.logLevel, proxy.opaquePorts,\n"
    "proxyInit.ignoreInboundPorts, proxyInit.ignoreOutboundPorts,\n"
    "proxy.resources.{cpu,memory}.{request,limit}.\n";

static int check_values(inst_t *in)
{
    wf_portset_t *ps = malloc(sizeof(*ps));
    const char *ports[] = {"proxy.opaquePorts", "proxyInit.ignoreInboundPorts",
                           "proxyInit.ignoreOutboundPorts"};
    char e[400];
    for (size_t i = 0; i < WF_ARRAY_LEN(ports); i++) {
        const char *v = val(in, ports[i]);
        if (v[0] != '\0' &&
            (ps == NULL || wf_portset_parse(ps, wf_str_from(v), e, sizeof(e)) != 0)) {
            snprintf(in->err, sizeof(in->err), "%s: %s", ports[i], ps ? e : "out of memory");
            free(ps);
            return WF_EINVAL;
        }
    }
    free(ps);
    wf_cidr_t nets[64];
    if (wf_cidr_list_parse(nets, WF_ARRAY_LEN(nets), wf_str_from(val(in, "clusterNetworks")), e,
                           sizeof(e)) < 0) {
        snprintf(in->err, sizeof(in->err), "clusterNetworks: %s", e);
        return WF_EINVAL;
    }
    const char *q[] = {"proxy.resources.cpu.request", "proxy.resources.cpu.limit",
                       "proxy.resources.memory.request", "proxy.resources.memory.limit"};
    for (size_t i = 0; i < WF_ARRAY_LEN(q); i++) {
        const char *v = val(in, q[i]);
        if (v != NULL && !wf_k8s_quantity_valid(v)) {
            snprintf(in->err, sizeof(in->err), "%s: \"%.60s\" is not a Kubernetes quantity", q[i],
                     v);
            return WF_EINVAL;
        }
    }
    const char *ns = val(in, "namespace");
    if (!wf_k8s_name_valid(ns) || strchr(ns, '.') != NULL) {
        snprintf(in->err, sizeof(in->err), "namespace: \"%.60s\" is not a DNS-1123 label", ns);
        return WF_EINVAL;
    }
    if (!wf_k8s_name_valid(val(in, "identityTrustDomain"))) {
        snprintf(in->err, sizeof(in->err), "identityTrustDomain: not a DNS name");
        return WF_EINVAL;
    }
    const char *fp = val(in, "webhookFailurePolicy");
    if (strcmp(fp, "Ignore") != 0 && strcmp(fp, "Fail") != 0) {
        snprintf(in->err, sizeof(in->err), "webhookFailurePolicy must be Ignore or Fail");
        return WF_EINVAL;
    }
    return 0;
}

static int apply_set(inst_t *in, const char *spec)
{
    char *copy = strdup(spec), *save = NULL;
    int rc = 0;
    for (char *item = strtok_r(copy, ",", &save); item != NULL && rc == 0;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (eq == NULL) {
            snprintf(in->err, sizeof(in->err), "--set %s: expected KEY=VALUE", item);
            rc = WF_EINVAL;
            break;
        }
        *eq = '\0';
        rc = set_val(in, item, eq + 1, "--set");
    }
    free(copy);
    return rc;
}

int wf_cli_install_main(int argc, char **argv)
{
    /* --set may repeat: take those out before the common flag parser. */
    char **rest = calloc((size_t)argc + 1, sizeof(char *));
    const char *sets[64];
    size_t nsets = 0;
    int nrest = 0;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "--set") == 0 || strcmp(argv[i], "--set-string") == 0) &&
            i + 1 < argc && nsets < WF_ARRAY_LEN(sets))
            sets[nsets++] = argv[++i];
        else if (strncmp(argv[i], "--set=", 6) == 0 && nsets < WF_ARRAY_LEN(sets))
            sets[nsets++] = argv[i] + 6;
        else
            rest[nrest++] = argv[i];
    }
    inst_t in = {.vals = json_object(), .docs = json_array()};
    bool help = false, crds = false, ha = false, cni = false, native = false;
    const char *values = NULL, *anchors = NULL, *issuer = NULL, *issuer_key = NULL;
    const char *f_ns = NULL, *f_td = NULL, *f_nets = NULL, *f_reg = NULL, *f_log = NULL,
               *f_opaque = NULL, *f_skin = NULL, *f_skout = NULL, *f_cpureq = NULL,
               *f_cpulim = NULL, *f_memreq = NULL, *f_memlim = NULL;
    const wf_cli_flag_t flags[] = {
        {"help", NULL, &help},
        {"crds", NULL, &crds},
        {"ha", NULL, &ha},
        {"cni", NULL, &cni},
        {"native-sidecar", NULL, &native},
        {"values", &values, NULL},
        {"identity-trust-anchors-file", &anchors, NULL},
        {"identity-issuer-certificate-file", &issuer, NULL},
        {"identity-issuer-key-file", &issuer_key, NULL},
        {"webhook-cert-file", &in.wh_cert, NULL},
        {"webhook-key-file", &in.wh_key, NULL},
        {"webhook-ca-file", &in.wh_ca, NULL},
        {"linkerd-namespace", &f_ns, NULL},
        {"identity-trust-domain", &f_td, NULL},
        {"cluster-networks", &f_nets, NULL},
        {"registry", &f_reg, NULL},
        {"proxy-log-level", &f_log, NULL},
        {"default-opaque-ports", &f_opaque, NULL},
        {"skip-inbound-ports", &f_skin, NULL},
        {"skip-outbound-ports", &f_skout, NULL},
        {"proxy-cpu-request", &f_cpureq, NULL},
        {"proxy-cpu-limit", &f_cpulim, NULL},
        {"proxy-memory-request", &f_memreq, NULL},
        {"proxy-memory-limit", &f_memlim, NULL},
    };
    const char *pos[1];
    size_t npos;
    int code = WF_CLI_EXIT_USAGE;
    certs_t certs = {0};
    if (wf_cli_parse_flags(nrest, rest, flags, WF_ARRAY_LEN(flags), pos, 0, &npos, in.err,
                           sizeof(in.err)) != 0) {
        wf_cli_errorf("install: %s", in.err);
        fputs(usage, stderr);
        goto out;
    }
    if (help) {
        fputs(usage, stdout);
        code = WF_CLI_EXIT_OK;
        goto out;
    }
    for (size_t i = 0; i < WF_ARRAY_LEN(keys); i++)
        if (keys[i].def != NULL)
            json_object_set_new(in.vals, keys[i].key, json_string(keys[i].def));
    if (values != NULL) {
        char e[400];
        json_t *tree = wf_yaml_load_file(values, e, sizeof(e));
        if (tree == NULL || !json_is_object(tree)) {
            wf_cli_errorf("install: --values %s", tree ? "is not a YAML mapping" : e);
            json_decref(tree);
            code = WF_CLI_EXIT_FAILURE;
            goto out;
        }
        int rc = load_tree(&in, tree, "", values);
        json_decref(tree);
        if (rc != 0) {
            wf_cli_errorf("install: %s", in.err);
            code = WF_CLI_EXIT_FAILURE;
            goto out;
        }
    }
    for (size_t i = 0; i < nsets; i++) {
        if (apply_set(&in, sets[i]) != 0) {
            wf_cli_errorf("install: %s", in.err);
            goto out;
        }
    }
    const struct {
        const char *flag_value, *key;
    } fl[] = {
        {f_ns, "namespace"},
        {f_td, "identityTrustDomain"},
        {f_nets, "clusterNetworks"},
        {f_reg, "imageRegistry"},
        {f_log, "proxy.logLevel"},
        {f_opaque, "proxy.opaquePorts"},
        {f_skin, "proxyInit.ignoreInboundPorts"},
        {f_skout, "proxyInit.ignoreOutboundPorts"},
        {f_cpureq, "proxy.resources.cpu.request"},
        {f_cpulim, "proxy.resources.cpu.limit"},
        {f_memreq, "proxy.resources.memory.request"},
        {f_memlim, "proxy.resources.memory.limit"},
        {ha ? "3" : NULL, "controllerReplicas"},
        {ha ? "true" : NULL, "enablePodAntiAffinity"},
        {ha ? "true" : NULL, "enablePodDisruptionBudget"},
        {cni ? "true" : NULL, "cniEnabled"},
        {native ? "true" : NULL, "proxy.nativeSidecar"},
    };
    for (size_t i = 0; i < WF_ARRAY_LEN(fl); i++) {
        if (fl[i].flag_value != NULL && set_val(&in, fl[i].key, fl[i].flag_value, "flag") != 0) {
            wf_cli_errorf("install: %s", in.err);
            goto out;
        }
    }
    if (check_values(&in) != 0) {
        wf_cli_errorf("install: %s", in.err);
        goto out;
    }
    if (crds) {
        render_crds(&in);
    } else {
        if (prepare_certs(&in, &certs, anchors, issuer, issuer_key) != 0) {
            wf_cli_errorf("install: %s", in.err);
            code = WF_CLI_EXIT_FAILURE;
            goto out;
        }
        render_control_plane(&in, &certs);
    }
    wf_ydocs_t docs = {.explicit_start = true};
    docs.n = docs.cap = json_array_size(in.docs);
    docs.docs = calloc(docs.n ? docs.n : 1, sizeof(*docs.docs));
    for (size_t i = 0; i < docs.n; i++)
        docs.docs[i] = wf_ynode_from_json(json_array_get(in.docs, i));
    wf_sbuf_t outb = {0};
    code = WF_CLI_EXIT_OK;
    if (wf_ydoc_emit(&docs, &outb, in.err, sizeof(in.err)) != 0 || outb.oom) {
        wf_cli_errorf("install: %s", in.err);
        code = WF_CLI_EXIT_FAILURE;
    } else if (fwrite(outb.ptr, 1, outb.len, stdout) != outb.len) {
        wf_cli_errorf("install: writing stdout: %s", strerror(errno));
        code = WF_CLI_EXIT_FAILURE;
    }
    wf_sbuf_free(&outb);
    wf_ydocs_free(&docs);
out:
    certs_free(&certs);
    json_decref(in.vals);
    json_decref(in.docs);
    free(rest);
    return code;
}
