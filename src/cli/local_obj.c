/*
 * local_obj.c — see local_obj.h.
 */
#include "local_obj.h"

#include "local_yaml.h"
#include "net/ports.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

/* Files larger than this are refused: manifests are small. */
#define WF_LM_FILE_MAX (16u << 20)

static const char wf_lm_safe[] = "bcdfghjklmnpqrstvwxz2456789";

const char *wf_lm_kind(json_t *obj)
{
    const char *s = json_string_value(json_object_get(obj, "kind"));
    return s ? s : "";
}

json_t *wf_lm_path(json_t *obj, const char *dotted)
{
    char key[64];
    const char *p = dotted;
    while (obj != NULL && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof(key))
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        obj = json_is_object(obj) ? json_object_get(obj, key) : NULL;
        p += n + (dot ? 1 : 0);
    }
    return obj;
}

const char *wf_lm_name(json_t *obj)
{
    const char *s = json_string_value(wf_lm_path(obj, "metadata.name"));
    return s ? s : "";
}

const char *wf_lm_namespace(json_t *obj)
{
    const char *s = json_string_value(wf_lm_path(obj, "metadata.namespace"));
    return s ? s : "";
}

bool wf_lm_kind_known(const char *kind)
{
    static const char *const known[] = {"Namespace",  "ServiceAccount", "Pod",
                                        "Deployment", "StatefulSet",    "Service"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(kind, known[i]) == 0)
            return true;
    return false;
}

bool wf_lm_kind_cluster_scoped(const char *kind)
{
    static const char *const cs[] = {"Namespace",
                                     "CustomResourceDefinition",
                                     "ClusterRole",
                                     "ClusterRoleBinding",
                                     "PersistentVolume",
                                     "StorageClass",
                                     "MutatingWebhookConfiguration",
                                     "ValidatingWebhookConfiguration",
                                     "APIService",
                                     "PriorityClass",
                                     "GatewayClass"};
    for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++)
        if (strcmp(kind, cs[i]) == 0)
            return true;
    return false;
}

void wf_lm_resource(const char *kind, const char *api_version, const char *plural, char *out,
                    size_t outlen)
{
    char p[128];
    if (plural != NULL && *plural) {
        snprintf(p, sizeof(p), "%s", plural);
    } else {
        size_t n = 0;
        for (; kind[n] && n + 4 < sizeof(p); n++)
            p[n] = (char)tolower((unsigned char)kind[n]);
        p[n] = '\0';
        if (n > 1 && p[n - 1] == 'y' && !strchr("aeiou", p[n - 2])) {
            strcpy(p + n - 1, "ies");
        } else if (n > 0 && (p[n - 1] == 's' || p[n - 1] == 'x' ||
                             (n > 1 && p[n - 1] == 'h' && strchr("cs", p[n - 2])))) {
            strcpy(p + n, "es");
        } else {
            strcpy(p + n, "s");
        }
    }
    /* Groups Kubernetes keeps without a suffix in our store: the core group
     * ("v1") and the built-in groups our controllers read by plain name. */
    const char *slash = strchr(api_version, '/');
    size_t glen = slash ? (size_t)(slash - api_version) : 0;
    static const char *const builtin[] = {"apps",
                                          "discovery.k8s.io",
                                          "batch",
                                          "rbac.authorization.k8s.io",
                                          "networking.k8s.io",
                                          "policy",
                                          "autoscaling",
                                          "apiextensions.k8s.io",
                                          "admissionregistration.k8s.io",
                                          "coordination.k8s.io"};
    bool plain = glen == 0;
    for (size_t i = 0; !plain && i < sizeof(builtin) / sizeof(builtin[0]); i++)
        plain = strlen(builtin[i]) == glen && memcmp(builtin[i], api_version, glen) == 0;
    if (plain)
        snprintf(out, outlen, "%s", p);
    else
        snprintf(out, outlen, "%s.%.*s", p, (int)glen, api_version);
}

