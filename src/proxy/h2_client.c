/*
 * h2_client.c — the client side of HTTP/2 proxying: upstream connections
 * (HTTP/2 prior knowledge) shared by many exchanges, one stream each, up to
 * the server's SETTINGS_MAX_CONCURRENT_STREAMS; a new connection is opened
 * when every existing one is full, draining (GOAWAY) or for another target.
 *
 * Flow control mirrors the server side: response DATA fills the exchange's
 * pipe and its window goes back upstream only when the downstream took the
 * bytes. An upstream RST_STREAM becomes the exchange's error (and the
 * client's RST_STREAM); a downstream reset becomes RST_STREAM here.
 *
 * Owner: the worker thread.
 */
#include "h2_proxy.h"
#include "balance.h"
#include "transport_header.h"

#include "core/log.h"
#include "core/time.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define H2C_IDLE_MS 30000 /* an upstream connection without streams lives this long */
/* From TCP connected to the peer's first HTTP/2 frame (TLS handshake and
 * SETTINGS): a peer that accepts and then says nothing (a stopped process;
 * the kernel still completes the TCP handshake) is given up on this soon. */
#define H2C_HANDSHAKE_MIN_MS 1000
/* Times one request may be sent again after attempts that provably reached
 * no application (or that failed before any answer, for idempotent ones). */
#define H2C_RESENDS_MAX 3
#define H2C_OUT_HIGH (64 * 1024)

typedef struct wf_h2c wf_h2c_t;
typedef struct h2c_stream h2c_stream_t;

typedef enum h2c_state {
    H2C_CONNECTING,
    H2C_ACTIVE,
    H2C_CLOSED,
} h2c_state_t;

struct h2c_stream {
    wf_xside_t side;      /* upstream side of x */
    wf_h2c_t *conn;       /* borrowed; NULL once the stream is gone */
    h2c_stream_t *prev, *next;
    int32_t id;
    wf_exchange_t *x;     /* referenced */
    wf_head_builder_t hb; /* response fields being received */
    bool deferred;        /* the request data provider waits for bytes */
    size_t unacked;       /* response bytes in the pipe, window not yet returned */
    wf_defer_t free_defer;
    bool in_flight; /* counted in the endpoint's in-flight requests */
    uint64_t sent_us; /* on an established connection: the balancer's latency starts here */
};

struct wf_h2c {
    wf_worker_t *worker;   /* borrowed: owner */
    const wf_side_t *dir;  /* borrowed */
    wf_h2c_t *next;        /* worker's list */
    wf_end_t end;          /* the socket (peer="dst") */
    wf_addr_t target;
    h2c_state_t state;
    nghttp2_session *ng;   /* owned */
    wf_buf_t in;           /* owned */
    wf_sbuf_t out;         /* owned */
    size_t out_off;
    h2c_stream_t *streams; /* owned list */
    uint32_t nstreams;
    bool goaway;           /* no new streams on this connection */
    bool established;      /* the peer's first frame arrived: it is there and speaks HTTP/2 */
    bool in_run;
    wf_timer_t timer;      /* connect timeout, then idle timeout */
    wf_defer_t free_defer;
    /* Mesh: mTLS to a peer proxy's inbound port, for one application port
     * there (the transport header says which). */
    bool mesh;
    uint16_t app_port;
    char server_id[WF_TLS_ID_MAX + 1];
    wf_ep_stats_t *ep; /* borrowed from the worker's balancer table, or NULL */
};

static void h2c_run(wf_h2c_t *c);
static void h2c_close(wf_h2c_t *c, int err);

/* --- streams ----------------------------------------------------------------- */

static void stream_free_cb(wf_loop_t *loop, wf_defer_t *d)
{
    free(wf_container_of(d, h2c_stream_t, free_defer));
}

