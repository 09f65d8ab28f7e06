/*
 * local_publish.c — what the supervisor shows the world after each tick:
 * Service VIPs, the node's kube-proxy-like rules, each namespace's hosts
 * file, the object store, and status.json for `weft up`.
 *
 * Store contract (the destination controller reads it): root <state>/store;
 * one file per object, <store>/<resource>/<namespace>/<name>.json
 * (<store>/<resource>/<name>.json for cluster-scoped kinds, so
 * <store>/namespaces/<name>.json), Kubernetes JSON shape; written to
 * ".<name>.json.tmp" in the same directory and renamed, deleted by unlink.
 * A file is rewritten only when its content changed, and then gets a new
 * resourceVersion.
 */
#include "local_net.h"
#include "local_sup.h"
#include "local_sys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

json_t *wf_lm_ns_annotations(wf_lm_sup_t *s, const char *ns)
{
    size_t i;
    json_t *obj;
    json_array_foreach (s->applied, i, obj) {
        if (strcmp(wf_lm_kind(obj), "Namespace") == 0 && strcmp(wf_lm_name(obj), ns) == 0)
            return wf_lm_path(obj, "metadata.annotations");
    }
    return NULL;
}

static void wf_lm_iso8601(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- Services -------------------------------------------------------------------- */

static wf_lm_svc_t *wf_lm_svc_find(wf_lm_sup_t *s, const char *key)
{
    for (size_t i = 0; i < s->nsvcs; i++)
        if (strcmp(s->svcs[i].key, key) == 0)
            return &s->svcs[i];
    return NULL;
}

/* Gives every applied Service a VIP (its spec.clusterIP when valid and
 * free, else the next free one; none for clusterIP: None) and forgets
 * Services no longer applied. */
static void wf_lm_svcs_sync(wf_lm_sup_t *s)
{
    size_t i;
    json_t *obj;
    char key[600];
    for (i = 0; i < s->nsvcs;) {
        bool found = false;
        size_t j;
        json_array_foreach (s->applied, j, obj) {
            wf_lm_key(obj, key, sizeof(key));
            if (strcmp(key, s->svcs[i].key) == 0)
                found = true;
        }
        if (found) {
            i++;
            continue;
        }
        if (s->svcs[i].vip[0])
            wf_lm_ipam_release(&s->svc_ips, s->svcs[i].vip);
        free(s->svcs[i].key);
        s->svcs[i] = s->svcs[--s->nsvcs];
    }
    json_array_foreach (s->applied, i, obj) {
        if (strcmp(wf_lm_kind(obj), "Service") != 0)
            continue;
        wf_lm_key(obj, key, sizeof(key));
        if (wf_lm_svc_find(s, key))
            continue;
        wf_lm_svc_t *ns = realloc(s->svcs, (s->nsvcs + 1) * sizeof(*ns));
        if (ns == NULL)
            return;
        s->svcs = ns;
        wf_lm_svc_t *v = &s->svcs[s->nsvcs++];
        memset(v, 0, sizeof(*v));
        v->key = strdup(key);
        const char *want = json_string_value(wf_lm_path(obj, "spec.clusterIP"));
        if (want && strcmp(want, "None") == 0)
            continue;
        if (want && *want && wf_lm_ipam_reserve(&s->svc_ips, want) == 0) {
            snprintf(v->vip, sizeof(v->vip), "%s", want);
            continue;
        }
        if (want && *want)
            fprintf(stderr,
                    "weft: warning: Service %s: spec.clusterIP %s is not a free address "
                    "in " WF_LM_SVC_CIDR "; allocating one\n",
                    key, want);
        if (wf_lm_ipam_alloc(&s->svc_ips, v->vip) < 0)
            fprintf(stderr, "weft: Service %s: no free address in " WF_LM_SVC_CIDR "\n", key);
    }
}

/* True if the pod's labels include every pair of a non-empty selector. */
static bool wf_lm_selects(json_t *sel, wf_lm_pod_t *pod)
{
    if (!json_is_object(sel) || json_object_size(sel) == 0)
        return false;
    json_t *labels = wf_lm_path(pod->tmpl, "metadata.labels");
    const char *k;
    json_t *v;
    json_object_foreach (sel, k, v) {
        if (!json_equal(v, json_object_get(labels, k)))
            return false;
    }
    return true;
}

/* The container port a Service port's targetPort means in this pod; 0 if
 * a named port is not found. */
static int wf_lm_target_port(json_t *sp, wf_lm_pod_t *pod)
{
    json_t *tp = json_object_get(sp, "targetPort");
    if (tp == NULL)
        return (int)json_integer_value(json_object_get(sp, "port"));
    if (json_is_integer(tp))
        return (int)json_integer_value(tp);
    const char *want = json_string_value(tp);
    size_t i, j;
    json_t *c, *p;
    json_array_foreach (wf_lm_path(pod->tmpl, "spec.containers"), i, c) {
        json_array_foreach (json_object_get(c, "ports"), j, p) {
            const char *n = json_string_value(json_object_get(p, "name"));
            if (n && want && strcmp(n, want) == 0)
                return (int)json_integer_value(json_object_get(p, "containerPort"));
        }
    }
    return 0;
}

/* ---- rules ------------------------------------------------------------------------ */

/* The node's nat and filter tables (iptables-restore input). */
static char *wf_lm_rules(wf_lm_sup_t *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return NULL;
    FILE *flt = NULL;
    char *fbuf = NULL;
    size_t flen = 0;
    flt = open_memstream(&fbuf, &flen);
    fprintf(f, "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
               ":POSTROUTING ACCEPT [0:0]\n:WEFT-SERVICES - [0:0]\n:WEFT-POSTROUTING - [0:0]\n");
    int chain = 0;
    char body[1 << 16];
    size_t boff = 0;
    body[0] = '\0';
    size_t i;
    json_t *obj;
    json_array_foreach (s->applied, i, obj) {
        if (strcmp(wf_lm_kind(obj), "Service") != 0)
            continue;
        char key[600];
        wf_lm_key(obj, key, sizeof(key));
        wf_lm_svc_t *v = wf_lm_svc_find(s, key);
        if (v == NULL || v->vip[0] == '\0')
            continue;
        json_t *sel = wf_lm_path(obj, "spec.selector"), *sp;
        size_t j;
        json_array_foreach (wf_lm_path(obj, "spec.ports"), j, sp) {
            int port = (int)json_integer_value(json_object_get(sp, "port"));
            int svc_chain = ++chain;
            size_t nready = 0;
            for (size_t k = 0; k < s->npods; k++) {
                wf_lm_pod_t *p = s->pods[k];
                if (wf_lm_pod_ready(p) && strcmp(p->ns, wf_lm_namespace(obj)) == 0 &&
                    wf_lm_selects(sel, p) && wf_lm_target_port(sp, p) > 0)
                    nready++;
            }
            fprintf(f, ":WEFT-SVC-%d - [0:0]\n", svc_chain);
            if (nready == 0) {
                /* No endpoint: refuse at once, as kube-proxy does (the
                 * Service range is local to the node: see local_net.c). */
                fprintf(flt,
                        "-A INPUT -d %s/32 -p tcp --dport %d -j REJECT --reject-with "
                        "tcp-reset\n",
                        v->vip, port);
                continue;
            }
            boff += (size_t)snprintf(body + boff, sizeof(body) - boff,
                                     "-A WEFT-SERVICES -d %s/32 -p tcp --dport %d -j WEFT-SVC-%d\n",
                                     v->vip, port, svc_chain);
            size_t idx = 0;
            for (size_t k = 0; k < s->npods && boff < sizeof(body) - 512; k++) {
                wf_lm_pod_t *p = s->pods[k];
                int tport = wf_lm_target_port(sp, p);
                if (!wf_lm_pod_ready(p) || strcmp(p->ns, wf_lm_namespace(obj)) != 0 ||
                    !wf_lm_selects(sel, p) || tport <= 0)
                    continue;
                int sep = ++chain;
                fprintf(f, ":WEFT-SEP-%d - [0:0]\n", sep);
                size_t left = nready - idx;
                if (left > 1)
                    boff += (size_t)snprintf(body + boff, sizeof(body) - boff,
                                             "-A WEFT-SVC-%d -m statistic --mode random "
                                             "--probability %.10f -j WEFT-SEP-%d\n",
                                             svc_chain, 1.0 / (double)left, sep);
                else
                    boff += (size_t)snprintf(body + boff, sizeof(body) - boff,
                                             "-A WEFT-SVC-%d -j WEFT-SEP-%d\n", svc_chain, sep);
                /* Hairpin: a pod reaching itself through the VIP is SNATed
                 * to the node so the reply comes back through the node. */
                boff += (size_t)snprintf(body + boff, sizeof(body) - boff,
                                         "-A WEFT-SEP-%d -s %s/32 -j MARK --set-xmark "
                                         "0x4000/0x4000\n"
                                         "-A WEFT-SEP-%d -p tcp -j DNAT --to-destination %s:%d\n",
                                         sep, p->ip, sep, p->ip, tport);
                idx++;
            }
        }
    }
    fprintf(f,
            "-A PREROUTING -j WEFT-SERVICES\n-A OUTPUT -j WEFT-SERVICES\n"
            "-A POSTROUTING -j WEFT-POSTROUTING\n"
            "-A WEFT-POSTROUTING -m mark --mark 0x4000/0x4000 -j SNAT --to-source " WF_LM_NODE_IP
            "\n%sCOMMIT\n",
            body);
    fclose(flt);
    fprintf(f,
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n%s"
            "COMMIT\n",
            fbuf ? fbuf : "");
    free(fbuf);
    fclose(f);
    return buf;
}

/* ---- hosts --------------------------------------------------------------------------- */

static char *wf_lm_hosts(wf_lm_sup_t *s, const char *ns)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return NULL;
    fprintf(f,
            "# written by weft (local mode) for namespace %s\n"
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" WF_LM_CP_IP
            "\tweft-identity." WF_LM_CP_NS ".svc.cluster.local "
            "weft-identity." WF_LM_CP_NS ".svc weft-identity." WF_LM_CP_NS
            " weft-destination." WF_LM_CP_NS ".svc.cluster.local weft-destination." WF_LM_CP_NS
            ".svc weft-destination." WF_LM_CP_NS "\n",
            ns);
    size_t i;
    json_t *obj;
    json_array_foreach (s->applied, i, obj) {
        if (strcmp(wf_lm_kind(obj), "Service") != 0)
            continue;
        char key[600];
        wf_lm_key(obj, key, sizeof(key));
        wf_lm_svc_t *v = wf_lm_svc_find(s, key);
        const char *sns = wf_lm_namespace(obj), *name = wf_lm_name(obj);
        bool same = strcmp(sns, ns) == 0;
        if (v && v->vip[0]) {
            fprintf(f, "%s\t%s.%s.svc.cluster.local %s.%s.svc %s.%s%s%s\n", v->vip, name, sns, name,
                    sns, name, sns, same ? " " : "", same ? name : "");
            continue;
        }
        /* Headless: the ready pods' own addresses, and each pod's own name
         * under the Service (<pod>.<svc>.<ns>.svc.cluster.local, what a
         * StatefulSet's serviceName gives its pods in cluster DNS). */
        for (size_t k = 0; k < s->npods; k++) {
            wf_lm_pod_t *p = s->pods[k];
            if (!wf_lm_pod_ready(p) || strcmp(p->ns, sns) != 0 ||
                !wf_lm_selects(wf_lm_path(obj, "spec.selector"), p))
                continue;
            fprintf(f, "%s\t%s.%s.svc.cluster.local %s.%s.svc %s.%s%s%s\n", p->ip, name, sns, name,
                    sns, name, sns, same ? " " : "", same ? name : "");
            fprintf(f, "%s\t%s.%s.%s.svc.cluster.local %s.%s.%s.svc %s.%s.%s", p->ip, p->name, name,
                    sns, p->name, name, sns, p->name, name, sns);
            if (same)
                fprintf(f, " %s.%s", p->name, name);
            fputc('\n', f);
        }
    }
    fclose(f);
    return buf;
}

