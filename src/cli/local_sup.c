/*
 * local_sup.c — the local-mode supervisor: a daemon (started by `weft up`,
 * stopped by `weft down`) that plays kubelet, kube-proxy and the workload
 * controllers for the objects in applied.json. One thread, one loop:
 * signals arrive through a signalfd (SIGHUP: applied.json changed; SIGTERM:
 * stop everything), children are reaped with waitpid, and every 100 ms the
 * loop reconciles the pods, steps each pod's state machine and publishes
 * what changed (local_publish.c).
 */
#include "local_sup.h"
#include "local_net.h"
#include "local_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long a pod leaving a Service stays up after it left the endpoints,
 * so callers (and proxies watching the store) move away before it stops. */
#define WF_LM_DRAIN_SECS 2.0

static void wf_lm_sup_add_pod(wf_lm_sup_t *s, wf_lm_pod_t *pod)
{
    if (pod == NULL)
        return;
    if (s->npods == s->cappods) {
        size_t cap = s->cappods ? s->cappods * 2 : 16;
        wf_lm_pod_t **np = realloc(s->pods, cap * sizeof(*np));
        if (np == NULL) {
            wf_lm_pod_free(pod);
            return;
        }
        s->pods = np;
        s->cappods = cap;
    }
    s->pods[s->npods++] = pod;
}

static wf_lm_pod_t *wf_lm_sup_find(wf_lm_sup_t *s, const char *ns, const char *name, bool live)
{
    for (size_t i = 0; i < s->npods; i++) {
        wf_lm_pod_t *p = s->pods[i];
        if (strcmp(p->ns, ns) == 0 && strcmp(p->name, name) == 0 && (!live || wf_lm_pod_live(p)))
            return p;
    }
    return NULL;
}

/* The pod template of a workload with the labels the controller adds. */
static json_t *wf_lm_tmpl(json_t *src_meta, json_t *spec)
{
    json_t *md = json_object();
    json_t *labels = json_object_get(src_meta, "labels");
    json_t *ann = json_object_get(src_meta, "annotations");
    json_object_set_new(md, "labels", labels ? json_deep_copy(labels) : json_object());
    json_object_set_new(md, "annotations", ann ? json_deep_copy(ann) : json_object());
    json_t *t = json_object();
    json_object_set_new(t, "metadata", md);
    json_object_set_new(t, "spec", json_deep_copy(spec));
    return t;
}

static void wf_lm_set_owner(wf_lm_pod_t *pod, const char *kind, const char *name)
{
    pod->owner_kind = strdup(kind);
    pod->owner_name = strdup(name);
}

/* Deployments: surge-style rollout. Pods of the current template hash are
 * brought to `replicas`; pods of older hashes go once every current pod is
 * ready; extras go not-ready first, then newest first. */
