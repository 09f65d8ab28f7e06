/*
 * backend.c — weft-bench-backend: the benchmarks' fixed-response server.
 *
 * One thread, one epoll loop, level-triggered. Each connection is detected
 * from its first bytes: the HTTP/2 client preface ("PRI * HTTP/2.0...",
 * RFC 9113 §3.4) selects h2c with prior knowledge, anything else is
 * HTTP/1.1 keep-alive (pipelining allowed, answered in order).
 *
 * Responses, sized by the request so one server covers every payload:
 *   HTTP/1.1 and HTTP/2: 200 with a body of as many bytes as the request
 *     body had (0 for GET), filled with 'x';
 *   gRPC (content-type application/grpc*): 200, the request's
 *     length-prefixed message echoed back verbatim, trailer grpc-status 0
 *     (the bench's weft.bench.Echo/Unary; see grpc.h).
 *
 * --delay-us D holds every response for D µs (constant, so a FIFO keeps
 * them in due order): the loadgen's open-loop check uses it to confirm that
 * a known added latency is measured as such.
 */
#include "h1.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY (1u << 20) /* largest request body echoed or mirrored */
#define READ_CHUNK (64 * 1024)
#define H2_STREAM_WINDOW (1 << 20)
#define H2_CONN_WINDOW (1 << 24)

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
static char filler[64 * 1024]; /* 'x' bytes for bodies */

typedef enum { B_DETECT, B_H1, B_H2 } bproto_t;

typedef struct backend backend_t;

/* One accepted connection. Owned by the server's loop; freed when closed
 * and no delayed response refers to it any more. */
typedef struct bconn {
    backend_t *be; /* borrowed: the server */
    int fd;
    bproto_t proto;
    bool closing;  /* close once the output is flushed */
    bool dead;     /* socket closed; on the graveyard list */
    bool want_out; /* EPOLLOUT armed */
    bool dirty;    /* on the dirty list */
    struct bconn *next_dirty;
    struct bconn *next_dead;      /* graveyard list */
    uint32_t refs;                /* delayed responses queued for this connection */
    struct bstream *streams;      /* HTTP/2 streams with data (list head) */
    char pre[sizeof(h2_preface)]; /* first bytes, while detecting */
    size_t pre_len;
    lg_h1_msg_t req;    /* HTTP/1.1 request being read */
    nghttp2_session *s; /* owned: HTTP/2 session */
    char *out;          /* owned: [out_off, out_len) to write */
    size_t out_off, out_len, out_cap;
} bconn_t;

/* Per HTTP/2 stream (stream user data); owned by the connection's list,
 * since nghttp2_session_del() frees streams without a close callback. */
typedef struct bstream {
    struct bstream *prev, *next;
    bool grpc;
    size_t body; /* request DATA bytes */
    size_t sent; /* response body bytes handed to nghttp2 */
    size_t len;  /* response body length */
    char *echo;  /* owned: gRPC request bytes to echo (MAX_BODY cap) */
} bstream_t;

/* A response held back by --delay-us. */
typedef struct delayed {
    bconn_t *c;        /* refcounted (c->refs) */
    int32_t stream_id; /* HTTP/2 stream, or 0 for HTTP/1.1 */
    size_t len;        /* HTTP/1.1 body length */
    uint64_t due;
} delayed_t;

/* The server. One per process, owned by main() and reached from each
 * connection (c->be); single-threaded. */
