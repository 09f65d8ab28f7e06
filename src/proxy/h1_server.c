/*
 * h1_server.c — the server side of HTTP/1 proxying: reads requests from a
 * client connection, hands each to an upstream connection through an
 * exchange, and writes the response back, one exchange at a time
 * (pipelined requests wait in the input buffer, RFC 9112 §9.3.2).
 *
 * Bodies stream through bounded pipes in both directions, re-framed for
 * each hop: a Content-Length body keeps its length, anything else becomes
 * chunked for an HTTP/1.1 client (close-delimited for HTTP/1.0). An
 * upgrade (101) or CONNECT (2xx) turns the connection into a byte relay
 * with the upstream socket. Malformed requests get the parser's status
 * (400/414/431/501/505) and the connection closes; errors the proxy
 * generates carry `l5d-proxy-error`.
 *
 * Owner: the worker thread of the connection.
 */
#include "h1_proxy.h"

#include "core/log.h"
#include "core/time.h"
#include "http_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#define H1S_BIG_HEAD (WF_H1_DEFAULT_MAX_HEAD + 4096) /* input for heads past one chunk */
#define H1S_IDLE_MS 60000  /* keep-alive idle / request-head deadline */
#define H1S_OUT_HIGH 16384 /* staged response bytes before flushing */

typedef enum in_state {
    IN_HEAD,   /* waiting for a request head */
    IN_BODY,   /* reading the request body into the exchange */
    IN_DONE,   /* request read; waiting for the response to finish */
    IN_TUNNEL, /* upgrade requested: hold bytes until the response decides */
} in_state_t;

typedef enum out_framing {
    OUT_NONE,    /* no body (HEAD, 1xx, 204, 304) */
    OUT_LENGTH,  /* Content-Length */
    OUT_CHUNKED, /* chunked coding */
    OUT_CLOSE,   /* close-delimited (HTTP/1.0 client) */
} out_framing_t;

struct wf_h1s {
    wf_xside_t side;   /* downstream side of the current exchange */
    wf_pconn_t *conn;  /* borrowed: owner */
    wf_exchange_t *x;  /* referenced: the exchange in progress, or NULL */
    in_state_t in_state;
    char *big;         /* owned: input while a head outgrows a pool chunk */
    uint32_t big_len;
    wf_h1_parser_t parser;
    wf_h1_header_t fields[WF_H1_MAX_FIELDS];
    wf_h1_chunked_t chunked;
    uint64_t body_left; /* Content-Length bytes still to read */
    bool head_sent;     /* the response head went out */
    bool fwd_wait;      /* x waits for discovery before going upstream */
    bool res_done;      /* the response is complete (staged) */
    bool close_after;   /* close once the response is flushed */
    bool read_eof;      /* the client closed its side */
    bool lingering;     /* response sent and FIN too: discarding the rest */
    out_framing_t framing;
    wf_sbuf_t out;      /* owned: staged response bytes */
    size_t out_off;
    /* Metric series of the last request and response, referenced: a
     * keep-alive connection's requests usually share authority and outcome,
     * so they count without building labels or looking series up. */
    wf_series_t *m_req;            /* request_total for m_auth */
    wf_series_t *m_res, *m_lat;    /* response_total / latency for m_status+m_err+m_ep */
    const struct wf_ep_stats *m_ep; /* the endpoint they carry the labels of */
    uint16_t m_status;
    wf_http_error_t m_err;
    uint16_t m_auth_len;
    char m_auth[256];
    size_t labels_len;
    char labels[1024]; /* the current request's metric labels */
    size_t conn_labels_len;
    char conn_labels[640]; /* the labels every request of this connection shares */
    wf_defer_t free_defer; /* frees h after any wake already queued for it */
};

static wf_pool_t *h1s_pool(wf_h1s_t *h)
{
    return &h->conn->worker->pool;
}

static wf_loop_t *h1s_loop(wf_h1s_t *h)
{
    return &h->conn->worker->loop;
}

