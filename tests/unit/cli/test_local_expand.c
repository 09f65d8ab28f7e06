/*
 * test_local_expand.c — the supervisor's workload controllers, run without
 * a system: Deployment expansion (pod names, pod-template-hash, owner
 * ReplicaSet), scaling up and down (not-ready and newest pods go first),
 * a template change rolled out only once the new pods are ready,
 * StatefulSet ordinals, pods whose owner is no longer applied, and the
 * namespace's inject annotation reaching the pods.
 */
#include "../../../src/cli/cli.c"
#include "../../../src/cli/local_cli.c"
#include "../../../src/cli/local_cmd.c"
#include "../../../src/cli/local_ipam.c"
#include "../../../src/cli/local_net.c"
#include "../../../src/cli/local_obj.c"
#include "../../../src/cli/local_paths.c"
#include "../../../src/cli/local_pod.c"
#include "../../../src/cli/local_publish.c"
#include "../../../src/cli/local_sup.c"
#include "../../../src/cli/local_sys.c"
#include "../../../src/cli/local_yaml.c"

#include "wf_test.h"

static json_t *deploy(int replicas, const char *version)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:i, s:{s:{s:s}}, s:{s:{s:{s:s}, s:{s:s}}, "
                     "s:{s:[{s:s, s:[s]}]}}}}",
                     "apiVersion", "apps/v1", "kind", "Deployment", "metadata", "name", "web",
                     "namespace", "shop", "spec", "replicas", replicas, "selector", "matchLabels",
                     "app", "web", "template", "metadata", "labels", "app", "web", "annotations",
                     "version", version, "spec", "containers", "name", "c", "command", "true");
}

static size_t count(wf_lm_sup_t *s, bool live, const char *hash)
{
    size_t n = 0;
    for (size_t i = 0; i < s->npods; i++)
        if (wf_lm_pod_live(s->pods[i]) == live && (hash == NULL || !strcmp(s->pods[i]->hash, hash)))
            n++;
    return n;
}

/* Makes every live pod look ready, as the supervisor's probes would. */
static void make_ready(wf_lm_sup_t *s)
{
    for (size_t i = 0; i < s->npods; i++) {
        wf_lm_pod_t *p = s->pods[i];
        if (!wf_lm_pod_live(p) || p->state == WF_LM_POD_RUNNING)
            continue;
        p->state = WF_LM_POD_RUNNING;
        p->nprocs = 1;
        p->procs = calloc(1, sizeof(*p->procs));
        p->procs[0].ready = true;
        p->proxy.ready = true;
    }
}

static void sup_free(wf_lm_sup_t *s)
{
    for (size_t i = 0; i < s->npods; i++)
        wf_lm_pod_free(s->pods[i]);
    free(s->pods);
    json_decref(s->applied);
}

static void test_deployment(void)
{
    wf_lm_sup_t s = {0};
    s.applied = json_pack("[{s:s, s:s, s:{s:s, s:{s:s}}}, o]", "apiVersion", "v1", "kind",
                          "Namespace", "metadata", "name", "shop", "annotations",
                          "linkerd.io/inject", "enabled", deploy(3, "v1"));
    wf_lm_reconcile(&s);
    CHECK_EQ_INT(s.npods, 3);
    char hash[16];
    wf_lm_template_hash(wf_lm_path(json_array_get(s.applied, 1), "spec.template"), hash);
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "web-%s-", hash);
    for (size_t i = 0; i < s.npods; i++) {
        wf_lm_pod_t *p = s.pods[i];
        CHECK(strncmp(p->name, prefix, strlen(prefix)) == 0);
        CHECK_EQ_INT(strlen(p->name), strlen(prefix) + 5);
        CHECK_EQ_STR(json_string_value(wf_lm_path(p->tmpl, "metadata.labels.pod-template-hash")),
                     hash);
        CHECK_EQ_STR(p->owner_kind, "ReplicaSet");
        char rs[64];
        snprintf(rs, sizeof(rs), "web-%s", hash);
        CHECK_EQ_STR(p->owner_name, rs);
        CHECK_EQ_STR(p->owner_key, "deployments/shop/web");
        CHECK_EQ_INT(p->inj.mode, WF_LM_INJECT_ENABLED); /* from the namespace */
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(s.pods[j]->name, p->name) != 0);
    }
    /* Reconciling again changes nothing. */
    wf_lm_reconcile(&s);
    CHECK_EQ_INT(s.npods, 3);

    /* Scale down to 1: two leave, a not-ready one first. */
    make_ready(&s);
    s.pods[0]->procs[0].ready = false;
    wf_lm_pod_t *unready = s.pods[0];
    json_array_set_new(s.applied, 1, deploy(1, "v1"));
    wf_lm_reconcile(&s);
    CHECK_EQ_INT(count(&s, true, NULL), 1);
    CHECK_EQ_INT(count(&s, false, NULL), 2);
    CHECK(!wf_lm_pod_live(unready));
    CHECK_EQ_INT(unready->state, WF_LM_POD_DRAIN);

    /* A template change: new pods first; the old one stays until they are ready. */
    json_array_set_new(s.applied, 1, deploy(2, "v2"));
    wf_lm_reconcile(&s);
    char hash2[16];
    wf_lm_template_hash(wf_lm_path(json_array_get(s.applied, 1), "spec.template"), hash2);
    CHECK(strcmp(hash, hash2) != 0);
    CHECK_EQ_INT(count(&s, true, hash2), 2);
    CHECK_EQ_INT(count(&s, true, hash), 1);
    CHECK(s.rollout_pending);
    make_ready(&s);
    wf_lm_reconcile(&s);
    CHECK_EQ_INT(count(&s, true, hash), 0);
    CHECK_EQ_INT(count(&s, true, hash2), 2);
    CHECK(!s.rollout_pending);

    /* The Deployment no longer applied: its pods go. */
    json_array_remove(s.applied, 1);
    wf_lm_reconcile(&s);
    CHECK_EQ_INT(count(&s, true, NULL), 0);
    sup_free(&s);
}

