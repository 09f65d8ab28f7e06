/*
 * http.h — the protocol-neutral middle of the HTTP proxy: a message head
 * that owns its strings, a bounded body pipe, and the exchange (one request
 * and its response) that a downstream server codec and an upstream client
 * codec share. Codecs (h1 today, h2 next) translate between their wire
 * format and these; routing, metrics and error responses deal only in
 * exchanges.
 *
 * Owner: one worker thread. An exchange is referenced by its downstream
 * side (from request head to response end) and by its upstream side while
 * that forwards it; the last wf_exchange_put frees it.
 */
#ifndef WF_PROXY_HTTP_H
#define WF_PROXY_HTTP_H

#include "core/buf.h"
#include "core/loop.h"
#include "http1/h1.h"
#include "net/addr.h"

typedef struct wf_hfield {
    wf_str_t name, value; /* borrowed from the head's arena */
} wf_hfield_t;

typedef struct wf_http_head {
    wf_str_t method;    /* request */
    wf_str_t target;    /* request: origin-form path or authority-form */
    wf_str_t authority; /* request: Host (h1) / :authority (h2); may be empty */
    wf_str_t reason;    /* response: reason phrase (h1) */
    wf_str_t scheme;    /* request: :scheme (h2); empty for h1 */
    uint16_t status;    /* response */
    uint8_t method_id;  /* wf_h1_method_t */
    uint8_t minor;      /* HTTP/1.minor of the sender */
    int64_t content_length; /* -1 when the body is not length-delimited */
    uint8_t body;           /* wf_h1_body_t: how the sender framed the body */
    wf_str_t upgrade;       /* h1 Upgrade value when the message upgrades */
    wf_str_t te_codings;    /* h1 transfer codings other than the final chunked
                             * ("gzip"): kept when re-framing, never dropped */
    wf_hfield_t *fields;    /* end-to-end fields only: hop-by-hop removed */
    uint32_t nfields;
    char *arena; /* owned: backs fields and every view above */
} wf_http_head_t;

/* Copies an h1 head's end-to-end fields (hop-by-hop and duplicate
 * Content-Length dropped) into h. Returns 0 or WF_ENOMEM. */
int wf_http_head_from_h1(wf_http_head_t *h, const wf_h1_msg_t *m);
void wf_http_head_free(wf_http_head_t *h);
/* The authority of an absolute-form request-target ("http://a:1/x" → "a:1"),
 * or an empty string for other forms. */
wf_str_t wf_http_target_authority(wf_str_t target);

/*
 * Collects fields one by one (HTTP/2 HEADERS, trailers) and then makes a
 * head whose arena holds them. Pseudo-header fields (":method", ...) fill
 * the head's own members instead of fields. Owner: the codec building it.
 */
typedef struct wf_head_builder {
    wf_sbuf_t data;   /* owned: name and value bytes */
    wf_sbuf_t index;  /* owned: uint32_t (name_off, name_len, value_off, value_len) */
    uint32_t nfields;
    size_t bytes;     /* header-list size as RFC 9113 §6.5.2 counts it */
} wf_head_builder_t;

void wf_head_builder_add(wf_head_builder_t *b, wf_str_t name, wf_str_t value);
/* Builds the head (pseudo-headers mapped), resets the builder. 0 or WF_ENOMEM. */
int wf_head_builder_finish(wf_head_builder_t *b, wf_http_head_t *out);
void wf_head_builder_free(wf_head_builder_t *b);
const wf_hfield_t *wf_http_head_find(const wf_http_head_t *h, wf_str_t name);
/* Removes every field called name (any case) and, when value is not empty,
 * adds name: value at the end. Costs a copy of the head only when there is
 * something to change. 0 or WF_ENOMEM (h unchanged). */
int wf_http_head_set(wf_http_head_t *h, wf_str_t name, wf_str_t value);

/*
 * A body pipe: decoded body bytes from a producer codec to a consumer
 * codec, at most WF_PIPE_MAX_BUFS pooled chunks. A full pipe is
 * back-pressure: the producer stops reading its socket until the consumer
 * drains it. Five 16 KiB chunks: an HTTP/2 stream may have a whole 65,535
 * byte window outstanding, and the first chunk may have up to a chunk of
 * already-consumed space ahead of its data, so 4 full chunks + 1 always fit.
 */
#define WF_PIPE_MAX_BUFS 5