void wf_lm_key(json_t *obj, char *out, size_t outlen)
{
    char res[200];
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    wf_lm_resource(wf_lm_kind(obj), av ? av : "v1", NULL, res, sizeof(res));
    if (wf_lm_kind_cluster_scoped(wf_lm_kind(obj)))
        snprintf(out, outlen, "%s/%s", res, wf_lm_name(obj));
    else
        snprintf(out, outlen, "%s/%s/%s", res, wf_lm_namespace(obj), wf_lm_name(obj));
}

/* RFC 1123 subdomain (names), or label when `label` (namespaces,
 * services, containers): lower-case alphanumerics, '-' (and '.' for
 * subdomains), starting and ending alphanumeric. */
static bool wf_lm_dns_name(const char *s, bool label)
{
    size_t n = strlen(s);
    if (n == 0 || n > (label ? 63u : 253u))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '-' && !(c == '.' && !label))
            return false;
        if ((i == 0 || i == n - 1) && !alnum)
            return false;
    }
    return true;
}

static int wf_lm_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int wf_lm_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static bool wf_lm_port_ok(json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 65535;
}

/* Checks a pod spec at `where` ("spec" or "spec.template.spec"). */
static int wf_lm_podspec_check(json_t *spec, const char *where, char *err, size_t errlen)
{
    if (!json_is_object(spec))
        return wf_lm_errf(err, errlen, "%s: missing or not a mapping", where);
    json_t *cs = json_object_get(spec, "containers");
    if (!json_is_array(cs) || json_array_size(cs) == 0)
        return wf_lm_errf(err, errlen, "%s.containers: must be a non-empty list", where);
    size_t i, j;
    json_t *c;
    json_array_foreach (cs, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        if (!json_is_object(c) || name == NULL || !wf_lm_dns_name(name, true))
            return wf_lm_errf(err, errlen, "%s.containers[%zu].name: missing or not a DNS label",
                              where, i);
        for (size_t k = 0; k < i; k++)
            if (strcmp(name, json_string_value(json_object_get(json_array_get(cs, k), "name"))) ==
                0)
                return wf_lm_errf(err, errlen, "%s.containers[%zu].name: duplicate name \"%s\"",
                                  where, i, name);
        if (strcmp(name, "linkerd-proxy") == 0)
            return wf_lm_errf(err, errlen,
                              "%s.containers[%zu].name: \"linkerd-proxy\" is the sidecar's name",
                              where, i);
        json_t *cmd = json_object_get(c, "command"), *args = json_object_get(c, "args");
        if (json_array_size(cmd) == 0)
            return wf_lm_errf(err, errlen,
                              "%s.containers[%zu].command: missing (local mode runs commands "
                              "from this host and ignores images; give the command)",
                              where, i);
        json_t *list[2] = {cmd, args};
        for (int l = 0; l < 2; l++) {
            if (list[l] != NULL && !json_is_array(list[l]))
                return wf_lm_errf(err, errlen, "%s.containers[%zu].%s: must be a list", where, i,
                                  l ? "args" : "command");
            json_t *w;
            json_array_foreach (list[l], j, w) {
                if (!json_is_string(w) && !json_is_integer(w) && !json_is_real(w) &&
                    !json_is_boolean(w))
                    return wf_lm_errf(err, errlen, "%s.containers[%zu].%s[%zu]: must be a string",
                                      where, i, l ? "args" : "command", j);
            }
        }
        json_t *ports = json_object_get(c, "ports"), *p;
        if (ports != NULL && !json_is_array(ports))
            return wf_lm_errf(err, errlen, "%s.containers[%zu].ports: must be a list", where, i);
        json_array_foreach (ports, j, p) {
            if (!wf_lm_port_ok(json_object_get(p, "containerPort")))
                return wf_lm_errf(err, errlen,
                                  "%s.containers[%zu].ports[%zu].containerPort: must be 1-65535",
                                  where, i, j);
        }
        json_t *env = json_object_get(c, "env"), *e;
        if (env != NULL && !json_is_array(env))
            return wf_lm_errf(err, errlen, "%s.containers[%zu].env: must be a list", where, i);
        json_array_foreach (env, j, e) {
            if (json_string_value(json_object_get(e, "name")) == NULL)
                return wf_lm_errf(err, errlen, "%s.containers[%zu].env[%zu].name: missing", where,
                                  i, j);
        }
        json_t *uid = wf_lm_path(c, "securityContext.runAsUser");
        if (uid != NULL && !(json_is_integer(uid) && json_integer_value(uid) >= 0 &&
                             json_integer_value(uid) < 4294967295LL))
            return wf_lm_errf(err, errlen,
                              "%s.containers[%zu].securityContext.runAsUser: must be a uid", where,
                              i);
    }
    const char *rp = json_string_value(json_object_get(spec, "restartPolicy"));
    if (json_object_get(spec, "restartPolicy") != NULL &&
        (rp == NULL || (strcmp(rp, "Always") && strcmp(rp, "OnFailure") && strcmp(rp, "Never"))))
        return wf_lm_errf(err, errlen, "%s.restartPolicy: must be Always, OnFailure or Never",
                          where);
    return 0;
}