static void test_statefulset_and_pod(void)
{
    wf_lm_sup_t s = {0};
    json_t *sts = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:i, s:{s:{s:s}}, s:{s:{s:{s:s}}, "
                            "s:{s:[{s:s, s:[s]}]}}}}",
                            "apiVersion", "apps/v1", "kind", "StatefulSet", "metadata", "name",
                            "db", "namespace", "default", "spec", "replicas", 3, "selector",
                            "matchLabels", "app", "db", "template", "metadata", "labels", "app",
                            "db", "spec", "containers", "name", "c", "command", "true");
    json_t *pod = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:[{s:s, s:[s]}]}}", "apiVersion",
                            "v1", "kind", "Pod", "metadata", "name", "solo", "namespace", "default",
                            "annotations", "linkerd.io/inject", "bogus", "spec", "containers",
                            "name", "c", "command", "true");
    s.applied = json_pack("[o, o]", sts, pod);
    wf_lm_reconcile(&s);
    CHECK_EQ_INT(s.npods, 4);
    CHECK(wf_lm_sup_find(&s, "default", "db-0", true) != NULL);
    CHECK(wf_lm_sup_find(&s, "default", "db-2", true) != NULL);
    wf_lm_pod_t *solo = wf_lm_sup_find(&s, "default", "solo", true);
    CHECK(solo != NULL && solo->owner_kind == NULL);
    CHECK(solo && solo->inj.mode == WF_LM_INJECT_DISABLED && strstr(solo->inj.warning, "bogus"));
    wf_lm_pod_t *db0 = wf_lm_sup_find(&s, "default", "db-0", true);
    CHECK_EQ_STR(db0->owner_kind, "StatefulSet");
    CHECK_EQ_STR(json_string_value(json_object_get(wf_lm_path(db0->tmpl, "metadata.labels"),
                                                   "statefulset.kubernetes.io/pod-name")),
                 "db-0");
    json_object_set_new(json_object_get(sts, "spec"), "replicas", json_integer(1));
    wf_lm_reconcile(&s);
    CHECK(wf_lm_sup_find(&s, "default", "db-0", true) != NULL);
    CHECK(wf_lm_sup_find(&s, "default", "db-1", true) == NULL);
    CHECK(wf_lm_sup_find(&s, "default", "db-2", true) == NULL);
    /* Scaling back up waits for the old db-1 to be gone before reusing its name. */
    json_object_set_new(json_object_get(sts, "spec"), "replicas", json_integer(2));
    wf_lm_reconcile(&s);
    CHECK(wf_lm_sup_find(&s, "default", "db-1", true) == NULL);
    sup_free(&s);
}

/* The node's rules, the hosts file and the store for one Service over two
 * ready pods (one of them the hairpin case), then with none ready. */
