/*
 * grpc_wire.c — status names, message framing, grpc-timeout and
 * grpc-message encoding (see grpc_wire.h).
 */
#include "grpc/grpc_wire.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const status_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *wf_grpc_status_name(int code)
{
    if (code < 0 || (size_t)code >= WF_ARRAY_LEN(status_names))
        return "UNKNOWN_STATUS";
    return status_names[code];
}

wf_grpc_status_t wf_grpc_status_from_http(unsigned http_status)
{
    switch (http_status) {
    case 400:
        return WF_GRPC_INTERNAL;
    case 401:
        return WF_GRPC_UNAUTHENTICATED;
    case 403:
        return WF_GRPC_PERMISSION_DENIED;
    case 404:
        return WF_GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
        return WF_GRPC_UNAVAILABLE;
    default:
        return WF_GRPC_UNKNOWN;
    }
}

/* --- framing --------------------------------------------------------------- */

void wf_grpc_framer_init(wf_grpc_framer_t *f, uint32_t max_len)
{
    memset(f, 0, sizeof(*f));
    f->max_len = max_len;
}

void wf_grpc_framer_free(wf_grpc_framer_t *f)
{
    free(f->msg);
    f->msg = NULL;
}

static int framer_fail(wf_grpc_framer_t *f, int err, const char *what)
{
    f->error = what;
    return err;
}

int wf_grpc_framer_parse(wf_grpc_framer_t *f, const uint8_t *p, size_t len, size_t *used)
{
    size_t n = 0;
    *used = 0;
    if (f->error != NULL)
        return WF_EINVAL;
    if (f->hdr_got < WF_GRPC_FRAME_HDR) {
        size_t take = WF_MIN(len, (size_t)(WF_GRPC_FRAME_HDR - f->hdr_got));
        memcpy(f->hdr + f->hdr_got, p, take);
        f->hdr_got += (uint8_t)take;
        n += take;
        if (f->hdr_got < WF_GRPC_FRAME_HDR) {
            *used = n;
            return 0;
        }
        if (f->hdr[0] == 1)
            return framer_fail(f, WF_EPROTO,
                               "compressed message but no grpc-encoding was negotiated");
        if (f->hdr[0] != 0)
            return framer_fail(f, WF_EPROTO, "invalid compressed-flag byte in message prefix");
        f->msg_len = (uint32_t)f->hdr[1] << 24 | (uint32_t)f->hdr[2] << 16 |
                     (uint32_t)f->hdr[3] << 8 | f->hdr[4];
        if (f->msg_len > f->max_len)
            return framer_fail(f, WF_ELIMIT, "message larger than the maximum message size");
        f->msg_got = 0;
        if (f->msg_len > 0) {
            f->msg = malloc(f->msg_len);
            if (f->msg == NULL)
                return framer_fail(f, WF_ENOMEM, "out of memory for message");
        }
    }
    size_t take = WF_MIN(len - n, (size_t)(f->msg_len - f->msg_got));
    if (take > 0) {
        memcpy(f->msg + f->msg_got, p + n, take);
        f->msg_got += (uint32_t)take;
        n += take;
    }
    *used = n;
    return f->msg_got == f->msg_len ? WF_GRPC_FRAME_DONE : 0;
}

uint8_t *wf_grpc_framer_take(wf_grpc_framer_t *f, size_t *len)
{
    uint8_t *m = f->msg;
    *len = f->msg_len;
    f->msg = NULL;
    f->hdr_got = 0;
    f->msg_len = 0;
    f->msg_got = 0;
    return m;
}

wf_grpc_status_t wf_grpc_framer_status(const wf_grpc_framer_t *f, int err)
{
    if (err == WF_ELIMIT)
        return WF_GRPC_RESOURCE_EXHAUSTED;
    if (err == WF_EPROTO && f->hdr[0] == 1)
        return WF_GRPC_UNIMPLEMENTED;
    if (err == WF_ENOMEM)
        return WF_GRPC_RESOURCE_EXHAUSTED;
    return WF_GRPC_INTERNAL;
}

void wf_grpc_frame_header(uint8_t out[WF_GRPC_FRAME_HDR], uint32_t len)
{
    out[0] = 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

/* --- grpc-timeout ------------------------------------------------------------ */

#define TIMEOUT_SAT (UINT64_MAX / 2)

int wf_grpc_timeout_parse(wf_str_t v, uint64_t *out_ms)
{
    if (v.len < 2 || v.len > 9)
        return WF_EINVAL;
    uint64_t n = 0;
    for (size_t i = 0; i + 1 < v.len; i++) {
        char c = v.ptr[i];
        if (c < '0' || c > '9')
            return WF_EINVAL;
        n = n * 10 + (uint64_t)(c - '0');
    }
    uint64_t ms;
    switch (v.ptr[v.len - 1]) {
    case 'H':
        ms = n * 3600000u; /* n < 10^8: no overflow */
        break;
    case 'M':
        ms = n * 60000u;
        break;
    case 'S':
        ms = n * 1000u;
        break;
    case 'm':
        ms = n;
        break;
    case 'u':
        ms = (n + 999) / 1000;
        break;
    case 'n':
        ms = (n + 999999) / 1000000;
        break;
    default:
        return WF_EINVAL;
    }
    *out_ms = WF_MIN(ms, TIMEOUT_SAT);
    return 0;
}

size_t wf_grpc_timeout_format(uint64_t ms, char out[10])
{
    static const struct {
        uint64_t div;
        char unit;
    } units[] = {{1, 'm'}, {1000, 'S'}, {60000, 'M'}, {3600000, 'H'}};
    /* The finest unit that fits in 8 digits; coarser units round up, so a
     * deadline is never shortened. */
    for (size_t i = 0; i < WF_ARRAY_LEN(units); i++) {
        uint64_t v = (ms + units[i].div - 1) / units[i].div;
        if (v <= 99999999u || i + 1 == WF_ARRAY_LEN(units)) {
            if (v > 99999999u)
                v = 99999999u;
            return (size_t)snprintf(out, 10, "%llu%c", (unsigned long long)v, units[i].unit);
        }
    }
    return 0;
}

/* --- grpc-message ------------------------------------------------------------ */

size_t wf_grpc_message_encode(wf_str_t s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = (uint8_t)s.ptr[i];
        if (c >= 0x20 && c <= 0x7e && c != '%') {
            if (n + 1 > cap)
                break;
            out[n++] = (char)c;
        } else {
            if (n + 3 > cap)
                break;
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    return n;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t wf_grpc_message_decode(wf_str_t s, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] == '%' && i + 2 < s.len && hexval(s.ptr[i + 1]) >= 0 &&
            hexval(s.ptr[i + 2]) >= 0) {
            out[n++] = (char)(hexval(s.ptr[i + 1]) << 4 | hexval(s.ptr[i + 2]));
            i += 2;
        } else {
            out[n++] = s.ptr[i];
        }
    }
    return n;
}