/* ---- store ------------------------------------------------------------------------------ */

static void wf_lm_meta_base(json_t *o, const char *ns)
{
    json_t *md = json_object_get(o, "metadata");
    if (!json_is_object(md)) {
        md = json_object();
        json_object_set_new(o, "metadata", md);
    }
    if (ns)
        json_object_set_new(md, "namespace", json_string(ns));
    if (!json_is_object(json_object_get(md, "labels")))
        json_object_set_new(md, "labels", json_object());
    if (!json_is_object(json_object_get(md, "annotations")))
        json_object_set_new(md, "annotations", json_object());
    if (!json_is_array(json_object_get(md, "ownerReferences")))
        json_object_set_new(md, "ownerReferences", json_array());
}

/* The store path of an object, relative to <store>. */
static void wf_lm_store_rel(json_t *o, char *out, size_t outlen)
{
    char key[600];
    wf_lm_key(o, key, sizeof(key));
    snprintf(out, outlen, "%s.json", key);
}

static const char *wf_lm_uid_for(wf_lm_sup_t *s, const char *rel)
{
    json_t *u = json_object_get(s->uids, rel);
    if (u == NULL) {
        char id[37];
        wf_lm_uuid(id);
        u = json_string(id);
        json_object_set_new(s->uids, rel, u);
    }
    return json_string_value(u);
}

