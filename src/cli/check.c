/*
 * check.c — `weft check [--pre | --proxy] [-o json]`: checks a cluster
 * through its API server, grouped as `linkerd check` groups them, each
 * line ✔ (passed), ‼ (warning) or × (failed, with a hint).
 *
 *   kubernetes-api       the client settings load; GET /version answers
 *   kubernetes-version   the API server is 1.22 or newer
 *   --pre:
 *   pre-kubernetes-setup the control plane namespace is free; this user
 *                        may create what `weft install` makes
 *                        (SelfSubjectAccessReview per resource)
 *   default:
 *   weft-existence       the namespace, the CRDs, ready control-plane pods
 *   weft-identity        trust anchors and issuer: parse, valid now and for
 *                        60 more days (warning), issuer key matches, the
 *                        issuer chains to an anchor
 *   weft-webhooks        the MutatingWebhookConfiguration exists and its
 *                        caBundle verifies the injector's serving cert
 *   weft-version         the control plane runs this CLI's version (warning)
 *   --proxy (also):
 *   weft-data-plane      meshed pods' proxies are ready, hold an unexpired
 *                        identity certificate (their metrics, read through
 *                        the API server's pod proxy), and run the control
 *                        plane's version (warning)
 *
 * A check whose prerequisite failed is not run. Exit status: 0 when no
 * check failed (warnings allowed), 1 otherwise, 2 for usage errors.
 * Connection settings: --kubeconfig, else $KUBECONFIG, else
 * ~/.kube/config, else in-cluster credentials.
 */
#include "install.h"
#include "kube.h"

#include "k8s/inject.h"
#include "k8s/kube_client.h"
#include "tls/cert.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define CHECK_TIMEOUT_MS 10000
#define WARN_SECS (60 * 86400)

typedef enum { CK_OK, CK_WARN, CK_ERR } res_t;

typedef struct chk {
    wf_k8s_cfg_t cfg;
    const char *ns;    /* control plane namespace */
    const char *dp_ns; /* --proxy: data plane namespace (NULL: all) */
    json_t *cats;      /* owned: [{categoryName, checks: [...]}] */
    json_t *cur;       /* borrowed: the current category's checks */
    int errors;
} chk_t;

static void category(chk_t *c, const char *name)
{
    c->cur = json_array();
    json_array_append_new(c->cats, json_pack("{s:s, s:o}", "categoryName", name, "checks", c->cur));
}

static res_t result(chk_t *c, const char *desc, res_t r, const char *error, const char *hint)
{
    static const char *const names[] = {"success", "warning", "error"};
    json_t *o = json_pack("{s:s, s:s}", "description", desc, "result", names[r]);
    if (r != CK_OK && error != NULL)
        json_object_set_new(o, "error", json_string(error));
    if (r != CK_OK && hint != NULL)
        json_object_set_new(o, "hint", json_string(hint));
    json_array_append_new(c->cur, o);
    if (r == CK_ERR)
        c->errors++;
    return r;
}

/* GET path as JSON; NULL with *status 0 on a transport error (err set). */
static json_t *get(chk_t *c, const char *path, long *status, char *err, size_t errlen)
{
    wf_sbuf_t body = {0};
    *status = 0;
    int rc =
        wf_k8s_request(&c->cfg, "GET", path, NULL, CHECK_TIMEOUT_MS, status, &body, err, errlen);
    json_t *j = NULL;
    if (rc == 0) {
        j = json_loadb(body.ptr ? body.ptr : "", body.len, 0, NULL);
        if (*status != 200) {
            const char *msg = json_string_value(json_object_get(j, "message"));
            snprintf(err, errlen, "GET %s: HTTP %ld%s%s", path, *status, msg ? ": " : "",
                     msg ? msg : "");
            json_decref(j);
            j = NULL;
        } else if (j == NULL) {
            snprintf(err, errlen, "GET %s: the answer is not JSON", path);
        }
    }
    wf_sbuf_free(&body);
    return j;
}

/* The expiry a proxy reports for its identity certificate (its metric
 * identity_cert_expiration_timestamp_seconds, read through the API
 * server's pod proxy). 1: found (*exp set); 0: the proxy has no
 * certificate yet; negative: not reachable (err set, *status the HTTP
 * status or 0). */
