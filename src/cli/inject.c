/*
 * inject.c — `weft inject` and `weft uninject`: the injector's
 * transformation (k8s/inject.h) applied offline to manifests.
 *
 * Inputs are files, directories (their *.yaml, *.yml and *.json files, in
 * name order, not recursive) or "-" for stdin. Every document is parsed
 * into an ordered YAML tree (k8s/ydoc.h), each pod template found in it is
 * turned into JSON, handed to the shared transformation, and the JSON
 * Patch it returns is applied to the tree — so everything else in the
 * document (key order, quoting, block scalars, unknown kinds) is written
 * back as it came. Comments are the exception (libyaml drops them): a note
 * says so. The report goes to stderr, one line per resource.
 *
 * Exit status: 0; 1 when an input could not be read or parsed, or a
 * resource was left uninjected because of a bad annotation (the output is
 * still written, with that resource untouched); 2 for usage errors.
 */
#include "kube.h"

#include "core/buf.h"
#include "k8s/inject.h"
#include "k8s/ydoc.h"
#include "net/ports.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <yaml.h>

#define INPUT_MAX (4u * 1024 * 1024)

typedef struct run {
    bool uninject;
    wf_inject_cfg_t cfg;
    char *anchors;  /* owned: --identity-trust-anchors-file contents */
    wf_ydocs_t out; /* the documents to print, in order (moved from the inputs) */
    bool failed;
} run_t;

/* Where a kind keeps its pod template (a JSON pointer), or NULL. */
static const char *template_path(const char *kind)
{
    static const struct {
        const char *kind, *path;
    } kinds[] = {
        {"Pod", ""},
        {"Deployment", "/spec/template"},
        {"StatefulSet", "/spec/template"},
        {"DaemonSet", "/spec/template"},
        {"ReplicaSet", "/spec/template"},
        {"ReplicationController", "/spec/template"},
        {"Job", "/spec/template"},
        {"CronJob", "/spec/jobTemplate/spec/template"},
    };
    for (size_t i = 0; i < WF_ARRAY_LEN(kinds); i++)
        if (strcmp(kind, kinds[i].kind) == 0)
            return kinds[i].path;
    return NULL;
}

/* The slot holding the node at a simple "/a/b/c" path of map keys. */
static wf_ynode_t **slot_at(wf_ynode_t **root, const char *path)
{
    wf_ynode_t **cur = root;
    char key[128];
    const char *p = path;
    while (*p == '/') {
        p++;
        size_t n = strcspn(p, "/");
        if (n >= sizeof(key) || (*cur)->type != WF_YNODE_MAP)
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        p += n;
        wf_ynode_t **next = NULL;
        for (size_t i = 0; i + 1 < (*cur)->n; i += 2)
            if ((*cur)->items[i]->type == WF_YNODE_SCALAR &&
                strcmp((*cur)->items[i]->str, key) == 0)
                next = &(*cur)->items[i + 1];
        if (next == NULL)
            return NULL;
        cur = next;
    }
    return cur;
}

static const char *scalar(const wf_ynode_t *map, const char *key)
{
    const wf_ynode_t *n = wf_ynode_get(map, key);
    return n != NULL && n->type == WF_YNODE_SCALAR ? n->str : NULL;
}

