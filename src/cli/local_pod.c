/*
 * local_pod.c — one pod's life in the local-mode supervisor: network,
 * identity token, weft-init, the proxy, the app containers with readiness
 * and restart backoff, and the drain -> SIGTERM -> SIGKILL -> cleanup
 * sequence when it goes away.
 */
#include "local_net.h"
#include "local_sup.h"
#include "local_sys.h"

#include <errno.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Restart backoff: 1 s doubling to 30 s; reset after 60 s of running. */
#define WF_LM_BACKOFF_MIN 1.0
#define WF_LM_BACKOFF_MAX 30.0
#define WF_LM_BACKOFF_RESET 60.0
/* How often a not-ready process is probed, and a ready one re-checked. */
#define WF_LM_PROBE_EVERY 0.25
#define WF_LM_PROBE_READY_EVERY 2.0
/* Longest stop grace (terminationGracePeriodSeconds is capped to it). */
#define WF_LM_GRACE_MAX 10.0

static const char *const wf_lm_default_path =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/* ---- small helpers --------------------------------------------------------- */

typedef struct wf_lm_strv {
    char **v;
    size_t n, cap;
} wf_lm_strv_t;

static void wf_lm_strv_push(wf_lm_strv_t *sv, char *s)
{
    if (s == NULL)
        return;
    if (sv->n + 2 > sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 16;
        char **nv = realloc(sv->v, cap * sizeof(*nv));
        if (nv == NULL) {
            free(s);
            return;
        }
        sv->v = nv;
        sv->cap = cap;
    }
    sv->v[sv->n++] = s;
    sv->v[sv->n] = NULL;
}

/* Sets K=V, replacing an earlier K (a later env entry wins, as in Kubernetes). */
static void wf_lm_env_set(wf_lm_strv_t *sv, const char *k, const char *v)
{
    size_t kl = strlen(k);
    char *kv;
    if (asprintf(&kv, "%s=%s", k, v) < 0)
        return;
    for (size_t i = 0; i < sv->n; i++) {
        if (strncmp(sv->v[i], k, kl) == 0 && sv->v[i][kl] == '=') {
            free(sv->v[i]);
            sv->v[i] = kv;
            return;
        }
    }
    wf_lm_strv_push(sv, kv);
}

static void wf_lm_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* A scalar JSON value as a command-line word. */
static char *wf_lm_word(json_t *w)
{
    char *s = NULL;
    if (json_is_string(w))
        s = strdup(json_string_value(w));
    else if (json_is_integer(w))
        (void)!asprintf(&s, "%lld", (long long)json_integer_value(w));
    else if (json_is_real(w))
        (void)!asprintf(&s, "%g", json_real_value(w));
    else if (json_is_boolean(w))
        s = strdup(json_is_true(w) ? "true" : "false");
    else
        s = strdup("");
    return s;
}

static void wf_lm_proc_clear(wf_lm_proc_t *p)
{
    free(p->name);
    wf_lm_strv_free(p->argv);
    wf_lm_strv_free(p->env);
    free(p->workdir);
    free(p->log);
    free(p->cgroup);
    free(p->probe_path);
    memset(p, 0, sizeof(*p));
}

void wf_lm_pod_free(wf_lm_pod_t *pod)
{
    if (pod == NULL)
        return;
    free(pod->ns);
    free(pod->name);
    free(pod->owner_key);
    free(pod->owner_kind);
    free(pod->owner_name);
    free(pod->apply_dir);
    json_decref(pod->tmpl);
    wf_lm_proc_clear(&pod->proxy);
    for (size_t i = 0; i < pod->nprocs; i++)
        wf_lm_proc_clear(&pod->procs[i]);
    free(pod->procs);
    free(pod);
}

bool wf_lm_pod_live(const wf_lm_pod_t *pod)
{
    return pod->state < WF_LM_POD_DRAIN;
}

bool wf_lm_pod_ready(const wf_lm_pod_t *pod)
{
    if (pod->state != WF_LM_POD_RUNNING)
        return false;
    if (pod->inj.mode != WF_LM_INJECT_DISABLED && !pod->proxy.ready)
        return false;
    for (size_t i = 0; i < pod->nprocs; i++)
        if (!pod->procs[i].ready)
            return false;
    return pod->nprocs > 0;
}

