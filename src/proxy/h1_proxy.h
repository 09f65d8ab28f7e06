/*
 * h1_proxy.h — the HTTP/1 codecs of the proxy: the server side that reads
 * requests from a client connection (h1_server.c) and the pooled client
 * side that sends them upstream (h1_client.c). They meet only through a
 * wf_exchange_t.
 */
#ifndef WF_PROXY_H1_PROXY_H
#define WF_PROXY_H1_PROXY_H

#include "conn.h"
#include "http.h"

#define WF_H1_MAX_FIELDS 100

typedef struct wf_h1c wf_h1c_t;

/*
 * Sends exchange x (its request head ready, its body arriving in
 * x->req_body) to `target`, on an idle pooled connection or a new one, and
 * fills x->res / x->res_body, waking the downstream side as it goes. On a
 * synchronous failure returns an error and x is untouched.
 */
int wf_h1c_forward(wf_worker_t *w, const wf_side_t *side, wf_exchange_t *x,
                   const wf_addr_t *target);

/* The downstream is done with x early (client gone, or it answered
 * itself): the upstream connection is closed if it was mid-exchange. */
void wf_h1c_cancel(wf_worker_t *w, wf_exchange_t *x);

/* For a tunnel (101 / CONNECT 2xx): moves the upstream socket of x —
 * watch, io and metrics — into `dst`, and its unread bytes into `spill`.
 * Returns WF_ELIMIT if they don't fit. The upstream connection is freed. */
int wf_h1c_take_tunnel(wf_worker_t *w, wf_exchange_t *x, wf_end_t *dst, wf_buf_t *spill);

/* Closes every idle pooled connection (drain, thread exit). */
void wf_h1c_pool_close(wf_worker_t *w);

#endif