struct backend {
    int ep;             /* owned epoll fd */
    uint64_t delay_ns;  /* --delay-us */
    bconn_t *dirty;     /* borrowed list: connections with output */
    bconn_t *graveyard; /* borrowed list: closed, freed at the loop's safe point */
    delayed_t *q;       /* owned ring of qcap held responses */
    size_t qcap, qhead, qlen;
    nghttp2_session_callbacks *cbs; /* owned, shared by every session */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void oom(void)
{
    fprintf(stderr, "weft-bench-backend: out of memory\n");
    exit(1);
}

static void mark_dirty(bconn_t *c)
{
    if (!c->dirty && !c->dead) {
        c->dirty = true;
        c->next_dirty = c->be->dirty;
        c->be->dirty = c;
    }
}

static void out_append(bconn_t *c, const void *p, size_t n)
{
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + n > c->out_cap) {
        if (c->out_off > 0) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        size_t cap = c->out_cap ? c->out_cap : 16384;
        while (cap < c->out_len + n)
            cap *= 2;
        if (cap != c->out_cap) {
            char *nb = realloc(c->out, cap);
            if (nb == NULL)
                oom();
            c->out = nb;
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    mark_dirty(c);
}

static void stream_free(bconn_t *c, bstream_t *st)
{
    if (st->prev != NULL)
        st->prev->next = st->next;
    else
        c->streams = st->next;
    if (st->next != NULL)
        st->next->prev = st->prev;
    free(st->echo);
    free(st);
}

/* Closes the socket at once; the memory waits in the graveyard until no
 * event of this iteration and no delayed response can reach it. */
static void conn_close(bconn_t *c)
{
    if (c->dead)
        return;
    epoll_ctl(c->be->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->dead = true;
    if (c->s != NULL)
        nghttp2_session_del(c->s);
    c->s = NULL;
    while (c->streams != NULL)
        stream_free(c, c->streams);
    c->next_dead = c->be->graveyard;
    c->be->graveyard = c;
}

/* Frees graveyard connections nothing refers to any more. */
static void reap(backend_t *be)
{
    bconn_t **pp = &be->graveyard;
    while (*pp != NULL) {
        bconn_t *c = *pp;
        if (c->refs == 0 && !c->dirty) {
            *pp = c->next_dead;
            free(c->out);
            free(c);
        } else {
            pp = &c->next_dead;
        }
    }
}

/* ---- HTTP/1.1 ---------------------------------------------------------- */

static void h1_respond(bconn_t *c, size_t len)
{
    char head[160];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     len);
    out_append(c, head, (size_t)n);
    for (size_t left = len; left > 0;) {
        size_t k = left < sizeof(filler) ? left : sizeof(filler);
        out_append(c, filler, k);
        left -= k;
    }
}

static void delay_push(bconn_t *c, int32_t stream_id, size_t len)
{
    backend_t *be = c->be;
    if (be->qlen == be->qcap) {
        size_t ncap = be->qcap ? be->qcap * 2 : 1024;
        delayed_t *nq = malloc(ncap * sizeof(*nq));
        if (nq == NULL)
            oom();
        for (size_t i = 0; i < be->qlen; i++)
            nq[i] = be->q[(be->qhead + i) % be->qcap];
        free(be->q);
        be->q = nq;
        be->qcap = ncap;
        be->qhead = 0;
    }
    c->refs++;
    be->q[(be->qhead + be->qlen++) % be->qcap] =
        (delayed_t){.c = c, .stream_id = stream_id, .len = len, .due = now_ns() + be->delay_ns};
}

static int h1_input(bconn_t *c, const char *p, size_t n)
{
    while (n > 0) {
        size_t used;
        int rc = lg_h1_feed(&c->req, p, n, &used);
        p += used;
        n -= used;
        if (rc == LG_H1_ERROR) {
            static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                      "Connection: close\r\n\r\n";
            out_append(c, bad, sizeof(bad) - 1);
            c->closing = true;
            return 0;
        }
        if (rc == LG_H1_AGAIN)
            return 0;
        size_t len = c->req.is_post ? (size_t)c->req.body_len : 0;
        if (len > MAX_BODY)
            len = MAX_BODY;
        if (c->be->delay_ns > 0)
            delay_push(c, 0, len);
        else
            h1_respond(c, len);
        if (c->req.conn_close) {
            c->closing = true;
            return 0;
        }
        lg_h1_msg_init(&c->req, true);
    }
    return 0;
}

/* ---- HTTP/2 and gRPC --------------------------------------------------- */

static ssize_t read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *user)
{
    bstream_t *st = src->ptr;
    size_t left = st->len - st->sent;
    size_t n = left < len ? left : len;
    if (st->grpc) {
        memcpy(buf, st->echo + st->sent, n);
    } else {
        for (size_t done = 0; done < n;) {
            size_t k = n - done < sizeof(filler) ? n - done : sizeof(filler);
            memcpy(buf + done, filler, k);
            done += k;
        }
    }
    st->sent += n;
    if (st->sent == st->len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (st->grpc) {
            /* Trailers end the stream (gRPC over HTTP/2, "Responses"). */
            static const nghttp2_nv tr[] = {
                {(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, NGHTTP2_NV_FLAG_NONE},
            };
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            if (nghttp2_submit_trailer(s, stream_id, tr, 1) != 0)
                return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
    }
    return (ssize_t)n;
}

static void h2_respond(nghttp2_session *s, int32_t stream_id)
{
    bstream_t *st = nghttp2_session_get_stream_user_data(s, stream_id);
    if (st == NULL)
        return; /* reset meanwhile */
    char clen[24];
    st->len = st->body > MAX_BODY ? MAX_BODY : st->body;
    snprintf(clen, sizeof(clen), "%zu", st->len);
    nghttp2_nv grpc_hdrs[] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_nv http_hdrs[] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/octet-stream", 12, 24,
         NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-length", (uint8_t *)clen, 14, strlen(clen), NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_data_provider dp = {.source.ptr = st, .read_callback = read_body};
    if (st->grpc)
        nghttp2_submit_response(s, stream_id, grpc_hdrs, 2, &dp);
    else
        nghttp2_submit_response(s, stream_id, http_hdrs, 3, st->len > 0 ? &dp : NULL);
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    bconn_t *c = user;
    bstream_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    st->next = c->streams;
    if (c->streams != NULL)
        c->streams->prev = st;
    c->streams = st;
    nghttp2_session_set_stream_user_data(s, frame->hd.stream_id, st);
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    bstream_t *st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    static const char ct[] = "application/grpc";
    if (st != NULL && namelen == 12 && memcmp(name, "content-type", 12) == 0 &&
        valuelen >= sizeof(ct) - 1 && memcmp(value, ct, sizeof(ct) - 1) == 0)
        st->grpc = true;
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                   size_t len, void *user)
{
    bstream_t *st = nghttp2_session_get_stream_user_data(s, stream_id);
    if (st == NULL)
        return 0;
    if (st->grpc && st->body + len <= MAX_BODY) {
        char *nb = realloc(st->echo, st->body + len);
        if (nb == NULL)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        st->echo = nb;
        memcpy(st->echo + st->body, data, len);
    }
    st->body += len;
    return 0;
}

static int on_frame(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    bconn_t *c = user;
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
        nghttp2_session_get_stream_user_data(s, frame->hd.stream_id) != NULL) {
        if (c->be->delay_ns > 0)
            delay_push(c, frame->hd.stream_id, 0);
        else
            h2_respond(s, frame->hd.stream_id);
    }
    return 0;
}

static int on_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *user)
{
    bstream_t *st = nghttp2_session_get_stream_user_data(s, stream_id);
    if (st != NULL) {
        nghttp2_session_set_stream_user_data(s, stream_id, NULL);
        stream_free(user, st);
    }
    return 0;
}

static int h2_start(bconn_t *c)
{
    if (nghttp2_session_server_new(&c->s, c->be->cbs, c) != 0)
        return -1;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
    };
    if (nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, 2) != 0 ||
        nghttp2_session_set_local_window_size(c->s, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW) != 0)
        return -1;
    mark_dirty(c);
    return 0;
}