static void stream_detach(h2c_stream_t *st)
{
    wf_exchange_t *x = st->x;
    if (x == NULL)
        return;
    if (st->in_flight && !x->res_ready && st->sent_us != 0)
        wf_balance_unanswered(st->conn->worker, st->conn->ep,
                              (double)(wf_now_us() - st->sent_us) / 1000.0);
    st->x = NULL;
    if (x->up == &st->side)
        x->up = NULL;
    wf_exchange_put(x, &st->conn->worker->pool);
}

static void stream_remove(h2c_stream_t *st)
{
    wf_h2c_t *c = st->conn;
    stream_detach(st);
    if (st->prev)
        st->prev->next = st->next;
    else
        c->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    c->nstreams--;
    if (st->in_flight && c->ep != NULL && c->ep->inflight > 0)
        c->ep->inflight--;
    st->in_flight = false;
    wf_head_builder_free(&st->hb);
    st->conn = NULL;
    wf_loop_defer(&c->worker->loop, &st->free_defer, stream_free_cb);
    if (c->nstreams == 0 && c->state == H2C_ACTIVE)
        wf_timer_start(&c->worker->loop, &c->timer, H2C_IDLE_MS);
}

static void stream_progress(h2c_stream_t *st)
{
    wf_exchange_t *x = st->x;
    if (x == NULL)
        return;
    /* Window back for response bytes the downstream took. */
    if (st->unacked > x->res_body.bytes) {
        nghttp2_session_consume(st->conn->ng, st->id, st->unacked - x->res_body.bytes);
        st->unacked = x->res_body.bytes;
    }
    if (st->deferred && (x->req_body.bytes > 0 || x->req_body.eof)) {
        st->deferred = false;
        nghttp2_session_resume_data(st->conn->ng, st->id);
    }
}

static void stream_wake(wf_xside_t *s)
{
    h2c_stream_t *st = wf_container_of(s, h2c_stream_t, side);
    if (st->conn == NULL)
        return;
    stream_progress(st);
    h2c_run(st->conn);
}

static const wf_xside_ops_t stream_ops = {.wake = stream_wake};

static ssize_t req_read_cb(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
                           uint32_t *flags, nghttp2_data_source *src, void *user)
{
    h2c_stream_t *st = src->ptr;
    wf_exchange_t *x = st->x;
    if (x == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (!st->conn->established) {
        /* The body stays in the pipe until the peer has shown it is there:
         * should it not be, the request can still go to another one. */
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    uint64_t before = x->req_body.total - x->req_body.bytes;
    ssize_t n = wf_h2_read_pipe(ng, id, &x->req_body, &x->req_trailers, &st->conn->worker->pool, buf, len, flags,
                                &st->deferred);
    if (x->req_body.total - x->req_body.bytes > before)
        wf_exchange_wake_down(x); /* the client gets its window back */
    return n;
}

/* --- nghttp2 callbacks ----------------------------------------------------- */

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    h2c_stream_t *st = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (st == NULL || st->x == NULL)
        return 0;
    if (st->hb.bytes + namelen + valuelen + 32 > WF_H2_MAX_HEADER_LIST)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    wf_head_builder_add(&st->hb, (wf_str_t){(const char *)name, namelen},
                        (wf_str_t){(const char *)value, valuelen});
    return 0;
}

static void h2c_established(wf_h2c_t *c);

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    wf_h2c_t *c = user;
    if (!c->established)
        h2c_established(c);
    if (f->hd.type == NGHTTP2_GOAWAY) {
        c->goaway = true;
        return 0;
    }
    h2c_stream_t *st = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (st == NULL || st->x == NULL)
        return 0;
    wf_exchange_t *x = st->x;
    bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (f->hd.type == NGHTTP2_HEADERS) {
        if (f->headers.cat == NGHTTP2_HCAT_RESPONSE || !x->res_ready) {
            wf_http_head_t head;
            if (wf_head_builder_finish(&st->hb, &head) != 0)
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
            if (head.status >= 100 && head.status < 200) {
                /* Interim: relayed when the downstream can take it (it
                 * clears res_interim); one at a time, later ones dropped
                 * meanwhile (they carry nothing the final head needs). */
                if (x->res_interim || x->res_ready) {
                    wf_http_head_free(&head);
                    return 0;
                }
                wf_http_head_free(&x->res);
                x->res = head;
                x->res_interim = true;
                wf_exchange_wake_down(x);
                return 0;
            }
            wf_http_head_free(&x->res);
            x->res_interim = false; /* an interim not yet relayed is moot now */
            x->res = head;
            x->res.body = end ? WF_H1_BODY_NONE : WF_H1_BODY_CHUNKED;
            x->first_byte_us = wf_now_us();
            wf_balance_observe(c->worker, c->ep, (double)(x->first_byte_us - st->sent_us) / 1000.0);
            x->res_ready = true;
        } else {
            wf_http_head_free(&x->res_trailers);
            wf_head_builder_finish(&st->hb, &x->res_trailers);
        }
        if (end)
            x->res_body.eof = true;
        wf_exchange_wake_down(x);
    } else if (f->hd.type == NGHTTP2_DATA && end) {
        x->res_body.eof = true;
        wf_exchange_wake_down(x);
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
    wf_h2c_t *c = user;
    h2c_stream_t *st = nghttp2_session_get_stream_user_data(ng, id);
    if (st == NULL || st->x == NULL) {
        nghttp2_session_consume(ng, id, len);
        return 0;
    }
    size_t n = wf_pipe_write(&st->x->res_body, &c->worker->pool, (const char *)data, len);
    st->unacked += n;
    if (n < len) {
        nghttp2_session_consume(ng, id, len - n);
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_FLOW_CONTROL_ERROR);
    }
    wf_exchange_wake_down(st->x);
    return 0;
}

