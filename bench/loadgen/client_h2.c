/*
 * client_h2.c — HTTP/2 (h2c, prior knowledge) and gRPC unary client side of
 * the loadgen, on nghttp2's client session in memory-buffer mode: bytes
 * from the socket go to nghttp2_session_mem_recv(), and bytes to send come
 * from nghttp2_session_mem_send() into the connection's output buffer.
 *
 * Every request is its own stream, opened the moment it is due: HTTP/2
 * needs no queueing of ours (nghttp2 holds streams beyond the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS until one closes; that wait counts in the
 * latency too, since it is measured from the intended time).
 *
 * GOAWAY (a server's request limit, or shutdown): the session takes no
 * new streams; requests due meanwhile, and streams the server refused
 * (REFUSED_STREAM: never processed, RFC 9113 §8.7), wait in `retry` and go
 * out on the next connection with their original intended times. The
 * connection is closed cleanly once its last stream ends. A stream refused
 * without a GOAWAY is simply sent again on the same session.
 *
 * A stream succeeds when it closes without RST_STREAM, with :status 200
 * and a payload of the expected size; for gRPC also content-type
 * application/grpc*, grpc-status 0 and a length prefix that matches the
 * bytes received (gRPC over HTTP/2, "Responses").
 */
#include "grpc.h"
#include "lg.h"
#include "ring.h"

#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>

/* Per-stream state. Owned by the connection's pool; on the live list from
 * submit until the stream closes. */
typedef struct lg_h2s {
    struct lg_h2s *prev, *next; /* borrowed: live list or free list (next only) */
    uint64_t due;
    size_t sent;     /* request body bytes handed to nghttp2 */
    int status;      /* :status, 0 until seen */
    int grpc_status; /* grpc-status, -1 until seen */
    bool grpc_ct;    /* content-type is application/grpc[+...|;...] */
    uint64_t rx;     /* response DATA payload bytes */
    uint8_t prefix[LG_GRPC_PREFIX];
} lg_h2s_t;

struct lg_h2c {
    nghttp2_session *s; /* owned */
    lg_conn_t *conn;    /* borrowed: back pointer for callbacks */
    lg_h2s_t *live;     /* borrowed list heads; nodes owned via `free` or `live` */
    lg_h2s_t *free;
    bool goaway;     /* the server sent GOAWAY: no new streams here */
    lg_ring_t retry; /* intended times waiting for the next session */
};

/* The client's SETTINGS: no push, and windows wide enough that a 16 KiB
 * response never waits for a WINDOW_UPDATE. */
#define H2_STREAM_WINDOW (1 << 20)
#define H2_CONN_WINDOW (1 << 24)

static nghttp2_session_callbacks *h2_callbacks; /* shared, created once */

static lg_h2s_t *stream_get(lg_h2c_t *h)
{
    lg_h2s_t *st = h->free;
    if (st != NULL)
        h->free = st->next;
    else if ((st = malloc(sizeof(*st))) == NULL)
        return NULL;
    memset(st, 0, sizeof(*st));
    st->grpc_status = -1;
    st->next = h->live;
    if (h->live != NULL)
        h->live->prev = st;
    h->live = st;
    return st;
}

static void stream_put(lg_h2c_t *h, lg_h2s_t *st)
{
    if (st->prev != NULL)
        st->prev->next = st->next;
    else
        h->live = st->next;
    if (st->next != NULL)
        st->next->prev = st->prev;
    st->prev = NULL;
    st->next = h->free;
    h->free = st;
}