const char *wf_lm_pod_phase(const wf_lm_pod_t *pod)
{
    if (pod->state == WF_LM_POD_NEW || pod->state == WF_LM_POD_PROXY)
        return "Pending";
    bool all_done = pod->nprocs > 0, all_ok = true;
    for (size_t i = 0; i < pod->nprocs; i++) {
        if (!pod->procs[i].done)
            all_done = false;
        if (pod->procs[i].last_exit != 0)
            all_ok = false;
    }
    if (all_done)
        return all_ok ? "Succeeded" : "Failed";
    return "Running";
}

/* ---- construction ------------------------------------------------------------ */

wf_lm_pod_t *wf_lm_pod_new(wf_lm_sup_t *s, const char *ns, const char *name, json_t *tmpl,
                           const char *owner_key)
{
    wf_lm_pod_t *pod = calloc(1, sizeof(*pod));
    if (pod == NULL)
        return NULL;
    pod->ns = strdup(ns);
    pod->name = strdup(name);
    pod->owner_key = owner_key ? strdup(owner_key) : NULL;
    const char *dir = owner_key ? json_string_value(json_object_get(s->dirs, owner_key)) : NULL;
    pod->apply_dir = dir ? strdup(dir) : NULL;
    pod->tmpl = json_deep_copy(tmpl);
    if (!json_is_object(json_object_get(pod->tmpl, "metadata")))
        json_object_set_new(pod->tmpl, "metadata", json_object());
    wf_lm_uuid(pod->uid);
    pod->created = time(NULL);
    const char *rp = json_string_value(wf_lm_path(pod->tmpl, "spec.restartPolicy"));
    pod->restart_policy = rp ? rp[0] : 'A';
    json_t *ann = wf_lm_path(pod->tmpl, "metadata.annotations");
    wf_lm_inject_resolve(ann, wf_lm_ns_annotations(s, ns), ns, &pod->inj);
    if (pod->inj.warning[0])
        fprintf(stderr, "weft: warning: pod %s/%s runs without the proxy: %s\n", ns, name,
                pod->inj.warning);
    return pod;
}

/* The value of an env entry's valueFrom.fieldRef. */
static const char *wf_lm_field_ref(wf_lm_pod_t *pod, const char *path)
{
    if (strcmp(path, "metadata.name") == 0)
        return pod->name;
    if (strcmp(path, "metadata.namespace") == 0)
        return pod->ns;
    if (strcmp(path, "metadata.uid") == 0)
        return pod->uid;
    if (strcmp(path, "status.podIP") == 0 || strcmp(path, "status.hostIP") == 0)
        return pod->ip;
    if (strcmp(path, "spec.nodeName") == 0)
        return "local";
    if (strcmp(path, "spec.serviceAccountName") == 0) {
        const char *sa = json_string_value(wf_lm_path(pod->tmpl, "spec.serviceAccountName"));
        return sa ? sa : "default";
    }
    return NULL;
}

/* Port number of a probe's `port` (a number or a containerPort name). */
static int wf_lm_port_of(json_t *c, json_t *port)
{
    if (json_is_integer(port))
        return (int)json_integer_value(port);
    const char *want = json_string_value(port);
    size_t i;
    json_t *p;
    json_array_foreach (json_object_get(c, "ports"), i, p) {
        const char *n = json_string_value(json_object_get(p, "name"));
        if (want && n && strcmp(n, want) == 0)
            return (int)json_integer_value(json_object_get(p, "containerPort"));
    }
    return 0;
}