static int h2c_forward(wf_worker_t *w, const wf_side_t *dir, wf_exchange_t *x,
                       const wf_addr_t *target, const wf_dst_pick_t *mesh);

/* Whether an HTTP method may be sent twice without changing the outcome
 * (RFC 9110 §9.2.2), so a request lost with its connection before any
 * answer can be re-sent though the server may have seen it. */
static bool method_idempotent(wf_h1_method_t m)
{
    return m == WF_H1_M_GET || m == WF_H1_M_HEAD || m == WF_H1_M_OPTIONS ||
           m == WF_H1_M_TRACE || m == WF_H1_M_PUT || m == WF_H1_M_DELETE;
}

/* Sends st's request again after an attempt that failed before any
 * answer: elsewhere when a mesh balancer can choose (the endpoint that
 * failed is resting now), else to the same target. maybe_seen: the peer
 * may have processed it (the connection was lost after it went out), so
 * only an idempotent request may go again; a refused stream or a
 * connection never established proves it was not. Its body must still be
 * whole in the pipe. When it returns true, st is gone and the request is
 * on its way again, or failed with err (code for a reset) where no other
 * attempt could start; when false, nothing was done. */
static bool stream_resend(wf_h2c_t *c, h2c_stream_t *st, bool maybe_seen, wf_http_error_t err,
                          uint32_t code)
{
    wf_exchange_t *x = st->x;
    if (x == NULL || x->res_ready || x->res_interim || x->down == NULL ||
        x->retries >= H2C_RESENDS_MAX || x->req_body.total != x->req_body.bytes ||
        (maybe_seen && !method_idempotent(x->req.method_id)))
        return false;
    x->retries++;
    x->refs++;
    stream_remove(st);
    wf_worker_t *w = c->worker;
    int rc = c->mesh ? wf_pconn_resend(w, c->dir, x) : h2c_forward(w, c->dir, x, &c->target, NULL);
    if (rc != 0) {
        x->error = err;
        x->reset_code = code;
        wf_exchange_wake_down(x);
    }
    wf_exchange_put(x, &w->pool);
    return true;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
    h2c_stream_t *st = nghttp2_session_get_stream_user_data(ng, id);
    if (st == NULL)
        return 0;
    if (st->unacked > 0)
        nghttp2_session_consume_connection(ng, st->unacked);
    wf_exchange_t *x = st->x;
    wf_h2c_t *c = user;
    if (x != NULL && code == NGHTTP2_REFUSED_STREAM) {
        /* REFUSED_STREAM (and streams past a GOAWAY's last id, which
         * nghttp2 closes with it) means the server processed nothing (RFC
         * 9113 §8.7): send it again, on whichever connection has room. */
        nghttp2_session_set_stream_user_data(ng, id, NULL);
        if (stream_resend(c, st, false, WF_HTTP_E_UPSTREAM_RESET, code))
            return 0;
        nghttp2_session_set_stream_user_data(ng, id, st);
    }
    if (x != NULL && !(x->res_body.eof && code == NGHTTP2_NO_ERROR)) {
        /* Reset by the upstream, or closed before the response ended. */
        wf_log_debug("%s: upstream stream %d closed before the response ended (code %u%s)",
                     c->dir->name, id, code, x->res_body.eof ? "" : ", body incomplete");
        x->error = WF_HTTP_E_UPSTREAM_RESET;
        x->reset_code = code ? code : NGHTTP2_INTERNAL_ERROR;
        wf_exchange_wake_down(x);
    }
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    stream_remove(st);
    return 0;
}

