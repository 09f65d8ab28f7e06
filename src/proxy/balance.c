/*
 * balance.c — see balance.h.
 *
 * Peak EWMA: an endpoint's answers slower than its average replace it at
 * once (a slowing endpoint is noticed at once), faster ones decay it with
 * a time constant, so an endpoint that was slow earns traffic back
 * gradually. Cost = average × (in flight + 1): a fast endpoint already
 * busy with many requests loses to an idle slightly slower one. That cost
 * decides between the two endpoints drawn when their speeds clearly differ
 * (2.5x); otherwise the one with fewer requests in flight, then either.
 *
 * "At once" means on the second slow answer in a row, not the first: one
 * answer delayed by a scheduling hiccup (every p99 on a busy node) would
 * otherwise exile an endpoint for the decay time, since an endpoint that
 * loses every comparison gets no answers to correct the average — with
 * three equal endpoints and sub-millisecond answers, that alone skewed
 * the spread to 2 / 784 / 1614. A slow endpoint answers slowly each time,
 * and is noticed one request later. A request left unanswered (hung
 * endpoint) raises it at once: that is no hiccup.
 */
#include "balance.h"

#include "proxy.h"

#include "core/rand.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TAU_MS 10000.0       /* EWMA decay time constant (Linkerd: 10 s) */
/* Latencies below this count as equal (in-flight requests decide): on a
 * busy node sub-millisecond differences are noise, not endpoint speed. */
#define DEFAULT_MS 2.0
/* How much slower one endpoint must be than the other for speed to count
 * (a 10x slower endpoint is; jitter is not). */
#define CLEAR_RATIO 2.5
#define REST_MS 1000         /* after a connection failure, doubling while they go on */
#define REST_MAX_MS 8000
#define MAX_EPS 4096         /* per worker */

wf_ep_stats_t *wf_balance_ep(wf_worker_t *w, const wf_dst_pick_t *pick)
{
    uint32_t n = 0;
    for (wf_ep_stats_t *e = w->eps; e != NULL; e = e->next, n++)
        if (e->app_port == pick->app_port && wf_addr_eq(&e->addr, &pick->addr))
            return e;
    if (n >= MAX_EPS)
        return NULL;
    wf_ep_stats_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->addr = pick->addr;
    e->app_port = pick->app_port;
    e->next = w->eps;
    w->eps = e;
    return e;
}

void wf_balance_labels(wf_ep_stats_t *e, const wf_dst_pick_t *pick)
{
    if (e != NULL && strcmp(e->labels, pick->labels) != 0)
        memcpy(e->labels, pick->labels, strlen(pick->labels) + 1);
}

/* The endpoint's latency estimate: decayed, floored; INFINITY while it
 * rests after failures. */
static double latency(wf_worker_t *w, const wf_ep_stats_t *e)
{
    if (e == NULL)
        return DEFAULT_MS;
    if (w->loop.now < e->fail_until_ms)
        return INFINITY;
    /* Decayed as time passes without samples too: an endpoint that was
     * slow and so got no traffic is tried again after a while, and its next
     * answer says whether it still is. */
    double ewma = e->ewma_ms * exp(-(double)(w->loop.now - e->ewma_at_ms) / TAU_MS);
    return ewma < DEFAULT_MS ? DEFAULT_MS : ewma;
}

wf_ep_stats_t *wf_balance_choose(wf_worker_t *w, const wf_dst_pick_t *a, const wf_dst_pick_t *b,
                                 const wf_dst_pick_t **best)
{
    wf_ep_stats_t *ea = wf_balance_ep(w, a);
    *best = a;
    if (a == b || (a->app_port == b->app_port && wf_addr_eq(&a->addr, &b->addr)))
        return ea;
    wf_ep_stats_t *eb = wf_balance_ep(w, b);
    bool pick_a;
    double la = latency(w, ea), lb = latency(w, eb);
    uint32_t ia = ea != NULL ? ea->inflight : 0, ib = eb != NULL ? eb->inflight : 0;
    /* Clearly different speeds: Peak-EWMA's cost, latency x (in flight +
     * 1), decides. Within the band the difference is noise (a busy node's
     * answers jitter by a few milliseconds, more than equal endpoints
     * differ), and acting on it sends nearly everything to whichever
     * endpoint looked best last (three equal endpoints got 57/37/1 % in
     * 2-s windows at 1,000 requests/s): then fewer requests in flight wins
     * (least loaded), then chance. */
    if (la > lb * CLEAR_RATIO || lb > la * CLEAR_RATIO)
        pick_a = la * (ia + 1) <= lb * (ib + 1);
    else if (ia != ib)
        pick_a = ia < ib;
    else
        pick_a = wf_rand32() & 1;
    *best = pick_a ? a : b;
    return pick_a ? ea : eb;
}

void wf_balance_observe(wf_worker_t *w, wf_ep_stats_t *e, double latency_ms)
{
    if (e == NULL || latency_ms < 0)
        return;
    uint64_t now = w->loop.now;
    if (e->ewma_ms <= 0) {
        /* A first answer is no more trusted than others (it often pays for
         * cold connections behind the endpoint's proxy). */
        e->ewma_ms = DEFAULT_MS;
        e->ewma_at_ms = now;
    }
    double confirmed = latency_ms < e->last_ms ? latency_ms : e->last_ms;
    e->last_ms = latency_ms;
    if (confirmed > e->ewma_ms) {
        e->ewma_ms = confirmed;
    } else {
        double decay = exp(-(double)(now - e->ewma_at_ms) / TAU_MS);
        e->ewma_ms = e->ewma_ms * decay + latency_ms * (1.0 - decay);
    }
    e->ewma_at_ms = now;
}

void wf_balance_unanswered(wf_worker_t *w, wf_ep_stats_t *e, double elapsed_ms)
{
    /* No answer after elapsed_ms says the latency is at least that: a
     * hung endpoint's first abandoned request lifts its average at once
     * (peak), where a sample it never sends could not. */
    if (e != NULL && elapsed_ms > e->ewma_ms) {
        e->ewma_ms = elapsed_ms;
        e->ewma_at_ms = w->loop.now;
    }
}

void wf_balance_fail(wf_worker_t *w, wf_ep_stats_t *e)
{
    if (e == NULL)
        return;
    /* 1 s, 2 s, 4 s, 8 s...: a dead endpoint costs one failed connect
     * (and a re-send elsewhere) every few seconds, not one per request. */
    uint32_t shift = e->fails < 3 ? e->fails : 3;
    e->fail_until_ms = w->loop.now + WF_MIN((uint64_t)REST_MS << shift, (uint64_t)REST_MAX_MS);
    if (e->fails < UINT8_MAX)
        e->fails++;
}

void wf_balance_ok(wf_ep_stats_t *e)
{
    if (e != NULL)
        e->fails = 0;
}

bool wf_balance_resting(wf_worker_t *w, const wf_ep_stats_t *e)
{
    return e != NULL && w->loop.now < e->fail_until_ms;
}

void wf_balance_free(wf_worker_t *w)
{
    while (w->eps != NULL) {
        wf_ep_stats_t *e = w->eps;
        w->eps = e->next;
        free(e);
    }
}