static int proxy_cert_expiry(chk_t *c, const char *ns, const char *pod, double *exp, long *status,
                             char *err, size_t errlen)
{
    char path[700];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s:4191/proxy/metrics", ns, pod);
    wf_sbuf_t body = {0};
    *status = 0;
    int rc =
        wf_k8s_request(&c->cfg, "GET", path, NULL, CHECK_TIMEOUT_MS, status, &body, err, errlen);
    int found = 0;
    if (rc == 0 && *status != 200) {
        snprintf(err, errlen, "GET %.200s: HTTP %ld", path, *status);
        rc = WF_EPROTO;
    }
    static const char metric[] = "identity_cert_expiration_timestamp_seconds";
    for (const char *l = body.ptr; rc == 0 && l != NULL && *l != '\0';) {
        const char *nl = strchr(l, '\n');
        if (strncmp(l, metric, sizeof(metric) - 1) == 0 &&
            (l[sizeof(metric) - 1] == ' ' || l[sizeof(metric) - 1] == '{')) {
            const char *v = strrchr(l, '}');
            v = v != NULL && (nl == NULL || v < nl) ? v + 1 : l + sizeof(metric) - 1;
            char *end;
            double d = strtod(v, &end);
            if (end != v && d > 0) {
                *exp = d;
                found = 1;
            }
        }
        l = nl != NULL ? nl + 1 : NULL;
    }
    wf_sbuf_free(&body);
    return rc != 0 ? rc : found;
}

/* SelfSubjectAccessReview: may this user `verb` resource? */
static bool can(chk_t *c, const char *verb, const char *group, const char *resource, const char *ns,
                char *err, size_t errlen)
{
    json_t *ra = json_pack("{s:s, s:s, s:s}", "verb", verb, "group", group, "resource", resource);
    if (ns != NULL)
        json_object_set_new(ra, "namespace", json_string(ns));
    json_t *req = json_pack("{s:s, s:s, s:{s:o}}", "apiVersion", "authorization.k8s.io/v1", "kind",
                            "SelfSubjectAccessReview", "spec", "resourceAttributes", ra);
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    wf_sbuf_t body = {0};
    long status = 0;
    int rc =
        wf_k8s_request(&c->cfg, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                       text, CHECK_TIMEOUT_MS, &status, &body, err, errlen);
    free(text);
    bool allowed = false;
    if (rc == 0) {
        json_t *j = json_loadb(body.ptr ? body.ptr : "", body.len, 0, NULL);
        allowed = (status == 200 || status == 201) &&
                  json_is_true(json_object_get(json_object_get(j, "status"), "allowed"));
        if (!allowed)
            snprintf(err, errlen, "not allowed to %s %s%s%s", verb, resource, group[0] ? "." : "",
                     group);
        json_decref(j);
    }
    wf_sbuf_free(&body);
    return allowed;
}

static const char *default_kubeconfig(char *buf, size_t len)
{
    const char *env = getenv("KUBECONFIG");
    if (env != NULL && env[0] != '\0') {
        snprintf(buf, len, "%s", env);
        char *colon = strchr(buf, ':'); /* the first of a list */
        if (colon != NULL)
            *colon = '\0';
        return buf;
    }
    const char *home = getenv("HOME");
    if (home != NULL) {
        snprintf(buf, len, "%s/.kube/config", home);
        if (access(buf, CK_OK) == 0)
            return buf;
    }
    return NULL; /* in-cluster */
}

/* --- certificate checks ------------------------------------------------------------------- */

static char *b64_decode(const char *in)
{
    size_t n = strlen(in);
    unsigned char *out = malloc(n / 4 * 3 + 4);
    if (out == NULL || n % 4 != 0)
        goto bad;
    int m = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    if (m < 0)
        goto bad;
    while (n > 0 && in[n - 1] == '=') { /* EVP_DecodeBlock counts padding as zero bytes */
        n--;
        m--;
    }
    out[m] = '\0';
    return (char *)out;
bad:
    free(out);
    return NULL;
}