/* The callback table is constant: built once for all worker threads. */
static nghttp2_session_callbacks *client_cbs;
static pthread_once_t client_cbs_once = PTHREAD_ONCE_INIT;

static void client_cbs_build(void)
{
    nghttp2_session_callbacks *c;
    if (nghttp2_session_callbacks_new(&c) != 0)
        return; /* callers see NULL and fail the connection */
    nghttp2_session_callbacks_set_on_header_callback(c, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(c, on_stream_close);
    client_cbs = c;
}

static nghttp2_session_callbacks *client_callbacks(void)
{
    pthread_once(&client_cbs_once, client_cbs_build);
    return client_cbs;
}

/* --- connection -------------------------------------------------------------- */

static void h2c_free_cb(wf_loop_t *loop, wf_defer_t *d)
{
    wf_h2c_t *c = wf_container_of(d, wf_h2c_t, free_defer);
    wf_sbuf_free(&c->out);
    free(c);
}

static void h2c_close(wf_h2c_t *c, int err)
{
    if (c->state == H2C_CLOSED)
        return;
    wf_worker_t *w = c->worker;
    c->state = H2C_CLOSED;
    /* A refused, reset or timed-out connection to a meshed endpoint: the
     * balancer avoids it for a moment (a clean close, e.g. idle, is fine). */
    if (err != 0 && c->mesh) {
        wf_balance_fail(w, c->ep);
        /* A TLS failure towards a meshed endpoint is news: most often its
         * proxy could not prove the identity discovery gave. */
        const char *why = c->end.io != NULL && wf_tls_io_is(c->end.io)
                              ? wf_tls_io_reason(c->end.io)
                              : NULL;
        if (why != NULL) {
            char dst[WF_ADDR_STRLEN];
            wf_addr_format(&c->target, dst, sizeof(dst));
            wf_log_warn("%s: mTLS to %s (expecting %s) failed: %s", c->dir->name, dst,
                        c->server_id, why);
            wf_tcp_metrics_error(w->metrics, c->dir->name, "tls_handshake_failed", w->loop.now);
        }
    }
    for (wf_h2c_t **p = &w->h2_conns; *p != NULL; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    /* Streams still open go again where they can (stream_resend), else
     * fail: their clients get a reset or a 502/504. */
    while (c->streams != NULL) {
        h2c_stream_t *st = c->streams;
        wf_exchange_t *x = st->x;
        wf_http_error_t xerr = WF_HTTP_E_UPSTREAM_RESET;
        if (!c->established)
            xerr = err == WF_ETIMEDOUT ? WF_HTTP_E_CONNECT_TIMEOUT : WF_HTTP_E_CONNECT;
        if (err != 0 && x != NULL && stream_resend(c, st, c->established, xerr, 0))
            continue;
        if (x != NULL && !x->res_body.eof) {
            x->error = xerr;
            wf_exchange_wake_down(x);
        }
        stream_remove(st);
    }
    nghttp2_session_del(c->ng);
    c->ng = NULL;
    wf_timer_stop(&w->loop, &c->timer);
    wf_end_close(&c->end, &w->loop, w->metrics, err, false);
    wf_buf_release(&c->in, &w->pool);
    wf_loop_defer(&w->loop, &c->free_defer, h2c_free_cb);
}

static int h2c_flush(wf_h2c_t *c)
{
    for (;;) {
        while (c->out.len - c->out_off < H2C_OUT_HIGH) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(c->ng, &data);
            if (n < 0)
                return WF_EPROTO;
            if (n == 0)
                break;
            wf_sbuf_append(&c->out, (const char *)data, (size_t)n);
            if (c->out.oom)
                return WF_ENOMEM;
        }
        if (c->out.len == c->out_off)
            return 0;
        int rc = wf_end_flush(&c->end, &c->out, &c->out_off);
        if (rc != 0)
            return rc;
    }
}

static void h2c_run(wf_h2c_t *c)
{
    if (c->state != H2C_ACTIVE || c->in_run)
        return;
    c->in_run = true;
    wf_pool_t *pool = &c->worker->pool;
    wf_end_t *e = &c->end;
    int rc = 0;
    for (;;) {
        if (wf_buf_len(&c->in) > 0) {
            ssize_t n = nghttp2_session_mem_recv(c->ng, (const uint8_t *)wf_buf_readp(&c->in),
                                                 wf_buf_len(&c->in));
            if (n < 0) {
                wf_log_info("%s: upstream h2 session error: %s", c->dir->name,
                            nghttp2_strerror((int)n));
                rc = WF_EPROTO;
                break;
            }
            wf_buf_consume(&c->in, pool, (size_t)n);
        }
        rc = h2c_flush(c);
        if (rc != 0 && rc != WF_EAGAIN)
            break;
        rc = 0;
        if (c->state != H2C_ACTIVE)
            break;
        if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng)) {
            break;
        }
        if (!(e->flags & WF_END_F_READABLE)) {
            c->in_run = false;
            return;
        }
        ssize_t n = wf_end_read(e, &c->in, pool);
        if (n > 0)
            continue;
        if (n == WF_EAGAIN || n == WF_ENOMEM || n == WF_ELIMIT) {
            c->in_run = false;
            return;
        }
        rc = n == 0 ? WF_ECLOSED : (int)n;
        break;
    }
    c->in_run = false;
    h2c_close(c, rc == WF_ECLOSED && c->nstreams == 0 ? 0 : rc);
}