int wf_lm_object_check(json_t *obj, char *err, size_t errlen)
{
    if (!json_is_object(obj))
        return wf_lm_errf(err, errlen, "not a mapping (a Kubernetes object is a mapping)");
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    if (av == NULL || *av == '\0')
        return wf_lm_errf(err, errlen, "apiVersion: missing or not a string");
    if (kind == NULL || *kind == '\0')
        return wf_lm_errf(err, errlen, "kind: missing or not a string");
    json_t *md = json_object_get(obj, "metadata");
    if (!json_is_object(md))
        return wf_lm_errf(err, errlen, "%s: metadata: missing or not a mapping", kind);
    const char *name = json_string_value(json_object_get(md, "name"));
    if (name == NULL || !wf_lm_dns_name(name, false))
        return wf_lm_errf(err, errlen,
                          "%s: metadata.name: missing or not a DNS name (lower-case letters, "
                          "digits, '-', '.')",
                          kind);
    bool cluster = wf_lm_kind_cluster_scoped(kind);
    json_t *nsv = json_object_get(md, "namespace");
    if (cluster) {
        json_object_del(md, "namespace");
    } else if (nsv == NULL || json_is_null(nsv)) {
        json_object_set_new(md, "namespace", json_string("default"));
    } else if (!json_is_string(nsv) || !wf_lm_dns_name(json_string_value(nsv), true)) {
        return wf_lm_errf(err, errlen, "%s %s: metadata.namespace: not a DNS label", kind, name);
    }
    const char *ns = cluster ? "" : json_string_value(json_object_get(md, "namespace"));
    char who[400];
    snprintf(who, sizeof(who), "%s %s%s%s", kind, ns, *ns ? "/" : "", name);
    const char *fields[] = {"labels", "annotations"};
    for (int f = 0; f < 2; f++) {
        json_t *m = json_object_get(md, fields[f]), *v;
        const char *k;
        if (m == NULL || json_is_null(m)) {
            json_object_del(md, fields[f]);
            continue;
        }
        if (!json_is_object(m))
            return wf_lm_errf(err, errlen, "%s: metadata.%s: must be a mapping", who, fields[f]);
        json_object_foreach (m, k, v) {
            if (!json_is_string(v))
                return wf_lm_errf(err, errlen,
                                  "%s: metadata.%s.%s: must be a string (quote it: \"%s\")", who,
                                  fields[f], k,
                                  json_is_true(v)    ? "true"
                                  : json_is_false(v) ? "false"
                                                     : "...");
        }
    }
    if (strcmp(kind, "Pod") == 0) {
        char sub[400];
        if (!wf_lm_dns_name(name, true))
            return wf_lm_errf(err, errlen, "%s: metadata.name: a pod's name must be a DNS label",
                              who);
        if (wf_lm_podspec_check(json_object_get(obj, "spec"), "spec", sub, sizeof(sub)) < 0)
            return wf_lm_errf(err, errlen, "%s: %s", who, sub);
    } else if (strcmp(kind, "Deployment") == 0 || strcmp(kind, "StatefulSet") == 0) {
        char sub[400];
        json_t *spec = json_object_get(obj, "spec");
        json_t *r = json_object_get(spec, "replicas");
        if (r != NULL &&
            !(json_is_integer(r) && json_integer_value(r) >= 0 && json_integer_value(r) <= 1000))
            return wf_lm_errf(err, errlen, "%s: spec.replicas: must be an integer 0-1000", who);
        if (wf_lm_podspec_check(wf_lm_path(obj, "spec.template.spec"), "spec.template.spec", sub,
                                sizeof(sub)) < 0)
            return wf_lm_errf(err, errlen, "%s: %s", who, sub);
        json_t *ml = wf_lm_path(obj, "spec.selector.matchLabels");
        json_t *tl = wf_lm_path(obj, "spec.template.metadata.labels");
        const char *k;
        json_t *v;
        if (!json_is_object(ml) || json_object_size(ml) == 0)
            return wf_lm_errf(err, errlen, "%s: spec.selector.matchLabels: missing", who);
        json_object_foreach (ml, k, v) {
            json_t *t = json_object_get(tl, k);
            if (!json_is_string(v) || !json_is_string(t) || !json_equal(v, t))
                return wf_lm_errf(err, errlen,
                                  "%s: spec.selector.matchLabels.%s: does not match "
                                  "spec.template.metadata.labels",
                                  who, k);
        }
    } else if (strcmp(kind, "Service") == 0) {
        if (!wf_lm_dns_name(name, true))
            return wf_lm_errf(err, errlen,
                              "%s: metadata.name: a service's name must be a DNS label", who);
        json_t *ports = wf_lm_path(obj, "spec.ports"), *p;
        size_t i;
        if (ports != NULL && !json_is_array(ports))
            return wf_lm_errf(err, errlen, "%s: spec.ports: must be a list", who);
        json_array_foreach (ports, i, p) {
            if (!wf_lm_port_ok(json_object_get(p, "port")))
                return wf_lm_errf(err, errlen, "%s: spec.ports[%zu].port: must be 1-65535", who, i);
            json_t *tp = json_object_get(p, "targetPort");
            if (tp != NULL && !wf_lm_port_ok(tp) &&
                !(json_is_string(tp) && wf_lm_dns_name(json_string_value(tp), true)))
                return wf_lm_errf(err, errlen,
                                  "%s: spec.ports[%zu].targetPort: must be 1-65535 or a port name",
                                  who, i);
            const char *proto = json_string_value(json_object_get(p, "protocol"));
            if (proto != NULL && strcmp(proto, "TCP") != 0)
                return wf_lm_errf(err, errlen,
                                  "%s: spec.ports[%zu].protocol: only TCP is supported", who, i);
        }
        json_t *sel = wf_lm_path(obj, "spec.selector"), *v;
        const char *k;
        if (sel != NULL && !json_is_null(sel) && !json_is_object(sel))
            return wf_lm_errf(err, errlen, "%s: spec.selector: must be a mapping", who);
        json_object_foreach (sel, k, v) {
            if (!json_is_string(v))
                return wf_lm_errf(err, errlen, "%s: spec.selector.%s: must be a string", who, k);
        }
    } else if (strcmp(kind, "Namespace") == 0 && !wf_lm_dns_name(name, true)) {
        return wf_lm_errf(err, errlen, "%s: metadata.name: a namespace's name must be a DNS label",
                          who);
    }
    return 0;
}