/* Validity: error when outside it, warning when it ends within 60 days. */
static void validity(chk_t *c, STACK_OF(X509) * certs, const char *what, const char *hint)
{
    time_t now = time(NULL), soonest = 0;
    char desc[200], err[300] = "";
    bool bad = false;
    for (int i = 0; i < sk_X509_num(certs); i++) {
        time_t nb, na;
        if (wf_cert_validity(sk_X509_value(certs, i), &nb, &na) != 0 || na < now || nb > now) {
            snprintf(err, sizeof(err), "%s certificate %d is %s", what, i + 1,
                     na < now ? "expired" : "not valid yet");
            bad = true;
        }
        if (soonest == 0 || na < soonest)
            soonest = na;
    }
    snprintf(desc, sizeof(desc), "%s are within their validity period", what);
    result(c, desc, bad ? CK_ERR : CK_OK, err, hint);
    snprintf(desc, sizeof(desc), "%s are valid for at least 60 days", what);
    if (!bad && soonest - now < WARN_SECS) {
        snprintf(err, sizeof(err), "%s expire in %lld days", what,
                 (long long)((soonest - now) / 86400));
        result(c, desc, CK_WARN, err, hint);
    } else if (!bad) {
        result(c, desc, CK_OK, NULL, NULL);
    }
}

static void check_identity(chk_t *c)
{
    category(c, "weft-identity");
    char path[512], err[700];
    long st;
    const char *hint_rotate = "rotate them: weft identity create (or your CA), then reinstall";
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps/" WF_INJECT_TRUST_ROOTS_CM,
             c->ns);
    json_t *cm = get(c, path, &st, err, sizeof(err));
    const char *bundle =
        json_string_value(json_object_get(json_object_get(cm, "data"), "ca-bundle.crt"));
    STACK_OF(X509) *anchors = NULL;
    if (bundle == NULL ||
        wf_cli_certs_from_pem(bundle, "ca-bundle.crt", &anchors, err, sizeof(err)) != 0) {
        if (cm != NULL && bundle == NULL)
            snprintf(err, sizeof(err), "ConfigMap %s has no ca-bundle.crt",
                     WF_INJECT_TRUST_ROOTS_CM);
        result(c, "trust anchors are valid", CK_ERR, err,
               "reinstall the control plane with weft install");
        json_decref(cm);
        return;
    }
    json_decref(cm);
    result(c, "trust anchors are valid", CK_OK, NULL, NULL);
    validity(c, anchors, "trust anchors", hint_rotate);

    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets/linkerd-identity-issuer", c->ns);
    json_t *sec = get(c, path, &st, err, sizeof(err));
    json_t *data = json_object_get(sec, "data");
    const char *crt_b = json_string_value(json_object_get(data, "tls.crt"));
    const char *key_b = json_string_value(json_object_get(data, "tls.key"));
    char *crt = crt_b ? b64_decode(crt_b) : NULL, *key = key_b ? b64_decode(key_b) : NULL;
    STACK_OF(X509) *issuer = NULL;
    EVP_PKEY *k = NULL;
    if (crt != NULL && key != NULL &&
        wf_cli_certs_from_pem(crt, "issuer tls.crt", &issuer, err, sizeof(err)) == 0) {
        BIO *b = BIO_new_mem_buf(key, -1);
        k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"") : NULL;
        BIO_free(b);
        if (k == NULL)
            snprintf(err, sizeof(err), "Secret linkerd-identity-issuer: tls.key is not a PEM key");
    } else if (sec != NULL && (crt == NULL || key == NULL)) {
        snprintf(err, sizeof(err),
                 "Secret linkerd-identity-issuer lacks tls.crt / tls.key (base64)");
    }
    if (k != NULL &&
        wf_cert_check_signer(sk_X509_value(issuer, 0), k, WF_CERT_LEAF, time(NULL),
                             "issuer tls.crt", "issuer tls.key", err, sizeof(err)) != 0) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    if (k == NULL) {
        result(c, "issuer cert is valid", CK_ERR, err,
               "the Secret linkerd-identity-issuer must hold a CA certificate and its key");
    } else {
        result(c, "issuer cert is valid", CK_OK, NULL, NULL);
        STACK_OF(X509) *first = sk_X509_new_null();
        sk_X509_push(first, sk_X509_value(issuer, 0));
        validity(c, first, "issuer certificates", hint_rotate);
        sk_X509_free(first);
        STACK_OF(X509) *rest = sk_X509_dup(issuer);
        (void)sk_X509_shift(rest);
        if (wf_cert_verify(sk_X509_value(issuer, 0), rest, anchors, 0, err, sizeof(err)) != 0)
            result(c, "issuer cert is issued by the trust anchor", CK_ERR, err,
                   "the issuer must be signed by a certificate in linkerd-identity-trust-roots");
        else
            result(c, "issuer cert is issued by the trust anchor", CK_OK, NULL, NULL);
        sk_X509_free(rest);
    }
    EVP_PKEY_free(k);
    sk_X509_pop_free(issuer, X509_free);
    sk_X509_pop_free(anchors, X509_free);
    free(crt);
    free(key);
    json_decref(sec);
}