typedef struct wf_pipe {
    wf_buf_t bufs[WF_PIPE_MAX_BUFS]; /* owned chunks, a ring */
    uint8_t first, count;
    bool eof;      /* the producer wrote the whole body */
    size_t bytes;  /* queued now */
    uint64_t total; /* written since the start */
} wf_pipe_t;

/* Copies up to len bytes in; returns how many fit. */
size_t wf_pipe_write(wf_pipe_t *p, wf_pool_t *pool, const char *data, size_t len);
bool wf_pipe_full(const wf_pipe_t *p, const wf_pool_t *pool);
/* Bytes that can be written before the pipe is full. */
size_t wf_pipe_space(const wf_pipe_t *p, const wf_pool_t *pool);
/* The first contiguous readable bytes (len 0 when empty). */
wf_str_t wf_pipe_peek(const wf_pipe_t *p);
void wf_pipe_consume(wf_pipe_t *p, wf_pool_t *pool, size_t n);
void wf_pipe_release(wf_pipe_t *p, wf_pool_t *pool);

typedef struct wf_exchange wf_exchange_t;

/* A side of an exchange: how the other side wakes it. */
typedef struct wf_xside wf_xside_t;
typedef struct wf_xside_ops {
    /* The exchange changed (head, body bytes, space, end): make progress.
     * Called from the loop's deferred queue, never re-entrantly. */
    void (*wake)(wf_xside_t *s);
} wf_xside_ops_t;

struct wf_xside {
    const wf_xside_ops_t *ops;
    wf_defer_t defer; /* pending wake */
};

/* Why an exchange failed, for l5d-proxy-error and the metrics' error label. */
typedef enum wf_http_error {
    WF_HTTP_OK = 0,
    WF_HTTP_E_CONNECT,      /* upstream connect refused or failed (502) */
    WF_HTTP_E_CONNECT_TIMEOUT, /* (504) */
    WF_HTTP_E_UPSTREAM_RESET,  /* upstream closed/reset before a response (502) */
    WF_HTTP_E_UPSTREAM_PROTO,  /* upstream sent an invalid response (502) */
    WF_HTTP_E_RESPONSE_TIMEOUT, /* (504) */
    WF_HTTP_E_DOWNSTREAM,    /* the client went away mid-exchange */
    WF_HTTP_E_NO_ENDPOINTS,  /* a meshed Service without ready endpoints (503) */
    WF_HTTP_E_UNAVAILABLE,   /* never resolved, destination service away (503) */
} wf_http_error_t;

struct wf_exchange {
    uint32_t refs;
    wf_loop_t *loop;    /* borrowed: the owning worker's loop */
    wf_xside_t *down;   /* borrowed: the server codec, NULL once detached */
    wf_xside_t *up;     /* borrowed: the client codec, NULL once detached */
    wf_http_head_t req;
    wf_http_head_t res;
    wf_http_head_t req_trailers; /* h2: fields only; nfields 0 when none */
    wf_http_head_t res_trailers;
    uint32_t reset_code; /* h2 RST_STREAM code to pass on when error is a reset */
    bool grpc;           /* request content-type application/grpc* */
    uint8_t retries;     /* times re-sent after a failed attempt (h2_client.c stream_resend) */
    bool res_ready;      /* res holds a final (non-1xx) head */
    bool res_interim;    /* res holds a 1xx head the downstream must send first */
    bool upgraded;       /* 101 / CONNECT 2xx: both sides become a byte relay */
    wf_http_error_t error;
    wf_pipe_t req_body;
    wf_pipe_t res_body;
    wf_addr_t dst;       /* outbound: where the client sent it (what discovery is asked) */
    const struct wf_ep_stats *ep; /* outbound meshed: the endpoint it went to (its labels) */
    uint64_t start_us;   /* request head received */
    uint64_t first_byte_us; /* response head received */
    void *metrics;       /* borrowed: the request's metric series (http_metrics.c) */
};

wf_exchange_t *wf_exchange_new(wf_loop_t *loop);
/* grpc-status from the response trailers (or a trailers-only head), or -1. */
int wf_exchange_grpc_status(const wf_exchange_t *x);
void wf_exchange_put(wf_exchange_t *x, wf_pool_t *pool);

/* Queues a wake of the other side (no-op when it has detached). */
void wf_exchange_wake_up(wf_exchange_t *x);
void wf_exchange_wake_down(wf_exchange_t *x);

const char *wf_http_error_text(wf_http_error_t e);
uint16_t wf_http_error_status(wf_http_error_t e);

#endif
