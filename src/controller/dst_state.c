/*
 * dst_state.c — the destination service's view of the cluster: informers
 * on namespaces, pods, services and endpoint slices; indexes by IP and by
 * service; and the resolution of a target into endpoints (see dst.h).
 */
#include "dst.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

static const wf_k8s_resource_t *const dst_resources[DST_NKINDS] = {
    [DST_NS] = &wf_k8s_res_namespaces,
    [DST_POD] = &wf_k8s_res_pods,
    [DST_SVC] = &wf_k8s_res_services,
    [DST_SLICE] = &wf_k8s_res_endpointslices,
};

/* --- pruning: keep what resolution reads, drop the rest --------------------------- */

static void keep_only(json_t *obj, const char *const *keep, size_t nkeep)
{
    if (!json_is_object(obj))
        return;
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(obj, tmp, k, v)
    {
        bool kept = false;
        for (size_t i = 0; i < nkeep && !kept; i++)
            kept = strcmp(k, keep[i]) == 0;
        if (!kept)
            json_object_del(obj, k);
    }
}

/* Keeps only the listed keys of a string map (labels, annotations). */
static void keep_map(json_t *parent, const char *map, const char *const *keep, size_t nkeep)
{
    json_t *m = json_object_get(parent, map);
    keep_only(m, keep, nkeep);
    if (json_is_object(m) && json_object_size(m) == 0)
        json_object_del(parent, map);
}

/*
 * Bounded memory: pods and endpoint slices are nearly all of the objects,
 * and nearly all of each is fields discovery never reads (containers,
 * conditions, statuses, hints, unrelated labels and annotations). Only what
 * dst_state.c and dst_rules.c read stays: for a pod its identity, the two
 * labels and one annotation that matter, owners, service account and IP;
 * for a slice its service label, ports, and per endpoint the addresses,
 * readiness and target. Services and namespaces are few: kept whole (minus
 * managedFields, object.c).
 */
static void dst_prune(const wf_k8s_resource_t *res, json_t *obj)
{
    static const char *const md[] = {"name", "namespace", "resourceVersion", "labels",
                                     "annotations", "ownerReferences"};
    static const char *const ann[] = {WF_DST_ANN_OPAQUE};
    json_t *meta = json_object_get(obj, "metadata");
    if (res->id == WF_K8S_POD) {
        static const char *const top[] = {"metadata", "spec", "status"};
        static const char *const labels[] = {"pod-template-hash", "linkerd.io/control-plane-ns"};
        static const char *const spec[] = {"serviceAccountName", "hostNetwork"};
        static const char *const status[] = {"podIP", "phase"};
        static const char *const ref[] = {"kind", "name", "controller"};
        keep_only(obj, top, WF_ARRAY_LEN(top));
        keep_only(meta, md, WF_ARRAY_LEN(md));
        keep_map(meta, "labels", labels, WF_ARRAY_LEN(labels));
        keep_map(meta, "annotations", ann, WF_ARRAY_LEN(ann));
        keep_only(json_object_get(obj, "spec"), spec, WF_ARRAY_LEN(spec));
        keep_only(json_object_get(obj, "status"), status, WF_ARRAY_LEN(status));
        json_t *refs = json_object_get(meta, "ownerReferences");
        for (size_t i = 0; i < json_array_size(refs); i++)
            keep_only(json_array_get(refs, i), ref, WF_ARRAY_LEN(ref));
    } else if (res->id == WF_K8S_ENDPOINTSLICE) {
        static const char *const top[] = {"metadata", "addressType", "ports", "endpoints"};
        static const char *const labels[] = {WF_K8S_LABEL_SERVICE_NAME};
        static const char *const ep[] = {"addresses", "conditions", "targetRef"};
        static const char *const cond[] = {"ready"};
        static const char *const target[] = {"kind", "name", "namespace"};
        keep_only(obj, top, WF_ARRAY_LEN(top));
        keep_only(meta, md, 4);
        keep_map(meta, "labels", labels, WF_ARRAY_LEN(labels));
        json_t *eps = json_object_get(obj, "endpoints");
        const char *ns = json_string_value(json_object_get(meta, "namespace"));
        for (size_t i = 0; i < json_array_size(eps); i++) {
            json_t *e = json_array_get(eps, i);
            keep_only(e, ep, WF_ARRAY_LEN(ep));
            keep_map(e, "conditions", cond, WF_ARRAY_LEN(cond));
            /* Absent means the same to the accessors, and each object
             * costs a few hundred bytes in jansson: ready is the default,
             * the target's namespace defaults to the slice's. */
            json_t *c = json_object_get(e, "conditions");
            if (json_is_true(json_object_get(c, "ready")))
                json_object_del(e, "conditions");
            json_t *t = json_object_get(e, "targetRef");
            keep_only(t, target, WF_ARRAY_LEN(target));
            const char *tns = json_string_value(json_object_get(t, "namespace"));
            if (tns != NULL && ns != NULL && strcmp(tns, ns) == 0)
                json_object_del(t, "namespace");
        }
    }
}

