/*
 * local_viz.c — see local_viz.h; also `weft viz stat`.
 *
 * What is measured, as Linkerd's viz does for a workload: the inbound side
 * of its meshed pods' proxies — success rate (responses classified
 * success / all), requests per second, p50/p95/p99 of response_latency_ms,
 * the share of requests that arrived over mTLS, and open TCP connections.
 * For a Service, the pods it selects. All over one window between two
 * scrapes; "-" when nothing happened in it.
 */
#include "local_viz.h"

#include "cli.h"
#include "local.h"
#include "local_cli.h"
#include "local_obj.h"
#include "local_sys.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const double wf_lm_les[WF_LM_LAT_BUCKETS] = {
    1,   2,   3,    4,    5,    10,   20,   30,    40,    50,    100,   200,   300,
    400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000, INFINITY};

#define WF_LM_PROM_LABELS 48

int wf_lm_prom_parse(const char *text, wf_lm_prom_cb cb, void *ctx)
{
    int n = 0;
    char scratch[4096];
    const char *keys[WF_LM_PROM_LABELS], *vals[WF_LM_PROM_LABELS];
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        const char *end = eol ? eol : line + strlen(line);
        const char *p = line;
        line = eol ? eol + 1 : NULL;
        if (p == end || *p == '#')
            continue;
        size_t off = 0, nl = 0;
        const char *q = p;
        while (q < end && *q != '{' && *q != ' ')
            q++;
        if (q == p || (size_t)(q - p) >= 256)
            continue;
        char *name = scratch;
        memcpy(name, p, (size_t)(q - p));
        name[q - p] = '\0';
        off = (size_t)(q - p) + 1;
        bool bad = false;
        if (q < end && *q == '{') {
            q++;
            while (q < end && *q != '}' && !bad) {
                const char *k = q;
                while (q < end && *q != '=')
                    q++;
                if (q + 1 >= end || q[1] != '"' || nl == WF_LM_PROM_LABELS ||
                    off + (size_t)(q - k) + 1 >= sizeof(scratch)) {
                    bad = true;
                    break;
                }
                keys[nl] = scratch + off;
                memcpy(scratch + off, k, (size_t)(q - k));
                off += (size_t)(q - k);
                scratch[off++] = '\0';
                q += 2;
                vals[nl] = scratch + off;
                while (q < end && *q != '"') {
                    char c = *q++;
                    if (c == '\\' && q < end) {
                        c = *q++;
                        if (c == 'n')
                            c = '\n';
                    }
                    if (off + 2 >= sizeof(scratch)) {
                        bad = true;
                        break;
                    }
                    scratch[off++] = c;
                }
                if (q >= end) {
                    bad = true;
                    break;
                }
                scratch[off++] = '\0';
                nl++;
                q++; /* closing quote */
                if (q < end && *q == ',')
                    q++;
            }
            if (q >= end || *q != '}')
                bad = true;
            q++;
        }
        if (bad)
            continue;
        while (q < end && *q == ' ')
            q++;
        char num[64];
        size_t nlen = 0;
        while (q < end && *q != ' ' && nlen + 1 < sizeof(num))
            num[nlen++] = *q++;
        num[nlen] = '\0';
        char *e;
        double v = strtod(num, &e);
        if (nlen == 0 || *e != '\0')
            continue;
        cb(ctx, name, keys, vals, nl, v);
        n++;
    }
    return n;
}

static const char *wf_lm_label(const char *const *keys, const char *const *vals, size_t n,
                               const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i], key) == 0)
            return vals[i];
    return NULL;
}

