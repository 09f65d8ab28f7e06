/*
 * fuzz_k8s_admission_review.c — the injector's AdmissionReview handler
 * (src/controller/injector_review.c, included whole) on arbitrary bodies.
 * Properties (abort() on violation): no crash or leak; the answer is 200
 * or 400; a 200 is an admission.k8s.io/v1 AdmissionReview whose response
 * echoes the request's uid and is allowed (the webhook never blocks a
 * pod); a patch comes with patchType JSONPatch, is base64 of a JSON array,
 * and applies cleanly to the request's object.
 */
#include "../../src/controller/injector_review.c"

#include "k8s/ydoc.h"

static void wf_fuzz_check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_k8s_admission_review: property violated: %s\n", what);
        abort();
    }
}

static const json_t *fuzz_ns(void *data, const char *ns)
{
    return strcmp(ns, "meshed") == 0 ? data : NULL;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wf_inject_cfg_t cfg;
    wf_inject_cfg_defaults(&cfg);
    json_t *ns_ann = json_pack("{s:s, s:s}", "linkerd.io/inject", "enabled",
                               "config.linkerd.io/opaque-ports", "3306");
    wf_sbuf_t out = {0};
    wf_injector_review_stats_t st;
    int status = wf_injector_review(&cfg, (const char *)data, size, fuzz_ns, ns_ann, &out, &st);
    wf_fuzz_check(status == 200 || status == 400, "status 200 or 400");
    if (status == 200) {
        json_t *in = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
        json_t *ans = json_loadb(out.ptr, out.len, 0, NULL);
        wf_fuzz_check(ans != NULL, "the answer is JSON");
        json_t *resp = json_object_get(ans, "response");
        wf_fuzz_check(json_equal(json_object_get(resp, "uid"),
                                 json_object_get(json_object_get(in, "request"), "uid")),
                      "uid echoed");
        wf_fuzz_check(json_is_true(json_object_get(resp, "allowed")), "always allowed");
        const char *patch = json_string_value(json_object_get(resp, "patch"));
        wf_fuzz_check((patch != NULL) == (json_object_get(resp, "patchType") != NULL),
                      "patch and patchType together");
        if (patch != NULL) {
            wf_sbuf_t dec = {0};
            uint32_t acc = 0;
            int bits = 0;
            for (const char *p = patch; *p && *p != '='; p++) {
                int v = b64val(*p);
                wf_fuzz_check(v >= 0, "base64");
                acc = (acc << 6) | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                    bits -= 8;
                    char ch = (char)((acc >> bits) & 0xff);
                    wf_sbuf_append(&dec, &ch, 1);
                }
            }
            json_t *ops = json_loadb(dec.ptr, dec.len, 0, NULL);
            wf_fuzz_check(json_is_array(ops), "the patch is a JSON array");
            wf_ynode_t *pod =
                wf_ynode_from_json(json_object_get(json_object_get(in, "request"), "object"));
            char err[300];
            wf_fuzz_check(pod != NULL && wf_ynode_patch(&pod, ops, err, sizeof(err)) == 0,
                          "the patch applies to the request's object");
            wf_ynode_free(pod);
            json_decref(ops);
            wf_sbuf_free(&dec);
        }
        json_decref(ans);
        json_decref(in);
    }
    wf_sbuf_free(&out);
    json_decref(ns_ann);
    return 0;
}
