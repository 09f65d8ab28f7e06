/*
 * token_kube.c — the kubernetes token verifier (token.h): the proxy's
 * projected ServiceAccount token (audience identity.l5d.io) is checked with
 * a TokenReview (authentication.k8s.io/v1), as Linkerd's identity service
 * does, and the ServiceAccount it authenticates must be the one the
 * requested identity names (<sa>.<ns>.serviceaccount.identity...).
 *
 * The review is one blocking POST with a short timeout on the controller's
 * loop: Certify comes once a day per proxy and the API server answers in
 * milliseconds, so the simple form is kept until a profile says otherwise
 * (token.h describes the asynchronous seam when it does).
 */
#include "token.h"

#include "k8s/kube_client.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#define REVIEW_PATH "/apis/authentication.k8s.io/v1/tokenreviews"
#define REVIEW_TIMEOUT_MS 3000

typedef struct kube_verifier {
    wf_token_verifier_t base;
    wf_k8s_cfg_t cfg; /* owned */
    char *audience;   /* owned */
} kube_verifier_t;

/* "<sa>.<ns>.serviceaccount...." → sa and ns (borrowed views). */
static bool identity_sa(wf_str_t id, wf_str_t *sa, wf_str_t *ns)
{
    const char *a = memchr(id.ptr, '.', id.len);
    if (a == NULL)
        return false;
    const char *rest = a + 1;
    const char *b = memchr(rest, '.', id.len - (size_t)(rest - id.ptr));
    if (b == NULL)
        return false;
    *sa = (wf_str_t){id.ptr, (size_t)(a - id.ptr)};
    *ns = (wf_str_t){rest, (size_t)(b - rest)};
    return sa->len > 0 && ns->len > 0;
}

static wf_token_result_t kube_verify(wf_token_verifier_t *v, wf_str_t token, wf_str_t identity,
                                     char *msg, size_t msglen)
{
    kube_verifier_t *kv = (kube_verifier_t *)v;
    if (token.len == 0 || token.len > WF_TOKEN_MAX) {
        snprintf(msg, msglen, token.len == 0 ? "no token given" : "token too long");
        return WF_TOKEN_UNAUTHENTICATED;
    }
    wf_str_t sa, ns;
    if (!identity_sa(identity, &sa, &ns)) {
        snprintf(msg, msglen, "malformed identity");
        return WF_TOKEN_UNAUTHENTICATED;
    }
    json_t *req = json_pack("{s:s, s:s, s:{s:s%, s:[s]}}", "apiVersion", "authentication.k8s.io/v1",
                            "kind", "TokenReview", "spec", "token", token.ptr, token.len,
                            "audiences", kv->audience);
    char *body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (body == NULL) {
        snprintf(msg, msglen, "out of memory");
        return WF_TOKEN_ERROR;
    }
    long status = 0;
    wf_sbuf_t out = {0};
    char err[256];
    int rc = wf_k8s_request(&kv->cfg, "POST", REVIEW_PATH, body, REVIEW_TIMEOUT_MS, &status, &out,
                            err, sizeof(err));
    free(body);
    if (rc != 0 || status != 201) {
        snprintf(msg, msglen, "the token could not be reviewed (%s)",
                 rc != 0 ? err : "the API server refused the TokenReview");
        if (rc == 0)
            snprintf(msg, msglen, "the token could not be reviewed (HTTP %ld)", status);
        wf_sbuf_free(&out);
        return WF_TOKEN_ERROR;
    }
    json_error_t je;
    json_t *resp = json_loadb(out.ptr, out.len, 0, &je);
    wf_sbuf_free(&out);
    json_t *st = json_object_get(resp, "status");
    wf_token_result_t r;
    const char *user = json_string_value(json_object_get(json_object_get(st, "user"), "username"));
    if (!json_is_true(json_object_get(st, "authenticated"))) {
        const char *why = json_string_value(json_object_get(st, "error"));
        snprintf(msg, msglen, "token not authenticated%s%.200s", why ? ": " : "", why ? why : "");
        r = WF_TOKEN_UNAUTHENTICATED;
    } else if (user == NULL || strncmp(user, "system:serviceaccount:", 22) != 0) {
        snprintf(msg, msglen, "the token is not a ServiceAccount's");
        r = WF_TOKEN_UNAUTHENTICATED;
    } else {
        /* system:serviceaccount:<ns>:<sa> must name the identity's ns/sa. */
        char want[512];
        snprintf(want, sizeof(want), "system:serviceaccount:%.*s:%.*s", (int)ns.len, ns.ptr,
                 (int)sa.len, sa.ptr);
        if (strcmp(user, want) == 0) {
            r = WF_TOKEN_OK;
        } else {
            snprintf(msg, msglen, "the token belongs to %.200s, not to %s", user, want);
            r = WF_TOKEN_DENIED;
        }
    }
    json_decref(resp);
    return r;
}

static void kube_destroy(wf_token_verifier_t *v)
{
    kube_verifier_t *kv = (kube_verifier_t *)v;
    wf_k8s_cfg_free(&kv->cfg);
    free(kv->audience);
    free(kv);
}

static const wf_token_verifier_ops_t kube_ops = {"kubernetes", kube_verify, kube_destroy};

int wf_token_kube_new(const char *kubeconfig, const char *audience, wf_token_verifier_t **out,
                      char *err, size_t errlen)
{
    *out = NULL;
    kube_verifier_t *kv = calloc(1, sizeof(*kv));
    if (kv == NULL || (kv->audience = strdup(audience)) == NULL) {
        free(kv);
        snprintf(err, errlen, "out of memory");
        return WF_ENOMEM;
    }
    int rc = wf_k8s_cfg_load(kubeconfig, &kv->cfg, err, errlen);
    if (rc != 0) {
        free(kv->audience);
        free(kv);
        return rc;
    }
    kv->base.ops = &kube_ops;
    *out = &kv->base;
    return 0;
}
