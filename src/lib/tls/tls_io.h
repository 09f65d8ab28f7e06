/*
 * tls_io.h — TLS as a wf_io_t filter over a lower wf_io_t (the socket).
 *
 * OpenSSL reads and writes through a small custom BIO that calls the lower
 * layer's recv/send (never the fd directly), so no copy and no extra buffer
 * sits between the two; with SSL_MODE_RELEASE_BUFFERS an idle connection
 * costs the SSL object and this struct, nothing per byte relayed.
 *
 * Calls follow io.h: bytes, 0 = EOF, WF_EAGAIN (with WF_IO_F_WANT_READ or
 * WF_IO_F_WANT_WRITE set: TLS may need the other direction), or a negative
 * error. The handshake runs from wf_tls_handshake() or implicitly from the
 * first recv/send. Failures return WF_EPROTO (TLS-level: verification,
 * identity, protocol version, alert) or the lower layer's error (-ECONNRESET
 * ...); wf_tls_io_reason() then gives a static description of why.
 *
 * Send after WF_EAGAIN: OpenSSL may hold a partly written record, so the
 * retry must start with the same bytes, at least as many as before (the
 * address may change: relay buffers compact). Relays that resend the
 * unsent head of their buffer already do this.
 *
 * Flags: WF_IO_F_RDHUP set on this layer is passed down to the lower one;
 * WF_IO_F_DRAINED is set only when the lower layer is drained and OpenSSL
 * holds no buffered bytes (SSL_has_pending), see io.h.
 *
 * Half-close (RFC 8446 §6.1): shutdown() sends close_notify, then shuts the
 * lower write side (FIN); recv keeps working. A close_notify from the peer
 * is EOF (recv returns 0) and our send side stays open. A FIN (or reset)
 * without a preceding close_notify is *not* EOF: recv returns WF_EPROTO
 * with reason "peer closed without close_notify", because an attacker who
 * can inject a FIN could otherwise truncate the stream undetected.
 *
 * Threads: a TLS io belongs to the thread that drives its connection.
 */
#ifndef WF_TLS_TLS_IO_H
#define WF_TLS_TLS_IO_H

#include "net/io.h"
#include "tls/tls_ctx.h"

/* Longest identity accepted (a DNS name, RFC 1035 §2.3.4). */
#define WF_TLS_ID_MAX 253

/* Client side: start TLS over lower towards a peer that must prove
 * `expected_id` (a DNS SAN, exact match, no wildcard, no CN fallback); SNI is
 * set to expected_id too, as Linkerd does. Takes a reference on ctx and, on
 * success, ownership of lower. NULL on failure (lower untouched) with *why. */
wf_io_t *wf_tls_io_new_client(wf_tls_ctx_t *ctx, wf_io_t *lower, wf_str_t expected_id,
                              const char **why);

/* Server side: accept TLS over lower. Same ownership rules. */
wf_io_t *wf_tls_io_new_server(wf_tls_ctx_t *ctx, wf_io_t *lower, const char **why);

/* Drive the handshake: 0 when done (also on later calls), WF_EAGAIN with a
 * WANT flag set, or a negative error (WF_EPROTO, -errno of the lower layer)
 * with wf_tls_io_reason() set. After a failure every call returns it again. */
int wf_tls_handshake(wf_io_t *io);

/* True once the handshake has completed. */
bool wf_tls_io_established(const wf_io_t *io);

/* Static description of the last failure, or NULL if none. */
const char *wf_tls_io_reason(const wf_io_t *io);

/* After the handshake: the peer's identity, i.e. the single DNS SAN of its
 * verified cert (server side: the client's identity, the `client_id` label;
 * empty when the client sent no cert or a cert with zero or several DNS
 * SANs; client side: the expected identity the server proved). Borrowed,
 * valid until destroy. */
wf_str_t wf_tls_io_peer_id(const wf_io_t *io);

/* Negotiated ALPN protocol, empty if none. Borrowed, valid until destroy. */
wf_str_t wf_tls_io_alpn(const wf_io_t *io);

/* Server side: the SNI the client asked for, empty if none. */
wf_str_t wf_tls_io_sni(const wf_io_t *io);

/* True if io is a TLS layer (the accessors above require one). */
bool wf_tls_io_is(const wf_io_t *io);

#endif
