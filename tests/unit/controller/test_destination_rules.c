/*
 * test_destination_rules.c — the destination service's pure rules:
 * GetDestination path parsing, opaque-port resolution and endpoint labels.
 */
#include "wf_test.h"

#include "../../../src/controller/dst_rules.c"

#include <stdlib.h>

#define CD WF_STR("cluster.local")

static int parse(const char *p, wf_dst_target_t *t, char *err)
{
    return wf_dst_path_parse(wf_str_from(p), CD, t, err, 256);
}

static void test_path_names(void)
{
    static const char *const ok[] = {
        "web.emojivoto.svc.cluster.local:80", "web.emojivoto.svc.cluster.local.:80",
        "web.emojivoto:80",                   "web.emojivoto.svc:80",
        "web.emojivoto.svc.:80",              "WEB.Emojivoto.SVC.Cluster.Local:80",
        "web.emojivoto.:80",
    };
    wf_dst_target_t t;
    char err[256];
    for (size_t i = 0; i < WF_ARRAY_LEN(ok); i++) {
        CHECK_EQ_INT(parse(ok[i], &t, err), 0);
        CHECK(!t.is_ip);
        CHECK_EQ_STR(t.name, "web");
        CHECK_EQ_STR(t.ns, "emojivoto");
        CHECK_EQ_INT(t.port, 80);
    }
    CHECK_EQ_INT(parse("a-1.b-2:65535", &t, err), 0);
    CHECK_EQ_INT(t.port, 65535);
    /* Another cluster domain. */
    CHECK_EQ_INT(wf_dst_path_parse(WF_STR("web.ns.svc.example.org:80"), WF_STR("example.org."), &t,
                                   err, sizeof(err)),
                 0);
    CHECK_EQ_INT(parse("web.ns.svc.example.org:80", &t, err), WF_EINVAL);
    CHECK(strstr(err, "domain") != NULL);
}

static void test_path_ips(void)
{
    wf_dst_target_t t;
    char err[256];
    CHECK_EQ_INT(parse("10.43.0.10:8080", &t, err), 0);
    CHECK(t.is_ip);
    CHECK_EQ_INT(t.family, AF_INET);
    CHECK_EQ_STR(t.ip_text, "10.43.0.10");
    CHECK_EQ_INT(t.port, 8080);
    CHECK(t.ip[0] == 10 && t.ip[3] == 10);
    CHECK_EQ_INT(parse("[fd00::1]:80", &t, err), 0);
    CHECK_EQ_INT(t.family, AF_INET6);
    CHECK_EQ_STR(t.ip_text, "fd00::1");
    CHECK_EQ_INT(parse("[FD00:0::1]:80", &t, err), 0);
    CHECK_EQ_STR(t.ip_text, "fd00::1"); /* canonical text: one watch per address */
}

static void test_path_bad(void)
{
    static const char *const bad[] = {
        "",
        "web.emojivoto",
        "web.emojivoto:",
        "web.emojivoto:0",
        "web.emojivoto:65536",
        "web.emojivoto:123456",
        "web.emojivoto:http",
        "web.emojivoto:-1",
        ":80",
        "web:80",
        "a.b.c.d:80",
        "web.ns.svc.cluster.local.extra:80",
        "-web.ns:80",
        "web-.ns:80",
        "web..ns:80",
        "we_b.ns:80",
        "::1:80",
        "[::1:80",
        "[]:80",
        "[nope]:80",
        "web.ns:80 ",
        "0123456789012345678901234567890123456789012345678901234567890123.ns:80",
    };
    wf_dst_target_t t;
    char err[256];
    for (size_t i = 0; i < WF_ARRAY_LEN(bad); i++) {
        err[0] = '\0';
        int rc = parse(bad[i], &t, err);
        CHECK_EQ_INT(rc, WF_EINVAL);
        if (rc != WF_EINVAL)
            fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
        CHECK(strncmp(err, "invalid destination path \"", 26) == 0);
    }
    /* NUL inside, and hostile bytes are not copied into the message. */
    CHECK_EQ_INT(wf_dst_path_parse((wf_str_t){"a\0b.ns:80", 9}, CD, &t, err, sizeof(err)),
                 WF_EINVAL);
    CHECK_EQ_INT(parse("x\n\"y.ns:80", &t, err), WF_EINVAL);
    CHECK(strchr(err + 26, '\n') == NULL);
    /* A long path is refused and the message stays bounded. */
    char longp[1000];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    CHECK_EQ_INT(parse(longp, &t, err), WF_EINVAL);
    CHECK(strlen(err) < 200);
}

