/*
 * test_k8s.c — cluster state: the string map, objects and their typed
 * accessors, and the local store source driven through a real loop and
 * inotify (atomic writes, in-place writes, deletes, late directories,
 * malformed files, and an inotify queue overflow answered by a rescan).
 */
#include "wf_test.h"

#include "core/hmap.h"
#include "core/log.h"
#include "k8s/source.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_hmap(void)
{
    wf_hmap_t m = WF_HMAP_INIT;
    char k[32];
    static int vals[2000];
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof(k), "key-%d", i);
        CHECK_EQ_INT(wf_hmap_put(&m, wf_str_from(k), &vals[i], NULL), 0);
    }
    CHECK_EQ_INT(m.count, 2000);
    void *old = NULL;
    CHECK_EQ_INT(wf_hmap_put(&m, WF_STR("key-7"), &vals[8], &old), 0);
    CHECK(old == &vals[7]);
    CHECK(wf_hmap_get(&m, WF_STR("key-7")) == &vals[8]);
    CHECK(wf_hmap_get(&m, WF_STR("key-2000")) == NULL);
    CHECK(wf_hmap_del(&m, WF_STR("key-1")) == &vals[1]);
    CHECK(wf_hmap_del(&m, WF_STR("key-1")) == NULL);
    /* Iterate, removing every even value. */
    wf_hmap_iter_t it;
    size_t seen = 0;
    wf_hmap_iter_init(&it, &m);
    for (wf_hmap_entry_t *e; (e = wf_hmap_iter_next(&it)) != NULL;) {
        seen++;
        if (((int *)e->val - vals) % 2 == 0)
            wf_hmap_iter_remove(&it);
    }
    CHECK_EQ_INT(seen, 1999);
    CHECK_EQ_INT(m.count, 998); /* 1000 even keys and key-7 (holding vals[8]) */
    CHECK(wf_hmap_get(&m, WF_STR("key-3")) == &vals[3]);
    CHECK(wf_hmap_get(&m, WF_STR("key-4")) == NULL);
    CHECK(wf_hmap_bytes(&m) > 1000 * sizeof(wf_hmap_entry_t));
    wf_hmap_clear(&m);
    CHECK(wf_hmap_get(&m, WF_STR("key-3")) == NULL);
}

static wf_k8s_obj_t *parse(const wf_k8s_resource_t *res, const char *json, const char *ns,
                           int want_rc)
{
    wf_k8s_obj_t *o = NULL;
    char err[256] = "";
    int rc = wf_k8s_obj_parse(res, json, strlen(json), ns, &o, err, sizeof(err));
    CHECK_EQ_INT(rc, want_rc);
    if (rc != want_rc)
        fprintf(stderr, "  %s: %s\n", json, err);
    if (rc != 0)
        CHECK(err[0] != '\0');
    return o;
}