static void check_webhook(chk_t *c)
{
    category(c, "weft-webhooks");
    char path[512], err[700];
    long st;
    json_t *mwc = get(c,
                      "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/"
                      "weft-proxy-injector-webhook-config",
                      &st, err, sizeof(err));
    if (mwc == NULL) {
        result(c, "proxy-injector webhook is registered", CK_ERR, err,
               "weft install | kubectl apply -f - registers it");
        return;
    }
    result(c, "proxy-injector webhook is registered", CK_OK, NULL, NULL);
    json_t *wh = json_array_get(json_object_get(mwc, "webhooks"), 0);
    const char *cab =
        json_string_value(json_object_get(json_object_get(wh, "clientConfig"), "caBundle"));
    char *ca = cab ? b64_decode(cab) : NULL;
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets/weft-proxy-injector-tls", c->ns);
    json_t *sec = get(c, path, &st, err, sizeof(err));
    const char *crt_b = json_string_value(json_object_get(json_object_get(sec, "data"), "tls.crt"));
    char *crt = crt_b ? b64_decode(crt_b) : NULL;
    STACK_OF(X509) *anchors = NULL, *leaf = NULL;
    const char *desc = "proxy-injector caBundle matches the webhook's serving certificate";
    if (ca == NULL || wf_cli_certs_from_pem(ca, "caBundle", &anchors, err, sizeof(err)) != 0) {
        if (ca == NULL)
            snprintf(err, sizeof(err), "the webhook has no caBundle");
        result(c, desc, CK_ERR, err, "reinstall: weft install | kubectl apply -f -");
    } else if (crt == NULL || wf_cli_certs_from_pem(crt, "weft-proxy-injector-tls tls.crt", &leaf,
                                                    err, sizeof(err)) != 0) {
        if (crt == NULL && sec != NULL)
            snprintf(err, sizeof(err), "Secret weft-proxy-injector-tls has no tls.crt");
        result(c, desc, CK_ERR, err, "reinstall: weft install | kubectl apply -f -");
    } else if (wf_cert_verify(sk_X509_value(leaf, 0), NULL, anchors, 0, err, sizeof(err)) != 0) {
        result(c, desc, CK_ERR, err,
               "the caBundle and the Secret weft-proxy-injector-tls come from different installs; "
               "reinstall both together");
    } else {
        result(c, desc, CK_OK, NULL, NULL);
        validity(c, leaf, "proxy-injector serving certificates",
                 "reinstall to renew: weft install | kubectl apply -f -");
    }
    sk_X509_pop_free(anchors, X509_free);
    sk_X509_pop_free(leaf, X509_free);
    free(ca);
    free(crt);
    json_decref(sec);
    json_decref(mwc);
}

/* Is this pod Running with condition Ready=True? */
static bool pod_ready(const json_t *pod)
{
    const json_t *status = json_object_get(pod, "status");
    const char *phase = json_string_value(json_object_get(status, "phase"));
    if (phase == NULL || strcmp(phase, "Running") != 0)
        return false;
    size_t i;
    json_t *cond;
    json_array_foreach(json_object_get(status, "conditions"), i, cond)
    {
        const char *t = json_string_value(json_object_get(cond, "type"));
        const char *s = json_string_value(json_object_get(cond, "status"));
        if (t != NULL && strcmp(t, "Ready") == 0)
            return s != NULL && strcmp(s, "True") == 0;
    }
    return false;
}

