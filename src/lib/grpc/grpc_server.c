/*
 * grpc_server.c — the server side: accept connections, route each stream to
 * a registered method, collect its one request message, run the handler,
 * and carry its responses and final status back (trailers, or a
 * trailers-only HEADERS when no message was sent).
 *
 * A call lives until both the stream is gone (closed, reset, connection
 * lost) and the handler finished it; whichever comes second frees it.
 * Errors the library answers itself (unknown method, malformed or oversized
 * message, missed deadline) never reach a handler.
 *
 * Owner: the loop's thread.
 */
#include "grpc/grpc_internal.h"

#include "core/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct wf__grpc_sconn {
    wf__grpc_conn_t c;
    wf_grpc_server_t *srv;              /* borrowed */
    struct wf__grpc_sconn *prev, *next; /* server's list */
    wf_grpc_call_t *calls;              /* owned list (calls whose stream is open) */
    wf_defer_t free_defer;
} sconn_t;

struct wf_grpc_call {
    wf_loop_t *loop;             /* borrowed */
    sconn_t *conn;               /* borrowed; NULL once the stream is gone */
    wf_grpc_call_t *prev, *next; /* conn's list */
    int32_t id;
    const wf_grpc_method_t *method; /* borrowed; NULL until routed */
    char path[WF__GRPC_MAX_PATH];
    size_t path_len;
    bool path_too_long;
    bool post;           /* :method POST */
    bool ct_ok;          /* content-type is gRPC */
    uint64_t timeout_ms; /* 0: none */
    bool bad_timeout;
    wf_grpc_framer_t framer;
    uint8_t *req_bytes; /* owned: the request message, until decoded */
    size_t req_len;
    uint32_t nreq;         /* request messages received */
    ProtobufCMessage *req; /* owned: decoded request */
    wf__grpc_sendq_t out;
    wf_grpc_status_t status; /* final status once responded */
    char *status_msg;        /* owned: percent-encoded grpc-message */
    uint32_t nsent;          /* response messages queued */
    bool headers_sent;       /* response HEADERS submitted */
    bool responded;          /* final status submitted or stream dead */
    bool handler_called;
    bool app_done; /* finished by the handler (or never handed to one) */
    bool stream_closed;
    bool cancelled;
    wf_timer_t deadline;
    wf_grpc_cancel_cb on_cancel;
    void *data; /* borrowed: the handler's */
    wf_defer_t free_defer;
};

/* --- calls ----------------------------------------------------------------------- */

static void call_free_cb(wf_loop_t *loop, wf_defer_t *d)
{
    wf_grpc_call_t *call = wf_container_of(d, wf_grpc_call_t, free_defer);
    wf_grpc_framer_free(&call->framer);
    free(call->req_bytes);
    if (call->req != NULL)
        protobuf_c_message_free_unpacked(call->req, NULL);
    wf__grpc_sendq_free(&call->out);
    free(call->status_msg);
    free(call);
}

static void call_maybe_free(wf_grpc_call_t *call)
{
    if (call->stream_closed && call->app_done) {
        wf_timer_stop(call->loop, &call->deadline);
        wf_loop_defer(call->loop, &call->free_defer, call_free_cb);
    }
}

static void call_cancel(wf_grpc_call_t *call)
{
    if (call->cancelled)
        return;
    call->cancelled = true;
    if (call->handler_called && !call->app_done && call->on_cancel != NULL)
        call->on_cancel(call);
}

static nghttp2_session *call_ng(const wf_grpc_call_t *call)
{
    return call->conn != NULL ? call->conn->c.ng : NULL;
}

