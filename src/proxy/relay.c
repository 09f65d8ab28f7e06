#include "relay.h"

#include "core/log.h"

#include <sys/socket.h>

void wf_end_on_events(wf_end_t *end, uint32_t events)
{
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        end->flags |= WF_END_F_READABLE;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        end->flags |= WF_END_F_WRITABLE;
    if (end->io != NULL && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        end->io->flags |= WF_IO_F_RDHUP;
}

int wf_end_flush(wf_end_t *e, wf_sbuf_t *out, size_t *off)
{
    while (*off < out->len) {
        if (!(e->flags & WF_END_F_WRITABLE))
            return WF_EAGAIN;
        size_t len = out->len - *off;
        ssize_t n = wf_io_send(e->io, out->ptr + *off, len);
        if (n == WF_EAGAIN) {
            wf_end_send_blocked(e);
            return WF_EAGAIN;
        }
        if (n < 0)
            return (int)n;
        wf_tcp_metrics_write(&e->metrics, (size_t)n);
        *off += (size_t)n;
        /* Partial from the socket itself: its buffer is full; wait for
         * EPOLLOUT. (A TLS layer writes record by record: short means
         * nothing about the socket, so just try again.) */
        if ((size_t)n < len && e->io->lower == NULL) {
            e->flags &= ~WF_END_F_WRITABLE;
            return WF_EAGAIN;
        }
    }
    out->len = *off = 0;
    return 0;
}

/* Writes what the flow holds; returns 0, WF_EAGAIN while bytes remain, or
 * an error. */
static int flow_flush(wf_flow_t *f, wf_end_t *to, wf_pool_t *pool)
{
    while (wf_buf_len(&f->buf) > 0) {
        if (!(to->flags & WF_END_F_WRITABLE))
            return WF_EAGAIN;
        size_t len = wf_buf_len(&f->buf);
        ssize_t n = wf_io_send(to->io, wf_buf_readp(&f->buf), len);
        if (n == WF_EAGAIN) {
            wf_end_send_blocked(to);
            return WF_EAGAIN;
        }
        if (n < 0)
            return (int)n;
        wf_tcp_metrics_write(&to->metrics, (size_t)n);
        f->bytes += (uint64_t)n;
        wf_buf_consume(&f->buf, pool, (size_t)n);
        /* A partial write by the socket means its buffer is full: wait for
         * EPOLLOUT rather than spend a syscall to hear EAGAIN (not so for a
         * TLS layer, which writes record by record). */
        if ((size_t)n < len && to->io->lower == NULL) {
            to->flags &= ~WF_END_F_WRITABLE;
            return WF_EAGAIN;
        }
    }
    return 0;
}

static int flow_pump(wf_flow_t *f, wf_end_t *from, wf_end_t *to, wf_pool_t *pool)
{
    for (;;) {
        int rc = flow_flush(f, to, pool);
        if (rc == WF_EAGAIN)
            return 0; /* bounded: read nothing more until the sink drains */
        if (rc < 0)
            return rc;
        if (f->flags & WF_FLOW_F_EOF) {
            if (!(f->flags & WF_FLOW_F_SHUT)) {
                f->flags |= WF_FLOW_F_SHUT;
                rc = wf_io_shutdown(to->io);
                if (rc < 0 && rc != -ENOTCONN)
                    return rc;
            }
            return 0;
        }
        if (!(from->flags & WF_END_F_READABLE))
            return 0;
        int space = wf_buf_reserve(&f->buf, pool);
        if (space < 0)
            return 0; /* out of buffers: a wait, retried on the next event */
        from->io->flags &= ~WF_IO_F_DRAINED;
        ssize_t n = wf_io_recv(from->io, wf_buf_writep(&f->buf), (size_t)space);
        if (n > 0) {
            wf_buf_produced(&f->buf, (size_t)n);
            wf_tcp_metrics_read(&from->metrics, (size_t)n);
            if (from->io->flags & WF_IO_F_DRAINED)
                from->flags &= ~WF_END_F_READABLE;
            continue;
        }
        if (wf_buf_len(&f->buf) == 0)
            wf_buf_release(&f->buf, pool);
        if (n == 0) {
            f->flags |= WF_FLOW_F_EOF;
            continue;
        }
        if (n == WF_EAGAIN) {
            wf_end_recv_blocked(from);
            return 0;
        }
        return (int)n;
    }
}

int wf_relay_pump(wf_relay_t *r, wf_pool_t *pool)
{
    int rc = flow_pump(&r->ab, r->a, r->b, pool);
    if (rc < 0)
        return rc;
    rc = flow_pump(&r->ba, r->b, r->a, pool);
    if (rc < 0)
        return rc;
    if ((r->ab.flags & WF_FLOW_F_SHUT) && (r->ba.flags & WF_FLOW_F_SHUT))
        return WF_RELAY_DONE;
    return WF_RELAY_OPEN;
}

void wf_relay_release(wf_relay_t *r, wf_pool_t *pool)
{
    wf_buf_release(&r->ab.buf, pool);
    wf_buf_release(&r->ba.buf, pool);
}

int wf_end_connected(wf_end_t *e, uint32_t events, const wf_addr_t *target,
                     const char *direction, wf_metrics_shard_t *shard, uint64_t now_ms)
{
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        return WF_EAGAIN;
    int err = wf_sock_error(e->io->fd);
    if (err == 0)
        return 0;
    wf_tcp_metrics_error(shard, direction, err == -ECONNREFUSED ? "connect_refused" : "connect_error",
                         now_ms);
    if (wf_log_enabled(WF_LOG_INFO)) {
        char dst[WF_ADDR_STRLEN];
        wf_addr_format(target, dst, sizeof(dst));
        wf_log_info("%s: connect to %s failed: %s", direction, dst, wf_strerror(err));
    }
    return err;
}

ssize_t wf_end_read(wf_end_t *e, wf_buf_t *b, wf_pool_t *pool)
{
    int space = wf_buf_reserve(b, pool);
    if (space < 0)
        return WF_ENOMEM;
    if (space == 0)
        return WF_ELIMIT;
    e->io->flags &= ~WF_IO_F_DRAINED;
    ssize_t n = wf_io_recv(e->io, wf_buf_writep(b), (size_t)space);
    if (n > 0) {
        wf_buf_produced(b, (size_t)n);
        wf_tcp_metrics_read(&e->metrics, (size_t)n);
        if (e->io->flags & WF_IO_F_DRAINED)
            e->flags &= ~WF_END_F_READABLE;
        return n;
    }
    if (wf_buf_len(b) == 0)
        wf_buf_release(b, pool);
    if (n == WF_EAGAIN)
        wf_end_recv_blocked(e);
    return n;
}

static void end_noop_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
}

void wf_end_close(wf_end_t *e, wf_loop_t *loop, wf_metrics_shard_t *shard, int err, bool reset)
{
    wf_tcp_metrics_close(shard, &e->metrics, err, loop->now);
    if (e->io == NULL)
        return;
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(e->io->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    wf_watch_stop(loop, &e->watch);
    e->watch.cb = end_noop_cb;
    wf_io_destroy(e->io);
    e->io = NULL;
}