typedef struct wf_lm_load_ctx {
    const char *name;
    json_t *out;
    wf_lm_report_fn report;
    void *ctx;
    int problems;
} wf_lm_load_ctx_t;

static void wf_lm_add(wf_lm_load_ctx_t *lc, int index, json_t *obj, const char *item)
{
    char where[512], err[512];
    snprintf(where, sizeof(where), "%s: document %d%s", lc->name, index, item ? item : "");
    if (wf_lm_object_check(obj, err, sizeof(err)) < 0) {
        lc->problems++;
        lc->report(lc->ctx, where, err);
        return;
    }
    json_array_append(lc->out, obj);
}

static void wf_lm_doc(void *vctx, int index, json_t *doc, const char *err)
{
    wf_lm_load_ctx_t *lc = vctx;
    if (doc == NULL) {
        char where[512];
        snprintf(where, sizeof(where), "%s: document %d", lc->name, index);
        lc->problems++;
        lc->report(lc->ctx, where, err);
        return;
    }
    if (json_is_null(doc)) {
        json_decref(doc);
        return;
    }
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    if (kind != NULL && strlen(kind) >= 4 && strcmp(kind + strlen(kind) - 4, "List") == 0 &&
        json_is_array(json_object_get(doc, "items"))) {
        size_t i;
        json_t *it;
        json_array_foreach (json_object_get(doc, "items"), i, it) {
            char item[48];
            snprintf(item, sizeof(item), ", items[%zu]", i);
            wf_lm_add(lc, index, it, item);
        }
    } else {
        wf_lm_add(lc, index, doc, NULL);
    }
    json_decref(doc);
}

