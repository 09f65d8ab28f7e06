/*
 * transport_header.h — encode and parse the mesh transport header
 * (proto/transport.proto): what an outbound proxy says first inside mTLS to
 * a peer's inbound port so the peer knows the application port without an
 * iptables redirect, and whether detection is needed.
 *
 * Pure functions, any thread. The parser is resumable over a growing
 * buffer and never reads past len.
 */
#ifndef WF_PROXY_TRANSPORT_HEADER_H
#define WF_PROXY_TRANSPORT_HEADER_H

#include "core/common.h"

#define WF_TH_PREFACE "transport.l5d.io/v1"
#define WF_TH_PREFACE_LEN 19
#define WF_TH_MAX_MSG 1024
#define WF_TH_MAX_LEN (WF_TH_PREFACE_LEN + 4 + WF_TH_MAX_MSG)

typedef struct wf_transport_header {
    uint16_t port;
    bool opaque;
} wf_transport_header_t;

/* Writes the header into out (≥ WF_TH_MAX_LEN bytes); returns its length. */
size_t wf_th_encode(const wf_transport_header_t *h, uint8_t *out);

/* Parses p[0..len): returns the header's length (> 0) and fills *h,
 * 0 when more bytes are needed, or WF_EPROTO (bad preface, oversized or
 * undecodable message, port 0 or > 65535). */
int wf_th_parse(const uint8_t *p, size_t len, wf_transport_header_t *h);

#endif
