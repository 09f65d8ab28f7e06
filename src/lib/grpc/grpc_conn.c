/*
 * grpc_conn.c — the connection engine both sides share: an nghttp2 session
 * fed from and flushed to a wf_io_t stack (mem_recv / mem_send, like the
 * proxy's h2 codecs), keepalive PINGs, and the per-stream send queue.
 *
 * Owner: the loop's thread.
 */
#include "grpc/grpc_internal.h"

#include "core/log.h"

#include <stdlib.h>

#define RECV_CHUNK 16384

nghttp2_option *wf__grpc_options(bool server)
{
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0)
        return NULL;
    /* Flood limits (CVE-2019-9512/9515, CVE-2023-44487): queued control
     * replies, SETTINGS entries, resets and CONTINUATION frames. */
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, 32);
    if (server)
        nghttp2_option_set_stream_reset_rate_limit(opt, 200, 50);
    nghttp2_option_set_max_continuations(opt, 8);
    nghttp2_option_set_peer_max_concurrent_streams(opt, WF__GRPC_MAX_STREAMS);
    return opt;
}

static void conn_close(wf__grpc_conn_t *c, int err)
{
    if (c->closed)
        return;
    c->closed = true;
    wf_timer_stop(c->loop, &c->ka_timer);
    if (c->io != NULL) {
        wf_watch_stop(c->loop, &c->watch);
        wf_io_destroy(c->io);
        c->io = NULL;
    }
    nghttp2_session_del(c->ng);
    c->ng = NULL;
    c->on_close(c, err);
}

void wf__grpc_conn_free(wf__grpc_conn_t *c)
{
    free(c->out);
    c->out = NULL;
}

static int out_append(wf__grpc_conn_t *c, const uint8_t *p, size_t n)
{
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + n > c->out_cap) {
        if (c->out_off > 0) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + n > c->out_cap) {
            size_t cap = WF_MAX(c->out_cap * 2, c->out_len + n);
            uint8_t *b = realloc(c->out, cap);
            if (b == NULL)
                return WF_ENOMEM;
            c->out = b;
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return 0;
}

/* Sends what nghttp2 has; 0 when all was taken or the io is full. */
static int conn_flush(wf__grpc_conn_t *c)
{
    for (;;) {
        while (c->out_len - c->out_off < WF__GRPC_OUT_HIGH) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(c->ng, &data);
            if (n < 0)
                return WF_EPROTO;
            if (n == 0)
                break;
            int rc = out_append(c, data, (size_t)n);
            if (rc != 0)
                return rc;
        }
        if (c->out_len == c->out_off)
            return 0;
        ssize_t n = wf_io_send(c->io, (const char *)c->out + c->out_off, c->out_len - c->out_off);
        if (n == WF_EAGAIN)
            return 0;
        if (n < 0)
            return (int)n;
        c->out_off += (size_t)n;
    }
}

static void conn_run(wf__grpc_conn_t *c)
{
    if (c->closed || c->in_run || c->connecting)
        return;
    c->in_run = true;
    int err = 0;
    for (;;) {
        if (c->fail_set) {
            err = c->fail;
            break;
        }
        bool progress = false;
        for (;;) {
            char buf[RECV_CHUNK];
            ssize_t n = wf_io_recv(c->io, buf, sizeof(buf));
            if (n == WF_EAGAIN)
                break;
            if (n == 0) {
                err = WF_ECLOSED;
                break;
            }
            if (n < 0) {
                err = (int)n;
                break;
            }
            ssize_t rv = nghttp2_session_mem_recv(c->ng, (const uint8_t *)buf, (size_t)n);
            if (rv < 0) {
                wf_log_info("grpc: h2 session error: %s", nghttp2_strerror((int)rv));
                err = WF_EPROTO;
                break;
            }
            progress = true;
            if (c->io->flags & WF_IO_F_DRAINED)
                break;
        }
        if (err != 0 || c->fail_set) {
            /* Flush what we can (a GOAWAY, final trailers) before closing. */
            conn_flush(c);
            if (err == 0)
                err = c->fail;
            break;
        }
        err = conn_flush(c);
        if (err != 0)
            break;
        if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng) &&
            c->out_off == c->out_len) {
            err = 0;
            c->fail_set = true;
            break;
        }
        if (!progress)
            break;
    }
    c->in_run = false;
    if (c->fail_set || err != 0)
        conn_close(c, err == WF_ECLOSED ? 0 : err);
}

static void conn_kick_cb(wf_loop_t *loop, wf_defer_t *d)
{
    conn_run(wf_container_of(d, wf__grpc_conn_t, kick));
}

void wf__grpc_conn_kick(wf__grpc_conn_t *c)
{
    if (!c->closed)
        wf_loop_defer(c->loop, &c->kick, conn_kick_cb);
}

void wf__grpc_conn_fail(wf__grpc_conn_t *c, int err)
{
    if (!c->fail_set) {
        c->fail_set = true;
        c->fail = err;
    }
    c->connecting = false; /* run tears down without waiting for the connect */
    wf__grpc_conn_kick(c);
}

static void conn_io_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
    wf__grpc_conn_t *c = wf_container_of(w, wf__grpc_conn_t, watch);
    if (c->connecting) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        int err = wf_sock_error(c->io->fd);
        c->connecting = false;
        if (err != 0) {
            conn_close(c, err);
            return;
        }
    }
    conn_run(c);
}