static void test_opaque(void)
{
    CHECK(wf_dst_ports_has("3306,5000-5100", 3306));
    CHECK(wf_dst_ports_has("3306,5000-5100", 5050));
    CHECK(!wf_dst_ports_has("3306,5000-5100", 5101));
    CHECK(!wf_dst_ports_has("", 80));
    CHECK(!wf_dst_ports_has("nonsense", 80));
    CHECK(!wf_dst_ports_has(NULL, 80));
    /* A list longer than the range array still works (bitmap path). */
    char many[1024] = "";
    for (int p = 1000; p < 1200; p += 2)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%d,", p);
    CHECK(wf_dst_ports_has(many, 1100));
    CHECK(!wf_dst_ports_has(many, 1101));

    /* Service annotation (service ports) wins over pod and namespace. */
    CHECK(wf_dst_opaque("80", 80, "", "", 8080, NULL));
    CHECK(!wf_dst_opaque("", 3306, "3306", "3306", 3306, NULL));
    /* Pod annotation names target (container) ports. */
    CHECK(wf_dst_opaque(NULL, 80, "8080", NULL, 8080, NULL));
    CHECK(!wf_dst_opaque(NULL, 80, "80", NULL, 8080, NULL));
    /* Namespace when neither Service nor pod says. */
    CHECK(wf_dst_opaque(NULL, 80, NULL, "8080", 8080, NULL));
    CHECK(!wf_dst_opaque(NULL, 80, "9999", "8080", 8080, NULL));
    /* Defaults when nobody says; target 0 means the service port. */
    CHECK(wf_dst_opaque(NULL, 5432, NULL, NULL, 0, NULL));
    CHECK(wf_dst_opaque(NULL, 80, NULL, NULL, 6379, NULL));
    CHECK(!wf_dst_opaque(NULL, 80, NULL, NULL, 8080, NULL));
    /* An annotation replaces the defaults. */
    CHECK(!wf_dst_opaque(NULL, 5432, NULL, "3306", 5432, NULL));
    /* appProtocol */
    CHECK(wf_dst_opaque(NULL, 80, NULL, NULL, 8080, "linkerd.io/opaque"));
    CHECK(wf_dst_opaque("", 80, NULL, NULL, 8080, "mysql"));
    CHECK(!wf_dst_opaque(NULL, 80, NULL, NULL, 8080, "http"));
    CHECK(!wf_dst_opaque(NULL, 80, NULL, NULL, 8080, "kubernetes.io/h2c"));
    CHECK(!wf_dst_opaque(NULL, 80, NULL, NULL, 8080, "grpc"));
    CHECK(!wf_dst_app_protocol_opaque(NULL));
    CHECK(!wf_dst_app_protocol_opaque(""));
    CHECK(wf_dst_app_protocol_opaque("linkerd.io/tcp"));
    CHECK(wf_dst_app_protocol_opaque("https"));
}

static wf_k8s_obj_t *pod_from(const char *json)
{
    wf_k8s_obj_t *o = NULL;
    char err[256];
    int rc = wf_k8s_obj_parse(&wf_k8s_res_pods, json, strlen(json), NULL, &o, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "parse: %s\n", err);
    return o;
}

