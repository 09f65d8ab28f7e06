/*
 * relay.h — the opaque byte relay between two connection ends: one bounded
 * buffer per direction, half-close carried across (a FIN read on one side
 * becomes shutdown(SHUT_WR) on the other once the buffer drained), and a
 * buffer held only while bytes are in flight. The same pump serves opaque
 * TCP today and upgraded HTTP (WebSocket, CONNECT) and mTLS-wrapped
 * transport later, since ends are wf_io stacks.
 *
 * Edge-triggered discipline: an end's READABLE/WRITABLE flags are set from
 * epoll events and cleared when the io layer says it would block (or a
 * short read/write shows the kernel queue is empty/full), so every syscall
 * made is one that can progress.
 */
#ifndef WF_PROXY_RELAY_H
#define WF_PROXY_RELAY_H

#include "core/buf.h"
#include "core/loop.h"
#include "net/io.h"
#include "tcp_metrics.h"

#define WF_END_F_READABLE 0x1u /* epoll said readable since the last EAGAIN */
#define WF_END_F_WRITABLE 0x2u /* epoll said writable since the last EAGAIN */

/* One socket of a proxied connection. Owner: the worker thread. */
typedef struct wf_end {
    wf_watch_t watch;
    wf_io_t *io; /* owned: top of the filter stack, NULL once closed */
    uint32_t flags;
    wf_tcp_series_t metrics;
} wf_end_t;

/*
 * After a recv / send returned WF_EAGAIN: forget the readiness the layer
 * is waiting for. A TLS layer may wait for the *other* direction (a read
 * that must first write a record, or the reverse: WF_IO_F_WANT_*); the
 * end then keeps the flag of the call it retries, so the next event of
 * either kind retries it.
 */
static inline void wf_end_recv_blocked(wf_end_t *e)
{
    e->flags &= (e->io->flags & WF_IO_F_WANT_WRITE) ? ~WF_END_F_WRITABLE : ~WF_END_F_READABLE;
}

static inline void wf_end_send_blocked(wf_end_t *e)
{
    e->flags &= (e->io->flags & WF_IO_F_WANT_READ) ? ~WF_END_F_READABLE : ~WF_END_F_WRITABLE;
}

/* Records readiness from an epoll event into the end. */
void wf_end_on_events(wf_end_t *end, uint32_t events);

/*
 * Sends out->ptr[*off .. out->len) while the end is writable, counting the
 * bytes in its metrics. Returns 0 once all is sent (out is then emptied),
 * WF_EAGAIN while bytes remain, or an error.
 */
int wf_end_flush(wf_end_t *end, wf_sbuf_t *out, size_t *off);

/*
 * The outcome of a non-blocking connect on an end, from its epoll events:
 * WF_EAGAIN while still pending, 0 once connected, or the connect error
 * (already logged and counted in {direction}_tcp_errors_total).
 */
int wf_end_connected(wf_end_t *end, uint32_t events, const wf_addr_t *target,
                     const char *direction, wf_metrics_shard_t *shard, uint64_t now_ms);

/*
 * Reads what fits into b (taking a pool chunk if it holds none), counting
 * the bytes in the end's metrics and keeping its READABLE flag honest.
 * Returns bytes (> 0), 0 at EOF, WF_EAGAIN (nothing now; READABLE
 * cleared), WF_ELIMIT (b is full), WF_ENOMEM (no buffer: a wait), or an
 * error. An empty b is given back to the pool on anything but data.
 */
ssize_t wf_end_read(wf_end_t *end, wf_buf_t *b, wf_pool_t *pool);

/*
 * Closes an end: counts the close in its metrics (err 0 = success), stops
 * its watch (events already fetched this iteration go to a no-op) and
 * destroys its io stack. `reset` closes abortively (RST), so the far side
 * learns of a failure instead of seeing a clean end of stream.
 */
void wf_end_close(wf_end_t *end, wf_loop_t *loop, wf_metrics_shard_t *shard, int err, bool reset);

#define WF_FLOW_F_EOF 0x1u  /* the source reached EOF */
#define WF_FLOW_F_SHUT 0x2u /* the sink was shut down (FIN sent) */

/* One direction: bytes read from `from` waiting to be written to `to`. */
typedef struct wf_flow {
    wf_buf_t buf; /* owned chunk while non-empty */
    uint32_t flags;
    uint64_t bytes; /* relayed so far */
} wf_flow_t;

typedef struct wf_relay {
    wf_end_t *a, *b; /* borrowed from the owner */
    wf_flow_t ab, ba;
} wf_relay_t;

/* Result of a pump. */
#define WF_RELAY_OPEN 0 /* keep going */
#define WF_RELAY_DONE 1 /* both directions ended cleanly */

/*
 * Moves as many bytes as the ends allow in both directions. Returns
 * WF_RELAY_OPEN, WF_RELAY_DONE, or a negative error (a reset or I/O error
 * on either end: the caller closes both, resetting the other).
 */
int wf_relay_pump(wf_relay_t *r, wf_pool_t *pool);

/* Returns the buffers (call once, when the connection closes). */
void wf_relay_release(wf_relay_t *r, wf_pool_t *pool);

#endif
