/*
 * conn.c — one proxied TCP connection, inbound or outbound:
 *
 *   accept → original destination → [detect] → connect → relay → close
 *
 * Detection reads the client's first bytes (≤ WF_DETECT_MAX_BYTES) into the
 * client→server buffer, so they are relayed unchanged once the upstream is
 * connected. Opaque ports skip detection. A failure on either side resets
 * the other (SO_LINGER 0), so a peer that resets mid-stream is seen as a
 * reset, not as a clean end, by the far side.
 *
 * Owner: the worker thread that accepted the socket.
 */
#include "conn.h"
#include "http_metrics.h"
#include "balance.h"
#include "discovery.h"
#include "h1_proxy.h"
#include "h2_proxy.h"
#include "mesh/identity_client.h"
#include "transport_header.h"

#include "tls/client_hello.h"
#include "tls/tls_ctx.h"

#include "core/log.h"
#include "core/time.h"

#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define conn_close wf_pconn_close
static void server_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events);
static void conn_connect(wf_pconn_t *c);
static void conn_begin(wf_pconn_t *c);
static void conn_unavailable(wf_pconn_t *c);
static bool conn_mesh_retry(wf_pconn_t *c, int err);
static wf_dst_result_t outbound_pick(wf_worker_t *w, wf_str_t path, wf_dst_pick_t *best);

static wf_loop_t *conn_loop(wf_pconn_t *c)
{
    return &c->worker->loop;
}

/* Outbound: the original destination as discovery's "ip:port", formatted
 * once per connection. */
static wf_str_t conn_dst_path(wf_pconn_t *c)
{
    if (c->dst_path_len == 0)
        c->dst_path_len = (uint8_t)wf_addr_format(&c->orig_dst, c->dst_path, sizeof(c->dst_path));
    return (wf_str_t){c->dst_path, c->dst_path_len};
}

static void conn_free(wf_loop_t *loop, wf_defer_t *d)
{
    free(wf_container_of(d, wf_pconn_t, defer));
}

static void conn_pump(wf_pconn_t *c)
{
    int rc = wf_relay_pump(&c->relay, &c->worker->pool);
    c->last_active = conn_loop(c)->now;
    if (rc == WF_RELAY_DONE)
        conn_close(c, 0);
    else if (rc < 0)
        conn_close(c, rc);
}

/* Counts the accepted end as open, with the TLS labels it turned out to
 * have. Inbound waits until detection (and mTLS termination) has decided,
 * so a connection is counted once, under the right labels. */
static void conn_open_client_metrics(wf_pconn_t *c)
{
    if (c->client.metrics.labels_len != 0)
        return;
    const wf_proxy_config_t *cfg = &c->worker->proxy->cfg;
    const bool in = c->side->dir == WF_DIR_INBOUND;
    wf_tcp_labels_t l = {
        .direction = c->side->name,
        .peer = "src",
        .target = &c->orig_dst,
        .tls = c->tls ? "true" : "no_identity",
        .no_tls_reason = c->tls ? NULL : in ? "no_tls_from_remote" : "loopback",
        .client_id = wf_pconn_client_id(c),
        .srv_name = in ? cfg->inbound_default_policy : NULL,
    };
    wf_tcp_metrics_open(c->worker->metrics, &c->client.metrics, &l);
    wf_tcp_metrics_read(&c->client.metrics, c->detect_bytes);
    c->detect_bytes = 0;
}

/* Detection done (or skipped): decide and connect. */
static void conn_detected(wf_pconn_t *c, wf_proto_t proto)
{
    c->proto = proto;
    c->tls_peek = false;
    conn_open_client_metrics(c);
    if (wf_log_enabled(WF_LOG_DEBUG)) {
        char dst[WF_ADDR_STRLEN];
        wf_addr_format(&c->orig_dst, dst, sizeof(dst));
        wf_log_debug("%s connection to %s: protocol %s", c->side->name, dst,
                     wf_proto_name(proto));
    }
    if (proto == WF_PROTO_HTTP1) {
        c->state = PC_HTTP1;
        int err = wf_h1s_start(c);
        if (err != 0)
            conn_close(c, err);
        return;
    }
    if (proto == WF_PROTO_HTTP2) {
        c->state = PC_HTTP2;
        int err = wf_h2s_start(c);
        if (err != 0)
            conn_close(c, err);
        return;
    }
    /* TLS is relayed as bytes (the app's own TLS; mesh mTLS is #4/#6). */
    conn_connect(c);
}

static void conn_detect(wf_pconn_t *c);

/* Inbound: drives the mTLS handshake; on success detection starts again on
 * the decrypted stream. */
