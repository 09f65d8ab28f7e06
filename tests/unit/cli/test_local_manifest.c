/*
 * test_local_manifest.c — local mode's pure manifest code (src/cli):
 * YAML -> JSON typing, document splitting and error positions, object
 * checks, resource names, inject annotation resolution, quantities and the
 * controller-style names.
 */
#include "../../../src/cli/local_obj.c"
#include "../../../src/cli/local_yaml.c"

#include "wf_test.h"

typedef struct {
    json_t *docs;
    char errs[8][320];
    int err_index[8];
    int nerr;
} collect_t;

static void collect(void *ctx, int index, json_t *doc, const char *err)
{
    collect_t *c = ctx;
    if (doc) {
        json_array_append_new(c->docs, doc);
    } else if (c->nerr < 8) {
        snprintf(c->errs[c->nerr], sizeof(c->errs[0]), "%s", err);
        c->err_index[c->nerr++] = index;
    }
}

static json_t *one(const char *yaml)
{
    collect_t c = {.docs = json_array()};
    wf_yaml_parse_docs(yaml, strlen(yaml), collect, &c);
    json_t *d = json_incref(json_array_get(c.docs, 0));
    json_decref(c.docs);
    return d;
}

static void test_scalar_types(void)
{
    json_t *d =
        one("i: 8080\nq: \"8080\"\ns: '8080'\nb: true\nB: False\nn: null\nt: ~\ne:\n"
            "f: 1.5\nh: 0x1F\no: 0o17\nw: enabled\nyes: yes\nneg: -3\n"
            "tagged: !!str 42\nti: !!int \"7\"\nbig: 99999999999999999999\nblock: |\n  x\n");
    CHECK(json_is_object(d));
    CHECK(json_is_integer(json_object_get(d, "i")) &&
          json_integer_value(json_object_get(d, "i")) == 8080);
    CHECK_EQ_STR(json_string_value(json_object_get(d, "q")), "8080");
    CHECK_EQ_STR(json_string_value(json_object_get(d, "s")), "8080");
    CHECK(json_is_true(json_object_get(d, "b")));
    CHECK(json_is_false(json_object_get(d, "B")));
    CHECK(json_is_null(json_object_get(d, "n")));
    CHECK(json_is_null(json_object_get(d, "t")));
    CHECK(json_is_null(json_object_get(d, "e")));
    CHECK(json_is_real(json_object_get(d, "f")));
    CHECK_EQ_INT(json_integer_value(json_object_get(d, "h")), 31);
    CHECK_EQ_INT(json_integer_value(json_object_get(d, "o")), 15);
    CHECK_EQ_STR(json_string_value(json_object_get(d, "w")), "enabled");
    CHECK_EQ_STR(json_string_value(json_object_get(d, "yes")), "yes"); /* YAML 1.2: not a bool */
    CHECK_EQ_INT(json_integer_value(json_object_get(d, "neg")), -3);
    CHECK_EQ_STR(json_string_value(json_object_get(d, "tagged")), "42");
    CHECK_EQ_INT(json_integer_value(json_object_get(d, "ti")), 7);
    CHECK(json_is_real(json_object_get(d, "big")) || json_is_string(json_object_get(d, "big")));
    CHECK_EQ_STR(json_string_value(json_object_get(d, "block")), "x\n");
    json_decref(d);
}

static void test_docs_and_errors(void)
{
    const char *y = "# leading comment\n"
                    "a: 1\n"
                    "---\n"
                    "b: [1, 2\n" /* broken: unclosed flow sequence */
                    "---\n"
                    "# only a comment\n"
                    "---\n"
                    "c: &x {k: v}\n"
                    "d: *x\n"
                    "...\n"
                    "e: 1\n"
                    "e: 2\n" /* duplicate key */
                    "--- {f: 3}\n";
    collect_t c = {.docs = json_array()};
    int n = wf_yaml_parse_docs(y, strlen(y), collect, &c);
    CHECK_EQ_INT(n, 5);
    CHECK_EQ_INT(json_array_size(c.docs), 3);
    CHECK_EQ_INT(c.nerr, 2);
    CHECK_EQ_INT(c.err_index[0], 2);
    CHECK(strstr(c.errs[0], "line ") != NULL);
    CHECK_EQ_INT(c.err_index[1], 4);
    CHECK(strstr(c.errs[1], "duplicate key \"e\"") != NULL);
    CHECK(strstr(c.errs[1], "line 12") != NULL);
    json_t *d3 = json_array_get(c.docs, 1);
    CHECK_EQ_STR(json_string_value(wf_lm_path(d3, "d.k")), "v");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(c.docs, 2), "f")), 3);
    json_decref(c.docs);
}

static void test_alias_bomb(void)
{
    /* Each level doubles: 2^30 nodes if expanded; must be refused. */
    char y[4096];
    size_t off = (size_t)snprintf(y, sizeof(y), "a0: &a0 [x, x]\n");
    for (int i = 1; i < 30; i++)
        off += (size_t)snprintf(y + off, sizeof(y) - off, "a%d: &a%d [*a%d, *a%d]\n", i, i, i - 1,
                                i - 1);
    collect_t c = {.docs = json_array()};
    wf_yaml_parse_docs(y, off, collect, &c);
    CHECK_EQ_INT(json_array_size(c.docs), 0);
    CHECK_EQ_INT(c.nerr, 1);
    CHECK(strstr(c.errs[0], "too large") != NULL);
    json_decref(c.docs);
}