/* --- index helpers ---------------------------------------------------------------- */

/* Points key at obj (taking a reference), dropping what it pointed at. */
static void index_set(wf_hmap_t *m, const char *key, wf_k8s_obj_t *obj)
{
    void *old = NULL;
    if (wf_hmap_put(m, wf_str_from(key), wf_k8s_obj_ref(obj), &old) != 0) {
        wf_k8s_obj_unref(obj);
        wf_log_error("out of memory indexing %s/%s", obj->ns, obj->name);
        return;
    }
    wf_k8s_obj_unref(old);
}

/* Removes key when it points at an object with obj's namespace/name. */
static void index_unset(wf_hmap_t *m, const char *key, const wf_k8s_obj_t *obj)
{
    wf_k8s_obj_t *cur = wf_hmap_get(m, wf_str_from(key));
    if (cur != NULL && strcmp(cur->ns, obj->ns) == 0 && strcmp(cur->name, obj->name) == 0)
        wf_k8s_obj_unref(wf_hmap_del(m, wf_str_from(key)));
}

static void refresh_ip(dst_t *d, const char *ip)
{
    if (ip == NULL)
        return;
    char key[8 + INET6_ADDRSTRLEN];
    snprintf(key, sizeof(key), "i/%s", ip);
    dst_refresh(d, key);
}

static void refresh_svc(dst_t *d, const char *ns, const char *name)
{
    if (ns == NULL || name == NULL)
        return;
    char key[2 * WF_K8S_NAME_MAX + 4];
    snprintf(key, sizeof(key), "s/%s/%s", ns, name);
    dst_refresh(d, key);
    wf_k8s_obj_t *svc = wf_k8s_informer_get(d->inf[DST_SVC], ns, name);
    if (svc != NULL)
        refresh_ip(d, wf_k8s_svc_cluster_ip(svc));
}

/* A pod is reachable by its IP unless it shares the node's (hostNetwork)
 * or has finished (its IP may already belong to another pod). */