static void wf_lm_owner_ref(json_t *o, const char *api, const char *kind, const char *name,
                            const char *uid)
{
    json_array_append_new(json_object_get(json_object_get(o, "metadata"), "ownerReferences"),
                          json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion", api, "kind",
                                    kind, "name", name, "uid", uid, "controller", 1,
                                    "blockOwnerDeletion", 1));
}

/* Adds an object to the desired store (takes the reference). */
static void wf_lm_want(wf_lm_sup_t *s, json_t *want, json_t *o)
{
    char rel[700];
    wf_lm_store_rel(o, rel, sizeof(rel));
    json_t *md = json_object_get(o, "metadata");
    json_object_set_new(md, "uid", json_string(wf_lm_uid_for(s, rel)));
    if (!json_is_string(json_object_get(md, "creationTimestamp"))) {
        /* First time the store sees it, kept across rewrites. */
        char ck[720], ts[32];
        snprintf(ck, sizeof(ck), "%s#created", rel);
        json_t *c = json_object_get(s->uids, ck);
        if (c == NULL) {
            wf_lm_iso8601(time(NULL), ts);
            c = json_string(ts);
            json_object_set_new(s->uids, ck, c);
        }
        json_object_set(md, "creationTimestamp", c);
    }
    json_object_set_new(want, rel, o);
}

