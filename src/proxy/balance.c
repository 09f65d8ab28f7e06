/*
 * balance.c — see balance.h.
 *
 * Peak EWMA: a sample above the average replaces it at once (a slowing
 * endpoint is noticed on the first slow answer), one below decays it with
 * a time constant, so an endpoint that was slow earns traffic back
 * gradually. Cost = average × (in flight + 1): a fast endpoint already
 * busy with many requests loses to an idle slightly slower one.
 */
#include "balance.h"

#include "proxy.h"

#include "core/rand.h"

#include <math.h>
#include <stdlib.h>

#define TAU_MS 10000.0       /* EWMA decay time constant (Linkerd: 10 s) */
#define DEFAULT_MS 1.0       /* assumed latency before the first sample */
#define QUARANTINE_MS 1000   /* after a connection failure */
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

static double cost(wf_worker_t *w, const wf_dst_pick_t *p)
{
    wf_ep_stats_t *e = wf_balance_ep(w, p);
    if (e == NULL)
        return DEFAULT_MS;
    if (w->loop.now < e->fail_until_ms)
        return INFINITY;
    /* Decayed as time passes without samples too: an endpoint that was
     * slow and so got no traffic is tried again after a while, and its next
     * answer says whether it still is. */
    double ewma = e->ewma_ms * exp(-(double)(w->loop.now - e->ewma_at_ms) / TAU_MS);
    if (ewma < DEFAULT_MS)
        ewma = DEFAULT_MS;
    return ewma * (e->inflight + 1);
}

const wf_dst_pick_t *wf_balance_choose(wf_worker_t *w, const wf_dst_pick_t *a,
                                       const wf_dst_pick_t *b)
{
    if (a == b || (a->app_port == b->app_port && wf_addr_eq(&a->addr, &b->addr)))
        return a;
    double ca = cost(w, a), cb = cost(w, b);
    if (ca == cb) {
        return (wf_rand32() & 1) ? a : b;
    }
    return ca < cb ? a : b;
}

void wf_balance_observe(wf_worker_t *w, wf_ep_stats_t *e, double latency_ms)
{
    if (e == NULL || latency_ms < 0)
        return;
    uint64_t now = w->loop.now;
    if (e->ewma_ms <= 0 || latency_ms > e->ewma_ms) {
        e->ewma_ms = latency_ms;
    } else {
        double decay = exp(-(double)(now - e->ewma_at_ms) / TAU_MS);
        e->ewma_ms = e->ewma_ms * decay + latency_ms * (1.0 - decay);
    }
    e->ewma_at_ms = now;
}

void wf_balance_fail(wf_worker_t *w, wf_ep_stats_t *e)
{
    if (e != NULL)
        e->fail_until_ms = w->loop.now + QUARANTINE_MS;
}

void wf_balance_free(wf_worker_t *w)
{
    while (w->eps != NULL) {
        wf_ep_stats_t *e = w->eps;
        w->eps = e->next;
        free(e);
    }
}