static const char *pod_index_ip(const wf_k8s_obj_t *pod)
{
    const char *phase = wf_k8s_pod_phase(pod);
    if (json_is_true(json_object_get(json_object_get(pod->json, "spec"), "hostNetwork")))
        return NULL;
    if (phase != NULL && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
        return NULL;
    return wf_k8s_pod_ip(pod);
}

/* Counts (delta +1) or uncounts (-1) the pods a slice's endpoints name. */
static void pod_svcs_adjust(dst_t *d, const wf_k8s_obj_t *slice, const char *svc, int delta)
{
    if (strlen(svc) > WF_DST_LABEL_MAX)
        return;
    size_t ne = wf_k8s_slice_nendpoints(slice);
    for (size_t i = 0; i < ne; i++) {
        wf_k8s_endpoint_t e;
        if (!wf_k8s_slice_endpoint(slice, i, &e) || e.target_kind == NULL ||
            strcmp(e.target_kind, "Pod") != 0 || e.target_name == NULL)
            continue;
        char key[2 * WF_K8S_NAME_MAX + 2];
        size_t kl = wf_k8s_obj_key(e.target_ns != NULL ? e.target_ns : slice->ns, e.target_name,
                                   key, sizeof(key));
        if (kl >= sizeof(key))
            continue;
        wf_str_t k = {key, kl};
        dst_pod_svcs_t *ps = wf_hmap_get(&d->pod_svcs, k);
        uint32_t j = 0;
        for (; ps != NULL && j < ps->n; j++)
            if (strcmp(ps->v[j].name, svc) == 0)
                break;
        if (delta < 0) {
            if (ps == NULL || j == ps->n)
                continue;
            if (--ps->v[j].count == 0)
                ps->v[j] = ps->v[--ps->n];
            if (ps->n == 0) {
                wf_hmap_del(&d->pod_svcs, k);
                free(ps->v);
                free(ps);
            }
            continue;
        }
        if (ps == NULL) {
            ps = calloc(1, sizeof(*ps));
            if (ps == NULL || wf_hmap_put(&d->pod_svcs, k, ps, NULL) != 0) {
                free(ps);
                continue;
            }
        }
        if (j < ps->n) {
            ps->v[j].count++;
            continue;
        }
        if (ps->n == ps->cap) {
            uint32_t nc = ps->cap ? ps->cap * 2 : 1;
            struct dst_pod_svc *v = realloc(ps->v, nc * sizeof(*v));
            if (v == NULL)
                continue;
            ps->v = v;
            ps->cap = nc;
        }
        ps->v[ps->n].count = 1;
        snprintf(ps->v[ps->n].name, sizeof(ps->v[ps->n].name), "%s", svc);
        ps->n++;
    }
}

static void slices_add(dst_t *d, wf_k8s_obj_t *slice)
{
    const char *svc = wf_k8s_slice_service(slice);
    if (svc == NULL)
        return;
    char key[2 * WF_K8S_NAME_MAX + 2];
    wf_k8s_obj_key(slice->ns, svc, key, sizeof(key));
    dst_slices_t *set = wf_hmap_get(&d->slices_by_svc, wf_str_from(key));
    if (set == NULL) {
        set = calloc(1, sizeof(*set));
        if (set == NULL || wf_hmap_put(&d->slices_by_svc, wf_str_from(key), set, NULL) != 0) {
            free(set);
            wf_log_error("out of memory indexing slice %s/%s", slice->ns, slice->name);
            return;
        }
    }
    if (set->n == set->cap) {
        size_t nc = set->cap ? set->cap * 2 : 2;
        wf_k8s_obj_t **v = realloc(set->v, nc * sizeof(*v));
        if (v == NULL) {
            wf_log_error("out of memory indexing slice %s/%s", slice->ns, slice->name);
            return;
        }
        set->v = v;
        set->cap = nc;
    }
    set->v[set->n++] = wf_k8s_obj_ref(slice);
    pod_svcs_adjust(d, slice, svc, +1);
}

static void slices_remove(dst_t *d, wf_k8s_obj_t *slice)
{
    const char *svc = wf_k8s_slice_service(slice);
    if (svc == NULL)
        return;
    char key[2 * WF_K8S_NAME_MAX + 2];
    wf_k8s_obj_key(slice->ns, svc, key, sizeof(key));
    dst_slices_t *set = wf_hmap_get(&d->slices_by_svc, wf_str_from(key));
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->n; i++)
        if (set->v[i] == slice) {
            pod_svcs_adjust(d, slice, svc, -1);
            wf_k8s_obj_unref(slice);
            set->v[i] = set->v[--set->n];
            break;
        }
    if (set->n == 0) {
        wf_hmap_del(&d->slices_by_svc, wf_str_from(key));
        free(set->v);
        free(set);
    }
}

/* --- informer callbacks ------------------------------------------------------------ */

