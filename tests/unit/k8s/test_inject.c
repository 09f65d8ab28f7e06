/*
 * test_inject.c — the injection transformation (k8s/inject) and the YAML
 * tree it is applied to (k8s/ydoc): every decision rule of the seed's
 * chapter 4 (+ ingress, chapter 5), annotation checks that name the bad
 * annotation, the patch applied and undone, and — the contract that
 * matters — the proxy's own configuration loader accepting the
 * environment the injector writes.
 */
#include "wf_test.h"

#include "config.h"
#include "k8s/inject.h"
#include "k8s/ydoc.h"

#include <stdlib.h>

static json_t *pod(const char *anns_json, const char *spec_extra)
{
    char buf[2048];
    snprintf(buf, sizeof(buf),
             "{\"metadata\":{\"name\":\"p\",\"annotations\":%s},\"spec\":{%s\"containers\":[{"
             "\"name\":\"app\",\"image\":\"app:1\"}]}}",
             anns_json, spec_extra);
    json_error_t e;
    json_t *j = json_loads(buf, 0, &e);
    if (j == NULL)
        fprintf(stderr, "bad test JSON: %s\n", e.text);
    return j;
}

static wf_inject_outcome_t decide(const wf_inject_cfg_t *cfg, const char *anns, const char *extra,
                                  const char *ns, const char *ns_anns, char *reason, size_t rlen)
{
    json_t *p = pod(anns, extra);
    json_t *na = ns_anns != NULL ? json_loads(ns_anns, 0, NULL) : NULL;
    wf_inject_result_t r;
    int rc = wf_inject_pod(cfg, p, ns, na, "", &r);
    CHECK_EQ_INT(rc, 0);
    wf_inject_outcome_t o = r.outcome;
    if (reason != NULL)
        snprintf(reason, rlen, "%s", r.reason);
    CHECK((o == WF_INJECT_INJECTED) == (json_array_size(r.patch) > 0));
    wf_inject_result_free(&r);
    json_decref(p);
    json_decref(na);
    return o;
}

