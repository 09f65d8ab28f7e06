/*
 * balance.h — per-request load balancing between a meshed Service's
 * endpoints: power of two choices over peak-EWMA latency weighted by the
 * requests in flight (Linkerd's balancer, Mitzenmacher's P2C), with a
 * rest (1 s, doubling to 8 s) for an endpoint whose connections fail.
 *
 * Each worker keeps its own view (STYLE.md "sharing nothing"): the
 * latency it saw from each endpoint and what it has in flight there, kept
 * by the HTTP/2 client as streams start and end. Discovery says which
 * endpoints exist (shared); this says which of two random ones to use.
 *
 * Owner: the worker thread.
 */
#ifndef WF_PROXY_BALANCE_H
#define WF_PROXY_BALANCE_H

#include "discovery.h"

typedef struct wf_worker wf_worker_t;

typedef struct wf_ep_stats {
    struct wf_ep_stats *next;
    wf_addr_t addr;        /* the endpoint's proxy */
    uint16_t app_port;
    double ewma_ms;        /* peak-EWMA of time to response head; 0: no sample yet */
    uint64_t ewma_at_ms;   /* loop time of the last update */
    double last_ms;        /* the previous sample (a peak needs two in a row) */
    uint32_t inflight;     /* streams open towards it */
    uint64_t fail_until_ms; /* resting until (loop time): not chosen while another can be */
    uint8_t fails;          /* connection failures in a row */
    char labels[WF_DST_EP_LABELS_MAX]; /* its dst_* metric labels (from discovery) */
} wf_ep_stats_t;

/* The worker's stats for pick's endpoint, created on first use (NULL when
 * the table is full or memory is short: the endpoint is then unweighted). */
wf_ep_stats_t *wf_balance_ep(wf_worker_t *w, const wf_dst_pick_t *pick);
/* Chooses between a and b (may be the same endpoint): *best is the
 * better; returns its stats (NULL when the table is full). */
wf_ep_stats_t *wf_balance_choose(wf_worker_t *w, const wf_dst_pick_t *a, const wf_dst_pick_t *b,
                                 const wf_dst_pick_t **best);
/* Brings e's labels up to date with what discovery says of it (responses
 * from it are counted under them). NULL e is fine. */
void wf_balance_labels(wf_ep_stats_t *e, const wf_dst_pick_t *pick);
/* A response head arrived latency_ms after the request. */
void wf_balance_observe(wf_worker_t *w, wf_ep_stats_t *e, double latency_ms);
/* A request ended (abandoned, reset) with no response after elapsed_ms. */
void wf_balance_unanswered(wf_worker_t *w, wf_ep_stats_t *e, double elapsed_ms);
/* Its connection failed (refused, reset, timed out): avoid it a moment. */
void wf_balance_fail(wf_worker_t *w, wf_ep_stats_t *e);
/* A connection to it was established: failures in a row start again. */
void wf_balance_ok(wf_ep_stats_t *e);
/* Whether e is resting after failures. NULL e is not. */
bool wf_balance_resting(wf_worker_t *w, const wf_ep_stats_t *e);
void wf_balance_free(wf_worker_t *w);

#endif
