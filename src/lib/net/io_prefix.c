/*
 * io_prefix.c — a filter that hands out bytes already read from the layer
 * below before reading more from it. Detection reads a connection's first
 * bytes to decide what it is; when the answer is "TLS for us", those bytes
 * (the ClientHello) belong to the TLS layer we then stack on top, so they
 * are put back in front of the socket with this filter.
 */
#include "net/io.h"

#include <stdlib.h>
#include <string.h>

typedef struct io_prefix {
    wf_io_t io;
    size_t len, off;
    char data[]; /* len bytes, owned */
} io_prefix_t;

/* RDHUP is a hint from above to the socket; DRAINED comes from below but is
 * true only once our own bytes are gone too. */
static void prefix_sync_flags(io_prefix_t *p)
{
    p->io.lower->flags |= p->io.flags & WF_IO_F_RDHUP;
    uint32_t below = p->io.lower->flags & (WF_IO_F_DRAINED | WF_IO_F_WANT_READ | WF_IO_F_WANT_WRITE);
    p->io.flags &= ~(WF_IO_F_DRAINED | WF_IO_F_WANT_READ | WF_IO_F_WANT_WRITE);
    if (p->off == p->len)
        p->io.flags |= below;
}

static ssize_t prefix_recv(wf_io_t *io, char *buf, size_t len)
{
    io_prefix_t *p = (io_prefix_t *)io;
    if (p->off < p->len) {
        size_t n = WF_MIN(len, p->len - p->off);
        memcpy(buf, p->data + p->off, n);
        p->off += n;
        /* Not DRAINED: the socket below may hold more, and no new edge
         * would tell, so the caller must try once more. */
        io->flags &= ~(WF_IO_F_DRAINED | WF_IO_F_WANT_READ | WF_IO_F_WANT_WRITE);
        return (ssize_t)n;
    }
    p->io.lower->flags |= io->flags & WF_IO_F_RDHUP;
    ssize_t n = wf_io_recv(io->lower, buf, len);
    prefix_sync_flags(p);
    return n;
}

static ssize_t prefix_send(wf_io_t *io, const char *buf, size_t len)
{
    io_prefix_t *p = (io_prefix_t *)io;
    ssize_t n = wf_io_send(io->lower, buf, len);
    prefix_sync_flags(p);
    return n;
}

static int prefix_shutdown(wf_io_t *io)
{
    return wf_io_shutdown(io->lower);
}

static void prefix_destroy(wf_io_t *io)
{
    wf_io_destroy(io->lower);
    free(io);
}

static const wf_io_ops_t prefix_ops = {
    .name = "prefix",
    .recv = prefix_recv,
    .send = prefix_send,
    .shutdown = prefix_shutdown,
    .destroy = prefix_destroy,
};

wf_io_t *wf_io_prefix_new(wf_io_t *lower, const void *data, size_t len)
{
    io_prefix_t *p = malloc(sizeof(*p) + len);
    if (p == NULL)
        return NULL;
    p->io = (wf_io_t){.ops = &prefix_ops, .lower = lower, .fd = lower->fd, .flags = 0};
    p->len = len;
    p->off = 0;
    if (len > 0)
        memcpy(p->data, data, len);
    return &p->io;
}
