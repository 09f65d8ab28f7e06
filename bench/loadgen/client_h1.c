/*
 * client_h1.c — HTTP/1.1 keep-alive client side of the loadgen.
 *
 * Each connection keeps two FIFOs of intended send times: `queued`
 * (scheduled, not yet written) and `inflight` (written, awaiting a
 * response). At most cfg->depth requests are in flight (1 by default: no
 * pipelining, which proxies handle unevenly). A request that finds its
 * connection busy waits in `queued` and is written the moment the previous
 * response ends; its latency still counts from its intended time, so a slow
 * response shows up in the latency of every request stuck behind it, as a
 * user would see it (this is how wrk2 avoids coordinated omission on
 * HTTP/1.1 connections).
 *
 * Responses must be 2xx with a body of run->resp_expect bytes (when >= 0):
 * a truncated or mis-framed response is an error, never a success.
 */
#include "h1.h"
#include "lg.h"
#include "ring.h"

#include <stdlib.h>

struct lg_h1c {
    lg_ring_t queued;   /* intended times, not yet written */
    lg_ring_t inflight; /* intended times, written, FIFO = response order */
    lg_h1_msg_t resp;   /* the response being read */
};

static int h1_init(lg_conn_t *c)
{
    if (c->p.h1 == NULL) {
        c->p.h1 = calloc(1, sizeof(*c->p.h1));
        if (c->p.h1 == NULL)
            return -1;
    }
    lg_h1_msg_init(&c->p.h1->resp, false);
    return 0;
}

static int h1_submit(lg_conn_t *c, uint64_t due)
{
    if (lg_ring_push(&c->p.h1->queued, due) != 0) {
        lg_run_complete(c->run, due, LG_ERR_BACKLOG);
        return 0;
    }
    lg_conn_mark_dirty(c);
    return 0;
}

static int h1_output(lg_conn_t *c)
{
    lg_h1c_t *h = c->p.h1;
    const lg_run_t *r = c->run;
    while (h->queued.len > 0 && h->inflight.len < r->cfg->depth) {
        if (lg_conn_append(c, r->req, r->req_len) != 0)
            return -1;
        if (lg_ring_push(&h->inflight, lg_ring_pop(&h->queued)) != 0)
            return -1; /* cannot happen: depth is far below LG_RING_MAX */
    }
    return 0;
}

static int h1_input(lg_conn_t *c, const char *p, size_t n)
{
    lg_h1c_t *h = c->p.h1;
    lg_run_t *r = c->run;
    while (n > 0) {
        size_t used = 0;
        int rc = lg_h1_feed(&h->resp, p, n, &used);
        p += used;
        n -= used;
        if (rc == LG_H1_ERROR || (rc == LG_H1_DONE && h->inflight.len == 0))
            return -1; /* the caller fails what is in flight */
        if (rc == LG_H1_AGAIN)
            break;
        lg_outcome_t o = LG_OK;
        if (h->resp.status < 200 || h->resp.status > 299)
            o = LG_ERR_STATUS;
        else if (r->resp_expect >= 0 && h->resp.body_len != (uint64_t)r->resp_expect)
            o = LG_ERR_PROTO;
        bool close_after = h->resp.conn_close;
        lg_run_complete(r, lg_ring_pop(&h->inflight), o);
        lg_h1_msg_init(&h->resp, false);
        lg_conn_mark_dirty(c);
        if (close_after)
            return n > 0 ? -1 : 1; /* 1: clean close requested by the server */
    }
    return 0;
}

static void h1_fail(lg_conn_t *c, lg_outcome_t why, bool all)
{
    lg_h1c_t *h = c->p.h1;
    if (h == NULL)
        return;
    while (h->inflight.len > 0)
        lg_run_complete(c->run, lg_ring_pop(&h->inflight), why);
    while (all && h->queued.len > 0)
        lg_run_complete(c->run, lg_ring_pop(&h->queued), why);
    lg_h1_msg_init(&h->resp, false);
}

static void h1_destroy(lg_conn_t *c)
{
    if (c->p.h1 == NULL)
        return;
    lg_ring_free(&c->p.h1->queued);
    lg_ring_free(&c->p.h1->inflight);
    free(c->p.h1);
    c->p.h1 = NULL;
}

const lg_proto_ops_t lg_h1_ops = {
    .name = "h1",
    .init = h1_init,
    .submit = h1_submit,
    .input = h1_input,
    .output = h1_output,
    .fail = h1_fail,
    .destroy = h1_destroy,
};
