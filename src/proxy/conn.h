/*
 * conn.h — a proxied connection (private to weft-proxy's modules): the
 * accepted client socket, and either an opaque relay to one server socket
 * or an HTTP/1 server codec (h1_server.c) whose requests go out through
 * pooled upstream connections (h1_client.c). An HTTP upgrade turns the
 * connection back into a relay with the upstream socket as its server end.
 *
 * Owner: the worker thread that accepted the socket.
 */
#ifndef WF_PROXY_CONN_H
#define WF_PROXY_CONN_H

#include "proxy.h"
#include "http.h"
#include "tls/tls_io.h"

typedef struct wf_h1s wf_h1s_t;
typedef struct wf_h2s wf_h2s_t;

typedef enum pc_state {
    PC_DETECT,
    PC_DISCOVER,  /* outbound: waiting for discovery's first answer */
    PC_TLS,       /* inbound: terminating mesh mTLS addressed to us */
    PC_TRANSPORT, /* inbound, direct to our port: reading the transport header */
    PC_CONNECT,
    PC_RELAY,
    PC_HTTP1, /* HTTP/1 server codec: requests proxied one by one */
    PC_HTTP2, /* HTTP/2 server codec: streams proxied independently */
    PC_CLOSED,
} pc_state_t;

struct wf_pconn {
    wf_pconn_t *prev, *next; /* worker's list */
    wf_worker_t *worker;     /* borrowed: owner */
    const wf_side_t *side;   /* borrowed */
    pc_state_t state;
    wf_proto_t proto;
    wf_end_t client; /* the accepted socket (peer="src") */
    wf_end_t server; /* the socket we connect (peer="dst") */
    wf_relay_t relay;
    wf_timer_t timer;   /* detect, then connect, then idle timeout */
    wf_defer_t defer;   /* frees the connection at the loop's safe point */
    wf_addr_t orig_dst; /* where the client meant to go */
    wf_addr_t target;   /* where we connect */
    uint64_t last_active;
    wf_h1s_t *h1; /* owned: the HTTP/1 server codec, in PC_HTTP1 */
    wf_h2s_t *h2; /* owned: the HTTP/2 server codec, in PC_HTTP2 */
    bool tls_peek;  /* detect: reading a whole ClientHello to see its SNI */
    bool tls;       /* inbound: the client end is mesh mTLS we terminated */
    uint32_t detect_bytes; /* read before the client end's metrics were opened */
    bool direct;     /* inbound: addressed to our own port (transport header follows mTLS) */
    bool mesh;       /* outbound: tunnelled over mTLS to a meshed endpoint's proxy */
    bool mesh_opaque;
    uint16_t mesh_app_port;
    uint8_t server_id_len;
    uint8_t connect_attempts; /* outbound mesh tunnel: endpoints tried */
    uint8_t dst_path_len;     /* orig_dst as discovery's "ip:port", made once */
    char dst_path[WF_ADDR_STRLEN];
    struct wf_ep_stats *ep;   /* outbound mesh tunnel: its endpoint's balancer stats, counted open */
    char server_id[WF_TLS_ID_MAX + 1]; /* outbound mesh: the identity the peer proved */
    uint8_t client_id_len;
    char client_id[WF_TLS_ID_MAX + 1]; /* inbound mTLS: the client's identity, or "" */
};

/* The client's mesh identity when the connection is mTLS we terminated
 * and the client presented a certificate; empty otherwise. */
static inline wf_str_t wf_pconn_client_id(const wf_pconn_t *c)
{
    return (wf_str_t){c->client_id, c->client_id_len};
}

/* Header carrying the client identity to the application (inbound). */
#define WF_L5D_CLIENT_ID "l5d-client-id"


/* conn.c */
void wf_pconn_close(wf_pconn_t *c, int err);
/* Starts relaying between the client and c->server, whose io is set;
 * c->relay buffers may already hold bytes to forward. */
void wf_pconn_relay_start(wf_pconn_t *c);

/* What the proxy adds to or removes from a request head it received on c
 * before forwarding it: inbound, l5d-client-id is the mTLS client's
 * identity, and is removed when there is none (a client cannot claim an
 * identity with a header). 0 or WF_ENOMEM. */
int wf_pconn_request_headers(const wf_pconn_t *c, wf_http_head_t *req);

/* Sends an HTTP request received on c upstream: inbound to the app on
 * loopback (HTTP/2 from a meshed peer back to HTTP/1 when l5d-orig-proto
 * says so), outbound to a meshed endpoint over mTLS + HTTP/2 (picked per
 * request; in ingress mode by l5d-dst-override) or to the original
 * destination. *target is where it went. WF_EAGAIN: discovery has not
 * answered yet, call again from wf_h1s/h2s_discovered; WF_ENOTFOUND: the
 * Service has no ready endpoints. */
int wf_pconn_forward(wf_pconn_t *c, wf_exchange_t *x, wf_addr_t *target);
/* Outbound, meshed: sends x again, to an endpoint the balancer chooses
 * now, after an attempt that failed before any answer (h2_client.c decides
 * when that is safe). Not 0: it could not go (the Service is no longer
 * meshed, has no endpoints, or the connection failed at once). */
int wf_pconn_resend(wf_worker_t *w, const wf_side_t *side, wf_exchange_t *x);
/* Cancels x's upstream side, whichever codec holds it. */
void wf_pconn_cancel_upstream(wf_worker_t *w, wf_exchange_t *x, uint32_t h2_code);

/* Ingress mode: the Service (FQDN:port) a request is for. */
#define WF_L5D_DST_OVERRIDE "l5d-dst-override"

/* Proxy-to-proxy: the protocol a request had before it became HTTP/2. */
#define WF_L5D_ORIG_PROTO "l5d-orig-proto"

/* The HTTP metric labels shared by every request on c (target, tls, srv). */
size_t wf_pconn_http_labels(const wf_pconn_t *c, char *out, size_t outlen);

/* h1_server.c */
int wf_h1s_start(wf_pconn_t *c);
void wf_h1s_on_events(wf_pconn_t *c);
void wf_h1s_timeout(wf_pconn_t *c);
void wf_h1s_free(wf_pconn_t *c);
/* Graceful drain: idle keep-alive connections close now, busy ones after
 * their response (which carries "connection: close"). */
void wf_h1s_drain(wf_pconn_t *c);
/* Discovery answered: a request waiting for it (WF_EAGAIN from
 * wf_pconn_forward) is forwarded now. */
void wf_h1s_discovered(wf_pconn_t *c);

/* h2_server.c */
int wf_h2s_start(wf_pconn_t *c);
void wf_h2s_on_events(wf_pconn_t *c);
void wf_h2s_timeout(wf_pconn_t *c);
void wf_h2s_free(wf_pconn_t *c);
void wf_h2s_drain(wf_pconn_t *c);
void wf_h2s_discovered(wf_pconn_t *c);

#endif