/* --- input: the detect buffer, or `big` for an oversized head ------------- */

static wf_buf_t *in_buf(wf_h1s_t *h)
{
    return &h->conn->relay.ab.buf;
}

static wf_str_t in_data(wf_h1s_t *h)
{
    if (h->big != NULL)
        return (wf_str_t){h->big, h->big_len};
    wf_buf_t *b = in_buf(h);
    return (wf_str_t){b->data ? wf_buf_readp(b) : NULL, wf_buf_len(b)};
}

static void in_consume(wf_h1s_t *h, size_t n)
{
    if (h->big != NULL) {
        memmove(h->big, h->big + n, h->big_len - n);
        h->big_len -= (uint32_t)n;
        /* Back to a pool chunk once the rest fits (keeps idle conns small). */
        if (h->big_len <= h1s_pool(h)->size && h->in_state != IN_HEAD) {
            wf_buf_t *b = in_buf(h);
            if (h->big_len > 0 && wf_buf_reserve(b, h1s_pool(h)) >= 0) {
                memcpy(wf_buf_writep(b), h->big, h->big_len);
                wf_buf_produced(b, h->big_len);
            }
            free(h->big);
            h->big = NULL;
            h->big_len = 0;
        }
        return;
    }
    wf_buf_consume(in_buf(h), h1s_pool(h), n);
}

/* Room to read into; moves to `big` when a head fills a chunk. */
static int in_reserve(wf_h1s_t *h, char **p, size_t *room)
{
    if (h->big != NULL) {
        *p = h->big + h->big_len;
        *room = H1S_BIG_HEAD - h->big_len;
        return *room > 0 ? 0 : WF_ELIMIT;
    }
    wf_buf_t *b = in_buf(h);
    int space = wf_buf_reserve(b, h1s_pool(h));
    if (space < 0)
        return space;
    if (space == 0 && h->in_state == IN_HEAD) {
        h->big = malloc(H1S_BIG_HEAD);
        if (h->big == NULL)
            return WF_ENOMEM;
        h->big_len = (uint32_t)wf_buf_len(b);
        memcpy(h->big, wf_buf_readp(b), h->big_len);
        wf_buf_release(b, h1s_pool(h));
        return in_reserve(h, p, room);
    }
    *p = wf_buf_writep(b);
    *room = (size_t)space;
    return 0;
}

/* --- output ---------------------------------------------------------------- */

static int out_flush(wf_h1s_t *h)
{
    return wf_end_flush(&h->conn->client, &h->out, &h->out_off);
}

static void out_field(wf_h1s_t *h, wf_str_t name, wf_str_t value)
{
    wf_sbuf_append(&h->out, name.ptr, name.len);
    wf_sbuf_append(&h->out, ": ", 2);
    wf_sbuf_append(&h->out, value.ptr, value.len);
    wf_sbuf_append(&h->out, "\r\n", 2);
}

/* A response the proxy makes itself: always closes (the request body may
 * not have been read). */
static void respond_error(wf_h1s_t *h, uint16_t status, const char *reason, const char *text)
{
    h->close_after = true;
    wf_sbuf_printf(&h->out,
                   "HTTP/1.1 %u %s\r\ncontent-type: text/plain\r\ncontent-length: %zu\r\n"
                   "l5d-proxy-error: %s\r\nconnection: close\r\n\r\n%s\n",
                   status, reason, strlen(text) + 1, text, text);
    h->head_sent = true;
    h->res_done = true;
}