static char reports[8][700];
static int nreports;
static void report(void *ctx, const char *where, const char *msg)
{
    (void)ctx;
    if (nreports < 8)
        snprintf(reports[nreports++], sizeof(reports[0]), "%s: %s", where, msg);
}

static void test_load_objects(void)
{
    const char *y =
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: Service\n  metadata: {name: web}\n"
        "  spec: {ports: [{port: 80, targetPort: http}], selector: {app: web}}\n"
        "- apiVersion: v1\n  kind: Service\n  metadata: {name: bad}\n"
        "  spec: {ports: [{port: 70000}]}\n"
        "---\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"
        "spec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n"
        "  template:\n    metadata: {labels: {app: web}}\n"
        "    spec:\n      containers:\n      - name: web\n        image: nginx\n"
        "        command: [python3, -m, http.server]\n"
        "---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: noc}\nspec:\n  containers:\n"
        "  - name: c\n    image: nginx\n"
        "---\n"
        "apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: s}\n"
        "spec: {port: 80}\n"
        "---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, namespace: x,"
        " annotations: {linkerd.io/inject: enabled}}\n";
    json_t *out = json_array();
    nreports = 0;
    int problems = wf_lm_load_buf("m.yaml", y, strlen(y), out, report, NULL);
    CHECK_EQ_INT(problems, 2);
    CHECK_EQ_INT(json_array_size(out), 4);
    CHECK(strstr(reports[0],
                 "m.yaml: document 1, items[1]: Service default/bad: spec.ports[0].port") != NULL);
    CHECK(strstr(reports[1],
                 "m.yaml: document 3: Pod default/noc: spec.containers[0].command: missing") !=
          NULL);
    char key[256];
    wf_lm_key(json_array_get(out, 0), key, sizeof(key));
    CHECK_EQ_STR(key, "services/default/web");
    wf_lm_key(json_array_get(out, 1), key, sizeof(key));
    CHECK_EQ_STR(key, "deployments/shop/web");
    wf_lm_key(json_array_get(out, 2), key, sizeof(key));
    CHECK_EQ_STR(key, "servers.policy.linkerd.io/default/s");
    wf_lm_key(json_array_get(out, 3), key, sizeof(key));
    CHECK_EQ_STR(key, "namespaces/shop");
    CHECK(wf_lm_path(json_array_get(out, 3), "metadata.namespace") == NULL);
    json_decref(out);

    char res[128];
    wf_lm_resource("EndpointSlice", "discovery.k8s.io/v1", NULL, res, sizeof(res));
    CHECK_EQ_STR(res, "endpointslices");
    wf_lm_resource("NetworkPolicy", "networking.k8s.io/v1", NULL, res, sizeof(res));
    CHECK_EQ_STR(res, "networkpolicies");
    wf_lm_resource("HTTPRoute", "gateway.networking.k8s.io/v1", NULL, res, sizeof(res));
    CHECK_EQ_STR(res, "httproutes.gateway.networking.k8s.io");
    wf_lm_resource("Ingress", "networking.k8s.io/v1", NULL, res, sizeof(res));
    CHECK_EQ_STR(res, "ingresses");
}

static void test_bad_label_value(void)
{
    const char *y = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
                    "    config.linkerd.io/opaque-ports: 6379\n"
                    "spec: {containers: [{name: c, command: [sleep, '1']}]}\n";
    json_t *out = json_array();
    nreports = 0;
    CHECK_EQ_INT(wf_lm_load_buf("p.yaml", y, strlen(y), out, report, NULL), 1);
    CHECK(strstr(reports[0],
                 "metadata.annotations.config.linkerd.io/opaque-ports: must be a string") != NULL);
    json_decref(out);
}