static void h2c_io_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
    wf_h2c_t *c = wf_container_of(w, wf_h2c_t, end.watch);
    wf_end_on_events(&c->end, events);
    if (c->state == H2C_CONNECTING) {
        int err = wf_end_connected(&c->end, events, &c->target, c->dir->name, c->worker->metrics,
                                   loop->now);
        if (err == WF_EAGAIN)
            return;
        if (err != 0) {
            h2c_close(c, err);
            return;
        }
        c->state = H2C_ACTIVE;
        /* Now the handshake's turn (TLS, the peer's SETTINGS). */
        wf_timer_start(loop, &c->timer, WF_MAX(c->dir->connect_timeout_ms, H2C_HANDSHAKE_MIN_MS));
    }
    h2c_run(c);
}

static void h2c_established(wf_h2c_t *c)
{
    c->established = true;
    wf_balance_ok(c->ep);
    wf_timer_stop(&c->worker->loop, &c->timer);
    if (c->nstreams == 0)
        wf_timer_start(&c->worker->loop, &c->timer, H2C_IDLE_MS);
    /* The endpoint's latency is what it takes once there is a connection
     * (the handshake is not its answer time; a first request would
     * otherwise mark every new endpoint slow). */
    uint64_t now = wf_now_us();
    for (h2c_stream_t *st = c->streams; st != NULL; st = st->next) {
        st->sent_us = now;
        stream_progress(st); /* request bodies held back may go now */
    }
}

