/*
 * io.h — a connection is a stack of small I/O filters behind one vtable
 * (curl's connection filters, haproxy's xprt): socket at the bottom, TLS
 * above it when the mesh adds it, protocol code on top. Every layer speaks
 * the same five calls, so relays and protocol engines never know whether
 * they talk to a socket or to TLS.
 *
 * Return convention for recv/send: bytes (> 0), 0 for EOF (recv only),
 * WF_EAGAIN when the layer cannot progress until its fd is ready, or another
 * negative error (-errno or WF_E*). A layer sets WF_IO_F_DRAINED when it
 * knows a further recv would only return WF_EAGAIN (a short read from the
 * kernel), saving the syscall that edge-triggered loops otherwise spend
 * discovering it. A layer that buffers input itself (TLS keeps decrypted
 * and not-yet-decrypted bytes) sets it only when its own buffer is empty
 * too, since no readiness edge will announce bytes it already holds.
 */
#ifndef WF_NET_IO_H
#define WF_NET_IO_H

#include "core/common.h"

#include <sys/types.h>

typedef struct wf_io wf_io_t;

typedef struct wf_io_ops {
    const char *name;
    ssize_t (*recv)(wf_io_t *io, char *buf, size_t len);
    ssize_t (*send)(wf_io_t *io, const char *buf, size_t len);
    /* Ends our sending direction (FIN; for TLS close_notify first). */
    int (*shutdown)(wf_io_t *io);
    /* Frees this layer and the layers below it, closing the socket. */
    void (*destroy)(wf_io_t *io);
} wf_io_ops_t;

#define WF_IO_F_DRAINED 0x1u /* the last recv emptied the kernel's queue */
#define WF_IO_F_RDHUP 0x2u   /* the peer's FIN was seen (EPOLLRDHUP): read to EOF */
/*
 * Which readiness a WF_EAGAIN waits for. A socket's recv waits for readable
 * and its send for writable, but a layer with its own protocol does not: a
 * TLS recv may have a handshake or key-update message to write, a TLS send
 * may have to read the peer's handshake first. A layer that can return
 * WF_EAGAIN for the "other" direction sets exactly one of these two bits on
 * every WF_EAGAIN it returns (from recv, send, shutdown, or its own calls
 * such as wf_tls_handshake) and clears both on every other return. Neither
 * bit set means the natural direction (the socket layer never sets them).
 * Callers: on WF_EAGAIN from recv with WANT_WRITE, clear the end's WRITABLE
 * (not READABLE) and retry the recv when the fd turns writable; likewise
 * send with WANT_READ waits for readable.
 */
#define WF_IO_F_WANT_READ 0x4u  /* the last WF_EAGAIN waits for the fd to be readable */
#define WF_IO_F_WANT_WRITE 0x8u /* the last WF_EAGAIN waits for the fd to be writable */

struct wf_io {
    const wf_io_ops_t *ops;
    wf_io_t *lower; /* owned: the layer below, NULL for the socket */
    int fd;         /* the socket all layers share (owned by the bottom layer) */
    uint32_t flags;
};

static inline ssize_t wf_io_recv(wf_io_t *io, char *buf, size_t len)
{
    return io->ops->recv(io, buf, len);
}

static inline ssize_t wf_io_send(wf_io_t *io, const char *buf, size_t len)
{
    return io->ops->send(io, buf, len);
}

static inline int wf_io_shutdown(wf_io_t *io)
{
    return io->ops->shutdown(io);
}

static inline void wf_io_destroy(wf_io_t *io)
{
    io->ops->destroy(io);
}

/* The bottom layer: a connected, non-blocking TCP socket. Takes ownership
 * of fd (closed by destroy). NULL on allocation failure (fd left open). */
wf_io_t *wf_io_socket_new(int fd);

/* A layer that first returns a copy of `data` (bytes already read from
 * `lower`, e.g. during protocol detection), then reads from lower; sends go
 * straight down. Takes ownership of lower on success; NULL on allocation
 * failure (lower untouched). */
wf_io_t *wf_io_prefix_new(wf_io_t *lower, const void *data, size_t len);

#endif
