/*
 * test_kube_config.c — the kubernetes source's credentials: YAML loading
 * (yaml.h), kubeconfig current-context resolution (relative paths, *-data
 * fields, tokens, refusals) and in-cluster settings.
 */
#include "wf_test.h"

#include "../../../src/lib/k8s/kube.c"

#include <stdlib.h>
#include <sys/stat.h>

static char dir[128];

static const char *write_tmp(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        abort();
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_yaml(void)
{
    char err[256];
    const char *y = "a: 1\nb: [x, \"y\"]\nc:\n  d: true\n  e: ~\nf: |\n  line1\n  line2\n";
    json_t *j = wf_yaml_load(y, strlen(y), err, sizeof(err));
    CHECK(j != NULL);
    if (j != NULL) {
        CHECK_EQ_STR(json_string_value(json_object_get(j, "a")), "1");
        CHECK_EQ_STR(json_string_value(json_array_get(json_object_get(j, "b"), 1)), "y");
        CHECK_EQ_STR(wf_k8s_str(j, "c", "d"), "true");
        CHECK(json_is_null(json_object_get(json_object_get(j, "c"), "e")));
        CHECK_EQ_STR(json_string_value(json_object_get(j, "f")), "line1\nline2\n");
        json_decref(j);
    }
    const char *bad[] = {"a: [1, 2", "a: &x 1\nb: *x\n", "", "{a: b}: c\n"};
    for (size_t i = 0; i < WF_ARRAY_LEN(bad); i++) {
        err[0] = '\0';
        j = wf_yaml_load(bad[i], strlen(bad[i]), err, sizeof(err));
        CHECK(j == NULL);
        CHECK(err[0] != '\0');
        json_decref(j);
    }
    /* Deep nesting is refused, not recursed into. */
    char deep[400];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    j = wf_yaml_load(deep, sizeof(deep), err, sizeof(err));
    CHECK(j == NULL);
    CHECK(strstr(err, "deeper") != NULL);
}

static void test_kubeconfig(void)
{
    char err[256];
    kube_cfg_t c = {0};
    write_tmp("ca.crt", "PEM");
    const char *kc = write_tmp(
        "config", "apiVersion: v1\nkind: Config\ncurrent-context: b\n"
                  "clusters:\n- name: c1\n  cluster:\n    server: https://10.0.0.1:6443/\n"
                  "    certificate-authority: ca.crt\n"
                  "- name: c2\n  cluster:\n    server: https://[fd00::1]:443\n"
                  "    certificate-authority-data: UEVNIERBVEE=\n"
                  "    insecure-skip-tls-verify: true\n"
                  "contexts:\n- name: a\n  context: {cluster: c1, user: u1}\n"
                  "- name: b\n  context: {cluster: c2, user: u2}\n"
                  "users:\n- name: u1\n  user: {token: t1}\n"
                  "- name: u2\n  user:\n    tokenFile: tok\n    client-certificate-data: Q0VSVA==\n"
                  "    client-key-data: S0VZ\n");
    CHECK_EQ_INT(kubeconfig_load(kc, &c, err, sizeof(err)), 0);
    CHECK_EQ_STR(c.server, "https://[fd00::1]:443");
    CHECK(c.ca_pem.len == 8 && memcmp(c.ca_pem.ptr, "PEM DATA", 8) == 0);
    CHECK(c.insecure);
    CHECK(c.cert_pem.len == 4 && memcmp(c.cert_pem.ptr, "CERT", 4) == 0);
    CHECK(c.key_pem.len == 3 && memcmp(c.key_pem.ptr, "KEY", 3) == 0);
    char want[256];
    snprintf(want, sizeof(want), "%s/tok", dir);
    CHECK_EQ_STR(c.token_file, want);
    write_tmp("tok", "secret-token\n");
    char tok[64];
    read_token(&c, tok, sizeof(tok));
    CHECK_EQ_STR(tok, "secret-token");
    cfg_free(&c);

    /* The other context: relative CA path, trailing slash trimmed, token. */
    kc = write_tmp("config2",
                   "current-context: a\nclusters:\n- name: c1\n  cluster:\n    server: "
                   "https://10.0.0.1:6443/\n    certificate-authority: ca.crt\n"
                   "contexts:\n- name: a\n  context: {cluster: c1, user: u1}\n"
                   "users:\n- name: u1\n  user: {token: t1}\n");
    CHECK_EQ_INT(kubeconfig_load(kc, &c, err, sizeof(err)), 0);
    CHECK_EQ_STR(c.server, "https://10.0.0.1:6443");
    snprintf(want, sizeof(want), "%s/ca.crt", dir);
    CHECK_EQ_STR(c.ca_file, want);
    read_token(&c, tok, sizeof(tok));
    CHECK_EQ_STR(tok, "t1");
    CHECK(!c.insecure);
    cfg_free(&c);

    static const char *const bad[][2] = {
        {"current-context: x\ncontexts: []\n", "current-context"},
        {"current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n", "no cluster"},
        {"current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"
         "clusters:\n- name: c\n  cluster: {server: \"ftp://x\"}\n",
         "http(s)"},
        {"current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"
         "clusters:\n- name: c\n  cluster: {server: \"https://x\"}\n"
         "users:\n- name: u\n  user:\n    exec: {command: aws}\n",
         "exec"},
        {"current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"
         "clusters:\n- name: c\n  cluster: {server: \"https://x\", certificate-authority-data: "
         "\"***\"}\n",
         "base64"},
        {"a: [", "YAML"},
    };
    for (size_t i = 0; i < WF_ARRAY_LEN(bad); i++) {
        kc = write_tmp("bad", bad[i][0]);
        err[0] = '\0';
        CHECK_EQ_INT(kubeconfig_load(kc, &c, err, sizeof(err)), WF_EINVAL);
        CHECK(strstr(err, bad[i][1]) != NULL);
        if (strstr(err, bad[i][1]) == NULL)
            fprintf(stderr, "  case %zu: %s\n", i, err);
        cfg_free(&c);
    }
    CHECK_EQ_INT(kubeconfig_load("/nonexistent/kubeconfig", &c, err, sizeof(err)), WF_EINVAL);
    cfg_free(&c);
}

static void test_incluster(void)
{
    char err[256];
    kube_cfg_t c = {0};
    unsetenv("KUBERNETES_SERVICE_HOST");
    CHECK_EQ_INT(incluster_load(&c, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "KUBERNETES_SERVICE_HOST") != NULL);
    cfg_free(&c);
    setenv("KUBERNETES_SERVICE_HOST", "fd00::10", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    setenv("WEFT_K8S_SERVICEACCOUNT_DIR", dir, 1);
    write_tmp("token", "sa-token");
    CHECK_EQ_INT(incluster_load(&c, err, sizeof(err)), 0);
    CHECK_EQ_STR(c.server, "https://[fd00::10]:443");
    char want[256];
    snprintf(want, sizeof(want), "%s/ca.crt", dir);
    CHECK_EQ_STR(c.ca_file, want);
    char tok[64];
    read_token(&c, tok, sizeof(tok));
    CHECK_EQ_STR(tok, "sa-token");
    cfg_free(&c);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/weft-test-kubecfg.%d", (int)getpid());
    mkdir(dir, 0700);
    wf_log_set_level(WF_LOG_OFF);
    WF_RUN(test_yaml);
    WF_RUN(test_kubeconfig);
    WF_RUN(test_incluster);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return wf_test_done();
}
