/*
 * kube.c — the Kubernetes API server as a cluster-state source: list +
 * watch over HTTPS with libcurl's multi interface, driven by our loop
 * (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION), objects parsed with jansson.
 *
 * Per informer, the API conventions (kubernetes.io/docs/reference/
 * using-api/api-concepts):
 *   list   GET <path>?limit=500[&continue=<token>] page by page; the last
 *          page's metadata.resourceVersion is where the watch starts. The
 *          pages form one relist: objects the cache has that the list did
 *          not return are deleted (wf__k8s_resync_*). A 410 on a page (the
 *          continue token expired) restarts the list from the first page.
 *   watch  GET <path>?watch=1&allowWatchBookmarks=true&resourceVersion=<rv>
 *          &timeoutSeconds=<240..360>: one JSON event per line. ADDED /
 *          MODIFIED / DELETED apply and move rv; BOOKMARK only moves rv;
 *          ERROR with code 410 (Gone / Expired), an HTTP 410, or a line
 *          that is not a well-formed event ends the watch and relists. A
 *          watch the server ends normally resumes at once from rv; a
 *          connection error resumes from rv after a backoff.
 *   backoff exponential from 500 ms to 30 s with full jitter (half to all
 *          of the step), reset by a successful list or an event received.
 *
 * Bounded memory: a list page is read whole (at most 256 MiB — the pages
 * are 500 objects), a watch line at most 2 × WF_K8S_OBJ_MAX_BYTES, and
 * objects drop managedFields (object.c) and whatever the informer prunes.
 *
 * Credentials: a kubeconfig's current context (server, certificate-
 * authority[-data], client-certificate[-data] / client-key[-data], token /
 * tokenFile; exec and auth-provider plugins are refused), or in-cluster
 * (KUBERNETES_SERVICE_HOST/PORT and the service account's token and
 * ca.crt; WEFT_K8S_SERVICEACCOUNT_DIR overrides the directory, for tests).
 * A token file is read for every request, so rotated tokens are picked up.
 */
#include "k8s/source.h"

#include "core/buf.h"
#include "core/log.h"
#include "k8s/kube_client.h"
#include "k8s/yaml.h"

#include <curl/curl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define KUBE_PAGE_LIMIT 500
#define KUBE_LIST_MAX (256u * 1024 * 1024)
#define KUBE_LINE_MAX (2u * WF_K8S_OBJ_MAX_BYTES)
#define KUBE_ERRBODY_MAX 4096
#define KUBE_BACKOFF_MIN_MS 500
#define KUBE_BACKOFF_MAX_MS 30000
#define KUBE_CONNECT_TIMEOUT_MS 10000
#define KUBE_LIST_TIMEOUT_MS 120000
#define KUBE_WATCH_MIN_S 240 /* timeoutSeconds: 240..360, spread so watches do not end together */
#define KUBE_WATCH_SPREAD_S 120
#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* The connection settings (kube_client.h; shared with blocking clients). */
typedef wf_k8s_cfg_t kube_cfg_t;

typedef struct kube_source kube_source_t;

/* One socket curl asked us to watch. */
typedef struct kube_sock {
    struct kube_sock *next, *prev; /* the source's live list */
    wf_watch_t watch;
    wf_defer_t defer;  /* frees it after curl removed it */
    kube_source_t *ks; /* borrowed */
    bool started, dead;
} kube_sock_t;

struct kube_source {
    wf_k8s_source_t base;
    kube_cfg_t cfg;
    CURLM *multi; /* owned */
    wf_timer_t curl_timer;
    kube_sock_t *socks; /* owned list */
    uint64_t rng;
};

typedef enum kube_phase { KP_IDLE, KP_LIST, KP_WATCH } kube_phase_t;