static void test_objects(void)
{
    wf_k8s_obj_t *o;
    /* Structural checks. */
    parse(&wf_k8s_res_pods, "[]", NULL, WF_EINVAL);
    parse(&wf_k8s_res_pods, "{\"metadata\":{}}", "ns", WF_EINVAL);
    parse(&wf_k8s_res_pods, "{\"metadata\":{\"name\":\"Bad_Name\",\"namespace\":\"n\"}}", NULL,
          WF_EINVAL);
    parse(&wf_k8s_res_pods, "{\"metadata\":{\"name\":\"p\"}}", NULL, WF_EINVAL); /* no ns */
    parse(&wf_k8s_res_pods, "{\"metadata\":{\"name\":\"p\",\"namespace\":\"a\"}}", "b", WF_EINVAL);
    parse(&wf_k8s_res_pods, "{\"kind\":\"Service\",\"metadata\":{\"name\":\"p\",\"namespace\":\"a\"}}",
          NULL, WF_EINVAL);
    parse(&wf_k8s_res_pods, "{\"metadata\":{\"name\":\"p\",\"name\":\"q\",\"namespace\":\"a\"}}",
          NULL, WF_EINVAL); /* duplicate keys */
    parse(&wf_k8s_res_pods, "{\"metadata\":{\"name\":\"p\"", "a", WF_EINVAL);

    /* Defaults, trimming and the metadata accessors. */
    o = parse(&wf_k8s_res_pods,
              "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"uid\":\"u1\",\"resourceVersion\":"
              "\"42\",\"labels\":{\"a\":\"b\"},\"annotations\":{\"x\":\"y\",\"kubectl.kubernetes.io/"
              "last-applied-configuration\":\"{...}\"},\"managedFields\":[{}]},\"status\":{"
              "\"podIP\":\"10.0.0.1\",\"phase\":\"Running\"}}",
              "ns1", 0);
    if (o != NULL) {
        CHECK_EQ_STR(o->ns, "ns1");
        CHECK_EQ_STR(o->name, "p");
        CHECK_EQ_STR(o->rv, "42");
        CHECK_EQ_STR(wf_k8s_uid(o), "u1");
        CHECK_EQ_STR(wf_k8s_label(o, "a"), "b");
        CHECK(wf_k8s_label(o, "x") == NULL);
        CHECK_EQ_STR(wf_k8s_annotation(o, "x"), "y");
        CHECK(wf_k8s_annotation(o, "kubectl.kubernetes.io/last-applied-configuration") == NULL);
        CHECK(json_object_get(json_object_get(o->json, "metadata"), "managedFields") == NULL);
        CHECK_EQ_STR(wf_k8s_pod_ip(o), "10.0.0.1");
        CHECK_EQ_STR(wf_k8s_pod_sa(o), "default");
        CHECK_EQ_STR(wf_k8s_pod_phase(o), "Running");
        const char *k, *n;
        CHECK(!wf_k8s_owner(o, &k, &n));
        char key[64];
        wf_k8s_obj_key(o->ns, o->name, key, sizeof(key));
        CHECK_EQ_STR(key, "ns1/p");
        wf_k8s_obj_t *o2 = wf_k8s_obj_ref(o);
        CHECK(wf_k8s_obj_same(o, o2));
        wf_k8s_obj_unref(o2);
        wf_k8s_obj_unref(o);
    }
    /* Cluster-scoped: no namespace, key is the name. */
    o = parse(&wf_k8s_res_namespaces, "{\"metadata\":{\"name\":\"emojivoto\"}}", NULL, 0);
    if (o != NULL) {
        CHECK_EQ_STR(o->ns, "");
        wf_k8s_obj_unref(o);
    }

    /* Service ports: named, numeric and defaulted targetPort, appProtocol. */
    o = parse(&wf_k8s_res_services,
              "{\"metadata\":{\"name\":\"web\",\"namespace\":\"n\"},\"spec\":{\"clusterIP\":"
              "\"10.43.0.1\",\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":\"web\"},"
              "{\"port\":81,\"targetPort\":8081,\"appProtocol\":\"grpc\"},{\"port\":82},"
              "{\"port\":70000},{\"port\":83,\"targetPort\":-1},\"junk\"]}}",
              NULL, 0);
    if (o != NULL) {
        wf_k8s_svc_port_t p;
        CHECK_EQ_STR(wf_k8s_svc_cluster_ip(o), "10.43.0.1");
        CHECK_EQ_INT(wf_k8s_svc_nports(o), 6);
        CHECK(wf_k8s_svc_port(o, 0, &p));
        CHECK_EQ_STR(p.name, "http");
        CHECK_EQ_STR(p.target_name, "web");
        CHECK_EQ_INT(p.target_port, 0);
        CHECK_EQ_STR(p.protocol, "TCP");
        CHECK(wf_k8s_svc_find_port(o, 81, &p));
        CHECK_EQ_INT(p.target_port, 8081);
        CHECK_EQ_STR(p.app_protocol, "grpc");
        CHECK(wf_k8s_svc_find_port(o, 82, &p));
        CHECK_EQ_INT(p.target_port, 82);
        CHECK(!wf_k8s_svc_port(o, 3, &p));
        CHECK(!wf_k8s_svc_port(o, 4, &p));
        CHECK(!wf_k8s_svc_port(o, 5, &p));
        CHECK(!wf_k8s_svc_port(o, 6, &p));
        CHECK(!wf_k8s_svc_find_port(o, 9999, &p));
        wf_k8s_obj_unref(o);
    }
    o = parse(&wf_k8s_res_services,
              "{\"metadata\":{\"name\":\"h\",\"namespace\":\"n\"},\"spec\":{\"clusterIP\":\"None\"}}",
              NULL, 0);
    if (o != NULL) {
        CHECK(wf_k8s_svc_cluster_ip(o) == NULL);
        CHECK_EQ_INT(wf_k8s_svc_nports(o), 0);
        wf_k8s_obj_unref(o);
    }

    /* EndpointSlice endpoints: ready defaults to true, targetRef. */
    o = parse(&wf_k8s_res_endpointslices,
              "{\"metadata\":{\"name\":\"s\",\"namespace\":\"n\",\"labels\":{\"kubernetes.io/"
              "service-name\":\"web\"}},\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"http\","
              "\"port\":8080},{\"port\":\"x\"}],\"endpoints\":[{\"addresses\":[\"10.0.0.1\"],"
              "\"conditions\":{\"ready\":false},\"targetRef\":{\"kind\":\"Pod\",\"name\":\"p1\","
              "\"namespace\":\"n\"}},{\"addresses\":[\"10.0.0.2\"],\"conditions\":{}},"
              "{\"addresses\":[\"10.0.0.3\"],\"conditions\":{\"ready\":null}},7]}",
              NULL, 0);
    if (o != NULL) {
        wf_k8s_slice_port_t sp;
        wf_k8s_endpoint_t e;
        CHECK_EQ_STR(wf_k8s_slice_service(o), "web");
        CHECK_EQ_STR(wf_k8s_slice_family(o), "IPv4");
        CHECK_EQ_INT(wf_k8s_slice_nports(o), 2);
        CHECK(wf_k8s_slice_port(o, 0, &sp));
        CHECK_EQ_INT(sp.port, 8080);
        CHECK(!wf_k8s_slice_port(o, 1, &sp));
        CHECK_EQ_INT(wf_k8s_slice_nendpoints(o), 4);
        CHECK(wf_k8s_slice_endpoint(o, 0, &e));
        CHECK(!e.ready);
        CHECK_EQ_STR(e.target_kind, "Pod");
        CHECK_EQ_STR(e.target_name, "p1");
        CHECK_EQ_STR(json_string_value(json_array_get(e.addresses, 0)), "10.0.0.1");
        CHECK(wf_k8s_slice_endpoint(o, 1, &e));
        CHECK(e.ready);
        CHECK(e.target_kind == NULL);
        CHECK(wf_k8s_slice_endpoint(o, 2, &e));
        CHECK(e.ready);
        CHECK(!wf_k8s_slice_endpoint(o, 3, &e));
        wf_k8s_obj_unref(o);
    }
    /* Generic resources name their store directory plural.group. */
    wf_k8s_resource_t server = {"servers", "policy.linkerd.io", "v1beta3", "Server", true,
                                WF_K8S_GENERIC};
    char dn[64];
    wf_k8s_resource_dir(&server, dn, sizeof(dn));
    CHECK_EQ_STR(dn, "servers.policy.linkerd.io");
    wf_k8s_resource_dir(&wf_k8s_res_endpointslices, dn, sizeof(dn));
    CHECK_EQ_STR(dn, "endpointslices");
}