static void conn_tls_handshake(wf_pconn_t *c)
{
    int rc = wf_tls_handshake(c->client.io);
    if (rc == WF_EAGAIN)
        return; /* the next event on the socket drives it on */
    wf_worker_t *w = c->worker;
    if (rc != 0) {
        char src[WF_ADDR_STRLEN] = "?";
        wf_addr_t peer;
        if (wf_peer_addr(c->client.io->fd, &peer) == 0)
            wf_addr_format(&peer, src, sizeof(src));
        const char *why = wf_tls_io_reason(c->client.io);
        wf_log_info("inbound: mTLS handshake from %s failed: %s", src, why ? why : wf_strerror(rc));
        wf_tcp_metrics_error(w->metrics, c->side->name, "tls_handshake_failed", w->loop.now);
        conn_close(c, rc);
        return;
    }
    wf_str_t id = wf_tls_io_peer_id(c->client.io);
    c->tls = true;
    c->client_id_len = (uint8_t)WF_MIN(id.len, (size_t)WF_TLS_ID_MAX);
    if (c->client_id_len > 0)
        memcpy(c->client_id, id.ptr, c->client_id_len);
    c->client_id[c->client_id_len] = '\0';
    /* What the client sent after its Finished may already sit decrypted
     * in the TLS layer, where no edge will announce it. */
    c->client.flags |= WF_END_F_READABLE | WF_END_F_WRITABLE;
    c->state = c->direct ? PC_TRANSPORT : PC_DETECT;
    wf_timer_stop(&w->loop, &c->timer);
    wf_timer_start(&w->loop, &c->timer, c->side->detect_timeout_ms);
    conn_detect(c);
}

/* Direct mTLS connection: the buffer holds the start of the decrypted
 * stream. True once the transport header is consumed and the connection
 * moved on (or was closed). */
static bool conn_transport_header(wf_pconn_t *c)
{
    wf_flow_t *f = &c->relay.ab;
    wf_transport_header_t h;
    int n = wf_th_parse((const uint8_t *)wf_buf_readp(&f->buf), wf_buf_len(&f->buf), &h);
    if (n == 0 && wf_buf_len(&f->buf) < WF_TH_MAX_LEN)
        return false;
    if (n <= 0) {
        wf_log_info("inbound: mTLS connection to the proxy port without a valid transport header");
        wf_tcp_metrics_error(c->worker->metrics, c->side->name, "transport_header", c->worker->loop.now);
        conn_close(c, WF_EPROTO);
        return true;
    }
    wf_buf_consume(&f->buf, &c->worker->pool, (size_t)n);
    wf_addr_set_port(&c->orig_dst, h.port);
    if (h.opaque) {
        conn_detected(c, WF_PROTO_OPAQUE);
        return true;
    }
    c->state = PC_DETECT;
    wf_proto_t p = wf_buf_len(&f->buf) > 0
                       ? wf_detect((const uint8_t *)wf_buf_readp(&f->buf), wf_buf_len(&f->buf))
                       : WF_PROTO_UNKNOWN;
    if (p != WF_PROTO_UNKNOWN)
        conn_detected(c, p);
    else
        conn_detect(c);
    return true;
}

/* Inbound TLS whose SNI is our identity: put the bytes read so far back in
 * front of the socket and stack TLS on top. */
static void conn_tls_start(wf_pconn_t *c)
{
    wf_worker_t *w = c->worker;
    wf_flow_t *f = &c->relay.ab;
    wf_tls_ctx_t *ctx = wf_worker_tls_server(w);
    if (ctx == NULL) {
        /* Mesh mTLS for us, but no certificate yet (not ready): nothing
         * good can come of passing it to the app. */
        wf_log_info("inbound: mTLS connection before the proxy holds a certificate; refused");
        wf_tcp_metrics_error(w->metrics, c->side->name, "tls_no_identity", w->loop.now);
        conn_close(c, WF_ECLOSED);
        return;
    }
    wf_io_t *pre = wf_io_prefix_new(c->client.io, wf_buf_readp(&f->buf), wf_buf_len(&f->buf));
    if (pre == NULL) {
        conn_close(c, WF_ENOMEM);
        return;
    }
    wf_buf_consume(&f->buf, &w->pool, wf_buf_len(&f->buf));
    wf_buf_release(&f->buf, &w->pool);
    c->client.io = pre;
    const char *why = NULL;
    wf_io_t *tls = wf_tls_io_new_server(ctx, pre, &why);
    if (tls == NULL) {
        wf_log_warn("inbound: cannot start TLS: %s", why);
        conn_close(c, WF_ENOMEM);
        return;
    }
    c->client.io = tls;
    c->state = PC_TLS;
    conn_tls_handshake(c);
}

/* While peeking: is the ClientHello complete, and is it for us? */
static bool conn_tls_peek(wf_pconn_t *c)
{
    wf_flow_t *f = &c->relay.ab;
    wf_str_t sni;
    wf_ch_result_t r =
        wf_client_hello_sni((const uint8_t *)wf_buf_readp(&f->buf), wf_buf_len(&f->buf), &sni);
    if (r == WF_CH_INCOMPLETE && wf_buf_space(&f->buf) > 0)
        return false;
    wf_str_t me = wf_identity_local_name(c->worker->proxy->identity);
    if (r == WF_CH_OK && wf_str_eq(sni, me)) {
        c->tls_peek = false;
        conn_tls_start(c);
    } else if (c->direct) {
        conn_close(c, WF_EPROTO); /* our own port: only mesh mTLS for us */
    } else {
        /* Someone else's TLS (or a ClientHello too big to hold): the
         * application terminates it. */
        conn_detected(c, WF_PROTO_TLS);
    }
    return true;
}