static void h2c_timer_cb(wf_loop_t *loop, wf_timer_t *t)
{
    wf_h2c_t *c = wf_container_of(t, wf_h2c_t, timer);
    if (!c->established) {
        wf_tcp_metrics_error(c->worker->metrics, c->dir->name, "connect_timeout", loop->now);
        h2c_close(c, WF_ETIMEDOUT);
    } else if (c->nstreams == 0) {
        h2c_close(c, 0);
    }
}

static wf_h2c_t *h2c_new(wf_worker_t *w, const wf_side_t *dir, const wf_addr_t *target,
                         const wf_dst_pick_t *mesh, int *errp)
{
    int fd;
    int err = wf_connect_start(target, &fd);
    if (err != 0) {
        *errp = err;
        return NULL;
    }
    wf_h2c_t *c = calloc(1, sizeof(*c));
    wf_io_t *io = c != NULL ? wf_io_socket_new(fd) : NULL;
    nghttp2_option *opt = io != NULL ? wf_h2_options(false) : NULL;
    nghttp2_session_callbacks *cbs = client_callbacks();
    if (opt == NULL || cbs == NULL || nghttp2_session_client_new2(&c->ng, cbs, c, opt) != 0) {
        nghttp2_option_del(opt);
        if (io != NULL)
            wf_io_destroy(io);
        else
            close(fd);
        free(c);
        *errp = WF_ENOMEM;
        return NULL;
    }
    nghttp2_option_del(opt);
    if (mesh != NULL) {
        /* TLS to the peer proxy (it must prove the identity discovery
         * gave), then the transport header ahead of the HTTP/2 preface. */
        const char *why = NULL;
        wf_io_t *tls = wf_tls_io_new_client(wf_worker_tls_client(w), io,
                                            wf_str_from(mesh->identity), &why);
        if (tls == NULL) {
            wf_log_warn("%s: cannot start mTLS: %s", dir->name, why);
            nghttp2_session_del(c->ng);
            wf_io_destroy(io);
            free(c);
            *errp = WF_ENOMEM;
            return NULL;
        }
        io = tls;
        c->mesh = true;
        c->ep = wf_balance_ep(w, mesh);
        c->app_port = mesh->app_port;
        snprintf(c->server_id, sizeof(c->server_id), "%s", mesh->identity);
        uint8_t th[WF_TH_MAX_LEN];
        wf_transport_header_t h = {.port = mesh->app_port, .opaque = false};
        wf_sbuf_append(&c->out, (const char *)th, wf_th_encode(&h, th));
    }
    c->worker = w;
    c->dir = dir;
    c->target = *target;
    c->end.io = io;
    c->state = H2C_CONNECTING;
    wf_timer_init(&c->timer, h2c_timer_cb);
    wf_watch_init(&c->end.watch, fd, h2c_io_cb);
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, WF_H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, WF_H2_MAX_HEADER_LIST},
    };
    nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, WF_ARRAY_LEN(iv));
    nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, WF_H2_CONN_WINDOW);
    if (c->mesh) {
        wf_tcp_labels_t l = {.direction = dir->name,
                             .peer = "dst",
                             .target = target,
                             .tls = "true",
                             .server_id = wf_str_from(c->server_id)};
        wf_tcp_metrics_open(w->metrics, &c->end.metrics, &l);
    } else {
        wf_upstream_metrics_open(w, dir, &c->end, target);
    }
    c->next = w->h2_conns;
    w->h2_conns = c;
    err = wf_watch_start(&w->loop, &c->end.watch, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    if (err != 0) {
        h2c_close(c, err);
        *errp = err;
        return NULL;
    }
    wf_timer_start(&w->loop, &c->timer, dir->connect_timeout_ms);
    return c;
}

