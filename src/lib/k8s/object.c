/*
 * object.c — Kubernetes objects as parsed JSON with typed accessors
 * (see object.h).
 */
#include "k8s/object.h"

#include <stdio.h>
#include <stdlib.h>

const wf_k8s_resource_t wf_k8s_res_namespaces = {"namespaces", "", "v1", "Namespace", false,
                                                 WF_K8S_NAMESPACE};
const wf_k8s_resource_t wf_k8s_res_pods = {"pods", "", "v1", "Pod", true, WF_K8S_POD};
const wf_k8s_resource_t wf_k8s_res_services = {"services", "", "v1", "Service", true,
                                               WF_K8S_SERVICE};
const wf_k8s_resource_t wf_k8s_res_endpointslices = {
    "endpointslices", "discovery.k8s.io", "v1", "EndpointSlice", true, WF_K8S_ENDPOINTSLICE};
const wf_k8s_resource_t wf_k8s_res_serviceaccounts = {
    "serviceaccounts", "", "v1", "ServiceAccount", true, WF_K8S_SERVICEACCOUNT};

size_t wf_k8s_resource_dir(const wf_k8s_resource_t *res, char *out, size_t outlen)
{
    int n;
    if (res->id != WF_K8S_GENERIC || res->group[0] == '\0')
        n = snprintf(out, outlen, "%s", res->plural);
    else
        n = snprintf(out, outlen, "%s.%s", res->plural, res->group);
    return n < 0 ? 0 : (size_t)n;
}

bool wf_k8s_name_valid(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > WF_K8S_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
            label++;
        } else {
            return false;
        }
    }
    return label > 0 && s[n - 1] != '-';
}

size_t wf_k8s_obj_key(const char *ns, const char *name, char *out, size_t outlen)
{
    int n = ns != NULL && ns[0] != '\0' ? snprintf(out, outlen, "%s/%s", ns, name)
                                        : snprintf(out, outlen, "%s", name);
    return n < 0 ? 0 : (size_t)n;
}

void wf_k8s_obj_unref(wf_k8s_obj_t *o)
{
    if (o == NULL || --o->refs > 0)
        return;
    json_decref(o->json);
    free(o);
}

const char *wf_k8s_str(const json_t *j, const char *k1, const char *k2)
{
    const json_t *v = json_object_get(j, k1);
    if (k2 != NULL)
        v = json_object_get(v, k2);
    return json_string_value(v); /* NULL unless a string */
}

int wf_k8s_obj_from_json(const wf_k8s_resource_t *res, json_t *j, const char *default_ns,
                         wf_k8s_obj_t **out, char *err, size_t errlen)
{
    *out = NULL;
    json_t *md = json_object_get(j, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *kind = json_string_value(json_object_get(j, "kind"));
    if (!json_is_object(j) || !json_is_object(md)) {
        snprintf(err, errlen, "not a Kubernetes object (no metadata object)");
        goto bad;
    }
    if (name == NULL || !wf_k8s_name_valid(name)) {
        snprintf(err, errlen, "metadata.name is missing or not a DNS-1123 name");
        goto bad;
    }
    if (kind != NULL && strcmp(kind, res->kind) != 0) {
        snprintf(err, errlen, "kind is %.64s, expected %s", kind, res->kind);
        goto bad;
    }
    json_t *nsj = json_object_get(md, "namespace");
    if (res->namespaced) {
        const char *ns = json_string_value(nsj);
        if (nsj != NULL && ns == NULL) {
            snprintf(err, errlen, "metadata.namespace is not a string");
            goto bad;
        }
        if (ns == NULL && default_ns != NULL) {
            if (json_object_set_new(md, "namespace", json_string(default_ns)) != 0) {
                snprintf(err, errlen, "out of memory");
                json_decref(j);
                return WF_ENOMEM;
            }
            ns = default_ns;
        }
        if (ns == NULL || !wf_k8s_name_valid(ns) || strchr(ns, '.') != NULL) {
            snprintf(err, errlen, "metadata.namespace is missing or not a DNS-1123 label");
            goto bad;
        }
        if (default_ns != NULL && strcmp(ns, default_ns) != 0) {
            snprintf(err, errlen, "metadata.namespace %s differs from the expected %s", ns,
                     default_ns);
            goto bad;
        }
    }
    /* Bounded memory: drop what nobody reads and what is usually the bulk. */
    json_object_del(md, "managedFields");
    json_t *ann = json_object_get(md, "annotations");
    if (json_is_object(ann))
        json_object_del(ann, "kubectl.kubernetes.io/last-applied-configuration");

    wf_k8s_obj_t *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        snprintf(err, errlen, "out of memory");
        json_decref(j);
        return WF_ENOMEM;
    }
    o->refs = 1;
    o->res = res;
    o->json = j;
    o->name = json_string_value(json_object_get(md, "name"));
    o->ns = res->namespaced ? json_string_value(json_object_get(md, "namespace")) : "";
    o->rv = json_string_value(json_object_get(md, "resourceVersion"));
    if (o->rv == NULL)
        o->rv = "";
    *out = o;
    return 0;
bad:
    json_decref(j);
    return WF_EINVAL;
}