int wf_lm_load_buf(const char *name, const char *buf, size_t len, json_t *out,
                   wf_lm_report_fn report, void *ctx)
{
    wf_lm_load_ctx_t lc = {name, out, report, ctx, 0};
    wf_yaml_parse_docs(buf, len, wf_lm_doc, &lc);
    return lc.problems;
}

static int wf_lm_load_file(const char *path, json_t *out, wf_lm_report_fn report, void *ctx)
{
    FILE *f = fopen(path, "rb");
    char msg[300];
    if (f == NULL) {
        snprintf(msg, sizeof(msg), "cannot open: %s", strerror(errno));
        report(ctx, path, msg);
        return 1;
    }
    char *buf = malloc(WF_LM_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, WF_LM_FILE_MAX + 1, f) : 0;
    int bad = buf == NULL || ferror(f) || n > WF_LM_FILE_MAX;
    fclose(f);
    if (bad) {
        snprintf(msg, sizeof(msg), "%s",
                 buf == NULL          ? "out of memory"
                 : n > WF_LM_FILE_MAX ? "larger than 16 MiB"
                                      : "read error");
        report(ctx, path, msg);
        free(buf);
        return 1;
    }
    int problems = wf_lm_load_buf(path, buf, n, out, report, ctx);
    free(buf);
    return problems;
}

static int wf_lm_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int wf_lm_load_path(const char *path, json_t *out, wf_lm_report_fn report, void *ctx)
{
    struct stat st;
    char msg[300];
    if (stat(path, &st) < 0) {
        snprintf(msg, sizeof(msg), "cannot read: %s", strerror(errno));
        report(ctx, path, msg);
        return 1;
    }
    if (!S_ISDIR(st.st_mode))
        return wf_lm_load_file(path, out, report, ctx);
    DIR *d = opendir(path);
    if (d == NULL) {
        snprintf(msg, sizeof(msg), "cannot open directory: %s", strerror(errno));
        report(ctx, path, msg);
        return 1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        bool yaml = (l > 5 && strcmp(de->d_name + l - 5, ".yaml") == 0) ||
                    (l > 4 && strcmp(de->d_name + l - 4, ".yml") == 0) ||
                    (l > 5 && strcmp(de->d_name + l - 5, ".json") == 0);
        if (!yaml || de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof(*nn));
            if (nn == NULL)
                break;
            names = nn;
        }
        if (asprintf(&names[n], "%s/%s", path, de->d_name) < 0)
            break;
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof(*names), wf_lm_cmp);
    int problems = 0;
    for (size_t i = 0; i < n; i++) {
        problems += wf_lm_load_file(names[i], out, report, ctx);
        free(names[i]);
    }
    free(names);
    if (n == 0) {
        report(ctx, path, "no *.yaml, *.yml or *.json files in this directory");
        problems++;
    }
    return problems;
}

/* ---- annotations ---------------------------------------------------------- */

