/*
 * h1_client.c — the client side of HTTP/1 proxying: upstream connections
 * that send an exchange's request and read its response, kept alive in a
 * per-worker pool between exchanges.
 *
 * A pooled connection the server closed while idle is the classic
 * keep-alive race; a request that failed on a reused connection before any
 * response byte, and before any of its body was sent, is retried once on a
 * new connection (nothing of it can have been processed).
 *
 * Owner: the worker thread.
 */
#include "h1_proxy.h"

#include "core/log.h"
#include "core/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define POOL_MAX_IDLE 256   /* idle upstream connections per worker */
#define POOL_IDLE_MS 30000  /* an idle pooled connection lives this long */

typedef enum c_state {
    C_CONNECTING,
    C_ACTIVE,
    C_IDLE,
    C_CLOSED,
} c_state_t;

typedef enum r_state {
    R_HEAD,
    R_BODY,
    R_DONE,
} r_state_t;

struct wf_h1c {
    wf_xside_t side;        /* upstream side of x */
    wf_worker_t *worker;    /* borrowed: owner */
    const wf_side_t *dir;   /* borrowed: inbound or outbound */
    wf_end_t end;           /* the socket (peer="dst") */
    wf_addr_t target;
    c_state_t state;
    wf_exchange_t *x;       /* referenced while forwarding */
    wf_h1c_t *next_idle;    /* worker's idle list */
    wf_timer_t timer;       /* connect timeout, then pool idle timeout */
    bool reused;            /* has served an earlier exchange */
    bool keep_alive;        /* may serve another after this one */
    bool req_done;          /* request fully staged */
    bool got_bytes;         /* a response byte arrived */
    bool write_dead;        /* sending failed: the server may still answer */
    uint8_t req_body;       /* wf_h1_body_t framing of the request */
    wf_sbuf_t out;          /* owned: staged request bytes */
    size_t out_off;
    wf_buf_t in;            /* owned: response bytes */
    r_state_t rstate;
    wf_h1_parser_t parser;
    wf_h1_header_t fields[WF_H1_MAX_FIELDS];
    wf_h1_chunked_t chunked;
    uint64_t body_left;
    wf_defer_t free_defer;
};

static void c_run(wf_h1c_t *c);
static void c_close(wf_h1c_t *c, int err);
static int forward(wf_worker_t *w, const wf_side_t *dir, wf_exchange_t *x,
                   const wf_addr_t *target, bool fresh);

static wf_h1c_t *from_side(wf_xside_t *s)
{
    return wf_container_of(s, wf_h1c_t, side);
}

static void c_wake(wf_xside_t *s)
{
    wf_h1c_t *c = from_side(s);
    if (c->state == C_ACTIVE)
        c_run(c);
}

static const wf_xside_ops_t c_side_ops = {.wake = c_wake};

static void c_free_cb(wf_loop_t *loop, wf_defer_t *d)
{
    wf_h1c_t *c = wf_container_of(d, wf_h1c_t, free_defer);
    wf_sbuf_free(&c->out);
    free(c);
}

static void noop_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
}

static void pool_remove(wf_h1c_t *c)
{
    wf_worker_t *w = c->worker;
    for (wf_h1c_t **p = &w->h1_idle; *p != NULL; p = &(*p)->next_idle) {
        if (*p == c) {
            *p = c->next_idle;
            w->n_h1_idle--;
            return;
        }
    }
}

/* Lets go of the exchange (the downstream keeps its own reference). */
static void c_detach(wf_h1c_t *c)
{
    wf_exchange_t *x = c->x;
    if (x == NULL)
        return;
    c->x = NULL;
    if (x->up == &c->side)
        x->up = NULL;
    wf_exchange_put(x, &c->worker->pool);
}

static void c_close(wf_h1c_t *c, int err)
{
    if (c->state == C_CLOSED)
        return;
    wf_worker_t *w = c->worker;
    if (c->state == C_IDLE)
        pool_remove(c);
    c->state = C_CLOSED;
    c_detach(c);
    wf_timer_stop(&w->loop, &c->timer);
    wf_end_close(&c->end, &w->loop, w->metrics, err, false);
    wf_buf_release(&c->in, &w->pool);
    wf_loop_defer(&w->loop, &c->free_defer, c_free_cb);
}