int wf_k8s_obj_parse(const wf_k8s_resource_t *res, const char *data, size_t len,
                     const char *default_ns, wf_k8s_obj_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (len > WF_K8S_OBJ_MAX_BYTES) {
        snprintf(err, errlen, "object larger than %u bytes", WF_K8S_OBJ_MAX_BYTES);
        return WF_ELIMIT;
    }
    json_error_t je;
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        snprintf(err, errlen, "invalid JSON at line %d column %d: %s", je.line, je.column,
                 je.text);
        return WF_EINVAL;
    }
    return wf_k8s_obj_from_json(res, j, default_ns, out, err, errlen);
}

bool wf_k8s_obj_same(const wf_k8s_obj_t *a, const wf_k8s_obj_t *b)
{
    if (a->rv[0] != '\0' && b->rv[0] != '\0')
        return strcmp(a->rv, b->rv) == 0;
    return json_equal(a->json, b->json);
}

static const json_t *md_map(const wf_k8s_obj_t *o, const char *which)
{
    return json_object_get(json_object_get(o->json, "metadata"), which);
}

const char *wf_k8s_label(const wf_k8s_obj_t *o, const char *key)
{
    return json_string_value(json_object_get(md_map(o, "labels"), key));
}

const char *wf_k8s_annotation(const wf_k8s_obj_t *o, const char *key)
{
    return json_string_value(json_object_get(md_map(o, "annotations"), key));
}

const char *wf_k8s_uid(const wf_k8s_obj_t *o)
{
    return wf_k8s_str(o->json, "metadata", "uid");
}

bool wf_k8s_owner(const wf_k8s_obj_t *o, const char **kind, const char **name)
{
    const json_t *refs = md_map(o, "ownerReferences");
    const char *fk = NULL, *fn = NULL;
    for (size_t i = 0; i < json_array_size(refs); i++) {
        const json_t *r = json_array_get(refs, i);
        const char *k = json_string_value(json_object_get(r, "kind"));
        const char *n = json_string_value(json_object_get(r, "name"));
        if (k == NULL || n == NULL)
            continue;
        if (json_is_true(json_object_get(r, "controller"))) {
            *kind = k;
            *name = n;
            return true;
        }
        if (fk == NULL) {
            fk = k;
            fn = n;
        }
    }
    *kind = fk;
    *name = fn;
    return fk != NULL;
}

const char *wf_k8s_pod_ip(const wf_k8s_obj_t *pod)
{
    const char *ip = wf_k8s_str(pod->json, "status", "podIP");
    return ip != NULL && ip[0] != '\0' ? ip : NULL;
}

const char *wf_k8s_pod_sa(const wf_k8s_obj_t *pod)
{
    const char *sa = wf_k8s_str(pod->json, "spec", "serviceAccountName");
    return sa != NULL && sa[0] != '\0' ? sa : "default";
}

const char *wf_k8s_pod_phase(const wf_k8s_obj_t *pod)
{
    return wf_k8s_str(pod->json, "status", "phase");
}

const char *wf_k8s_svc_cluster_ip(const wf_k8s_obj_t *svc)
{
    const char *ip = wf_k8s_str(svc->json, "spec", "clusterIP");
    if (ip == NULL || ip[0] == '\0' || strcmp(ip, "None") == 0)
        return NULL;
    return ip;
}

