/*
 * discovery.c — see discovery.h. The cache is a short list of targets (a
 * sidecar talks to few destinations); a hash table replaces it when a
 * profile shows lookups mattering.
 */
#include "discovery.h"

#include "core/log.h"
#include "core/rand.h"
#include "destination.pb-c.h"
#include "grpc/grpc.h"
#include "mesh/identity_client.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define GET_PATH "/weft.destination.Destination/Get"
#define TICK_MS 500
#define IDLE_EVICT_MS 60000
/* Reconnects: 250 ms doubling to 2 s, each jittered down by up to a half
 * (a restarted controller is not met by every proxy in the same tick). A
 * low cap: one attempt per proxy every 1-2 s is cheap for the controller,
 * and updates resume within about 3 s of its return. */
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 2000
#define MAX_ENDPOINTS 4096
/* How long a first answer may take before askers give up waiting (the
 * control plane may be away): they fail then (WF_DST_UNAVAILABLE). */
#define PENDING_MAX_MS 3000

typedef struct dst_ep {
    wf_addr_t addr; /* the endpoint's application address */
    uint16_t inbound_port; /* opaque transport hint: the proxy's port; 0: none */
    bool meshed;
    char identity[WF_TLS_ID_MAX + 1];
    char labels[WF_DST_EP_LABELS_MAX]; /* dst_pod="...",... (the set's own ones left out) */
} dst_ep_t;

typedef enum { E_PENDING, E_RESOLVED, E_NO_ENDPOINTS, E_NOT_SERVICE } entry_state_t;

typedef struct dst_entry {
    struct dst_entry *next;
    char path[WF_DST_PATH_MAX + 1]; /* what is asked: "ip:port" or "name:port" */
    entry_state_t state;
    dst_ep_t *eps; /* owned */
    size_t neps, cap;
    uint64_t waiters;       /* workers to wake on the next answer (bit per worker) */
    uint64_t last_used_ms;  /* CLOCK_MONOTONIC */
    uint64_t created_ms;
    wf_grpc_ccall_t *call;  /* discovery thread only */
    bool fresh_stream;      /* its next answer replaces the set (a stream (re)started) */
    struct wf_discovery *owner;
    char labels[WF_DST_LABELS_MAX]; /* dst_* labels of the set, rendered */
} dst_entry_t;

struct wf_discovery {
    const wf_proxy_config_t *cfg; /* borrowed */
    pthread_t thread;
    bool started, loop_ok;
    wf_loop_t loop;
    _Atomic bool stop;
    wf_timer_t tick;
    wf_grpc_channel_t *ch;
    uint64_t backoff_ms, next_connect_ms;
    /* mTLS to the service (WEFT_PROXY_DESTINATION_SVC_NAME set and identity
     * on): this thread's client context, following the proxy's identity. */
    wf_identity_t *identity; /* borrowed; NULL: plaintext */
    wf_tls_ctx_t *tls;       /* owned */
    uint64_t tls_gen;
    /* When the service was first found unreachable since it last answered
     * (0: it answers). Once that is longer ago than PENDING_MAX_MS, a
     * target never resolved fails at once instead of waiting (a start-up
     * race with the controller still gets the usual wait). Guarded by mu. */
    uint64_t away_since_ms;
    wf_loop_t **wake; /* borrowed: workers' loops */
    uint32_t nwake;