static void wf_lm_proc_from_container(wf_lm_sup_t *s, wf_lm_pod_t *pod, json_t *c, wf_lm_proc_t *p)
{
    memset(p, 0, sizeof(*p));
    p->name = strdup(json_string_value(json_object_get(c, "name")));
    wf_lm_strv_t argv = {0}, env = {0};
    size_t i;
    json_t *w;
    json_array_foreach (json_object_get(c, "command"), i, w)
        wf_lm_strv_push(&argv, wf_lm_word(w));
    json_array_foreach (json_object_get(c, "args"), i, w)
        wf_lm_strv_push(&argv, wf_lm_word(w));
    p->argv = argv.v;
    wf_lm_strv_push(&env, strdup(wf_lm_default_path));
    wf_lm_env_set(&env, "HOSTNAME", pod->name);
    json_t *e;
    json_array_foreach (json_object_get(c, "env"), i, e) {
        const char *k = json_string_value(json_object_get(e, "name"));
        json_t *v = json_object_get(e, "value");
        const char *fp = json_string_value(wf_lm_path(e, "valueFrom.fieldRef.fieldPath"));
        if (v != NULL) {
            char *word = wf_lm_word(v);
            wf_lm_env_set(&env, k, word ? word : "");
            free(word);
        } else if (fp != NULL) {
            const char *val = wf_lm_field_ref(pod, fp);
            if (val == NULL)
                fprintf(stderr,
                        "weft: warning: pod %s/%s container %s: env %s: fieldRef %s is "
                        "not supported in local mode; left empty\n",
                        pod->ns, pod->name, p->name, k, fp);
            wf_lm_env_set(&env, k, val ? val : "");
        } else if (json_object_get(e, "valueFrom") != NULL) {
            fprintf(stderr,
                    "weft: warning: pod %s/%s container %s: env %s: only value and "
                    "valueFrom.fieldRef are supported in local mode; left empty\n",
                    pod->ns, pod->name, p->name, k);
            wf_lm_env_set(&env, k, "");
        } else {
            wf_lm_env_set(&env, k, "");
        }
    }
    p->env = env.v;
    /* workingDir, else the directory the manifest was applied from (local
     * mode's stand-in for the image's WORKDIR); a relative one is taken
     * from there too. */
    const char *wd = json_string_value(json_object_get(c, "workingDir"));
    if (wd && wd[0] != '/' && pod->apply_dir)
        (void)!asprintf(&p->workdir, "%s/%s", pod->apply_dir, wd);
    else if (wd)
        p->workdir = strdup(wd);
    else if (pod->apply_dir)
        p->workdir = strdup(pod->apply_dir);
    json_t *uid = wf_lm_path(c, "securityContext.runAsUser");
    if (uid == NULL)
        uid = wf_lm_path(pod->tmpl, "spec.securityContext.runAsUser");
    json_t *gid = wf_lm_path(c, "securityContext.runAsGroup");
    if (gid == NULL)
        gid = wf_lm_path(pod->tmpl, "spec.securityContext.runAsGroup");
    p->uid = uid ? (long)json_integer_value(uid) : -1;
    p->gid = json_is_integer(gid) ? (long)json_integer_value(gid) : -1;
    (void)!asprintf(&p->log, "%s/%s.log", pod->dir, p->name);
    p->hosts = true;
    p->probe_ip = pod->ip;
    json_t *rp = json_object_get(c, "readinessProbe");
    json_t *hg = json_object_get(rp, "httpGet"), *ts = json_object_get(rp, "tcpSocket");
    if (hg != NULL) {
        p->probe = WF_LM_PROBE_HTTP;
        p->probe_port = wf_lm_port_of(c, json_object_get(hg, "port"));
        const char *path = json_string_value(json_object_get(hg, "path"));
        p->probe_path = strdup(path ? path : "/");
    } else if (ts != NULL) {
        p->probe = WF_LM_PROBE_TCP;
        p->probe_port = wf_lm_port_of(c, json_object_get(ts, "port"));
    } else if (json_array_size(json_object_get(c, "ports")) > 0) {
        p->probe = WF_LM_PROBE_TCP;
        p->probe_port = (int)json_integer_value(
            json_object_get(json_array_get(json_object_get(c, "ports"), 0), "containerPort"));
    }
    if (p->probe != WF_LM_PROBE_NONE && p->probe_port <= 0) {
        fprintf(stderr,
                "weft: warning: pod %s/%s container %s: readiness port not found; "
                "ready while running\n",
                pod->ns, pod->name, p->name);
        p->probe = WF_LM_PROBE_NONE;
    }
    p->backoff = WF_LM_BACKOFF_MIN;
    (void)s;
}

/* ---- identity and proxy ---------------------------------------------------- */

static int wf_lm_sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
        return -1;
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static const char *wf_lm_pod_sa(wf_lm_pod_t *pod)
{
    const char *sa = json_string_value(wf_lm_path(pod->tmpl, "spec.serviceAccountName"));
    return sa && *sa ? sa : "default";
}

