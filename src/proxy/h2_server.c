/*
 * h2_server.c — the server side of HTTP/2 proxying: one nghttp2 server
 * session per client connection; each request stream becomes an exchange
 * forwarded upstream (h2_client.c) while other streams go on independently.
 *
 * Flow control is end to end: received DATA goes into the exchange's pipe
 * and its window is returned (nghttp2_session_consume) only once the
 * upstream took the bytes, so a slow upstream stream holds back its own
 * client stream and nothing else. Responses are sent with a data provider
 * that reads the response pipe and defers while it is empty.
 *
 * Abuse: nghttp2's flood limits (h2_common.c) plus our own budget for
 * frames that carry no request (PING, SETTINGS, empty DATA, RST_STREAM,
 * PRIORITY): past WF_H2S_BUDGET per second the connection
 * gets GOAWAY(ENHANCE_YOUR_CALM) and closes — the attacker loses its
 * connection, other clients lose nothing.
 *
 * Owner: the worker thread of the connection.
 */
#include "h2_proxy.h"

#include "core/log.h"
#include "core/time.h"
#include "http_metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define WF_H2S_BUDGET 2000     /* request-less frames per second */
#define H2S_IDLE_MS 300000     /* a connection with no stream for this long closes */
#define H2S_OUT_HIGH (64 * 1024) /* staged bytes before we stop asking nghttp2 */
#define H2S_GOAWAY_GRACE_MS 1000 /* between the shutdown notice and the final GOAWAY */

typedef struct h2s_stream h2s_stream_t;

struct h2s_stream {
    wf_xside_t side;        /* downstream side of x */
    wf_h2s_t *h2;           /* borrowed: owner */
    h2s_stream_t *prev, *next;
    int32_t id;
    wf_exchange_t *x;       /* referenced once the request head is complete */
    wf_head_builder_t hb;   /* fields of the HEADERS being received */
    bool res_submitted;     /* response HEADERS queued */
    bool deferred;          /* the data provider is waiting for bytes */
    bool done;              /* metrics recorded, exchange released */
    bool pending_forward;   /* head complete; forwarded after this read batch */
    bool fwd_wait;          /* waits for discovery (ingress mode) */
    size_t unacked;         /* received bytes whose window is not returned yet */
    size_t labels_len;
    char labels[1024];
    wf_defer_t free_defer; /* queued behind any pending wake */
};

struct wf_h2s {
    wf_pconn_t *conn; /* borrowed: owner */
    nghttp2_session *ng; /* owned */
    wf_sbuf_t out;       /* owned: serialized frames to write */
    size_t out_off;
    h2s_stream_t *streams; /* owned list */
    uint32_t nstreams;
    uint64_t budget_start; /* ms */
    uint32_t budget_used;
    bool calm_goaway;    /* budget exceeded: closing */
    bool draining;
    bool final_goaway;
    bool in_run;         /* re-entrancy guard */
    int32_t goaway_last; /* last-stream-id of a GOAWAY we sent (INT32_MAX: none) */
    int32_t max_client_stream; /* highest stream id the client opened */
    uint32_t bombs;      /* header lists over the limit on this connection */
    size_t conn_labels_len;
    char conn_labels[640]; /* metric labels every stream of this connection shares */
    wf_defer_t free_defer;
};

static void h2s_run(wf_h2s_t *h);

static wf_worker_t *h2s_worker(wf_h2s_t *h)
{
    return h->conn->worker;
}

/* --- streams ----------------------------------------------------------------- */

static void stream_wake(wf_xside_t *s);
static const wf_xside_ops_t stream_ops = {.wake = stream_wake};

static void stream_free_cb(wf_loop_t *loop, wf_defer_t *d)
{
    free(wf_container_of(d, h2s_stream_t, free_defer));
}