    pthread_mutex_t mu; /* guards the list and every entry's fields but call */
    dst_entry_t *entries;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- answers (discovery thread, mu held) -------------------------------------------- */

static bool tcp_addr(const Weft__Destination__TcpAddress *a, wf_addr_t *out)
{
    if (a == NULL || a->port == 0 || a->port > 65535)
        return false;
    memset(out, 0, sizeof(*out));
    if (a->ip.len == 4) {
        out->u.in.sin_family = AF_INET;
        memcpy(&out->u.in.sin_addr, a->ip.data, 4);
        out->u.in.sin_port = htons((uint16_t)a->port);
        out->len = sizeof(out->u.in);
        return true;
    }
    if (a->ip.len == 16) {
        out->u.in6.sin6_family = AF_INET6;
        memcpy(&out->u.in6.sin6_addr, a->ip.data, 16);
        out->u.in6.sin6_port = htons((uint16_t)a->port);
        out->len = sizeof(out->u.in6);
        return true;
    }
    return false;
}

static dst_ep_t *ep_find(dst_entry_t *e, const wf_addr_t *a)
{
    for (size_t i = 0; i < e->neps; i++)
        if (wf_addr_eq(&e->eps[i].addr, a))
            return &e->eps[i];
    return NULL;
}

/* A label value as the destination service sent it, kept only if it is
 * safe to render as-is (Kubernetes names are: [a-z0-9.-]). */
static bool label_value_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* Appends one label as dst_<key>="<value>" to out (length *n) unless
 * `skip` (the set's labels, rendered) already has its key; one that is
 * unsafe to render or does not fit is left out, whole. */
static void add_label(char *out, size_t outlen, size_t *n, const char *k, const char *v,
                      const char *skip)
{
    if (k == NULL || v == NULL || !label_value_ok(k) || !label_value_ok(v))
        return;
    char key[72];
    snprintf(key, sizeof(key), "dst_%s=", k);
    if (skip != NULL && strstr(skip, key) != NULL)
        return;
    int w = snprintf(out + *n, outlen - *n, "%s%s\"%s\"", *n ? "," : "", key, v);
    if (w < 0 || (size_t)w >= outlen - *n)
        out[*n] = '\0';
    else
        *n += (size_t)w;
}

static void apply_add(dst_entry_t *e, const Weft__Destination__WeightedAddrSet *set)
{
    if (set->n_metric_labels > 0) {
        size_t n = 0;
        e->labels[0] = '\0';
        for (size_t i = 0; i < set->n_metric_labels; i++)
            add_label(e->labels, sizeof(e->labels), &n, set->metric_labels[i]->key,
                      set->metric_labels[i]->value, NULL);
    }
    for (size_t i = 0; i < set->n_addrs; i++) {
        const Weft__Destination__WeightedAddr *wa = set->addrs[i];
        dst_ep_t ep = {0};
        if (!tcp_addr(wa->addr, &ep.addr))
            continue;
        const Weft__Destination__TlsIdentity *ti = wa->tls_identity;
        if (ti != NULL && ti->strategy_case == WEFT__DESTINATION__TLS_IDENTITY__STRATEGY_DNS_LIKE_IDENTITY &&
            ti->dns_like_identity != NULL && ti->dns_like_identity->name[0] != '\0' &&
            strlen(ti->dns_like_identity->name) <= WF_TLS_ID_MAX) {
            ep.meshed = true;
            snprintf(ep.identity, sizeof(ep.identity), "%s", ti->dns_like_identity->name);
        }
        size_t nl = 0;
        for (size_t j = 0; j < wa->n_metric_labels; j++)
            add_label(ep.labels, sizeof(ep.labels), &nl, wa->metric_labels[j]->key,
                      wa->metric_labels[j]->value, e->labels);
        const Weft__Destination__ProtocolHint *ph = wa->protocol_hint;
        if (ph != NULL && ph->opaque_transport != NULL && ph->opaque_transport->inbound_port > 0 &&
            ph->opaque_transport->inbound_port <= 65535)
            ep.inbound_port = (uint16_t)ph->opaque_transport->inbound_port;
        dst_ep_t *have = ep_find(e, &ep.addr);
        if (have != NULL) {
            *have = ep;
            continue;
        }
        if (e->neps == e->cap) {
            if (e->cap >= MAX_ENDPOINTS)
                continue;
            size_t cap = e->cap ? e->cap * 2 : 4;
            dst_ep_t *g = realloc(e->eps, cap * sizeof(*g));
            if (g == NULL)
                continue;
            e->eps = g;
            e->cap = cap;
        }
        e->eps[e->neps++] = ep;
    }
    e->state = e->neps > 0 ? E_RESOLVED : E_NO_ENDPOINTS;
}

static void apply_remove(dst_entry_t *e, const Weft__Destination__AddrSet *set)
{
    for (size_t i = 0; i < set->n_addrs; i++) {
        wf_addr_t a;
        dst_ep_t *ep = tcp_addr(set->addrs[i], &a) ? ep_find(e, &a) : NULL;
        if (ep != NULL)
            *ep = e->eps[--e->neps];
    }
    if (e->neps == 0)
        e->state = E_NO_ENDPOINTS;
}

static void wake_waiters(wf_discovery_t *d, dst_entry_t *e)
{
    for (uint32_t i = 0; i < d->nwake && i < 64; i++)
        if (e->waiters & (1ull << i))
            wf_loop_wake(d->wake[i]);
    e->waiters = 0;
}

static void on_update(wf_grpc_ccall_t *cc, const ProtobufCMessage *msg)
{
    dst_entry_t *e = wf_grpc_ccall_data(cc);
    wf_discovery_t *d = e->owner;
    const Weft__Destination__Update *u = (const Weft__Destination__Update *)msg;
    pthread_mutex_lock(&d->mu);
    switch (u->update_case) {
    case WEFT__DESTINATION__UPDATE__UPDATE_ADD:
        if (e->fresh_stream)
            e->neps = 0; /* the stream's first answer is the whole set */
        apply_add(e, u->add);
        break;
    case WEFT__DESTINATION__UPDATE__UPDATE_REMOVE:
        apply_remove(e, u->remove);
        break;
    case WEFT__DESTINATION__UPDATE__UPDATE_NO_ENDPOINTS:
        e->neps = 0;
        e->state = u->no_endpoints != NULL && u->no_endpoints->exists ? E_NO_ENDPOINTS
                                                                        : E_NOT_SERVICE;
        break;
    default:
        break;
    }
    e->fresh_stream = false;
    d->backoff_ms = 0; /* it answers: the next loss starts the backoff again */
    d->away_since_ms = 0;
    wake_waiters(d, e);
    pthread_mutex_unlock(&d->mu);
}

static void on_stream_done(wf_grpc_ccall_t *cc, wf_grpc_status_t status, wf_str_t message)
{
    dst_entry_t *e = wf_grpc_ccall_data(cc);
    wf_discovery_t *d = e->owner;
    e->call = NULL;
    pthread_mutex_lock(&d->mu);
    if (status != WF_GRPC_OK && status != WF_GRPC_UNAVAILABLE && status != WF_GRPC_CANCELLED &&
        status != WF_GRPC_DEADLINE_EXCEEDED) {
        /* The service refused the question (a malformed path...): this
         * target is not for discovery; forward. */
        wf_log_info("discovery: %s: status %d: %.*s; forwarding to it as is", e->path, (int)status,
                    (int)WF_MIN(message.len, 200), message.ptr);
        e->state = E_NOT_SERVICE;
        wake_waiters(d, e);
    }
    pthread_mutex_unlock(&d->mu);
    /* Otherwise the stream restarts at the next tick; its data stays. */
}

/* --- streams (discovery thread) ------------------------------------------------------ */

static void stream_start(wf_discovery_t *d, dst_entry_t *e)
{
    Weft__Destination__GetDestination req = WEFT__DESTINATION__GET_DESTINATION__INIT;
    req.scheme = "k8s";
    req.path = e->path;
    req.context_token = (char *)(d->cfg->destination_context ? d->cfg->destination_context : "");
    static const wf_grpc_ccall_cbs_t cbs = {on_update, on_stream_done};
    int err;
    e->fresh_stream = true;
    e->call = wf_grpc_call_start(d->ch, GET_PATH, WF_GRPC_SERVER_STREAM, &req.base,
                                 &weft__destination__update__descriptor, 0, &cbs, e, &err);
}

/* The service is away: when to try again. */
static void backoff(wf_discovery_t *d, uint64_t now)
{
    d->backoff_ms = d->backoff_ms ? WF_MIN(d->backoff_ms * 2, (uint64_t)BACKOFF_MAX_MS)
                                  : BACKOFF_MIN_MS;
    uint64_t wait = d->backoff_ms - wf_rand32() % (d->backoff_ms / 2 + 1);
    d->next_connect_ms = now + wait;
    pthread_mutex_lock(&d->mu);
    if (d->away_since_ms == 0)
        d->away_since_ms = now;
    pthread_mutex_unlock(&d->mu);
}

/* grpc channel hook: TLS to the service, which must prove
 * WEFT_PROXY_DESTINATION_SVC_NAME; we present our own certificate. */
static wf_io_t *tls_wrap(void *arg, wf_io_t *sock)
{
    wf_discovery_t *d = arg;
    const char *why = NULL;
    wf_io_t *io =
        wf_tls_io_new_client(d->tls, sock, wf_str_from(d->cfg->destination_svc_name), &why);
    if (io == NULL) {
        wf_log_warn("discovery: cannot start TLS: %s", why);
        wf_io_destroy(sock);
    }
    return io;
}

static void channel_connect(wf_discovery_t *d, uint64_t now)
{
    if (now < d->next_connect_ms)
        return;
    wf_addr_t addr;
    int err = wf_addr_resolve(&addr, wf_str_from(d->cfg->destination_svc_addr));
    if (err == 0 && d->identity != NULL) {
        static const wf_str_t alpn[] = {{"h2", 2}};
        if (wf_identity_tls_ctx(d->identity, &d->tls, &d->tls_gen, false, alpn, 1) == NULL)
            return; /* no certificate yet: the next tick tries again */
        d->ch = wf_grpc_channel_connect_wrapped(&d->loop, &addr,
                                                wf_str_from(d->cfg->destination_svc_name),
                                                tls_wrap, d, NULL, &err);
    } else if (err == 0) {
        d->ch = wf_grpc_channel_connect(&d->loop, &addr, NULL, &err);
    }
    if (d->ch == NULL) {
        backoff(d, now);
        wf_log_warn("discovery: cannot reach the destination service at %s: %s (retry in %llums)",
                    d->cfg->destination_svc_addr, wf_strerror(err),
                    (unsigned long long)d->backoff_ms);
    }
}

/* Starts what is missing, evicts what is idle. */
static void sync_streams(wf_discovery_t *d)
{
    uint64_t now = mono_ms();
    if (d->ch != NULL && !wf_grpc_channel_ok(d->ch)) {
        wf_grpc_channel_close(d->ch); /* its calls end CANCELLED without callbacks */
        d->ch = NULL;
        pthread_mutex_lock(&d->mu);
        for (dst_entry_t *e = d->entries; e != NULL; e = e->next)
            e->call = NULL;
        pthread_mutex_unlock(&d->mu);
        backoff(d, now);
        wf_log_warn("discovery: lost the destination service; serving cached answers, "
                    "reconnecting in %llums",
                    (unsigned long long)d->backoff_ms);
    }
    if (d->ch == NULL)
        channel_connect(d, now);
    pthread_mutex_lock(&d->mu);
    for (dst_entry_t **pp = &d->entries; *pp != NULL;) {
        dst_entry_t *e = *pp;
        if (now - e->last_used_ms > IDLE_EVICT_MS && e->waiters == 0) {
            if (e->call != NULL)
                wf_grpc_ccall_cancel(e->call);
            *pp = e->next;
            free(e->eps);
            free(e);
            continue;
        }
        if (e->call == NULL && d->ch != NULL && e->state != E_NOT_SERVICE)
            stream_start(d, e);
        if (e->state == E_PENDING && e->waiters != 0 && now - e->created_ms >= PENDING_MAX_MS)
            wake_waiters(d, e); /* they stop waiting (pick answers UNAVAILABLE now) */
        pp = &e->next;
    }
    pthread_mutex_unlock(&d->mu);
}

static void tick_cb(wf_loop_t *loop, wf_timer_t *t)
{
    wf_discovery_t *d = wf_container_of(t, wf_discovery_t, tick);
    sync_streams(d);
    wf_timer_start(loop, t, TICK_MS);
}

static void on_wake(wf_loop_t *loop)
{
    wf_discovery_t *d = wf_container_of(loop, wf_discovery_t, loop);
    if (!atomic_load(&d->stop)) {
        sync_streams(d); /* a new target was asked for */
        return;
    }
    wf_timer_stop(loop, &d->tick);
    if (d->ch != NULL)
        wf_grpc_channel_close(d->ch);
    d->ch = NULL;
    wf_loop_stop(loop);
}

static void *discovery_thread(void *arg)
{
    wf_discovery_t *d = arg;
    wf_timer_start(&d->loop, &d->tick, 0);
    on_wake(&d->loop);
    wf_loop_run(&d->loop);
    for (int i = 0; i < 4; i++)
        wf_loop_run_once(&d->loop, 0);
    return NULL;
}

/* --- API ------------------------------------------------------------------------------ */

int wf_discovery_new(wf_discovery_t **out, const wf_proxy_config_t *cfg, char *err, size_t errlen)
{
    *out = NULL;
    if (cfg->destination_svc_addr == NULL)
        return 0;
    wf_discovery_t *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        snprintf(err, errlen, "out of memory");
        return WF_ENOMEM;
    }
    d->cfg = cfg;
    pthread_mutex_init(&d->mu, NULL);
    int rc = wf_loop_init(&d->loop);
    if (rc != 0) {
        snprintf(err, errlen, "cannot create the discovery loop: %s", wf_strerror(rc));
        pthread_mutex_destroy(&d->mu);
        free(d);
        return rc;
    }
    d->loop_ok = true;
    d->loop.on_wake = on_wake;
    wf_timer_init(&d->tick, tick_cb);
    *out = d;
    return 0;
}

int wf_discovery_start(wf_discovery_t *d, wf_loop_t **loops, uint32_t nloops,
                       wf_identity_t *identity)
{
    d->wake = loops;
    d->nwake = nloops;
    if (d->cfg->destination_svc_name != NULL && d->cfg->destination_svc_name[0] != '\0')
        d->identity = identity;
    int rc = pthread_create(&d->thread, NULL, discovery_thread, d);
    if (rc != 0)
        return -rc;
    d->started = true;
    return 0;
}

void wf_discovery_free(wf_discovery_t *d)
{
    if (d == NULL)
        return;
    if (d->started) {
        atomic_store(&d->stop, true);
        wf_loop_wake(&d->loop);
        pthread_join(d->thread, NULL);
    }
    wf_tls_ctx_unref(d->tls); /* the thread is gone: no other user */
    if (d->loop_ok)
        wf_loop_destroy(&d->loop);
    while (d->entries != NULL) {
        dst_entry_t *e = d->entries;
        d->entries = e->next;
        free(e->eps);
        free(e);
    }
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static void fill_pick(const dst_ep_t *ep, wf_dst_pick_t *pick)
{
    pick->addr = ep->addr;
    pick->app_port = wf_addr_port(&ep->addr);
    /* The peer proxy's inbound port: from the hint, else Linkerd's 4143. */
    wf_addr_set_port(&pick->addr, ep->inbound_port ? ep->inbound_port : 4143);
    pick->opaque = ep->inbound_port != 0;
    snprintf(pick->identity, sizeof(pick->identity), "%s", ep->identity);
    memcpy(pick->labels, ep->labels, strlen(ep->labels) + 1);
}

wf_dst_result_t wf_discovery_pick2(wf_discovery_t *d, wf_str_t path, uint32_t worker,
                                   wf_dst_pick_t *pick, wf_dst_pick_t *second)
{
    if (path.len == 0 || path.len > WF_DST_PATH_MAX)
        return WF_DST_FORWARD;
    wf_dst_result_t r = WF_DST_FORWARD;
    bool created = false;
    pthread_mutex_lock(&d->mu);
    dst_entry_t *e = d->entries;
    while (e != NULL && !(strlen(e->path) == path.len && memcmp(e->path, path.ptr, path.len) == 0))
        e = e->next;
    if (e == NULL) {
        e = calloc(1, sizeof(*e));
        if (e == NULL) {
            pthread_mutex_unlock(&d->mu);
            return WF_DST_FORWARD;
        }
        memcpy(e->path, path.ptr, path.len);
        e->path[path.len] = '\0';
        e->owner = d;
        e->created_ms = mono_ms();
        e->state = E_PENDING;
        e->next = d->entries;
        d->entries = e;
        created = true;
    }
    e->last_used_ms = mono_ms();
    switch (e->state) {
    case E_PENDING:
        if ((d->away_since_ms != 0 && e->last_used_ms - d->away_since_ms >= PENDING_MAX_MS) ||
            e->last_used_ms - e->created_ms >= PENDING_MAX_MS) {
            r = WF_DST_UNAVAILABLE; /* no answer to wait for, or none in time */
            break;
        }
        if (worker < 64)
            e->waiters |= 1ull << worker;
        r = WF_DST_PENDING;
        break;
    case E_NOT_SERVICE:
        r = WF_DST_FORWARD;
        break;
    case E_NO_ENDPOINTS:
        r = WF_DST_NO_ENDPOINTS;
        break;
    case E_RESOLVED: {
        /* Two distinct endpoints at random (the balancer picks the better
         * one); the first decides whether the destination is meshed. */
        uint32_t rnd[2] = {wf_rand32(), wf_rand32()};
        size_t i = rnd[0] % e->neps, j = i;
        if (e->neps > 1)
            j = (i + 1 + rnd[1] % (e->neps - 1)) % e->neps;
        if (!e->eps[i].meshed) {
            r = WF_DST_FORWARD;
            break;
        }
        fill_pick(&e->eps[i], pick);
        if (second != NULL)
            fill_pick(e->eps[j].meshed ? &e->eps[j] : &e->eps[i], second);
        r = WF_DST_MESHED;
        break;
    }
    }
    pthread_mutex_unlock(&d->mu);
    if (created)
        wf_loop_wake(&d->loop);
    return r;
}

size_t wf_discovery_labels(wf_discovery_t *d, wf_str_t path, char *out, size_t outlen)
{
    size_t n = 0;
    pthread_mutex_lock(&d->mu);
    for (dst_entry_t *e = d->entries; e != NULL; e = e->next) {
        if (strlen(e->path) == path.len && memcmp(e->path, path.ptr, path.len) == 0) {
            n = (size_t)snprintf(out, outlen, "%s", e->labels);
            if (n >= outlen)
                n = 0;
            break;
        }
    }
    pthread_mutex_unlock(&d->mu);
    if (n == 0 && outlen > 0)
        out[0] = '\0';
    return n;
}

wf_dst_result_t wf_discovery_pick(wf_discovery_t *d, const wf_addr_t *target, uint32_t worker,
                                  wf_dst_pick_t *pick)
{
    char path[WF_ADDR_STRLEN];
    size_t n = wf_addr_format(target, path, sizeof(path));
    return wf_discovery_pick2(d, (wf_str_t){path, n}, worker, pick, NULL);
}