static void wf_lm_stat_sample(void *ctx, const char *name, const char *const *keys,
                              const char *const *vals, size_t n, double v)
{
    wf_lm_stat_t *st = ctx;
    const char *dir = wf_lm_label(keys, vals, n, "direction");
    if (dir == NULL || strcmp(dir, "inbound") != 0)
        return;
    if (strcmp(name, "response_total") == 0) {
        const char *cls = wf_lm_label(keys, vals, n, "classification");
        if (cls && strcmp(cls, "success") == 0)
            st->success += v;
        else
            st->failure += v;
    } else if (strcmp(name, "request_total") == 0) {
        const char *tls = wf_lm_label(keys, vals, n, "tls");
        st->requests += v;
        if (tls && strcmp(tls, "true") == 0)
            st->tls_requests += v;
    } else if (strcmp(name, "response_latency_ms_bucket") == 0) {
        const char *le = wf_lm_label(keys, vals, n, "le");
        if (le == NULL)
            return;
        double l = strcmp(le, "+Inf") == 0 ? INFINITY : strtod(le, NULL);
        for (int i = 0; i < WF_LM_LAT_BUCKETS; i++)
            if (wf_lm_les[i] == l)
                st->lat[i] += v;
    } else if (strcmp(name, "tcp_open_connections") == 0) {
        const char *peer = wf_lm_label(keys, vals, n, "peer");
        if (peer == NULL || strcmp(peer, "src") == 0)
            st->tcp_open += v;
    }
}

void wf_lm_stat_add_scrape(wf_lm_stat_t *st, const char *text)
{
    wf_lm_prom_parse(text, wf_lm_stat_sample, st);
}

static double wf_lm_d(double a, double b)
{
    return b >= a ? b - a : b;
}

void wf_lm_stat_delta(const wf_lm_stat_t *a, const wf_lm_stat_t *b, wf_lm_stat_t *d)
{
    bool reset = b->success + b->failure < a->success + a->failure;
    const wf_lm_stat_t zero = {0};
    if (reset)
        a = &zero;
    d->success = wf_lm_d(a->success, b->success);
    d->failure = wf_lm_d(a->failure, b->failure);
    d->requests = wf_lm_d(a->requests, b->requests);
    d->tls_requests = wf_lm_d(a->tls_requests, b->tls_requests);
    for (int i = 0; i < WF_LM_LAT_BUCKETS; i++)
        d->lat[i] = wf_lm_d(a->lat[i], b->lat[i]);
    d->tcp_open = b->tcp_open; /* a gauge: the latest value */
}

double wf_lm_stat_quantile(const wf_lm_stat_t *st, double q)
{
    double total = st->lat[WF_LM_LAT_BUCKETS - 1];
    if (!(total > 0))
        return -1;
    double rank = q * total;
    for (int i = 0; i < WF_LM_LAT_BUCKETS; i++) {
        if (st->lat[i] < rank)
            continue;
        if (i == WF_LM_LAT_BUCKETS - 1)
            return wf_lm_les[WF_LM_LAT_BUCKETS - 2];
        double lo = i ? wf_lm_les[i - 1] : 0, below = i ? st->lat[i - 1] : 0;
        double in = st->lat[i] - below;
        return in > 0 ? lo + (wf_lm_les[i] - lo) * (rank - below) / in : wf_lm_les[i];
    }
    return wf_lm_les[WF_LM_LAT_BUCKETS - 2];
}

/* ---- weft viz stat ----------------------------------------------------------------------------
 */

/* One row: a workload and the pods that make it. */
typedef struct wf_lm_row {
    char ns[64], name[256];
    int pods, meshed;
    wf_lm_stat_t before, after;
} wf_lm_row_t;

static json_t *wf_lm_list(const wf_lm_paths_t *p, const char *res, const char *ns)
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
            if (e2->d_name[0] == '.')
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
    return items;
}

/* True if pod belongs to the workload `w` of kind `kind`. */
static bool wf_lm_member(const char *kind, json_t *w, json_t *pod)
{
    if (strcmp(wf_lm_namespace(w), wf_lm_namespace(pod)) != 0)
        return false;
    if (strcmp(kind, "pods") == 0)
        return strcmp(wf_lm_name(w), wf_lm_name(pod)) == 0;
    json_t *ref = json_array_get(wf_lm_path(pod, "metadata.ownerReferences"), 0);
    const char *rk = json_string_value(json_object_get(ref, "kind"));
    const char *rn = json_string_value(json_object_get(ref, "name"));
    if (strcmp(kind, "deployments") == 0) {
        json_t *labels = wf_lm_path(pod, "metadata.labels");
        const char *h = json_string_value(json_object_get(labels, "pod-template-hash"));
        char want[320];
        snprintf(want, sizeof(want), "%s-%s", wf_lm_name(w), h ? h : "");
        return rk && rn && h && strcmp(rk, "ReplicaSet") == 0 && strcmp(rn, want) == 0;
    }
    if (strcmp(kind, "statefulsets") == 0)
        return rk && rn && strcmp(rk, "StatefulSet") == 0 && strcmp(rn, wf_lm_name(w)) == 0;
    /* services: the selector */
    json_t *sel = wf_lm_path(w, "spec.selector"), *v;
    json_t *labels = wf_lm_path(pod, "metadata.labels");
    const char *k;
    if (json_object_size(sel) == 0)
        return false;
    json_object_foreach (sel, k, v) {
        if (!json_equal(v, json_object_get(labels, k)))
            return false;
    }
    return true;
}