/* Per-informer state (wf_k8s_informer_t.impl). */
typedef struct kube_inf {
    wf_k8s_informer_t *inf; /* borrowed: owner */
    kube_source_t *ks;      /* borrowed */
    kube_phase_t phase;
    CURL *easy;                 /* owned: the transfer in flight */
    struct curl_slist *headers; /* owned */
    char *rv;                   /* owned: resourceVersion the watch resumes from */
    char *cont;                 /* owned: continue token of the next list page */
    bool relisting;             /* a relist generation is open */
    bool need_relist;           /* the watch must end in a relist (410, garbage) */
    bool bad_data;              /* ... because of garbage: with a backoff */
    uint64_t watch_events;      /* events on the current watch */
    uint64_t watch_started_ms;
    wf_sbuf_t body;    /* owned: list body / unconsumed watch bytes */
    size_t body_off;   /* watch: bytes of body already consumed */
    unsigned failures; /* consecutive failures, for the backoff */
    wf_timer_t retry_timer;
    char errbuf[CURL_ERROR_SIZE];
} kube_inf_t;

static kube_source_t *kube_of(wf_k8s_source_t *src)
{
    return wf_container_of(src, kube_source_t, base);
}

static void kinf_list(kube_inf_t *ki);
static void kinf_watch(kube_inf_t *ki);
static void check_done(kube_source_t *ks);

/* --- small helpers -------------------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint32_t kube_rand(kube_source_t *ks)
{
    ks->rng ^= ks->rng << 13; /* xorshift64: jitter only, not security */
    ks->rng ^= ks->rng >> 7;
    ks->rng ^= ks->rng << 17;
    return (uint32_t)(ks->rng >> 32);
}

static void set_str(char **dst, const char *src)
{
    free(*dst);
    *dst = src != NULL ? strdup(src) : NULL;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Standard base64 (padding and whitespace tolerated) into out. */
static bool b64_decode(const char *in, wf_sbuf_t *out)
{
    uint32_t acc = 0;
    int bits = 0;
    for (const char *p = in; *p; p++) {
        if (*p == '=' || *p == '\n' || *p == '\r' || *p == ' ')
            continue;
        int v = b64val((unsigned char)*p);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char c = (char)((acc >> bits) & 0xff);
            wf_sbuf_append(out, &c, 1);
        }
    }
    return !out->oom && out->len > 0;
}

static json_t *named(const json_t *list, const char *name)
{
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *e = json_array_get(list, i);
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n != NULL && name != NULL && strcmp(n, name) == 0)
            return e;
    }
    return NULL;
}