static void wf_lm_reconcile_deploy(wf_lm_sup_t *s, json_t *obj, const char *key)
{
    const char *ns = wf_lm_namespace(obj), *name = wf_lm_name(obj);
    json_t *r = wf_lm_path(obj, "spec.replicas");
    size_t want = r ? (size_t)json_integer_value(r) : 1;
    json_t *tmpl_src = wf_lm_path(obj, "spec.template");
    char hash[16];
    wf_lm_template_hash(tmpl_src, hash);
    size_t have = 0, ready = 0;
    for (size_t i = 0; i < s->npods; i++) {
        wf_lm_pod_t *p = s->pods[i];
        if (wf_lm_pod_live(p) && p->owner_key && strcmp(p->owner_key, key) == 0 &&
            strcmp(p->hash, hash) == 0) {
            have++;
            ready += wf_lm_pod_ready(p);
        }
    }
    while (have < want) {
        char pname[300], sfx[6];
        wf_lm_random_suffix(sfx, 5);
        snprintf(pname, sizeof(pname), "%s-%s-%s", name, hash, sfx);
        if (wf_lm_sup_find(s, ns, pname, false))
            continue;
        json_t *t =
            wf_lm_tmpl(json_object_get(tmpl_src, "metadata"), json_object_get(tmpl_src, "spec"));
        json_object_set_new(wf_lm_path(t, "metadata.labels"), "pod-template-hash",
                            json_string(hash));
        wf_lm_pod_t *pod = wf_lm_pod_new(s, ns, pname, t, key);
        json_decref(t);
        if (pod == NULL)
            break;
        snprintf(pod->hash, sizeof(pod->hash), "%s", hash);
        char rs[300];
        snprintf(rs, sizeof(rs), "%s-%s", name, hash);
        wf_lm_set_owner(pod, "ReplicaSet", rs);
        wf_lm_sup_add_pod(s, pod);
        have++;
    }
    /* Scale down: not-ready pods first, then the newest. */
    while (have > want) {
        wf_lm_pod_t *victim = NULL;
        for (size_t i = 0; i < s->npods; i++) {
            wf_lm_pod_t *p = s->pods[i];
            if (!wf_lm_pod_live(p) || !p->owner_key || strcmp(p->owner_key, key) != 0 ||
                strcmp(p->hash, hash) != 0)
                continue;
            if (victim == NULL || (!wf_lm_pod_ready(p) && wf_lm_pod_ready(victim)) ||
                (wf_lm_pod_ready(p) == wf_lm_pod_ready(victim) && p->created >= victim->created))
                victim = p;
        }
        if (victim == NULL)
            break;
        if (wf_lm_pod_ready(victim))
            ready--;
        wf_lm_pod_terminate(s, victim, WF_LM_DRAIN_SECS);
        have--;
    }
    for (size_t i = 0; i < s->npods; i++) {
        wf_lm_pod_t *p = s->pods[i];
        if (wf_lm_pod_live(p) && p->owner_key && strcmp(p->owner_key, key) == 0 &&
            strcmp(p->hash, hash) != 0) {
            if (ready == want)
                wf_lm_pod_terminate(s, p, WF_LM_DRAIN_SECS);
            else
                s->rollout_pending = true;
        }
    }
}

static void wf_lm_reconcile_sts(wf_lm_sup_t *s, json_t *obj, const char *key)
{
    const char *ns = wf_lm_namespace(obj), *name = wf_lm_name(obj);
    json_t *r = wf_lm_path(obj, "spec.replicas");
    size_t want = r ? (size_t)json_integer_value(r) : 1;
    json_t *tmpl_src = wf_lm_path(obj, "spec.template");
    for (size_t i = 0; i < want; i++) {
        char pname[300];
        snprintf(pname, sizeof(pname), "%s-%zu", name, i);
        if (wf_lm_sup_find(s, ns, pname, false))
            continue; /* live, or still going away: wait for it */
        json_t *t =
            wf_lm_tmpl(json_object_get(tmpl_src, "metadata"), json_object_get(tmpl_src, "spec"));
        json_object_set_new(wf_lm_path(t, "metadata.labels"), "statefulset.kubernetes.io/pod-name",
                            json_string(pname));
        wf_lm_pod_t *pod = wf_lm_pod_new(s, ns, pname, t, key);
        json_decref(t);
        if (pod == NULL)
            break;
        wf_lm_set_owner(pod, "StatefulSet", name);
        wf_lm_sup_add_pod(s, pod);
    }
    for (size_t i = 0; i < s->npods; i++) {
        wf_lm_pod_t *p = s->pods[i];
        if (!wf_lm_pod_live(p) || !p->owner_key || strcmp(p->owner_key, key) != 0)
            continue;
        const char *dash = strrchr(p->name, '-');
        if (dash && (size_t)atol(dash + 1) >= want)
            wf_lm_pod_terminate(s, p, WF_LM_DRAIN_SECS);
    }
}