static ssize_t resp_read_cb(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
                            uint32_t *flags, nghttp2_data_source *src, void *user)
{
    wf_grpc_call_t *call = src->ptr;
    bool eof;
    ssize_t n = wf__grpc_sendq_read(&call->out, buf, len, &eof);
    if (eof) {
        char st[12];
        int stlen = snprintf(st, sizeof(st), "%d", (int)call->status);
        nghttp2_nv nva[2];
        size_t nn = 0;
        nva[nn++] = wf__grpc_nv(WF_STR("grpc-status"), (wf_str_t){st, (size_t)stlen});
        if (call->status_msg != NULL && call->status_msg[0] != '\0')
            nva[nn++] = wf__grpc_nv(WF_STR("grpc-message"), wf_str_from(call->status_msg));
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        if (nghttp2_submit_trailer(ng, id, nva, nn) != 0)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return n;
}

static int call_set_message(wf_grpc_call_t *call, const char *message)
{
    free(call->status_msg);
    call->status_msg = NULL;
    if (message == NULL || message[0] == '\0')
        return 0;
    wf_str_t m = wf_str_from(message);
    m.len = WF_MIN(m.len, WF__GRPC_MAX_STATUS_MSG);
    call->status_msg = malloc(3 * m.len + 1);
    if (call->status_msg == NULL)
        return WF_ENOMEM;
    size_t n = wf_grpc_message_encode(m, call->status_msg, 3 * m.len);
    call->status_msg[n] = '\0';
    return 0;
}

/* Submits the response HEADERS; with end set they are trailers-only. */
static int call_submit_headers(wf_grpc_call_t *call, bool end, unsigned http_status)
{
    nghttp2_session *ng = call_ng(call);
    char hs[4], st[12];
    snprintf(hs, sizeof(hs), "%03u", http_status % 1000u);
    int stlen = snprintf(st, sizeof(st), "%d", (int)call->status);
    nghttp2_nv nva[4];
    size_t n = 0;
    nva[n++] = wf__grpc_nv(WF_STR(":status"), (wf_str_t){hs, 3});
    nva[n++] = wf__grpc_nv(WF_STR("content-type"), WF_STR("application/grpc"));
    if (end) {
        nva[n++] = wf__grpc_nv(WF_STR("grpc-status"), (wf_str_t){st, (size_t)stlen});
        if (call->status_msg != NULL && call->status_msg[0] != '\0')
            nva[n++] = wf__grpc_nv(WF_STR("grpc-message"), wf_str_from(call->status_msg));
    }
    nghttp2_data_provider prd = {.source.ptr = call, .read_callback = resp_read_cb};
    int rc = nghttp2_submit_response(ng, call->id, nva, n, end ? NULL : &prd);
    call->headers_sent = true;
    return rc == 0 ? 0 : WF_EPROTO;
}

/* Ends the stream with status (what the handler said, or the library's own
 * error). Queued messages still go out before the trailers. */
static void call_respond(wf_grpc_call_t *call, wf_grpc_status_t status, const char *message,
                         unsigned http_status)
{
    if (call->responded || call->conn == NULL)
        return;
    call->responded = true;
    call->status = status;
    if (status != WF_GRPC_OK)
        call->conn->srv->calls_failed++;
    call_set_message(call, message);
    if (!call->headers_sent) {
        call_submit_headers(call, true, http_status);
    } else {
        call->out.eof = true;
        wf__grpc_sendq_wake(&call->out, call_ng(call), call->id);
    }
    wf_timer_stop(call->loop, &call->deadline);
    wf__grpc_conn_kick(&call->conn->c);
}

static void call_deadline_cb(wf_loop_t *loop, wf_timer_t *t)
{
    wf_grpc_call_t *call = wf_container_of(t, wf_grpc_call_t, deadline);
    if (call->responded)
        return;
    /* Messages not yet sent are moot: the client has given up. */
    call->out.off = call->out.len;
    call_respond(call, WF_GRPC_DEADLINE_EXCEEDED, "deadline exceeded", 200);
    call_cancel(call);
}

const ProtobufCMessage *wf_grpc_call_request(const wf_grpc_call_t *call)
{
    return call->req;
}

const wf_grpc_method_t *wf_grpc_call_method(const wf_grpc_call_t *call)
{
    return call->method;
}

void wf_grpc_call_set_data(wf_grpc_call_t *call, void *data)
{
    call->data = data;
}

void *wf_grpc_call_data(const wf_grpc_call_t *call)
{
    return call->data;
}

void wf_grpc_call_on_cancel(wf_grpc_call_t *call, wf_grpc_cancel_cb cb)
{
    call->on_cancel = cb;
}

bool wf_grpc_call_cancelled(const wf_grpc_call_t *call)
{
    return call->cancelled || call->responded;
}

int wf_grpc_call_send(wf_grpc_call_t *call, const ProtobufCMessage *msg)
{
    if (call->cancelled || call->responded || call->conn == NULL)
        return WF_ECLOSED;
    if (call->method->kind == WF_GRPC_UNARY && call->nsent > 0)
        return WF_EINVAL;
    int rc = wf__grpc_sendq_put(&call->out, msg);
    if (rc != 0)
        return rc;
    call->nsent++;
    if (!call->headers_sent) {
        rc = call_submit_headers(call, false, 200);
        if (rc != 0)
            return rc;
    } else {
        wf__grpc_sendq_wake(&call->out, call_ng(call), call->id);
    }
    wf__grpc_conn_kick(&call->conn->c);
    return 0;
}

void wf_grpc_call_finish(wf_grpc_call_t *call, wf_grpc_status_t status, const char *message)
{
    if (call->app_done)
        return;
    if (status == WF_GRPC_OK && call->method->kind == WF_GRPC_UNARY && call->nsent == 0) {
        status = WF_GRPC_INTERNAL;
        message = "unary handler finished without a response";
    }
    call_respond(call, status, message, 200);
    call->app_done = true;
    if (call->conn == NULL)
        call->stream_closed = true;
    call_maybe_free(call);
}

/* --- routing and requests -------------------------------------------------------- */

static const wf_grpc_method_t *find_method(const wf_grpc_server_t *srv, wf_str_t path)
{
    for (size_t i = 0; i < srv->nmethods; i++)
        if (wf_str_eq(path, wf_str_from(srv->methods[i].path)))
            return &srv->methods[i];
    return NULL;
}

/* The request HEADERS are complete: check them and route. */
static void call_on_headers(wf_grpc_call_t *call, bool end_stream)
{
    wf_grpc_server_t *srv = call->conn->srv;
    srv->calls_total++;
    if (!call->post) {
        call_respond(call, WF_GRPC_INTERNAL, "gRPC requires POST", 405);
        return;
    }
    if (!call->ct_ok) {
        call_respond(call, WF_GRPC_INTERNAL, "content-type is not application/grpc", 415);
        return;
    }
    call->method =
        call->path_too_long ? NULL : find_method(srv, (wf_str_t){call->path, call->path_len});
    if (call->method == NULL) {
        char msg[WF__GRPC_MAX_PATH + 32];
        snprintf(msg, sizeof(msg), "unknown method %.*s", (int)call->path_len, call->path);
        call_respond(call, WF_GRPC_UNIMPLEMENTED, msg, 200);
        return;
    }
    if (call->bad_timeout) {
        call_respond(call, WF_GRPC_INTERNAL, "malformed grpc-timeout", 200);
        return;
    }
    if (call->timeout_ms > 0)
        wf_timer_start(call->conn->c.loop, &call->deadline, call->timeout_ms);
    if (end_stream)
        call_respond(call, WF_GRPC_INTERNAL, "request ended without a message", 200);
}

/* The client half-closed: decode the request and hand the call over. */
static void call_on_end(wf_grpc_call_t *call)
{
    if (call->responded)
        return;
    if (!wf_grpc_framer_idle(&call->framer)) {
        call_respond(call, WF_GRPC_INTERNAL, "request ended inside a message", 200);
        return;
    }
    if (call->nreq != 1) {
        call_respond(call, WF_GRPC_INTERNAL,
                     call->nreq == 0 ? "request ended without a message"
                                     : "more than one request message for a unary request",
                     200);
        return;
    }
    call->req =
        protobuf_c_message_unpack(call->method->request, NULL, call->req_len, call->req_bytes);
    free(call->req_bytes);
    call->req_bytes = NULL;
    if (call->req == NULL) {
        call_respond(call, WF_GRPC_INTERNAL, "failed to decode the request message", 200);
        return;
    }
    call->handler_called = true;
    call->app_done = false;
    call->method->handler(call->conn->srv, call);
}

/* --- nghttp2 callbacks ------------------------------------------------------------- */

static sconn_t *sconn_of(void *user)
{
    return wf_container_of((wf__grpc_conn_t *)user, sconn_t, c);
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    sconn_t *sc = sconn_of(user);
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    wf_grpc_call_t *call = calloc(1, sizeof(*call));
    if (call == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets this stream only */
    call->loop = sc->c.loop;
    call->conn = sc;
    call->id = f->hd.stream_id;
    call->app_done = true; /* until a handler holds it */
    wf_grpc_framer_init(&call->framer, sc->srv->opts.max_recv_msg ? sc->srv->opts.max_recv_msg
                                                                  : WF_GRPC_DEFAULT_MAX_MSG);
    wf_timer_init(&call->deadline, call_deadline_cb);
    call->next = sc->calls;
    if (sc->calls != NULL)
        sc->calls->prev = call;
    sc->calls = call;
    nghttp2_session_set_stream_user_data(ng, call->id, call);
    return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    wf_grpc_call_t *call = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (call == NULL || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    wf_str_t n = {(const char *)name, namelen}, v = {(const char *)value, valuelen};
    if (wf_str_eq(n, WF_STR(":path"))) {
        if (v.len > sizeof(call->path)) {
            call->path_too_long = true;
            v.len = sizeof(call->path);
        }
        memcpy(call->path, v.ptr, v.len);
        call->path_len = v.len;
    } else if (wf_str_eq(n, WF_STR(":method"))) {
        call->post = wf_str_eq(v, WF_STR("POST"));
    } else if (wf_str_eq(n, WF_STR("content-type"))) {
        call->ct_ok = wf__grpc_content_type_ok(v);
    } else if (wf_str_eq(n, WF_STR("grpc-timeout"))) {
        if (wf_grpc_timeout_parse(v, &call->timeout_ms) != 0)
            call->bad_timeout = true;
        else if (call->timeout_ms == 0)
            call->timeout_ms = 1;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
    wf_grpc_call_t *call = nghttp2_session_get_stream_user_data(ng, id);
    if (call == NULL || call->responded || call->method == NULL)
        return 0;
    while (len > 0) {
        size_t used;
        int rc = wf_grpc_framer_parse(&call->framer, data, len, &used);
        data += used;
        len -= used;
        if (rc < 0) {
            call_respond(call, wf_grpc_framer_status(&call->framer, rc), call->framer.error, 200);
            return 0;
        }
        if (rc == WF_GRPC_FRAME_DONE) {
            size_t mlen;
            uint8_t *m = wf_grpc_framer_take(&call->framer, &mlen);
            if (++call->nreq > 1) {
                free(m);
                call_respond(call, WF_GRPC_INTERNAL,
                             "more than one request message for a unary request", 200);
                return 0;
            }
            call->req_bytes = m;
            call->req_len = mlen;
        }
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    sconn_t *sc = sconn_of(user);
    wf__grpc_conn_on_frame(&sc->c, f);
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
        return 0;
    wf_grpc_call_t *call = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (call == NULL)
        return 0;
    bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
        call_on_headers(call, end);
        return 0;
    }
    if (end)
        call_on_end(call);
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
    sconn_t *sc = sconn_of(user);
    wf_grpc_call_t *call = nghttp2_session_get_stream_user_data(ng, id);
    if (call == NULL)
        return 0;
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    if (call->prev)
        call->prev->next = call->next;
    else
        sc->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
    call->stream_closed = true;
    call->conn = NULL; /* before on_cancel: a finish from it must not submit */
    bool answered = call->responded;
    call->responded = true;
    if (!answered)
        call_cancel(call); /* reset by the client, or closed before we answered */
    call_maybe_free(call);
    return 0;
}

/* Built once per process (pthread_once: servers on several loop threads
 * must not race on a lazy static). NULL when out of memory. */
static nghttp2_session_callbacks *server_cbs;

static void server_cbs_init(void)
{
    nghttp2_session_callbacks *c;
    if (nghttp2_session_callbacks_new(&c) != 0)
        return;
    nghttp2_session_callbacks_set_on_begin_headers_callback(c, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(c, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(c, on_stream_close);
    server_cbs = c;
}

static nghttp2_session_callbacks *server_callbacks(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, server_cbs_init);
    return server_cbs;
}

/* --- connections ------------------------------------------------------------------ */

static void sconn_free_cb(wf_loop_t *loop, wf_defer_t *d)
{
    sconn_t *sc = wf_container_of(d, sconn_t, free_defer);
    wf__grpc_conn_free(&sc->c);
    free(sc);
}

static void sconn_on_close(wf__grpc_conn_t *c, int err)
{
    sconn_t *sc = wf_container_of(c, sconn_t, c);
    if (err != 0)
        wf_log_debug("grpc server: connection closed: %s", wf_strerror(err));
    while (sc->calls != NULL) {
        wf_grpc_call_t *call = sc->calls;
        sc->calls = call->next;
        call->prev = call->next = NULL;
        call->stream_closed = true;
        call->conn = NULL; /* the session is gone: nothing may be submitted */
        bool answered = call->responded;
        call->responded = true;
        if (!answered)
            call_cancel(call);
        call_maybe_free(call);
    }
    wf_grpc_server_t *srv = sc->srv;
    if (sc->prev)
        sc->prev->next = sc->next;
    else
        srv->conns = sc->next;
    if (sc->next)
        sc->next->prev = sc->prev;
    wf_loop_defer(c->loop, &sc->free_defer, sconn_free_cb);
}

int wf_grpc_server_adopt(wf_grpc_server_t *srv, wf_io_t *io)
{
    nghttp2_session_callbacks *cbs = server_callbacks();
    sconn_t *sc = cbs != NULL ? calloc(1, sizeof(*sc)) : NULL;
    if (sc == NULL) {
        wf_io_destroy(io);
        return WF_ENOMEM;
    }
    sc->srv = srv;
    sc->c.on_close = sconn_on_close;
    int rc = wf__grpc_conn_init(&sc->c, srv->loop, io, true, cbs, &srv->opts, false);
    if (rc != 0) {
        free(sc);
        return rc;
    }
    sc->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = sc;
    srv->conns = sc;
    return 0;
}

static void listen_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
    wf_grpc_server_t *srv = wf_container_of(w, wf_grpc_server_t, listen_watch);
    for (;;) {
        int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                wf_log_warn("grpc server: accept: %s", wf_strerror(-errno));
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return;
        }
        wf_io_t *io = wf_io_socket_new(fd);
        if (io == NULL) {
            close(fd);
            continue;
        }
        if (srv->wrap != NULL && (io = srv->wrap(srv->wrap_arg, io)) == NULL)
            continue;
        wf_grpc_server_adopt(srv, io);
    }
}

void wf_grpc_server_init(wf_grpc_server_t *srv, wf_loop_t *loop, const wf_grpc_method_t *methods,
                         size_t nmethods, const wf_grpc_opts_t *opts)
{
    memset(srv, 0, sizeof(*srv));
    srv->loop = loop;
    srv->methods = methods;
    srv->nmethods = nmethods;
    if (opts != NULL)
        srv->opts = *opts;
    srv->listen_fd = -1;
}

int wf_grpc_server_listen(wf_grpc_server_t *srv, const wf_addr_t *addr)
{
    int fd;
    int rc = wf_listen(addr, 128, false, &fd);
    if (rc != 0)
        return rc;
    srv->listen_fd = fd;
    wf_watch_init(&srv->listen_watch, fd, listen_cb);
    rc = wf_watch_start(srv->loop, &srv->listen_watch, EPOLLIN);
    if (rc != 0) {
        close(fd);
        srv->listen_fd = -1;
    }
    return rc;
}

void wf_grpc_server_close(wf_grpc_server_t *srv)
{
    if (srv->listen_fd >= 0) {
        wf_watch_stop(srv->loop, &srv->listen_watch);
        close(srv->listen_fd);
        srv->listen_fd = -1;
    }
    for (sconn_t *sc = srv->conns; sc != NULL; sc = sc->next) {
        if (sc->c.ng != NULL)
            nghttp2_submit_goaway(sc->c.ng, NGHTTP2_FLAG_NONE,
                                  nghttp2_session_get_last_proc_stream_id(sc->c.ng),
                                  NGHTTP2_NO_ERROR, NULL, 0);
        wf__grpc_conn_fail(&sc->c, 0);
    }
}