/* Records metrics and lets the exchange go (once). */
static void stream_finish(h2s_stream_t *st, bool cancel, uint32_t code)
{
    if (st->done || st->x == NULL)
        return;
    st->done = true;
    wf_exchange_t *x = st->x;
    wf_worker_t *w = h2s_worker(st->h2);
    /* Request bytes received and not yet acknowledged (taken upstream
     * after our last ack, or never to be read) go back to the peer now:
     * once done, no later wake acks them, and the connection's window
     * would shrink for good with every such stream. */
    if (st->unacked > 0 && st->h2->ng != NULL) {
        nghttp2_session_consume_connection(st->h2->ng, st->unacked);
        nghttp2_session_consume_stream(st->h2->ng, st->id, st->unacked);
        st->unacked = 0;
    }
    double latency = x->first_byte_us ? (double)(x->first_byte_us - x->start_us) / 1000.0 : -1;
    /* A client that went away got no answer: no status to report. */
    bool answered = x->error != WF_HTTP_OK && x->error != WF_HTTP_E_DOWNSTREAM;
    uint16_t status = x->res_ready ? x->res.status : (answered ? wf_http_error_status(x->error) : 0);
    int grpc = x->grpc ? wf_exchange_grpc_status(x) : -1;
    if (x->grpc && grpc < 0 && answered && !x->res_ready)
        grpc = 14; /* UNAVAILABLE, as the proxy answered */
    if (st->labels_len > 0) /* counted as a request (forwarded) */
        wf_http_metrics_response(w->metrics, (wf_str_t){st->labels, st->labels_len},
                                 wf_http_metrics_ep_labels(x), status, latency, grpc, x->error,
                                 w->loop.now);
    if (cancel && x->up != NULL)
        wf_pconn_cancel_upstream(w, x, code ? code : NGHTTP2_CANCEL);
    x->down = NULL;
    wf_exchange_put(x, &w->pool);
    st->x = NULL;
}

static void stream_remove(h2s_stream_t *st)
{
    wf_h2s_t *h = st->h2;
    if (st->prev)
        st->prev->next = st->next;
    else
        h->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    h->nstreams--;
    wf_head_builder_free(&st->hb);
    st->h2 = NULL; /* a wake already queued sees this and does nothing */
    wf_loop_defer(&h2s_worker(h)->loop, &st->free_defer, stream_free_cb);
}

/* Gives back window for bytes the upstream took from the request pipe. */
static void stream_ack(h2s_stream_t *st)
{
    if (st->x == NULL || st->unacked == 0)
        return;
    size_t queued = st->x->req_body.bytes;
    if (st->unacked > queued) {
        nghttp2_session_consume(st->h2->ng, st->id, st->unacked - queued);
        st->unacked = queued;
    }
}

