/*
 * local_cmd.c — `weft up`, `weft down` and the hidden `weft __supervise`:
 * state directory handling, the trust anchor and issuer, merging what is
 * applied, starting the supervisor daemon, waiting for readiness, and the
 * teardown shared by `down` and by `up`'s recovery from a crashed run.
 */
#include "cli.h"
#include "local.h"
#include "local_cli.h"
#include "local_obj.h"
#include "local_sys.h"
#include "tls/cert.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WF_LM_MARKER ".weft-state"

/* ---- teardown --------------------------------------------------------------------- */

static bool wf_lm_wait_gone(pid_t pid, double secs)
{
    double end = wf_lm_now() + secs;
    while (wf_lm_now() < end) {
        if (kill(pid, 0) < 0)
            return true;
        char st[64], *s;
        snprintf(st, sizeof(st), "/proc/%d/stat", (int)pid);
        s = wf_lm_read_file(st, NULL);
        bool zombie = s && strstr(s, ") Z ") != NULL;
        free(s);
        if (zombie)
            return true;
        usleep(50000);
    }
    return false;
}

/* Our network namespaces (weft-<tag>-*), for the sweep. */
static int wf_lm_our_netns(const wf_lm_paths_t *p, char names[][128], int max)
{
    DIR *d = opendir("/run/netns");
    int n = 0;
    if (d == NULL)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < max)
        if (strncmp(de->d_name, p->prefix, strlen(p->prefix)) == 0 && strlen(de->d_name) < 128)
            snprintf(names[n++], 128, "%s", de->d_name);
    closedir(d);
    return n;
}

int wf_lm_teardown(const wf_lm_paths_t *p, bool keep_state, bool verbose)
{
    int rc = 0;
    pid_t sup = wf_lm_supervisor_pid(p);
    if (sup > 0) {
        if (verbose)
            printf("stopping the supervisor (pid %d) and its pods\n", (int)sup);
        kill(sup, SIGTERM);
        if (!wf_lm_wait_gone(sup, 30)) {
            fprintf(stderr, "weft: supervisor %d did not stop in 30s; killing it\n", (int)sup);
            kill(sup, SIGKILL);
            wf_lm_wait_gone(sup, 5);
        }
    }
    /* Whatever a crash left: processes inside our namespaces, then the
     * namespaces (their veths and routes go with them). */
    static char names[4096][128];
    int n = wf_lm_our_netns(p, names, 4096);
    for (int i = 0; i < n; i++)
        wf_lm_netns_signal(names[i], SIGTERM);
    if (n > 0) {
        double end = wf_lm_now() + 3;
        bool any = true;
        while (any && wf_lm_now() < end) {
            any = false;
            for (int i = 0; i < n; i++)
                if (wf_lm_netns_signal(names[i], 0) > 0)
                    any = true;
            if (any)
                usleep(100000);
        }
    }
    for (int i = 0; i < n; i++) {
        if (wf_lm_netns_del(names[i]) < 0) {
            fprintf(stderr, "weft: cannot delete network namespace %s\n", names[i]);
            rc = -1;
        } else if (verbose) {
            printf("removed network namespace %s\n", names[i]);
        }
    }
    /* cgroups made for proxy limits. */
    char cg[PATH_MAX];
    snprintf(cg, sizeof(cg), "/sys/fs/cgroup/%sproxies", p->prefix);
    DIR *d = opendir(cg);
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            char sub[PATH_MAX + 300];
            if (de->d_name[0] != '.' && de->d_type == DT_DIR) {
                snprintf(sub, sizeof(sub), "%s/%s", cg, de->d_name);
                rmdir(sub);
            }
        }
        closedir(d);
        rmdir(cg);
    }
    char marker[PATH_MAX];
    wf_lm_path_join(p, WF_LM_MARKER, marker, sizeof(marker));
    if (access(marker, F_OK) != 0)
        return rc;
    if (!keep_state) {
        if (wf_lm_rmrf(p->dir) < 0) {
            fprintf(stderr, "weft: cannot remove %s: %s\n", p->dir, strerror(errno));
            rc = -1;
        } else if (verbose) {
            printf("removed %s\n", p->dir);
        }
        return rc;
    }
    static const char *const gone[] = {"store", "pods",        "tokens",        "hosts",
                                       "cp",    "status.json", "supervisor.pid"};
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
        char path[PATH_MAX];
        wf_lm_path_join(p, gone[i], path, sizeof(path));
        wf_lm_rmrf(path);
    }
    return rc;
}

