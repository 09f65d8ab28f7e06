/*
 * object.h — Kubernetes objects as the controllers see them: the parsed
 * JSON (jansson) of one object, plus small typed accessors for the fields
 * weft reads (metadata, Pod, Service, EndpointSlice).
 *
 * An object is immutable once made and refcounted: a source's cache holds
 * one reference, an index that keeps it holds another. Accessors never
 * fail: a missing or mistyped field reads as absent (NULL / 0 / false), so
 * a hostile or half-written object cannot crash a reader.
 *
 * Memory: metadata.managedFields and the kubectl last-applied annotation
 * are dropped when an object is made (they are most of a typical object's
 * bytes and nothing in weft reads them); a consumer may trim more through
 * its informer's prune hook (source.h).
 */
#ifndef WF_K8S_OBJECT_H
#define WF_K8S_OBJECT_H

#include "core/common.h"

#include <jansson.h>

/* The kinds weft has typed accessors for; everything else is GENERIC. */
typedef enum wf_k8s_kind {
    WF_K8S_NAMESPACE,
    WF_K8S_POD,
    WF_K8S_SERVICE,
    WF_K8S_ENDPOINTSLICE,
    WF_K8S_SERVICEACCOUNT,
    WF_K8S_GENERIC, /* CRDs and anything else: JSON only */
} wf_k8s_kind_t;

/* A resource type (the API's "resource", plural). Static descriptors for
 * the built-in kinds below; a CRD's is built by the caller and must
 * outlive every informer on it. */
typedef struct wf_k8s_resource {
    const char *plural;  /* "pods", "servers" */
    const char *group;   /* "" (core), "discovery.k8s.io", "policy.linkerd.io" */
    const char *version; /* "v1", "v1beta3" */
    const char *kind;    /* "Pod" — checked against an object's kind when present */
    bool namespaced;
    wf_k8s_kind_t id;
} wf_k8s_resource_t;

extern const wf_k8s_resource_t wf_k8s_res_namespaces;
extern const wf_k8s_resource_t wf_k8s_res_pods;
extern const wf_k8s_resource_t wf_k8s_res_services;
extern const wf_k8s_resource_t wf_k8s_res_endpointslices;
extern const wf_k8s_resource_t wf_k8s_res_serviceaccounts;

/* The local store's directory name: the plural for built-in kinds,
 * "<plural>.<group>" for the others ("servers.policy.linkerd.io").
 * Returns the length like snprintf. */
size_t wf_k8s_resource_dir(const wf_k8s_resource_t *res, char *out, size_t outlen);

/* Largest object accepted, in bytes of JSON (the API server's own limit
 * on an object is 1.5 MiB). */
#define WF_K8S_OBJ_MAX_BYTES (2u * 1024 * 1024)
/* Longest namespace / name accepted (DNS-1123 subdomain). */
#define WF_K8S_NAME_MAX 253

typedef struct wf_k8s_obj {
    uint32_t refs;
    const wf_k8s_resource_t *res; /* borrowed, static */
    json_t *json;                 /* owned reference */
    const char *ns;               /* borrowed from json; "" when cluster-scoped */
    const char *name;             /* borrowed from json */
    const char *rv;               /* borrowed from json; "" when absent */
    uint64_t sig;                 /* the source's change signature (local: file stat) */
    uint64_t seen;                /* the source's resync generation */
} wf_k8s_obj_t;

/*
 * Makes an object from one JSON value (a reference is stolen, also on
 * failure). Checks: an object with metadata.name (a DNS-1123 subdomain),
 * metadata.namespace when the resource is namespaced (default_ns fills it
 * when absent and non-NULL; a different value is an error), kind equal to
 * the resource's when present. Returns 0 or WF_EINVAL / WF_ENOMEM with a
 * message naming the problem.
 */
int wf_k8s_obj_from_json(const wf_k8s_resource_t *res, json_t *j, const char *default_ns,
                         wf_k8s_obj_t **out, char *err, size_t errlen);
/* Parses JSON text then as wf_k8s_obj_from_json. */
int wf_k8s_obj_parse(const wf_k8s_resource_t *res, const char *data, size_t len,
                     const char *default_ns, wf_k8s_obj_t **out, char *err, size_t errlen);