static const char *image_tag(const char *image)
{
    const char *slash = strrchr(image, '/');
    const char *colon = strrchr(slash ? slash : image, ':');
    return colon ? colon + 1 : "latest";
}

static bool check_existence(chk_t *c)
{
    category(c, "weft-existence");
    char path[512], err[700], list[600] = "";
    long st;
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s", c->ns);
    json_t *ns = get(c, path, &st, err, sizeof(err));
    if (ns == NULL) {
        result(c, "control plane namespace exists", CK_ERR, err,
               "install it: weft install --crds | kubectl apply -f - && weft install | kubectl "
               "apply -f -");
        return false;
    }
    json_decref(ns);
    result(c, "control plane namespace exists", CK_OK, NULL, NULL);
    for (size_t i = 0; i < wf_install_ncrds; i++) {
        snprintf(path, sizeof(path),
                 "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/%s.%s",
                 wf_install_crds[i].plural, wf_install_crds[i].group);
        json_t *crd = get(c, path, &st, err, sizeof(err));
        if (crd == NULL) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof(list) - l, "%s%s.%s", l ? ", " : "",
                     wf_install_crds[i].plural, wf_install_crds[i].group);
            if (st == 0)
                break; /* transport error: say so instead */
        }
        json_decref(crd);
    }
    if (list[0] != '\0') {
        char msg[800];
        snprintf(msg, sizeof(msg), "missing CRDs: %s", list);
        result(c, "control plane CRDs are installed", CK_ERR, msg,
               "weft install --crds | kubectl apply -f -");
    } else {
        result(c, "control plane CRDs are installed", CK_OK, NULL, NULL);
    }
    snprintf(path, sizeof(path),
             "/api/v1/namespaces/%s/pods?labelSelector=linkerd.io%%2Fcontrol-plane-ns%%3D%s", c->ns,
             c->ns);
    json_t *pods = get(c, path, &st, err, sizeof(err));
    static const char *const comps[] = {"identity", "destination", "proxy-injector"};
    list[0] = '\0';
    for (size_t k = 0; pods != NULL && k < WF_ARRAY_LEN(comps); k++) {
        bool ready = false;
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(pods, "items"), i, p)
        {
            const char *comp = json_string_value(
                json_object_get(json_object_get(json_object_get(p, "metadata"), "labels"),
                                "linkerd.io/control-plane-component"));
            if (comp != NULL && strcmp(comp, comps[k]) == 0 && pod_ready(p))
                ready = true;
        }
        if (!ready) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof(list) - l, "%s%s", l ? ", " : "", comps[k]);
        }
    }
    if (pods == NULL) {
        result(c, "control plane pods are ready", CK_ERR, err, NULL);
    } else if (list[0] != '\0') {
        char msg[800];
        snprintf(msg, sizeof(msg), "no ready pod for: %s", list);
        result(c, "control plane pods are ready", CK_ERR, msg,
               "kubectl -n <namespace> get pods; kubectl logs on the ones not ready");
    } else {
        result(c, "control plane pods are ready", CK_OK, NULL, NULL);
    }
    /* Version (in its own category, printed after the others). */
    list[0] = '\0';
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(pods, "items"), i, p)
    {
        size_t j;
        json_t *ctr;
        json_array_foreach(json_object_get(json_object_get(p, "spec"), "containers"), j, ctr)
        {
            const char *img = json_string_value(json_object_get(ctr, "image"));
            if (img != NULL && strstr(img, "/controller:") != NULL &&
                strcmp(image_tag(img), WEFT_VERSION) != 0 && strlen(list) < 400) {
                size_t l = strlen(list);
                snprintf(list + l, sizeof(list) - l, "%s%s", l ? ", " : "", img);
            }
        }
    }
    json_decref(pods);
    check_identity(c);
    check_webhook(c);
    category(c, "weft-version");
    if (list[0] != '\0') {
        char msg[800];
        snprintf(msg, sizeof(msg), "control plane images not at " WEFT_VERSION ": %s", list);
        result(c, "control plane is running the CLI's version", CK_WARN, msg,
               "upgrade: weft install | kubectl apply -f -");
    } else {
        result(c, "control plane is running the CLI's version", CK_OK, NULL, NULL);
    }
    return true;
}