/* ---- identity ------------------------------------------------------------------------- */

static int wf_lm_copy(const char *from, const char *to, unsigned mode)
{
    size_t len;
    char *data = wf_lm_read_file(from, &len);
    if (data == NULL) {
        wf_cli_errorf("cannot read %s: %s", from, strerror(errno));
        return -1;
    }
    int rc = wf_lm_write_atomic(to, data, len, mode);
    free(data);
    if (rc < 0)
        wf_cli_errorf("cannot write %s: %s", to, strerror(-rc));
    return rc;
}

/* Takes the CA files from flags (all three, checked), or keeps the ones of
 * an earlier run, or creates a trust anchor (10 years) and an issuer
 * (1 year) — what `weft identity create-root/create-issuer` would. */
static int wf_lm_identity(const wf_lm_paths_t *p, const char *anchors, const char *icert,
                          const char *ikey)
{
    char dir[PATH_MAX], ca[PATH_MAX + 16], cak[PATH_MAX + 16], ic[PATH_MAX + 16], ik[PATH_MAX + 16],
        err[512];
    wf_lm_path_join(p, "identity", dir, sizeof(dir));
    wf_lm_mkdirs(dir, 0700);
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    snprintf(cak, sizeof(cak), "%s/ca.key", dir);
    snprintf(ic, sizeof(ic), "%s/issuer.crt", dir);
    snprintf(ik, sizeof(ik), "%s/issuer.key", dir);
    if (anchors || icert || ikey) {
        if (!(anchors && icert && ikey)) {
            wf_cli_errorf("up: --identity-trust-anchors-file, --identity-issuer-certificate-file "
                          "and --identity-issuer-key-file go together");
            return -2;
        }
        STACK_OF(X509) *chain = NULL, *roots = NULL;
        EVP_PKEY *key = NULL;
        int rc = wf_cert_load_certs(icert, &chain, err, sizeof(err));
        if (rc == 0)
            rc = wf_cert_load_certs(anchors, &roots, err, sizeof(err));
        if (rc == 0)
            rc = wf_cert_load_key(ikey, &key, err, sizeof(err));
        if (rc == 0)
            rc = wf_cert_check_signer(sk_X509_value(chain, 0), key, WF_CERT_LEAF, time(NULL), icert,
                                      ikey, err, sizeof(err));
        if (rc == 0)
            rc = wf_cert_verify(sk_X509_value(chain, 0), chain, roots, 0, err, sizeof(err));
        sk_X509_pop_free(chain, X509_free);
        sk_X509_pop_free(roots, X509_free);
        EVP_PKEY_free(key);
        if (rc != 0) {
            wf_cli_errorf("up: identity: %s", err);
            return -1;
        }
        unlink(cak);
        if (wf_lm_copy(anchors, ca, 0644) < 0 || wf_lm_copy(icert, ic, 0644) < 0 ||
            wf_lm_copy(ikey, ik, 0600) < 0)
            return -1;
        return 0;
    }
    if (access(ca, F_OK) == 0 && access(ic, F_OK) == 0 && access(ik, F_OK) == 0)
        return 0;
    EVP_PKEY *rk = NULL, *ikk = NULL;
    X509 *root = NULL, *iss = NULL;
    time_t now = time(NULL);
    wf_cert_spec_t rs = {WF_CERT_ROOT_CA, "root.linkerd.cluster.local", now - WF_CERT_SKEW_SECS,
                         now + 3650L * 86400};
    wf_cert_spec_t is = {WF_CERT_INTERMEDIATE_CA, "identity.linkerd.cluster.local",
                         now - WF_CERT_SKEW_SECS, now + 365L * 86400};
    int rc = wf_cert_key_generate(&rk);
    if (rc == 0)
        rc = wf_cert_build(&rs, rk, NULL, NULL, &root, err, sizeof(err));
    if (rc == 0)
        rc = wf_cert_key_generate(&ikk);
    if (rc == 0)
        rc = wf_cert_build(&is, ikk, root, rk, &iss, err, sizeof(err));
    if (rc == 0)
        rc = wf_cert_write_cert(ca, root, true, err, sizeof(err));
    if (rc == 0)
        rc = wf_cert_write_key(cak, rk, true, err, sizeof(err));
    if (rc == 0)
        rc = wf_cert_write_cert(ic, iss, true, err, sizeof(err));
    if (rc == 0)
        rc = wf_cert_write_key(ik, ikk, true, err, sizeof(err));
    EVP_PKEY_free(rk);
    EVP_PKEY_free(ikk);
    X509_free(root);
    X509_free(iss);
    if (rc != 0) {
        wf_cli_errorf("up: cannot create the trust anchor and issuer: %s", err);
        return -1;
    }
    return 0;
}