static int h2c_forward(wf_worker_t *w, const wf_side_t *dir, wf_exchange_t *x,
                       const wf_addr_t *target, const wf_dst_pick_t *mesh)
{
    wf_h2c_t *c = NULL;
    for (wf_h2c_t *it = w->h2_conns; it != NULL; it = it->next) {
        if (it->dir != dir || it->goaway || it->state == H2C_CLOSED ||
            !wf_addr_eq(&it->target, target) || it->mesh != (mesh != NULL) ||
            (mesh != NULL && (it->app_port != mesh->app_port ||
                              strcmp(it->server_id, mesh->identity) != 0)))
            continue;
        uint32_t max = nghttp2_session_get_remote_settings(it->ng,
                                                           NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
        if (it->nstreams < max) {
            c = it;
            break;
        }
    }
    if (c == NULL) {
        int err = 0;
        c = h2c_new(w, dir, target, mesh, &err);
        if (c == NULL)
            return err;
    }
    h2c_stream_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return WF_ENOMEM;
    st->side.ops = &stream_ops;
    st->conn = c;
    st->x = x;
    nghttp2_nv nva[x->req.nfields + 5];
    size_t n = wf_h2_head_nv(&x->req, true, nva, NULL);
    bool body = !(x->req_body.eof && x->req_body.bytes == 0 && x->req_trailers.nfields == 0);
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = req_read_cb};
    int32_t id = nghttp2_submit_request(c->ng, NULL, nva, n, body ? &prd : NULL, st);
    if (id < 0) {
        free(st);
        return WF_EPROTO;
    }
    st->id = id;
    if (c->established)
        st->sent_us = wf_now_us();
    if (c->ep != NULL) {
        c->ep->inflight++;
        st->in_flight = true;
    }
    x->refs++;
    x->up = &st->side;
    x->ep = c->ep; /* the endpoint's dst_* labels go on the response metrics */
    st->next = c->streams;
    if (c->streams)
        c->streams->prev = st;
    c->streams = st;
    c->nstreams++;
    if (c->established)
        wf_timer_stop(&w->loop, &c->timer); /* the idle timer; not the connect one */
    h2c_run(c);
    return 0;
}

int wf_h2c_forward(wf_worker_t *w, const wf_side_t *dir, wf_exchange_t *x,
                   const wf_addr_t *target)
{
    return h2c_forward(w, dir, x, target, NULL);
}

int wf_h2c_forward_mesh(wf_worker_t *w, const wf_side_t *dir, wf_exchange_t *x,
                        const wf_dst_pick_t *pick)
{
    return h2c_forward(w, dir, x, &pick->addr, pick);
}

bool wf_h2c_owns(const wf_exchange_t *x)
{
    return x->up != NULL && x->up->ops == &stream_ops;
}

void wf_h2c_cancel(wf_worker_t *w, wf_exchange_t *x, uint32_t code)
{
    if (x->up == NULL)
        return;
    h2c_stream_t *st = wf_container_of(x->up, h2c_stream_t, side);
    wf_h2c_t *c = st->conn;
    /* The RST_STREAM goes out from the upstream connection's own wake, not
     * from inside the downstream session's callback that called us. */
    wf_exchange_wake_up(x);
    stream_detach(st);
    if (c != NULL && c->state != H2C_CLOSED)
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, st->id, code);
}

void wf_h2c_pool_close(wf_worker_t *w, bool all)
{
    for (wf_h2c_t *c = w->h2_conns, *next; c != NULL; c = next) {
        next = c->next;
        if (all || c->nstreams == 0)
            h2c_close(c, 0);
    }
}
