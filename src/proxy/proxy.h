/*
 * proxy.h — weft-proxy's process: the shared, read-only proxy state, the
 * worker threads (one event loop each, sharing nothing), and the two
 * traffic directions, which are compositions of the same pieces (accept →
 * original destination → detect → connect → relay) differing only in the
 * side descriptor.
 */
#ifndef WF_PROXY_PROXY_H
#define WF_PROXY_PROXY_H

#include "config.h"
#include "core/buf.h"
#include "core/loop.h"
#include "detect.h"
#include "metrics/metrics.h"
#include "relay.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct wf_proxy wf_proxy_t;
typedef struct wf_worker wf_worker_t;
typedef struct wf_pconn wf_pconn_t;

typedef enum wf_direction {
    WF_DIR_INBOUND,
    WF_DIR_OUTBOUND,
} wf_direction_t;

/* What differs between inbound and outbound. Static, read-only. */
typedef struct wf_side {
    wf_direction_t dir;
    const char *name;                 /* metric label value */
    const wf_portset_t *opaque_ports; /* borrowed from the config */
    uint64_t detect_timeout_ms;
    uint64_t connect_timeout_ms;
} wf_side_t;

/* A listening socket of one worker. */
typedef struct wf_listener {
    wf_watch_t watch;
    int fd;
    wf_addr_t addr;
    const wf_side_t *side; /* borrowed */
    wf_worker_t *worker;   /* borrowed: owner */
    wf_timer_t retry;      /* re-arm after EMFILE/ENFILE */
} wf_listener_t;

#define WF_MAX_LISTENERS (3 + WF_PROXY_MAX_OUTBOUND_ADDRS) /* + the IPv6 defaults */

/* One worker thread; everything in it is owned by that thread. */
struct wf_worker {
    uint32_t id;
    wf_proxy_t *proxy; /* borrowed: shared read-only state */
    pthread_t thread;
    wf_loop_t loop;
    wf_pool_t pool;                /* relay buffers */
    wf_metrics_shard_t *metrics;   /* owned */
    wf_listener_t listeners[WF_MAX_LISTENERS];
    uint32_t nlisteners;
    wf_pconn_t *conns;             /* intrusive list of live connections */
    uint32_t nconns;
    bool draining;
    wf_timer_t grace;              /* drain deadline */
    wf_timer_t housekeeping;       /* metrics expiry */
    _Atomic bool done;             /* the thread has finished (joinable at once) */
    struct wf_h1c *h1_idle;        /* owned: idle upstream HTTP/1 connections */
    uint32_t n_h1_idle;
    struct wf_h2c *h2_conns;       /* owned: upstream HTTP/2 connections */
    struct wf_tls_ctx *tls_server; /* owned: inbound mTLS, built from the identity */
    struct wf_tls_ctx *tls_client; /* owned: outbound mTLS to meshed endpoints */
    uint64_t tls_server_gen, tls_client_gen; /* identity generations they hold */
    struct wf_ep_stats *eps;       /* owned: balancer stats per endpoint (balance.h) */
};

struct wf_proxy {
    wf_proxy_config_t cfg;
    char *const *env;
    wf_side_t inbound, outbound;
    wf_worker_t *workers; /* owned: cfg.cores of them */
    uint32_t nworkers;
    _Atomic bool ready;    /* listeners bound and serving */
    _Atomic bool draining; /* SIGTERM or /shutdown seen */
    double start_time;     /* unix seconds */
    struct wf_identity *identity; /* owned; NULL when identity is off */
    struct wf_discovery *discovery; /* owned; NULL when discovery is off */
};

int wf_worker_init(wf_worker_t *w, wf_proxy_t *proxy, uint32_t id);
int wf_worker_start(wf_worker_t *w);
/* Thread-safe: asks the worker to stop accepting and drain. */
void wf_worker_drain(wf_worker_t *w);
/* Joins a stopped worker and frees its loop, pool and shard. */
void wf_worker_join(wf_worker_t *w);

/* Counts an opened upstream connection end (peer="dst") of `side` towards
 * `target`, with the TLS labels the side's upstream hop has today. The one
 * place to change when mTLS reaches the upstream hop (#4, #6). */
void wf_upstream_metrics_open(wf_worker_t *w, const wf_side_t *side, wf_end_t *end,
                              const wf_addr_t *target);

/* The worker's inbound mTLS server context with the current certificate
 * (refreshed when the identity moved on), or NULL when identity is off or
 * no certificate is held yet. Borrowed: take a reference to keep it. */
struct wf_tls_ctx *wf_worker_tls_server(wf_worker_t *w);
/* Likewise for outbound mTLS (presents our certificate). */
struct wf_tls_ctx *wf_worker_tls_client(wf_worker_t *w);

/* conn.c: takes an accepted socket through detect, connect and relay.
 * Takes ownership of fd. */
void wf_pconn_accept(wf_worker_t *w, const wf_side_t *side, int fd, const wf_addr_t *local);
/* Closes a connection now (drain deadline); frees it at the loop's safe point. */
void wf_pconn_abort(wf_pconn_t *c);
/* Starts a graceful drain of one connection (may close it now). */
void wf_pconn_drain(wf_pconn_t *c);
wf_pconn_t *wf_pconn_next(wf_pconn_t *c);
/* A connection waiting for discovery re-asks (after a wake). */
void wf_pconn_discovered(wf_pconn_t *c);

#endif