/* ---- up ------------------------------------------------------------------------------------ */

static void wf_lm_report_stderr(void *ctx, const char *where, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "weft: %s: %s\n", where, msg);
}

/* Replaces objects of `objs` with the same key in `applied`, appends new ones. */
static void wf_lm_merge(json_t *applied, json_t *objs)
{
    size_t i, j;
    json_t *o, *a;
    char k1[600], k2[600];
    json_array_foreach (objs, i, o) {
        wf_lm_key(o, k1, sizeof(k1));
        bool replaced = false;
        json_array_foreach (applied, j, a) {
            wf_lm_key(a, k2, sizeof(k2));
            if (strcmp(k1, k2) == 0) {
                json_array_set(applied, j, o);
                replaced = true;
                break;
            }
        }
        if (!replaced)
            json_array_append(applied, o);
    }
}

/* Warns, before anything runs, about pods that will run without the proxy
 * because of a bad annotation (the supervisor logs the same). */
static void wf_lm_precheck(json_t *applied)
{
    size_t i, j;
    json_t *o, *n;
    json_array_foreach (applied, i, o) {
        const char *kind = wf_lm_kind(o);
        json_t *ann;
        if (strcmp(kind, "Pod") == 0)
            ann = wf_lm_path(o, "metadata.annotations");
        else if (strcmp(kind, "Deployment") == 0 || strcmp(kind, "StatefulSet") == 0)
            ann = wf_lm_path(o, "spec.template.metadata.annotations");
        else
            continue;
        json_t *nsann = NULL;
        json_array_foreach (applied, j, n) {
            if (strcmp(wf_lm_kind(n), "Namespace") == 0 &&
                strcmp(wf_lm_name(n), wf_lm_namespace(o)) == 0)
                nsann = wf_lm_path(n, "metadata.annotations");
        }
        wf_lm_inject_t inj;
        wf_lm_inject_resolve(ann, nsann, wf_lm_namespace(o), &inj);
        if (inj.warning[0])
            fprintf(stderr, "weft: warning: %s %s/%s runs without the proxy: %s\n", kind,
                    wf_lm_namespace(o), wf_lm_name(o), inj.warning);
        else if (inj.mode != WF_LM_INJECT_DISABLED &&
                 (inj.cpu_limit_m >= 0 || inj.memory_limit >= 0) && !wf_lm_cgroup_v2_usable())
            fprintf(stderr,
                    "weft: note: %s %s/%s: proxy cpu/memory limits not enforced (no "
                    "writable cgroup v2 hierarchy at /sys/fs/cgroup)\n",
                    kind, wf_lm_namespace(o), wf_lm_name(o));
    }
}

