/*
 * test_injector_review.c — the webhook's AdmissionReview handling
 * (src/controller/injector_review.c, included whole) and the CRD schemas
 * `weft install --crds` prints (src/cli/install_crds.c): exact response
 * shapes for the cases the API server sends, and every schema parses.
 */
#include "wf_test.h"

#include "../../../src/cli/install_crds.c"
#include "../../../src/controller/injector_review.c"

static json_t *answer(const char *body, int *status)
{
    wf_inject_cfg_t cfg;
    wf_inject_cfg_defaults(&cfg);
    wf_sbuf_t out = {0};
    wf_injector_review_stats_t st;
    *status = wf_injector_review(&cfg, body, strlen(body), NULL, NULL, &out, &st);
    json_t *j = *status == 200 ? json_loadb(out.ptr, out.len, 0, NULL) : NULL;
    wf_sbuf_free(&out);
    return j;
}

#define REVIEW(ns, op, kind, anns)                                                                 \
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"           \
    "\"uid\":\"abc-123\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"" kind "\"},"      \
    "\"namespace\":\"" ns "\",\"operation\":\"" op "\",\"object\":{\"metadata\":{"                 \
    "\"annotations\":" anns "},\"spec\":{\"containers\":[{\"name\":\"a\"}]}}}}"

static void test_review(void)
{
    int status;
    json_t *j =
        answer(REVIEW("app", "CREATE", "Pod", "{\"linkerd.io/inject\":\"enabled\"}"), &status);
    CHECK_EQ_INT(status, 200);
    json_t *r = json_object_get(j, "response");
    CHECK_EQ_STR(json_string_value(json_object_get(j, "apiVersion")), "admission.k8s.io/v1");
    CHECK_EQ_STR(json_string_value(json_object_get(j, "kind")), "AdmissionReview");
    CHECK_EQ_STR(json_string_value(json_object_get(r, "uid")), "abc-123");
    CHECK(json_is_true(json_object_get(r, "allowed")));
    CHECK_EQ_STR(json_string_value(json_object_get(r, "patchType")), "JSONPatch");
    CHECK(json_string_length(json_object_get(r, "patch")) > 100);
    CHECK(json_object_get(r, "warnings") == NULL);
    json_decref(j);

    j = answer(REVIEW("app", "CREATE", "Pod",
                      "{\"linkerd.io/inject\":\"enabled\","
                      "\"config.linkerd.io/opaque-ports\":\"0\"}"),
               &status);
    r = json_object_get(j, "response");
    CHECK_EQ_INT(status, 200);
    CHECK(json_is_true(json_object_get(r, "allowed")));
    /* No proxy: the only change is the reason, recorded as an annotation. */
    CHECK_EQ_STR(json_string_value(json_object_get(r, "patchType")), "JSONPatch");
    CHECK(json_string_length(json_object_get(r, "patch")) < 400);
    char *w = json_dumps(json_object_get(r, "warnings"), 0);
    CHECK(w != NULL && strstr(w, "config.linkerd.io/opaque-ports") != NULL);
    free(w);
    json_decref(j);

    j = answer(REVIEW("app", "DELETE", "Pod", "{\"linkerd.io/inject\":\"enabled\"}"), &status);
    CHECK_EQ_INT(status, 200);
    CHECK(json_object_get(json_object_get(j, "response"), "patch") == NULL);
    json_decref(j);

    static const char *const bad[] = {
        "",
        "[]",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}",
        "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\",\"request\":{"
        "\"uid\":\"x\"}}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"Pod\",\"request\":{\"uid\":\"x\"}}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
        "\"uid\":\"\"}}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"apiVersion\":\"admission.k8s.io/v1\"}",
    };
    for (size_t i = 0; i < WF_ARRAY_LEN(bad); i++) {
        j = answer(bad[i], &status);
        CHECK_EQ_INT(status, 400);
        CHECK(j == NULL);
    }
}

static void test_crd_schemas(void)
{
    CHECK_EQ_INT(wf_install_ncrds, 7);
    for (size_t i = 0; i < wf_install_ncrds; i++) {
        json_error_t e;
        json_t *s = json_loads(wf_install_crds[i].schema, 0, &e);
        if (s == NULL)
            fprintf(stderr, "%s: %s (column %d)\n", wf_install_crds[i].kind, e.text, e.column);
        CHECK(s != NULL);
        CHECK_EQ_STR(json_string_value(json_object_get(s, "type")), "object");
        json_decref(s);
    }
}

int main(void)
{
    WF_RUN(test_review);
    WF_RUN(test_crd_schemas);
    return wf_test_done();
}