static int parse_int(const uint8_t *v, size_t n)
{
    int x = 0;
    if (n == 0 || n > 6)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

static bool name_is(const uint8_t *name, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(name, lit, n) == 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    lg_h2s_t *st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (st == NULL || frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (name_is(name, namelen, ":status")) {
        st->status = parse_int(value, valuelen);
    } else if (name_is(name, namelen, "grpc-status")) {
        st->grpc_status = parse_int(value, valuelen);
    } else if (name_is(name, namelen, "content-type")) {
        /* "application/grpc" optionally followed by "+proto" or ";..." */
        static const char ct[] = "application/grpc";
        st->grpc_ct = valuelen >= sizeof(ct) - 1 && memcmp(value, ct, sizeof(ct) - 1) == 0 &&
                      (valuelen == sizeof(ct) - 1 || value[sizeof(ct) - 1] == '+' ||
                       value[sizeof(ct) - 1] == ';');
    }
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                   size_t len, void *user)
{
    lg_h2s_t *st = nghttp2_session_get_stream_user_data(s, stream_id);
    if (st == NULL)
        return 0;
    for (size_t i = 0; st->rx + i < LG_GRPC_PREFIX && i < len; i++)
        st->prefix[st->rx + i] = data[i];
    st->rx += len;
    return 0;
}

static lg_outcome_t stream_outcome(const lg_h2c_t *h, const lg_h2s_t *st, uint32_t error_code)
{
    const lg_run_t *r = h->conn->run;
    if (error_code != NGHTTP2_NO_ERROR)
        return LG_ERR_PROTO; /* reset by the peer, or by nghttp2 on bad input */
    if (r->cfg->proto == LG_PROTO_GRPC) {
        if (st->status != 200) /* gRPC over HTTP/2: any other status is an error */
            return LG_ERR_STATUS;
        if (st->grpc_status != 0)
            return LG_ERR_STATUS;
        if (!st->grpc_ct || st->rx < LG_GRPC_PREFIX ||
            lg_grpc_prefix_len(st->prefix) != st->rx - LG_GRPC_PREFIX)
            return LG_ERR_PROTO;
    } else if (st->status < 200 || st->status > 299) {
        return LG_ERR_STATUS;
    }
    if (r->resp_expect >= 0 && st->rx != (uint64_t)r->resp_expect)
        return LG_ERR_PROTO;
    return LG_OK;
}

static int on_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *user)
{
    lg_h2c_t *h = user;
    lg_h2s_t *st = nghttp2_session_get_stream_user_data(s, stream_id);
    if (st == NULL)
        return 0;
    nghttp2_session_set_stream_user_data(s, stream_id, NULL);
    uint64_t due = st->due;
    lg_outcome_t o = stream_outcome(h, st, error_code);
    stream_put(h, st);
    if (error_code == NGHTTP2_REFUSED_STREAM && lg_ring_push(&h->retry, due) == 0)
        return 0; /* not processed: safe to send again */
    lg_run_complete(h->conn->run, due, o);
    return 0;
}

static int on_frame(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    lg_h2c_t *h = user;
    if (frame->hd.type == NGHTTP2_GOAWAY)
        h->goaway = true;
    return 0;
}

/* Hands nghttp2 the request body from the prebuilt payload. */
static ssize_t read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *user)
{
    lg_h2c_t *h = user;
    lg_h2s_t *st = src->ptr;
    const lg_run_t *r = h->conn->run;
    size_t left = r->req_len - st->sent;
    size_t n = left < len ? left : len;
    memcpy(buf, r->req + st->sent, n);
    st->sent += n;
    if (st->sent == r->req_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int h2_open_stream(lg_conn_t *c, uint64_t due);

static int h2_init(lg_conn_t *c)
{
    if (h2_callbacks == NULL) {
        if (nghttp2_session_callbacks_new(&h2_callbacks) != 0)
            return -1;
        nghttp2_session_callbacks_set_on_header_callback(h2_callbacks, on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(h2_callbacks, on_data);
        nghttp2_session_callbacks_set_on_stream_close_callback(h2_callbacks, on_close);
        nghttp2_session_callbacks_set_on_frame_recv_callback(h2_callbacks, on_frame);
    }
    if (c->p.h2 == NULL) {
        c->p.h2 = calloc(1, sizeof(*c->p.h2));
        if (c->p.h2 == NULL)
            return -1;
        c->p.h2->conn = c;
    }
    lg_h2c_t *h = c->p.h2;
    h->goaway = false;
    if (nghttp2_session_client_new(&h->s, h2_callbacks, h) != 0)
        return -1;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
    };
    if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0 ||
        nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW) != 0)
        return -1;
    lg_conn_mark_dirty(c);
    /* Requests refused by, or due after the GOAWAY of, the last session. */
    for (uint32_t n = h->retry.len; n > 0; n--)
        if (h2_open_stream(c, lg_ring_pop(&h->retry)) != 0)
            return -1;
    return 0;
}

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v),                                  \
            NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE                           \
    }