static int wf_lm_start_supervisor(const wf_lm_paths_t *p)
{
    char log[PATH_MAX];
    wf_lm_path_join(p, "supervisor.log", log, sizeof(log));
    pid_t c = fork();
    if (c < 0)
        return -errno;
    if (c == 0) {
        setsid();
        pid_t g = fork();
        if (g != 0)
            _exit(g < 0 ? 1 : 0);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        umask(022);
        if (chdir("/") < 0)
            _exit(1);
        execl("/proc/self/exe", "weft", "__supervise", "--state-dir", p->dir, (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(c, &st, 0);
    double end = wf_lm_now() + 10;
    while (wf_lm_now() < end) {
        if (wf_lm_supervisor_pid(p) > 0)
            return 0;
        usleep(50000);
    }
    return -ETIMEDOUT;
}

/* Waits until the supervisor has seen `gen` and every pod is ready (or has
 * finished), nothing is terminating and no rollout is pending. */
static int wf_lm_wait_ready(const wf_lm_paths_t *p, json_int_t gen, double timeout)
{
    char path[PATH_MAX];
    wf_lm_path_join(p, "status.json", path, sizeof(path));
    double end = wf_lm_now() + timeout;
    json_t *st = NULL;
    for (;;) {
        json_decref(st);
        st = json_load_file(path, 0, NULL);
        bool done = false;
        if (st && json_integer_value(json_object_get(st, "observed")) >= gen &&
            json_integer_value(json_object_get(st, "terminating")) == 0 &&
            !json_is_true(json_object_get(st, "rolloutPending"))) {
            done = true;
            size_t i;
            json_t *pod;
            json_array_foreach (json_object_get(st, "pods"), i, pod) {
                const char *phase = json_string_value(json_object_get(pod, "phase"));
                if (!json_is_true(json_object_get(pod, "ready")) &&
                    !(phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)))
                    done = false;
            }
        }
        if (done) {
            size_t i, nready = 0, nmesh = 0;
            json_t *pod;
            json_array_foreach (json_object_get(st, "pods"), i, pod) {
                nready += json_is_true(json_object_get(pod, "ready"));
                nmesh += json_is_true(json_object_get(pod, "injected"));
            }
            printf("weft: %zu pod%s ready (%zu with the proxy)\n", nready, nready == 1 ? "" : "s",
                   nmesh);
            if (!json_is_true(json_object_get(st, "destination")))
                fprintf(stderr, "weft: note: weft-controller has no destination subcommand in this "
                                "build; the mesh runs without the destination service\n");
            json_decref(st);
            return 0;
        }
        if (wf_lm_now() > end)
            break;
        if (wf_lm_supervisor_pid(p) == 0) {
            wf_cli_errorf("up: the supervisor exited; see %s/supervisor.log", p->dir);
            json_decref(st);
            return -1;
        }
        usleep(200000);
    }
    wf_cli_errorf("up: not every pod is ready after %.0fs:", timeout);
    if (st != NULL && !json_is_true(json_object_get(st, "controlPlaneReady")))
        fprintf(stderr, "  the control plane (identity) is not ready: see %s/cp/identity.log\n",
                p->dir);
    size_t i;
    json_t *pod;
    json_array_foreach (json_object_get(st, "pods"), i, pod) {
        if (json_is_true(json_object_get(pod, "ready")))
            continue;
        const char *msg = json_string_value(json_object_get(pod, "message"));
        fprintf(stderr, "  %s/%s: %s, restarts %lld%s%s\n",
                json_string_value(json_object_get(pod, "namespace")),
                json_string_value(json_object_get(pod, "name")),
                json_string_value(json_object_get(pod, "phase")),
                (long long)json_integer_value(json_object_get(pod, "restarts")),
                msg && *msg ? ": " : "", msg ? msg : "");
    }
    if (json_integer_value(json_object_get(st, "terminating")) > 0)
        fprintf(stderr, "  %lld pod(s) still stopping\n",
                (long long)json_integer_value(json_object_get(st, "terminating")));
    fprintf(stderr, "  (logs: weft logs POD -n NS; supervisor: %s/supervisor.log)\n", p->dir);
    json_decref(st);
    return -1;
}

/* Warns about Services whose selector matches no pod. */
static void wf_lm_warn_empty_services(const wf_lm_paths_t *p, json_t *applied)
{
    size_t i;
    json_t *o;
    json_array_foreach (applied, i, o) {
        if (strcmp(wf_lm_kind(o), "Service") != 0 ||
            json_object_size(wf_lm_path(o, "spec.selector")) == 0)
            continue;
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/store/endpointslices/%s", p->dir, wf_lm_namespace(o));
        DIR *d = opendir(dir);
        bool any = false;
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            char f[PATH_MAX + 300];
            snprintf(f, sizeof(f), "%s/%s", dir, de->d_name);
            json_t *es = json_load_file(f, 0, NULL);
            json_t *labels = wf_lm_path(es, "metadata.labels");
            const char *svc =
                json_string_value(json_object_get(labels, "kubernetes.io/service-name"));
            if (svc && strcmp(svc, wf_lm_name(o)) == 0 &&
                json_array_size(json_object_get(es, "endpoints")) > 0)
                any = true;
            json_decref(es);
        }
        if (d)
            closedir(d);
        if (!any) {
            char *sel = json_dumps(wf_lm_path(o, "spec.selector"), JSON_COMPACT | JSON_SORT_KEYS);
            fprintf(stderr, "weft: warning: Service %s/%s selects no pods (selector %s)\n",
                    wf_lm_namespace(o), wf_lm_name(o), sel ? sel : "?");
            free(sel);
        }
    }
}

static int wf_lm_lock(const wf_lm_paths_t *p)
{
    char path[PATH_MAX];
    wf_lm_path_join(p, "lock", path, sizeof(path));
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        wf_cli_errorf("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        wf_cli_errorf("another `weft up` or `weft down` is running on %s", p->dir);
        close(fd);
        return -1;
    }
    return fd;
}

/* Makes sure `dir` is ours: absent (created), empty, or marked. */
static int wf_lm_claim(const wf_lm_paths_t *p)
{
    char marker[PATH_MAX];
    wf_lm_path_join(p, WF_LM_MARKER, marker, sizeof(marker));
    if (access(marker, F_OK) == 0)
        return 0;
    DIR *d = opendir(p->dir);
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
                closedir(d);
                wf_cli_errorf("state directory %s is not empty and was not made by weft (no %s); "
                              "choose another --state-dir",
                              p->dir, WF_LM_MARKER);
                return -1;
            }
        }
        closedir(d);
    }
    int rc = wf_lm_mkdirs(p->dir, 0755);
    if (rc == 0)
        rc = wf_lm_write_atomic(marker, "weft local mode state\n", 22, 0644);
    if (rc < 0) {
        wf_cli_errorf("cannot create state directory %s: %s", p->dir, strerror(-rc));
        return -1;
    }
    chmod(p->dir, 0755);
    return 0;
}

