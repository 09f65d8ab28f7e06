/*
 * io_socket.c — the bottom filter: plain read/write on a TCP socket.
 */
#include "net/io.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static ssize_t sock_recv(wf_io_t *io, char *buf, size_t len)
{
    for (;;) {
        ssize_t n = read(io->fd, buf, len);
        if (n > 0) {
            /* A short read drained the queue, unless a FIN is pending (then
             * one more read returns the EOF, which no new edge would report). */
            if ((size_t)n < len && !(io->flags & WF_IO_F_RDHUP))
                io->flags |= WF_IO_F_DRAINED;
            return n;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            io->flags |= WF_IO_F_DRAINED;
            return WF_EAGAIN;
        }
        return -errno;
    }
}

static ssize_t sock_send(wf_io_t *io, const char *buf, size_t len)
{
    for (;;) {
        ssize_t n = send(io->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return WF_EAGAIN;
        return -errno;
    }
}

static int sock_shutdown(wf_io_t *io)
{
    return shutdown(io->fd, SHUT_WR) == 0 ? 0 : -errno;
}

static void sock_destroy(wf_io_t *io)
{
    close(io->fd);
    free(io);
}

static const wf_io_ops_t socket_ops = {
    .name = "socket",
    .recv = sock_recv,
    .send = sock_send,
    .shutdown = sock_shutdown,
    .destroy = sock_destroy,
};

wf_io_t *wf_io_socket_new(int fd)
{
    wf_io_t *io = malloc(sizeof(*io));
    if (io == NULL)
        return NULL;
    *io = (wf_io_t){.ops = &socket_ops, .lower = NULL, .fd = fd, .flags = 0};
    return io;
}