/* Mints the pod's token: <pod dir>/token (0600, owned by the proxy's uid)
 * and tokens/<sha256> naming the identity it proves. */
int wf_lm_pod_token(wf_lm_sup_t *s, wf_lm_pod_t *pod, char *tokpath, size_t tplen)
{
    unsigned char r[32];
    char tok[65], path[PATH_MAX], ident[512];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return -EIO;
    if (pod->token_hash[0]) {
        /* A retried setup: the earlier token goes. */
        snprintf(path, sizeof(path), "%s/tokens/%s", s->paths->dir, pod->token_hash);
        unlink(path);
    }
    for (int i = 0; i < 32; i++)
        snprintf(tok + 2 * i, 3, "%02x", r[i]);
    if (wf_lm_sha256_hex(tok, 64, pod->token_hash) < 0)
        return -EIO;
    snprintf(ident, sizeof(ident), "%s.%s.serviceaccount.identity." WF_LM_CP_NS ".cluster.local\n",
             wf_lm_pod_sa(pod), pod->ns);
    snprintf(path, sizeof(path), "%s/tokens/%s", s->paths->dir, pod->token_hash);
    int rc = wf_lm_write_atomic(path, ident, strlen(ident), 0600);
    if (rc < 0)
        return rc;
    snprintf(tokpath, tplen, "%s/token", pod->dir);
    rc = wf_lm_write_atomic(tokpath, tok, 64, 0600);
    if (rc == 0 && chown(tokpath, WF_LM_PROXY_UID, WF_LM_PROXY_UID) < 0)
        rc = -errno;
    return rc;
}

/* The proxy's cgroup, when limits are asked for and cgroup v2 is writable. */
static void wf_lm_pod_cgroup(wf_lm_sup_t *s, wf_lm_pod_t *pod, wf_lm_proc_t *p)
{
    const wf_lm_inject_t *in = &pod->inj;
    if (in->cpu_limit_m < 0 && in->memory_limit < 0)
        return;
    if (!s->cgroups) {
        fprintf(stderr,
                "weft: pod %s/%s: proxy cpu/memory limits not enforced (no writable "
                "cgroup v2 hierarchy at /sys/fs/cgroup)\n",
                pod->ns, pod->name);
        return;
    }
    char dir[PATH_MAX * 2], f[PATH_MAX * 2 + 32], v[64];
    snprintf(dir, sizeof(dir), "%s/%s.%s", s->cgroup_root, pod->ns, pod->name);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "weft: pod %s/%s: proxy limits not enforced: %s: %s\n", pod->ns, pod->name,
                dir, strerror(errno));
        return;
    }
    bool ok = true;
    if (in->cpu_limit_m >= 0) {
        snprintf(f, sizeof(f), "%s/cpu.max", dir);
        snprintf(v, sizeof(v), "%lld 100000", (long long)(in->cpu_limit_m * 100));
        ok &= wf_lm_write_inplace(f, v, strlen(v)) == 0;
    }
    if (in->memory_limit >= 0) {
        snprintf(f, sizeof(f), "%s/memory.max", dir);
        snprintf(v, sizeof(v), "%lld", (long long)in->memory_limit);
        ok &= wf_lm_write_inplace(f, v, strlen(v)) == 0;
    }
    if (!ok)
        fprintf(stderr, "weft: pod %s/%s: proxy limits not enforced: cannot write %s\n", pod->ns,
                pod->name, dir);
    p->cgroup = strdup(dir);
}