static void wf_lm_up_usage(FILE *f)
{
    fprintf(f,
            "usage: weft up -f FILE|DIR [-f ...] [--state-dir DIR] [--timeout SECS]\n"
            "               [--identity-trust-anchors-file F --identity-issuer-certificate-file F\n"
            "                --identity-issuer-key-file F]\n\n"
            "Runs Kubernetes manifests on this machine (local mode): every pod a network\n"
            "namespace, meshed pods with weft-init + weft-proxy, the control plane in its own\n"
            "namespace. Running it again applies changes (e.g. replicas) to the running mesh.\n"
            "Returns once every pod is ready. Needs root.\n\n"
            "  -f, --filename PATH   a manifest file, or a directory of *.yaml/*.yml/*.json\n"
            "  --state-dir DIR       where local mode keeps its state (default " WF_LM_DEFAULT_STATE
            ")\n"
            "  --timeout SECS        how long to wait for readiness (default 120)\n"
            "  --identity-*-file F   use this trust anchor and issuer instead of generated ones\n");
}

int wf_cli_up_main(int argc, char **argv)
{
    const char *files[64];
    size_t nfiles = 0;
    const char *state = WF_LM_DEFAULT_STATE, *timeout_s = "120", *anchors = NULL, *icert = NULL,
               *ikey = NULL;
    bool help = false;
    wf_lm_opt_t opts[] = {
        {'f', "filename", NULL, NULL, files, &nfiles, 64},
        {0, "state-dir", &state, NULL, NULL, NULL, 0},
        {0, "timeout", &timeout_s, NULL, NULL, NULL, 0},
        {0, "identity-trust-anchors-file", &anchors, NULL, NULL, NULL, 0},
        {0, "identity-issuer-certificate-file", &icert, NULL, NULL, NULL, 0},
        {0, "identity-issuer-key-file", &ikey, NULL, NULL, NULL, 0},
        {'h', "help", NULL, &help, NULL, NULL, 0},
    };
    char err[256];
    if (wf_lm_opts_parse(argc - 1, argv + 1, opts, sizeof(opts) / sizeof(opts[0]), NULL, 0, NULL,
                         err, sizeof(err)) < 0) {
        wf_cli_errorf("up: %s", err);
        wf_lm_up_usage(stderr);
        return WF_CLI_EXIT_USAGE;
    }
    if (help) {
        wf_lm_up_usage(stdout);
        return WF_CLI_EXIT_OK;
    }
    char *end;
    double timeout = strtod(timeout_s, &end);
    if (*end != '\0' || !(timeout > 0 && timeout <= 86400)) {
        wf_cli_errorf("up: --timeout: \"%s\" is not a number of seconds (1-86400)", timeout_s);
        return WF_CLI_EXIT_USAGE;
    }
    if ((anchors || icert || ikey) && !(anchors && icert && ikey)) {
        wf_cli_errorf("up: --identity-trust-anchors-file, --identity-issuer-certificate-file "
                      "and --identity-issuer-key-file go together");
        return WF_CLI_EXIT_USAGE;
    }
    if (nfiles == 0) {
        wf_cli_errorf("up: give the manifests with -f FILE|DIR");
        wf_lm_up_usage(stderr);
        return WF_CLI_EXIT_USAGE;
    }
    if (geteuid() != 0) {
        wf_cli_errorf("up: must run as root (it creates network namespaces, iptables rules and "
                      "runs the proxy as uid %d)",
                      WF_LM_PROXY_UID);
        return WF_CLI_EXIT_FAILURE;
    }
    json_t *objs = json_array();
    int problems = 0;
    for (size_t i = 0; i < nfiles; i++)
        problems += wf_lm_load_path(files[i], objs, wf_lm_report_stderr, NULL);
    if (json_array_size(objs) == 0) {
        wf_cli_errorf("up: no objects to apply");
        json_decref(objs);
        return WF_CLI_EXIT_FAILURE;
    }
    size_t i;
    json_t *o;
    json_array_foreach (objs, i, o) {
        if (!wf_lm_kind_known(wf_lm_kind(o)))
            fprintf(stderr, "weft: note: %s %s is stored for the controllers, not run\n",
                    wf_lm_kind(o), wf_lm_name(o));
    }
    /* Duplicate names within one apply: the later one wins, said out loud. */
    json_array_foreach (objs, i, o) {
        char k1[600], k2[600];
        wf_lm_key(o, k1, sizeof(k1));
        for (size_t j = i + 1; j < json_array_size(objs); j++) {
            wf_lm_key(json_array_get(objs, j), k2, sizeof(k2));
            if (strcmp(k1, k2) == 0)
                fprintf(stderr, "weft: warning: %s is defined more than once; the last one wins\n",
                        k1);
        }
    }

    wf_lm_paths_t paths;
    int rc = wf_lm_paths_init(&paths, state);
    if (rc < 0) {
        wf_cli_errorf("up: --state-dir %s: %s", state, strerror(-rc));
        json_decref(objs);
        return WF_CLI_EXIT_USAGE;
    }
    int lock = -1;
    if (wf_lm_claim(&paths) < 0 || (lock = wf_lm_lock(&paths)) < 0) {
        json_decref(objs);
        return WF_CLI_EXIT_FAILURE;
    }
    pid_t sup = wf_lm_supervisor_pid(&paths);
    char path[PATH_MAX];
    if (sup == 0) {
        char names[1][128];
        wf_lm_path_join(&paths, "status.json", path, sizeof(path));
        if (access(path, F_OK) == 0 || wf_lm_our_netns(&paths, names, 1) > 0) {
            printf("weft: found a stale run in %s (its supervisor is gone); cleaning it up and "
                   "re-applying its objects\n",
                   paths.dir);
            wf_lm_teardown(&paths, true, false);
        }
    }
    if (wf_lm_identity(&paths, anchors, icert, ikey) < 0) {
        json_decref(objs);
        close(lock);
        return WF_CLI_EXIT_FAILURE;
    }
    wf_lm_path_join(&paths, "tokens", path, sizeof(path));
    wf_lm_mkdirs(path, 0700);

    wf_lm_path_join(&paths, "applied.json", path, sizeof(path));
    json_t *prev = json_load_file(path, 0, NULL);
    json_t *applied = json_incref(json_object_get(prev, "objects"));
    if (!json_is_array(applied)) {
        json_decref(applied);
        applied = json_array();
    }
    json_int_t gen = json_integer_value(json_object_get(prev, "generation")) + 1;
    /* Where each object was applied from: a container without workingDir
     * runs there (the demo's `python3 demo/app/web.py` from the repo root). */
    json_t *dirs = json_deep_copy(json_object_get(prev, "dirs"));
    if (!json_is_object(dirs)) {
        json_decref(dirs);
        dirs = json_object();
    }
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        snprintf(cwd, sizeof(cwd), "/");
    json_array_foreach (objs, i, o) {
        char key[600];
        wf_lm_key(o, key, sizeof(key));
        json_object_set_new(dirs, key, json_string(cwd));
    }
    json_decref(prev);
    wf_lm_merge(applied, objs);
    json_decref(objs);
    wf_lm_precheck(applied);
    json_t *doc = json_pack("{s:I, s:O, s:o}", "generation", gen, "objects", applied, "dirs", dirs);
    char *body = json_dumps(doc, JSON_INDENT(1));
    json_decref(doc);
    rc = body ? wf_lm_write_atomic(path, body, strlen(body), 0644) : -ENOMEM;
    free(body);
    if (rc < 0) {
        wf_cli_errorf("up: cannot write %s: %s", path, strerror(-rc));
        json_decref(applied);
        close(lock);
        return WF_CLI_EXIT_FAILURE;
    }
    sup = wf_lm_supervisor_pid(&paths);
    if (sup > 0) {
        kill(sup, SIGHUP);
    } else if ((rc = wf_lm_start_supervisor(&paths)) < 0) {
        wf_cli_errorf("up: the supervisor did not start (%s); see %s/supervisor.log", strerror(-rc),
                      paths.dir);
        json_decref(applied);
        close(lock);
        return WF_CLI_EXIT_FAILURE;
    }
    rc = wf_lm_wait_ready(&paths, gen, timeout);
    wf_lm_warn_empty_services(&paths, applied);
    json_decref(applied);
    close(lock);
    if (rc < 0)
        return WF_CLI_EXIT_FAILURE;
    printf("weft: state in %s; try `weft get pods -A`; stop with `weft down%s%s`\n", paths.dir,
           strcmp(state, WF_LM_DEFAULT_STATE) ? " --state-dir " : "",
           strcmp(state, WF_LM_DEFAULT_STATE) ? paths.dir : "");
    return problems > 0 ? WF_CLI_EXIT_FAILURE : WF_CLI_EXIT_OK;
}