static void wf_lm_reconcile(wf_lm_sup_t *s)
{
    size_t i;
    json_t *obj;
    char key[600];
    s->rollout_pending = false;
    json_array_foreach (s->applied, i, obj) {
        const char *kind = wf_lm_kind(obj);
        wf_lm_key(obj, key, sizeof(key));
        if (strcmp(kind, "Deployment") == 0) {
            wf_lm_reconcile_deploy(s, obj, key);
        } else if (strcmp(kind, "StatefulSet") == 0) {
            wf_lm_reconcile_sts(s, obj, key);
        } else if (strcmp(kind, "Pod") == 0) {
            wf_lm_pod_t *p = wf_lm_sup_find(s, wf_lm_namespace(obj), wf_lm_name(obj), false);
            if (p == NULL) {
                json_t *t =
                    wf_lm_tmpl(json_object_get(obj, "metadata"), json_object_get(obj, "spec"));
                wf_lm_sup_add_pod(s,
                                  wf_lm_pod_new(s, wf_lm_namespace(obj), wf_lm_name(obj), t, key));
                json_decref(t);
            }
        }
    }
    /* Pods whose owner is no longer applied go away. */
    for (i = 0; i < s->npods; i++) {
        wf_lm_pod_t *p = s->pods[i];
        if (!wf_lm_pod_live(p) || p->owner_key == NULL)
            continue;
        bool found = false;
        size_t j;
        json_array_foreach (s->applied, j, obj) {
            wf_lm_key(obj, key, sizeof(key));
            if (strcmp(key, p->owner_key) == 0) {
                found = true;
                break;
            }
        }
        if (!found)
            wf_lm_pod_terminate(s, p, WF_LM_DRAIN_SECS);
    }
}

static int wf_lm_load_applied(wf_lm_sup_t *s)
{
    char path[PATH_MAX];
    wf_lm_path_join(s->paths, "applied.json", path, sizeof(path));
    json_error_t je;
    json_t *a = json_load_file(path, 0, &je);
    if (a == NULL) {
        fprintf(stderr, "weft: supervisor: %s: %s\n", path, je.text);
        return -1;
    }
    json_t *objs = json_object_get(a, "objects");
    if (!json_is_array(objs)) {
        json_decref(a);
        return -1;
    }
    json_decref(s->applied);
    s->applied = json_incref(objs);
    json_decref(s->dirs);
    s->dirs = json_incref(json_object_get(a, "dirs"));
    s->generation = json_integer_value(json_object_get(a, "generation"));
    json_decref(a);
    return 0;
}

/* The control plane pseudo-pod: identity (and destination when the
 * weft-controller binary has it) in their own network namespace. The
 * destination service serves mTLS as weft-destination.linkerd, certified
 * by the identity service with a token like any pod's: proxies reach it
 * with WEFT_PROXY_DESTINATION_SVC_NAME and check that it is. */
