/*
 * h2_proxy.h — the HTTP/2 codecs of the proxy (nghttp2): the server side
 * that serves a client connection's streams (h2_server.c) and the client
 * side that multiplexes exchanges over shared upstream connections
 * (h2_client.c). Each stream is one wf_exchange_t; streams are proxied
 * independently, flow control is end to end (a stream's window is given
 * back only as the other side takes its bytes), trailers and RST_STREAM
 * cross the proxy.
 */
#ifndef WF_PROXY_H2_PROXY_H
#define WF_PROXY_H2_PROXY_H

#include "conn.h"
#include "discovery.h"
#include "http.h"

#include <nghttp2/nghttp2.h>

/* Limits (issue #3): stream window 65,535, connection window 1 MiB, at
 * most 100 concurrent streams from a client. */
#define WF_H2_STREAM_WINDOW 65535
#define WF_H2_CONN_WINDOW (1 << 20)
#define WF_H2_MAX_STREAMS 100
#define WF_H2_MAX_HEADER_LIST (64 * 1024)

/* Common nghttp2 options: flood limits on, windows managed by us. */
nghttp2_option *wf_h2_options(bool server);

/* Builds the nv array for a head (pseudo-headers first). `nva` must hold
 * head->nfields + 5 entries; returns the count. */
size_t wf_h2_head_nv(const wf_http_head_t *h, bool request, nghttp2_nv *nva, char *status_buf);

/*
 * The body of a DATA frame for an nghttp2 data provider: up to len bytes
 * from `body`; at its end sets the EOF flag and submits `trailers` (if
 * any) instead of ending the stream on DATA. An empty, unfinished pipe
 * sets *deferred and returns NGHTTP2_ERR_DEFERRED (resume_data later).
 */
ssize_t wf_h2_read_pipe(nghttp2_session *ng, int32_t id, wf_pipe_t *body,
                        const wf_http_head_t *trailers, wf_pool_t *pool, uint8_t *buf, size_t len,
                        uint32_t *flags, bool *deferred);

/* h2_client.c: as wf_h1c_forward, over HTTP/2 prior knowledge (h2c). */
int wf_h2c_forward(wf_worker_t *w, const wf_side_t *side, wf_exchange_t *x,
                   const wf_addr_t *target);
/* Resets the upstream stream of x (RST_STREAM with `code`). */
/* Like wf_h2c_forward, to a meshed endpoint's proxy over mTLS (pooled per
 * endpoint, application port and identity). */
int wf_h2c_forward_mesh(wf_worker_t *w, const wf_side_t *side, wf_exchange_t *x,
                        const wf_dst_pick_t *pick);
/* True when x's upstream side is an HTTP/2 stream (else HTTP/1). */
bool wf_h2c_owns(const wf_exchange_t *x);
void wf_h2c_cancel(wf_worker_t *w, wf_exchange_t *x, uint32_t code);
/* Closes idle upstream connections (all of them when `all`). */
void wf_h2c_pool_close(wf_worker_t *w, bool all);

#endif
