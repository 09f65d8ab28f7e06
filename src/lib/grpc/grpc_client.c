/*
 * grpc_client.c — the client side: a channel is one HTTP/2 connection; a
 * call is one stream carrying one request message, then the responses and
 * the final status from the trailers.
 *
 * A call ends once (complete): with the server's status, a local error
 * (bad message, deadline, connection lost) or the caller's cancel. Its
 * memory goes when both the call ended and the stream is closed.
 *
 * Owner: the loop's thread.
 */
#include "grpc/grpc_internal.h"

#include "core/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct wf_grpc_channel {
    wf__grpc_conn_t c;
    wf_grpc_opts_t opts;
    char authority[WF_ADDR_STRLEN + 64];
    size_t authority_len;
    wf_grpc_ccall_t *calls; /* owned list of calls with an open stream */
    bool failed;            /* the connection is gone */
    bool user_closed;       /* wf_grpc_channel_close() was called */
    wf_defer_t free_defer;
};

struct wf_grpc_ccall {
    wf_loop_t *loop;              /* borrowed */
    wf_grpc_channel_t *ch;        /* borrowed; NULL once the stream is gone */
    wf_grpc_ccall_t *prev, *next; /* channel's list */
    int32_t id;
    wf_grpc_method_kind_t kind;
    const ProtobufCMessageDescriptor *response; /* borrowed, static */
    wf_grpc_ccall_cbs_t cbs;
    void *data; /* borrowed: the caller's */
    wf__grpc_sendq_t out;
    wf_grpc_framer_t framer;
    unsigned http_status;
    int grpc_status; /* -1 until seen */
    char message[WF__GRPC_MAX_STATUS_MSG];
    size_t message_len;
    uint32_t nmsg; /* responses received */
    bool done;     /* on_done delivered, or cancelled */
    bool stream_closed;
    bool req_sent; /* the request's END_STREAM went out */
    wf_timer_t deadline;
    wf_defer_t free_defer;
};

/* --- calls ----------------------------------------------------------------------- */

static void ccall_free_cb(wf_loop_t *loop, wf_defer_t *d)
{
    wf_grpc_ccall_t *cc = wf_container_of(d, wf_grpc_ccall_t, free_defer);
    wf__grpc_sendq_free(&cc->out);
    wf_grpc_framer_free(&cc->framer);
    free(cc);
}

static void ccall_maybe_free(wf_grpc_ccall_t *cc)
{
    if (cc->done && cc->stream_closed) {
        wf_timer_stop(cc->loop, &cc->deadline);
        wf_loop_defer(cc->loop, &cc->free_defer, ccall_free_cb);
    }
}

/* Resets the stream if it is still open (the call ended on our side). */
static void ccall_reset(wf_grpc_ccall_t *cc, uint32_t code)
{
    if (cc->stream_closed || cc->ch == NULL || cc->ch->c.ng == NULL)
        return;
    nghttp2_submit_rst_stream(cc->ch->c.ng, NGHTTP2_FLAG_NONE, cc->id, code);
    wf__grpc_conn_kick(&cc->ch->c);
}

static void ccall_complete(wf_grpc_ccall_t *cc, wf_grpc_status_t status, wf_str_t message)
{
    if (cc->done)
        return;
    cc->done = true;
    wf_timer_stop(cc->loop, &cc->deadline);
    if (cc->cbs.on_done != NULL)
        cc->cbs.on_done(cc, status, message);
    ccall_maybe_free(cc);
}

static void ccall_fail(wf_grpc_ccall_t *cc, wf_grpc_status_t status, const char *message)
{
    ccall_complete(cc, status, wf_str_from(message));
    ccall_reset(cc, NGHTTP2_CANCEL);
}

static void ccall_deadline_cb(wf_loop_t *loop, wf_timer_t *t)
{
    ccall_fail(wf_container_of(t, wf_grpc_ccall_t, deadline), WF_GRPC_DEADLINE_EXCEEDED,
               "deadline exceeded");
}

/* The response ended (END_STREAM): the status is the server's word. */
static void ccall_on_end(wf_grpc_ccall_t *cc)
{
    if (cc->done)
        return;
    wf_str_t msg = {cc->message, cc->message_len};
    if (!wf_grpc_framer_idle(&cc->framer)) {
        ccall_fail(cc, WF_GRPC_INTERNAL, "response ended inside a message");
    } else if (cc->grpc_status < 0) {
        if (cc->http_status != 200)
            ccall_fail(cc, wf_grpc_status_from_http(cc->http_status),
                       "response without grpc-status (HTTP status mapped)");
        else
            ccall_fail(cc, WF_GRPC_INTERNAL, "response ended without grpc-status");
    } else if (cc->grpc_status == WF_GRPC_OK && cc->kind == WF_GRPC_UNARY && cc->nmsg != 1) {
        ccall_fail(cc, WF_GRPC_INTERNAL, "unary response without a message");
    } else {
        ccall_complete(cc, (wf_grpc_status_t)cc->grpc_status, msg);
        /* The server is done; stop sending the request if it is still
         * going (RFC 9113 §8.1: a response may complete before the request). */
        if (!cc->req_sent)
            ccall_reset(cc, NGHTTP2_NO_ERROR);
    }
}

