/*
 * local_get.c — `weft get pods|svc`, `weft logs`, `weft exec`: reading
 * local mode's store and pod directories (kubectl's get/logs/exec, for a
 * mesh started with `weft up`).
 */
#include "cli.h"
#include "local.h"
#include "local_cli.h"
#include "local_obj.h"
#include "local_sys.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Loads every object of <store>/<res>/<ns>/ (every namespace when ns is
 * NULL), sorted by namespace then name. */
static json_t *wf_lm_store_list(const wf_lm_paths_t *p, const char *res, const char *ns)
{
    json_t *items = json_array();
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/store/%s", p->dir, res);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || (ns && strcmp(de->d_name, ns) != 0))
            continue;
        char sub[PATH_MAX + 300];
        snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
        DIR *d2 = opendir(sub);
        struct dirent *e2;
        while (d2 && (e2 = readdir(d2)) != NULL) {
            size_t l = strlen(e2->d_name);
            if (e2->d_name[0] == '.' || l < 6 || strcmp(e2->d_name + l - 5, ".json") != 0)
                continue;
            char f[PATH_MAX + 600];
            snprintf(f, sizeof(f), "%s/%s", sub, e2->d_name);
            json_t *o = json_load_file(f, 0, NULL);
            if (o)
                json_array_append_new(items, o);
        }
        if (d2)
            closedir(d2);
    }
    if (d)
        closedir(d);
    /* Insertion sort: lists are small. */
    size_t n = json_array_size(items);
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0; j--) {
            json_t *a = json_array_get(items, j - 1), *b = json_array_get(items, j);
            int c = strcmp(wf_lm_namespace(a), wf_lm_namespace(b));
            if (c == 0)
                c = strcmp(wf_lm_name(a), wf_lm_name(b));
            if (c <= 0)
                break;
            json_incref(a);
            json_array_set(items, j - 1, b);
            json_array_set_new(items, j, a);
        }
    }
    return items;
}