static wf_lm_pod_t *wf_lm_cp_new(wf_lm_sup_t *s)
{
    wf_lm_pod_t *cp = calloc(1, sizeof(*cp));
    if (cp == NULL)
        return NULL;
    cp->internal = true;
    cp->ns = strdup(WF_LM_CP_NS);
    cp->name = strdup("weft-control-plane");
    cp->tmpl = json_pack("{s:{}, s:{s:[], s:s}}", "metadata", "spec", "containers",
                         "serviceAccountName", "weft-destination");
    cp->restart_policy = 'A';
    snprintf(cp->ip, sizeof(cp->ip), WF_LM_CP_IP);
    snprintf(cp->netns, sizeof(cp->netns), "%s", s->paths->cp);
    snprintf(cp->dir, sizeof(cp->dir), "%s/cp", s->paths->dir);
    cp->veth = 2;
    wf_lm_mkdirs(cp->dir, 0755);
    char token[PATH_MAX + 32] = "";
    if (s->have_destination && wf_lm_pod_token(s, cp, token, sizeof(token)) < 0) {
        fprintf(stderr, "weft: supervisor: cannot write the destination service's token; "
                        "running without it\n");
        s->have_destination = false;
    }
    cp->nprocs = s->have_destination ? 2 : 1;
    cp->procs = calloc(2, sizeof(*cp->procs));
    const char *d = s->paths->dir;
    char *ctl;
    (void)!asprintf(&ctl, "%s/weft-controller", s->bindir);
    for (size_t i = 0; i < cp->nprocs; i++) {
        wf_lm_proc_t *p = &cp->procs[i];
        char **argv = calloc(16, sizeof(char *));
        int n = 0;
        argv[n++] = strdup(ctl);
        if (i == 0) {
            p->name = strdup("identity");
            argv[n++] = strdup("identity");
            (void)!asprintf(&argv[n++], "--issuer-cert=%s/identity/issuer.crt", d);
            (void)!asprintf(&argv[n++], "--issuer-key=%s/identity/issuer.key", d);
            (void)!asprintf(&argv[n++], "--trust-anchors=%s/identity/ca.crt", d);
            (void)!asprintf(&argv[n++], "--token-store=%s/tokens", d);
            argv[n++] = strdup("--addr=0.0.0.0:8080");
            p->probe_port = 8080;
        } else {
            p->name = strdup("destination");
            argv[n++] = strdup("destination");
            (void)!asprintf(&argv[n++], "--store=%s/store", d);
            argv[n++] = strdup("--addr=0.0.0.0:8086");
            argv[n++] = strdup("--admin-addr=0.0.0.0:9996");
            (void)!asprintf(&argv[n++], "--identity-trust-anchors=%s/identity/ca.crt", d);
            (void)!asprintf(&argv[n++], "--identity-token-file=%s", token);
            argv[n++] = strdup("--identity-addr=" WF_LM_CP_IP ":8080");
            argv[n++] = strdup("--identity-svc-name=" WF_LM_IDENTITY_SVC_NAME);
            argv[n++] = strdup("--identity-name=" WF_LM_DEST_SVC_NAME);
            /* /ready on the admin port: synced and certified. */
            p->probe = WF_LM_PROBE_HTTP;
            p->probe_port = 9996;
            p->probe_path = strdup("/ready");
        }
        p->argv = argv;
        p->env = calloc(2, sizeof(char *));
        p->env[0] = strdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        p->uid = p->gid = -1;
        (void)!asprintf(&p->log, "%s/%s.log", cp->dir, p->name);
        if (p->probe != WF_LM_PROBE_HTTP)
            p->probe = WF_LM_PROBE_TCP;
        p->probe_ip = WF_LM_CP_IP;
        p->backoff = 1.0;
    }
    free(ctl);
    return cp;
}

static bool wf_lm_has_destination(const char *bindir)
{
    char *ctl = NULL;
    if (asprintf(&ctl, "%s/weft-controller", bindir) < 0)
        return false;
    const char *argv[] = {ctl, "destination", "--help", NULL};
    bool ok = wf_lm_run(argv, NULL, NULL, 0) == 0;
    free(ctl);
    return ok;
}

/* cgroup v2 mounted at /sys/fs/cgroup with cpu and memory delegated to a
 * weft-<tag> child we can create. */
static void wf_lm_cgroup_init(wf_lm_sup_t *s)
{
    s->cgroups = false;
    if (!wf_lm_cgroup_v2_usable())
        return;
    snprintf(s->cgroup_root, sizeof(s->cgroup_root), "/sys/fs/cgroup/%sproxies", s->paths->prefix);
    char f[PATH_MAX + 32];
    snprintf(f, sizeof(f), "%s/cgroup.subtree_control", s->cgroup_root);
    if ((mkdir(s->cgroup_root, 0755) == 0 || errno == EEXIST) &&
        wf_lm_write_inplace(f, "+cpu +memory", 12) == 0)
        s->cgroups = true;
}

static void wf_lm_sup_reap(wf_lm_sup_t *s, double now)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        if (s->cp && wf_lm_pod_reaped(s, s->cp, pid, st, now))
            continue;
        for (size_t i = 0; i < s->npods; i++)
            if (wf_lm_pod_reaped(s, s->pods[i], pid, st, now))
                break;
    }
}

