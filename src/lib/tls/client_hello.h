/*
 * client_hello.h — reads the server name (SNI) out of a TLS ClientHello
 * without terminating anything, so the inbound proxy can decide whether a
 * TLS connection is mesh mTLS addressed to it (terminate) or someone else's
 * TLS passing through (relay as bytes).
 *
 * Only the first record is read (RFC 8446 §5.1: a record carries at most
 * 2^14 bytes, and real ClientHellos, post-quantum key shares included, fit
 * in one). A ClientHello fragmented over several records is reported as
 * WF_CH_UNSUPPORTED and simply relayed: rare, and never the mesh's own.
 *
 * Pure function: no state, any thread; reads exactly the bytes given.
 */
#ifndef WF_TLS_CLIENT_HELLO_H
#define WF_TLS_CLIENT_HELLO_H

#include "core/common.h"

#include <stdint.h>

/* Largest first record we wait for: header + 2^14 bytes of payload. */
#define WF_CH_MAX_RECORD (5 + 16384)

typedef enum wf_ch_result {
    WF_CH_OK,          /* a complete ClientHello; *sni set (empty: no SNI) */
    WF_CH_INCOMPLETE,  /* a prefix of a plausible ClientHello: read more */
    WF_CH_NOT_TLS,     /* not a TLS handshake record */
    WF_CH_MALFORMED,   /* a handshake record whose ClientHello is broken */
    WF_CH_UNSUPPORTED, /* valid so far but spans several records */
} wf_ch_result_t;

/* Parses p[0..len). On WF_CH_OK, *sni borrows from p (host_name bytes,
 * unvalidated: the caller compares them with what it expects). */
wf_ch_result_t wf_client_hello_sni(const uint8_t *p, size_t len, wf_str_t *sni);

#endif