static void check_data_plane(chk_t *c)
{
    category(c, "weft-data-plane");
    char path[600], err[700], notready[600] = "", old[600] = "";
    long st;
    if (c->dp_ns != NULL)
        snprintf(path, sizeof(path),
                 "/api/v1/namespaces/%s/pods?labelSelector=linkerd.io%%2Fcontrol-plane-ns%%3D%s",
                 c->dp_ns, c->ns);
    else
        snprintf(path, sizeof(path),
                 "/api/v1/pods?labelSelector=linkerd.io%%2Fcontrol-plane-ns%%3D%s", c->ns);
    json_t *pods = get(c, path, &st, err, sizeof(err));
    if (pods == NULL) {
        result(c, "data plane proxies are ready", CK_ERR, err, NULL);
        return;
    }
    size_t i, meshed = 0, probed = 0;
    char badcert[600] = "", unreachable[300] = "";
    json_t *p;
    json_array_foreach(json_object_get(pods, "items"), i, p)
    {
        json_t *md = json_object_get(p, "metadata");
        const char *name = json_string_value(json_object_get(md, "name"));
        const char *pns = json_string_value(json_object_get(md, "namespace"));
        const char *comp = json_string_value(
            json_object_get(json_object_get(md, "labels"), "linkerd.io/control-plane-component"));
        if (comp != NULL)
            continue; /* the control plane itself */
        meshed++;
        bool ready = false;
        size_t j;
        json_t *cs;
        json_array_foreach(json_object_get(json_object_get(p, "status"), "containerStatuses"), j,
                           cs)
        {
            const char *n = json_string_value(json_object_get(cs, "name"));
            if (n != NULL && strcmp(n, WF_INJECT_PROXY_NAME) == 0)
                ready = json_is_true(json_object_get(cs, "ready"));
        }
        /* The proxy's own view of its certificate (bounded: 100 pods). */
        if (ready && name != NULL && pns != NULL && probed < 100 && unreachable[0] == '\0') {
            probed++;
            double exp = 0;
            long hs;
            char e[300];
            int r = proxy_cert_expiry(c, pns, name, &exp, &hs, e, sizeof(e));
            if (r < 0) {
                snprintf(unreachable, sizeof(unreachable), "%s", e);
            } else if (r == 0 || exp < (double)time(NULL)) {
                size_t l = strlen(badcert);
                if (l < 500)
                    snprintf(badcert + l, sizeof(badcert) - l, "%s%s/%s (%s)", l ? ", " : "", pns,
                             name, r == 0 ? "no certificate" : "expired");
            }
        }
        const char *ver = json_string_value(
            json_object_get(json_object_get(md, "annotations"), "linkerd.io/proxy-version"));
        char *lst = !ready                                            ? notready
                    : (ver == NULL || strcmp(ver, WEFT_VERSION) != 0) ? old
                                                                      : NULL;
        if (lst != NULL && strlen(lst) < 500) {
            size_t l = strlen(lst);
            snprintf(lst + l, 600 - l, "%s%s/%s", l ? ", " : "", pns ? pns : "", name ? name : "");
        }
    }
    json_decref(pods);
    char msg[800];
    if (notready[0] != '\0') {
        snprintf(msg, sizeof(msg), "proxies not ready: %s", notready);
        result(c, "data plane proxies are ready", CK_ERR, msg,
               "kubectl logs <pod> -c weft-proxy shows why");
    } else {
        result(c, "data plane proxies are ready", CK_OK, NULL, NULL);
    }
    if (old[0] != '\0') {
        snprintf(msg, sizeof(msg), "proxies not at " WEFT_VERSION ": %s", old);
        result(c, "data plane is up-to-date", CK_WARN, msg,
               "restart those workloads (kubectl rollout restart) to pick up the new proxy");
    } else {
        result(c, "data plane is up-to-date", CK_OK, NULL, NULL);
    }
    const char *cdesc = "data plane proxies have valid identity certificates";
    if (badcert[0] != '\0') {
        snprintf(msg, sizeof(msg), "%s", badcert);
        result(c, cdesc, CK_ERR, msg,
               "kubectl logs <pod> -c weft-proxy; is weft-identity ready, and the token audience "
               "identity.l5d.io?");
    } else if (unreachable[0] != '\0') {
        result(c, cdesc, CK_WARN, unreachable,
               "reading proxies' metrics needs get on pods/proxy for the current context");
    } else {
        result(c, cdesc, CK_OK, NULL, NULL);
    }
    if (meshed == 0)
        result(c, "data plane has meshed pods", CK_WARN, "no meshed pods found",
               "annotate a workload or namespace with linkerd.io/inject: enabled");
}