static json_t *wf_lm_pod_object(wf_lm_sup_t *s, wf_lm_pod_t *pod)
{
    json_t *o = json_pack("{s:s, s:s, s:O}", "apiVersion", "v1", "kind", "Pod", "metadata",
                          json_object_get(pod->tmpl, "metadata"));
    json_t *md = json_deep_copy(json_object_get(o, "metadata"));
    json_object_set_new(o, "metadata", md);
    json_object_set_new(md, "name", json_string(pod->name));
    wf_lm_meta_base(o, pod->ns);
    char ts[32];
    wf_lm_iso8601(pod->created, ts);
    json_object_set_new(md, "creationTimestamp", json_string(ts));
    json_t *labels = json_object_get(md, "labels"), *ann = json_object_get(md, "annotations");
    json_t *spec = json_deep_copy(json_object_get(pod->tmpl, "spec"));
    if (json_string_value(json_object_get(spec, "serviceAccountName")) == NULL)
        json_object_set_new(spec, "serviceAccountName", json_string("default"));
    json_object_set_new(spec, "nodeName", json_string("local"));
    if (pod->inj.mode != WF_LM_INJECT_DISABLED) {
        json_object_set_new(labels, "linkerd.io/control-plane-ns", json_string(WF_LM_CP_NS));
        json_object_set_new(labels, "linkerd.io/workload-ns", json_string(pod->ns));
        json_object_set_new(ann, "linkerd.io/proxy-version", json_string(WEFT_VERSION));
        json_object_set_new(ann, "linkerd.io/identity-mode", json_string("default"));
        if (pod->owner_kind && strcmp(pod->owner_kind, "ReplicaSet") == 0) {
            const char *dep = strchr(pod->owner_key, '/');
            dep = dep ? strchr(dep + 1, '/') : NULL;
            if (dep)
                json_object_set_new(labels, "linkerd.io/proxy-deployment", json_string(dep + 1));
        } else if (pod->owner_kind && strcmp(pod->owner_kind, "StatefulSet") == 0) {
            json_object_set_new(labels, "linkerd.io/proxy-statefulset",
                                json_string(pod->owner_name));
        }
        json_t *cs = json_object_get(spec, "containers");
        json_array_append_new(cs, json_pack("{s:s, s:s, s:[{s:s, s:i}, {s:s, s:i}], s:{s:i}}",
                                            "name", WF_LM_PROXY_CONTAINER, "image", "weft-proxy",
                                            "ports", "name", "linkerd-proxy", "containerPort", 4143,
                                            "name", "linkerd-admin", "containerPort", 4191,
                                            "securityContext", "runAsUser", WF_LM_PROXY_UID));
    } else if (pod->inj.warning[0]) {
        json_object_set_new(ann, "weft.io/inject-warning", json_string(pod->inj.warning));
    }
    json_object_set_new(o, "spec", spec);
    if (pod->owner_kind) {
        char rel[700];
        if (strcmp(pod->owner_kind, "ReplicaSet") == 0)
            snprintf(rel, sizeof(rel), "replicasets/%s/%s.json", pod->ns, pod->owner_name);
        else
            snprintf(rel, sizeof(rel), "statefulsets/%s/%s.json", pod->ns, pod->owner_name);
        wf_lm_owner_ref(o, "apps/v1", pod->owner_kind, pod->owner_name, wf_lm_uid_for(s, rel));
    }
    bool ready = wf_lm_pod_ready(pod);
    json_t *st = json_object();
    json_object_set_new(st, "phase", json_string(wf_lm_pod_phase(pod)));
    if (pod->state != WF_LM_POD_NEW) {
        json_object_set_new(st, "podIP", json_string(pod->ip));
        json_object_set_new(st, "podIPs", json_pack("[{s:s}]", "ip", pod->ip));
        json_object_set_new(st, "hostIP", json_string(WF_LM_NODE_IP));
    }
    json_object_set_new(st, "startTime", json_string(ts));
    json_object_set_new(st, "conditions",
                        json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "type", "PodScheduled",
                                  "status", "True", "type", "ContainersReady", "status",
                                  ready ? "True" : "False", "type", "Ready", "status",
                                  ready ? "True" : "False"));
    if (pod->message[0])
        json_object_set_new(st, "message", json_string(pod->message));
    json_t *css = json_array();
    for (size_t i = 0; i <= pod->nprocs; i++) {
        wf_lm_proc_t *p = i < pod->nprocs ? &pod->procs[i] : &pod->proxy;
        if (i == pod->nprocs && pod->inj.mode == WF_LM_INJECT_DISABLED)
            break;
        json_t *state;
        char st_ts[32];
        wf_lm_iso8601(p->started_wall, st_ts);
        if (p->pid > 0)
            state = json_pack("{s:{s:s}}", "running", "startedAt", st_ts);
        else if (p->done)
            state = json_pack("{s:{s:i}}", "terminated", "exitCode", p->last_exit);
        else
            state = json_pack("{s:{s:s}}", "waiting", "reason",
                              p->ever_started ? "CrashLoopBackOff" : "ContainerCreating");
        json_array_append_new(css,
                              json_pack("{s:s, s:b, s:i, s:b, s:o}", "name", p->name ? p->name : "",
                                        "ready", p->ready, "restartCount", p->restarts, "started",
                                        p->pid > 0, "state", state));
    }
    json_object_set_new(st, "containerStatuses", css);
    json_object_set_new(o, "status", st);
    return o;
}