static void wf_lm_age(const char *ts, char *out, size_t outlen)
{
    struct tm tm = {0};
    if (ts == NULL || strptime(ts, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL) {
        snprintf(out, outlen, "-");
        return;
    }
    long s = (long)(time(NULL) - timegm(&tm));
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(out, outlen, "%lds", s);
    else if (s < 7200)
        snprintf(out, outlen, "%ldm", s / 60);
    else if (s < 172800)
        snprintf(out, outlen, "%ldh", s / 3600);
    else
        snprintf(out, outlen, "%ldd", s / 86400);
}

static bool wf_lm_state_ok(const wf_lm_paths_t *p, const char *cmd)
{
    char f[PATH_MAX];
    wf_lm_path_join(p, "store", f, sizeof(f));
    if (access(f, F_OK) != 0) {
        wf_cli_errorf("%s: no local mesh in %s (start one with `weft up -f FILE`)", cmd, p->dir);
        return false;
    }
    return true;
}

static void wf_lm_get_usage(FILE *f)
{
    fprintf(f, "usage: weft get pods|svc [-n NS | -A] [-o json|wide] [--state-dir DIR]\n");
}

int wf_cli_get_main(int argc, char **argv)
{
    const char *ns = NULL, *out = NULL, *state = WF_LM_DEFAULT_STATE;
    bool all = false, help = false;
    wf_lm_opt_t opts[] = {
        {'n', "namespace", &ns, NULL, NULL, NULL, 0},
        {'A', "all-namespaces", NULL, &all, NULL, NULL, 0},
        {'o', "output", &out, NULL, NULL, NULL, 0},
        {0, "state-dir", &state, NULL, NULL, NULL, 0},
        {'h', "help", NULL, &help, NULL, NULL, 0},
    };
    const char *pos[2];
    size_t npos = 0;
    char err[256];
    if (wf_lm_opts_parse(argc - 1, argv + 1, opts, 5, pos, 2, &npos, err, sizeof(err)) < 0) {
        wf_cli_errorf("get: %s", err);
        wf_lm_get_usage(stderr);
        return WF_CLI_EXIT_USAGE;
    }
    if (help) {
        wf_lm_get_usage(stdout);
        return WF_CLI_EXIT_OK;
    }
    if (npos != 1) {
        wf_cli_errorf("get: name one resource type: pods or svc");
        wf_lm_get_usage(stderr);
        return WF_CLI_EXIT_USAGE;
    }
    bool pods = false, svcs = false;
    const char *t = pos[0];
    if (!strcmp(t, "pods") || !strcmp(t, "pod") || !strcmp(t, "po"))
        pods = true;
    else if (!strcmp(t, "svc") || !strcmp(t, "services") || !strcmp(t, "service"))
        svcs = true;
    if (!pods && !svcs) {
        wf_cli_errorf("get: unknown resource type \"%s\" (pods or svc)", t);
        return WF_CLI_EXIT_USAGE;
    }
    if (out && strcmp(out, "json") && strcmp(out, "wide")) {
        wf_cli_errorf("get: -o %s: want json or wide", out);
        return WF_CLI_EXIT_USAGE;
    }
    if (all && ns) {
        wf_cli_errorf("get: -n and -A exclude each other");
        return WF_CLI_EXIT_USAGE;
    }
    wf_lm_paths_t paths;
    if (wf_lm_paths_init(&paths, state) < 0)
        return WF_CLI_EXIT_USAGE;
    if (!wf_lm_state_ok(&paths, "get"))
        return WF_CLI_EXIT_FAILURE;
    json_t *items =
        wf_lm_store_list(&paths, pods ? "pods" : "services", all ? NULL : (ns ? ns : "default"));
    if (out && strcmp(out, "json") == 0) {
        json_t *list =
            json_pack("{s:s, s:s, s:O}", "apiVersion", "v1", "kind", "List", "items", items);
        json_dumpf(list, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        putchar('\n');
        json_decref(list);
        json_decref(items);
        return WF_CLI_EXIT_OK;
    }
    if (json_array_size(items) == 0) {
        if (all)
            fprintf(stderr, "No resources found\n");
        else
            fprintf(stderr, "No resources found in %s namespace.\n", ns ? ns : "default");
        json_decref(items);
        return WF_CLI_EXIT_OK;
    }
    bool wide = out != NULL;
    if (pods)
        printf("%s%-40s %-7s %-18s %-9s %-6s%s\n", all ? "NAMESPACE       " : "", "NAME", "READY",
               "STATUS", "RESTARTS", "AGE", wide ? " IP" : "");
    else
        printf("%s%-28s %-10s %-16s %-24s %s\n", all ? "NAMESPACE       " : "", "NAME", "TYPE",
               "CLUSTER-IP", "PORT(S)", "AGE");
    size_t i;
    json_t *o;
    json_array_foreach (items, i, o) {
        char age[32], nsbuf[32];
        wf_lm_age(json_string_value(wf_lm_path(o, "metadata.creationTimestamp")), age, sizeof(age));
        snprintf(nsbuf, sizeof(nsbuf), "%-15.15s ", wf_lm_namespace(o));
        if (pods) {
            json_t *cs = wf_lm_path(o, "status.containerStatuses"), *c;
            size_t j, ready = 0;
            long restarts = 0;
            const char *status = json_string_value(wf_lm_path(o, "status.phase"));
            json_array_foreach (cs, j, c) {
                ready += json_is_true(json_object_get(c, "ready"));
                restarts += (long)json_integer_value(json_object_get(c, "restartCount"));
                const char *why = json_string_value(wf_lm_path(c, "state.waiting.reason"));
                if (why && strcmp(why, "CrashLoopBackOff") == 0)
                    status = why;
            }
            char rd[16];
            snprintf(rd, sizeof(rd), "%zu/%zu", ready, json_array_size(cs));
            const char *ip = json_string_value(wf_lm_path(o, "status.podIP"));
            printf("%s%-40s %-7s %-18s %-9ld %-6s%s%s\n", all ? nsbuf : "", wf_lm_name(o), rd,
                   status ? status : "Unknown", restarts, age, wide ? " " : "",
                   wide ? (ip ? ip : "<none>") : "");
        } else {
            char ports[256] = "";
            size_t off = 0, j;
            json_t *sp;
            json_array_foreach (wf_lm_path(o, "spec.ports"), j, sp) {
                off += (size_t)snprintf(ports + off, off < sizeof(ports) ? sizeof(ports) - off : 0,
                                        "%s%lld/TCP", j ? "," : "",
                                        (long long)json_integer_value(json_object_get(sp, "port")));
                if (off >= sizeof(ports))
                    break;
            }
            const char *type = json_string_value(wf_lm_path(o, "spec.type"));
            const char *ip = json_string_value(wf_lm_path(o, "spec.clusterIP"));
            printf("%s%-28s %-10s %-16s %-24s %s\n", all ? nsbuf : "", wf_lm_name(o),
                   type ? type : "ClusterIP", ip ? ip : "None", *ports ? ports : "<none>", age);
        }
    }
    json_decref(items);
    return WF_CLI_EXIT_OK;
}

/* Loads pods/<ns>/<name>.json from the store; prints the error itself. */
static json_t *wf_lm_pod_load(const wf_lm_paths_t *p, const char *cmd, const char *ns,
                              const char *name)
{
    char f[PATH_MAX + 600];
    snprintf(f, sizeof(f), "%s/store/pods/%s/%s.json", p->dir, ns, name);
    json_t *o = strchr(name, '/') ? NULL : json_load_file(f, 0, NULL);
    if (o == NULL)
        wf_cli_errorf("%s: pod \"%s\" not found in namespace %s", cmd, name, ns);
    return o;
}

int wf_cli_logs_main(int argc, char **argv)
{
    const char *ns = "default", *ctr = NULL, *state = WF_LM_DEFAULT_STATE;
    bool help = false, follow = false;
    wf_lm_opt_t opts[] = {
        {'n', "namespace", &ns, NULL, NULL, NULL, 0},
        {'c', "container", &ctr, NULL, NULL, NULL, 0},
        {0, "state-dir", &state, NULL, NULL, NULL, 0},
        {'f', "follow", NULL, &follow, NULL, NULL, 0},
        {'h', "help", NULL, &help, NULL, NULL, 0},
    };
    const char *pos[2];
    size_t npos = 0;
    char err[256];
    const char *usage = "usage: weft logs POD [-c CONTAINER] [-n NS] [-f] [--state-dir DIR]\n"
                        "(the proxy's log is container linkerd-proxy)\n";
    if (wf_lm_opts_parse(argc - 1, argv + 1, opts, 5, pos, 2, &npos, err, sizeof(err)) < 0 ||
        (!help && npos != 1)) {
        wf_cli_errorf("logs: %s", npos != 1 && err[0] == '\0' ? "name one pod" : err);
        fputs(usage, stderr);
        return WF_CLI_EXIT_USAGE;
    }
    if (help) {
        fputs(usage, stdout);
        return WF_CLI_EXIT_OK;
    }
    wf_lm_paths_t paths;
    if (wf_lm_paths_init(&paths, state) < 0)
        return WF_CLI_EXIT_USAGE;
    if (!wf_lm_state_ok(&paths, "logs"))
        return WF_CLI_EXIT_FAILURE;
    json_t *pod = wf_lm_pod_load(&paths, "logs", ns, pos[0]);
    if (pod == NULL)
        return WF_CLI_EXIT_FAILURE;
    json_t *cs = wf_lm_path(pod, "spec.containers"), *c;
    size_t i, napps = 0;
    char names[1024] = "";
    size_t off = 0;
    const char *only = NULL;
    bool found = false;
    json_array_foreach (cs, i, c) {
        const char *n = json_string_value(json_object_get(c, "name"));
        if (n == NULL)
            continue;
        if (ctr && strcmp(ctr, n) == 0)
            found = true;
        if (strcmp(n, WF_LM_PROXY_CONTAINER) != 0) {
            napps++;
            only = n;
        }
        if (off < sizeof(names))
            off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s", off ? ", " : "", n);
    }
    if (ctr == NULL && napps == 1) {
        ctr = only;
        found = true;
    }
    if (ctr == NULL || !found) {
        wf_cli_errorf("logs: %s: pod %s has containers %s; choose one with -c",
                      ctr ? "no such container" : "which container", pos[0], names);
        json_decref(pod);
        return ctr ? WF_CLI_EXIT_FAILURE : WF_CLI_EXIT_USAGE;
    }
    char f[PATH_MAX + 800];
    snprintf(f, sizeof(f), "%s/pods/%s/%s/%s.log", paths.dir, ns, pos[0], ctr);
    json_decref(pod);
    FILE *in = fopen(f, "rb");
    if (in == NULL) {
        if (errno == ENOENT)
            return WF_CLI_EXIT_OK; /* started, nothing written yet */
        wf_cli_errorf("logs: cannot read %s: %s", f, strerror(errno));
        return WF_CLI_EXIT_FAILURE;
    }
    char buf[8192];
    size_t n;
    for (;;) {
        while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
            fwrite(buf, 1, n, stdout);
        /* --follow: until the pod (and its log) goes away, or ^C. */
        if (!follow || access(f, F_OK) != 0)
            break;
        fflush(stdout);
        clearerr(in);
        usleep(200000);
    }
    fclose(in);
    return WF_CLI_EXIT_OK;
}

int wf_cli_exec_main(int argc, char **argv)
{
    const char *ns = "default", *state = WF_LM_DEFAULT_STATE, *ctr = NULL;
    bool help = false, tty = false, stdin_ = false;
    wf_lm_opt_t opts[] = {
        {'n', "namespace", &ns, NULL, NULL, NULL, 0},
        {'c', "container", &ctr, NULL, NULL, NULL, 0},
        {0, "state-dir", &state, NULL, NULL, NULL, 0},
        {'i', "stdin", NULL, &stdin_, NULL, NULL, 0},
        {'t', "tty", NULL, &tty, NULL, NULL, 0},
        {'h', "help", NULL, &help, NULL, NULL, 0},
    };
    const char *pos[256];
    size_t npos = 0;
    char err[256];
    const char *usage = "usage: weft exec POD [-n NS] [--state-dir DIR] -- COMMAND [ARGS...]\n"
                        "Runs COMMAND inside the pod's network namespace, with the pod's "
                        "/etc/hosts.\n";
    int before = wf_lm_opts_parse(argc - 1, argv + 1, opts, 6, pos, 255, &npos, err, sizeof(err));
    if (help) {
        fputs(usage, stdout);
        return WF_CLI_EXIT_OK;
    }
    if (before < 0 || before != 1 || npos < 2) {
        wf_cli_errorf("exec: %s", before < 0 ? err : "want POD -- COMMAND");
        fputs(usage, stderr);
        return WF_CLI_EXIT_USAGE;
    }
    if (geteuid() != 0) {
        wf_cli_errorf("exec: must run as root (it enters the pod's namespaces)");
        return WF_CLI_EXIT_FAILURE;
    }
    wf_lm_paths_t paths;
    if (wf_lm_paths_init(&paths, state) < 0)
        return WF_CLI_EXIT_USAGE;
    if (!wf_lm_state_ok(&paths, "exec"))
        return WF_CLI_EXIT_FAILURE;
    json_t *pod = wf_lm_pod_load(&paths, "exec", ns, pos[0]);
    if (pod == NULL)
        return WF_CLI_EXIT_FAILURE;
    json_decref(pod);
    char f[PATH_MAX + 800], hosts[PATH_MAX + 300];
    snprintf(f, sizeof(f), "%s/pods/%s/%s/netns", paths.dir, ns, pos[0]);
    char *netns = wf_lm_read_file(f, NULL);
    if (netns == NULL || !wf_lm_netns_exists(netns)) {
        wf_cli_errorf("exec: pod %s/%s has no network namespace (not started yet?)", ns, pos[0]);
        free(netns);
        return WF_CLI_EXIT_FAILURE;
    }
    snprintf(hosts, sizeof(hosts), "%s/hosts/%s", paths.dir, ns);
    if (wf_lm_enter_pod(netns, access(hosts, F_OK) == 0 ? hosts : NULL, err, sizeof(err)) < 0) {
        wf_cli_errorf("exec: %s", err);
        free(netns);
        return WF_CLI_EXIT_FAILURE;
    }
    free(netns);
    char **cmd = (char **)&pos[1];
    pos[npos] = NULL;
    execvp(cmd[0], cmd);
    wf_cli_errorf("exec: cannot run %s: %s", cmd[0], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}
