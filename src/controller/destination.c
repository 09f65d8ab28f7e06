/*
 * destination.c — `weft-controller destination`: serves Destination.Get and
 * Destination.GetProfile (proto/destination.proto) from cluster state read
 * through a k8s source (the local store, or the API server).
 *
 * Each call is a subscription on a watch (one per target, dst.h). A
 * subscription remembers what its stream was last told — for Get, the
 * sorted (address, content hash) of every endpoint sent; for GetProfile,
 * the hash of the last profile — so a refresh sends only the difference:
 * `remove` for endpoints gone, `add` for endpoints new or changed (an add
 * replaces by address), `no_endpoints` when the set becomes empty. The
 * first message goes out as soon as the call arrives (or, before the
 * initial list is done, as soon as it is).
 *
 * Thread: everything on the main loop (ctl.h).
 */
#include "destination.h"

#include "dst.h"

#include "core/log.h"
#include "destination.pb-c.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define GET_PATH "/weft.destination.Destination/Get"
#define PROFILE_PATH "/weft.destination.Destination/GetProfile"
/* Endpoints per add/remove message: keeps messages far below any peer's
 * 4 MiB receive limit for services with thousands of endpoints. */
#define DST_BATCH 500
#define DST_GAUGE_MS 1000

enum { M_GET, M_PROFILE };
static const char *const method_names[2] = {"Get", "GetProfile"};
static const char *const kind_names[DST_NKINDS] = {"namespace", "pod", "service", "endpointslice"};

static wf_metric_family_t fam_streams_open = {
    "destination_streams_open", "Destination streams open, by method", WF_METRIC_GAUGE, NULL, 0, 0};
static wf_metric_family_t fam_streams_total = {"destination_streams_total",
                                               "Destination streams started, by method",
                                               WF_METRIC_COUNTER,
                                               NULL,
                                               0,
                                               0};
static wf_metric_family_t fam_updates = {"destination_updates_total",
                                         "Messages sent on destination streams, by method",
                                         WF_METRIC_COUNTER,
                                         NULL,
                                         0,
                                         0};
static wf_metric_family_t fam_invalid = {"destination_invalid_requests_total",
                                         "Requests refused as INVALID_ARGUMENT, by method",
                                         WF_METRIC_COUNTER,
                                         NULL,
                                         0,
                                         0};
static wf_metric_family_t fam_objects = {
    "destination_objects", "Cluster objects cached, by kind", WF_METRIC_GAUGE, NULL, 0, 0};
static wf_metric_family_t fam_source_errors = {
    "destination_source_errors_total",
    "Objects the source skipped as malformed (and failed requests), by kind",
    WF_METRIC_COUNTER,
    NULL,
    0,
    0};

typedef struct sent_ep {
    uint8_t ip[16];
    uint8_t iplen;
    uint16_t port;
    uint64_t hash; /* of everything sent about the endpoint */
} sent_ep_t;

struct dst_sub {
    dst_sub_t *next, *prev;
    dst_t *d;             /* borrowed */
    dst_watch_t *w;       /* borrowed: the watch it is on */
    wf_grpc_call_t *call; /* borrowed until finished */
    int method;           /* M_GET / M_PROFILE */
    uint16_t port;
    bool started;    /* a first message went out */
    int8_t noep;     /* last no_endpoints state sent while empty: -1 none, 0/1 exists */
    sent_ep_t *sent; /* owned: Get, sorted like dst_eps_t */
    size_t nsent;
    uint64_t profile_hash; /* GetProfile: hash of the last profile sent */
};

/* --- per-endpoint content ------------------------------------------------------------ */

typedef struct ep_info {
    wf_dst_labels_t labels;
    bool meshed;
    char identity[2 * WF_K8S_NAME_MAX + 128];
} ep_info_t;