static json_t *wf_lm_slice(wf_lm_sup_t *s, json_t *svc, const char *svc_uid)
{
    const char *ns = wf_lm_namespace(svc), *name = wf_lm_name(svc);
    char sfx[16];
    json_t *seed = json_string(name);
    wf_lm_template_hash(seed, sfx);
    json_decref(seed);
    sfx[5] = '\0';
    char sname[300];
    snprintf(sname, sizeof(sname), "%s-%s", name, sfx);
    json_t *o = json_pack(
        "{s:s, s:s, s:{s:s, s:{s:s, s:s}}, s:s}", "apiVersion", "discovery.k8s.io/v1", "kind",
        "EndpointSlice", "metadata", "name", sname, "labels", "kubernetes.io/service-name", name,
        "endpointslice.kubernetes.io/managed-by", "weft.io/local", "addressType", "IPv4");
    wf_lm_meta_base(o, ns);
    wf_lm_owner_ref(o, "v1", "Service", name, svc_uid);
    json_t *eps = json_array(), *ports = json_array();
    json_t *sel = wf_lm_path(svc, "spec.selector");
    wf_lm_pod_t *first = NULL;
    for (size_t k = 0; k < s->npods; k++) {
        wf_lm_pod_t *p = s->pods[k];
        if (!wf_lm_pod_live(p) || p->state == WF_LM_POD_NEW || strcmp(p->ns, ns) != 0 ||
            !wf_lm_selects(sel, p))
            continue;
        if (first == NULL || (wf_lm_pod_ready(p) && !wf_lm_pod_ready(first)))
            first = p;
        char prel[700];
        snprintf(prel, sizeof(prel), "pods/%s/%s.json", p->ns, p->name);
        bool ready = wf_lm_pod_ready(p);
        json_array_append_new(
            eps, json_pack("{s:[s], s:{s:b, s:b, s:b}, s:{s:s, s:s, s:s, s:s}, s:s}", "addresses",
                           p->ip, "conditions", "ready", ready, "serving", ready, "terminating", 0,
                           "targetRef", "kind", "Pod", "name", p->name, "namespace", p->ns, "uid",
                           wf_lm_uid_for(s, prel), "nodeName", "local"));
    }
    size_t j;
    json_t *sp;
    json_array_foreach (wf_lm_path(svc, "spec.ports"), j, sp) {
        int tport = first ? wf_lm_target_port(sp, first) : 0;
        if (tport <= 0) {
            json_t *tp = json_object_get(sp, "targetPort");
            if (tp != NULL && !json_is_integer(tp))
                continue; /* a named port no pod has: Kubernetes leaves it out too */
            tport = (int)json_integer_value(tp ? tp : json_object_get(sp, "port"));
        }
        json_t *port = json_pack("{s:i, s:s}", "port", tport, "protocol", "TCP");
        const char *pn = json_string_value(json_object_get(sp, "name"));
        json_object_set_new(port, "name", json_string(pn ? pn : ""));
        json_t *ap = json_object_get(sp, "appProtocol");
        if (json_is_string(ap))
            json_object_set(port, "appProtocol", ap);
        json_array_append_new(ports, port);
    }
    json_object_set_new(o, "endpoints", eps);
    json_object_set_new(o, "ports", ports);
    return o;
}