static ssize_t res_read_cb(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
                           uint32_t *flags, nghttp2_data_source *src, void *user)
{
    h2s_stream_t *st = src->ptr;
    wf_exchange_t *x = st->x;
    if (x == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    uint64_t before = x->res_body.total - x->res_body.bytes;
    ssize_t n = wf_h2_read_pipe(ng, id, &x->res_body, &x->res_trailers, &h2s_worker(st->h2)->pool, buf, len, flags,
                                &st->deferred);
    if (x->res_body.total - x->res_body.bytes > before)
        wf_exchange_wake_up(x); /* the upstream gives its window back */
    return n;
}

/* A proxy-made answer: gRPC callers get a trailers-only UNAVAILABLE. */
static void submit_error(h2s_stream_t *st, wf_http_error_t e)
{
    wf_exchange_t *x = st->x;
    const char *text = wf_http_error_text(e);
    char status[8];
    snprintf(status, sizeof(status), "%u", x->grpc ? 200u : (unsigned)wf_http_error_status(e) % 1000);
    nghttp2_nv nva[5];
    size_t n = 0;
#define NV(a, b) nva[n++] = (nghttp2_nv){(uint8_t *)(a), (uint8_t *)(b), strlen(a), strlen(b), 0}
    NV(":status", status);
    NV("l5d-proxy-error", text);
    if (x->grpc) {
        NV("content-type", "application/grpc");
        NV("grpc-status", "14");
        NV("grpc-message", text);
    } else {
        NV("content-type", "text/plain");
    }
#undef NV
    nghttp2_submit_response(st->h2->ng, st->id, nva, n, NULL);
    st->res_submitted = true;
}

/* Moves one stream forward: response head, deferred data, window acks. */
static void stream_progress(h2s_stream_t *st)
{
    wf_exchange_t *x = st->x;
    if (x == NULL || st->done)
        return;
    stream_ack(st);
    if (!st->res_submitted && x->res_interim) {
        /* 100 Continue, 103 Early Hints: a HEADERS frame of its own ahead of
         * the final response (RFC 9113 §8.1); then the upstream may go on. */
        nghttp2_nv nva[x->res.nfields + 5];
        char status[4];
        size_t n = wf_h2_head_nv(&x->res, false, nva, status);
        nghttp2_submit_headers(st->h2->ng, NGHTTP2_FLAG_NONE, st->id, NULL, nva, n, NULL);
        x->res_interim = false;
        wf_http_head_free(&x->res);
        wf_exchange_wake_up(x);
    }
    if (!st->res_submitted) {
        if (x->res_ready) {
            nghttp2_nv nva[x->res.nfields + 5];
            char status[4];
            size_t n = wf_h2_head_nv(&x->res, false, nva, status);
            bool body = !(x->res_body.eof && x->res_body.bytes == 0 &&
                          x->res_trailers.nfields == 0);
            nghttp2_data_provider prd = {.source.ptr = st, .read_callback = res_read_cb};
            nghttp2_submit_response(st->h2->ng, st->id, nva, n, body ? &prd : NULL);
            st->res_submitted = true;
        } else if (x->error != WF_HTTP_OK) {
            submit_error(st, x->error);
        }
        return;
    }
    if (x->error != WF_HTTP_OK && !(x->res_body.eof)) {
        /* The upstream failed mid-response: reset, never fake an end. */
        nghttp2_submit_rst_stream(st->h2->ng, NGHTTP2_FLAG_NONE, st->id,
                                  x->reset_code ? x->reset_code : NGHTTP2_INTERNAL_ERROR);
        stream_finish(st, false, 0);
        return;
    }
    if (st->deferred && (x->res_body.bytes > 0 || x->res_body.eof)) {
        st->deferred = false;
        nghttp2_session_resume_data(st->h2->ng, st->id);
    }
}

static void stream_wake(wf_xside_t *s)
{
    h2s_stream_t *st = wf_container_of(s, h2s_stream_t, side);
    if (st->h2 == NULL)
        return; /* removed while this wake was queued */
    stream_progress(st);
    h2s_run(st->h2);
}

/* --- nghttp2 callbacks ----------------------------------------------------- */

static bool budget_spend(wf_h2s_t *h)
{
    uint64_t now = h2s_worker(h)->loop.now;
    if (now - h->budget_start >= 1000) {
        h->budget_start = now;
        h->budget_used = 0;
    }
    if (++h->budget_used <= WF_H2S_BUDGET)
        return true;
    if (!h->calm_goaway) {
        h->calm_goaway = true;
        wf_log_info("%s: h2 client exceeded the control-frame budget; closing",
                    h->conn->side->name);
        nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(h->ng),
                              NGHTTP2_ENHANCE_YOUR_CALM, NULL, 0);
    }
    return false;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    wf_h2s_t *h = user;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    if (h->draining && h->final_goaway)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (f->hd.stream_id > h->max_client_stream)
        h->max_client_stream = f->hd.stream_id;
    h2s_stream_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM INTERNAL_ERROR */
    st->h2 = h;
    st->id = f->hd.stream_id;
    st->side.ops = &stream_ops;
    st->next = h->streams;
    if (h->streams)
        h->streams->prev = st;
    h->streams = st;
    h->nstreams++;
    nghttp2_session_set_stream_user_data(ng, st->id, st);
    return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    h2s_stream_t *st = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (st == NULL)
        return 0;
    if (st->hb.bytes + namelen + valuelen + 32 > WF_H2_MAX_HEADER_LIST) {
        /* A header list past our advertised limit: reset the stream; a
         * client that keeps doing it (an HPACK bomb costs us decoding CPU
         * per header block) loses the connection. */
        wf_h2s_t *h = user;
        if (++h->bombs > 4 && !h->calm_goaway) {
            h->calm_goaway = true;
            wf_log_info("%s: h2 client keeps sending oversized header lists; closing",
                        h->conn->side->name);
            nghttp2_session_terminate_session(ng, NGHTTP2_ENHANCE_YOUR_CALM);
        }
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    }
    wf_head_builder_add(&st->hb, (wf_str_t){(const char *)name, namelen},
                        (wf_str_t){(const char *)value, valuelen});
    return 0;
}