static const char *wf_lm_ann(json_t *pod_ann, json_t *ns_ann, const char *key)
{
    const char *v = json_string_value(json_object_get(pod_ann, key));
    return v ? v : json_string_value(json_object_get(ns_ann, key));
}

int64_t wf_lm_parse_cpu(const char *s)
{
    if (s == NULL || *s == '\0')
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0)
        return -1;
    if (strcmp(end, "m") == 0) {
        if (v != floor(v) || v > 1e12)
            return -1;
        return (int64_t)v;
    }
    if (*end != '\0' || v > 1e9 || strchr(s, 'e') || strchr(s, 'E'))
        return -1;
    return (int64_t)ceil(v * 1000.0);
}

int64_t wf_lm_parse_bytes(const char *s)
{
    if (s == NULL || *s == '\0')
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0 || *s == '.' || *s == '+')
        return -1;
    static const struct {
        const char *suffix;
        double mult;
    } units[] = {{"", 1},           {"k", 1e3},           {"M", 1e6},
                 {"G", 1e9},        {"T", 1e12},          {"Ki", 1024.0},
                 {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
                 {"m", 1e-3}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            double b = ceil(v * units[i].mult);
            if (b > 9e18)
                return -1;
            return (int64_t)b;
        }
    }
    return -1;
}

/* Parses a port-list annotation into out (canonical). False on error with
 * the warning written. */
static bool wf_lm_ports_ann(wf_lm_inject_t *out, const char *key, const char *val, char *dst)
{
    static wf_portset_t set; /* 8 KiB: kept off the stack; single-threaded CLI */
    char err[256];
    if (wf_portset_parse(&set, wf_str_from(val), err, sizeof(err)) < 0) {
        snprintf(out->warning, sizeof(out->warning), "annotation %s: %s", key, err);
        return false;
    }
    size_t n = wf_portset_format(&set, dst, WF_LM_LIST_MAX);
    if (n >= WF_LM_LIST_MAX) {
        snprintf(out->warning, sizeof(out->warning), "annotation %s: list too long", key);
        return false;
    }
    return true;
}