static void on_event(wf_k8s_informer_t *inf, wf_k8s_event_t ev, wf_k8s_obj_t *obj,
                     wf_k8s_obj_t *old)
{
    dst_t *d = inf->data;
    wf_k8s_obj_t *cur = ev == WF_K8S_DELETED ? NULL : obj;
    if (ev == WF_K8S_DELETED)
        old = obj;
    wf_log_debug("%s %s %s/%s", wf_k8s_event_name(ev), inf->res->kind, obj->ns, obj->name);
    switch (inf->res->id) {
    case WF_K8S_NAMESPACE:
        dst_refresh_ns(d, obj->name);
        break;
    case WF_K8S_SERVICE: {
        const char *oip = old != NULL ? wf_k8s_svc_cluster_ip(old) : NULL;
        const char *nip = cur != NULL ? wf_k8s_svc_cluster_ip(cur) : NULL;
        if (oip != NULL)
            index_unset(&d->svc_by_ip, oip, old);
        if (nip != NULL)
            index_set(&d->svc_by_ip, nip, cur);
        char key[2 * WF_K8S_NAME_MAX + 4];
        snprintf(key, sizeof(key), "s/%s/%s", obj->ns, obj->name);
        dst_refresh(d, key);
        refresh_ip(d, oip);
        if (nip != NULL && (oip == NULL || strcmp(oip, nip) != 0))
            refresh_ip(d, nip);
        break;
    }
    case WF_K8S_ENDPOINTSLICE:
        if (old != NULL)
            slices_remove(d, old);
        if (cur != NULL)
            slices_add(d, cur);
        if (old != NULL)
            refresh_svc(d, old->ns, wf_k8s_slice_service(old));
        if (cur != NULL && (old == NULL || wf_k8s_slice_service(old) == NULL ||
                            wf_k8s_slice_service(cur) == NULL ||
                            strcmp(wf_k8s_slice_service(old), wf_k8s_slice_service(cur)) != 0))
            refresh_svc(d, cur->ns, wf_k8s_slice_service(cur));
        break;
    case WF_K8S_POD: {
        const char *oip = old != NULL ? pod_index_ip(old) : NULL;
        const char *nip = cur != NULL ? pod_index_ip(cur) : NULL;
        if (oip != NULL)
            index_unset(&d->pod_by_ip, oip, old);
        if (nip != NULL)
            index_set(&d->pod_by_ip, nip, cur);
        refresh_ip(d, oip);
        if (nip != NULL && (oip == NULL || strcmp(oip, nip) != 0))
            refresh_ip(d, nip);
        /* Its labels and identity show in the endpoints of the services
         * whose slices name it: only their streams are refreshed. */
        char key[2 * WF_K8S_NAME_MAX + 2];
        wf_k8s_obj_key(obj->ns, obj->name, key, sizeof(key));
        dst_pod_svcs_t *ps = wf_hmap_get(&d->pod_svcs, wf_str_from(key));
        for (uint32_t i = 0; ps != NULL && i < ps->n; i++)
            refresh_svc(d, obj->ns, ps->v[i].name);
        break;
    }
    default:
        break;
    }
}

static void on_synced(wf_k8s_informer_t *inf)
{
    dst_t *d = inf->data;
    wf_log_info("%s: initial list done (%u objects)", inf->res->plural, inf->cache.count);
    if (++d->nsynced == DST_NKINDS && d->on_ready != NULL)
        d->on_ready(d);
}

int dst_state_start(dst_t *d, void (*on_ready)(dst_t *d), char *err, size_t errlen)
{
    d->on_ready = on_ready;
    wf_k8s_informer_cbs_t cbs = {on_event, on_synced, dst_prune};
    /* Namespaces and services first: pods and slices refer to them. */
    for (int k = 0; k < DST_NKINDS; k++) {
        d->inf[k] = wf_k8s_watch(d->src, dst_resources[k], &cbs, d, err, errlen);
        if (d->inf[k] == NULL)
            return WF_EINVAL;
    }
    return 0;
}