/* --- the local source ------------------------------------------------------------------- */

typedef struct recorder {
    int added, modified, deleted, synced;
    char last[128]; /* "EVENT ns/name" */
} recorder_t;

static void rec_event(wf_k8s_informer_t *inf, wf_k8s_event_t ev, wf_k8s_obj_t *obj,
                      wf_k8s_obj_t *old)
{
    recorder_t *r = inf->data;
    if (ev == WF_K8S_ADDED)
        r->added++;
    else if (ev == WF_K8S_MODIFIED)
        r->modified++;
    else
        r->deleted++;
    if (ev == WF_K8S_MODIFIED && old == NULL)
        r->synced = -1000; /* contract broken: MODIFIED comes with the old object */
    snprintf(r->last, sizeof(r->last), "%s %s/%s", wf_k8s_event_name(ev), obj->ns, obj->name);
}

static void rec_synced(wf_k8s_informer_t *inf)
{
    ((recorder_t *)inf->data)->synced++;
}

static char root[256];

static void write_file(const char *rel, const char *text, bool atomic)
{
    char path[512], tmp[600], dir[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    for (char *sl = dir + 1; (sl = strchr(sl, '/')) != NULL; sl++) {
        *sl = '\0';
        mkdir(dir, 0755);
        *sl = '/';
    }
    mkdir(dir, 0755);
    snprintf(tmp, sizeof(tmp), "%s/.tmp-%d", dir, rand());
    const char *target = atomic ? tmp : path;
    FILE *f = fopen(target, "w");
    if (f == NULL)
        abort();
    fputs(text, f);
    fclose(f);
    if (atomic && rename(tmp, path) != 0)
        abort();
}

static void pod_file(const char *ns, const char *name, const char *ip, bool atomic)
{
    char rel[256], text[512];
    snprintf(rel, sizeof(rel), "pods/%s/%s.json", ns, name);
    snprintf(text, sizeof(text),
             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"%s\"},\"status\":{\"podIP\":\"%s\"}}",
             name, ns, ip);
    write_file(rel, text, atomic);
}

/* Runs the loop until cond holds (bounded: a missing event fails the
 * check, it does not hang). */
#define RUN_UNTIL(loop, cond)                                                                      \
    do {                                                                                           \
        for (int i_ = 0; i_ < 400 && !(cond); i_++)                                                \
            wf_loop_run_once(loop, 10);                                                            \
        CHECK(cond);                                                                               \
    } while (0)

static void test_local_source(void)
{
    snprintf(root, sizeof(root), "/tmp/weft-test-k8s.%d", (int)getpid());
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        abort();
    wf_log_set_level(WF_LOG_ERROR);
    pod_file("a", "p1", "10.0.0.1", true);
    pod_file("a", "p2", "10.0.0.2", true);
    write_file("pods/a/bad.json", "{\"metadata\":", false);
    write_file("pods/a/.hidden.json", "{}", false);
    write_file("pods/a/notes.txt", "x", false);
    write_file("namespaces/a.json", "{\"metadata\":{\"name\":\"a\"}}", true);

    wf_loop_t loop;
    CHECK_EQ_INT(wf_loop_init(&loop), 0);
    char err[256];
    wf_k8s_source_t *src = wf_k8s_local_new(&loop, root, err, sizeof(err));
    CHECK(src != NULL);
    if (src == NULL)
        return;
    recorder_t pods = {0}, nss = {0};
    wf_k8s_informer_cbs_t cbs = {rec_event, rec_synced, NULL};
    wf_k8s_informer_t *pi = wf_k8s_watch(src, &wf_k8s_res_pods, &cbs, &pods, err, sizeof(err));
    wf_k8s_informer_t *ni =
        wf_k8s_watch(src, &wf_k8s_res_namespaces, &cbs, &nss, err, sizeof(err));
    CHECK(pi != NULL && ni != NULL);
    CHECK_EQ_INT(pods.synced, 0); /* never from inside wf_k8s_watch */
    RUN_UNTIL(&loop, pods.synced == 1 && nss.synced == 1);
    CHECK_EQ_INT(pods.added, 2);
    CHECK_EQ_INT(nss.added, 1);
    CHECK_EQ_INT(pi->errors, 1); /* bad.json; dotfiles and .txt are not objects */
    wf_k8s_obj_t *p1 = wf_k8s_informer_get(pi, "a", "p1");
    CHECK(p1 != NULL && strcmp(wf_k8s_pod_ip(p1), "10.0.0.1") == 0);
    CHECK(wf_k8s_informer_get(ni, NULL, "a") != NULL);

    /* Atomic replace → MODIFIED; unchanged rewrite → nothing. */
    pod_file("a", "p1", "10.0.0.9", true);
    RUN_UNTIL(&loop, pods.modified == 1);
    CHECK_EQ_STR(wf_k8s_pod_ip(wf_k8s_informer_get(pi, "a", "p1")), "10.0.0.9");
    pod_file("a", "p1", "10.0.0.9", true);
    pod_file("a", "p3", "10.0.0.3", false); /* in place: IN_CLOSE_WRITE */
    RUN_UNTIL(&loop, pods.added == 3);
    CHECK_EQ_INT(pods.modified, 1);
    CHECK_EQ_STR(pods.last, "ADDED a/p3");

    /* A malformed replacement keeps the last good object. */
    write_file("pods/a/p2.json", "{oops", true);
    pod_file("a", "p4", "10.0.0.4", true); /* a marker event after it */
    RUN_UNTIL(&loop, pods.added == 4);
    CHECK(wf_k8s_informer_get(pi, "a", "p2") != NULL);
    CHECK_EQ_INT(pi->errors, 2);

    /* A namespace directory that appears later; then a delete. */
    pod_file("late", "q1", "10.0.1.1", true);
    RUN_UNTIL(&loop, wf_k8s_informer_get(pi, "late", "q1") != NULL);
    char path[512];
    snprintf(path, sizeof(path), "%s/pods/a/p3.json", root);
    unlink(path);
    RUN_UNTIL(&loop, pods.deleted == 1);
    CHECK_EQ_STR(pods.last, "DELETED a/p3");
    /* A metadata.name that differs from the file name is refused. */
    write_file("pods/a/p5.json",
               "{\"metadata\":{\"name\":\"other\",\"namespace\":\"a\"}}", true);
    pod_file("a", "p6", "10.0.0.6", true);
    RUN_UNTIL(&loop, wf_k8s_informer_get(pi, "a", "p6") != NULL);
    CHECK(wf_k8s_informer_get(pi, "a", "other") == NULL);
    CHECK(wf_k8s_informer_get(pi, "a", "p5") == NULL);

    /* Overflow: more events than the kernel queues while the loop sleeps;
     * the rescan must end with exactly the files on disk. */
    pod_file("b", "first", "10.1.0.1", true); /* b/ must be watched before the flood */
    RUN_UNTIL(&loop, wf_k8s_informer_get(pi, "b", "first") != NULL);
    int before_deleted = pods.deleted;
    uint64_t before_relists = pi->relists;
    int n = 0;
    FILE *mq = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
    if (mq == NULL || fscanf(mq, "%d", &n) != 1)
        n = 16384;
    if (mq != NULL)
        fclose(mq);
    n = n / 2 + 100; /* ≥ 2 events per atomic write (CREATE, CLOSE_WRITE, MOVED_FROM, MOVED_TO) */
    for (int i = 0; i < n; i++) {
        char nm[32];
        snprintf(nm, sizeof(nm), "bulk-%d", i);
        pod_file("b", nm, "10.1.0.1", true);
    }
    snprintf(path, sizeof(path), "%s/pods/a/p1.json", root);
    unlink(path);
    RUN_UNTIL(&loop, wf_k8s_informer_get(pi, "b", "bulk-0") != NULL &&
                         wf_k8s_informer_get(pi, "a", "p1") == NULL &&
                         pi->cache.count == (unsigned)n + 5);
    char last[32];
    snprintf(last, sizeof(last), "bulk-%d", n - 1);
    CHECK(wf_k8s_informer_get(pi, "b", last) != NULL);
    CHECK_EQ_INT(pods.deleted, before_deleted + 1);
    CHECK(pi->relists > before_relists); /* the overflow did happen, and was answered */
    CHECK(wf_k8s_informer_get(pi, "a", "p2") != NULL);

    wf_k8s_source_free(src);
    wf_loop_run_once(&loop, 0);
    wf_loop_destroy(&loop);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        abort();
}

int main(void)
{
    WF_RUN(test_hmap);
    WF_RUN(test_objects);
    WF_RUN(test_local_source);
    return wf_test_done();
}