static const char *reason_for(uint16_t status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

/* --- exchange lifecycle ---------------------------------------------------- */

static void h1s_wake(wf_xside_t *s);
static const wf_xside_ops_t h1s_side_ops = {.wake = h1s_wake};
static void h1s_run(wf_h1s_t *h);

/* Lets go of the cached metric series (authority changed, or the end). */
static void metrics_drop(wf_h1s_t *h)
{
    wf_worker_t *w = h->conn->worker;
    uint64_t now = w->loop.now;
    wf_metrics_put(w->metrics, h->m_req, now);
    wf_metrics_put(w->metrics, h->m_res, now);
    wf_metrics_put(w->metrics, h->m_lat, now);
    h->m_req = h->m_res = h->m_lat = NULL;
}

/* Records the exchange's metrics and lets it go. */
static void exchange_finish(wf_h1s_t *h, bool cancel)
{
    wf_exchange_t *x = h->x;
    if (x == NULL)
        return;
    wf_worker_t *w = h->conn->worker;
    double latency = x->first_byte_us ? (double)(x->first_byte_us - x->start_us) / 1000.0 : -1;
    bool answered = x->error != WF_HTTP_OK && x->error != WF_HTTP_E_DOWNSTREAM;
    uint16_t status = x->res_ready ? x->res.status : (answered ? wf_http_error_status(x->error) : 0);
    if (h->m_res == NULL || h->m_status != status || h->m_err != x->error || h->m_ep != x->ep) {
        if (h->m_res != NULL) {
            wf_metrics_put(w->metrics, h->m_res, w->loop.now);
            wf_metrics_put(w->metrics, h->m_lat, w->loop.now);
        }
        wf_http_metrics_response_series(w->metrics, (wf_str_t){h->labels, h->labels_len},
                                        wf_http_metrics_ep_labels(x), status, -1, x->error,
                                        &h->m_res, &h->m_lat);
        h->m_status = status;
        h->m_err = x->error;
        h->m_ep = x->ep;
    }
    wf_counter_add(h->m_res, 1);
    if (latency >= 0)
        wf_histogram_observe(h->m_lat, latency);
    if (cancel || x->up != NULL)
        wf_pconn_cancel_upstream(w, x, 0x8 /* HTTP/2 CANCEL */);
    x->down = NULL;
    wf_exchange_put(x, &w->pool);
    h->x = NULL;
}

static void h1s_forward(wf_h1s_t *h);

static void exchange_start(wf_h1s_t *h, size_t head_len)
{
    wf_pconn_t *c = h->conn;
    wf_worker_t *w = c->worker;
    const wf_h1_msg_t *m = &h->parser.msg;
    wf_exchange_t *x = wf_exchange_new(&w->loop);
    if (x == NULL || wf_http_head_from_h1(&x->req, m) != 0 ||
        wf_pconn_request_headers(c, &x->req) != 0) {
        wf_exchange_put(x, &w->pool);
        respond_error(h, 503, "Service Unavailable", "proxy out of memory");
        return;
    }
    x->start_us = wf_now_us();
    x->down = &h->side;
    h->x = x;
    h->head_sent = h->res_done = false;
    in_consume(h, head_len);

    wf_str_t auth = x->req.authority;
    if (h->m_req == NULL || !wf_str_eq(auth, (wf_str_t){h->m_auth, h->m_auth_len})) {
        metrics_drop(h);
        h->m_req = wf_http_metrics_request_series(
            w->metrics, c->side->name, auth, (wf_str_t){h->conn_labels, h->conn_labels_len},
            h->labels, sizeof(h->labels), &h->labels_len);
        h->m_auth_len = (uint16_t)WF_MIN(auth.len, sizeof(h->m_auth));
        memcpy(h->m_auth, auth.ptr, h->m_auth_len);
    }
    wf_counter_add(h->m_req, 1);

    bool has_body = m->body == WF_H1_BODY_CHUNKED ||
                    (m->body == WF_H1_BODY_LENGTH && m->content_length > 0);
    if (has_body && (m->flags & WF_H1_MF_UPGRADE)) {
        /* An upgrade offer with a body (curl --http2 -d: "Upgrade: h2c") is
         * served as a plain request: the offer is hop-by-hop, and holding
         * the body back as tunnel bytes would stall a server that reads
         * it before answering. */
        x->req.upgrade = WF_STR_NULL;
    }
    if ((m->flags & WF_H1_MF_UPGRADE && !has_body) || m->method_id == WF_H1_M_CONNECT) {
        h->in_state = IN_TUNNEL; /* bytes after the head belong to the tunnel */
    } else if (m->body == WF_H1_BODY_CHUNKED) {
        wf_h1_chunked_init(&h->chunked, false);
        h->in_state = IN_BODY;
    } else if (m->body == WF_H1_BODY_LENGTH && m->content_length > 0) {
        h->body_left = (uint64_t)m->content_length;
        h->in_state = IN_BODY;
    } else {
        x->req_body.eof = true;
        h->in_state = IN_DONE;
    }
    if (m->flags & WF_H1_MF_CLOSE)
        h->close_after = true;

    h1s_forward(h);
    wf_timer_stop(&w->loop, &c->timer);
}

/* Forwards h->x (again, after a discovery wait). */
static void h1s_forward(wf_h1s_t *h)
{
    wf_pconn_t *c = h->conn;
    wf_exchange_t *x = h->x;
    wf_addr_t target;
    int err = wf_pconn_forward(c, x, &target);
    h->fwd_wait = err == WF_EAGAIN;
    if (h->fwd_wait)
        return;
    if (err == WF_ENOTFOUND || err == WF_EUNAVAILABLE) {
        x->error = err == WF_ENOTFOUND ? WF_HTTP_E_NO_ENDPOINTS : WF_HTTP_E_UNAVAILABLE;
        wf_exchange_wake_down(x);
        return;
    }
    if (err != 0) {
        x->error = WF_HTTP_E_CONNECT;
        char dst[WF_ADDR_STRLEN];
        wf_addr_format(&target, dst, sizeof(dst));
        wf_log_info("%s: cannot connect to %s: %s", c->side->name, dst, wf_strerror(err));
        wf_exchange_wake_down(x);
    }
}

void wf_h1s_discovered(wf_pconn_t *c)
{
    wf_h1s_t *h = c->h1;
    if (h != NULL && h->fwd_wait && h->x != NULL)
        h1s_forward(h);
}

/* Decodes request body bytes from the input into the exchange's pipe. */
static int read_body(wf_h1s_t *h)
{
    wf_exchange_t *x = h->x;
    wf_pool_t *pool = h1s_pool(h);
    bool wrote = false;
    while (h->in_state == IN_BODY) {
        wf_str_t in = in_data(h);
        size_t space = wf_pipe_space(&x->req_body, pool);
        if (in.len == 0 || space == 0)
            break;
        if (h->parser.msg.body == WF_H1_BODY_LENGTH) {
            size_t n = (size_t)WF_MIN((uint64_t)WF_MIN(in.len, space), h->body_left);
            n = wf_pipe_write(&x->req_body, pool, in.ptr, n);
            in_consume(h, n);
            h->body_left -= n;
            wrote = true;
            if (h->body_left == 0) {
                x->req_body.eof = true;
                h->in_state = IN_DONE;
            }
            continue;
        }
        wf_h1_chunk_ev_t ev;
        int rc = wf_h1_chunked_next(&h->chunked, in.ptr, WF_MIN(in.len, space), &ev);
        if (rc == WF_H1_CHUNK_DATA) {
            wf_pipe_write(&x->req_body, pool, ev.data.ptr, ev.data.len);
            wrote = true;
        } else if (rc == WF_H1_CHUNK_END) {
            x->req_body.eof = true;
            h->in_state = IN_DONE;
            wrote = true;
        } else if (rc < 0 && rc != WF_EAGAIN) {
            /* A broken chunked body: the request cannot be completed. */
            wf_log_debug("%s: bad chunked request body: %s", h->conn->side->name, h->chunked.err);
            in_consume(h, ev.consumed);
            return WF_EPROTO;
        }
        /* TRAILER fields of an HTTP/1 request are dropped (h1→h1 keeps the
         * body; trailers travel with HTTP/2, #3). */
        in_consume(h, ev.consumed);
        if (rc == WF_EAGAIN)
            break;
    }
    if (wrote)
        wf_exchange_wake_up(x);
    return 0;
}

/* Starts the response head in h->out. */
static void write_head(wf_h1s_t *h)
{
    wf_exchange_t *x = h->x;
    const wf_http_head_t *r = &x->res;
    const wf_http_head_t *q = &x->req;
    wf_sbuf_printf(&h->out, "HTTP/1.1 %u %.*s\r\n", r->status, (int)r->reason.len, r->reason.ptr);
    for (uint32_t i = 0; i < r->nfields; i++)
        out_field(h, r->fields[i].name, r->fields[i].value);
    if (x->upgraded && r->status == 101) {
        wf_sbuf_puts(&h->out, "connection: upgrade\r\n");
        if (r->upgrade.len)
            out_field(h, WF_STR("upgrade"), r->upgrade);
        h->framing = OUT_NONE;
    } else if (r->body == WF_H1_BODY_NONE || q->method_id == WF_H1_M_HEAD || x->upgraded) {
        h->framing = OUT_NONE;
    } else if (r->content_length >= 0) {
        h->framing = OUT_LENGTH;
    } else if (q->minor >= 1) {
        h->framing = OUT_CHUNKED;
        wf_sbuf_puts(&h->out, "transfer-encoding: ");
        if (r->te_codings.len > 0) {
            wf_sbuf_append(&h->out, r->te_codings.ptr, r->te_codings.len);
            wf_sbuf_puts(&h->out, ", ");
        }
        wf_sbuf_puts(&h->out, "chunked\r\n");
    } else {
        h->framing = OUT_CLOSE;
        h->close_after = true;
    }
    if (q->minor == 0)
        h->close_after = true; /* HTTP/1.0 clients: one request per connection */
    if (h->close_after && !x->upgraded)
        wf_sbuf_puts(&h->out, "connection: close\r\n");
    wf_sbuf_append(&h->out, "\r\n", 2);
    h->head_sent = true;
}

/* Moves response body from the pipe into h->out, framed. */
static void write_body(wf_h1s_t *h)
{
    wf_exchange_t *x = h->x;
    wf_pool_t *pool = h1s_pool(h);
    bool consumed = false;
    while (h->out.len - h->out_off < H1S_OUT_HIGH) {
        wf_str_t d = wf_pipe_peek(&x->res_body);
        if (d.len == 0)
            break;
        if (h->framing == OUT_CHUNKED)
            wf_sbuf_printf(&h->out, "%zx\r\n", d.len);
        if (h->framing != OUT_NONE)
            wf_sbuf_append(&h->out, d.ptr, d.len);
        if (h->framing == OUT_CHUNKED)
            wf_sbuf_append(&h->out, "\r\n", 2);
        wf_pipe_consume(&x->res_body, pool, d.len);
        consumed = true;
    }
    if (consumed)
        wf_exchange_wake_up(x);
    if (x->res_body.eof && x->res_body.bytes == 0) {
        if (h->framing == OUT_CHUNKED)
            wf_sbuf_puts(&h->out, "0\r\n\r\n");
        h->res_done = true;
    }
}

/* Turns the connection into a relay with the upstream (101 / CONNECT 2xx). */
static void become_tunnel(wf_h1s_t *h)
{
    wf_pconn_t *c = h->conn;
    wf_worker_t *w = c->worker;
    wf_exchange_t *x = h->x;
    /* The response head goes first, then whatever the upstream sent after it. */
    wf_buf_t *ba = &c->relay.ba.buf;
    if (wf_buf_reserve(ba, &w->pool) < (int)h->out.len - (int)h->out_off) {
        wf_pconn_close(c, WF_ELIMIT);
        return;
    }
    memcpy(wf_buf_writep(ba), h->out.ptr + h->out_off, h->out.len - h->out_off);
    wf_buf_produced(ba, h->out.len - h->out_off);
    h->out.len = h->out_off = 0;
    if (h->big != NULL) {
        wf_pconn_close(c, WF_ELIMIT); /* tunnel bytes in an oversized head buffer */
        return;
    }
    if (wf_h1c_take_tunnel(w, x, &c->server, ba) != 0) {
        wf_pconn_close(c, WF_ELIMIT);
        return;
    }
    exchange_finish(h, false);
    wf_h1s_free(c);
    wf_pconn_relay_start(c);
}

#define H1S_LINGER_MS 5000 /* longest we read-and-discard after an early answer */

static void linger_start(wf_h1s_t *h)
{
    wf_pconn_t *c = h->conn;
    h->lingering = true;
    wf_io_shutdown(c->client.io);
    wf_buf_release(in_buf(h), h1s_pool(h));
    free(h->big);
    h->big = NULL;
    h->big_len = 0;
    wf_timer_start(h1s_loop(h), &c->timer, H1S_LINGER_MS);
    c->client.flags |= WF_END_F_READABLE;
    h1s_run(h);
}

/* Reads and drops client bytes until EOF; then closes. */
static void linger_read(wf_h1s_t *h)
{
    wf_pconn_t *c = h->conn;
    wf_end_t *e = &c->client;
    char sink[4096];
    while (e->flags & WF_END_F_READABLE) {
        ssize_t n = wf_io_recv(e->io, sink, sizeof(sink));
        if (n > 0) {
            wf_tcp_metrics_read(&e->metrics, (size_t)n);
            continue;
        }
        if (n == WF_EAGAIN) {
            wf_end_recv_blocked(e);
            return;
        }
        wf_pconn_close(c, 0); /* EOF (or reset): done */
        return;
    }
}

/* After EPOLLRDHUP: true when the client has closed (no bytes left to
 * read before its FIN, or the connection was reset). */
static bool client_gone(wf_h1s_t *h)
{
    char b;
    ssize_t n = recv(h->conn->client.io->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* Makes all the progress possible; called on socket events and wakes. */
static void h1s_run(wf_h1s_t *h)
{
    wf_pconn_t *c = h->conn;
    wf_end_t *e = &c->client;
    if (h->lingering) {
        linger_read(h);
        return;
    }
    for (;;) {
        /* 1. Parse what we have. */
        if (h->in_state == IN_HEAD && h->x == NULL && !h->close_after) {
            wf_str_t in = in_data(h);
            if (in.len > 0) {
                int n = wf_h1_parse_request(&h->parser, in.ptr, in.len);
                if (n > 0) {
                    exchange_start(h, (size_t)n);
                    continue;
                }
                if (n != WF_EAGAIN) {
                    uint16_t st = h->parser.status ? h->parser.status : 400;
                    wf_log_debug("%s: rejecting request: %s", c->side->name, h->parser.err);
                    respond_error(h, st, reason_for(st), h->parser.err ? h->parser.err : "bad request");
                }
            }
        }
        if (h->in_state == IN_BODY && read_body(h) != 0) {
            /* The upstream got a truncated body; the client gets a 400 if
             * no response has started, else a cut connection. */
            if (h->x != NULL && !h->head_sent) {
                exchange_finish(h, true);
                respond_error(h, 400, "Bad Request", "malformed chunked body");
            } else {
                wf_pconn_close(c, WF_EPROTO);
                return;
            }
        }

        /* 2. Response progress. */
        wf_exchange_t *x = h->x;
        if (x != NULL && !h->head_sent) {
            if (x->res_interim) {
                const wf_http_head_t *r = &x->res;
                wf_sbuf_printf(&h->out, "HTTP/1.1 %u %.*s\r\n", r->status, (int)r->reason.len,
                               r->reason.ptr);
                for (uint32_t i = 0; i < r->nfields; i++)
                    out_field(h, r->fields[i].name, r->fields[i].value);
                wf_sbuf_append(&h->out, "\r\n", 2);
                x->res_interim = false;
                wf_http_head_free(&x->res);
                wf_exchange_wake_up(x);
            } else if (x->res_ready) {
                write_head(h);
                if (x->upgraded) {
                    become_tunnel(h);
                    return;
                }
            } else if (x->error != WF_HTTP_OK) {
                wf_http_error_t why = x->error; /* x is gone after finish */
                uint16_t st = wf_http_error_status(why);
                exchange_finish(h, true);
                respond_error(h, st, reason_for(st), wf_http_error_text(why));
            } else if (h->in_state == IN_TUNNEL && x->up == NULL) {
                exchange_finish(h, true);
                respond_error(h, 502, "Bad Gateway", "upstream gone");
            }
        }
        if (h->x != NULL && h->head_sent && !h->res_done) {
            write_body(h);
            if (!h->res_done && h->x->error != WF_HTTP_OK) {
                /* The upstream failed mid-body: the client must not take a
                 * truncated body for a complete one. */
                wf_log_debug("%s: upstream failed mid-body: %s", c->side->name,
                             wf_http_error_text(h->x->error));
                exchange_finish(h, true);
                wf_pconn_close(c, WF_ECLOSED);
                return;
            }
        }

        /* 3. Flush. */
        int rc = out_flush(h);
        if (rc < 0 && rc != WF_EAGAIN) {
            exchange_finish(h, true);
            wf_pconn_close(c, rc);
            return;
        }
        if (rc == 0 && h->res_done) {
            /* Response fully written. */
            bool unread = h->in_state == IN_BODY;
            if (h->x != NULL) {
                if (h->in_state != IN_DONE)
                    h->close_after = true; /* request body unread: cannot resync */
                exchange_finish(h, false);
            }
            if (h->close_after && unread && !h->read_eof) {
                /* The client is still sending a body nobody will read.
                 * Closing now would answer its bytes with RST, which can
                 * destroy the response before it reads it: send FIN and
                 * discard what still arrives for a while (lingering close). */
                linger_start(h);
                return;
            }
            if (h->close_after) {
                wf_pconn_close(c, 0);
                return;
            }
            h->res_done = h->head_sent = false;
            h->in_state = IN_HEAD;
            wf_h1_request_init(&h->parser, h->fields, WF_H1_MAX_FIELDS);
            wf_sbuf_free(&h->out);
            wf_timer_start(h1s_loop(h), &c->timer, H1S_IDLE_MS);
            continue; /* a pipelined request may be waiting */
        }
        if (rc == 0 && h->x != NULL && h->head_sent && !h->res_done &&
            (h->x->res_body.bytes > 0 || h->x->res_body.eof))
            continue; /* flushed: stage more of the body */

        /* 4. A client that closed while its request is answered has given
         * up (curl --max-time, a cancelled browser fetch): like nginx, stop
         * the upstream work instead of finishing it for nobody. */
        if (h->x != NULL && h->in_state == IN_DONE && (e->io->flags & WF_IO_F_RDHUP) &&
            client_gone(h)) {
            wf_log_debug("%s: client gone while its request is answered", c->side->name);
            h->x->error = WF_HTTP_E_DOWNSTREAM;
            exchange_finish(h, true);
            wf_pconn_close(c, WF_ECLOSED);
            return;
        }

        /* 5. Read more if anything wants it. */
        bool want = (h->in_state == IN_HEAD && h->x == NULL && !h->close_after) ||
                    (h->in_state == IN_BODY &&
                     wf_pipe_space(&h->x->req_body, h1s_pool(h)) > 0);
        if (!want || !(e->flags & WF_END_F_READABLE) || h->read_eof)
            return;
        char *p;
        size_t room;
        int err = in_reserve(h, &p, &room);
        if (err != 0) {
            if (err == WF_ELIMIT && h->x == NULL) {
                respond_error(h, 431, reason_for(431), "request head too large");
                continue;
            }
            return; /* out of buffers: wait */
        }
        e->io->flags &= ~WF_IO_F_DRAINED;
        ssize_t n = wf_io_recv(e->io, p, room);
        if (n > 0) {
            if (h->big != NULL)
                h->big_len += (uint32_t)n;
            else
                wf_buf_produced(in_buf(h), (size_t)n);
            wf_tcp_metrics_read(&e->metrics, (size_t)n);
            if (e->io->flags & WF_IO_F_DRAINED)
                e->flags &= ~WF_END_F_READABLE;
            continue;
        }
        if (h->big == NULL && wf_buf_len(in_buf(h)) == 0)
            wf_buf_release(in_buf(h), h1s_pool(h));
        if (n == WF_EAGAIN) {
            wf_end_recv_blocked(e);
            return;
        }
        /* EOF or error from the client. */
        h->read_eof = true;
        if (h->x == NULL && in_data(h).len == 0) {
            wf_pconn_close(c, n == 0 ? 0 : (int)n);
            return;
        }
        if (h->x != NULL && h->in_state == IN_DONE && n == 0) {
            /* Half-close after a complete request: still answer it. */
            h->close_after = true;
            return;
        }
        wf_log_debug("%s: client ended (%s) in the middle of an exchange (state %d)",
                     c->side->name, n == 0 ? "EOF" : wf_strerror((int)n), (int)h->in_state);
        if (h->x != NULL)
            h->x->error = WF_HTTP_E_DOWNSTREAM;
        exchange_finish(h, true);
        wf_pconn_close(c, n == 0 ? WF_ECLOSED : (int)n);
        return;
    }
}

static void h1s_wake(wf_xside_t *s)
{
    wf_h1s_t *h = wf_container_of(s, wf_h1s_t, side);
    if (h->conn->h1 == h)
        h1s_run(h);
}

int wf_h1s_start(wf_pconn_t *c)
{
    wf_h1s_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return WF_ENOMEM;
    h->conn = c;
    h->side.ops = &h1s_side_ops;
    h->conn_labels_len = wf_pconn_http_labels(c, h->conn_labels, sizeof(h->conn_labels));
    wf_h1_request_init(&h->parser, h->fields, WF_H1_MAX_FIELDS);
    c->h1 = h;
    wf_timer_start(&c->worker->loop, &c->timer, H1S_IDLE_MS);
    h1s_run(h);
    return 0;
}

void wf_h1s_on_events(wf_pconn_t *c)
{
    h1s_run(c->h1);
}

void wf_h1s_timeout(wf_pconn_t *c)
{
    wf_h1s_t *h = c->h1;
    if (h->lingering) {
        wf_pconn_close(c, 0);
        return;
    }
    if (h->x != NULL)
        return; /* an exchange in flight has its own deadlines (#3 timeouts) */
    if (in_data(h).len > 0) {
        /* A partial head for this long: answer before closing (RFC 9110 408). */
        respond_error(h, 408, "Request Timeout", "request head not received in time");
        out_flush(h);
    }
    wf_pconn_close(c, 0);
}

static void h1s_free_cb(wf_loop_t *loop, wf_defer_t *d)
{
    free(wf_container_of(d, wf_h1s_t, free_defer));
}

void wf_h1s_free(wf_pconn_t *c)
{
    wf_h1s_t *h = c->h1;
    if (h == NULL)
        return;
    c->h1 = NULL;
    if (h->x != NULL) {
        h->x->error = h->x->error ? h->x->error : WF_HTTP_E_DOWNSTREAM;
        exchange_finish(h, true);
    }
    metrics_drop(h);
    free(h->big);
    h->big = NULL;
    wf_sbuf_free(&h->out);
    /* A wake may already be queued for h: it runs first (and sees that
     * c->h1 is no longer h), then this frees it. */
    wf_loop_defer(&c->worker->loop, &h->free_defer, h1s_free_cb);
}

void wf_h1s_drain(wf_pconn_t *c)
{
    wf_h1s_t *h = c->h1;
    if (h == NULL)
        return;
    h->close_after = true; /* the response in flight says "connection: close" */
    if (h->x == NULL && in_data(h).len == 0)
        wf_pconn_close(c, 0);
}