static void unref_all(wf_hmap_t *m)
{
    wf_hmap_iter_t it;
    wf_hmap_iter_init(&it, m);
    for (wf_hmap_entry_t *e; (e = wf_hmap_iter_next(&it)) != NULL;)
        wf_k8s_obj_unref(e->val);
    wf_hmap_clear(m);
}

void dst_state_free(dst_t *d)
{
    unref_all(&d->svc_by_ip);
    unref_all(&d->pod_by_ip);
    wf_hmap_iter_t it;
    wf_hmap_iter_init(&it, &d->slices_by_svc);
    for (wf_hmap_entry_t *e; (e = wf_hmap_iter_next(&it)) != NULL;) {
        dst_slices_t *set = e->val;
        for (size_t i = 0; i < set->n; i++)
            wf_k8s_obj_unref(set->v[i]);
        free(set->v);
        free(set);
    }
    wf_hmap_clear(&d->slices_by_svc);
    wf_hmap_iter_init(&it, &d->pod_svcs);
    for (wf_hmap_entry_t *e; (e = wf_hmap_iter_next(&it)) != NULL;) {
        dst_pod_svcs_t *ps = e->val;
        free(ps->v);
        free(ps);
    }
    wf_hmap_clear(&d->pod_svcs);
    wf_k8s_source_free(d->src);
    d->src = NULL;
}

/* --- resolution --------------------------------------------------------------------- */

static const char *ns_opaque_ann(dst_t *d, const char *ns)
{
    wf_k8s_obj_t *o = wf_k8s_informer_get(d->inf[DST_NS], NULL, ns);
    return o != NULL ? wf_k8s_annotation(o, WF_DST_ANN_OPAQUE) : NULL;
}

static void eps_push(dst_eps_t *eps, const dst_ep_t *ep)
{
    if (eps->n == eps->cap) {
        size_t nc = eps->cap ? eps->cap * 2 : 8;
        dst_ep_t *v = realloc(eps->v, nc * sizeof(*v));
        if (v == NULL)
            return; /* out of memory: a partial set; the next change retries */
        eps->v = v;
        eps->cap = nc;
    }
    eps->v[eps->n++] = *ep;
}

static int ep_cmp(const void *a, const void *b)
{
    const dst_ep_t *x = a, *y = b;
    if (x->iplen != y->iplen)
        return x->iplen < y->iplen ? -1 : 1;
    int c = memcmp(x->ip, y->ip, x->iplen);
    if (c != 0)
        return c;
    return x->port < y->port ? -1 : x->port > y->port;
}

static bool parse_ip(const char *s, dst_ep_t *ep)
{
    if (s == NULL)
        return false;
    if (inet_pton(AF_INET, s, ep->ip) == 1) {
        ep->iplen = 4;
        return true;
    }
    if (inet_pton(AF_INET6, s, ep->ip) == 1) {
        ep->iplen = 16;
        return true;
    }
    return false;
}

/* Ready endpoints of svc for its port `port`: the slices' port named like
 * the Service port (so a named targetPort is resolved per slice, as the
 * endpoint-slice controller wrote it); a port the Service does not declare
 * is looked up by number among the slices' ports. */