static const char *label(const wf_dst_labels_t *l, const char *k)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->key[i], k) == 0)
            return l->value[i];
    return NULL;
}

static void test_labels(void)
{
    wf_dst_labels_t l;
    wf_k8s_obj_t *p = pod_from(
        "{\"metadata\":{\"name\":\"web-7d4-x\",\"namespace\":\"emo\",\"labels\":{"
        "\"pod-template-hash\":\"7d4\",\"linkerd.io/control-plane-ns\":\"linkerd\"},"
        "\"ownerReferences\":[{\"kind\":\"Node\",\"name\":\"n1\"},"
        "{\"kind\":\"ReplicaSet\",\"name\":\"web-7d4\",\"controller\":true}]},"
        "\"spec\":{\"serviceAccountName\":\"websa\"}}");
    CHECK(p != NULL);
    if (p == NULL)
        return;
    wf_dst_pod_labels(p, &l);
    CHECK_EQ_STR(label(&l, "namespace"), "emo");
    CHECK_EQ_STR(label(&l, "pod"), "web-7d4-x");
    CHECK_EQ_STR(label(&l, "serviceaccount"), "websa");
    CHECK_EQ_STR(label(&l, "replicaset"), "web-7d4");
    CHECK_EQ_STR(label(&l, "deployment"), "web");
    CHECK_EQ_STR(label(&l, "pod_template_hash"), "7d4");
    CHECK(wf_dst_pod_meshed(p));
    char id[300];
    wf_dst_identity(p, "linkerd", "cluster.local", id, sizeof(id));
    CHECK_EQ_STR(id, "websa.emo.serviceaccount.identity.linkerd.cluster.local");
    wf_k8s_obj_unref(p);

    /* A ReplicaSet without the hash convention: no deployment guessed. */
    p = pod_from("{\"metadata\":{\"name\":\"x\",\"namespace\":\"n\",\"labels\":{\"pod-template-"
                 "hash\":\"abc\"},\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"rs-"
                 "other\"}]}}");
    wf_dst_pod_labels(p, &l);
    CHECK(label(&l, "deployment") == NULL);
    CHECK_EQ_STR(label(&l, "replicaset"), "rs-other");
    CHECK_EQ_STR(label(&l, "serviceaccount"), "default");
    CHECK(!wf_dst_pod_meshed(p));
    wf_k8s_obj_unref(p);

    static const char *const kinds[][2] = {{"StatefulSet", "statefulset"},
                                           {"DaemonSet", "daemonset"},
                                           {"Job", "job"},
                                           {"ReplicationController", "replicationcontroller"}};
    for (size_t i = 0; i < WF_ARRAY_LEN(kinds); i++) {
        char j[512];
        snprintf(j, sizeof(j),
                 "{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"ownerReferences\":[{"
                 "\"kind\":\"%s\",\"name\":\"owner\",\"controller\":true}]}}",
                 kinds[i][0]);
        p = pod_from(j);
        wf_dst_pod_labels(p, &l);
        CHECK_EQ_STR(label(&l, kinds[i][1]), "owner");
        CHECK(label(&l, "replicaset") == NULL);
        wf_k8s_obj_unref(p);
    }
    /* Mistyped fields read as absent. */
    p = pod_from("{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"labels\":[1],"
                 "\"ownerReferences\":{\"kind\":1}},\"spec\":{\"serviceAccountName\":7}}");
    wf_dst_pod_labels(p, &l);
    CHECK_EQ_INT(l.n, 3);
    CHECK_EQ_STR(label(&l, "serviceaccount"), "default");
    wf_k8s_obj_unref(p);
}

int main(void)
{
    WF_RUN(test_path_names);
    WF_RUN(test_path_ips);
    WF_RUN(test_path_bad);
    WF_RUN(test_opaque);
    WF_RUN(test_labels);
    return wf_test_done();
}
