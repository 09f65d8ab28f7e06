/*
 * grpc_wire.h — the pure parts of gRPC over HTTP/2 (PROTOCOL-HTTP2.md in
 * grpc/grpc): status codes and their names, the length-prefixed message
 * framing, grpc-timeout values and grpc-message percent-encoding. Nothing
 * here touches a socket or nghttp2; every parser is resumable and fuzzed
 * (tests/fuzz/fuzz_grpc_frame.c).
 */
#ifndef WF_GRPC_WIRE_H
#define WF_GRPC_WIRE_H

#include "core/common.h"

/* gRPC status codes (grpc/doc/statuscodes.md); values are on the wire. */
typedef enum wf_grpc_status {
    WF_GRPC_OK = 0,
    WF_GRPC_CANCELLED = 1,
    WF_GRPC_UNKNOWN = 2,
    WF_GRPC_INVALID_ARGUMENT = 3,
    WF_GRPC_DEADLINE_EXCEEDED = 4,
    WF_GRPC_NOT_FOUND = 5,
    WF_GRPC_ALREADY_EXISTS = 6,
    WF_GRPC_PERMISSION_DENIED = 7,
    WF_GRPC_RESOURCE_EXHAUSTED = 8,
    WF_GRPC_FAILED_PRECONDITION = 9,
    WF_GRPC_ABORTED = 10,
    WF_GRPC_OUT_OF_RANGE = 11,
    WF_GRPC_UNIMPLEMENTED = 12,
    WF_GRPC_INTERNAL = 13,
    WF_GRPC_UNAVAILABLE = 14,
    WF_GRPC_DATA_LOSS = 15,
    WF_GRPC_UNAUTHENTICATED = 16,
} wf_grpc_status_t;

/* "OK", "CANCELLED", ...; "UNKNOWN_STATUS" for codes outside 0..16. */
const char *wf_grpc_status_name(int code);

/* The status a client reports for an HTTP status without grpc-status
 * (grpc/doc/http-grpc-status-mapping.md). */
wf_grpc_status_t wf_grpc_status_from_http(unsigned http_status);

/* --- message framing ---------------------------------------------------------
 * Each message on a stream is: 1 byte compressed flag, 4 bytes big-endian
 * length, then that many bytes. We never negotiate compression, so a set
 * flag is refused (UNIMPLEMENTED) and any other flag value is malformed. */

#define WF_GRPC_FRAME_HDR 5
#define WF_GRPC_DEFAULT_MAX_MSG (4u * 1024 * 1024)

typedef struct wf_grpc_framer {
    uint32_t max_len; /* largest message accepted (bytes) */
    uint8_t hdr[WF_GRPC_FRAME_HDR];
    uint8_t hdr_got;   /* header bytes seen of the message in progress */
    uint32_t msg_len;  /* length of the message in progress (once hdr_got == 5) */
    uint32_t msg_got;  /* body bytes copied so far */
    uint8_t *msg;      /* owned: body of the message in progress, malloc'd */
    const char *error; /* static description of the last error */
} wf_grpc_framer_t;

/* Parse results beyond 0 (need more bytes) and the negative WF_E* codes. */
#define WF_GRPC_FRAME_DONE 1 /* a whole message is ready: wf_grpc_framer_take() */

void wf_grpc_framer_init(wf_grpc_framer_t *f, uint32_t max_len);
/* Frees the message in progress. The framer may be reused after init. */
void wf_grpc_framer_free(wf_grpc_framer_t *f);

/*
 * Consumes bytes from [p, p+len) and sets *used to how many it took.
 * Returns WF_GRPC_FRAME_DONE when a message is complete (the bytes after
 * *used belong to the next message: take this one, then call again), 0 when
 * all input was consumed and the message is not complete yet, or an error
 * with f->error set: WF_ELIMIT (length > max_len → RESOURCE_EXHAUSTED),
 * WF_EPROTO (compressed flag 1 → UNIMPLEMENTED, other flag → INTERNAL; see
 * wf_grpc_framer_status), WF_ENOMEM. After an error the framer accepts
 * nothing more.
 */
int wf_grpc_framer_parse(wf_grpc_framer_t *f, const uint8_t *p, size_t len, size_t *used);

/* Hands over the completed message (owned by the caller, free() it; NULL
 * with *len 0 for an empty message) and resets for the next one. */
uint8_t *wf_grpc_framer_take(wf_grpc_framer_t *f, size_t *len);

/* True between messages (nothing of a next message seen): where a stream
 * may end cleanly. */
static inline bool wf_grpc_framer_idle(const wf_grpc_framer_t *f)
{
    return f->hdr_got == 0;
}

/* The gRPC status for a parse error code. */
wf_grpc_status_t wf_grpc_framer_status(const wf_grpc_framer_t *f, int err);

/* Writes the 5-byte prefix for an uncompressed message of len bytes. */
void wf_grpc_frame_header(uint8_t out[WF_GRPC_FRAME_HDR], uint32_t len);

/* --- grpc-timeout ------------------------------------------------------------
 * "1*8DIGIT unit", unit one of H M S m u n. */

/* Parses a grpc-timeout value into milliseconds (rounded up, so 1n is 1 ms;
 * saturates at UINT64_MAX / 2). WF_EINVAL when malformed. */
int wf_grpc_timeout_parse(wf_str_t v, uint64_t *out_ms);
/* Formats ms as the shortest exact value with at most 8 digits; returns the
 * length (out needs 10 bytes; NUL-terminated). */
size_t wf_grpc_timeout_format(uint64_t ms, char out[10]);

/* --- grpc-message ------------------------------------------------------------
 * Percent-encoding of the status message: bytes outside 0x20..0x7e and '%'
 * itself become %XX (so UTF-8 text survives). */

/* Encodes s into out (capacity cap); returns the encoded length, truncating
 * at a whole escape when cap is too small. 3 * s.len fits always. */
size_t wf_grpc_message_encode(wf_str_t s, char *out, size_t cap);
/* Decodes in place-compatible (out may equal s.ptr); a malformed escape is
 * kept literally, as the spec asks of receivers. Returns the length. */
size_t wf_grpc_message_decode(wf_str_t s, char *out);

#endif
