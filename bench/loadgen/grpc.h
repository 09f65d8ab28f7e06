/*
 * grpc.h — gRPC's length-prefixed message framing (gRPC over HTTP/2,
 * PROTOCOL-HTTP2.md "Length-Prefixed-Message"), shared by the loadgen and
 * the bench backend. Pure functions, header-only.
 *
 * The bench service is `weft.bench.Echo/Unary` with one message type,
 *   message Payload { bytes body = 1; }
 * so a payload of n bytes is the protobuf tag 0x0a, varint(n), n bytes
 * (n = 0 encodes as the empty message, as proto3 omits default fields).
 */
#ifndef LG_GRPC_H
#define LG_GRPC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define LG_GRPC_PATH "/weft.bench.Echo/Unary"
#define LG_GRPC_PREFIX 5 /* compressed flag (1) + big-endian length (4) */

/* Bytes a framed Payload of n body bytes takes. */
static inline size_t lg_grpc_frame_len(size_t n)
{
    size_t varint = 1;
    for (size_t v = n; v >= 0x80; v >>= 7)
        varint++;
    return LG_GRPC_PREFIX + (n == 0 ? 0 : 1 + varint + n);
}

/* Writes the framed Payload of n filler bytes into buf, which must hold
 * lg_grpc_frame_len(n) bytes. Returns that length. */
static inline size_t lg_grpc_frame(uint8_t *buf, size_t n)
{
    size_t total = lg_grpc_frame_len(n), msg = total - LG_GRPC_PREFIX;
    buf[0] = 0; /* not compressed */
    buf[1] = (uint8_t)(msg >> 24);
    buf[2] = (uint8_t)(msg >> 16);
    buf[3] = (uint8_t)(msg >> 8);
    buf[4] = (uint8_t)msg;
    if (n == 0)
        return total;
    uint8_t *p = buf + LG_GRPC_PREFIX;
    *p++ = 0x0a; /* field 1, wire type 2 (length-delimited) */
    size_t v = n;
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    memset(p, 'x', n);
    return total;
}

/* The message length a 5-byte prefix declares; 0xffffffff if the
 * compressed flag is set (the bench never compresses). */
static inline uint32_t lg_grpc_prefix_len(const uint8_t *prefix)
{
    if (prefix[0] != 0)
        return UINT32_MAX;
    return (uint32_t)prefix[1] << 24 | (uint32_t)prefix[2] << 16 | (uint32_t)prefix[3] << 8 |
           (uint32_t)prefix[4];
}

#endif
