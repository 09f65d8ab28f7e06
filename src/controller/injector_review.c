/*
 * injector_review.c — one AdmissionReview v1 in, one out (see injector.h).
 *
 * Shapes (k8s.io/api/admission/v1):
 *   request   {apiVersion: admission.k8s.io/v1, kind: AdmissionReview,
 *              request: {uid, kind: {group, version, kind}, resource,
 *              namespace, operation, object, dryRun, ...}}
 *   response  {apiVersion: admission.k8s.io/v1, kind: AdmissionReview,
 *              response: {uid (the request's), allowed: true,
 *              patchType: JSONPatch, patch: base64(JSON Patch),
 *              warnings: [...]}}
 * patchType and patch appear together or not at all; warnings only when
 * there are some (the API server shows each to the client, kubectl prints
 * them as "Warning: ..."). A pod that asked for the proxy (annotation on it
 * or its namespace) and is not injected — hostNetwork, kube-system, the
 * control plane, a bad annotation — gets the reason in its annotation
 * weft.io/inject-skipped.
 */
#include "injector.h"

#include <stdio.h>
#include <stdlib.h>

static void b64(wf_sbuf_t *out, const char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)p[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)p[i + 2];
        char q[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63], i + 1 < n ? tab[(v >> 6) & 63] : '=',
                     i + 2 < n ? tab[v & 63] : '='};
        wf_sbuf_append(out, q, 4);
    }
}

/* A pod that asked for the proxy and is admitted without it says why in
 * an annotation (kubectl describe shows it; the warning is gone once the
 * kubectl command returns). Nothing when metadata.annotations is not a
 * map we can add to. */
static void record_skip(json_t *resp, const json_t *pod, const char *reason)
{
    const json_t *md = json_object_get(pod, "metadata");
    const json_t *anns = json_object_get(md, "annotations");
    json_t *op;
    if (!json_is_object(md) && md != NULL && !json_is_null(md))
        return;
    if (json_is_object(anns))
        op = json_pack("{s:s, s:s, s:s}", "op", "add", "path",
                       "/metadata/annotations/weft.io~1inject-skipped", "value", reason);
    else if (anns == NULL || json_is_null(anns))
        op = json_is_object(md)
                 ? json_pack("{s:s, s:s, s:{s:s}}", "op", "add", "path", "/metadata/annotations",
                             "value", WF_INJECT_SKIPPED_ANNOTATION, reason)
                 : json_pack("{s:s, s:s, s:{s:{s:s}}}", "op", "add", "path", "/metadata", "value",
                             "annotations", WF_INJECT_SKIPPED_ANNOTATION, reason);
    else
        return;
    json_t *patch = json_pack("[o]", op);
    char *text = json_dumps(patch, JSON_COMPACT);
    json_decref(patch);
    wf_sbuf_t enc = {0};
    if (text != NULL)
        b64(&enc, text, strlen(text));
    if (text != NULL && !enc.oom) {
        json_object_set_new(resp, "patchType", json_string("JSONPatch"));
        json_object_set_new(resp, "patch", json_stringn(enc.ptr, enc.len));
    }
    free(text);
    wf_sbuf_free(&enc);
}

static int bad(wf_sbuf_t *out, const char *msg)
{
    out->len = 0;
    wf_sbuf_puts(out, msg);
    wf_sbuf_puts(out, "\n");
    return 400;
}