static void conn_detect(wf_pconn_t *c)
{
    wf_flow_t *f = &c->relay.ab;
    while (c->client.flags & WF_END_F_READABLE) {
        int space = wf_buf_reserve(&f->buf, &c->worker->pool);
        if (space < 0)
            return; /* out of buffers: wait for the next event */
        size_t have = wf_buf_len(&f->buf);
        size_t want = c->tls_peek ? WF_MIN((size_t)space, WF_CH_MAX_RECORD - have)
                                  : WF_DETECT_MAX_BYTES - have;
        c->client.io->flags &= ~WF_IO_F_DRAINED;
        ssize_t n = wf_io_recv(c->client.io, wf_buf_writep(&f->buf), want);
        if (n > 0) {
            wf_buf_produced(&f->buf, (size_t)n);
            if (c->client.metrics.labels_len != 0)
                wf_tcp_metrics_read(&c->client.metrics, (size_t)n);
            else
                c->detect_bytes += (uint32_t)n;
            if (c->client.io->flags & WF_IO_F_DRAINED)
                c->client.flags &= ~WF_END_F_READABLE;
            if (c->tls_peek) {
                if (conn_tls_peek(c))
                    return;
                continue;
            }
            if (c->state == PC_TRANSPORT) {
                if (conn_transport_header(c))
                    return;
                continue;
            }
            wf_proto_t p = wf_detect((const uint8_t *)wf_buf_readp(&f->buf), wf_buf_len(&f->buf));
            /* Inbound TLS may be mesh mTLS for us: read its whole
             * ClientHello to see the server name it asks for. */
            if (c->direct && !c->tls && p != WF_PROTO_TLS && p != WF_PROTO_UNKNOWN) {
                conn_close(c, WF_EPROTO); /* our own port: only mesh mTLS */
                return;
            }
            if (p == WF_PROTO_TLS && c->side->dir == WF_DIR_INBOUND && !c->tls &&
                c->worker->proxy->identity != NULL) {
                c->tls_peek = true;
                if (conn_tls_peek(c))
                    return;
                continue;
            }
            if (p != WF_PROTO_UNKNOWN) {
                conn_detected(c, p);
                return;
            }
            continue;
        }
        if (n == 0) {
            if (wf_buf_len(&f->buf) == 0) {
                /* Opened and closed without a byte: nothing to forward. */
                wf_buf_release(&f->buf, &c->worker->pool);
                conn_close(c, 0);
                return;
            }
            f->flags |= WF_FLOW_F_EOF;
            conn_detected(c, WF_PROTO_OPAQUE);
            return;
        }
        if (wf_buf_len(&f->buf) == 0)
            wf_buf_release(&f->buf, &c->worker->pool);
        if (n == WF_EAGAIN) {
            wf_end_recv_blocked(&c->client);
            return;
        }
        conn_close(c, (int)n);
        return;
    }
}

static void client_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
    wf_pconn_t *c = wf_container_of(w, wf_pconn_t, client.watch);
    wf_end_on_events(&c->client, events);
    if (c->state == PC_DETECT)
        conn_detect(c);
    else if (c->state == PC_TLS)
        conn_tls_handshake(c);
    else if (c->state == PC_TRANSPORT)
        conn_detect(c);
    else if (c->state == PC_RELAY)
        conn_pump(c);
    else if (c->state == PC_HTTP1)
        wf_h1s_on_events(c);
    else if (c->state == PC_HTTP2)
        wf_h2s_on_events(c);
}

void wf_pconn_relay_start(wf_pconn_t *c)
{
    c->state = PC_RELAY;
    c->server.watch.cb = server_cb;
    wf_timer_stop(conn_loop(c), &c->timer);
    uint64_t idle = c->worker->proxy->cfg.tcp_idle_timeout_ms;
    if (idle > 0)
        wf_timer_start(conn_loop(c), &c->timer, idle);
    conn_pump(c);
}

static void conn_relay_start(wf_pconn_t *c)
{
    if (c->mesh) {
        wf_tcp_labels_t l = {
            .direction = c->side->name,
            .peer = "dst",
            .target = &c->target,
            .tls = "true",
            .server_id = {c->server_id, c->server_id_len},
        };
        wf_tcp_metrics_open(c->worker->metrics, &c->server.metrics, &l);
        /* Opaque traffic is balanced per connection: an open tunnel is
         * what the endpoint has "in flight". */
        wf_dst_pick_t p = {.addr = c->target, .app_port = c->mesh_app_port};
        c->ep = wf_balance_ep(c->worker, &p);
        if (c->ep != NULL) {
            c->ep->inflight++;
            wf_balance_ok(c->ep);
        }
    } else {
        wf_upstream_metrics_open(c->worker, c->side, &c->server, &c->target);
    }
    wf_pconn_relay_start(c);
}