/* Opens a stream for the request due at `due` on the current session. */
static int h2_open_stream(lg_conn_t *c, uint64_t due)
{
    lg_h2c_t *h = c->p.h2;
    lg_run_t *r = c->run;
    lg_h2s_t *st = stream_get(h);
    if (st == NULL) {
        lg_run_complete(r, due, LG_ERR_BACKLOG);
        return 0;
    }
    st->due = due;
    const bool grpc = r->cfg->proto == LG_PROTO_GRPC;
    const bool has_body = r->req_len > 0;
    /* NO_COPY: nghttp2 keeps these pointers until the HEADERS frame is
     * serialised, so every name and value lives as long as the run (string
     * literals, argv, r->clen). */
    nghttp2_nv nv[8] = {
        NV(":method", has_body ? "POST" : "GET"),
        NV(":scheme", "http"),
        NV(":authority", r->cfg->authority),
        NV(":path", r->cfg->path),
    };
    size_t nnv = 4;
    if (grpc) {
        nv[nnv++] = (nghttp2_nv)NV("content-type", "application/grpc");
        nv[nnv++] = (nghttp2_nv)NV("te", "trailers");
    } else if (has_body) {
        nv[nnv++] = (nghttp2_nv)NV("content-type", "application/octet-stream");
        nv[nnv++] = (nghttp2_nv)NV("content-length", r->clen);
    }
    nghttp2_data_provider body = {.source.ptr = st, .read_callback = read_body};
    int32_t id = nghttp2_submit_request(h->s, NULL, nv, nnv, has_body ? &body : NULL, st);
    if (id < 0) {
        stream_put(h, st);
        lg_run_complete(r, due, LG_ERR_BACKLOG);
        return 0;
    }
    lg_conn_mark_dirty(c);
    return 0;
}

static int h2_submit(lg_conn_t *c, uint64_t due)
{
    lg_h2c_t *h = c->p.h2;
    if (!h->goaway)
        return h2_open_stream(c, due);
    if (lg_ring_push(&h->retry, due) != 0)
        lg_run_complete(c->run, due, LG_ERR_BACKLOG);
    return 0;
}

static int h2_input(lg_conn_t *c, const char *p, size_t n)
{
    ssize_t rc = nghttp2_session_mem_recv(c->p.h2->s, (const uint8_t *)p, n);
    if (rc < 0 || (size_t)rc != n)
        return -1;
    lg_conn_mark_dirty(c); /* SETTINGS ACK, WINDOW_UPDATE, PING ACK... */
    return 0;
}

/* Stops pulling frames past this much unsent output (the socket is slow). */
#define H2_OUT_HIGH_WATER (256 * 1024)

static int h2_output(lg_conn_t *c)
{
    nghttp2_session *s = c->p.h2->s;
    /* Streams refused without a GOAWAY (e.g. over the server's stream
     * limit) go out again on this session. */
    while (!c->p.h2->goaway && c->p.h2->retry.len > 0)
        if (h2_open_stream(c, lg_ring_pop(&c->p.h2->retry)) != 0)
            return -1;
    while (c->out_len - c->out_off < H2_OUT_HIGH_WATER) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(s, &data);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        if (lg_conn_append(c, data, (size_t)n) != 0)
            return -1;
    }
    if (c->p.h2->goaway && c->p.h2->live == NULL && c->out_off == c->out_len)
        return 1; /* drained after GOAWAY: reconnect for the retries */
    if (!nghttp2_session_want_read(s) && !nghttp2_session_want_write(s))
        return -1; /* the session ended without a GOAWAY of the server's */
    return 0;
}

static void h2_fail(lg_conn_t *c, lg_outcome_t why, bool all)
{
    lg_h2c_t *h = c->p.h2;
    if (h == NULL)
        return;
    /* Every submitted stream lives in the session, written or not: all of
     * them end with the connection. */
    while (h->live != NULL) {
        lg_h2s_t *st = h->live;
        uint64_t due = st->due;
        stream_put(h, st);
        lg_run_complete(c->run, due, why);
    }
    while (all && h->retry.len > 0)
        lg_run_complete(c->run, lg_ring_pop(&h->retry), why);
    if (h->s != NULL)
        nghttp2_session_del(h->s);
    h->s = NULL;
}

static void h2_destroy(lg_conn_t *c)
{
    lg_h2c_t *h = c->p.h2;
    if (h == NULL)
        return;
    if (h->s != NULL)
        nghttp2_session_del(h->s);
    while (h->free != NULL) {
        lg_h2s_t *st = h->free;
        h->free = st->next;
        free(st);
    }
    lg_ring_free(&h->retry);
    free(h);
    c->p.h2 = NULL;
}

const lg_proto_ops_t lg_h2_ops = {
    .name = "h2",
    .init = h2_init,
    .submit = h2_submit,
    .input = h2_input,
    .output = h2_output,
    .fail = h2_fail,
    .destroy = h2_destroy,
};
