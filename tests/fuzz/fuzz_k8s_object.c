/*
 * fuzz_k8s_object.c — object JSON → wf_k8s_obj_t → every typed accessor,
 * and the destination's label derivation, on arbitrary bytes.
 *
 * The first byte picks the resource the bytes are read as; the rest is the
 * JSON. Properties (abort() on violation):
 *  - parsing never crashes; a failure leaves *out NULL with a message;
 *  - an accepted object has a valid name, and a namespace iff namespaced;
 *  - accessors never crash on any shape, and what they return is coherent
 *    (ports in 1..65535, string fields NUL-terminated);
 *  - labels have non-empty values and at most WF_DST_MAX_LABELS.
 */
#include "../../src/controller/dst_rules.c"

#include <stdio.h>
#include <stdlib.h>

static void wf_fuzz_check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_k8s_object: property violated: %s\n", what);
        abort();
    }
}

static void walk(const wf_k8s_obj_t *o)
{
    wf_fuzz_check(o->name != NULL && wf_k8s_name_valid(o->name), "valid name");
    wf_fuzz_check(o->res->namespaced ? o->ns != NULL && o->ns[0] != '\0' : o->ns[0] == '\0',
                  "namespace iff namespaced");
    (void)wf_k8s_uid(o);
    (void)wf_k8s_label(o, "app");
    (void)wf_k8s_annotation(o, WF_DST_ANN_OPAQUE);
    const char *k, *n;
    if (wf_k8s_owner(o, &k, &n))
        wf_fuzz_check(k != NULL && n != NULL, "owner kind and name");
    (void)wf_k8s_pod_ip(o);
    wf_fuzz_check(wf_k8s_pod_sa(o) != NULL, "a service account");
    (void)wf_k8s_pod_phase(o);
    (void)wf_k8s_svc_cluster_ip(o);
    size_t np = wf_k8s_svc_nports(o);
    for (size_t i = 0; i <= np; i++) {
        wf_k8s_svc_port_t p;
        if (wf_k8s_svc_port(o, i, &p)) {
            wf_fuzz_check(i < np && p.port >= 1 && p.name != NULL && p.protocol != NULL,
                          "service port");
            wf_fuzz_check(p.target_name != NULL || p.target_port >= 1, "target port");
            (void)wf_dst_opaque(wf_k8s_annotation(o, WF_DST_ANN_OPAQUE), p.port,
                                wf_k8s_label(o, "x"), NULL, p.target_port, p.app_protocol);
        }
    }
    (void)wf_k8s_slice_service(o);
    (void)wf_k8s_slice_family(o);
    size_t nsp = wf_k8s_slice_nports(o);
    for (size_t i = 0; i <= nsp; i++) {
        wf_k8s_slice_port_t p;
        if (wf_k8s_slice_port(o, i, &p))
            wf_fuzz_check(i < nsp && p.port >= 1 && p.name != NULL, "slice port");
    }
    size_t ne = wf_k8s_slice_nendpoints(o);
    for (size_t i = 0; i <= ne; i++) {
        wf_k8s_endpoint_t e;
        if (wf_k8s_slice_endpoint(o, i, &e)) {
            wf_fuzz_check(i < ne, "endpoint index");
            for (size_t a = 0; a < json_array_size(e.addresses); a++)
                (void)json_string_value(json_array_get(e.addresses, a));
        }
    }
    wf_dst_labels_t l;
    wf_dst_pod_labels(o, &l);
    wf_fuzz_check(l.n <= WF_DST_MAX_LABELS, "label count");
    for (size_t i = 0; i < l.n; i++)
        wf_fuzz_check(l.value[i] != NULL && l.value[i][0] != '\0', "label value");
    char id[600];
    (void)wf_dst_identity(o, "linkerd", "cluster.local", id, sizeof(id));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const wf_k8s_resource_t *const res[] = {
        &wf_k8s_res_namespaces, &wf_k8s_res_pods, &wf_k8s_res_services,
        &wf_k8s_res_endpointslices, &wf_k8s_res_serviceaccounts};
    if (size < 1)
        return 0;
    const wf_k8s_resource_t *r = res[data[0] % WF_ARRAY_LEN(res)];
    const char *dns = (data[0] & 0x80) ? "default" : NULL;
    wf_k8s_obj_t *o = (wf_k8s_obj_t *)1;
    char err[256];
    err[0] = '\0';
    int rc = wf_k8s_obj_parse(r, (const char *)data + 1, size - 1, dns, &o, err, sizeof(err));
    if (rc != 0) {
        wf_fuzz_check(o == NULL, "no object on failure");
        wf_fuzz_check(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL, "a message");
        return 0;
    }
    walk(o);
    wf_k8s_obj_t *o2 = wf_k8s_obj_ref(o);
    wf_fuzz_check(wf_k8s_obj_same(o, o2), "same as itself");
    wf_k8s_obj_unref(o2);
    wf_k8s_obj_unref(o);
    return 0;
}