static void test_decisions(void)
{
    wf_inject_cfg_t cfg;
    wf_inject_cfg_defaults(&cfg);
    char why[1024];
    const char *en = "{\"linkerd.io/inject\":\"enabled\"}";
    CHECK_EQ_INT(decide(&cfg, en, "", "app", NULL, NULL, 0), WF_INJECT_INJECTED);
    CHECK_EQ_INT(decide(&cfg, "{\"linkerd.io/inject\":\"ingress\"}", "", "app", NULL, NULL, 0),
                 WF_INJECT_INJECTED);
    /* No annotation anywhere: not injected. */
    CHECK_EQ_INT(decide(&cfg, "{}", "", "app", NULL, why, sizeof(why)), WF_INJECT_SKIPPED);
    /* Namespace-level injection; the pod's disabled wins. */
    CHECK_EQ_INT(decide(&cfg, "{}", "", "app", en, NULL, 0), WF_INJECT_INJECTED);
    CHECK_EQ_INT(
        decide(&cfg, "{\"linkerd.io/inject\":\"disabled\"}", "", "app", en, why, sizeof(why)),
        WF_INJECT_SKIPPED);
    CHECK(strstr(why, "disabled") != NULL);
    CHECK_EQ_INT(decide(&cfg, "{}", "", "app", "{\"linkerd.io/inject\":\"disabled\"}", NULL, 0),
                 WF_INJECT_SKIPPED);
    /* Bad values are named. */
    CHECK_EQ_INT(
        decide(&cfg, "{\"linkerd.io/inject\":\"enable\"}", "", "app", NULL, why, sizeof(why)),
        WF_INJECT_INVALID);
    CHECK(strstr(why, "linkerd.io/inject") != NULL && strstr(why, "did you mean enabled") != NULL);
    CHECK_EQ_INT(decide(&cfg, "{}", "", "app", "{\"linkerd.io/inject\":\"yes\"}", why, sizeof(why)),
                 WF_INJECT_INVALID);
    CHECK(strstr(why, "namespace annotation") != NULL);
    /* Never kube-system, the control plane, hostNetwork, or twice. */
    CHECK_EQ_INT(decide(&cfg, en, "", "kube-system", NULL, why, sizeof(why)), WF_INJECT_SKIPPED);
    CHECK(strstr(why, "kube-system") != NULL);
    CHECK_EQ_INT(decide(&cfg, en, "", "linkerd", NULL, NULL, 0), WF_INJECT_SKIPPED);
    CHECK_EQ_INT(decide(&cfg, en, "\"hostNetwork\":true,", "app", NULL, why, sizeof(why)),
                 WF_INJECT_SKIPPED);
    CHECK(strstr(why, "hostNetwork") != NULL);
    CHECK_EQ_INT(decide(&cfg, en, "\"hostNetwork\":false,", "app", NULL, NULL, 0),
                 WF_INJECT_INJECTED);
    CHECK_EQ_INT(decide(&cfg, en, "\"initContainers\":[],\"volumes\":[],\"x\":{\"containers\":[]},",
                        "app", NULL, NULL, 0),
                 WF_INJECT_INJECTED);
    /* What the patch would overwrite must have the API's shape. */
    json_t *odd =
        json_loads("{\"metadata\":{\"annotations\":\"x\"},\"spec\":{\"containers\":[]}}", 0, NULL);
    wf_inject_result_t r;
    cfg.force = true;
    CHECK_EQ_INT(wf_inject_pod(&cfg, odd, "app", NULL, "", &r), 0);
    CHECK_EQ_INT(r.outcome, WF_INJECT_INVALID);
    CHECK(strstr(r.reason, "metadata.annotations is not a map") != NULL);
    wf_inject_result_free(&r);
    json_decref(odd);
    odd = json_loads("{\"spec\":{\"containers\":[],\"volumes\":{}}}", 0, NULL);
    CHECK_EQ_INT(wf_inject_pod(&cfg, odd, "app", NULL, "", &r), 0);
    CHECK_EQ_INT(r.outcome, WF_INJECT_INVALID);
    CHECK(strstr(r.reason, "spec.volumes is not a list") != NULL);
    wf_inject_result_free(&r);
    json_decref(odd);
    cfg.force = false;

    /* The CLI's force: no annotation needed, disabled still wins. */
    cfg.force = true;
    CHECK_EQ_INT(decide(&cfg, "{}", "", "app", NULL, NULL, 0), WF_INJECT_INJECTED);
    CHECK_EQ_INT(decide(&cfg, "{\"linkerd.io/inject\":\"disabled\"}", "", "app", NULL, NULL, 0),
                 WF_INJECT_SKIPPED);
}