static void ep_info_fill(dst_t *d, const dst_ep_t *ep, ep_info_t *i)
{
    i->labels.n = 0;
    i->meshed = false;
    i->identity[0] = '\0';
    if (ep->pod == NULL)
        return;
    wf_dst_pod_labels(ep->pod, &i->labels);
    if (wf_dst_pod_meshed(ep->pod)) {
        i->meshed = true;
        wf_dst_identity(ep->pod, d->cfg.cp_ns, d->cfg.trust_domain, i->identity,
                        sizeof(i->identity));
    }
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t ep_hash(const dst_ep_t *ep, const ep_info_t *i)
{
    uint64_t h = 1469598103934665603ull;
    uint8_t flags = (uint8_t)(ep->opaque | (i->meshed << 1));
    h = fnv(h, &flags, 1);
    h = fnv(h, i->identity, strlen(i->identity) + 1);
    for (size_t k = 0; k < i->labels.n; k++) {
        h = fnv(h, i->labels.key[k], strlen(i->labels.key[k]) + 1);
        h = fnv(h, i->labels.value[k], strlen(i->labels.value[k]) + 1);
    }
    return h;
}

/* One WeightedAddr and everything it points at (self-referential: never
 * moved once built). */
typedef struct wa_buf {
    Weft__Destination__WeightedAddr wa;
    Weft__Destination__TcpAddress addr;
    Weft__Destination__WeightedAddr__MetricLabelsEntry lab[WF_DST_MAX_LABELS];
    Weft__Destination__WeightedAddr__MetricLabelsEntry *labp[WF_DST_MAX_LABELS];
    Weft__Destination__TlsIdentity tls;
    Weft__Destination__TlsIdentity__DnsLikeIdentity dns;
    Weft__Destination__ProtocolHint hint;
    Weft__Destination__ProtocolHint__H2 h2;
    Weft__Destination__ProtocolHint__Opaque opq;
    Weft__Destination__ProtocolHint__OpaqueTransport ot;
    uint8_t ip[16];
    ep_info_t info;
} wa_buf_t;

static void wa_build(dst_t *d, wa_buf_t *b, const dst_ep_t *ep)
{
    ep_info_fill(d, ep, &b->info);
    weft__destination__weighted_addr__init(&b->wa);
    weft__destination__tcp_address__init(&b->addr);
    memcpy(b->ip, ep->ip, ep->iplen);
    b->addr.ip = (ProtobufCBinaryData){ep->iplen, b->ip};
    b->addr.port = ep->port;
    b->wa.addr = &b->addr;
    b->wa.weight = WF_DST_DEFAULT_WEIGHT;
    for (size_t k = 0; k < b->info.labels.n; k++) {
        weft__destination__weighted_addr__metric_labels_entry__init(&b->lab[k]);
        b->lab[k].key = (char *)b->info.labels.key[k];
        b->lab[k].value = (char *)b->info.labels.value[k];
        b->labp[k] = &b->lab[k];
    }
    b->wa.n_metric_labels = b->info.labels.n;
    b->wa.metric_labels = b->labp;
    if (!b->info.meshed)
        return;
    weft__destination__tls_identity__init(&b->tls);
    weft__destination__tls_identity__dns_like_identity__init(&b->dns);
    b->dns.name = b->info.identity;
    b->tls.strategy_case = WEFT__DESTINATION__TLS_IDENTITY__STRATEGY_DNS_LIKE_IDENTITY;
    b->tls.dns_like_identity = &b->dns;
    b->wa.tls_identity = &b->tls;
    weft__destination__protocol_hint__init(&b->hint);
    if (ep->opaque) {
        /* Opaque to a meshed pod: through its proxy's inbound port, the
         * target port carried in the transport header. */
        weft__destination__protocol_hint__opaque__init(&b->opq);
        weft__destination__protocol_hint__opaque_transport__init(&b->ot);
        b->ot.inbound_port = WF_DST_PROXY_INBOUND_PORT;
        b->hint.protocol_case = WEFT__DESTINATION__PROTOCOL_HINT__PROTOCOL_OPAQUE;
        b->hint.opaque = &b->opq;
        b->hint.opaque_transport = &b->ot;
    } else {
        weft__destination__protocol_hint__h2__init(&b->h2);
        b->hint.protocol_case = WEFT__DESTINATION__PROTOCOL_HINT__PROTOCOL_H2;
        b->hint.h2 = &b->h2;
    }
    b->wa.protocol_hint = &b->hint;
}

/* --- sending ------------------------------------------------------------------------- */

static void sub_send(dst_sub_t *s, const ProtobufCMessage *m)
{
    int rc = wf_grpc_call_send(s->call, m);
    if (rc == 0)
        wf_counter_add(s->d->updates[s->method], 1);
    else if (rc != WF_ECLOSED)
        wf_log_warn("cannot queue a destination update: %s", wf_strerror(rc));
}

static void send_no_endpoints(dst_sub_t *s, bool exists)
{
    Weft__Destination__Update u = WEFT__DESTINATION__UPDATE__INIT;
    Weft__Destination__NoEndpoints ne = WEFT__DESTINATION__NO_ENDPOINTS__INIT;
    ne.exists = exists;
    u.update_case = WEFT__DESTINATION__UPDATE__UPDATE_NO_ENDPOINTS;
    u.no_endpoints = &ne;
    sub_send(s, &u.base);
}

static void send_removes(dst_sub_t *s, const sent_ep_t *const *gone, size_t n)
{
    Weft__Destination__TcpAddress *addrs = calloc(WF_MIN(n, (size_t)DST_BATCH), sizeof(*addrs));
    Weft__Destination__TcpAddress **ptrs = calloc(WF_MIN(n, (size_t)DST_BATCH), sizeof(*ptrs));
    if (addrs == NULL || ptrs == NULL)
        goto out;
    for (size_t off = 0; off < n; off += DST_BATCH) {
        size_t k = WF_MIN(n - off, (size_t)DST_BATCH);
        for (size_t i = 0; i < k; i++) {
            const sent_ep_t *e = gone[off + i];
            weft__destination__tcp_address__init(&addrs[i]);
            addrs[i].ip = (ProtobufCBinaryData){e->iplen, (uint8_t *)e->ip};
            addrs[i].port = e->port;
            ptrs[i] = &addrs[i];
        }
        Weft__Destination__AddrSet set = WEFT__DESTINATION__ADDR_SET__INIT;
        set.n_addrs = k;
        set.addrs = ptrs;
        Weft__Destination__Update u = WEFT__DESTINATION__UPDATE__INIT;
        u.update_case = WEFT__DESTINATION__UPDATE__UPDATE_REMOVE;
        u.remove = &set;
        sub_send(s, &u.base);
    }
out:
    free(addrs);
    free(ptrs);
}

static void send_adds(dst_sub_t *s, const dst_resolved_t *r, const dst_ep_t *const *eps, size_t n)
{
    size_t cap = WF_MIN(n, (size_t)DST_BATCH);
    wa_buf_t *bufs = malloc(cap * sizeof(*bufs));
    Weft__Destination__WeightedAddr **ptrs = calloc(cap, sizeof(*ptrs));
    if (bufs == NULL || ptrs == NULL)
        goto out;
    Weft__Destination__WeightedAddrSet__MetricLabelsEntry lab[2], *labp[2];
    size_t nl = 0;
    const char *lk[2] = {"namespace", "service"};
    const char *lv[2] = {r->ns, r->svc != NULL ? r->svc->name : NULL};
    for (int i = 0; i < 2; i++) {
        if (lv[i] == NULL)
            continue;
        weft__destination__weighted_addr_set__metric_labels_entry__init(&lab[nl]);
        lab[nl].key = (char *)lk[i];
        lab[nl].value = (char *)lv[i];
        labp[nl] = &lab[nl];
        nl++;
    }
    for (size_t off = 0; off < n; off += DST_BATCH) {
        size_t k = WF_MIN(n - off, (size_t)DST_BATCH);
        for (size_t i = 0; i < k; i++) {
            wa_build(s->d, &bufs[i], eps[off + i]);
            ptrs[i] = &bufs[i].wa;
        }
        Weft__Destination__WeightedAddrSet set = WEFT__DESTINATION__WEIGHTED_ADDR_SET__INIT;
        set.n_addrs = k;
        set.addrs = ptrs;
        set.n_metric_labels = nl;
        set.metric_labels = labp;
        Weft__Destination__Update u = WEFT__DESTINATION__UPDATE__INIT;
        u.update_case = WEFT__DESTINATION__UPDATE__UPDATE_ADD;
        u.add = &set;
        sub_send(s, &u.base);
    }
out:
    free(bufs);
    free(ptrs);
}

static int sent_cmp(const sent_ep_t *a, const sent_ep_t *b)
{
    if (a->iplen != b->iplen)
        return a->iplen < b->iplen ? -1 : 1;
    int c = memcmp(a->ip, b->ip, a->iplen);
    if (c != 0)
        return c;
    return a->port < b->port ? -1 : a->port > b->port;
}

/* Get: resolve, diff against what was sent, send the difference. */
static void sub_update_get(dst_sub_t *s)
{
    dst_t *d = s->d;
    dst_eps_t eps = {0};
    dst_resolved_t r;
    dst_resolve(d, s->w, s->port, &r, &eps);
    snprintf(s->w->res_ns, sizeof(s->w->res_ns), "%s", r.ns != NULL ? r.ns : "");

    sent_ep_t *want = eps.n ? malloc(eps.n * sizeof(*want)) : NULL;
    const dst_ep_t **adds = eps.n ? malloc(eps.n * sizeof(*adds)) : NULL;
    const sent_ep_t **gone = s->nsent ? malloc(s->nsent * sizeof(*gone)) : NULL;
    if ((eps.n && (want == NULL || adds == NULL)) || (s->nsent && gone == NULL)) {
        wf_log_error("out of memory computing a destination update");
        goto out;
    }
    ep_info_t info;
    for (size_t i = 0; i < eps.n; i++) {
        ep_info_fill(d, &eps.v[i], &info);
        memcpy(want[i].ip, eps.v[i].ip, 16);
        want[i].iplen = eps.v[i].iplen;
        want[i].port = eps.v[i].port;
        want[i].hash = ep_hash(&eps.v[i], &info);
    }
    /* Merge two sorted lists. */
    size_t i = 0, j = 0, nadd = 0, ngone = 0;
    while (i < eps.n || j < s->nsent) {
        int c = i == eps.n ? 1 : j == s->nsent ? -1 : sent_cmp(&want[i], &s->sent[j]);
        if (c < 0) {
            adds[nadd++] = &eps.v[i++];
        } else if (c > 0) {
            gone[ngone++] = &s->sent[j++];
        } else {
            if (want[i].hash != s->sent[j].hash)
                adds[nadd++] = &eps.v[i];
            i++;
            j++;
        }
    }
    bool had = s->nsent > 0;
    if (ngone > 0)
        send_removes(s, gone, ngone);
    if (nadd > 0)
        send_adds(s, &r, adds, nadd);
    if (eps.n == 0) {
        int8_t st = r.exists ? 1 : 0;
        if (!s->started || had || s->noep != st)
            send_no_endpoints(s, r.exists);
        s->noep = st;
    } else {
        s->noep = -1;
    }
    free(s->sent);
    s->sent = want;
    s->nsent = eps.n;
    want = NULL;
    s->started = true;
out:
    free(want);
    free(adds);
    free(gone);
    free(eps.v);
}

/* GetProfile: build the profile; send it when it differs from the last. */
static void sub_update_profile(dst_sub_t *s)
{
    dst_t *d = s->d;
    dst_resolved_t r;
    dst_resolve(d, s->w, s->port, &r, NULL);
    snprintf(s->w->res_ns, sizeof(s->w->res_ns), "%s", r.ns != NULL ? r.ns : "");

    char fqn[2 * WF_DST_LABEL_MAX + 256] = "";
    if (r.svc != NULL)
        snprintf(fqn, sizeof(fqn), "%s.%s.svc.%s", r.svc->name, r.svc->ns, d->cfg.cluster_domain);
    Weft__Destination__DestinationProfile p = WEFT__DESTINATION__DESTINATION_PROFILE__INIT;
    Weft__Destination__RetryBudget rb = WEFT__DESTINATION__RETRY_BUDGET__INIT;
    Weft__Types__Duration ttl = WEFT__TYPES__DURATION__INIT;
    p.fully_qualified_name = fqn;
    p.opaque_protocol = r.profile_opaque;
    /* Linkerd's default budget: retries up to 20 % of requests, at least
     * 10 a second, over a 10 s window. */
    rb.retry_ratio = 0.2f;
    rb.min_retries_per_second = 10;
    ttl.seconds = 10;
    rb.ttl = &ttl;
    p.retry_budget = &rb;
    wa_buf_t *wb = NULL;
    if (r.pod != NULL && (wb = malloc(sizeof(*wb))) != NULL) {
        dst_ep_t ep = {.port = s->port, .pod = r.pod, .opaque = r.profile_opaque};
        memcpy(ep.ip, s->w->t.ip, 16);
        ep.iplen = s->w->t.family == AF_INET ? 4 : 16;
        wa_build(d, wb, &ep);
        p.endpoint = &wb->wa;
    }
    size_t len = protobuf_c_message_get_packed_size(&p.base);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf != NULL) {
        protobuf_c_message_pack(&p.base, buf);
        uint64_t h = fnv(1469598103934665603ull, buf, len);
        if (!s->started || h != s->profile_hash) {
            sub_send(s, &p.base);
            s->profile_hash = h;
            s->started = true;
        }
    }
    free(buf);
    free(wb);
}