static void test_inject(void)
{
    wf_lm_inject_t in;
    json_t *ns = json_pack("{s:s, s:s}", "linkerd.io/inject", "enabled",
                           "config.linkerd.io/opaque-ports", "3306");
    json_t *pod = json_pack("{s:s}", "config.linkerd.io/skip-outbound-ports", "25, 587,8000-8002");
    wf_lm_inject_resolve(pod, ns, "shop", &in);
    CHECK_EQ_INT(in.mode, WF_LM_INJECT_ENABLED);
    CHECK_EQ_STR(in.opaque_ports, "3306");
    CHECK_EQ_STR(in.skip_outbound, "25,587,8000-8002");
    CHECK_EQ_STR(in.warning, "");
    json_decref(pod);

    pod = json_pack("{s:s}", "linkerd.io/inject", "disabled");
    wf_lm_inject_resolve(pod, ns, "shop", &in);
    CHECK_EQ_INT(in.mode, WF_LM_INJECT_DISABLED);
    json_decref(pod);

    wf_lm_inject_resolve(NULL, ns, "kube-system", &in);
    CHECK_EQ_INT(in.mode, WF_LM_INJECT_DISABLED);

    pod = json_pack("{s:s}", "linkerd.io/inject", "ingress");
    wf_lm_inject_resolve(pod, NULL, "default", &in);
    CHECK_EQ_INT(in.mode, WF_LM_INJECT_INGRESS);
    json_decref(pod);

    pod = json_pack("{s:s}", "linkerd.io/inject", "yes");
    wf_lm_inject_resolve(pod, NULL, "default", &in);
    CHECK_EQ_INT(in.mode, WF_LM_INJECT_DISABLED);
    CHECK(strstr(in.warning, "linkerd.io/inject: unknown value \"yes\"") != NULL);
    json_decref(pod);

    pod = json_pack("{s:s}", "config.linkerd.io/opaque-ports", "70000");
    wf_lm_inject_resolve(pod, ns, "shop", &in);
    CHECK_EQ_INT(in.mode, WF_LM_INJECT_DISABLED);
    CHECK(strstr(in.warning, "config.linkerd.io/opaque-ports") != NULL);
    CHECK(strstr(in.warning, "70000") != NULL);
    json_decref(pod);

    pod = json_pack("{s:s}", "config.linkerd.io/skip-subnets", "10.0.0.0/33");
    wf_lm_inject_resolve(pod, ns, "shop", &in);
    CHECK_EQ_INT(in.mode, WF_LM_INJECT_DISABLED);
    CHECK(strstr(in.warning, "config.linkerd.io/skip-subnets") != NULL);
    json_decref(pod);

    pod = json_pack("{s:s, s:s, s:s}", "config.linkerd.io/proxy-cpu-limit", "500m",
                    "config.linkerd.io/proxy-memory-limit", "64Mi",
                    "config.linkerd.io/skip-subnets", "192.168.0.0/16, 10.1.2.3");
    wf_lm_inject_resolve(pod, ns, "shop", &in);
    CHECK_EQ_INT(in.mode, WF_LM_INJECT_ENABLED);
    CHECK_EQ_INT(in.cpu_limit_m, 500);
    CHECK_EQ_INT(in.memory_limit, 64 << 20);
    CHECK_EQ_INT(in.cpu_request_m, -1);
    CHECK_EQ_STR(in.skip_subnets, "192.168.0.0/16,10.1.2.3/32");
    json_decref(pod);

    pod = json_pack("{s:s}", "config.linkerd.io/proxy-memory-limit", "lots");
    wf_lm_inject_resolve(pod, ns, "shop", &in);
    CHECK_EQ_INT(in.mode, WF_LM_INJECT_DISABLED);
    CHECK(strstr(in.warning, "proxy-memory-limit: invalid quantity \"lots\"") != NULL);
    json_decref(pod);
    json_decref(ns);
}

static void test_quantities(void)
{
    CHECK_EQ_INT(wf_lm_parse_cpu("1"), 1000);
    CHECK_EQ_INT(wf_lm_parse_cpu("0.25"), 250);
    CHECK_EQ_INT(wf_lm_parse_cpu("100m"), 100);
    CHECK_EQ_INT(wf_lm_parse_cpu("1.5m"), -1);
    CHECK_EQ_INT(wf_lm_parse_cpu("-1"), -1);
    CHECK_EQ_INT(wf_lm_parse_cpu(""), -1);
    CHECK_EQ_INT(wf_lm_parse_bytes("1Ki"), 1024);
    CHECK_EQ_INT(wf_lm_parse_bytes("1G"), 1000000000);
    CHECK_EQ_INT(wf_lm_parse_bytes("128974848"), 128974848);
    CHECK_EQ_INT(wf_lm_parse_bytes("12Q"), -1);
}

static void test_names(void)
{
    json_t *t1 = json_pack("{s:{s:{s:s}}}", "metadata", "labels", "app", "web");
    json_t *t2 = json_pack("{s:{s:{s:s}}}", "metadata", "labels", "app", "web2");
    char h1[16], h1b[16], h2[16];
    wf_lm_template_hash(t1, h1);
    wf_lm_template_hash(t1, h1b);
    wf_lm_template_hash(t2, h2);
    CHECK_EQ_STR(h1, h1b);
    CHECK(strcmp(h1, h2) != 0);
    CHECK(strspn(h1, wf_lm_safe) == strlen(h1) && strlen(h1) >= 8);
    char sfx[6];
    wf_lm_random_suffix(sfx, 5);
    CHECK_EQ_INT(strlen(sfx), 5);
    CHECK(strspn(sfx, wf_lm_safe) == 5);
    char u[37];
    wf_lm_uuid(u);
    CHECK_EQ_INT(strlen(u), 36);
    CHECK(u[14] == '4');
    json_decref(t1);
    json_decref(t2);
}

int main(void)
{
    WF_RUN(test_scalar_types);
    WF_RUN(test_docs_and_errors);
    WF_RUN(test_alias_bomb);
    WF_RUN(test_load_objects);
    WF_RUN(test_bad_label_value);
    WF_RUN(test_inject);
    WF_RUN(test_quantities);
    WF_RUN(test_names);
    return wf_test_done();
}