static const json_t *spec_array(const wf_k8s_obj_t *o, const char *top, const char *key)
{
    const json_t *base = top != NULL ? json_object_get(o->json, top) : o->json;
    const json_t *a = json_object_get(base, key);
    return json_is_array(a) ? a : NULL;
}

static bool port_number(const json_t *v, uint16_t *out)
{
    if (!json_is_integer(v))
        return false;
    json_int_t n = json_integer_value(v);
    if (n < 1 || n > 65535)
        return false;
    *out = (uint16_t)n;
    return true;
}

static const char *str_or(const json_t *v, const char *dflt)
{
    const char *s = json_string_value(v);
    return s != NULL ? s : dflt;
}

size_t wf_k8s_svc_nports(const wf_k8s_obj_t *svc)
{
    return json_array_size(spec_array(svc, "spec", "ports"));
}

bool wf_k8s_svc_port(const wf_k8s_obj_t *svc, size_t i, wf_k8s_svc_port_t *out)
{
    const json_t *p = json_array_get(spec_array(svc, "spec", "ports"), i);
    memset(out, 0, sizeof(*out));
    if (!json_is_object(p) || !port_number(json_object_get(p, "port"), &out->port))
        return false;
    out->name = str_or(json_object_get(p, "name"), "");
    out->protocol = str_or(json_object_get(p, "protocol"), "TCP");
    out->app_protocol = json_string_value(json_object_get(p, "appProtocol"));
    const json_t *tp = json_object_get(p, "targetPort");
    if (tp == NULL)
        out->target_port = out->port; /* the API defaults targetPort to port */
    else if (json_is_string(tp) && json_string_length(tp) > 0)
        out->target_name = json_string_value(tp);
    else if (!port_number(tp, &out->target_port))
        return false;
    return true;
}

bool wf_k8s_svc_find_port(const wf_k8s_obj_t *svc, uint16_t port, wf_k8s_svc_port_t *out)
{
    size_t n = wf_k8s_svc_nports(svc);
    for (size_t i = 0; i < n; i++)
        if (wf_k8s_svc_port(svc, i, out) && out->port == port)
            return true;
    return false;
}

const char *wf_k8s_slice_service(const wf_k8s_obj_t *slice)
{
    return wf_k8s_label(slice, WF_K8S_LABEL_SERVICE_NAME);
}

const char *wf_k8s_slice_family(const wf_k8s_obj_t *slice)
{
    return json_string_value(json_object_get(slice->json, "addressType"));
}

size_t wf_k8s_slice_nports(const wf_k8s_obj_t *slice)
{
    return json_array_size(spec_array(slice, NULL, "ports"));
}

bool wf_k8s_slice_port(const wf_k8s_obj_t *slice, size_t i, wf_k8s_slice_port_t *out)
{
    const json_t *p = json_array_get(spec_array(slice, NULL, "ports"), i);
    memset(out, 0, sizeof(*out));
    if (!json_is_object(p) || !port_number(json_object_get(p, "port"), &out->port))
        return false;
    out->name = str_or(json_object_get(p, "name"), "");
    return true;
}

size_t wf_k8s_slice_nendpoints(const wf_k8s_obj_t *slice)
{
    return json_array_size(spec_array(slice, NULL, "endpoints"));
}

bool wf_k8s_slice_endpoint(const wf_k8s_obj_t *slice, size_t i, wf_k8s_endpoint_t *out)
{
    const json_t *e = json_array_get(spec_array(slice, NULL, "endpoints"), i);
    memset(out, 0, sizeof(*out));
    if (!json_is_object(e))
        return false;
    const json_t *a = json_object_get(e, "addresses");
    out->addresses = json_is_array(a) ? a : NULL;
    const json_t *ready = json_object_get(json_object_get(e, "conditions"), "ready");
    out->ready = ready == NULL || json_is_null(ready) || json_is_true(ready);
    const json_t *t = json_object_get(e, "targetRef");
    out->target_kind = json_string_value(json_object_get(t, "kind"));
    out->target_ns = json_string_value(json_object_get(t, "namespace"));
    out->target_name = json_string_value(json_object_get(t, "name"));
    out->node = json_string_value(json_object_get(e, "nodeName"));
    return true;
}