static int wf_lm_row_cmp(const void *a, const void *b)
{
    const wf_lm_row_t *x = a, *y = b;
    int c = strcmp(x->ns, y->ns);
    return c ? c : strcmp(x->name, y->name);
}

static void wf_lm_scrape(const wf_lm_paths_t *p, json_t *pod, wf_lm_stat_t *st)
{
    char f[PATH_MAX + 600];
    snprintf(f, sizeof(f), "%s/pods/%s/%s/netns", p->dir, wf_lm_namespace(pod), wf_lm_name(pod));
    char *netns = wf_lm_read_file(f, NULL);
    if (netns == NULL)
        return;
    int status;
    char *body = wf_lm_http_get(netns, "127.0.0.1", 4191, "/metrics", 2000, &status);
    if (body && status == 200)
        wf_lm_stat_add_scrape(st, body);
    free(body);
    free(netns);
}

static void wf_lm_fmt_ms(double v, char *out, size_t outlen)
{
    if (v < 0)
        snprintf(out, outlen, "-");
    else
        snprintf(out, outlen, "%.0fms", v < 1 && v > 0 ? 1 : v);
}

static void wf_lm_viz_usage(FILE *f)
{
    fprintf(f, "usage: weft viz stat deploy|sts|pod|svc [NAME] [-n NS | -A] [-o json]\n"
               "                    [--window SECS] [--state-dir DIR]\n\n"
               "Golden metrics of local-mode workloads from their proxies (inbound side):\n"
               "success rate, requests/s, p50/p95/p99 latency, mTLS share, open TCP\n"
               "connections, over a window between two scrapes (default 2 s).\n");
}