/* ---- down ---------------------------------------------------------------------------------- */

int wf_cli_down_main(int argc, char **argv)
{
    const char *state = WF_LM_DEFAULT_STATE;
    bool help = false;
    wf_lm_opt_t opts[] = {
        {0, "state-dir", &state, NULL, NULL, NULL, 0},
        {'h', "help", NULL, &help, NULL, NULL, 0},
    };
    char err[256];
    if (wf_lm_opts_parse(argc - 1, argv + 1, opts, 2, NULL, 0, NULL, err, sizeof(err)) < 0) {
        wf_cli_errorf("down: %s", err);
        fprintf(stderr, "usage: weft down [--state-dir DIR]\n");
        return WF_CLI_EXIT_USAGE;
    }
    if (help) {
        printf("usage: weft down [--state-dir DIR]\n\nStops everything `weft up` started (by "
               "pid), removes its network\nnamespaces, rules, cgroups and its state directory. "
               "Safe to run twice\nor after a crash.\n");
        return WF_CLI_EXIT_OK;
    }
    if (geteuid() != 0) {
        wf_cli_errorf("down: must run as root");
        return WF_CLI_EXIT_FAILURE;
    }
    wf_lm_paths_t paths;
    if (wf_lm_paths_init(&paths, state) < 0) {
        wf_cli_errorf("down: --state-dir %s: path too long", state);
        return WF_CLI_EXIT_USAGE;
    }
    char marker[PATH_MAX], names[1][128];
    wf_lm_path_join(&paths, WF_LM_MARKER, marker, sizeof(marker));
    if (access(marker, F_OK) != 0 && wf_lm_our_netns(&paths, names, 1) == 0) {
        if (access(paths.dir, F_OK) == 0) {
            DIR *d = opendir(paths.dir);
            int entries = 0;
            struct dirent *de;
            while (d && (de = readdir(d)) != NULL)
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                    entries++;
            if (d)
                closedir(d);
            if (entries > 0) {
                wf_cli_errorf("down: %s was not made by weft (no %s); leaving it alone", paths.dir,
                              WF_LM_MARKER);
                return WF_CLI_EXIT_FAILURE;
            }
        }
        printf("weft: nothing to stop in %s\n", paths.dir);
        return WF_CLI_EXIT_OK;
    }
    int lock = access(marker, F_OK) == 0 ? wf_lm_lock(&paths) : -2;
    if (lock == -1)
        return WF_CLI_EXIT_FAILURE;
    int rc = wf_lm_teardown(&paths, false, true);
    if (lock >= 0)
        close(lock);
    return rc < 0 ? WF_CLI_EXIT_FAILURE : WF_CLI_EXIT_OK;
}

int wf_cli_supervise_main(int argc, char **argv)
{
    const char *state = NULL;
    wf_lm_opt_t opts[] = {{0, "state-dir", &state, NULL, NULL, NULL, 0}};
    char err[256];
    if (wf_lm_opts_parse(argc - 1, argv + 1, opts, 1, NULL, 0, NULL, err, sizeof(err)) < 0 ||
        state == NULL) {
        wf_cli_errorf("__supervise: internal command (started by weft up): --state-dir DIR");
        return WF_CLI_EXIT_USAGE;
    }
    wf_lm_paths_t paths;
    if (wf_lm_paths_init(&paths, state) < 0)
        return WF_CLI_EXIT_USAGE;
    return wf_lm_supervise(&paths) == 0 ? WF_CLI_EXIT_OK : WF_CLI_EXIT_FAILURE;
}