static void conn_ka_cb(wf_loop_t *loop, wf_timer_t *t)
{
    wf__grpc_conn_t *c = wf_container_of(t, wf__grpc_conn_t, ka_timer);
    if (c->closed)
        return;
    if (c->ka_waiting) {
        wf_log_info("grpc: keepalive PING unanswered for %u ms; closing", c->ka_timeout_ms);
        wf__grpc_conn_fail(c, WF_ETIMEDOUT);
        return;
    }
    if (!c->connecting && nghttp2_submit_ping(c->ng, NGHTTP2_FLAG_NONE, NULL) == 0) {
        c->ka_waiting = true;
        wf_timer_start(loop, t, c->ka_timeout_ms);
        wf__grpc_conn_kick(c);
    } else {
        wf_timer_start(loop, t, c->ka_ms);
    }
}

void wf__grpc_conn_on_frame(wf__grpc_conn_t *c, const nghttp2_frame *f)
{
    if (f->hd.type == NGHTTP2_PING && (f->hd.flags & NGHTTP2_FLAG_ACK) && c->ka_waiting) {
        c->ka_waiting = false;
        wf_timer_start(c->loop, &c->ka_timer, c->ka_ms);
    }
}

int wf__grpc_conn_init(wf__grpc_conn_t *c, wf_loop_t *loop, wf_io_t *io, bool server,
                       nghttp2_session_callbacks *cbs, const wf_grpc_opts_t *opts, bool connecting)
{
    c->loop = loop;
    c->io = io;
    c->connecting = connecting;
    wf_timer_init(&c->ka_timer, conn_ka_cb);
    nghttp2_option *opt = wf__grpc_options(server);
    int rc = opt == NULL ? -1
             : server    ? nghttp2_session_server_new2(&c->ng, cbs, c, opt)
                         : nghttp2_session_client_new2(&c->ng, cbs, c, opt);
    nghttp2_option_del(opt);
    if (rc != 0) {
        wf_io_destroy(io);
        c->io = NULL;
        c->closed = true;
        return WF_ENOMEM;
    }
    uint32_t max_streams = opts->max_concurrent ? opts->max_concurrent : WF__GRPC_MAX_STREAMS;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, WF__GRPC_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max_streams},
    };
    /* A client does not send MAX_CONCURRENT_STREAMS (server push is off). */
    nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, server ? 3 : 2);
    nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, WF__GRPC_CONN_WINDOW);
    wf_watch_init(&c->watch, io->fd, conn_io_cb);
    rc = wf_watch_start(loop, &c->watch, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    if (rc != 0) {
        nghttp2_session_del(c->ng);
        c->ng = NULL;
        wf_io_destroy(io);
        c->io = NULL;
        c->closed = true;
        return rc;
    }
    c->ka_ms = opts->keepalive_ms;
    c->ka_timeout_ms = opts->keepalive_timeout_ms ? opts->keepalive_timeout_ms : 20000;
    if (c->ka_ms > 0)
        wf_timer_start(loop, &c->ka_timer, c->ka_ms);
    if (!connecting)
        wf__grpc_conn_kick(c);
    return 0;
}

/* --- send queue ---------------------------------------------------------------- */

int wf__grpc_sendq_put(wf__grpc_sendq_t *q, const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (n > UINT32_MAX - WF_GRPC_FRAME_HDR)
        return WF_ELIMIT;
    if (q->off == q->len)
        q->off = q->len = 0;
    size_t need = q->len + WF_GRPC_FRAME_HDR + n;
    if (need > q->cap) {
        if (q->off > 0) {
            memmove(q->buf, q->buf + q->off, q->len - q->off);
            q->len -= q->off;
            q->off = 0;
            need = q->len + WF_GRPC_FRAME_HDR + n;
        }
        if (need > q->cap) {
            size_t cap = WF_MAX(q->cap * 2, need);
            uint8_t *b = realloc(q->buf, cap);
            if (b == NULL)
                return WF_ENOMEM;
            q->buf = b;
            q->cap = cap;
        }
    }
    wf_grpc_frame_header(q->buf + q->len, (uint32_t)n);
    protobuf_c_message_pack(msg, q->buf + q->len + WF_GRPC_FRAME_HDR);
    q->len += WF_GRPC_FRAME_HDR + n;
    return 0;
}

void wf__grpc_sendq_free(wf__grpc_sendq_t *q)
{
    free(q->buf);
    q->buf = NULL;
    q->len = q->off = q->cap = 0;
}

ssize_t wf__grpc_sendq_read(wf__grpc_sendq_t *q, uint8_t *buf, size_t len, bool *eof)
{
    size_t n = WF_MIN(len, q->len - q->off);
    if (n > 0) {
        memcpy(buf, q->buf + q->off, n);
        q->off += n;
    }
    *eof = q->eof && q->off == q->len;
    if (n == 0 && !*eof) {
        q->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

void wf__grpc_sendq_wake(wf__grpc_sendq_t *q, nghttp2_session *ng, int32_t id)
{
    if (q->deferred && ng != NULL) {
        q->deferred = false;
        nghttp2_session_resume_data(ng, id);
    }
}

bool wf__grpc_content_type_ok(wf_str_t v)
{
    wf_str_t base = WF_STR("application/grpc");
    if (v.len < base.len || !wf_str_eq_nocase((wf_str_t){v.ptr, base.len}, base))
        return false;
    return v.len == base.len || v.ptr[base.len] == '+' || v.ptr[base.len] == ';';
}