static json_t *wf_lm_desired_store(wf_lm_sup_t *s)
{
    json_t *want = json_object();
    json_t *nss = json_object(); /* every namespace in use */
    json_object_set_new(nss, "default", json_true());
    size_t i;
    json_t *obj;
    json_array_foreach (s->applied, i, obj) {
        const char *kind = wf_lm_kind(obj);
        if (!wf_lm_kind_cluster_scoped(kind))
            json_object_set_new(nss, wf_lm_namespace(obj), json_true());
        if (strcmp(kind, "Pod") == 0)
            continue; /* published from the running pods */
        json_t *o = json_deep_copy(obj);
        wf_lm_meta_base(o, wf_lm_kind_cluster_scoped(kind) ? NULL : wf_lm_namespace(obj));
        if (wf_lm_kind_cluster_scoped(kind))
            json_object_del(json_object_get(o, "metadata"), "namespace");
        if (strcmp(kind, "Service") == 0) {
            char key[600];
            wf_lm_key(obj, key, sizeof(key));
            wf_lm_svc_t *v = wf_lm_svc_find(s, key);
            json_t *spec = json_object_get(o, "spec");
            if (!json_is_object(spec)) {
                spec = json_object();
                json_object_set_new(o, "spec", spec);
            }
            const char *ip = v && v->vip[0] ? v->vip : "None";
            json_object_set_new(spec, "clusterIP", json_string(ip));
            json_object_set_new(spec, "clusterIPs", json_pack("[s]", ip));
            if (json_object_get(spec, "type") == NULL)
                json_object_set_new(spec, "type", json_string("ClusterIP"));
        } else if (strcmp(kind, "Deployment") == 0 || strcmp(kind, "StatefulSet") == 0) {
            char key[600];
            wf_lm_key(obj, key, sizeof(key));
            int n = 0, r = 0;
            for (size_t k = 0; k < s->npods; k++) {
                wf_lm_pod_t *p = s->pods[k];
                if (wf_lm_pod_live(p) && p->owner_key && strcmp(p->owner_key, key) == 0) {
                    n++;
                    r += wf_lm_pod_ready(p);
                }
            }
            json_object_set_new(o, "status",
                                json_pack("{s:i, s:i, s:i, s:i}", "replicas", n, "readyReplicas", r,
                                          "availableReplicas", r, "updatedReplicas", n));
        }
        wf_lm_want(s, want, o);
    }
    for (size_t k = 0; k < s->npods; k++)
        json_object_set_new(nss, s->pods[k]->ns, json_true());
    /* Namespaces and their default ServiceAccounts, declared or implied. */
    const char *ns;
    json_t *dummy;
    json_object_foreach (nss, ns, dummy) {
        char rel[400];
        snprintf(rel, sizeof(rel), "namespaces/%s.json", ns);
        if (json_object_get(want, rel) == NULL) {
            json_t *o = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
                                  "metadata", "name", ns);
            wf_lm_meta_base(o, NULL);
            wf_lm_want(s, want, o);
        }
        snprintf(rel, sizeof(rel), "serviceaccounts/%s/default.json", ns);
        if (json_object_get(want, rel) == NULL) {
            json_t *o = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
                                  "ServiceAccount", "metadata", "name", "default");
            wf_lm_meta_base(o, ns);
            wf_lm_want(s, want, o);
        }
    }
    json_decref(nss);
    /* ReplicaSets (one per Deployment template hash still running), pods. */
    for (size_t k = 0; k < s->npods; k++) {
        wf_lm_pod_t *p = s->pods[k];
        if (!wf_lm_pod_live(p) || p->internal)
            continue;
        if (p->owner_kind && strcmp(p->owner_kind, "ReplicaSet") == 0) {
            char rel[700];
            snprintf(rel, sizeof(rel), "replicasets/%s/%s.json", p->ns, p->owner_name);
            if (json_object_get(want, rel) == NULL) {
                const char *dep = strrchr(p->owner_key, '/');
                char drel[700];
                snprintf(drel, sizeof(drel), "deployments/%s/%s.json", p->ns, dep ? dep + 1 : "");
                json_t *o = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}}", "apiVersion", "apps/v1",
                                      "kind", "ReplicaSet", "metadata", "name", p->owner_name,
                                      "labels", "pod-template-hash", p->hash);
                wf_lm_meta_base(o, p->ns);
                wf_lm_owner_ref(o, "apps/v1", "Deployment", dep ? dep + 1 : "",
                                wf_lm_uid_for(s, drel));
                wf_lm_want(s, want, o);
            }
        }
        char prel[700];
        snprintf(prel, sizeof(prel), "pods/%s/%s.json", p->ns, p->name);
        json_t *o = wf_lm_pod_object(s, p);
        json_object_set_new(json_object_get(o, "metadata"), "uid",
                            json_string(wf_lm_uid_for(s, prel)));
        json_object_set_new(want, prel, o);
    }
    /* One EndpointSlice per Service with a selector. */
    json_array_foreach (s->applied, i, obj) {
        if (strcmp(wf_lm_kind(obj), "Service") != 0 ||
            json_object_size(wf_lm_path(obj, "spec.selector")) == 0)
            continue;
        char rel[700];
        wf_lm_store_rel(obj, rel, sizeof(rel));
        wf_lm_want(s, want, wf_lm_slice(s, obj, wf_lm_uid_for(s, rel)));
    }
    return want;
}