static void check_pre(chk_t *c)
{
    category(c, "pre-kubernetes-setup");
    char path[512], err[700];
    long st;
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s", c->ns);
    json_t *ns = get(c, path, &st, err, sizeof(err));
    if (ns != NULL)
        result(c, "control plane namespace does not already exist", CK_WARN,
               "the namespace exists: this would be an upgrade",
               "weft check (without --pre) checks an existing install");
    else if (st == 404)
        result(c, "control plane namespace does not already exist", CK_OK, NULL, NULL);
    else
        result(c, "control plane namespace does not already exist", CK_ERR, err, NULL);
    json_decref(ns);
    static const struct {
        const char *group, *res;
        bool namespaced;
    } rs[] = {
        {"", "namespaces", false},
        {"rbac.authorization.k8s.io", "clusterroles", false},
        {"rbac.authorization.k8s.io", "clusterrolebindings", false},
        {"apiextensions.k8s.io", "customresourcedefinitions", false},
        {"admissionregistration.k8s.io", "mutatingwebhookconfigurations", false},
        {"", "serviceaccounts", true},
        {"", "services", true},
        {"", "configmaps", true},
        {"", "secrets", true},
        {"apps", "deployments", true},
    };
    for (size_t i = 0; i < WF_ARRAY_LEN(rs); i++) {
        char desc[200];
        snprintf(desc, sizeof(desc), "can create %s%s", rs[i].res,
                 rs[i].namespaced ? " in the control plane namespace" : "");
        bool ok = can(c, "create", rs[i].group, rs[i].res, rs[i].namespaced ? c->ns : NULL, err,
                      sizeof(err));
        result(c, desc, ok ? CK_OK : CK_ERR, err,
               "installing needs cluster-admin (or these rights) for the current context");
    }
}

/* --- output and the command --------------------------------------------------------------- */

static void print_text(const chk_t *c)
{
    static const char *const marks[] = {"\u2714", "\u203c", "\u00d7"}; /* ✔ ‼ × */
    size_t i;
    json_t *cat;
    json_array_foreach(c->cats, i, cat)
    {
        const char *name = json_string_value(json_object_get(cat, "categoryName"));
        printf("%s%s\n", i ? "\n" : "", name);
        for (size_t k = strlen(name); k > 0; k--)
            putchar('-');
        putchar('\n');
        size_t j;
        json_t *ck;
        json_array_foreach(json_object_get(cat, "checks"), j, ck)
        {
            const char *r = json_string_value(json_object_get(ck, "result"));
            int m = strcmp(r, "success") == 0 ? 0 : strcmp(r, "warning") == 0 ? 1 : 2;
            printf("%s %s\n", marks[m], json_string_value(json_object_get(ck, "description")));
            const char *e = json_string_value(json_object_get(ck, "error"));
            const char *h = json_string_value(json_object_get(ck, "hint"));
            if (e != NULL)
                printf("    %s\n", e);
            if (h != NULL)
                printf("    hint: %s\n", h);
        }
    }
    printf("\nStatus check results are %s\n", c->errors ? marks[2] : marks[0]);
}

static const char check_usage[] =
    "usage: weft check [--pre | --proxy] [-o table|json] [flags]\n"
    "\n"
    "Checks the cluster the kubeconfig's current context points at: before an install\n"
    "(--pre), the control plane (default), and also the data plane (--proxy).\n"
    "\n"
    "  --pre                   only what an install needs\n"
    "  --proxy                 also check meshed pods' proxies\n"
    "  -o, --output FORMAT     table (default) or json\n"
    "  --kubeconfig FILE       default $KUBECONFIG, then ~/.kube/config, then in-cluster\n"
    "  --linkerd-namespace NS  control plane namespace (default linkerd)\n"
    "  --namespace NS          with --proxy: only this namespace's pods\n"
    "\n"
    "Exit status: 0 all passed (warnings allowed), 1 a check failed, 2 usage error.\n";