int wf_lm_supervise(const wf_lm_paths_t *paths)
{
    wf_lm_sup_t sup = {0}, *s = &sup;
    s->paths = paths;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    snprintf(s->bindir, sizeof(s->bindir), "%s", dirname(self));
    if (wf_lm_ipam_init(&s->pod_ips, WF_LM_POD_CIDR, 256) < 0 ||
        wf_lm_ipam_init(&s->svc_ips, WF_LM_SVC_CIDR, 10) < 0)
        return 1;
    s->published = json_object();
    s->hosts_written = json_object();
    s->uids = json_object();
    char pidf[PATH_MAX], buf[PATH_MAX];
    wf_lm_path_join(paths, "supervisor.pid", pidf, sizeof(pidf));
    snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    wf_lm_write_atomic(pidf, buf, strlen(buf), 0644);
    fprintf(stderr, "weft: supervisor %d started for %s\n", (int)getpid(), paths->dir);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    wf_lm_path_join(paths, "identity/ca.crt", buf, sizeof(buf));
    s->trust_anchors = wf_lm_read_file(buf, NULL);
    wf_lm_path_join(paths, "store", buf, sizeof(buf));
    wf_lm_mkdirs(buf, 0755);
    wf_lm_cgroup_init(s);
    if (wf_lm_net_node_up(paths->node, err, sizeof(err)) < 0) {
        fprintf(stderr, "weft: supervisor: node network: %s\n", err);
        unlink(pidf);
        return 1;
    }
    s->have_destination = wf_lm_has_destination(s->bindir);
    if (!s->have_destination)
        fprintf(stderr,
                "weft: warning: %s/weft-controller has no destination subcommand; "
                "running without the destination service\n",
                s->bindir);
    s->cp = wf_lm_cp_new(s);
    wf_lm_load_applied(s);

    while (!(s->stopping && s->npods == 0 && (s->cp == NULL || s->cp->state == WF_LM_POD_GONE))) {
        struct pollfd p = {sfd, POLLIN, 0};
        poll(&p, 1, 100);
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
            if (si.ssi_signo == SIGHUP && !s->stopping) {
                wf_lm_load_applied(s);
            } else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
                if (!s->stopping)
                    fprintf(stderr, "weft: supervisor: stopping every pod\n");
                s->stopping = true;
            }
        }
        double now = wf_lm_now();
        wf_lm_sup_reap(s, now);
        if (s->stopping) {
            for (size_t i = 0; i < s->npods; i++)
                wf_lm_pod_terminate(s, s->pods[i], 0);
            if (s->npods == 0 && s->cp)
                wf_lm_pod_terminate(s, s->cp, 0);
        } else {
            wf_lm_reconcile(s);
        }
        if (s->cp) {
            wf_lm_pod_step(s, s->cp, now);
            s->cp_ready = s->cp->state == WF_LM_POD_RUNNING && s->cp->procs[0].ready;
        }
        for (size_t i = 0; i < s->npods; i++)
            wf_lm_pod_step(s, s->pods[i], now);
        size_t k = 0;
        for (size_t i = 0; i < s->npods; i++) {
            if (s->pods[i]->state == WF_LM_POD_GONE)
                wf_lm_pod_free(s->pods[i]);
            else
                s->pods[k++] = s->pods[i];
        }
        s->npods = k;
        wf_lm_publish(s);
    }
    wf_lm_pod_free(s->cp);
    wf_lm_netns_del(paths->cp);
    wf_lm_netns_del(paths->node);
    if (s->cgroups)
        rmdir(s->cgroup_root);
    fprintf(stderr, "weft: supervisor: stopped\n");
    unlink(pidf);
    json_decref(s->applied);
    json_decref(s->dirs);
    json_decref(s->published);
    json_decref(s->hosts_written);
    json_decref(s->uids);
    free(s->pods);
    free(s->rules);
    free(s->status_written);
    free(s->trust_anchors);
    for (size_t i = 0; i < s->nsvcs; i++)
        free(s->svcs[i].key);
    free(s->svcs);
    wf_lm_ipam_free(&s->pod_ips);
    wf_lm_ipam_free(&s->svc_ips);
    close(sfd);
    return 0;
}