static void sub_update(dst_sub_t *s)
{
    if (wf_grpc_call_cancelled(s->call))
        return;
    if (s->method == M_GET)
        sub_update_get(s);
    else
        sub_update_profile(s);
}

/* --- watches and subscriptions --------------------------------------------------------- */

static size_t watch_key(const wf_dst_target_t *t, char *out, size_t outlen)
{
    int n = t->is_ip ? snprintf(out, outlen, "i/%s", t->ip_text)
                     : snprintf(out, outlen, "s/%s/%s", t->ns, t->name);
    return n < 0 ? 0 : (size_t)n;
}

static void refresh_watch(dst_t *d, dst_watch_t *w)
{
    if (d->nsynced < DST_NKINDS)
        return; /* the first messages go out once the initial list is done */
    for (dst_sub_t *s = w->subs; s != NULL; s = s->next)
        sub_update(s);
}

static void flush_cb(wf_loop_t *loop, wf_defer_t *df)
{
    dst_t *d = wf_container_of(df, dst_t, flush_defer);
    wf_hmap_iter_t it;
    wf_hmap_iter_init(&it, &d->dirty);
    for (wf_hmap_entry_t *e; (e = wf_hmap_iter_next(&it)) != NULL;) {
        dst_watch_t *w = wf_hmap_get(&d->watches, (wf_str_t){e->key, e->klen});
        if (w != NULL) /* it may have lost its last stream since */
            refresh_watch(d, w);
    }
    wf_hmap_clear(&d->dirty);
}

