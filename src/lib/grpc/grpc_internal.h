/*
 * grpc_internal.h — what grpc_conn.c, grpc_server.c and grpc_client.c
 * share: the connection engine (an nghttp2 session pumped over a wf_io_t)
 * and the per-stream send queue behind an nghttp2 data provider.
 *
 * Owner: the loop's thread.
 */
#ifndef WF_GRPC_INTERNAL_H
#define WF_GRPC_INTERNAL_H

#include "grpc/grpc.h"

#include <nghttp2/nghttp2.h>

#define WF__GRPC_STREAM_WINDOW (1u << 20) /* per-stream receive window */
#define WF__GRPC_CONN_WINDOW (16u << 20)  /* connection receive window */
#define WF__GRPC_MAX_STREAMS 100u
#define WF__GRPC_OUT_HIGH (256u * 1024) /* stop asking nghttp2 for bytes above this */
#define WF__GRPC_MAX_PATH 256u
#define WF__GRPC_MAX_STATUS_MSG 1024u /* grpc-message bytes kept (decoded) */

typedef struct wf__grpc_conn wf__grpc_conn_t;

/*
 * The connection engine. Reads until WF_EAGAIN on every wake-up and sends
 * whatever nghttp2 produces; both directions are tried on every event, so a
 * filter whose recv waits for writability (TLS) needs nothing special.
 * Teardown happens only in wf__grpc_conn_run() outside nghttp2 callbacks:
 * wf__grpc_conn_fail() records the reason and kicks.
 */
struct wf__grpc_conn {
    wf_loop_t *loop; /* borrowed */
    wf_io_t *io;     /* owned; NULL once closed */
    wf_watch_t watch;
    nghttp2_session *ng; /* owned; NULL once closed */
    uint8_t *out;        /* owned: produced bytes the io has not taken yet */
    size_t out_len, out_off, out_cap;
    bool connecting; /* waiting for the non-blocking connect */
    bool in_run;
    bool closed;
    int fail; /* reason to close (0: none requested) */
    bool fail_set;
    wf_defer_t kick;
    uint32_t ka_ms, ka_timeout_ms;
    bool ka_waiting; /* a keepalive PING is unanswered */
    wf_timer_t ka_timer;
    /* Called once from run when the connection is gone (err 0: clean EOF
     * or requested close); the owner ends its streams and frees itself by
     * deferring. The session is already deleted. */
    void (*on_close)(wf__grpc_conn_t *c, int err);
};

/* Sets up c over io (owned from here on, destroyed by close). The session
 * callbacks' user_data is c. Returns 0 or WF_ENOMEM (io destroyed). */
int wf__grpc_conn_init(wf__grpc_conn_t *c, wf_loop_t *loop, wf_io_t *io, bool server,
                       nghttp2_session_callbacks *cbs, const wf_grpc_opts_t *opts, bool connecting);
/* Runs the engine from the loop at the end of this iteration. */
void wf__grpc_conn_kick(wf__grpc_conn_t *c);
/* Requests teardown with err (first reason wins) and kicks. */
void wf__grpc_conn_fail(wf__grpc_conn_t *c, int err);
/* Frees what the connection still holds after on_close (the out buffer). */
void wf__grpc_conn_free(wf__grpc_conn_t *c);
/* PING ACK bookkeeping: owners call it from on_frame_recv. */
void wf__grpc_conn_on_frame(wf__grpc_conn_t *c, const nghttp2_frame *f);
/* nghttp2 options shared by both sides (flood limits). */
nghttp2_option *wf__grpc_options(bool server);

/* A stream's outgoing bytes (framed messages), drained by a data provider. */
typedef struct wf__grpc_sendq {
    uint8_t *buf; /* owned */
    size_t len, off, cap;
    bool eof;      /* nothing more will be queued */
    bool deferred; /* the data provider returned NGHTTP2_ERR_DEFERRED */
} wf__grpc_sendq_t;

/* Packs msg with its 5-byte prefix onto q. WF_ENOMEM / WF_ELIMIT. */
int wf__grpc_sendq_put(wf__grpc_sendq_t *q, const ProtobufCMessage *msg);
void wf__grpc_sendq_free(wf__grpc_sendq_t *q);
/* Copies up to len bytes out; sets *eof when the queue is drained and
 * closed, returns NGHTTP2_ERR_DEFERRED when it is empty but open. */
ssize_t wf__grpc_sendq_read(wf__grpc_sendq_t *q, uint8_t *buf, size_t len, bool *eof);
/* Resumes a deferred data provider after new bytes or eof. */
void wf__grpc_sendq_wake(wf__grpc_sendq_t *q, nghttp2_session *ng, int32_t id);

static inline nghttp2_nv wf__grpc_nv(wf_str_t name, wf_str_t value)
{
    return (nghttp2_nv){(uint8_t *)name.ptr, (uint8_t *)value.ptr, name.len, value.len,
                        NGHTTP2_NV_FLAG_NONE};
}

/* Whether a content-type names gRPC: "application/grpc" alone or followed
 * by '+' (codec) or ';' (parameters). */
bool wf__grpc_content_type_ok(wf_str_t v);

#endif