static void server_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
    wf_pconn_t *c = wf_container_of(w, wf_pconn_t, server.watch);
    wf_end_on_events(&c->server, events);
    if (c->state == PC_CONNECT) {
        int err = wf_end_connected(&c->server, events, &c->target, c->side->name,
                                   c->worker->metrics, loop->now);
        if (err == WF_EAGAIN)
            return;
        if (err != 0) {
            if (!conn_mesh_retry(c, err))
                conn_close(c, err);
            return;
        }
        conn_relay_start(c);
    } else if (c->state == PC_RELAY) {
        conn_pump(c);
    }
}

static void timer_cb(wf_loop_t *loop, wf_timer_t *t)
{
    wf_pconn_t *c = wf_container_of(t, wf_pconn_t, timer);
    switch (c->state) {
    case PC_DETECT:
        /* Linkerd's behaviour: a client that says nothing (or a protocol
         * where the server speaks first) is relayed opaquely. */
        wf_log_debug("%s: protocol detection timed out after %llums; treating as opaque",
                     c->side->name, (unsigned long long)c->side->detect_timeout_ms);
        conn_detected(c, WF_PROTO_OPAQUE);
        break;
    case PC_DISCOVER:
        /* No answer in time (discovery's own failfast wakes it sooner). */
        conn_unavailable(c);
        break;
    case PC_TRANSPORT:
        wf_tcp_metrics_error(c->worker->metrics, c->side->name, "transport_header", loop->now);
        conn_close(c, WF_ETIMEDOUT);
        break;
    case PC_TLS:
        wf_log_info("inbound: mTLS handshake timed out after %llums",
                    (unsigned long long)c->side->detect_timeout_ms);
        wf_tcp_metrics_error(c->worker->metrics, c->side->name, "tls_handshake_timeout",
                             loop->now);
        conn_close(c, WF_ETIMEDOUT);
        break;
    case PC_CONNECT:
        wf_tcp_metrics_error(c->worker->metrics, c->side->name, "connect_timeout", loop->now);
        if (!conn_mesh_retry(c, WF_ETIMEDOUT))
            conn_close(c, WF_ETIMEDOUT);
        break;
    case PC_RELAY: {
        uint64_t idle = c->worker->proxy->cfg.tcp_idle_timeout_ms;
        uint64_t quiet = loop->now - c->last_active;
        if (quiet >= idle)
            conn_close(c, WF_ETIMEDOUT);
        else
            wf_timer_start(loop, t, idle - quiet);
        break;
    }
    case PC_HTTP1:
        wf_h1s_timeout(c);
        break;
    case PC_HTTP2:
        wf_h2s_timeout(c);
        break;
    case PC_CLOSED:
        break;
    }
}

/* Outbound to a meshed endpoint: TLS to its proxy (SNI and verified
 * identity = the one discovery gave), the transport header first. */
static int conn_mesh_wrap(wf_pconn_t *c)
{
    wf_worker_t *w = c->worker;
    const char *why = NULL;
    wf_io_t *tls = wf_tls_io_new_client(wf_worker_tls_client(w), c->server.io,
                                        (wf_str_t){c->server_id, c->server_id_len}, &why);
    if (tls == NULL) {
        wf_log_warn("outbound: cannot start mTLS: %s", why);
        conn_close(c, WF_ENOMEM);
        return WF_ENOMEM;
    }
    c->server.io = tls;
    wf_flow_t *f = &c->relay.ab;
    if (wf_buf_reserve(&f->buf, &w->pool) < WF_TH_MAX_LEN || wf_buf_len(&f->buf) != 0) {
        conn_close(c, WF_ENOMEM);
        return WF_ENOMEM;
    }
    wf_transport_header_t h = {.port = c->mesh_app_port, .opaque = c->mesh_opaque};
    wf_buf_produced(&f->buf, wf_th_encode(&h, (uint8_t *)wf_buf_writep(&f->buf)));
    return 0;
}

/* Detection (or not, on opaque ports) and what follows: the path every
 * connection takes unless it is tunnelled to a meshed endpoint. */
static void conn_begin(wf_pconn_t *c)
{
    wf_worker_t *w = c->worker;
    wf_timer_stop(&w->loop, &c->timer);
    if (wf_portset_has(c->side->opaque_ports, wf_addr_port(&c->orig_dst))) {
        conn_detected(c, WF_PROTO_OPAQUE);
    } else {
        c->state = PC_DETECT;
        wf_timer_start(&w->loop, &c->timer, c->side->detect_timeout_ms);
    }
}

/* Makes c a tunnel to the meshed endpoint in pick; false without a
 * certificate to prove who we are (then it goes as it is). */
static bool conn_mesh_set(wf_pconn_t *c, const wf_dst_pick_t *pick, bool opaque)
{
    if (wf_worker_tls_client(c->worker) == NULL)
        return false;
    c->mesh = true;
    c->mesh_opaque = opaque;
    c->mesh_app_port = pick->app_port;
    c->target = pick->addr;
    c->server_id_len = (uint8_t)strlen(pick->identity);
    memcpy(c->server_id, pick->identity, c->server_id_len + 1);
    return true;
}