void *wf_grpc_ccall_data(const wf_grpc_ccall_t *cc)
{
    return cc->data;
}

void wf_grpc_ccall_cancel(wf_grpc_ccall_t *cc)
{
    if (cc->done)
        return;
    cc->done = true;
    wf_timer_stop(cc->loop, &cc->deadline);
    ccall_reset(cc, NGHTTP2_CANCEL);
    ccall_maybe_free(cc);
}

static ssize_t req_read_cb(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
                           uint32_t *flags, nghttp2_data_source *src, void *user)
{
    wf_grpc_ccall_t *cc = src->ptr;
    bool eof;
    ssize_t n = wf__grpc_sendq_read(&cc->out, buf, len, &eof);
    if (eof) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        cc->req_sent = true;
    }
    return n;
}

wf_grpc_ccall_t *wf_grpc_call_start(wf_grpc_channel_t *ch, const char *path,
                                    wf_grpc_method_kind_t kind, const ProtobufCMessage *req,
                                    const ProtobufCMessageDescriptor *response, uint64_t timeout_ms,
                                    const wf_grpc_ccall_cbs_t *cbs, void *data, int *err)
{
    if (!wf_grpc_channel_ok(ch)) {
        *err = WF_ECLOSED;
        return NULL;
    }
    wf_grpc_ccall_t *cc = calloc(1, sizeof(*cc));
    if (cc == NULL) {
        *err = WF_ENOMEM;
        return NULL;
    }
    cc->loop = ch->c.loop;
    cc->ch = ch;
    cc->kind = kind;
    cc->response = response;
    cc->cbs = *cbs;
    cc->data = data;
    cc->grpc_status = -1;
    wf_grpc_framer_init(&cc->framer,
                        ch->opts.max_recv_msg ? ch->opts.max_recv_msg : WF_GRPC_DEFAULT_MAX_MSG);
    wf_timer_init(&cc->deadline, ccall_deadline_cb);
    int rc = wf__grpc_sendq_put(&cc->out, req);
    if (rc != 0) {
        ccall_free_cb(cc->loop, &cc->free_defer);
        *err = rc;
        return NULL;
    }
    cc->out.eof = true;
    char tmo[10];
    nghttp2_nv nva[9];
    size_t n = 0;
    nva[n++] = wf__grpc_nv(WF_STR(":method"), WF_STR("POST"));
    nva[n++] = wf__grpc_nv(WF_STR(":scheme"), WF_STR("http"));
    nva[n++] = wf__grpc_nv(WF_STR(":authority"), (wf_str_t){ch->authority, ch->authority_len});
    nva[n++] = wf__grpc_nv(WF_STR(":path"), wf_str_from(path));
    nva[n++] = wf__grpc_nv(WF_STR("content-type"), WF_STR("application/grpc"));
    nva[n++] = wf__grpc_nv(WF_STR("te"), WF_STR("trailers"));
    nva[n++] = wf__grpc_nv(WF_STR("user-agent"), WF_STR("weft-grpc/" WEFT_VERSION));
    if (timeout_ms > 0) {
        size_t tl = wf_grpc_timeout_format(timeout_ms, tmo);
        nva[n++] = wf__grpc_nv(WF_STR("grpc-timeout"), (wf_str_t){tmo, tl});
    }
    nghttp2_data_provider prd = {.source.ptr = cc, .read_callback = req_read_cb};
    int32_t id = nghttp2_submit_request(ch->c.ng, NULL, nva, n, &prd, cc);
    if (id < 0) {
        ccall_free_cb(cc->loop, &cc->free_defer);
        *err = id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE ? WF_ELIMIT : WF_EPROTO;
        return NULL;
    }
    cc->id = id;
    cc->next = ch->calls;
    if (ch->calls != NULL)
        ch->calls->prev = cc;
    ch->calls = cc;
    if (timeout_ms > 0)
        wf_timer_start(cc->loop, &cc->deadline, timeout_ms);
    wf__grpc_conn_kick(&ch->c);
    return cc;
}