static int h2_input(bconn_t *c, const char *p, size_t n)
{
    ssize_t rc = nghttp2_session_mem_recv(c->s, (const uint8_t *)p, n);
    mark_dirty(c);
    return rc < 0 ? -1 : 0;
}

/* ---- connections ------------------------------------------------------- */

static int conn_input(bconn_t *c, const char *p, size_t n)
{
    if (c->proto == B_DETECT) {
        /* Enough bytes to tell "PRI " from an HTTP/1.1 method. */
        size_t take = n < 4 - c->pre_len ? n : 4 - c->pre_len;
        memcpy(c->pre + c->pre_len, p, take);
        c->pre_len += take;
        p += take;
        n -= take;
        if (c->pre_len < 4 && memcmp(c->pre, h2_preface, c->pre_len) == 0)
            return 0;
        if (memcmp(c->pre, h2_preface, c->pre_len) == 0) {
            c->proto = B_H2;
            if (h2_start(c) != 0 || h2_input(c, c->pre, c->pre_len) != 0)
                return -1;
        } else {
            c->proto = B_H1;
            lg_h1_msg_init(&c->req, true);
            if (h1_input(c, c->pre, c->pre_len) != 0)
                return -1;
        }
        if (n == 0)
            return 0;
    }
    return c->proto == B_H2 ? h2_input(c, p, n) : h1_input(c, p, n);
}

static void conn_flush(bconn_t *c)
{
    if (c->dead)
        return;
    for (;;) {
        if (c->s != NULL) {
            while (c->out_len - c->out_off < 256 * 1024) {
                const uint8_t *data;
                ssize_t n = nghttp2_session_mem_send(c->s, &data);
                if (n < 0) {
                    conn_close(c);
                    return;
                }
                if (n == 0)
                    break;
                out_append(c, data, (size_t)n);
            }
        }
        if (c->out_off == c->out_len)
            break;
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out) {
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
                epoll_ctl(c->be->ep, EPOLL_CTL_MOD, c->fd, &ev);
                c->want_out = true;
            }
            return;
        }
        if (n < 0) {
            conn_close(c);
            return;
        }
        c->out_off += (size_t)n;
    }
    if (c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(c->be->ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = false;
    }
    if (c->closing && c->refs == 0)
        conn_close(c);
    else if (c->s != NULL && !nghttp2_session_want_read(c->s) && !nghttp2_session_want_write(c->s))
        conn_close(c);
}

