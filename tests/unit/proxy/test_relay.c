/* Unit tests: the opaque relay and the end helpers, over fake I/O layers
 * whose readiness the test controls (no sockets). */
#include "relay.h"
#include "wf_test.h"

#include <stdlib.h>

/* A fake layer: reads from `src`, writes into `dst` up to `room` bytes.
 * Ends have no metric series (NULL): recording is skipped. */
typedef struct fake {
    wf_io_t io;
    const char *src;
    size_t src_len, src_off;
    bool src_eof;      /* after src: EOF (else WF_EAGAIN) */
    uint32_t want;     /* WF_IO_F_WANT_* to report with WF_EAGAIN */
    char dst[1 << 16];
    size_t dst_len, room;
    size_t max_send;   /* per call, 0 = no limit */
    bool shut;
    int recv_calls;
} fake_t;

static ssize_t fake_recv(wf_io_t *io, char *buf, size_t len)
{
    fake_t *f = wf_container_of(io, fake_t, io);
    f->recv_calls++;
    io->flags &= ~(WF_IO_F_WANT_READ | WF_IO_F_WANT_WRITE);
    size_t left = f->src_len - f->src_off;
    if (left == 0) {
        if (f->src_eof)
            return 0;
        io->flags |= f->want;
        return WF_EAGAIN;
    }
    size_t n = WF_MIN(left, len);
    memcpy(buf, f->src + f->src_off, n);
    f->src_off += n;
    return (ssize_t)n;
}

static ssize_t fake_send(wf_io_t *io, const char *buf, size_t len)
{
    fake_t *f = wf_container_of(io, fake_t, io);
    io->flags &= ~(WF_IO_F_WANT_READ | WF_IO_F_WANT_WRITE);
    size_t n = WF_MIN(len, f->room - f->dst_len);
    if (f->max_send && n > f->max_send)
        n = f->max_send;
    if (n == 0) {
        io->flags |= f->want;
        return WF_EAGAIN;
    }
    memcpy(f->dst + f->dst_len, buf, n);
    f->dst_len += n;
    return (ssize_t)n;
}

static int fake_shutdown(wf_io_t *io)
{
    wf_container_of(io, fake_t, io)->shut = true;
    return 0;
}

static void fake_destroy(wf_io_t *io)
{
}

static const wf_io_ops_t fake_ops = {"fake", fake_recv, fake_send, fake_shutdown, fake_destroy};


static void fake_init(fake_t *f, wf_end_t *e, const char *src, bool eof)
{
    memset(f, 0, sizeof(*f));
    f->io.ops = &fake_ops;
    f->src = src;
    f->src_len = src ? strlen(src) : 0;
    f->src_eof = eof;
    f->room = sizeof(f->dst);
    memset(e, 0, sizeof(*e));
    e->io = &f->io;
    e->flags = WF_END_F_READABLE | WF_END_F_WRITABLE;
}

static void test_relay_both_ways_and_half_close(void)
{
    wf_pool_t pool;
    wf_pool_init(&pool, 16384, 8);
    fake_t *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    wf_end_t ea, eb;
    fake_init(a, &ea, "hello from a", true);
    fake_init(b, &eb, "and from b", false);
    wf_relay_t r = {.a = &ea, .b = &eb};
    int rc = wf_relay_pump(&r, &pool);
    CHECK_EQ_INT(rc, WF_RELAY_OPEN); /* b has not ended */
    CHECK_EQ_INT(b->dst_len, 12);
    CHECK(memcmp(b->dst, "hello from a", 12) == 0);
    CHECK(b->shut);  /* a's EOF became b's FIN */
    CHECK(!a->shut); /* the other direction stays open */
    CHECK_EQ_INT(a->dst_len, 10);
    b->src_eof = true;
    eb.flags |= WF_END_F_READABLE;
    CHECK_EQ_INT(wf_relay_pump(&r, &pool), WF_RELAY_DONE);
    CHECK(a->shut);
    wf_relay_release(&r, &pool);
    CHECK_EQ_INT(pool.in_use, 0);
    wf_pool_destroy(&pool);
    free(a);
    free(b);
}