static void stream_start(wf_h2s_t *h, h2s_stream_t *st, bool end_stream)
{
    wf_pconn_t *c = h->conn;
    wf_worker_t *w = c->worker;
    wf_exchange_t *x = wf_exchange_new(&w->loop);
    if (x == NULL || wf_head_builder_finish(&st->hb, &x->req) != 0 ||
        wf_pconn_request_headers(c, &x->req) != 0) {
        wf_exchange_put(x, &w->pool);
        nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    x->start_us = wf_now_us();
    x->down = &st->side;
    x->req.body = end_stream ? WF_H1_BODY_NONE : WF_H1_BODY_CHUNKED;
    x->req_body.eof = end_stream;
    const wf_hfield_t *ct = wf_http_head_find(&x->req, WF_STR("content-type"));
    x->grpc = ct != NULL && ct->value.len >= 16 &&
              wf_str_eq_nocase((wf_str_t){ct->value.ptr, 16}, WF_STR("application/grpc"));
    st->x = x;

    st->pending_forward = true;
}

/*
 * Sends the streams whose heads arrived in the last read batch upstream.
 * Deferred to after the batch's replies were written so that a GOAWAY we
 * sent meanwhile (budget, nghttp2's own limits) is known: streams above
 * its last-stream-id were "not processed" (RFC 9113 §6.8) and must not
 * reach the application, or a retrying client would run them twice.
 */
static void forward_pending(wf_h2s_t *h)
{
    wf_pconn_t *c = h->conn;
    wf_worker_t *w = c->worker;
    for (h2s_stream_t *st = h->streams; st != NULL; st = st->next) {
        if (!st->pending_forward)
            continue;
        st->pending_forward = false;
        wf_exchange_t *x = st->x;
        if (x == NULL)
            continue;
        if (st->id > h->goaway_last) {
            st->done = true;
            st->x = NULL;
            x->down = NULL;
            wf_exchange_put(x, &w->pool);
            nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_REFUSED_STREAM);
            continue;
        }
        if (st->labels_len == 0) /* counted once, not again after a discovery wait */
            st->labels_len =
                wf_http_metrics_request(w->metrics, c->side->name, x->req.authority,
                                        (wf_str_t){h->conn_labels, h->conn_labels_len}, st->labels,
                                        sizeof(st->labels), w->loop.now);
        wf_addr_t target;
        int err = wf_pconn_forward(c, x, &target);
        if (err == WF_EAGAIN) {
            st->fwd_wait = true; /* wf_h2s_discovered forwards it */
        } else if (err != 0) {
            x->error = err == WF_ENOTFOUND      ? WF_HTTP_E_NO_ENDPOINTS
                       : err == WF_EUNAVAILABLE ? WF_HTTP_E_UNAVAILABLE
                                                : WF_HTTP_E_CONNECT;
            stream_progress(st);
        }
    }
}

void wf_h2s_discovered(wf_pconn_t *c)
{
    wf_h2s_t *h = c->h2;
    if (h == NULL)
        return;
    bool any = false;
    for (h2s_stream_t *st = h->streams; st != NULL; st = st->next) {
        if (st->fwd_wait) {
            st->fwd_wait = false;
            st->pending_forward = true;
            any = true;
        }
    }
    if (any) {
        forward_pending(h);
        h2s_run(h);
    }
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    wf_h2s_t *h = user;
    if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.last_stream_id < h->goaway_last)
        h->goaway_last = f->goaway.last_stream_id;
    return 0;
}

/* RFC 9113 §5.1.1: a client stream id lower than one already used is a
 * connection error; nghttp2 would silently ignore such a HEADERS. */