static void conn_readable(bconn_t *c)
{
    static char buf[READ_CHUNK];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n > 0) {
            if (c->closing)
                continue; /* discard input after a final response */
            if (conn_input(c, buf, (size_t)n) != 0) {
                conn_close(c);
                return;
            }
            if ((size_t)n < sizeof(buf))
                return;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        /* EOF or error: pending output is moot. */
        conn_close(c);
        return;
    }
}

static void accept_all(backend_t *be, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error: level-triggered retry */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        bconn_t *c = calloc(1, sizeof(*c));
        if (c == NULL)
            oom();
        c->be = be;
        c->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(be->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
        }
    }
}

static void flush_dirty(backend_t *be)
{
    while (be->dirty != NULL) {
        bconn_t *c = be->dirty;
        be->dirty = c->next_dirty;
        c->dirty = false;
        conn_flush(c);
    }
}

/* Sends every delayed response that is due; returns the next due time. */
static uint64_t delayed_due(backend_t *be, uint64_t now)
{
    while (be->qlen > 0) {
        delayed_t *d = &be->q[be->qhead];
        if (d->due > now)
            return d->due;
        bconn_t *c = d->c;
        if (!c->dead) {
            if (d->stream_id == 0)
                h1_respond(c, d->len);
            else if (c->s != NULL)
                h2_respond(c->s, d->stream_id);
            mark_dirty(c);
        }
        be->qhead = (be->qhead + 1) % be->qcap;
        be->qlen--;
        c->refs--;
    }
    return UINT64_MAX;
}

static int listen_on(const char *spec)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || (size_t)(colon - spec) >= sizeof(host))
        return -1;
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai;
    if (getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    return fd;
}

int main(int argc, char **argv)
{
    static backend_t be; /* lives as long as the process */
    const char *listen_spec = "0.0.0.0:8080";
    int cpu = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen_spec = argv[++i];
        } else if (strcmp(argv[i], "--cpu") == 0 && i + 1 < argc) {
            cpu = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--delay-us") == 0 && i + 1 < argc) {
            be.delay_ns = strtoull(argv[++i], NULL, 10) * 1000ull;
        } else {
            fprintf(stderr, "usage: weft-bench-backend [--listen ADDR:PORT] [--cpu N] "
                            "[--delay-us D]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) != 0) {
            perror("weft-bench-backend: sched_setaffinity");
            return 1;
        }
    }
    memset(filler, 'x', sizeof(filler));
    if (nghttp2_session_callbacks_new(&be.cbs) != 0)
        oom();
    nghttp2_session_callbacks_set_on_begin_headers_callback(be.cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(be.cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(be.cbs, on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(be.cbs, on_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(be.cbs, on_close);

    int lfd = listen_on(listen_spec);
    be.ep = epoll_create1(EPOLL_CLOEXEC);
    if (lfd < 0 || be.ep < 0) {
        fprintf(stderr, "weft-bench-backend: cannot listen on %s: %s\n", listen_spec,
                strerror(errno));
        return 1;
    }
    static int listen_marker; /* data.ptr of the listener's event */
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &listen_marker};
    epoll_ctl(be.ep, EPOLL_CTL_ADD, lfd, &lev);

    struct epoll_event evs[64];
    for (;;) {
        uint64_t next = delayed_due(&be, now_ns());
        flush_dirty(&be);
        struct timespec ts, *tp = NULL;
        if (next != UINT64_MAX) {
            uint64_t now = now_ns(), wait = next > now ? next - now : 0;
            ts = (struct timespec){(time_t)(wait / 1000000000ull), (long)(wait % 1000000000ull)};
            tp = &ts;
        }
        int n = epoll_pwait2(be.ep, evs, 64, tp, NULL);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &listen_marker) {
                accept_all(&be, lfd);
                continue;
            }
            bconn_t *c = evs[i].data.ptr;
            if (c->dead)
                continue;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                conn_readable(c);
            if (!c->dead && (evs[i].events & EPOLLOUT))
                mark_dirty(c);
        }
        flush_dirty(&be);
        reap(&be);
    }
}
