/*
 * inject.c — the proxy injection transformation (see inject.h).
 */
#include "k8s/inject.h"

#include "core/log.h"
#include "core/time.h"
#include "net/ports.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define A_INJECT "linkerd.io/inject"
#define CFG_PREFIX "config.linkerd.io/"

void wf_inject_cfg_defaults(wf_inject_cfg_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->cp_ns = "linkerd";
    cfg->trust_domain = "cluster.local";
    cfg->registry = WF_INJECT_DEFAULT_REGISTRY;
    cfg->version = WEFT_VERSION;
    cfg->log_level = WF_INJECT_DEFAULT_LOG;
    cfg->opaque_ports = WF_INJECT_DEFAULT_OPAQUE_PORTS;
    cfg->skip_inbound = WF_INJECT_DEFAULT_SKIP_PORTS;
    cfg->skip_outbound = WF_INJECT_DEFAULT_SKIP_PORTS;
    cfg->cluster_networks = WF_INJECT_DEFAULT_CLUSTER_NETWORKS;
}

void wf_inject_result_free(wf_inject_result_t *res)
{
    json_decref(res->patch);
    json_decref(res->warnings);
    res->patch = res->warnings = NULL;
}

size_t wf_json_pointer_escape(const char *tok, char *out, size_t outlen)
{
    size_t o = 0;
    for (const char *p = tok; *p; p++) {
        const char *rep = *p == '~' ? "~0" : *p == '/' ? "~1" : NULL;
        size_t n = rep ? 2 : 1;
        if (o + n < outlen)
            memcpy(out + o, rep ? rep : p, n);
        o += n;
    }
    if (outlen > 0)
        out[o < outlen ? o : outlen - 1] = '\0';
    return o;
}

/* Quantity grammar (k8s.io/apimachinery resource.Quantity):
 *   <sign>?<digits>(.<digits>?)?|.<digits>  then a suffix: Ki Mi Gi Ti Pi Ei,
 *   n u m k M G T P E, or e/E<sign>?<digits>. */
bool wf_k8s_quantity_valid(const char *s)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    bool digits = false;
    while (*p >= '0' && *p <= '9') {
        p++;
        digits = true;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            p++;
            digits = true;
        }
    }
    if (!digits)
        return false;
    if (*p == '\0')
        return true;
    static const char *const suffixes[] = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u",
                                           "m",  "k",  "M",  "G",  "T",  "P",  "E"};
    for (size_t i = 0; i < WF_ARRAY_LEN(suffixes); i++)
        if (strcmp(p, suffixes[i]) == 0)
            return true;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p == '\0')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
        return *p == '\0';
    }
    return false;
}

/* --- annotation reading ------------------------------------------------------------------ */

typedef struct ctx {
    const wf_inject_cfg_t *cfg;
    const json_t *pod_ann; /* borrowed, may be NULL */
    const json_t *ns_ann;  /* borrowed, may be NULL */
    wf_inject_result_t *res;
    size_t nbad; /* invalid annotations so far */
} ctx_t;

static void addf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void addf(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

static void warnf(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnf(ctx_t *c, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_array_append_new(c->res->warnings, json_string(msg));
}

/* An invalid annotation: the pod stays uninjected; every bad one is named. */
static void badf(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void badf(ctx_t *c, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->nbad++ > 0)
        addf(c->res->reason, sizeof(c->res->reason), "; ");
    addf(c->res->reason, sizeof(c->res->reason), "%s", msg);
    json_array_append_new(c->res->warnings, json_string(msg));
}

/* A config annotation's value: the pod's, else the namespace's; *from says which. */
static const char *ann(const ctx_t *c, const char *key, const char **from)
{
    json_t *v = json_object_get(c->pod_ann, key);
    *from = "pod";
    if (v == NULL) {
        v = json_object_get(c->ns_ann, key);
        *from = "namespace";
    }
    if (v == NULL)
        return NULL;
    if (!json_is_string(v))
        return ""; /* annotations are strings; anything else fails the checks below */
    return json_string_value(v);
}

/* The config.linkerd.io annotations weft reads. */
static const char *const known_cfg[] = {
    "proxy-log-level",
    "proxy-log-format",
    "opaque-ports",
    "skip-inbound-ports",
    "skip-outbound-ports",
    "skip-subnets",
    "proxy-cpu-request",
    "proxy-cpu-limit",
    "proxy-memory-request",
    "proxy-memory-limit",
    "proxy-ephemeral-storage-request",
    "proxy-ephemeral-storage-limit",
    "shutdown-grace-period",
    "default-inbound-policy",
    "access-log",
    "proxy-version",
    "proxy-image",
    "proxy-init-image",
    "proxy-inbound-connect-timeout",
    "proxy-outbound-connect-timeout",
};

static void check_unknown(ctx_t *c, const json_t *anns, const char *where)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)anns, k, v)
    {
        if (strncmp(k, CFG_PREFIX, strlen(CFG_PREFIX)) != 0)
            continue;
        const char *name = k + strlen(CFG_PREFIX);
        bool known = false;
        for (size_t i = 0; i < WF_ARRAY_LEN(known_cfg) && !known; i++)
            known = strcmp(name, known_cfg[i]) == 0;
        if (known)
            continue;
        if (strcmp(name, "skip-incoming-ports") == 0 || strcmp(name, "skip-outgoing-ports") == 0)
            warnf(c,
                  "%s annotation %s is not a proxy setting (did you mean " CFG_PREFIX "%s?); "
                  "ignored",
                  where, k, name[5] == 'i' ? "skip-inbound-ports" : "skip-outbound-ports");
        else
            warnf(c, "%s annotation %s is not a setting weft knows; ignored", where, k);
    }
}

