/*
 * worker.c — a worker thread: its own event loop, buffer pool, metrics
 * shard and SO_REUSEPORT listeners for every traffic direction. Workers
 * share nothing; the kernel spreads new connections across their
 * listeners, and a connection lives and dies on the worker that accepted
 * it. The main thread talks to a worker only through wf_worker_drain()
 * (an eventfd wake) and pthread_join.
 */
#include "h1_proxy.h"
#include "h2_proxy.h"
#include "balance.h"
#include "mesh/identity_client.h"
#include "tls/tls_ctx.h"

#include "core/log.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPT_BATCH 64       /* accepts per event before yielding to I/O */
#define HOUSEKEEPING_MS 30000 /* metrics expiry period */

static void listener_cb(wf_loop_t *loop, wf_watch_t *watch, uint32_t events);

static void listener_accept(wf_listener_t *l)
{
    wf_worker_t *w = l->worker;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            wf_pconn_accept(w, l->side, fd, &l->addr);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* The pending connection stays queued and edge-triggered epoll
             * will not report it again: retry on a timer. */
            wf_log_warn("%s: accept failed (%s); retrying in 100ms", l->side->name,
                        strerror(errno));
            wf_timer_start(&w->loop, &l->retry, 100);
            return;
        }
        wf_log_error("%s: accept failed: %s", l->side->name, strerror(errno));
        return;
    }
    /* More may be queued: come back after this iteration's other events. */
    wf_timer_start(&w->loop, &l->retry, 0);
}

static void listener_cb(wf_loop_t *loop, wf_watch_t *watch, uint32_t events)
{
    listener_accept(wf_container_of(watch, wf_listener_t, watch));
}

static void listener_retry_cb(wf_loop_t *loop, wf_timer_t *t)
{
    wf_listener_t *l = wf_container_of(t, wf_listener_t, retry);
    if (l->fd >= 0)
        listener_accept(l);
}

/* Binds one listener; an `optional` one that cannot bind (no IPv6 in the
 * pod) is logged at debug and skipped. */
static int listener_open(wf_worker_t *w, const wf_side_t *side, const wf_addr_t *addr,
                         bool optional)
{
    wf_listener_t *l = &w->listeners[w->nlisteners];
    int err = wf_listen(addr, 4096, true, &l->fd);
    if (err != 0) {
        char a[WF_ADDR_STRLEN];
        wf_addr_format(addr, a, sizeof(a));
        if (optional) {
            wf_log_debug("not listening on %s (%s): %s", a, side->name, wf_strerror(err));
            l->fd = -1;
            return 0;
        }
        wf_log_error("cannot listen on %s (%s): %s", a, side->name, wf_strerror(err));
        return err;
    }
    wf_local_addr(l->fd, &l->addr);
    l->side = side;
    l->worker = w;
    wf_watch_init(&l->watch, l->fd, listener_cb);
    wf_timer_init(&l->retry, listener_retry_cb);
    w->nlisteners++;
    return 0;
}

static void listeners_close(wf_worker_t *w)
{
    for (uint32_t i = 0; i < w->nlisteners; i++) {
        wf_listener_t *l = &w->listeners[i];
        if (l->fd < 0)
            continue;
        wf_watch_stop(&w->loop, &l->watch);
        wf_timer_stop(&w->loop, &l->retry);
        close(l->fd);
        l->fd = -1;
    }
}

static void grace_cb(wf_loop_t *loop, wf_timer_t *t)
{
    wf_worker_t *w = wf_container_of(t, wf_worker_t, grace);
    if (w->nconns > 0)
        wf_log_warn("worker %u: shutdown grace period over; closing %u connections", w->id,
                    w->nconns);
    while (w->conns != NULL)
        wf_pconn_abort(w->conns);
    wf_loop_stop(loop);
}

static void housekeeping_cb(wf_loop_t *loop, wf_timer_t *t)
{
    wf_worker_t *w = wf_container_of(t, wf_worker_t, housekeeping);
    wf_metrics_expire(w->metrics, loop->now, w->proxy->cfg.metrics_retain_idle_ms);
    wf_pool_trim(&w->pool);
    wf_timer_start(loop, t, HOUSEKEEPING_MS);
}

static void worker_on_wake(wf_loop_t *loop)
{
    wf_worker_t *w = wf_container_of(loop, wf_worker_t, loop);
    /* Discovery answered something a connection waits for. */
    for (wf_pconn_t *c = w->conns, *next; c != NULL; c = next) {
        next = wf_pconn_next(c);
        wf_pconn_discovered(c);
    }
    if (!atomic_load(&w->proxy->draining) || w->draining)
        return;
    w->draining = true;
    listeners_close(w);
    wf_h1c_pool_close(w);
    wf_h2c_pool_close(w, false);
    for (wf_pconn_t *c = w->conns, *next; c != NULL; c = next) {
        next = wf_pconn_next(c);
        wf_pconn_drain(c);
    }
    wf_log_info("worker %u: draining %u connections (grace %llums)", w->id, w->nconns,
                (unsigned long long)w->proxy->cfg.shutdown_grace_ms);
    if (w->nconns == 0)
        wf_loop_stop(loop);
    else
        wf_timer_start(loop, &w->grace, w->proxy->cfg.shutdown_grace_ms);
}

