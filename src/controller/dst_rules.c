/*
 * dst_rules.c — path parsing, opaque ports and labels for the destination
 * service (see dst_rules.h).
 */
#include "dst_rules.h"

#include "net/ports.h"

#include <arpa/inet.h>
#include <stdio.h>

/* A bounded, printable copy of untrusted text for messages. */
static void quote(char *out, size_t outlen, wf_str_t s)
{
    size_t o = 0, max = WF_MIN(s.len, (size_t)80);
    for (size_t i = 0; i < max && o + 2 < outlen; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        out[o++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
    }
    if (s.len > max && o + 4 < outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static int path_error(wf_str_t path, char *err, size_t errlen, const char *why)
{
    char q[96];
    quote(q, sizeof(q), path);
    snprintf(err, errlen, "invalid destination path \"%s\": %s", q, why);
    return WF_EINVAL;
}

/* A DNS-1123 label: [a-z0-9-]{1,63}, no '-' at either end (lower-cased). */
static bool label_ok(const char *s, size_t n)
{
    if (n == 0 || n > WF_DST_LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

int wf_dst_path_parse(wf_str_t path, wf_str_t cluster_domain, wf_dst_target_t *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (path.len == 0)
        return path_error(path, err, errlen, "empty");
    if (path.len > WF_DST_PATH_MAX)
        return path_error(path, err, errlen, "too long");
    /* host:port, the port after the last ':' ([v6]:port for IPv6). */
    const char *colon = NULL;
    for (size_t i = path.len; i > 0; i--)
        if (path.ptr[i - 1] == ':') {
            colon = path.ptr + i - 1;
            break;
        }
    if (colon == NULL)
        return path_error(path, err, errlen, "no port (expected host:port)");
    wf_str_t host = {path.ptr, (size_t)(colon - path.ptr)};
    wf_str_t port = {colon + 1, path.len - host.len - 1};
    unsigned long p = 0;
    if (port.len == 0 || port.len > 5)
        return path_error(path, err, errlen, "the port must be 1-65535");
    for (size_t i = 0; i < port.len; i++) {
        if (port.ptr[i] < '0' || port.ptr[i] > '9')
            return path_error(path, err, errlen, "the port must be 1-65535");
        p = p * 10 + (unsigned long)(port.ptr[i] - '0');
    }
    if (p < 1 || p > 65535)
        return path_error(path, err, errlen, "the port must be 1-65535");
    out->port = (uint16_t)p;
    if (host.len == 0)
        return path_error(path, err, errlen, "no host");

    char buf[WF_DST_PATH_MAX + 1];
    if (host.ptr[0] == '[') {
        if (host.len < 3 || host.ptr[host.len - 1] != ']' || host.len - 2 >= sizeof(buf))
            return path_error(path, err, errlen, "malformed [IPv6] address");
        memcpy(buf, host.ptr + 1, host.len - 2);
        buf[host.len - 2] = '\0';
        if (inet_pton(AF_INET6, buf, out->ip) != 1)
            return path_error(path, err, errlen, "malformed [IPv6] address");
        out->is_ip = true;
        out->family = AF_INET6;
        inet_ntop(AF_INET6, out->ip, out->ip_text, sizeof(out->ip_text));
        return 0;
    }
    if (memchr(host.ptr, ':', host.len) != NULL)
        return path_error(path, err, errlen, "an IPv6 address must be in brackets");
    memcpy(buf, host.ptr, host.len);
    buf[host.len] = '\0';
    if (strlen(buf) != host.len)
        return path_error(path, err, errlen, "NUL byte in the host");
    if (inet_pton(AF_INET, buf, out->ip) == 1) {
        out->is_ip = true;
        out->family = AF_INET;
        inet_ntop(AF_INET, out->ip, out->ip_text, sizeof(out->ip_text));
        return 0;
    }

    /* A name: lower-case it, drop one trailing dot, split into labels. */
    size_t n = host.len;
    if (buf[n - 1] == '.')
        buf[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (buf[i] >= 'A' && buf[i] <= 'Z')
            buf[i] = (char)(buf[i] - 'A' + 'a');
    const char *lab[4];
    size_t llen[4], nl = 0;
    const char *s = buf;
    while (nl < 3) {
        const char *dot = memchr(s, '.', (size_t)(buf + n - s));
        lab[nl] = s;
        llen[nl] = dot != NULL ? (size_t)(dot - s) : (size_t)(buf + n - s);
        nl++;
        if (dot == NULL)
            break;
        s = dot + 1;
    }
    /* What follows the third label, if anything: the cluster domain. */
    wf_str_t rest = WF_STR_NULL;
    if (nl == 3) {
        const char *end3 = lab[2] + llen[2];
        if (end3 < buf + n) {
            rest = (wf_str_t){end3 + 1, (size_t)(buf + n - end3 - 1)};
        }
    }
    if (nl < 2)
        return path_error(path, err, errlen,
                          "not a Service name (expected name.namespace[.svc.cluster-domain])");
    if (!label_ok(lab[0], llen[0]) || !label_ok(lab[1], llen[1]))
        return path_error(path, err, errlen,
                          "the service and namespace must be DNS-1123 labels");
    if (nl == 3) {
        if (llen[2] != 3 || memcmp(lab[2], "svc", 3) != 0)
            return path_error(path, err, errlen,
                              "not a Service name (expected name.namespace.svc...)");
        if (rest.ptr != NULL) {
            wf_str_t dom = cluster_domain;
            if (dom.len > 0 && dom.ptr[dom.len - 1] == '.')
                dom.len--;
            if (!wf_str_eq_nocase(rest, dom))
                return path_error(path, err, errlen, "not in this cluster's domain");
        }
    }
    memcpy(out->name, lab[0], llen[0]);
    out->name[llen[0]] = '\0';
    memcpy(out->ns, lab[1], llen[1]);
    out->ns[llen[1]] = '\0';
    return 0;
}

bool wf_dst_ports_has(const char *spec, uint16_t port)
{
    if (spec == NULL || port == 0)
        return false;
    wf_port_range_t r[64];
    int n = wf_port_ranges_parse(r, WF_ARRAY_LEN(r), wf_str_from(spec), NULL, 0);
    if (n == WF_ELIMIT) { /* a long list: the bitmap (8 KiB, cold path) */
        wf_portset_t set;
        return wf_portset_parse(&set, wf_str_from(spec), NULL, 0) == 0 &&
               wf_portset_has(&set, port);
    }
    for (int i = 0; i < n; i++)
        if (port >= r[i].lo && port <= r[i].hi)
            return true;
    return false;
}

bool wf_dst_app_protocol_opaque(const char *ap)
{
    static const char *const http[] = {"http",   "kubernetes.io/h2c", "h2c",
                                       "grpc",   "kubernetes.io/ws",  "kubernetes.io/wss"};
    if (ap == NULL || ap[0] == '\0')
        return false;
    for (size_t i = 0; i < WF_ARRAY_LEN(http); i++)
        if (strcmp(ap, http[i]) == 0)
            return false;
    return true;
}

bool wf_dst_opaque(const char *svc_ann, uint16_t svc_port, const char *pod_ann,
                   const char *ns_ann, uint16_t target_port, const char *app_protocol)
{
    if (wf_dst_app_protocol_opaque(app_protocol))
        return true;
    if (target_port == 0)
        target_port = svc_port;
    if (svc_ann != NULL)
        return wf_dst_ports_has(svc_ann, svc_port);
    if (pod_ann != NULL)
        return wf_dst_ports_has(pod_ann, target_port);
    if (ns_ann != NULL)
        return wf_dst_ports_has(ns_ann, target_port);
    return wf_dst_ports_has(WF_DST_DEFAULT_OPAQUE, target_port);
}

static void add_label(wf_dst_labels_t *l, const char *k, const char *v)
{
    if (v != NULL && v[0] != '\0' && l->n < WF_DST_MAX_LABELS) {
        l->key[l->n] = k;
        l->value[l->n] = v;
        l->n++;
    }
}

void wf_dst_pod_labels(const wf_k8s_obj_t *pod, wf_dst_labels_t *out)
{
    out->n = 0;
    out->owner_buf[0] = '\0';
    add_label(out, "namespace", pod->ns);
    add_label(out, "pod", pod->name);
    add_label(out, "serviceaccount", wf_k8s_pod_sa(pod));
    const char *hash = wf_k8s_label(pod, "pod-template-hash");
    const char *kind, *name;
    if (wf_k8s_owner(pod, &kind, &name)) {
        if (strcmp(kind, "ReplicaSet") == 0) {
            size_t nl = strlen(name), hl = hash != NULL ? strlen(hash) : 0;
            /* Deployment "web" owns ReplicaSet "web-<pod-template-hash>". */
            if (hl > 0 && nl > hl + 1 && nl - hl - 1 < sizeof(out->owner_buf) &&
                name[nl - hl - 1] == '-' && strcmp(name + nl - hl, hash) == 0) {
                memcpy(out->owner_buf, name, nl - hl - 1);
                out->owner_buf[nl - hl - 1] = '\0';
                add_label(out, "deployment", out->owner_buf);
            }
            add_label(out, "replicaset", name);
        } else if (strcmp(kind, "StatefulSet") == 0) {
            add_label(out, "statefulset", name);
        } else if (strcmp(kind, "DaemonSet") == 0) {
            add_label(out, "daemonset", name);
        } else if (strcmp(kind, "Job") == 0) {
            add_label(out, "job", name);
        } else if (strcmp(kind, "ReplicationController") == 0) {
            add_label(out, "replicationcontroller", name);
        }
    }
    add_label(out, "pod_template_hash", hash);
}

bool wf_dst_pod_meshed(const wf_k8s_obj_t *pod)
{
    return wf_k8s_label(pod, "linkerd.io/control-plane-ns") != NULL;
}

size_t wf_dst_identity(const wf_k8s_obj_t *pod, const char *cp_ns, const char *trust_domain,
                       char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s.%s.serviceaccount.identity.%s.%s", wf_k8s_pod_sa(pod),
                     pod->ns, cp_ns, trust_domain);
    return n < 0 ? 0 : (size_t)n;
}