static void wf_lm_store_sync(wf_lm_sup_t *s)
{
    json_t *want = wf_lm_desired_store(s);
    char store[PATH_MAX], path[PATH_MAX + 800];
    wf_lm_path_join(s->paths, "store", store, sizeof(store));
    const char *rel;
    json_t *o;
    json_object_foreach (want, rel, o) {
        json_object_del(json_object_get(o, "metadata"), "resourceVersion");
        char *body = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
        if (body == NULL)
            continue;
        json_t *prev = json_object_get(s->published, rel);
        if (prev && strcmp(json_string_value(json_array_get(prev, 0)), body) == 0) {
            free(body);
            continue;
        }
        char rv[32];
        snprintf(rv, sizeof(rv), "%lld", (long long)++s->rv);
        json_object_set_new(json_object_get(o, "metadata"), "resourceVersion", json_string(rv));
        char *out = json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(1));
        snprintf(path, sizeof(path), "%s/%s", store, rel);
        char *slash = strrchr(path, '/');
        *slash = '\0';
        wf_lm_mkdirs(path, 0755);
        *slash = '/';
        size_t olen = out ? strlen(out) : 0;
        if (out && olen + 1 < (1u << 26)) {
            out = realloc(out, olen + 2);
            out[olen] = '\n';
            out[olen + 1] = '\0';
        }
        if (out == NULL || wf_lm_write_atomic(path, out, strlen(out), 0644) < 0)
            fprintf(stderr, "weft: store: cannot write %s: %s\n", path, strerror(errno));
        else
            json_object_set_new(s->published, rel, json_pack("[s, s]", body, rv));
        free(out);
        free(body);
    }
    /* Objects gone since the last publish. */
    void *tmp;
    json_object_foreach_safe (s->published, tmp, rel, o) {
        if (json_object_get(want, rel) != NULL)
            continue;
        snprintf(path, sizeof(path), "%s/%s", store, rel);
        unlink(path);
        json_object_del(s->published, rel);
    }
    json_decref(want);
}

/* ---- status ------------------------------------------------------------------------------ */