static int wf_lm_pod_proxy_setup(wf_lm_sup_t *s, wf_lm_pod_t *pod)
{
    char tokpath[PATH_MAX + 32], init[PATH_MAX + 32], log[PATH_MAX + 32];
    int rc = wf_lm_pod_token(s, pod, tokpath, sizeof(tokpath));
    if (rc < 0) {
        snprintf(pod->message, sizeof(pod->message), "cannot write the identity token: %s",
                 strerror(-rc));
        return rc;
    }
    /* weft-init: the pod's redirect rules (4190/4191 are always skipped). */
    snprintf(init, sizeof(init), "%s/weft-init", s->bindir);
    const char *argv[24] = {"ip",   "netns",
                            "exec", pod->netns,
                            init,   "--incoming-proxy-port",
                            "4143", "--outgoing-proxy-port",
                            "4140", "--proxy-uid",
                            "2102"};
    int n = 11;
    if (pod->inj.skip_inbound[0]) {
        argv[n++] = "--inbound-ports-to-ignore";
        argv[n++] = pod->inj.skip_inbound;
    }
    if (pod->inj.skip_outbound[0]) {
        argv[n++] = "--outbound-ports-to-ignore";
        argv[n++] = pod->inj.skip_outbound;
    }
    if (pod->inj.skip_subnets[0]) {
        argv[n++] = "--subnets-to-ignore";
        argv[n++] = pod->inj.skip_subnets;
    }
    argv[n] = NULL;
    char out[1024];
    rc = wf_lm_run(argv, NULL, out, sizeof(out));
    snprintf(log, sizeof(log), "%s/weft-init.log", pod->dir);
    wf_lm_write_atomic(log, out, strlen(out), 0644);
    if (rc != 0) {
        out[strcspn(out, "\n")] = '\0';
        snprintf(pod->message, sizeof(pod->message), "weft-init failed: %.200s", out);
        return -EIO;
    }

    wf_lm_proc_t *p = &pod->proxy;
    wf_lm_proc_clear(p);
    p->name = strdup(WF_LM_PROXY_CONTAINER);
    wf_lm_strv_t av = {0}, env = {0};
    char *bin;
    (void)!asprintf(&bin, "%s/weft-proxy", s->bindir);
    wf_lm_strv_push(&av, bin);
    p->argv = av.v;
    wf_lm_strv_push(&env, strdup(wf_lm_default_path));
    wf_lm_env_set(&env, "WEFT_PROXY_LOG", "info");
    wf_lm_env_set(&env, "WEFT_PROXY_SHUTDOWN_GRACE_PERIOD", "5s");
    wf_lm_env_set(&env, "WEFT_PROXY_IDENTITY_TRUST_ANCHORS",
                  s->trust_anchors ? s->trust_anchors : "");
    wf_lm_env_set(&env, "WEFT_PROXY_IDENTITY_TOKEN_FILE", tokpath);
    wf_lm_env_set(&env, "WEFT_PROXY_IDENTITY_SVC_ADDR", WF_LM_CP_IP ":8080");
    wf_lm_env_set(&env, "WEFT_PROXY_IDENTITY_SVC_NAME", WF_LM_IDENTITY_SVC_NAME);
    char ident[512], ctx[512];
    snprintf(ident, sizeof(ident), "%s.%s.serviceaccount.identity." WF_LM_CP_NS ".cluster.local",
             wf_lm_pod_sa(pod), pod->ns);
    wf_lm_env_set(&env, "WEFT_PROXY_IDENTITY_LOCAL_NAME", ident);
    wf_lm_env_set(&env, "WEFT_PROXY_DESTINATION_SVC_ADDR", WF_LM_CP_IP ":8086");
    wf_lm_env_set(&env, "WEFT_PROXY_DESTINATION_SVC_NAME", WF_LM_DEST_SVC_NAME);
    json_t *dc = json_pack("{s:s, s:s, s:s}", "ns", pod->ns, "nodeName", "local", "pod", pod->name);
    char *dcs = json_dumps(dc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    snprintf(ctx, sizeof(ctx), "%s", dcs ? dcs : "{}");
    free(dcs);
    json_decref(dc);
    wf_lm_env_set(&env, "WEFT_PROXY_DESTINATION_CONTEXT", ctx);
    if (pod->inj.has_opaque) {
        wf_lm_env_set(&env, "WEFT_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION",
                      pod->inj.opaque_ports);
        wf_lm_env_set(&env, "WEFT_PROXY_OUTBOUND_PORTS_DISABLE_PROTOCOL_DETECTION",
                      pod->inj.opaque_ports);
    }
    if (pod->inj.mode == WF_LM_INJECT_INGRESS)
        wf_lm_env_set(&env, "WEFT_PROXY_INGRESS_MODE", "true");
    p->env = env.v;
    p->uid = p->gid = WF_LM_PROXY_UID;
    (void)!asprintf(&p->log, "%s/" WF_LM_PROXY_CONTAINER ".log", pod->dir);
    p->probe = WF_LM_PROBE_HTTP;
    p->probe_port = 4191;
    p->probe_path = strdup("/ready");
    p->probe_ip = "127.0.0.1";
    p->backoff = WF_LM_BACKOFF_MIN;
    wf_lm_pod_cgroup(s, pod, p);
    return 0;
}

/* ---- processes ------------------------------------------------------------------ */

static void wf_lm_proc_start(wf_lm_sup_t *s, wf_lm_pod_t *pod, wf_lm_proc_t *p, double now)
{
    wf_lm_spawn_t sp = {
        .netns = pod->netns,
        .hosts = p->hosts && !pod->internal ? pod->hosts : NULL,
        .argv = p->argv,
        .env = p->env,
        .workdir = p->workdir,
        .log = p->log,
        .uid = p->uid,
        .gid = p->gid,
        .cgroup = p->cgroup,
        .new_session = true,
    };
    p->start_at = 0;
    p->ready = false;
    pid_t pid = wf_lm_spawn(&sp);
    if (pid < 0) {
        p->last_exit = 127;
        p->start_at = now + p->backoff;
        p->backoff = p->backoff * 2 > WF_LM_BACKOFF_MAX ? WF_LM_BACKOFF_MAX : p->backoff * 2;
        return;
    }
    if (p->ever_started)
        p->restarts++;
    p->ever_started = true;
    p->pid = pid;
    p->started = now;
    p->started_wall = time(NULL);
    p->next_probe = now + 0.05;
    if (p->probe == WF_LM_PROBE_NONE)
        p->ready = true;
    (void)s;
}

static void wf_lm_proc_probe(wf_lm_pod_t *pod, wf_lm_proc_t *p, double now)
{
    if (p->pid == 0 || now < p->next_probe || p->probe == WF_LM_PROBE_NONE)
        return;
    bool ok;
    if (p->probe == WF_LM_PROBE_TCP) {
        ok = wf_lm_probe_tcp(pod->netns, p->probe_ip, p->probe_port, 200);
    } else {
        int st = wf_lm_probe_http(pod->netns, p->probe_ip, p->probe_port, p->probe_path, 500);
        ok = st >= 200 && st < 400;
    }
    if (!p->ready) {
        /* Not ready yet: probe often, ready at the first success. */
        p->next_probe = now + WF_LM_PROBE_EVERY;
        p->ready = ok;
        p->probe_failures = 0;
        return;
    }
    /* Ready: re-checked now and then; not ready after 3 failures in a row
     * (Kubernetes' failureThreshold default), so a hung server leaves the
     * Service's endpoints. */
    p->next_probe = now + WF_LM_PROBE_READY_EVERY;
    if (ok) {
        p->probe_failures = 0;
    } else if (++p->probe_failures >= 3) {
        fprintf(stderr, "weft: pod %s/%s container %s failed its readiness check 3 times\n",
                pod->ns, pod->name, p->name);
        p->ready = false;
        p->probe_failures = 0;
    }
}

static void wf_lm_proc_signal(wf_lm_proc_t *p, int sig)
{
    if (p->pid > 0) {
        /* The process leads its own group (setsid): reach its children too. */
        kill(-p->pid, sig);
        kill(p->pid, sig);
    }
}

bool wf_lm_pod_reaped(wf_lm_sup_t *s, wf_lm_pod_t *pod, pid_t pid, int status, double now)
{
    wf_lm_proc_t *p = NULL;
    if (pod->proxy.pid == pid)
        p = &pod->proxy;
    for (size_t i = 0; p == NULL && i < pod->nprocs; i++)
        if (pod->procs[i].pid == pid)
            p = &pod->procs[i];
    if (p == NULL)
        return false;
    p->pid = 0;
    p->ready = false;
    p->last_exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    /* Anything left in its process group goes with it. */
    kill(-pid, SIGKILL);
    if (pod->state >= WF_LM_POD_STOPPING || s->stopping) {
        p->done = true;
        return true;
    }
    bool restart = p == &pod->proxy || pod->restart_policy == 'A' ||
                   (pod->restart_policy == 'O' && p->last_exit != 0);
    if (!restart) {
        p->done = true;
        return true;
    }
    if (now - p->started > WF_LM_BACKOFF_RESET)
        p->backoff = WF_LM_BACKOFF_MIN;
    p->start_at = now + p->backoff;
    fprintf(stderr, "weft: pod %s/%s container %s exited (%d); restarting in %.0fs\n", pod->ns,
            pod->name, p->name, p->last_exit, p->backoff);
    p->backoff = p->backoff * 2 > WF_LM_BACKOFF_MAX ? WF_LM_BACKOFF_MAX : p->backoff * 2;
    return true;
}

/* ---- the state machine ------------------------------------------------------------ */

static int wf_lm_pod_setup(wf_lm_sup_t *s, wf_lm_pod_t *pod, double now)
{
    char err[512];
    if (!pod->internal) {
        if (pod->ip[0] == '\0' && wf_lm_ipam_alloc(&s->pod_ips, pod->ip) < 0) {
            snprintf(pod->message, sizeof(pod->message), "no free pod address in " WF_LM_POD_CIDR);
            return -1;
        }
        pod->veth = wf_lm_ipam_offset(&s->pod_ips, pod->ip);
        wf_lm_pod_netns(s->paths, pod->ns, pod->name, pod->ip, pod->netns, sizeof(pod->netns));
        snprintf(pod->dir, sizeof(pod->dir), "%s/pods/%s/%s", s->paths->dir, pod->ns, pod->name);
        snprintf(pod->hosts, sizeof(pod->hosts), "%s/hosts/%s", s->paths->dir, pod->ns);
        wf_lm_mkdirs(pod->dir, 0755);
        char nf[PATH_MAX + 16];
        snprintf(nf, sizeof(nf), "%s/netns", pod->dir);
        wf_lm_write_atomic(nf, pod->netns, strlen(pod->netns), 0644);
        if (access(pod->hosts, F_OK) != 0) {
            /* Rewritten with the Services by the next publish. */
            const char *h = "127.0.0.1\tlocalhost\n";
            wf_lm_write_inplace(pod->hosts, h, strlen(h));
        }
    }
    if (wf_lm_net_pod_up(s->paths->node, pod->netns, pod->veth, pod->ip, err, sizeof(err)) < 0) {
        snprintf(pod->message, sizeof(pod->message), "network: %.200s", err);
        return -1;
    }
    json_t *cs = wf_lm_path(pod->tmpl, "spec.containers");
    if (pod->procs == NULL) {
        pod->nprocs = json_array_size(cs);
        pod->procs = calloc(pod->nprocs ? pod->nprocs : 1, sizeof(*pod->procs));
        for (size_t i = 0; i < pod->nprocs; i++)
            wf_lm_proc_from_container(s, pod, json_array_get(cs, i), &pod->procs[i]);
    }
    if (pod->inj.mode != WF_LM_INJECT_DISABLED) {
        if (wf_lm_pod_proxy_setup(s, pod) < 0)
            return -1;
        pod->proxy.start_at = now;
        pod->state = WF_LM_POD_PROXY;
    } else {
        for (size_t i = 0; i < pod->nprocs; i++)
            pod->procs[i].start_at = now;
        pod->state = WF_LM_POD_RUNNING;
    }
    pod->message[0] = '\0';
    return 0;
}

static void wf_lm_pod_cleanup(wf_lm_sup_t *s, wf_lm_pod_t *pod)
{
    if (pod->netns[0])
        wf_lm_netns_del(pod->netns);
    if (!pod->internal) {
        if (pod->ip[0])
            wf_lm_ipam_release(&s->pod_ips, pod->ip);
        if (pod->token_hash[0]) {
            char t[PATH_MAX];
            snprintf(t, sizeof(t), "%s/tokens/%s", s->paths->dir, pod->token_hash);
            unlink(t);
        }
        if (pod->proxy.cgroup)
            rmdir(pod->proxy.cgroup);
        if (pod->dir[0])
            wf_lm_rmrf(pod->dir);
    }
    pod->state = WF_LM_POD_GONE;
}

static bool wf_lm_pod_any_running(const wf_lm_pod_t *pod)
{
    if (pod->proxy.pid > 0)
        return true;
    for (size_t i = 0; i < pod->nprocs; i++)
        if (pod->procs[i].pid > 0)
            return true;
    return false;
}

void wf_lm_pod_terminate(wf_lm_sup_t *s, wf_lm_pod_t *pod, double drain)
{
    (void)s;
    if (pod->state >= WF_LM_POD_DRAIN)
        return;
    pod->state = WF_LM_POD_DRAIN;
    pod->deadline = wf_lm_now() + drain;
}

void wf_lm_pod_step(wf_lm_sup_t *s, wf_lm_pod_t *pod, double now)
{
    switch (pod->state) {
    case WF_LM_POD_NEW:
        if (now >= pod->deadline && wf_lm_pod_setup(s, pod, now) < 0) {
            fprintf(stderr, "weft: pod %s/%s: %s (retrying)\n", pod->ns, pod->name, pod->message);
            pod->deadline = now + 2.0;
        }
        return;
    case WF_LM_POD_PROXY:
        if (!s->cp_ready) {
            snprintf(pod->message, sizeof(pod->message), "waiting for the control plane");
            return;
        }
        pod->message[0] = '\0';
        if (pod->proxy.pid == 0 && pod->proxy.start_at > 0 && now >= pod->proxy.start_at)
            wf_lm_proc_start(s, pod, &pod->proxy, now);
        wf_lm_proc_probe(pod, &pod->proxy, now);
        if (pod->proxy.ready) {
            for (size_t i = 0; i < pod->nprocs; i++)
                pod->procs[i].start_at = now;
            pod->state = WF_LM_POD_RUNNING;
        }
        return;
    case WF_LM_POD_RUNNING:
        if (pod->inj.mode != WF_LM_INJECT_DISABLED) {
            if (pod->proxy.pid == 0 && pod->proxy.start_at > 0 && now >= pod->proxy.start_at)
                wf_lm_proc_start(s, pod, &pod->proxy, now);
            wf_lm_proc_probe(pod, &pod->proxy, now);
        }
        for (size_t i = 0; i < pod->nprocs; i++) {
            wf_lm_proc_t *p = &pod->procs[i];
            if (p->pid == 0 && !p->done && p->start_at > 0 && now >= p->start_at)
                wf_lm_proc_start(s, pod, p, now);
            wf_lm_proc_probe(pod, p, now);
        }
        return;
    case WF_LM_POD_DRAIN:
        if (now < pod->deadline)
            return;
        {
            json_t *g = wf_lm_path(pod->tmpl, "spec.terminationGracePeriodSeconds");
            double grace = json_is_integer(g) ? (double)json_integer_value(g) : 5.0;
            if (grace > WF_LM_GRACE_MAX)
                grace = WF_LM_GRACE_MAX;
            /* The apps first; the proxy once they are gone (below), so
             * their last outbound requests still have it, as with
             * Kubernetes' native sidecars. */
            for (size_t i = 0; i < pod->nprocs; i++) {
                pod->procs[i].start_at = 0;
                wf_lm_proc_signal(&pod->procs[i], SIGTERM);
            }
            pod->proxy.start_at = 0;
            pod->state = WF_LM_POD_STOPPING;
            pod->deadline = now + grace;
        }
        return;
    case WF_LM_POD_STOPPING:
        if (!wf_lm_pod_any_running(pod)) {
            wf_lm_pod_cleanup(s, pod);
            return;
        }
        if (pod->proxy.pid > 0 && !pod->proxy_stopping) {
            bool apps = false;
            for (size_t i = 0; i < pod->nprocs; i++)
                apps |= pod->procs[i].pid > 0;
            if (!apps) {
                wf_lm_proc_signal(&pod->proxy, SIGTERM);
                pod->proxy_stopping = true;
                /* Its own drain is WEFT_PROXY_SHUTDOWN_GRACE_PERIOD (5s). */
                if (pod->deadline < now + 6.0)
                    pod->deadline = now + 6.0;
            }
        }
        if (now >= pod->deadline) {
            for (size_t i = 0; i < pod->nprocs; i++)
                wf_lm_proc_signal(&pod->procs[i], SIGKILL);
            wf_lm_proc_signal(&pod->proxy, SIGKILL);
            if (pod->netns[0])
                wf_lm_netns_signal(pod->netns, SIGKILL);
            pod->deadline = now + 5.0;
        }
        return;
    case WF_LM_POD_GONE:
        return;
    }
}