static const char *check_ports(ctx_t *c, const char *key, const char *def)
{
    const char *from;
    const char *v = ann(c, key, &from);
    if (v == NULL)
        return def;
    if (v[0] == '\0')
        return v; /* an empty list: nothing skipped / opaque */
    wf_portset_t *set = malloc(sizeof(*set));
    char e[300];
    int rc = set != NULL ? wf_portset_parse(set, wf_str_from(v), e, sizeof(e)) : WF_ENOMEM;
    free(set);
    if (rc != 0) {
        badf(c, "%s annotation %s: %s", from, key, rc == WF_ENOMEM ? "out of memory" : e);
        return NULL;
    }
    return v;
}

/* --- building the patch ----------------------------------------------------------------- */

static void op_add(json_t *patch, const char *prefix, const char *path, json_t *value)
{
    char full[1024];
    snprintf(full, sizeof(full), "%s%s", prefix, path);
    json_array_append_new(patch,
                          json_pack("{s:s, s:s, s:o}", "op", "add", "path", full, "value", value));
}

static void op_remove(json_t *patch, const char *prefix, const char *path)
{
    char full[1024];
    snprintf(full, sizeof(full), "%s%s", prefix, path);
    json_array_append_new(patch, json_pack("{s:s, s:s}", "op", "remove", "path", full));
}

static json_t *env_field(const char *name, const char *field)
{
    return json_pack("{s:s, s:{s:{s:s}}}", "name", name, "valueFrom", "fieldRef", "fieldPath",
                     field);
}

static json_t *env_val(const char *name, const char *value)
{
    return json_pack("{s:s, s:s}", "name", name, "value", value);
}

/* Adds the annotations (resources) the proxy's resources come from. */
static json_t *resources(ctx_t *c)
{
    static const struct {
        const char *ann, *kind, *res;
    } rs[] = {
        {"proxy-cpu-request", "requests", "cpu"},
        {"proxy-memory-request", "requests", "memory"},
        {"proxy-ephemeral-storage-request", "requests", "ephemeral-storage"},
        {"proxy-cpu-limit", "limits", "cpu"},
        {"proxy-memory-limit", "limits", "memory"},
        {"proxy-ephemeral-storage-limit", "limits", "ephemeral-storage"},
    };
    const char *defs[] = {c->cfg->cpu_request, c->cfg->memory_request, NULL,
                          c->cfg->cpu_limit,   c->cfg->memory_limit,   NULL};
    json_t *out = json_object();
    for (size_t i = 0; i < WF_ARRAY_LEN(rs); i++) {
        char key[128];
        snprintf(key, sizeof(key), CFG_PREFIX "%s", rs[i].ann);
        const char *from;
        const char *v = ann(c, key, &from);
        if (v == NULL)
            v = defs[i];
        if (v == NULL)
            continue;
        if (!wf_k8s_quantity_valid(v)) {
            badf(c, "%s annotation %s: \"%.60s\" is not a Kubernetes quantity (e.g. 100m, 64Mi)",
                 from, key, v);
            continue;
        }
        json_t *k = json_object_get(out, rs[i].kind);
        if (k == NULL) {
            k = json_object();
            json_object_set_new(out, rs[i].kind, k);
        }
        json_object_set_new(k, rs[i].res, json_string(v));
    }
    return out;
}

/* The TCP ports the pod's containers declare, ascending, as "80,8080"
 * (WEFT_PROXY_INBOUND_PORTS: the ports inbound policy is looked up for
 * ahead of traffic); "" when none. */