static void service_eps(dst_t *d, wf_k8s_obj_t *svc, uint16_t port, dst_eps_t *eps)
{
    wf_k8s_svc_port_t sp;
    bool declared = wf_k8s_svc_find_port(svc, port, &sp);
    const char *svc_ann = wf_k8s_annotation(svc, WF_DST_ANN_OPAQUE);
    const char *ns_ann = ns_opaque_ann(d, svc->ns);
    char key[2 * WF_K8S_NAME_MAX + 2];
    wf_k8s_obj_key(svc->ns, svc->name, key, sizeof(key));
    dst_slices_t *set = wf_hmap_get(&d->slices_by_svc, wf_str_from(key));
    for (size_t s = 0; set != NULL && s < set->n; s++) {
        wf_k8s_obj_t *slice = set->v[s];
        uint16_t eport = 0;
        size_t np = wf_k8s_slice_nports(slice);
        for (size_t i = 0; i < np && eport == 0; i++) {
            wf_k8s_slice_port_t p;
            if (!wf_k8s_slice_port(slice, i, &p))
                continue;
            if (declared ? strcmp(p.name, sp.name) == 0 : p.port == port)
                eport = p.port;
        }
        if (eport == 0)
            continue; /* this slice has no endpoints for the port */
        size_t ne = wf_k8s_slice_nendpoints(slice);
        for (size_t i = 0; i < ne; i++) {
            wf_k8s_endpoint_t e;
            if (!wf_k8s_slice_endpoint(slice, i, &e) || !e.ready)
                continue;
            wf_k8s_obj_t *pod = NULL;
            if (e.target_kind != NULL && strcmp(e.target_kind, "Pod") == 0 &&
                e.target_name != NULL)
                pod = wf_k8s_informer_get(d->inf[DST_POD],
                                          e.target_ns != NULL ? e.target_ns : slice->ns,
                                          e.target_name);
            const char *pod_ann = pod != NULL ? wf_k8s_annotation(pod, WF_DST_ANN_OPAQUE) : NULL;
            for (size_t a = 0; a < json_array_size(e.addresses); a++) {
                dst_ep_t ep = {.port = eport, .pod = pod};
                if (!parse_ip(json_string_value(json_array_get(e.addresses, a)), &ep))
                    continue;
                ep.opaque = wf_dst_opaque(svc_ann, port, pod_ann, ns_ann, eport,
                                          declared ? sp.app_protocol : NULL);
                eps_push(eps, &ep);
            }
        }
    }
}

void dst_resolve(dst_t *d, const dst_watch_t *w, uint16_t port, dst_resolved_t *r,
                 dst_eps_t *eps)
{
    memset(r, 0, sizeof(*r));
    wf_k8s_obj_t *svc = NULL, *pod = NULL;
    if (w->t.is_ip) {
        svc = wf_hmap_get(&d->svc_by_ip, wf_str_from(w->t.ip_text));
        if (svc == NULL)
            pod = wf_hmap_get(&d->pod_by_ip, wf_str_from(w->t.ip_text));
    } else {
        svc = wf_k8s_informer_get(d->inf[DST_SVC], w->t.ns, w->t.name);
        r->ns = w->t.ns;
    }
    if (svc != NULL) {
        r->exists = true;
        r->svc = svc;
        r->ns = svc->ns;
        wf_k8s_svc_port_t sp;
        bool declared = wf_k8s_svc_find_port(svc, port, &sp);
        r->profile_opaque =
            wf_dst_opaque(wf_k8s_annotation(svc, WF_DST_ANN_OPAQUE), port, NULL,
                          ns_opaque_ann(d, svc->ns), declared ? sp.target_port : 0,
                          declared ? sp.app_protocol : NULL);
        if (eps != NULL)
            service_eps(d, svc, port, eps);
    } else if (pod != NULL) {
        r->exists = true;
        r->pod = pod;
        r->ns = pod->ns;
        r->profile_opaque = wf_dst_opaque(NULL, port, wf_k8s_annotation(pod, WF_DST_ANN_OPAQUE),
                                          ns_opaque_ann(d, pod->ns), port, NULL);
        if (eps != NULL) {
            dst_ep_t ep = {.port = port, .pod = pod, .opaque = r->profile_opaque};
            memcpy(ep.ip, w->t.ip, sizeof(ep.ip));
            ep.iplen = w->t.family == AF_INET ? 4 : 16;
            eps_push(eps, &ep);
        }
    } else {
        r->profile_opaque = wf_dst_opaque(NULL, port, NULL,
                                          r->ns != NULL ? ns_opaque_ann(d, r->ns) : NULL, port,
                                          NULL);
    }
    if (eps != NULL && eps->n > 1) {
        qsort(eps->v, eps->n, sizeof(*eps->v), ep_cmp);
        size_t o = 1;
        for (size_t i = 1; i < eps->n; i++)
            if (ep_cmp(&eps->v[i], &eps->v[o - 1]) != 0)
                eps->v[o++] = eps->v[i];
        eps->n = o;
    }
}