static void wf_lm_status(wf_lm_sup_t *s)
{
    json_t *pods = json_array();
    int terminating = 0;
    for (size_t k = 0; k < s->npods; k++) {
        wf_lm_pod_t *p = s->pods[k];
        if (!wf_lm_pod_live(p)) {
            terminating++;
            continue;
        }
        int restarts = 0;
        for (size_t i = 0; i < p->nprocs; i++)
            restarts += p->procs[i].restarts;
        json_array_append_new(
            pods, json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:i, s:b}", "namespace", p->ns, "name",
                            p->name, "ready", wf_lm_pod_ready(p), "phase", wf_lm_pod_phase(p),
                            "message", p->message, "ip", p->ip, "restarts", restarts, "injected",
                            p->inj.mode != WF_LM_INJECT_DISABLED));
    }
    json_t *st = json_pack("{s:I, s:I, s:o, s:i, s:b, s:b, s:b, s:b}", "generation", s->generation,
                           "observed", s->generation, "pods", pods, "terminating", terminating,
                           "controlPlaneReady", s->cp_ready, "destination", s->have_destination,
                           "rolloutPending", s->rollout_pending, "stopping", s->stopping);
    char *body = json_dumps(st, JSON_INDENT(1));
    json_decref(st);
    if (body && (s->status_written == NULL || strcmp(body, s->status_written) != 0)) {
        char path[PATH_MAX];
        wf_lm_path_join(s->paths, "status.json", path, sizeof(path));
        wf_lm_write_atomic(path, body, strlen(body), 0644);
        free(s->status_written);
        s->status_written = body;
    } else {
        free(body);
    }
}

/* A fingerprint of everything the published state is made of (pods'
 * states, readiness, restarts, the applied generation...): the tick skips
 * the publishing work when it did not change, which keeps an idle
 * supervisor near 0% CPU. */
static uint64_t wf_lm_fingerprint(const wf_lm_sup_t *s)
{
    uint64_t h = 1469598103934665603ull;
#define WF_LM_MIX(v)                                                                               \
    do {                                                                                           \
        h ^= (uint64_t)(v);                                                                        \
        h *= 1099511628211ull;                                                                     \
    } while (0)
    WF_LM_MIX(s->generation);
    WF_LM_MIX(s->cp_ready);
    WF_LM_MIX(s->stopping);
    WF_LM_MIX(s->rollout_pending);
    WF_LM_MIX(s->npods);
    for (size_t k = 0; k < s->npods; k++) {
        const wf_lm_pod_t *p = s->pods[k];
        WF_LM_MIX((uintptr_t)p);
        WF_LM_MIX(p->state);
        WF_LM_MIX(p->message[0]);
        for (size_t i = 0; i <= p->nprocs; i++) {
            const wf_lm_proc_t *c = i < p->nprocs ? &p->procs[i] : &p->proxy;
            WF_LM_MIX(c->pid);
            WF_LM_MIX(c->ready);
            WF_LM_MIX(c->done);
            WF_LM_MIX(c->restarts);
            WF_LM_MIX(c->ever_started);
        }
        for (const char *m = p->message; *m; m++)
            WF_LM_MIX(*m);
    }
#undef WF_LM_MIX
    return h;
}

void wf_lm_publish(wf_lm_sup_t *s)
{
    uint64_t fp = wf_lm_fingerprint(s);
    if (s->published_fp == fp && s->status_written != NULL)
        return;
    s->published_fp = fp;
    wf_lm_svcs_sync(s);
    /* Endpoints first (they decide where traffic goes), then names, then
     * the store the controllers read. */
    char *rules = wf_lm_rules(s);
    if (rules && (s->rules == NULL || strcmp(rules, s->rules) != 0)) {
        char err[600];
        if (wf_lm_net_rules(s->paths->node, rules, err, sizeof(err)) < 0) {
            fprintf(stderr, "weft: %s\n", err);
            free(rules);
        } else {
            free(s->rules);
            s->rules = rules;
        }
    } else {
        free(rules);
    }
    json_t *nss = json_object();
    for (size_t k = 0; k < s->npods; k++)
        if (!s->pods[k]->internal)
            json_object_set_new(nss, s->pods[k]->ns, json_true());
    const char *ns;
    json_t *v;
    json_object_foreach (nss, ns, v) {
        char *h = wf_lm_hosts(s, ns);
        json_t *prev = json_object_get(s->hosts_written, ns);
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/hosts/%s", s->paths->dir, ns);
        if (h &&
            (prev == NULL || strcmp(json_string_value(prev), h) != 0 || access(path, F_OK) != 0)) {
            snprintf(path, sizeof(path), "%s/hosts", s->paths->dir);
            wf_lm_mkdirs(path, 0755);
            snprintf(path, sizeof(path), "%s/hosts/%s", s->paths->dir, ns);
            if (wf_lm_write_inplace(path, h, strlen(h)) == 0)
                json_object_set_new(s->hosts_written, ns, json_string(h));
        }
        free(h);
    }
    json_decref(nss);
    if (!s->stopping)
        wf_lm_store_sync(s);
    wf_lm_status(s);
}