int wf_worker_init(wf_worker_t *w, wf_proxy_t *proxy, uint32_t id)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->proxy = proxy;
    int err = wf_loop_init(&w->loop);
    if (err != 0)
        return err;
    w->loop.on_wake = worker_on_wake;
    /* Keep up to 256 free buffers (4 MiB at 16 KiB) for bursts; trimmed
     * back by housekeeping so an idle proxy stays small. */
    wf_pool_init(&w->pool, proxy->cfg.buffer_size, 256);
    w->metrics = wf_metrics_shard_new();
    if (w->metrics == NULL)
        return WF_ENOMEM;
    wf_timer_init(&w->grace, grace_cb);
    wf_timer_init(&w->housekeeping, housekeeping_cb);
    for (uint32_t i = 0; i < WF_MAX_LISTENERS; i++)
        w->listeners[i].fd = -1;

    const wf_proxy_config_t *cfg = &proxy->cfg;
    if ((err = listener_open(w, &proxy->inbound, &cfg->inbound_addr, false)) != 0)
        return err;
    for (uint32_t i = 0; i < cfg->n_outbound_addrs; i++)
        if ((err = listener_open(w, &proxy->outbound, &cfg->outbound_addrs[i], false)) != 0)
            return err;
    if (cfg->ipv6_defaults && w->nlisteners + 2 <= WF_MAX_LISTENERS) {
        wf_addr_t a;
        wf_addr_parse(&a, WF_STR("[::]:0"));
        wf_addr_set_port(&a, wf_addr_port(&cfg->inbound_addr));
        listener_open(w, &proxy->inbound, &a, true);
        wf_addr_parse(&a, WF_STR("[::1]:0"));
        wf_addr_set_port(&a, wf_addr_port(&cfg->outbound_addrs[0]));
        listener_open(w, &proxy->outbound, &a, true);
    }
    return 0;
}

static void *worker_main(void *arg)
{
    wf_worker_t *w = arg;
    for (uint32_t i = 0; i < w->nlisteners; i++) {
        int err = wf_watch_start(&w->loop, &w->listeners[i].watch, EPOLLIN);
        if (err != 0)
            wf_log_error("worker %u: cannot watch listener: %s", w->id, wf_strerror(err));
    }
    wf_timer_start(&w->loop, &w->housekeeping, HOUSEKEEPING_MS);
    worker_on_wake(&w->loop); /* a drain may have been requested already */
    int err = wf_loop_run(&w->loop);
    if (err != 0)
        wf_log_error("worker %u: event loop failed: %s", w->id, wf_strerror(err));
    listeners_close(w);
    while (w->conns != NULL)
        wf_pconn_abort(w->conns);
    wf_h1c_pool_close(w);
    wf_h2c_pool_close(w, true);
    wf_loop_run_once(&w->loop, 0); /* run the deferred frees */
    atomic_store(&w->done, true);
    return NULL;
}

int wf_worker_start(wf_worker_t *w)
{
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    return rc == 0 ? 0 : -rc;
}

void wf_worker_drain(wf_worker_t *w)
{
    wf_loop_wake(&w->loop);
}

void wf_worker_join(wf_worker_t *w)
{
    pthread_join(w->thread, NULL);
    wf_tls_ctx_unref(w->tls_server);
    wf_tls_ctx_unref(w->tls_client);
    wf_balance_free(w);
    w->tls_server = w->tls_client = NULL;
    wf_metrics_shard_free(w->metrics);
    w->metrics = NULL;
    wf_pool_destroy(&w->pool);
    wf_loop_destroy(&w->loop);
}

/* Follows the identity: the worker's contexts hold its current cert.
 * Meshed peers speak the transport ALPN; other clients of the inbound port
 * (an openssl or curl client holding a mesh cert) may offer none. */
static void tls_refresh(wf_worker_t *w)
{
    static const wf_str_t alpn[] = {{WF_TLS_ALPN_TRANSPORT, sizeof(WF_TLS_ALPN_TRANSPORT) - 1}};
    wf_identity_t *id = w->proxy->identity;
    if (id == NULL)
        return;
    wf_identity_tls_ctx(id, &w->tls_server, &w->tls_server_gen, true, alpn, WF_ARRAY_LEN(alpn));
    wf_identity_tls_ctx(id, &w->tls_client, &w->tls_client_gen, false, alpn, WF_ARRAY_LEN(alpn));
}

wf_tls_ctx_t *wf_worker_tls_server(wf_worker_t *w)
{
    tls_refresh(w);
    return w->tls_server;
}

wf_tls_ctx_t *wf_worker_tls_client(wf_worker_t *w)
{
    tls_refresh(w);
    return w->tls_client;
}
