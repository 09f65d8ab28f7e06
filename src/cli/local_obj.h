/*
 * local_obj.h — Kubernetes objects for local mode: loading manifests into
 * checked JSON objects, resource names, the inject annotations, and the
 * names controllers would give (pod-template-hash, pod suffixes). Pure
 * except wf_lm_load_path (reads files) and the random helpers.
 *
 * Objects are jansson values in Kubernetes JSON shape. Checked objects have
 * string apiVersion/kind/metadata.name, and metadata.namespace set
 * ("default" when absent) for namespaced kinds, absent for cluster-scoped.
 */
#ifndef WF_CLI_LOCAL_OBJ_H
#define WF_CLI_LOCAL_OBJ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Called for every problem found while loading: `where` names the file and
 * document ("demo/web.yaml: document 2"), `msg` the problem. */
typedef void (*wf_lm_report_fn)(void *ctx, const char *where, const char *msg);

/*
 * Parses a buffer of YAML (or JSON: YAML is a superset) documents named
 * `name`, flattens `kind: List`, checks each object (wf_lm_object_check) and
 * appends the good ones to `out` (a JSON array). A bad document or object is
 * reported and skipped; the others are kept. Returns the number of problems.
 */
int wf_lm_load_buf(const char *name, const char *buf, size_t len, json_t *out,
                   wf_lm_report_fn report, void *ctx);

/* Loads a file, or every *.yaml, *.yml and *.json file of a directory
 * (sorted by name, not recursive, as `kubectl apply -f DIR`). Returns the
 * number of problems (an unreadable path is one). */
int wf_lm_load_path(const char *path, json_t *out, wf_lm_report_fn report, void *ctx);

/* Checks (and normalizes the namespace of) one object. Returns 0, or -1
 * with a message naming the field in err. */
int wf_lm_object_check(json_t *obj, char *err, size_t errlen);

/* True for the kinds local mode runs or routes: Namespace, ServiceAccount,
 * Pod, Deployment, StatefulSet, Service. Others are only stored. */
bool wf_lm_kind_known(const char *kind);

/* True for cluster-scoped kinds (Namespace, CRDs, ClusterRole...). */
bool wf_lm_kind_cluster_scoped(const char *kind);

/* The store's resource name: lower-case plural, with ".<group>" for kinds
 * outside the core/apps/discovery/rbac... groups Kubernetes serves at its
 * root ("servers.policy.linkerd.io"). `plural` overrides the guessed plural
 * (from a CRD's spec.names.plural) when non-NULL. */
void wf_lm_resource(const char *kind, const char *api_version, const char *plural, char *out,
                    size_t outlen);

/* "<resource>/<namespace>/<name>" ("namespaces/<name>" when cluster-scoped). */
void wf_lm_key(json_t *obj, char *out, size_t outlen);

/* Shorthands on checked objects (borrowed strings; "" when absent). */
const char *wf_lm_kind(json_t *obj);
const char *wf_lm_name(json_t *obj);
const char *wf_lm_namespace(json_t *obj);
json_t *wf_lm_path(json_t *obj, const char *dotted); /* "spec.template.spec" */

/* What the inject annotations ask of one pod. */
typedef enum wf_lm_inject_mode {
    WF_LM_INJECT_DISABLED = 0, /* no proxy */
    WF_LM_INJECT_ENABLED,      /* proxy (linkerd.io/inject: enabled) */
    WF_LM_INJECT_INGRESS,      /* proxy in ingress mode */
} wf_lm_inject_mode_t;

#define WF_LM_LIST_MAX 512

typedef struct wf_lm_inject {
    wf_lm_inject_mode_t mode;
    char opaque_ports[WF_LM_LIST_MAX]; /* canonical list; "" = proxy default */
    bool has_opaque;                   /* opaque-ports given (may be the empty list) */
    char skip_inbound[WF_LM_LIST_MAX];
    char skip_outbound[WF_LM_LIST_MAX];
    char skip_subnets[WF_LM_LIST_MAX];
    int64_t cpu_limit_m, cpu_request_m;   /* millicores; -1: not given */
    int64_t memory_limit, memory_request; /* bytes; -1: not given */
    int64_t ephemeral_limit, ephemeral_request;
    char warning[512]; /* non-empty: why the pod runs uninjected */
} wf_lm_inject_t;

/*
 * Resolves the inject annotations of a pod (its own annotations `pod_ann`,
 * then its namespace's `ns_ann`; either may be NULL): a key on the pod wins
 * over the same key on the namespace. kube-system and kube-public are
 * never injected. A bad value (unknown inject mode, bad port list or CIDR,
 * bad quantity) makes the pod uninjected with `warning` naming the
 * annotation and the value.
 */
void wf_lm_inject_resolve(json_t *pod_ann, json_t *ns_ann, const char *ns, wf_lm_inject_t *out);

/* Parses a Kubernetes quantity: cpu ("500m", "1", "0.25") to millicores,
 * memory ("64Mi", "1G", "1048576", "1e6") to bytes. -1 when malformed. */
int64_t wf_lm_parse_cpu(const char *s);
int64_t wf_lm_parse_bytes(const char *s);

/* The pod-template-hash of a Deployment's template: FNV-1a (32 bit) of its
 * canonical JSON, spelled with Kubernetes' "safe" alphabet (no vowels). */
void wf_lm_template_hash(json_t *tmpl, char out[16]);

/* n random characters of the safe alphabet, NUL-terminated (pod suffixes). */
void wf_lm_random_suffix(char *out, size_t n);

/* A random RFC 4122 v4 UUID (37 bytes with the NUL). */
void wf_lm_uuid(char out[37]);

#endif