static inline wf_k8s_obj_t *wf_k8s_obj_ref(wf_k8s_obj_t *o)
{
    o->refs++;
    return o;
}
void wf_k8s_obj_unref(wf_k8s_obj_t *o);

/* "ns/name" (or "name" cluster-scoped) into out; returns the length. */
size_t wf_k8s_obj_key(const char *ns, const char *name, char *out, size_t outlen);

/* True when a and b have the same content (same resourceVersion when both
 * have one; otherwise deep JSON equality). */
bool wf_k8s_obj_same(const wf_k8s_obj_t *a, const wf_k8s_obj_t *b);

/* --- accessors (NULL / 0 when absent or of the wrong type) -------------------- */

/* The string at a chain of object keys, e.g. ("spec", "clusterIP"). */
const char *wf_k8s_str(const json_t *j, const char *k1, const char *k2);
const char *wf_k8s_label(const wf_k8s_obj_t *o, const char *key);
const char *wf_k8s_annotation(const wf_k8s_obj_t *o, const char *key);
const char *wf_k8s_uid(const wf_k8s_obj_t *o);
/* The controller ownerReference (controller: true), else the first one;
 * false when there is none with a kind and a name. */
bool wf_k8s_owner(const wf_k8s_obj_t *o, const char **kind, const char **name);

/* Pod */
const char *wf_k8s_pod_ip(const wf_k8s_obj_t *pod); /* status.podIP */
const char *wf_k8s_pod_sa(const wf_k8s_obj_t *pod); /* spec.serviceAccountName, or "default" */
const char *wf_k8s_pod_phase(const wf_k8s_obj_t *pod);

/* Service */
typedef struct wf_k8s_svc_port {
    const char *name;         /* "" when unnamed */
    uint16_t port;            /* 1..65535 */
    uint16_t target_port;     /* numeric targetPort; 0 when named or absent */
    const char *target_name;  /* named targetPort, or NULL */
    const char *app_protocol; /* NULL when absent */
    const char *protocol;     /* "TCP" when absent */
} wf_k8s_svc_port_t;

const char *wf_k8s_svc_cluster_ip(const wf_k8s_obj_t *svc); /* NULL for "None"/absent */
size_t wf_k8s_svc_nports(const wf_k8s_obj_t *svc);
/* Port i; false when it is malformed (skip it). */
bool wf_k8s_svc_port(const wf_k8s_obj_t *svc, size_t i, wf_k8s_svc_port_t *out);
/* The spec.ports entry whose port is `port`; false when none. */
bool wf_k8s_svc_find_port(const wf_k8s_obj_t *svc, uint16_t port, wf_k8s_svc_port_t *out);

/* EndpointSlice */
#define WF_K8S_LABEL_SERVICE_NAME "kubernetes.io/service-name"
typedef struct wf_k8s_slice_port {
    const char *name; /* "" when unnamed */
    uint16_t port;
} wf_k8s_slice_port_t;

typedef struct wf_k8s_endpoint {
    const json_t *addresses; /* borrowed array of strings (may be NULL) */
    bool ready;              /* conditions.ready; absent counts as ready (API semantics) */
    const char *target_kind; /* targetRef, NULL when absent */
    const char *target_ns;
    const char *target_name;
    const char *node;
} wf_k8s_endpoint_t;

const char *wf_k8s_slice_service(const wf_k8s_obj_t *slice);
const char *wf_k8s_slice_family(const wf_k8s_obj_t *slice); /* addressType */
size_t wf_k8s_slice_nports(const wf_k8s_obj_t *slice);
bool wf_k8s_slice_port(const wf_k8s_obj_t *slice, size_t i, wf_k8s_slice_port_t *out);
size_t wf_k8s_slice_nendpoints(const wf_k8s_obj_t *slice);
bool wf_k8s_slice_endpoint(const wf_k8s_obj_t *slice, size_t i, wf_k8s_endpoint_t *out);

/* A DNS-1123 subdomain (lower-case alphanumerics, '-', '.'; ≤ 253). */
bool wf_k8s_name_valid(const char *s);

#endif