int wf_injector_review(const wf_inject_cfg_t *cfg, const char *body, size_t len,
                       wf_injector_ns_fn ns_fn, void *ns_data, wf_sbuf_t *out,
                       wf_injector_review_stats_t *stats)
{
    memset(stats, 0, sizeof(*stats));
    if (len > WF_INJECTOR_MAX_BODY)
        return bad(out, "request body too large");
    json_error_t jerr;
    json_t *rev = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(rev)) {
        json_decref(rev);
        return bad(out, "request body is not a JSON object");
    }
    int status = 400;
    const char *msg = NULL;
    json_t *req = json_object_get(rev, "request");
    const char *uid = json_string_value(json_object_get(req, "uid"));
    const char *api = json_string_value(json_object_get(rev, "apiVersion"));
    const char *kind = json_string_value(json_object_get(rev, "kind"));
    if (kind == NULL || strcmp(kind, "AdmissionReview") != 0)
        msg = "not an AdmissionReview (kind)";
    else if (api == NULL || strcmp(api, "admission.k8s.io/v1") != 0)
        msg = "only admission.k8s.io/v1 AdmissionReviews are served";
    else if (!json_is_object(req) || uid == NULL || uid[0] == '\0')
        msg = "AdmissionReview without request.uid";
    if (msg != NULL) {
        json_decref(rev);
        return bad(out, msg);
    }

    const char *ns = json_string_value(json_object_get(req, "namespace"));
    const char *op = json_string_value(json_object_get(req, "operation"));
    json_t *rkind = json_object_get(req, "kind");
    const char *k = json_string_value(json_object_get(rkind, "kind"));
    const char *group = json_string_value(json_object_get(rkind, "group"));
    const char *sub = json_string_value(json_object_get(req, "subResource"));
    json_t *pod = json_object_get(req, "object");
    const json_t *pmd = json_object_get(pod, "metadata");
    const char *name = json_string_value(json_object_get(pmd, "name"));
    if (name == NULL || name[0] == '\0')
        name = json_string_value(json_object_get(pmd, "generateName"));
    snprintf(stats->what, sizeof(stats->what), "%.100s/%.150s", ns ? ns : "",
             name ? name : "(unnamed)");

    json_t *resp = json_pack("{s:s, s:b}", "uid", uid, "allowed", 1);
    json_t *warnings = json_array();
    bool is_pod = k != NULL && strcmp(k, "Pod") == 0 && (group == NULL || group[0] == '\0') &&
                  (sub == NULL || sub[0] == '\0');
    if (!is_pod || op == NULL || strcmp(op, "CREATE") != 0) {
        snprintf(stats->reason, sizeof(stats->reason), "not a pod creation (%s %s)", op ? op : "?",
                 k ? k : "?");
    } else if (!json_is_object(pod)) {
        snprintf(stats->reason, sizeof(stats->reason), "request.object is not a pod");
        json_array_append_new(warnings, json_string("weft injector: request.object is not a "
                                                    "pod; admitted without the proxy"));
    } else {
        const json_t *ns_ann = ns_fn != NULL && ns != NULL ? ns_fn(ns_data, ns) : NULL;
        wf_inject_result_t r;
        int rc = wf_inject_pod(cfg, pod, ns, ns_ann, "", &r);
        if (rc != 0) {
            snprintf(stats->reason, sizeof(stats->reason), "the pod has no spec.containers");
            json_array_append_new(warnings, json_string("weft injector: the pod has no "
                                                        "spec.containers; admitted without the "
                                                        "proxy"));
        } else {
            size_t i;
            json_t *w;
            json_array_foreach(r.warnings, i, w)
            {
                char line[800];
                snprintf(line, sizeof(line), "weft injector: %s", json_string_value(w));
                json_array_append_new(warnings, json_string(line));
            }
            if (r.outcome == WF_INJECT_INJECTED) {
                char *patch = json_dumps(r.patch, JSON_COMPACT);
                wf_sbuf_t enc = {0};
                if (patch != NULL)
                    b64(&enc, patch, strlen(patch));
                if (patch != NULL && !enc.oom) {
                    json_object_set_new(resp, "patchType", json_string("JSONPatch"));
                    json_object_set_new(resp, "patch", json_stringn(enc.ptr, enc.len));
                    stats->injected = true;
                } else {
                    snprintf(stats->reason, sizeof(stats->reason), "out of memory");
                }
                free(patch);
                wf_sbuf_free(&enc);
            } else {
                stats->invalid = r.outcome == WF_INJECT_INVALID;
                snprintf(stats->reason, sizeof(stats->reason), "%s", r.reason);
                if (r.requested)
                    record_skip(resp, pod, r.reason);
                if (stats->invalid)
                    json_array_append_new(
                        warnings, json_string("weft injector: the pod was admitted without "
                                              "the proxy because of the annotation(s) above"));
            }
            wf_inject_result_free(&r);
        }
    }
    if (json_array_size(warnings) > 0)
        json_object_set(resp, "warnings", warnings);
    json_decref(warnings);
    json_t *answer = json_pack("{s:s, s:s, s:o}", "apiVersion", "admission.k8s.io/v1", "kind",
                               "AdmissionReview", "response", resp);
    char *text = answer != NULL ? json_dumps(answer, JSON_COMPACT) : NULL;
    json_decref(answer);
    json_decref(rev);
    if (text == NULL)
        return bad(out, "out of memory");
    out->len = 0;
    wf_sbuf_puts(out, text);
    free(text);
    status = out->oom ? 400 : 200;
    return status;
}