static void test_publish_shapes(void)
{
    wf_lm_sup_t s = {0};
    wf_lm_paths_t paths;
    wf_lm_paths_init(&paths, "/nonexistent/weft-test");
    s.paths = &paths;
    s.uids = json_object();
    wf_lm_ipam_init(&s.svc_ips, WF_LM_SVC_CIDR, 10);
    json_t *svc = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:{s:s}, s:[{s:s, s:i, s:s}]}}",
                            "apiVersion", "v1", "kind", "Service", "metadata", "name", "web",
                            "namespace", "shop", "spec", "selector", "app", "web", "ports", "name",
                            "http", "port", 80, "targetPort", "http");
    s.applied = json_pack("[o, o]", svc, deploy(2, "v1"));
    wf_lm_reconcile(&s);
    CHECK_EQ_INT(s.npods, 2);
    make_ready(&s);
    for (size_t i = 0; i < s.npods; i++) {
        snprintf(s.pods[i]->ip, sizeof(s.pods[i]->ip), "10.42.1.%d", (int)(i % 200) + 1);
        /* The template's container gets a named port. */
        json_object_set_new(json_array_get(wf_lm_path(s.pods[i]->tmpl, "spec.containers"), 0),
                            "ports",
                            json_pack("[{s:s, s:i}]", "name", "http", "containerPort", 8000));
    }
    wf_lm_svcs_sync(&s);
    CHECK_EQ_STR(s.svcs[0].vip, "10.43.0.10");
    char *rules = wf_lm_rules(&s);
    CHECK(strstr(rules, "-A WEFT-SERVICES -d 10.43.0.10/32 -p tcp --dport 80 -j WEFT-SVC-1") !=
          NULL);
    CHECK(strstr(rules, "--probability 0.5000000000 -j WEFT-SEP-2") != NULL);
    CHECK(strstr(rules, "-A WEFT-SVC-1 -j WEFT-SEP-3") != NULL);
    CHECK(strstr(rules, "-j DNAT --to-destination 10.42.1.1:8000") != NULL);
    CHECK(strstr(rules, "-j DNAT --to-destination 10.42.1.2:8000") != NULL);
    CHECK(strstr(rules, "-s 10.42.1.1/32 -j MARK --set-xmark 0x4000/0x4000") != NULL);
    CHECK(strstr(rules, "-j SNAT --to-source 10.42.0.1") != NULL);
    CHECK(strstr(rules, "REJECT") == NULL);
    free(rules);
    char *hosts = wf_lm_hosts(&s, "shop");
    CHECK(strstr(hosts, "10.43.0.10\tweb.shop.svc.cluster.local web.shop.svc web.shop web\n") !=
          NULL);
    free(hosts);
    hosts = wf_lm_hosts(&s, "other");
    CHECK(strstr(hosts, "10.43.0.10\tweb.shop.svc.cluster.local web.shop.svc web.shop\n") != NULL);
    free(hosts);

    json_t *want = wf_lm_desired_store(&s);
    json_t *es = NULL, *o;
    const char *rel;
    json_object_foreach (want, rel, o)
        if (strncmp(rel, "endpointslices/shop/web-", 24) == 0)
            es = o;
    CHECK(es != NULL);
    CHECK_EQ_INT(json_array_size(json_object_get(es, "endpoints")), 2);
    json_t *port = json_array_get(json_object_get(es, "ports"), 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(port, "port")), 8000);
    CHECK_EQ_STR(json_string_value(json_object_get(port, "name")), "http");
    CHECK(json_object_get(want, "namespaces/shop.json") != NULL);
    CHECK(json_object_get(want, "serviceaccounts/shop/default.json") != NULL);
    json_t *svco = json_object_get(want, "services/shop/web.json");
    CHECK_EQ_STR(json_string_value(wf_lm_path(svco, "spec.clusterIP")), "10.43.0.10");
    json_decref(want);

    /* No ready endpoint: the VIP is refused in the node's INPUT chain. */
    for (size_t i = 0; i < s.npods; i++)
        s.pods[i]->procs[0].ready = false;
    rules = wf_lm_rules(&s);
    CHECK(strstr(rules, "-A INPUT -d 10.43.0.10/32 -p tcp --dport 80 -j REJECT") != NULL);
    CHECK(strstr(rules, "DNAT") == NULL);
    free(rules);

    for (size_t i = 0; i < s.nsvcs; i++)
        free(s.svcs[i].key);
    free(s.svcs);
    wf_lm_ipam_free(&s.svc_ips);
    json_decref(s.uids);
    sup_free(&s);
}

int main(void)
{
    WF_RUN(test_publish_shapes);
    WF_RUN(test_deployment);
    WF_RUN(test_statefulset_and_pod);
    return wf_test_done();
}