/* Fails the exchange before or during its response. */
static void c_fail(wf_h1c_t *c, wf_http_error_t e, int err)
{
    wf_exchange_t *x = c->x;
    if (x != NULL) {
        /* Stale keep-alive connection: retry once, fresh, if nothing of the
         * request can have been used. */
        if (c->reused && !c->got_bytes && x->req_body.total == 0 && x->req_body.eof &&
            !x->res_ready && e == WF_HTTP_E_UPSTREAM_RESET) {
            wf_worker_t *w = c->worker;
            const wf_side_t *dir = c->dir;
            wf_addr_t target = c->target;
            x->refs++; /* keep it across the detach */
            c_close(c, err);
            if (forward(w, dir, x, &target, true) != 0) {
                x->error = WF_HTTP_E_CONNECT;
                wf_exchange_wake_down(x);
            }
            wf_exchange_put(x, &w->pool);
            return;
        }
        x->error = e;
        wf_exchange_wake_down(x);
    }
    c_close(c, err);
}

/* --- request ---------------------------------------------------------------- */

static void stage_head(wf_h1c_t *c)
{
    const wf_http_head_t *q = &c->x->req;
    wf_sbuf_printf(&c->out, "%.*s %.*s HTTP/1.1\r\n", (int)q->method.len, q->method.ptr,
                   (int)q->target.len, q->target.ptr);
    for (uint32_t i = 0; i < q->nfields; i++) {
        const wf_hfield_t *f = &q->fields[i];
        wf_sbuf_append(&c->out, f->name.ptr, f->name.len);
        wf_sbuf_append(&c->out, ": ", 2);
        wf_sbuf_append(&c->out, f->value.ptr, f->value.len);
        wf_sbuf_append(&c->out, "\r\n", 2);
    }
    c->req_body = q->body;
    /* HTTP/1.1 needs Host; an HTTP/1.0 client may have sent none (§3.2). */
    if (wf_http_head_find(q, WF_STR("host")) == NULL) {
        char addr[WF_ADDR_STRLEN];
        wf_str_t host = q->authority;
        if (host.len == 0)
            host = (wf_str_t){addr, wf_addr_format(&c->target, addr, sizeof(addr))};
        wf_sbuf_puts(&c->out, "host: ");
        wf_sbuf_append(&c->out, host.ptr, host.len);
        wf_sbuf_puts(&c->out, "\r\n");
    }
    if (q->upgrade.len > 0) {
        wf_sbuf_puts(&c->out, "connection: upgrade\r\nupgrade: ");
        wf_sbuf_append(&c->out, q->upgrade.ptr, q->upgrade.len);
        wf_sbuf_puts(&c->out, "\r\n");
        c->req_body = WF_H1_BODY_NONE;
    } else if (q->body == WF_H1_BODY_CHUNKED) {
        wf_sbuf_puts(&c->out, "transfer-encoding: ");
        if (q->te_codings.len > 0) {
            wf_sbuf_append(&c->out, q->te_codings.ptr, q->te_codings.len);
            wf_sbuf_puts(&c->out, ", ");
        }
        wf_sbuf_puts(&c->out, "chunked\r\n");
    }
    wf_sbuf_append(&c->out, "\r\n", 2);
    if (c->req_body == WF_H1_BODY_NONE || (q->body == WF_H1_BODY_LENGTH && q->content_length == 0))
        c->req_done = true;
}

static void stage_body(wf_h1c_t *c)
{
    wf_exchange_t *x = c->x;
    wf_pool_t *pool = &c->worker->pool;
    bool consumed = false;
    while (!c->req_done && c->out.len - c->out_off < 16384) {
        wf_str_t d = wf_pipe_peek(&x->req_body);
        if (d.len == 0)
            break;
        if (c->req_body == WF_H1_BODY_CHUNKED)
            wf_sbuf_printf(&c->out, "%zx\r\n", d.len);
        wf_sbuf_append(&c->out, d.ptr, d.len);
        if (c->req_body == WF_H1_BODY_CHUNKED)
            wf_sbuf_append(&c->out, "\r\n", 2);
        wf_pipe_consume(&x->req_body, pool, d.len);
        consumed = true;
    }
    if (consumed)
        wf_exchange_wake_down(x);
    if (!c->req_done && x->req_body.eof && x->req_body.bytes == 0) {
        if (c->req_body == WF_H1_BODY_CHUNKED)
            wf_sbuf_puts(&c->out, "0\r\n\r\n");
        c->req_done = true;
    }
}

static int flush(wf_h1c_t *c)
{
    return wf_end_flush(&c->end, &c->out, &c->out_off);
}

/* --- response --------------------------------------------------------------- */