/* Outbound, a target discovery could not resolve (the destination service
 * is away): the connection is refused, said and counted. */
static void conn_unavailable(wf_pconn_t *c)
{
    char dst[WF_ADDR_STRLEN];
    wf_addr_format(&c->orig_dst, dst, sizeof(dst));
    wf_log_info("outbound: %s: the destination service is unavailable and this target was "
                "never resolved; connection refused",
                dst);
    wf_tcp_metrics_error(c->worker->metrics, c->side->name, "destination_unavailable",
                         c->worker->loop.now);
    conn_close(c, WF_ECLOSED);
}

/* Outbound with discovery: where does this connection go? */
static void conn_discover(wf_pconn_t *c)
{
    wf_worker_t *w = c->worker;
    wf_dst_pick_t pick;
    switch (outbound_pick(w, conn_dst_path(c), &pick)) {
    case WF_DST_PENDING:
        if (c->state != PC_DISCOVER) {
            c->state = PC_DISCOVER;
            wf_timer_start(&w->loop, &c->timer, c->side->detect_timeout_ms);
        }
        return;
    case WF_DST_NO_ENDPOINTS: {
        char dst[WF_ADDR_STRLEN];
        wf_addr_format(&c->orig_dst, dst, sizeof(dst));
        wf_log_info("outbound: %s has no ready endpoints; connection refused", dst);
        wf_tcp_metrics_error(w->metrics, c->side->name, "no_endpoints", w->loop.now);
        conn_close(c, WF_ECLOSED);
        return;
    }
    case WF_DST_MESHED:
        /* Opaque ports go through the tunnel as they are; anything else
         * is detected first, so HTTP can be balanced per request (and
         * what turns out not to be HTTP is tunnelled then). */
        if (pick.opaque && conn_mesh_set(c, &pick, true)) {
            wf_timer_stop(&w->loop, &c->timer);
            conn_connect(c);
            return;
        }
        break;
    case WF_DST_UNAVAILABLE:
        /* Never resolved and the destination service is away: opaque
         * traffic cannot be told apart from a meshed pod's, so it is
         * refused; HTTP gets its 503 per request after detection. */
        if (wf_portset_has(c->side->opaque_ports, wf_addr_port(&c->orig_dst))) {
            conn_unavailable(c);
            return;
        }
        break;
    case WF_DST_FORWARD:
        break;
    }
    conn_begin(c);
    /* Bytes that arrived while we waited were announced by an edge we
     * could not act on then: read them now. */
    if (c->state == PC_DETECT)
        conn_detect(c);
}

void wf_pconn_discovered(wf_pconn_t *c)
{
    if (c->state == PC_DISCOVER)
        conn_discover(c);
    else if (c->state == PC_HTTP1)
        wf_h1s_discovered(c);
    else if (c->state == PC_HTTP2)
        wf_h2s_discovered(c);
}

/* An mTLS tunnel's TCP connect failed (refused, timed out): nothing
 * reached that endpoint, so it rests and the connection goes to another
 * one the balancer chooses, up to three endpoints in all. The transport
 * header conn_mesh_wrap queued is all the relay holds yet. */
static bool conn_mesh_retry(wf_pconn_t *c, int err)
{
    wf_worker_t *w = c->worker;
    if (!c->mesh || c->side->dir != WF_DIR_OUTBOUND)
        return false;
    wf_dst_pick_t failed = {.addr = c->target, .app_port = c->mesh_app_port};
    wf_balance_fail(w, wf_balance_ep(w, &failed));
    if (++c->connect_attempts >= 3 || w->proxy->discovery == NULL)
        return false;
    wf_dst_pick_t pick;
    if (outbound_pick(w, conn_dst_path(c), &pick) != WF_DST_MESHED)
        return false;
    wf_end_close(&c->server, &w->loop, w->metrics, err, false);
    wf_flow_t *f = &c->relay.ab;
    wf_buf_consume(&f->buf, &w->pool, wf_buf_len(&f->buf));
    if (!conn_mesh_set(c, &pick, c->mesh_opaque))
        return false;
    conn_connect(c);
    return true;
}

