/*
 * grpc.h — gRPC over HTTP/2 (nghttp2) with protobuf-c messages: a server
 * that runs registered unary and server-streaming methods, and a client
 * channel that makes such calls. Both run on one wf_loop_t and speak over
 * any wf_io_t stack (a plain socket today, TLS for the mesh's control plane).
 *
 * What is on the wire (grpc/doc/PROTOCOL-HTTP2.md): POST to
 * /<package>.<Service>/<Method>, content-type application/grpc, te:
 * trailers, grpc-timeout for the deadline; length-prefixed messages
 * (grpc_wire.h); status in trailers as grpc-status + percent-encoded
 * grpc-message (trailers-only HEADERS when there is no message).
 *
 * Ownership: a server, channel, connection and call belong to the loop's
 * thread. Callbacks never run from inside the API call that causes them:
 * sends, finishes and cancels are queued and flushed at the end of the loop
 * iteration, so a callback may call any function here.
 */
#ifndef WF_GRPC_H
#define WF_GRPC_H

#include "core/loop.h"
#include "grpc/grpc_wire.h"
#include "net/addr.h"
#include "net/io.h"

#include <protobuf-c/protobuf-c.h>

typedef struct wf_grpc_server wf_grpc_server_t;
typedef struct wf_grpc_call wf_grpc_call_t; /* server side of one call */
typedef struct wf_grpc_channel wf_grpc_channel_t;
typedef struct wf_grpc_ccall wf_grpc_ccall_t; /* client side of one call */

typedef struct wf_grpc_opts {
    uint32_t max_recv_msg;         /* largest message accepted; 0: 4 MiB */
    uint32_t max_concurrent;       /* server: SETTINGS_MAX_CONCURRENT_STREAMS; 0: 100 */
    uint32_t keepalive_ms;         /* PING an idle-or-not connection this often; 0: never */
    uint32_t keepalive_timeout_ms; /* close when a PING is unanswered this long; 0: 20 s */
} wf_grpc_opts_t;

/* --- server ------------------------------------------------------------------ */

typedef enum wf_grpc_method_kind {
    WF_GRPC_UNARY,         /* one request, one response */
    WF_GRPC_SERVER_STREAM, /* one request, any number of responses */
} wf_grpc_method_kind_t;

/*
 * A handler runs once the whole request arrived (the client half-closed
 * after exactly one message). It answers now or later, from the loop:
 * wf_grpc_call_send() any number of times (unary: once), then exactly one
 * wf_grpc_call_finish(). The call stays valid until finish, whatever the
 * peer does: when the client cancels, the deadline passes or the connection
 * dies, on_cancel (if set) tells the handler to stop, and its sends become
 * no-ops — it must still finish the call, which then only frees it.
 */
typedef void (*wf_grpc_handler_cb)(wf_grpc_server_t *srv, wf_grpc_call_t *call);
typedef void (*wf_grpc_cancel_cb)(wf_grpc_call_t *call);

typedef struct wf_grpc_method {
    const char *path; /* "/weft.identity.Identity/Certify" (borrowed, static) */
    wf_grpc_method_kind_t kind;
    const ProtobufCMessageDescriptor *request;  /* borrowed, static */
    const ProtobufCMessageDescriptor *response; /* borrowed, static */
    wf_grpc_handler_cb handler;
} wf_grpc_method_t;

struct wf_grpc_server {
    wf_loop_t *loop; /* borrowed */
    wf_grpc_opts_t opts;
    const wf_grpc_method_t *methods; /* borrowed array */
    size_t nmethods;
    int listen_fd; /* owned, -1 when not listening */
    wf_watch_t listen_watch;
    struct wf__grpc_sconn *conns; /* owned list of live connections */
    uint64_t calls_total;         /* calls started */
    uint64_t calls_failed;        /* calls finished with a status other than OK */
    /* Optional: stacks a layer (TLS) on each accepted socket before the
     * connection is served; NULL refuses the connection (the hook logs why
     * and destroys what it was given). */
    wf_io_t *(*wrap)(void *arg, wf_io_t *sock);
    void *wrap_arg;
};

/* Prepares srv (embedded in the caller's object; handlers get it back and
 * may wf_container_of() their way up). methods must outlive srv. */
void wf_grpc_server_init(wf_grpc_server_t *srv, wf_loop_t *loop, const wf_grpc_method_t *methods,
                         size_t nmethods, const wf_grpc_opts_t *opts);
/* Listens on addr (port 0: any; wf_local_addr on srv->listen_fd tells). */
int wf_grpc_server_listen(wf_grpc_server_t *srv, const wf_addr_t *addr);
/* Serves one already-established connection (e.g. after a TLS handshake);
 * takes ownership of io (destroyed on failure too). */