/* Parses heads and body from c->in. Returns 0, or a negative error after
 * failing the exchange. */
static int parse_response(wf_h1c_t *c)
{
    wf_exchange_t *x = c->x;
    wf_pool_t *pool = &c->worker->pool;
    for (;;) {
        size_t len = wf_buf_len(&c->in);
        const char *p = c->in.data ? wf_buf_readp(&c->in) : NULL;
        if (c->rstate == R_HEAD) {
            if (len == 0 || x->res_interim)
                return 0; /* wait for bytes, or for the 1xx to be relayed */
            int n = wf_h1_parse_response(&c->parser, p, len);
            if (n == WF_EAGAIN)
                return 0;
            if (n < 0) {
                wf_log_info("%s: invalid response from upstream: %s", c->dir->name,
                            c->parser.err ? c->parser.err : "malformed");
                c_fail(c, WF_HTTP_E_UPSTREAM_PROTO, WF_EPROTO);
                return WF_EPROTO;
            }
            const wf_h1_msg_t *m = &c->parser.msg;
            wf_http_head_free(&x->res);
            if (wf_http_head_from_h1(&x->res, m) != 0) {
                c_fail(c, WF_HTTP_E_UPSTREAM_PROTO, WF_ENOMEM);
                return WF_ENOMEM;
            }
            wf_buf_consume(&c->in, pool, (size_t)n);
            if (m->status < 200 && m->status != 101) {
                /* Interim (100 Continue, 103): relay it, then the next head. */
                x->res_interim = true;
                wf_h1_response_init(&c->parser, c->fields, WF_H1_MAX_FIELDS,
                                    (wf_h1_method_t)x->req.method_id);
                wf_exchange_wake_down(x);
                continue;
            }
            x->first_byte_us = wf_now_us();
            x->res_ready = true;
            if (m->flags & WF_H1_MF_CLOSE)
                c->keep_alive = false;
            if (m->flags & WF_H1_MF_TUNNEL) {
                x->upgraded = true;
                c->rstate = R_DONE;
                wf_exchange_wake_down(x);
                return 0; /* the downstream takes the socket over */
            }
            switch (m->body) {
            case WF_H1_BODY_NONE:
                x->res_body.eof = true;
                c->rstate = R_DONE;
                break;
            case WF_H1_BODY_LENGTH:
                c->body_left = (uint64_t)m->content_length;
                c->rstate = c->body_left ? R_BODY : R_DONE;
                x->res_body.eof = c->body_left == 0;
                break;
            case WF_H1_BODY_CHUNKED:
                wf_h1_chunked_init(&c->chunked, true);
                c->rstate = R_BODY;
                break;
            default: /* until close */
                c->body_left = UINT64_MAX;
                c->keep_alive = false;
                c->rstate = R_BODY;
                break;
            }
            wf_exchange_wake_down(x);
            continue;
        }
        if (c->rstate != R_BODY || len == 0)
            return 0;
        size_t space = wf_pipe_space(&x->res_body, pool);
        if (space == 0)
            return 0; /* back-pressure: the client is slower than upstream */
        if (c->parser.msg.body == WF_H1_BODY_CHUNKED) {
            wf_h1_chunk_ev_t ev;
            int rc = wf_h1_chunked_next(&c->chunked, p, WF_MIN(len, space), &ev);
            if (rc < 0 && rc != WF_EAGAIN) {
                c_fail(c, WF_HTTP_E_UPSTREAM_PROTO, WF_EPROTO);
                return WF_EPROTO;
            }
            if (rc == WF_H1_CHUNK_DATA)
                wf_pipe_write(&x->res_body, pool, ev.data.ptr, ev.data.len);
            if (rc == WF_H1_CHUNK_END) {
                x->res_body.eof = true;
                c->rstate = R_DONE;
            }
            wf_buf_consume(&c->in, pool, ev.consumed);
            wf_exchange_wake_down(x);
            if (rc == WF_EAGAIN)
                return 0;
            continue;
        }
        size_t n = (size_t)WF_MIN((uint64_t)WF_MIN(len, space), c->body_left);
        n = wf_pipe_write(&x->res_body, pool, p, n);
        wf_buf_consume(&c->in, pool, n);
        if (c->body_left != UINT64_MAX) {
            c->body_left -= n;
            if (c->body_left == 0) {
                x->res_body.eof = true;
                c->rstate = R_DONE;
            }
        }
        wf_exchange_wake_down(x);
    }
}