static void mark_dirty(dst_t *d, const dst_watch_t *w)
{
    if (wf_hmap_put(&d->dirty, wf_str_from(w->key), (void *)w, NULL) != 0) {
        refresh_watch(d, (dst_watch_t *)w); /* out of memory: refresh now instead */
        return;
    }
    wf_loop_defer(&d->ctl.loop, &d->flush_defer, flush_cb);
}

void dst_refresh(dst_t *d, const char *key)
{
    dst_watch_t *w = wf_hmap_get(&d->watches, wf_str_from(key));
    if (w != NULL)
        mark_dirty(d, w);
}

void dst_refresh_ns(dst_t *d, const char *ns)
{
    wf_hmap_iter_t it;
    wf_hmap_iter_init(&it, &d->watches);
    for (wf_hmap_entry_t *e; (e = wf_hmap_iter_next(&it)) != NULL;) {
        dst_watch_t *w = e->val;
        if (strcmp(w->res_ns, ns) == 0 || (!w->t.is_ip && strcmp(w->t.ns, ns) == 0))
            mark_dirty(d, w);
    }
}

static void refresh_all(dst_t *d)
{
    wf_hmap_iter_t it;
    wf_hmap_iter_init(&it, &d->watches);
    for (wf_hmap_entry_t *e; (e = wf_hmap_iter_next(&it)) != NULL;)
        refresh_watch(d, e->val);
}

