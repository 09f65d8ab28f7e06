/*
 * dst_rules.h — the pure rules of `weft-controller destination`: what a
 * GetDestination path names, whether a port is opaque, and an endpoint's
 * metric labels. No I/O, no state: unit-tested and fuzzed directly.
 */
#ifndef WF_CONTROLLER_DST_RULES_H
#define WF_CONTROLLER_DST_RULES_H

#include "core/common.h"
#include "k8s/object.h"

#include <netinet/in.h>

/* Longest path accepted (a FQDN is at most 253 bytes, plus ":65535"). */
#define WF_DST_PATH_MAX 320
/* Longest DNS label (a Service or namespace name). */
#define WF_DST_LABEL_MAX 63

typedef struct wf_dst_target {
    bool is_ip;
    int family;   /* AF_INET / AF_INET6 when is_ip */
    uint8_t ip[16]; /* network order; 4 bytes used for AF_INET */
    char ip_text[INET6_ADDRSTRLEN]; /* canonical text of ip */
    char name[WF_DST_LABEL_MAX + 1]; /* service, when !is_ip */
    char ns[WF_DST_LABEL_MAX + 1];
    uint16_t port; /* 1..65535 */
} wf_dst_target_t;

/*
 * Parses a GetDestination path: "<ip>:<port>" ("[v6]:port" for IPv6) or a
 * Service name with a port — "name.ns", "name.ns.svc" or
 * "name.ns.svc.<cluster_domain>", any of them with a trailing dot, compared
 * without regard to case. Returns 0, or WF_EINVAL with a message naming the
 * path and what is wrong (a printable, bounded copy of it).
 */
int wf_dst_path_parse(wf_str_t path, wf_str_t cluster_domain, wf_dst_target_t *out, char *err,
                      size_t errlen);

#define WF_DST_ANN_OPAQUE "config.linkerd.io/opaque-ports"
/* Linkerd's default opaque ports, used when no annotation says otherwise. */
#define WF_DST_DEFAULT_OPAQUE "25,587,3306,4444,5432,6379,9300,11211"

/* True when `spec` (a port list, "3306,5000-5100") holds port; a spec that
 * does not parse holds nothing. */
bool wf_dst_ports_has(const char *spec, uint16_t port);

/*
 * Whether traffic to a Service port is opaque. The annotation chain is
 * Service (naming Service ports) → pod → namespace (naming container
 * ports, i.e. target_port) → the default list: the first annotation
 * present decides; the Service port's appProtocol makes it opaque too when
 * it is neither HTTP nor gRPC (wf_dst_app_protocol_opaque). Any argument
 * may be NULL (absent); target_port 0 means "same as svc_port".
 */
bool wf_dst_opaque(const char *svc_ann, uint16_t svc_port, const char *pod_ann,
                   const char *ns_ann, uint16_t target_port, const char *app_protocol);

/*
 * appProtocol → opaque? Linkerd 2.18's reading, with gRPC added: absent,
 * "http", "kubernetes.io/h2c", "h2c", "grpc", "kubernetes.io/ws",
 * "kubernetes.io/wss" are not opaque (HTTP the proxy can see); anything
 * else — "linkerd.io/opaque", "linkerd.io/tcp", "tcp", "mysql",
 * "https" (TLS the proxy cannot read) — is opaque.
 */
bool wf_dst_app_protocol_opaque(const char *app_protocol);

/* Per-endpoint metric labels of a pod (key order fixed). */
#define WF_DST_MAX_LABELS 8
typedef struct wf_dst_labels {
    size_t n;
    const char *key[WF_DST_MAX_LABELS];   /* static */
    const char *value[WF_DST_MAX_LABELS]; /* borrowed from the pod, or owner_buf */
    char owner_buf[WF_K8S_NAME_MAX + 1];  /* a derived name (deployment) */
} wf_dst_labels_t;

/*
 * namespace, pod, serviceaccount, the owner (from the controller
 * ownerReference: replicaset — plus deployment when the ReplicaSet's name
 * is "<deployment>-<pod-template-hash>" —, statefulset, daemonset, job,
 * replicationcontroller), and pod_template_hash when labelled.
 */
void wf_dst_pod_labels(const wf_k8s_obj_t *pod, wf_dst_labels_t *out);

/* True when the pod is meshed: it carries the linkerd.io/control-plane-ns
 * label that the injector (and `weft up`) put on meshed pods. */
bool wf_dst_pod_meshed(const wf_k8s_obj_t *pod);

/* <sa>.<ns>.serviceaccount.identity.<cp_ns>.<trust_domain>; returns the
 * length like snprintf. */
size_t wf_dst_identity(const wf_k8s_obj_t *pod, const char *cp_ns, const char *trust_domain,
                       char *out, size_t outlen);

#endif