/* The exchange is done on this side: pool the connection or close it. */
static void c_complete(wf_h1c_t *c)
{
    wf_worker_t *w = c->worker;
    c_detach(c);
    if (!c->keep_alive || wf_buf_len(&c->in) > 0 || w->draining ||
        w->n_h1_idle >= POOL_MAX_IDLE) {
        c_close(c, 0);
        return;
    }
    wf_buf_release(&c->in, &w->pool);
    wf_sbuf_free(&c->out);
    c->state = C_IDLE;
    c->reused = true;
    c->next_idle = w->h1_idle;
    w->h1_idle = c;
    w->n_h1_idle++;
    wf_timer_start(&w->loop, &c->timer, POOL_IDLE_MS);
}

static void c_run(wf_h1c_t *c)
{
    wf_pool_t *pool = &c->worker->pool;
    wf_end_t *e = &c->end;
    for (;;) {
        wf_exchange_t *x = c->x;
        if (x == NULL)
            return;
        if (c->write_dead) {
            /* Discard the rest of the request: the server stopped reading
             * it, and its early answer (413, 401...) is what matters. */
            wf_pipe_consume(&x->req_body, pool, x->req_body.bytes);
            if (x->req_body.eof)
                c->req_done = true;
            wf_exchange_wake_down(x);
        } else if (!c->req_done) {
            stage_body(c);
        }
        int rc = c->write_dead ? 0 : flush(c);
        if (rc < 0 && rc != WF_EAGAIN) {
            /* A server that answers early and closes resets our send; the
             * answer may already be in the receive queue: read it first. */
            c->write_dead = true;
            c->keep_alive = false;
            c->out.len = c->out_off = 0;
            e->flags |= WF_END_F_READABLE;
            if (c->rstate == R_DONE && x->res_body.eof) {
                c_complete(c);
                return;
            }
            continue;
        }
        if (rc == 0 && !c->req_done && (x->req_body.bytes > 0 || x->req_body.eof))
            continue; /* flushed: stage more of the request body */
        if (parse_response(c) < 0)
            return;
        if (x->upgraded)
            return;
        if (c->rstate == R_DONE && x->res_body.eof &&
            ((c->req_done && c->out.len == 0) || c->write_dead)) {
            c_complete(c);
            return;
        }
        bool want_read = c->rstate != R_DONE && !x->res_interim &&
                         (c->rstate == R_HEAD || wf_pipe_space(&x->res_body, pool) > 0);
        if (!want_read || !(e->flags & WF_END_F_READABLE))
            return;
        ssize_t n = wf_end_read(e, &c->in, pool);
        if (n > 0) {
            c->got_bytes = true;
            continue;
        }
        if (n == WF_ELIMIT && c->rstate == R_HEAD) {
            /* A response head larger than a buffer. */
            c_fail(c, WF_HTTP_E_UPSTREAM_PROTO, WF_ELIMIT);
            return;
        }
        if (n == WF_EAGAIN || n == WF_ENOMEM || n == WF_ELIMIT)
            return;
        if (n == 0 && c->rstate == R_BODY && c->body_left == UINT64_MAX) {
            /* A close-delimited body ends here. */
            x->res_body.eof = true;
            c->rstate = R_DONE;
            c->keep_alive = false;
            wf_exchange_wake_down(x);
            continue;
        }
        c_fail(c, WF_HTTP_E_UPSTREAM_RESET, n == 0 ? WF_ECLOSED : (int)n);
        return;
    }
}

static void c_io_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
    wf_h1c_t *c = wf_container_of(w, wf_h1c_t, end.watch);
    wf_end_on_events(&c->end, events);
    switch (c->state) {
    case C_CONNECTING: {
        int err = wf_end_connected(&c->end, events, &c->target, c->dir->name, c->worker->metrics,
                                   loop->now);
        if (err == WF_EAGAIN)
            return;
        if (err != 0) {
            c_fail(c, WF_HTTP_E_CONNECT, err);
            return;
        }
        c->state = C_ACTIVE;
        wf_timer_stop(loop, &c->timer);
        c_run(c);
        return;
    }
    case C_ACTIVE:
        c_run(c);
        return;
    case C_IDLE:
        /* The server closed (or spoke out of turn on) an idle connection.
         * A bare EPOLLOUT edge (ACKs freeing send-buffer space after the
         * last request) says nothing about it: keep the connection. */
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            c_close(c, 0);
        return;
    case C_CLOSED:
        return;
    }
}