static int on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *user)
{
    wf_h2s_t *h = user;
    if (hd->type == NGHTTP2_HEADERS && (hd->stream_id & 1) &&
        hd->stream_id < h->max_client_stream && nghttp2_session_find_stream(ng, hd->stream_id) == NULL) {
        nghttp2_session_terminate_session(ng, NGHTTP2_PROTOCOL_ERROR);
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    wf_h2s_t *h = user;
    switch (f->hd.type) {
    case NGHTTP2_PING:
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PRIORITY:
    case NGHTTP2_RST_STREAM:
        /* WINDOW_UPDATE is not charged: a busy legitimate stream sends many,
         * and nghttp2 already rejects window overflows. */
        if (!(f->hd.flags & NGHTTP2_FLAG_ACK))
            budget_spend(h);
        return 0;
    case NGHTTP2_DATA: {
        if (f->hd.length == 0 && !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
            budget_spend(h); /* empty DATA carries nothing: CVE-2019-9518 */
        h2s_stream_t *st = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
        if (st != NULL && st->x != NULL && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
            st->x->req_body.eof = true;
            wf_exchange_wake_up(st->x);
        }
        return 0;
    }
    case NGHTTP2_HEADERS: {
        h2s_stream_t *st = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
        if (st == NULL)
            return 0;
        bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;
        if (f->headers.cat == NGHTTP2_HCAT_REQUEST) {
            stream_start(h, st, end);
        } else if (st->x != NULL) {
            /* Trailers (RFC 9113 §8.1). */
            wf_http_head_free(&st->x->req_trailers);
            wf_head_builder_finish(&st->hb, &st->x->req_trailers);
            st->x->req_body.eof = true;
            wf_exchange_wake_up(st->x);
        }
        return 0;
    }
    default:
        return 0;
    }
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
    wf_h2s_t *h = user;
    h2s_stream_t *st = nghttp2_session_get_stream_user_data(ng, id);
    if (st == NULL || st->x == NULL || st->done) {
        nghttp2_session_consume(ng, id, len); /* nobody will read it */
        return 0;
    }
    wf_worker_t *w = h2s_worker(h);
    size_t n = wf_pipe_write(&st->x->req_body, &w->pool, (const char *)data, len);
    st->unacked += n;
    if (n < len) {
        /* More than the window we advertised: the peer broke flow control. */
        nghttp2_session_consume(ng, id, len - n);
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_FLOW_CONTROL_ERROR);
    }
    wf_exchange_wake_up(st->x);
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
    h2s_stream_t *st = nghttp2_session_get_stream_user_data(ng, id);
    if (st == NULL)
        return 0;
    if (st->unacked > 0)
        nghttp2_session_consume_connection(ng, st->unacked);
    if (st->x != NULL && !st->done) {
        bool complete = st->res_submitted && st->x->res_body.eof && st->x->res_body.bytes == 0;
        if (!complete) {
            /* The client reset the stream (or the connection went): pass
             * the reset on to the upstream stream. */
            if (st->x->error == WF_HTTP_OK)
                st->x->error = WF_HTTP_E_DOWNSTREAM;
            stream_finish(st, true, code);
        } else {
            stream_finish(st, false, 0);
        }
    }
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    stream_remove(st);
    return 0;
}

/* The callback table is constant: built once for all worker threads. */
static nghttp2_session_callbacks *server_cbs;
static pthread_once_t server_cbs_once = PTHREAD_ONCE_INIT;

static void server_cbs_build(void)
{
    nghttp2_session_callbacks *c;
    if (nghttp2_session_callbacks_new(&c) != 0)
        return; /* callers see NULL and fail the connection */
    nghttp2_session_callbacks_set_on_begin_headers_callback(c, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(c, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(c, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(c, on_frame_send);
    nghttp2_session_callbacks_set_on_begin_frame_callback(c, on_begin_frame);
    server_cbs = c;
}

static nghttp2_session_callbacks *server_callbacks(void)
{
    pthread_once(&server_cbs_once, server_cbs_build);
    return server_cbs;
}

/* --- connection I/O -------------------------------------------------------- */

static int h2s_flush(wf_h2s_t *h)
{
    for (;;) {
        while (h->out.len - h->out_off < H2S_OUT_HIGH) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(h->ng, &data);
            if (n < 0)
                return WF_EPROTO;
            if (n == 0)
                break;
            wf_sbuf_append(&h->out, (const char *)data, (size_t)n);
            if (h->out.oom)
                return WF_ENOMEM;
        }
        if (h->out.len == h->out_off)
            return 0;
        int rc = wf_end_flush(&h->conn->client, &h->out, &h->out_off);
        if (rc != 0)
            return rc;
    }
}

static void h2s_run(wf_h2s_t *h)
{
    if (h->in_run)
        return;
    h->in_run = true;
    wf_pconn_t *c = h->conn;
    wf_end_t *e = &c->client;
    wf_buf_t *in = &c->relay.ab.buf; /* detection left the preface here */
    int rc = 0;
    for (;;) {
        if (wf_buf_len(in) > 0) {
            ssize_t n = nghttp2_session_mem_recv(h->ng, (const uint8_t *)wf_buf_readp(in),
                                                 wf_buf_len(in));
            if (n < 0) {
                wf_log_debug("%s: h2 session error: %s", c->side->name, nghttp2_strerror((int)n));
                h2s_flush(h); /* the GOAWAY nghttp2 queued, if it can go */
                rc = WF_EPROTO;
                break;
            }
            wf_buf_consume(in, &c->worker->pool, (size_t)n);
        }
        rc = h2s_flush(h);
        if (rc != 0 && rc != WF_EAGAIN)
            break;
        forward_pending(h);
        rc = h2s_flush(h); /* refusals just queued */
        if (rc != 0 && rc != WF_EAGAIN)
            break;
        rc = 0;
        if (h->calm_goaway && h->out.len == h->out_off) {
            rc = WF_ELIMIT;
            break;
        }
        if (!nghttp2_session_want_read(h->ng) && !nghttp2_session_want_write(h->ng) &&
            h->out.len == h->out_off) {
            break; /* both sides said goodbye */
        }
        if (h->draining && h->final_goaway && h->nstreams == 0 && h->out.len == h->out_off)
            break;
        if (!(e->flags & WF_END_F_READABLE))
            goto out;
        ssize_t n = wf_end_read(e, in, &c->worker->pool);
        if (n > 0)
            continue;
        if (n == WF_EAGAIN || n == WF_ENOMEM || n == WF_ELIMIT)
            goto out;
        rc = n == 0 ? 0 : (int)n;
        break;
    }
    h->in_run = false;
    wf_pconn_close(c, rc);
    return;
out:
    h->in_run = false;
    if (h->draining)
        return; /* the timer runs the GOAWAY steps */
    if (h->nstreams == 0)
        wf_timer_start(&c->worker->loop, &c->timer, H2S_IDLE_MS);
    else
        wf_timer_stop(&c->worker->loop, &c->timer);
}

int wf_h2s_start(wf_pconn_t *c)
{
    wf_h2s_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return WF_ENOMEM;
    h->conn = c;
    h->conn_labels_len = wf_pconn_http_labels(c, h->conn_labels, sizeof(h->conn_labels));
    h->budget_start = c->worker->loop.now;
    h->goaway_last = INT32_MAX;
    nghttp2_option *opt = wf_h2_options(true);
    nghttp2_session_callbacks *cbs = server_callbacks();
    if (opt == NULL || cbs == NULL || nghttp2_session_server_new2(&h->ng, cbs, h, opt) != 0) {
        nghttp2_option_del(opt);
        free(h);
        return WF_ENOMEM;
    }
    nghttp2_option_del(opt);
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, WF_H2_MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, WF_H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, WF_H2_MAX_HEADER_LIST},
    };
    nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv, WF_ARRAY_LEN(iv));
    nghttp2_session_set_local_window_size(h->ng, NGHTTP2_FLAG_NONE, 0, WF_H2_CONN_WINDOW);
    c->h2 = h;
    h2s_run(h);
    return 0;
}