static void declared_ports(const json_t *spec, char *out, size_t outlen)
{
    bool seen[65536] = {false};
    static const char *const lists[] = {"containers", "initContainers"};
    for (size_t l = 0; l < WF_ARRAY_LEN(lists); l++) {
        size_t i, j;
        json_t *ctr, *port;
        json_array_foreach(json_object_get(spec, lists[l]), i, ctr)
        {
            json_array_foreach(json_object_get(ctr, "ports"), j, port)
            {
                json_int_t p = json_integer_value(json_object_get(port, "containerPort"));
                const char *proto = json_string_value(json_object_get(port, "protocol"));
                if (p > 0 && p < 65536 && (proto == NULL || strcmp(proto, "TCP") == 0))
                    seen[p] = true;
            }
        }
    }
    size_t o = 0;
    out[0] = '\0';
    for (int p = 1; p < 65536; p++) {
        if (!seen[p])
            continue;
        int n = snprintf(out + o, outlen - o, "%s%d", o ? "," : "", p);
        if (n < 0 || (size_t)n >= outlen - o) {
            out[o] = '\0'; /* too many to list: stop at the last whole port */
            return;
        }
        o += (size_t)n;
    }
}

static json_t *proxy_container(ctx_t *c, const json_t *spec, bool ingress, const char *opaque)
{
    const wf_inject_cfg_t *cfg = c->cfg;
    const char *from;
    char buf[1024];
    json_t *env = json_array();
    json_array_append_new(env, env_field("_pod_name", "metadata.name"));
    json_array_append_new(env, env_field("_pod_ns", "metadata.namespace"));
    json_array_append_new(env, env_field("_pod_nodeName", "spec.nodeName"));
    json_array_append_new(env, env_field("_pod_sa", "spec.serviceAccountName"));

    const char *log = ann(c, CFG_PREFIX "proxy-log-level", &from);
    wf_log_level_t lvl;
    if (log != NULL && wf_log_level_parse(wf_str_from(log), &lvl) != 0)
        badf(c,
             "%s annotation " CFG_PREFIX "proxy-log-level: \"%.60s\" is not a log level "
             "list (e.g. warn,linkerd=info)",
             from, log);
    json_array_append_new(env, env_val("WEFT_PROXY_LOG", log != NULL ? log : cfg->log_level));
    const char *fmt = ann(c, CFG_PREFIX "proxy-log-format", &from);
    if (fmt != NULL) {
        if (strcmp(fmt, "plain") != 0 && strcmp(fmt, "json") != 0)
            badf(c, "%s annotation " CFG_PREFIX "proxy-log-format: \"%.60s\" is not plain or json",
                 from, fmt);
        json_array_append_new(env, env_val("WEFT_PROXY_LOG_FORMAT", fmt));
    }
    json_array_append_new(env, env_val("WEFT_PROXY_INBOUND_LISTEN_ADDR", "0.0.0.0:4143"));
    json_array_append_new(env,
                          env_val("WEFT_PROXY_OUTBOUND_LISTEN_ADDRS", "127.0.0.1:4140,[::1]:4140"));
    json_array_append_new(env, env_val("WEFT_PROXY_ADMIN_LISTEN_ADDR", "0.0.0.0:4191"));
    char ports[2048];
    declared_ports(spec, ports, sizeof(ports));
    if (ports[0] != '\0')
        json_array_append_new(env, env_val("WEFT_PROXY_INBOUND_PORTS", ports));
    json_array_append_new(env,
                          env_val("WEFT_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION", opaque));
    json_array_append_new(env,
                          env_val("WEFT_PROXY_OUTBOUND_PORTS_DISABLE_PROTOCOL_DETECTION", opaque));

    static const struct {
        const char *ann, *env;
        uint64_t max_ms;
    } durations[] = {
        {"shutdown-grace-period", "WEFT_PROXY_SHUTDOWN_GRACE_PERIOD", 86400 * 1000},
        {"proxy-inbound-connect-timeout", "WEFT_PROXY_INBOUND_CONNECT_TIMEOUT", 3600 * 1000},
        {"proxy-outbound-connect-timeout", "WEFT_PROXY_OUTBOUND_CONNECT_TIMEOUT", 3600 * 1000},
    };
    for (size_t i = 0; i < WF_ARRAY_LEN(durations); i++) {
        char key[128];
        snprintf(key, sizeof(key), CFG_PREFIX "%s", durations[i].ann);
        const char *v = ann(c, key, &from);
        if (v == NULL)
            continue;
        uint64_t ms;
        if (wf_duration_parse(wf_str_from(v), &ms) != 0 || ms > durations[i].max_ms ||
            (ms == 0 && i > 0))
            badf(c, "%s annotation %s: \"%.60s\" is not a duration in range (e.g. 30s, 2m)", from,
                 key, v);
        else
            json_array_append_new(env, env_val(durations[i].env, v));
    }
    const char *pol = ann(c, CFG_PREFIX "default-inbound-policy", &from);
    if (pol != NULL) {
        static const char *const policies[] = {"all-unauthenticated",
                                               "all-authenticated",
                                               "cluster-authenticated",
                                               "cluster-unauthenticated",
                                               "deny",
                                               "audit"};
        bool ok = false;
        for (size_t i = 0; i < WF_ARRAY_LEN(policies) && !ok; i++)
            ok = strcmp(pol, policies[i]) == 0;
        if (!ok)
            badf(c,
                 "%s annotation " CFG_PREFIX "default-inbound-policy: \"%.60s\" is not one "
                 "of all-unauthenticated, all-authenticated, cluster-authenticated, "
                 "cluster-unauthenticated, deny, audit",
                 from, pol);
        json_array_append_new(env, env_val("WEFT_PROXY_INBOUND_DEFAULT_POLICY", pol));
    }
    const char *alog = ann(c, CFG_PREFIX "access-log", &from);
    if (alog != NULL) {
        if (strcmp(alog, "apache") != 0 && strcmp(alog, "json") != 0)
            badf(c, "%s annotation " CFG_PREFIX "access-log: \"%.60s\" is not apache or json", from,
                 alog);
        json_array_append_new(env, env_val("WEFT_PROXY_ACCESS_LOG", alog));
    }
    if (ingress)
        json_array_append_new(env, env_val("WEFT_PROXY_INGRESS_MODE", "true"));

    snprintf(buf, sizeof(buf), "weft-dst-headless.%s.svc.cluster.local.:8086", cfg->cp_ns);
    json_array_append_new(env, env_val("WEFT_PROXY_DESTINATION_SVC_ADDR", buf));
    snprintf(buf, sizeof(buf), "weft-destination.%s.serviceaccount.identity.%s.%s", cfg->cp_ns,
             cfg->cp_ns, cfg->trust_domain);
    json_array_append_new(env, env_val("WEFT_PROXY_DESTINATION_SVC_NAME", buf));
    if (cfg->cluster_networks != NULL && cfg->cluster_networks[0] != '\0')
        json_array_append_new(
            env, env_val("WEFT_PROXY_DESTINATION_PROFILE_NETWORKS", cfg->cluster_networks));
    json_array_append_new(
        env, env_val("WEFT_PROXY_DESTINATION_CONTEXT",
                     "{\"ns\":\"$(_pod_ns)\",\"nodeName\":\"$(_pod_nodeName)\",\"pod\":\"$(_pod_"
                     "name)\"}"));
    if (cfg->trust_anchors_pem != NULL)
        json_array_append_new(env,
                              env_val("WEFT_PROXY_IDENTITY_TRUST_ANCHORS", cfg->trust_anchors_pem));
    else
        json_array_append_new(env, json_pack("{s:s, s:{s:{s:s, s:s}}}", "name",
                                             "WEFT_PROXY_IDENTITY_TRUST_ANCHORS", "valueFrom",
                                             "configMapKeyRef", "name", WF_INJECT_TRUST_ROOTS_CM,
                                             "key", "ca-bundle.crt"));
    json_array_append_new(env, env_val("WEFT_PROXY_IDENTITY_TOKEN_FILE",
                                       "/var/run/secrets/tokens/linkerd-identity-token"));
    snprintf(buf, sizeof(buf), "weft-identity-headless.%s.svc.cluster.local.:8080", cfg->cp_ns);
    json_array_append_new(env, env_val("WEFT_PROXY_IDENTITY_SVC_ADDR", buf));
    snprintf(buf, sizeof(buf), "weft-identity.%s.serviceaccount.identity.%s.%s", cfg->cp_ns,
             cfg->cp_ns, cfg->trust_domain);
    json_array_append_new(env, env_val("WEFT_PROXY_IDENTITY_SVC_NAME", buf));
    snprintf(buf, sizeof(buf), "$(_pod_sa).$(_pod_ns).serviceaccount.identity.%s.%s", cfg->cp_ns,
             cfg->trust_domain);
    json_array_append_new(env, env_val("WEFT_PROXY_IDENTITY_LOCAL_NAME", buf));

    const char *image = ann(c, CFG_PREFIX "proxy-image", &from);
    const char *version = ann(c, CFG_PREFIX "proxy-version", &from);
    char img[512];
    if (image != NULL) /* config.linkerd.io/proxy-image is the repository, without a tag */
        snprintf(img, sizeof(img), "%s:%s", image, version != NULL ? version : cfg->version);
    else
        snprintf(img, sizeof(img), "%s/proxy:%s", cfg->registry,
                 version != NULL ? version : cfg->version);
    json_t *ctr =
        json_pack("{s:s, s:s, s:s, s:o, s:[{s:s, s:i}, {s:s, s:i}], s:{s:{s:s, s:i}, s:i},"
                  " s:{s:{s:s, s:i}, s:i}}",
                  "name", WF_INJECT_PROXY_NAME, "image", img, "imagePullPolicy", "IfNotPresent",
                  "env", env, "ports", "name", "linkerd-proxy", "containerPort", 4143, "name",
                  "linkerd-admin", "containerPort", 4191, "readinessProbe", "httpGet", "path",
                  "/ready", "port", 4191, "initialDelaySeconds", 2, "livenessProbe", "httpGet",
                  "path", "/live", "port", 4191, "initialDelaySeconds", 10);
    json_t *r = resources(c);
    if (json_object_size(r) > 0)
        json_object_set_new(ctr, "resources", r);
    else
        json_decref(r);
    json_object_set_new(ctr, "securityContext",
                        json_pack("{s:b, s:b, s:b, s:i}", "allowPrivilegeEscalation", 0,
                                  "readOnlyRootFilesystem", 1, "runAsNonRoot", 1, "runAsUser",
                                  WF_INJECT_PROXY_UID));
    json_object_set_new(ctr, "terminationMessagePolicy", json_string("FallbackToLogsOnError"));
    if (cfg->native_sidecar) {
        /* A restartable init container: the kubelet starts the next
         * container only once this startupProbe passes (up to 2 minutes). */
        json_object_set_new(ctr, "restartPolicy", json_string("Always"));
        json_object_set_new(ctr, "startupProbe",
                            json_pack("{s:{s:s, s:i}, s:i, s:i}", "httpGet", "path", "/ready",
                                      "port", 4191, "periodSeconds", 1, "failureThreshold", 120));
    }
    json_object_set_new(ctr, "volumeMounts",
                        json_pack("[{s:s, s:s, s:b}]", "name", WF_INJECT_TOKEN_VOLUME, "mountPath",
                                  "/var/run/secrets/tokens", "readOnly", 1));
    return ctr;
}