/* --- nghttp2 callbacks ------------------------------------------------------------- */

static wf_grpc_channel_t *channel_of(void *user)
{
    return wf_container_of((wf__grpc_conn_t *)user, wf_grpc_channel_t, c);
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    wf_grpc_ccall_t *cc = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (cc == NULL || cc->done)
        return 0;
    wf_str_t n = {(const char *)name, namelen}, v = {(const char *)value, valuelen};
    if (wf_str_eq(n, WF_STR(":status"))) {
        unsigned s = 0;
        for (size_t i = 0; i < v.len && i < 3; i++)
            s = s * 10 + (unsigned)(v.ptr[i] - '0');
        cc->http_status = s;
    } else if (wf_str_eq(n, WF_STR("grpc-status"))) {
        int s = 0;
        bool ok = v.len > 0 && v.len <= 3;
        for (size_t i = 0; ok && i < v.len; i++) {
            ok = v.ptr[i] >= '0' && v.ptr[i] <= '9';
            s = s * 10 + (v.ptr[i] - '0');
        }
        cc->grpc_status = ok ? s : WF_GRPC_UNKNOWN;
    } else if (wf_str_eq(n, WF_STR("grpc-message"))) {
        v.len = WF_MIN(v.len, sizeof(cc->message));
        cc->message_len = wf_grpc_message_decode(v, cc->message);
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
    wf_grpc_ccall_t *cc = nghttp2_session_get_stream_user_data(ng, id);
    while (cc != NULL && !cc->done && len > 0) {
        size_t used;
        int rc = wf_grpc_framer_parse(&cc->framer, data, len, &used);
        data += used;
        len -= used;
        if (rc < 0) {
            ccall_fail(cc, wf_grpc_framer_status(&cc->framer, rc), cc->framer.error);
            return 0;
        }
        if (rc != WF_GRPC_FRAME_DONE)
            break;
        size_t mlen;
        uint8_t *m = wf_grpc_framer_take(&cc->framer, &mlen);
        ProtobufCMessage *msg = protobuf_c_message_unpack(cc->response, NULL, mlen, m);
        free(m);
        if (msg == NULL) {
            ccall_fail(cc, WF_GRPC_INTERNAL, "failed to decode the response message");
            return 0;
        }
        if (++cc->nmsg > 1 && cc->kind == WF_GRPC_UNARY) {
            protobuf_c_message_free_unpacked(msg, NULL);
            ccall_fail(cc, WF_GRPC_INTERNAL, "more than one response message for a unary call");
            return 0;
        }
        if (cc->cbs.on_message != NULL)
            cc->cbs.on_message(cc, msg);
        protobuf_c_message_free_unpacked(msg, NULL);
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    wf__grpc_conn_on_frame(user, f);
    if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
        !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    wf_grpc_ccall_t *cc = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (cc != NULL)
        ccall_on_end(cc);
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
    wf_grpc_channel_t *ch = channel_of(user);
    wf_grpc_ccall_t *cc = nghttp2_session_get_stream_user_data(ng, id);
    if (cc == NULL)
        return 0;
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    if (cc->prev)
        cc->prev->next = cc->next;
    else
        ch->calls = cc->next;
    if (cc->next)
        cc->next->prev = cc->prev;
    cc->prev = cc->next = NULL;
    cc->stream_closed = true;
    cc->ch = NULL;
    if (!cc->done) {
        char msg[64];
        wf_grpc_status_t st = code == NGHTTP2_REFUSED_STREAM ? WF_GRPC_UNAVAILABLE
                              : code == NGHTTP2_CANCEL       ? WF_GRPC_CANCELLED
                                                             : WF_GRPC_INTERNAL;
        snprintf(msg, sizeof(msg), "stream reset by the server (HTTP/2 error %u)", code);
        ccall_complete(cc, st, wf_str_from(msg));
    }
    ccall_maybe_free(cc);
    return 0;
}

/* Built once per process (pthread_once: channels on several loop threads
 * must not race on a lazy static). NULL when out of memory. */
static nghttp2_session_callbacks *client_cbs;

static void client_cbs_init(void)
{
    nghttp2_session_callbacks *c;
    if (nghttp2_session_callbacks_new(&c) != 0)
        return;
    nghttp2_session_callbacks_set_on_header_callback(c, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(c, on_stream_close);
    client_cbs = c;
}

static nghttp2_session_callbacks *client_callbacks(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, client_cbs_init);
    return client_cbs;
}

/* --- channels ------------------------------------------------------------------ */

static void channel_free_cb(wf_loop_t *loop, wf_defer_t *d)
{
    wf_grpc_channel_t *ch = wf_container_of(d, wf_grpc_channel_t, free_defer);
    wf__grpc_conn_free(&ch->c);
    free(ch);
}

static void channel_on_close(wf__grpc_conn_t *c, int err)
{
    wf_grpc_channel_t *ch = wf_container_of(c, wf_grpc_channel_t, c);
    ch->failed = true;
    if (err != 0)
        wf_log_debug("grpc client: connection closed: %s", wf_strerror(err));
    char msg[128];
    snprintf(msg, sizeof(msg), "connection %s: %s", ch->user_closed ? "closed" : "lost",
             err != 0 ? wf_strerror(err) : "closed");
    while (ch->calls != NULL) {
        wf_grpc_ccall_t *cc = ch->calls;
        ch->calls = cc->next;
        cc->prev = cc->next = NULL;
        cc->stream_closed = true;
        cc->ch = NULL;
        ccall_complete(cc, ch->user_closed ? WF_GRPC_CANCELLED : WF_GRPC_UNAVAILABLE,
                       wf_str_from(msg));
        ccall_maybe_free(cc);
    }
    if (ch->user_closed)
        wf_loop_defer(c->loop, &ch->free_defer, channel_free_cb);
}

static wf_grpc_channel_t *channel_new(wf_loop_t *loop, wf_io_t *io, wf_str_t authority,
                                      const wf_grpc_opts_t *opts, bool connecting, int *err)
{
    nghttp2_session_callbacks *cbs = client_callbacks();
    wf_grpc_channel_t *ch = cbs != NULL ? calloc(1, sizeof(*ch)) : NULL;
    if (ch == NULL) {
        wf_io_destroy(io);
        *err = WF_ENOMEM;
        return NULL;
    }
    if (opts != NULL)
        ch->opts = *opts;
    ch->authority_len = WF_MIN(authority.len, sizeof(ch->authority));
    memcpy(ch->authority, authority.ptr, ch->authority_len);
    ch->c.on_close = channel_on_close;
    int rc = wf__grpc_conn_init(&ch->c, loop, io, false, cbs, &ch->opts, connecting);
    if (rc != 0) {
        free(ch);
        *err = rc;
        return NULL;
    }
    return ch;
}

wf_grpc_channel_t *wf_grpc_channel_connect(wf_loop_t *loop, const wf_addr_t *addr,
                                           const wf_grpc_opts_t *opts, int *err)
{
    int fd;
    int rc = wf_connect_start(addr, &fd);
    if (rc != 0) {
        *err = rc;
        return NULL;
    }
    wf_io_t *io = wf_io_socket_new(fd);
    if (io == NULL) {
        close(fd);
        *err = WF_ENOMEM;
        return NULL;
    }
    char auth[WF_ADDR_STRLEN];
    size_t alen = wf_addr_format(addr, auth, sizeof(auth));
    return channel_new(loop, io, (wf_str_t){auth, alen}, opts, true, err);
}

wf_grpc_channel_t *wf_grpc_channel_connect_wrapped(wf_loop_t *loop, const wf_addr_t *addr,
                                                   wf_str_t authority,
                                                   wf_io_t *(*wrap)(void *arg, wf_io_t *sock),
                                                   void *wrap_arg, const wf_grpc_opts_t *opts,
                                                   int *err)
{
    int fd;
    int rc = wf_connect_start(addr, &fd);
    if (rc != 0) {
        *err = rc;
        return NULL;
    }
    wf_io_t *io = wf_io_socket_new(fd);
    if (io == NULL) {
        close(fd);
        *err = WF_ENOMEM;
        return NULL;
    }
    if ((io = wrap(wrap_arg, io)) == NULL) {
        *err = WF_EPROTO;
        return NULL;
    }
    return channel_new(loop, io, authority, opts, true, err);
}

wf_grpc_channel_t *wf_grpc_channel_adopt(wf_loop_t *loop, wf_io_t *io, wf_str_t authority,
                                         const wf_grpc_opts_t *opts, int *err)
{
    return channel_new(loop, io, authority, opts, false, err);
}

bool wf_grpc_channel_ok(const wf_grpc_channel_t *ch)
{
    return !ch->failed && !ch->user_closed && !ch->c.fail_set;
}

void wf_grpc_channel_close(wf_grpc_channel_t *ch)
{
    if (ch->user_closed)
        return;
    ch->user_closed = true;
    if (ch->failed) {
        wf_loop_defer(ch->c.loop, &ch->free_defer, channel_free_cb);
        return;
    }
    if (ch->c.ng != NULL)
        nghttp2_submit_goaway(ch->c.ng, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL, 0);
    wf__grpc_conn_fail(&ch->c, 0);
}
