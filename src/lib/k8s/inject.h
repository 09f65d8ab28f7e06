/*
 * inject.h — the proxy injection transformation, shared by the admission
 * webhook (weft-controller injector) and the CLI (weft inject / uninject):
 * a pod (or a workload's pod template) plus its namespace's annotations in,
 * a decision and an RFC 6902 JSON Patch out.
 *
 * The rules (the seed's chapters 4 and 5, Linkerd's annotations):
 *   - linkerd.io/inject: enabled | ingress | disabled on the pod, else on
 *     the namespace; the pod's disabled wins. Any other value leaves the pod
 *     uninjected with a message naming the annotation.
 *   - never kube-system, the control plane's namespace, or hostNetwork pods;
 *     a pod that already has the proxy is not injected twice.
 *   - config.linkerd.io annotations (pod first, then namespace) set the
 *     proxy's environment, weft-init's arguments and the proxy's resources.
 *     Every value is checked with the parser its consumer uses; a bad value
 *     leaves the pod uninjected, naming the annotation and the problem.
 *
 * Patch paths are prefixed with the caller's path to the pod object
 * ("" for a Pod, "/spec/template" for a Deployment, ...). The patch only
 * adds (annotations, labels, the init container, the proxy container, a
 * volume), so wf_uninject_pod can take exactly those away again.
 *
 * Start-up order: by default weft-init is appended to the init containers
 * (the app's own init containers run before any redirection exists) and
 * the proxy to the containers. With native_sidecar, weft-init and then the
 * proxy (restartPolicy Always, a startupProbe on /ready) go first among the
 * init containers, so every later init container and the app start only
 * once the proxy is ready.
 *
 * No I/O and no global state: safe from any thread.
 */
#ifndef WF_K8S_INJECT_H
#define WF_K8S_INJECT_H

#include "core/common.h"

#include <jansson.h>

#define WF_INJECT_PROXY_NAME "weft-proxy"
#define WF_INJECT_INIT_NAME "weft-init"
#define WF_INJECT_TOKEN_VOLUME "weft-identity-token"
#define WF_INJECT_PROXY_UID 2102
#define WF_INJECT_DEFAULT_REGISTRY "ghcr.io/weft"
#define WF_INJECT_DEFAULT_LOG "warn,linkerd=info"
#define WF_INJECT_DEFAULT_OPAQUE_PORTS "25,587,3306,4444,5432,6379,9300,11211"
#define WF_INJECT_DEFAULT_SKIP_PORTS "4567,4568"
#define WF_INJECT_DEFAULT_CLUSTER_NETWORKS                                                         \
    "10.0.0.0/8,100.64.0.0/10,172.16.0.0/12,192.168.0.0/16,fd00::/8"
#define WF_INJECT_TRUST_ROOTS_CM "linkerd-identity-trust-roots"
/* Set by the webhook on a pod that asked for the proxy and did not get it. */
#define WF_INJECT_SKIPPED_ANNOTATION "weft.io/inject-skipped"

/* Install-wide settings (the values `weft install` renders; each borrowed). */
typedef struct wf_inject_cfg {
    const char *cp_ns;             /* control plane namespace ("linkerd") */
    const char *trust_domain;      /* "cluster.local" */
    const char *registry;          /* image registry */
    const char *version;           /* image tag and linkerd.io/proxy-version */
    const char *log_level;         /* WEFT_PROXY_LOG default */
    const char *opaque_ports;      /* default opaque ports */
    const char *skip_inbound;      /* default skipped inbound ports ("" none) */
    const char *skip_outbound;     /* default skipped outbound ports */
    const char *cluster_networks;  /* informational: profile networks */
    const char *trust_anchors_pem; /* inlined when set; else a ConfigMap reference */
    const char *cpu_request, *cpu_limit, *memory_request, *memory_limit; /* NULL: none */
    bool cni;            /* CNI mode: no init container */
    bool native_sidecar; /* the proxy as a restartable init container (Kubernetes
                          * 1.29+): it starts, and is ready, before the app */
    bool force;          /* CLI: inject unless the pod says disabled */
    bool ingress;        /* CLI --ingress: ingress mode unless disabled */
} wf_inject_cfg_t;

void wf_inject_cfg_defaults(wf_inject_cfg_t *cfg);

typedef enum wf_inject_outcome {
    WF_INJECT_INJECTED, /* patch holds the injection */
    WF_INJECT_SKIPPED,  /* not injected, on purpose (reason says why) */
    WF_INJECT_INVALID,  /* not injected: a bad annotation (reason names it) */
} wf_inject_outcome_t;

typedef struct wf_inject_result {
    wf_inject_outcome_t outcome;
    char reason[1024]; /* skipped / invalid: why; injected: "" */
    json_t *patch;     /* owned: JSON Patch ops (an empty array when none) */
    json_t *warnings;  /* owned: array of strings (unknown annotations, ...) */
    bool requested;    /* the pod or its namespace asked for the proxy (or force) */
} wf_inject_result_t;

/*
 * Decides and builds the injection of `pod` (an object with metadata and
 * spec; borrowed). ns: the pod's namespace ("" or NULL when unknown);
 * ns_annotations: the namespace's metadata.annotations or NULL; prefix:
 * the JSON pointer of pod inside the patched document. Returns 0 (see
 * res->outcome) or WF_ENOMEM / WF_EINVAL (pod is not an object with a
 * spec.containers array). res must be freed with wf_inject_result_free.
 */
int wf_inject_pod(const wf_inject_cfg_t *cfg, const json_t *pod, const char *ns,
                  const json_t *ns_annotations, const char *prefix, wf_inject_result_t *res);

/* The inverse: removes what wf_inject_pod added (also a Linkerd proxy's
 * linkerd-proxy / linkerd-init containers). outcome SKIPPED when there is
 * nothing to remove. */
int wf_uninject_pod(const json_t *pod, const char *prefix, wf_inject_result_t *res);

void wf_inject_result_free(wf_inject_result_t *res);

/* A Kubernetes resource quantity ("100m", "1.5Gi", "2e3")? */
bool wf_k8s_quantity_valid(const char *s);

/* Escapes a JSON Pointer reference token (RFC 6901: '~' -> "~0", '/' -> "~1"). */
size_t wf_json_pointer_escape(const char *tok, char *out, size_t outlen);

#endif