static json_t *init_container(ctx_t *c)
{
    const wf_inject_cfg_t *cfg = c->cfg;
    const char *from;
    char inbound[4096];
    const char *skip_in = check_ports(c, CFG_PREFIX "skip-inbound-ports", cfg->skip_inbound);
    const char *skip_out = check_ports(c, CFG_PREFIX "skip-outbound-ports", cfg->skip_outbound);
    snprintf(inbound, sizeof(inbound), "4190,4191%s%s", skip_in && *skip_in ? "," : "",
             skip_in ? skip_in : "");
    json_t *args =
        json_pack("[s,s, s,s, s,s, s,s]", "--incoming-proxy-port", "4143", "--outgoing-proxy-port",
                  "4140", "--proxy-uid", "2102", "--inbound-ports-to-ignore", inbound);
    if (skip_out != NULL && *skip_out != '\0') {
        json_array_append_new(args, json_string("--outbound-ports-to-ignore"));
        json_array_append_new(args, json_string(skip_out));
    }
    const char *subnets = ann(c, CFG_PREFIX "skip-subnets", &from);
    if (subnets != NULL && *subnets != '\0') {
        wf_cidr_t nets[64];
        char e[300];
        if (wf_cidr_list_parse(nets, WF_ARRAY_LEN(nets), wf_str_from(subnets), e, sizeof(e)) < 0)
            badf(c, "%s annotation " CFG_PREFIX "skip-subnets: %s", from, e);
        json_array_append_new(args, json_string("--subnets-to-ignore"));
        json_array_append_new(args, json_string(subnets));
    }
    const char *image = ann(c, CFG_PREFIX "proxy-init-image", &from);
    char img[512];
    if (image != NULL)
        snprintf(img, sizeof(img), "%s:%s", image, cfg->version);
    else
        snprintf(img, sizeof(img), "%s/proxy-init:%s", cfg->registry, cfg->version);
    return json_pack("{s:s, s:s, s:s, s:o, s:{s:b, s:{s:[s,s]}, s:b, s:b, s:b, s:i},"
                     " s:s}",
                     "name", WF_INJECT_INIT_NAME, "image", img, "imagePullPolicy", "IfNotPresent",
                     "args", args, "securityContext", "allowPrivilegeEscalation", 0, "capabilities",
                     "add", "NET_ADMIN", "NET_RAW", "privileged", 0, "readOnlyRootFilesystem", 1,
                     "runAsNonRoot", 0, "runAsUser", 0, "terminationMessagePolicy",
                     "FallbackToLogsOnError");
}