static void conn_connect(wf_pconn_t *c)
{
    c->state = PC_CONNECT;
    wf_timer_stop(conn_loop(c), &c->timer);
    if (c->side->dir == WF_DIR_INBOUND) {
        /* Inbound goes to the application on loopback, same port. */
        wf_addr_loopback4(&c->target, wf_addr_port(&c->orig_dst));
    } else if (!c->mesh) {
        c->target = c->orig_dst;
        /* Detected as not HTTP (or silent): tunnel it whole to a meshed
         * endpoint, telling the peer not to detect again. */
        wf_dst_pick_t pick;
        wf_dst_result_t r = WF_DST_FORWARD;
        if (c->worker->proxy->discovery != NULL)
            r = wf_discovery_pick(c->worker->proxy->discovery, &c->orig_dst, c->worker->id, &pick);
        if (r == WF_DST_UNAVAILABLE) {
            conn_unavailable(c);
            return;
        }
        if (r == WF_DST_MESHED)
            conn_mesh_set(c, &pick, true);
    }
    int fd;
    int err = wf_connect_start(&c->target, &fd);
    if (err != 0) {
        wf_tcp_metrics_error(c->worker->metrics, c->side->name, "connect_error",
                             conn_loop(c)->now);
        conn_close(c, err);
        return;
    }
    c->server.io = wf_io_socket_new(fd);
    if (c->server.io == NULL) {
        close(fd);
        conn_close(c, WF_ENOMEM);
        return;
    }
    if (c->mesh && conn_mesh_wrap(c) != 0)
        return;
    wf_watch_init(&c->server.watch, fd, server_cb);
    err = wf_watch_start(conn_loop(c), &c->server.watch, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    if (err != 0) {
        conn_close(c, err);
        return;
    }
    wf_timer_start(conn_loop(c), &c->timer, c->side->connect_timeout_ms);
}

void wf_pconn_close(wf_pconn_t *c, int err)
{
    if (c->state == PC_CLOSED)
        return;
    wf_worker_t *w = c->worker;
    if (err != 0 && wf_log_enabled(WF_LOG_DEBUG)) {
        char dst[WF_ADDR_STRLEN];
        wf_addr_format(&c->orig_dst, dst, sizeof(dst));
        wf_log_debug("%s connection to %s closed: %s", c->side->name, dst, wf_strerror(err));
    }
    /* Count even connections that ended before detection decided. */
    if (c->client.metrics.labels_len == 0 && c->client.io != NULL &&
        (c->detect_bytes > 0 || c->state == PC_TLS))
        conn_open_client_metrics(c);
    c->state = PC_CLOSED;
    if (c->ep != NULL && c->ep->inflight > 0)
        c->ep->inflight--;
    c->ep = NULL;
    wf_timer_stop(&w->loop, &c->timer);
    wf_end_close(&c->client, &w->loop, w->metrics, err, err != 0);
    wf_end_close(&c->server, &w->loop, w->metrics, err, err != 0);
    wf_relay_release(&c->relay, &w->pool);
    if (c->h1 != NULL)
        wf_h1s_free(c);
    if (c->h2 != NULL)
        wf_h2s_free(c);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    w->nconns--;
    wf_loop_defer(&w->loop, &c->defer, conn_free);
    if (w->draining && w->nconns == 0)
        wf_loop_stop(&w->loop);
}

void wf_pconn_abort(wf_pconn_t *c)
{
    conn_close(c, WF_ETIMEDOUT);
}

/* Reset an accepted socket we will not serve. */
static void refuse(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

void wf_pconn_accept(wf_worker_t *w, const wf_side_t *side, int fd, const wf_addr_t *local)
{
    const wf_proxy_config_t *cfg = &w->proxy->cfg;
    if (w->nconns >= cfg->max_connections) {
        wf_tcp_metrics_error(w->metrics, side->name, "too_many_connections", w->loop.now);
        refuse(fd);
        return;
    }
    wf_addr_t orig;
    int err = wf_original_dst(fd, local, &orig);
    /* Without a redirect the "original" destination is our own listener: a
     * client connected to the proxy port directly, and there is nowhere
     * to forward it (and forwarding to ourselves would loop). */
    /* Inbound, a connection to our own port is a meshed peer's tunnel
     * (mTLS + transport header) when identity is on. */
    bool direct = err == 0 && side->dir == WF_DIR_INBOUND &&
                  wf_addr_port(&orig) == wf_addr_port(local) && w->proxy->identity != NULL;
    if (err != 0 || wf_addr_port(&orig) == 0 ||
        (!direct && wf_addr_port(&orig) == wf_addr_port(local) &&
         (side->dir == WF_DIR_INBOUND || wf_addr_is_loopback(&orig)))) {
        wf_tcp_metrics_error(w->metrics, side->name, "no_original_dst", w->loop.now);
        refuse(fd);
        return;
    }

    wf_pconn_t *c = calloc(1, sizeof(*c));
    wf_io_t *io = c != NULL ? wf_io_socket_new(fd) : NULL;
    if (io == NULL) {
        free(c);
        refuse(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->worker = w;
    c->side = side;
    c->orig_dst = orig;
    c->direct = direct;
    c->client.io = io;
    c->relay.a = &c->client;
    c->relay.b = &c->server;
    c->last_active = w->loop.now;
    wf_timer_init(&c->timer, timer_cb);
    c->next = w->conns;
    if (w->conns != NULL)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;

    /* Outbound clients are the local app (loopback): labelled at once.
     * Inbound ones once detection knows whether they speak mTLS. */
    if (side->dir == WF_DIR_OUTBOUND)
        conn_open_client_metrics(c);

    wf_watch_init(&c->client.watch, fd, client_cb);
    err = wf_watch_start(&w->loop, &c->client.watch, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    if (err != 0) {
        conn_close(c, err);
        return;
    }
    /* Ingress mode routes per request by header, never by address. */
    if (side->dir == WF_DIR_OUTBOUND && w->proxy->discovery != NULL &&
        !cfg->ingress_mode && !wf_addr_is_loopback(&orig)) {
        conn_discover(c);
        return;
    }
    if (direct) {
        c->state = PC_DETECT; /* the ClientHello must come, for us */
        wf_timer_start(&w->loop, &c->timer, side->detect_timeout_ms);
        return;
    }
    conn_begin(c);
}

void wf_pconn_drain(wf_pconn_t *c)
{
    if (c->state == PC_HTTP1)
        wf_h1s_drain(c);
    else if (c->state == PC_HTTP2)
        wf_h2s_drain(c);
}

wf_pconn_t *wf_pconn_next(wf_pconn_t *c)
{
    return c->next;
}

int wf_pconn_request_headers(const wf_pconn_t *c, wf_http_head_t *req)
{
    if (c->side->dir != WF_DIR_INBOUND)
        return 0;
    return wf_http_head_set(req, WF_STR(WF_L5D_CLIENT_ID), wf_pconn_client_id(c));
}

/* l5d-dst-override: "name:port", a DNS-like name and a decimal port. */
static bool dst_override_ok(wf_str_t v)
{
    size_t colon = v.len;
    for (size_t i = 0; i < v.len; i++)
        if (v.ptr[i] == ':')
            colon = i;
    if (colon == 0 || colon == v.len || colon + 6 < v.len || v.len > WF_DST_PATH_MAX)
        return false;
    for (size_t i = 0; i < colon; i++) {
        char ch = v.ptr[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
            return false;
    }
    unsigned port = 0;
    for (size_t i = colon + 1; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return false;
        port = port * 10 + (unsigned)(v.ptr[i] - '0');
    }
    return port > 0 && port <= 65535;
}

/* Inbound HTTP/2 from a meshed peer that carried an HTTP/1 request: back
 * to HTTP/1 for the application, with the framing it had. */
static bool orig_proto_h1(wf_exchange_t *x)
{
    const wf_hfield_t *op = wf_http_head_find(&x->req, WF_STR(WF_L5D_ORIG_PROTO));
    if (op == NULL || !wf_str_eq_nocase(op->value, WF_STR("HTTP/1.1")))
        return false;
    if (wf_http_head_set(&x->req, WF_STR(WF_L5D_ORIG_PROTO), WF_STR_NULL) != 0)
        return false;
    if (x->req.body != WF_H1_BODY_NONE && x->req.content_length >= 0)
        x->req.body = WF_H1_BODY_LENGTH;
    return true;
}

/* Outbound: where discovery is asked about x — in ingress mode the
 * l5d-dst-override header (none: not routed; NULL path), else the address
 * the client sent it to: c's, formatted once per connection, or (c NULL)
 * formatted into buf. */
static wf_str_t route_path(wf_worker_t *w, wf_pconn_t *c, const wf_exchange_t *x, char *buf,
                           size_t len)
{
    if (x->req.upgrade.len != 0 || x->req.method_id == WF_H1_M_CONNECT)
        return WF_STR_NULL; /* a byte relay follows: not balanced per request */
    if (!w->proxy->cfg.ingress_mode && c != NULL)
        return conn_dst_path(c);
    if (!w->proxy->cfg.ingress_mode)
        return (wf_str_t){buf, wf_addr_format(&x->dst, buf, len)};
    /* Ingress: l5d-dst-override names the Service (FQDN:port); without
     * it the request goes where it was sent, unmeshed. */
    const wf_hfield_t *o = wf_http_head_find(&x->req, WF_STR(WF_L5D_DST_OVERRIDE));
    if (o == NULL)
        return WF_STR_NULL;
    if (!dst_override_ok(o->value)) {
        wf_log_info("outbound: ignoring a malformed %s header", WF_L5D_DST_OVERRIDE);
        return WF_STR_NULL;
    }
    return o->value;
}

/* Discovery's answer for path and, when meshed, the endpoint to use: the
 * better of two at random (P2C), drawn again a couple of times while the
 * better one is resting after failures (with one endpoint of three down,
 * a draw has both healthy ones or one of them 2 times in 3... and three
 * draws miss them 1 time in 27, when it is simply tried). */
static wf_dst_result_t outbound_pick(wf_worker_t *w, wf_str_t path, wf_dst_pick_t *best)
{
    wf_discovery_t *d = w->proxy->discovery;
    wf_dst_pick_t two[2];
    wf_dst_result_t r = WF_DST_FORWARD;
    wf_ep_stats_t *e = NULL;
    for (int draw = 0; draw < 3; draw++) {
        r = wf_discovery_pick2(d, path, w->id, &two[0], &two[1]);
        if (r != WF_DST_MESHED)
            return r;
        const wf_dst_pick_t *b;
        e = wf_balance_choose(w, &two[0], &two[1], &b);
        *best = *b;
        if (!wf_balance_resting(w, e))
            break;
    }
    wf_balance_labels(e, best);
    return r;
}

int wf_pconn_forward(wf_pconn_t *c, wf_exchange_t *x, wf_addr_t *target)
{
    wf_worker_t *w = c->worker;
    const bool h2 = c->state == PC_HTTP2;
    if (c->side->dir == WF_DIR_INBOUND) {
        wf_addr_loopback4(target, wf_addr_port(&c->orig_dst));
        if (h2 && !orig_proto_h1(x))
            return wf_h2c_forward(w, c->side, x, target);
        return wf_h1c_forward(w, c->side, x, target);
    }
    *target = c->orig_dst;
    x->dst = c->orig_dst;
    wf_dst_pick_t pick;
    wf_dst_result_t r = WF_DST_FORWARD;
    if (w->proxy->discovery != NULL) {
        char buf[WF_ADDR_STRLEN];
        wf_str_t path = route_path(w, c, x, buf, sizeof(buf));
        if (path.len > 0)
            r = outbound_pick(w, path, &pick);
    }
    if (r == WF_DST_PENDING)
        return WF_EAGAIN; /* retried when discovery answers (wf_pconn_discovered) */
    if (r == WF_DST_NO_ENDPOINTS)
        return WF_ENOTFOUND;
    if (r == WF_DST_UNAVAILABLE)
        return WF_EUNAVAILABLE;
    if (r == WF_DST_MESHED && wf_worker_tls_client(w) != NULL) {
        /* Per request: HTTP/1 travels as HTTP/2 between proxies, on one
         * multiplexed mTLS connection per endpoint; the peer restores it. */
        if (!h2 && wf_http_head_set(&x->req, WF_STR(WF_L5D_ORIG_PROTO), WF_STR("HTTP/1.1")) != 0)
            return WF_ENOMEM;
        *target = pick.addr;
        return wf_h2c_forward_mesh(w, c->side, x, &pick);
    }
    return h2 ? wf_h2c_forward(w, c->side, x, target) : wf_h1c_forward(w, c->side, x, target);
}

int wf_pconn_resend(wf_worker_t *w, const wf_side_t *side, wf_exchange_t *x)
{
    char buf[WF_ADDR_STRLEN];
    wf_str_t path = route_path(w, NULL, x, buf, sizeof(buf));
    wf_dst_pick_t pick;
    if (path.len == 0 || w->proxy->discovery == NULL || wf_worker_tls_client(w) == NULL ||
        outbound_pick(w, path, &pick) != WF_DST_MESHED)
        return WF_ENOTFOUND; /* it was meshed a moment ago; no longer */
    return wf_h2c_forward_mesh(w, side, x, &pick);
}

void wf_pconn_cancel_upstream(wf_worker_t *w, wf_exchange_t *x, uint32_t h2_code)
{
    if (wf_h2c_owns(x))
        wf_h2c_cancel(w, x, h2_code);
    else
        wf_h1c_cancel(w, x);
}

size_t wf_pconn_http_labels(const wf_pconn_t *c, char *out, size_t outlen)
{
    const bool in = c->side->dir == WF_DIR_INBOUND;
    wf_http_labels_t l = {
        .target = &c->orig_dst,
        .tls = c->tls ? "true" : "no_identity",
        .no_tls_reason = c->tls  ? NULL
                         : in    ? "no_tls_from_remote"
                                 : "not_provided_by_service_discovery",
        .client_id = wf_pconn_client_id(c),
        .srv_name = in ? c->worker->proxy->cfg.inbound_default_policy : NULL,
    };
    /* Outbound to a meshed destination: its requests travel over mTLS to
     * the identity discovery names (endpoints of one Service share it). */
    wf_dst_pick_t pick;
    wf_discovery_t *d = c->worker->proxy->discovery;
    if (!in && d != NULL && wf_worker_tls_client(c->worker) != NULL &&
        wf_discovery_pick(d, &c->orig_dst, c->worker->id, &pick) == WF_DST_MESHED) {
        l.tls = "true";
        l.no_tls_reason = NULL;
        l.server_id = wf_str_from(pick.identity);
        char dst[WF_DST_LABELS_MAX];
        char path[WF_ADDR_STRLEN];
        size_t plen = wf_addr_format(&c->orig_dst, path, sizeof(path));
        l.dst_labels = (wf_str_t){dst, wf_discovery_labels(d, (wf_str_t){path, plen}, dst,
                                                           sizeof(dst))};
        return wf_http_metrics_conn_labels(&l, out, outlen);
    }
    return wf_http_metrics_conn_labels(&l, out, outlen);
}

void wf_upstream_metrics_open(wf_worker_t *w, const wf_side_t *side, wf_end_t *end,
                              const wf_addr_t *target)
{
    wf_tcp_labels_t l = {
        .direction = side->name,
        .peer = "dst",
        .target = target,
        .tls = "no_identity",
        /* Inbound talks to the app on loopback; outbound has no identity
         * for the destination until discovery provides one. */
        .no_tls_reason =
            side->dir == WF_DIR_INBOUND ? "loopback" : "not_provided_by_service_discovery",
    };
    wf_tcp_metrics_open(w->metrics, &end->metrics, &l);
}