/* A kubeconfig path relative to the kubeconfig's own directory. */
static char *kc_path(const char *kubeconfig, const char *p)
{
    if (p == NULL)
        return NULL;
    if (p[0] == '/')
        return strdup(p);
    char tmp[PATH_MAX], out[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", kubeconfig);
    snprintf(out, sizeof(out), "%s/%s", dirname(tmp), p);
    return strdup(out);
}

static void cfg_free(kube_cfg_t *c)
{
    free(c->server);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    free(c->token);
    free(c->token_file);
    wf_sbuf_free(&c->ca_pem);
    wf_sbuf_free(&c->cert_pem);
    wf_sbuf_free(&c->key_pem);
    memset(c, 0, sizeof(*c));
}

static int kubeconfig_load(const char *path, kube_cfg_t *c, char *err, size_t errlen)
{
    char e[256];
    json_t *kc = wf_yaml_load_file(path, e, sizeof(e));
    if (kc == NULL) {
        snprintf(err, errlen, "kubeconfig: %s", e);
        return WF_EINVAL;
    }
    int rc = WF_EINVAL;
    const char *cur = json_string_value(json_object_get(kc, "current-context"));
    json_t *ctx = json_object_get(named(json_object_get(kc, "contexts"), cur), "context");
    const char *cname = json_string_value(json_object_get(ctx, "cluster"));
    const char *uname = json_string_value(json_object_get(ctx, "user"));
    json_t *cl = json_object_get(named(json_object_get(kc, "clusters"), cname), "cluster");
    json_t *us = json_object_get(named(json_object_get(kc, "users"), uname), "user");
    const char *server = json_string_value(json_object_get(cl, "server"));
    if (cur == NULL || ctx == NULL) {
        snprintf(err, errlen, "kubeconfig %s: no current-context, or it is not in contexts", path);
        goto out;
    }
    if (cl == NULL || server == NULL) {
        snprintf(err, errlen, "kubeconfig %s: context %s names no cluster with a server", path,
                 cur);
        goto out;
    }
    if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0) {
        snprintf(err, errlen, "kubeconfig %s: server \"%.100s\" is not an http(s) URL", path,
                 server);
        goto out;
    }
    c->server = strdup(server);
    size_t sl = strlen(c->server);
    while (sl > 0 && c->server[sl - 1] == '/')
        c->server[--sl] = '\0';
    c->ca_file = kc_path(path, json_string_value(json_object_get(cl, "certificate-authority")));
    const char *cad = json_string_value(json_object_get(cl, "certificate-authority-data"));
    if (cad != NULL && !b64_decode(cad, &c->ca_pem)) {
        snprintf(err, errlen, "kubeconfig %s: certificate-authority-data is not base64", path);
        goto out;
    }
    const char *insecure = json_string_value(json_object_get(cl, "insecure-skip-tls-verify"));
    c->insecure = insecure != NULL && strcmp(insecure, "true") == 0;
    if (us != NULL) {
        if (json_object_get(us, "exec") != NULL || json_object_get(us, "auth-provider") != NULL) {
            snprintf(err, errlen,
                     "kubeconfig %s: user %s uses an exec or auth-provider plugin, which weft "
                     "does not run; use a token or a client certificate",
                     path, uname);
            goto out;
        }
        set_str(&c->token, json_string_value(json_object_get(us, "token")));
        c->token_file = kc_path(path, json_string_value(json_object_get(us, "tokenFile")));
        c->cert_file = kc_path(path, json_string_value(json_object_get(us, "client-certificate")));
        c->key_file = kc_path(path, json_string_value(json_object_get(us, "client-key")));
        const char *cd = json_string_value(json_object_get(us, "client-certificate-data"));
        const char *kd = json_string_value(json_object_get(us, "client-key-data"));
        if ((cd != NULL && !b64_decode(cd, &c->cert_pem)) ||
            (kd != NULL && !b64_decode(kd, &c->key_pem))) {
            snprintf(err, errlen, "kubeconfig %s: client certificate/key data is not base64", path);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(kc);
    return rc;
}

static int incluster_load(kube_cfg_t *c, char *err, size_t errlen)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    const char *dir = getenv("WEFT_K8S_SERVICEACCOUNT_DIR");
    if (host == NULL || port == NULL || host[0] == '\0') {
        snprintf(err, errlen,
                 "not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST/PORT "
                 "unset); use --kubeconfig");
        return WF_EINVAL;
    }
    if (dir == NULL)
        dir = KUBE_SA_DIR;
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), strchr(host, ':') != NULL ? "https://[%s]:%s" : "https://%s:%s",
             host, port);
    c->server = strdup(buf);
    snprintf(buf, sizeof(buf), "%s/token", dir);
    c->token_file = strdup(buf);
    snprintf(buf, sizeof(buf), "%s/ca.crt", dir);
    c->ca_file = strdup(buf);
    if (access(c->token_file, R_OK) != 0) {
        snprintf(err, errlen, "cannot read the service account token %s: %s", c->token_file,
                 strerror(errno));
        return WF_EINVAL;
    }
    return 0;
}

/* The bearer token for the next request ("" when there is none). */
static void read_token(const kube_cfg_t *c, char *out, size_t outlen)
{
    out[0] = '\0';
    if (c->token_file != NULL) {
        FILE *f = fopen(c->token_file, "r");
        if (f != NULL) {
            size_t n = fread(out, 1, outlen - 1, f);
            fclose(f);
            out[n] = '\0';
        } else {
            wf_log_warn("kubernetes: cannot read the token file %s: %s", c->token_file,
                        strerror(errno));
        }
    } else if (c->token != NULL) {
        snprintf(out, outlen, "%s", c->token);
    }
    size_t n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
        out[--n] = '\0';
}

/* --- libcurl on our loop ---------------------------------------------------------------- */

static void sock_free_cb(wf_loop_t *loop, wf_defer_t *d)
{
    free(wf_container_of(d, kube_sock_t, defer));
}