static void test_bounded_when_sink_blocks(void)
{
    wf_pool_t pool;
    wf_pool_init(&pool, 16384, 8);
    static char big[100000];
    memset(big, 'x', sizeof(big) - 1);
    fake_t *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    wf_end_t ea, eb;
    fake_init(a, &ea, big, false);
    fake_init(b, &eb, NULL, false);
    b->room = 1000; /* the sink takes 1000 bytes then blocks */
    wf_relay_t r = {.a = &ea, .b = &eb};
    CHECK_EQ_INT(wf_relay_pump(&r, &pool), WF_RELAY_OPEN);
    CHECK_EQ_INT(b->dst_len, 1000);
    /* At most one buffer was read ahead of the blocked sink. */
    CHECK(a->src_off <= 1000 + 16384);
    CHECK(!(eb.flags & WF_END_F_WRITABLE));
    wf_relay_release(&r, &pool);
    wf_pool_destroy(&pool);
    free(a);
    free(b);
}

static void test_want_flags(void)
{
    wf_pool_t pool;
    wf_pool_init(&pool, 16384, 8);
    fake_t *f = malloc(sizeof(*f));
    wf_end_t e;
    wf_buf_t b = WF_BUF_EMPTY;

    /* A read that waits for writability (TLS) keeps READABLE, drops WRITABLE. */
    fake_init(f, &e, NULL, false);
    f->want = WF_IO_F_WANT_WRITE;
    CHECK_EQ_INT(wf_end_read(&e, &b, &pool), WF_EAGAIN);
    CHECK(e.flags & WF_END_F_READABLE);
    CHECK(!(e.flags & WF_END_F_WRITABLE));
    CHECK(b.data == NULL); /* nothing held for an empty read */

    /* A plain would-block read drops READABLE. */
    fake_init(f, &e, NULL, false);
    CHECK_EQ_INT(wf_end_read(&e, &b, &pool), WF_EAGAIN);
    CHECK(!(e.flags & WF_END_F_READABLE));
    CHECK(e.flags & WF_END_F_WRITABLE);

    /* A send that waits for readability keeps WRITABLE, drops READABLE. */
    fake_init(f, &e, NULL, false);
    f->room = 0;
    f->want = WF_IO_F_WANT_READ;
    wf_sbuf_t out = {0};
    size_t off = 0;
    wf_sbuf_puts(&out, "data");
    CHECK_EQ_INT(wf_end_flush(&e, &out, &off), WF_EAGAIN);
    CHECK(e.flags & WF_END_F_WRITABLE);
    CHECK(!(e.flags & WF_END_F_READABLE));

    /* A layered io (TLS) writing short is retried, not parked. */
    wf_io_t below = {0};
    fake_init(f, &e, NULL, false);
    f->io.lower = &below;
    f->max_send = 3;
    off = 0;
    CHECK_EQ_INT(wf_end_flush(&e, &out, &off), 0);
    CHECK_EQ_INT(f->dst_len, 4);
    /* ... while a short write by the socket itself parks until EPOLLOUT. */
    fake_init(f, &e, NULL, false);
    f->max_send = 3;
    wf_sbuf_puts(&out, "data");
    off = 0;
    CHECK_EQ_INT(wf_end_flush(&e, &out, &off), WF_EAGAIN);
    CHECK_EQ_INT(off, 3);
    CHECK(!(e.flags & WF_END_F_WRITABLE));
    wf_sbuf_free(&out);
    wf_pool_destroy(&pool);
    free(f);
}

int main(void)
{
    WF_RUN(test_relay_both_ways_and_half_close);
    WF_RUN(test_bounded_when_sink_blocks);
    WF_RUN(test_want_flags);
    return wf_test_done();
}