/* Unlinks and frees s and finishes its call (the call is gone after). */
static void sub_end(dst_sub_t *s, wf_grpc_status_t status, const char *msg)
{
    dst_t *d = s->d;
    dst_watch_t *w = s->w;
    if (s->prev)
        s->prev->next = s->next;
    else
        w->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (--w->nsubs == 0) {
        wf_hmap_del(&d->watches, wf_str_from(w->key));
        free(w->key);
        free(w);
    }
    wf_gauge_add(d->streams_open[s->method], -1);
    wf_grpc_call_set_data(s->call, NULL);
    wf_grpc_call_finish(s->call, status, msg);
    free(s->sent);
    free(s);
}

static void on_call_cancel(wf_grpc_call_t *call)
{
    dst_sub_t *s = wf_grpc_call_data(call);
    if (s != NULL)
        sub_end(s, WF_GRPC_CANCELLED, NULL);
}

/* Copies s into out (truncated), with bytes outside printable ASCII as '?'. */
static void log_safe(char *out, size_t outlen, const char *s)
{
    size_t i = 0;
    for (; s != NULL && s[i] != '\0' && i + 1 < outlen; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
    out[i] = '\0';
}

static void handle(dst_t *d, wf_grpc_call_t *call, int method)
{
    const Weft__Destination__GetDestination *req =
        (const Weft__Destination__GetDestination *)wf_grpc_call_request(call);
    char err[256];
    wf_dst_target_t t;
    if (req->scheme[0] != '\0' && strcmp(req->scheme, "k8s") != 0) {
        char q[64];
        log_safe(q, sizeof(q), req->scheme);
        snprintf(err, sizeof(err), "unsupported scheme \"%s\" (expected k8s)", q);
        goto invalid;
    }
    if (wf_dst_path_parse(wf_str_from(req->path), wf_str_from(d->cfg.cluster_domain), &t, err,
                          sizeof(err)) != 0)
        goto invalid;

    dst_sub_t *s = calloc(1, sizeof(*s));
    char key[2 * WF_DST_LABEL_MAX + 8];
    size_t klen = watch_key(&t, key, sizeof(key));
    dst_watch_t *w = wf_hmap_get(&d->watches, (wf_str_t){key, klen});
    if (s != NULL && w == NULL) {
        w = calloc(1, sizeof(*w));
        if (w != NULL && (w->key = strdup(key)) != NULL &&
            wf_hmap_put(&d->watches, (wf_str_t){key, klen}, w, NULL) == 0) {
            w->t = t;
        } else {
            if (w != NULL)
                free(w->key);
            free(w);
            w = NULL;
        }
    }
    if (s == NULL || w == NULL) {
        free(s);
        wf_grpc_call_finish(call, WF_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    s->d = d;
    s->w = w;
    s->call = call;
    s->method = method;
    s->port = t.port;
    s->noep = -1;
    s->next = w->subs;
    if (w->subs)
        w->subs->prev = s;
    w->subs = s;
    w->nsubs++;
    wf_grpc_call_set_data(call, s);
    wf_grpc_call_on_cancel(call, on_call_cancel);
    wf_gauge_add(d->streams_open[method], 1);
    wf_counter_add(d->streams_total[method], 1);
    wf_log_debug("%s %s", method_names[method], key);
    if (d->nsynced == DST_NKINDS)
        sub_update(s);
    return;
invalid:
    wf_counter_add(d->invalid[method], 1);
    wf_log_info("%s refused: %s", method_names[method], err);
    wf_grpc_call_finish(call, WF_GRPC_INVALID_ARGUMENT, err);
}

static void handle_get(wf_grpc_server_t *srv, wf_grpc_call_t *call)
{
    handle(wf_container_of(srv, dst_t, grpc), call, M_GET);
}

static void handle_profile(wf_grpc_server_t *srv, wf_grpc_call_t *call)
{
    handle(wf_container_of(srv, dst_t, grpc), call, M_PROFILE);
}

static const wf_grpc_method_t dst_methods[] = {
    {GET_PATH, WF_GRPC_SERVER_STREAM, &weft__destination__get_destination__descriptor,
     &weft__destination__update__descriptor, handle_get},
    {PROFILE_PATH, WF_GRPC_SERVER_STREAM, &weft__destination__get_destination__descriptor,
     &weft__destination__destination_profile__descriptor, handle_profile},
};

/* --- metrics --------------------------------------------------------------------------- */

static void gauges_sync(dst_t *d)
{
    for (int k = 0; k < DST_NKINDS; k++) {
        const wf_k8s_informer_t *inf = d->inf[k];
        if (inf == NULL)
            continue;
        int64_t v = (int64_t)inf->cache.count;
        wf_gauge_add(d->objects[k], v - d->objects_val[k]);
        d->objects_val[k] = v;
        if (inf->errors > d->source_errors_val[k]) {
            wf_counter_add(d->source_errors[k], inf->errors - d->source_errors_val[k]);
            d->source_errors_val[k] = inf->errors;
        }
    }
}

static void gauge_timer_cb(wf_loop_t *loop, wf_timer_t *t)
{
    dst_t *d = wf_container_of(t, dst_t, gauge_timer);
    gauges_sync(d);
    if (!d->ctl.draining)
        wf_timer_start(loop, t, DST_GAUGE_MS);
}

static void metrics_start(dst_t *d)
{
    wf_metrics_register(&fam_streams_open);
    wf_metrics_register(&fam_streams_total);
    wf_metrics_register(&fam_updates);
    wf_metrics_register(&fam_invalid);
    wf_metrics_register(&fam_objects);
    wf_metrics_register(&fam_source_errors);
    char l[64];
    for (int m = 0; m < 2; m++) {
        snprintf(l, sizeof(l), "method=\"%s\"", method_names[m]);
        d->streams_open[m] = wf_metrics_get(d->ctl.shard, &fam_streams_open, wf_str_from(l));
        d->streams_total[m] = wf_metrics_get(d->ctl.shard, &fam_streams_total, wf_str_from(l));
        d->updates[m] = wf_metrics_get(d->ctl.shard, &fam_updates, wf_str_from(l));
        d->invalid[m] = wf_metrics_get(d->ctl.shard, &fam_invalid, wf_str_from(l));
    }
    for (int k = 0; k < DST_NKINDS; k++) {
        snprintf(l, sizeof(l), "kind=\"%s\"", kind_names[k]);
        d->objects[k] = wf_metrics_get(d->ctl.shard, &fam_objects, wf_str_from(l));
        d->source_errors[k] = wf_metrics_get(d->ctl.shard, &fam_source_errors, wf_str_from(l));
    }
    wf_timer_start(&d->ctl.loop, &d->gauge_timer, DST_GAUGE_MS);
}

static void metrics_stop(dst_t *d)
{
    wf_series_t **all[] = {d->streams_open, d->streams_total, d->updates, d->invalid};
    for (size_t a = 0; a < WF_ARRAY_LEN(all); a++)
        for (int m = 0; m < 2; m++)
            if (all[a][m] != NULL)
                wf_metrics_put(d->ctl.shard, all[a][m], 0);
    for (int k = 0; k < DST_NKINDS; k++) {
        if (d->objects[k] != NULL)
            wf_metrics_put(d->ctl.shard, d->objects[k], 0);
        if (d->source_errors[k] != NULL)
            wf_metrics_put(d->ctl.shard, d->source_errors[k], 0);
    }
}

/* --- serving and shutdown ---------------------------------------------------------------- */

/* The gRPC server: mTLS with our mesh identity when configured (the
 * proxies check it is us), else plaintext. */
static int dst_serve(dst_t *d, char *err, size_t errlen)
{
    wf_grpc_server_init(&d->grpc, &d->ctl.loop, dst_methods, WF_ARRAY_LEN(dst_methods), NULL);
    if (wf_mtls_on(&d->mtls)) {
        d->grpc.wrap = wf_mtls_wrap;
        d->grpc.wrap_arg = &d->mtls;
    }
    int rc = wf_grpc_server_listen(&d->grpc, &d->cfg.addr);
    if (rc != 0) {
        char a[WF_ADDR_STRLEN];
        wf_addr_format(&d->cfg.addr, a, sizeof(a));
        snprintf(err, errlen, "cannot listen on %s: %s", a, wf_strerror(rc));
    }
    return rc;
}

/* Ready once synced and, with mTLS, certified (checked every 100 ms until). */
static void update_ready(dst_t *d)
{
    if (d->ctl.draining || !d->synced)
        return;
    if (wf_mtls_ready(&d->mtls))
        d->ctl.ready = true;
    else
        wf_timer_start(&d->ctl.loop, &d->ready_timer, 100);
}

static void ready_timer_cb(wf_loop_t *loop, wf_timer_t *t)
{
    update_ready(wf_container_of(t, dst_t, ready_timer));
}

static void on_state_ready(dst_t *d)
{
    gauges_sync(d);
    d->synced = true;
    update_ready(d);
    wf_log_info("cluster state synced: %u namespaces, %u pods, %u services, %u endpoint slices",
                d->inf[DST_NS]->cache.count, d->inf[DST_POD]->cache.count,
                d->inf[DST_SVC]->cache.count, d->inf[DST_SLICE]->cache.count);
    refresh_all(d); /* streams that arrived before the list was done */
}

static void dst_drain(wf_ctl_t *ctl)
{
    dst_t *d = wf_container_of(ctl, dst_t, ctl);
    if (d->grpc.listen_fd >= 0) {
        wf_watch_stop(&ctl->loop, &d->grpc.listen_watch);
        close(d->grpc.listen_fd);
        d->grpc.listen_fd = -1;
    }
}

static void end_all_subs(dst_t *d, wf_grpc_status_t status, const char *msg)
{
    while (d->watches.count > 0) {
        wf_hmap_iter_t it;
        wf_hmap_iter_init(&it, &d->watches);
        dst_watch_t *w = wf_hmap_iter_next(&it)->val;
        while (w->nsubs > 1)
            sub_end(w->subs, status, msg);
        sub_end(w->subs, status, msg); /* frees w */
    }
}

static void dst_close(wf_ctl_t *ctl)
{
    dst_t *d = wf_container_of(ctl, dst_t, ctl);
    /* Streams never end on their own: end them so proxies reconnect to
     * another replica, then GOAWAY every connection. */
    end_all_subs(d, WF_GRPC_UNAVAILABLE, "the destination service is shutting down");
    wf_grpc_server_close(&d->grpc);
    wf_timer_stop(&ctl->loop, &d->gauge_timer);
}

/* --- flags ------------------------------------------------------------------------------- */

static const char dst_usage[] =
    "usage: weft-controller destination (--store DIR | --kubeconfig FILE | --kubernetes) "
    "[flags]\n"
    "\n"
    "Serves Destination.Get (endpoints of a Service or an IP, as add/remove updates) and\n"
    "Destination.GetProfile (fully qualified name, opaque protocol, retry budget) from\n"
    "cluster state.\n"
    "\n"
    "  --store DIR                 read objects from the local store `weft up` maintains\n"
    "  --kubeconfig FILE           read objects from the Kubernetes API (kubeconfig's\n"
    "                              current context)\n"
    "  --kubernetes                read objects from the Kubernetes API with in-cluster\n"
    "                              credentials\n"
    "  --addr ADDR                 gRPC listen address (default 0.0.0.0:8086)\n"
    "  --cluster-domain NAME       cluster domain of Service names (default cluster.local)\n"
    "  --trust-domain NAME         trust domain in identities (default cluster.local)\n"
    "  --control-plane-ns NAME     control plane namespace in identities (default linkerd)\n"
    WF_MTLS_USAGE
    "\n" WF_CTL_COMMON_USAGE "  (the destination admin address defaults to 0.0.0.0:9996)\n";

enum {
    OPT_STORE = WF_CTL_OPT_SUB,
    OPT_KUBECONFIG,
    OPT_KUBERNETES,
    OPT_ADDR,
    OPT_CLUSTER_DOMAIN,
    OPT_TRUST_DOMAIN,
    OPT_CP_NS,
};

#define usage_error(...) wf_ctl_usage_error("destination", __VA_ARGS__)

static int parse_flags(int argc, char **argv, wf_ctl_cfg_t *common, dst_cfg_t *cfg,
                       wf_mtls_t *mtls)
{
    static const struct option opts[] = {
        {"store", required_argument, NULL, OPT_STORE},
        {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
        {"kubernetes", no_argument, NULL, OPT_KUBERNETES},
        {"addr", required_argument, NULL, OPT_ADDR},
        {"cluster-domain", required_argument, NULL, OPT_CLUSTER_DOMAIN},
        {"trust-domain", required_argument, NULL, OPT_TRUST_DOMAIN},
        {"control-plane-ns", required_argument, NULL, OPT_CP_NS},
        WF_MTLS_OPTIONS,
        WF_CTL_COMMON_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    wf_ctl_cfg_defaults(common);
    wf_addr_parse(&common->admin_addr, WF_STR("0.0.0.0:9996"));
    *cfg = (dst_cfg_t){
        .cluster_domain = "cluster.local", .trust_domain = "cluster.local", .cp_ns = "linkerd"};
    wf_addr_parse(&cfg->addr, WF_STR("0.0.0.0:8086"));
    opterr = 0;
    optind = 1;
    int c;
    char err[256];
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case OPT_STORE:
            cfg->store = optarg;
            break;
        case OPT_KUBECONFIG:
            cfg->kubeconfig = optarg;
            break;
        case OPT_KUBERNETES:
            cfg->in_cluster = true;
            break;
        case OPT_ADDR:
            if (wf_addr_parse(&cfg->addr, wf_str_from(optarg)) != 0)
                return usage_error("--addr: invalid address \"%s\" (expected IP:PORT)", optarg);
            break;
        case OPT_CLUSTER_DOMAIN:
        case OPT_TRUST_DOMAIN: {
            size_t n = strlen(optarg);
            if (n > 0 && optarg[n - 1] == '.')
                optarg[n - 1] = '\0'; /* "cluster.local." is the same domain */
            if (!wf_ctl_dns_name(optarg))
                return usage_error("domain \"%s\" is not a DNS name", optarg);
            if (c == OPT_CLUSTER_DOMAIN)
                cfg->cluster_domain = optarg;
            else
                cfg->trust_domain = optarg;
            break;
        }
        case OPT_CP_NS:
            if (!wf_ctl_dns_name(optarg) || strchr(optarg, '.') != NULL)
                return usage_error("--control-plane-ns: \"%s\" is not a DNS-1123 label", optarg);
            cfg->cp_ns = optarg;
            break;
        case WF_CTL_OPT_HELP:
            fputs(dst_usage, stdout);
            return -1;
        case ':':
            return usage_error("%s needs a value", argv[optind - 1]);
        case '?':
            return usage_error("unknown flag \"%s\"", argv[optind - 1]);
        default:
            if (wf_mtls_flag(mtls, c, optarg) == 0)
                break;
            if (wf_ctl_cfg_apply(common, c, optarg, err, sizeof(err)) != 0)
                return usage_error("%s", err);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    int rc = wf_mtls_check(mtls, "destination");
    if (rc != 0)
        return rc;
    int nsrc = (cfg->store != NULL) + (cfg->kubeconfig != NULL) + cfg->in_cluster;
    if (nsrc != 1)
        return usage_error("%s", "exactly one of --store, --kubeconfig or --kubernetes is needed");
    return 0;
}

/* --- main -------------------------------------------------------------------------------- */

static int dst_start(dst_t *d, char *err, size_t errlen)
{
    metrics_start(d);
    int rc = wf_mtls_start(&d->mtls, err, errlen);
    if (rc == 0)
        rc = dst_serve(d, err, errlen);
    if (rc != 0)
        return rc;
    if (d->cfg.store != NULL)
        d->src = wf_k8s_local_new(&d->ctl.loop, d->cfg.store, err, errlen);
    else
        d->src = wf_k8s_kube_new(&d->ctl.loop, d->cfg.kubeconfig, err, errlen);
    if (d->src == NULL)
        return WF_EINVAL;
    return dst_state_start(d, on_state_ready, err, errlen);
}

int wf_destination_main(int argc, char **argv)
{
    dst_t *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        fprintf(stderr, "weft-controller destination: out of memory\n");
        return WF_CTL_EXIT_FAIL;
    }
    wf_ctl_cfg_t common;
    int rc = parse_flags(argc, argv, &common, &d->cfg, &d->mtls);
    if (rc != 0) {
        free(d);
        return rc < 0 ? WF_CTL_EXIT_OK : rc;
    }
    d->grpc.listen_fd = -1;
    wf_timer_init(&d->gauge_timer, gauge_timer_cb);
    wf_timer_init(&d->ready_timer, ready_timer_cb);
    d->ctl.on_drain = dst_drain;
    d->ctl.on_close = dst_close;
    char err[768];
    int exit_code = WF_CTL_EXIT_OK;
    if (wf_ctl_init(&d->ctl, &common, "destination", err, sizeof(err)) != 0 ||
        dst_start(d, err, sizeof(err)) != 0) {
        if (wf_log_enabled(WF_LOG_ERROR))
            wf_log_error("cannot start: %s", err);
        else
            fprintf(stderr, "weft-controller destination: %s\n", err);
        exit_code = WF_CTL_EXIT_FAIL;
    } else {
        char a[WF_ADDR_STRLEN], ad[WF_ADDR_STRLEN];
        wf_addr_t bound;
        if (wf_local_addr(d->grpc.listen_fd, &bound) != 0)
            bound = d->cfg.addr;
        wf_addr_format(&bound, a, sizeof(a));
        wf_addr_format(&d->ctl.cfg.admin_addr, ad, sizeof(ad));
        wf_log_info("weft-controller %s destination serving on %s%s%s (admin %s) from %s %s; "
                    "cluster domain %s, trust domain %s, control plane ns %s",
                    WEFT_VERSION, a, wf_mtls_on(&d->mtls) ? " with mTLS as " : " (plaintext)",
                    wf_mtls_on(&d->mtls) ? d->mtls.name : "", ad, d->src->ops->name,
                    d->cfg.store != NULL        ? d->cfg.store
                    : d->cfg.kubeconfig != NULL ? d->cfg.kubeconfig
                                                : "(in-cluster)",
                    d->cfg.cluster_domain, d->cfg.trust_domain, d->cfg.cp_ns);
        wf_ctl_run(&d->ctl);
        wf_log_info("drained; exiting");
    }
    if (d->grpc.loop != NULL) {
        end_all_subs(d, WF_GRPC_UNAVAILABLE, "shutting down");
        wf_grpc_server_close(&d->grpc);
        wf_loop_run_once(&d->ctl.loop, 0);
    }
    wf_hmap_clear(&d->watches);
    wf_hmap_clear(&d->dirty);
    if (d->ctl.loop_ok) {
        wf_timer_stop(&d->ctl.loop, &d->gauge_timer);
        wf_timer_stop(&d->ctl.loop, &d->ready_timer);
    }
    wf_mtls_free(&d->mtls);
    dst_state_free(d);
    metrics_stop(d);
    wf_ctl_destroy(&d->ctl);
    free(d);
    return exit_code;
}