void wf_h2s_on_events(wf_pconn_t *c)
{
    h2s_run(c->h2);
}

void wf_h2s_timeout(wf_pconn_t *c)
{
    wf_h2s_t *h = c->h2;
    if (h->draining && !h->final_goaway) {
        /* Second step of the graceful GOAWAY (RFC 9113 §6.8). */
        h->final_goaway = true;
        nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(h->ng), NGHTTP2_NO_ERROR,
                              NULL, 0);
        h2s_run(h);
        return;
    }
    if (h->nstreams == 0)
        wf_pconn_close(c, 0);
}

void wf_h2s_drain(wf_pconn_t *c)
{
    wf_h2s_t *h = c->h2;
    if (h == NULL || h->draining)
        return;
    h->draining = true;
    nghttp2_submit_shutdown_notice(h->ng);
    wf_timer_start(&c->worker->loop, &c->timer, H2S_GOAWAY_GRACE_MS);
    h2s_run(h);
}

static void h2s_free_cb(wf_loop_t *loop, wf_defer_t *d)
{
    free(wf_container_of(d, wf_h2s_t, free_defer));
}

void wf_h2s_free(wf_pconn_t *c)
{
    wf_h2s_t *h = c->h2;
    if (h == NULL)
        return;
    c->h2 = NULL;
    /* Deleting the session closes every stream through on_stream_close,
     * which resets their upstream halves and frees them. */
    for (h2s_stream_t *st = h->streams; st != NULL; st = st->next)
        if (st->x != NULL && !st->done && st->x->error == WF_HTTP_OK)
            st->x->error = WF_HTTP_E_DOWNSTREAM;
    nghttp2_session_del(h->ng);
    h->ng = NULL; /* stream_finish below must not touch the session */
    while (h->streams != NULL) {
        h2s_stream_t *st = h->streams;
        stream_finish(st, true, NGHTTP2_CANCEL);
        stream_remove(st);
    }
    wf_sbuf_free(&h->out);
    wf_loop_defer(&c->worker->loop, &h->free_defer, h2s_free_cb);
}