static void test_bad_annotations(void)
{
    wf_inject_cfg_t cfg;
    wf_inject_cfg_defaults(&cfg);
    char why[1024];
    static const struct {
        const char *key, *value;
    } bad[] = {
        {"config.linkerd.io/opaque-ports", "25,70000"},
        {"config.linkerd.io/skip-inbound-ports", "80-70"},
        {"config.linkerd.io/skip-outbound-ports", "http"},
        {"config.linkerd.io/skip-subnets", "10.0.0.1/8"},
        {"config.linkerd.io/proxy-cpu-request", "lots"},
        {"config.linkerd.io/proxy-memory-limit", "1.5Gb"},
        {"config.linkerd.io/proxy-ephemeral-storage-limit", "-"},
        {"config.linkerd.io/proxy-log-level", "verbose"},
        {"config.linkerd.io/shutdown-grace-period", "forever"},
        {"config.linkerd.io/default-inbound-policy", "allow-all"},
        {"config.linkerd.io/access-log", "xml"},
        {"config.linkerd.io/proxy-log-format", "yaml"},
    };
    for (size_t i = 0; i < WF_ARRAY_LEN(bad); i++) {
        char anns[512];
        snprintf(anns, sizeof(anns), "{\"linkerd.io/inject\":\"enabled\",\"%s\":\"%s\"}",
                 bad[i].key, bad[i].value);
        wf_inject_outcome_t o = decide(&cfg, anns, "", "app", NULL, why, sizeof(why));
        CHECK_EQ_INT(o, WF_INJECT_INVALID);
        if (strstr(why, bad[i].key) == NULL)
            fprintf(stderr, "reason does not name %s: %s\n", bad[i].key, why);
        CHECK(strstr(why, bad[i].key) != NULL);
    }
    /* Namespace-level config annotations are checked too. */
    CHECK_EQ_INT(decide(&cfg, "{\"linkerd.io/inject\":\"enabled\"}", "", "app",
                        "{\"config.linkerd.io/opaque-ports\":\"x\"}", why, sizeof(why)),
                 WF_INJECT_INVALID);
    CHECK(strstr(why, "namespace annotation config.linkerd.io/opaque-ports") != NULL);
    /* Good ones pass; unknown ones only warn. */
    json_t *p = pod("{\"linkerd.io/inject\":\"enabled\",\"config.linkerd.io/proxy-cpu-limit\":"
                    "\"1.5\",\"config.linkerd.io/proxy-memory-request\":\"64Mi\","
                    "\"config.linkerd.io/skip-incoming-ports\":\"8080\"}",
                    "");
    wf_inject_result_t r;
    CHECK_EQ_INT(wf_inject_pod(&cfg, p, "app", NULL, "/spec/template", &r), 0);
    CHECK_EQ_INT(r.outcome, WF_INJECT_INJECTED);
    CHECK_EQ_INT(json_array_size(r.warnings), 1);
    CHECK(strstr(json_string_value(json_array_get(r.warnings, 0)), "skip-inbound-ports") != NULL);
    char *dump = json_dumps(r.patch, 0);
    CHECK(strstr(dump, "\"/spec/template/spec/containers/-\"") != NULL);
    CHECK(strstr(dump, "\"/spec/template/metadata/annotations/linkerd.io~1proxy-version\"") !=
          NULL);
    CHECK(strstr(dump, "\"limits\": {\"cpu\": \"1.5\"}") != NULL);
    free(dump);
    wf_inject_result_free(&r);
    json_decref(p);
}

static void test_quantity(void)
{
    const char *good[] = {"1", "100m", "0.5", ".5", "1.5Gi", "64Mi", "2e3", "1E-3", "+1k", "10Ei"};
    const char *bad[] = {"", "m", "1.5Gb", "1 Gi", "Gi", "1e", "0x10", "1..2", "--1", "1mi"};
    for (size_t i = 0; i < WF_ARRAY_LEN(good); i++)
        CHECK(wf_k8s_quantity_valid(good[i]));
    for (size_t i = 0; i < WF_ARRAY_LEN(bad); i++)
        CHECK(!wf_k8s_quantity_valid(bad[i]));
}

/* Applies a patch to a JSON document through the YAML tree. */
static json_t *apply(const json_t *doc, const json_t *patch)
{
    wf_ynode_t *n = wf_ynode_from_json(doc);
    char err[300];
    int rc = wf_ynode_patch(&n, patch, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "patch: %s\n", err);
    CHECK_EQ_INT(rc, 0);
    json_t *out = wf_ynode_to_json(n);
    wf_ynode_free(n);
    return out;
}