static void sock_event_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
    kube_sock_t *s = wf_container_of(w, kube_sock_t, watch);
    if (s->dead)
        return;
    kube_source_t *ks = s->ks;
    int flags = ((events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                ((events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                ((events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
    int running;
    curl_multi_socket_action(ks->multi, w->fd, flags, &running);
    /* curl need not read to EAGAIN: ask epoll again while it is ready. */
    if (!s->dead)
        wf_watch_rearm(loop, &s->watch);
    check_done(ks);
}

static int sock_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    kube_source_t *ks = userp;
    kube_sock_t *s = socketp;
    wf_loop_t *loop = ks->base.loop;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL && !s->dead) {
            if (s->started)
                wf_watch_stop(loop, &s->watch);
            s->dead = true;
            if (s->prev)
                s->prev->next = s->next;
            else
                ks->socks = s->next;
            if (s->next)
                s->next->prev = s->prev;
            curl_multi_assign(ks->multi, fd, NULL);
            wf_loop_defer(loop, &s->defer, sock_free_cb); /* events of this batch may follow */
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return -1;
        s->ks = ks;
        wf_watch_init(&s->watch, fd, sock_event_cb);
        s->next = ks->socks;
        if (ks->socks)
            ks->socks->prev = s;
        ks->socks = s;
        curl_multi_assign(ks->multi, fd, s);
    }
    uint32_t ev = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    int rc;
    if (!s->started) {
        rc = wf_watch_start(loop, &s->watch, ev);
        s->started = rc == 0;
    } else {
        rc = wf_watch_modify(loop, &s->watch, ev);
        if (rc == 0)
            rc = wf_watch_rearm(loop, &s->watch);
    }
    return rc == 0 ? 0 : -1;
}

static void curl_timer_cb(wf_loop_t *loop, wf_timer_t *t)
{
    kube_source_t *ks = wf_container_of(t, kube_source_t, curl_timer);
    int running;
    curl_multi_socket_action(ks->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(ks);
}

static int timer_fn(CURLM *m, long timeout_ms, void *userp)
{
    kube_source_t *ks = userp;
    if (timeout_ms < 0)
        wf_timer_stop(ks->base.loop, &ks->curl_timer);
    else
        wf_timer_start(ks->base.loop, &ks->curl_timer, (uint64_t)timeout_ms);
    return 0;
}

/* --- transfers ----------------------------------------------------------------------------- */

static void kinf_end_transfer(kube_inf_t *ki)
{
    if (ki->easy != NULL) {
        curl_multi_remove_handle(ki->ks->multi, ki->easy);
        curl_easy_cleanup(ki->easy);
        ki->easy = NULL;
    }
    curl_slist_free_all(ki->headers);
    ki->headers = NULL;
}

static void retry_timer_cb(wf_loop_t *loop, wf_timer_t *t)
{
    kube_inf_t *ki = wf_container_of(t, kube_inf_t, retry_timer);
    if (ki->rv == NULL || ki->need_relist)
        kinf_list(ki);
    else
        kinf_watch(ki);
}

/* Tries again after the backoff: a list when there is no rv to resume
 * from (or a relist is needed), else a watch. */
static void kinf_backoff(kube_inf_t *ki)
{
    unsigned step = KUBE_BACKOFF_MIN_MS << WF_MIN(ki->failures, 6u);
    if (step > KUBE_BACKOFF_MAX_MS)
        step = KUBE_BACKOFF_MAX_MS;
    uint64_t delay = step / 2 + kube_rand(ki->ks) % (step / 2 + 1);
    ki->failures++;
    ki->phase = KP_IDLE;
    wf_log_debug("kubernetes: %s: retrying in %llums", ki->inf->res->plural,
                 (unsigned long long)delay);
    wf_timer_start(ki->ks->base.loop, &ki->retry_timer, delay);
}

static size_t path_for(const wf_k8s_resource_t *res, char *out, size_t outlen)
{
    int n = res->group[0] == '\0'
                ? snprintf(out, outlen, "/api/%s/%s", res->version, res->plural)
                : snprintf(out, outlen, "/apis/%s/%s/%s", res->group, res->version, res->plural);
    return n < 0 ? 0 : (size_t)n;
}

static size_t write_cb(char *p, size_t size, size_t n, void *userdata);

static bool kinf_start(kube_inf_t *ki, const char *query, long timeout_ms)
{
    kube_source_t *ks = ki->ks;
    const kube_cfg_t *c = &ks->cfg;
    char path[512], url[4096], tok[8192], hdr[8300];
    path_for(ki->inf->res, path, sizeof(path));
    snprintf(url, sizeof(url), "%s%s?%s", c->server, path, query);
    ki->easy = curl_easy_init();
    if (ki->easy == NULL)
        return false;
    CURL *e = ki->easy;
    read_token(c, tok, sizeof(tok));
    ki->headers = curl_slist_append(ki->headers, "Accept: application/json");
    ki->headers = curl_slist_append(ki->headers, "User-Agent: weft-controller/" WEFT_VERSION);
    if (tok[0] != '\0') {
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", tok);
        ki->headers = curl_slist_append(ki->headers, hdr);
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, ki->headers);
    curl_easy_setopt(e, CURLOPT_PRIVATE, ki);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, ki);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ki->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)KUBE_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
    wf_k8s_curl_tls(e, c);
    ki->body.len = 0;
    ki->body_off = 0;
    ki->errbuf[0] = '\0';
    if (curl_multi_add_handle(ks->multi, e) != CURLM_OK) {
        kinf_end_transfer(ki);
        return false;
    }
    return true;
}

static void kinf_list(kube_inf_t *ki)
{
    char q[3072] = "";
    if (!ki->relisting) {
        wf__k8s_resync_begin(ki->inf);
        ki->relisting = true;
    }
    ki->need_relist = false;
    ki->bad_data = false;
    if (ki->cont != NULL) {
        char *esc = curl_easy_escape(NULL, ki->cont, 0);
        snprintf(q, sizeof(q), "limit=%d&continue=%s", KUBE_PAGE_LIMIT, esc ? esc : "");
        curl_free(esc);
    } else {
        snprintf(q, sizeof(q), "limit=%d", KUBE_PAGE_LIMIT);
    }
    ki->phase = KP_LIST;
    if (!kinf_start(ki, q, KUBE_LIST_TIMEOUT_MS))
        kinf_backoff(ki);
}

static void kinf_watch(kube_inf_t *ki)
{
    char q[1024];
    char *esc = curl_easy_escape(NULL, ki->rv, 0);
    unsigned tmo = KUBE_WATCH_MIN_S + kube_rand(ki->ks) % KUBE_WATCH_SPREAD_S;
    snprintf(q, sizeof(q), "watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u",
             esc ? esc : "", tmo);
    curl_free(esc);
    ki->phase = KP_WATCH;
    ki->watch_events = 0;
    ki->watch_started_ms = now_ms();
    if (!kinf_start(ki, q, (long)(tmo + 60) * 1000))
        kinf_backoff(ki);
}

static long http_status(kube_inf_t *ki)
{
    long code = 0;
    if (ki->easy != NULL)
        curl_easy_getinfo(ki->easy, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

static const char *obj_rv(const json_t *o)
{
    return json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion"));
}

/* One watch event line. false: not a well-formed event (ends the watch). */
static bool watch_line(kube_inf_t *ki, const char *line, size_t len)
{
    wf_k8s_informer_t *inf = ki->inf;
    json_error_t je;
    json_t *ev = json_loadb(line, len, 0, &je);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    if (type == NULL || !json_is_object(obj)) {
        json_decref(ev);
        return false;
    }
    bool ok = true;
    char err[256];
    if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0) {
        wf_k8s_obj_t *o;
        const char *rv = obj_rv(obj);
        if (rv != NULL)
            set_str(&ki->rv, rv);
        if (wf_k8s_obj_from_json(inf->res, json_incref(obj), NULL, &o, err, sizeof(err)) == 0) {
            wf__k8s_apply(inf, o);
        } else {
            inf->errors++;
            wf_log_warn("kubernetes: %s watch: skipping an object: %s", inf->res->plural, err);
        }
    } else if (strcmp(type, "DELETED") == 0) {
        const char *rv = obj_rv(obj);
        json_t *md = json_object_get(obj, "metadata");
        const char *ns = json_string_value(json_object_get(md, "namespace"));
        const char *name = json_string_value(json_object_get(md, "name"));
        if (rv != NULL)
            set_str(&ki->rv, rv);
        if (name != NULL) {
            char key[2 * WF_K8S_NAME_MAX + 2];
            if (wf_k8s_obj_key(inf->res->namespaced ? ns : NULL, name, key, sizeof(key)) <
                sizeof(key))
                wf__k8s_remove(inf, key);
        }
    } else if (strcmp(type, "BOOKMARK") == 0) {
        const char *rv = obj_rv(obj);
        if (rv != NULL)
            set_str(&ki->rv, rv);
    } else if (strcmp(type, "ERROR") == 0) {
        json_int_t code = json_integer_value(json_object_get(obj, "code"));
        const char *msg = json_string_value(json_object_get(obj, "message"));
        wf_log_info("kubernetes: %s watch: error %lld (%.200s); relisting", inf->res->plural,
                    (long long)code, msg != NULL ? msg : "");
        ki->need_relist = true;
        /* Unexpected, or 410 straight after a list (the server cannot
         * keep history even that long): relist after a backoff, not in a
         * tight loop. */
        if (code != 410 || ki->watch_events == 0)
            ki->bad_data = true;
        ok = false;
    } else {
        ok = false;
    }
    if (ok) {
        ki->watch_events++;
        ki->failures = 0;
    }
    json_decref(ev);
    return ok;
}

static size_t write_cb(char *p, size_t size, size_t n, void *userdata)
{
    kube_inf_t *ki = userdata;
    size_t len = size * n;
    long code = http_status(ki);
    if (code != 200) { /* an error Status: keep a little for the log */
        if (ki->body.len < KUBE_ERRBODY_MAX)
            wf_sbuf_append(&ki->body, p, WF_MIN(len, KUBE_ERRBODY_MAX - ki->body.len));
        return len;
    }
    if (ki->phase == KP_LIST) {
        if (ki->body.len + len > KUBE_LIST_MAX) {
            snprintf(ki->errbuf, sizeof(ki->errbuf), "list response larger than %u bytes",
                     KUBE_LIST_MAX);
            return 0;
        }
        wf_sbuf_append(&ki->body, p, len);
        return ki->body.oom ? 0 : len;
    }
    /* Watch: complete lines are events; keep the partial tail. */
    wf_sbuf_append(&ki->body, p, len);
    if (ki->body.oom)
        return 0;
    for (;;) {
        char *start = ki->body.ptr + ki->body_off;
        char *nl = memchr(start, '\n', ki->body.len - ki->body_off);
        if (nl == NULL)
            break;
        size_t ll = (size_t)(nl - start);
        ki->body_off += ll + 1;
        if (ll == 0 || (ll == 1 && start[0] == '\r'))
            continue;
        if (!watch_line(ki, start, ll)) {
            if (!ki->need_relist) {
                ki->need_relist = true;
                ki->bad_data = true;
                ki->inf->errors++;
                wf_log_warn("kubernetes: %s watch: malformed event; relisting",
                            ki->inf->res->plural);
            }
            return 0; /* ends the transfer */
        }
    }
    if (ki->body.len - ki->body_off > KUBE_LINE_MAX) {
        wf_log_warn("kubernetes: %s watch: event longer than %u bytes; relisting",
                    ki->inf->res->plural, KUBE_LINE_MAX);
        ki->need_relist = true;
        ki->bad_data = true;
        return 0;
    }
    if (ki->body_off > 0) { /* compact */
        memmove(ki->body.ptr, ki->body.ptr + ki->body_off, ki->body.len - ki->body_off);
        ki->body.len -= ki->body_off;
        ki->body_off = 0;
    }
    return len;
}

/* A list page arrived whole: apply it; next page, or the end of the list. */
static void list_done(kube_inf_t *ki)
{
    wf_k8s_informer_t *inf = ki->inf;
    json_error_t je;
    json_t *list = json_loadb(ki->body.ptr, ki->body.len, 0, &je);
    json_t *items = json_object_get(list, "items");
    json_t *md = json_object_get(list, "metadata");
    const char *rv = json_string_value(json_object_get(md, "resourceVersion"));
    if (list == NULL || !json_is_array(items) || rv == NULL) {
        inf->errors++;
        wf_log_warn("kubernetes: %s: malformed list response%s%s", inf->res->plural,
                    list == NULL ? ": " : "", list == NULL ? je.text : "");
        json_decref(list);
        set_str(&ki->cont, NULL);
        kinf_backoff(ki);
        return;
    }
    char err[256];
    for (size_t i = 0; i < json_array_size(items); i++) {
        wf_k8s_obj_t *o;
        if (wf_k8s_obj_from_json(inf->res, json_incref(json_array_get(items, i)), NULL, &o, err,
                                 sizeof(err)) == 0) {
            wf__k8s_apply(inf, o);
        } else {
            inf->errors++;
            wf_log_warn("kubernetes: %s list: skipping an object: %s", inf->res->plural, err);
        }
    }
    const char *cont = json_string_value(json_object_get(md, "continue"));
    set_str(&ki->rv, rv);
    set_str(&ki->cont, cont != NULL && cont[0] != '\0' ? cont : NULL);
    json_decref(list);
    if (ki->cont != NULL) {
        kinf_list(ki);
        return;
    }
    ki->relisting = false;
    ki->failures = 0;
    wf_log_debug("kubernetes: %s listed at resourceVersion %s (%u objects)", inf->res->plural,
                 ki->rv, inf->cache.count);
    wf__k8s_resync_end(inf);
    kinf_watch(ki);
}

static void log_failure(kube_inf_t *ki, const char *what, CURLcode res, long code)
{
    if (res != CURLE_OK)
        wf_log_warn("kubernetes: %s %s failed: %s", ki->inf->res->plural, what,
                    ki->errbuf[0] ? ki->errbuf : curl_easy_strerror(res));
    else
        wf_log_warn("kubernetes: %s %s failed: HTTP %ld %.*s", ki->inf->res->plural, what, code,
                    (int)WF_MIN(ki->body.len, (size_t)300), ki->body.len ? ki->body.ptr : "");
}

static void transfer_done(kube_inf_t *ki, CURLcode res)
{
    long code = http_status(ki);
    kube_phase_t phase = ki->phase;
    const char *what = ki->inf->res->plural;
    if (phase == KP_LIST) {
        if (res == CURLE_OK && code == 200) {
            kinf_end_transfer(ki);
            list_done(ki);
            return;
        }
        kinf_end_transfer(ki);
        if (res == CURLE_OK && code == 410 && ki->cont != NULL) {
            wf_log_info("kubernetes: %s: list continue token expired; listing again", what);
            set_str(&ki->cont, NULL);
            kinf_list(ki);
            return;
        }
        ki->inf->errors++;
        log_failure(ki, "list", res, code);
        set_str(&ki->cont, NULL);
        kinf_backoff(ki);
        return;
    }
    /* The watch ended. */
    kinf_end_transfer(ki);
    if (ki->need_relist) {
        set_str(&ki->cont, NULL);
        if (ki->bad_data) {
            kinf_backoff(ki);
        } else {
            ki->phase = KP_IDLE;
            kinf_list(ki); /* 410: the history is gone; list again now */
        }
        return;
    }
    if (res == CURLE_OK && code == 410) {
        wf_log_info("kubernetes: %s: resourceVersion %s is too old; relisting", what, ki->rv);
        ki->need_relist = true;
        kinf_list(ki);
        return;
    }
    if (res == CURLE_OK && code == 200 &&
        (ki->watch_events > 0 || now_ms() - ki->watch_started_ms >= 1000)) {
        kinf_watch(ki); /* the server's timeoutSeconds: resume at once */
        return;
    }
    ki->inf->errors++;
    log_failure(ki, "watch", res, code);
    kinf_backoff(ki); /* resumes from rv */
}

static void check_done(kube_source_t *ks)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(ks->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        kube_inf_t *ki = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&ki);
        if (ki != NULL && ki->easy == m->easy_handle)
            transfer_done(ki, m->data.result);
    }
}

/* --- the source ------------------------------------------------------------------------------ */

static int kube_start(wf_k8s_source_t *src, wf_k8s_informer_t *inf)
{
    kube_inf_t *ki = calloc(1, sizeof(*ki));
    if (ki == NULL)
        return WF_ENOMEM;
    ki->inf = inf;
    ki->ks = kube_of(src);
    wf_timer_init(&ki->retry_timer, retry_timer_cb);
    inf->impl = ki;
    /* From the loop, never from inside wf_k8s_watch (source.h). */
    return wf_timer_start(src->loop, &ki->retry_timer, 0);
}

static void kube_stop(wf_k8s_source_t *src, wf_k8s_informer_t *inf)
{
    kube_inf_t *ki = inf->impl;
    if (ki == NULL)
        return;
    kinf_end_transfer(ki);
    wf_timer_stop(src->loop, &ki->retry_timer);
    wf_sbuf_free(&ki->body);
    free(ki->rv);
    free(ki->cont);
    free(ki);
    inf->impl = NULL;
}

static void kube_destroy(wf_k8s_source_t *src)
{
    kube_source_t *ks = kube_of(src);
    if (ks->multi != NULL)
        curl_multi_cleanup(ks->multi);
    while (ks->socks != NULL) { /* sockets curl did not remove */
        kube_sock_t *s = ks->socks;
        ks->socks = s->next;
        if (s->started)
            wf_watch_stop(src->loop, &s->watch);
        free(s);
    }
    wf_timer_stop(src->loop, &ks->curl_timer);
    cfg_free(&ks->cfg);
    free(ks);
}

static const wf_k8s_source_ops_t kube_ops = {"kubernetes", kube_start, kube_stop, kube_destroy};

wf_k8s_source_t *wf_k8s_kube_new(wf_loop_t *loop, const char *kubeconfig, char *err, size_t errlen)
{
    static bool curl_ready;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
            snprintf(err, errlen, "libcurl initialisation failed");
            return NULL;
        }
        curl_ready = true;
    }
    kube_source_t *ks = calloc(1, sizeof(*ks));
    if (ks == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ks->base.ops = &kube_ops;
    ks->base.loop = loop;
    ks->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
    wf_timer_init(&ks->curl_timer, curl_timer_cb);
    int rc = kubeconfig != NULL ? kubeconfig_load(kubeconfig, &ks->cfg, err, errlen)
                                : incluster_load(&ks->cfg, err, errlen);
    if (rc == 0 && ks->cfg.server == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = WF_ENOMEM;
    }
    if (rc == 0 && (ks->multi = curl_multi_init()) == NULL) {
        snprintf(err, errlen, "curl_multi_init failed");
        rc = WF_ENOMEM;
    }
    if (rc != 0) {
        kube_destroy(&ks->base);
        return NULL;
    }
    curl_multi_setopt(ks->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(ks->multi, CURLMOPT_SOCKETDATA, ks);
    curl_multi_setopt(ks->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
    curl_multi_setopt(ks->multi, CURLMOPT_TIMERDATA, ks);
    if (ks->cfg.insecure)
        wf_log_warn("kubernetes: insecure-skip-tls-verify is set: the API server's certificate "
                    "is not checked");
    wf_log_info("kubernetes: API server %s", ks->cfg.server);
    return &ks->base;
}

/* --- kube_client.h: the same settings for blocking clients ------------------------------ */

int wf_k8s_cfg_load(const char *kubeconfig, wf_k8s_cfg_t *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    int rc = kubeconfig != NULL ? kubeconfig_load(kubeconfig, c, err, errlen)
                                : incluster_load(c, err, errlen);
    if (rc == 0 && c->server == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = WF_ENOMEM;
    }
    if (rc != 0)
        cfg_free(c);
    return rc;
}

void wf_k8s_cfg_free(wf_k8s_cfg_t *c)
{
    cfg_free(c);
}

void wf_k8s_curl_tls(CURL *e, const wf_k8s_cfg_t *c)
{
    if (c->ca_file != NULL)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    if (c->ca_pem.len > 0) {
        struct curl_blob b = {c->ca_pem.ptr, c->ca_pem.len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
    }
    if (c->cert_file != NULL)
        curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
    if (c->key_file != NULL)
        curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
    if (c->cert_pem.len > 0) {
        struct curl_blob b = {c->cert_pem.ptr, c->cert_pem.len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (c->key_pem.len > 0) {
        struct curl_blob b = {c->key_pem.ptr, c->key_pem.len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (c->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

void wf_k8s_cfg_token(const wf_k8s_cfg_t *c, char *out, size_t outlen)
{
    read_token(c, out, outlen);
}