static bool has_container(const json_t *spec, const char *list, const char *a, const char *b)
{
    size_t i;
    json_t *ctr;
    json_array_foreach(json_object_get(spec, list), i, ctr)
    {
        const char *n = json_string_value(json_object_get(ctr, "name"));
        if (n != NULL && (strcmp(n, a) == 0 || strcmp(n, b) == 0))
            return true;
    }
    return false;
}

static int begin(const json_t *pod, wf_inject_result_t *res)
{
    memset(res, 0, sizeof(*res));
    res->patch = json_array();
    res->warnings = json_array();
    if (res->patch == NULL || res->warnings == NULL) {
        wf_inject_result_free(res);
        return WF_ENOMEM;
    }
    if (!json_is_object(pod) ||
        !json_is_array(json_object_get(json_object_get(pod, "spec"), "containers"))) {
        wf_inject_result_free(res);
        return WF_EINVAL;
    }
    return 0;
}

static int skip(wf_inject_result_t *res, wf_inject_outcome_t o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int skip(wf_inject_result_t *res, wf_inject_outcome_t o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
    va_end(ap);
    res->outcome = o;
    json_array_clear(res->patch);
    if (o == WF_INJECT_INVALID) /* the webhook shows warnings: name the annotation there too */
        json_array_append_new(res->warnings, json_string(res->reason));
    return 0;
}

int wf_inject_pod(const wf_inject_cfg_t *cfg, const json_t *pod, const char *ns,
                  const json_t *ns_annotations, const char *prefix, wf_inject_result_t *res)
{
    int rc = begin(pod, res);
    if (rc != 0)
        return rc;
    const json_t *md = json_object_get(pod, "metadata");
    const json_t *spec = json_object_get(pod, "spec");
    ctx_t c = {.cfg = cfg,
               .pod_ann = json_object_get(md, "annotations"),
               .ns_ann = ns_annotations,
               .res = res};
    if (ns == NULL || ns[0] == '\0')
        ns = json_string_value(json_object_get(md, "namespace"));

    /* 1. The inject annotation: pod first, then namespace. */
    const json_t *pv = json_object_get(c.pod_ann, A_INJECT);
    const json_t *nv = json_object_get(c.ns_ann, A_INJECT);
    const char *pval = json_string_value(pv), *nval = json_string_value(nv);
    bool ingress = false;
    bool pod_bad = pv != NULL &&
                   (pval == NULL || (strcmp(pval, "enabled") != 0 && strcmp(pval, "ingress") != 0 &&
                                     strcmp(pval, "disabled") != 0));
    res->requested = pod_bad; /* a misspelt request is still a request */
    if (pod_bad)
        return skip(res, WF_INJECT_INVALID,
                    "pod annotation " A_INJECT ": \"%.60s\" is not enabled, ingress or disabled%s",
                    pval != NULL ? pval : "(not a string)",
                    pval != NULL && strcmp(pval, "enable") == 0 ? " (did you mean enabled?)" : "");
    if (pval != NULL && strcmp(pval, "disabled") == 0)
        return skip(res, WF_INJECT_SKIPPED, "injection disabled by the pod annotation " A_INJECT);
    if (pval != NULL) {
        ingress = strcmp(pval, "ingress") == 0;
    } else if (cfg->force) {
        ingress = false;
    } else if (nv != NULL) {
        res->requested =
            nval == NULL || (strcmp(nval, "enabled") != 0 && strcmp(nval, "ingress") != 0 &&
                             strcmp(nval, "disabled") != 0);
        if (res->requested)
            return skip(res, WF_INJECT_INVALID,
                        "namespace annotation " A_INJECT ": \"%.60s\" is not enabled, ingress or "
                        "disabled",
                        nval != NULL ? nval : "(not a string)");
        if (strcmp(nval, "disabled") == 0)
            return skip(res, WF_INJECT_SKIPPED,
                        "injection disabled by the namespace annotation " A_INJECT);
        ingress = strcmp(nval, "ingress") == 0;
    } else {
        return skip(res, WF_INJECT_SKIPPED,
                    "neither the pod nor its namespace has the annotation " A_INJECT);
    }
    if (cfg->ingress)
        ingress = true;
    res->requested = true;

    /* 2. Where the mesh never goes. */
    if (ns != NULL && strcmp(ns, "kube-system") == 0)
        return skip(res, WF_INJECT_SKIPPED, "pods in kube-system are never injected");
    if (ns != NULL && strcmp(ns, cfg->cp_ns) == 0)
        return skip(res, WF_INJECT_SKIPPED,
                    "pods in the control plane's namespace (%s) are not injected", cfg->cp_ns);
    if (json_is_true(json_object_get(spec, "hostNetwork")))
        return skip(res, WF_INJECT_SKIPPED,
                    "hostNetwork pods are not injected (the proxy would capture the node's "
                    "traffic)");
    if (has_container(spec, "containers", WF_INJECT_PROXY_NAME, "linkerd-proxy") ||
        has_container(spec, "initContainers", WF_INJECT_PROXY_NAME, "linkerd-proxy")) {
        res->requested = false; /* the request is already met: nothing to record */
        return skip(res, WF_INJECT_SKIPPED, "already injected (it has a proxy container)");
    }

    /* Fields the patch adds to must be what the API says they are (a map,
     * a list) or absent / null — never overwrite something else. */
    static const struct {
        const char *parent, *field;
        json_type type;
    } shapes[] = {
        {NULL, "metadata", JSON_OBJECT},     {"metadata", "annotations", JSON_OBJECT},
        {"metadata", "labels", JSON_OBJECT}, {"spec", "initContainers", JSON_ARRAY},
        {"spec", "volumes", JSON_ARRAY},
    };
    for (size_t i = 0; i < WF_ARRAY_LEN(shapes); i++) {
        const json_t *parent =
            shapes[i].parent == NULL ? pod : json_object_get(pod, shapes[i].parent);
        const json_t *v = json_object_get(parent, shapes[i].field);
        if (v != NULL && !json_is_null(v) && json_typeof(v) != shapes[i].type)
            return skip(res, WF_INJECT_INVALID, "%s%s%s is not a %s",
                        shapes[i].parent ? shapes[i].parent : "", shapes[i].parent ? "." : "",
                        shapes[i].field, shapes[i].type == JSON_OBJECT ? "map" : "list");
    }

    /* 3. Settings, each checked. */
    if (c.pod_ann != NULL)
        check_unknown(&c, c.pod_ann, "pod");
    if (c.ns_ann != NULL)
        check_unknown(&c, c.ns_ann, "namespace");
    const char *opaque = check_ports(&c, CFG_PREFIX "opaque-ports", cfg->opaque_ports);
    json_t *proxy = proxy_container(&c, spec, ingress, opaque != NULL ? opaque : "");
    json_t *init = cfg->cni ? NULL : init_container(&c);
    if (cfg->cni) { /* still check the skip annotations: CNI reads them too */
        check_ports(&c, CFG_PREFIX "skip-inbound-ports", NULL);
        check_ports(&c, CFG_PREFIX "skip-outbound-ports", NULL);
    }
    if (c.nbad > 0) {
        json_decref(proxy);
        json_decref(init);
        res->outcome = WF_INJECT_INVALID;
        return 0;
    }

    /* 4. The patch: metadata, init container, proxy, volume. */
    json_t *p = res->patch;
    const char *vfrom;
    const char *pver = ann(&c, CFG_PREFIX "proxy-version", &vfrom);
    json_t *anns =
        json_pack("{s:s, s:s}", "linkerd.io/proxy-version", pver != NULL ? pver : cfg->version,
                  "linkerd.io/identity-mode", "default");
    json_t *labels = json_pack("{s:s}", "linkerd.io/control-plane-ns", cfg->cp_ns);
    if (ns != NULL && ns[0] != '\0') /* unknown for a manifest without a namespace */
        json_object_set_new(labels, "linkerd.io/workload-ns", json_string(ns));
    if (!json_is_object(md)) {
        op_add(p, prefix, "/metadata",
               json_pack("{s:o, s:o}", "annotations", anns, "labels", labels));
    } else {
        const char *k;
        json_t *v;
        char path[512], esc[256];
        const json_t *have_ann = json_object_get(md, "annotations");
        if (!json_is_object(have_ann)) {
            op_add(p, prefix, "/metadata/annotations", json_incref(anns));
        } else {
            json_object_foreach(anns, k, v)
            {
                wf_json_pointer_escape(k, esc, sizeof(esc));
                snprintf(path, sizeof(path), "/metadata/annotations/%s", esc);
                op_add(p, prefix, path, json_incref(v));
            }
        }
        const json_t *have_lab = json_object_get(md, "labels");
        if (!json_is_object(have_lab)) {
            op_add(p, prefix, "/metadata/labels", json_incref(labels));
        } else {
            json_object_foreach(labels, k, v)
            {
                wf_json_pointer_escape(k, esc, sizeof(esc));
                snprintf(path, sizeof(path), "/metadata/labels/%s", esc);
                op_add(p, prefix, path, json_incref(v));
            }
        }
        json_decref(anns);
        json_decref(labels);
    }
    bool have_inits = json_is_array(json_object_get(spec, "initContainers"));
    if (cfg->native_sidecar) {
        json_t *first = init != NULL ? json_pack("[o, o]", init, proxy) : json_pack("[o]", proxy);
        if (!have_inits) {
            op_add(p, prefix, "/spec/initContainers", first);
        } else {
            char path[64];
            for (size_t i = 0; i < json_array_size(first); i++) {
                snprintf(path, sizeof(path), "/spec/initContainers/%zu", i);
                op_add(p, prefix, path, json_incref(json_array_get(first, i)));
            }
            json_decref(first);
        }
    } else {
        if (init != NULL) {
            if (have_inits)
                op_add(p, prefix, "/spec/initContainers/-", init);
            else
                op_add(p, prefix, "/spec/initContainers", json_pack("[o]", init));
        }
        op_add(p, prefix, "/spec/containers/-", proxy);
    }
    json_t *vol =
        json_pack("{s:s, s:{s:[{s:{s:s, s:i, s:s}}]}}", "name", WF_INJECT_TOKEN_VOLUME, "projected",
                  "sources", "serviceAccountToken", "audience", "identity.l5d.io",
                  "expirationSeconds", 86400, "path", "linkerd-identity-token");
    if (json_is_array(json_object_get(spec, "volumes")))
        op_add(p, prefix, "/spec/volumes/-", vol);
    else
        op_add(p, prefix, "/spec/volumes", json_pack("[o]", vol));
    res->outcome = WF_INJECT_INJECTED;
    return 0;
}

/* --- uninject ----------------------------------------------------------------------------- */

/* Removes the named entries of array `list` in spec, last first (so the
 * indexes stay right), or the whole array when nothing else is left. */
static size_t remove_named(json_t *patch, const char *prefix, const json_t *obj, const char *base,
                           const char *list, const char *const *names, size_t nnames)
{
    const json_t *arr = json_object_get(obj, list);
    size_t n = json_array_size(arr), hits = 0;
    bool hit[1024] = {false};
    for (size_t i = 0; i < n && i < WF_ARRAY_LEN(hit); i++) {
        const char *nm = json_string_value(json_object_get(json_array_get(arr, i), "name"));
        for (size_t j = 0; nm != NULL && j < nnames && !hit[i]; j++)
            hit[i] = strcmp(nm, names[j]) == 0;
        hits += hit[i];
    }
    if (hits == 0)
        return 0;
    char path[256];
    if (hits == n) {
        snprintf(path, sizeof(path), "%s/%s", base, list);
        op_remove(patch, prefix, path);
        return hits;
    }
    for (size_t i = n; i-- > 0;) {
        if (i < WF_ARRAY_LEN(hit) && hit[i]) {
            snprintf(path, sizeof(path), "%s/%s/%zu", base, list, i);
            op_remove(patch, prefix, path);
        }
    }
    return hits;
}

static size_t remove_keys(json_t *patch, const char *prefix, const json_t *md, const char *map,
                          const char *const *keys, size_t nkeys)
{
    const json_t *m = json_object_get(md, map);
    size_t hits = 0;
    for (size_t i = 0; i < nkeys; i++)
        hits += json_object_get(m, keys[i]) != NULL;
    if (hits == 0)
        return 0;
    char path[512], esc[256];
    if (hits == json_object_size(m)) {
        snprintf(path, sizeof(path), "/metadata/%s", map);
        op_remove(patch, prefix, path);
        return hits;
    }
    for (size_t i = 0; i < nkeys; i++) {
        if (json_object_get(m, keys[i]) == NULL)
            continue;
        wf_json_pointer_escape(keys[i], esc, sizeof(esc));
        snprintf(path, sizeof(path), "/metadata/%s/%s", map, esc);
        op_remove(patch, prefix, path);
    }
    return hits;
}

int wf_uninject_pod(const json_t *pod, const char *prefix, wf_inject_result_t *res)
{
    int rc = begin(pod, res);
    if (rc != 0)
        return rc;
    const json_t *md = json_object_get(pod, "metadata");
    const json_t *spec = json_object_get(pod, "spec");
    static const char *const ctrs[] = {WF_INJECT_PROXY_NAME, "linkerd-proxy"};
    static const char *const inits[] = {WF_INJECT_INIT_NAME, "linkerd-init", WF_INJECT_PROXY_NAME,
                                        "linkerd-proxy"};
    static const char *const vols[] = {WF_INJECT_TOKEN_VOLUME, "linkerd-identity-token",
                                       "linkerd-identity-end-entity"};
    static const char *const anns[] = {"linkerd.io/proxy-version", "linkerd.io/identity-mode",
                                       "linkerd.io/created-by", "linkerd.io/trust-root-sha256"};
    static const char *const labels[] = {"linkerd.io/control-plane-ns", "linkerd.io/workload-ns",
                                         "linkerd.io/proxy-deployment"};
    size_t hits = 0;
    /* Metadata last first: a removed map changes no index elsewhere. */
    size_t na = remove_keys(res->patch, prefix, md, "annotations", anns, WF_ARRAY_LEN(anns));
    size_t nl = remove_keys(res->patch, prefix, md, "labels", labels, WF_ARRAY_LEN(labels));
    hits += na + nl;
    /* metadata that held only what inject added: drop it too. */
    if (na > 0 && nl > 0 && json_object_size(md) == 2 &&
        json_object_size(json_object_get(md, "annotations")) == na &&
        json_object_size(json_object_get(md, "labels")) == nl) {
        json_array_clear(res->patch);
        op_remove(res->patch, prefix, "/metadata");
    }
    hits += remove_named(res->patch, prefix, spec, "/spec", "initContainers", inits,
                         WF_ARRAY_LEN(inits));
    hits += remove_named(res->patch, prefix, spec, "/spec", "containers", ctrs, WF_ARRAY_LEN(ctrs));
    hits += remove_named(res->patch, prefix, spec, "/spec", "volumes", vols, WF_ARRAY_LEN(vols));
    if (hits == 0)
        return skip(res, WF_INJECT_SKIPPED, "not injected (nothing to remove)");
    res->outcome = WF_INJECT_INJECTED;
    return 0;
}