static void c_timer_cb(wf_loop_t *loop, wf_timer_t *t)
{
    wf_h1c_t *c = wf_container_of(t, wf_h1c_t, timer);
    if (c->state == C_CONNECTING) {
        wf_tcp_metrics_error(c->worker->metrics, c->dir->name, "connect_timeout", loop->now);
        c_fail(c, WF_HTTP_E_CONNECT_TIMEOUT, WF_ETIMEDOUT);
    } else if (c->state == C_IDLE) {
        c_close(c, 0);
    }
}

static void c_attach(wf_h1c_t *c, wf_exchange_t *x)
{
    c->x = x;
    x->refs++;
    x->up = &c->side;
    c->req_done = c->got_bytes = c->write_dead = false;
    c->keep_alive = true;
    c->rstate = R_HEAD;
    c->out.len = c->out_off = 0;
    wf_h1_response_init(&c->parser, c->fields, WF_H1_MAX_FIELDS, (wf_h1_method_t)x->req.method_id);
    stage_head(c);
}

static int forward(wf_worker_t *w, const wf_side_t *dir, wf_exchange_t *x,
                   const wf_addr_t *target, bool fresh)
{
    if (!fresh) {
        for (wf_h1c_t *c = w->h1_idle; c != NULL; c = c->next_idle) {
            if (c->dir == dir && wf_addr_eq(&c->target, target)) {
                pool_remove(c);
                wf_timer_stop(&w->loop, &c->timer);
                c->state = C_ACTIVE;
                c_attach(c, x);
                /* Not c_run() now: the caller is still reading the request
                 * body into the pipe; the deferred wake sends head and body
                 * in one write (one wake-up for the server, not two). */
                wf_exchange_wake_up(x);
                return 0;
            }
        }
    }
    int fd;
    int err = wf_connect_start(target, &fd);
    if (err != 0)
        return err;
    wf_h1c_t *c = calloc(1, sizeof(*c));
    wf_io_t *io = c != NULL ? wf_io_socket_new(fd) : NULL;
    if (io == NULL) {
        free(c);
        close(fd);
        return WF_ENOMEM;
    }
    c->side.ops = &c_side_ops;
    c->worker = w;
    c->dir = dir;
    c->target = *target;
    c->end.io = io;
    c->state = C_CONNECTING;
    wf_timer_init(&c->timer, c_timer_cb);
    wf_watch_init(&c->end.watch, fd, c_io_cb);
    wf_upstream_metrics_open(w, dir, &c->end, target);
    err = wf_watch_start(&w->loop, &c->end.watch, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    if (err != 0) {
        c_close(c, err);
        return err;
    }
    wf_timer_start(&w->loop, &c->timer, dir->connect_timeout_ms);
    c_attach(c, x);
    return 0;
}

int wf_h1c_forward(wf_worker_t *w, const wf_side_t *side, wf_exchange_t *x,
                   const wf_addr_t *target)
{
    return forward(w, side, x, target, false);
}

void wf_h1c_cancel(wf_worker_t *w, wf_exchange_t *x)
{
    if (x->up == NULL)
        return;
    wf_h1c_t *c = from_side(x->up);
    /* Mid-exchange the connection's state is unknown to the server: it
     * cannot be reused. */
    c_close(c, 0);
}

int wf_h1c_take_tunnel(wf_worker_t *w, wf_exchange_t *x, wf_end_t *dst, wf_buf_t *spill)
{
    if (x->up == NULL)
        return WF_ECLOSED;
    wf_h1c_t *c = from_side(x->up);
    size_t left = wf_buf_len(&c->in);
    if (left > 0) {
        int space = wf_buf_reserve(spill, &w->pool);
        if (space < 0 || (size_t)space < left)
            return WF_ELIMIT;
        memcpy(wf_buf_writep(spill), wf_buf_readp(&c->in), left);
        wf_buf_produced(spill, left);
    }
    /* epoll holds the watch's address: re-register it at its new home. */
    wf_watch_stop(&w->loop, &c->end.watch);
    *dst = c->end;
    dst->flags |= WF_END_F_READABLE | WF_END_F_WRITABLE;
    wf_watch_init(&dst->watch, dst->io->fd, noop_cb);
    c->end.io = NULL;
    c->end.metrics.labels_len = 0; /* moved: not closed here */
    int err = wf_watch_start(&w->loop, &dst->watch, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    c_close(c, 0);
    return err;
}

void wf_h1c_pool_close(wf_worker_t *w)
{
    while (w->h1_idle != NULL)
        c_close(w->h1_idle, 0);
}