void wf_lm_inject_resolve(json_t *pod_ann, json_t *ns_ann, const char *ns, wf_lm_inject_t *out)
{
    memset(out, 0, sizeof(*out));
    out->cpu_limit_m = out->cpu_request_m = -1;
    out->memory_limit = out->memory_request = -1;
    out->ephemeral_limit = out->ephemeral_request = -1;
    const char *inj = wf_lm_ann(pod_ann, ns_ann, "linkerd.io/inject");
    if (inj == NULL || strcmp(inj, "disabled") == 0)
        return;
    if (strcmp(ns, "kube-system") == 0 || strcmp(ns, "kube-public") == 0)
        return;
    wf_lm_inject_mode_t mode;
    if (strcmp(inj, "enabled") == 0) {
        mode = WF_LM_INJECT_ENABLED;
    } else if (strcmp(inj, "ingress") == 0) {
        mode = WF_LM_INJECT_INGRESS;
    } else {
        snprintf(out->warning, sizeof(out->warning),
                 "annotation linkerd.io/inject: unknown value \"%.60s\" (want enabled, ingress "
                 "or disabled)",
                 inj);
        return;
    }
    const char *v;
    if ((v = wf_lm_ann(pod_ann, ns_ann, "config.linkerd.io/opaque-ports")) != NULL) {
        out->has_opaque = true;
        if (!wf_lm_ports_ann(out, "config.linkerd.io/opaque-ports", v, out->opaque_ports))
            return;
    }
    if ((v = wf_lm_ann(pod_ann, ns_ann, "config.linkerd.io/skip-inbound-ports")) != NULL &&
        !wf_lm_ports_ann(out, "config.linkerd.io/skip-inbound-ports", v, out->skip_inbound))
        return;
    if ((v = wf_lm_ann(pod_ann, ns_ann, "config.linkerd.io/skip-outbound-ports")) != NULL &&
        !wf_lm_ports_ann(out, "config.linkerd.io/skip-outbound-ports", v, out->skip_outbound))
        return;
    if ((v = wf_lm_ann(pod_ann, ns_ann, "config.linkerd.io/skip-subnets")) != NULL) {
        wf_cidr_t nets[64];
        char err[256];
        int n = wf_cidr_list_parse(nets, 64, wf_str_from(v), err, sizeof(err));
        if (n < 0) {
            snprintf(out->warning, sizeof(out->warning),
                     "annotation config.linkerd.io/skip-subnets: %s", err);
            return;
        }
        size_t off = 0;
        for (int i = 0; i < n && off < WF_LM_LIST_MAX; i++) {
            char one[64];
            wf_cidr_format(&nets[i], one, sizeof(one));
            off += (size_t)snprintf(out->skip_subnets + off, WF_LM_LIST_MAX - off, "%s%s",
                                    i ? "," : "", one);
        }
        if (off >= WF_LM_LIST_MAX) {
            snprintf(out->warning, sizeof(out->warning),
                     "annotation config.linkerd.io/skip-subnets: list too long");
            return;
        }
    }
    static const struct {
        const char *key;
        bool cpu;
        size_t off;
    } res[] = {
        {"config.linkerd.io/proxy-cpu-limit", true, offsetof(wf_lm_inject_t, cpu_limit_m)},
        {"config.linkerd.io/proxy-cpu-request", true, offsetof(wf_lm_inject_t, cpu_request_m)},
        {"config.linkerd.io/proxy-memory-limit", false, offsetof(wf_lm_inject_t, memory_limit)},
        {"config.linkerd.io/proxy-memory-request", false, offsetof(wf_lm_inject_t, memory_request)},
        {"config.linkerd.io/proxy-ephemeral-storage-limit", false,
         offsetof(wf_lm_inject_t, ephemeral_limit)},
        {"config.linkerd.io/proxy-ephemeral-storage-request", false,
         offsetof(wf_lm_inject_t, ephemeral_request)},
    };
    for (size_t i = 0; i < sizeof(res) / sizeof(res[0]); i++) {
        if ((v = wf_lm_ann(pod_ann, ns_ann, res[i].key)) == NULL)
            continue;
        int64_t q = res[i].cpu ? wf_lm_parse_cpu(v) : wf_lm_parse_bytes(v);
        if (q < 0) {
            snprintf(out->warning, sizeof(out->warning),
                     "annotation %s: invalid quantity \"%.60s\" (e.g. %s)", res[i].key, v,
                     res[i].cpu ? "\"500m\" or \"1\"" : "\"64Mi\" or \"1Gi\"");
            return;
        }
        *(int64_t *)((char *)out + res[i].off) = q;
    }
    out->mode = mode;
}

/* ---- names ------------------------------------------------------------------ */

void wf_lm_template_hash(json_t *tmpl, char out[16])
{
    char *s = json_dumps(tmpl, JSON_SORT_KEYS | JSON_COMPACT);
    uint32_t h = 2166136261u;
    for (const char *p = s ? s : ""; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 16777619u;
    }
    free(s);
    char dec[16];
    snprintf(dec, sizeof(dec), "%u", h);
    size_t i = 0;
    for (; dec[i] && i < 15; i++)
        out[i] = wf_lm_safe[(unsigned char)dec[i] % (sizeof(wf_lm_safe) - 1)];
    out[i] = '\0';
}

void wf_lm_random_suffix(char *out, size_t n)
{
    unsigned char r[64];
    if (n > sizeof(r))
        n = sizeof(r);
    if (getrandom(r, n, 0) != (ssize_t)n)
        for (size_t i = 0; i < n; i++)
            r[i] = (unsigned char)rand();
    for (size_t i = 0; i < n; i++)
        out[i] = wf_lm_safe[r[i] % (sizeof(wf_lm_safe) - 1)];
    out[n] = '\0';
}

void wf_lm_uuid(char out[37])
{
    unsigned char r[16];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        for (size_t i = 0; i < sizeof(r); i++)
            r[i] = (unsigned char)rand();
    r[6] = (r[6] & 0x0f) | 0x40;
    r[8] = (r[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0],
             r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
             r[14], r[15]);
}