static void lower(const char *in, char *out, size_t outlen)
{
    size_t i = 0;
    for (; in[i] && i + 1 < outlen; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

/* One resource (a document or a List item): transforms its pod template
 * in place and reports. */
static void one(run_t *r, const char *src, wf_ynode_t **slot)
{
    wf_ynode_t *res = *slot;
    if (res->type != WF_YNODE_MAP) {
        fprintf(stderr, "%s: a document that is not an object: passed through\n", src);
        return;
    }
    const char *kind = scalar(res, "kind");
    const wf_ynode_t *md = wf_ynode_get(res, "metadata");
    const char *name = scalar(md, "name");
    const char *ns = scalar(md, "namespace");
    if (kind == NULL) {
        fprintf(stderr, "%s: a document without a kind: passed through untouched\n", src);
        return;
    }
    size_t kl = strlen(kind);
    if (kl >= 4 && strcmp(kind + kl - 4, "List") == 0) {
        wf_ynode_t *items = wf_ynode_get(res, "items");
        for (size_t i = 0; items != NULL && items->type == WF_YNODE_SEQ && i < items->n; i++)
            one(r, src, &items->items[i]);
        return;
    }
    char lk[64], what[400];
    lower(kind, lk, sizeof(lk));
    snprintf(what, sizeof(what), "%s/%s", lk, name != NULL ? name : "(unnamed)");
    const char *path = template_path(kind);
    if (path == NULL) {
        fprintf(stderr, "%s %s: kind %s has no pod template; passed through untouched\n",
                r->uninject ? "uninject:" : "inject:", what, kind);
        return;
    }
    wf_ynode_t **tslot = slot_at(slot, path);
    json_t *pod = tslot != NULL ? wf_ynode_to_json(*tslot) : NULL;
    wf_inject_result_t ir;
    int rc = pod == NULL   ? WF_EINVAL
             : r->uninject ? wf_uninject_pod(pod, "", &ir)
                           : wf_inject_pod(&r->cfg, pod, ns, NULL, "", &ir);
    json_decref(pod);
    if (rc != 0) {
        fprintf(stderr, "%s %s: no pod spec with containers at %s; passed through untouched\n",
                r->uninject ? "uninject:" : "inject:", what, path[0] ? path : "/");
        return;
    }
    size_t i;
    json_t *w;
    json_array_foreach(ir.warnings, i, w)
    {
        if (ir.outcome != WF_INJECT_INVALID)
            fprintf(stderr, "warning: %s: %s\n", what, json_string_value(w));
    }
    if (ir.outcome == WF_INJECT_INJECTED) {
        char err[300];
        if (wf_ynode_patch(tslot, ir.patch, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s: %s: internal error applying the patch: %s\n", src, what, err);
            r->failed = true;
        } else {
            fprintf(stderr, "%s %s\n", what, r->uninject ? "uninjected" : "injected");
        }
    } else if (ir.outcome == WF_INJECT_INVALID) {
        fprintf(stderr, "%s not injected: %s\n", what, ir.reason);
        r->failed = true;
    } else {
        fprintf(stderr, "%s not %s: %s\n", what, r->uninject ? "uninjected" : "injected",
                ir.reason);
    }
    wf_inject_result_free(&ir);
}

static bool read_all(FILE *f, wf_sbuf_t *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b->len + n > INPUT_MAX)
            return false;
        wf_sbuf_append(b, chunk, n);
    }
    return !ferror(f) && !b->oom;
}

static void process_text(run_t *r, const char *src, const char *data, size_t len)
{
    wf_ydocs_t d;
    char err[300];
    if (wf_ydoc_parse(data, len, &d, err, sizeof(err)) != 0) {
        wf_cli_errorf("%s: %s", src, err);
        r->failed = true;
        return;
    }
    if (wf_ydoc_has_comments(data, len))
        fprintf(stderr, "note: %s: YAML comments are not kept in the output\n", src);
    if (r->out.n == 0 && d.n > 0)
        r->out.explicit_start = d.explicit_start;
    for (size_t i = 0; i < d.n; i++) {
        one(r, src, &d.docs[i]);
        if (r->out.n == r->out.cap) {
            size_t cap = r->out.cap ? r->out.cap * 2 : 16;
            wf_ynode_t **docs = realloc(r->out.docs, cap * sizeof(*docs));
            if (docs == NULL) {
                wf_cli_errorf("out of memory");
                exit(WF_CLI_EXIT_FAILURE);
            }
            r->out.docs = docs;
            r->out.cap = cap;
        }
        r->out.docs[r->out.n++] = d.docs[i];
    }
    free(d.docs);
}

static void process_file(run_t *r, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        wf_cli_errorf("%s: %s", path, strerror(errno));
        r->failed = true;
        return;
    }
    wf_sbuf_t b = {0};
    bool ok = read_all(f, &b);
    if (f != stdin)
        fclose(f);
    if (!ok)
        wf_cli_errorf("%s: unreadable or larger than 4 MiB", path);
    else
        process_text(r, strcmp(path, "-") == 0 ? "stdin" : path, b.ptr ? b.ptr : "", b.len);
    r->failed |= !ok;
    wf_sbuf_free(&b);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static bool manifest_name(const char *n)
{
    size_t l = strlen(n);
    return n[0] != '.' && ((l > 5 && strcmp(n + l - 5, ".yaml") == 0) ||
                           (l > 4 && strcmp(n + l - 4, ".yml") == 0) ||
                           (l > 5 && strcmp(n + l - 5, ".json") == 0));
}

static void process_path(run_t *r, const char *path)
{
    struct stat st;
    if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        struct dirent **ents;
        int n = scandir(path, &ents, NULL, by_name);
        if (n < 0) {
            wf_cli_errorf("%s: %s", path, strerror(errno));
            r->failed = true;
            return;
        }
        for (int i = 0; i < n; i++) {
            if (manifest_name(ents[i]->d_name)) {
                char full[4096];
                snprintf(full, sizeof(full), "%s/%s", path, ents[i]->d_name);
                process_file(r, full);
            }
            free(ents[i]);
        }
        free(ents);
        return;
    }
    process_file(r, path);
}