/* kubelet's $(VAR) expansion of the proxy's env, then the proxy's loader. */
static void test_proxy_accepts_env(void)
{
    wf_inject_cfg_t cfg;
    wf_inject_cfg_defaults(&cfg);
    json_t *p = pod("{\"linkerd.io/inject\":\"ingress\","
                    "\"config.linkerd.io/shutdown-grace-period\":\"30s\","
                    "\"config.linkerd.io/proxy-log-level\":\"warn,linkerd=debug\","
                    "\"config.linkerd.io/opaque-ports\":\"4000-4100,6379\","
                    "\"config.linkerd.io/default-inbound-policy\":\"all-authenticated\"}",
                    "");
    wf_inject_result_t r;
    CHECK_EQ_INT(wf_inject_pod(&cfg, p, "app", NULL, "", &r), 0);
    json_t *out = apply(p, r.patch);
    json_t *ctrs = json_object_get(json_object_get(out, "spec"), "containers");
    CHECK_EQ_INT(json_array_size(ctrs), 2);
    json_t *proxy = json_array_get(ctrs, 1);
    CHECK_EQ_STR(json_string_value(json_object_get(proxy, "name")), "weft-proxy");
    char *env[64];
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(json_object_get(proxy, "env"), i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *val = json_string_value(json_object_get(e, "value"));
        if (name[0] == '_')
            continue;
        if (val == NULL) /* the trust anchors come from a ConfigMap */
            val = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        wf_sbuf_t s = {0};
        wf_sbuf_printf(&s, "%s=", name);
        for (const char *v = val; *v;) {
            if (strncmp(v, "$(_pod_sa)", 10) == 0) {
                wf_sbuf_puts(&s, "web");
                v += 10;
            } else if (strncmp(v, "$(_pod_ns)", 10) == 0) {
                wf_sbuf_puts(&s, "emojivoto");
                v += 10;
            } else if (strncmp(v, "$(_pod_name)", 12) == 0) {
                wf_sbuf_puts(&s, "web-1");
                v += 12;
            } else if (strncmp(v, "$(_pod_nodeName)", 16) == 0) {
                wf_sbuf_puts(&s, "node-a");
                v += 16;
            } else {
                wf_sbuf_append(&s, v++, 1);
            }
        }
        if (n + 1 < WF_ARRAY_LEN(env))
            env[n++] = s.ptr;
    }
    env[n] = NULL;
    CHECK(n >= 15);
    wf_proxy_config_t pc;
    char err[512] = "";
    int rc = wf_proxy_config_load(&pc, env, err, sizeof(err), NULL);
    if (rc != 0)
        fprintf(stderr, "proxy refuses the injected env: %s\n", err);
    CHECK_EQ_INT(rc, 0);
    if (rc == 0) {
        CHECK_EQ_INT(pc.shutdown_grace_ms, 30000);
        CHECK(wf_portset_has(&pc.inbound_opaque, 4050) &&
              wf_portset_has(&pc.outbound_opaque, 6379));
        CHECK(!wf_portset_has(&pc.inbound_opaque, 3306));
        CHECK_EQ_STR(pc.identity_local_name,
                     "web.emojivoto.serviceaccount.identity.linkerd.cluster.local");
        CHECK_EQ_STR(pc.destination_context,
                     "{\"ns\":\"emojivoto\",\"nodeName\":\"node-a\",\"pod\":\"web-1\"}");
    }
    for (size_t k = 0; k < n; k++)
        free(env[k]);

    /* uninject(inject(x)) == x */
    wf_inject_result_t u;
    CHECK_EQ_INT(wf_uninject_pod(out, "", &u), 0);
    CHECK_EQ_INT(u.outcome, WF_INJECT_INJECTED);
    json_t *back = apply(out, u.patch);
    CHECK(json_equal(back, p));
    wf_inject_result_free(&u);
    /* and uninject of a pod without a proxy is a no-op, said so */
    CHECK_EQ_INT(wf_uninject_pod(p, "", &u), 0);
    CHECK_EQ_INT(u.outcome, WF_INJECT_SKIPPED);
    wf_inject_result_free(&u);
    /* An injected pod is not injected twice. */
    wf_inject_result_t again;
    CHECK_EQ_INT(wf_inject_pod(&cfg, out, "app", NULL, "", &again), 0);
    CHECK_EQ_INT(again.outcome, WF_INJECT_SKIPPED);
    wf_inject_result_free(&again);
    json_decref(back);
    json_decref(out);
    wf_inject_result_free(&r);
    json_decref(p);

    /* Native sidecar: weft-init then the proxy lead the init containers;
     * the result is "already injected" and uninjects cleanly. */
    wf_inject_cfg_t ncfg;
    wf_inject_cfg_defaults(&ncfg);
    ncfg.native_sidecar = true;
    json_t *np =
        pod("{\"linkerd.io/inject\":\"enabled\"}", "\"initContainers\":[{\"name\":\"setup\"}],");
    CHECK_EQ_INT(wf_inject_pod(&ncfg, np, "app", NULL, "", &r), 0);
    json_t *ninj = apply(np, r.patch);
    wf_inject_result_free(&r);
    json_t *inits = json_object_get(json_object_get(ninj, "spec"), "initContainers");
    CHECK_EQ_INT(json_array_size(inits), 3);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(inits, 0), "name")), "weft-init");
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(inits, 1), "name")),
                 "weft-proxy");
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(inits, 1), "restartPolicy")),
                 "Always");
    CHECK_EQ_INT(json_array_size(json_object_get(json_object_get(ninj, "spec"), "containers")), 1);
    CHECK_EQ_INT(wf_inject_pod(&ncfg, ninj, "app", NULL, "", &r), 0);
    CHECK_EQ_INT(r.outcome, WF_INJECT_SKIPPED);
    wf_inject_result_free(&r);
    CHECK_EQ_INT(wf_uninject_pod(ninj, "", &u), 0);
    json_t *nback = apply(ninj, u.patch);
    CHECK(json_equal(nback, np));
    wf_inject_result_free(&u);
    json_decref(nback);
    json_decref(ninj);
    json_decref(np);

    /* CNI: no init container; metadata-less templates get metadata. */
    cfg.cni = true;
    cfg.force = true;
    json_t *bare = json_loads("{\"spec\":{\"containers\":[{\"name\":\"a\"}]}}", 0, NULL);
    CHECK_EQ_INT(wf_inject_pod(&cfg, bare, NULL, NULL, "", &r), 0);
    CHECK_EQ_INT(r.outcome, WF_INJECT_INJECTED);
    json_t *inj = apply(bare, r.patch);
    CHECK(json_object_get(json_object_get(inj, "spec"), "initContainers") == NULL);
    CHECK(json_object_get(json_object_get(json_object_get(inj, "metadata"), "labels"),
                          "linkerd.io/control-plane-ns") != NULL);
    CHECK(json_object_get(json_object_get(json_object_get(inj, "metadata"), "labels"),
                          "linkerd.io/workload-ns") == NULL); /* namespace unknown */
    wf_inject_result_free(&r);
    CHECK_EQ_INT(wf_uninject_pod(inj, "", &u), 0);
    json_t *b2 = apply(inj, u.patch);
    CHECK(json_equal(b2, bare));
    wf_inject_result_free(&u);
    json_decref(b2);
    json_decref(inj);
    json_decref(bare);
}