int wf_grpc_server_adopt(wf_grpc_server_t *srv, wf_io_t *io);
/* Stops listening and closes every connection: live calls are cancelled
 * (on_cancel) and stay to be finished by their handlers. */
void wf_grpc_server_close(wf_grpc_server_t *srv);

/* The decoded request (owned by the call, valid until finish). */
const ProtobufCMessage *wf_grpc_call_request(const wf_grpc_call_t *call);
const wf_grpc_method_t *wf_grpc_call_method(const wf_grpc_call_t *call);
/* The handler's own state for this call (not touched by the library). */
void wf_grpc_call_set_data(wf_grpc_call_t *call, void *data);
void *wf_grpc_call_data(const wf_grpc_call_t *call);
void wf_grpc_call_on_cancel(wf_grpc_call_t *call, wf_grpc_cancel_cb cb);
/* True once the call cannot deliver anything any more (cancelled). */
bool wf_grpc_call_cancelled(const wf_grpc_call_t *call);

/* Queues one response message (packed now; msg stays the caller's).
 * WF_ECLOSED after a cancel, WF_EINVAL for a second unary response,
 * WF_ENOMEM. */
int wf_grpc_call_send(wf_grpc_call_t *call, const ProtobufCMessage *msg);
/* Ends the call with status and message (NULL: none) and releases it: the
 * pointer is invalid afterwards. A unary OK finish without a response sent
 * becomes INTERNAL. */
void wf_grpc_call_finish(wf_grpc_call_t *call, wf_grpc_status_t status, const char *message);

/* --- client ------------------------------------------------------------------ */

/*
 * on_message: a response message (decoded; borrowed for the callback only).
 * on_done: exactly once per call unless it was cancelled first; status and
 * message (borrowed, may be empty) of the call. After on_done returns the
 * call handle is gone.
 */
typedef struct wf_grpc_ccall_cbs {
    void (*on_message)(wf_grpc_ccall_t *cc, const ProtobufCMessage *msg);
    void (*on_done)(wf_grpc_ccall_t *cc, wf_grpc_status_t status, wf_str_t message);
} wf_grpc_ccall_cbs_t;

/* Opens a channel to addr over plain TCP (connects in the background).
 * The channel does not reconnect: once it fails, its calls end UNAVAILABLE
 * and new calls are refused; the owner makes a new channel. NULL + *err. */
wf_grpc_channel_t *wf_grpc_channel_connect(wf_loop_t *loop, const wf_addr_t *addr,
                                           const wf_grpc_opts_t *opts, int *err);
/* Like wf_grpc_channel_connect, with wrap (e.g. a TLS client layer) stacked
 * on the connecting socket; wrap takes ownership of sock and returns the new
 * top layer, or NULL (sock destroyed) with *err set by the caller's choice:
 * the call then fails with WF_EPROTO. authority is the :authority sent. */
wf_grpc_channel_t *wf_grpc_channel_connect_wrapped(wf_loop_t *loop, const wf_addr_t *addr,
                                                   wf_str_t authority,
                                                   wf_io_t *(*wrap)(void *arg, wf_io_t *sock),
                                                   void *wrap_arg, const wf_grpc_opts_t *opts,
                                                   int *err);
/* A channel over an already-connected io (e.g. TLS); takes ownership of io
 * (destroyed on failure too). authority is the :authority sent. */
wf_grpc_channel_t *wf_grpc_channel_adopt(wf_loop_t *loop, wf_io_t *io, wf_str_t authority,
                                         const wf_grpc_opts_t *opts, int *err);
/* True while the channel can take new calls. */
bool wf_grpc_channel_ok(const wf_grpc_channel_t *ch);
/* Closes the channel: outstanding calls end with CANCELLED (on_done runs
 * from the loop), then the channel is freed. */
void wf_grpc_channel_close(wf_grpc_channel_t *ch);

/*
 * Starts a call of a unary or server-streaming method. timeout_ms 0: no
 * deadline (otherwise sent as grpc-timeout and enforced here too:
 * DEADLINE_EXCEEDED). A unary call delivers its single response through
 * on_message before on_done(OK). Returns NULL + *err (and never calls back)
 * when the call cannot start.
 */
wf_grpc_ccall_t *wf_grpc_call_start(wf_grpc_channel_t *ch, const char *path,
                                    wf_grpc_method_kind_t kind, const ProtobufCMessage *req,
                                    const ProtobufCMessageDescriptor *response, uint64_t timeout_ms,
                                    const wf_grpc_ccall_cbs_t *cbs, void *data, int *err);
void *wf_grpc_ccall_data(const wf_grpc_ccall_t *cc);
/* Cancels (RST_STREAM CANCEL); no callback runs for cc afterwards. */
void wf_grpc_ccall_cancel(wf_grpc_ccall_t *cc);

#endif