static int wf_lm_viz_stat(int argc, char **argv)
{
    const char *ns = NULL, *out = NULL, *state = WF_LM_DEFAULT_STATE, *window_s = "2";
    bool all = false, help = false;
    wf_lm_opt_t opts[] = {
        {'n', "namespace", &ns, NULL, NULL, NULL, 0},
        {'A', "all-namespaces", NULL, &all, NULL, NULL, 0},
        {'o', "output", &out, NULL, NULL, NULL, 0},
        {0, "window", &window_s, NULL, NULL, NULL, 0},
        {0, "state-dir", &state, NULL, NULL, NULL, 0},
        {'h', "help", NULL, &help, NULL, NULL, 0},
    };
    const char *pos[3];
    size_t npos = 0;
    char err[256];
    if (wf_lm_opts_parse(argc - 1, argv + 1, opts, 6, pos, 2, &npos, err, sizeof(err)) < 0) {
        wf_cli_errorf("viz stat: %s", err);
        wf_lm_viz_usage(stderr);
        return WF_CLI_EXIT_USAGE;
    }
    if (help) {
        wf_lm_viz_usage(stdout);
        return WF_CLI_EXIT_OK;
    }
    if (npos < 1) {
        wf_cli_errorf("viz stat: name a resource type: deploy, sts, pod or svc");
        wf_lm_viz_usage(stderr);
        return WF_CLI_EXIT_USAGE;
    }
    const char *t = pos[0], *kind;
    if (!strcmp(t, "deploy") || !strcmp(t, "deployment") || !strcmp(t, "deployments"))
        kind = "deployments";
    else if (!strcmp(t, "sts") || !strcmp(t, "statefulset") || !strcmp(t, "statefulsets"))
        kind = "statefulsets";
    else if (!strcmp(t, "po") || !strcmp(t, "pod") || !strcmp(t, "pods"))
        kind = "pods";
    else if (!strcmp(t, "svc") || !strcmp(t, "service") || !strcmp(t, "services"))
        kind = "services";
    else {
        wf_cli_errorf("viz stat: unknown resource type \"%s\" (deploy, sts, pod or svc)", t);
        return WF_CLI_EXIT_USAGE;
    }
    char *e;
    double window = strtod(window_s, &e);
    if (*e == 's' && e[1] == '\0')
        e++;
    if (*e != '\0' || !(window >= 0.1 && window <= 600)) {
        wf_cli_errorf("viz stat: --window: \"%s\" is not a number of seconds (0.1-600)", window_s);
        return WF_CLI_EXIT_USAGE;
    }
    if (out && strcmp(out, "json") != 0) {
        wf_cli_errorf("viz stat: -o %s: want json", out);
        return WF_CLI_EXIT_USAGE;
    }
    if (geteuid() != 0) {
        wf_cli_errorf("viz stat: must run as root (it reads the proxies inside the pods)");
        return WF_CLI_EXIT_FAILURE;
    }
    wf_lm_paths_t paths;
    if (wf_lm_paths_init(&paths, state) < 0)
        return WF_CLI_EXIT_USAGE;
    char f[PATH_MAX];
    wf_lm_path_join(&paths, "store", f, sizeof(f));
    if (access(f, F_OK) != 0) {
        wf_cli_errorf("viz stat: no local mesh in %s (start one with `weft up -f FILE`)",
                      paths.dir);
        return WF_CLI_EXIT_FAILURE;
    }
    const char *scope = all ? NULL : (ns ? ns : "default");
    json_t *ws = wf_lm_list(&paths, kind, scope);
    json_t *pods = wf_lm_list(&paths, "pods", scope);
    size_t nrows = json_array_size(ws), i, j;
    wf_lm_row_t *rows = calloc(nrows ? nrows : 1, sizeof(*rows));
    json_t *w, *pod;
    size_t k = 0;
    json_array_foreach (ws, i, w) {
        if (npos == 2 && strcmp(wf_lm_name(w), pos[1]) != 0)
            continue;
        snprintf(rows[k].ns, sizeof(rows[k].ns), "%s", wf_lm_namespace(w));
        snprintf(rows[k].name, sizeof(rows[k].name), "%s", wf_lm_name(w));
        json_array_foreach (pods, j, pod) {
            if (!wf_lm_member(kind, w, pod))
                continue;
            rows[k].pods++;
            if (json_object_get(wf_lm_path(pod, "metadata.annotations"),
                                "linkerd.io/proxy-version"))
                rows[k].meshed++;
        }
        k++;
    }
    nrows = k;
    qsort(rows, nrows, sizeof(*rows), wf_lm_row_cmp);
    if (npos == 2 && nrows == 0) {
        wf_cli_errorf("viz stat: %s \"%s\" not found in %s", t, pos[1],
                      scope ? scope : "any namespace");
        free(rows);
        json_decref(ws);
        json_decref(pods);
        return WF_CLI_EXIT_FAILURE;
    }
    /* Two scrapes of every meshed member, a window apart. */
    for (int pass = 0; pass < 2; pass++) {
        double t0 = wf_lm_now();
        for (size_t r = 0; r < nrows; r++) {
            json_array_foreach (ws, i, w) {
                if (strcmp(wf_lm_name(w), rows[r].name) || strcmp(wf_lm_namespace(w), rows[r].ns))
                    continue;
                json_array_foreach (pods, j, pod) {
                    if (wf_lm_member(kind, w, pod) &&
                        json_object_get(wf_lm_path(pod, "metadata.annotations"),
                                        "linkerd.io/proxy-version"))
                        wf_lm_scrape(&paths, pod, pass ? &rows[r].after : &rows[r].before);
                }
            }
        }
        if (pass == 0) {
            double left = window - (wf_lm_now() - t0);
            if (left > 0)
                usleep((useconds_t)(left * 1e6));
        }
    }
    json_t *jout = json_array();
    if (!out)
        printf("%s%-28s %-7s %-9s %-9s %-12s %-12s %-12s %-6s %s\n", all ? "NAMESPACE       " : "",
               "NAME", "MESHED", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P95", "LATENCY_P99",
               "MTLS", "TCP_CONN");
    for (size_t r = 0; r < nrows; r++) {
        wf_lm_stat_t d;
        wf_lm_stat_delta(&rows[r].before, &rows[r].after, &d);
        double resp = d.success + d.failure;
        double sr = resp > 0 ? d.success / resp : -1;
        double rps = (d.requests > resp ? d.requests : resp) / window;
        double p50 = wf_lm_stat_quantile(&d, 0.5), p95 = wf_lm_stat_quantile(&d, 0.95),
               p99 = wf_lm_stat_quantile(&d, 0.99);
        double mtls = d.requests > 0 ? d.tls_requests / d.requests : -1;
        if (out) {
            json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:f, s:f}", "namespace", rows[r].ns,
                                  "kind", kind, "name", rows[r].name, "pods", rows[r].pods,
                                  "meshed", rows[r].meshed, "rps", rps, "window_seconds", window);
            json_object_set_new(o, "success", sr >= 0 ? json_real(sr) : json_null());
            json_object_set_new(o, "mtls", mtls >= 0 ? json_real(mtls) : json_null());
            json_object_set_new(
                o, "latency_ms",
                p50 >= 0 ? json_pack("{s:f, s:f, s:f}", "p50", p50, "p95", p95, "p99", p99)
                         : json_null());
            json_object_set_new(o, "tcp_connections", json_integer((json_int_t)d.tcp_open));
            json_array_append_new(jout, o);
            continue;
        }
        char meshed[32], srs[32], rpss[32], l50[32], l95[32], l99[32], ms[32], nsb[32], tcp[32];
        snprintf(meshed, sizeof(meshed), "%d/%d", rows[r].meshed, rows[r].pods);
        if (sr >= 0)
            snprintf(srs, sizeof(srs), "%.2f%%", sr * 100);
        else
            snprintf(srs, sizeof(srs), "-");
        if (rows[r].meshed > 0)
            snprintf(rpss, sizeof(rpss), "%.1frps", rps);
        else
            snprintf(rpss, sizeof(rpss), "-");
        wf_lm_fmt_ms(p50, l50, sizeof(l50));
        wf_lm_fmt_ms(p95, l95, sizeof(l95));
        wf_lm_fmt_ms(p99, l99, sizeof(l99));
        if (mtls >= 0)
            snprintf(ms, sizeof(ms), "%.0f%%", mtls * 100);
        else
            snprintf(ms, sizeof(ms), "-");
        snprintf(nsb, sizeof(nsb), "%-15.15s ", rows[r].ns);
        if (rows[r].meshed > 0)
            snprintf(tcp, sizeof(tcp), "%.0f", d.tcp_open);
        else
            snprintf(tcp, sizeof(tcp), "-");
        printf("%s%-28s %-7s %-9s %-9s %-12s %-12s %-12s %-6s %s\n", all ? nsb : "", rows[r].name,
               meshed, srs, rpss, l50, l95, l99, ms, tcp);
    }
    if (out) {
        json_dumpf(jout, stdout, JSON_INDENT(2));
        putchar('\n');
    } else if (nrows == 0) {
        fprintf(stderr, "No resources found\n");
    }
    json_decref(jout);
    free(rows);
    json_decref(ws);
    json_decref(pods);
    return WF_CLI_EXIT_OK;
}

int wf_cli_viz_main(int argc, char **argv)
{
    /* Flags may come before the subcommand (weft viz --state-dir D stat ...). */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "stat") != 0)
            continue;
        char *sub = argv[i];
        memmove(&argv[2], &argv[1], (size_t)(i - 1) * sizeof(*argv));
        argv[1] = sub;
        break;
    }
    if (argc >= 2 && strcmp(argv[1], "stat") == 0)
        return wf_lm_viz_stat(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: weft viz stat ...\n\n");
        wf_lm_viz_usage(stdout);
        return WF_CLI_EXIT_OK;
    }
    wf_cli_errorf("viz: %s", argc < 2 ? "missing subcommand (stat)" : "unknown subcommand");
    wf_lm_viz_usage(stderr);
    return WF_CLI_EXIT_USAGE;
}