static char *slurp(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    wf_sbuf_t b = {0};
    bool ok = read_all(f, &b);
    fclose(f);
    if (!ok || b.len == 0) {
        snprintf(err, errlen, "%s: %s", path, ok ? "empty" : "unreadable or larger than 4 MiB");
        wf_sbuf_free(&b);
        return NULL;
    }
    return b.ptr;
}

static int run_main(int argc, char **argv, bool uninject)
{
    run_t r = {.uninject = uninject};
    wf_inject_cfg_defaults(&r.cfg);
    r.cfg.force = true;
    bool help = false, manual = false, ingress = false, cni = false, native = false;
    const char *anchors = NULL;
    const wf_cli_flag_t inject_flags[] = {
        {"help", NULL, &help},
        {"manual", NULL, &manual},
        {"ingress", NULL, &ingress},
        {"cni", NULL, &cni},
        {"native-sidecar", NULL, &native},
        {"cluster-networks", &r.cfg.cluster_networks, NULL},
        {"registry", &r.cfg.registry, NULL},
        {"proxy-version", &r.cfg.version, NULL},
        {"proxy-log-level", &r.cfg.log_level, NULL},
        {"linkerd-namespace", &r.cfg.cp_ns, NULL},
        {"trust-domain", &r.cfg.trust_domain, NULL},
        {"identity-trust-anchors-file", &anchors, NULL},
        {"proxy-cpu-request", &r.cfg.cpu_request, NULL},
        {"proxy-cpu-limit", &r.cfg.cpu_limit, NULL},
        {"proxy-memory-request", &r.cfg.memory_request, NULL},
        {"proxy-memory-limit", &r.cfg.memory_limit, NULL},
    };
    const wf_cli_flag_t un_flags[] = {{"help", NULL, &help}};
    const char *pos[256];
    size_t npos;
    char err[300];
    const char *usage =
        uninject ? "usage: weft uninject [FILE|DIR|-]...\n"
                 : "usage: weft inject [--manual] [--ingress] [--cni] [flags] [FILE|DIR|-]...\n";
    if (wf_cli_parse_flags(argc - 1, argv + 1, uninject ? un_flags : inject_flags,
                           uninject ? 1 : WF_ARRAY_LEN(inject_flags), pos, WF_ARRAY_LEN(pos), &npos,
                           err, sizeof(err)) != 0) {
        wf_cli_errorf("%s: %s", argv[0], err);
        fputs(usage, stderr);
        return WF_CLI_EXIT_USAGE;
    }
    if (help) {
        fputs(usage, stdout);
        if (uninject)
            fputs("\nRemoves the weft (or Linkerd) proxy, its init container, volume, "
                  "annotations and labels\nfrom the pod templates of the manifests, and prints "
                  "them. Input \"-\" (or none) is stdin.\n",
                  stdout);
        else
            fputs("\nAdds the weft proxy to the pod templates of Pods, Deployments, StatefulSets,"
                  "\nDaemonSets, ReplicaSets, Jobs, CronJobs and Lists, and prints the manifests"
                  "\n(pipe them to kubectl apply -f -). The sidecar is always written inline"
                  "\n(--manual is accepted for Linkerd compatibility). Pods annotated"
                  "\nlinkerd.io/inject: disabled, hostNetwork pods and kube-system are left"
                  "\nalone; config.linkerd.io/* annotations are checked and applied.\n\n"
                  "  --ingress                       the proxy runs in ingress mode\n"
                  "  --cni                           no weft-init container (a CNI plugin "
                  "redirects)\n"
                  "  --native-sidecar                the proxy as a restartable init container "
                  "(Kubernetes 1.29+):\n"
                  "                                  it is ready before the app starts\n"
                  "  --cluster-networks CIDRS        the proxy's profile networks "
                  "(default " WF_INJECT_DEFAULT_CLUSTER_NETWORKS ")\n"
                  "  --registry R                    image registry "
                  "(default " WF_INJECT_DEFAULT_REGISTRY ")\n"
                  "  --proxy-version V               image tag (default " WEFT_VERSION ")\n"
                  "  --proxy-log-level L             default WEFT_PROXY_LOG "
                  "(default " WF_INJECT_DEFAULT_LOG ")\n"
                  "  --linkerd-namespace NS          control plane namespace (default linkerd)\n"
                  "  --trust-domain D                trust domain (default cluster.local)\n"
                  "  --identity-trust-anchors-file F inline this PEM bundle instead of the "
                  "ConfigMap reference\n"
                  "  --proxy-{cpu,memory}-{request,limit} Q  default proxy resources\n",
                  stdout);
        return WF_CLI_EXIT_OK;
    }
    (void)manual;
    r.cfg.ingress = ingress;
    r.cfg.cni = cni;
    r.cfg.native_sidecar = native;
    wf_cidr_t nets[64];
    if (wf_cidr_list_parse(nets, WF_ARRAY_LEN(nets), wf_str_from(r.cfg.cluster_networks), err,
                           sizeof(err)) < 0) {
        wf_cli_errorf("%s: --cluster-networks: %s", argv[0], err);
        return WF_CLI_EXIT_USAGE;
    }
    const char *q[] = {r.cfg.cpu_request, r.cfg.cpu_limit, r.cfg.memory_request,
                       r.cfg.memory_limit};
    for (size_t i = 0; i < WF_ARRAY_LEN(q); i++) {
        if (q[i] != NULL && !wf_k8s_quantity_valid(q[i])) {
            wf_cli_errorf("%s: \"%s\" is not a Kubernetes quantity (e.g. 100m, 64Mi)", argv[0],
                          q[i]);
            return WF_CLI_EXIT_USAGE;
        }
    }
    if (anchors != NULL) {
        r.anchors = slurp(anchors, err, sizeof(err));
        if (r.anchors == NULL || strstr(r.anchors, "-----BEGIN CERTIFICATE-----") == NULL) {
            wf_cli_errorf("--identity-trust-anchors-file %s",
                          r.anchors ? "holds no PEM certificate" : err);
            free(r.anchors);
            return WF_CLI_EXIT_FAILURE;
        }
        r.cfg.trust_anchors_pem = r.anchors;
    }
    if (npos == 0)
        process_path(&r, "-");
    for (size_t i = 0; i < npos; i++)
        process_path(&r, pos[i]);
    /* kubectl reads a stream that starts with '{' as JSON, and then cannot
     * read a second document: with several, a JSON first document is
     * written as a block mapping (its values stay JSON-style flow). */
    if (r.out.n > 1 && r.out.docs[0]->style == YAML_FLOW_MAPPING_STYLE)
        r.out.docs[0]->style = YAML_BLOCK_MAPPING_STYLE;
    wf_sbuf_t out = {0};
    if (r.out.n > 0 && wf_ydoc_emit(&r.out, &out, err, sizeof(err)) != 0) {
        wf_cli_errorf("%s", err);
        r.failed = true;
    }
    if (out.len > 0 && fwrite(out.ptr, 1, out.len, stdout) != out.len) {
        wf_cli_errorf("writing stdout: %s", strerror(errno));
        r.failed = true;
    }
    wf_sbuf_free(&out);
    wf_ydocs_free(&r.out);
    free(r.anchors);
    return r.failed ? WF_CLI_EXIT_FAILURE : WF_CLI_EXIT_OK;
}

int wf_cli_inject_main(int argc, char **argv)
{
    return run_main(argc, argv, false);
}

int wf_cli_uninject_main(int argc, char **argv)
{
    return run_main(argc, argv, true);
}