static char *emit(const char *yaml)
{
    wf_ydocs_t d;
    char err[300];
    if (wf_ydoc_parse(yaml, strlen(yaml), &d, err, sizeof(err)) != 0) {
        fprintf(stderr, "parse: %s\n", err);
        return NULL;
    }
    wf_sbuf_t out = {0};
    CHECK_EQ_INT(wf_ydoc_emit(&d, &out, err, sizeof(err)), 0);
    wf_ydocs_free(&d);
    return out.ptr;
}

static void test_ydoc(void)
{
    /* libyaml's own layout comes back byte for byte, styles included. */
    const char *canon = "a: 1\nb: \"2\"\nc: 'x'\nd: [1, 2]\ne: {f: g}\nh: |\n  one\n  two\n"
                        "i: !!str 3\nj: &anchor\n  k: null\nl:\n- m\n- n\n---\nz: 0\n";
    char *out = emit(canon);
    CHECK_EQ_STR(out, canon);
    free(out);
    /* Aliases are refused, naming the line; scalars at the top too. */
    wf_ydocs_t d;
    char err[300];
    CHECK_EQ_INT(wf_ydoc_parse("a: &x 1\nb: *x\n", 14, &d, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "alias") != NULL && strstr(err, "line 2") != NULL);
    CHECK_EQ_INT(wf_ydoc_parse("just text\n", 10, &d, err, sizeof(err)), WF_EINVAL);
    CHECK_EQ_INT(wf_ydoc_parse("a: 1\nb: {c: 1}\na: 2\n", 20, &d, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "line 3: duplicate key \"a\"") != NULL);
    CHECK_EQ_INT(wf_ydoc_parse("a: {b: 1, b: 2}\n", 16, &d, err, sizeof(err)), WF_EINVAL);
    CHECK_EQ_INT(wf_ydoc_parse("a: [\n", 5, &d, err, sizeof(err)), WF_EINVAL);
    /* Deep nesting is refused, not recursed into. */
    char deep[400];
    size_t k = 0;
    for (; k < 100; k++)
        deep[k] = '[';
    deep[k] = '\0';
    CHECK_EQ_INT(wf_ydoc_parse(deep, k, &d, err, sizeof(err)), WF_EINVAL);
    /* Empty documents (a trailing ---) are dropped; an empty stream is fine. */
    CHECK_EQ_INT(wf_ydoc_parse("a: 1\n---\n", 9, &d, err, sizeof(err)), 0);
    CHECK_EQ_INT(d.n, 1);
    wf_ydocs_free(&d);
    CHECK_EQ_INT(wf_ydoc_parse("", 0, &d, err, sizeof(err)), 0);
    CHECK_EQ_INT(d.n, 0);
    wf_ydocs_free(&d);
    /* Typing: plain scalars are typed, quoted ones are strings. */
    const char *typed = "a: 1\nb: \"1\"\nc: true\nd: ~\ne: 1.5\nf: 1e3\ng: !!str 7\n";
    if (wf_ydoc_parse(typed, strlen(typed), &d, err, sizeof(err)) != 0 || d.n != 1) {
        CHECK(!"typed document parses");
        return;
    }
    json_t *j = wf_ynode_to_json(d.docs[0]);
    char *s = json_dumps(j, JSON_COMPACT);
    CHECK_EQ_STR(s,
                 "{\"a\":1,\"b\":\"1\",\"c\":true,\"d\":null,\"e\":1.5,\"f\":\"1e3\",\"g\":\"7\"}");
    free(s);
    /* JSON strings that would read back as something else are quoted. */
    wf_ynode_t *n = wf_ynode_from_json(j);
    json_t *j2 = wf_ynode_to_json(n);
    CHECK(json_equal(j, j2));
    json_decref(j2);
    wf_ynode_free(n);
    json_decref(j);
    /* Patch: add to a map (appended), into a list by index and "-",
     * replace, remove; a bad path is an error naming it. */
    json_t *ops = json_loads("[{\"op\":\"add\",\"path\":\"/new~1key\",\"value\":\"8080\"},"
                             "{\"op\":\"add\",\"path\":\"/l\",\"value\":[]},"
                             "{\"op\":\"add\",\"path\":\"/l/-\",\"value\":{\"x\":1}},"
                             "{\"op\":\"add\",\"path\":\"/l/0\",\"value\":0},"
                             "{\"op\":\"replace\",\"path\":\"/a\",\"value\":false},"
                             "{\"op\":\"remove\",\"path\":\"/c\"}]",
                             0, NULL);
    CHECK_EQ_INT(wf_ynode_patch(&d.docs[0], ops, err, sizeof(err)), 0);
    json_decref(ops);
    wf_sbuf_t o = {0};
    CHECK_EQ_INT(wf_ydoc_emit(&d, &o, err, sizeof(err)), 0);
    CHECK_EQ_STR(o.ptr, "a: false\nb: \"1\"\nd: ~\ne: 1.5\nf: 1e3\ng: !!str 7\nnew/key: \"8080\"\n"
                        "l:\n- 0\n- x: 1\n");
    wf_sbuf_free(&o);
    ops = json_loads("[{\"op\":\"remove\",\"path\":\"/nope/x\"}]", 0, NULL);
    CHECK_EQ_INT(wf_ynode_patch(&d.docs[0], ops, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "/nope/x") != NULL);
    json_decref(ops);
    ops = json_loads("[{\"op\":\"add\",\"path\":\"/l/9\",\"value\":1}]", 0, NULL);
    CHECK_EQ_INT(wf_ynode_patch(&d.docs[0], ops, err, sizeof(err)), WF_EINVAL);
    json_decref(ops);
    wf_ydocs_free(&d);
    CHECK(wf_ydoc_has_comments("a: 1 # c\n", 9));
    CHECK(!wf_ydoc_has_comments("a: \"#x\"\nb: c#d\n", 15));
}

int main(void)
{
    WF_RUN(test_decisions);
    WF_RUN(test_bad_annotations);
    WF_RUN(test_quantity);
    WF_RUN(test_proxy_accepts_env);
    WF_RUN(test_ydoc);
    return wf_test_done();
}