int wf_cli_check_main(int argc, char **argv)
{
    char **args = calloc((size_t)argc + 1, sizeof(char *));
    int nargs = 0;
    for (int i = 1; i < argc; i++)
        args[nargs++] = strcmp(argv[i], "-o") == 0 ? (char *)"--output" : argv[i];
    bool help = false, pre = false, proxy = false;
    const char *output = "table", *kubeconfig = NULL, *ns = "linkerd", *dp_ns = NULL;
    const wf_cli_flag_t flags[] = {
        {"help", NULL, &help},
        {"pre", NULL, &pre},
        {"proxy", NULL, &proxy},
        {"output", &output, NULL},
        {"kubeconfig", &kubeconfig, NULL},
        {"linkerd-namespace", &ns, NULL},
        {"namespace", &dp_ns, NULL},
    };
    const char *pos[1];
    size_t npos;
    char err[700];
    int rc = wf_cli_parse_flags(nargs, args, flags, WF_ARRAY_LEN(flags), pos, 0, &npos, err,
                                sizeof(err));
    free(args);
    if (rc != 0 || (strcmp(output, "table") != 0 && strcmp(output, "json") != 0) ||
        (pre && proxy)) {
        wf_cli_errorf("check: %s", rc != 0        ? err
                                   : pre && proxy ? "--pre and --proxy exclude each other"
                                                  : "--output is table or json");
        fputs(check_usage, stderr);
        return WF_CLI_EXIT_USAGE;
    }
    if (help) {
        fputs(check_usage, stdout);
        return WF_CLI_EXIT_OK;
    }
    chk_t c = {.ns = ns, .dp_ns = dp_ns, .cats = json_array()};
    char kcbuf[4096];
    if (kubeconfig == NULL)
        kubeconfig = default_kubeconfig(kcbuf, sizeof(kcbuf));
    category(&c, "kubernetes-api");
    bool go = true;
    if (wf_k8s_cfg_load(kubeconfig, &c.cfg, err, sizeof(err)) != 0) {
        result(&c, "can initialize the client", CK_ERR, err,
               "point --kubeconfig (or KUBECONFIG) at a kubeconfig with a token or client "
               "certificate");
        go = false;
    } else {
        result(&c, "can initialize the client", CK_OK, NULL, NULL);
    }
    json_t *ver = NULL;
    long st;
    if (go) {
        ver = get(&c, "/version", &st, err, sizeof(err));
        go = ver != NULL;
        result(&c, "can query the Kubernetes API", go ? CK_OK : CK_ERR, err,
               "is the API server reachable, and the credentials valid?");
    }
    if (go) {
        category(&c, "kubernetes-version");
        const char *major = json_string_value(json_object_get(ver, "major"));
        const char *minor = json_string_value(json_object_get(ver, "minor"));
        int mi = minor != NULL ? atoi(minor) : 0; /* "29+" reads as 29 */
        bool ok = major != NULL && strcmp(major, "1") == 0 && mi >= 22;
        snprintf(err, sizeof(err), "the API server is %s.%s; weft needs 1.22 or newer",
                 major ? major : "?", minor ? minor : "?");
        result(&c, "is running the minimum Kubernetes API version", ok ? CK_OK : CK_ERR, err,
               "upgrade the cluster");
        if (pre)
            check_pre(&c);
        else if (check_existence(&c) && proxy)
            check_data_plane(&c);
    }
    json_decref(ver);
    if (strcmp(output, "json") == 0) {
        json_t *out = json_pack("{s:b, s:O}", "success", c.errors == 0, "categories", c.cats);
        char *text = json_dumps(out, JSON_INDENT(2));
        puts(text);
        free(text);
        json_decref(out);
    } else {
        print_text(&c);
    }
    wf_k8s_cfg_free(&c.cfg);
    json_decref(c.cats);
    return c.errors ? WF_CLI_EXIT_FAILURE : WF_CLI_EXIT_OK;
}
